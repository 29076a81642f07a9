// A view of a temporary vector would dangle: the output constructor from an rvalue Matrix is deleted.
// expect: dangling_temporary
#include <divergence/core/options.hpp>

void misuse(divergence::Outputs<double>& out) { out.row_values = Eigen::VectorXd(3); }
