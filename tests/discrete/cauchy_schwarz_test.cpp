#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "divergence/discrete/cauchy_schwarz.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

namespace discrete_cauchy_schwarz_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace ref = test::reference;
using Real = ref::Real;

namespace {

const double inf = std::numeric_limits<double>::infinity();

// Long-double references written from the definition -log(<p,q>^2 / (||p||^2 ||q||^2)).

/// From non-negative vectors (any scale).
Real cs_reference(const std::vector<Real>& p, const std::vector<Real>& q)
{
    Real pq = 0, pp = 0, qq = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        pq += p[i] * q[i];
        pp += p[i] * p[i];
        qq += q[i] * q[i];
    }
    if (pq == 0) return ref::inf;
    return -2 * std::log(pq) + std::log(pp) + std::log(qq);
}

Real log_sum_exp(const std::vector<Real>& x)
{
    Real max = -ref::inf;
    for (Real v : x) max = std::max(max, v);
    if (max == -ref::inf) return max;
    Real sum = 0;
    for (Real v : x) sum += std::exp(v - max);
    return max + std::log(sum);
}

/// From log-probabilities (for extreme logits), every sum in the log domain.
Real cs_reference_log(const std::vector<Real>& lp, const std::vector<Real>& lq)
{
    std::vector<Real> cross(lp.size()), self_p(lp.size()), self_q(lp.size());
    for (std::size_t i = 0; i < lp.size(); ++i) {
        cross[i] = lp[i] + lq[i];
        self_p[i] = 2 * lp[i];
        self_q[i] = 2 * lq[i];
    }
    const Real c = log_sum_exp(cross);
    if (c == -ref::inf) return ref::inf;
    return -2 * c + log_sum_exp(self_p) + log_sum_exp(self_q);
}

std::vector<Real> to_real(const Eigen::VectorXd& v)
{
    return std::vector<Real>(v.data(), v.data() + v.size());
}

/// Per-row values of cauchy_schwarz(p, q).
template <class P, class Q, class Scalar = typename dv::detail::input_t<P>::Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, 1> row_values(const P& p, const Q& q, const dv::Options& options = {})
{
    return dv::cauchy_schwarz_rows(p, q, options).matrix();
}

template <class M>
bool has_nan(const M& m)
{
    return m.array().isNaN().any();
}

}  // namespace

TEST_CASE("cauchy_schwarz is non-negative and zero only at P == Q (Cauchy-Schwarz inequality)", "[cauchy_schwarz][property]")
{
    const auto v = GENERATE(1, 2, 7, 64, 1000);
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const double zeros = GENERATE(0.0, 0.3);
    const Eigen::VectorXd p = test::random_simplex(v, seed, zeros), q = test::random_simplex(v, seed + 1, zeros);
    CAPTURE(v, seed, zeros);
    CHECK(dv::cauchy_schwarz(p, q) >= 0.0);
    CHECK(dv::cauchy_schwarz(p, p) == 0.0);  // both groups of finish() cancel exactly
    if (v > 1 && zeros == 0.0) CHECK(dv::cauchy_schwarz(p, q) > 0.0);
}

TEST_CASE("cauchy_schwarz is symmetric: D(P, Q) = D(Q, P)", "[cauchy_schwarz][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const double temperature = GENERATE(0.5, 2.0);
    const test::Matrix p = test::random_simplex_rows(3, 50, seed, 0.2), q = test::random_simplex_rows(3, 50, seed + 1, 0.2);
    const test::Matrix a = test::random_logits(3, 50, seed + 2), b = test::random_logits(3, 50, seed + 3);
    CAPTURE(seed);
    CHECK(test::close(row_values(p, q), row_values(q, p), 1e-14, 0.0));
    CHECK(test::close(row_values(dv::logits(a, temperature), dv::logits(b, temperature)),
                      row_values(dv::logits(b, temperature), dv::logits(a, temperature)), 1e-14, 0.0));
}

TEST_CASE("cauchy_schwarz is scale invariant: D(cP, dQ) = D(P, Q) for non-negative vectors", "[cauchy_schwarz][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> log_scale(-30.0, 30.0);
    // Unnormalized non-negative vectors with zeros, and their normalizations.
    const Eigen::VectorXd a = test::random_simplex(40, seed, 0.25) * 7.0, b = test::random_simplex(40, seed + 1, 0.25) * 0.01;
    const Eigen::VectorXd p = a / a.sum(), q = b / b.sum();
    const Real c = std::exp(Real(log_scale(rng))), d = std::exp(Real(log_scale(rng)));
    std::vector<Real> ca = to_real(a), db = to_real(b);
    for (auto& x : ca) x *= c;
    for (auto& x : db) x *= d;
    CAPTURE(seed, double(c), double(d));
    // The theorem, in long double on the scaled vectors.
    const Real scaled = cs_reference(ca, db);
    CHECK(double(scaled) == Approx(double(cs_reference(to_real(a), to_real(b)))).epsilon(1e-15));
    // The library on the normalized distributions gives the value of the scaled vectors.
    CHECK(dv::cauchy_schwarz(p, q) == Approx(double(scaled)).epsilon(1e-13));
    // The kernel itself never normalizes: without validation it takes the raw vectors.
    dv::Options trusted;
    trusted.validation = dv::Validation::none;
    CHECK(dv::cauchy_schwarz(a, b, trusted) == Approx(double(scaled)).epsilon(1e-13));
}

TEST_CASE("cauchy_schwarz from logits is invariant under logit shifts (softmax shift invariance)", "[cauchy_schwarz][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const double shift = GENERATE(-700.0, -3.25, 40.0, 1e5);
    const double temperature = GENERATE(0.7, 1.0);
    const test::Matrix a = test::random_logits(4, 30, seed, 5.0), b = test::random_logits(4, 30, seed + 1, 5.0);
    const test::Matrix a_shifted = a.array() + shift, b_shifted = b.array() - 2.0 * shift;
    CAPTURE(seed, shift, temperature);
    const auto base = row_values(dv::logits(a, temperature), dv::logits(b, temperature));
    // Shifting by 1e5 rounds the logits themselves (ulp ~ 1.5e-11): allow that much.
    const double tolerance = std::abs(shift) > 1e3 ? 1e-9 : 1e-13;
    CHECK(test::close(row_values(dv::logits(a_shifted, temperature), dv::logits(b_shifted, temperature)), base, tolerance,
                      tolerance));
}

TEST_CASE("cauchy_schwarz matches a long-double reference on random rows with zeros, in every form", "[cauchy_schwarz][reference]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 5)));
    const int v = GENERATE(1, 3, 33, 1000);
    const double zeros = GENERATE(0.0, 0.4);
    const test::Matrix p = test::random_simplex_rows(4, v, seed, zeros), q = test::random_simplex_rows(4, v, seed + 7, zeros);
    CAPTURE(seed, v, zeros);
    const auto from_probs = row_values(p, q);
    const auto from_log_probs = row_values(dv::log_probs(test::log_of(p)), dv::log_probs(test::log_of(q)));
    for (Eigen::Index r = 0; r < 4; ++r) {
        const Real expected = cs_reference(ref::row(p, r), ref::row(q, r));
        if (expected == ref::inf) {
            CHECK(from_probs(r) == inf);
            CHECK(from_log_probs(r) == inf);
        } else {
            // Absolute error: a few ulp of the log-norms (~log V), see the header.
            CHECK(from_probs(r) == Approx(double(expected)).epsilon(1e-13).margin(1e-14));
            CHECK(from_log_probs(r) == Approx(double(expected)).epsilon(1e-13).margin(1e-14));
        }
    }
    const double temperature = GENERATE(0.5, 3.0);
    const test::Matrix s = test::random_logits(4, v, seed + 1), t = test::random_logits(4, v, seed + 2);
    const auto from_logits = row_values(dv::logits(t, temperature), dv::logits(s, temperature));
    for (Eigen::Index r = 0; r < 4; ++r) {
        const Real expected = cs_reference_log(ref::log_softmax(ref::row(t, r), temperature),
                                               ref::log_softmax(ref::row(s, r), temperature));
        CHECK(from_logits(r) == Approx(double(expected)).epsilon(1e-13).margin(1e-14));
    }
}

TEST_CASE("cauchy_schwarz of distributions with disjoint supports is +inf, never NaN", "[cauchy_schwarz][edge]")
{
    test::Matrix p(2, 4), q(2, 4);
    p << 0.5, 0.5, 0.0, 0.0, /**/ 1.0, 0.0, 0.0, 0.0;
    q << 0.0, 0.0, 0.3, 0.7, /**/ 0.0, 0.0, 1.0, 0.0;
    test::Matrix gp(2, 4), gq(2, 4);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    CHECK(dv::cauchy_schwarz(p, q, {}, out) == inf);
    CHECK(row_values(p, q).array().isInf().all());
    // Documented partials: -inf where the other argument is positive, 0 elsewhere.
    for (Eigen::Index r = 0; r < 2; ++r) {
        for (Eigen::Index c = 0; c < 4; ++c) {
            CHECK(gp(r, c) == (q(r, c) > 0 ? -inf : 0.0));
            CHECK(gq(r, c) == (p(r, c) > 0 ? -inf : 0.0));
        }
    }
    // log-probs and logits (with -inf logits): +inf value, zero gradients.
    const test::Matrix lp = test::log_of(p), lq = test::log_of(q);
    out.grad_p = gp;
    out.grad_q = gq;
    CHECK(dv::cauchy_schwarz(dv::logits(lp, 2.0), dv::logits(lq, 2.0), {}, out) == inf);
    CHECK(gp.isZero(0.0));
    CHECK(gq.isZero(0.0));
    CHECK(dv::cauchy_schwarz(dv::log_probs(lp), dv::log_probs(lq), {}, out) == inf);
    CHECK(gp.isZero(0.0));
    CHECK(gq.isZero(0.0));
}

namespace {

using Function = std::function<double(const dv::Input<double>&, const dv::Input<double>&, const dv::Options&,
                                      const dv::Outputs<double>&)>;
using Make = std::function<dv::Input<double>(const test::Matrix&)>;

/// Analytic gradients of both arguments against central differences of the reduced value.
void check_gradients(const Function& f, const Make& make, const test::Matrix& a, const test::Matrix& b,
                     const dv::Options& options)
{
    test::Matrix gp(a.rows(), a.cols()), gq(b.rows(), b.cols());
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    f(make(a), make(b), options, out);
    const auto fp = [&](const test::Matrix& x) { return f(make(x), make(b), options, {}); };
    const auto fq = [&](const test::Matrix& x) { return f(make(a), make(x), options, {}); };
    const test::Matrix np = test::central_difference(a, fp), nq = test::central_difference(b, fq);
    CHECK(!has_nan(gp));
    CHECK(!has_nan(gq));
    CHECK(test::close(gp, np));
    CHECK(test::close(gq, nq));
}

}  // namespace

TEST_CASE("cauchy_schwarz gradients match central differences (probs, log-probs, logits with temperature, mask, reductions)",
          "[cauchy_schwarz][gradient]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 3)));
    const auto reduction = GENERATE(dv::Reduction::sum, dv::Reduction::mean, dv::Reduction::batchmean);
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(3);
    keep << true, false, true;
    dv::Options options{reduction};
    options.mask = keep;
    options.tolerance = 1e-3;  // central differences leave the simplex
    const Function f = [](const dv::Input<double>& p, const dv::Input<double>& q, const dv::Options& o,
                          const dv::Outputs<double>& out) { return dv::cauchy_schwarz(p, q, o, out); };
    CAPTURE(seed, int(reduction));

    // Entries >= 0.05: central differences take relative steps, too small for tiny entries.
    const test::Matrix p = (0.7 * test::random_simplex_rows(3, 6, seed)).array() + 0.05;
    const test::Matrix q = (0.7 * test::random_simplex_rows(3, 6, seed + 1)).array() + 0.05;
    SECTION("probs") { check_gradients(f, [](const test::Matrix& x) { return dv::probs(x); }, p, q, options); }
    SECTION("log-probs")
    {
        check_gradients(f, [](const test::Matrix& x) { return dv::log_probs(x); }, test::log_of(p), test::log_of(q), options);
    }
    SECTION("logits, temperature 1.7")
    {
        const test::Matrix a = test::random_logits(3, 6, seed + 2), b = test::random_logits(3, 6, seed + 3);
        check_gradients(f, [](const test::Matrix& x) { return dv::logits(x, 1.7); }, a, b, options);
    }
}

TEST_CASE("cauchy_schwarz gradients at zero entries are the one-sided partials", "[cauchy_schwarz][gradient][edge]")
{
    // p_i = 0 < q_i: dD/dp_i = -2 q_i / <p,q> (finite); d/dlog p_i = 0 there.
    Eigen::RowVector3d p(0.0, 0.4, 0.6), q(0.5, 0.5, 0.0);
    Eigen::RowVector3d gp, gq;
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    const double value = dv::cauchy_schwarz(p, q, {}, out);
    const Real pq = 0.2L, pp = 0.52L, qq = 0.5L;
    CHECK(value == Approx(double(-2 * std::log(pq) + std::log(pp) + std::log(qq))).epsilon(1e-14));
    CHECK(gp(0) == Approx(double(-2 * 0.5L / pq)).epsilon(1e-14));
    CHECK(gp(1) == Approx(double(-2 * 0.5L / pq + 2 * 0.4L / pp)).epsilon(1e-14));
    CHECK(gq(2) == Approx(double(-2 * 0.6L / pq)).epsilon(1e-14));
    const Eigen::RowVector3d lp = p.array().log(), lq = q.array().log();
    out.grad_p = gp;
    out.grad_q = gq;
    dv::cauchy_schwarz(dv::log_probs(lp), dv::log_probs(lq), {}, out);
    CHECK(gp(0) == 0.0);
    CHECK(gq(2) == 0.0);
    CHECK(!has_nan(gp));
    CHECK(!has_nan(gq));
}

TEST_CASE("cauchy_schwarz on adversarial rows: one-hot, extreme logits, V = 262144", "[cauchy_schwarz][adversarial]")
{
    SECTION("one-hot")
    {
        Eigen::VectorXd e0 = Eigen::VectorXd::Zero(5), e1 = Eigen::VectorXd::Zero(5);
        e0(0) = 1.0;
        e1(1) = 1.0;
        const Eigen::VectorXd u = Eigen::VectorXd::Constant(5, 0.2);
        CHECK(dv::cauchy_schwarz(e0, e0) == 0.0);
        CHECK(dv::cauchy_schwarz(e0, e1) == inf);
        // <e0,u> = 1/5, ||e0||^2 = 1, ||u||^2 = 1/5: D = log 5.
        CHECK(dv::cauchy_schwarz(e0, u) == Approx(std::log(5.0)).epsilon(1e-15));
    }
    SECTION("float logits of +-1e4")
    {
        const auto seed = test::sweep_seed(GENERATE(range(0, 3)));
        const test::Matrix a = test::random_logits(3, 64, seed, 1e4), b = test::random_logits(3, 64, seed + 1, 1e4);
        const test::MatrixF af = a.cast<float>(), bf = b.cast<float>();
        test::MatrixF gp(3, 64), gq(3, 64);
        Eigen::VectorXf values(3);
        dv::Outputs<float> out;
        out.grad_p = gp;
        out.grad_q = gq;
        out.row_values = values;
        dv::cauchy_schwarz(dv::logits(af), dv::logits(bf), {dv::Reduction::sum}, out);
        CHECK(!has_nan(gp));
        CHECK(!has_nan(gq));
        CHECK(gp.allFinite());
        for (Eigen::Index r = 0; r < 3; ++r) {
            const Real expected = cs_reference_log(ref::log_softmax(ref::row(af.cast<double>(), r)),
                                                   ref::log_softmax(ref::row(bf.cast<double>(), r)));
            CHECK(values(r) == Approx(double(expected)).epsilon(1e-6));
            CHECK(std::abs(gp.row(r).sum()) <= 1e-5);  // logit gradients of a shift-invariant loss sum to 0
        }
        // P == Q exactly.
        CHECK(dv::cauchy_schwarz(dv::logits(af), dv::logits(af)) == 0.0f);
    }
    SECTION("double logits of +-1e300")
    {
        test::Matrix a(2, 3), b(2, 3);
        a << 1e300, -1e300, 0.0, /**/ 1e300, 1e300, -1e300;
        b << -1e300, 1e300, 0.0, /**/ 1e300, -1e300, 1e300;
        test::Matrix gp(2, 3), gq(2, 3);
        Eigen::VectorXd values(2);
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        out.row_values = values;
        dv::cauchy_schwarz(dv::logits(a), dv::logits(b), {dv::Reduction::sum}, out);
        for (Eigen::Index r = 0; r < 2; ++r) {
            const Real expected = cs_reference_log(ref::log_softmax(ref::row(a, r)), ref::log_softmax(ref::row(b, r)));
            CAPTURE(r, double(expected));
            CHECK(std::isfinite(values(r)));
            CHECK(values(r) == Approx(double(expected)).epsilon(1e-15));
        }
        CHECK(gp.allFinite());
        CHECK(gq.allFinite());
        // Row 1: p = (1/2, 1/2, 0+), q = (1/2, 0+, 1/2): w = (1, 0, 0), u = (1/2, 1/2, 0), so
        // dD/dz_p = 2 (u - w) = (-1, 1, 0) (the log-domain partials sum to 0), exactly.
        CHECK(gp(1, 0) == -1.0);
        CHECK(gp(1, 1) == 1.0);
        CHECK(gp(1, 2) == 0.0);
        CHECK(dv::cauchy_schwarz(dv::logits(a), dv::logits(a)) == 0.0);
    }
    SECTION("V = 262144")
    {
        const int v = 262144;
        const test::Matrix p = test::random_simplex_rows(1, v, 11, 0.5), q = test::random_simplex_rows(1, v, 12, 0.5);
        test::Matrix gp(1, v), gq(1, v);
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        const double value = dv::cauchy_schwarz(p, q, {}, out);
        CHECK(value == Approx(double(cs_reference(ref::row(p, 0), ref::row(q, 0)))).epsilon(1e-13));
        CHECK(gp.allFinite());
        CHECK(gq.allFinite());
        const test::MatrixF a = test::random_logits(1, v, 13, 1e4).cast<float>();
        const test::MatrixF b = test::random_logits(1, v, 14, 1e4).cast<float>();
        const float from_logits = dv::cauchy_schwarz(dv::logits(a), dv::logits(b));
        const Real expected = cs_reference_log(ref::log_softmax(ref::row(a.cast<double>(), 0)),
                                               ref::log_softmax(ref::row(b.cast<double>(), 0)));
        CHECK(from_logits == Approx(double(expected)).epsilon(1e-6));
    }
}

TEST_CASE("cauchy_schwarz on float logits of +-1e20 at T = 7: finite gradients, no NaN", "[cauchy_schwarz][adversarial]")
{
    // z / T is ~1.4e19 here, whose ulp is 2048: an FMA fusing z / T - max(z / T) left the largest
    // entry's log p at +-1024 instead of 0, so p = inf and NaN gradients (found with -march=native).
    const double temperature = 7.0;
    SECTION("a row with a closed form")
    {
        // p = softmax(a / 7) and q = softmax(b / 7) are one-hot at 3 and 2 to within exp(-1e18); <p,q> is
        // carried by entry 2: log<p,q> = (0 - 1e20) / 7, ||p|| = ||q|| = 1, so D = 2e20 / 7, and with
        // u = e3, v = w = e2: dD/dz_p = 2 (u - w) / T = (0, 0, -2/7, 2/7), dD/dz_q = 2 (v - w) / T = 0.
        test::MatrixF a(1, 4), b(1, 4), gp(1, 4), gq(1, 4);
        a << -1.0f, 1.0f, 0.0f, 1e20f;
        b << 1e20f, 5e19f, 3e20f, -1e19f;
        dv::Outputs<float> out;
        out.grad_p = gp;
        out.grad_q = gq;
        const float value = dv::cauchy_schwarz(dv::logits(a, temperature), dv::logits(b, temperature), {}, out);
        CHECK(double(value) == Approx(2 * double(1e20f) / 7).epsilon(1e-7));
        CHECK(gp(0, 0) == 0.0f);
        CHECK(gp(0, 1) == 0.0f);
        CHECK(double(gp(0, 2)) == Approx(-2.0 / 7).epsilon(1e-7));
        CHECK(double(gp(0, 3)) == Approx(2.0 / 7).epsilon(1e-7));
        CHECK(gq.isZero());
    }
    SECTION("random rows of levels +-1e19 to +-1e20")
    {
        std::mt19937 rng(test::sweep_seed(GENERATE(range(0, 20))));
        const int cols = GENERATE(4, 9, 100);
        std::uniform_int_distribution<int> pick(0, 7);
        const float levels[] = {-1e20f, -5e19f, -1e19f, 0.0f, 1.0f, 1e19f, 5e19f, 1e20f};
        test::MatrixF a(3, cols), b(3, cols), gp(3, cols), gq(3, cols);
        for (Eigen::Index i = 0; i < a.size(); ++i) {
            a.data()[i] = levels[pick(rng)];
            b.data()[i] = levels[pick(rng)];
        }
        dv::Outputs<float> out;
        out.grad_p = gp;
        out.grad_q = gq;
        const Eigen::ArrayXf values =
            dv::cauchy_schwarz_rows(dv::logits(a, temperature), dv::logits(b, temperature), {dv::Reduction::none}, out);
        CHECK(gp.allFinite());
        CHECK(gq.allFinite());
        // Each row's own logit gradients: 2 (u - w) / T with u, w in [0, 1] summing to 1.
        CHECK(gp.cwiseAbs().maxCoeff() <= 2.0f / 7 * (1 + 1e-6f));
        CHECK(gq.cwiseAbs().maxCoeff() <= 2.0f / 7 * (1 + 1e-6f));
        for (Eigen::Index r = 0; r < 3; ++r) {
            CAPTURE(r, a.row(r), b.row(r));
            CHECK(std::abs(gp.row(r).sum()) <= 1e-6f);
            CHECK(std::abs(gq.row(r).sum()) <= 1e-6f);
            const Real expected = cs_reference_log(ref::log_softmax(ref::row(a.cast<double>(), r), temperature),
                                                   ref::log_softmax(ref::row(b.cast<double>(), r), temperature));
            CHECK(double(values(r)) == Approx(double(expected)).epsilon(1e-6).margin(1e-6));
        }
    }
}

}  // namespace discrete_cauchy_schwarz_test
