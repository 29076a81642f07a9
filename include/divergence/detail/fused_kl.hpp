#ifndef DIVERGENCE_DETAIL_FUSED_KL_HPP
#define DIVERGENCE_DETAIL_FUSED_KL_HPP

// Fused row kernel of KL(P || Q) from two rows of logits (reverse KL is the same kernel with the
// arguments exchanged, see core/rows.hpp). Value: ONE streaming pass over both rows, two exps per
// element and no logarithm:
//   with a_i = z_p,i / T_p, b_i = z_q,i / T_q, running maxima A, B, e_i = exp(a_i - A),
//   Z_p = sum e_i, Z_q = sum exp(b_i - B), C = sum e_i ((a_i - A) - (b_i - B)):
//   KL = C / Z_p - log Z_p + log Z_q     (log p_i - log q_i = (a_i - A) - (b_i - B) - log Z_p + log Z_q).
// Gradients (second pass over the row, from cache when it fits):
//   d/dz_q,i = (q_i - p_i) / T_q,   d/dz_p,i = p_i (log p_i - log q_i - KL) / T_p.
// The first pass keeps its exponentials in the requested gradient rows (FusedRow::keep_p/keep_q);
// the second reads them back and rescales them by one factor per block, so it computes an exp only
// for a side whose gradient was not asked: forward + student gradient costs 3 exps per element,
// with the teacher's gradient too 2 (docs/performance.md).
// Log-probabilities taken as given (FusedRow::given_*, teacher log-probabilities from a server): read as
// logits at T = 1, whose softmax P~ = P / s renormalizes them by their mass s = sum_i exp(x_i) (1 within
// rounding); with s_p, s_q the masses (1 for logits) the divergence of the numbers as given is
//   sum_i p_i (log p_i - log q_i) = s_p (KL(P~ || Q~) + log s_p - log s_q),
// and the gradient of a logits side is that of KL(P~ || Q~) times s_p (log s_q is a constant).
// Precision: exps in the input precision (float lanes for float rows) from x_i = (z_i - ref) / T;
// the forward pass's cross term uses the same rounded x_i (d_i = x_p,i - x_q,i), its sums are float
// over 4 packets, then double; careful blocks (a -inf, or logits 1e30 T apart) form d_i in double
// lanes from the logits, as does the teacher gradient's log-ratio. Rows of any length accumulate
// safely (docs/performance.md).

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "divergence/core/simd.hpp"
#include "divergence/detail/fused_row.hpp"

namespace divergence::detail {

struct FusedKl {
    static constexpr bool needs_normalizers = false;
    static constexpr bool takes_log_probs = true;

    /// Partial sums over a slice, relative to the running maxima (raw logits).
    struct State {
        double max_p = -std::numeric_limits<double>::infinity();
        double max_q = -std::numeric_limits<double>::infinity();
        double sum_p = 0.0;  ///< sum exp((z_p - ref_p) / T_p)
        double sum_q = 0.0;  ///< sum exp((z_q - ref_q) / T_q)
        double cross = 0.0;  ///< sum e_p,i ((z_p,i - ref_p) / T_p - (z_q,i - ref_q) / T_q)
        bool mismatch = false;  ///< some z_p,i > -inf with z_q,i = -inf: KL = +inf
    };
    struct Final {
        double value;       ///< of the rows as given
        double normalized;  ///< KL(P~ || Q~) between the softmaxes (value, unless a row is given log-probabilities)
        double mass_p;      ///< s_p: sum_i p_i of P as given (1 for logits)
        double reference_p, log_sum_p;  ///< log p~_i = (z_p,i - reference_p) / T_p - log_sum_p
        double reference_q, log_sum_q;
    };

    /// Moves a state to larger maxima (new_max_p >= max_p, new_max_q >= max_q).
    static void shift(State& s, double new_max_p, double new_max_q, double inv_tp, double inv_tq)
    {
        if (new_max_p > s.max_p) {
            if (s.sum_p != 0.0) {
                const double delta = (finite_reference(s.max_p) - new_max_p) * inv_tp;  // <= 0
                const double factor = std::exp(delta);
                s.cross = factor * (s.cross + delta * s.sum_p);
                s.sum_p *= factor;
            }
            s.max_p = new_max_p;
        }
        if (new_max_q > s.max_q) {
            if (s.sum_q != 0.0) s.sum_q *= std::exp((finite_reference(s.max_q) - new_max_q) * inv_tq);
            // (b_i - B_new) = (b_i - B_old) + (B_old - B_new): the cross term loses sum_p (B_old - B_new).
            if (s.sum_p != 0.0) s.cross -= (finite_reference(s.max_q) - new_max_q) * inv_tq * s.sum_p;
            s.max_q = new_max_q;
        }
    }

    template <class Scalar>
    void merge(State& into, const State& other, const FusedRow<Scalar>& row) const
    {
        const double inv_tp = row.inverse_temperature_p, inv_tq = row.inverse_temperature_q;
        State b = other;
        const double max_p = std::max(into.max_p, b.max_p), max_q = std::max(into.max_q, b.max_q);
        shift(into, max_p, max_q, inv_tp, inv_tq);
        shift(b, max_p, max_q, inv_tp, inv_tq);
        into.sum_p += b.sum_p;
        into.sum_q += b.sum_q;
        into.cross += b.cross;
        into.mismatch = into.mismatch || b.mismatch;
    }

    /// Accumulates columns [begin, end) of the row into `state`, with packets P.
    template <class P>
    DIVERGENCE_SIMD_FLATTEN void accumulate(State& state, const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end) const
    {
        using S = simd::scalar_of<P>;
        using W = simd::wide_t<P>;
        constexpr int parts = simd::Wide<P>::parts;
        constexpr Index width = simd::lanes<P>;
        constexpr S minus_inf = -std::numeric_limits<S>::infinity();
        const double inv_tp = row.inverse_temperature_p, inv_tq = row.inverse_temperature_q;
        const P inv_tp_s = simd::broadcast<P>(S(inv_tp)), inv_tq_s = simd::broadcast<P>(S(inv_tq));
        const W inv_tp_w = simd::broadcast<W>(inv_tp), minus_inv_tq_w = simd::broadcast<W>(-inv_tq);

        // The extrema of block k + 1 are taken in the loop that accumulates block k: the loads of
        // the next block (from memory) overlap the exps of this one (from L1), instead of a
        // separate scan that waits on memory with nothing to compute. Extrema are exact, so the
        // result does not depend on where they are taken.
        const S plus_inf = std::numeric_limits<S>::infinity();
        // Only whether a block holds a -inf matters of its minima: one minimum over both rows
        // (fewer registers in the hot loop).
        P next_hi_p = simd::broadcast<P>(minus_inf), next_hi_q = next_hi_p, next_lo = simd::broadcast<P>(plus_inf);
        const auto scan = [&](const S* xp, const S* xq, Index from, Index n) {  // next_* over [from, n)
            Index j = from;
            for (; j + width <= n; j += width) {
                const P vp = simd::load<P>(xp + j), vq = simd::load<P>(xq + j);
                next_hi_p = simd::max(next_hi_p, vp);
                next_hi_q = simd::max(next_hi_q, vq);
                next_lo = simd::min(next_lo, simd::min(vp, vq));
            }
            if (j < n) {  // x[0] is neutral for max and min
                const P vp = simd::load_partial<P>(xp + j, n - j, xp[0]), vq = simd::load_partial<P>(xq + j, n - j, xq[0]);
                next_hi_p = simd::max(next_hi_p, vp);
                next_hi_q = simd::max(next_hi_q, vq);
                next_lo = simd::min(next_lo, simd::min(vp, vq));
            }
        };
        if (begin < end) scan(row.p + begin, row.q + begin, 0, std::min(fused_block, end - begin));
        const NextRowPrefetch<S> prefetch(row);

        for (Index block = begin; block < end; block += fused_block) {
            const Index n = std::min(fused_block, end - block);
            const S* zp = row.p + block;
            const S* zq = row.q + block;
            const S hi_p = simd::reduce_max(next_hi_p), hi_q = simd::reduce_max(next_hi_q), lo = simd::reduce_min(next_lo);
            next_hi_p = next_hi_q = simd::broadcast<P>(minus_inf);
            next_lo = simd::broadcast<P>(plus_inf);
            const Index n_next = std::max(Index(0), std::min(fused_block, end - (block + n)));
            const S* np = zp + n;
            const S* nq = zq + n;
            shift(state, std::max(state.max_p, double(hi_p)), std::max(state.max_q, double(hi_q)), inv_tp, inv_tq);
            const double ref_p = finite_reference(state.max_p), ref_q = finite_reference(state.max_q);
            const P ref_p_s = simd::broadcast<P>(S(ref_p)), ref_q_s = simd::broadcast<P>(S(ref_q));
            // d_i = a_i - b_i - (A - B) in double: t_p * inv_tp + (t_q * (-inv_tq) - offset).
            const W minus_offset = simd::broadcast<W>(-(ref_p * inv_tp - ref_q * inv_tq));
            // Careful blocks hold a -inf (e_p = 0 times an infinite d is NaN) or logits so far apart
            // that (z - ref) / T could overflow a float: they take the masked double-lane path.
            const double spread = (std::max(ref_p, ref_q) - double(lo)) * std::max(inv_tp, inv_tq);
            const bool careful = !(spread <= 1e30);
            if (lo == minus_inf && !state.mismatch) {
                // p_i > 0 = q_i, decided on the logits: p_i may underflow exp while log p_i is finite.
                for (Index i = 0; i < n; ++i) state.mismatch = state.mismatch || (zq[i] == minus_inf && zp[i] != minus_inf);
            }

            // Double sums of the block; the fast path adds float sums of `group` packets into them.
            W sum_p = simd::broadcast<W>(0.0), sum_q = sum_p, cross = sum_p;
            const auto keep = [&](Index at, Index count, const P& ep, const P& eq) {
                if (row.keep_p) simd::store_upto(row.keep_p + at, ep, count);
                if (row.keep_q) simd::store_upto(row.keep_q + at, eq, count);
            };
            // Careful path, columns [at, at + count) (count < width only in the tail, with lane_mask):
            // d_i in double lanes from the logits.
            const auto careful_step = [&](Index at, Index count, const P& tp, const P& tq, const P* lane_mask) {
                P ep = simd::exp(simd::mul(simd::sub(tp, ref_p_s), inv_tp_s));
                P eq = simd::exp(simd::mul(simd::sub(tq, ref_q_s), inv_tq_s));
                keep(at, count, ep, eq);
                if (lane_mask) {
                    ep = simd::keep(*lane_mask, ep);
                    eq = simd::keep(*lane_mask, eq);
                }
                simd::add_wide(sum_q, eq);
                W ep_w[parts], tp_w[parts], tq_w[parts];
                simd::Wide<P>::split(ep, ep_w);
                simd::Wide<P>::split(tp, tp_w);
                simd::Wide<P>::split(tq, tq_w);
                for (int k = 0; k < parts; ++k) {
                    sum_p = simd::add(sum_p, ep_w[k]);
                    const W d = simd::madd(tp_w[k], inv_tp_w, simd::madd(tq_w[k], minus_inv_tq_w, minus_offset));
                    cross = simd::add(cross, simd::keep(simd::less(simd::broadcast<W>(0.0), ep_w[k]), simd::mul(ep_w[k], d)));
                }
            };
            // Fast path, `group` whole packets from column i of the block: x_i = (z_i - ref) / T
            // rounded to float is both the exp's argument and the cross term's d_i = x_p,i - x_q,i,
            // so the sums are those of the logits as rounded (a relative perturbation of 2 eps of
            // z - ref); float sums of `group` terms (<= (group - 1) eps) are added into the double
            // sums. The loads of the next block's extrema scan ride along when `scan_next`.
            constexpr int group = 4;
            const auto fast_group = [&](Index i, bool scan_next) {
                P gp = simd::broadcast<P>(S(0)), gq = gp, gc = gp;
#if defined(__GNUC__)
#pragma GCC unroll 4
#endif
                for (int g = 0; g < group; ++g, i += width) {
                    if (!scan_next) prefetch(block + i);
                    const P xp = simd::mul(simd::sub(simd::load<P>(zp + i), ref_p_s), inv_tp_s);
                    const P xq = simd::mul(simd::sub(simd::load<P>(zq + i), ref_q_s), inv_tq_s);
                    const P ep = simd::exp(xp), eq = simd::exp(xq);
                    keep(block + i, width, ep, eq);
                    gp = simd::add(gp, ep);
                    gq = simd::add(gq, eq);
                    gc = simd::madd(ep, simd::sub(xp, xq), gc);
                    if (scan_next) {
                        const P vp = simd::load<P>(np + i), vq = simd::load<P>(nq + i);
                        next_hi_p = simd::max(next_hi_p, vp);
                        next_hi_q = simd::max(next_hi_q, vq);
                        next_lo = simd::min(next_lo, simd::min(vp, vq));
                    }
                }
                simd::add_wide(sum_p, gp);
                simd::add_wide(sum_q, gq);
                simd::add_wide(cross, gc);
            };
            // The same for the block's last packets, one at column i holding `count` <= width columns:
            // lanes past count are loaded as the reference (x = 0) and masked out.
            const auto fast_single = [&](Index i, Index count) {
                prefetch(block + i);
                const P tp = simd::load_upto<P>(zp + i, count, S(ref_p));
                const P tq = simd::load_upto<P>(zq + i, count, S(ref_q));
                const P xp = simd::mul(simd::sub(tp, ref_p_s), inv_tp_s);
                const P xq = simd::mul(simd::sub(tq, ref_q_s), inv_tq_s);
                P ep = simd::exp(xp), eq = simd::exp(xq);
                keep(block + i, count, ep, eq);
                if (count < width) {
                    const P mask = simd::first_lanes<P>(count);
                    ep = simd::keep(mask, ep);
                    eq = simd::keep(mask, eq);
                }
                simd::add_wide(sum_p, ep);
                simd::add_wide(sum_q, eq);
                simd::add_wide(cross, simd::mul(ep, simd::sub(xp, xq)));
            };
            const Index span = group * width;
            const Index full = n - n % width;
            Index i = 0;
            if (careful) {
                for (; i < full; i += width) careful_step(block + i, width, simd::load<P>(zp + i), simd::load<P>(zq + i), nullptr);
                if (i < n) {
                    const P mask = simd::first_lanes<P>(n - i);
                    careful_step(block + i, n - i, simd::load_partial<P>(zp + i, n - i, S(0)),
                                 simd::load_partial<P>(zq + i, n - i, S(0)), &mask);
                }
                scan(np, nq, 0, n_next);
            } else {
                const Index both = std::min(n - n % span, n_next - n_next % span);
                for (; i < both; i += span) fast_group(i, true);
                scan(np, nq, i, n_next);
                for (; i + span <= n; i += span) fast_group(i, false);
                for (; i < n; i += width) fast_single(i, std::min(width, n - i));
            }
            state.sum_p += double(simd::reduce_add(sum_p));
            state.sum_q += double(simd::reduce_add(sum_q));
            state.cross += double(simd::reduce_add(cross));
        }
    }

    template <class Scalar>
    Final finish(const State& s, const FusedRow<Scalar>& row) const
    {
        Final f;
        f.reference_p = finite_reference(s.max_p);
        f.reference_q = finite_reference(s.max_q);
        f.log_sum_p = std::log(s.sum_p);
        f.log_sum_q = std::log(s.sum_q);
        const double value = s.mismatch || s.cross == std::numeric_limits<double>::infinity()
                                 ? std::numeric_limits<double>::infinity()
                                 : s.cross / s.sum_p - f.log_sum_p + f.log_sum_q;
        f.normalized = std::max(0.0, value);  // >= 0 (Gibbs): clamp rounding
        f.value = f.normalized;
        f.mass_p = 1.0;
        if (row.given_p || row.given_q) {  // log s = log sum_i exp(x_i) = reference + log_sum (T = 1)
            const double log_mass_p = row.given_p ? f.reference_p + f.log_sum_p : 0.0;
            const double log_mass_q = row.given_q ? f.reference_q + f.log_sum_q : 0.0;
            f.mass_p = std::exp(log_mass_p);
            f.value = std::max(0.0, f.mass_p * (value + (log_mass_p - log_mass_q)));  // inf stays inf
        }
        return f;
    }

    /// Writes columns [begin, end) of the requested gradients (null: not requested), times `scale`.
    template <class P>
    void gradient(const Final& f, const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end,
                  simd::scalar_of<P>* grad_p, simd::scalar_of<P>* grad_q, double scale) const
    {
        using S = simd::scalar_of<P>;
        const double inv_tp = row.inverse_temperature_p, inv_tq = row.inverse_temperature_q;
        if (grad_p && f.normalized == std::numeric_limits<double>::infinity()) {
            // Support mismatch: as the reference path, +inf where p_i > 0 = q_i, 0 elsewhere.
            for (Index i = begin; i < end; ++i) {
                const bool p_positive = std::exp((double(row.p[i]) - f.reference_p) * inv_tp - f.log_sum_p) > 0.0;
                grad_p[i] = p_positive && row.q[i] == -std::numeric_limits<S>::infinity()
                                ? std::numeric_limits<S>::infinity()
                                : S(0);
            }
            grad_p = nullptr;
        }
        if (!grad_p && !grad_q) return;
        // Exponentials kept by accumulate() in the gradient rows are read back instead of recomputed.
        const bool kept_p = grad_p && grad_p == row.keep_p, kept_q = grad_q && grad_q == row.keep_q;
        using W = simd::wide_t<P>;
        constexpr int parts = simd::Wide<P>::parts;
        const P inv_tp_s = simd::broadcast<P>(S(inv_tp)), inv_tq_s = simd::broadcast<P>(S(inv_tq));
        const P factor_p = simd::broadcast<P>(S(scale * inv_tp)), factor_q = simd::broadcast<P>(S(scale * f.mass_p * inv_tq));
        const P zero = simd::broadcast<P>(S(0));
        // log p_i - log q_i - KL = z_p,i / T_p - z_q,i / T_q - offset, in double: in float the two
        // log-probabilities (up to 1e4 / T) would lose eps * 1e4 to rounding before they cancel.
        const W inv_tp_w = simd::broadcast<W>(inv_tp), minus_inv_tq_w = simd::broadcast<W>(-inv_tq);
        const W minus_offset = simd::broadcast<W>(
            -((f.reference_p * inv_tp + f.log_sum_p) - (f.reference_q * inv_tq + f.log_sum_q) + f.normalized));
        // p_i = e_p,i c_p with e_p,i = exp((z_p,i - ref_p) / T_p) exactly as accumulate() forms it
        // (ref_p: the running maximum of the chunk up to this block), whether read back or
        // recomputed, and c_p = exp((ref_p - reference_p) / T_p - log_sum_p) <= 1; likewise q.
        const auto block_factor = [](double running, double reference, double inv_t, double log_sum) {
            return running == -std::numeric_limits<double>::infinity()  // every e_i so far is 0
                       ? S(0)
                       : S(std::exp((running - reference) * inv_t - log_sum));
        };
        // The loop is compiled for the sides requested, and its step holds the block's constants by
        // value: captured by reference, they were reloaded from memory at every packet (a vector
        // store may alias them), which cost the student-gradient pass about a quarter of its time.
        const auto run = [&](auto with_p, auto with_q) {
            // accumulate() restarts its running maxima at every chunk; begin is a chunk boundary.
            for (Index chunk = begin; chunk < end; chunk += fused_chunk) {
                const Index chunk_end = std::min(end, chunk + fused_chunk);
                double running_p = -std::numeric_limits<double>::infinity(), running_q = running_p;
                for (Index block = chunk; block < chunk_end; block += fused_block) {
                    const Index n = std::min(fused_block, chunk_end - block);
                    running_p = std::max(running_p, double(block_max<P>(row.p + block, n)));
                    if (with_q) running_q = std::max(running_q, double(block_max<P>(row.q + block, n)));
                    const P ref_p = simd::broadcast<P>(S(finite_reference(running_p)));
                    const P ref_q = simd::broadcast<P>(S(finite_reference(running_q)));
                    const P c_p = simd::broadcast<P>(block_factor(running_p, f.reference_p, inv_tp, f.log_sum_p));
                    const P c_q = simd::broadcast<P>(block_factor(running_q, f.reference_q, inv_tq, f.log_sum_q));
                    const auto step = [=](Index i, Index count, const P& tp, const P& tq, P& gp, P& gq) {
                        const P ep = kept_p ? simd::load_upto<P>(grad_p + i, count, S(0)) : simd::exp(simd::mul(simd::sub(tp, ref_p), inv_tp_s));
                        const P p = simd::mul(ep, c_p);
                        if constexpr (with_q) {
                            const P eq = kept_q ? simd::load_upto<P>(grad_q + i, count, S(0)) : simd::exp(simd::mul(simd::sub(tq, ref_q), inv_tq_s));
                            gq = simd::mul(simd::sub(simd::mul(eq, c_q), p), factor_q);
                        }
                        if constexpr (with_p) {
                            W tp_w[parts], tq_w[parts], r_w[parts];
                            simd::Wide<P>::split(tp, tp_w);
                            simd::Wide<P>::split(tq, tq_w);
                            for (int k = 0; k < parts; ++k) {
                                r_w[k] = simd::madd(tp_w[k], inv_tp_w, simd::madd(tq_w[k], minus_inv_tq_w, minus_offset));
                            }
                            const P r = simd::Wide<P>::join(r_w);
                            // p_i (log p_i - log q_i - KL); 0 where p_i = 0 (r may be infinite or NaN there).
                            gp = simd::keep(simd::less(zero, p), simd::mul(simd::mul(p, r), factor_p));
                        }
                    };
                    for_each_gradient_packet_at<P>(row, block, block + n, with_p ? grad_p : nullptr, with_q ? grad_q : nullptr, step);
                }
            }
        };
        if (grad_p && grad_q) {
            run(std::true_type{}, std::true_type{});
        } else if (grad_p) {
            run(std::true_type{}, std::false_type{});
        } else {
            run(std::false_type{}, std::true_type{});
        }
    }
};

}  // namespace divergence::detail

#endif
