#ifndef DIVERGENCE_TESTS_SUPPORT_FINITE_DIFFERENCE_HPP
#define DIVERGENCE_TESTS_SUPPORT_FINITE_DIFFERENCE_HPP

// Central finite differences in double, to check every analytic gradient.

#include <Eigen/Core>

#include <algorithm>
#include <cmath>

namespace test {

/// d f / d x by central differences with a relative step h (h itself where x = 0) (x is copied and perturbed entry by entry).
template <class Matrix, class Function>
Matrix central_difference(const Matrix& x, const Function& f, double h = 1e-6)
{
    Matrix g(x.rows(), x.cols());
    Matrix xp = x;
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        for (Eigen::Index j = 0; j < x.cols(); ++j) {
            const double step = h * (x(i, j) != 0.0 ? std::abs(x(i, j)) : 1.0);  // relative step
            const double saved = xp(i, j);
            xp(i, j) = saved + step;
            const double up = f(xp);
            xp(i, j) = saved - step;
            const double down = f(xp);
            xp(i, j) = saved;
            g(i, j) = (up - down) / (2.0 * step);
        }
    }
    return g;
}

/// max |a - b| / (atol + rtol |b|) <= 1 entrywise: true when a matches b.
template <class A, class B>
bool close(const A& a, const B& b, double rtol = 1e-5, double atol = 1e-7)
{
    if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
    for (Eigen::Index i = 0; i < a.rows(); ++i)
        for (Eigen::Index j = 0; j < a.cols(); ++j)
            if (!(std::abs(double(a(i, j)) - double(b(i, j))) <= atol + rtol * std::abs(double(b(i, j))))) return false;
    return true;
}

}  // namespace test

#endif
