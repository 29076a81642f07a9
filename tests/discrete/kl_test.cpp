#include <catch2/catch.hpp>

#include "divergence/discrete/kl.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

namespace dv = divergence;
namespace ref = test::reference;

TEST_CASE("kl is non-negative and zero only at P == Q (Gibbs)", "[kl][property]")
{
    const auto v = GENERATE(1, 2, 7, 64, 1000);
    const auto seed = GENERATE(take(10, random(0u, 1000000u)));
    const Eigen::VectorXd p = test::random_simplex(v, seed), q = test::random_simplex(v, seed + 1);
    CAPTURE(v, seed);
    CHECK(dv::kl(p, q) >= 0.0);
    CHECK(dv::kl(p, p) == Approx(0.0).margin(1e-14));
    if (v > 1) CHECK(dv::kl(p, q) > 0.0);
}

TEST_CASE("kl matches a long-double reference in every form", "[kl][reference]")
{
    const auto seed = GENERATE(take(5, random(0u, 1000000u)));
    const double temperature = GENERATE(0.5, 1.0, 3.0);
    const test::Matrix s = test::random_logits(4, 33, seed), t = test::random_logits(4, 33, seed + 7);
    Eigen::VectorXd rows(4);
    dv::Outputs<double> out;
    out.row_values = rows;
    dv::kl(dv::logits(t, temperature), dv::logits(s, temperature), {dv::Reduction::none}, out);
    for (Eigen::Index r = 0; r < 4; ++r) {
        const auto lp = ref::log_softmax(ref::row(t, r), temperature), lq = ref::log_softmax(ref::row(s, r), temperature);
        CHECK(rows(r) == Approx(double(ref::kl_log(lp, lq))).epsilon(1e-13));
    }
}

TEST_CASE("kl gradients match central differences (probs, log-probs, logits with temperature and mask)", "[kl][gradient]")
{
    const auto seed = GENERATE(take(3, random(0u, 1000000u)));
    const auto reduction = GENERATE(dv::Reduction::sum, dv::Reduction::mean, dv::Reduction::batchmean);
    const test::Matrix a = test::random_logits(3, 6, seed), b = test::random_logits(3, 6, seed + 1);
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(3);
    keep << true, false, true;
    dv::Options options{reduction};
    options.mask = keep;
    options.tolerance = 1e-3;
    const double temperature = 1.7;

    test::Matrix gp(3, 6), gq(3, 6);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    dv::kl(dv::logits(a, temperature), dv::logits(b, temperature), options, out);
    auto fp = [&](const test::Matrix& x) { return dv::kl(dv::logits(x, temperature), dv::logits(b, temperature), options); };
    auto fq = [&](const test::Matrix& x) { return dv::kl(dv::logits(a, temperature), dv::logits(x, temperature), options); };
    CHECK(test::close(gp, test::central_difference(a, fp)));
    CHECK(test::close(gq, test::central_difference(b, fq)));
}
