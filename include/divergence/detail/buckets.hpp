#ifndef DIVERGENCE_DETAIL_BUCKETS_HPP
#define DIVERGENCE_DETAIL_BUCKETS_HPP

// Any kernel on a few buckets: a divergence evaluated on a short list of Elements (p_b, log p_b,
// q_b, log q_b), one bucket at a time, in double, with the partial derivative dD/dlog q_b of each
// bucket. It is how a coarsened pair of distributions (a top-k teacher's k columns and the rest of
// the vocabulary, discrete/top_k.hpp) runs every divergence of the library: row kernels
// (core/rows.hpp: add, finish, partials; KL, reverse KL, generalized JSD, f-divergences with any
// generator, mapped kernels) and element kernels (core/element.hpp: term, finish, partials, on
// scalar double lanes; cross-entropy and kernels of your own) alike.
//
//   OnBuckets<Kernel> on{kernel};
//   auto state = on.start();  on.add(state, e) for each bucket;  const auto final = on.finish(state);
//   on.value(final);  on.d_log_q(final, e) for each bucket.

#include <type_traits>
#include <utility>

#include "divergence/core/element.hpp"
#include "divergence/core/kernel.hpp"
#include "divergence/core/sum.hpp"

namespace divergence::detail {

/// A row kernel (add / finish / partials) on buckets.
template <class Kernel, bool element_kernel = has_element_form_v<Kernel>>
struct OnBuckets {
    static_assert(Kernel::binary, "divergence: a divergence between two distributions needs a binary kernel.");
    using State = typename Kernel::State;
    using Final = decltype(std::declval<const Kernel&>().finish(std::declval<const State&>()));

    const Kernel& kernel;

    State start() const { return State{}; }
    void add(State& state, const Element& e) const { kernel.add(state, e); }
    Final finish(const State& state) const { return kernel.finish(state); }
    static double value(const Final& f) { return f.value; }
    double d_log_q(const Final& f, const Element& e) const { return kernel.partials(f, e).d_log_q; }
};

/// An element kernel (term / finish / partials on lanes) on buckets: one scalar double lane each.
template <class Kernel>
struct OnBuckets<Kernel, true> {
    static_assert(Kernel::binary, "divergence: a divergence between two distributions needs a binary kernel.");
    using State = CompensatedSum;
    using Final = double;

    const Kernel& kernel;

    static ElementLanes<double> lanes(const Element& e) { return {e.p, e.log_p, e.q, e.log_q}; }
    State start() const { return State{}; }
    void add(State& state, const Element& e) const { state.add(kernel.template term<double>(lanes(e))); }
    Final finish(const State& state) const { return kernel.finish(state.value()); }
    static double value(const Final& f) { return f; }
    double d_log_q(const Final& f, const Element& e) const { return kernel.template partials<double>(f, lanes(e)).d_log_q; }
};

}  // namespace divergence::detail

#endif
