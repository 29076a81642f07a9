// The softmin half-iteration between point clouds with the squared Euclidean cost, by tiles of rows
// (ot/point_softmin.hpp): both orientations against a plain long-double log-sum-exp of
// h_j - |x_i - y_j|^2 / eps, in dimensions below, at and past the tile's unrolled sizes, with rows
// and columns that fill no whole tile or packet, -inf arguments, and bitwise the same on one and two
// threads.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "divergence/ot/sinkhorn.hpp"
#include "support/threads.hpp"

namespace ot_point_softmin_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using divergence::RowMatrix;
using Eigen::Index;
namespace ot = divergence::ot;

constexpr double infinity = std::numeric_limits<double>::infinity();

RowMatrix<double> points(Index n, Index d, unsigned seed)
{
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    RowMatrix<double> p(n, d);
    for (Index i = 0; i < p.size(); ++i) p.data()[i] = uniform(rng) + 3.0;  // off the origin: centering matters
    return p;
}

std::vector<double> arguments(Index n, unsigned seed)
{
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uniform(-3.0, 3.0);
    std::vector<double> h(static_cast<std::size_t>(n), 0.0);
    for (Index k = 0; k < n; ++k) h[std::size_t(k)] = k % 7 == 2 ? -infinity : uniform(rng);
    return h;
}

/// -eps log sum_j exp(h_j - |row_i - column_j|^2 / eps) in long double.
double reference_softmin(const RowMatrix<double>& row_points, Index i, const RowMatrix<double>& column_points,
                         const std::vector<double>& h, double epsilon)
{
    std::vector<long double> t;
    long double top = -INFINITY;
    for (Index j = 0; j < column_points.rows(); ++j) {
        long double distance = 0.0L;
        for (Index k = 0; k < row_points.cols(); ++k) {
            const long double diff = (long double)row_points(i, k) - (long double)column_points(j, k);
            distance += diff * diff;
        }
        t.push_back((long double)h[std::size_t(j)] - distance / epsilon);
        top = std::max(top, t.back());
    }
    long double sum = 0.0L;
    for (const long double v : t) sum += std::exp(v - top);
    return double(-(long double)epsilon * (top + std::log(sum)));
}

}  // namespace

TEST_CASE("point softmin: tiles of rows equal a long-double log-sum-exp in both orientations, on any thread count", "[ot][sinkhorn]")
{
    const double epsilon = 0.5;
    for (const Index d : {1, 2, 7, 16}) {
        // 613 x 437 = 267881 >= 2^18 entries: threads; 613 rows fill no whole tile of 8
        const RowMatrix<double> x = points(613, d, 11), y = points(437, d, 12);
        const auto cost = ot::detail::PointCost<ot::SquaredEuclidean>::make("test", x, y);
        const std::vector<double> h_y = arguments(437, 13), h_x = arguments(613, 14);
        const auto on = [&](int threads, bool transposed) {
            std::vector<double> out;
            return test::with_threads(threads, [&] {
                if (transposed) {
                    ot::detail::softmin<double>(cost.transpose(), h_x, epsilon, out);
                } else {
                    ot::detail::softmin<double>(cost, h_y, epsilon, out);
                }
                return out;
            });
        };
        const std::vector<double> rows = on(1, false), columns = on(1, true);
        CAPTURE(d);
        CHECK(rows == on(2, false));
        CHECK(columns == on(2, true));
        double worst = 0.0;
        for (Index i = 0; i < x.rows(); ++i) {
            const double expected = reference_softmin(x, i, y, h_y, epsilon);
            worst = std::max(worst, std::abs(rows[std::size_t(i)] - expected) / (1.0 + std::abs(expected)));
        }
        for (Index j = 0; j < y.rows(); ++j) {
            const double expected = reference_softmin(y, j, x, h_x, epsilon);
            worst = std::max(worst, std::abs(columns[std::size_t(j)] - expected) / (1.0 + std::abs(expected)));
        }
        // |x|^2 + |y|^2 - 2 x.y on centered clouds: the squared distance rounds by ~1e-16 |x|^2 d
        CAPTURE(worst);
        CHECK(worst <= 1e-13);
    }
}

}  // namespace ot_point_softmin_test
