#ifndef DIVERGENCE_DISCRETE_CAUCHY_SCHWARZ_HPP
#define DIVERGENCE_DISCRETE_CAUCHY_SCHWARZ_HPP

#include <algorithm>
#include <cmath>

#include "divergence/core/call.hpp"
#include "divergence/core/rows.hpp"

namespace divergence {
namespace detail {

/// Cauchy-Schwarz divergence per row: -2 log<p,q> + log||p||^2 + log||q||^2, every term a
/// log-sum-exp of log-domain sums so that extreme logits neither overflow nor underflow.
struct CauchySchwarzKernel {
    static constexpr bool binary = true;

    /// Three streaming log-sum-exps; merging two slices merges each.
    struct State {
        LogSumExp cross;   ///< log <p, q> = LSE_i(log p_i + log q_i)
        LogSumExp self_p;  ///< log ||p||^2 = LSE_i(2 log p_i)
        LogSumExp self_q;  ///< log ||q||^2 = LSE_i(2 log q_i)

        void merge(const State& other)
        {
            cross.merge(other.cross);
            self_p.merge(other.self_p);
            self_q.merge(other.self_q);
        }
    };

    struct Final {
        double value;
        State sums;  // the partials divide by each sum as (max, sum) so no exp overflows spuriously
    };

    void add(State& state, const Element& e) const
    {
        // -inf + x stays -inf (never NaN: log-probabilities are never +inf), and adds nothing.
        state.cross.add(e.log_p + e.log_q);
        state.self_p.add(2.0 * e.log_p);
        state.self_q.add(2.0 * e.log_q);
    }

    Final finish(const State& state) const
    {
        // No common support: <p, q> = 0 and the divergence is +inf (this also covers a zero row
        // passed without validation, which would otherwise give inf - inf).
        if (state.cross.max == -infinity) return {infinity, state};
        // Group the maxima and the log-sums apart: at P == Q both groups cancel exactly, and for
        // logits of +-1e300 the maxima carry the magnitude without absorbing the O(1) log-sums.
        const double maxima = (state.self_p.max + state.self_q.max) - 2.0 * state.cross.max;
        const double sums = (std::log(state.self_p.sum) + std::log(state.self_q.sum)) - 2.0 * std::log(state.cross.sum);
        return {std::max(0.0, maxima + sums), state};  // >= 0 (Cauchy-Schwarz inequality)
    }

    /// exp(x - lse) as exp(x - max) / sum: exact when x and max are huge and equal.
    static double ratio(double x, const LogSumExp& lse) { return std::exp(x - lse.max) / lse.sum; }

    Partials partials(const Final& f, const Element& e) const
    {
        Partials d;
        if (f.value == infinity) {
            // <p, q> = 0: dD/dp_i = -2 q_i / <p,q> + ... diverges to -inf wherever q_i > 0 however
            // <p, q> tends to 0; every other partial is indeterminate (0/0) and is set to 0.
            if (e.log_q != -infinity) d.d_p = -infinity;
            if (e.log_p != -infinity) d.d_q = -infinity;
            return d;
        }
        // w_i = p_i q_i / <p,q>, u_i = p_i^2 / ||p||^2, v_i = q_i^2 / ||q||^2 (each sums to 1).
        const double w = e.log_p == -infinity || e.log_q == -infinity ? 0.0 : ratio(e.log_p + e.log_q, f.sums.cross);
        const double u = e.log_p == -infinity ? 0.0 : ratio(2.0 * e.log_p, f.sums.self_p);
        const double v = e.log_q == -infinity ? 0.0 : ratio(2.0 * e.log_q, f.sums.self_q);
        d.d_log_p = 2.0 * (u - w);
        d.d_log_q = 2.0 * (v - w);
        // dD/dp_i = -2 q_i / <p,q> + 2 p_i / ||p||^2, each ratio taken in the log domain.
        const double q_over_cross = e.log_q == -infinity ? 0.0 : ratio(e.log_q, f.sums.cross);
        const double p_over_cross = e.log_p == -infinity ? 0.0 : ratio(e.log_p, f.sums.cross);
        const double p_over_self = e.log_p == -infinity ? 0.0 : ratio(e.log_p, f.sums.self_p);
        const double q_over_self = e.log_q == -infinity ? 0.0 : ratio(e.log_q, f.sums.self_q);
        d.d_p = 2.0 * (p_over_self - q_over_cross);
        d.d_q = 2.0 * (q_over_self - p_over_cross);
        return d;
    }
};

}  // namespace detail

/// Cauchy-Schwarz divergence D_CS(P, Q) = -log( <p,q>^2 / (||p||^2 ||q||^2) )
///   = -2 log sum_i p_i q_i + log sum_i p_i^2 + log sum_i q_i^2, in nats, per row
/// (the Principe / information-theoretic-learning definition; the "half" form
/// -log(<p,q> / (||p|| ||q||)) is this value / 2, and its gradients are these / 2).
/// Symmetric, >= 0, 0 iff P = Q (iff p is proportional to q), invariant under scaling either
/// argument (the formula holds for any non-negative vectors; the probs form still validates rows
/// as distributions unless Validation::none).
/// Conventions: entries zero in either argument add nothing; disjoint supports (<p,q> = 0) give +inf.
/// Gradients: d/dp_i = -2 q_i / <p,q> + 2 p_i / ||p||^2, d/dlog p_i = 2 (p_i^2/||p||^2 - p_i q_i/<p,q>);
/// likewise for q. From logits z / T: d/dlog p_i / T (the log-domain partials sum to 0).
/// Rows with value +inf: d/dp_i = -inf where q_i > 0, d/dq_i = -inf where p_i > 0, every other
/// partial 0 (so log_probs and logits gradients of such rows are 0).
/// Accuracy: every sum is a log-sum-exp in double, so logits of +-1e4 (float) or +-1e300 (double)
/// stay exact; the absolute error is a few ulp of |log||p||^2| + |log||q||^2| + 2|log<p,q>|
/// (see docs/cauchy-schwarz-renyi.md), hence the relative error grows as D -> 0.
/// \throws std::invalid_argument on bad shapes, entries, options or outputs (see docs/errors.md).
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> cauchy_schwarz(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call("cauchy_schwarz", detail::CauchySchwarzKernel{}, p, q, options, out);
}

/// cauchy_schwarz per row: a vector of B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> cauchy_schwarz_rows(const P& p, const Q& q, const Options& options = {},
                                                         const Out& out = {})
{
    return detail::call_rows("cauchy_schwarz", detail::CauchySchwarzKernel{}, p, q, options, out);
}

}  // namespace divergence

#endif
