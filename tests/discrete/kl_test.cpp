#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "divergence/discrete/kl.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

namespace discrete_kl_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace ref = test::reference;

TEST_CASE("kl is non-negative and zero only at P == Q (Gibbs)", "[kl][property]")
{
    const auto v = GENERATE(1, 2, 7, 64, 1000);
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const Eigen::VectorXd p = test::random_simplex(v, seed), q = test::random_simplex(v, seed + 1);
    CAPTURE(v, seed);
    CHECK(dv::kl(p, q) >= 0.0);
    CHECK(dv::kl(p, p) == Approx(0.0).margin(1e-14));
    if (v > 1) CHECK(dv::kl(p, q) > 0.0);
}

TEST_CASE("kl matches a long-double reference in every form", "[kl][reference]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 5)));
    const double temperature = GENERATE(0.5, 1.0, 3.0);
    const test::Matrix s = test::random_logits(4, 33, seed), t = test::random_logits(4, 33, seed + 7);
    const Eigen::VectorXd rows = dv::kl_rows(dv::logits(t, temperature), dv::logits(s, temperature));
    for (Eigen::Index r = 0; r < 4; ++r) {
        const auto lp = ref::log_softmax(ref::row(t, r), temperature), lq = ref::log_softmax(ref::row(s, r), temperature);
        CHECK(rows(r) == Approx(double(ref::kl_log(lp, lq))).epsilon(1e-13));
    }
}

TEST_CASE("kl gradients match central differences (probs, log-probs, logits with temperature and mask)", "[kl][gradient]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 3)));
    const auto reduction = GENERATE(dv::Reduction::sum, dv::Reduction::mean, dv::Reduction::batchmean);
    const test::Matrix a = test::random_logits(3, 6, seed), b = test::random_logits(3, 6, seed + 1);
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(3);
    keep << true, false, true;
    dv::Options options{reduction};
    options.mask = keep;
    options.tolerance = 1e-3;
    const double temperature = 1.7;

    test::Matrix gp(3, 6), gq(3, 6);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    dv::kl(dv::logits(a, temperature), dv::logits(b, temperature), options, out);
    auto fp = [&](const test::Matrix& x) { return dv::kl(dv::logits(x, temperature), dv::logits(b, temperature), options); };
    auto fq = [&](const test::Matrix& x) { return dv::kl(dv::logits(a, temperature), dv::logits(x, temperature), options); };
    CHECK(test::close(gp, test::central_difference(a, fp)));
    CHECK(test::close(gq, test::central_difference(b, fq)));
}

TEST_CASE("kl gradients match central differences in the probs and log-probs forms", "[kl][gradient]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 3)));
    const test::Matrix p = test::random_simplex_rows(3, 5, seed), q = test::random_simplex_rows(3, 5, seed + 1);
    dv::Options options{dv::Reduction::batchmean};
    options.tolerance = 1e-3;
    test::Matrix gp(3, 5), gq(3, 5);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;

    SECTION("probs")
    {
        dv::kl(p, q, options, out);
        CHECK(test::close(gp, test::central_difference(p, [&](const test::Matrix& x) { return dv::kl(x, q, options); })));
        CHECK(test::close(gq, test::central_difference(q, [&](const test::Matrix& x) { return dv::kl(p, x, options); })));
    }
    SECTION("log-probs")
    {
        const test::Matrix lp = test::log_of(p), lq = test::log_of(q);
        dv::kl(dv::log_probs(lp), dv::log_probs(lq), options, out);
        CHECK(test::close(gp, test::central_difference(lp, [&](const test::Matrix& x) {
                              return dv::kl(dv::log_probs(x), dv::log_probs(lq), options);
                          })));
        CHECK(test::close(gq, test::central_difference(lq, [&](const test::Matrix& x) {
                              return dv::kl(dv::log_probs(lp), dv::log_probs(x), options);
                          })));
    }
    SECTION("reverse kl, logits with different temperatures")
    {
        const test::Matrix a = test::random_logits(3, 5, seed + 2), b = test::random_logits(3, 5, seed + 3);
        dv::reverse_kl(dv::logits(a, 0.7), dv::logits(b, 2.0), options, out);
        CHECK(test::close(gp, test::central_difference(a, [&](const test::Matrix& x) {
                              return dv::reverse_kl(dv::logits(x, 0.7), dv::logits(b, 2.0), options);
                          })));
        CHECK(test::close(gq, test::central_difference(b, [&](const test::Matrix& x) {
                              return dv::reverse_kl(dv::logits(a, 0.7), dv::logits(x, 2.0), options);
                          })));
    }
}

TEST_CASE("kl from logits has the closed-form student gradient (q - p) / T", "[kl][gradient]")
{
    const test::Matrix t = test::random_logits(2, 9, 11), s = test::random_logits(2, 9, 12);
    const double temperature = 2.5;
    test::Matrix g(2, 9);
    dv::Outputs<double> out;
    out.grad_q = g;
    dv::kl(dv::logits(t, temperature), dv::logits(s, temperature), {dv::Reduction::sum}, out);
    for (Eigen::Index r = 0; r < 2; ++r) {
        const auto p = ref::softmax(ref::row(t, r), temperature), q = ref::softmax(ref::row(s, r), temperature);
        for (Eigen::Index c = 0; c < 9; ++c) CHECK(g(r, c) == Approx(double((q[c] - p[c]) / temperature)).epsilon(1e-12).margin(1e-16));
    }
}

TEST_CASE("reverse_kl(p, q) is KL(Q || P): the arguments are swapped by name, not by position", "[kl][property]")
{
    const Eigen::VectorXd p = test::random_simplex(17, 3), q = test::random_simplex(17, 4);
    const auto lp = ref::row(p.transpose(), 0), lq = ref::row(q.transpose(), 0);
    CHECK(dv::reverse_kl(p, q) == Approx(double(ref::kl(lq, lp))).epsilon(1e-13));
    CHECK(dv::kl(p, q) == Approx(double(ref::kl(lp, lq))).epsilon(1e-13));
}

TEST_CASE("kl obeys Pinsker: TV <= sqrt(KL / 2)", "[kl][property]")
{
    const auto v = GENERATE(2, 5, 100);
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const Eigen::VectorXd p = test::random_simplex(v, seed, 0.2), q = test::random_simplex(v, seed + 1);
    const double tv = 0.5 * (p - q).cwiseAbs().sum();
    CAPTURE(v, seed);
    CHECK(tv <= std::sqrt(dv::kl(p, q) / 2.0) + 1e-15);
}

TEST_CASE("kl obeys data processing: merging two bins never increases it", "[kl][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 20)));
    const Eigen::VectorXd p = test::random_simplex(8, seed, 0.2), q = test::random_simplex(8, seed + 1, 0.1);
    Eigen::VectorXd pm(7), qm(7);
    pm << p(0) + p(1), p.tail(6);
    qm << q(0) + q(1), q.tail(6);
    CAPTURE(seed);
    CHECK(dv::kl(pm, qm) <= dv::kl(p, q) * (1 + 1e-14) + 1e-15);
}

TEST_CASE("kl zero conventions: 0 log 0 = 0, support mismatch is +inf, never NaN", "[kl][edge]")
{
    Eigen::VectorXd p(4), q(4);
    p << 0.5, 0.5, 0.0, 0.0;
    q << 0.25, 0.25, 0.5, 0.0;
    CHECK(dv::kl(p, q) == Approx(std::log(2.0)).epsilon(1e-15));  // zeros of p count 0
    CHECK(std::isinf(dv::kl(q, p)));                                 // q > 0 where p = 0
    CHECK(dv::reverse_kl(p, q) == dv::kl(q, p));

    // Gradients at zeros: finite where the value is, no NaN anywhere.
    Eigen::VectorXd gp(4), gq(4);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    dv::kl(p, q, {}, out);
    CHECK(gq(2) == 0.0);  // d/dq_i = -p_i / q_i = 0 where p_i = 0
    CHECK(gq(3) == 0.0);  // both zero: contributes nothing
    CHECK(gp(3) == 0.0);
    CHECK(gp(2) == -std::numeric_limits<double>::infinity());  // d/dp_i = log(p_i/q_i) + 1 -> -inf as p_i -> 0
    CHECK(!gp.array().isNaN().any());
    CHECK(!gq.array().isNaN().any());

    // The same through log-probabilities with -inf entries: d/dlog p and d/dlog q are finite.
    const Eigen::VectorXd lp = p.array().log(), lq = q.array().log();
    dv::kl(dv::log_probs(lp), dv::log_probs(lq), {}, out);
    CHECK(gp.allFinite());
    CHECK(gq.allFinite());
    CHECK(gq(0) == Approx(-0.5));
}

TEST_CASE("kl on adversarial rows: one-hot, huge logits, V = 262144", "[kl][edge]")
{
    SECTION("one-hot rows")
    {
        Eigen::VectorXd a = Eigen::VectorXd::Zero(5), b = Eigen::VectorXd::Zero(5);
        a(1) = 1.0;
        b(1) = 1.0;
        CHECK(dv::kl(a, b) == 0.0);
        b(1) = 0.0;
        b(3) = 1.0;
        CHECK(std::isinf(dv::kl(a, b)));
    }
    SECTION("a probability that underflows from logits is still > 0: against q = 0 it is +inf")
    {
        Eigen::RowVectorXd t(2), s(2);
        t << 0.0, -1e4;  // p_1 = exp(-1e4) underflows to 0 in double, log p_1 = -1e4 stays exact
        s << 0.0, -std::numeric_limits<double>::infinity();
        CHECK(std::isinf(dv::kl(dv::logits(t), dv::logits(s))));
        CHECK(dv::kl(dv::logits(s), dv::logits(t)) == Approx(0.0).margin(1e-300));
    }
    SECTION("double logits +-1e300: exact in the log domain")
    {
        Eigen::RowVectorXd t(3), s(3);
        t << 1e300, -1e300, 0.0;
        s << -1e300, 1e300, 0.0;
        // p = q = one-hot on different entries; log p - log q at p's entry = 1e300 - (-1e300 - 1e300) = 2e300... finite.
        const double value = dv::kl(dv::logits(t), dv::logits(s));
        CHECK(value == Approx(2e300).epsilon(1e-12));
        Eigen::RowVectorXd g(3);
        dv::Outputs<double> out;
        out.grad_q = g;
        dv::kl(dv::logits(t), dv::logits(s), {}, out);
        CHECK(g.allFinite());
        CHECK(g(0) == Approx(-1.0));  // q - p
        CHECK(g(1) == Approx(1.0));
    }
    SECTION("float logits +-1e4 stay finite and match a long-double reference")
    {
        Eigen::RowVectorXf t(4), s(4);
        t << 1e4f, -1e4f, 0.0f, 9999.0f;
        s << -1e4f, 1e4f, 5.0f, 1e4f;
        const float value = dv::kl(dv::logits(t), dv::logits(s));
        const auto lp = ref::log_softmax(ref::row(t.cast<double>(), 0)), lq = ref::log_softmax(ref::row(s.cast<double>(), 0));
        CHECK(std::isfinite(value));
        CHECK(value == Approx(double(ref::kl_log(lp, lq))).epsilon(1e-6));
    }
    SECTION("V = 262144 float: within the documented bound of a long-double reference")
    {
        const test::Matrix td = test::random_logits(1, 262144, 5, 8.0), sd = test::random_logits(1, 262144, 6, 8.0);
        const test::MatrixF t = td.cast<float>(), s = sd.cast<float>();
        const float value = dv::kl(dv::logits(t), dv::logits(s));
        const auto lp = ref::log_softmax(ref::row(t.cast<double>(), 0)), lq = ref::log_softmax(ref::row(s.cast<double>(), 0));
        const double expected = double(ref::kl_log(lp, lq));
        // Documented bound (docs/accuracy.md): float results within 4 ulp(float) relative of the exact value of the float inputs.
        CHECK(std::abs(value - expected) <= 4 * std::numeric_limits<float>::epsilon() * expected);
    }
}

namespace {

/// KL(P || Q) of one row in long double as sum q g(r) + sum (p - q), r = log(p/q), g(r) = r e^r - e^r + 1
/// by its series near r = 0: no cancellation between the terms, so the reference keeps its digits when
/// Q is within 1e-8 of P (the naive sum p log(p/q) would lose them to its own rounding). From the numbers
/// as given: probabilities (r = log1p((p - q) / q), p - q exact) or log-probabilities (r = log p - log q,
/// p - q = q expm1(r)).
long double kl_split(const test::Matrix& p_given, bool p_logs, const test::Matrix& q_given, bool q_logs)
{
    long double gaps = 0, linear = 0;
    for (Eigen::Index i = 0; i < p_given.cols(); ++i) {
        const long double a = p_given(0, i), b = q_given(0, i);
        const long double p = p_logs ? std::exp(a) : a, q = q_logs ? std::exp(b) : b;
        if (p == 0) continue;
        const long double log_p = p_logs ? a : std::log(a), log_q = q_logs ? b : std::log(b);
        const long double r = (p_logs && q_logs) || p > 2 * q || q > 2 * p ? log_p - log_q : std::log1p((p - q) / q);
        long double g = 0;
        if (std::fabs(r) > 0.5L) {
            g = r * std::exp(r) - std::expm1(r);
        } else {
            long double power = r;
            for (int k = 2; k < 40; ++k) power *= r / k, g += (k - 1) * power;
        }
        gaps += q * g;
        linear += p_logs && q_logs ? q * std::expm1(r) : p - q;
    }
    // Rounded to double, P and Q sum to 1 only within about eps: at KL ~ 1e-17 that can make the sum
    // negative; the library returns max(0, sum) (Gibbs), and so does the reference.
    return std::max(0.0L, gaps + linear);
}

}  // namespace

TEST_CASE("kl keeps its relative accuracy for Q within 1e-2 to 1e-8 of P, in every mix of forms (element path)",
          "[kl][reference]")
{
    const Eigen::Index v = 500;
    const double delta = GENERATE(1e-2, 1e-5, 1e-8);
    CAPTURE(delta);
    // P random; log Q = log P + delta * u (u in [-1, 1]) renormalized, both in long double, then rounded.
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    const Eigen::VectorXd p0 = test::random_simplex(v, 7);
    std::vector<long double> lp(v), lq(v);
    long double norm = 0;
    for (Eigen::Index i = 0; i < v; ++i) lp[i] = std::log((long double)p0(i)), lq[i] = lp[i] + delta * uniform(rng), norm += std::exp(lq[i]);
    for (auto& x : lq) x -= std::log(norm);
    test::Matrix log_p(1, v), log_q(1, v), prob_p(1, v), prob_q(1, v);
    for (Eigen::Index i = 0; i < v; ++i) {
        log_p(0, i) = double(lp[i]), log_q(0, i) = double(lq[i]);
        prob_p(0, i) = double(std::exp(lp[i])), prob_q(0, i) = double(std::exp(lq[i]));
    }
    // The reference of each form is taken on the numbers as given (rounded to double).
    // From numbers of one kind (probabilities, or log-probabilities) the error is a few eps of KL plus
    // eps sum |p - q| (the nearly cancelling linear parts). Mixed, the probabilities computed from the
    // log-probabilities carry their rounding (eps q each) into sum (p - q): a few eps absolute.
    const double eps = std::numeric_limits<double>::epsilon();
    CHECK(dv::kl(prob_p, prob_q, {dv::Reduction::sum}) ==
          Approx(double(kl_split(prob_p, false, prob_q, false))).epsilon(1e-12).margin(eps * delta));
    CHECK(dv::kl(dv::log_probs(log_p), dv::log_probs(log_q), {dv::Reduction::sum}) ==
          Approx(double(kl_split(log_p, true, log_q, true))).epsilon(1e-12).margin(eps * delta));
    CHECK(dv::reverse_kl(dv::log_probs(log_q), dv::log_probs(log_p), {dv::Reduction::sum}) ==
          Approx(double(kl_split(log_p, true, log_q, true))).epsilon(1e-12).margin(eps * delta));
    CHECK(dv::kl(prob_p, dv::log_probs(log_q), {dv::Reduction::sum}) ==
          Approx(double(kl_split(prob_p, false, log_q, true))).epsilon(1e-12).margin(4 * eps));
    CHECK(dv::kl(dv::log_probs(log_p), prob_q, {dv::Reduction::sum}) ==
          Approx(double(kl_split(log_p, true, prob_q, false))).epsilon(1e-12).margin(4 * eps));
}

TEST_CASE("kl and reverse_kl between log-probabilities and logits take the log-probabilities as given", "[kl][reference]")
{
    // Teacher log-probabilities as a server sends them: normalized only within rounding (here their mass
    // is e^(3e-8) and e^(-2e-8), inside the default tolerance), with a zero entry; student logits at a
    // temperature. Reference in long double from the numbers as given: KL = sum_i p_i (log p_i - log q_i)
    // with p_i = exp(x_i); student gradient d/dz_j = (s_p q_j - p_j) / T, s_p = sum_i p_i (KL), and
    // q_j (log q_j - log p_j - KL(Q || P)) / T (reverse KL).
    const Eigen::Index v = 1500;  // more than one block of 1024 columns
    const double temperature = 1.7;
    const test::Matrix student = test::random_logits(3, v, 21);
    test::Matrix teacher = test::random_logits(3, v, 22);
    teacher(1, 7) = -std::numeric_limits<double>::infinity();  // p = 0: counts 0
    const double shift[3] = {3e-8, -2e-8, 0.0};
    for (Eigen::Index r = 0; r < 3; ++r) {
        const auto lp = ref::log_softmax(ref::row(teacher, r));
        for (Eigen::Index c = 0; c < v; ++c) teacher(r, c) = double(lp[c]) + shift[r];
    }
    Eigen::VectorXd weights(3);
    weights << 0.5, 2.0, 1.0;
    dv::Options options{dv::Reduction::sum};
    options.weights = weights;

    test::Matrix g_forward(3, v), g_reverse(3, v);
    dv::Outputs<double> forward_out, reverse_out;
    forward_out.grad_q = g_forward;
    reverse_out.grad_q = g_reverse;
    const double forward = dv::kl(dv::log_probs(teacher), dv::logits(student, temperature), options, forward_out);
    const double reverse = dv::reverse_kl(dv::log_probs(teacher), dv::logits(student, temperature), options, reverse_out);

    long double forward_ref = 0, reverse_ref = 0;
    for (Eigen::Index r = 0; r < 3; ++r) {
        const auto log_q = ref::log_softmax(ref::row(student, r), temperature);
        long double row_forward = 0, row_reverse = 0, mass_p = 0;
        for (Eigen::Index c = 0; c < v; ++c) {
            const long double log_p = teacher(r, c), p = std::exp(log_p), q = std::exp(log_q[c]);
            mass_p += p;
            if (p > 0) row_forward += p * (log_p - log_q[c]);
            row_reverse += q * (log_q[c] - log_p);  // +inf at p = 0 < q: checked below
        }
        if (r != 1) reverse_ref += weights(r) * row_reverse;
        forward_ref += weights(r) * row_forward;
        for (Eigen::Index c = 0; c < v; ++c) {
            const long double p = std::exp((long double)teacher(r, c)), q = std::exp(log_q[c]);
            const long double expected = weights(r) * (mass_p * q - p) / temperature;
            CHECK(std::abs(g_forward(r, c) - double(expected)) <= 1e-13 * std::abs(double(expected)) + 1e-18);
            if (r != 1) {
                const long double expected_reverse =
                    weights(r) * q * (log_q[c] - (long double)teacher(r, c) - row_reverse) / temperature;
                CHECK(std::abs(g_reverse(r, c) - double(expected_reverse)) <= 1e-11 * std::abs(double(expected_reverse)) + 1e-17);
            }
        }
    }
    CHECK(forward == Approx(double(forward_ref)).epsilon(1e-13));
    CHECK(reverse == std::numeric_limits<double>::infinity());  // q > 0 = p in row 1: KL(Q || P) = +inf
    const dv::RowValues<double> reverse_rows = dv::reverse_kl_rows(dv::log_probs(teacher), dv::logits(student, temperature));
    CHECK(reverse_rows(0) * weights(0) + reverse_rows(2) * weights(2) == Approx(double(reverse_ref)).epsilon(1e-13));

    // The same numbers through the element path (a teacher gradient asked too): the same values.
    test::Matrix g_teacher(3, v);
    dv::Outputs<double> both;
    both.grad_p = g_teacher;
    CHECK(dv::kl(dv::log_probs(teacher), dv::logits(student, temperature), options, both) == Approx(forward).epsilon(1e-13));
}

}  // namespace discrete_kl_test
