// KL as the Bregman divergence of a log-partition (parametric/exponential_family.hpp): equal to each
// family's closed form (family_kl.hpp) and to the discrete KL for categoricals, gradients against
// central differences in the natural parameters, the chain rule to the usual parameters, errors.

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "divergence/discrete/kl.hpp"
#include "divergence/parametric/exponential_family.hpp"
#include "divergence/parametric/family_kl.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"

namespace parametric_exponential_family_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using namespace divergence::parametric;

/// Bregman form on the natural parameters of p and q == the explicit formula in the usual ones.
template <class F>
void check_bregman_equals_closed_form(const F& p, const F& q, double tolerance = 1e-13)
{
    const auto family = natural::family_of(p);
    const double bregman = bregman_kl(family, natural::parameters(p), natural::parameters(q));
    const double closed = kl(p, q);
    CAPTURE(bregman, closed);
    CHECK(std::abs(bregman - closed) <= tolerance * (1.0 + closed));
}

/// d/deta_p and d/deta_q of bregman_kl_gradient against central differences of bregman_kl.
template <class Family>
void check_bregman_gradient(const Family& family, const Eigen::VectorXd& eta_p, const Eigen::VectorXd& eta_q)
{
    const BregmanKlGradient g = bregman_kl_gradient(family, eta_p, eta_q);
    CHECK(g.value == bregman_kl(family, eta_p, eta_q));
    const Eigen::VectorXd fd_p = test::central_difference(eta_p, [&](const Eigen::VectorXd& e) { return bregman_kl(family, e, eta_q); });
    const Eigen::VectorXd fd_q = test::central_difference(eta_q, [&](const Eigen::VectorXd& e) { return bregman_kl(family, eta_p, e); });
    CAPTURE(g.d_p.transpose(), fd_p.transpose(), g.d_q.transpose(), fd_q.transpose());
    CHECK(test::close(g.d_p, fd_p, 1e-6, 1e-8));
    CHECK(test::close(g.d_q, fd_q, 1e-6, 1e-8));
    CHECK(test::close(g.d_mean_p, Eigen::VectorXd(eta_p - eta_q), 1e-15, 0.0));
}

}  // namespace

TEST_CASE("bregman_kl equals the closed form of every family", "[parametric][exponential_family]")
{
    std::mt19937_64 rng(31);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const auto positive = [&](double lo, double hi) { return std::exp(std::log(lo) + u(rng) * (std::log(hi) - std::log(lo))); };
    for (int i = 0; i < 20; ++i) {
        CAPTURE(i);
        check_bregman_equals_closed_form(Bernoulli{0.02 + 0.96 * u(rng)}, Bernoulli{0.02 + 0.96 * u(rng)});
        check_bregman_equals_closed_form(BernoulliLogit{-5 + 10 * u(rng)}, BernoulliLogit{-5 + 10 * u(rng)});
        check_bregman_equals_closed_form(Binomial{9.0, 0.02 + 0.96 * u(rng)}, Binomial{9.0, 0.02 + 0.96 * u(rng)});
        check_bregman_equals_closed_form(Poisson{positive(0.1, 30)}, Poisson{positive(0.1, 30)});
        check_bregman_equals_closed_form(Geometric{0.02 + 0.96 * u(rng)}, Geometric{0.02 + 0.96 * u(rng)});
        check_bregman_equals_closed_form(Exponential{positive(0.1, 10)}, Exponential{positive(0.1, 10)});
        check_bregman_equals_closed_form(Gamma{positive(0.2, 30), positive(0.1, 10)}, Gamma{positive(0.2, 30), positive(0.1, 10)});
        check_bregman_equals_closed_form(Beta{positive(0.2, 30), positive(0.2, 30)}, Beta{positive(0.2, 30), positive(0.2, 30)});
        check_bregman_equals_closed_form(Dirichlet{Eigen::Vector4d(positive(0.2, 30), positive(0.2, 30), positive(0.2, 30), positive(0.2, 30))},
                                         Dirichlet{Eigen::Vector4d(positive(0.2, 30), positive(0.2, 30), positive(0.2, 30), positive(0.2, 30))});
        check_bregman_equals_closed_form(Normal{-3 + 6 * u(rng), positive(0.2, 5)}, Normal{-3 + 6 * u(rng), positive(0.2, 5)});
        check_bregman_equals_closed_form(LogNormal{-3 + 6 * u(rng), positive(0.2, 5)}, LogNormal{-3 + 6 * u(rng), positive(0.2, 5)});
    }
}

TEST_CASE("bregman_kl of the categorical family equals the discrete kl of the probabilities", "[parametric][exponential_family]")
{
    const Eigen::VectorXd p = (Eigen::VectorXd(5) << 0.1, 0.3, 0.05, 0.25, 0.3).finished();
    const Eigen::VectorXd q = (Eigen::VectorXd(5) << 0.2, 0.2, 0.2, 0.1, 0.3).finished();
    const auto natural_of = [](const Eigen::VectorXd& x) { return Eigen::VectorXd((x.head(4).array() / x[4]).log()); };
    const double bregman = bregman_kl(natural::CategoricalFamily{}, natural_of(p), natural_of(q));
    const double discrete = divergence::kl(p.transpose(), q.transpose());
    CHECK(bregman == Approx(discrete).epsilon(1e-14));
}

TEST_CASE("bregman_kl_gradient matches central differences in the natural parameters", "[parametric][exponential_family][gradient]")
{
    check_bregman_gradient(natural::GammaFamily{}, Eigen::Vector2d(1.5, -2.0), Eigen::Vector2d(0.3, -0.7));
    check_bregman_gradient(natural::DirichletFamily{}, Eigen::Vector3d(0.5, 2.0, -0.3), Eigen::Vector3d(1.5, 0.2, 0.8));
    check_bregman_gradient(natural::NormalFamily{}, Eigen::Vector2d(0.8, -0.6), Eigen::Vector2d(-0.4, -1.3));
    check_bregman_gradient(natural::CategoricalFamily{}, Eigen::Vector3d(0.5, -1.0, 2.0), Eigen::Vector3d(-0.3, 0.7, 0.1));
    check_bregman_gradient(natural::PoissonFamily{}, Eigen::VectorXd::Constant(1, 1.2), Eigen::VectorXd::Constant(1, -0.4));
    check_bregman_gradient(natural::GeometricFamily{}, Eigen::VectorXd::Constant(1, -0.8), Eigen::VectorXd::Constant(1, -2.1));
    check_bregman_gradient(natural::ExponentialFamily{}, Eigen::VectorXd::Constant(1, -0.8), Eigen::VectorXd::Constant(1, -2.1));
    check_bregman_gradient(natural::BernoulliFamily{}, Eigen::VectorXd::Constant(1, 0.8), Eigen::VectorXd::Constant(1, -2.1));
    check_bregman_gradient(natural::BinomialFamily{7.0}, Eigen::VectorXd::Constant(1, 0.8), Eigen::VectorXd::Constant(1, -2.1));
}

TEST_CASE("natural-parameter gradients chain to the usual ones: dKL/dtheta = J^T dKL/deta", "[parametric][exponential_family][gradient]")
{
    // Gamma: eta = (a - 1, -b), so J = diag(1, -1).
    const Gamma p{2.5, 1.5}, q{0.8, 3.0};
    const BregmanKlGradient g = bregman_kl_gradient(natural::GammaFamily{}, natural::parameters(p), natural::parameters(q));
    const KlGradient<Gamma, Gamma> closed = kl_gradient(p, q);
    CHECK(closed.first.shape == Approx(g.d_p[0]).epsilon(1e-12));
    CHECK(closed.first.rate == Approx(-g.d_p[1]).epsilon(1e-12));
    CHECK(closed.second.shape == Approx(g.d_q[0]).epsilon(1e-12));
    CHECK(closed.second.rate == Approx(-g.d_q[1]).epsilon(1e-12));
}

TEST_CASE("bregman_kl rejects bad natural parameters, naming the argument", "[parametric][exponential_family][errors]")
{
    using test::fails_with;
    const natural::GammaFamily gamma;
    fails_with([&] { bregman_kl(gamma, Eigen::Vector2d(1, -1), Eigen::Vector3d(1, -1, 0)); }, "parametric::bregman_kl", "'eta_q'", "has 3 entries, eta_p has 2");
    fails_with([&] { bregman_kl(gamma, Eigen::VectorXd(), Eigen::VectorXd()); }, "'eta_p'", "is empty");
    fails_with([&] { bregman_kl(gamma, Eigen::Vector2d(1, std::nan("")), Eigen::Vector2d(1, -1)); }, "'eta_p'", "column 1", "must be finite");
    fails_with([&] { bregman_kl(gamma, Eigen::Vector2d(1, 1), Eigen::Vector2d(1, -1)); }, "'eta_p'", "outside the natural parameter space");
    fails_with([&] { bregman_kl_gradient(gamma, Eigen::Vector2d(1, -1), Eigen::Vector2d(-2, -1)); }, "parametric::bregman_kl_gradient", "'eta_q'",
               "outside the natural parameter space");
}

TEST_CASE("bregman_kl_gradient of the geometric family at natural parameters below -709 is finite, not inf/inf",
          "[parametric][exponential_family][gradient][edge]")
{
    // F(eta) = e^eta / (1 - e^eta)^2 (the variance of the failures, 1 - p = e^eta); the reference is this
    // formula in long double, whose exp does not overflow at 1e4.
    using LD = long double;
    const auto reference_d_p = [](LD eta_p, LD eta_q) {
        const LD m = std::expm1(eta_p);
        return double(std::exp(eta_p) * (eta_p - eta_q) / (m * m));
    };
    const auto eta = [](double x) { return Eigen::VectorXd::Constant(1, x); };
    // e^-eta / expm1(-eta)^2 was inf/inf = NaN here (the fuzzer's input) and 1e304/inf = 0 at -700.
    const BregmanKlGradient huge = bregman_kl_gradient(natural::GeometricFamily{}, eta(-6.8746948242187502e+19), eta(-9.9218750000000008e+19));
    CHECK(huge.d_p[0] == 0.0);  // e^(-6.9e19) * 3e19 is below the least double
    CHECK(huge.d_q[0] == 0.0);  // both means are e^eta / (1 - e^eta), below the least double
    CHECK(huge.value == 0.0);
    const BregmanKlGradient far = bregman_kl_gradient(natural::GeometricFamily{}, eta(-700.0), eta(-690.0));
    CHECK(far.d_p[0] == Approx(reference_d_p(-700.0L, -690.0L)).epsilon(1e-13));
    CHECK(far.d_p[0] < 0.0);
    CHECK(far.d_q[0] == Approx(double(std::exp(-690.0L) / -std::expm1(-690.0L) - std::exp(-700.0L) / -std::expm1(-700.0L))).epsilon(1e-13));
}

}  // namespace parametric_exponential_family_test
