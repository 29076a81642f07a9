#ifndef DIVERGENCE_DISCRETE_JENSEN_SHANNON_HPP
#define DIVERGENCE_DISCRETE_JENSEN_SHANNON_HPP

#include <algorithm>
#include <cmath>
#include <limits>

#include "divergence/core/error.hpp"
#include "divergence/core/call.hpp"
#include "divergence/core/element.hpp"
#include "divergence/core/rows.hpp"
#include "divergence/detail/fused_js.hpp"
#include "divergence/detail/mapped.hpp"
#include "divergence/detail/log_ratio.hpp"

namespace divergence {
namespace detail {

/// Generalized Jensen-Shannon divergence per row, with skew beta in [0, 1]:
/// beta KL(P || M) + (1 - beta) KL(Q || M), M = beta P + (1 - beta) Q.
struct GeneralizedJsKernel {
    static constexpr bool binary = true;
    using State = CompensatedSum;
    struct Final {
        double value;
    };

    double beta = 0.5;
    double log_beta = std::log(0.5);
    double log_one_minus_beta = std::log(0.5);

    explicit GeneralizedJsKernel(double beta_) : beta(beta_), log_beta(std::log(beta_)), log_one_minus_beta(std::log1p(-beta_)) {}

    /// At beta = 0 (M = Q) and beta = 1 (M = P) the divergence is identically 0 in (P, Q).
    bool degenerate() const { return beta == 0.0 || beta == 1.0; }

    /// log(p_i / m_i) and log(q_i / m_i), from log p_i - log q_i directly rather than as
    /// log p_i - log m_i: the difference of two nearly equal logs would lose eps |log p_i| in
    /// absolute terms, which is the whole value when beta is near 0 or 1.
    /// Both -inf (outside both supports) is handled by the callers.
    void log_ratios(const Element& e, double& log_p_over_m, double& log_q_over_m) const
    {
        if (e.log_p == e.log_q) {  // P = Q here: M = P = Q exactly
            log_p_over_m = 0.0;
            log_q_over_m = 0.0;
            return;
        }
        // m / p = beta + (1 - beta) q / p and m / q = (1 - beta) + beta p / q, in the log domain so
        // that log-probabilities of -1e300 stay exact; an infinite difference (one zero) is fine.
        const double d = e.log_p - e.log_q;
        if (std::abs(d) <= 1.0 && e.p >= std::numeric_limits<double>::min() &&
            e.q >= std::numeric_limits<double>::min()) {
            // p and q within a factor e: logaddexp would cancel (log beta + log1p(...) ~ 0), and d
            // itself carries the absolute error eps |log p| of the logs. m/p = 1 + (1 - beta)(q - p)/p
            // and m/q = 1 + beta (p - q)/q, with q - p exact (Sterbenz) when p, q are within a factor 2,
            // keep full relative accuracy.
            log_p_over_m = -std::log1p((1.0 - beta) * ((e.q - e.p) / e.p));
            log_q_over_m = -std::log1p(beta * ((e.p - e.q) / e.q));
        } else {
            log_p_over_m = -log_add_exp(log_beta, log_one_minus_beta - d);
            log_q_over_m = -log_add_exp(log_one_minus_beta, log_beta + d);
        }
    }

    void add(State& state, const Element& e) const
    {
        if (degenerate() || (e.log_p == -infinity && e.log_q == -infinity)) return;
        double a = 0.0, b = 0.0;
        log_ratios(e, a, b);
        // The term beta p log(p/m) + (1 - beta) q log(q/m) is the Jensen gap of x log x at (p, q),
        // but as written its first-order parts cancel when p is close to q (relative error
        // eps |p - q| / (p - q)^2). With u = p/m, v = q/m and beta u + (1 - beta) v = 1 it equals
        // m [beta g(u) + (1 - beta) g(v)], g(x) = x log x - x + 1 >= 0: a sum of non-negative
        // parts, each computed to full relative accuracy by jensen_gap_part.
        // From the larger mass, whose log ratio is bounded (by -log beta or -log(1 - beta)): the
        // other one's may be -1e300 and absorb log p in rounding.
        const double log_m = e.log_p >= e.log_q ? e.log_p - a : e.log_q - b;
        const double m = std::exp(log_m);  // may underflow to 0 for logits far below the max: then the term is negligible
        state.add(m * (beta * jensen_gap_part(a) + (1.0 - beta) * jensen_gap_part(b)));
    }
    Final finish(const State& state) const { return {std::max(0.0, state.value())}; }  // >= 0 (Gibbs)
    /// The fast path from logits (detail/fused_js.hpp).
    FusedJs fused() const { return FusedJs{beta}; }
    Partials partials(const Final&, const Element& e) const
    {
        Partials d;
        if (degenerate() || (e.log_p == -infinity && e.log_q == -infinity)) return d;  // 0 by convention
        double a = 0.0, b = 0.0;
        log_ratios(e, a, b);
        // d/dp_i = beta log(p_i / m_i), d/dq_i = (1 - beta) log(q_i / m_i): the +1 of p log p cancels
        // against d/dp [-m log m] = -beta (log m + 1).
        d.d_p = beta * a;
        d.d_log_p = beta * times(e.p, a);
        d.d_q = (1.0 - beta) * b;
        d.d_log_q = (1.0 - beta) * times(e.q, b);
        return d;
    }

    // The element form (core/element.hpp): the same term and partials in double lanes, for every mix
    // of forms but two logits (which take the fused kernel).
    static constexpr bool partials_use_value = false;

    /// a = log(p/m) and b = log(q/m) in lanes, as log_ratios computes them, without branches:
    /// - where p and q are within a factor e (both normal) from p and q: a = -log1p((1 - beta) x),
    ///   b = -log1p(beta y), x = q/p - 1, y = p/q - 1; from two log-probabilities (exact_logs, p and q
    ///   rounded exps) within a factor e^(1/2) from d = log p - log q instead: y = expm1(d), x = -y / (1 + y);
    /// - elsewhere a = -logaddexp(log beta, log(1 - beta) - d) and b = -logaddexp(log(1 - beta), log beta + d),
    ///   whose two exponent differences are s and -s, s = d + log(beta / (1 - beta)): one exp(-|s|)
    ///   and one log1p serve both.
    /// Both branches are a = -(c_a + log1p(t_a)) (c_a = 0 near): one log1p each for a and b.
    /// d = 0 gives a = b = 0 exactly. Lanes with p = q = 0 hold NaN (the callers mask them).
    template <class V>
    DIVERGENCE_SIMD_INLINE void log_ratio_lanes(const ElementLanes<V>& e, V& a, V& b) const
    {
        const V zero = simd::broadcast<V>(0.0), one = simd::broadcast<V>(1.0);
        const V d = simd::sub(e.log_p, e.log_q);
        const V abs_d = simd::max(d, simd::sub(zero, d));
        const V s = simd::add(d, simd::broadcast<V>(log_beta - log_one_minus_beta));
        const V exp_far = simd::exp(simd::sub(zero, simd::max(s, simd::sub(zero, s))));
        const V c_a = simd::max(simd::broadcast<V>(log_beta), simd::sub(simd::broadcast<V>(log_one_minus_beta), d));
        const V c_b = simd::max(simd::broadcast<V>(log_one_minus_beta), simd::add(simd::broadcast<V>(log_beta), d));
        V x, y, far;
        if (e.exact_logs) {
            far = simd::less(simd::broadcast<V>(0.5), abs_d);
            y = simd::div(simd::sub(d, jensen_gap_near_one(d)), simd::sub(one, d));  // expm1(d) for |d| <= 1/2
            x = simd::sub(zero, simd::div(y, simd::add(one, y)));
        } else {
            const V normal = simd::broadcast<V>(std::numeric_limits<double>::min());
            const V p_tiny = simd::less(e.p, normal), q_tiny = simd::less(e.q, normal);
            const V apart = simd::less(one, abs_d);
            far = simd::select(p_tiny, p_tiny, simd::select(q_tiny, q_tiny, apart));
            const V q_minus_p = simd::sub(e.q, e.p);
            x = simd::div(q_minus_p, e.p);
            y = simd::div(simd::sub(zero, q_minus_p), e.q);
        }
        const V t_a = simd::select(far, exp_far, simd::mul(simd::broadcast<V>(1.0 - beta), x));
        const V t_b = simd::select(far, exp_far, simd::mul(simd::broadcast<V>(beta), y));
        const V equal = simd::equal(d, zero);
        a = zero_where(equal, simd::sub(zero, simd::add(simd::keep(far, c_a), simd::log1p(t_a))));
        b = zero_where(equal, simd::sub(zero, simd::add(simd::keep(far, c_b), simd::log1p(t_b))));
    }
    /// The term m [beta g(e^a) + (1 - beta) g(e^b)] (see add), with m from the larger mass as in add and
    /// m g(e^a) = m g_near(a) for |a| <= 1/2 (jensen_gap_near_one), p (a - 1) + m elsewhere (m where
    /// p = 0); 0 outside both supports and at beta = 0 or 1.
    template <class V>
    V term(const ElementLanes<V>& e) const
    {
        const V zero = simd::broadcast<V>(0.0);
        if (degenerate()) return zero;
        V a, b;
        log_ratio_lanes(e, a, b);
        const V m = simd::exp(simd::select(simd::less(e.log_p, e.log_q), simd::sub(e.log_q, b), simd::sub(e.log_p, a)));
        const auto gap = [&](const V& x, const V& log_x_over_m) {  // m g(x / m)
            const V far = simd::less(simd::broadcast<V>(0.5), simd::max(log_x_over_m, simd::sub(zero, log_x_over_m)));
            const V linear = simd::select(simd::equal(x, zero), m, simd::madd(x, simd::sub(log_x_over_m, simd::broadcast<V>(1.0)), m));
            return simd::select(far, linear, simd::mul(m, jensen_gap_near_one(log_x_over_m)));
        };
        const V sum = simd::madd(simd::broadcast<V>(beta), gap(e.p, a), simd::mul(simd::broadcast<V>(1.0 - beta), gap(e.q, b)));
        return zero_where(outside(e), sum);
    }
    double finish(double sum) const { return std::max(0.0, sum); }  // >= 0 (Gibbs)
    /// d/dp = beta a, d/dlog p = beta p a (0 where p = 0), d/dq = (1 - beta) b, d/dlog q = (1 - beta) q b;
    /// all 0 outside both supports and at beta = 0 or 1.
    template <class V>
    PartialLanes<V> partials(double, const ElementLanes<V>& e) const
    {
        const V zero = simd::broadcast<V>(0.0);
        if (degenerate()) return {zero, zero, zero, zero};
        V a, b;
        log_ratio_lanes(e, a, b);
        const V out = outside(e);
        const V d_p = simd::mul(simd::broadcast<V>(beta), a), d_q = simd::mul(simd::broadcast<V>(1.0 - beta), b);
        return {zero_where(out, d_p), zero_where(simd::equal(e.p, zero), simd::mul(e.p, d_p)), zero_where(out, d_q),
                zero_where(simd::equal(e.q, zero), simd::mul(e.q, d_q))};
    }
    /// Lanes outside both supports (log p = log q = -inf).
    template <class V>
    static V outside(const ElementLanes<V>& e)
    {
        const V minus_infinity = simd::broadcast<V>(-infinity);
        return simd::keep(simd::equal(e.log_p, minus_infinity), simd::equal(e.log_q, minus_infinity));
    }
};

/// The Jensen-Shannon distance sqrt(JSD) per row: the symmetric JSD mapped by sqrt, its fast path
/// from logits too (detail/mapped.hpp; gradient 0 at JSD = 0, where sqrt is not differentiable).
struct JsDistanceKernel : MappedKernel<GeneralizedJsKernel, SquareRoot> {
    JsDistanceKernel() : MappedKernel<GeneralizedJsKernel, SquareRoot>{GeneralizedJsKernel{0.5}, SquareRoot{}} {}
};

inline void validate_beta(const char* function, double beta)
{
    if (!(beta >= 0.0 && beta <= 1.0)) fail(function, "beta", describe("must be in [0, 1], got", beta));
}

}  // namespace detail

/// Generalized (skew) Jensen-Shannon divergence, in nats, per row:
///   JSD_beta(P, Q) = beta KL(P || M) + (1 - beta) KL(Q || M),  M = beta P + (1 - beta) Q.
/// The mixture is taken in probability space but computed in the log domain
/// (log m_i = logaddexp(log beta + log p_i, log(1 - beta) + log q_i)), so logits of +-1e4 (float)
/// or +-1e300 (double) are exact. Bounds: 0 <= JSD_beta <= H(beta) = -beta log beta -
/// (1 - beta) log(1 - beta) <= log 2; it is never infinite (no support mismatch issue).
/// Endpoints: JSD_0 = JSD_1 = 0 identically (value and gradients exactly 0), and the function is
/// continuous there (JSD_beta ~ beta KL(P || Q) as beta -> 0). Note that TRL's GKD loss instead
/// special-cases beta = 0 / 1 as the plain KLs KL(P || Q) / KL(Q || P) (its generalized_jsd_loss,
/// whose P = teacher, Q = student and M = beta teacher + (1 - beta) student are the same as here):
/// use kl / reverse_kl for those.
/// Gradients: d/dp_i = beta log(p_i / m_i), d/dq_i = (1 - beta) log(q_i / m_i) (-inf at a zero
/// mass, as an unconstrained partial); d/dlog p_i = beta p_i log(p_i / m_i) and
/// d/dlog q_i = (1 - beta) q_i log(q_i / m_i), exactly 0 at zero masses; logits through the
/// softmax Jacobian, with 1/T. Elements with p_i = q_i = 0 contribute 0 to value and gradients.
/// Accuracy: double with compensated sums; log(p/m) and log(q/m) are formed from log p - log q and
/// each element's term as a sum of non-negative parts, so the relative error stays about 1e-15
/// (double inputs) also for beta near 0 or 1 and for P close to Q.
/// \throws std::invalid_argument if beta is not in [0, 1] (or is NaN), and on bad shapes, entries,
/// options or outputs.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> generalized_js(const P& p, const Q& q, double beta, const Options& options = {},
                                          const Out& out = {})
{
    detail::validate_beta("generalized_js", beta);
    return detail::call("generalized_js", detail::GeneralizedJsKernel{beta}, p, q, options, out);
}

/// generalized_js per row: a vector of B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> generalized_js_rows(const P& p, const Q& q, double beta,
                                                          const Options& options = {}, const Out& out = {})
{
    detail::validate_beta("generalized_js_rows", beta);
    return detail::call_rows("generalized_js", detail::GeneralizedJsKernel{beta}, p, q, options, out);
}

/// Jensen-Shannon divergence JSD(P, Q) = (KL(P || M) + KL(Q || M)) / 2, M = (P + Q) / 2, in nats,
/// per row: generalized_js with beta = 1/2. Symmetric, 0 <= JSD <= log 2, 0 iff P = Q.
/// Gradients, accuracy and exceptions as for generalized_js.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> js(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call("js", detail::GeneralizedJsKernel{0.5}, p, q, options, out);
}

/// js per row: a vector of B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> js_rows(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call_rows("js", detail::GeneralizedJsKernel{0.5}, p, q, options, out);
}

/// Jensen-Shannon distance sqrt(JSD(P, Q)) per row (natural log), as
/// scipy.spatial.distance.jensenshannon; a metric on distributions, <= sqrt(log 2).
/// Reductions apply to the per-row distances.
/// Gradients: d sqrt(JSD) = dJSD / (2 sqrt(JSD)); at JSD = 0 (P = Q) the distance is not
/// differentiable and the gradient returned is 0 (a subgradient: the distance is minimal there),
/// never NaN or inf from the 1/sqrt factor.
/// Accuracy: about 1e-15 relative (double inputs), also for P close to Q (see generalized_js).
/// \throws std::invalid_argument on bad shapes, entries, options or outputs.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> js_distance(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call("js_distance", detail::JsDistanceKernel{}, p, q, options, out);
}

/// js_distance per row: a vector of B distances (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> js_distance_rows(const P& p, const Q& q, const Options& options = {},
                                                       const Out& out = {})
{
    return detail::call_rows("js_distance", detail::JsDistanceKernel{}, p, q, options, out);
}

}  // namespace divergence

#endif
