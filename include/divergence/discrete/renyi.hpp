#ifndef DIVERGENCE_DISCRETE_RENYI_HPP
#define DIVERGENCE_DISCRETE_RENYI_HPP

#include <algorithm>
#include <cmath>

#include "divergence/core/rows.hpp"
#include "divergence/discrete/kl.hpp"

namespace divergence {
namespace detail {

/// Renyi divergence of order alpha per row: log(sum_i p_i^alpha q_i^(1-alpha)) / (alpha - 1),
/// with alpha == 1 computed as KL(P || Q).
struct RenyiKernel {
    static constexpr bool binary = true;
    double alpha = 2.0;  ///< finite, >= 0 (checked by renyi())

    struct State {
        LogSumExp terms;        ///< L = log S = LSE_i t_i, t_i = alpha log p_i + (1 - alpha) log q_i
        CompensatedSum mass;    ///< sum_i p_i
        CompensatedSum excess;  ///< sum_i (p_i^alpha q_i^(1-alpha) - p_i) = sum_i p_i expm1((alpha-1) log(p_i/q_i))
        bool infinite = false;  ///< some term is +inf (alpha > 1 and p_i > 0 = q_i)
        CompensatedSum kl;      ///< alpha == 1 only

        void merge(const State& other)
        {
            terms.merge(other.terms);
            mass.merge(other.mass);
            excess.merge(other.excess);
            infinite = infinite || other.infinite;
            kl.merge(other.kl);
        }
    };

    struct Final {
        double value;
        LogSumExp terms;
        bool infinite;
    };

    bool is_kl() const { return alpha == 1.0; }

    /// alpha log p + (1 - alpha) log q for finite log p and log q. When alpha is huge both products
    /// can overflow with opposite signs: the other grouping then gives the right infinity.
    double exponent(const Element& e) const
    {
        const double t = alpha * e.log_p + (1.0 - alpha) * e.log_q;
        return std::isnan(t) ? alpha * (e.log_p - e.log_q) + e.log_q : t;
    }

    void add(State& state, const Element& e) const
    {
        if (is_kl()) {
            state.kl.add(KlKernel::term(e));
            return;
        }
        // p_i = 0: the term p_i^alpha q_i^(1-alpha) is 0 for alpha > 0; at alpha = 0 the sum runs
        // over the support of P only (the limit alpha -> 0+).
        if (e.log_p == -infinity) return;
        state.mass.add(e.p);
        if (e.log_q == -infinity) {
            if (alpha > 1.0) {
                state.infinite = true;  // q_i^(1-alpha) = +inf
            } else {
                state.excess.add(-e.p);  // the term is 0
            }
            return;
        }
        const double t = exponent(e);
        if (t == infinity) {  // only for astronomically large alpha: the sum overflows double
            state.infinite = true;
            return;
        }
        state.terms.add(t);
        // p_i expm1(...) keeps the excess exact relative to itself near alpha = 1; p_i can only
        // be 0 here when logits underflow it, and then the term is exp(t) itself.
        state.excess.add(e.p > 0.0 ? e.p * std::expm1((alpha - 1.0) * (e.log_p - e.log_q)) : std::exp(t));
    }

    Final finish(const State& state) const
    {
        if (is_kl()) return {std::max(0.0, state.kl.value()), state.terms, false};
        if (state.infinite) return {infinity, state.terms, true};
        const double beta = alpha - 1.0;
        const double log_total = state.terms.value();
        // No common support (alpha < 1): S = 0, D = -inf / (alpha - 1) = +inf.
        if (log_total == -infinity) return {alpha < 1.0 ? infinity : 0.0, state.terms, alpha < 1.0};
        double value = log_total / beta;
        if (std::abs(log_total) <= 0.5) {
            // S is near 1, so log S loses the digits of S - 1 that D needs (catastrophically as
            // alpha -> 1, where log S ~ (alpha - 1) KL). Take S - 1 = (sum p - 1) + excess from
            // compensated sums instead: sum p is ~1, so subtracting 1 is exact.
            CompensatedSum s_minus_1 = state.mass;
            s_minus_1.add(-1.0);
            s_minus_1.merge(state.excess);
            value = std::log1p(s_minus_1.value()) / beta;
        }
        return {std::max(0.0, value), state.terms, false};  // >= 0 (Gibbs' inequality for alpha > 0)
    }

    /// exp(x - L) as exp(x - max) / sum: exact when x and max are huge and equal.
    static double ratio(double x, const LogSumExp& lse) { return std::exp(x - lse.max) / lse.sum; }

    Partials partials(const Final& f, const Element& e) const
    {
        if (is_kl()) return KlKernel{}.partials(KlKernel::Final{f.value}, e);
        Partials d;
        const bool p_zero = e.log_p == -infinity, q_zero = e.log_q == -infinity;
        if (f.infinite) {
            // S = +inf (alpha > 1) or S = 0 (alpha < 1): the partials that diverge however the
            // limit is approached are -inf, the others are indeterminate and set to 0.
            if (!p_zero && q_zero) d.d_q = -infinity;
            if (p_zero && !q_zero && alpha > 0.0 && alpha < 1.0) d.d_p = -infinity;
            return d;
        }
        if (p_zero) {
            // d/dp_i of p_i^alpha at 0 is +inf for 0 < alpha < 1 (times 1/(alpha-1) < 0), 0 for alpha > 1.
            if (!q_zero && alpha > 0.0 && alpha < 1.0) d.d_p = -infinity;
            return d;
        }
        if (q_zero) {
            // alpha < 1 here. At alpha = 0, D = -log sum_{p > 0} q, so dD/dq_i = -1/S; for
            // 0 < alpha < 1, dD/dq_i = -(p_i/q_i)^alpha / S -> -inf.
            d.d_q = alpha == 0.0 ? -ratio(0.0, f.terms) : -infinity;
            return d;
        }
        const double beta = alpha - 1.0;
        const double log_ratio = e.log_p - e.log_q;
        const double w = ratio(exponent(e), f.terms);  // p_i^alpha q_i^(1-alpha) / S
        d.d_log_p = alpha * w / beta;
        d.d_log_q = -w;
        d.d_p = alpha == 0.0 ? 0.0 : alpha / beta * ratio(beta * log_ratio, f.terms);  // alpha w / ((alpha-1) p_i)
        d.d_q = -ratio(alpha == 0.0 ? 0.0 : alpha * log_ratio, f.terms);              // -w / q_i
        return d;
    }
};

}  // namespace detail

/// Renyi divergence of order alpha, D_alpha(P || Q) = log( sum_i p_i^alpha q_i^(1-alpha) ) / (alpha - 1),
/// in nats, per row; alpha in [0, inf). alpha == 1 is KL(P || Q) (computed by the KL formula);
/// alpha == 0 is -log sum_{i: p_i > 0} q_i; alpha = 1/2 is -2 log(1 - H^2) (Hellinger H^2 =
/// 1 - sum sqrt(p q)); alpha = 2 is log(1 + chi^2). Non-negative and non-decreasing in alpha.
/// Conventions: terms with p_i = 0 count 0 (alpha > 0) or are outside the sum (alpha = 0);
/// p_i > 0 = q_i gives +inf for alpha > 1 (and alpha = 1) and a 0 term for alpha < 1, where only
/// disjoint supports give +inf.
/// Gradients, with w_i = p_i^alpha q_i^(1-alpha) / S: d/dp_i = alpha w_i / ((alpha-1) p_i),
/// d/dq_i = -w_i / q_i, d/dlog p_i = alpha w_i / (alpha-1), d/dlog q_i = -w_i (0 where p_i or q_i is 0).
/// At alpha = 1 those of kl. Partials of 0 entries: d/dp_i = -inf where p_i = 0 < q_i and
/// 0 < alpha < 1, d/dq_i = -inf where q_i = 0 < p_i and 0 < alpha < 1 (-1/S at alpha = 0).
/// Rows with value +inf: d/dq_i = -inf where p_i > 0 = q_i, d/dp_i = -inf where p_i = 0 < q_i
/// (0 < alpha < 1), every other partial 0.
/// The probs and log_probs gradients include the normal-to-the-simplex part alpha/(alpha-1) of the
/// formula (sum_i d/dlog p_i = alpha/(alpha-1)), which diverges as alpha -> 1; logits gradients,
/// (alpha/(alpha-1)) (w - p) / T and (q - w) / T, tend to those of kl.
/// Accuracy: log S is a log-sum-exp in double (logits of +-1e4 float / +-1e300 double stay exact);
/// when |log S| <= 1/2, S - 1 is summed directly as sum p_i expm1((alpha-1) log(p_i/q_i)) so the
/// relative error does not grow like eps / |alpha - 1| (measured: see docs/cauchy-schwarz-renyi.md).
/// If alpha |log p_i - log q_i| overflows double (alpha > ~1e8 with logits of 1e300) the value is +inf.
/// \throws std::invalid_argument if alpha is negative, NaN or infinite ("alpha"), and on bad shapes,
/// entries, options or outputs (see docs/errors.md).
template <class P, class Q, class Scalar = typename detail::input_t<P>::Scalar>
Scalar renyi(const P& p, const Q& q, double alpha, const Options& options = {}, const Outputs<Scalar>& out = {})
{
    if (!(alpha >= 0.0) || !std::isfinite(alpha)) {
        detail::fail("renyi", "alpha", detail::describe("must be finite and >= 0, got", alpha));
    }
    return detail::evaluate("renyi", detail::RenyiKernel{alpha}, detail::as_input(p), detail::as_input(q), options, out);
}

}  // namespace divergence

#endif
