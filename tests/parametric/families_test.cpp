// Closed-form KL between parametric families (parametric/family_kl.hpp): values against PyTorch and
// against 60-digit mpmath references (tests/reference/make_families_reference.py), KL(p, p) = 0, Gibbs'
// inequality, gradients against central differences, Monte Carlo estimates, batched rows, errors.

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "divergence/discrete/kl.hpp"
#include "divergence/parametric/family_kl.hpp"
#include "reference/families_reference_values.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"

namespace parametric_families_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using namespace divergence::parametric;
namespace ref = families_reference_values;
const double inf = std::numeric_limits<double>::infinity();

template <class F>
F make(const std::vector<double>& v)
{
    return detail::Parameters<F>::make(v.data(), Eigen::Index(v.size()));
}

template <class F>
Eigen::VectorXd vector_of(const F& f, Eigen::Index n)
{
    Eigen::VectorXd v(n);
    detail::Parameters<F>::write(f, v.data());
    return v;
}

template <class F>
Eigen::Index count_of(const F& f)
{
    if constexpr (std::is_same_v<F, Dirichlet>) return f.concentration.size();
    else return detail::Parameters<F>::count;
}

/// Checks every reference case of the pair (P, Q): against mpmath to a relative `tolerance` (+inf
/// exactly), and against PyTorch within PyTorch's own distance from mpmath plus that tolerance.
/// Same family: 1e-13 (the measured worst is 2e-14, the Binomial sum with n1 < n2). Pairs of
/// families: 1e-11 (-H(p) - E_p ln q cancels: the worst, Gamma(50, 5) -> Normal, 5e-12; PyTorch 1e-12).
template <class P, class Q>
int check_reference(const char* p_name, const char* q_name, double tolerance = 1e-13)
{
    int checked = 0;
    for (const ref::Pair& pair : ref::pairs) {
        if (std::string(pair.p) != p_name || std::string(pair.q) != q_name) continue;
        for (const ref::Case& c : pair.cases) {
            const double value = kl(make<P>(c.p), make<Q>(c.q));
            CAPTURE(p_name, q_name, c.p, c.q, value, c.exact, c.torch);
            if (c.exact == inf) {
                CHECK(value == inf);
                if (!std::isnan(c.torch)) CHECK(c.torch == inf);
            } else {
                CHECK(std::abs(value - c.exact) <= tolerance * std::abs(c.exact) + 1e-300);
                if (!std::isnan(c.torch)) CHECK(std::abs(value - c.torch) <= std::abs(c.torch - c.exact) + tolerance * std::abs(c.exact) + 1e-300);
            }
            ++checked;
        }
    }
    CHECK(checked > 0);  // the pair is in the reference header
    return checked;
}

/// Central differences of kl in each parameter of p and of q against kl_gradient.
template <class P, class Q>
void check_gradient(const P& p, const Q& q, double tolerance = 1e-6)
{
    const KlGradient<P, Q> g = kl_gradient(p, q);
    REQUIRE(g.value == Approx(kl(p, q)).epsilon(1e-15));
    const Eigen::Index np = count_of(p), nq = count_of(q);
    const Eigen::VectorXd xp = vector_of(p, np), xq = vector_of(q, nq);
    // Binomial's trials are an integer: its entry is left out of the differences (and is 0 in g).
    const Eigen::Index skip_p = std::is_same_v<P, Binomial> ? 0 : -1, skip_q = std::is_same_v<Q, Binomial> ? 0 : -1;
    const auto kl_p = [&](const Eigen::VectorXd& x) { return kl(make<P>({x.data(), x.data() + np}), q); };
    const auto kl_q = [&](const Eigen::VectorXd& x) { return kl(p, make<Q>({x.data(), x.data() + nq})); };
    Eigen::VectorXd fd_p = Eigen::VectorXd::Zero(np), fd_q = Eigen::VectorXd::Zero(nq);
    for (Eigen::Index i = 0; i < np; ++i) {
        if (i == skip_p) continue;
        const Eigen::VectorXd one = xp.segment(i, 1);
        fd_p[i] = test::central_difference(one, [&](const Eigen::VectorXd& y) { Eigen::VectorXd x = xp; x[i] = y[0]; return kl_p(x); })[0];
    }
    for (Eigen::Index i = 0; i < nq; ++i) {
        if (i == skip_q) continue;
        const Eigen::VectorXd one = xq.segment(i, 1);
        fd_q[i] = test::central_difference(one, [&](const Eigen::VectorXd& y) { Eigen::VectorXd x = xq; x[i] = y[0]; return kl_q(x); })[0];
    }
    const Eigen::VectorXd gp = vector_of(g.first, np), gq = vector_of(g.second, nq);
    CAPTURE(xp.transpose(), xq.transpose(), gp.transpose(), fd_p.transpose(), gq.transpose(), fd_q.transpose());
    CHECK(test::close(gp, fd_p, tolerance, tolerance));
    CHECK(test::close(gq, fd_q, tolerance, tolerance));
}

}  // namespace

TEST_CASE("parametric kl matches PyTorch and 60-digit references, same family", "[parametric][families][reference]")
{
    check_reference<Bernoulli, Bernoulli>("Bernoulli", "Bernoulli");
    check_reference<BernoulliLogit, BernoulliLogit>("BernoulliLogit", "BernoulliLogit");
    check_reference<Binomial, Binomial>("Binomial", "Binomial");
    check_reference<Poisson, Poisson>("Poisson", "Poisson");
    check_reference<Geometric, Geometric>("Geometric", "Geometric");
    check_reference<Exponential, Exponential>("Exponential", "Exponential");
    check_reference<Gamma, Gamma>("Gamma", "Gamma");
    check_reference<Beta, Beta>("Beta", "Beta");
    check_reference<Dirichlet, Dirichlet>("Dirichlet", "Dirichlet");
    check_reference<Normal, Normal>("Normal", "Normal");
    check_reference<LogNormal, LogNormal>("LogNormal", "LogNormal");
    check_reference<Laplace, Laplace>("Laplace", "Laplace");
    check_reference<Uniform, Uniform>("Uniform", "Uniform");
}

TEST_CASE("parametric kl matches PyTorch and 60-digit references, pairs of families", "[parametric][families][reference]")
{
    check_reference<Bernoulli, Poisson>("Bernoulli", "Poisson", 1e-11);
    check_reference<Beta, Exponential>("Beta", "Exponential", 1e-11);
    check_reference<Beta, Gamma>("Beta", "Gamma", 1e-11);
    check_reference<Beta, Normal>("Beta", "Normal", 1e-11);
    check_reference<Beta, Uniform>("Beta", "Uniform", 1e-11);
    check_reference<Exponential, Gamma>("Exponential", "Gamma", 1e-11);
    check_reference<Exponential, Normal>("Exponential", "Normal", 1e-11);
    check_reference<Gamma, Exponential>("Gamma", "Exponential", 1e-11);
    check_reference<Gamma, Normal>("Gamma", "Normal", 1e-11);
    check_reference<Laplace, Normal>("Laplace", "Normal", 1e-11);
    check_reference<Normal, Laplace>("Normal", "Laplace", 1e-11);
    check_reference<Uniform, Beta>("Uniform", "Beta", 1e-11);
    check_reference<Uniform, Exponential>("Uniform", "Exponential", 1e-11);
    check_reference<Uniform, Gamma>("Uniform", "Gamma", 1e-11);
    check_reference<Uniform, Normal>("Uniform", "Normal", 1e-11);
    check_reference<Normal, Exponential>("Normal", "Exponential", 1e-11);
    check_reference<Normal, Gamma>("Normal", "Gamma", 1e-11);
    check_reference<Normal, Beta>("Normal", "Beta", 1e-11);
    check_reference<Normal, Uniform>("Normal", "Uniform", 1e-11);
    check_reference<Laplace, Exponential>("Laplace", "Exponential", 1e-11);
    check_reference<Laplace, Gamma>("Laplace", "Gamma", 1e-11);
    check_reference<Laplace, Beta>("Laplace", "Beta", 1e-11);
    check_reference<Laplace, Uniform>("Laplace", "Uniform", 1e-11);
    check_reference<Exponential, Beta>("Exponential", "Beta", 1e-11);
    check_reference<Exponential, Uniform>("Exponential", "Uniform", 1e-11);
    check_reference<Gamma, Beta>("Gamma", "Beta", 1e-11);
    check_reference<Gamma, Uniform>("Gamma", "Uniform", 1e-11);
    check_reference<Poisson, Bernoulli>("Poisson", "Bernoulli", 1e-11);
    check_reference<Poisson, Binomial>("Poisson", "Binomial", 1e-11);
}

namespace {

struct Draw {
    std::mt19937_64 rng;
    double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); }
    double log_uniform(double a, double b) { return std::exp(uniform(std::log(a), std::log(b))); }
};

/// Random members of each family (parameters away from the boundaries, for differences).
Bernoulli random_bernoulli(Draw& d) { return {d.uniform(0.05, 0.95)}; }
BernoulliLogit random_logit(Draw& d) { return {d.uniform(-6, 6)}; }
Binomial random_binomial(Draw& d) { return {12.0, d.uniform(0.05, 0.95)}; }
Poisson random_poisson(Draw& d) { return {d.log_uniform(0.05, 50)}; }
Geometric random_geometric(Draw& d) { return {d.uniform(0.05, 0.95)}; }
Exponential random_exponential(Draw& d) { return {d.log_uniform(0.05, 20)}; }
Gamma random_gamma(Draw& d) { return {d.log_uniform(0.2, 40), d.log_uniform(0.1, 10)}; }
Beta random_beta(Draw& d) { return {d.log_uniform(0.2, 40), d.log_uniform(0.2, 40)}; }
Dirichlet random_dirichlet(Draw& d)
{
    Eigen::VectorXd a(4);
    for (int k = 0; k < 4; ++k) a[k] = d.log_uniform(0.2, 30);
    return {a};
}
Normal random_normal(Draw& d) { return {d.uniform(-3, 3), d.log_uniform(0.2, 5)}; }
LogNormal random_lognormal(Draw& d) { return {d.uniform(-3, 3), d.log_uniform(0.2, 5)}; }
Laplace random_laplace(Draw& d) { return {d.uniform(-3, 3), d.log_uniform(0.2, 5)}; }
Uniform random_uniform(Draw& d)
{
    const double a = d.uniform(-3, 3);
    return {a, a + d.log_uniform(0.2, 5)};
}

template <class F, class Make>
void check_family_laws(Make random, std::uint64_t seed)
{
    Draw d{std::mt19937_64(seed)};
    for (int i = 0; i < 25; ++i) {
        const F p = random(d), q = random(d);
        CAPTURE(i);
        CHECK(kl(p, p) == 0.0);                   // KL(p, p) = 0, exactly: every term is phi(0) or g(0)
        const double v = kl(p, q);
        CHECK(v >= 0.0);                          // Gibbs' inequality
        CHECK(!std::isnan(v));
        if (i < 6) check_gradient(p, q);
    }
}

}  // namespace

TEST_CASE("parametric kl: KL(p, p) = 0, Gibbs' inequality, gradients by central differences", "[parametric][families][gradient]")
{
    check_family_laws<Bernoulli>(random_bernoulli, 1);
    check_family_laws<BernoulliLogit>(random_logit, 2);
    check_family_laws<Binomial>(random_binomial, 3);
    check_family_laws<Poisson>(random_poisson, 4);
    check_family_laws<Geometric>(random_geometric, 5);
    check_family_laws<Exponential>(random_exponential, 6);
    check_family_laws<Gamma>(random_gamma, 7);
    check_family_laws<Beta>(random_beta, 8);
    check_family_laws<Dirichlet>(random_dirichlet, 9);
    check_family_laws<Normal>(random_normal, 10);
    check_family_laws<LogNormal>(random_lognormal, 11);
    check_family_laws<Laplace>(random_laplace, 12);
    Draw d{std::mt19937_64(13)};
    for (int i = 0; i < 10; ++i) {
        const Uniform p = random_uniform(d);
        CHECK(kl(p, p) == 0.0);
        const Uniform wider{p.low - d.uniform(0.1, 1), p.high + d.uniform(0.1, 1)};
        CHECK(kl(p, wider) > 0.0);
        CHECK(kl(wider, p) == inf);
        check_gradient(p, wider);
    }
}

TEST_CASE("parametric kl: gradients of the pairs of families by central differences", "[parametric][families][gradient]")
{
    check_gradient(Bernoulli{0.3}, Poisson{1.7});
    check_gradient(Beta{2.5, 1.5}, Exponential{1.3});
    check_gradient(Beta{2.5, 1.5}, Gamma{1.7, 2.2});
    check_gradient(Beta{0.7, 3.0}, Normal{0.4, 0.6});
    check_gradient(Beta{2.5, 1.5}, Uniform{-0.5, 1.5});
    check_gradient(Exponential{1.3}, Gamma{2.5, 0.7});
    check_gradient(Exponential{1.3}, Normal{0.2, 1.6});
    check_gradient(Gamma{2.5, 1.2}, Exponential{0.8});
    check_gradient(Gamma{2.5, 1.2}, Normal{1.0, 2.0});
    check_gradient(Laplace{0.5, 1.3}, Normal{-0.3, 2.1});
    check_gradient(Normal{0.5, 1.3}, Laplace{-0.3, 2.1});
    check_gradient(Exponential{1.3}, Laplace{0.4, 0.9});
    check_gradient(Exponential{1.3}, Laplace{-0.4, 0.9});
    check_gradient(Uniform{0.5, 2.0}, Laplace{1.1, 0.9});
    check_gradient(Uniform{0.5, 2.0}, Laplace{-1.1, 0.9});
    check_gradient(Gamma{2.5, 1.2}, Laplace{1.7, 0.9});    // E|x - m| through the incomplete gamma function
    check_gradient(Gamma{0.6, 2.0}, Laplace{0.1, 1.4});
    check_gradient(Gamma{2.5, 1.2}, Laplace{-0.4, 0.9});   // m <= 0: E|x - m| = mean - m
    check_gradient(Gamma{300.0, 10.0}, Laplace{29.0, 2.0});
    check_gradient(Beta{2.5, 1.5}, Laplace{0.4, 0.3});     // E|x - m| through the incomplete beta function
    check_gradient(Beta{0.7, 3.0}, Laplace{0.8, 0.2});
    check_gradient(Beta{2.5, 1.5}, Laplace{-0.2, 0.3});    // m outside [0, 1]
    check_gradient(Beta{2.5, 1.5}, Laplace{1.3, 0.3});
    check_gradient(Beta{200.0, 300.0}, Laplace{0.41, 0.05});
    check_gradient(Uniform{0.2, 0.7}, Beta{2.0, 3.0});
    check_gradient(Uniform{0.5, 2.0}, Exponential{0.6});
    check_gradient(Uniform{0.5, 2.0}, Gamma{2.0, 1.5});
    check_gradient(Uniform{-0.5, 2.0}, Normal{0.3, 1.5});
    check_gradient(Laplace{0.5, 1.3}, Laplace{-0.3, 2.1});
    check_gradient(Binomial{4.0, 0.3}, Binomial{9.0, 0.6});
    check_gradient(Geometric{0.3}, Geometric{0.55});
    // Large parameters (the Stirling branch of the Gamma, Beta and Dirichlet values).
    check_gradient(Gamma{1e4, 50.0}, Gamma{1.2e4, 55.0});
    check_gradient(Beta{2e3, 5e3}, Beta{2.1e3, 5.5e3});
    check_gradient(Dirichlet{Eigen::Vector3d(300, 500, 800)}, Dirichlet{Eigen::Vector3d(320, 450, 900)});
    // +inf by support: gradients are 0, never NaN.
    const KlGradient<Normal, Gamma> g = kl_gradient(Normal{0.0, 1.0}, Gamma{2.0, 1.0});
    CHECK(g.value == inf);
    CHECK(g.first.mean == 0.0);
    CHECK(g.second.rate == 0.0);
}

TEST_CASE("parametric kl: boundary values are exact, +inf where q misses p's mass", "[parametric][families][edge]")
{
    CHECK(kl(Bernoulli{0.0}, Bernoulli{0.0}) == 0.0);
    CHECK(kl(Bernoulli{1.0}, Bernoulli{1.0}) == 0.0);
    CHECK(kl(Bernoulli{0.0}, Bernoulli{0.25}) == Approx(-std::log(0.75)).epsilon(1e-15));
    CHECK(kl(Bernoulli{0.5}, Bernoulli{1.0}) == inf);
    CHECK(kl(Geometric{1.0}, Geometric{0.25}) == Approx(-std::log(0.25)).epsilon(1e-15));
    CHECK(kl(Geometric{0.5}, Geometric{1.0}) == inf);
    CHECK(kl(Binomial{5.0, 0.5}, Binomial{4.0, 0.5}) == inf);
    CHECK(kl(Uniform{0.0, 1.0}, Uniform{0.5, 2.0}) == inf);
    // A discrete p against a continuous q (or the reverse) is not absolutely continuous.
    CHECK(kl(Poisson{2.0}, Exponential{1.0}) == inf);
    CHECK(kl(Gamma{2.0, 1.0}, Poisson{1.0}) == inf);
    CHECK(kl(Geometric{0.5}, Binomial{3.0, 0.5}) == inf);
    // Extreme logits: finite and accurate (0.5 ln-ratio terms), never NaN.
    CHECK(std::isfinite(kl(BernoulliLogit{700.0}, BernoulliLogit{-700.0})));
    CHECK(kl(BernoulliLogit{700.0}, BernoulliLogit{-700.0}) == Approx(700.0).epsilon(1e-15));
}

namespace {

/// (1/n) sum ln p(x_i) / q(x_i) over n draws from p, and its standard error.
template <class Sample, class LogRatio>
std::pair<double, double> monte_carlo(Sample sample, LogRatio log_ratio, int n, std::uint64_t seed)
{
    std::mt19937_64 rng(seed);
    long double sum = 0, sum2 = 0;
    for (int i = 0; i < n; ++i) {
        const double r = log_ratio(sample(rng));
        sum += r;
        sum2 += (long double)r * r;
    }
    const double mean = double(sum / n), var = double(sum2 / n - (sum / n) * (sum / n));
    return {mean, std::sqrt(var / n)};
}

double log_gamma_density(double x, double a, double b) { return a * std::log(b) - std::lgamma(a) + (a - 1) * std::log(x) - b * x; }
double log_normal_density(double x, double m, double s) { return -0.5 * std::log(2 * M_PI * s * s) - (x - m) * (x - m) / (2 * s * s); }

}  // namespace

TEST_CASE("parametric kl agrees with Monte Carlo estimates within 4 standard errors", "[parametric][families][monte_carlo]")
{
    const int n = 40000;
    {
        const Gamma p{2.5, 1.5}, q{1.5, 0.7};
        const auto [mean, se] = monte_carlo([&](std::mt19937_64& r) { return std::gamma_distribution<double>(p.shape, 1.0 / p.rate)(r); },
                                            [&](double x) { return log_gamma_density(x, p.shape, p.rate) - log_gamma_density(x, q.shape, q.rate); }, n, 21);
        CHECK(std::abs(mean - kl(p, q)) <= 4 * se);
    }
    {
        const Laplace p{0.3, 1.2}, q{-0.5, 0.8};
        const auto sample = [&](std::mt19937_64& r) {
            const double e = std::exponential_distribution<double>(1.0 / p.scale)(r);
            return std::bernoulli_distribution(0.5)(r) ? p.location + e : p.location - e;
        };
        const auto log_laplace = [](double x, const Laplace& d) { return -std::log(2 * d.scale) - std::abs(x - d.location) / d.scale; };
        const auto [mean, se] = monte_carlo(sample, [&](double x) { return log_laplace(x, p) - log_laplace(x, q); }, n, 22);
        CHECK(std::abs(mean - kl(p, q)) <= 4 * se);
    }
    {
        const Gamma p{3.0, 2.0};
        const Normal q{1.0, 0.9};
        const auto [mean, se] = monte_carlo([&](std::mt19937_64& r) { return std::gamma_distribution<double>(p.shape, 1.0 / p.rate)(r); },
                                            [&](double x) { return log_gamma_density(x, p.shape, p.rate) - log_normal_density(x, q.mean, q.stddev); }, n, 23);
        CHECK(std::abs(mean - kl(p, q)) <= 4 * se);
    }
    {
        const Normal p{0.4, 0.7};
        const Laplace q{-0.2, 1.1};
        const auto [mean, se] = monte_carlo([&](std::mt19937_64& r) { return std::normal_distribution<double>(p.mean, p.stddev)(r); },
                                            [&](double x) {
                                                return log_normal_density(x, p.mean, p.stddev) + std::log(2 * q.scale) + std::abs(x - q.location) / q.scale;
                                            },
                                            n, 24);
        CHECK(std::abs(mean - kl(p, q)) <= 4 * se);
    }
}

TEST_CASE("parametric kl_rows gives each row's kl and kl_gradient, with broadcasting", "[parametric][families][rows]")
{
    Eigen::ArrayXXd p(4, 2), q(4, 2);
    p << 1.0, 2.0, 0.5, 0.3, 7.0, 1.5, 2.0, 2.0;
    q << 2.0, 1.0, 0.7, 0.2, 6.0, 1.4, 2.0, 2.0;
    Eigen::ArrayXXd gp, gq;
    const Eigen::ArrayXd values = kl_rows<Gamma>(p, q, {&gp, &gq});
    REQUIRE(values.size() == 4);
    for (int r = 0; r < 4; ++r) {
        const KlGradient<Gamma, Gamma> g = kl_gradient(Gamma{p(r, 0), p(r, 1)}, Gamma{q(r, 0), q(r, 1)});
        CHECK(values[r] == g.value);
        CHECK(gp(r, 0) == g.first.shape);
        CHECK(gp(r, 1) == g.first.rate);
        CHECK(gq(r, 0) == g.second.shape);
        CHECK(gq(r, 1) == g.second.rate);
    }
    const Eigen::ArrayXXd one = q.row(1);
    const Eigen::ArrayXd broadcast = kl_rows<Gamma>(p, one);
    for (int r = 0; r < 4; ++r) CHECK(broadcast[r] == kl(Gamma{p(r, 0), p(r, 1)}, Gamma{q(1, 0), q(1, 1)}));
    // Dirichlet rows: K concentrations per row; cross-family rows.
    Eigen::ArrayXXd a(2, 3), b(2, 3);
    a << 1, 2, 3, 0.5, 0.5, 4;
    b << 2, 2, 2, 1, 1, 1;
    const Eigen::ArrayXd dv = kl_rows<Dirichlet>(a, b);
    CHECK(dv[1] == kl(Dirichlet{Eigen::Vector3d(0.5, 0.5, 4)}, Dirichlet{Eigen::Vector3d(1, 1, 1)}));
    Eigen::ArrayXXd rates(3, 1);
    rates << 0.5, 1.0, 2.0;
    Eigen::ArrayXXd gamma_q(1, 2);
    gamma_q << 2.0, 1.5;
    const Eigen::ArrayXd cross = kl_rows<Exponential, Gamma>(rates, gamma_q);
    CHECK(cross[2] == kl(Exponential{2.0}, Gamma{2.0, 1.5}));
    // Many rows run on the executor's threads: the same values as one at a time.
    Eigen::ArrayXXd big(1000, 2);
    for (int r = 0; r < 1000; ++r) big.row(r) << 0.01 * (r + 1), 1.0 + 0.001 * r;
    const Eigen::ArrayXd many = kl_rows<Normal>(big, one);
    CHECK(many[999] == kl(Normal{big(999, 0), big(999, 1)}, Normal{q(1, 0), q(1, 1)}));
}

TEST_CASE("parametric kl rejects invalid parameters, naming the argument", "[parametric][families][errors]")
{
    using test::fails_with;
    fails_with([] { kl(Gamma{-1.0, 1.0}, Gamma{1.0, 1.0}); }, "parametric::kl", "'p.shape'", "must be finite and > 0", "(-1)");
    fails_with([] { kl(Gamma{1.0, 1.0}, Gamma{1.0, 0.0}); }, "'q.rate'", "> 0");
    fails_with([] { kl(Bernoulli{1.5}, Bernoulli{0.5}); }, "'p.probability'", "must be in [0, 1]");
    fails_with([] { kl(Bernoulli{0.5}, Bernoulli{std::nan("")}); }, "'q.probability'");
    fails_with([] { kl(BernoulliLogit{inf}, BernoulliLogit{0.0}); }, "'p.logit'", "must be finite");
    fails_with([] { kl(Binomial{2.5, 0.5}, Binomial{3.0, 0.5}); }, "'p.trials'", "integer");
    fails_with([] { kl(Poisson{0.0}, Poisson{1.0}); }, "'p.rate'");
    fails_with([] { kl(Geometric{0.0}, Geometric{0.5}); }, "'p.probability'", "(0, 1]");
    fails_with([] { kl(Exponential{1.0}, Exponential{inf}); }, "'q.rate'");
    fails_with([] { kl(Beta{1.0, -2.0}, Beta{1.0, 1.0}); }, "'p.beta'");
    fails_with([] { kl(Normal{0.0, -1.0}, Normal{0.0, 1.0}); }, "'p.stddev'");
    fails_with([] { kl(Normal{std::nan(""), 1.0}, Normal{0.0, 1.0}); }, "'p.mean'", "finite");
    fails_with([] { kl(LogNormal{0.0, 1.0}, LogNormal{0.0, 0.0}); }, "'q.sigma'");
    fails_with([] { kl(Laplace{0.0, 1.0}, Laplace{0.0, -1.0}); }, "'q.scale'");
    fails_with([] { kl(Uniform{1.0, 1.0}, Uniform{0.0, 2.0}); }, "'p.high'", "must be > low");
    fails_with([] { kl(Exponential{1.0}, Gamma{0.0, 1.0}); }, "'q.shape'");
    fails_with([] { kl(Dirichlet{Eigen::Vector3d(1, 0, 1)}, Dirichlet{Eigen::Vector3d(1, 1, 1)}); }, "'p.concentration'", "column 1");
    fails_with([] { kl(Dirichlet{Eigen::Vector3d(1, 1, 1)}, Dirichlet{Eigen::Vector2d(1, 1)}); }, "'q.concentration'", "has 2 entries, p has 3");
    fails_with([] { kl(Dirichlet{Eigen::VectorXd()}, Dirichlet{Eigen::VectorXd()}); }, "'p.concentration'", "empty");
    fails_with([] { kl_gradient(Gamma{1.0, 1.0}, Gamma{1.0, -1.0}); }, "parametric::kl_gradient", "'q.rate'");
    Eigen::ArrayXXd p(3, 2), q(2, 2), bad(3, 3);
    p << 1, 1, 2, -2, 3, 3;
    q << 1, 1, 2, 2;
    fails_with([&] { kl_rows<Gamma>(p, p); }, "parametric::kl_rows", "'p.rate', row 1", "(-2)");
    fails_with([&] { kl_rows<Gamma>(p, q); }, "parametric::kl_rows", "'q'", "has 2 rows, p has 3");
    fails_with([&] { kl_rows<Gamma>(q, p); }, "parametric::kl_rows", "'p'", "has 2 rows, q has 3");
    fails_with([&] { kl_rows<Gamma>(bad, q.topRows(1)); }, "'p'", "has 3 columns, expected 2");
    fails_with([&] { kl_rows<Gamma>(Eigen::ArrayXXd(0, 2), q); }, "'p'", "no rows");
}

namespace {

/// Parameters spread over decades: scales in [10^-e, 10^e], locations of either sign, probabilities
/// within 10^-e of 0 or 1.
struct ExtremeDraw {
    std::mt19937_64 rng;
    double decades;
    double scale() { return std::pow(10.0, std::uniform_real_distribution<double>(-decades, decades)(rng)); }
    double location() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < 0.5 ? -scale() : scale(); }
    double probability()
    {
        const double x = std::pow(10.0, std::uniform_real_distribution<double>(-decades, 0.0)(rng));
        return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < 0.5 ? x : 1.0 - x;
    }
};

template <class P, class Q>
int count_nan(const P& p, const Q& q)
{
    const KlGradient<P, Q> g = kl_gradient(p, q);
    Eigen::VectorXd a(count_of(p)), b(count_of(q));
    detail::Parameters<P>::write(g.first, a.data());
    detail::Parameters<Q>::write(g.second, b.data());
    const bool bad = std::isnan(g.value) || g.value < 0.0 || a.hasNaN() || b.hasNaN();
    if (bad) {
        CAPTURE(vector_of(p, count_of(p)).transpose(), vector_of(q, count_of(q)).transpose(), g.value);
        CHECK_FALSE(bad);
    }
    return bad ? 1 : 0;
}

}  // namespace

TEST_CASE("parametric kl: parameters over 100 decades give no NaN value or gradient", "[parametric][families][edge]")
{
    ExtremeDraw d{std::mt19937_64(77), 50.0};
    int bad = 0;
    for (int i = 0; i < 1000; ++i) {
        bad += count_nan(Bernoulli{d.probability()}, Bernoulli{d.probability()});
        bad += count_nan(BernoulliLogit{d.location()}, BernoulliLogit{d.location()});
        bad += count_nan(Poisson{d.scale()}, Poisson{d.scale()});
        bad += count_nan(Geometric{d.probability()}, Geometric{d.probability()});
        bad += count_nan(Exponential{d.scale()}, Exponential{d.scale()});
        bad += count_nan(Gamma{d.scale(), d.scale()}, Gamma{d.scale(), d.scale()});
        bad += count_nan(Beta{d.scale(), d.scale()}, Beta{d.scale(), d.scale()});
        bad += count_nan(Normal{d.location(), d.scale()}, Normal{d.location(), d.scale()});
        bad += count_nan(Laplace{d.location(), d.scale()}, Laplace{d.location(), d.scale()});
        const double a = d.location(), c = d.location();
        const double w = std::max(d.scale(), 1e-12 * std::abs(a)), v = std::max(d.scale(), 1e-12 * std::abs(c));  // high > low
        bad += count_nan(Uniform{a, a + w}, Uniform{c, c + v});
        bad += count_nan(Exponential{d.scale()}, Gamma{d.scale(), d.scale()});
        bad += count_nan(Gamma{d.scale(), d.scale()}, Normal{d.location(), d.scale()});
        bad += count_nan(Beta{d.scale(), d.scale()}, Gamma{d.scale(), d.scale()});
        bad += count_nan(Normal{d.location(), d.scale()}, Laplace{d.location(), d.scale()});
        bad += count_nan(Laplace{d.location(), d.scale()}, Normal{d.location(), d.scale()});
        bad += count_nan(Bernoulli{d.probability()}, Poisson{d.scale()});
        bad += count_nan(Exponential{d.scale()}, Laplace{d.location(), d.scale()});
        bad += count_nan(Gamma{d.scale(), d.scale()}, Laplace{d.location(), d.scale()});
        bad += count_nan(Beta{d.scale(), d.scale()}, Laplace{d.probability(), d.scale()});
        bad += count_nan(Beta{d.scale(), d.scale()}, Laplace{d.location(), d.scale()});
        const double lo = std::min(1.0, std::abs(a)) * 0.5;
        bad += count_nan(Uniform{lo, 1.0}, Beta{d.scale(), d.scale()});
        bad += count_nan(Uniform{lo, lo + w}, Gamma{d.scale(), d.scale()});
    }
    CHECK(bad == 0);
}

TEST_CASE("parametric kl_gradient of Geometric below sqrt(DBL_MIN): 0 at p = q, finite near it (no p1^2 underflow)",
          "[parametric][families][edge]")
{
    // At p1 = p2 both partial derivatives of KL vanish (KL >= 0 has its minimum there); p1 * p1 underflowed to 0 and
    // gave 0 / 0. Near it, d/dp1 = ln((1 - p2)/(1 - p1)) / p1^2 ~ -(p2 - p1) / p1^2 and d/dp2 = (p2 - p1) / (p1 p2 (1 - p2)),
    // both finite (first-order expansions, exact to ~1e-300 relative at these p).
    const KlGradient<Geometric, Geometric> same = kl_gradient(Geometric{1e-300}, Geometric{1e-300});
    CHECK(same.value == 0.0);
    CHECK(same.first.probability == 0.0);
    CHECK(same.second.probability == 0.0);
    const KlGradient<Geometric, Geometric> near = kl_gradient(Geometric{1e-300}, Geometric{2e-300});
    CHECK(near.first.probability == Approx(-1e300).epsilon(1e-12));
    CHECK(near.second.probability == Approx(5e299).epsilon(1e-12));
}

namespace both_namespaces {
using namespace divergence;
using namespace divergence::parametric;
double unqualified_kl() { return kl(Gamma{2.0, 3.0}, Gamma{4.0, 1.0}); }
double unqualified_rows_kl(const Eigen::RowVector3d& p, const Eigen::RowVector3d& q) { return kl(p, q); }
}  // namespace both_namespaces

TEST_CASE("an unqualified kl with both namespaces in use picks parametric::kl for distributions", "[parametric][families]")
{
    CHECK(both_namespaces::unqualified_kl() == kl(Gamma{2.0, 3.0}, Gamma{4.0, 1.0}));
    const Eigen::RowVector3d p(0.2, 0.3, 0.5), q(0.3, 0.3, 0.4);
    CHECK(both_namespaces::unqualified_rows_kl(p, q) == divergence::kl(p, q));  // rows still go to the discrete kl
}

TEST_CASE("parametric kl gradients at parameters of 1e-300 are finite or +-inf, never NaN", "[parametric][families][gradient][edge]")
{
    // At p = q every gradient is 0 (the minimum of KL); the formulas divided by l1^2, b1^2 or b1 b2 (0 in
    // double at 1e-300) or multiplied trigamma(1e-300) = +inf by a difference of 0. References: the same
    // formulas in long double, whose range holds 1e-600.
    using LD = long double;
    const double tiny = 1e-300;
    const auto g_exponential = kl_gradient(Exponential{tiny}, Exponential{tiny});
    CHECK(g_exponential.first.rate == 0.0);
    CHECK(g_exponential.second.rate == 0.0);
    const auto g_gamma = kl_gradient(Gamma{tiny, tiny}, Gamma{tiny, tiny});
    CHECK(g_gamma.first.shape == 0.0);
    CHECK(g_gamma.first.rate == 0.0);
    const auto g_laplace = kl_gradient(Laplace{0.0, tiny}, Laplace{0.0, tiny});
    CHECK(g_laplace.first.scale == 0.0);
    CHECK(g_laplace.second.scale == 0.0);
    const auto g_dirichlet = kl_gradient(Dirichlet{Eigen::Vector2d(tiny, tiny)}, Dirichlet{Eigen::Vector2d(tiny, tiny)});
    CHECK(g_dirichlet.first.concentration[0] == 0.0);
    CHECK(g_dirichlet.first.concentration[1] == 0.0);
    const auto g_beta = kl_gradient(Beta{tiny, tiny}, Beta{tiny, tiny});
    CHECK(g_beta.first.alpha == 0.0);

    // Off p = q: d/dl1 = (l1 - l2) / l1^2 and d/dl2 = (l2 - l1) / (l1 l2) for rates 1e-300 and 2e-300;
    // Gamma d/db1 = (a2 b1 - a1 b2) / b1^2; Laplace d/db1 = -1/b1 + e/b2 + a e / (b1 b2), e = exp(-a/b1).
    const LD l1 = 1e-300L, l2 = 2e-300L;
    const auto e1 = kl_gradient(Exponential{double(l1)}, Exponential{double(l2)});
    CHECK(e1.first.rate == Approx(double((l1 - l2) / (l1 * l1))).epsilon(1e-14));
    CHECK(e1.second.rate == Approx(double((l2 - l1) / (l1 * l2))).epsilon(1e-14));
    const auto g1 = kl_gradient(Gamma{1.0, double(l1)}, Gamma{1.0, double(l2)});
    CHECK(g1.first.rate == Approx(double((1.0L * l1 - 1.0L * l2) / (l1 * l1))).epsilon(1e-14));
    const LD a = 1e-300L, e = std::exp(-a / l1);
    const auto la = kl_gradient(Laplace{double(a), double(l1)}, Laplace{0.0, double(l1)});
    CHECK(la.first.scale == Approx(double(-1.0L / l1 + e / l1 + a * e / (l1 * l1))).epsilon(1e-14));
}

TEST_CASE("parametric kl_gradient of Binomial with fewer trials and p = 0: d/dq is n2/(1 - q), also at q = 0 (not 0/0)",
          "[parametric][families][gradient][edge]")
{
    // p = 0 makes P1 a point mass at k = 0, so KL(Binomial(n1, 0) || Binomial(n2, q)) = -n2 ln(1 - q) and
    // d/dq = n2 / (1 - q) for every n1 < n2; the E_P1[k] / q term is 0, and was 0/0 = NaN at q = 0.
    const auto at_zero = kl_gradient(Binomial{1.0, 0.0}, Binomial{50.0, 0.0});
    CHECK(at_zero.value == 0.0);
    CHECK(at_zero.second.probability == 50.0);
    CHECK(at_zero.second.trials == 0.0);
    // Near 0 the same closed form, against long double and central differences in q.
    const double q = 0.01;
    const auto near = kl_gradient(Binomial{3.0, 0.0}, Binomial{50.0, q});
    CHECK(near.value == Approx(double(-50.0L * std::log1p(-(long double)q))).epsilon(1e-13));
    CHECK(near.second.probability == Approx(double(50.0L / (1.0L - q))).epsilon(1e-13));
    const Eigen::Matrix<double, 1, 1> at(q);
    const auto fd = test::central_difference(at, [](const Eigen::Matrix<double, 1, 1>& x) { return kl(Binomial{3.0, 0.0}, Binomial{50.0, x(0)}); });
    CHECK(near.second.probability == Approx(fd(0)).epsilon(1e-6));
}

}  // namespace parametric_families_test
