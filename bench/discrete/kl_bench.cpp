// KL(teacher || student) and reverse KL(student || teacher) from logits at temperature T, batchmean.
#include <divergence/discrete/kl.hpp>

#include "support/bench.hpp"
#include "support/naive.hpp"
#include "support/options.hpp"
#include "support/reference.hpp"

namespace bench {
namespace {

float ours_kl(Problem& pr, Mode mode)
{
    const auto p = divergence::logits(pr.teacher, temperature);
    const auto q = divergence::logits(pr.student, temperature);
    if (mode == Mode::forward) return divergence::kl(p, q, options());
    divergence::Outputs<float> out;
    out.grad_q = pr.grad;
    return divergence::kl(p, q, options(), out);
}

float ours_reverse_kl(Problem& pr, Mode mode)
{
    const auto p = divergence::logits(pr.teacher, temperature);
    const auto q = divergence::logits(pr.student, temperature);
    if (mode == Mode::forward) return divergence::reverse_kl(p, q, options());
    divergence::Outputs<float> out;
    out.grad_q = pr.grad;
    return divergence::reverse_kl(p, q, options(), out);
}

// KL = sum p (log p - log q) / B; d/dz_q = (q - p) / (T B).
float naive_kl(Problem& pr, Mode mode)
{
    naive::softmax_both(pr);
    auto& w = pr.naive;
    const float value = naive::batch_sum(w.p * (w.log_p - w.log_q)) / float(pr.shape.rows);
    if (mode == Mode::forward_grad) w.work = (w.q - w.p) * float(1.0 / (temperature * double(pr.shape.rows)));
    return value;
}

// KL(Q || P) = sum q (log q - log p) / B; dD/dlog q_j = q_j (log q_j - log p_j) (+ q_j, which the
// softmax Jacobian removes).
float naive_reverse_kl(Problem& pr, Mode mode)
{
    naive::softmax_both(pr);
    auto& w = pr.naive;
    w.work = w.q * (w.log_q - w.log_p);
    const float value = naive::batch_sum(w.work) / float(pr.shape.rows);
    if (mode == Mode::forward_grad) naive::logit_gradient(pr);
    return value;
}

const Registration kl_registration({"kl", Cost{}, ours_kl, naive_kl, "kl", reference::kl});
const Registration reverse_kl_registration({"reverse_kl", Cost{}, ours_reverse_kl, naive_reverse_kl, "reverse_kl",
                                             reference::reverse_kl});

}  // namespace
}  // namespace bench
