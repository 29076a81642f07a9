// The executor (core/executor.hpp): row sources, the one log-sum-exp, row weights, and results
// that do not depend on the number of threads.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "divergence/core/executor.hpp"
#include "divergence/discrete/entropy.hpp"
#include "divergence/discrete/kl.hpp"
#include "support/random.hpp"

namespace dv = divergence;

namespace {

/// Runs f with n threads (OpenMP), restoring the previous count.
template <class F>
auto with_threads(int n, const F& f)
{
#if defined(_OPENMP)
    const int before = omp_get_max_threads();
    omp_set_num_threads(n);
    auto result = f();
    omp_set_num_threads(before);
    return result;
#else
    (void)n;
    return f();
#endif
}

/// log sum_j exp(scale x_j) in long double, from the row's maximum.
template <class Row>
long double reference_logsumexp(const Row& x, long double scale)
{
    long double largest = -std::numeric_limits<long double>::infinity();
    for (Eigen::Index j = 0; j < x.size(); ++j) largest = std::max(largest, (long double)x[j] * scale);
    if (largest == -std::numeric_limits<long double>::infinity()) return largest;
    long double sum = 0;
    for (Eigen::Index j = 0; j < x.size(); ++j) sum += std::exp((long double)x[j] * scale - largest);
    return largest + std::log(sum);
}

/// A cost-like generated value: c(i, j) = (x_i - y_j)^2 on two 1-D point sets.
struct SquaredDistance {
    const std::vector<double>* x;
    const std::vector<double>* y;
    double operator()(Eigen::Index i, Eigen::Index j) const
    {
        const double d = (*x)[std::size_t(i)] - (*y)[std::size_t(j)];
        return -d * d;
    }
};

/// softmax of each row, computed in long double and rounded once.
template <class Scalar>
dv::RowMatrix<Scalar> softmax_rows(const dv::RowMatrix<Scalar>& z)
{
    dv::RowMatrix<Scalar> p(z.rows(), z.cols());
    for (Eigen::Index r = 0; r < z.rows(); ++r) {
        const long double lse = reference_logsumexp(z.row(r), 1.0L);
        for (Eigen::Index c = 0; c < z.cols(); ++c) p(r, c) = Scalar(std::exp((long double)z(r, c) - lse));
    }
    return p;
}

}  // namespace

TEMPLATE_TEST_CASE("row log-sum-exp over dense and generated rows: long-double reference, same bits either way, any thread count",
                   "[executor][logsumexp]", float, double)
{
    // 70000 columns: three chunks, so one row over 2 threads runs in chunk mode.
    const Eigen::Index rows = GENERATE(1, 5), cols = GENERATE(1, 1000, 70000);
    CAPTURE(rows, cols);
    std::vector<double> x(static_cast<std::size_t>(rows)), y(static_cast<std::size_t>(cols));
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(double(i)) * 3.0;
    for (std::size_t j = 0; j < y.size(); ++j) y[j] = std::cos(0.37 * double(j)) * 3.0;
    const SquaredDistance value{&x, &y};
    const auto generated = dv::detail::generated_rows<TestType>(rows, cols, value);
    dv::RowMatrix<TestType> dense(rows, cols);
    for (Eigen::Index i = 0; i < rows; ++i) {
        for (Eigen::Index j = 0; j < cols; ++j) dense(i, j) = TestType(value(i, j));
    }
    const Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> column_major = dense;
    const double scale = 1.0 / 0.7;

    const auto from_generated = with_threads(1, [&] { return dv::detail::row_logsumexp(generated, scale); });
    const auto from_generated_2 = with_threads(2, [&] { return dv::detail::row_logsumexp(generated, scale); });
    const auto from_dense = with_threads(2, [&] {
        return dv::detail::row_logsumexp(dv::detail::view_of<const TestType>(dense), scale);
    });
    const auto from_column_major = with_threads(2, [&] {
        return dv::detail::row_logsumexp(dv::detail::view_of<const TestType>(column_major), scale);
    });
    for (Eigen::Index i = 0; i < rows; ++i) {
        const std::size_t k = std::size_t(i);
        CHECK(from_generated[k] == from_generated_2[k]);
        CHECK(from_generated[k] == from_dense[k]);
        CHECK(from_generated[k] == from_column_major[k]);
        // The entries are the rounded values, so the reference reads the same matrix; the vector exp
        // (2 ulp of the input type) and the block sums bound the error by a few eps of the type.
        const long double expected = reference_logsumexp(dense.row(i), scale);
        const double eps = double(std::numeric_limits<TestType>::epsilon());
        CHECK(std::abs(from_generated[k] - double(expected)) <= 8 * eps * (1.0 + std::abs(double(expected))));
    }
}

TEST_CASE("row log-sum-exp of a row of -inf is -inf", "[executor][logsumexp]")
{
    dv::RowMatrix<double> x(2, 3);
    x << -std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity(), 0.0, std::log(2.0), -std::numeric_limits<double>::infinity();
    const auto out = dv::detail::row_logsumexp(dv::detail::view_of<const double>(x));
    CHECK(out[0] == -std::numeric_limits<double>::infinity());
    CHECK(out[1] == Approx(std::log(3.0)).epsilon(1e-15));
}

TEMPLATE_TEST_CASE("row weights: the reduction counts row r w_r times and its gradients scale by w_r, on both paths",
                   "[executor][weights]", float, double)
{
    const Eigen::Index rows = 6, cols = GENERATE(7, 3000);
    CAPTURE(cols);
    const dv::RowMatrix<TestType> zp = test::random_logits(rows, cols, 11, 4.0).cast<TestType>();
    const dv::RowMatrix<TestType> zq = test::random_logits(rows, cols, 12, 4.0).cast<TestType>();
    Eigen::Matrix<TestType, Eigen::Dynamic, 1> weights(rows);
    weights << TestType(0.5), TestType(2.0), TestType(0.0), TestType(1.0), TestType(3.25), TestType(1e-3);
    const bool logits = GENERATE(true, false);  // the fused path, or the reference path on probabilities
    CAPTURE(logits);
    const dv::RowMatrix<TestType> pp = softmax_rows(zp), pq = softmax_rows(zq);
    const auto call = [&](const dv::Options& options, const dv::Outputs<TestType>& out) {
        return logits ? dv::kl(dv::logits(zp), dv::logits(zq), options, out) : dv::kl(dv::probs(pp), dv::probs(pq), options, out);
    };

    // Reference: per-row KL in long double, weighted, divided as `mean` divides (kept rows).
    long double expected = 0;
    for (Eigen::Index r = 0; r < rows; ++r) {
        long double row = 0;
        for (Eigen::Index c = 0; c < cols; ++c) {
            const long double a = pp(r, c), b = pq(r, c);
            row += a * std::log(a / b);
        }
        expected += (long double)weights[r] * row;
    }
    expected /= rows;

    dv::Options plain{dv::Reduction::mean};
    dv::Options weighted = plain;
    weighted.weights = weights;
    dv::RowMatrix<TestType> grad_plain(rows, cols), grad_weighted(rows, cols);
    dv::Outputs<TestType> out_plain, out_weighted;
    out_plain.grad_q = grad_plain;
    out_weighted.grad_q = grad_weighted;
    call(plain, out_plain);
    const double value = double(call(weighted, out_weighted));
    const double eps = double(std::numeric_limits<TestType>::epsilon());
    CHECK(std::abs(value - double(expected)) <= 16 * eps * std::abs(double(expected)));
    for (Eigen::Index r = 0; r < rows; ++r) {
        for (Eigen::Index c = 0; c < cols; ++c) {
            const double g = double(grad_plain(r, c)) * double(weights[r]);
            CHECK(std::abs(double(grad_weighted(r, c)) - g) <= 4 * eps * std::abs(g) + 1e-30);
        }
    }
    // Thread count does not change the bits, weights included.
    const auto twice = [&](int threads) {
        return with_threads(threads, [&] {
            dv::RowMatrix<TestType> g(rows, cols);
            dv::Outputs<TestType> o;
            o.grad_q = g;
            const TestType v = call(weighted, o);
            return std::make_pair(v, g);
        });
    };
    const auto one = twice(1), two = twice(2);
    CHECK(one.first == two.first);
    CHECK(one.second == two.second);
}

TEST_CASE("a zero weight drops a row whose value is infinite (no NaN) and zeroes its gradient", "[executor][weights]")
{
    dv::RowMatrix<double> p(2, 2), q(2, 2);
    p << 0.5, 0.5, 0.25, 0.75;
    q << 1.0, 0.0, 0.5, 0.5;  // row 0: KL = +inf (support mismatch)
    Eigen::VectorXd weights(2);
    weights << 0.0, 2.0;
    dv::Options options{dv::Reduction::sum};
    options.weights = weights;
    dv::RowMatrix<double> grad(2, 2);
    dv::Outputs<double> out;
    out.grad_p = grad;
    const double value = dv::kl(p, q, options, out);
    const double row1 = 0.25 * std::log(0.5) + 0.75 * std::log(1.5);
    CHECK(value == Approx(2.0 * row1).epsilon(1e-14));
    CHECK(grad(0, 0) == 0.0);
    CHECK(grad(0, 1) == 0.0);
    CHECK(grad(1, 0) == Approx(2.0 * (std::log(0.5) + 1.0)).epsilon(1e-14));
}

TEST_CASE("row weights: wrong size, negative, NaN or infinite weights are rejected naming options.weights", "[executor][weights][errors]")
{
    const dv::RowMatrix<double> p = test::random_simplex_rows(3, 4, 1), q = test::random_simplex_rows(3, 4, 2);
    const auto fails_with = [&](const Eigen::VectorXd& w, const std::string& what) {
        dv::Options options;
        options.weights = w;
        try {
            dv::kl(p, q, options);
            FAIL("no exception");
        } catch (const std::invalid_argument& e) {
            const std::string message = e.what();
            CHECK(message.find("options.weights") != std::string::npos);
            CHECK(message.find(what) != std::string::npos);
        }
    };
    fails_with(Eigen::VectorXd::Ones(2), "2 entries for 3 rows");
    Eigen::VectorXd w = Eigen::VectorXd::Ones(3);
    w[1] = -1.0;
    fails_with(w, "row 1");
    w[1] = std::numeric_limits<double>::quiet_NaN();
    fails_with(w, "finite and >= 0");
    w[1] = std::numeric_limits<double>::infinity();
    fails_with(w, "finite and >= 0");
}

TEST_CASE("row weights and masks bind to named vectors, never to temporaries", "[executor][weights]")
{
    static_assert(std::is_constructible_v<dv::RowWeights, Eigen::VectorXd&>);
    static_assert(std::is_constructible_v<dv::RowWeights, const Eigen::VectorXf&>);
    static_assert(!std::is_constructible_v<dv::RowWeights, Eigen::VectorXd&&>,
                  "a temporary vector would dangle");
    static_assert(!std::is_constructible_v<dv::RowMask, Eigen::Array<bool, Eigen::Dynamic, 1>&&>,
                  "a temporary mask would dangle");
    SUCCEED();
}
