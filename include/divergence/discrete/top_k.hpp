#ifndef DIVERGENCE_DISCRETE_TOP_K_HPP
#define DIVERGENCE_DISCRETE_TOP_K_HPP

// Sparse teachers: a distribution given by its k largest entries per row (how offline teachers
// served by inference engines arrive), against a dense student given by logits or log-probabilities,
// for every divergence of the library (docs/top-k.md).
//
// The mathematics. K is a row's k teacher columns and "rest" the other V - k. With the tail bucket
// the teacher is a distribution on the k + 1 buckets K u {rest}: p_i for i in K and r = 1 - sum_K p_i.
// The student is coarsened to the same partition: q_i for i in K and q_rest = sum_{j not in K} q_j,
// taken as exp of a log-sum-exp over the columns outside K (never 1 - sum_K q_i, which cancels). The
// divergence is evaluated on these k + 1 buckets:
//   D_K(P || Q) = D((p_K, r) || (q_K, q_rest)).
// For an f-divergence (KL, reverse KL, JSD, Hellinger, chi^2, ..., any generator) this equals the dense
// D(P~ || Q) for the teacher completed in proportion to the student, p~_j = r q_j / q_rest outside K
// (p~/q is then constant on the rest bucket), and, by the data processing inequality (the coarsening
// is a Markov kernel applied to both), it is a lower bound on D(P' || Q) for every other completion P'
// of the teacher. Without the tail (top_k(..., false)) only the k columns count: kl is
// sum_K p_i log(p_i / q_i) and cross_entropy -sum_K p_i log q_i (the teacher as a measure on K alone,
// whose terms outside K are 0); the other divergences refuse it (their terms outside K need the mass
// the teacher puts there).
//
// Gradient with respect to student logits z at temperature T, from g_b = dD/dlog q_b of each bucket
// (the kernel's partials on the buckets):
//   dD/dz_j = (1/T) [ g_j [j in K] + g_rest q_j / q_rest [j not in K] - q_j sum_b g_b ],
// with q_j / q_rest = exp(z_j / T - log sum_{l not in K} e^(z_l / T)) (no division by a q_rest that
// underflowed). With log-probabilities x the gradient is dD/dx_j = g_j on K and g_rest q_j / q_rest
// outside.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "divergence/core/call.hpp"
#include "divergence/core/element.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/forms.hpp"
#include "divergence/core/rows.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/core/validate.hpp"
#include "divergence/core/view.hpp"
#include "divergence/detail/buckets.hpp"
#include "divergence/discrete/entropy.hpp"
#include "divergence/discrete/f_divergence.hpp"
#include "divergence/discrete/jensen_shannon.hpp"
#include "divergence/discrete/kl.hpp"
#include "divergence/discrete/named_f_divergences.hpp"

// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence {

/// A teacher given per row by k (column, value) pairs: `indices` (B x k, integers in [0, V), distinct
/// within a row, in any order) and `values` (B x k, probabilities or log-probabilities of those
/// columns). With `tail` (the default) the mass the pairs leave, r = 1 - sum_i p_i, is one more
/// bucket: the teacher is the distribution over the k columns and "the rest of the vocabulary"
/// (a remainder of at most k eps of the values' type is taken as the masses' rounding: r = 0).
/// Without it only the k columns count (the teacher is not completed: kl and cross_entropy only).
/// Built by top_k(); a view of the caller's matrices (temporaries do not compile).
template <class Scalar, class IndexScalar>
struct TopK {
    using sparse_teacher_tag = void;  ///< marks a teacher that detail::call hands to detail::call_sparse
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

template <class T>
struct is_top_k : std::false_type {};
template <class Scalar, class IndexScalar>
struct is_top_k<TopK<Scalar, IndexScalar>> : std::true_type {};
/// Whether T is a top-k teacher (TopK).
template <class T>
inline constexpr bool is_top_k_v = is_top_k<T>::value;

/// KL(P || Q) as the plain sum of p_i (log p_i - log q_i) over the given elements: the kl of a top-k
/// teacher on its buckets, the computation of the former KL-only top-k kernel (a few multiplications a
/// bucket; KlKernel's stable form for P close to Q costs an exp and a log1p a bucket, which on k = 64
/// buckets of a 32000-column row is 10% of the call). `clamp`: with the tail the buckets hold two
/// distributions and KL >= 0 (Gibbs); without it the teacher is a measure on K and the sum may be < 0.
struct KlTermsKernel {
    static constexpr bool binary = true;
    static constexpr bool partials_use_value = false;
    bool clamp = true;
    template <class V>
    V term(const ElementLanes<V>& e) const  // 0 log 0 = 0; +inf where q = 0 < p
    {
        return zero_where(simd::equal(e.p, simd::broadcast<V>(0.0)), simd::mul(e.p, simd::sub(e.log_p, e.log_q)));
    }
    double finish(double sum) const { return clamp ? std::max(0.0, sum) : sum; }
    template <class V>
    PartialLanes<V> partials(double, const ElementLanes<V>& e) const
    {
        const V zero = simd::broadcast<V>(0.0), p_zero = simd::equal(e.p, zero);
        const V outside = simd::keep(p_zero, simd::equal(e.q, zero));  // outside both supports: all 0
        const V slope = simd::add(simd::sub(e.log_p, e.log_q), simd::broadcast<V>(1.0));  // log(p/q) + 1, -inf at p = 0
        return {zero_where(outside, slope), zero_where(p_zero, simd::mul(e.p, slope)),
                zero_where(p_zero, simd::sub(zero, simd::div(e.p, e.q))), simd::sub(zero, e.p)};
    }
};

/// A divergence D(teacher || student) for a top-k teacher and a student given as logits z at
/// temperature T (or log-probabilities), per row, on the k + 1 buckets (the header comment): the
/// kernel (any row or element kernel, detail/buckets.hpp) runs on the buckets, and the gradient
/// spreads each bucket's partial over its columns.
/// The executor's pass takes two log-sum-exps by chunk: over the whole row (logits only) and over the
/// columns outside K (segments between the sorted indices). The value and the buckets' partials are
/// computed when the row's pass finishes (O(k)); the gradient is the last pass, in packets of the
/// input's precision outside K, then K's columns.
/// A student row that is not contiguous is read a block at a time (row_block), never copied whole.
/// Nothing is allocated per row: each row's k entries, sorted by column, live in `entries`, scratch of
/// B x k entries the caller allocates once per call (row r at r k; a row is only written by row(r)).
template <class Kernel, class Scalar, class IndexScalar>
struct CoarsenedJob {
    const Kernel& kernel;
    const TopK<Scalar, IndexScalar>& teacher;
    const Input<Scalar>& student;
    const MatrixView<Scalar>* grad;
    const RowSelection& selection;
    double scale;
    double* values;

    struct Entry {
        Index column;
        double p, log_p;  ///< the teacher's
        double q, log_q;  ///< the student's
        double g;         ///< dD/dlog q of this column's bucket
        Element element() const { return {p, log_p, q, log_q}; }
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
        /// log q_j = (z_j - reference) / T - log_norm (logits) or x_j (log-probabilities, where
        /// reference = log_norm = 0); log q_rest = log_norm_rest - log_norm (the difference is taken
        /// first: z / T - logsumexp(z / T) would cancel for huge logits).
        double reference = 0.0;  ///< the row's largest logit (0 if all -inf)
        double log_norm = 0.0, log_norm_rest = 0.0;
        double tail = 0.0;        ///< the teacher's rest mass r (0 without the tail)
        double g_rest = 0.0;      ///< dD/dlog q_rest
        double total = 0.0;       ///< sum_b dD/dlog q_b
    };
    struct Sums {
        LogSumExp all, rest;
    };
    static constexpr int passes = 1;

    bool logits() const { return student.form() == Form::logits; }
    double inverse_temperature() const { return logits() ? 1.0 / student.temperature() : 1.0; }
    /// Whether the row has a rest bucket: the tail is on and some column is outside K.
    bool has_rest() const { return teacher.tail && teacher.values.cols() < student.cols(); }
    bool keeps(Index r) const { return selection.keeps(r); }
    void skip(Index r) const
    {
        if (grad) zero_row(*grad, r);
    }
    Row row(Index r) const
    {
        Row row;
        row.index = r;
        const MatrixView<const Scalar>& v = teacher.values.view();
        row.entries = {entries + r * v.cols, entries + (r + 1) * v.cols};
        const bool probabilities = teacher.values.form() == Form::probs;
        CompensatedSum mass;
        for (Index i = 0; i < v.cols; ++i) {
            const double x = double(v(r, i));
            Entry& e = row.entries.first[i];
            e.column = Index(teacher.indices(r, i));
            e.p = probabilities ? x : std::exp(x);
            e.log_p = probabilities ? std::log(x) : x;
            mass.add(e.p);
        }
        std::sort(row.entries.begin(), row.entries.end(), [](const Entry& a, const Entry& b) { return a.column < b.column; });
        // The tail, unless it is only the rounding of the k masses (<= k eps of the values' type).
        const double rest = 1.0 - mass.value();
        const double rounding = double(v.cols) * std::numeric_limits<Scalar>::epsilon();
        row.tail = has_rest() && rest > rounding ? rest : 0.0;
        return row;
    }
    Sums start(Pass<0>, const Row&) const { return {}; }
    void accumulate(Pass<0>, Sums& sums, const Row& row, Index begin, Index end) const
    {
        const MatrixView<const Scalar>& z = student.view();
        const double t = inverse_temperature();
        if (logits()) accumulate_row_logsumexp(sums.all, z, row.index, begin, end, t);
        if (!has_rest()) return;
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
        if (logits()) {
            row.reference = sums.all.reference();
            row.log_norm = sums.all.log_sum();
        }
        row.log_norm_rest = (sums.rest.reference() - row.reference) * t + sums.rest.log_sum();  // -inf: no rest
        const MatrixView<const Scalar>& z = student.view();
        const double log_q_rest = row.log_norm_rest - row.log_norm;
        const Element rest{row.tail, std::log(row.tail), std::exp(log_q_rest), log_q_rest};  // log 0 = -inf

        const OnBuckets<Kernel> on{kernel};
        auto state = on.start();
        for (Entry& e : row.entries) {
            e.log_q = (double(z(row.index, e.column)) - row.reference) * t - row.log_norm;
            e.q = std::exp(e.log_q);
            on.add(state, e.element());
        }
        if (has_rest()) on.add(state, rest);
        const auto final_state = on.finish(state);
        values[row.index] = on.value(final_state);
        if (!grad) return;
        CompensatedSum total;
        for (Entry& e : row.entries) {
            e.g = on.d_log_q(final_state, e.element());
            total.add(e.g);
        }
        if (has_rest()) {
            row.g_rest = on.d_log_q(final_state, rest);
            total.add(row.g_rest);
        }
        row.total = total.value();
    }
    bool writes() const { return grad != nullptr; }
    void write(const Row& row, Index begin, Index end) const { write_packets<simd::Packet<Scalar>>(row, begin, end); }
    template <class P>
    void write_packets(const Row& row, Index begin, Index end) const
    {
        const Index r = row.index;
        const double t = inverse_temperature();
        const double factor = scale * selection.weight(r) * t;
        // The gradient of an infinite value has no meaning (and a zero weight zeroes the row): 0, no NaN.
        const bool zero_all = !std::isfinite(values[r]) || !std::isfinite(row.total) || !std::isfinite(row.g_rest) || factor == 0.0;
        // Outside K: factor [g_rest q_j / q_rest - total q_j] in packets of the input's precision, from
        // x_j = (z_j - reference) t as the fused kernels take it; then K's columns. The rest term only
        // where q_rest > 0 (else every q_j outside K is 0), the total only for logits.
        const bool spread = row.g_rest != 0.0 && row.log_norm_rest > -infinity;
        const bool project = logits() && row.total != 0.0;
        constexpr Index width = simd::lanes<P>;
        static_assert(fused_block % width == 0, "blocks hold whole packets");
        const P ref = simd::broadcast<P>(Scalar(row.reference)), t_lanes = simd::broadcast<P>(Scalar(t));
        const P c_all = simd::broadcast<P>(Scalar(row.log_norm));
        const P c_rest = simd::broadcast<P>(Scalar(spread ? row.log_norm_rest : 0.0));
        const P minus_total = simd::broadcast<P>(Scalar(-factor * row.total));
        const P g_rest = simd::broadcast<P>(Scalar(factor * row.g_rest));
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
                P g = zero;
                if (project) g = simd::mul(minus_total, simd::exp(simd::sub(x, c_all)));
                if (spread) g = simd::add(g, simd::mul(g_rest, simd::exp(simd::sub(x, c_rest))));
                if (zero_all) g = zero;
                if (contiguous) {
                    simd::store_upto(grad->row(r) + j, g, n);
                } else {
                    alignas(64) Scalar lanes[width];
                    simd::store(lanes, g);
                    for (Index l = 0; l < n; ++l) (*grad)(r, j + l) = lanes[l];
                }
            }
        }
        auto k = std::lower_bound(row.entries.begin(), row.entries.end(), begin,
                                  [](const Entry& e, Index c) { return e.column < c; });
        for (; k != row.entries.end() && k->column < end; ++k) {
            const double projected = logits() ? k->g - k->q * row.total : k->g;
            (*grad)(r, k->column) = zero_all ? Scalar(0) : Scalar(factor * projected);
        }
    }
};

/// Checks a top-k teacher against the student's shape and its indices' range (always: an index out
/// of range would be read outside the student's row) and its entries (Validation::full).
template <class Scalar, class IndexScalar>
void validate_top_k(const char* function, const TopK<Scalar, IndexScalar>& teacher, const Input<Scalar>& student,
                    const Options& options)
{
    const auto& idx = teacher.indices;
    const auto& v = teacher.values.view();
    if (student.form() == Form::probs) {
        fail(function, "q", "the student must be given as logits(z, temperature) or log_probs(x)");
    }
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
    for (Index r = 0; r < v.rows; ++r) {  // O(B k), whatever the validation level
        if (!options.mask.keeps(r)) continue;
        for (Index i = 0; i < v.cols; ++i) {
            const auto c = idx(r, i);
            if (c < 0 || Index(c) >= student.cols()) fail(function, "p", r, i, describe("index out of [0, V), got", double(c)));
        }
    }
    if (options.validation == Validation::none) return;
    const double tolerance = tolerance_for<Scalar>(options, v.cols);
    std::vector<Index> columns(std::size_t(v.cols));
    for (Index r = 0; r < v.rows; ++r) {
        if (!options.mask.keeps(r)) continue;
        CompensatedSum mass;
        for (Index i = 0; i < v.cols; ++i) {
            columns[std::size_t(i)] = Index(idx(r, i));
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
        const auto repeated = std::adjacent_find(columns.begin(), columns.end());
        if (repeated != columns.end()) fail(function, "p", r, -1, "an index appears twice: " + std::to_string(*repeated));
        if (mass.value() > 1.0 + tolerance) {
            fail(function, "p", r, -1, tolerance_problem<Scalar>("the top-k masses sum to", mass.value(), 1.0, tolerance, options, v.cols));
        }
    }
}

/// `kernel` between a top-k teacher and a dense student (CoarsenedJob): checks, then the executor.
/// Without the teacher's tail the kernel runs on the k columns alone (the caller has decided that
/// this is defined for it).
template <class Kernel, class Scalar, class IndexScalar>
Scalar top_k_evaluate(const char* function, const Kernel& kernel, const TopK<Scalar, IndexScalar>& teacher,
                      const Input<Scalar>& student, const Options& options, const Outputs<Scalar>& out)
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
    using Job = CoarsenedJob<Kernel, Scalar, IndexScalar>;
    std::vector<typename Job::Entry> entries(std::size_t(rows * teacher.values.cols()));
    const Job job{kernel, teacher, student, grad, selection, scale, values.data(), entries.data()};
    execute(job, rows, Chunks{student.cols(), fused_chunk});
    return reduce_rows(values, selection, scale, out.row_values);
}

/// The kernels of a divergence for a top-k teacher: `with_tail` on the k + 1 buckets and, where the
/// divergence defines it, `without_tail` on the k columns alone (Refused: not defined).
struct Refused {};
template <class WithTail, class WithoutTail = Refused>
struct TopKKernels {
    WithTail with_tail;
    WithoutTail without_tail{};
};
template <class Kernel>
TopKKernels<Kernel> buckets_only(const Kernel& kernel)
{
    return {kernel};
}

template <class Kernels, class Scalar, class IndexScalar>
Scalar top_k_run(const char* function, const Kernels& kernels, const TopK<Scalar, IndexScalar>& teacher,
                 const Input<Scalar>& student, const Options& options, const Outputs<Scalar>& out)
{
    if (teacher.tail) return top_k_evaluate(function, kernels.with_tail, teacher, student, options, out);
    if constexpr (std::is_same_v<decltype(kernels.without_tail), Refused>) {
        fail(function, "p",
             "a top-k teacher without its tail bucket (top_k(..., false)) is defined for kl and cross_entropy only: "
             "this divergence needs the mass the teacher puts outside its k columns (keep the tail, the default)");
    } else {
        return top_k_evaluate(function, kernels.without_tail, teacher, student, options, out);
    }
}

/// The argument checks of a call with a top-k teacher (compile time: one static_assert per mistake).
template <class Scalar, class Q, class Out>
constexpr bool check_top_k_arguments()
{
    constexpr bool same_scalar = std::is_same_v<argument_scalar_t<Q>, Scalar>;
    static_assert(same_scalar, "divergence: the top-k teacher and the student must have the same scalar type.");
    static_assert(!same_scalar || std::is_same_v<Out, Outputs<Scalar>>,
                  "divergence: out must be Outputs<Scalar> of the inputs' scalar.");
    return same_scalar && std::is_same_v<Out, Outputs<Scalar>>;
}

/// The reduced value of a divergence (its kernels) with a top-k teacher.
template <class Kernels, class Scalar, class IndexScalar, class Q, class Out>
Scalar top_k_call(const char* function, const Kernels& kernels, const TopK<Scalar, IndexScalar>& teacher, const Q& student,
                  const Options& options, const Out& out)
{
    if constexpr (check_top_k_arguments<Scalar, Q, Out>()) {
        check_scalar_reduction(function, options);
        return top_k_run(function, kernels, teacher, as_input(student), options, out);
    } else {
        return {};
    }
}

/// The per-row values of a divergence with a top-k teacher (as call_rows).
template <class Kernels, class Scalar, class IndexScalar, class Q, class Out>
RowValues<Scalar> top_k_call_rows(const char* function, const Kernels& kernels, const TopK<Scalar, IndexScalar>& teacher,
                                  const Q& student, const Options& options, const Out& out)
{
    if constexpr (check_top_k_arguments<Scalar, Q, Out>()) {
        const std::string name = std::string(function) + "_rows";
        if (out.row_values.requested()) {
            fail(name.c_str(), "row_values", "the per-row values are returned: leave Outputs::row_values empty");
        }
        const auto& q = as_input(student);
        RowValues<Scalar> values(q.rows());
        Outputs<Scalar> with_rows = out;
        with_rows.row_values = values;
        Options summed = options;
        if (summed.reduction == Reduction::none) summed.reduction = Reduction::sum;  // same gradients
        top_k_run(name.c_str(), kernels, teacher, q, summed, with_rows);
        return values;
    } else {
        return {};
    }
}

/// Any binary kernel (a row kernel or an element kernel of your own, core/element.hpp) with a top-k
/// teacher, on the k + 1 buckets; a teacher without its tail is refused. The entry point of a
/// divergence written outside this header: `return detail::top_k_kernel_call("my", MyKernel{}, t, s, o, out);`.
template <class Kernel, class Scalar, class IndexScalar, class Q, class Out>
Scalar top_k_kernel_call(const char* function, const Kernel& kernel, const TopK<Scalar, IndexScalar>& teacher, const Q& student,
                         const Options& options, const Out& out)
{
    return top_k_call(function, buckets_only(kernel), teacher, student, options, out);
}
/// top_k_kernel_call per row.
template <class Kernel, class Scalar, class IndexScalar, class Q, class Out>
RowValues<Scalar> top_k_kernel_call_rows(const char* function, const Kernel& kernel, const TopK<Scalar, IndexScalar>& teacher,
                                         const Q& student, const Options& options, const Out& out)
{
    return top_k_call_rows(function, buckets_only(kernel), teacher, student, options, out);
}

/// The scalar of a call whose first argument is a top-k teacher: its values' (so that a divergence's
/// default Outputs are those of the teacher's scalar).
template <class Scalar, class IndexScalar>
struct argument_scalar<TopK<Scalar, IndexScalar>> {
    using type = Scalar;
};

/// Any kernel with a sparse teacher: what detail::call and detail::call_rows hand a top-k teacher to, so
/// that every divergence written over them (one line over detail::call, e.g. an element kernel of your
/// own) takes a top-k teacher too, on the k + 1 buckets.
template <class Kernel, class Teacher, class Q, class Out>
result_scalar_t<Teacher> call_sparse(const char* function, const Kernel& kernel, const Teacher& teacher, const Q& q,
                                     const Options& options, const Out& out)
{
    return top_k_kernel_call(function, kernel, teacher, q, options, out);
}
template <class Kernel, class Teacher, class Q, class Out>
RowValues<result_scalar_t<Teacher>> call_sparse_rows(const char* function, const Kernel& kernel, const Teacher& teacher,
                                                     const Q& q, const Options& options, const Out& out)
{
    return top_k_kernel_call_rows(function, kernel, teacher, q, options, out);
}

inline TopKKernels<KlTermsKernel, KlTermsKernel> top_k_kl_kernels() { return {KlTermsKernel{true}, KlTermsKernel{false}}; }
inline TopKKernels<CrossEntropyKernel, CrossEntropyKernel> top_k_cross_entropy_kernels() { return {}; }

}  // namespace detail

// ---- Divergences with a top-k teacher ------------------------------------------------------------
//
// Each function below is the dense function of the same name with a top-k teacher (top_k()) as p and
// the student given as logits(z, T) or log_probs(x) as q, evaluated on the k + 1 buckets K u {rest}
// (see the header comment and docs/top-k.md). The student's gradient (Outputs::grad_q, d/dz or d/dx)
// is that of the bucket value; the teacher has none. Masks, weights, reductions and the _rows twins as
// for the dense functions; bitwise identical for any number of threads.
// For the f-divergences (kl, reverse_kl, js, generalized_js, f_divergence, the named ones) the value
// equals the dense divergence to the teacher completed on the rest in proportion to the student, and
// is a lower bound on the dense divergence to any other completion (data processing inequality).
// cross_entropy on the buckets is the bucket KL plus the teacher's bucket entropy.
// Accuracy: double sums; q_rest from a log-sum-exp over the columns outside K (no cancellation).
// \throws std::invalid_argument on bad shapes, indices (out of range: always checked; repeated),
// masses (a row's sum above 1 + tolerance), a student not given as logits or log-probabilities,
// Outputs::grad_p, or a teacher without its tail for a divergence other than kl and cross_entropy.

/// kl with a top-k teacher: KL(teacher || student): sum_K p_i log(p_i / q_i) + r log(r / q_rest), >= 0 with the
/// tail; without it sum_K p_i log(p_i / q_i) (may be < 0 when the k masses sum to less than 1).
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar kl(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {}, const Out& out = {})
{
    return detail::top_k_call("kl", detail::top_k_kl_kernels(), teacher, student, options, out);
}
/// kl per row with a top-k teacher: B values (masked rows 0); gradients as for kl_rows.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
RowValues<Scalar> kl_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {},
                          const Out& out = {})
{
    return detail::top_k_call_rows("kl", detail::top_k_kl_kernels(), teacher, student, options, out);
}

/// reverse_kl with a top-k teacher: KL(student || teacher) on the buckets: sum_K q_i log(q_i / p_i) + q_rest
/// log(q_rest / r); +inf where the student has mass on a bucket the teacher does not (r = 0 with q_rest > 0).
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar reverse_kl(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {}, const Out& out = {})
{
    return detail::top_k_call("reverse_kl", detail::buckets_only(detail::Swapped<detail::KlKernel>{}), teacher, student, options, out);
}
/// reverse_kl per row with a top-k teacher: B values (masked rows 0); gradients as for kl_rows.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
RowValues<Scalar> reverse_kl_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {},
                                  const Out& out = {})
{
    return detail::top_k_call_rows("reverse_kl", detail::buckets_only(detail::Swapped<detail::KlKernel>{}), teacher, student, options, out);
}

/// js with a top-k teacher: The Jensen-Shannon divergence on the buckets (generalized_js with beta = 1/2); <= log 2.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar js(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {}, const Out& out = {})
{
    return detail::top_k_call("js", detail::buckets_only(detail::GeneralizedJsKernel{0.5}), teacher, student, options, out);
}
/// js per row with a top-k teacher: B values (masked rows 0); gradients as for kl_rows.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
RowValues<Scalar> js_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {},
                          const Out& out = {})
{
    return detail::top_k_call_rows("js", detail::buckets_only(detail::GeneralizedJsKernel{0.5}), teacher, student, options, out);
}

/// js_distance with a top-k teacher: sqrt of js on the buckets (gradient 0 where it is 0).
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar js_distance(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {}, const Out& out = {})
{
    return detail::top_k_call("js_distance", detail::buckets_only(detail::JsDistanceKernel{}), teacher, student, options, out);
}
/// js_distance per row with a top-k teacher: B values (masked rows 0); gradients as for kl_rows.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
RowValues<Scalar> js_distance_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {},
                                   const Out& out = {})
{
    return detail::top_k_call_rows("js_distance", detail::buckets_only(detail::JsDistanceKernel{}), teacher, student, options, out);
}

/// cross_entropy with a top-k teacher: -sum_K p_i log q_i - r log q_rest; without the tail -sum_K p_i log q_i (soft
/// labels on K). Gradient from logits: (q_j sum_b p_b - p_j [j in K] - r q_j / q_rest [j not in K]) / T, the same
/// as kl's.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar cross_entropy(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {}, const Out& out = {})
{
    return detail::top_k_call("cross_entropy", detail::top_k_cross_entropy_kernels(), teacher, student, options, out);
}
/// cross_entropy per row with a top-k teacher: B values (masked rows 0); gradients as for kl_rows.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
RowValues<Scalar> cross_entropy_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {},
                                     const Out& out = {})
{
    return detail::top_k_call_rows("cross_entropy", detail::top_k_cross_entropy_kernels(), teacher, student, options, out);
}

/// squared_hellinger with a top-k teacher: 1 - sum_b sqrt(p_b q_b) over the buckets.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar squared_hellinger(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {}, const Out& out = {})
{
    return detail::top_k_call("squared_hellinger", detail::buckets_only(detail::half_squared_hellinger()), teacher, student, options, out);
}
/// squared_hellinger per row with a top-k teacher: B values (masked rows 0); gradients as for kl_rows.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
RowValues<Scalar> squared_hellinger_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {},
                                         const Out& out = {})
{
    return detail::top_k_call_rows("squared_hellinger", detail::buckets_only(detail::half_squared_hellinger()), teacher, student, options, out);
}

/// total_variation with a top-k teacher: 1/2 sum_b |p_b - q_b| over the buckets.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar total_variation(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {}, const Out& out = {})
{
    return detail::top_k_call("total_variation", detail::buckets_only(detail::f_kernel<generators::TotalVariation>()), teacher, student, options, out);
}
/// total_variation per row with a top-k teacher: B values (masked rows 0); gradients as for kl_rows.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
RowValues<Scalar> total_variation_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {},
                                       const Out& out = {})
{
    return detail::top_k_call_rows("total_variation", detail::buckets_only(detail::f_kernel<generators::TotalVariation>()), teacher, student, options, out);
}

/// pearson_chi_squared with a top-k teacher: sum_b (p_b - q_b)^2 / q_b over the buckets.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar pearson_chi_squared(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {}, const Out& out = {})
{
    return detail::top_k_call("pearson_chi_squared", detail::buckets_only(detail::f_kernel<generators::PearsonChiSquared>()), teacher, student, options, out);
}
/// pearson_chi_squared per row with a top-k teacher: B values (masked rows 0); gradients as for kl_rows.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
RowValues<Scalar> pearson_chi_squared_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {},
                                           const Out& out = {})
{
    return detail::top_k_call_rows("pearson_chi_squared", detail::buckets_only(detail::f_kernel<generators::PearsonChiSquared>()), teacher, student, options, out);
}

/// neyman_chi_squared with a top-k teacher: sum_b (p_b - q_b)^2 / p_b over the buckets (+inf where p_b = 0 < q_b).
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar neyman_chi_squared(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {}, const Out& out = {})
{
    return detail::top_k_call("neyman_chi_squared", detail::buckets_only(detail::f_kernel<generators::NeymanChiSquared>()), teacher, student, options, out);
}
/// neyman_chi_squared per row with a top-k teacher: B values (masked rows 0); gradients as for kl_rows.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
RowValues<Scalar> neyman_chi_squared_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {},
                                          const Out& out = {})
{
    return detail::top_k_call_rows("neyman_chi_squared", detail::buckets_only(detail::f_kernel<generators::NeymanChiSquared>()), teacher, student, options, out);
}

/// jeffreys with a top-k teacher: KL(P || Q) + KL(Q || P) over the buckets.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar jeffreys(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {}, const Out& out = {})
{
    return detail::top_k_call("jeffreys", detail::buckets_only(detail::f_kernel<generators::Jeffreys>()), teacher, student, options, out);
}
/// jeffreys per row with a top-k teacher: B values (masked rows 0); gradients as for kl_rows.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
RowValues<Scalar> jeffreys_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {},
                                const Out& out = {})
{
    return detail::top_k_call_rows("jeffreys", detail::buckets_only(detail::f_kernel<generators::Jeffreys>()), teacher, student, options, out);
}

/// triangular with a top-k teacher: sum_b (p_b - q_b)^2 / (p_b + q_b) over the buckets.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar triangular(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {}, const Out& out = {})
{
    return detail::top_k_call("triangular", detail::buckets_only(detail::f_kernel<generators::Triangular>()), teacher, student, options, out);
}
/// triangular per row with a top-k teacher: B values (masked rows 0); gradients as for kl_rows.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
RowValues<Scalar> triangular_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Options& options = {},
                                  const Out& out = {})
{
    return detail::top_k_call_rows("triangular", detail::buckets_only(detail::f_kernel<generators::Triangular>()), teacher, student, options, out);
}

/// generalized_js with a top-k teacher: beta KL(P || M) + (1 - beta) KL(Q || M), M = beta P + (1 - beta) Q,
/// on the buckets.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
Scalar generalized_js(const TopK<Scalar, IndexScalar>& teacher, const Q& student, double beta, const Options& options = {},
                      const Out& out = {})
{
    detail::validate_beta("generalized_js", beta);
    return detail::top_k_call("generalized_js", detail::buckets_only(detail::GeneralizedJsKernel{beta}), teacher, student,
                              options, out);
}
/// generalized_js per row with a top-k teacher.
template <class Scalar, class IndexScalar, class Q, class Out = Outputs<Scalar>>
RowValues<Scalar> generalized_js_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, double beta,
                                      const Options& options = {}, const Out& out = {})
{
    detail::validate_beta("generalized_js_rows", beta);
    return detail::top_k_call_rows("generalized_js", detail::buckets_only(detail::GeneralizedJsKernel{beta}), teacher,
                                   student, options, out);
}

/// f_divergence with a top-k teacher and any generator (discrete/generators.hpp, or one of your own):
/// sum_K q_i f(p_i / q_i) + q_rest f(r / q_rest).
template <class Scalar, class IndexScalar, class Q, class Generator, class Out = Outputs<Scalar>>
Scalar f_divergence(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Generator& generator,
                    const Options& options = {}, const Out& out = {})
{
    static_assert(detail::is_f_generator_v<Generator>,
                  "divergence: f_divergence needs a generator (see discrete/generators.hpp for the members).");
    return detail::top_k_call("f_divergence", detail::buckets_only(detail::FDivergenceKernel<Generator>{generator}), teacher,
                              student, options, out);
}
/// f_divergence per row with a top-k teacher.
template <class Scalar, class IndexScalar, class Q, class Generator, class Out = Outputs<Scalar>>
RowValues<Scalar> f_divergence_rows(const TopK<Scalar, IndexScalar>& teacher, const Q& student, const Generator& generator,
                                    const Options& options = {}, const Out& out = {})
{
    static_assert(detail::is_f_generator_v<Generator>,
                  "divergence: f_divergence_rows needs a generator (see discrete/generators.hpp for the members).");
    return detail::top_k_call_rows("f_divergence", detail::buckets_only(detail::FDivergenceKernel<Generator>{generator}),
                                   teacher, student, options, out);
}

}  // namespace divergence

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
