#ifndef DIVERGENCE_DISCRETE_KL_HPP
#define DIVERGENCE_DISCRETE_KL_HPP

#include <algorithm>
#include <cmath>
#include <utility>

#include "divergence/core/call.hpp"
#include "divergence/core/element.hpp"
#include "divergence/core/rows.hpp"
#include "divergence/detail/fused_kl.hpp"
#include "divergence/detail/log_ratio.hpp"
#include "divergence/detail/swapped.hpp"

namespace divergence {
namespace detail {

/// KL(P || Q) per row: sum_i p_i (log p_i - log q_i).
/// Where p_i and q_i are close, p log(p/q) is summed as q g(log(p/q)) + (p - q) with
/// g(a) = a e^a - e^a + 1 >= 0: the first parts are non-negative and the second sum, about 0, is
/// compensated, so the cancellation between terms of opposite signs (relative error eps |log p| / KL
/// when P is close to Q) is avoided.
struct KlKernel {
    static constexpr bool binary = true;
    struct State {
        CompensatedSum gaps;    ///< sum of q g(log(p/q)) where p ~ q, and of p log(p/q) elsewhere
        CompensatedSum linear;  ///< sum of (p - q) where p ~ q
        void merge(const State& other)
        {
            gaps.merge(other.gaps);
            linear.merge(other.linear);
        }
    };
    struct Final {
        double value;
    };

    /// Adds p (log p - log q) with 0 log 0 = 0 and p > 0, q = 0 giving +inf.
    void add(State& state, const Element& e) const
    {
        if (e.log_p == -infinity) return;  // p = 0 (a p that underflowed from logits is still > 0)
        if (e.log_q == -infinity) {
            state.gaps.add(infinity);
            return;
        }
        const double r = log_ratio(e.p, e.log_p, e.q, e.log_q);
        if (std::abs(r) <= 0.5) {
            state.gaps.add(e.q * jensen_gap_part(r));
            state.linear.add(e.p - e.q);
        } else {
            state.gaps.add(e.p * r);
        }
    }
    Final finish(const State& state) const
    {
        return {std::max(0.0, state.gaps.value() + state.linear.value())};  // >= 0 (Gibbs)
    }
    /// The fast path for logits (core/rows.hpp picks it; reverse KL inherits it through Swapped).
    FusedKl fused() const { return {}; }

    // The element form (core/element.hpp): the same sums in double lanes, for every other mix of forms.
    static constexpr bool partials_use_value = false;
    /// (q g(r), p - q) where |r| <= 0.5 and (p r, 0) elsewhere, r = log(p/q); (0, 0) where p = 0.
    /// p - q is exact from probabilities (within a factor 2); from two log-probabilities (exact_logs)
    /// it is q expm1(r) = q (r - g(r)) / (1 - r) instead: p and q are then rounded exps, whose
    /// difference would carry eps p into a sum of size KL.
    template <class V>
    std::pair<V, V> term_parts(const ElementLanes<V>& e) const
    {
        const V zero = simd::broadcast<V>(0.0), one = simd::broadcast<V>(1.0);
        const V r = log_ratio_lanes(e.p, e.log_p, e.q, e.log_q, e.exact_logs);
        const V far = simd::less(simd::broadcast<V>(0.5), simd::max(r, simd::sub(zero, r)));
        const V p_zero = simd::equal(e.p, zero);
        const V g = jensen_gap_near_one(r);
        const V gap = simd::select(far, simd::mul(e.p, r), simd::mul(e.q, g));
        const V difference = e.exact_logs ? simd::div(simd::mul(e.q, simd::sub(r, g)), simd::sub(one, r)) : simd::sub(e.p, e.q);
        const V linear = simd::select(far, zero, difference);
        return {zero_where(p_zero, gap), zero_where(p_zero, linear)};
    }
    template <class V>
    V term(const ElementLanes<V>& e) const
    {
        const auto [gap, linear] = term_parts(e);
        return simd::add(gap, linear);
    }
    double finish(double sum) const { return std::max(0.0, sum); }  // >= 0 (Gibbs)
    template <class V>
    PartialLanes<V> partials(double, const ElementLanes<V>& e) const
    {
        const V zero = simd::broadcast<V>(0.0);
        const V p_zero = simd::equal(e.p, zero);
        const V outside = simd::keep(p_zero, simd::equal(e.q, zero));  // outside both supports: all 0
        PartialLanes<V> d;
        d.d_p = zero_where(outside, simd::add(log_ratio_lanes(e.p, e.log_p, e.q, e.log_q, e.exact_logs), simd::broadcast<V>(1.0)));
        d.d_log_p = zero_where(p_zero, simd::mul(e.p, d.d_p));
        d.d_q = zero_where(p_zero, simd::sub(zero, simd::div(e.p, e.q)));
        d.d_log_q = simd::sub(zero, e.p);
        return d;
    }
    Partials partials(const Final&, const Element& e) const
    {
        Partials d;
        if (e.log_p == -infinity && e.log_q == -infinity) return d;  // outside both supports: 0
        d.d_p = log_ratio(e.p, e.log_p, e.q, e.log_q) + 1.0;
        d.d_log_p = times(e.p, d.d_p);
        d.d_q = e.p == 0.0 ? 0.0 : -e.p / e.q;
        d.d_log_q = -e.p;
        return d;
    }
};

}  // namespace detail

/// Kullback-Leibler divergence KL(P || Q) = sum_i p_i log(p_i / q_i), in nats, per row.
/// Terms with p_i = 0 count 0; p_i > 0 with q_i = 0 gives +inf.
/// Gradients: d/dp_i = log(p_i / q_i) + 1, d/dq_i = -p_i / q_i; d/dlog p_i = p_i (log(p_i/q_i) + 1),
/// d/dlog q_i = -p_i; from logits z_Q / T: (q - p) / T; from logits z_P / T: p (log(p/q) - KL) / T.
/// Accuracy: computed in double with compensated sums; relative error about 1e-15 (double inputs),
/// within 1 ulp of float for float inputs (see docs/conventions.md).
/// \throws std::invalid_argument on bad shapes, entries, options (Reduction::none: use kl_rows) or
/// outputs (see docs/errors.md). p, q and out of mismatched scalar types do not compile.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> kl(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call("kl", detail::KlKernel{}, p, q, options, out);
}

/// kl per row: a vector of B values (masked rows 0), never scaled by the reduction. Every divergence f
/// has such an f_rows. The gradients written to `out` are those of options.reduction, as for kl; with
/// Reduction::none (which the scalar functions refuse: there is no single value) each row's own.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> kl_rows(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call_rows("kl", detail::KlKernel{}, p, q, options, out);
}

/// Reverse KL: KL(Q || P) with the arguments in the usual (target, model) order, e.g.
/// reverse_kl(teacher, student) = KL(student || teacher). Gradients as for kl with P and Q swapped.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> reverse_kl(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call("reverse_kl", detail::Swapped<detail::KlKernel>{}, p, q, options, out);
}

/// reverse_kl per row: a vector of B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> reverse_kl_rows(const P& p, const Q& q, const Options& options = {},
                                                      const Out& out = {})
{
    return detail::call_rows("reverse_kl", detail::Swapped<detail::KlKernel>{}, p, q, options, out);
}

}  // namespace divergence

#endif
