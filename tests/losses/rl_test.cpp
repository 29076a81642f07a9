// KL penalties of RLHF (losses/rl.hpp): what each estimator's value and gradient estimate, by exact
// enumeration over small categorical policies (no sampling), clamps, masks, aggregations, central
// differences, thread counts and errors.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "divergence/discrete/kl.hpp"
#include "divergence/losses/rl.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/threads.hpp"

namespace losses_rl_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;

namespace {

using Row = dv::RowMatrix<double>;
using LVector = Eigen::Matrix<long double, Eigen::Dynamic, 1>;

/// log softmax(theta) in long double.
LVector log_softmax(const Row& theta)
{
    const Eigen::Index v = theta.cols();
    long double largest = -std::numeric_limits<long double>::infinity();
    for (Eigen::Index i = 0; i < v; ++i) largest = std::max(largest, (long double)theta(0, i));
    long double sum = 0;
    for (Eigen::Index i = 0; i < v; ++i) sum += std::exp((long double)theta(0, i) - largest);
    LVector out(v);
    for (Eigen::Index i = 0; i < v; ++i) out(i) = (long double)theta(0, i) - largest - std::log(sum);
    return out;
}

/// KL(a || b) for log-probabilities in long double.
long double kl_of(const LVector& log_a, const LVector& log_b)
{
    long double s = 0;
    for (Eigen::Index i = 0; i < log_a.size(); ++i) s += std::exp(log_a(i)) * (log_a(i) - log_b(i));
    return s;
}

/// A policy pi = softmax(theta), a reference and an older policy over V outcomes, each outcome once
/// as a "token" of a 1 x V sequence: logp(x) = log pi(x), ref_logp(x) = log ref(x).
struct Enumeration {
    Row theta;
    LVector log_pi, log_ref, log_old;
    Row logp, ref_logp, old_logp;

    Enumeration(Eigen::Index v, std::uint64_t seed)
        : theta(test::random_logits(1, v, seed, 1.5)), log_pi(log_softmax(theta)),
          log_ref(log_softmax(test::random_logits(1, v, seed + 1, 1.5))),
          log_old(log_softmax(test::random_logits(1, v, seed + 2, 1.5))), logp(1, v), ref_logp(1, v), old_logp(1, v)
    {
        for (Eigen::Index i = 0; i < v; ++i) {
            logp(0, i) = double(log_pi(i));
            ref_logp(0, i) = double(log_ref(i));
            old_logp(0, i) = double(log_old(i));
        }
    }
    long double pi(Eigen::Index i) const { return std::exp(log_pi(i)); }
    /// E_{x ~ sampler}[value(x)].
    long double expectation(const LVector& log_sampler, const Row& values) const
    {
        long double s = 0;
        for (Eigen::Index x = 0; x < values.cols(); ++x) s += std::exp(log_sampler(x)) * (long double)values(0, x);
        return s;
    }
    /// E_{x ~ sampler}[d k(x) / d theta] with d logp(x) / d theta_j = [x == j] - pi_j.
    LVector expected_gradient(const LVector& log_sampler, const Row& grad_logp) const
    {
        const Eigen::Index v = theta.cols();
        LVector g = LVector::Zero(v);
        for (Eigen::Index x = 0; x < v; ++x) {
            const long double w = std::exp(log_sampler(x)) * (long double)grad_logp(0, x);
            for (Eigen::Index j = 0; j < v; ++j) g(j) += w * ((x == j ? 1.0L : 0.0L) - pi(j));
        }
        return g;
    }
    /// grad_theta KL(pi || ref) = pi_j (log pi_j - log ref_j - KL).
    LVector grad_kl_pi_ref() const
    {
        const long double kl = kl_of(log_pi, log_ref);
        LVector g(theta.cols());
        for (Eigen::Index j = 0; j < theta.cols(); ++j) g(j) = pi(j) * (log_pi(j) - log_ref(j) - kl);
        return g;
    }
    /// grad_theta KL(ref || pi) = pi_j - ref_j.
    LVector grad_kl_ref_pi() const
    {
        LVector g(theta.cols());
        for (Eigen::Index j = 0; j < theta.cols(); ++j) g(j) = pi(j) - std::exp(log_ref(j));
        return g;
    }
};

/// Token values and d k / d logp per outcome (Aggregation::sum: the gradient is each token's own).
struct PerToken {
    Row values, grad;
};

PerToken per_token(const Enumeration& e, dv::KlEstimator estimator, bool importance_sampled = false)
{
    dv::KlPenaltyOptions options;
    options.estimator = estimator;
    options.aggregation = dv::Aggregation::sum;
    PerToken t{Row(1, e.logp.cols()), Row(1, e.logp.cols())};
    if (importance_sampled) {
        t.values = dv::kl_penalty_tokens(e.logp, e.ref_logp, e.old_logp, options, t.grad);
    } else {
        t.values = dv::kl_penalty_tokens(e.logp, e.ref_logp, options, t.grad);
    }
    return t;
}

long double max_difference(const LVector& a, const LVector& b) { return (a - b).cwiseAbs().maxCoeff(); }

}  // namespace

TEST_CASE("E_pi[k1] = E_pi[k3] = KL(pi || ref) exactly and E_pi[k2] is not KL (Schulman's estimators)", "[rl][enumeration]")
{
    const auto v = GENERATE(4, 5, 6);
    const auto seed = GENERATE(1u, 2u, 3u, 4u, 5u);
    CAPTURE(v, seed);
    const Enumeration e(v, seed);
    const long double kl = kl_of(e.log_pi, e.log_ref);
    CHECK(double(std::abs(e.expectation(e.log_pi, per_token(e, dv::KlEstimator::k1).values) - kl)) <= 1e-14);
    CHECK(double(std::abs(e.expectation(e.log_pi, per_token(e, dv::KlEstimator::k3).values) - kl)) <= 1e-14);
    CHECK(double(std::abs(e.expectation(e.log_pi, per_token(e, dv::KlEstimator::k2).values) - kl)) > 1e-6);
    // k3 >= 0 token by token; k1 is not.
    CHECK(per_token(e, dv::KlEstimator::k3).values.minCoeff() >= 0.0);
}

TEST_CASE("Expected gradients as a loss: k1 gives 0, k2 grad KL(pi || ref), k3 grad KL(ref || pi)", "[rl][enumeration]")
{
    const auto v = GENERATE(4, 5, 6);
    const auto seed = GENERATE(11u, 12u, 13u, 14u);
    CAPTURE(v, seed);
    const Enumeration e(v, seed);
    const LVector zero = LVector::Zero(v);
    CHECK(double(max_difference(e.expected_gradient(e.log_pi, per_token(e, dv::KlEstimator::k1).grad), zero)) <= 1e-14);
    CHECK(double(max_difference(e.expected_gradient(e.log_pi, per_token(e, dv::KlEstimator::k2).grad), e.grad_kl_pi_ref())) <=
          1e-14);
    CHECK(double(max_difference(e.expected_gradient(e.log_pi, per_token(e, dv::KlEstimator::k3).grad), e.grad_kl_ref_pi())) <=
          1e-14);
    // k3's expected gradient is not that of the KL it estimates (the two directions differ here).
    CHECK(double(max_difference(e.grad_kl_pi_ref(), e.grad_kl_ref_pi())) > 1e-4);
}

TEST_CASE("Straight-through k1+ and k3+ have the values of k1 and k3 and the expected gradient of k2", "[rl][enumeration]")
{
    const auto v = GENERATE(4, 6);
    const auto seed = GENERATE(21u, 22u, 23u);
    CAPTURE(v, seed);
    const Enumeration e(v, seed);
    const PerToken k1 = per_token(e, dv::KlEstimator::k1), k3 = per_token(e, dv::KlEstimator::k3),
                   k2 = per_token(e, dv::KlEstimator::k2);
    const PerToken k1p = per_token(e, dv::KlEstimator::k1_straight_through);
    const PerToken k3p = per_token(e, dv::KlEstimator::k3_straight_through);
    CHECK(k1p.values == k1.values);
    CHECK(k3p.values == k3.values);
    CHECK(k1p.grad == k2.grad);
    CHECK(k3p.grad == k2.grad);
    const long double kl = kl_of(e.log_pi, e.log_ref);
    CHECK(double(std::abs(e.expectation(e.log_pi, k3p.values) - kl)) <= 1e-14);
    CHECK(double(max_difference(e.expected_gradient(e.log_pi, k3p.grad), e.grad_kl_pi_ref())) <= 1e-14);
}

TEST_CASE("IS-corrected k3 over samples from pi_old: value KL(pi || ref), gradient grad KL(pi || ref), the ratio differentiated",
          "[rl][enumeration]")
{
    const auto v = GENERATE(4, 5, 6);
    const auto seed = GENERATE(31u, 32u, 33u);
    CAPTURE(v, seed);
    const Enumeration e(v, seed);
    const PerToken is = per_token(e, dv::KlEstimator::k3, true);
    const long double kl = kl_of(e.log_pi, e.log_ref);
    CHECK(double(std::abs(e.expectation(e.log_old, is.values) - kl)) <= 1e-14);
    CHECK(double(max_difference(e.expected_gradient(e.log_old, is.grad), e.grad_kl_pi_ref())) <= 1e-14);
    // Per token: the value is ratio * k3 and the gradient ratio * (k3 + dk3/dlogp), old_logp a constant.
    const PerToken k3 = per_token(e, dv::KlEstimator::k3);
    for (Eigen::Index x = 0; x < v; ++x) {
        const double ratio = std::exp(e.logp(0, x) - e.old_logp(0, x));
        CHECK(is.values(0, x) == Approx(ratio * k3.values(0, x)).epsilon(1e-14));
        CHECK(is.grad(0, x) == Approx(ratio * (k3.values(0, x) + k3.grad(0, x))).epsilon(1e-14));
    }
    // On-policy (pi_old = pi) the ratio is 1 and the gradient becomes that of KL(pi || ref), not k3's.
    const Row ones_ratio = dv::kl_penalty_tokens(e.logp, e.ref_logp, e.logp);
    CHECK(ones_ratio.isApprox(k3.values, 1e-15));
}

TEST_CASE("full: the exact KL(pi || ref) over the vocabulary is reverse_kl(logits(ref), logits(pi))", "[rl][enumeration]")
{
    const auto v = GENERATE(4, 6);
    const auto seed = GENERATE(41u, 42u);
    CAPTURE(v, seed);
    const Enumeration e(v, seed);
    const Row ref_theta = test::random_logits(1, v, seed + 1, 1.5);  // the reference of Enumeration
    Row grad(1, v);
    dv::Outputs<double> out;
    out.grad_q = grad;
    const double full = dv::reverse_kl(dv::logits(ref_theta), dv::logits(e.theta), {dv::Reduction::sum}, out);
    CHECK(full == Approx(double(kl_of(e.log_pi, e.log_ref))).epsilon(1e-13));
    CHECK(full == Approx(double(e.expectation(e.log_pi, per_token(e, dv::KlEstimator::k1).values))).epsilon(1e-13));
    const LVector expected = e.grad_kl_pi_ref();
    for (Eigen::Index j = 0; j < v; ++j) CHECK(grad(0, j) == Approx(double(expected(j))).margin(1e-14));
}

namespace {

/// The per-token value and d/dlogp written out, for the plain-loop checks.
double plain_value(dv::KlEstimator k, double logp, double ref)
{
    const double d = ref - logp;
    switch (k) {
    case dv::KlEstimator::k1:
    case dv::KlEstimator::k1_straight_through: return -d;
    case dv::KlEstimator::k2: return 0.5 * d * d;
    case dv::KlEstimator::abs: return std::abs(d);
    default: return std::exp(d) - 1.0 - d;
    }
}

struct Batch {
    Row logp, ref;
    Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> keep;
    Row weights;
};

Batch random_batch(Eigen::Index b, Eigen::Index s, std::uint64_t seed)
{
    Batch batch{Row(b, s), Row(b, s), {}, Row(b, s)};
    const Row a = test::random_logits(b, s, seed, 1.0), c = test::random_logits(b, s, seed + 1, 1.0);
    batch.logp = a.array() - 2.0;  // log-probabilities around -2
    batch.ref = batch.logp + c;
    batch.keep.resize(b, s);
    const Row u = test::random_logits(b, s, seed + 2, 1.0);
    for (Eigen::Index i = 0; i < b; ++i)
        for (Eigen::Index j = 0; j < s; ++j) batch.keep(i, j) = u(i, j) > -0.4 || j == 0;
    batch.keep.row(b - 1).setConstant(false);  // a sequence without tokens
    batch.weights = batch.keep.cast<double>().matrix();
    batch.weights(0, 0) = 0.5;
    batch.weights(0, 0) *= batch.keep(0, 0);
    return batch;
}

}  // namespace

TEST_CASE("Aggregations (token mean, sequence mean, sum) with bool and weight masks against a plain loop", "[rl][aggregation]")
{
    const auto estimator = GENERATE(dv::KlEstimator::k1, dv::KlEstimator::k2, dv::KlEstimator::k3, dv::KlEstimator::abs);
    const auto aggregation = GENERATE(dv::Aggregation::token_mean, dv::Aggregation::sequence_mean, dv::Aggregation::sum);
    const auto weighted = GENERATE(false, true);
    CAPTURE(int(estimator), int(aggregation), weighted);
    Batch batch = random_batch(4, 7, 5);
    batch.logp(1, 3) = std::numeric_limits<double>::quiet_NaN();  // padding garbage: masked out below
    batch.keep(1, 3) = false;
    batch.weights(1, 3) = 0.0;
    dv::KlPenaltyOptions options;
    options.estimator = estimator;
    options.aggregation = aggregation;
    if (weighted) {
        options.mask = batch.weights;
    } else {
        options.mask = batch.keep;
    }
    // Plain loop.
    long double total = 0, weight_total = 0;
    std::vector<long double> seq_sum(4, 0), seq_weight(4, 0);
    for (int b = 0; b < 4; ++b)
        for (int t = 0; t < 7; ++t) {
            const double m = weighted ? batch.weights(b, t) : double(batch.keep(b, t));
            if (m == 0.0) continue;
            const long double k = plain_value(estimator, batch.logp(b, t), batch.ref(b, t));
            total += m * k;
            weight_total += m;
            seq_sum[std::size_t(b)] += m * k;
            seq_weight[std::size_t(b)] += m;
        }
    long double expected = total;
    if (aggregation == dv::Aggregation::token_mean) expected = total / weight_total;
    if (aggregation == dv::Aggregation::sequence_mean) {
        long double s = 0;
        int n = 0;
        for (int b = 0; b < 4; ++b)
            if (seq_weight[std::size_t(b)] > 0) {
                s += seq_sum[std::size_t(b)] / seq_weight[std::size_t(b)];
                ++n;
            }
        expected = s / n;
    }
    Row grad(4, 7), values(4, 7);
    dv::KlPenaltyOutputs<double> out;
    out.grad_logp = grad;
    out.token_values = values;
    const double value = dv::kl_penalty(batch.logp, batch.ref, options, out);
    CHECK(value == Approx(double(expected)).epsilon(1e-14));
    for (int b = 0; b < 4; ++b)
        for (int t = 0; t < 7; ++t) {
            const double m = weighted ? batch.weights(b, t) : double(batch.keep(b, t));
            if (m == 0.0) {
                CHECK(grad(b, t) == 0.0);
                CHECK(values(b, t) == 0.0);
            } else {
                CHECK(values(b, t) == Approx(plain_value(estimator, batch.logp(b, t), batch.ref(b, t))).epsilon(1e-13));
            }
        }
    // Every gradient against central differences (the NaN token is masked: replace it to differentiate).
    batch.logp(1, 3) = -1.0;
    const Row numeric = test::central_difference(batch.logp, [&](const Row& x) { return dv::kl_penalty(x, batch.ref, options); });
    CHECK(test::close(grad, numeric, 1e-6, 1e-8));
}

TEST_CASE("Clamps: delta and value clamped as verl's +-20 and +-10, gradient 0 where clamped", "[rl][clamp]")
{
    Row logp(1, 4), ref(1, 4);
    logp << -1.0, -30.0, -1.0, -1.0;
    ref << -1.5, -1.0, -15.0, -13.0;  // delta = -0.5, 29 (> 20), -14, -12 (k3 = 11 > 10)
    dv::KlPenaltyOptions options;
    options.estimator = dv::KlEstimator::k3;
    options.aggregation = dv::Aggregation::sum;
    options.delta_clamp = 20.0;
    options.value_clamp = 10.0;
    Row grad(1, 4);
    const Row values = dv::kl_penalty_tokens(logp, ref, options, grad);
    CHECK(values(0, 0) == Approx(std::exp(-0.5) - 0.5).epsilon(1e-15));
    CHECK(grad(0, 0) == Approx(1.0 - std::exp(-0.5)).epsilon(1e-15));
    CHECK(values(0, 1) == 10.0);  // delta clamped to 20, then the value to 10
    CHECK(grad(0, 1) == 0.0);
    CHECK(values(0, 2) == 10.0);  // k3(-14) = e^-14 + 13 > 10
    CHECK(grad(0, 2) == 0.0);
    CHECK(values(0, 3) == 10.0);  // k3(-12) = e^-12 + 11 > 10
    // Delta clamp alone: the value at the clamp, gradient 0.
    options.value_clamp = std::numeric_limits<double>::infinity();
    const Row unclamped_values = dv::kl_penalty_tokens(logp, ref, options, grad);
    CHECK(unclamped_values(0, 1) == Approx(std::exp(20.0) - 21.0).epsilon(1e-14));
    CHECK(grad(0, 1) == 0.0);
    CHECK(grad(0, 2) == Approx(1.0 - std::exp(-14.0)).epsilon(1e-15));
    // Straight-through: clamped value, k2's unclamped gradient logp - ref.
    options.estimator = dv::KlEstimator::k3_straight_through;
    options.value_clamp = 10.0;
    const Row st = dv::kl_penalty_tokens(logp, ref, options, grad);
    CHECK(st(0, 1) == 10.0);
    CHECK(grad(0, 1) == -29.0);
}

TEST_CASE("kl_penalty is bitwise the same for any number of threads, float and double", "[rl][threads]")
{
    const Batch batch = random_batch(3, 40000, 7);  // fewer rows than threads or not: both schedules
    const dv::RowMatrix<float> logp = batch.logp.cast<float>(), ref = batch.ref.cast<float>();
    dv::KlPenaltyOptions options;
    options.mask = batch.keep;
    options.aggregation = dv::Aggregation::sequence_mean;
    const auto run = [&](int threads, dv::RowMatrix<float>& grad) {
        dv::KlPenaltyOutputs<float> out;
        out.grad_logp = grad;
        return test::with_threads(threads, [&] { return dv::kl_penalty(logp, ref, options, out); });
    };
    dv::RowMatrix<float> g1(3, 40000), g2(3, 40000);
    const float v1 = run(1, g1), v2 = run(2, g2);
    CHECK(v1 == v2);
    CHECK(g1 == g2);
    const dv::RowMatrix<float> one_row = logp.topRows(1), one_ref = ref.topRows(1);
    const float a = test::with_threads(1, [&] { return dv::kl_penalty(one_row, one_ref); });
    const float b = test::with_threads(2, [&] { return dv::kl_penalty(one_row, one_ref); });
    CHECK(a == b);
}

TEST_CASE("kl_penalty takes vectors, column-major matrices and k3 accurately at tiny delta", "[rl][forms]")
{
    const Eigen::VectorXd logp = (Eigen::VectorXd(3) << -1.0, -2.0, -0.5).finished();
    const Eigen::VectorXd ref = logp.array() + 1e-9;
    dv::KlPenaltyOptions options;
    options.aggregation = dv::Aggregation::sum;
    // k3 = e^d - 1 - d = d^2/2 + d^3/6 + ... at d = 1e-9: 5e-19 per token, no cancellation.
    long double expected = 0;
    for (int i = 0; i < 3; ++i) {
        const long double d = (long double)ref(i) - (long double)logp(i);  // exactly the double difference
        expected += d * d / 2 + d * d * d / 6;
    }
    CHECK(dv::kl_penalty(logp, ref, options) == Approx(double(expected)).epsilon(1e-14));
    const Eigen::MatrixXd a = test::random_logits(3, 5, 3, 1.0).array() - 2.0, c = a.array() + 0.3;
    const Row a_row = a, c_row = c;
    CHECK(dv::kl_penalty(a, c) == dv::kl_penalty(a_row, c_row));
}

TEST_CASE("kl_penalty rejects bad shapes, non-finite log-probabilities, bad masks and clamps", "[rl][errors]")
{
    const Row logp = Row::Constant(2, 3, -1.0), ref = Row::Constant(2, 3, -1.2), short_ref = Row::Constant(2, 2, -1.0);
    test::fails_with([&] { dv::kl_penalty(logp, short_ref); }, "divergence::kl_penalty: argument 'ref_logp'",
                     "shape 2 x 2 differs from logp's 2 x 3");
    test::fails_with([&] { dv::kl_penalty(logp, ref, short_ref); }, "argument 'old_logp'", "differs");
    Row bad = logp;
    bad(1, 2) = std::numeric_limits<double>::quiet_NaN();
    test::fails_with([&] { dv::kl_penalty(bad, ref); }, "argument 'logp', row 1, column 2: log-probability must be finite");
    test::fails_with([&] { dv::kl_penalty(ref, bad); }, "argument 'ref_logp', row 1, column 2");
    Row positive = ref;
    positive(0, 1) = 800.0;  // not a log-probability (exp(delta) would overflow k3)
    test::fails_with([&] { dv::kl_penalty(logp, positive); }, "argument 'ref_logp', row 0, column 1: log-probability must be finite and <= 0");
    dv::KlPenaltyOptions options;
    Row weights = Row::Ones(2, 3);
    weights(0, 1) = -1.0;
    options.mask = weights;
    test::fails_with([&] { dv::kl_penalty(logp, ref, options); }, "argument 'options.mask', row 0, column 1: weight must be finite and >= 0");
    const Row small = Row::Ones(2, 2);
    options.mask = small;
    test::fails_with([&] { dv::kl_penalty(logp, ref, options); }, "argument 'options.mask'", "differs");
    options = {};
    options.delta_clamp = 0.0;
    test::fails_with([&] { dv::kl_penalty(logp, ref, options); }, "argument 'options.delta_clamp': must be > 0");
    options = {};
    options.value_clamp = std::numeric_limits<double>::quiet_NaN();
    test::fails_with([&] { dv::kl_penalty(logp, ref, options); }, "argument 'options.value_clamp'");
    const Row empty(0, 3);
    test::fails_with([&] { dv::kl_penalty(empty, empty); }, "argument 'logp': empty input");
    // A masked NaN is padding: allowed.
    Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> keep(2, 3);
    keep.setConstant(true);
    keep(1, 2) = false;
    options = {};
    options.mask = keep;
    CHECK(std::isfinite(dv::kl_penalty(bad, ref, options)));
}

TEST_CASE("IS-corrected and straight-through gradients against central differences", "[rl][gradient]")
{
    const auto estimator = GENERATE(dv::KlEstimator::k1, dv::KlEstimator::k2, dv::KlEstimator::k3, dv::KlEstimator::abs,
                                    dv::KlEstimator::k1_straight_through, dv::KlEstimator::k3_straight_through);
    CAPTURE(int(estimator));
    const Batch batch = random_batch(3, 6, 51);
    const Row old = batch.logp.array() + 0.2 * test::random_logits(3, 6, 52, 1.0).array();
    dv::KlPenaltyOptions options;
    options.estimator = estimator;
    options.mask = batch.keep;
    Row grad(3, 6);
    dv::KlPenaltyOutputs<double> out;
    out.grad_logp = grad;
    dv::kl_penalty(batch.logp, batch.ref, old, options, out);
    const bool straight = estimator == dv::KlEstimator::k1_straight_through || estimator == dv::KlEstimator::k3_straight_through;
    if (straight) {
        // Not the gradient of its value: that of k2's value with k's value added and held constant.
        dv::KlPenaltyOptions k2 = options;
        k2.estimator = dv::KlEstimator::k2;
        const Row k2_values = dv::kl_penalty_tokens(batch.logp, batch.ref, old, k2);
        const Row values = dv::kl_penalty_tokens(batch.logp, batch.ref, old, options);
        Row ratio_term = Row::Zero(3, 6);
        for (int b = 0; b < 3; ++b)
            for (int t = 0; t < 6; ++t)
                if (batch.keep(b, t)) ratio_term(b, t) = values(b, t) - k2_values(b, t);  // r (k - k2), its derivative r (k - k2)
        Row grad_k2(3, 6);
        dv::KlPenaltyOutputs<double> out_k2;
        out_k2.grad_logp = grad_k2;
        dv::kl_penalty(batch.logp, batch.ref, old, k2, out_k2);
        const double kept = double(batch.keep.count());
        CHECK(test::close(grad, Row(grad_k2 + ratio_term / kept), 1e-13, 1e-15));
    } else {
        const Row numeric =
            test::central_difference(batch.logp, [&](const Row& x) { return dv::kl_penalty(x, batch.ref, old, options); });
        CHECK(test::close(grad, numeric, 1e-6, 1e-9));
    }
}

}  // namespace losses_rl_test
