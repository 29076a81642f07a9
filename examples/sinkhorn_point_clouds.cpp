// Entropic optimal transport between two point clouds, the cost computed on the fly (no n x m
// matrix): the value and its parts, a summary of the plan, the debiased Sinkhorn divergence, and a
// few gradient steps that move one cloud onto the other.
#include <divergence/divergence.hpp>

#include <cmath>
#include <iostream>
#include <random>

namespace ot = divergence::ot;
using divergence::RowMatrix;

int main()
{
    // Two clouds in 2-D: x around (0, 0), y on a ring of radius 1 around (2, 0).
    const Eigen::Index n = 300, m = 400;
    std::mt19937_64 rng(7);
    std::normal_distribution<double> normal(0.0, 0.3);
    std::uniform_real_distribution<double> angle(0.0, 2.0 * 3.14159265358979);
    RowMatrix<double> x(n, 2), y(m, 2);
    for (Eigen::Index i = 0; i < n; ++i) x.row(i) << normal(rng), normal(rng);
    for (Eigen::Index j = 0; j < m; ++j) {
        const double t = angle(rng);
        y.row(j) << 2.0 + std::cos(t), std::sin(t);
    }
    const Eigen::VectorXd a = Eigen::VectorXd::Constant(n, 1.0 / double(n));
    const Eigen::VectorXd b = Eigen::VectorXd::Constant(m, 1.0 / double(m));

    ot::SinkhornOptions options;
    options.epsilon = 0.01;       // in the cost's units (squared distances here)
    options.epsilon_start = 10;   // anneal from about the squared diameter: small epsilons converge fast
    options.relaxation = 1.8;     // over-relaxation once at the target epsilon
    options.tolerance = 1e-9;     // ||P 1 - a||_1 + ||P^T 1 - b||_1
    const auto solution = ot::sinkhorn(a, x, b, y, ot::SquaredEuclidean{}, options);

    std::cout << "status " << ot::to_string(solution.status) << " after " << solution.iterations << " iterations, marginal errors "
              << solution.marginal_error_a << " / " << solution.marginal_error_b << "\n"
              << "OT_eps = " << solution.value << " = <P, C> " << solution.linear << " + eps KL(P || a b^T) " << solution.entropic << "\n";

    // The plan is n x m: built only on request.
    const RowMatrix<double> plan = solution.plan();
    Eigen::Index largest = 0;
    for (Eigen::Index i = 0; i < n; ++i) largest += (plan.row(i).array() > 0.5 * plan.row(i).maxCoeff()).count();
    std::cout << "plan: mass " << plan.sum() << ", on average " << double(largest) / double(n)
              << " targets per source point above half its row's maximum\n";

    // Barycentric map of the first point: where its mass goes on average.
    const Eigen::RowVector2d target = plan.row(0) * y / plan.row(0).sum();
    std::cout << "x_0 = (" << x(0, 0) << ", " << x(0, 1) << ") is sent to about (" << target(0) << ", " << target(1) << ")\n";

    // Debiased Sinkhorn divergence S(a, b) = OT(a, b) - OT(a, a)/2 - OT(b, b)/2, and gradient steps
    // on the points of x: x <- x - step * dS/dx / a (a flow of the particles towards y).
    RowMatrix<double> moving = x;
    for (int step = 0; step <= 5; ++step) {
        const auto s = ot::sinkhorn_divergence(a, moving, b, y, ot::SquaredEuclidean{}, options);
        std::cout << "step " << step << ": S_eps = " << s.value << "\n";
        moving -= 0.5 * (s.gradient_x().array().colwise() / a.array()).matrix();
    }
}
