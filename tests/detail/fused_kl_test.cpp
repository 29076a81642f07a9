// The fused kernels (detail/fused_*.hpp), reached through the public functions with logits, against
// (a) the driver's reference path (the same row kernel with its fused() hidden), and (b) the
// long-double reference. Bounds are those documented in docs/performance.md.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "divergence/discrete/kl.hpp"
#include "support/finite_difference.hpp"
#include "support/fused.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

namespace detail_fused_kl_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace ref = test::reference;

namespace {

using namespace test;  // support/fused.hpp: ReferencePath, Rows, Result, run, within, logits_rows

using Kl = dv::detail::KlKernel;
using ReverseKl = dv::detail::Swapped<dv::detail::KlKernel>;

/// Documented bounds of the fused path against the reference path (docs/performance.md):
/// values |dD| <= 2.5e-7 (1 + D) for float (exps in float), 5e-13 (1 + D) for double (logits up to 1e4);
/// gradients |dg| <= bound * (max_i |g_i| + 1/(T B)) entrywise for float.
template <class Scalar>
double value_bound()
{
    return std::is_same_v<Scalar, float> ? 2.5e-7 : 5e-13;
}
template <class Scalar>
double gradient_bound()
{
    return std::is_same_v<Scalar, float> ? 2e-6 : 1e-12;
}

template <class Scalar, class Kernel>
void check_against_reference(const Kernel& kernel, const Rows<Scalar>& zp, double tp, const Rows<Scalar>& zq, double tq,
                             const dv::Options& options)
{
    const auto fast = run(kernel, zp, tp, zq, tq, options);
    const auto slow = run(ReferencePath<Kernel>{kernel}, zp, tp, zq, tq, options);
    const double vb = value_bound<Scalar>();
    CHECK(within(fast.rows, slow.rows, vb, vb));
    CHECK(within(Eigen::Matrix<Scalar, 1, 1>::Constant(fast.value), Eigen::Matrix<Scalar, 1, 1>::Constant(slow.value), vb, vb));
    // Gradient entries are p_i (log p_i - log q_i - D) / T: both paths lose about eps (1 + D) p_i / T
    // to the cancellation inside, so the bound scales with (1 + max_r D_r).
    const double largest = std::isfinite(slow.rows.maxCoeff()) ? double(slow.rows.maxCoeff()) : 0.0;
    const double scale_p = (1.0 + largest) * std::max(double(slow.grad_p.cwiseAbs().maxCoeff()), 1.0 / (tp * double(zp.rows())));
    const double scale_q = (1.0 + largest) * std::max(double(slow.grad_q.cwiseAbs().maxCoeff()), 1.0 / (tq * double(zp.rows())));
    const double gb = gradient_bound<Scalar>();
    if (std::isfinite(scale_p)) CHECK(within(fast.grad_p, slow.grad_p, 0.0, gb * scale_p));
    else CHECK(within(fast.grad_p, slow.grad_p, 0.0, 0.0));
    CHECK(within(fast.grad_q, slow.grad_q, 0.0, gb * scale_q));
}

}  // namespace

TEMPLATE_TEST_CASE("fused kl and reverse kl equal the reference path on random rows (float and double)", "[fused][kl]",
                   float, double)
{
    const auto cols = GENERATE(1, 7, 16, 33, 1000, 40000);
    const auto seed = test::sweep_seed(GENERATE(range(0, 2)));
    const auto temperatures = GENERATE(std::make_pair(1.0, 1.0), std::make_pair(2.0, 2.0), std::make_pair(0.7, 3.0));
    const Eigen::Index rows = cols > 10000 ? 2 : 5;
    CAPTURE(cols, seed, temperatures.first, temperatures.second);
    const Rows<TestType> zp = logits_rows<TestType>(rows, cols, seed, 5.0);
    const Rows<TestType> zq = logits_rows<TestType>(rows, cols, seed + 1, 5.0);
    Eigen::Array<bool, Eigen::Dynamic, 1> keep = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(rows, true);
    keep(rows - 1) = false;
    dv::Options options{dv::Reduction::mean};
    options.mask = keep;
    check_against_reference<TestType>(Kl{}, zp, temperatures.first, zq, temperatures.second, options);
    check_against_reference<TestType>(ReverseKl{}, zp, temperatures.first, zq, temperatures.second, options);
    // P close to Q: the regime where cancellation would show.
    Rows<TestType> near = zp;
    near.array() += (logits_rows<TestType>(rows, cols, seed + 2, 1e-3)).array();
    check_against_reference<TestType>(Kl{}, zp, temperatures.first, near, temperatures.first, {dv::Reduction::sum});
}

TEMPLATE_TEST_CASE("fused kl matches the long-double reference (value within the documented bound)", "[fused][kl][reference]",
                   float, double)
{
    const auto cols = GENERATE(3, 1000, 100000);
    const auto seed = test::sweep_seed(GENERATE(range(0, 2)));
    const double t = GENERATE(1.0, 0.5, 4.0);
    const Rows<TestType> zp = logits_rows<TestType>(2, cols, seed, 8.0);
    const Rows<TestType> zq = logits_rows<TestType>(2, cols, seed + 1, 8.0);
    Eigen::Array<TestType, Eigen::Dynamic, 1> values(2);
    dv::Outputs<TestType> out;
    out.row_values = values;
    dv::kl(dv::logits(zp, t), dv::logits(zq, t), {dv::Reduction::sum}, out);
    for (Eigen::Index r = 0; r < 2; ++r) {
        const ref::Real exact = ref::kl_log(ref::log_softmax(ref::row(zp, r), t), ref::log_softmax(ref::row(zq, r), t));
        CAPTURE(cols, seed, t, r);
        CHECK(std::abs(double(values(r)) - double(exact)) <= value_bound<TestType>() * (1.0 + double(exact)));
    }
}

TEMPLATE_TEST_CASE("fused kl on adversarial rows: -inf entries, logits +-1e4, one-hot, V = 262144", "[fused][kl][adversarial]",
                   float, double)
{
    constexpr TestType minus_inf = -std::numeric_limits<TestType>::infinity();
    const Eigen::Index cols = GENERATE(5, 40, 262144);
    CAPTURE(cols);
    Rows<TestType> zp = logits_rows<TestType>(4, cols, 11, 3.0), zq = logits_rows<TestType>(4, cols, 12, 3.0);
    // row 0: -inf at the same places in both; row 1: -inf only in p; row 2: huge logits;
    // row 3: one-hot p (all but one -inf), and q with a -inf where p is 0.
    for (Eigen::Index c = 0; c < cols; c += 3) zp(0, c) = zq(0, c) = minus_inf;
    for (Eigen::Index c = 1; c < cols; c += 4) zp(1, c) = minus_inf;
    zp.row(2) = logits_rows<TestType>(1, cols, 13, 1e4);
    zq.row(2) = logits_rows<TestType>(1, cols, 14, 1e4);
    zp.row(3).setConstant(minus_inf);
    zp(3, cols / 2) = 2;
    zq(3, 0) = minus_inf;
    const double t = GENERATE(1.0, 3.0);
    check_against_reference<TestType>(Kl{}, zp, t, zq, t, {dv::Reduction::sum});
    check_against_reference<TestType>(ReverseKl{}, zp, t, zq, t, {dv::Reduction::sum});

    // Support mismatch: p > 0 where q = 0 gives +inf (value and gradients as the reference path).
    Rows<TestType> mismatch = zq;
    mismatch(1, 2) = minus_inf;
    const auto fast = run(Kl{}, zp, t, mismatch, t, {dv::Reduction::none});
    const auto slow = run(ReferencePath<Kl>{}, zp, t, mismatch, t, {dv::Reduction::none});
    CHECK(fast.rows(1) == std::numeric_limits<TestType>::infinity());
    const Rows<TestType> finite_part = slow.grad_p.unaryExpr([](TestType g) { return std::isinf(g) ? TestType(0) : g; });
    const double largest = double(slow.rows(2));  // the largest finite row value (logits +-1e4)
    CHECK(within(fast.grad_p, slow.grad_p, 0.0,
                 gradient_bound<TestType>() * (1.0 + largest) * (1.0 + double(finite_part.cwiseAbs().maxCoeff()))));
    CHECK_FALSE(fast.grad_q.array().isNaN().any());
    CHECK_FALSE(fast.grad_p.array().isNaN().any());
}

TEST_CASE("fused kl and reverse kl gradients match central differences (logits, temperatures, mask, reductions)",
          "[fused][kl][gradient]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 2)));
    const auto reduction = GENERATE(dv::Reduction::sum, dv::Reduction::mean, dv::Reduction::batchmean);
    // Logits in [1, 7]: the finite-difference step is relative, so entries near 0 would make it noisy.
    const test::Matrix a = (test::random_logits(3, 37, seed).array() + 4.0).matrix();
    const test::Matrix b = (test::random_logits(3, 37, seed + 1).array() + 4.0).matrix();
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(3);
    keep << true, false, true;
    dv::Options options{reduction};
    options.mask = keep;
    const double tp = 1.7, tq = 0.8;
    for (int reverse = 0; reverse < 2; ++reverse) {
        const auto f = [&](const test::Matrix& x, const test::Matrix& y, const dv::Outputs<double>& out) {
            return reverse ? dv::reverse_kl(dv::logits(x, tp), dv::logits(y, tq), options, out)
                           : dv::kl(dv::logits(x, tp), dv::logits(y, tq), options, out);
        };
        test::Matrix gp(3, 37), gq(3, 37);
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        f(a, b, out);
        const test::Matrix fd_p = test::central_difference(a, [&](const test::Matrix& x) { return f(x, b, {}); });
        const test::Matrix fd_q = test::central_difference(b, [&](const test::Matrix& y) { return f(a, y, {}); });
        CAPTURE(reverse, seed, (gp - fd_p).cwiseAbs().maxCoeff(), (gq - fd_q).cwiseAbs().maxCoeff());
        CHECK(test::close(gp, fd_p));
        CHECK(test::close(gq, fd_q));
        // Each gradient alone equals the one computed with both.
        test::Matrix only(3, 37);
        dv::Outputs<double> one;
        one.grad_q = only;
        f(a, b, one);
        CHECK(only == gq);
        dv::Outputs<double> other;
        other.grad_p = only;
        f(a, b, other);
        CHECK(only == gp);
    }
}

TEMPLATE_TEST_CASE("fused vector path equals the scalar path of the same kernel (ulp-level)", "[fused][kl][simd]", float,
                   double)
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
    const dv::detail::FusedKl kernel;
    dv::detail::FusedKl::State vector_state, scalar_state;
    kernel.accumulate<Vector>(vector_state, row, 0, cols);
    kernel.accumulate<TestType>(scalar_state, row, 0, cols);
    const auto fv = kernel.finish(vector_state, row), fs = kernel.finish(scalar_state, row);
    CHECK(std::abs(fv.value - fs.value) <= value_bound<TestType>() * (1.0 + fs.value));
    Rows<TestType> gv(2, cols), gs(2, cols);
    kernel.gradient<Vector>(fv, row, 0, cols, gv.row(0).data(), gv.row(1).data(), 1.0);
    kernel.gradient<TestType>(fs, row, 0, cols, gs.row(0).data(), gs.row(1).data(), 1.0);
    CHECK(within(gv, gs, 0.0, gradient_bound<TestType>() * (1.0 + double(gs.cwiseAbs().maxCoeff()))));
}

TEMPLATE_TEST_CASE("fused kl: a p that underflows exp but has a finite logit still gives +inf against q = 0",
                   "[fused][kl][adversarial]", float, double)
{
    constexpr TestType minus_inf = -std::numeric_limits<TestType>::infinity();
    Rows<TestType> t(1, 40), s(1, 40);
    t.setZero();
    s.setZero();
    t(0, 37) = TestType(-5000);  // exp underflows in both precisions
    s(0, 37) = minus_inf;
    CHECK(std::isinf(dv::kl(dv::logits(t), dv::logits(s))));
    CHECK(dv::reverse_kl(dv::logits(s), dv::logits(t)) == std::numeric_limits<TestType>::infinity());
    CHECK(std::isfinite(dv::kl(dv::logits(s), dv::logits(t))));
}

}  // namespace detail_fused_kl_test
