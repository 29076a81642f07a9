// A downstream program: computes KL divergences through the installed or vendored library and
// checks them against values worked out by hand. Exits 1 on any mismatch.
#include <divergence/divergence.hpp>

#include <cmath>
#include <cstdio>

namespace {

int failures = 0;

void check(const char* what, double got, double expected, double tolerance)
{
    const bool ok = std::abs(got - expected) <= tolerance;
    std::printf("%-36s %.17g (expected %.17g) %s\n", what, got, expected, ok ? "ok" : "MISMATCH");
    if (!ok) ++failures;
}

}  // namespace

int main()
{
    // P = (1/2, 1/4, 1/4), Q = (1/4, 1/2, 1/4):
    // KL(P || Q) = 1/2 log 2 + 1/4 log(1/2) + 0 = (1/4) log 2.
    Eigen::RowVector3d p(0.5, 0.25, 0.25);
    Eigen::RowVector3d q(0.25, 0.5, 0.25);
    const double quarter_log2 = 0.25 * std::log(2.0);

    Eigen::RowVector3d grad_q;
    divergence::Outputs<double> out;
    out.grad_q = grad_q;
    check("kl(p, q)", divergence::kl(p, q, {}, out), quarter_log2, 1e-15);
    // d KL / d q_i = -p_i / q_i = (-2, -1/2, -1).
    check("d kl / d q_0", grad_q(0), -2.0, 1e-15);
    check("d kl / d q_1", grad_q(1), -0.5, 1e-15);
    check("d kl / d q_2", grad_q(2), -1.0, 1e-15);

    // reverse_kl(p, q) = KL(Q || P) = 1/4 log(1/2) + 1/2 log 2 = (1/4) log 2 as well.
    check("reverse_kl(p, q)", divergence::reverse_kl(p, q), quarter_log2, 1e-15);

    // Logits in float: logits (log 2, 0, 0) / T with T = 1 are P; zero logits are uniform U.
    // KL(P || U) = log 3 - H(P) = log 3 - (3/2) log 2.
    Eigen::RowVector3f z_p(std::log(2.0f), 0.0f, 0.0f);
    Eigen::RowVector3f z_u = Eigen::RowVector3f::Zero();
    check("kl(logits p, logits uniform), float",
          divergence::kl(divergence::logits(z_p, 1.0f), divergence::logits(z_u, 1.0f)),
          std::log(3.0) - 1.5 * std::log(2.0), 1e-6);

    // The zero conventions: 0 log 0 = 0, and mass where Q has none gives +inf.
    Eigen::RowVector2d one_hot(1.0, 0.0), half(0.5, 0.5);
    check("kl(one-hot, uniform)", divergence::kl(one_hot, half), std::log(2.0), 1e-15);
    const double infinite = divergence::kl(half, one_hot);
    std::printf("%-36s %g %s\n", "kl(uniform, one-hot)", infinite, std::isinf(infinite) ? "ok" : "MISMATCH");
    if (!std::isinf(infinite)) ++failures;

    if (failures != 0) {
        std::printf("consumer: %d mismatch(es)\n", failures);
        return 1;
    }
    std::printf("consumer: all checks passed\n");
    return 0;
}
