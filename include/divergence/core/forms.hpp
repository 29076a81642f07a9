#ifndef DIVERGENCE_CORE_FORMS_HPP
#define DIVERGENCE_CORE_FORMS_HPP

#include <memory>
#include <type_traits>
#include <utility>

#include "divergence/core/config.hpp"
#include "divergence/core/view.hpp"

namespace divergence {

/// What the numbers of an input are. Each row is one distribution.
enum class Form {
    probs,      ///< p_i >= 0, sum_i p_i = 1
    log_probs,  ///< log p_i in [-inf, 0], logsumexp_i = 0
    logits      ///< z_i in [-inf, +inf), p = softmax(z / temperature)
};

/// An input: the caller's matrix with its form. Built by `probs()`, `log_probs()` and `logits()`;
/// a bare Eigen object passed to a divergence means `probs(x)`.
/// What it holds, by argument:
/// - a named object with direct memory access (Matrix, Array, Map, Ref, blocks such as
///   `x.topRows(3)` or `x.row(i)`): a view, never a copy; the object must outlive the Input;
/// - a temporary Matrix or Array (`logits(RowMatrix<float>(x))`): moved into the Input, not copied;
/// - an expression without storage (`x * 2`, `x.array().exp()`): evaluated once into a row-major
///   matrix the Input owns;
/// - a temporary `Ref<const T>` (which may hold a private copy of an expression): copied.
/// So an Input never refers to a destroyed object, except a Map or block of a temporary, which no
/// type can tell apart from one of a named matrix.
template <class Scalar_>
class Input {
public:
    using Scalar = Scalar_;
    static_assert(detail::is_supported_scalar_v<Scalar> || detail::is_low_precision_v<Scalar>,
                  "divergence: inputs must be float or double (or half / bfloat16 logits).");

    /// A view of x, or for an expression without storage an owned row-major evaluation of it.
    template <class Derived>
    Input(const Eigen::DenseBase<Derived>& x, Form form, double temperature) : form_(form), temperature_(temperature)
    {
        static_assert(std::is_same_v<typename Derived::Scalar, Scalar>, "divergence: scalar type mismatch.");
        if constexpr (detail::has_direct_access_v<Derived>) {
            view_ = detail::view_of<const Scalar>(x.derived());
        } else {
            // An expression (e.g. `p.array() / s`): evaluate it once, row-major.
            std::shared_ptr<const RowMatrix<Scalar>> owned;
            if constexpr (Derived::IsVectorAtCompileTime) {
                const Eigen::Matrix<Scalar, Eigen::Dynamic, 1> column = x.derived();
                owned = std::make_shared<const RowMatrix<Scalar>>(column.transpose());
            } else {
                owned = std::make_shared<const RowMatrix<Scalar>>(x.derived());
            }
            view_ = detail::view_of<const Scalar>(*owned);
            owned_ = std::move(owned);
        }
    }

    /// A view of a tensor (Eigen::Tensor or TensorMap, read in place): the last dimension is the
    /// distribution, the others are flattened into rows (detail::tensor_view_of).
    template <class T, class = std::enable_if_t<detail::is_eigen_tensor_v<T>>>
    Input(const T& x, Form form, double temperature)
        : view_(detail::tensor_view_of<const Scalar>(x)), form_(form), temperature_(temperature)
    {
        static_assert(std::is_same_v<typename T::Scalar, Scalar>, "divergence: scalar type mismatch.");
    }

    /// Holds `owned` (a matrix, array or tensor moved or copied from a temporary) and views it.
    template <class Object>
    Input(std::shared_ptr<const Object> owned, Form form, double temperature)
        : view_(detail::any_view_of<const Scalar>(*owned)), owned_(std::move(owned)), form_(form), temperature_(temperature)
    {
    }

    /// A view of `view` (rows [r, r + n) of another input, or a scratch tile), which must outlive the Input.
    Input(const MatrixView<const Scalar>& view, Form form, double temperature)
        : view_(view), form_(form), temperature_(temperature)
    {
    }

    Form form() const { return form_; }
    double temperature() const { return temperature_; }
    const MatrixView<const Scalar>& view() const { return view_; }
    Index rows() const { return view_.rows; }
    Index cols() const { return view_.cols; }
    /// Whether the Input holds its numbers itself (a temporary or an evaluated expression).
    bool owns() const { return owned_ != nullptr; }

private:
    MatrixView<const Scalar> view_;
    std::shared_ptr<const void> owned_;  // only for temporaries and expressions without storage
    Form form_;
    double temperature_;
};

namespace detail {

/// What probs() / log_probs() / logits() return for an argument that is not a float or double Eigen
/// object: the static_assert has said why, and the divergence called with it adds nothing.
struct InvalidInput {};

template <class T>
struct is_input : std::false_type {};
template <class S>
struct is_input<Input<S>> : std::true_type {};

template <class T>
struct is_ref_to_const : std::false_type {};
template <class T, int Options, class Stride>
struct is_ref_to_const<Eigen::Ref<const T, Options, Stride>> : std::true_type {};

/// The scalar of an Eigen object or tensor, or void for anything else.
template <class T, bool = is_eigen_dense_v<T> || is_eigen_tensor_v<T>>
struct eigen_scalar {
    using type = void;
};
template <class T>
struct eigen_scalar<T, true> {
    using type = typename T::Scalar;
};
template <class T>
using eigen_scalar_t = typename eigen_scalar<T>::type;

template <class S>
inline constexpr bool is_input_scalar_v = is_supported_scalar_v<S> || is_low_precision_v<S>;

template <class X>
using input_for = std::conditional_t<is_input_scalar_v<eigen_scalar_t<std::decay_t<X>>>,
                                     Input<eigen_scalar_t<std::decay_t<X>>>, InvalidInput>;

/// The Input of x with the rules of Input's comment; one static_assert for an argument that cannot be one.
template <class X>
input_for<X> make_input(X&& x, Form form, double temperature)
{
    using D = std::decay_t<X>;
    constexpr bool eigen = is_eigen_dense_v<D> || is_eigen_tensor_v<D>;
    static_assert(eigen, "divergence: probs(), log_probs() and logits() take an Eigen object (a matrix, array, vector, "
                         "Map, Ref, block, expression, Tensor or TensorMap).");
    static_assert(!eigen || !std::is_integral_v<eigen_scalar_t<D>>,
                  "divergence: this input holds integers; probabilities, log-probabilities and logits are float or "
                  "double: convert it, e.g. x.cast<double>().");
    static_assert(!eigen || std::is_integral_v<eigen_scalar_t<D>> || is_input_scalar_v<eigen_scalar_t<D>>,
                  "divergence: inputs are float or double, or half / bfloat16 logits (not long double, complex or a "
                  "custom scalar): convert it, e.g. x.cast<double>().");
    using Result = input_for<X>;
    if constexpr (std::is_same_v<Result, InvalidInput>) {
        return {};
    } else if constexpr (is_owning_temporary_v<X>) {
        return Result(std::make_shared<const D>(std::move(x)), form, temperature);  // moved, not copied
    } else if constexpr (!std::is_reference_v<X> && is_ref_to_const<std::remove_cv_t<X>>::value) {
        // A temporary Ref<const T> may own a copy of an expression that dies with it.
        return Result(std::make_shared<const typename D::PlainObject>(x), form, temperature);
    } else {
        return Result(x, form, temperature);
    }
}

}  // namespace detail

/// Rows are probability vectors (the default form).
template <class X>
detail::input_for<X> probs(X&& x)
{
    return detail::make_input(std::forward<X>(x), Form::probs, 1.0);
}

/// Rows are log-probabilities (-inf allowed: probability 0).
template <class X>
detail::input_for<X> log_probs(X&& x)
{
    return detail::make_input(std::forward<X>(x), Form::log_probs, 1.0);
}

/// Rows are logits z: p = softmax(z / temperature); temperature > 0. Gradients are d/dz
/// (they include the 1/temperature factor; no temperature^2 scaling).
template <class X>
detail::input_for<X> logits(X&& x, double temperature = 1.0)
{
    return detail::make_input(std::forward<X>(x), Form::logits, temperature);
}

namespace detail {

template <class Scalar>
const Input<Scalar>& as_input(const Input<Scalar>& x)
{
    return x;
}

template <class Derived>
Input<typename Derived::Scalar> as_input(const Eigen::DenseBase<Derived>& x)
{
    return probs(x.derived());
}

/// A bare tensor means probabilities too.
template <class T, class = std::enable_if_t<is_eigen_tensor_v<T>>>
Input<typename T::Scalar> as_input(const T& x)
{
    return probs(x);
}

template <class T>
using input_t = std::decay_t<decltype(as_input(std::declval<const T&>()))>;

}  // namespace detail
}  // namespace divergence

#endif
