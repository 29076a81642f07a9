#ifndef DIVERGENCE_PARAMETRIC_GAUSSIAN_HPP
#define DIVERGENCE_PARAMETRIC_GAUSSIAN_HPP

// Multivariate Gaussians N(mean, S) as the closed forms of parametric/ take them: the type, the four
// ways of giving the covariance, the checks, the Cholesky factorization every formula starts from
// (in double whatever the input type) and the conversion of a gradient with respect to S into the
// parameter the covariance was given by.

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "divergence/core/config.hpp"
#include "divergence/core/error.hpp"

namespace divergence::parametric {

/// How a Gaussian's covariance S is given, and so what its gradient is taken with respect to.
enum class CovarianceForm {
    full,       ///< S itself (d x d, symmetric positive definite); gradient: the symmetric G with dD = tr(G dS)
    cholesky,   ///< L, lower triangular with L_ii > 0, S = L L^T; gradient: d/dL_ij for i >= j (upper part 0)
    diagonal,   ///< the variances v (d), S = diag(v); gradient: d/dv_i
    isotropic   ///< one variance s, S = s I; gradient: d/ds
};

/// A d-dimensional Gaussian N(mean, S), float or double. `covariance` holds S in the form `form`
/// names: S (d x d), L (d x d), the variances (d x 1) or the variance (1 x 1). Made by gaussian_full,
/// gaussian_cholesky, gaussian_diagonal or gaussian_isotropic; the functions that use it check it.
template <class Scalar>
struct Gaussian {
    static_assert(divergence::detail::is_supported_scalar_v<Scalar>, "divergence: a Gaussian holds float or double.");
    using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

    CovarianceForm form = CovarianceForm::full;
    Vector mean;
    Matrix covariance;

    Index dimension() const { return mean.size(); }
};

/// The derivative of a divergence with respect to one Gaussian argument, in its parameters: `mean`
/// (d) and `covariance`, the same shape as Gaussian::covariance and with respect to the same numbers
/// (see CovarianceForm). Resized by the call that writes it.
template <class Scalar>
struct GaussianGradient {
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> mean;
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> covariance;
};

namespace detail {

template <class M>
using vector_of = Eigen::Matrix<typename M::Scalar, Eigen::Dynamic, 1>;

/// The entries of a vector (row or column, any expression) as a column.
template <class V>
vector_of<V> as_column(const Eigen::MatrixBase<V>& x)
{
    vector_of<V> out(x.size());
    for (Index i = 0; i < x.size(); ++i) out[i] = x(i);
    return out;
}

template <class M, class S>
constexpr bool check_gaussian_arguments()
{
    static_assert(divergence::detail::is_supported_scalar_v<typename M::Scalar>,
                  "divergence: a Gaussian's mean is a float or double vector.");
    static_assert(std::is_same_v<typename M::Scalar, typename S::Scalar>,
                  "divergence: a Gaussian's mean and covariance must have the same scalar type.");
    static_assert(M::IsVectorAtCompileTime, "divergence: a Gaussian's mean is a vector.");
    return true;
}

}  // namespace detail

/// N(mean, covariance): S given as a symmetric positive definite d x d matrix.
template <class M, class S>
Gaussian<typename M::Scalar> gaussian_full(const Eigen::MatrixBase<M>& mean, const Eigen::MatrixBase<S>& covariance)
{
    static_assert(detail::check_gaussian_arguments<M, S>());
    return {CovarianceForm::full, detail::as_column(mean), covariance};
}

/// N(mean, L L^T): S given by its lower Cholesky factor L (L_ii > 0; entries above the diagonal must be 0).
template <class M, class S>
Gaussian<typename M::Scalar> gaussian_cholesky(const Eigen::MatrixBase<M>& mean, const Eigen::MatrixBase<S>& factor)
{
    static_assert(detail::check_gaussian_arguments<M, S>());
    return {CovarianceForm::cholesky, detail::as_column(mean), factor};
}

/// N(mean, diag(variances)): variances a vector of d entries > 0.
template <class M, class S>
Gaussian<typename M::Scalar> gaussian_diagonal(const Eigen::MatrixBase<M>& mean, const Eigen::MatrixBase<S>& variances)
{
    static_assert(detail::check_gaussian_arguments<M, S>());
    static_assert(S::IsVectorAtCompileTime, "divergence: gaussian_diagonal takes the variances as a vector.");
    return {CovarianceForm::diagonal, detail::as_column(mean), detail::as_column(variances)};
}

/// N(mean, variance I): one variance > 0.
template <class M>
Gaussian<typename M::Scalar> gaussian_isotropic(const Eigen::MatrixBase<M>& mean, typename M::Scalar variance)
{
    static_assert(detail::check_gaussian_arguments<M, M>());
    Gaussian<typename M::Scalar> g{CovarianceForm::isotropic, detail::as_column(mean), {}};
    g.covariance.setConstant(1, 1, variance);
    return g;
}

namespace detail {

/// A checked Gaussian in double: the mean, and S as its lower Cholesky factor (full and cholesky
/// forms) or its variances (diagonal and isotropic forms, `variances` of d entries).
/// The members with Eigen code here, and the double-precision helpers of the Gaussian divergences, are
/// templates (`template <class = void>`) only so that a file including them without calling them does not
/// instantiate their Eigen code (most of the cost of including the whole library).
struct FactoredGaussian {
    CovarianceForm form = CovarianceForm::full;
    Eigen::VectorXd mean;
    Eigen::MatrixXd factor;     ///< L (full, cholesky forms)
    Eigen::VectorXd variances;  ///< diag(S) (diagonal, isotropic forms)

    Index dimension() const { return mean.size(); }
    bool diagonal() const { return form == CovarianceForm::diagonal || form == CovarianceForm::isotropic; }
    /// L, dense (diag(sqrt(v)) for the diagonal forms).
    template <class = void>
    Eigen::MatrixXd lower() const
    {
        if (!diagonal()) return factor;
        return variances.cwiseSqrt().asDiagonal();
    }
    /// S, dense.
    template <class = void>
    Eigen::MatrixXd covariance() const
    {
        if (diagonal()) return variances.asDiagonal();
        return factor * factor.transpose();
    }
    /// ln det S = 2 sum_i ln L_ii.
    template <class = void>
    double log_det() const
    {
        return diagonal() ? variances.array().log().sum() : 2.0 * factor.diagonal().array().log().sum();
    }
    /// S^-1 as two triangular solves of the factor (the gradients that need it); 1/v for diagonal forms.
    template <class = void>
    Eigen::MatrixXd inverse() const
    {
        if (diagonal()) return variances.cwiseInverse().asDiagonal();
        const Eigen::MatrixXd inverse_factor =
            factor.triangularView<Eigen::Lower>().solve(Eigen::MatrixXd::Identity(dimension(), dimension()));
        return inverse_factor.transpose() * inverse_factor;
    }
};

/// The lower Cholesky factor of S_x + S_y from the two factors, formed as 2^e chol(L~x L~x^T + L~y L~y^T) with
/// L~ = 2^-e L (exact scalings), e = 0 unless the factors' largest entry is beyond 2^500 or below 2^-500, then
/// just enough to bring it back: the factor of the sum is representable where the sum is not (factors of 1e300
/// give covariances of 1e600, +inf in double, and a NaN factorization), and entries far below the largest are
/// not scaled into underflow when no scaling is needed.
template <class = void>
Eigen::MatrixXd sum_factor(const FactoredGaussian& x, const FactoredGaussian& y)
{
    const Eigen::MatrixXd Lx = x.lower(), Ly = y.lower();
    int largest = 0;
    std::frexp(std::max(Lx.cwiseAbs().maxCoeff(), Ly.cwiseAbs().maxCoeff()), &largest);
    const int e = largest > 500 ? largest - 500 : (largest < -500 ? largest + 500 : 0);
    const auto scaled = [e](const Eigen::MatrixXd& L) { return Eigen::MatrixXd(L.unaryExpr([e](double v) { return std::ldexp(v, -e); })); };
    const Eigen::MatrixXd Sx = scaled(Lx), Sy = scaled(Ly);
    const Eigen::MatrixXd sum = Sx * Sx.transpose() + Sy * Sy.transpose();
    const Eigen::MatrixXd L = Eigen::LLT<Eigen::MatrixXd>(sum).matrixL();  // SPD: a sum of two SPD matrices
    return L.unaryExpr([e](double v) { return std::ldexp(v, e); });
}

inline std::string matrix_shape(Index rows, Index cols)
{
    return std::to_string(rows) + " x " + std::to_string(cols);
}

/// Checks `g` (argument `name` of `function`) and factors it in double.
/// \throws std::invalid_argument naming the argument, the entry and the problem.
template <class Scalar>
FactoredGaussian factor_gaussian(const char* function, const std::string& name, const Gaussian<Scalar>& g)
{
    using divergence::detail::describe;
    using divergence::detail::fail;
    const std::string mean_name = name + ".mean", cov_name = name + ".covariance";
    const Index d = g.mean.size();
    if (d == 0) fail(function, mean_name.c_str(), "empty mean: a Gaussian needs dimension d >= 1");
    FactoredGaussian f;
    f.form = g.form;
    f.mean = g.mean.template cast<double>();
    for (Index i = 0; i < d; ++i) {
        if (!std::isfinite(f.mean[i])) fail(function, mean_name.c_str(), i, -1, describe("mean must be finite, got", f.mean[i]));
    }
    const Eigen::MatrixXd c = g.covariance.template cast<double>();
    switch (g.form) {
    case CovarianceForm::full:
    case CovarianceForm::cholesky: {
        if (c.rows() != d || c.cols() != d) {
            fail(function, cov_name.c_str(), "shape " + matrix_shape(c.rows(), c.cols()) + " for a mean of dimension " + std::to_string(d) +
                                                 " (expected " + matrix_shape(d, d) + ")");
        }
        for (Index j = 0; j < d; ++j) {
            for (Index i = 0; i < d; ++i) {
                if (!std::isfinite(c(i, j))) fail(function, cov_name.c_str(), i, j, describe("entry must be finite, got", c(i, j)));
            }
        }
        if (g.form == CovarianceForm::cholesky) {
            for (Index i = 0; i < d; ++i) {
                if (!(c(i, i) > 0.0)) {
                    fail(function, cov_name.c_str(), i, i, describe("a Cholesky factor's diagonal entry must be > 0, got", c(i, i)));
                }
                for (Index j = i + 1; j < d; ++j) {
                    if (c(i, j) != 0.0) {
                        fail(function, cov_name.c_str(), i, j,
                             describe("a Cholesky factor is lower triangular: the entry above the diagonal must be 0, got", c(i, j)));
                    }
                }
            }
            f.factor = c.triangularView<Eigen::Lower>();
            return f;
        }
        // Symmetric to the rounding of a product such as A A^T in the input's precision.
        const double eps = double(Eigen::NumTraits<Scalar>::epsilon());
        for (Index j = 0; j < d; ++j) {
            for (Index i = j + 1; i < d; ++i) {
                const double allowed = 64.0 * eps * std::sqrt(std::abs(c(i, i) * c(j, j)));
                if (!(std::abs(c(i, j) - c(j, i)) <= allowed)) {
                    const std::string mirror = "covariance must be symmetric: it differs from entry (" + std::to_string(j) + ", " +
                                               std::to_string(i) + ") =";
                    fail(function, cov_name.c_str(), i, j, describe(mirror.c_str(), c(j, i)) + describe(", got", c(i, j)));
                }
            }
        }
        const Eigen::LLT<Eigen::MatrixXd> llt(c);
        Eigen::MatrixXd factor = llt.matrixL();
        bool ok = llt.info() == Eigen::Success;
        for (Index i = 0; ok && i < d; ++i) ok = factor(i, i) > 0.0 && std::isfinite(factor(i, i));
        if (!ok) {
            fail(function, cov_name.c_str(), "covariance is not symmetric positive definite (its Cholesky factorization failed)");
        }
        f.factor = std::move(factor);
        return f;
    }
    case CovarianceForm::diagonal:
    case CovarianceForm::isotropic: {
        const bool iso = g.form == CovarianceForm::isotropic;
        const Index expected = iso ? 1 : d;
        if (c.size() != expected || (c.rows() != 1 && c.cols() != 1)) {
            fail(function, cov_name.c_str(),
                 std::string(iso ? "an isotropic Gaussian has one variance" : "a diagonal Gaussian has d variances") + ": got " +
                     matrix_shape(c.rows(), c.cols()) + " for a mean of dimension " + std::to_string(d));
        }
        for (Index i = 0; i < c.size(); ++i) {
            const double v = c.data()[i];
            if (!(v > 0.0 && std::isfinite(v))) fail(function, cov_name.c_str(), i, -1, describe("variance must be finite and > 0, got", v));
        }
        f.variances = iso ? Eigen::VectorXd::Constant(d, c(0, 0)) : Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(c.data(), d));
        return f;
    }
    }
    fail(function, cov_name.c_str(), "unknown CovarianceForm");
}

/// \throws std::invalid_argument if the two arguments' dimensions differ.
inline void check_same_dimension(const char* function, const char* second, const FactoredGaussian& a, const FactoredGaussian& b)
{
    if (a.dimension() != b.dimension()) {
        divergence::detail::fail(function, second,
                                 "dimension " + std::to_string(b.dimension()) + " differs from the first argument's " +
                                     std::to_string(a.dimension()));
    }
}

/// The gradient with respect to S, given as the symmetric G with dD = tr(G dS) (dense), in the
/// parameter of the form of `g`: G (full), tril(2 G L) (cholesky), diag(G) (diagonal), tr(G) (isotropic).
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> covariance_gradient(const Eigen::MatrixXd& G, const FactoredGaussian& g)
{
    switch (g.form) {
    case CovarianceForm::full: return (0.5 * (G + G.transpose())).cast<Scalar>();
    case CovarianceForm::cholesky: {
        const Eigen::MatrixXd sym = G + G.transpose();  // 2 G, symmetrized
        return Eigen::MatrixXd((sym * g.factor).triangularView<Eigen::Lower>()).cast<Scalar>();
    }
    case CovarianceForm::diagonal: return G.diagonal().cast<Scalar>();
    case CovarianceForm::isotropic: break;
    }
    return Eigen::Matrix<Scalar, 1, 1>::Constant(Scalar(G.trace()));
}

/// The same, for a G known to be diagonal (its diagonal given), of a diagonal-form Gaussian.
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> covariance_gradient_diagonal(const Eigen::VectorXd& G, const FactoredGaussian& g)
{
    if (g.form == CovarianceForm::isotropic) return Eigen::Matrix<Scalar, 1, 1>::Constant(Scalar(G.sum()));
    return G.cast<Scalar>();
}

}  // namespace detail
}  // namespace divergence::parametric

#endif
