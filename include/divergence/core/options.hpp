#ifndef DIVERGENCE_CORE_OPTIONS_HPP
#define DIVERGENCE_CORE_OPTIONS_HPP

#include <type_traits>

#include "divergence/core/config.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/reduction.hpp"
#include "divergence/core/view.hpp"

namespace divergence {

/// Which rows count: `true` keeps a row, `false` ignores it (padding, ignore_index tokens).
/// A view of the caller's bool vector (Eigen::Array<bool, Dynamic, 1> or similar), not a copy.
struct RowMask {
    const bool* data = nullptr;
    Index size = 0;
    Index stride = 1;

    RowMask() = default;
    template <class Derived>
    RowMask(const Eigen::DenseBase<Derived>& keep)  // NOLINT: implicit on purpose, `options.mask = keep;`
        : data(keep.derived().data()), size(keep.size()), stride(keep.derived().innerStride())
    {
        static_assert(std::is_same_v<typename Derived::Scalar, bool>, "divergence: a row mask holds bools.");
        static_assert(Derived::IsVectorAtCompileTime, "divergence: a row mask is a vector.");
        static_assert(detail::has_direct_access_v<Derived>, "divergence: a row mask needs direct memory access.");
    }
    bool active() const { return data != nullptr; }
    bool keeps(Index row) const { return data == nullptr || data[row * stride]; }
};

/// Options shared by every divergence over rows.
struct Options {
    Reduction reduction = Reduction::mean;    ///< see Reduction
    Validation validation = Validation::full;  ///< see Validation
    /// Allowed |sum_i p_i - 1| for probabilities and |logsumexp_i| for log-probabilities.
    /// < 0 (default): 1e-6 for double inputs, 1e-4 for float inputs.
    double tolerance = -1.0;
    RowMask mask = {};  ///< rows to keep; empty = all rows
};

/// Where a call writes what it computes besides the reduced value. Every field is optional;
/// each is a caller-owned Eigen object with direct access (any storage order), written in place.
template <class Scalar>
struct Outputs {
    VectorOut<Scalar> row_values;  ///< (B): each row's divergence; masked rows get 0
    MatrixOut<Scalar> grad_p;      ///< (B, V): d(result)/d(first argument), in its form
    MatrixOut<Scalar> grad_q;      ///< (B, V): d(result)/d(second argument), in its form
};

}  // namespace divergence

#endif
