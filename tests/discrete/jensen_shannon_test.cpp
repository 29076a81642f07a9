#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "divergence/discrete/f_divergence.hpp"
#include "divergence/discrete/jensen_shannon.hpp"
#include "divergence/discrete/kl.hpp"
#include "support/finite_difference.hpp"
#include "support/fused.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"
#include "support/threads.hpp"

namespace discrete_jensen_shannon_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace ref = test::reference;
using Real = ref::Real;

namespace {

/// JSD_beta in long double, written from the definition with each log ratio taken through log1p
/// (log(p/m) = -log1p((1 - beta)(q - p)/p), log(q/m) = -log1p(beta (p - q)/q)), so that it stays
/// accurate for beta near 0 or 1, independently of the library's Jensen-gap form.
Real generalized_js_reference(const std::vector<Real>& p, const std::vector<Real>& q, Real beta)
{
    Real s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i] > 0) {
            const Real a = q[i] == 0 ? -std::log(beta) : -std::log1p((1 - beta) * (q[i] - p[i]) / p[i]);
            s += beta * p[i] * a;
        }
        if (q[i] > 0) {
            const Real b = p[i] == 0 ? -std::log1p(-beta) : -std::log1p(beta * (p[i] - q[i]) / q[i]);
            s += (1 - beta) * q[i] * b;
        }
    }
    return s;
}

/// H(beta) = -beta log beta - (1 - beta) log(1 - beta), with log1p so it is exact near 0 and 1.
double binary_entropy(double beta)
{
    const double a = beta > 0 ? -beta * std::log(beta) : 0.0;
    const double b = beta < 1 ? -(1.0 - beta) * std::log1p(-beta) : 0.0;
    return a + b;
}

double l1(const Eigen::VectorXd& p, const Eigen::VectorXd& q) { return (p - q).cwiseAbs().sum(); }

}  // namespace

TEST_CASE("generalized_js is non-negative and zero only at P == Q (Gibbs)", "[js][property]")
{
    const auto v = GENERATE(1, 2, 7, 64, 1000);
    const auto seed = test::sweep_seed(GENERATE(range(0, 5)));
    const double beta = GENERATE(0.1, 0.5, 0.9);
    const Eigen::VectorXd p = test::random_simplex(v, seed, 0.2), q = test::random_simplex(v, seed + 1, 0.2);
    CAPTURE(v, seed, beta);
    CHECK(dv::generalized_js(p, q, beta) >= 0.0);
    CHECK(dv::generalized_js(p, p, beta) == 0.0);
    // (Rows with zeros may coincide: v = 2 with a zero in the same column gives p = q = (1, 0).)
    if (!(p.array() == q.array()).all()) CHECK(dv::generalized_js(p, q, beta) > 0.0);
}

TEST_CASE("js and js_distance are symmetric, js = generalized_js at beta = 1/2", "[js][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const Eigen::VectorXd p = test::random_simplex(50, seed, 0.3), q = test::random_simplex(50, seed + 1, 0.3);
    CHECK(dv::js(p, q) == Approx(dv::js(q, p)).epsilon(1e-15));
    CHECK(dv::js_distance(p, q) == Approx(dv::js_distance(q, p)).epsilon(1e-15));
    CHECK(dv::js(p, q) == dv::generalized_js(p, q, 0.5));
    CHECK(dv::js_distance(p, q) == Approx(std::sqrt(dv::js(p, q))).epsilon(1e-15));
    // Swapping the arguments maps beta to 1 - beta.
    CHECK(dv::generalized_js(p, q, 0.3) == Approx(dv::generalized_js(q, p, 0.7)).epsilon(1e-14));
}

TEST_CASE("JSD_beta <= H(beta) (binary entropy bound), with equality on disjoint supports, and JS <= ln 2", "[js][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const double beta = GENERATE(1e-9, 0.05, 0.3, 0.5, 0.8, 1.0 - 1e-9);
    const Eigen::VectorXd p = test::random_simplex(20, seed, 0.5), q = test::random_simplex(20, seed + 1, 0.5);
    CAPTURE(seed, beta);
    CHECK(dv::generalized_js(p, q, beta) <= binary_entropy(beta) * (1 + 1e-15));
    CHECK(dv::js(p, q) <= std::log(2.0));
    // Disjoint supports: every mass lives where the other has none.
    Eigen::VectorXd a = Eigen::VectorXd::Zero(20), b = Eigen::VectorXd::Zero(20);
    a.head(10) = p.head(10) / p.head(10).sum();
    b.tail(10) = q.tail(10) / q.tail(10).sum();
    if (p.head(10).sum() > 0 && q.tail(10).sum() > 0) {
        CHECK(dv::generalized_js(a, b, beta) == Approx(binary_entropy(beta)).epsilon(1e-14));
        CHECK(dv::js_distance(a, b) == Approx(std::sqrt(std::log(2.0))).epsilon(1e-15));
    }
}

TEST_CASE("js_distance satisfies the triangle inequality (it is a metric)", "[js][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 50)));
    const auto zeros = GENERATE(0.0, 0.5);
    const Eigen::VectorXd p = test::random_simplex(8, seed, zeros), q = test::random_simplex(8, seed + 1, zeros),
                          r = test::random_simplex(8, seed + 2, zeros);
    CAPTURE(seed, zeros);
    CHECK(dv::js_distance(p, r) <= dv::js_distance(p, q) + dv::js_distance(q, r) + 1e-15);
    CHECK(dv::js_distance(p, q) <= dv::js_distance(p, r) + dv::js_distance(r, q) + 1e-15);
    CHECK(dv::js_distance(q, r) <= dv::js_distance(q, p) + dv::js_distance(p, r) + 1e-15);
}

TEST_CASE("js obeys the Pinsker-type bounds ||P - Q||_1^2 / 8 <= JS <= (ln 2 / 2) ||P - Q||_1", "[js][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 20)));
    const Eigen::VectorXd p = test::random_simplex(30, seed, 0.3), q = test::random_simplex(30, seed + 1, 0.3);
    const double d = l1(p, q), value = dv::js(p, q);
    CHECK(value >= d * d / 8.0);
    CHECK(value <= std::log(2.0) / 2.0 * d * (1 + 1e-14));
}

TEST_CASE("generalized_js matches a long-double reference (any beta, zeros, P near Q, every form)", "[js][reference]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 4)));
    const double beta = GENERATE(1e-12, 1e-6, 0.1, 0.5, 0.77, 1.0 - 1e-6, 1.0 - 1e-12);
    CAPTURE(seed, beta);
    SECTION("probabilities with zeros in either argument")
    {
        const test::Matrix p = test::random_simplex_rows(3, 40, seed, 0.3), q = test::random_simplex_rows(3, 40, seed + 1, 0.3);
        Eigen::VectorXd rows(3);
        dv::Outputs<double> out;
        out.row_values = rows;
        dv::generalized_js(p, q, beta, {dv::Reduction::sum}, out);
        for (Eigen::Index r = 0; r < 3; ++r) {
            CHECK(rows(r) == Approx(double(generalized_js_reference(ref::row(p, r), ref::row(q, r), beta))).epsilon(1e-14));
        }
    }
    SECTION("P close to Q (where the textbook formula cancels)")
    {
        const Eigen::VectorXd p = test::random_simplex(40, seed);
        Eigen::VectorXd q = p.array() * (1.0 + 1e-3 * test::random_logits(1, 40, seed + 3, 1.0).row(0).transpose().array());
        q /= q.sum();
        const double expected = double(generalized_js_reference(ref::row(p.transpose(), 0), ref::row(q.transpose(), 0), beta));
        CHECK(dv::generalized_js(p, q, beta) == Approx(expected).epsilon(1e-13));
    }
    SECTION("logits with temperature and log-probabilities")
    {
        const double temperature = 1.7;
        const test::Matrix s = test::random_logits(2, 33, seed, 4.0), t = test::random_logits(2, 33, seed + 7, 4.0);
        Eigen::VectorXd rows(2), rows_log(2);
        dv::Outputs<double> out;
        out.row_values = rows;
        dv::generalized_js(dv::logits(t, temperature), dv::logits(s, temperature), beta, {dv::Reduction::sum}, out);
        test::Matrix lt(2, 33), ls(2, 33);
        for (Eigen::Index r = 0; r < 2; ++r) {
            const auto lp = ref::log_softmax(ref::row(t, r), temperature), lq = ref::log_softmax(ref::row(s, r), temperature);
            std::vector<Real> p(lp.size()), q(lq.size());
            for (std::size_t i = 0; i < lp.size(); ++i) {
                p[i] = std::exp(lp[i]);
                q[i] = std::exp(lq[i]);
                lt(r, Eigen::Index(i)) = double(lp[i]);
                ls(r, Eigen::Index(i)) = double(lq[i]);
            }
            CHECK(rows(r) == Approx(double(generalized_js_reference(p, q, beta))).epsilon(1e-13));
        }
        out.row_values = rows_log;
        dv::generalized_js(dv::log_probs(lt), dv::log_probs(ls), beta, {dv::Reduction::sum}, out);
        CHECK(rows_log(0) == Approx(rows(0)).epsilon(1e-13));
        CHECK(rows_log(1) == Approx(rows(1)).epsilon(1e-13));
    }
}

TEST_CASE("the fused Jensen-Shannon kernels equal the generic f-divergence engine (values and gradients)", "[js][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 5)));
    const double beta = GENERATE(0.1, 0.5, 0.9);
    CAPTURE(seed, beta);
    const test::Matrix p = test::random_simplex_rows(3, 12, seed, 0.3), q = test::random_simplex_rows(3, 12, seed + 1, 0.3);
    const dv::generators::GeneralizedJs generator(beta);
    CHECK(dv::generalized_js(p, q, beta) == Approx(dv::f_divergence(p, q, generator)).epsilon(1e-13));
    CHECK(2.0 * dv::js(p, q) == Approx(dv::f_divergence(p, q, dv::generators::JensenShannon{})).epsilon(1e-13));
    const test::Matrix s = test::random_logits(3, 12, seed + 2), t = test::random_logits(3, 12, seed + 3);
    test::Matrix gp(3, 12), gq(3, 12), fp(3, 12), fq(3, 12);
    dv::Outputs<double> fused, generic;
    fused.grad_p = gp;
    fused.grad_q = gq;
    generic.grad_p = fp;
    generic.grad_q = fq;
    dv::generalized_js(dv::logits(t, 1.3), dv::logits(s, 1.3), beta, {}, fused);
    dv::f_divergence(dv::logits(t, 1.3), dv::logits(s, 1.3), generator, {}, generic);
    CHECK(test::close(gp, fp, 1e-11, 1e-15));
    CHECK(test::close(gq, fq, 1e-11, 1e-15));
}

TEST_CASE("generalized_js is continuous at beta -> 0 and beta -> 1, exactly 0 at the endpoints", "[js][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 5)));
    const Eigen::VectorXd p = test::random_simplex(16, seed), q = test::random_simplex(16, seed + 1);
    // JSD_beta = beta KL(P || Q) + O(beta^2) and JSD_beta = (1 - beta) KL(Q || P) + O((1 - beta)^2).
    for (double beta : {1e-6, 1e-9, 1e-12}) {
        CAPTURE(beta);
        CHECK(dv::generalized_js(p, q, beta) / beta == Approx(dv::kl(p, q)).epsilon(1e-10 + 1e3 * beta));
        const double upper = 1.0 - beta, gap = 1.0 - upper;  // gap exact (Sterbenz)
        CHECK(dv::generalized_js(p, q, upper) / gap == Approx(dv::kl(q, p)).epsilon(1e-10 + 1e3 * gap));
    }
    test::Matrix gp(1, 16), gq(1, 16);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    for (double beta : {0.0, 1.0}) {
        gp.setConstant(7.0);
        gq.setConstant(7.0);
        CHECK(dv::generalized_js(p, q, beta, {}, out) == 0.0);
        CHECK(gp.isZero(0.0));
        CHECK(gq.isZero(0.0));
        // Also with support mismatch, where the plain KL would be infinite.
        Eigen::VectorXd z = q;
        z(0) = 0.0;
        z /= z.sum();
        CHECK(dv::generalized_js(p, z, beta, {}, out) == 0.0);
        CHECK(gp.isZero(0.0));
        CHECK(gq.isZero(0.0));
    }
}

TEST_CASE("Jensen-Shannon gradients match central differences (every form, both arguments, mask, reduction)",
          "[js][gradient]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 2)));
    const auto reduction = GENERATE(dv::Reduction::sum, dv::Reduction::mean, dv::Reduction::batchmean);
    const auto form = GENERATE(dv::Form::probs, dv::Form::log_probs, dv::Form::logits);
    const auto which = GENERATE(0, 1, 2);  // generalized_js(beta = 0.3), js, js_distance
    CAPTURE(seed, int(reduction), int(form), which);
    const test::Matrix za = test::random_logits(3, 6, seed), zb = test::random_logits(3, 6, seed + 1);
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(3);
    keep << true, false, true;
    dv::Options options{reduction};
    options.mask = keep;
    options.tolerance = 1e-3;  // finite differences leave the simplex
    const double temperature = 1.7;

    const auto to_form = [&](const test::Matrix& z) -> test::Matrix {
        if (form == dv::Form::logits) return z;
        test::Matrix l(z.rows(), z.cols());
        for (Eigen::Index r = 0; r < z.rows(); ++r) {
            const auto lp = ref::log_softmax(ref::row(z, r));
            for (Eigen::Index c = 0; c < z.cols(); ++c) l(r, c) = double(lp[std::size_t(c)]);
        }
        return form == dv::Form::log_probs ? l : test::Matrix(l.array().exp().matrix());
    };
    const test::Matrix a = to_form(za), b = to_form(zb);
    const auto input = [&](const test::Matrix& x) {
        return form == dv::Form::logits ? dv::logits(x, temperature) : dv::Input<double>(x, form, 1.0);
    };
    const auto f = [&](const test::Matrix& x, const test::Matrix& y, const dv::Outputs<double>& out) {
        switch (which) {
        case 0: return dv::generalized_js(input(x), input(y), 0.3, options, out);
        case 1: return dv::js(input(x), input(y), options, out);
        default: return dv::js_distance(input(x), input(y), options, out);
        }
    };
    test::Matrix gp(3, 6), gq(3, 6);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    f(a, b, out);
    CHECK(test::close(gp, test::central_difference(a, [&](const test::Matrix& x) { return f(x, b, {}); })));
    CHECK(test::close(gq, test::central_difference(b, [&](const test::Matrix& x) { return f(a, x, {}); })));
}

TEST_CASE("js_distance gradient at P == Q is the subgradient 0, never NaN", "[js][gradient]")
{
    const test::Matrix z = test::random_logits(2, 5, 11);
    test::Matrix gp(2, 5), gq(2, 5);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    CHECK(dv::js_distance(dv::logits(z), dv::logits(z), {}, out) == 0.0);
    CHECK(gp.isZero(0.0));
    CHECK(gq.isZero(0.0));
}

TEST_CASE("Jensen-Shannon zero conventions and adversarial rows", "[js][edge]")
{
    SECTION("one-hot rows: 0 when equal, H(beta) when disjoint; gradients finite in log form")
    {
        Eigen::RowVectorXd a = Eigen::RowVectorXd::Zero(5), b = Eigen::RowVectorXd::Zero(5);
        a(1) = 1.0;
        b(1) = 1.0;
        CHECK(dv::js(a, b) == 0.0);
        b(1) = 0.0;
        b(3) = 1.0;
        CHECK(dv::generalized_js(a, b, 0.2) == Approx(binary_entropy(0.2)).epsilon(1e-15));
        Eigen::RowVectorXd gp(5), gq(5);
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        dv::generalized_js(dv::log_probs(a.array().log().matrix()), dv::log_probs(b.array().log().matrix()), 0.2, {}, out);
        CHECK(gp.allFinite());
        CHECK(gq.allFinite());
        CHECK(gp(1) == Approx(-0.2 * std::log(0.2)));  // beta p log(p / m), m = beta at p's entry
        CHECK(gp(0) == 0.0);                           // outside both supports
        dv::generalized_js(a, b, 0.2, {}, out);        // probs: unconstrained partials, -inf at p_i = 0 < q_i
        CHECK(gp(3) == -std::numeric_limits<double>::infinity());
        CHECK(gp(0) == 0.0);
        CHECK(!gp.array().isNaN().any());
    }
    SECTION("double logits +-1e300: exact in the log domain")
    {
        Eigen::RowVectorXd t(3), s(3);
        t << 1e300, -1e300, 0.0;
        s << -1e300, 1e300, 0.0;
        Eigen::RowVectorXd gp(3), gq(3);
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        CHECK(dv::js(dv::logits(t), dv::logits(s), {}, out) == Approx(std::log(2.0)).epsilon(1e-15));
        CHECK(gp.allFinite());
        CHECK(gq.allFinite());
        CHECK(dv::js_distance(dv::logits(t), dv::logits(s), {}, out) == Approx(std::sqrt(std::log(2.0))).epsilon(1e-15));
        CHECK(gp.allFinite());
        CHECK(dv::generalized_js(dv::logits(t), dv::logits(t), 0.4) == 0.0);
    }
    SECTION("float logits +-1e4: matches the long-double reference of the float inputs")
    {
        test::MatrixF t(2, 4), s(2, 4);
        t << 1e4f, -1e4f, 0.0f, 9990.0f,  //
            -1e4f, -1e4f, 1e4f, 3.0f;
        s << 9995.0f, -1e4f, 1e4f, 0.0f,  //
            -1e4f, -std::numeric_limits<float>::infinity(), 9999.0f, 1e4f;
        Eigen::VectorXf rows(2);
        test::MatrixF gp(2, 4), gq(2, 4);
        dv::Outputs<float> out;
        out.row_values = rows;
        out.grad_p = gp;
        out.grad_q = gq;
        dv::generalized_js(dv::logits(t), dv::logits(s), 0.25f, {dv::Reduction::sum}, out);
        for (Eigen::Index r = 0; r < 2; ++r) {
            const auto p = ref::softmax(ref::row(t.cast<double>(), r)), q = ref::softmax(ref::row(s.cast<double>(), r));
            CHECK(rows(r) == Approx(double(generalized_js_reference(p, q, 0.25))).epsilon(1e-6));
        }
        CHECK(gp.allFinite());
        CHECK(gq.allFinite());
    }
    SECTION("V = 262144 with zeros: matches the long-double reference")
    {
        const test::Matrix p = test::random_simplex_rows(1, 262144, 3, 0.1), q = test::random_simplex_rows(1, 262144, 4, 0.1);
        const double expected = double(generalized_js_reference(ref::row(p, 0), ref::row(q, 0), 0.5));
        CHECK(dv::js(p, q) == Approx(expected).epsilon(1e-14));
        CHECK(dv::js_distance(p, q) == Approx(std::sqrt(expected)).epsilon(1e-14));
    }
}

TEST_CASE("generalized_js rejects beta outside [0, 1] and NaN", "[js][error]")
{
    const Eigen::VectorXd p = test::random_simplex(4, 1), q = test::random_simplex(4, 2);
    using Catch::Matchers::Contains;
    for (double beta : {-0.1, 1.1, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
        CAPTURE(beta);
        CHECK_THROWS_AS(dv::generalized_js(p, q, beta), std::invalid_argument);
        CHECK_THROWS_WITH(dv::generalized_js(p, q, beta), Contains("generalized_js") && Contains("'beta'"));
    }
    CHECK_THROWS_WITH(dv::js_distance(p, Eigen::VectorXd(test::random_simplex(5, 2))), Contains("js_distance") && Contains("'q'"));
}

TEMPLATE_TEST_CASE("js_distance from logits: the fused path (sqrt of the fused JSD) equals the reference path",
                   "[js][fused]", float, double)
{
    using Kernel = dv::detail::JsDistanceKernel;
    const Eigen::Index cols = GENERATE(7, 1000, 40000);  // one packet, one block, two chunks
    const auto zp = test::logits_rows<TestType>(4, cols, 11, 3.0), zq = test::logits_rows<TestType>(4, cols, 12, 3.0);
    const auto fast = test::run(Kernel{}, zp, 1.3, zq, 0.8, {dv::Reduction::sum});
    const auto slow = test::run(test::ReferencePath<Kernel>{Kernel{}}, zp, 1.3, zq, 0.8, {dv::Reduction::sum});
    // The fused JSD's documented bounds (docs/performance.md: 1e-6 (1 + D) float, 5e-13 (1 + D)
    // double), through sqrt: d sqrt(D) = dD / (2 sqrt(D)); these rows have D ~ 0.1-0.3.
    const double js_bound = std::is_same_v<TestType, float> ? 1e-6 : 5e-13;
    for (Eigen::Index r = 0; r < zp.rows(); ++r) {
        const double distance = double(slow.rows(r)), jsd = distance * distance;
        CAPTURE(r, distance);
        CHECK(jsd > 0.01);
        CHECK(std::abs(double(fast.rows(r)) - distance) <= js_bound * (1.0 + jsd) / (2.0 * distance) + 1e-7 * distance);
    }
    // Gradients: the JSD's, times 1 / (2 sqrt(D)) on both paths.
    const double g_bound = std::is_same_v<TestType, float> ? 2e-5 : 1e-11;
    CHECK(test::within(fast.grad_p, slow.grad_p, 0.0, g_bound * double(slow.grad_p.cwiseAbs().maxCoeff())));
    CHECK(test::within(fast.grad_q, slow.grad_q, 0.0, g_bound * double(slow.grad_q.cwiseAbs().maxCoeff())));
}

TEST_CASE("js_distance at distance 0 has zero gradients, also where a partial of the JSD is infinite", "[js][distance]")
{
    // p = softmax(0, -1e4) = (1, 0) after underflow, q = (1, 0): JSD = 0, and d JSD / d q_1 is -inf at q_1 = 0.
    divergence::RowMatrix<double> z(1, 2), q(1, 2), grad_p(1, 2), grad_q(1, 2);
    z << 0.0, -1e4;
    q << 1.0, 0.0;
    divergence::Outputs<double> out;
    out.grad_p = grad_p;
    out.grad_q = grad_q;
    CHECK(divergence::js_distance(divergence::logits(z), divergence::probs(q), {}, out) == 0.0);
    CHECK(grad_p.allFinite());
    CHECK(grad_q.allFinite());
    CHECK(grad_q(0, 1) == 0.0);
}

// ---- The element form (core/element.hpp): every mix of forms but logits/logits --------------------

namespace {

/// z's rows in `form`: the logits themselves, or their long-double log-softmax (at temperature 1)
/// rounded to double, or its exp rounded to double.
test::Matrix in_form(const test::Matrix& z, dv::Form form)
{
    if (form == dv::Form::logits) return z;
    test::Matrix out(z.rows(), z.cols());
    for (Eigen::Index r = 0; r < z.rows(); ++r) {
        const auto lp = ref::log_softmax(ref::row(z, r));
        for (Eigen::Index c = 0; c < z.cols(); ++c) {
            out(r, c) = double(form == dv::Form::probs ? std::exp(lp[std::size_t(c)]) : lp[std::size_t(c)]);
        }
    }
    return out;
}

dv::Input<double> as_input(const test::Matrix& x, dv::Form form, double temperature)
{
    return form == dv::Form::logits ? dv::logits(x, temperature) : dv::Input<double>(x, form, 1.0);
}

/// The distribution that row r of x in `form` stands for, in long double (from the given doubles):
/// its masses and their logs.
struct Represented {
    std::vector<Real> p, log_p;
};
Represented represented(const test::Matrix& x, Eigen::Index r, dv::Form form, double temperature)
{
    Represented out{ref::row(x, r), ref::row(x, r)};
    if (form == dv::Form::logits) out.log_p = ref::log_softmax(out.p, temperature);
    for (std::size_t i = 0; i < out.p.size(); ++i) {
        if (form == dv::Form::probs) out.log_p[i] = std::log(out.p[i]);
        else out.p[i] = std::exp(out.log_p[i]);
    }
    return out;
}

const dv::Form all_forms[] = {dv::Form::probs, dv::Form::log_probs, dv::Form::logits};

/// k(x) = (1 + x) log(1 + x) - x >= 0 in long double: its series sum_{n>=2} (-x)^n / (n (n - 1)) for
/// |x| < 1/4 (60 terms: the first left out is below 1e-36 of the sum), the formula elsewhere.
Real jensen_term_k(Real x)
{
    if (x == -1) return 1;
    if (std::abs(x) >= Real(0.25)) return (1 + x) * std::log1p(x) - x;
    Real sum = 0, power = x * x;
    for (int n = 2; n < 62; ++n, power *= -x) sum += power / (n * (n - 1));
    return sum;
}

/// JSD_beta in long double with the first-order parts cancelled analytically, so that it stays
/// accurate for P within 1e-8 of Q (the plain sum of beta p log(p/m) + (1 - beta) q log(q/m) loses
/// eps_ld |p - q| / (p - q)^2 relative there): with m = beta p + (1 - beta) q and t = (p - q) / m,
/// p = m (1 + (1 - beta) t) and q = m (1 - beta t), so the element's term is
/// m [beta k((1 - beta) t) + (1 - beta) k(-beta t)], k(x) = (1 + x) log(1 + x) - x.
/// p - q is taken exactly from two rows of probabilities (doubles), as q expm1(log p - log q) from the
/// long-double logs otherwise (exp(log p) - exp(log q) would carry eps_ld p / (p - q) relative).
Real generalized_js_cancelled(const Represented& p, const Represented& q, bool both_probs, Real beta)
{
    Real s = 0;
    for (std::size_t i = 0; i < p.p.size(); ++i) {
        const Real m = beta * p.p[i] + (1 - beta) * q.p[i];
        if (m == 0) continue;
        const bool direct = both_probs || p.p[i] == 0 || q.p[i] == 0;
        const Real t = (direct ? p.p[i] - q.p[i] : q.p[i] * std::expm1(p.log_p[i] - q.log_p[i])) / m;
        s += m * (beta * jensen_term_k((1 - beta) * t) + (1 - beta) * jensen_term_k(-beta * t));
    }
    return s;
}

}  // namespace

TEST_CASE("generalized_js in every mix of forms equals a long-double reference, also for P within 1e-2..1e-8 of Q",
          "[js][element][reference]")
{
    const int fp = GENERATE(0, 1, 2), fq = GENERATE(0, 1, 2);
    const dv::Form form_p = all_forms[fp], form_q = all_forms[fq];
    const double beta = GENERATE(1e-6, 0.3, 1.0 - 1e-6);
    const double delta = GENERATE(1.0, 1e-2, 1e-5, 1e-8);  // 1: unrelated rows
    CAPTURE(fp, fq, beta, delta);
    if (form_p == dv::Form::logits && form_q == dv::Form::logits) return;  // the fused kernel (tests/discrete/fused_test.cpp)
    const Eigen::Index rows = 3, cols = 37;
    const double temperature = 1.6;
    const test::Matrix zq = test::random_logits(rows, cols, 501, 3.0);
    const test::Matrix zp = delta == 1.0 ? test::random_logits(rows, cols, 502, 3.0)
                                         : test::Matrix(zq + delta * test::random_logits(rows, cols, 503, 1.0));
    const test::Matrix xp = in_form(zp, form_p), xq = in_form(zq, form_q);
    Eigen::VectorXd values(rows);
    dv::Outputs<double> out;
    out.row_values = values;
    dv::generalized_js(as_input(xp, form_p, temperature), as_input(xq, form_q, temperature), beta, {dv::Reduction::sum}, out);
    for (Eigen::Index r = 0; r < rows; ++r) {
        const bool both_probs = form_p == dv::Form::probs && form_q == dv::Form::probs;
        const Real expected = generalized_js_cancelled(represented(xp, r, form_p, temperature),
                                                       represented(xq, r, form_q, temperature), both_probs, beta);
        // Two rows of probabilities, or of log-probabilities, are read exactly (the log ratio from
        // p - q, or from log p - log q). A row read through an exp or a log (mixed forms, logits)
        // carries rounding of about eps |log p| into q/p - 1 ~ delta: relative error ~ eps |log p| / delta
        // (measured up to 9.4e-17 / delta).
        const bool exact = form_p == form_q;
        const double tolerance = exact ? 1e-13 : 1e-13 + 4e-16 / delta;
        const double relative_error = double(std::abs(values(r) - expected) / expected);
        CAPTURE(r, double(expected), values(r), relative_error);
        CHECK(values(r) == Approx(double(expected)).epsilon(tolerance));
    }
}

TEST_CASE("generalized_js and js_distance gradients in every mix of forms match central differences",
          "[js][element][gradient]")
{
    const int fp = GENERATE(0, 1, 2), fq = GENERATE(0, 1, 2);
    const dv::Form form_p = all_forms[fp], form_q = all_forms[fq];
    const int which = GENERATE(0, 1, 2);  // generalized_js(0.3), generalized_js(0.9), js_distance
    CAPTURE(fp, fq, which);
    const double tp = 1.3, tq = 0.8;
    const test::Matrix xp = in_form(test::random_logits(2, 7, 511, 2.0), form_p);
    const test::Matrix xq = in_form(test::random_logits(2, 7, 512, 2.0), form_q);
    dv::Options options{dv::Reduction::mean};
    options.tolerance = 1e-3;  // finite differences leave the simplex
    const auto f = [&](const test::Matrix& x, const test::Matrix& y, const dv::Outputs<double>& out) {
        const auto p = as_input(x, form_p, tp), q = as_input(y, form_q, tq);
        switch (which) {
        case 0: return dv::generalized_js(p, q, 0.3, options, out);
        case 1: return dv::generalized_js(p, q, 0.9, options, out);
        default: return dv::js_distance(p, q, options, out);
        }
    };
    test::Matrix gp(2, 7), gq(2, 7);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    f(xp, xq, out);
    CHECK(test::close(gp, test::central_difference(xp, [&](const test::Matrix& x) { return f(x, xq, {}); })));
    CHECK(test::close(gq, test::central_difference(xq, [&](const test::Matrix& x) { return f(xp, x, {}); })));
}

TEMPLATE_TEST_CASE("generalized_js and js_distance in mixed forms give the same bits for 1, 2 and 3 threads (row and chunk mode)",
                   "[js][element][executor]", float, double)
{
    const Eigen::Index rows = GENERATE(1, 5), cols = GENERATE(45, 70000);
    CAPTURE(rows, cols);
    const test::Matrix zp = test::random_logits(rows, cols, 521, 4.0), zq = test::random_logits(rows, cols, 522, 4.0);
    const dv::RowMatrix<TestType> lp = in_form(zp, dv::Form::log_probs).cast<TestType>();
    const dv::RowMatrix<TestType> pp = in_form(zp, dv::Form::probs).cast<TestType>();
    const dv::RowMatrix<TestType> sq = zq.cast<TestType>();
    dv::Options options{dv::Reduction::mean};
    options.validation = dv::Validation::none;  // float rows rounded from double: not re-normalized
    const auto run = [&](int threads, int which) {
        return test::with_threads(threads, [&] {
            dv::RowMatrix<TestType> gp(rows, cols), gq(rows, cols);
            dv::Outputs<TestType> out;
            out.grad_p = gp;
            out.grad_q = gq;
            const TestType v = which == 0 ? dv::generalized_js(dv::log_probs(lp), dv::logits(sq, 2.0), 0.3, options, out)
                                          : dv::js_distance(dv::probs(pp), dv::logits(sq, 2.0), options, out);
            return std::make_tuple(v, gp, gq);
        });
    };
    for (int which : {0, 1}) {
        const auto one = run(1, which);  // (value, grad_p, grad_q)
        CHECK(run(2, which) == one);
        CHECK(run(3, which) == one);
    }
}

TEST_CASE("generalized_js in mixed forms: zeros, -inf logits and log-probabilities of -1e300", "[js][element][edge]")
{
    const double beta = GENERATE(1e-6, 0.3, 1.0 - 1e-6);
    CAPTURE(beta);
    const double inf = std::numeric_limits<double>::infinity();
    // p (probabilities) with zeros; its log-probabilities; q as logits with -inf entries and as
    // log-probabilities with an entry of -1e300 (a mass of exactly 0 in double, but a finite log).
    test::Matrix p(1, 5), log_p(1, 5), z(1, 5), log_q(1, 5);
    p << 0.5, 0.0, 0.25, 0.25, 0.0;
    log_p << std::log(0.5), -inf, std::log(0.25), std::log(0.25), -inf;
    z << 1.0, 2.0, -inf, 0.5, -inf;
    const std::vector<Real> q = ref::softmax(ref::row(z, 0));
    for (Eigen::Index c = 0; c < 5; ++c) log_q(0, c) = q[std::size_t(c)] > 0 ? double(std::log(q[std::size_t(c)])) : -1e300;
    std::vector<Real> q_from_log(5);
    for (Eigen::Index c = 0; c < 5; ++c) q_from_log[std::size_t(c)] = std::exp(Real(log_q(0, c)));
    const Real expected_logits = generalized_js_reference(ref::row(p, 0), q, beta);
    const Real expected_log = generalized_js_reference(ref::row(p, 0), q_from_log, beta);
    test::Matrix gp(1, 5), gq(1, 5);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    CHECK(dv::generalized_js(dv::probs(p), dv::logits(z), beta, {}, out) == Approx(double(expected_logits)).epsilon(1e-13));
    CHECK(gp(0, 1) == -inf);  // d/dp_i = beta log(p_i / m_i): -inf where p_i = 0 < q_i
    CHECK(std::isfinite(gp(0, 2)));
    CHECK(gq.allFinite());  // logits: finite; -inf logits get 0
    CHECK(gq(0, 2) == 0.0);
    CHECK(gq(0, 4) == 0.0);
    CHECK(dv::generalized_js(dv::log_probs(log_p), dv::log_probs(log_q), beta, {}, out) == Approx(double(expected_log)).epsilon(1e-13));
    CHECK(gp.allFinite());
    CHECK(gq.allFinite());
    CHECK(gp(0, 4) == 0.0);  // outside both supports
    CHECK(gq(0, 4) == 0.0);
    CHECK(dv::generalized_js(dv::log_probs(log_q), dv::probs(p), beta, {}, out) ==
          Approx(double(generalized_js_reference(q_from_log, ref::row(p, 0), beta))).epsilon(1e-13));
}

}  // namespace discrete_jensen_shannon_test
