#ifndef DIVERGENCE_DETAIL_RANKING_PASS_HPP
#define DIVERGENCE_DETAIL_RANKING_PASS_HPP

// The per-token pass of a model comparison (losses/comparison.hpp) besides KL: one streaming pass
// over a row of each of two inputs (base and model) on the executor, which finds each row's k
// largest entries (so the argmax and the top-k overlap) and, when the row has a label, the
// log-sum-exp of logits (so log p(label)). No heap allocation per row: the top-k state is a
// fixed-capacity array (k <= max_top_k).

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "divergence/core/executor.hpp"
#include "divergence/core/forms.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/simd.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence {

/// The largest top_k a model comparison takes: its per-row state holds the k best entries of each
/// input in a fixed array (no allocation per row).
inline constexpr int max_top_k = 64;

namespace detail {

/// The k largest entries of a slice of a row, ordered by value (descending) and, among equal values,
/// by column (ascending): a total order, so the k entries (and entry 0, the argmax with ties going to
/// the lowest column, as numpy.argmax and torch.argmax) do not depend on how the row is cut into
/// chunks. Merging two states keeps the k first of their union in the same order.
struct TopEntries {
    int size = 0;
    double value[max_top_k] = {};
    Index column[max_top_k] = {};

    static bool before(double a, Index ca, double b, Index cb) { return a > b || (a == b && ca < cb); }
    /// Inserts (v, c) if it is among the k first; entries are offered in increasing column order
    /// within a slice, so an equal value never displaces an entry already held.
    void insert(double v, Index c, int k)
    {
        int at = size < k ? size : k - 1;
        if (size == k && !before(v, c, value[at], column[at])) return;
        while (at > 0 && before(v, c, value[at - 1], column[at - 1])) {
            value[at] = value[at - 1];
            column[at] = column[at - 1];
            --at;
        }
        value[at] = v;
        column[at] = c;
        if (size < k) ++size;
    }
    void merge(const TopEntries& other, int k)
    {
        TopEntries out;
        int a = 0, b = 0;
        while (out.size < k && (a < size || b < other.size)) {
            const bool take_a = b == other.size || (a < size && before(value[a], column[a], other.value[b], other.column[b]));
            out.value[out.size] = take_a ? value[a] : other.value[b];
            out.column[out.size] = take_a ? column[a] : other.column[b];
            ++out.size;
            (take_a ? a : b) += 1;
        }
        *this = out;
    }
    /// Adds the contiguous entries x[0, n) of columns [first, first + n): scalar until k are held,
    /// then a vector comparison against the k-th value per packet (most packets hold none larger).
    template <class P>
    void scan(const simd::scalar_of<P>* x, Index first, Index n, int k)
    {
        using S = simd::scalar_of<P>;
        constexpr Index width = simd::lanes<P>;
        Index i = 0;
        for (; i < n && size < k; ++i) insert(double(x[i]), first + i, k);
        P threshold = simd::broadcast<P>(S(value[k - 1]));
        for (; i + width <= n; i += width) {
            if (!simd::any(simd::less(threshold, simd::load<P>(x + i)))) continue;
            for (Index l = 0; l < width; ++l) {
                if (double(x[i + l]) > value[k - 1]) insert(double(x[i + l]), first + i + l, k);
            }
            threshold = simd::broadcast<P>(S(value[k - 1]));
        }
        for (; i < n; ++i) {
            if (double(x[i]) > value[k - 1]) insert(double(x[i]), first + i, k);
        }
    }
};

/// |A ∩ B| of the columns of two top-k states (k <= max_top_k: k^2 comparisons).
inline int shared_columns(const TopEntries& a, const TopEntries& b)
{
    int shared = 0;
    for (int i = 0; i < a.size; ++i) {
        for (int j = 0; j < b.size; ++j) shared += a.column[i] == b.column[j] ? 1 : 0;
    }
    return shared;
}

/// What the pass gives per kept row r.
struct RankingResults {
    std::uint8_t* same_argmax;  ///< argmax(base) == argmax(model)
    int* shared_top_k;          ///< |topk(base) ∩ topk(model)|
    double* log_p_base;         ///< log p_base(y_r) (rows with a label only)
    double* log_p_model;        ///< log p_model(y_r)
};

/// The ranking pass as an executor job: per row, the top-k of each input's raw entries (logits,
/// log-probabilities or probabilities: softmax and log are increasing, so the order is that of the
/// distribution), and with labels log p(y) = (z_y - m) / T - log sum_j e^((z_j - m) / T) for logits
/// (the library's LogSumExp, as token_log_probs computes it), x_y for log-probabilities, log p_y for
/// probabilities. Cost per entry: a load and a vector compare per input (and an exp per input for
/// logits when the row has a label).
template <class Scalar>
struct RankingJob {
    const Input<Scalar>& base;
    const Input<Scalar>& model;
    const std::uint8_t* keep;     ///< rows that count (labels not ignore_index)
    const long long* labels;      ///< one per row, or nullptr
    int k;
    RankingResults results;

    using Row = Index;
    static constexpr int passes = 1;
    struct State {
        TopEntries base, model;
        LogSumExp base_lse, model_lse;
    };

    bool keeps(Index r) const { return keep == nullptr || keep[r] != 0; }
    void skip(Index) const {}
    Row row(Index r) const { return r; }
    bool writes() const { return false; }
    void write(Index, Index, Index) const {}

    static double inverse_temperature(const Input<Scalar>& x) { return x.form() == Form::logits ? 1.0 / x.temperature() : 1.0; }
    State start(Pass<0>, Index) const { return {}; }
    void accumulate(Pass<0>, State& state, Index r, Index begin, Index end) const
    {
        scan(state.base, state.base_lse, base, r, begin, end);
        scan(state.model, state.model_lse, model, r, begin, end);
    }
    void scan(TopEntries& top, LogSumExp& lse, const Input<Scalar>& x, Index r, Index begin, Index end) const
    {
        const MatrixView<const Scalar>& v = x.view();
        alignas(64) Scalar buffer[fused_block];
        for (Index b = begin; b < end; b += fused_block) {
            const Index n = std::min(fused_block, end - b);
            top.scan<simd::Packet<Scalar>>(row_block(v, r, b, n, buffer), b, n, k);
        }
        if (labels != nullptr && x.form() == Form::logits) accumulate_row_logsumexp(lse, v, r, begin, end, inverse_temperature(x));
    }
    void merge(Pass<0>, State& into, const State& next, Index) const
    {
        into.base.merge(next.base, k);
        into.model.merge(next.model, k);
        into.base_lse.merge(next.base_lse, inverse_temperature(base));
        into.model_lse.merge(next.model_lse, inverse_temperature(model));
    }
    static double log_p(const Input<Scalar>& x, const LogSumExp& lse, Index r, Index y)
    {
        const double entry = double(x.view()(r, y));
        switch (x.form()) {
        case Form::logits: return (entry - lse.reference()) * inverse_temperature(x) - lse.log_sum();
        case Form::log_probs: return entry;
        default: return std::log(entry);
        }
    }
    void finish(Pass<0>, Index& r, const State& state) const
    {
        results.same_argmax[r] = state.base.column[0] == state.model.column[0] ? 1 : 0;
        results.shared_top_k[r] = shared_columns(state.base, state.model);
        if (labels != nullptr) {
            results.log_p_base[r] = log_p(base, state.base_lse, r, Index(labels[r]));
            results.log_p_model[r] = log_p(model, state.model_lse, r, Index(labels[r]));
        }
    }
};

}  // namespace detail
}  // namespace divergence

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
