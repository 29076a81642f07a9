#ifndef DIVERGENCE_LOSSES_TOKEN_WISE_HPP
#define DIVERGENCE_LOSSES_TOKEN_WISE_HPP

// Token-wise (per vocabulary entry) balance of forward and reverse KL: ToDi (Jung et al., "ToDi:
// Token-wise Distillation via Fine-Grained Divergence Control", EMNLP 2025, arXiv:2505.16297).

#include <algorithm>
#include <cmath>

#include "divergence/core/call.hpp"
#include "divergence/core/element.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/simd.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence {
namespace detail {

/// Per element, with l = log p - log q and the weight w = sigmoid(beta l) held constant:
///   term = w p l - (1 - w) q l                      (w times the forward KL term, 1 - w the reverse one)
///   d/dlog p = w p (1 + l) - (1 - w) q,   d/dlog q = -w p + (1 - w) q (1 - l),
/// the partial derivatives of the term with w frozen (a stop-gradient), not of the term itself.
/// Outside both supports 0; p = 0 < q gives w = 0 (beta > 0) and +inf (reverse KL's support mismatch),
/// q = 0 < p gives w = 1 and +inf. The element engine runs it on the executor: a log-sum-exp pass per
/// logit input, one pass for the value and the sums of the partials, one pass writing the gradients.
struct TokenWiseKernel {
    static constexpr bool binary = true;
    static constexpr bool partials_use_value = false;

    double beta = 1.0;

    /// sigmoid(beta l) = 1 / (1 + exp(-beta l)), in [0, 1] for every l (exp overflow gives 0); 1/2 at beta = 0,
    /// also where l = +-inf (a zero of p or q), where beta l would be 0 * inf = NaN.
    template <class V>
    DIVERGENCE_SIMD_INLINE V weight(const V& l) const
    {
        if (beta == 0.0) return simd::broadcast<V>(0.5);
        const V one = simd::broadcast<V>(1.0);
        return simd::div(one, simd::add(one, simd::exp(simd::mul(simd::broadcast<V>(-beta), l))));
    }
    /// The weight where p, q > 0: at beta = 1, p / (p + q) (the same sigmoid, without its exponential).
    template <class V>
    DIVERGENCE_SIMD_INLINE V positive_weight(const ElementLanes<V>& e, const V& l) const
    {
        return beta == 1.0 ? simd::div(e.p, simd::add(e.p, e.q)) : weight(l);
    }
    /// Whether every lane has p > 0 and q > 0 (then l is finite and no term needs a limit).
    template <class V>
    static DIVERGENCE_SIMD_INLINE bool positive(const ElementLanes<V>& e)
    {
        return !simd::any(simd::equal(simd::min(e.p, e.q), simd::broadcast<V>(0.0)));
    }
    /// l = log p - log q, 0 where both are -inf (outside both supports).
    template <class V>
    static V log_ratio(const ElementLanes<V>& e, const V& outside)
    {
        return zero_where(outside, simd::sub(e.log_p, e.log_q));
    }
    template <class V>
    static V outside(const ElementLanes<V>& e)
    {
        const V zero = simd::broadcast<V>(0.0);
        return simd::keep(simd::equal(e.p, zero), simd::equal(e.q, zero));
    }
    template <class V>
    DIVERGENCE_SIMD_INLINE V term(const ElementLanes<V>& e) const
    {
        if (positive(e)) return positive_lanes(e).term;
        const V zero = simd::broadcast<V>(0.0), one = simd::broadcast<V>(1.0);
        const V out = outside(e);
        const V l = log_ratio(e, out);
        const V w = weight(l);
        // p l and q l are 0 where the mass is 0 (0 log 0 = 0) unless the other one is too.
        const V forward = zero_where(simd::equal(e.p, zero), simd::mul(e.p, l));
        const V reverse = zero_where(simd::equal(e.q, zero), simd::mul(e.q, l));
        const V t = simd::sub(zero_where(simd::equal(w, zero), simd::mul(w, forward)),
                              zero_where(simd::equal(w, one), simd::mul(simd::sub(one, w), reverse)));
        return zero_where(out, t);
    }
    double finish(double sum) const { return std::max(0.0, sum); }  // each term is >= 0 up to the linear parts, which cancel
    /// The term and the partials where p, q > 0 (positive()): no limits to take.
    template <class V>
    struct Positive {
        V term, d_p, d_log_p, d_q, d_log_q;
    };
    template <class V>
    DIVERGENCE_SIMD_INLINE Positive<V> positive_lanes(const ElementLanes<V>& e) const
    {
        const V one = simd::broadcast<V>(1.0);
        const V l = simd::sub(e.log_p, e.log_q);
        const V w = positive_weight(e, l), v = simd::sub(one, w);
        const V wp = simd::mul(w, e.p), vq = simd::mul(v, e.q);
        const V one_plus = simd::add(one, l), one_minus = simd::sub(one, l);
        Positive<V> r;
        r.term = simd::mul(l, simd::sub(wp, vq));
        r.d_log_p = simd::sub(simd::mul(wp, one_plus), vq);
        r.d_log_q = simd::sub(simd::mul(vq, one_minus), wp);
        r.d_p = simd::sub(simd::mul(w, one_plus), simd::div(vq, e.p));
        r.d_q = simd::sub(simd::mul(v, one_minus), simd::div(wp, e.q));
        return r;
    }
    /// The term and d/dlog p, d/dlog q at once (the pass that sums all three shares l and w).
    template <class V>
    DIVERGENCE_SIMD_INLINE TermLanes<V> term_and_partials(const ElementLanes<V>& e) const
    {
        if (positive(e)) {
            const Positive<V> r = positive_lanes(e);
            return {r.term, r.d_log_p, r.d_log_q};
        }
        const PartialLanes<V> d = partials(0.0, e);
        return {term(e), d.d_log_p, d.d_log_q};
    }
    template <class V>
    DIVERGENCE_SIMD_INLINE PartialLanes<V> partials(double, const ElementLanes<V>& e) const
    {
        if (positive(e)) {
            const Positive<V> r = positive_lanes(e);
            return {r.d_p, r.d_log_p, r.d_q, r.d_log_q};
        }
        const V zero = simd::broadcast<V>(0.0), one = simd::broadcast<V>(1.0);
        const V out = outside(e);
        const V l = log_ratio(e, out);
        const V w = weight(l), v = simd::sub(one, w);
        const V p_zero = simd::equal(e.p, zero), q_zero = simd::equal(e.q, zero);
        // dterm/dp = w (1 + l) - (1 - w) q / p, dterm/dq = -w p / q + (1 - w)(1 - l).
        const V wp = zero_where(simd::equal(w, zero), simd::mul(w, e.p));
        const V vq = zero_where(simd::equal(v, zero), simd::mul(v, e.q));
        PartialLanes<V> d;
        d.d_log_p = zero_where(out, simd::sub(zero_where(p_zero, simd::mul(wp, simd::add(one, l))), vq));
        d.d_log_q = zero_where(out, simd::sub(zero_where(q_zero, simd::mul(vq, simd::sub(one, l))), wp));
        d.d_p = zero_where(out, simd::sub(zero_where(simd::equal(w, zero), simd::mul(w, simd::add(one, l))), simd::div(vq, e.p)));
        d.d_q = zero_where(out, simd::sub(zero_where(simd::equal(v, zero), simd::mul(v, simd::sub(one, l))), simd::div(wp, e.q)));
        return d;
    }
};

inline TokenWiseKernel token_wise_kernel(const char* function, double beta)
{
    if (!(std::isfinite(beta) && beta >= 0.0)) fail(function, "beta", describe("must be finite and >= 0, got", beta));
    return TokenWiseKernel{beta};
}

}  // namespace detail

/// Token-wise balance of forward and reverse KL (ToDi, Jung et al. 2025, arXiv:2505.16297), per row:
///   D(P, Q) = sum_i [w_i p_i log(p_i / q_i) + (1 - w_i) q_i log(q_i / p_i)],   w_i = sigmoid(beta log(p_i / q_i)),
/// with P the teacher and Q the student: where the student underestimates the teacher (p_i > q_i) the
/// forward KL term dominates, where it overestimates the reverse one. beta = 0 gives
/// (KL(P || Q) + KL(Q || P)) / 2 (half of Jeffreys'); beta -> inf gives the larger of the two terms per entry.
/// Gradients treat w_i as a constant (stop-gradient, as ToDi's implementation detaches the weight):
///   d/dlog q_i = (1 - w_i) q_i (1 - l_i) - w_i p_i,   d/dlog p_i = w_i p_i (1 + l_i) - (1 - w_i) q_i,   l_i = log(p_i / q_i),
/// so they are not the derivatives of the value (the finite-difference test freezes w). Logits through the
/// softmax Jacobian with 1/T; every form, mask, weight and reduction as for kl.
/// Zeros: outside both supports 0; one mass 0 gives +inf (one of the two KL terms is infinite).
/// \throws std::invalid_argument if beta is negative or not finite, and on the inputs' usual errors.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> token_wise_kl(const P& p, const Q& q, double beta, const Options& options = {},
                                         const Out& out = {})
{
    const char* function = "token_wise_kl";
    return detail::call(function, detail::token_wise_kernel(function, beta), p, q, options, out);
}

/// token_wise_kl per row: B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> token_wise_kl_rows(const P& p, const Q& q, double beta, const Options& options = {},
                                                         const Out& out = {})
{
    return detail::call_rows("token_wise_kl", detail::token_wise_kernel("token_wise_kl_rows", beta), p, q, options, out);
}

}  // namespace divergence

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
