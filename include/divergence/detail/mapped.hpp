#ifndef DIVERGENCE_DETAIL_MAPPED_HPP
#define DIVERGENCE_DETAIL_MAPPED_HPP

// A divergence mapped by an increasing function g of its value, g(D), from the kernels of D: the row
// kernel (MappedKernel), its element form where D has one (core/element.hpp) and its fused kernel for
// logits (FusedMapped) run D's passes unchanged, map the row's value to g(D) and scale D's gradients
// by g'(D). The maps: ScaleBy, c D with c > 0
// (squared_hellinger is generators::SquaredHellinger / 2), and SquareRoot, sqrt(D) (js_distance is
// sqrt(JSD)), whose gradient is 0 at D = 0 (a subgradient: sqrt(D) is minimal there).

#include <cmath>
#include <type_traits>
#include <utility>

#include "divergence/core/element.hpp"
#include "divergence/core/kernel.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/detail/fused_row.hpp"

namespace divergence::detail {

/// g(D) and g'(D), the factor of D's gradients.
struct MappedValue {
    double value;
    double gradient_scale;
};

/// c D, c > 0.
struct ScaleBy {
    double factor;
    MappedValue operator()(double d) const { return {factor * d, factor}; }
    /// g'(D) given g(D).
    double gradient_scale_at(double) const { return factor; }
};

/// sqrt(D), with gradient scale 1 / (2 sqrt(D)), and 0 at D = 0 (finite, a subgradient).
struct SquareRoot {
    MappedValue operator()(double d) const
    {
        const double value = std::sqrt(d);
        return {value, gradient_scale_at(value)};
    }
    /// g'(D) = 1 / (2 sqrt(D)) given sqrt(D); 0 at D = 0.
    double gradient_scale_at(double value) const { return value > 0.0 ? 0.5 / value : 0.0; }
};

/// The fused kernel of g(D) from the fused kernel of D.
template <class Fused, class Map>
struct FusedMapped {
    static constexpr bool needs_normalizers = Fused::needs_normalizers;
    static constexpr bool takes_log_probs = detail::takes_log_probs<Fused>::value;  // g(D) of the rows as given
    using State = typename Fused::State;
    struct Final {
        typename Fused::Final inner;
        double value;           ///< g(inner.value)
        double gradient_scale;  ///< g'(inner.value)
    };

    Fused fused;
    Map map;

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
        const MappedValue mapped = map(inner.value);
        return {inner, mapped.value, mapped.gradient_scale};
    }
    template <class P>
    void gradient(const Final& f, const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end,
                  simd::scalar_of<P>* grad_p, simd::scalar_of<P>* grad_q, double scale) const
    {
        fused.template gradient<P>(f.inner, row, begin, end, grad_p, grad_q, scale * f.gradient_scale);
    }
};

/// The row kernel of g(D) from the row kernel of D, with the fast path of D's fused kernel if it has one.
template <class Kernel, class Map>
struct MappedKernel {
    static constexpr bool binary = Kernel::binary;
    using State = typename Kernel::State;
    using InnerFinal = decltype(std::declval<const Kernel&>().finish(std::declval<const State&>()));
    struct Final {
        InnerFinal inner;
        double value;           ///< g(inner.value)
        double gradient_scale;  ///< g'(inner.value)
    };

    Kernel kernel;
    Map map;

    void add(State& state, const Element& e) const { kernel.add(state, e); }
    Final finish(const State& state) const
    {
        const InnerFinal inner = kernel.finish(state);
        const MappedValue mapped = map(inner.value);
        return {inner, mapped.value, mapped.gradient_scale};
    }
    Partials partials(const Final& f, const Element& e) const
    {
        // A zero scale (sqrt at D = 0) zeroes infinite partials too (a zero entry of a probabilities argument).
        const Partials d = kernel.partials(f.inner, e);
        const double s = f.gradient_scale;
        return {times(s, d.d_p), times(s, d.d_log_p), times(s, d.d_q), times(s, d.d_log_q)};
    }
    template <class K = Kernel>
    auto fused() const -> FusedMapped<decltype(std::declval<const K&>().fused()), Map>
    {
        return {kernel.fused(), map};
    }

    // The element form (core/element.hpp), where Kernel has one whose partials do not use the row's
    // value: D's terms, g(D) from their sum, and D's partials times g'(D), found from the value g(D).
    static constexpr bool partials_use_value = true;
    template <class V, class K = Kernel, std::enable_if_t<!detail::partials_use_value<K>::value, int> = 0>
    auto term(const ElementLanes<V>& e) const -> decltype(std::declval<const K&>().template term<V>(e))
    {
        return kernel.template term<V>(e);
    }
    template <class K = Kernel>
    auto finish(double sum) const -> decltype(std::declval<const K&>().finish(sum))
    {
        return map(kernel.finish(sum)).value;
    }
    template <class V, class K = Kernel>
    auto partials(double value, const ElementLanes<V>& e) const -> decltype(std::declval<const K&>().template partials<V>(0.0, e))
    {
        // A zero scale (sqrt at D = 0) zeroes infinite partials too (a zero entry of a probabilities argument).
        const double s = map.gradient_scale_at(value);
        const V zero = simd::broadcast<V>(0.0);
        if (s == 0.0) return {zero, zero, zero, zero};
        const auto d = kernel.template partials<V>(0.0, e);
        const V scale = simd::broadcast<V>(s);
        return {simd::mul(scale, d.d_p), simd::mul(scale, d.d_log_p), simd::mul(scale, d.d_q), simd::mul(scale, d.d_log_q)};
    }
};

}  // namespace divergence::detail

#endif
