#ifndef DIVERGENCE_PARAMETRIC_GAUSSIAN_MIXTURE_HPP
#define DIVERGENCE_PARAMETRIC_GAUSSIAN_MIXTURE_HPP

// The Cauchy-Schwarz divergence between Gaussian mixtures in closed form (Kampa, Hasanbelliu and
// Principe, IJCNN 2011): every overlap integral of two components is a Gaussian density,
// int N(x | a, A) N(x | b, B) dx = N(a | b, A + B), and the three sums over component pairs are
// log-sum-exps, so far-apart components neither underflow nor give -ln 0.

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "divergence/core/error.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/validate.hpp"
#include "divergence/parametric/gaussian.hpp"

namespace divergence::parametric {

/// A mixture sum_m w_m N(mean_m, S_m) of Gaussians of one dimension d, each component in any
/// CovarianceForm. Weights >= 0 summing to 1 (within the default tolerance of Options::tolerance for
/// that many entries, docs/conventions.md).
template <class Scalar>
struct GaussianMixture {
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> weights;
    std::vector<Gaussian<Scalar>> components;
};

/// The mixture of `components` with `weights` (a vector of as many entries).
template <class W, class Scalar = typename W::Scalar>
GaussianMixture<Scalar> gaussian_mixture(const Eigen::MatrixBase<W>& weights, std::vector<Gaussian<Scalar>> components)
{
    static_assert(W::IsVectorAtCompileTime, "divergence: mixture weights are a vector.");
    return {detail::as_column(weights), std::move(components)};
}

/// The derivative of a divergence with respect to one mixture argument: `weights` (the unconstrained
/// partial derivatives d/dw_m, whose weighted sum sum_m w_m d/dw_m is 0 since the divergence does not
/// change when the weights are scaled), `logits` (d/dz_m for w = softmax(z): w_m d/dw_m) and each
/// component's GaussianGradient in its own parameters.
template <class Scalar>
struct GaussianMixtureGradient {
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> weights;
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> logits;
    std::vector<GaussianGradient<Scalar>> components;
};

namespace detail {

/// A checked mixture in double: ln w_m (-inf for w_m = 0) and the factored components.
struct FactoredMixture {
    Eigen::VectorXd log_weights;
    std::vector<FactoredGaussian> components;
    Index size() const { return log_weights.size(); }
    Index dimension() const { return components.front().dimension(); }
};

template <class Scalar>
FactoredMixture factor_mixture(const char* function, const char* name, const GaussianMixture<Scalar>& m)
{
    using divergence::detail::describe;
    using divergence::detail::fail;
    const std::string weights_name = std::string(name) + ".weights";
    const Index k = m.weights.size();
    if (k == 0) fail(function, weights_name.c_str(), "empty mixture: at least one component is needed");
    if (Index(m.components.size()) != k) {
        fail(function, (std::string(name) + ".components").c_str(),
             "has " + std::to_string(m.components.size()) + " components for " + std::to_string(k) + " weights");
    }
    FactoredMixture f;
    f.log_weights.resize(k);
    double total = 0.0;
    for (Index i = 0; i < k; ++i) {
        const double w = double(m.weights[i]);
        if (!(w >= 0.0 && std::isfinite(w))) fail(function, weights_name.c_str(), i, -1, describe("weight must be finite and >= 0, got", w));
        total += w;
        f.log_weights[i] = std::log(w);
    }
    const double tolerance = divergence::detail::default_tolerance<Scalar>(k);
    if (!(std::abs(total - 1.0) <= tolerance)) {
        std::ostringstream problem;
        problem.precision(17);
        problem << "weights sum to " << total << ", not 1: the difference " << std::abs(total - 1.0);
        problem.precision(3);
        problem << " exceeds the tolerance " << tolerance << " (the default of Options::tolerance for " << k << " entries)";
        fail(function, weights_name.c_str(), problem.str());
    }
    f.components.reserve(std::size_t(k));
    for (Index i = 0; i < k; ++i) {
        const std::string component = std::string(name) + ".components[" + std::to_string(i) + "]";
        f.components.push_back(factor_gaussian(function, component, m.components[std::size_t(i)]));
        if (f.components.back().dimension() != f.components.front().dimension()) {
            fail(function, (component + ".mean").c_str(),
                 "dimension " + std::to_string(f.components.back().dimension()) + " differs from component 0's " +
                     std::to_string(f.components.front().dimension()));
        }
    }
    return f;
}

/// ln N(a | b, C) with C = S_x + S_y, a and b the two components' means, and what its gradients need:
/// u = C^-1 (a - b) and C^-1 (dense, or its diagonal when both components have diagonal forms).
/// d ln N / da = -u, d ln N / dC = 1/2 (u u^T - C^-1).
struct PairOverlap {
    double log_density = 0.0;
    Eigen::VectorXd u;
    Eigen::MatrixXd c_inverse;  ///< d x d, or d x 1 (the diagonal) when `diagonal`
    bool diagonal = false;
};

template <class = void>  // instantiated where used (see FactoredGaussian)
PairOverlap pair_overlap(const FactoredGaussian& x, const FactoredGaussian& y, bool gradients)
{
    constexpr double log_two_pi = 1.8378770664093454836;
    const Index d = x.dimension();
    const Eigen::VectorXd r = x.mean - y.mean;
    PairOverlap o;
    if (x.diagonal() && y.diagonal()) {
        const Eigen::VectorXd c = x.variances + y.variances;
        o.log_density = -0.5 * (double(d) * log_two_pi + c.array().log().sum() + r.cwiseAbs2().cwiseQuotient(c).sum());
        if (gradients) {
            o.diagonal = true;
            o.u = r.cwiseQuotient(c);
            o.c_inverse = c.cwiseInverse();
        }
        return o;
    }
    const Eigen::MatrixXd L = sum_factor(x, y);  // C = L L^T, never formed (it may overflow where L does not)
    const Eigen::VectorXd z = L.triangularView<Eigen::Lower>().solve(r);
    o.log_density = -0.5 * double(d) * log_two_pi - L.diagonal().array().log().sum() - 0.5 * z.squaredNorm();
    if (gradients) {
        o.u = L.transpose().triangularView<Eigen::Upper>().solve(z);
        const Eigen::MatrixXd inverse_factor = L.triangularView<Eigen::Lower>().solve(Eigen::MatrixXd::Identity(d, d));
        o.c_inverse = inverse_factor.transpose() * inverse_factor;
    }
    return o;
}

/// Accumulates r * d ln N / dS = r/2 (u u^T - C^-1) into a component's G (dense d x d, or d x 1 for a
/// diagonal-form component, which only needs the diagonal).
/// A pair whose share r underflows to 0 (components far apart, u ~ 1e300 and u u^T = +inf) adds exactly 0
/// (0 * inf was NaN); otherwise r u u^T is formed as (r u / 2) u^T, finite wherever the term is.
template <class = void>  // instantiated where used (see FactoredGaussian)
void add_covariance_term(Eigen::MatrixXd& G, bool component_diagonal, double r, const PairOverlap& o)
{
    if (r == 0.0) return;
    const Eigen::VectorXd half_ru = 0.5 * r * o.u;
    if (component_diagonal) {
        const Eigen::VectorXd c_diagonal = o.diagonal ? Eigen::VectorXd(o.c_inverse.col(0)) : Eigen::VectorXd(o.c_inverse.diagonal());
        G.col(0) += half_ru.cwiseProduct(o.u) - 0.5 * r * c_diagonal;
    } else if (o.diagonal) {
        G.noalias() += half_ru * o.u.transpose();
        G.diagonal() -= 0.5 * r * o.c_inverse.col(0);
    } else {
        G.noalias() += half_ru * o.u.transpose() - 0.5 * r * o.c_inverse;
    }
}

/// The gradients of a mixture argument in double, built up pair by pair.
struct MixtureGradientSums {
    Eigen::VectorXd weights;                  ///< d/dw_m
    std::vector<Eigen::VectorXd> means;       ///< d/dmean_m
    std::vector<Eigen::MatrixXd> covariances; ///< G_m (d x d, or d x 1 for diagonal forms)

    explicit MixtureGradientSums(const FactoredMixture& m) : weights(Eigen::VectorXd::Zero(m.size()))
    {
        for (const FactoredGaussian& c : m.components) {
            means.push_back(Eigen::VectorXd::Zero(c.dimension()));
            covariances.push_back(Eigen::MatrixXd::Zero(c.dimension(), c.diagonal() ? 1 : c.dimension()));
        }
    }
};

/// ln sum_{i,j} w_i v_j N(a_i | b_j, S_i + T_j) over all pairs of components of x and y, and, if `x_sums`
/// (and `y_sums`) are given, sign * d(that)/d(parameters) added to them: with r_ij the pair's share
/// of the sum, d/dw_i = sum_j r_ij / w_i, d/da_i = -sum_j r_ij u_ij, d/dS_i = sum_j r_ij (u u^T - C^-1)_ij / 2
/// (y: d/db_j = +sum_i r_ij u_ij). For x = y (the self term) call with y_sums null: the pair (i, j)
/// then counts for both of its components.
template <class = void>  // instantiated where used (see FactoredGaussian)
double log_overlap(const FactoredMixture& x, const FactoredMixture& y, double sign, MixtureGradientSums* x_sums,
                   MixtureGradientSums* y_sums)
{
    const bool self = &x == &y;
    const Index n = x.size(), m = y.size();
    const bool gradients = x_sums != nullptr;
    std::vector<PairOverlap> pairs(std::size_t(n * m));
    divergence::detail::LogSumExp total;
    for (Index i = 0; i < n; ++i) {
        for (Index j = 0; j < m; ++j) {
            PairOverlap& o = pairs[std::size_t(i * m + j)];
            if (self && j < i) continue;  // symmetric: N(a_i | a_j, S_i + S_j) = N(a_j | a_i, S_j + S_i)
            if (x.log_weights[i] == -divergence::detail::infinity || y.log_weights[j] == -divergence::detail::infinity) {
                if (!gradients) continue;
            }
            o = pair_overlap(x.components[std::size_t(i)], y.components[std::size_t(j)], gradients);
            const double term = x.log_weights[i] + y.log_weights[j] + o.log_density;
            total.add(term);
            if (self && j > i) total.add(term);
        }
    }
    const double log_total = total.value();
    // No overlap in double (every pair's density underflows, e.g. means 1e308 apart): the value is +inf and
    // the shares r / total are 0 / 0; this sum then adds nothing to the gradients (no NaN).
    if (!gradients || log_total == -divergence::detail::infinity) return log_total;
    for (Index i = 0; i < n; ++i) {
        for (Index j = 0; j < m; ++j) {
            const PairOverlap& o = pairs[std::size_t(self && j < i ? j * m + i : i * m + j)];
            const double log_density = o.log_density;
            // r_ij / w_i and r_ij / v_j as exponentials, defined also where a weight is 0.
            const double share_over_wi = std::exp(y.log_weights[j] + log_density - log_total);
            const double share_over_vj = std::exp(x.log_weights[i] + log_density - log_total);
            const double r = std::exp(x.log_weights[i] + y.log_weights[j] + log_density - log_total);
            // u for (i, j) is C^-1 (a_i - b_j); the stored pair of a mirrored self term has the opposite sign.
            const double u_sign = self && j < i ? -1.0 : 1.0;
            x_sums->weights[i] += sign * share_over_wi;
            // A pair of share 0 adds 0 even where its u overflows (means ~1e308 apart: 0 * inf).
            if (r != 0.0) x_sums->means[std::size_t(i)] -= sign * r * u_sign * o.u;
            add_covariance_term(x_sums->covariances[std::size_t(i)], x.components[std::size_t(i)].diagonal(), sign * r, o);
            MixtureGradientSums* second = self ? x_sums : y_sums;
            second->weights[j] += sign * share_over_vj;
            if (r != 0.0) second->means[std::size_t(j)] += sign * r * u_sign * o.u;
            add_covariance_term(second->covariances[std::size_t(j)], y.components[std::size_t(j)].diagonal(), sign * r, o);
        }
    }
    return log_total;
}

template <class Scalar>
void write_mixture_gradient(GaussianMixtureGradient<Scalar>* out, const MixtureGradientSums& sums, const FactoredMixture& m)
{
    if (out == nullptr) return;
    const Index k = m.size();
    out->weights = sums.weights.cast<Scalar>();
    out->logits.resize(k);
    for (Index i = 0; i < k; ++i) out->logits[i] = Scalar(std::exp(m.log_weights[i]) * sums.weights[i]);
    out->components.resize(std::size_t(k));
    for (Index i = 0; i < k; ++i) {
        const FactoredGaussian& c = m.components[std::size_t(i)];
        GaussianGradient<Scalar>& g = out->components[std::size_t(i)];
        g.mean = sums.means[std::size_t(i)].cast<Scalar>();
        g.covariance = c.diagonal() ? covariance_gradient_diagonal<Scalar>(sums.covariances[std::size_t(i)].col(0), c)
                                    : covariance_gradient<Scalar>(sums.covariances[std::size_t(i)], c);
    }
}

}  // namespace detail

/// Cauchy-Schwarz divergence between Gaussian mixtures p = sum_m w_m N(a_m, S_m) and q = sum_k v_k N(b_k, T_k),
/// the negative log of their normalized overlap (Kampa, Hasanbelliu and Principe, "Closed-form
/// Cauchy-Schwarz PDF divergence for mixture of Gaussians", IJCNN 2011, doi:10.1109/IJCNN.2011.6033555):
///   D_CS(p, q) = -ln int p q + 1/2 ln int p^2 + 1/2 ln int q^2,
///   ln int p q  = LSE_{m,k} [ln w_m + ln v_k + ln N(a_m | b_k, S_m + T_k)],
///   ln int p^2  = LSE_{m,m'} [ln w_m + ln w_m' + ln N(a_m | a_m', S_m + S_m')]  (likewise q),
/// one Cholesky factorization of S_m + T_k per pair (O(d) per pair when both components are diagonal or
/// isotropic), about (M + K)^2 / 2 pairs. Symmetric, >= 0, 0 iff p = q as densities; with one component
/// each it is cauchy_schwarz between the two Gaussians (gaussian_divergences.hpp). Half of Principe's
/// -ln((int p q)^2 / (int p^2 int q^2)), the convention of discrete::cauchy_schwarz.
/// Gradients (optional), with r the pairs' shares of their sums (r_pq[m,k] = w_m v_k N(...) / int p q):
///   d/dw_m = (sum_m' r_pp[m,m'] - sum_k r_pq[m,k]) / w_m,   d/dz_m (w = softmax(z)) = w_m d/dw_m,
///   d/da_m = sum_k r_pq[m,k] C_mk^-1 (a_m - b_k) - sum_m' r_pp[m,m'] C_mm'^-1 (a_m - a_m'),
///   G_m = sum_m' r_pp[m,m'] H(a_m - a_m', C_mm') - sum_k r_pq[m,k] H(a_m - b_k, C_mk),
///   H(x, C) = 1/2 (C^-1 x x^T C^-1 - C^-1), converted to each component's CovarianceForm; q likewise.
/// Where int p q underflows to 0 in double (components far apart) the value is +inf and that sum adds nothing
/// to the gradients (their other terms stay; no NaN).
/// \throws std::invalid_argument on an empty mixture, weights negative, non-finite or not summing to 1,
/// as many components as weights, components of different dimensions, and every error of kl for a
/// component (named e.g. 'p.components[2].covariance').
template <class Scalar>
Scalar cauchy_schwarz(const GaussianMixture<Scalar>& p, const GaussianMixture<Scalar>& q,
                      GaussianMixtureGradient<Scalar>* grad_p = nullptr, GaussianMixtureGradient<Scalar>* grad_q = nullptr)
{
    const char* function = "parametric::cauchy_schwarz";
    const detail::FactoredMixture fp = detail::factor_mixture(function, "p", p);
    const detail::FactoredMixture fq = detail::factor_mixture(function, "q", q);
    if (fp.dimension() != fq.dimension()) {
        divergence::detail::fail(function, "q",
                                 "dimension " + std::to_string(fq.dimension()) + " differs from p's " + std::to_string(fp.dimension()));
    }
    const bool gradients = grad_p != nullptr || grad_q != nullptr;
    if (!gradients) {
        const double value = -detail::log_overlap(fp, fq, 0.0, nullptr, nullptr) + 0.5 * detail::log_overlap(fp, fp, 0.0, nullptr, nullptr) +
                             0.5 * detail::log_overlap(fq, fq, 0.0, nullptr, nullptr);
        return Scalar(std::max(0.0, value));
    }
    detail::MixtureGradientSums sums_p(fp), sums_q(fq);
    const double value = -detail::log_overlap(fp, fq, -1.0, &sums_p, &sums_q) + 0.5 * detail::log_overlap(fp, fp, 0.5, &sums_p, nullptr) +
                         0.5 * detail::log_overlap(fq, fq, 0.5, &sums_q, nullptr);
    detail::write_mixture_gradient(grad_p, sums_p, fp);
    detail::write_mixture_gradient(grad_q, sums_q, fq);
    return Scalar(std::max(0.0, value));
}

}  // namespace divergence::parametric

#endif
