// Model comparison: how far is a quantized model (or a student) from its base model? Prints the
// statistics of llama.cpp's perplexity tool (--kl-divergence): per-token KL(base || model) with its
// mean, standard error and percentiles, top-1 agreement, top-k overlap and, given the next tokens,
// the change of the correct token's probability and the perplexity ratio. docs/model-comparison.md.
//
//   compare_models base_logits.npy model_logits.npy [next_tokens.npy] [--top-k K] [--temperature T]
//
// The logits are 2-D .npy files (tokens x vocabulary, float32 or float64, as numpy.save writes them,
// e.g. np.save("base.npy", logits.float().numpy())); the labels a 1-D int32 or int64 .npy file (-100
// skips a token). Both files float32: compared in float; otherwise in double.
// With no arguments it makes up the models: base logits with a Zipf-like profile plus noise, and a
// "quantized" copy whose logits are rounded to a grid and slightly perturbed; the next tokens are
// drawn from the base model.
#include <divergence/divergence.hpp>
#include <divergence/io/npy.hpp>
#include <divergence/losses/comparison.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Labels = Eigen::Matrix<long long, Eigen::Dynamic, 1>;

/// Feeds the comparison batch by batch, as a caller streaming model outputs would.
template <class Scalar>
void compare(divergence::ModelComparison& comparison, const divergence::RowMatrix<Scalar>& base,
             const divergence::RowMatrix<Scalar>& model, const Labels* labels, double temperature)
{
    if (model.rows() != base.rows() || model.cols() != base.cols()) {
        throw std::invalid_argument("the model's logits are " + std::to_string(model.rows()) + " x " + std::to_string(model.cols()) +
                                    ", the base's " + std::to_string(base.rows()) + " x " + std::to_string(base.cols()));
    }
    if (labels && labels->size() != base.rows()) {
        throw std::invalid_argument(std::to_string(labels->size()) + " next tokens for " + std::to_string(base.rows()) + " rows of logits");
    }
    const Eigen::Index batch = 64;
    for (Eigen::Index first = 0; first < base.rows(); first += batch) {
        const Eigen::Index n = std::min(batch, base.rows() - first);
        const auto b = divergence::logits(base.middleRows(first, n), temperature);
        const auto m = divergence::logits(model.middleRows(first, n), temperature);
        if (labels) {
            comparison.add(b, m, labels->segment(first, n));
        } else {
            comparison.add(b, m);
        }
    }
}

/// Made-up models: 256 tokens over a vocabulary of 32000.
void demo(divergence::ModelComparison& comparison)
{
    const Eigen::Index tokens = 256, vocabulary = 32000;
    std::mt19937 rng(2026);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    divergence::RowMatrix<float> base(tokens, vocabulary), quantized(tokens, vocabulary);
    Labels next(tokens);
    const float step = 0.25f;  // the quantization grid of the logits
    std::vector<double> weights(static_cast<std::size_t>(vocabulary));
    for (Eigen::Index t = 0; t < tokens; ++t) {
        for (Eigen::Index v = 0; v < vocabulary; ++v) {
            const float zipf = -1.2f * std::log(float(1 + (v * 7919 + t * 104729) % vocabulary));
            base(t, v) = 6.0f + zipf + 1.5f * noise(rng);
            quantized(t, v) = step * std::round(base(t, v) / step) + 0.05f * noise(rng);
        }
        // The next token, drawn from the base model's distribution.
        const float largest = base.row(t).maxCoeff();
        for (Eigen::Index v = 0; v < vocabulary; ++v) weights[std::size_t(v)] = std::exp(double(base(t, v) - largest));
        next(t) = std::discrete_distribution<long long>(weights.begin(), weights.end())(rng);
    }
    std::printf("made-up models: %ld tokens, vocabulary %ld, quantization step %.2f\n\n", long(tokens), long(vocabulary), step);
    compare(comparison, base, quantized, &next, 1.0);
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> files;
    divergence::ComparisonOptions options;
    double temperature = 1.0;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--top-k" || arg == "--temperature") && i + 1 < argc) {
            (arg == "--top-k" ? void(options.top_k = std::atoi(argv[++i])) : void(temperature = std::atof(argv[++i])));
        } else if (arg.rfind("--", 0) == 0 || files.size() == 3) {
            std::fprintf(stderr, "usage: %s [base_logits.npy model_logits.npy [next_tokens.npy]] [--top-k K] [--temperature T]\n", argv[0]);
            return 2;
        } else {
            files.push_back(arg);
        }
    }
    if (files.size() == 1) {
        std::fprintf(stderr, "give two logit files (base, model), or none for made-up models\n");
        return 2;
    }
    try {
        divergence::ModelComparison comparison(options);
        if (files.empty()) {
            demo(comparison);
        } else {
            Labels labels;
            if (files.size() == 3) labels = divergence::io::load_npy_labels(files[2]);
            const Labels* next = files.size() == 3 ? &labels : nullptr;
            const bool in_float = divergence::io::npy_header(files[0]).item_size == 4 && divergence::io::npy_header(files[1]).item_size == 4;
            if (in_float) {
                compare(comparison, divergence::io::load_npy_matrix<float>(files[0]), divergence::io::load_npy_matrix<float>(files[1]), next, temperature);
            } else {
                compare(comparison, divergence::io::load_npy_matrix<double>(files[0]), divergence::io::load_npy_matrix<double>(files[1]), next, temperature);
            }
        }
        std::fputs(comparison.table().c_str(), stdout);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
