#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "divergence/discrete/f_divergence.hpp"
#include "divergence/discrete/kl.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

namespace discrete_f_divergence_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace gen = divergence::generators;
namespace ref = test::reference;
using Real = ref::Real;

namespace {

const double inf = std::numeric_limits<double>::infinity();

template <class Fn>
void for_each_generator(Fn&& fn)
{
    fn(gen::ForwardKl{});
    fn(gen::ReverseKl{});
    fn(gen::PearsonChiSquared{});
    fn(gen::NeymanChiSquared{});
    fn(gen::SquaredHellinger{});
    fn(gen::Jeffreys{});
    fn(gen::JensenShannon{});
    fn(gen::Gan{});
    fn(gen::GeneralizedJs{0.3});
    fn(gen::SkewKl{0.4});
    fn(gen::SkewReverseKl{0.25});
    fn(gen::SoftenedReverseKl{});
    fn(gen::AmariAlpha{-0.5});
    fn(gen::AmariAlpha{0.0});
    fn(gen::AmariAlpha{0.3});
    fn(gen::AmariAlpha{1.0});
    fn(gen::AmariAlpha{2.5});
    fn(gen::TPower{0.5});
    fn(gen::Triangular{});
    fn(gen::ArithmeticGeometric{});
    fn(gen::TotalVariation{});
    fn(gen::Log1pAbs{});
    fn(gen::ModifiedGan{});
    fn(gen::Dual<gen::JensenShannon>{});
}

/// A user-defined generator: f + c (u - 1), which defines the same divergence between normalized rows.
template <class G>
struct Tilted {
    static constexpr bool has_conjugate = G::has_conjugate;
    G base;
    double c;
    std::string name() const { return "tilted(" + base.name() + ")"; }
    double f(double u) const { return base.f(u) + c * (u - 1.0); }
    double f_prime(double u) const { return base.f_prime(u) + c; }
    double f_second(double u) const { return base.f_second(u); }
    double weight(double u) const { return base.weight(u); }
    double phi(double u) const { return base.phi(u) - c; }
    double f_at_zero() const { return base.f_at_zero() - c; }
    double slope_at_infinity() const { return base.slope_at_infinity() + c; }
    double f_prime_at_zero() const { return base.f_prime_at_zero() + c; }
    double u_f_prime_at_zero() const { return base.u_f_prime_at_zero(); }
    double phi_at_zero() const { return base.phi_at_zero() - c; }
    double phi_at_infinity() const { return base.phi_at_infinity() - c; }
    double phi_over_u_at_infinity() const { return base.phi_over_u_at_infinity(); }
};

/// sum_i q_i f(p_i / q_i) in long double, from the definition with the zero conventions (independent of
/// the engine's branches; uses only the generator's f, f(0) and slope).
template <class G>
Real reference_f_divergence(const std::vector<Real>& p, const std::vector<Real>& q, const G& g)
{
    Real s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i] == 0 && q[i] == 0) continue;
        if (q[i] == 0) {
            s += std::isinf(g.slope_at_infinity()) ? Real(ref::inf) : p[i] * g.slope_at_infinity();
        } else if (p[i] == 0) {
            s += std::isinf(g.f_at_zero()) ? Real(ref::inf) : q[i] * g.f_at_zero();
        } else {
            s += q[i] * Real(g.f(double(p[i] / q[i])));
        }
    }
    return s;
}

Real kl(const std::vector<Real>& p, const std::vector<Real>& q) { return ref::kl(p, q); }

std::vector<Real> mix(const std::vector<Real>& p, const std::vector<Real>& q, Real w)
{
    std::vector<Real> m(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) m[i] = w * p[i] + (1 - w) * q[i];
    return m;
}

void check_equal(double a, double b, double eps = 1e-12)
{
    if (std::isinf(b)) {
        CHECK(a == b);
    } else {
        CHECK(a == Approx(b).epsilon(eps).margin(1e-14));
    }
}

}  // namespace

TEST_CASE("f_divergence with u log u equals kl, and with -log u equals reverse_kl (rows with zeros)", "[f_divergence][kl]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 6)));
    const double zeros = GENERATE(0.0, 0.3);
    const test::Matrix p = test::random_simplex_rows(4, 40, seed, zeros), q = test::random_simplex_rows(4, 40, seed + 9, zeros);
    CAPTURE(seed, zeros);
    Eigen::VectorXd rows_f(4), rows_kl(4);
    dv::Outputs<double> of, ok;
    of.row_values = rows_f;
    ok.row_values = rows_kl;
    dv::f_divergence(p, q, gen::ForwardKl{}, {dv::Reduction::sum}, of);
    dv::kl(p, q, {dv::Reduction::sum}, ok);
    for (int r = 0; r < 4; ++r) check_equal(rows_f(r), rows_kl(r));
    dv::f_divergence(p, q, gen::ReverseKl{}, {dv::Reduction::sum}, of);
    dv::reverse_kl(p, q, {dv::Reduction::sum}, ok);
    for (int r = 0; r < 4; ++r) check_equal(rows_f(r), rows_kl(r));

    // Gradients too, from logits (where the value is finite): (q - p)/T for the model.
    const test::Matrix s = test::random_logits(3, 9, seed), t = test::random_logits(3, 9, seed + 1);
    test::Matrix g1(3, 9), g2(3, 9), h1(3, 9), h2(3, 9);
    dv::Outputs<double> a, b;
    a.grad_p = g1;
    a.grad_q = h1;
    b.grad_p = g2;
    b.grad_q = h2;
    check_equal(dv::f_divergence(dv::logits(t, 2.0), dv::logits(s, 2.0), gen::ForwardKl{}, {}, a),
                dv::kl(dv::logits(t, 2.0), dv::logits(s, 2.0), {}, b));
    CHECK(test::close(g1, g2, 1e-10, 1e-13));
    CHECK(test::close(h1, h2, 1e-10, 1e-13));
}

TEST_CASE("f_divergence matches sum q f(p/q) in long double and each divergence's own closed form", "[f_divergence][reference]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 4)));
    const test::Matrix pm = test::random_simplex_rows(1, 30, seed), qm = test::random_simplex_rows(1, 30, seed + 3);
    const auto p = ref::row(pm, 0), q = ref::row(qm, 0);
    CAPTURE(seed);
    for_each_generator([&](const auto& g) {
        CAPTURE(g.name());
        check_equal(dv::f_divergence(pm, qm, g), double(reference_f_divergence(p, q, g)), 1e-12);
    });
    // Closed forms in terms of the distributions (independent of the generator code).
    const auto sum = [&](auto term) {
        Real s = 0;
        for (std::size_t i = 0; i < p.size(); ++i) s += term(p[i], q[i]);
        return double(s);
    };
    const auto m = mix(p, q, 0.5L);
    const double e = 1e-12;
    CHECK(dv::f_divergence(pm, qm, gen::PearsonChiSquared{}) == Approx(sum([](Real a, Real b) { return (a - b) * (a - b) / b; })).epsilon(e));
    CHECK(dv::f_divergence(pm, qm, gen::NeymanChiSquared{}) == Approx(sum([](Real a, Real b) { return (a - b) * (a - b) / a; })).epsilon(e));
    CHECK(dv::f_divergence(pm, qm, gen::SquaredHellinger{}) == Approx(sum([](Real a, Real b) { return (std::sqrt(a) - std::sqrt(b)) * (std::sqrt(a) - std::sqrt(b)); })).epsilon(e));
    CHECK(dv::f_divergence(pm, qm, gen::Triangular{}) == Approx(sum([](Real a, Real b) { return (a - b) * (a - b) / (a + b); })).epsilon(e));
    CHECK(dv::f_divergence(pm, qm, gen::Jeffreys{}) == Approx(double(kl(p, q) + kl(q, p))).epsilon(e));
    CHECK(dv::f_divergence(pm, qm, gen::SoftenedReverseKl{}) == Approx(double(2 * kl(m, p))).epsilon(e));
    CHECK(dv::f_divergence(pm, qm, gen::ArithmeticGeometric{}) == Approx(double(kl(m, p) + kl(m, q))).epsilon(e));
    CHECK(dv::f_divergence(pm, qm, gen::Gan{}) == Approx(double(kl(p, m) + kl(q, m) - std::log(4.0L))).epsilon(e));
    const auto m3 = mix(p, q, 0.3L);
    CHECK(dv::f_divergence(pm, qm, gen::GeneralizedJs{0.3}) == Approx(double(0.3L * kl(p, m3) + 0.7L * kl(q, m3))).epsilon(e));
    CHECK(dv::f_divergence(pm, qm, gen::SkewKl{0.4}) == Approx(double(kl(p, mix(p, q, 0.4L)))).epsilon(e));
    CHECK(dv::f_divergence(pm, qm, gen::SkewReverseKl{0.25}) == Approx(double(kl(q, mix(q, p, 0.25L)))).epsilon(e));
    const Real alpha = 0.3L;
    CHECK(dv::f_divergence(pm, qm, gen::AmariAlpha{0.3}) ==
          Approx(double((sum([&](Real a, Real b) { return std::pow(a, alpha) * std::pow(b, 1 - alpha); }) - 1) / (alpha * (alpha - 1)))).epsilon(e));
    CHECK(dv::f_divergence(pm, qm, gen::ModifiedGan{}) == Approx(sum([](Real a, Real b) { return b * std::log((a + b) / a); })).epsilon(e));
}

TEST_CASE("the dual generator u f(1/u) swaps the arguments: D_dual(f)(P||Q) = D_f(Q||P), every generator", "[f_divergence][dual]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 4)));
    const double zeros = GENERATE(0.0, 0.25);
    const test::Matrix p = test::random_simplex_rows(3, 20, seed, zeros), q = test::random_simplex_rows(3, 20, seed + 5, zeros);
    CAPTURE(seed, zeros);
    for_each_generator([&](const auto& g) {
        CAPTURE(g.name());
        Eigen::VectorXd a(3), b(3);
        dv::Outputs<double> oa, ob;
        oa.row_values = a;
        ob.row_values = b;
        dv::f_divergence(p, q, gen::dual(g), {dv::Reduction::sum}, oa);
        dv::f_divergence(q, p, g, {dv::Reduction::sum}, ob);
        for (int r = 0; r < 3; ++r) check_equal(a(r), b(r), 1e-11);
    });
}

TEST_CASE("adding c (u - 1) to f leaves D_f unchanged between normalized rows (a user-defined generator)", "[f_divergence][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 4)));
    const test::Matrix p = test::random_simplex_rows(2, 25, seed, 0.2), q = test::random_simplex_rows(2, 25, seed + 1, 0.2);
    for_each_generator([&](const auto& g) {
        CAPTURE(g.name());
        using G = std::decay_t<decltype(g)>;
        STATIC_REQUIRE(dv::detail::is_f_generator_v<Tilted<G>>);
        for (double c : {-2.0, 0.7}) {
            const double a = dv::f_divergence(p, q, Tilted<G>{g, c}), b = dv::f_divergence(p, q, g);
            if (std::isinf(b)) {
                CHECK(a == b);
            } else {
                CHECK(a == Approx(b).epsilon(1e-12).margin(1e-13 * (1 + std::abs(c))));
            }
        }
    });
}

TEST_CASE("D_f(P||Q) >= f(1), = f(1) at P = Q (Gibbs / Jensen)", "[f_divergence][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 8)));
    const test::Matrix p = test::random_simplex_rows(1, 17, seed, 0.2), q = test::random_simplex_rows(1, 17, seed + 2);
    for_each_generator([&](const auto& g) {
        CAPTURE(g.name(), seed);
        CHECK(dv::f_divergence(p, q, g) >= g.f(1.0));
        CHECK(dv::f_divergence(p, p, g) == Approx(g.f(1.0)).margin(1e-14));
        if (g.f(1.0) == 0.0) CHECK(dv::f_divergence(p, q, g) > 0.0);
    });
}

TEST_CASE("JensenShannon generator = 2 JSD (long-double reference), TotalVariation = sum|p-q|/2, Pinsker TV <= sqrt(KL/2)",
          "[f_divergence][reference]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const double zeros = GENERATE(0.0, 0.3);
    const test::Matrix pm = test::random_simplex_rows(1, 50, seed, zeros), qm = test::random_simplex_rows(1, 50, seed + 4, zeros);
    const auto p = ref::row(pm, 0), q = ref::row(qm, 0);
    CAPTURE(seed);
    const auto m = mix(p, q, 0.5L);
    const Real jsd = (kl(p, m) + kl(q, m)) / 2;
    CHECK(dv::f_divergence(pm, qm, gen::JensenShannon{}) == Approx(double(2 * jsd)).epsilon(1e-13));
    Real tv = 0;
    for (std::size_t i = 0; i < p.size(); ++i) tv += std::abs(p[i] - q[i]) / 2;
    const double d_tv = dv::f_divergence(pm, qm, gen::TotalVariation{});
    CHECK(d_tv == Approx(double(tv)).epsilon(1e-13));
    CHECK(d_tv <= std::sqrt(dv::kl(pm, qm) / 2) + 1e-15);  // Pinsker (also when KL = inf)
}

TEST_CASE("data processing: merging two bins never increases D_f (every generator)", "[f_divergence][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 8)));
    const test::Matrix p = test::random_simplex_rows(1, 12, seed, 0.15), q = test::random_simplex_rows(1, 12, seed + 6, 0.15);
    test::Matrix pc(1, 11), qc(1, 11);
    const int i = int(seed % 11);
    for (int c = 0, k = 0; c < 12; ++c) {
        if (c == i + 1) continue;
        pc(0, k) = p(0, c) + (c == i ? p(0, i + 1) : 0.0);
        qc(0, k) = q(0, c) + (c == i ? q(0, i + 1) : 0.0);
        ++k;
    }
    for_each_generator([&](const auto& g) {
        CAPTURE(g.name(), seed, i);
        const double fine = dv::f_divergence(p, q, g), coarse = dv::f_divergence(pc, qc, g);
        CHECK(coarse <= fine + 1e-13 * (1 + std::abs(fine)));
    });
}

TEST_CASE("AmariAlpha(alpha) -> KL as alpha -> 1 and -> reverse KL as alpha -> 0", "[f_divergence][amari]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 4)));
    const test::Matrix p = test::random_simplex_rows(1, 20, seed), q = test::random_simplex_rows(1, 20, seed + 1);
    const double kl = dv::kl(p, q), reverse = dv::reverse_kl(p, q);
    CHECK(dv::f_divergence(p, q, gen::AmariAlpha{1.0}) == Approx(kl).epsilon(1e-13));
    CHECK(dv::f_divergence(p, q, gen::AmariAlpha{0.0}) == Approx(reverse).epsilon(1e-13));
    // D_alpha is smooth in alpha: the distance to the limit is O(|alpha - limit|).
    double previous_one = inf, previous_zero = inf;
    for (double d : {1e-1, 1e-2, 1e-3, 1e-5, 1e-8}) {
        CAPTURE(d);
        const double one = std::abs(dv::f_divergence(p, q, gen::AmariAlpha{1.0 - d}) - kl);
        const double zero = std::abs(dv::f_divergence(p, q, gen::AmariAlpha{d}) - reverse);
        CHECK(one <= 20 * d * (1 + kl));
        CHECK(zero <= 20 * d * (1 + reverse));
        previous_one = one;
        previous_zero = zero;
    }
    CHECK(previous_one < 1e-7 * kl);
    CHECK(previous_zero < 1e-7 * reverse);
}

namespace {

template <class G>
void check_gradients(const G& g, std::uint64_t seed)
{
    CAPTURE(g.name(), seed);
    const auto reduction = seed % 3 == 0 ? dv::Reduction::sum : (seed % 3 == 1 ? dv::Reduction::mean : dv::Reduction::batchmean);
    const test::Matrix a = test::random_logits(3, 6, seed), b = test::random_logits(3, 6, seed + 1);
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(3);
    keep << true, false, true;
    dv::Options options{reduction};
    options.mask = keep;
    options.tolerance = 1e-3;
    const double temperature = 1.7;
    test::Matrix gp(3, 6), gq(3, 6);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    {  // logits
        dv::f_divergence(dv::logits(a, temperature), dv::logits(b, temperature), g, options, out);
        auto fp = [&](const test::Matrix& x) { return dv::f_divergence(dv::logits(x, temperature), dv::logits(b, temperature), g, options); };
        auto fq = [&](const test::Matrix& x) { return dv::f_divergence(dv::logits(a, temperature), dv::logits(x, temperature), g, options); };
        CHECK(test::close(gp, test::central_difference(a, fp), 1e-5, 1e-7));
        CHECK(test::close(gq, test::central_difference(b, fq), 1e-5, 1e-7));
    }
    const test::Matrix p = test::random_simplex_rows(3, 6, seed + 2), q = test::random_simplex_rows(3, 6, seed + 3);
    {  // probabilities (unconstrained partials)
        dv::f_divergence(p, q, g, options, out);
        auto fp = [&](const test::Matrix& x) { return dv::f_divergence(x, q, g, options); };
        auto fq = [&](const test::Matrix& x) { return dv::f_divergence(p, x, g, options); };
        CHECK(test::close(gp, test::central_difference(p, fp), 1e-5, 1e-7));
        CHECK(test::close(gq, test::central_difference(q, fq), 1e-5, 1e-7));
    }
    {  // log-probabilities
        const test::Matrix lp = test::log_of(p), lq = test::log_of(q);
        dv::f_divergence(dv::log_probs(lp), dv::log_probs(lq), g, options, out);
        auto fp = [&](const test::Matrix& x) { return dv::f_divergence(dv::log_probs(x), dv::log_probs(lq), g, options); };
        auto fq = [&](const test::Matrix& x) { return dv::f_divergence(dv::log_probs(lp), dv::log_probs(x), g, options); };
        CHECK(test::close(gp, test::central_difference(lp, fp), 1e-5, 1e-7));
        CHECK(test::close(gq, test::central_difference(lq, fq), 1e-5, 1e-7));
    }
}

}  // namespace

TEST_CASE("f_divergence gradients match central differences (logits with temperature, probs, log-probs, mask, reductions)",
          "[f_divergence][gradient]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 3)));
    check_gradients(gen::ForwardKl{}, seed);
    check_gradients(gen::ReverseKl{}, seed);
    check_gradients(gen::PearsonChiSquared{}, seed);
    check_gradients(gen::SquaredHellinger{}, seed);
    check_gradients(gen::JensenShannon{}, seed);
    check_gradients(gen::AmariAlpha{0.4}, seed);
    check_gradients(gen::AmariAlpha{2.0}, seed);
    check_gradients(gen::TotalVariation{}, seed);  // random rows: no p_i = q_i, so away from the kink
    check_gradients(gen::Jeffreys{}, seed);
    check_gradients(gen::GeneralizedJs{0.3}, seed);
    check_gradients(gen::Dual<gen::Triangular>{}, seed);
}

TEST_CASE("gradients at exact zeros are the limits: finite in log form, match central differences elsewhere",
          "[f_divergence][gradient][zeros]")
{
    // Logits with -inf entries: p_0 = 0 < q_0, q_1 = 0 < p_1, p_2 = q_2 = 0. Generators with finite f(0)
    // and slope keep the value finite, so every finite logit has a gradient to check.
    test::Matrix a = test::random_logits(1, 7, 11), b = test::random_logits(1, 7, 12);
    a(0, 0) = -inf;
    b(0, 1) = -inf;
    a(0, 2) = b(0, 2) = -inf;
    const auto check = [&](const auto& g) {
        CAPTURE(g.name());
        test::Matrix gp(1, 7), gq(1, 7);
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        const double value = dv::f_divergence(dv::logits(a), dv::logits(b), g, {}, out);
        REQUIRE(std::isfinite(value));
        CHECK(gp.allFinite());
        CHECK(gq.allFinite());
        auto fp = [&](const test::Matrix& x) { return dv::f_divergence(dv::logits(x), dv::logits(b), g); };
        auto fq = [&](const test::Matrix& x) { return dv::f_divergence(dv::logits(a), dv::logits(x), g); };
        // Central differences at the finite logits only (a -inf logit cannot be perturbed).
        const auto difference = [](test::Matrix x, int c, const auto& fn) {
            const double h = 1e-6 * std::max(1.0, std::abs(x(0, c))), saved = x(0, c);
            x(0, c) = saved + h;
            const double up = fn(x);
            x(0, c) = saved - h;
            return (up - fn(x)) / (2 * h);
        };
        for (int c = 0; c < 7; ++c) {
            CAPTURE(c);
            if (std::isfinite(a(0, c))) CHECK(gp(0, c) == Approx(difference(a, c, fp)).epsilon(1e-5).margin(1e-7));
            if (std::isfinite(b(0, c))) CHECK(gq(0, c) == Approx(difference(b, c, fq)).epsilon(1e-5).margin(1e-7));
        }
    };
    check(gen::JensenShannon{});
    check(gen::SquaredHellinger{});
    check(gen::Triangular{});
    check(gen::TotalVariation{});
    check(gen::GeneralizedJs{0.7});
    check(gen::AmariAlpha{0.5});

    // Log-probability gradients at zeros for KL: d/dlog p = 0 where p = 0, d/dlog q = -p where q = 0 (as kl).
    Eigen::RowVectorXd p(3), q(3);
    p << 0.0, 0.5, 0.5;
    q << 0.5, 0.0, 0.5;
    Eigen::RowVectorXd gp(3), gq(3), kp(3), kq(3);
    dv::Outputs<double> o, k;
    o.grad_p = gp;
    o.grad_q = gq;
    k.grad_p = kp;
    k.grad_q = kq;
    const Eigen::RowVectorXd lp = p.array().log(), lq = q.array().log();
    CHECK(dv::f_divergence(dv::log_probs(lp), dv::log_probs(lq), gen::ForwardKl{}, {}, o) == inf);
    dv::kl(dv::log_probs(lp), dv::log_probs(lq), {}, k);
    CHECK(gp(0) == 0.0);
    CHECK(gq(1) == Approx(-0.5));
    CHECK(gp(1) == inf);  // d/dlog p where q = 0: +inf, as kl
    for (int c = 0; c < 3; ++c) {
        check_equal(gp(c), kp(c));
        check_equal(gq(c), kq(c));
    }
}

TEST_CASE("adversarial rows: one-hot, zeros in either argument, V = 262144, logits +-1e4 (float) and +-1e300: no NaN",
          "[f_divergence][adversarial]")
{
    const auto no_nan = [](const auto& m) { return !m.array().isNaN().any(); };
    SECTION("one-hot and zeros: +inf exactly where f(0) or the slope is infinite")
    {
        Eigen::RowVectorXd p(4), q(4);
        p << 1, 0, 0, 0;
        q << 0.25, 0.25, 0.25, 0.25;
        for_each_generator([&](const auto& g) {
            CAPTURE(g.name());
            Eigen::RowVectorXd gp(4), gq(4);
            dv::Outputs<double> out;
            out.grad_p = gp;
            out.grad_q = gq;
            const double forward = dv::f_divergence(p, q, g, {}, out);
            CHECK(!std::isnan(forward));
            CHECK(no_nan(gp));
            CHECK(no_nan(gq));
            CHECK(std::isinf(forward) == std::isinf(g.f_at_zero()));  // q > 0 = p at three outcomes
            const double backward = dv::f_divergence(q, p, g, {}, out);
            CHECK(std::isinf(backward) == std::isinf(g.slope_at_infinity()));
            CHECK(no_nan(gp));
            CHECK(no_nan(gq));
            CHECK(dv::f_divergence(p, p, g) == Approx(g.f(1.0)).margin(1e-15));
        });
    }
    SECTION("V = 262144")
    {
        const test::Matrix p = test::random_simplex_rows(1, 262144, 3, 0.1), q = test::random_simplex_rows(1, 262144, 4);
        const auto lp = ref::row(p, 0), lq = ref::row(q, 0);
        CHECK(dv::f_divergence(p, q, gen::JensenShannon{}) == Approx(double(reference_f_divergence(lp, lq, gen::JensenShannon{}))).epsilon(1e-12));
        CHECK(dv::f_divergence(p, q, gen::ForwardKl{}) == Approx(dv::kl(p, q)).epsilon(1e-12));
    }
    SECTION("float logits +-1e4")
    {
        test::MatrixF s(2, 5), t(2, 5);
        t << 1e4f, -1e4f, 0.0f, -1e4f, 1e4f,  //
            -1e4f, -1e4f, -1e4f, 1e4f, 0.0f;
        s << -1e4f, 1e4f, 0.0f, 1e4f, -1e4f,  //
            1e4f, -1e4f, 0.0f, 1e4f, -1e4f;
        for_each_generator([&](const auto& g) {
            CAPTURE(g.name());
            test::MatrixF gp(2, 5), gq(2, 5);
            dv::Outputs<float> out;
            out.grad_p = gp;
            out.grad_q = gq;
            const float value = dv::f_divergence(dv::logits(t, 2.0), dv::logits(s, 2.0), g, {}, out);
            CHECK(!std::isnan(value));
            CHECK(no_nan(gp));
            CHECK(no_nan(gq));
            // Bounded generators stay finite: their limits at 0 and infinity are finite.
            if (std::isfinite(g.f_at_zero()) && std::isfinite(g.slope_at_infinity())) CHECK(std::isfinite(value));
        });
        // At T = 1 every mass off the maxima is below e^-1e4: P = (1/2, 0, 0, 0, 1/2), Q = (0, 1/2, 0, 1/2, 0) (disjoint:
        // 2 JSD = 2 log 2, TV = 1) and P = e_3, Q = (1/2, 0, 0, 1/2, 0) (M = (1/4, 0, 0, 3/4, 0):
        // KL(P||M) + KL(Q||M) = log(4/3) + (log 2 + log(2/3))/2, TV = 1/2). The saturated terms are exact here.
        const double js_second = std::log(4.0 / 3.0) + 0.5 * (std::log(2.0) + std::log(2.0 / 3.0));
        CHECK(dv::f_divergence(dv::logits(t), dv::logits(s), gen::JensenShannon{}) ==
              Approx((2 * std::log(2.0) + js_second) / 2).epsilon(1e-6));
        CHECK(dv::f_divergence(dv::logits(t), dv::logits(s), gen::TotalVariation{}) == Approx(0.75).epsilon(1e-6));
    }
    SECTION("double logits +-1e300")
    {
        test::Matrix s(1, 3), t(1, 3);
        t << 1e300, -1e300, 0.0;
        s << -1e300, 1e300, 0.0;
        for_each_generator([&](const auto& g) {
            CAPTURE(g.name());
            test::Matrix gp(1, 3), gq(1, 3);
            dv::Outputs<double> out;
            out.grad_p = gp;
            out.grad_q = gq;
            const double value = dv::f_divergence(dv::logits(t), dv::logits(s), g, {}, out);
            CHECK(!std::isnan(value));
            CHECK(no_nan(gp));
            CHECK(no_nan(gq));
        });
        // p and q are one-hot on different outcomes: JS = 2 log 2 exactly, TV = 1.
        CHECK(dv::f_divergence(dv::logits(t), dv::logits(s), gen::JensenShannon{}) == Approx(2 * std::log(2.0)));
        CHECK(dv::f_divergence(dv::logits(t), dv::logits(s), gen::TotalVariation{}) == Approx(1.0));
    }
    SECTION("a mass that underflows to 0 while its ratio is representable still counts (terms on the larger mass)")
    {
        // log p_1 = -100, log q_1 = -800 (q_1 underflows): the JS term p_1 (f(r)/r) ~ e^-100 log 2 is kept.
        test::Matrix lp(1, 2), lq(1, 2);
        lp << std::log1p(-std::exp(-100.0)), -100.0;
        lq << 0.0, -800.0;
        const Real p1 = std::exp(Real(-100)), q1 = std::exp(Real(-800));
        const std::vector<Real> p = {1 - p1, p1}, q = {1 - q1, q1};
        const double expected = double(reference_f_divergence(p, q, gen::JensenShannon{}));
        CHECK(dv::f_divergence(dv::log_probs(lp), dv::log_probs(lq), gen::JensenShannon{}) == Approx(expected).epsilon(1e-10));
        CHECK(expected > 1e-44);
    }
}

TEST_CASE("density_ratio_weights gives h(r) = r^2 f''(r) from log r, with the limits at log r = +-inf", "[f_divergence][weights]")
{
    Eigen::ArrayXd log_ratio(6);
    log_ratio << -inf, -3.0, 0.0, 0.5, 4.0, inf;
    const Eigen::ArrayXd kl = dv::density_ratio_weights(log_ratio, gen::ForwardKl{});
    const Eigen::ArrayXd reverse = dv::density_ratio_weights(log_ratio, gen::ReverseKl{});
    const Eigen::ArrayXd js = dv::density_ratio_weights(log_ratio, gen::JensenShannon{});
    for (int i = 0; i < 6; ++i) {
        const double r = std::exp(log_ratio(i));
        CAPTURE(i, r);
        CHECK(kl(i) == Approx(r));             // forward KL: h = r
        CHECK(reverse(i) == 1.0);              // reverse KL: h = 1 (score distillation)
        CHECK(js(i) == Approx(std::isinf(r) ? 1.0 : r / (r + 1)));
    }
    // Into a caller's matrix, float.
    Eigen::MatrixXf lr(2, 2), out(2, 2);
    lr << -1.0f, 0.0f, 1.0f, 2.0f;
    dv::density_ratio_weights(lr, gen::SquaredHellinger{}, out);
    CHECK(out(1, 1) == Approx(0.5 * std::exp(1.0)).epsilon(1e-6));

    using Catch::Matchers::Contains;
    Eigen::ArrayXd bad(2);
    bad << 0.0, std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH(dv::density_ratio_weights(bad, gen::ForwardKl{}), Contains("density_ratio_weights") && Contains("log_ratio"));
    Eigen::ArrayXd wrong(3);
    CHECK_THROWS_WITH(dv::density_ratio_weights(log_ratio, gen::ForwardKl{}, wrong),
                      Contains("density_ratio_weights") && Contains("weights"));
}

TEST_CASE("f_divergence reports bad input through the driver, naming f_divergence", "[f_divergence][errors]")
{
    using Catch::Matchers::Contains;
    Eigen::VectorXd p(3), q(4);
    p << 0.2, 0.3, 0.5;
    q << 0.25, 0.25, 0.25, 0.25;
    CHECK_THROWS_WITH(dv::f_divergence(p, q, gen::JensenShannon{}), Contains("f_divergence") && Contains("'q'"));
    Eigen::VectorXd negative(3);
    negative << -0.1, 0.6, 0.5;
    CHECK_THROWS_WITH(dv::f_divergence(negative, p, gen::JensenShannon{}), Contains("f_divergence") && Contains("'p'"));
}

}  // namespace discrete_f_divergence_test
