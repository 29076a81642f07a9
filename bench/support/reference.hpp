#ifndef DIVERGENCE_BENCH_SUPPORT_REFERENCE_HPP
#define DIVERGENCE_BENCH_SUPPORT_REFERENCE_HPP

// The double-precision reference every implementation is checked against before it is timed:
// log-softmax of the float logits / T in double, row sums in long double, batchmean. Written
// element by element in plain C++ (no Eigen, no library code), so it shares no code with what it checks.

#include <cmath>
#include <vector>

#include "support/bench.hpp"

namespace bench::reference {

/// One element's contribution from log p and log q (double): `value`, its term of the row's divergence,
/// and `d` = dD/dlog q_j, from which the student logit gradient is (d_j - q_j sum_k d_k) / (T B).
struct Term {
    double value;
    double d;
};
using Element = Term (*)(double log_p, double log_q);

/// KL(P || Q) = sum p (log p - log q); dD/dlog q = -p.
inline Term kl(double lp, double lq)
{
    const double p = std::exp(lp);
    return {p * (lp - lq), -p};
}

/// KL(Q || P) = sum q (log q - log p); dD/dlog q = q (log q - log p) (+ q, removed by the Jacobian).
inline Term reverse_kl(double lp, double lq)
{
    const double q = std::exp(lq);
    return {q * (lq - lp), q * (lq - lp)};
}

/// Generalized JSD, beta = 1/2: m = (p + q) / 2, beta p log(p/m) + (1 - beta) q log(q/m);
/// dD/dlog q = (1 - beta) q (log q - log m).
inline Term js_half(double lp, double lq)
{
    const double p = std::exp(lp), q = std::exp(lq);
    const double lm = std::log(0.5 * p + 0.5 * q);
    return {0.5 * p * (lp - lm) + 0.5 * q * (lq - lm), 0.5 * q * (lq - lm)};
}

/// sum (sqrt p - sqrt q)^2 (the SquaredHellinger generator); dD/dlog q = q - sqrt(p q).
inline Term squared_hellinger(double lp, double lq)
{
    const double p = std::exp(lp), q = std::exp(lq);
    const double r = std::sqrt(p) - std::sqrt(q);
    return {r * r, q - std::exp(0.5 * (lp + lq))};
}

/// sum (p - q)^2 / q; dD/dlog q = q - p^2 / q.
inline Term pearson_chi2(double lp, double lq)
{
    const double p = std::exp(lp), q = std::exp(lq);
    return {(p - q) * (p - q) / q, q - std::exp(2.0 * lp - lq)};
}

/// The reference loss of a problem and, for each float student gradient given (B x V, row-major),
/// its gap max_ij |g_ij - ref_ij| / max_ij |ref_ij|. The reference gradient is never stored.
struct Result {
    double loss = 0.0;
    std::vector<double> gradient_gaps;
};
Result evaluate(const Problem& problem, Element element, const std::vector<const float*>& gradients);

/// Relative tolerance of a float result against the reference, for rows of V classes (see reference.cpp).
double tolerance(Index cols);

}  // namespace bench::reference

#endif
