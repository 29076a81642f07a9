#ifndef DIVERGENCE_DISCRETE_NAMED_F_DIVERGENCES_HPP
#define DIVERGENCE_DISCRETE_NAMED_F_DIVERGENCES_HPP

// The common f-divergences by name, each with its usual factor, over the f-divergence engine
// (discrete/f_divergence.hpp) and its fast path from logits. Forms, options, reductions, masks
// and outputs as for kl (docs/conventions.md). Note the factors where they differ from the
// generator of the same name: squared_hellinger is generators::SquaredHellinger / 2, and
// generators::JensenShannon gives 2 js(p, q) (js is the usual JSD, <= log 2).

#include "divergence/core/call.hpp"
#include "divergence/discrete/f_divergence.hpp"
#include "divergence/detail/mapped.hpp"
#include "divergence/discrete/generators.hpp"

namespace divergence {
namespace detail {

template <class Generator>
FDivergenceKernel<Generator> f_kernel()
{
    return FDivergenceKernel<Generator>{Generator{}};
}

/// (1/2) sum_i q_i f(p_i / q_i) with f(u) = (sqrt u - 1)^2: squared_hellinger.
inline MappedKernel<FDivergenceKernel<generators::SquaredHellinger>, ScaleBy> half_squared_hellinger()
{
    return {f_kernel<generators::SquaredHellinger>(), ScaleBy{0.5}};
}

}  // namespace detail

/// f_divergence per row: a vector of B values (masked rows 0); see f_divergence, and kl_rows for the gradients.
template <class P, class Q, class Generator, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> f_divergence_rows(const P& p, const Q& q, const Generator& generator,
                                                        const Options& options = {}, const Out& out = {})
{
    static_assert(detail::is_f_generator_v<Generator>,
                  "divergence: f_divergence_rows needs a generator (see discrete/generators.hpp for the members).");
    return detail::call_rows("f_divergence", detail::FDivergenceKernel<Generator>{generator}, p, q, options, out);
}

/// Squared Hellinger distance H^2(P, Q) = 1/2 sum_i (sqrt p_i - sqrt q_i)^2 = 1 - sum_i sqrt(p_i q_i),
/// per row, in [0, 1] (Le Cam's normalization: 1 exactly for disjoint supports; the Hellinger distance
/// is sqrt(H^2)). This is half of f_divergence with generators::SquaredHellinger, f(u) = (sqrt u - 1)^2.
/// Symmetric; finite for every pair of distributions.
/// Gradients: d/dp_i = (1 - sqrt(q_i / p_i)) / 2 (-inf at p_i = 0 < q_i), d/dq_i = (1 - sqrt(p_i / q_i)) / 2;
/// d/dlog p_i = (p_i - sqrt(p_i q_i)) / 2, d/dlog q_i = (q_i - sqrt(p_i q_i)) / 2; logits through the softmax Jacobian, with 1/T.
/// Accuracy and exceptions: those of f_divergence.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> squared_hellinger(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call("squared_hellinger", detail::half_squared_hellinger(), p, q, options, out);
}

/// squared_hellinger per row: a vector of B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> squared_hellinger_rows(const P& p, const Q& q, const Options& options = {},
                                                             const Out& out = {})
{
    return detail::call_rows("squared_hellinger", detail::half_squared_hellinger(), p, q, options, out);
}

/// Total variation distance TV(P, Q) = 1/2 sum_i |p_i - q_i| = max over events A of |P(A) - Q(A)|,
/// per row, in [0, 1] (f(u) = |u - 1| / 2, generators::TotalVariation). Symmetric.
/// Gradients: d/dp_i = sign(p_i - q_i) / 2, d/dq_i = sign(q_i - p_i) / 2, and 0 where p_i = q_i (a
/// subgradient: TV is not differentiable there); d/dlog p_i = p_i d/dp_i; logits through the softmax Jacobian, with 1/T.
/// Accuracy and exceptions: those of f_divergence.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> total_variation(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call("total_variation", detail::f_kernel<generators::TotalVariation>(), p, q, options, out);
}

/// total_variation per row: a vector of B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> total_variation_rows(const P& p, const Q& q, const Options& options = {},
                                                           const Out& out = {})
{
    return detail::call_rows("total_variation", detail::f_kernel<generators::TotalVariation>(), p, q, options, out);
}

/// Pearson chi-squared divergence chi^2(P || Q) = sum_i (p_i - q_i)^2 / q_i = sum_i p_i^2 / q_i - 1, per row
/// (f(u) = (u - 1)^2, generators::PearsonChiSquared), in [0, +inf]; +inf where q_i = 0 < p_i.
/// renyi(p, q, 2) = log(1 + chi^2(P || Q)).
/// Gradients: d/dp_i = 2 (p_i / q_i - 1), d/dq_i = 1 - (p_i / q_i)^2; d/dlog p_i = p_i d/dp_i,
/// d/dlog q_i = q_i d/dq_i; logits through the softmax Jacobian, with 1/T.
/// Accuracy and exceptions: those of f_divergence.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> pearson_chi_squared(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call("pearson_chi_squared", detail::f_kernel<generators::PearsonChiSquared>(), p, q, options, out);
}

/// pearson_chi_squared per row: a vector of B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> pearson_chi_squared_rows(const P& p, const Q& q, const Options& options = {},
                                                               const Out& out = {})
{
    return detail::call_rows("pearson_chi_squared", detail::f_kernel<generators::PearsonChiSquared>(), p, q, options, out);
}

/// Neyman chi-squared divergence chi^2_N(P || Q) = sum_i (p_i - q_i)^2 / p_i = pearson_chi_squared(q, p),
/// per row (f(u) = (1 - u)^2 / u, generators::NeymanChiSquared), in [0, +inf]; +inf where p_i = 0 < q_i.
/// Gradients: d/dp_i = 1 - (q_i / p_i)^2, d/dq_i = 2 (q_i / p_i - 1); d/dlog p_i = p_i d/dp_i,
/// d/dlog q_i = q_i d/dq_i; logits through the softmax Jacobian, with 1/T.
/// Accuracy and exceptions: those of f_divergence.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> neyman_chi_squared(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call("neyman_chi_squared", detail::f_kernel<generators::NeymanChiSquared>(), p, q, options, out);
}

/// neyman_chi_squared per row: a vector of B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> neyman_chi_squared_rows(const P& p, const Q& q, const Options& options = {},
                                                              const Out& out = {})
{
    return detail::call_rows("neyman_chi_squared", detail::f_kernel<generators::NeymanChiSquared>(), p, q, options, out);
}

/// Jeffreys divergence J(P, Q) = sum_i (p_i - q_i) log(p_i / q_i) = KL(P || Q) + KL(Q || P), in nats, per
/// row (f(u) = (u - 1) log u, generators::Jeffreys). Symmetric, in [0, +inf]; +inf where the supports differ.
/// Gradients: d/dp_i = log(p_i / q_i) + 1 - q_i / p_i, d/dq_i = log(q_i / p_i) + 1 - p_i / q_i;
/// d/dlog p_i = p_i d/dp_i, d/dlog q_i = q_i d/dq_i; logits through the softmax Jacobian, with 1/T.
/// Accuracy and exceptions: those of f_divergence, exact also where |log(p_i / q_i)| > ~708 (the term
/// p (1 - 1/r) log r is taken in the log domain; e.g. logits [0, 0] and [0, -1000] give 500).
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> jeffreys(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call("jeffreys", detail::f_kernel<generators::Jeffreys>(), p, q, options, out);
}

/// jeffreys per row: a vector of B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> jeffreys_rows(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call_rows("jeffreys", detail::f_kernel<generators::Jeffreys>(), p, q, options, out);
}

/// Triangular discrimination (Vincze-Le Cam distance) Delta(P, Q) = sum_i (p_i - q_i)^2 / (p_i + q_i), per row
/// (f(u) = (u - 1)^2 / (u + 1), generators::Triangular), in [0, 2] (2 for disjoint supports); symmetric,
/// with Delta / 4 <= js(p, q) <= Delta log(2) / 2 (Topsoe, IEEE Trans. Inf. Theory 46(4), 2000).
/// Gradients: d/dp_i = 1 - 4 q_i^2 / (p_i + q_i)^2, d/dq_i = 1 - 4 p_i^2 / (p_i + q_i)^2;
/// d/dlog p_i = p_i d/dp_i, d/dlog q_i = q_i d/dq_i; logits through the softmax Jacobian, with 1/T.
/// Accuracy and exceptions: those of f_divergence.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> triangular(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call("triangular", detail::f_kernel<generators::Triangular>(), p, q, options, out);
}

/// triangular per row: a vector of B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> triangular_rows(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call_rows("triangular", detail::f_kernel<generators::Triangular>(), p, q, options, out);
}

}  // namespace divergence

#endif
