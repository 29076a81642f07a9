#ifndef DIVERGENCE_BENCH_SUPPORT_OPTIONS_HPP
#define DIVERGENCE_BENCH_SUPPORT_OPTIONS_HPP

#include <divergence/core/options.hpp>

namespace bench {

/// batchmean (as kl_div(reduction="batchmean")), no validation: a trusted hot loop, and LibTorch
/// validates nothing either.
inline divergence::Options options()
{
    divergence::Options o{divergence::Reduction::batchmean};
    o.validation = divergence::Validation::none;
    return o;
}

}  // namespace bench

#endif
