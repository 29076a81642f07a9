#ifndef DIVERGENCE_DETAIL_FUSED_JS_HPP
#define DIVERGENCE_DETAIL_FUSED_JS_HPP

// Fused row kernel of the generalized Jensen-Shannon divergence JSD_beta(P, Q) from two rows of
// logits (discrete/jensen_shannon.hpp). The driver computes both log-sum-exps first
// (needs_normalizers); then per element, with lp_i = (z_p,i - max_p) / T_p - log_sum_p (likewise
// lq_i) and d_i = lp_i - lq_i:
//   u_i = log beta - log(1 - beta) + d_i,  s_i = log1p(exp(-|u_i|))   (logaddexp by the max trick)
//   a_i = log(p_i / m_i) = min(d_i - log(1 - beta), -log beta) - s_i   (the branch of the sign of u_i)
//   b_i = log(q_i / m_i) = min(-log beta - d_i, -log(1 - beta)) - s_i
//   JSD_beta = beta sum p_i a_i + (1 - beta) sum q_i b_i
// so an element of the value pass costs exp(lp), exp(lq), exp(-|u|) and one log1p on [0, 1]
// (simd::log1p_unit: a short polynomial, no exponent split). The two sums are the state (no
// rescaling: the normalizers are known); they are also the sums the logit gradients need:
//   d/dz_p,i = (beta p_i a_i - p_i S_p) / T_p,  S_p = beta sum p_j a_j
//   d/dz_q,i = ((1 - beta) q_i b_i - q_i S_q) / T_q,  S_q = (1 - beta) sum q_j b_j
// The value pass keeps the products p_i a_i (q_i b_i) in the gradient rows when the driver hands
// them over (FusedRow::keep_p / keep_q), so the gradient pass needs one exp per element and side;
// otherwise it recomputes them, with the same bits. Precision: d_i in double lanes from the logits
// (max subtracted first: exact for float logits of +-1e4 up to double rounding), rounded once to
// the input precision; lp_i, lq_i, the exps, log1p and products in the input precision (the
// rounding of lp_i perturbs p_i relatively by about eps |lp_i|, which multiplies terms that are
// small where it is large); the sums in double lanes. Elements where p_i = 0 (q_i = 0) contribute
// 0 to the p (q) sums and gradients, also where a_i (b_i) is -inf or NaN (both logits -inf).
// Degenerate beta (0 or 1): value and gradients exactly 0, as the reference kernel.

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "divergence/core/simd.hpp"
#include "divergence/detail/fused_row.hpp"

namespace divergence::detail {

struct FusedJs {
    static constexpr bool needs_normalizers = true;
    /// Log-probabilities as given beside logits (core/rows.hpp): their normalizer is 0 and every term
    /// above is per element, so the sums are those of the numbers as given.
    static constexpr bool takes_log_probs = true;

    double beta = 0.5;
    double log_beta = std::log(0.5);
    double log_one_minus_beta = std::log(0.5);

    explicit FusedJs(double beta_) : beta(beta_), log_beta(std::log(beta_)), log_one_minus_beta(std::log1p(-beta_)) {}

    struct State {
        double sum_pa = 0.0;  ///< sum p_i a_i
        double sum_qb = 0.0;  ///< sum q_i b_i
    };
    struct Final {
        double value;
        double s_p;  ///< beta sum p_j a_j
        double s_q;  ///< (1 - beta) sum q_j b_j
    };

    bool degenerate() const { return beta == 0.0 || beta == 1.0; }

    /// The per-row constants of element(), broadcast once per pass.
    template <class P>
    struct Constants {
        using W = simd::wide_t<P>;
        W max_p_w, max_q_w, inv_tp_w, minus_inv_tq_w, delta_w;
        P max_p, max_q, inv_tp, inv_tq, minus_ls_p, minus_ls_q;
        P c, minus_c, minus_lb, minus_l1b;
        P fix_p, fix_q;  ///< exp(-log_sum - (-log_sum rounded to S)): 1 up to the rounding of the normalizer
    };

    template <class P>
    Constants<P> constants(const FusedRow<simd::scalar_of<P>>& row) const
    {
        using S = simd::scalar_of<P>;
        using W = simd::wide_t<P>;
        Constants<P> k;
        k.max_p_w = simd::broadcast<W>(row.max_p);
        k.max_q_w = simd::broadcast<W>(row.max_q);
        k.inv_tp_w = simd::broadcast<W>(row.inverse_temperature_p);
        k.minus_inv_tq_w = simd::broadcast<W>(-row.inverse_temperature_q);
        k.delta_w = simd::broadcast<W>(row.log_sum_q - row.log_sum_p);
        k.max_p = simd::broadcast<P>(S(row.max_p));
        k.max_q = simd::broadcast<P>(S(row.max_q));
        k.inv_tp = simd::broadcast<P>(S(row.inverse_temperature_p));
        k.inv_tq = simd::broadcast<P>(S(row.inverse_temperature_q));
        // The normalizer rounded to S would scale every p_i by the same factor (up to 1 +- eps
        // log_sum / 2, a bias of the sums rather than noise): fix_p undoes it, to S's rounding.
        k.minus_ls_p = simd::broadcast<P>(S(-row.log_sum_p));
        k.minus_ls_q = simd::broadcast<P>(S(-row.log_sum_q));
        k.fix_p = simd::broadcast<P>(S(std::exp(-normalizer_remainder<S>(row.log_sum_p))));
        k.fix_q = simd::broadcast<P>(S(std::exp(-normalizer_remainder<S>(row.log_sum_q))));
        k.c = simd::broadcast<P>(S(log_beta - log_one_minus_beta));
        k.minus_c = simd::broadcast<P>(S(log_one_minus_beta - log_beta));
        k.minus_lb = simd::broadcast<P>(S(-log_beta));
        k.minus_l1b = simd::broadcast<P>(S(-log_one_minus_beta));
        return k;
    }

    /// p_i, a_i = log(p_i / m_i) (with_p) and q_i, b_i = log(q_i / m_i) (with_q) for the lanes of
    /// (tp, tq), in the packets' precision; d_i = log p_i - log q_i is formed in double lanes (from
    /// the logits, max subtracted first), p_i and q_i from log p_i, log q_i in the packets' precision.
    /// What is computed does not depend on with_p / with_q (the same bits either way).
    template <bool with_p, bool with_q, class P>
    static void element(const Constants<P>& k, const P& tp, const P& tq, P& p, P& q, P& a, P& b)
    {
        using W = simd::wide_t<P>;
        constexpr int parts = simd::Wide<P>::parts;
        W tp_w[parts], tq_w[parts], d_w[parts];
        simd::Wide<P>::split(tp, tp_w);
        simd::Wide<P>::split(tq, tq_w);
        for (int j = 0; j < parts; ++j) {
            // (z - max) first: exact-ish for logits of +-1e300 too, where z / T - max / T would cancel.
            const W xq = simd::madd(simd::sub(tq_w[j], k.max_q_w), k.minus_inv_tq_w, k.delta_w);
            d_w[j] = simd::madd(simd::sub(tp_w[j], k.max_p_w), k.inv_tp_w, xq);
        }
        const P d = simd::Wide<P>::join(d_w);
        // u = d + log beta - log(1 - beta); s = log1p(exp(-|u|)), exp(-|u|) in [0, 1].
        const P minus_abs_u = simd::min(simd::add(d, k.c), simd::sub(k.minus_c, d));
        const P s = simd::log1p_unit(simd::exp(minus_abs_u));
        // log p_i in the packets' precision: its rounding only perturbs p_i relatively (by about
        // eps |log p_i|), which the sums and gradients tolerate; d_i above carries the cancellation.
        // a = (u < 0 ? d - log(1 - beta) : -log beta) - s, b = (u < 0 ? -log(1 - beta) : -log beta - d) - s:
        // the smaller of the two branches is the one selected by the sign of u.
        if constexpr (with_p) {
            p = mass_p(k, tp);
            a = simd::sub(simd::min(simd::add(d, k.minus_l1b), k.minus_lb), s);
        }
        if constexpr (with_q) {
            q = mass_q(k, tq);
            b = simd::sub(simd::min(simd::sub(k.minus_lb, d), k.minus_l1b), s);
        }
    }

    /// p_i a_i and q_i b_i (those asked for), 0 where the mass is 0 (a_i or b_i may be -inf or
    /// NaN there): the terms of the two sums, the same bits in accumulate() and gradient().
    template <bool with_p, bool with_q, class P>
    static void products(const Constants<P>& k, const P& tp, const P& tq, P& pa, P& qb)
    {
        const P zero = simd::broadcast<P>(simd::scalar_of<P>(0));
        P p, q, a, b;
        element<with_p, with_q>(k, tp, tq, p, q, a, b);
        if constexpr (with_p) pa = simd::keep(simd::less(zero, p), simd::mul(p, a));
        if constexpr (with_q) qb = simd::keep(simd::less(zero, q), simd::mul(q, b));
    }

    /// p_i = exp(log p_i) exactly as element() forms it (log p_i in the packets' precision).
    template <class P>
    static P mass_p(const Constants<P>& k, const P& tp)
    {
        const P p = simd::exp(simd::madd(simd::sub(tp, k.max_p), k.inv_tp, k.minus_ls_p));
        if constexpr (std::is_same_v<simd::scalar_of<P>, double>) {
            return p;  // the normalizer is not rounded
        } else {
            return simd::mul(p, k.fix_p);
        }
    }
    template <class P>
    static P mass_q(const Constants<P>& k, const P& tq)
    {
        const P q = simd::exp(simd::madd(simd::sub(tq, k.max_q), k.inv_tq, k.minus_ls_q));
        if constexpr (std::is_same_v<simd::scalar_of<P>, double>) {
            return q;
        } else {
            return simd::mul(q, k.fix_q);
        }
    }

    template <class Scalar>
    void merge(State& into, const State& other, const FusedRow<Scalar>&) const
    {
        into.sum_pa += other.sum_pa;
        into.sum_qb += other.sum_qb;
    }

    /// Accumulates columns [begin, end) of the row into `state`, with packets P. The products
    /// p_i a_i (q_i b_i) it sums are also kept in row.keep_p (row.keep_q) when set, for gradient().
    template <class P>
    DIVERGENCE_SIMD_FLATTEN void accumulate(State& state, const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end) const
    {
        if (degenerate()) return;
        using S = simd::scalar_of<P>;
        using W = simd::wide_t<P>;
        constexpr int parts = simd::Wide<P>::parts;
        constexpr Index width = simd::lanes<P>;
        W sum_pa[parts], sum_qb[parts];
        for (int j = 0; j < parts; ++j) {
            sum_pa[j] = simd::broadcast<W>(0.0);
            sum_qb[j] = simd::broadcast<W>(0.0);
        }
        const Constants<P> k = constants<P>(row);
        S* const keep_p = row.keep_p;
        S* const keep_q = row.keep_q;
        const auto step = [&](Index at, Index count, const P& tp, const P& tq, const P* lane_mask) {
            P pa, qb;
            products<true, true>(k, tp, tq, pa, qb);
            if (lane_mask) {  // 0 outside the slice
                pa = simd::keep(*lane_mask, pa);
                qb = simd::keep(*lane_mask, qb);
            }
            if (count == width) {
                if (keep_p) simd::store(keep_p + at, pa);
                if (keep_q) simd::store(keep_q + at, qb);
            } else {
                if (keep_p) simd::store_partial(keep_p + at, pa, count);
                if (keep_q) simd::store_partial(keep_q + at, qb, count);
            }
            W pa_w[parts], qb_w[parts];
            simd::Wide<P>::split(pa, pa_w);
            simd::Wide<P>::split(qb, qb_w);
            for (int j = 0; j < parts; ++j) {
                sum_pa[j] = simd::add(sum_pa[j], pa_w[j]);
                sum_qb[j] = simd::add(sum_qb[j], qb_w[j]);
            }
        };
        const NextRowPrefetch<S> prefetch(row);
        Index i = begin;
        for (; i + width <= end; i += width) {
            prefetch(i);
            step(i, width, simd::load<P>(row.p + i), simd::load<P>(row.q + i), nullptr);
        }
        if (i < end) {
            const P mask = simd::first_lanes<P>(end - i);
            step(i, end - i, simd::load_partial<P>(row.p + i, end - i, S(0)), simd::load_partial<P>(row.q + i, end - i, S(0)),
                 &mask);
        }
        for (int j = 0; j < parts; ++j) {
            state.sum_pa += double(simd::reduce_add(sum_pa[j]));
            state.sum_qb += double(simd::reduce_add(sum_qb[j]));
        }
    }

    template <class Scalar>
    Final finish(const State& s, const FusedRow<Scalar>&) const
    {
        if (degenerate()) return {0.0, 0.0, 0.0};
        Final f;
        f.s_p = beta * s.sum_pa;
        f.s_q = (1.0 - beta) * s.sum_qb;
        f.value = std::max(0.0, f.s_p + f.s_q);  // >= 0 (Gibbs): clamp rounding
        return f;
    }

    /// Writes columns [begin, end) of the requested gradients (null: not requested), times `scale`.
    template <class P>
    DIVERGENCE_SIMD_FLATTEN void gradient(const Final& f, const FusedRow<simd::scalar_of<P>>& row, Index begin, Index end,
                  simd::scalar_of<P>* grad_p, simd::scalar_of<P>* grad_q, double scale) const
    {
        using S = simd::scalar_of<P>;
        if (degenerate()) {
            for (Index i = begin; i < end; ++i) {
                if (grad_p) grad_p[i] = S(0);
                if (grad_q) grad_q[i] = S(0);
            }
            return;
        }
        // p_i (beta a_i - S_p) / T_p = (beta / T_p) (p_i a_i) - (S_p / T_p) p_i, likewise for q, with
        // p_i a_i read back from the gradient row when accumulate() kept it there (else recomputed:
        // the same bits), so that the pass costs one exp per element and gradient.
        const double factor_p = scale * row.inverse_temperature_p, factor_q = scale * row.inverse_temperature_q;
        const P slope_p = simd::broadcast<P>(S(beta * factor_p)), offset_p = simd::broadcast<P>(S(-f.s_p * factor_p));
        const P slope_q = simd::broadcast<P>(S((1.0 - beta) * factor_q)), offset_q = simd::broadcast<P>(S(-f.s_q * factor_q));
        const bool kept = (!grad_p || grad_p == row.keep_p) && (!grad_q || grad_q == row.keep_q);
        const Constants<P> k = constants<P>(row);
        const auto run = [&](auto with_p, auto with_q, auto read_back) {
            constexpr bool wp = decltype(with_p)::value, wq = decltype(with_q)::value;
            const auto step = [&](Index i, Index count, const P& tp, const P& tq, P& gp, P& gq) {
                P pa, qb;
                if constexpr (decltype(read_back)::value) {
                    if constexpr (wp) pa = simd::load_upto<P>(grad_p + i, count, S(0));
                    if constexpr (wq) qb = simd::load_upto<P>(grad_q + i, count, S(0));
                } else {
                    products<wp, wq>(k, tp, tq, pa, qb);
                }
                if constexpr (wp) gp = simd::madd(pa, slope_p, simd::mul(mass_p(k, tp), offset_p));
                if constexpr (wq) gq = simd::madd(qb, slope_q, simd::mul(mass_q(k, tq), offset_q));
            };
            for_each_gradient_packet_at<P>(row, begin, end, grad_p, grad_q, step);
        };
        const auto both = [&](auto read_back) {
            if (grad_p && grad_q) {
                run(std::true_type{}, std::true_type{}, read_back);
            } else if (grad_p) {
                run(std::true_type{}, std::false_type{}, read_back);
            } else if (grad_q) {
                run(std::false_type{}, std::true_type{}, read_back);
            }
        };
        if (kept) {
            both(std::true_type{});
        } else {
            both(std::false_type{});
        }
    }
};

}  // namespace divergence::detail

#endif
