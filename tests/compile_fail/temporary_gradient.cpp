// A gradient written into a temporary would be lost (and the view would dangle).
// expect: dangling_temporary
#include <divergence/core/options.hpp>

void misuse(divergence::Outputs<float>& out) { out.grad_q = divergence::RowMatrix<float>(2, 3); }
