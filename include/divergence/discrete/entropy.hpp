#ifndef DIVERGENCE_DISCRETE_ENTROPY_HPP
#define DIVERGENCE_DISCRETE_ENTROPY_HPP

#include <algorithm>
#include <cmath>
#include <vector>

#include "divergence/core/error.hpp"
#include "divergence/core/call.hpp"
#include "divergence/core/rows.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/core/validate.hpp"

namespace divergence {
namespace detail {

/// Shannon entropy per row: -sum_i p_i log p_i.
struct EntropyKernel {
    static constexpr bool binary = false;
    using State = CompensatedSum;
    struct Final {
        double value;
    };

    void add(State& state, const Element& e) const { state.add(-times(e.p, e.log_p)); }  // 0 log 0 = 0
    Final finish(const State& state) const { return {std::max(0.0, state.value())}; }   // H >= 0
    Partials partials(const Final&, const Element& e) const
    {
        Partials d;
        d.d_p = -(e.log_p + 1.0);  // +inf at p_i = 0
        d.d_log_p = -times(e.p, e.log_p + 1.0);
        return d;
    }
};

/// Cross-entropy per row: -sum_i p_i log q_i.
struct CrossEntropyKernel {
    static constexpr bool binary = true;
    using State = CompensatedSum;
    struct Final {
        double value;
    };

    static double term(const Element& e)
    {
        if (e.p == 0.0) return 0.0;  // 0 log q = 0, also for q = 0
        return -e.p * e.log_q;       // +inf when q_i = 0 < p_i
    }
    void add(State& state, const Element& e) const { state.add(term(e)); }
    // >= 0 in exact arithmetic (log q <= 0); rows within the tolerance may round slightly below.
    Final finish(const State& state) const { return {std::max(0.0, state.value())}; }
    Partials partials(const Final&, const Element& e) const
    {
        Partials d;
        if (e.log_p == -infinity && e.log_q == -infinity) return d;  // outside both supports: 0
        d.d_p = -e.log_q;
        d.d_log_p = -times(e.p, e.log_q);
        d.d_q = e.p == 0.0 ? 0.0 : -e.p / e.q;
        d.d_log_q = -e.p;
        return d;
    }
};

}  // namespace detail

/// Shannon entropy H(P) = -sum_i p_i log p_i, in nats, per row; 0 <= H(P) <= log V.
/// 0 log 0 = 0.
/// Gradients: d/dp_i = -(log p_i + 1) (+inf at p_i = 0, as an unconstrained partial);
/// d/dlog p_i = -p_i (log p_i + 1) (0 at p_i = 0); from logits z / T: -p_i (log p_i + H) / T.
/// Accuracy: double with compensated sums; relative error about 1e-15 (double inputs).
/// \throws std::invalid_argument on bad entries, options or outputs (and if grad_q is requested).
template <class P, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> entropy(const P& p, const Options& options = {}, const Out& out = {})
{
    return detail::call("entropy", detail::EntropyKernel{}, p, p, options, out);
}

/// entropy per row: a vector of B values (masked rows 0).
template <class P, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> entropy_rows(const P& p, const Options& options = {}, const Out& out = {})
{
    return detail::call_rows("entropy", detail::EntropyKernel{}, p, p, options, out);
}

/// Cross-entropy H(P, Q) = -sum_i p_i log q_i = H(P) + KL(P || Q), in nats, per row.
/// Terms with p_i = 0 count 0; p_i > 0 with q_i = 0 gives +inf.
/// Gradients: d/dp_i = -log q_i, d/dq_i = -p_i / q_i; d/dlog p_i = -p_i log q_i, d/dlog q_i = -p_i;
/// from logits z_Q / T: (q - p) / T (the usual softmax cross-entropy gradient).
/// Accuracy: double with compensated sums; relative error about 1e-15 (double inputs).
/// \throws std::invalid_argument on bad shapes, entries, options or outputs.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> cross_entropy(const P& p, const Q& q, const Options& options = {}, const Out& out = {})
{
    return detail::call("cross_entropy", detail::CrossEntropyKernel{}, p, q, options, out);
}

/// cross_entropy per row: a vector of B values (masked rows 0).
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> cross_entropy_rows(const P& p, const Q& q, const Options& options = {},
                                                         const Out& out = {})
{
    return detail::call_rows("cross_entropy", detail::CrossEntropyKernel{}, p, q, options, out);
}

namespace detail {

template <class Scalar>
Scalar mutual_information(const Input<Scalar>& input, const Options& options, const Outputs<Scalar>& out)
{
    constexpr const char* function = "mutual_information";
    if (input.form() != Form::probs) detail::fail(function, "joint", "must be a table of probabilities");
    const MatrixView<const Scalar>& v = input.view();
    if (v.rows == 0 || v.cols == 0) {
        detail::fail(function, "joint",
                     "empty table (" + std::to_string(v.rows) + " x " + std::to_string(v.cols) + ")");
    }
    if (options.mask.active()) detail::fail(function, "mask", "a joint table is one distribution, not a batch of rows");
    if (out.row_values.requested()) detail::fail(function, "row_values", "a joint table has a single value");
    if (out.grad_q.requested()) detail::fail(function, "grad_q", "this function has a single argument");
    if (!(options.tolerance < 0 || std::isfinite(options.tolerance))) {
        detail::fail(function, "options.tolerance", detail::describe("must be finite, got", options.tolerance));
    }
    detail::validate_output(function, "grad_p", out.grad_p, input);

    std::vector<detail::CompensatedSum> rows(std::size_t(v.rows)), cols(std::size_t(v.cols));
    detail::CompensatedSum total;
    const bool check = options.validation == Validation::full;
    for (Index r = 0; r < v.rows; ++r) {
        for (Index c = 0; c < v.cols; ++c) {
            const double e = double(v(r, c));
            if (check && !std::isfinite(e)) detail::fail(function, "joint", r, c, detail::describe("non-finite probability", e));
            if (check && e < 0.0) detail::fail(function, "joint", r, c, detail::describe("negative probability", e));
            rows[std::size_t(r)].add(e);
            cols[std::size_t(c)].add(e);
            total.add(e);
        }
    }
    const double tolerance = detail::tolerance_for<Scalar>(options, v.rows * v.cols);
    if (check && !(std::abs(total.value() - 1.0) <= tolerance)) {
        detail::fail(function, "joint",
                     tolerance_problem<Scalar>("entries sum to", total.value(), 1.0, tolerance, options, v.rows * v.cols));
    }
    std::vector<double> log_px(std::size_t(v.rows)), log_py(std::size_t(v.cols));
    for (Index r = 0; r < v.rows; ++r) log_px[std::size_t(r)] = std::log(rows[std::size_t(r)].value());
    for (Index c = 0; c < v.cols; ++c) log_py[std::size_t(c)] = std::log(cols[std::size_t(c)].value());

    detail::CompensatedSum information;
    for (Index r = 0; r < v.rows; ++r) {
        for (Index c = 0; c < v.cols; ++c) {
            const double e = double(v(r, c));
            // p_xy > 0 implies p_x, p_y > 0: the term is finite.
            if (e > 0.0) information.add(e * ((std::log(e) - log_px[std::size_t(r)]) - log_py[std::size_t(c)]));
        }
    }
    if (out.grad_p.requested()) {
        for (Index r = 0; r < v.rows; ++r) {
            for (Index c = 0; c < v.cols; ++c) {
                const double e = double(v(r, c));
                const double lx = log_px[std::size_t(r)], ly = log_py[std::size_t(c)];
                double g;
                if (e > 0.0) {
                    g = (std::log(e) - lx) - ly - 1.0;
                } else if (lx == -detail::infinity && ly == -detail::infinity) {
                    g = detail::infinity;  // I(h) ~ -h log h
                } else if (lx == -detail::infinity) {
                    g = -ly - 1.0;  // the row of x appears: I(h) ~ -h (log p_y + 1)
                } else if (ly == -detail::infinity) {
                    g = -lx - 1.0;
                } else {
                    g = -detail::infinity;
                }
                out.grad_p.view(r, c) = Scalar(g);
            }
        }
    }
    return Scalar(std::max(0.0, information.value()));  // I >= 0
}

}  // namespace detail

/// Mutual information I(X; Y) = sum_xy p_xy log(p_xy / (p_x p_y)), in nats, of ONE joint
/// probability table (rows: values of X, columns: values of Y; all entries sum to 1), not a
/// batch of rows. p_x and p_y are the row and column sums (compensated). 0 <= I <= min(H(X), H(Y)).
/// Entries with p_xy = 0 count 0. The table is used as given (not renormalized).
/// `joint` is a bare Eigen object or probs(x) (other forms throw). options.validation and
/// options.tolerance (on |sum - 1|) apply; options.reduction is ignored (there is one value) and
/// options.mask must be empty. out.grad_p, if requested, receives dI/dp_xy in the table's shape;
/// out.row_values and out.grad_q must not be requested.
/// Gradient: dI/dp_xy = log(p_xy / (p_x p_y)) - 1, the partial derivative treating every entry as
/// a free variable (the marginals move with it; the constraint sum = 1 is not projected out, so
/// adding a constant to the gradient is as good). Where p_xy = 0 it is the one-sided limit:
/// -inf if p_x, p_y > 0; -log p_y - 1 if row x is all zero; -log p_x - 1 if column y is all zero;
/// +inf if both are.
/// Accuracy: double with compensated sums; absolute error about 1e-16 (H(X) + H(Y)).
/// \throws std::invalid_argument for an empty table, a negative or non-finite entry (naming its
/// row and column), a total that differs from 1 by more than the tolerance, or misused options
/// or outputs.
template <class P, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> mutual_information(const P& joint, const Options& options = {}, const Out& out = {})
{
    if constexpr (detail::check_arguments<detail::argument_error<P, P, Out>()>()) {
        return detail::mutual_information(detail::as_input(joint), options, out);
    } else {
        return {};
    }
}


}  // namespace divergence

#endif
