#ifndef DIVERGENCE_CORE_CONFIG_HPP
#define DIVERGENCE_CORE_CONFIG_HPP

#include <Eigen/Core>

#include <type_traits>

#define DIVERGENCE_VERSION_MAJOR 0
#define DIVERGENCE_VERSION_MINOR 1
#define DIVERGENCE_VERSION_PATCH 0

namespace divergence {

using Index = Eigen::Index;

/// Row-major dynamic matrix: the layout every kernel walks fastest (one distribution per row).
template <class Scalar>
using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Per-row results: a column of length B.
template <class Scalar>
using RowValues = Eigen::Array<Scalar, Eigen::Dynamic, 1>;

namespace detail {

template <class Scalar>
inline constexpr bool is_supported_scalar_v =
    std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>;

/// Half-precision inputs (what models emit): logits of Eigen::half or Eigen::bfloat16 are read as
/// float, a block of rows at a time (core/low_precision.hpp); results and gradients are float.
template <class Scalar>
inline constexpr bool is_low_precision_v = std::is_same_v<Scalar, Eigen::half> || std::is_same_v<Scalar, Eigen::bfloat16>;

/// The scalar an input is computed in: float for half and bfloat16, its own otherwise.
template <class Scalar>
using compute_scalar_t = std::conditional_t<is_low_precision_v<Scalar>, float, Scalar>;

/// Scalars are computed in `double` whatever the input type (float inputs accumulate safely).
using Accumulator = double;

}  // namespace detail
}  // namespace divergence

#endif
