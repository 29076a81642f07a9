#ifndef DIVERGENCE_PARAMETRIC_GAUSSIAN_DIVERGENCES_HPP
#define DIVERGENCE_PARAMETRIC_GAUSSIAN_DIVERGENCES_HPP

// Closed forms between two multivariate Gaussians p = N(m1, S1) and q = N(m2, S2), with
// delta = m2 - m1 and d the dimension: Kullback-Leibler, Jeffreys, geometric Jensen-Shannon and
// Cauchy-Schwarz. Every formula works from Cholesky factors (triangular solves, log-determinants
// from the factors' diagonals), in double whatever the input type.

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>

#include "divergence/core/error.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/parametric/detail/special.hpp"  // exp_minus_one_minus(u) = e^u - 1 - u, log_quotient(a, b) = ln(a / b)
#include "divergence/parametric/gaussian.hpp"

namespace divergence::parametric {
namespace detail {

/// The gradients of a divergence D(p, q) in double: with respect to the means, and with respect to
/// the covariances as the symmetric G with dD = tr(G dS) (dense d x d, or its diagonal d x 1 when
/// `diagonal`: then both Gaussians have diagonal forms and G is diagonal).
/// A dense G may carry a low-rank part apart: G = covariance - 1/2 V V^T with V = outer (d x k, k = 0:
/// none). The parts S^-1 S1 S^-1 and u u^T (u = S^-1 delta) of the closed forms overflow double for a huge
/// mean difference (|delta| ~ 1e300) or covariance (a variance near DBL_MAX), while V stays finite; formed
/// inside a triangular solve or a matrix product, their +-inf entries meet others of the opposite sign
/// (inf - inf = NaN). Kept apart, V V^T is formed once, scaled by a power of 2 (exact), and added last.
/// outer_lt = L^T V for the factor L of that side (lower()), given by the closed form (L^T L^-T [M, z] =
/// [M, z] exactly): the Cholesky-form gradient needs V (L^T V)^T, whose huge terms cancel exactly in some
/// columns (where (L^-1 e_k) has zeros), which a product computed as L^T times V would not reproduce.
struct PairGradients {
    Eigen::VectorXd mean_p, mean_q;
    Eigen::MatrixXd covariance_p, covariance_q;
    Eigen::MatrixXd outer_p, outer_q, outer_lt_p, outer_lt_q;
    bool diagonal = false;

    void add(const PairGradients& other, bool swapped)
    {
        mean_p += swapped ? other.mean_q : other.mean_p;
        mean_q += swapped ? other.mean_p : other.mean_q;
        covariance_p += swapped ? other.covariance_q : other.covariance_p;
        covariance_q += swapped ? other.covariance_p : other.covariance_q;
        append(outer_p, swapped ? other.outer_q : other.outer_p);
        append(outer_q, swapped ? other.outer_p : other.outer_q);
        append(outer_lt_p, swapped ? other.outer_lt_q : other.outer_lt_p);
        append(outer_lt_q, swapped ? other.outer_lt_p : other.outer_lt_q);
    }
    /// G of q as one dense matrix (the low-rank part folded in).
    Eigen::MatrixXd dense_covariance_q() const
    {
        Eigen::MatrixXd G = diagonal ? Eigen::MatrixXd(covariance_q.col(0).asDiagonal()) : covariance_q;
        if (outer_q.cols() != 0) G -= 0.5 * scaled_product(outer_q, outer_q);
        return G;
    }

    /// A B^T for A, B of k columns, as 2^(ea + eb) (As Bs^T) with As = 2^-ea A scaled to entries below 1:
    /// the products and sums of As Bs^T cannot overflow, so an entry of A B^T beyond DBL_MAX is +-inf, never NaN.
    static Eigen::MatrixXd scaled_product(const Eigen::MatrixXd& A, const Eigen::MatrixXd& B)
    {
        int ea = 0, eb = 0;
        const Eigen::MatrixXd As = scaled(A, ea), Bs = scaled(B, eb);
        return (As * Bs.transpose()).unaryExpr([e = ea + eb](double x) { return std::ldexp(x, e); });
    }
    static Eigen::MatrixXd scaled(const Eigen::MatrixXd& A, int& exponent)
    {
        exponent = 0;
        const double largest = A.size() == 0 ? 0.0 : A.cwiseAbs().maxCoeff();
        if (!(largest > 0.0) || !std::isfinite(largest)) return A;
        std::frexp(largest, &exponent);
        return A.unaryExpr([e = -exponent](double x) { return std::ldexp(x, e); });
    }

private:
    static void append(Eigen::MatrixXd& outer, const Eigen::MatrixXd& more)
    {
        if (more.cols() == 0) return;
        if (outer.cols() == 0) {
            outer = more;
            return;
        }
        Eigen::MatrixXd both(outer.rows(), outer.cols() + more.cols());
        both << outer, more;
        outer = std::move(both);
    }
};

/// The gradient G = covariance - 1/2 V V^T (PairGradients) in the parameter of g's form (covariance_gradient),
/// the low-rank part added last: G (full), tril(2 sym(covariance) L - V (L^T V)^T) (cholesky; LtV = L^T V),
/// diag(G) (diagonal), tr(G) (isotropic).
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> covariance_gradient_with_outer(const Eigen::MatrixXd& G, const Eigen::MatrixXd& V,
                                                                                    const Eigen::MatrixXd& LtV, const FactoredGaussian& g)
{
    if (V.cols() == 0) return covariance_gradient<Scalar>(G, g);
    switch (g.form) {
    case CovarianceForm::full: return (0.5 * (G + G.transpose()) - 0.5 * PairGradients::scaled_product(V, V)).cast<Scalar>();
    case CovarianceForm::cholesky: {
        return Eigen::MatrixXd(((G + G.transpose()) * g.factor - PairGradients::scaled_product(V, LtV)).triangularView<Eigen::Lower>())
            .cast<Scalar>();
    }
    case CovarianceForm::diagonal: return (G.diagonal() - 0.5 * PairGradients::scaled_product(V, V).diagonal()).cast<Scalar>();
    case CovarianceForm::isotropic: break;
    }
    return Eigen::Matrix<Scalar, 1, 1>::Constant(Scalar(G.trace() - 0.5 * PairGradients::scaled_product(V, V).trace()));
}

template <class Scalar>
void write_gradient(GaussianGradient<Scalar>* out, const Eigen::VectorXd& mean, const Eigen::MatrixXd& G, const Eigen::MatrixXd& outer,
                    const Eigen::MatrixXd& outer_lt, bool diagonal, const FactoredGaussian& g)
{
    if (out == nullptr) return;
    out->mean = mean.cast<Scalar>();
    out->covariance =
        diagonal ? covariance_gradient_diagonal<Scalar>(G.col(0), g) : covariance_gradient_with_outer<Scalar>(G, outer, outer_lt, g);
}

template <class Scalar>
void write_gradients(GaussianGradient<Scalar>* grad_p, GaussianGradient<Scalar>* grad_q, const PairGradients& g,
                     const FactoredGaussian& p, const FactoredGaussian& q)
{
    write_gradient(grad_p, g.mean_p, g.covariance_p, g.outer_p, g.outer_lt_p, g.diagonal, p);
    write_gradient(grad_q, g.mean_q, g.covariance_q, g.outer_q, g.outer_lt_q, g.diagonal, q);
}

/// X L^-1 for lower triangular L.
template <class = void>
Eigen::MatrixXd times_inverse(const Eigen::MatrixXd& X, const Eigen::MatrixXd& L)
{
    return L.triangularView<Eigen::Lower>().solve<Eigen::OnTheRight>(X);
}

/// L^-T X L^-1 for lower triangular L (symmetric when X is).
template <class = void>
Eigen::MatrixXd congruence_by_inverse(const Eigen::MatrixXd& X, const Eigen::MatrixXd& L)
{
    const Eigen::MatrixXd left = L.transpose().triangularView<Eigen::Upper>().solve(X);
    const Eigen::MatrixXd both = times_inverse(left, L);
    return 0.5 * (both + both.transpose());
}

/// S^-1 x = L^-T L^-1 x for the lower triangular factor L of S, with x scaled by a power of 2 (exact) when its
/// largest entry is beyond 2^500: the two solves then meet no +-inf (an entry of L^-1 x that overflows times a zero
/// of L^T is 0 * inf = NaN), and an entry of S^-1 x beyond DBL_MAX comes out +-inf, its sign kept.
template <class = void>
Eigen::VectorXd inverse_times(const Eigen::MatrixXd& L, const Eigen::VectorXd& x)
{
    int largest = 0;
    std::frexp(x.size() == 0 ? 0.0 : x.cwiseAbs().maxCoeff(), &largest);
    const int e = largest > 500 ? largest - 500 : 0;
    const Eigen::VectorXd scaled = x.unaryExpr([e](double v) { return std::ldexp(v, -e); });
    const Eigen::VectorXd y = L.transpose().triangularView<Eigen::Upper>().solve(L.triangularView<Eigen::Lower>().solve(scaled));
    return y.unaryExpr([e](double v) { return std::ldexp(v, e); });
}

/// KL(p || q) as a sum of non-negative terms; gradients if `grad` is not null.
///   diagonal forms: 1/2 sum_i [phi(ln(v1_i / v2_i)) + delta_i^2 / v2_i]
///   otherwise, with M = L2^-1 L1 and z = L2^-1 delta:
///     1/2 sum_i phi(2 ln(L1_ii / L2_ii)) + 1/2 sum_{i > j} M_ij^2 + 1/2 ||z||^2
///   gradients: d/dm1 = -S2^-1 delta = -d/dm2; G1 = 1/2 L1^-T (M^T M - I) L1^-1 = 1/2 (S2^-1 - S1^-1),
///   G2 = 1/2 L2^-T (I - M M^T - z z^T) L2^-1 = 1/2 (S2^-1 - S2^-1 (S1 + delta delta^T) S2^-1).
template <class = void>
double kl_factored(const FactoredGaussian& p, const FactoredGaussian& q, PairGradients* grad)
{
    const Index d = p.dimension();
    const Eigen::VectorXd delta = q.mean - p.mean;
    divergence::detail::CompensatedSum sum;
    if (p.diagonal() && q.diagonal()) {
        const Eigen::VectorXd &v1 = p.variances, &v2 = q.variances;
        for (Index i = 0; i < d; ++i) sum.add(0.5 * (exp_minus_one_minus(log_quotient(v1[i], v2[i])) + delta[i] * delta[i] / v2[i]));
        if (grad != nullptr) {
            grad->diagonal = true;
            grad->mean_q = delta.cwiseQuotient(v2);
            grad->mean_p = -grad->mean_q;
            grad->covariance_p = 0.5 * (v2.cwiseInverse() - v1.cwiseInverse());
            // (v2 - v1 - delta^2) / v2 / v2, not / v2^2: v2^2 may underflow or overflow where the quotient does not.
            grad->covariance_q = 0.5 * (v2 - v1 - delta.cwiseAbs2()).cwiseQuotient(v2).cwiseQuotient(v2);
        }
        return std::max(0.0, sum.value());
    }
    const Eigen::MatrixXd L1 = p.lower(), L2 = q.lower();
    const Eigen::MatrixXd M = L2.triangularView<Eigen::Lower>().solve(L1);
    const Eigen::VectorXd z = L2.triangularView<Eigen::Lower>().solve(delta);
    for (Index j = 0; j < d; ++j) {
        sum.add(0.5 * exp_minus_one_minus(2.0 * log_quotient(L1(j, j), L2(j, j))));
        for (Index i = j + 1; i < d; ++i) sum.add(0.5 * M(i, j) * M(i, j));
        sum.add(0.5 * z[j] * z[j]);
    }
    if (grad != nullptr) {
        grad->diagonal = false;
        grad->mean_q = inverse_times(L2, delta);
        grad->mean_p = -grad->mean_q;
        const Eigen::MatrixXd I = Eigen::MatrixXd::Identity(d, d);
        const Eigen::MatrixXd inner = M.transpose() * M - I;
        // G1 = 1/2 L1^-T (M^T M - I) L1^-1 = 1/2 (S2^-1 - S1^-1); the latter, from the factors' inverses,
        // where M^T M overflows (a factor L1 of 1e300 against a moderate L2: inf - inf in the solves).
        grad->covariance_p = inner.allFinite() ? Eigen::MatrixXd(0.5 * congruence_by_inverse(inner, L1))
                                               : Eigen::MatrixXd(0.5 * (congruence_by_inverse(I, L2) - congruence_by_inverse(I, L1)));
        const Eigen::MatrixXd middle = I - M * M.transpose() - z * z.transpose();
        if (middle.allFinite()) {
            grad->covariance_q = 0.5 * congruence_by_inverse(middle, L2);
        } else {
            // M M^T or z z^T overflows (a huge covariance or mean difference): G2 = 1/2 S2^-1 - 1/2 V V^T with
            // V = L2^-T [M, z] = [S2^-1 L1, S2^-1 delta], the low-rank part apart (PairGradients).
            grad->covariance_q = 0.5 * congruence_by_inverse(I, L2);
            Eigen::MatrixXd Mz(d, d + 1);
            Mz << M, z;
            grad->outer_q = L2.transpose().triangularView<Eigen::Upper>().solve(Mz);
            grad->outer_lt_q = std::move(Mz);
        }
    }
    return std::max(0.0, sum.value());
}

/// Cauchy-Schwarz D_CS(p, q) = -ln int p q + 1/2 ln int p^2 + 1/2 ln int q^2 between two Gaussians, C = S1 + S2:
///   1/2 delta^T C^-1 delta + 1/2 ln det(C / 2) - 1/4 ln det S1 - 1/4 ln det S2.
/// The log-determinant part is evaluated as 1/2 ln det((I + A A^T) / 2) - 1/2 sum_i ln A_ii with
/// A = L1^-1 L2 (diagonal forms: 1/4 sum_i [ln(c_i / 2 v1_i) + ln(c_i / 2 v2_i)] with log1p), so that it
/// is small, not a difference of large numbers, when p and q are close.
/// Gradients: d/dm1 = -C^-1 delta = -d/dm2; G1 = 1/2 C^-1 - 1/4 S1^-1 - 1/2 u u^T with u = C^-1 delta
/// (G2: S2 in place of S1).
template <class = void>
double cauchy_schwarz_factored(const FactoredGaussian& p, const FactoredGaussian& q, PairGradients* grad)
{
    const Index d = p.dimension();
    const Eigen::VectorXd delta = q.mean - p.mean;
    divergence::detail::CompensatedSum sum;
    if (p.diagonal() && q.diagonal()) {
        const Eigen::VectorXd &v1 = p.variances, &v2 = q.variances;
        const Eigen::VectorXd c = v1 + v2;
        for (Index i = 0; i < d; ++i) {
            sum.add(0.5 * delta[i] * delta[i] / c[i]);
            sum.add(0.25 * (std::log1p(0.5 * (v2[i] - v1[i]) / v1[i]) + std::log1p(0.5 * (v1[i] - v2[i]) / v2[i])));
        }
        if (grad != nullptr) {
            grad->diagonal = true;
            const Eigen::VectorXd u = delta.cwiseQuotient(c);
            grad->mean_q = u;
            grad->mean_p = -u;
            const Eigen::VectorXd common = 0.5 * c.cwiseInverse() - 0.5 * u.cwiseAbs2();
            grad->covariance_p = common - 0.25 * v1.cwiseInverse();
            grad->covariance_q = common - 0.25 * v2.cwiseInverse();
        }
        return std::max(0.0, sum.value());
    }
    const Eigen::MatrixXd L1 = p.lower(), L2 = q.lower();
    const Eigen::MatrixXd A = L1.triangularView<Eigen::Lower>().solve(L2);
    const Eigen::MatrixXd AAt = A * A.transpose();
    // C = L L^T, from the factors scaled (sum_factor: C itself may overflow, L does not).
    const Eigen::MatrixXd L = sum_factor(p, q);
    if (AAt.allFinite()) {
        const Eigen::LLT<Eigen::MatrixXd> middle(0.5 * (Eigen::MatrixXd::Identity(d, d) + AAt));  // SPD: I + A A^T >= I
        const Eigen::MatrixXd Lb = middle.matrixL();
        // C = 2 L1 Lb Lb^T L1^T, so delta^T C^-1 delta = ||Lb^-1 L1^-1 delta||^2 / 2.
        const Eigen::VectorXd w = Lb.triangularView<Eigen::Lower>().solve(L1.triangularView<Eigen::Lower>().solve(delta));
        for (Index i = 0; i < d; ++i) {
            sum.add(0.25 * w[i] * w[i]);
            sum.add(std::log(Lb(i, i)) - 0.5 * std::log(A(i, i)));
        }
    } else {
        // A A^T overflows (factors some 1e155 apart): the log-determinants are then far apart and their
        // difference loses nothing of the value, 1/2 ||L^-1 delta||^2 + sum_i [ln L_ii - 1/2 ln L1_ii L2_ii] - d/2 ln 2.
        const Eigen::VectorXd w = L.triangularView<Eigen::Lower>().solve(delta);
        for (Index i = 0; i < d; ++i) {
            sum.add(0.5 * w[i] * w[i]);
            sum.add(std::log(L(i, i)) - 0.5 * (std::log(L1(i, i)) + std::log(L2(i, i))) - 0.5 * std::log(2.0));
        }
    }
    if (grad != nullptr) {
        grad->diagonal = false;
        const Eigen::MatrixXd L_inverse = L.triangularView<Eigen::Lower>().solve(Eigen::MatrixXd::Identity(d, d));
        const Eigen::MatrixXd c_inverse = L_inverse.transpose() * L_inverse;
        const Eigen::VectorXd u = inverse_times(L, delta);
        grad->mean_q = u;
        grad->mean_p = -u;
        const Eigen::MatrixXd uu = u * u.transpose();
        if (uu.allFinite()) {
            const Eigen::MatrixXd common = 0.5 * c_inverse - 0.5 * uu;
            grad->covariance_p = common - 0.25 * p.inverse();
            grad->covariance_q = common - 0.25 * q.inverse();
        } else {
            // u u^T overflows (a huge mean difference): the rank-one part apart (PairGradients).
            grad->covariance_p = 0.5 * c_inverse - 0.25 * p.inverse();
            grad->covariance_q = 0.5 * c_inverse - 0.25 * q.inverse();
            grad->outer_p = u;
            grad->outer_q = u;
            grad->outer_lt_p = L1.transpose() * u;
            grad->outer_lt_q = L2.transpose() * u;
        }
    }
    return std::max(0.0, sum.value());
}

/// The normalized geometric mean g proportional to p^(1 - alpha) q^alpha of two Gaussians, with the offsets
/// of the arguments' means from its mean: e_p = m1 - m_g, e_q = m2 - m_g.
struct GeometricMean {
    FactoredGaussian g;
    Eigen::VectorXd offset_p, offset_q;
};

/// g has precision A = (1 - alpha) S1^-1 + alpha S2^-1 (a sum of positive definite matrices: no cancellation)
/// and mean m_g = m1 + alpha A^-1 S2^-1 delta, so e_p = -alpha A^-1 S2^-1 delta and e_q = (1 - alpha) A^-1 S1^-1 delta
/// (no difference of large means). The precisions come from the factors' inverses (S = L L^T is never formed:
/// a factor such as {1e20, 0; 1e20, 1} gives a covariance that rounds to a singular matrix). The factor of
/// S_g = A^-1 is lower triangular from the Cholesky factor R of the reversed A (J A J = R R^T with J the
/// reversal permutation): S_g = (J R^-T J)(J R^-T J)^T. Diagonal forms: v_g = v1 v2 / (alpha v1 + (1 - alpha) v2).
template <class = void>
GeometricMean geometric_mean(const FactoredGaussian& p, const FactoredGaussian& q, double alpha)
{
    GeometricMean r;
    FactoredGaussian& g = r.g;
    const Eigen::VectorXd delta = q.mean - p.mean;
    if (p.diagonal() && q.diagonal()) {
        g.form = CovarianceForm::diagonal;
        const Eigen::VectorXd x = alpha * p.variances + (1.0 - alpha) * q.variances;
        g.variances = p.variances.cwiseProduct(q.variances).cwiseQuotient(x);
        const Eigen::VectorXd ratio = delta.cwiseQuotient(x);
        r.offset_p = -alpha * p.variances.cwiseProduct(ratio);
        r.offset_q = (1.0 - alpha) * q.variances.cwiseProduct(ratio);
        g.mean = p.mean - r.offset_p;
        return r;
    }
    const Index d = p.dimension();
    const Eigen::MatrixXd P1 = p.inverse(), P2 = q.inverse();
    const Eigen::MatrixXd A = (1.0 - alpha) * P1 + alpha * P2;
    const Eigen::LLT<Eigen::MatrixXd> reversed(Eigen::MatrixXd(0.5 * (A + A.transpose())).reverse());
    const auto solve = [&](const Eigen::VectorXd& v) { return Eigen::VectorXd(reversed.solve(v.reverse()).reverse()); };
    const Eigen::MatrixXd R = reversed.matrixL();
    g.form = CovarianceForm::full;
    g.factor = Eigen::MatrixXd(R.transpose().triangularView<Eigen::Upper>().solve(Eigen::MatrixXd::Identity(d, d))).reverse();
    r.offset_p = -alpha * solve(P2 * delta);
    r.offset_q = (1.0 - alpha) * solve(P1 * delta);
    g.mean = p.mean - r.offset_p;
    return r;
}

/// JS^G_alpha(p, q) = (1 - alpha) KL(p || g) + alpha KL(q || g) and, if `grad`, its gradients; 0 for alpha = 0
/// or 1 (g = p or q). g depends on p and q through its natural parameters, precision A = (1 - alpha) S1^-1 +
/// alpha S2^-1 and h = A m_g = (1 - alpha) S1^-1 m1 + alpha S2^-1 m2. With F(g) = (1 - alpha) KL(p || g) +
/// alpha KL(q || g), w_p = 1 - alpha, w_q = alpha, e_x = m_x - m_g (geometric_mean):
///   dF/dh = b = S_g dF/dm_g = -(w_p e_p + w_q e_q),
///   dF/dA = K = -sym(b m_g^T) - N,  N = S_g (dF/dS_g) S_g = 1/2 [S_g - sum_x w_x (S_x + e_x e_x^T)],
/// so, with P_x = S_x^-1 and dKL(x || g)/dm_x = A e_x, dKL(x || g)/dS_x = 1/2 (A - P_x):
///   d/dm_x = w_x [A e_x + P_x b],
///   G_x    = w_x [1/2 (A - P_x) - P_x (sym(b e_x^T) - N) P_x]
///          = w_x [1/2 A - 1/2 (1 + w_x) P_x + P_x (1/2 R_x - sym(b e_x^T)) P_x],
///   R_x = S_g - w_x e_x e_x^T - w_o (S_o + e_o e_o^T), o the other argument (P_x S_x P_x = P_x taken exactly).
/// Every term is formed from g's precision and the offsets e_x, never as a difference of large means.
template <class = void>
double geometric_jensen_shannon_factored(const FactoredGaussian& p, const FactoredGaussian& q, double alpha, PairGradients* grad)
{
    const Index d = p.dimension();
    if (alpha == 0.0 || alpha == 1.0) {
        if (grad != nullptr) {
            grad->diagonal = false;
            grad->mean_p = grad->mean_q = Eigen::VectorXd::Zero(d);
            grad->covariance_p = grad->covariance_q = Eigen::MatrixXd::Zero(d, d);
        }
        return 0.0;
    }
    const GeometricMean mean = geometric_mean(p, q, alpha);
    const FactoredGaussian& g = mean.g;
    const double value = (1.0 - alpha) * kl_factored(p, g, nullptr) + alpha * kl_factored(q, g, nullptr);
    if (grad == nullptr) return value;
    const Eigen::VectorXd b = -((1.0 - alpha) * mean.offset_p + alpha * mean.offset_q);
    const Eigen::MatrixXd P1 = p.inverse(), P2 = q.inverse(), S_g = g.covariance();
    const Eigen::MatrixXd A = (1.0 - alpha) * P1 + alpha * P2;
    const auto side = [&](const Eigen::MatrixXd& precision, double w, const Eigen::VectorXd& e, const FactoredGaussian& other,
                          const Eigen::VectorXd& e_other, Eigen::VectorXd& mean_gradient, Eigen::MatrixXd& G) {
        const Eigen::MatrixXd be = b * e.transpose();
        const Eigen::MatrixXd inner = 0.5 * (S_g - w * e * e.transpose() - (1.0 - w) * (other.covariance() + e_other * e_other.transpose())) -
                                      0.5 * (be + be.transpose());
        mean_gradient = w * (A * e + precision * b);
        G = w * (0.5 * A - 0.5 * (1.0 + w) * precision + precision * inner * precision);
    };
    grad->diagonal = false;
    side(P1, 1.0 - alpha, mean.offset_p, q, mean.offset_q, grad->mean_p, grad->covariance_p);
    side(P2, alpha, mean.offset_q, p, mean.offset_p, grad->mean_q, grad->covariance_q);
    return value;
}

/// A divergence between two Gaussian arguments: checks and factors them (naming `function`), runs
/// compute(p, q, gradients or null) in double and writes the requested gradients in each argument's form.
template <class Scalar, class Compute>
Scalar pair_divergence(const char* function, const Gaussian<Scalar>& p, const Gaussian<Scalar>& q, GaussianGradient<Scalar>* grad_p,
                       GaussianGradient<Scalar>* grad_q, const Compute& compute)
{
    const FactoredGaussian fp = factor_gaussian(function, "p", p);
    const FactoredGaussian fq = factor_gaussian(function, "q", q);
    check_same_dimension(function, "q", fp, fq);
    PairGradients g;
    const bool gradients = grad_p != nullptr || grad_q != nullptr;
    const double value = compute(fp, fq, gradients ? &g : nullptr);
    if (gradients) write_gradients(grad_p, grad_q, g, fp, fq);
    return Scalar(value);
}

}  // namespace detail

/// Kullback-Leibler divergence KL(p || q) = E_p[ln p - ln q] between N(m1, S1) and N(m2, S2), in nats:
///   1/2 [tr(S2^-1 S1) + delta^T S2^-1 delta - d + ln det S2 - ln det S1],  delta = m2 - m1,
/// evaluated as a sum of non-negative terms from the Cholesky factors L1, L2 (M = L2^-1 L1, z = L2^-1 delta):
///   1/2 sum_i phi(2 ln(L1_ii / L2_ii)) + 1/2 sum_{i > j} M_ij^2 + 1/2 ||z||^2,  phi(u) = e^u - 1 - u,
/// and, when both have diagonal or isotropic forms, in O(d): 1/2 sum_i [phi(ln(v1_i / v2_i)) + delta_i^2 / v2_i].
/// No cancellation: accurate to a few ulp of the value even when p and q nearly agree, and >= 0.
/// Gradients (optional) in each argument's own parameters (CovarianceForm): d/dm1 = S2^-1 (m1 - m2) =
/// -d/dm2; with respect to S: G1 = 1/2 (S2^-1 - S1^-1), G2 = 1/2 (S2^-1 - S2^-1 (S1 + delta delta^T) S2^-1).
/// Cost O(d^3) (O(d) for two diagonal forms). Float inputs are computed in double.
/// \throws std::invalid_argument on an empty or non-finite mean, a covariance that is not symmetric
/// positive definite, a Cholesky factor that is not lower triangular with a positive diagonal, a
/// variance <= 0, a covariance of the wrong shape, or dimensions that differ.
template <class Scalar>
Scalar kl(const Gaussian<Scalar>& p, const Gaussian<Scalar>& q, GaussianGradient<Scalar>* grad_p = nullptr,
          GaussianGradient<Scalar>* grad_q = nullptr)
{
    return detail::pair_divergence("parametric::kl", p, q, grad_p, grad_q, detail::kl_factored<>);
}

/// Jeffreys divergence J(p, q) = KL(p || q) + KL(q || p) (the symmetric KL; some authors use half of
/// it: this is the full sum). The log-determinants cancel:
///   1/2 [tr(S2^-1 S1) + tr(S1^-1 S2) - 2d + delta^T (S1^-1 + S2^-1) delta].
/// Computed as the two KL sums of non-negative terms; gradients are the sums of theirs
/// (d/dm1 = (S1^-1 + S2^-1)(m1 - m2)). Errors as kl.
template <class Scalar>
Scalar jeffreys(const Gaussian<Scalar>& p, const Gaussian<Scalar>& q, GaussianGradient<Scalar>* grad_p = nullptr,
                GaussianGradient<Scalar>* grad_q = nullptr)
{
    const auto both_ways = [](const detail::FactoredGaussian& fp, const detail::FactoredGaussian& fq, detail::PairGradients* grad) {
        detail::PairGradients backward;
        const double value = detail::kl_factored(fp, fq, grad) + detail::kl_factored(fq, fp, grad ? &backward : nullptr);
        if (grad != nullptr) grad->add(backward, true);
        return value;
    };
    return detail::pair_divergence("parametric::jeffreys", p, q, grad_p, grad_q, both_ways);
}

/// Geometric Jensen-Shannon divergence (F. Nielsen, "On the Jensen-Shannon symmetrization of distances
/// relying on abstract means", Entropy 21(5):485, 2019, Definition of JS^{G_alpha}):
///   JS^G_alpha(p, q) = (1 - alpha) KL(p || g) + alpha KL(q || g),   g = p^(1-alpha) q^alpha / Z,
/// where the normalized geometric mean g of two Gaussians is the Gaussian with precision
/// (1 - alpha) S1^-1 + alpha S2^-1, covariance S_g = S1 (alpha S1 + (1 - alpha) S2)^-1 S2 and mean
/// m1 + alpha S1 (alpha S1 + (1 - alpha) S2)^-1 (m2 - m1). alpha = 1/2 (default) gives the symmetric
/// JS^G(p, q) = JS^G(q, p); in general JS^G_alpha(p, q) = JS^G_(1-alpha)(q, p). >= 0, 0 iff p = q (for
/// alpha in (0, 1)), unbounded (unlike the ordinary Jensen-Shannon divergence, which has no closed
/// form between Gaussians). Gradients (optional) through g's dependence on p and q as well
/// (geometric_jensen_shannon_factored).
/// \throws std::invalid_argument as kl, and if alpha is not in [0, 1].
template <class Scalar>
Scalar geometric_jensen_shannon(const Gaussian<Scalar>& p, const Gaussian<Scalar>& q, double alpha = 0.5,
                                GaussianGradient<Scalar>* grad_p = nullptr, GaussianGradient<Scalar>* grad_q = nullptr)
{
    if (!(alpha >= 0.0 && alpha <= 1.0)) {
        divergence::detail::fail("parametric::geometric_jensen_shannon", "alpha", divergence::detail::describe("must be in [0, 1], got", alpha));
    }
    const auto at_alpha = [alpha](const detail::FactoredGaussian& fp, const detail::FactoredGaussian& fq, detail::PairGradients* grad) {
        return detail::geometric_jensen_shannon_factored(fp, fq, alpha, grad);
    };
    return detail::pair_divergence("parametric::geometric_jensen_shannon", p, q, grad_p, grad_q, at_alpha);
}

/// Cauchy-Schwarz divergence between two Gaussians, as the negative log of their normalized overlap
/// (Kampa, Hasanbelliu and Principe, "Closed-form Cauchy-Schwarz PDF divergence for mixture of
/// Gaussians", IJCNN 2011):
///   D_CS(p, q) = -ln( int p q / sqrt(int p^2 int q^2) )
///             = 1/2 delta^T C^-1 delta + 1/2 ln det(C / 2) - 1/4 ln det S1 - 1/4 ln det S2,  C = S1 + S2,
/// from int N(x | m1, S1) N(x | m2, S2) dx = N(m1 | m2, S1 + S2). Symmetric, >= 0, 0 iff p = q.
/// Note: discrete::cauchy_schwarz (and Principe's book) use -ln((int p q)^2 / (int p^2 int q^2)), twice this.
/// Gradients: d/dm1 = -C^-1 delta = -d/dm2; G1 = 1/2 C^-1 - 1/4 S1^-1 - 1/2 C^-1 delta delta^T C^-1.
/// Errors as kl.
template <class Scalar>
Scalar cauchy_schwarz(const Gaussian<Scalar>& p, const Gaussian<Scalar>& q, GaussianGradient<Scalar>* grad_p = nullptr,
                      GaussianGradient<Scalar>* grad_q = nullptr)
{
    return detail::pair_divergence("parametric::cauchy_schwarz", p, q, grad_p, grad_q, detail::cauchy_schwarz_factored<>);
}

}  // namespace divergence::parametric

#endif
