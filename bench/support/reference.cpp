#include "support/reference.hpp"

#include <algorithm>
#include <cfloat>
#include <sstream>

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

void log_softmax(const float* x, Index n, double temperature, std::vector<double>& out)
{
    const double inv_t = 1.0 / temperature, lse = log_sum_exp(x, n, inv_t);
    out.resize(std::size_t(n));
    for (Index j = 0; j < n; ++j) out[std::size_t(j)] = double(x[j]) * inv_t - lse;
}

void through_softmax(const Row& row, std::vector<double>& d)
{
    long double d_sum = 0.0L;
    for (const double dj : d) d_sum += dj;
    for (std::size_t j = 0; j < d.size(); ++j) d[j] = (d[j] - std::exp(row.log_q[j]) * double(d_sum)) / temperature;
}

RowLoss element_rows(Element element)
{
    return [element](const Row& row, std::vector<double>& grad) {
        long double value = 0.0L;
        for (std::size_t j = 0; j < grad.size(); ++j) {
            const Term term = element(row.log_p[j], row.log_q[j]);
            value += term.value;
            grad[j] = term.d;
        }
        through_softmax(row, grad);
        return double(value);
    };
}

Result evaluate_rows(const Problem& pr, const RowLoss& row_loss, const std::vector<const float*>& gradients)
{
    const Index rows = pr.shape.rows, cols = pr.shape.cols;
    const std::size_t k = gradients.size();
    const double inv_rows = 1.0 / double(rows);
    std::vector<double> row_values(std::size_t(rows), 0.0);
    // Per row: max |g - ref| of each candidate and max |ref|, reduced after the loop (deterministic).
    std::vector<double> row_diff(std::size_t(rows) * k, 0.0), row_scale(std::size_t(rows), 0.0);
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 8)
#endif
    for (Index i = 0; i < rows; ++i) {
        Row row;
        row.index = i;
        row.cols = cols;
        row.teacher = pr.teacher.data() + i * cols;
        row.student = pr.student.data() + i * cols;
        log_softmax(row.teacher, cols, temperature, row.log_p);
        log_softmax(row.student, cols, temperature, row.log_q);
        std::vector<double> grad(std::size_t(cols), 0.0);
        row_values[std::size_t(i)] = row_loss(row, grad);
        for (Index j = 0; j < cols; ++j) {
            const double ref = grad[std::size_t(j)] * inv_rows;
            if (std::isnan(ref)) continue;  // not determined by the float inputs (see RowLoss)
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
    for (const double v : row_values) total += v;
    result.loss = double(total / rows);
    const double max_scale = std::max(*std::max_element(row_scale.begin(), row_scale.end()), 1e-300);
    result.gradient_gaps.assign(k, 0.0);
    for (Index i = 0; i < rows; ++i)
        for (std::size_t c = 0; c < k; ++c)
            result.gradient_gaps[c] = std::max(result.gradient_gaps[c], row_diff[std::size_t(i) * k + c] / max_scale);
    return result;
}

Result evaluate(const Problem& pr, Element element, const std::vector<const float*>& gradients)
{
    return evaluate_rows(pr, element_rows(element), gradients);
}

double tolerance(Index cols) { return 1.0 * double(cols) * double(FLT_EPSILON); }

double relative_gap(double value, double reference)
{
    return std::abs(value - reference) / std::max(std::abs(reference), 1e-30);
}

std::string disagreement(double loss, const Result& reference, double gradient_gap, double tolerance)
{
    const double gap = relative_gap(loss, reference.loss);
    std::ostringstream text;
    text.precision(7);
    if (!(gap <= tolerance)) {
        text << "loss " << loss << " vs reference " << reference.loss;
        text.precision(3);
        text << " (relative gap " << gap << " > tolerance " << tolerance << ")";
    }
    text.precision(3);
    if (!(gradient_gap <= tolerance)) {
        text << (gap <= tolerance ? "" : "; ") << "student gradient: relative gap " << gradient_gap << " > tolerance "
             << tolerance;
    }
    return text.str();
}

}  // namespace bench::reference
