#ifndef DIVERGENCE_DETAIL_SWAPPED_HPP
#define DIVERGENCE_DETAIL_SWAPPED_HPP

#include <utility>

#include "divergence/core/element.hpp"
#include "divergence/core/kernel.hpp"

namespace divergence::detail {

/// The kernel of D(Q || P) from the kernel of D(P || Q): swaps the arguments of every element
/// and of every partial derivative.
template <class Kernel>
struct Swapped {
    static_assert(Kernel::binary, "divergence: only a binary kernel can swap its arguments.");
    static constexpr bool binary = true;
    using State = typename Kernel::State;
    Kernel kernel;

    static Element swap(const Element& e) { return {e.q, e.log_q, e.p, e.log_p}; }
    void add(State& state, const Element& e) const { kernel.add(state, swap(e)); }
    auto finish(const State& state) const { return kernel.finish(state); }
    template <class Final>
    Partials partials(const Final& final_state, const Element& e) const
    {
        const Partials d = kernel.partials(final_state, swap(e));
        return {d.d_q, d.d_log_q, d.d_p, d.d_log_p};
    }

    // The element form (core/element.hpp), where Kernel has one.
    static constexpr bool partials_use_value = detail::partials_use_value<Kernel>::value;
    template <class V>
    static ElementLanes<V> swap(const ElementLanes<V>& e)
    {
        return {e.q, e.log_q, e.p, e.log_p, e.exact_logs};
    }
    template <class V, class K = Kernel>
    auto term(const ElementLanes<V>& e) const -> decltype(std::declval<const K&>().template term<V>(e))
    {
        return kernel.template term<V>(swap(e));
    }
    template <class V, class K = Kernel>
    auto term_parts(const ElementLanes<V>& e) const -> decltype(std::declval<const K&>().template term_parts<V>(e))
    {
        return kernel.template term_parts<V>(swap(e));
    }
    template <class K = Kernel>
    auto finish(double sum) const -> decltype(std::declval<const K&>().finish(sum))
    {
        return kernel.finish(sum);
    }
    template <class V, class K = Kernel>
    auto partials(double value, const ElementLanes<V>& e) const -> decltype(std::declval<const K&>().template partials<V>(value, e))
    {
        const auto d = kernel.template partials<V>(value, swap(e));
        return {d.d_q, d.d_log_q, d.d_p, d.d_log_p};
    }
};

}  // namespace divergence::detail

#endif
