// Generalized Jensen-Shannon divergence, beta = 1/2 (the GKD default), from logits at temperature T.
// Peer: TRL's GKD loss (log-space mixture via logsumexp of the stacked, shifted log-probabilities).
#if __has_include(<divergence/discrete/jensen_shannon.hpp>)
#include <divergence/discrete/jensen_shannon.hpp>

#include "support/bench.hpp"
#include "support/naive.hpp"
#include "support/options.hpp"
#include "support/reference.hpp"

namespace bench {
namespace {

constexpr double beta = 0.5;
static_assert(beta == 0.5, "the reference is reference::js_half");

float ours_js(Problem& pr, Mode mode)
{
    const auto p = divergence::logits(pr.teacher, temperature);
    const auto q = divergence::logits(pr.student, temperature);
    if (mode == Mode::forward) return divergence::generalized_js(p, q, beta, options());
    divergence::Outputs<float> out;
    out.grad_q = pr.grad;
    return divergence::generalized_js(p, q, beta, options(), out);
}

// JSD = sum [beta p (log p - log m) + (1 - beta) q (log q - log m)] / B, m = beta p + (1 - beta) q;
// dD/dlog q_j = (1 - beta) q_j (log q_j - log m_j).
float naive_js(Problem& pr, Mode mode)
{
    naive::softmax_both(pr);
    auto& w = pr.naive;
    const float b = float(beta);
    w.work = (b * w.p + (1.0f - b) * w.q).log();  // log m
    const float value =
        naive::batch_sum(b * w.p * (w.log_p - w.work) + (1.0f - b) * w.q * (w.log_q - w.work)) / float(pr.shape.rows);
    if (mode == Mode::forward_grad) {
        w.work = (1.0f - b) * w.q * (w.log_q - w.work);
        naive::logit_gradient(pr);
    }
    return value;
}

// Minimal work: the two softmaxes (2 exps) and log m (1 log) per element.
const Registration js_registration({"js", Cost{8, 12, 2, 1, 0}, ours_js, naive_js, "js", reference::js_half});

}  // namespace
}  // namespace bench
#endif
