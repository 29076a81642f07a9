#ifndef DIVERGENCE_OT_SINKHORN_DISTILLATION_HPP
#define DIVERGENCE_OT_SINKHORN_DISTILLATION_HPP

// Sinkhorn distillation (SinKD: Cui et al., "SinKD: Sinkhorn Distance Minimization for Knowledge
// Distillation", IEEE TNNLS 2024, arXiv 2402.17110), batch-wise, as its reference implementation
// computes it, with the exact gradient of that computation:
//
//   s_i = softmax(z^S_i / T), t_j = softmax(z^T_j / T)          (B student and B teacher rows)
//   W_ij = c(s_i, t_j)                                          (B x B; c = ||s - t||_1 by default)
//   P = K iterations of [row normalization, column normalization] of exp(-W / eps)
//   loss = scale * <P, W>                                       (T = 2, eps = 0.1, K = 20, scale = 0.0008 * 20 / 8)
//
// P is a fixed number of Sinkhorn iterations, not the converged plan, and the loss is its linear
// part: the envelope theorem (d<P*, W>/dW = P*) does not apply. The gradient here is what
// automatic differentiation through the K iterations gives (to rounding), computed by a reverse
// sweep over the stored scaling vectors (unrolled_sinkhorn), then through the cost and the softmax.
//
// The fixed-K iteration alone, with its adjoint, is unrolled_sinkhorn(cost, options).

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/options.hpp"
#include "divergence/ot/cost.hpp"

namespace divergence::ot {

/// Which normalization each iteration of unrolled_sinkhorn does first.
enum class NormalizationOrder {
    rows_first,     ///< P <- diag(a / P 1) P, then P <- P diag(b / P^T 1) (SinKD): P^T 1 = b on return
    columns_first,  ///< the column normalization first: P 1 = a on return
};

/// How unrolled_sinkhorn computes its iterates (the same iterates either way, up to rounding).
enum class SinkhornArithmetic {
    /// Scaling vectors u, v with P = diag(u) exp(-(C - shift) / eps) diag(v) where that is exact
    /// (see UnrolledSinkhornOptions), the log domain otherwise.
    automatic,
    /// Log-domain potentials f = log u, g = log v with log-sum-exp normalizations, always.
    log,
};

/// Options of unrolled_sinkhorn.
struct UnrolledSinkhornOptions {
    double epsilon = 0.1;   ///< kernel exp(-C / epsilon); finite, > 0
    Index iterations = 20;  ///< K: pairs of (row, column) normalizations; >= 1
    NormalizationOrder order = NormalizationOrder::rows_first;
    /// automatic: scaling domain when the shifted kernel exp(-(C_ij - min_j C_ij) / eps) (columns
    /// first: min over i) has no entry below exp(-230) ~ 1e-100 and every scaling stays in
    /// [1e-100, 1e100] (then every product u_i K_ij v_j is a normal double and the scaling domain is
    /// exact to rounding); otherwise the log domain. The shift does not change any iterate.
    SinkhornArithmetic arithmetic = SinkhornArithmetic::automatic;
    /// Target row sums a (n entries, finite, > 0); null: all ones (SinKD: doubly stochastic, mass n).
    const Eigen::VectorXd* row_sums = nullptr;
    /// Target column sums b (m entries, finite, > 0); null: all ones.
    const Eigen::VectorXd* column_sums = nullptr;
};

namespace detail {
struct UnrolledSinkhornAccess;
}  // namespace detail

/// The result of unrolled_sinkhorn: the plan P_K after K iterations, and the reverse sweep that
/// maps dL/dP_K to the exact dL/dC through the same K iterations.
class UnrolledSinkhorn {
public:
    /// P_K (n x m).
    const Eigen::MatrixXd& plan() const { return plan_; }
    /// Whether the iterates were computed in the log domain (see SinkhornArithmetic).
    bool log_domain() const { return log_domain_; }
    Index iterations() const { return iterations_; }

    /// dL/dC (n x m) for dL/dP_K = grad_plan (n x m), by reverse-mode differentiation of the K
    /// iterations: equal to automatic differentiation through them, to rounding. O(K n m) time,
    /// O(n m) memory besides the stored O(K (n + m)) scalings.
    /// \throws std::invalid_argument if grad_plan's shape differs from the plan's or an entry is not finite.
    template <class Derived>
    Eigen::MatrixXd cost_gradient(const Eigen::MatrixBase<Derived>& grad_plan) const;

private:
    friend struct detail::UnrolledSinkhornAccess;

    Eigen::MatrixXd cost_gradient_rows_first(const Eigen::MatrixXd& grad_plan) const;

    // Everything below is in the rows-first orientation (the transposed problem for columns_first).
    Eigen::MatrixXd plan_;       ///< in the caller's orientation
    Eigen::MatrixXd log_kernel_;  ///< X = -(C - row minimum) / eps (n x m, rows-first orientation)
    Eigen::MatrixXd kernel_;      ///< exp(X) (scaling domain only)
    Eigen::MatrixXd first_, second_;  ///< u_t or f_t (n x K), v_t or g_t (m x K), t = 1..K
    Eigen::VectorXd a_, b_;
    double epsilon_ = 0.1;
    Index iterations_ = 0;
    bool log_domain_ = false;
    bool transposed_ = false;
};

namespace detail {

using divergence::detail::describe;
using divergence::detail::fail;

/// Runs f(r) for r in [0, rows) on the executor (one task per row: row mode, static schedule).
/// Each f(r) must write only what belongs to r; the results are then the same for any thread count.
template <class F>
struct EachRowJob : divergence::detail::IndexedRowJob {
    const F& f;
    int start(divergence::detail::Pass<0>, Index) const { return 0; }
    void accumulate(divergence::detail::Pass<0>, int&, Index r, Index, Index) const { f(r); }
    void merge(divergence::detail::Pass<0>, int&, const int&, Index) const {}
    void finish(divergence::detail::Pass<0>, Index&, const int&) const {}
};

template <class F>
void each_row(Index rows, bool parallel, const F& f)
{
    const EachRowJob<F> job{{}, f};
    divergence::detail::execute(job, rows, divergence::detail::Chunks{1, 1}, parallel);
}

inline void check_unrolled_options(const char* function, const UnrolledSinkhornOptions& o)
{
    if (!(o.epsilon > 0.0) || !std::isfinite(o.epsilon)) fail(function, "options.epsilon", describe("must be finite and > 0, got", o.epsilon));
    if (o.iterations < 1) fail(function, "options.iterations", describe("must be >= 1, got", o.iterations));
}

inline Eigen::VectorXd target_sums(const char* function, const char* argument, const Eigen::VectorXd* given, Index size,
                                   const char* what)
{
    if (given == nullptr) return Eigen::VectorXd::Ones(size);
    if (given->size() != size) {
        fail(function, argument, "has " + std::to_string(given->size()) + " entries for " + std::to_string(size) + " " + what);
    }
    for (Index i = 0; i < size; ++i) {
        const double v = (*given)(i);
        if (!(v > 0.0) || !std::isfinite(v)) fail(function, argument, i, -1, describe("must be finite and > 0, got", v));
    }
    return *given;
}

/// \throws std::invalid_argument if every entry of a column of the shifted log-kernel -(C_ij - min_j C_ij) / epsilon
/// of the rows-first cost C overflows to -inf (epsilon below about 1e-308 times the cost's range): the column
/// normalization would divide 0 by 0 (a NaN plan), and which entry dominates is not representable.
/// `line` names a column of C ("column"), or a row of the caller's cost when C is its transpose ("row").
inline void check_kernel_columns(const char* function, const Eigen::MatrixXd& cost, double epsilon, const char* line)
{
    const Eigen::VectorXd shift = cost.rowwise().minCoeff();
    for (Index j = 0; j < cost.cols(); ++j) {
        bool representable = false;
        for (Index i = 0; i < cost.rows() && !representable; ++i) representable = std::isfinite((cost(i, j) - shift(i)) / epsilon);
        if (!representable) {
            fail(function, "options.epsilon",
                 std::string("is too small for this cost: the kernel exp(-(C - its minimum) / epsilon) overflows double's exponent in "
                             "every entry of ") +
                     line + " " + std::to_string(j) + describe(" (a NaN plan), epsilon", epsilon));
        }
    }
}

/// log sum_k exp(x_k) of the entries of a vector expression (-inf for an empty or all -inf set).
template <class V>
double log_sum_exp(const V& x)
{
    divergence::detail::LogSumExp sum;  // the library's one log-sum-exp
    for (Index k = 0; k < x.size(); ++k) sum.add(x(k));
    return sum.value();
}

/// Access to UnrolledSinkhorn for unrolled_sinkhorn and the distillation code.
struct UnrolledSinkhornAccess {
    /// The rows-first core on a cost already checked: C (n x m) finite, a, b > 0.
    static UnrolledSinkhorn solve(const Eigen::MatrixXd& cost, const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                                  double epsilon, Index iterations, SinkhornArithmetic arithmetic, bool transposed)
    {
        UnrolledSinkhorn s;
        const Index n = cost.rows(), m = cost.cols();
        s.a_ = a;
        s.b_ = b;
        s.epsilon_ = epsilon;
        s.iterations_ = iterations;
        s.transposed_ = transposed;
        // The row shift min_j C_ij divides row i of the kernel by a constant that the first row
        // normalization removes exactly: no iterate changes, and dP/dshift = 0 (so the reverse sweep
        // may treat it as a constant). Every row of the shifted kernel has a 1.
        s.log_kernel_.resize(n, m);
        for (Index i = 0; i < n; ++i) {
            const double shift = cost.row(i).minCoeff();
            s.log_kernel_.row(i) = -(cost.row(i).array() - shift) / epsilon;
        }
        const double range = -s.log_kernel_.minCoeff();
        s.first_.resize(n, iterations);
        s.second_.resize(m, iterations);
        bool log_domain = arithmetic == SinkhornArithmetic::log || !(range <= 230.0);
        if (!log_domain) {
            s.kernel_ = s.log_kernel_.array().exp().matrix();
            Eigen::VectorXd u(n), v = Eigen::VectorXd::Ones(m);
            for (Index t = 0; t < iterations && !log_domain; ++t) {
                u = a.cwiseQuotient(s.kernel_ * v);
                v = b.cwiseQuotient(s.kernel_.transpose() * u);
                s.first_.col(t) = u;
                s.second_.col(t) = v;
                const auto in_range = [](const Eigen::VectorXd& x) {
                    return x.minCoeff() >= 1e-100 && x.maxCoeff() <= 1e100;  // false for NaN too
                };
                if (!in_range(u) || !in_range(v)) log_domain = true;
            }
            if (!log_domain) {
                const Eigen::VectorXd& u_k = s.first_.col(iterations - 1);
                const Eigen::VectorXd& v_k = s.second_.col(iterations - 1);
                s.plan_ = u_k.asDiagonal() * s.kernel_ * v_k.asDiagonal();
            }
        }
        if (log_domain) {
            s.kernel_.resize(0, 0);
            const Eigen::ArrayXd log_a = a.array().log(), log_b = b.array().log();
            Eigen::VectorXd f(n), g = Eigen::VectorXd::Zero(m);
            for (Index t = 0; t < iterations; ++t) {
                for (Index i = 0; i < n; ++i) f(i) = log_a(i) - detail::log_sum_exp(s.log_kernel_.row(i).transpose() + g);
                for (Index j = 0; j < m; ++j) g(j) = log_b(j) - detail::log_sum_exp(s.log_kernel_.col(j) + f);
                s.first_.col(t) = f;
                s.second_.col(t) = g;
            }
            s.plan_ = ((s.log_kernel_.colwise() + f).rowwise() + g.transpose()).array().exp().matrix();
        }
        s.log_domain_ = log_domain;
        if (transposed) s.plan_.transposeInPlace();
        return s;
    }

    static Eigen::MatrixXd gradient(const UnrolledSinkhorn& s, const Eigen::MatrixXd& grad_plan)
    {
        if (!s.transposed_) return s.cost_gradient_rows_first(grad_plan);
        return s.cost_gradient_rows_first(grad_plan.transpose()).transpose();
    }
};

}  // namespace detail

inline Eigen::MatrixXd UnrolledSinkhorn::cost_gradient_rows_first(const Eigen::MatrixXd& grad_plan) const
{
    // Reverse sweep in the log variables f_t = log u_t, g_t = log v_t (g_0 = 0), X = log kernel:
    //   f_t = log a - LSE_j(X_ij + g_{t-1,j}),  g_t = log b - LSE_i(X_ij + f_t,i),  P = exp(f_K + X + g_K).
    // d g_t,j / d(f_t,i or X_ij) = -Q_ij with Q = diag(u_t) K diag(v_t / b), the plan after the column
    // step with columns scaled to 1; d f_t,i / d(g_{t-1,j} or X_ij) = -R_ij, R = diag(u_t / a) K
    // diag(v_{t-1}), the plan after the row step with rows scaled to 1. Both are rebuilt from the
    // stored scalings, one n x m matrix at a time.
    const Index n = log_kernel_.rows(), m = log_kernel_.cols();
    const Eigen::MatrixXd& p = transposed_ ? Eigen::MatrixXd(plan_.transpose()) : plan_;
    Eigen::MatrixXd log_kernel_bar = grad_plan.cwiseProduct(p);
    Eigen::VectorXd f_bar = log_kernel_bar.rowwise().sum();
    Eigen::VectorXd g_bar = log_kernel_bar.colwise().sum().transpose();
    Eigen::MatrixXd w(n, m);
    const Eigen::ArrayXd log_a = a_.array().log(), log_b = b_.array().log();
    for (Index t = iterations_ - 1; t >= 0; --t) {
        // Q: column step t
        if (log_domain_) {
            const Eigen::VectorXd g_shifted = second_.col(t) - log_b.matrix();
            w = ((log_kernel_.colwise() + first_.col(t)).rowwise() + g_shifted.transpose()).array().exp().matrix();
        } else {
            const Eigen::VectorXd v_scaled = second_.col(t).cwiseQuotient(b_);
            w = first_.col(t).asDiagonal() * kernel_ * v_scaled.asDiagonal();
        }
        f_bar.noalias() -= w * g_bar;
        log_kernel_bar.noalias() -= w * g_bar.asDiagonal();
        // R: row step t (g_{t-1} = 0, v_{t-1} = 1 at t = 0)
        if (log_domain_) {
            const Eigen::VectorXd f_shifted = first_.col(t) - log_a.matrix();
            if (t > 0) {
                w = ((log_kernel_.colwise() + f_shifted).rowwise() + second_.col(t - 1).transpose()).array().exp().matrix();
            } else {
                w = (log_kernel_.colwise() + f_shifted).array().exp().matrix();
            }
        } else {
            const Eigen::VectorXd u_scaled = first_.col(t).cwiseQuotient(a_);
            if (t > 0) {
                w = u_scaled.asDiagonal() * kernel_ * second_.col(t - 1).asDiagonal();
            } else {
                w = u_scaled.asDiagonal() * kernel_;
            }
        }
        log_kernel_bar.noalias() -= f_bar.asDiagonal() * w;
        g_bar.noalias() = -(w.transpose() * f_bar);
        f_bar.setZero();
    }
    // X = -(C - shift) / eps with the shift held constant (dP/dshift = 0).
    return log_kernel_bar / -epsilon_;
}

template <class Derived>
Eigen::MatrixXd UnrolledSinkhorn::cost_gradient(const Eigen::MatrixBase<Derived>& grad_plan) const
{
    constexpr const char* function = "ot::UnrolledSinkhorn::cost_gradient";
    if (grad_plan.rows() != plan_.rows() || grad_plan.cols() != plan_.cols()) {
        detail::fail(function, "grad_plan",
                     "has shape " + std::to_string(grad_plan.rows()) + " x " + std::to_string(grad_plan.cols()) + ", the plan " +
                         std::to_string(plan_.rows()) + " x " + std::to_string(plan_.cols()));
    }
    const Eigen::MatrixXd g = grad_plan.template cast<double>();
    for (Index i = 0; i < g.rows(); ++i) {
        for (Index j = 0; j < g.cols(); ++j) {
            if (!std::isfinite(g(i, j))) detail::fail(function, "grad_plan", i, j, detail::describe("must be finite, got", g(i, j)));
        }
    }
    return detail::UnrolledSinkhornAccess::gradient(*this, g);
}

/// K iterations of Sinkhorn's scaling (Sinkhorn-Knopp) from the kernel exp(-C / epsilon):
///   rows_first: K_0 = exp(-C / eps); K_t = N_col(N_row(K_{t-1})), N_row(X) = diag(a / X 1) X,
///   N_col(X) = X diag(b / X^T 1); returns P_K = diag(u_K) K_0 diag(v_K) with the scaling vectors
///   u_t = a / (K_0 v_{t-1}), v_t = b / (K_0^T u_t), v_0 = 1. columns_first swaps the two steps.
/// a = b = 1 (default) is SinKD's doubly-stochastic iteration (total mass n = m). Nothing is assumed
/// converged: plan() is the K-th iterate, and cost_gradient() differentiates the K iterations.
/// Memory: the n x m kernel and plan, and 2 K (n + m) stored scalings.
/// Accuracy: scaling and log domains agree to rounding (~1e-15 relative per iteration in the plan's
/// large entries); entries of P below ~1e-300 may flush to 0 in either.
/// \throws std::invalid_argument if the cost is empty or has a non-finite entry, epsilon is not
/// finite and > 0 or so small that (C_ij - min C_i.) / epsilon overflows in a whole column (columns first:
/// row), iterations < 1, or row_sums / column_sums have the wrong size or an entry that is not finite and > 0.
template <class Derived>
UnrolledSinkhorn unrolled_sinkhorn(const Eigen::MatrixBase<Derived>& cost, const UnrolledSinkhornOptions& options = {})
{
    constexpr const char* function = "ot::unrolled_sinkhorn";
    using Scalar = typename Derived::Scalar;
    static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                  "divergence: the cost of unrolled_sinkhorn is a float or double matrix.");
    detail::check_unrolled_options(function, options);
    if (cost.rows() == 0 || cost.cols() == 0) detail::fail(function, "cost", "is empty");
    const Eigen::MatrixXd c = cost.template cast<double>();
    for (Index i = 0; i < c.rows(); ++i) {
        for (Index j = 0; j < c.cols(); ++j) {
            if (!std::isfinite(c(i, j))) detail::fail(function, "cost", i, j, detail::describe("must be finite, got", c(i, j)));
        }
    }
    const Eigen::VectorXd a = detail::target_sums(function, "options.row_sums", options.row_sums, c.rows(), "rows");
    const Eigen::VectorXd b = detail::target_sums(function, "options.column_sums", options.column_sums, c.cols(), "columns");
    if (options.order == NormalizationOrder::rows_first) {
        detail::check_kernel_columns(function, c, options.epsilon, "column");
        return detail::UnrolledSinkhornAccess::solve(c, a, b, options.epsilon, options.iterations, options.arithmetic, false);
    }
    detail::check_kernel_columns(function, c.transpose(), options.epsilon, "row");
    return detail::UnrolledSinkhornAccess::solve(c.transpose(), b, a, options.epsilon, options.iterations, options.arithmetic, true);
}

// ---------------------------------------------------------------------------------------------
// The distillation loss.

/// The ground cost W_ij = c(s_i, t_j) between student row s_i and teacher row t_j (softmax rows).
/// Manhattan: ||s_i - t_j||_1 (SinKD, torch.cdist(p=1)); SquaredEuclidean: ||s_i - t_j||^2;
/// KlCost: KL(s_i || t_j) (the cost tag's x is the student's row: the reverse, mode-seeking KL of
/// distillation; it needs finite logits).
using DistillationCost = std::variant<Manhattan, SquaredEuclidean, KlCost>;

/// Options of sinkhorn_distillation_loss. The defaults are SinKD's.
struct SinkhornDistillationOptions {
    double temperature = 2.0;  ///< T: s = softmax(z / T), both sides; finite, > 0
    DistillationCost cost = Manhattan{};
    double epsilon = 0.1;      ///< kernel exp(-W / epsilon); finite, > 0
    Index iterations = 20;     ///< K (row, column) normalization pairs, rows first; >= 1
    double scale = 0.0008 * (20.0 / 8.0);  ///< loss = scale <P_K, W> (SinKD: 0.0008 * 20 / 8 = 0.002); finite
    /// Scaling domain or log domain (see UnrolledSinkhornOptions::arithmetic); with the default cost
    /// W is in [0, 2], so exp(-W / 0.1) >= exp(-20) and the scaling domain is always used.
    SinkhornArithmetic arithmetic = SinkhornArithmetic::automatic;
    /// sinkhorn_distillation_loss_groups: the groups' losses summed (sum) or averaged (mean, batchmean).
    Reduction reduction = Reduction::sum;
    Validation validation = Validation::full;  ///< none: shapes and options only (logits not scanned)
};

namespace detail {

/// Softmax rows of one group (double, row-major), and their logs.
struct SoftRows {
    RowMatrix<double> p, log_p;
};

/// softmax(z / T) of rows [first, first + n) of z, computed in double.
template <class Derived>
void soft_rows(const Eigen::MatrixBase<Derived>& z, Index first, Index n, double temperature, SoftRows& out, bool parallel)
{
    out.p.resize(n, z.cols());
    out.log_p.resize(n, z.cols());
    each_row(n, parallel, [&](Index r) {
        auto lp = out.log_p.row(r).array();
        lp = z.row(first + r).template cast<double>().array() / temperature;
        // log softmax by the library's log-sum-exp (out.log_p is row-major: the row is contiguous)
        divergence::detail::LogSumExp sum;
        divergence::detail::accumulate_logsumexp<divergence::detail::simd::Packet<double>>(sum, out.log_p.row(r).data(), 0, lp.size(), 1.0);
        lp -= sum.value();
        out.p.row(r).array() = lp.exp();
    });
}

/// Rows per task: up to 8 rows of one side share each block of the other side's rows read from
/// cache (B x V doubles do not fit in L2 at V = 32000), with at least as many tasks as threads when
/// there are rows enough. The per-entry arithmetic does not depend on the tiling: the same bits for
/// any thread count.
inline Index rows_per_task(Index n, bool parallel)
{
    const Index threads = parallel ? Index(divergence::detail::executor_threads()) : 1;
    return std::max(Index(1), std::min(Index(8), (n + threads - 1) / threads));
}

/// Columns per block of the cost and gradient loops: 8 rows of 512 doubles (32 KB) stay in L1.
inline constexpr Index distillation_block = 512;

/// W_ij = c(s_i, t_j) for one group; tasks are tiles of student rows, the vocabulary is walked in
/// blocks, each teacher block read once per tile; each entry's sum runs over the blocks in order.
inline void cost_matrix(const DistillationCost& cost, const SoftRows& s, const SoftRows& t, Eigen::MatrixXd& w, bool parallel)
{
    const Index n = s.p.rows(), v = s.p.cols(), tile = rows_per_task(n, parallel);
    w.setZero(n, n);
    each_row((n + tile - 1) / tile, parallel, [&](Index task) {
        const Index first = task * tile, last = std::min(n, first + tile);
        for (Index b = 0; b < v; b += distillation_block) {
            const Index len = std::min(distillation_block, v - b);
            for (Index j = 0; j < n; ++j) {
                const auto tj = t.p.row(j).segment(b, len).array();
                for (Index i = first; i < last; ++i) {
                    const auto si = s.p.row(i).segment(b, len).array();
                    if (std::holds_alternative<Manhattan>(cost)) {
                        w(i, j) += (si - tj).abs().sum();
                    } else if (std::holds_alternative<SquaredEuclidean>(cost)) {
                        w(i, j) += (si - tj).square().sum();
                    } else {
                        // KL(s_i || t_j) = sum_k s_ik (log s_ik - log t_jk); finite logits: finite logs
                        const auto lsi = s.log_p.row(i).segment(b, len).array();
                        const auto ltj = t.log_p.row(j).segment(b, len).array();
                        w(i, j) += (si * (lsi - ltj)).sum();
                    }
                }
            }
        }
        if (std::holds_alternative<KlCost>(cost)) {
            for (Index i = first; i < last; ++i) w.row(i) = w.row(i).cwiseMax(0.0);  // KL >= 0: rounding clamped
        }
    });
}

// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

/// g[k] += w sign(x[k] - y[k]) (sign 0 = 0), k < n, in packets.
template <class S>
void add_signs(S* g, const S* x, const S* y, Index n, S w)
{
    namespace simd = divergence::detail::simd;
    using P = simd::Packet<S>;
    constexpr Index width = simd::lanes<P>;
    const P plus = simd::broadcast<P>(w), minus = simd::broadcast<P>(-w), zero = simd::broadcast<P>(S(0));
    Index k = 0;
    for (; k + width <= n; k += width) {
        const P d = simd::sub(simd::load<P>(x + k), simd::load<P>(y + k));
        const P term = simd::select(simd::less(zero, d), plus, simd::select(simd::less(d, zero), minus, zero));
        simd::store(g + k, simd::add(simd::load<P>(g + k), term));
    }
    for (; k < n; ++k) {
        const S d = x[k] - y[k];
        g[k] += d > S(0) ? w : (d < S(0) ? -w : S(0));
    }
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/// Writes into `out` (rows [first, first + n)) the logit gradient of one side:
///   side = student: d/dz^S_i = sum_j Wbar_ij dW_ij/dz^S_i,  side = teacher: d/dz^T_j = sum_i Wbar_ij dW_ij/dz^T_j.
/// For a gradient gamma with respect to the softmax row p (L1: sign(x - y), squared: 2 (x - y),
/// with x the own row and y the other side's; KL student: log s_i - log t_j), the softmax Jacobian
/// gives (1/T)(p * gamma - p <p, gamma>); the KL teacher side is direct: d KL(s || t) / dz^T = (t - s) / T.
/// Tasks are tiles of own rows, as in cost_matrix; each gamma entry sums over the other rows in order.
template <class Scalar>
void side_gradient(const DistillationCost& cost, bool student, const SoftRows& s, const SoftRows& t, const Eigen::MatrixXd& w_bar,
                   double temperature, const MatrixView<Scalar>& out, Index first, bool parallel)
{
    const Index n = s.p.rows(), v = s.p.cols(), tile = rows_per_task(n, parallel);
    const bool kl = std::holds_alternative<KlCost>(cost);
    const SoftRows& own = student ? s : t;
    const SoftRows& other = student ? t : s;
    each_row((n + tile - 1) / tile, parallel, [&](Index task) {
        const Index begin = task * tile, end = std::min(n, begin + tile);
        RowMatrix<double> gamma = RowMatrix<double>::Zero(end - begin, v);
        for (Index b = 0; b < v; b += distillation_block) {
            const Index len = std::min(distillation_block, v - b);
            for (Index q = 0; q < n; ++q) {
                const auto y = other.p.row(q).segment(b, len).array();
                for (Index r = begin; r < end; ++r) {
                    const double weight = student ? w_bar(r, q) : w_bar(q, r);
                    if (weight == 0.0) continue;
                    auto g = gamma.row(r - begin).segment(b, len).array();
                    const auto x = own.p.row(r).segment(b, len).array();
                    if (std::holds_alternative<Manhattan>(cost)) {
                        // 0 at ties: the subgradient automatic differentiation takes
                        add_signs<double>(gamma.row(r - begin).data() + b, own.p.row(r).data() + b, other.p.row(q).data() + b, len, weight);
                    } else if (std::holds_alternative<SquaredEuclidean>(cost)) {
                        g += (2.0 * weight) * (x - y);
                    } else if (student) {
                        g += weight * (own.log_p.row(r).segment(b, len).array() - other.log_p.row(q).segment(b, len).array());
                    } else {
                        g += weight * (x - y);  // T d/dz^T: (t_j - s_i)
                    }
                }
            }
        }
        for (Index r = begin; r < end; ++r) {
            const auto p = own.p.row(r).array();
            auto gamma_r = gamma.row(r - begin).array();
            if (kl && !student) {
                gamma_r /= temperature;
            } else {
                const double dot = (p * gamma_r).sum();
                gamma_r = (p * gamma_r - p * dot) / temperature;
            }
            for (Index k = 0; k < v; ++k) out(first + r, k) = Scalar(gamma_r(k));
        }
    });
}

template <class Derived>
void check_logits(const char* function, const char* argument, const Eigen::MatrixBase<Derived>& z, double temperature, bool finite_only)
{
    constexpr double inf = std::numeric_limits<double>::infinity();
    for (Index r = 0; r < z.rows(); ++r) {
        bool any = false;
        for (Index c = 0; c < z.cols(); ++c) {
            const double e = double(z(r, c));
            if (std::isnan(e) || e == inf) fail(function, argument, r, c, describe("logit must be finite or -inf, got", e));
            if (e == -inf) {
                if (finite_only) fail(function, argument, r, c, "KlCost needs finite logits (a -inf logit can make the cost infinite), got -inf");
                continue;
            }
            any = true;
            if (!std::isfinite(e / temperature)) fail(function, argument, r, c, describe("logit / temperature overflows, logit", e));
        }
        if (!any) fail(function, argument, r, -1, "every logit is -inf");
    }
}

inline void check_distillation_options(const char* function, const SinkhornDistillationOptions& o)
{
    if (!(o.temperature > 0.0) || !std::isfinite(o.temperature)) {
        fail(function, "options.temperature", describe("temperature must be finite and > 0, got", o.temperature));
    }
    if (!(o.epsilon > 0.0) || !std::isfinite(o.epsilon)) fail(function, "options.epsilon", describe("must be finite and > 0, got", o.epsilon));
    if (o.iterations < 1) fail(function, "options.iterations", describe("must be >= 1, got", o.iterations));
    if (!std::isfinite(o.scale)) fail(function, "options.scale", describe("must be finite, got", o.scale));
}

template <class Scalar>
void check_gradient_output(const char* function, const char* argument, const MatrixOut<Scalar>& g, Index rows, Index cols)
{
    if (g.requested() && (g.view.rows != rows || g.view.cols != cols)) {
        fail(function, argument,
             "output shape differs: " + std::to_string(g.view.rows) + " x " + std::to_string(g.view.cols) + " for logits of " +
                 std::to_string(rows) + " x " + std::to_string(cols));
    }
}

/// One group's <P_K, W> (unscaled), and the gradients of gradient_scale <P_K, W> written into rows
/// [first, first + n) of the requested outputs.
/// \throws std::invalid_argument (naming function) if epsilon is too small for W (check_kernel_columns).
template <class Scalar, class DT, class DS>
double distillation_group(const char* function, const Eigen::MatrixBase<DT>& teacher, const Eigen::MatrixBase<DS>& student, Index first,
                          Index n, const SinkhornDistillationOptions& o, double gradient_scale, const MatrixView<Scalar>& grad_teacher,
                          const MatrixView<Scalar>& grad_student, bool parallel)
{
    SoftRows s, t;
    soft_rows(student, first, n, o.temperature, s, parallel);
    soft_rows(teacher, first, n, o.temperature, t, parallel);
    Eigen::MatrixXd w;
    cost_matrix(o.cost, s, t, w, parallel);
    check_kernel_columns(function, w, o.epsilon, "column");
    const Eigen::VectorXd ones = Eigen::VectorXd::Ones(n);
    const UnrolledSinkhorn sinkhorn = UnrolledSinkhornAccess::solve(w, ones, ones, o.epsilon, o.iterations, o.arithmetic, false);
    const Eigen::MatrixXd& p = sinkhorn.plan();
    double value = 0.0;
    for (Index i = 0; i < n; ++i) {
        for (Index j = 0; j < n; ++j) value += p(i, j) * w(i, j);
    }
    if (grad_teacher.empty() && grad_student.empty()) return value;
    // dL/dW = scale (P + (dP/dW)^T W): the plan's own dependence on W, through the K iterations.
    const Eigen::MatrixXd w_bar = gradient_scale * (p + UnrolledSinkhornAccess::gradient(sinkhorn, w));
    if (!grad_student.empty()) side_gradient(o.cost, true, s, t, w_bar, o.temperature, grad_student, first, parallel);
    if (!grad_teacher.empty()) side_gradient(o.cost, false, s, t, w_bar, o.temperature, grad_teacher, first, parallel);
    return value;
}

template <class DT, class DS>
void check_distillation_inputs(const char* function, const Eigen::MatrixBase<DT>& teacher, const Eigen::MatrixBase<DS>& student,
                               const SinkhornDistillationOptions& options)
{
    using Scalar = typename DT::Scalar;
    static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                  "divergence: the logits of sinkhorn_distillation_loss are float or double matrices.");
    static_assert(std::is_same_v<Scalar, typename DS::Scalar>,
                  "divergence: teacher and student logits have different scalar types; convert one (x.cast<float>() or x.cast<double>()).");
    check_distillation_options(function, options);
    if (teacher.rows() == 0 || teacher.cols() == 0) fail(function, "teacher_logits", "is empty");
    if (student.rows() != teacher.rows() || student.cols() != teacher.cols()) {
        fail(function, "student_logits",
             "shapes differ: " + std::to_string(student.rows()) + " x " + std::to_string(student.cols()) + ", teacher_logits " +
                 std::to_string(teacher.rows()) + " x " + std::to_string(teacher.cols()));
    }
    if (options.validation == Validation::full) {
        const bool finite_only = std::holds_alternative<KlCost>(options.cost);
        check_logits(function, "teacher_logits", teacher, options.temperature, finite_only);
        check_logits(function, "student_logits", student, options.temperature, finite_only);
    }
}

}  // namespace detail

/// Batch-wise Sinkhorn distillation loss (SinKD) of B teacher and B student rows of logits
/// (B x V each, float or double, any layout or expression; the teacher first, as everywhere in the
/// library):
///   s_i = softmax(z^S_i / T), t_j = softmax(z^T_j / T), W_ij = c(s_i, t_j) (B x B),
///   P = unrolled_sinkhorn(W, {epsilon, iterations}) (rows first, unit row and column sums),
///   loss = scale <P, W>.
/// Gradients (optional, in out.grad_q for the student logits and out.grad_p for the teacher's, for
/// online distillation; the shape of the logits, any layout) are exact for the K iterations:
///   dL/dW = scale (P + (dP/dW)^T W) (reverse sweep of unrolled_sinkhorn), then
///   dL/dz^S_i = (1/T)(s_i * gamma_i - s_i <s_i, gamma_i>), gamma_i = sum_j dL/dW_ij dc(s_i, t_j)/ds_i
///   (Manhattan: sign(s_i - t_j), 0 at ties), and likewise for the teacher.
/// Everything is computed in double (float logits are converted), so float and double logits give
/// the same value up to the conversion of the result. Measured: the value within 3.2e-15 relative of
/// a long-double evaluation (B <= 64, V <= 32000, defaults), gradients within 1e-12 of PyTorch's
/// float64 autograd (see docs/ot.md). out.row_values, if given, has 1 entry: the loss.
/// Threads: the softmax rows, the cost rows and the gradient rows run on the executor; the result
/// is bitwise the same for any thread count.
/// Teacher == student: W_ii = 0 but P spreads mass off the diagonal (exp(-W_ij / eps) > 0), so the
/// loss is > 0 there and its gradient is not zero.
/// \throws std::invalid_argument for empty or differently shaped logits, a NaN or +inf logit, a row
/// of -inf logits, z / T overflowing, T, epsilon or scale not finite or T, epsilon <= 0, iterations < 1,
/// a -inf logit with KlCost, outputs of the wrong shape, epsilon so small that a whole column of the shifted
/// kernel exp(-(W_ij - min_j W_ij) / epsilon) underflows (as unrolled_sinkhorn).
template <class DT, class DS, class Scalar = typename DT::Scalar>
Scalar sinkhorn_distillation_loss(const Eigen::MatrixBase<DT>& teacher_logits, const Eigen::MatrixBase<DS>& student_logits,
                                  const SinkhornDistillationOptions& options = {}, const Outputs<Scalar>& out = {})
{
    constexpr const char* function = "ot::sinkhorn_distillation_loss";
    static_assert(std::is_same_v<Scalar, typename DT::Scalar>, "divergence: out is Outputs of the other scalar type; use Outputs<Scalar> of the logits' type.");
    detail::check_distillation_inputs(function, teacher_logits, student_logits, options);
    const Index b = teacher_logits.rows(), v = teacher_logits.cols();
    detail::check_gradient_output(function, "grad_p", out.grad_p, b, v);
    detail::check_gradient_output(function, "grad_q", out.grad_q, b, v);
    if (out.row_values.requested() && out.row_values.size != 1) {
        detail::fail(function, "row_values", "has " + std::to_string(out.row_values.size) + " entries for 1 problem");
    }
    const double value = options.scale * detail::distillation_group<Scalar>(function, teacher_logits, student_logits, 0, b, options,
                                                                            options.scale, out.grad_p.view, out.grad_q.view, true);
    if (out.row_values.requested()) out.row_values[0] = Scalar(value);
    return Scalar(value);
}

/// The sequence variant of SinKD: independent problems, one per group of consecutive rows (group g
/// is rows [o_g, o_g + group_sizes[g]) of both the teacher's and the student's logits, e.g. the
/// tokens of one sequence; a row-major (batch, sequence, vocabulary) tensor flattened to rows has
/// group_sizes = {S, S, ...}), each its own B_g x B_g loss as sinkhorn_distillation_loss computes it.
/// Returns the sum of the groups' losses (options.reduction = sum) or their mean (mean, batchmean);
/// out.row_values (G entries, optional) receives each group's loss, and the gradients are those of
/// the returned value. The groups run in parallel over threads (each group on one thread; with
/// fewer groups than threads, one group at a time with its rows in parallel): the same bits for
/// any thread count.
/// \throws std::invalid_argument as sinkhorn_distillation_loss, and if a group size is < 1, the
/// sizes do not add up to the number of rows, options.reduction is none, or row_values does not
/// have one entry per group.
template <class DT, class DS, class Scalar = typename DT::Scalar>
Scalar sinkhorn_distillation_loss_groups(const Eigen::MatrixBase<DT>& teacher_logits, const Eigen::MatrixBase<DS>& student_logits,
                                         const std::vector<Index>& group_sizes, const SinkhornDistillationOptions& options = {},
                                         const Outputs<Scalar>& out = {})
{
    constexpr const char* function = "ot::sinkhorn_distillation_loss_groups";
    static_assert(std::is_same_v<Scalar, typename DT::Scalar>, "divergence: out is Outputs of the other scalar type; use Outputs<Scalar> of the logits' type.");
    detail::check_distillation_inputs(function, teacher_logits, student_logits, options);
    const Index b = teacher_logits.rows(), v = teacher_logits.cols();
    detail::check_gradient_output(function, "grad_p", out.grad_p, b, v);
    detail::check_gradient_output(function, "grad_q", out.grad_q, b, v);
    if (options.reduction == Reduction::none) {
        detail::fail(function, "options.reduction", "Reduction::none has one value per group, not a single value: use sum and Outputs::row_values");
    }
    const Index groups = Index(group_sizes.size());
    if (groups == 0) detail::fail(function, "group_sizes", "is empty");
    std::vector<Index> offsets(group_sizes.size());
    Index total = 0;
    for (Index g = 0; g < groups; ++g) {
        if (group_sizes[std::size_t(g)] < 1) {
            detail::fail(function, "group_sizes", g, -1, detail::describe("group size must be >= 1, got", group_sizes[std::size_t(g)]));
        }
        offsets[std::size_t(g)] = total;
        total += group_sizes[std::size_t(g)];
    }
    if (total != b) {
        detail::fail(function, "group_sizes", "add up to " + std::to_string(total) + " rows, the logits have " + std::to_string(b));
    }
    if (out.row_values.requested() && out.row_values.size != groups) {
        detail::fail(function, "row_values", "has " + std::to_string(out.row_values.size) + " entries for " + std::to_string(groups) + " groups");
    }
    // The gradients are those of the returned value: each group's scaled by 1/G for the mean.
    const double gradient_scale = options.reduction == Reduction::sum ? options.scale : options.scale / double(groups);
    std::vector<double> values(group_sizes.size());
    // A group's error (epsilon too small for its cost) is kept and the first group's rethrown after the
    // loop: an exception must not leave a thread's share of the work.
    std::vector<std::exception_ptr> errors(group_sizes.size());
    const bool across_groups = groups >= Index(divergence::detail::executor_threads());
    const auto run = [&](Index g) {
        try {
            values[std::size_t(g)] = options.scale * detail::distillation_group<Scalar>(function, teacher_logits, student_logits,
                                                                                        offsets[std::size_t(g)], group_sizes[std::size_t(g)],
                                                                                        options, gradient_scale, out.grad_p.view,
                                                                                        out.grad_q.view, !across_groups);
        } catch (...) {
            errors[std::size_t(g)] = std::current_exception();
        }
    };
    if (across_groups) {
        detail::each_row(groups, true, run);
    } else {
        for (Index g = 0; g < groups; ++g) run(g);
    }
    for (const std::exception_ptr& error : errors) {
        if (error) std::rethrow_exception(error);
    }
    double sum = 0.0;
    for (Index g = 0; g < groups; ++g) {
        sum += values[std::size_t(g)];  // fixed order
        if (out.row_values.requested()) out.row_values[g] = Scalar(values[std::size_t(g)]);
    }
    if (options.reduction != Reduction::sum) sum /= double(groups);
    return Scalar(sum);
}

}  // namespace divergence::ot

#endif
