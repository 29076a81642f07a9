#ifndef DIVERGENCE_CORE_FORMS_HPP
#define DIVERGENCE_CORE_FORMS_HPP

#include <memory>
#include <type_traits>

#include "divergence/core/config.hpp"
#include "divergence/core/view.hpp"

namespace divergence {

/// What the numbers of an input are. Each row is one distribution.
enum class Form {
    probs,      ///< p_i >= 0, sum_i p_i = 1
    log_probs,  ///< log p_i in [-inf, 0], logsumexp_i = 0
    logits      ///< z_i in [-inf, +inf), p = softmax(z / temperature)
};

/// An input: a read-only view of the caller's matrix (never copied when it has direct memory
/// access) with its form. Built by `probs()`, `log_probs()` and `logits()`; a bare Eigen
/// object passed to a divergence means `probs(x)`.
template <class Scalar_>
class Input {
public:
    using Scalar = Scalar_;
    static_assert(detail::is_supported_scalar_v<Scalar>, "divergence: inputs must be float or double.");

    template <class Derived>
    Input(const Eigen::DenseBase<Derived>& x, Form form, double temperature) : form_(form), temperature_(temperature)
    {
        static_assert(std::is_same_v<typename Derived::Scalar, Scalar>, "divergence: scalar type mismatch.");
        if constexpr (detail::has_direct_access_v<Derived>) {
            view_ = detail::view_of<const Scalar>(x.derived());
        } else {
            // An expression (e.g. `p.array() / s`): evaluate it once, row-major.
            if constexpr (Derived::IsVectorAtCompileTime) {
                const Eigen::Matrix<Scalar, Eigen::Dynamic, 1> column = x.derived();
                owned_ = std::make_shared<RowMatrix<Scalar>>(column.transpose());
            } else {
                owned_ = std::make_shared<RowMatrix<Scalar>>(x.derived());
            }
            view_ = detail::view_of<const Scalar>(*owned_);
        }
    }

    Form form() const { return form_; }
    double temperature() const { return temperature_; }
    const MatrixView<const Scalar>& view() const { return view_; }
    Index rows() const { return view_.rows; }
    Index cols() const { return view_.cols; }

private:
    MatrixView<const Scalar> view_;
    std::shared_ptr<const RowMatrix<Scalar>> owned_;  // only for expressions without storage
    Form form_;
    double temperature_;
};

/// Rows are probability vectors (the default form).
template <class Derived>
Input<typename Derived::Scalar> probs(const Eigen::DenseBase<Derived>& x)
{
    return {x, Form::probs, 1.0};
}

/// Rows are log-probabilities (-inf allowed: probability 0).
template <class Derived>
Input<typename Derived::Scalar> log_probs(const Eigen::DenseBase<Derived>& x)
{
    return {x, Form::log_probs, 1.0};
}

/// Rows are logits z: p = softmax(z / temperature); temperature > 0. Gradients are d/dz
/// (they include the 1/temperature factor; no temperature^2 scaling).
template <class Derived>
Input<typename Derived::Scalar> logits(const Eigen::DenseBase<Derived>& x, double temperature = 1.0)
{
    return {x, Form::logits, temperature};
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
    return probs(x);
}

template <class T>
using input_t = std::decay_t<decltype(as_input(std::declval<const T&>()))>;

}  // namespace detail
}  // namespace divergence

#endif
