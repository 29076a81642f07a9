#ifndef DIVERGENCE_KERNEL_RANDOM_FEATURES_HPP
#define DIVERGENCE_KERNEL_RANDOM_FEATURES_HPP

// A low-rank path for the Gaussian kernel: random Fourier features (Rahimi and Recht, "Random features
// for large-scale kernel machines", NIPS 2007). With D frequencies w_k ~ N(0, I / h^2),
//   phi(x) = D^(-1/2) (cos(w_1 . x), ..., cos(w_D . x), sin(w_1 . x), ..., sin(w_D . x)),
//   phi(x) . phi(y) = (1/D) sum_k cos(w_k . (x - y)),  E[phi(x) . phi(y)] = exp(-||x - y||^2 / (2 h^2)),
// each kernel entry unbiased with variance (1 - k^2)^2 / (2 D) <= 1 / (2 D) (Sutherland and Schneider,
// "On the error of random Fourier features", UAI 2015). The biased MMD^2 becomes
//   MMD^2 ~ ||mu_x - mu_y||^2,  mu_x = (1/n) sum_i phi(x_i),
// in O((n + m) D d) time and O(D d) memory instead of O((n + m)^2 d); always >= 0. Its error is
// reported: `standard_error` estimates the standard deviation of the estimate over the draw of the
// frequencies, from the D per-frequency terms (MMD^2 = (1/D) sum_k t_k, t_k = |mean e^{i w_k x} - mean e^{i w_k y}|^2).
// The frequencies come from std::mt19937_64(seed) and std::normal_distribution: the same seed gives the
// same features with the same standard library.

#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include <Eigen/Core>

#include "divergence/core/error.hpp"
#include "divergence/kernel/gram.hpp"
#include "divergence/kernel/mmd.hpp"

namespace divergence::kernel {

struct RandomFeaturesOptions {
    double bandwidth = 1.0;    ///< the Gaussian kernel's width h (> 0)
    Index frequencies = 1024;  ///< D (> 0): 2 D features
    std::uint64_t seed = 0;
    bool gradients = true;
};

struct RandomFeaturesMmdResult : MmdResult {
    double standard_error = 0.0;  ///< estimated standard deviation of value over the frequencies' draw
};

/// The biased Gaussian MMD^2 between x (n x d) and y (m x d) by random Fourier features (see the
/// header comment), with gradients with respect to every point (of the approximation, exactly).
/// \throws std::invalid_argument for empty or non-finite samples, different dimensions, a bandwidth
/// that is not finite and > 0 or so small that the phases w_k . x overflow, or frequencies < 1.
template <class DX, class DY>
RandomFeaturesMmdResult mmd_random_features(const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y, const RandomFeaturesOptions& options = {})
{
    detail::check_same_scalar<DX, DY>();
    constexpr const char* function = "kernel::mmd_random_features";
    detail::check_sample(function, "x", x);
    detail::check_sample(function, "y", y);
    detail::check_dimensions(function, "y", y.cols(), "x", x.cols());
    const double h = options.bandwidth;
    if (!(h > 0.0) || !std::isfinite(h)) detail::fail(function, "options.bandwidth", detail::describe("must be finite and > 0, got", h));
    if (options.frequencies < 1) detail::fail(function, "options.frequencies", detail::describe("must be >= 1, got", options.frequencies));
    const Index d = x.cols(), n_freq = options.frequencies;
    RowMatrix<double> w(n_freq, d);
    std::mt19937_64 rng(options.seed);
    std::normal_distribution<double> normal(0.0, 1.0 / h);
    for (Index k = 0; k < n_freq; ++k)
        for (Index c = 0; c < d; ++c) w(k, c) = normal(rng);
    // Z = X W^T (n x D); the centered samples keep the phases small (the value is translation invariant)
    RowMatrix<double> xs = x.template cast<double>(), ys = y.template cast<double>();
    const Eigen::RowVectorXd center = (xs.colwise().sum() + ys.colwise().sum()) / double(xs.rows() + ys.rows());
    xs.rowwise() -= center;
    ys.rowwise() -= center;
    const RowMatrix<double> zx = xs * w.transpose(), zy = ys * w.transpose();
    // A width far below the samples' spread (h = 1e-300 against points 1e29 apart) makes the phases
    // ||x|| / h overflow: cos(inf) is NaN, and no finite estimate is left to return.
    if (!zx.allFinite() || !zy.allFinite())
        detail::fail(function, "options.bandwidth",
                     detail::describe("is too small for the samples' spread: the phases w_k . x overflow double, got", h));
    const Eigen::ArrayXXd cx = zx.array().cos(), sx = zx.array().sin(), cy = zy.array().cos(), sy = zy.array().sin();
    // per frequency: the difference of the mean embeddings' cos and sin parts
    const Eigen::ArrayXd dc = (cx.colwise().mean() - cy.colwise().mean()).transpose();
    const Eigen::ArrayXd ds = (sx.colwise().mean() - sy.colwise().mean()).transpose();
    const Eigen::ArrayXd t = dc.square() + ds.square();  // t_k, MMD^2 = mean_k t_k
    RandomFeaturesMmdResult r;
    r.kernel_width = h;
    r.value = t.mean();
    r.standard_error = n_freq > 1 ? std::sqrt((t - r.value).square().sum() / double(n_freq - 1) / double(n_freq)) : 0.0;
    if (!options.gradients) return r;
    // d/dx_i MMD^2 = (2 / (n D)) sum_k (-dc_k sin(w_k . x_i) + ds_k cos(w_k . x_i)) w_k; y: the opposite sign, 1/m
    const double nx = double(x.rows()), ny = double(y.rows());
    const Eigen::RowVectorXd a = dc.transpose(), b = ds.transpose();
    r.grad_x = ((cx.rowwise() * b.array() - sx.rowwise() * a.array()).matrix() * w) * (2.0 / (nx * double(n_freq)));
    r.grad_y = ((cy.rowwise() * b.array() - sy.rowwise() * a.array()).matrix() * w) * (-2.0 / (ny * double(n_freq)));
    return r;
}

}  // namespace divergence::kernel

#endif
