// The kernel decoders of the fuzz target (decoders_kernel.hpp), in a translation unit of their own.

#include "fuzz_harness.hpp"

#include "decoders.hpp"
#include "decoders_kernel.hpp"

namespace {

template <class S>
void run(FuzzedDataProvider& in, Decoder decoder)
{
    fuzz::Reader r{in};
    g_inputs.clear();  // the decoders describe their inputs themselves (fuzz::Call)
    switch (decoder) {
    case Decoder::kernel: return fuzz::fuzz_kernel<S>(r);
    default: return;
    }
}

}  // namespace

void run_kernel_decoder(FuzzedDataProvider& in, Decoder decoder, bool single)
{
    if (single) run<float>(in, decoder);
    else run<double>(in, decoder);
}
