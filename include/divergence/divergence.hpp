#ifndef DIVERGENCE_DIVERGENCE_HPP
#define DIVERGENCE_DIVERGENCE_HPP

// Umbrella header: every public header of the library.

#include "divergence/core/call.hpp"
#include "divergence/core/config.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/forms.hpp"
#include "divergence/core/low_precision.hpp"
#include "divergence/core/options.hpp"
#include "divergence/core/reduction.hpp"
#include "divergence/core/rows.hpp"
#include "divergence/discrete/cauchy_schwarz.hpp"
#include "divergence/discrete/entropy.hpp"
#include "divergence/discrete/f_divergence.hpp"
#include "divergence/discrete/generators.hpp"
#include "divergence/discrete/jensen_shannon.hpp"
#include "divergence/discrete/kl.hpp"
#include "divergence/discrete/named_f_divergences.hpp"
#include "divergence/discrete/renyi.hpp"
#include "divergence/discrete/top_k.hpp"
#include "divergence/io/npy.hpp"
#include "divergence/kernel/bandwidth.hpp"
#include "divergence/kernel/cauchy_schwarz.hpp"
#include "divergence/kernel/conditional.hpp"
#include "divergence/kernel/gram.hpp"
#include "divergence/kernel/mmd.hpp"
#include "divergence/kernel/random_features.hpp"
#include "divergence/kernel/self_pairs.hpp"
#include "divergence/losses/alpha_beta.hpp"
#include "divergence/losses/comparison.hpp"
#include "divergence/losses/distillation.hpp"
#include "divergence/losses/rl.hpp"
#include "divergence/losses/token.hpp"
#include "divergence/losses/token_wise.hpp"
#include "divergence/ot/implicit.hpp"
#include "divergence/ot/sinkhorn.hpp"
#include "divergence/ot/sinkhorn_distillation.hpp"
#include "divergence/ot/sinkhorn_divergence.hpp"
#include "divergence/ot/sliced_wasserstein.hpp"
#include "divergence/ot/wasserstein_1d.hpp"
#include "divergence/parametric/diagonal_gaussian_rows.hpp"
#include "divergence/parametric/exponential_family.hpp"
#include "divergence/parametric/family_kl.hpp"
#include "divergence/parametric/gaussian.hpp"
#include "divergence/parametric/gaussian_divergences.hpp"
#include "divergence/parametric/gaussian_mixture.hpp"
#include "divergence/parametric/projection.hpp"

// divergence/mpi/*.hpp (vocabulary.hpp, merge.hpp) are not included: they need <mpi.h> and the target
// divergence::mpi (docs/mpi.md).

#endif
