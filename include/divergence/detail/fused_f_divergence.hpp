#ifndef DIVERGENCE_DETAIL_FUSED_F_DIVERGENCE_HPP
#define DIVERGENCE_DETAIL_FUSED_F_DIVERGENCE_HPP

// Fused row kernel of the generic f-divergence engine (discrete/f_divergence.hpp) from two rows of
// logits. The driver first computes both log-sum-exps (needs_normalizers, vectorized); then each
// element is log p_i = (z_p,i - max_p) / T_p - log_sum_p (likewise q) and the row kernel's
// formulas: r = exp(log p - log q), term q f(r) for r <= 1 and p f(r)/r above, partials
// dD/dlog p = q r f'(r) | p f'(r), dD/dlog q = q phi(r) | p phi(r)/r.
//
// Packet loop (generators with the optional packet members f_packet, f_prime_packet, phi_packet,
// see discrete/generators.hpp), two exps per element instead of three. Lanes: double for double
// rows; for float rows double too (logits widened exactly, simd::Wide), unless the generator declares
// float_lanes (terms and partials bounded by a multiple of p + q, so that the float rounding of
// log p_i and log q_i costs a few eps absolute): then float lanes, with the normalizer split in a
// float and its remainder, applied as a factor (see Constants).
//   m = exp(max(log p, log q))   (the larger mass, on which the reference path writes each product)
//   s = exp(-|log p - log q|)    (the ratio of the smaller mass to the larger, <= 1)
//   r = s where log p <= log q, 1/s above; p = m s or m, q = m or m s;
//   term = m f(r) | m (f(r) s),  dD/dlog p = m (s f'(r)) | m f'(r),  dD/dlog q = m phi(r) | m (phi(r) s).
// A lane is special when a logit is -inf, |log r| >= 700 (r or 1/r near the end of the double range;
// float lanes: 80) or f, f', phi is not finite or beyond 1e150 (float lanes: 1e15), see Constants:
// every element of a packet of lanes with a special lane then goes through the row kernel's own
// term() / partials() (exact in the log domain, discrete/f_divergence.hpp), so zeros, +inf on support
// mismatch and ratios beyond the double range are exactly the reference path's. A lane whose larger
// mass m underflowed (double lanes: below e^-708) counts m f < 1e-158 as 0. Which lanes are special
// does not depend on which gradients are requested (f' and phi are always both checked in the
// gradient pass), so a gradient is the same whether or not the other one is asked for.
// Sums: double lanes (float lanes converted exactly per packet), folded every fused_block elements into the CompensatedSum state (lanes add at
// most fused_block / lanes terms); special elements go to the CompensatedSum directly. Per chunk the
// order is fixed, so results do not depend on the number of threads.
//
// Passes: normalizers (2 exps per element, input precision), value pass (2 exps), gradient pass
// (2 exps). The gradient sums (sum_i dD/dlog p_i, sum_i dD/dlog q_i) come from the value pass when
// a gradient is requested or the row is longer than one chunk (sums_in_value_pass), so the forward
// alone never pays for the partials; gradient rows that overlap an input leave a row of one chunk
// to a sums pass inside gradient() (2 exps more). d/dz_p,i = (dD/dlog p_i - p_i sum_j dD/dlog p_j) / T_p, as the
// driver's write_gradient (infinite sums: infinite entries kept, the others 0).
// Kept partials: when the value pass takes the sums, it also stores dD/dlog p_i (dD/dlog q_i),
// rounded to the input precision, in FusedRow::keep_p (keep_q); for a row without special lanes
// (nor a partial beyond the float range, which cannot be kept) the gradient pass reads them back
// and needs only p_i = exp(log p_i) (1 exp per requested side, no generator call). Rows with special lanes, and gradient rows over an input (no keep row),
// recompute the partials as above; which path a side takes depends only on its own gradient row.
//
// Generators without the packet form keep the scalar element loop (the kernel's term() and
// partials() per element, 3 scalar exps each); only their normalizer pass is vectorized.

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "divergence/core/kernel.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/detail/fused_row.hpp"

// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

// The scalar path of special lanes stays out of line: the packet loops are flattened.
#if defined(__GNUC__)
#define DIVERGENCE_F_NOINLINE __attribute__((noinline))
#else
#define DIVERGENCE_F_NOINLINE
#endif

namespace divergence::detail {

/// What one packet of lanes of an f-divergence gives (only the fields asked for are set).
template <class L>
struct FLanes {
    L p, q;              ///< the masses
    L value;             ///< the terms q f(r)
    L d_log_p, d_log_q;  ///< dD/dlog p_i = p f'(r), dD/dlog q_i = q phi(r)
    L d_p, d_q;          ///< dD/dp_i = f'(r), dD/dq_i = phi(r)
};

/// The packet formulas of an f-divergence on lanes L (the generator's packet members), shared by
/// the fused kernel from logits and the element contract of detail::FDivergenceKernel: at
/// l = log p - log q, with `high` the lanes where l > 0 and m the larger mass (p there, q elsewhere),
///   s = exp(-|l|), r = s | 1/s, a = p / m = 1 | s, b = q / m = s | 1,
///   p = m a, q = m b, term = m (f(r) b), dD/dlog p = m (f'(r) a), dD/dlog q = m (phi(r) b).
/// t: (log r / R)^2 from the caller; (f^2 [+ f'^2 + phi^2]) value_scale is added to it and the mask
/// of lanes with t < 1 (ordinary: no NaN, no infinity, nothing beyond 1 / sqrt(value_scale)) returned.
template <bool with_value, bool with_partials, class G, class L>
DIVERGENCE_SIMD_INLINE L f_lanes(const G& g, const L& l, const L& high, const L& m, L t, const L& value_scale, FLanes<L>& out)
{
    using T = simd::scalar_of<L>;
    const L zero = simd::broadcast<L>(T(0)), one = simd::broadcast<L>(T(1));
    const L s = simd::exp(simd::min(l, simd::sub(zero, l)));
    const L r = simd::select(high, simd::div(one, s), s);
    const L a = simd::select(high, one, s);  // p / m
    const L b = simd::select(high, s, one);  // q / m
    out.p = simd::mul(m, a);
    out.q = simd::mul(m, b);
    if constexpr (with_value) {
        const L f = g.template f_packet<L>(r);
        t = simd::madd(simd::mul(f, f), value_scale, t);
        out.value = simd::mul(m, simd::mul(f, b));  // q f(r) | p (f(r) / r)
    }
    if constexpr (with_partials) {
        const L fp = g.template f_prime_packet<L>(r);
        const L phi = g.template phi_packet<L>(r);
        t = simd::madd(simd::mul(fp, fp), value_scale, t);
        t = simd::madd(simd::mul(phi, phi), value_scale, t);
        out.d_p = fp;
        out.d_q = phi;
        out.d_log_p = simd::mul(m, simd::mul(fp, a));   // q (r f'(r)) | p f'(r)
        out.d_log_q = simd::mul(m, simd::mul(phi, b));  // q phi(r) | p (phi(r) / r)
    }
    return simd::less(t, one);
}

/// Kernel: a row kernel with `double term(const Element&)`, State = CompensatedSum,
/// finish(CompensatedSum) and partials(Final, Element) (detail::FDivergenceKernel<G>), which says
/// what its generator offers (the generator's traits stay with the generators, discrete/):
///   static constexpr bool packet_form;   `generator` has f_packet, f_prime_packet, phi_packet: the packet loop
///   static constexpr bool float_lanes;   they run on float lanes for float rows
template <class Kernel>
struct FusedFDivergence {
    static constexpr bool needs_normalizers = true;
    /// Log-probabilities as given beside logits (core/rows.hpp): normalizer 0, per-element terms.
    static constexpr bool takes_log_probs = true;
    static constexpr bool packet = Kernel::packet_form;

    Kernel kernel;

    struct State {
        CompensatedSum value, sum_d_log_p, sum_d_log_q;
        /// The packet loop met a special lane (the scalar path took it) or a partial too large to
        /// keep: the gradient pass checks every packet and recomputes the partials.
        bool special = false;
    };
    struct Final {
        double value;
        double sum_d_log_p, sum_d_log_q;  ///< only when sums_in_value_pass(row)
        bool special;                     ///< State::special in the row (idem)
    };

    /// The element of raw logits (zp, zq) of the row, as the scalar loop forms it.
    template <class Scalar>
    static Element element_at(const FusedRow<Scalar>& row, double zp, double zq)
    {
        Element e;
        e.log_p = (zp - row.max_p) * row.inverse_temperature_p - row.log_sum_p;
        e.log_q = (zq - row.max_q) * row.inverse_temperature_q - row.log_sum_q;
        e.p = std::exp(e.log_p);
        e.q = std::exp(e.log_q);
        return e;
    }

    template <class Scalar>
    static Element element(const FusedRow<Scalar>& row, Index i)
    {
        return element_at(row, double(row.p[i]), double(row.q[i]));
    }

    template <class Scalar>
    void merge(State& into, const State& other, const FusedRow<Scalar>&) const
    {
        into.value.merge(other.value);
        into.sum_d_log_p.merge(other.sum_d_log_p);
        into.sum_d_log_q.merge(other.sum_d_log_q);
        into.special = into.special || other.special;
    }

    /// Whether the value pass also takes the gradient sums: for rows longer than one chunk (their
    /// gradients may be written chunk by chunk, by several threads) and whenever a gradient is
    /// requested (the driver then hands over the gradient rows, FusedRow::keep_p / keep_q), so that
    /// the forward alone never pays for the partials. Otherwise gradient() takes them in a pass of
    /// its own (gradient rows that overlap an input).
    template <class Scalar>
    static bool sums_in_value_pass(const FusedRow<Scalar>& row)
    {
        return row.cols > fused_chunk || row.keep_p != nullptr || row.keep_q != nullptr;
    }

    template <class P>
    void accumulate(State& state, const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end) const
    {
        const bool sums = sums_in_value_pass(row);
        if constexpr (packet) {
            if (sums) {
                sweep<P, true, true>(state, row, begin, end);
            } else {
                sweep<P, true, false>(state, row, begin, end);
            }
        } else {
            for (Index i = begin; i < end; ++i) {
                const Element e = element(row, i);
                state.value.add(kernel.term(e));
                if (sums) {
                    const Partials d = kernel.partials(typename Kernel::Final{0.0}, e);
                    state.sum_d_log_p.add(d.d_log_p);
                    state.sum_d_log_q.add(d.d_log_q);
                }
            }
        }
    }

    template <class Scalar>
    Final finish(const State& s, const FusedRow<Scalar>&) const
    {
        return {kernel.finish(s.value).value, s.sum_d_log_p.value(), s.sum_d_log_q.value(), s.special};
    }

    template <class P>
    void gradient(const Final& f, const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end,
                  simd::scalar_of<P>* grad_p, simd::scalar_of<P>* grad_q, double scale) const
    {
        double sum_d_log_p = f.sum_d_log_p, sum_d_log_q = f.sum_d_log_q;
        bool special = f.special;
        if (!sums_in_value_pass(row)) {  // not accumulated in the value pass: over the whole row here
            State sums;
            if constexpr (packet) {
                sweep<P, false, true>(sums, row, 0, row.cols);
            } else {
                for (Index i = 0; i < row.cols; ++i) {
                    const Partials d = kernel.partials(typename Kernel::Final{f.value}, element(row, i));
                    sums.sum_d_log_p.add(d.d_log_p);
                    sums.sum_d_log_q.add(d.d_log_q);
                }
            }
            sum_d_log_p = sums.sum_d_log_p.value();
            sum_d_log_q = sums.sum_d_log_q.value();
            special = sums.special;
        }
        if constexpr (packet) {
            if (lanes_hold<P>(sum_d_log_p, sum_d_log_q)) {
                if (special) {
                    write_packets<P, true>(f, row, begin, end, grad_p, grad_q, scale, sum_d_log_p, sum_d_log_q);
                } else if ((grad_p && grad_p == row.keep_p) || (grad_q && grad_q == row.keep_q)) {
                    write_kept<P>(row, begin, end, grad_p, grad_q, scale, sum_d_log_p, sum_d_log_q);
                } else {
                    write_packets<P, false>(f, row, begin, end, grad_p, grad_q, scale, sum_d_log_p, sum_d_log_q);
                }
                return;
            }
        }
        using S = simd::scalar_of<P>;
        const double factor_p = scale * row.inverse_temperature_p, factor_q = scale * row.inverse_temperature_q;
        for (Index i = begin; i < end; ++i) {
            const Element e = element(row, i);
            const Partials d = kernel.partials(typename Kernel::Final{f.value}, e);
            if (grad_p) grad_p[i] = S(factor_p * logit(d.d_log_p, e.p, sum_d_log_p));
            if (grad_q) grad_q[i] = S(factor_q * logit(d.d_log_q, e.q, sum_d_log_q));
        }
    }

private:
    /// As write_gradient (core/rows.hpp): d_log - p * sum, and where the sum is infinite only the
    /// infinite entries are kept.
    static double logit(double d_log, double p, double sum)
    {
        return std::isfinite(sum) ? d_log - times(p, sum) : (std::isfinite(d_log) ? 0.0 : d_log);
    }

    /// How a packet P of the row is cut into lanes L = Split<P>::type: P itself for double rows and
    /// for generators with float lanes (discrete/generators.hpp), otherwise double packets.
    template <class P>
    using Split = std::conditional_t<Kernel::float_lanes, simd::Same<P>, simd::Wide<P>>;

    /// Broadcast constants of a row for lanes L.
    template <class L>
    struct Constants {
        using T = simd::scalar_of<L>;
        static constexpr bool single = std::is_same_v<T, float>;
        L max_p, max_q, inv_tp, inv_tq;
        // log p_i = x_p,i - lo_p with x_p,i = (z_p,i - max_p) / T_p - hi_p, hi_p = log_sum_p rounded to
        // the lanes and lo_p its remainder (0 in double): p_i = exp(x_p,i) exp(-lo_p) (see
        // normalizer_remainder), log p_i - log q_i = (x_p,i - x_q,i) - (lo_p - lo_q).
        L minus_hi_p, minus_hi_q;
        L exp_lo_p, exp_lo_q;  ///< exp(-lo): 1 in double
        L lo_difference;       ///< lo_p - lo_q: 0 in double
        L zero = simd::broadcast<L>(T(0)), one = simd::broadcast<L>(T(1));
        L all = simd::equal(zero, zero);  ///< every bit set
        // A lane is ordinary when t = (log r / R)^2 + (f^2 + f'^2 + phi^2) / F^2 < 1 (false for NaN
        // and infinities). Double: R = 700 keeps r and 1/r normal doubles (DBL_MIN = e^-708.4;
        // beyond, the reference path's log-domain forms), F = 1e150 keeps every product
        // finite. Float: R = 80 keeps them normal floats (e^80 = 5.5e34), F = 1e15 keeps the products
        // finite and makes a mass m that underflows float (m < 2^-126) negligible: |m f| < 1.2e-23.
        L log_scale = simd::broadcast<L>(T(single ? 1.0 / (80.0 * 80.0) : 1.0 / (700.0 * 700.0)));
        L value_scale = simd::broadcast<L>(T(single ? 1e-30 : 1e-300));

        template <class Scalar>
        explicit Constants(const FusedRow<Scalar>& row)
            : max_p(simd::broadcast<L>(T(row.max_p))), max_q(simd::broadcast<L>(T(row.max_q))),
              inv_tp(simd::broadcast<L>(T(row.inverse_temperature_p))),
              inv_tq(simd::broadcast<L>(T(row.inverse_temperature_q))), minus_hi_p(simd::broadcast<L>(T(-row.log_sum_p))),
              minus_hi_q(simd::broadcast<L>(T(-row.log_sum_q))),
              exp_lo_p(simd::broadcast<L>(T(std::exp(-normalizer_remainder<T>(row.log_sum_p))))),
              exp_lo_q(simd::broadcast<L>(T(std::exp(-normalizer_remainder<T>(row.log_sum_q))))),
              lo_difference(simd::broadcast<L>(T(normalizer_remainder<T>(row.log_sum_p) - normalizer_remainder<T>(row.log_sum_q))))
        {
        }

        /// x_i = (z_i - max) / T - hi from raw logits z: (z - max) first, exact-ish for logits of
        /// +-1e4 (float) / +-1e300 (double) where z / T - max / T would cancel.
        static L shifted(const L& z, const L& max, const L& inv_t, const L& minus_hi)
        {
            return simd::madd(simd::sub(z, max), inv_t, minus_hi);
        }
        L x_p(const L& zp) const { return shifted(zp, max_p, inv_tp, minus_hi_p); }
        L x_q(const L& zq) const { return shifted(zq, max_q, inv_tq, minus_hi_q); }
        /// exp(x) exp(-lo): the mass from its x.
        L mass(const L& x, const L& exp_lo) const
        {
            if constexpr (single) {
                return simd::mul(simd::exp(x), exp_lo);
            } else {
                return simd::exp(x);
            }
        }
    };

    template <class L>
    using Lanes = FLanes<L>;

    /// Evaluates one packet of lanes of raw logits; returns the mask of ordinary lanes (see Constants).
    template <bool with_value, bool with_partials, class L>
    DIVERGENCE_SIMD_FLATTEN L evaluate(const Constants<L>& k, const L& zp, const L& zq, Lanes<L>& out) const
    {
        const auto& g = kernel.generator;
        const L xp = k.x_p(zp), xq = k.x_q(zq);
        L l = simd::sub(xp, xq);  // log r = log p - log q
        if constexpr (Constants<L>::single) l = simd::sub(l, k.lo_difference);
        L t = simd::mul(simd::mul(l, l), k.log_scale);
        const L high = simd::less(k.zero, l);  // r > 1: p is the larger mass
        const L m = k.mass(simd::select(high, xp, xq), simd::select(high, k.exp_lo_p, k.exp_lo_q));
        return f_lanes<with_value, with_partials>(g, l, high, m, t, k.value_scale, out);
    }

    /// The scalar path (the row kernel's term / partials) for the first n lanes of (zp, zq).
    template <bool with_value, bool with_sums, class L, class Scalar>
    DIVERGENCE_F_NOINLINE void scalar_lanes(State& state, const FusedRow<Scalar>& row, const L& zp, const L& zq,
                                                Index n) const
    {
        alignas(64) simd::scalar_of<L> bp[simd::lanes<L>], bq[simd::lanes<L>];
        simd::store(bp, zp);
        simd::store(bq, zq);
        for (Index t = 0; t < n; ++t) {
            const Element e = element_at(row, double(bp[t]), double(bq[t]));
            if constexpr (with_value) state.value.add(kernel.term(e));
            if constexpr (with_sums) {
                const Partials d = kernel.partials(typename Kernel::Final{0.0}, e);
                state.sum_d_log_p.add(d.d_log_p);
                state.sum_d_log_q.add(d.d_log_q);
            }
        }
    }

    /// Value and/or gradient sums over columns [begin, end) of the row, into `state`. Each block is
    /// first taken optimistically (packets only, one check at the end); a block with a special lane
    /// is taken again packet by packet, special packets through the scalar path.
    template <class P, bool with_value, bool with_sums>
    DIVERGENCE_SIMD_FLATTEN void sweep(State& state, const FusedRow<simd::scalar_of<P>>& row, Index begin,
                                       Index end) const
    {
        using S = simd::scalar_of<P>;
        using L = typename Split<P>::type;
        using W = simd::wide_t<P>;
        constexpr int parts = Split<P>::parts;
        constexpr Index width = simd::lanes<P>, lane_width = simd::lanes<L>;
        const Constants<L> k(row);
        const W zero_w = simd::broadcast<W>(0.0);
        const NextRowPrefetch<S> prefetch(row);
        for (Index block = begin; block < end; block += fused_block) {
            const Index block_end = std::min(end, block + fused_block);
            W sum_value = zero_w, sum_p = zero_w, sum_q = zero_w;
            // checked: special packets go through the scalar path; otherwise `ordinary` collects the masks.
            L ordinary = k.all;
            const auto step = [&](Index at, const P& tp, const P& tq, Index valid, bool checked) {
                L zp[parts], zq[parts];
                // The partials kept for gradient() (special packets and padding: 0, never read back).
                L kp[parts], kq[parts];
                Split<P>::split(tp, zp);
                Split<P>::split(tq, zq);
                for (int j = 0; j < parts; ++j) kp[j] = kq[j] = k.zero;
                for (int j = 0; j < parts; ++j) {
                    const Index n = std::min(lane_width, valid - j * lane_width);
                    if (n <= 0) break;
                    Lanes<L> x;
                    const L mask = n < lane_width ? simd::first_lanes<L>(n) : k.all;
                    // Padding lanes of a tail count as ordinary.
                    const L ok = simd::select(mask, evaluate<with_value, with_sums>(k, zp[j], zq[j], x), k.all);
                    if (checked) {
                        if (simd::any(simd::select(ok, k.zero, k.all))) {
                            scalar_lanes<with_value, with_sums>(state, row, zp[j], zq[j], n);
                            state.special = true;
                            continue;
                        }
                    } else {
                        ordinary = simd::keep(ordinary, ok);
                    }
                    if constexpr (with_value) simd::add_wide(sum_value, simd::keep(mask, x.value));
                    if constexpr (with_sums) {
                        simd::add_wide(sum_p, simd::keep(mask, x.d_log_p));
                        simd::add_wide(sum_q, simd::keep(mask, x.d_log_q));
                        kp[j] = x.d_log_p;
                        kq[j] = x.d_log_q;
                    }
                }
                if constexpr (with_sums) {
                    if (row.keep_p || row.keep_q) {
                        const P kept_p = Split<P>::join(kp), kept_q = Split<P>::join(kq);
                        if (row.keep_p) simd::store_upto(row.keep_p + at, kept_p, valid);
                        if (row.keep_q) simd::store_upto(row.keep_q + at, kept_q, valid);
                        // A partial beyond the range of a float row cannot be kept (the gradient
                        // may still be in range after 1/T and the reduction): recompute the row.
                        const P zero = simd::broadcast<P>(S(0));
                        const P finite = simd::equal(simd::sub(kept_p, kept_p), simd::sub(kept_q, kept_q));
                        if (simd::any(simd::select(finite, zero, simd::equal(zero, zero)))) state.special = true;
                    }
                }
            };
            const auto run = [&](bool checked) {
                Index i = block;
                for (; i + width <= block_end; i += width) {
                    prefetch(i);
                    step(i, simd::load<P>(row.p + i), simd::load<P>(row.q + i), width, checked);
                }
                if (i < block_end) {
                    step(i, simd::load_partial<P>(row.p + i, block_end - i, S(0)),
                         simd::load_partial<P>(row.q + i, block_end - i, S(0)), block_end - i, checked);
                }
            };
            run(false);
            if (simd::any(simd::select(ordinary, k.zero, k.all))) {
                sum_value = sum_p = sum_q = zero_w;
                run(true);
            }
            if constexpr (with_value) state.value.add(double(simd::reduce_add(sum_value)));
            if constexpr (with_sums) {
                state.sum_d_log_p.add(double(simd::reduce_add(sum_p)));
                state.sum_d_log_q.add(double(simd::reduce_add(sum_q)));
            }
        }
    }

    /// Whether the packet gradient passes can take a row with these gradient sums: in float lanes a
    /// finite sum beyond 1e30 (possible only from special lanes) would overflow p_i S.
    template <class P>
    static bool lanes_hold(double sum_d_log_p, double sum_d_log_q)
    {
        using T = simd::scalar_of<typename Split<P>::type>;
        const double limit = std::is_same_v<T, float> ? 1e30 : std::numeric_limits<double>::infinity();
        const auto fits = [&](double sum) { return !std::isfinite(sum) || std::abs(sum) <= limit; };
        return fits(sum_d_log_p) && fits(sum_d_log_q);
    }

    /// The gradient pass of the packet loop over columns [begin, end). `checked`: the row has special
    /// lanes (found by the pass that computed the gradient sums, with a test at least as strict), so
    /// each packet is checked; otherwise no packet of the row is special.
    template <class P, bool checked>
    DIVERGENCE_SIMD_FLATTEN void write_packets(const Final& f, const FusedRow<simd::scalar_of<P>>& row, Index begin,
                                               Index end, simd::scalar_of<P>* grad_p, simd::scalar_of<P>* grad_q,
                                               double scale, double sum_d_log_p, double sum_d_log_q) const
    {
        using L = typename Split<P>::type;
        using T = simd::scalar_of<L>;
        constexpr int parts = Split<P>::parts;
        constexpr Index lane_width = simd::lanes<L>;
        const Constants<L> k(row);
        const double factor_p = scale * row.inverse_temperature_p, factor_q = scale * row.inverse_temperature_q;
        const L factor_p_l = simd::broadcast<L>(T(factor_p)), factor_q_l = simd::broadcast<L>(T(factor_q));
        // With an infinite sum only infinite entries are kept: packet lanes are finite, so 0.
        const bool finite_p = std::isfinite(sum_d_log_p), finite_q = std::isfinite(sum_d_log_q);
        const L sum_p_l = simd::broadcast<L>(T(finite_p ? sum_d_log_p : 0.0));
        const L sum_q_l = simd::broadcast<L>(T(finite_q ? sum_d_log_q : 0.0));
        const auto step = [&](const P& tp, const P& tq, P& gp, P& gq) {
            L zp[parts], zq[parts], wp[parts], wq[parts];
            Split<P>::split(tp, zp);
            Split<P>::split(tq, zq);
            for (int j = 0; j < parts; ++j) {
                Lanes<L> x;
                const L ok = evaluate<false, true>(k, zp[j], zq[j], x);
                // Padding lanes of a tail (logits 0) are computed like the others and never stored.
                if (checked && simd::any(simd::select(ok, k.zero, k.all))) {
                    alignas(64) T bp[lane_width], bq[lane_width], gp_lanes[lane_width], gq_lanes[lane_width];
                    simd::store(bp, zp[j]);
                    simd::store(bq, zq[j]);
                    for (Index t = 0; t < lane_width; ++t) {
                        const Element e = element_at(row, double(bp[t]), double(bq[t]));
                        const Partials d = kernel.partials(typename Kernel::Final{f.value}, e);
                        gp_lanes[t] = T(factor_p * logit(d.d_log_p, e.p, sum_d_log_p));
                        gq_lanes[t] = T(factor_q * logit(d.d_log_q, e.q, sum_d_log_q));
                    }
                    wp[j] = simd::load<L>(gp_lanes);
                    wq[j] = simd::load<L>(gq_lanes);
                    continue;
                }
                wp[j] = finite_p ? simd::mul(factor_p_l, simd::sub(x.d_log_p, simd::mul(x.p, sum_p_l))) : k.zero;
                wq[j] = finite_q ? simd::mul(factor_q_l, simd::sub(x.d_log_q, simd::mul(x.q, sum_q_l))) : k.zero;
            }
            if (grad_p) gp = Split<P>::join(wp);
            if (grad_q) gq = Split<P>::join(wq);
        };
        for_each_gradient_packet<P>(row, begin, end, grad_p, grad_q, step);
    }

    /// The gradient pass of the packet loop over columns [begin, end) of a row without special lanes
    /// when a requested gradient row holds the partials kept by the value pass (sweep with sums):
    /// d/dz_p,i = (kept_i - p_i S_p) / T_p with p_i = exp(log p_i), one exp per requested side, no
    /// generator call. A requested side without kept partials (its row overlaps an input) is
    /// computed as write_packets does, so each side's bits depend only on its own row.
    template <class P>
    DIVERGENCE_SIMD_FLATTEN void write_kept(const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end,
                                            simd::scalar_of<P>* grad_p, simd::scalar_of<P>* grad_q, double scale,
                                            double sum_d_log_p, double sum_d_log_q) const
    {
        using S = simd::scalar_of<P>;
        using L = typename Split<P>::type;
        using T = simd::scalar_of<L>;
        constexpr int parts = Split<P>::parts;
        const Constants<L> k(row);
        const bool kept_p = grad_p && grad_p == row.keep_p, kept_q = grad_q && grad_q == row.keep_q;
        const bool other = (grad_p && !kept_p) || (grad_q && !kept_q);
        const L factor_p_l = simd::broadcast<L>(T(scale * row.inverse_temperature_p));
        const L factor_q_l = simd::broadcast<L>(T(scale * row.inverse_temperature_q));
        const bool finite_p = std::isfinite(sum_d_log_p), finite_q = std::isfinite(sum_d_log_q);
        const L sum_p_l = simd::broadcast<L>(T(finite_p ? sum_d_log_p : 0.0));
        const L sum_q_l = simd::broadcast<L>(T(finite_q ? sum_d_log_q : 0.0));
        // One side's (dD/dlog m_i - m_i S) / T: dD/dlog m_i read back (m_i = exp(log m_i) from the
        // logit) when kept, else the freshly evaluated partial and mass.
        const auto side = [&](bool kept_side, const L& d_kept, const L& x, const L& exp_lo, const L& d_fresh,
                              const L& mass_fresh, const L& factor, const L& sum, bool finite) {
            if (!finite) return k.zero;
            const L d = kept_side ? d_kept : d_fresh;
            const L mass = kept_side ? k.mass(x, exp_lo) : mass_fresh;
            return simd::mul(factor, simd::sub(d, simd::mul(mass, sum)));
        };
        const auto step = [&](Index i, Index count, const P& tp, const P& tq, P& gp, P& gq) {
            L zp[parts], zq[parts], dp[parts], dq[parts], wp[parts], wq[parts];
            Split<P>::split(tp, zp);
            Split<P>::split(tq, zq);
            if (kept_p) Split<P>::split(simd::load_upto<P>(grad_p + i, count, S(0)), dp);
            if (kept_q) Split<P>::split(simd::load_upto<P>(grad_q + i, count, S(0)), dq);
            for (int j = 0; j < parts; ++j) {
                Lanes<L> x{};
                if (other) evaluate<false, true>(k, zp[j], zq[j], x);
                if (grad_p) wp[j] = side(kept_p, dp[j], k.x_p(zp[j]), k.exp_lo_p, x.d_log_p, x.p, factor_p_l, sum_p_l, finite_p);
                if (grad_q) wq[j] = side(kept_q, dq[j], k.x_q(zq[j]), k.exp_lo_q, x.d_log_q, x.q, factor_q_l, sum_q_l, finite_q);
            }
            if (grad_p) gp = Split<P>::join(wp);
            if (grad_q) gq = Split<P>::join(wq);
        };
        for_each_gradient_packet_at<P>(row, begin, end, grad_p, grad_q, step);
    }
};

}  // namespace divergence::detail

#undef DIVERGENCE_F_NOINLINE

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
