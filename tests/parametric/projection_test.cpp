// Projections onto exponential families (parametric/projection.hpp): the M-projection satisfies its
// moment conditions E_q*[T] = E_p[T] and the Pythagorean identity KL(p||q) = KL(p||q*) + KL(q*||q);
// the I-projection onto a mean is the exponential tilt, has that mean, and minimizes KL(q || p) over
// the linear family (Pythagorean identity KL(r||p) = KL(r||q*) + KL(q*||p) for r in it).

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "divergence/discrete/kl.hpp"
#include "divergence/parametric/family_kl.hpp"
#include "divergence/parametric/projection.hpp"
#include "support/errors.hpp"

namespace parametric_projection_test {  // the test binary is a unity build: each file keeps its names to itself

using namespace divergence::parametric;

TEST_CASE("match_moments solves grad A(eta) = target", "[parametric][projection]")
{
    const Eigen::Vector2d gamma_target(0.3, 2.0);  // E ln x < ln E x
    const MomentMatch g = match_moments(natural::GammaFamily{}, gamma_target, Eigen::Vector2d(0.0, -1.0));
    CHECK(g.status == ProjectionStatus::converged);
    CHECK((natural::GammaFamily{}.mean(g.eta) - gamma_target).cwiseAbs().maxCoeff() <= 1e-11);
    const Eigen::Vector3d dirichlet_target(-1.5, -0.9, -1.8);
    const MomentMatch d = match_moments(natural::DirichletFamily{}, dirichlet_target, Eigen::Vector3d::Zero());
    CHECK(d.status == ProjectionStatus::converged);
    CHECK((natural::DirichletFamily{}.mean(d.eta) - dirichlet_target).cwiseAbs().maxCoeff() <= 1e-11);
    const Eigen::Vector2d normal_target(1.0, 3.0);  // E x, E x^2: variance 2
    const MomentMatch n = match_moments(natural::NormalFamily{}, normal_target, Eigen::Vector2d(0.0, -0.5));
    CHECK(n.eta[1] == Approx(-0.25).epsilon(1e-10));
    CHECK(n.eta[0] == Approx(0.5).epsilon(1e-10));
    // A target outside the mean space (E x^2 < (E x)^2) cannot be matched: reported, not thrown.
    const MomentMatch bad = match_moments(natural::NormalFamily{}, Eigen::Vector2d(1.0, 0.5), Eigen::Vector2d(0.0, -0.5));
    CHECK(bad.status != ProjectionStatus::converged);
}

TEST_CASE("m_projection of weighted samples matches the sufficient statistics", "[parametric][projection]")
{
    std::mt19937_64 rng(41);
    std::gamma_distribution<double> draw(2.0, 0.3);
    std::uniform_real_distribution<double> weight(0.1, 2.0);
    Eigen::ArrayXd x(200), w(200), y(200);
    for (int i = 0; i < 200; ++i) {
        x[i] = draw(rng);
        w[i] = weight(rng);
        y[i] = x[i] / (1.0 + x[i]);  // in (0, 1)
    }
    const Eigen::ArrayXd wn = w / w.sum();
    const double mean = (wn * x).sum(), mean_log = (wn * x.log()).sum();
    const Normal normal = m_projection<Normal>(x, w);
    CHECK(normal.mean == Approx(mean).epsilon(1e-13));
    CHECK(normal.stddev * normal.stddev == Approx((wn * (x - mean).square()).sum()).epsilon(1e-12));
    const Gamma gamma = m_projection<Gamma>(x, w);
    CHECK(gamma.shape / gamma.rate == Approx(mean).epsilon(1e-11));                                         // E x
    CHECK(divergence::parametric::detail::digamma(gamma.shape) - std::log(gamma.rate) == Approx(mean_log).epsilon(1e-11));  // E ln x
    const Exponential exponential = m_projection<Exponential>(x, w);
    CHECK(1.0 / exponential.rate == Approx(mean).epsilon(1e-13));
    const LogNormal lognormal = m_projection<LogNormal>(x, w);
    CHECK(lognormal.mu == Approx(mean_log).epsilon(1e-13));
    const Beta beta = m_projection<Beta>(y, w);
    const double psi_sum = divergence::parametric::detail::digamma(beta.alpha + beta.beta);
    CHECK(divergence::parametric::detail::digamma(beta.alpha) - psi_sum == Approx((wn * y.log()).sum()).epsilon(1e-11));
    CHECK(divergence::parametric::detail::digamma(beta.beta) - psi_sum == Approx((wn * (1.0 - y).log()).sum()).epsilon(1e-11));
    const Eigen::ArrayXd counts = (x * 5.0).floor();
    CHECK(m_projection<Poisson>(counts, w).rate == Approx((wn * counts).sum()).epsilon(1e-13));
    CHECK(m_projection<Geometric>(counts, w).probability == Approx(1.0 / (1.0 + (wn * counts).sum())).epsilon(1e-13));
    const Eigen::ArrayXd bits = (x > 0.6).cast<double>();
    CHECK(m_projection<Bernoulli>(bits).probability == Approx(bits.mean()).epsilon(1e-13));
    // Equal weights by default.
    CHECK(m_projection<Normal>(x).mean == Approx(x.mean()).epsilon(1e-13));
}

TEST_CASE("m_projection_of satisfies KL(p||q) = KL(p||q*) + KL(q*||q) (Pythagoras for the M-projection)", "[parametric][projection]")
{
    const auto pythagoras = [](const auto& p, const auto& q_star, const auto& q) {
        CAPTURE(kl(p, q), kl(p, q_star), kl(q_star, q));
        CHECK(kl(p, q) == Approx(kl(p, q_star) + kl(q_star, q)).epsilon(1e-9));
        CHECK(kl(p, q_star) <= kl(p, q));
    };
    const Beta beta{2.0, 5.0};
    const Gamma g = m_projection_of<Gamma>(beta);
    pythagoras(beta, g, Gamma{1.5, 4.0});
    pythagoras(beta, g, Gamma{4.0, 9.0});
    const Normal n = m_projection_of<Normal>(beta);
    pythagoras(beta, n, Normal{0.1, 0.5});
    const Exponential e = m_projection_of<Exponential>(Gamma{3.0, 2.0});
    CHECK(e.rate == Approx(2.0 / 3.0).epsilon(1e-15));
    pythagoras(Gamma{3.0, 2.0}, e, Exponential{0.2});
    const Beta b = m_projection_of<Beta>(Uniform{0.1, 0.6});
    pythagoras(Uniform{0.1, 0.6}, b, Beta{1.0, 1.0});
    pythagoras(Uniform{0.1, 0.6}, b, Beta{3.0, 2.0});
    const Normal from_laplace = m_projection_of<Normal>(Laplace{1.0, 2.0});
    CHECK(from_laplace.stddev == Approx(std::sqrt(8.0)).epsilon(1e-15));
    pythagoras(Laplace{1.0, 2.0}, from_laplace, Normal{0.0, 1.0});
}

TEST_CASE("i_projection_onto_mean: the tilt has the target mean and minimizes KL(q || p)", "[parametric][projection]")
{
    // Closed forms: the tilted member has the mean, and beats other members with that mean.
    const Gamma p{2.5, 1.5};
    const Gamma q = i_projection_onto_mean(p, 3.0);
    CHECK(q.shape / q.rate == Approx(3.0).epsilon(1e-15));
    for (double shape : {0.5, 2.0, 3.0, 10.0}) CHECK(kl(q, p) <= kl(Gamma{shape, shape / 3.0}, p));
    const Normal pn{1.0, 2.0};
    const Normal qn = i_projection_onto_mean(pn, -0.5);
    CHECK(qn.mean == -0.5);
    for (double s : {0.5, 1.5, 2.5}) CHECK(kl(qn, pn) <= kl(Normal{-0.5, s}, pn));
    CHECK(i_projection_onto_mean(Poisson{2.0}, 3.5).rate == 3.5);
    CHECK(i_projection_onto_mean(Exponential{2.0}, 4.0).rate == 0.25);
    CHECK(i_projection_onto_mean(Bernoulli{0.3}, 0.6).probability == 0.6);
    CHECK(i_projection_onto_mean(Binomial{10.0, 0.3}, 6.0).probability == 0.6);
    CHECK(i_projection_onto_mean(Geometric{0.3}, 1.0).probability == 0.5);
    // A finite discrete p: the tilt, and Pythagoras for the I-projection over the linear family.
    const Eigen::VectorXd die = Eigen::VectorXd::Constant(6, 1.0 / 6.0);
    const Eigen::VectorXd faces = (Eigen::VectorXd(6) << 1, 2, 3, 4, 5, 6).finished();
    const Tilt t = i_projection_onto_mean(die, faces, 4.5);
    CHECK(t.status == ProjectionStatus::converged);
    CHECK(t.probabilities.dot(faces) == Approx(4.5).epsilon(1e-12));
    CHECK(t.probabilities.sum() == Approx(1.0).epsilon(1e-14));
    for (int i = 1; i < 6; ++i) CHECK(t.probabilities[i] / t.probabilities[i - 1] == Approx(std::exp(t.lambda)).epsilon(1e-10));
    Eigen::VectorXd r(6);
    r << 0.05, 0.05, 0.1, 0.25, 0.25, 0.3;  // mean 4.5 too
    REQUIRE(r.dot(faces) == Approx(4.5).epsilon(1e-14));
    const double left = divergence::kl(r.transpose(), die.transpose());
    const double right = divergence::kl(r.transpose(), t.probabilities.transpose()) + divergence::kl(t.probabilities.transpose(), die.transpose());
    CHECK(left == Approx(right).epsilon(1e-10));
    // Near the edge of the support the tilt is extreme but stays finite.
    const Tilt edge = i_projection_onto_mean(die, faces, 5.999);
    CHECK(edge.status == ProjectionStatus::converged);
    CHECK(edge.probabilities.dot(faces) == Approx(5.999).epsilon(1e-12));
}

TEST_CASE("projections reject bad samples, weights and targets, naming the argument", "[parametric][projection][errors]")
{
    using test::fails_with;
    const Eigen::ArrayXd x = (Eigen::ArrayXd(3) << 0.5, 1.0, 2.0).finished();
    fails_with([] { m_projection<Normal>(Eigen::ArrayXd()); }, "m_projection<Normal>", "'samples'", "is empty");
    fails_with([&] { m_projection<Normal>(x, Eigen::ArrayXd::Ones(2)); }, "'weights'", "has 2 entries, samples has 3");
    fails_with([&] { m_projection<Normal>(x, (Eigen::ArrayXd(3) << 1, -1, 1).finished()); }, "'weights'", "column 1", ">= 0");
    fails_with([&] { m_projection<Normal>(x, Eigen::ArrayXd::Zero(3)); }, "'weights'", "sum to 0");
    fails_with([] { m_projection<Normal>(Eigen::ArrayXd::Constant(3, 2.0)); }, "'samples'", "zero variance");
    fails_with([] { m_projection<Gamma>((Eigen::ArrayXd(2) << 1.0, -1.0).finished()); }, "m_projection<Gamma>", "'samples'", "column 1", "> 0");
    fails_with([&] { m_projection<Beta>(x); }, "m_projection<Beta>", "'samples'", "in (0, 1)");
    fails_with([] { m_projection<Poisson>((Eigen::ArrayXd(2) << 1.0, 1.5).finished()); }, "'samples'", "integer");
    fails_with([] { m_projection<Bernoulli>((Eigen::ArrayXd(2) << 1.0, 2.0).finished()); }, "'samples'", "0 or 1");
    fails_with([] { m_projection<Normal>((Eigen::ArrayXd(2) << 1.0, INFINITY).finished()); }, "'samples'", "finite");
    fails_with([] { m_projection_of<Gamma>(Normal{0.0, 1.0}); }, "m_projection_of", "'p'", "[0, inf)");
    fails_with([] { m_projection_of<Beta>(Gamma{1.0, 1.0}); }, "'p'", "[0, 1]");
    fails_with([] { m_projection_of<Normal>(Gamma{-1.0, 1.0}); }, "'p.shape'");
    ProjectionOptions bad;
    bad.tolerance = 0.0;
    fails_with([&] { m_projection<Gamma>(x, Eigen::ArrayXd(), bad); }, "'options.tolerance'");
    fails_with([] { i_projection_onto_mean(Poisson{1.0}, -1.0); }, "i_projection_onto_mean", "'target'", "> 0");
    fails_with([] { i_projection_onto_mean(Bernoulli{0.5}, 1.0); }, "'target'", "must be in (0, 1");
    fails_with([] { i_projection_onto_mean(Bernoulli{1.0}, 0.5); }, "'p.probability'", "point mass");
    const Eigen::VectorXd die = Eigen::VectorXd::Constant(6, 1.0 / 6.0);
    const Eigen::VectorXd faces = (Eigen::VectorXd(6) << 1, 2, 3, 4, 5, 6).finished();
    fails_with([&] { i_projection_onto_mean(die, faces, 6.0); }, "'target'", "strictly between");
    fails_with([&] { i_projection_onto_mean(die, faces.head(5), 3.0); }, "'values'", "has 5 entries");
    fails_with([&] { i_projection_onto_mean(Eigen::VectorXd(die * 2.0), faces, 3.0); }, "'p'", "sum to 1");
}

TEST_CASE("m_projection_of a Beta with parameters of 1e300 onto Normal has the Beta's variance, not NaN", "[parametric][projection][edge]")
{
    // The fuzzer's case: Beta(1e300, 1e300) onto Normal gave a NaN standard deviation: a b / (n^2 (n + 1)) with n^2 = inf.
    // Reference: the closed form a b / ((a + b)^2 (a + b + 1)) in long double (whose range holds 1e900).
    for (const double a : {1e300, 2.0}) {
        const double b = a == 2.0 ? 3.0 : 1e300;
        const long double la = a, lb = b, n = la + lb;
        const Normal normal = m_projection_of<Normal>(Beta{a, b});
        CHECK(normal.mean == Approx(double(la / n)).epsilon(1e-15));
        CHECK(normal.stddev == Approx(double(std::sqrt(la * lb / (n * n * (n + 1))))).epsilon(1e-14));
    }
}

}  // namespace parametric_projection_test
