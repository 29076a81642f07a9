// Knowledge distillation in a training loop: a small softmax-regression student (logits = X W) learns
// from a fixed teacher with the BD-KD balanced loss (per sample, forward and reverse KL weighted by
// which of teacher and student is more confident), at temperature T = 2 with Hinton's T^2 scaling,
// plus a hard-label cross-entropy. One call gives the loss and d loss / d student logits; the chain
// rule through logits = X W gives d loss / dW = X^T (d loss / d logits). The loss falls step by step.
#include <divergence/losses/distillation.hpp>

#include <cmath>
#include <iomanip>
#include <iostream>
#include <random>

namespace dv = divergence;
using Matrix = dv::RowMatrix<double>;

int main()
{
    // 64 samples with 8 features, 10 classes. The teacher is a fixed linear model; the labels are its argmax.
    const int samples = 64, features = 8, classes = 10;
    std::mt19937_64 rng(2024);
    std::normal_distribution<double> normal(0.0, 1.0);
    Matrix x(samples, features), teacher_weights(features, classes);
    for (int i = 0; i < x.size(); ++i) x.data()[i] = normal(rng);
    for (int i = 0; i < teacher_weights.size(); ++i) teacher_weights.data()[i] = 1.5 * normal(rng);
    const Matrix teacher = x * teacher_weights;
    Eigen::VectorXi labels(samples);
    for (int r = 0; r < samples; ++r) teacher.row(r).maxCoeff(&labels(r));
    labels(5) = -100;  // a padding row: ignored by both terms

    dv::DistillationOptions options;
    options.temperature = 2.0;
    options.scaling = dv::TemperatureScaling::squared;  // Hinton et al. 2015: T^2 keeps the soft term's gradient scale
    options.kd_weight = 0.9;
    options.ce_weight = 0.1;
    options.reduction = dv::Reduction::mean;  // over the rows that count (63 here)
    const dv::distill::Balanced bdkd;          // the entropy rule, emphasis 2

    Matrix weights = Matrix::Zero(features, classes), logits(samples, classes), grad(samples, classes);
    dv::Outputs<double> out;
    out.grad_q = grad;  // d loss / d student logits
    const double learning_rate = 0.5;
    std::cout << "softmax-regression student, " << samples << " samples, " << classes
              << " classes; BD-KD + 0.1 cross-entropy, T = 2 (T^2 scaling), SGD lr " << learning_rate << "\n";
    std::cout << "step        loss  divergence  cross-entropy\n" << std::fixed << std::setprecision(6);
    double first = 0.0, last = 0.0;
    for (int step = 0; step <= 30; ++step) {
        logits = x * weights;
        const auto value = dv::distillation_loss(teacher, logits, dv::labels(labels), bdkd, options, out);
        if (step % 5 == 0) {
            std::cout << std::setw(4) << step << std::setw(12) << value.loss << std::setw(12) << value.divergence << std::setw(15)
                      << value.cross_entropy << "\n";
        }
        if (step == 0) first = value.loss;
        last = value.loss;
        weights -= learning_rate * (x.transpose() * grad);  // chain rule: dL/dW = X^T dL/dlogits
    }

    // A check anyone can redo: the analytic gradient against a central difference of the loss.
    logits = x * weights;
    dv::distillation_loss(teacher, logits, dv::labels(labels), bdkd, options, out);
    const double h = 1e-6;
    Matrix up = logits, down = logits;
    up(0, 3) += h;
    down(0, 3) -= h;
    const double numeric = (dv::distillation_loss(teacher, up, dv::labels(labels), bdkd, options).loss -
                            dv::distillation_loss(teacher, down, dv::labels(labels), bdkd, options).loss) /
                           (2 * h);
    std::cout << "\nloss " << first << " -> " << last << " after 30 steps\n";
    std::cout << std::scientific << std::setprecision(6) << "d loss / d logit(0, 3): analytic " << grad(0, 3)
              << ", central difference " << numeric << "\n";
    const bool ok = last < 0.5 * first && std::abs(grad(0, 3) - numeric) < 1e-7;
    std::cout << (ok ? "ok" : "FAILED") << "\n";
    return ok ? 0 : 1;
}
