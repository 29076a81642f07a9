#include <catch2/catch.hpp>

#include <type_traits>
#include <utility>
#include <vector>

#include "divergence/discrete/kl.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

namespace core_forms_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace ref = test::reference;

TEST_CASE("inputs of any layout give the same result: row-major, column-major, Map, Ref, blocks, expressions", "[forms]")
{
    const test::Matrix p = test::random_simplex_rows(5, 7, 1), q = test::random_simplex_rows(5, 7, 2);
    Eigen::VectorXd expected(5), rows(5);
    dv::Outputs<double> out;
    out.row_values = expected;
    dv::kl(p, q, {dv::Reduction::sum}, out);
    out.row_values = rows;

    const Eigen::MatrixXd pc = p, qc = q;  // column-major
    dv::kl(pc, qc, {dv::Reduction::sum}, out);
    CHECK(rows.isApprox(expected, 1e-15));

    const Eigen::Map<const test::Matrix> pm(p.data(), 5, 7), qm(q.data(), 5, 7);
    dv::kl(pm, qm, {dv::Reduction::sum}, out);
    CHECK(rows.isApprox(expected, 1e-15));

    const Eigen::Ref<const Eigen::MatrixXd> pr(pc), qr(qc);
    dv::kl(pr, qr, {dv::Reduction::sum}, out);
    CHECK(rows.isApprox(expected, 1e-15));

    // A block of a bigger matrix (strided rows) and an expression without storage.
    test::Matrix big = test::Matrix::Zero(7, 10);
    big.block(1, 2, 5, 7) = p;
    dv::kl(big.block(1, 2, 5, 7), (q.array() * 1.0).matrix(), {dv::Reduction::sum}, out);
    CHECK(rows.isApprox(expected, 1e-15));

    // Arrays and vectors: a vector is one distribution.
    const Eigen::ArrayXXd pa = p.array(), qa = q.array();
    CHECK(dv::kl(pa, qa) == Approx(expected.mean()).epsilon(1e-14));
    const Eigen::VectorXd p0 = p.row(0).transpose(), q0 = q.row(0).transpose();
    CHECK(dv::kl(p0, q0) == Approx(expected(0)).epsilon(1e-14));
    CHECK(dv::kl(p.row(0), q.row(0)) == Approx(expected(0)).epsilon(1e-14));
}

TEST_CASE("gradients are written in the caller's layout", "[forms][gradient]")
{
    const test::Matrix t = test::random_logits(3, 4, 3), s = test::random_logits(3, 4, 4);
    test::Matrix g_row(3, 4);
    Eigen::MatrixXd g_col(3, 4);
    dv::Outputs<double> out;
    out.grad_q = g_row;
    dv::kl(dv::logits(t), dv::logits(s), {}, out);
    out.grad_q = g_col;
    const Eigen::MatrixXd sc = s;
    dv::kl(dv::logits(t), dv::logits(sc), {}, out);
    CHECK(g_col.isApprox(Eigen::MatrixXd(g_row), 1e-15));
}

TEST_CASE("the three forms of the same distribution give the same value", "[forms]")
{
    const test::Matrix t = test::random_logits(4, 11, 5), s = test::random_logits(4, 11, 6);
    const double temperature = 1.5;
    test::Matrix p(4, 11), q(4, 11), lp(4, 11), lq(4, 11);
    for (Eigen::Index r = 0; r < 4; ++r) {
        const auto a = ref::log_softmax(ref::row(t, r), temperature), b = ref::log_softmax(ref::row(s, r), temperature);
        for (Eigen::Index c = 0; c < 11; ++c) {
            lp(r, c) = double(a[c]);
            lq(r, c) = double(b[c]);
        }
    }
    p = lp.array().exp();
    q = lq.array().exp();
    const double from_logits = dv::kl(dv::logits(t, temperature), dv::logits(s, temperature));
    CHECK(dv::kl(dv::log_probs(lp), dv::log_probs(lq)) == Approx(from_logits).epsilon(1e-13));
    CHECK(dv::kl(p, q) == Approx(from_logits).epsilon(1e-13));
    CHECK(dv::kl(dv::probs(p), dv::log_probs(lq)) == Approx(from_logits).epsilon(1e-13));
}

TEST_CASE("reductions: none, sum, mean over kept rows, batchmean over all rows, masks drop rows", "[reduction]")
{
    const test::Matrix p = test::random_simplex_rows(4, 6, 7), q = test::random_simplex_rows(4, 6, 8);
    Eigen::VectorXd rows(4);
    dv::Outputs<double> out;
    out.row_values = rows;
    const double total = dv::kl(p, q, {dv::Reduction::sum}, out);
    std::vector<long double> exact(4);
    for (int r = 0; r < 4; ++r) exact[r] = ref::kl(ref::row(p, r), ref::row(q, r));
    for (int r = 0; r < 4; ++r) CHECK(rows(r) == Approx(double(exact[r])).epsilon(1e-13));
    CHECK(total == Approx(rows.sum()).epsilon(1e-14));
    CHECK(dv::kl(p, q, {dv::Reduction::sum}) == Approx(rows.sum()).epsilon(1e-14));
    CHECK(dv::kl(p, q, {dv::Reduction::mean}) == Approx(rows.mean()).epsilon(1e-14));
    CHECK(dv::kl(p, q, {dv::Reduction::batchmean}) == Approx(rows.mean()).epsilon(1e-14));

    Eigen::Array<bool, Eigen::Dynamic, 1> keep(4);
    keep << true, false, false, true;
    dv::Options masked{dv::Reduction::mean};
    masked.mask = keep;
    test::Matrix g(4, 6);
    g.setConstant(42.0);
    out.grad_q = g;
    CHECK(dv::kl(p, q, masked, out) == Approx((rows(0) + rows(3)) / 2).epsilon(1e-14));
    CHECK(rows(1) == 0.0);
    CHECK(g.row(1).isZero());
    CHECK(g.row(2).isZero());
    masked.reduction = dv::Reduction::batchmean;
    CHECK(dv::kl(p, q, masked) == Approx((rows(0) + rows(3)) / 4).epsilon(1e-14));
    keep.setConstant(false);
    masked.reduction = dv::Reduction::mean;
    CHECK(dv::kl(p, q, masked) == 0.0);  // a mean over no rows is 0, not NaN
}

TEST_CASE("float inputs accumulate in double", "[forms][accuracy]")
{
    // 2^20 equal entries: a float running sum would stall; the result must be exact to float precision.
    const Eigen::Index v = 1 << 20;
    const Eigen::VectorXf p = Eigen::VectorXf::Constant(v, 1.0f / float(v));
    Eigen::VectorXf q = p;
    q.head(v / 2) *= 1.5f;
    q.tail(v / 2) *= 0.5f;
    // KL = 0.5 log(1/1.5) + 0.5 log(1/0.5)
    const double expected = 0.5 * std::log(1 / 1.5) + 0.5 * std::log(2.0);
    CHECK(dv::kl(p, q) == Approx(expected).epsilon(4 * std::numeric_limits<float>::epsilon()));
}

namespace {

// Whether an output or mask field can be assigned an argument of type T (an rvalue unless T is a reference).
template <class Field, class T>
constexpr bool assignable = std::is_assignable_v<Field&, T>;

}  // namespace

TEST_CASE("outputs and masks are views: temporaries do not compile, named objects, blocks, Maps and Refs do", "[forms][lifetime]")
{
    using Rows = dv::RowMatrix<double>;
    using Block = decltype(std::declval<Rows&>().topRows(3));
    using RowOf = decltype(std::declval<Rows&>().row(1));
    using Head = decltype(std::declval<Eigen::VectorXd&>().head(3));
    // A temporary Matrix or Array would be destroyed before the call writes to (or reads) it.
    STATIC_REQUIRE(!assignable<dv::MatrixOut<double>, Rows>);
    STATIC_REQUIRE(!assignable<dv::MatrixOut<double>, Eigen::MatrixXd>);
    STATIC_REQUIRE(!assignable<dv::MatrixOut<float>, Eigen::ArrayXXf>);
    STATIC_REQUIRE(!assignable<dv::VectorOut<double>, Eigen::VectorXd>);
    STATIC_REQUIRE(!assignable<dv::VectorOut<double>, const Eigen::VectorXd>);
    STATIC_REQUIRE(!assignable<dv::RowMask, Eigen::Array<bool, Eigen::Dynamic, 1>>);
    // Named objects and views of them.
    STATIC_REQUIRE(assignable<dv::MatrixOut<double>, Rows&>);
    STATIC_REQUIRE(assignable<dv::MatrixOut<double>, Block>);
    STATIC_REQUIRE(assignable<dv::MatrixOut<double>, RowOf>);
    STATIC_REQUIRE(assignable<dv::MatrixOut<double>, Eigen::Map<Rows>>);
    STATIC_REQUIRE(assignable<dv::MatrixOut<double>, Eigen::Ref<Eigen::MatrixXd>>);
    STATIC_REQUIRE(assignable<dv::VectorOut<double>, Eigen::VectorXd&>);
    STATIC_REQUIRE(assignable<dv::VectorOut<double>, Head>);
    STATIC_REQUIRE(assignable<dv::VectorOut<double>, Eigen::Map<Eigen::VectorXd>>);
    STATIC_REQUIRE(assignable<dv::RowMask, Eigen::Array<bool, Eigen::Dynamic, 1>&>);
    STATIC_REQUIRE(assignable<dv::RowMask, const Eigen::Array<bool, Eigen::Dynamic, 1>&>);

    // And they work: a block of a named matrix receives the gradient rows in place.
    const test::Matrix t = test::random_logits(3, 5, 1), s = test::random_logits(3, 5, 2);
    Rows big = Rows::Zero(6, 5);
    Eigen::VectorXd values = Eigen::VectorXd::Zero(4);
    dv::Outputs<double> out;
    out.grad_q = big.bottomRows(3);
    out.row_values = values.tail(3);
    dv::kl(dv::logits(t), dv::logits(s), {dv::Reduction::sum}, out);
    CHECK(big.topRows(3).isZero());
    CHECK(values(0) == 0.0);
    for (Eigen::Index r = 0; r < 3; ++r) {
        const auto lp = ref::log_softmax(ref::row(t, r)), lq = ref::log_softmax(ref::row(s, r));
        CHECK(values(r + 1) == Approx(double(ref::kl_log(lp, lq))).epsilon(1e-13));
        for (Eigen::Index c = 0; c < 5; ++c) {
            CHECK(big(r + 3, c) == Approx(double(std::exp(lq[std::size_t(c)]) - std::exp(lp[std::size_t(c)]))).margin(1e-15));
        }
    }
}

TEST_CASE("an Input never refers to a destroyed object: temporaries are moved in, expressions evaluated, views kept", "[forms][lifetime]")
{
    const double temperature = 1.5;
    dv::RowMatrix<double> x = test::random_logits(4, 6, 3), y = test::random_logits(4, 6, 4);
    // KL of each row of x against y from the long-double reference: what every Input below must give.
    std::vector<long double> expected(4);
    for (Eigen::Index r = 0; r < 4; ++r) {
        expected[std::size_t(r)] = ref::kl_log(ref::log_softmax(ref::row(x, r), temperature),
                                               ref::log_softmax(ref::row(y, r), temperature));
    }
    const auto check = [&](const dv::Input<double>& p, Eigen::Index first, Eigen::Index rows) {
        const Eigen::ArrayXd values = dv::kl_rows(p, dv::logits(y.middleRows(first, rows), temperature));
        for (Eigen::Index r = 0; r < rows; ++r) CHECK(values(r) == Approx(double(expected[std::size_t(first + r)])).epsilon(1e-13));
    };

    // Inputs kept beyond the statement that made them (the case that dangled): each owns its numbers.
    const auto moved = dv::logits(dv::RowMatrix<double>(x), temperature);  // a temporary matrix: moved in
    const auto column_major = dv::logits(Eigen::MatrixXd(x), temperature);
    const auto evaluated = dv::logits(x * 1.0, temperature);               // an expression: evaluated once
    const auto ref_copy = dv::logits(Eigen::Ref<const Eigen::MatrixXd>(x * 1.0), temperature);  // a Ref holding a copy
    CHECK(moved.owns());
    CHECK(column_major.owns());
    CHECK(evaluated.owns());
    CHECK(ref_copy.owns());
    x.setConstant(1e6);  // the temporaries above are gone; x changes: the owned copies must not follow
    check(moved, 0, 4);
    check(column_major, 0, 4);
    check(evaluated, 0, 4);
    check(ref_copy, 0, 4);

    // Views of named objects are views, never copies: they see x change.
    x = test::random_logits(4, 6, 3);
    const Eigen::Map<const dv::RowMatrix<double>> map(x.data(), 4, 6);
    const Eigen::Ref<const dv::RowMatrix<double>> named_ref(x);
    const auto views = {dv::logits(x, temperature), dv::logits(map, temperature), dv::logits(named_ref, temperature)};
    for (const auto& view : views) {
        CHECK(!view.owns());
        CHECK(view.view().data == x.data());
        check(view, 0, 4);
    }
    const auto block = dv::logits(x.bottomRows(3), temperature);
    const auto row = dv::logits(x.row(1), temperature);
    CHECK(!block.owns());
    CHECK(!row.owns());
    check(block, 1, 3);
    check(row, 1, 1);
}

}  // namespace core_forms_test
