#include <catch2/catch.hpp>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/LU>
#include <Eigen/QR>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "divergence/parametric/diagonal_gaussian_rows.hpp"
#include "divergence/parametric/gaussian.hpp"
#include "divergence/parametric/gaussian_divergences.hpp"
#include "reference/gaussian_reference_values.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/gaussian.hpp"
#include "support/threads.hpp"

namespace parametric_gaussian_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace dp = divergence::parametric;

namespace {

using namespace test::gaussians;
using RowMat = dv::RowMatrix<double>;

// The parameters of tests/reference/make_gaussian_reference.py, to the bit (binary fractions).
Vec test_mean(int d, int k)
{
    Vec m(d);
    for (int i = 0; i < d; ++i) m[i] = double((5 * i + 3 * k) % 13 - 6) / 8.0;
    return m;
}
Mat test_factor(int d, int k)
{
    Mat L = Mat::Zero(d, d);
    for (int i = 0; i < d; ++i) {
        L(i, i) = 1.0 + double((i + k) % 5) / 4.0;
        for (int j = 0; j < i; ++j) L(i, j) = double((7 * i + 3 * j + k) % 11 - 5) / 16.0;
    }
    return L;
}
Vec test_variances(int d, int k)
{
    Vec v(d);
    for (int i = 0; i < d; ++i) v[i] = 0.25 + double((3 * i + k) % 7) / 4.0;
    return v;
}
double test_variance(int k) { return 0.5 + k / 4.0; }

dp::Gaussian<double> test_gaussian(const std::string& form, int d, int k)
{
    if (form == "full") {
        const Mat L = test_factor(d, k);
        return dp::gaussian_full(test_mean(d, k), Mat(L * L.transpose()));
    }
    if (form == "cholesky") return dp::gaussian_cholesky(test_mean(d, k), test_factor(d, k));
    if (form == "diagonal") return dp::gaussian_diagonal(test_mean(d, k), test_variances(d, k));
    return dp::gaussian_isotropic(test_mean(d, k), test_variance(k));
}

}  // namespace

TEST_CASE("parametric kl matches PyTorch kl_divergence for every Gaussian pair both implement", "[parametric][gaussian][reference]")
{
    for (const auto& c : gaussian_reference_values::kl_cases) {
        const dp::Gaussian<double> p = test_gaussian(c.form_p, c.dimension, c.k_p);
        const dp::Gaussian<double> q = test_gaussian(c.form_q, c.dimension, c.k_q);
        CAPTURE(c.torch_pair, c.form_p, c.form_q, c.dimension, c.k_p, c.k_q);
        CHECK(dp::kl(p, q) == Approx(c.kl).epsilon(1e-12));
    }
}

TEST_CASE("parametric kl matches the long-double textbook formula for every pair of covariance forms", "[parametric][gaussian]")
{
    for (const int d : {1, 2, 5, 64}) {
        for (const auto& [fp, fq] : form_pairs(d)) {
            const auto p = random_gaussian(fp, d, 11 + d), q = random_gaussian(fq, d, 97 + d);
            CAPTURE(d, int(fp), int(fq));
            CHECK(dp::kl(p, q) == Approx(double(kl_reference(p, q))).epsilon(1e-11));
        }
    }
}

TEST_CASE("parametric kl agrees with a Monte Carlo estimate of E_p[ln p - ln q] within 4 standard errors", "[parametric][gaussian][mc]")
{
    for (const auto form : {dp::CovarianceForm::full, dp::CovarianceForm::diagonal}) {
        const int d = form == dp::CovarianceForm::full ? 3 : 5;
        const auto p = random_gaussian(form, d, 5), q = random_gaussian(dp::CovarianceForm::cholesky, d, 6);
        const Eigen::LLT<MatL> llt(covariance_of(p));
        const MatL L = llt.matrixL();
        std::mt19937_64 rng(2024);
        std::normal_distribution<double> normal;
        const int n = 20000;
        Real sum = 0, sum_sq = 0;
        for (int s = 0; s < n; ++s) {
            VecL e(d);
            for (int i = 0; i < d; ++i) e[i] = normal(rng);
            const VecL x = p.mean.cast<Real>() + L * e;
            const Real t = log_density(x, p) - log_density(x, q);
            sum += t;
            sum_sq += t * t;
        }
        const Real mean = sum / n, standard_error = std::sqrt((sum_sq / n - mean * mean) / (n - 1));
        const double value = dp::kl(p, q);
        CAPTURE(int(form), value, double(mean), double(standard_error));
        CHECK(std::abs(double(mean) - value) <= 4.0 * double(standard_error));
    }
}

TEST_CASE("parametric kl is >= 0 (Gibbs' inequality) and 0 at p = q, in every form", "[parametric][gaussian][property]")
{
    for (const int d : {1, 3, 64}) {
        for (const auto& [fp, fq] : form_pairs(d)) {
            for (std::uint64_t seed = 0; seed < 3; ++seed) {
                const auto p = random_gaussian(fp, d, 100 * seed + 1), q = random_gaussian(fq, d, 100 * seed + 2);
                CAPTURE(d, int(fp), int(fq), seed);
                CHECK(dp::kl(p, q) >= 0.0);
            }
        }
        for (const auto fp : all_forms) {
            const auto p = random_gaussian(fp, d, 3);
            CHECK(dp::kl(p, p) == Approx(0.0).margin(1e-13));
            CHECK(dp::jeffreys(p, p) == Approx(0.0).margin(1e-13));
            CHECK(dp::cauchy_schwarz(p, p) == Approx(0.0).margin(1e-13));
            CHECK(dp::geometric_jensen_shannon(p, p) == Approx(0.0).margin(1e-13));
        }
    }
}

TEST_CASE("parametric kl keeps its relative accuracy when p and q nearly agree (no cancellation)", "[parametric][gaussian][numerics]")
{
    const int d = 4;
    const Mat L = test_factor(d, 1);
    const Mat S = L * L.transpose();
    const Vec m = test_mean(d, 1);
    // S1 = (1 + e) S2 with e = 2^-k, exact in binary (S's entries are short binary fractions): KL =
    // d/2 phi(ln(1 + e)) ~ d e^2 / 4, which the textbook formula loses entirely at e = 2^-30.
    for (const int k : {10, 20, 30}) {
        const double e = std::ldexp(1.0, -k);
        const double value = dp::kl(dp::gaussian_full(m, Mat((1.0 + e) * S)), dp::gaussian_full(m, S));
        const Real u = std::log1p(Real(e));
        Real phi = 0, power = u;  // e^u - 1 - u = sum_{n >= 2} u^n / n! (expm1(u) - u cancels even in long double)
        for (int n = 2; n < 12; ++n) phi += (power *= u / n);
        const Real expected = Real(d) / 2 * phi;
        CAPTURE(e, value, double(expected));
        CHECK(value == Approx(double(expected)).epsilon(1e-8));
        const double diagonal = dp::kl(dp::gaussian_isotropic(m, 1.0 + e), dp::gaussian_isotropic(m, 1.0));
        CHECK(diagonal == Approx(double(expected)).epsilon(1e-12));
    }
}

TEST_CASE("parametric kl of ill-conditioned covariances: error about cond(S) eps, and refused once not positive definite",
          "[parametric][gaussian][numerics]")
{
    const int d = 6;
    std::mt19937_64 rng(3);
    std::normal_distribution<double> normal;
    Mat a(d, d);
    for (int i = 0; i < d * d; ++i) a.data()[i] = normal(rng);
    const Mat rotation = Eigen::HouseholderQR<Mat>(a).householderQ();
    const auto conditioned = [&](double c) {
        Vec eigenvalues(d);
        for (int i = 0; i < d; ++i) eigenvalues[i] = std::pow(c, -double(i) / (d - 1));
        const Mat s = rotation * eigenvalues.asDiagonal() * rotation.transpose();
        return Mat(0.5 * (s + s.transpose()));
    };
    const Vec m1 = Vec::Constant(d, 0.1), m2 = Vec::Zero(d);
    for (const double c : {1e2, 1e6, 1e10}) {
        const Mat s2 = conditioned(c), s1 = 0.5 * Mat::Identity(d, d) + 0.1 * s2;
        const auto p = dp::gaussian_full(m1, s1), q = dp::gaussian_full(m2, s2);
        CAPTURE(c);
        CHECK(dp::kl(p, q) == Approx(double(kl_reference(p, q))).epsilon(100 * c * 1.1e-16));
    }
    test::fails_with([&] { dp::kl(dp::gaussian_full(m1, Mat::Identity(d, d)), dp::gaussian_full(m2, conditioned(1e17))); },
                     "'q.covariance'", "not symmetric positive definite");
}

TEST_CASE("parametric kl gradients match central differences in every covariance form", "[parametric][gaussian][gradient]")
{
    for (const int d : {1, 4}) {
        for (const auto fp : all_forms) {
            for (const auto fq : all_forms) {
                const auto p = random_gaussian(fp, d, 31 + d), q = random_gaussian(fq, d, 47 + d);
                dp::GaussianGradient<double> gp, gq;
                const double value = dp::kl(p, q, &gp, &gq);
                CAPTURE(d, int(fp), int(fq));
                CHECK(value == Approx(dp::kl(p, q)).epsilon(0));
                check_gradient(p, gp, [&](const dp::Gaussian<double>& x) { return dp::kl(x, q); });
                check_gradient(q, gq, [&](const dp::Gaussian<double>& x) { return dp::kl(p, x); });
            }
        }
    }
}

TEST_CASE("parametric kl gradients at d = 64 match central differences (a sample of entries)", "[parametric][gaussian][gradient]")
{
    for (const auto form : all_forms) {
        const auto p = random_gaussian(form, 64, 8), q = random_gaussian(dp::CovarianceForm::cholesky, 64, 9);
        dp::GaussianGradient<double> gp, gq;
        dp::kl(p, q, &gp, &gq);
        CAPTURE(int(form));
        check_gradient(p, gp, [&](const dp::Gaussian<double>& x) { return dp::kl(x, q); }, 97);
        check_gradient(q, gq, [&](const dp::Gaussian<double>& x) { return dp::kl(p, x); }, 97);
    }
}

TEST_CASE("parametric jeffreys is KL(p||q) + KL(q||p), symmetric, with gradients the sums of theirs", "[parametric][gaussian][jeffreys]")
{
    for (const auto fp : all_forms) {
        for (const auto fq : all_forms) {
            const auto p = random_gaussian(fp, 3, 5), q = random_gaussian(fq, 3, 6);
            CAPTURE(int(fp), int(fq));
            const double j = dp::jeffreys(p, q);
            CHECK(j == Approx(double(kl_reference(p, q) + kl_reference(q, p))).epsilon(1e-12));
            CHECK(j == Approx(dp::jeffreys(q, p)).epsilon(1e-14));
            dp::GaussianGradient<double> gp, gq;
            dp::jeffreys(p, q, &gp, &gq);
            check_gradient(p, gp, [&](const dp::Gaussian<double>& x) { return dp::jeffreys(x, q); });
            check_gradient(q, gq, [&](const dp::Gaussian<double>& x) { return dp::jeffreys(p, x); });
        }
    }
}


TEST_CASE("parametric geometric_jensen_shannon matches its definition by quadrature in d = 1 (Nielsen 2019)",
          "[parametric][gaussian][geometric_js]")
{
    const Real m1 = 0.3L, v1 = 0.7L, m2 = -1.1L, v2 = 2.5L;
    for (const double alpha : {0.5, 0.2, 0.9}) {
        // g = p^(1 - alpha) q^alpha / Z; JS = (1 - alpha) KL(p || g) + alpha KL(q || g).
        const auto unnormalized = [&](Real x) {
            return std::pow(normal_density(x, m1, v1), 1 - Real(alpha)) * std::pow(normal_density(x, m2, v2), Real(alpha));
        };
        const Real z = integrate(unnormalized);
        const auto kl_to_g = [&](Real m, Real v) {
            return integrate([&](Real x) {
                const Real p = normal_density(x, m, v);
                return p > 0 ? p * std::log(p * z / unnormalized(x)) : Real(0);
            });
        };
        const Real expected = (1 - Real(alpha)) * kl_to_g(m1, v1) + Real(alpha) * kl_to_g(m2, v2);
        for (const auto fp : all_forms) {
            const Vec a = Vec::Constant(1, double(m1)), b = Vec::Constant(1, double(m2));
            const auto p = fp == dp::CovarianceForm::isotropic ? dp::gaussian_isotropic(a, double(v1)) : dp::gaussian_full(a, Mat::Constant(1, 1, double(v1)));
            const auto q = dp::gaussian_diagonal(b, Vec::Constant(1, double(v2)));
            CAPTURE(alpha, int(fp));
            CHECK(dp::geometric_jensen_shannon(p, q, alpha) == Approx(double(expected)).epsilon(1e-11));
        }
    }
}

TEST_CASE("parametric geometric_jensen_shannon: symmetric at alpha = 1/2, JS_alpha(p, q) = JS_(1-alpha)(q, p), >= 0",
          "[parametric][gaussian][geometric_js][property]")
{
    for (const int d : {1, 3, 64}) {
        for (const auto& [fp, fq] : form_pairs(d)) {
            const auto p = random_gaussian(fp, d, 7), q = random_gaussian(fq, d, 8);
            CAPTURE(d, int(fp), int(fq));
            const double js = dp::geometric_jensen_shannon(p, q);
            CHECK(js > 0.0);
            CHECK(js == Approx(dp::geometric_jensen_shannon(q, p)).epsilon(1e-10));
            CHECK(dp::geometric_jensen_shannon(p, q, 0.3) == Approx(dp::geometric_jensen_shannon(q, p, 0.7)).epsilon(1e-10));
            CHECK(dp::geometric_jensen_shannon(p, q, 0.0) == Approx(0.0).margin(1e-12));
        }
    }
}

TEST_CASE("parametric geometric_jensen_shannon gradients (through the geometric mean too) match central differences",
          "[parametric][gaussian][geometric_js][gradient]")
{
    for (const int d : {1, 3}) {
        for (const double alpha : {0.5, 0.3, 1.0}) {
            for (const auto& [fp, fq] : form_pairs(d)) {
                const auto p = random_gaussian(fp, d, 61), q = random_gaussian(fq, d, 62);
                CAPTURE(d, alpha, int(fp), int(fq));
                dp::GaussianGradient<double> gp, gq;
                CHECK(dp::geometric_jensen_shannon(p, q, alpha, &gp, &gq) == dp::geometric_jensen_shannon(p, q, alpha));
                check_gradient(p, gp, [&](const dp::Gaussian<double>& x) { return dp::geometric_jensen_shannon(x, q, alpha); });
                check_gradient(q, gq, [&](const dp::Gaussian<double>& x) { return dp::geometric_jensen_shannon(p, x, alpha); });
            }
        }
    }
}

namespace {

/// Central differences of f in each nonzero mean entry and covariance parameter of g (not the full form: its
/// entries move in symmetric pairs), with a step relative to the entry (parameters as small as 1e-38), against
/// `grad`: each within 1e-4 of the larger of the two, or within the differences' rounding error 64 eps |f| / step.
void check_gradient_relative(dp::Gaussian<double> g, const dp::GaussianGradient<double>& grad,
                             const std::function<double(const dp::Gaussian<double>&)>& f)
{
    REQUIRE(g.form != dp::CovarianceForm::full);
    const double value = std::abs(f(g)), eps = std::numeric_limits<double>::epsilon();
    const auto check = [&](double& entry, double expected) {
        if (entry == 0.0) return;
        const double saved = entry, step = 1e-6 * std::abs(saved);
        entry = saved + step;
        const double up = f(g);
        entry = saved - step;
        const double down = f(g);
        entry = saved;
        const double fd = (up - down) / (2.0 * step);
        CAPTURE(saved, fd, expected, value);
        CHECK(std::abs(fd - expected) <= 1e-4 * std::max(std::abs(fd), std::abs(expected)) + 64 * eps * value / step);
    };
    for (Eigen::Index i = 0; i < g.mean.size(); ++i) check(g.mean[i], grad.mean[i]);
    for (Eigen::Index i = 0; i < g.covariance.rows(); ++i)
        for (Eigen::Index j = 0; j < g.covariance.cols(); ++j) check(g.covariance(i, j), grad.covariance(i, j));
}

}  // namespace

TEST_CASE("parametric geometric_jensen_shannon of a factor whose covariance rounds to singular in double matches long double",
          "[parametric][gaussian][geometric_js][edge]")
{
    // q's factor {2^27, 0; 2^27, 1} gives S2 = {2^54, 2^54; 2^54, 2^54 + 1}, which rounds to a singular matrix in
    // double: the geometric mean formed from S1 (alpha S1 + (1 - alpha) S2)^-1 S2 was wrong (and its gradients NaN
    // in the fuzzer's case below). S2 is exact in long double: the reference is the textbook formula there, g with
    // precision A = (1 - alpha) S1^-1 + alpha S2^-1 (explicit inverses) and mean A^-1 ((1 - alpha) S1^-1 m1 + alpha S2^-1 m2).
    const Vec m1 = (Vec(2) << 0.3, -0.2).finished(), m2 = (Vec(2) << -1.5, 2.0).finished();
    const Mat L2 = (Mat(2, 2) << 134217728.0, 0.0, 134217728.0, 1.0).finished();
    const auto kl_long = [](const VecL& a, const MatL& Sa, const VecL& b, const MatL& Sb) {
        const MatL Sb_inverse = Sb.inverse();
        const VecL delta = b - a;
        return 0.5L * ((Sb_inverse * Sa).trace() + delta.dot(Sb_inverse * delta) - Real(a.size()) + log_det(Sb) - log_det(Sa));
    };
    for (const double alpha : {0.5, 0.25, 0.9}) {
        for (const double v1 : {1e-6, 0.5}) {
            CAPTURE(alpha, v1);
            const auto p = dp::gaussian_isotropic(m1, v1);
            const auto q = dp::gaussian_cholesky(m2, L2);
            const MatL S1 = covariance_of(p), S2 = covariance_of(q);
            const Real a = alpha;
            const MatL A = (1 - a) * S1.inverse() + a * S2.inverse(), Sg = A.inverse();
            const VecL mg = Sg * ((1 - a) * S1.inverse() * m1.cast<Real>() + a * S2.inverse() * m2.cast<Real>());
            const Real expected = (1 - a) * kl_long(m1.cast<Real>(), S1, mg, Sg) + a * kl_long(m2.cast<Real>(), S2, mg, Sg);
            dp::GaussianGradient<double> gp, gq;
            CHECK(dp::geometric_jensen_shannon(p, q, alpha, &gp, &gq) == Approx(double(expected)).epsilon(1e-10));
            check_gradient_relative(p, gp, [&](const dp::Gaussian<double>& x) { return dp::geometric_jensen_shannon(x, q, alpha); });
            check_gradient_relative(q, gq, [&](const dp::Gaussian<double>& x) { return dp::geometric_jensen_shannon(p, x, alpha); });
        }
    }
    // The fuzzer's input: p's variance 1.2e-38, q's factor {1e20, 0; 1e20, 1.007} and mean -1e100 (NaN gradients).
    const auto p = dp::gaussian_isotropic((Vec(2) << -0.991851806640625, -0.914031982421875).finished(), 1.1754943508222875e-38);
    const auto q = dp::gaussian_cholesky((Vec(2) << -1e100, -9.9121093749999999e99).finished(),
                                         (Mat(2, 2) << 1e20, 0.0, 1e20, 1.00700927734375).finished());
    dp::GaussianGradient<double> gp, gq;
    const double value = dp::geometric_jensen_shannon(p, q, 0.5, &gp, &gq);
    CHECK(std::isfinite(value));
    CHECK((gp.mean.allFinite() && gp.covariance.allFinite() && gq.mean.allFinite() && gq.covariance.allFinite()));
    check_gradient_relative(p, gp, [&](const dp::Gaussian<double>& x) { return dp::geometric_jensen_shannon(x, q, 0.5); });
    check_gradient_relative(q, gq, [&](const dp::Gaussian<double>& x) { return dp::geometric_jensen_shannon(p, x, 0.5); });
}

TEST_CASE("parametric geometric_jensen_shannon at alpha = 0 and 1 is 0 with zero gradients (g is p or q)",
          "[parametric][gaussian][geometric_js][edge]")
{
    // The fuzzer's input: a subnormal variance (4.9e-324), whose precision is +inf, gave NaN through g = p.
    const auto p = dp::gaussian_diagonal(Vec::Constant(1, 20.33935546875), Vec::Constant(1, 4.9406564584124654e-324));
    const auto q = dp::gaussian_full(Vec::Constant(1, 0.0033792114257812501), Mat::Constant(1, 1, 4.7133300453424447e38));
    for (const double alpha : {0.0, 1.0}) {
        dp::GaussianGradient<double> gp, gq;
        CHECK(dp::geometric_jensen_shannon(p, q, alpha, &gp, &gq) == 0.0);
        CHECK((gp.mean.isZero(0.0) && gp.covariance.isZero(0.0) && gq.mean.isZero(0.0) && gq.covariance.isZero(0.0)));
    }
}

TEST_CASE("parametric cauchy_schwarz between Gaussians matches -ln of the normalized overlap by quadrature in d = 1",
          "[parametric][gaussian][cauchy_schwarz]")
{
    const Real m1 = 0.3L, v1 = 0.7L, m2 = -1.1L, v2 = 2.5L;
    const Real pq = integrate([&](Real x) { return normal_density(x, m1, v1) * normal_density(x, m2, v2); });
    const Real pp = integrate([&](Real x) { return normal_density(x, m1, v1) * normal_density(x, m1, v1); });
    const Real qq = integrate([&](Real x) { return normal_density(x, m2, v2) * normal_density(x, m2, v2); });
    const Real expected = -std::log(pq / std::sqrt(pp * qq));
    const Vec a = Vec::Constant(1, double(m1)), b = Vec::Constant(1, double(m2));
    CHECK(dp::cauchy_schwarz(dp::gaussian_full(a, Mat::Constant(1, 1, double(v1))), dp::gaussian_isotropic(b, double(v2))) ==
          Approx(double(expected)).epsilon(1e-12));
    CHECK(dp::cauchy_schwarz(dp::gaussian_diagonal(a, Vec::Constant(1, double(v1))), dp::gaussian_isotropic(b, double(v2))) ==
          Approx(double(expected)).epsilon(1e-12));
}

TEST_CASE("parametric cauchy_schwarz between Gaussians: symmetric, >= 0, the long-double closed form, gradients",
          "[parametric][gaussian][cauchy_schwarz]")
{
    for (const int d : {1, 4, 64}) {
        for (const auto& [fp, fq] : form_pairs(d)) {
            const auto p = random_gaussian(fp, d, 17), q = random_gaussian(fq, d, 18);
            CAPTURE(d, int(fp), int(fq));
            const double cs = dp::cauchy_schwarz(p, q);
            CHECK(cs == Approx(dp::cauchy_schwarz(q, p)).epsilon(1e-12));
            const MatL s1 = covariance_of(p), s2 = covariance_of(q), c = s1 + s2;
            const VecL delta = (q.mean - p.mean).cast<Real>();
            const Real expected = 0.5L * delta.dot(c.inverse() * delta) + 0.5L * (log_det(c) - Real(d) * std::log(2.0L)) -
                                  0.25L * log_det(s1) - 0.25L * log_det(s2);
            CHECK(cs == Approx(double(expected)).epsilon(1e-11));
            CHECK(cs > 0.0);
            if (d > 4) continue;
            dp::GaussianGradient<double> gp, gq;
            dp::cauchy_schwarz(p, q, &gp, &gq);
            check_gradient(p, gp, [&](const dp::Gaussian<double>& x) { return dp::cauchy_schwarz(x, q); });
            check_gradient(q, gq, [&](const dp::Gaussian<double>& x) { return dp::cauchy_schwarz(p, x); });
        }
    }
}

TEST_CASE("parametric kl covariance gradient is +-inf, not NaN, where the mean difference or a variance overflows",
          "[parametric][gaussian][gradient][edge]")
{
    // delta = m2 - m1 ~ (-1e300, 1e300): u = S2^-1 delta is finite but u u^T overflows, so
    // G2 = 1/2 (S2^-1 - S2^-1 S1 S2^-1) - 1/2 u u^T has entries +-inf; the Cholesky-form gradient
    // tril(2 G2 L2) = tril((S2^-1 - S2^-1 S1 S2^-1) L2 - u (L2^T u)^T) too. Reference: the same formulas
    // in long double (whose range holds u u^T), rounded to double.
    using LD = long double;
    const Vec m1 = (Vec(2) << -1000.0, -988.0).finished(), m2 = (Vec(2) << -1e300, 9.9e299).finished();
    const Mat S1 = (Mat(2, 2) << 1.0, 0.5, 0.5, 2.0).finished(), S2 = (Mat(2, 2) << 2.0, -1.0, -1.0, 3.0).finished();
    const LD det = LD(S2(0, 0)) * S2(1, 1) - LD(S2(0, 1)) * S2(1, 0);
    const LD inv[2][2] = {{S2(1, 1) / det, -S2(0, 1) / det}, {-S2(1, 0) / det, S2(0, 0) / det}};
    LD delta[2], u[2];
    for (int i = 0; i < 2; ++i) delta[i] = LD(m2[i]) - LD(m1[i]);
    for (int i = 0; i < 2; ++i) u[i] = inv[i][0] * delta[0] + inv[i][1] * delta[1];
    LD G[2][2];
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
            LD quadratic = 0;  // (S2^-1 S1 S2^-1)_ij
            for (int k = 0; k < 2; ++k)
                for (int l = 0; l < 2; ++l) quadratic += inv[i][k] * LD(S1(k, l)) * inv[l][j];
            G[i][j] = 0.5L * (inv[i][j] - quadratic) - 0.5L * u[i] * u[j];
        }
    const LD l00 = std::sqrt(LD(S2(0, 0))), l10 = LD(S2(1, 0)) / l00, l11 = std::sqrt(LD(S2(1, 1)) - l10 * l10);
    const LD L[2][2] = {{l00, 0}, {l10, l11}};
    const auto same = [](double got, LD expected) {
        CAPTURE(got, double(expected));
        if (std::isinf(double(expected))) CHECK(got == double(expected));
        else CHECK(got == Approx(double(expected)).epsilon(1e-12));
    };
    dp::GaussianGradient<double> gp, gq;
    CHECK(dp::kl(dp::gaussian_full(m1, S1), dp::gaussian_full(m2, S2), &gp, &gq) == std::numeric_limits<double>::infinity());
    for (int i = 0; i < 2; ++i) {
        same(gq.mean[i], u[i]);
        for (int j = 0; j < 2; ++j) same(gq.covariance(i, j), G[i][j]);
    }
    CHECK(std::isinf(gq.covariance(0, 0)));
    CHECK(gq.covariance(0, 1) == std::numeric_limits<double>::infinity());
    const Mat L2 = S2.llt().matrixL();
    CHECK(dp::kl(dp::gaussian_full(m1, S1), dp::gaussian_cholesky(m2, L2), &gp, &gq) == std::numeric_limits<double>::infinity());
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
            LD expected = 0;  // tril((G + G^T) L)
            for (int k = 0; k < 2; ++k) expected += (G[i][k] + G[k][i]) * L[k][j];
            same(gq.covariance(i, j), j <= i ? expected : 0.0L);
        }
    // A variance near DBL_MAX: jeffreys' gradient for p (Cholesky form) has G_p = 1/2 Sq^-1 - 1/2 Sp^-1 (Sq + delta
    // delta^T) Sp^-1 (the sum of KL(p||q)'s and KL(q||p)'s), whose Sp^-1 Sq Sp^-1 overflows (M M^T in the solver).
    {
        const Mat Lp = (Mat(2, 2) << 0.95564819335937501, 0.0, 0.27056884765625, 0.28056884765625001).finished();
        const Vec mp = (Vec(2) << -0.70050048828125, 0.026519775390625).finished(), mq = Vec::Constant(2, 2.7056884765625);
        const Vec vq = (Vec(2) << 2.7056884765625, 1.7976931348623157e308).finished();
        // 2 G_p L = Sq^-1 L - A^T A (Sq + delta delta^T) A^T with A = L^-1 (Sp^-1 L = L^-T): no huge terms cancel
        // (A_01 = 0 exactly keeps the variance 1.8e308 out of column 0).
        const LD l00 = Lp(0, 0), l10 = Lp(1, 0), l11 = Lp(1, 1);
        const LD A[2][2] = {{1.0L / l00, 0.0L}, {-l10 / (l00 * l11), 1.0L / l11}};
        const LD Sq[2] = {vq[0], vq[1]};
        LD d2[2], Ad[2], X[2][2], Gp2L[2][2];
        for (int i = 0; i < 2; ++i) d2[i] = LD(mq[i]) - LD(mp[i]);
        for (int i = 0; i < 2; ++i) Ad[i] = A[i][0] * d2[0] + A[i][1] * d2[1];
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) X[i][j] = A[i][0] * Sq[0] * A[j][0] + A[i][1] * Sq[1] * A[j][1] + Ad[i] * Ad[j];
        const LD L[2][2] = {{l00, 0.0L}, {l10, l11}};
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
                LD ATX = 0;  // (A^T X)_ij
                for (int k = 0; k < 2; ++k) ATX += A[k][i] * X[k][j];
                Gp2L[i][j] = L[i][j] / Sq[i] - ATX;
            }
        dp::GaussianGradient<double> g;
        CHECK(dp::jeffreys(dp::gaussian_cholesky(mp, Lp), dp::gaussian_diagonal(mq, vq), &g, &gq) == std::numeric_limits<double>::infinity());
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
                CAPTURE(i, j);
                same(g.covariance(i, j), j <= i ? Gp2L[i][j] : 0.0L);
            }
    }
    const auto no_nan = [](const dp::GaussianGradient<double>& g) { return !g.mean.hasNaN() && !g.covariance.hasNaN(); };
    for (const char* form_p : {"full", "cholesky", "diagonal", "isotropic"})
        for (const char* form_q : {"full", "cholesky", "diagonal", "isotropic"}) {
            CAPTURE(form_p, form_q);
            dp::Gaussian<double> p = test_gaussian(form_p, 2, 1), q = test_gaussian(form_q, 2, 2);
            p.mean = m1;
            q.mean = m2;
            CHECK(dp::kl(p, q, &gp, &gq) == std::numeric_limits<double>::infinity());
            CHECK((no_nan(gp) && no_nan(gq)));
            dp::jeffreys(p, q, &gp, &gq);
            CHECK((no_nan(gp) && no_nan(gq)));
            dp::cauchy_schwarz(p, q, &gp, &gq);
            CHECK((no_nan(gp) && no_nan(gq)));
        }
}

TEST_CASE("parametric kl covariance gradient of p is finite where M^T M overflows (a factor of 1e300)",
          "[parametric][gaussian][gradient][edge]")
{
    // The fuzzer's case: p's Cholesky factor L1 ~ 1e300, q's moderate: M = L2^-1 L1 ~ 1e300 and M^T M
    // overflows, so 1/2 L1^-T (M^T M - I) L1^-1 was NaN. Reference: tril((S2^-1 - S1^-1) L1) =
    // tril(S2^-1 L1 - L1^-T) in long double.
    using LD = long double;
    const Mat L1 = (Mat(2, 2) << 1e300, 0.0, -4.0966796875000005e299, 2.8771972656250003e299).finished();
    const Mat L2 = (Mat(2, 2) << 0.52452636718750001, 0.0, 0.8349609375, 1.007100830078125).finished();
    const Vec m1 = (Vec(2) << 0.06695556640625, -0.988037109375).finished(), m2 = (Vec(2) << -0.355560302734375, -0.87469482421875).finished();
    LD S2[2][2];
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) S2[i][j] = LD(L2(i, 0)) * L2(j, 0) + LD(L2(i, 1)) * L2(j, 1);
    const LD det = S2[0][0] * S2[1][1] - S2[0][1] * S2[1][0];
    const LD S2i[2][2] = {{S2[1][1] / det, -S2[0][1] / det}, {-S2[1][0] / det, S2[0][0] / det}};
    // L1^-T (upper triangular): the transpose of the inverse of the lower triangular L1.
    const LD a = L1(0, 0), b = L1(1, 0), c = L1(1, 1);
    const LD L1i[2][2] = {{1.0L / a, 0.0L}, {-b / (a * c), 1.0L / c}};
    dp::GaussianGradient<double> gp, gq;
    dp::kl(dp::gaussian_cholesky(m1, L1), dp::gaussian_cholesky(m2, L2), &gp, &gq);
    REQUIRE_FALSE(gp.covariance.hasNaN());
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j <= i; ++j) {
            const LD expected = S2i[i][0] * LD(L1(0, j)) + S2i[i][1] * LD(L1(1, j)) - L1i[j][i];
            CAPTURE(i, j);
            CHECK(gp.covariance(i, j) == Approx(double(expected)).epsilon(1e-12));
        }
    CHECK(gp.covariance(0, 1) == 0.0);
}

TEST_CASE("parametric cauchy_schwarz between Gaussians with factors of 1e99 and 1e299 (covariances beyond DBL_MAX)",
          "[parametric][gaussian][cauchy_schwarz][edge]")
{
    // The fuzzer's case: S2 = L2 L2^T ~ 1e598 overflows, so the Cholesky factorization of S1 + S2 gave NaN mean
    // gradients, and A A^T (A = L1^-1 L2 ~ 1e200) overflowed in the value. The factor of S1 + S2 is now formed from the
    // factors scaled by a power of 2. Reference: the closed form in long double (whose range holds 1e598); p's
    // gradient tril(2 G1 L1), G1 = 1/2 C^-1 - 1/4 S1^-1 - 1/2 u u^T, u = C^-1 delta.
    const Mat L1 = (Mat(2, 2) << 6.5625e99, 0.0, -8.0535888671874998e99, 9.1735839843750005e98).finished();
    const Mat L2 = (Mat(2, 2) << 7.8125000000000004e298, 0.0, 6.4083862304687505e299, 1.0595703125e299).finished();
    const auto p = dp::gaussian_cholesky((Vec(2) << -0.90625, -0.986968994140625).finished(), L1);
    const auto q = dp::gaussian_cholesky((Vec(2) << -30.0, -29.6429443359375).finished(), L2);
    const MatL s1 = covariance_of(p), s2 = covariance_of(q), c = s1 + s2, c_inverse = c.inverse();
    const VecL delta = (q.mean - p.mean).cast<Real>(), u = c_inverse * delta;
    const Real expected = 0.5L * delta.dot(u) + 0.5L * (log_det(c) - 2 * std::log(2.0L)) - 0.25L * log_det(s1) - 0.25L * log_det(s2);
    dp::GaussianGradient<double> gp, gq;
    CHECK(dp::cauchy_schwarz(p, q, &gp, &gq) == Approx(double(expected)).epsilon(1e-12));
    CHECK(dp::cauchy_schwarz(q, p) == Approx(double(expected)).epsilon(1e-12));
    CHECK((gp.mean.allFinite() && gp.covariance.allFinite() && gq.mean.allFinite() && gq.covariance.allFinite()));
    const MatL G1 = 0.5L * c_inverse - 0.25L * s1.inverse() - 0.5L * u * u.transpose();
    const MatL expected_p = MatL(2.0L * G1 * L1.cast<Real>()).triangularView<Eigen::Lower>();
    // Entrywise to 1e-10 of the largest entry: (1, 0) is 0 in long double (1e-499) and rounding noise here.
    const double largest = double(expected_p.cwiseAbs().maxCoeff());
    for (int i = 0; i < 2; ++i) {
        CHECK(gp.mean[i] == Approx(double(-u[i])).epsilon(1e-10));
        for (int j = 0; j < 2; ++j) {
            CAPTURE(i, j, gp.covariance(i, j), double(expected_p(i, j)));
            CHECK(std::abs(gp.covariance(i, j) - double(expected_p(i, j))) <= 1e-10 * largest);
        }
    }
    check_gradient(p, gp, [&](const dp::Gaussian<double>& x) { return dp::cauchy_schwarz(x, q); });
    check_gradient(q, gq, [&](const dp::Gaussian<double>& x) { return dp::cauchy_schwarz(p, x); });
}

TEST_CASE("parametric jeffreys, kl and cauchy_schwarz mean gradients are +-inf, not NaN, at a mean of -DBL_MAX",
          "[parametric][gaussian][gradient][edge]")
{
    // The fuzzer's case: q.mean = (-14.6, -DBL_MAX) with q's factor diag(29.97, 0.01): L2^-1 delta has -inf in entry 1,
    // and the solve with L2^T multiplied it by the 0 above the diagonal (NaN). Now delta is scaled by a power of 2
    // first. Reference: (S1^-1 + S2^-1)(m1 - m2) and its parts in long double (whose range holds 1e312), rounded.
    const Mat L1 = (Mat(2, 2) << 0.95564819335937501, 0.0, 0.947906494140625, 0.077047119140624995).finished();
    const Mat L2 = (Mat(2, 2) << 29.965139160156252, 0.0, 0.0, 0.01).finished();
    const auto p = dp::gaussian_cholesky((Vec(2) << -0.70050048828125, 0.026519775390625).finished(), L1);
    const auto q = dp::gaussian_cholesky((Vec(2) << -14.5733642578125, -1.7976931348623157e308).finished(), L2);
    const MatL s1 = covariance_of(p), s2 = covariance_of(q);
    const VecL difference = (p.mean.cast<Real>() - q.mean.cast<Real>());
    const VecL forward = s2.inverse() * difference, jeffreys = forward + s1.inverse() * difference;
    const VecL cs = (s1 + s2).inverse() * difference;
    const auto same = [](double got, Real expected) {
        CAPTURE(got, double(expected));
        if (std::isinf(double(expected))) CHECK(got == double(expected));
        else CHECK(got == Approx(double(expected)).epsilon(1e-12));
    };
    dp::GaussianGradient<double> gp, gq;
    dp::jeffreys(p, q, &gp, &gq);
    for (int i = 0; i < 2; ++i) {
        same(gp.mean[i], jeffreys[i]);
        same(gq.mean[i], -jeffreys[i]);
    }
    dp::kl(p, q, &gp, &gq);
    for (int i = 0; i < 2; ++i) same(gp.mean[i], forward[i]);
    dp::cauchy_schwarz(p, q, &gp, &gq);
    for (int i = 0; i < 2; ++i) same(gp.mean[i], cs[i]);
}

TEST_CASE("parametric Gaussian divergences from float inputs agree with double", "[parametric][gaussian][float]")
{
    const auto p = random_gaussian(dp::CovarianceForm::full, 5, 1), q = random_gaussian(dp::CovarianceForm::cholesky, 5, 2);
    const dp::Gaussian<float> pf{p.form, p.mean.cast<float>(), p.covariance.cast<float>()};
    const dp::Gaussian<float> qf{q.form, q.mean.cast<float>(), q.covariance.cast<float>()};
    dp::GaussianGradient<float> gp, gq;
    dp::GaussianGradient<double> dp_, dq;
    CHECK(double(dp::kl(pf, qf, &gp, &gq)) == Approx(dp::kl(p, q, &dp_, &dq)).epsilon(1e-5));
    CHECK(test::close(gp.mean.cast<double>(), dp_.mean, 1e-4, 1e-5));
    CHECK(test::close(gq.covariance.cast<double>(), dq.covariance, 1e-4, 1e-5));
    CHECK(double(dp::cauchy_schwarz(pf, qf)) == Approx(dp::cauchy_schwarz(p, q)).epsilon(1e-5));
    CHECK(double(dp::jeffreys(pf, qf)) == Approx(dp::jeffreys(p, q)).epsilon(1e-5));
    CHECK(double(dp::geometric_jensen_shannon(pf, qf)) == Approx(dp::geometric_jensen_shannon(p, q)).epsilon(1e-5));
}

TEST_CASE("parametric Gaussian arguments that are not Gaussians are refused with the argument named", "[parametric][gaussian][errors]")
{
    const Vec m = Vec::Zero(2);
    const Mat good = Mat::Identity(2, 2);
    const auto q = dp::gaussian_full(m, good);
    Mat not_spd(2, 2);
    not_spd << 1.0, 2.0, 2.0, 1.0;
    test::fails_with([&] { dp::kl(dp::gaussian_full(m, not_spd), q); }, "parametric::kl", "'p.covariance'", "not symmetric positive definite");
    Mat asymmetric(2, 2);
    asymmetric << 2.0, 0.5, 0.4, 2.0;
    test::fails_with([&] { dp::kl(q, dp::gaussian_full(m, asymmetric)); }, "'q.covariance'", "row 1, column 0", "symmetric");
    Mat upper = Mat::Identity(2, 2);
    upper(0, 1) = 0.3;
    test::fails_with([&] { dp::kl(dp::gaussian_cholesky(m, upper), q); }, "'p.covariance'", "row 0, column 1", "lower triangular");
    Mat zero_diagonal = Mat::Identity(2, 2);
    zero_diagonal(1, 1) = 0.0;
    test::fails_with([&] { dp::kl(dp::gaussian_cholesky(m, zero_diagonal), q); }, "row 1, column 1", "must be > 0");
    test::fails_with([&] { dp::kl(q, dp::gaussian_diagonal(m, Vec::Constant(2, -1.0))); }, "'q.covariance'", "row 0", "variance must be finite and > 0");
    test::fails_with([&] { dp::jeffreys(q, dp::gaussian_isotropic(m, 0.0)); }, "parametric::jeffreys", "variance must be finite and > 0");
    test::fails_with([&] { dp::cauchy_schwarz(q, dp::gaussian_isotropic(m, std::nan(""))); }, "parametric::cauchy_schwarz", "variance");
    Vec bad_mean = m;
    bad_mean[1] = std::numeric_limits<double>::infinity();
    test::fails_with([&] { dp::kl(dp::gaussian_full(bad_mean, good), q); }, "'p.mean'", "row 1", "mean must be finite");
    test::fails_with([&] { dp::kl(q, dp::gaussian_full(Vec::Zero(3), Mat::Identity(3, 3))); }, "'q'", "dimension 3 differs");
    test::fails_with([&] { dp::kl(dp::gaussian_full(m, Mat::Identity(3, 3)), q); }, "'p.covariance'", "shape 3 x 3");
    test::fails_with([&] { dp::kl(dp::gaussian_diagonal(m, Vec::Ones(3)), q); }, "'p.covariance'", "d variances");
    test::fails_with([&] { dp::kl(dp::gaussian_full(Vec(), Mat()), q); }, "'p.mean'", "empty");
    Mat nan_entry = good;
    nan_entry(0, 1) = std::nan("");
    test::fails_with([&] { dp::kl(dp::gaussian_full(m, nan_entry), q); }, "row 0, column 1", "finite");
    test::fails_with([&] { dp::geometric_jensen_shannon(q, q, 1.5); }, "'alpha'", "[0, 1]");
    test::fails_with([&] { dp::geometric_jensen_shannon(q, q, std::nan("")); }, "'alpha'");
}

// ---------------------------------------------------------------------------------------------
// Batches of diagonal Gaussians.

namespace {

struct DiagonalBatch {
    RowMat mean_p, spread_p, mean_q, spread_q;  // spread: variances or log-variances
};

DiagonalBatch random_batch(int rows, int d, bool log_form, std::uint64_t seed)
{
    std::mt19937_64 rng(seed);
    // Entries at least 0.2 away from 0 (the differences take relative steps): means and log-variances
    // +-[0.2, 1], variances [0.3, 2.5].
    std::uniform_real_distribution<double> magnitude(0.2, 1.0), positive(0.3, 2.5);
    std::bernoulli_distribution negative(0.5);
    const auto signed_entry = [&] { return negative(rng) ? -magnitude(rng) : magnitude(rng); };
    DiagonalBatch b{RowMat(rows, d), RowMat(rows, d), RowMat(rows, d), RowMat(rows, d)};
    for (int i = 0; i < rows * d; ++i) {
        b.mean_p.data()[i] = signed_entry();
        b.mean_q.data()[i] = signed_entry();
        b.spread_p.data()[i] = log_form ? signed_entry() : positive(rng);
        b.spread_q.data()[i] = log_form ? signed_entry() : positive(rng);
    }
    return b;
}

double row_kl(const DiagonalBatch& b, int r, bool log_form)
{
    const auto variances = [&](const RowMat& s) { return Vec(log_form ? Vec(s.row(r).array().exp()) : Vec(s.row(r).transpose())); };
    return dp::kl(dp::gaussian_diagonal(Vec(b.mean_p.row(r).transpose()), variances(b.spread_p)),
                  dp::gaussian_diagonal(Vec(b.mean_q.row(r).transpose()), variances(b.spread_q)));
}

double batch_kl(const DiagonalBatch& b, bool log_form, const dv::Options& options = {},
                const dp::DiagonalGaussianOutputs<double>& out = {})
{
    return log_form ? dp::kl_diagonal_log(b.mean_p, b.spread_p, b.mean_q, b.spread_q, options, out)
                    : dp::kl_diagonal(b.mean_p, b.spread_p, b.mean_q, b.spread_q, options, out);
}

}  // namespace

TEST_CASE("parametric kl_diagonal rows equal the single-Gaussian kl of each row, with reductions, masks and weights",
          "[parametric][gaussian][rows]")
{
    for (const bool log_form : {false, true}) {
        const int rows = 6, d = 9;
        const DiagonalBatch b = random_batch(rows, d, log_form, log_form ? 3 : 4);
        const dv::RowValues<double> values = log_form ? dp::kl_diagonal_log_rows(b.mean_p, b.spread_p, b.mean_q, b.spread_q)
                                                      : dp::kl_diagonal_rows(b.mean_p, b.spread_p, b.mean_q, b.spread_q);
        REQUIRE(values.size() == rows);
        double total = 0.0;
        for (int r = 0; r < rows; ++r) {
            CAPTURE(log_form, r);
            CHECK(values[r] == Approx(row_kl(b, r, log_form)).epsilon(1e-14));
            total += values[r];
        }
        CHECK(batch_kl(b, log_form) == Approx(total / rows).epsilon(1e-14));
        CHECK(batch_kl(b, log_form, {dv::Reduction::sum}) == Approx(total).epsilon(1e-14));
        CHECK(batch_kl(b, log_form, {dv::Reduction::batchmean}) == Approx(total / rows).epsilon(1e-14));
        Eigen::Array<bool, Eigen::Dynamic, 1> keep(rows);
        keep << true, false, true, true, false, true;
        Eigen::VectorXd w(rows);
        w << 0.5, 1.0, 2.0, 0.0, 3.0, 1.5;
        dv::Options options;
        options.mask = keep;
        options.weights = w;
        double expected = 0.0;
        for (int r = 0; r < rows; ++r) expected += keep[r] ? w[r] * values[r] : 0.0;
        CHECK(batch_kl(b, log_form, options) == Approx(expected / 4.0).epsilon(1e-14));
        // Column-major inputs read the same numbers.
        const Mat mp = b.mean_p, sp = b.spread_p, mq = b.mean_q, sq = b.spread_q;
        const double column_major = log_form ? dp::kl_diagonal_log(mp, sp, mq, sq) : dp::kl_diagonal(mp, sp, mq, sq);
        CHECK(column_major == batch_kl(b, log_form));
    }
}

namespace {

/// e^u - 1 - u in long double: the series where expm1(u) - u would cancel.
Real phi_reference(Real u)
{
    if (std::abs(u) > 0.5L) return std::expm1(u) - u;
    Real sum = 0, power = u;
    for (int n = 2; n < 30; ++n) sum += (power *= u / n);
    return sum;
}

}  // namespace

TEST_CASE("parametric kl_diagonal: the vector lanes match long-double terms for ln(v1/v2) from 1e-12 to 30 in size",
          "[parametric][gaussian][rows][numerics]")
{
    // 3 rows of 37 columns (packets and a scalar tail), u = l1 - l2 spread over many magnitudes and signs.
    const int rows = 3, d = 37;
    RowMat m1(rows, d), l1(rows, d), m2(rows, d), l2(rows, d);
    for (int r = 0; r < rows; ++r) {
        for (int i = 0; i < d; ++i) {
            const double u = (i % 2 ? -1.0 : 1.0) * std::pow(10.0, -12.0 + 13.5 * double(i) / (d - 1));  // |u| in [1e-12, 3e1]
            m1(r, i) = 0.25 * r - 0.01 * i;
            m2(r, i) = (i % 3 == 0) ? m1(r, i) : 0.5 - 0.02 * i;
            l2(r, i) = -1.0 + 0.05 * i - 0.3 * r;
            l1(r, i) = l2(r, i) + u;
        }
    }
    const dv::RowValues<double> values = dp::kl_diagonal_log_rows(m1, l1, m2, l2);
    RowMat v1 = l1.array().exp(), v2 = l2.array().exp();
    const dv::RowValues<double> from_variances = dp::kl_diagonal_rows(m1, v1, m2, v2);
    for (int r = 0; r < rows; ++r) {
        Real expected = 0, expected_variances = 0;
        for (int i = 0; i < d; ++i) {
            const Real delta2 = (Real(m2(r, i)) - m1(r, i)) * (Real(m2(r, i)) - m1(r, i));
            expected += 0.5L * (phi_reference(Real(l1(r, i)) - Real(l2(r, i))) + delta2 * std::exp(-Real(l2(r, i))));
            expected_variances += 0.5L * (phi_reference(std::log(Real(v1(r, i)) / Real(v2(r, i)))) + delta2 / Real(v2(r, i)));
        }
        CAPTURE(r);
        CHECK(values[r] == Approx(double(expected)).epsilon(1e-14));
        CHECK(from_variances[r] == Approx(double(expected_variances)).epsilon(1e-14));
    }
    // A single coordinate with tiny u: the series lanes keep the relative accuracy of the term.
    const Eigen::VectorXd zero = Eigen::VectorXd::Zero(4), tiny = Eigen::VectorXd::Constant(4, 1e-9);
    CHECK(dp::kl_diagonal_log(zero, tiny, zero, zero, {dv::Reduction::sum}) == Approx(double(4 * phi_reference(1e-9L) / 2)).epsilon(1e-14));
    // Exponentials that overflow: +inf, never NaN (the lanes fall back to the scalar formula).
    Eigen::VectorXd huge = Eigen::VectorXd::Zero(4);
    huge[1] = 720.0;
    const double infinite = dp::kl_diagonal_log(zero, huge, zero, zero);
    CHECK(std::isinf(infinite));
    CHECK(infinite > 0);
}

TEST_CASE("parametric kl_diagonal_log against the VAE prior N(0, I) is 1/2 sum (e^l + m^2 - 1 - l)", "[parametric][gaussian][rows]")
{
    const DiagonalBatch b = random_batch(4, 16, true, 9);
    const RowMat zeros = RowMat::Zero(4, 16);
    const dv::RowValues<double> values = dp::kl_diagonal_log_rows(b.mean_p, b.spread_p, zeros, zeros);
    for (int r = 0; r < 4; ++r) {
        Real expected = 0;
        for (int i = 0; i < 16; ++i) {
            const Real l = b.spread_p(r, i), m = b.mean_p(r, i);
            expected += 0.5L * (std::exp(l) + m * m - 1 - l);
        }
        CHECK(values[r] == Approx(double(expected)).epsilon(1e-13));
    }
}

TEST_CASE("parametric kl_diagonal gradients match central differences of the reduced value", "[parametric][gaussian][rows][gradient]")
{
    for (const bool log_form : {false, true}) {
        for (const int d : {1, 64}) {
            const int rows = 3;
            const DiagonalBatch b = random_batch(rows, d, log_form, 21 + d);
            Eigen::VectorXd w(rows);
            w << 0.5, 2.0, 1.0;
            dv::Options options;
            options.weights = w;
            RowMat g[4] = {RowMat(rows, d), RowMat(rows, d), RowMat(rows, d), RowMat(rows, d)};
            dp::DiagonalGaussianOutputs<double> out;
            out.grad_mean_p = g[0];
            out.grad_variance_p = g[1];
            out.grad_mean_q = g[2];
            out.grad_variance_q = g[3];
            batch_kl(b, log_form, options, out);
            for (int k = 0; k < 4; ++k) {
                const RowMat* inputs[4] = {&b.mean_p, &b.spread_p, &b.mean_q, &b.spread_q};
                const RowMat fd = test::central_difference(*inputs[k], [&](const RowMat& x) {
                    DiagonalBatch moved = b;
                    RowMat* targets[4] = {&moved.mean_p, &moved.spread_p, &moved.mean_q, &moved.spread_q};
                    *targets[k] = x;
                    return batch_kl(moved, log_form, options);
                });
                CAPTURE(log_form, d, k);
                CHECK(test::close(g[k], fd, 1e-6, 1e-6 * fd.cwiseAbs().maxCoeff()));
            }
        }
    }
}

TEST_CASE("parametric kl_diagonal gives the same bits on 1, 2 and 3 threads", "[parametric][gaussian][rows][threads]")
{
    // 1100 x 64 entries: enough for the parallel path (rows x columns >= 65536).
    const DiagonalBatch b = random_batch(1100, 64, true, 31);
    RowMat grad(1100, 64);
    dp::DiagonalGaussianOutputs<double> out;
    out.grad_variance_p = grad;
    const auto run = [&] {
        const double value = batch_kl(b, true, {}, out);
        return std::make_pair(value, RowMat(grad));
    };
    const auto one = test::with_threads(1, run), two = test::with_threads(2, run), three = test::with_threads(3, run);
    CHECK(one.first == two.first);
    CHECK(one.first == three.first);
    CHECK(one.second == two.second);
    CHECK(one.second == three.second);
}

TEST_CASE("parametric kl_diagonal from float inputs agrees with double", "[parametric][gaussian][rows][float]")
{
    const DiagonalBatch b = random_batch(5, 33, false, 4);
    const dv::RowMatrix<float> mp = b.mean_p.cast<float>(), sp = b.spread_p.cast<float>(), mq = b.mean_q.cast<float>(),
                               sq = b.spread_q.cast<float>();
    const dv::RowValues<float> values = dp::kl_diagonal_rows(mp, sp, mq, sq);
    // The float inputs, read exactly in double: only the final rounding to float differs.
    const DiagonalBatch exact{mp.cast<double>(), sp.cast<double>(), mq.cast<double>(), sq.cast<double>()};
    for (int r = 0; r < 5; ++r) CHECK(double(values[r]) == Approx(row_kl(exact, r, false)).epsilon(1e-7));
}

TEST_CASE("parametric kl_diagonal refuses bad batches with the argument named", "[parametric][gaussian][rows][errors]")
{
    const DiagonalBatch b = random_batch(3, 4, false, 1);
    const RowMat wrong(3, 5);
    test::fails_with([&] { dp::kl_diagonal(b.mean_p, b.spread_p, wrong, b.spread_q); }, "parametric::kl_diagonal", "'mean_q'", "shape 3 x 5");
    RowMat negative = b.spread_q;
    negative(2, 1) = -0.5;
    test::fails_with([&] { dp::kl_diagonal(b.mean_p, b.spread_p, b.mean_q, negative); }, "'variances_q'", "row 2, column 1", "> 0");
    RowMat infinite = b.spread_p;
    infinite(1, 3) = std::numeric_limits<double>::infinity();
    test::fails_with([&] { dp::kl_diagonal_log(b.mean_p, infinite, b.mean_q, b.spread_q); }, "'log_variances_p'", "row 1, column 3", "finite");
    test::fails_with([&] { dp::kl_diagonal(b.mean_p, b.spread_p, b.mean_q, b.spread_q, {dv::Reduction::none}); }, "'options.reduction'");
    const RowMat empty(0, 4);
    test::fails_with([&] { dp::kl_diagonal(empty, empty, empty, empty); }, "'mean_p'", "empty");
    dv::RowValues<double> v(3);
    dp::DiagonalGaussianOutputs<double> out;
    out.row_values = v;
    test::fails_with([&] { dp::kl_diagonal_rows(b.mean_p, b.spread_p, b.mean_q, b.spread_q, {}, out); }, "'row_values'");
    RowMat small_grad(2, 4);
    dp::DiagonalGaussianOutputs<double> bad_grad;
    bad_grad.grad_variance_q = small_grad;
    test::fails_with([&] { dp::kl_diagonal(b.mean_p, b.spread_p, b.mean_q, b.spread_q, {}, bad_grad); }, "'grad_variance_q'");
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(2);
    keep << true, false;
    dv::Options options;
    options.mask = keep;
    test::fails_with([&] { dp::kl_diagonal(b.mean_p, b.spread_p, b.mean_q, b.spread_q, options); }, "'mask'", "2 entries for 3 rows");
    // A masked-out row is not checked (Validation::full checks the kept rows).
    Eigen::Array<bool, Eigen::Dynamic, 1> drop_last(3);
    drop_last << true, true, false;
    dv::Options masked;
    masked.mask = drop_last;
    CHECK(std::isfinite(dp::kl_diagonal(b.mean_p, b.spread_p, b.mean_q, negative, masked)));
}

}  // namespace parametric_gaussian_test
