#ifndef DIVERGENCE_PARAMETRIC_DIAGONAL_GAUSSIAN_ROWS_HPP
#define DIVERGENCE_PARAMETRIC_DIAGONAL_GAUSSIAN_ROWS_HPP

// KL between batches of diagonal Gaussians, one per row (the VAE posterior against its prior), on the
// executor: means and variances (or log-variances) as B x d matrices, one KL per row, masks, weights
// and reductions as for every batched divergence (core/options.hpp).

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "divergence/core/call.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/options.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/core/rows.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/core/validate.hpp"
#include "divergence/core/view.hpp"
#include "divergence/parametric/gaussian_divergences.hpp"

// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence::parametric {

/// Where kl_diagonal writes what it computes besides the reduced value; every field optional, each a
/// caller-owned Eigen object of the inputs' shape (B x d; row_values: B), written in place.
/// grad_variance_p/q are with respect to what was given: the variances (kl_diagonal) or the
/// log-variances (kl_diagonal_log).
template <class Scalar>
struct DiagonalGaussianOutputs {
    VectorOut<Scalar> row_values;
    MatrixOut<Scalar> grad_mean_p, grad_variance_p, grad_mean_q, grad_variance_q;
};

namespace detail {

/// One coordinate's KL term and its partial derivatives (a = variance, or log-variance in the log form).
struct DiagonalTerm {
    double value, mean_p, spread_p, mean_q, spread_q;
};

/// 1/2 [phi(u) + (m2 - m1)^2 / v2], u = ln(v1 / v2) (log form: l1 - l2, no logarithm taken).
inline DiagonalTerm diagonal_term(double m1, double a1, double m2, double a2, bool log_form)
{
    const double delta = m2 - m1;
    const double u = log_form ? a1 - a2 : log_quotient(a1, a2);
    const double inverse_v2 = log_form ? std::exp(-a2) : 1.0 / a2;
    DiagonalTerm t;
    t.value = 0.5 * (exp_minus_one_minus(u) + delta * delta * inverse_v2);
    t.mean_p = -delta * inverse_v2;
    t.mean_q = delta * inverse_v2;
    if (log_form) {
        const double r = std::expm1(u);  // v1 / v2 - 1
        t.spread_p = 0.5 * r;
        t.spread_q = -0.5 * (r + delta * delta * inverse_v2);
    } else {
        t.spread_p = 0.5 * (inverse_v2 - 1.0 / a1);
        t.spread_q = 0.5 * (a2 - a1 - delta * delta) * inverse_v2 * inverse_v2;
    }
    return t;
}

namespace simd = divergence::detail::simd;

/// The terms of a packet of coordinates (lanes of doubles) and, if `gradients`, their partials: the
/// vector form of diagonal_term. phi(u) by its Taylor series for |u| <= 1/2 (exp_minus_one_minus_near_zero),
/// e^u - 1 - u above (within a few ulp there: e^u - 1 - u >= 0.1 e^u); the variance form's u = ln(v1 / v2)
/// is log1p of the difference where v1 and v2 are within a factor 2 (log_quotient's rule). Lanes with
/// u > 700 or, in the log form, l2 < -700 (an exponential near overflow) are the caller's to redo with
/// diagonal_term (`extreme`).
template <class P>
struct DiagonalLanes {
    P value, mean_p, spread_p, mean_q, spread_q;
    bool extreme;
};

template <class P>
DIVERGENCE_SIMD_INLINE DiagonalLanes<P> diagonal_lanes(const P& m1, const P& a1, const P& m2, const P& a2, bool log_form, bool gradients)
{
    const P zero = simd::broadcast<P>(0.0), one = simd::broadcast<P>(1.0), half = simd::broadcast<P>(0.5);
    const P delta = simd::sub(m2, m1);
    const P delta2 = simd::mul(delta, delta);
    P u, inverse_v2;
    bool extreme;
    if (log_form) {
        u = simd::sub(a1, a2);
        inverse_v2 = simd::exp(simd::sub(zero, a2));
        extreme = simd::any(simd::less(a2, simd::broadcast<P>(-700.0)));
    } else {
        inverse_v2 = simd::div(one, a2);
        const P two = simd::broadcast<P>(2.0);
        const P close = simd::keep(simd::less(a1, simd::mul(two, a2)), simd::less(a2, simd::mul(two, a1)));
        u = simd::select(close, simd::log1p(simd::mul(simd::sub(a1, a2), inverse_v2)), simd::log(simd::mul(a1, inverse_v2)));
        extreme = false;
    }
    extreme = extreme || simd::any(simd::less(simd::broadcast<P>(700.0), u));
    const P e_u = simd::exp(u);
    const P small = simd::less(simd::max(u, simd::sub(zero, u)), half);
    const P phi_near_zero = divergence::detail::exp_minus_one_minus_near_zero(u);
    const P phi = simd::select(small, phi_near_zero, simd::sub(simd::sub(e_u, one), u));
    DiagonalLanes<P> t;
    t.extreme = extreme;
    t.value = simd::mul(half, simd::madd(delta2, inverse_v2, phi));
    if (!gradients) return t;
    t.mean_q = simd::mul(delta, inverse_v2);
    t.mean_p = simd::sub(zero, t.mean_q);
    if (log_form) {
        // e^u - 1 = u + phi(u) near 0 (no cancellation: phi(u) < |u| / 2 there), where e^u - 1 would lose digits.
        const P r = simd::select(small, simd::add(u, phi_near_zero), simd::sub(e_u, one));
        t.spread_p = simd::mul(half, r);
        t.spread_q = simd::mul(simd::broadcast<P>(-0.5), simd::madd(delta2, inverse_v2, r));
    } else {
        t.spread_p = simd::mul(half, simd::sub(inverse_v2, simd::div(one, a1)));
        t.spread_q = simd::mul(simd::mul(half, simd::sub(simd::sub(a2, a1), delta2)), simd::mul(inverse_v2, inverse_v2));
    }
    return t;
}

/// The KL rows of diagonal Gaussians as a job of the executor: one pass summing each row's terms, and
/// the gradients as its last, elementwise pass. Columns are read a block of `block` at a time into
/// double buffers (any layout and input type), then computed in packets of doubles; each block's sum is
/// added to a compensated sum (a chunk's state depends only on its columns: the same bits on any number
/// of threads).
template <class Scalar>
struct DiagonalKlJob : divergence::detail::IndexedRowJob {
    static constexpr Index block = 256;
    using P = simd::Packet<double>;
    static constexpr Index width = simd::lanes<P>;

    MatrixView<const Scalar> mean_p, spread_p, mean_q, spread_q;
    bool log_form;
    const divergence::detail::RowSelection& selection;
    double scale;  ///< the reduction's factor of the gradients
    const MatrixView<Scalar>* grads[4];  ///< d/dm1, d/da1, d/dm2, d/da2 (null: not asked)
    double* values;

    struct Buffers {
        alignas(64) double in[4][block];
        alignas(64) double out[5][block];  ///< value, mean_p, spread_p, mean_q, spread_q
    };

    /// Terms (and partials) of columns [begin, begin + n), n <= block, of row r into b.out.
    void compute(Buffers& b, Index r, Index begin, Index n, bool gradients) const
    {
        const MatrixView<const Scalar>* inputs[4] = {&mean_p, &spread_p, &mean_q, &spread_q};
        for (int k = 0; k < 4; ++k) {
            for (Index j = 0; j < n; ++j) b.in[k][j] = double((*inputs[k])(r, begin + j));
        }
        Index j = 0;
        for (; j + width <= n; j += width) {
            const DiagonalLanes<P> t = diagonal_lanes(simd::load<P>(b.in[0] + j), simd::load<P>(b.in[1] + j), simd::load<P>(b.in[2] + j),
                                                      simd::load<P>(b.in[3] + j), log_form, gradients);
            if (t.extreme) {
                for (Index i = j; i < j + width; ++i) scalar(b, i, gradients);
                continue;
            }
            simd::store(b.out[0] + j, t.value);
            if (gradients) {
                simd::store(b.out[1] + j, t.mean_p);
                simd::store(b.out[2] + j, t.spread_p);
                simd::store(b.out[3] + j, t.mean_q);
                simd::store(b.out[4] + j, t.spread_q);
            }
        }
        for (; j < n; ++j) scalar(b, j, gradients);
    }
    void scalar(Buffers& b, Index j, bool gradients) const
    {
        const DiagonalTerm t = diagonal_term(b.in[0][j], b.in[1][j], b.in[2][j], b.in[3][j], log_form);
        b.out[0][j] = t.value;
        if (!gradients) return;
        b.out[1][j] = t.mean_p;
        b.out[2][j] = t.spread_p;
        b.out[3][j] = t.mean_q;
        b.out[4][j] = t.spread_q;
    }

    bool keeps(Index r) const { return selection.keeps(r); }
    void skip(Index r) const
    {
        for (const MatrixView<Scalar>* g : grads) {
            if (g != nullptr) divergence::detail::zero_row(*g, r);
        }
    }
    divergence::detail::CompensatedSum start(divergence::detail::Pass<0>, Index) const { return {}; }
    void accumulate(divergence::detail::Pass<0>, divergence::detail::CompensatedSum& sum, Index r, Index begin, Index end) const
    {
        Buffers b;
        for (Index at = begin; at < end; at += block) {
            const Index n = std::min(block, end - at);
            compute(b, r, at, n, false);
            double part = 0.0;  // n <= 256 terms >= 0: relative error <= 256 eps before the compensated sum
            for (Index j = 0; j < n; ++j) part += b.out[0][j];
            sum.add(part);
        }
    }
    void merge(divergence::detail::Pass<0>, divergence::detail::CompensatedSum& into,
               const divergence::detail::CompensatedSum& next, Index) const
    {
        into.merge(next);
    }
    void finish(divergence::detail::Pass<0>, Index& r, const divergence::detail::CompensatedSum& sum) const
    {
        values[r] = std::max(0.0, sum.value());
    }
    bool writes() const { return grads[0] || grads[1] || grads[2] || grads[3]; }
    void write(Index r, Index begin, Index end) const
    {
        const double factor = scale * selection.weight(r);
        Buffers b;
        for (Index at = begin; at < end; at += block) {
            const Index n = std::min(block, end - at);
            compute(b, r, at, n, true);
            for (int k = 0; k < 4; ++k) {
                if (grads[k] == nullptr) continue;
                for (Index j = 0; j < n; ++j) (*grads[k])(r, at + j) = Scalar(factor * b.out[k + 1][j]);
            }
        }
    }
};

template <class Scalar>
void check_diagonal_shape(const char* function, const char* name, Index rows, Index cols, const MatrixView<const Scalar>& first)
{
    if (rows != first.rows || cols != first.cols) {
        divergence::detail::fail(function, name,
                                 "shape " + matrix_shape(rows, cols) + " differs from mean_p's " + matrix_shape(first.rows, first.cols));
    }
}

template <class Scalar>
void check_diagonal_entries(const char* function, const char* name, const MatrixView<const Scalar>& x, bool spread, bool log_form,
                            const divergence::detail::RowSelection& selection)
{
    using divergence::detail::describe;
    for (Index r = 0; r < x.rows; ++r) {
        if (!selection.keeps(r)) continue;
        for (Index c = 0; c < x.cols; ++c) {
            const double v = double(x(r, c));
            if (!std::isfinite(v)) divergence::detail::fail(function, name, r, c, describe("entry must be finite, got", v));
            if (spread && !log_form && !(v > 0.0)) divergence::detail::fail(function, name, r, c, describe("variance must be > 0, got", v));
        }
    }
}

/// The reduced KL over rows of diagonal Gaussians, and the requested outputs.
template <class Scalar>
Scalar kl_diagonal_batch(const char* function, bool log_form, const MatrixView<const Scalar>& m1, const MatrixView<const Scalar>& a1,
                         const MatrixView<const Scalar>& m2, const MatrixView<const Scalar>& a2, const Options& options,
                         const DiagonalGaussianOutputs<Scalar>& out)
{
    const char* spread_p = log_form ? "log_variances_p" : "variances_p";
    const char* spread_q = log_form ? "log_variances_q" : "variances_q";
    if (m1.rows == 0 || m1.cols == 0) divergence::detail::fail(function, "mean_p", "empty input (" + matrix_shape(m1.rows, m1.cols) + ")");
    check_diagonal_shape(function, spread_p, a1.rows, a1.cols, m1);
    check_diagonal_shape(function, "mean_q", m2.rows, m2.cols, m1);
    check_diagonal_shape(function, spread_q, a2.rows, a2.cols, m1);
    const MatrixOut<Scalar>* outputs[4] = {&out.grad_mean_p, &out.grad_variance_p, &out.grad_mean_q, &out.grad_variance_q};
    const char* output_names[4] = {"grad_mean_p", "grad_variance_p", "grad_mean_q", "grad_variance_q"};
    for (int k = 0; k < 4; ++k) {
        if (outputs[k]->requested()) check_diagonal_shape(function, output_names[k], outputs[k]->view.rows, outputs[k]->view.cols, m1);
    }
    const Index rows = m1.rows;
    divergence::detail::validate_output(function, out.row_values, rows);
    divergence::detail::validate_mask(function, options, rows);
    const divergence::detail::RowSelection selection(function, options, rows);
    if (options.validation == Validation::full) {
        check_diagonal_entries(function, "mean_p", m1, false, log_form, selection);
        check_diagonal_entries(function, spread_p, a1, true, log_form, selection);
        check_diagonal_entries(function, "mean_q", m2, false, log_form, selection);
        check_diagonal_entries(function, spread_q, a2, true, log_form, selection);
    }
    const double scale = divergence::detail::reduction_scale(options.reduction, selection.kept(rows), rows);
    std::vector<double> values(std::size_t(rows), 0.0);
    DiagonalKlJob<Scalar> job{{}, m1, a1, m2, a2, log_form, selection, scale, {}, values.data()};
    for (int k = 0; k < 4; ++k) job.grads[k] = outputs[k]->requested() ? &outputs[k]->view : nullptr;
    divergence::detail::execute(job, rows, divergence::detail::Chunks{m1.cols, divergence::detail::fused_chunk}, rows * m1.cols >= 65536);
    return divergence::detail::reduce_rows(values, selection, scale, out.row_values);
}

template <class... X>
constexpr bool check_diagonal_arguments()
{
    using Scalar = typename std::tuple_element_t<0, std::tuple<X...>>::Scalar;
    static_assert(divergence::detail::is_supported_scalar_v<Scalar>, "divergence::parametric::kl_diagonal: inputs are float or double.");
    static_assert((std::is_same_v<typename X::Scalar, Scalar> && ...),
                  "divergence::parametric::kl_diagonal: the means and variances must all have the same scalar type.");
    static_assert((divergence::detail::has_direct_access_v<X> && ...),
                  "divergence::parametric::kl_diagonal: inputs need direct memory access (a matrix, array, Map, Ref or block): "
                  "evaluate expressions first.");
    return divergence::detail::is_supported_scalar_v<Scalar> && (std::is_same_v<typename X::Scalar, Scalar> && ...) &&
           (divergence::detail::has_direct_access_v<X> && ...);
}

template <class Scalar, class D>
MatrixView<const Scalar> diagonal_view(const Eigen::DenseBase<D>& x)
{
    return divergence::detail::view_of<const Scalar>(x.derived());
}

template <class M1, class V1, class M2, class V2>
typename M1::Scalar kl_diagonal_call(const char* function, bool log_form, const Eigen::DenseBase<M1>& mean_p,
                                     const Eigen::DenseBase<V1>& spread_p, const Eigen::DenseBase<M2>& mean_q,
                                     const Eigen::DenseBase<V2>& spread_q, const Options& options,
                                     const DiagonalGaussianOutputs<typename M1::Scalar>& out)
{
    using Scalar = typename M1::Scalar;
    if constexpr (check_diagonal_arguments<M1, V1, M2, V2>()) {
        return kl_diagonal_batch<Scalar>(function, log_form, diagonal_view<Scalar>(mean_p), diagonal_view<Scalar>(spread_p),
                                         diagonal_view<Scalar>(mean_q), diagonal_view<Scalar>(spread_q), options, out);
    } else {
        return Scalar(0);
    }
}

template <class M1, class V1, class M2, class V2>
RowValues<typename M1::Scalar> kl_diagonal_rows_call(const char* function, bool log_form, const Eigen::DenseBase<M1>& mean_p,
                                                     const Eigen::DenseBase<V1>& spread_p, const Eigen::DenseBase<M2>& mean_q,
                                                     const Eigen::DenseBase<V2>& spread_q, const Options& options,
                                                     const DiagonalGaussianOutputs<typename M1::Scalar>& out)
{
    using Scalar = typename M1::Scalar;
    if (out.row_values.requested()) {
        divergence::detail::fail(function, "row_values", "the per-row values are returned: leave row_values empty");
    }
    const Index rows = M1::IsVectorAtCompileTime ? 1 : mean_p.rows();
    RowValues<Scalar> values(rows);
    DiagonalGaussianOutputs<Scalar> with_rows = out;
    with_rows.row_values = values;
    Options summed = options;
    if (summed.reduction == Reduction::none) summed.reduction = Reduction::sum;  // each row's own gradients
    kl_diagonal_call(function, log_form, mean_p, spread_p, mean_q, spread_q, summed, with_rows);
    return values;
}

}  // namespace detail

/// KL(p_r || q_r) between the diagonal Gaussians of each row r, p_r = N(mean_p.row(r), diag(variances_p.row(r)))
/// and q_r likewise: per row 1/2 sum_i [phi(ln(v1_i / v2_i)) + (m2_i - m1_i)^2 / v2_i], phi(u) = e^u - 1 - u
/// (no cancellation when p_r and q_r are close), reduced by options.reduction (mean by default; mask and
/// weights as everywhere, docs/conventions.md). Inputs: B x d matrices of any layout (a vector is one
/// Gaussian), float or double, read in place; computed in double.
/// Gradients (out): d/dm1_i = (m1_i - m2_i) / v2_i = -d/dm2_i, d/dv1_i = 1/2 (1/v2_i - 1/v1_i),
/// d/dv2_i = 1/2 (v2_i - v1_i - (m2_i - m1_i)^2) / v2_i^2, times the reduction's factor and the row's weight.
/// \throws std::invalid_argument on shapes that differ, an empty input, a non-finite entry or a variance
/// <= 0 in a kept row (Validation::full), bad weights, a mask of the wrong length, or Reduction::none.
template <class M1, class V1, class M2, class V2>
typename M1::Scalar kl_diagonal(const Eigen::DenseBase<M1>& mean_p, const Eigen::DenseBase<V1>& variances_p,
                                const Eigen::DenseBase<M2>& mean_q, const Eigen::DenseBase<V2>& variances_q,
                                const Options& options = {}, const DiagonalGaussianOutputs<typename M1::Scalar>& out = {})
{
    divergence::detail::check_scalar_reduction("parametric::kl_diagonal", options);
    return detail::kl_diagonal_call("parametric::kl_diagonal", false, mean_p, variances_p, mean_q, variances_q, options, out);
}

/// kl_diagonal with log-variances l = ln v (the usual output of a VAE encoder): u = l1_i - l2_i needs no
/// logarithm. Gradients with respect to the log-variances: d/dl1_i = 1/2 (e^(l1_i - l2_i) - 1),
/// d/dl2_i = -1/2 (e^(l1_i - l2_i) - 1 + (m2_i - m1_i)^2 e^(-l2_i)). Against the prior q = N(0, I) (zero
/// means and log-variances): 1/2 sum_i (e^(l_i) + m_i^2 - 1 - l_i). Errors as kl_diagonal (log-variances finite).
template <class M1, class V1, class M2, class V2>
typename M1::Scalar kl_diagonal_log(const Eigen::DenseBase<M1>& mean_p, const Eigen::DenseBase<V1>& log_variances_p,
                                    const Eigen::DenseBase<M2>& mean_q, const Eigen::DenseBase<V2>& log_variances_q,
                                    const Options& options = {}, const DiagonalGaussianOutputs<typename M1::Scalar>& out = {})
{
    divergence::detail::check_scalar_reduction("parametric::kl_diagonal_log", options);
    return detail::kl_diagonal_call("parametric::kl_diagonal_log", true, mean_p, log_variances_p, mean_q, log_variances_q, options, out);
}

/// The per-row values of kl_diagonal (B; masked rows 0), unscaled; gradients to `out` as for kl_diagonal
/// (Reduction::none: each row's own).
template <class M1, class V1, class M2, class V2>
RowValues<typename M1::Scalar> kl_diagonal_rows(const Eigen::DenseBase<M1>& mean_p, const Eigen::DenseBase<V1>& variances_p,
                                                const Eigen::DenseBase<M2>& mean_q, const Eigen::DenseBase<V2>& variances_q,
                                                const Options& options = {}, const DiagonalGaussianOutputs<typename M1::Scalar>& out = {})
{
    return detail::kl_diagonal_rows_call("parametric::kl_diagonal_rows", false, mean_p, variances_p, mean_q, variances_q, options, out);
}

/// The per-row values of kl_diagonal_log.
template <class M1, class V1, class M2, class V2>
RowValues<typename M1::Scalar> kl_diagonal_log_rows(const Eigen::DenseBase<M1>& mean_p, const Eigen::DenseBase<V1>& log_variances_p,
                                                    const Eigen::DenseBase<M2>& mean_q, const Eigen::DenseBase<V2>& log_variances_q,
                                                    const Options& options = {},
                                                    const DiagonalGaussianOutputs<typename M1::Scalar>& out = {})
{
    return detail::kl_diagonal_rows_call("parametric::kl_diagonal_log_rows", true, mean_p, log_variances_p, mean_q, log_variances_q,
                                         options, out);
}

}  // namespace divergence::parametric

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
