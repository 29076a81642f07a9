// The scalar special functions of the parametric closed forms: phi(u) = e^u - 1 - u
// (divergence/detail/log_ratio.hpp) against long double; the log-gamma Bregman gap and the KL of Gamma,
// Beta and Dirichlet distributions whose shapes differ by tiny steps against 60-digit mpmath
// (tests/reference/make_special_reference.py); the regularized incomplete gamma and beta functions
// (parametric/detail/incomplete_gamma_beta.hpp) against mpmath, SciPy and central differences; E|x - m| of a
// Gamma and a Beta against long-double quadrature; KL(Gamma || Laplace), KL(Beta || Laplace) against mpmath.

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "divergence/detail/log_ratio.hpp"
#include "divergence/parametric/detail/incomplete_gamma_beta.hpp"
#include "divergence/parametric/family_kl.hpp"
#include "reference/special_reference_values.hpp"

namespace parametric_special_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using namespace divergence::parametric;
namespace ref = special_reference_values;

/// |value - exact| / |exact|, 0 where they are equal (also 0 == 0 and inf == inf).
double relative_error(double value, double exact)
{
    Catch::StringMaker<double>::precision = 17;  // failures print every digit
    return value == exact ? 0.0 : std::abs(value - exact) / std::abs(exact);
}

/// e^u - 1 - u in long double: the Taylor series sum_{k >= 2} u^k / k! summed upward for |u| < 1/4
/// (40 terms: the remainder is below 1e-40), expm1l(u) - u elsewhere (it cancels by at most 5 bits there).
long double phi_long_double(long double u)
{
    if (std::abs(u) >= 0.25L) return std::expm1(u) - u;
    long double term = u, sum = 0.0L;
    for (int k = 2; k <= 40; ++k) {
        term *= u / k;
        sum += term;
    }
    return sum;
}

template <class F>
F make(const std::vector<double>& v)
{
    return detail::Parameters<F>::make(v.data(), Eigen::Index(v.size()));
}

/// Tanh-sinh quadrature of f over [lo, hi] in long double, f(x, x - lo, hi - x) taking the distances to the
/// ends computed without cancellation (integrable singularities at the ends, as x^(a-1) with a < 1).
template <class F>
long double tanh_sinh(long double lo, long double hi, F f)
{
    const long double half_pi = 1.5707963267948966192313216916397514L, d = 0.5L * (hi - lo), h = 1.0L / 128;
    long double sum = 0.0L;
    for (int k = -6 * 128; k <= 6 * 128; ++k) {
        const long double t = k * h, u = half_pi * std::sinh(t), c = std::cosh(u);
        const long double from_lo = 2.0L * d / (1.0L + std::exp(-2.0L * u)), to_hi = 2.0L * d / (1.0L + std::exp(2.0L * u));
        if (!(from_lo > 0.0L) || !(to_hi > 0.0L)) continue;
        const long double w = d * half_pi * std::cosh(t) / (c * c);
        sum += w * f(lo + from_lo, from_lo, to_hi);
    }
    return sum * h;
}

/// E|x - m| for x ~ Gamma(a, rate r) by quadrature of the density over [0, m] and [m, mean + 60 sd + 60 / r]
/// (the tail beyond holds below 1e-25 of the mass).
long double gamma_absolute_deviation(long double a, long double r, long double m)
{
    const long double log_norm = a * std::log(r) - std::lgamma(a);
    const auto density = [&](long double x) { return std::exp(log_norm + (a - 1.0L) * std::log(x) - r * x); };
    const long double end = a / r + 60.0L * std::sqrt(a) / r + 60.0L / r;
    if (m <= 0.0L) return a / r - m;
    long double e = tanh_sinh(0.0L, m, [&](long double x, long double, long double to_m) { return to_m * density(x); });
    if (m < end) e += tanh_sinh(m, end, [&](long double x, long double from_m, long double) { return from_m * density(x); });
    return e;
}

/// E|x - m| for x ~ Beta(a, b), 0 < m < 1, by quadrature over [0, m] and [m, 1].
long double beta_absolute_deviation(long double a, long double b, long double m)
{
    const long double log_norm = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b);
    const auto density = [&](long double x, long double one_minus_x) {
        return std::exp(log_norm + (a - 1.0L) * std::log(x) + (b - 1.0L) * std::log(one_minus_x));
    };
    return tanh_sinh(0.0L, m, [&](long double x, long double, long double to_m) { return to_m * density(x, 1.0L - x); }) +
           tanh_sinh(m, 1.0L, [&](long double x, long double from_m, long double to_1) { return from_m * density(x, to_1); });
}

}  // namespace

TEST_CASE("phi(u) = e^u - 1 - u matches a long-double evaluation to 4 eps relative, for every u", "[parametric][special]")
{
    using divergence::detail::exp_minus_one_minus;
    std::vector<double> us = {1e-300, -1e-300, 1e-20, -1e-20, 1e-9, -1e-9, 1e-4, -1e-4, 0.1, -0.1, 0.3, -0.3, 0.4999999,
                              0.5, 0.5000001, -0.4999999, -0.5, -0.5000001, 0.7, -0.7, 1.0, -1.0, 3.0, -3.0, 30.0, -30.0,
                              700.0, -700.0, -1e300};
    for (int i = 1; i <= 150; ++i)  // |u| from 1e-12 to 3e2 us.push_back(std::ldexp(1.0, -40) * std::pow(1.25, i) * (i % 2 ? 1.0 : -1.0));
    for (const double u : us) {
        const double value = exp_minus_one_minus(u);
        const double exact = double(phi_long_double(u));
        CAPTURE(u, value, exact);
        CHECK(value >= 0.0);
        CHECK(relative_error(value, exact) <= 4.0 * std::numeric_limits<double>::epsilon());
    }
    CHECK(exp_minus_one_minus(0.0) == 0.0);
    CHECK(exp_minus_one_minus(-std::numeric_limits<double>::infinity()) == std::numeric_limits<double>::infinity());
    CHECK(exp_minus_one_minus(710.0) == std::numeric_limits<double>::infinity());
    CHECK(std::isnan(exp_minus_one_minus(std::numeric_limits<double>::quiet_NaN())));
}

TEST_CASE("the log-gamma Bregman gap keeps relative accuracy for tiny steps (60-digit references)", "[parametric][special]")
{
    for (const ref::GapCase& c : ref::gaps) {
        const double value = detail::log_gamma_gap(c.x, c.y);
        CAPTURE(c.x, c.y, value, c.exact);
        CHECK(relative_error(value, c.exact) <= 1e-14);
    }
    CHECK(detail::log_gamma_gap(7.25, 7.25) == 0.0);
    CHECK(detail::log_gamma_gap(70.25, 70.25) == 0.0);
}

TEST_CASE("Gamma, Beta and Dirichlet KL keep relative accuracy when one shape moves alone by a tiny step", "[parametric][special]")
{
    // Before the series form of the Stirling bracket: Gamma(50, 2) || Gamma(50.0000001, 2) was 2e-4 off
    // (5e-4 with FMA contraction), Beta(20, 30) || Beta(20.0000001, 30) 3e-3 (here 1e-16 and 4e-16).
    for (const ref::KlCase& c : ref::near_equal) {
        const std::string family = c.family;
        const double value = family == "Gamma"  ? kl(make<Gamma>(c.p), make<Gamma>(c.q))
                              : family == "Beta" ? kl(make<Beta>(c.p), make<Beta>(c.q))
                                                 : kl(make<Dirichlet>(c.p), make<Dirichlet>(c.q));
        CAPTURE(family, c.p, c.q, value, c.exact);
        CHECK(relative_error(value, c.exact) <= 1e-13);
    }
}

TEST_CASE("regularized incomplete gamma: both tails against mpmath and SciPy, dP/da by central differences", "[parametric][special]")
{
    for (const ref::GammaCase& c : ref::incomplete_gamma) {
        const detail::IncompleteGamma r = detail::regularized_gamma(c.a, c.z);
        CAPTURE(c.a, c.z, r.lower, r.upper, c.lower, c.upper, c.scipy_lower, c.scipy_upper);
        CHECK(relative_error(r.lower, c.lower) <= 2e-14);
        CHECK(relative_error(r.upper, c.upper) <= 2e-14);
        // SciPy within its own distance from mpmath (it is 1e-12 off at a = 1e4) plus ours.
        CHECK(std::abs(r.lower - c.scipy_lower) <= std::abs(c.scipy_lower - c.lower) + 2e-14 * c.lower);
        CHECK(std::abs(r.upper - c.scipy_upper) <= std::abs(c.scipy_upper - c.upper) + 2e-14 * c.upper);
        const double h = 1e-6 * c.a;
        const double fd = (detail::regularized_gamma(c.a + h, c.z).lower - detail::regularized_gamma(c.a - h, c.z).lower) / (2.0 * h);
        CAPTURE(r.d_lower_d_shape, fd);
        CHECK(std::abs(r.d_lower_d_shape - fd) <= 1e-6 * std::abs(fd) + 1e-9 * (r.lower + 1e-300) / c.a);
    }
    const detail::IncompleteGamma zero = detail::regularized_gamma(2.0, 0.0), all = detail::regularized_gamma(2.0, 1.0 / 0.0);
    CHECK((zero.lower == 0.0 && zero.upper == 1.0 && all.lower == 1.0 && all.upper == 0.0));
}

TEST_CASE("regularized incomplete beta: both tails against mpmath and SciPy, d/da and d/db by central differences", "[parametric][special]")
{
    for (const ref::BetaCase& c : ref::incomplete_beta) {
        const detail::IncompleteBeta r = detail::regularized_beta(c.a, c.b, c.x);
        CAPTURE(c.a, c.b, c.x, r.lower, r.upper, c.lower, c.upper, c.scipy_lower, c.scipy_upper);
        CHECK(relative_error(r.lower, c.lower) <= 5e-14);  // measured worst 3e-14 (a = b = 1e4)
        CHECK(relative_error(r.upper, c.upper) <= 5e-14);
        CHECK(std::abs(r.lower - c.scipy_lower) <= std::abs(c.scipy_lower - c.lower) + 5e-14 * c.lower);
        CHECK(std::abs(r.upper - c.scipy_upper) <= std::abs(c.scipy_upper - c.upper) + 5e-14 * c.upper);
        const double ha = 1e-6 * c.a, hb = 1e-6 * c.b;
        const double fd_a = (detail::regularized_beta(c.a + ha, c.b, c.x).lower - detail::regularized_beta(c.a - ha, c.b, c.x).lower) / (2.0 * ha);
        const double fd_b = (detail::regularized_beta(c.a, c.b + hb, c.x).lower - detail::regularized_beta(c.a, c.b - hb, c.x).lower) / (2.0 * hb);
        CAPTURE(r.d_lower_d_a, fd_a, r.d_lower_d_b, fd_b);
        CHECK(std::abs(r.d_lower_d_a - fd_a) <= 1e-6 * std::abs(fd_a) + 1e-9 * std::min(r.lower, r.upper) / c.a);
        CHECK(std::abs(r.d_lower_d_b - fd_b) <= 1e-6 * std::abs(fd_b) + 1e-9 * std::min(r.lower, r.upper) / c.b);
    }
    CHECK(detail::regularized_beta(2.0, 3.0, 0.0).lower == 0.0);
    CHECK(detail::regularized_beta(2.0, 3.0, 1.0).upper == 0.0);
}

TEST_CASE("E|x - m| of a Gamma and a Beta equals long-double quadrature of |x - m| times the density", "[parametric][special]")
{
    const double gammas[][3] = {{2.0, 3.0, 0.5}, {0.5, 1.0, 0.2}, {50.0, 5.0, 10.0}, {3.0, 1.0, -1.0}, {1.0, 0.5, 7.0},
                                {400.0, 2.0, 180.0}, {0.3, 2.0, 4.0}, {12.0, 0.1, 30.0}};
    for (const auto& g : gammas) {
        const double value = detail::absolute_deviation(Gamma{g[0], g[1]}, g[2]).value;
        const double exact = double(gamma_absolute_deviation(g[0], g[1], g[2]));
        CAPTURE(g[0], g[1], g[2], value, exact);
        CHECK(relative_error(value, exact) <= 1e-13);
    }
    const double betas[][3] = {{2.0, 3.0, 0.3}, {0.5, 0.5, 0.9}, {20.0, 30.0, 0.4}, {0.8, 12.0, 0.01}, {60.0, 1.5, 0.99},
                               {3.0, 0.7, 0.5}};
    for (const auto& b : betas) {
        const double value = detail::absolute_deviation(Beta{b[0], b[1]}, b[2]).value;
        const double exact = double(beta_absolute_deviation(b[0], b[1], b[2]));
        CAPTURE(b[0], b[1], b[2], value, exact);
        CHECK(relative_error(value, exact) <= 1e-13);
    }
}

TEST_CASE("KL(Gamma || Laplace) and KL(Beta || Laplace) match 60-digit references", "[parametric][special][reference]")
{
    // -H(p) and the cross-entropy cancel: the absolute error is about eps times the largest term (ln Gamma(a)).
    for (const ref::KlCase& c : ref::to_laplace) {
        const std::string family = c.family;
        const double value = family == "Gamma" ? kl(make<Gamma>(c.p), make<Laplace>(c.q)) : kl(make<Beta>(c.p), make<Laplace>(c.q));
        CAPTURE(family, c.p, c.q, value, c.exact);
        CHECK(relative_error(value, c.exact) <= 1e-11);
    }
}

}  // namespace parametric_special_test
