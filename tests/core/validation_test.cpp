#include <catch2/catch.hpp>

#include "divergence/discrete/kl.hpp"
#include "support/random.hpp"

namespace dv = divergence;
using Catch::Matchers::Contains;

TEST_CASE("bad inputs raise std::invalid_argument naming the function, the argument, the row and the column", "[validation]")
{
    test::Matrix p = test::random_simplex_rows(3, 4, 1), q = test::random_simplex_rows(3, 4, 2);

    SECTION("shape mismatch")
    {
        const test::Matrix q5 = test::random_simplex_rows(3, 5, 2);
        CHECK_THROWS_AS(dv::kl(p, q5), std::invalid_argument);
        CHECK_THROWS_WITH(dv::kl(p, q5), Contains("divergence::kl") && Contains("'q'") && Contains("3 x 5"));
    }
    SECTION("negative probability")
    {
        q(2, 1) = -0.1;
        CHECK_THROWS_WITH(dv::kl(p, q), Contains("divergence::kl") && Contains("'q'") && Contains("row 2") &&
                                            Contains("column 1") && Contains("negative probability"));
    }
    SECTION("non-finite probability")
    {
        p(1, 3) = std::numeric_limits<double>::quiet_NaN();
        CHECK_THROWS_WITH(dv::reverse_kl(p, q), Contains("divergence::reverse_kl") && Contains("'p'") && Contains("row 1") &&
                                                    Contains("column 3") && Contains("non-finite"));
        p(1, 3) = std::numeric_limits<double>::infinity();
        CHECK_THROWS_WITH(dv::kl(p, q), Contains("non-finite"));
    }
    SECTION("row not summing to 1")
    {
        p.row(2) *= 1.01;
        CHECK_THROWS_WITH(dv::kl(p, q), Contains("'p'") && Contains("row 2") && Contains("sum to"));
        dv::Options loose;
        loose.tolerance = 0.02;
        CHECK_NOTHROW(dv::kl(p, q, loose));
    }
    SECTION("log-probabilities: positive entries, NaN, rows not normalized")
    {
        test::Matrix lp = test::log_of(p), lq = test::log_of(q);
        lq(0, 0) = 0.5;
        CHECK_THROWS_WITH(dv::kl(dv::log_probs(lp), dv::log_probs(lq)), Contains("'q'") && Contains("row 0") &&
                                                                             Contains("column 0") && Contains("positive"));
        lq = test::log_of(q);
        lq(1, 2) = std::numeric_limits<double>::quiet_NaN();
        CHECK_THROWS_WITH(dv::kl(dv::log_probs(lp), dv::log_probs(lq)), Contains("row 1") && Contains("column 2"));
        lq = test::log_of(q);
        lq.row(1).array() -= 0.1;
        CHECK_THROWS_WITH(dv::kl(dv::log_probs(lp), dv::log_probs(lq)), Contains("row 1") && Contains("logsumexp"));
    }
    SECTION("logits: NaN, +inf, all -inf rows; -inf entries are allowed")
    {
        test::Matrix z = test::random_logits(3, 4, 3);
        z(0, 1) = -std::numeric_limits<double>::infinity();
        CHECK_NOTHROW(dv::kl(dv::logits(z), dv::logits(z)));
        z(2, 2) = std::numeric_limits<double>::infinity();
        CHECK_THROWS_WITH(dv::kl(dv::logits(z), dv::probs(q)), Contains("'p'") && Contains("row 2") && Contains("column 2"));
        z(2, 2) = std::numeric_limits<double>::quiet_NaN();
        CHECK_THROWS_WITH(dv::kl(dv::probs(p), dv::logits(z)), Contains("'q'") && Contains("row 2") && Contains("column 2"));
        z.row(2).setConstant(-std::numeric_limits<double>::infinity());
        CHECK_THROWS_WITH(dv::kl(dv::probs(p), dv::logits(z)), Contains("row 2") && Contains("every logit is -inf"));
    }
    SECTION("temperature <= 0 or non-finite")
    {
        const test::Matrix z = test::random_logits(3, 4, 3);
        CHECK_THROWS_WITH(dv::kl(dv::logits(z, 0.0), dv::logits(z)), Contains("'p'") && Contains("temperature"));
        CHECK_THROWS_WITH(dv::kl(dv::logits(z), dv::logits(z, -1.0)), Contains("'q'") && Contains("temperature"));
        CHECK_THROWS_WITH(dv::kl(dv::logits(z), dv::logits(z, std::numeric_limits<double>::infinity())),
                          Contains("temperature"));
    }
    SECTION("empty inputs")
    {
        const test::Matrix e(0, 4), f(3, 0);
        CHECK_THROWS_WITH(dv::kl(e, e), Contains("empty"));
        CHECK_THROWS_WITH(dv::kl(f, f), Contains("empty"));
    }
    SECTION("mask and outputs of the wrong size")
    {
        Eigen::Array<bool, Eigen::Dynamic, 1> keep(2);
        keep.setConstant(true);
        dv::Options options;
        options.mask = keep;
        CHECK_THROWS_WITH(dv::kl(p, q, options), Contains("'mask'"));
        test::Matrix g(3, 5);
        dv::Outputs<double> out;
        out.grad_q = g;
        CHECK_THROWS_WITH(dv::kl(p, q, {}, out), Contains("'grad_q'"));
        Eigen::VectorXd rows(4);
        dv::Outputs<double> out2;
        out2.row_values = rows;
        CHECK_THROWS_WITH(dv::kl(p, q, {}, out2), Contains("'row_values'"));
    }
    SECTION("Validation::none skips the entry checks but not the shapes")
    {
        dv::Options trusted;
        trusted.validation = dv::Validation::none;
        p.row(0) *= 1.5;
        CHECK_NOTHROW(dv::kl(p, q, trusted));
        const test::Matrix q5 = test::random_simplex_rows(3, 5, 2);
        CHECK_THROWS_AS(dv::kl(p, q5, trusted), std::invalid_argument);
    }
}

TEMPLATE_TEST_CASE("logits with contiguous rows: the vector check finds the same row and column as a scalar scan",
                   "[validation][logits]", float, double)
{
    using Rows = dv::RowMatrix<TestType>;
    constexpr TestType inf = std::numeric_limits<TestType>::infinity();
    const Eigen::Index cols = GENERATE(1, 15, 1037);
    Rows z = Rows::Random(6, cols) * TestType(5);
    const Rows good = z;
    const Eigen::Index last = cols - 1, middle = cols / 2;
    CHECK_NOTHROW(dv::kl(dv::logits(z), dv::logits(good)));

    z(4, last) = std::numeric_limits<TestType>::quiet_NaN();  // in the tail packet when cols % lanes != 0
    z(5, 0) = inf;
    CHECK_THROWS_WITH(dv::kl(dv::logits(z), dv::logits(good)), Contains("'p'") && Contains("row 4") &&
                                                                   Contains("column " + std::to_string(last)));
    z(2, middle) = inf;  // an earlier row is reported first
    CHECK_THROWS_WITH(dv::kl(dv::logits(good), dv::logits(z)), Contains("'q'") && Contains("row 2") &&
                                                                   Contains("column " + std::to_string(middle)));
    // Rows the mask drops are not checked.
    Eigen::Array<bool, Eigen::Dynamic, 1> keep = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(6, true);
    keep(2) = keep(4) = keep(5) = false;
    dv::Options options;
    options.mask = keep;
    CHECK_NOTHROW(dv::kl(dv::logits(z), dv::logits(good), options));

    Rows minus = good;
    minus.row(3).setConstant(-inf);
    CHECK_THROWS_WITH(dv::kl(dv::logits(good), dv::logits(minus)), Contains("row 3") && Contains("every logit is -inf"));
    minus.row(3) = good.row(3);
    minus(3, last) = -inf;  // -inf entries are allowed (in a row with other entries)
    if (cols > 1) CHECK_NOTHROW(dv::kl(dv::logits(good), dv::logits(minus)));

    if (std::is_same_v<TestType, double>) {  // z / T overflows a double only for double logits
        Rows big = good;
        big(1, middle) = TestType(-1e300);
        CHECK_THROWS_WITH(dv::kl(dv::logits(big, 1e-10), dv::logits(good, 1e-10)),
                          Contains("row 1") && Contains("column " + std::to_string(middle)) && Contains("overflows"));
        CHECK_NOTHROW(dv::kl(dv::logits(big, 1.0), dv::logits(good, 1.0)));
    }
}
