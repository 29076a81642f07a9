// The README's quick example: distillation losses between teacher and student logits.
#include <divergence/divergence.hpp>

#include <iostream>

int main()
{
    // Logits, one row per token. Row-major rows are read in place (the fastest layout); any Eigen
    // layout works (others are staged through small row-major tiles).
    divergence::RowMatrix<float> teacher(2, 4), student(2, 4);
    teacher << 2.0f, 1.0f, 0.1f, -1.0f,  //
        0.5f, 0.5f, 3.0f, 0.0f;
    student << 1.5f, 1.2f, 0.0f, -0.5f,  //
        0.0f, 1.0f, 2.0f, 0.5f;
    const float temperature = 2.0f;
    const auto t = divergence::logits(teacher, temperature);
    const auto s = divergence::logits(student, temperature);

    divergence::RowMatrix<float> grad_student(2, 4);
    divergence::Outputs<float> out;
    out.grad_q = grad_student;  // d loss / d student logits, written in place
    const float forward = divergence::kl(t, s, {divergence::Reduction::batchmean}, out);
    const float reverse = divergence::reverse_kl(t, s, {divergence::Reduction::batchmean});

    std::cout << "KL(teacher || student)         = " << forward << "\n"
              << "reverse KL(student || teacher) = " << reverse << "\n"
              << "d KL / d student logits:\n" << grad_student << "\n";
}
