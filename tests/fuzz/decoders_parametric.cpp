// The parametric decoders of the fuzz target (decoders_parametric.hpp), in a translation unit of their own.

#include "fuzz_harness.hpp"

#include "decoders.hpp"
#include "decoders_parametric.hpp"

namespace {

template <class S>
void run(FuzzedDataProvider& in, Decoder decoder)
{
    fuzz::Reader r{in};
    g_inputs.clear();  // the decoders describe their inputs themselves (fuzz::Call)
    switch (decoder) {
    case Decoder::gaussians: return fuzz::fuzz_gaussians<S>(r);
    case Decoder::kl_diagonal: return fuzz::fuzz_kl_diagonal<S>(r);
    // The parameter families are double only: the scalar byte is read and ignored.
    case Decoder::family_kl: return fuzz::fuzz_family_kl(r);
    case Decoder::bregman: return fuzz::fuzz_bregman(r);
    case Decoder::projection: return fuzz::fuzz_projection(r);
    default: return;
    }
}

}  // namespace

void run_parametric_decoder(FuzzedDataProvider& in, Decoder decoder, bool single)
{
    if (single) run<float>(in, decoder);
    else run<double>(in, decoder);
}
