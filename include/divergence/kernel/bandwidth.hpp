#ifndef DIVERGENCE_KERNEL_BANDWIDTH_HPP
#define DIVERGENCE_KERNEL_BANDWIDTH_HPP

// Bandwidth (kernel width) rules for the sample-based estimators, with the derivative of the width
// with respect to every sample point, so that an estimator may differentiate through its bandwidth.
//
// For a sample z (N x d; the estimators pool x and y for a divergence):
//   fixed:     sigma = value.
//   silverman: sigma = value * s * (4 / ((d + 2) N))^(1 / (d + 4))   (normal reference rule,
//              Silverman 1986, eq. 4.14; d = 1: 1.06 s N^(-1/5)),
//   scott:     sigma = value * s * N^(-1 / (d + 4))                  (Scott 1992, eq. 6.42),
//     with s^2 = (1 / d) sum_k var_k the mean of the per-coordinate unbiased variances (the
//     estimators use one isotropic width; the rules are stated per coordinate in the sources).
//   median:    the median heuristic (Gretton et al. 2012; Garreau, Jitkrittum, Kanagawa 2017) over
//     the pairs i < j of the sample, in three variants met in the literature:
//       MedianOf::distance:              sigma = value * median ||z_i - z_j||
//       MedianOf::half_squared_distance: sigma = value * sqrt(median ||z_i - z_j||^2 / 2)
//                                        (k = exp(-||.||^2 / median ||.||^2) written as exp(-||.||^2 / (2 sigma^2)))
//       MedianOf::squared_distance:      sigma = value * median ||z_i - z_j||^2  (used as a width by
//                                        some information-bottleneck code; not scale-equivariant)
//     An even number of pairs averages the two middle values. Above median_points points, the
//     median is taken over the pairs of every s-th point (s = ceil(N / median_points)), so the
//     work stays O(median_points^2) and the memory 8 bytes a pair (16 MB at the default 2048).
// The Silverman IQR variant 0.9 min(s, IQR / 1.34) N^(-1/5) is not offered.
// Gradient: d sigma / d z_ik, N x d (silverman/scott: value c (z_ik - mean_k) / (d (N - 1) s) with c
// the rule's factor; median: the derivative of the middle pair's (pairs') distance, a.e.).

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "divergence/core/error.hpp"
#include "divergence/kernel/gram.hpp"

namespace divergence::kernel {

enum class BandwidthRule { fixed, silverman, scott, median };
enum class MedianOf { distance, half_squared_distance, squared_distance };

/// How the width is chosen. `value` is the width itself for `fixed` and a factor multiplying the
/// rule's width otherwise (finite, > 0).
struct Bandwidth {
    BandwidthRule rule = BandwidthRule::fixed;
    double value = 1.0;
    MedianOf median = MedianOf::distance;
    /// Rules only: whether gradients include d width / d samples (otherwise the width is a constant).
    bool differentiate = false;
    /// The median uses at most this many points (>= 2), see the header comment.
    Index median_points = 2048;

    static Bandwidth fixed(double width) { return {BandwidthRule::fixed, width}; }
    static Bandwidth silverman(double factor = 1.0, bool differentiate = false) { return {BandwidthRule::silverman, factor, MedianOf::distance, differentiate}; }
    static Bandwidth scott(double factor = 1.0, bool differentiate = false) { return {BandwidthRule::scott, factor, MedianOf::distance, differentiate}; }
    static Bandwidth median_heuristic(MedianOf variant = MedianOf::distance, double factor = 1.0, bool differentiate = false)
    {
        return {BandwidthRule::median, factor, variant, differentiate};
    }
};

/// A width and, when asked, its gradient with respect to the pooled sample's points (N x d).
struct BandwidthValue {
    double width = 0.0;
    RowMatrix<double> gradient;  ///< empty unless the width is differentiated
};

namespace detail {

using divergence::detail::describe;
using divergence::detail::fail;
using divergence::detail::infinity;

inline void check_bandwidth_options(const char* function, const Bandwidth& b)
{
    if (!(b.value > 0.0) || !std::isfinite(b.value)) fail(function, "bandwidth.value", describe("must be finite and > 0, got", b.value));
    if (b.rule == BandwidthRule::median && b.median_points < 2) {
        fail(function, "bandwidth.median_points", describe("must be >= 2, got", b.median_points));
    }
}

/// Silverman or Scott on the pooled sample z.
inline BandwidthValue normal_reference(const char* function, const Bandwidth& b, const RowMatrix<double>& z, bool gradient)
{
    const Index n = z.rows(), d = z.cols();
    if (n < 2) fail(function, "x", "a bandwidth rule needs at least 2 samples, got " + std::to_string(n));
    const Eigen::RowVectorXd mean = z.colwise().mean();
    const RowMatrix<double> centered = z.rowwise() - mean;
    const double s = std::sqrt(centered.squaredNorm() / (double(d) * double(n - 1)));
    if (!(s > 0.0)) fail(function, "x", "a bandwidth rule needs samples that are not all equal (their spread is 0)");
    const double exponent = -1.0 / double(d + 4);
    const double c = b.value * (b.rule == BandwidthRule::silverman ? std::pow(4.0 / (double(d + 2) * double(n)), -exponent)
                                                                   : std::pow(double(n), exponent));
    BandwidthValue out{c * s, {}};
    if (gradient) out.gradient = centered * (c / (double(d) * double(n - 1) * s));
    return out;
}

/// The median heuristic on the pooled sample z.
inline BandwidthValue median_width(const char* function, const Bandwidth& b, const RowMatrix<double>& z, bool gradient)
{
    const Index stride = (z.rows() + b.median_points - 1) / b.median_points;
    std::vector<Index> points;
    for (Index i = 0; i < z.rows(); i += stride) points.push_back(i);
    const Index n = Index(points.size());
    if (n < 2) fail(function, "x", "the median heuristic needs at least 2 samples, got " + std::to_string(z.rows()));
    const auto squared = [&](Index i, Index j) { return (z.row(points[i]) - z.row(points[j])).squaredNorm(); };
    std::vector<double> values;  // 8 bytes a pair: 16 MB at 2048 points
    values.reserve(std::size_t(n * (n - 1) / 2));
    for (Index i = 0; i < n; ++i)
        for (Index j = i + 1; j < n; ++j) values.push_back(squared(i, j));
    const std::size_t count = values.size(), upper = count / 2;
    std::nth_element(values.begin(), values.begin() + std::ptrdiff_t(upper), values.end());
    std::vector<double> middle{values[upper]};
    if (count % 2 == 0) middle.push_back(*std::max_element(values.begin(), values.begin() + std::ptrdiff_t(upper)));
    // median of f(||.||^2) with f = sqrt (distance) or the identity (the squared variants)
    const bool of_distance = b.median == MedianOf::distance;
    double median = 0.0;
    for (const double v : middle) median += (of_distance ? std::sqrt(v) : v) / double(middle.size());
    if (!(median > 0.0)) fail(function, "x", "the median heuristic needs samples whose median pairwise distance is > 0 (more than half the pairs coincide)");
    double width = median, d_width_d_median = 1.0;
    if (b.median == MedianOf::half_squared_distance) {
        width = std::sqrt(median / 2.0);
        d_width_d_median = 1.0 / (4.0 * width);
    }
    BandwidthValue out{b.value * width, {}};
    if (gradient) {
        out.gradient = RowMatrix<double>::Zero(z.rows(), z.cols());
        for (const double v : middle) {
            // A middle distance of 0 (coinciding points; with an even number of pairs the other middle
            // value is positive) is not differentiable: its subgradient 0 is taken (the distance term
            // would be 0 * inf). The squared variants are differentiable there, with derivative 0.
            if (v == 0.0) continue;
            // the pair whose squared distance is the middle value (the nearest one, should a
            // recomputation round differently)
            Index a = 0, c = 0;
            double nearest = infinity;
            for (Index i = 0; i < n && nearest > 0.0; ++i)
                for (Index j = i + 1; j < n && nearest > 0.0; ++j) {
                    const double gap = std::abs(squared(i, j) - v);
                    if (gap < nearest) nearest = gap, a = points[i], c = points[j];
                }
            // d f(||z_a - z_c||^2) / d z_a = f'(.) 2 (z_a - z_c); f' = 1 / (2 ||.||) for the distance
            const Eigen::RowVectorXd diff = z.row(a) - z.row(c);
            const double df = of_distance ? 1.0 / std::sqrt(v) : 2.0;
            const double scale = b.value * d_width_d_median * df / double(middle.size());
            out.gradient.row(a) += scale * diff;
            out.gradient.row(c) -= scale * diff;
        }
    }
    return out;
}

/// sum_i (p_i - c) . g_i over the rows of p (double) and g. An estimator that depends on the points
/// only through p / h has d value / d h = -(1/h) sum over all points of (p - c) . grad_p value.
template <class Derived>
double centered_dot(const Eigen::MatrixBase<Derived>& p, const Eigen::RowVectorXd& c, const RowMatrix<double>& g)
{
    return ((p.template cast<double>().rowwise() - c).array() * g.array()).sum();
}

}  // namespace detail

/// The width `b` gives for the sample z (N x d, rows = points; the estimators pass the pooled
/// sample), and d width / d z when b.differentiate (and the rule is not fixed).
/// \throws std::invalid_argument for a bad value or median_points, fewer than 2 points or a zero
/// spread (rules), naming `function`.
template <class Derived>
BandwidthValue select_bandwidth(const Eigen::MatrixBase<Derived>& z, const Bandwidth& b, const char* function = "kernel::select_bandwidth")
{
    detail::check_bandwidth_options(function, b);
    if (b.rule == BandwidthRule::fixed) return {b.value, {}};
    detail::check_sample(function, "x", z);
    const RowMatrix<double> pooled = z.template cast<double>();
    const bool gradient = b.differentiate;
    return b.rule == BandwidthRule::median ? detail::median_width(function, b, pooled, gradient)
                                           : detail::normal_reference(function, b, pooled, gradient);
}

}  // namespace divergence::kernel

#endif
