// Per-token losses from class indices (losses/token.hpp): cross_entropy(labels(y, eps), model) and
// token_log_probs against a long-double log-softmax, PyTorch's cross_entropy (golden values from
// tests/reference/make_token_reference.py), central differences, thread counts and every error.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "divergence/discrete/entropy.hpp"
#include "divergence/losses/token.hpp"
#include "reference/token_reference_values.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/threads.hpp"

namespace losses_token_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;

namespace {

using Row = dv::RowMatrix<double>;

/// log softmax(z_r / T) in long double.
std::vector<long double> log_softmax(const Row& z, Eigen::Index r, double temperature)
{
    long double largest = -std::numeric_limits<long double>::infinity();
    for (Eigen::Index c = 0; c < z.cols(); ++c) largest = std::max(largest, (long double)z(r, c) / temperature);
    long double sum = 0;
    for (Eigen::Index c = 0; c < z.cols(); ++c) sum += std::exp((long double)z(r, c) / temperature - largest);
    std::vector<long double> out(static_cast<std::size_t>(z.cols()));
    for (Eigen::Index c = 0; c < z.cols(); ++c) out[std::size_t(c)] = (long double)z(r, c) / temperature - largest - std::log(sum);
    return out;
}

/// -sum_j t_j log q_j with t the smoothed one-hot of y.
long double reference_cross_entropy(const Row& z, Eigen::Index r, double temperature, long long y, double eps)
{
    const std::vector<long double> log_q = log_softmax(z, r, temperature);
    const long double v = (long double)z.cols();
    long double s = 0;
    for (Eigen::Index c = 0; c < z.cols(); ++c) {
        const long double t = (c == y ? 1.0L - eps : 0.0L) + eps / v;
        s -= t * log_q[std::size_t(c)];
    }
    return s;
}

Eigen::VectorXi random_labels(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed)
{
    const Row u = test::random_logits(rows, 1, seed, 1.0);
    Eigen::VectorXi y(rows);
    for (Eigen::Index r = 0; r < rows; ++r) y(r) = int(std::floor((u(r, 0) + 1.0) / 2.0 * double(cols) * 0.999));
    return y;
}

}  // namespace

TEST_CASE("cross_entropy from labels matches -sum_j t_j log softmax(z / T)_j in long double", "[token][reference]")
{
    const auto v = GENERATE(1, 2, 7, 100, 3000);
    const auto eps = GENERATE(0.0, 0.1, 1.0);
    const auto temperature = GENERATE(1.0, 0.7);
    CAPTURE(v, eps, temperature);
    const Eigen::Index b = 6;
    const Row z = test::random_logits(b, v, 17 + std::uint64_t(v), 4.0);
    Eigen::VectorXi y = random_labels(b, v, 3);
    y(2) = -100;
    const dv::RowValues<double> rows = dv::cross_entropy_rows(dv::labels(y, eps), dv::logits(z, temperature));
    long double sum = 0;
    for (Eigen::Index r = 0; r < b; ++r) {
        if (y(r) == -100) {
            CHECK(rows(r) == 0.0);
            continue;
        }
        const long double expected = reference_cross_entropy(z, r, temperature, y(r), eps);
        sum += expected;
        CHECK(rows(r) == Approx(double(expected)).epsilon(1e-13).margin(1e-14));
    }
    CHECK(dv::cross_entropy(dv::labels(y, eps), dv::logits(z, temperature)) == Approx(double(sum / 5)).epsilon(1e-13).margin(1e-14));
    CHECK(dv::cross_entropy(dv::labels(y, eps), dv::logits(z, temperature), {dv::Reduction::sum}) ==
          Approx(double(sum)).epsilon(1e-13).margin(1e-14));
    CHECK(dv::cross_entropy(dv::labels(y, eps), dv::logits(z, temperature), {dv::Reduction::batchmean}) ==
          Approx(double(sum / 6)).epsilon(1e-13).margin(1e-14));
    // float logits: within float's rounding of the logits' scaling.
    const dv::RowMatrix<float> zf = z.cast<float>();
    const dv::RowValues<float> rows_f = dv::cross_entropy_rows(dv::labels(y, eps), dv::logits(zf, temperature));
    for (Eigen::Index r = 0; r < b; ++r) CHECK(rows_f(r) == Approx(rows(r)).epsilon(1e-5).margin(1e-5));
}

TEST_CASE("cross_entropy from labels agrees with PyTorch's cross_entropy (ignore_index, label_smoothing, mean, sum, none)",
          "[token][pytorch]")
{
    for (const auto& c : token_reference_values::cross_entropy_cases) {
        CAPTURE(c.name);
        const Row z = Eigen::Map<const Row>(c.logits.data(), c.rows, c.cols);
        Eigen::Matrix<long long, Eigen::Dynamic, 1> y(c.rows);
        for (int r = 0; r < c.rows; ++r) y(r) = c.labels[std::size_t(r)];
        const auto target = dv::labels(y, c.label_smoothing);
        const auto model = dv::logits(z, c.temperature);
        Row grad(c.rows, c.cols);
        dv::Outputs<double> out;
        out.grad_q = grad;
        CHECK(dv::cross_entropy(target, model, {dv::Reduction::mean}, out) == Approx(c.mean).epsilon(1e-12));
        const Row expected_mean = Eigen::Map<const Row>(c.grad_mean.data(), c.rows, c.cols);
        CHECK(test::close(grad, expected_mean, 1e-12, 1e-15));
        CHECK(dv::cross_entropy(target, model, {dv::Reduction::sum}, out) == Approx(c.sum).epsilon(1e-12));
        const Row expected_sum = Eigen::Map<const Row>(c.grad_sum.data(), c.rows, c.cols);
        CHECK(test::close(grad, expected_sum, 1e-12, 1e-15));
        const dv::RowValues<double> none = dv::cross_entropy_rows(target, model, {dv::Reduction::none}, out);
        for (int r = 0; r < c.rows; ++r) CHECK(none(r) == Approx(c.none[std::size_t(r)]).epsilon(1e-12));
        CHECK(test::close(grad, expected_sum, 1e-12, 1e-15));  // none: each row's own gradient
    }
}

TEST_CASE("Gradients of cross_entropy and token_log_probs against central differences", "[token][gradient]")
{
    const auto eps = GENERATE(0.0, 0.2, 1.0);
    const auto reduction = GENERATE(dv::Reduction::mean, dv::Reduction::sum, dv::Reduction::batchmean);
    CAPTURE(eps, int(reduction));
    const Eigen::Index b = 5, v = 9;
    const Row z = test::random_logits(b, v, 23, 3.0);
    Eigen::VectorXi y = random_labels(b, v, 4);
    y(1) = -100;
    Eigen::Array<bool, Eigen::Dynamic, 1> keep = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(b, true);
    keep(3) = false;
    const Eigen::VectorXd w = (Eigen::VectorXd(b) << 0.5, 1.0, 2.0, 1.0, 0.0).finished();
    dv::Options options{reduction};
    options.mask = keep;
    options.weights = w;
    const double temperature = 1.3;
    Row grad(b, v);
    dv::Outputs<double> out;
    out.grad_q = grad;
    dv::cross_entropy(dv::labels(y, eps), dv::logits(z, temperature), options, out);
    const Row numeric = test::central_difference(
        z, [&](const Row& x) { return dv::cross_entropy(dv::labels(y, eps), dv::logits(x, temperature), options); });
    CHECK(test::close(grad, numeric, 1e-6, 1e-9));
    for (Eigen::Index r : {1, 3, 4}) CHECK(grad.row(r).isZero(0.0));  // ignored, masked, weight 0
    if (eps == 0.0) {
        const dv::RowValues<double> log_q = dv::token_log_probs(dv::labels(y), dv::logits(z, temperature), options, out);
        const Row numeric_log_q = test::central_difference(z, [&](const Row& x) {
            const dv::RowValues<double> l = dv::token_log_probs(dv::labels(y), dv::logits(x, temperature));
            double s = 0;
            const double scale = reduction == dv::Reduction::mean ? 1.0 / 3.0 : reduction == dv::Reduction::batchmean ? 1.0 / 5.0 : 1.0;
            for (Eigen::Index r = 0; r < b; ++r) s += keep(r) ? scale * w(r) * l(r) : 0.0;
            return s;
        });
        CHECK(test::close(grad, numeric_log_q, 1e-6, 1e-9));
        for (Eigen::Index r = 0; r < b; ++r) {
            if (y(r) == -100 || !keep(r)) {
                CHECK(log_q(r) == 0.0);
            } else {
                CHECK(log_q(r) == Approx(double(log_softmax(z, r, temperature)[std::size_t(y(r))])).epsilon(1e-14));
            }
        }
    }
}

TEST_CASE("cross_entropy of log_probs is the negative log-likelihood, equal to cross_entropy of the logits", "[token][nll]")
{
    const Eigen::Index b = 4, v = 11;
    const Row z = test::random_logits(b, v, 29, 3.0);
    Row x(b, v);
    for (Eigen::Index r = 0; r < b; ++r) {
        const std::vector<long double> l = log_softmax(z, r, 1.0);
        for (Eigen::Index c = 0; c < v; ++c) x(r, c) = double(l[std::size_t(c)]);
    }
    Eigen::Matrix<std::int64_t, Eigen::Dynamic, 1> y(b);
    y << 3, -100, 0, 10;
    const double eps = 0.3;
    CHECK(dv::cross_entropy(dv::labels(y, eps), dv::log_probs(x)) ==
          Approx(dv::cross_entropy(dv::labels(y, eps), dv::logits(z))).epsilon(1e-14));
    // d/dlog q_j = -t_j (the unconstrained partial), scaled by the reduction.
    Row grad(b, v);
    dv::Outputs<double> out;
    out.grad_q = grad;
    dv::cross_entropy(dv::labels(y, eps), dv::log_probs(x), {dv::Reduction::sum}, out);
    const Row numeric = test::central_difference(
        x, [&](const Row& a) { return dv::cross_entropy(dv::labels(y, eps), dv::log_probs(a), {dv::Reduction::sum, dv::Validation::none}); });
    CHECK(test::close(grad, numeric, 1e-7, 1e-9));
    CHECK(grad(0, 3) == Approx(-(1 - eps + eps / v)).epsilon(1e-15));
    CHECK(grad(0, 4) == Approx(-eps / v).epsilon(1e-15));
    CHECK(grad.row(1).isZero(0.0));
    // token_log_probs of log-probabilities picks x_y.
    const dv::RowValues<double> picked = dv::token_log_probs(dv::labels(y), dv::log_probs(x));
    CHECK(picked(0) == x(0, 3));
    CHECK(picked(1) == 0.0);
}

TEST_CASE("The index form is an overload of cross_entropy: dense targets still take the dense one", "[token][overload]")
{
    const Row z = test::random_logits(3, 5, 31, 2.0);
    Eigen::VectorXi y(3);
    y << 4, 0, 2;
    Row one_hot = Row::Zero(3, 5);
    for (int r = 0; r < 3; ++r) one_hot(r, y(r)) = 1.0;
    const double dense = dv::cross_entropy(one_hot, dv::logits(z));
    CHECK(dv::cross_entropy(dv::labels(y), dv::logits(z)) == Approx(dense).epsilon(1e-14));
    const dv::RowValues<double> log_q = dv::token_log_probs(dv::labels(y), dv::logits(z));
    const dv::RowValues<double> ce = dv::cross_entropy_rows(dv::labels(y), dv::logits(z));
    CHECK((log_q + ce).abs().maxCoeff() == 0.0);
}

TEST_CASE("cross_entropy from labels: -inf logits, column-major logits, NaN in ignored rows", "[token][edges]")
{
    Row z(3, 4);
    z << 1.0, -std::numeric_limits<double>::infinity(), 0.5, 2.0,  //
        std::numeric_limits<double>::quiet_NaN(), 0.0, 0.0, 0.0,   // ignored row: not read
        0.0, 1.0, 2.0, 3.0;
    Eigen::VectorXi y(3);
    y << 1, -100, 3;
    Row grad(3, 4);
    dv::Outputs<double> out;
    out.grad_q = grad;
    const dv::RowValues<double> rows = dv::cross_entropy_rows(dv::labels(y), dv::logits(z), {}, out);
    CHECK(rows(0) == std::numeric_limits<double>::infinity());  // the label has probability 0
    CHECK(grad(0, 1) == Approx(-0.5));  // (q - t) / kept rows: q_1 = 0, t_1 = 1
    CHECK(rows(1) == 0.0);
    CHECK(std::isfinite(rows(2)));
    // With smoothing every log q_j counts: a -inf logit makes the value +inf.
    CHECK(dv::cross_entropy_rows(dv::labels(y, 0.1), dv::logits(z))(2) == Approx(double(reference_cross_entropy(z, 2, 1.0, 3, 0.1))));
    CHECK(dv::cross_entropy_rows(dv::labels(y, 0.1), dv::logits(z))(0) == std::numeric_limits<double>::infinity());
    const Row a = test::random_logits(5, 37, 37, 3.0);
    const Eigen::MatrixXd col_major = a;
    const Eigen::VectorXi labels5 = random_labels(5, 37, 8);
    Row g_row(5, 37);
    Eigen::MatrixXd g_col(5, 37);
    dv::Outputs<double> out_row, out_col;
    out_row.grad_q = g_row;
    out_col.grad_q = g_col;
    const double v_row = dv::cross_entropy(dv::labels(labels5, 0.05), dv::logits(a, 0.9), {}, out_row);
    const double v_col = dv::cross_entropy(dv::labels(labels5, 0.05), dv::logits(col_major, 0.9), {}, out_col);
    CHECK(v_row == v_col);
    CHECK(g_row == Row(g_col));
}

TEST_CASE("cross_entropy from labels is bitwise the same for any number of threads", "[token][threads]")
{
    const auto rows = GENERATE(1, 3);
    CAPTURE(rows);
    const Eigen::Index v = 70000;  // more than one chunk of 32768 columns
    const dv::RowMatrix<float> z = test::random_logits(rows, v, 41, 5.0).cast<float>();
    const Eigen::VectorXi y = random_labels(rows, v, 9);
    const auto run = [&](int threads, dv::RowMatrix<float>& grad) {
        dv::Outputs<float> out;
        out.grad_q = grad;
        return test::with_threads(threads, [&] { return dv::cross_entropy(dv::labels(y, 0.1), dv::logits(z, 1.5), {}, out); });
    };
    dv::RowMatrix<float> g1(rows, v), g2(rows, v);
    const float v1 = run(1, g1), v2 = run(2, g2);
    CHECK(v1 == v2);
    CHECK(g1 == g2);
    const Row zd = z.cast<double>();
    long double expected = 0;
    for (Eigen::Index r = 0; r < rows; ++r) expected += reference_cross_entropy(zd, r, 1.5, y(r), 0.1);
    CHECK(v1 == Approx(double(expected / rows)).epsilon(1e-6));
}

TEST_CASE("cross_entropy and token_log_probs from labels reject bad labels, smoothing, temperature and logits",
          "[token][errors]")
{
    const Row z = test::random_logits(3, 4, 43, 1.0);
    Eigen::VectorXi y(3);
    y << 0, 3, -100;
    Eigen::VectorXi short_y(2);
    short_y << 0, 1;
    test::fails_with([&] { dv::cross_entropy(dv::labels(short_y), dv::logits(z)); },
                     "divergence::cross_entropy: argument 'labels': has 2 entries for 3 rows");
    Eigen::VectorXi bad_y = y;
    bad_y(1) = 4;
    test::fails_with([&] { dv::cross_entropy(dv::labels(bad_y), dv::logits(z)); },
                     "argument 'labels', row 1: label out of [0, V = 4) and not ignore_index (-100), got 4");
    bad_y(1) = -1;
    test::fails_with([&] { dv::cross_entropy(dv::labels(bad_y), dv::logits(z), {dv::Reduction::mean, dv::Validation::none}); },
                     "got -1");
    // -1 is fine as the ignore_index.
    bad_y(2) = 2;
    CHECK(std::isfinite(dv::cross_entropy(dv::labels(bad_y, 0.0, -1), dv::logits(z))));
    for (const double eps : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
        test::fails_with([&] { dv::cross_entropy(dv::labels(y, eps), dv::logits(z)); },
                         "divergence::cross_entropy: argument 'label_smoothing': must be in [0, 1]");
    }
    test::fails_with([&] { dv::token_log_probs(dv::labels(y, 0.1), dv::logits(z)); },
                     "divergence::token_log_probs: argument 'label_smoothing'", "no label smoothing");
    test::fails_with([&] { dv::cross_entropy(dv::labels(y), dv::logits(z, 0.0)); },
                     "divergence::cross_entropy: argument 'q': temperature must be finite and > 0, got (0)");
    test::fails_with([&] { dv::cross_entropy_rows(dv::labels(y), dv::logits(z, -1.0)); },
                     "divergence::cross_entropy_rows: argument 'q': temperature must be finite and > 0");
    Row nan_z = z;
    nan_z(1, 2) = std::numeric_limits<double>::quiet_NaN();
    test::fails_with([&] { dv::cross_entropy(dv::labels(y), dv::logits(nan_z)); },
                     "divergence::cross_entropy: argument 'q', row 1, column 2: logit must be finite or -inf, got (nan)");
    test::fails_with([&] { dv::cross_entropy(dv::labels(y), z); }, "argument 'q': the model must be given as logits");
    test::fails_with([&] { dv::cross_entropy(dv::labels(y), dv::logits(z), {dv::Reduction::none}); },
                     "argument 'options.reduction'", "cross_entropy_rows");
    Row grad_p(3, 4);
    dv::Outputs<double> out;
    out.grad_p = grad_p;
    test::fails_with([&] { dv::cross_entropy(dv::labels(y), dv::logits(z), {}, out); }, "argument 'grad_p': labels have no gradient");
    Row wrong(2, 4);
    dv::Outputs<double> out_wrong;
    out_wrong.grad_q = wrong;
    test::fails_with([&] { dv::cross_entropy(dv::labels(y), dv::logits(z), {}, out_wrong); }, "argument 'grad_q': shape 2 x 4 differs");
    const Eigen::Array<bool, Eigen::Dynamic, 1> mask = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(2, true);
    dv::Options options;
    options.mask = mask;
    test::fails_with([&] { dv::cross_entropy(dv::labels(y), dv::logits(z), options); }, "argument 'mask': has 2 entries for 3 rows");
}

}  // namespace losses_token_test
