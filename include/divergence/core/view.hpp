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

/// Whether T is an Eigen::Tensor or Eigen::TensorMap of any rank (unsupported/Eigen/CXX11/Tensor,
/// which the library does not include itself): a type with NumIndices, Layout, data() and dimension().
template <class T, class = void>
struct is_eigen_tensor : std::false_type {};
template <class T>
struct is_eigen_tensor<T, std::void_t<decltype(T::NumIndices), decltype(T::Layout), typename T::Scalar,
                                      decltype(std::declval<T&>().data()), decltype(std::declval<const T&>().dimension(0))>>
    : std::true_type {};
template <class T>
inline constexpr bool is_eigen_tensor_v = is_eigen_tensor<std::remove_cv_t<std::remove_reference_t<T>>>::value;

/// A TensorMap (it names the tensor type it maps): it refers to storage owned elsewhere.
template <class T, class = void>
struct is_tensor_map : std::false_type {};
template <class T>
struct is_tensor_map<T, std::void_t<typename T::PlainObjectType>> : std::true_type {};

/// Whether an object of type T owns its entries (Matrix, Array, Tensor): a view of such an object
/// taken from an rvalue would dangle once the temporary is destroyed. Maps, TensorMaps, Refs to
/// writable data and blocks only refer to storage owned elsewhere.
template <class T>
inline constexpr bool owns_storage_v =
    std::is_base_of_v<Eigen::PlainObjectBase<std::remove_cv_t<T>>, std::remove_cv_t<T>> ||
    (is_eigen_tensor_v<T> && !is_tensor_map<std::remove_cv_t<T>>::value);

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

/// View of a tensor of rank R >= 1 (Eigen::Tensor or TensorMap), in place: the last dimension is
/// the distribution (e.g. batch x sequence x vocabulary), the others are flattened into rows in the
/// tensor's own order (row-major: row = b S + s; column-major, Eigen's default: row = b + B s).
template <class Scalar, class T>
MatrixView<Scalar> tensor_view_of(T& x)
{
    constexpr int rank = int(std::remove_cv_t<T>::NumIndices);
    static_assert(rank >= 1, "divergence: a tensor input needs rank 1 or more (the last dimension is the distribution).");
    MatrixView<Scalar> v;
    v.data = x.data();
    v.cols = Index(x.dimension(rank - 1));
    v.rows = 1;
    for (int d = 0; d + 1 < rank; ++d) v.rows *= Index(x.dimension(d));
    if (int(std::remove_cv_t<T>::Layout) == int(Eigen::RowMajor) || rank == 1) {
        v.row_stride = v.cols;
        v.col_stride = 1;
    } else {
        v.row_stride = 1;
        v.col_stride = v.rows;
    }
    return v;
}

/// The view of a dense Eigen object or a tensor.
template <class Scalar, class T>
MatrixView<Scalar> any_view_of(T& x)
{
    if constexpr (is_eigen_tensor_v<T>) {
        return tensor_view_of<Scalar>(x);
    } else {
        return view_of<Scalar>(x);
    }
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
    /// A tensor (Eigen::Tensor or TensorMap) of the input's shape, as tensor inputs are read.
    template <class T, class = std::enable_if_t<detail::is_eigen_tensor_v<T> && !detail::is_owning_temporary_v<T>>,
              class = void, class = void>
    MatrixOut(T&& x)  // NOLINT: implicit on purpose
    {
        static_assert(std::is_same_v<typename std::decay_t<T>::Scalar, Scalar>,
                      "divergence: an output must have the same scalar type as the inputs (Outputs<float> for float inputs).");
        if constexpr (std::is_same_v<typename std::decay_t<T>::Scalar, Scalar>) view = detail::tensor_view_of<Scalar>(x);
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
