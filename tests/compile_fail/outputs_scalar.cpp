// Outputs<double> for float inputs.
// expect: out is Outputs<double> but the inputs are float
#include <divergence/discrete/jensen_shannon.hpp>

float misuse(const Eigen::VectorXf& p, const Eigen::VectorXf& q)
{
    divergence::Outputs<double> out;
    return divergence::js(p, q, {}, out);
}
