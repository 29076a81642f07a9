#ifndef DIVERGENCE_OT_POINT_SOFTMIN_HPP
#define DIVERGENCE_OT_POINT_SOFTMIN_HPP

// The softmin half-iteration between point clouds with the squared Euclidean cost, a tile of rows at
// a time: for every row i,
//   out_i = -eps log sum_j exp(h_j - |x_i - y_j|^2 / eps),
//   h_j - |x_i - y_j|^2 / eps = h_j - (|x_i|^2 + |y_j|^2) / eps + sum_k (2 x_ik / eps) y_jk,
// for tile_rows rows at once over a block of `block` columns: each load of a coordinate y_jk feeds
// tile_rows FMAs, and the block's d x block coordinates stay in L1 for the whole tile (a row at a time,
// every row streamed all d coordinate rows of the other cloud from L2: at d = 16 the cost, not the
// exps, bounded the pass). The arguments of each row of the tile are then added to the row's
// log-sum-exp as the dense row pass does (its maximum, then one exp per entry).
//
// As an executor job a "row" is a tile (rows [tile_rows t, tile_rows (t + 1))), cut into the usual
// column chunks; a tile's states depend only on its rows and chunk, so results are bitwise the same
// on any number of threads.

#include <algorithm>
#include <array>
#include <vector>

#include "divergence/core/executor.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/ot/cost.hpp"
#include "divergence/ot/dense_softmin.hpp"


// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence::ot::detail {

/// out_i = -eps log sum_j exp(h_j - |x_i - y_j|^2 / eps) for the rows of a tile at a time (see above);
/// exponentials in the lanes of ExpScalar, as add_exponentials.
template <class ExpScalar>
struct PointTileSoftminJob : divergence::detail::IndexedRowJob {
    using LogSumExp = divergence::detail::LogSumExp;
    using D = divergence::detail::simd::Packet<double>;
    static constexpr Index width = divergence::detail::simd::lanes<D>;
    static constexpr Index tile_rows = 8;  ///< rows sharing each load of the other cloud's coordinates
    static constexpr Index block = 128;    ///< columns per block (d x block coordinates: 16 KB at d = 16)
    using State = std::array<LogSumExp, tile_rows>;

    const double* points;         ///< the rows' points, row-major (rows x d)
    const double* norms;          ///< |x_i|^2
    const double* columns_by_k;   ///< the other cloud's coordinates, d x cols
    const double* column_norms;   ///< |y_j|^2
    Index rows, cols, dimension;
    const double* h;              ///< cols entries (-inf where the weight is 0)
    double epsilon;
    double* out;                  ///< a value per row

    static Index tiles(Index rows) { return (rows + tile_rows - 1) / tile_rows; }

    State start(divergence::detail::Pass<0>, Index) const { return {}; }
    void accumulate(divergence::detail::Pass<0>, State& state, Index tile, Index begin, Index end) const
    {
        namespace simd = divergence::detail::simd;
        const Index i0 = tile * tile_rows, count = std::min(tile_rows, rows - i0);
        // 2 x_ik / eps per row of the tile and dimension (0 for the rows past the last)
        std::vector<double> coefficient(std::size_t(tile_rows * dimension), 0.0);
        const double inverse_epsilon = 1.0 / epsilon;
        for (Index r = 0; r < count; ++r) {
            for (Index k = 0; k < dimension; ++k) coefficient[std::size_t(r * dimension + k)] = 2.0 * points[(i0 + r) * dimension + k] * inverse_epsilon;
        }
        const D minus_inverse = simd::broadcast<D>(-inverse_epsilon);
        D row_norm[tile_rows];
        for (Index r = 0; r < tile_rows; ++r) row_norm[r] = simd::broadcast<D>(r < count ? norms[i0 + r] : 0.0);
        alignas(64) double t[tile_rows * block];
        for (Index b = begin; b < end; b += block) {
            const Index n = std::min(block, end - b);
            for (Index j = 0; j < n; j += width) {
                const Index lanes = std::min(width, n - j);
                const auto load = [lanes](const double* p) { return simd::load_upto<D>(p, lanes, 0.0); };
                const D hj = load(h + b + j), yn = load(column_norms + b + j);
                D acc[tile_rows];
                for (Index r = 0; r < tile_rows; ++r) acc[r] = simd::madd(simd::add(row_norm[r], yn), minus_inverse, hj);
                for (Index k = 0; k < dimension; ++k) {
                    const D y = load(columns_by_k + k * cols + b + j);
                    for (Index r = 0; r < tile_rows; ++r) acc[r] = simd::madd(simd::broadcast<D>(coefficient[std::size_t(r * dimension + k)]), y, acc[r]);
                }
                for (Index r = 0; r < tile_rows; ++r) simd::store(t + r * block + j, acc[r]);
            }
            for (Index r = 0; r < count; ++r) {
                const double largest = divergence::detail::block_max<D>(t + r * block, n);
                if (largest != -divergence::detail::infinity) add_exponentials<ExpScalar>(state[std::size_t(r)], t + r * block, n, largest);
            }
        }
    }
    void merge(divergence::detail::Pass<0>, State& into, const State& next, Index) const
    {
        for (std::size_t r = 0; r < into.size(); ++r) into[r].merge(next[r]);
    }
    void finish(divergence::detail::Pass<0>, Index& tile, const State& state) const
    {
        const Index i0 = tile * tile_rows, count = std::min(tile_rows, rows - i0);
        for (Index r = 0; r < count; ++r) out[i0 + r] = -epsilon * state[std::size_t(r)].value();
    }
};

/// out_i = -eps log sum_j exp(h_j - |x_i - y_j|^2 / eps) for every row of `cost` (either orientation),
/// by tiles of rows, on the executor.
template <class ExpScalar>
void point_tile_softmin(const PointCost<SquaredEuclidean>& cost, const std::vector<double>& h, double epsilon, std::vector<double>& out,
                        bool parallel)
{
    using Job = PointTileSoftminJob<ExpScalar>;
    const Clouds& c = cost.clouds();
    const bool t = cost.transposed();
    out.resize(std::size_t(cost.rows()));
    const Job job{{},
                  (t ? c.y : c.x).data(),
                  (t ? c.y_extra : c.x_extra).data(),
                  (t ? c.x_by_k : c.y_by_k).data(),
                  (t ? c.x_extra : c.y_extra).data(),
                  cost.rows(),
                  cost.cols(),
                  cost.dimension(),
                  h.data(),
                  epsilon,
                  out.data()};
    divergence::detail::execute(job, Job::tiles(cost.rows()), divergence::detail::Chunks{cost.cols(), divergence::detail::fused_chunk}, parallel);
}

}  // namespace divergence::ot::detail

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
