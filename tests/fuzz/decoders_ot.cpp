// The ot decoders of the fuzz target (decoders_ot.hpp), in a translation unit of their own.

#include "fuzz_harness.hpp"

#include "decoders.hpp"
#include "decoders_ot.hpp"

namespace {

template <class S>
void run(FuzzedDataProvider& in, Decoder decoder)
{
    fuzz::Reader r{in};
    g_inputs.clear();  // the decoders describe their inputs themselves (fuzz::Call)
    switch (decoder) {
    case Decoder::sinkhorn: return fuzz::fuzz_sinkhorn<S>(r);
    case Decoder::sinkhorn_divergence: return fuzz::fuzz_sinkhorn_divergence<S>(r);
    case Decoder::wasserstein_1d: return fuzz::fuzz_wasserstein_1d<S>(r);
    case Decoder::sliced_wasserstein: return fuzz::fuzz_sliced_wasserstein<S>(r);
    case Decoder::sinkhorn_distillation: return fuzz::fuzz_sinkhorn_distillation<S>(r);
    default: return;
    }
}

}  // namespace

void run_ot_decoder(FuzzedDataProvider& in, Decoder decoder, bool single)
{
    if (single) run<float>(in, decoder);
    else run<double>(in, decoder);
}
