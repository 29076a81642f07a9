#ifndef DIVERGENCE_KERNEL_CONDITIONAL_HPP
#define DIVERGENCE_KERNEL_CONDITIONAL_HPP

// The conditional Cauchy-Schwarz divergence between two regressions, D_CS(p(y|x) || q(y|x)), estimated
// from n triples (x_i, y_i, yhat_i): p(y|x) is represented by the pairs (x_i, y_i) and q(y|x) by the
// pairs (x_i, yhat_i) (a model's predictions at the same inputs). Two estimators are offered (see
// docs/kernel-conditional.md): the plug-in kernel estimator of Yu, Li, Lokse, Jenssen and Principe
// ("The conditional Cauchy-Schwarz divergence with applications to time-series data and sequential
// decision making", arXiv:2301.08970) for shared inputs, and the variant computed by the public code of
// the CS information bottleneck (Yu, Yu, Lokse, Jenssen, Principe, "Cauchy-Schwarz divergence
// information bottleneck for regression", ICLR 2024).

#include <Eigen/Core>

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "divergence/core/config.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/view.hpp"
#include "divergence/kernel/gram.hpp"

namespace divergence::kernel {

/// Which estimator of the conditional CS divergence (docs/kernel-conditional.md).
enum class ConditionalCsEstimator {
    /// The plug-in kernel estimator (Yu et al., arXiv:2301.08970) with shared inputs: weights
    /// w_j = 1 / (sum_i K_ji)^2 and both cross terms, -log C1 - log C2. Zero when yhat = y.
    plug_in,
    /// What the CS-IB reference code (loss_cs.py, CS_Div) computes: weights w_j = 1 / sum_i K_ji^2
    /// and one cross term counted twice, -2 log C2; in nats (the code's log2 value times ln 2).
    /// Zero when yhat = y.
    cs_ib_code,
};

/// Bandwidths and estimator. Kernels are k(a, b) = exp(-||a - b||^2 / (2 sigma^2)) (the Gaussian
/// normalizers cancel in both estimators).
struct ConditionalCsOptions {
    double sigma_x = 1.0;  ///< bandwidth of the kernel on the inputs x, finite and > 0
    double sigma_y = 1.0;  ///< bandwidth of the kernel on the targets and predictions, finite and > 0
    ConditionalCsEstimator estimator = ConditionalCsEstimator::plug_in;
};

/// Gradients a call writes, each optional: caller-owned matrices of the shape of y (n x dy), any
/// storage order, of the inputs' scalar type.
template <class Scalar>
struct ConditionalCsOutputs {
    MatrixOut<Scalar> grad_yhat;  ///< d value / d yhat
    MatrixOut<Scalar> grad_y;     ///< d value / d y
};

namespace detail {

/// Refuses a bandwidth so small for the spread of the scaled sample z = v / sigma that a squared
/// distance between its points would overflow double.
inline void check_spread(const char* function, const char* sigma_name, double sigma, const RowMatrix<double>& z, const char* what)
{
    const double spread = (z.colwise().maxCoeff() - z.colwise().minCoeff()).squaredNorm();
    if (!(spread <= std::numeric_limits<double>::max() / 8.0))
        divergence::detail::fail(function, sigma_name, divergence::detail::describe(
            ("too small for the spread of " + std::string(what) + " (squared distances / sigma^2 overflow double): sigma").c_str(), sigma));
}

/// v / sigma in double, row-major, for a kernel of width 1 on the result; refuses a NaN or infinite
/// entry (naming `argument`, the row and the column).
template <class Derived>
RowMatrix<double> scaled_sample(const char* function, const char* argument, const Eigen::MatrixBase<Derived>& v, double sigma)
{
    RowMatrix<double> z(v.rows(), v.cols());
    for (Index i = 0; i < v.rows(); ++i)
        for (Index k = 0; k < v.cols(); ++k) {
            const double value = double(v(i, k));
            if (!std::isfinite(value)) divergence::detail::fail(function, argument, i, k, divergence::detail::describe("must be finite, got", value));
            z(i, k) = value / sigma;
        }
    return z;
}

inline void check_sigma(const char* function, const char* argument, double sigma)
{
    if (!(sigma > 0.0) || !std::isfinite(sigma))
        divergence::detail::fail(function, argument, divergence::detail::describe("must be finite and > 0, got", sigma));
}

template <class Scalar>
void check_gradient_shape(const char* function, const char* argument, const MatrixOut<Scalar>& out, Index rows, Index cols)
{
    if (out.requested() && (out.view.rows != rows || out.view.cols != cols))
        divergence::detail::fail(function, argument,
                                 "has shape " + std::to_string(out.view.rows) + " x " + std::to_string(out.view.cols) +
                                     ", y has shape " + std::to_string(rows) + " x " + std::to_string(cols));
}

/// log sum_j exp(log_w_j + row_sums_j).
inline double weighted_log_total(const Eigen::VectorXd& log_w, const Eigen::VectorXd& row_sums)
{
    return SamplePair<double>::log_sum_exp(log_w + row_sums);
}

/// Writes columns [first, first + cols) of `force` divided by sigma into `out` (the y part of a
/// force in the scaled space: d/dy = (1 / sigma_y) d/dz).
template <class Scalar>
void write_y_part(const RowMatrix<double>& force, Index first, double sigma, const MatrixView<Scalar>& out)
{
    for (Index i = 0; i < out.rows; ++i)
        for (Index k = 0; k < out.cols; ++k) out(i, k) = Scalar(force(i, first + k) / sigma);
}

}  // namespace detail

/// Conditional Cauchy-Schwarz divergence between p(y|x), given by the pairs (x_i, y_i), and q(y|x),
/// given by (x_i, yhat_i), i = 1..n, in nats. With K_ji = k_x(x_j, x_i) and L(u, v) = k_y(u, v):
///   A = sum_j w_j sum_i K_ji L(y_j, y_i),        B = sum_j w_j sum_i K_ji L(yhat_j, yhat_i),
///   C1 = sum_j w_j sum_i K_ji L(y_j, yhat_i),    C2 = sum_j w_j sum_i K_ji L(yhat_j, y_i);
///   plug_in:    D = log A + log B - log C1 - log C2,  w_j = 1 / (sum_i K_ji)^2;
///   cs_ib_code: D = log A + log B - 2 log C2,         w_j = 1 / sum_i K_ji^2.
/// Both are 0 when yhat = y; neither is non-negative for every sample (docs/kernel-conditional.md).
/// Every sum is a log-sum-exp of kernel logarithms (kernel/gram.hpp, distances from the differences):
/// K_jj = L(y_j, y_j) = 1 keep A, B and the weights finite, and C1, C2 are finite logs however small
/// the bandwidths (no NaN, no log 0; a bandwidth so small that a squared distance / sigma^2 overflows
/// double is refused).
/// Gradients (out.grad_yhat, out.grad_y: n x dy), with c = 1 (plug_in) or 2 (cs_ib_code, no C1 term):
///   dD/dyhat_m = -(1/sigma_y^2) sum_i (w_m + w_i) K_mi L(yhat_m, yhat_i) (yhat_m - yhat_i) / B
///                + (1/sigma_y^2) sum_i [w_i / C1 + c w_m / C2] K_mi L(yhat_m, y_i) (yhat_m - y_i),
///   dD/dy_m    = -(1/sigma_y^2) sum_i (w_m + w_i) K_mi L(y_m, y_i) (y_m - y_i) / A
///                + (1/sigma_y^2) sum_i [w_m / C1 + c w_i / C2] K_mi L(y_m, yhat_i) (y_m - yhat_i).
/// At yhat = y the plug-in gradient is 0; the CS-IB code's is not (docs/kernel-conditional.md).
/// Cost: O(n^2 (dx + dy)) time (5 kernel sums for the value, 3 or 4 force sums per gradient),
/// O(n (dx + dy)) memory; rows on the executor's threads, the same bits for any thread count.
/// \throws std::invalid_argument for an empty x, rows or dimensions that differ (y and yhat: n x dy),
/// a NaN or infinite entry, a bandwidth that is not finite and > 0 (or too small for the data's
/// spread), or a gradient output of another shape.
template <class X, class Y, class Yhat, class Scalar = typename X::Scalar>
double conditional_cauchy_schwarz(const Eigen::MatrixBase<X>& x, const Eigen::MatrixBase<Y>& y,
                                  const Eigen::MatrixBase<Yhat>& yhat, const ConditionalCsOptions& options = {},
                                  const ConditionalCsOutputs<Scalar>& out = {})
{
    static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                  "divergence: conditional_cauchy_schwarz takes float or double matrices.");
    static_assert(std::is_same_v<typename Y::Scalar, Scalar> && std::is_same_v<typename Yhat::Scalar, Scalar>,
                  "divergence: x, y and yhat must have the same scalar type (convert one with .cast<double>()).");
    constexpr const char* function = "kernel::conditional_cauchy_schwarz";
    using divergence::detail::fail;
    if (x.rows() == 0) fail(function, "x", "is empty (no samples)");
    if (x.cols() == 0) fail(function, "x", "has inputs of dimension 0");
    if (y.rows() != x.rows())
        fail(function, "y", "has " + std::to_string(y.rows()) + " rows, x has " + std::to_string(x.rows()));
    if (y.cols() == 0) fail(function, "y", "has targets of dimension 0");
    if (yhat.rows() != y.rows() || yhat.cols() != y.cols())
        fail(function, "yhat",
             "has shape " + std::to_string(yhat.rows()) + " x " + std::to_string(yhat.cols()) + ", y has shape " +
                 std::to_string(y.rows()) + " x " + std::to_string(y.cols()));
    detail::check_sigma(function, "options.sigma_x", options.sigma_x);
    detail::check_sigma(function, "options.sigma_y", options.sigma_y);
    detail::check_gradient_shape(function, "grad_yhat", out.grad_yhat, y.rows(), y.cols());
    detail::check_gradient_shape(function, "grad_y", out.grad_y, y.rows(), y.cols());

    // Every kernel product K_ji L(u_j, v_i) is one Gaussian kernel of width 1 between the points
    // z = (x / sigma_x, u / sigma_y) (dimension dx + dy): the sums are kernel/gram.hpp's.
    const Index n = x.rows(), dx = x.cols(), dy = y.cols();
    const RowMatrix<double> zx = detail::scaled_sample(function, "x", x, options.sigma_x);
    const RowMatrix<double> zy_only = detail::scaled_sample(function, "y", y, options.sigma_y);
    const RowMatrix<double> zh_only = detail::scaled_sample(function, "yhat", yhat, options.sigma_y);
    RowMatrix<double> pooled(2 * n, dy);  // y over yhat: they share one kernel, their joint spread counts
    pooled << zy_only, zh_only;
    detail::check_spread(function, "options.sigma_x", options.sigma_x, zx, "x");
    detail::check_spread(function, "options.sigma_y", options.sigma_y, pooled, "y and yhat");
    RowMatrix<double> zy(n, dx + dy), zh(n, dx + dy);
    zy << zx, pooled.topRows(n);
    zh << zx, pooled.bottomRows(n);
    // Distances from the differences (exact 0 for equal points) at any dimension: the expanded
    // form's absolute error grows with ||z||^2, i.e. as 1 / sigma^2 (kernel/gram.hpp).
    constexpr DistancePath exact = DistancePath::exact;
    const SamplePair<double> xx(zx, zx, exact, function, "x", "x"), yy(zy, zy, exact, function, "y", "y"),
        hh(zh, zh, exact, function, "yhat", "yhat"), yh(zy, zh, exact, function, "y", "yhat");
    const SamplePair<double> hy = yh.transposed();

    const bool plug_in = options.estimator == ConditionalCsEstimator::plug_in;
    // plug_in: w_j = (sum_i K_ji)^-2; cs_ib_code: w_j = (sum_i K_ji^2)^-1, K^2 the kernel of width 1/sqrt(2).
    // K_jj = 1: every log w_j is finite and <= 0.
    const Eigen::VectorXd log_w = plug_in ? Eigen::VectorXd(-2.0 * xx.log_row_sums(1.0)) : Eigen::VectorXd(-xx.log_row_sums(std::sqrt(0.5)));
    const double log_a = detail::weighted_log_total(log_w, yy.log_row_sums(1.0));
    const double log_b = detail::weighted_log_total(log_w, hh.log_row_sums(1.0));
    const double log_c2 = detail::weighted_log_total(log_w, hy.log_row_sums(1.0));
    const double log_c1 = plug_in ? detail::weighted_log_total(log_w, yh.log_row_sums(1.0)) : log_c2;
    const double value = plug_in ? log_a + log_b - log_c1 - log_c2 : log_a + log_b - 2.0 * log_c2;
    if (!out.grad_yhat.requested() && !out.grad_y.requested()) return value;

    // Gradients as forces of the scaled points (F_m = sum_i exp(a_m + b_i) k(z_m, z'_i) (z_m - z'_i)):
    // d log(sum_ji w_j k(z_j, z'_i)) / d z_m = -(forces with a = log w - log S) for a row point, and
    // +(forces of the transposed pair with b = log w, a = -log S) for a column point.
    const Eigen::VectorXd zeros = Eigen::VectorXd::Zero(n);
    const double cross2 = plug_in ? 1.0 : 2.0;  // the CS-IB code counts C2 twice
    // A cross term whose sum underflowed double (log C = -inf) has no gradient: it contributes 0.
    const bool has_c1 = plug_in && log_c1 > -divergence::detail::infinity, has_c2 = log_c2 > -divergence::detail::infinity;
    const auto self_force = [&](const SamplePair<double>& pair, double log_total) {
        return RowMatrix<double>(pair.forces(1.0, log_w.array() - log_total, {}) + pair.forces(1.0, zeros.array() - log_total, log_w));
    };
    if (out.grad_yhat.requested()) {
        // d/dyhat: -B's forces + C1's (pair (yhat, y), weights on columns) + c C2's (weights on rows).
        RowMatrix<double> f = -self_force(hh, log_b);
        if (has_c1) f += hy.forces(1.0, zeros.array() - log_c1, log_w);
        if (has_c2) f += cross2 * hy.forces(1.0, log_w.array() - log_c2, {});
        detail::write_y_part(f, dx, options.sigma_y, out.grad_yhat.view);
    }
    if (out.grad_y.requested()) {
        RowMatrix<double> f = -self_force(yy, log_a);
        if (has_c1) f += yh.forces(1.0, log_w.array() - log_c1, {});
        if (has_c2) f += cross2 * yh.forces(1.0, zeros.array() - log_c2, log_w);
        detail::write_y_part(f, dx, options.sigma_y, out.grad_y.view);
    }
    return value;
}

}  // namespace divergence::kernel

#endif
