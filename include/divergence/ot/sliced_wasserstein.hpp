#ifndef DIVERGENCE_OT_SLICED_WASSERSTEIN_HPP
#define DIVERGENCE_OT_SLICED_WASSERSTEIN_HPP

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "divergence/core/config.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/core/view.hpp"
#include "divergence/ot/wasserstein_1d.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace divergence::ot {

/// Directions drawn at random, uniformly on the unit sphere S^(d-1), by random_directions(d, count, seed).
struct RandomDirections {
    Index count = 50;        ///< number of directions L, > 0
    std::uint64_t seed = 0;  ///< the same seed gives the same directions (see random_directions)
};

/// What sliced_wasserstein returns; computed in double, rounded once to the input's type.
template <class Scalar>
struct SlicedWassersteinResult {
    Scalar cost = 0;      ///< SW_p^p = (1/L) sum_l W_p^p(theta_l # mu, theta_l # nu)
    Scalar distance = 0;  ///< SW_p = cost^(1/p): what POT's ot.sliced_wasserstein_distance returns
};

/// Optional outputs of sliced_wasserstein, each written only when given (caller-owned, any storage order).
template <class Scalar>
struct SlicedWassersteinOutputs {
    MatrixOut<Scalar> grad_x;           ///< (n, d): d cost / d x_ik
    MatrixOut<Scalar> grad_y;           ///< (m, d): d cost / d y_jk
    VectorOut<Scalar> grad_a;           ///< (n): d cost / d a_i (raw weights; a_i = 1/n when a is not given)
    VectorOut<Scalar> grad_b;           ///< (m): d cost / d b_j
    VectorOut<Scalar> direction_costs;  ///< (L): W_p^p of each projection (POT's log["projected_emds"])
};

/// L directions uniform on the unit sphere of R^d, one per row (L x d), reproducible on every platform:
/// a std::mt19937_64 seeded with `seed` (its output sequence is fixed by the C++ standard) feeds a Box-Muller
/// transform of our own (std::normal_distribution is not specified exactly and differs between standard
/// libraries). Each pair of 64-bit outputs (k1, k2) gives u1 = ((k1 >> 11) + 1) 2^-53 in (0, 1] and
/// u2 = (k2 >> 11) 2^-53 in [0, 1), then the normals sqrt(-2 log u1) cos(2 pi u2) and sqrt(-2 log u1) sin(2 pi u2),
/// used in that order to fill the rows one after the other; each row is divided by its norm (a row of zeros,
/// possible only with probability about 2^-53 d, is drawn again). Identical bits on platforms whose std::log,
/// std::cos, std::sin and std::sqrt agree (glibc and most libms round the first three to within 1 ulp, so
/// another libm may change the last bits of a direction, never its distribution).
/// \throws std::invalid_argument if dimension < 1 or count < 1.
inline RowMatrix<double> random_directions(Index dimension, Index count, std::uint64_t seed)
{
    if (dimension < 1)
        divergence::detail::fail("ot::random_directions", "dimension", divergence::detail::describe("must be >= 1", dimension));
    if (count < 1) divergence::detail::fail("ot::random_directions", "count", divergence::detail::describe("must be >= 1", count));
    std::mt19937_64 rng(seed);
    bool cached = false;
    double spare = 0.0;
    const auto normal = [&]() {
        if (cached) {
            cached = false;
            return spare;
        }
        const double u1 = double((rng() >> 11) + 1) * 0x1p-53;
        const double u2 = double(rng() >> 11) * 0x1p-53;
        const double r = std::sqrt(-2.0 * std::log(u1));
        const double angle = 6.283185307179586476925286766559 * u2;
        spare = r * std::sin(angle);
        cached = true;
        return r * std::cos(angle);
    };
    RowMatrix<double> directions(count, dimension);
    for (Index l = 0; l < count; ++l) {
        for (;;) {
            double squares = 0.0;
            for (Index k = 0; k < dimension; ++k) {
                directions(l, k) = normal();
                squares += directions(l, k) * directions(l, k);
            }
            if (squares > 0.0) {
                directions.row(l) /= std::sqrt(squares);
                break;
            }
        }
    }
    return directions;
}

namespace detail {

/// Directions to use, validated and normalized to unit rows (in double).
template <class Directions>
RowMatrix<double> directions_of(const char* function, const Directions& directions, Index d)
{
    if constexpr (std::is_same_v<Directions, RandomDirections>) {
        if (directions.count < 1)
            divergence::detail::fail(function, "directions.count",
                                     divergence::detail::describe("no directions: the count must be >= 1", directions.count));
        return random_directions(d, directions.count, directions.seed);
    } else {
        static_assert(divergence::detail::is_eigen_dense_v<Directions>,
                      "divergence: directions are an (L x d) Eigen matrix or ot::RandomDirections{count, seed}.");
        if constexpr (divergence::detail::is_eigen_dense_v<Directions>) {
            static_assert(divergence::detail::is_supported_scalar_v<typename Directions::Scalar>,
                          "divergence: directions are float or double: convert them, e.g. theta.cast<double>().");
            const auto& e = directions.derived();
            if (e.rows() == 0) divergence::detail::fail(function, "directions", "no directions (L = 0): at least one is needed");
            if (e.cols() != d)
                divergence::detail::fail(function, "directions",
                                         "has " + std::to_string(e.cols()) + " columns, x has " + std::to_string(d) +
                                             " (one direction per row, in the points' dimension)");
            RowMatrix<double> theta(e.rows(), d);
            for (Index l = 0; l < e.rows(); ++l) {
                double largest = 0.0;
                for (Index k = 0; k < d; ++k) {
                    const double v = double(e.coeff(l, k));
                    if (!std::isfinite(v))
                        divergence::detail::fail(function, "directions", l, k, divergence::detail::describe("direction entry must be finite", v));
                    theta(l, k) = v;
                    largest = std::max(largest, std::abs(v));
                }
                if (largest == 0.0) divergence::detail::fail(function, "directions", l, -1, "a zero direction: it has no unit vector");
                // Scaled first, so that the norm of huge or tiny rows neither overflows nor underflows.
                theta.row(l) /= largest;
                theta.row(l) /= theta.row(l).norm();
            }
            return theta;
        }
    }
}

template <class D>
RowMatrix<double> points_of(const char* function, const char* argument, const Eigen::DenseBase<D>& points)
{
    const auto& e = points.derived();
    if (e.rows() == 0 || e.cols() == 0)
        divergence::detail::fail(function, argument,
                                 "empty input (" + std::to_string(e.rows()) + " x " + std::to_string(e.cols()) +
                                     "): at least one point of dimension >= 1 is needed");
    RowMatrix<double> out(e.rows(), e.cols());
    for (Index i = 0; i < e.rows(); ++i)
        for (Index k = 0; k < e.cols(); ++k) {
            const double v = double(e.coeff(i, k));
            if (!std::isfinite(v)) divergence::detail::fail(function, argument, i, k, divergence::detail::describe("position must be finite", v));
            out(i, k) = v;
        }
    return out;
}

template <class Scalar>
void check_matrix_output(const char* function, const char* argument, const MatrixOut<Scalar>& out, Index rows, Index cols)
{
    if (out.requested() && (out.view.rows != rows || out.view.cols != cols))
        divergence::detail::fail(function, argument,
                                 "has shape " + std::to_string(out.view.rows) + " x " + std::to_string(out.view.cols) + " for " +
                                     std::to_string(rows) + " x " + std::to_string(cols) + " points");
}

/// Directions are solved in batches of this many (a constant, so that the work and the order of every sum
/// are the same for any number of threads).
inline constexpr Index sliced_batch = 64;

template <class Scalar, class X, class Y, class Directions>
SlicedWassersteinResult<Scalar> sliced_wasserstein(const Eigen::DenseBase<X>& x_in, const Eigen::DenseBase<Y>& y_in,
                                                   const std::vector<double>* a, const std::vector<double>* b,
                                                   const Directions& directions, double p,
                                                   const SlicedWassersteinOutputs<Scalar>& out)
{
    const char* function = "ot::sliced_wasserstein";
    const RowMatrix<double> x = points_of(function, "x", x_in);
    const RowMatrix<double> y = points_of(function, "y", y_in);
    const Index n = x.rows(), m = y.rows(), d = x.cols();
    if (y.cols() != d)
        divergence::detail::fail(function, "y",
                                 "has " + std::to_string(y.cols()) + " columns, x has " + std::to_string(d) +
                                     " (the points must have the same dimension)");
    if (a) check_weights(function, "a", *a, std::size_t(n));
    if (b) check_weights(function, "b", *b, std::size_t(m));
    const RowMatrix<double> theta = directions_of(function, directions, d);
    const Index count = theta.rows();
    check_p(function, p);
    check_matrix_output(function, "grad_x", out.grad_x, n, d);
    check_matrix_output(function, "grad_y", out.grad_y, m, d);
    check_output(function, "grad_a", out.grad_a, std::size_t(n));
    check_output(function, "grad_b", out.grad_b, std::size_t(m));
    if (out.direction_costs.requested() && out.direction_costs.size != count)
        divergence::detail::fail(function, "direction_costs",
                                 "has " + std::to_string(out.direction_costs.size) + " entries for " + std::to_string(count) +
                                     " directions");

    const bool want_x = out.grad_x.requested(), want_y = out.grad_y.requested();
    const bool want_a = out.grad_a.requested(), want_b = out.grad_b.requested();
    // One slot per direction of a batch: projections, 1-D gradients and scratch memory, all allocated here
    // (outside any parallel region).
    struct Slot {
        Transport1dWorkspace work;
        std::vector<double> px, py, gx, gy, ga, gb;
        double cost = 0.0;
    };
    std::vector<Slot> slots(std::size_t(std::min(count, sliced_batch)));
    for (Slot& s : slots) {
        Transport1d::prepare(s.work, n, m);
        s.px.resize(std::size_t(n));
        s.py.resize(std::size_t(m));
        if (want_x) s.gx.resize(std::size_t(n));
        if (want_y) s.gy.resize(std::size_t(m));
        if (want_a) s.ga.resize(std::size_t(n));
        if (want_b) s.gb.resize(std::size_t(m));
    }
    RowMatrix<double> gx = RowMatrix<double>::Zero(want_x ? n : 0, d), gy = RowMatrix<double>::Zero(want_y ? m : 0, d);
    std::vector<double> ga(want_a ? std::size_t(n) : 0, 0.0), gb(want_b ? std::size_t(m) : 0, 0.0);
    const auto data = [](std::vector<double>& v) { return v.empty() ? nullptr : v.data(); };
    CompensatedSum total;

    for (Index start = 0; start < count; start += sliced_batch) {
        const Index size = std::min(sliced_batch, count - start);
        // Threads only when there is enough work to pay for them (the results are the same either way).
        const bool parallel = size * (n + m) * (d + 8) >= (Index(1) << 16);
        (void)parallel;
        // Each direction's 1-D problem on its own (in parallel when OpenMP is on): nothing is shared.
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (parallel)
#endif
        for (Index s = 0; s < size; ++s) {
            Slot& slot = slots[std::size_t(s)];
            const Index l = start + s;
            for (Index i = 0; i < n; ++i) slot.px[std::size_t(i)] = x.row(i).dot(theta.row(l));
            for (Index j = 0; j < m; ++j) slot.py[std::size_t(j)] = y.row(j).dot(theta.row(l));
            slot.cost = Transport1d::solve(slot.px.data(), n, slot.py.data(), m, a ? a->data() : nullptr, b ? b->data() : nullptr,
                                           p, slot.work, data(slot.gx), data(slot.gy), data(slot.ga), data(slot.gb));
        }
        for (Index s = 0; s < size; ++s) {
            total.add(slots[std::size_t(s)].cost);
            if (out.direction_costs.requested()) out.direction_costs[start + s] = Scalar(slots[std::size_t(s)].cost);
        }
        // Chain rule through the projections, d/dx_i = sum_l g_li theta_l: each point's row is summed in
        // direction order whatever thread owns it.
        if (want_x || want_y || want_a || want_b) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (parallel)
#endif
            for (Index t = 0; t < n + m; ++t) {
                const bool first = t < n;
                const Index i = first ? t : t - n;
                for (Index s = 0; s < size; ++s) {
                    const Slot& slot = slots[std::size_t(s)];
                    if (first) {
                        if (want_x) gx.row(i) += slot.gx[std::size_t(i)] * theta.row(start + s);
                        if (want_a) ga[std::size_t(i)] += slot.ga[std::size_t(i)];
                    } else {
                        if (want_y) gy.row(i) += slot.gy[std::size_t(i)] * theta.row(start + s);
                        if (want_b) gb[std::size_t(i)] += slot.gb[std::size_t(i)];
                    }
                }
            }
        }
    }
    const double scale = 1.0 / double(count);
    // A 1-D gradient beyond DBL_MAX (+-inf, or NaN where such terms of both signs meet) spreads to the sums:
    // refused as in wasserstein_1d. The cost is the average of the direction costs.
    const double average = std::max(0.0, total.value() * scale);
    check_gradient_finite(function, "grad_x", gx.data(), gx.size(), d, average);
    check_gradient_finite(function, "grad_y", gy.data(), gy.size(), d, average);
    check_gradient_finite(function, "grad_a", ga.data(), Index(ga.size()), 0, average);
    check_gradient_finite(function, "grad_b", gb.data(), Index(gb.size()), 0, average);
    if (want_x)
        for (Index i = 0; i < n; ++i)
            for (Index k = 0; k < d; ++k) out.grad_x.view(i, k) = Scalar(gx(i, k) * scale);
    if (want_y)
        for (Index j = 0; j < m; ++j)
            for (Index k = 0; k < d; ++k) out.grad_y.view(j, k) = Scalar(gy(j, k) * scale);
    if (want_a)
        for (Index i = 0; i < n; ++i) out.grad_a[i] = Scalar(ga[std::size_t(i)] * scale);
    if (want_b)
        for (Index j = 0; j < m; ++j) out.grad_b[j] = Scalar(gb[std::size_t(j)] * scale);
    return {Scalar(average), Scalar(p == 1.0 ? average : std::pow(average, 1.0 / p))};
}

template <class D>
constexpr void check_points_type()
{
    static_assert(divergence::detail::is_eigen_dense_v<D>, "divergence: points are the rows of an Eigen matrix (n x d).");
    if constexpr (divergence::detail::is_eigen_dense_v<D>) {
        static_assert(divergence::detail::is_supported_scalar_v<typename D::Scalar>,
                      "divergence: points and weights are float or double: convert them, e.g. x.cast<double>().");
    }
}

}  // namespace detail

/// Sliced Wasserstein distance between point clouds x (n x d, one point per row) and y (m x d), with weights
/// a and b (uniform without them; normalized on each side, as in wasserstein_1d):
///     cost = SW_p^p = (1/L) sum_l W_p^p(<theta_l, x>, <theta_l, y>),   distance = SW_p = cost^(1/p),
/// the average over L unit directions theta_l of the exact 1-D cost of the projected samples (Rabin, Peyre,
/// Delon and Bernot 2011; Bonneel, Rabin, Peyre and Pfister 2015). `directions` is either an (L x d) Eigen
/// matrix (float or double; each row is divided by its norm, so any non-zero row is a direction) or
/// RandomDirections{L, seed} (the rows of random_directions(d, L, seed): with L random directions, cost is a
/// Monte Carlo estimate of the integral over the sphere, with standard error O(1/sqrt(L))).
/// Conventions: POT's ot.sliced_wasserstein_distance(x, y, a, b, n_projections=L, p=p, projections=theta.T)
/// returns distance, given unit directions as columns and weights that sum to 1 (POT normalizes neither, and
/// divides by n_projections even when projections are given).
///
/// Gradients (optional, of cost): d cost / d x_i = (1/L) sum_l (d W_p^p / d u_i)(l) theta_l, with u = x theta_l
/// the projected positions and the 1-D gradients of wasserstein_1d (same conventions at ties and kinks);
/// d cost / d y_j likewise; d cost / d a_i = (1/L) sum_l (d W_p^p / d a_i)(l).
///
/// Complexity: O(L (n + m)(d + log(n + m))) time, O(min(L, 64)(n + m) + (n + m) d) memory. With OpenMP the
/// directions of a batch of 64 run in parallel and the gradients are summed per point in direction order:
/// results are bitwise identical for any number of threads.
/// Accuracy: each direction as wasserstein_1d (projections in double, error u (|x| + |y|) d per coordinate),
/// their mean with a compensated sum.
/// \throws std::invalid_argument for empty x or y (no rows or no columns), NaN or infinite positions, y or the
/// directions not of x's dimension, L = 0, a NaN, infinite or zero direction row, bad weights (as in
/// wasserstein_1d), p NaN, infinite or < 1, an output of the wrong shape, or a requested gradient that
/// overflows double (as in wasserstein_1d) (see docs/ot.md).
template <class X, class Y, class Directions>
SlicedWassersteinResult<typename X::Scalar> sliced_wasserstein(const Eigen::DenseBase<X>& x, const Eigen::DenseBase<Y>& y,
                                                               const Directions& directions, double p,
                                                               const SlicedWassersteinOutputs<typename X::Scalar>& out = {})
{
    detail::check_points_type<X>();
    detail::check_points_type<Y>();
    static_assert(std::is_same_v<typename X::Scalar, typename Y::Scalar>,
                  "divergence: x and y must have the same scalar type; convert one (x.cast<double>() or y.cast<float>()).");
    return detail::sliced_wasserstein<typename X::Scalar>(x, y, nullptr, nullptr, directions, p, out);
}

/// sliced_wasserstein with weights a (n) and b (m): finite, >= 0, each with a positive total.
template <class X, class Y, class A, class B, class Directions>
SlicedWassersteinResult<typename X::Scalar> sliced_wasserstein(const Eigen::DenseBase<X>& x, const Eigen::DenseBase<Y>& y,
                                                               const Eigen::DenseBase<A>& a, const Eigen::DenseBase<B>& b,
                                                               const Directions& directions, double p,
                                                               const SlicedWassersteinOutputs<typename X::Scalar>& out = {})
{
    detail::check_points_type<X>();
    detail::check_points_type<Y>();
    detail::check_vector_type<A>();
    detail::check_vector_type<B>();
    using Scalar = typename X::Scalar;
    static_assert(std::is_same_v<Scalar, typename Y::Scalar> && std::is_same_v<Scalar, typename A::Scalar> &&
                      std::is_same_v<Scalar, typename B::Scalar>,
                  "divergence: points and weights must have the same scalar type; convert them (e.g. a.cast<double>()).");
    static_assert(A::IsVectorAtCompileTime && B::IsVectorAtCompileTime,
                  "divergence: the weights are vectors (VectorXd, RowVectorXf, ...).");
    const std::vector<double> wa = detail::to_doubles(a), wb = detail::to_doubles(b);
    return detail::sliced_wasserstein<Scalar>(x, y, &wa, &wb, directions, p, out);
}

}  // namespace divergence::ot

#endif
