#ifndef DIVERGENCE_TESTS_SUPPORT_OT_HPP
#define DIVERGENCE_TESTS_SUPPORT_OT_HPP

// Seeded problems for the optimal-transport tests: points, weights, costs, and solver options that
// converge to the fixed point.

#include <Eigen/Core>

#include <limits>
#include <random>

#include "divergence/ot/sinkhorn.hpp"

namespace test {

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// n points uniform in [0, scale)^d.
inline RowMatrixD uniform_points(Eigen::Index n, Eigen::Index d, unsigned seed, double scale = 1.0)
{
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, scale);
    RowMatrixD x(n, d);
    for (Eigen::Index i = 0; i < n; ++i)
        for (Eigen::Index k = 0; k < d; ++k) x(i, k) = u(rng);
    return x;
}

/// n weights uniform in [0.2, 1), normalized to sum 1.
inline Eigen::VectorXd random_weights(Eigen::Index n, unsigned seed)
{
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.2, 1.0);
    Eigen::VectorXd w(n);
    for (Eigen::Index i = 0; i < n; ++i) w(i) = u(rng);
    return w / w.sum();
}

/// C_ij = ||x_i - y_j||^2, computed directly (not by the library's expansion).
inline RowMatrixD squared_distances(const RowMatrixD& x, const RowMatrixD& y)
{
    RowMatrixD c(x.rows(), y.rows());
    for (Eigen::Index i = 0; i < x.rows(); ++i)
        for (Eigen::Index j = 0; j < y.rows(); ++j) c(i, j) = (x.row(i) - y.row(j)).squaredNorm();
    return c;
}

/// Options that solve to the fixed point (marginal error 1e-14), balanced unless reaches are given.
inline divergence::ot::SinkhornOptions tight(double epsilon, double reach_a = std::numeric_limits<double>::infinity(),
                                             double reach_b = std::numeric_limits<double>::infinity())
{
    divergence::ot::SinkhornOptions o;
    o.epsilon = epsilon;
    o.tolerance = 1e-14;
    o.max_iterations = 200000;
    o.reach_a = reach_a;
    o.reach_b = reach_b;
    return o;
}

}  // namespace test

#endif
