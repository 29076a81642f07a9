#ifndef DIVERGENCE_CORE_VIEW_HPP
#define DIVERGENCE_CORE_VIEW_HPP

#include <memory>
#include <type_traits>

#include "divergence/core/config.hpp"

namespace divergence {

/// A (rows x cols) window on memory with arbitrary strides: how the batch driver sees every
/// input and output, whatever its Eigen type, storage order or blocking. A compile-time vector
/// is one distribution, i.e. a single row.
template <class Scalar>
struct MatrixView {
    Scalar* data = nullptr;
    Index rows = 0;
    Index cols = 0;
    Index row_stride = 0;  ///< distance between (r, c) and (r + 1, c)
    Index col_stride = 0;  ///< distance between (r, c) and (r, c + 1)

    Scalar& operator()(Index r, Index c) const { return data[r * row_stride + c * col_stride]; }
    Scalar* row(Index r) const { return data + r * row_stride; }
    bool empty() const { return data == nullptr; }
    /// Rows are contiguous: the fast kernels read them in place.
    bool contiguous_rows() const { return col_stride == 1; }
};

namespace detail {

template <class Derived>
inline constexpr bool has_direct_access_v = (int(Derived::Flags) & Eigen::DirectAccessBit) != 0;

/// View of an Eigen object with direct access (Matrix, Array, Map, Ref, Block...), no copy.
template <class Scalar, class Derived>
MatrixView<Scalar> view_of(Derived& x)
{
    static_assert(has_direct_access_v<std::remove_const_t<Derived>>,
                  "divergence: this Eigen object has no direct memory access; evaluate it first.");
    MatrixView<Scalar> v;
    v.data = x.data();
    if constexpr (Derived::IsVectorAtCompileTime) {
        v.rows = 1;
        v.cols = x.size();
        v.col_stride = x.innerStride();
        v.row_stride = x.size() * x.innerStride();
    } else if constexpr (Derived::IsRowMajor) {
        v.rows = x.rows();
        v.cols = x.cols();
        v.row_stride = x.outerStride();
        v.col_stride = x.innerStride();
    } else {
        v.rows = x.rows();
        v.cols = x.cols();
        v.row_stride = x.innerStride();
        v.col_stride = x.outerStride();
    }
    return v;
}

}  // namespace detail

/// A caller-owned output matrix (gradients): any writable Eigen object with direct access and
/// the same shape as the input it belongs to, written in place.
template <class Scalar>
struct MatrixOut {
    MatrixView<Scalar> view;
    MatrixOut() = default;
    template <class Derived,
              class = std::enable_if_t<std::is_base_of_v<Eigen::DenseBase<std::decay_t<Derived>>,
                                                         std::decay_t<Derived>>>>
    MatrixOut(Derived&& x)  // NOLINT: implicit on purpose, `out.grad_q = g;`
        : view(detail::view_of<Scalar>(x))
    {
        static_assert(std::is_same_v<typename std::decay_t<Derived>::Scalar, Scalar>,
                      "divergence: an output must have the same scalar type as the inputs.");
    }
    bool requested() const { return !view.empty(); }
};

/// A caller-owned output vector with one entry per row.
template <class Scalar>
struct VectorOut {
    Scalar* data = nullptr;
    Index size = 0;
    Index stride = 1;
    VectorOut() = default;
    template <class Derived,
              class = std::enable_if_t<std::is_base_of_v<Eigen::DenseBase<std::decay_t<Derived>>,
                                                         std::decay_t<Derived>>>>
    VectorOut(Derived&& x)  // NOLINT: implicit on purpose
        : data(x.data()), size(x.size()), stride(x.innerStride())
    {
        using D = std::decay_t<Derived>;
        static_assert(std::is_same_v<typename D::Scalar, Scalar>,
                      "divergence: an output must have the same scalar type as the inputs.");
        static_assert(D::IsVectorAtCompileTime, "divergence: per-row outputs must be vectors.");
        static_assert(detail::has_direct_access_v<D>, "divergence: outputs need direct memory access.");
    }
    bool requested() const { return data != nullptr; }
    Scalar& operator[](Index i) const { return data[i * stride]; }
};

}  // namespace divergence

#endif
