#ifndef DIVERGENCE_CORE_CALL_HPP
#define DIVERGENCE_CORE_CALL_HPP

#include <string>
#include <type_traits>

#include "divergence/core/error.hpp"
#include "divergence/core/forms.hpp"
#include "divergence/core/low_precision.hpp"
#include "divergence/core/options.hpp"
#include "divergence/core/rows.hpp"

// How a public divergence runs its row kernel: the argument types are checked at compile time
// (one static_assert naming the mistake, and nothing after it), then the batch driver
// `detail::evaluate` computes the reduced value (`call`) or the per-row values (`call_rows`).
// Public functions take their arguments generically and are one line over these two.

namespace divergence::detail {

/// The scalar of an argument of a divergence (an Input or a bare Eigen object), or void.
template <class T, class = void>
struct argument_scalar {
    using type = void;
};
template <class S>
struct argument_scalar<Input<S>> {
    using type = S;
};
template <class T>
struct argument_scalar<T, std::enable_if_t<is_eigen_dense_v<T> || is_eigen_tensor_v<T>>> {
    using type = typename T::Scalar;
};
template <class T>
using argument_scalar_t = typename argument_scalar<T>::type;

/// The scalar a call with first argument P returns: P's (float for half and bfloat16), or double when
/// P is not an input (the call does not compile then; this keeps its declaration valid).
template <class P>
using result_scalar_t = std::conditional_t<is_input_scalar_v<argument_scalar_t<P>>,
                                           compute_scalar_t<argument_scalar_t<P>>, double>;

/// The default `out` of a call with first argument P.
template <class P>
using outputs_for = Outputs<result_scalar_t<P>>;

template <class T>
struct outputs_scalar {
    using type = void;
};
template <class S>
struct outputs_scalar<Outputs<S>> {
    using type = S;
};

/// Whether T is a sparse teacher (a top_k() teacher, discrete/top_k.hpp, marked by a member type
/// `sparse_teacher_tag`): call and call_rows hand a call whose p is one to call_sparse / call_sparse_rows,
/// which that header defines (so a divergence written over call takes top-k teachers as well).
template <class T, class = void>
struct is_sparse_teacher : std::false_type {};
template <class T>
struct is_sparse_teacher<T, std::void_t<typename T::sparse_teacher_tag>> : std::true_type {};

template <class Kernel, class Teacher, class Q, class Out>
result_scalar_t<Teacher> call_sparse(const char* function, const Kernel& kernel, const Teacher& teacher, const Q& q,
                                     const Options& options, const Out& out);
template <class Kernel, class Teacher, class Q, class Out>
RowValues<result_scalar_t<Teacher>> call_sparse_rows(const char* function, const Kernel& kernel, const Teacher& teacher,
                                                     const Q& q, const Options& options, const Out& out);

/// The first thing wrong with a call's argument types, in the order the checks below report them.
enum class ArgumentError {
    none,
    reported,  // an argument is probs()/log_probs()/logits() of a bad object: that call has said why
    p_not_an_input, p_integer, p_other_scalar,
    q_not_an_input, q_integer, q_other_scalar,
    p_float_q_double, p_double_q_float,
    out_not_outputs, out_double_inputs_float, out_float_inputs_double
};

template <class T>
constexpr ArgumentError input_error(ArgumentError not_an_input, ArgumentError integer, ArgumentError other)
{
    using S = argument_scalar_t<T>;
    if constexpr (std::is_same_v<T, InvalidInput>) return ArgumentError::reported;
    else if constexpr (std::is_void_v<S>) return not_an_input;
    else if constexpr (std::is_integral_v<S>) return integer;
    else if constexpr (!is_input_scalar_v<S>) return other;
    else return ArgumentError::none;
}

template <class P, class Q, class Out>
constexpr ArgumentError argument_error()
{
    using E = ArgumentError;
    constexpr E p = input_error<P>(E::p_not_an_input, E::p_integer, E::p_other_scalar);
    constexpr E q = input_error<Q>(E::q_not_an_input, E::q_integer, E::q_other_scalar);
    if constexpr (p == E::reported || q == E::reported) return E::reported;
    else if constexpr (p != E::none) return p;
    else if constexpr (q != E::none) return q;
    else {
        using SP = compute_scalar_t<argument_scalar_t<P>>;  // half and bfloat16 count as float
        using SQ = compute_scalar_t<argument_scalar_t<Q>>;
        using SO = typename outputs_scalar<Out>::type;
        if constexpr (!std::is_same_v<SP, SQ>) return std::is_same_v<SP, float> ? E::p_float_q_double : E::p_double_q_float;
        else if constexpr (std::is_void_v<SO>) return E::out_not_outputs;
        else if constexpr (!std::is_same_v<SO, SP>) return std::is_same_v<SP, float> ? E::out_double_inputs_float : E::out_float_inputs_double;
        else return E::none;
    }
}

/// One static_assert per mistake; at most one fails (the first mistake, argument_error).
template <ArgumentError error>
constexpr bool check_arguments()
{
    using E = ArgumentError;
    static_assert(error != E::p_not_an_input,
                  "divergence: p must be an Eigen object (probabilities) or probs(x), log_probs(x), logits(x, temperature).");
    static_assert(error != E::q_not_an_input,
                  "divergence: q must be an Eigen object (probabilities) or probs(x), log_probs(x), logits(x, temperature).");
    static_assert(error != E::p_integer, "divergence: p holds integers; inputs are float or double: convert it, e.g. p.cast<double>().");
    static_assert(error != E::q_integer, "divergence: q holds integers; inputs are float or double: convert it, e.g. q.cast<double>().");
    static_assert(error != E::p_other_scalar,
                  "divergence: p's scalar type is not float or double (half and bfloat16 logits are also read; long double, complex and custom scalars are not supported): convert it, e.g. p.cast<double>().");
    static_assert(error != E::q_other_scalar,
                  "divergence: q's scalar type is not float or double (half and bfloat16 logits are also read; long double, complex and custom scalars are not supported): convert it, e.g. q.cast<double>().");
    static_assert(error != E::p_float_q_double,
                  "divergence: p is float and q is double (half and bfloat16 count as float); convert one (p.cast<double>() or q.cast<float>()).");
    static_assert(error != E::p_double_q_float,
                  "divergence: p is double and q is float (half and bfloat16 count as float); convert one (p.cast<float>() or q.cast<double>()).");
    static_assert(error != E::out_not_outputs,
                  "divergence: the argument after the options must be a divergence::Outputs<Scalar> (gradients and per-row values).");
    static_assert(error != E::out_double_inputs_float,
                  "divergence: out is Outputs<double> but the inputs are float; use Outputs<float> (also for half and bfloat16 inputs).");
    static_assert(error != E::out_float_inputs_double,
                  "divergence: out is Outputs<float> but the inputs are double; use Outputs<double>.");
    return error == E::none;
}

/// Reduction::none has no single value: the scalar functions refuse it.
inline void check_scalar_reduction(const char* function, const Options& options)
{
    if (options.reduction == Reduction::none) {
        fail(function, "options.reduction",
             std::string("Reduction::none has one value per row, not a single value: call ") + function +
                 "_rows(...) to get them (or use Reduction::sum for their sum)");
    }
}

/// The reduced value of `kernel` over the rows of p and q (unary kernels: q is p).
template <class Kernel, class P, class Q, class Out>
result_scalar_t<P> call(const char* function, const Kernel& kernel, const P& p, const Q& q, const Options& options,
                        const Out& out)
{
    if constexpr (is_sparse_teacher<P>::value) {
        return call_sparse(function, kernel, p, q, options, out);
    } else if constexpr (check_arguments<argument_error<P, Q, Out>()>()) {
        check_scalar_reduction(function, options);
        const auto& p_input = as_input(p);
        if constexpr (Kernel::binary) {
            return evaluate(function, kernel, p_input, as_input(q), options, out);
        } else {
            return evaluate(function, kernel, p_input, p_input, options, out);
        }
    } else {
        return {};
    }
}

/// The per-row values of `kernel` (masked rows 0) as a new vector; gradients go to `out` as for
/// `call`, scaled for options.reduction (none: each row's own, as for sum).
template <class Kernel, class P, class Q, class Out>
RowValues<result_scalar_t<P>> call_rows(const char* function, const Kernel& kernel, const P& p, const Q& q,
                                        const Options& options, const Out& out)
{
    using Scalar = result_scalar_t<P>;
    if constexpr (is_sparse_teacher<P>::value) {
        return call_sparse_rows(function, kernel, p, q, options, out);
    } else if constexpr (check_arguments<argument_error<P, Q, Out>()>()) {
        const std::string name = std::string(function) + "_rows";
        if (out.row_values.requested()) {
            fail(name.c_str(), "row_values", "the per-row values are returned: leave Outputs::row_values empty");
        }
        const auto& p_input = as_input(p);
        RowValues<Scalar> values(p_input.rows());
        Outputs<Scalar> with_rows = out;
        with_rows.row_values = values;
        Options summed = options;
        if (summed.reduction == Reduction::none) summed.reduction = Reduction::sum;  // same gradients
        if constexpr (Kernel::binary) {
            evaluate(name.c_str(), kernel, p_input, as_input(q), summed, with_rows);
        } else {
            evaluate(name.c_str(), kernel, p_input, p_input, summed, with_rows);
        }
        return values;
    } else {
        return {};
    }
}

}  // namespace divergence::detail

#endif
