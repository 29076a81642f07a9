#include "support/reference.hpp"

#include <algorithm>
#include <cfloat>

namespace bench::reference {

namespace {

// log sum_j exp(x_j / T) in double, the sum in long double.
double log_sum_exp(const float* x, Index n, double inv_t)
{
    double max = -HUGE_VAL;
    for (Index j = 0; j < n; ++j) max = std::max(max, double(x[j]) * inv_t);
    long double sum = 0.0L;
    for (Index j = 0; j < n; ++j) sum += std::exp(double(x[j]) * inv_t - max);
    return max + double(std::log(sum));
}

}  // namespace

Result evaluate(const Problem& pr, Element element, const std::vector<const float*>& gradients)
{
    const Index rows = pr.shape.rows, cols = pr.shape.cols;
    const std::size_t k = gradients.size();
    const double inv_t = 1.0 / temperature, scale = 1.0 / (temperature * double(rows));
    std::vector<long double> row_values(std::size_t(rows), 0.0L);
    // Per row: max |g - ref| of each candidate and max |ref|, reduced after the loop (deterministic).
    std::vector<double> row_diff(std::size_t(rows) * k, 0.0), row_scale(std::size_t(rows), 0.0);
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 8)
#endif
    for (Index i = 0; i < rows; ++i) {
        const float* t = pr.teacher.data() + i * cols;
        const float* s = pr.student.data() + i * cols;
        const double lse_t = log_sum_exp(t, cols, inv_t), lse_s = log_sum_exp(s, cols, inv_t);
        std::vector<double> d(static_cast<std::size_t>(cols));
        long double value = 0.0L, d_sum = 0.0L;
        for (Index j = 0; j < cols; ++j) {
            const Term term = element(double(t[j]) * inv_t - lse_t, double(s[j]) * inv_t - lse_s);
            value += term.value;
            d_sum += term.d;
            d[std::size_t(j)] = term.d;
        }
        row_values[std::size_t(i)] = value;
        for (Index j = 0; j < cols; ++j) {
            const double q = std::exp(double(s[j]) * inv_t - lse_s);
            const double ref = (d[std::size_t(j)] - q * double(d_sum)) * scale;
            row_scale[std::size_t(i)] = std::max(row_scale[std::size_t(i)], std::abs(ref));
            for (std::size_t c = 0; c < k; ++c) {
                double& diff = row_diff[std::size_t(i) * k + c];
                const double e = std::abs(double(gradients[c][i * cols + j]) - ref);
                if (!(e <= diff)) diff = std::isnan(e) ? HUGE_VAL : e;  // a NaN is a failure
            }
        }
    }
    Result result;
    long double total = 0.0L;
    for (const long double v : row_values) total += v;
    result.loss = double(total / rows);
    const double max_scale = std::max(*std::max_element(row_scale.begin(), row_scale.end()), 1e-300);
    result.gradient_gaps.assign(k, 0.0);
    for (Index i = 0; i < rows; ++i)
        for (std::size_t c = 0; c < k; ++c)
            result.gradient_gaps[c] = std::max(result.gradient_gaps[c], row_diff[std::size_t(i) * k + c] / max_scale);
    return result;
}

double tolerance(Index cols) { return 1.0 * double(cols) * double(FLT_EPSILON); }

}  // namespace bench::reference
