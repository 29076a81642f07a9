#ifndef DIVERGENCE_CORE_OPTIONS_HPP
#define DIVERGENCE_CORE_OPTIONS_HPP

#include <type_traits>

#include "divergence/core/config.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/reduction.hpp"
#include "divergence/core/view.hpp"

namespace divergence {

/// Which rows count: `true` keeps a row, `false` ignores it (padding, ignore_index tokens).
/// A view of the caller's bool vector (Eigen::Array<bool, Dynamic, 1> or similar), not a copy:
/// a temporary vector does not compile (it would be destroyed before the call reads it).
struct RowMask {
    const bool* data = nullptr;
    Index size = 0;
    Index stride = 1;

    RowMask() = default;
    template <class Derived>
    RowMask(const Eigen::DenseBase<Derived>& keep)  // NOLINT: implicit on purpose, `options.mask = keep;`
    {
        constexpr bool bools = std::is_same_v<typename Derived::Scalar, bool>;
        static_assert(bools, "divergence: a row mask holds bools.");
        static_assert(!bools || Derived::IsVectorAtCompileTime, "divergence: a row mask is a vector.");
        static_assert(!bools || !Derived::IsVectorAtCompileTime || detail::has_direct_access_v<Derived>,
                      "divergence: a row mask needs direct memory access: store it in a named "
                      "Eigen::Array<bool, Eigen::Dynamic, 1> first.");
        if constexpr (bools && Derived::IsVectorAtCompileTime && detail::has_direct_access_v<Derived>) {
            data = keep.derived().data();
            size = keep.size();
            stride = keep.derived().innerStride();
        }
    }
    /// A temporary vector would be destroyed before the call reads it: name it first.
    template <class Derived, class = std::enable_if_t<detail::is_owning_temporary_v<Derived>>, class = void>
    RowMask(Derived&& dangling_temporary) = delete;
    bool active() const { return data != nullptr; }
    bool keeps(Index row) const { return data == nullptr || data[row * stride]; }
};

/// Per-row weights w_r (finite, >= 0): a kept row's value counts w_r times in the reduction and its
/// gradients are scaled by w_r (e.g. a per-sample balance of forward and reverse KL in
/// distillation). The reduction's divisor does not change (`mean` still divides by the number of
/// kept rows); per-row values (Outputs::row_values) are unweighted. A weight of 0 gives the row a
/// zero gradient. A view of the caller's float or double vector, not a copy: a temporary vector
/// does not compile (it would be destroyed before the call reads it).
struct RowWeights {
    const float* floats = nullptr;
    const double* doubles = nullptr;
    Index size = 0;
    Index stride = 1;

    RowWeights() = default;
    template <class Derived>
    RowWeights(const Eigen::DenseBase<Derived>& w)  // NOLINT: implicit on purpose, `options.weights = w;`
    {
        using Scalar = typename Derived::Scalar;
        constexpr bool real = std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>;
        static_assert(real, "divergence: row weights are a float or double vector.");
        static_assert(!real || Derived::IsVectorAtCompileTime, "divergence: row weights are a vector.");
        static_assert(!real || !Derived::IsVectorAtCompileTime || detail::has_direct_access_v<Derived>,
                      "divergence: row weights need direct memory access: store them in a named vector first.");
        if constexpr (real && Derived::IsVectorAtCompileTime && detail::has_direct_access_v<Derived>) {
            if constexpr (std::is_same_v<Scalar, float>) {
                floats = w.derived().data();
            } else {
                doubles = w.derived().data();
            }
            size = w.size();
            stride = w.derived().innerStride();
        }
    }
    /// A temporary vector would be destroyed before the call reads it: name it first.
    template <class Derived, class = std::enable_if_t<detail::is_owning_temporary_v<Derived>>, class = void>
    RowWeights(Derived&& dangling_temporary) = delete;
    bool active() const { return floats != nullptr || doubles != nullptr; }
    double at(Index row) const { return doubles ? doubles[row * stride] : floats ? double(floats[row * stride]) : 1.0; }
};

/// Options shared by every divergence over rows.
struct Options {
    Reduction reduction = Reduction::mean;    ///< see Reduction
    Validation validation = Validation::full;  ///< see Validation
    /// Allowed |sum_i p_i - 1| for probabilities and |logsumexp_i| for log-probabilities, finite.
    /// < 0 (default): what normalizing a row of V entries in its own precision can leave,
    /// max(1e-4, V u / (1 - V u)) for float (u = 2^-24: 1e-4 up to V = 1677, 0.016 at V = 262144)
    /// and max(1e-6, V u / (1 - V u)) for double (u = 2^-53: 1e-6 up to V = 9e9); see docs/conventions.md.
    double tolerance = -1.0;
    RowMask mask = {};  ///< rows to keep; empty = all rows
    RowWeights weights = {};  ///< per-row weights (see RowWeights); empty = all 1
};

/// Where a call writes what it computes besides the reduced value. Every field is optional;
/// each is a caller-owned Eigen object with direct access (any storage order), written in place.
template <class Scalar>
struct Outputs {
    VectorOut<Scalar> row_values;  ///< (B): each row's divergence; masked rows get 0 (or call the *_rows function)
    MatrixOut<Scalar> grad_p;      ///< (B, V): d(result)/d(first argument), in its form
    MatrixOut<Scalar> grad_q;      ///< (B, V): d(result)/d(second argument), in its form
};

}  // namespace divergence

#endif
