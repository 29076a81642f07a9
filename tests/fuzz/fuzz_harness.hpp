// Helpers shared by the translation units of the fuzz target (public_api_fuzz.cpp and decoders_*.cpp):
// the decoding helpers (param(), byte(), the palettes), failure(), the known defects, the parser of
// exception messages and with_generator(), in namespace fuzz_harness (inline: one definition for the
// whole program, so the shared g_inputs and the classes of fuzz_common.hpp mean the same in every unit).

#ifndef DIVERGENCE_FUZZ_HARNESS_HPP
#define DIVERGENCE_FUZZ_HARNESS_HPP

#include <fuzzer/FuzzedDataProvider.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <divergence/divergence.hpp>

namespace fuzz_harness {


using namespace divergence;
namespace gen = divergence::generators;

inline constexpr double inf = std::numeric_limits<double>::infinity();
inline const double nan_value = std::numeric_limits<double>::quiet_NaN();

inline std::string g_inputs;  // the current case's values, printed with a failure

[[noreturn]] inline void failure(const std::string& what)
{
    std::fprintf(stderr, "\n*** divergence fuzz check failed: %s\n%s", what.c_str(), g_inputs.c_str());
    std::fflush(stderr);
    std::abort();
}

// ---------------------------------------------------------------- known defects
// Each entry names one reported defect and its reproducer; the harness skips exactly that
// symptom and nothing else. Remove an entry when its fix lands.
enum class Defect {
    // Logits with |z| / T beyond 1e15 read through the generic row path (the other argument not logits):
    // f_divergence(probs {1}, logits({-941314.6875}, 1e-30), Dual<Gan>) has a NaN grad_q (double and
    // float; ForwardKl too), and f_divergence(probs {1}, logits({-1e20}, 1e-30), ForwardKl) is +inf
    // instead of 0 (double).
    generic_path_huge_logits,
    // generators::GeneralizedJs(1.0).weight(0.0) and GeneralizedJs(0.0).weight(u) for u >= ~1.8e308
    // (DBL_MAX, +inf) are NaN (0 * inf); so is density_ratio_weights(log_ratio, GeneralizedJs(1.0)) where
    // exp(log_ratio) underflows to 0 (-inf, -1e4) and (log_ratio >= 709.79, GeneralizedJs(0.0)).
    // h = 0 there (the generator is identically 0).
    generalized_js_weight_nan_at_beta_0_or_1,
    // generators::SoftenedReverseKl{}.f_prime(u) for subnormal u (e.g. 4.9e-324): inf - inf = NaN
    // (-inf is the limit).
    softened_reverse_kl_f_prime_nan_at_subnormal_u,
    // generators::TPower(t) with |t (t - 1)| beyond DBL_MAX (|t| > ~1.3e154, e.g. t = 1e300): its
    // scale is +inf and inf * 0 gives NaN (phi_over_u_at_infinity(), f(1), so f_divergence values and
    // density_ratio_weights too).
    t_power_scale_overflow,
    // generators::SkewKl(alpha) with a subnormal alpha (4.9e-324, 1e-310): weight(+inf) is NaN, so is
    // density_ratio_weights(log_ratio > 709.79, SkewKl(4.9e-324)).
    skew_kl_weight_nan_at_infinity,
    // parametric::geometric_jensen_shannon between Gaussians whose mean difference squared overflows (d = 1,
    // p.mean 3.88e299 (diagonal form, variance 1.000000000001), q.mean -1e20 (Cholesky form, variance 10.01),
    // alpha 0.25): NaN grad_q.covariance. The gradient's terms quadratic in the mean offsets (e e^T, b e^T)
    // overflow to +-inf and meet with opposite signs; so do S = L L^T and the precisions for covariance
    // parameters beyond 1e150 or below 1e-150 (a variance of 4.9e-324 has precision +inf).
    geometric_js_gradient_nan_when_delta_overflows,
    // parametric::kl and jeffreys between Gaussians where L2^-1 delta overflows (|delta| / sqrt(variance) beyond
    // DBL_MAX: q.mean (-14.6, -DBL_MAX), q factor diag(29.97, 0.01), p factor {0.956, 0; 0.948, 0.077}): NaN
    // grad_q.covariance. The low-rank part V = L2^-T [M, z] of G2 needs z = L2^-1 delta, whose -inf meets a 0 of
    // L2^T in the solve; V itself is not representable (the mean gradients are fixed: delta is scaled first).
    gaussian_kl_covariance_gradient_nan_when_solve_overflows,
    // parametric::kl / kl_gradient / kl_rows between families with a parameter below 1e-150 or above 1e150
    // (nonzero): values and gradients whose terms overflow meet with opposite signs (inf - inf), e.g.
    // Dirichlet {1e-300, 1e-300} against {1, 1}: d/da_k = (a_k - b_k) psi'(a_k) - (a0 - b0) psi'(a0) = -inf + inf;
    // Exponential(1e-300) against Normal(1, 1e300): NaN value; Laplace(1e300, 1e-300) against Laplace(1, 1): NaN
    // d/db1. (Equal tiny parameters, e.g. Gamma {1e-300, 1e-300} twice, are fixed.)
    family_kl_nan_at_extreme_parameters,
};
inline bool known_defect(Defect) { return true; }

// ---------------------------------------------------------------- decoding helpers

inline const double kPalette[] = {
    0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 0.25, 7.0, 1e-30, 1e30, -1e30, 1e20, -1e20, 1e4, -1e4, 88.7, -87.4,
    709.8, -745.2, 1e300, -1e300, DBL_MAX, -DBL_MAX, double(FLT_MAX), -double(FLT_MAX), double(FLT_MIN),
    1.4e-45, 4.9e-324, 2.2e-308, -2.2e-308, inf, -inf, std::numeric_limits<double>::quiet_NaN(), 1e-300,
    1e-16, 1.0 - 1e-16, 1.0 + 1e-12, 0.999999, 10.0, 1e8, -1e-300, 3.0, 1e-3, 100.0, 1e38, -1e38, 1e-6};
inline constexpr int kPaletteSize = int(sizeof(kPalette) / sizeof(kPalette[0]));

inline double param(FuzzedDataProvider& in)
{
    const int k = in.ConsumeIntegralInRange<int>(0, 255);
    if (k < kPaletteSize) return kPalette[k];
    if (k < 200) return kPalette[(k * 7) % kPaletteSize];  // biased towards the palette
    const uint64_t bits = in.ConsumeIntegral<uint64_t>();
    double x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
}

inline int byte(FuzzedDataProvider& in, int modulo) { return in.ConsumeIntegralInRange<int>(0, 255) % modulo; }

inline const double kScales[] = {1.0, 0.01, 10.0, 100.0, 1e3, 1e4, 1e6, 1e10, 1e20, 1e30, 1e38, 1e100, 1e300, 0.0, 3.0, 30.0};

inline bool same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

inline std::string show(double x)
{
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.17g", x);
    return buffer;
}

// ---------------------------------------------------------------- exceptions

/// A parsed message "divergence::F: argument 'A'[, row R][, column C]: problem".
struct Message {
    std::string function, argument, problem;
    long row = -1, column = -1;
};

inline bool parse(const std::string& text, Message& m)
{
    const std::string head = "divergence::";
    if (text.compare(0, head.size(), head) != 0) return false;
    const std::size_t colon = text.find(": argument '", head.size());
    if (colon == std::string::npos) return false;
    m.function = text.substr(head.size(), colon - head.size());
    const std::size_t a = colon + 12;
    const std::size_t quote = text.find('\'', a);
    if (quote == std::string::npos) return false;
    m.argument = text.substr(a, quote - a);
    std::size_t k = quote + 1;
    if (text.compare(k, 6, ", row ") == 0) {
        m.row = std::strtol(text.c_str() + k + 6, nullptr, 10);
        k = text.find_first_not_of("0123456789", k + 6);
    }
    if (k != std::string::npos && text.compare(k, 9, ", column ") == 0) {
        m.column = std::strtol(text.c_str() + k + 9, nullptr, 10);
        k = text.find_first_not_of("0123456789", k + 9);
    }
    if (k == std::string::npos || text.compare(k, 2, ": ") != 0) return false;
    m.problem = text.substr(k + 2);
    return true;
}

inline bool starts(const std::string& s, const char* prefix) { return s.compare(0, std::strlen(prefix), prefix) == 0; }
inline bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// ---------------------------------------------------------------- generators

/// Calls f(generator) for generator number `index` (the README's order), dual or not.
/// Parameterized generators are constructed from `parameter` and may throw (documented).
template <class F>
void with_generator(int index, bool dual, double parameter, F&& f)
{
    const auto go = [&](const auto& g) {
        if (dual) f(gen::dual(g));
        else f(g);
    };
    switch (index) {
    case 0: return go(gen::ForwardKl{});
    case 1: return go(gen::ReverseKl{});
    case 2: return go(gen::PearsonChiSquared{});
    case 3: return go(gen::NeymanChiSquared{});
    case 4: return go(gen::SquaredHellinger{});
    case 5: return go(gen::Jeffreys{});
    case 6: return go(gen::JensenShannon{});
    case 7: return go(gen::Gan{});
    case 8: return go(gen::GeneralizedJs(parameter));
    case 9: return go(gen::SkewKl(parameter));
    case 10: return go(gen::SkewReverseKl(parameter));
    case 11: return go(gen::SoftenedReverseKl{});
    case 12: return go(gen::AmariAlpha(parameter));
    case 13: return go(gen::TPower(parameter));
    case 14: return go(gen::Triangular{});
    case 15: return go(gen::ArithmeticGeometric{});
    case 16: return go(gen::TotalVariation{});
    case 17: return go(gen::Log1pAbs{});
    default: return go(gen::ModifiedGan{});
    }
}

}  // namespace fuzz_harness

using namespace fuzz_harness;  // NOLINT: the harness and the decoders use these names unqualified

#endif
