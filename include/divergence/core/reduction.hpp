#ifndef DIVERGENCE_CORE_REDUCTION_HPP
#define DIVERGENCE_CORE_REDUCTION_HPP

#include "divergence/core/config.hpp"

namespace divergence {

/// How per-row values become the returned scalar; gradients are those of that scalar.
enum class Reduction {
    none,      ///< no single value: only for the *_rows functions (kl_rows, ...), which return each row's value;
               ///< gradients are each row's own (unscaled). The scalar functions throw std::invalid_argument.
    sum,       ///< sum over kept rows
    mean,      ///< sum / number of kept rows (rows not masked out); 0 when no row is kept
    batchmean  ///< sum / B, all rows counted, as torch.nn.functional.kl_div(reduction="batchmean")
};

namespace detail {

/// Factor applied to the sum of kept rows (and to every gradient) for a reduction.
inline double reduction_scale(Reduction reduction, Index kept_rows, Index batch_rows)
{
    switch (reduction) {
    case Reduction::mean: return kept_rows > 0 ? 1.0 / double(kept_rows) : 0.0;
    case Reduction::batchmean: return 1.0 / double(batch_rows);
    default: return 1.0;
    }
}

}  // namespace detail
}  // namespace divergence

#endif
