#ifndef DIVERGENCE_DETAIL_LOG_RATIO_HPP
#define DIVERGENCE_DETAIL_LOG_RATIO_HPP

#include <cmath>
#include <limits>

#include "divergence/core/simd.hpp"

// Scalar numerics shared by the relative-entropy kernels (KL, Jensen-Shannon), the RL penalty k3 and the
// parametric closed forms: log ratios, the Jensen gap of x log x and the Bregman gap of exp, accurate
// where the textbook formulas cancel (P close to Q).

namespace divergence::detail {

/// log(exp(x) + exp(y)) without overflow; -inf terms contribute nothing.
inline double log_add_exp(double x, double y)
{
    if (x == -std::numeric_limits<double>::infinity()) return y;
    if (y == -std::numeric_limits<double>::infinity()) return x;
    const double hi = x > y ? x : y;
    return hi + std::log1p(std::exp(-std::abs(x - y)));
}

/// g(x) = x log x - x + 1 for |a| <= 0.5, a = log x, in lanes V (double or a packet of doubles):
/// g = sum_{k>=2} (k-1) a^k / k! = a^2 sum_{k=2}^{17} c_k a^(k-2), c_k = (k-1) / k!, by Horner. The
/// first term left out is below 2e-19 of the sum at |a| = 0.5, so the polynomial is exact to rounding
/// (a e^a - expm1(a) would cancel to about eps / |a| relative error near x = 1).
template <class V>
DIVERGENCE_SIMD_INLINE V jensen_gap_near_one(const V& a)
{
    constexpr int terms = 16;  // k = 2 .. 17
    static constexpr double c[terms] = {
        1.0 / 2, 2.0 / 6, 3.0 / 24, 4.0 / 120, 5.0 / 720, 6.0 / 5040, 7.0 / 40320, 8.0 / 362880,
        9.0 / 3628800, 10.0 / 39916800, 11.0 / 479001600, 12.0 / 6227020800.0, 13.0 / 87178291200.0,
        14.0 / 1307674368000.0, 15.0 / 20922789888000.0, 16.0 / 355687428096000.0};
    V sum = simd::broadcast<V>(c[terms - 1]);
    for (int k = terms - 2; k >= 0; --k) sum = simd::madd(sum, a, simd::broadcast<V>(c[k]));
    return simd::mul(simd::mul(a, a), sum);
}

/// g(x) = x log x - x + 1 >= 0 given a = log x, accurate also for x near 1.
inline double jensen_gap_part(double a)
{
    if (a == -std::numeric_limits<double>::infinity()) return 1.0;  // x = 0
    if (std::abs(a) > 0.5) return a * std::exp(a) - std::expm1(a);
    return jensen_gap_near_one(a);
}

/// phi(u) = e^u - 1 - u for |u| <= 1/2, in lanes V (double or a packet of doubles):
/// u^2 sum_{k=2}^{17} u^(k-2) / k!, by Horner. The first term left out is below 1e-20 of the sum at
/// |u| = 1/2, so the polynomial is exact to rounding (expm1(u) - u would cancel to eps / |u| relative).
template <class V>
DIVERGENCE_SIMD_INLINE V exp_minus_one_minus_near_zero(const V& u)
{
    constexpr int terms = 16;  // 1 / k!, k = 2 .. 17
    static constexpr double c[terms] = {
        1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800,
        1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0, 1.0 / 87178291200.0, 1.0 / 1307674368000.0,
        1.0 / 20922789888000.0, 1.0 / 355687428096000.0};
    V sum = simd::broadcast<V>(c[terms - 1]);
    for (int k = terms - 2; k >= 0; --k) sum = simd::madd(sum, u, simd::broadcast<V>(c[k]));
    return simd::mul(simd::mul(u, u), sum);
}

/// phi(u) = e^u - 1 - u >= 0, the Bregman gap of exp (phi(ln r) = r - 1 - ln r; the k3 estimator of KL),
/// accurate to a few eps relative for every u: the series above for |u| <= 1/2; elsewhere expm1(u) - u,
/// which does not cancel there (for u < -1/2 both terms add; for u > 1/2, expm1(u) <= 4.4 phi(u)).
/// +inf at u = -inf and where e^u overflows; NaN stays NaN.
inline double exp_minus_one_minus(double u)
{
    if (u == -std::numeric_limits<double>::infinity()) return std::numeric_limits<double>::infinity();
    if (!(std::abs(u) <= 0.5)) return std::expm1(u) - u;
    return exp_minus_one_minus_near_zero(u);
}

/// log(p / q) for p, q > 0 given with their logs: from the difference of the logs, except where p and
/// q are within a factor 2 of each other, where log1p((p - q) / q) is exact to rounding (p - q is
/// exact there, Sterbenz) while log p - log q would carry an absolute error of eps |log p|.
inline double log_ratio(double p, double log_p, double q, double log_q)
{
    if (q >= std::numeric_limits<double>::min() && p <= 2.0 * q && q <= 2.0 * p) return std::log1p((p - q) / q);
    return log_p - log_q;
}

/// log_ratio in lanes V (double or a packet of doubles); with exact_logs (log p and log q given, not
/// computed), log p - log q, exact where they are within a factor 2 (where log1p((p - q) / q) would carry
/// the rounding of p = exp(log p), eps / |p/q - 1| relative).
template <class V>
DIVERGENCE_SIMD_INLINE V log_ratio_lanes(const V& p, const V& log_p, const V& q, const V& log_q, bool exact_logs = false)
{
    if (exact_logs) return simd::sub(log_p, log_q);
    const V two = simd::broadcast<V>(2.0);
    const V from_logs = simd::sub(log_p, log_q);
    const V near = simd::log1p(simd::div(simd::sub(p, q), q));  // p - q exact within a factor 2
    // Masks: q below the normal range, or p and q more than a factor 2 apart (m1 | m2 | m3).
    const V m1 = simd::less(q, simd::broadcast<V>(std::numeric_limits<double>::min()));
    const V m2 = simd::less(simd::mul(two, q), p), m3 = simd::less(simd::mul(two, p), q);
    const V far = simd::select(m1, m1, simd::select(m2, m2, m3));
    return simd::select(far, from_logs, near);
}

}  // namespace divergence::detail

#endif
