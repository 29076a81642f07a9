#ifndef DIVERGENCE_BENCH_SUPPORT_REFERENCE_HPP
#define DIVERGENCE_BENCH_SUPPORT_REFERENCE_HPP

// The double-precision reference every implementation is checked against before it is timed:
// log-softmax of the float logits / T in double, row sums in long double, batchmean. Written
// element by element in plain C++ (no Eigen, no library code), so it shares no code with what it checks.
// Two levels: element-wise divergences (an Element: one term and its partial from log p_j and log q_j)
// and whole-row losses (a RowLoss: any function of a row, e.g. a composite T^2 KL + cross-entropy against a
// label, or a per-row weighted sum of divergences whose weights depend on the row), both judged the same
// way: the reduced loss and the student logit gradient.

#include <cmath>
#include <functional>
#include <string>
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

/// out = log_softmax(x / temperature) of one row of n float logits, in double (the sum in long double).
void log_softmax(const float* x, Index n, double temperature, std::vector<double>& out);

/// One row of a problem as a row-level reference sees it: the float logits as given and their
/// log-softmax at the benchmark's temperature in double (log p: teacher, log q: student).
struct Row {
    Index index = 0;  ///< the row's number in the batch
    Index cols = 0;   ///< V
    const float* teacher = nullptr;
    const float* student = nullptr;
    std::vector<double> log_p, log_q;
};

/// A row-level reference: returns the row's loss before the reduction (sum it in long double) and writes
/// `grad` (V entries, zeroed by the caller) = d row loss / d student logits (the raw logits, 1/T included).
/// An entry the float inputs do not determine (a kink of the loss, e.g. |p - q| at p = q, within their
/// rounding) may be overwritten with NaN at the end (after through_softmax): it is then not compared. Called concurrently for different rows: it must
/// not write shared state.
using RowLoss = std::function<double(const Row& row, std::vector<double>& grad)>;

/// The student logit gradient of a function of log q: `d` holds dF/dlog q_j on entry and
/// dF/dz_j = (d_j - q_j sum_k d_k) / T on return (the Jacobian of log_softmax(z / T)).
void through_softmax(const Row& row, std::vector<double>& d);

/// The RowLoss of an element-wise divergence: sum_j value_j and through_softmax of the partials d_j.
RowLoss element_rows(Element element);

/// The reference loss of a problem and, for each float student gradient given (B x V, row-major),
/// its gap max_ij |g_ij - ref_ij| / max_ij |ref_ij|. The reference gradient is never stored.
struct Result {
    double loss = 0.0;
    std::vector<double> gradient_gaps;
};
/// batchmean: loss = sum of the rows / B, gradient = the rows' gradients / B.
Result evaluate_rows(const Problem& problem, const RowLoss& row_loss, const std::vector<const float*>& gradients);
/// evaluate_rows(problem, element_rows(element), gradients).
Result evaluate(const Problem& problem, Element element, const std::vector<const float*>& gradients);

/// Relative tolerance of a float result against the reference, for rows of V classes (see reference.cpp).
double tolerance(Index cols);

/// |value - reference| / |reference| (a NaN value gives NaN: never within a tolerance).
double relative_gap(double value, double reference);

/// The verdict on one implementation: "" when its loss and its gradient gap (from evaluate or
/// evaluate_rows; 0 for a loss computed without its gradient) are within the tolerance, otherwise what is
/// off, e.g. "loss 0.4531878 vs reference 0.4487007 (relative gap 0.01 > tolerance 0.00381)".
std::string disagreement(double loss, const Result& reference, double gradient_gap, double tolerance);

}  // namespace bench::reference

#endif
