// Parzen Cauchy-Schwarz estimators between samples (kernel/cauchy_schwarz.hpp): the divergence
// against the closed form between Gaussian mixtures with components N(x_i, sigma^2 I) computed
// here in long double, the single-Gaussian formula, the Cauchy-Schwarz inequality, symmetry,
// D(p, p) = 0, Renyi's quadratic entropy and the CS quadratic mutual information against plain
// long-double Gram matrices, every gradient (fixed and differentiated bandwidths) against central
// differences, extreme bandwidths and sizes, and the errors.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "divergence/kernel/cauchy_schwarz.hpp"
#include "support/errors.hpp"
#include "support/kernel.hpp"
#include "support/finite_difference.hpp"
#include "support/threads.hpp"

namespace kernel_cauchy_schwarz_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using divergence::RowMatrix;
using Eigen::Index;
namespace kernel = divergence::kernel;
using test::normal_sample;
using test::squared_distance;
using LD = long double;
constexpr LD pi_ld = 3.141592653589793238462643383279502884L;



/// log sum_ij pi_i tau_j N(a_i | b_j, v I), the mixtures' weights uniform (log-sum-exp in long double).
LD log_mixture_overlap(const RowMatrix<double>& a, const RowMatrix<double>& b, LD v)
{
    const LD d = LD(a.cols());
    std::vector<LD> terms;
    LD top = -std::numeric_limits<LD>::infinity();
    for (Index i = 0; i < a.rows(); ++i) {
        for (Index j = 0; j < b.rows(); ++j) {
            const LD t = -std::log(LD(a.rows()) * LD(b.rows())) - 0.5L * d * std::log(2 * pi_ld * v) - squared_distance(a, i, b, j) / (2 * v);
            terms.push_back(t);
            top = std::max(top, t);
        }
    }
    LD s = 0;
    for (LD t : terms) s += std::exp(t - top);
    return top + std::log(s);
}

/// D_CS between the mixtures (1/n) sum N(x_i, sigma^2 I) and (1/m) sum N(y_j, sigma^2 I)
/// (Kampa, Hasanbelliu, Principe 2011: int N(u|a, S) N(u|b, S') du = N(a | b, S + S')).
double gmm_cauchy_schwarz(const RowMatrix<double>& x, const RowMatrix<double>& y, double sigma)
{
    const LD v = 2 * LD(sigma) * sigma;
    return double(-log_mixture_overlap(x, y, v) + 0.5L * log_mixture_overlap(x, x, v) + 0.5L * log_mixture_overlap(y, y, v));
}

kernel::CauchySchwarzOptions cs_options(kernel::Bandwidth b, kernel::CsScale scale = kernel::CsScale::single)
{
    kernel::CauchySchwarzOptions o;
    o.bandwidth = b;
    o.scale = scale;
    return o;
}

void check_gradients(const RowMatrix<double>& x, const RowMatrix<double>& y, const kernel::CauchySchwarzOptions& o, double rtol = 1e-5)
{
    const kernel::CauchySchwarzResult r = kernel::cauchy_schwarz(x, y, o);
    kernel::CauchySchwarzOptions values = o;
    const RowMatrix<double> gx = test::central_difference(x, [&](const RowMatrix<double>& xp) { return kernel::cauchy_schwarz(xp, y, values).value; });
    const RowMatrix<double> gy = test::central_difference(y, [&](const RowMatrix<double>& yp) { return kernel::cauchy_schwarz(x, yp, values).value; });
    CAPTURE(r.grad_x, gx, r.grad_y, gy);
    CHECK(test::close(r.grad_x, gx, rtol, 1e-7));
    CHECK(test::close(r.grad_y, gy, rtol, 1e-7));
}

}  // namespace

TEST_CASE("kernel CS: the estimator equals the Gaussian-mixture closed form", "[kernel][cauchy_schwarz]")
{
    for (Index d : {1, 2, 5, 16}) {
        const RowMatrix<double> x = normal_sample(23, d, 100 + d), y = normal_sample(31, d, 200 + d, 1.3, 0.4);
        for (double sigma : {0.2, 0.7, 3.0}) {
            CAPTURE(d, sigma);
            const kernel::CauchySchwarzResult r = kernel::cauchy_schwarz(x, y, cs_options(kernel::Bandwidth::fixed(sigma)));
            const double expected = gmm_cauchy_schwarz(x, y, sigma);
            CHECK(r.value == Approx(expected).epsilon(1e-12).margin(1e-14));
            CHECK(r.kernel_width == Approx(sigma * std::sqrt(2.0)).epsilon(1e-15));
            // the single scale is the default; the doubled scale; the kernel width given directly
            CHECK(kernel::cauchy_schwarz(x, y, cs_options(kernel::Bandwidth::fixed(sigma), kernel::CsScale::doubled)).value ==
                  Approx(2 * expected).epsilon(1e-12).margin(1e-14));
            kernel::CauchySchwarzOptions plain;
            plain.bandwidth = kernel::Bandwidth::fixed(sigma);
            CHECK(kernel::cauchy_schwarz(x, y, plain).value == Approx(expected).epsilon(1e-12).margin(1e-14));
            kernel::CauchySchwarzOptions direct = cs_options(kernel::Bandwidth::fixed(sigma * std::sqrt(2.0)));
            direct.width_of = kernel::WidthOf::kernel;
            CHECK(kernel::cauchy_schwarz(x, y, direct).value == Approx(expected).epsilon(1e-12).margin(1e-14));
        }
    }
}

TEST_CASE("kernel CS: one point each is the single-Gaussian formula", "[kernel][cauchy_schwarz]")
{
    // D_CS(N(mu1, s^2 I), N(mu2, s^2 I)) = -log N(mu1 | mu2, 2 s^2 I) - (1/4) log|4 pi s^2 I| - (1/4) log|4 pi s^2 I|
    for (Index d : {1, 3, 64}) {
        const RowMatrix<double> x = normal_sample(1, d, 300 + d), y = normal_sample(1, d, 400 + d);
        const double sigma = 0.9;
        const LD v = 2 * LD(sigma) * sigma, dd = LD(d);
        const LD log_normal = -0.5L * dd * std::log(2 * pi_ld * v) - squared_distance(x, 0, y, 0) / (2 * v);
        const LD expected = -log_normal - 0.5L * dd * std::log(4 * pi_ld * LD(sigma) * sigma);
        const kernel::CauchySchwarzResult r = kernel::cauchy_schwarz(x, y, cs_options(kernel::Bandwidth::fixed(sigma)));
        CHECK(r.value == Approx(double(expected)).epsilon(1e-12));
        CHECK(r.grad_x.allFinite());
    }
}

TEST_CASE("kernel CS: D(p, p) = 0, symmetry and the Cauchy-Schwarz inequality D >= 0", "[kernel][cauchy_schwarz]")
{
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        const Index d = Index(seed % 3) * 3 + 1;
        const RowMatrix<double> x = normal_sample(10 + Index(seed), d, seed), y = normal_sample(17, d, 50 + seed, 0.5 + 0.3 * double(seed));
        for (double sigma : {0.05, 0.5, 5.0}) {
            const auto o = cs_options(kernel::Bandwidth::fixed(sigma));
            const kernel::CauchySchwarzResult xy = kernel::cauchy_schwarz(x, y, o), yx = kernel::cauchy_schwarz(y, x, o), xx = kernel::cauchy_schwarz(x, x, o);
            CHECK(xy.value >= 0.0);
            CHECK(xy.value == Approx(yx.value).epsilon(1e-13).margin(1e-15));
            CHECK(test::close(xy.grad_x, yx.grad_y, 1e-12, 1e-14));
            CHECK(xx.value == 0.0);
            CHECK(xx.grad_x.cwiseAbs().maxCoeff() < 1e-12);
        }
    }
}

TEST_CASE("kernel CS: gradients against central differences, fixed widths and rules", "[kernel][cauchy_schwarz]")
{
    const RowMatrix<double> x = normal_sample(7, 3, 500), y = normal_sample(9, 3, 501, 1.2, 0.5);
    for (double sigma : {0.3, 1.0})
        for (auto scale : {kernel::CsScale::single, kernel::CsScale::doubled}) check_gradients(x, y, cs_options(kernel::Bandwidth::fixed(sigma), scale));
    std::vector<kernel::Bandwidth> rules{kernel::Bandwidth::silverman(0.8), kernel::Bandwidth::scott()};
    for (auto variant : {kernel::MedianOf::distance, kernel::MedianOf::half_squared_distance, kernel::MedianOf::squared_distance}) {
        rules.push_back(kernel::Bandwidth::median_heuristic(variant, 0.5));
    }
    for (kernel::Bandwidth rule : rules) {
        CAPTURE(int(rule.rule), int(rule.median));
        // held constant: the gradient at the fixed width the rule gives
        const auto held = kernel::cauchy_schwarz(x, y, cs_options(rule));
        const auto fixed = kernel::cauchy_schwarz(x, y, cs_options(kernel::Bandwidth::fixed(held.parzen_width)));
        CHECK(held.value == Approx(fixed.value).epsilon(1e-14));
        CHECK(test::close(held.grad_x, fixed.grad_x, 1e-12, 1e-15));
        // differentiated through: the central differences of the value, whose width moves with the points
        rule.differentiate = true;
        check_gradients(x, y, cs_options(rule), 3e-5);
        const auto through = kernel::cauchy_schwarz(x, y, cs_options(rule));
        CHECK((held.grad_x - through.grad_x).cwiseAbs().maxCoeff() > 1e-6);
    }
    // d = 1 and d = 16 and the exact / expanded distance paths
    const RowMatrix<double> x1 = normal_sample(6, 1, 502), y1 = normal_sample(5, 1, 503);
    check_gradients(x1, y1, cs_options(kernel::Bandwidth::median_heuristic(kernel::MedianOf::distance, 1.0, true)));
    const RowMatrix<double> x16 = normal_sample(5, 16, 504), y16 = normal_sample(4, 16, 505);
    auto o16 = cs_options(kernel::Bandwidth::fixed(2.0));
    o16.path = kernel::DistancePath::exact;
    check_gradients(x16, y16, o16);
    o16.path = kernel::DistancePath::expanded;
    check_gradients(x16, y16, o16);
}

TEST_CASE("kernel CS: a tiny bandwidth, duplicates, one sample, d = 1 and d = 64 stay finite and correct", "[kernel][cauchy_schwarz]")
{
    const RowMatrix<double> x = normal_sample(15, 2, 600), y = normal_sample(12, 2, 601);
    for (double sigma : {1e-3, 1e-5}) {
        const auto r = kernel::cauchy_schwarz(x, y, cs_options(kernel::Bandwidth::fixed(sigma)));
        CAPTURE(sigma);
        CHECK(std::isfinite(r.value));
        CHECK(r.value == Approx(gmm_cauchy_schwarz(x, y, sigma)).epsilon(1e-12));
        CHECK(r.grad_x.allFinite());
        CHECK(r.grad_y.allFinite());
    }
    check_gradients(x.topRows(4), y.topRows(3), cs_options(kernel::Bandwidth::fixed(0.05)));
    // d = 64 at sigma = 1e-3 on the expanded path: exponents near 1e7, relative error within the
    // documented bound (d + 2) u (|x| + |y|)^2 / (2 h^2) / exponent ~ 1e-13
    const RowMatrix<double> x64 = normal_sample(6, 64, 602), y64 = normal_sample(5, 64, 603);
    const auto wide = kernel::cauchy_schwarz(x64, y64, cs_options(kernel::Bandwidth::fixed(1e-3)));
    CHECK(wide.value == Approx(gmm_cauchy_schwarz(x64, y64, 1e-3)).epsilon(1e-10));
    CHECK(wide.grad_x.allFinite());
    CHECK(wide.grad_y.allFinite());
    // duplicated samples
    RowMatrix<double> dup(6, 2);
    dup << x.topRows(3), x.topRows(3);
    const auto r = kernel::cauchy_schwarz(dup, y, cs_options(kernel::Bandwidth::fixed(0.4)));
    CHECK(r.value == Approx(gmm_cauchy_schwarz(dup, y, 0.4)).epsilon(1e-12));
    CHECK(r.grad_x.allFinite());
    CHECK(kernel::cauchy_schwarz(dup, x.topRows(3), cs_options(kernel::Bandwidth::fixed(0.4))).value == Approx(0.0).margin(1e-14));
    // a single sample on both sides, d = 1 and 64
    for (Index d : {1, 64}) {
        const RowMatrix<double> a = normal_sample(1, d, 700 + d), b = normal_sample(40, d, 800 + d);
        const auto one = kernel::cauchy_schwarz(a, b, cs_options(kernel::Bandwidth::fixed(1.5)));
        CHECK(one.value == Approx(gmm_cauchy_schwarz(a, b, 1.5)).epsilon(1e-12));
        CHECK(one.grad_x.allFinite());
        const auto median = kernel::cauchy_schwarz(a, b, cs_options(kernel::Bandwidth::median_heuristic()));
        CHECK(std::isfinite(median.value));
    }
}

TEST_CASE("kernel CS: float samples agree with double", "[kernel][cauchy_schwarz]")
{
    const RowMatrix<double> x = normal_sample(30, 16, 900), y = normal_sample(25, 16, 901, 1.0, 0.3);
    const RowMatrix<float> xf = x.cast<float>(), yf = y.cast<float>();
    const auto o = cs_options(kernel::Bandwidth::fixed(1.0));
    const auto rf = kernel::cauchy_schwarz(xf, yf, o);
    const auto rd = kernel::cauchy_schwarz(RowMatrix<double>(xf.cast<double>()), RowMatrix<double>(yf.cast<double>()), o);
    CHECK(rf.value == Approx(rd.value).epsilon(1e-5));
    CHECK(test::close(rf.grad_x, rd.grad_x, 1e-4, 1e-8));
}

TEST_CASE("kernel CS: errors", "[kernel][cauchy_schwarz]")
{
    const RowMatrix<double> x = normal_sample(5, 2, 1000), y3 = normal_sample(5, 3, 1001), empty(0, 2), one = normal_sample(1, 2, 1002);
    test::fails_with([&] { kernel::cauchy_schwarz(x, y3); }, "kernel::cauchy_schwarz", "argument 'y'", "dimension 3");
    test::fails_with([&] { kernel::cauchy_schwarz(empty, x); }, "argument 'x'", "empty");
    test::fails_with([&] { kernel::cauchy_schwarz(x, x, cs_options(kernel::Bandwidth::fixed(0.0))); }, "bandwidth", "> 0");
    test::fails_with([&] { kernel::cauchy_schwarz(x, x, cs_options(kernel::Bandwidth::fixed(-2.0))); }, "bandwidth", "> 0");
    test::fails_with([&] { kernel::cauchy_schwarz(x, x, cs_options(kernel::Bandwidth::fixed(std::nan("")))); }, "bandwidth", "> 0");
    kernel::KernelOptions rule;
    rule.bandwidth = kernel::Bandwidth::silverman();
    test::fails_with([&] { kernel::renyi_quadratic_entropy(one, rule); }, "kernel::renyi_quadratic_entropy", "at least 2 samples");
    rule.bandwidth = kernel::Bandwidth::median_heuristic();
    test::fails_with([&] { kernel::renyi_quadratic_entropy(one, rule); }, "at least 2 samples");
    rule.bandwidth.median_points = 1;
    test::fails_with([&] { kernel::renyi_quadratic_entropy(x, rule); }, "bandwidth.median_points", ">= 2");
    rule.bandwidth = kernel::Bandwidth::scott(0.0);
    test::fails_with([&] { kernel::renyi_quadratic_entropy(x, rule); }, "bandwidth.value", "> 0");
    test::fails_with([&] { kernel::cauchy_schwarz(one, one, cs_options(kernel::Bandwidth::silverman())); }, "not all equal");
    RowMatrix<double> same = RowMatrix<double>::Ones(4, 2);
    test::fails_with([&] { kernel::cauchy_schwarz(same, same, cs_options(kernel::Bandwidth::scott())); }, "not all equal");
    test::fails_with([&] { kernel::cauchy_schwarz(same, same, cs_options(kernel::Bandwidth::median_heuristic())); }, "median pairwise distance");
    RowMatrix<double> huge = x;
    huge(1, 0) = 1e300;
    test::fails_with([&] { kernel::cauchy_schwarz(x, huge); }, "argument 'y'", "row 1", "overflow");
}

TEST_CASE("Renyi quadratic entropy and the information potential against long double", "[kernel][cauchy_schwarz]")
{
    for (Index d : {1, 4}) {
        const RowMatrix<double> x = normal_sample(13, d, 1100 + d, 1.0, 3.0);  // entries away from 0 (relative steps)
        for (double sigma : {0.1, 1.0}) {
            kernel::KernelOptions o;
            o.bandwidth = kernel::Bandwidth::fixed(sigma);
            const auto r = kernel::renyi_quadratic_entropy(x, o);
            // V = int p^2 = (1/n^2) sum_ij N(x_i | x_j, 2 sigma^2 I)
            const double expected = double(log_mixture_overlap(x, x, 2 * LD(sigma) * sigma));
            CHECK(r.log_information_potential == Approx(expected).epsilon(1e-12));
            CHECK(r.entropy == Approx(-expected).epsilon(1e-12));
            CHECK(r.information_potential == Approx(std::exp(expected)).epsilon(1e-12));
            const RowMatrix<double> g = test::central_difference(x, [&](const RowMatrix<double>& xp) { return kernel::renyi_quadratic_entropy(xp, o).entropy; });
            CHECK(test::close(r.grad_x, g, 1e-5, 1e-7));
        }
        for (auto b : {kernel::Bandwidth::silverman(1.0, true), kernel::Bandwidth::median_heuristic(kernel::MedianOf::distance, 1.0, true)}) {
            kernel::KernelOptions o;
            o.bandwidth = b;
            const auto r = kernel::renyi_quadratic_entropy(x, o);
            const RowMatrix<double> g = test::central_difference(x, [&](const RowMatrix<double>& xp) { return kernel::renyi_quadratic_entropy(xp, o).entropy; });
            CAPTURE(d, int(b.rule), r.grad_x, g);
            CHECK(test::close(r.grad_x, g, 1e-5, 1e-7));
        }
    }
}

namespace {

/// I_CS from plain long-double Gram matrices (kernel widths hx, hy).
double reference_qmi(const RowMatrix<double>& x, const RowMatrix<double>& y, double hx, double hy)
{
    const Index n = x.rows();
    Eigen::Matrix<LD, Eigen::Dynamic, Eigen::Dynamic> kx(n, n), ky(n, n);
    for (Index i = 0; i < n; ++i)
        for (Index j = 0; j < n; ++j) {
            kx(i, j) = std::exp(-squared_distance(x, i, x, j) / (2 * LD(hx) * hx));
            ky(i, j) = std::exp(-squared_distance(y, i, y, j) / (2 * LD(hy) * hy));
        }
    const LD nn = LD(n);
    const LD vj = kx.cwiseProduct(ky).sum() / (nn * nn), vm = kx.sum() * ky.sum() / (nn * nn * nn * nn);
    const LD vc = (kx * ky).sum() / (nn * nn * nn);
    return double(std::log(vj) + std::log(vm) - 2 * std::log(vc));
}

}  // namespace

TEST_CASE("CS quadratic mutual information against long-double Gram matrices, and its gradients", "[kernel][cauchy_schwarz]")
{
    const RowMatrix<double> x = normal_sample(11, 2, 1200);
    RowMatrix<double> y = normal_sample(11, 3, 1201, 0.5);
    y.col(0) += x.col(0);  // dependent
    for (auto width_of : {kernel::WidthOf::parzen, kernel::WidthOf::kernel}) {
        kernel::MutualInformationOptions o;
        o.bandwidth_x = kernel::Bandwidth::fixed(0.8);
        o.bandwidth_y = kernel::Bandwidth::fixed(1.3);
        o.width_of = width_of;
        const double s = width_of == kernel::WidthOf::parzen ? std::sqrt(2.0) : 1.0;
        const auto r = kernel::cs_mutual_information(x, y, o);
        CHECK(r.value == Approx(reference_qmi(x, y, 0.8 * s, 1.3 * s)).epsilon(1e-11));
        CHECK(r.value >= 0.0);  // the CS divergence between the joint estimate and the product of marginals
        const RowMatrix<double> gx = test::central_difference(x, [&](const RowMatrix<double>& xp) { return kernel::cs_mutual_information(xp, y, o).value; });
        const RowMatrix<double> gy = test::central_difference(y, [&](const RowMatrix<double>& yp) { return kernel::cs_mutual_information(x, yp, o).value; });
        CHECK(test::close(r.grad_x, gx, 1e-5, 1e-7));
        CHECK(test::close(r.grad_y, gy, 1e-5, 1e-7));
        // normalized
        const auto nr = kernel::normalized_cs_mutual_information(x, y, o);
        const double ixx = reference_qmi(x, x, 0.8 * s, 0.8 * s), iyy = reference_qmi(y, y, 1.3 * s, 1.3 * s);
        CHECK(nr.value == Approx(reference_qmi(x, y, 0.8 * s, 1.3 * s) / std::sqrt(ixx * iyy)).epsilon(1e-10));
        const RowMatrix<double> nx = test::central_difference(x, [&](const RowMatrix<double>& xp) { return kernel::normalized_cs_mutual_information(xp, y, o).value; });
        const RowMatrix<double> ny = test::central_difference(y, [&](const RowMatrix<double>& yp) { return kernel::normalized_cs_mutual_information(x, yp, o).value; });
        // The central differences of the ratio carry about 4e-7 of rounding (gradients ~0.1, -O2 with FMA).
        CHECK(test::close(nr.grad_x, nx, 1e-5, 1e-6));
        CHECK(test::close(nr.grad_y, ny, 1e-5, 1e-6));
    }
    // differentiated rule widths
    kernel::MutualInformationOptions o;
    o.bandwidth_x = kernel::Bandwidth::silverman(1.0, true);
    o.bandwidth_y = kernel::Bandwidth::median_heuristic(kernel::MedianOf::half_squared_distance, 1.0, true);
    const auto r = kernel::cs_mutual_information(x, y, o);
    const RowMatrix<double> gx = test::central_difference(x, [&](const RowMatrix<double>& xp) { return kernel::cs_mutual_information(xp, y, o).value; });
    const RowMatrix<double> gy = test::central_difference(y, [&](const RowMatrix<double>& yp) { return kernel::cs_mutual_information(x, yp, o).value; });
    CHECK(test::close(r.grad_x, gx, 1e-5, 1e-7));
    CHECK(test::close(r.grad_y, gy, 1e-5, 1e-7));
    // one pair: I = 0, normalized 0
    CHECK(kernel::cs_mutual_information(x.topRows(1), y.topRows(1)).value == Approx(0.0).margin(1e-15));
    CHECK(kernel::normalized_cs_mutual_information(x.topRows(1), y.topRows(1)).value == 0.0);
    test::fails_with([&] { kernel::cs_mutual_information(x, y.topRows(4)); }, "argument 'y'", "4 samples");
}

TEST_CASE("kernel CS and the quadratic entropy are bitwise the same on 1 and 3 threads", "[kernel][cauchy_schwarz][threads]")
{
    // 600 x 500 pairs: above the executor's threshold for a parallel region (2^18 pairs)
    const RowMatrix<double> x = normal_sample(600, 5, 1300), y = normal_sample(500, 5, 1301, 1.0, 0.4);
    const auto o = cs_options(kernel::Bandwidth::median_heuristic(kernel::MedianOf::distance, 1.0, true));
    const auto one = test::with_threads(1, [&] { return kernel::cauchy_schwarz(x, y, o); });
    const auto three = test::with_threads(3, [&] { return kernel::cauchy_schwarz(x, y, o); });
    CHECK(one.value == three.value);
    CHECK(one.grad_x == three.grad_x);
    CHECK(one.grad_y == three.grad_y);
    const RowMatrix<double> x1 = normal_sample(700, 1, 1302);
    const auto e1 = test::with_threads(1, [&] { return kernel::renyi_quadratic_entropy(x1); });
    const auto e3 = test::with_threads(3, [&] { return kernel::renyi_quadratic_entropy(x1); });
    CHECK(e1.entropy == e3.entropy);
    CHECK(e1.grad_x == e3.grad_x);
}

}  // namespace kernel_cauchy_schwarz_test
