#ifndef DIVERGENCE_OT_DENSE_SOFTMIN_HPP
#define DIVERGENCE_OT_DENSE_SOFTMIN_HPP

// The two softmin half-iterations of Sinkhorn on a stored, row-major cost matrix C (n x m), both
// reading C by rows (no transposed copy is ever needed):
//   rows:    out_i = -eps log sum_j exp(h_j - c_ij / eps)   (RowSoftminJob, a row at a time),
//   columns: out_j = -eps log sum_i exp(h_i - c_ij / eps)   (ColumnSoftminJob, a tile of rows at a time).
// Both fuse the arguments and their maximum in one pass over a block held in L1 (the arguments
// h - c / eps in double, the block's maximum in registers), then take one exp per entry of the
// block, in double lanes or (float costs) in float lanes of arguments reduced by the maximum in
// double: a float lane's relative error (6e-8) then applies to each term, never to |h - c / eps|.
//
// Columns: C is streamed a tile of tile_rows rows at a time (each row front to back, tile_rows rows
// at once, the next tile's rows prefetched), and every column keeps a streaming log-sum-exp (max,
// sum) in double: per tile, the column's maximum over the tile's rows first (one rescale of the
// column's sum, and only where the maximum grew), then one exp per entry. As an executor job, the
// one "row" is the whole set of columns and the chunks are ranges of rows of C (row_chunk of them):
// a chunk's column states depend only on its rows and are merged in chunk order, so one thread (the
// row's chunks in turn) and several (chunk mode, a task per chunk) give bitwise the same results.

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "divergence/core/executor.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/simd.hpp"


// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence::ot::detail {

/// Adds the arguments t[0, n) (in double, largest their maximum, > -inf) to `state`, one exp per
/// entry in the lanes of ExpScalar. double: from the state's maximum, once raised to the block's (one
/// rescale at most), 8 independent exps in flight. float: lanes of t - largest (reduced in double,
/// then rounded), each lane summing `group` terms in float, then in double, merged into the state as
/// a part of maximum `largest` (as accumulate_logsumexp_in_float).
template <class ExpScalar>
void add_exponentials(divergence::detail::LogSumExp& state, const double* t, Index n, double largest)
{
    namespace simd = divergence::detail::simd;
    using D = simd::Packet<double>;
    constexpr Index width = simd::lanes<D>;
    const auto packet = [&](Index at) {  // t[at, at + width), -inf past n
        if (at >= n) return simd::broadcast<D>(-divergence::detail::infinity);
        return at + width <= n ? simd::load<D>(t + at) : simd::load_partial<D>(t + at, n - at, -divergence::detail::infinity);
    };
    if constexpr (std::is_same_v<ExpScalar, double>) {
        if (largest > state.max) {
            if (state.sum != 0.0) state.sum *= std::exp(state.reference() - largest);
            state.max = largest;
        }
        const D reference = simd::broadcast<D>(state.max);
        constexpr int unroll = 8;
        D sum[unroll];
        for (int q = 0; q < unroll; ++q) sum[q] = simd::broadcast<D>(0.0);
        Index at = 0;
        for (; at + unroll * width <= n; at += unroll * width) {
            for (int q = 0; q < unroll; ++q) sum[q] = simd::add(sum[q], simd::exp(simd::sub(simd::load<D>(t + at + q * width), reference)));
        }
        for (; at < n; at += width) sum[0] = simd::add(sum[0], simd::exp(simd::sub(packet(at), reference)));
        for (int q = 1; q < unroll; ++q) sum[0] = simd::add(sum[0], sum[q]);
        state.sum += simd::reduce_add(sum[0]);
    } else {
        using Lanes = simd::Packet<ExpScalar>;
        using WideLanes = simd::Wide<Lanes>;
        constexpr Index lanes = simd::lanes<Lanes>;
        constexpr int group = 4;
        const D reference = simd::broadcast<D>(largest);
        const auto term = [&](Index at) {
            simd::wide_t<Lanes> reduced[WideLanes::parts];
            for (int part = 0; part < WideLanes::parts; ++part) reduced[part] = simd::sub(packet(at + part * width), reference);
            return simd::exp(WideLanes::join(reduced));
        };
        simd::wide_t<Lanes> sum = simd::broadcast<simd::wide_t<Lanes>>(0.0);
        Index at = 0;
        for (; at + group * lanes <= n; at += group * lanes) {
            simd::add_wide(sum, simd::add(simd::add(term(at), term(at + lanes)), simd::add(term(at + 2 * lanes), term(at + 3 * lanes))));
        }
        for (; at < n; at += lanes) simd::add_wide(sum, term(at));
        divergence::detail::LogSumExp part;
        part.max = largest;
        part.sum = double(simd::reduce_add(sum));
        state.merge(part);
    }
}

/// out_i = -eps log sum_j exp(h_j - c_ij / eps) over the rows of the row-major matrix of Scalar
/// (cols columns), exponentials in the lanes of ExpScalar (float: each lane sums `group` terms in
/// float, then in double, as block_exp_sum).
template <class Scalar, class ExpScalar>
struct RowSoftminJob : divergence::detail::IndexedRowJob {
    using LogSumExp = divergence::detail::LogSumExp;
    using D = divergence::detail::simd::Packet<double>;
    using Input = divergence::detail::simd::Packet<Scalar>;
    static constexpr Index width = divergence::detail::simd::lanes<D>;
    static constexpr Index block = divergence::detail::fused_block;

    static constexpr Index ahead = 4096 / Index(sizeof(Scalar));  ///< prefetch distance (4 KB)

    const Scalar* matrix;  ///< row-major
    Index rows, cols;
    const double* h;       ///< cols entries: h_j = log w_j + potential_j / eps (-inf where w_j = 0)
    double epsilon;
    double* out;           ///< a value per row

    LogSumExp start(divergence::detail::Pass<0>, Index) const { return {}; }
    void accumulate(divergence::detail::Pass<0>, LogSumExp& state, Index i, Index begin, Index end) const
    {
        for (Index b = begin; b < end; b += block) add_block(state, i, b, std::min(block, end - b));
    }
    void merge(divergence::detail::Pass<0>, LogSumExp& into, const LogSumExp& next, Index) const { into.merge(next); }
    void finish(divergence::detail::Pass<0>, Index& i, const LogSumExp& state) const { out[i] = -epsilon * state.value(); }
    /// Row i's softmin as the executor's row mode computes it (chunks of fused_chunk columns merged in order).
    double row_value(Index i) const
    {
        const divergence::detail::Chunks chunks{cols, divergence::detail::fused_chunk};
        LogSumExp state;
        accumulate({}, state, i, chunks.begin(0), chunks.end(0));
        for (Index c = 1; c < chunks.count(); ++c) {
            LogSumExp part;
            accumulate({}, part, i, chunks.begin(c), chunks.end(c));
            state.merge(part);
        }
        return -epsilon * state.value();
    }

private:
    /// Adds the entries [b, b + n) of row i, n <= block.
    void add_block(LogSumExp& state, Index i, Index b, Index n) const
    {
        const Scalar* row = matrix + i * cols;
        // the entries `ahead` further on (the rest of this row, then the next): one stream of
        // prefetches keeps more lines in flight than the hardware prefetcher alone
        const Index prefetchable = rows * cols - (i * cols + b) - ahead;
        namespace simd = divergence::detail::simd;
        using Widen = simd::Wide<Input>;
        constexpr Index input_width = simd::lanes<Input>;
        alignas(64) double t[block];
        const double inverse_epsilon = 1.0 / epsilon;
        const D minus_inverse = simd::broadcast<D>(-inverse_epsilon), minus_infinity = simd::broadcast<D>(-divergence::detail::infinity);
        // t = h - c / eps and its maximum (two running maxima: one would wait on each max's latency)
        D hi[2] = {minus_infinity, minus_infinity};
        Index k = 0;
        for (; k + input_width <= n; k += input_width) {
            if (k < prefetchable) simd::prefetch(row + b + k + ahead);
            typename Widen::type c[Widen::parts];
            Widen::split(simd::load<Input>(row + b + k), c);
            for (int part = 0; part < Widen::parts; ++part) {
                const D v = simd::madd(c[part], minus_inverse, simd::load<D>(h + b + k + part * width));
                simd::store(t + k + part * width, v);
                hi[part % 2] = simd::max(hi[part % 2], v);
            }
        }
        double largest = simd::reduce_max(simd::max(hi[0], hi[1]));
        for (; k < n; ++k) {
            t[k] = h[b + k] - double(row[b + k]) * inverse_epsilon;
            largest = std::max(largest, t[k]);
        }
        if (largest == -divergence::detail::infinity) return;  // exp of every entry is 0
        add_exponentials<ExpScalar>(state, t, n, largest);
    }
};

/// The streaming log-sum-exp of every column of a set: column k's max and sum (LogSumExp's fields).
struct ColumnLogSumExps {
    std::vector<double> max, sum;
};

/// out_j = -eps log sum_i exp(h_i - c_ij / eps) over the row-major rows x cols matrix of Scalar,
/// exponentials in the lanes of ExpScalar (float: of arguments reduced by their column's maximum in
/// double, as accumulate_logsumexp_in_float; each lane sums `group` terms in float, then in double).
template <class Scalar, class ExpScalar>
struct ColumnSoftminJob : divergence::detail::IndexedRowJob {
    using D = divergence::detail::simd::Packet<double>;
    using Input = divergence::detail::simd::Packet<Scalar>;  ///< the packets the matrix is read in
    using Lanes = divergence::detail::simd::Packet<ExpScalar>;  ///< the packets exponentials are taken in
    static constexpr Index width = divergence::detail::simd::lanes<D>;
    static constexpr Index strip = 8 * width;  ///< columns handled at once (8 double packets)
    static constexpr Index tile_rows = 16;     ///< rows of the matrix per tile (16 streams read at once)
    static constexpr Index row_chunk = 1024;   ///< rows of the matrix per executor chunk
    static constexpr int group = 4;            ///< float lanes: terms summed in float before double

    const Scalar* matrix;  ///< row-major
    Index rows, cols;
    const double* h;       ///< rows entries: h_i = log w_i + potential_i / eps (-inf where w_i = 0)
    double epsilon;
    double* out;           ///< cols entries

    ColumnLogSumExps start(divergence::detail::Pass<0>, Index) const
    {
        return {std::vector<double>(std::size_t(cols), -divergence::detail::infinity), std::vector<double>(std::size_t(cols), 0.0)};
    }
    void accumulate(divergence::detail::Pass<0>, ColumnLogSumExps& state, Index, Index begin, Index end) const
    {
        for (Index i0 = begin; i0 < end; i0 += tile_rows) {
            const Index count = std::min(tile_rows, end - i0);
            Index j = 0;
            for (; j + strip <= cols; j += strip) add_strip(state, i0, count, j);
            for (; j < cols; ++j) add_column(state, i0, count, j);
        }
    }
    void merge(divergence::detail::Pass<0>, ColumnLogSumExps& into, const ColumnLogSumExps& next, Index) const
    {
        for (std::size_t j = 0; j < into.max.size(); ++j) {
            divergence::detail::LogSumExp a{into.max[j], into.sum[j]};
            a.merge({next.max[j], next.sum[j]});
            into.max[j] = a.max;
            into.sum[j] = a.sum;
        }
    }
    void finish(divergence::detail::Pass<0>, Index&, const ColumnLogSumExps& state) const
    {
        for (Index j = 0; j < cols; ++j) out[j] = -epsilon * divergence::detail::LogSumExp{state.max[std::size_t(j)], state.sum[std::size_t(j)]}.value();
    }

private:
    /// Rows [i0, i0 + count) of the columns [j, j + strip).
    void add_strip(ColumnLogSumExps& state, Index i0, Index count, Index j) const
    {
        namespace simd = divergence::detail::simd;
        using Widen = simd::Wide<Input>;
        constexpr Index packets = strip / width, input_width = simd::lanes<Input>;
        alignas(64) double t[tile_rows * strip];
        const D minus_inverse = simd::broadcast<D>(-1.0 / epsilon), minus_infinity = simd::broadcast<D>(-divergence::detail::infinity);
        D hi[packets];
        for (Index p = 0; p < packets; ++p) hi[p] = minus_infinity;
        // t_ij = h_i - c_ij / eps, and each column's maximum over the tile
        for (Index r = 0; r < count; ++r) {
            const Scalar* row = matrix + (i0 + r) * cols + j;
            const bool ahead = i0 + r + tile_rows < rows;  // the same columns of the next tile's row
            const D hr = simd::broadcast<D>(h[i0 + r]);
            for (Index q = 0; q < strip / input_width; ++q) {
                if (ahead) simd::prefetch(row + tile_rows * cols + q * input_width);
                typename Widen::type c[Widen::parts];
                Widen::split(simd::load<Input>(row + q * input_width), c);
                for (int part = 0; part < Widen::parts; ++part) {
                    const Index p = q * Widen::parts + part;
                    const D v = simd::madd(c[part], minus_inverse, hr);
                    simd::store(t + r * strip + p * width, v);
                    hi[p] = simd::max(hi[p], v);
                }
            }
        }
        // the columns' new maxima (rescaling a sum only where its maximum grew), and the references
        // the exponentials are taken from (0 where every entry so far is -inf: exp(-inf) = 0)
        double* const max = state.max.data() + j;
        double* const sum = state.sum.data() + j;
        D reference[packets];
        for (Index p = 0; p < packets; ++p) {
            const D old = simd::load<D>(max + p * width), top = simd::max(old, hi[p]);
            const D grew = simd::less(old, top);
            if (simd::any(grew)) {
                const D scale = simd::select(grew, simd::exp(simd::sub(old, top)), simd::broadcast<D>(1.0));
                simd::store(sum + p * width, simd::mul(simd::load<D>(sum + p * width), scale));
                simd::store(max + p * width, top);
            }
            reference[p] = simd::select(simd::equal(top, minus_infinity), simd::broadcast<D>(0.0), top);
        }
        D total[packets];
        for (Index p = 0; p < packets; ++p) total[p] = simd::broadcast<D>(0.0);
        if constexpr (std::is_same_v<ExpScalar, double>) {
            for (Index r = 0; r < count; ++r) {
                for (Index p = 0; p < packets; ++p) {
                    total[p] = simd::add(total[p], simd::exp(simd::sub(simd::load<D>(t + r * strip + p * width), reference[p])));
                }
            }
        } else {
            using WideLanes = simd::Wide<Lanes>;
            static_assert(std::is_same_v<typename WideLanes::type, D>, "float lanes widen to the double packet");
            constexpr Index float_packets = packets / WideLanes::parts;
            Lanes partial[float_packets];
            const auto flush = [&]() {
                for (Index q = 0; q < float_packets; ++q) {
                    D wide[WideLanes::parts];
                    WideLanes::split(partial[q], wide);
                    for (int part = 0; part < WideLanes::parts; ++part) total[q * WideLanes::parts + part] = simd::add(total[q * WideLanes::parts + part], wide[part]);
                    partial[q] = simd::broadcast<Lanes>(0.0f);
                }
            };
            for (Index q = 0; q < float_packets; ++q) partial[q] = simd::broadcast<Lanes>(0.0f);
            for (Index r = 0; r < count; ++r) {
                for (Index q = 0; q < float_packets; ++q) {
                    D reduced[WideLanes::parts];
                    for (int part = 0; part < WideLanes::parts; ++part) {
                        const Index p = q * WideLanes::parts + part;
                        reduced[part] = simd::sub(simd::load<D>(t + r * strip + p * width), reference[p]);
                    }
                    partial[q] = simd::add(partial[q], simd::exp(WideLanes::join(reduced)));
                }
                if ((r + 1) % group == 0) flush();
            }
            if (count % group != 0) flush();
        }
        for (Index p = 0; p < packets; ++p) simd::store(sum + p * width, simd::add(simd::load<D>(sum + p * width), total[p]));
    }

    /// Rows [i0, i0 + count) of column j alone (the columns past the last whole strip).
    void add_column(ColumnLogSumExps& state, Index i0, Index count, Index j) const
    {
        divergence::detail::LogSumExp s{state.max[std::size_t(j)], state.sum[std::size_t(j)]};
        const double inverse_epsilon = 1.0 / epsilon;
        for (Index r = i0; r < i0 + count; ++r) s.add(h[r] - double(matrix[r * cols + j]) * inverse_epsilon);
        state.max[std::size_t(j)] = s.max;
        state.sum[std::size_t(j)] = s.sum;
    }
};

/// The softmin of every row (transposed = false: out has `rows` entries) or of every column
/// (transposed = true: `cols` entries) of the row-major rows x cols matrix, on the executor.
template <class ExpScalar, class Scalar>
void dense_softmin(const Scalar* matrix, Index rows, Index cols, bool transposed, const std::vector<double>& h, double epsilon,
                   std::vector<double>& out, bool parallel)
{
    if (!transposed) {
        out.resize(std::size_t(rows));
        const RowSoftminJob<Scalar, ExpScalar> job{{}, matrix, rows, cols, h.data(), epsilon, out.data()};
        divergence::detail::execute(job, rows, divergence::detail::Chunks{cols, divergence::detail::fused_chunk}, parallel);
        return;
    }
    using Job = ColumnSoftminJob<Scalar, ExpScalar>;
    out.resize(std::size_t(cols));
    const Job job{{}, matrix, rows, cols, h.data(), epsilon, out.data()};
    divergence::detail::execute(job, 1, divergence::detail::Chunks{rows, Job::row_chunk}, parallel);
}

/// Both half-iterations of alternating Sinkhorn in one pass over the matrix (read from memory once per
/// iteration instead of twice): for each tile of tile_rows rows, every row's softmin s_i first (as
/// RowSoftminJob), then h_rows[i] = next(i, s_i) (the new potential's argument of the column softmin),
/// then the tile's rows, still in cache, added to the column states (as ColumnSoftminJob). The rows are
/// cut into the column job's chunks, each chunk's column states kept apart and merged in chunk order
/// afterwards: the results are bitwise those of the two separate passes, on any number of threads.
template <class Scalar, class ExpScalar, class Next>
struct FusedSoftminJob : divergence::detail::IndexedRowJob {
    using Columns = ColumnSoftminJob<Scalar, ExpScalar>;
    const RowSoftminJob<Scalar, ExpScalar>& row_job;
    const Columns& column_job;
    const Next& next;
    double* h_rows;
    ColumnLogSumExps* parts;  ///< one per chunk of rows

    int start(divergence::detail::Pass<0>, Index) const { return 0; }
    void merge(divergence::detail::Pass<0>, int&, const int&, Index) const {}
    void finish(divergence::detail::Pass<0>, Index&, const int&) const {}
    void accumulate(divergence::detail::Pass<0>, int&, Index chunk, Index, Index) const
    {
        const Index begin = chunk * Columns::row_chunk, end = std::min(column_job.rows, begin + Columns::row_chunk);
        ColumnLogSumExps& state = parts[chunk];
        state = column_job.start({}, 0);
        for (Index i0 = begin; i0 < end; i0 += Columns::tile_rows) {
            const Index tile_end = std::min(end, i0 + Columns::tile_rows);
            for (Index i = i0; i < tile_end; ++i) {
                const double s = row_job.row_value(i);
                row_job.out[i] = s;
                h_rows[i] = next(i, s);
            }
            column_job.accumulate({}, state, 0, i0, tile_end);
        }
    }
};

/// row_out_i = -eps log sum_j exp(h_columns_j - c_ij / eps), h_rows_i = next(i, row_out_i), and
/// column_out_j = -eps log sum_i exp(h_rows_i - c_ij / eps), in one pass over the row-major rows x cols
/// matrix (FusedSoftminJob): bitwise the results of dense_softmin's two passes.
template <class ExpScalar, class Scalar, class Next>
void fused_dense_softmins(const Scalar* matrix, Index rows, Index cols, const std::vector<double>& h_columns, double epsilon,
                          std::vector<double>& row_out, const Next& next, std::vector<double>& h_rows, std::vector<double>& column_out,
                          bool parallel)
{
    using Columns = ColumnSoftminJob<Scalar, ExpScalar>;
    row_out.resize(std::size_t(rows));
    h_rows.resize(std::size_t(rows));
    column_out.resize(std::size_t(cols));
    const RowSoftminJob<Scalar, ExpScalar> row_job{{}, matrix, rows, cols, h_columns.data(), epsilon, row_out.data()};
    const Columns column_job{{}, matrix, rows, cols, h_rows.data(), epsilon, column_out.data()};
    const divergence::detail::Chunks chunks{rows, Columns::row_chunk};
    std::vector<ColumnLogSumExps> parts(std::size_t(chunks.count()));
    const FusedSoftminJob<Scalar, ExpScalar, Next> job{{}, row_job, column_job, next, h_rows.data(), parts.data()};
    divergence::detail::execute(job, chunks.count(), divergence::detail::Chunks{1, 1}, parallel);
    for (std::size_t c = 1; c < parts.size(); ++c) column_job.merge({}, parts[0], parts[c], 0);
    Index only = 0;
    column_job.finish({}, only, parts[0]);
}

}  // namespace divergence::ot::detail

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
