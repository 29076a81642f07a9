#ifndef DIVERGENCE_CORE_ELEMENT_HPP
#define DIVERGENCE_CORE_ELEMENT_HPP

// The vectorized engine of element kernels: a divergence that is a sum of per-element terms writes
// only its mathematics, once, for lanes of doubles (a scalar double or a SIMD packet of doubles):
//
//   static constexpr bool binary;
//   template <class V> V term(const ElementLanes<V>&) const;            the element's share of the sum
//   double finish(double sum) const;                                     the row's value from the sum
//   template <class V> PartialLanes<V> partials(double value, const ElementLanes<V>&) const;
//   static constexpr bool partials_use_value;   optional, default true: false lets the sums of the
//                                               partials ride along with the sum of the terms
//
// and ElementJob runs it on the executor for inputs in any form (probabilities, log-probabilities,
// logits at a temperature, any mix) and any layout: it reads the lanes of each input in the input's
// precision, widens them exactly to double lanes, takes log p or p = exp(log p) as the form needs
// (logits after a log-sum-exp pass), sums the terms in compensated double lanes, and writes the gradients in each input's own parametrization:
// probabilities d/dp, log-probabilities d/dlog p, logits (d/dlog p_j - p_j sum_i d/dlog p_i) / T
// (after a pass for that sum). Lanes past a row's end are given p = 0 (and q = 0): a kernel's term
// must be 0 there, as 0 log 0 = 0 makes it for every divergence.

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "divergence/core/executor.hpp"
#include "divergence/core/forms.hpp"
#include "divergence/core/kernel.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/options.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/core/sum.hpp"

// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

// The lambdas that the passes run on each packet are inlined into the loops: GCC otherwise calls
// them once per packet, which then spills the lanes and reloads every constant.
#if defined(__GNUC__)
#define DIVERGENCE_LAMBDA_INLINE __attribute__((always_inline))
#else
#define DIVERGENCE_LAMBDA_INLINE
#endif

namespace divergence::detail {

/// p, log p (and q, log q) of a few elements, in double lanes V.
template <class V>
struct ElementLanes {
    V p, log_p, q, log_q;
    /// Both inputs are log-probabilities: log p and log q are exact (given), p and q rounded exps of them.
    bool exact_logs = false;
};

/// dD/dp, dD/dlog p = p dD/dp (and the same for q) of a few elements, in double lanes V.
template <class V>
struct PartialLanes {
    V d_p, d_log_p, d_q, d_log_q;
};

/// Whether Kernel has the element contract (a term for packets of doubles).
template <class Kernel, class = void>
struct has_element_form : std::false_type {};
template <class Kernel>
struct has_element_form<Kernel, std::void_t<decltype(std::declval<const Kernel&>().template term<double>(
                                    std::declval<const ElementLanes<double>&>()))>> : std::true_type {};
template <class Kernel>
inline constexpr bool has_element_form_v = has_element_form<Kernel>::value;

/// Whether Kernel gives its term as two parts (term_parts: a pair of lanes whose sum is term) that
/// the job adds to the compensated sum one after the other, e.g. KL's p log(p/q) = q g(log(p/q)) + (p - q)
/// near p = q: the nearly cancelling p - q are then summed exactly instead of rounded into each term.
template <class Kernel, class = void>
struct has_term_parts : std::false_type {};
template <class Kernel>
struct has_term_parts<Kernel, std::void_t<decltype(std::declval<const Kernel&>().template term_parts<double>(
                                  std::declval<const ElementLanes<double>&>()))>> : std::true_type {};

/// An element's term with its partials dD/dlog p, dD/dlog q, in double lanes V.
template <class V>
struct TermLanes {
    V term, d_log_p, d_log_q;
};

/// Whether Kernel gives its term and its log partials in one call (term_and_partials, for kernels
/// whose partials do not use the value), so that the pass summing both computes their shared factors once.
template <class Kernel, class = void>
struct has_term_and_partials : std::false_type {};
template <class Kernel>
struct has_term_and_partials<Kernel, std::void_t<decltype(std::declval<const Kernel&>().template term_and_partials<double>(
                                         std::declval<const ElementLanes<double>&>()))>> : std::true_type {};

/// Whether a kernel's term and log partials read only log p and log q (Kernel::log_domain, default
/// false): then the job leaves p = exp(log p) uncomputed (NaN) where nothing else needs it; p and q still
/// enter d/dp, d/dq, which are read only for probabilities, where p and q are the input itself.
template <class Kernel, class = void>
struct log_domain : std::false_type {};
template <class Kernel>
struct log_domain<Kernel, std::void_t<decltype(Kernel::log_domain)>> : std::bool_constant<Kernel::log_domain> {};

/// Whether a kernel's partials depend on the row's value (Kernel::partials_use_value, default true).
template <class Kernel, class = void>
struct partials_use_value : std::true_type {};
template <class Kernel>
struct partials_use_value<Kernel, std::void_t<decltype(Kernel::partials_use_value)>>
    : std::bool_constant<Kernel::partials_use_value> {};

/// 0 where the mask is set, x elsewhere: the 0 log 0 = 0 convention on lanes (x may be NaN there).
template <class V>
DIVERGENCE_SIMD_INLINE V zero_where(const V& mask, const V& x)
{
    return simd::select(mask, simd::broadcast<V>(0.0), x);
}

/// Neumaier's compensated sum in each lane of V: the error of a lane's sum stays O(eps) however
/// many terms it takes. An infinite term makes the lane infinite (no compensation then, no NaN).
template <class V>
struct CompensatedLanes {
    V sum = simd::broadcast<V>(0.0), compensation = simd::broadcast<V>(0.0);

    DIVERGENCE_SIMD_INLINE void add(const V& x)
    {
        const V t = simd::add(sum, x);
        const V zero = simd::broadcast<V>(0.0);
        const V bigger = simd::less(simd::max(x, simd::sub(zero, x)), simd::max(sum, simd::sub(zero, sum)));  // |x| < |sum|
        const V lost = simd::select(bigger, simd::add(simd::sub(sum, t), x), simd::add(simd::sub(x, t), sum));
        compensation = simd::add(compensation, simd::keep(simd::equal(simd::sub(t, t), zero), lost));  // only where t is finite
        sum = t;
    }
    /// Adds the lanes, in lane order, into `total`: each lane's sum and then its compensation (a lane's
    /// sum may be far larger than the row's when the terms cancel across lanes, so s + c rounded first
    /// would lose eps |s|).
    void add_to(CompensatedSum& total) const
    {
        constexpr int width = simd::lanes<V>;
        alignas(64) double s[width], c[width];
        simd::store(s, sum);
        simd::store(c, compensation);
        for (int i = 0; i < width; ++i) {
            total.add(s[i]);
            if (std::isfinite(s[i])) total.add(c[i]);
        }
    }
};

/// One input of an element job: its rows, form and, for logits, the inverse temperature.
template <class Scalar>
struct ElementInput {
    MatrixView<const Scalar> rows;
    Form form;
    double inverse_temperature;
};

template <class Kernel, class Scalar>
struct ElementJob {
    using P = simd::Packet<Scalar>;
    using W = simd::Packet<double>;
    static constexpr bool binary = Kernel::binary;

    Kernel kernel;
    ElementInput<Scalar> p, q;  ///< q unused when unary
    const MatrixView<Scalar>* grad_p;
    const MatrixView<Scalar>* grad_q;
    const RowSelection& selection;
    double scale;
    double* values;

    /// log p_i = (z_i - reference) t - log_norm for logits; 0, 0 otherwise.
    struct Normalizer {
        double reference = 0.0, log_norm = 0.0;
    };
    struct Row {
        Index index = 0;
        Normalizer np, nq;
        double value = 0.0;
        double total_p = 0.0, total_q = 0.0;  ///< sum_i dD/dlog p_i (logits gradients only)
    };
    struct Normalizers {
        LogSumExp p, q;
    };
    struct Totals {
        CompensatedSum p, q;
    };
    /// The sum of the terms, and the sums of the logit partials when they ride along (pass 1).
    struct Sums {
        CompensatedSum value;
        Totals totals;
    };
    static constexpr bool early_totals = !partials_use_value<Kernel>::value;
    static constexpr bool masses = !log_domain<Kernel>::value;  ///< whether the kernel reads p, q
    static constexpr int passes = 3;  // normalizers, the sum of terms, the logit gradients' sums

    bool keeps(Index r) const { return selection.keeps(r); }
    void skip(Index r) const
    {
        if (grad_p) zero_row(*grad_p, r);
        if (grad_q) zero_row(*grad_q, r);
    }
    Row row(Index r) const
    {
        Row row;
        row.index = r;
        return row;
    }

    // ---- reading lanes -------------------------------------------------------------------------

    /// The value that makes a padding lane p = 0 in x's form.
    static Scalar zero_mass(const ElementInput<Scalar>& x)
    {
        return x.form == Form::probs ? Scalar(0) : -std::numeric_limits<Scalar>::infinity();
    }
    /// (p, log p) lanes of input lanes v of x, whose form is `form` (a constant: the loops are
    /// compiled per form, see for_each_lanes); p is left NaN without `mass` unless it is the input.
    template <Form form, bool mass = true>
    static DIVERGENCE_SIMD_INLINE void lanes_of(const ElementInput<Scalar>& x, const Normalizer& n, const W& v, W& prob, W& log_prob)
    {
        switch (form) {
        case Form::probs: {
            // log 0 = -inf; a subnormal p is scaled by 2^54 first (simd::log is exact on normal numbers).
            prob = v;
            const W tiny = simd::less(v, simd::broadcast<W>(std::numeric_limits<double>::min()));
            const W normal = simd::select(tiny, simd::mul(v, simd::broadcast<W>(0x1p54)), v);
            log_prob = simd::sub(simd::log(normal), simd::keep(tiny, simd::broadcast<W>(54.0 * 0.69314718055994530942)));
            break;
        }
        case Form::log_probs:
            log_prob = v;
            prob = mass ? simd::exp(v) : simd::broadcast<W>(std::numeric_limits<double>::quiet_NaN());
            break;
        case Form::logits: {
            // (z - reference) t, or z t - reference t where z - reference overflows (|z| > ~9e307).
            const W t = simd::broadcast<W>(x.inverse_temperature);
            const W d = simd::sub(v, simd::broadcast<W>(n.reference));
            const W shifted = simd::mul(d, t);
            const W far = simd::sub(simd::mul(v, t), simd::broadcast<W>(n.reference * x.inverse_temperature));
            const W overflowed = simd::less(simd::broadcast<W>(std::numeric_limits<double>::max()),
                                            simd::max(d, simd::sub(simd::broadcast<W>(0.0), d)));
            log_prob = simd::sub(simd::select(overflowed, far, shifted), simd::broadcast<W>(n.log_norm));
            prob = mass ? simd::exp(log_prob) : simd::broadcast<W>(std::numeric_limits<double>::quiet_NaN());
            break;
        }
        }
    }
    /// Calls f(column, count, lanes) for the elements of columns [begin, end) of row r, count <= the
    /// lanes of W (padding lanes have p = q = 0); p (q) computed from log p only with mass_p (mass_q).
    /// f may take the two forms as further arguments (std::integral_constant<Form, ...>).
    template <bool mass_p = true, bool mass_q = true, class F>
    void for_each_lanes(const Row& row, Index begin, Index end, const F& f) const
    {
        const auto with_q = [&](auto form_p) {
            if constexpr (binary) {
                switch (q.form) {
                case Form::probs: return lanes_loop<form_p(), Form::probs, mass_p, mass_q>(row, begin, end, f);
                case Form::log_probs: return lanes_loop<form_p(), Form::log_probs, mass_p, mass_q>(row, begin, end, f);
                case Form::logits: return lanes_loop<form_p(), Form::logits, mass_p, mass_q>(row, begin, end, f);
                }
            } else {
                lanes_loop<form_p(), form_p(), mass_p, mass_p>(row, begin, end, f);
            }
        };
        switch (p.form) {
        case Form::probs: return with_q(std::integral_constant<Form, Form::probs>{});
        case Form::log_probs: return with_q(std::integral_constant<Form, Form::log_probs>{});
        case Form::logits: return with_q(std::integral_constant<Form, Form::logits>{});
        }
    }
    template <Form form_p, Form form_q, bool mass_p, bool mass_q, class F>
    void lanes_loop(const Row& row, Index begin, Index end, const F& f) const
    {
        constexpr Index width = simd::lanes<P>;
        constexpr int parts = simd::Wide<P>::parts;
        constexpr Index part_width = width / parts;
        alignas(64) Scalar buffer_p[fused_block], buffer_q[fused_block];
        for (Index b = begin; b < end; b += fused_block) {
            const Index n = std::min(fused_block, end - b);
            const Scalar* xp = row_block(p.rows, row.index, b, n, buffer_p);
            const Scalar* xq = binary ? row_block(q.rows, row.index, b, n, buffer_q) : xp;
            for (Index i = 0; i < n; i += width) {
                const Index count = std::min(width, n - i);
                W vp[parts], vq[parts];
                simd::Wide<P>::split(simd::load_upto<P>(xp + i, count, zero_mass(p)), vp);
                if constexpr (binary) simd::Wide<P>::split(simd::load_upto<P>(xq + i, count, zero_mass(q)), vq);
                for (int k = 0; k < parts && k * part_width < count; ++k) {
                    ElementLanes<W> e;
                    e.exact_logs = form_p == Form::log_probs && form_q == Form::log_probs;
                    lanes_of<form_p, mass_p>(p, row.np, vp[k], e.p, e.log_p);
                    if constexpr (binary) {
                        lanes_of<form_q, mass_q>(q, row.nq, vq[k], e.q, e.log_q);
                    } else {
                        e.q = e.p;
                        e.log_q = e.log_p;
                    }
                    const Index column = b + i + k * part_width, lanes = std::min(part_width, count - k * part_width);
                    using FormP = std::integral_constant<Form, form_p>;
                    using FormQ = std::integral_constant<Form, form_q>;
                    if constexpr (std::is_invocable_v<const F&, Index, Index, const ElementLanes<W>&, FormP, FormQ>) {
                        f(column, lanes, e, FormP{}, FormQ{});
                    } else {
                        f(column, lanes, e);
                    }
                }
            }
        }
    }

    // ---- the passes ----------------------------------------------------------------------------

    template <int K>
    auto start(Pass<K>, const Row&) const
    {
        if constexpr (K == 0) return Normalizers{};
        if constexpr (K == 1) return Sums{};
        if constexpr (K == 2) return Totals{};
    }
    void accumulate(Pass<0>, Normalizers& n, const Row& row, Index begin, Index end) const
    {
        const auto add = [&](const ElementInput<Scalar>& x, LogSumExp& lse) {
            if (x.form == Form::logits) accumulate_row_logsumexp(lse, x.rows, row.index, begin, end, x.inverse_temperature);
        };
        add(p, n.p);
        if constexpr (binary) add(q, n.q);
    }
    void merge(Pass<0>, Normalizers& into, const Normalizers& next, const Row&) const
    {
        into.p.merge(next.p, p.inverse_temperature);
        into.q.merge(next.q, q.inverse_temperature);
    }
    void finish(Pass<0>, Row& row, const Normalizers& n) const
    {
        if (p.form == Form::logits) row.np = {n.p.reference(), n.p.log_sum()};
        if (binary && q.form == Form::logits) row.nq = {n.q.reference(), n.q.log_sum()};
    }

    /// Adds an element's term (or its two parts) to the lanes of the row's sum.
    DIVERGENCE_SIMD_INLINE void add_term(CompensatedLanes<W>& lanes, const ElementLanes<W>& e) const
    {
        if constexpr (has_term_parts<Kernel>::value) {
            const auto parts = kernel.template term_parts<W>(e);
            lanes.add(parts.first);
            lanes.add(parts.second);
        } else {
            lanes.add(kernel.template term<W>(e));
        }
    }
    void accumulate(Pass<1>, Sums& sums, const Row& row, Index begin, Index end) const
    {
        if constexpr (early_totals) {
            if (wants_totals()) {
                // Only the sums a logit gradient reads (the other stays 0).
                const bool sum_p = logit_gradient(p, grad_p), sum_q = binary && logit_gradient(q, grad_q);
                CompensatedLanes<W> lanes, lanes_p, lanes_q;
                for_each_lanes<masses, masses>(row, begin, end, [&](Index, Index, const ElementLanes<W>& e) DIVERGENCE_LAMBDA_INLINE {
                    if constexpr (has_term_and_partials<Kernel>::value) {
                        const TermLanes<W> t = kernel.template term_and_partials<W>(e);
                        lanes.add(t.term);
                        if (sum_p) lanes_p.add(t.d_log_p);
                        if (binary && sum_q) lanes_q.add(t.d_log_q);
                    } else {
                        add_term(lanes, e);
                        const PartialLanes<W> d = kernel.template partials<W>(0.0, e);
                        if (sum_p) lanes_p.add(d.d_log_p);
                        if constexpr (binary) {
                            if (sum_q) lanes_q.add(d.d_log_q);
                        }
                    }
                });
                lanes.add_to(sums.value);
                lanes_p.add_to(sums.totals.p);
                lanes_q.add_to(sums.totals.q);
                return;
            }
        }
        CompensatedLanes<W> lanes;
        for_each_lanes<masses, masses>(row, begin, end,
                                       [&](Index, Index, const ElementLanes<W>& e) DIVERGENCE_LAMBDA_INLINE { add_term(lanes, e); });
        lanes.add_to(sums.value);
    }
    void merge(Pass<1>, Sums& into, const Sums& next, const Row&) const
    {
        into.value.merge(next.value);
        into.totals.p.merge(next.totals.p);
        into.totals.q.merge(next.totals.q);
    }
    void finish(Pass<1>, Row& row, const Sums& sums) const
    {
        row.value = kernel.finish(sums.value.value());
        values[row.index] = row.value;
        if constexpr (early_totals) set_totals(row, sums.totals);
    }

    bool logit_gradient(const ElementInput<Scalar>& x, const MatrixView<Scalar>* g) const { return g && x.form == Form::logits; }
    bool wants_totals() const { return logit_gradient(p, grad_p) || (binary && logit_gradient(q, grad_q)); }
    void accumulate(Pass<2>, Totals& totals, const Row& row, Index begin, Index end) const
    {
        if (early_totals || !wants_totals()) return;
        CompensatedLanes<W> lanes_p, lanes_q;
        for_each_lanes<masses, masses>(row, begin, end, [&](Index, Index, const ElementLanes<W>& e) DIVERGENCE_LAMBDA_INLINE {
            const PartialLanes<W> d = kernel.template partials<W>(row.value, e);
            lanes_p.add(d.d_log_p);
            if constexpr (binary) lanes_q.add(d.d_log_q);
        });
        lanes_p.add_to(totals.p);
        lanes_q.add_to(totals.q);
    }
    void merge(Pass<2>, Totals& into, const Totals& next, const Row&) const
    {
        into.p.merge(next.p);
        into.q.merge(next.q);
    }
    void finish(Pass<2>, Row& row, const Totals& totals) const
    {
        if constexpr (!early_totals) set_totals(row, totals);  // else pass 1 set them
    }
    static void set_totals(Row& row, const Totals& totals)
    {
        row.total_p = totals.p.value();
        row.total_q = totals.q.value();
    }

    bool writes() const { return grad_p || grad_q; }
    /// The gradient of one input from its partials, in its form (see the header comment). Where the
    /// sum of the logit partials is infinite (an infinite value), infinite entries are kept and the
    /// others are 0 (no NaN).
    /// x's form is `form` (a constant: a partial that form does not read is dead code).
    template <Form form>
    static W gradient(const ElementInput<Scalar>& x, const W& prob, const W& d_p, const W& d_log_p, double total, double factor)
    {
        if constexpr (form == Form::probs) return simd::mul(simd::broadcast<W>(factor), d_p);
        if constexpr (form == Form::log_probs) return simd::mul(simd::broadcast<W>(factor), d_log_p);
        const W f = simd::broadcast<W>(factor * x.inverse_temperature);
        if (std::isfinite(total)) {
            const W projected = simd::sub(d_log_p, zero_where(simd::equal(prob, simd::broadcast<W>(0.0)),
                                                              simd::mul(prob, simd::broadcast<W>(total))));
            return simd::mul(f, projected);
        }
        const W infinite = simd::equal(simd::max(d_log_p, simd::sub(simd::broadcast<W>(0.0), d_log_p)),
                                       simd::broadcast<W>(infinity));
        return simd::mul(f, simd::keep(infinite, d_log_p));
    }
    void write(const Row& row, Index begin, Index end) const
    {
        const Index r = row.index;
        const double factor = scale * selection.weight(r);
        if (factor == 0.0) {  // a zero weight zeroes the row's gradient (an infinite one would give NaN)
            for (Index c = begin; c < end; ++c) {
                if (grad_p) (*grad_p)(r, c) = Scalar(0);
                if (grad_q) (*grad_q)(r, c) = Scalar(0);
            }
            return;
        }
        if constexpr (masses) {
            // One loop; the wanted gradients are runtime flags.
            for_each_lanes(row, begin, end, [&](Index column, Index count, const ElementLanes<W>& e, auto form_p, auto form_q) DIVERGENCE_LAMBDA_INLINE {
                const PartialLanes<W> d = kernel.template partials<W>(row.value, e);
                if (grad_p) store(*grad_p, r, column, count, gradient<form_p()>(p, e.p, d.d_p, d.d_log_p, row.total_p, factor));
                if constexpr (binary) {
                    if (grad_q) store(*grad_q, r, column, count, gradient<form_q()>(q, e.q, d.d_q, d.d_log_q, row.total_q, factor));
                }
            });
        } else {
            // A log-domain kernel: one loop per set of wanted gradients, so that p = exp(log p) is
            // computed only where a logit gradient's projection reads it.
            const auto loop = [&](auto want_p, auto want_q) {
                const auto each = [&](Index column, Index count, const ElementLanes<W>& e, auto form_p, auto form_q) DIVERGENCE_LAMBDA_INLINE {
                    const PartialLanes<W> d = kernel.template partials<W>(row.value, e);
                    if constexpr (want_p()) {
                        store(*grad_p, r, column, count, gradient<form_p()>(p, e.p, d.d_p, d.d_log_p, row.total_p, factor));
                    }
                    if constexpr (binary && want_q()) {
                        store(*grad_q, r, column, count, gradient<form_q()>(q, e.q, d.d_q, d.d_log_q, row.total_q, factor));
                    }
                };
                for_each_lanes<want_p(), want_q()>(row, begin, end, each);
            };
            using yes = std::true_type;
            using no = std::false_type;
            if (grad_p && binary && grad_q) return loop(yes{}, yes{});
            if (grad_p) return loop(yes{}, no{});
            if (binary && grad_q) loop(no{}, yes{});
        }
    }
    /// Writes the first `count` lanes of g at (r, column...) of `out`, rounded to Scalar.
    static void store(const MatrixView<Scalar>& out, Index r, Index column, Index count, const W& g)
    {
        constexpr Index width = simd::lanes<W>;
        alignas(64) double lanes[width];
        simd::store(lanes, g);
        if (out.contiguous_rows() && count == width) {
            Scalar* to = out.row(r) + column;
            for (Index i = 0; i < width; ++i) to[i] = Scalar(lanes[i]);  // a constant count: vectorized
            return;
        }
        for (Index i = 0; i < count; ++i) out(r, column + i) = Scalar(lanes[i]);
    }
};

}  // namespace divergence::detail

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
