#ifndef DIVERGENCE_KERNEL_GRAM_HPP
#define DIVERGENCE_KERNEL_GRAM_HPP

// Pairwise Gaussian kernel sums between two samples, streamed: the machinery of the sample-based
// (kernel) estimators. Samples are matrices whose rows are the points (x: n x d, y: m x d, float
// or double). With the kernel k_h(a, b) = exp(-||a - b||^2 / (2 h^2)) (h: the kernel's width) and
// column weights w_j = exp(b_j):
//   log_row_sums:             l_i = log sum_j w_j k_h(x_i, y_j)                       (n values)
//   log_total:                log sum_ij w_j k_h(x_i, y_j) = log sum_i exp(l_i)
//   log_row_sums_and_forces:  l and P_i = sum_j p_ij (x_i - y_j), p_ij = w_j k_h(x_i, y_j) / exp(l_i)
//                             (the row's softmax weights) in one pass                   (n x d)
//   forces:                   F_i = sum_j exp(a_i + b_j) k_h(x_i, y_j) (x_i - y_j)     (n x d)
// The gradient of L = log sum_ij w_j k_h(x_i, y_j) with respect to x_i is -exp(l_i - L) P_i / h^2
// (= -F_i / h^2 with a_i = -L).
// Every sum is a log-sum-exp, a tile of rows x a block of columns at a time: the arguments
// b_j - ||x_i - y_j||^2 / (2 h^2) are computed into a small buffer (never an n x m matrix), each
// row with a running maximum (the online softmax), the exponentials in the SIMD layer (float lanes
// for float samples), the sums in double. The row sums alone are the softmin job of the Sinkhorn
// solver (log sum_j exp(h_j - c_ij / eps) with eps = 2 h^2 and the squared distances as its cost);
// the row sums with their forces a job of tiles of rows on the same executor. Nothing underflows: a tiny h gives large
// negative logarithms, never log 0 or NaN, and results are bitwise the same for any number of
// threads. A sample with itself: kernel/self_pairs.hpp (each unordered pair once).
//
// Squared distances, two paths (DistancePath):
//   expanded: ||x||^2 + ||y||^2 - 2 x.y (the form a GEMM evaluates), on samples first centered on
//     their common mean in double. Rounding error of one distance, with x, y the centered points:
//       |computed - exact| <= gamma_{d+2} (||x|| + ||y||)^2,  gamma_k = k u / (1 - k u), u = 2^-53,
//     i.e. an absolute error that does not shrink with the distance (cancellation): for points at
//     distance r << ||x||, the relative error is about (d + 2) u ||x||^2 / r^2. In the exponent the
//     error is that over 2 h^2 (unit-scale data, h = 1e-3: about 1e-10). The explicit matrix
//     (squared_distances) is clamped at 0; in the sums a rounding below 0 only moves an exponent
//     by that same amount.
//   exact: sum_k (x_k - y_k)^2 from the differences, relative error <= gamma_{d+1}, 0 for equal
//     points. The default (automatic) for d <= 4, where it costs the same.
// forces() and the exact path compute the forces from the differences x_i - y_j; the expanded path
// of log_row_sums_and_forces as x_i - sum_j p_ij y_j (a GEMM; absolute error ~ (d + 2) u max ||y||).
//
// Cost: O(n m d) time, O((n + m) d) memory (the samples in double, also transposed).

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/ot/cost.hpp"
#include "divergence/ot/sinkhorn.hpp"

// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence::kernel {

/// How squared distances are computed (see the header comment for the error bounds).
enum class DistancePath {
    automatic,  ///< exact for d <= 4, expanded above
    expanded,   ///< ||x||^2 + ||y||^2 - 2 x.y on centered samples (one FMA per coordinate)
    exact,      ///< sum_k (x_k - y_k)^2
};

namespace detail {

using divergence::detail::describe;
using divergence::detail::fail;
using divergence::detail::infinity;

/// Checks a sample: at least one point, dimension >= 1, finite entries.
template <class Derived>
void check_sample(const char* function, const char* argument, const Eigen::MatrixBase<Derived>& s)
{
    static_assert(std::is_same_v<typename Derived::Scalar, float> || std::is_same_v<typename Derived::Scalar, double>,
                  "divergence: a sample's scalar type must be float or double; convert it, e.g. x.cast<double>().");
    if (s.rows() == 0) fail(function, argument, "is empty (no samples)");
    ot::detail::check_points(function, argument, s);
}

/// Checks that two samples have the same dimension.
inline void check_dimensions(const char* function, const char* argument, Index got, const char* other, Index expected)
{
    if (got != expected) {
        fail(function, argument,
             "has samples of dimension " + std::to_string(got) + ", '" + other + "' of dimension " + std::to_string(expected));
    }
}

/// Checks a kernel width h: finite, > 0, and 2 h^2 and its inverse finite and nonzero in double.
inline double check_bandwidth(const char* function, const char* argument, double h)
{
    if (!(h > 0.0) || !std::isfinite(h)) fail(function, argument, describe("bandwidth must be finite and > 0, got", h));
    const double epsilon = 2.0 * h * h;
    if (!(epsilon >= std::numeric_limits<double>::min()) || !std::isfinite(epsilon)) {
        fail(function, argument, describe("bandwidth out of range (2 h^2 must be a finite, normal double), got", h));
    }
    return epsilon;
}

/// Checks that every squared distance, and every centered squared norm, is finite in double: the
/// bounding box of both samples has sum_k range_k^2 <= DBL_MAX / 8. Otherwise names the entry
/// of largest magnitude.
template <class DX, class DY>
void check_spread(const char* function, const char* x_name, const Eigen::MatrixBase<DX>& x, const char* y_name, const Eigen::MatrixBase<DY>& y)
{
    const Eigen::RowVectorXd lo = x.template cast<double>().colwise().minCoeff().cwiseMin(y.template cast<double>().colwise().minCoeff());
    const Eigen::RowVectorXd hi = x.template cast<double>().colwise().maxCoeff().cwiseMax(y.template cast<double>().colwise().maxCoeff());
    double spread = 0.0;
    for (Index k = 0; k < lo.size(); ++k) spread += (hi(k) - lo(k)) * (hi(k) - lo(k));
    if (spread <= std::numeric_limits<double>::max() / 8.0) return;
    const char* name = x_name;
    Index row = 0, column = 0;
    double farthest = -1.0;
    const auto scan = [&](const auto& s, const char* n) {
        for (Index i = 0; i < s.rows(); ++i)
            for (Index k = 0; k < s.cols(); ++k) {
                const double from_center = std::abs(double(s(i, k)));
                if (from_center > farthest) farthest = from_center, name = n, row = i, column = k;
            }
    };
    scan(x, x_name);
    scan(y, y_name);
    fail(function, name, row, column, describe("too far from the other samples (squared distances overflow), value", double((name == x_name ? x(row, column) : y(row, column)))));
}

template <class DX, class DY>
void check_same_scalar()
{
    static_assert(std::is_same_v<typename DX::Scalar, typename DY::Scalar>,
                  "divergence: x and y must have the same scalar type; convert one (x.cast<double>() or y.cast<float>()).");
}

/// The squared distances between two samples as a cost source of the executor's jobs (the
/// interface of ot::detail::PointCost): rows() x cols() entries, fill, softmin_fill, transpose,
/// plus add_differences for the forces. The samples are stored once (centered, in double, also
/// transposed) and shared with the transposed source.
class SquaredDistances {
public:
    template <class DX, class DY>
    static SquaredDistances make(const char* function, const char* x_name, const Eigen::MatrixBase<DX>& x, const char* y_name,
                                 const Eigen::MatrixBase<DY>& y, DistancePath path)
    {
        check_sample(function, x_name, x);
        check_sample(function, y_name, y);
        check_dimensions(function, y_name, y.cols(), x_name, x.cols());
        check_spread(function, x_name, x, y_name, y);
        auto c = std::make_shared<ot::detail::Clouds>();
        c->x = x.template cast<double>();
        c->y = y.template cast<double>();
        // Translation invariant: centering on the common mean keeps the expanded form's
        // cancellation (||x||^2 + ||y||^2 - 2 x.y) to the spread of the samples, not their offset.
        const Eigen::RowVectorXd center = (c->x.colwise().sum() + c->y.colwise().sum()) / double(x.rows() + y.rows());
        c->x.rowwise() -= center;
        c->y.rowwise() -= center;
        c->x_extra = c->x.rowwise().squaredNorm();
        c->y_extra = c->y.rowwise().squaredNorm();
        c->x_by_k = c->x.transpose();
        c->y_by_k = c->y.transpose();
        const bool exact = path == DistancePath::exact || (path == DistancePath::automatic && x.cols() <= 4);
        auto zeros = std::make_shared<const std::vector<double>>(std::size_t(std::max(x.rows(), y.rows())), 0.0);
        return SquaredDistances(std::move(c), std::move(zeros), false, exact);
    }

    Index rows() const { return transposed_ ? clouds_->y.rows() : clouds_->x.rows(); }
    Index cols() const { return transposed_ ? clouds_->x.rows() : clouds_->y.rows(); }
    Index dimension() const { return clouds_->x.cols(); }
    bool exact() const { return exact_; }
    SquaredDistances transpose() const { return SquaredDistances(clouds_, zeros_, !transposed_, exact_); }
    static constexpr bool has_points = true;
    /// The (centered) point of row i.
    const double* row_point(Index i) const { return (transposed_ ? clouds_->y : clouds_->x).row(i).data(); }
    /// The centered points of the rows (rows() x d) and of the columns (cols() x d), and their squared norms.
    const RowMatrix<double>& row_points() const { return transposed_ ? clouds_->y : clouds_->x; }
    const RowMatrix<double>& column_points() const { return transposed_ ? clouds_->x : clouds_->y; }
    const Eigen::VectorXd& row_norms() const { return transposed_ ? clouds_->y_extra : clouds_->x_extra; }
    const Eigen::VectorXd& column_norms() const { return transposed_ ? clouds_->x_extra : clouds_->y_extra; }

    /// out[t] = h[j] - ||row i - column j||^2 * inverse_epsilon, j = begin + t (a softmin row's arguments).
    void softmin_fill(Index i, Index begin, Index end, const double* h, double inverse_epsilon, double* out) const
    {
        if (!exact_) {
            expanded_.softmin_fill(i, begin, end, h, inverse_epsilon, out);
            return;
        }
        switch (dimension()) {
        case 1: exact_fill<1>(i, begin, end, h, inverse_epsilon, out); break;
        case 2: exact_fill<2>(i, begin, end, h, inverse_epsilon, out); break;
        case 3: exact_fill<3>(i, begin, end, h, inverse_epsilon, out); break;
        case 4: exact_fill<4>(i, begin, end, h, inverse_epsilon, out); break;
        default: exact_fill<0>(i, begin, end, h, inverse_epsilon, out); break;
        }
    }

    /// sum_i (row point i) . f_i over every row (centered points; f: rows x dimension, row-major).
    double dot_rows(const double* f) const
    {
        const RowMatrix<double>& p = transposed_ ? clouds_->y : clouds_->x;
        return (p.array() * Eigen::Map<const RowMatrix<double>>(f, p.rows(), p.cols()).array()).sum();
    }

    /// out[t] = ||row i - column begin + t||^2 (not clamped: see squared_distances).
    void fill(Index i, Index begin, Index end, double* out) const { softmin_fill(i, begin, end, zeros_->data(), -1.0, out); }

    /// force[k] += sum_t w[t] (row i - column begin + t)_k, t < end - begin, in packets (from the
    /// differences: exact for equal points, whatever the path of the distances).
    void add_differences(Index i, Index begin, Index end, const double* w, double* force) const
    {
        namespace simd = divergence::detail::simd;
        using D = simd::Packet<double>;
        constexpr Index width = simd::lanes<D>;
        const RowMatrix<double>& columns = transposed_ ? clouds_->x_by_k : clouds_->y_by_k;
        const double* point = row_point(i);
        const Index n = end - begin;
        for (Index k = 0; k < dimension(); ++k) {
            const double* y = columns.data() + k * columns.cols() + begin;
            const D xk = simd::broadcast<D>(point[k]);
            D a0 = simd::broadcast<D>(0.0), a1 = a0;
            Index t = 0;
            for (; t + 2 * width <= n; t += 2 * width) {
                a0 = simd::madd(simd::load<D>(w + t), simd::sub(xk, simd::load<D>(y + t)), a0);
                a1 = simd::madd(simd::load<D>(w + t + width), simd::sub(xk, simd::load<D>(y + t + width)), a1);
            }
            for (; t + width <= n; t += width) a0 = simd::madd(simd::load<D>(w + t), simd::sub(xk, simd::load<D>(y + t)), a0);
            if (t < n) {
                a1 = simd::madd(simd::load_partial<D>(w + t, n - t, 0.0), simd::sub(xk, simd::load_partial<D>(y + t, n - t, 0.0)), a1);
            }
            force[k] += simd::reduce_add(simd::add(a0, a1));
        }
    }

private:
    SquaredDistances(std::shared_ptr<const ot::detail::Clouds> clouds, std::shared_ptr<const std::vector<double>> zeros, bool transposed,
                     bool exact)
        : clouds_(clouds), zeros_(std::move(zeros)), expanded_(clouds, transposed), transposed_(transposed), exact_(exact)
    {
    }

    /// softmin_fill from the differences, Dim dimensions (0: any), in packets.
    template <int Dim>
    void exact_fill(Index i, Index begin, Index end, const double* h, double inverse_epsilon, double* out) const
    {
        namespace simd = divergence::detail::simd;
        using D = simd::Packet<double>;
        constexpr Index width = simd::lanes<D>;
        const RowMatrix<double>& columns = transposed_ ? clouds_->x_by_k : clouds_->y_by_k;
        const Index d = Dim > 0 ? Dim : dimension();
        const double* point = row_point(i);
        const D minus_inverse_epsilon = simd::broadcast<D>(-inverse_epsilon);
        const auto argument = [&](Index j, auto load) {
            D sum = simd::broadcast<D>(0.0);
            for (Index k = 0; k < d; ++k) {
                const D diff = simd::sub(simd::broadcast<D>(point[k]), load(columns.data() + k * columns.cols() + j));
                sum = simd::madd(diff, diff, sum);
            }
            return simd::madd(sum, minus_inverse_epsilon, load(h + j));
        };
        Index j = begin;
        for (; j + width <= end; j += width) simd::store(out + (j - begin), argument(j, [](const double* p) { return simd::load<D>(p); }));
        if (j < end) {
            const Index n = end - j;
            simd::store_partial(out + (j - begin), argument(j, [n](const double* p) { return simd::load_partial<D>(p, n, 0.0); }), n);
        }
    }

    std::shared_ptr<const ot::detail::Clouds> clouds_;
    std::shared_ptr<const std::vector<double>> zeros_;
    ot::detail::PointCost<ot::SquaredEuclidean> expanded_;
    bool transposed_;
    bool exact_;
};

/// w[k] = exp(t[k]) for k < count (t[k] <= 0), in lanes of ExpScalar, w[k] = 0 for count <= k < size.
/// t and w hold `size` entries, a multiple of the float packet width (t's entries past count are
/// finite). Float: t (double) is rounded to float t_f and exp(t) = exp(t_f) (1 + (t - t_f)), the
/// exponent's rounding t - t_f (exact in double, at most 6e-8 |t|) restored to first order (the
/// neglected (t - t_f)^2 / 2 is below 2e-15 t^2): each term keeps float's relative error (a few
/// 1e-8) whatever |t|, where rounding t itself to float would err by 6e-8 |t|.
template <class ExpScalar>
DIVERGENCE_SIMD_INLINE void exp_of_nonpositive(const double* t, double* w, Index count, Index size)
{
    namespace simd = divergence::detail::simd;
    using D = simd::Packet<double>;
    if constexpr (std::is_same_v<ExpScalar, float>) {
        using F = simd::Packet<float>;
        using Widen = simd::Wide<F>;
        using Part = simd::wide_t<F>;
        constexpr Index width = simd::lanes<F>, part = width / Widen::parts;
        // below -200 every term is 0 in float; the clamp keeps t_f finite (|t| may exceed FLT_MAX)
        const Part lowest = simd::broadcast<Part>(-200.0);
        for (Index k = 0; k < size; k += width) {
            Part exact[Widen::parts], rounding[Widen::parts];
            for (int q = 0; q < Widen::parts; ++q) exact[q] = simd::max(simd::load<Part>(t + k + q * part), lowest);
            const F rounded = Widen::join(exact);
            Widen::split(rounded, rounding);
            for (int q = 0; q < Widen::parts; ++q) rounding[q] = simd::sub(exact[q], rounding[q]);
            const F e = simd::exp(rounded);
            Widen::split(simd::madd(e, Widen::join(rounding), e), exact);
            for (int q = 0; q < Widen::parts; ++q) simd::store(w + k + q * part, exact[q]);
        }
    } else {
        constexpr Index width = simd::lanes<D>;
        for (Index k = 0; k < size; k += width) simd::store(w + k, simd::exp(simd::load<D>(t + k)));
    }
    for (Index k = count; k < size; ++k) w[k] = 0.0;
}

/// A job whose one pass sees each row whole (one chunk per row, the caller's Chunks{cols, cols}) and
/// writes its results directly from accumulate(): no state to merge.
struct WholeRowJob : divergence::detail::IndexedRowJob {
    int start(divergence::detail::Pass<0>, Index) const { return 0; }
    void merge(divergence::detail::Pass<0>, int&, const int&, Index) const {}
    void finish(divergence::detail::Pass<0>, Index&, const int&) const {}
};

/// The forces job: for every row i, force_i += sum_j exp(row_log_scale_i + h_j - ||x_i - y_j||^2
/// * inverse_epsilon) (x_i - y_j), a block of the row at a time (softmin arguments, exp, differences).
/// One chunk per row: each force row is written by one task.
struct ForcesJob : WholeRowJob {
    const SquaredDistances& distances;
    const double* h;              ///< column log weights (-inf: weight 0)
    const double* row_log_scale;  ///< per row (finite or -inf)
    double inverse_epsilon;
    double* force;  ///< row-major rows x dimension

    void accumulate(divergence::detail::Pass<0>, int&, Index i, Index begin, Index end) const
    {
        constexpr Index block = divergence::detail::fused_block;
        if (row_log_scale[i] == -infinity) return;
        alignas(64) double t[block], w[block];
        for (Index b = begin; b < end; b += block) {
            const Index n = std::min(block, end - b);
            ot::detail::softmin_arguments(distances, i, b, b + n, h, inverse_epsilon, t);
            ot::detail::exp_shifted(t, row_log_scale[i], w, n);
            distances.add_differences(i, b, b + n, w, force + i * distances.dimension());
        }
    }
};

/// Row log-sums and row-softmax forces in one pass, a tile of rows x a block of columns at a time
/// (the online softmax of attention kernels): for each row i a running maximum M_i of the arguments
/// t_ij = b_j - ||x_i - y_j||^2 / eps, the sum s_i = sum_j exp(t_ij - M_i) and
/// G_i = sum_j exp(t_ij - M_i) (x_i - y_j) (exact path, from the differences) or
/// sum_j exp(t_ij - M_i) y_j (expanded path: a GEMM per tile), both rescaled when M_i grows. Finally
/// l_i = M_i + log s_i and P_i = G_i / s_i (exact) or x_i - G_i / s_i (expanded): the forces with the
/// row's softmax weights p_ij = exp(t_ij - l_i). Expanded: the arguments of a tile are one GEMM
/// (x_i . y_j for tile_rows x block columns), so d >= 8 runs at GEMM speed.
/// Each task owns its tile's rows of the outputs. Exponentials in ExpScalar lanes (exp_of_nonpositive).
template <class ExpScalar>
struct SoftmaxForcesJob : WholeRowJob {
    static constexpr int tile_rows = 32;
    static constexpr Index block_cols = 256;
    static constexpr Index exp_lanes = 16;  ///< a multiple of every float packet's width
    /// Tiles whose row count is bounded at compile time: Eigen then never splits their products
    /// over OpenMP threads (it would, from inside a serial executor run, for every small tile).
    using Tile = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor, tile_rows, Eigen::Dynamic>;
    const SquaredDistances& distances;
    const double* h;  ///< column log weights (-inf: weight 0)
    double inverse_epsilon;
    double* log_sums;  ///< rows
    double* force;     ///< rows x dimension, row-major; null: the log-sums alone

    void accumulate(divergence::detail::Pass<0>, int&, Index tile, Index, Index) const
    {
        namespace simd = divergence::detail::simd;
        using D = simd::Packet<double>;
        const Index first = tile * tile_rows, count = std::min(Index(tile_rows), distances.rows() - first), d = distances.dimension();
        const Index m = distances.cols();
        const bool exact = distances.exact();
        Eigen::Map<const RowMatrix<double>> x(distances.row_points().data() + first * d, count, d);
        const RowMatrix<double>& y = distances.column_points();
        const bool forces = force != nullptr;
        Tile g = Tile::Zero(count, forces ? d : 0), t = Tile::Zero(count, block_cols), w(count, block_cols);
        std::vector<double> top(std::size_t(count), -infinity), sum(std::size_t(count), 0.0);
        for (Index j0 = 0; j0 < m; j0 += block_cols) {
            const Index n = std::min(block_cols, m - j0);
            auto tb = t.leftCols(n);
            if (exact) {
                for (Index r = 0; r < count; ++r) distances.softmin_fill(first + r, j0, j0 + n, h, inverse_epsilon, t.row(r).data());
            } else {
                // t_ij = h_j - (|x_i|^2 + |y_j|^2) / eps + (2 / eps) x_i . y_j
                tb.noalias() = (2.0 * inverse_epsilon) * (x * y.middleRows(j0, n).transpose());
                for (Index r = 0; r < count; ++r) {
                    const double xr = distances.row_norms()(first + r);
                    double* row = t.row(r).data();
                    for (Index k = 0; k < n; ++k) row[k] += h[j0 + k] - (xr + distances.column_norms()(j0 + k)) * inverse_epsilon;
                }
            }
            for (Index r = 0; r < count; ++r) {
                double* row = t.row(r).data();
                double* wr = w.row(r).data();
                const double largest = divergence::detail::block_max<D>(row, n);
                if (largest == -infinity) {
                    std::fill(wr, wr + n, 0.0);
                    continue;
                }
                if (largest > top[std::size_t(r)]) {
                    const double rescale = top[std::size_t(r)] == -infinity ? 0.0 : std::exp(top[std::size_t(r)] - largest);
                    sum[std::size_t(r)] *= rescale;
                    g.row(r) *= rescale;
                    top[std::size_t(r)] = largest;
                }
                Eigen::Map<Eigen::ArrayXd>(row, n) -= top[std::size_t(r)];
                exp_of_nonpositive<ExpScalar>(row, wr, n, (n + exp_lanes - 1) / exp_lanes * exp_lanes);
                sum[std::size_t(r)] += Eigen::Map<const Eigen::VectorXd>(wr, n).sum();
                if (exact && forces) distances.add_differences(first + r, j0, j0 + n, wr, &g(r, 0));
            }
            if (!exact && forces) g.noalias() += w.leftCols(n) * y.middleRows(j0, n);
        }
        for (Index r = 0; r < count; ++r) {
            const double s = sum[std::size_t(r)];
            log_sums[first + r] = s == 0.0 ? -infinity : top[std::size_t(r)] + std::log(s);
            if (!forces) continue;
            if (s == 0.0) {
                g.row(r).setZero();
            } else if (exact) {
                g.row(r) /= s;
            } else {
                g.row(r) = x.row(r) - g.row(r) / s;
            }
        }
        if (forces) Eigen::Map<RowMatrix<double>>(force + first * d, count, d) = g;
    }
};

/// The row log-sums of a source: -out / eps of the softmin job (out_i = -eps log sum_j exp(h_j - c_ij / eps)).
template <class ExpScalar>
Eigen::VectorXd log_row_sums(const SquaredDistances& distances, const std::vector<double>& h, double epsilon)
{
    std::vector<double> out;
    ot::detail::softmin<ExpScalar>(distances, h, epsilon, out);
    Eigen::VectorXd l(distances.rows());
    for (Index i = 0; i < l.size(); ++i) l(i) = -out[std::size_t(i)] / epsilon;
    return l;
}

}  // namespace detail

/// Two samples prepared once for any number of Gaussian kernel sums (any widths, weights, both
/// orientations): x (n x d) and y (m x d), stored centered in double. `ExpScalar` is the precision
/// of the exponentials (float for float samples: arguments reduced in double, exp in float lanes,
/// sums in double; relative error of a row sum ~1e-7).
/// \throws std::invalid_argument (naming `function` and the argument) if a sample is empty, has a
/// non-finite entry, or the dimensions differ.
template <class ExpScalar = double>
class SamplePair {
public:
    template <class DX, class DY>
    SamplePair(const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y, DistancePath path = DistancePath::automatic,
               const char* function = "kernel::SamplePair", const char* x_name = "x", const char* y_name = "y")
        : function_(function), distances_(detail::SquaredDistances::make(function, x_name, x, y_name, y, path))
    {
        detail::check_same_scalar<DX, DY>();
    }

    Index rows() const { return distances_.rows(); }
    Index cols() const { return distances_.cols(); }
    Index dimension() const { return distances_.dimension(); }
    /// Whether distances are computed from differences (DistancePath::exact or automatic with d <= 4).
    bool exact() const { return distances_.exact(); }
    /// The same pair with the roles of x and y exchanged (shares the stored samples).
    SamplePair transposed() const { return SamplePair(function_, distances_.transpose()); }

    /// l_i = log sum_j exp(b_j) k_h(x_i, y_j), k_h(a, b) = exp(-||a - b||^2 / (2 h^2)); b_j = 0 when
    /// `column_log_weights` is empty (m entries otherwise, finite or -inf). -inf for a row whose
    /// weights are all 0. \throws std::invalid_argument for a bad bandwidth or weight vector.
    Eigen::VectorXd log_row_sums(double bandwidth, const Eigen::VectorXd& column_log_weights = {}) const
    {
        const double epsilon = detail::check_bandwidth(function_, "bandwidth", bandwidth);
        return detail::log_row_sums<ExpScalar>(distances_, log_weights(column_log_weights), epsilon);
    }

    /// log sum_ij exp(b_j) k_h(x_i, y_j) = log sum_i exp(l_i) (the row sums merged in row order).
    double log_total(double bandwidth, const Eigen::VectorXd& column_log_weights = {}) const
    {
        return log_sum_exp(log_row_sums(bandwidth, column_log_weights));
    }

    /// l_i = log sum_j exp(b_j) k_h(x_i, y_j) (returned) and, in one pass with it, the row-softmax
    /// forces P_i = sum_j p_ij (x_i - y_j), p_ij = exp(b_j) k_h(x_i, y_j) / exp(l_i), into
    /// `softmax_forces` (resized to n x d; a row with l_i = -inf gets 0). The gradient of
    /// log sum_ij w_j k_h(x_i, y_j) = L with respect to x_i is -exp(l_i - L) P_i / h^2.
    /// Expanded path: P_i = x_i - sum_j p_ij y_j, absolute error about (d + 2) u max ||y|| (centered).
    Eigen::VectorXd log_row_sums_and_forces(double bandwidth, RowMatrix<double>& softmax_forces,
                                            const Eigen::VectorXd& column_log_weights = {}) const
    {
        softmax_forces.resize(rows(), dimension());
        return softmax_pass(bandwidth, column_log_weights, softmax_forces.data());
    }

    /// F_i = sum_j exp(a_i + b_j) k_h(x_i, y_j) (x_i - y_j), n x d row-major, in double, with
    /// a = row_log_scale (n entries, finite or -inf) and b = column_log_weights (m entries or empty).
    /// The gradient of log sum_ij w_j k_h(x_i, y_j) = L with respect to x_i is -F_i / h^2 with
    /// a_i = -L (the softmax weights of the pairs); with respect to y_j, -F'_j / h^2 of the transposed
    /// pair with a = log w - L (and no column weights).
    RowMatrix<double> forces(double bandwidth, const Eigen::VectorXd& row_log_scale, const Eigen::VectorXd& column_log_weights = {}) const
    {
        const double epsilon = detail::check_bandwidth(function_, "bandwidth", bandwidth);
        if (row_log_scale.size() != rows()) {
            detail::fail(function_, "row_log_scale", "has " + std::to_string(row_log_scale.size()) + " entries for " + std::to_string(rows()) + " rows");
        }
        const std::vector<double> h = log_weights(column_log_weights);
        RowMatrix<double> force = RowMatrix<double>::Zero(rows(), dimension());
        const detail::ForcesJob job{{}, distances_, h.data(), row_log_scale.data(), 1.0 / epsilon, force.data()};
        divergence::detail::execute(job, rows(), divergence::detail::Chunks{cols(), std::max(Index(1), cols())},
                                    ot::detail::worth_threads(rows(), cols()));
        return force;
    }

    /// sum_ij s_ij ||x_i - y_j||^2 from the forces of both orientations with the same pair weights
    /// s_ij: F_i = sum_j s_ij (x_i - y_j) (n x d) and G_j = sum_i s_ij (y_j - x_i) (m x d), as
    /// sum_i x_i . F_i + sum_j y_j . G_j on the centered samples (for a sample with itself, G = F).
    double weighted_squared_distances(const RowMatrix<double>& force_rows, const RowMatrix<double>& force_columns) const
    {
        if (force_rows.rows() != rows() || force_rows.cols() != dimension()) detail::fail(function_, "force_rows", "shape differs from the rows' samples");
        if (force_columns.rows() != cols() || force_columns.cols() != dimension()) {
            detail::fail(function_, "force_columns", "shape differs from the columns' samples");
        }
        return distances_.dot_rows(force_rows.data()) + distances_.transpose().dot_rows(force_columns.data());
    }

    /// The squared distances as a cost source of the executor's jobs (see detail::SquaredDistances).
    const detail::SquaredDistances& distances() const { return distances_; }

    /// The n x m matrix of squared distances (clamped at 0), only when asked for.
    RowMatrix<double> squared_distances() const
    {
        RowMatrix<double> out(rows(), cols());
        for (Index i = 0; i < rows(); ++i) {
            distances_.fill(i, 0, cols(), out.row(i).data());
            out.row(i) = out.row(i).cwiseMax(0.0);
        }
        return out;
    }

    /// The n x m Gram matrix k_h(x_i, y_j), only when asked for.
    RowMatrix<double> gram(double bandwidth) const
    {
        const double epsilon = detail::check_bandwidth(function_, "bandwidth", bandwidth);
        return (squared_distances().array() * (-1.0 / epsilon)).exp().matrix();
    }

    /// log sum_i exp(v_i) through the library's LogSumExp (-inf for an empty or all -inf v).
    static double log_sum_exp(const Eigen::VectorXd& v)
    {
        divergence::detail::LogSumExp state;
        for (Index i = 0; i < v.size(); ++i) state.add(v(i));
        return state.value();
    }

private:
    SamplePair(const char* function, detail::SquaredDistances distances) : function_(function), distances_(std::move(distances)) {}

    /// The row log-sums, and the softmax forces into `force` (rows x d) unless it is null: one pass.
    Eigen::VectorXd softmax_pass(double bandwidth, const Eigen::VectorXd& column_log_weights, double* force) const
    {
        const double epsilon = detail::check_bandwidth(function_, "bandwidth", bandwidth);
        const std::vector<double> h = log_weights(column_log_weights);
        Eigen::VectorXd l(rows());
        using Job = detail::SoftmaxForcesJob<ExpScalar>;
        const Index tiles = (rows() + Job::tile_rows - 1) / Job::tile_rows;
        const Job job{{}, distances_, h.data(), 1.0 / epsilon, l.data(), force};
        divergence::detail::execute(job, tiles, divergence::detail::Chunks{cols(), std::max(Index(1), cols())},
                                    ot::detail::worth_threads(rows(), cols()));
        return l;
    }

    std::vector<double> log_weights(const Eigen::VectorXd& b) const
    {
        if (b.size() == 0) return std::vector<double>(std::size_t(cols()), 0.0);
        if (b.size() != cols()) {
            detail::fail(function_, "column_log_weights", "has " + std::to_string(b.size()) + " entries for " + std::to_string(cols()) + " columns");
        }
        for (Index j = 0; j < b.size(); ++j) {
            if (std::isnan(b(j)) || b(j) == detail::infinity) detail::fail(function_, "column_log_weights", j, -1, describe_weight(b(j)));
        }
        return std::vector<double>(b.data(), b.data() + b.size());
    }
    static std::string describe_weight(double v) { return detail::describe("log weight must be finite or -inf, got", v); }

    const char* function_;
    detail::SquaredDistances distances_;
};

/// The SamplePair type for samples of scalar type S (float samples: exponentials in float).
template <class S>
using SamplePairFor = SamplePair<std::conditional_t<std::is_same_v<S, float>, float, double>>;

/// l_i = log sum_j k_h(x_i, y_j), k_h(a, b) = exp(-||a - b||^2 / (2 h^2)), for every row of x.
template <class DX, class DY>
Eigen::VectorXd log_gaussian_row_sums(const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y, double bandwidth,
                                      DistancePath path = DistancePath::automatic)
{
    return SamplePairFor<typename DX::Scalar>(x, y, path, "kernel::log_gaussian_row_sums").log_row_sums(bandwidth);
}

/// log sum_ij k_h(x_i, y_j).
template <class DX, class DY>
double log_gaussian_sum(const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y, double bandwidth,
                        DistancePath path = DistancePath::automatic)
{
    return SamplePairFor<typename DX::Scalar>(x, y, path, "kernel::log_gaussian_sum").log_total(bandwidth);
}

/// The n x m matrix ||x_i - y_j||^2 (clamped at 0).
template <class DX, class DY>
RowMatrix<double> squared_distances(const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y,
                                    DistancePath path = DistancePath::automatic)
{
    return SamplePair<double>(x, y, path, "kernel::squared_distances").squared_distances();
}

}  // namespace divergence::kernel

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
