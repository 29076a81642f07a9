// divergence::mpi::merge (include/divergence/mpi/merge.hpp): every rank gets the accumulator of all the
// ranks' data, equal to the single-process one (count, compensated mean, exact percentiles; every
// statistic of a ModelComparison, bit for bit), for uneven shares of the data and a rank without data;
// the bytes it communicates.

#include <catch2/catch.hpp>

#include <divergence/core/sum.hpp>
#include <divergence/losses/comparison.hpp>
#include <divergence/mpi/merge.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "mpi/support.hpp"
#include "support/random.hpp"

namespace {

/// A small mergeable accumulator of samples: count, compensated sum, every sample (for exact
/// percentiles), serialized as [count, sum, compensation, samples...].
class Samples {
public:
    void add(double x)
    {
        total_.add(x);
        samples_.push_back(x);
    }
    void merge(const Samples& other)
    {
        total_.merge(other.total_);
        samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
    }
    std::vector<double> serialize() const
    {
        std::vector<double> state{double(samples_.size()), total_.sum, total_.compensation};
        state.insert(state.end(), samples_.begin(), samples_.end());
        return state;
    }
    static Samples deserialize(const std::vector<double>& state)
    {
        if (state.size() < 3 || state[0] != double(state.size() - 3)) throw std::invalid_argument("Samples::deserialize: bad state");
        Samples s;
        s.total_.sum = state[1];
        s.total_.compensation = state[2];
        s.samples_.assign(state.begin() + 3, state.end());
        return s;
    }
    std::size_t count() const { return samples_.size(); }
    double mean() const { return total_.value() / double(samples_.size()); }
    /// The q-quantile, linear interpolation between order statistics (numpy's default).
    double percentile(double q) const
    {
        std::vector<double> sorted = samples_;
        std::sort(sorted.begin(), sorted.end());
        const double at = q * double(sorted.size() - 1);
        const std::size_t below = std::size_t(std::floor(at));
        const std::size_t above = std::min(below + 1, sorted.size() - 1);
        return sorted[below] + (at - double(below)) * (sorted[above] - sorted[below]);
    }

private:
    divergence::detail::CompensatedSum total_;
    std::vector<double> samples_;
};

}  // namespace

TEST_CASE("mpi::merge gives every rank the single-process statistics of all the ranks' data", "[mpi][merge]")
{
    const int n = 1001;
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> draw(0.0, 2.0);
    std::vector<double> data(n);
    for (double& x : data) x = draw(rng);
    Samples everything;
    for (const double x : data) everything.add(x);

    for (const test::mpi::Layout layout : {test::mpi::Layout::skewed, test::mpi::Layout::empty_rank}) {
        // Rank r takes a contiguous share of the data, of the layout's uneven sizes.
        const test::mpi::Slice share = test::mpi::my_slice(n, layout);
        Samples mine;
        for (Eigen::Index i = share.offset; i < share.offset + share.cols; ++i) mine.add(data[std::size_t(i)]);
        divergence::mpi::reset_traffic();
        const Samples merged = divergence::mpi::merge(mine, MPI_COMM_WORLD);
        CAPTURE(test::mpi::name(layout), test::mpi::rank());
        CHECK(divergence::mpi::traffic().collectives == 2);
        CHECK(divergence::mpi::traffic().bytes == 8 + 8 * (3 + share.cols));
        CHECK(merged.count() == everything.count());
        // Merged in rank order, the samples are those of one process in the same order: the percentiles
        // are exactly equal; the compensated mean to an ulp.
        CHECK(merged.serialize().size() == everything.serialize().size());
        for (const double q : {0.0, 0.01, 0.5, 0.9, 0.99, 1.0}) CHECK(merged.percentile(q) == everything.percentile(q));
        CHECK(merged.mean() == Approx(everything.mean()).epsilon(1e-15));
        const std::vector<double> state = merged.serialize();
        CHECK(test::mpi::same_on_every_rank(state.data(), state.size()));
    }
}

TEST_CASE("mpi::merge of ModelComparison shards gives every rank the single-process summary, bit for bit", "[mpi][merge]")
{
    // Data parallel: each rank compares the models on its own tokens (rows), a share of uneven size.
    const Eigen::Index tokens = 203, vocabulary = 50;
    const test::Matrix base = test::random_logits(tokens, vocabulary, 77, 4.0);
    test::Matrix model = base + 0.3 * test::random_logits(tokens, vocabulary, 78, 1.0);
    Eigen::VectorXi next(tokens);
    std::mt19937_64 rng(79);
    std::uniform_int_distribution<int> label(0, int(vocabulary) - 1);
    for (Eigen::Index t = 0; t < tokens; ++t) next(t) = t % 17 == 0 ? -100 : label(rng);

    divergence::ModelComparison everything;
    everything.add(divergence::logits(base), divergence::logits(model), next);
    const divergence::ComparisonSummary expected = everything.summary();

    for (const test::mpi::Layout layout : {test::mpi::Layout::skewed, test::mpi::Layout::empty_rank}) {
        const test::mpi::Slice share = test::mpi::my_slice(tokens, layout);
        divergence::ModelComparison mine;
        // In two batches, where the share allows: batch boundaries do not matter.
        const Eigen::Index half = share.cols / 2;
        for (const auto& [first, count] : {std::pair{share.offset, half}, std::pair{share.offset + half, share.cols - half}}) {
            if (count == 0) continue;
            const test::Matrix b = base.middleRows(first, count), m = model.middleRows(first, count);
            const Eigen::VectorXi y = next.segment(first, count);
            mine.add(divergence::logits(b), divergence::logits(m), y);
        }
        const divergence::ModelComparison merged = divergence::mpi::merge(mine, MPI_COMM_WORLD);
        const divergence::ComparisonSummary s = merged.summary();
        CAPTURE(test::mpi::name(layout), test::mpi::rank());
        CHECK(merged.serialize() == everything.serialize());
        CHECK(s.tokens == expected.tokens);
        CHECK(s.labelled_tokens == expected.labelled_tokens);
        CHECK(s.kl.value == expected.kl.value);
        CHECK(s.kl.standard_error == expected.kl.standard_error);
        CHECK(s.kl_percentiles.values == expected.kl_percentiles.values);
        CHECK(s.same_top.value == expected.same_top.value);
        CHECK(s.top_k_overlap.value == expected.top_k_overlap.value);
        CHECK(s.delta_p_percentiles.values == expected.delta_p_percentiles.values);
        CHECK(s.perplexity_model.value == expected.perplexity_model.value);
        CHECK(s.perplexity_ratio.standard_error == expected.perplexity_ratio.standard_error);
    }
}
