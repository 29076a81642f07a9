#ifndef DIVERGENCE_TESTS_SUPPORT_RANDOM_HPP
#define DIVERGENCE_TESTS_SUPPORT_RANDOM_HPP

// Seeded generators of random and adversarial rows for property tests.

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <random>

namespace test {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The k-th seed (k = 0, 1, ...) of a property sweep, `sweep_seed(GENERATE(range(0, n)))`: fixed, whatever
/// else runs in the process, and 7919 apart, so a case's other samples (seed + 1, seed + 2, ...) are never
/// another case's.
inline unsigned sweep_seed(int k) { return 7919u * unsigned(k + 1); }

/// Rows drawn uniformly from the simplex (normalized exponentials); with zero_fraction > 0,
/// about that fraction of entries is exactly 0 (each row keeps at least one positive entry).
inline Matrix random_simplex_rows(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed, double zero_fraction = 0.0)
{
    std::mt19937_64 rng(seed);
    std::exponential_distribution<double> exponential(1.0);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::uniform_int_distribution<Eigen::Index> column(0, cols - 1);
    Matrix m(rows, cols);
    for (Eigen::Index r = 0; r < rows; ++r) {
        for (Eigen::Index c = 0; c < cols; ++c) m(r, c) = uniform(rng) < zero_fraction ? 0.0 : exponential(rng);
        if (m.row(r).sum() == 0.0) m(r, column(rng)) = 1.0;
        m.row(r) /= m.row(r).sum();
    }
    return m;
}

/// One distribution as a column vector.
inline Eigen::VectorXd random_simplex(Eigen::Index size, std::uint64_t seed, double zero_fraction = 0.0)
{
    return random_simplex_rows(1, size, seed, zero_fraction).row(0).transpose();
}

/// Logits with entries uniform in [-scale, scale].
inline Matrix random_logits(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed, double scale = 3.0)
{
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uniform(-scale, scale);
    Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = uniform(rng);
    return m;
}

/// log of each entry, with log 0 = -inf.
inline Matrix log_of(const Matrix& p) { return p.array().log().matrix(); }

}  // namespace test

#endif
