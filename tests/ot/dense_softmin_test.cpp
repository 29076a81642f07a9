// The softmin half-iterations on a stored cost matrix (ot/dense_softmin.hpp): both directions read
// the one row-major matrix; checked against a plain long-double log-sum-exp, for double and float
// costs, with +inf costs and -inf arguments, and bitwise the same on one and two threads (sizes
// past the threads' threshold, rows in several chunks, columns past the last whole strip).

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "divergence/ot/sinkhorn.hpp"
#include "support/threads.hpp"

namespace ot_dense_softmin_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using divergence::RowMatrix;
using Eigen::Index;
namespace ot = divergence::ot;

constexpr double infinity = std::numeric_limits<double>::infinity();

/// -eps log sum_k exp(h_k - c_k / eps) over one line of costs, in long double (+inf if every term is 0).
double reference_softmin(const std::vector<long double>& arguments, double epsilon)
{
    long double top = -INFINITY;
    for (const long double t : arguments) top = std::max(top, t);
    if (top == -INFINITY) return infinity;
    long double sum = 0.0L;
    for (const long double t : arguments) sum += std::exp(t - top);
    return double(-(long double)epsilon * (top + std::log(sum)));
}

/// A rows x cols cost in [0, 1) with row 5 and column 7 all +inf, and a few more +inf entries.
RowMatrix<double> costs(Index rows, Index cols)
{
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    RowMatrix<double> c(rows, cols);
    for (Index i = 0; i < c.size(); ++i) c.data()[i] = uniform(rng);
    c.row(5).setConstant(infinity);
    c.col(7).setConstant(infinity);
    for (Index i = 0; i < rows; i += 37) c(i, (i * 13) % cols) = infinity;
    return c;
}

/// log w + potential / eps with every 11th weight 0 (-inf).
std::vector<double> arguments(Index n, unsigned seed)
{
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uniform(-3.0, 3.0);
    std::vector<double> h(static_cast<std::size_t>(n), 0.0);
    for (Index k = 0; k < n; ++k) h[std::size_t(k)] = k % 11 == 3 ? -infinity : std::log(1.0 / double(n)) + uniform(rng);
    return h;
}

template <class Scalar>
void check_both_directions(double tolerance)
{
    const Index rows = 1100, cols = 300;  // 330000 entries >= 2^18: threads; 1100 rows: two chunks
    const double epsilon = 0.01;
    const RowMatrix<Scalar> c = costs(rows, cols).template cast<Scalar>();
    const ot::detail::DenseCost<Scalar> cost("test", c);
    const std::vector<double> h_columns = arguments(cols, 1), h_rows = arguments(rows, 2);
    const auto rows_on = [&](int threads) {
        std::vector<double> out;
        return test::with_threads(threads, [&] {
            ot::detail::softmin<Scalar>(cost, h_columns, epsilon, out);
            return out;
        });
    };
    const auto columns_on = [&](int threads) {
        std::vector<double> out;
        return test::with_threads(threads, [&] {
            ot::detail::softmin<Scalar>(cost.transpose(), h_rows, epsilon, out);
            return out;
        });
    };
    const std::vector<double> by_rows = rows_on(1), by_columns = columns_on(1);
    CHECK(by_rows == rows_on(2));
    CHECK(by_columns == columns_on(2));
    REQUIRE(by_rows.size() == std::size_t(rows));
    REQUIRE(by_columns.size() == std::size_t(cols));
    double worst_row = 0.0, worst_column = 0.0;
    std::vector<long double> t;
    for (Index i = 0; i < rows; ++i) {
        t.clear();
        for (Index j = 0; j < cols; ++j) t.push_back((long double)h_columns[std::size_t(j)] - (long double)c(i, j) / epsilon);
        const double expected = reference_softmin(t, epsilon), got = by_rows[std::size_t(i)];
        if (std::isinf(expected)) {
            CHECK(got == expected);
        } else {
            worst_row = std::max(worst_row, std::abs(got - expected));
        }
    }
    for (Index j = 0; j < cols; ++j) {
        t.clear();
        for (Index i = 0; i < rows; ++i) t.push_back((long double)h_rows[std::size_t(i)] - (long double)c(i, j) / epsilon);
        const double expected = reference_softmin(t, epsilon), got = by_columns[std::size_t(j)];
        if (std::isinf(expected)) {
            CHECK(got == expected);
        } else {
            worst_column = std::max(worst_column, std::abs(got - expected));
        }
    }
    CHECK(std::isinf(by_rows[5]));
    CHECK(std::isinf(by_columns[7]));
    CAPTURE(worst_row, worst_column);
    CHECK(worst_row <= tolerance);
    CHECK(worst_column <= tolerance);
}

}  // namespace

TEST_CASE("dense softmin: rows and columns of one stored double matrix equal a long-double log-sum-exp, on any thread count", "[ot][sinkhorn]")
{
    // double exps (<= 2 ulp) summed in double: |d out| <= eps * 1e-13
    check_both_directions<double>(1e-14);
}

TEST_CASE("dense softmin: rows and columns of one stored float matrix (float-lane exps) equal a long-double log-sum-exp, on any thread count", "[ot][sinkhorn]")
{
    // float exps (<= 2 ulp of float, 1.2e-7) of arguments reduced in double, sums in double after
    // 4 terms in float: the sum's relative error stays below 5e-7, so |d out| <= eps * 5e-7
    check_both_directions<float>(0.01 * 5e-7);
}

TEST_CASE("dense sinkhorn: the solve from a cost matrix gives the same bits on one and two threads, balanced and unbalanced", "[ot][sinkhorn]")
{
    const RowMatrix<double> c = costs(1100, 300);
    RowMatrix<double> finite = c;
    for (Index i = 0; i < finite.size(); ++i) {
        if (std::isinf(finite.data()[i])) finite.data()[i] = 1.0;
    }
    const Eigen::VectorXd a = Eigen::VectorXd::Constant(1100, 1.0 / 1100.0), b = Eigen::VectorXd::Constant(300, 1.0 / 300.0);
    for (const double reach : {infinity, 0.5}) {
        ot::SinkhornOptions o;
        o.epsilon = 0.01;
        o.max_iterations = 10;
        o.tolerance = 0.0;
        o.reach_b = reach;
        const auto one = test::with_threads(1, [&] { return ot::sinkhorn(a, b, finite, o); });
        const auto two = test::with_threads(2, [&] { return ot::sinkhorn(a, b, finite, o); });
        CAPTURE(reach);
        CHECK(one.value == two.value);
        CHECK(one.marginal_penalty == two.marginal_penalty);
        CHECK((one.f - two.f).cwiseAbs().maxCoeff() == 0.0);
        CHECK((one.g - two.g).cwiseAbs().maxCoeff() == 0.0);
        CHECK(std::isfinite(one.value));
    }
}

TEST_CASE("dense softmin: the fused pass (rows, then columns from the rows' results) gives the bits of the two passes, on any thread count", "[ot][sinkhorn]")
{
    const Index rows = 1100, cols = 300;
    const double epsilon = 0.01;
    const RowMatrix<double> c = costs(rows, cols);
    const std::vector<double> h_columns = arguments(cols, 3);
    // next(i, s): the column pass's argument from row i's softmin (-inf for every 11th row, as a zero
    // weight, and for row 5, whose costs are all +inf: the solver stops as infeasible there)
    const auto next = [](Index i, double s) { return i % 11 == 4 || std::isinf(s) ? -infinity : 0.5 * s + 0.01 * double(i % 5); };
    std::vector<double> rows_apart, h_rows, columns_apart;
    ot::detail::dense_softmin<double>(c.data(), rows, cols, false, h_columns, epsilon, rows_apart, false);
    for (Index i = 0; i < rows; ++i) h_rows.push_back(next(i, rows_apart[std::size_t(i)]));
    ot::detail::dense_softmin<double>(c.data(), rows, cols, true, h_rows, epsilon, columns_apart, false);
    for (const int threads : {1, 2}) {
        std::vector<double> fused_rows, fused_h, fused_columns;
        test::with_threads(threads, [&] {
            ot::detail::fused_dense_softmins<double>(c.data(), rows, cols, h_columns, epsilon, fused_rows, next, fused_h, fused_columns, true);
            return 0;
        });
        CAPTURE(threads);
        CHECK(fused_rows == rows_apart);
        CHECK(fused_h == h_rows);
        CHECK(fused_columns == columns_apart);
    }
}

}  // namespace ot_dense_softmin_test
