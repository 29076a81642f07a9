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

/// Scalars are computed in `double` whatever the input type (float inputs accumulate safely).
using Accumulator = double;

}  // namespace detail
}  // namespace divergence

#endif
