#ifndef DIVERGENCE_CORE_LOGSUMEXP_HPP
#define DIVERGENCE_CORE_LOGSUMEXP_HPP

#include <cmath>
#include <limits>

namespace divergence::detail {

/// Streaming log-sum-exp: log sum_i exp(x_i) in one pass with a running maximum, so no
/// exp ever overflows. Mergeable (associative), so slices of a row can be reduced apart.
/// -inf terms contribute nothing; an empty or all -inf set gives -inf.
struct LogSumExp {
    double max = -std::numeric_limits<double>::infinity();
    double sum = 0.0;  ///< sum_i exp(x_i - max)

    void add(double x)
    {
        if (x <= max) {
            if (x != -std::numeric_limits<double>::infinity()) sum += std::exp(x - max);
        } else {
            sum = sum * std::exp(max - x) + 1.0;
            max = x;
        }
    }
    void merge(const LogSumExp& other)
    {
        if (other.max == -std::numeric_limits<double>::infinity()) return;
        if (other.max <= max) {
            sum += other.sum * std::exp(other.max - max);
        } else {
            sum = sum * std::exp(max - other.max) + other.sum;
            max = other.max;
        }
    }
    double value() const
    {
        return max == -std::numeric_limits<double>::infinity() ? max : max + std::log(sum);
    }
};

}  // namespace divergence::detail

#endif
