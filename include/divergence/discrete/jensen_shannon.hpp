#ifndef DIVERGENCE_DISCRETE_JENSEN_SHANNON_HPP
#define DIVERGENCE_DISCRETE_JENSEN_SHANNON_HPP

#include <algorithm>
#include <cmath>
#include <limits>

#include "divergence/core/error.hpp"
#include "divergence/core/call.hpp"
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
