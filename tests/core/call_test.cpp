// core/call.hpp: the *_rows functions (per-row values as a vector), Reduction::none, and the
// compile-time argument checks (the failing cases are in tests/compile_fail/).

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "divergence/discrete/cauchy_schwarz.hpp"
#include "divergence/discrete/entropy.hpp"
#include "divergence/discrete/jensen_shannon.hpp"
#include "divergence/discrete/kl.hpp"
#include "divergence/discrete/renyi.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

namespace core_call_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace ref = test::reference;
using Real = ref::Real;
using Catch::Matchers::Contains;

namespace {

using Row = std::vector<Real>;

// Long-double references from the definitions, for rows of probabilities.
Real kl(const Row& p, const Row& q)
{
    Real s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) s += p[i] > 0 ? p[i] * std::log(p[i] / q[i]) : 0;
    return s;
}
Real generalized_js(const Row& p, const Row& q, Real beta)
{
    Row m(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) m[i] = beta * p[i] + (1 - beta) * q[i];
    return beta * kl(p, m) + (1 - beta) * kl(q, m);
}
Real cauchy_schwarz(const Row& p, const Row& q)
{
    Real pq = 0, pp = 0, qq = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        pq += p[i] * q[i];
        pp += p[i] * p[i];
        qq += q[i] * q[i];
    }
    return -std::log(pq * pq / (pp * qq));
}
Real renyi(const Row& p, const Row& q, Real alpha)
{
    Real s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) s += std::pow(p[i], alpha) * std::pow(q[i], 1 - alpha);
    return std::log(s) / (alpha - 1);
}
Real entropy(const Row& p)
{
    Real s = 0;
    for (Real x : p) s -= x > 0 ? x * std::log(x) : 0;
    return s;
}
Real cross_entropy(const Row& p, const Row& q)
{
    Real s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) s -= p[i] > 0 ? p[i] * std::log(q[i]) : 0;
    return s;
}

}  // namespace

TEST_CASE("every *_rows function returns each row's value (long-double references), masked rows 0", "[call][rows]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 3)));
    const Eigen::Index b = 5, v = 17;
    const test::Matrix p = test::random_simplex_rows(b, v, seed), q = test::random_simplex_rows(b, v, seed + 1);
    Eigen::Array<bool, Eigen::Dynamic, 1> keep = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(b, true);
    keep(3) = false;
    dv::Options options;
    options.mask = keep;
    CAPTURE(seed);

    using Rows = dv::RowValues<double>;
    const std::vector<std::pair<std::string, std::pair<Rows, std::function<Real(const Row&, const Row&)>>>> cases = {
        {"kl", {dv::kl_rows(p, q, options), [](const Row& a, const Row& c) { return kl(a, c); }}},
        {"reverse_kl", {dv::reverse_kl_rows(p, q, options), [](const Row& a, const Row& c) { return kl(c, a); }}},
        {"js", {dv::js_rows(p, q, options), [](const Row& a, const Row& c) { return generalized_js(a, c, 0.5L); }}},
        {"generalized_js",
         {dv::generalized_js_rows(p, q, 0.2, options), [](const Row& a, const Row& c) { return generalized_js(a, c, 0.2L); }}},
        {"js_distance",
         {dv::js_distance_rows(p, q, options), [](const Row& a, const Row& c) { return std::sqrt(generalized_js(a, c, 0.5L)); }}},
        {"cauchy_schwarz", {dv::cauchy_schwarz_rows(p, q, options), [](const Row& a, const Row& c) { return cauchy_schwarz(a, c); }}},
        {"renyi", {dv::renyi_rows(p, q, 2.5, options), [](const Row& a, const Row& c) { return renyi(a, c, 2.5L); }}},
        {"entropy", {dv::entropy_rows(p, options), [](const Row& a, const Row&) { return entropy(a); }}},
        {"cross_entropy", {dv::cross_entropy_rows(p, q, options), [](const Row& a, const Row& c) { return cross_entropy(a, c); }}},
    };
    for (const auto& [name, values_and_reference] : cases) {
        const auto& [values, reference] = values_and_reference;
        CAPTURE(name);
        REQUIRE(values.size() == b);
        for (Eigen::Index r = 0; r < b; ++r) {
            const double expected = r == 3 ? 0.0 : double(reference(ref::row(p, r), ref::row(q, r)));
            CHECK(values(r) == Approx(expected).epsilon(1e-13).margin(1e-15));
        }
    }
}

TEST_CASE("*_rows gradients are those of options.reduction: none gives each row's own, (q - p) / T for kl", "[call][rows][gradient]")
{
    const double temperature = 2.0;
    const test::MatrixF t = test::random_logits(3, 9, 11).cast<float>(), s = test::random_logits(3, 9, 12).cast<float>();
    test::MatrixF grad(3, 9);
    dv::Outputs<float> out;
    out.grad_q = grad;
    const auto reduction = GENERATE(dv::Reduction::none, dv::Reduction::sum, dv::Reduction::mean, dv::Reduction::batchmean);
    const double scale = reduction == dv::Reduction::mean || reduction == dv::Reduction::batchmean ? 1.0 / 3 : 1.0;
    CAPTURE(int(reduction));
    const Eigen::ArrayXf values = dv::kl_rows(dv::logits(t, temperature), dv::logits(s, temperature), {reduction}, out);
    for (Eigen::Index r = 0; r < 3; ++r) {
        const auto lp = ref::log_softmax(ref::row(t.cast<double>(), r), temperature);
        const auto lq = ref::log_softmax(ref::row(s.cast<double>(), r), temperature);
        CHECK(double(values(r)) == Approx(double(ref::kl_log(lp, lq))).epsilon(1e-5));  // per-row values are never scaled
        for (Eigen::Index c = 0; c < 9; ++c) {
            const Real expected = scale * (std::exp(lq[std::size_t(c)]) - std::exp(lp[std::size_t(c)])) / temperature;
            CHECK(double(grad(r, c)) == Approx(double(expected)).margin(2e-7));
        }
    }
}

TEST_CASE("Reduction::none has no single value: the scalar functions throw and name the *_rows function", "[call][rows][validation]")
{
    const Eigen::VectorXd p = test::random_simplex(6, 1), q = test::random_simplex(6, 2);
    const dv::Options none{dv::Reduction::none};
    CHECK_THROWS_AS(dv::kl(p, q, none), std::invalid_argument);
    CHECK_THROWS_WITH(dv::kl(p, q, none), Contains("divergence::kl:") && Contains("'options.reduction'") &&
                                              Contains("kl_rows(...)") && Contains("Reduction::sum"));
    CHECK_THROWS_WITH(dv::generalized_js(p, q, 0.3, none), Contains("generalized_js_rows(...)"));
    CHECK_THROWS_WITH(dv::entropy(p, none), Contains("entropy_rows(...)"));
    CHECK_THROWS_WITH(dv::renyi(p, q, 2.0, none), Contains("renyi_rows(...)"));
    // The *_rows functions compute the values themselves: an Outputs::row_values of the caller's is refused.
    Eigen::VectorXd rows(1);
    dv::Outputs<double> out;
    out.row_values = rows;
    CHECK_THROWS_WITH(dv::kl_rows(p, q, {}, out), Contains("divergence::kl_rows") && Contains("'row_values'"));
    // Errors inside a *_rows call name it.
    const Eigen::VectorXd q5 = test::random_simplex(5, 2);
    CHECK_THROWS_WITH(dv::cauchy_schwarz_rows(p, q5), Contains("divergence::cauchy_schwarz_rows") && Contains("'q'"));
    CHECK_THROWS_WITH(dv::renyi_rows(p, q, -1.0), Contains("divergence::renyi_rows") && Contains("'alpha'"));
}

namespace {

template <class P, class Q, class Out, class = void>
struct kl_accepts : std::false_type {};
template <class P, class Q, class Out>
struct kl_accepts<P, Q, Out,
                  std::void_t<decltype(dv::kl(std::declval<const P&>(), std::declval<const Q&>(), dv::Options{},
                                              std::declval<const Out&>()))>> : std::true_type {};

}  // namespace

TEST_CASE("the argument checks: what each call returns for float and double arguments", "[call]")
{
    // Arguments are taken generically and checked inside (tests/compile_fail/ has the failing calls),
    // so the declaration of a call is valid for any argument and its result type is the inputs' scalar.
    STATIC_REQUIRE(std::is_same_v<decltype(dv::kl(std::declval<Eigen::MatrixXf>(), std::declval<Eigen::MatrixXf>())), float>);
    STATIC_REQUIRE(std::is_same_v<decltype(dv::js_rows(dv::logits(std::declval<dv::RowMatrix<double>&>()),
                                                       std::declval<Eigen::MatrixXd>())),
                                  dv::RowValues<double>>);
    STATIC_REQUIRE(kl_accepts<Eigen::MatrixXf, Eigen::MatrixXf, dv::Outputs<float>>::value);
    using E = dv::detail::ArgumentError;
    STATIC_REQUIRE(dv::detail::argument_error<Eigen::MatrixXf, Eigen::MatrixXd, dv::Outputs<float>>() == E::p_float_q_double);
    STATIC_REQUIRE(dv::detail::argument_error<dv::Input<double>, Eigen::VectorXf, dv::Outputs<double>>() == E::p_double_q_float);
    STATIC_REQUIRE(dv::detail::argument_error<Eigen::MatrixXf, Eigen::MatrixXf, dv::Outputs<double>>() ==
                   E::out_double_inputs_float);
    STATIC_REQUIRE(dv::detail::argument_error<Eigen::MatrixXi, Eigen::MatrixXd, dv::Outputs<double>>() == E::p_integer);
    STATIC_REQUIRE(dv::detail::argument_error<Eigen::MatrixXd, Eigen::Matrix<long double, -1, -1>, dv::Outputs<double>>() ==
                   E::q_other_scalar);
    STATIC_REQUIRE(dv::detail::argument_error<std::vector<double>, Eigen::MatrixXd, dv::Outputs<double>>() ==
                   E::p_not_an_input);
    STATIC_REQUIRE(dv::detail::argument_error<Eigen::MatrixXd, Eigen::MatrixXd, int>() == E::out_not_outputs);
    // probs() of an integer matrix has already said why: the divergence adds no second message.
    STATIC_REQUIRE(dv::detail::argument_error<dv::detail::InvalidInput, Eigen::MatrixXf, dv::Outputs<double>>() ==
                   E::reported);
}

}  // namespace core_call_test
