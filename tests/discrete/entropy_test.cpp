#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "divergence/discrete/entropy.hpp"
#include "divergence/discrete/kl.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"
#include "support/threads.hpp"

namespace discrete_entropy_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace ref = test::reference;
using Real = ref::Real;

namespace {

/// -sum p log p in long double.
Real entropy_reference(const std::vector<Real>& p)
{
    Real s = 0;
    for (Real x : p)
        if (x > 0) s -= x * std::log(x);
    return s;
}

/// -sum p log q in long double.
Real cross_entropy_reference(const std::vector<Real>& p, const std::vector<Real>& q)
{
    Real s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i] == 0) continue;
        if (q[i] == 0) return ref::inf;
        s -= p[i] * std::log(q[i]);
    }
    return s;
}

/// Entries of a matrix as long doubles (the whole table as one distribution).
std::vector<Real> flat(const test::Matrix& m)
{
    std::vector<Real> out;
    for (Eigen::Index r = 0; r < m.rows(); ++r)
        for (Eigen::Index c = 0; c < m.cols(); ++c) out.push_back(Real(m(r, c)));
    return out;
}

std::vector<Real> row_sums(const test::Matrix& m)
{
    std::vector<Real> out(std::size_t(m.rows()), 0);
    for (Eigen::Index r = 0; r < m.rows(); ++r)
        for (Eigen::Index c = 0; c < m.cols(); ++c) out[std::size_t(r)] += Real(m(r, c));
    return out;
}

std::vector<Real> col_sums(const test::Matrix& m)
{
    std::vector<Real> out(std::size_t(m.cols()), 0);
    for (Eigen::Index r = 0; r < m.rows(); ++r)
        for (Eigen::Index c = 0; c < m.cols(); ++c) out[std::size_t(c)] += Real(m(r, c));
    return out;
}

/// A random joint table (all entries sum to 1), with about zero_fraction of its entries 0.
test::Matrix random_joint(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed, double zero_fraction = 0.0)
{
    const test::Matrix flat_row = test::random_simplex_rows(1, rows * cols, seed, zero_fraction);
    return Eigen::Map<const test::Matrix>(flat_row.data(), rows, cols);
}

}  // namespace

TEST_CASE("entropy is bounded: 0 <= H(P) <= log V, with H = log V for the uniform row", "[entropy][property]")
{
    const auto v = GENERATE(1, 2, 7, 64, 1000);
    const auto seed = test::sweep_seed(GENERATE(range(0, 10)));
    const Eigen::VectorXd p = test::random_simplex(v, seed, 0.3);
    CAPTURE(v, seed);
    const double h = dv::entropy(p);
    CHECK(h >= 0.0);
    CHECK(h <= std::log(double(v)) * (1 + 1e-15));
    const Eigen::VectorXd uniform = Eigen::VectorXd::Constant(v, 1.0 / v);
    CHECK(dv::entropy(uniform) == Approx(std::log(double(v))).epsilon(1e-15).margin(1e-15));
}

TEST_CASE("cross-entropy decomposes: H(P, Q) = H(P) + KL(P || Q)", "[entropy][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 20)));
    const test::Matrix p = test::random_simplex_rows(4, 30, seed, 0.3), q = test::random_simplex_rows(4, 30, seed + 1);
    CHECK(dv::cross_entropy(p, q) == Approx(dv::entropy(p) + dv::kl(p, q)).epsilon(1e-14));
}

TEST_CASE("cross-entropy is at least the entropy (Gibbs): H(P, Q) >= H(P), equal at Q = P", "[entropy][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 20)));
    const Eigen::VectorXd p = test::random_simplex(25, seed, 0.3), q = test::random_simplex(25, seed + 1);
    CHECK(dv::cross_entropy(p, q) >= dv::entropy(p));
    CHECK(dv::cross_entropy(p, p) == Approx(dv::entropy(p)).epsilon(1e-15));
}

TEST_CASE("entropy and cross-entropy match a long-double reference in every form", "[entropy][reference]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 5)));
    const double temperature = GENERATE(0.5, 1.0, 3.0);
    const test::Matrix s = test::random_logits(4, 33, seed, 5.0), t = test::random_logits(4, 33, seed + 7, 5.0);
    Eigen::VectorXd h(4), h_log(4), ce(4), ce_log(4);
    dv::Outputs<double> out;
    const dv::Options none{dv::Reduction::sum};  // per-row values through Outputs::row_values
    out.row_values = h;
    dv::entropy(dv::logits(t, temperature), none, out);
    out.row_values = ce;
    dv::cross_entropy(dv::logits(t, temperature), dv::logits(s, temperature), none, out);
    test::Matrix lt(4, 33), ls(4, 33);
    for (Eigen::Index r = 0; r < 4; ++r) {
        const auto lp = ref::log_softmax(ref::row(t, r), temperature), lq = ref::log_softmax(ref::row(s, r), temperature);
        std::vector<Real> p(lp.size());
        Real expected_ce = 0;
        for (std::size_t i = 0; i < lp.size(); ++i) {
            p[i] = std::exp(lp[i]);
            expected_ce -= p[i] * lq[i];
            lt(r, Eigen::Index(i)) = double(lp[i]);
            ls(r, Eigen::Index(i)) = double(lq[i]);
        }
        CHECK(h(r) == Approx(double(entropy_reference(p))).epsilon(1e-13));
        CHECK(ce(r) == Approx(double(expected_ce)).epsilon(1e-13));
    }
    out.row_values = h_log;
    dv::entropy(dv::log_probs(lt), none, out);
    out.row_values = ce_log;
    dv::cross_entropy(dv::log_probs(lt), dv::log_probs(ls), none, out);
    CHECK(test::close(h_log.transpose(), h.transpose(), 1e-13, 0.0));
    CHECK(test::close(ce_log.transpose(), ce.transpose(), 1e-13, 0.0));
    // Probabilities with zeros.
    const test::Matrix p = test::random_simplex_rows(3, 40, seed, 0.3), q = test::random_simplex_rows(3, 40, seed + 1, 0.3);
    Eigen::VectorXd hp(3), cep(3);
    out.row_values = hp;
    dv::entropy(p, none, out);
    out.row_values = cep;
    dv::cross_entropy(p, q, none, out);
    for (Eigen::Index r = 0; r < 3; ++r) {
        CHECK(hp(r) == Approx(double(entropy_reference(ref::row(p, r)))).epsilon(1e-14));
        const double expected = double(cross_entropy_reference(ref::row(p, r), ref::row(q, r)));
        if (std::isinf(expected)) {
            CHECK(cep(r) == std::numeric_limits<double>::infinity());
        } else {
            CHECK(cep(r) == Approx(expected).epsilon(1e-14));
        }
    }
}

TEST_CASE("entropy and cross-entropy gradients match central differences (every form, mask, reduction)",
          "[entropy][gradient]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 2)));
    const auto reduction = GENERATE(dv::Reduction::sum, dv::Reduction::mean, dv::Reduction::batchmean);
    const auto form = GENERATE(dv::Form::probs, dv::Form::log_probs, dv::Form::logits);
    CAPTURE(seed, int(reduction), int(form));
    const test::Matrix za = test::random_logits(3, 6, seed), zb = test::random_logits(3, 6, seed + 1);
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(3);
    keep << true, false, true;
    dv::Options options{reduction};
    options.mask = keep;
    options.tolerance = 1e-3;  // finite differences leave the simplex
    const double temperature = 0.8;
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
    test::Matrix gp(3, 6), gq(3, 6);
    dv::Outputs<double> out;
    out.grad_p = gp;
    SECTION("entropy")
    {
        dv::entropy(input(a), options, out);
        CHECK(test::close(gp, test::central_difference(a, [&](const test::Matrix& x) { return dv::entropy(input(x), options); })));
    }
    SECTION("cross_entropy, both arguments")
    {
        out.grad_q = gq;
        dv::cross_entropy(input(a), input(b), options, out);
        CHECK(test::close(gp, test::central_difference(a, [&](const test::Matrix& x) {
                              return dv::cross_entropy(input(x), input(b), options);
                          })));
        CHECK(test::close(gq, test::central_difference(b, [&](const test::Matrix& x) {
                              return dv::cross_entropy(input(a), input(x), options);
                          })));
    }
}

TEST_CASE("entropy and cross-entropy zero conventions and adversarial rows", "[entropy][edge]")
{
    SECTION("one-hot: H = 0, d/dp = +inf off the support, logit gradient 0, never NaN")
    {
        Eigen::RowVectorXd a = Eigen::RowVectorXd::Zero(5);
        a(2) = 1.0;
        Eigen::RowVectorXd g(5);
        dv::Outputs<double> out;
        out.grad_p = g;
        CHECK(dv::entropy(a, {}, out) == 0.0);
        CHECK(g(0) == std::numeric_limits<double>::infinity());
        CHECK(g(2) == -1.0);
        dv::entropy(dv::log_probs(Eigen::RowVectorXd(a.array().log())), {}, out);
        CHECK(g(0) == 0.0);   // -p (log p + 1) with p = 0
        CHECK(g(2) == -1.0);  // a free log-probability: raising log p_2 leaves the simplex
        dv::entropy(dv::logits(Eigen::RowVectorXd(a.array().log())), {}, out);
        CHECK(g.isZero(0.0));  // on the simplex a one-hot row is a minimum of H
        CHECK(dv::cross_entropy(a, a) == 0.0);
    }
    SECTION("support mismatch: cross-entropy is +inf exactly where p_i > 0 = q_i")
    {
        Eigen::RowVectorXd p(3), q(3);
        p << 0.5, 0.5, 0.0;
        q << 0.0, 0.5, 0.5;
        CHECK(dv::cross_entropy(p, q) == std::numeric_limits<double>::infinity());
        CHECK(dv::cross_entropy(q, p) == std::numeric_limits<double>::infinity());
        q << 0.25, 0.75, 0.0;
        Eigen::RowVectorXd gp(3), gq(3);
        dv::Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        CHECK(dv::cross_entropy(p, q, {}, out) == Approx(-0.5 * std::log(0.25) - 0.5 * std::log(0.75)).epsilon(1e-15));
        CHECK(gp(2) == 0.0);  // outside both supports
        CHECK(gq(2) == 0.0);
        CHECK(gq(0) == Approx(-2.0));
    }
    SECTION("float logits +-1e4 and double logits +-1e300")
    {
        test::MatrixF t(2, 4), s(2, 4);
        t << 1e4f, -1e4f, 0.0f, 9999.0f,  //
            -1e4f, -std::numeric_limits<float>::infinity(), 1e4f, 1e4f;
        s << 9995.0f, -1e4f, 1e4f, 0.0f,  //
            -1e4f, 1e4f, 1e4f, 9990.0f;
        Eigen::VectorXf h(2), ce(2);
        test::MatrixF gp(2, 4), gq(2, 4);
        dv::Outputs<float> out;
        out.row_values = h;
        out.grad_p = gp;
        dv::entropy(dv::logits(t), {dv::Reduction::sum}, out);
        CHECK(gp.allFinite());
        out.row_values = ce;
        out.grad_q = gq;
        dv::cross_entropy(dv::logits(t), dv::logits(s), {dv::Reduction::sum}, out);
        CHECK(gp.allFinite());
        CHECK(gq.allFinite());
        for (Eigen::Index r = 0; r < 2; ++r) {
            const auto p = ref::softmax(ref::row(t.cast<double>(), r));
            const auto lq = ref::log_softmax(ref::row(s.cast<double>(), r));
            Real expected_ce = 0;
            for (std::size_t i = 0; i < p.size(); ++i)
                if (p[i] > 0) expected_ce -= p[i] * lq[i];
            CHECK(h(r) == Approx(double(entropy_reference(p))).epsilon(1e-6));
            CHECK(ce(r) == Approx(double(expected_ce)).epsilon(1e-6));
        }
        Eigen::RowVectorXd z(3);
        z << 1e300, -1e300, 1e300;
        CHECK(dv::entropy(dv::logits(z)) == Approx(std::log(2.0)).epsilon(1e-15));
        Eigen::RowVectorXd w(3);
        w << -1e300, 1e300, 0.0;
        CHECK(dv::cross_entropy(dv::logits(z), dv::logits(w)) == Approx(1.5e300).epsilon(1e-15));  // -(-2e300 - 1e300) / 2
    }
    SECTION("V = 262144: uniform gives log V; random rows match the long-double reference")
    {
        const Eigen::VectorXd uniform = Eigen::VectorXd::Constant(262144, 1.0 / 262144);
        CHECK(dv::entropy(uniform) == Approx(std::log(262144.0)).epsilon(1e-15));
        const test::Matrix p = test::random_simplex_rows(1, 262144, 9, 0.1);
        CHECK(dv::entropy(p) == Approx(double(entropy_reference(ref::row(p, 0)))).epsilon(1e-14));
    }
}

TEST_CASE("mutual information is non-negative (Gibbs) and 0 for a product table", "[mutual_information][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 20)));
    const test::Matrix joint = random_joint(5, 7, seed, 0.3);
    CHECK(dv::mutual_information(joint) >= 0.0);
    const Eigen::VectorXd x = test::random_simplex(5, seed + 1, 0.3), y = test::random_simplex(7, seed + 2);
    const test::Matrix product = x * y.transpose();
    CHECK(dv::mutual_information(product) == Approx(0.0).margin(1e-15));
}

TEST_CASE("mutual information is H(X) + H(Y) - H(X, Y) and at most min(H(X), H(Y))", "[mutual_information][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 20)));
    const auto zeros = GENERATE(0.0, 0.4);
    const test::Matrix joint = random_joint(4, 9, seed, zeros);
    const Real hx = entropy_reference(row_sums(joint)), hy = entropy_reference(col_sums(joint)),
               hxy = entropy_reference(flat(joint));
    const double mi = dv::mutual_information(joint);
    CHECK(mi == Approx(double(hx + hy - hxy)).epsilon(1e-13).margin(1e-15));
    CHECK(mi <= double(std::min(hx, hy)) * (1 + 1e-14));
    // Y a function of X (each row one-hot): I = H(X).
    test::Matrix functional = test::Matrix::Zero(4, 9);
    const Eigen::VectorXd px = test::random_simplex(4, seed + 5);
    for (Eigen::Index r = 0; r < 4; ++r) functional(r, (r * 2) % 9) = px(r);
    CHECK(dv::mutual_information(functional) == Approx(double(entropy_reference(ref::row(px.transpose(), 0)))).epsilon(1e-14));
}

TEST_CASE("mutual information obeys data processing: merging values of X never increases it", "[mutual_information][property]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 20)));
    const test::Matrix joint = random_joint(6, 5, seed, 0.2);
    test::Matrix merged(5, 5);
    merged.row(0) = joint.row(0) + joint.row(1);  // X' = f(X), f merges the first two values
    merged.bottomRows(4) = joint.bottomRows(4);
    CHECK(dv::mutual_information(merged) <= dv::mutual_information(joint) + 1e-15);
}

TEST_CASE("mutual information gradient matches central differences, with one-sided limits at zeros", "[mutual_information][gradient]")
{
    const auto seed = test::sweep_seed(GENERATE(range(0, 5)));
    dv::Options options;
    options.tolerance = 1e-3;  // finite differences leave the simplex
    SECTION("row-major table")
    {
        const test::Matrix joint = random_joint(3, 4, seed);
        test::Matrix g(3, 4);
        dv::Outputs<double> out;
        out.grad_p = g;
        dv::mutual_information(joint, options, out);
        CHECK(test::close(g, test::central_difference(joint, [&](const test::Matrix& x) {
                              return dv::mutual_information(x, options);
                          })));
    }
    SECTION("column-major table and gradient")
    {
        const Eigen::MatrixXd joint = random_joint(4, 3, seed);
        Eigen::MatrixXd g(4, 3);
        dv::Outputs<double> out;
        out.grad_p = g;
        dv::mutual_information(joint, options, out);
        CHECK(test::close(g, test::central_difference(joint, [&](const Eigen::MatrixXd& x) {
                              return dv::mutual_information(x, options);
                          })));
    }
    SECTION("zero entries: -inf inside, -log p_y - 1 in an empty row, +inf in an empty row and column")
    {
        test::Matrix joint = random_joint(3, 3, seed);
        joint.row(2).setZero();
        joint.col(2).setZero();
        joint(0, 0) = 0.0;
        joint /= joint.sum();
        test::Matrix g(3, 3);
        dv::Outputs<double> out;
        out.grad_p = g;
        const double base = dv::mutual_information(joint, options, out);
        CHECK(g(0, 0) == -std::numeric_limits<double>::infinity());
        CHECK(g(2, 2) == std::numeric_limits<double>::infinity());
        CHECK(!g.array().isNaN().any());
        const double h = 1e-8;  // forward differences: truncation O(h / p), rounding O(eps / h)
        for (auto [r, c] : {std::pair<int, int>{2, 0}, {2, 1}, {0, 2}, {1, 2}}) {
            test::Matrix moved = joint;
            moved(r, c) += h;
            const double forward = (dv::mutual_information(moved, options) - base) / h;
            CAPTURE(r, c);
            CHECK(g(r, c) == Approx(forward).epsilon(1e-5).margin(1e-6));
        }
    }
}

TEST_CASE("mutual information rejects bad tables and misused options", "[mutual_information][error]")
{
    using Catch::Matchers::Contains;
    test::Matrix joint = random_joint(3, 4, 1);
    SECTION("negative entry, naming row and column")
    {
        joint(1, 2) = -0.01;
        joint(0, 0) += 0.01;
        CHECK_THROWS_AS(dv::mutual_information(joint), std::invalid_argument);
        CHECK_THROWS_WITH(dv::mutual_information(joint),
                          Contains("mutual_information") && Contains("'joint'") && Contains("row 1") &&
                              Contains("column 2") && Contains("negative"));
    }
    SECTION("non-finite entries")
    {
        joint(2, 3) = std::numeric_limits<double>::quiet_NaN();
        CHECK_THROWS_WITH(dv::mutual_information(joint), Contains("mutual_information") && Contains("row 2") &&
                                                             Contains("column 3") && Contains("non-finite"));
        joint(2, 3) = std::numeric_limits<double>::infinity();
        CHECK_THROWS_WITH(dv::mutual_information(joint), Contains("'joint'") && Contains("non-finite"));
    }
    SECTION("empty table")
    {
        CHECK_THROWS_WITH(dv::mutual_information(test::Matrix(0, 3)), Contains("mutual_information") && Contains("empty"));
    }
    SECTION("total not 1 beyond the tolerance")
    {
        joint *= 1.01;
        CHECK_THROWS_WITH(dv::mutual_information(joint), Contains("mutual_information") && Contains("'joint'") && Contains("sum to"));
        dv::Options loose;
        loose.tolerance = 0.1;
        CHECK_NOTHROW(dv::mutual_information(joint, loose));
        dv::Options trusted;
        trusted.validation = dv::Validation::none;
        CHECK_NOTHROW(dv::mutual_information(joint, trusted));
    }
    SECTION("batch options and outputs that make no sense for one table")
    {
        Eigen::Array<bool, Eigen::Dynamic, 1> keep = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(3, true);
        dv::Options masked;
        masked.mask = keep;
        CHECK_THROWS_WITH(dv::mutual_information(joint, masked), Contains("mutual_information") && Contains("'mask'"));
        Eigen::VectorXd rows(3);
        dv::Outputs<double> out;
        out.row_values = rows;
        CHECK_THROWS_WITH(dv::mutual_information(joint, {}, out), Contains("'row_values'"));
        test::Matrix wrong(2, 4);
        dv::Outputs<double> out2;
        out2.grad_p = wrong;
        CHECK_THROWS_WITH(dv::mutual_information(joint, {}, out2), Contains("mutual_information") && Contains("'grad_p'"));
        CHECK_THROWS_WITH(dv::mutual_information(dv::log_probs(joint)), Contains("'joint'") && Contains("probabilities"));
    }
}

TEST_CASE("entropy takes one argument: grad_q is rejected", "[entropy][error]")
{
    using Catch::Matchers::Contains;
    const Eigen::VectorXd p = test::random_simplex(4, 1);
    Eigen::VectorXd g(4);
    dv::Outputs<double> out;
    out.grad_q = g;
    CHECK_THROWS_WITH(dv::entropy(p, {}, out), Contains("entropy") && Contains("'grad_q'"));
    Eigen::VectorXd bad = p;
    bad(0) = -0.1;
    CHECK_THROWS_WITH(dv::entropy(bad), Contains("entropy") && Contains("'p'") && Contains("negative"));
    CHECK_THROWS_WITH(dv::cross_entropy(p, bad), Contains("cross_entropy") && Contains("'q'"));
}

TEST_CASE("mutual information on the executor: long tables give the same bits for 1 and 2 threads and the long-double value",
          "[entropy][mutual_information][executor]")
{
    // 2 x 70000: each row is three chunks, so 2 threads run the marginals and the sum in chunk mode.
    const test::Matrix joint = test::random_simplex_rows(1, 140000, 81).reshaped<Eigen::RowMajor>(2, 70000);
    const auto run = [&](int threads) {
        return test::with_threads(threads, [&] {
            test::Matrix grad(2, 70000);
            divergence::Outputs<double> out;
            out.grad_p = grad;
            const double value = divergence::mutual_information(joint, {}, out);
            return std::make_pair(value, grad);
        });
    };
    const auto one = run(1), two = run(2);
    CHECK(one.first == two.first);
    CHECK(one.second == two.second);
    long double px[2] = {0, 0}, information = 0;
    std::vector<long double> py(70000, 0.0L);
    for (Eigen::Index r = 0; r < 2; ++r) {
        for (Eigen::Index c = 0; c < 70000; ++c) {
            px[r] += joint(r, c);
            py[std::size_t(c)] += joint(r, c);
        }
    }
    for (Eigen::Index r = 0; r < 2; ++r) {
        for (Eigen::Index c = 0; c < 70000; ++c) {
            const long double e = joint(r, c);
            if (e > 0) information += e * std::log(e / (px[r] * py[std::size_t(c)]));
        }
    }
    CHECK(one.first == Approx(double(information)).epsilon(1e-12).margin(1e-15));
    // A bad entry in a later chunk is reported at its row and column.
    test::Matrix bad = joint;
    bad(1, 69000) = -1e-3;
    test::fails_with([&] { return divergence::mutual_information(bad); }, "row 1, column 69000");
}

}  // namespace discrete_entropy_test
