// kernel::conditional_cauchy_schwarz: both estimators against plain long-double loops written from
// their definitions (the plug-in one from the general four-term estimator with separate p and q
// samples), against NumPy values (tests/reference/make_conditional_cs_reference.py), gradients
// against central differences, the laws that hold (0 at yhat = y, invariance under a common scaling
// of data and bandwidth) and the one that does not (non-negativity), tiny bandwidths, every error.

#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <cmath>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "divergence/kernel/conditional.hpp"
#include "reference/conditional_cs_reference_values.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"

namespace kernel_conditional_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

namespace kernel = divergence::kernel;
using kernel::ConditionalCsEstimator;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using LongMatrix = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;

// ---------------------------------------------------------------- long-double references

long double gaussian(const LongMatrix& a, Eigen::Index j, const LongMatrix& b, Eigen::Index i, long double sigma)
{
    long double s = 0.0L;
    for (Eigen::Index k = 0; k < a.cols(); ++k) s += (a(j, k) - b(i, k)) * (a(j, k) - b(i, k));
    return std::exp(-s / (2.0L * sigma * sigma));
}

/// Half of the plug-in estimator, the expectations under sample a = (xa, ya) with b the other one:
/// self = sum_j sum_i K_ji L_ji / (sum_i K_ji)^2 over a's pairs, cross = sum_j sum_i K^ab_ji L^ab_ji /
/// ((sum_i K_ji)(sum_i K^ab_ji)) with b's points in the columns.
std::pair<long double, long double> plug_in_half(const LongMatrix& xa, const LongMatrix& ya, const LongMatrix& xb,
                                                 const LongMatrix& yb, long double sx, long double sy)
{
    long double self = 0, cross = 0;
    for (Eigen::Index j = 0; j < xa.rows(); ++j) {
        long double k_aa = 0, kl_aa = 0, k_ab = 0, kl_ab = 0;
        for (Eigen::Index i = 0; i < xa.rows(); ++i) {
            k_aa += gaussian(xa, j, xa, i, sx);
            kl_aa += gaussian(xa, j, xa, i, sx) * gaussian(ya, j, ya, i, sy);
        }
        for (Eigen::Index i = 0; i < xb.rows(); ++i) {
            k_ab += gaussian(xa, j, xb, i, sx);
            kl_ab += gaussian(xa, j, xb, i, sx) * gaussian(ya, j, yb, i, sy);
        }
        self += kl_aa / (k_aa * k_aa);
        cross += kl_ab / (k_aa * k_ab);
    }
    return {self, cross};
}

/// The plug-in estimator of the conditional CS divergence between samples (xp, yp) of p and (xq, yq)
/// of q (Yu et al., arXiv:2301.08970), straight from its four sums: the self and cross terms under p,
/// then under q.
long double plug_in_reference(const LongMatrix& xp, const LongMatrix& yp, const LongMatrix& xq, const LongMatrix& yq,
                              long double sx, long double sy)
{
    const auto [t1, t3] = plug_in_half(xp, yp, xq, yq, sx, sy);
    const auto [t2, t4] = plug_in_half(xq, yq, xp, yp, sx, sy);
    return std::log(t1) + std::log(t2) - std::log(t3) - std::log(t4);
}

/// The CS-IB code's CS_Div(x, y, yhat) in nats: sums over rows j of sum_i K_ji L_ji / sum_i K_ji^2.
long double cs_ib_code_reference(const LongMatrix& x, const LongMatrix& y, const LongMatrix& yhat, long double sx,
                                 long double sy)
{
    const Eigen::Index n = x.rows();
    long double self1 = 0, self2 = 0, cross = 0;
    for (Eigen::Index j = 0; j < n; ++j) {
        long double den = 0, h1 = 0, h2 = 0, h3 = 0;
        for (Eigen::Index i = 0; i < n; ++i) {
            const long double k = gaussian(x, j, x, i, sx);
            den += k * k;
            h1 += k * gaussian(y, j, y, i, sy);
            h2 += k * gaussian(yhat, j, yhat, i, sy);
            h3 += k * gaussian(yhat, j, y, i, sy);  // L21 = k(y2, y1) with y1 = y, y2 = yhat
        }
        self1 += h1 / den;
        self2 += h2 / den;
        cross += h3 / den;
    }
    return std::log(self1) + std::log(self2) - 2.0L * std::log(cross);
}

long double reference(ConditionalCsEstimator estimator, const RowMatrix& x, const RowMatrix& y, const RowMatrix& yhat,
                      double sx, double sy)
{
    const LongMatrix lx = x.cast<long double>(), ly = y.cast<long double>(), lh = yhat.cast<long double>();
    return estimator == ConditionalCsEstimator::plug_in ? plug_in_reference(lx, ly, lx, lh, sx, sy)
                                                        : cs_ib_code_reference(lx, ly, lh, sx, sy);
}

// ---------------------------------------------------------------- data

struct Triples {
    RowMatrix x, y, yhat;
};

/// A seeded regression sample: y = 2 + sin(sum x + k) + noise, yhat = y + noise (targets away from 0:
/// the finite differences take relative steps).
Triples regression(Eigen::Index n, Eigen::Index dx, Eigen::Index dy, unsigned seed, double noise = 0.4)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    Triples t{RowMatrix(n, dx), RowMatrix(n, dy), RowMatrix(n, dy)};
    for (Eigen::Index i = 0; i < n; ++i) {
        double s = 0.0;
        for (Eigen::Index k = 0; k < dx; ++k) s += t.x(i, k) = normal(rng);
        for (Eigen::Index k = 0; k < dy; ++k) {
            t.y(i, k) = 2.0 + std::sin(s + double(k)) + 0.1 * normal(rng);
            t.yhat(i, k) = t.y(i, k) + noise * normal(rng);
        }
    }
    return t;
}

kernel::ConditionalCsOptions options_for(ConditionalCsEstimator estimator, double sx, double sy)
{
    kernel::ConditionalCsOptions o;
    o.sigma_x = sx;
    o.sigma_y = sy;
    o.estimator = estimator;
    return o;
}

const char* name_of(ConditionalCsEstimator e) { return e == ConditionalCsEstimator::plug_in ? "plug_in" : "cs_ib_code"; }

}  // namespace

TEST_CASE("conditional CS: both estimators equal long-double loops of their definitions", "[kernel][conditional]")
{
    const auto estimator = GENERATE(ConditionalCsEstimator::plug_in, ConditionalCsEstimator::cs_ib_code);
    struct Shape {
        Eigen::Index n, dx, dy;
        double sx, sy;
    };
    const auto shape = GENERATE(Shape{1, 1, 1, 1.0, 1.0}, Shape{2, 1, 1, 0.5, 0.7}, Shape{7, 2, 1, 1.0, 1.0},
                                Shape{33, 3, 2, 0.8, 0.5}, Shape{70, 1, 3, 2.0, 0.3}, Shape{40, 5, 1, 0.05, 4.0});
    const Triples t = regression(shape.n, shape.dx, shape.dy, 100 + unsigned(shape.n));
    CAPTURE(name_of(estimator), shape.n, shape.dx, shape.dy, shape.sx, shape.sy);
    const double expected = double(reference(estimator, t.x, t.y, t.yhat, shape.sx, shape.sy));
    const double got = kernel::conditional_cauchy_schwarz(t.x, t.y, t.yhat, options_for(estimator, shape.sx, shape.sy));
    CHECK(got == Approx(expected).epsilon(1e-11).margin(1e-13));

    // Column-major inputs and expressions give the same value; float inputs are accumulated in double.
    const Eigen::MatrixXd xc = t.x, yc = t.y;
    CHECK(kernel::conditional_cauchy_schwarz(xc, yc, t.yhat * 1.0, options_for(estimator, shape.sx, shape.sy)) ==
          Approx(expected).epsilon(1e-11).margin(1e-13));
    const Eigen::MatrixXf xf = t.x.cast<float>(), yf = t.y.cast<float>(), hf = t.yhat.cast<float>();
    const double expected_float = double(reference(estimator, xf.cast<double>(), yf.cast<double>(), hf.cast<double>(),
                                                   shape.sx, shape.sy));
    CHECK(kernel::conditional_cauchy_schwarz(xf, yf, hf, options_for(estimator, shape.sx, shape.sy)) ==
          Approx(expected_float).epsilon(1e-11).margin(1e-13));
}

TEST_CASE("conditional CS: values of the NumPy script (CS-IB code formula and four-term plug-in)",
          "[kernel][conditional][reference]")
{
    for (const auto& c : conditional_cs_reference_values::cases) {
        CAPTURE(c.name);
        const Eigen::Map<const RowMatrix> x(c.x.data(), c.n, c.dx), y(c.y.data(), c.n, c.dy), yhat(c.yhat.data(), c.n, c.dy);
        const double code = kernel::conditional_cauchy_schwarz(
            x, y, yhat, options_for(ConditionalCsEstimator::cs_ib_code, c.sigma_x, c.sigma_y));
        CHECK(code / std::log(2.0) == Approx(c.cs_ib_code_bits).epsilon(1e-12));  // the code reports bits
        const double plug = kernel::conditional_cauchy_schwarz(
            x, y, yhat, options_for(ConditionalCsEstimator::plug_in, c.sigma_x, c.sigma_y));
        CHECK(plug == Approx(c.plug_in_nats).epsilon(1e-12));
    }
}

TEST_CASE("conditional CS: gradients with respect to yhat and y equal central differences", "[kernel][conditional][gradient]")
{
    const auto estimator = GENERATE(ConditionalCsEstimator::plug_in, ConditionalCsEstimator::cs_ib_code);
    const auto n = GENERATE(Eigen::Index(1), Eigen::Index(5), Eigen::Index(24));
    const auto dy = GENERATE(Eigen::Index(1), Eigen::Index(2));
    const Triples t = regression(n, 2, dy, 7 + unsigned(n * dy));
    const auto o = options_for(estimator, 0.9, 0.6);
    CAPTURE(name_of(estimator), n, dy);
    RowMatrix grad_yhat(n, dy), grad_y(n, dy);
    kernel::ConditionalCsOutputs<double> out;
    out.grad_yhat = grad_yhat;
    out.grad_y = grad_y;
    const double value = kernel::conditional_cauchy_schwarz(t.x, t.y, t.yhat, o, out);
    CHECK(value == kernel::conditional_cauchy_schwarz(t.x, t.y, t.yhat, o));  // gradients do not change the value

    const RowMatrix fd_yhat = test::central_difference(
        t.yhat, [&](const RowMatrix& h) { return double(reference(estimator, t.x, t.y, h, 0.9, 0.6)); });
    const RowMatrix fd_y = test::central_difference(
        t.y, [&](const RowMatrix& y) { return double(reference(estimator, t.x, y, t.yhat, 0.9, 0.6)); });
    // Steps are relative (1e-6 |entry|): entries near 0 take steps near 1e-9, whose difference quotients
    // carry ~1e-8 of the reference's rounding: hence the absolute part, 1e-6 of the largest entries.
    CHECK(test::close(grad_yhat, fd_yhat, 1e-6, 1e-7));
    CHECK(test::close(grad_y, fd_y, 1e-6, 1e-7));

    // One gradient alone, into a column-major float matrix from float inputs.
    const Eigen::MatrixXf xf = t.x.cast<float>(), yf = t.y.cast<float>(), hf = t.yhat.cast<float>();
    Eigen::MatrixXf grad_float(n, dy);
    kernel::ConditionalCsOutputs<float> out_float;
    out_float.grad_yhat = grad_float;
    kernel::conditional_cauchy_schwarz(xf, yf, hf, o, out_float);
    CHECK(test::close(grad_float, fd_yhat, 1e-3, 1e-5));
}

TEST_CASE("conditional CS: both estimators are 0 at yhat = y (A = B = C1 = C2), only the plug-in one is stationary there",
          "[kernel][conditional][property]")
{
    const auto estimator = GENERATE(ConditionalCsEstimator::plug_in, ConditionalCsEstimator::cs_ib_code);
    const auto n = GENERATE(Eigen::Index(1), Eigen::Index(9), Eigen::Index(50));
    const Triples t = regression(n, 3, 2, 31 + unsigned(n));
    RowMatrix grad_yhat(n, 2), grad_y(n, 2);
    kernel::ConditionalCsOutputs<double> out;
    out.grad_yhat = grad_yhat;
    out.grad_y = grad_y;
    CAPTURE(name_of(estimator), n);
    const double sy = 0.5;
    CHECK(kernel::conditional_cauchy_schwarz(t.x, t.y, t.y, options_for(estimator, 0.7, sy), out) ==
          Approx(0.0).margin(1e-14));
    if (estimator == ConditionalCsEstimator::plug_in || n == 1) {
        // The two cross terms carry the weights w_m and w_i that B's derivative carries: they cancel.
        CHECK(grad_yhat.cwiseAbs().maxCoeff() < 1e-12);
        CHECK(grad_y.cwiseAbs().maxCoeff() < 1e-12);
        return;
    }
    // The CS-IB code counts C2 twice (weight w_m only): at yhat = y its gradient is
    // (1 / (sigma_y^2 B)) sum_i (w_m - w_i) K_mi L_mi (y_m - y_i), not 0 unless the weights are equal;
    // and d/dy = -d/dyhat there.
    RowMatrix expected = RowMatrix::Zero(n, 2);
    std::vector<double> w(std::size_t(n), 0.0);
    for (Eigen::Index j = 0; j < n; ++j) {
        double s = 0.0;
        for (Eigen::Index i = 0; i < n; ++i) s += std::exp(-(t.x.row(j) - t.x.row(i)).squaredNorm() / 0.49);  // K_ji^2
        w[std::size_t(j)] = 1.0 / s;
    }
    double b = 0.0;
    for (Eigen::Index j = 0; j < n; ++j)
        for (Eigen::Index i = 0; i < n; ++i) {
            const double kl = std::exp(-(t.x.row(j) - t.x.row(i)).squaredNorm() / (2 * 0.49) -
                                       (t.y.row(j) - t.y.row(i)).squaredNorm() / (2 * sy * sy));
            b += w[std::size_t(j)] * kl;
            expected.row(j) += (w[std::size_t(j)] - w[std::size_t(i)]) * kl * (t.y.row(j) - t.y.row(i));
        }
    expected /= sy * sy * b;
    CHECK(grad_yhat.cwiseAbs().maxCoeff() > 1e-4);
    CHECK(test::close(grad_yhat, expected, 1e-10, 1e-14));
    CHECK(test::close(grad_y, RowMatrix(-expected), 1e-10, 1e-14));
}

TEST_CASE("conditional CS: invariant under y, yhat -> c y, c yhat with sigma_y -> c sigma_y (and likewise x), down to c = 1e-150",
          "[kernel][conditional][property]")
{
    const auto estimator = GENERATE(ConditionalCsEstimator::plug_in, ConditionalCsEstimator::cs_ib_code);
    const auto c = GENERATE(1e-150, 1e-8, 1e8, 1e150);
    const Triples t = regression(20, 2, 2, 5);
    const double base = kernel::conditional_cauchy_schwarz(t.x, t.y, t.yhat, options_for(estimator, 0.6, 0.4));
    CAPTURE(name_of(estimator), c);
    const RowMatrix ys = t.y * c, hs = t.yhat * c, xs = t.x * c;
    CHECK(kernel::conditional_cauchy_schwarz(t.x, ys, hs, options_for(estimator, 0.6, 0.4 * c)) == Approx(base).epsilon(1e-12));
    CHECK(kernel::conditional_cauchy_schwarz(xs, t.y, t.yhat, options_for(estimator, 0.6 * c, 0.4)) == Approx(base).epsilon(1e-12));
}

TEST_CASE("conditional CS: small bandwidths where every cross kernel underflows in double stay finite and exact",
          "[kernel][conditional][numerics]")
{
    // sigma_y = 0.01: kernel values down to exp(-1e5) (0 in double, representable in long double); sigma_y
    // = 1e-6: exp(-1e12), beyond long double too: finite value and gradients, no NaN.
    const auto estimator = GENERATE(ConditionalCsEstimator::plug_in, ConditionalCsEstimator::cs_ib_code);
    const Triples t = regression(12, 1, 1, 77, 1.0);
    CAPTURE(name_of(estimator));
    const double value = kernel::conditional_cauchy_schwarz(t.x, t.y, t.yhat, options_for(estimator, 0.5, 0.01));
    CHECK(value == Approx(double(reference(estimator, t.x, t.y, t.yhat, 0.5, 0.01))).epsilon(1e-10));
    RowMatrix grad_yhat(12, 1), grad_y(12, 1);
    kernel::ConditionalCsOutputs<double> out;
    out.grad_yhat = grad_yhat;
    out.grad_y = grad_y;
    const double tiny = kernel::conditional_cauchy_schwarz(t.x, t.y, t.yhat, options_for(estimator, 1e-3, 1e-6), out);
    CHECK(std::isfinite(tiny));
    CHECK(tiny > 1e6);  // -log of cross kernels exp(-||y_j - yhat_i||^2 / 2e-12) between distinct values
    CHECK(grad_yhat.allFinite());
    CHECK(grad_y.allFinite());
}

TEST_CASE("conditional CS: the two estimators are equal when every row of K has the same sum (constant weights, C1 = C2)",
          "[kernel][conditional][property]")
{
    const Triples t = regression(15, 2, 1, 11);
    SECTION("all inputs equal: K is all ones")
    {
        const RowMatrix x = RowMatrix::Constant(15, 2, 0.3);
        const double plug = kernel::conditional_cauchy_schwarz(x, t.y, t.yhat, options_for(ConditionalCsEstimator::plug_in, 1.0, 0.5));
        CHECK(kernel::conditional_cauchy_schwarz(x, t.y, t.yhat, options_for(ConditionalCsEstimator::cs_ib_code, 1.0, 0.5)) ==
              Approx(plug).epsilon(1e-12));
        CHECK(plug > 0.01);
    }
    SECTION("sigma_x far below the distances between inputs: K = I to double precision")
    {
        const double plug = kernel::conditional_cauchy_schwarz(t.x, t.y, t.yhat, options_for(ConditionalCsEstimator::plug_in, 1e-3, 0.5));
        CHECK(kernel::conditional_cauchy_schwarz(t.x, t.y, t.yhat, options_for(ConditionalCsEstimator::cs_ib_code, 1e-3, 0.5)) ==
              Approx(plug).epsilon(1e-12));
    }
    SECTION("otherwise they differ")
    {
        CHECK(std::abs(kernel::conditional_cauchy_schwarz(t.x, t.y, t.yhat, options_for(ConditionalCsEstimator::plug_in, 1.0, 0.5)) -
                       kernel::conditional_cauchy_schwarz(t.x, t.y, t.yhat, options_for(ConditionalCsEstimator::cs_ib_code, 1.0, 0.5))) > 1e-3);
    }
}

TEST_CASE("conditional CS: neither estimator is non-negative for every sample (counterexamples)",
          "[kernel][conditional][property]")
{
    // Cauchy-Schwarz gives C1 C2 <= A B only for a symmetric positive semi-definite weighting; the
    // weights w_j of a row of K make it D_w K, which is not symmetric: small negative values occur.
    // Plug-in: found by minimizing over 5 points; -3.3566658e-7 at 50 digits (mpmath).
    RowMatrix x(5, 1), y(5, 1), yhat(5, 1);
    x << -0.31223356, 0.10765975, 0.61865757, -2.62533365, -1.44224707;
    y << 0.16880648, 0.11209017, -0.27613541, -0.13226698, -0.49822433;
    yhat << -0.50539342, 0.13174324, -0.02542252, -0.31761556, 0.09152115;
    const double plug = kernel::conditional_cauchy_schwarz(x, y, yhat, options_for(ConditionalCsEstimator::plug_in, 3.0, 3.0));
    CHECK(plug == Approx(-3.3566658235817127e-7).epsilon(1e-7));
    CHECK(double(reference(ConditionalCsEstimator::plug_in, x, y, yhat, 3.0, 3.0)) < 0.0);
    // CS-IB code: found by random search; -0.0045632 (the plug-in estimator is +0.0034850 here).
    x << -0.045180890842407055, -0.08590207946149836, -0.1112934472422291, -0.017235088811121603, 0.07218730806925892;
    y << -0.05726623305433529, 0.5752521594773482, -0.9387555757398265, -0.5636730914644359, 1.06988676178112;
    yhat << 1.266954764570072, -1.2358400409529946, -0.34383206242155107, -0.6473223659882844, 0.4688197533804828;
    const double code = kernel::conditional_cauchy_schwarz(x, y, yhat, options_for(ConditionalCsEstimator::cs_ib_code, 0.1, 3.0));
    CHECK(code == Approx(-0.0045632150227903345).epsilon(1e-9));
    CHECK(kernel::conditional_cauchy_schwarz(x, y, yhat, options_for(ConditionalCsEstimator::plug_in, 0.1, 3.0)) ==
          Approx(0.0034850014745738123).epsilon(1e-9));
}

TEST_CASE("conditional CS: bad input is refused with the argument, row and problem", "[kernel][conditional][errors]")
{
    const Triples t = regression(6, 2, 1, 3);
    const auto call = [](const RowMatrix& x, const RowMatrix& y, const RowMatrix& yhat, kernel::ConditionalCsOptions o = {}) {
        return [=] { kernel::conditional_cauchy_schwarz(x, y, yhat, o); };
    };
    const char* f = "divergence::kernel::conditional_cauchy_schwarz";
    test::fails_with(call(RowMatrix(0, 2), RowMatrix(0, 1), RowMatrix(0, 1)), f, "argument 'x'", "empty");
    test::fails_with(call(RowMatrix(6, 0), t.y, t.yhat), "argument 'x'", "dimension 0");
    test::fails_with(call(t.x, t.y.topRows(5), t.yhat), "argument 'y'", "5 rows, x has 6");
    test::fails_with(call(t.x, RowMatrix(6, 0), RowMatrix(6, 0)), "argument 'y'", "dimension 0");
    test::fails_with(call(t.x, t.y, t.yhat.topRows(4)), "argument 'yhat'", "4 x 1", "6 x 1");
    test::fails_with(call(t.x, t.y, RowMatrix::Zero(6, 2)), "argument 'yhat'", "6 x 2");
    RowMatrix bad = t.yhat;
    bad(3, 0) = std::numeric_limits<double>::quiet_NaN();
    test::fails_with(call(t.x, t.y, bad), "argument 'yhat', row 3, column 0", "must be finite");
    RowMatrix bad_x = t.x;
    bad_x(2, 1) = std::numeric_limits<double>::infinity();
    test::fails_with(call(bad_x, t.y, t.yhat), "argument 'x', row 2, column 1", "must be finite");
    RowMatrix bad_y = t.y;
    bad_y(5, 0) = -std::numeric_limits<double>::infinity();
    test::fails_with(call(t.x, bad_y, t.yhat), "argument 'y', row 5, column 0", "must be finite");
    for (const double sigma : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
        CAPTURE(sigma);
        test::fails_with(call(t.x, t.y, t.yhat, options_for(ConditionalCsEstimator::plug_in, sigma, 1.0)),
                         "argument 'options.sigma_x'", "must be finite and > 0");
        test::fails_with(call(t.x, t.y, t.yhat, options_for(ConditionalCsEstimator::cs_ib_code, 1.0, sigma)),
                         "argument 'options.sigma_y'", "must be finite and > 0");
    }
    // Bandwidths so small for the data that squared distances / sigma^2 overflow double.
    test::fails_with(call(t.x, t.y, t.yhat, options_for(ConditionalCsEstimator::plug_in, 1e-160, 1.0)),
                     "argument 'options.sigma_x'", "too small for the spread of x");
    test::fails_with(call(t.x, t.y, t.yhat, options_for(ConditionalCsEstimator::plug_in, 1.0, 1e-160)),
                     "argument 'options.sigma_y'", "too small for the spread of y and yhat");
    test::fails_with(call(t.x * 1e300, t.y, t.yhat, options_for(ConditionalCsEstimator::plug_in, 1e-10, 1.0)),
                     "argument 'options.sigma_x'", "overflow");
    RowMatrix g(6, 2);
    kernel::ConditionalCsOutputs<double> out;
    out.grad_yhat = g;
    test::fails_with([&] { kernel::conditional_cauchy_schwarz(t.x, t.y, t.yhat, {}, out); }, "argument 'grad_yhat'",
                     "6 x 2", "y has shape 6 x 1");
    kernel::ConditionalCsOutputs<double> out_y;
    out_y.grad_y = g;
    test::fails_with([&] { kernel::conditional_cauchy_schwarz(t.x, t.y, t.yhat, {}, out_y); }, "argument 'grad_y'");
}

}  // namespace kernel_conditional_test
