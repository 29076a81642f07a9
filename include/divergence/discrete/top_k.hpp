#ifndef DIVERGENCE_DISCRETE_TOP_K_HPP
#define DIVERGENCE_DISCRETE_TOP_K_HPP

// Sparse teachers: a distribution given by its k largest entries per row (how offline teachers
// served by inference engines arrive), against a dense student given by logits.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "divergence/core/call.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/forms.hpp"
#include "divergence/core/rows.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/core/validate.hpp"
#include "divergence/core/view.hpp"

namespace divergence {

/// A teacher given per row by k (column, value) pairs: `indices` (B x k, integers in [0, V), distinct
/// within a row, in any order) and `values` (B x k, probabilities or log-probabilities of those
/// columns). With `tail` (the default) the mass the pairs leave, r = 1 - sum_i p_i, is one more
/// bucket: the teacher is the distribution over the k columns and "the rest of the vocabulary"
/// (a remainder of at most k eps of the values' type is taken as the masses' rounding: no tail).
/// Without it only the k columns count (the teacher is not completed). Built by top_k(); a view of
/// the caller's matrices (temporaries do not compile).
template <class Scalar, class IndexScalar>
struct TopK {
    MatrixView<const IndexScalar> indices;
    Input<Scalar> values;
    bool tail = true;
};

/// The top-k teacher of `indices` (an integer Eigen matrix, B x k) and `values` (probs(x) or
/// log_probs(x) of a B x k float or double matrix; a bare matrix means probabilities).
template <class I, class V>
auto top_k(I&& indices, V&& values, bool tail = true)
{
    using IndexMatrix = std::decay_t<I>;
    static_assert(detail::is_eigen_dense_v<IndexMatrix> && std::is_integral_v<typename IndexMatrix::Scalar>,
                  "divergence::top_k: indices must be an Eigen matrix of integers (B x k).");
    static_assert(!detail::is_owning_temporary_v<I>,
                  "divergence::top_k: indices must be a named matrix (a temporary would be destroyed before the call).");
    static_assert(detail::has_direct_access_v<IndexMatrix>, "divergence::top_k: indices need direct memory access.");
    using IndexScalar = typename IndexMatrix::Scalar;
    auto input = [&]() {
        if constexpr (detail::is_input<std::decay_t<V>>::value) {
            return values;
        } else {
            return probs(std::forward<V>(values));
        }
    }();
    using Scalar = typename decltype(input)::Scalar;
    return TopK<Scalar, IndexScalar>{detail::view_of<const IndexScalar>(indices), std::move(input), tail};
}

namespace detail {

/// KL(teacher || student) for a top-k teacher and student logits z at temperature T, per row:
///   sum_{i in K} p_i (log p_i - log q_i) + r (log r - log q_rest),   q = softmax(z / T),
/// q_rest = sum_{j not in K} q_j, r the teacher's tail mass (0 without tail). Gradient:
///   dKL/dz_j = [(P_K + r) q_j - p_j] / T                  for j in K
///   dKL/dz_j = [(P_K + r) q_j - r q_j / q_rest] / T       for j not in K,   P_K = sum_{i in K} p_i,
/// with q_j / q_rest = exp(z_j / T - log sum_{l not in K} e^(z_l / T)) (no division by a q_rest
/// that underflowed). The executor's pass takes two log-sum-exps by chunk: over the whole row and over
/// the columns outside K (segments between the sorted indices), so q_rest is never 1 - sum q_i.
/// A student row that is not contiguous is read a block at a time (row_block), never copied whole.
/// Nothing is allocated per row: each row's k entries, sorted by column, live in `entries`, scratch of
/// B x k entries the caller allocates once per call (row r at r k; a row is only written by row(r)).
template <class Scalar, class IndexScalar>
struct TopKKlJob {
    const TopK<Scalar, IndexScalar>& teacher;
    const Input<Scalar>& student;
    const MatrixView<Scalar>* grad;
    const RowSelection& selection;
    double scale;
    double* values;

    struct Entry {
        Index column;
        double p, log_p;
    };
    Entry* entries;  ///< B x k

    /// A row's entries in the scratch.
    struct Entries {
        Entry* first = nullptr;
        Entry* last = nullptr;
        Entry* begin() const { return first; }
        Entry* end() const { return last; }
    };
    struct Row {
        Index index = 0;
        Entries entries;  ///< sorted by column
        /// log q_j = (z_j - reference) / T - log_norm; log q_rest = log_norm_rest - log_norm (the
        /// difference is taken first: z / T - logsumexp(z / T) would cancel for huge logits).
        double reference = 0.0;  ///< the row's largest logit (0 if all -inf)
        double log_norm = 0.0, log_norm_rest = 0.0;
        double mass = 0.0, tail = 0.0;             ///< P_K + r and r
    };
    struct Sums {
        LogSumExp all, rest;
    };
    static constexpr int passes = 1;

    double inverse_temperature() const { return 1.0 / student.temperature(); }
    bool keeps(Index r) const { return selection.keeps(r); }
    void skip(Index r) const
    {
        if (grad) zero_row(*grad, r);
    }
    Row row(Index r) const
    {
        Row row;
        row.index = r;
        const MatrixView<const Scalar>& z = student.view();
        const MatrixView<const Scalar>& v = teacher.values.view();
        row.entries = {entries + r * v.cols, entries + (r + 1) * v.cols};
        CompensatedSum mass;
        for (Index i = 0; i < v.cols; ++i) {
            const double x = double(v(r, i));
            Entry& e = row.entries.first[i];
            e.column = Index(teacher.indices(r, i));
            e.p = teacher.values.form() == Form::probs ? x : std::exp(x);
            e.log_p = teacher.values.form() == Form::probs ? std::log(x) : x;
            mass.add(e.p);
        }
        std::sort(row.entries.begin(), row.entries.end(), [](const Entry& a, const Entry& b) { return a.column < b.column; });
        // The tail, unless it is only the rounding of the k masses (<= k eps of the values' type) or
        // there is no column left for it (k = V): q_rest = 0 would make a rounding error infinite.
        const double rest = 1.0 - mass.value();
        const double rounding = double(v.cols) * std::numeric_limits<Scalar>::epsilon();
        row.tail = teacher.tail && v.cols < z.cols && rest > rounding ? rest : 0.0;
        row.mass = mass.value() + row.tail;
        return row;
    }
    Sums start(Pass<0>, const Row&) const { return {}; }
    void accumulate(Pass<0>, Sums& sums, const Row& row, Index begin, Index end) const
    {
        const MatrixView<const Scalar>& z = student.view();
        const double t = inverse_temperature();
        accumulate_row_logsumexp(sums.all, z, row.index, begin, end, t);
        // The segments of [begin, end) between the columns of K.
        auto k = std::lower_bound(row.entries.begin(), row.entries.end(), begin,
                                  [](const Entry& e, Index c) { return e.column < c; });
        Index from = begin;
        for (; k != row.entries.end() && k->column < end; ++k) {
            if (from < k->column) accumulate_row_logsumexp(sums.rest, z, row.index, from, k->column, t);
            from = k->column + 1;
        }
        if (from < end) accumulate_row_logsumexp(sums.rest, z, row.index, from, end, t);
    }
    void merge(Pass<0>, Sums& into, const Sums& next, const Row&) const
    {
        into.all.merge(next.all, inverse_temperature());
        into.rest.merge(next.rest, inverse_temperature());
    }
    void finish(Pass<0>, Row& row, const Sums& sums) const
    {
        const double t = inverse_temperature();
        row.reference = sums.all.reference();
        row.log_norm = sums.all.log_sum();
        row.log_norm_rest = (sums.rest.reference() - row.reference) * t + sums.rest.log_sum();
        CompensatedSum value;
        for (const Entry& e : row.entries) {
            if (e.p == 0.0) continue;  // 0 log 0 = 0
            value.add(e.p * (e.log_p - ((double(student.view()(row.index, e.column)) - row.reference) * t - row.log_norm)));
        }
        if (row.tail > 0.0) value.add(row.tail * (std::log(row.tail) - (row.log_norm_rest - row.log_norm)));  // +inf if q_rest = 0
        // With the tail the teacher is a distribution over K and the rest: KL >= 0 (Gibbs).
        values[row.index] = teacher.tail ? std::max(0.0, value.value()) : value.value();
    }
    bool writes() const { return grad != nullptr; }
    void write(const Row& row, Index begin, Index end) const { write_packets<simd::Packet<Scalar>>(row, begin, end); }
    template <class P>
    void write_packets(const Row& row, Index begin, Index end) const
    {
        const Index r = row.index;
        const double t = inverse_temperature();
        const double factor = scale * selection.weight(r) * t;
        const bool finite = std::isfinite(values[r]);
        // Outside K: factor [mass q_j - tail q_j / q_rest] in packets of the input's precision, from
        // x_j = (z_j - reference) t as the fused kernels take it; then K's columns.
        constexpr Index width = simd::lanes<P>;
        static_assert(fused_block % width == 0, "blocks hold whole packets");
        const P ref = simd::broadcast<P>(Scalar(row.reference)), t_lanes = simd::broadcast<P>(Scalar(t));
        const P c_all = simd::broadcast<P>(Scalar(row.log_norm));
        const P c_rest = simd::broadcast<P>(Scalar(row.tail > 0.0 ? row.log_norm_rest : 0.0));
        const P mass = simd::broadcast<P>(Scalar(factor * row.mass)), tail = simd::broadcast<P>(Scalar(factor * row.tail));
        const P zero = simd::broadcast<P>(Scalar(0));
        const bool contiguous = grad->contiguous_rows();
        const MatrixView<const Scalar>& z = student.view();
        // Blocks of fused_block columns (a multiple of the packet width: the packets are those of
        // one pass over [begin, end)), in place or through a buffer.
        alignas(64) Scalar buffer[fused_block];
        for (Index b = begin; b < end; b += fused_block) {
            const Index block = std::min(fused_block, end - b);
            const Scalar* zb = row_block(z, r, b, block, buffer);
            for (Index i = 0; i < block; i += width) {
                const Index j = b + i, n = std::min(width, block - i);
                const P x = simd::mul(simd::sub(simd::load_upto<P>(zb + i, n, Scalar(row.reference)), ref), t_lanes);
                P g = simd::mul(mass, simd::exp(simd::sub(x, c_all)));
                if (row.tail > 0.0) g = simd::sub(g, simd::mul(tail, simd::exp(simd::sub(x, c_rest))));
                if (!finite) g = zero;
                if (contiguous) {
                    simd::store_upto(grad->row(r) + j, g, n);
                } else {
                    alignas(64) Scalar lanes[width];
                    simd::store(lanes, g);
                    for (Index l = 0; l < n; ++l) write_at(r, j + l, lanes[l]);
                }
            }
        }
        auto k = std::lower_bound(row.entries.begin(), row.entries.end(), begin,
                                  [](const Entry& e, Index c) { return e.column < c; });
        for (; k != row.entries.end() && k->column < end; ++k) {
            const double q = std::exp((double(z(r, k->column)) - row.reference) * t - row.log_norm);
            write_at(r, k->column, finite ? Scalar(factor * (row.mass * q - k->p)) : Scalar(0));
        }
    }
    void write_at(Index r, Index c, Scalar g) const { (*grad)(r, c) = g; }
};

/// Checks a top-k teacher against the student's shape (always) and its entries (Validation::full).
template <class Scalar, class IndexScalar>
void validate_top_k(const char* function, const TopK<Scalar, IndexScalar>& teacher, const Input<Scalar>& student,
                    const Options& options)
{
    const auto& idx = teacher.indices;
    const auto& v = teacher.values.view();
    if (student.form() != Form::logits) fail(function, "q", "the student must be given as logits(z, temperature)");
    if (teacher.values.form() == Form::logits) {
        fail(function, "p", "top-k values must be probabilities or log-probabilities (top-k logits have no normalizer)");
    }
    if (idx.rows != v.rows || idx.cols != v.cols) {
        fail(function, "p", "indices are " + std::to_string(idx.rows) + " x " + std::to_string(idx.cols) + " but values are " +
                                std::to_string(v.rows) + " x " + std::to_string(v.cols));
    }
    if (v.rows != student.rows()) {
        fail(function, "q", "has " + std::to_string(student.rows()) + " rows for the teacher's " + std::to_string(v.rows));
    }
    if (v.cols == 0 || v.cols > student.cols()) {
        fail(function, "p", "k = " + std::to_string(v.cols) + " must be in [1, V = " + std::to_string(student.cols()) + "]");
    }
    validate_tolerance(function, options);  // before it is used: a NaN would reject every mass
    if (options.validation == Validation::none) return;
    const double tolerance = tolerance_for<Scalar>(options, v.cols);
    std::vector<Index> columns(std::size_t(v.cols));
    for (Index r = 0; r < v.rows; ++r) {
        if (!options.mask.keeps(r)) continue;
        CompensatedSum mass;
        for (Index i = 0; i < v.cols; ++i) {
            const auto c = idx(r, i);
            if (c < 0 || Index(c) >= student.cols()) {
                fail(function, "p", r, i, describe("index out of [0, V), got", double(c)));
            }
            columns[std::size_t(i)] = Index(c);
            const double x = double(v(r, i));
            if (teacher.values.form() == Form::probs) {
                if (!(x >= 0.0 && x <= 1.0 + tolerance)) fail(function, "p", r, i, describe("probability must be in [0, 1], got", x));
                mass.add(x);
            } else {
                if (!(x <= tolerance)) fail(function, "p", r, i, describe("log-probability must be in [-inf, 0], got", x));
                mass.add(std::exp(x));
            }
        }
        std::sort(columns.begin(), columns.end());
        if (std::adjacent_find(columns.begin(), columns.end()) != columns.end()) {
            fail(function, "p", r, -1, "an index appears twice: " + std::to_string(*std::adjacent_find(columns.begin(), columns.end())));
        }
        if (mass.value() > 1.0 + tolerance) {
            fail(function, "p", r, -1, tolerance_problem<Scalar>("the top-k masses sum to", mass.value(), 1.0, tolerance, options, v.cols));
        }
    }
}

template <class Scalar, class IndexScalar>
Scalar top_k_kl(const char* function, const TopK<Scalar, IndexScalar>& teacher, const Input<Scalar>& student,
                const Options& options, const Outputs<Scalar>& out)
{
    validate_top_k(function, teacher, student, options);
    validate_input(function, "q", student, options);
    validate_output(function, "grad_q", out.grad_q, student);
    if (out.grad_p.requested()) fail(function, "grad_p", "a top-k teacher has no gradient here (it is data)");
    validate_output(function, out.row_values, student.rows());
    const Index rows = student.rows();
    const RowSelection selection(function, options, rows);
    const double scale = reduction_scale(options.reduction, selection.kept(rows), rows);
    std::vector<double> values(std::size_t(rows), 0.0);
    const MatrixView<Scalar>* grad = out.grad_q.requested() ? &out.grad_q.view : nullptr;
    using Job = TopKKlJob<Scalar, IndexScalar>;
    std::vector<typename Job::Entry> entries(std::size_t(rows * teacher.values.cols()));
    const Job job{teacher, student, grad, selection, scale, values.data(), entries.data()};
    execute(job, rows, Chunks{student.cols(), fused_chunk});
    return reduce_rows(values, selection, scale, out.row_values);
}

}  // namespace detail

/// KL(teacher || student) with a top-k teacher (top_k()) and a student given as logits(z, T), per
/// row: sum_{i in K} p_i log(p_i / q_i), plus, with the tail bucket, r log(r / q_rest) where r is the
/// teacher's remaining mass and q_rest = sum_{j not in K} q_j (the student's mass outside the k
/// columns). With the tail this is the KL between the two distributions over k + 1 buckets (>= 0),
/// and equals the dense KL whenever the teacher spreads its tail like the student (chain rule of KL).
/// Gradient (Outputs::grad_q, d/dz): ((P_K + r) q_j - p_j) / T on K, q_j (P_K + r - r / q_rest) / T
/// elsewhere; the teacher gets none. Masks, weights and reductions as for kl().
/// Accuracy: double sums; q_rest from a log-sum-exp over the columns outside K (no cancellation).
/// \throws std::invalid_argument on bad shapes, indices (out of range, repeated), masses (a row's
/// sum above 1 + tolerance), or a student not given as logits.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar kl(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {}, const Out& out = {})
{
    static_assert(std::is_same_v<detail::argument_scalar_t<Q>, Scalar>,
                  "divergence::kl: the top-k teacher and the student must have the same scalar type.");
    static_assert(std::is_same_v<Out, Outputs<Scalar>>, "divergence::kl: out must be Outputs<Scalar> of the inputs' scalar.");
    detail::check_scalar_reduction("kl", options);
    return detail::top_k_kl("kl", teacher, detail::as_input(student), options, out);
}

}  // namespace divergence

#endif
