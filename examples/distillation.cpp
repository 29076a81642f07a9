// Knowledge distillation losses between teacher and student logits at temperature T = 2:
// forward KL, reverse KL and the generalized Jensen-Shannon divergence (GKD's JSD_beta), each with
// the T^2-scaled loss value, and the student gradient of the forward KL checked by hand.
#include <divergence/discrete/jensen_shannon.hpp>
#include <divergence/discrete/kl.hpp>

#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace dv = divergence;

int main()
{
    // A batch of 4 tokens over a vocabulary of 10: one row per token (teacher = target, student = model).
    dv::RowMatrix<double> teacher(4, 10), student(4, 10);
    teacher << 4.0, 1.5, 0.2, -1.0, 2.5, 0.0, -2.0, 1.0, 0.5, -0.5,  //
        -1.0, 3.0, 2.8, 0.0, -0.5, 1.0, 0.3, -2.0, 0.1, 0.0,         //
        0.0, 0.0, 0.0, 5.0, 0.0, -1.0, 1.0, 2.0, -3.0, 0.5,          //
        1.2, -0.7, 0.4, 0.9, -1.5, 2.2, 0.0, -0.3, 1.8, 0.6;
    student << 3.0, 2.0, 0.0, -0.5, 1.5, 0.5, -1.0, 0.5, 0.0, 0.0,  //
        0.0, 2.0, 2.0, 0.5, 0.0, 0.5, 0.0, -1.0, 0.0, 0.5,          //
        0.5, -0.5, 0.0, 3.0, 0.5, -0.5, 0.5, 1.0, -1.0, 0.0,        //
        1.0, 0.0, 0.0, 1.0, -1.0, 1.5, 0.5, 0.0, 1.0, 0.0;
    const double temperature = 2.0;
    const auto t = dv::logits(teacher, temperature);  // p = softmax(teacher / T)
    const auto s = dv::logits(student, temperature);  // q = softmax(student / T)
    const dv::Options batchmean{dv::Reduction::batchmean};

    // Hinton et al. (2015): the gradients of a divergence between softened distributions scale as
    // 1/T^2 (one 1/T from each softmax), so the distillation term is multiplied by T^2 to keep its
    // weight comparable with the hard-label loss when T changes. The library never applies that
    // factor itself (its gradients are those of the divergence, 1/T included); the caller does.
    const double t2 = temperature * temperature;
    std::cout << "batch of 4 rows, vocabulary 10, temperature " << temperature << ", reduction batchmean\n";
    std::cout << std::fixed << std::setprecision(6);
    std::cout << "                          divergence   T^2 * divergence (loss)\n";
    const auto line = [&](const char* name, double value) {
        std::cout << std::left << std::setw(26) << name << std::right << std::setw(10) << value << std::setw(16)
                  << t2 * value << "\n";
    };
    line("forward KL(P || Q)", dv::kl(t, s, batchmean));
    line("reverse KL(Q || P)", dv::reverse_kl(t, s, batchmean));
    // JSD_beta = beta KL(P || M) + (1 - beta) KL(Q || M), M = beta P + (1 - beta) Q (P = teacher), as GKD.
    for (double beta : {0.1, 0.5, 0.9}) {
        std::ostringstream name;
        name << "generalized JSD b=" << std::setprecision(1) << beta;
        line(name.str().c_str(), dv::generalized_js(t, s, beta, batchmean));
    }

    // Each row's forward KL and its own gradient with respect to the student's logits (kl_rows with
    // Reduction::none; the T^2-scaled batchmean loss's gradient is T^2 / B times it).
    dv::RowMatrix<double> grad(4, 10);
    dv::Outputs<double> out;
    out.grad_q = grad;
    const Eigen::ArrayXd per_row = dv::kl_rows(t, s, {dv::Reduction::none}, out);
    std::cout << "\nper-row forward KL: " << per_row.transpose() << "\n";

    // The check anyone can redo: for forward KL from student logits z / T, dKL/dz = (q - p) / T.
    const Eigen::RowVectorXd p = (teacher.row(0) / temperature).array().exp() /
                                 (teacher.row(0) / temperature).array().exp().sum();
    const Eigen::RowVectorXd q = (student.row(0) / temperature).array().exp() /
                                 (student.row(0) / temperature).array().exp().sum();
    const Eigen::RowVectorXd expected = (q - p) / temperature;
    std::cout << "\nd KL(P || Q) / d student logits, row 0:\n  " << std::setprecision(6) << grad.row(0) << "\n";
    std::cout << "(q - p) / T, row 0 (softmax by hand):\n  " << expected << "\n";
    std::cout << std::scientific << std::setprecision(2)
              << "check: max |gradient - (q - p) / T| = " << (grad.row(0) - expected).cwiseAbs().maxCoeff()
              << " (rounding only)\n";
    return (grad.row(0) - expected).cwiseAbs().maxCoeff() < 1e-12 ? 0 : 1;
}
