#ifndef DIVERGENCE_CORE_ROWS_HPP
#define DIVERGENCE_CORE_ROWS_HPP

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "divergence/core/forms.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/options.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/core/validate.hpp"
#include "divergence/detail/fused_logsumexp.hpp"
#include "divergence/detail/fused_row.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

// The one batch driver: every divergence over rows is a row kernel run by `evaluate`, which owns
// forms, validation, masks, threads, reductions and the chain rule to the input's form.
//
// A row kernel is a small struct:
//   static constexpr bool binary;             // two arguments (p, q) or one (p)
//   struct State;                             // mergeable partial sums over a slice of the row
//   void add(State&, const Element&) const;   // accumulate one element
//   Final finish(const State&) const;         // Final has `double value` (+ what partials need)
//   Partials partials(const Final&, const Element&) const;
// Element and Partials are in double; kernels never see forms, masks or strides.
//
// The fast path (one dispatch point, `evaluate` below): a binary kernel MAY also provide
//   auto fused() const;                       // returns a fused row kernel (detail/fused_*.hpp)
// which the driver uses instead of add/finish/partials when both inputs are logits (the kernel's
// result is the same). Contiguous rows (row-major matrices or vectors, and gradients likewise) are
// read and written in place; other layouts go through row-major scratch tiles of 16 rows
// (evaluate_fused_staged). `Swapped<K>` (reverse divergences) inherits K's
// fused kernel with the arguments exchanged. The fused kernel concept:
//   static constexpr bool needs_normalizers;  // true: the driver first computes log-sum-exps
//   struct State;                              // mergeable partial state over a slice of a row
//   struct Final;                              // has `double value`
//   template <class P> void accumulate(State&, const FusedRow<S>&, Index begin, Index end) const;
//   template <class S> void merge(State& into, const State& next, const FusedRow<S>&) const;
//   template <class S> Final finish(const State&, const FusedRow<S>&) const;
//   template <class P> void gradient(const Final&, const FusedRow<S>&, Index begin, Index end,
//                                    S* grad_p, S* grad_q, double scale) const;  // null: not asked
// P is a SIMD packet of S (core/simd.hpp). Rows are cut into fixed chunks (detail/fused_row.hpp)
// whose states are merged in order, so results are bitwise identical for any number of threads.

namespace divergence {
namespace detail {

/// One element of the rows, in both parametrizations: p = exp(log_p) (q unused when unary).
struct Element {
    double p = 0.0, log_p = 0.0, q = 0.0, log_q = 0.0;
};

/// A kernel's derivatives at one element: d_p = dD/dp_i and d_log_p = p_i dD/dp_i = dD/dlog p_i
/// (exact where p_i = 0, where d_p may be infinite); likewise for q.
struct Partials {
    double d_p = 0.0, d_log_p = 0.0, d_q = 0.0, d_log_q = 0.0;
};

inline constexpr double infinity = std::numeric_limits<double>::infinity();

/// x * y with 0 * anything = 0 (the convention 0 log 0 = 0 carried to products).
inline double times(double x, double y) { return x == 0.0 ? 0.0 : x * y; }

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
            LogSumExp lse;
            for (Index c = 0; c < x.cols(); ++c) lse.add(double(row_[c * stride_]) * inverse_temperature_);
            max_ = lse.max;
            log_sum_ = std::log(lse.sum);
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
            log_p = (x * inverse_temperature_ - max_) - log_sum_;
            p = std::exp(log_p);
            break;
        }
    }
    double inverse_temperature() const { return inverse_temperature_; }

private:
    const Scalar* row_;
    Index stride_;
    Form form_;
    double inverse_temperature_;
    double max_ = 0.0;
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

template <class Scalar>
void zero_row(const MatrixView<Scalar>& out, Index row)
{
    for (Index c = 0; c < out.cols; ++c) out(row, c) = Scalar(0);
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

/// Number of threads the fused driver may use (1 without OpenMP).
inline int fused_threads()
{
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
}

template <class Fused, class Scalar>
void evaluate_fused_staged(const Fused& fused, const Input<Scalar>& p, const Input<Scalar>& q,
                           const MatrixView<Scalar>* grad_p, const MatrixView<Scalar>* grad_q, const Options& options,
                           double scale, std::vector<double>& values);

/// The fused path: rows of logits p and q, gradients (or null). Each row is cut into chunks of
/// fused_chunk columns; a chunk's partial state depends only on its columns and states merge in
/// chunk order, so whether rows (row mode: one thread per row, the second pass reads the row from
/// cache) or chunks (chunk mode: few long rows) are spread over threads, the bits are the same.
/// Rows that are not contiguous (column-major or strided inputs or gradients) are staged through
/// contiguous scratch rows first (evaluate_fused_staged), with the same bits. Nothing here throws
/// but std::bad_alloc.
template <class Fused, class Scalar>
void evaluate_fused(const Fused& fused, const Input<Scalar>& p, const Input<Scalar>& q, const MatrixView<Scalar>* grad_p,
                    const MatrixView<Scalar>* grad_q, const Options& options, double scale, std::vector<double>& values)
{
    if (!p.view().contiguous_rows() || !q.view().contiguous_rows() || (grad_p && !grad_p->contiguous_rows()) ||
        (grad_q && !grad_q->contiguous_rows())) {
        evaluate_fused_staged(fused, p, q, grad_p, grad_q, options, scale, values);
        return;
    }
    using Pk = simd::Packet<Scalar>;
    using State = typename Fused::State;
    using Final = typename Fused::Final;
    const Index rows = p.rows();
    const Index cols = p.cols();
    const Index chunks = (cols + fused_chunk - 1) / fused_chunk;
    const auto chunk_begin = [&](Index c) { return c * fused_chunk; };
    const auto chunk_end = [&](Index c) { return std::min(cols, (c + 1) * fused_chunk); };
    const auto make_row = [&](Index r) {
        FusedRow<Scalar> row;
        row.p = p.view().row(r);
        row.q = q.view().row(r);
        row.cols = cols;
        row.inverse_temperature_p = 1.0 / p.temperature();
        row.inverse_temperature_q = 1.0 / q.temperature();
        Scalar* gp = grad_p ? grad_p->row(r) : nullptr;
        Scalar* gq = grad_q ? grad_q->row(r) : nullptr;
        const auto apart = [&](const Scalar* g) {
            return !rows_overlap(g, row.p, cols) && !rows_overlap(g, row.q, cols) &&
                   !(gp && gq && rows_overlap(gp, gq, cols));
        };
        if (gp && apart(gp)) row.keep_p = gp;
        if (gq && apart(gq)) row.keep_q = gq;
        return row;
    };
    const auto set_normalizers = [](FusedRow<Scalar>& row, const FusedLogSumExp& lp, const FusedLogSumExp& lq) {
        row.max_p = lp.reference();
        row.log_sum_p = lp.log_sum();
        row.max_q = lq.reference();
        row.log_sum_q = lq.log_sum();
    };
    const auto write_gradients = [&](const Final& f, const FusedRow<Scalar>& row, Index r, Index begin, Index end) {
        Scalar* gp = grad_p ? grad_p->row(r) : nullptr;
        Scalar* gq = grad_q ? grad_q->row(r) : nullptr;
        if (gp || gq) fused.template gradient<Pk>(f, row, begin, end, gp, gq, scale);
    };
    const auto zero_gradients = [&](Index r) {
        if (grad_p) zero_row(*grad_p, r);
        if (grad_q) zero_row(*grad_q, r);
    };

    const bool chunk_mode = chunks > 1 && rows < Index(fused_threads());
    if (!chunk_mode) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (rows > 1)
#endif
        for (Index r = 0; r < rows; ++r) {
            if (!options.mask.keeps(r)) {
                zero_gradients(r);
                continue;
            }
            FusedRow<Scalar> row = make_row(r);
            if (r + 1 < rows) {
                row.next_p = p.view().row(r + 1);
                row.next_q = q.view().row(r + 1);
            }
            if constexpr (Fused::needs_normalizers) {
                FusedLogSumExp lp, lq;
                for (Index c = 0; c < chunks; ++c) {
                    FusedLogSumExp part_p, part_q;
                    accumulate_logsumexp<Pk>(part_p, row.p, chunk_begin(c), chunk_end(c), row.inverse_temperature_p);
                    accumulate_logsumexp<Pk>(part_q, row.q, chunk_begin(c), chunk_end(c), row.inverse_temperature_q);
                    lp.merge(part_p, row.inverse_temperature_p);
                    lq.merge(part_q, row.inverse_temperature_q);
                }
                set_normalizers(row, lp, lq);
            }
            State state{};
            for (Index c = 0; c < chunks; ++c) {
                State part{};
                fused.template accumulate<Pk>(part, row, chunk_begin(c), chunk_end(c));
                if (c == 0) {
                    state = part;
                } else {
                    fused.merge(state, part, row);
                }
            }
            const Final f = fused.finish(state, row);
            values[std::size_t(r)] = f.value;
            write_gradients(f, row, r, 0, cols);
        }
        return;
    }

    // Chunk mode: a few long rows; every (row, chunk) is a task. O(rows * chunks) memory.
    const Index tasks = rows * chunks;
    std::vector<FusedRow<Scalar>> row_of(static_cast<std::size_t>(rows));
    for (Index r = 0; r < rows; ++r) row_of[std::size_t(r)] = make_row(r);
    if constexpr (Fused::needs_normalizers) {
        std::vector<FusedLogSumExp> parts_p(static_cast<std::size_t>(tasks)), parts_q(static_cast<std::size_t>(tasks));
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
        for (Index t = 0; t < tasks; ++t) {
            const Index r = t / chunks, c = t % chunks;
            if (!options.mask.keeps(r)) continue;
            const FusedRow<Scalar>& row = row_of[std::size_t(r)];
            accumulate_logsumexp<Pk>(parts_p[std::size_t(t)], row.p, chunk_begin(c), chunk_end(c), row.inverse_temperature_p);
            accumulate_logsumexp<Pk>(parts_q[std::size_t(t)], row.q, chunk_begin(c), chunk_end(c), row.inverse_temperature_q);
        }
        for (Index r = 0; r < rows; ++r) {
            FusedRow<Scalar>& row = row_of[std::size_t(r)];
            FusedLogSumExp lp, lq;
            for (Index c = 0; c < chunks; ++c) {
                lp.merge(parts_p[std::size_t(r * chunks + c)], row.inverse_temperature_p);
                lq.merge(parts_q[std::size_t(r * chunks + c)], row.inverse_temperature_q);
            }
            set_normalizers(row, lp, lq);
        }
    }
    std::vector<State> parts(static_cast<std::size_t>(tasks));
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
    for (Index t = 0; t < tasks; ++t) {
        const Index r = t / chunks, c = t % chunks;
        if (!options.mask.keeps(r)) continue;
        fused.template accumulate<Pk>(parts[std::size_t(t)], row_of[std::size_t(r)], chunk_begin(c), chunk_end(c));
    }
    std::vector<Final> finals(static_cast<std::size_t>(rows));
    for (Index r = 0; r < rows; ++r) {
        if (!options.mask.keeps(r)) {
            zero_gradients(r);
            continue;
        }
        State state = parts[std::size_t(r * chunks)];
        for (Index c = 1; c < chunks; ++c) fused.merge(state, parts[std::size_t(r * chunks + c)], row_of[std::size_t(r)]);
        finals[std::size_t(r)] = fused.finish(state, row_of[std::size_t(r)]);
        values[std::size_t(r)] = finals[std::size_t(r)].value;
    }
    if (grad_p || grad_q) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
        for (Index t = 0; t < tasks; ++t) {
            const Index r = t / chunks, c = t % chunks;
            if (!options.mask.keeps(r)) continue;
            write_gradients(finals[std::size_t(r)], row_of[std::size_t(r)], r, chunk_begin(c), chunk_end(c));
        }
    }
}

/// Copies the entries of `from` into `to` (same shape). The inner loop runs along a row unless
/// either side is column-major-like: then along a column, so that side is read or written in whole
/// cache lines while the other (a row-major scratch tile) keeps one line per row in cache. The
/// column `ahead` columns on is prefetched (its first and last entries: it may straddle two lines):
/// a tile's walk over a column-major matrix takes one line per column, 256 B to 16 KB apart, which
/// the hardware prefetchers did not follow (KL of 64 x 32000 column-major floats: 10 -> 3.3 ms).
template <class From, class To>
void copy_view(const MatrixView<From>& from, const MatrixView<To>& to)
{
    const bool by_column =
        std::abs(from.row_stride) < std::abs(from.col_stride) || std::abs(to.row_stride) < std::abs(to.col_stride);
    if (by_column) {
        constexpr Index ahead = 32;
        for (Index c = 0; c < from.cols; ++c) {
            const From* in = from.data + c * from.col_stride;
            To* out = to.data + c * to.col_stride;
            if (c + ahead < from.cols) {
                simd::prefetch(in + ahead * from.col_stride);
                simd::prefetch(in + ahead * from.col_stride + (from.rows - 1) * from.row_stride);
                simd::prefetch_for_write(out + ahead * to.col_stride);
                simd::prefetch_for_write(out + ahead * to.col_stride + (to.rows - 1) * to.row_stride);
            }
            for (Index r = 0; r < from.rows; ++r) out[r * to.row_stride] = in[r * from.row_stride];
        }
    } else {
        for (Index r = 0; r < from.rows; ++r) {
            const From* in = from.data + r * from.row_stride;
            To* out = to.data + r * to.row_stride;
            for (Index c = 0; c < from.cols; ++c) out[c * to.col_stride] = in[c * from.col_stride];
        }
    }
}

/// The view of rows [first, first + count) of a matrix view.
template <class Scalar>
MatrixView<Scalar> rows_of(const MatrixView<Scalar>& v, Index first, Index count)
{
    MatrixView<Scalar> out = v;
    out.data = v.data + first * v.row_stride;
    out.rows = count;
    return out;
}

/// The fused path for rows that are not contiguous: tiles of up to 16 rows (a 64-byte line of a
/// column-major float matrix holds 16 rows of a column) are copied into row-major scratch, run by
/// evaluate_fused and their gradients copied back. Memory: 2 to 4 scratch tiles of at most 2^19
/// entries each (16 x 32000 floats: 2 MB), never B x V. Per row the same computation as for
/// contiguous rows, so the same bits. Each tile is read before its gradients are written, so
/// gradients may overwrite their inputs. The copies read a column-major source a 64-byte line
/// per column and tile, from memory: they cost 1-3 times the kernel (docs/performance.md).
template <class Fused, class Scalar>
void evaluate_fused_staged(const Fused& fused, const Input<Scalar>& p, const Input<Scalar>& q,
                           const MatrixView<Scalar>* grad_p, const MatrixView<Scalar>* grad_q, const Options& options,
                           double scale, std::vector<double>& values)
{
    using Tile = Eigen::Map<RowMatrix<Scalar>, Eigen::Unaligned, Eigen::OuterStride<>>;
    const Index rows = p.rows(), cols = p.cols();
    const Index tile = std::max(Index(1), std::min({Index(16), rows, Index(1 << 19) / std::max(cols, Index(1))}));
    // Scratch rows a whole number of 64-byte lines long, an odd number of them: a column of the tile
    // then spans 16 cache sets instead of one (rows 4 KB apart would make the copy thrash L1).
    constexpr Index line = 64 / Index(sizeof(Scalar));
    const Index stride = (((cols + line - 1) / line) | 1) * line;
    const int buffers = 2 + (grad_p ? 1 : 0) + (grad_q ? 1 : 0);
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> scratch(buffers * tile * stride);  // not initialized
    const auto buffer = [&](int k, Index n) { return Tile(scratch.data() + k * tile * stride, n, cols, Eigen::OuterStride<>(stride)); };
    std::vector<double> tile_values;
    for (Index first = 0; first < rows; first += tile) {
        const Index n = std::min(tile, rows - first);
        Tile zp = buffer(0, n), zq = buffer(1, n), gp = buffer(2, grad_p ? n : 0), gq = buffer(grad_p ? 3 : 2, grad_q ? n : 0);
        copy_view(rows_of(p.view(), first, n), view_of<Scalar>(zp));
        copy_view(rows_of(q.view(), first, n), view_of<Scalar>(zq));
        const Input<Scalar> tp(zp, Form::logits, p.temperature()), tq(zq, Form::logits, q.temperature());
        const MatrixView<Scalar> vgp = view_of<Scalar>(gp), vgq = view_of<Scalar>(gq);
        Options tile_options = options;
        if (options.mask.active()) {
            tile_options.mask.data = options.mask.data + first * options.mask.stride;
            tile_options.mask.size = n;
        }
        tile_values.assign(std::size_t(n), 0.0);
        evaluate_fused(fused, tp, tq, grad_p ? &vgp : nullptr, grad_q ? &vgq : nullptr, tile_options, scale, tile_values);
        std::copy(tile_values.begin(), tile_values.end(), values.begin() + first);
        if (grad_p) copy_view(vgp, rows_of(*grad_p, first, n));
        if (grad_q) copy_view(vgq, rows_of(*grad_q, first, n));
    }
}

/// Whether the fused path applies to these inputs (see the header comment): both are logits, in
/// any layout (rows that are not contiguous are staged, evaluate_fused_staged).
template <class Scalar>
bool fused_applies(const Input<Scalar>& p, const Input<Scalar>& q)
{
    return p.form() == Form::logits && q.form() == Form::logits;
}

/// Runs `kernel` over the rows of p (and q when the kernel is binary); returns the reduced value
/// and fills the requested outputs. `q` is ignored for unary kernels.
template <class Kernel, class Scalar>
Scalar evaluate(const char* function, const Kernel& kernel, const Input<Scalar>& p, const Input<Scalar>& q,
                const Options& options, const Outputs<Scalar>& out)
{
    constexpr bool binary = Kernel::binary;
    validate_input(function, "p", p, options);
    if constexpr (binary) {
        validate_shapes(function, p, q);
        validate_input(function, "q", q, options);
        validate_output(function, "grad_q", out.grad_q, q);
    } else if (out.grad_q.requested()) {
        fail(function, "grad_q", "this function has a single argument");
    }
    validate_output(function, "grad_p", out.grad_p, p);
    validate_output(function, out.row_values, p.rows());

    const Index rows = p.rows();
    const Index cols = p.cols();
    Index kept = 0;
    for (Index r = 0; r < rows; ++r) kept += options.mask.keeps(r) ? 1 : 0;
    const double scale = reduction_scale(options.reduction, kept, rows);
    std::vector<double> values(std::size_t(rows), 0.0);

    bool done = false;
    if constexpr (binary && FusedOf<Kernel>::available) {
        if (fused_applies(p, q)) {
            const auto fused = FusedOf<Kernel>::get(kernel);
            const MatrixView<Scalar>* grad_p = out.grad_p.requested() ? &out.grad_p.view : nullptr;
            const MatrixView<Scalar>* grad_q = out.grad_q.requested() ? &out.grad_q.view : nullptr;
            if constexpr (FusedOf<Kernel>::swapped) {
                evaluate_fused(fused, q, p, grad_q, grad_p, options, scale, values);
            } else {
                evaluate_fused(fused, p, q, grad_p, grad_q, options, scale, values);
            }
            done = true;
        }
    }

#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (rows > 1)
#endif
    for (Index r = 0; r < (done ? Index(0) : rows); ++r) {
        if (!options.mask.keeps(r)) {
            if (out.grad_p.requested()) zero_row(out.grad_p.view, r);
            if constexpr (binary) {
                if (out.grad_q.requested()) zero_row(out.grad_q.view, r);
            }
            continue;
        }
        const RowReader<Scalar> p_row(p, r);
        const RowReader<Scalar> q_row = binary ? RowReader<Scalar>(q, r) : p_row;
        const auto element = [&](Index c) {
            Element e;
            p_row.read(c, e.p, e.log_p);
            if constexpr (binary) q_row.read(c, e.q, e.log_q);
            return e;
        };
        typename Kernel::State state{};
        for (Index c = 0; c < cols; ++c) kernel.add(state, element(c));
        const auto final_state = kernel.finish(state);
        values[std::size_t(r)] = final_state.value;

        if (out.grad_p.requested()) {
            write_gradient(out.grad_p.view, r, p, p_row, scale, [&](Index c, double& d, double& d_log) {
                const Partials parts = kernel.partials(final_state, element(c));
                d = parts.d_p;
                d_log = parts.d_log_p;
            });
        }
        if constexpr (binary) {
            if (out.grad_q.requested()) {
                write_gradient(out.grad_q.view, r, q, q_row, scale, [&](Index c, double& d, double& d_log) {
                    const Partials parts = kernel.partials(final_state, element(c));
                    d = parts.d_q;
                    d_log = parts.d_log_q;
                });
            }
        }
    }

    // Fixed-order reduction: the result does not depend on the number of threads.
    CompensatedSum total;
    for (Index r = 0; r < rows; ++r) {
        if (out.row_values.requested()) out.row_values[r] = Scalar(values[std::size_t(r)]);
        if (options.mask.keeps(r)) total.add(values[std::size_t(r)]);
    }
    return Scalar(total.value() * scale);
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
