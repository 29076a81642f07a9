#ifndef DIVERGENCE_CORE_EXECUTOR_HPP
#define DIVERGENCE_CORE_EXECUTOR_HPP

// The executor: the one schedule every batched computation of the library runs on.
//
// Rows are cut into fixed chunks of columns. A *job* says what to compute per row:
//   using Row = ...;                          per-row context (pointers, normalizers, results)
//   static constexpr int passes;              reduction passes over each row, in order (>= 0)
//   bool keeps(Index r) const;                rows it drops are given to skip(r) instead
//   void skip(Index r) const;                 (e.g. zero the row's gradients)
//   Row row(Index r) const;
//   State start(Pass<K>, const Row&) const;   an empty mergeable state of pass K
//   void accumulate(Pass<K>, State&, const Row&, Index begin, Index end) const;   one chunk
//   void merge(Pass<K>, State& into, const State& next, const Row&) const;       in chunk order
//   void finish(Pass<K>, Row&, const State&) const;                                  whole row
//   bool writes() const;                      whether there is a last, elementwise pass:
//   void write(const Row&, Index begin, Index end) const;                  (e.g. gradients)
// A chunk's state depends only on its columns and the states of a row are merged in chunk
// order, so whether rows (row mode: one thread runs all passes of a row, the later passes read
// it from cache) or (row, chunk) tasks (chunk mode: fewer rows than threads) are spread over
// threads, the results are bitwise the same.
//
// Row sources (what the chunks are read from) are the jobs' business: dense rows of any Eigen
// layout read in place (MatrixView), or staged through row-major scratch tiles when they are not
// contiguous (StagingTiles), and generated rows whose entries are computed from an index pair
// (GeneratedRows: a cost row c(x_i, y_j), a kernel row k(x_i, y_j)), never stored whole.

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "divergence/core/error.hpp"
#include "divergence/core/kernel.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/options.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/core/view.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace divergence::detail {

/// The tag of a job's reduction pass K.
template <int K>
using Pass = std::integral_constant<int, K>;

/// Number of threads the executor may use (1 without OpenMP).
inline int executor_threads()
{
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/// The columns of a row cut into chunks of `chunk` columns (the last one shorter).
struct Chunks {
    Index cols = 0;
    Index chunk = fused_chunk;
    Index count() const { return cols == 0 ? 1 : (cols + chunk - 1) / chunk; }
    Index begin(Index c) const { return c * chunk; }
    Index end(Index c) const { return std::min(cols, (c + 1) * chunk); }
};

template <int K, class Job>
void run_pass_on_row(const Job& job, typename Job::Row& row, const Chunks& chunks)
{
    auto state = job.start(Pass<K>{}, row);
    job.accumulate(Pass<K>{}, state, row, chunks.begin(0), chunks.end(0));
    for (Index c = 1; c < chunks.count(); ++c) {
        auto part = job.start(Pass<K>{}, row);
        job.accumulate(Pass<K>{}, part, row, chunks.begin(c), chunks.end(c));
        job.merge(Pass<K>{}, state, part, row);
    }
    job.finish(Pass<K>{}, row, state);
}

template <int K, class Job>
void run_pass_on_tasks(const Job& job, std::vector<typename Job::Row>& rows, const Chunks& chunks)
{
    using State = decltype(job.start(Pass<K>{}, rows.front()));
    const Index n = Index(rows.size()), per_row = chunks.count(), tasks = n * per_row;
    std::vector<State> parts(static_cast<std::size_t>(tasks));
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
    for (Index t = 0; t < tasks; ++t) {
        const Index r = t / per_row, c = t % per_row;
        if (!job.keeps(r)) continue;
        State& part = parts[std::size_t(t)];
        part = job.start(Pass<K>{}, rows[std::size_t(r)]);
        job.accumulate(Pass<K>{}, part, rows[std::size_t(r)], chunks.begin(c), chunks.end(c));
    }
    for (Index r = 0; r < n; ++r) {
        if (!job.keeps(r)) continue;
        State state = parts[std::size_t(r * per_row)];
        for (Index c = 1; c < per_row; ++c) job.merge(Pass<K>{}, state, parts[std::size_t(r * per_row + c)], rows[std::size_t(r)]);
        job.finish(Pass<K>{}, rows[std::size_t(r)], state);
    }
}

template <class Job, int... K>
void run_passes_on_row(const Job& job, typename Job::Row& row, const Chunks& chunks, std::integer_sequence<int, K...>)
{
    (run_pass_on_row<K>(job, row, chunks), ...);
}

template <class Job, int... K>
void run_passes_on_tasks(const Job& job, std::vector<typename Job::Row>& rows, const Chunks& chunks,
                         std::integer_sequence<int, K...>)
{
    (run_pass_on_tasks<K>(job, rows, chunks), ...);
}

/// Runs `job` (see the header comment) over `rows` rows cut into `chunks`, on the threads OpenMP
/// gives unless `parallel` is false (work too small to be worth a parallel region). Nothing here
/// throws but what the job throws and std::bad_alloc; a job must not throw from inside a pass.
template <class Job>
void execute(const Job& job, Index rows, const Chunks& chunks, bool parallel)
{
    constexpr auto passes = std::make_integer_sequence<int, Job::passes>{};
    const bool chunk_mode = parallel && chunks.count() > 1 && rows < Index(executor_threads());
    if (!chunk_mode) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (parallel && rows > 1)
#endif
        for (Index r = 0; r < rows; ++r) {
            if (!job.keeps(r)) {
                job.skip(r);
                continue;
            }
            typename Job::Row row = job.row(r);
            run_passes_on_row(job, row, chunks, passes);
            if (job.writes()) job.write(row, 0, chunks.cols);
        }
        return;
    }
    // Chunk mode: a few long rows; every (row, chunk) is a task. O(rows * chunks) states.
    std::vector<typename Job::Row> row_of;
    row_of.reserve(std::size_t(rows));
    for (Index r = 0; r < rows; ++r) row_of.push_back(job.row(r));
    run_passes_on_tasks(job, row_of, chunks, passes);
    for (Index r = 0; r < rows; ++r) {
        if (!job.keeps(r)) job.skip(r);
    }
    if (!job.writes()) return;
    const Index per_row = chunks.count(), tasks = rows * per_row;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
    for (Index t = 0; t < tasks; ++t) {
        const Index r = t / per_row, c = t % per_row;
        if (job.keeps(r)) job.write(row_of[std::size_t(r)], chunks.begin(c), chunks.end(c));
    }
}

/// A batch of fewer entries than this runs on the calling thread: a parallel region costs a few
/// microseconds on idle cores, and up to a scheduler time slice (milliseconds) on busy ones, more than
/// such work takes. The results are the same bits either way.
inline constexpr Index parallel_min_entries = 4096;

/// `execute` on the threads OpenMP gives when the batch has parallel_min_entries entries or more.
template <class Job>
void execute(const Job& job, Index rows, const Chunks& chunks)
{
    execute(job, rows, chunks, rows * chunks.cols >= parallel_min_entries);
}

/// What most jobs share: one pass over every row, the row's index as its context, no last pass.
/// A job derives from it and declares only what differs (aggregate-initialized as `Job{{}, ...}`).
struct IndexedRowJob {
    using Row = Index;
    static constexpr int passes = 1;
    bool keeps(Index) const { return true; }
    void skip(Index) const {}
    Row row(Index r) const { return r; }
    bool writes() const { return false; }
    void write(Index, Index, Index) const {}
};

/// Which rows count and how much: the options' mask (false drops a row) and weights (a kept row's
/// value counts w_r times in the reduction and its gradients are scaled by w_r).
class RowSelection {
public:
    /// \throws std::invalid_argument naming `function` if the weights do not match the rows or a
    /// weight is negative or not finite.
    RowSelection(const char* function, const Options& options, Index rows) : mask_(options.mask), weights_(options.weights)
    {
        if (!weights_.active()) return;
        if (weights_.size != rows) {
            fail(function, "options.weights",
                 "has " + std::to_string(weights_.size) + " entries for " + std::to_string(rows) + " rows");
        }
        for (Index r = 0; r < rows; ++r) {
            const double w = weights_.at(r);
            if (!(w >= 0.0 && std::isfinite(w))) fail(function, "options.weights", r, -1, describe("weight must be finite and >= 0, got", w));
        }
    }
    bool keeps(Index r) const { return mask_.keeps(r); }
    double weight(Index r) const { return weights_.at(r); }
    Index kept(Index rows) const
    {
        Index n = 0;
        for (Index r = 0; r < rows; ++r) n += keeps(r) ? 1 : 0;
        return n;
    }

private:
    RowMask mask_;
    RowWeights weights_;
};

/// Copies the entries of `from` into `to` (same shape), converted to To (half and bfloat16 to float). The inner loop runs along a row unless
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
            for (Index r = 0; r < from.rows; ++r) out[r * to.row_stride] = To(in[r * from.row_stride]);
        }
    } else {
        for (Index r = 0; r < from.rows; ++r) {
            const From* in = from.data + r * from.row_stride;
            To* out = to.data + r * to.row_stride;
            if constexpr (std::is_same_v<To, float>) {
                if (from.col_stride == 1 && to.col_stride == 1) {
                    simd::convert_to_float(in, out, from.cols);
                    continue;
                }
            }
            for (Index c = 0; c < from.cols; ++c) out[c * to.col_stride] = To(in[c * from.col_stride]);
        }
    }
}

/// Columns [begin, begin + n) of row r of a view: in place when its rows are contiguous, otherwise
/// copied into `buffer` (n entries; jobs read a strided row a block of at most fused_block columns
/// at a time, never the whole row). The same values either way.
template <class Scalar>
const Scalar* row_block(const MatrixView<const Scalar>& x, Index r, Index begin, Index n, Scalar* buffer)
{
    if (x.contiguous_rows()) return x.row(r) + begin;
    for (Index j = 0; j < n; ++j) buffer[j] = x(r, begin + j);
    return buffer;
}

/// Adds scale * x_rj, j in [begin, end), of row r of a view (any layout) to `state`, a block of
/// fused_block columns at a time (row_block): accumulate_logsumexp's own blocks, so the same bits as
/// one accumulate_logsumexp over the row in place.
template <class Scalar>
void accumulate_row_logsumexp(LogSumExp& state, const MatrixView<const Scalar>& x, Index r, Index begin, Index end, double scale)
{
    alignas(64) Scalar buffer[fused_block];
    for (Index b = begin; b < end; b += fused_block) {
        const Index n = std::min(fused_block, end - b);
        accumulate_logsumexp<simd::Packet<Scalar>>(state, row_block(x, r, b, n, buffer), 0, n, scale);
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

/// Sets row `row` of a view to 0 (the gradients of a row a job drops).
template <class Scalar>
void zero_row(const MatrixView<Scalar>& out, Index row)
{
    for (Index c = 0; c < out.cols; ++c) out(row, c) = Scalar(0);
}

/// The same view, read-only.
template <class Scalar>
MatrixView<const Scalar> read_only(const MatrixView<Scalar>& v)
{
    return {v.data, v.rows, v.cols, v.row_stride, v.col_stride};
}

/// Row-major scratch tiles through which rows that are not contiguous (column-major or strided
/// views) are staged: `buffers` tiles of tile_rows() x cols, up to 16 rows (a 64-byte line of a
/// column-major float matrix holds 16 rows of a column) and 2^19 entries each (16 x 32000 floats:
/// 2 MB), never B x V. Staged rows hold the same values as in place, so a job gives the same bits.
template <class Scalar>
class StagingTiles {
public:
    StagingTiles(Index rows, Index cols, int buffers)
        : cols_(cols), tile_(std::max(Index(1), std::min({Index(16), rows, Index(1 << 19) / std::max(cols, Index(1))}))),
          // Scratch rows a whole number of 64-byte lines long, an odd number of them: a column of the
          // tile then spans 16 cache sets instead of one (rows 4 KB apart would make copies thrash L1).
          stride_((((cols + line - 1) / line) | 1) * line), scratch_(std::size_t(buffers * tile_ * stride_))
    {
    }
    Index tile_rows() const { return tile_; }
    /// Tile k, n rows: a row-major view of the scratch (not initialized).
    MatrixView<Scalar> tile(int k, Index n)
    {
        MatrixView<Scalar> v;
        v.data = scratch_.data() + k * tile_ * stride_;
        v.rows = n;
        v.cols = cols_;
        v.row_stride = stride_;
        v.col_stride = 1;
        return v;
    }
    /// Copies rows [first, first + n) of `from` into tile k and returns the tile.
    template <class From>
    MatrixView<Scalar> stage(int k, const MatrixView<From>& from, Index first, Index n)
    {
        const MatrixView<Scalar> t = tile(k, n);
        copy_view(rows_of(from, first, n), t);
        return t;
    }

private:
    static constexpr Index line = 64 / Index(sizeof(Scalar));
    Index cols_, tile_, stride_;
    std::vector<Scalar> scratch_;
};

/// A generated row source: rows x cols entries value(i, j) computed on the fly, never stored whole
/// (a cost row c(x_i, y_j) of optimal transport, a kernel row k(x_i, y_j) of a kernel estimator).
/// Jobs read it a block at a time into a small buffer, then run the same vector code as on dense rows.
template <class Scalar, class Value>
struct GeneratedRows {
    Index rows = 0;
    Index cols = 0;
    Value value;  ///< Scalar value(Index i, Index j) const

    void fill(Index i, Index begin, Index end, Scalar* out) const
    {
        for (Index j = begin; j < end; ++j) out[j - begin] = Scalar(value(i, j));
    }
};

template <class Scalar, class Value>
GeneratedRows<Scalar, Value> generated_rows(Index rows, Index cols, Value value)
{
    return {rows, cols, std::move(value)};
}

/// The per-row log-sum-exp of scale * x over a dense view (any layout) or generated rows, on the
/// executor: out[i] = log sum_j exp(scale x_ij) (-inf for a row of -inf). Bitwise identical for any
/// number of threads, and between a generated source and the same values stored densely.
template <class Scalar, class Source>
struct RowLogSumExpJob : IndexedRowJob {
    const Source& source;
    double scale;
    double* out;

    LogSumExp start(Pass<0>, Index) const { return {}; }
    void accumulate(Pass<0>, LogSumExp& state, Index r, Index begin, Index end) const
    {
        if constexpr (std::is_same_v<Source, MatrixView<const Scalar>>) {
            accumulate_row_logsumexp(state, source, r, begin, end, scale);
        } else {
            // Blocks of fused_block entries through a buffer: the block boundaries are those of a
            // dense row, so the sums are too.
            Scalar buffer[fused_block];
            for (Index b = begin; b < end; b += fused_block) {
                const Index n = std::min(fused_block, end - b);
                source.fill(r, b, b + n, buffer);
                accumulate_logsumexp<simd::Packet<Scalar>>(state, buffer, 0, n, scale);
            }
        }
    }
    void merge(Pass<0>, LogSumExp& into, const LogSumExp& next, Index) const { into.merge(next, scale); }
    void finish(Pass<0>, Index& r, const LogSumExp& state) const { out[r] = state.value(scale); }
};

template <class Scalar, class Source>
void row_logsumexp(const Source& source, double scale, double* out, Index rows, Index cols)
{
    const RowLogSumExpJob<Scalar, Source> job{{}, source, scale, out};
    execute(job, rows, Chunks{cols, fused_chunk});
}

/// log sum_j exp(scale x_ij) of every row of a dense view.
template <class Scalar>
std::vector<double> row_logsumexp(const MatrixView<const Scalar>& x, double scale = 1.0)
{
    std::vector<double> out(std::size_t(x.rows));
    row_logsumexp<Scalar>(x, scale, out.data(), x.rows, x.cols);
    return out;
}

/// log sum_j exp(scale value(i, j)) of every generated row.
template <class Scalar, class Value>
std::vector<double> row_logsumexp(const GeneratedRows<Scalar, Value>& x, double scale = 1.0)
{
    std::vector<double> out(std::size_t(x.rows));
    row_logsumexp<Scalar>(x, scale, out.data(), x.rows, x.cols);
    return out;
}

}  // namespace divergence::detail

#endif
