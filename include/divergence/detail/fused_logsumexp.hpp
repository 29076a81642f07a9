#ifndef DIVERGENCE_DETAIL_FUSED_LOGSUMEXP_HPP
#define DIVERGENCE_DETAIL_FUSED_LOGSUMEXP_HPP

// Vectorized, mergeable log-sum-exp of one row of logits over a slice: the normalizer pass of the
// fused kernels that need log p_i before they can accumulate (JSD, f-divergences).

#include <cmath>
#include <limits>

#include "divergence/detail/fused_row.hpp"

namespace divergence::detail {

/// Partial log-sum-exp of z / T over a slice: max = largest raw logit z (-inf if none),
/// sum = sum_i exp((z_i - finite_reference(max)) / T). Merge is exact up to one rounding per
/// rescale and associative in the order used (chunk order).
struct FusedLogSumExp {
    double max = -std::numeric_limits<double>::infinity();
    double sum = 0.0;

    void merge(const FusedLogSumExp& other, double inverse_temperature)
    {
        if (other.sum == 0.0 && other.max <= max) return;
        if (other.max <= max) {
            sum += other.sum * std::exp((finite_reference(other.max) - finite_reference(max)) * inverse_temperature);
        } else {
            if (sum != 0.0) sum *= std::exp((finite_reference(max) - finite_reference(other.max)) * inverse_temperature);
            sum += other.sum;
            max = other.max;
        }
    }
    /// log sum_i exp((z_i - finite_reference(max)) / T): log p_i = (z_i - reference) / T - log_sum().
    double log_sum() const { return std::log(sum); }
    double reference() const { return finite_reference(max); }
};

/// Accumulates x[begin, end) into `state` with packets P (one exp per element).
template <class P>
void accumulate_logsumexp(FusedLogSumExp& state, const simd::scalar_of<P>* x, Index begin, Index end,
                          double inverse_temperature)
{
    using S = simd::scalar_of<P>;
    constexpr Index width = simd::lanes<P>;
    const P inv_t = simd::broadcast<P>(S(inverse_temperature));
    for (Index block = begin; block < end; block += fused_block) {
        const Index n = std::min(fused_block, end - block);
        const S* xb = x + block;
        const S largest = block_max<P>(xb, n);
        if (largest == -std::numeric_limits<S>::infinity()) continue;  // exp of every entry is 0
        if (double(largest) > state.max) {
            if (state.sum != 0.0) {
                state.sum *= std::exp((finite_reference(state.max) - double(largest)) * inverse_temperature);
            }
            state.max = double(largest);
        }
        const P reference = simd::broadcast<P>(S(state.max));
        // Float lanes sum at most fused_block / lanes terms <= 1 before being folded into double.
        P sum = simd::broadcast<P>(S(0));
        Index i = 0;
        for (; i + width <= n; i += width) {
            sum = simd::add(sum, simd::exp(simd::mul(simd::sub(simd::load<P>(xb + i), reference), inv_t)));
        }
        if (i < n) {
            const P e = simd::exp(simd::mul(simd::sub(simd::load_partial<P>(xb + i, n - i, S(0)), reference), inv_t));
            sum = simd::add(sum, simd::keep(simd::first_lanes<P>(n - i), e));
        }
        state.sum += simd::reduce_add_double(sum);
    }
}

}  // namespace divergence::detail

#endif
