// discrete/named_f_divergences.hpp: each function against its closed form in long double (values and
// probability-form gradients), from probabilities and from logits, the factors that differ from the
// generators, and the laws between them.

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "divergence/discrete/jensen_shannon.hpp"
#include "divergence/discrete/named_f_divergences.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

namespace discrete_named_f_divergences_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace ref = test::reference;
using Real = ref::Real;

namespace {

/// A divergence's closed form per element: the term and its partials d/dp, d/dq (long double).
struct Closed {
    std::string name;
    std::function<Real(Real, Real)> term, d_p, d_q;
};

Real sign(Real x) { return x > 0 ? 1 : (x < 0 ? -1 : 0); }

const std::vector<Closed>& closed_forms()
{
    static const std::vector<Closed> forms = {
        {"squared_hellinger", [](Real p, Real q) { return (std::sqrt(p) - std::sqrt(q)) * (std::sqrt(p) - std::sqrt(q)) / 2; },
         [](Real p, Real q) { return (1 - std::sqrt(q / p)) / 2; }, [](Real p, Real q) { return (1 - std::sqrt(p / q)) / 2; }},
        {"total_variation", [](Real p, Real q) { return std::abs(p - q) / 2; }, [](Real p, Real q) { return sign(p - q) / 2; },
         [](Real p, Real q) { return sign(q - p) / 2; }},
        {"pearson_chi_squared", [](Real p, Real q) { return (p - q) * (p - q) / q; }, [](Real p, Real q) { return 2 * (p / q - 1); },
         [](Real p, Real q) { return 1 - (p / q) * (p / q); }},
        {"neyman_chi_squared", [](Real p, Real q) { return (p - q) * (p - q) / p; }, [](Real p, Real q) { return 1 - (q / p) * (q / p); },
         [](Real p, Real q) { return 2 * (q / p - 1); }},
        {"jeffreys", [](Real p, Real q) { return (p - q) * std::log(p / q); },
         [](Real p, Real q) { return std::log(p / q) + 1 - q / p; }, [](Real p, Real q) { return std::log(q / p) + 1 - p / q; }},
        {"triangular", [](Real p, Real q) { return (p - q) * (p - q) / (p + q); },
         [](Real p, Real q) { return 1 - 4 * q * q / ((p + q) * (p + q)); }, [](Real p, Real q) { return 1 - 4 * p * p / ((p + q) * (p + q)); }},
    };
    return forms;
}

/// Calls the named function `name` (scalar, Reduction::sum, with gradients).
template <class P, class Q, class Scalar>
Scalar call(const std::string& name, const P& p, const Q& q, const dv::Options& options, const dv::Outputs<Scalar>& out)
{
    if (name == "squared_hellinger") return dv::squared_hellinger(p, q, options, out);
    if (name == "total_variation") return dv::total_variation(p, q, options, out);
    if (name == "pearson_chi_squared") return dv::pearson_chi_squared(p, q, options, out);
    if (name == "neyman_chi_squared") return dv::neyman_chi_squared(p, q, options, out);
    if (name == "jeffreys") return dv::jeffreys(p, q, options, out);
    return dv::triangular(p, q, options, out);
}

template <class P, class Q>
auto call_rows(const std::string& name, const P& p, const Q& q, const dv::Options& options)
{
    if (name == "squared_hellinger") return dv::squared_hellinger_rows(p, q, options);
    if (name == "total_variation") return dv::total_variation_rows(p, q, options);
    if (name == "pearson_chi_squared") return dv::pearson_chi_squared_rows(p, q, options);
    if (name == "neyman_chi_squared") return dv::neyman_chi_squared_rows(p, q, options);
    if (name == "jeffreys") return dv::jeffreys_rows(p, q, options);
    return dv::triangular_rows(p, q, options);
}

}  // namespace

TEST_CASE("named f-divergences equal their closed forms (long double): values, per-row values and d/dp, d/dq",
          "[named_f_divergences][reference]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 4)));
    const Eigen::Index b = 4, v = 23;
    const test::Matrix p = test::random_simplex_rows(b, v, seed), q = test::random_simplex_rows(b, v, seed + 1);
    for (const Closed& form : closed_forms()) {
        CAPTURE(seed, form.name);
        test::Matrix gp(b, v), gq(b, v);
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        const double total = call(form.name, p, q, {dv::Reduction::sum}, out);
        const Eigen::ArrayXd rows = call_rows(form.name, p, q, {});
        Real expected_total = 0;
        for (Eigen::Index r = 0; r < b; ++r) {
            Real row = 0;
            for (Eigen::Index c = 0; c < v; ++c) {
                const Real a = p(r, c), e = q(r, c);
                row += form.term(a, e);
                CHECK(gp(r, c) == Approx(double(form.d_p(a, e))).epsilon(1e-12).margin(1e-14));
                CHECK(gq(r, c) == Approx(double(form.d_q(a, e))).epsilon(1e-12).margin(1e-14));
            }
            CHECK(rows(r) == Approx(double(row)).epsilon(1e-13));
            expected_total += row;
        }
        CHECK(total == Approx(double(expected_total)).epsilon(1e-13));
    }
}

TEST_CASE("named f-divergences from logits (fast path, float and double) equal the closed forms of the softmax rows",
          "[named_f_divergences][reference][logits]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 3)));
    const double temperature = GENERATE(1.0, 2.5);
    const Eigen::Index b = 3, v = GENERATE(Eigen::Index(7), Eigen::Index(1000));
    const test::Matrix t = test::random_logits(b, v, seed), s = test::random_logits(b, v, seed + 1);
    const test::MatrixF tf = t.cast<float>(), sf = s.cast<float>();
    for (const Closed& form : closed_forms()) {
        CAPTURE(seed, temperature, v, form.name);
        const Eigen::ArrayXd rows = call_rows(form.name, dv::logits(t, temperature), dv::logits(s, temperature), {});
        const Eigen::ArrayXf rows_f = call_rows(form.name, dv::logits(tf, temperature), dv::logits(sf, temperature), {});
        for (Eigen::Index r = 0; r < b; ++r) {
            const auto lp = ref::log_softmax(ref::row(t, r), temperature), lq = ref::log_softmax(ref::row(s, r), temperature);
            Real expected = 0;
            for (std::size_t c = 0; c < lp.size(); ++c) expected += form.term(std::exp(lp[c]), std::exp(lq[c]));
            CHECK(rows(r) == Approx(double(expected)).epsilon(1e-12));
            const auto lpf = ref::log_softmax(ref::row(tf.cast<double>(), r), temperature);
            const auto lqf = ref::log_softmax(ref::row(sf.cast<double>(), r), temperature);
            Real expected_f = 0;
            for (std::size_t c = 0; c < lpf.size(); ++c) expected_f += form.term(std::exp(lpf[c]), std::exp(lqf[c]));
            CHECK(double(rows_f(r)) == Approx(double(expected_f)).epsilon(1e-5));
        }
    }
}

TEST_CASE("squared_hellinger is half the generator's value, 1 - sum sqrt(pq), in [0, 1], with gradients halved too",
          "[named_f_divergences][hellinger]")
{
    const double temperature = 1.7;
    const test::Matrix t = test::random_logits(3, 40, 5), s = test::random_logits(3, 40, 6);
    test::Matrix g_named(3, 40), g_generator(3, 40);
    dv::Outputs<double> named, generator;
    named.grad_q = g_named;
    generator.grad_q = g_generator;
    const double h = dv::squared_hellinger(dv::logits(t, temperature), dv::logits(s, temperature), {}, named);
    const double f = dv::f_divergence(dv::logits(t, temperature), dv::logits(s, temperature), dv::generators::SquaredHellinger{}, {},
                                      generator);
    CHECK(h == 0.5 * f);                      // the factor is exact (a power of 2)
    CHECK(g_named == 0.5 * g_generator);      // on both paths
    Real expected = 0;
    for (Eigen::Index r = 0; r < 3; ++r) {
        const auto lp = ref::log_softmax(ref::row(t, r), temperature), lq = ref::log_softmax(ref::row(s, r), temperature);
        Real bhattacharyya = 0;
        for (std::size_t c = 0; c < lp.size(); ++c) bhattacharyya += std::exp((lp[c] + lq[c]) / 2);
        expected += (1 - bhattacharyya) / 3;
    }
    CHECK(h == Approx(double(expected)).epsilon(1e-12));
    // Disjoint supports: H^2 = 1 and TV = 1 exactly; triangular = 2.
    const Eigen::Vector4d a(0.5, 0.5, 0.0, 0.0), b(0.0, 0.0, 0.25, 0.75);
    CHECK(dv::squared_hellinger(a, b) == Approx(1.0).epsilon(1e-15));
    CHECK(dv::total_variation(a, b) == Approx(1.0).epsilon(1e-15));
    CHECK(dv::triangular(a, b) == Approx(2.0).epsilon(1e-15));
    CHECK(dv::pearson_chi_squared(a, b) == std::numeric_limits<double>::infinity());
    CHECK(dv::jeffreys(a, b) == std::numeric_limits<double>::infinity());
}

TEST_CASE("laws: symmetry, Neyman(P, Q) = Pearson(Q, P), Le Cam H^2 <= TV <= sqrt(1 - (1 - H^2)^2), Topsoe Delta / 4 <= JSD <= Delta log(2) / 2",
          "[named_f_divergences][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const auto v = GENERATE(2, 7, 300);
    const Eigen::VectorXd p = test::random_simplex(v, seed, 0.2), q = test::random_simplex(v, seed + 1, 0.2);
    CAPTURE(seed, v);
    CHECK(dv::squared_hellinger(p, q) == Approx(dv::squared_hellinger(q, p)).epsilon(1e-14));
    CHECK(dv::total_variation(p, q) == Approx(dv::total_variation(q, p)).epsilon(1e-14));
    CHECK(dv::triangular(p, q) == Approx(dv::triangular(q, p)).epsilon(1e-14));
    const double h2 = dv::squared_hellinger(p, q), tv = dv::total_variation(p, q), delta = dv::triangular(p, q);
    const double jsd = dv::js(p, q);
    // Le Cam, with the Bhattacharyya coefficient 1 - H^2: H^2 <= TV <= sqrt(1 - (1 - H^2)^2).
    CHECK(h2 <= tv * (1 + 1e-12) + 1e-15);
    CHECK(tv <= std::sqrt(1 - (1 - h2) * (1 - h2)) * (1 + 1e-12) + 1e-15);
    // Topsoe (2000): Delta / 4 <= JSD <= Delta log(2) / 2.
    CHECK(delta / 4 <= jsd * (1 + 1e-12) + 1e-15);
    CHECK(jsd <= delta * std::log(2.0) / 2 * (1 + 1e-12) + 1e-15);
    CHECK(0.0 <= h2);
    CHECK(h2 <= 1.0);
    CHECK(tv <= 1.0);
    CHECK(delta <= 2.0);
    const Eigen::VectorXd pp = test::random_simplex(v, seed + 2), qq = test::random_simplex(v, seed + 3);  // no zeros
    CHECK(dv::neyman_chi_squared(pp, qq) == Approx(dv::pearson_chi_squared(qq, pp)).epsilon(1e-13));
    // Jeffreys = KL(P || Q) + KL(Q || P), against the closed form in long double.
    Real j = 0;
    for (Eigen::Index i = 0; i < v; ++i) j += (Real(pp(i)) - qq(i)) * std::log(Real(pp(i)) / qq(i));
    CHECK(dv::jeffreys(pp, qq) == Approx(double(j)).epsilon(1e-13));
    // generators::JensenShannon is twice js.
    CHECK(dv::f_divergence(pp, qq, dv::generators::JensenShannon{}) == Approx(2 * dv::js(pp, qq)).epsilon(1e-13));
}

TEST_CASE("f_divergence_rows returns each row's f-divergence and names itself in errors", "[named_f_divergences][rows]")
{
    const test::Matrix p = test::random_simplex_rows(3, 9, 1), q = test::random_simplex_rows(3, 9, 2);
    const Eigen::ArrayXd rows = dv::f_divergence_rows(p, q, dv::generators::PearsonChiSquared{});
    for (Eigen::Index r = 0; r < 3; ++r) {
        Real expected = 0;
        for (Eigen::Index c = 0; c < 9; ++c) expected += (Real(p(r, c)) - q(r, c)) * (Real(p(r, c)) - q(r, c)) / q(r, c);
        CHECK(rows(r) == Approx(double(expected)).epsilon(1e-13));
    }
    const test::Matrix q8 = test::random_simplex_rows(3, 8, 2);
    CHECK_THROWS_WITH(dv::f_divergence_rows(p, q8, dv::generators::TotalVariation{}),
                      Catch::Matchers::Contains("divergence::f_divergence_rows") && Catch::Matchers::Contains("'q'"));
    CHECK_THROWS_WITH(dv::total_variation(p, q8), Catch::Matchers::Contains("divergence::total_variation"));
}

}  // namespace discrete_named_f_divergences_test
