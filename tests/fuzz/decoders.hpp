// The decoders of the public functions outside the discrete family (tests/fuzz/decoders_<family>.hpp),
// in translation units of their own (decoders_{distillation,tokens,ot,kernel,parametric}.cpp), so that the
// fuzz target builds in parallel.
// Their api numbers follow the 15 discrete APIs of public_api_fuzz.cpp.

#ifndef DIVERGENCE_FUZZ_DECODERS_HPP
#define DIVERGENCE_FUZZ_DECODERS_HPP

#include <fuzzer/FuzzedDataProvider.h>

enum class Decoder {
    distillation_loss = 15, alpha_beta_divergence, token_wise_kl, kl_penalty,                                       // distillation
    token_losses, model_comparison, top_k,                                                                          // tokens
    sinkhorn, sinkhorn_divergence, wasserstein_1d, sliced_wasserstein, sinkhorn_distillation,                         // ot
    kernel,                                                                                                           // kernel
    gaussians, kl_diagonal, family_kl, bregman, projection,                                                           // parametric
    end
};
constexpr int kFirstDecoder = int(Decoder::distillation_loss);

/// Decodes the rest of the input (after the api and scalar bytes) for `decoder` of the family and runs it,
/// in float (single) or double.
void run_distillation_decoder(FuzzedDataProvider& in, Decoder decoder, bool single);
void run_tokens_decoder(FuzzedDataProvider& in, Decoder decoder, bool single);
void run_ot_decoder(FuzzedDataProvider& in, Decoder decoder, bool single);
void run_kernel_decoder(FuzzedDataProvider& in, Decoder decoder, bool single);
void run_parametric_decoder(FuzzedDataProvider& in, Decoder decoder, bool single);

#endif
