// The fused kernel of the generic f-divergence engine (detail/fused_f_divergence.hpp), reached
// through f_divergence with logits, against the driver's reference path (the same row kernel with
// its fused() hidden) and central differences. Both paths evaluate the same generator members on
// the same log-ratios up to the rounding of log p_i (docs/performance.md).

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <tuple>
#include <type_traits>

#include "divergence/discrete/f_divergence.hpp"
#include "support/finite_difference.hpp"
#include "support/fused.hpp"
#include "support/random.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace detail_fused_f_divergence_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace gen = divergence::generators;

namespace {

using namespace test;  // support/fused.hpp: ReferencePath, Rows, Result, run, within, logits_rows

/// Documented bound (docs/performance.md): with double lanes the paths differ by the rounding of
/// log p_i (eps |z / T|) amplified by the conditioning of the generator at r_i, and float results
/// are the same double rounded once; generators with float lanes (Hellinger, Jensen-Shannon, GAN,
/// generalized JS, triangular, total variation: terms and partials bounded by a multiple of p + q)
/// add a few float eps absolute.
template <class Scalar>
double bound()
{
    return std::is_same_v<Scalar, float> ? 2.5e-7 : 1e-9;
}

template <class Scalar, class Generator>
void check_against_reference(const Generator& g, const Rows<Scalar>& zp, double tp, const Rows<Scalar>& zq, double tq,
                             const dv::Options& options)
{
    using Kernel = dv::detail::FDivergenceKernel<Generator>;
    const Kernel kernel{g};
    const auto fast = run(kernel, zp, tp, zq, tq, options);
    const auto slow = run(ReferencePath<Kernel>{kernel}, zp, tp, zq, tq, options);
    const double b = bound<Scalar>();
    CHECK(within(fast.rows, slow.rows, b, b));
    const double finite_p = slow.grad_p.array().isFinite().select(slow.grad_p.array().abs(), Scalar(0)).maxCoeff();
    const double finite_q = slow.grad_q.array().isFinite().select(slow.grad_q.array().abs(), Scalar(0)).maxCoeff();
    CHECK(within(fast.grad_p, slow.grad_p, b, b * (finite_p + 1.0 / tp)));
    CHECK(within(fast.grad_q, slow.grad_q, b, b * (finite_q + 1.0 / tq)));
    const auto only_q = run(kernel, zp, tp, zq, tq, options, false, true);
    CHECK(only_q.grad_q == fast.grad_q);
    CHECK((only_q.grad_p.array() == Scalar(-7)).all());
}

template <class Scalar, class Generator>
void check_rows(const Generator& g, const Rows<Scalar>& zp, const Rows<Scalar>& zq)
{
    Eigen::Array<bool, Eigen::Dynamic, 1> keep = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(zp.rows(), true);
    keep(zp.rows() - 1) = false;
    dv::Options options{dv::Reduction::mean};
    options.mask = keep;
    check_against_reference<Scalar>(g, zp, 1.0, zq, 1.0, options);
    check_against_reference<Scalar>(g, zp, 0.7, zq, 2.5, {dv::Reduction::sum});
}

template <class Scalar, class Visit>
void every_generator(const Visit& visit)
{
    visit(gen::ForwardKl{});
    visit(gen::ReverseKl{});
    visit(gen::PearsonChiSquared{});
    visit(gen::SquaredHellinger{});
    visit(gen::JensenShannon{});
    visit(gen::TotalVariation{});
    visit(gen::Triangular{});
    visit(gen::Gan{});
    visit(gen::GeneralizedJs{0.3});
    visit(gen::SkewKl{0.1});
    visit(gen::SkewReverseKl{0.2});
    visit(gen::AmariAlpha{0.3});
    visit(gen::Jeffreys{});
    visit(gen::NeymanChiSquared{});
}

/// The generators of every_generator that have packet members (13 of its 14: all but AmariAlpha),
/// each through `visit`; returns how many.
template <class Visit>
int every_packet_generator(const Visit& visit)
{
    int visited = 0;
    every_generator<double>([&](const auto& g) {
        if constexpr (dv::detail::has_packet_form_v<std::decay_t<decltype(g)>>) {
            visit(g);
            ++visited;
        }
    });
    return visited;
}

}  // namespace

TEMPLATE_TEST_CASE("fused f-divergence equals the reference path on random rows (generators, masks, temperatures)",
                   "[fused][f_divergence]", float, double)
{
    const auto cols = GENERATE(1, 7, 33, 1000, 40000);
    CAPTURE(cols);
    const Eigen::Index rows = cols > 10000 ? 2 : 4;
    const Rows<TestType> zp = logits_rows<TestType>(rows, cols, 51, 3.0);
    const Rows<TestType> zq = logits_rows<TestType>(rows, cols, 52, 3.0);
    every_generator<TestType>([&](const auto& g) {
        CAPTURE(g.name());
        check_rows<TestType>(g, zp, zq);
    });
}

TEMPLATE_TEST_CASE("fused f-divergence on adversarial rows: -inf entries, logits +-1e4, one-hot, V = 262144",
                   "[fused][f_divergence][adversarial]", float, double)
{
    constexpr TestType minus_inf = -std::numeric_limits<TestType>::infinity();
    const Eigen::Index cols = GENERATE(5, 40, 262144);
    CAPTURE(cols);
    Rows<TestType> zp = logits_rows<TestType>(5, cols, 11, 3.0), zq = logits_rows<TestType>(5, cols, 12, 3.0);
    // row 0: -inf at the same places; row 1: -inf only in p here and only in q there (mismatch);
    // row 2: logits +-1e4 (saturated ratios); row 3: one-hot p; row 4: kept for the mask.
    for (Eigen::Index c = 0; c < cols; c += 3) zp(0, c) = zq(0, c) = minus_inf;
    for (Eigen::Index c = 1; c < cols; c += 4) zp(1, c) = minus_inf;
    for (Eigen::Index c = 2; c < cols; c += 4) zq(1, c) = minus_inf;
    zp.row(2) = logits_rows<TestType>(1, cols, 13, 1e4);
    zq.row(2) = logits_rows<TestType>(1, cols, 14, 1e4);
    zp.row(3).setConstant(minus_inf);
    zp(3, cols / 2) = 2;
    const auto visit = [&](const auto& g) {
        CAPTURE(g.name());
        check_against_reference<TestType>(g, zp, 1.5, zq, 1.5, {dv::Reduction::sum});
    };
    if (cols == 262144) {
        visit(gen::ForwardKl{});
        visit(gen::SquaredHellinger{});
        visit(gen::PearsonChiSquared{});
    } else {
        every_generator<TestType>(visit);
    }
}

TEMPLATE_TEST_CASE("fused f-divergence packet loop: scattered special lanes, tails, chunk edges, p / q / both gradients",
                   "[fused][f_divergence][packet]", float, double)
{
    // Generators with packet members take the packet loop; a block with one special lane (a -inf
    // logit, a saturated ratio) is taken again packet by packet and its special packets go through
    // the scalar kernel. Rows shorter than a packet, tails, and rows just past a block or a chunk.
    constexpr TestType minus_inf = -std::numeric_limits<TestType>::infinity();
    const Eigen::Index cols = GENERATE(3, 17, 1023, 1025, 32769);
    CAPTURE(cols);
    Rows<TestType> zp = logits_rows<TestType>(4, cols, 71, 3.0), zq = logits_rows<TestType>(4, cols, 72, 3.0);
    // row 0: log ratios near 110 (special in float lanes, whose ratios must stay within e^+-80; ordinary
    // in double lanes); row 1: sparse -inf in p, in q, and in both; row 2: a few saturated ratios
    // (|log r| > 700 at T = 1.3).
    for (Eigen::Index c = 3; c < cols; c += 600) zq(0, c) = TestType(-60);
    for (Eigen::Index c = 0; c < cols; c += 701) zp(1, c) = minus_inf;
    for (Eigen::Index c = cols / 2; c < cols; c += 997) zq(1, c) = minus_inf;
    zp(1, cols - 1) = zq(1, cols - 1) = minus_inf;
    for (Eigen::Index c = 1; c < cols; c += 1500) {
        zp(2, c) = TestType(1000);
        zq(2, (c + 1) % cols) = TestType(1000);
    }
    const auto visit = [&](const auto& g) {
        CAPTURE(g.name());
        Eigen::Array<bool, Eigen::Dynamic, 1> keep = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(4, true);
        keep(3) = false;
        dv::Options options{dv::Reduction::batchmean};
        options.mask = keep;
        check_against_reference<TestType>(g, zp, 1.3, zq, 0.6, options);
        // Only grad_p, only grad_q, both: each gradient the same bits whatever else is requested.
        using Kernel = dv::detail::FDivergenceKernel<std::decay_t<decltype(g)>>;
        const Kernel kernel{g};
        const auto both = run(kernel, zp, 1.3, zq, 0.6, options);
        const auto only_p = run(kernel, zp, 1.3, zq, 0.6, options, true, false);
        CHECK(only_p.grad_p == both.grad_p);
        CHECK(only_p.value == both.value);
        CHECK((only_p.grad_q.array() == TestType(-7)).all());
        const auto none = run(kernel, zp, 1.3, zq, 0.6, options, false, false);
        CHECK(within(none.rows, both.rows, bound<TestType>(), bound<TestType>()));
    };
    CHECK(every_packet_generator(visit) == 13);
}

TEMPLATE_TEST_CASE("fused f-divergence packet loop: gradients from the partials kept by the value pass equal those "
                   "recomputed (gradient rows over the inputs) and the reference path",
                   "[fused][f_divergence][packet][kept]", float, double)
{
    // Separate gradient rows: the value pass keeps dD/dlog q_i (resp. p_i) there and the gradient
    // pass reads them back. Gradient rows over the input logits (in place): no kept partials, the
    // gradient pass recomputes them. Both within the documented bound of the reference path.
    const Eigen::Index cols = GENERATE(5, 1000, 40000);
    CAPTURE(cols);
    const Rows<TestType> zp = logits_rows<TestType>(3, cols, 81, 3.0), zq = logits_rows<TestType>(3, cols, 82, 3.0);
    const double tp = 1.3, tq = 0.6, b = bound<TestType>();
    const auto visit = [&](const auto& g) {
        CAPTURE(g.name());
        using Kernel = dv::detail::FDivergenceKernel<std::decay_t<decltype(g)>>;
        const Kernel kernel{g};
        const dv::Options options{dv::Reduction::sum};
        const auto kept = run(kernel, zp, tp, zq, tq, options);
        const auto slow = run(ReferencePath<Kernel>{kernel}, zp, tp, zq, tq, options);
        Rows<TestType> in_place_p = zp, in_place_q = zq;
        dv::Outputs<TestType> out_q;
        out_q.grad_q = in_place_q;
        dv::detail::evaluate("test", kernel, dv::logits(zp, tp), dv::logits(in_place_q, tq), options, out_q);
        dv::Outputs<TestType> out_p;
        out_p.grad_p = in_place_p;
        dv::detail::evaluate("test", kernel, dv::logits(in_place_p, tp), dv::logits(zq, tq), options, out_p);
        const double max_p = slow.grad_p.cwiseAbs().maxCoeff(), max_q = slow.grad_q.cwiseAbs().maxCoeff();
        CHECK(within(kept.grad_p, slow.grad_p, b, b * (max_p + 1.0 / tp)));
        CHECK(within(kept.grad_q, slow.grad_q, b, b * (max_q + 1.0 / tq)));
        CHECK(within(in_place_p, slow.grad_p, b, b * (max_p + 1.0 / tp)));
        CHECK(within(in_place_q, slow.grad_q, b, b * (max_q + 1.0 / tq)));
    };
    CHECK(every_packet_generator(visit) == 13);
}

TEST_CASE("fused f-divergence gradients match central differences (logits, temperatures, mask, reduction)",
          "[fused][f_divergence][gradient]")
{
    const test::Matrix a = (test::random_logits(3, 23, 61).array() + 4.0).matrix();
    const test::Matrix b = (test::random_logits(3, 23, 62).array() + 4.0).matrix();
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(3);
    keep << true, false, true;
    dv::Options options{dv::Reduction::batchmean};
    options.mask = keep;
    const double tp = 1.7, tq = 0.8;
    every_generator<double>([&](const auto& g) {
        const auto f = [&](const test::Matrix& x, const test::Matrix& y, const dv::Outputs<double>& out) {
            return dv::f_divergence(dv::logits(x, tp), dv::logits(y, tq), g, options, out);
        };
        test::Matrix gp(3, 23), gq(3, 23);
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        f(a, b, out);
        const test::Matrix fd_p = test::central_difference(a, [&](const test::Matrix& x) { return f(x, b, {}); });
        const test::Matrix fd_q = test::central_difference(b, [&](const test::Matrix& y) { return f(a, y, {}); });
        CAPTURE(g.name(), (gp - fd_p).cwiseAbs().maxCoeff(), (gq - fd_q).cwiseAbs().maxCoeff());
        CHECK(test::close(gp, fd_p));
        CHECK(test::close(gq, fd_q));
    });
}

#if defined(_OPENMP)
TEMPLATE_TEST_CASE("fused f-divergence: values and gradients bitwise identical for 1, 2 and 3 threads",
                   "[fused][f_divergence][threads]", float, double)
{
    const auto shape = GENERATE(std::make_pair(Eigen::Index(7), Eigen::Index(1000)),
                                std::make_pair(Eigen::Index(1), Eigen::Index(100000)));
    CAPTURE(shape.first, shape.second);
    Rows<TestType> zp = logits_rows<TestType>(shape.first, shape.second, 41, 4.0);
    const Rows<TestType> zq = logits_rows<TestType>(shape.first, shape.second, 42, 4.0);
    // A few -inf logits: blocks of the packet loop that take special lanes through the scalar kernel.
    for (Eigen::Index c = 5; c < shape.second; c += 3001) zp(0, c) = -std::numeric_limits<TestType>::infinity();
    const auto check = [&](const auto& kernel) {
        const int saved = omp_get_max_threads();
        omp_set_num_threads(1);
        const auto one = run(kernel, zp, 1.2, zq, 0.9, {dv::Reduction::mean});
        for (int threads = 2; threads <= 3; ++threads) {
            omp_set_num_threads(threads);
            const auto many = run(kernel, zp, 1.2, zq, 0.9, {dv::Reduction::mean});
            CHECK(many.value == one.value);
            CHECK((many.rows == one.rows).all());
            CHECK(many.grad_p == one.grad_p);
            CHECK(many.grad_q == one.grad_q);
        }
        omp_set_num_threads(saved);
    };
    check(dv::detail::FDivergenceKernel<gen::SquaredHellinger>{gen::SquaredHellinger{}});
    check(dv::detail::FDivergenceKernel<gen::PearsonChiSquared>{gen::PearsonChiSquared{}});
    check(dv::detail::FDivergenceKernel<gen::ForwardKl>{gen::ForwardKl{}});  // the scalar loop
}
#endif

}  // namespace detail_fused_f_divergence_test
