#ifndef DIVERGENCE_KERNEL_SELF_PAIRS_HPP
#define DIVERGENCE_KERNEL_SELF_PAIRS_HPP

// Gaussian kernel sums of a sample with itself, each unordered pair computed once.
//
// For a sample x (n x d) and k_h(a, b) = exp(-||a - b||^2 / (2 h^2)) the within-sample row sums
//   s_i = sum_j k_h(x_i, x_j)     (diagonal included: k_h(x_i, x_i) = 1)
// and the row-softmax forces P_i = sum_j (k_ij / s_i)(x_i - x_j) are symmetric in the pair (i, j):
// k_ij = k_ji and the force terms are opposite. So each pair's exponential is taken once and added
// to both rows: the rows are cut into tiles of 32 points, and every tile pair (a, b) with a <= b is
// computed once (the diagonal tile pair (a, a) once, whole, for row a only), its block of
// exponentials W_ab added to the row sums and forces of tile a (rows) and of tile b (columns).
// The n x n block triangle is (n/32)^2 / 2 tiles instead of (n/32)^2: half the exponentials and
// half the distances of the two directed passes, and the forces' GEMMs of a block serve both rows.
//
// Log domain without a running maximum: every exponent t_ij = -||x_i - x_j||^2 / (2 h^2) is <= 0
// and the diagonal's is exactly 0, so the largest term of every row is known before the pass (its
// own, 1): s_i = 1 + o_i, o_i = sum_{j != i} exp(t_ij), lies in [1, n] whatever h, no term
// overflows, the terms that underflow are below 1e-308 (double) or 1e-38 (float exponentials) of
// s_i, and l_i = log1p(o_i) keeps o_i's relative accuracy also where o_i is tiny (a small width).
// On the expanded path (||x||^2 + ||y||^2 - 2 x.y, kernel/gram.hpp) a rounding above 0 is clamped
// to 0, and the diagonal is left out of the pass and added exactly.
//
// Float exponentials (ExpScalar float): exp_of_nonpositive (kernel/gram.hpp), each term with float's
// relative error whatever |t|; the sums are in double.
//
// Determinism: the tiles are grouped into bands (about 16 of them; the band size depends on n
// only), and the band pairs are run in the rounds of a round-robin tournament (the circle method):
// in one round every band appears at most once, so the round's tasks write disjoint rows and run in
// parallel on the executor, and every row receives its blocks in the same order (round by round,
// then tile by tile within a task) whatever the number of threads: bitwise identical results.
//
// Cost: n^2 / 2 exponentials and, on the expanded path, n^2 d / 2 multiply-adds for the distances
// (one GEMM per block) and n^2 d for the forces (two GEMMs per block, one per side); memory
// O(n d) (the sums and forces) plus one 32 x 32 block per thread.

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "divergence/core/executor.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/kernel/gram.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence::kernel::detail {

/// The rounds of a round-robin tournament between `bands` bands (circle method: band `players - 1`
/// stays, the others rotate; a bye when the count is odd): every pair {a, b}, a < b, exactly once,
/// each band at most once per round. The first round is the diagonal: every (a, a).
inline std::vector<std::vector<std::pair<Index, Index>>> band_rounds(Index bands)
{
    std::vector<std::vector<std::pair<Index, Index>>> rounds(1);
    for (Index a = 0; a < bands; ++a) rounds[0].emplace_back(a, a);
    const Index players = bands + bands % 2, rotating = players - 1;
    for (Index r = 0; r < rotating; ++r) {
        std::vector<std::pair<Index, Index>> round;
        const auto play = [&](Index a, Index b) {
            if (a < bands && b < bands) round.emplace_back(std::min(a, b), std::max(a, b));
        };
        play(rotating, r);
        for (Index k = 1; k < players / 2; ++k) play((r + k) % rotating, (r + rotating - k) % rotating);
        if (!round.empty()) rounds.push_back(std::move(round));
    }
    return rounds;
}

/// The within-sample sums as an executor job over the band pairs of one round (see the header
/// comment): each task adds its blocks to the sums and moments of its two bands' rows, which no
/// other task of the round touches. Sums: sum_{j != i} w_ij (the diagonal's 1 is added at the end);
/// moments: exact path sum_j w_ij (x_i - x_j), expanded path sum_{j != i} w_ij x_j (two GEMMs a block).
template <class ExpScalar>
struct SelfPairsJob : WholeRowJob {
    static constexpr int tile = 32;
    /// Blocks whose row count is bounded at compile time: Eigen never splits their products over
    /// OpenMP threads (it would, from inside a serial executor run, for every small block).
    using Block = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor, tile, tile>;
    using TileRows = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor, tile, Eigen::Dynamic>;
    const SquaredDistances& distances;
    const std::pair<Index, Index>* band_pairs;  ///< this round's
    Index band_tiles;                           ///< tiles per band
    const double* by_coordinate;  ///< exact path: d x stride, point j's coordinate k at k * stride + j (0 past n)
    Index stride;
    double inverse_epsilon;
    bool forces;
    double* sums;     ///< n
    double* moments;  ///< n x d, row-major

    void accumulate(divergence::detail::Pass<0>, int&, Index task, Index, Index) const
    {
        const Index n = distances.rows(), tiles = (n + tile - 1) / tile;
        const auto [band_a, band_b] = band_pairs[task];
        const Index a_end = std::min(tiles, (band_a + 1) * band_tiles), b_end = std::min(tiles, (band_b + 1) * band_tiles);
        for (Index a = band_a * band_tiles; a < a_end; ++a) {
            for (Index b = band_a == band_b ? a : band_b * band_tiles; b < b_end; ++b) {
                if (distances.exact()) {
                    exact_block(a, b);
                } else {
                    expanded_block(a, b);
                }
            }
        }
    }

private:
    /// Adds the row sums of w (count_b entries, zero to `tile`) to row i, and its column sums to
    /// column_sums (off the diagonal).
    static double add_row(const double* w, bool diagonal, double* column_sums)
    {
        namespace simd = divergence::detail::simd;
        using D = simd::Packet<double>;
        constexpr Index width = simd::lanes<D>;
        D row = simd::broadcast<D>(0.0);
        for (Index k = 0; k < tile; k += width) {
            const D v = simd::load<D>(w + k);
            row = simd::add(row, v);
            if (!diagonal) simd::store(column_sums + k, simd::add(simd::load<D>(column_sums + k), v));
        }
        return simd::reduce_add(row);
    }

    struct BlockRows {
        Index first_a, count_a, first_b, count_b;
        bool diagonal;
    };
    /// The rows of tiles a (rows) and b (columns) of a block.
    BlockRows block_of(Index a, Index b) const
    {
        const Index n = distances.rows();
        return {a * tile, std::min(Index(tile), n - a * tile), b * tile, std::min(Index(tile), n - b * tile), a == b};
    }

    void exact_block(Index a, Index b) const
    {
        namespace simd = divergence::detail::simd;
        using D = simd::Packet<double>;
        constexpr Index width = simd::lanes<D>;
        const Index d = distances.dimension();
        const auto [first_a, count_a, first_b, count_b, diagonal] = block_of(a, b);
        alignas(64) double t[tile], w[tile], column_sums[tile] = {}, few_moments[4 * tile] = {};
        // the columns' force terms, d x tile (on the stack for d <= 4, the exact path's default)
        std::vector<double> many_moments(forces && !diagonal && d > 4 ? std::size_t(d * tile) : 0, 0.0);
        double* column_moments = d > 4 ? many_moments.data() : few_moments;
        const D minus_inverse_epsilon = simd::broadcast<D>(-inverse_epsilon);
        for (Index r = 0; r < count_a; ++r) {
            const double* point = distances.row_point(first_a + r);
            for (Index k = 0; k < tile; k += width) {
                D sum = simd::broadcast<D>(0.0);
                for (Index c = 0; c < d; ++c) {
                    const D diff = simd::sub(simd::broadcast<D>(point[c]), simd::load<D>(by_coordinate + c * stride + first_b + k));
                    sum = simd::madd(diff, diff, sum);
                }
                simd::store(t + k, simd::mul(sum, minus_inverse_epsilon));
            }
            exp_of_nonpositive<ExpScalar>(t, w, count_b, tile);
            if (diagonal) w[r] = 0.0;  // k(x_i, x_i) = 1 is added at the end
            sums[first_a + r] += add_row(w, diagonal, column_sums);
            if (!forces) continue;
            for (Index c = 0; c < d; ++c) {
                const double* other = by_coordinate + c * stride + first_b;
                const D xc = simd::broadcast<D>(point[c]);
                D row = simd::broadcast<D>(0.0);
                for (Index k = 0; k < tile; k += width) {
                    const D term = simd::mul(simd::load<D>(w + k), simd::sub(xc, simd::load<D>(other + k)));
                    row = simd::add(row, term);
                    if (!diagonal) {
                        double* column = column_moments + c * tile + k;
                        simd::store(column, simd::sub(simd::load<D>(column), term));
                    }
                }
                moments[(first_a + r) * d + c] += simd::reduce_add(row);
            }
        }
        if (diagonal) return;
        for (Index k = 0; k < count_b; ++k) sums[first_b + k] += column_sums[k];
        if (!forces) return;
        for (Index k = 0; k < count_b; ++k)
            for (Index c = 0; c < d; ++c) moments[(first_b + k) * d + c] += column_moments[c * tile + k];
    }

    void expanded_block(Index a, Index b) const
    {
        namespace simd = divergence::detail::simd;
        using D = simd::Packet<double>;
        constexpr Index width = simd::lanes<D>;
        const Index d = distances.dimension();
        const auto [first_a, count_a, first_b, count_b, diagonal] = block_of(a, b);
        const RowMatrix<double>& points = distances.row_points();
        const Eigen::VectorXd& norms = distances.row_norms();
        Eigen::Map<const RowMatrix<double>> xa(points.data() + first_a * d, count_a, d), xb(points.data() + first_b * d, count_b, d);
        // t_ij = min(0, (2 x_i . x_j - |x_i|^2 - |x_j|^2) / eps), the diagonal exactly 0
        Block inner(count_a, count_b);
        inner.noalias() = xa * xb.transpose();
        Block w(count_a, count_b);
        alignas(64) double t[tile] = {}, row_w[tile], column_sums[tile] = {}, column_norms[tile] = {};
        for (Index k = 0; k < count_b; ++k) column_norms[k] = -norms(first_b + k) * inverse_epsilon;
        const D two_over_epsilon = simd::broadcast<D>(2.0 * inverse_epsilon), zero = simd::broadcast<D>(0.0);
        for (Index r = 0; r < count_a; ++r) {
            const D row_norm = simd::broadcast<D>(-norms(first_a + r) * inverse_epsilon);
            const double* g = inner.row(r).data();
            Index k = 0;
            for (; k + width <= count_b; k += width) {
                const D v = simd::madd(simd::load<D>(g + k), two_over_epsilon, simd::add(row_norm, simd::load<D>(column_norms + k)));
                simd::store(t + k, simd::min(v, zero));
            }
            if (k < count_b) {
                const D v = simd::madd(simd::load_partial<D>(g + k, count_b - k, 0.0), two_over_epsilon,
                                       simd::add(row_norm, simd::load<D>(column_norms + k)));
                simd::store(t + k, simd::min(v, zero));
            }
            exp_of_nonpositive<ExpScalar>(t, row_w, count_b, tile);
            if (diagonal) row_w[r] = 0.0;  // k(x_i, x_i) = 1 is added at the end
            sums[first_a + r] += add_row(row_w, diagonal, column_sums);
            if (forces) std::copy(row_w, row_w + count_b, w.row(r).data());
        }
        if (!diagonal) {
            for (Index k = 0; k < count_b; ++k) sums[first_b + k] += column_sums[k];
        }
        if (!forces) return;
        TileRows moment(count_a, d);
        moment.noalias() = w * xb;
        Eigen::Map<RowMatrix<double>>(moments + first_a * d, count_a, d) += moment;
        if (diagonal) return;
        TileRows column_moment(count_b, d);
        column_moment.noalias() = w.transpose() * xa;
        Eigen::Map<RowMatrix<double>>(moments + first_b * d, count_b, d) += column_moment;
    }
};

/// The row log-sums l_i = log sum_j k_h(x_i, x_j) of a sample with itself (`self`: the pair (x, x))
/// and, when `softmax_forces` is not null, the row-softmax forces P_i = sum_j p_ij (x_i - x_j),
/// p_ij = k_h(x_i, x_j) / exp(l_i) (n x d), each unordered pair computed once (see the header comment).
template <class ExpScalar>
Eigen::VectorXd self_log_row_sums(const SquaredDistances& self, double epsilon, RowMatrix<double>* softmax_forces)
{
    using Job = SelfPairsJob<ExpScalar>;
    constexpr Index tile = Job::tile;
    const Index n = self.rows(), d = self.dimension(), tiles = (n + tile - 1) / tile;
    const bool forces = softmax_forces != nullptr;
    // Bands of about tiles / 16 tiles (at least 1): a function of n alone, so the order in which the
    // blocks reach a row does not depend on the number of threads.
    const Index band_tiles = std::max(Index(1), (tiles + 15) / 16), bands = (tiles + band_tiles - 1) / band_tiles;
    const Index stride = tiles * tile;
    std::vector<double> by_coordinate;
    if (self.exact()) {
        by_coordinate.assign(std::size_t(d * stride), 0.0);
        const RowMatrix<double>& points = self.row_points();
        for (Index i = 0; i < n; ++i)
            for (Index c = 0; c < d; ++c) by_coordinate[std::size_t(c * stride + i)] = points(i, c);
    }
    std::vector<double> sums(std::size_t(n), 0.0);
    RowMatrix<double> moments = RowMatrix<double>::Zero(forces ? n : 0, d);
    const bool parallel = ot::detail::worth_threads(n, n);
    for (const auto& round : band_rounds(bands)) {
        const Job job{{}, self, round.data(), band_tiles, by_coordinate.data(), stride, 1.0 / epsilon, forces, sums.data(), moments.data()};
        divergence::detail::execute(job, Index(round.size()), divergence::detail::Chunks{1, 1}, parallel);
    }
    // The largest term of every row is its own, exp(0) = 1: the log-sum-exp's reference is 0, and
    // l_i = log(1 + o_i) with o_i = sum_{j != i} k_ij, accurate also where o_i is tiny.
    Eigen::VectorXd l(n);
    for (Index i = 0; i < n; ++i) l(i) = std::log1p(sums[std::size_t(i)]);
    if (!forces) return l;
    softmax_forces->resize(n, d);
    const RowMatrix<double>& points = self.row_points();
    for (Index i = 0; i < n; ++i) {
        const double others = sums[std::size_t(i)], s = 1.0 + others;
        if (self.exact()) {
            softmax_forces->row(i) = moments.row(i) / s;  // sum_{j != i} k_ij (x_i - x_j) / s_i
        } else {
            softmax_forces->row(i) = (others * points.row(i) - moments.row(i)) / s;  // moments: sum_{j != i} k_ij x_j
        }
    }
    return l;
}

}  // namespace divergence::kernel::detail

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
