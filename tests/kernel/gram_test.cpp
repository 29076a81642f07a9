// Gaussian kernel sums between samples (kernel/gram.hpp) against a plain long-double O(n m d)
// implementation in this file: row log-sums, weighted totals, forces, both distance paths, float
// samples, tiny bandwidths, and the errors.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>

#include "divergence/kernel/gram.hpp"
#include "support/errors.hpp"
#include "support/kernel.hpp"

namespace kernel_gram_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using divergence::RowMatrix;
using Eigen::Index;
using Eigen::VectorXd;
namespace kernel = divergence::kernel;
using test::normal_sample;
using test::squared_distance;



/// log sum_j exp(b_j - ||x_i - y_j||^2 / (2 h^2)), in long double with the row's maximum taken out.
VectorXd reference_row_sums(const RowMatrix<double>& x, const RowMatrix<double>& y, double h, const VectorXd& b = {})
{
    VectorXd out(x.rows());
    for (Index i = 0; i < x.rows(); ++i) {
        long double top = -std::numeric_limits<long double>::infinity();
        std::vector<long double> a(std::size_t(y.rows()));
        for (Index j = 0; j < y.rows(); ++j) {
            a[std::size_t(j)] = (b.size() ? (long double)b(j) : 0.0L) - squared_distance(x, i, y, j) / (2.0L * h * h);
            top = std::max(top, a[std::size_t(j)]);
        }
        long double s = 0;
        for (long double v : a) s += std::exp(v - top);
        out(i) = double(top + std::log(s));
    }
    return out;
}

RowMatrix<double> reference_forces(const RowMatrix<double>& x, const RowMatrix<double>& y, double h, const VectorXd& a, const VectorXd& b)
{
    RowMatrix<double> f = RowMatrix<double>::Zero(x.rows(), x.cols());
    for (Index i = 0; i < x.rows(); ++i) {
        for (Index k = 0; k < x.cols(); ++k) {
            long double s = 0;
            for (Index j = 0; j < y.rows(); ++j) {
                const long double w = std::exp((long double)a(i) + b(j) - squared_distance(x, i, y, j) / (2.0L * h * h));
                s += w * ((long double)x(i, k) - y(j, k));
            }
            f(i, k) = double(s);
        }
    }
    return f;
}

double max_relative(const Eigen::Ref<const Eigen::MatrixXd>& a, const Eigen::Ref<const Eigen::MatrixXd>& b)
{
    return ((a - b).array().abs() / (1e-300 + b.array().abs().maxCoeff())).maxCoeff();
}

}  // namespace

TEST_CASE("gaussian row log-sums equal a long-double loop on both distance paths", "[kernel][gram]")
{
    for (Index d : {1, 3, 16}) {
        const RowMatrix<double> x = normal_sample(37, d, 1 + d), y = normal_sample(29, d, 2 + d, 1.5, 0.5);
        for (double h : {0.3, 1.0, 4.0}) {
            const VectorXd expected = reference_row_sums(x, y, h);
            for (auto path : {kernel::DistancePath::exact, kernel::DistancePath::expanded, kernel::DistancePath::automatic}) {
                const kernel::SamplePair<double> pair(x, y, path);
                CAPTURE(d, h, int(path));
                CHECK(((pair.log_row_sums(h) - expected).array().abs() / expected.array().abs().max(1.0)).maxCoeff() < 1e-13);
                // the transposed pair gives the column sums
                const VectorXd columns = reference_row_sums(y, x, h);
                CHECK(((pair.transposed().log_row_sums(h) - columns).array().abs() / columns.array().abs().max(1.0)).maxCoeff() < 1e-13);
                CHECK(pair.log_total(h) == Approx(kernel::SamplePair<double>::log_sum_exp(expected)).epsilon(1e-13));
            }
        }
    }
}

TEST_CASE("gaussian row log-sums with column log weights and -inf weights", "[kernel][gram]")
{
    const RowMatrix<double> x = normal_sample(11, 2, 5), y = normal_sample(13, 2, 6);
    VectorXd b = normal_sample(13, 1, 7).col(0);
    b(4) = -std::numeric_limits<double>::infinity();
    const kernel::SamplePair<double> pair(x, y);
    CHECK(((pair.log_row_sums(0.7, b) - reference_row_sums(x, y, 0.7, b)).array().abs()).maxCoeff() < 1e-13);
    const VectorXd none = VectorXd::Constant(13, -std::numeric_limits<double>::infinity());
    CHECK(pair.log_row_sums(0.7, none).maxCoeff() == -std::numeric_limits<double>::infinity());
}

TEST_CASE("forces equal a long-double loop and the gradient of the log total", "[kernel][gram]")
{
    for (Index d : {1, 2, 7}) {
        const RowMatrix<double> x = normal_sample(9, d, 10 + d), y = normal_sample(12, d, 20 + d);
        const VectorXd a = normal_sample(9, 1, 30 + d).col(0), b = normal_sample(12, 1, 40 + d).col(0);
        const kernel::SamplePair<double> pair(x, y);
        const double h = 0.8;
        CHECK(max_relative(pair.forces(h, a, b), reference_forces(x, y, h, a, b)) < 1e-13);
        // d/dx_i log sum_ij k = -F_i / h^2 with a = -L: central differences
        const double total = pair.log_total(h);
        const RowMatrix<double> gradient = -pair.forces(h, VectorXd::Constant(9, -total)) / (h * h);
        RowMatrix<double> xp = x;
        const double step = 1e-6;
        for (Index i = 0; i < x.rows(); ++i) {
            for (Index k = 0; k < d; ++k) {
                xp(i, k) = x(i, k) + step;
                const double up = kernel::log_gaussian_sum(xp, y, h);
                xp(i, k) = x(i, k) - step;
                const double down = kernel::log_gaussian_sum(xp, y, h);
                xp(i, k) = x(i, k);
                CHECK(gradient(i, k) == Approx((up - down) / (2 * step)).margin(1e-8).epsilon(1e-6));
            }
        }
    }
}

TEST_CASE("row log-sums and softmax forces in one pass, both paths, with weights", "[kernel][gram]")
{
    for (Index d : {2, 9}) {
        const RowMatrix<double> x = normal_sample(70, d, 90 + d), y = normal_sample(300, d, 95 + d, 1.2, 0.2);
        VectorXd b = normal_sample(300, 1, 99).col(0);
        b(7) = -std::numeric_limits<double>::infinity();
        for (auto path : {kernel::DistancePath::exact, kernel::DistancePath::expanded}) {
            const kernel::SamplePair<double> pair(x, y, path);
            for (double h : {0.05, 1.0}) {
                CAPTURE(d, int(path), h);
                RowMatrix<double> p;
                const VectorXd l = pair.log_row_sums_and_forces(h, p, b);
                const VectorXd expected = reference_row_sums(x, y, h, b);
                // expanded: the documented bound on an exponent, (d + 2) u (|x| + |y|)^2 / (2 h^2) (centered points)
                const double radius = x.rowwise().norm().maxCoeff() + y.rowwise().norm().maxCoeff() + 1.0;
                const double bound = path == kernel::DistancePath::exact ? 0.0 : double(d + 2) * 1.2e-16 * radius * radius / (2 * h * h);
                CHECK((l - expected).cwiseAbs().maxCoeff() < 1e-13 * expected.cwiseAbs().maxCoeff() + bound);
                // P_i = F_i with a_i = -l_i (the softmax weights of row i)
                const RowMatrix<double> f = reference_forces(x, y, h, -expected, b);
                CHECK((p - f).cwiseAbs().maxCoeff() < (1e-12 + 2 * bound) * (1.0 + f.cwiseAbs().maxCoeff()));
                CHECK(max_relative(pair.forces(h, -expected, b), f) < 1e-12 + 2 * bound);
            }
        }
    }
}

TEST_CASE("a tiny bandwidth gives large finite logarithms, never log 0 or NaN", "[kernel][gram]")
{
    const RowMatrix<double> x = normal_sample(20, 3, 50), y = normal_sample(25, 3, 51);
    for (double h : {1e-3, 1e-6}) {
        const VectorXd expected = reference_row_sums(x, y, h);
        const VectorXd got = kernel::SamplePair<double>(x, y).log_row_sums(h);
        CHECK(got.allFinite());
        CHECK(((got - expected).array().abs() / expected.array().abs()).maxCoeff() < 1e-12);
        const double total = kernel::log_gaussian_sum(x, y, h);
        const RowMatrix<double> f = kernel::SamplePair<double>(x, y).forces(h, VectorXd::Constant(20, -total));
        CHECK(f.allFinite());
    }
    // a sample with itself: the diagonal gives exactly log 1 per row at a vanishing bandwidth
    const VectorXd self = kernel::log_gaussian_row_sums(x, x, 1e-6);
    CHECK((self.array().abs()).maxCoeff() < 1e-12);
}

TEST_CASE("float samples: exponentials in float, row sums within 1e-6", "[kernel][gram]")
{
    const RowMatrix<double> x = normal_sample(40, 16, 60), y = normal_sample(50, 16, 61);
    const RowMatrix<float> xf = x.cast<float>(), yf = y.cast<float>();
    const VectorXd expected = reference_row_sums(xf.cast<double>(), yf.cast<double>(), 2.0);
    const VectorXd got = kernel::log_gaussian_row_sums(xf, yf, 2.0);
    CHECK(((got - expected).array().abs() / expected.array().abs().max(1.0)).maxCoeff() < 1e-6);
}

TEST_CASE("explicit squared distances and Gram matrix, clamped at 0", "[kernel][gram]")
{
    const RowMatrix<double> x = normal_sample(6, 20, 70, 1.0, 1e3), y = x;
    const RowMatrix<double> expanded = kernel::squared_distances(x, y, kernel::DistancePath::expanded);
    const RowMatrix<double> exact = kernel::squared_distances(x, y, kernel::DistancePath::exact);
    CHECK(expanded.minCoeff() >= 0.0);
    CHECK(exact.diagonal().cwiseAbs().maxCoeff() == 0.0);
    for (Index i = 0; i < 6; ++i)
        for (Index j = 0; j < 6; ++j) CHECK(exact(i, j) == Approx(double(squared_distance(x, i, y, j))).epsilon(1e-14));
    // the documented bound gamma_{d+2} (|x| + |y|)^2 on the centered points (here |x| <= ~10)
    CHECK((expanded - exact).cwiseAbs().maxCoeff() <= 22 * 1.2e-16 * 400.0);
    const RowMatrix<double> gram = kernel::SamplePair<double>(x, y).gram(5.0);
    CHECK(gram(0, 1) == Approx(std::exp(-exact(0, 1) / 50.0)).epsilon(1e-12));
}

TEST_CASE("gram errors name the argument and the problem", "[kernel][gram]")
{
    const RowMatrix<double> x = normal_sample(4, 2, 80), y3 = normal_sample(4, 3, 81), empty(0, 2);
    RowMatrix<double> bad = x;
    bad(2, 1) = std::numeric_limits<double>::quiet_NaN();
    test::fails_with([&] { kernel::log_gaussian_sum(x, y3, 1.0); }, "argument 'y'", "dimension 3", "dimension 2");
    test::fails_with([&] { kernel::log_gaussian_sum(empty, x, 1.0); }, "argument 'x'", "empty");
    test::fails_with([&] { kernel::log_gaussian_sum(x, bad, 1.0); }, "argument 'y'", "row 2", "column 1", "finite");
    test::fails_with([&] { kernel::log_gaussian_sum(x, x, 0.0); }, "argument 'bandwidth'", "> 0");
    test::fails_with([&] { kernel::log_gaussian_sum(x, x, -1.0); }, "argument 'bandwidth'", "> 0");
    test::fails_with([&] { kernel::log_gaussian_sum(x, x, 1e-170); }, "argument 'bandwidth'", "out of range");
    const kernel::SamplePair<double> pair(x, x);
    test::fails_with([&] { pair.forces(1.0, VectorXd::Zero(3)); }, "row_log_scale", "3 entries for 4 rows");
    test::fails_with([&] { pair.log_row_sums(1.0, VectorXd::Zero(5)); }, "column_log_weights", "5 entries");
    VectorXd nan_weight = VectorXd::Zero(4);
    nan_weight(1) = std::numeric_limits<double>::quiet_NaN();
    test::fails_with([&] { pair.log_row_sums(1.0, nan_weight); }, "column_log_weights", "row 1", "finite or -inf");
}

}  // namespace kernel_gram_test
