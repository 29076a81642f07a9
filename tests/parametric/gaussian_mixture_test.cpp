#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "divergence/parametric/gaussian_divergences.hpp"
#include "divergence/parametric/gaussian_mixture.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/gaussian.hpp"

namespace parametric_gaussian_mixture_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dp = divergence::parametric;

namespace {

using namespace test::gaussians;
using F = dp::CovarianceForm;

/// A mixture of components of the given forms, random (seeded) components and weights.
dp::GaussianMixture<double> random_mixture(const std::vector<F>& forms, int d, std::uint64_t seed, double spread = 1.0)
{
    std::vector<dp::Gaussian<double>> components;
    Vec w(Eigen::Index(forms.size()));
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.2, 1.0);
    for (std::size_t k = 0; k < forms.size(); ++k) {
        components.push_back(random_gaussian(forms[k], d, seed * 31 + k));
        components.back().mean *= spread;
        w[Eigen::Index(k)] = u(rng);
    }
    w /= w.sum();
    return dp::gaussian_mixture(w, components);
}

/// ln sum_{i,j} w_i v_j N(a_i | b_j, S_i + T_j), in long double from dense covariances (no log-sum-exp:
/// the tests keep the overlaps representable).
Real log_overlap_reference(const dp::GaussianMixture<double>& p, const dp::GaussianMixture<double>& q)
{
    Real sum = 0;
    for (std::size_t i = 0; i < p.components.size(); ++i) {
        for (std::size_t j = 0; j < q.components.size(); ++j) {
            const dp::Gaussian<double>& a = p.components[i];
            const dp::Gaussian<double>& b = q.components[j];
            const dp::Gaussian<double> sum_of{F::full, b.mean, Mat((covariance_of(a) + covariance_of(b)).cast<double>())};
            sum += Real(p.weights[Eigen::Index(i)]) * Real(q.weights[Eigen::Index(j)]) * std::exp(log_density(a.mean.cast<Real>(), sum_of));
        }
    }
    return std::log(sum);
}

Real cs_reference(const dp::GaussianMixture<double>& p, const dp::GaussianMixture<double>& q)
{
    return -log_overlap_reference(p, q) + 0.5L * log_overlap_reference(p, p) + 0.5L * log_overlap_reference(q, q);
}

}  // namespace

TEST_CASE("parametric cauchy_schwarz of one-component mixtures equals the two-Gaussian formula, gradients too",
          "[parametric][gaussian_mixture]")
{
    for (const int d : {1, 4, 64}) {
        for (const auto& [fp, fq] : form_pairs(d)) {
            const auto a = random_gaussian(fp, d, 3), b = random_gaussian(fq, d, 4);
            const auto p = dp::gaussian_mixture(Vec::Ones(1), std::vector<dp::Gaussian<double>>{a});
            const auto q = dp::gaussian_mixture(Vec::Ones(1), std::vector<dp::Gaussian<double>>{b});
            CAPTURE(d, int(fp), int(fq));
            dp::GaussianGradient<double> ga, gb;
            const double single = dp::cauchy_schwarz(a, b, &ga, &gb);
            dp::GaussianMixtureGradient<double> gp, gq;
            CHECK(dp::cauchy_schwarz(p, q) == Approx(single).epsilon(1e-12).margin(1e-13));
            CHECK(dp::cauchy_schwarz(p, q, &gp, &gq) == Approx(single).epsilon(1e-12).margin(1e-13));
            CHECK(test::close(gp.components[0].mean, ga.mean, 1e-9, 1e-12));
            CHECK(test::close(gp.components[0].covariance, ga.covariance, 1e-9, 1e-12));
            CHECK(test::close(gq.components[0].mean, gb.mean, 1e-9, 1e-12));
            CHECK(test::close(gq.components[0].covariance, gb.covariance, 1e-9, 1e-12));
            CHECK(std::abs(gp.logits[0]) <= 1e-12);
        }
    }
}

TEST_CASE("parametric cauchy_schwarz of mixtures matches quadrature of int p q, int p^2, int q^2 in d = 1 (long double)",
          "[parametric][gaussian_mixture]")
{
    const auto p = random_mixture({F::full, F::diagonal, F::isotropic}, 1, 5, 2.0);
    const auto q = random_mixture({F::cholesky, F::full}, 1, 6, 2.0);
    const auto density = [](const dp::GaussianMixture<double>& m, Real x) {
        Real sum = 0;
        for (std::size_t k = 0; k < m.components.size(); ++k) {
            sum += Real(m.weights[Eigen::Index(k)]) *
                   normal_density(x, Real(m.components[k].mean[0]), covariance_of(m.components[k])(0, 0));
        }
        return sum;
    };
    const Real pq = integrate([&](Real x) { return density(p, x) * density(q, x); });
    const Real pp = integrate([&](Real x) { return density(p, x) * density(p, x); });
    const Real qq = integrate([&](Real x) { return density(q, x) * density(q, x); });
    const Real expected = -std::log(pq / std::sqrt(pp * qq));
    CHECK(dp::cauchy_schwarz(p, q) == Approx(double(expected)).epsilon(1e-12));
}

TEST_CASE("parametric cauchy_schwarz of mixtures: the long-double sums, symmetry, D(p, p) = 0, >= 0, order of components",
          "[parametric][gaussian_mixture][property]")
{
    for (const int d : {2, 5, 64}) {
        const auto p = random_mixture({F::full, F::diagonal, F::cholesky}, d, 7);
        const auto q = random_mixture({F::isotropic, F::full}, d, 8);
        CAPTURE(d);
        const double cs = dp::cauchy_schwarz(p, q);
        CHECK(cs == Approx(double(cs_reference(p, q))).epsilon(1e-11));
        CHECK(cs > 0.0);
        CHECK(cs == Approx(dp::cauchy_schwarz(q, p)).epsilon(1e-13));
        CHECK(dp::cauchy_schwarz(p, p) == Approx(0.0).margin(1e-13));
        auto reordered = p;
        std::swap(reordered.components[0], reordered.components[2]);
        std::swap(reordered.weights[0], reordered.weights[2]);
        CHECK(dp::cauchy_schwarz(reordered, q) == Approx(cs).epsilon(1e-13));
    }
}

TEST_CASE("parametric cauchy_schwarz of far-apart components stays finite and exact (log-sum-exp, no -ln 0)",
          "[parametric][gaussian_mixture][numerics]")
{
    const Vec zero = Vec::Zero(1), far = Vec::Constant(1, 80.0);
    const auto a = dp::gaussian_isotropic(zero, 0.1), b = dp::gaussian_isotropic(far, 0.1);
    const auto single = [](const dp::Gaussian<double>& g) { return dp::gaussian_mixture(Vec::Ones(1), std::vector<dp::Gaussian<double>>{g}); };
    // 1/2 80^2 / 0.2: the overlap exp(-16000) underflows, its logarithm does not.
    CHECK(dp::cauchy_schwarz(single(a), single(b)) == Approx(16000.0).epsilon(1e-15));
    // p = (N(0) + N(80)) / 2, q = N(80): every cross term e^-16000 is negligible, D = ln(2) / 2.
    const auto p = dp::gaussian_mixture(Vec::Constant(2, 0.5), std::vector<dp::Gaussian<double>>{a, b});
    dp::GaussianMixtureGradient<double> gp;
    CHECK(dp::cauchy_schwarz(p, single(b), &gp) == Approx(0.5 * std::log(2.0)).epsilon(1e-15));
    CHECK(std::isfinite(gp.weights[0]));
    CHECK(std::isfinite(gp.components[0].mean[0]));
}

TEST_CASE("parametric cauchy_schwarz of mixtures: a component of weight 0 changes nothing and has finite gradients",
          "[parametric][gaussian_mixture]")
{
    const auto p = random_mixture({F::full, F::diagonal}, 3, 9);
    const auto q = random_mixture({F::cholesky}, 3, 10);
    auto padded = p;
    padded.components.push_back(random_gaussian(F::isotropic, 3, 11));
    padded.weights.conservativeResize(3);
    padded.weights[2] = 0.0;
    dp::GaussianMixtureGradient<double> g;
    CHECK(dp::cauchy_schwarz(padded, q, &g) == Approx(dp::cauchy_schwarz(p, q)).epsilon(1e-14));
    CHECK(std::isfinite(g.weights[2]));
    CHECK(g.logits[2] == 0.0);
    CHECK(g.components[2].mean.cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("parametric cauchy_schwarz of mixtures: gradients match central differences (logits, means, covariances)",
          "[parametric][gaussian_mixture][gradient]")
{
    for (const int d : {1, 3}) {
        const auto p = random_mixture({F::full, F::diagonal, F::cholesky}, d, 12);
        const auto q = random_mixture({F::isotropic, F::full}, d, 13);
        dp::GaussianMixtureGradient<double> gp, gq;
        dp::cauchy_schwarz(p, q, &gp, &gq);
        for (const bool first : {true, false}) {
            const auto& x = first ? p : q;
            const auto& g = first ? gp : gq;
            const auto value = [&](const dp::GaussianMixture<double>& moved) {
                return first ? dp::cauchy_schwarz(moved, q) : dp::cauchy_schwarz(p, moved);
            };
            CAPTURE(d, first);
            // Weights: sum_m w_m d/dw_m = 0 (scale invariance) and d/dz = w d/dw for w = softmax(z), the
            // latter against differences in z.
            CHECK(std::abs(x.weights.dot(g.weights)) <= 1e-12 * g.weights.cwiseAbs().maxCoeff());
            CHECK(test::close(g.logits, Vec(x.weights.cwiseProduct(g.weights)), 1e-12, 1e-15));
            const Vec z = x.weights.array().log();
            const Vec fd = test::central_difference(z, [&](const Vec& zz) {
                auto moved = x;
                moved.weights = zz.array().exp();
                moved.weights /= moved.weights.sum();
                return value(moved);
            });
            CHECK(test::close(g.logits, fd, 1e-6, 1e-9));
            for (std::size_t k = 0; k < x.components.size(); ++k) {
                CAPTURE(k);
                check_gradient(x.components[k], g.components[k], [&](const dp::Gaussian<double>& c) {
                    auto moved = x;
                    moved.components[k] = c;
                    return value(moved);
                });
            }
        }
    }
}

TEST_CASE("parametric cauchy_schwarz of mixtures from float inputs agrees with double", "[parametric][gaussian_mixture][float]")
{
    const auto p = random_mixture({F::full, F::diagonal}, 4, 14);
    const auto q = random_mixture({F::cholesky, F::isotropic, F::full}, 4, 15);
    const auto to_float = [](const dp::GaussianMixture<double>& m) {
        dp::GaussianMixture<float> f{m.weights.cast<float>(), {}};
        for (const auto& c : m.components) f.components.push_back({c.form, c.mean.cast<float>(), c.covariance.cast<float>()});
        return f;
    };
    dp::GaussianMixtureGradient<float> gf;
    dp::GaussianMixtureGradient<double> gd;
    CHECK(double(dp::cauchy_schwarz(to_float(p), to_float(q), &gf)) == Approx(dp::cauchy_schwarz(p, q, &gd)).epsilon(1e-5));
    CHECK(test::close(gf.components[1].covariance.cast<double>(), gd.components[1].covariance, 1e-4, 1e-5));
}

TEST_CASE("parametric cauchy_schwarz refuses bad mixtures with the argument named", "[parametric][gaussian_mixture][errors]")
{
    const auto q = random_mixture({F::full, F::diagonal}, 2, 16);
    auto negative = q;
    negative.weights << 1.5, -0.5;
    test::fails_with([&] { dp::cauchy_schwarz(negative, q); }, "parametric::cauchy_schwarz", "'p.weights'", "row 1", "finite and >= 0");
    auto unnormalized = q;
    unnormalized.weights << 0.5, 0.4;
    test::fails_with([&] { dp::cauchy_schwarz(q, unnormalized); }, "'q.weights'", "weights sum to 0.9", "not 1", "tolerance");
    auto missing = q;
    missing.components.pop_back();
    test::fails_with([&] { dp::cauchy_schwarz(missing, q); }, "'p.components'", "1 components for 2 weights");
    auto mixed = q;
    mixed.components[1] = random_gaussian(F::full, 3, 1);
    test::fails_with([&] { dp::cauchy_schwarz(q, mixed); }, "'q.components[1].mean'", "dimension 3 differs");
    auto not_spd = q;
    not_spd.components[0].covariance << 1.0, 2.0, 2.0, 1.0;
    test::fails_with([&] { dp::cauchy_schwarz(not_spd, q); }, "'p.components[0].covariance'", "not symmetric positive definite");
    const auto other_dimension = random_mixture({F::full}, 3, 17);
    test::fails_with([&] { dp::cauchy_schwarz(q, other_dimension); }, "'q'", "dimension 3 differs from p's 2");
    const dp::GaussianMixture<double> empty;
    test::fails_with([&] { dp::cauchy_schwarz(empty, q); }, "'p.weights'", "empty mixture");
    auto nan_weight = q;
    nan_weight.weights[0] = std::numeric_limits<double>::quiet_NaN();
    test::fails_with([&] { dp::cauchy_schwarz(nan_weight, q); }, "'p.weights'", "row 0");
}

TEST_CASE("parametric cauchy_schwarz of mixtures: a component 1e300 away adds 0 to the gradients, not NaN",
          "[parametric][mixture][gradient][edge]")
{
    // The far component's pairs have a share r = 0 (exp of -1e600) and u u^T = +inf: r u u^T was 0 * inf.
    // Reference: central differences of the value in the near components' covariances (the far one's
    // pairs do not change it).
    const Mat S = (Mat(2, 2) << 0.52, 0.456, 0.456, 0.596).finished();
    const auto far_mixture = [&](const Mat& near_covariance) {
        std::vector<dp::Gaussian<double>> c{dp::gaussian_full(Vec::Zero(2), near_covariance),
                                            dp::gaussian_full((Vec(2) << 9.5e298, -9.8e299).finished(), S)};
        return dp::gaussian_mixture((Vec(2) << 0.3, 0.7).finished(), c);
    };
    const auto q = dp::gaussian_mixture(Vec::Ones(1), std::vector<dp::Gaussian<double>>{
                                                          dp::gaussian_full((Vec(2) << 0.1, 0.58).finished(), Mat(0.07 * Mat::Identity(2, 2)))});
    const Mat near = (Mat(2, 2) << 0.39, 0.1, 0.1, 0.5).finished();
    dp::GaussianMixtureGradient<double> gp, gq;
    const double value = dp::cauchy_schwarz(far_mixture(near), q, &gp, &gq);
    CHECK(std::isfinite(value));
    for (const auto* g : {&gp, &gq}) {
        CHECK_FALSE(g->weights.hasNaN());
        for (const auto& c : g->components) {
            CHECK_FALSE(c.mean.hasNaN());
            CHECK_FALSE(c.covariance.hasNaN());
        }
    }
    const Mat numeric = test::central_difference(near, [&](const Mat& s) {
        return dp::cauchy_schwarz(far_mixture(Mat(0.5 * (s + s.transpose()))), q);
    });
    CHECK(test::close(gp.components[0].covariance, numeric, 1e-5, 1e-7));
}

TEST_CASE("parametric cauchy_schwarz of mixtures that do not overlap in double: +inf, no NaN gradient",
          "[parametric][mixture][gradient][edge]")
{
    // The fuzzer's case: p's only weighted component has a mean coordinate of -DBL_MAX, so every pair of p and q has
    // density 0 in double and int p q = 0: the value is +inf (-ln 0), and the shares r / int p q were 0 / 0 = NaN in
    // the gradients. That sum now adds nothing; the self terms' gradients stay, finite.
    std::vector<dp::Gaussian<double>> c{dp::gaussian_isotropic((Vec(2) << 0.645721435546875, -1.7976931348623157e+308).finished(), 0.42498779296875),
                                        dp::gaussian_isotropic((Vec(2) << 0.095489501953125, -0.98321533203125).finished(), 0.053924560546875)};
    const auto p = dp::gaussian_mixture((Vec(2) << 1.0, 0.0).finished(), c);
    const auto q = dp::gaussian_mixture(Vec::Ones(1), std::vector<dp::Gaussian<double>>{
                                                          dp::gaussian_isotropic((Vec(2) << 0.10052490234375, 0.583160400390625).finished(), 0.069183349609375)});
    CHECK(dp::cauchy_schwarz(p, q) == std::numeric_limits<double>::infinity());
    dp::GaussianMixtureGradient<double> gp, gq;
    CHECK(dp::cauchy_schwarz(p, q, &gp, &gq) == std::numeric_limits<double>::infinity());
    for (const auto* g : {&gp, &gq}) {
        CHECK_FALSE(g->weights.hasNaN());
        CHECK_FALSE(g->logits.hasNaN());
        for (const auto& component : g->components) {
            CHECK_FALSE(component.mean.hasNaN());
            CHECK_FALSE(component.covariance.hasNaN());
        }
    }
}

TEST_CASE("parametric cauchy_schwarz of mixtures with a Cholesky factor of 1e300 (a covariance beyond DBL_MAX)",
          "[parametric][mixture][gradient][edge]")
{
    // The fuzzer's case: S = L L^T ~ 1e600 overflowed to +inf in S + S', whose Cholesky factorization gave NaN
    // weight gradients. The factor of S + S' is now formed from the factors scaled by a power of 2. Reference: the
    // overlaps in long double (whose range holds 1e600) with a log-sum-exp, and central differences.
    const Mat L = (Mat(2, 2) << 9.9630737304687508e299, 0.0, -2.9333496093750002e299, 2.9702758789062503e299).finished();
    const Vec near_mean = (Vec(2) << -0.356597900390625, 0.275665283203125).finished();
    const auto p = dp::gaussian_mixture((Vec(2) << 0.58643404591388015, 0.41356595408611996).finished(),
                                        std::vector<dp::Gaussian<double>>{dp::gaussian_isotropic(near_mean, 0.38751220703125),
                                                                          dp::gaussian_cholesky((Vec(2) << -0.0099, -0.0098).finished(), L)});
    const auto q = dp::gaussian_mixture(Vec::Ones(1), std::vector<dp::Gaussian<double>>{
                                                          dp::gaussian_isotropic(Vec::Constant(2, 29.99908447265625), 29.99908447265625)});
    const auto log_overlap_long = [](const dp::GaussianMixture<double>& x, const dp::GaussianMixture<double>& y) {
        std::vector<Real> terms;
        for (std::size_t i = 0; i < x.components.size(); ++i)
            for (std::size_t j = 0; j < y.components.size(); ++j) {
                const MatL c = covariance_of(x.components[i]) + covariance_of(y.components[j]);
                const VecL r = (x.components[i].mean - y.components[j].mean).cast<Real>();
                terms.push_back(std::log(Real(x.weights[Eigen::Index(i)]) * Real(y.weights[Eigen::Index(j)])) - std::log(2 * pi) -
                                0.5L * log_det(c) - 0.5L * r.dot(c.inverse() * r));
            }
        const Real top = *std::max_element(terms.begin(), terms.end());
        Real sum = 0;
        for (const Real t : terms) sum += std::exp(t - top);
        return top + std::log(sum);
    };
    const Real expected = -log_overlap_long(p, q) + 0.5L * log_overlap_long(p, p) + 0.5L * log_overlap_long(q, q);
    dp::GaussianMixtureGradient<double> gp, gq;
    CHECK(dp::cauchy_schwarz(p, q, &gp, &gq) == Approx(double(expected)).epsilon(1e-12));
    for (const auto* g : {&gp, &gq}) {
        CHECK(g->weights.allFinite());
        CHECK(g->logits.allFinite());
        for (const auto& c : g->components) CHECK((c.mean.allFinite() && c.covariance.allFinite()));
    }
    const Vec fd = test::central_difference(Vec(p.weights.array().log()), [&](const Vec& z) {
        auto moved = p;
        moved.weights = z.array().exp();
        moved.weights /= moved.weights.sum();
        return dp::cauchy_schwarz(moved, q);
    });
    CAPTURE(gp.logits, fd);
    CHECK(test::close(gp.logits, fd, 1e-6, 1e-7));  // the value is 31: differences in z of 5e-7 round to about 1e-8
    for (std::size_t k = 0; k < 2; ++k) {
        CAPTURE(k);
        check_gradient(p.components[k], gp.components[k], [&](const dp::Gaussian<double>& c) {
            auto moved = p;
            moved.components[k] = c;
            return dp::cauchy_schwarz(moved, q);
        });
    }
}

}  // namespace parametric_gaussian_mixture_test
