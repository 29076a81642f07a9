#ifndef DIVERGENCE_DISCRETE_F_DIVERGENCE_HPP
#define DIVERGENCE_DISCRETE_F_DIVERGENCE_HPP

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "divergence/core/error.hpp"
#include "divergence/core/rows.hpp"
#include "divergence/core/view.hpp"
#include "divergence/detail/fused_f_divergence.hpp"
#include "divergence/discrete/generators.hpp"

namespace divergence {
namespace detail {

/// x y for a multiplier x that is truly positive (its log is finite) but may have underflowed
/// to 0: an infinite limit y stays infinite (q f(0) = +inf for q > 0 however small).
inline double positive_times(double x, double y) { return std::isinf(y) ? y : x * y; }

/// D_f(P || Q) per row for a generator G: sum_i q_i f(p_i / q_i).
///
/// Per element, with r = exp(log p - log q) taken from the logs (so that p and q that underflow
/// together still give the right ratio):
///   r <= 1: term q f(r), dD/dlog p = q (r f'(r)), dD/dlog q = q phi(r)      (q is the larger mass)
///   r >  1: term p f(r)/r, dD/dlog p = p f'(r),   dD/dlog q = p phi(r)/r    (p is the larger mass)
/// where phi(r) = f(r) - r f'(r) = dD/dq (the generator's closed form). Writing each product on the larger mass keeps terms whose
/// smaller mass underflowed. Exact zeros use the generator's limits; a ratio outside the normal
/// double range [DBL_MIN, DBL_MAX] (|log r| > ~708) saturates to the limit at 0 or infinity, and so
/// does any f(r), f'(r) that overflows (see f_divergence).
template <class Generator>
struct FDivergenceKernel {
    static_assert(is_f_generator_v<Generator>,
                  "divergence: an f-divergence generator needs the members listed in discrete/generators.hpp.");
    static constexpr bool binary = true;
    using State = CompensatedSum;
    struct Final {
        double value;
    };

    Generator generator;

    /// f(r) (r <= 1 side) or f(r)/r (r > 1 side) and the derivatives at one element.
    struct Local {
        bool low = true;      ///< r <= 1
        double value = 0.0;   ///< f(r) when low, f(r)/r otherwise
        double f_prime = 0.0;  ///< f'(r)
        double scaled_f_prime = 0.0;  ///< r f'(r) when low (not used otherwise)
        double phi = 0.0;             ///< f(r) - r f'(r)
        double scaled_phi = 0.0;      ///< phi(r)/r when high (not used otherwise)
    };

    Local at_zero() const
    {
        const Generator& g = generator;
        return {true, g.f_at_zero(), g.f_prime_at_zero(), g.u_f_prime_at_zero(), g.phi_at_zero(), 0.0};
    }
    Local at_infinity() const
    {
        const Generator& g = generator;
        return {false, g.slope_at_infinity(), g.slope_at_infinity(), 0.0, g.phi_at_infinity(),
                g.phi_over_u_at_infinity()};
    }

    /// Local quantities at a finite log ratio.
    Local local(double log_ratio) const
    {
        const Generator& g = generator;
        const double r = std::exp(log_ratio);
        if (log_ratio <= 0.0) {
            if (r < DBL_MIN) return at_zero();
            Local a;
            const double fr = g.f(r);
            const double fp = g.f_prime(r);
            const double phi = g.phi(r);
            a.value = std::isfinite(fr) ? fr : g.f_at_zero();
            a.f_prime = std::isfinite(fp) ? fp : g.f_prime_at_zero();
            a.scaled_f_prime = std::isfinite(fp) ? r * fp : g.u_f_prime_at_zero();
            a.phi = std::isfinite(phi) ? phi : g.phi_at_zero();
            return a;
        }
        if (r > DBL_MAX) return at_infinity();
        Local a;
        a.low = false;
        const double fr = g.f(r);
        const double fp = g.f_prime(r);
        const double phi = g.phi(r);
        a.value = std::isfinite(fr) ? fr / r : g.slope_at_infinity();
        a.f_prime = std::isfinite(fp) ? fp : g.slope_at_infinity();
        a.phi = std::isfinite(phi) ? phi : g.phi_at_infinity();
        a.scaled_phi = std::isfinite(phi) ? phi / r : g.phi_over_u_at_infinity();
        return a;
    }

    double term(const Element& e) const
    {
        if (e.log_p == -infinity) {
            if (e.log_q == -infinity) return 0.0;  // outside both supports
            return positive_times(e.q, generator.f_at_zero());
        }
        if (e.log_q == -infinity) return positive_times(e.p, generator.slope_at_infinity());
        // Only f here (the value pass): f(r) on the q side, f(r)/r on the p side, limits when saturated.
        const double log_ratio = e.log_p - e.log_q;
        const double r = std::exp(log_ratio);
        if (log_ratio <= 0.0) {
            const double fr = r < DBL_MIN ? generator.f_at_zero() : generator.f(r);
            return times(e.q, std::isfinite(fr) ? fr : generator.f_at_zero());
        }
        const double fr = r > DBL_MAX ? infinity : generator.f(r);
        return times(e.p, std::isfinite(fr) ? fr / r : generator.slope_at_infinity());
    }

    void add(State& state, const Element& e) const { state.add(term(e)); }
    /// The fast path from logits (detail/fused_f_divergence.hpp).
    FusedFDivergence<FDivergenceKernel> fused() const { return {*this}; }

    /// Between normalized rows D_f >= f(1) (Jensen); rounding below it is clamped.
    Final finish(const State& state) const { return {std::max(generator.f(1.0), state.value())}; }

    Partials partials(const Final&, const Element& e) const
    {
        Partials d;
        if (e.log_p == -infinity && e.log_q == -infinity) return d;
        if (e.log_p == -infinity) {  // p = 0 < q
            const Local a = at_zero();
            d.d_p = a.f_prime;
            d.d_log_p = positive_times(e.q, a.scaled_f_prime);
            d.d_q = a.phi;
            d.d_log_q = positive_times(e.q, a.phi);
            return d;
        }
        if (e.log_q == -infinity) {  // q = 0 < p
            const Local a = at_infinity();
            d.d_p = a.f_prime;
            d.d_log_p = positive_times(e.p, a.f_prime);
            d.d_q = a.phi;
            d.d_log_q = positive_times(e.p, a.scaled_phi);
            return d;
        }
        const Local a = local(e.log_p - e.log_q);
        d.d_p = a.f_prime;
        d.d_q = a.phi;
        if (a.low) {
            d.d_log_p = times(e.q, a.scaled_f_prime);
            d.d_log_q = times(e.q, a.phi);
        } else {
            d.d_log_p = times(e.p, a.f_prime);
            d.d_log_q = times(e.p, a.scaled_phi);
        }
        return d;
    }
};

}  // namespace detail

/// f-divergence D_f(P || Q) = sum_i q_i f(p_i / q_i) per row, for any generator (generators.hpp:
/// the table in namespace divergence::generators, or a struct of your own with the same members).
/// Zeros: p_i = q_i = 0 counts 0; p_i = 0 < q_i counts q_i f(0+); q_i = 0 < p_i counts
/// p_i lim f(u)/u, so +inf exactly where f(0+) or the slope at infinity is infinite (e.g. support
/// mismatch for KL). Between normalized rows D_f >= f(1) (0 for every generator but Gan, ModifiedGan);
/// values below f(1) from rounding are clamped.
/// Gradients: dD/dp_i = f'(r_i), dD/dq_i = f(r_i) - r_i f'(r_i); dD/dlog p_i = p_i f'(r_i),
/// dD/dlog q_i = q_i (f(r_i) - r_i f'(r_i)), taken as limits at zeros (finite wherever the limit is);
/// from logits the driver applies the softmax Jacobian and 1/T.
/// Accuracy: r_i = exp(log p_i - log q_i) is computed from the logs, and each term is written on the
/// larger of p_i, q_i (q f(r) for r <= 1, p f(r)/r for r > 1), so logits whose probabilities underflow
/// together stay right; the relative error of a term is that of the generator's f (a few ulp) times
/// the conditioning of exp at log r. Saturation: a ratio beyond the normal double range
/// (|log(p_i/q_i)| > ~708, e.g. float logits of +-1e4) is evaluated at its limit r = 0 or r = inf, and an
/// f(r) or f'(r) that overflows is replaced by the limit on its side; a term whose multiplier
/// underflowed to 0 counts 0. So generators that grow like log r at an end (KL, reverse KL, Jeffreys, ...)
/// give +inf where the exact value is a finite multiple of |log r| > 708: use divergence::kl / reverse_kl
/// (exact in the log domain) for those. Finite inputs never give NaN.
/// \throws std::invalid_argument on bad shapes, entries, options or outputs (see docs/errors.md);
/// generators validate their parameters when constructed.
template <class P, class Q, class Generator, class Scalar = typename detail::input_t<P>::Scalar>
Scalar f_divergence(const P& p, const Q& q, const Generator& generator, const Options& options = {},
                    const Outputs<Scalar>& out = {})
{
    static_assert(detail::is_f_generator_v<Generator>,
                  "divergence: f_divergence needs a generator (see discrete/generators.hpp for the members).");
    return detail::evaluate("f_divergence", detail::FDivergenceKernel<Generator>{generator}, detail::as_input(p),
                            detail::as_input(q), options, out);
}

/// f-distill weights h(r) = r^2 f''(r) at r = exp(log_ratio), elementwise, into `weights` (any
/// writable Eigen object with direct access and the shape of log_ratio; vectors of equal size match).
/// In one-step diffusion distillation (f-distill, arXiv:2502.15681) the generator's gradient is
/// E[h(r(x)) (score_q(x) - score_p(x)) dx/dtheta] with r = p/q the teacher/student density ratio,
/// usually log r = a discriminator's logit; h scales each sample's score difference (reverse KL: h = 1,
/// forward KL: h = r). f-distill also divides h by its batch mean; do that on the result if wanted.
/// log_ratio may be +-inf (r = inf / 0: the generator's limits of h). Float inputs are computed in double.
/// \throws std::invalid_argument if a log ratio is NaN or the shapes differ.
template <class Generator, class Derived>
void density_ratio_weights(const Eigen::DenseBase<Derived>& log_ratio, const Generator& generator,
                           const MatrixOut<typename Derived::Scalar>& weights)
{
    static_assert(detail::is_f_generator_v<Generator>,
                  "divergence: density_ratio_weights needs a generator (see discrete/generators.hpp).");
    using Scalar = typename Derived::Scalar;
    const char* function = "density_ratio_weights";
    const Index rows = Derived::IsVectorAtCompileTime ? 1 : log_ratio.rows();
    const Index cols = Derived::IsVectorAtCompileTime ? log_ratio.size() : log_ratio.cols();
    const MatrixView<Scalar>& out = weights.view;
    if (!weights.requested() || out.rows != rows || out.cols != cols) {
        detail::fail(function, "weights",
             "shape " + std::to_string(out.rows) + " x " + std::to_string(out.cols) + " differs from log_ratio's " +
                 std::to_string(rows) + " x " + std::to_string(cols));
    }
    const auto& x = log_ratio.derived();
    for (Index r = 0; r < rows; ++r) {
        for (Index c = 0; c < cols; ++c) {
            const double l = double(Derived::IsVectorAtCompileTime ? x.coeff(c) : x.coeff(r, c));
            if (std::isnan(l)) detail::fail(function, "log_ratio", r, c, "NaN log ratio");
            out(r, c) = Scalar(generator.weight(std::exp(l)));
        }
    }
}

/// density_ratio_weights returning a new array of the shape of log_ratio.
template <class Generator, class Derived>
Eigen::Array<typename Derived::Scalar, Derived::RowsAtCompileTime, Derived::ColsAtCompileTime>
density_ratio_weights(const Eigen::DenseBase<Derived>& log_ratio, const Generator& generator)
{
    Eigen::Array<typename Derived::Scalar, Derived::RowsAtCompileTime, Derived::ColsAtCompileTime> weights(
        log_ratio.rows(), log_ratio.cols());
    density_ratio_weights(log_ratio, generator, weights);
    return weights;
}

}  // namespace divergence

#endif
