// Bandwidth rules (kernel/bandwidth.hpp) against hand computations on small samples, and their
// gradients d width / d points against central differences.

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "divergence/kernel/bandwidth.hpp"
#include "support/errors.hpp"
#include "support/kernel.hpp"
#include "support/finite_difference.hpp"

namespace kernel_bandwidth_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using divergence::RowMatrix;
using Eigen::Index;
namespace kernel = divergence::kernel;
using test::normal_sample;
using test::squared_distance;


}  // namespace

TEST_CASE("bandwidth rules by hand on small samples", "[kernel][bandwidth]")
{
    // z = {0, 1, 3} (d = 1): mean 4/3, unbiased variance ((16 + 1 + 25) / 9) / 2 = 7/3
    RowMatrix<double> z(3, 1);
    z << 0.0, 1.0, 3.0;
    const double s = std::sqrt(7.0 / 3.0);
    CHECK(kernel::select_bandwidth(z, kernel::Bandwidth::fixed(0.7)).width == 0.7);
    CHECK(kernel::select_bandwidth(z, kernel::Bandwidth::silverman()).width == Approx(s * std::pow(4.0 / 9.0, 0.2)).epsilon(1e-15));
    CHECK(kernel::select_bandwidth(z, kernel::Bandwidth::scott(2.0)).width == Approx(2.0 * s * std::pow(3.0, -0.2)).epsilon(1e-15));
    // pairwise distances 1, 3, 2: median 2; squared 1, 9, 4: median 4
    CHECK(kernel::select_bandwidth(z, kernel::Bandwidth::median_heuristic()).width == Approx(2.0).epsilon(1e-15));
    CHECK(kernel::select_bandwidth(z, kernel::Bandwidth::median_heuristic(kernel::MedianOf::half_squared_distance)).width ==
          Approx(std::sqrt(2.0)).epsilon(1e-15));
    CHECK(kernel::select_bandwidth(z, kernel::Bandwidth::median_heuristic(kernel::MedianOf::squared_distance, 0.5)).width ==
          Approx(2.0).epsilon(1e-15));
    // four points in the plane: 6 pairs, the median averages the 3rd and 4th distances
    RowMatrix<double> w(4, 2);
    w << 0, 0, 3, 0, 0, 4, 3, 4;  // distances 3, 4, 5, 5, 4, 3 -> sorted 3 3 4 4 5 5: median 4
    CHECK(kernel::select_bandwidth(w, kernel::Bandwidth::median_heuristic()).width == Approx(4.0).epsilon(1e-15));
    // d = 2 Silverman: s^2 = mean of the coordinates' variances = (3 + 16/3) / 2
    const double s2 = std::sqrt((3.0 + 16.0 / 3.0) / 2.0);
    CHECK(kernel::select_bandwidth(w, kernel::Bandwidth::silverman()).width == Approx(s2 * std::pow(4.0 / (4.0 * 4.0), 1.0 / 6.0)).epsilon(1e-15));
    // the subsampled median: every 2nd point of 4 when median_points = 2 -> the pair (0, 2): distance 4
    kernel::Bandwidth few = kernel::Bandwidth::median_heuristic();
    few.median_points = 2;
    CHECK(kernel::select_bandwidth(w, few).width == Approx(4.0).epsilon(1e-15));
}

TEST_CASE("bandwidth gradients against central differences", "[kernel][bandwidth]")
{
    for (Index d : {1, 3}) {
        const RowMatrix<double> z = normal_sample(9, d, 10 + d, 1.0, 2.0);  // entries away from 0 (relative steps)
        for (kernel::Bandwidth b : {kernel::Bandwidth::silverman(1.0, true), kernel::Bandwidth::scott(0.5, true),
                                    kernel::Bandwidth::median_heuristic(kernel::MedianOf::distance, 1.0, true),
                                    kernel::Bandwidth::median_heuristic(kernel::MedianOf::half_squared_distance, 1.0, true),
                                    kernel::Bandwidth::median_heuristic(kernel::MedianOf::squared_distance, 1.0, true)}) {
            const auto v = kernel::select_bandwidth(z, b);
            const RowMatrix<double> g = test::central_difference(z, [&](const RowMatrix<double>& p) { return kernel::select_bandwidth(p, b).width; });
            CAPTURE(d, int(b.rule), int(b.median));
            CHECK(test::close(v.gradient, g, 1e-6, 1e-9));
        }
        // not differentiated: no gradient
        CHECK(kernel::select_bandwidth(z, kernel::Bandwidth::silverman()).gradient.size() == 0);
    }
}

TEST_CASE("median bandwidth gradient where the lower middle distance is 0: finite, the subgradient 0 for coinciding points", "[kernel][bandwidth]")
{
    // 15 coinciding points and 6 others: 210 pairs, 105 of them at distance 0, so the median averages
    // 0 and the smallest positive distance, 0.5 between the points at 10 and 10.5 (the only pair that
    // close). The width is value * 0.25 there; moving the others changes it through that pair only, and
    // the coinciding points get the subgradient 0 (the distance is not differentiable at 0).
    RowMatrix<double> z = RowMatrix<double>::Zero(21, 1);
    z.bottomRows(6) << 10.0, 10.5, 20.0, 30.0, 40.0, 50.0;
    for (const auto variant : {kernel::MedianOf::distance, kernel::MedianOf::half_squared_distance, kernel::MedianOf::squared_distance}) {
        const kernel::Bandwidth b = kernel::Bandwidth::median_heuristic(variant, 2.0, true);
        const auto v = kernel::select_bandwidth(z, b);
        CAPTURE(int(variant));
        REQUIRE(v.gradient.allFinite());
        CHECK(v.gradient.topRows(15).isZero(0.0));
        const RowMatrix<double> g = test::central_difference(z, [&](const RowMatrix<double>& p) { return kernel::select_bandwidth(p, b).width; });
        CHECK(test::close(v.gradient.bottomRows(6), g.bottomRows(6), 1e-6, 1e-9));
    }
    CHECK(kernel::select_bandwidth(z, kernel::Bandwidth::median_heuristic(kernel::MedianOf::distance, 2.0)).width == 0.5);
}

TEST_CASE("bandwidth errors", "[kernel][bandwidth]")
{
    RowMatrix<double> one(1, 2), same = RowMatrix<double>::Ones(3, 2), z(3, 1), empty(0, 2);
    one << 1.0, 2.0;
    z << 0.0, 1.0, std::nan("");
    test::fails_with([&] { kernel::select_bandwidth(one, kernel::Bandwidth::scott()); }, "kernel::select_bandwidth", "at least 2 samples");
    test::fails_with([&] { kernel::select_bandwidth(same, kernel::Bandwidth::silverman()); }, "not all equal");
    test::fails_with([&] { kernel::select_bandwidth(same, kernel::Bandwidth::median_heuristic()); }, "median pairwise distance");
    test::fails_with([&] { kernel::select_bandwidth(z, kernel::Bandwidth::silverman()); }, "argument 'x'", "row 2", "finite");
    test::fails_with([&] { kernel::select_bandwidth(empty, kernel::Bandwidth::silverman()); }, "argument 'x'", "empty");
    test::fails_with([&] { kernel::select_bandwidth(same, kernel::Bandwidth::fixed(-1.0)); }, "bandwidth.value", "> 0");
    test::fails_with([&] { kernel::select_bandwidth(same, kernel::Bandwidth::fixed(INFINITY)); }, "bandwidth.value", "> 0");
}

}  // namespace kernel_bandwidth_test
