#ifndef DIVERGENCE_DETAIL_FUSED_ROW_HPP
#define DIVERGENCE_DETAIL_FUSED_ROW_HPP

// Helpers of the fused row kernels (detail/fused_*.hpp): the next-row prefetch and the gradient
// packet loop. What a kernel sees of its rows (FusedRow, chunks, blocks) is core/kernel.hpp.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "divergence/core/kernel.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/simd.hpp"

namespace divergence::detail {

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
