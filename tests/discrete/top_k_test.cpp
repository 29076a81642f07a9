// Top-k teachers (discrete/top_k.hpp): KL(teacher || student) from k (column, probability) pairs per
// row, with and without the tail bucket, against long-double references, the dense KL, finite
// differences, and across thread counts.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "divergence/discrete/kl.hpp"
#include "divergence/discrete/top_k.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/threads.hpp"

namespace dv = divergence;

namespace {

using Indices = Eigen::Matrix<int, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// k distinct random columns per row (in random order) and teacher probabilities for them summing to
/// `mass` (< 1 leaves a tail).
struct Teacher {
    Indices indices;
    dv::RowMatrix<double> probs;
};

Teacher random_teacher(Eigen::Index rows, Eigen::Index cols, Eigen::Index k, double mass, std::uint64_t seed)
{
    std::mt19937_64 rng(seed);
    Teacher t{Indices(rows, k), dv::RowMatrix<double>(rows, k)};
    const dv::RowMatrix<double> p = test::random_simplex_rows(rows, k, seed + 1);
    std::vector<int> columns(static_cast<std::size_t>(cols));
    for (Eigen::Index r = 0; r < rows; ++r) {
        std::iota(columns.begin(), columns.end(), 0);
        std::shuffle(columns.begin(), columns.end(), rng);
        for (Eigen::Index i = 0; i < k; ++i) {
            t.indices(r, i) = columns[std::size_t(i)];
            t.probs(r, i) = mass * p(r, i);
        }
    }
    return t;
}

/// The bucket KL in long double: sum_K p (log p - log q) + r (log r - log q_rest), r = 1 - sum_K p.
long double reference_row(const Teacher& t, const dv::RowMatrix<double>& z, double temperature, Eigen::Index r, bool tail)
{
    const Eigen::Index cols = z.cols();
    long double largest = -std::numeric_limits<long double>::infinity();
    for (Eigen::Index c = 0; c < cols; ++c) largest = std::max(largest, (long double)z(r, c) / temperature);
    long double sum = 0;
    for (Eigen::Index c = 0; c < cols; ++c) sum += std::exp((long double)z(r, c) / temperature - largest);
    const long double log_sum = largest + std::log(sum);
    long double value = 0, mass = 0, q_k = 0;
    for (Eigen::Index i = 0; i < t.indices.cols(); ++i) {
        const long double p = t.probs(r, i), log_q = (long double)z(r, t.indices(r, i)) / temperature - log_sum;
        mass += p;
        q_k += std::exp(log_q);
        if (p > 0) value += p * (std::log(p) - log_q);
    }
    if (tail) {
        const long double rest = 1 - mass;
        long double q_rest = 0;  // summed over the columns outside K, not as 1 - q_k
        std::vector<bool> in_k(static_cast<std::size_t>(cols), false);
        for (Eigen::Index i = 0; i < t.indices.cols(); ++i) in_k[std::size_t(t.indices(r, i))] = true;
        for (Eigen::Index c = 0; c < cols; ++c) {
            if (!in_k[std::size_t(c)]) q_rest += std::exp((long double)z(r, c) / temperature - log_sum);
        }
        if (rest > 0) value += rest * (std::log(rest) - std::log(q_rest));
    }
    return value;
}

}  // namespace

TEST_CASE("top-k kl equals the long-double bucket formula, per row and reduced, with and without the tail", "[top_k][kl]")
{
    const Eigen::Index rows = 4, cols = GENERATE(8, 1000), k = GENERATE(1, 5);
    const double mass = GENERATE(1.0, 0.7);
    const bool tail = GENERATE(true, false);
    CAPTURE(cols, k, mass, tail);
    const Teacher t = random_teacher(rows, cols, k, mass, 7);
    const dv::RowMatrix<double> z = test::random_logits(rows, cols, 8, 4.0);
    const double temperature = 1.7;
    const dv::Options options{dv::Reduction::sum};
    dv::Outputs<double> out;
    Eigen::VectorXd per_row(rows);
    out.row_values = per_row;
    const double value = dv::kl(dv::top_k(t.indices, dv::probs(t.probs), tail), dv::logits(z, temperature), options, out);
    long double expected = 0;
    for (Eigen::Index r = 0; r < rows; ++r) {
        const long double row = reference_row(t, z, temperature, r, tail);
        expected += row;
        CHECK(per_row[r] == Approx(double(row)).epsilon(1e-12).margin(1e-14));
    }
    CHECK(value == Approx(double(expected)).epsilon(1e-12).margin(1e-14));
    // Log-probabilities give the same numbers.
    const dv::RowMatrix<double> log_p = t.probs.array().log().matrix();
    CHECK(dv::kl(dv::top_k(t.indices, dv::log_probs(log_p), tail), dv::logits(z, temperature), options) ==
          Approx(value).epsilon(1e-13).margin(1e-15));
}

TEST_CASE("top-k kl with every column in K is the dense kl, value and gradient", "[top_k][kl]")
{
    const Eigen::Index rows = 3, cols = 50;
    const Teacher t = random_teacher(rows, cols, cols, 1.0, 31);  // all columns, shuffled
    dv::RowMatrix<double> dense(rows, cols);
    for (Eigen::Index r = 0; r < rows; ++r) {
        for (Eigen::Index i = 0; i < cols; ++i) dense(r, t.indices(r, i)) = t.probs(r, i);
    }
    const dv::RowMatrix<double> z = test::random_logits(rows, cols, 32, 3.0);
    dv::RowMatrix<double> g_sparse(rows, cols), g_dense(rows, cols);
    dv::Outputs<double> sparse_out, dense_out;
    sparse_out.grad_q = g_sparse;
    dense_out.grad_q = g_dense;
    const double sparse = dv::kl(dv::top_k(t.indices, dv::probs(t.probs)), dv::logits(z, 0.8), {}, sparse_out);
    const double full = dv::kl(dv::probs(dense), dv::logits(z, 0.8), {}, dense_out);
    CHECK(sparse == Approx(full).epsilon(1e-13));
    CHECK(test::close(g_sparse, g_dense, 1e-12, 1e-15));
}

TEST_CASE("top-k kl with the tail equals the dense kl of a teacher that spreads its tail like the student (chain rule of KL)",
          "[top_k][kl]")
{
    // KL(P || Q) = KL over the buckets + sum over buckets of P(bucket) KL(P(.|bucket) || Q(.|bucket)); the
    // second term is 0 when p_j = r q_j / q_rest outside K, so the dense KL equals the bucket KL.
    const Eigen::Index rows = 2, cols = 300, k = 10;
    const Teacher t = random_teacher(rows, cols, k, 0.6, 41);
    const dv::RowMatrix<double> z = test::random_logits(rows, cols, 42, 3.0);
    const double temperature = 1.3;
    dv::RowMatrix<double> dense(rows, cols);
    for (Eigen::Index r = 0; r < rows; ++r) {
        Eigen::ArrayXd q = (z.row(r).array() / temperature).exp();
        q /= q.sum();
        std::vector<bool> in_k(static_cast<std::size_t>(cols), false);
        double q_rest = 0;
        for (Eigen::Index i = 0; i < k; ++i) in_k[std::size_t(t.indices(r, i))] = true;
        for (Eigen::Index c = 0; c < cols; ++c) q_rest += in_k[std::size_t(c)] ? 0.0 : q[c];
        for (Eigen::Index c = 0; c < cols; ++c) dense(r, c) = in_k[std::size_t(c)] ? 0.0 : 0.4 * q[c] / q_rest;
        for (Eigen::Index i = 0; i < k; ++i) dense(r, t.indices(r, i)) = t.probs(r, i);
    }
    const double sparse = dv::kl(dv::top_k(t.indices, t.probs), dv::logits(z, temperature));
    const double full = dv::kl(dv::probs(dense), dv::logits(z, temperature));
    CHECK(sparse == Approx(full).epsilon(1e-12));
}

TEST_CASE("top-k kl: the student gradient matches central finite differences", "[top_k][kl][gradient]")
{
    const bool tail = GENERATE(true, false);
    CAPTURE(tail);
    const Eigen::Index rows = 2, cols = 12, k = 4;
    const Teacher t = random_teacher(rows, cols, k, 0.8, 51);
    const dv::RowMatrix<double> z = test::random_logits(rows, cols, 52, 2.0);
    const dv::Options options{dv::Reduction::batchmean};
    dv::RowMatrix<double> grad(rows, cols);
    dv::Outputs<double> out;
    out.grad_q = grad;
    dv::kl(dv::top_k(t.indices, t.probs, tail), dv::logits(z, 1.4), options, out);
    const auto f = [&](const dv::RowMatrix<double>& x) { return dv::kl(dv::top_k(t.indices, t.probs, tail), dv::logits(x, 1.4), options); };
    CHECK(test::close(grad, test::central_difference(z, f), 1e-6, 1e-9));
}

TEMPLATE_TEST_CASE("top-k kl is bitwise identical for 1 and 2 threads (row mode and chunk mode), any student layout, with weights",
                   "[top_k][kl][executor]", float, double)
{
    const Eigen::Index rows = GENERATE(1, 5), cols = GENERATE(100, 70000);
    CAPTURE(rows, cols);
    const Teacher t = random_teacher(rows, cols, 20, 0.9, 61);
    const dv::RowMatrix<TestType> probs = t.probs.cast<TestType>();
    const dv::RowMatrix<TestType> z = test::random_logits(rows, cols, 62, 5.0).cast<TestType>();
    const Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> z_column_major = z;
    Eigen::VectorXd weights = Eigen::VectorXd::LinSpaced(rows, 0.5, 2.0);
    dv::Options options{dv::Reduction::mean};
    options.weights = weights;
    const auto run = [&](int threads, bool column_major) {
        return test::with_threads(threads, [&] {
            dv::RowMatrix<TestType> g(rows, cols);
            Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> g_column_major(rows, cols);
            dv::Outputs<TestType> out;
            TestType v;
            if (column_major) {
                out.grad_q = g_column_major;
                v = dv::kl(dv::top_k(t.indices, probs), dv::logits(z_column_major, 2.0), options, out);
                g = g_column_major;
            } else {
                out.grad_q = g;
                v = dv::kl(dv::top_k(t.indices, probs), dv::logits(z, 2.0), options, out);
            }
            return std::make_pair(v, g);
        });
    };
    const auto one = run(1, false), two = run(2, false), staged = run(2, true);
    CHECK(one.first == two.first);
    CHECK(one.second == two.second);
    CHECK(one.first == staged.first);
    CHECK(one.second == staged.second);
    CHECK(std::isfinite(double(one.first)));
}

TEST_CASE("top-k kl: bad indices, masses, shapes and forms are rejected with the argument and row named", "[top_k][errors]")
{
    const Teacher t = random_teacher(2, 10, 3, 0.9, 71);
    const dv::RowMatrix<double> z = test::random_logits(2, 10, 72, 1.0);
    Indices out_of_range = t.indices;
    out_of_range(1, 2) = 10;
    test::fails_with([&] { return dv::kl(dv::top_k(out_of_range, t.probs), dv::logits(z)); }, "row 1, column 2: index out of [0, V)");
    Indices repeated = t.indices;
    repeated(0, 1) = repeated(0, 0);
    test::fails_with([&] { return dv::kl(dv::top_k(repeated, t.probs), dv::logits(z)); }, "an index appears twice");
    dv::RowMatrix<double> too_much = t.probs * 2.0;
    test::fails_with([&] { return dv::kl(dv::top_k(t.indices, too_much), dv::logits(z)); }, "the top-k masses sum to");
    test::fails_with([&] { return dv::kl(dv::top_k(t.indices, t.probs), dv::probs(z)); }, "the student must be given as logits");
    const dv::RowMatrix<double> z_short = test::random_logits(3, 10, 73, 1.0);
    test::fails_with([&] { return dv::kl(dv::top_k(t.indices, t.probs), dv::logits(z_short)); }, "rows");
    // A NaN tolerance is named as such, before it is used on the masses (it used to reject every one).
    dv::Options nan_tolerance;
    nan_tolerance.tolerance = std::numeric_limits<double>::quiet_NaN();
    test::fails_with([&] { return dv::kl(dv::top_k(t.indices, t.probs), dv::logits(z), nan_tolerance); }, "options.tolerance",
                     "must be finite");
}

TEST_CASE("top-k kl: a student with no mass outside K and a teacher tail is +inf, with zero gradients, never NaN", "[top_k][kl]")
{
    // Every column outside K has logit -inf: q_rest = 0 while the teacher's tail is 0.5.
    Indices indices(1, 2);
    indices << 0, 1;
    dv::RowMatrix<double> p(1, 2), z(1, 4), grad(1, 4);
    p << 0.25, 0.25;
    z << 0.0, 1.0, -std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity();
    dv::Outputs<double> out;
    out.grad_q = grad;
    CHECK(dv::kl(dv::top_k(indices, p), dv::logits(z), {}, out) == std::numeric_limits<double>::infinity());
    CHECK(grad.allFinite());
    // Without the tail the same rows are finite.
    CHECK(std::isfinite(dv::kl(dv::top_k(indices, p, false), dv::logits(z))));
}
