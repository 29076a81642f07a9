#ifndef DIVERGENCE_TESTS_SUPPORT_THREADS_HPP
#define DIVERGENCE_TESTS_SUPPORT_THREADS_HPP

// Running a computation on a given number of OpenMP threads, for the tests that results do not
// depend on it.

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace test {

/// f() run with n OpenMP threads (the previous count restored); without OpenMP, f() as it is.
template <class F>
auto with_threads(int n, const F& f)
{
#if defined(_OPENMP)
    const int before = omp_get_max_threads();
    omp_set_num_threads(n);
    auto result = f();
    omp_set_num_threads(before);
    return result;
#else
    (void)n;
    return f();
#endif
}

}  // namespace test

#endif
