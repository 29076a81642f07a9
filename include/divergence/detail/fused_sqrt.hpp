#ifndef DIVERGENCE_DETAIL_FUSED_SQRT_HPP
#define DIVERGENCE_DETAIL_FUSED_SQRT_HPP

// The fused kernel of sqrt(D) from the fused kernel of D (js_distance = sqrt(JSD)): the same
// passes, the value mapped by sqrt, the gradients scaled by d sqrt(D) / dD = 1 / (2 sqrt(D)),
// and 0 at D = 0 (a subgradient: sqrt(D) is minimal there), as JsDistanceKernel does.

#include <cmath>

#include "divergence/detail/fused_row.hpp"

namespace divergence::detail {

template <class Fused>
struct FusedSqrt {
    static constexpr bool needs_normalizers = Fused::needs_normalizers;
    using State = typename Fused::State;
    struct Final {
        typename Fused::Final inner;
        double value;           ///< sqrt(inner.value)
        double gradient_scale;  ///< 1 / (2 sqrt(inner.value)), 0 where that is 0
    };

    Fused fused;

    template <class P>
    void accumulate(State& state, const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end) const
    {
        fused.template accumulate<P>(state, row, begin, end);
    }
    template <class Scalar>
    void merge(State& into, const State& other, const FusedRow<Scalar>& row) const
    {
        fused.merge(into, other, row);
    }
    template <class Scalar>
    Final finish(const State& state, const FusedRow<Scalar>& row) const
    {
        const auto inner = fused.finish(state, row);
        const double value = std::sqrt(inner.value);
        return {inner, value, value > 0.0 ? 0.5 / value : 0.0};
    }
    template <class P>
    void gradient(const Final& f, const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end,
                  simd::scalar_of<P>* grad_p, simd::scalar_of<P>* grad_q, double scale) const
    {
        fused.template gradient<P>(f.inner, row, begin, end, grad_p, grad_q, scale * f.gradient_scale);
    }
};

}  // namespace divergence::detail

#endif
