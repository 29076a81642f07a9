#ifndef DIVERGENCE_PARAMETRIC_FAMILIES_HPP
#define DIVERGENCE_PARAMETRIC_FAMILIES_HPP

// The parametric families of the closed-form divergences, in their usual ("user") parameters, and
// the checks of those parameters. A gradient with respect to a distribution's parameters is a value of
// the same type: its fields hold d/d(field) (Binomial's `trials` holds 0: it is not differentiable).

#include <Eigen/Core>

#include <cmath>
#include <string>

#include "divergence/core/error.hpp"

namespace divergence::parametric {

/// Every distribution type below is a specialization Family<Tag> (Gamma = Family<GammaTag>, ...): this
/// makes parametric::kl(p, q) more specialized than the generic divergence::kl(p, q) of rows, so that an
/// unqualified kl(p, q) with both namespaces in view picks the parametric one.
template <class Tag>
struct Family;

/// Bernoulli: P(1) = probability, in [0, 1].
struct BernoulliTag {};
template <>
struct Family<BernoulliTag> {
    double probability = 0.5;
};
using Bernoulli = Family<BernoulliTag>;

/// Bernoulli given by its logit: P(1) = sigmoid(logit), logit finite (the natural parameter).
struct BernoulliLogitTag {};
template <>
struct Family<BernoulliLogitTag> {
    double logit = 0.0;
};
using BernoulliLogit = Family<BernoulliLogitTag>;

/// Binomial(trials, probability): successes in `trials` (an integer >= 0) independent trials.
struct BinomialTag {};
template <>
struct Family<BinomialTag> {
    double trials = 1.0;
    double probability = 0.5;
};
using Binomial = Family<BinomialTag>;

/// Poisson(rate), rate > 0.
struct PoissonTag {};
template <>
struct Family<PoissonTag> {
    double rate = 1.0;
};
using Poisson = Family<PoissonTag>;

/// Geometric(probability): P(k) = p (1 - p)^k, k = 0, 1, ... failures before the first success;
/// p in (0, 1]. (The KL is the same for the trials convention k >= 1.)
struct GeometricTag {};
template <>
struct Family<GeometricTag> {
    double probability = 0.5;
};
using Geometric = Family<GeometricTag>;

/// Exponential(rate): density rate e^{-rate x} on [0, inf), rate > 0.
struct ExponentialTag {};
template <>
struct Family<ExponentialTag> {
    double rate = 1.0;
};
using Exponential = Family<ExponentialTag>;

/// Gamma(shape, rate): density rate^shape x^{shape-1} e^{-rate x} / Gamma(shape), shape, rate > 0.
struct GammaTag {};
template <>
struct Family<GammaTag> {
    double shape = 1.0;
    double rate = 1.0;
};
using Gamma = Family<GammaTag>;

/// Beta(alpha, beta) on [0, 1], alpha, beta > 0.
struct BetaTag {};
template <>
struct Family<BetaTag> {
    double alpha = 1.0;
    double beta = 1.0;
};
using Beta = Family<BetaTag>;

/// Dirichlet(concentration) on the simplex of dimension K = concentration.size() >= 1, entries > 0.
struct DirichletTag {};
template <>
struct Family<DirichletTag> {
    Eigen::VectorXd concentration;
};
using Dirichlet = Family<DirichletTag>;

/// Normal(mean, stddev): the standard deviation (not the variance), > 0.
struct NormalTag {};
template <>
struct Family<NormalTag> {
    double mean = 0.0;
    double stddev = 1.0;
};
using Normal = Family<NormalTag>;

/// LogNormal(mu, sigma): ln x ~ Normal(mu, sigma), sigma > 0.
struct LogNormalTag {};
template <>
struct Family<LogNormalTag> {
    double mu = 0.0;
    double sigma = 1.0;
};
using LogNormal = Family<LogNormalTag>;

/// Laplace(location, scale): density e^{-|x - location| / scale} / (2 scale), scale > 0.
struct LaplaceTag {};
template <>
struct Family<LaplaceTag> {
    double location = 0.0;
    double scale = 1.0;
};
using Laplace = Family<LaplaceTag>;

/// Uniform(low, high) on [low, high], low < high finite.
struct UniformTag {};
template <>
struct Family<UniformTag> {
    double low = 0.0;
    double high = 1.0;
};
using Uniform = Family<UniformTag>;

namespace detail {

/// Parameters as a row of doubles (kl_rows): count (-1: the row's length, Dirichlet), names,
/// make(row) and write(family, row).
template <class Family>
struct Parameters;

#define DIVERGENCE_PARAMETRIC_ONE(F, a)                                                 \
    template <>                                                                         \
    struct Parameters<F> {                                                              \
        static constexpr int count = 1;                                                 \
        static const char* name(int) { return #a; }                                     \
        static F make(const double* v, Index) { return F{v[0]}; }                       \
        static void write(const F& f, double* v) { v[0] = f.a; }                        \
    };
#define DIVERGENCE_PARAMETRIC_TWO(F, a, b)                                              \
    template <>                                                                         \
    struct Parameters<F> {                                                              \
        static constexpr int count = 2;                                                 \
        static const char* name(int i) { return i == 0 ? #a : #b; }                     \
        static F make(const double* v, Index) { return F{v[0], v[1]}; }                 \
        static void write(const F& f, double* v) { v[0] = f.a; v[1] = f.b; }            \
    };
DIVERGENCE_PARAMETRIC_ONE(Bernoulli, probability)
DIVERGENCE_PARAMETRIC_ONE(BernoulliLogit, logit)
DIVERGENCE_PARAMETRIC_TWO(Binomial, trials, probability)
DIVERGENCE_PARAMETRIC_ONE(Poisson, rate)
DIVERGENCE_PARAMETRIC_ONE(Geometric, probability)
DIVERGENCE_PARAMETRIC_ONE(Exponential, rate)
DIVERGENCE_PARAMETRIC_TWO(Gamma, shape, rate)
DIVERGENCE_PARAMETRIC_TWO(Beta, alpha, beta)
DIVERGENCE_PARAMETRIC_TWO(Normal, mean, stddev)
DIVERGENCE_PARAMETRIC_TWO(LogNormal, mu, sigma)
DIVERGENCE_PARAMETRIC_TWO(Laplace, location, scale)
DIVERGENCE_PARAMETRIC_TWO(Uniform, low, high)
#undef DIVERGENCE_PARAMETRIC_ONE
#undef DIVERGENCE_PARAMETRIC_TWO

template <>
struct Parameters<Dirichlet> {
    static constexpr int count = -1;
    static const char* name(int) { return "concentration"; }
    static Dirichlet make(const double* v, Index n) { return Dirichlet{Eigen::Map<const Eigen::VectorXd>(v, n)}; }
    static void write(const Dirichlet& f, double* v)
    {
        for (Index i = 0; i < f.concentration.size(); ++i) v[i] = f.concentration[i];
    }
};

/// Where a parameter check reports: the function, "p" or "q", and the row of a batch (-1: none).
struct Site {
    const char* function;
    const char* argument;
    Index row = -1;
};

[[noreturn]] inline void reject(const Site& site, const char* field, Index column, const std::string& problem, double value)
{
    const std::string argument = std::string(site.argument) + "." + field;
    divergence::detail::fail(site.function, argument.c_str(), site.row, column,
                             divergence::detail::describe(problem.c_str(), value));
}

inline void check_positive(const Site& site, const char* field, double v, Index column = -1)
{
    if (!(v > 0.0) || !std::isfinite(v)) reject(site, field, column, "must be finite and > 0", v);
}
inline void check_finite(const Site& site, const char* field, double v)
{
    if (!std::isfinite(v)) reject(site, field, -1, "must be finite", v);
}
inline void check_probability(const Site& site, const char* field, double v)
{
    if (!(v >= 0.0 && v <= 1.0)) reject(site, field, -1, "must be in [0, 1]", v);
}

inline void validate(const Bernoulli& f, const Site& s) { check_probability(s, "probability", f.probability); }
inline void validate(const BernoulliLogit& f, const Site& s) { check_finite(s, "logit", f.logit); }
inline void validate(const Binomial& f, const Site& s)
{
    if (!(f.trials >= 0.0 && f.trials <= 9007199254740992.0 && f.trials == std::floor(f.trials)))
        reject(s, "trials", -1, "must be an integer in [0, 2^53]", f.trials);
    check_probability(s, "probability", f.probability);
}
inline void validate(const Poisson& f, const Site& s) { check_positive(s, "rate", f.rate); }
inline void validate(const Geometric& f, const Site& s)
{
    if (!(f.probability > 0.0 && f.probability <= 1.0)) reject(s, "probability", -1, "must be in (0, 1]", f.probability);
}
inline void validate(const Exponential& f, const Site& s) { check_positive(s, "rate", f.rate); }
inline void validate(const Gamma& f, const Site& s)
{
    check_positive(s, "shape", f.shape);
    check_positive(s, "rate", f.rate);
}
inline void validate(const Beta& f, const Site& s)
{
    check_positive(s, "alpha", f.alpha);
    check_positive(s, "beta", f.beta);
}
inline void validate(const Dirichlet& f, const Site& s)
{
    if (f.concentration.size() == 0) divergence::detail::fail(s.function, (std::string(s.argument) + ".concentration").c_str(), s.row, -1, "is empty");
    for (Index k = 0; k < f.concentration.size(); ++k) check_positive(s, "concentration", f.concentration[k], k);
}
inline void validate(const Normal& f, const Site& s)
{
    check_finite(s, "mean", f.mean);
    check_positive(s, "stddev", f.stddev);
}
inline void validate(const LogNormal& f, const Site& s)
{
    check_finite(s, "mu", f.mu);
    check_positive(s, "sigma", f.sigma);
}
inline void validate(const Laplace& f, const Site& s)
{
    check_finite(s, "location", f.location);
    check_positive(s, "scale", f.scale);
}
inline void validate(const Uniform& f, const Site& s)
{
    check_finite(s, "low", f.low);
    check_finite(s, "high", f.high);
    if (!(f.low < f.high)) reject(s, "high", -1, "must be > low", f.high);
}

/// The zero gradient of a family (the shape of `like` for a Dirichlet).
template <class Family>
Family zero_like(const Family&)
{
    const double zeros[2] = {0.0, 0.0};
    return Parameters<Family>::make(zeros, 0);
}
inline Dirichlet zero_like(const Dirichlet& like) { return Dirichlet{Eigen::VectorXd::Zero(like.concentration.size())}; }

}  // namespace detail

/// A KL divergence and its gradients with respect to both distributions' parameters (each a value of
/// the distribution's own type holding d KL / d field).
template <class P, class Q>
struct KlGradient {
    double value = 0.0;
    P first;   ///< d KL(p || q) / d(parameters of p)
    Q second;  ///< d KL(p || q) / d(parameters of q)
};

}  // namespace divergence::parametric

#endif
