// Sinkhorn distillation (SinKD, batch-wise): a batch of 8 teacher and 8 student rows of logits over
// 12 classes, the loss with SinKD's defaults (T = 2, L1 cost between softmax rows, eps = 0.1,
// 20 Sinkhorn iterations, scale 0.002) and its exact student gradient, then plain gradient descent
// on the student logits, printing the loss at each step.
#include <divergence/ot/sinkhorn_distillation.hpp>

#include <cmath>
#include <iomanip>
#include <iostream>
#include <random>

namespace dv = divergence;
namespace ot = divergence::ot;

int main()
{
    const Eigen::Index batch = 8, classes = 12;
    std::mt19937 rng(7);
    std::normal_distribution<double> normal(0.0, 1.0);
    dv::RowMatrix<double> teacher(batch, classes), student(batch, classes);
    for (Eigen::Index i = 0; i < batch; ++i) {
        for (Eigen::Index k = 0; k < classes; ++k) {
            teacher(i, k) = 3.0 * normal(rng) + (k == i % classes ? 6.0 : 0.0);  // a confident teacher
            student(i, k) = 0.5 * normal(rng);                                     // an untrained student
        }
    }

    const ot::SinkhornDistillationOptions options;  // SinKD's defaults
    dv::RowMatrix<double> gradient(batch, classes);
    dv::Outputs<double> out;
    out.grad_q = gradient;  // d loss / d student logits

    std::cout << "SinKD loss, batch " << batch << ", " << classes << " classes, T = " << options.temperature
              << ", eps = " << options.epsilon << ", " << options.iterations << " iterations, scale " << options.scale << "\n";
    std::cout << std::scientific << std::setprecision(6);
    // The loss is scaled by 0.002, so its gradient is small: a large step size.
    const double step = 2000.0;
    double first = 0.0, last = 0.0;
    for (int iteration = 0; iteration <= 10; ++iteration) {
        const double loss = ot::sinkhorn_distillation_loss(teacher, student, options, out);
        std::cout << "step " << std::setw(2) << iteration << "  loss " << loss << "  |grad| " << gradient.norm() << "\n";
        if (iteration == 0) first = loss;
        last = loss;
        student -= step * gradient;
    }
    std::cout << "loss reduced by a factor " << std::fixed << std::setprecision(2) << first / last << "\n";

    // Teacher == student is not a zero of this loss: W_ii = 0, but P_K keeps mass off the diagonal.
    std::cout << std::scientific << std::setprecision(6)
              << "loss(teacher, teacher) = " << ot::sinkhorn_distillation_loss(teacher, teacher, options) << "\n";
    return last < first ? 0 : 1;
}
