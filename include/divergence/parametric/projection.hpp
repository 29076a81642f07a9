#ifndef DIVERGENCE_PARAMETRIC_PROJECTION_HPP
#define DIVERGENCE_PARAMETRIC_PROJECTION_HPP

// Projections onto exponential families (Koller & Friedman 2009, sec. 8.5):
// - the M-projection argmin_eta KL(p || q_eta) is moment matching, E_{q*}[T] = E_p[T]: KL(p || q_eta) =
//   const - <eta, E_p T> + A(eta) is convex in eta with gradient grad A(eta) - E_p[T]. The Pythagorean
//   identity KL(p || q) = KL(p || q*) + KL(q* || q) holds for every q of the family.
// - the I-projection argmin_q KL(q || p) over the linear family {q : E_q[x] = t} is the exponential
//   tilt q*(x) = p(x) e^{lambda x} / Z(lambda) (Csiszar 1975), which stays in p's family for the
//   families below (closed forms) and is computed by a 1-D solve for a finite discrete p.

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "divergence/core/error.hpp"
#include "divergence/parametric/cross_family.hpp"
#include "divergence/parametric/exponential_family.hpp"
#include "divergence/parametric/families.hpp"

namespace divergence::parametric {

/// Options of the iterative projections.
struct ProjectionOptions {
    int max_iterations = 200;   ///< Newton steps, > 0
    double tolerance = 1e-12;   ///< stop when max_i |E_q T_i - t_i| <= tolerance (1 + |t_i|); > 0
};

enum class ProjectionStatus { converged, max_iterations, not_finite };

/// The natural parameters eta* with grad A(eta*) = target (the M-projection's moment condition).
struct MomentMatch {
    Eigen::VectorXd eta;
    ProjectionStatus status = ProjectionStatus::converged;
    int iterations = 0;
    double residual = 0.0;  ///< max_i |grad A(eta)_i - target_i| / (1 + |target_i|)
};

namespace detail {

inline void check_options(const char* function, const ProjectionOptions& o)
{
    if (!(o.max_iterations > 0)) divergence::detail::fail(function, "options.max_iterations", divergence::detail::describe("must be > 0", o.max_iterations));
    if (!(o.tolerance > 0.0) || !std::isfinite(o.tolerance))
        divergence::detail::fail(function, "options.tolerance", divergence::detail::describe("must be finite and > 0", o.tolerance));
}

inline double scaled_residual(const Eigen::VectorXd& mean, const Eigen::VectorXd& target)
{
    return ((mean - target).array().abs() / (1.0 + target.array().abs())).maxCoeff();
}

}  // namespace detail

/// Moment matching in a family given by its log-partition (exponential_family.hpp; needs
/// fisher_product): minimizes A(eta) - <eta, target> by Newton steps with backtracking (a convex
/// problem: globally convergent where the minimizer exists, i.e. target inside the interior of the mean
/// parameter space). `start` must have a finite A.
/// \throws std::invalid_argument naming 'target' or 'start' (empty, sizes differ, not finite, A not finite at start), or options.
template <class Family>
MomentMatch match_moments(const Family& family, const Eigen::VectorXd& target, const Eigen::VectorXd& start, const ProjectionOptions& options = {})
{
    const char* function = "parametric::match_moments";
    detail::check_options(function, options);
    detail::check_natural(function, "target", target, -1);
    detail::check_natural(function, "start", start, target.size());
    detail::finite_log_partition(function, "start", family, start);
    const Index n = target.size();
    MomentMatch result;
    Eigen::VectorXd eta = start;
    double objective = family.log_partition(eta) - eta.dot(target);
    for (int it = 0;; ++it) {
        const Eigen::VectorXd mean = family.mean(eta);
        result.residual = detail::scaled_residual(mean, target);
        result.iterations = it;
        if (!std::isfinite(result.residual)) {
            result.status = ProjectionStatus::not_finite;
            break;
        }
        if (result.residual <= options.tolerance) break;
        if (it == options.max_iterations) {
            result.status = ProjectionStatus::max_iterations;
            break;
        }
        const Eigen::VectorXd gradient = mean - target;
        Eigen::MatrixXd fisher(n, n);
        for (Index j = 0; j < n; ++j) fisher.col(j) = family.fisher_product(eta, Eigen::VectorXd::Unit(n, j));
        Eigen::VectorXd step = fisher.ldlt().solve(-gradient);
        if (!step.allFinite() || step.dot(gradient) >= 0.0) step = -gradient;  // not a descent direction: fall back
        // Backtracking (Armijo) on the convex objective; A = +inf outside the domain rejects a step.
        double size = 1.0;
        bool moved = false;
        for (int k = 0; k < 60; ++k, size *= 0.5) {
            const Eigen::VectorXd trial = eta + size * step;
            const double value = family.log_partition(trial) - trial.dot(target);
            if (std::isfinite(value) && value <= objective + 1e-4 * size * step.dot(gradient)) {
                eta = trial;
                objective = value;
                moved = true;
                break;
            }
        }
        if (!moved) {  // rounding stalls the line search: accept the full Newton step if it stays finite
            const Eigen::VectorXd trial = eta + step;
            const double value = family.log_partition(trial) - trial.dot(target);
            if (!std::isfinite(value)) {
                result.status = ProjectionStatus::max_iterations;
                break;
            }
            eta = trial;
            objective = value;
        }
    }
    result.eta = eta;
    return result;
}

namespace detail {

inline Eigen::ArrayXd normalized_weights(const char* function, const Eigen::ArrayXd& samples, const Eigen::ArrayXd& weights)
{
    if (samples.size() == 0) divergence::detail::fail(function, "samples", "is empty");
    for (Index i = 0; i < samples.size(); ++i)
        if (!std::isfinite(samples[i])) divergence::detail::fail(function, "samples", -1, i, divergence::detail::describe("must be finite", samples[i]));
    if (weights.size() == 0) return Eigen::ArrayXd::Constant(samples.size(), 1.0 / double(samples.size()));
    if (weights.size() != samples.size())
        divergence::detail::fail(function, "weights", "has " + std::to_string(weights.size()) + " entries, samples has " + std::to_string(samples.size()));
    for (Index i = 0; i < weights.size(); ++i)
        if (!(weights[i] >= 0.0) || !std::isfinite(weights[i]))
            divergence::detail::fail(function, "weights", -1, i, divergence::detail::describe("must be finite and >= 0", weights[i]));
    const double total = weights.sum();
    if (!(total > 0.0)) divergence::detail::fail(function, "weights", "sum to 0");
    return weights / total;
}

/// Every sample with weight > 0 in (low, high), or [low, high) when `closed_low`.
inline void require_samples(const char* function, const Eigen::ArrayXd& samples, const Eigen::ArrayXd& w, double low, double high,
                            const char* problem, bool closed_low = false)
{
    for (Index i = 0; i < samples.size(); ++i)
        if (w[i] > 0.0 && !((samples[i] > low || (closed_low && samples[i] == low)) && samples[i] < high))
            divergence::detail::fail(function, "samples", -1, i, divergence::detail::describe(problem, samples[i]));
}

/// Every sample with weight > 0 a count (an integer >= 0).
inline void require_counts(const char* function, const Eigen::ArrayXd& samples, const Eigen::ArrayXd& w)
{
    for (Index i = 0; i < samples.size(); ++i)
        if (w[i] > 0.0 && !(samples[i] >= 0.0 && samples[i] == std::floor(samples[i])))
            divergence::detail::fail(function, "samples", -1, i, divergence::detail::describe("must be an integer >= 0", samples[i]));
}

inline double weighted_mean(const Eigen::ArrayXd& x, const Eigen::ArrayXd& w) { return (w * x).sum(); }
inline double weighted_variance(const Eigen::ArrayXd& x, const Eigen::ArrayXd& w, double mean) { return (w * (x - mean).square()).sum(); }

inline void require_spread(const char* function, double variance)
{
    if (!(variance > 0.0)) divergence::detail::fail(function, "samples", "have zero variance: the projection is a point mass, outside the family");
}

/// The weighted mean and standard deviation (normalized weights) of x, which must not be a point mass.
inline std::pair<double, double> weighted_mean_and_stddev(const char* function, const Eigen::ArrayXd& x, const Eigen::ArrayXd& w)
{
    const double m = weighted_mean(x, w), v = weighted_variance(x, w, m);
    require_spread(function, v);
    return {m, std::sqrt(v)};
}

/// Gamma from E x and E ln x: eta = (a - 1, -b) with psi(a) - ln a = E ln x - ln E x (< 0 by Jensen),
/// b = a / E x; started at Minka's approximation a ~ (3 - c + sqrt((c - 3)^2 + 24 c)) / (12 c), c = ln E x - E ln x.
inline Gamma gamma_from_moments(const char* function, double mean, double mean_log, const ProjectionOptions& options)
{
    const double c = std::log(mean) - mean_log;
    if (!(c > 0.0)) divergence::detail::fail(function, "samples", "have ln E x <= E ln x (all equal): the projection is a point mass");
    const double a0 = (3.0 - c + std::sqrt((c - 3.0) * (c - 3.0) + 24.0 * c)) / (12.0 * c);
    const MomentMatch m = match_moments(natural::GammaFamily{}, Eigen::Vector2d(mean_log, mean), Eigen::Vector2d(a0 - 1.0, -a0 / mean), options);
    return Gamma{m.eta[0] + 1.0, -m.eta[1]};
}

/// Dirichlet (Beta: K = 2) from E ln x_k: psi(alpha_k) - psi(alpha_0) = E ln x_k; started where the
/// means match with alpha_0 = K.
inline Eigen::VectorXd dirichlet_from_moments(const Eigen::VectorXd& mean, const Eigen::VectorXd& mean_log, const ProjectionOptions& options)
{
    const Eigen::VectorXd start = (mean * double(mean.size())).array() - 1.0;
    const MomentMatch m = match_moments(natural::DirichletFamily{}, mean_log, start, options);
    return m.eta.array() + 1.0;
}

}  // namespace detail

/// M-projection of a weighted sample onto a family, argmin_q sum_i w_i (-ln q(x_i)) (= the weighted
/// maximum-likelihood fit), by moment matching:
///   Normal: mean and variance (weighted, 1/sum w normalization);  LogNormal: the same of ln x;
///   Exponential: rate = 1 / E x;  Poisson: rate = E x;  Bernoulli: p = E x;  Geometric: p = 1 / (1 + E x);
///   Gamma: E x and E ln x (Newton);  Beta: E ln x and E ln(1 - x) (Newton).
/// \throws std::invalid_argument naming 'samples' (empty, not finite, outside the support, a point mass)
///         or 'weights' (size, negative, not finite, sum 0).
template <class Family>
Family m_projection(const Eigen::ArrayXd& samples, const Eigen::ArrayXd& weights = Eigen::ArrayXd(), const ProjectionOptions& options = {});

template <>
inline Normal m_projection<Normal>(const Eigen::ArrayXd& samples, const Eigen::ArrayXd& weights, const ProjectionOptions&)
{
    const char* function = "parametric::m_projection<Normal>";
    const Eigen::ArrayXd w = detail::normalized_weights(function, samples, weights);
    const auto [m, sd] = detail::weighted_mean_and_stddev(function, samples, w);
    return Normal{m, sd};
}

template <>
inline LogNormal m_projection<LogNormal>(const Eigen::ArrayXd& samples, const Eigen::ArrayXd& weights, const ProjectionOptions&)
{
    const char* function = "parametric::m_projection<LogNormal>";
    const Eigen::ArrayXd w = detail::normalized_weights(function, samples, weights);
    detail::require_samples(function, samples, w, 0.0, detail::infinity, "must be > 0");
    const Eigen::ArrayXd l = (w > 0.0).select(samples.log(), 0.0);
    const auto [m, sd] = detail::weighted_mean_and_stddev(function, l, w);
    return LogNormal{m, sd};
}

template <>
inline Exponential m_projection<Exponential>(const Eigen::ArrayXd& samples, const Eigen::ArrayXd& weights, const ProjectionOptions&)
{
    const char* function = "parametric::m_projection<Exponential>";
    const Eigen::ArrayXd w = detail::normalized_weights(function, samples, weights);
    detail::require_samples(function, samples, w, 0.0, detail::infinity, "must be >= 0", true);
    const double m = detail::weighted_mean(samples, w);
    if (!(m > 0.0)) divergence::detail::fail(function, "samples", "have mean 0: the projection is a point mass at 0");
    return Exponential{1.0 / m};
}

template <>
inline Poisson m_projection<Poisson>(const Eigen::ArrayXd& samples, const Eigen::ArrayXd& weights, const ProjectionOptions&)
{
    const char* function = "parametric::m_projection<Poisson>";
    const Eigen::ArrayXd w = detail::normalized_weights(function, samples, weights);
    detail::require_counts(function, samples, w);
    const double m = detail::weighted_mean(samples, w);
    if (!(m > 0.0)) divergence::detail::fail(function, "samples", "have mean 0: the projection is a point mass at 0");
    return Poisson{m};
}

template <>
inline Bernoulli m_projection<Bernoulli>(const Eigen::ArrayXd& samples, const Eigen::ArrayXd& weights, const ProjectionOptions&)
{
    const char* function = "parametric::m_projection<Bernoulli>";
    const Eigen::ArrayXd w = detail::normalized_weights(function, samples, weights);
    for (Index i = 0; i < samples.size(); ++i)
        if (w[i] > 0.0 && !(samples[i] == 0.0 || samples[i] == 1.0))
            divergence::detail::fail(function, "samples", -1, i, divergence::detail::describe("must be 0 or 1", samples[i]));
    return Bernoulli{std::min(1.0, detail::weighted_mean(samples, w))};
}

template <>
inline Geometric m_projection<Geometric>(const Eigen::ArrayXd& samples, const Eigen::ArrayXd& weights, const ProjectionOptions&)
{
    const char* function = "parametric::m_projection<Geometric>";
    const Eigen::ArrayXd w = detail::normalized_weights(function, samples, weights);
    detail::require_counts(function, samples, w);
    return Geometric{1.0 / (1.0 + detail::weighted_mean(samples, w))};
}

template <>
inline Gamma m_projection<Gamma>(const Eigen::ArrayXd& samples, const Eigen::ArrayXd& weights, const ProjectionOptions& options)
{
    const char* function = "parametric::m_projection<Gamma>";
    detail::check_options(function, options);
    const Eigen::ArrayXd w = detail::normalized_weights(function, samples, weights);
    detail::require_samples(function, samples, w, 0.0, detail::infinity, "must be > 0");
    const Eigen::ArrayXd l = (w > 0.0).select(samples.log(), 0.0);
    return detail::gamma_from_moments(function, detail::weighted_mean(samples, w), detail::weighted_mean(l, w), options);
}

template <>
inline Beta m_projection<Beta>(const Eigen::ArrayXd& samples, const Eigen::ArrayXd& weights, const ProjectionOptions& options)
{
    const char* function = "parametric::m_projection<Beta>";
    detail::check_options(function, options);
    const Eigen::ArrayXd w = detail::normalized_weights(function, samples, weights);
    detail::require_samples(function, samples, w, 0.0, 1.0, "must be in (0, 1)");
    const double m = detail::weighted_mean(samples, w);
    detail::require_spread(function, detail::weighted_variance(samples, w, m));
    const Eigen::ArrayXd l = (w > 0.0).select(samples.log(), 0.0), l1 = (w > 0.0).select((-samples).log1p(), 0.0);
    const Eigen::VectorXd alpha = detail::dirichlet_from_moments(Eigen::Vector2d(m, 1.0 - m),
                                                                 Eigen::Vector2d(detail::weighted_mean(l, w), detail::weighted_mean(l1, w)), options);
    return Beta{alpha[0], alpha[1]};
}

/// M-projection of a distribution p onto a family: the member whose expected sufficient statistics
/// are p's (closed-form expectations, cross_family.hpp). Family in {Normal, Exponential, Gamma, Beta};
/// p in {Exponential, Gamma, Beta, Normal, Laplace, Uniform}.
/// \throws std::invalid_argument naming 'p' for its parameters, or when the statistics the family
///         needs do not exist (a p outside the family's support).
template <class Family, class P>
Family m_projection_of(const P& p, const ProjectionOptions& options = {})
{
    const char* function = "parametric::m_projection_of";
    detail::validate(p, detail::Site{function, "p"});
    detail::check_options(function, options);
    const detail::Summary s = detail::summarize(p);
    if constexpr (std::is_same_v<Family, Normal>) {
        return Normal{s.mean.v, std::sqrt(s.variance.v)};
    } else if constexpr (std::is_same_v<Family, Exponential>) {
        if (!(s.low >= 0.0)) divergence::detail::fail(function, "p", "is not supported on [0, inf): KL(p || Exponential) is +inf for every rate");
        return Exponential{1.0 / s.mean.v};
    } else if constexpr (std::is_same_v<Family, Gamma>) {
        if (!(s.low >= 0.0)) divergence::detail::fail(function, "p", "is not supported on [0, inf): KL(p || Gamma) is +inf for every Gamma");
        return detail::gamma_from_moments(function, s.mean.v, s.mean_log.v, options);
    } else {
        static_assert(std::is_same_v<Family, Beta>, "divergence: m_projection_of projects onto Normal, Exponential, Gamma or Beta.");
        if (!(s.low >= 0.0 && s.high <= 1.0)) divergence::detail::fail(function, "p", "is not supported on [0, 1]: KL(p || Beta) is +inf for every Beta");
        const Eigen::VectorXd alpha = detail::dirichlet_from_moments(Eigen::Vector2d(s.mean.v, 1.0 - s.mean.v),
                                                                     Eigen::Vector2d(s.mean_log.v, s.mean_log1m.v), options);
        return Beta{alpha[0], alpha[1]};
    }
}

/// I-projection of p onto {q : E_q[x] = target}: argmin_q KL(q || p), the exponential tilt
/// q(x) ~ p(x) e^{lambda x}, which stays in p's family:
///   Normal(m, s) -> Normal(target, s);  Poisson -> Poisson(target);  Exponential -> Exponential(1/target);
///   Gamma(a, b) -> Gamma(a, a/target);  Bernoulli -> Bernoulli(target);  Binomial(n, .) -> Binomial(n, target/n);
///   Geometric -> Geometric(1/(1 + target)).
/// \throws std::invalid_argument naming 'target' outside the interior of the family's mean range
///         ((0, inf), (0, 1), (0, n)), or 'p' for its parameters.
inline Normal i_projection_onto_mean(const Normal& p, double target)
{
    detail::validate(p, detail::Site{"parametric::i_projection_onto_mean", "p"});
    if (!std::isfinite(target)) divergence::detail::fail("parametric::i_projection_onto_mean", "target", divergence::detail::describe("must be finite", target));
    return Normal{target, p.stddev};
}

namespace detail {
inline void check_mean_target(double target, double high)
{
    if (!(target > 0.0 && target < high))
        divergence::detail::fail("parametric::i_projection_onto_mean", "target",
                                 divergence::detail::describe(high == infinity ? "must be finite and > 0" : ("must be in (0, " + std::to_string(high) + ")").c_str(), target));
}
}  // namespace detail

inline Poisson i_projection_onto_mean(const Poisson& p, double target)
{
    detail::validate(p, detail::Site{"parametric::i_projection_onto_mean", "p"});
    detail::check_mean_target(target, detail::infinity);
    return Poisson{target};
}
inline Exponential i_projection_onto_mean(const Exponential& p, double target)
{
    detail::validate(p, detail::Site{"parametric::i_projection_onto_mean", "p"});
    detail::check_mean_target(target, detail::infinity);
    return Exponential{1.0 / target};
}
inline Gamma i_projection_onto_mean(const Gamma& p, double target)
{
    detail::validate(p, detail::Site{"parametric::i_projection_onto_mean", "p"});
    detail::check_mean_target(target, detail::infinity);
    return Gamma{p.shape, p.shape / target};
}
inline Bernoulli i_projection_onto_mean(const Bernoulli& p, double target)
{
    detail::validate(p, detail::Site{"parametric::i_projection_onto_mean", "p"});
    detail::check_mean_target(target, 1.0);
    if (p.probability == 0.0 || p.probability == 1.0)
        divergence::detail::fail("parametric::i_projection_onto_mean", "p.probability", "is 0 or 1: no tilt moves a point mass");
    return Bernoulli{target};
}
inline Binomial i_projection_onto_mean(const Binomial& p, double target)
{
    detail::validate(p, detail::Site{"parametric::i_projection_onto_mean", "p"});
    detail::check_mean_target(target, p.trials);
    if (p.probability == 0.0 || p.probability == 1.0)
        divergence::detail::fail("parametric::i_projection_onto_mean", "p.probability", "is 0 or 1: no tilt moves a point mass");
    return Binomial{p.trials, target / p.trials};
}
inline Geometric i_projection_onto_mean(const Geometric& p, double target)
{
    detail::validate(p, detail::Site{"parametric::i_projection_onto_mean", "p"});
    detail::check_mean_target(target, detail::infinity);
    if (p.probability == 1.0) divergence::detail::fail("parametric::i_projection_onto_mean", "p.probability", "is 1: no tilt moves a point mass");
    return Geometric{1.0 / (1.0 + target)};
}

/// The tilt of a finite discrete p: q_i = p_i e^{lambda x_i} / Z(lambda).
struct Tilt {
    Eigen::VectorXd probabilities;
    double lambda = 0.0;
    ProjectionStatus status = ProjectionStatus::converged;
    int iterations = 0;
};

/// I-projection of p (probabilities on the points `values`) onto {q : sum_i q_i x_i = target}: the tilt
/// whose lambda solves E_q[x] = target, by safeguarded Newton on the convex ln Z(lambda) - lambda target
/// (log domain throughout). target must lie strictly between the smallest and largest x with p > 0.
/// \throws std::invalid_argument naming 'p' (not a distribution), 'values' (size, not finite) or 'target'.
inline Tilt i_projection_onto_mean(const Eigen::VectorXd& p, const Eigen::VectorXd& values, double target, const ProjectionOptions& options = {})
{
    const char* function = "parametric::i_projection_onto_mean";
    detail::check_options(function, options);
    if (p.size() == 0) divergence::detail::fail(function, "p", "is empty");
    if (values.size() != p.size())
        divergence::detail::fail(function, "values", "has " + std::to_string(values.size()) + " entries, p has " + std::to_string(p.size()));
    double lo = detail::infinity, hi = -detail::infinity;
    for (Index i = 0; i < p.size(); ++i) {
        if (!(p[i] >= 0.0) || !std::isfinite(p[i])) divergence::detail::fail(function, "p", -1, i, divergence::detail::describe("must be finite and >= 0", p[i]));
        if (!std::isfinite(values[i])) divergence::detail::fail(function, "values", -1, i, divergence::detail::describe("must be finite", values[i]));
        if (p[i] > 0.0) {
            lo = std::min(lo, values[i]);
            hi = std::max(hi, values[i]);
        }
    }
    if (!(std::abs(p.sum() - 1.0) <= 1e-9)) divergence::detail::fail(function, "p", divergence::detail::describe("must sum to 1, sums to", p.sum()));
    if (!(target > lo && target < hi))
        divergence::detail::fail(function, "target", divergence::detail::describe(("must lie strictly between the smallest (" + std::to_string(lo) + ") and largest (" +
                                                                                   std::to_string(hi) + ") supported values").c_str(),
                                                                                  target));
    const Eigen::ArrayXd log_p = p.array().log();
    const double scale = std::max(std::abs(lo), std::abs(hi));
    const auto tilt = [&](double lambda, double& mean, double& variance) {
        const Eigen::ArrayXd t = log_p + lambda * (values.array() - target);  // centred at the target: ln Z stays O(1) near the answer
        const double m = t.maxCoeff();
        const Eigen::ArrayXd q = (t - m).exp();
        const Eigen::ArrayXd qn = q / q.sum();
        mean = (qn * values.array()).sum();
        variance = (qn * (values.array() - mean).square()).sum();
        return qn;
    };
    Tilt result;
    double lambda = 0.0, low = -detail::infinity, high = detail::infinity;
    for (int it = 0;; ++it) {
        double mean, variance;
        const Eigen::ArrayXd q = tilt(lambda, mean, variance);
        result.iterations = it;
        result.probabilities = q.matrix();
        result.lambda = lambda;
        if (std::abs(mean - target) <= options.tolerance * (1.0 + std::abs(target))) break;
        if (it == options.max_iterations) {
            result.status = ProjectionStatus::max_iterations;
            break;
        }
        // E_q x increases with lambda: keep a bracket and bisect when Newton leaves it.
        if (mean < target) low = lambda; else high = lambda;
        double next = lambda - (mean - target) / variance;
        if (!(next > low && next < high) || !std::isfinite(next)) {
            if (std::isfinite(low) && std::isfinite(high)) next = 0.5 * (low + high);
            else next = std::isfinite(low) ? low + std::max(1.0, std::abs(low)) / scale : high - std::max(1.0, std::abs(high)) / scale;
        }
        lambda = next;
    }
    return result;
}

}  // namespace divergence::parametric

#endif
