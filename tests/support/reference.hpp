#ifndef DIVERGENCE_TESTS_SUPPORT_REFERENCE_HPP
#define DIVERGENCE_TESTS_SUPPORT_REFERENCE_HPP

// Plain long-double implementations, written from the formulas and independent of the library:
// the references the tests compare against.

#include <Eigen/Core>

#include <cmath>
#include <limits>
#include <vector>

namespace test::reference {

using Real = long double;
inline const Real inf = std::numeric_limits<Real>::infinity();

/// Row r of a matrix as long doubles.
template <class Derived>
std::vector<Real> row(const Eigen::MatrixBase<Derived>& m, Eigen::Index r)
{
    std::vector<Real> out(std::size_t(m.cols()));
    for (Eigen::Index c = 0; c < m.cols(); ++c) out[std::size_t(c)] = Real(m(r, c));
    return out;
}

/// softmax(z / T) in long double.
inline std::vector<Real> softmax(const std::vector<Real>& z, Real temperature = 1)
{
    Real max = -inf;
    for (Real x : z) max = std::max(max, x / temperature);
    Real sum = 0;
    for (Real x : z) sum += std::exp(x / temperature - max);
    std::vector<Real> p(z.size());
    for (std::size_t i = 0; i < z.size(); ++i) p[i] = std::exp(z[i] / temperature - max) / sum;
    return p;
}

/// log softmax(z / T) in long double.
inline std::vector<Real> log_softmax(const std::vector<Real>& z, Real temperature = 1)
{
    Real max = -inf;
    for (Real x : z) max = std::max(max, x / temperature);
    Real sum = 0;
    for (Real x : z) sum += std::exp(x / temperature - max);
    std::vector<Real> out(z.size());
    for (std::size_t i = 0; i < z.size(); ++i) out[i] = (z[i] / temperature - max) - std::log(sum);
    return out;
}

/// KL(P || Q) = sum p log(p / q), 0 log 0 = 0, +inf on support mismatch.
inline Real kl(const std::vector<Real>& p, const std::vector<Real>& q)
{
    Real s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i] == 0) continue;
        if (q[i] == 0) return inf;
        s += p[i] * std::log(p[i] / q[i]);
    }
    return s;
}

/// KL from log-probabilities: sum exp(a) (a - b).
inline Real kl_log(const std::vector<Real>& log_p, const std::vector<Real>& log_q)
{
    Real s = 0;
    for (std::size_t i = 0; i < log_p.size(); ++i) {
        if (log_p[i] == -inf) continue;
        if (log_q[i] == -inf) return inf;
        s += std::exp(log_p[i]) * (log_p[i] - log_q[i]);
    }
    return s;
}

}  // namespace test::reference

#endif
