// Random Fourier features for the Gaussian MMD (kernel/random_features.hpp): the estimate against the
// exact biased MMD^2 (kernel/mmd.hpp) within its reported standard error, its gradients against central
// differences (of the approximation, for a fixed seed), and the errors.

#include <catch2/catch.hpp>

#include <cmath>

#include "divergence/kernel/random_features.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/kernel.hpp"

namespace kernel_random_features_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using divergence::RowMatrix;
namespace kernel = divergence::kernel;
using test::normal_sample;

}  // namespace

TEST_CASE("random features: the estimate is within a few reported standard errors of the exact MMD", "[kernel][random_features]")
{
    const RowMatrix<double> x = normal_sample(200, 4, 1, 1.0, 3.0), y = normal_sample(150, 4, 2, 1.2, 3.4);
    kernel::MmdOptions exact_options;
    exact_options.bandwidth = kernel::Bandwidth::fixed(1.5);
    exact_options.gradients = false;
    const double exact = kernel::mmd(x, y, exact_options).value;
    for (Eigen::Index frequencies : {256, 4096}) {
        kernel::RandomFeaturesOptions o;
        o.bandwidth = 1.5;
        o.frequencies = frequencies;
        o.gradients = false;
        for (std::uint64_t seed : {1, 2, 3}) {
            o.seed = seed;
            const auto r = kernel::mmd_random_features(x, y, o);
            CAPTURE(frequencies, seed, r.value, exact, r.standard_error);
            CHECK(r.value >= 0.0);
            CHECK(std::abs(r.value - exact) <= 4.0 * r.standard_error);
            CHECK(r.standard_error < 2.0 / std::sqrt(double(frequencies)) * exact + 1e-3);
        }
    }
    // equal samples: exactly 0
    CHECK(kernel::mmd_random_features(x, x).value == 0.0);
}

TEST_CASE("random features: gradients against central differences", "[kernel][random_features]")
{
    const RowMatrix<double> x = normal_sample(5, 3, 10, 1.0, 2.0), y = normal_sample(4, 3, 11, 1.0, 2.5);
    kernel::RandomFeaturesOptions o;
    o.bandwidth = 0.8;
    o.frequencies = 64;
    o.seed = 7;
    const auto r = kernel::mmd_random_features(x, y, o);
    const RowMatrix<double> gx = test::central_difference(x, [&](const RowMatrix<double>& p) { return kernel::mmd_random_features(p, y, o).value; });
    const RowMatrix<double> gy = test::central_difference(y, [&](const RowMatrix<double>& p) { return kernel::mmd_random_features(x, p, o).value; });
    CHECK(test::close(r.grad_x, gx, 1e-5, 1e-8));
    CHECK(test::close(r.grad_y, gy, 1e-5, 1e-8));
}

TEST_CASE("random features: errors", "[kernel][random_features]")
{
    const RowMatrix<double> x = normal_sample(4, 2, 20), y3 = normal_sample(4, 3, 21), empty(0, 2);
    kernel::RandomFeaturesOptions o;
    test::fails_with([&] { kernel::mmd_random_features(x, y3); }, "kernel::mmd_random_features", "argument 'y'", "dimension 3");
    test::fails_with([&] { kernel::mmd_random_features(empty, x); }, "argument 'x'", "empty");
    o.bandwidth = 0.0;
    test::fails_with([&] { kernel::mmd_random_features(x, x, o); }, "options.bandwidth", "> 0");
    o.bandwidth = 1.0;
    o.frequencies = 0;
    test::fails_with([&] { kernel::mmd_random_features(x, x, o); }, "options.frequencies", ">= 1");
}

TEST_CASE("random features: a width whose phases overflow double is refused, not a NaN value", "[kernel][random_features][edge]")
{
    // w_k ~ N(0, 1/h^2) with h = 1e-300 against points about 1e29 from their mean: w_k . x is about 1e329.
    RowMatrix<double> x(3, 2), y(3, 2);
    x << 1.76055908203125e+29, 3.0230712890625002e+29, 8.6138916015625005e+29, 7.2918701171875006e+29, 5.4852294921875002e+29,
        -6.6503906250000007e+29;
    y << 5.8590698242187501e+29, -6.7996215820312502e+29, -4.0087890625000004e+29, -5.7406616210937503e+29, 2.83203125e+29,
        5.745849609375e+29;
    kernel::RandomFeaturesOptions o;
    o.bandwidth = 1e-300;
    o.frequencies = 5;
    o.gradients = false;
    test::fails_with([&] { kernel::mmd_random_features(x, y, o); }, "kernel::mmd_random_features", "options.bandwidth", "too small",
                     "overflow");
    // A width small but with finite phases (about 1e29 / 1e-270): each t_k = |mean e^{i w x} - mean e^{i w y}|^2 <= 4.
    o.bandwidth = 1e-270;
    const auto r = kernel::mmd_random_features(x, y, o);
    CHECK(r.value >= 0.0);
    CHECK(r.value <= 4.0);
}

}  // namespace kernel_random_features_test
