#ifndef DIVERGENCE_CORE_SUM_HPP
#define DIVERGENCE_CORE_SUM_HPP

#include <cmath>

namespace divergence::detail {

/// Compensated (Neumaier) sum in double: the error stays O(eps) instead of O(n eps).
/// Infinite terms give an infinite total (the compensation is skipped, so no NaN from inf - inf).
struct CompensatedSum {
    double sum = 0.0;
    double compensation = 0.0;

    void add(double x)
    {
        const double t = sum + x;
        if (std::isfinite(t)) {
            compensation += std::abs(sum) >= std::abs(x) ? (sum - t) + x : (x - t) + sum;
        }
        sum = t;
    }
    void merge(const CompensatedSum& other)
    {
        add(other.sum);
        add(other.compensation);
    }
    double value() const { return std::isfinite(sum) ? sum + compensation : sum; }
};

}  // namespace divergence::detail

#endif
