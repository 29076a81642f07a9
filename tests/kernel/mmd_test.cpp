// MMD (kernel/mmd.hpp) against a straightforward long-double O(n m) implementation in this file,
// the energy distance against SciPy 1.10 for d = 1 (tests/reference/make_energy_reference.py),
// every gradient against central differences, and the errors.

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "divergence/kernel/mmd.hpp"
#include "reference/energy_reference_values.hpp"
#include "support/errors.hpp"
#include "support/kernel.hpp"
#include "support/finite_difference.hpp"
#include "support/threads.hpp"

namespace kernel_mmd_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using divergence::RowMatrix;
using Eigen::Index;
namespace kernel = divergence::kernel;
using test::normal_sample;
using test::squared_distance;
using LD = long double;


LD kernel_value(kernel::MmdKernel k, const RowMatrix<double>& a, Index i, const RowMatrix<double>& b, Index j, LD h)
{
    const LD s = squared_distance(a, i, b, j);
    const LD r = std::sqrt(s);
    switch (k) {
    case kernel::MmdKernel::gaussian: return std::exp(-s / (2 * h * h));
    case kernel::MmdKernel::laplacian: return std::exp(-r / h);
    default: return -r;
    }
}

/// MMD^2 by its definition (Gretton et al. 2012, eqs. 3 and 5), in long double.
double reference_mmd(kernel::MmdKernel k, bool unbiased, const RowMatrix<double>& x, const RowMatrix<double>& y, double h)
{
    const LD n = LD(x.rows()), m = LD(y.rows());
    LD sxx = 0, syy = 0, sxy = 0;
    for (Index i = 0; i < x.rows(); ++i)
        for (Index j = 0; j < x.rows(); ++j)
            if (!unbiased || i != j) sxx += kernel_value(k, x, i, x, j, h);
    for (Index i = 0; i < y.rows(); ++i)
        for (Index j = 0; j < y.rows(); ++j)
            if (!unbiased || i != j) syy += kernel_value(k, y, i, y, j, h);
    for (Index i = 0; i < x.rows(); ++i)
        for (Index j = 0; j < y.rows(); ++j) sxy += kernel_value(k, x, i, y, j, h);
    const LD a = unbiased ? n * (n - 1) : n * n, b = unbiased ? m * (m - 1) : m * m;
    return double(sxx / a + syy / b - 2 * sxy / (n * m));
}

kernel::MmdOptions options(kernel::MmdKernel k, kernel::MmdEstimator e, kernel::Bandwidth b = kernel::Bandwidth::fixed(1.0))
{
    kernel::MmdOptions o;
    o.kernel = k;
    o.estimator = e;
    o.bandwidth = b;
    return o;
}

}  // namespace

TEST_CASE("MMD equals the long-double definition for every kernel and estimator", "[kernel][mmd]")
{
    for (Index d : {1, 3, 16}) {
        const RowMatrix<double> x = normal_sample(17, d, 10 + d), y = normal_sample(23, d, 20 + d, 1.4, 0.3);
        for (auto k : {kernel::MmdKernel::gaussian, kernel::MmdKernel::laplacian, kernel::MmdKernel::energy}) {
            for (auto e : {kernel::MmdEstimator::biased, kernel::MmdEstimator::unbiased}) {
                for (double h : {0.5, 2.0}) {
                    CAPTURE(d, int(k), int(e), h);
                    const auto r = kernel::mmd(x, y, options(k, e, kernel::Bandwidth::fixed(h)));
                    const double expected = reference_mmd(k, e == kernel::MmdEstimator::unbiased, x, y, h);
                    CHECK(r.value == Approx(expected).epsilon(1e-12).margin(1e-14));
                    if (e == kernel::MmdEstimator::biased) CHECK(r.value >= 0.0);
                }
            }
        }
    }
    // MMD(P, P) = 0 for the biased estimator on one sample
    const RowMatrix<double> x = normal_sample(9, 2, 30);
    CHECK(kernel::mmd(x, x).value == Approx(0.0).margin(1e-15));
}

TEST_CASE("energy distance equals SciPy's energy_distance squared for d = 1", "[kernel][mmd]")
{
    for (const auto& c : reference::energy_cases()) {
        const RowMatrix<double> x = Eigen::Map<const Eigen::VectorXd>(c.x.data(), Index(c.x.size()));
        const RowMatrix<double> y = Eigen::Map<const Eigen::VectorXd>(c.y.data(), Index(c.y.size()));
        const auto r = kernel::energy_distance(x, y);
        CAPTURE(x.rows(), y.rows());
        CHECK(r.value == Approx(c.scipy_energy_distance * c.scipy_energy_distance).epsilon(1e-13));
        CHECK(r.grad_x.allFinite());
        CHECK(r.grad_y.allFinite());
    }
}

TEST_CASE("MMD gradients against central differences, fixed and differentiated widths", "[kernel][mmd]")
{
    const RowMatrix<double> x = normal_sample(6, 3, 40, 1.0, 2.0), y = normal_sample(7, 3, 41, 1.3, 2.5);
    for (auto k : {kernel::MmdKernel::gaussian, kernel::MmdKernel::laplacian, kernel::MmdKernel::energy}) {
        for (auto e : {kernel::MmdEstimator::biased, kernel::MmdEstimator::unbiased}) {
            for (bool through : {false, true}) {
                kernel::Bandwidth b = through ? kernel::Bandwidth::median_heuristic(kernel::MedianOf::distance, 1.0, true) : kernel::Bandwidth::fixed(0.9);
                const auto o = options(k, e, b);
                const auto r = kernel::mmd(x, y, o);
                const RowMatrix<double> gx = test::central_difference(x, [&](const RowMatrix<double>& p) { return kernel::mmd(p, y, o).value; });
                const RowMatrix<double> gy = test::central_difference(y, [&](const RowMatrix<double>& p) { return kernel::mmd(x, p, o).value; });
                CAPTURE(int(k), int(e), through, r.grad_x, gx);
                CHECK(test::close(r.grad_x, gx, 1e-5, 1e-8));
                CHECK(test::close(r.grad_y, gy, 1e-5, 1e-8));
            }
        }
    }
}

TEST_CASE("energy and laplacian gradients at coincident points use the symmetric subgradient", "[kernel][mmd]")
{
    // x_0 = y_0: |x_0 - y_0| has one-sided derivatives +-1; the pair contributes 0 to the gradient,
    // which is then the average of the two one-sided differences.
    RowMatrix<double> x(3, 1), y(3, 1);
    x << 0.5, 1.7, -0.8;
    y << 0.5, 2.4, 0.1;
    const auto r = kernel::energy_distance(x, y);
    const double step = 1e-7;
    RowMatrix<double> up = x, down = x;
    up(0, 0) += step;
    down(0, 0) -= step;
    const double right = (kernel::energy_distance(up, y).value - r.value) / step;
    const double left = (r.value - kernel::energy_distance(down, y).value) / step;
    CHECK(right - left == Approx(2.0 * 2.0 / 9.0).epsilon(1e-5));  // the kink: 2 (2 / (n m)) |.|'s jump
    CHECK(r.grad_x(0, 0) == Approx(0.5 * (left + right)).margin(1e-6));
    // duplicated points inside one sample
    RowMatrix<double> dup(4, 2);
    dup << 1.0, 2.0, 1.0, 2.0, 0.0, 1.0, 3.0, -1.0;
    for (auto k : {kernel::MmdKernel::laplacian, kernel::MmdKernel::energy}) {
        const auto d = kernel::mmd(dup, normal_sample(5, 2, 50), options(k, kernel::MmdEstimator::unbiased));
        CHECK(std::isfinite(d.value));
        CHECK(d.grad_x.allFinite());
    }
}

TEST_CASE("MMD float samples and a tiny width", "[kernel][mmd]")
{
    const RowMatrix<double> x = normal_sample(20, 4, 60), y = normal_sample(15, 4, 61, 1.0, 0.5);
    const RowMatrix<float> xf = x.cast<float>(), yf = y.cast<float>();
    const auto rf = kernel::mmd(xf, yf);
    CHECK(rf.value == Approx(reference_mmd(kernel::MmdKernel::gaussian, false, xf.cast<double>(), yf.cast<double>(), 1.0)).epsilon(1e-6));
    // h = 1e-3: only the diagonal survives: 1/n + 1/m (biased), 0 (unbiased), no NaN
    const auto tiny = kernel::mmd(x, y, options(kernel::MmdKernel::gaussian, kernel::MmdEstimator::biased, kernel::Bandwidth::fixed(1e-3)));
    CHECK(tiny.value == Approx(1.0 / 20 + 1.0 / 15).epsilon(1e-12));
    CHECK(tiny.grad_x.allFinite());
}

TEST_CASE("MMD errors", "[kernel][mmd]")
{
    const RowMatrix<double> x = normal_sample(4, 2, 70), y3 = normal_sample(4, 3, 71), one = normal_sample(1, 2, 72), empty(0, 2);
    test::fails_with([&] { kernel::mmd(x, y3); }, "kernel::mmd", "argument 'y'", "dimension 3");
    test::fails_with([&] { kernel::energy_distance(x, y3); }, "kernel::energy_distance", "argument 'y'", "dimension 3");
    test::fails_with([&] { kernel::mmd(empty, x); }, "argument 'x'", "empty");
    test::fails_with([&] { kernel::mmd(x, x, options(kernel::MmdKernel::laplacian, kernel::MmdEstimator::biased, kernel::Bandwidth::fixed(0.0))); },
                     "bandwidth", "> 0");
    test::fails_with([&] { kernel::mmd(one, x, options(kernel::MmdKernel::gaussian, kernel::MmdEstimator::unbiased)); }, "argument 'x'",
                     "at least 2 samples");
    test::fails_with([&] { kernel::energy_distance(x, one, kernel::MmdEstimator::unbiased); }, "argument 'y'", "at least 2 samples");
}

TEST_CASE("MMD is bitwise the same on 1 and 3 threads", "[kernel][mmd][threads]")
{
    const RowMatrix<double> x = normal_sample(600, 3, 80), y = normal_sample(500, 3, 81, 1.0, 0.4);
    for (auto k : {kernel::MmdKernel::gaussian, kernel::MmdKernel::energy}) {
        const auto o = options(k, kernel::MmdEstimator::unbiased);
        const auto one = test::with_threads(1, [&] { return kernel::mmd(x, y, o); });
        const auto three = test::with_threads(3, [&] { return kernel::mmd(x, y, o); });
        CHECK(one.value == three.value);
        CHECK(one.grad_x == three.grad_x);
        CHECK(one.grad_y == three.grad_y);
    }
}

}  // namespace kernel_mmd_test
