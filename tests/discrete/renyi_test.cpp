#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "divergence/discrete/kl.hpp"
#include "divergence/discrete/renyi.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

namespace discrete_renyi_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace ref = test::reference;
using Real = ref::Real;

namespace {

const double inf = std::numeric_limits<double>::infinity();

// Long-double references written from the definition log(sum_i p_i^a q_i^(1-a) / sum_i p_i) / (a - 1)
// (Renyi's definition for incomplete distributions: the usual one when sum_i p_i = 1, and the one
// the library computes, so the references are not thrown off by rows that sum to 1 +- 1 ulp).

/// From probabilities: terms with p_i = 0 left out; p_i > 0 = q_i is +inf for a > 1, 0 for a < 1.
Real renyi_reference(const std::vector<Real>& p, const std::vector<Real>& q, Real alpha)
{
    if (alpha == 1) return ref::kl(p, q);
    Real s = 0, mass = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        mass += p[i];
        if (p[i] == 0) continue;
        if (q[i] == 0) {
            if (alpha > 1) return ref::inf;
            continue;
        }
        s += std::pow(p[i], alpha) * std::pow(q[i], 1 - alpha);
    }
    if (s == 0) return ref::inf;
    return std::log(s / mass) / (alpha - 1);
}

/// From log-probabilities (extreme logits): a log-sum-exp over the support of P.
Real renyi_reference_log(const std::vector<Real>& lp, const std::vector<Real>& lq, Real alpha)
{
    if (alpha == 1) return ref::kl_log(lp, lq);
    std::vector<Real> t;
    Real mass = 0;
    for (std::size_t i = 0; i < lp.size(); ++i) {
        mass += std::exp(lp[i]);
        if (lp[i] == -ref::inf) continue;
        if (lq[i] == -ref::inf) {
            if (alpha > 1) return ref::inf;
            continue;
        }
        t.push_back(alpha * lp[i] + (1 - alpha) * lq[i]);
    }
    Real max = -ref::inf;
    for (Real x : t) max = std::max(max, x);
    if (max == -ref::inf) return ref::inf;
    Real sum = 0;
    for (Real x : t) sum += std::exp(x - max);
    return (max + std::log(sum) - std::log(mass)) / (alpha - 1);
}

/// Per-row values of renyi(p, q, alpha).
template <class P, class Q, class Scalar = typename dv::detail::input_t<P>::Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, 1> row_values(const P& p, const Q& q, double alpha, const dv::Options& options = {})
{
    return dv::renyi_rows(p, q, alpha, options).matrix();
}

template <class M>
bool has_nan(const M& m)
{
    return m.array().isNaN().any();
}

}  // namespace

TEST_CASE("renyi is non-negative and zero at P == Q (Gibbs / Jensen inequality)", "[renyi][property]")
{
    const auto v = GENERATE(1, 2, 7, 64, 1000);
    const auto seed = test::sweep_seed(GENERATE(range(0, 8)));
    const double alpha = GENERATE(0.0, 0.25, 0.5, 0.999, 1.0, 1.0 + 1e-6, 2.0, 7.5);
    const Eigen::VectorXd p = test::random_simplex(v, seed, 0.2), q = test::random_simplex(v, seed + 1, 0.2);
    CAPTURE(v, seed, alpha);
    CHECK(dv::renyi(p, q, alpha) >= 0.0);
    CHECK(dv::renyi(p, p, alpha) == Approx(0.0).margin(1e-14));
}

TEST_CASE("renyi is non-decreasing in alpha (van Erven & Harremoes 2014, Theorem 3)", "[renyi][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 20)));
    const double zeros = GENERATE(0.0, 0.3);
    const Eigen::VectorXd p = test::random_simplex(20, seed, zeros), q = test::random_simplex(20, seed + 1, zeros);
    const std::vector<double> alphas = {0.0, 0.1, 0.5, 0.9, 1.0 - 1e-6, 1.0, 1.0 + 1e-6, 1.001, 1.5, 2.0, 4.0, 10.0, 50.0};
    CAPTURE(seed, zeros);
    double previous = 0.0;
    for (const double alpha : alphas) {
        CAPTURE(alpha);
        const double value = dv::renyi(p, q, alpha);
        CHECK(!std::isnan(value));
        CHECK(value >= previous * (1.0 - 1e-13));
        previous = value;
    }
}

TEST_CASE("renyi tends to KL as alpha -> 1: D = sum_n k_(n+1) (alpha-1)^n / (n+1)! (cumulant series of log(p/q))",
          "[renyi][property][accuracy]")
{
    // (alpha - 1) D_alpha is the cumulant generating function of log(p/q) under P at alpha - 1,
    // so its Taylor series gives D_alpha from the cumulants KL, Var and k3 (long double).
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const double beta = GENERATE(-1e-3, -1e-6, -1e-9, 1e-9, 1e-6, 1e-3);
    const Eigen::VectorXd p = test::random_simplex(50, seed), q = test::random_simplex(50, seed + 1);
    Real k1 = 0, k2 = 0, k3 = 0;
    for (Eigen::Index i = 0; i < 50; ++i) k1 += Real(p(i)) * std::log(Real(p(i)) / Real(q(i)));
    for (Eigen::Index i = 0; i < 50; ++i) {
        const Real c = std::log(Real(p(i)) / Real(q(i))) - k1;
        k2 += Real(p(i)) * c * c;
        k3 += Real(p(i)) * c * c * c;
    }
    Real m4 = 0;
    for (Eigen::Index i = 0; i < 50; ++i) m4 += Real(p(i)) * std::pow(std::log(Real(p(i)) / Real(q(i))) - k1, 4);
    const Real k4 = m4 - 3 * k2 * k2, b = Real(beta);
    const Real series = k1 + b * k2 / 2 + b * b * k3 / 6 + b * b * b * k4 / 24;
    CAPTURE(seed, beta);
    const double value = dv::renyi(p, q, 1.0 + beta);
    // Truncation ~ beta^4 k5 / 120; rounding: a few ulp (no eps / |alpha - 1| growth).
    CHECK(value == Approx(double(series)).epsilon(2e-14 + 10 * beta * beta * beta * beta));
    // alpha = 1 is the KL formula (the scalar row kernel here, kl's vector element path there): the same
    // sums in another order, within a few ulp.
    CHECK(dv::renyi(p, q, 1.0) == Approx(dv::kl(p, q)).epsilon(1e-14));
}

TEST_CASE("renyi(1/2) = -2 log(1 - H^2), H^2 = 1 - sum sqrt(p q) (Bhattacharyya / Hellinger relation)", "[renyi][closed-form]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const test::Matrix p = test::random_simplex_rows(3, 40, seed, 0.3), q = test::random_simplex_rows(3, 40, seed + 1, 0.3);
    const auto values = row_values(p, q, 0.5);
    for (Eigen::Index r = 0; r < 3; ++r) {
        Real bhattacharyya = 0;
        for (Eigen::Index i = 0; i < 40; ++i) bhattacharyya += std::sqrt(Real(p(r, i)) * Real(q(r, i)));
        const Real hellinger2 = 1 - bhattacharyya;
        CHECK(values(r) == Approx(double(-2 * std::log(1 - hellinger2))).epsilon(1e-14));
    }
}

TEST_CASE("renyi(2) = log(1 + chi^2), chi^2 = sum (p - q)^2 / q (Pearson relation)", "[renyi][closed-form]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const test::Matrix p = test::random_simplex_rows(3, 40, seed, 0.3), q = test::random_simplex_rows(3, 40, seed + 1);
    const auto values = row_values(p, q, 2.0);
    for (Eigen::Index r = 0; r < 3; ++r) {
        Real chi2 = 0;
        for (Eigen::Index i = 0; i < 40; ++i) chi2 += (Real(p(r, i)) - Real(q(r, i))) * (Real(p(r, i)) - Real(q(r, i))) / Real(q(r, i));
        CHECK(values(r) == Approx(double(std::log1p(chi2))).epsilon(1e-14));
    }
}

TEST_CASE("renyi(0) = -log Q(supp P)", "[renyi][closed-form]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const test::Matrix p = test::random_simplex_rows(3, 40, seed, 0.5), q = test::random_simplex_rows(3, 40, seed + 1, 0.2);
    const auto values = row_values(p, q, 0.0);
    for (Eigen::Index r = 0; r < 3; ++r) {
        Real mass = 0;
        for (Eigen::Index i = 0; i < 40; ++i) mass += p(r, i) > 0 ? Real(q(r, i)) : Real(0);
        if (mass == 0) {
            CHECK(values(r) == inf);
        } else {
            CHECK(values(r) == Approx(double(-std::log(mass))).epsilon(1e-14).margin(1e-15));
        }
    }
    // Same support: exactly 0.
    const Eigen::VectorXd full = test::random_simplex(9, seed + 2), other = test::random_simplex(9, seed + 3);
    CHECK(dv::renyi(full, other, 0.0) == Approx(0.0).margin(1e-15));
}

TEST_CASE("renyi matches a long-double reference on random rows with zeros, in every form", "[renyi][reference]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 3)));
    const double alpha = GENERATE(0.0, 0.3, 0.7, 0.9999, 1.0, 1.5, 3.0, 20.0);
    const int v = GENERATE(1, 33, 1000);
    const double zeros = GENERATE(0.0, 0.4);
    const test::Matrix p = test::random_simplex_rows(4, v, seed, zeros), q = test::random_simplex_rows(4, v, seed + 7, zeros);
    CAPTURE(seed, alpha, v, zeros);
    const auto from_probs = row_values(p, q, alpha);
    const auto from_log_probs = row_values(dv::log_probs(test::log_of(p)), dv::log_probs(test::log_of(q)), alpha);
    for (Eigen::Index r = 0; r < 4; ++r) {
        const Real expected = renyi_reference(ref::row(p, r), ref::row(q, r), alpha);
        CAPTURE(r, double(expected));
        if (expected == ref::inf) {
            CHECK(from_probs(r) == inf);
            CHECK(from_log_probs(r) == inf);
        } else {
            CHECK(from_probs(r) == Approx(double(expected)).epsilon(1e-13).margin(1e-15));
            CHECK(from_log_probs(r) == Approx(double(expected)).epsilon(1e-13).margin(1e-15));
        }
    }
    const double temperature = 2.5;
    const test::Matrix s = test::random_logits(4, v, seed + 1), t = test::random_logits(4, v, seed + 2);
    const auto from_logits = row_values(dv::logits(t, temperature), dv::logits(s, temperature), alpha);
    for (Eigen::Index r = 0; r < 4; ++r) {
        const Real expected = renyi_reference_log(ref::log_softmax(ref::row(t, r), temperature),
                                                  ref::log_softmax(ref::row(s, r), temperature), alpha);
        // Margin: the rounding of log p_i = z_i / T - logsumexp (~1e-16 |log p_i| each) moves D by ~1e-15.
        CHECK(from_logits(r) == Approx(double(expected)).epsilon(1e-12).margin(1e-14));
    }
}

TEST_CASE("renyi satisfies data processing: merging bins does not increase it", "[renyi][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 20)));
    const double alpha = GENERATE(0.0, 0.5, 1.0 - 1e-3, 1.0, 2.0, 5.0);
    const Eigen::VectorXd p = test::random_simplex(24, seed, 0.2), q = test::random_simplex(24, seed + 1, 0.2);
    // The deterministic channel i -> i / 3 (8 coarse bins).
    Eigen::VectorXd p_coarse = Eigen::VectorXd::Zero(8), q_coarse = Eigen::VectorXd::Zero(8);
    for (int i = 0; i < 24; ++i) {
        p_coarse(i / 3) += p(i);
        q_coarse(i / 3) += q(i);
    }
    CAPTURE(seed, alpha);
    const double fine = dv::renyi(p, q, alpha), coarse = dv::renyi(p_coarse, q_coarse, alpha);
    CHECK(coarse <= fine * (1.0 + 1e-13) + 1e-15);
}

TEST_CASE("renyi support conventions: +inf for alpha >= 1 when p_i > 0 = q_i, finite below 1 unless disjoint",
          "[renyi][edge]")
{
    Eigen::VectorXd p(4), q(4), disjoint(4);
    p << 0.5, 0.25, 0.25, 0.0;
    q << 0.5, 0.5, 0.0, 0.0;
    disjoint << 0.0, 0.0, 0.0, 1.0;
    for (const double alpha : {0.0, 0.3, 0.999, 1.0, 1.001, 2.0, 9.0}) {
        CAPTURE(alpha);
        const double value = dv::renyi(p, q, alpha);
        if (alpha >= 1.0) {
            CHECK(value == inf);
        } else {
            CHECK(value == Approx(double(renyi_reference({0.5L, 0.25L, 0.25L, 0}, {0.5L, 0.5L, 0, 0}, alpha))).epsilon(1e-14));
        }
        CHECK(dv::renyi(q, p, alpha) < inf);  // supp Q inside supp P
        CHECK(dv::renyi(p, disjoint, alpha) == inf);
        CHECK(dv::renyi(disjoint, p, alpha) == inf);
    }
}

TEST_CASE("renyi partials at zero entries and at +inf rows follow the documented conventions", "[renyi][gradient][edge]")
{
    // p_0 = 0 < q_0, q_2 = 0 < p_2.
    Eigen::RowVector3d p(0.0, 0.4, 0.6), q(0.5, 0.5, 0.0);
    Eigen::RowVector3d gp, gq;
    dv::Outputs<double> out;
    for (const double alpha : {0.0, 0.5, 2.0}) {
        CAPTURE(alpha);
        out.grad_p = gp;
        out.grad_q = gq;
        const double value = dv::renyi(p, q, alpha, {}, out);
        CHECK(!has_nan(gp));
        CHECK(!has_nan(gq));
        if (alpha > 1.0) {
            CHECK(value == inf);
            CHECK(gq(2) == -inf);
            CHECK(gq(0) == 0.0);
            CHECK(gp.isZero(0.0));
        } else {
            const Real s = alpha == 0.0 ? 0.5L : std::pow(0.4L, Real(alpha)) * std::pow(0.5L, 1 - Real(alpha));
            // At alpha = 0 only the smooth part, -1 / ((alpha - 1) sum p) = 1.
            CHECK(gp(0) == (alpha > 0.0 ? -inf : 1.0));
            CHECK(gq(2) == (alpha > 0.0 ? -inf : double(-1 / s)));
            CHECK(gq(1) == Approx(double(-std::pow(0.4L / 0.5L, Real(alpha)) / s)).epsilon(1e-14));
        }
        out.grad_p = gp;
        out.grad_q = gq;
        dv::renyi(dv::log_probs(p.array().log().matrix()), dv::log_probs(q.array().log().matrix()), alpha, {}, out);
        CHECK(gp.allFinite());
        CHECK(gq.allFinite());
    }
    // Disjoint supports, alpha < 1: -inf where the other argument is positive and alpha > 0.
    Eigen::RowVector2d a(1.0, 0.0), b(0.0, 1.0);
    Eigen::RowVector2d ga, gb;
    out.grad_p = ga;
    out.grad_q = gb;
    CHECK(dv::renyi(a, b, 0.5, {}, out) == inf);
    CHECK(ga(0) == 0.0);
    CHECK(ga(1) == -inf);
    CHECK(gb(0) == -inf);
    CHECK(gb(1) == 0.0);
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

TEST_CASE("renyi gradients match central differences (probs, log-probs, logits with temperature, mask, reductions)",
          "[renyi][gradient]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 2)));
    const double alpha = GENERATE(0.5, 1.0 - 1e-3, 1.0, 1.0 + 1e-3, 2.0, 6.0);
    const auto reduction = GENERATE(dv::Reduction::sum, dv::Reduction::mean, dv::Reduction::batchmean);
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(3);
    keep << true, false, true;
    dv::Options options{reduction};
    options.mask = keep;
    options.tolerance = 1e-3;  // central differences leave the simplex
    const Function f = [alpha](const dv::Input<double>& p, const dv::Input<double>& q, const dv::Options& o,
                               const dv::Outputs<double>& out) { return dv::renyi(p, q, alpha, o, out); };
    CAPTURE(seed, alpha, int(reduction));

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

TEST_CASE("renyi(0) gradients match central differences where the support of P does not change", "[renyi][gradient]")
{
    // D_0 = -log Q(supp P) + log sum p is constant in p_i > 0 up to normalization and jumps when a
    // p_i leaves 0, so P has zeros (D_0 > 0) and only the entries away from 0 are perturbed.
    const auto seed = test::sweep_seed(GENERATE(range(0, 3)));
    test::Matrix p = test::random_simplex_rows(2, 7, seed);
    p(0, 1) = p(0, 4) = p(1, 0) = 0.0;
    p.row(0) /= p.row(0).sum();
    p.row(1) /= p.row(1).sum();
    const test::Matrix q = test::random_simplex_rows(2, 7, seed + 1);
    dv::Options options{dv::Reduction::mean};
    options.tolerance = 1e-3;
    const auto forms = {std::make_pair(0, 1.0), std::make_pair(1, 1.0), std::make_pair(2, 0.6)};
    for (const auto& [form, temperature] : forms) {
        CAPTURE(seed, form);
        const auto make = [form = form, temperature = temperature](const test::Matrix& x) {
            return form == 0 ? dv::probs(x) : form == 1 ? dv::log_probs(x) : dv::logits(x, temperature);
        };
        const test::Matrix a = form == 0 ? p : test::log_of(p), b = form == 0 ? q : test::log_of(q);
        test::Matrix gp(2, 7), gq(2, 7);
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        dv::renyi(make(a), make(b), 0.0, options, out);
        const auto fp = [&](const test::Matrix& x) { return dv::renyi(make(x), make(b), 0.0, options); };
        const auto fq = [&](const test::Matrix& x) { return dv::renyi(make(a), make(x), 0.0, options); };
        CHECK(test::close(gq, test::central_difference(b, fq)));
        // Central differences entry by entry, where p_i > 0 (the step at a -inf entry would be inf).
        test::Matrix x = a;
        for (Eigen::Index r = 0; r < 2; ++r) {
            for (Eigen::Index c = 0; c < 7; ++c) {
                if (p(r, c) == 0.0) continue;
                const double step = 1e-6 * std::max(1.0, std::abs(a(r, c)));
                x(r, c) = a(r, c) + step;
                const double up = fp(x);
                x(r, c) = a(r, c) - step;
                const double down = fp(x);
                x(r, c) = a(r, c);
                CHECK(gp(r, c) == Approx((up - down) / (2 * step)).epsilon(1e-5).margin(1e-7));
            }
        }
    }
}

TEST_CASE("renyi logits gradients tend to those of kl as alpha -> 1", "[renyi][gradient]")
{
    const test::Matrix a = test::random_logits(2, 9, 5), b = test::random_logits(2, 9, 6);
    test::Matrix gp_kl(2, 9), gq_kl(2, 9), gp(2, 9), gq(2, 9);
    dv::Outputs<double> out;
    out.grad_p = gp_kl;
    out.grad_q = gq_kl;
    dv::kl(dv::logits(a, 0.8), dv::logits(b, 0.8), {}, out);
    for (const double beta : {-1e-7, 1e-7}) {
        out.grad_p = gp;
        out.grad_q = gq;
        dv::renyi(dv::logits(a, 0.8), dv::logits(b, 0.8), 1.0 + beta, {}, out);
        // O(beta) from the divergence, ~eps / beta from (alpha / (alpha-1)) (w - p) in the p gradient.
        CHECK(test::close(gp, gp_kl, 1e-5, 1e-6));
        CHECK(test::close(gq, gq_kl, 1e-6, 1e-7));
    }
}

TEST_CASE("renyi on adversarial rows: one-hot, extreme logits, V = 262144", "[renyi][adversarial]")
{
    SECTION("one-hot")
    {
        Eigen::VectorXd e0 = Eigen::VectorXd::Zero(5), e1 = Eigen::VectorXd::Zero(5);
        e0(0) = 1.0;
        e1(1) = 1.0;
        const Eigen::VectorXd u = Eigen::VectorXd::Constant(5, 0.2);
        for (const double alpha : {0.0, 0.5, 1.0, 1.0 + 1e-9, 2.0, 30.0}) {
            CAPTURE(alpha);
            CHECK(dv::renyi(e0, e0, alpha) == 0.0);
            CHECK(dv::renyi(e0, e1, alpha) == inf);
            // D_alpha(e0 || u) = log 5 for every alpha (a point mass).
            CHECK(dv::renyi(e0, u, alpha) == Approx(std::log(5.0)).epsilon(1e-15));
            // D_alpha(u || e0) = log(0.2^alpha) / (alpha - 1) = alpha log 5 / (1 - alpha) for alpha < 1, +inf above.
            const double expected = alpha >= 1.0 ? inf : alpha * std::log(5.0) / (1.0 - alpha);
            CHECK(dv::renyi(u, e0, alpha) == Approx(expected).epsilon(1e-14).margin(1e-15));
        }
    }
    SECTION("float logits of +-1e4")
    {
        const auto seed = test::sweep_seed(GENERATE(range(0, 3)));
        const double alpha = GENERATE(0.0, 0.5, 1.0, 1.0 + 1e-6, 3.0);
        const test::MatrixF af = test::random_logits(3, 64, seed, 1e4).cast<float>();
        const test::MatrixF bf = test::random_logits(3, 64, seed + 1, 1e4).cast<float>();
        test::MatrixF gp(3, 64), gq(3, 64);
        Eigen::VectorXf values(3);
        dv::Outputs<float> out;
        out.grad_p = gp;
        out.grad_q = gq;
        out.row_values = values;
        dv::renyi(dv::logits(af), dv::logits(bf), alpha, {dv::Reduction::sum}, out);
        CAPTURE(seed, alpha);
        CHECK(!has_nan(gp));
        CHECK(!has_nan(gq));
        for (Eigen::Index r = 0; r < 3; ++r) {
            const Real expected = renyi_reference_log(ref::log_softmax(ref::row(af.cast<double>(), r)),
                                                      ref::log_softmax(ref::row(bf.cast<double>(), r)), alpha);
            CHECK(std::isfinite(values(r)));
            CHECK(values(r) == Approx(double(expected)).epsilon(1e-6).margin(1e-6));
        }
        CHECK(dv::renyi(dv::logits(af), dv::logits(af), alpha) == 0.0f);
    }
    SECTION("double logits of +-1e300")
    {
        test::Matrix a(2, 3), b(2, 3);
        a << 1e300, -1e300, 0.0, /**/ 1e300, 1e300, -1e300;
        b << -1e300, 1e300, 0.0, /**/ 1e300, -1e300, 1e300;
        for (const double alpha : {0.0, 0.5, 1.0, 1.0 - 1e-6, 2.0}) {
            test::Matrix gp(2, 3), gq(2, 3);
            Eigen::VectorXd values(2);
            dv::Outputs<double> out;
            out.grad_p = gp;
            out.grad_q = gq;
            out.row_values = values;
            dv::renyi(dv::logits(a), dv::logits(b), alpha, {dv::Reduction::sum}, out);
            CAPTURE(alpha);
            for (Eigen::Index r = 0; r < 2; ++r) {
                const Real expected = renyi_reference_log(ref::log_softmax(ref::row(a, r)), ref::log_softmax(ref::row(b, r)), alpha);
                CAPTURE(r, double(expected));
                CHECK(std::isfinite(values(r)));
                CHECK(values(r) == Approx(double(expected)).epsilon(1e-14));
            }
            CHECK(!has_nan(gp));
            CHECK(!has_nan(gq));
            CHECK(gq.allFinite());
            CHECK(dv::renyi(dv::logits(a), dv::logits(a), alpha) == 0.0);
        }
    }
    SECTION("V = 262144")
    {
        const int v = 262144;
        const test::Matrix p = test::random_simplex_rows(1, v, 21, 0.5), q = test::random_simplex_rows(1, v, 22, 0.5);
        for (const double alpha : {0.5, 2.0}) {
            test::Matrix gp(1, v), gq(1, v);
            dv::Outputs<double> out;
            out.grad_p = gp;
            out.grad_q = gq;
            const double value = dv::renyi(p, q, alpha, {}, out);
            const Real expected = renyi_reference(ref::row(p, 0), ref::row(q, 0), alpha);
            CAPTURE(alpha);
            if (expected == ref::inf) {
                CHECK(value == inf);
            } else {
                CHECK(value == Approx(double(expected)).epsilon(1e-13));
            }
            CHECK(!has_nan(gp));
            CHECK(!has_nan(gq));
        }
        const test::MatrixF a = test::random_logits(1, v, 23, 1e4).cast<float>();
        const test::MatrixF b = test::random_logits(1, v, 24, 1e4).cast<float>();
        const float from_logits = dv::renyi(dv::logits(a), dv::logits(b), 0.5);
        const Real expected = renyi_reference_log(ref::log_softmax(ref::row(a.cast<double>(), 0)),
                                                  ref::log_softmax(ref::row(b.cast<double>(), 0)), 0.5L);
        CHECK(from_logits == Approx(double(expected)).epsilon(1e-6));
    }
}

TEST_CASE("renyi rejects a negative, NaN or infinite alpha", "[renyi][errors]")
{
    const Eigen::VectorXd p = test::random_simplex(4, 1), q = test::random_simplex(4, 2);
    using Catch::Matchers::Contains;
    for (const double alpha : {-1e-300, -1.0, std::numeric_limits<double>::quiet_NaN(), inf, -inf}) {
        CAPTURE(alpha);
        CHECK_THROWS_AS(dv::renyi(p, q, alpha), std::invalid_argument);
        CHECK_THROWS_WITH(dv::renyi(p, q, alpha), Contains("renyi") && Contains("alpha"));
    }
    CHECK_NOTHROW(dv::renyi(p, q, 0.0));
    CHECK_NOTHROW(dv::renyi(p, q, 1e6));
}

}  // namespace discrete_renyi_test
