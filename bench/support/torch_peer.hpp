#ifndef DIVERGENCE_BENCH_SUPPORT_TORCH_PEER_HPP
#define DIVERGENCE_BENCH_SUPPORT_TORCH_PEER_HPP

// The LibTorch peer, written the way its users write these losses (see torch_peer.cpp). Only this
// interface is visible to the other benchmark files, so that only one file compiles Torch's headers.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/bench.hpp"

namespace bench::torch_peer {

/// Teacher logits (no gradient) and student logits (a leaf that requires grad), owned by Torch.
struct Tensors;
std::shared_ptr<Tensors> make_tensors(const Matrix& teacher, const Matrix& student);

/// Peers: "kl", "reverse_kl", "js" (TRL's generalized_jsd_loss, beta = 1/2), "squared_hellinger",
/// "pearson_chi2". Forward runs under torch::NoGradGuard; forward_grad resets the student's
/// gradient to None (optimizer.zero_grad(set_to_none=True)), runs the loss and backward().
float run(Tensors& tensors, const std::string& peer, Mode mode, double temperature);

/// The student gradient left by the last forward_grad run (B x V, row-major, contiguous).
const float* student_grad(const Tensors& tensors);

/// A distillation loss of bench/losses/distillation_bench.cpp as PyTorch users write it, batchmean; each
/// loss reads the settings it names (torch_peer.cpp spells out every composition).
struct Distillation {
    std::string loss;  ///< forward_kl, kl_t2_ce, reverse_kl, gkd_jsd, balanced, token_wise, alpha_beta, total_variation
    double temperature = 1.0;
    double ce_weight = 0.0;  ///< kl_t2_ce: the weight of cross_entropy(student, labels) at T = 1
    double alpha = 0.0;      ///< alpha_beta
    double beta = 0.0;       ///< gkd_jsd: the teacher's weight in the mixture; token_wise: ToDi's beta; alpha_beta
    double emphasis = 0.0;   ///< balanced: the entropy rule's weight of the favoured direction
};

/// The class labels of the cross-entropy term (B entries), kept as an int64 tensor beside the logits.
void set_labels(Tensors& tensors, const std::vector<std::int64_t>& labels);

/// The loss with the student gradient (left for student_grad): the gradient reset to None, the loss, backward().
float run_distillation(Tensors& tensors, const Distillation& loss);

void set_threads(int threads);
int threads();
std::string version();

}  // namespace bench::torch_peer

#endif
