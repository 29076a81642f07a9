#include <catch2/catch.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "divergence/core/simd.hpp"
#include "divergence/discrete/generators.hpp"

namespace discrete_generators_test {  // the test binary is a unity build: each file keeps its names to itself

namespace gen = divergence::generators;
using Real = long double;

namespace {

const double inf = std::numeric_limits<double>::infinity();

/// Calls fn on one instance of every generator of the table (parameterized ones at several
/// parameters, including the exact limits of AmariAlpha) and on a few duals.
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
    fn(gen::GeneralizedJs{0.9});
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
    fn(gen::TPower{0.5});
    fn(gen::TPower{2.0});
    fn(gen::Triangular{});
    fn(gen::ArithmeticGeometric{});
    fn(gen::TotalVariation{});
    fn(gen::Log1pAbs{});
    fn(gen::ModifiedGan{});
    fn(gen::Dual<gen::ForwardKl>{});
    fn(gen::Dual<gen::PearsonChiSquared>{});
    fn(gen::Dual<gen::JensenShannon>{});
    fn(gen::dual(gen::AmariAlpha{0.3}));
    fn(gen::dual(gen::SkewKl{0.4}));
}

/// Ends of u: values near 0 and near infinity at which the limits are checked.
const double tiny_1 = 1e-60, tiny_2 = 1e-120, huge_1 = 1e60, huge_2 = 1e120;

/// A limit against two samples approaching it: finite limits must be matched by the nearer sample;
/// infinite ones (or beyond 1e200: the dual evaluates its limits at the smallest/largest normal double)
/// must be approached without bound (beyond +-10 and still growing).
void check_limit(const char* what, double limit, double near_sample, double nearer_sample)
{
    CAPTURE(what, limit, near_sample, nearer_sample);
    if (std::abs(limit) >= 1e200) {
        const double sign = limit > 0 ? 1.0 : -1.0;
        CHECK(sign * nearer_sample > 10.0);
        CHECK((sign * nearer_sample > sign * near_sample + 1.0 || std::isinf(nearer_sample)));
    } else {
        CHECK(nearer_sample == Approx(limit).margin(1e-9).epsilon(1e-9));
    }
}

template <class G>
double expected_f_at_one(const G& g)
{
    const std::string name = g.name();
    if (name == "gan") return -std::log(4.0);
    if (name == "modified_gan") return std::log(2.0);
    return 0.0;
}

const double points[] = {0.02, 0.3, 0.7, 1.6, 4.0, 30.0};

}  // namespace

TEST_CASE("generators: f(1) = 0 (f(1) = -log 4 for Gan, log 2 for ModifiedGan), so D_f(P||P) = f(1)",
          "[generators][property]")
{
    for_each_generator([](const auto& g) {
        CAPTURE(g.name());
        CHECK(g.f(1.0) == Approx(expected_f_at_one(g)).margin(1e-15));
        // phi(1) = f(1) - f'(1)
        CHECK(g.phi(1.0) == Approx(g.f(1.0) - g.f_prime(1.0)).margin(1e-15));
    });
}

TEST_CASE("generators: f' and f'' agree with central differences, phi = f - u f', weight = u^2 f'' (Taylor)",
          "[generators][derivative]")
{
    for_each_generator([](const auto& g) {
        CAPTURE(g.name());
        for (double u : points) {
            CAPTURE(u);
            const double h = 1e-5 * u;
            const double df = (g.f(u + h) - g.f(u - h)) / (2 * h);
            const double d2f = (g.f_prime(u + h) - g.f_prime(u - h)) / (2 * h);
            CHECK(g.f_prime(u) == Approx(df).epsilon(1e-6).margin(1e-7));
            CHECK(g.f_second(u) == Approx(d2f).epsilon(1e-6).margin(1e-7));
            const double f = g.f(u), uf = u * g.f_prime(u);
            CHECK(g.phi(u) == Approx(f - uf).margin(1e-13 * (std::abs(f) + std::abs(uf) + 1.0)));
            CHECK(g.weight(u) == Approx(u * u * g.f_second(u)).epsilon(1e-12).margin(1e-300));
        }
    });
}

TEST_CASE("generators are convex: f'' >= 0 and f((a+b)/2) <= (f(a)+f(b))/2 (Jensen)", "[generators][property]")
{
    for_each_generator([](const auto& g) {
        CAPTURE(g.name());
        for (double a : points) {
            CHECK(g.f_second(a) >= 0.0);
            CHECK(g.weight(a) >= 0.0);
            for (double b : points) {
                const double mid = g.f(0.5 * (a + b)), chord = 0.5 * (g.f(a) + g.f(b));
                CHECK(mid <= chord + 1e-13 * (1.0 + std::abs(chord)));
            }
        }
    });
}

TEST_CASE("generators: limits at 0 and infinity agree with f at tiny and huge u, and u = 0 gives them exactly",
          "[generators][limits]")
{
    for_each_generator([](const auto& g) {
        CAPTURE(g.name());
        const auto f = [&](double u) { return g.f(u); };
        const auto fp = [&](double u) { return g.f_prime(u); };
        const auto phi = [&](double u) { return g.phi(u); };
        check_limit("f_at_zero", g.f_at_zero(), f(tiny_1), f(tiny_2));
        check_limit("slope_at_infinity", g.slope_at_infinity(), f(huge_1) / huge_1, f(huge_2) / huge_2);
        check_limit("slope = f'(inf)", g.slope_at_infinity(), fp(huge_1), fp(huge_2));
        check_limit("f_prime_at_zero", g.f_prime_at_zero(), fp(tiny_1), fp(tiny_2));
        check_limit("u_f_prime_at_zero", g.u_f_prime_at_zero(), tiny_1 * fp(tiny_1), tiny_2 * fp(tiny_2));
        check_limit("phi_at_zero", g.phi_at_zero(), phi(tiny_1), phi(tiny_2));
        check_limit("phi_at_infinity", g.phi_at_infinity(), phi(huge_1), phi(huge_2));
        check_limit("phi_over_u_at_infinity", g.phi_over_u_at_infinity(), phi(huge_1) / huge_1, phi(huge_2) / huge_2);
        check_limit("weight(0)", g.weight(0.0), g.weight(tiny_1), g.weight(tiny_2));
        check_limit("weight(inf)", g.weight(inf), g.weight(huge_1), g.weight(huge_2));
        // u = 0 is the limit at 0+, exactly.
        CHECK(g.f(0.0) == g.f_at_zero());
        CHECK(g.f_prime(0.0) == g.f_prime_at_zero());
        CHECK(g.phi(0.0) == g.phi_at_zero());
    });
}

TEST_CASE("generators: conjugate f*(t) equals a numerical sup_{u>=0} (u t - f(u)) inside its domain (Fenchel)",
          "[generators][conjugate]")
{
    int checked = 0;
    for_each_generator([&](const auto& g) {
        using G = std::decay_t<decltype(g)>;
        if constexpr (G::has_conjugate) {
            CAPTURE(g.name());
            const gen::Interval domain = g.conjugate_domain();
            std::vector<double> ts;
            if (std::isfinite(domain.upper)) {
                for (double d : {0.05, 0.5, 2.0, 5.0}) ts.push_back(domain.upper - d * std::max(1.0, std::abs(domain.upper)));
                if (domain.upper_closed) ts.push_back(domain.upper);
            } else {
                ts = {-3.0, -0.5, 0.3, 1.5};
            }
            for (double t : ts) {
                CAPTURE(t);
                REQUIRE(domain.contains(t));
                // u t - f(u) is concave in u, hence unimodal in x = log u: golden-section search on x,
                // plus the end u = 0.
                const auto value = [&](Real x) { return Real(std::exp(double(x))) * Real(t) - Real(g.f(std::exp(double(x)))); };
                Real lo = -60, hi = 60;
                const Real ratio = (std::sqrt(5.0L) - 1) / 2;
                Real a = hi - ratio * (hi - lo), b = lo + ratio * (hi - lo);
                Real va = value(a), vb = value(b);
                for (int i = 0; i < 300 && hi - lo > 1e-13L; ++i) {
                    if (va < vb) {
                        lo = a; a = b; va = vb; b = lo + ratio * (hi - lo); vb = value(b);
                    } else {
                        hi = b; b = a; vb = va; a = hi - ratio * (hi - lo); va = value(a);
                    }
                }
                Real sup = std::max(va, vb);
                if (std::isfinite(g.f_at_zero())) sup = std::max(sup, Real(-g.f_at_zero()));
                CHECK(g.conjugate(t) == Approx(double(sup)).epsilon(1e-9).margin(1e-9));
                ++checked;
            }
            // Outside an open upper end, the conjugate is +inf: u t - f(u) grows without bound.
            if (std::isfinite(domain.upper)) {
                const double t = domain.upper + 0.5;
                CHECK(!domain.contains(t));
                CHECK(1e8 * t - g.f(1e8) > 1e6);
            }
        }
    });
    CHECK(checked > 80);
}

TEST_CASE("generators match the formula sheet's f, f' and h at sample points (long-double rows)", "[generators][reference]")
{
    using Row = std::function<Real(Real)>;
    struct Sheet {
        Row f, fp, h;
    };
    const Real b = 0.3L, a = 0.4L;  // GeneralizedJs beta, SkewKl / SkewReverseKl alpha
    const std::map<std::string, Sheet> sheet = {
        {"forward_kl", {[](Real u) { return u * std::log(u); }, [](Real u) { return std::log(u) + 1; }, [](Real u) { return u; }}},
        {"reverse_kl", {[](Real u) { return -std::log(u); }, [](Real u) { return -1 / u; }, [](Real) { return Real(1); }}},
        {"pearson_chi_squared", {[](Real u) { return (u - 1) * (u - 1); }, [](Real u) { return 2 * (u - 1); }, [](Real u) { return 2 * u * u; }}},
        {"neyman_chi_squared", {[](Real u) { return (1 - u) * (1 - u) / u; }, [](Real u) { return 1 - 1 / (u * u); }, [](Real u) { return 2 / u; }}},
        {"squared_hellinger", {[](Real u) { return (std::sqrt(u) - 1) * (std::sqrt(u) - 1); }, [](Real u) { return 1 - 1 / std::sqrt(u); }, [](Real u) { return std::sqrt(u) / 2; }}},
        {"jeffreys", {[](Real u) { return (u - 1) * std::log(u); }, [](Real u) { return std::log(u) + 1 - 1 / u; }, [](Real u) { return u + 1; }}},
        {"jensen_shannon", {[](Real u) { return u * std::log(u) - (u + 1) * std::log((u + 1) / 2); }, [](Real u) { return std::log(2 * u / (u + 1)); }, [](Real u) { return u / (u + 1); }}},
        {"gan", {[](Real u) { return u * std::log(u) - (u + 1) * std::log(u + 1); }, [](Real u) { return std::log(u / (u + 1)); }, [](Real u) { return u / (u + 1); }}},
        {"generalized_js(beta=0.3)", {[=](Real u) { return b * u * std::log(u) - (b * u + 1 - b) * std::log(b * u + 1 - b); }, [=](Real u) { return b * std::log(u / (b * u + 1 - b)); }, [=](Real u) { return b * (1 - b) * u / (b * u + 1 - b); }}},
        {"skew_kl(alpha=0.4)", {[=](Real u) { return u * std::log(u / (a * u + 1 - a)); }, [=](Real u) { return std::log(u / (a * u + 1 - a)) + (1 - a) / (a * u + 1 - a); }, [=](Real u) { return (1 - a) * (1 - a) * u / ((a * u + 1 - a) * (a * u + 1 - a)); }}},
        {"skew_reverse_kl(alpha=0.25)", {[](Real u) { return -std::log(0.25L + 0.75L * u); }, [](Real u) { return -0.75L / (0.25L + 0.75L * u); }, [](Real u) { return 0.5625L * u * u / ((0.25L + 0.75L * u) * (0.25L + 0.75L * u)); }}},
        {"softened_reverse_kl", {[](Real u) { return (u + 1) * std::log((u + 1) / (2 * u)); }, [](Real u) { return std::log((u + 1) / (2 * u)) - 1 / u; }, [](Real u) { return 1 / (u + 1); }}},
        {"amari_alpha(alpha=0.3)", {[](Real u) { return (std::pow(u, 0.3L) - 1 - 0.3L * (u - 1)) / (0.3L * -0.7L); }, [](Real u) { return (std::pow(u, -0.7L) - 1) / -0.7L; }, [](Real u) { return std::pow(u, 0.3L); }}},
        {"amari_alpha(alpha=2.5)", {[](Real u) { return (std::pow(u, 2.5L) - 1 - 2.5L * (u - 1)) / (2.5L * 1.5L); }, [](Real u) { return (std::pow(u, 1.5L) - 1) / 1.5L; }, [](Real u) { return std::pow(u, 2.5L); }}},
        {"t_power(t=0.5)", {[](Real u) { return -(std::sqrt(u) - 1 - 0.5L * (u - 1)); }, [](Real u) { return -0.5L * (1 / std::sqrt(u) - 1); }, [](Real u) { return 0.25L * std::sqrt(u); }}},
        {"t_power(t=2)", {[](Real u) { return u * u - 1 - 2 * (u - 1); }, [](Real u) { return 2 * (u - 1); }, [](Real u) { return 2 * u * u; }}},
        {"triangular", {[](Real u) { return (u - 1) * (u - 1) / (u + 1); }, [](Real u) { return (u - 1) * (u + 3) / ((u + 1) * (u + 1)); }, [](Real u) { return 8 * u * u / ((u + 1) * (u + 1) * (u + 1)); }}},
        {"arithmetic_geometric", {[](Real u) { return (1 + u) * std::log((1 + u) / (2 * std::sqrt(u))); }, [](Real u) { return std::log((1 + u) / (2 * std::sqrt(u))) + (u - 1) / (2 * u); }, [](Real u) { return (u * u + 1) / (2 * (u + 1)); }}},
        {"total_variation", {[](Real u) { return std::abs(u - 1) / 2; }, [](Real u) { return u < 1 ? -0.5L : 0.5L; }, [](Real) { return Real(0); }}},
        {"log1p_abs", {[](Real u) { return std::pow(u, u < 1 ? -1.0L : 1.0L) - 1; }, [](Real u) { return u < 1 ? -1 / (u * u) : Real(1); }, [](Real u) { return u < 1 ? 2 / u : Real(0); }}},
        {"modified_gan", {[](Real u) { return std::log(1 + u) - std::log(u) + (u - 1) / 2; }, [](Real u) { return 1 / (1 + u) - 1 / u + 0.5L; }, [](Real u) { return (2 * u + 1) / ((u + 1) * (u + 1)); }}},
    };
    int rows = 0;
    const auto check = [&](const auto& g) {
        const auto it = sheet.find(g.name());
        if (it == sheet.end()) return;
        ++rows;
        CAPTURE(g.name());
        for (double u : {0.05, 0.3, 0.8, 2.5, 17.0}) {
            CAPTURE(u);
            CHECK(g.f(u) == Approx(double(it->second.f(u))).epsilon(1e-13).margin(1e-15));
            CHECK(g.f_prime(u) == Approx(double(it->second.fp(u))).epsilon(1e-13).margin(1e-15));
            CHECK(g.weight(u) == Approx(double(it->second.h(u))).epsilon(1e-13).margin(1e-15));
        }
    };
    for_each_generator(check);
    check(gen::GeneralizedJs{0.3});
    check(gen::SkewKl{0.4});
    check(gen::SkewReverseKl{0.25});
    CHECK(rows >= int(sheet.size()));
}

TEST_CASE("Dual<G> is the perspective u f(1/u): h°(u) = u h(1/u), f°' = phi(1/u), limits trade places",
          "[generators][dual]")
{
    for_each_generator([](const auto& g) {
        CAPTURE(g.name());
        const gen::Dual<std::decay_t<decltype(g)>> d(g);
        for (double u : points) {
            CAPTURE(u);
            CHECK(d.f(u) == Approx(u * g.f(1.0 / u)).epsilon(1e-14).margin(1e-15));
            CHECK(d.weight(u) == Approx(u * g.weight(1.0 / u)).epsilon(1e-14).margin(1e-300));
            CHECK(d.f_prime(u) == Approx(g.phi(1.0 / u)).epsilon(1e-14).margin(1e-15));
            CHECK(d.phi(u) == Approx(g.f_prime(1.0 / u)).epsilon(1e-14).margin(1e-15));
            const gen::Dual<gen::Dual<std::decay_t<decltype(g)>>> dd(d);
            CHECK(dd.f(u) == Approx(g.f(u)).epsilon(1e-13).margin(1e-15));
        }
        CHECK(d.f_at_zero() == g.slope_at_infinity());
        CHECK(d.slope_at_infinity() == g.f_at_zero());
        CHECK(d.name() == "dual(" + g.name() + ")");
    });
    CHECK(gen::Dual<gen::ReverseKl>{}.f(3.0) == Approx(gen::ForwardKl{}.f(3.0)));  // (-log u)° = u log u
}

TEST_CASE("AmariAlpha is exact and continuous at alpha = 1 (u log u - u + 1) and alpha = 0 (-log u + u - 1)",
          "[generators][amari]")
{
    // Reference near the limits: the defining formula in long double, well conditioned for |alpha (alpha-1)| >= 1e-7.
    const auto amari = [](Real alpha, Real u) { return (std::pow(u, alpha) - 1 - alpha * (u - 1)) / (alpha * (alpha - 1)); };
    for (double u : {1e-6, 0.02, 0.5, 0.999, 1.001, 3.0, 1e5}) {
        CAPTURE(u);
        const Real lu = std::log(Real(u));
        const double kl_like = double(u * lu - u + 1), reverse_like = double(-lu + u - 1);
        // Exact at the ends (absolute error ~ eps, which is relative near u = 1 where f ~ (u-1)^2/2).
        CHECK(gen::AmariAlpha{1.0}.f(u) == Approx(kl_like).epsilon(1e-14).margin(1e-16));
        CHECK(gen::AmariAlpha{0.0}.f(u) == Approx(reverse_like).epsilon(1e-14).margin(1e-16));
        for (double delta : {1e-3, 1e-7}) {
            CAPTURE(delta);
            for (double alpha : {1.0 - delta, 1.0 + delta, delta, -delta}) {
                CAPTURE(alpha);
                // The reference's own error: long-double rounding of the O(1) numerator over alpha (alpha-1).
                const double reference_error = 1e-19 / std::abs(alpha * (alpha - 1)) * std::max(1.0, u) + 1e-15;
                CHECK(gen::AmariAlpha{alpha}.f(u) == Approx(double(amari(alpha, u))).epsilon(1e-9).margin(reference_error));
            }
        }
        // And continuous: alpha -> 1 and alpha -> 0 approach the exact ends.
        CHECK(gen::AmariAlpha{1.0 - 1e-12}.f(u) == Approx(kl_like).epsilon(1e-9).margin(1e-15));
        CHECK(gen::AmariAlpha{1e-12}.f(u) == Approx(reverse_like).epsilon(1e-9).margin(1e-15));
        CHECK(gen::AmariAlpha{1.0}.f_prime(u) == Approx(double(lu)).margin(1e-15));
        CHECK(gen::AmariAlpha{0.0}.weight(u) == 1.0);
    }
    // Conjugates: e^t - 1 at alpha = 1, -log(1 - t) at alpha = 0.
    for (double t : {-2.0, -0.1, 0.5}) {
        CHECK(gen::AmariAlpha{1.0}.conjugate(t) == Approx(std::expm1(t)).epsilon(1e-14));
        CHECK(gen::AmariAlpha{1.0 - 1e-9}.conjugate(t) == Approx(std::expm1(t)).epsilon(1e-7));
        CHECK(gen::AmariAlpha{0.0}.conjugate(t) == Approx(-std::log1p(-t)).epsilon(1e-14));
    }
}

TEST_CASE("TPower(t) = |t (t-1)| AmariAlpha(t), TFP's s (u^t - 1 - t (u-1))", "[generators][tpower]")
{
    for (double t : {-1.5, 0.25, 0.75, 3.0}) {
        const gen::TPower g{t};
        const double s = (t > 0 && t < 1) ? -1.0 : 1.0;
        for (double u : points) {
            CHECK(g.f(u) == Approx(s * (std::pow(u, t) - 1 - t * (u - 1))).epsilon(1e-12).margin(1e-15));
            CHECK(g.weight(u) == Approx(std::abs(t * (t - 1)) * std::pow(u, t)).epsilon(1e-14));
        }
    }
}

TEST_CASE("generator parameters out of range throw std::invalid_argument naming the generator and the parameter",
          "[generators][errors]")
{
    using Catch::Matchers::Contains;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (double beta : {-0.1, 1.1, nan, inf}) {
        CHECK_THROWS_AS(gen::GeneralizedJs{beta}, std::invalid_argument);
        CHECK_THROWS_WITH(gen::GeneralizedJs{beta}, Contains("GeneralizedJs") && Contains("'beta'"));
    }
    for (double alpha : {-0.1, 1.0, nan}) {
        CHECK_THROWS_WITH(gen::SkewKl{alpha}, Contains("SkewKl") && Contains("'alpha'"));
        CHECK_THROWS_WITH(gen::SkewReverseKl{alpha}, Contains("SkewReverseKl") && Contains("'alpha'"));
    }
    for (double alpha : {nan, inf, -inf}) {
        CHECK_THROWS_WITH(gen::AmariAlpha{alpha}, Contains("AmariAlpha") && Contains("'alpha'"));
    }
    for (double t : {0.0, 1.0, nan, inf}) {
        CHECK_THROWS_WITH(gen::TPower{t}, Contains("TPower") && Contains("'t'"));
    }
    // The ends that are allowed.
    CHECK_NOTHROW(gen::GeneralizedJs{0.0});
    CHECK_NOTHROW(gen::GeneralizedJs{1.0});
    CHECK_NOTHROW(gen::SkewKl{0.0});
    CHECK_NOTHROW(gen::AmariAlpha{-40.0});
    CHECK(gen::GeneralizedJs{1.0}.f(3.0) == 0.0);
}

TEST_CASE("the generator concept: every table entry has the required members, other types do not", "[generators]")
{
    for_each_generator([](const auto& g) { CHECK(divergence::detail::is_f_generator_v<std::decay_t<decltype(g)>>); });
    STATIC_REQUIRE(!divergence::detail::is_f_generator_v<int>);
    STATIC_REQUIRE(!divergence::detail::is_f_generator_v<gen::Interval>);
}

namespace {

/// |a - b| <= ulps * eps * (|b| + 1), equal infinities, or both NaN (the packet members mirror the
/// scalar ones; the + 1 covers cancellation near u = 1, where the results are O(1) differences).
bool same_within(double a, double b, double ulps, double eps = std::numeric_limits<double>::epsilon())
{
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    if (std::isinf(a) || std::isinf(b)) return a == b;
    return std::abs(a - b) <= ulps * eps * (std::abs(b) + 1.0);
}

/// Checks f_packet, f_prime_packet, phi_packet of g against f, f_prime, phi at each u (rounded to
/// Scalar), lane by lane in a vector packet of Scalar (V = simd::Packet<Scalar>), and for double
/// also as double (V = double). Float lanes are compared with the double members: ulps of float.
/// `kink`: within this distance of u = 1, f' and phi must be NaN (the hand-back to the scalar
/// members at a kink, total variation), and are compared elsewhere.
// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
template <class Scalar, class G>
void check_packet_members(const G& g, const std::vector<double>& us, double ulps, double kink = -1.0)
{
    namespace simd = divergence::detail::simd;
    using W = simd::Packet<Scalar>;
    constexpr int lanes = simd::lanes<W>;
    const double eps = std::numeric_limits<Scalar>::epsilon();
    for (std::size_t start = 0; start < us.size(); start += lanes) {
        alignas(64) Scalar in[lanes], f[lanes], fp[lanes], phi[lanes];
        for (int j = 0; j < lanes; ++j) in[j] = Scalar(us[std::min(us.size() - 1, start + std::size_t(j))]);
        const W u = simd::load<W>(in);
        simd::store(f, g.template f_packet<W>(u));
        simd::store(fp, g.template f_prime_packet<W>(u));
        simd::store(phi, g.template phi_packet<W>(u));
        for (int j = 0; j < lanes; ++j) {
            const double x = double(in[j]);
            CAPTURE(g.name(), x);
            const bool at_kink = std::abs(x - 1.0) <= kink;
            // Outside the band: the scalar value; inside: NaN (x = 1 is in every band).
            const auto matches = [&](double packet, double scalar, double tolerance, double e) {
                return at_kink ? std::isnan(packet) : same_within(packet, scalar, tolerance, e);
            };
            if constexpr (std::is_same_v<Scalar, double>) {
                CHECK(same_within(g.template f_packet<double>(x), g.f(x), ulps));
                CHECK(matches(g.template f_prime_packet<double>(x), g.f_prime(x), ulps, eps));
                CHECK(matches(g.template phi_packet<double>(x), g.phi(x), ulps, eps));
            }
            CHECK(same_within(f[j], g.f(x), ulps, eps));
            CHECK(matches(fp[j], g.f_prime(x), ulps, eps));
            CHECK(matches(phi[j], g.phi(x), ulps, eps));
        }
    }
}

/// The u of `us` (rounded to Scalar) in the range where the fused engine evaluates packet members:
/// [e^-700, e^700] for double lanes, [e^-80, e^80] for float lanes (detail/fused_f_divergence.hpp).
template <class Scalar>
std::vector<double> in_engine_range(const std::vector<double>& us)
{
    const double limit = std::is_same_v<Scalar, float> ? 80.0 : 700.0;
    std::vector<double> out;
    for (const double u : us) {
        const double x = double(Scalar(u));
        if (x > 0.0 && std::abs(std::log(x)) <= limit) out.push_back(u);
    }
    return out;
}

}  // namespace

TEST_CASE("generators: packet members equal the scalar members on random and boundary u (0, 1, tiny, huge)",
          "[generators][packet]")
{
    std::vector<double> us = {0.0, 1.0, 0.5, 2.0, 1e-300, DBL_MIN, 1e-150, 1e150, 1e300, DBL_MAX, 1.0 - 1e-12, 1.0 + 1e-12};
    const double log_u = -689.3 + 34.47 * GENERATE(range(0, 40));  // 40 points across [-690, 690]
    us.push_back(std::exp(log_u));
    us.push_back(std::exp(log_u / 300.0));  // near 1
    us.push_back(std::exp(log_u / 9.0));    // within the float lanes' range e^+-80
    us.push_back(std::exp(log_u / 30000.0));
    // Arithmetic and sqrt (simd::sqrt is the correctly rounded instruction) give the same bits in
    // double lanes. Float lanes (generators that declare float_lanes) against the
    // double members: each operation rounds to float, a few float ulp relative to |f| + 1.
    check_packet_members<double>(gen::PearsonChiSquared{}, us, 0.0);
    check_packet_members<double>(gen::SquaredHellinger{}, us, 0.0);
    check_packet_members<float>(gen::SquaredHellinger{}, us, 4.0);
    // The generators below are evaluated only where the engine calls them (their formulas need no
    // care at 0 and infinity): the u in [e^-700, e^700] for double, [e^-80, e^80] for float.
    for (const double edge : {-700.0, -80.0, 80.0, 700.0}) us.push_back(std::exp(edge));
    // Total variation: exact (0.5, +-0.5) outside the band around its kink, NaN inside; the band is a
    // few rounding errors of log r wide (2^-16 in float lanes, 2^-40 in double ones).
    for (const double near : {1.0 - 0x1p-17, 1.0 + 0x1p-41, 1.0 - 0x1p-15, 1.0 + 0x1p-39}) us.push_back(near);
    const std::vector<double> ud = in_engine_range<double>(us), uf = in_engine_range<float>(us);
    check_packet_members<double>(gen::TotalVariation{}, ud, 0.0, 0x1p-40);
    check_packet_members<float>(gen::TotalVariation{}, uf, 1.0, 0x1p-16);  // f: u - 1 rounds in float below 1/2
    STATIC_REQUIRE(gen::TotalVariation::kink_window<float> == 0x1p-16);
    STATIC_REQUIRE(gen::TotalVariation::kink_window<double> == 0x1p-40);
    // Triangular's 1 - a a and -3 + 4 a (2 - a): the compiler may contract the scalar members into
    // fused multiply-adds or not depending on the flags (the sanitizer build differs), the packets never.
    check_packet_members<double>(gen::Triangular{}, ud, 2.0);
    check_packet_members<float>(gen::Triangular{}, uf, 4.0);
    // log, log1p: the vector functions' few ulp (simd.hpp: <= 3), relative to |f| + 1.
    check_packet_members<double>(gen::JensenShannon{}, ud, 4.0);
    check_packet_members<float>(gen::JensenShannon{}, uf, 4.0);
    check_packet_members<double>(gen::Gan{}, ud, 4.0);
    check_packet_members<float>(gen::Gan{}, uf, 4.0);
    for (const double beta : {0.0, 0.3, 0.9, 1.0}) {
        check_packet_members<double>(gen::GeneralizedJs{beta}, ud, 4.0);
        check_packet_members<float>(gen::GeneralizedJs{beta}, uf, 4.0);
    }
    // Skew KL and skew reverse KL: double lanes only (no float_lanes flag).
    for (const double alpha : {0.0, 0.1, 0.5, 0.99}) {
        check_packet_members<double>(gen::SkewKl{alpha}, ud, 4.0);
        check_packet_members<double>(gen::SkewReverseKl{alpha}, ud, 4.0);
    }
    // KL, reverse KL, Neyman chi^2, Jeffreys: double lanes only; arithmetic exact, log within its ulp.
    check_packet_members<double>(gen::ForwardKl{}, ud, 4.0);
    check_packet_members<double>(gen::ReverseKl{}, ud, 4.0);
    check_packet_members<double>(gen::NeymanChiSquared{}, ud, 0.0);
    check_packet_members<double>(gen::Jeffreys{}, ud, 4.0);
    static_assert(divergence::detail::has_packet_form_v<gen::PearsonChiSquared>);
    static_assert(divergence::detail::has_packet_form_v<gen::SquaredHellinger>);
    static_assert(divergence::detail::has_packet_form_v<gen::ForwardKl>);
    static_assert(!divergence::detail::has_packet_form_v<gen::AmariAlpha>);
    // Float lanes only where terms and partials are bounded by a multiple of p + q (generators.hpp).
    static_assert(divergence::detail::float_lanes_v<gen::SquaredHellinger>);
    static_assert(divergence::detail::float_lanes_v<gen::Triangular>);
    static_assert(divergence::detail::float_lanes_v<gen::TotalVariation>);
    static_assert(divergence::detail::float_lanes_v<gen::JensenShannon>);
    static_assert(divergence::detail::float_lanes_v<gen::Gan>);
    static_assert(divergence::detail::float_lanes_v<gen::GeneralizedJs>);
    static_assert(divergence::detail::has_packet_form_v<gen::SkewKl>);
    static_assert(divergence::detail::has_packet_form_v<gen::SkewReverseKl>);
    static_assert(!divergence::detail::float_lanes_v<gen::PearsonChiSquared>);
    static_assert(!divergence::detail::float_lanes_v<gen::SkewKl>);
    static_assert(!divergence::detail::float_lanes_v<gen::SkewReverseKl>);
    static_assert(!divergence::detail::float_lanes_v<gen::ForwardKl>);
    static_assert(!divergence::detail::float_lanes_v<gen::ReverseKl>);
    static_assert(!divergence::detail::float_lanes_v<gen::NeymanChiSquared>);
    static_assert(!divergence::detail::float_lanes_v<gen::Jeffreys>);
}

}  // namespace discrete_generators_test
