#ifndef DIVERGENCE_DETAIL_FUSED_ROW_HPP
#define DIVERGENCE_DETAIL_FUSED_ROW_HPP

// What a fused row kernel (detail/fused_*.hpp) sees of a pair of logit rows, and how rows are cut
// into chunks and blocks. The driver (core/rows.hpp) owns the rest.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "divergence/core/config.hpp"
#include "divergence/core/simd.hpp"

namespace divergence::detail {

/// A row is cut into chunks of this many elements, whatever the number of threads: each chunk
/// gives a partial state, and the states of a row are merged in chunk order. Results therefore
/// do not depend on how chunks or rows are spread over threads.
inline constexpr Index fused_chunk = 32768;

/// Inside a chunk, elements are taken in blocks of this many: the running maximum of a block
/// is found first (the block then sits in L1), so each element needs one exp per input and
/// the partial sums are rescaled at most once per block.
inline constexpr Index fused_block = 1024;

/// Two rows of logits, contiguous, with their temperatures, as a fused kernel reads them:
/// log p_i = z_p,i / T_p - logsumexp(z_p / T_p), likewise for q.
/// When the kernel declares `needs_normalizers`, the driver fills in the normalizers first
/// (one log-sum-exp pass), so that log p_i = (z_p,i - max_p) * inverse_temperature_p - log_sum_p
/// (max_p is the largest raw logit, or 0 when every logit is -inf).
template <class Scalar>
struct FusedRow {
    const Scalar* p = nullptr;
    const Scalar* q = nullptr;
    Index cols = 0;
    double inverse_temperature_p = 1.0;
    double inverse_temperature_q = 1.0;
    double max_p = 0.0, log_sum_p = 0.0;  ///< normalizers (only with needs_normalizers)
    double max_q = 0.0, log_sum_q = 0.0;
    /// The gradient rows the caller asked for, when they overlap neither input row (else null).
    /// accumulate() may keep per-element values there that gradient() reads back: the driver calls
    /// gradient() with these same rows, over columns that accumulate() has covered.
    Scalar* keep_p = nullptr;
    Scalar* keep_q = nullptr;
    /// The input rows of the row pair the driver computes next on this thread (null: none), of the
    /// same length: see NextRowPrefetch.
    const Scalar* next_p = nullptr;
    const Scalar* next_q = nullptr;

    /// The same pair with p and q exchanged (the fused kernel of D(Q || P) from that of D(P || Q)).
    FusedRow swapped() const
    {
        return {q, p, cols, inverse_temperature_q, inverse_temperature_p, max_q, log_sum_q, max_p, log_sum_p, keep_q, keep_p,
                next_q, next_p};
    }
};

/// Fetches the first block of the next rows (FusedRow::next_*) into cache while a kernel's loop
/// runs over the last fused_block columns of this row: called once per packet at column i, it
/// prefetches the line of column i - (cols - fused_block) of each next row. A row's first block is
/// scanned for its maximum before anything is computed, and the loops before it hit L1, which does
/// not let the hardware prefetchers run ahead: without this, a row of 1000 floats waited on memory
/// for about a quarter of its forward time.
template <class Scalar>
class NextRowPrefetch {
public:
    explicit NextRowPrefetch(const FusedRow<Scalar>& row)
        : from_(row.next_p ? std::max(Index(0), row.cols - fused_block) : std::numeric_limits<Index>::max()),
          p_(row.next_p), q_(row.next_q)
    {
    }
    void operator()(Index i) const
    {
        if (i < from_) return;
        // Only the input rows: prefetching the gradient rows too (4 prefetches per packet, even
        // when they are the same lines) made KL slower, not faster, on the machine measured.
        simd::prefetch(p_ + (i - from_));
        simd::prefetch(q_ + (i - from_));
    }

private:
    Index from_;
    const Scalar *p_, *q_;
};

/// Whether the rows [a, a + n) and [b, b + n) share an element.
template <class Scalar>
bool rows_overlap(const Scalar* a, const Scalar* b, Index n)
{
    const auto x = reinterpret_cast<std::uintptr_t>(a), y = reinterpret_cast<std::uintptr_t>(b);
    const auto bytes = std::uintptr_t(n) * sizeof(Scalar);
    return x < y + bytes && y < x + bytes;
}

/// A running maximum used as the reference point of exponentials: -inf (nothing seen, or only
/// -inf) is replaced by 0 so that x - reference is never NaN.
inline double finite_reference(double max) { return max == -std::numeric_limits<double>::infinity() ? 0.0 : max; }

/// What a row's normalizer log_sum loses when rounded to S (0 for double). Kernels that subtract
/// S(log_sum) from every log p_i multiply p_i by exp(-remainder) instead of also subtracting the
/// remainder: in float the subtraction would be lost to rounding wherever |log p_i| >= |log_sum|,
/// scaling every p_i of the row alike (a bias of the sums, not noise).
template <class S>
double normalizer_remainder(double log_sum)
{
    return log_sum - double(S(log_sum));
}

/// Largest entry of x[0, n), n >= 1, with packets of type P (fixed order).
template <class P>
simd::scalar_of<P> block_max(const simd::scalar_of<P>* x, Index n)
{
    constexpr Index width = simd::lanes<P>;
    P hi = simd::broadcast<P>(x[0]);
    Index i = 0;
    for (; i + width <= n; i += width) hi = simd::max(hi, simd::load<P>(x + i));
    if (i < n) hi = simd::max(hi, simd::load_partial<P>(x + i, n - i, x[0]));  // x[0] is neutral for max
    return simd::reduce_max(hi);
}

/// The gradient pass over columns [begin, end) of a row pair: step(i, count, z_p packet, z_q packet,
/// gp, gq) computes the gradient packets of columns [i, i + count), which are stored where requested
/// (null: not requested). count is the packet width but in the tail, a partial packet whose padding
/// lanes are computed from 0 and never stored.
template <class P, class Step>
void for_each_gradient_packet_at(const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end,
                                 simd::scalar_of<P>* grad_p, simd::scalar_of<P>* grad_q, Step step)
{
    using S = simd::scalar_of<P>;
    constexpr Index width = simd::lanes<P>;
    P gp = simd::broadcast<P>(S(0)), gq = gp;
    const NextRowPrefetch<S> prefetch(row);
    Index i = begin;
    for (; i + width <= end; i += width) {
        prefetch(i);
        step(i, width, simd::load<P>(row.p + i), simd::load<P>(row.q + i), gp, gq);
        if (grad_p) simd::store(grad_p + i, gp);
        if (grad_q) simd::store(grad_q + i, gq);
    }
    if (i < end) {
        const Index count = end - i;
        step(i, count, simd::load_partial<P>(row.p + i, count, S(0)), simd::load_partial<P>(row.q + i, count, S(0)), gp, gq);
        if (grad_p) simd::store_partial(grad_p + i, gp, count);
        if (grad_q) simd::store_partial(grad_q + i, gq, count);
    }
}

/// The same, for a step(z_p packet, z_q packet, gp, gq) that does not need the column.
template <class P, class Step>
void for_each_gradient_packet(const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end, simd::scalar_of<P>* grad_p,
                              simd::scalar_of<P>* grad_q, const Step& step)
{
    for_each_gradient_packet_at<P>(row, begin, end, grad_p, grad_q,
                                   [&](Index, Index, const P& tp, const P& tq, P& gp, P& gq) { step(tp, tq, gp, gq); });
}

}  // namespace divergence::detail

#endif
