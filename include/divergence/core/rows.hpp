#ifndef DIVERGENCE_CORE_ROWS_HPP
#define DIVERGENCE_CORE_ROWS_HPP

#include <cmath>
#include <limits>
#include <vector>

#include "divergence/core/forms.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/options.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/core/validate.hpp"

// The one batch driver: every divergence over rows is a row kernel run by `evaluate`, which owns
// forms, validation, masks, threads, reductions and the chain rule to the input's form.
//
// A row kernel is a small struct:
//   static constexpr bool binary;             // two arguments (p, q) or one (p)
//   struct State;                             // mergeable partial sums over a slice of the row
//   void add(State&, const Element&) const;   // accumulate one element
//   Final finish(const State&) const;         // Final has `double value` (+ what partials need)
//   Partials partials(const Final&, const Element&) const;
// Element and Partials are in double; kernels never see forms, masks or strides.

namespace divergence {
namespace detail {

/// One element of the rows, in both parametrizations: p = exp(log_p) (q unused when unary).
struct Element {
    double p = 0.0, log_p = 0.0, q = 0.0, log_q = 0.0;
};

/// A kernel's derivatives at one element: d_p = dD/dp_i and d_log_p = p_i dD/dp_i = dD/dlog p_i
/// (exact where p_i = 0, where d_p may be infinite); likewise for q.
struct Partials {
    double d_p = 0.0, d_log_p = 0.0, d_q = 0.0, d_log_q = 0.0;
};

inline constexpr double infinity = std::numeric_limits<double>::infinity();

/// x * y with 0 * anything = 0 (the convention 0 log 0 = 0 carried to products).
inline double times(double x, double y) { return x == 0.0 ? 0.0 : x * y; }

/// One row of one input read as (p_i, log p_i). For logits, the streaming log-sum-exp of z / T
/// is taken once when the reader is made: log p_i = (z_i / T - max) - log(sum).
template <class Scalar>
class RowReader {
public:
    RowReader(const Input<Scalar>& x, Index row)
        : row_(x.view().row(row)), stride_(x.view().col_stride), form_(x.form()),
          inverse_temperature_(1.0 / x.temperature())
    {
        if (form_ == Form::logits) {
            LogSumExp lse;
            for (Index c = 0; c < x.cols(); ++c) lse.add(double(row_[c * stride_]) * inverse_temperature_);
            max_ = lse.max;
            log_sum_ = std::log(lse.sum);
        }
    }
    /// (p_i, log p_i).
    void read(Index c, double& p, double& log_p) const
    {
        const double x = double(row_[c * stride_]);
        switch (form_) {
        case Form::probs:
            p = x;
            log_p = std::log(x);  // log 0 = -inf
            break;
        case Form::log_probs:
            log_p = x;
            p = std::exp(x);
            break;
        case Form::logits:
            log_p = (x * inverse_temperature_ - max_) - log_sum_;
            p = std::exp(log_p);
            break;
        }
    }
    double inverse_temperature() const { return inverse_temperature_; }

private:
    const Scalar* row_;
    Index stride_;
    Form form_;
    double inverse_temperature_;
    double max_ = 0.0;
    double log_sum_ = 0.0;
};

/// Writes one gradient row in the input's form, given d_p and d_log_p at each column:
/// probs: d_p; log-probs: d_log_p; logits z/T: (d_log_p_j - p_j sum_i d_log_p_i) / T.
/// Where a row's value is infinite its logit gradient has no meaning: infinite entries are kept
/// and the others are 0 (no NaN).
template <class Scalar, class PartialAt>
void write_gradient(const MatrixView<Scalar>& out, Index row, const Input<Scalar>& x, const RowReader<Scalar>& reader,
                    double scale, const PartialAt& partial_at)
{
    const Index cols = x.cols();
    double p = 0.0, log_p = 0.0, d_p = 0.0, d_log_p = 0.0;
    switch (x.form()) {
    case Form::probs:
        for (Index c = 0; c < cols; ++c) {
            partial_at(c, d_p, d_log_p);
            out(row, c) = Scalar(scale * d_p);
        }
        break;
    case Form::log_probs:
        for (Index c = 0; c < cols; ++c) {
            partial_at(c, d_p, d_log_p);
            out(row, c) = Scalar(scale * d_log_p);
        }
        break;
    case Form::logits: {
        CompensatedSum total;
        for (Index c = 0; c < cols; ++c) {
            partial_at(c, d_p, d_log_p);
            total.add(d_log_p);
        }
        const double mean = total.value();
        const double factor = scale * reader.inverse_temperature();
        for (Index c = 0; c < cols; ++c) {
            partial_at(c, d_p, d_log_p);
            reader.read(c, p, log_p);
            const double g = std::isfinite(mean) ? d_log_p - times(p, mean) : (std::isfinite(d_log_p) ? 0.0 : d_log_p);
            out(row, c) = Scalar(factor * g);
        }
        break;
    }
    }
}

template <class Scalar>
void zero_row(const MatrixView<Scalar>& out, Index row)
{
    for (Index c = 0; c < out.cols; ++c) out(row, c) = Scalar(0);
}

/// Runs `kernel` over the rows of p (and q when the kernel is binary); returns the reduced value
/// and fills the requested outputs. `q` is ignored for unary kernels.
template <class Kernel, class Scalar>
Scalar evaluate(const char* function, const Kernel& kernel, const Input<Scalar>& p, const Input<Scalar>& q,
                const Options& options, const Outputs<Scalar>& out)
{
    constexpr bool binary = Kernel::binary;
    validate_input(function, "p", p, options);
    if constexpr (binary) {
        validate_shapes(function, p, q);
        validate_input(function, "q", q, options);
        validate_output(function, "grad_q", out.grad_q, q);
    } else if (out.grad_q.requested()) {
        fail(function, "grad_q", "this function has a single argument");
    }
    validate_output(function, "grad_p", out.grad_p, p);
    validate_output(function, out.row_values, p.rows());

    const Index rows = p.rows();
    const Index cols = p.cols();
    Index kept = 0;
    for (Index r = 0; r < rows; ++r) kept += options.mask.keeps(r) ? 1 : 0;
    const double scale = reduction_scale(options.reduction, kept, rows);
    std::vector<double> values(std::size_t(rows), 0.0);

#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (rows > 1)
#endif
    for (Index r = 0; r < rows; ++r) {
        if (!options.mask.keeps(r)) {
            if (out.grad_p.requested()) zero_row(out.grad_p.view, r);
            if constexpr (binary) {
                if (out.grad_q.requested()) zero_row(out.grad_q.view, r);
            }
            continue;
        }
        const RowReader<Scalar> p_row(p, r);
        const RowReader<Scalar> q_row = binary ? RowReader<Scalar>(q, r) : p_row;
        const auto element = [&](Index c) {
            Element e;
            p_row.read(c, e.p, e.log_p);
            if constexpr (binary) q_row.read(c, e.q, e.log_q);
            return e;
        };
        typename Kernel::State state{};
        for (Index c = 0; c < cols; ++c) kernel.add(state, element(c));
        const auto final_state = kernel.finish(state);
        values[std::size_t(r)] = final_state.value;

        if (out.grad_p.requested()) {
            write_gradient(out.grad_p.view, r, p, p_row, scale, [&](Index c, double& d, double& d_log) {
                const Partials parts = kernel.partials(final_state, element(c));
                d = parts.d_p;
                d_log = parts.d_log_p;
            });
        }
        if constexpr (binary) {
            if (out.grad_q.requested()) {
                write_gradient(out.grad_q.view, r, q, q_row, scale, [&](Index c, double& d, double& d_log) {
                    const Partials parts = kernel.partials(final_state, element(c));
                    d = parts.d_q;
                    d_log = parts.d_log_q;
                });
            }
        }
    }

    // Fixed-order reduction: the result does not depend on the number of threads.
    CompensatedSum total;
    for (Index r = 0; r < rows; ++r) {
        if (out.row_values.requested()) out.row_values[r] = Scalar(values[std::size_t(r)]);
        if (options.mask.keeps(r)) total.add(values[std::size_t(r)]);
    }
    return Scalar(total.value() * scale);
}

/// Entry point for unary kernels (entropy): no second argument.
template <class Kernel, class Scalar>
Scalar evaluate(const char* function, const Kernel& kernel, const Input<Scalar>& p, const Options& options,
                const Outputs<Scalar>& out)
{
    static_assert(!Kernel::binary, "divergence: a binary kernel needs two arguments.");
    return evaluate(function, kernel, p, p, options, out);
}

}  // namespace detail
}  // namespace divergence

#endif
