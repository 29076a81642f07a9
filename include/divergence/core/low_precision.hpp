#ifndef DIVERGENCE_CORE_LOW_PRECISION_HPP
#define DIVERGENCE_CORE_LOW_PRECISION_HPP

// Half-precision logits (Eigen::half, Eigen::bfloat16: what models emit), alone or with float inputs.
// They are read a block of rows at a time into a float scratch tile and the float path runs on the
// tile: the same kernels, validation, masks, weights and reduction, so the result equals the float
// path on the logits converted to float (every half and bfloat16 value is exactly a float), bit for
// bit, for any number of threads. Memory: two tiles of about 2^18 floats, whatever the batch.

#include <algorithm>
#include <string>
#include <vector>

#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/forms.hpp"
#include "divergence/core/options.hpp"
#include "divergence/core/rows.hpp"
#include "divergence/core/validate.hpp"

namespace divergence::detail {

/// Rows [first, first + n) of a view.
template <class Scalar>
MatrixView<Scalar> row_range(const MatrixView<Scalar>& v, Index first, Index n)
{
    MatrixView<Scalar> part = v;
    if (!v.empty()) part.data = v.data + first * v.row_stride;
    part.rows = n;
    return part;
}

/// Rows [first, first + n) of x as an input of its compute scalar: a view of x itself when it is float
/// or double, else (half, bfloat16) its entries converted into `tile` (row-major scratch, resized as needed).
template <class Scalar>
Input<compute_scalar_t<Scalar>> input_rows(const Input<Scalar>& x, Index first, Index n, RowMatrix<float>& tile)
{
    if constexpr (!is_low_precision_v<Scalar>) {
        return Input<Scalar>(row_range(x.view(), first, n), x.form(), x.temperature());
    } else {
        tile.resize(n, x.cols());
        copy_view(row_range(x.view(), first, n), view_of<float>(tile));
        return Input<float>(view_of<const float>(tile), x.form(), x.temperature());
    }
}

template <class Scalar>
void require_logits(const char* function, const char* name, const Input<Scalar>& x)
{
    if (is_low_precision_v<Scalar> && x.form() != Form::logits) {
        fail(function, name, "half and bfloat16 inputs must be logits(x, temperature) (probabilities and "
                             "log-probabilities need float or double to be normalized)");
    }
}

/// The reduced value of `kernel` when p or q is half or bfloat16 (the other may be float): the rows
/// are run in blocks through the float driver (compute_rows); the per-row values, the selection and
/// the reduction are those of the whole batch, so only the inputs are seen a block at a time.
template <class Kernel, class P, class Q,
          class = std::enable_if_t<(is_low_precision_v<P> || is_low_precision_v<Q>) &&
                                   std::is_same_v<compute_scalar_t<P>, float> && std::is_same_v<compute_scalar_t<Q>, float>>>
float evaluate(const char* function, const Kernel& kernel, const Input<P>& p, const Input<Q>& q, const Options& options,
               const Outputs<float>& out)
{
    require_logits(function, "p", p);
    if constexpr (Kernel::binary) {
        require_logits(function, "q", q);
        validate_shapes(function, p, q);
    }
    validate_outputs<Kernel>(function, p, q, out);
    validate_mask(function, options, p.rows());
    const Index rows = p.rows(), cols = p.cols();
    const RowSelection selection(function, options, rows);
    const double scale = reduction_scale(options.reduction, selection.kept(rows), rows);
    std::vector<double> values(std::size_t(rows), 0.0);

    // Enough rows per block for every thread, and about 2^18 entries (1 MB of floats) per tile.
    const Index block = std::max<Index>(2 * executor_threads(), (Index(1) << 18) / std::max<Index>(cols, 1));
    RowMatrix<float> tile_p, tile_q;
    for (Index first = 0; first < rows || first == 0; first += block) {  // an empty batch: one empty block
        const Index n = std::min(block, rows - first);
        Options part = options;
        if (options.mask.active()) part.mask.data += first * options.mask.stride, part.mask.size = n;
        if (options.weights.active()) {
            if (options.weights.floats) part.weights.floats += first * options.weights.stride;
            if (options.weights.doubles) part.weights.doubles += first * options.weights.stride;
            part.weights.size = n;
        }
        const Input<float> p_rows = input_rows(p, first, n, tile_p);
        const Input<float> q_rows = Kernel::binary ? input_rows(q, first, n, tile_q) : p_rows;
        validate_input(function, "p", p_rows, part, first);
        if constexpr (Kernel::binary) validate_input(function, "q", q_rows, part, first);
        if (n == 0) break;
        Outputs<float> out_rows;
        if (out.grad_p.requested()) out_rows.grad_p.view = row_range(out.grad_p.view, first, n);
        if (out.grad_q.requested()) out_rows.grad_q.view = row_range(out.grad_q.view, first, n);
        compute_rows(kernel, p_rows, q_rows, out_rows, RowSelection(function, part, n), scale, values.data() + first);
    }
    return reduce_rows(values, selection, scale, out.row_values);
}

}  // namespace divergence::detail

#endif
