// The token decoders of the fuzz target (decoders_losses.hpp: the token losses, ModelComparison, the top-k
// divergences), in a translation unit of their own (decoders_distillation.cpp has the other losses).

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
    case Decoder::token_losses: return fuzz::fuzz_token_losses<S>(r);
    case Decoder::model_comparison: return fuzz::fuzz_model_comparison<S>(r);
    case Decoder::top_k: return fuzz::fuzz_top_k<S>(r);
    default: return;
    }
}

}  // namespace

void run_tokens_decoder(FuzzedDataProvider& in, Decoder decoder, bool single)
{
    if (single) run<float>(in, decoder);
    else run<double>(in, decoder);
}
