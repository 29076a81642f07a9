#ifndef DIVERGENCE_CORE_LOGSUMEXP_HPP
#define DIVERGENCE_CORE_LOGSUMEXP_HPP

// The one log-sum-exp of the library: a mergeable state, added to one value at a time (scalar) or
// a slice at a time (vectorized), so slices of a row (chunks, threads, shards of a vocabulary) are
// reduced apart and merged.

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "divergence/core/kernel.hpp"
#include "divergence/core/simd.hpp"


// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence::detail {

/// Streaming log-sum-exp of scale * x_i (scale > 0; 1/T for logits at temperature T):
///   max = largest x_i seen (-inf if none), sum = sum_i exp((x_i - reference()) * scale),
///   value = log sum_i exp(scale x_i) = reference() * scale + log(sum).
/// No exp ever overflows. -inf terms contribute nothing; an empty or all -inf set gives -inf.
/// The merge is exact up to one rounding per rescale and associative in the order used, so the
/// executor merges chunk states in chunk order (bitwise identical for any number of threads).
struct LogSumExp {
    double max = -infinity;
    double sum = 0.0;

    void add(double x, double scale = 1.0)
    {
        if (x <= max) {
            if (x != -infinity) sum += std::exp((x - max) * scale);
        } else {
            sum = sum * std::exp((max - x) * scale) + 1.0;
            max = x;
        }
    }
    void merge(const LogSumExp& other, double scale = 1.0)
    {
        if (other.sum == 0.0 && other.max <= max) return;
        if (other.max <= max) {
            sum += other.sum * std::exp((finite_reference(other.max) - finite_reference(max)) * scale);
        } else {
            if (sum != 0.0) sum *= std::exp((finite_reference(max) - finite_reference(other.max)) * scale);
            sum += other.sum;
            max = other.max;
        }
    }
    /// The point exponentials are taken from: log p_i = (x_i - reference()) * scale - log_sum().
    double reference() const { return finite_reference(max); }
    double log_sum() const { return std::log(sum); }
    double value(double scale = 1.0) const { return max == -infinity ? max : max * scale + std::log(sum); }
};

/// Largest entry of x[0, n), n >= 1, with packets of type P (fixed order).
template <class P>
DIVERGENCE_SIMD_INLINE simd::scalar_of<P> block_max(const simd::scalar_of<P>* x, Index n)
{
    constexpr Index width = simd::lanes<P>;
    // Four running maxima: one would make the loop wait on each max's latency.
    P hi = simd::broadcast<P>(x[0]), hi1 = hi, hi2 = hi, hi3 = hi;
    Index i = 0;
    for (; i + 4 * width <= n; i += 4 * width) {
        hi = simd::max(hi, simd::load<P>(x + i));
        hi1 = simd::max(hi1, simd::load<P>(x + i + width));
        hi2 = simd::max(hi2, simd::load<P>(x + i + 2 * width));
        hi3 = simd::max(hi3, simd::load<P>(x + i + 3 * width));
    }
    hi = simd::max(simd::max(hi, hi1), simd::max(hi2, hi3));
    for (; i + width <= n; i += width) hi = simd::max(hi, simd::load<P>(x + i));
    if (i < n) hi = simd::max(hi, simd::load_partial<P>(x + i, n - i, x[0]));  // x[0] is neutral for max
    return simd::reduce_max(hi);
}

/// sum_i exp((x_i - reference) * scale) over x[0, n), x_i <= reference, with packets P: each lane
/// sums `group` terms <= 1 in the input precision, then in double: the sum's rounding would scale
/// every p_i of a row alike (float lanes over a whole block: up to ~1e-7, a bias of the
/// f-divergences' sums rather than noise).
template <class P>
DIVERGENCE_SIMD_INLINE double block_exp_sum(const simd::scalar_of<P>* x, Index n, const P& reference, const P& scale)
{
    using S = simd::scalar_of<P>;
    using W = simd::wide_t<P>;
    constexpr Index width = simd::lanes<P>;
    const auto term = [&](Index at) { return simd::exp(simd::mul(simd::sub(simd::load<P>(x + at), reference), scale)); };
    constexpr Index group = 4;
    W sum = simd::broadcast<W>(0.0);
    Index i = 0;
    for (; i + group * width <= n; i += group * width) {
        simd::add_wide(sum, simd::add(simd::add(term(i), term(i + width)), simd::add(term(i + 2 * width), term(i + 3 * width))));
    }
    for (; i + width <= n; i += width) simd::add_wide(sum, term(i));
    if (i < n) {
        const P e = simd::exp(simd::mul(simd::sub(simd::load_partial<P>(x + i, n - i, S(0)), reference), scale));
        simd::add_wide(sum, simd::keep(simd::first_lanes<P>(n - i), e));
    }
    return double(simd::reduce_add(sum));
}

/// Adds x[begin, end) (contiguous) to `state` with packets P: blocks of fused_block entries, the
/// block's maximum first (one rescale per block at most), then one exp per entry.
template <class P>
void accumulate_logsumexp(LogSumExp& state, const simd::scalar_of<P>* x, Index begin, Index end, double scale)
{
    using S = simd::scalar_of<P>;
    const P scale_lanes = simd::broadcast<P>(S(scale));
    for (Index block = begin; block < end; block += fused_block) {
        const Index n = std::min(fused_block, end - block);
        const S* xb = x + block;
        const S largest = block_max<P>(xb, n);
        if (largest == -std::numeric_limits<S>::infinity()) continue;  // exp of every entry is 0
        if (double(largest) > state.max) {
            if (state.sum != 0.0) state.sum *= std::exp((state.reference() - double(largest)) * scale);
            state.max = double(largest);
        }
        state.sum += block_exp_sum<P>(xb, n, simd::broadcast<P>(S(state.max)), scale_lanes);
    }
}

/// Adds x[begin, end), given in double, with the exponentials taken in the lanes of the float
/// packet P: each block's entries are reduced by the block's maximum in double, and only then
/// rounded to float, so every term exp(x_i - max) has float's relative error (~6e-8), whatever the
/// magnitude of x (rounding x itself to float would err by 6e-8 |x_i| in the exponent).
template <class P>
void accumulate_logsumexp_in_float(LogSumExp& state, const double* x, Index begin, Index end)
{
    static_assert(std::is_same_v<simd::scalar_of<P>, float>, "float packets");
    using D = simd::wide_t<P>;
    using Widen = simd::Wide<P>;
    constexpr Index width = simd::lanes<P>, part = width / Widen::parts;
    alignas(64) float reduced[fused_block];
    for (Index block = begin; block < end; block += fused_block) {
        const Index n = std::min(fused_block, end - block);
        const double* xb = x + block;
        const double largest = block_max<simd::Packet<double>>(xb, n);
        if (largest == -infinity) continue;
        Index i = 0;
        if constexpr (!std::is_same_v<D, double>) {
            const D reference = simd::broadcast<D>(largest);
            for (; i + width <= n; i += width) {
                D parts[Widen::parts];
                for (int k = 0; k < Widen::parts; ++k) parts[k] = simd::sub(simd::load<D>(xb + i + k * part), reference);
                simd::store(reduced + i, Widen::join(parts));
            }
        }
        for (; i < n; ++i) reduced[i] = float(xb[i] - largest);
        LogSumExp part_state;
        part_state.max = largest;
        part_state.sum = block_exp_sum<P>(reduced, n, simd::broadcast<P>(0.0f), simd::broadcast<P>(1.0f));
        state.merge(part_state);
    }
}

}  // namespace divergence::detail

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
