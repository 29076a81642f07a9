// The generic f-divergence engine at extreme values: ratios far beyond the double range, masses that
// underflow, generators whose f(r) overflows while q f(r) does not. References are long-double
// evaluations of each generator's closed-form f, f' and phi = f - u f' (range e^+-11356), or closed
// forms of the divergence; gradients also against central differences.

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "divergence/discrete/f_divergence.hpp"
#include "divergence/discrete/kl.hpp"
#include "support/finite_difference.hpp"

namespace discrete_f_divergence_extremes_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace gen = divergence::generators;
using Real = long double;

namespace {

const double inf = std::numeric_limits<double>::infinity();

/// A generator's f, f' and phi in long double (closed forms written from the definitions).
struct Sheet {
    std::function<Real(Real)> f, fp, phi;
};

Sheet sheet_of(const std::string& name)
{
    using std::log;
    using std::log1p;
    using std::pow;
    using std::sqrt;
    const Real b = 0.3L, a = 0.4L, c = 0.25L;  // GeneralizedJs beta, SkewKl alpha, SkewReverseKl alpha
    if (name == "forward_kl") return {[](Real u) { return u * log(u); }, [](Real u) { return log(u) + 1; }, [](Real u) { return -u; }};
    if (name == "reverse_kl") return {[](Real u) { return -log(u); }, [](Real u) { return -1 / u; }, [](Real u) { return 1 - log(u); }};
    if (name == "pearson_chi_squared")
        return {[](Real u) { return (u - 1) * (u - 1); }, [](Real u) { return 2 * (u - 1); }, [](Real u) { return 1 - u * u; }};
    if (name == "neyman_chi_squared")
        return {[](Real u) { return (1 - u) * (1 - u) / u; }, [](Real u) { return 1 - 1 / (u * u); }, [](Real u) { return 2 / u - 2; }};
    if (name == "squared_hellinger")
        return {[](Real u) { return (sqrt(u) - 1) * (sqrt(u) - 1); }, [](Real u) { return 1 - 1 / sqrt(u); }, [](Real u) { return 1 - sqrt(u); }};
    if (name == "jeffreys")
        return {[](Real u) { return (u - 1) * log(u); }, [](Real u) { return log(u) + 1 - 1 / u; }, [](Real u) { return 1 - u - log(u); }};
    // log(2u / (u + 1)), log((u + 1) / 2) and the like through log1p where their argument is near 1.
    const auto log_2u_sum = [](Real u) { return u < 0.5L ? log(2 * u / (u + 1)) : log1p((u - 1) / (u + 1)); };
    const auto log_half_sum = [](Real u) { return log1p((u - 1) / 2); };
    if (name == "jensen_shannon")
        return {[=](Real u) { return u * log_2u_sum(u) - log_half_sum(u); }, log_2u_sum, [=](Real u) { return -log_half_sum(u); }};
    if (name == "gan")
        return {[](Real u) { return -u * log1p(1 / u) - log1p(u); }, [](Real u) { return -log1p(1 / u); },
                [](Real u) { return -log1p(u); }};
    // log(u / m) and log m for m = w u + 1 - w.
    const auto log_u_m = [](Real w, Real u) { return u < 0.5L ? log(u / (w * u + 1 - w)) : log1p((1 - w) * (u - 1) / (w * u + 1 - w)); };
    const auto log_m = [](Real w, Real u) { return log1p(w * (u - 1)); };
    if (name == "generalized_js(beta=0.3)")
        return {[=](Real u) { return b * u * log_u_m(b, u) - (1 - b) * log_m(b, u); }, [=](Real u) { return b * log_u_m(b, u); },
                [=](Real u) { return -(1 - b) * log_m(b, u); }};
    if (name == "skew_kl(alpha=0.4)")
        return {[=](Real u) { return u * log_u_m(a, u); }, [=](Real u) { return log_u_m(a, u) + (1 - a) / (a * u + 1 - a); },
                [=](Real u) { return -(1 - a) * u / (a * u + 1 - a); }};
    if (name == "skew_kl(alpha=0)")
        return {[](Real u) { return u * log(u); }, [](Real u) { return log(u) + 1; }, [](Real u) { return -u; }};
    if (name == "skew_reverse_kl(alpha=0.25)")
        return {[=](Real u) { return -log_m(1 - c, u); }, [=](Real u) { return -(1 - c) / (c + (1 - c) * u); },
                [=](Real u) { return -log_m(1 - c, u) + (1 - c) * u / (c + (1 - c) * u); }};
    if (name == "skew_reverse_kl(alpha=0)")
        return {[](Real u) { return -log(u); }, [](Real u) { return -1 / u; }, [](Real u) { return 1 - log(u); }};
    if (name == "softened_reverse_kl")
        return {[](Real u) { return (u + 1) * log1p((1 - u) / (2 * u)); }, [](Real u) { return log1p((1 - u) / (2 * u)) - 1 / u; },
                [](Real u) { return 1 + log1p((1 - u) / (2 * u)); }};
    for (Real alpha : {-0.5L, 0.3L, 2.5L}) {
        const std::string amari = std::string("amari_alpha(alpha=") + (alpha == -0.5L ? "-0.5" : alpha == 0.3L ? "0.3" : "2.5") + ")";
        if (name == amari)
            return {[=](Real u) { return (pow(u, alpha) - 1 - alpha * (u - 1)) / (alpha * (alpha - 1)); },
                    [=](Real u) { return (pow(u, alpha - 1) - 1) / (alpha - 1); }, [=](Real u) { return -(pow(u, alpha) - 1) / alpha; }};
    }
    if (name == "amari_alpha(alpha=0)")
        return {[](Real u) { return -log(u) + u - 1; }, [](Real u) { return 1 - 1 / u; }, [](Real u) { return -log(u); }};
    if (name == "amari_alpha(alpha=1)")
        return {[](Real u) { return u * log(u) - u + 1; }, [](Real u) { return log(u); }, [](Real u) { return 1 - u; }};
    if (name == "t_power(t=-0.5)")  // |t (t-1)| = 0.75 times Amari(-0.5)
        return {[](Real u) { return pow(u, -0.5L) - 1 + 0.5L * (u - 1); }, [](Real u) { return 0.5L * (1 - pow(u, -1.5L)); },
                [](Real u) { return 1.5L * (pow(u, -0.5L) - 1); }};
    if (name == "triangular")
        return {[](Real u) { return (u - 1) * (u - 1) / (u + 1); }, [](Real u) { return 1 - 4 / ((u + 1) * (u + 1)); },
                [](Real u) { return -3 + 4 / (u + 1) + 4 * u / ((u + 1) * (u + 1)); }};
    if (name == "arithmetic_geometric")
        return {[](Real u) { return (1 + u) * log1p((sqrt(u) - 1) * (sqrt(u) - 1) / (2 * sqrt(u))); },
                [](Real u) { return log1p((sqrt(u) - 1) * (sqrt(u) - 1) / (2 * sqrt(u))) + (u - 1) / (2 * u); },
                [](Real u) { return log1p((sqrt(u) - 1) * (sqrt(u) - 1) / (2 * sqrt(u))) - (u - 1) / 2; }};
    if (name == "total_variation")
        return {[](Real u) { return std::abs(u - 1) / 2; }, [](Real u) { return u < 1 ? -0.5L : 0.5L; }, [](Real u) { return u < 1 ? 0.5L : -0.5L; }};
    if (name == "log1p_abs")
        return {[](Real u) { return u < 1 ? 1 / u - 1 : u - 1; }, [](Real u) { return u < 1 ? -1 / (u * u) : Real(1); },
                [](Real u) { return u < 1 ? 2 / u - 1 : Real(-1); }};
    if (name == "modified_gan")
        return {[](Real u) { return log1p(1 / u) + (u - 1) / 2; }, [](Real u) { return 0.5L - 1 / (u * (u + 1)); },
                [](Real u) { return log1p(1 / u) + 0.5L - u / (1 + u); }};
    if (name.rfind("dual(", 0) == 0) {  // f°(u) = u f(1/u), f°' = phi(1/u), phi° = f'(1/u)
        const Sheet base = sheet_of(name.substr(5, name.size() - 6));
        return {[=](Real u) { return u * base.f(1 / u); }, [=](Real u) { return base.phi(1 / u); }, [=](Real u) { return base.fp(1 / u); }};
    }
    FAIL("no long-double sheet for " << name);
    return {};
}

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
    fn(gen::SkewKl{0.0});
    fn(gen::SkewKl{0.4});
    fn(gen::SkewReverseKl{0.0});
    fn(gen::SkewReverseKl{0.25});
    fn(gen::SoftenedReverseKl{});
    fn(gen::AmariAlpha{-0.5});
    fn(gen::AmariAlpha{0.0});
    fn(gen::AmariAlpha{0.3});
    fn(gen::AmariAlpha{1.0});
    fn(gen::AmariAlpha{2.5});
    fn(gen::TPower{-0.5});
    fn(gen::Triangular{});
    fn(gen::ArithmeticGeometric{});
    fn(gen::TotalVariation{});
    fn(gen::Log1pAbs{});
    fn(gen::ModifiedGan{});
    fn(gen::Dual<gen::PearsonChiSquared>{});
    fn(gen::Dual<gen::JensenShannon>{});
    fn(gen::Dual<gen::Jeffreys>{});
    fn(gen::dual(gen::AmariAlpha{2.5}));
}

/// x equals the long-double value y rounded to double: +-inf where y is beyond the double range,
/// otherwise within rtol relative (or 1e-300 absolute: results that underflow).
bool matches(double x, Real y, double rtol)
{
    UNSCOPED_INFO("got " << x << ", long double " << double(y));
    if (std::isnan(x)) return false;
    if (std::abs(y) > Real(std::numeric_limits<double>::max())) return std::isinf(x) && (x > 0) == (y > 0);
    return std::abs(Real(x) - y) <= Real(1e-300) + Real(rtol) * std::abs(y);
}

/// d fn / d x by central differences with the absolute step h: logits of -1e4 need a step far below
/// their relative 1e-6 (the curvature of e^z) and far above their ulp.
template <class Fn>
Eigen::RowVectorXd difference(const Eigen::RowVectorXd& x, const Fn& fn, double h = 1e-5)
{
    Eigen::RowVectorXd g(x.size()), y = x;
    for (Eigen::Index i = 0; i < x.size(); ++i) {
        y(i) = x(i) + h;
        const double up = fn(y);
        y(i) = x(i) - h;
        g(i) = (up - fn(y)) / (2 * h);
        y(i) = x(i);
    }
    return g;
}

}  // namespace

TEST_CASE("f_divergence at extreme values: the cases that once gave 0 or +inf (closed forms)", "[f_divergence][extremes]")
{
    SECTION("Neyman chi^2 from logits [-20000, 0] and [-10000, 0]: q^2/p = e^(2 log q - log p) = 1")
    {
        Eigen::RowVectorXd a(2), b(2), gp(2), gq(2);
        a << -20000, 0;
        b << -10000, 0;
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        // Term 1: q (1 - r)^2 / r = e^(2 (-10000) + 20000) (1 - e^-10000)^2 = 1; term 2: f(1) = 0.
        CHECK(dv::f_divergence(dv::logits(a), dv::logits(b), gen::NeymanChiSquared{}, {}, out) == Approx(1.0).epsilon(1e-13));
        // dD/dlog p_1 = p f'(r) = p - q^2/p = -1, dD/dlog q_1 = q phi(r) = 2 q/r - 2q = 2; the softmax
        // Jacobian: d/dz_p = (-1, 0) - p (-1) = (-1, 1), d/dz_q = (2, 0) - q 2 = (2, -2).
        CHECK(gp(0) == Approx(-1.0).epsilon(1e-12));
        CHECK(gp(1) == Approx(1.0).epsilon(1e-12));
        CHECK(gq(0) == Approx(2.0).epsilon(1e-12));
        CHECK(gq(1) == Approx(-2.0).epsilon(1e-12));
        const auto dp = difference(a, [&](const Eigen::RowVectorXd& x) {
            return dv::f_divergence(dv::logits(x), dv::logits(b), gen::NeymanChiSquared{});
        });
        const auto dq = difference(b, [&](const Eigen::RowVectorXd& x) {
            return dv::f_divergence(dv::logits(a), dv::logits(x), gen::NeymanChiSquared{});
        });
        CHECK(test::close(gp, dp, 1e-5, 1e-7));
        CHECK(test::close(gq, dq, 1e-5, 1e-7));
    }
    SECTION("Pearson chi^2 between P = (1/2, 1/2) and Q = (1, 1e-200) as probabilities: (p - q)^2 / q = 2.5e199")
    {
        Eigen::RowVectorXd p(2), q(2), gp(2), gq(2);
        p << 0.5, 0.5;
        q << 1.0, 1e-200;  // not normalized: no validation
        dv::Options options;
        options.validation = dv::Validation::none;
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        const Real q1 = Real(1e-200);
        const Real expected = Real(0.25) + (Real(0.5) - q1) * (Real(0.5) - q1) / q1;
        CHECK(dv::f_divergence(p, q, gen::PearsonChiSquared{}, options, out) == Approx(double(expected)).epsilon(1e-12));
        // dD/dp = f'(r) = 2 (p/q - 1); dD/dq = phi(r) = 1 - r^2, beyond the double range at r = 5e199: -inf.
        CHECK(gp(0) == Approx(-1.0).epsilon(1e-13));
        CHECK(gp(1) == Approx(double(2 * (Real(0.5) / q1 - 1))).epsilon(1e-12));
        CHECK(gq(0) == Approx(0.75).epsilon(1e-13));
        CHECK(gq(1) == -inf);
    }
    SECTION("Pearson chi^2 from logits [0, 0] and [0, -600]: p^2/q ~ e^600 / 4 (long double)")
    {
        Eigen::RowVectorXd a(2), b(2), gp(2), gq(2);
        a << 0, 0;
        b << 0, -600;
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        const Real z = std::log1p(std::exp(Real(-600)));
        const Real p = 0.5L, q[2] = {std::exp(-z), std::exp(Real(-600) - z)};
        Real expected = 0, d_log_p[2], d_log_q[2];
        for (int i = 0; i < 2; ++i) {
            const Real r = p / q[i];
            expected += q[i] * (r - 1) * (r - 1);
            d_log_p[i] = p * 2 * (r - 1);
            d_log_q[i] = q[i] * (1 - r * r);
        }
        CHECK(dv::f_divergence(dv::logits(a), dv::logits(b), gen::PearsonChiSquared{}, {}, out) ==
              Approx(double(expected)).epsilon(1e-12));
        for (int i = 0; i < 2; ++i) {
            CAPTURE(i);
            CHECK(gp(i) == Approx(double(d_log_p[i] - p * (d_log_p[0] + d_log_p[1]))).epsilon(1e-11));
            CHECK(gq(i) == Approx(double(d_log_q[i] - q[i] * (d_log_q[0] + d_log_q[1]))).epsilon(1e-11));
        }
        const auto dq = difference(b, [&](const Eigen::RowVectorXd& x) {
            return dv::f_divergence(dv::logits(a), dv::logits(x), gen::PearsonChiSquared{});
        });
        CHECK(test::close(gq, dq, 1e-5, 1e-7 * std::abs(gq(0))));
    }
    SECTION("Jeffreys from logits [0, 0] and [0, -1000]: KL + reverse KL = 500")
    {
        Eigen::RowVectorXd a(2), b(2);
        a << 0, 0;
        b << 0, -1000;
        // (p - q)(log p - log q) per entry in long double: 1/2 log 2 + 1/2 (1000 - log 2) = 500 (to e^-1000).
        const Real z = std::log1p(std::exp(Real(-1000)));
        const Real lq[2] = {-z, Real(-1000) - z}, lp = -std::log(Real(2));
        Real expected = 0;
        for (int i = 0; i < 2; ++i) expected += (Real(0.5) - std::exp(lq[i])) * (lp - lq[i]);
        const double value = dv::f_divergence(dv::logits(a), dv::logits(b), gen::Jeffreys{});
        CHECK(value == Approx(double(expected)).epsilon(1e-14));
        CHECK(value == Approx(dv::kl(dv::logits(a), dv::logits(b)) + dv::reverse_kl(dv::logits(a), dv::logits(b))).epsilon(1e-14));
    }
}

TEST_CASE("f_divergence terms and partials equal q f(p/q), p f', q phi in long double for every generator, at log ratios "
          "beyond the double range and masses that underflow",
          "[f_divergence][extremes]")
{
    // Log ratios at the edges: where r or 1/r leaves the normal range (708.4, 709.8, 745), where a
    // power of r overflows (Pearson's r^2 at 354.9), where the packet loop hands lanes back (700), and far beyond.
    const double ratios[] = {0.5, 20.0, 30.0, 354.0, 355.0, 700.0, 708.0, 709.0, 710.0, 745.0, 800.0, 1500.0};
    const double larger_masses[] = {0.0, -30.0, -700.0, -720.0, -1500.0};  // log of the larger mass
    for_each_generator([&](const auto& g) {
        using G = std::decay_t<decltype(g)>;
        const Sheet s = sheet_of(g.name());
        const dv::detail::FDivergenceKernel<G> kernel{g};
        CAPTURE(g.name());
        for (double magnitude : ratios) {
            for (double sign : {-1.0, 1.0}) {
                for (double log_m : larger_masses) {
                    const double l = sign * magnitude;
                    dv::detail::Element e;
                    e.log_p = l > 0 ? log_m : log_m + l;
                    e.log_q = l > 0 ? log_m - l : log_m;
                    e.p = std::exp(e.log_p);
                    e.q = std::exp(e.log_q);
                    const Real p = std::exp(Real(e.log_p)), q = std::exp(Real(e.log_q)), r = std::exp(Real(e.log_p) - Real(e.log_q));
                    CAPTURE(e.log_p, e.log_q);
                    // exp of an argument ~ |log p| + |log q| amplifies its rounding (eps per unit).
                    const double rtol = 2e-16 * (40.0 + 3.0 * (std::abs(e.log_p) + std::abs(e.log_q)));
                    const double term = kernel.term(e);
                    CHECK(matches(term, q * s.f(r), rtol));
                    const dv::detail::Partials d = kernel.partials({0.0}, e);
                    CHECK(matches(d.d_log_p, p * s.fp(r), rtol));
                    CHECK(matches(d.d_log_q, q * s.phi(r), rtol));
                    CHECK(matches(d.d_p, s.fp(r), rtol));
                    CHECK(matches(d.d_q, s.phi(r), rtol));
                }
            }
        }
    });
}

TEST_CASE("f_divergence gradients from logits match central differences where ratios leave the double range",
          "[f_divergence][extremes][gradient]")
{
    // Rows whose second entry has log ratio about +-gap: the value is finite for every generator at gap
    // 30 and 710 unless it grows like a power of r (then only while that power fits a double).
    for (double gap : {30.0, 360.0, 710.0, 1000.0}) {
        for (bool on_q : {true, false}) {
            Eigen::RowVectorXd a(3), b(3);
            a << 0.0, 0.0, 1.0;
            b << 0.2, 0.0, 0.5;
            (on_q ? b : a)(1) = -gap;
            for_each_generator([&](const auto& g) {
                CAPTURE(g.name(), gap, on_q);
                Eigen::RowVectorXd gp(3), gq(3);
                dv::Outputs<double> out;
                out.grad_p = gp;
                out.grad_q = gq;
                const double value = dv::f_divergence(dv::logits(a), dv::logits(b), g, {}, out);
                REQUIRE(!std::isnan(value));
                if (!std::isfinite(value) || std::abs(value) > 1e300) return;  // a power of r beyond the double range
                const auto fp = [&](const Eigen::RowVectorXd& x) { return dv::f_divergence(dv::logits(x), dv::logits(b), g); };
                const auto fq = [&](const Eigen::RowVectorXd& x) { return dv::f_divergence(dv::logits(a), dv::logits(x), g); };
                const double scale = std::max(1.0, std::abs(value));
                CHECK(test::close(gp, difference(a, fp), 1e-5, 1e-7 * scale));
                CHECK(test::close(gq, difference(b, fq), 1e-5, 1e-7 * scale));
            });
        }
    }
}

}  // namespace discrete_f_divergence_extremes_test
