// The element kernels of losses/alpha_beta.hpp and losses/token_wise.hpp in every input form:
// values against long-double definitions, gradients (d/dp, d/dlog p, d/dz) against central
// differences at ordinary points and at the alpha-beta limits, float inputs.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
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

// Packets are compiler vector types: their alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

TEST_CASE("alpha-beta packet lanes agree with the scalar lanes and long double: term, partials, term_and_partials", "[alpha_beta][reference]")
{
    using W = dv::detail::simd::Packet<double>;
    constexpr int width = dv::detail::simd::lanes<W>;
    const auto ab = GENERATE(std::make_pair(0.2, 0.7), std::make_pair(1.0, 0.0), std::make_pair(0.0, 1.0), std::make_pair(1e-9, 0.7),
                             std::make_pair(0.2, 1e-12), std::make_pair(-0.3, 1.2), std::make_pair(0.5, -0.45), std::make_pair(3.0, -2.9),
                             std::make_pair(1.5, 1.5));
    CAPTURE(ab.first, ab.second);
    const dv::detail::AlphaBetaKernel kernel = dv::detail::alpha_beta_kernel("test", ab.first, ab.second);
    const long double a = ab.first, b = ab.second, s = a + b;
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> log_mass(-30.0, 0.0), spread(-3.0, 3.0);
    for (int trial = 0; trial < 400; ++trial) {
        alignas(64) double lp[width], lq[width], p[width], q[width];
        for (int k = 0; k < width; ++k) {
            lp[k] = log_mass(rng);
            lq[k] = lp[k] + spread(rng) * (trial % 3 == 0 ? 1e-2 : 1.0);  // also lanes with p close to q
            p[k] = std::exp(lp[k]);
            q[k] = std::exp(lq[k]);
        }
        dv::detail::ElementLanes<W> e;
        e.p = dv::detail::simd::load<W>(p);
        e.q = dv::detail::simd::load<W>(q);
        e.log_p = dv::detail::simd::load<W>(lp);
        e.log_q = dv::detail::simd::load<W>(lq);
        alignas(64) double term[width], both[width], both_p[width], both_q[width], d[4][width];
        dv::detail::simd::store(term, kernel.term<W>(e));
        const dv::detail::TermLanes<W> t = kernel.term_and_partials<W>(e);
        dv::detail::simd::store(both, t.term);
        dv::detail::simd::store(both_p, t.d_log_p);
        dv::detail::simd::store(both_q, t.d_log_q);
        const dv::detail::PartialLanes<W> lanes = kernel.partials<W>(0.0, e);
        dv::detail::simd::store(d[0], lanes.d_p);
        dv::detail::simd::store(d[1], lanes.d_log_p);
        dv::detail::simd::store(d[2], lanes.d_q);
        dv::detail::simd::store(d[3], lanes.d_log_q);
        for (int k = 0; k < width; ++k) {
            double scalar[4];
            kernel.partials(p[k], lp[k], q[k], lq[k], scalar);
            // Long double: dd/dlog p = p^a q^b E_b(l), dd/dlog q = -q^s E_a(l) (E_c(l) = expm1(c l) / c, l at c = 0).
            const long double l = (long double)lp[k] - lq[k];
            const auto e_c = [&](long double c) { return c == 0 ? l : std::expm1(c * l) / c; };
            const long double x = std::exp(a * lp[k] + b * lq[k]), q_s = std::exp(s * lq[k]);
            const long double ref_p = x * e_c(b), ref_q = -q_s * e_c(a);
            CAPTURE(lp[k], lq[k]);
            for (int j = 0; j < 4; ++j) CHECK(d[j][k] == Approx(scalar[j]).epsilon(1e-13));
            CHECK(d[1][k] == Approx(double(ref_p)).epsilon(1e-13));
            CHECK(d[3][k] == Approx(double(ref_q)).epsilon(1e-13));
            CHECK(both_p[k] == d[1][k]);
            CHECK(both_q[k] == d[3][k]);
            // The term cancels between parts of size |dd/dlog p|, |dd/dlog q|: its error is relative to them.
            const double scale = 1e-14 * (std::abs(scalar[1]) + std::abs(scalar[3])) / std::min(1.0, double(std::abs(s))) + 1e-300;
            const double ref_term = kernel.term(p[k], lp[k], q[k], lq[k]);
            CHECK(std::abs(term[k] - ref_term) <= scale + 1e-13 * std::abs(ref_term));
            CHECK(std::abs(both[k] - ref_term) <= scale + 1e-13 * std::abs(ref_term));
        }
    }
}

TEST_CASE("token_wise_kl at beta = 1 (weight p / (p + q)) matches long double, and lanes with a zero give the others' terms", "[token_wise][reference]")
{
    const Row p = test::random_simplex_rows(3, 37, 41), q = test::random_simplex_rows(3, 37, 42);
    long double expected = 0;
    for (Eigen::Index r = 0; r < 3; ++r) {
        for (Eigen::Index c = 0; c < 37; ++c) {
            const long double l = std::log((long double)p(r, c) / q(r, c)), w = 1 / (1 + std::exp(-l));
            expected += w * p(r, c) * l - (1 - w) * q(r, c) * l;
        }
    }
    const dv::Options sum{dv::Reduction::sum};
    Row gp(3, 37), gq(3, 37);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    CHECK(dv::token_wise_kl(p, q, 1.0, sum, out) == Approx(double(expected)).epsilon(1e-13));
    // An entry outside both supports inserted at column 2 sends its packet through the general lanes:
    // value and the other gradients unchanged up to rounding (the positive lanes' formulas are the general
    // ones; at beta = 1 their weight p / (p + q) and the general 1 / (1 + e^-l) differ by a few ulp).
    Row p0(3, 38), q0(3, 38), gp0(3, 38), gq0(3, 38);
    p0 << p.leftCols(2), Eigen::VectorXd::Zero(3), p.rightCols(35);
    q0 << q.leftCols(2), Eigen::VectorXd::Zero(3), q.rightCols(35);
    dv::Outputs<double> out0;
    out0.grad_p = gp0;
    out0.grad_q = gq0;
    const dv::Options loose{dv::Reduction::sum, dv::Validation::none};
    CHECK(dv::token_wise_kl(p0, q0, 1.0, loose, out0) == Approx(double(expected)).epsilon(1e-13));
    for (const auto& [g, g0] : {std::make_pair(&gp, &gp0), std::make_pair(&gq, &gq0)}) {
        CHECK(test::close(g->leftCols(2), g0->leftCols(2), 1e-13, 1e-15));
        CHECK(test::close(g->rightCols(35), g0->rightCols(35), 1e-13, 1e-15));
        CHECK(g0->col(2).isZero());
    }
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

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
