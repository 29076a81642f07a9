#ifndef DIVERGENCE_OT_COST_HPP
#define DIVERGENCE_OT_COST_HPP

// Ground costs of optimal transport, as row sources for the executor: a cost matrix given by the
// caller, or costs c(x_i, y_j) between two point clouds computed a block of a row at a time, so
// that no n x m matrix is ever stored.
//
// A cost source (detail::DenseCost, detail::PointCost) has rows() x cols() entries and
//   void fill(Index i, Index begin, Index end, double* out) const;   out[j - begin] = c(i, j)
// and its transpose() is the source of the transposed costs (rows indexed by the second cloud).

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "divergence/core/config.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/kernel.hpp"
#include "divergence/core/simd.hpp"


// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence::ot {

/// c(x, y) = ||x - y||^2 (POT's `ot.dist` default, OTT's SqEuclidean; GeomLoss uses half of it).
struct SquaredEuclidean {};
/// c(x, y) = ||x - y||.
struct Euclidean {};
/// c(x, y) = ||x - y||_1 (the cost between softmax rows in Sinkhorn distillation).
struct Manhattan {};
/// c(x, y) = KL(x || y) = sum_k x_k log(x_k / y_k) between probability rows (0 log 0 = 0; x_k > 0
/// where y_k = 0 gives +inf). Not symmetric: x is the first cloud's row.
struct KlCost {};

namespace detail {

using divergence::detail::fail;
using divergence::detail::describe;
using divergence::detail::infinity;

/// The cost matrix as the caller gave it (any layout, float or double), stored once, row-major in
/// the caller's scalar type. Its transpose() reads the same matrix: the solver's column half-iteration
/// streams it by rows (dense_softmin.hpp); the few passes that want rows of the transpose itself
/// (the plan's column sums of unbalanced problems, the implicit gradient) get a transposed copy,
/// made once, on first use, and shared by the copies of the source.
template <class Scalar>
class DenseCost {
public:
    template <class Derived>
    DenseCost(const char* function, const Eigen::MatrixBase<Derived>& cost)
        : rows_(cost.rows()), cols_(cost.cols()), storage_(std::make_shared<Storage>())
    {
        RowMatrix<Scalar>& matrix = storage_->matrix;
        matrix.resize(rows_, cols_);
        // a row at a time: copied, then checked while it is in cache
        for (Index i = 0; i < rows_; ++i) {
            matrix.row(i) = cost.row(i).template cast<Scalar>();
            const Scalar* row = matrix.data() + i * cols_;
            Scalar largest = 0;
            bool bad = false;
            for (Index j = 0; j < cols_; ++j) {
                const Scalar c = row[j];
                bad = bad || std::isnan(c) || c == -std::numeric_limits<Scalar>::infinity();
                if (std::abs(c) != std::numeric_limits<Scalar>::infinity()) largest = std::max(largest, Scalar(std::abs(c)));
            }
            if (bad) {
                for (Index j = 0; j < cols_; ++j) {
                    const Scalar c = row[j];
                    if (std::isnan(c) || c == -std::numeric_limits<Scalar>::infinity()) {
                        fail(function, "cost", i, j, describe("must not be NaN or -inf, got", double(c)));
                    }
                }
            }
            max_cost_ = std::max(max_cost_, double(largest));
        }
    }
    Index rows() const { return rows_; }
    Index cols() const { return cols_; }
    /// The largest finite |c_ij| (the scale epsilon is compared with).
    double max_cost() const { return max_cost_; }
    /// Whether this source is the transpose of the stored matrix (its rows are the matrix's columns).
    bool transposed() const { return transposed_; }
    /// The stored matrix, row-major (rows() x cols() when not transposed, cols() x rows() otherwise).
    const Scalar* matrix_data() const { return storage_->matrix.data(); }
    void fill(Index i, Index begin, Index end, double* out) const
    {
        const Scalar* row = row_data(i);
        for (Index j = begin; j < end; ++j) out[j - begin] = double(row[j]);
    }
    /// out[t] = h[j] - c(i, j) * inverse_epsilon, j = begin + t (the argument of a softmin row).
    void softmin_fill(Index i, Index begin, Index end, const double* h, double inverse_epsilon, double* out) const
    {
        namespace simd = divergence::detail::simd;
        using P = simd::Packet<Scalar>;
        using Widen = simd::Wide<P>;
        using D = simd::wide_t<P>;
        constexpr Index width = simd::lanes<P>;
        const Scalar* row = row_data(i);
        Index j = begin;
        if constexpr (!std::is_same_v<D, double>) {
            constexpr Index part = width / Widen::parts;
            const D scale = simd::broadcast<D>(-inverse_epsilon);
            for (; j + width <= end; j += width) {
                D c[Widen::parts];
                Widen::split(simd::load<P>(row + j), c);
                for (int k = 0; k < Widen::parts; ++k) {
                    simd::store(out + (j - begin) + k * part, simd::madd(c[k], scale, simd::load<D>(h + j + k * part)));
                }
            }
        }
        for (; j < end; ++j) out[j - begin] = h[j] - double(row[j]) * inverse_epsilon;
    }
    DenseCost transpose() const
    {
        DenseCost t = *this;
        std::swap(t.rows_, t.cols_);
        t.transposed_ = !transposed_;
        return t;
    }
    /// d cost / d nothing: a cost matrix has no points (the gradient with respect to it is the plan).
    static constexpr bool has_points = false;

private:
    struct Storage {
        RowMatrix<Scalar> matrix;
        std::once_flag transposed_once;
        RowMatrix<Scalar> transposed;
        /// The transposed copy, made on first use, by 64 x 64 tiles (a whole-matrix transpose misses
        /// the cache on every write).
        const RowMatrix<Scalar>& transposed_matrix()
        {
            std::call_once(transposed_once, [this] {
                const Index n = matrix.rows(), m = matrix.cols();
                transposed.resize(m, n);
                constexpr Index tile = 64;
                for (Index i0 = 0; i0 < n; i0 += tile) {
                    for (Index j0 = 0; j0 < m; j0 += tile) {
                        for (Index i = i0; i < std::min(n, i0 + tile); ++i) {
                            for (Index j = j0; j < std::min(m, j0 + tile); ++j) transposed(j, i) = matrix(i, j);
                        }
                    }
                }
            });
            return transposed;
        }
    };
    const Scalar* row_data(Index i) const
    {
        return (transposed_ ? storage_->transposed_matrix().data() : storage_->matrix.data()) + i * cols_;
    }

    Index rows_, cols_;
    double max_cost_ = 0.0;
    bool transposed_ = false;
    std::shared_ptr<Storage> storage_;
};

/// Two point clouds as doubles, each row-major (points) and transposed (d x count), so that a
/// block of a cost row is d passes of a vectorizable loop over contiguous entries, in both
/// orientations. Per point, `extra` holds what the cost precomputes (squared norms, or for KlCost
/// sum_k x_k log x_k of the first cloud; the second cloud is stored as log y).
struct Clouds {
    RowMatrix<double> x, x_by_k, y, y_by_k;
    Eigen::VectorXd x_extra, y_extra;
    double max_cost = 0.0;  ///< an upper bound of the costs (from the bounding box; KlCost: the largest finite cost)
};

template <class Derived>
void check_points(const char* function, const char* argument, const Eigen::MatrixBase<Derived>& p)
{
    if (p.rows() == 0) fail(function, argument, "has no points");
    if (p.cols() == 0) fail(function, argument, "has points of dimension 0");
    for (Index i = 0; i < p.rows(); ++i) {
        for (Index k = 0; k < p.cols(); ++k) {
            const double v = double(p(i, k));
            if (!std::isfinite(v)) fail(function, argument, i, k, describe("must be finite, got", v));
        }
    }
}

template <class Derived>
void check_probability_rows(const char* function, const char* argument, const Eigen::MatrixBase<Derived>& p)
{
    for (Index i = 0; i < p.rows(); ++i) {
        double sum = 0.0;
        for (Index k = 0; k < p.cols(); ++k) {
            const double v = double(p(i, k));
            if (v < 0.0) fail(function, argument, i, k, describe("KlCost needs probability rows: negative entry", v));
            sum += v;
        }
        if (std::abs(sum - 1.0) > 1e-4) fail(function, argument, i, -1, describe("KlCost needs probability rows: row sums to", sum));
    }
}

/// Costs c(x_i, y_j) between two point clouds, generated a block at a time.
template <class Cost>
class PointCost {
public:
    PointCost(std::shared_ptr<const Clouds> clouds, bool transposed) : clouds_(std::move(clouds)), transposed_(transposed) {}

    template <class DX, class DY>
    static PointCost make(const char* function, const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y)
    {
        check_points(function, "x", x);
        check_points(function, "y", y);
        if (x.cols() != y.cols()) {
            fail(function, "y", "has points of dimension " + std::to_string(y.cols()) + ", x of dimension " + std::to_string(x.cols()));
        }
        if constexpr (std::is_same_v<Cost, KlCost>) {
            check_probability_rows(function, "x", x);
            check_probability_rows(function, "y", y);
        }
        auto c = std::make_shared<Clouds>();
        c->x = x.template cast<double>();
        RowMatrix<double> y_rows = y.template cast<double>();
        if constexpr (std::is_same_v<Cost, SquaredEuclidean> || std::is_same_v<Cost, Euclidean>) {
            // ||x - y||^2 = |x|^2 + |y|^2 - 2 x.y loses digits far from the origin: center both clouds
            // on their common mean first (the cost is translation invariant).
            const Eigen::RowVectorXd center = (c->x.colwise().sum() + y_rows.colwise().sum()) / double(x.rows() + y.rows());
            c->x.rowwise() -= center;
            y_rows.rowwise() -= center;
            c->x_extra = c->x.rowwise().squaredNorm();
            c->y_extra = y_rows.rowwise().squaredNorm();
        }
        if constexpr (std::is_same_v<Cost, KlCost>) {
            // sum_k x_k log x_k, and log y (log 0 = -inf handled in fill)
            c->x_extra = Eigen::VectorXd::Zero(x.rows());
            for (Index i = 0; i < x.rows(); ++i) {
                for (Index k = 0; k < x.cols(); ++k) {
                    const double v = c->x(i, k);
                    if (v > 0.0) c->x_extra(i) += v * std::log(v);
                }
            }
            y_rows = y_rows.array().log().matrix();
        }
        if constexpr (!std::is_same_v<Cost, KlCost>) {
            // The bounding box of both clouds bounds every cost: sum_k range_k^2, its root, or sum_k range_k.
            const Eigen::RowVectorXd lo = c->x.colwise().minCoeff().cwiseMin(y_rows.colwise().minCoeff());
            const Eigen::RowVectorXd hi = c->x.colwise().maxCoeff().cwiseMax(y_rows.colwise().maxCoeff());
            const Eigen::RowVectorXd range = hi - lo;
            c->max_cost = std::is_same_v<Cost, Manhattan> ? range.sum()
                          : std::is_same_v<Cost, Euclidean> ? range.norm() : range.squaredNorm();
        }
        c->x_by_k = c->x.transpose();
        c->y = std::move(y_rows);
        c->y_by_k = c->y.transpose();
        if constexpr (std::is_same_v<Cost, KlCost>) {
            // No box bounds KL: the largest finite cost of every pair (one pass, as one half-iteration), so
            // that the solver's range check on epsilon holds for this cost too.
            const PointCost whole(c, false);
            std::vector<double> row(std::size_t(whole.cols()));
            for (Index i = 0; i < whole.rows(); ++i) {
                whole.fill(i, 0, whole.cols(), row.data());
                for (const double v : row) {
                    if (std::isfinite(v)) c->max_cost = std::max(c->max_cost, v);
                }
            }
        }
        return PointCost(std::move(c), false);
    }

    Index rows() const { return transposed_ ? clouds_->y.rows() : clouds_->x.rows(); }
    Index cols() const { return transposed_ ? clouds_->x.rows() : clouds_->y.rows(); }
    Index dimension() const { return clouds_->x.cols(); }
    double max_cost() const { return clouds_->max_cost; }
    PointCost transpose() const { return PointCost(clouds_, !transposed_); }
    /// The clouds, and whether this source's rows are the second cloud's points.
    const Clouds& clouds() const { return *clouds_; }
    bool transposed() const { return transposed_; }
    static constexpr bool has_points = true;

    /// out[t] = c(row i, column begin + t) for t < end - begin: c(x_i, y_j), or c(x_j, y_i) transposed.
    void fill(Index i, Index begin, Index end, double* out) const
    {
        const Clouds& c = *clouds_;
        const Index n = end - begin, d = dimension();
        const RowMatrix<double>& row_points = transposed_ ? c.y : c.x;
        const RowMatrix<double>& column_points = transposed_ ? c.x_by_k : c.y_by_k;
        const double* point = row_points.row(i).data();
        if constexpr (std::is_same_v<Cost, KlCost>) {
            if (!transposed_) {
                // KL(x_i || y_j) = sum_k x_ik log x_ik - sum_k x_ik log y_jk (terms with x_ik = 0 skipped)
                for (Index t = 0; t < n; ++t) out[t] = c.x_extra(i);
                for (Index k = 0; k < d; ++k) {
                    if (point[k] == 0.0) continue;
                    const double* log_y = column_points.row(k).data() + begin;
                    for (Index t = 0; t < n; ++t) out[t] -= point[k] * log_y[t];
                }
            } else {
                // KL(x_j || y_i), j in [begin, end): point is log y_i
                for (Index t = 0; t < n; ++t) out[t] = c.x_extra(begin + t);
                for (Index k = 0; k < d; ++k) {
                    const double* x = column_points.row(k).data() + begin;
                    if (point[k] == -infinity) {
                        for (Index t = 0; t < n; ++t) out[t] += x[t] > 0.0 ? infinity : 0.0;
                    } else {
                        for (Index t = 0; t < n; ++t) out[t] -= x[t] * point[k];
                    }
                }
            }
        } else if constexpr (std::is_same_v<Cost, Manhattan>) {
            for (Index t = 0; t < n; ++t) out[t] = 0.0;
            for (Index k = 0; k < d; ++k) {
                const double* other = column_points.row(k).data() + begin;
                for (Index t = 0; t < n; ++t) out[t] += std::abs(point[k] - other[t]);
            }
        } else {
            // |x|^2 + |y|^2 - 2 x.y, clamped at 0 (rounding), on clouds centered on their common mean
            const Eigen::VectorXd& row_norms = transposed_ ? c.y_extra : c.x_extra;
            const double* column_norms = (transposed_ ? c.x_extra : c.y_extra).data() + begin;
            for (Index t = 0; t < n; ++t) out[t] = 0.0;
            for (Index k = 0; k < d; ++k) {
                const double* other = column_points.row(k).data() + begin;
                const double minus_two_x = -2.0 * point[k];
                for (Index t = 0; t < n; ++t) out[t] += minus_two_x * other[t];
            }
            for (Index t = 0; t < n; ++t) out[t] = std::max(0.0, out[t] + row_norms(i) + column_norms[t]);
            if constexpr (std::is_same_v<Cost, Euclidean>) {
                for (Index t = 0; t < n; ++t) out[t] = std::sqrt(out[t]);
            }
        }
    }

    /// out[t] = h[j] - c(row i, column j) * inverse_epsilon, j = begin + t (a softmin row's argument),
    /// in packets, the dimensions unrolled up to 4; squared Euclidean as
    /// h_j - (|x|^2 + |y_j|^2) / eps + sum_k (2 x_k / eps) y_jk (no clamp at 0: it would only undo a
    /// rounding of the squared distance, which moves the exponent by ~1e-16 / eps).
    void softmin_fill(Index i, Index begin, Index end, const double* h, double inverse_epsilon, double* out) const
    {
        if constexpr (std::is_same_v<Cost, KlCost>) {
            fill(i, begin, end, out);
            for (Index t = 0; t < end - begin; ++t) out[t] = h[begin + t] - out[t] * inverse_epsilon;
            return;
        }
        switch (dimension()) {
        case 1: softmin_fill_in<1>(i, begin, end, h, inverse_epsilon, out); break;
        case 2: softmin_fill_in<2>(i, begin, end, h, inverse_epsilon, out); break;
        case 3: softmin_fill_in<3>(i, begin, end, h, inverse_epsilon, out); break;
        case 4: softmin_fill_in<4>(i, begin, end, h, inverse_epsilon, out); break;
        default: softmin_fill_in<0>(i, begin, end, h, inverse_epsilon, out); break;
        }
    }

    /// grad[k] += sum_t w[t] d c / d (row i's point)_k over columns begin + t, t < end - begin
    /// (w: plan entries of the row). Subgradient 0 where the cost is not differentiable (coincident
    /// points for Euclidean, ties for Manhattan, zero entries of x for KlCost).
    void add_gradient(Index i, Index begin, Index end, const double* w, double* grad) const
    {
        const Clouds& c = *clouds_;
        const Index d = dimension();
        const double* point = (transposed_ ? c.y : c.x).row(i).data();
        for (Index t = 0; t < end - begin; ++t) {
            if (w[t] == 0.0) continue;
            const double* other = (transposed_ ? c.x : c.y).row(begin + t).data();
            if constexpr (std::is_same_v<Cost, KlCost>) {
                for (Index k = 0; k < d; ++k) {
                    if (!transposed_) {
                        // d/dx_k KL(x || y) = log x_k + 1 - log y_k
                        if (point[k] > 0.0) grad[k] += w[t] * (std::log(point[k]) + 1.0 - other[k]);
                    } else {
                        // d/dy_k KL(x || y) = -x_k / y_k (point holds log y)
                        if (other[k] > 0.0) grad[k] -= w[t] * other[k] * std::exp(-point[k]);
                    }
                }
            } else {
                double distance = 0.0;
                if constexpr (std::is_same_v<Cost, Euclidean>) {
                    for (Index k = 0; k < d; ++k) distance += (point[k] - other[k]) * (point[k] - other[k]);
                    distance = std::sqrt(distance);
                    if (distance == 0.0) continue;
                }
                for (Index k = 0; k < d; ++k) {
                    const double diff = point[k] - other[k];
                    double g;
                    if constexpr (std::is_same_v<Cost, SquaredEuclidean>) {
                        g = 2.0 * diff;
                    } else if constexpr (std::is_same_v<Cost, Euclidean>) {
                        g = diff / distance;
                    } else {
                        g = diff > 0.0 ? 1.0 : (diff < 0.0 ? -1.0 : 0.0);
                    }
                    grad[k] += w[t] * g;
                }
            }
        }
    }

private:
    /// softmin_fill for Dim dimensions (0: any, from dimension()).
    template <int Dim>
    void softmin_fill_in(Index i, Index begin, Index end, const double* h, double inverse_epsilon, double* out) const
    {
        namespace simd = divergence::detail::simd;
        using D = simd::Packet<double>;
        constexpr Index width = simd::lanes<D>;
        const Clouds& c = *clouds_;
        const Index d = Dim > 0 ? Dim : dimension();
        const RowMatrix<double>& columns = transposed_ ? c.x_by_k : c.y_by_k;  // d x count
        const double* point = (transposed_ ? c.y : c.x).data() + i * d;
        const double* column_norms = (transposed_ ? c.x_extra : c.y_extra).data();
        const D row_norm = simd::broadcast<D>(std::is_same_v<Cost, Manhattan> ? 0.0 : (transposed_ ? c.y_extra : c.x_extra)(i));
        const D zero = simd::broadcast<D>(0.0), minus_inverse_epsilon = simd::broadcast<D>(-inverse_epsilon);
        // per dimension: the packet coefficient and the row of the other cloud's k-th coordinates
        constexpr int stored = Dim > 0 ? Dim : 1;
        double fixed_u[stored];
        const double* fixed_y[stored];
        std::vector<double> any_u(Dim > 0 ? 0 : std::size_t(d));
        std::vector<const double*> any_y(Dim > 0 ? 0 : std::size_t(d));
        double* coefficient = Dim > 0 ? fixed_u : any_u.data();
        const double** y = Dim > 0 ? fixed_y : any_y.data();
        for (Index k = 0; k < d; ++k) {
            const double x = point[k];
            coefficient[k] = std::is_same_v<Cost, Manhattan> ? x : (std::is_same_v<Cost, SquaredEuclidean> ? 2.0 * x * inverse_epsilon : -2.0 * x);
            y[k] = columns.data() + k * columns.cols();
        }
        const auto u = [coefficient](Index k) { return simd::broadcast<D>(coefficient[k]); };
        const auto argument = [&](Index j, auto load) {
            if constexpr (std::is_same_v<Cost, Manhattan>) {
                D sum = zero;
                for (Index k = 0; k < d; ++k) {
                    const D diff = simd::sub(u(k), load(y[k] + j));
                    sum = simd::add(sum, simd::max(diff, simd::sub(zero, diff)));
                }
                return simd::madd(sum, minus_inverse_epsilon, load(h + j));
            } else if constexpr (std::is_same_v<Cost, SquaredEuclidean>) {
                D acc = simd::madd(simd::add(row_norm, load(column_norms + j)), minus_inverse_epsilon, load(h + j));
                for (Index k = 0; k < d; ++k) acc = simd::madd(u(k), load(y[k] + j), acc);
                return acc;
            } else {
                D sq = simd::add(row_norm, load(column_norms + j));
                for (Index k = 0; k < d; ++k) sq = simd::madd(u(k), load(y[k] + j), sq);
                return simd::madd(simd::sqrt(simd::max(sq, zero)), minus_inverse_epsilon, load(h + j));
            }
        };
        Index j = begin;
        for (; j + width <= end; j += width) simd::store(out + (j - begin), argument(j, [](const double* p) { return simd::load<D>(p); }));
        if (j < end) {
            const Index n = end - j;
            simd::store_partial(out + (j - begin), argument(j, [n](const double* p) { return simd::load_partial<D>(p, n, 0.0); }), n);
        }
    }

    std::shared_ptr<const Clouds> clouds_;
    bool transposed_;
};

}  // namespace detail
}  // namespace divergence::ot

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
