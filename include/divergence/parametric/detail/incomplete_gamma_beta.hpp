#ifndef DIVERGENCE_PARAMETRIC_DETAIL_INCOMPLETE_GAMMA_BETA_HPP
#define DIVERGENCE_PARAMETRIC_DETAIL_INCOMPLETE_GAMMA_BETA_HPP

// The regularized incomplete gamma and beta functions with their derivatives in the shape parameters
// (what E|x - m| of a Gamma or Beta p needs for KL(p || Laplace)):
//   P(a, z) = gamma(a, z) / Gamma(a) = Pr[X < z], X ~ Gamma(a, 1), and Q = 1 - P;
//   I_x(a, b) = B(x; a, b) / B(a, b) = Pr[X < x], X ~ Beta(a, b).
// Each is a prefactor in closed form times a power series or a continued fraction (DLMF 8.7.1, 8.9.2,
// 8.17.22), the smaller of the two tails computed directly and the other as its complement, so both
// keep relative accuracy. The shape derivatives differentiate the prefactor in closed form (digamma)
// and the series or fraction, whose terms are rational in the shapes, in forward mode.
// Accuracy (tests/parametric/special_test.cpp, against 60-digit mpmath, SciPy and central differences):
// both tails to 2e-14 relative (gamma) and 5e-14 (beta) for shapes in [1e-3, 1e4] (one exception: Q below 0.1
// with z < 0.1 is 1 - P, absolute error eps). The steps grow as sqrt(shape) where x is near the mean: they
// are capped at 1000 + 40 sqrt(min(shape, 1e6)) (41000), so that larger shapes, and extreme ones whose
// series converge slowly (Beta(1e-27, 1e38) at x = 1e-30), give a finite number in bounded time (a few ms),
// without the accuracy above near the mean.

#include <algorithm>
#include <cmath>
#include <limits>

#include "divergence/parametric/detail/special.hpp"

namespace divergence::parametric::detail {

/// A number and its derivatives along two directions (forward mode), for the rational recurrences of
/// the series and continued fractions below.
struct Jet {
    double v = 0.0, d0 = 0.0, d1 = 0.0;
};
inline Jet operator+(const Jet& x, const Jet& y) { return {x.v + y.v, x.d0 + y.d0, x.d1 + y.d1}; }
inline Jet operator-(const Jet& x, const Jet& y) { return {x.v - y.v, x.d0 - y.d0, x.d1 - y.d1}; }
inline Jet operator*(const Jet& x, const Jet& y) { return {x.v * y.v, x.d0 * y.v + x.v * y.d0, x.d1 * y.v + x.v * y.d1}; }
inline Jet operator/(const Jet& x, const Jet& y)
{
    const double q = x.v / y.v;
    return {q, (x.d0 - q * y.d0) / y.v, (x.d1 - q * y.d1) / y.v};
}
inline Jet operator*(double c, const Jet& x) { return {c * x.v, c * x.d0, c * x.d1}; }
inline Jet operator+(double c, const Jet& x) { return {c + x.v, x.d0, x.d1}; }

inline constexpr double series_tolerance = 0.5 * std::numeric_limits<double>::epsilon();

/// The iteration cap of a series or fraction whose terms start to fall after about sqrt(shape) steps.
inline int iteration_cap(double shape) { return 1000 + int(40.0 * std::sqrt(std::min(shape, 1e6))); }

/// b0 + a1 / (b1 + a2 / (b2 + ...)) by the modified Lentz algorithm, on jets: stops when a step changes
/// the value and its derivatives by less than eps relative. term(j, a_j, b_j) gives the j-th pair.
template <class Term>
Jet continued_fraction(const Jet& b0, Term term, int cap)
{
    constexpr double tiny = 1e-300;
    const auto nonzero = [](Jet x) {
        if (std::abs(x.v) < tiny) x.v = tiny;
        return x;
    };
    Jet f = nonzero(b0), c = f, d{};
    for (int j = 1; j <= cap; ++j) {
        Jet a, b;
        term(j, a, b);
        d = nonzero(b + a * d);
        c = nonzero(b + a / c);
        d = Jet{1.0, 0.0, 0.0} / d;
        const Jet delta = c * d;
        f = f * delta;
        if (std::abs(delta.v - 1.0) <= series_tolerance && std::abs(delta.d0) + std::abs(delta.d1) <= series_tolerance) break;
    }
    return f;
}

/// P(a, z), Q(a, z) = 1 - P and dP/da (dQ/da = -dP/da; dP/dz = z^(a-1) e^-z / Gamma(a) in closed form).
struct IncompleteGamma {
    double lower = 0.0, upper = 1.0, d_lower_d_shape = 0.0;
};

/// ln(z^a e^-z / Gamma(a)) for a, z > 0: for a >= 10 through Stirling's series,
/// -(a ln(a/z) - a + z) + ln(a / (2 pi)) / 2 - c(a), whose first term is exact to rounding (it is small
/// exactly where the density matters, z near a), instead of a difference of terms of size a ln a.
inline double log_gamma_density_factor(double a, double z)
{
    if (a >= 10.0) return -scaled_x_log_x_gap(a, z) + 0.5 * std::log(a / (2.0 * pi)) - stirling_remainder(a);
    return a * std::log(z) - z - std::lgamma(a);
}

/// z + 1 - a - 1 (1 - a) / (z + 3 - a - 2 (2 - a) / (z + 5 - a - ...)) with its derivative in a (DLMF 8.9.2:
/// Q(a, z) = z^a e^-z / Gamma(a) / this).
inline Jet upper_gamma_fraction(double a, double z, int cap)
{
    const Jet shape{a, 1.0, 0.0};
    return continued_fraction(
        Jet{z + 1.0 - a, -1.0, 0.0},
        [&](int j, Jet& aj, Jet& bj) {
            aj = double(j) * (shape - Jet{double(j), 0.0, 0.0});  // -j (j - a)
            bj = Jet{z + 2.0 * j + 1.0 - a, -1.0, 0.0};
        },
        cap);
}

/// The regularized incomplete gamma function, for a > 0, z >= 0 (z = +inf: P = 1).
/// z < a + 1: P = z^a e^-z / Gamma(a + 1) sum_k z^k / ((a + 1) ... (a + k)) (DLMF 8.7.1, all terms > 0);
/// otherwise Q = z^a e^-z / Gamma(a) / (z + 1 - a - 1 (1 - a) / (z + 3 - a - 2 (2 - a) / ...)) (DLMF 8.9.2).
/// dP/da: d ln(prefactor)/da = ln z - psi(a) (- 1/a for the series), plus the forward-mode derivative
/// of the sum or the fraction.
inline IncompleteGamma regularized_gamma(double a, double z)
{
    if (!(z > 0.0)) return {0.0, 1.0, 0.0};
    if (z == infinity) return {1.0, 0.0, 0.0};
    const double log_factor = log_gamma_density_factor(a, z);
    const Jet shape{a, 1.0, 0.0};
    const int cap = iteration_cap(a);
    IncompleteGamma r;
    if (z < a + 1.0) {
        Jet term{1.0, 0.0, 0.0}, sum = term;
        for (int k = 1; k <= cap; ++k) {
            term = z * (term / (double(k) + shape));
            sum = sum + term;
            if (term.v <= series_tolerance * sum.v && std::abs(term.d0) <= series_tolerance * std::abs(sum.d0)) break;
        }
        const double factor = std::exp(log_factor) / a;  // z^a e^-z / Gamma(a + 1)
        r.lower = factor * sum.v;
        // Q = 1 - P has an absolute error of eps: where Q is small (a < 1, P > 0.9) the fraction gives it to
        // ~1e-14 relative instead, in about 70 / z steps (700 at z = 0.1; below, it is no better than 1 - P).
        r.upper = r.lower > 0.9 && z >= 0.1 ? std::exp(log_factor) / upper_gamma_fraction(a, z, cap + int(100.0 / z)).v
                                            : 1.0 - r.lower;
        r.d_lower_d_shape = r.lower * (std::log(z) - digamma(a) - 1.0 / a) + factor * sum.d0;
    } else {
        const Jet fraction = upper_gamma_fraction(a, z, cap);
        r.upper = std::exp(log_factor) / fraction.v;
        r.lower = 1.0 - r.upper;
        r.d_lower_d_shape = -r.upper * (std::log(z) - digamma(a) - fraction.d0 / fraction.v);
    }
    return r;
}

/// I_x(a, b), 1 - I_x(a, b) and the derivatives of I_x in a and b.
struct IncompleteBeta {
    double lower = 0.0, upper = 1.0, d_lower_d_a = 0.0, d_lower_d_b = 0.0;
};

/// ln x and ln y for 0 < x < 1 and y = 1 - x, of which the smaller is exact and the larger may be its
/// rounded complement (1 - 1e-30 is 1): each log from the smaller one (log1p(-x) for ln y when x is smaller).
struct UnitLogs {
    double log_x, log_y;
};
inline UnitLogs unit_logs(double x, double y)
{
    return x <= y ? UnitLogs{std::log(x), std::log1p(-x)} : UnitLogs{std::log1p(-y), std::log(y)};
}

/// ln(x^a y^b / B(a, b)) for a, b > 0, 0 < x < 1 and y = 1 - x (as in unit_logs). With n = a + b and
/// both shapes >= 10, through Stirling's series:
///   -a phi(L_a) - b phi(L_b) + ln(a b / (2 pi n)) / 2 - (c(a) + c(b) - c(n)),  L_a = ln(n x / a), L_b = ln(n y / b)
/// (a phi(L_a) = a ln(a / (n x)) - a + n x >= 0; the L of the smaller of x and y from itself, the other as
/// log1p((a - n x) / b) or log1p((b - n y) / a), which keep the smaller one). Otherwise
/// ln B(a, b) = ln Gamma(s) - s psi(l) - G(l, n) (s, l the smaller and larger shape, G the log-gamma gap),
/// which avoids the difference of two large ln Gamma when one shape is large.
inline double log_beta_density_factor(double a, double b, double x, double y)
{
    const double n = a + b;
    if (a >= 10.0 && b >= 10.0) {
        const double l_a = x <= y ? log_quotient(n * x, a) : std::log1p((b - n * y) / a);
        const double l_b = x <= y ? std::log1p((a - n * x) / b) : log_quotient(n * y, b);
        return -a * exp_minus_one_minus(l_a) - b * exp_minus_one_minus(l_b) + 0.5 * std::log(a * b / (2.0 * pi * n)) -
               (stirling_remainder(a) + stirling_remainder(b) - stirling_remainder(n));
    }
    const double s = std::min(a, b), l = std::max(a, b);
    const double log_beta = std::lgamma(s) - s * digamma(l) - log_gamma_gap(l, n);
    const UnitLogs logs = unit_logs(x, y);
    return a * logs.log_x + b * logs.log_y - log_beta;
}

/// I_x(a, b) by the continued fraction (DLMF 8.17.22), for x < (a + 1) / (a + b + 2) where it converges
/// fast: x^a (1 - x)^b / (a B(a, b)) / (1 + d1 / (1 + d2 / (1 + ...))),
///   d_2m = m (b - m) x / ((a + 2m - 1)(a + 2m)),  d_2m+1 = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
inline IncompleteBeta incomplete_beta_fraction(double a, double b, double x, double y)
{
    const Jet ja{a, 1.0, 0.0}, jb{b, 0.0, 1.0}, one{1.0, 0.0, 0.0};
    const Jet fraction = continued_fraction(
        one,
        [&](int j, Jet& aj, Jet& bj) {
            const double m = j / 2;
            const Jet a_2m = ja + Jet{2.0 * m, 0.0, 0.0};
            if (j % 2 == 0)
                aj = (m * x) * (jb - Jet{m, 0.0, 0.0}) / ((a_2m - one) * a_2m);
            else
                aj = (-x) * ((ja + Jet{m, 0.0, 0.0}) * (ja + jb + Jet{m, 0.0, 0.0})) / (a_2m * (a_2m + one));
            bj = one;
        },
        iteration_cap(std::max(a, b)));
    IncompleteBeta r;
    r.lower = std::exp(log_beta_density_factor(a, b, x, y)) / a / fraction.v;
    r.upper = 1.0 - r.lower;
    const double psi_n = digamma(a + b);
    // The fraction's own derivatives are lost where Lentz's algorithm meets a vanishing denominator: x
    // rounded to 1 with a shape below 1e-16 (then 1 + d1 ~ 0). The fraction's share is left out there.
    const bool differentiable = std::isfinite(fraction.d0) && std::isfinite(fraction.d1);
    const double d0 = differentiable ? fraction.d0 / fraction.v : 0.0, d1 = differentiable ? fraction.d1 / fraction.v : 0.0;
    const UnitLogs logs = unit_logs(x, y);
    r.d_lower_d_a = r.lower * (logs.log_x - digamma(a) + psi_n - 1.0 / a - d0);
    r.d_lower_d_b = r.lower * (logs.log_y - digamma(b) + psi_n - d1);
    return r;
}

/// The regularized incomplete beta function I_x(a, b) for a, b > 0 and any x (0 below 0, 1 above 1):
/// the fraction for I_x(a, b) when x < (a + 1) / (a + b + 2), else for I_{1-x}(b, a) = 1 - I_x(a, b).
inline IncompleteBeta regularized_beta(double a, double b, double x)
{
    if (!(x > 0.0)) return {0.0, 1.0, 0.0, 0.0};
    if (x >= 1.0) return {1.0, 0.0, 0.0, 0.0};
    const double y = 1.0 - x;
    if (x < (a + 1.0) / (a + b + 2.0)) return incomplete_beta_fraction(a, b, x, y);
    const IncompleteBeta m = incomplete_beta_fraction(b, a, y, x);
    return {m.upper, m.lower, -m.d_lower_d_b, -m.d_lower_d_a};
}

}  // namespace divergence::parametric::detail

#endif
