#ifndef DIVERGENCE_CORE_VALIDATE_HPP
#define DIVERGENCE_CORE_VALIDATE_HPP

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/forms.hpp"
#include "divergence/core/logsumexp.hpp"
#include "divergence/core/options.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/core/sum.hpp"

namespace divergence::detail {

/// The default of Options::tolerance for rows of `entries` entries of Scalar:
///   max(floor, gamma_V),  floor = 1e-4 (float) or 1e-6 (double),  gamma_V = V u / (1 - V u),
/// u = 2^-24 (float) or 2^-53 (double) the unit roundoff. gamma_V bounds the relative error of a sum
/// of V non-negative numbers in any order (Higham, Accuracy and Stability of Numerical Algorithms,
/// 2nd ed., 2002, section 4.2), so a row normalized in its own precision, x / sum(x), passes
/// whatever summation made sum(x) (sequential loops included); 1 once V u >= 1/2 (V >= 2^23 floats).
/// Float: 1e-4 up to V = 1677, 1.6e-2 at V = 262144. Double: 1e-6 up to V = 9e9.
template <class Scalar>
double default_tolerance(Index entries)
{
    constexpr bool is_float = std::is_same_v<Scalar, float>;
    const double floor = is_float ? 1e-4 : 1e-6;
    const double n_u = double(entries) * std::ldexp(1.0, is_float ? -24 : -53);
    const double gamma = n_u < 0.5 ? n_u / (1.0 - n_u) : 1.0;
    return std::max(floor, gamma);
}

/// Checks Options::tolerance: negative (the default) or finite.
inline void validate_tolerance(const char* function, const Options& options)
{
    if (!(options.tolerance < 0 || std::isfinite(options.tolerance))) {
        fail(function, "options.tolerance", describe("must be finite, got", options.tolerance));
    }
}

/// The tolerance a call uses for rows of `entries` entries: Options::tolerance, or its default.
template <class Scalar>
double tolerance_for(const Options& options, Index entries)
{
    return options.tolerance < 0 ? default_tolerance<Scalar>(entries) : options.tolerance;
}

/// ", not 1: |s - 1| = d exceeds the tolerance t (Options::tolerance, ...)": what a rejected
/// normalization says, so that the fix (normalize, or set Options::tolerance) is in the message.
template <class Scalar>
std::string tolerance_problem(const char* what, double seen, double target, double tolerance, const Options& options,
                              Index entries)
{
    std::ostringstream out;
    out.precision(17);
    out << what << " " << seen << ", not " << target << ": the difference " << std::abs(seen - target)
        << " exceeds the tolerance ";
    out.precision(3);
    out << tolerance << " (Options::tolerance";
    if (options.tolerance < 0) {
        out << "; the default for " << entries << (std::is_same_v<Scalar, float> ? " float" : " double")
            << " entries, see docs/conventions.md";
    }
    out << ")";
    return out.str();
}

/// The extremes of a slice of logits, mergeable: the executor's validity pass over rows of logits.
/// A row is valid when it has no NaN or +inf, z / T is finite for finite z, and some z > -inf.
/// It only says yes or no; a row that fails is scanned again by the scalar checks, which find the
/// column and throw.
struct LogitExtremes {
    double largest = -infinity;  ///< largest entry (-inf: none above -inf)
    double smallest = infinity;  ///< smallest entry above -inf
    bool nan = false;

    void merge(const LogitExtremes& other)
    {
        largest = std::max(largest, other.largest);
        smallest = std::min(smallest, other.smallest);
        nan = nan || other.nan;
    }
    /// Valid for logits scaled by 1/T = inverse_temperature in a type whose largest value is `limit`.
    bool valid(double inverse_temperature, double limit) const
    {
        const double magnitude = std::max(std::abs(largest), smallest == infinity ? 0.0 : std::abs(smallest));
        return !nan && largest != infinity && largest != -infinity && magnitude * inverse_temperature <= limit;
    }
};

/// Adds the contiguous entries x[0, n) to `state`: one vector pass (loads, max, min, a NaN count).
template <class P>
void accumulate_logit_extremes(LogitExtremes& state, const simd::scalar_of<P>* x, Index n)
{
    using Scalar = simd::scalar_of<P>;
    constexpr Index width = simd::lanes<P>;
    constexpr Scalar inf = std::numeric_limits<Scalar>::infinity();
    const P minus_inf = simd::broadcast<P>(-inf), plus_inf = simd::broadcast<P>(inf);
    const P zero = simd::broadcast<P>(Scalar(0)), one = simd::broadcast<P>(Scalar(1));
    P hi = minus_inf, lo = plus_inf, nans = zero;  // lo: smallest entry > -inf
    const auto add = [&](const P& v) {
        hi = simd::max(hi, v);
        lo = simd::min(lo, simd::select(simd::less(minus_inf, v), v, plus_inf));
        nans = simd::add(nans, simd::select(simd::equal(v, v), zero, one));
    };
    Index i = 0;
    for (; i + width <= n; i += width) add(simd::load<P>(x + i));
    if (i < n) add(simd::load_partial<P>(x + i, n - i, -inf));  // -inf is neutral here
    state.merge({double(simd::reduce_max(hi)), double(simd::reduce_min(lo)), simd::reduce_add(nans) != Scalar(0)});
}

/// The validity pass over contiguous rows of logits as an executor job: valid[r] for each row kept.
template <class Scalar>
struct LogitCheckJob : IndexedRowJob {
    MatrixView<const Scalar> rows;
    double inverse_temperature;
    const RowMask& mask;
    char* valid;

    bool keeps(Index r) const { return mask.keeps(r); }
    LogitExtremes start(Pass<0>, Index) const { return {}; }
    void accumulate(Pass<0>, LogitExtremes& state, Index r, Index begin, Index end) const
    {
        accumulate_logit_extremes<simd::Packet<Scalar>>(state, rows.row(r) + begin, end - begin);
    }
    void merge(Pass<0>, LogitExtremes& into, const LogitExtremes& next, Index) const { into.merge(next); }
    void finish(Pass<0>, Index& r, const LogitExtremes& state) const
    {
        valid[r] = state.valid(inverse_temperature, double(std::numeric_limits<Scalar>::max()));
    }
};

/// Checks that the options' mask has one entry per row.
inline void validate_mask(const char* function, const Options& options, Index rows)
{
    if (options.mask.active() && options.mask.size != rows) {
        fail(function, "mask", "has " + std::to_string(options.mask.size) + " entries for " + std::to_string(rows) + " rows");
    }
}

/// Checks the options and an input's shape and temperature (always), and, with
/// Validation::full, every entry and row of the rows kept by the mask. Errors name row
/// first_row + r for the input's row r (x may be rows [first_row, ...) of the caller's input).
template <class Scalar>
void validate_input(const char* function, const char* name, const Input<Scalar>& x, const Options& options,
                    Index first_row = 0)
{
    const auto& v = x.view();
    if (v.rows == 0 || v.cols == 0) {
        fail(function, name, "empty input (" + std::to_string(v.rows) + " x " + std::to_string(v.cols) + ")");
    }
    if (x.form() == Form::logits && !(x.temperature() > 0.0 && std::isfinite(x.temperature()))) {
        fail(function, name, describe("temperature must be finite and > 0, got", x.temperature()));
    }
    // The vector kernels scale logits by 1/T in the input's precision: 1/T must be a finite, normal
    // value of it (float: T in [2.9e-39, 8.5e37]; double: T in [5.6e-309, 4.5e307]).
    if (x.form() == Form::logits && !(1.0 / x.temperature() <= double(std::numeric_limits<Scalar>::max()) &&
                                      1.0 / x.temperature() >= double(std::numeric_limits<Scalar>::min()))) {
        fail(function, name,
             describe(std::is_same_v<Scalar, float> ? "temperature out of range for float logits (1 / temperature must be a "
                                                      "finite, normal float), got"
                                                    : "temperature out of range for double logits (1 / temperature must "
                                                      "be a finite, normal double), got",
                      x.temperature()));
    }
    validate_mask(function, options, v.rows);
    validate_tolerance(function, options);
    if (options.validation == Validation::none) return;

    const double tolerance = tolerance_for<Scalar>(options, v.cols);
    const double inverse_temperature = 1.0 / x.temperature();
    // Logits with contiguous rows (the fast path's inputs): a vector pass over the rows in
    // parallel says which rows are valid; only the others are scanned below, in row order, so
    // the error names the same (row, column) as a serial scan would.
    std::vector<char> valid;
    if (x.form() == Form::logits && v.contiguous_rows()) {
        valid.assign(std::size_t(v.rows), 0);
        const LogitCheckJob<Scalar> job{{}, v, inverse_temperature, options.mask, valid.data()};
        execute(job, v.rows, Chunks{v.cols, fused_chunk});
    }
    for (Index r = 0; r < v.rows; ++r) {
        if (!options.mask.keeps(r)) continue;
        if (!valid.empty() && valid[std::size_t(r)]) continue;
        CompensatedSum total;
        LogSumExp log_total;  // log-probabilities only
        double largest_logit = -std::numeric_limits<double>::infinity();
        for (Index c = 0; c < v.cols; ++c) {
            const double e = double(v(r, c));
            switch (x.form()) {
            case Form::probs:
                if (!std::isfinite(e)) fail(function, name, first_row + r, c, describe("non-finite probability", e));
                if (e < 0.0) fail(function, name, first_row + r, c, describe("negative probability", e));
                total.add(e);
                break;
            case Form::log_probs:
                if (std::isnan(e) || e == std::numeric_limits<double>::infinity()) {
                    fail(function, name, first_row + r, c, describe("log-probability must be in [-inf, 0], got", e));
                }
                if (e > tolerance) fail(function, name, first_row + r, c, describe("positive log-probability", e));
                log_total.add(e);
                break;
            case Form::logits:
                if (std::isnan(e) || e == std::numeric_limits<double>::infinity()) {
                    fail(function, name, first_row + r, c, describe("logit must be finite or -inf, got", e));
                }
                // z / T beyond the input type's range (float: FLT_MAX) overflows the kernels' scaling.
                if (std::isfinite(e) && !(std::abs(e * inverse_temperature) <= double(std::numeric_limits<Scalar>::max()))) {
                    fail(function, name, first_row + r, c, describe("logit / temperature overflows, logit", e));
                }
                largest_logit = std::max(largest_logit, e);  // logits need no normalization check: no exp
                break;
            }
        }
        if (x.form() == Form::probs && !(std::abs(total.value() - 1.0) <= tolerance)) {
            fail(function, name, first_row + r, -1,
                 tolerance_problem<Scalar>("probabilities sum to", total.value(), 1.0, tolerance, options, v.cols));
        }
        if (x.form() == Form::log_probs && !(std::abs(log_total.value()) <= tolerance)) {
            fail(function, name, first_row + r, -1,
                 tolerance_problem<Scalar>("logsumexp of the log-probabilities is", log_total.value(), 0.0, tolerance,
                                           options, v.cols));
        }
        if (x.form() == Form::logits && largest_logit == -std::numeric_limits<double>::infinity()) {
            fail(function, name, first_row + r, -1, "every logit is -inf");
        }
    }
}

template <class P, class Q>
void validate_shapes(const char* function, const Input<P>& p, const Input<Q>& q)
{
    if (p.rows() != q.rows() || p.cols() != q.cols()) {
        fail(function, "q", "shape " + std::to_string(q.rows()) + " x " + std::to_string(q.cols()) +
                                " differs from p's " + std::to_string(p.rows()) + " x " + std::to_string(p.cols()));
    }
}

template <class Scalar, class InputScalar>
void validate_output(const char* function, const char* name, const MatrixOut<Scalar>& out, const Input<InputScalar>& x)
{
    if (out.requested() && (out.view.rows != x.rows() || out.view.cols != x.cols())) {
        fail(function, name, "shape " + std::to_string(out.view.rows) + " x " + std::to_string(out.view.cols) +
                                 " differs from the input's " + std::to_string(x.rows()) + " x " +
                                 std::to_string(x.cols()));
    }
}

template <class Scalar>
void validate_output(const char* function, const VectorOut<Scalar>& out, Index rows)
{
    if (out.requested() && out.size != rows) {
        fail(function, "row_values", "has " + std::to_string(out.size) + " entries for " + std::to_string(rows) + " rows");
    }
}

}  // namespace divergence::detail

#endif
