// Integer matrices are not distributions.
// expect: p holds integers
#include <divergence/discrete/kl.hpp>

double misuse(const Eigen::MatrixXi& p, const Eigen::MatrixXi& q) { return divergence::kl(p, q); }
