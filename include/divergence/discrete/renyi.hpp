#ifndef DIVERGENCE_DISCRETE_RENYI_HPP
#define DIVERGENCE_DISCRETE_RENYI_HPP

#include <algorithm>
#include <cmath>

#include "divergence/core/call.hpp"
#include "divergence/core/rows.hpp"
#include "divergence/discrete/kl.hpp"

namespace divergence {
namespace detail {

/// Renyi divergence of order alpha per row: log(sum_i p_i^alpha q_i^(1-alpha) / sum_i p_i) / (alpha - 1),
/// with alpha == 1 computed as KL(P || Q). Dividing by sum_i p_i (= 1 for a distribution; Renyi's own
/// definition for incomplete distributions) keeps the rounding of the row's normalization
/// (|sum p - 1| up to the validation tolerance) from being amplified by 1 / (alpha - 1).
struct RenyiKernel {
    static constexpr bool binary = true;
    double alpha = 2.0;  ///< finite, >= 0 (checked by renyi())

    struct State {
        LogSumExp terms;        ///< L = log S = LSE_i t_i, t_i = alpha log p_i + (1 - alpha) log q_i
        CompensatedSum mass;    ///< m = sum_i p_i
        CompensatedSum excess;  ///< S - m = sum_i p_i expm1((alpha-1) log(p_i/q_i))
        bool infinite = false;  ///< some term is +inf (alpha > 1 and p_i > 0 = q_i)
        KlKernel::State kl;     ///< alpha == 1 only

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
        double mass;  ///< m = sum_i p_i
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
            KlKernel{}.add(state.kl, e);
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
        const double mass = state.mass.value();
        if (is_kl()) return {KlKernel{}.finish(state.kl).value, state.terms, false, mass};
        if (state.infinite) return {infinity, state.terms, true, mass};
        const double beta = alpha - 1.0;
        const double log_total = state.terms.value();
        // No common support (alpha < 1): S = 0, D = -inf / (alpha - 1) = +inf. (With alpha > 1 this
        // only happens for a zero row passed without validation.)
        if (log_total == -infinity) return {alpha < 1.0 ? infinity : 0.0, state.terms, alpha < 1.0, mass};
        const double log_ratio = log_total - std::log(mass);  // log(S / m)
        double value = log_ratio / beta;
        if (std::abs(log_ratio) <= 0.5) {
            // S / m is near 1, so log(S / m) has lost the digits of S / m - 1 that D needs
            // (catastrophically as alpha -> 1, where log(S / m) ~ (alpha - 1) KL): sum S - m directly.
            value = std::log1p(state.excess.value() / mass) / beta;
        }
        return {std::max(0.0, value), state.terms, false, mass};  // >= 0 (Gibbs' inequality)
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
        const double beta = alpha - 1.0;
        // The -log(m) / (alpha - 1) part: d/dp_i = -1 / ((alpha - 1) m), d/dlog p_i = -p_i / ((alpha - 1) m).
        const double normalization = -1.0 / (beta * f.mass);
        if (p_zero) {
            // d/dp_i of p_i^alpha at 0 is +inf for 0 < alpha < 1 (times 1/(alpha-1) < 0), 0 for alpha > 1
            // (at alpha = 0, where D jumps when p_i leaves 0, only the smooth part is kept).
            d.d_p = !q_zero && alpha > 0.0 && alpha < 1.0 ? -infinity : normalization;
            return d;
        }
        d.d_p = normalization;
        d.d_log_p = e.p * normalization;
        if (q_zero) {
            // alpha < 1 here. At alpha = 0, D = -log sum_{p > 0} q + log m, so dD/dq_i = -1/S; for
            // 0 < alpha < 1, dD/dq_i = -(p_i/q_i)^alpha / S -> -inf.
            d.d_q = alpha == 0.0 ? -ratio(0.0, f.terms) : -infinity;
            return d;
        }
        const double log_ratio = e.log_p - e.log_q;
        const double w = ratio(exponent(e), f.terms);  // p_i^alpha q_i^(1-alpha) / S
        d.d_log_p += alpha * w / beta;
        d.d_log_q = -w;
        if (alpha != 0.0) d.d_p += alpha / beta * ratio(beta * log_ratio, f.terms);  // alpha w / ((alpha-1) p_i)
        d.d_q = -ratio(alpha == 0.0 ? 0.0 : alpha * log_ratio, f.terms);           // -w / q_i
        return d;
    }
};

inline void validate_alpha(const char* function, double alpha)
{
    if (!(alpha >= 0.0) || !std::isfinite(alpha)) fail(function, "alpha", describe("must be finite and >= 0, got", alpha));
}

}  // namespace detail

/// Renyi divergence of order alpha, D_alpha(P || Q) = log( sum_i p_i^alpha q_i^(1-alpha) ) / (alpha - 1),
/// in nats, per row; alpha in [0, inf). alpha == 1 is KL(P || Q) (computed by the KL formula);
/// alpha == 0 is -log sum_{i: p_i > 0} q_i; alpha = 1/2 is -2 log(1 - H^2) (Hellinger H^2 =
/// 1 - sum sqrt(p q)); alpha = 2 is log(1 + chi^2). Non-negative and non-decreasing in alpha.
/// The sum is divided by m = sum_i p_i (Renyi's definition for incomplete distributions; m = 1 for
/// a distribution): otherwise a row normalized to 1 +- delta (rounding, or the validation
/// tolerance) would be off by delta / (alpha - 1), unbounded as alpha -> 1.
/// Conventions: terms with p_i = 0 count 0 (alpha > 0) or are outside the sum (alpha = 0);
/// p_i > 0 = q_i gives +inf for alpha >= 1 and a 0 term for alpha < 1, where only disjoint
/// supports give +inf.
/// Gradients, with w_i = p_i^alpha q_i^(1-alpha) / S: d/dp_i = (alpha w_i / p_i - 1 / m) / (alpha-1),
/// d/dq_i = -w_i / q_i, d/dlog p_i = (alpha w_i - p_i / m) / (alpha-1), d/dlog q_i = -w_i; from logits
/// z / T: alpha (w - p) / ((alpha-1) T) and (q - w) / T, which tend to those of kl as alpha -> 1.
/// At alpha = 1 all are those of kl. Zero entries: d/dp_i = -inf where p_i = 0 < q_i and 0 < alpha < 1,
/// d/dq_i = -inf where q_i = 0 < p_i and 0 < alpha < 1 (-1/S at alpha = 0); log-domain partials are
/// finite. Rows with value +inf: d/dq_i = -inf where p_i > 0 = q_i, d/dp_i = -inf where
/// p_i = 0 < q_i (0 < alpha < 1), every other partial 0.
/// Accuracy: log S is a log-sum-exp in double (logits of +-1e4 float / +-1e300 double stay exact);
/// when |log(S / m)| <= 1/2, S - m is summed directly as sum_i p_i expm1((alpha-1) log(p_i/q_i)), so
/// the relative error does not grow like eps / |alpha - 1| (measured: see docs/cauchy-schwarz-renyi.md).
/// The logits gradient of p near alpha = 1 has absolute error ~ eps / |alpha - 1| (from w - p).
/// If alpha |log p_i - log q_i| overflows double (alpha > ~1e8 with logits of 1e300) the value is +inf.
/// \throws std::invalid_argument if alpha is negative, NaN or infinite ("alpha"), and on bad shapes,
/// entries, options or outputs (see docs/errors.md).
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> renyi(const P& p, const Q& q, double alpha, const Options& options = {}, const Out& out = {})
{
    detail::validate_alpha("renyi", alpha);
    return detail::call("renyi", detail::RenyiKernel{alpha}, p, q, options, out);
}

/// renyi per row: a vector of B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> renyi_rows(const P& p, const Q& q, double alpha, const Options& options = {},
                                                 const Out& out = {})
{
    detail::validate_alpha("renyi_rows", alpha);
    return detail::call_rows("renyi", detail::RenyiKernel{alpha}, p, q, options, out);
}

}  // namespace divergence

#endif
