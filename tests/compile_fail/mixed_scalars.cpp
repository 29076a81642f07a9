// float and double inputs in one call.
// expect: p is float and q is double
#include <divergence/discrete/kl.hpp>

float misuse(const divergence::RowMatrix<float>& t, const divergence::RowMatrix<double>& s)
{
    return divergence::kl(divergence::logits(t), divergence::logits(s));
}
