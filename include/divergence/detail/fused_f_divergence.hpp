#ifndef DIVERGENCE_DETAIL_FUSED_F_DIVERGENCE_HPP
#define DIVERGENCE_DETAIL_FUSED_F_DIVERGENCE_HPP

// Fused row kernel of the generic f-divergence engine (discrete/f_divergence.hpp) from two rows of
// logits. The generators are scalar double code, so only the normalizer pass is vectorized (the
// driver's log-sum-exps, needs_normalizers); the element loop then builds each Element from the
// logits (log p_i = (z_p,i - max_p) / T_p - log_sum_p, p_i = exp(log p_i), likewise q) and calls
// the row kernel's own term() and partials(), so log r = log p - log q, zeros and saturation are
// exactly those of the reference path. One value pass accumulates the value and the two sums the
// logit gradients need (sum_i dD/dlog p_i, sum_i dD/dlog q_i); the gradient pass recomputes the
// partials: d/dz_p,i = (dD/dlog p_i - p_i sum_j dD/dlog p_j) / T_p, as the driver's
// write_gradient (infinite sums: infinite entries kept, the others 0).
// The gradient sums are only accumulated in the value pass for rows longer than one chunk (whose
// gradients may be written chunk by chunk, by several threads). A row of one chunk gets them from
// a partials pass over the whole row inside gradient(), so that the forward alone never pays for
// the partials. Either way the sums of a row are computed in the same order whatever the number
// of threads.
// Cost per element: 2 vector exps (normalizers), 2 scalar exps + f (value pass), and per gradient
// pass 2 exps + partials, twice for rows of one chunk. What it saves over the reference path is
// mainly the scalar normalizer pass (2 scalar exps per element per input and pass).

#include <cmath>

#include "divergence/core/rows.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/detail/fused_row.hpp"

namespace divergence::detail {

/// Kernel: a row kernel with `double term(const Element&)`, State = CompensatedSum,
/// finish(CompensatedSum) and partials(Final, Element) (detail::FDivergenceKernel<G>).
template <class Kernel>
struct FusedFDivergence {
    static constexpr bool needs_normalizers = true;

    Kernel kernel;

    struct State {
        CompensatedSum value, sum_d_log_p, sum_d_log_q;
    };
    struct Final {
        double value;
        double sum_d_log_p, sum_d_log_q;  ///< only for rows longer than one chunk
    };

    template <class Scalar>
    static Element element(const FusedRow<Scalar>& row, Index i)
    {
        Element e;
        e.log_p = (double(row.p[i]) - row.max_p) * row.inverse_temperature_p - row.log_sum_p;
        e.log_q = (double(row.q[i]) - row.max_q) * row.inverse_temperature_q - row.log_sum_q;
        e.p = std::exp(e.log_p);
        e.q = std::exp(e.log_q);
        return e;
    }

    template <class Scalar>
    void merge(State& into, const State& other, const FusedRow<Scalar>&) const
    {
        into.value.merge(other.value);
        into.sum_d_log_p.merge(other.sum_d_log_p);
        into.sum_d_log_q.merge(other.sum_d_log_q);
    }

    template <class P>
    void accumulate(State& state, const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end) const
    {
        for (Index i = begin; i < end; ++i) {
            const Element e = element(row, i);
            state.value.add(kernel.term(e));
            if (row.cols > fused_chunk) {
                const Partials d = kernel.partials(typename Kernel::Final{0.0}, e);
                state.sum_d_log_p.add(d.d_log_p);
                state.sum_d_log_q.add(d.d_log_q);
            }
        }
    }

    template <class Scalar>
    Final finish(const State& s, const FusedRow<Scalar>&) const
    {
        return {kernel.finish(s.value).value, s.sum_d_log_p.value(), s.sum_d_log_q.value()};
    }

    template <class P>
    void gradient(const Final& f, const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end,
                  simd::scalar_of<P>* grad_p, simd::scalar_of<P>* grad_q, double scale) const
    {
        using S = simd::scalar_of<P>;
        const double factor_p = scale * row.inverse_temperature_p, factor_q = scale * row.inverse_temperature_q;
        // As write_gradient (core/rows.hpp): (d_log - p * sum) / T, and where the sum is infinite
        // only the infinite entries are kept.
        const auto logit = [](double d_log, double p, double sum) {
            return std::isfinite(sum) ? d_log - times(p, sum) : (std::isfinite(d_log) ? 0.0 : d_log);
        };
        double sum_d_log_p = f.sum_d_log_p, sum_d_log_q = f.sum_d_log_q;
        if (row.cols <= fused_chunk) {  // not accumulated in the value pass: over the whole row here
            CompensatedSum sp, sq;
            for (Index i = 0; i < row.cols; ++i) {
                const Partials d = kernel.partials(typename Kernel::Final{f.value}, element(row, i));
                sp.add(d.d_log_p);
                sq.add(d.d_log_q);
            }
            sum_d_log_p = sp.value();
            sum_d_log_q = sq.value();
        }
        for (Index i = begin; i < end; ++i) {
            const Element e = element(row, i);
            const Partials d = kernel.partials(typename Kernel::Final{f.value}, e);
            if (grad_p) grad_p[i] = S(factor_p * logit(d.d_log_p, e.p, sum_d_log_p));
            if (grad_q) grad_q[i] = S(factor_q * logit(d.d_log_q, e.q, sum_d_log_q));
        }
    }
};

}  // namespace divergence::detail

#endif
