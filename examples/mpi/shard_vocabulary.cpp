// A vocabulary split across MPI ranks, as a tensor-parallel model holds its logits: each rank keeps
// the columns of its own slice of the vocabulary for every token; divergence::mpi::kl merges the
// per-row log-sum-exp states across ranks (O(B) bytes, whatever the vocabulary size) and gives each
// rank the gradient of its own columns. Rank 0 checks the result against one process holding the
// whole rows. Run with e.g. `mpirun -n 2 example_mpi_shard_vocabulary`.
#include <divergence/discrete/kl.hpp>
#include <divergence/mpi/vocabulary.hpp>

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

int main(int argc, char* argv[])
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    // The whole logits (every rank draws the same ones here, to check the result; a real model
    // never holds them whole): 8 tokens over a vocabulary of 50257, teacher and student.
    const Eigen::Index tokens = 8, vocabulary = 50257;
    std::mt19937_64 rng(2024);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    divergence::RowMatrix<float> teacher(tokens, vocabulary), student(tokens, vocabulary);
    for (Eigen::Index i = 0; i < teacher.size(); ++i) {
        teacher.data()[i] = normal(rng);
        student.data()[i] = teacher.data()[i] + 0.5f * normal(rng);
    }

    // This rank's slice, Megatron-style: ceil(V / size) columns per rank, the last one shorter.
    const Eigen::Index per_rank = (vocabulary + size - 1) / size;
    const Eigen::Index first = std::min(vocabulary, rank * per_rank);
    const Eigen::Index columns = std::min(vocabulary, first + per_rank) - first;
    const divergence::RowMatrix<float> my_teacher = teacher.middleCols(first, columns);
    const divergence::RowMatrix<float> my_student = student.middleCols(first, columns);

    const double temperature = 2.0;
    divergence::RowMatrix<float> my_gradient(tokens, columns);
    divergence::Outputs<float> out;
    out.grad_q = my_gradient;  // d KL / d student logits, this rank's columns
    divergence::mpi::reset_traffic();
    const float sharded = divergence::mpi::kl(divergence::logits(my_teacher, temperature),
                                              divergence::logits(my_student, temperature), MPI_COMM_WORLD,
                                              {divergence::Reduction::batchmean}, out);
    const divergence::mpi::Traffic traffic = divergence::mpi::traffic();

    // The check: one process with the whole rows.
    divergence::RowMatrix<float> gradient(tokens, vocabulary);
    divergence::Outputs<float> whole;
    whole.grad_q = gradient;
    const float single = divergence::kl(divergence::logits(teacher, temperature), divergence::logits(student, temperature),
                                        {divergence::Reduction::batchmean}, whole);
    double my_gradient_error = 0.0, largest = 0.0;
    if (columns > 0) {
        my_gradient_error = (my_gradient - gradient.middleCols(first, columns)).cwiseAbs().maxCoeff();
        largest = gradient.cwiseAbs().maxCoeff();
    }
    double gradient_error = 0.0;
    MPI_Reduce(&my_gradient_error, &gradient_error, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);

    if (rank == 0) {
        std::printf("%d ranks, %lld tokens, vocabulary %lld (%lld columns per rank)\n", size, (long long)tokens,
                    (long long)vocabulary, (long long)per_rank);
        std::printf("KL(teacher || student), sharded      = %.7g\n", double(sharded));
        std::printf("KL(teacher || student), one process  = %.7g  (difference %.2g)\n", double(single),
                    std::abs(double(sharded) - double(single)));
        std::printf("student gradient, largest difference = %.2g (largest entry %.2g)\n", gradient_error, largest);
        std::printf("communicated by rank 0: %lld collectives, %lld bytes (the logits: %lld bytes per rank)\n",
                    traffic.collectives, traffic.bytes, (long long)(2 * tokens * per_rank * sizeof(float)));
    }
    MPI_Finalize();
    return 0;
}
