// Generators of your own: a struct with only f (written once over its argument type) gets f', f'',
// phi, the weight and the limits derived (detail::Complete), and the vectorized loop from logits;
// it must give what the equivalent generator of the table gives.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "divergence/discrete/f_divergence.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"

namespace discrete_f_divergence_user_generator_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace gen = divergence::generators;

namespace {

template <class Scalar>
using MatrixT = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Pearson chi^2 in one line: f(u) = (u - 1)^2.
struct UserPearson {
    template <class V>
    V f(const V& u) const
    {
        return (u - 1.0) * (u - 1.0);
    }
};

/// Jensen-Shannon (f-GAN form, 2 JSD): f(u) = u log u - (u + 1) log((u + 1)/2), with a name.
struct UserJensenShannon {
    std::string name() const { return "user_js"; }
    template <class V>
    V f(const V& u) const
    {
        using namespace divergence::math;
        return u * log(u) - (u + 1.0) * log((u + 1.0) * 0.5);
    }
};

/// Reverse KL with f and f' for double only (no template): the scalar loop, derived limits.
struct UserReverseKl {
    double f(double u) const { return -std::log(u); }
    double f_prime(double u) const { return -1.0 / u; }
};

/// Runs f_divergence from logits with both gradients; returns the value.
template <class G, class Scalar>
Scalar run(const G& g, const MatrixT<Scalar>& a, const MatrixT<Scalar>& b, MatrixT<Scalar>& gp,
           MatrixT<Scalar>& gq)
{
    gp.resize(a.rows(), a.cols());
    gq.resize(a.rows(), a.cols());
    dv::Outputs<Scalar> out;
    out.grad_p = gp;
    out.grad_q = gq;
    return dv::f_divergence(dv::logits(a, Scalar(1.5)), dv::logits(b, Scalar(0.75)), g, {dv::Reduction::batchmean}, out);
}

template <class Scalar, class Mine, class Theirs>
void check_same(const Mine& mine, const Theirs& theirs, double tolerance)
{
    const MatrixT<Scalar> a = test::random_logits(5, 300, 31, 3.0).template cast<Scalar>();
    const MatrixT<Scalar> b = test::random_logits(5, 300, 32, 3.0).template cast<Scalar>();
    MatrixT<Scalar> gp, gq, hp, hq;
    const double x = run(mine, a, b, gp, gq), y = run(theirs, a, b, hp, hq);
    CHECK(x == Approx(y).epsilon(tolerance));
    CHECK(test::close(gp, hp, tolerance, tolerance * 1e-3));
    CHECK(test::close(gq, hq, tolerance, tolerance * 1e-3));
}

}  // namespace

TEST_CASE("a generator of your own with only f (a template) gives the values and gradients of the table's", "[f_divergence][user]")
{
    SECTION("Pearson: f = (u - 1)^2")
    {
        check_same<double>(UserPearson{}, gen::PearsonChiSquared{}, 1e-12);
        check_same<float>(UserPearson{}, gen::PearsonChiSquared{}, 1e-6);
    }
    SECTION("Jensen-Shannon: f = u log u - (u + 1) log((u + 1)/2)")
    {
        check_same<double>(UserJensenShannon{}, gen::JensenShannon{}, 1e-12);
        check_same<float>(UserJensenShannon{}, gen::JensenShannon{}, 1e-6);
    }
    SECTION("reverse KL with double f and f_prime (no template): the scalar loop")
    {
        check_same<double>(UserReverseKl{}, gen::ReverseKl{}, 1e-12);
    }
    SECTION("probabilities, and gradients against central differences")
    {
        const Eigen::VectorXd p = test::random_simplex(40, 5), q = test::random_simplex(40, 6);
        Eigen::VectorXd gp(40), gq(40);
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        const double value = dv::f_divergence(p, q, UserJensenShannon{}, {}, out);
        CHECK(value == Approx(dv::f_divergence(p, q, gen::JensenShannon{})).epsilon(1e-12));
        dv::Options loose;
        loose.validation = dv::Validation::none;  // perturbed rows are not normalized
        const auto fp = [&](const Eigen::VectorXd& x) { return dv::f_divergence(x, q, UserJensenShannon{}, loose); };
        const auto fq = [&](const Eigen::VectorXd& x) { return dv::f_divergence(p, x, UserJensenShannon{}, loose); };
        CHECK(test::close(gp, test::central_difference(p, fp), 1e-5, 1e-7));
        CHECK(test::close(gq, test::central_difference(q, fq), 1e-5, 1e-7));
    }
}

TEST_CASE("a generator of your own: derived f', f'', phi, weight and limits equal the table's closed forms", "[f_divergence][user]")
{
    const dv::detail::Complete<UserJensenShannon> mine;
    const gen::JensenShannon theirs;
    CHECK(mine.name() == "user_js");
    CHECK(dv::detail::Complete<UserPearson>{}.name() == "f");
    for (double u : {1e-3, 0.2, 0.9, 1.0, 1.7, 30.0, 1e4}) {
        CAPTURE(u);
        CHECK(mine.f_prime(u) == Approx(theirs.f_prime(u)).epsilon(1e-12).margin(1e-15));
        CHECK(mine.f_second(u) == Approx(theirs.f_second(u)).epsilon(1e-12));
        CHECK(mine.weight(u) == Approx(theirs.weight(u)).epsilon(1e-12));
        CHECK(mine.phi(u) == Approx(theirs.phi(u)).epsilon(1e-9).margin(1e-12));
    }
    // Limits by evaluation at 1e-200, 1e-300 (1e200, 1e300): JS's are log 2, log 2, 0, 0.
    CHECK(mine.f_at_zero() == Approx(std::log(2.0)).epsilon(1e-12));
    CHECK(mine.slope_at_infinity() == Approx(std::log(2.0)).epsilon(1e-12));
    CHECK(mine.u_f_prime_at_zero() == Approx(0.0).margin(1e-12));
    CHECK(mine.f_prime_at_zero() == -std::numeric_limits<double>::infinity());
    // Reverse KL: f(0) = +inf, slope 0, u f'(u) -> -1.
    const dv::detail::Complete<UserReverseKl> reverse;
    CHECK(reverse.f_at_zero() == std::numeric_limits<double>::infinity());
    CHECK(reverse.slope_at_infinity() == Approx(0.0).margin(1e-12));
    CHECK(reverse.u_f_prime_at_zero() == Approx(-1.0));
    // f_divergence uses them at exact zeros: p = 0 < q counts q f(0), q = 0 < p counts p slope.
    Eigen::VectorXd p(3), q(3);
    p << 0.0, 0.5, 0.5;
    q << 0.5, 0.0, 0.5;
    CHECK(dv::f_divergence(p, q, UserJensenShannon{}) == Approx(dv::f_divergence(p, q, gen::JensenShannon{})).epsilon(1e-12));
    // f-distill weights from the derived f'': h = u / (u + 1).
    Eigen::ArrayXd log_ratio(3);
    log_ratio << -2.0, 0.0, 3.0;
    const Eigen::ArrayXd h = dv::density_ratio_weights(log_ratio, UserJensenShannon{});
    for (int i = 0; i < 3; ++i) CHECK(h(i) == Approx(std::exp(log_ratio(i)) / (std::exp(log_ratio(i)) + 1.0)).epsilon(1e-12));
}

// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
TEST_CASE("a generator of your own written over its argument type takes the vectorized loop", "[f_divergence][user]")
{
#if defined(__GNUC__)
    STATIC_REQUIRE(dv::detail::has_packet_form_v<dv::detail::Complete<UserPearson>>);
    STATIC_REQUIRE(dv::detail::has_packet_form_v<dv::detail::Complete<UserJensenShannon>>);
#endif
    STATIC_REQUIRE(!dv::detail::has_packet_form_v<dv::detail::Complete<UserReverseKl>>);
    STATIC_REQUIRE(dv::detail::is_f_generator_v<UserPearson>);
    STATIC_REQUIRE(dv::detail::is_f_generator_v<UserReverseKl>);
}

}  // namespace discrete_f_divergence_user_generator_test
