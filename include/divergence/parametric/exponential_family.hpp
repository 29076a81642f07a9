#ifndef DIVERGENCE_PARAMETRIC_EXPONENTIAL_FAMILY_HPP
#define DIVERGENCE_PARAMETRIC_EXPONENTIAL_FAMILY_HPP

// KL within an exponential family p_eta(x) = h(x) exp(<eta, T(x)> - A(eta)), from its log-partition
// A alone (the Bregman divergence of A, Banerjee et al., JMLR 6, 2005):
//   KL(p_eta1 || p_eta2) = A(eta2) - A(eta1) - <grad A(eta1), eta2 - eta1>
//   d/deta2 = mu2 - mu1,   d/deta1 = F(eta1) (eta1 - eta2),   d/dmu1 = eta1 - eta2
// with mu = grad A(eta) = E[T] (the mean parameters) and F = hess A = Cov[T] (the Fisher information
// in eta). A family is any type with
//   double log_partition(const Eigen::VectorXd& eta) const;                           A(eta)
//   Eigen::VectorXd mean(const Eigen::VectorXd& eta) const;                          grad A(eta)
//   Eigen::VectorXd fisher_product(const Eigen::VectorXd& eta, const Eigen::VectorXd& v) const;
//                                                        hess A(eta) v: only for d/deta1 (and projections)
// The value and d/deta2 need A and grad A; d/deta1 needs the Hessian-vector product too.
// natural:: below holds ready-made families for the closed forms of family_kl.hpp.

#include <Eigen/Core>

#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

#include "divergence/core/error.hpp"
#include "divergence/parametric/detail/special.hpp"
#include "divergence/parametric/families.hpp"

namespace divergence::parametric {

/// The Bregman form of KL and its gradients in the natural parameters of both distributions, and in
/// the mean parameters of the first (d_mean_p = eta_p - eta_q, free).
struct BregmanKlGradient {
    double value = 0.0;
    Eigen::VectorXd d_p;       ///< d KL / d eta_p = F(eta_p) (eta_p - eta_q)
    Eigen::VectorXd d_q;       ///< d KL / d eta_q = mu_q - mu_p
    Eigen::VectorXd d_mean_p;  ///< d KL / d mu_p = eta_p - eta_q
};

namespace detail {

template <class F, class = void>
struct has_fisher_product : std::false_type {};
template <class F>
struct has_fisher_product<F, std::void_t<decltype(std::declval<const F&>().fisher_product(std::declval<const Eigen::VectorXd&>(),
                                                                                           std::declval<const Eigen::VectorXd&>()))>>
    : std::true_type {};

inline void check_natural(const char* function, const char* argument, const Eigen::VectorXd& eta, Index size)
{
    if (eta.size() == 0) divergence::detail::fail(function, argument, "is empty");
    if (size >= 0 && eta.size() != size)
        divergence::detail::fail(function, argument, "has " + std::to_string(eta.size()) + " entries, eta_p has " + std::to_string(size));
    for (Index i = 0; i < eta.size(); ++i)
        if (!std::isfinite(eta[i])) divergence::detail::fail(function, argument, -1, i, divergence::detail::describe("must be finite", eta[i]));
}

template <class Family>
double finite_log_partition(const char* function, const char* argument, const Family& family, const Eigen::VectorXd& eta)
{
    const double a = family.log_partition(eta);
    if (!std::isfinite(a))
        divergence::detail::fail(function, argument,
                                 divergence::detail::describe("the log-partition is not finite here: outside the natural parameter space", a));
    return a;
}

template <class Family>
double bregman_value(const char* function, const Family& family, const Eigen::VectorXd& eta_p, const Eigen::VectorXd& eta_q,
                     const Eigen::VectorXd& mean_p)
{
    check_natural(function, "eta_p", eta_p, -1);
    check_natural(function, "eta_q", eta_q, eta_p.size());
    const double a_p = finite_log_partition(function, "eta_p", family, eta_p);
    const double a_q = finite_log_partition(function, "eta_q", family, eta_q);
    if (mean_p.size() != eta_p.size())
        divergence::detail::fail(function, "family", "mean(eta) has " + std::to_string(mean_p.size()) + " entries, eta has " +
                                                         std::to_string(eta_p.size()));
    const double value = a_q - a_p - mean_p.dot(eta_q - eta_p);
    return value > 0.0 ? value : 0.0;  // >= 0 by convexity of A; rounding may dip below
}

}  // namespace detail

/// KL(p_eta_p || p_eta_q) = A(eta_q) - A(eta_p) - <grad A(eta_p), eta_q - eta_p> for a family given by
/// its log-partition (see the header comment). Absolute error about eps (|A(eta_p)| + |A(eta_q)| +
/// |<mu_p, eta_q - eta_p>|): the generic form cancels as eta_q -> eta_p (the closed forms of
/// family_kl.hpp do not). Only within one family: a cross-family KL is not a Bregman divergence.
/// \throws std::invalid_argument naming 'eta_p' or 'eta_q' if empty, of different sizes, not finite,
///         or where A is not finite (outside the natural parameter space).
template <class Family>
double bregman_kl(const Family& family, const Eigen::VectorXd& eta_p, const Eigen::VectorXd& eta_q)
{
    const char* function = "parametric::bregman_kl";
    detail::check_natural(function, "eta_p", eta_p, -1);
    detail::finite_log_partition(function, "eta_p", family, eta_p);
    return detail::bregman_value(function, family, eta_p, eta_q, family.mean(eta_p));
}

/// bregman_kl and its gradients; needs `fisher_product` (the Hessian-vector product of A) for d_p.
template <class Family>
BregmanKlGradient bregman_kl_gradient(const Family& family, const Eigen::VectorXd& eta_p, const Eigen::VectorXd& eta_q)
{
    static_assert(detail::has_fisher_product<Family>::value,
                  "divergence: the gradient in eta_p needs family.fisher_product(eta, v) = hess A(eta) v.");
    const char* function = "parametric::bregman_kl_gradient";
    detail::check_natural(function, "eta_p", eta_p, -1);
    detail::finite_log_partition(function, "eta_p", family, eta_p);
    const Eigen::VectorXd mean_p = family.mean(eta_p);
    BregmanKlGradient g;
    g.value = detail::bregman_value(function, family, eta_p, eta_q, mean_p);
    g.d_mean_p = eta_p - eta_q;
    g.d_p = family.fisher_product(eta_p, g.d_mean_p);
    g.d_q = family.mean(eta_q) - mean_p;
    return g;
}

/// Ready-made families in natural parameters, with the maps from and to the usual parameters
/// (natural::parameters(p) and natural::from_parameters(eta, like)). Each gives A, grad A and hess A v.
namespace natural {

/// Bernoulli: eta = logit p, T = x, A = softplus(eta).
struct BernoulliFamily {
    double log_partition(const Eigen::VectorXd& eta) const { return detail::softplus(eta[0]); }
    Eigen::VectorXd mean(const Eigen::VectorXd& eta) const { return Eigen::VectorXd::Constant(1, detail::sigmoid(eta[0])); }
    Eigen::VectorXd fisher_product(const Eigen::VectorXd& eta, const Eigen::VectorXd& v) const
    {
        return Eigen::VectorXd::Constant(1, detail::sigmoid(eta[0]) * detail::sigmoid(-eta[0]) * v[0]);
    }
};

/// Binomial with `trials` fixed: eta = logit p, T = x, A = n softplus(eta).
struct BinomialFamily {
    double trials = 1.0;
    double log_partition(const Eigen::VectorXd& eta) const { return trials * detail::softplus(eta[0]); }
    Eigen::VectorXd mean(const Eigen::VectorXd& eta) const { return Eigen::VectorXd::Constant(1, trials * detail::sigmoid(eta[0])); }
    Eigen::VectorXd fisher_product(const Eigen::VectorXd& eta, const Eigen::VectorXd& v) const
    {
        return Eigen::VectorXd::Constant(1, trials * detail::sigmoid(eta[0]) * detail::sigmoid(-eta[0]) * v[0]);
    }
};

/// Categorical over K outcomes, the last one as reference: eta_k = ln(p_k / p_K), k < K; T = one-hot
/// of the first K - 1; A = ln(1 + sum_k e^eta_k).
struct CategoricalFamily {
    double log_partition(const Eigen::VectorXd& eta) const
    {
        const double m = std::max(0.0, eta.maxCoeff());
        return m + std::log(std::exp(-m) + (eta.array() - m).exp().sum());
    }
    Eigen::VectorXd mean(const Eigen::VectorXd& eta) const { return (eta.array() - log_partition(eta)).exp().matrix(); }
    Eigen::VectorXd fisher_product(const Eigen::VectorXd& eta, const Eigen::VectorXd& v) const
    {
        const Eigen::VectorXd p = mean(eta);
        return (p.array() * v.array()).matrix() - p * p.dot(v);  // (diag p - p p^T) v
    }
};

/// Poisson: eta = ln rate, T = x, A = e^eta.
struct PoissonFamily {
    double log_partition(const Eigen::VectorXd& eta) const { return std::exp(eta[0]); }
    Eigen::VectorXd mean(const Eigen::VectorXd& eta) const { return Eigen::VectorXd::Constant(1, std::exp(eta[0])); }
    Eigen::VectorXd fisher_product(const Eigen::VectorXd& eta, const Eigen::VectorXd& v) const { return std::exp(eta[0]) * v; }
};

/// Geometric (failures): eta = ln(1 - p) < 0, T = k, A = -ln(1 - e^eta) (+inf for eta >= 0).
struct GeometricFamily {
    double log_partition(const Eigen::VectorXd& eta) const { return eta[0] < 0.0 ? -std::log(-std::expm1(eta[0])) : detail::infinity; }
    Eigen::VectorXd mean(const Eigen::VectorXd& eta) const { return Eigen::VectorXd::Constant(1, 1.0 / std::expm1(-eta[0])); }
    Eigen::VectorXd fisher_product(const Eigen::VectorXd& eta, const Eigen::VectorXd& v) const
    {
        // Variance (1-p)/p^2 = e^eta / (1 - e^eta)^2 (1 - p = e^eta), taken as ((e^eta v) / m) / m with
        // m = expm1(eta) in [-1, 0): e^-eta / expm1(-eta)^2 was inf/inf = NaN for eta below about -709,
        // and e^eta v is finite, so no step gives 0 * inf or inf / inf.
        const double m = std::expm1(eta[0]);
        return (std::exp(eta[0]) * v.array() / m / m).matrix();
    }
};

/// Exponential: eta = -rate < 0, T = x, A = -ln(-eta).
struct ExponentialFamily {
    double log_partition(const Eigen::VectorXd& eta) const { return eta[0] < 0.0 ? -std::log(-eta[0]) : detail::infinity; }
    Eigen::VectorXd mean(const Eigen::VectorXd& eta) const { return Eigen::VectorXd::Constant(1, -1.0 / eta[0]); }
    Eigen::VectorXd fisher_product(const Eigen::VectorXd& eta, const Eigen::VectorXd& v) const { return v / (eta[0] * eta[0]); }
};

/// Gamma: eta = (shape - 1, -rate), T = (ln x, x), A = lnG(eta1 + 1) - (eta1 + 1) ln(-eta2).
struct GammaFamily {
    double log_partition(const Eigen::VectorXd& eta) const
    {
        if (!(eta[0] > -1.0 && eta[1] < 0.0)) return detail::infinity;
        return std::lgamma(eta[0] + 1.0) - (eta[0] + 1.0) * std::log(-eta[1]);
    }
    Eigen::VectorXd mean(const Eigen::VectorXd& eta) const
    {
        const double a = eta[0] + 1.0, b = -eta[1];
        return Eigen::Vector2d(detail::digamma(a) - std::log(b), a / b);
    }
    Eigen::VectorXd fisher_product(const Eigen::VectorXd& eta, const Eigen::VectorXd& v) const
    {
        const double a = eta[0] + 1.0, b = -eta[1];
        return Eigen::Vector2d(detail::trigamma(a) * v[0] + v[1] / b, v[0] / b + a / (b * b) * v[1]);
    }
};

/// Dirichlet: eta = alpha - 1, T = ln x, A = sum lnG(alpha_k) - lnG(alpha_0). (Beta: K = 2.)
struct DirichletFamily {
    double log_partition(const Eigen::VectorXd& eta) const
    {
        if (!((eta.array() > -1.0).all())) return detail::infinity;
        double a = -std::lgamma(eta.sum() + double(eta.size()));
        for (Index k = 0; k < eta.size(); ++k) a += std::lgamma(eta[k] + 1.0);
        return a;
    }
    Eigen::VectorXd mean(const Eigen::VectorXd& eta) const
    {
        const double total = detail::digamma(eta.sum() + double(eta.size()));
        Eigen::VectorXd m(eta.size());
        for (Index k = 0; k < eta.size(); ++k) m[k] = detail::digamma(eta[k] + 1.0) - total;
        return m;
    }
    Eigen::VectorXd fisher_product(const Eigen::VectorXd& eta, const Eigen::VectorXd& v) const
    {
        const double total = detail::trigamma(eta.sum() + double(eta.size())) * v.sum();
        Eigen::VectorXd f(eta.size());
        for (Index k = 0; k < eta.size(); ++k) f[k] = detail::trigamma(eta[k] + 1.0) * v[k] - total;
        return f;
    }
};

/// Normal (and LogNormal with T of ln x): eta = (m / s^2, -1 / (2 s^2)), T = (x, x^2),
/// A = -eta1^2 / (4 eta2) - ln(-2 eta2) / 2.
struct NormalFamily {
    double log_partition(const Eigen::VectorXd& eta) const
    {
        if (!(eta[1] < 0.0)) return detail::infinity;
        return -eta[0] * eta[0] / (4.0 * eta[1]) - 0.5 * std::log(-2.0 * eta[1]);
    }
    Eigen::VectorXd mean(const Eigen::VectorXd& eta) const
    {
        const double var = -0.5 / eta[1], m = eta[0] * var;
        return Eigen::Vector2d(m, m * m + var);
    }
    Eigen::VectorXd fisher_product(const Eigen::VectorXd& eta, const Eigen::VectorXd& v) const
    {
        const double var = -0.5 / eta[1], m = eta[0] * var;
        const double c01 = 2.0 * m * var, c11 = 4.0 * m * m * var + 2.0 * var * var;  // Cov(x, x^2), Var(x^2)
        return Eigen::Vector2d(var * v[0] + c01 * v[1], c01 * v[0] + c11 * v[1]);
    }
};

inline Eigen::VectorXd parameters(const Bernoulli& p) { return Eigen::VectorXd::Constant(1, std::log(p.probability) - std::log1p(-p.probability)); }
inline Eigen::VectorXd parameters(const BernoulliLogit& p) { return Eigen::VectorXd::Constant(1, p.logit); }
inline Eigen::VectorXd parameters(const Binomial& p) { return Eigen::VectorXd::Constant(1, std::log(p.probability) - std::log1p(-p.probability)); }
inline Eigen::VectorXd parameters(const Poisson& p) { return Eigen::VectorXd::Constant(1, std::log(p.rate)); }
inline Eigen::VectorXd parameters(const Geometric& p) { return Eigen::VectorXd::Constant(1, std::log1p(-p.probability)); }
inline Eigen::VectorXd parameters(const Exponential& p) { return Eigen::VectorXd::Constant(1, -p.rate); }
inline Eigen::VectorXd parameters(const Gamma& p) { return Eigen::Vector2d(p.shape - 1.0, -p.rate); }
inline Eigen::VectorXd parameters(const Beta& p) { return Eigen::Vector2d(p.alpha - 1.0, p.beta - 1.0); }
inline Eigen::VectorXd parameters(const Dirichlet& p) { return p.concentration.array() - 1.0; }
inline Eigen::VectorXd parameters(const Normal& p)
{
    const double var = p.stddev * p.stddev;
    return Eigen::Vector2d(p.mean / var, -0.5 / var);
}
inline Eigen::VectorXd parameters(const LogNormal& p) { return parameters(Normal{p.mu, p.sigma}); }

/// The family object of a distribution (Binomial keeps its trials).
inline BernoulliFamily family_of(const Bernoulli&) { return {}; }
inline BernoulliFamily family_of(const BernoulliLogit&) { return {}; }
inline BinomialFamily family_of(const Binomial& p) { return {p.trials}; }
inline PoissonFamily family_of(const Poisson&) { return {}; }
inline GeometricFamily family_of(const Geometric&) { return {}; }
inline ExponentialFamily family_of(const Exponential&) { return {}; }
inline GammaFamily family_of(const Gamma&) { return {}; }
inline DirichletFamily family_of(const Beta&) { return {}; }
inline DirichletFamily family_of(const Dirichlet&) { return {}; }
inline NormalFamily family_of(const Normal&) { return {}; }
inline NormalFamily family_of(const LogNormal&) { return {}; }

}  // namespace natural
}  // namespace divergence::parametric

#endif
