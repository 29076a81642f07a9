// The distillation decoders of the fuzz target (decoders_losses.hpp: distillation_loss, alpha_beta_divergence,
// token_wise_kl, kl_penalty), in a translation unit of their own (decoders_tokens.cpp has the others).

#include "fuzz_harness.hpp"

#include "decoders.hpp"
#include "decoders_losses.hpp"

namespace {

template <class S>
void run(FuzzedDataProvider& in, Decoder decoder)
{
    fuzz::Reader r{in};
    g_inputs.clear();  // the decoders describe their inputs themselves (fuzz::Call)
    switch (decoder) {
    case Decoder::distillation_loss: return fuzz::fuzz_distillation<S>(r);
    case Decoder::alpha_beta_divergence: return fuzz::fuzz_alpha_beta_or_token_wise<S>(r, false);
    case Decoder::token_wise_kl: return fuzz::fuzz_alpha_beta_or_token_wise<S>(r, true);
    case Decoder::kl_penalty: return fuzz::fuzz_kl_penalty<S>(r);
    default: return;
    }
}

}  // namespace

void run_distillation_decoder(FuzzedDataProvider& in, Decoder decoder, bool single)
{
    if (single) run<float>(in, decoder);
    else run<double>(in, decoder);
}
