#ifndef DIVERGENCE_LOSSES_TOKEN_HPP
#define DIVERGENCE_LOSSES_TOKEN_HPP

// Per-token losses from class indices: the log-probability of each row's label and the cross-entropy
// (negative log-likelihood) with PyTorch's ignore_index and label smoothing, against a model given as
// logits(z, T) (streamed: one pass for the log-sum-exp, one for the gradient) or log_probs(x).

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "divergence/core/call.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/forms.hpp"
#include "divergence/core/options.hpp"
#include "divergence/core/rows.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/core/validate.hpp"
#include "divergence/core/view.hpp"

namespace divergence {

/// A target given by one class index per row: `indices` (a vector of B integers in [0, V), or
/// ignore_index for a row that does not count), spread by label smoothing eps into the distribution
/// t_j = (1 - eps) [j == y] + eps / V (PyTorch's cross_entropy: the label gets 1 - eps + eps / V).
/// Built by labels(); a view of the caller's vector (a temporary does not compile).
template <class IndexScalar>
struct Labels {
    MatrixView<const IndexScalar> indices;  ///< 1 x B
    double label_smoothing = 0.0;           ///< eps in [0, 1]
    long long ignore_index = -100;          ///< rows with this label are dropped (value 0, gradient 0)
};

/// The labels `y` (an Eigen vector of integers, e.g. Eigen::VectorXi or a vector of int64_t), with
/// label smoothing eps in [0, 1] and PyTorch's default ignore_index -100.
template <class I>
auto labels(I&& y, double label_smoothing = 0.0, long long ignore_index = -100)
{
    using Vector = std::decay_t<I>;
    static_assert(detail::is_eigen_dense_v<Vector> && std::is_integral_v<typename Vector::Scalar> && Vector::IsVectorAtCompileTime,
                  "divergence::labels: labels must be an Eigen vector of integers (one class index per row).");
    static_assert(!detail::is_owning_temporary_v<I>,
                  "divergence::labels: labels must be a named vector (a temporary would be destroyed before the call).");
    static_assert(detail::has_direct_access_v<Vector>, "divergence::labels: labels need direct memory access.");
    using IndexScalar = typename Vector::Scalar;
    return Labels<IndexScalar>{detail::view_of<const IndexScalar>(y), label_smoothing, ignore_index};
}

namespace detail {

/// Per row, with log q_j the model's log-probabilities (logits: (z_j - m) / T - log sum_l e^((z_l - m) / T),
/// m the row's largest logit; log_probs: x_j), y the label, eps the smoothing:
///   value = -(1 - eps) log q_y - eps mean_j log q_j       (cross-entropy; sign -1: log q_y)
///   d value / d z_j = (q_j - t_j) / T,   d value / d log q_j = -t_j,   t_j = (1 - eps)[j == y] + eps / V.
/// One pass (the log-sum-exp, and sum_j z_j when eps > 0) and the gradient's write.
template <class Scalar, class IndexScalar>
struct TokenLossJob {
    const Labels<IndexScalar>& target;
    const Input<Scalar>& model;
    const RowSelection& selection;  ///< the mask and the ignored rows dropped
    const MatrixView<Scalar>* grad;
    double scale;  ///< the reduction's factor
    double sign;   ///< +1: cross-entropy, -1: log-probability of the label
    double* values;

    struct Row {
        Index index = 0;
        Index label = 0;
        double reference = 0.0, log_norm = 0.0;  ///< logits: log q_j = (z_j - reference) t - log_norm
    };
    struct Sums {
        LogSumExp lse;
        CompensatedSum entries;  ///< sum_j z_j (or x_j), for the smoothing term
        void merge(const Sums& next, double t)
        {
            lse.merge(next.lse, t);
            entries.merge(next.entries);
        }
    };
    static constexpr int passes = 1;

    bool logits() const { return model.form() == Form::logits; }
    double inverse_temperature() const { return logits() ? 1.0 / model.temperature() : 1.0; }
    double smoothing() const { return target.label_smoothing; }
    bool keeps(Index r) const { return selection.keeps(r); }
    void skip(Index r) const
    {
        if (grad) zero_row(*grad, r);
    }
    Row row(Index r) const
    {
        Row row;
        row.index = r;
        row.label = Index(target.indices(0, r));
        return row;
    }
    Sums start(Pass<0>, const Row&) const { return {}; }
    void accumulate(Pass<0>, Sums& sums, const Row& row, Index begin, Index end) const
    {
        const MatrixView<const Scalar>& z = model.view();
        if (logits()) accumulate_row_logsumexp(sums.lse, z, row.index, begin, end, inverse_temperature());
        if (smoothing() > 0.0) {
            for (Index c = begin; c < end; ++c) sums.entries.add(double(z(row.index, c)));
        }
    }
    void merge(Pass<0>, Sums& into, const Sums& next, const Row&) const { into.merge(next, inverse_temperature()); }
    double log_q(const Row& row, Index c) const
    {
        const double x = double(model.view()(row.index, c));
        return logits() ? (x - row.reference) * inverse_temperature() - row.log_norm : x;
    }
    void finish(Pass<0>, Row& row, const Sums& sums) const
    {
        if (logits()) {
            row.reference = sums.lse.reference();
            row.log_norm = sums.lse.log_sum();
        }
        const double eps = smoothing();
        double value = -(1.0 - eps) * log_q(row, row.label);
        if (eps > 0.0) {
            // mean_j log q_j = (mean_j z_j - reference) t - log_norm: -inf if a logit is -inf.
            const double mean = sums.entries.value() / double(model.cols());
            const double mean_log_q = logits() ? (mean - row.reference) * inverse_temperature() - row.log_norm : mean;
            value = (eps < 1.0 ? value : 0.0) - eps * mean_log_q;
        }
        values[row.index] = sign * value;
    }
    bool writes() const { return grad != nullptr; }
    void write(const Row& row, Index begin, Index end) const
    {
        if (logits()) {
            write_softmax<simd::Packet<Scalar>>(row, begin, end);
        } else {
            for (Index c = begin; c < end; ++c) (*grad)(row.index, c) = Scalar(factor(row) * -target_at(row, c));
        }
    }
    double factor(const Row& row) const { return sign * scale * selection.weight(row.index) * inverse_temperature(); }
    double target_at(const Row& row, Index c) const
    {
        const double eps = smoothing(), uniform = eps / double(model.cols());
        return c == row.label ? 1.0 - eps + uniform : uniform;
    }
    /// factor (q_j - t_j) with q_j = exp(x_j - log_norm), x_j = (z_j - reference) t, in packets of the
    /// input's precision (as the fused kernels take them); the label's entry again in double.
    template <class P>
    void write_softmax(const Row& row, Index begin, Index end) const
    {
        const Index r = row.index;
        const double f = factor(row);
        constexpr Index width = simd::lanes<P>;
        const P ref = simd::broadcast<P>(Scalar(row.reference));
        const P t = simd::broadcast<P>(Scalar(inverse_temperature()));
        const P c_all = simd::broadcast<P>(Scalar(row.log_norm));
        const P f_lanes = simd::broadcast<P>(Scalar(f));
        const P uniform = simd::broadcast<P>(Scalar(f * smoothing() / double(model.cols())));
        const MatrixView<const Scalar>& z = model.view();
        const bool contiguous = grad->contiguous_rows();
        alignas(64) Scalar buffer[fused_block];
        for (Index b = begin; b < end; b += fused_block) {
            const Index block = std::min(fused_block, end - b);
            const Scalar* zb = row_block(z, r, b, block, buffer);
            for (Index i = 0; i < block; i += width) {
                const Index j = b + i, n = std::min(width, block - i);
                const P x = simd::mul(simd::sub(simd::load_upto<P>(zb + i, n, Scalar(row.reference)), ref), t);
                const P g = simd::sub(simd::mul(f_lanes, simd::exp(simd::sub(x, c_all))), uniform);
                if (contiguous) {
                    simd::store_upto(grad->row(r) + j, g, n);
                } else {
                    alignas(64) Scalar lanes[width];
                    simd::store(lanes, g);
                    for (Index l = 0; l < n; ++l) (*grad)(r, j + l) = lanes[l];
                }
            }
        }
        if (row.label >= begin && row.label < end) {
            (*grad)(r, row.label) = Scalar(f * (std::exp(log_q(row, row.label)) - target_at(row, row.label)));
        }
    }
};

template <class Scalar, class IndexScalar>
Scalar token_loss(const char* function, const Labels<IndexScalar>& target, const Input<Scalar>& model,
                  const Options& options, const Outputs<Scalar>& out, double sign)
{
    const Index rows = model.rows(), cols = model.cols();
    if (model.form() == Form::probs) {
        fail(function, "q", "the model must be given as logits(z, temperature) or log_probs(x) (a bare matrix means probabilities)");
    }
    if (target.indices.cols != rows) {
        fail(function, "labels", "has " + std::to_string(target.indices.cols) + " entries for " + std::to_string(rows) + " rows");
    }
    if (!(target.label_smoothing >= 0.0 && target.label_smoothing <= 1.0)) {
        fail(function, "label_smoothing", describe("must be in [0, 1], got", target.label_smoothing));
    }
    if (sign < 0.0 && target.label_smoothing != 0.0) {
        fail(function, "label_smoothing", describe("the log-probability of a label takes no label smoothing, got", target.label_smoothing));
    }
    if (options.mask.active() && options.mask.size != rows) {
        fail(function, "mask", "has " + std::to_string(options.mask.size) + " entries for " + std::to_string(rows) + " rows");
    }
    // Labels are checked whatever the validation level: one out of range would be read outside its row.
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(rows);
    for (Index r = 0; r < rows; ++r) {
        const long long y = static_cast<long long>(target.indices(0, r));
        keep(r) = options.mask.keeps(r) && y != target.ignore_index;
        if (keep(r) && !(y >= 0 && y < static_cast<long long>(cols))) {
            fail(function, "labels", r, -1,
                 "label out of [0, V = " + std::to_string(cols) + ") and not ignore_index (" + std::to_string(target.ignore_index) +
                     "), got " + std::to_string(y));
        }
    }
    Options kept = options;  // the rows that count: the mask's, without the ignored labels
    kept.mask = keep;
    validate_input(function, "q", model, kept);
    validate_output(function, "grad_q", out.grad_q, model);
    if (out.grad_p.requested()) fail(function, "grad_p", "labels have no gradient");
    validate_output(function, out.row_values, rows);
    const RowSelection selection(function, kept, rows);
    const double scale = reduction_scale(options.reduction, selection.kept(rows), rows);
    std::vector<double> values(std::size_t(rows), 0.0);
    const MatrixView<Scalar>* grad = out.grad_q.requested() ? &out.grad_q.view : nullptr;
    const TokenLossJob<Scalar, IndexScalar> job{target, model, selection, grad, scale, sign, values.data()};
    execute(job, rows, Chunks{cols, fused_chunk});
    return reduce_rows(values, selection, scale, out.row_values);
}

template <class Q, class Out>
constexpr bool check_token_arguments()
{
    using S = argument_scalar_t<Q>;
    constexpr bool real = std::is_same_v<S, float> || std::is_same_v<S, double>;
    static_assert(real || std::is_same_v<Q, InvalidInput>,
                  "divergence: the model must be logits(z, temperature) or log_probs(x) of a float or double Eigen object.");
    static_assert(!real || std::is_same_v<Out, Outputs<S>>, "divergence: out must be Outputs<Scalar> of the model's scalar.");
    return real && std::is_same_v<Out, Outputs<S>>;
}

}  // namespace detail

/// Cross-entropy of a model against class labels (PyTorch's torch.nn.functional.cross_entropy, and
/// nll_loss when the model is given as log_probs), per row: -(1 - eps) log q_y - eps mean_j log q_j,
/// i.e. -sum_j t_j log q_j with t the smoothed one-hot target of labels(y, eps) (see Labels), for a
/// model q = softmax(z / T) given as logits(z, T) or as log_probs(x) (used as given, not renormalized).
/// Rows whose label is ignore_index, and rows the mask drops, have value 0 and gradient 0 and are not
/// counted by Reduction::mean (PyTorch's reduction='mean': the mean over the non-ignored rows);
/// Options::weights weight the kept rows as for every divergence. +inf if log q_y = -inf (or, with
/// eps > 0, any log q_j = -inf).
/// Gradient (Outputs::grad_q): from logits (q - t) / T, from log-probabilities -t, times the
/// reduction's factor and the row's weight. Labels have none (grad_p throws).
/// Accuracy: the streamed log-sum-exp of the library; double sums; relative error about 1e-15 (double).
/// \throws std::invalid_argument if the labels' length differs from the rows, a label that counts is out
/// of [0, V), label_smoothing is outside [0, 1], the model is not logits or log-probabilities, or on
/// the inputs' usual errors (temperature, NaN logits, shapes of outputs; docs/losses.md).
template <class IndexScalar, class Q, class Out = detail::outputs_for<Q>>
detail::result_scalar_t<Q> cross_entropy(const Labels<IndexScalar>& target, const Q& model, const Options& options = {},
                                         const Out& out = {})
{
    if constexpr (detail::check_token_arguments<Q, Out>()) {
        detail::check_scalar_reduction("cross_entropy", options);
        return detail::token_loss("cross_entropy", target, detail::as_input(model), options, out, 1.0);
    } else {
        return {};
    }
}

namespace detail {

/// The per-row values of token_loss (sign 1: cross-entropy, -1: log q_y), never scaled by the
/// reduction; gradients to `out` of options.reduction (none: each row's own, as sum).
template <class IndexScalar, class Q, class Out>
RowValues<result_scalar_t<Q>> token_loss_rows(const char* function, const Labels<IndexScalar>& target, const Q& model,
                                              const Options& options, const Out& out, double sign)
{
    using Scalar = result_scalar_t<Q>;
    RowValues<Scalar> values;
    if constexpr (check_token_arguments<Q, Out>()) {
        if (out.row_values.requested()) fail(function, "row_values", "the per-row values are returned: leave Outputs::row_values empty");
        const auto& input = as_input(model);
        values.resize(input.rows());
        Outputs<Scalar> with_rows = out;
        with_rows.row_values = values;
        Options summed = options;
        if (summed.reduction == Reduction::none) summed.reduction = Reduction::sum;
        token_loss(function, target, input, summed, with_rows, sign);
    }
    return values;
}

}  // namespace detail

/// cross_entropy against labels, per row (ignored and masked rows 0), never scaled by the reduction;
/// gradients to `out` as for cross_entropy (Reduction::none: each row's own).
template <class IndexScalar, class Q, class Out = detail::outputs_for<Q>>
RowValues<detail::result_scalar_t<Q>> cross_entropy_rows(const Labels<IndexScalar>& target, const Q& model,
                                                         const Options& options = {}, const Out& out = {})
{
    return detail::token_loss_rows("cross_entropy_rows", target, model, options, out, 1.0);
}

/// The model's log-probability of each row's label, log q_y = log softmax(z / T)_y (logits(z, T)) or
/// x_y (log_probs(x)): B values, 0 for ignored (label == ignore_index) and masked rows. Gradient
/// (Outputs::grad_q) of their reduction (options.reduction; none or sum: of their sum):
/// ([j == y] - q_j) / T from logits, [j == y] from log-probabilities. -cross_entropy_rows without smoothing.
/// \throws std::invalid_argument as cross_entropy, and if labels(y, eps) has eps != 0.
template <class IndexScalar, class Q, class Out = detail::outputs_for<Q>>
RowValues<detail::result_scalar_t<Q>> token_log_probs(const Labels<IndexScalar>& target, const Q& model,
                                                      const Options& options = {}, const Out& out = {})
{
    return detail::token_loss_rows("token_log_probs", target, model, options, out, -1.0);
}

}  // namespace divergence

#endif
