// The executor (core/executor.hpp): row sources, the one log-sum-exp, row weights, and results
// that do not depend on the number of threads.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <unsupported/Eigen/CXX11/Tensor>

#include "divergence/core/executor.hpp"
#include "divergence/discrete/entropy.hpp"
#include "divergence/discrete/kl.hpp"
#include "support/errors.hpp"
#include "support/random.hpp"
#include "support/threads.hpp"

namespace core_executor_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;

namespace {

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

    const auto from_generated = test::with_threads(1, [&] { return dv::detail::row_logsumexp(generated, scale); });
    const auto from_generated_2 = test::with_threads(2, [&] { return dv::detail::row_logsumexp(generated, scale); });
    const auto from_dense = test::with_threads(2, [&] {
        return dv::detail::row_logsumexp(dv::detail::view_of<const TestType>(dense), scale);
    });
    const auto from_column_major = test::with_threads(2, [&] {
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
        return test::with_threads(threads, [&] {
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
    const auto kl_weighted = [&](const Eigen::VectorXd& w) {
        dv::Options options;
        options.weights = w;
        return dv::kl(p, q, options);
    };
    const Eigen::VectorXd two = Eigen::VectorXd::Ones(2);
    test::fails_with([&] { return kl_weighted(two); }, "options.weights", "2 entries for 3 rows");
    Eigen::VectorXd w = Eigen::VectorXd::Ones(3);
    w[1] = -1.0;
    test::fails_with([&] { return kl_weighted(w); }, "options.weights", "row 1");
    w[1] = std::numeric_limits<double>::quiet_NaN();
    test::fails_with([&] { return kl_weighted(w); }, "options.weights", "finite and >= 0");
    w[1] = std::numeric_limits<double>::infinity();
    test::fails_with([&] { return kl_weighted(w); }, "options.weights", "finite and >= 0");
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

TEMPLATE_TEST_CASE("tensor inputs (batch x sequence x vocabulary) are read in place: the bits of the same rows as a matrix, any layout, any thread count",
                   "[executor][tensor]", float, double)
{
    const Eigen::Index batch = 3, sequence = 4, vocabulary = GENERATE(5, 2000);
    CAPTURE(vocabulary);
    const Eigen::Index rows = batch * sequence;
    const dv::RowMatrix<TestType> zp = test::random_logits(rows, vocabulary, 21, 5.0).cast<TestType>();
    const dv::RowMatrix<TestType> zq = test::random_logits(rows, vocabulary, 22, 5.0).cast<TestType>();
    // The same numbers as tensors: row-major row b S + s, column-major (Eigen's default) row b + B s.
    Eigen::Tensor<TestType, 3, Eigen::RowMajor> tp_row(batch, sequence, vocabulary), tq_row(batch, sequence, vocabulary);
    Eigen::Tensor<TestType, 3> tp_col(batch, sequence, vocabulary), tq_col(batch, sequence, vocabulary);
    dv::RowMatrix<TestType> zp_col(rows, vocabulary), zq_col(rows, vocabulary);  // rows in column-major order
    for (Eigen::Index b = 0; b < batch; ++b) {
        for (Eigen::Index s = 0; s < sequence; ++s) {
            for (Eigen::Index v = 0; v < vocabulary; ++v) {
                tp_row(b, s, v) = zp(b * sequence + s, v);
                tq_row(b, s, v) = zq(b * sequence + s, v);
                tp_col(b, s, v) = zp(b * sequence + s, v);
                tq_col(b, s, v) = zq(b * sequence + s, v);
                zp_col(b + batch * s, v) = zp(b * sequence + s, v);
                zq_col(b + batch * s, v) = zq(b * sequence + s, v);
            }
        }
    }
    const dv::Options options{dv::Reduction::sum};
    const auto run = [&](const auto& p, const auto& q, auto& grad, int threads) {
        return test::with_threads(threads, [&] {
            dv::Outputs<TestType> out;
            out.grad_q = grad;
            return dv::kl(dv::logits(p, 1.5), dv::logits(q, 1.5), options, out);
        });
    };
    dv::RowMatrix<TestType> g_matrix(rows, vocabulary), g_matrix_col(rows, vocabulary);
    const TestType expected = run(zp, zq, g_matrix, 1);
    const TestType expected_col = run(zp_col, zq_col, g_matrix_col, 1);
    for (int threads : {1, 2}) {
        Eigen::Tensor<TestType, 3, Eigen::RowMajor> g_row(batch, sequence, vocabulary);
        Eigen::Tensor<TestType, 3> g_col(batch, sequence, vocabulary);
        CHECK(run(tp_row, tq_row, g_row, threads) == expected);
        CHECK(run(tp_col, tq_col, g_col, threads) == expected_col);
        bool same_row = true, same_col = true;
        for (Eigen::Index b = 0; b < batch; ++b) {
            for (Eigen::Index s = 0; s < sequence; ++s) {
                for (Eigen::Index v = 0; v < vocabulary; ++v) {
                    same_row = same_row && g_row(b, s, v) == g_matrix(b * sequence + s, v);
                    same_col = same_col && g_col(b, s, v) == g_matrix_col(b + batch * s, v);
                }
            }
        }
        CHECK(same_row);
        CHECK(same_col);
    }
    // A TensorMap over the matrix's memory, and per-row values in the tensor's row order.
    const Eigen::TensorMap<const Eigen::Tensor<TestType, 3, Eigen::RowMajor>> mp(zp.data(), batch, sequence, vocabulary);
    const Eigen::TensorMap<const Eigen::Tensor<TestType, 3, Eigen::RowMajor>> mq(zq.data(), batch, sequence, vocabulary);
    const auto rows_of_map = dv::kl_rows(dv::logits(mp), dv::logits(mq), options);
    const auto rows_of_matrix = dv::kl_rows(dv::logits(zp), dv::logits(zq), options);
    CHECK(rows_of_map.size() == rows);
    CHECK((rows_of_map == rows_of_matrix).all());
}

TEST_CASE("bare tensors are probabilities, like bare matrices, and a rank-1 tensor is one distribution", "[executor][tensor]")
{
    Eigen::Tensor<double, 1> p(3), q(3);
    p.setValues({0.2, 0.3, 0.5});
    q.setValues({0.4, 0.4, 0.2});
    long double expected = 0;
    for (int i = 0; i < 3; ++i) expected += (long double)p(i) * std::log((long double)p(i) / q(i));
    CHECK(dv::kl(p, q) == Approx(double(expected)).epsilon(1e-15));
    Eigen::Tensor<double, 2, Eigen::RowMajor> p2(2, 3), q2(2, 3);
    p2.setValues({{0.2, 0.3, 0.5}, {0.2, 0.3, 0.5}});
    q2.setValues({{0.4, 0.4, 0.2}, {0.4, 0.4, 0.2}});
    CHECK(dv::kl(p2, q2, dv::Options{dv::Reduction::sum}) == Approx(2 * double(expected)).epsilon(1e-15));
}

TEST_CASE("logit validation on the executor: a long row checked by chunks is judged as a whole, for any thread count",
          "[executor][validation]")
{
    // 70000 columns (3 chunks): one row runs in chunk mode on 2 threads. The first chunk is all -inf,
    // which is valid as long as some other entry is finite; a NaN in the last chunk is found.
    dv::RowMatrix<float> z = dv::RowMatrix<float>::Constant(1, 70000, -std::numeric_limits<float>::infinity());
    z(0, 69000) = 1.0f;
    z(0, 50000) = -3.0f;
    const dv::RowMatrix<float> other = dv::RowMatrix<float>::Zero(1, 70000);
    for (int threads : {1, 2}) {
        CAPTURE(threads);
        const double value = test::with_threads(threads, [&] { return double(dv::kl(dv::logits(other), dv::logits(z))); });
        CHECK(value == std::numeric_limits<double>::infinity());  // q = 0 where p > 0
        dv::RowMatrix<float> bad = z;
        bad(0, 69999) = std::numeric_limits<float>::quiet_NaN();
        test::fails_with([&] { return test::with_threads(threads, [&] { return dv::kl(dv::logits(other), dv::logits(bad)); }); },
                         "column 69999");
    }
}

}  // namespace core_executor_test
