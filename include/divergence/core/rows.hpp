#ifndef DIVERGENCE_CORE_ROWS_HPP
#define DIVERGENCE_CORE_ROWS_HPP

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "divergence/core/element.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/forms.hpp"
#include "divergence/core/kernel.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/options.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/core/validate.hpp"

// The driver of divergences over rows: `evaluate` owns forms, validation, masks and weights,
// reductions and the chain rule to the input's form, and runs a row kernel on the executor
// (core/executor.hpp) as one of two jobs.
//
// A row kernel is a small struct:
//   static constexpr bool binary;             // two arguments (p, q) or one (p)
//   struct State;                             // partial sums over a row
//   void add(State&, const Element&) const;   // accumulate one element
//   Final finish(const State&) const;         // Final has `double value` (+ what partials need)
//   Partials partials(const Final&, const Element&) const;
// Element and Partials are in double (core/kernel.hpp); kernels never see forms, masks or strides.
// ReferenceJob runs it element by element, a whole row per task.
//
// The fast path: a binary kernel MAY also provide
//   auto fused() const;                       // returns a fused row kernel (detail/fused_*.hpp)
// which the driver uses instead of add/finish/partials when both inputs are logits (the kernel's
// result is the same), as FusedJob. Contiguous rows (row-major matrices or vectors, and gradients
// likewise) are read and written in place; other layouts go through row-major scratch tiles
// (StagingTiles). `Swapped<K>` (reverse divergences) inherits K's fused kernel with the arguments
// exchanged. A fused kernel that declares `takes_log_probs` also runs when one input is logits and
// the other log-probabilities whose gradient is not asked (teacher log-probabilities from a server;
// probabilities are staged as their logs): that row is read as logits at temperature 1 with
// FusedRow::given_* set, and the kernel accounts for its mass as given (a kernel that needs
// normalizers gets 0 for that row's: log p_i = x_i).
// The fused kernel concept:
//   static constexpr bool needs_normalizers;  // true: the executor first computes log-sum-exps
//   struct State;                              // mergeable partial state over a slice of a row
//   struct Final;                              // has `double value`
//   template <class P> void accumulate(State&, const FusedRow<S>&, Index begin, Index end) const;
//   template <class S> void merge(State& into, const State& next, const FusedRow<S>&) const;
//   template <class S> Final finish(const State&, const FusedRow<S>&) const;
//   template <class P> void gradient(const Final&, const FusedRow<S>&, Index begin, Index end,
//                                    S* grad_p, S* grad_q, double scale) const;  // null: not asked
// P is a SIMD packet of S (core/simd.hpp). Rows are cut into fixed chunks whose states are merged
// in order, so results are bitwise identical for any number of threads.

namespace divergence {
namespace detail {

/// One row of one input read as (p_i, log p_i). For logits, the streaming log-sum-exp of z / T
/// is taken once when the reader is made: log p_i = (z_i / T - max) - log(sum).
template <class Scalar>
class RowReader {
public:
    RowReader(const Input<Scalar>& x, Index row)
        : row_(x.view().row(row)), stride_(x.view().col_stride), form_(x.form()),
          inverse_temperature_(1.0 / x.temperature())
    {
        if (form_ == Form::logits) {
            // log p_i = (z_i - max z) / T - log sum_j exp((z_j - max z) / T): the difference first, so
            // that the largest entry's log p is exactly -log(sum) <= 0 however the compiler contracts
            // the arithmetic (z / T - max(z / T) fused into one FMA left +-ulp(z / T), +-1024 for float
            // logits of 1e20 at T = 7: log p > 0, p = inf and NaN gradients).
            for (Index c = 0; c < x.cols(); ++c) max_ = std::max(max_, double(row_[c * stride_]));
            CompensatedSum sum;
            for (Index c = 0; c < x.cols(); ++c) sum.add(std::exp(scaled(double(row_[c * stride_]))));
            log_sum_ = std::log(sum.value());
        }
    }
    /// (p_i, log p_i).
    void read(Index c, double& p, double& log_p) const
    {
        const double x = double(row_[c * stride_]);
        switch (form_) {
        case Form::probs:
            p = x;
            log_p = std::log(x);  // log 0 = -inf
            break;
        case Form::log_probs:
            log_p = x;
            p = std::exp(x);
            break;
        case Form::logits:
            log_p = scaled(x) - log_sum_;
            p = std::exp(log_p);
            break;
        }
    }
    double inverse_temperature() const { return inverse_temperature_; }

private:
    /// (z - max z) / T; z / T - max z / T where z - max z overflows (|z| > ~9e307).
    double scaled(double z) const
    {
        const double d = z - max_;
        return std::isinf(d) && z != -infinity ? z * inverse_temperature_ - max_ * inverse_temperature_ : d * inverse_temperature_;
    }

    const Scalar* row_;
    Index stride_;
    Form form_;
    double inverse_temperature_;
    double max_ = -infinity;  ///< largest logit (logits form)
    double log_sum_ = 0.0;
};

/// Writes one gradient row in the input's form, given d_p and d_log_p at each column:
/// probs: d_p; log-probs: d_log_p; logits z/T: (d_log_p_j - p_j sum_i d_log_p_i) / T.
/// Where a row's value is infinite its logit gradient has no meaning: infinite entries are kept
/// and the others are 0 (no NaN).
template <class Scalar, class PartialAt>
void write_gradient(const MatrixView<Scalar>& out, Index row, const Input<Scalar>& x, const RowReader<Scalar>& reader,
                    double scale, const PartialAt& partial_at)
{
    const Index cols = x.cols();
    double p = 0.0, log_p = 0.0, d_p = 0.0, d_log_p = 0.0;
    switch (x.form()) {
    case Form::probs:
        for (Index c = 0; c < cols; ++c) {
            partial_at(c, d_p, d_log_p);
            out(row, c) = Scalar(scale * d_p);
        }
        break;
    case Form::log_probs:
        for (Index c = 0; c < cols; ++c) {
            partial_at(c, d_p, d_log_p);
            out(row, c) = Scalar(scale * d_log_p);
        }
        break;
    case Form::logits: {
        CompensatedSum total;
        for (Index c = 0; c < cols; ++c) {
            partial_at(c, d_p, d_log_p);
            total.add(d_log_p);
        }
        const double mean = total.value();
        const double factor = scale * reader.inverse_temperature();
        for (Index c = 0; c < cols; ++c) {
            partial_at(c, d_p, d_log_p);
            reader.read(c, p, log_p);
            const double g = std::isfinite(mean) ? d_log_p - times(p, mean) : (std::isfinite(d_log_p) ? 0.0 : d_log_p);
            out(row, c) = Scalar(factor * g);
        }
        break;
    }
    }
}

template <class Kernel>
struct Swapped;  // detail/swapped.hpp

/// The fused row kernel of a row kernel, if it has one (`fused()`), and whether the driver must
/// exchange the arguments (Swapped<K> runs K's fused kernel on (q, p)).
template <class Kernel, class = void>
struct FusedOf {
    static constexpr bool available = false;
};
template <class Kernel>
struct FusedOf<Kernel, std::void_t<decltype(std::declval<const Kernel&>().fused())>> {
    static constexpr bool available = true;
    static constexpr bool swapped = false;
    static auto get(const Kernel& kernel) { return kernel.fused(); }
};
template <class Kernel>
struct FusedOf<Swapped<Kernel>, std::enable_if_t<FusedOf<Kernel>::available>> {
    static constexpr bool available = true;
    static constexpr bool swapped = !FusedOf<Kernel>::swapped;
    static auto get(const Swapped<Kernel>& kernel) { return FusedOf<Kernel>::get(kernel.kernel); }
};

/// The fused path as a job: rows of logits p and q (contiguous), gradients (or null). Passes: the
/// normalizers (when the kernel needs them), then the kernel's own; the gradients are the write.
template <class Fused, class Scalar>
struct FusedJob {
    const Fused& fused;
    MatrixView<const Scalar> p, q;
    double inverse_temperature_p, inverse_temperature_q;
    const MatrixView<Scalar>* grad_p;
    const MatrixView<Scalar>* grad_q;
    const RowSelection& selection;
    Index first;    ///< index of this job's row 0 in the caller's batch (staged tiles)
    double scale;   ///< the reduction's scale of the gradients
    double* values;
    bool given_p, given_q;  ///< log-probabilities taken as given (FusedRow::given_*)

    using State = typename Fused::State;
    using Final = typename Fused::Final;
    struct Row {
        FusedRow<Scalar> row;
        Final final{};
        Index index = 0;
    };
    static constexpr bool normalizers = Fused::needs_normalizers;
    static constexpr int passes = normalizers ? 2 : 1;
    struct Normalizers {
        LogSumExp p, q;
    };

    bool keeps(Index r) const { return selection.keeps(first + r); }
    void skip(Index r) const
    {
        if (grad_p) zero_row(*grad_p, r);
        if (grad_q) zero_row(*grad_q, r);
    }
    Row row(Index r) const
    {
        Row out;
        FusedRow<Scalar>& row = out.row;
        out.index = r;
        const Index cols = p.cols;
        row.p = p.row(r);
        row.q = q.row(r);
        row.cols = cols;
        row.inverse_temperature_p = inverse_temperature_p;
        row.inverse_temperature_q = inverse_temperature_q;
        row.given_p = given_p;
        row.given_q = given_q;
        Scalar* gp = grad_p ? grad_p->row(r) : nullptr;
        Scalar* gq = grad_q ? grad_q->row(r) : nullptr;
        const auto apart = [&](const Scalar* g) {
            return !rows_overlap(g, row.p, cols) && !rows_overlap(g, row.q, cols) && !(gp && gq && rows_overlap(gp, gq, cols));
        };
        if (gp && apart(gp)) row.keep_p = gp;
        if (gq && apart(gq)) row.keep_q = gq;
        if (r + 1 < p.rows) {
            row.next_p = p.row(r + 1);
            row.next_q = q.row(r + 1);
        }
        return out;
    }

    // The divergence's pass: pass 1 after the normalizers, else pass 0.
    template <int K>
    static constexpr bool is_normalizer_pass = normalizers && K == 0;

    template <int K>
    auto start(Pass<K>, const Row&) const
    {
        if constexpr (is_normalizer_pass<K>) {
            return Normalizers{};
        } else {
            return State{};
        }
    }
    template <int K, class St>
    void accumulate(Pass<K>, St& state, const Row& row, Index begin, Index end) const
    {
        using Pk = simd::Packet<Scalar>;
        if constexpr (is_normalizer_pass<K>) {  // a given row's normalizer is 0: not computed
            if (!given_p) accumulate_logsumexp<Pk>(state.p, row.row.p, begin, end, row.row.inverse_temperature_p);
            if (!given_q) accumulate_logsumexp<Pk>(state.q, row.row.q, begin, end, row.row.inverse_temperature_q);
        } else {
            fused.template accumulate<Pk>(state, row.row, begin, end);
        }
    }
    template <int K, class St>
    void merge(Pass<K>, St& into, const St& next, const Row& row) const
    {
        if constexpr (is_normalizer_pass<K>) {
            into.p.merge(next.p, row.row.inverse_temperature_p);
            into.q.merge(next.q, row.row.inverse_temperature_q);
        } else {
            fused.merge(into, next, row.row);
        }
    }
    template <int K, class St>
    void finish(Pass<K>, Row& row, const St& state) const
    {
        if constexpr (is_normalizer_pass<K>) {  // log p_i = x_i exactly for given log-probabilities
            row.row.max_p = given_p ? 0.0 : state.p.reference();
            row.row.log_sum_p = given_p ? 0.0 : state.p.log_sum();
            row.row.max_q = given_q ? 0.0 : state.q.reference();
            row.row.log_sum_q = given_q ? 0.0 : state.q.log_sum();
        } else {
            row.final = fused.finish(state, row.row);
            values[row.index] = row.final.value;
        }
    }
    bool writes() const { return grad_p || grad_q; }
    void write(const Row& row, Index begin, Index end) const
    {
        const Index r = row.index;
        Scalar* gp = grad_p ? grad_p->row(r) : nullptr;
        Scalar* gq = grad_q ? grad_q->row(r) : nullptr;
        const double weight = selection.weight(first + r);
        if (weight == 0.0) {  // a zero weight zeroes the row's gradient (an infinite one would give NaN)
            for (Index c = begin; c < end; ++c) {
                if (gp) gp[c] = Scalar(0);
                if (gq) gq[c] = Scalar(0);
            }
            return;
        }
        fused.template gradient<simd::Packet<Scalar>>(row.final, row.row, begin, end, gp, gq, scale * weight);
    }
};

/// The logs of a tile of probabilities, in place (log 0 = -inf; simd::log: <= 2 ulp, and a float
/// below 2^-126 is taken as 2^-126, a change of p below 1.2e-38 absolute).
template <class P>
void log_in_place(const MatrixView<simd::scalar_of<P>>& tile)
{
    using Scalar = simd::scalar_of<P>;
    constexpr Index width = simd::lanes<P>;
    for (Index r = 0; r < tile.rows; ++r) {
        Scalar* x = tile.row(r);
        Index c = 0;
        for (; c + width <= tile.cols; c += width) simd::store(x + c, simd::log(simd::load<P>(x + c)));
        if (c < tile.cols) simd::store_partial(x + c, simd::log(simd::load_partial<P>(x + c, tile.cols - c, Scalar(1))), tile.cols - c);
    }
}

/// The fused path: rows of logits p and q (one of them may be given log-probabilities or probabilities,
/// see fused_applies), gradients (or null), values[r] for each kept row.
/// Contiguous rows run in place; rows that are not (column-major or strided inputs or gradients)
/// are staged through row-major scratch tiles, with the same bits (each tile is read before its
/// gradients are written, so gradients may overwrite their inputs). The copies read a column-major
/// source a 64-byte line per column and tile, from memory: they cost 1-3 times the kernel
/// (docs/performance.md). Nothing here throws but std::bad_alloc.
template <class Fused, class Scalar>
void evaluate_fused(const Fused& fused, const Input<Scalar>& p, const Input<Scalar>& q, const MatrixView<Scalar>* grad_p,
                    const MatrixView<Scalar>* grad_q, const RowSelection& selection, double scale, double* values)
{
    const Index rows = p.rows(), cols = p.cols();
    const double inv_p = 1.0 / p.temperature(), inv_q = 1.0 / q.temperature();
    // Probabilities are staged and replaced by their logs: then they are given log-probabilities too.
    const bool given_p = p.form() != Form::logits, given_q = q.form() != Form::logits;
    const bool probs_p = p.form() == Form::probs, probs_q = q.form() == Form::probs;
    const Chunks chunks{cols, fused_chunk};
    if (!probs_p && !probs_q && p.view().contiguous_rows() && q.view().contiguous_rows() &&
        (!grad_p || grad_p->contiguous_rows()) && (!grad_q || grad_q->contiguous_rows())) {
        const FusedJob<Fused, Scalar> job{fused,     p.view(), q.view(), inv_p,  inv_q,   grad_p, grad_q,
                                          selection, 0,        scale,    values, given_p, given_q};
        execute(job, rows, chunks);
        return;
    }
    StagingTiles<Scalar> tiles(rows, cols, 2 + (grad_p ? 1 : 0) + (grad_q ? 1 : 0));
    for (Index first = 0; first < rows; first += tiles.tile_rows()) {
        const Index n = std::min(tiles.tile_rows(), rows - first);
        const MatrixView<Scalar> zp = tiles.stage(0, p.view(), first, n), zq = tiles.stage(1, q.view(), first, n);
        using Packet = simd::Packet<Scalar>;
        if (probs_p) log_in_place<Packet>(zp);
        if (probs_q) log_in_place<Packet>(zq);
        const MatrixView<Scalar> gp = tiles.tile(2, grad_p ? n : 0), gq = tiles.tile(grad_p ? 3 : 2, grad_q ? n : 0);
        const FusedJob<Fused, Scalar> job{fused, read_only(zp), read_only(zq), inv_p, inv_q, grad_p ? &gp : nullptr,
                                          grad_q ? &gq : nullptr, selection, first, scale, values + first, given_p, given_q};
        execute(job, n, chunks);
        if (grad_p) copy_view(gp, rows_of(*grad_p, first, n));
        if (grad_q) copy_view(gq, rows_of(*grad_q, first, n));
    }
}

/// Whether the fused kernel applies to these inputs, in its own argument order (see the header
/// comment): both are logits, in any layout (rows that are not contiguous are staged); or, for a
/// kernel that takes log-probabilities, one is logits and the other log-probabilities or
/// probabilities (staged as their logs) whose gradient is not asked. (Two rows of probabilities or
/// log-probabilities keep the element path, whose error is relative to the value: the fused one's
/// is absolute, about eps, as for logits.)
template <class Fused, class Scalar>
bool fused_applies(const Input<Scalar>& p, const Input<Scalar>& q, bool grad_p, bool grad_q)
{
    const auto given = [](const Input<Scalar>& x, bool gradient) {
        return takes_log_probs<Fused>::value && x.form() != Form::logits && !gradient;
    };
    const bool logits_p = p.form() == Form::logits, logits_q = q.form() == Form::logits;
    return (logits_p && logits_q) || (logits_p && given(q, grad_q)) || (logits_q && given(p, grad_p));
}

/// A row kernel run element by element in double (any form, any layout), a whole row per task:
/// one pass (the kernel's add over the row), then the gradients in the inputs' forms.
template <class Kernel, class Scalar>
struct ReferenceJob {
    const Kernel& kernel;
    const Input<Scalar>& p;
    const Input<Scalar>& q;
    const Outputs<Scalar>& out;
    const RowSelection& selection;
    double scale;
    double* values;

    static constexpr bool binary = Kernel::binary;
    using Final = decltype(std::declval<const Kernel&>().finish(std::declval<const typename Kernel::State&>()));
    struct Row {
        Index index;
        RowReader<Scalar> p_row, q_row;
        Final final{};
        Element element(Index c) const
        {
            Element e;
            p_row.read(c, e.p, e.log_p);
            if constexpr (binary) q_row.read(c, e.q, e.log_q);
            return e;
        }
    };
    static constexpr int passes = 1;

    bool keeps(Index r) const { return selection.keeps(r); }
    void skip(Index r) const
    {
        if (out.grad_p.requested()) zero_row(out.grad_p.view, r);
        if constexpr (binary) {
            if (out.grad_q.requested()) zero_row(out.grad_q.view, r);
        }
    }
    Row row(Index r) const
    {
        const RowReader<Scalar> p_row(p, r);
        return {r, p_row, binary ? RowReader<Scalar>(q, r) : p_row, Final{}};
    }
    typename Kernel::State start(Pass<0>, const Row&) const { return {}; }
    void accumulate(Pass<0>, typename Kernel::State& state, const Row& row, Index begin, Index end) const
    {
        for (Index c = begin; c < end; ++c) kernel.add(state, row.element(c));
    }
    void merge(Pass<0>, typename Kernel::State& into, const typename Kernel::State& next, const Row&) const
    {
        into.merge(next);
    }
    void finish(Pass<0>, Row& row, const typename Kernel::State& state) const
    {
        row.final = kernel.finish(state);
        values[row.index] = row.final.value;
    }
    bool writes() const { return out.grad_p.requested() || (binary && out.grad_q.requested()); }
    /// A whole row (the chunk is the row): the logit gradient needs the row's sum first.
    void write(const Row& row, Index, Index) const
    {
        const Index r = row.index;
        const double weight = selection.weight(r);
        if (weight == 0.0) {  // a zero weight zeroes the row's gradient (an infinite one would give NaN)
            skip(r);
            return;
        }
        if (out.grad_p.requested()) {
            write_gradient(out.grad_p.view, r, p, row.p_row, scale * weight, [&](Index c, double& d, double& d_log) {
                const Partials parts = kernel.partials(row.final, row.element(c));
                d = parts.d_p;
                d_log = parts.d_log_p;
            });
        }
        if constexpr (binary) {
            if (out.grad_q.requested()) {
                write_gradient(out.grad_q.view, r, q, row.q_row, scale * weight, [&](Index c, double& d, double& d_log) {
                    const Partials parts = kernel.partials(row.final, row.element(c));
                    d = parts.d_q;
                    d_log = parts.d_log_q;
                });
            }
        }
    }
};

/// The reduced value scale * sum_r w_r value_r over the rows kept, and the per-row values where asked.
/// Fixed order: the result does not depend on the number of threads. A zero weight drops an
/// infinite value (times(0, inf) = 0, not NaN).
template <class Scalar>
Scalar reduce_rows(const std::vector<double>& values, const RowSelection& selection, double scale,
                   const VectorOut<Scalar>& row_values)
{
    CompensatedSum total;
    for (Index r = 0; r < Index(values.size()); ++r) {
        if (row_values.requested()) row_values[r] = Scalar(values[std::size_t(r)]);
        if (selection.keeps(r)) total.add(times(selection.weight(r), values[std::size_t(r)]));
    }
    return Scalar(total.value() * scale);
}

/// Runs `kernel` over the rows of p (and q when the kernel is binary) after validation: row r's
/// value goes to values[r], its gradients (scaled by scale and its weight) to grad_p / grad_q.
template <class Kernel, class Scalar>
void compute_rows(const Kernel& kernel, const Input<Scalar>& p, const Input<Scalar>& q, const Outputs<Scalar>& out,
                  const RowSelection& selection, double scale, double* values)
{
    constexpr bool binary = Kernel::binary;
    const Index rows = p.rows();
    const MatrixView<Scalar>* grad_p = out.grad_p.requested() ? &out.grad_p.view : nullptr;
    const MatrixView<Scalar>* grad_q = binary && out.grad_q.requested() ? &out.grad_q.view : nullptr;
    if constexpr (binary && FusedOf<Kernel>::available) {
        const auto fused = FusedOf<Kernel>::get(kernel);
        using Fused = std::remove_const_t<decltype(fused)>;
        if constexpr (FusedOf<Kernel>::swapped) {
            if (fused_applies<Fused>(q, p, grad_q, grad_p)) {
                evaluate_fused(fused, q, p, grad_q, grad_p, selection, scale, values);
                return;
            }
        } else if (fused_applies<Fused>(p, q, grad_p, grad_q)) {
            evaluate_fused(fused, p, q, grad_p, grad_q, selection, scale, values);
            return;
        }
    }
    if constexpr (has_element_form_v<Kernel>) {  // every form and layout, vectorized
        const ElementJob<Kernel, Scalar> job{kernel,
                                             {p.view(), p.form(), 1.0 / p.temperature()},
                                             {q.view(), q.form(), 1.0 / q.temperature()},
                                             grad_p,
                                             grad_q,
                                             selection,
                                             scale,
                                             values};
        execute(job, rows, Chunks{p.cols(), fused_chunk});
    } else {
        const ReferenceJob<Kernel, Scalar> job{kernel, p, q, out, selection, scale, values};
        execute(job, rows, Chunks{p.cols(), std::max(p.cols(), Index(1))});
    }
}

/// Checks the outputs against the inputs' shapes (grad_q only for binary kernels).
template <class Kernel, class P, class Q, class Scalar>
void validate_outputs(const char* function, const Input<P>& p, const Input<Q>& q, const Outputs<Scalar>& out)
{
    if constexpr (Kernel::binary) {
        validate_output(function, "grad_q", out.grad_q, q);
    } else if (out.grad_q.requested()) {
        fail(function, "grad_q", "this function has a single argument");
    }
    validate_output(function, "grad_p", out.grad_p, p);
    validate_output(function, out.row_values, p.rows());
}

/// Runs `kernel` over the rows of p (and q when the kernel is binary); returns the reduced value
/// and fills the requested outputs. `q` is ignored for unary kernels.
template <class Kernel, class Scalar>
Scalar evaluate(const char* function, const Kernel& kernel, const Input<Scalar>& p, const Input<Scalar>& q,
                const Options& options, const Outputs<Scalar>& out)
{
    validate_input(function, "p", p, options);
    if constexpr (Kernel::binary) {
        validate_shapes(function, p, q);
        validate_input(function, "q", q, options);
    }
    validate_outputs<Kernel>(function, p, q, out);

    const Index rows = p.rows();
    const RowSelection selection(function, options, rows);
    const double scale = reduction_scale(options.reduction, selection.kept(rows), rows);
    std::vector<double> values(std::size_t(rows), 0.0);
    compute_rows(kernel, p, q, out, selection, scale, values.data());
    return reduce_rows(values, selection, scale, out.row_values);
}

/// Entry point for unary kernels (entropy): no second argument.
template <class Kernel, class Scalar>
Scalar evaluate(const char* function, const Kernel& kernel, const Input<Scalar>& p, const Options& options,
                const Outputs<Scalar>& out)
{
    static_assert(!Kernel::binary, "divergence: a binary kernel needs two arguments.");
    return evaluate(function, kernel, p, p, options, out);
}

}  // namespace detail
}  // namespace divergence

#endif
