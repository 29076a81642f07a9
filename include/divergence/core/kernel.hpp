#ifndef DIVERGENCE_CORE_KERNEL_HPP
#define DIVERGENCE_CORE_KERNEL_HPP

// The kernel vocabulary: what a divergence kernel sees of its rows and gives back, and how rows
// are cut into chunks and blocks. Everything above it (the executor, the kernels, the public
// functions) speaks these words; this header includes nothing of the library but its config.

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "divergence/core/config.hpp"

namespace divergence::detail {

inline constexpr double infinity = std::numeric_limits<double>::infinity();

/// x * y with 0 * anything = 0 (the convention 0 log 0 = 0 carried to products).
inline double times(double x, double y) { return x == 0.0 ? 0.0 : x * y; }

/// One element of the rows, in both parametrizations: p = exp(log_p) (q unused when unary).
struct Element {
    double p = 0.0, log_p = 0.0, q = 0.0, log_q = 0.0;
};

/// A kernel's derivatives at one element: d_p = dD/dp_i and d_log_p = p_i dD/dp_i = dD/dlog p_i
/// (exact where p_i = 0, where d_p may be infinite); likewise for q.
struct Partials {
    double d_p = 0.0, d_log_p = 0.0, d_q = 0.0, d_log_q = 0.0;
};

/// A row is cut into chunks of this many elements, whatever the number of threads: each chunk
/// gives a partial state, and the states of a row are merged in chunk order. Results therefore
/// do not depend on how chunks or rows are spread over threads.
inline constexpr Index fused_chunk = 32768;

/// Inside a chunk, elements are taken in blocks of this many: the running maximum of a block
/// is found first (the block then sits in L1), so each element needs one exp per input and
/// the partial sums are rescaled at most once per block.
inline constexpr Index fused_block = 1024;

/// Two rows of logits, contiguous, with their temperatures, as a fused kernel reads them:
/// log p_i = z_p,i / T_p - logsumexp(z_p / T_p), likewise for q.
/// When the kernel declares `needs_normalizers`, the executor fills in the normalizers first
/// (one log-sum-exp pass), so that log p_i = (z_p,i - max_p) * inverse_temperature_p - log_sum_p
/// (max_p is the largest raw logit, or 0 when every logit is -inf).
template <class Scalar>
struct FusedRow {
    const Scalar* p = nullptr;
    const Scalar* q = nullptr;
    Index cols = 0;
    double inverse_temperature_p = 1.0;
    double inverse_temperature_q = 1.0;
    double max_p = 0.0, log_sum_p = 0.0;  ///< normalizers (only with needs_normalizers)
    double max_q = 0.0, log_sum_q = 0.0;
    /// The gradient rows the caller asked for, when they overlap neither input row (else null).
    /// accumulate() may keep per-element values there that gradient() reads back: the executor
    /// calls gradient() with these same rows, over columns that accumulate() has covered.
    Scalar* keep_p = nullptr;
    Scalar* keep_q = nullptr;
    /// The input rows of the row pair the executor computes next on this thread (null: none), of
    /// the same length: see NextRowPrefetch (detail/fused_row.hpp).
    const Scalar* next_p = nullptr;
    const Scalar* next_q = nullptr;
    /// The row is log-probabilities taken as given (at temperature 1), not logits: its mass
    /// sum_i exp(x_i), 1 only within rounding, is not normalized away. Only for fused kernels that
    /// declare `takes_log_probs` (core/rows.hpp), and never with that side's gradient.
    bool given_p = false;
    bool given_q = false;

    /// The same pair with p and q exchanged (the fused kernel of D(Q || P) from that of D(P || Q)).
    FusedRow swapped() const
    {
        return {q,         p,      cols,   inverse_temperature_q, inverse_temperature_p, max_q, log_sum_q, max_p,
                log_sum_p, keep_q, keep_p, next_q, next_p, given_q, given_p};
    }
};

/// Whether a fused kernel takes log-probabilities as given (Fused::takes_log_probs, default false):
/// rows with FusedRow::given_* set, see core/rows.hpp.
template <class Fused, class = void>
struct takes_log_probs : std::false_type {};
template <class Fused>
struct takes_log_probs<Fused, std::void_t<decltype(Fused::takes_log_probs)>> : std::bool_constant<Fused::takes_log_probs> {};

/// Whether the rows [a, a + n) and [b, b + n) share an element.
template <class Scalar>
bool rows_overlap(const Scalar* a, const Scalar* b, Index n)
{
    const auto x = reinterpret_cast<std::uintptr_t>(a), y = reinterpret_cast<std::uintptr_t>(b);
    const auto bytes = std::uintptr_t(n) * sizeof(Scalar);
    return x < y + bytes && y < x + bytes;
}

/// A running maximum used as the reference point of exponentials: -inf (nothing seen, or only
/// -inf) is replaced by 0 so that x - reference is never NaN.
inline double finite_reference(double max) { return max == -infinity ? 0.0 : max; }

/// What a row's normalizer log_sum loses when rounded to S (0 for double). Kernels that subtract
/// S(log_sum) from every log p_i multiply p_i by exp(-remainder) instead of also subtracting the
/// remainder: in float the subtraction would be lost to rounding wherever |log p_i| >= |log_sum|,
/// scaling every p_i of the row alike (a bias of the sums, not noise).
template <class S>
double normalizer_remainder(double log_sum)
{
    return log_sum - double(S(log_sum));
}

}  // namespace divergence::detail

#endif
