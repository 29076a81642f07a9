// Integer logits.
// expect: this input holds integers
#include <divergence/discrete/kl.hpp>

double misuse(const Eigen::MatrixXi& z, const Eigen::MatrixXd& s)
{
    return divergence::reverse_kl(divergence::logits(z, 2.0), divergence::logits(s, 2.0));
}
