#ifndef DIVERGENCE_TESTS_SUPPORT_KERNEL_HPP
#define DIVERGENCE_TESTS_SUPPORT_KERNEL_HPP

// Seeded samples (rows = points) for the tests of the sample-based estimators (tests/kernel/).

#include <Eigen/Core>

#include <cstdint>
#include <random>

#include "divergence/core/config.hpp"

namespace test {

/// n points of dimension d with independent N(offset, scale^2) coordinates.
inline divergence::RowMatrix<double> normal_sample(Eigen::Index n, Eigen::Index d, std::uint64_t seed, double scale = 1.0, double offset = 0.0)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(offset, scale);
    divergence::RowMatrix<double> s(n, d);
    for (Eigen::Index i = 0; i < n; ++i)
        for (Eigen::Index k = 0; k < d; ++k) s(i, k) = normal(rng);
    return s;
}

/// ||a_i - b_j||^2 in long double.
inline long double squared_distance(const divergence::RowMatrix<double>& a, Eigen::Index i, const divergence::RowMatrix<double>& b, Eigen::Index j)
{
    long double s = 0;
    for (Eigen::Index k = 0; k < a.cols(); ++k) {
        const long double diff = (long double)a(i, k) - (long double)b(j, k);
        s += diff * diff;
    }
    return s;
}

}  // namespace test

#endif
