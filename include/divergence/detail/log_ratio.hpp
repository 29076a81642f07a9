#ifndef DIVERGENCE_DETAIL_LOG_RATIO_HPP
#define DIVERGENCE_DETAIL_LOG_RATIO_HPP

#include <cmath>
#include <limits>

// Scalar numerics shared by the relative-entropy kernels (KL, Jensen-Shannon): log ratios and
// the Jensen gap of x log x, accurate where the textbook formulas cancel (P close to Q).

namespace divergence::detail {

/// log(exp(x) + exp(y)) without overflow; -inf terms contribute nothing.
inline double log_add_exp(double x, double y)
{
    if (x == -std::numeric_limits<double>::infinity()) return y;
    if (y == -std::numeric_limits<double>::infinity()) return x;
    const double hi = x > y ? x : y;
    return hi + std::log1p(std::exp(-std::abs(x - y)));
}

/// g(x) = x log x - x + 1 >= 0 given a = log x, accurate also for x near 1 (where
/// a e^a - expm1(a) would cancel to about eps / |a| relative error): g = sum_{k>=2} (k-1) a^k / k!.
inline double jensen_gap_part(double a)
{
    if (a == -std::numeric_limits<double>::infinity()) return 1.0;  // x = 0
    if (std::abs(a) > 0.5) return a * std::exp(a) - std::expm1(a);
    double power = a;  // a^k / k!
    double sum = 0.0;
    for (int k = 2; k < 30; ++k) {
        power *= a / k;
        const double part = (k - 1) * power;
        sum += part;
        if (std::abs(part) <= 1e-17 * sum) break;
    }
    return sum;
}

/// log(p / q) for p, q > 0 given with their logs: from the difference of the logs, except where p and
/// q are within a factor 2 of each other, where log1p((p - q) / q) is exact to rounding (p - q is
/// exact there, Sterbenz) while log p - log q would carry an absolute error of eps |log p|.
inline double log_ratio(double p, double log_p, double q, double log_q)
{
    if (q >= std::numeric_limits<double>::min() && p <= 2.0 * q && q <= 2.0 * p) return std::log1p((p - q) / q);
    return log_p - log_q;
}

}  // namespace divergence::detail

#endif
