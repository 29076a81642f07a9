#ifndef DIVERGENCE_KERNEL_MMD_HPP
#define DIVERGENCE_KERNEL_MMD_HPP

// Maximum mean discrepancy (Gretton, Borgwardt, Rasch, Schoelkopf, Smola 2012) between samples
// x (n x d) and y (m x d), rows = points, with a radial kernel k(r), r = ||a - b||:
//   gaussian:  k = exp(-r^2 / (2 h^2)),   laplacian: k = exp(-r / h),
//   energy:    k = -r, for which MMD^2 is the energy distance (Szekely and Rizzo 2013)
//              E = 2 E||X - Y|| - E||X - X'|| - E||Y - Y'|| (SciPy's energy_distance returns sqrt(E)).
// Estimators of MMD^2 (Gretton et al. 2012, eqs. 3 and 5):
//   biased (V-statistic):    (1/n^2) sum_ij k(x_i, x_j) + (1/m^2) sum_ij k(y_i, y_j) - (2/(n m)) sum_ij k(x_i, y_j)  (>= 0 for the
//                            Gaussian and Laplacian kernels, which are positive definite, and for the energy kernel)
//   unbiased (U-statistic):  the self sums over i != j divided by n (n - 1) and m (m - 1) (may be < 0; n, m >= 2).
// Gradients: d/dx_i sum_j k(x_i, y_j) = sum_j psi(r_ij) (x_i - y_j), psi(r) = k'(r) / r:
//   gaussian -k / h^2; laplacian -k / (h r); energy -1 / r. At coincident points (r = 0) the laplacian
//   and energy kernels are not differentiable; the sums use psi = 0 there (the symmetric subgradient:
//   the term's one-sided derivatives are opposite).
// The sums are streamed by the executor a block of a row at a time in the linear domain (MMD is a
// difference of linear sums: no log domain is needed; far pairs' Gaussian terms underflow to 0 below
// 1e-308 of the largest). Cost O((n + m)^2 d), memory O((n + m) d).

#include <cmath>
#include <string>
#include <type_traits>

#include <Eigen/Core>

#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/kernel/bandwidth.hpp"
#include "divergence/kernel/gram.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence::kernel {

enum class MmdKernel { gaussian, laplacian, energy };
enum class MmdEstimator { biased, unbiased };

struct MmdOptions {
    MmdKernel kernel = MmdKernel::gaussian;
    MmdEstimator estimator = MmdEstimator::biased;
    Bandwidth bandwidth;  ///< the kernel width h (gaussian, laplacian; a rule on the pooled sample); unused by energy
    /// automatic: exact for the laplacian and energy kernels (a square root of an expanded distance
    /// errs by sqrt(u) ||x||), for the gaussian as in kernel/gram.hpp (exact for d <= 4)
    DistancePath path = DistancePath::automatic;
    bool gradients = true;
};

struct MmdResult {
    double value = 0.0;  ///< MMD^2 (energy: the energy distance E)
    double kernel_width = 0.0;  ///< h (0 for energy)
    RowMatrix<double> grad_x, grad_y;
};

namespace detail {

/// For every row i of a pair: row_values_i = sum_j k(r_ij) and, if `force` is set,
/// force_i = sum_j psi(r_ij) (x_i - y_j), a block of the row at a time. One chunk per row.
struct RadialSumsJob : WholeRowJob {
    const SquaredDistances& distances;
    MmdKernel kernel;
    double width;
    double* row_values;
    double* force;

    void accumulate(divergence::detail::Pass<0>, int&, Index i, Index begin, Index end) const
    {
        namespace simd = divergence::detail::simd;
        using D = simd::Packet<double>;
        constexpr Index width_lanes = simd::lanes<D>, block = divergence::detail::fused_block;
        alignas(64) double r2[block], psi[block];
        const D zero = simd::broadcast<D>(0.0);
        const D inverse = simd::broadcast<D>(1.0 / width), minus_half_inverse_square = simd::broadcast<D>(-0.5 / (width * width));
        const D minus_inverse_square = simd::broadcast<D>(-1.0 / (width * width)), minus_one = simd::broadcast<D>(-1.0);
        D sum = zero;
        const auto terms = [&](const D& squared, D& value, D& slope) {
            const D s = simd::max(squared, zero);
            if (kernel == MmdKernel::gaussian) {
                value = simd::exp(simd::mul(s, minus_half_inverse_square));
                slope = simd::mul(value, minus_inverse_square);
            } else {
                const D r = simd::sqrt(s);
                const D positive = simd::less(zero, r);
                if (kernel == MmdKernel::laplacian) {
                    value = simd::exp(simd::sub(zero, simd::mul(r, inverse)));
                    slope = simd::keep(positive, simd::div(simd::mul(value, minus_one), simd::mul(r, simd::broadcast<D>(width))));
                } else {
                    value = simd::sub(zero, r);
                    slope = simd::keep(positive, simd::div(minus_one, r));
                }
            }
        };
        for (Index b = begin; b < end; b += block) {
            const Index n = std::min(block, end - b);
            distances.fill(i, b, b + n, r2);
            Index k = 0;
            D value, slope;
            for (; k + width_lanes <= n; k += width_lanes) {
                terms(simd::load<D>(r2 + k), value, slope);
                sum = simd::add(sum, value);
                simd::store(psi + k, slope);
            }
            if (k < n) {
                terms(simd::load_partial<D>(r2 + k, n - k, 0.0), value, slope);
                sum = simd::add(sum, simd::keep(simd::first_lanes<D>(n - k), value));
                simd::store_partial(psi + k, slope, n - k);
            }
            if (force) distances.add_differences(i, b, b + n, psi, force + i * distances.dimension());
        }
        row_values[i] += simd::reduce_add(sum);
    }
};

/// sum_ij k(r_ij) over a pair, and (if asked) the forces sum_j psi(r_ij) (x_i - y_j).
template <class E>
double radial_sum(const SamplePair<E>& pair, MmdKernel kernel, double width, RowMatrix<double>* force)
{
    const SquaredDistances& distances = pair.distances();
    std::vector<double> rows(std::size_t(pair.rows()), 0.0);
    if (force) *force = RowMatrix<double>::Zero(pair.rows(), pair.dimension());
    const RadialSumsJob job{{}, distances, kernel, width, rows.data(), force ? force->data() : nullptr};
    divergence::detail::execute(job, pair.rows(), divergence::detail::Chunks{pair.cols(), std::max(Index(1), pair.cols())},
                                ot::detail::worth_threads(pair.rows(), pair.cols()));
    divergence::detail::CompensatedSum total;
    for (double v : rows) total.add(v);
    return total.value();
}

/// mmd, its errors naming `function` (the public function the caller called).
template <class DX, class DY>
MmdResult mmd_as(const char* function, const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y, const MmdOptions& options)
{
    detail::check_same_scalar<DX, DY>();
    using Pair = SamplePairFor<typename DX::Scalar>;
    // The square root of an expanded squared distance errs by sqrt(u) ||x|| at coincident points
    // (the diagonal): the laplacian and energy kernels take the exact path unless told otherwise.
    const DistancePath path = options.path == DistancePath::automatic && options.kernel != MmdKernel::gaussian ? DistancePath::exact : options.path;
    const Pair cross(x, y, path, function, "x", "y");
    const Pair self_x(x, x, path, function, "x", "x"), self_y(y, y, path, function, "y", "y");
    const double n = double(x.rows()), m = double(y.rows());
    const bool unbiased = options.estimator == MmdEstimator::unbiased;
    if (unbiased && x.rows() < 2) detail::fail(function, "x", "the unbiased estimator needs at least 2 samples, got 1");
    if (unbiased && y.rows() < 2) detail::fail(function, "y", "the unbiased estimator needs at least 2 samples, got 1");
    MmdResult r;
    RowMatrix<double> pooled;
    BandwidthValue rule;
    double h = 1.0;
    if (options.kernel != MmdKernel::energy) {
        pooled.resize(x.rows() + y.rows(), x.cols());
        pooled << x.template cast<double>(), y.template cast<double>();
        Bandwidth b = options.bandwidth;
        b.differentiate = b.differentiate && options.gradients && b.rule != BandwidthRule::fixed;
        rule = select_bandwidth(pooled, b, function);
        h = rule.width;
        detail::check_bandwidth(function, "bandwidth", h);
        r.kernel_width = h;
    }
    const bool g = options.gradients;
    RowMatrix<double> fxx, fyy, fxy, fyx;
    const double sxx = detail::radial_sum(self_x, options.kernel, h, g ? &fxx : nullptr);
    const double syy = detail::radial_sum(self_y, options.kernel, h, g ? &fyy : nullptr);
    const double sxy = detail::radial_sum(cross, options.kernel, h, g ? &fxy : nullptr);
    // k(0) = 1 for the gaussian and laplacian kernels, 0 for energy: the diagonal of the self sums
    const double diagonal = options.kernel == MmdKernel::energy ? 0.0 : 1.0;
    const double a = unbiased ? 1.0 / (n * (n - 1.0)) : 1.0 / (n * n), b = unbiased ? 1.0 / (m * (m - 1.0)) : 1.0 / (m * m);
    const double c = 2.0 / (n * m);
    r.value = unbiased ? a * (sxx - n * diagonal) + b * (syy - m * diagonal) - c * sxy : a * sxx + b * syy - c * sxy;
    if (!unbiased) r.value = std::max(0.0, r.value);  // >= 0: the squared norm of a mean embedding difference
    if (!g) return r;
    detail::radial_sum(cross.transposed(), options.kernel, h, &fyx);
    r.grad_x = (2.0 * a) * fxx - c * fxy;
    r.grad_y = (2.0 * b) * fyy - c * fyx;
    if (rule.gradient.size() > 0) {
        const Eigen::RowVectorXd center = pooled.colwise().mean();
        const double d_h = -(detail::centered_dot(x, center, r.grad_x) + detail::centered_dot(y, center, r.grad_y)) / h;
        r.grad_x += d_h * rule.gradient.topRows(x.rows());
        r.grad_y += d_h * rule.gradient.bottomRows(y.rows());
    }
    return r;
}

}  // namespace detail

/// MMD^2 between the samples x (n x d) and y (m x d) with the options' kernel and estimator (see
/// the header comment), and its gradients with respect to every point (and through the width when
/// options.bandwidth.differentiate: MMD depends on the points only through p / h).
/// \throws std::invalid_argument for empty or non-finite samples, different dimensions, a bad
/// bandwidth, or fewer than 2 points in a sample for the unbiased estimator.
template <class DX, class DY>
MmdResult mmd(const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y, const MmdOptions& options = {})
{
    return detail::mmd_as("kernel::mmd", x, y, options);
}

/// The energy distance E = 2 E||X - Y|| - E||X - X'|| - E||Y - Y'|| (biased: V-statistic; unbiased:
/// the self sums divided by n (n - 1), m (m - 1)) and its gradients: mmd with MmdKernel::energy.
/// SciPy's scipy.stats.energy_distance(u, v) for d = 1 is sqrt(E) (biased).
template <class DX, class DY>
MmdResult energy_distance(const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y, MmdEstimator estimator = MmdEstimator::biased,
                          bool gradients = true)
{
    MmdOptions o;
    o.kernel = MmdKernel::energy;
    o.estimator = estimator;
    o.gradients = gradients;
    return detail::mmd_as("kernel::energy_distance", x, y, o);
}

}  // namespace divergence::kernel

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
