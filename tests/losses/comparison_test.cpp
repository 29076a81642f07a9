// Model comparison (losses/comparison.hpp): every statistic of ModelComparison against a plain
// long-double computation in this file (log-softmax, KL, argmax and top-k by sorting, delta-p by an
// explicit softmax, NLLs, perplexities, their ratio and standard errors), percentiles against a sort,
// exact merging of shards, serialization, float and double inputs, forms, threads and every error.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "divergence/losses/comparison.hpp"
#include "support/errors.hpp"
#include "support/threads.hpp"

namespace losses_comparison_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;

namespace {

using Row = dv::RowMatrix<double>;
using RowF = dv::RowMatrix<float>;
using Long = long double;

/// A base model's logits (Zipf-like profile plus noise) and a "quantized" copy: rounded to a grid of
/// `step` and perturbed by `noise` (noise 0 leaves ties in the copy).
struct Pair {
    Row base, model;
    Eigen::VectorXi labels;
};

Pair make_pair(Eigen::Index rows, Eigen::Index cols, unsigned seed, double step = 0.25, double noise = 0.05)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    Pair out{Row(rows, cols), Row(rows, cols), Eigen::VectorXi(rows)};
    for (Eigen::Index r = 0; r < rows; ++r) {
        for (Eigen::Index c = 0; c < cols; ++c) {
            out.base(r, c) = 4.0 - 1.1 * std::log(double(1 + (c * 7919 + r * 104729) % cols)) + 1.5 * normal(rng);
            out.model(r, c) = step * std::round(out.base(r, c) / step) + noise * normal(rng);
        }
        out.labels(r) = int(std::uniform_int_distribution<Eigen::Index>(0, cols - 1)(rng));
    }
    return out;
}

std::vector<Long> log_softmax(const Row& z, Eigen::Index r, double temperature = 1.0)
{
    Long largest = -std::numeric_limits<Long>::infinity();
    for (Eigen::Index c = 0; c < z.cols(); ++c) largest = std::max(largest, Long(z(r, c)) / temperature);
    Long sum = 0;
    for (Eigen::Index c = 0; c < z.cols(); ++c) sum += std::exp(Long(z(r, c)) / temperature - largest);
    std::vector<Long> out(std::size_t(z.cols()));
    for (Eigen::Index c = 0; c < z.cols(); ++c) out[std::size_t(c)] = Long(z(r, c)) / temperature - largest - std::log(sum);
    return out;
}

/// The columns of the k largest entries of row r, by sorting (value descending, column ascending).
std::vector<Eigen::Index> top_columns(const Row& z, Eigen::Index r, int k)
{
    std::vector<Eigen::Index> columns(std::size_t(z.cols()));
    std::iota(columns.begin(), columns.end(), Eigen::Index(0));
    std::stable_sort(columns.begin(), columns.end(), [&](Eigen::Index a, Eigen::Index b) { return z(r, a) > z(r, b); });
    columns.resize(std::size_t(k));
    return columns;
}

/// Per-token values of the comparison, in long double.
struct Reference {
    std::vector<Long> kl, delta, nll_base, nll_model;
    long long same = 0, shared = 0, shared_squares = 0;

    void add(const Row& base, const Row& model, const Eigen::VectorXi* labels, int k, double temperature = 1.0,
             int ignore_index = -100)
    {
        for (Eigen::Index r = 0; r < base.rows(); ++r) {
            if (labels && (*labels)(r) == ignore_index) continue;
            const auto lp = log_softmax(base, r, temperature), lq = log_softmax(model, r, temperature);
            Long value = 0;
            for (std::size_t c = 0; c < lp.size(); ++c) value += std::exp(lp[c]) * (lp[c] - lq[c]);
            kl.push_back(value);
            const auto top_base = top_columns(base, r, k), top_model = top_columns(model, r, k);
            same += top_base[0] == top_model[0] ? 1 : 0;
            long long s = 0;
            for (auto a : top_base) s += std::count(top_model.begin(), top_model.end(), a);
            shared += s;
            shared_squares += s * s;
            if (labels) {
                const auto y = std::size_t((*labels)(r));
                delta.push_back(std::exp(lq[y]) - std::exp(lp[y]));
                nll_base.push_back(-lp[y]);
                nll_model.push_back(-lq[y]);
            }
        }
    }
};

Long mean(const std::vector<Long>& x)
{
    Long s = 0;
    for (Long v : x) s += v;
    return s / Long(x.size());
}

Long covariance(const std::vector<Long>& x, const std::vector<Long>& y)
{
    const Long mx = mean(x), my = mean(y);
    Long s = 0;
    for (std::size_t i = 0; i < x.size(); ++i) s += (x[i] - mx) * (y[i] - my);
    return s / Long(x.size() - 1);
}

Long standard_error(const std::vector<Long>& x) { return std::sqrt(covariance(x, x) / Long(x.size())); }

/// Linear interpolation between order statistics, as documented, in long double.
Long percentile(std::vector<Long> x, double level)
{
    std::sort(x.begin(), x.end());
    const Long h = Long(level) / 100 * Long(x.size() - 1);
    const auto i = std::size_t(std::floor(h));
    if (i + 1 >= x.size()) return x.back();
    return x[i] + (h - Long(i)) * (x[i + 1] - x[i]);
}

/// Relative closeness of a double to a long-double reference (absolute below `floor`).
bool close(double value, Long reference, double relative, double floor = 1e-300)
{
    return std::abs(Long(value) - reference) <= Long(relative) * std::max(std::abs(reference), Long(floor));
}

/// Bitwise equality of two summaries (NaN equal to NaN of the same bits).
bool same_bits(const dv::ComparisonSummary& a, const dv::ComparisonSummary& b)
{
    const auto eq = [](double x, double y) { return std::memcmp(&x, &y, sizeof x) == 0; };
    const auto eqe = [&](const dv::Estimate& x, const dv::Estimate& y) { return eq(x.value, y.value) && eq(x.standard_error, y.standard_error); };
    const auto eqp = [&](const dv::Percentiles& x, const dv::Percentiles& y) {
        bool all = eq(x.minimum, y.minimum) && eq(x.maximum, y.maximum);
        for (std::size_t i = 0; i < x.values.size(); ++i) all = all && eq(x.values[i], y.values[i]);
        return all;
    };
    return a.tokens == b.tokens && a.labelled_tokens == b.labelled_tokens && a.vocabulary == b.vocabulary && a.top_k == b.top_k &&
           eqe(a.kl, b.kl) && eqp(a.kl_percentiles, b.kl_percentiles) && eqe(a.same_top, b.same_top) &&
           eqe(a.top_k_overlap, b.top_k_overlap) && eqe(a.delta_p, b.delta_p) && eqe(a.delta_p_rms, b.delta_p_rms) &&
           eqp(a.delta_p_percentiles, b.delta_p_percentiles) && eqe(a.nll_base, b.nll_base) && eqe(a.nll_model, b.nll_model) &&
           eqe(a.perplexity_base, b.perplexity_base) && eqe(a.perplexity_model, b.perplexity_model) &&
           eq(a.nll_correlation, b.nll_correlation) && eqe(a.log_perplexity_ratio, b.log_perplexity_ratio) &&
           eqe(a.perplexity_ratio, b.perplexity_ratio) && eqe(a.perplexity_difference, b.perplexity_difference);
}

/// Checks every statistic of `s` against the reference: relative tolerance `tol` for the label
/// statistics, `kl_tol` (absolute below 1e-3) for the KL values.
void check_summary(const dv::ComparisonSummary& s, const Reference& ref, int k, double tol, double kl_tol)
{
    const auto n = ref.kl.size();
    REQUIRE(s.tokens == (long long)n);
    CHECK(close(s.kl.value, mean(ref.kl), kl_tol, 1e-3));
    CHECK(close(s.kl.standard_error, standard_error(ref.kl), 1e3 * kl_tol, 1e-3));
    for (double level : dv::Percentiles::levels) {
        CAPTURE(level);
        CHECK(close(s.kl_percentiles.at(level), percentile(ref.kl, level), kl_tol, 1e-3));
    }
    CHECK(close(s.kl_percentiles.maximum, *std::max_element(ref.kl.begin(), ref.kl.end()), kl_tol, 1e-3));
    CHECK(close(s.kl_percentiles.minimum, *std::min_element(ref.kl.begin(), ref.kl.end()), kl_tol, 1e-3));
    // Counts are exact: the fractions are the reference's to rounding.
    const Long p = Long(ref.same) / Long(n);
    CHECK(close(s.same_top.value, p, 1e-15));
    CHECK(close(s.same_top.standard_error, std::sqrt(p * (1 - p) / Long(n - 1)), 1e-14));
    const Long overlap = Long(ref.shared) / Long(n) / k;
    const Long overlap_variance = (Long(ref.shared_squares) - Long(ref.shared) * ref.shared / Long(n)) / Long(n - 1) / Long(k * k);
    CHECK(close(s.top_k_overlap.value, overlap, 1e-15));
    CHECK(close(s.top_k_overlap.standard_error, std::sqrt(overlap_variance / Long(n)), 1e-14));
    if (ref.delta.empty()) {
        CHECK(s.labelled_tokens == 0);
        CHECK(std::isnan(s.delta_p.value));
        return;
    }
    const auto m = ref.delta.size();
    REQUIRE(s.labelled_tokens == (long long)m);
    CHECK(close(s.delta_p.value, mean(ref.delta), 1e3 * tol, 1e-12));
    CHECK(close(s.delta_p.standard_error, standard_error(ref.delta), 1e3 * tol));
    std::vector<Long> squares;
    for (Long d : ref.delta) squares.push_back(d * d);
    const Long rms = std::sqrt(mean(squares));
    CHECK(close(s.delta_p_rms.value, rms, tol));
    CHECK(close(s.delta_p_rms.standard_error, standard_error(squares) / (2 * rms), 1e3 * tol));
    for (double level : dv::Percentiles::levels) {
        CAPTURE(level);
        CHECK(close(s.delta_p_percentiles.at(level), percentile(ref.delta, level), 1e3 * tol, 1e-9));
    }
    CHECK(close(s.nll_base.value, mean(ref.nll_base), tol));
    CHECK(close(s.nll_model.value, mean(ref.nll_model), tol));
    CHECK(close(s.nll_base.standard_error, standard_error(ref.nll_base), 1e3 * tol));
    CHECK(close(s.perplexity_base.value, std::exp(mean(ref.nll_base)), 10 * tol));
    CHECK(close(s.perplexity_model.value, std::exp(mean(ref.nll_model)), 10 * tol));
    CHECK(close(s.perplexity_model.standard_error, std::exp(mean(ref.nll_model)) * standard_error(ref.nll_model), 1e3 * tol));
    // The ratio and its error: delta method on the per-token NLL differences.
    std::vector<Long> difference;
    for (std::size_t t = 0; t < m; ++t) difference.push_back(ref.nll_model[t] - ref.nll_base[t]);
    const Long log_ratio = mean(difference), ratio = std::exp(log_ratio);
    CHECK(close(s.log_perplexity_ratio.value, log_ratio, 1e3 * tol, 1e-12));
    CHECK(close(s.log_perplexity_ratio.standard_error, standard_error(difference), 1e3 * tol));
    CHECK(close(s.perplexity_ratio.value, ratio, 10 * tol));
    CHECK(close(s.perplexity_ratio.standard_error, ratio * standard_error(difference), 1e3 * tol));
    const Long cov = covariance(ref.nll_model, ref.nll_base);
    CHECK(close(s.nll_correlation, cov / std::sqrt(covariance(ref.nll_base, ref.nll_base) * covariance(ref.nll_model, ref.nll_model)), 1e3 * tol));
    const Long ppl_b = std::exp(mean(ref.nll_base)), ppl_m = std::exp(mean(ref.nll_model));
    const Long u_b = ppl_b * standard_error(ref.nll_base), u_m = ppl_m * standard_error(ref.nll_model);
    CHECK(close(s.perplexity_difference.value, ppl_m - ppl_b, 1e3 * tol, 1e-9));
    CHECK(close(s.perplexity_difference.standard_error, std::sqrt(u_m * u_m + u_b * u_b - 2 * ppl_m * ppl_b * cov / Long(m)), 1e3 * tol));
}

}  // namespace

TEST_CASE("model comparison: every statistic against a long-double computation (double logits)", "[comparison]")
{
    const auto cols = GENERATE(as<Eigen::Index>{}, 7, 300, 40000);
    const int k = cols == 7 ? 3 : 5;
    // 40000 double columns: tiles of 3 rows (add() works on about 1 MB of each input at a time).
    const Pair data = make_pair(cols > 1000 ? 5 : 60, cols, 11u + unsigned(cols));
    CAPTURE(cols);
    dv::ComparisonOptions options;
    options.top_k = k;
    dv::ModelComparison comparison(options);
    comparison.add(dv::logits(data.base), dv::logits(data.model), data.labels);
    Reference ref;
    ref.add(data.base, data.model, &data.labels, k);
    for (std::size_t t = 0; t < ref.kl.size(); ++t) CHECK(close(comparison.kl_values()[t], ref.kl[t], 1e-10, 1e-14));
    check_summary(comparison.summary(), ref, k, 1e-10, 1e-10);
}

TEST_CASE("model comparison: float logits, per-token values within float rounding and statistics in double", "[comparison]")
{
    const Pair data = make_pair(80, 500, 5u);
    const RowF base = data.base.cast<float>(), model = data.model.cast<float>();
    dv::ModelComparison comparison;
    comparison.add(dv::logits(base), dv::logits(model), data.labels);
    Reference ref;  // of the float values, widened
    ref.add(base.cast<double>(), model.cast<double>(), &data.labels, 5);
    // Per-token KL of float logits (kl_rows' float path: exponentials in float) errs by about 1e-6
    // absolute (2.7e-4 relative at KL = 4e-3); the label log-probabilities by about 1e-7.
    check_summary(comparison.summary(), ref, 5, 2e-6, 1e-3);
}

TEST_CASE("model comparison: argmax and top-k ties go to the lower column, as a stable sort orders them", "[comparison]")
{
    // Integer logits in a small range: many ties within each row, across chunk boundaries too.
    const Eigen::Index rows = 3, cols = 70000;  // fewer rows than threads: chunk mode on 4 threads
    Row base(rows, cols), model(rows, cols);
    std::mt19937_64 rng(3);
    std::uniform_int_distribution<int> small(0, 6);
    for (Eigen::Index r = 0; r < rows; ++r) {
        for (Eigen::Index c = 0; c < cols; ++c) {
            base(r, c) = small(rng);
            model(r, c) = small(rng);
        }
        // The largest values late in the row (second chunk) in some rows.
        if (r % 2 == 0) base(r, cols - 1 - r) = 9, model(r, cols - 5) = 9, model(r, 40000 + r) = 9;
    }
    for (int k : {1, 4, 64}) {
        dv::ComparisonOptions options;
        options.top_k = k;
        const auto run = [&] {
            dv::ModelComparison comparison(options);
            comparison.add(dv::logits(base), dv::logits(model));
            return comparison.summary();
        };
        const dv::ComparisonSummary one = test::with_threads(1, run), four = test::with_threads(4, run);
        CHECK(same_bits(one, four));  // chunk mode (rows < threads) or not: the same top-k
        long long same = 0, shared = 0;
        for (Eigen::Index r = 0; r < rows; ++r) {
            const auto a = top_columns(base, r, k), b = top_columns(model, r, k);
            same += a[0] == b[0] ? 1 : 0;
            for (auto c : a) shared += std::count(b.begin(), b.end(), c);
        }
        CAPTURE(k);
        CHECK(one.same_top.value == double(same) / double(rows));
        CHECK(one.top_k_overlap.value == Approx(double(shared) / double(rows) / k).epsilon(1e-15));
    }
}

TEST_CASE("model comparison: percentiles are linear interpolation between the order statistics of a sort, exactly", "[comparison]")
{
    for (Eigen::Index rows : {1, 2, 3, 10, 1001}) {
        const Pair data = make_pair(rows, 40, unsigned(rows));
        dv::ModelComparison comparison;
        comparison.add(dv::logits(data.base), dv::logits(data.model), data.labels);
        const dv::ComparisonSummary s = comparison.summary();
        std::vector<double> sorted = comparison.kl_values();
        std::sort(sorted.begin(), sorted.end());
        const auto n = sorted.size();
        CAPTURE(rows);
        for (double level : dv::Percentiles::levels) {
            // The documented definition, written out: h = (level / 100)(n - 1).
            const double h = (level / 100.0) * double(n - 1);
            const auto i = std::size_t(std::floor(h));
            const double expected = i + 1 >= n ? sorted.back() : sorted[i] + (h - double(i)) * (sorted[i + 1] - sorted[i]);
            CAPTURE(level);
            CHECK(s.kl_percentiles.at(level) == expected);
            CHECK(s.kl_percentiles.at(level) >= sorted[i]);
            CHECK(s.kl_percentiles.at(level) <= sorted[std::min(i + 1, n - 1)]);
        }
        CHECK(s.kl_percentiles.minimum == sorted.front());
        CHECK(s.kl_percentiles.maximum == sorted.back());
        if (rows % 2 == 1) CHECK(s.kl_percentiles.at(50.0) == sorted[n / 2]);  // the median of an odd count
        if (rows == 1) {
            CHECK(std::isnan(s.kl.standard_error));  // undefined for one token
            CHECK(s.kl.value == sorted[0]);
        }
    }
}

TEST_CASE("model comparison: shards merged in order give the bits of one accumulator fed every batch", "[comparison]")
{
    // Ten batches of uneven sizes, some labelled (with ignored rows), some not.
    std::vector<Pair> batches;
    const Eigen::Index sizes[] = {5, 17, 1, 30, 8, 2, 23, 11, 4, 9};
    for (int b = 0; b < 10; ++b) {
        batches.push_back(make_pair(sizes[b], 120, 100u + unsigned(b)));
        if (b % 3 == 1) batches.back().labels(0) = -100;
    }
    const auto feed = [&](dv::ModelComparison& c, int b) {
        if (b % 4 == 3) {
            c.add(dv::logits(batches[std::size_t(b)].base), dv::logits(batches[std::size_t(b)].model));
        } else {
            c.add(dv::logits(batches[std::size_t(b)].base), dv::logits(batches[std::size_t(b)].model), batches[std::size_t(b)].labels);
        }
    };
    dv::ModelComparison single;
    for (int b = 0; b < 10; ++b) feed(single, b);
    const dv::ComparisonSummary expected = single.summary();
    REQUIRE(expected.labelled_tokens > 0);
    REQUIRE(expected.labelled_tokens < expected.tokens);

    const std::vector<std::vector<int>> splits = {{10}, {3, 7}, {1, 8, 1}, {4, 0, 6}};  // batches per shard
    for (const auto& split : splits) {
        std::vector<dv::ModelComparison> shards(split.size());
        int b = 0;
        for (std::size_t s = 0; s < split.size(); ++s) {
            for (int i = 0; i < split[s]; ++i) feed(shards[s], b++);
        }
        dv::ModelComparison merged = shards[0];
        for (std::size_t s = 1; s < shards.size(); ++s) merged.merge(shards[s]);
        CAPTURE(split.size(), split[0]);
        CHECK(same_bits(merged.summary(), expected));
        CHECK(merged.serialize() == single.serialize());
        // Through serialization, as processes would exchange them.
        dv::ModelComparison gathered = dv::ModelComparison::deserialize(shards[0].serialize());
        for (std::size_t s = 1; s < shards.size(); ++s) gathered.merge(dv::ModelComparison::deserialize(shards[s].serialize()));
        CHECK(same_bits(gathered.summary(), expected));
    }
    // Batch boundaries do not matter either: the statistics are computed from per-token values in order.
    // (Batches 2, 3 and 4 are fed one row at a time.)
    dv::ModelComparison rebatched;
    for (int b = 0; b < 10; ++b) {
        const Pair& p = batches[std::size_t(b)];
        if (b < 2 || b > 4) {
            feed(rebatched, b);
            continue;
        }
        for (Eigen::Index r = 0; r < p.base.rows(); ++r) {
            const Row base = p.base.row(r), model = p.model.row(r);
            if (b % 4 == 3) {
                rebatched.add(dv::logits(base), dv::logits(model));
            } else {
                const Eigen::VectorXi y = p.labels.segment(r, 1);
                rebatched.add(dv::logits(base), dv::logits(model), y);
            }
        }
    }
    CHECK(same_bits(rebatched.summary(), expected));
    // Merging an accumulator into itself doubles its tokens.
    dv::ModelComparison twice = single;
    twice.merge(twice);
    CHECK(twice.tokens() == 2 * single.tokens());
    CHECK(twice.summary().kl.value == Approx(expected.kl.value).epsilon(1e-14));
}

TEST_CASE("model comparison: serialize and deserialize round trip", "[comparison]")
{
    const Pair data = make_pair(25, 64, 9u);
    dv::ComparisonOptions options;
    options.top_k = 7;
    options.ignore_index = -1;
    options.validation = dv::Validation::none;
    dv::ModelComparison comparison(options);
    comparison.add(dv::logits(data.base), dv::logits(data.model), data.labels);
    comparison.add(dv::logits(data.base), dv::logits(data.model));
    const std::vector<double> state = comparison.serialize();
    CHECK(state.size() == 11 + 50 + 2 * 25);
    const dv::ModelComparison back = dv::ModelComparison::deserialize(state);
    CHECK(back.serialize() == state);
    CHECK(back.options().top_k == 7);
    CHECK(back.options().ignore_index == -1);
    CHECK(back.options().validation == dv::Validation::none);
    CHECK(same_bits(back.summary(), comparison.summary()));
    CHECK(back.table() == comparison.table());
    // An empty accumulator too.
    const dv::ModelComparison empty;
    CHECK(dv::ModelComparison::deserialize(empty.serialize()).serialize() == empty.serialize());
    CHECK(std::isnan(empty.summary().kl.value));
}

TEST_CASE("model comparison: ignored labels, temperature and the log-probability and probability forms", "[comparison]")
{
    Pair data = make_pair(30, 50, 21u);
    for (Eigen::Index r = 0; r < 30; r += 4) data.labels(r) = -100;
    for (Eigen::Index r = 2; r < 30; r += 4) data.base.row(r).setConstant(std::numeric_limits<double>::quiet_NaN());  // ignored: not read
    for (Eigen::Index r = 2; r < 30; r += 4) data.labels(r) = -100;
    const double temperature = 1.7;
    dv::ModelComparison from_logits;
    from_logits.add(dv::logits(data.base, temperature), dv::logits(data.model, temperature), data.labels);
    Reference ref;
    ref.add(data.base, data.model, &data.labels, 5, temperature);
    check_summary(from_logits.summary(), ref, 5, 1e-10, 1e-10);

    // The same distributions as log-probabilities and as probabilities (ignored rows made valid).
    Row log_p(30, 50), log_q(30, 50);
    for (Eigen::Index r = 0; r < 30; ++r) {
        const auto lp = log_softmax(data.base, r, temperature), lq = log_softmax(data.model, r, temperature);
        for (Eigen::Index c = 0; c < 50; ++c) {
            log_p(r, c) = double(lp[std::size_t(c)]);
            log_q(r, c) = double(lq[std::size_t(c)]);
        }
    }
    dv::ModelComparison from_log_probs;
    from_log_probs.add(dv::log_probs(log_p), dv::log_probs(log_q), data.labels);
    check_summary(from_log_probs.summary(), ref, 5, 1e-10, 1e-10);
    const Row p = log_p.array().exp().matrix(), q = log_q.array().exp().matrix();
    dv::ModelComparison from_probs;
    from_probs.add(p, q, data.labels);
    check_summary(from_probs.summary(), ref, 5, 1e-9, 1e-9);
}

TEST_CASE("model comparison: a label of probability 0 gives an infinite perplexity, not NaN", "[comparison]")
{
    Row base(3, 4), model(3, 4);
    base << 1, 2, 3, 4, 0, 0, 1, 0, 2, 1, 0, 0;
    model = base;
    model(1, 3) = -std::numeric_limits<double>::infinity();  // p_model = 0 at the label of row 1
    const Eigen::VectorXi y = (Eigen::VectorXi(3) << 0, 3, 1).finished();
    dv::ComparisonOptions options;
    options.top_k = 2;
    dv::ModelComparison comparison(options);
    comparison.add(dv::logits(base), dv::logits(model), y);
    const dv::ComparisonSummary s = comparison.summary();
    CHECK(s.kl.value == std::numeric_limits<double>::infinity());
    CHECK(s.kl.standard_error == std::numeric_limits<double>::infinity());
    CHECK(s.perplexity_model.value == std::numeric_limits<double>::infinity());
    CHECK(s.perplexity_ratio.value == std::numeric_limits<double>::infinity());
    CHECK(std::isfinite(s.perplexity_base.value));
    CHECK(std::isfinite(s.delta_p.value));
    CHECK(s.kl_percentiles.maximum == std::numeric_limits<double>::infinity());
}

TEST_CASE("model comparison: the same bits on 1 and 4 threads, column-major inputs the same as row-major", "[comparison]")
{
    const Pair data = make_pair(3, 70000, 8u);  // 3 rows, 3 chunks each: chunk mode on 4 threads
    const auto run = [&] {
        dv::ModelComparison comparison;
        comparison.add(dv::logits(data.base), dv::logits(data.model), data.labels);
        return comparison.summary();
    };
    const dv::ComparisonSummary one = test::with_threads(1, run), four = test::with_threads(4, run);
    CHECK(same_bits(one, four));
    const Eigen::MatrixXd base = data.base, model = data.model;  // column-major: staged rows
    dv::ModelComparison column_major;
    column_major.add(dv::logits(base), dv::logits(model), data.labels);
    CHECK(same_bits(column_major.summary(), one));
}

TEST_CASE("model comparison: half and bfloat16 logits give the float statistics of the converted logits", "[comparison]")
{
    const Pair data = make_pair(300, 5000, 9u);  // several tiles of about 1 MB
    const dv::RowMatrix<Eigen::half> base_h = data.base.cast<float>().cast<Eigen::half>();
    const dv::RowMatrix<Eigen::bfloat16> model_b = data.model.cast<float>().cast<Eigen::bfloat16>();
    const dv::RowMatrix<float> base_f = base_h.cast<float>(), model_f = model_b.cast<float>();
    dv::ModelComparison low, full;
    low.add(dv::logits(base_h), dv::logits(model_b), data.labels);
    full.add(dv::logits(base_f), dv::logits(model_f), data.labels);
    CHECK(same_bits(low.summary(), full.summary()));
    dv::ModelComparison mixed;
    mixed.add(dv::logits(base_f), dv::logits(model_b), data.labels);
    CHECK(same_bits(mixed.summary(), full.summary()));
    test::fails_with([&] { low.add(dv::log_probs(base_h), dv::logits(model_b)); }, "argument 'base'", "must be logits");
}

TEST_CASE("model comparison: the table has llama.cpp's sections and lines", "[comparison]")
{
    const Pair data = make_pair(20, 40, 4u);
    dv::ModelComparison comparison;
    comparison.add(dv::logits(data.base), dv::logits(data.model));
    const std::string unlabelled = comparison.table();
    CHECK(unlabelled.find("====== KL divergence statistics ======") != std::string::npos);
    CHECK(unlabelled.find("Mean    KLD:") != std::string::npos);
    CHECK(unlabelled.find("99.9%   KLD:") != std::string::npos);
    CHECK(unlabelled.find(" 0.1%   KLD:") != std::string::npos);
    CHECK(unlabelled.find("Same top p:") != std::string::npos);
    CHECK(unlabelled.find("Top-5 overlap:") != std::string::npos);
    CHECK(unlabelled.find("Perplexity") == std::string::npos);
    CHECK(unlabelled.find("Δp") == std::string::npos);
    comparison.add(dv::logits(data.base), dv::logits(data.model), data.labels);
    const std::string labelled = comparison.table();
    CHECK(labelled.find("====== Perplexity statistics ======") != std::string::npos);
    CHECK(labelled.find("Mean PPL(Q)/PPL(base)         :") != std::string::npos);
    CHECK(labelled.find("RMS Δp    :") != std::string::npos);
    CHECK(labelled.find("tokens: 40 (20 with labels), vocabulary: 40, top-k: 5") != std::string::npos);
}

TEST_CASE("model comparison: bad input throws a clear std::invalid_argument and adds nothing", "[comparison][errors]")
{
    const Pair data = make_pair(4, 10, 1u);
    dv::ModelComparison comparison;
    comparison.add(dv::logits(data.base), dv::logits(data.model), data.labels);
    const std::vector<double> before = comparison.serialize();

    const Row narrow = data.model.leftCols(9);
    test::fails_with([&] { comparison.add(dv::logits(data.base), dv::logits(narrow)); }, "ModelComparison::add", "'model'",
                     "shape 4 x 9 differs from base's 4 x 10");
    const Row wider = Row::Zero(4, 11);
    test::fails_with([&] { comparison.add(dv::logits(wider), dv::logits(wider)); }, "'base'", "has 11 columns; earlier batches had 10");
    const Eigen::VectorXi three = data.labels.head(3);
    test::fails_with([&] { comparison.add(dv::logits(data.base), dv::logits(data.model), three); }, "'next_tokens'",
                     "has 3 entries for 4 rows");
    Eigen::VectorXi out_of_range = data.labels;
    out_of_range(2) = 10;
    test::fails_with([&] { comparison.add(dv::logits(data.base), dv::logits(data.model), out_of_range); }, "'next_tokens'", "row 2",
                     "label out of [0, V = 10)", "got 10");
    out_of_range(2) = -3;
    test::fails_with([&] { comparison.add(dv::logits(data.base), dv::logits(data.model), out_of_range); }, "row 2", "got -3");
    test::fails_with([&] { comparison.add(dv::logits(data.base, 0.0), dv::logits(data.model, 0.0)); }, "'base'",
                     "temperature must be finite and > 0");
    test::fails_with([&] { comparison.add(dv::logits(data.base), dv::logits(data.model, -1.0)); }, "'model'",
                     "temperature must be finite and > 0");
    Row with_nan = data.model;
    with_nan(1, 3) = std::numeric_limits<double>::quiet_NaN();
    test::fails_with([&] { comparison.add(dv::logits(data.base), dv::logits(with_nan)); }, "'model'", "row 1, column 3",
                     "logit must be finite or -inf");
    test::fails_with([&] { comparison.add(data.base, data.model); }, "'base'", "row 0");  // logits are not probabilities
    {
        // Rows of 70000 doubles: one row per tile; the error names the row of the batch.
        Row wide_base = Row::Zero(3, 70000), wide_model = Row::Zero(3, 70000);
        wide_model(2, 5) = std::numeric_limits<double>::infinity();
        dv::ModelComparison fresh;
        test::fails_with([&] { fresh.add(dv::logits(wide_base), dv::logits(wide_model)); }, "'model'", "row 2, column 5");
        CHECK(fresh.tokens() == 0);
    }
    CHECK(comparison.serialize() == before);  // nothing was added

    for (int k : {0, -1, dv::max_top_k + 1}) {
        dv::ComparisonOptions options;
        options.top_k = k;
        test::fails_with([&] { dv::ModelComparison c(options); }, "ModelComparison", "'options.top_k'", "must be in [1, 64]");
    }
    dv::ComparisonOptions eleven;
    eleven.top_k = 11;
    dv::ModelComparison too_wide(eleven);
    test::fails_with([&] { too_wide.add(dv::logits(data.base), dv::logits(data.model)); }, "'options.top_k'", "must be <= V = 10, got 11");
    test::fails_with([&] { comparison.merge(too_wide); }, "ModelComparison::merge", "'other'", "top_k differs");
    dv::ModelComparison other_vocabulary;
    other_vocabulary.add(dv::logits(wider), dv::logits(wider));
    test::fails_with([&] { comparison.merge(other_vocabulary); }, "'other'", "vocabulary differs (11, this one 10)");
    test::fails_with([&] { (void)comparison.summary().kl_percentiles.at(42.0); }, "Percentiles::at", "'level'");
}

TEST_CASE("model comparison: deserialize refuses malformed states", "[comparison][errors]")
{
    const Pair data = make_pair(6, 12, 2u);
    dv::ModelComparison comparison;
    comparison.add(dv::logits(data.base), dv::logits(data.model), data.labels);
    const std::vector<double> good = comparison.serialize();
    const auto with = [&](std::size_t i, double v) {
        std::vector<double> s = good;
        s[i] = v;
        return s;
    };
    const auto refused = [](const std::vector<double>& s, const char* part) {
        test::fails_with([&] { (void)dv::ModelComparison::deserialize(s); }, "ModelComparison::deserialize", "'state'", part);
    };
    refused({}, "has 0 entries, fewer than the header's 11");
    refused(with(0, 1.0), "entry 0 is not the format tag");
    refused(with(1, 2.0), "entry 1: unknown format version");
    refused(with(2, 0.0), "entry 2 (top_k) must be a whole number in [1, 64]");
    refused(with(2, 2.5), "entry 2 (top_k)");
    refused(with(6, -1.0), "entry 6 (tokens)");
    refused(with(6, std::numeric_limits<double>::quiet_NaN()), "entry 6 (tokens)");
    refused(with(7, 7.0), "entry 7 (labelled tokens) must be a whole number in [0, 6]");
    refused(with(8, 7.0), "entry 8 (argmax agreements)");
    refused(with(9, 31.0), "entry 9 (sum of the top-k intersections)");
    refused(with(5, 3.0), "entry 5 (vocabulary) is below top_k");
    std::vector<double> longer = good;
    longer.push_back(0.0);
    refused(longer, "has 30 entries; its header says 11 + n + 2 m = 29");
    refused(with(11, -0.5), "entry 11: a KL must be >= 0");
    refused(with(12, std::numeric_limits<double>::quiet_NaN()), "entry 12: a KL must be >= 0");
    refused(with(18, std::numeric_limits<double>::quiet_NaN()), "entry 18: a label log-probability must be a number <= 1");
    // Random states: refused with std::invalid_argument or accepted, never a crash.
    std::mt19937_64 rng(17);
    std::uniform_int_distribution<int> length(0, 40), entry(-3, 8);
    for (int trial = 0; trial < 300; ++trial) {
        std::vector<double> s = good;
        s.resize(std::size_t(length(rng)));
        for (double& v : s) {
            if (entry(rng) == 0) v = double(entry(rng));
        }
        try {
            const dv::ModelComparison c = dv::ModelComparison::deserialize(s);
            CHECK(c.serialize() == s);
        } catch (const std::invalid_argument&) {
        }
    }
}

}  // namespace losses_comparison_test
