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
    using W = simd::wide_t<P>;
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
        const auto term = [&](Index at) { return simd::exp(simd::mul(simd::sub(simd::load<P>(xb + at), reference), inv_t)); };
        // Lanes sum `group` terms <= 1 in the input precision, then in double: the sum's rounding
        // would scale every p_i of the row alike (float lanes over a whole block: up to ~1e-7, a bias
        // of the f-divergences' sums rather than noise).
        constexpr Index group = 4;
        W sum = simd::broadcast<W>(0.0);
        Index i = 0;
        for (; i + group * width <= n; i += group * width) {
            simd::add_wide(sum, simd::add(simd::add(term(i), term(i + width)), simd::add(term(i + 2 * width), term(i + 3 * width))));
        }
        for (; i + width <= n; i += width) simd::add_wide(sum, term(i));
        if (i < n) {
            const P e = simd::exp(simd::mul(simd::sub(simd::load_partial<P>(xb + i, n - i, S(0)), reference), inv_t));
            simd::add_wide(sum, simd::keep(simd::first_lanes<P>(n - i), e));
        }
        state.sum += double(simd::reduce_add(sum));
    }
}

}  // namespace divergence::detail

#endif
