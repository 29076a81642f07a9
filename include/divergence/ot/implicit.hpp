#ifndef DIVERGENCE_OT_IMPLICIT_HPP
#define DIVERGENCE_OT_IMPLICIT_HPP

// The exact gradient of the linear transport cost L = <P*, C> of the entropic OT plan (POT's
// sinkhorn2, the number SinKD-style losses report), by implicit differentiation of the
// first-order conditions (Luise et al., NeurIPS 2018, arXiv 1805.11897), solved matrix-free by
// conjugate gradients. The envelope theorem gives d OT_eps / d C = P for the *value*, not for L:
// d L / d C = P + (d P* / d C)^T C needs the derivative of the plan.
//
// Derivation (notation of sinkhorn.hpp). P_ij = a_i b_j K_ij, K_ij = exp((f_i + g_j - C_ij) / eps),
// r = P 1, c = P^T 1. Optimality: r_i = a_i exp(-f_i / rho_a), c_j = b_j exp(-g_j / rho_b)
// (rho = inf: r = a, c = b). Their differential in (df, dg) at the fixed point is, after
// multiplying by eps (the da and d(exp(-f/rho)) terms in a_i cancel because r_i / a_i equals the
// target's a_i-derivative there):
//   M [df; dg] = [ (P o dC) 1 - eps sum_j a_i K_ij db_j ; (P o dC)^T 1 - eps sum_i b_j K_ij da_i ]
//                + (deps / eps) [ (P o S) 1 ; (P o S)^T 1 ],   S_ij = f_i + g_j - C_ij,
//   M = [ diag(r) (1 + eps / rho_a)   P ;  P^T   diag(c) (1 + eps / rho_b) ]   (symmetric, >= 0).
// Balanced, M (1, -1) = 0 (the shift f + t, g - t) and every right-hand side is orthogonal to
// (1, -1) (for da, db: when sum da = sum db, the directions in which the problem is defined).
// dL = <P, dC> + sum_ij C_ij dP_ij with dP_ij = P_ij (df_i + dg_j - dC_ij - S_ij deps / eps) / eps
// + da_i b_j K_ij + a_i db_j K_ij. Adjoint: one solve of
//   M [mu_f; mu_g] = [ (P o C) 1 ; (P o C)^T 1 ]
// gives every derivative (T_ij = 1 + (mu_f_i + mu_g_j - C_ij) / eps):
//   d L / d C_ij  = G_ij = P_ij T_ij,
//   d L / d a_i   = sum_j b_j K_ij (C_ij - mu_g_j),   d L / d b_j = sum_i a_i K_ij (C_ij - mu_f_i),
//   d L / d eps   = (1 / eps^2) sum_ij P_ij S_ij (mu_f_i + mu_g_j - C_ij),
//   d L / d x_i   = sum_j G_ij grad_x c(x_i, y_j),     d L / d y_j = sum_i G_ij grad_y c(x_i, y_j).
// Every one is invariant under mu + t (1, -1) but d L / d a, d L / d b, which move by a constant
// (t, -t): balanced, they are returned centered, like Solution::gradient_a.
//
// Matrix-free: M v needs P v_g and P^T v_f, one executor pass over the rows of the cost and one over
// the rows of its transpose, the plan entries recomputed a block at a time from the cost source
// (as the solver does, never stored). CG with the Jacobi preconditioner diag(M), on the complement
// of the kernel when balanced (every residual is projected onto the range of M). Deterministic for
// any number of threads.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/ot/sinkhorn.hpp"


// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence::ot {

/// Options of the adjoint solve of linear_cost_gradient.
struct ImplicitOptions {
    /// Stop when ||M mu - rhs||_2 <= tolerance ||rhs||_2 (the true residual, recomputed at the end);
    /// in [0, 1), finite. The gradient's relative error is about tolerance times the condition
    /// number of M restricted to the complement of its kernel.
    double tolerance = 1e-10;
    Index max_iterations = 1000;  ///< conjugate-gradient iterations at most (each: 2 passes over the cost), > 0
    /// Tikhonov term tau added to the diagonal of M (in units of mass), >= 0, finite. Not needed:
    /// the balanced kernel is projected out. tau > 0 biases the gradient by O(tau / lambda_min(M)).
    double ridge = 0.0;
};

/// Why the conjugate-gradient solve stopped.
enum class ImplicitStatus {
    converged,        ///< relative residual <= tolerance
    iteration_limit,  ///< max_iterations reached first: the gradients are those of the last iterate
    stalled,          ///< no further progress (p^T M p <= 0 or a residual that stops decreasing): rounding
};

inline const char* to_string(ImplicitStatus s)
{
    switch (s) {
    case ImplicitStatus::converged: return "converged";
    case ImplicitStatus::iteration_limit: return "iteration limit";
    case ImplicitStatus::stalled: return "stalled";
    }
    return "?";
}

/// The gradient of L = <P*, C> (SinkhornResult::linear) with respect to everything it depends on.
struct LinearCostGradient {
    double linear = 0.0;            ///< <P, C>, recomputed from the solution (equals its `linear`)
    Eigen::VectorXd gradient_a;     ///< d L / d a (n); balanced: centered (only differences count)
    Eigen::VectorXd gradient_b;     ///< d L / d b (m); balanced: centered
    RowMatrix<double> gradient_cost;  ///< d L / d C (n x m), cost matrices only (empty for point clouds)
    RowMatrix<double> gradient_x;   ///< d L / d x (n x d), point clouds only
    RowMatrix<double> gradient_y;   ///< d L / d y (m x d), point clouds only
    double gradient_epsilon = 0.0;  ///< d L / d eps
    /// The adjoint potentials mu_f (n), mu_g (m) solving M mu = [(P o C) 1; (P o C)^T 1] (balanced:
    /// up to (t, -t)); d L / d theta = <P, dC/dtheta o T> for a cost C(theta) of your own, T as above.
    Eigen::VectorXd multiplier_f, multiplier_g;
    /// ||P 1 - a exp(-f / rho_a)||_1 + ||P^T 1 - b exp(-g / rho_b)||_1 of the solution: the distance
    /// from the fixed point at which the formulas are exact (the gradients' error is proportional to it).
    double fixed_point_error = 0.0;
    Index iterations = 0;           ///< conjugate-gradient iterations done
    double residual = 0.0;          ///< final true relative residual ||M mu - rhs|| / ||rhs||
    ImplicitStatus status = ImplicitStatus::iteration_limit;

    bool converged() const { return status == ImplicitStatus::converged; }
};

namespace detail {

/// Per-row sums of one pass over the plan (row i of a cost source; for the transposed source, a column).
struct ImplicitRowSums {
    double mass = 0.0;     ///< sum_j P_ij
    double linear = 0.0;   ///< sum_j P_ij C_ij
    double product = 0.0;  ///< sum_j P_ij v_j (a product pass computes only this)
    double weight = 0.0;   ///< sum_j w_j K_ij (C_ij - mu_col_j) = d L / d (row weight)
    double epsilon = 0.0;  ///< sum_j P_ij S_ij (mu_row_i + mu_col_j - C_ij)

    void add(const ImplicitRowSums& o)
    {
        mass += o.mass;
        linear += o.linear;
        product += o.product;
        weight += o.weight;
        epsilon += o.epsilon;
    }
};

/// One pass over the plan P_ij = u_i w_j K_ij of a cost source (u: the rows' weights, w: the columns'),
/// K_ij = exp((f_i + g_j - c_ij) / eps), a block of a row at a time from cost.fill (nothing n x m is
/// stored). With v (a CG product), (P v)_i only; otherwise the mass and <P_i, C_i>, and with the multipliers (the last pass),
/// the weight and epsilon sums and the row of G = P o T, written to `gradient_cost` and/or chained
/// through the cost's point gradient into `gradient_points` (then one chunk per row: see run).
template <class Cost>
struct ImplicitRowsJob : divergence::detail::IndexedRowJob {
    const Cost& cost;
    const double* row_weights;      ///< u (not log)
    const double* log_col_weights;  ///< log w (-inf where w = 0)
    const double* f;
    const double* g;
    const double* h;               ///< log w_j + g_j / eps (-inf where w_j = 0), for softmin_fill
    double epsilon;
    const double* v;               ///< columns' vector for (P v)_i, or null
    const double* mu_row;          ///< multipliers (the last pass), or null
    const double* mu_col;
    ImplicitRowSums* sums;         ///< per row
    double* gradient_cost;         ///< row-major rows x cols, or null
    double* gradient_points;       ///< row-major rows x dimension, or null (point costs only)

    ImplicitRowSums start(divergence::detail::Pass<0>, Index) const { return {}; }
    void merge(divergence::detail::Pass<0>, ImplicitRowSums& into, const ImplicitRowSums& next, Index) const { into.add(next); }
    void finish(divergence::detail::Pass<0>, Index& i, const ImplicitRowSums& s) const { sums[i] = s; }
    void accumulate(divergence::detail::Pass<0>, ImplicitRowSums& s, Index i, Index begin, Index end) const
    {
        constexpr Index block = divergence::detail::fused_block;
        double c[block], q[block], t[block];
        const double inverse_epsilon = 1.0 / epsilon, u = row_weights[i];
        for (Index b = begin; b < end; b += block) {
            const Index n = std::min(block, end - b);
            // q_j = w_j K_ij: the plan row divided by u_i, finite also where u_i = 0 (d L / d u_i needs it)
            if constexpr (has_softmin_fill<Cost>::value) {
                if (v && !mu_row) {
                    // the cost's packet path, where it has one: q_j = exp(f_i / eps + h_j - c_ij / eps)
                    cost.softmin_fill(i, b, b + n, h, inverse_epsilon, q);
                    for (Index k = 0; k < n; ++k) q[k] += f[i] * inverse_epsilon;
                } else {
                    cost.fill(i, b, b + n, c);
                    for (Index k = 0; k < n; ++k) q[k] = log_col_weights[b + k] + (f[i] + g[b + k] - c[k]) * inverse_epsilon;
                }
            } else {
                cost.fill(i, b, b + n, c);
                for (Index k = 0; k < n; ++k) q[k] = log_col_weights[b + k] + (f[i] + g[b + k] - c[k]) * inverse_epsilon;
            }
            exp_shifted(q, 0.0, q, n);
            if (v && !mu_row) {
                // (P v)_i alone, the work of a CG iteration: a packet dot product (q = 0 where C = inf)
                namespace simd = divergence::detail::simd;
                using P = simd::Packet<double>;
                constexpr Index width = simd::lanes<P>;
                P dot = simd::broadcast<P>(0.0);
                Index k = 0;
                for (; k + width <= n; k += width) dot = simd::madd(simd::load<P>(q + k), simd::load<P>(v + b + k), dot);
                if (k < n) dot = simd::madd(simd::load_partial<P>(q + k, n - k, 0.0), simd::load_partial<P>(v + b + k, n - k, 0.0), dot);
                s.product += u * simd::reduce_add(dot);
                continue;
            }
            for (Index k = 0; k < n; ++k) {
                t[k] = 0.0;
                if (q[k] == 0.0) continue;  // 0 * C = 0 where C = inf
                const double p = u * q[k];
                s.mass += p;
                s.linear += p * c[k];
                if (mu_row) {
                    const double centered = mu_row[i] + mu_col[b + k] - c[k];
                    s.weight += q[k] * (c[k] - mu_col[b + k]);
                    s.epsilon += p * (f[i] + g[b + k] - c[k]) * centered;
                    t[k] = p * (1.0 + centered * inverse_epsilon);
                }
            }
            if (!mu_row) continue;
            if (gradient_cost) std::copy(t, t + n, gradient_cost + i * cost.cols() + b);
            if constexpr (Cost::has_points) {
                if (gradient_points) cost.add_gradient(i, b, b + n, t, gradient_points + i * cost.dimension());
            }
        }
    }
};

template <class Cost>
std::vector<ImplicitRowSums> implicit_rows(const Cost& cost, const std::vector<double>& row_weights, const std::vector<double>& log_col_weights,
                                           const Eigen::VectorXd& f, const Eigen::VectorXd& g, double epsilon, const double* v = nullptr,
                                           const double* mu_row = nullptr, const double* mu_col = nullptr, double* gradient_cost = nullptr,
                                           double* gradient_points = nullptr)
{
    std::vector<ImplicitRowSums> sums(std::size_t(cost.rows()));
    std::vector<double> h(log_col_weights.size());
    for (std::size_t j = 0; j < h.size(); ++j) h[j] = log_col_weights[j] == -infinity ? -infinity : log_col_weights[j] + g(Index(j)) / epsilon;
    const ImplicitRowsJob<Cost> job{{}, cost, row_weights.data(), log_col_weights.data(), f.data(), g.data(), h.data(), epsilon, v,
                                    mu_row, mu_col, sums.data(), gradient_cost, gradient_points};
    // A row's point gradient is accumulated by the task that owns the row: one chunk per row then.
    // Otherwise chunks of fused_chunk columns, merged in order: the same bits for any thread count.
    const Index chunk = gradient_points ? std::max(Index(1), cost.cols()) : divergence::detail::fused_chunk;
    divergence::detail::execute(job, cost.rows(), divergence::detail::Chunks{cost.cols(), chunk});
    return sums;
}

inline std::vector<double> log_of(const std::vector<double>& w)
{
    std::vector<double> out(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) out[i] = w[i] > 0.0 ? std::log(w[i]) : -infinity;
    return out;
}

inline void check_implicit_options(const char* function, const ImplicitOptions& o)
{
    if (!(o.tolerance >= 0.0 && o.tolerance < 1.0)) fail(function, "options.tolerance", describe("must be in [0, 1), got", o.tolerance));
    if (o.max_iterations <= 0) fail(function, "options.max_iterations", describe("must be > 0, got", o.max_iterations));
    if (!(o.ridge >= 0.0) || !std::isfinite(o.ridge)) fail(function, "options.ridge", describe("must be finite and >= 0, got", o.ridge));
}

}  // namespace detail

/// d <P*, C> / d (C, a, b, eps, points) at a converged Sinkhorn solution `s` (balanced or
/// unbalanced: the reaches it was solved with are its own), by one adjoint solve (see the top of
/// this header for the system and the formulas). Cost matrices give gradient_cost (n x m); point
/// clouds gradient_x and gradient_y, and no n x m matrix is stored: each CG iteration recomputes the
/// plan twice, block by block (2 n m exponentials, like one Sinkhorn iteration).
/// Exact at the fixed point only: a solution that did not converge is refused, and the error of
/// the returned gradients is proportional to fixed_point_error (measured here and returned).
/// Balanced: only the differences of gradient_a (of gradient_b) count, as mass moves on the
/// simplex; they are returned centered. Unbalanced: full partial derivatives.
/// \throws std::invalid_argument if `s` did not converge (status not converged), if its plan's
/// marginals do not satisfy its optimality conditions (a solution modified after the solve), or
/// for options out of range.
template <class Cost>
LinearCostGradient linear_cost_gradient(const Solution<Cost>& s, const ImplicitOptions& options = {})
{
    using divergence::detail::fail;
    using divergence::detail::describe;
    constexpr const char* function = "ot::linear_cost_gradient";
    detail::check_implicit_options(function, options);
    if (s.status != SinkhornStatus::converged) {
        fail(function, "s",
             std::string("the solution did not converge (status: ") + to_string(s.status) +
                 "): the implicit gradient is exact only at the fixed point; solve with more max_iterations or check the problem");
    }
    const Index n = s.cost.rows(), m = s.cost.cols();
    const double eps = s.epsilon;
    const bool balanced = std::isinf(s.reach_a) && std::isinf(s.reach_b);
    const Cost transposed = s.cost.transpose();
    const std::vector<double> log_a = detail::log_of(s.a), log_b = detail::log_of(s.b);

    // The plan's marginals and the adjoint's right-hand side [(P o C) 1; (P o C)^T 1].
    const std::vector<detail::ImplicitRowSums> rows = detail::implicit_rows(s.cost, s.a, log_b, s.f, s.g, eps);
    const std::vector<detail::ImplicitRowSums> columns = detail::implicit_rows(transposed, s.b, log_a, s.g, s.f, eps);
    LinearCostGradient out;
    const Index size = n + m;
    Eigen::VectorXd rhs(size), diagonal(size), inverse_diagonal(size), support = Eigen::VectorXd::Zero(size);
    double mass = 0.0, error = 0.0;
    const auto side = [&](const std::vector<detail::ImplicitRowSums>& sums, const std::vector<double>& w, const Eigen::VectorXd& potential,
                          double reach, Index offset) {
        const double stiffness = 1.0 + eps / reach;  // 1 when balanced
        for (Index i = 0; i < Index(sums.size()); ++i) {
            const detail::ImplicitRowSums& r = sums[std::size_t(i)];
            const double wi = w[std::size_t(i)];
            rhs(offset + i) = r.linear;
            diagonal(offset + i) = stiffness * r.mass + options.ridge;
            // Zero-weight points have no equation (their row of M is 0): kept at 0.
            inverse_diagonal(offset + i) = wi > 0.0 && diagonal(offset + i) > 0.0 ? 1.0 / diagonal(offset + i) : 0.0;
            if (wi > 0.0) support(offset + i) = offset == 0 ? 1.0 : -1.0;
            const double target = wi == 0.0 ? 0.0 : (std::isinf(reach) ? wi : wi * std::exp(-potential(i) / reach));
            error += std::abs(r.mass - target);
        }
    };
    side(rows, s.a, s.f, s.reach_a, 0);
    side(columns, s.b, s.g, s.reach_b, n);
    for (const auto& r : rows) {
        mass += r.mass;
        out.linear += r.linear;
    }
    out.fixed_point_error = error;
    // A converged solution is within its own tolerance (in its norm: at most n + m times the L1
    // error's share per entry); one whose potentials were changed after the solve is not.
    const double allowed = 1e-6 * mass + double(size) * (s.marginal_error_a + s.marginal_error_b);
    if (!(error <= allowed)) {
        fail(function, "s",
             describe("the plan's marginals miss the solution's optimality conditions by (L1)", error) +
                 describe(", more than its own marginal error allows", allowed) + ": the potentials are not the solve's");
    }

    // The balanced kernel (1 on the rows, -1 on the columns, where the weights are > 0) is projected
    // out of the right-hand side and every residual: CG then stays on the range of M.
    const double support_size = support.squaredNorm();
    const auto project = [&](Eigen::VectorXd& r) {
        for (Index i = 0; i < size; ++i) {
            if (support(i) == 0.0) r(i) = 0.0;
        }
        if (balanced && support_size > 0.0) r -= (support.dot(r) / support_size) * support;
    };
    const auto apply = [&](const Eigen::VectorXd& x) {  // M x
        const auto row_pass = detail::implicit_rows(s.cost, s.a, log_b, s.f, s.g, eps, x.data() + n);
        const auto column_pass = detail::implicit_rows(transposed, s.b, log_a, s.g, s.f, eps, x.data());
        Eigen::VectorXd y(size);
        for (Index i = 0; i < n; ++i) y(i) = diagonal(i) * x(i) + row_pass[std::size_t(i)].product;
        for (Index j = 0; j < m; ++j) y(n + j) = diagonal(n + j) * x(n + j) + column_pass[std::size_t(j)].product;
        return y;
    };

    project(rhs);
    const double rhs_norm = rhs.norm();
    Eigen::VectorXd mu = Eigen::VectorXd::Zero(size);
    if (rhs_norm == 0.0) {
        out.status = ImplicitStatus::converged;
    } else {
        // Preconditioned CG; when the updated residual meets the tolerance, the true residual is
        // recomputed and CG restarted from it if it does not (at most a few times: rounding).
        Eigen::VectorXd residual = rhs, z, p, q;
        int replacements = 0;
        double rz = 0.0;
        bool restart = true;
        double true_residual = 1.0;
        for (;;) {
            if (restart) {
                z = inverse_diagonal.cwiseProduct(residual);
                p = z;
                rz = residual.dot(z);
                restart = false;
            }
            if (out.iterations == options.max_iterations) {
                out.status = ImplicitStatus::iteration_limit;
                break;
            }
            q = apply(p);
            const double curvature = p.dot(q);
            if (!(curvature > 0.0) || !(rz > 0.0)) {
                out.status = ImplicitStatus::stalled;
                break;
            }
            const double alpha = rz / curvature;
            mu += alpha * p;
            residual -= alpha * q;
            project(residual);
            ++out.iterations;
            if (residual.norm() <= options.tolerance * rhs_norm) {
                residual = rhs - apply(mu);
                project(residual);
                true_residual = residual.norm() / rhs_norm;
                if (true_residual <= options.tolerance) {
                    out.status = ImplicitStatus::converged;
                    break;
                }
                if (++replacements > 3) {
                    out.status = ImplicitStatus::stalled;
                    break;
                }
                restart = true;
                continue;
            }
            z = inverse_diagonal.cwiseProduct(residual);
            const double rz_next = residual.dot(z);
            p = z + (rz_next / rz) * p;
            rz = rz_next;
        }
        if (out.status != ImplicitStatus::converged) {
            Eigen::VectorXd r = rhs - apply(mu);
            project(r);
            true_residual = r.norm() / rhs_norm;
        }
        out.residual = true_residual;
    }
    out.multiplier_f = mu.head(n);
    out.multiplier_g = mu.tail(m);

    // The gradients, from one more pass over the rows and one over the columns.
    double* gradient_cost = nullptr;
    double* gradient_x = nullptr;
    double* gradient_y = nullptr;
    if constexpr (Cost::has_points) {
        out.gradient_x = RowMatrix<double>::Zero(n, s.cost.dimension());
        out.gradient_y = RowMatrix<double>::Zero(m, s.cost.dimension());
        gradient_x = out.gradient_x.data();
        gradient_y = out.gradient_y.data();
    } else {
        out.gradient_cost.resize(n, m);
        gradient_cost = out.gradient_cost.data();
    }
    const auto row_pass =
        detail::implicit_rows(s.cost, s.a, log_b, s.f, s.g, eps, nullptr, out.multiplier_f.data(), out.multiplier_g.data(), gradient_cost, gradient_x);
    const auto column_pass =
        detail::implicit_rows(transposed, s.b, log_a, s.g, s.f, eps, nullptr, out.multiplier_g.data(), out.multiplier_f.data(), nullptr, gradient_y);
    out.gradient_a.resize(n);
    out.gradient_b.resize(m);
    double epsilon_sum = 0.0;
    for (Index i = 0; i < n; ++i) {
        out.gradient_a(i) = row_pass[std::size_t(i)].weight;
        epsilon_sum += row_pass[std::size_t(i)].epsilon;
    }
    for (Index j = 0; j < m; ++j) out.gradient_b(j) = column_pass[std::size_t(j)].weight;
    out.gradient_epsilon = epsilon_sum / (eps * eps);
    if (balanced) {
        out.gradient_a.array() -= out.gradient_a.mean();
        out.gradient_b.array() -= out.gradient_b.mean();
    }
    return out;
}

}  // namespace divergence::ot

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
