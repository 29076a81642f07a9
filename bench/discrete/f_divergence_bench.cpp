// Two f-divergences through the generic engine: squared Hellinger sum (sqrt p - sqrt q)^2 and
// Pearson chi^2 sum (p - q)^2 / q, from logits at temperature T. Peer: the formula written in
// torch on softmax probabilities, autograd for the gradient.
#if __has_include(<divergence/discrete/f_divergence.hpp>) && __has_include(<divergence/discrete/generators.hpp>)
#include <divergence/discrete/f_divergence.hpp>
#include <divergence/discrete/generators.hpp>

#include "support/bench.hpp"
#include "support/naive.hpp"
#include "support/options.hpp"
#include "support/reference.hpp"

namespace bench {
namespace {

template <class Generator>
float ours_f(Problem& pr, Mode mode)
{
    const auto p = divergence::logits(pr.teacher, temperature);
    const auto q = divergence::logits(pr.student, temperature);
    if (mode == Mode::forward) return divergence::f_divergence(p, q, Generator{}, options());
    divergence::Outputs<float> out;
    out.grad_q = pr.grad;
    return divergence::f_divergence(p, q, Generator{}, options(), out);
}

// D = sum (sqrt p - sqrt q)^2 / B; dD/dq_j = 1 - sqrt(p_j / q_j), so dD/dlog q_j = q_j - sqrt(p_j q_j).
float naive_hellinger(Problem& pr, Mode mode)
{
    naive::softmax_both(pr);
    auto& w = pr.naive;
    const float value = naive::batch_sum((w.p.sqrt() - w.q.sqrt()).square()) / float(pr.shape.rows);
    if (mode == Mode::forward_grad) {
        w.work = w.q - (w.p * w.q).sqrt();
        naive::logit_gradient(pr);
    }
    return value;
}

// D = sum (p - q)^2 / q / B; dD/dq_j = 1 - p_j^2 / q_j^2, so dD/dlog q_j = q_j - p_j^2 / q_j.
float naive_pearson(Problem& pr, Mode mode)
{
    naive::softmax_both(pr);
    auto& w = pr.naive;
    const float value = naive::batch_sum((w.p - w.q).square() / w.q) / float(pr.shape.rows);
    if (mode == Mode::forward_grad) {
        w.work = w.q - w.p.square() / w.q;
        naive::logit_gradient(pr);
    }
    return value;
}

// Minimal work: the two softmaxes (2 exps); Hellinger also sqrt(p q) (1 sqrt); Pearson p^2 / q
// needs a division only (not counted: not a transcendental function).
const Registration hellinger_registration({"squared_hellinger", Cost{8, 12, 2, 0, 1},
                                           ours_f<divergence::generators::SquaredHellinger>, naive_hellinger,
                                           "squared_hellinger", reference::squared_hellinger});
const Registration pearson_registration({"pearson_chi2", Cost{8, 12, 2, 0, 0},
                                         ours_f<divergence::generators::PearsonChiSquared>, naive_pearson,
                                         "pearson_chi2", reference::pearson_chi2});

}  // namespace
}  // namespace bench
#endif
