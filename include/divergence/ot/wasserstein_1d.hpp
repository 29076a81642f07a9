#ifndef DIVERGENCE_OT_WASSERSTEIN_1D_HPP
#define DIVERGENCE_OT_WASSERSTEIN_1D_HPP

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "divergence/core/config.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/core/view.hpp"

namespace divergence::ot {

/// What wasserstein_1d returns. Both are computed in double and rounded once to the input's type.
template <class Scalar>
struct Wasserstein1dResult {
    Scalar cost = 0;      ///< W_p^p: the optimal transport cost min E|X - Y|^p (what POT's wasserstein_1d returns)
    Scalar distance = 0;  ///< W_p = cost^(1/p) (for p = 1, what scipy.stats.wasserstein_distance returns)
};

/// Optional gradients of Wasserstein1dResult::cost (= W_p^p), each written only when given: caller-owned
/// vectors (VectorXd, RowVectorXf, a column block, a Map...) of the length of the argument they belong to.
template <class Scalar>
struct Wasserstein1dOutputs {
    VectorOut<Scalar> grad_x;  ///< (n): d cost / d x_i
    VectorOut<Scalar> grad_y;  ///< (m): d cost / d y_j
    VectorOut<Scalar> grad_a;  ///< (n): d cost / d a_i (the raw, unnormalized weights; a_i = 1/n when a is not given)
    VectorOut<Scalar> grad_b;  ///< (m): d cost / d b_j
};

namespace detail {

using divergence::detail::CompensatedSum;

/// Scratch memory of one 1-D problem, reused across calls (sliced_wasserstein keeps one per direction slot).
struct Transport1dWorkspace {
    std::vector<Index> order_x, order_y;  ///< positions sorted by (value, index)
    std::vector<double> cum_a, cum_b;     ///< normalized cumulative weights in sorted order, last = 1 exactly
    std::vector<double> f, g;             ///< dual potentials in sorted order
};

/// One 1-D problem given in double, with everything validated by the caller. Never throws (the
/// workspace vectors are resized, which may throw std::bad_alloc only outside a parallel region:
/// prepare() them first there). a or b null means uniform weights 1/n (1/m); a_total and b_total are
/// the sums of the raw weights (ignored when null). grad_* may be null; they are overwritten (not
/// accumulated) in the original order. Returns W_p^p.
class Transport1d {
public:
    static void prepare(Transport1dWorkspace& w, Index n, Index m)
    {
        w.order_x.resize(std::size_t(n));
        w.order_y.resize(std::size_t(m));
        w.cum_a.resize(std::size_t(n));
        w.cum_b.resize(std::size_t(m));
        w.f.resize(std::size_t(n));
        w.g.resize(std::size_t(m));
    }

    static double solve(const double* x, Index n, const double* y, Index m, const double* a, const double* b, double p,
                        Transport1dWorkspace& w, double* grad_x, double* grad_y, double* grad_a, double* grad_b)
    {
        sort_indices(x, w.order_x);
        sort_indices(y, w.order_y);
        const double a_total = cumulative(a, n, w.order_x, w.cum_a);
        const double b_total = cumulative(b, m, w.order_y, w.cum_b);
        if (grad_x) std::fill(grad_x, grad_x + n, 0.0);
        if (grad_y) std::fill(grad_y, grad_y + m, 0.0);
        const bool potentials = grad_a != nullptr || grad_b != nullptr;

        // The north-west corner sweep on the sorted supports: the quantile functions F^-1 and G^-1 are
        // constant on the pieces [lo, hi) of [0, 1] between consecutive cumulative weights of either
        // side, and the optimal plan sends the mass hi - lo of piece (i, j) from x_(i) to y_(j)
        // (the monotone plan, optimal for every convex cost of x - y: F. Santambrogio, Optimal Transport for
        // Applied Mathematicians, Birkhauser 2015, chapter 2).
        const auto cost_of = [&](Index i, Index j) {
            return power(std::abs(x[w.order_x[std::size_t(i)]] - y[w.order_y[std::size_t(j)]]), p);
        };
        CompensatedSum total;
        Index i = 0, j = 0;
        double lo = 0.0;
        if (potentials) {
            w.f[0] = 0.0;
            w.g[0] = cost_of(0, 0);
        }
        for (;;) {
            const double ca = w.cum_a[std::size_t(i)], cb = w.cum_b[std::size_t(j)];
            const double hi = std::min(ca, cb);
            const double mass = hi - lo;
            if (mass > 0.0) {
                const Index xi = w.order_x[std::size_t(i)], yj = w.order_y[std::size_t(j)];
                const double d = x[xi] - y[yj];
                total.add(mass * power(std::abs(d), p));
                if (grad_x || grad_y) {
                    // d/dx |x - y|^p = p |x - y|^(p-1) sign(x - y); sign(0) = 0 (for p = 1, the subgradient 0).
                    const double s = d > 0.0 ? 1.0 : d < 0.0 ? -1.0 : 0.0;
                    const double slope = s == 0.0 ? 0.0 : mass * (p == 1.0 ? s : p * power(std::abs(d), p - 1.0) * s);
                    if (grad_x) grad_x[xi] += slope;
                    if (grad_y) grad_y[yj] -= slope;
                }
            }
            lo = std::max(lo, hi);
            if (i == n - 1 && j == m - 1) break;
            // Advance the side whose piece ends first; both when they end together (a degenerate vertex of
            // the transport polytope), unless one side has no piece left (trailing zero weights).
            const bool step_i = j == m - 1 || (i < n - 1 && ca <= cb);
            const bool step_j = i == n - 1 || (j < m - 1 && cb <= ca);
            if (potentials) {
                // Complementary slackness on the path of the plan: f_i + g_j = c(x_(i), y_(j)) on every piece.
                if (step_i && step_j) {
                    // Two pieces meet at a point: the potentials of the two halves of the path may be shifted
                    // against each other within an interval, whose ends are the solutions that route the path
                    // through (i + 1, j) or through (i, j + 1). Take the middle of it.
                    const double f_down = cost_of(i + 1, j) - w.g[std::size_t(j)];
                    const double g_right = cost_of(i, j + 1) - w.f[std::size_t(i)];
                    const double f_right = cost_of(i + 1, j + 1) - g_right;
                    w.f[std::size_t(i + 1)] = 0.5 * (f_down + f_right);
                    w.g[std::size_t(j + 1)] = cost_of(i + 1, j + 1) - w.f[std::size_t(i + 1)];
                } else if (step_i) {
                    w.f[std::size_t(i + 1)] = cost_of(i + 1, j) - w.g[std::size_t(j)];
                } else {
                    w.g[std::size_t(j + 1)] = cost_of(i, j + 1) - w.f[std::size_t(i)];
                }
            }
            if (step_i) ++i;
            if (step_j) ++j;
        }
        if (grad_a) center(w.f, w.cum_a, w.order_x, a ? a_total : 1.0, grad_a);
        if (grad_b) center(w.g, w.cum_b, w.order_y, b ? b_total : 1.0, grad_b);
        return std::max(0.0, total.value());
    }

    /// |d|^p with the common exponents exact and fast.
    static double power(double d, double p)
    {
        if (p == 1.0) return d;
        if (p == 2.0) return d * d;
        return std::pow(d, p);
    }

private:
    static void sort_indices(const double* v, std::vector<Index>& order)
    {
        std::iota(order.begin(), order.end(), Index(0));
        // Ties broken by index: a total order, so the result never depends on the sort's implementation.
        std::sort(order.begin(), order.end(), [v](Index l, Index r) { return v[l] < v[r] || (v[l] == v[r] && l < r); });
    }

    /// Cumulative normalized weights in sorted order (compensated, monotone, the last exactly 1);
    /// returns the raw total.
    static double cumulative(const double* weights, Index n, const std::vector<Index>& order, std::vector<double>& cum)
    {
        if (weights == nullptr) {
            for (Index k = 0; k < n; ++k) cum[std::size_t(k)] = double(k + 1) / double(n);  // correctly rounded
            return 1.0;
        }
        CompensatedSum s;
        for (Index k = 0; k < n; ++k) {
            s.add(weights[order[std::size_t(k)]]);
            cum[std::size_t(k)] = s.value();
        }
        const double t = cum[std::size_t(n - 1)];
        double previous = 0.0;
        for (Index k = 0; k < n; ++k) {
            const double c = std::min(1.0, std::max(previous, cum[std::size_t(k)] / t));
            cum[std::size_t(k)] = c;
            previous = c;
        }
        cum[std::size_t(n - 1)] = 1.0;
        return t;
    }

    /// d cost / d w_k for raw weights w of total t, from the potential phi of the normalized problem:
    /// (phi_k - sum_l (w_l / t) phi_l) / t (the normalization w / t makes every direction tangent to the simplex).
    static void center(const std::vector<double>& phi, const std::vector<double>& cum, const std::vector<Index>& order,
                       double t, double* grad)
    {
        const std::size_t n = phi.size();
        CompensatedSum mean;
        double previous = 0.0;
        for (std::size_t k = 0; k < n; ++k) {
            mean.add((cum[k] - previous) * phi[k]);
            previous = cum[k];
        }
        const double m = mean.value();
        for (std::size_t k = 0; k < n; ++k) grad[order[k]] = (phi[k] - m) / t;
    }
};

template <class D>
constexpr void check_vector_type()
{
    static_assert(divergence::detail::is_eigen_dense_v<D>, "divergence: ot functions take Eigen vectors or matrices.");
    if constexpr (divergence::detail::is_eigen_dense_v<D>) {
        static_assert(divergence::detail::is_supported_scalar_v<typename D::Scalar>,
                      "divergence: positions and weights are float or double: convert them, e.g. x.cast<double>().");
    }
}

/// Copies an Eigen vector (any layout or expression) into doubles.
template <class D>
std::vector<double> to_doubles(const Eigen::DenseBase<D>& v)
{
    const auto& e = v.derived();
    std::vector<double> out(std::size_t(e.size()));
    for (Index k = 0; k < e.size(); ++k) out[std::size_t(k)] = double(e.coeff(k));
    return out;
}

inline void check_p(const char* function, double p)
{
    if (!(std::isfinite(p) && p >= 1.0)) divergence::detail::fail(function, "p", divergence::detail::describe("must be finite and >= 1", p));
}

inline void check_positions(const char* function, const char* argument, const std::vector<double>& v)
{
    if (v.empty()) divergence::detail::fail(function, argument, "empty input: at least one position is needed");
    for (std::size_t k = 0; k < v.size(); ++k)
        if (!std::isfinite(v[k])) divergence::detail::fail(function, argument, Index(k), -1, divergence::detail::describe("position must be finite", v[k]));
}

/// Checks weights (finite, >= 0, a positive finite total) for `count` positions.
inline void check_weights(const char* function, const char* argument, const std::vector<double>& w, std::size_t count)
{
    if (w.size() != count)
        divergence::detail::fail(function, argument,
                                 "has " + std::to_string(w.size()) + " entries for " + std::to_string(count) + " positions");
    CompensatedSum total;
    for (std::size_t k = 0; k < w.size(); ++k) {
        if (!(std::isfinite(w[k]) && w[k] >= 0.0))
            divergence::detail::fail(function, argument, Index(k), -1, divergence::detail::describe("weight must be finite and >= 0", w[k]));
        total.add(w[k]);
    }
    const double t = total.value();
    if (!(t > 0.0)) divergence::detail::fail(function, argument, "the weights sum to 0: the total mass must be positive");
    if (!std::isfinite(t)) divergence::detail::fail(function, argument, "the weights sum to inf: the total mass must be finite");
}

template <class Scalar>
void check_output(const char* function, const char* argument, const VectorOut<Scalar>& out, std::size_t count)
{
    if (out.requested() && std::size_t(out.size) != count)
        divergence::detail::fail(function, argument,
                                 "has " + std::to_string(out.size) + " entries for " + std::to_string(count) + " positions");
}

/// Refuses a gradient with an entry beyond DBL_MAX. The terms p |x_i - y_j|^(p-1) (and the potentials, sums of
/// |x_i - y_j|^p) overflow for a huge p or far-apart positions (p = 1e8 with |x_i - y_j| = 2); terms of both signs
/// meet in one sum (a point between two partners), where inf - inf would give NaN, so no such entry can be trusted.
/// The cost itself is then +inf or finite (the message gives it). `columns`: of a row-major matrix, 0 for a vector.
inline void check_gradient_finite(const char* function, const char* argument, const double* v, Index size, Index columns, double cost)
{
    for (Index k = 0; k < size; ++k)
        if (!std::isfinite(v[k]))
            divergence::detail::fail(function, argument, columns > 0 ? k / columns : k, columns > 0 ? k % columns : -1,
                                     divergence::detail::describe("the gradient overflows double: p |x_i - y_j|^(p-1) or |x_i - y_j|^p "
                                                                  "exceeds the largest double; cost",
                                                                  cost));
}

template <class Scalar>
void write(const VectorOut<Scalar>& out, const std::vector<double>& v)
{
    if (out.requested())
        for (std::size_t k = 0; k < v.size(); ++k) out[Index(k)] = Scalar(v[k]);
}

template <class Scalar, class X, class Y>
Wasserstein1dResult<Scalar> wasserstein_1d(const Eigen::DenseBase<X>& x, const Eigen::DenseBase<Y>& y, const std::vector<double>* a,
                                           const std::vector<double>* b, double p, const Wasserstein1dOutputs<Scalar>& out)
{
    const char* function = "ot::wasserstein_1d";
    const std::vector<double> xs = to_doubles(x), ys = to_doubles(y);
    check_positions(function, "x", xs);
    check_positions(function, "y", ys);
    if (a) check_weights(function, "a", *a, xs.size());
    if (b) check_weights(function, "b", *b, ys.size());
    check_p(function, p);
    check_output(function, "grad_x", out.grad_x, xs.size());
    check_output(function, "grad_y", out.grad_y, ys.size());
    check_output(function, "grad_a", out.grad_a, xs.size());
    check_output(function, "grad_b", out.grad_b, ys.size());

    const Index n = Index(xs.size()), m = Index(ys.size());
    Transport1dWorkspace work;
    Transport1d::prepare(work, n, m);
    std::vector<double> gx(out.grad_x.requested() ? xs.size() : 0), gy(out.grad_y.requested() ? ys.size() : 0),
        ga(out.grad_a.requested() ? xs.size() : 0), gb(out.grad_b.requested() ? ys.size() : 0);
    const auto data = [](std::vector<double>& v) { return v.empty() ? nullptr : v.data(); };
    const double cost = Transport1d::solve(xs.data(), n, ys.data(), m, a ? a->data() : nullptr, b ? b->data() : nullptr, p, work,
                                           data(gx), data(gy), data(ga), data(gb));
    check_gradient_finite(function, "grad_x", gx.data(), Index(gx.size()), 0, cost);
    check_gradient_finite(function, "grad_y", gy.data(), Index(gy.size()), 0, cost);
    check_gradient_finite(function, "grad_a", ga.data(), Index(ga.size()), 0, cost);
    check_gradient_finite(function, "grad_b", gb.data(), Index(gb.size()), 0, cost);
    write(out.grad_x, gx);
    write(out.grad_y, gy);
    write(out.grad_a, ga);
    write(out.grad_b, gb);
    return {Scalar(cost), Scalar(p == 1.0 ? cost : std::pow(cost, 1.0 / p))};
}

}  // namespace detail

/// Exact Wasserstein-p distance between two weighted empirical distributions on the line,
/// mu = sum_i a_i delta_{x_i} / sum a and nu = sum_j b_j delta_{y_j} / sum b (uniform 1/n, 1/m without weights):
///     cost = W_p^p(mu, nu) = int_0^1 |F^-1(t) - G^-1(t)|^p dt,   distance = W_p = cost^(1/p),
/// with F^-1, G^-1 the quantile functions. Computed by sorting both sides and sweeping the merged
/// cumulative weights (north-west corner rule on the sorted supports): O((n + m) log(n + m)) time,
/// O(n + m) memory. p is real, >= 1.
///
/// Weights are normalized on each side (as scipy.stats.wasserstein_distance): only their ratios matter.
/// Conversions: POT's ot.wasserstein_1d(x, y, a, b, p) returns W_p^p (= cost) for weights it does NOT
/// normalize, so it equals cost here when a and b each sum to 1; scipy.stats.wasserstein_distance(x, y, a, b)
/// = distance for p = 1.
///
/// Gradients (optional, of cost = W_p^p; for W_p multiply by W_p^(1-p) / p where W_p > 0), computed from the
/// optimal plan pi (pieces of mass pi_ij between x_i and y_j):
///   d cost / d x_i = sum_j pi_ij p |x_i - y_j|^(p-1) sign(x_i - y_j),  d cost / d y_j = -sum_i (the same),
/// with sign(0) = 0 (for p = 1 at x_i = y_j: the subgradient 0); a point of zero weight gets 0.
///   d cost / d a_i = (f_i - sum_k (a_k / A) f_k) / A, A = sum a,  and likewise for b with the potentials g,
/// where (f, g) are Kantorovich potentials of the normalized problem (f_i + g_j = |x_i - y_j|^p on the plan);
/// so sum_i a_i d cost / d a_i = 0 (only the ratios of the weights matter). These are exact derivatives
/// wherever cost is differentiable: distinct positions on each side, positive weights, and no cumulative
/// weight of mu strictly inside (0, 1) equal to one of nu. Elsewhere cost has a kink and the values are
/// one-sided: at equal cumulative weights (e.g. n = m without weights) the potentials are those in the
/// middle of the interval of optimal ones; tied positions on one side are ordered by index; a zero weight
/// gets the potential of its place on the sorted path. Without a, d cost / d a_i is taken at a_i = 1/n.
///
/// Accuracy: computed in double (float inputs are converted exactly) with compensated sums; the cumulative
/// weights are exact to a few ulp, so |error| <= about 4 (n + m) u max_ij |x_i - y_j|^p + 2 (n + m) u cost,
/// u = 2^-53, before the final rounding to the input's type. Positions whose differences overflow double
/// give +inf.
/// \throws std::invalid_argument for an empty x or y, a NaN or infinite position, a weight vector of the wrong
/// length, a negative, NaN or infinite weight, weights summing to 0 (or overflowing), p NaN, infinite or < 1,
/// an output of the wrong length, or a requested gradient that overflows double (a huge p or far-apart
/// positions, e.g. p = 1e8 with |x_i - y_j| = 2; the message gives the cost) (see docs/ot.md). Arguments of different scalar types do not compile.
template <class X, class Y>
Wasserstein1dResult<typename X::Scalar> wasserstein_1d(const Eigen::DenseBase<X>& x, const Eigen::DenseBase<Y>& y, double p,
                                                       const Wasserstein1dOutputs<typename X::Scalar>& out = {})
{
    detail::check_vector_type<X>();
    detail::check_vector_type<Y>();
    static_assert(std::is_same_v<typename X::Scalar, typename Y::Scalar>,
                  "divergence: x and y must have the same scalar type; convert one (x.cast<double>() or y.cast<float>()).");
    static_assert(X::IsVectorAtCompileTime && Y::IsVectorAtCompileTime,
                  "divergence: wasserstein_1d takes vectors of positions (VectorXd, RowVectorXf, m.col(j), ...).");
    return detail::wasserstein_1d<typename X::Scalar>(x, y, nullptr, nullptr, p, out);
}

/// wasserstein_1d with weights a (n) and b (m): finite, >= 0, each with a positive total; normalized on each
/// side. Points of weight 0 do not change the cost.
template <class X, class Y, class A, class B>
Wasserstein1dResult<typename X::Scalar> wasserstein_1d(const Eigen::DenseBase<X>& x, const Eigen::DenseBase<Y>& y,
                                                       const Eigen::DenseBase<A>& a, const Eigen::DenseBase<B>& b, double p,
                                                       const Wasserstein1dOutputs<typename X::Scalar>& out = {})
{
    detail::check_vector_type<X>();
    detail::check_vector_type<Y>();
    detail::check_vector_type<A>();
    detail::check_vector_type<B>();
    using Scalar = typename X::Scalar;
    static_assert(std::is_same_v<Scalar, typename Y::Scalar> && std::is_same_v<Scalar, typename A::Scalar> &&
                      std::is_same_v<Scalar, typename B::Scalar>,
                  "divergence: positions and weights must have the same scalar type; convert them (e.g. a.cast<double>()).");
    static_assert(X::IsVectorAtCompileTime && Y::IsVectorAtCompileTime && A::IsVectorAtCompileTime && B::IsVectorAtCompileTime,
                  "divergence: wasserstein_1d takes vectors of positions and weights (VectorXd, RowVectorXf, m.col(j), ...).");
    const std::vector<double> wa = detail::to_doubles(a), wb = detail::to_doubles(b);
    return detail::wasserstein_1d<Scalar>(x, y, &wa, &wb, p, out);
}

}  // namespace divergence::ot

#endif
