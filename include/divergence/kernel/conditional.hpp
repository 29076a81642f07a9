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
#include <string>
#include <type_traits>
#include <vector>

#include "divergence/core/config.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/kernel.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/core/view.hpp"

// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

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

using divergence::detail::fused_block;
using divergence::detail::infinity;
using divergence::detail::LogSumExp;

/// log k(u, v) = -||u - v||^2 / (2 sigma^2), the squared distance from the differences (exact 0 at
/// u = v, no cancellation), divided by sigma twice so that tiny bandwidths do not overflow sigma^-2.
inline double log_gaussian(const double* u, const double* v, Index d, double sigma)
{
    double s = 0.0;
    for (Index k = 0; k < d; ++k) {
        const double t = u[k] - v[k];
        s += t * t;
    }
    return -0.5 * ((s / sigma) / sigma);
}

/// The n triples in double, row-major, and the per-row and total log-sums of the estimator.
struct ConditionalCsProblem {
    RowMatrix<double> x, y, yhat;
    double sigma_x = 1.0, sigma_y = 1.0;
    bool plug_in = true;
    // Per row j: log w_j, and the row log-sums alpha_j = log sum_i K_ji L(y_j, y_i),
    // beta_j = ... L(yhat_j, yhat_i), gamma_j = ... L(y_j, yhat_i), delta_j = ... L(yhat_j, y_i).
    std::vector<double> log_w, alpha, beta, gamma, delta;
    // log A = LSE_j(log w_j + alpha_j), log B (beta), log C1 (gamma), log C2 (delta).
    double log_a = 0.0, log_b = 0.0, log_c1 = 0.0, log_c2 = 0.0;

    Index n() const { return x.rows(); }
    double log_kx(Index j, Index i) const { return log_gaussian(x.row(j).data(), x.row(i).data(), x.cols(), sigma_x); }
    double log_ky(const RowMatrix<double>& u, Index j, const RowMatrix<double>& v, Index i) const
    {
        return log_gaussian(u.row(j).data(), v.row(i).data(), u.cols(), sigma_y);
    }
};

/// Pass over row j: the five row log-sums (the weights' denominator, then alpha..delta), each with
/// the library's vectorized log-sum-exp on a block of kernel logarithms.
struct ConditionalCsRowSums : divergence::detail::IndexedRowJob {
    ConditionalCsProblem* problem;

    struct State {
        LogSumExp sums[5];
    };
    State start(divergence::detail::Pass<0>, Index) const { return {}; }
    void accumulate(divergence::detail::Pass<0>, State& state, Index j, Index begin, Index end) const
    {
        using P = divergence::detail::simd::Packet<double>;
        const ConditionalCsProblem& p = *problem;
        double buffer[5][fused_block];
        for (Index block = begin; block < end; block += fused_block) {
            const Index m = std::min(fused_block, end - block);
            for (Index t = 0; t < m; ++t) {
                const Index i = block + t;
                const double a = p.log_kx(j, i);
                buffer[0][t] = p.plug_in ? a : 2.0 * a;
                buffer[1][t] = a + p.log_ky(p.y, j, p.y, i);
                buffer[2][t] = a + p.log_ky(p.yhat, j, p.yhat, i);
                buffer[3][t] = a + p.log_ky(p.y, j, p.yhat, i);
                buffer[4][t] = a + p.log_ky(p.yhat, j, p.y, i);
            }
            for (int k = 0; k < 5; ++k) divergence::detail::accumulate_logsumexp<P>(state.sums[k], buffer[k], 0, m, 1.0);
        }
    }
    void merge(divergence::detail::Pass<0>, State& into, const State& next, Index) const
    {
        for (int k = 0; k < 5; ++k) into.sums[k].merge(next.sums[k]);
    }
    void finish(divergence::detail::Pass<0>, Index j, const State& state) const
    {
        ConditionalCsProblem& p = *problem;
        const std::size_t r = std::size_t(j);
        // plug-in: w_j = (sum_i K_ji)^-2; CS-IB code: w_j = (sum_i K_ji^2)^-1. K_jj = 1: finite logs.
        p.log_w[r] = p.plug_in ? -2.0 * state.sums[0].value() : -state.sums[0].value();
        p.alpha[r] = state.sums[1].value();
        p.beta[r] = state.sums[2].value();
        p.gamma[r] = state.sums[3].value();
        p.delta[r] = state.sums[4].value();
    }
};

/// Last pass over row m: the gradients' row m, as softmax-weighted differences (every weight
/// exp(log w + log K + log L - log total) <= 1: nothing overflows, nothing underflows to 0/0).
template <class Scalar>
struct ConditionalCsGradientRows : divergence::detail::IndexedRowJob {
    static constexpr int passes = 0;
    const ConditionalCsProblem* problem;
    MatrixView<Scalar> grad_yhat, grad_y;

    bool writes() const { return true; }
    void write(Index m, Index begin, Index end) const
    {
        const ConditionalCsProblem& p = *problem;
        const Index dy = p.y.cols();
        const double cross2 = p.plug_in ? 1.0 : 2.0;  // the CS-IB code counts C2 twice
        // An infinite cross term (every kernel value beyond double's range) has no gradient: 0.
        const bool c1 = p.plug_in && p.log_c1 > -infinity, c2 = p.log_c2 > -infinity;
        const double lw_m = p.log_w[std::size_t(m)];
        Eigen::VectorXd gh = Eigen::VectorXd::Zero(dy), gy = Eigen::VectorXd::Zero(dy);
        const double* ym = p.y.row(m).data();
        const double* hm = p.yhat.row(m).data();
        for (Index i = begin; i < end; ++i) {
            const double a = p.log_kx(m, i), lw_i = p.log_w[std::size_t(i)];
            const double* yi = p.y.row(i).data();
            const double* hi = p.yhat.row(i).data();
            if (grad_yhat.data) {
                const double c = a + p.log_ky(p.yhat, m, p.yhat, i), f = a + p.log_ky(p.yhat, m, p.y, i);
                const double wb = std::exp(lw_m + c - p.log_b) + std::exp(lw_i + c - p.log_b);
                const double wc = (c1 ? std::exp(lw_i + f - p.log_c1) : 0.0) +
                                  (c2 ? cross2 * std::exp(lw_m + f - p.log_c2) : 0.0);
                for (Index k = 0; k < dy; ++k) gh[k] += wc * (hm[k] - yi[k]) - wb * (hm[k] - hi[k]);
            }
            if (grad_y.data) {
                const double b = a + p.log_ky(p.y, m, p.y, i), e = a + p.log_ky(p.y, m, p.yhat, i);
                const double wa = std::exp(lw_m + b - p.log_a) + std::exp(lw_i + b - p.log_a);
                const double wc = (c1 ? std::exp(lw_m + e - p.log_c1) : 0.0) +
                                  (c2 ? cross2 * std::exp(lw_i + e - p.log_c2) : 0.0);
                for (Index k = 0; k < dy; ++k) gy[k] += wc * (ym[k] - hi[k]) - wa * (ym[k] - yi[k]);
            }
        }
        // d log k(u, v) / du = -(u - v) / sigma^2, divided twice (see log_gaussian).
        for (Index k = 0; k < dy; ++k) {
            if (grad_yhat.data) grad_yhat(m, k) = Scalar((gh[k] / p.sigma_y) / p.sigma_y);
            if (grad_y.data) grad_y(m, k) = Scalar((gy[k] / p.sigma_y) / p.sigma_y);
        }
    }
};

template <class Derived>
void copy_checked(const char* function, const char* argument, const Eigen::MatrixBase<Derived>& from, RowMatrix<double>& to)
{
    to.resize(from.rows(), from.cols());
    for (Index i = 0; i < from.rows(); ++i)
        for (Index k = 0; k < from.cols(); ++k) {
            const double v = double(from(i, k));
            if (!std::isfinite(v)) divergence::detail::fail(function, argument, i, k, divergence::detail::describe("must be finite, got", v));
            to(i, k) = v;
        }
}

inline void check_bandwidth(const char* function, const char* argument, double sigma)
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

inline double total_log_sum(const std::vector<double>& log_w, const std::vector<double>& row_sums)
{
    LogSumExp total;
    for (std::size_t j = 0; j < log_w.size(); ++j) total.add(log_w[j] + row_sums[j]);
    return total.value();
}

}  // namespace detail

/// Conditional Cauchy-Schwarz divergence between p(y|x), given by the pairs (x_i, y_i), and q(y|x),
/// given by (x_i, yhat_i), i = 1..n, in nats. With K_ji = k_x(x_j, x_i) and L(u, v) = k_y(u, v):
///   A = sum_j w_j sum_i K_ji L(y_j, y_i),        B = sum_j w_j sum_i K_ji L(yhat_j, yhat_i),
///   C1 = sum_j w_j sum_i K_ji L(y_j, yhat_i),    C2 = sum_j w_j sum_i K_ji L(yhat_j, y_i);
///   plug_in:    D = log A + log B - log C1 - log C2,  w_j = 1 / (sum_i K_ji)^2;
///   cs_ib_code: D = log A + log B - 2 log C2,         w_j = 1 / sum_i K_ji^2.
/// Both are 0 when yhat = y; neither is non-negative for every sample (docs/kernel-conditional.md).
/// Every sum is a log-sum-exp of kernel logarithms (K_jj = L(y_j, y_j) = 1 keep A, B and the weights
/// finite at any bandwidth; C1 and C2 stay finite unless a squared distance / sigma_y^2 exceeds
/// double's range, which gives +inf with zero gradients of that term).
/// Gradients (out.grad_yhat, out.grad_y: n x dy), e.g. with G = K o L(yhat, yhat) weighted:
///   dD/dyhat_m = -(1/sigma_y^2) sum_i (w_m + w_i) K_mi L(yhat_m, yhat_i) (yhat_m - yhat_i) / B
///                + (1/sigma_y^2) sum_i [w_i K_mi L(yhat_m, y_i) / C1 + c w_m K_mi L(yhat_m, y_i) / C2] (yhat_m - y_i)
/// (plug_in: c = 1; cs_ib_code: c = 2 and no C1 term), and likewise for y. O(n^2 (dx + dy)) time,
/// O(n (dx + dy)) memory (the triples are copied to double), rows on the executor's threads with the
/// same bits for any thread count.
/// \throws std::invalid_argument for an empty x, rows or dimensions that differ (y and yhat: n x dy),
/// a NaN or infinite entry, a bandwidth that is not finite and > 0, or a gradient of another shape.
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
    detail::check_bandwidth(function, "options.sigma_x", options.sigma_x);
    detail::check_bandwidth(function, "options.sigma_y", options.sigma_y);
    detail::check_gradient_shape(function, "grad_yhat", out.grad_yhat, y.rows(), y.cols());
    detail::check_gradient_shape(function, "grad_y", out.grad_y, y.rows(), y.cols());

    detail::ConditionalCsProblem p;
    detail::copy_checked(function, "x", x, p.x);
    detail::copy_checked(function, "y", y, p.y);
    detail::copy_checked(function, "yhat", yhat, p.yhat);
    p.sigma_x = options.sigma_x;
    p.sigma_y = options.sigma_y;
    p.plug_in = options.estimator == ConditionalCsEstimator::plug_in;
    const Index n = p.n();
    for (auto* v : {&p.log_w, &p.alpha, &p.beta, &p.gamma, &p.delta}) v->assign(std::size_t(n), 0.0);

    // One chunk per row (a row of n kernel values is short): rows are the tasks, whatever the threads.
    const divergence::detail::Chunks whole_rows{n, n};
    divergence::detail::execute(detail::ConditionalCsRowSums{{}, &p}, n, whole_rows, n > 16);
    p.log_a = detail::total_log_sum(p.log_w, p.alpha);
    p.log_b = detail::total_log_sum(p.log_w, p.beta);
    p.log_c1 = detail::total_log_sum(p.log_w, p.gamma);
    p.log_c2 = detail::total_log_sum(p.log_w, p.delta);
    const double value = p.plug_in ? p.log_a + p.log_b - p.log_c1 - p.log_c2 : p.log_a + p.log_b - 2.0 * p.log_c2;

    if (out.grad_yhat.requested() || out.grad_y.requested()) {
        const detail::ConditionalCsGradientRows<Scalar> job{{}, &p, out.grad_yhat.view, out.grad_y.view};
        divergence::detail::execute(job, n, whole_rows, n > 16);
    }
    return value;
}

}  // namespace divergence::kernel

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
