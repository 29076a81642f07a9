#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <random>

#include "divergence/discrete/entropy.hpp"
#include "divergence/discrete/f_divergence.hpp"
#include "divergence/discrete/kl.hpp"
#include "support/errors.hpp"
#include "support/random.hpp"

namespace core_validation_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
using Catch::Matchers::Contains;

TEST_CASE("bad inputs raise std::invalid_argument naming the function, the argument, the row and the column", "[validation]")
{
    test::Matrix p = test::random_simplex_rows(3, 4, 1), q = test::random_simplex_rows(3, 4, 2);

    SECTION("shape mismatch")
    {
        const test::Matrix q5 = test::random_simplex_rows(3, 5, 2);
        CHECK_THROWS_AS(dv::kl(p, q5), std::invalid_argument);
        CHECK_THROWS_WITH(dv::kl(p, q5), Contains("divergence::kl") && Contains("'q'") && Contains("3 x 5"));
    }
    SECTION("negative probability")
    {
        q(2, 1) = -0.1;
        CHECK_THROWS_WITH(dv::kl(p, q), Contains("divergence::kl") && Contains("'q'") && Contains("row 2") &&
                                            Contains("column 1") && Contains("negative probability"));
    }
    SECTION("non-finite probability")
    {
        p(1, 3) = std::numeric_limits<double>::quiet_NaN();
        CHECK_THROWS_WITH(dv::reverse_kl(p, q), Contains("divergence::reverse_kl") && Contains("'p'") && Contains("row 1") &&
                                                    Contains("column 3") && Contains("non-finite"));
        p(1, 3) = std::numeric_limits<double>::infinity();
        CHECK_THROWS_WITH(dv::kl(p, q), Contains("non-finite"));
    }
    SECTION("row not summing to 1")
    {
        p.row(2) *= 1.01;
        CHECK_THROWS_WITH(dv::kl(p, q), Contains("'p'") && Contains("row 2") && Contains("sum to"));
        dv::Options loose;
        loose.tolerance = 0.02;
        CHECK_NOTHROW(dv::kl(p, q, loose));
    }
    SECTION("log-probabilities: positive entries, NaN, rows not normalized")
    {
        test::Matrix lp = test::log_of(p), lq = test::log_of(q);
        lq(0, 0) = 0.5;
        CHECK_THROWS_WITH(dv::kl(dv::log_probs(lp), dv::log_probs(lq)), Contains("'q'") && Contains("row 0") &&
                                                                             Contains("column 0") && Contains("positive"));
        lq = test::log_of(q);
        lq(1, 2) = std::numeric_limits<double>::quiet_NaN();
        CHECK_THROWS_WITH(dv::kl(dv::log_probs(lp), dv::log_probs(lq)), Contains("row 1") && Contains("column 2"));
        lq = test::log_of(q);
        lq.row(1).array() -= 0.1;
        CHECK_THROWS_WITH(dv::kl(dv::log_probs(lp), dv::log_probs(lq)), Contains("row 1") && Contains("logsumexp"));
    }
    SECTION("logits: NaN, +inf, all -inf rows; -inf entries are allowed")
    {
        test::Matrix z = test::random_logits(3, 4, 3);
        z(0, 1) = -std::numeric_limits<double>::infinity();
        CHECK_NOTHROW(dv::kl(dv::logits(z), dv::logits(z)));
        z(2, 2) = std::numeric_limits<double>::infinity();
        CHECK_THROWS_WITH(dv::kl(dv::logits(z), dv::probs(q)), Contains("'p'") && Contains("row 2") && Contains("column 2"));
        z(2, 2) = std::numeric_limits<double>::quiet_NaN();
        CHECK_THROWS_WITH(dv::kl(dv::probs(p), dv::logits(z)), Contains("'q'") && Contains("row 2") && Contains("column 2"));
        z.row(2).setConstant(-std::numeric_limits<double>::infinity());
        CHECK_THROWS_WITH(dv::kl(dv::probs(p), dv::logits(z)), Contains("row 2") && Contains("every logit is -inf"));
    }
    SECTION("temperature <= 0 or non-finite")
    {
        const test::Matrix z = test::random_logits(3, 4, 3);
        CHECK_THROWS_WITH(dv::kl(dv::logits(z, 0.0), dv::logits(z)), Contains("'p'") && Contains("temperature"));
        CHECK_THROWS_WITH(dv::kl(dv::logits(z), dv::logits(z, -1.0)), Contains("'q'") && Contains("temperature"));
        CHECK_THROWS_WITH(dv::kl(dv::logits(z), dv::logits(z, std::numeric_limits<double>::infinity())),
                          Contains("temperature"));
    }
    SECTION("empty inputs")
    {
        const test::Matrix e(0, 4), f(3, 0);
        CHECK_THROWS_WITH(dv::kl(e, e), Contains("empty"));
        CHECK_THROWS_WITH(dv::kl(f, f), Contains("empty"));
    }
    SECTION("mask and outputs of the wrong size")
    {
        Eigen::Array<bool, Eigen::Dynamic, 1> keep(2);
        keep.setConstant(true);
        dv::Options options;
        options.mask = keep;
        CHECK_THROWS_WITH(dv::kl(p, q, options), Contains("'mask'"));
        test::Matrix g(3, 5);
        dv::Outputs<double> out;
        out.grad_q = g;
        CHECK_THROWS_WITH(dv::kl(p, q, {}, out), Contains("'grad_q'"));
        Eigen::VectorXd rows(4);
        dv::Outputs<double> out2;
        out2.row_values = rows;
        CHECK_THROWS_WITH(dv::kl(p, q, {}, out2), Contains("'row_values'"));
    }
    SECTION("Validation::none skips the entry checks but not the shapes")
    {
        dv::Options trusted;
        trusted.validation = dv::Validation::none;
        p.row(0) *= 1.5;
        CHECK_NOTHROW(dv::kl(p, q, trusted));
        const test::Matrix q5 = test::random_simplex_rows(3, 5, 2);
        CHECK_THROWS_AS(dv::kl(p, q5, trusted), std::invalid_argument);
    }
}

TEMPLATE_TEST_CASE("logits with contiguous rows: the vector check finds the same row and column as a scalar scan",
                   "[validation][logits]", float, double)
{
    using Rows = dv::RowMatrix<TestType>;
    constexpr TestType inf = std::numeric_limits<TestType>::infinity();
    const Eigen::Index cols = GENERATE(1, 15, 1037);
    Rows z = Rows::Random(6, cols) * TestType(5);
    const Rows good = z;
    const Eigen::Index last = cols - 1, middle = cols / 2;
    CHECK_NOTHROW(dv::kl(dv::logits(z), dv::logits(good)));

    z(4, last) = std::numeric_limits<TestType>::quiet_NaN();  // in the tail packet when cols % lanes != 0
    z(5, 0) = inf;
    CHECK_THROWS_WITH(dv::kl(dv::logits(z), dv::logits(good)), Contains("'p'") && Contains("row 4") &&
                                                                   Contains("column " + std::to_string(last)));
    z(2, middle) = inf;  // an earlier row is reported first
    CHECK_THROWS_WITH(dv::kl(dv::logits(good), dv::logits(z)), Contains("'q'") && Contains("row 2") &&
                                                                   Contains("column " + std::to_string(middle)));
    // Rows the mask drops are not checked.
    Eigen::Array<bool, Eigen::Dynamic, 1> keep = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(6, true);
    keep(2) = keep(4) = keep(5) = false;
    dv::Options options;
    options.mask = keep;
    CHECK_NOTHROW(dv::kl(dv::logits(z), dv::logits(good), options));

    Rows minus = good;
    minus.row(3).setConstant(-inf);
    CHECK_THROWS_WITH(dv::kl(dv::logits(good), dv::logits(minus)), Contains("row 3") && Contains("every logit is -inf"));
    minus.row(3) = good.row(3);
    minus(3, last) = -inf;  // -inf entries are allowed (in a row with other entries)
    if (cols > 1) CHECK_NOTHROW(dv::kl(dv::logits(good), dv::logits(minus)));

    if (std::is_same_v<TestType, double>) {  // z / T overflows a double only for double logits
        Rows big = good;
        big(1, middle) = TestType(-1e300);
        CHECK_THROWS_WITH(dv::kl(dv::logits(big, 1e-10), dv::logits(good, 1e-10)),
                          Contains("row 1") && Contains("column " + std::to_string(middle)) && Contains("overflows"));
        CHECK_NOTHROW(dv::kl(dv::logits(big, 1.0), dv::logits(good, 1.0)));
    }
}

namespace {

/// x / s with s the sequential float sum of x: the least accurate way to normalize a float row.
Eigen::VectorXf normalize_sequentially(const Eigen::VectorXf& x)
{
    float s = 0.0f;
    for (Eigen::Index i = 0; i < x.size(); ++i) s += x(i);
    return x / s;
}

long double exact_sum(const Eigen::VectorXf& p)
{
    long double s = 0;
    for (Eigen::Index i = 0; i < p.size(); ++i) s += p(i);
    return s;
}

}  // namespace

TEST_CASE("the default tolerance accepts any float normalization of a row: max(1e-4, V u / (1 - V u)), u = 2^-24",
          "[validation][tolerance]")
{
    const Eigen::Index v = GENERATE(1000, 32000, 262144);
    const long double u = std::ldexp(1.0L, -24);
    const long double bound = std::max(1e-4L, v * u / (1 - v * u));  // Higham's gamma_V
    CHECK(dv::detail::default_tolerance<float>(v) == Approx(double(bound)).epsilon(1e-12));
    CHECK(dv::detail::default_tolerance<double>(v) == 1e-6);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 5.0f);
    Eigen::VectorXf softmax(v), constant = Eigen::VectorXf::Constant(v, 0.1f), tail(v);
    for (Eigen::Index i = 0; i < v; ++i) softmax(i) = std::exp(normal(rng));
    // The worst case of a sequential sum: every addition after the first rounds the addend away.
    tail.setConstant(0.49f * float(2 * u));
    tail(0) = 1.0f;
    for (const Eigen::VectorXf* x : {&softmax, &constant, &tail}) {
        const Eigen::VectorXf p = normalize_sequentially(*x);
        const long double error = std::abs(exact_sum(p) - 1);
        CAPTURE(v, double(error));
        CHECK(error <= bound);
        CHECK_NOTHROW(dv::entropy(p));
    }
    // Off by more than the bound: rejected, and the message says by how much and what to set.
    const Eigen::VectorXf off = normalize_sequentially(softmax) * float(1 + 2 * bound);
    CHECK_THROWS_WITH(dv::entropy(off), Contains("probabilities sum to") && Contains("exceeds the tolerance") &&
                                            Contains("Options::tolerance") &&
                                            Contains("default for " + std::to_string(v) + " float entries"));
    dv::Options loose;
    loose.tolerance = double(3 * bound);
    CHECK_NOTHROW(dv::entropy(off, loose));
}

TEST_CASE("a rejected row's message gives the sum seen and the tolerance set", "[validation][tolerance]")
{
    Eigen::VectorXd p = Eigen::VectorXd::Constant(4, 0.25);
    p(0) = 0.26;  // sums to 1.01
    dv::Options options;
    options.tolerance = 1e-3;
    CHECK_THROWS_WITH(dv::kl(p, p, options), Contains("divergence::kl") && Contains("'p'") && Contains("row 0") &&
                                                 Contains("sum to 1.01") && Contains("tolerance 0.001") &&
                                                 Contains("(Options::tolerance)"));
    const Eigen::VectorXd log_p = Eigen::VectorXd::Constant(4, std::log(0.26));
    CHECK_THROWS_WITH(dv::kl(dv::log_probs(log_p), dv::log_probs(log_p)),
                      Contains("logsumexp of the log-probabilities is") && Contains("default for 4 double entries"));
}

TEST_CASE("float logits: z / T beyond FLT_MAX and temperatures whose 1 / T is not a normal float are rejected, not NaN",
          "[validation][temperature]")
{
    namespace dv = divergence;
    dv::RowMatrix<float> p(1, 2), q(1, 2);
    p << -98.23f, 1e10f;
    q << 0.0f, -std::numeric_limits<float>::infinity();
    // 1e10 / 1e-30 is finite in double but beyond FLT_MAX: the float kernels would overflow.
    test::fails_with([&] { return dv::kl(dv::logits(p, 1e-30), dv::logits(q)); }, "row 0, column 1: logit / temperature overflows");
    // 1 / T underflows float (T > 8.5e37) or overflows it (T < 2.9e-39).
    test::fails_with([&] { return dv::kl(dv::logits(q, 1e46), dv::logits(p)); }, "temperature out of range for float logits");
    test::fails_with([&] { return dv::kl(dv::logits(p), dv::logits(q, 1.4e-45)); }, "temperature out of range for float logits");
    // Double logits keep the double range: the same temperatures are fine there, the value finite.
    const dv::RowMatrix<double> pd = p.cast<double>(), qd = dv::RowMatrix<double>::Zero(1, 2);
    CHECK(std::isfinite(dv::kl(dv::logits(pd, 1e-30), dv::logits(qd))));
    CHECK(std::isfinite(dv::kl(dv::logits(qd, 1e46), dv::logits(pd))));
    test::fails_with([&] { return dv::kl(dv::logits(pd, 1e-310), dv::logits(qd)); }, "temperature out of range for double logits");
    // The edges: 1 / T = FLT_MAX itself and the smallest normal float are accepted.
    const dv::RowMatrix<float> zero = dv::RowMatrix<float>::Zero(1, 2);
    CHECK(dv::kl(dv::logits(zero, 1.0 / double(FLT_MAX)), dv::logits(zero)) == 0.0f);
    CHECK(dv::kl(dv::logits(zero, 1.0 / double(FLT_MIN)), dv::logits(zero)) == 0.0f);
}

TEST_CASE("density_ratio_weights checks every log ratio before it writes a weight", "[validation][density_ratio_weights]")
{
    namespace dv = divergence;
    Eigen::MatrixXd log_ratio = Eigen::MatrixXd::Zero(2, 3), weights = Eigen::MatrixXd::Constant(2, 3, -7.0);
    log_ratio(1, 1) = std::numeric_limits<double>::quiet_NaN();
    test::fails_with([&] { dv::density_ratio_weights(log_ratio, dv::generators::ForwardKl{}, weights); },
                     "row 1, column 1: NaN log ratio");
    CHECK((weights.array() == -7.0).all());
    log_ratio(1, 1) = std::log(3.0);
    dv::density_ratio_weights(log_ratio, dv::generators::ForwardKl{}, weights);  // h(u) = u
    CHECK(weights(1, 1) == Approx(3.0).epsilon(1e-15));
    CHECK(weights(0, 0) == 1.0);
}

}  // namespace core_validation_test
