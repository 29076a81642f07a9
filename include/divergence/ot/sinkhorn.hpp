#ifndef DIVERGENCE_OT_SINKHORN_HPP
#define DIVERGENCE_OT_SINKHORN_HPP

// Entropic optimal transport by log-domain Sinkhorn iterations (Cuturi 2013; the log-domain,
// symmetric and annealed forms of Feydy et al. 2019 and Schmitzer 2019), balanced or with
// KL-relaxed marginals (Chizat et al. 2018; Sejourne et al. 2019).
//
// Problem (KL form, GeomLoss' and OTT's convention), weights a (n) and b (m), cost C (n x m):
//   OT_eps(a, b) = min_P <C, P> + eps KL(P || a b^T) + rho_a KL(P 1 || a) + rho_b KL(P^T 1 || b)
// with generalized KL(p || q) = sum p log(p/q) - sum p + sum q; rho = +inf (the default) is the
// balanced problem P 1 = a, P^T 1 = b. Dual potentials f (n), g (m):
//   P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps),
//   f_i <- lambda_a softmin_i(g),  softmin_i(g) = -eps log sum_j b_j exp((g_j - C_ij) / eps),
//   g_j <- lambda_b softmin_j(f),  lambda = rho / (rho + eps)  (1 when balanced).
// Each half-iteration is one pass of the executor over rows of C (or of C^T), a per-row
// log-sum-exp of log b_j + (g_j - C_ij) / eps: nothing overflows at any eps.

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/ot/dense_softmin.hpp"
#include "divergence/ot/point_softmin.hpp"
#include "divergence/ot/cost.hpp"


// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence::ot {

/// How an iteration updates the potentials.
enum class SinkhornUpdate {
    alternating,  ///< f from g, then g from the new f (Sinkhorn-Knopp); `relaxation` applies
    symmetric,    ///< f and g both from the old pair, then averaged with it (GeomLoss' update)
};

/// The norm of the marginal errors ||P 1 - a|| and ||P^T 1 - b||.
enum class MarginalNorm { l1, l2, max };

/// Why the solver stopped.
enum class SinkhornStatus {
    converged,        ///< marginal error <= tolerance (at the target epsilon)
    iteration_limit,  ///< max_iterations reached first: the potentials are the last iterate's
    infeasible,       ///< a point of positive weight has an infinite cost to every point of positive weight
};

inline const char* to_string(SinkhornStatus s)
{
    switch (s) {
    case SinkhornStatus::converged: return "converged";
    case SinkhornStatus::iteration_limit: return "iteration limit";
    case SinkhornStatus::infeasible: return "infeasible";
    }
    return "?";
}

struct SinkhornOptions {
    double epsilon = 0.05;       ///< entropic regularization (> 0), in the units of the cost
    Index max_iterations = 1000;  ///< iterations (one f and one g update each) at most, annealing included
    /// Stop when ||P 1 - a|| + ||P^T 1 - b|| <= tolerance (KL-relaxed sides: the residual of their
    /// optimality condition P 1 = a exp(-f / rho_a), the same quantity when rho = inf).
    double tolerance = 1e-9;
    MarginalNorm norm = MarginalNorm::l1;
    SinkhornUpdate update = SinkhornUpdate::alternating;
    /// Over-relaxation omega in (0, 2) of the alternating update: f <- (1 - omega) f + omega f_new.
    double relaxation = 1.0;
    /// Epsilon annealing: when > epsilon, the first iterations use epsilon_k = max(epsilon,
    /// epsilon_start * epsilon_factor^k), one iteration per value (e.g. the cost's diameter, 0.5).
    double epsilon_start = 0.0;
    double epsilon_factor = 0.5;
    /// Marginal relaxation strengths rho (> 0; +inf: that marginal is a hard constraint).
    double reach_a = std::numeric_limits<double>::infinity();
    double reach_b = std::numeric_limits<double>::infinity();
    /// Warm start: initial potentials (sizes n and m), e.g. a previous solution's f and g.
    const Eigen::VectorXd* initial_f = nullptr;
    const Eigen::VectorXd* initial_g = nullptr;
};

/// What a solve returns: the value, its parts, the potentials, and whether and how well it converged.
/// Every number describes the same returned iterate (f, g) and its plan.
struct SinkhornResult {
    double value = 0.0;      ///< OT_eps = linear + entropic + marginal_penalty
    double linear = 0.0;     ///< <P, C> (POT's sinkhorn2)
    double entropic = 0.0;   ///< eps KL(P || a b^T) (generalized KL)
    double marginal_penalty = 0.0;  ///< rho_a KL(P 1 || a) + rho_b KL(P^T 1 || b) (0 when balanced)
    double plan_mass = 0.0;  ///< sum_ij P_ij
    /// sum_i a_i log a_i + sum_j b_j log b_j: POT's entropy form <C, P> + eps sum P log P equals
    /// value + epsilon * weights_entropy_term for balanced problems with unit masses.
    double weights_entropy_term = 0.0;
    Eigen::VectorXd f, g;    ///< dual potentials; balanced: shifted so that <a, f> = <b, g>
    double epsilon = 0.0;
    double reach_a = 0.0, reach_b = 0.0;  ///< the marginal relaxations solved with (+inf: balanced side)
    Index iterations = 0;    ///< full iterations done (annealing included)
    double marginal_error_a = 0.0, marginal_error_b = 0.0;  ///< of the returned (f, g), in options.norm
    SinkhornStatus status = SinkhornStatus::iteration_limit;

    bool converged() const { return status == SinkhornStatus::converged; }
    /// d value / d epsilon = KL(P || a b^T) (envelope theorem, at convergence).
    double gradient_epsilon() const { return entropic / epsilon; }
};

namespace detail {

template <class Cost, class = void>
struct has_softmin_fill : std::false_type {};
template <class Cost>
struct has_softmin_fill<Cost, std::void_t<decltype(std::declval<const Cost&>().softmin_fill(Index(), Index(), Index(), nullptr, 0.0, nullptr))>>
    : std::true_type {};

/// t[k] = h[j] - c_ij / eps for j = begin + k, k < end - begin: a block of a softmin row's arguments.
template <class Cost>
void softmin_arguments(const Cost& cost, Index i, Index begin, Index end, const double* h, double inverse_epsilon, double* t)
{
    if constexpr (has_softmin_fill<Cost>::value) {
        cost.softmin_fill(i, begin, end, h, inverse_epsilon, t);
    } else {
        cost.fill(i, begin, end, t);
        for (Index k = 0; k < end - begin; ++k) t[k] = h[begin + k] - t[k] * inverse_epsilon;
    }
}

/// Whether a pass over a rows x cols plan is worth a parallel region: below 2^18 entries (a fraction
/// of a millisecond on one core) the threads' start and barrier cost more than they save, and on a
/// loaded machine a barrier can wait a whole scheduler time slice (a 300 x 400 example ran 40x
/// slower on two busy cores than on one).
inline bool worth_threads(Index rows, Index cols) { return double(rows) * double(cols) >= double(1 << 18); }

/// The softmin half-iteration as an executor job: for every row i of the cost,
///   out_i = -eps log sum_j exp(h_j - c_ij / eps),
/// a block of the row's arguments at a time (computed by the cost, never stored whole) added to the
/// row's LogSumExp. ExpScalar float: exponentials in float lanes of arguments reduced in double.
template <class Cost, class ExpScalar>
struct SoftminJob : divergence::detail::IndexedRowJob {
    using LogSumExp = divergence::detail::LogSumExp;
    const Cost& cost;
    const double* h;  ///< h_j = log w_j + potential_j / eps (-inf where w_j = 0)
    double epsilon;
    double* out;

    LogSumExp start(divergence::detail::Pass<0>, Index) const { return {}; }
    void accumulate(divergence::detail::Pass<0>, LogSumExp& state, Index i, Index begin, Index end) const
    {
        namespace simd = divergence::detail::simd;
        constexpr Index block = divergence::detail::fused_block;
        alignas(64) double t[block];
        const double inverse_epsilon = 1.0 / epsilon;
        for (Index b = begin; b < end; b += block) {
            const Index n = std::min(block, end - b);
            softmin_arguments(cost, i, b, b + n, h, inverse_epsilon, t);
            if constexpr (std::is_same_v<ExpScalar, float>) {
                divergence::detail::accumulate_logsumexp_in_float<simd::Packet<float>>(state, t, 0, n);
            } else {
                divergence::detail::accumulate_logsumexp<simd::Packet<double>>(state, t, 0, n, 1.0);
            }
        }
    }
    void merge(divergence::detail::Pass<0>, LogSumExp& into, const LogSumExp& next, Index) const { into.merge(next); }
    void finish(divergence::detail::Pass<0>, Index& i, const LogSumExp& state) const { out[i] = -epsilon * state.value(); }
};

/// out_i = -eps log sum_j exp(h_j - c_ij / eps) for every row of `cost`, a row at a time, on the executor.
template <class ExpScalar, class Cost>
void row_softmin(const Cost& cost, const std::vector<double>& h, double epsilon, std::vector<double>& out)
{
    out.resize(std::size_t(cost.rows()));
    const SoftminJob<Cost, ExpScalar> job{{}, cost, h.data(), epsilon, out.data()};
    divergence::detail::execute(job, cost.rows(), divergence::detail::Chunks{cost.cols(), divergence::detail::fused_chunk},
                                worth_threads(cost.rows(), cost.cols()));
}

/// out_i = -eps log sum_j exp(h_j - c_ij / eps) for every row of `cost`, on the executor (the cost
/// sources with a faster pass of their own have an overload below).
template <class ExpScalar, class Cost>
void softmin(const Cost& cost, const std::vector<double>& h, double epsilon, std::vector<double>& out)
{
    row_softmin<ExpScalar>(cost, h, epsilon, out);
}

template <class Cost>
struct is_dense_cost : std::false_type {};
template <class Scalar>
struct is_dense_cost<DenseCost<Scalar>> : std::true_type {};

/// The softmin over the rows of a cost matrix, or over its columns (a transposed source): streamed
/// by the matrix's rows either way (the one stored matrix, see dense_softmin.hpp).
template <class ExpScalar, class Scalar>
void softmin(const DenseCost<Scalar>& cost, const std::vector<double>& h, double epsilon, std::vector<double>& out)
{
    const bool t = cost.transposed();
    dense_softmin<ExpScalar>(cost.matrix_data(), t ? cost.cols() : cost.rows(), t ? cost.rows() : cost.cols(), t, h, epsilon, out,
                             worth_threads(cost.rows(), cost.cols()));
}

/// The softmin between point clouds with the squared Euclidean cost, by tiles of rows (point_softmin.hpp):
/// at d = 16 a row at a time was bound by reading the other cloud's coordinates, not by the exps.
template <class ExpScalar>
void softmin(const PointCost<SquaredEuclidean>& cost, const std::vector<double>& h, double epsilon, std::vector<double>& out)
{
    point_tile_softmin<ExpScalar>(cost, h, epsilon, out, worth_threads(cost.rows(), cost.cols()));
}

/// out[k] = exp(shift + x[k]), k < n, in packets.
template <class S>
void exp_shifted(const S* x, S shift, S* out, Index n)
{
    namespace simd = divergence::detail::simd;
    using P = simd::Packet<S>;
    constexpr Index width = simd::lanes<P>;
    const P s = simd::broadcast<P>(shift);
    Index k = 0;
    for (; k + width <= n; k += width) simd::store(out + k, simd::exp(simd::add(s, simd::load<P>(x + k))));
    if (k < n) simd::store_partial(out + k, simd::exp(simd::add(s, simd::load_partial<P>(x + k, n - k, S(0)))), n - k);
}

/// g(a) = a e^a - e^a + 1 = x log x - x + 1 at x = e^a, in packets: accurate also near a = 0, where
/// it is a^2 / 2 + a^3 / 3 + ... (Taylor, (k - 1) a^k / k!, to k = 18: truncation below 1e-17
/// relative for |a| <= 1/2); g(-inf) = 1.
template <class P>
DIVERGENCE_SIMD_INLINE P gap_of_log(const P& a)
{
    namespace simd = divergence::detail::simd;
    using S = simd::scalar_of<P>;
    const P e = simd::exp(a), one = simd::broadcast<P>(S(1));
    // e^a (a - 1) + 1, not a e^a - e^a + 1: where e^a overflows (a > 709, potentials far from the
    // solution at a smaller epsilon) that was inf - inf = NaN; this is +inf, the limit.
    const P direct = simd::madd(e, simd::sub(a, one), one);
    // (k - 1) / k! for k = 18 .. 2, by Horner
    static constexpr double coefficient[17] = {17.0 / 6402373705728000.0, 16.0 / 355687428096000.0, 15.0 / 20922789888000.0,
                                               14.0 / 1307674368000.0,    13.0 / 87178291200.0,      12.0 / 6227020800.0,
                                               11.0 / 479001600.0,        10.0 / 39916800.0,         9.0 / 3628800.0,
                                               8.0 / 362880.0,            7.0 / 40320.0,             6.0 / 5040.0,
                                               5.0 / 720.0,               4.0 / 120.0,               3.0 / 24.0,
                                               2.0 / 6.0,                 1.0 / 2.0};
    P series = simd::broadcast<P>(S(coefficient[0]));
    for (int k = 1; k < 17; ++k) series = simd::madd(series, a, simd::broadcast<P>(S(coefficient[k])));
    series = simd::mul(series, simd::mul(a, a));
    const P small = simd::less(simd::max(a, simd::sub(simd::broadcast<P>(S(0)), a)), simd::broadcast<P>(S(0.5)));
    const P minus_infinity = simd::equal(a, simd::broadcast<P>(-std::numeric_limits<S>::infinity()));
    return simd::select(minus_infinity, one, simd::select(small, series, direct));
}

/// Sums over each row i of the plan P_ij = a_i b_j exp(r_ij), r_ij = (f_i + g_j - c_ij) / eps:
/// its mass, <P_i, C_i> and sum_j b_j g(r_ij) (a_i times it is the row's part of the generalized
/// KL(P || a b^T) = sum_ij a_i b_j g(r_ij), g(r) = r e^r - e^r + 1: no cancellation between
/// sum P log(P / ab), sum P and sum ab, also at large eps where r ~ 1/eps); optionally writes the
/// plan row and adds the row's point gradient sum_j P_ij grad_x c(x_i, y_j).
struct PlanRowSums {
    double mass = 0.0, linear = 0.0, gap = 0.0;
};

template <class Cost>
struct PlanRowsJob : divergence::detail::IndexedRowJob {
    const Cost& cost;
    const double* log_a;  ///< rows' weights (log)
    const double* b;      ///< columns' weights
    const double* h;      ///< log_b_j + g_j / eps (-inf where b_j = 0)
    const double* zeros;  ///< cols zeros (softmin arguments with h = 0 and -1 for 1/eps: the costs)
    const double* f;
    const double* g;
    double epsilon;
    PlanRowSums* sums;   ///< per row
    double* plan;        ///< row-major rows x cols, or null
    double* gradient;    ///< row-major rows x dimension, or null (point costs only)

    int start(divergence::detail::Pass<0>, Index) const { return 0; }
    void merge(divergence::detail::Pass<0>, int&, const int&, Index) const {}
    void finish(divergence::detail::Pass<0>, Index&, const int&) const {}
    void accumulate(divergence::detail::Pass<0>, int&, Index i, Index begin, Index end) const
    {
        namespace simd = divergence::detail::simd;
        using D = simd::Packet<double>;
        constexpr Index block = divergence::detail::fused_block, width = simd::lanes<D>;
        alignas(64) double t[block], c[block], w[block];
        const double inverse_epsilon = 1.0 / epsilon, row = log_a[i] + f[i] * inverse_epsilon;
        // P_ij = exp(log a_i + f_i / eps + t_j), t_j = log b_j + (g_j - c_ij) / eps; the costs c_ij
        // themselves (exact, not eps (h_j - t_j), which rounds to 0 at large eps) for <P, C> and r_ij.
        D mass = simd::broadcast<D>(0.0), linear = mass, gap = mass;
        const D zero = mass, fi = simd::broadcast<D>(f[i]), inverse = simd::broadcast<D>(inverse_epsilon);
        const auto add = [&](const double* cb, const double* wb, const double* gb, const double* bb, auto load) {
            const D wj = load(wb), cj = load(cb), bj = load(bb);
            mass = simd::add(mass, wj);
            // 0 * C = 0 where C = inf (P = 0 there); b_j = 0 contributes nothing to either sum
            linear = simd::add(linear, simd::keep(simd::less(zero, wj), simd::mul(wj, cj)));
            const D r = simd::mul(simd::sub(simd::add(fi, load(gb)), cj), inverse);
            gap = simd::add(gap, simd::keep(simd::less(zero, bj), simd::mul(bj, gap_of_log(r))));
        };
        for (Index k0 = begin; k0 < end; k0 += block) {
            const Index n = std::min(block, end - k0);
            if (log_a[i] == -divergence::detail::infinity) {
                std::fill(w, w + n, 0.0);
            } else {
                // the costs once (softmin arguments with h = 0 and -1 for 1/eps), then t = h - c / eps
                softmin_arguments(cost, i, k0, k0 + n, zeros, -1.0, c);
                const D minus_inverse = simd::broadcast<D>(-inverse_epsilon);
                Index k = 0;
                for (; k + width <= n; k += width) {
                    simd::store(t + k, simd::madd(simd::load<D>(c + k), minus_inverse, simd::load<D>(h + k0 + k)));
                }
                for (; k < n; ++k) t[k] = h[k0 + k] - c[k] * inverse_epsilon;
                exp_shifted(t, row, w, n);
                // P_ij = 0 where c_ij = +inf or b_j = 0 (t_j = -inf, or NaN from h_j = c_ij = +inf), whatever the
                // potentials: an infeasible solve leaves f_i or g_j = +inf at its infeasible points, where
                // exp(row + t_j) would be exp(inf - inf) = NaN.
                for (k = 0; k < n; ++k)
                    if (!(t[k] > -divergence::detail::infinity)) w[k] = 0.0;
                k = 0;
                for (; k + width <= n; k += width) add(c + k, w + k, g + k0 + k, b + k0 + k, [](const double* p) { return simd::load<D>(p); });
                if (k < n) {
                    const Index rest = n - k;
                    add(c + k, w + k, g + k0 + k, b + k0 + k, [rest](const double* p) { return simd::load_partial<D>(p, rest, 0.0); });
                }
            }
            if (plan) std::copy(w, w + n, plan + i * cost.cols() + k0);
            if constexpr (Cost::has_points) {
                if (gradient) cost.add_gradient(i, k0, k0 + n, w, gradient + i * cost.dimension());
            }
        }
        PlanRowSums& s = sums[i];
        s.mass += simd::reduce_add(mass);
        s.linear += simd::reduce_add(linear);
        s.gap += simd::reduce_add(gap);
    }
};

template <class Cost>
std::vector<PlanRowSums> plan_rows(const Cost& cost, const std::vector<double>& log_a, const std::vector<double>& log_b,
                                   const Eigen::VectorXd& f, const Eigen::VectorXd& g, double epsilon, double* plan = nullptr,
                                   double* gradient = nullptr)
{
    std::vector<PlanRowSums> sums(std::size_t(cost.rows()));
    std::vector<double> h(log_b.size()), b(log_b.size()), zeros(log_b.size(), 0.0);
    for (std::size_t j = 0; j < h.size(); ++j) {
        h[j] = log_b[j] == -infinity ? -infinity : log_b[j] + g(Index(j)) / epsilon;
        b[j] = std::exp(log_b[j]);
    }
    const PlanRowsJob<Cost> job{{}, cost, log_a.data(), b.data(), h.data(), zeros.data(), f.data(), g.data(), epsilon, sums.data(), plan, gradient};
    // One chunk per row: the plan row and the gradient row are written by one task.
    divergence::detail::execute(job, cost.rows(), divergence::detail::Chunks{cost.cols(), std::max(Index(1), cost.cols())},
                                worth_threads(cost.rows(), cost.cols()));
    return sums;
}

/// A sum of terms of either sign, kept as the log-sum-exps of its positive and of its negative
/// terms, for sums whose terms overflow double: exp(positive) - exp(negative) = +-e^hi (1 - e^-|p - q|),
/// rounded once (+-inf beyond double's range, never inf - inf).
struct SignedLogSum {
    divergence::detail::LogSumExp positive, negative;

    /// Adds sign(s) exp(log_magnitude) (s != 0).
    void add(double s, double log_magnitude) { (s > 0.0 ? positive : negative).add(log_magnitude); }
    double value() const
    {
        const double p = positive.value(), q = negative.value();
        if (p == q) return 0.0;
        return (p > q ? 1.0 : -1.0) * std::exp(std::max(p, q) + std::log(-std::expm1(-std::abs(p - q))));
    }
};

/// The value and <P, C> of the plan P_ij = a_i b_j exp(r_ij), r_ij = (f_i + g_j - c_ij) / eps, from the
/// logarithm of every term, for potentials whose plan overflows double (stopped far from the solution
/// at a small epsilon: P_ij c_ij = +-inf, and the direct sums are inf - inf):
///   value = sum_ij [P_ij (c_ij + eps (r_ij - 1)) + eps a_i b_j]                 (<P, C> + eps KL(P || a b^T))
///         + rho_a sum_i [m_i (log m_i - log a_i - 1) + a_i] + rho_b (the same over the columns),
/// m_i = (P 1)_i, log m_i the log-sum-exp of log P_ij over the row (relaxed sides only). Returns {value, linear}.
template <class Cost>
std::pair<double, double> overflowing_plan_value(const Cost& cost, const std::vector<double>& log_a, const std::vector<double>& log_b,
                                                 const Eigen::VectorXd& f, const Eigen::VectorXd& g, double epsilon, double reach_a,
                                                 double reach_b)
{
    using divergence::detail::LogSumExp;
    const Index n = cost.rows(), m = cost.cols();
    SignedLogSum value, linear;
    std::vector<LogSumExp> columns(static_cast<std::size_t>(m));
    std::vector<double> c(static_cast<std::size_t>(m)), zeros(static_cast<std::size_t>(m), 0.0);
    // rho (m (log m - log w - 1) + w), the generalized KL(m || w) term of a relaxed marginal
    const auto add_marginal = [&](const LogSumExp& mass, double log_w, double reach) {
        const double log_m = mass.value(), log_ratio = log_m - log_w - 1.0;
        if (log_m > -infinity && log_ratio != 0.0) value.add(log_ratio, std::log(reach) + log_m + std::log(std::abs(log_ratio)));
        value.add(1.0, std::log(reach) + log_w);
    };
    for (Index i = 0; i < n; ++i) {
        const std::size_t u = std::size_t(i);
        if (log_a[u] == -infinity) continue;
        softmin_arguments(cost, i, 0, m, zeros.data(), -1.0, c.data());  // the costs (see PlanRowsJob)
        LogSumExp row;
        for (Index j = 0; j < m; ++j) {
            const std::size_t v = std::size_t(j);
            if (log_b[v] == -infinity) continue;
            value.add(1.0, std::log(epsilon) + log_a[u] + log_b[v]);
            if (c[v] == infinity) continue;  // P_ij = 0, its KL term a_i b_j counted above
            const double r = (f(i) + g(j) - c[v]) / epsilon, log_p = log_a[u] + log_b[v] + r;
            const double d = c[v] + epsilon * (r - 1.0);
            row.add(log_p);
            columns[v].add(log_p);
            if (c[v] != 0.0) linear.add(c[v], log_p + std::log(std::abs(c[v])));
            if (d != 0.0) value.add(d, log_p + std::log(std::abs(d)));
        }
        if (!std::isinf(reach_a)) add_marginal(row, log_a[u], reach_a);
    }
    if (!std::isinf(reach_b)) {
        for (Index j = 0; j < m; ++j) {
            if (log_b[std::size_t(j)] > -infinity) add_marginal(columns[std::size_t(j)], log_b[std::size_t(j)], reach_b);
        }
    }
    return {value.value(), linear.value()};
}

/// The weights as doubles: checked (finite, >= 0, positive total).
template <class Derived>
std::vector<double> weights_of(const char* function, const char* argument, const Eigen::MatrixBase<Derived>& w, Index expected,
                               const char* expected_what)
{
    if (w.size() != expected) {
        fail(function, argument,
             "has " + std::to_string(w.size()) + " entries for " + std::to_string(expected) + " " + expected_what);
    }
    std::vector<double> out(std::size_t(w.size()));
    double total = 0.0;
    for (Index i = 0; i < w.size(); ++i) {
        const double v = double(w(i));
        if (!(v >= 0.0) || !std::isfinite(v)) fail(function, argument, i, -1, describe("weight must be finite and >= 0, got", v));
        out[std::size_t(i)] = v;
        total += v;
    }
    if (!(total > 0.0)) fail(function, argument, "has total weight 0");
    if (!(total <= 1e100)) fail(function, argument, describe("has total weight", total) + ": above 1e100 the value's terms overflow; normalize the weights");
    return out;
}

inline double marginal_norm(const std::vector<double>& r, MarginalNorm norm)
{
    double s = 0.0;
    for (const double v : r) {
        const double x = std::abs(v);
        if (norm == MarginalNorm::l1) s += x;
        else if (norm == MarginalNorm::l2) s += x * x;
        else s = std::max(s, x);
    }
    return norm == MarginalNorm::l2 ? std::sqrt(s) : s;
}

inline void check_options(const char* function, const SinkhornOptions& o, Index n, Index m)
{
    if (!(o.epsilon > 0.0) || !std::isfinite(o.epsilon)) fail(function, "options.epsilon", describe("must be finite and > 0, got", o.epsilon));
    if (o.max_iterations < 0) fail(function, "options.max_iterations", describe("must be >= 0, got", o.max_iterations));
    if (!(o.tolerance >= 0.0) || !std::isfinite(o.tolerance)) fail(function, "options.tolerance", describe("must be finite and >= 0, got", o.tolerance));
    if (!(o.relaxation > 0.0 && o.relaxation < 2.0)) fail(function, "options.relaxation", describe("must be in (0, 2), got", o.relaxation));
    if (!(o.epsilon_start >= 0.0) || !std::isfinite(o.epsilon_start)) {
        fail(function, "options.epsilon_start", describe("must be finite and >= 0, got", o.epsilon_start));
    }
    if (o.epsilon_start > o.epsilon && !(o.epsilon_factor > 0.0 && o.epsilon_factor < 1.0)) {
        fail(function, "options.epsilon_factor", describe("must be in (0, 1), got", o.epsilon_factor));
    }
    // A finite reach far from epsilon's scale is numerically a hard constraint or a free marginal:
    // the value's penalty rho KL(P 1 || a) then multiplies the marginals' rounding by rho (rho = 1e300:
    // a value of 1e283 for a converged plan).
    const auto check_reach = [&](double reach, const char* name) {
        if (!(reach > 0.0)) fail(function, name, describe("must be > 0 (+inf: balanced), got", reach));
        if (std::isfinite(reach) && !(reach >= 1e-8 * o.epsilon && reach <= 1e8 * o.epsilon)) {
            fail(function, name, describe("must be within 1e-8 and 1e8 times epsilon (+inf for a hard constraint), got", reach));
        }
    };
    check_reach(o.reach_a, "options.reach_a");
    check_reach(o.reach_b, "options.reach_b");
    const auto check_start = [&](const Eigen::VectorXd* v, const char* name, Index size) {
        if (!v) return;
        if (v->size() != size) fail(function, name, "has " + std::to_string(v->size()) + " entries for " + std::to_string(size) + " points");
        for (Index i = 0; i < size; ++i) {
            if (!std::isfinite((*v)(i))) fail(function, name, i, -1, describe("must be finite, got", (*v)(i)));
        }
    };
    check_start(o.initial_f, "options.initial_f", n);
    check_start(o.initial_g, "options.initial_g", m);
}

/// Balanced transport needs equal masses: within 1e-6 (relative), b is rescaled to a's mass.
inline void balance_masses(const char* function, const std::vector<double>& a, std::vector<double>& b, const SinkhornOptions& o)
{
    if (!std::isinf(o.reach_a) || !std::isinf(o.reach_b)) return;
    double mass_a = 0.0, mass_b = 0.0;
    for (const double v : a) mass_a += v;
    for (const double v : b) mass_b += v;
    if (std::abs(mass_a - mass_b) > 1e-6 * std::max(mass_a, mass_b)) {
        std::ostringstream problem;
        problem.precision(17);
        problem << "total weight " << mass_b << " differs from the total weight of 'a' " << mass_a
                << " (balanced transport; set options.reach_a or reach_b for unbalanced transport)";
        fail(function, "b", problem.str());
    }
    for (double& v : b) v *= mass_a / mass_b;
}

/// The solver on a cost source (see cost.hpp) and checked weights (balance_masses applied).
template <class ExpScalar, class Cost>
SinkhornResult solve(const char* function, const Cost& cost, const std::vector<double>& a, const std::vector<double>& b,
                     const SinkhornOptions& o)
{
    const Index n = cost.rows(), m = cost.cols();
    check_options(function, o, n, m);
    // The arguments c / eps are computed in double: their rounding, 1e-16 c / eps, is the exponents'
    // error. Beyond max c / eps = 1e12 (an error of 1e-4 in every plan entry) nothing computed is the plan.
    // Above eps = 1e16 max c the potentials, -eps log(1 + O(c / eps)), are the rounding of the log times
    // eps (and the plan is a b^T to double precision): the value's entropic part would be noise.
    const double largest = cost.max_cost();
    if (!(largest <= 1e12 * o.epsilon) || (largest > 0.0 && o.epsilon > 1e16 * largest)) {
        std::ostringstream problem;
        problem.precision(17);
        problem << (largest <= 1e12 * o.epsilon ? "is too large" : "is too small") << " for the cost (" << o.epsilon
                << " for costs up to " << largest
                << "): max cost / epsilon must be within 1e-16 and 1e12, beyond which the potentials or the exponents are rounding";
        fail(function, "options.epsilon", problem.str());
    }
    const bool balanced = std::isinf(o.reach_a) && std::isinf(o.reach_b);
    double mass_a = 0.0;
    for (const double v : a) mass_a += v;
    const Cost transposed = cost.transpose();
    std::vector<double> log_a(a.size()), log_b(b.size());
    for (std::size_t i = 0; i < a.size(); ++i) log_a[i] = a[i] > 0.0 ? std::log(a[i]) : -infinity;
    for (std::size_t j = 0; j < b.size(); ++j) log_b[j] = b[j] > 0.0 ? std::log(b[j]) : -infinity;

    SinkhornResult r;
    r.epsilon = o.epsilon;
    r.reach_a = o.reach_a;
    r.reach_b = o.reach_b;
    r.f = o.initial_f ? *o.initial_f : Eigen::VectorXd::Zero(n);
    r.g = o.initial_g ? *o.initial_g : Eigen::VectorXd::Zero(m);

    // h = log w + potential / eps (-inf where w = 0, whatever the potential)
    std::vector<double> h_a(static_cast<std::size_t>(n)), h_b(static_cast<std::size_t>(m)), f_new, g_new;
    std::vector<double> residual_a(static_cast<std::size_t>(n)), residual_b(static_cast<std::size_t>(m));
    const auto shift = [](const std::vector<double>& log_w, const Eigen::VectorXd& potential, double eps, std::vector<double>& h) {
        for (std::size_t i = 0; i < h.size(); ++i) h[i] = log_w[i] == -infinity ? -infinity : log_w[i] + potential(Index(i)) / eps;
    };
    const auto lambda = [](double reach, double eps) { return std::isinf(reach) ? 1.0 : reach / (reach + eps); };
    // Residual of side w of the pair (potential, other) from s = softmin(other) (unrelaxed):
    // (P 1)_i - w_i exp(-potential_i / rho) = w_i (exp((potential_i - s_i) / eps) - exp(-potential_i / rho)).
    // Returns false if a point of positive weight has s_i = +inf (infeasible).
    const auto residual = [](const std::vector<double>& w, const Eigen::VectorXd& potential, const std::vector<double>& s, double eps,
                             double reach, std::vector<double>& out) {
        bool feasible = true;
        for (std::size_t i = 0; i < w.size(); ++i) {
            if (w[i] == 0.0) {
                out[i] = 0.0;
                continue;
            }
            if (std::isinf(s[i])) feasible = false;
            const double x = (potential(Index(i)) - s[i]) / eps, y = std::isinf(reach) ? 0.0 : -potential(Index(i)) / reach;
            out[i] = w[i] * (std::exp(x) - std::exp(y));
            if (!std::isfinite(out[i])) {
                // w e^x or e^y beyond double (potentials far from the solution): inf - inf, or a tiny w times
                // an overflowing e^x; the difference from the logs of its two terms instead.
                SignedLogSum difference;
                difference.add(1.0, std::log(w[i]) + x);
                difference.add(-1.0, std::log(w[i]) + y);
                out[i] = difference.value();
            }
        }
        return feasible;
    };
    const auto epsilon_at = [&](Index k) {
        if (!(o.epsilon_start > o.epsilon)) return o.epsilon;
        return std::max(o.epsilon, o.epsilon_start * std::pow(o.epsilon_factor, double(k)));
    };
    // After `relax`, the potentials hold finite values where the weight is > 0 (a +inf softmin of a
    // zero-weight point is kept finite: it never enters a sum).
    const auto relax = [](Eigen::VectorXd& potential, const std::vector<double>& s, const std::vector<double>& w, double scale, double omega) {
        for (Index i = 0; i < potential.size(); ++i) {
            const double target = w[std::size_t(i)] == 0.0 && std::isinf(s[std::size_t(i)]) ? potential(i) : scale * s[std::size_t(i)];
            potential(i) = (1.0 - omega) * potential(i) + omega * target;
        }
    };

    double error_b = infinity;  // of the current pair, on b's side (unknown before the first g update)
    // Over-relaxation can diverge far from the solution (Thibault et al. 2021, Lehmann et al. 2022):
    // it runs at the target epsilon only, and gives way to omega = 1 for good once the marginal
    // error exceeds twice the smallest seen.
    double smallest_error = infinity;
    bool relaxing = o.relaxation != 1.0;
    bool feasible = true;
    Index k = 0;
    for (;; ++k) {
        const double eps = epsilon_at(k);
        const bool at_target = eps == o.epsilon;
        shift(log_b, r.g, eps, h_b);
        // A cost matrix, alternating updates without over-relaxation (whose omega depends on this pass's
        // error): g's pass from the new f rides on f's pass, one read of the matrix per iteration; the
        // next f and h_a are those relax and shift compute below, so the results are the same bits.
        bool g_ready = false;
        if constexpr (is_dense_cost<Cost>::value) {
            if (o.update == SinkhornUpdate::alternating && o.relaxation == 1.0 && !cost.transposed()) {
                const double scale = lambda(o.reach_a, eps), omega = 1.0;
                const auto next = [&](Index i, double s) {
                    const std::size_t u = std::size_t(i);
                    const double target = a[u] == 0.0 && std::isinf(s) ? r.f(i) : scale * s;
                    const double potential = (1.0 - omega) * r.f(i) + omega * target;
                    return log_a[u] == -infinity ? -infinity : log_a[u] + potential / eps;
                };
                fused_dense_softmins<ExpScalar>(cost.matrix_data(), n, m, h_b, eps, f_new, next, h_a, g_new, worth_threads(n, m));
                g_ready = true;
            }
        }
        if (!g_ready) softmin<ExpScalar>(cost, h_b, eps, f_new);
        feasible = residual(a, r.f, f_new, eps, o.reach_a, residual_a);
        if (o.update == SinkhornUpdate::symmetric) {
            shift(log_a, r.f, eps, h_a);
            softmin<ExpScalar>(transposed, h_a, eps, g_new);
            feasible = residual(b, r.g, g_new, eps, o.reach_b, residual_b) && feasible;
            error_b = marginal_norm(residual_b, o.norm);
        }
        r.marginal_error_a = marginal_norm(residual_a, o.norm);
        r.marginal_error_b = error_b;
        if (!feasible) {
            r.status = SinkhornStatus::infeasible;
            break;
        }
        if (at_target && r.marginal_error_a + r.marginal_error_b <= o.tolerance) {
            r.status = SinkhornStatus::converged;
            break;
        }
        if (k == o.max_iterations) {
            r.status = SinkhornStatus::iteration_limit;
            if (!at_target || std::isinf(r.marginal_error_b)) {
                // The errors at hand are not those of the returned pair at the target epsilon (no g
                // update yet, or still annealing): measure both sides there.
                shift(log_b, r.g, o.epsilon, h_b);
                softmin<ExpScalar>(cost, h_b, o.epsilon, f_new);
                shift(log_a, r.f, o.epsilon, h_a);
                softmin<ExpScalar>(transposed, h_a, o.epsilon, g_new);
                const bool rows_feasible = residual(a, r.f, f_new, o.epsilon, o.reach_a, residual_a);
                if (!(residual(b, r.g, g_new, o.epsilon, o.reach_b, residual_b) && rows_feasible)) r.status = SinkhornStatus::infeasible;
                r.marginal_error_a = marginal_norm(residual_a, o.norm);
                r.marginal_error_b = marginal_norm(residual_b, o.norm);
            }
            break;
        }
        const double error = r.marginal_error_a + r.marginal_error_b;
        if (at_target && std::isfinite(error)) {
            if (error > 2.0 * smallest_error) relaxing = false;
            smallest_error = std::min(smallest_error, error);
        }
        const double omega = at_target && relaxing ? o.relaxation : 1.0;
        if (o.update == SinkhornUpdate::symmetric) {
            relax(r.f, f_new, a, lambda(o.reach_a, eps), 0.5);
            relax(r.g, g_new, b, lambda(o.reach_b, eps), 0.5);
            continue;
        }
        relax(r.f, f_new, a, lambda(o.reach_a, eps), omega);
        shift(log_a, r.f, eps, h_a);
        if (!g_ready) softmin<ExpScalar>(transposed, h_a, eps, g_new);
        relax(r.g, g_new, b, lambda(o.reach_b, eps), omega);
        // b's side of the new pair (f, g) from g_new = softmin(f), already at hand
        if (!residual(b, r.g, g_new, eps, o.reach_b, residual_b)) {
            r.status = SinkhornStatus::infeasible;
            r.marginal_error_b = infinity;
            ++k;
            break;
        }
        error_b = at_target ? marginal_norm(residual_b, o.norm) : infinity;
    }
    r.iterations = k;
    if (r.status == SinkhornStatus::infeasible) {
        r.value = r.linear = infinity;
        return r;
    }

    // Balanced potentials are defined up to f + c, g - c: report the pair with <a, f> = <b, g>.
    if (balanced) {
        double af = 0.0, bg = 0.0;
        for (Index i = 0; i < n; ++i) af += a[std::size_t(i)] * r.f(i);
        for (Index j = 0; j < m; ++j) bg += b[std::size_t(j)] * r.g(j);
        const double c = (bg - af) / (2.0 * mass_a);
        r.f.array() += c;
        r.g.array() -= c;
    }

    // Value of the returned plan, row by row in a fixed order.
    const std::vector<PlanRowSums> rows = plan_rows(cost, log_a, log_b, r.f, r.g, o.epsilon);
    double mass = 0.0, linear = 0.0, gap = 0.0, penalty = 0.0;
    // The generalized KL term m log(m / w) - m + w of a marginal m against its weight w (w when m = 0):
    // +inf when m overflowed to +inf (the plan of potentials far from the solution), not inf - inf.
    const auto kl_term = [](double m, double log_w, double w) {
        if (m == 0.0) return w;
        if (m == infinity) return infinity;
        return m * (std::log(m) - log_w) - m + w;
    };
    for (Index i = 0; i < n; ++i) {
        const PlanRowSums& s = rows[std::size_t(i)];
        mass += s.mass;
        linear += s.linear;
        gap += a[std::size_t(i)] * s.gap;
        if (!std::isinf(o.reach_a)) {
            const double ai = a[std::size_t(i)];  // generalized KL(P 1 || a)
            penalty += o.reach_a * kl_term(s.mass, log_a[std::size_t(i)], ai);
        }
    }
    if (!std::isinf(o.reach_b)) {
        const std::vector<PlanRowSums> columns = plan_rows(transposed, log_b, log_a, r.g, r.f, o.epsilon);
        for (Index j = 0; j < m; ++j) {
            const double mj = columns[std::size_t(j)].mass, bj = b[std::size_t(j)];
            penalty += o.reach_b * kl_term(mj, log_b[std::size_t(j)], bj);
        }
    }
    r.plan_mass = mass;
    r.linear = linear;
    r.entropic = o.epsilon * gap;
    r.marginal_penalty = penalty;
    r.value = r.linear + r.entropic + r.marginal_penalty;
    if (std::isnan(r.value) || std::isnan(r.linear)) {
        // Terms of opposite signs overflowed (the plan of potentials far from the solution, e.g. stopped
        // early at a small epsilon: <P, C> = -inf beside eps KL = +inf): the same sums from the log of each term.
        std::tie(r.value, r.linear) = overflowing_plan_value(cost, log_a, log_b, r.f, r.g, o.epsilon, o.reach_a, o.reach_b);
    }
    for (Index i = 0; i < n; ++i) r.weights_entropy_term += a[std::size_t(i)] > 0.0 ? a[std::size_t(i)] * log_a[std::size_t(i)] : 0.0;
    for (Index j = 0; j < m; ++j) r.weights_entropy_term += b[std::size_t(j)] > 0.0 ? b[std::size_t(j)] * log_b[std::size_t(j)] : 0.0;
    return r;
}

}  // namespace detail

/// A solution: the result's numbers, and the problem it solves, for the plan and the gradients.
template <class Cost>
struct Solution : SinkhornResult {
    Cost cost;
    std::vector<double> a, b;

    Solution(SinkhornResult result, Cost c, std::vector<double> wa, std::vector<double> wb)
        : SinkhornResult(std::move(result)), cost(std::move(c)), a(std::move(wa)), b(std::move(wb))
    {
    }

    /// The transport plan P (n x m): stored only when asked for. P_ij = 0 where C_ij = +inf or a weight is 0;
    /// for an infeasible problem that is the plan of the returned potentials on the feasible pairs (its
    /// marginals miss the infeasible points' mass).
    RowMatrix<double> plan() const
    {
        RowMatrix<double> p(cost.rows(), cost.cols());
        detail::plan_rows(cost, log_weights(a), log_weights(b), f, g, epsilon, p.data());
        return p;
    }
    /// d value / d C = P (the gradient with respect to a cost matrix).
    /// The gradients throw std::invalid_argument (argument 'status') for an infeasible problem: its value is
    /// +inf, and the potentials of its infeasible points are infinite; likewise when the plan's mass overflows.
    RowMatrix<double> gradient_cost() const
    {
        check_feasible("ot::Solution::gradient_cost");
        return plan();
    }
    /// d value / d a, at convergence (envelope theorem on the dual). Balanced: the potential f,
    /// centered (f - mean f: both masses must stay equal, so only differences count). Otherwise the
    /// partial derivatives of the dual -rho_a <a, e^(-f/rho_a) - 1> - rho_b <b, e^(-g/rho_b) - 1>
    /// - eps <a b^T, exp((f + g - C)/eps) - 1> at its optimum: rho_a + eps m(b) - (rho_a + eps) e^(-f/rho_a),
    /// and f + eps (m(b) - 1) for a hard side (rho_a = inf) when the other is relaxed.
    Eigen::VectorXd gradient_a() const
    {
        check_feasible("ot::Solution::gradient_a");
        return weight_gradient(f, reach_a, b);
    }
    /// d value / d b: as gradient_a with the roles exchanged.
    Eigen::VectorXd gradient_b() const
    {
        check_feasible("ot::Solution::gradient_b");
        return weight_gradient(g, reach_b, a);
    }
    /// d value / d x (n x d): sum_j P_ij grad_x c(x_i, y_j) (point clouds only).
    RowMatrix<double> gradient_x() const
    {
        static_assert(Cost::has_points, "divergence::ot: gradient_x needs a cost between point clouds");
        check_feasible("ot::Solution::gradient_x");
        RowMatrix<double> grad = RowMatrix<double>::Zero(cost.rows(), cost.dimension());
        detail::plan_rows(cost, log_weights(a), log_weights(b), f, g, epsilon, nullptr, grad.data());
        return grad;
    }
    /// d value / d y (m x d): sum_i P_ij grad_y c(x_i, y_j).
    RowMatrix<double> gradient_y() const
    {
        static_assert(Cost::has_points, "divergence::ot: gradient_y needs a cost between point clouds");
        check_feasible("ot::Solution::gradient_y");
        const Cost t = cost.transpose();
        RowMatrix<double> grad = RowMatrix<double>::Zero(t.rows(), t.dimension());
        detail::plan_rows(t, log_weights(b), log_weights(a), g, f, epsilon, nullptr, grad.data());
        return grad;
    }

private:
    void check_feasible(const char* function) const
    {
        if (status == SinkhornStatus::infeasible)
            divergence::detail::fail(function, "status",
                                     "the problem is infeasible (a point of positive weight has an infinite cost to every point of "
                                     "positive weight): its value is +inf, without a gradient");
        // Potentials far from the solution (stopped while annealing, or early at a small epsilon) can give a plan
        // whose mass overflows: the value is +-inf, and the gradients, sums of +-inf plan entries, would be
        // inf - inf = NaN.
        if (!(plan_mass < divergence::detail::infinity))
            divergence::detail::fail(function, "status",
                                     "the plan of the returned potentials overflows double (its mass is +inf): its value is +-inf, "
                                     "without a gradient");
    }
    Eigen::VectorXd weight_gradient(const Eigen::VectorXd& potential, double reach, const std::vector<double>& other) const
    {
        if (std::isinf(reach_a) && std::isinf(reach_b)) return potential.array() - potential.mean();
        double other_mass = 0.0;
        for (const double w : other) other_mass += w;
        if (std::isinf(reach)) return potential.array() + epsilon * (other_mass - 1.0);
        return (reach + epsilon * other_mass) - (reach + epsilon) * (-potential.array() / reach).exp();
    }
    static std::vector<double> log_weights(const std::vector<double>& w)
    {
        std::vector<double> out(w.size());
        for (std::size_t i = 0; i < w.size(); ++i) out[i] = w[i] > 0.0 ? std::log(w[i]) : -divergence::detail::infinity;
        return out;
    }
};

/// Entropic OT between weights a (n) and b (m) with a cost matrix C (n x m, float or double, any
/// layout; entries finite or +inf). \throws std::invalid_argument for bad weights, costs or options.
template <class DA, class DB, class DC>
auto sinkhorn(const Eigen::MatrixBase<DA>& a, const Eigen::MatrixBase<DB>& b, const Eigen::MatrixBase<DC>& cost,
              const SinkhornOptions& options = {})
{
    using Scalar = typename DC::Scalar;
    static_assert(divergence::detail::is_supported_scalar_v<Scalar>, "divergence::ot::sinkhorn: the cost must be float or double");
    constexpr const char* function = "ot::sinkhorn";
    detail::DenseCost<Scalar> c(function, cost);
    std::vector<double> wa = detail::weights_of(function, "a", a, cost.rows(), "rows of the cost");
    std::vector<double> wb = detail::weights_of(function, "b", b, cost.cols(), "columns of the cost");
    detail::balance_masses(function, wa, wb, options);
    SinkhornResult r = detail::solve<Scalar>(function, c, wa, wb, options);
    return Solution<detail::DenseCost<Scalar>>(std::move(r), std::move(c), std::move(wa), std::move(wb));
}

/// Entropic OT between the point clouds x (n x d) with weights a and y (m x d) with weights b,
/// cost c(x_i, y_j) computed on the fly (memory O((n + m) d)): Cost is SquaredEuclidean,
/// Euclidean, Manhattan or KlCost.
template <class DA, class DX, class DB, class DY, class Cost>
auto sinkhorn(const Eigen::MatrixBase<DA>& a, const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DB>& b,
              const Eigen::MatrixBase<DY>& y, Cost, const SinkhornOptions& options = {})
{
    constexpr const char* function = "ot::sinkhorn";
    auto c = detail::PointCost<Cost>::make(function, x, y);
    std::vector<double> wa = detail::weights_of(function, "a", a, x.rows(), "points of x");
    std::vector<double> wb = detail::weights_of(function, "b", b, y.rows(), "points of y");
    detail::balance_masses(function, wa, wb, options);
    using Scalar = typename DX::Scalar;
    static_assert(std::is_same_v<Scalar, typename DY::Scalar> && divergence::detail::is_supported_scalar_v<Scalar>,
                  "divergence::ot::sinkhorn: x and y must both be float or both double");
    SinkhornResult r = detail::solve<Scalar>(function, c, wa, wb, options);
    return Solution<detail::PointCost<Cost>>(std::move(r), std::move(c), std::move(wa), std::move(wb));
}

}  // namespace divergence::ot

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
