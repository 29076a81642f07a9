#ifndef DIVERGENCE_BENCH_SUPPORT_NAIVE_HPP
#define DIVERGENCE_BENCH_SUPPORT_NAIVE_HPP

// The naive baseline: the formulas written as plain Eigen array expressions, the way an Eigen user
// would write them without a dedicated library (row-wise max, exp, sum, log; then the divergence
// and its softmax-Jacobian gradient). Scratch arrays are allocated once per shape.

#include "support/bench.hpp"

namespace bench::naive {

/// out = log_softmax(z / temperature) row by row.
inline void log_softmax(const Matrix& z, Array& out)
{
    out = z.array() * float(1.0 / temperature);
    const Eigen::ArrayXf max = out.rowwise().maxCoeff();
    out.colwise() -= max;
    const Eigen::ArrayXf log_sum = out.exp().rowwise().sum().log();
    out.colwise() -= log_sum;
}

/// log p, log q, p and q of a problem's teacher and student into its workspace.
inline void softmax_both(Problem& pr)
{
    auto& w = pr.naive;
    log_softmax(pr.teacher, w.log_p);
    log_softmax(pr.student, w.log_q);
    w.p = w.log_p.exp();
    w.q = w.log_q.exp();
}

/// The batch's total of per-element terms: each row's sum, then the sum of the rows (the divergence
/// of each row, then the reduction). One float sum over all B x V terms would accumulate rounding
/// errors growing with B V (0.3% at 1024 x 32000 with AVX2), a property of that order, not of the formulas.
template <class Terms>
float batch_sum(const Eigen::ArrayBase<Terms>& terms)
{
    const Eigen::ArrayXf rows = terms.rowwise().sum();  // evaluated: the sum over rows is vectorized too
    return rows.sum();
}

/// Student logit gradient from d_j = dD/dlog q_j (in w.work, overwritten):
/// (d_j - q_j sum_i d_i) / (T B), batchmean.
inline void logit_gradient(Problem& pr)
{
    auto& w = pr.naive;
    const Eigen::ArrayXf row_sums = w.work.rowwise().sum();
    w.work = (w.work - w.q.colwise() * row_sums) * float(1.0 / (temperature * double(pr.shape.rows)));
}

}  // namespace bench::naive

#endif
