#ifndef DIVERGENCE_PARAMETRIC_DETAIL_SPECIAL_HPP
#define DIVERGENCE_PARAMETRIC_DETAIL_SPECIAL_HPP

// Scalar special functions of the closed-form divergences between parametric families: digamma,
// trigamma, the log-gamma Bregman gap, log ratios, softplus, and e^u - 1 - u, each written so that
// it keeps its relative accuracy where the textbook formula cancels (parameters close to each other,
// large parameters).

#include <algorithm>
#include <cmath>
#include <limits>

#include "divergence/detail/log_ratio.hpp"

namespace divergence::parametric::detail {

inline constexpr double infinity = std::numeric_limits<double>::infinity();
inline constexpr double euler_gamma = 0.57721566490153286061;
inline constexpr double pi = 3.14159265358979323846;
inline constexpr double e_number = 2.71828182845904523536;

/// max(0, v) for a value that is >= 0 mathematically (rounding may dip below 0), letting NaN through
/// (std::max(0.0, NaN) is 0, which would hide an overflow as a wrong value).
inline double non_negative(double v) { return v < 0.0 ? 0.0 : v; }

/// ln(a / b) for a, b > 0: log1p((a - b) / b) where a and b are within a factor 2 (a - b is exact
/// there), ln(a / b) otherwise; ln a - ln b would lose eps |ln a| absolutely when a ~ b.
inline double log_quotient(double a, double b)
{
    if (b >= std::numeric_limits<double>::min() && a <= 2.0 * b && b <= 2.0 * a) return std::log1p((a - b) / b);
    const double r = a / b;
    if (r > 0.0 && r < infinity) return std::log(r);
    return std::log(a) - std::log(b);  // the quotient under- or overflowed
}

/// g(a) = a e^a - e^a + 1 = x ln x - x + 1 at x = e^a (>= 0; 1 at a = -inf).
inline double x_log_x_gap(double a) { return a > 709.0 ? infinity : divergence::detail::jensen_gap_part(a); }

/// phi(u) = e^u - 1 - u >= 0, accurate for every u (divergence/detail/log_ratio.hpp).
using divergence::detail::exp_minus_one_minus;

/// x ln(x / y) - x + y >= 0 for x > 0, y > 0, given u = ln(x / y) (computed by the caller from exact
/// differences where it can): y g(u) when x < y and x phi(-u) otherwise, so that no exponential overflows.
inline double scaled_x_log_x_gap(double x, double y, double u)
{
    return x < y ? y * x_log_x_gap(u) : x * exp_minus_one_minus(-u);
}

/// x ln(x / y) - x + y >= 0 for x >= 0, y > 0 (the Poisson KL; y f(x / y) with f(r) = r ln r - r + 1).
inline double scaled_x_log_x_gap(double x, double y)
{
    if (x == 0.0) return y;
    return scaled_x_log_x_gap(x, y, log_quotient(x, y));
}

/// ln((1 - p) / (1 - q)) for p, q in [0, 1), as log1p((q - p) / (1 - q)) when p and q are close: q - p
/// is exact there, while 1 - p and 1 - q are not (1 - 0.2500001 rounds), which would cost a relative
/// error of eps / |p - q| in the ratio.
inline double log_complement_quotient(double p, double q)
{
    const double d = q - p, c = 1.0 - q;
    if (std::abs(d) <= 0.5 * c) return std::log1p(d / c);
    return std::log1p(-p) - std::log1p(-q);
}

/// x ln x with 0 ln 0 = 0.
inline double x_log_x(double x) { return x == 0.0 ? 0.0 : x * std::log(x); }

/// ln(1 + e^x) without overflow.
inline double softplus(double x) { return x > 0.0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

/// 1 / (1 + e^-x) without overflow.
inline double sigmoid(double x)
{
    if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
    const double e = std::exp(x);
    return e / (1.0 + e);
}

/// softplus(b) - softplus(a): log1p(sigmoid(a) expm1(b - a)) when |b - a| <= 1 (accurate to rounding
/// as b -> a), (b - a) + softplus(-b) - softplus(-a) when both are positive, the plain difference
/// otherwise (no cancellation there).
inline double softplus_difference(double a, double b)
{
    const double d = b - a;
    if (std::abs(d) <= 1.0) return std::log1p(sigmoid(a) * std::expm1(d));
    if (a > 0.0 && b > 0.0) return d + (softplus(-b) - softplus(-a));
    return softplus(b) - softplus(a);
}

/// psi(x) = d ln Gamma(x) / dx for x > 0: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10,
/// then the asymptotic series through x^-16 (truncation below 5e-17 there).
inline double digamma(double x)
{
    if (!(x > 0.0)) return std::numeric_limits<double>::quiet_NaN();
    if (x == infinity) return infinity;
    double shift = 0.0;
    while (x < 10.0) {
        shift += 1.0 / x;
        x += 1.0;
    }
    const double r = 1.0 / (x * x);
    const double series =
        r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r * (1.0 / 132 - r * (691.0 / 32760 - r * (1.0 / 12 - r * 3617.0 / 8160)))))));
    return std::log(x) - 0.5 / x - series - shift;
}

/// psi'(x) for x > 0: psi'(x) = psi'(x + 1) + 1/x^2 up to x >= 10, then the asymptotic series.
inline double trigamma(double x)
{
    if (!(x > 0.0)) return std::numeric_limits<double>::quiet_NaN();
    if (x == infinity) return 0.0;
    double shift = 0.0;
    while (x < 10.0) {
        shift += 1.0 / (x * x);
        x += 1.0;
    }
    const double r = 1.0 / (x * x);
    const double series =
        1.0 / x + r * (0.5 + (1.0 / x) * (1.0 / 6 - r * (1.0 / 30 - r * (1.0 / 42 - r * (1.0 / 30 - r * (5.0 / 66 - r * (691.0 / 2730 - r * 7.0 / 6)))))));
    return series + shift;
}

/// The coefficients a_j = B_2j / (2j (2j - 1)), j = 1 .. 8, of Stirling's series for ln Gamma:
/// c(x) = sum_j a_j x^(1 - 2j) (B_2j the Bernoulli numbers).
inline constexpr double stirling_coefficients[8] = {1.0 / 12,   -1.0 / 360,        1.0 / 1260, -1.0 / 1680,
                                                    1.0 / 1188, -691.0 / 360360.0, 1.0 / 156,  -3617.0 / 122400.0};

/// Stirling's remainder c(x) = ln Gamma(x) - (x - 1/2) ln x + x - ln(2 pi) / 2, and s(x) = -c'(x), for
/// x >= 10 (the series through x^-15: the first term left out is below 2e-18 there).
inline double stirling_remainder(double x)
{
    const double r = 1.0 / (x * x);
    double sum = 0.0;
    for (int j = 7; j >= 0; --j) sum = sum * r + stirling_coefficients[j];
    return sum / x;
}
inline double stirling_remainder_slope(double x)  // s(x) = -c'(x) = ln x - 1/(2x) - psi(x)
{
    const double r = 1.0 / (x * x);
    double sum = 0.0;
    for (int j = 7; j >= 0; --j) sum = sum * r + (2 * j + 1) * stirling_coefficients[j];
    return sum * r;
}

/// The Bregman gap of Stirling's remainder, c(y) - c(x) - (y - x) c'(x) >= 0, for x >= 10 and y = x e^L
/// >= 10 within a factor 2 of x, from x and L alone. With t = y/x - 1 = e^L - 1, the gap of x^-m is
/// x^-m [(1 + t)^-m - 1 + m t] = x^-m [phi(-m L) + m phi(L)], a sum of terms >= 0, so
///   c(y) - c(x) - (y - x) c'(x) = sum_j a_j x^-m [phi(-m L) + m phi(L)],  m = 2j - 1,
/// keeps the relative accuracy of L (a few eps) however close y is to x, where c(y) - c(x) would lose
/// eps c(x) ~ eps / (12 x) absolutely (the terms alternate in sign but fall by a factor >= 200 each).
inline double stirling_remainder_gap(double x, double l)
{
    const double r = 1.0 / (x * x), phi_l = exp_minus_one_minus(l);
    double sum = 0.0;
    for (int j = 7; j >= 0; --j) {
        const double m = 2 * j + 1;
        sum = sum * r + stirling_coefficients[j] * (exp_minus_one_minus(-m * l) + m * phi_l);
    }
    return sum / x;
}

/// Whether x, y > 0 are within a factor 2 of each other (then y - x is exact, Sterbenz's lemma).
inline bool within_factor_two(double x, double y) { return y <= 2.0 * x && x <= 2.0 * y; }

/// For x, y >= 10, with L = ln(y / x) (from log_quotient(y, x)): the part of the log-gamma Bregman gap
/// beyond its leading term x g(L) (Stirling's series):  phi(L) / 2 + [c(y) - c(x) + (y - x) s(x)]  (the
/// bracket is O(1/x) and >= 0; c is convex). Within a factor 2 the bracket is stirling_remainder_gap(x, L),
/// a sum of products without cancellation (so its value does not depend on whether the compiler fuses
/// multiplies into additions); further apart the difference is taken as written (no cancellation there).
inline double log_gamma_gap_tail(double x, double y, double l)
{
    if (x == y) return 0.0;
    if (within_factor_two(x, y)) return 0.5 * exp_minus_one_minus(l) + stirling_remainder_gap(x, l);
    return 0.5 * exp_minus_one_minus(l) + (stirling_remainder(y) - stirling_remainder(x) + (y - x) * stirling_remainder_slope(x));
}

/// G(x, x + h) for x > 0 and -x/2 <= h <= x given the step h itself (exact, or a sum of exact steps:
/// the Dirichlet's sum_k (b_k - a_k), which b0 - a0 would not give), by the shifted form of log_gamma_gap.
inline double log_gamma_gap_step(double x, double h)
{
    if (h == 0.0) return 0.0;
    double sum = 0.0, base = x;
    while (base < 10.0 || base + h < 10.0) {
        sum += exp_minus_one_minus(std::log1p(h / base));
        base += 1.0;
    }
    const double l = std::log1p(h / base);
    return sum + base * x_log_x_gap(l) + 0.5 * exp_minus_one_minus(l) + stirling_remainder_gap(base, l);
}

/// The Bregman gap of ln Gamma: G(x, y) = ln Gamma(y) - ln Gamma(x) - (y - x) psi(x) >= 0 (x, y > 0), the
/// building block of the Gamma, Beta and Dirichlet KL.
/// - x and y within a factor 2 (h = y - x exact; log_gamma_gap_step): both are shifted up by n steps of 1
///   until they are >= 10,
///     G(x, x + h) = sum_{i < n} phi(ln(1 + h / (x + i))) + G(x + n, x + n + h)
///   (ln Gamma(z + 1) = ln Gamma(z) + ln z, psi(z + 1) = psi(z) + 1/z), and G at x' = x + n >= 10, with
///   L = ln(1 + h / x'), is Stirling's  x' g(L) + phi(L) / 2 + stirling_remainder_gap(x', L):  every term is
///   >= 0 and keeps a relative error of a few eps, however small h is (measured: <= 3e-16 relative against
///   60-digit references, with and without FMA contraction).
/// - x, y >= 10 further apart: x g(L) + log_gamma_gap_tail(x, y, L).
/// - otherwise the direct difference (absolute error a few eps; the gap is O(1) or larger there).
inline double log_gamma_gap(double x, double y)
{
    if (x == y) return 0.0;
    if (within_factor_two(x, y)) return log_gamma_gap_step(x, y - x);
    if (x >= 10.0 && y >= 10.0) {
        const double l = log_quotient(y, x);
        return non_negative(x * x_log_x_gap(l) + log_gamma_gap_tail(x, y, l));
    }
    return non_negative(std::lgamma(y) - std::lgamma(x) - (y - x) * digamma(x));
}

/// ln((a * b) / (c * d)) for positive a, b, c, d: one log of a quotient of products (two roundings
/// each, so a relative error of a few eps in the ratio however close to 1 it is).
inline double log_quotient_of_products(double a, double b, double c, double d)
{
    if ((a == c && b == d) || (a == d && b == c)) return 0.0;  // n - m below may be fused into fma(a, b, -m) != 0
    const double n = a * b, m = c * d;
    if (n > 0.0 && m > 0.0 && n < infinity && m < infinity) return log_quotient(n, m);
    return log_quotient(a, c) + log_quotient(b, d);
}

/// ln((a b) / (c d)) = L - l for positive a, b, c, d, given L = ln(a / c) and l = ln(d / b) each to a
/// few eps relative: the difference carries eps (|L| + |l|) absolutely, one quotient of products about
/// 3 eps; so the products where L and l cancel and are larger than 1, the difference otherwise (it keeps
/// the relative accuracy of a tiny L or l: one shape moving alone by 1e-7 makes the products' roundings
/// 1e-8 relative errors).
inline double log_quotient_of_ratios(double big_l, double l, double a, double b, double c, double d)
{
    const double larger = std::max(std::abs(big_l), std::abs(l));
    if (larger > 1.0 && std::abs(big_l - l) < 0.5 * larger) return log_quotient_of_products(a, b, c, d);
    return big_l - l;
}

}  // namespace divergence::parametric::detail

#endif
