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

}  // namespace kernel_random_features_test
