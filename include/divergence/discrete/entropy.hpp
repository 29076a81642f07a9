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

/// Shannon entropy per row: -sum_i p_i log p_i (an element kernel, core/element.hpp).
struct EntropyKernel {
    static constexpr bool binary = false;
    static constexpr bool partials_use_value = false;

    template <class V>
    V term(const ElementLanes<V>& e) const  // -p log p, 0 log 0 = 0
    {
        return zero_where(simd::equal(e.p, simd::broadcast<V>(0.0)), simd::sub(simd::broadcast<V>(0.0), simd::mul(e.p, e.log_p)));
    }
    double finish(double sum) const { return std::max(0.0, sum); }  // H >= 0
    template <class V>
    PartialLanes<V> partials(double, const ElementLanes<V>& e) const
    {
        const V minus_slope = simd::sub(simd::broadcast<V>(-1.0), e.log_p);  // -(log p + 1): +inf at p = 0
        PartialLanes<V> d;
        d.d_p = minus_slope;
        d.d_log_p = zero_where(simd::equal(e.p, simd::broadcast<V>(0.0)), simd::mul(e.p, minus_slope));
        d.d_q = d.d_log_q = simd::broadcast<V>(0.0);
        return d;
    }
};

/// Cross-entropy per row: -sum_i p_i log q_i (an element kernel, core/element.hpp).
struct CrossEntropyKernel {
    static constexpr bool binary = true;
    static constexpr bool partials_use_value = false;

    template <class V>
    V term(const ElementLanes<V>& e) const  // 0 log q = 0, also for q = 0; +inf when q = 0 < p
    {
        return zero_where(simd::equal(e.p, simd::broadcast<V>(0.0)), simd::sub(simd::broadcast<V>(0.0), simd::mul(e.p, e.log_q)));
    }
    // >= 0 in exact arithmetic (log q <= 0); rows within the tolerance may round slightly below.
    double finish(double sum) const { return std::max(0.0, sum); }
    template <class V>
    PartialLanes<V> partials(double, const ElementLanes<V>& e) const
    {
        const V zero = simd::broadcast<V>(0.0);
        const V p_zero = simd::equal(e.p, zero);
        const V outside = simd::keep(p_zero, simd::equal(e.q, zero));  // outside both supports: all 0
        PartialLanes<V> d;
        d.d_p = zero_where(outside, simd::sub(zero, e.log_q));
        d.d_log_p = zero_where(p_zero, simd::sub(zero, simd::mul(e.p, e.log_q)));
        d.d_q = zero_where(p_zero, simd::sub(zero, simd::div(e.p, e.q)));
        d.d_log_q = simd::sub(zero, e.p);
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

/// entropy per row: a vector of B values (masked rows 0); gradients as for kl_rows.
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

/// cross_entropy per row: a vector of B values (masked rows 0); gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> cross_entropy_rows(const P& p, const Q& q, const Options& options = {},
                                                         const Out& out = {})
{
    return detail::call_rows("cross_entropy", detail::CrossEntropyKernel{}, p, q, options, out);
}

namespace detail {

/// Compensated sums of the rows of a table, on the executor; with `bad` (validation), the first
/// column of each row whose entry is negative or not finite (-1: none).
template <class Scalar>
struct TableRowSums : IndexedRowJob {
    MatrixView<const Scalar> table;
    double* sums;
    Index* bad;

    struct State {
        CompensatedSum sum;
        Index bad = -1;  ///< first bad column of the chunk (chunks merge in order: the row's first)
    };
    State start(Pass<0>, Index) const { return {}; }
    void accumulate(Pass<0>, State& state, Index r, Index begin, Index end) const
    {
        for (Index c = begin; c < end; ++c) {
            const double e = double(table(r, c));
            if (state.bad < 0 && !(e >= 0.0 && std::isfinite(e))) state.bad = c;
            state.sum.add(e);
        }
    }
    void merge(Pass<0>, State& into, const State& next, Index) const
    {
        into.sum.merge(next.sum);
        if (into.bad < 0) into.bad = next.bad;
    }
    void finish(Pass<0>, Index& r, const State& state) const
    {
        sums[r] = state.sum.value();
        if (bad) bad[r] = state.bad;
    }
};

/// Row r's share of I(X; Y), sum_y p_xy log(p_xy / (p_x p_y)), and the gradient dI/dp_xy (see
/// mutual_information), on the executor.
template <class Scalar>
struct InformationJob : IndexedRowJob {
    MatrixView<const Scalar> table;
    const double* log_px;
    const double* log_py;
    double* information;
    const MatrixView<Scalar>* grad;

    CompensatedSum start(Pass<0>, Index) const { return {}; }
    void accumulate(Pass<0>, CompensatedSum& sum, Index r, Index begin, Index end) const
    {
        for (Index c = begin; c < end; ++c) {
            const double e = double(table(r, c));
            // p_xy > 0 implies p_x, p_y > 0: the term is finite.
            if (e > 0.0) sum.add(e * ((std::log(e) - log_px[r]) - log_py[c]));
        }
    }
    void merge(Pass<0>, CompensatedSum& into, const CompensatedSum& next, Index) const { into.merge(next); }
    void finish(Pass<0>, Index& r, const CompensatedSum& sum) const { information[r] = sum.value(); }
    bool writes() const { return grad != nullptr; }
    void write(Index r, Index begin, Index end) const
    {
        for (Index c = begin; c < end; ++c) {
            const double e = double(table(r, c));
            const double lx = log_px[r], ly = log_py[c];
            double g;
            if (e > 0.0) {
                g = (std::log(e) - lx) - ly - 1.0;
            } else if (lx == -infinity && ly == -infinity) {
                g = infinity;  // I(h) ~ -h log h
            } else if (lx == -infinity) {
                g = -ly - 1.0;  // the row of x appears: I(h) ~ -h (log p_y + 1)
            } else if (ly == -infinity) {
                g = -lx - 1.0;
            } else {
                g = -infinity;
            }
            (*grad)(r, c) = Scalar(g);
        }
    }
};

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

    // The marginals: row sums of the table and of its transpose (the column sums), on the executor.
    const bool check = options.validation == Validation::full;
    const MatrixView<const Scalar> transposed{v.data, v.cols, v.rows, v.col_stride, v.row_stride};
    std::vector<double> row_sums(std::size_t(v.rows)), col_sums(std::size_t(v.cols));
    std::vector<Index> bad_column(std::size_t(v.rows), -1);
    execute(TableRowSums<Scalar>{{}, v, row_sums.data(), check ? bad_column.data() : nullptr}, v.rows, Chunks{v.cols, fused_chunk});
    for (Index r = 0; r < v.rows; ++r) {  // the first bad entry in row order, as a serial scan finds it
        const Index c = bad_column[std::size_t(r)];
        if (c < 0) continue;
        const double e = double(v(r, c));
        if (!std::isfinite(e)) detail::fail(function, "joint", r, c, detail::describe("non-finite probability", e));
        detail::fail(function, "joint", r, c, detail::describe("negative probability", e));
    }
    execute(TableRowSums<Scalar>{{}, transposed, col_sums.data(), nullptr}, v.cols, Chunks{v.rows, fused_chunk});
    detail::CompensatedSum total;
    for (const double s : row_sums) total.add(s);
    const double tolerance = detail::tolerance_for<Scalar>(options, v.rows * v.cols);
    if (check && !(std::abs(total.value() - 1.0) <= tolerance)) {
        detail::fail(function, "joint",
                     tolerance_problem<Scalar>("entries sum to", total.value(), 1.0, tolerance, options, v.rows * v.cols));
    }
    std::vector<double> log_px(std::size_t(v.rows)), log_py(std::size_t(v.cols)), information(std::size_t(v.rows));
    for (Index r = 0; r < v.rows; ++r) log_px[std::size_t(r)] = std::log(row_sums[std::size_t(r)]);
    for (Index c = 0; c < v.cols; ++c) log_py[std::size_t(c)] = std::log(col_sums[std::size_t(c)]);
    const MatrixView<Scalar>* grad = out.grad_p.requested() ? &out.grad_p.view : nullptr;
    execute(InformationJob<Scalar>{{}, v, log_px.data(), log_py.data(), information.data(), grad}, v.rows, Chunks{v.cols, fused_chunk});
    detail::CompensatedSum sum;
    for (const double row : information) sum.add(row);
    return Scalar(std::max(0.0, sum.value()));  // I >= 0
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
