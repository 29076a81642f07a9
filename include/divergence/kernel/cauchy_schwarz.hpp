#ifndef DIVERGENCE_KERNEL_CAUCHY_SCHWARZ_HPP
#define DIVERGENCE_KERNEL_CAUCHY_SCHWARZ_HPP

// Parzen (Gaussian kernel) estimators of the Cauchy-Schwarz family between samples (rows = points),
// with gradients with respect to every sample point (Principe's "information forces").
//
// Parzen estimates p(u) = (1/n) sum_i G_sigma(u - x_i), q(u) = (1/m) sum_j G_sigma(u - y_j),
// G_s(u) = (2 pi s^2)^(-d/2) exp(-||u||^2 / (2 s^2)). The convolution of two Gaussians of width
// sigma is a Gaussian of width sigma sqrt(2), so every integral of a product of two estimates is a
// kernel sum of width h = sigma sqrt(2):
//   V_xy = int p q = (1 / (n m)) sum_ij G_h(x_i - y_j),  V_xx = int p^2,  V_yy = int q^2.
// With k_h(a, b) = exp(-||a - b||^2 / (2 h^2)) and the sums S = sum_ij k_h(x_i, y_j),
// A = sum_ij k_h(x_i, x_j), B = sum_ij k_h(y_i, y_j) (diagonals included: V-statistics),
//   D_CS(p, q) = -log V_xy + (1/2) log V_xx + (1/2) log V_yy = -log S + (1/2) log A + (1/2) log B
// (the normalizers and 1/n, 1/m cancel): CsScale::single (the default). CsScale::doubled returns
// 2 D_CS = log A + log B - 2 log S, the scale of divergence::cauchy_schwarz on probability vectors
// and of Principe's book. WidthOf::parzen (default): the bandwidth
// is the Parzen width sigma and h = sigma sqrt(2); WidthOf::kernel: the bandwidth is h itself (code
// that writes k_sigma directly, without the convolution).
// 0 <= D_CS by the Cauchy-Schwarz inequality on the estimates, = 0 iff p = q; rounding below 0 is
// clamped. Every sum is a log-sum-exp (kernel/gram.hpp): a tiny width gives large finite logs.
//
// Gradients at a fixed width (F: the forces of kernel/gram.hpp with the softmax weights of each sum):
//   d log S / d x_i = -(1/h^2) sum_j (k_ij / S)(x_i - y_j),  d log A / d x_i = -(2/h^2) sum_j (k_ij / A)(x_i - x_j).
// Differentiated bandwidth: every term depends on the points only through p / h, so
//   d D / d h = -(1/h) sum_points (p - c) . grad_p D   (any fixed c; c = the pooled mean),
// and the gradient gains (d D / d h)(d h / d p) from the rule (kernel/bandwidth.hpp).
//
// Renyi's quadratic entropy H_2 = -log V, V = int p^2 = (1/n^2) sum_ij G_h(x_i - x_j) (the information
// potential; here the normalizer (2 pi h^2)^(-d/2) = (4 pi sigma^2)^(-d/2) matters).
// Cauchy-Schwarz quadratic mutual information of paired samples x (n x dx), y (n x dy) (Principe
// 2010, ch. 2), kernels K^x (width h_x), K^y (h_y):
//   V_J = (1/n^2) sum_ij K^x_ij K^y_ij,  V_M = (1/n^4) (1'K^x 1)(1'K^y 1),  V_C = (1/n^3) 1'K^x K^y 1,
//   I_CS = log V_J + log V_M - 2 log V_C >= 0,
// the CS divergence between the joint estimate and the product of the marginal estimates; the
// normalized form I_CS(x, y) / sqrt(I_CS(x, x) I_CS(y, y)).
// Cost: O(n m d) time per kernel sum, O((n + m) d) memory. CS with gradients runs two passes over
// the n m cross pairs (each a log-sum with its softmax forces: x-y, y-x) and one over each sample's
// unordered pairs (n (n + 1) / 2 and m (m + 1) / 2: kernel/self_pairs.hpp); without gradients one
// cross pass and the two self passes.

#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "divergence/core/error.hpp"
#include "divergence/kernel/bandwidth.hpp"
#include "divergence/kernel/gram.hpp"
#include "divergence/kernel/self_pairs.hpp"

namespace divergence::kernel {

/// D_CS (single) or 2 D_CS (doubled).
enum class CsScale { single, doubled };
/// Whether the bandwidth is the Parzen width sigma (kernel sums use sigma sqrt(2)) or the kernel width h.
enum class WidthOf { parzen, kernel };

/// What the sample-based Cauchy-Schwarz estimators share.
struct KernelOptions {
    Bandwidth bandwidth;                          ///< default: fixed, 1
    WidthOf width_of = WidthOf::parzen;
    DistancePath path = DistancePath::automatic;  ///< how squared distances are computed (kernel/gram.hpp)
    bool gradients = true;                        ///< compute gradients with respect to the samples
};

struct CauchySchwarzOptions : KernelOptions {
    /// single (default): D_CS = -log cos(p, q) (Jenssen et al. 2006, Kampa et al. 2011); doubled:
    /// 2 D_CS = log A + log B - 2 log S, the scale of divergence::cauchy_schwarz on probability vectors (Principe 2010)
    CsScale scale = CsScale::single;
};

struct CauchySchwarzResult {
    double value = 0.0;        ///< D_CS (or 2 D_CS), >= 0; +inf if S underflows (then gradients 0)
    double log_cross = 0.0;    ///< log S = log sum_ij k_h(x_i, y_j)
    double log_self_x = 0.0;   ///< log A
    double log_self_y = 0.0;   ///< log B
    double parzen_width = 0.0; ///< sigma (h / sqrt(2); = h / sqrt(2) also with WidthOf::kernel)
    double kernel_width = 0.0; ///< h
    RowMatrix<double> grad_x;  ///< d value / d x (n x d), with d h / d x when differentiated
    RowMatrix<double> grad_y;  ///< d value / d y (m x d)
};

struct QuadraticEntropyResult {
    double entropy = 0.0;                    ///< H_2 = -log V
    double log_information_potential = 0.0;  ///< log V
    double information_potential = 0.0;      ///< V (overflows for large d and tiny widths: use the log)
    double parzen_width = 0.0, kernel_width = 0.0;
    RowMatrix<double> grad_x;  ///< d H_2 / d x (= -d log V / d x; d V / d x = -V grad_x)
};

struct MutualInformationOptions {
    Bandwidth bandwidth_x, bandwidth_y;  ///< of the x and the y sample (each from its own sample)
    WidthOf width_of = WidthOf::parzen;
    DistancePath path = DistancePath::automatic;
    bool gradients = true;
};

struct MutualInformationResult {
    double value = 0.0;  ///< I_CS (or the normalized form)
    double log_joint = 0.0, log_marginal_x = 0.0, log_marginal_y = 0.0, log_cross = 0.0;  ///< log sum K^x.K^y, log 1'K^x 1, log 1'K^y 1, log 1'K^x K^y 1
    double kernel_width_x = 0.0, kernel_width_y = 0.0;
    RowMatrix<double> grad_x, grad_y;
};

namespace detail {

using divergence::detail::fail;
using divergence::detail::infinity;

/// The kernel width h and the rule's width, with d h / d points when differentiated.
struct Width {
    double kernel = 0.0;     ///< h
    double per_rule = 1.0;   ///< h / (the rule's width): sqrt(2) for WidthOf::parzen, else 1
    BandwidthValue rule;
};

template <class Derived>
Width width_of(const char* function, const Eigen::MatrixBase<Derived>& pooled, const Bandwidth& b, WidthOf of, bool gradients)
{
    Bandwidth asked = b;
    asked.differentiate = b.differentiate && gradients && b.rule != BandwidthRule::fixed;
    Width w;
    w.rule = select_bandwidth(pooled, asked, function);
    w.per_rule = of == WidthOf::parzen ? std::sqrt(2.0) : 1.0;
    w.kernel = w.per_rule * w.rule.width;
    check_bandwidth(function, "bandwidth", w.kernel);
    return w;
}

/// A log kernel sum and its gradients at a fixed width (rows' and columns' points).
struct LogSum {
    double value = 0.0;
    RowMatrix<double> grad_rows, grad_cols;
};

/// diag(exp(l - total)) P * scale: softmax forces weighted by each row's share of a total.
inline RowMatrix<double> share_forces(const Eigen::VectorXd& l, double total, const RowMatrix<double>& p, double scale)
{
    return ((l.array() - total).exp() * scale).matrix().asDiagonal() * p;
}

/// log S = log sum_ij k_h(x_i, y_j) of a pair of different samples, and its gradients.
template <class E>
LogSum cross_sum(const SamplePair<E>& pair, double h, bool gradients)
{
    if (!gradients) return {pair.log_total(h), {}, {}};
    RowMatrix<double> p_rows, p_cols;
    const Eigen::VectorXd l_rows = pair.log_row_sums_and_forces(h, p_rows);
    LogSum s{SamplePair<E>::log_sum_exp(l_rows), {}, {}};
    if (s.value == -infinity) {
        s.grad_rows = RowMatrix<double>::Zero(pair.rows(), pair.dimension());
        s.grad_cols = RowMatrix<double>::Zero(pair.cols(), pair.dimension());
        return s;
    }
    const Eigen::VectorXd l_cols = pair.transposed().log_row_sums_and_forces(h, p_cols);
    s.grad_rows = share_forces(l_rows, s.value, p_rows, -1.0 / (h * h));
    s.grad_cols = share_forces(l_cols, s.value, p_cols, -1.0 / (h * h));
    return s;
}

/// log A = log sum_ij k_h(x_i, x_j) of a sample with itself (pair (x, x)), its gradient (when
/// gradients are asked for), the row log-sums and the softmax forces (the same condition) it was
/// computed from, each unordered pair once (kernel/self_pairs.hpp).
struct SelfSum : LogSum {
    Eigen::VectorXd l;
    RowMatrix<double> p;
};

template <class E>
SelfSum self_sum(const SamplePair<E>& pair, double h, bool gradients)
{
    SelfSum s;
    s.l = self_log_row_sums<E>(pair.distances(), 2.0 * h * h, gradients ? &s.p : nullptr);
    s.value = SamplePair<E>::log_sum_exp(s.l);
    if (gradients) s.grad_rows = share_forces(s.l, s.value, s.p, -2.0 / (h * h));
    return s;
}

}  // namespace detail

/// The Parzen Cauchy-Schwarz divergence between the samples x (n x d) and y (m x d), float or
/// double (see the header comment for the formula, scales and widths), with its gradients.
/// \throws std::invalid_argument for an empty or non-finite sample, different dimensions, a bad
/// bandwidth (or a rule that gives none: fewer than 2 points, no spread).
template <class DX, class DY>
CauchySchwarzResult cauchy_schwarz(const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y, const CauchySchwarzOptions& options = {})
{
    detail::check_same_scalar<DX, DY>();
    constexpr const char* function = "kernel::cauchy_schwarz";
    using Pair = SamplePairFor<typename DX::Scalar>;
    const Pair cross(x, y, options.path, function, "x", "y");  // validates both samples first
    const Pair self_x(x, x, options.path, function, "x", "x"), self_y(y, y, options.path, function, "y", "y");
    RowMatrix<double> pooled(x.rows() + y.rows(), x.cols());
    pooled << x.template cast<double>(), y.template cast<double>();
    const detail::Width width = detail::width_of(function, pooled, options.bandwidth, options.width_of, options.gradients);
    const double h = width.kernel;
    const bool gradients = options.gradients;
    const detail::SelfSum a = detail::self_sum(self_x, h, gradients), b = detail::self_sum(self_y, h, gradients);
    // y equal to x entry by entry: S = A, and each argument of S carries half of d log A / dx (so
    // D(x, x) = 0 and its gradients are 0 exactly, and the cross pass is not needed)
    const bool same_sample = x.rows() == y.rows() && x.template cast<double>() == y.template cast<double>();
    const detail::LogSum s = same_sample ? detail::LogSum{a.value, 0.5 * a.grad_rows, 0.5 * a.grad_rows} : detail::cross_sum(cross, h, gradients);
    const double scale = options.scale == CsScale::doubled ? 2.0 : 1.0;
    CauchySchwarzResult r;
    r.log_cross = s.value;
    r.log_self_x = a.value;
    r.log_self_y = b.value;
    r.kernel_width = h;
    r.parzen_width = h / std::sqrt(2.0);
    r.value = s.value == -detail::infinity ? detail::infinity : std::max(0.0, scale * (0.5 * a.value + 0.5 * b.value - s.value));
    if (!gradients) return r;
    if (r.value == detail::infinity) {
        r.grad_x = RowMatrix<double>::Zero(x.rows(), x.cols());
        r.grad_y = RowMatrix<double>::Zero(y.rows(), y.cols());
        return r;
    }
    r.grad_x = scale * (0.5 * a.grad_rows - s.grad_rows);
    r.grad_y = scale * (0.5 * b.grad_rows - s.grad_cols);
    if (width.rule.gradient.size() > 0) {
        const Eigen::RowVectorXd c = pooled.colwise().mean();
        const double d_h = -(detail::centered_dot(x, c, r.grad_x) + detail::centered_dot(y, c, r.grad_y)) / h;
        const double d_value_d_rule = d_h * width.per_rule;
        r.grad_x += d_value_d_rule * width.rule.gradient.topRows(x.rows());
        r.grad_y += d_value_d_rule * width.rule.gradient.bottomRows(y.rows());
    }
    return r;
}

/// Renyi's quadratic entropy H_2 = -log V of the Parzen estimate of x (n x d), V the information
/// potential (1/n^2) sum_ij G_h(x_i - x_j), h = sigma sqrt(2) (WidthOf::parzen) or the bandwidth
/// (WidthOf::kernel); gradient d H_2 / d x. \throws std::invalid_argument as cauchy_schwarz.
template <class DX>
QuadraticEntropyResult renyi_quadratic_entropy(const Eigen::MatrixBase<DX>& x, const KernelOptions& options = {})
{
    constexpr const char* function = "kernel::renyi_quadratic_entropy";
    const SamplePairFor<typename DX::Scalar> self_x(x, x, options.path, function, "x", "x");
    const detail::Width width = detail::width_of(function, x, options.bandwidth, options.width_of, options.gradients);
    const double h = width.kernel, n = double(x.rows()), d = double(x.cols());
    const detail::SelfSum a = detail::self_sum(self_x, h, options.gradients);
    constexpr double pi = 3.141592653589793238462643383279502884;
    QuadraticEntropyResult r;
    r.kernel_width = h;
    r.parzen_width = h / std::sqrt(2.0);
    r.log_information_potential = a.value - 2.0 * std::log(n) - 0.5 * d * std::log(2.0 * pi * h * h);
    r.entropy = -r.log_information_potential;
    r.information_potential = std::exp(r.log_information_potential);
    if (!options.gradients) return r;
    r.grad_x = -a.grad_rows;
    if (width.rule.gradient.size() > 0) {
        // H_2 = -log A + d log h + const: the scale-free part by homogeneity, plus d / h
        const Eigen::RowVectorXd c = x.template cast<double>().colwise().mean();
        const double d_h = -detail::centered_dot(x, c, r.grad_x) / h + d / h;
        r.grad_x += (d_h * width.per_rule) * width.rule.gradient;
    }
    return r;
}

namespace detail {

template <class DX, class DY>
MutualInformationResult cs_mutual_information_in(const char* function, const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y,
                                                 const MutualInformationOptions& options)
{
    check_same_scalar<DX, DY>();
    using Pair = SamplePairFor<typename DX::Scalar>;
    check_sample(function, "x", x);
    check_sample(function, "y", y);
    if (y.rows() != x.rows()) {
        fail(function, "y", "has " + std::to_string(y.rows()) + " samples, 'x' " + std::to_string(x.rows()) + " (paired samples: one y per x)");
    }
    const bool gradients = options.gradients;
    const Width wx = width_of(function, x, options.bandwidth_x, options.width_of, gradients);
    const Width wy = width_of(function, y, options.bandwidth_y, options.width_of, gradients);
    const double hx = wx.kernel, hy = wy.kernel;
    const Index n = x.rows(), dx = x.cols(), dy = y.cols();
    // The joint kernel K^x_ij K^y_ij is one Gaussian kernel of width 1 on z = (x / h_x, y / h_y).
    RowMatrix<double> z(n, dx + dy);
    z << x.template cast<double>() / hx, y.template cast<double>() / hy;
    const SamplePair<double> joint(z, z, options.path, function, "x", "y");
    const Pair px(x, x, options.path, function, "x", "x"), py(y, y, options.path, function, "y", "y");
    const SelfSum j = self_sum(joint, 1.0, gradients), ax = self_sum(px, hx, gradients), ay = self_sum(py, hy, gradients);
    // V_C: log C = log sum_i exp(l^x_i + l^y_i), l = row log-sums of K^x and K^y
    const Eigen::VectorXd& lx = ax.l, & ly = ay.l;
    const double log_c = Pair::log_sum_exp(lx + ly);
    MutualInformationResult r;
    r.log_joint = j.value;
    r.log_marginal_x = ax.value;
    r.log_marginal_y = ay.value;
    r.log_cross = log_c;
    r.kernel_width_x = hx;
    r.kernel_width_y = hy;
    r.value = j.value + ax.value + ay.value - 2.0 * log_c;
    if (!gradients) return r;
    // d log C / d x_m = -(1/h_x^2) sum_j K^x_mj (r^y_m + r^y_j) / C (x_m - x_j): the marginal's
    // softmax forces weighted by r^y_m r^x_m / C, plus one pass with column weights r^y_j
    const auto cross_gradient = [&](const Pair& p, double h, const SelfSum& own, const Eigen::VectorXd& other_rows) {
        RowMatrix<double> weighted;
        const Eigen::VectorXd l = p.log_row_sums_and_forces(h, weighted, other_rows);
        return RowMatrix<double>(share_forces(own.l + other_rows, log_c, own.p, -1.0 / (h * h)) +
                                 share_forces(l, log_c, weighted, -1.0 / (h * h)));
    };
    r.grad_x = j.grad_rows.leftCols(dx) / hx + ax.grad_rows - 2.0 * cross_gradient(px, hx, ax, ly);
    r.grad_y = j.grad_rows.rightCols(dy) / hy + ay.grad_rows - 2.0 * cross_gradient(py, hy, ay, lx);
    // Differentiated widths: I depends on x only through x / h_x (and on y through y / h_y).
    const auto add_width_term = [&](const auto& points, RowMatrix<double>& grad, const Width& w) {
        if (w.rule.gradient.size() == 0) return;
        const Eigen::RowVectorXd c = points.template cast<double>().colwise().mean();
        const double d_h = -centered_dot(points, c, grad) / w.kernel;
        grad += (d_h * w.per_rule) * w.rule.gradient;
    };
    add_width_term(x, r.grad_x, wx);
    add_width_term(y, r.grad_y, wy);
    return r;
}

}  // namespace detail

/// Cauchy-Schwarz quadratic mutual information I_CS between paired samples x (n x dx) and y
/// (n x dy) (see the header comment), with gradients with respect to x and y.
/// \throws std::invalid_argument for empty or non-finite samples, different sample counts, a bad bandwidth.
template <class DX, class DY>
MutualInformationResult cs_mutual_information(const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y,
                                              const MutualInformationOptions& options = {})
{
    return detail::cs_mutual_information_in("kernel::cs_mutual_information", x, y, options);
}

/// I_CS(x, y) / sqrt(I_CS(x, x) I_CS(y, y)) (each with its own sample's bandwidth), and its
/// gradients; 0 (gradients 0) when I_CS(x, x) I_CS(y, y) = 0 (e.g. a single sample).
template <class DX, class DY>
MutualInformationResult normalized_cs_mutual_information(const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y,
                                                         const MutualInformationOptions& options = {})
{
    constexpr const char* function = "kernel::normalized_cs_mutual_information";
    MutualInformationResult r = detail::cs_mutual_information_in(function, x, y, options);
    MutualInformationOptions ox = options, oy = options;
    ox.bandwidth_y = options.bandwidth_x;
    oy.bandwidth_x = options.bandwidth_y;
    const MutualInformationResult ixx = detail::cs_mutual_information_in(function, x, x, ox);
    const MutualInformationResult iyy = detail::cs_mutual_information_in(function, y, y, oy);
    const double denominator = std::sqrt(ixx.value * iyy.value);
    const double ratio = denominator > 0.0 ? r.value / denominator : 0.0;
    if (options.gradients) {
        if (denominator > 0.0) {
            // d N = N (dI_xy / I_xy - dI_xx / (2 I_xx) - dI_yy / (2 I_yy)), written without dividing by I_xy
            r.grad_x = (r.grad_x - (0.5 * r.value / ixx.value) * (ixx.grad_x + ixx.grad_y)) / denominator;
            r.grad_y = (r.grad_y - (0.5 * r.value / iyy.value) * (iyy.grad_x + iyy.grad_y)) / denominator;
        } else {
            r.grad_x.setZero();
            r.grad_y.setZero();
        }
    }
    r.value = ratio;
    return r;
}

}  // namespace divergence::kernel

#endif
