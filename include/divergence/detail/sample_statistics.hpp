#ifndef DIVERGENCE_DETAIL_SAMPLE_STATISTICS_HPP
#define DIVERGENCE_DETAIL_SAMPLE_STATISTICS_HPP

// Statistics of a sample of per-token values x_1..x_n, in a fixed order (the order of the values),
// with compensated sums: the mean, its standard error, covariances and percentiles. Used by the
// model comparison (losses/comparison.hpp) at summary time.

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "divergence/core/sum.hpp"

namespace divergence::detail {

inline constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

/// (1/n) sum_i x_i with a compensated sum; NaN for n = 0.
inline double sample_mean(const std::vector<double>& x)
{
    if (x.empty()) return not_a_number;
    CompensatedSum sum;
    for (double v : x) sum.add(v);
    return sum.value() / double(x.size());
}

/// sum_i (x_i - mean_x)(y_i - mean_y) / (n - 1), two passes (the means given), compensated; x and y the
/// same length (x == y: the sample variance). NaN for n < 2; +inf when a mean is not finite.
inline double sample_covariance(const std::vector<double>& x, double mean_x, const std::vector<double>& y, double mean_y)
{
    if (x.size() < 2) return not_a_number;
    if (!std::isfinite(mean_x) || !std::isfinite(mean_y)) return std::numeric_limits<double>::infinity();
    CompensatedSum sum;
    for (std::size_t i = 0; i < x.size(); ++i) sum.add((x[i] - mean_x) * (y[i] - mean_y));
    return sum.value() / double(x.size() - 1);
}

/// The standard error of the mean, sqrt(s^2 / n) with s^2 the sample variance (n - 1 in its
/// denominator): llama.cpp's sqrt((sum x^2 / n - mean^2) / (n - 1)), computed in two passes.
/// NaN for n < 2; +inf when the mean is not finite.
inline double standard_error_of_mean(const std::vector<double>& x, double mean)
{
    const double variance = sample_covariance(x, mean, x, mean);
    if (std::isnan(variance)) return variance;
    return std::sqrt(std::max(0.0, variance) / double(x.size()));
}

/// The percentile `level` (in [0, 100]) of an ascending sample by linear interpolation between order
/// statistics (Hyndman and Fan's definition 7, numpy.percentile's default 'linear'):
///   h = (level / 100) (n - 1),  i = floor(h),  value = x_(i) + (h - i) (x_(i+1) - x_(i)),
/// with x_(0) <= ... <= x_(n-1), evaluated in double in exactly this order (x_(i) itself when h = i or
/// x_(i) = x_(i+1), so +inf order statistics give +inf, not NaN). NaN for an empty sample.
inline double percentile_of_sorted(const std::vector<double>& sorted, double level)
{
    if (sorted.empty()) return not_a_number;
    const double h = (level / 100.0) * double(sorted.size() - 1);
    const auto i = std::size_t(std::floor(h));
    if (i + 1 >= sorted.size()) return sorted.back();
    const double fraction = h - double(i), below = sorted[i], above = sorted[i + 1];
    if (fraction == 0.0 || below == above) return below;
    return below + fraction * (above - below);
}

}  // namespace divergence::detail

#endif
