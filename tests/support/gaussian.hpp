#ifndef DIVERGENCE_TESTS_SUPPORT_GAUSSIAN_HPP
#define DIVERGENCE_TESTS_SUPPORT_GAUSSIAN_HPP

// What the tests of parametric/gaussian*.hpp share: seeded random Gaussians in every covariance form,
// long-double references (covariance, log-determinant, log-density, quadrature in d = 1) and the
// central-difference check of a GaussianGradient.

#include <catch2/catch.hpp>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/LU>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <utility>
#include <vector>

#include "divergence/parametric/gaussian.hpp"

namespace test::gaussians {

namespace dp = divergence::parametric;

using Vec = Eigen::VectorXd;
using Mat = Eigen::MatrixXd;
using Real = long double;
using VecL = Eigen::Matrix<Real, Eigen::Dynamic, 1>;
using MatL = Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic>;

inline constexpr Real pi = 3.141592653589793238462643383279502884L;

/// A random Gaussian of the given form (seeded): means in [-1, 1], a well-conditioned factor.
inline dp::Gaussian<double> random_gaussian(dp::CovarianceForm form, int d, std::uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-1.0, 1.0), positive(0.5, 2.0);
    Vec m(d);
    for (int i = 0; i < d; ++i) m[i] = u(rng);
    Mat L = Mat::Zero(d, d);
    for (int i = 0; i < d; ++i) {
        L(i, i) = positive(rng);
        for (int j = 0; j < i; ++j) L(i, j) = 0.6 * u(rng) / std::sqrt(double(d));
    }
    Vec v(d);
    for (int i = 0; i < d; ++i) v[i] = positive(rng);
    switch (form) {
    case dp::CovarianceForm::full: return dp::gaussian_full(m, Mat(L * L.transpose()));
    case dp::CovarianceForm::cholesky: return dp::gaussian_cholesky(m, L);
    case dp::CovarianceForm::diagonal: return dp::gaussian_diagonal(m, v);
    case dp::CovarianceForm::isotropic: break;
    }
    return dp::gaussian_isotropic(m, positive(rng));
}

/// S as a dense long-double matrix.
inline MatL covariance_of(const dp::Gaussian<double>& g)
{
    const int d = int(g.dimension());
    const MatL c = g.covariance.cast<Real>();
    switch (g.form) {
    case dp::CovarianceForm::full: return c;
    case dp::CovarianceForm::cholesky: return c * c.transpose();
    case dp::CovarianceForm::diagonal: return VecL(c.col(0)).asDiagonal();
    case dp::CovarianceForm::isotropic: break;
    }
    return MatL::Identity(d, d) * c(0, 0);
}

inline Real log_det(const MatL& s)
{
    const Eigen::LLT<MatL> llt(s);
    return 2 * MatL(llt.matrixL()).diagonal().array().log().sum();
}

/// The textbook formula in long double (explicit inverse and log-determinants: an independent computation).
inline Real kl_reference(const dp::Gaussian<double>& p, const dp::Gaussian<double>& q)
{
    const MatL s1 = covariance_of(p), s2 = covariance_of(q);
    const MatL s2_inverse = s2.inverse();
    const VecL delta = (q.mean - p.mean).cast<Real>();
    const Real d = Real(p.dimension());
    return 0.5L * ((s2_inverse * s1).trace() + delta.dot(s2_inverse * delta) - d + log_det(s2) - log_det(s1));
}

/// log N(x | m, S) in long double.
inline Real log_density(const VecL& x, const dp::Gaussian<double>& g)
{
    const MatL s = covariance_of(g);
    const Eigen::LLT<MatL> llt(s);
    const VecL z = MatL(llt.matrixL()).triangularView<Eigen::Lower>().solve(VecL(x - g.mean.cast<Real>()));
    return -0.5L * Real(x.size()) * std::log(2 * pi) - 0.5L * log_det(s) - 0.5L * z.squaredNorm();
}

/// Checks an analytic gradient with respect to one Gaussian against central differences of f, entry by
/// entry of the mean and of the covariance parameter (every `stride`-th entry), in the covariance form's
/// convention: full S: S_ij and S_ji moved together (2 G_ij off the diagonal); cholesky: the lower
/// triangle (the upper part of the gradient is 0); diagonal: each variance; isotropic: the variance.
inline void check_gradient(const dp::Gaussian<double>& g, const dp::GaussianGradient<double>& grad,
                    const std::function<double(const dp::Gaussian<double>&)>& f, int stride = 1)
{
    const int d = int(g.dimension());
    REQUIRE(grad.mean.size() == d);
    REQUIRE(grad.covariance.rows() == g.covariance.rows());
    REQUIRE(grad.covariance.cols() == g.covariance.cols());
    const double scale = std::max({1.0, grad.mean.cwiseAbs().maxCoeff(), grad.covariance.cwiseAbs().maxCoeff()});
    const double h = 1e-6;
    const auto difference = [&](const std::function<void(dp::Gaussian<double>&, double)>& move, double at) {
        const double step = h * std::max(std::abs(at), 0.1);
        dp::Gaussian<double> up = g, down = g;
        move(up, step);
        move(down, -step);
        return (f(up) - f(down)) / (2.0 * step);
    };
    for (int i = 0; i < d; i += stride) {
        const double fd = difference([i](dp::Gaussian<double>& x, double s) { x.mean[i] += s; }, g.mean[i]);
        CAPTURE(i, fd, grad.mean[i]);
        CHECK(std::abs(fd - grad.mean[i]) <= 2e-6 * scale);
    }
    const Mat& c = g.covariance;
    int counter = 0;
    for (Eigen::Index j = 0; j < c.cols(); ++j) {
        for (Eigen::Index i = 0; i < c.rows(); ++i) {
            const bool lower = i >= j;
            if (g.form == dp::CovarianceForm::cholesky && !lower) {
                CHECK(grad.covariance(i, j) == 0.0);
                continue;
            }
            if (g.form == dp::CovarianceForm::full && !lower) continue;
            if (counter++ % stride != 0) continue;
            double expected = grad.covariance(i, j);
            double fd;
            if (g.form == dp::CovarianceForm::full && i != j) {
                fd = difference([i, j](dp::Gaussian<double>& x, double s) { x.covariance(i, j) += s; x.covariance(j, i) += s; }, c(i, j));
                expected = 2.0 * grad.covariance(i, j);
                CHECK(grad.covariance(i, j) == Approx(grad.covariance(j, i)).margin(1e-14 * scale));
            } else {
                fd = difference([i, j](dp::Gaussian<double>& x, double s) { x.covariance(i, j) += s; }, c(i, j));
            }
            CAPTURE(i, j, fd, expected);
            CHECK(std::abs(fd - expected) <= 2e-6 * scale);
        }
    }
}

inline const dp::CovarianceForm all_forms[] = {dp::CovarianceForm::full, dp::CovarianceForm::cholesky,
                                               dp::CovarianceForm::diagonal, dp::CovarianceForm::isotropic};

/// The pairs of covariance forms a test runs at dimension d: all 16 for small d, 4 (each form first
/// and second once, the diagonal-diagonal fast path included) at d = 64, to keep the test fast.
inline std::vector<std::pair<dp::CovarianceForm, dp::CovarianceForm>> form_pairs(int d)
{
    std::vector<std::pair<dp::CovarianceForm, dp::CovarianceForm>> pairs;
    for (const auto fp : all_forms) {
        for (const auto fq : all_forms) pairs.emplace_back(fp, fq);
    }
    if (d <= 8) return pairs;
    using F = dp::CovarianceForm;
    return {{F::full, F::cholesky}, {F::cholesky, F::diagonal}, {F::diagonal, F::isotropic}, {F::isotropic, F::full}};
}

/// Trapezoid rule in long double over [-20, 20] with 4001 points (spectrally accurate for Gaussian integrands).
template <class F>
Real integrate(const F& f)
{
    const int n = 4000;
    const Real lo = -20, hi = 20, h = (hi - lo) / n;
    Real sum = 0;
    for (int i = 0; i <= n; ++i) sum += (i == 0 || i == n ? 0.5L : 1.0L) * f(lo + h * i);
    return sum * h;
}

inline Real normal_density(Real x, Real m, Real v) { return std::exp(-(x - m) * (x - m) / (2 * v)) / std::sqrt(2 * pi * v); }

}  // namespace test::gaussians

#endif
