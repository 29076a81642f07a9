#ifndef DIVERGENCE_CORE_VIEW_HPP
#define DIVERGENCE_CORE_VIEW_HPP

#include <memory>
#include <type_traits>
#include <utility>

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

template <class Derived>
std::true_type derives_from_dense_base(const Eigen::DenseBase<Derived>*);
std::false_type derives_from_dense_base(...);

/// Whether T is an Eigen dense object (matrix, array, Map, Ref, block such as VectorBlock, or expression).
template <class T>
inline constexpr bool is_eigen_dense_v = decltype(derives_from_dense_base(std::declval<T*>()))::value;

/// Whether an object of type T owns its entries (Matrix, Array): a view of such an object taken
/// from an rvalue would dangle once the temporary is destroyed. Maps, Refs to writable data and
/// blocks only refer to storage owned elsewhere.
template <class T>
inline constexpr bool owns_storage_v = std::is_base_of_v<Eigen::PlainObjectBase<std::remove_cv_t<T>>, std::remove_cv_t<T>>;

/// Whether binding a view to an argument of type T&& (T deduced by a forwarding reference) would
/// dangle: T is not a reference (the argument is an rvalue) and owns its storage.
template <class T>
inline constexpr bool is_owning_temporary_v = !std::is_reference_v<T> && owns_storage_v<T>;

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
/// the same shape as the input it belongs to, written in place. It is a view: a temporary matrix
/// (`out.grad_q = Eigen::MatrixXd(b, v);`) does not compile, since it would be destroyed before
/// the call writes to it; blocks, Maps and Refs of the caller's matrices are fine.
template <class Scalar>
struct MatrixOut {
    MatrixView<Scalar> view;
    MatrixOut() = default;
    template <class Derived, class = std::enable_if_t<detail::is_eigen_dense_v<std::decay_t<Derived>> &&
                                                      !detail::is_owning_temporary_v<Derived>>>
    MatrixOut(Derived&& x)  // NOLINT: implicit on purpose, `out.grad_q = g;`
    {
        using D = std::decay_t<Derived>;
        static_assert(std::is_same_v<typename D::Scalar, Scalar>,
                      "divergence: an output must have the same scalar type as the inputs (Outputs<float> for float inputs).");
        static_assert(!std::is_same_v<typename D::Scalar, Scalar> || detail::has_direct_access_v<D>,
                      "divergence: an output needs direct memory access (a matrix, array, Map, Ref or block).");
        if constexpr (std::is_same_v<typename D::Scalar, Scalar> && detail::has_direct_access_v<D>) {
            view = detail::view_of<Scalar>(x);
        }
    }
    /// A temporary matrix would be destroyed before anything is written to it: name it first.
    template <class Derived, class = std::enable_if_t<detail::is_owning_temporary_v<Derived>>, class = void>
    MatrixOut(Derived&& dangling_temporary) = delete;
    bool requested() const { return !view.empty(); }
};

/// A caller-owned output vector with one entry per row. A view, like MatrixOut: a temporary
/// vector does not compile.
template <class Scalar>
struct VectorOut {
    Scalar* data = nullptr;
    Index size = 0;
    Index stride = 1;
    VectorOut() = default;
    template <class Derived, class = std::enable_if_t<detail::is_eigen_dense_v<std::decay_t<Derived>> &&
                                                      !detail::is_owning_temporary_v<Derived>>>
    VectorOut(Derived&& x)  // NOLINT: implicit on purpose
    {
        using D = std::decay_t<Derived>;
        constexpr bool same = std::is_same_v<typename D::Scalar, Scalar>;
        static_assert(same, "divergence: an output must have the same scalar type as the inputs (Outputs<float> for float inputs).");
        static_assert(!same || D::IsVectorAtCompileTime, "divergence: per-row outputs must be vectors.");
        static_assert(!same || !D::IsVectorAtCompileTime || detail::has_direct_access_v<D>,
                      "divergence: outputs need direct memory access.");
        if constexpr (same && D::IsVectorAtCompileTime && detail::has_direct_access_v<D>) {
            data = x.data();
            size = x.size();
            stride = x.innerStride();
        }
    }
    /// A temporary vector would be destroyed before anything is written to it: name it first.
    template <class Derived, class = std::enable_if_t<detail::is_owning_temporary_v<Derived>>, class = void>
    VectorOut(Derived&& dangling_temporary) = delete;
    bool requested() const { return data != nullptr; }
    Scalar& operator[](Index i) const { return data[i * stride]; }
};

}  // namespace divergence

#endif
