// The fused kernel of the generalized Jensen-Shannon divergence (detail/fused_js.hpp), reached
// through the public functions with logits, against (a) the driver's reference path (the same row
// kernel with its fused() hidden), (b) a long-double reference written here, and (c) central
// differences. Bounds are those documented in docs/performance.md.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "divergence/discrete/jensen_shannon.hpp"
#include "support/finite_difference.hpp"
#include "support/fused.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace detail_fused_js_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace ref = test::reference;

namespace {

using namespace test;  // support/fused.hpp: ReferencePath, Rows, Result, run, within, logits_rows

using Js = dv::detail::GeneralizedJsKernel;

/// Documented bounds of the fused JSD against the reference path (docs/performance.md):
/// values |dD| <= bound (1 + D); gradient entries |dg| <= gradient bound * (max_i |g_i| + 1/(T B)).
/// Double: with logits up to 1e4 the reference path's log p_i = z_i / T - max - log sum carries
/// eps |z_i / T| (the fused one subtracts the max first), hence 5e-13 rather than a few eps.
template <class Scalar>
double value_bound()
{
    return std::is_same_v<Scalar, float> ? 1e-6 : 5e-13;
}
/// Against the long-double reference the fused path is tighter (the reference path's own rounding
/// is not in the way): |dD| <= bound (1 + D).
template <class Scalar>
double exact_bound()
{
    return std::is_same_v<Scalar, float> ? 2.5e-7 : 2e-15;
}
template <class Scalar>
double gradient_bound()
{
    return std::is_same_v<Scalar, float> ? 4e-6 : 1e-12;
}

template <class Scalar, class Kernel>
void check_against_reference(const Kernel& kernel, const Rows<Scalar>& zp, double tp, const Rows<Scalar>& zq, double tq,
                             const dv::Options& options)
{
    const auto slow = run(ReferencePath<Kernel>{kernel}, zp, tp, zq, tq, options);
    const double vb = value_bound<Scalar>();
    const double scale_p = std::max(double(slow.grad_p.cwiseAbs().maxCoeff()), 1.0 / (tp * double(zp.rows())));
    const double scale_q = std::max(double(slow.grad_q.cwiseAbs().maxCoeff()), 1.0 / (tq * double(zp.rows())));
    const double gb = gradient_bound<Scalar>();
    // Both gradients, and each alone: the same bits as with both.
    const auto fast = run(kernel, zp, tp, zq, tq, options);
    CHECK(within(fast.rows, slow.rows, vb, vb));
    CHECK(within(Eigen::Matrix<Scalar, 1, 1>::Constant(fast.value), Eigen::Matrix<Scalar, 1, 1>::Constant(slow.value), vb, vb));
    CHECK(within(fast.grad_p, slow.grad_p, 0.0, gb * scale_p));
    CHECK(within(fast.grad_q, slow.grad_q, 0.0, gb * scale_q));
    const auto only_p = run(kernel, zp, tp, zq, tq, options, true, false);
    const auto only_q = run(kernel, zp, tp, zq, tq, options, false, true);
    CHECK(only_p.grad_p == fast.grad_p);
    CHECK(only_q.grad_q == fast.grad_q);
    CHECK((only_p.grad_q.array() == Scalar(-7)).all());
    CHECK((only_q.grad_p.array() == Scalar(-7)).all());
    CHECK(only_p.value == fast.value);
}

/// JSD_beta of two rows of log-probabilities in long double, straight from the definition.
ref::Real js_log(const std::vector<ref::Real>& lp, const std::vector<ref::Real>& lq, ref::Real beta)
{
    ref::Real total = 0;
    for (std::size_t i = 0; i < lp.size(); ++i) {
        const ref::Real p = std::exp(lp[i]), q = std::exp(lq[i]);
        const ref::Real m = beta * p + (1 - beta) * q;
        if (!(m > 0)) continue;
        if (p > 0) total += beta * p * std::log(p / m);
        if (q > 0) total += (1 - beta) * q * std::log(q / m);
    }
    return total;
}

}  // namespace

TEMPLATE_TEST_CASE("fused generalized js equals the reference path on random rows (float and double, masks, temperatures)",
                   "[fused][js]", float, double)
{
    const auto cols = GENERATE(1, 7, 33, 1000, 40000);
    const auto seed = test::sweep_seed(GENERATE(range(0, 1)));
    const double beta = GENERATE(0.5, 0.9, 1e-3);
    const auto temperatures = GENERATE(std::make_pair(1.0, 1.0), std::make_pair(0.7, 3.0));
    const Eigen::Index rows = cols > 10000 ? 2 : 5;
    CAPTURE(cols, seed, beta, temperatures.first, temperatures.second);
    const Rows<TestType> zp = logits_rows<TestType>(rows, cols, seed, 5.0);
    const Rows<TestType> zq = logits_rows<TestType>(rows, cols, seed + 1, 5.0);
    Eigen::Array<bool, Eigen::Dynamic, 1> keep = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(rows, true);
    keep(rows - 1) = false;
    dv::Options options{dv::Reduction::mean};
    options.mask = keep;
    check_against_reference<TestType>(Js{beta}, zp, temperatures.first, zq, temperatures.second, options);
    // P close to Q: where the reference path is more careful (the Jensen gap as a sum of
    // non-negative parts); the fused one keeps the absolute bound.
    Rows<TestType> near = zp;
    near.array() += (logits_rows<TestType>(rows, cols, seed + 2, 1e-3)).array();
    check_against_reference<TestType>(Js{beta}, zp, temperatures.first, near, temperatures.first, {dv::Reduction::sum});
    check_against_reference<TestType>(Js{beta}, zp, temperatures.first, zp, temperatures.first, {dv::Reduction::sum});
}

TEMPLATE_TEST_CASE("fused generalized js matches the long-double reference (value within the documented bound)",
                   "[fused][js][reference]", float, double)
{
    const auto cols = GENERATE(3, 1000, 100000);
    const auto seed = test::sweep_seed(GENERATE(range(0, 1)));
    const double t = GENERATE(1.0, 0.5, 4.0);
    const double beta = GENERATE(0.5, 0.25);
    const Rows<TestType> zp = logits_rows<TestType>(2, cols, seed, 8.0);
    const Rows<TestType> zq = logits_rows<TestType>(2, cols, seed + 1, 8.0);
    Eigen::Array<TestType, Eigen::Dynamic, 1> values(2);
    dv::Outputs<TestType> out;
    out.row_values = values;
    dv::generalized_js(dv::logits(zp, t), dv::logits(zq, t), beta, {dv::Reduction::sum}, out);
    for (Eigen::Index r = 0; r < 2; ++r) {
        const ref::Real exact =
            js_log(ref::log_softmax(ref::row(zp, r), t), ref::log_softmax(ref::row(zq, r), t), ref::Real(beta));
        CAPTURE(cols, seed, t, beta, r, double(values(r)), double(exact));
        CHECK(std::abs(double(values(r)) - double(exact)) <= exact_bound<TestType>() * (1.0 + double(exact)));
    }
}

TEMPLATE_TEST_CASE("fused generalized js on adversarial rows: -inf entries, logits +-1e4, one-hot, V = 262144",
                   "[fused][js][adversarial]", float, double)
{
    constexpr TestType minus_inf = -std::numeric_limits<TestType>::infinity();
    // (cols, beta, temperature): the long row once, the short ones with every combination.
    const auto setting = GENERATE(table<Eigen::Index, double, double>({{5, 0.5, 1.0}, {5, 0.1, 3.0}, {40, 0.5, 3.0},
                                                                        {40, 0.1, 1.0}, {262144, 0.3, 1.5}}));
    const Eigen::Index cols = std::get<0>(setting);
    const double beta = std::get<1>(setting), t = std::get<2>(setting);
    CAPTURE(cols, beta, t);
    Rows<TestType> zp = logits_rows<TestType>(5, cols, 11, 3.0), zq = logits_rows<TestType>(5, cols, 12, 3.0);
    // row 0: -inf at the same places in both; row 1: -inf only in p, and only in q elsewhere;
    // row 2: huge logits; row 3: one-hot p, q with a -inf where p is 0; row 4: one-hot both, apart.
    for (Eigen::Index c = 0; c < cols; c += 3) zp(0, c) = zq(0, c) = minus_inf;
    for (Eigen::Index c = 1; c < cols; c += 4) zp(1, c) = minus_inf;
    for (Eigen::Index c = 2; c < cols; c += 4) zq(1, c) = minus_inf;
    zp.row(2) = logits_rows<TestType>(1, cols, 13, 1e4);
    zq.row(2) = logits_rows<TestType>(1, cols, 14, 1e4);
    zp.row(3).setConstant(minus_inf);
    zp(3, cols / 2) = 2;
    zq(3, 0) = minus_inf;
    zp.row(4).setConstant(minus_inf);
    zq.row(4).setConstant(minus_inf);
    zp(4, 0) = 1;
    zq(4, cols - 1) = -3;
    check_against_reference<TestType>(Js{beta}, zp, t, zq, t, {dv::Reduction::sum});
    const auto fast = run(Js{beta}, zp, t, zq, t, {dv::Reduction::none});
    CHECK((fast.rows.isFinite()).all());
    CHECK(fast.grad_p.array().isFinite().all());
    CHECK(fast.grad_q.array().isFinite().all());
    // Disjoint one-hots: JSD_beta = H(beta) (cols > 1: the two masses are apart).
    if (cols > 1) {
        const double entropy = -beta * std::log(beta) - (1 - beta) * std::log1p(-beta);
        CHECK(std::abs(double(fast.rows(4)) - entropy) <= exact_bound<TestType>() * (1.0 + entropy));
    }
}

TEST_CASE("fused generalized js in double with logits +-1e300 equals the reference path", "[fused][js][adversarial]")
{
    Rows<double> zp = logits_rows<double>(2, 100, 21, 1e300), zq = logits_rows<double>(2, 100, 22, 1e300);
    zq.row(1) = zp.row(1);
    zq(1, 5) = -1e300;  // one mass moves far away
    check_against_reference<double>(Js{0.3}, zp, 1.0, zq, 1.0, {dv::Reduction::sum});
}

TEMPLATE_TEST_CASE("fused generalized js at beta = 0 and beta = 1: value and gradients exactly 0", "[fused][js]", float,
                   double)
{
    const double beta = GENERATE(0.0, 1.0);
    const Rows<TestType> zp = logits_rows<TestType>(3, 50, 31, 4.0), zq = logits_rows<TestType>(3, 50, 32, 4.0);
    const auto fast = run(Js{beta}, zp, 1.5, zq, 0.5, {dv::Reduction::sum});
    CHECK(fast.value == TestType(0));
    CHECK((fast.rows.array() == TestType(0)).all());
    CHECK((fast.grad_p.array() == TestType(0)).all());
    CHECK((fast.grad_q.array() == TestType(0)).all());
}

TEST_CASE("fused generalized js gradients match central differences (logits, temperatures, mask, reductions)",
          "[fused][js][gradient]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 2)));
    const auto reduction = GENERATE(dv::Reduction::sum, dv::Reduction::mean, dv::Reduction::batchmean);
    const double beta = GENERATE(0.5, 0.2);
    // Logits in [1, 7]: the finite-difference step is relative, so entries near 0 would make it noisy.
    const test::Matrix a = (test::random_logits(3, 37, seed).array() + 4.0).matrix();
    const test::Matrix b = (test::random_logits(3, 37, seed + 1).array() + 4.0).matrix();
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(3);
    keep << true, false, true;
    dv::Options options{reduction};
    options.mask = keep;
    const double tp = 1.7, tq = 0.8;
    const auto f = [&](const test::Matrix& x, const test::Matrix& y, const dv::Outputs<double>& out) {
        return dv::generalized_js(dv::logits(x, tp), dv::logits(y, tq), beta, options, out);
    };
    test::Matrix gp(3, 37), gq(3, 37);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    f(a, b, out);
    const test::Matrix fd_p = test::central_difference(a, [&](const test::Matrix& x) { return f(x, b, {}); });
    const test::Matrix fd_q = test::central_difference(b, [&](const test::Matrix& y) { return f(a, y, {}); });
    CAPTURE(seed, beta, (gp - fd_p).cwiseAbs().maxCoeff(), (gq - fd_q).cwiseAbs().maxCoeff());
    CHECK(test::close(gp, fd_p));
    CHECK(test::close(gq, fd_q));
    // js() is generalized_js at beta = 1/2, on the same fast path.
    if (beta == 0.5) {
        test::Matrix hp(3, 37);
        dv::Outputs<double> half;
        half.grad_p = hp;
        CHECK(dv::js(dv::logits(a, tp), dv::logits(b, tq), options, half) == f(a, b, {}));
        CHECK(hp == gp);
    }
}

TEMPLATE_TEST_CASE("fused generalized js vector path equals the scalar path of the same kernel (ulp-level)",
                   "[fused][js][simd]", float, double)
{
    using Vector = dv::detail::simd::Packet<TestType>;
    const Eigen::Index cols = GENERATE(1, 31, 5000);
    const Rows<TestType> zp = logits_rows<TestType>(1, cols, 3, 6.0), zq = logits_rows<TestType>(1, cols, 4, 6.0);
    dv::detail::FusedRow<TestType> row;
    row.p = zp.data();
    row.q = zq.data();
    row.cols = cols;
    row.inverse_temperature_p = 1.0 / 1.3;
    row.inverse_temperature_q = 1.0 / 0.9;
    dv::detail::LogSumExp lp, lq;
    dv::detail::accumulate_logsumexp<TestType>(lp, row.p, 0, cols, row.inverse_temperature_p);
    dv::detail::accumulate_logsumexp<TestType>(lq, row.q, 0, cols, row.inverse_temperature_q);
    row.max_p = lp.reference();
    row.log_sum_p = lp.log_sum();
    row.max_q = lq.reference();
    row.log_sum_q = lq.log_sum();
    const dv::detail::FusedJs kernel{0.3};
    dv::detail::FusedJs::State vector_state, scalar_state;
    kernel.accumulate<Vector>(vector_state, row, 0, cols);
    kernel.accumulate<TestType>(scalar_state, row, 0, cols);
    const auto fv = kernel.finish(vector_state, row), fs = kernel.finish(scalar_state, row);
    CHECK(std::abs(fv.value - fs.value) <= value_bound<TestType>() * (1.0 + fs.value));
    Rows<TestType> gv(2, cols), gs(2, cols);
    kernel.gradient<Vector>(fv, row, 0, cols, gv.row(0).data(), gv.row(1).data(), 1.0);
    kernel.gradient<TestType>(fs, row, 0, cols, gs.row(0).data(), gs.row(1).data(), 1.0);
    CHECK(within(gv, gs, 0.0, gradient_bound<TestType>() * (1.0 + double(gs.cwiseAbs().maxCoeff()))));
}

TEMPLATE_TEST_CASE("fused generalized js: gradients written over the input logits (nothing kept) equal the kept ones bitwise",
                   "[fused][js]", float, double)
{
    // With separate gradient rows the value pass keeps p_i a_i, q_i b_i there for the gradient pass;
    // a gradient row that is also an input row cannot hold them, so the gradient pass recomputes them.
    const Eigen::Index cols = GENERATE(5, 3000, 40000);
    CAPTURE(cols);
    const Rows<TestType> zp = logits_rows<TestType>(3, cols, 51, 4.0), zq = logits_rows<TestType>(3, cols, 52, 4.0);
    const dv::Options options{dv::Reduction::mean};
    const auto kept = run(Js{0.3}, zp, 1.2, zq, 0.9, options);
    Rows<TestType> in_place_p = zp, in_place_q = zq;
    dv::Outputs<TestType> out;
    out.grad_p = in_place_p;
    const TestType value_p = dv::detail::evaluate("test", Js{0.3}, dv::logits(in_place_p, 1.2), dv::logits(zq, 0.9), options, out);
    dv::Outputs<TestType> out_q;
    out_q.grad_q = in_place_q;
    const TestType value_q = dv::detail::evaluate("test", Js{0.3}, dv::logits(zp, 1.2), dv::logits(in_place_q, 0.9), options, out_q);
    CHECK(value_p == kept.value);
    CHECK(value_q == kept.value);
    CHECK(in_place_p == kept.grad_p);
    CHECK(in_place_q == kept.grad_q);
}

#if defined(_OPENMP)
TEMPLATE_TEST_CASE("fused generalized js: values and gradients bitwise identical for 1, 2 and 3 threads",
                   "[fused][js][threads]", float, double)
{
    // Row mode (many rows) and chunk mode (one long row spanning several chunks).
    const auto shape = GENERATE(std::make_pair(Eigen::Index(7), Eigen::Index(1000)),
                                std::make_pair(Eigen::Index(1), Eigen::Index(100000)));
    CAPTURE(shape.first, shape.second);
    const Rows<TestType> zp = logits_rows<TestType>(shape.first, shape.second, 41, 4.0);
    const Rows<TestType> zq = logits_rows<TestType>(shape.first, shape.second, 42, 4.0);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const auto one = run(Js{0.3}, zp, 1.2, zq, 0.9, {dv::Reduction::mean});
    for (int threads = 2; threads <= 3; ++threads) {
        omp_set_num_threads(threads);
        const auto many = run(Js{0.3}, zp, 1.2, zq, 0.9, {dv::Reduction::mean});
        CHECK(many.value == one.value);
        CHECK((many.rows == one.rows).all());
        CHECK(many.grad_p == one.grad_p);
        CHECK(many.grad_q == one.grad_q);
    }
    omp_set_num_threads(saved);
}
#endif

}  // namespace detail_fused_js_test
