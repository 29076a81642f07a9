// The library against SciPy (rel_entr, entropy, jensenshannon) and PyTorch (kl_div, batchmean):
// reference values computed by tests/reference/make_reference.py (kept, not run by CI) and stored
// in tests/reference/reference_values.hpp. Agreement to 1e-12 relative in double, +inf where SciPy
// gives inf; and agreement with 50-digit (mpmath) values of the same float64 inputs.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "divergence/discrete/entropy.hpp"
#include "divergence/discrete/jensen_shannon.hpp"
#include "divergence/discrete/kl.hpp"
#include "reference/reference_values.hpp"

namespace reference_reference_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;

namespace {

using Row = Eigen::Map<const Eigen::RowVectorXd>;
using Batch = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

/// |actual - expected| <= 1e-12 |expected|, or both +inf.
bool agrees(double actual, double expected)
{
    if (std::isinf(expected)) return actual == expected;
    return std::abs(actual - expected) <= 1e-12 * std::abs(expected);
}

}  // namespace

TEST_CASE("kl, entropy, cross_entropy and js_distance agree with SciPy to 1e-12 relative", "[reference][scipy]")
{
    int compared = 0;
    for (const auto& c : reference_values::pairs) {
        // Where SciPy's own textbook sums are off (P very close to Q) the exact values below decide.
        if (!c.scipy_accurate) continue;
        ++compared;
        CAPTURE(c.name);
        const Row p(c.p.data(), Eigen::Index(c.p.size())), q(c.q.data(), Eigen::Index(c.q.size()));
        const double kl = dv::kl(p, q), h = dv::entropy(p), ce = dv::cross_entropy(p, q), d = dv::js_distance(p, q);
        CAPTURE(kl, h, ce, d);
        CHECK(agrees(kl, c.rel_entr));       // sum(scipy.special.rel_entr(p, q))
        CHECK(agrees(kl, c.entropy_pq));     // scipy.stats.entropy(p, q)
        CHECK(agrees(h, c.entropy));         // scipy.stats.entropy(p)
        CHECK(agrees(ce, c.cross_entropy));  // -sum(scipy.special.xlogy(p, q))
        CHECK(agrees(d, c.jensenshannon));   // scipy.spatial.distance.jensenshannon(p, q)
    }
    CHECK(compared >= 10);
}

TEST_CASE("kl, entropy, cross_entropy and js_distance match 50-digit values, also where SciPy cancels", "[reference][exact]")
{
    for (const auto& c : reference_values::pairs) {
        CAPTURE(c.name);
        const Row p(c.p.data(), Eigen::Index(c.p.size())), q(c.q.data(), Eigen::Index(c.q.size()));
        CHECK(agrees(dv::entropy(p), c.exact_entropy));
        CHECK(agrees(dv::cross_entropy(p, q), c.exact_cross_entropy));
        CHECK(agrees(dv::js_distance(p, q), c.exact_js_distance));
        // Where P is very close to Q, SciPy's textbook sum cancels (about 1e-9 relative); kl does not.
        CHECK(agrees(dv::kl(p, q), c.exact_kl));
    }
}

TEST_CASE("kl with Reduction::batchmean agrees with torch.nn.functional.kl_div to 1e-12 relative", "[reference][torch]")
{
    const dv::Options batchmean{dv::Reduction::batchmean};
    for (const auto& c : reference_values::batches) {
        CAPTURE(c.name);
        const Batch p(c.p.data(), c.rows, c.cols), q(c.q.data(), c.rows, c.cols);
        const double value = c.logits ? dv::kl(dv::logits(p, c.temperature), dv::logits(q, c.temperature), batchmean)
                                      : dv::kl(p, q, batchmean);
        CAPTURE(value);
        CHECK(agrees(value, c.batchmean));  // kl_div(input = log q, target = p, reduction="batchmean")
        if (c.has_log_target) CHECK(agrees(value, c.batchmean_log_target));  // log_target=True
    }
}

}  // namespace reference_reference_test
