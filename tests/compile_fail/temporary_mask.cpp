// A mask viewing a temporary array would dangle.
// expect: dangling_temporary
#include <divergence/core/options.hpp>

void misuse(divergence::Options& options) { options.mask = Eigen::Array<bool, Eigen::Dynamic, 1>(3); }
