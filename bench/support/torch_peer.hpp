#ifndef DIVERGENCE_BENCH_SUPPORT_TORCH_PEER_HPP
#define DIVERGENCE_BENCH_SUPPORT_TORCH_PEER_HPP

// The LibTorch peer, written the way its users write these losses (see torch_peer.cpp). Only this
// interface is visible to the other benchmark files, so that only one file compiles Torch's headers.

#include <memory>
#include <string>

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

void set_threads(int threads);
int threads();
std::string version();

}  // namespace bench::torch_peer

#endif
