// The element kernels of losses/alpha_beta.hpp and losses/token_wise.hpp in every input form:
// values against long-double definitions, gradients (d/dp, d/dlog p, d/dz) against central
// differences at ordinary points and at the alpha-beta limits, float inputs.

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "divergence/discrete/kl.hpp"
#include "divergence/losses/alpha_beta.hpp"
#include "divergence/losses/token_wise.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"

namespace losses_alpha_beta_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;

namespace {

using Row = dv::RowMatrix<double>;

/// sum over rows of the Cichocki-Amari divergence of probability rows, in long double (alpha, beta, s != 0).
long double alpha_beta_reference(const Row& p, const Row& q, long double a, long double b)
{
    long double s = 0;
    for (Eigen::Index r = 0; r < p.rows(); ++r) {
        for (Eigen::Index c = 0; c < p.cols(); ++c) {
            const long double x = p(r, c), y = q(r, c);
            s += -(std::pow(x, a) * std::pow(y, b) - a / (a + b) * std::pow(x, a + b) - b / (a + b) * std::pow(y, a + b)) / (a * b);
        }
    }
    return s;
}

Row normalized(const Row& x)
{
    Row p = x;
    for (Eigen::Index r = 0; r < p.rows(); ++r) p.row(r) /= p.row(r).sum();
    return p;
}

}  // namespace

TEST_CASE("alpha_beta_divergence of probability rows matches its definition in long double", "[alpha_beta][reference]")
{
    const Row p = test::random_simplex_rows(4, 33, 1), q = test::random_simplex_rows(4, 33, 2);
    const auto ab = GENERATE(std::make_pair(0.5, 0.5), std::make_pair(2.0, -0.5), std::make_pair(-0.3, 1.2),
                             std::make_pair(0.2, 0.1), std::make_pair(1.0, 1.0), std::make_pair(3.0, -2.9));
    CAPTURE(ab.first, ab.second);
    const double value = dv::alpha_beta_divergence(p, q, ab.first, ab.second, {dv::Reduction::sum});
    CHECK(value == Approx(double(alpha_beta_reference(p, q, ab.first, ab.second))).epsilon(1e-12));
    const dv::RowValues<double> rows = dv::alpha_beta_divergence_rows(p, q, ab.first, ab.second);
    CHECK(rows.sum() == Approx(value).epsilon(1e-13));
}

TEST_CASE("alpha_beta_divergence gradients in every form match central differences, at the limits too", "[alpha_beta][gradient]")
{
    const auto ab = GENERATE(std::make_pair(0.6, 0.3), std::make_pair(1.0, 0.0), std::make_pair(0.0, 1.0), std::make_pair(0.5, -0.5),
                             std::make_pair(0.0, 0.0), std::make_pair(1.0, 1e-9), std::make_pair(1.5, -0.7));
    const double a = ab.first, b = ab.second;
    CAPTURE(a, b);
    const Row zp = test::random_logits(3, 6, 11, 1.5), zq = test::random_logits(3, 6, 12, 1.5);
    const dv::Options sum{dv::Reduction::sum};
    // Probabilities: the unconstrained partial derivatives d/dp, d/dq (rows need not sum to 1 for them).
    const Row p = normalized(zp.array().exp().matrix()), q = normalized(zq.array().exp().matrix());
    Row gp(3, 6), gq(3, 6);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    dv::alpha_beta_divergence(p, q, a, b, sum, out);
    dv::Options loose = sum;
    loose.validation = dv::Validation::none;
    CHECK(test::close(gp, test::central_difference(p, [&](const Row& x) { return dv::alpha_beta_divergence(x, q, a, b, loose); })));
    CHECK(test::close(gq, test::central_difference(q, [&](const Row& x) { return dv::alpha_beta_divergence(p, x, a, b, loose); })));
    // Logits at a temperature.
    dv::alpha_beta_divergence(dv::logits(zp, 0.8), dv::logits(zq, 0.8), a, b, sum, out);
    CHECK(test::close(gp, test::central_difference(zp, [&](const Row& x) {
                          return dv::alpha_beta_divergence(dv::logits(x, 0.8), dv::logits(zq, 0.8), a, b, sum);
                      })));
    CHECK(test::close(gq, test::central_difference(zq, [&](const Row& x) {
                          return dv::alpha_beta_divergence(dv::logits(zp, 0.8), dv::logits(x, 0.8), a, b, sum);
                      })));
    // Log-probabilities: d/dlog p.
    const Row lp = p.array().log().matrix(), lq = q.array().log().matrix();
    dv::alpha_beta_divergence(dv::log_probs(lp), dv::log_probs(lq), a, b, sum, out);
    CHECK(test::close(gq, test::central_difference(lq, [&](const Row& x) {
                          return dv::alpha_beta_divergence(dv::log_probs(lp), dv::log_probs(x), a, b, loose);
                      })));
}

TEST_CASE("alpha_beta_divergence (1, 0) and (0, 1) equal kl and reverse_kl with their gradients, float rows in double", "[alpha_beta]")
{
    const test::MatrixF zp = test::random_logits(5, 1000, 21, 3.0).cast<float>(), zq = test::random_logits(5, 1000, 22, 3.0).cast<float>();
    dv::RowMatrix<float> g(5, 1000), expected(5, 1000);
    dv::Outputs<float> out, expected_out;
    out.grad_q = g;
    expected_out.grad_q = expected;
    const float forward = dv::alpha_beta_divergence(dv::logits(zp), dv::logits(zq), 1.0, 0.0, {}, out);
    CHECK(forward == Approx(dv::kl(dv::logits(zp), dv::logits(zq), {}, expected_out)).epsilon(1e-6));
    CHECK(test::close(g, expected, 1e-5, 1e-9));
    const float reverse = dv::alpha_beta_divergence(dv::logits(zp), dv::logits(zq), 0.0, 1.0, {}, out);
    CHECK(reverse == Approx(dv::reverse_kl(dv::logits(zp), dv::logits(zq), {}, expected_out)).epsilon(1e-6));
    CHECK(test::close(g, expected, 1e-5, 1e-9));
}

TEST_CASE("token_wise_kl in probability form: value and frozen-weight gradients", "[token_wise][gradient]")
{
    const Row p = test::random_simplex_rows(3, 7, 31), q = test::random_simplex_rows(3, 7, 32);
    const double beta = 1.5;
    Row w(3, 7);
    long double expected = 0;
    for (Eigen::Index r = 0; r < 3; ++r) {
        for (Eigen::Index c = 0; c < 7; ++c) {
            const long double l = std::log((long double)p(r, c) / q(r, c));
            w(r, c) = double(1 / (1 + std::exp(-beta * l)));
            expected += w(r, c) * p(r, c) * l - (1 - w(r, c)) * q(r, c) * l;
        }
    }
    const dv::Options sum{dv::Reduction::sum};
    Row gp(3, 7), gq(3, 7);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    CHECK(dv::token_wise_kl(p, q, beta, sum, out) == Approx(double(expected)).epsilon(1e-13));
    const auto frozen = [&](const Row& x, const Row& y) {
        double s = 0;
        for (Eigen::Index r = 0; r < 3; ++r)
            for (Eigen::Index c = 0; c < 7; ++c) {
                const double l = std::log(x(r, c) / y(r, c));
                s += w(r, c) * x(r, c) * l - (1 - w(r, c)) * y(r, c) * l;
            }
        return s;
    };
    CHECK(test::close(gp, test::central_difference(p, [&](const Row& x) { return frozen(x, q); })));
    CHECK(test::close(gq, test::central_difference(q, [&](const Row& x) { return frozen(p, x); })));
    // Zeros: outside both supports 0; a zero in one row only: +inf (a KL term's support mismatch).
    Eigen::RowVectorXd a(3), b(3);
    a << 0.0, 0.5, 0.5;
    b << 0.0, 0.25, 0.75;
    CHECK(std::isfinite(dv::token_wise_kl(a, b, beta)));
    b << 0.1, 0.2, 0.7;
    CHECK(std::isinf(dv::token_wise_kl(a, b, beta)));
    CHECK(std::isinf(dv::token_wise_kl(b, a, beta)));
}

TEST_CASE("alpha_beta_divergence of widely spread logits (packet and scalar lanes mixed) matches long double", "[alpha_beta][reference]")
{
    // Logits spread over +-150 give log-probabilities down to about -300: beyond the packet path's bound
    // for these (alpha, beta), so some packets of a row take the scalar lanes and others the SIMD ones.
    const Row zp = test::random_logits(3, 67, 51, 150.0), zq = test::random_logits(3, 67, 52, 150.0);
    const auto ab = GENERATE(std::make_pair(0.7, 0.6), std::make_pair(2.0, -0.5), std::make_pair(0.4, -0.35));
    const long double a = ab.first, b = ab.second;
    CAPTURE(ab.first, ab.second);
    const dv::RowValues<double> rows = dv::alpha_beta_divergence_rows(dv::logits(zp), dv::logits(zq), ab.first, ab.second);
    for (Eigen::Index r = 0; r < 3; ++r) {
        const auto log_softmax = [&](const Row& z) {
            long double m = z.row(r).maxCoeff(), s = 0;
            for (Eigen::Index c = 0; c < z.cols(); ++c) s += std::exp((long double)z(r, c) - m);
            std::vector<long double> out;
            for (Eigen::Index c = 0; c < z.cols(); ++c) out.push_back((long double)z(r, c) - m - std::log(s));
            return out;
        };
        const std::vector<long double> lp = log_softmax(zp), lq = log_softmax(zq);
        long double expected = 0;
        for (std::size_t c = 0; c < lp.size(); ++c) {
            expected += -(std::exp(a * lp[c] + b * lq[c]) - a / (a + b) * std::exp((a + b) * lp[c]) - b / (a + b) * std::exp((a + b) * lq[c])) / (a * b);
        }
        CHECK(rows(r) == Approx(double(expected)).epsilon(1e-11));
    }
}

TEST_CASE("alpha_beta_divergence at a log-probability of -1e38 is finite with gradients 0 there, not NaN", "[alpha_beta][edge]")
{
    // The fuzzer's case (float, alpha 1, beta 1/2): q = {0, -1e38, -1e38, -1e38} in log-probabilities, so l = log p - log q
    // is 1e38: expm1(alpha l) = +inf met q^(alpha + beta) = e^-1.5e38 = 0 in d/dlog q (0 * inf = NaN). The exponents
    // are now added before exp. Reference: the definition in long double, and central differences.
    const Row lp = (Row(1, 4) << std::log(0.1), std::log(0.2), std::log(0.3), std::log(0.4)).finished();
    const Row lq = (Row(1, 4) << 0.0, -1e38, -1e38, -1e38).finished();
    const dv::Options sum{dv::Reduction::sum};
    dv::Options loose = sum;
    loose.validation = dv::Validation::none;
    for (const auto& ab : {std::make_pair(1.0, 0.5), std::make_pair(0.5, 0.45), std::make_pair(-0.5, 1.0), std::make_pair(2.0, 0.0),
                          std::make_pair(0.0, 1.0)}) {
        const long double a = ab.first, b = ab.second;
        CAPTURE(ab.first, ab.second);
        Row gp(1, 4), gq(1, 4);
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        const double value = dv::alpha_beta_divergence(dv::log_probs(lp), dv::log_probs(lq), ab.first, ab.second, sum, out);
        CHECK(std::isfinite(value));
        CHECK((gp.allFinite() && gq.allFinite()));
        if (a != 0 && b != 0) {
            long double expected = 0;
            for (int c = 0; c < 4; ++c) {
                const long double x = lp(0, c), y = lq(0, c);
                expected += -(std::exp(a * x + b * y) - a / (a + b) * std::exp((a + b) * x) - b / (a + b) * std::exp((a + b) * y)) / (a * b);
            }
            CHECK(value == Approx(double(expected)).epsilon(1e-12));
        }
        if (b == 0) {
            // d = [p^a a l - p^a + q^a] / a^2 (the beta = 0 limit) is about 1e37 here: differences of order 1 do not
            // resolve. Its derivatives by hand: d/dlog p = p^a l, d/dlog q = -(p^a - q^a) / a.
            for (int c = 0; c < 4; ++c) {
                const long double x = lp(0, c), y = lq(0, c);
                CHECK(gp(0, c) == Approx(double(std::exp(a * x) * (x - y))).epsilon(1e-12));
                CHECK(gq(0, c) == Approx(double(-(std::exp(a * x) - std::exp(a * y)) / a)).epsilon(1e-12));
            }
        } else {
            CHECK(test::close(gq, test::central_difference(lq, [&](const Row& x) {
                                  return dv::alpha_beta_divergence(dv::log_probs(lp), dv::log_probs(x), ab.first, ab.second, loose);
                              })));
            CHECK(test::close(gp, test::central_difference(lp, [&](const Row& x) {
                                  return dv::alpha_beta_divergence(dv::log_probs(x), dv::log_probs(lq), ab.first, ab.second, loose);
                              })));
        }
        // float rows, as the fuzzer gave them
        const dv::RowMatrix<float> lpf = lp.cast<float>(), lqf = lq.cast<float>();
        dv::RowMatrix<float> gqf(1, 4);
        dv::Outputs<float> outf;
        outf.grad_q = gqf;
        CHECK(std::isfinite(dv::alpha_beta_divergence(dv::log_probs(lpf), dv::log_probs(lqf), ab.first, ab.second, sum, outf)));
        CHECK(gqf.allFinite());
    }
}

}  // namespace losses_alpha_beta_test
