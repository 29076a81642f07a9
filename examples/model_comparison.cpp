// Model comparison: how far is a quantized model from its base? Per-token KL(base || quantized)
// between next-token distributions, summarized as llama.cpp's KL-divergence evaluation does:
// mean with its standard error, percentiles, max, and top-1 agreement.
//
// The "models" are made up here: base logits with a Zipf-like profile plus noise, and a
// "quantized" copy whose logits are rounded to a grid and slightly perturbed.
#include <divergence/divergence.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

using Logits = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Linear interpolation between order statistics (percent in [0, 100]) of a sorted sample.
double percentile(const std::vector<double>& sorted, double percent)
{
    const double position = percent / 100.0 * double(sorted.size() - 1);
    const auto below = std::size_t(std::floor(position));
    const auto above = std::min(below + 1, sorted.size() - 1);
    return sorted[below] + (position - double(below)) * (sorted[above] - sorted[below]);
}

}  // namespace

int main()
{
    const Eigen::Index tokens = 512, vocabulary = 32000;
    std::mt19937 rng(2026);
    std::normal_distribution<float> noise(0.0f, 1.0f);

    Logits base(tokens, vocabulary), quantized(tokens, vocabulary);
    const float step = 0.25f;  // the quantization grid of the logits
    for (Eigen::Index t = 0; t < tokens; ++t) {
        for (Eigen::Index v = 0; v < vocabulary; ++v) {
            const float zipf = -1.2f * std::log(float(1 + (v * 7919 + t * 104729) % vocabulary));
            base(t, v) = 6.0f + zipf + 1.5f * noise(rng);
            quantized(t, v) = step * std::round(base(t, v) / step) + 0.05f * noise(rng);
        }
    }

    // Per-token KL(base || quantized), and (a second call) their mean, the reduced value.
    const Eigen::ArrayXf per_token = divergence::kl_rows(divergence::logits(base), divergence::logits(quantized));
    const float mean = divergence::kl(divergence::logits(base), divergence::logits(quantized));

    std::vector<double> sorted(per_token.data(), per_token.data() + tokens);
    std::sort(sorted.begin(), sorted.end());
    double sum_squares = 0.0;
    for (double x : sorted) sum_squares += (x - mean) * (x - mean);
    const double standard_error = std::sqrt(sum_squares / double(tokens - 1) / double(tokens));

    Eigen::Index same_top = 0;
    for (Eigen::Index t = 0; t < tokens; ++t) {
        Eigen::Index a = 0, b = 0;
        base.row(t).maxCoeff(&a);
        quantized.row(t).maxCoeff(&b);
        same_top += a == b ? 1 : 0;
    }
    const double agreement = double(same_top) / double(tokens);
    const double agreement_error = std::sqrt(agreement * (1 - agreement) / double(tokens));

    std::printf("tokens: %ld, vocabulary: %ld, quantization step %.2f\n", long(tokens), long(vocabulary), step);
    std::printf("Mean    KLD: %10.6f +/- %10.6f\n", mean, standard_error);
    std::printf("Maximum KLD: %10.6f\n", sorted.back());
    for (double percent : {99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1}) {
        std::printf("%5.1f%%   KLD: %10.6f\n", percent, percentile(sorted, percent));
    }
    std::printf("Minimum KLD: %10.6f\n", sorted.front());
    std::printf("Same top p: %6.3f +/- %5.3f %%\n", 100 * agreement, 100 * agreement_error);
    // A check a person can make: the mean of the per-token values is the reduced value.
    std::printf("check: mean of per-token values %.6f == reduced value %.6f\n", per_token.cast<double>().mean(), mean);
    return std::abs(per_token.cast<double>().mean() - mean) <= 1e-5 * std::abs(mean) ? 0 : 1;
}
