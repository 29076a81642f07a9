#ifndef DIVERGENCE_CORE_ERROR_HPP
#define DIVERGENCE_CORE_ERROR_HPP

#include <sstream>
#include <stdexcept>
#include <string>

#include "divergence/core/config.hpp"

namespace divergence {

/// How much input checking a call does.
/// `full` (default): shapes, options, every entry (finite, in range) and every row sum.
/// `none`: shapes and options only; for trusted inputs in hot loops (bad entries then give
/// unspecified results, never undefined behaviour).
enum class Validation { full, none };

namespace detail {

/// Builds "divergence::kl: argument 'q', row 3, column 17: negative probability (-0.2)".
/// Row or column < 0 means "not about one row/column".
inline std::string error_message(const char* function, const char* argument, Index row, Index column,
                                 const std::string& problem)
{
    std::ostringstream out;
    out.precision(17);
    out << "divergence::" << function << ": argument '" << argument << "'";
    if (row >= 0) out << ", row " << row;
    if (column >= 0) out << ", column " << column;
    out << ": " << problem;
    return out.str();
}

[[noreturn]] inline void fail(const char* function, const char* argument, Index row, Index column,
                              const std::string& problem)
{
    throw std::invalid_argument(error_message(function, argument, row, column, problem));
}

[[noreturn]] inline void fail(const char* function, const char* argument, const std::string& problem)
{
    fail(function, argument, -1, -1, problem);
}

template <class T>
std::string describe(const char* what, T value)
{
    std::ostringstream out;
    out.precision(17);
    out << what << " (" << value << ")";
    return out.str();
}

}  // namespace detail
}  // namespace divergence

#endif
