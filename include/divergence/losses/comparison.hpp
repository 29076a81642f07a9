#ifndef DIVERGENCE_LOSSES_COMPARISON_HPP
#define DIVERGENCE_LOSSES_COMPARISON_HPP

// Model comparison (a quantized model against its base, a student against its teacher): a streaming,
// mergeable accumulator of per-token statistics over batches of next-token distributions, with the
// statistics of llama.cpp's perplexity tool (--kl-divergence): KL(base || model) with its mean,
// standard error and percentiles, top-1 agreement, top-k overlap and, with labels, the change of the
// correct token's probability and the perplexities. See docs/model-comparison.md.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "divergence/core/call.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/forms.hpp"
#include "divergence/core/options.hpp"
#include "divergence/core/validate.hpp"
#include "divergence/detail/ranking_pass.hpp"
#include "divergence/detail/sample_statistics.hpp"
#include "divergence/discrete/kl.hpp"

namespace divergence {

/// Options of a ModelComparison.
struct ComparisonOptions {
    int top_k = 5;                             ///< k of the top-k overlap, in [1, max_top_k] (and <= V)
    long long ignore_index = -100;             ///< rows whose label is this are skipped (PyTorch's default)
    Validation validation = Validation::full;  ///< checks of the inputs' entries (see Validation)
};

/// A statistic with its standard error (NaN where undefined: no tokens, or fewer than 2 for the error).
struct Estimate {
    double value = detail::not_a_number;
    double standard_error = detail::not_a_number;
};

/// Percentiles of per-token values at the levels llama.cpp prints, by linear interpolation between
/// order statistics (detail::percentile_of_sorted: h = (level / 100)(n - 1), x_(floor h) + frac(h)
/// (x_(floor h + 1) - x_(floor h))), and the extremes. NaN when there are no values.
struct Percentiles {
    static constexpr std::array<double, 11> levels{99.9, 99.0, 95.0, 90.0, 75.0, 50.0, 25.0, 10.0, 5.0, 1.0, 0.1};
    std::array<double, 11> values{};  ///< values[i] is the percentile levels[i]
    double minimum = detail::not_a_number;
    double maximum = detail::not_a_number;

    /// The percentile at one of `levels`. \throws std::invalid_argument for another level.
    double at(double level) const
    {
        for (std::size_t i = 0; i < levels.size(); ++i) {
            if (levels[i] == level) return values[i];
        }
        detail::fail("Percentiles::at", "level", detail::describe("is not one of 99.9, 99, 95, 90, 75, 50, 25, 10, 5, 1, 0.1", level));
    }
};

/// Everything ModelComparison::summary() reports. Counts are tokens (rows that count); the label
/// statistics are over the tokens that had a label (`labelled_tokens`), NaN if there were none.
struct ComparisonSummary {
    long long tokens = 0;           ///< rows that counted (all rows of unlabelled batches, non-ignored rows of labelled ones)
    long long labelled_tokens = 0;  ///< of which with a label
    Index vocabulary = 0;           ///< V (0 before the first batch)
    int top_k = 0;                  ///< k of top_k_overlap
    Estimate kl;                    ///< mean of KL(base || model) per token, in nats, and its standard error
    Percentiles kl_percentiles;     ///< of the per-token KL
    Estimate same_top;              ///< fraction of tokens with argmax(base) == argmax(model); error sqrt(p (1 - p) / (n - 1))
    Estimate top_k_overlap;         ///< mean over tokens of |topk(base) ∩ topk(model)| / k, and its standard error
    Estimate delta_p;               ///< mean of p_model(y) - p_base(y) (labelled tokens)
    Estimate delta_p_rms;           ///< sqrt(mean (p_model(y) - p_base(y))^2), error by the delta method
    Percentiles delta_p_percentiles;
    Estimate nll_base;              ///< mean -log p_base(y)
    Estimate nll_model;             ///< mean -log p_model(y)
    Estimate perplexity_base;       ///< exp(nll_base), error exp(nll_base) times that of nll_base
    Estimate perplexity_model;      ///< exp(nll_model)
    double nll_correlation = detail::not_a_number;  ///< Pearson correlation of the per-token NLLs of the two models
    Estimate log_perplexity_ratio;  ///< ln(PPL(model) / PPL(base)) = mean of the per-token NLL differences
    Estimate perplexity_ratio;      ///< PPL(model) / PPL(base), error ratio times that of the log ratio
    Estimate perplexity_difference; ///< PPL(model) - PPL(base), error by the delta method with the covariance
};

/// A streaming, mergeable accumulator of the statistics of a model against a base model over batches
/// of tokens. Each batch is two (B, V) inputs, rows = tokens, given as logits(z, T) (or log_probs(x), or
/// probabilities), and optionally the B next tokens (labels; rows labelled ignore_index are skipped).
/// Per token t with base distribution P_t, model distribution Q_t and label y_t:
///   KL_t = KL(P_t || Q_t) (kl_rows' fused path), same_t = [argmax P_t == argmax Q_t],
///   overlap_t = |topk(P_t) ∩ topk(Q_t)| / k, delta_p_t = q_t(y_t) - p_t(y_t),
///   nll_t = -log p_t(y_t) and -log q_t(y_t).
/// Argmax and top-k order the entries by value, ties by the lower column (numpy.argmax, torch.argmax).
/// Cost per batch, on tiles of rows of about 1 MB per input (later passes read the tile from cache):
/// the validation pass of each input, kl_rows' two fused passes, and one ranking pass on the executor
/// (detail/ranking_pass.hpp: a vector compare per entry against the k-th largest so far; for labelled rows
/// of logits also one exp per entry and input for the log-sum-exp).
/// Memory: 8 bytes per token (its KL, for exact percentiles) plus 16 per labelled token (its two label
/// log-probabilities); summary() allocates 8 bytes per token and 40 per labelled token while it runs.
/// Every statistic is computed by summary() from these values in token order, so merging is exact:
/// a.merge(b) appends b's tokens, and the summary of shards merged in token order has the same bits as
/// one accumulator fed every batch in order (whatever the batch boundaries).
class ModelComparison {
public:
    /// \throws std::invalid_argument if options.top_k is outside [1, max_top_k].
    explicit ModelComparison(ComparisonOptions options = {}) : options_(options)
    {
        check_top_k("ModelComparison", options_.top_k);
    }

    /// Adds a batch: base and model of the same shape (B, V), forms logits(z, T), log_probs(x), or a bare
    /// Eigen object (probabilities); float or double, both the same, or logits of Eigen::half / Eigen::bfloat16
    /// (read as float a tile at a time: the float statistics of the converted logits). Nothing is added if it throws.
    /// \throws std::invalid_argument if the shapes differ, top_k > V, or on the inputs' errors (NaN or +inf
    /// logits, temperature <= 0, ...: docs/errors.md) with Validation::full.
    template <class Base, class Model>
    void add(const Base& base, const Model& model)
    {
        if constexpr (detail::check_arguments<detail::argument_error<Base, Model, detail::outputs_for<Base>>()>()) {
            add_batch("ModelComparison::add", detail::as_input(base), detail::as_input(model), nullptr);
        }
    }

    /// Adds a batch with the next tokens: `next_tokens` an Eigen vector of B integers, each in [0, V) or
    /// options.ignore_index (the row is skipped: it counts in no statistic).
    /// \throws std::invalid_argument as add(base, model), and if next_tokens has not B entries or a label
    /// is out of [0, V) and not ignore_index.
    template <class Base, class Model, class Labels>
    void add(const Base& base, const Model& model, const Labels& next_tokens)
    {
        static_assert(detail::is_eigen_dense_v<Labels>, "divergence: next_tokens must be an Eigen vector of integers.");
        if constexpr (detail::is_eigen_dense_v<Labels>) {
            static_assert(std::is_integral_v<typename Labels::Scalar> && Labels::IsVectorAtCompileTime,
                          "divergence: next_tokens must be an Eigen vector of integers (one class index per row).");
            if constexpr (detail::check_arguments<detail::argument_error<Base, Model, detail::outputs_for<Base>>()>()) {
                std::vector<long long> labels(std::size_t(next_tokens.size()));
                for (Index i = 0; i < next_tokens.size(); ++i) labels[std::size_t(i)] = static_cast<long long>(next_tokens.derived().coeff(i));
                add_batch("ModelComparison::add", detail::as_input(base), detail::as_input(model), &labels);
            }
        }
    }

    /// Appends the tokens of `other` (fed after this one's): exact, see the class comment.
    /// \throws std::invalid_argument if the two have different top_k or vocabularies.
    void merge(const ModelComparison& other)
    {
        if (other.options_.top_k != options_.top_k) {
            detail::fail("ModelComparison::merge", "other",
                         "top_k differs (" + std::to_string(other.options_.top_k) + ", this one " + std::to_string(options_.top_k) + ")");
        }
        if (other.vocabulary_ != 0 && vocabulary_ != 0 && other.vocabulary_ != vocabulary_) {
            detail::fail("ModelComparison::merge", "other",
                         "vocabulary differs (" + std::to_string(other.vocabulary_) + ", this one " + std::to_string(vocabulary_) + ")");
        }
        const ModelComparison copy = &other == this ? other : ModelComparison();
        const ModelComparison& from = &other == this ? copy : other;
        kl_.insert(kl_.end(), from.kl_.begin(), from.kl_.end());
        log_p_base_.insert(log_p_base_.end(), from.log_p_base_.begin(), from.log_p_base_.end());
        log_p_model_.insert(log_p_model_.end(), from.log_p_model_.begin(), from.log_p_model_.end());
        same_argmax_ += from.same_argmax_;
        shared_ += from.shared_;
        shared_squares_ += from.shared_squares_;
        if (vocabulary_ == 0) vocabulary_ = from.vocabulary_;
    }

    /// The whole state as doubles (for an all-gather between processes): a header of 11 entries
    /// (format tag, version, top_k, ignore_index, validation, V, tokens n, labelled tokens m, argmax
    /// agreements, sum and sum of squares of the top-k intersections), then the n per-token KL values,
    /// the m log p_base(y) and the m log p_model(y). Counts are exact up to 2^53.
    std::vector<double> serialize() const
    {
        std::vector<double> out;
        out.reserve(header_size + kl_.size() + 2 * log_p_base_.size());
        out = {format_tag,
               double(format_version),
               double(options_.top_k),
               double(options_.ignore_index),
               options_.validation == Validation::full ? 0.0 : 1.0,
               double(vocabulary_),
               double(kl_.size()),
               double(log_p_base_.size()),
               double(same_argmax_),
               double(shared_),
               double(shared_squares_)};
        out.insert(out.end(), kl_.begin(), kl_.end());
        out.insert(out.end(), log_p_base_.begin(), log_p_base_.end());
        out.insert(out.end(), log_p_model_.begin(), log_p_model_.end());
        return out;
    }

    /// The accumulator serialize() described. \throws std::invalid_argument naming the entry if the
    /// state is malformed (wrong tag, version or length, counts that are not whole numbers in range or
    /// contradict each other, a NaN or negative KL, a NaN or label log-probability above 1).
    static ModelComparison deserialize(const std::vector<double>& state)
    {
        const char* function = "ModelComparison::deserialize";
        if (state.size() < header_size) {
            detail::fail(function, "state", "has " + std::to_string(state.size()) + " entries, fewer than the header's " + std::to_string(header_size));
        }
        if (state[0] != format_tag) detail::fail(function, "state", detail::describe("entry 0 is not the format tag of a ModelComparison, got", state[0]));
        if (state[1] != double(format_version)) detail::fail(function, "state", detail::describe("entry 1: unknown format version", state[1]));
        const auto count = [&](std::size_t i, const char* what, double lowest, double highest) {
            const double v = state[i];
            if (!(v >= lowest && v <= highest && v == std::floor(v))) {
                std::ostringstream problem;
                problem.precision(17);
                problem << "entry " << i << " (" << what << ") must be a whole number in [" << lowest << ", " << highest << "], got " << v;
                detail::fail(function, "state", problem.str());
            }
            return static_cast<long long>(v);
        };
        constexpr double exact = 9007199254740992.0;  // 2^53
        ComparisonOptions options;
        options.top_k = int(count(2, "top_k", 1, max_top_k));
        options.ignore_index = count(3, "ignore_index", -exact, exact);
        options.validation = count(4, "validation", 0, 1) == 0 ? Validation::full : Validation::none;
        ModelComparison out(options);
        out.vocabulary_ = Index(count(5, "vocabulary", 0, exact));
        const long long n = count(6, "tokens", 0, exact);
        const long long m = count(7, "labelled tokens", 0, double(n));
        out.same_argmax_ = count(8, "argmax agreements", 0, double(n));
        const double k = options.top_k;
        out.shared_ = count(9, "sum of the top-k intersections", 0, k * double(n));
        out.shared_squares_ = count(10, "sum of squares of the top-k intersections", double(out.shared_), k * k * double(n));
        if (n > 0 && out.vocabulary_ < options.top_k) detail::fail(function, "state", "entry 5 (vocabulary) is below top_k");
        const double expected = double(header_size) + double(n) + 2.0 * double(m);
        if (double(state.size()) != expected) {
            detail::fail(function, "state",
                         "has " + std::to_string(state.size()) + " entries; its header says " + std::to_string(header_size) + " + n + 2 m = " +
                             std::to_string(static_cast<long long>(expected)));
        }
        const auto first = state.begin() + std::ptrdiff_t(header_size);
        out.kl_.assign(first, first + std::ptrdiff_t(n));
        out.log_p_base_.assign(first + std::ptrdiff_t(n), first + std::ptrdiff_t(n + m));
        out.log_p_model_.assign(first + std::ptrdiff_t(n + m), state.end());
        for (std::size_t i = 0; i < out.kl_.size(); ++i) {
            if (!(out.kl_[i] >= 0.0)) detail::fail(function, "state", detail::describe(("entry " + std::to_string(header_size + i) + ": a KL must be >= 0, got").c_str(), out.kl_[i]));
        }
        for (std::size_t i = 0; i < std::size_t(2 * m); ++i) {
            const double v = state[header_size + std::size_t(n) + i];
            if (!(v <= 1.0)) {  // log p(y) <= 0, and log-probability inputs pass validation up to their tolerance
                detail::fail(function, "state",
                             detail::describe(("entry " + std::to_string(header_size + std::size_t(n) + i) +
                                               ": a label log-probability must be a number <= 1 (log p <= 0 up to the inputs' tolerance), got")
                                                  .c_str(),
                                              v));
            }
        }
        return out;
    }

    /// The statistics of every token added so far (see ComparisonSummary). O(n log n) for the sorts.
    ComparisonSummary summary() const
    {
        ComparisonSummary s;
        const std::size_t n = kl_.size(), m = log_p_base_.size();
        s.tokens = static_cast<long long>(n);
        s.labelled_tokens = static_cast<long long>(m);
        s.vocabulary = vocabulary_;
        s.top_k = options_.top_k;
        s.kl = mean_with_error(kl_);
        s.kl_percentiles = percentiles(kl_);
        if (n > 0) {
            const double p = double(same_argmax_) / double(n), k = options_.top_k;
            s.same_top = {p, n > 1 ? std::sqrt(p * (1.0 - p) / double(n - 1)) : detail::not_a_number};
            // The overlaps o_t / k from the exact integer sums: sum (o - mean)^2 = sum o^2 - (sum o)^2 / n.
            const long double sum = shared_, squares = shared_squares_, count = n;
            const long double deviations = std::max(0.0L, squares - sum * sum / count);
            s.top_k_overlap = {double(sum / count / k),
                               n > 1 ? double(std::sqrt(deviations / (count - 1) / count) / k) : detail::not_a_number};
        }
        if (m == 0) return s;

        std::vector<double> delta(m), nll_base(m), nll_model(m), nll_difference(m);
        for (std::size_t t = 0; t < m; ++t) {
            delta[t] = std::exp(log_p_model_[t]) - std::exp(log_p_base_[t]);
            nll_base[t] = -log_p_base_[t];
            nll_model[t] = -log_p_model_[t];
            nll_difference[t] = log_p_base_[t] - log_p_model_[t];
        }
        s.delta_p = mean_with_error(delta);
        s.delta_p_percentiles = percentiles(delta);
        for (double& d : delta) d *= d;
        const Estimate square = mean_with_error(delta);
        const double rms = std::sqrt(square.value);
        s.delta_p_rms = {rms, rms > 0.0 ? square.standard_error / (2.0 * rms) : 0.0};  // d sqrt(x) = dx / (2 sqrt(x))

        s.nll_base = mean_with_error(nll_base);
        s.nll_model = mean_with_error(nll_model);
        s.perplexity_base = exponential(s.nll_base);
        s.perplexity_model = exponential(s.nll_model);
        const double covariance = detail::sample_covariance(nll_model, s.nll_model.value, nll_base, s.nll_base.value);
        const double sd_base = s.nll_base.standard_error * std::sqrt(double(m)), sd_model = s.nll_model.standard_error * std::sqrt(double(m));
        s.nll_correlation = covariance / (sd_base * sd_model);
        s.log_perplexity_ratio = mean_with_error(nll_difference);
        s.perplexity_ratio = exponential(s.log_perplexity_ratio);
        // Var(PPL_m - PPL_b) ~ u_m^2 + u_b^2 - 2 PPL_m PPL_b Cov(nll_m, nll_b) / m (llama.cpp's).
        const double ppl_m = s.perplexity_model.value, ppl_b = s.perplexity_base.value;
        const double u_m = s.perplexity_model.standard_error, u_b = s.perplexity_base.standard_error;
        s.perplexity_difference = {ppl_m - ppl_b, std::sqrt(std::max(0.0, u_m * u_m + u_b * u_b - 2.0 * ppl_m * ppl_b * covariance / double(m)))};
        if (std::isnan(covariance)) s.perplexity_difference.standard_error = covariance;
        return s;
    }

    /// The summary as llama.cpp's perplexity tool prints it with --kl-divergence (docs/model-comparison.md):
    /// "====== Perplexity statistics ======" (labelled tokens only), "====== KL divergence statistics ======",
    /// "====== Token probability statistics ======" (the delta-p lines with labels), one statistic a line,
    /// "value ± standard error", probabilities in percent; plus a first line with the counts and a
    /// top-k overlap line. UTF-8 (±, Δ). Undefined values print as "nan".
    std::string table() const
    {
        const ComparisonSummary s = summary();
        std::string out;
        const auto line = [&out](const char* format, auto... values) {
            char buffer[1024];  // two %f of up to 1e308 (309 digits each) fit
            std::snprintf(buffer, sizeof buffer, format, values...);
            out += buffer;
        };
        line("tokens: %lld (%lld with labels), vocabulary: %lld, top-k: %d\n\n", s.tokens, s.labelled_tokens, (long long)s.vocabulary, s.top_k);
        if (s.labelled_tokens > 0) {
            out += "====== Perplexity statistics ======\n";
            line("Mean PPL(Q)                   : %10.6f ± %10.6f\n", s.perplexity_model.value, s.perplexity_model.standard_error);
            line("Mean PPL(base)                : %10.6f ± %10.6f\n", s.perplexity_base.value, s.perplexity_base.standard_error);
            line("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * s.nll_correlation);
            line("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", s.log_perplexity_ratio.value, s.log_perplexity_ratio.standard_error);
            line("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", s.perplexity_ratio.value, s.perplexity_ratio.standard_error);
            line("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n\n", s.perplexity_difference.value, s.perplexity_difference.standard_error);
        }
        out += "====== KL divergence statistics ======\n";
        line("Mean    KLD: %10.6f ± %10.6f\n", s.kl.value, s.kl.standard_error);
        line("Maximum KLD: %10.6f\n", s.kl_percentiles.maximum);
        for (double level : {99.9, 99.0, 95.0, 90.0}) line("%4.1f%%   KLD: %10.6f\n", level, s.kl_percentiles.at(level));
        line("Median  KLD: %10.6f\n", s.kl_percentiles.at(50.0));
        for (double level : {10.0, 5.0, 1.0, 0.1}) line("%4.1f%%   KLD: %10.6f\n", level, s.kl_percentiles.at(level));
        line("Minimum KLD: %10.6f\n\n", s.kl_percentiles.minimum);
        out += "====== Token probability statistics ======\n";
        if (s.labelled_tokens > 0) {
            const Percentiles& d = s.delta_p_percentiles;
            line("Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * s.delta_p.value, 100.0 * s.delta_p.standard_error);
            line("Maximum Δp: %6.3f%%\n", 100.0 * d.maximum);
            for (double level : {99.9, 99.0, 95.0, 90.0, 75.0}) line("%4.1f%%   Δp: %6.3f%%\n", level, 100.0 * d.at(level));
            line("Median  Δp: %6.3f%%\n", 100.0 * d.at(50.0));
            for (double level : {25.0, 10.0, 5.0, 1.0, 0.1}) line("%4.1f%%   Δp: %6.3f%%\n", level, 100.0 * d.at(level));
            line("Minimum Δp: %6.3f%%\n", 100.0 * d.minimum);
            line("RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * s.delta_p_rms.value, 100.0 * s.delta_p_rms.standard_error);
        }
        line("Same top p: %6.3f ± %5.3f %%\n", 100.0 * s.same_top.value, 100.0 * s.same_top.standard_error);
        line("Top-%d overlap: %6.3f ± %5.3f %%\n", s.top_k, 100.0 * s.top_k_overlap.value, 100.0 * s.top_k_overlap.standard_error);
        return out;
    }

    const ComparisonOptions& options() const { return options_; }
    /// Tokens counted so far.
    long long tokens() const { return static_cast<long long>(kl_.size()); }
    /// KL(base || model) of each token, in the order added (merges append).
    const std::vector<double>& kl_values() const { return kl_; }
    /// log p_base(y) and log p_model(y) of each labelled token, in the order added.
    const std::vector<double>& label_log_probs_base() const { return log_p_base_; }
    const std::vector<double>& label_log_probs_model() const { return log_p_model_; }

private:
    static constexpr double format_tag = 1296257135.0;  // "MCMP" read as a number: not a count
    static constexpr int format_version = 1;
    static constexpr std::size_t header_size = 11;

    static void check_top_k(const char* function, int top_k)
    {
        if (!(top_k >= 1 && top_k <= max_top_k)) {
            detail::fail(function, "options.top_k", "must be in [1, " + std::to_string(max_top_k) + "], got " + std::to_string(top_k));
        }
    }
    static Estimate mean_with_error(const std::vector<double>& x)
    {
        const double mean = detail::sample_mean(x);
        return {mean, x.empty() ? detail::not_a_number : detail::standard_error_of_mean(x, mean)};
    }
    /// exp of an estimate: error exp(x) times x's (the delta method).
    static Estimate exponential(const Estimate& x)
    {
        const double value = std::exp(x.value);
        return {value, value * x.standard_error};
    }
    static Percentiles percentiles(const std::vector<double>& x)
    {
        Percentiles p;
        std::vector<double> sorted = x;
        std::sort(sorted.begin(), sorted.end());
        for (std::size_t i = 0; i < p.levels.size(); ++i) p.values[i] = detail::percentile_of_sorted(sorted, p.levels[i]);
        if (!sorted.empty()) {
            p.minimum = sorted.front();
            p.maximum = sorted.back();
        } else {
            p.values.fill(detail::not_a_number);
        }
        return p;
    }

    /// Base and model of one scalar (float or double), or half / bfloat16 logits (read as float, a tile
    /// at a time).
    template <class BaseScalar, class ModelScalar>
    void add_batch(const char* function, const Input<BaseScalar>& base, const Input<ModelScalar>& model,
                   const std::vector<long long>* labels)
    {
        using Scalar = detail::compute_scalar_t<BaseScalar>;
        detail::require_logits(function, "base", base);
        detail::require_logits(function, "model", model);
        const Index rows = base.rows(), cols = base.cols();
        if (model.rows() != rows || model.cols() != cols) {
            detail::fail(function, "model",
                         "shape " + std::to_string(model.rows()) + " x " + std::to_string(model.cols()) + " differs from base's " +
                             std::to_string(rows) + " x " + std::to_string(cols));
        }
        if (vocabulary_ != 0 && cols != vocabulary_) {
            detail::fail(function, "base", "has " + std::to_string(cols) + " columns; earlier batches had " + std::to_string(vocabulary_));
        }
        if (cols != 0 && options_.top_k > cols) {
            detail::fail(function, "options.top_k", "must be <= V = " + std::to_string(cols) + ", got " + std::to_string(options_.top_k));
        }
        std::vector<std::uint8_t> keep;
        Eigen::Array<bool, Eigen::Dynamic, 1> mask;
        Options checks;
        checks.validation = options_.validation;
        if (labels != nullptr) {
            if (Index(labels->size()) != rows) {
                detail::fail(function, "next_tokens", "has " + std::to_string(labels->size()) + " entries for " + std::to_string(rows) + " rows");
            }
            keep.resize(std::size_t(rows));
            mask.resize(rows);
            for (Index r = 0; r < rows; ++r) {
                const long long y = (*labels)[std::size_t(r)];
                mask(r) = y != options_.ignore_index;
                keep[std::size_t(r)] = mask(r) ? 1 : 0;
                if (mask(r) && !(y >= 0 && y < static_cast<long long>(cols))) {
                    detail::fail(function, "next_tokens", r, -1,
                                 "label out of [0, V = " + std::to_string(cols) + ") and not ignore_index (" +
                                     std::to_string(options_.ignore_index) + "), got " + std::to_string(y));
                }
            }
            checks.mask = mask;
        }
        // Tiles of rows (about 1 MB of each input): the validation, the KL passes and the ranking pass
        // read a tile from cache after its first read from memory.
        std::vector<double> kl(std::size_t(rows), 0.0);
        std::vector<std::uint8_t> same(std::size_t(rows), 0);
        std::vector<int> shared(std::size_t(rows), 0);
        std::vector<double> log_p_base(labels ? std::size_t(rows) : 0), log_p_model(labels ? std::size_t(rows) : 0);
        const Index tile = std::max(Index(1), Index(1 << 20) / Index(sizeof(Scalar)) / std::max(cols, Index(1)));
        RowMatrix<float> base_scratch, model_scratch;  // half and bfloat16 tiles, converted
        for (Index first = 0; first < rows; first += tile) {
            const Index n = std::min(tile, rows - first);
            const Input<Scalar> base_tile = detail::input_rows(base, first, n, base_scratch);
            const Input<Scalar> model_tile = detail::input_rows(model, first, n, model_scratch);
            Options tile_checks = checks;
            if (labels != nullptr) tile_checks.mask = mask.segment(first, n);
            detail::validate_input(function, "base", base_tile, tile_checks, first);
            detail::validate_input(function, "model", model_tile, tile_checks, first);

            // KL per token: the library's fused path (entries checked above).
            tile_checks.validation = Validation::none;
            const RowValues<Scalar> tile_kl = kl_rows(base_tile, model_tile, tile_checks);
            for (Index r = 0; r < n; ++r) kl[std::size_t(first + r)] = double(tile_kl(r));

            // The ranking pass: argmax, top-k, label log-probabilities.
            const std::size_t at = std::size_t(first);
            const detail::RankingJob<Scalar> job{base_tile,
                                                model_tile,
                                                keep.empty() ? nullptr : keep.data() + at,
                                                labels ? labels->data() + at : nullptr,
                                                options_.top_k,
                                                {same.data() + at, shared.data() + at, labels ? log_p_base.data() + at : nullptr,
                                                 labels ? log_p_model.data() + at : nullptr}};
            detail::execute(job, n, detail::Chunks{cols, detail::fused_chunk});
        }

        // Append (nothing above changed the state; the reservations make the appends below not throw).
        kl_.reserve(kl_.size() + std::size_t(rows));
        if (labels != nullptr) {
            log_p_base_.reserve(log_p_base_.size() + std::size_t(rows));
            log_p_model_.reserve(log_p_model_.size() + std::size_t(rows));
        }
        for (Index r = 0; r < rows; ++r) {
            if (!keep.empty() && keep[std::size_t(r)] == 0) continue;
            kl_.push_back(kl[std::size_t(r)]);
            same_argmax_ += same[std::size_t(r)];
            shared_ += shared[std::size_t(r)];
            shared_squares_ += static_cast<long long>(shared[std::size_t(r)]) * shared[std::size_t(r)];
            if (labels != nullptr) {
                log_p_base_.push_back(log_p_base[std::size_t(r)]);
                log_p_model_.push_back(log_p_model[std::size_t(r)]);
            }
        }
        vocabulary_ = cols;
    }

    ComparisonOptions options_;
    Index vocabulary_ = 0;
    std::vector<double> kl_, log_p_base_, log_p_model_;
    long long same_argmax_ = 0, shared_ = 0, shared_squares_ = 0;
};

}  // namespace divergence

#endif
