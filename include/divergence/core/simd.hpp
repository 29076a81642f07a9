#ifndef DIVERGENCE_CORE_SIMD_HPP
#define DIVERGENCE_CORE_SIMD_HPP

// The one SIMD layer of the library: thin wrappers over Eigen's packet math, used by every fused
// kernel (detail/fused_*.hpp).
//
// Every function is a template over a "packet" P, which is either
//   - the vector path: simd::Packet<Scalar>, Eigen's widest packet for the instruction set the
//     consumer compiles for (16 floats / 8 doubles with AVX-512, 8 / 4 with AVX, 4 / 2 with SSE2);
//   - the scalar path: P = Scalar itself (one lane), with the same interface, computed with
//     std::exp / std::log. Kernels are written once over P; the scalar path is what the tests
//     compare the vector path against.
// The instruction set is chosen by the consumer's compiler flags (-march=...), never at run time.
//
// Accuracy of the vector transcendental functions (Eigen 3.4, measured by tests/core/simd_test.cpp
// over dense sweeps, in ulp of the result, against the correctly rounded long-double value):
//   exp  float: <= 2 ulp with AVX-512 (exp_avx512 below: 1.07 ulp measured on every float of
//              [-87.34, 88.72]) and with AVX2 + FMA (exp_avx2: 0.91 ulp on [-87.34, 88.37]),
//              <= 5 ulp elsewhere (Eigen's); results below 2^-126 (x < about -87.3)
//              flush to +0 (no subnormals), exp(-inf) = 0. The fused kernels only call exp on
//              arguments <= 0, so the upper end (Eigen: exp(x > 88.38) = 2.4e38, not inf) never matters.
//        double: <= 2 ulp on [-708, 709] (AVX-512, exp_avx512: 0.87 ulp measured; Eigen's elsewhere:
//              1.7 ulp); results below 2^-1022 (x < -708.40) with AVX-512, below exp(-709.43)
//              otherwise, flush to +0; exp(-inf) = 0.
//   log  float, double: <= 2 ulp on normal numbers; log(0) = -inf, log(+inf) = +inf, log(x < 0) = NaN.
//   log1p float, double: <= 3 ulp on (-1, 1e30].
//   expm1 double: <= 4 ulp on [-50, 700] (expm1 below).
// The bounds the tests enforce are the numbers above; see docs/performance.md.

#include <Eigen/Core>

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(EIGEN_VECTORIZE_SSE2) || defined(EIGEN_VECTORIZE_AVX) || defined(EIGEN_VECTORIZE_AVX512)
#include <immintrin.h>
#endif

#include "divergence/core/config.hpp"

// GCC 12 flags the deliberately undefined upper lanes of some AVX-512 intrinsics (used inside
// Eigen's packet math) as uninitialized when they are inlined here: not a real read. Packets are
// compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

// Every function of the SIMD layer is inlined into its caller whatever the optimizer's heuristics
// (-O2 declined to inline some of them in the hot loops, which then ran through calls).
#if defined(__GNUC__)
#define DIVERGENCE_SIMD_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define DIVERGENCE_SIMD_INLINE __forceinline
#else
#define DIVERGENCE_SIMD_INLINE inline
#endif

namespace divergence {

/// The vector instruction set the library's kernels were compiled for, chosen by the compiler flags of
/// the program that includes the library (-march=...; Eigen's packet types follow them): "AVX-512",
/// "AVX2+FMA", "AVX2", "AVX", "SSE" or "none (scalar)". Kernels are not dispatched at run time: a
/// program built without -march runs the SSE2 code of the x86-64 baseline (docs/performance.md).
inline const char* instruction_set()
{
#if defined(EIGEN_VECTORIZE_AVX512)
    return "AVX-512";
#elif defined(EIGEN_VECTORIZE_AVX2) && defined(EIGEN_VECTORIZE_FMA)
    return "AVX2+FMA";
#elif defined(EIGEN_VECTORIZE_AVX2)
    return "AVX2";
#elif defined(EIGEN_VECTORIZE_AVX)
    return "AVX";
#elif defined(EIGEN_VECTORIZE_SSE)
    return "SSE";
#else
    return "none (scalar)";
#endif
}

}  // namespace divergence

namespace divergence::detail::simd {

namespace ei = Eigen::internal;

/// Hints that the cache line holding `address` will be read (prefetch) or written
/// (prefetch_for_write) soon. No effect on any result; nothing where the compiler has no prefetch.
DIVERGENCE_SIMD_INLINE void prefetch(const void* address)
{
#if defined(__GNUC__)
    __builtin_prefetch(address);
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
    _mm_prefetch(static_cast<const char*>(address), _MM_HINT_T0);
#else
    (void)address;
#endif
}
DIVERGENCE_SIMD_INLINE void prefetch_for_write(const void* address)
{
#if defined(__GNUC__)
    __builtin_prefetch(address, 1);
#else
    prefetch(address);
#endif
}

/// The vector packet of a scalar type (float or double) for the target instruction set.
template <class Scalar>
using Packet = typename ei::packet_traits<Scalar>::type;

/// The scalar type of a packet (P itself for the scalar path).
template <class P>
using scalar_of = typename ei::unpacket_traits<P>::type;

/// Number of lanes of a packet (1 for the scalar path).
template <class P>
inline constexpr int lanes = int(ei::unpacket_traits<P>::size);

template <class P>
DIVERGENCE_SIMD_INLINE P load(const scalar_of<P>* from)
{
    return ei::ploadu<P>(from);
}

template <class P>
DIVERGENCE_SIMD_INLINE void store(scalar_of<P>* to, const P& x)
{
    ei::pstoreu(to, x);
}

template <class P>
DIVERGENCE_SIMD_INLINE P broadcast(scalar_of<P> value)
{
    return ei::pset1<P>(value);
}

/// The first n < lanes<P> entries from memory, the other lanes set to `fill` (reads only n
/// entries: safe at the end of a buffer).
template <class P>
DIVERGENCE_SIMD_INLINE P load_partial(const scalar_of<P>* from, Index n, scalar_of<P> fill)
{
    using S = scalar_of<P>;
    alignas(64) S buffer[lanes<P>];
    for (int i = 0; i < lanes<P>; ++i) buffer[i] = i < n ? from[i] : fill;
    return ei::ploadu<P>(buffer);
}

/// Writes the first n < lanes<P> lanes of x (writes only n entries).
template <class P>
DIVERGENCE_SIMD_INLINE void store_partial(scalar_of<P>* to, const P& x, Index n)
{
    using S = scalar_of<P>;
    alignas(64) S buffer[lanes<P>];
    ei::pstoreu(buffer, x);
    for (Index i = 0; i < n; ++i) to[i] = buffer[i];
}

/// The first n <= lanes<P> entries: a whole packet when n = lanes<P>, else load_partial's.
template <class P>
DIVERGENCE_SIMD_INLINE P load_upto(const scalar_of<P>* from, Index n, scalar_of<P> fill)
{
    return n == lanes<P> ? ei::ploadu<P>(from) : load_partial<P>(from, n, fill);
}

/// Writes the first n <= lanes<P> lanes of x: the whole packet when n = lanes<P>.
template <class P>
DIVERGENCE_SIMD_INLINE void store_upto(scalar_of<P>* to, const P& x, Index n)
{
    if (n == lanes<P>) {
        ei::pstoreu(to, x);
    } else {
        store_partial(to, x, n);
    }
}

template <class P> DIVERGENCE_SIMD_INLINE P add(const P& a, const P& b) { return ei::padd(a, b); }
template <class P> DIVERGENCE_SIMD_INLINE P sub(const P& a, const P& b) { return ei::psub(a, b); }
template <class P> DIVERGENCE_SIMD_INLINE P mul(const P& a, const P& b) { return ei::pmul(a, b); }
/// a / b, correctly rounded (IEEE division).
template <class P> DIVERGENCE_SIMD_INLINE P div(const P& a, const P& b) { return ei::pdiv(a, b); }
/// Square root, correctly rounded (the instruction: Eigen's psqrt may use an approximate reciprocal
/// square root and Newton steps, a few ulp off, with sqrt(+inf) = NaN).
template <class P>
DIVERGENCE_SIMD_INLINE P sqrt(const P& x)
{
#if defined(EIGEN_VECTORIZE_AVX512)
    if constexpr (std::is_same_v<P, ei::Packet16f>) return _mm512_sqrt_ps(x);
    if constexpr (std::is_same_v<P, ei::Packet8d>) return _mm512_sqrt_pd(x);
#endif
#if defined(EIGEN_VECTORIZE_AVX)
    if constexpr (std::is_same_v<P, ei::Packet8f>) return _mm256_sqrt_ps(x);
    if constexpr (std::is_same_v<P, ei::Packet4d>) return _mm256_sqrt_pd(x);
#endif
#if defined(EIGEN_VECTORIZE_SSE2)
    if constexpr (std::is_same_v<P, ei::Packet4f>) return _mm_sqrt_ps(x);
    if constexpr (std::is_same_v<P, ei::Packet2d>) return _mm_sqrt_pd(x);
#endif
    if constexpr (lanes<P> == 1) {
        return std::sqrt(x);
    } else {
        return ei::psqrt(x);
    }
}
/// a * b + c (one fused multiply-add where the instruction set has it).
template <class P> DIVERGENCE_SIMD_INLINE P madd(const P& a, const P& b, const P& c) { return ei::pmadd(a, b, c); }
template <class P> DIVERGENCE_SIMD_INLINE P max(const P& a, const P& b) { return ei::pmax(a, b); }
template <class P> DIVERGENCE_SIMD_INLINE P min(const P& a, const P& b) { return ei::pmin(a, b); }
#if defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
// flatten: inline Eigen's whole exp here (it is small), also for double where GCC would not.
// Not under AddressSanitizer: instrumented and flattened, the f-divergence packet loops of every
// generator take GCC many minutes to compile, for no use (sanitizer builds are not for speed).
#define DIVERGENCE_SIMD_FLATTEN __attribute__((flatten))
#else
#define DIVERGENCE_SIMD_FLATTEN
#endif
#if defined(EIGEN_VECTORIZE_AVX512)
/// exp of 16 floats with AVX-512, by a table of 2^(k/16): x log2(e) = m + r' with m a multiple of
/// 1/16 (rounded by adding 1.5 * 2^19, whose float ulp is 1/16; the low 4 bits of the sum's encoding
/// are k = 16 m mod 16), r = x - m ln 2 by two FMAs with ln 2 split so that m ln2_hi is exact
/// (|r| <= ln 2 / 32), then e^x = 2^floor(m) * T[k] * e^r with T[k] = 2^(k/16) picked by one
/// permute from a register, e^r - 1 = r + r^2/2 + r^3/6 (truncation below 1e-8), T[k] (1 + (e^r - 1))
/// by one FMA, and 2^floor(m) applied by vscalefps (exact, also to the edge of the range).
/// Against the Cody-Waite + degree-6 polynomial it replaces: the rounding rides on the FMA that
/// scales by log2(e), and the polynomial has degree 3 (three FMAs fewer): 11.1 instead of 9.2 G exps
/// per second on one core of the AMD EPYC (Zen 5) measured. x < -87.3365 (e^x below 2^-126, the
/// smallest normal float) gives +0: no subnormals reach the kernels; x >= 88.73 gives +inf; NaN
/// stays NaN.
/// Error: <= 2 ulp (1.07 measured over every float of [-87.34, 88.72]; tests/core/simd_test.cpp).
DIVERGENCE_SIMD_INLINE ei::Packet16f exp_avx512(const ei::Packet16f& x)
{
    // T[k] = 2^(k/16), rounded to float.
    const __m512 table = _mm512_setr_ps(1.0f, 1.04427378242741384f, 1.09050773266525766f, 1.13878863475669165f,
                                        1.18920711500272107f, 1.24185781207348405f, 1.29683955465100967f,
                                        1.35425554693689273f, 1.41421356237309505f, 1.47682614593949931f,
                                        1.54221082540794082f, 1.61049033194925431f, 1.68179283050742908f,
                                        1.75625216037329948f, 1.83400808640934246f, 1.91520656139714729f);
    const __m512 shifter = _mm512_set1_ps(786432.0f);  // 1.5 * 2^19
    // _mm512_min_ps(a, b) returns b when either is NaN: NaN is kept, +inf is brought into range.
    const __m512 clamped = _mm512_min_ps(_mm512_set1_ps(100.0f), x);
    // Lanes kept: x >= -87.33 or NaN (not-less-than, unordered true); -inf and underflow give +0.
    const __mmask16 normal = _mm512_cmp_ps_mask(clamped, _mm512_set1_ps(-87.3365478515625f), _CMP_NLT_UQ);
    const __m512 shifted = _mm512_fmadd_ps(clamped, _mm512_set1_ps(1.44269504088896341f), shifter);
    const __m512 m = _mm512_sub_ps(shifted, shifter);  // exact
    // ln2_hi = 355 / 512 has 9 significant bits and m at most 12: m ln2_hi is exact.
    const __m512 r = _mm512_fmadd_ps(m, _mm512_set1_ps(2.12194440054690583e-4f),
                                     _mm512_fmadd_ps(m, _mm512_set1_ps(-0.693359375f), clamped));
    const __m512 t = _mm512_permutexvar_ps(_mm512_castps_si512(shifted), table);  // index: low 4 bits
    __m512 em1 = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 6.0f), r, _mm512_set1_ps(0.5f));
    em1 = _mm512_fmadd_ps(em1, r, _mm512_set1_ps(1.0f));
    em1 = _mm512_mul_ps(em1, r);
    return _mm512_maskz_scalef_ps(normal, _mm512_fmadd_ps(t, em1, t), m);
}
#endif

#if defined(EIGEN_VECTORIZE_AVX512)
/// exp of 8 doubles with AVX-512, the same way: m = round(x / ln 2), r = x - m ln 2 by two FMAs
/// (ln 2 split so that m ln2_hi is exact), e^r by its Taylor polynomial of degree 13 (truncation
/// below 5e-18 relative for |r| <= ln 2 / 2), 2^m by vscalefpd. 20 instructions and no division
/// (Eigen's double exp uses a rational approximation, a division and a generic ldexp).
/// x < -708.39 (e^x below 2^-1022, the smallest normal double) gives +0; x >= 709.79 gives +inf;
/// NaN stays NaN. Error: <= 2 ulp (tests/core/simd_test.cpp).
DIVERGENCE_SIMD_INLINE ei::Packet8d exp_avx512(const ei::Packet8d& x)
{
    const __m512d clamped = _mm512_min_pd(_mm512_set1_pd(800.0), x);  // NaN kept, +inf into range
    const __mmask8 normal = _mm512_cmp_pd_mask(clamped, _mm512_set1_pd(-708.3964185322641), _CMP_NLT_UQ);
    const __m512d m = _mm512_roundscale_pd(_mm512_mul_pd(clamped, _mm512_set1_pd(1.4426950408889634)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512d r = _mm512_fmadd_pd(m, _mm512_set1_pd(-1.9082149292705877e-10),
                                      _mm512_fmadd_pd(m, _mm512_set1_pd(-0.6931471803691238), clamped));
    // 1/k!, k = 13 .. 0, by Horner, written out: GCC -O2 kept a loop over an initializer list as a
    // loop (a counter and a branch per FMA, and no interleaving of independent exps).
    __m512d y = _mm512_set1_pd(1.0 / 6227020800.0);
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(1.0 / 479001600.0));
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(1.0 / 39916800.0));
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(1.0 / 3628800.0));
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(1.0 / 362880.0));
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(1.0 / 40320.0));
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(1.0 / 5040.0));
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(1.0 / 720.0));
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(1.0 / 120.0));
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(1.0 / 24.0));
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(1.0 / 6.0));
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(0.5));
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(1.0));
    y = _mm512_fmadd_pd(y, r, _mm512_set1_pd(1.0));
    return _mm512_maskz_scalef_pd(normal, y, m);
}
#endif

#if defined(EIGEN_VECTORIZE_AVX2) && defined(EIGEN_VECTORIZE_FMA) && !defined(EIGEN_VECTORIZE_AVX512)
/// exp of 8 floats with AVX2 + FMA, as exp_avx512 with a table of 2^(k/8) (one permute) and
/// |r| <= ln 2 / 16, e^r - 1 by its Taylor polynomial of degree 4 (truncation below 2e-9), and
/// 2^floor(m) built in the exponent field (AVX2 has no vscalefps): floor(m) is read from the same
/// FMA's encoding, so it needs no rounding instruction. Arguments are clamped at 88.376 as Eigen
/// does (the result is then 2.4e38, not inf; the kernels only call exp on arguments <= 0);
/// x < -87.3365 gives +0 (results below 2^-126), NaN stays NaN. 2-6x the throughput of Eigen's
/// AVX2 float exp on the machine measured (whose generic ldexp is slow).
/// Error: <= 2 ulp (0.91 measured over every float of [-87.34, 88.37]; tests/core/simd_test.cpp).
DIVERGENCE_SIMD_INLINE ei::Packet8f exp_avx2(const ei::Packet8f& x)
{
    // T[k] = 2^(k/8), rounded to float.
    const __m256 table = _mm256_setr_ps(1.0f, 1.09050773266525766f, 1.18920711500272107f, 1.29683955465100967f,
                                        1.41421356237309505f, 1.54221082540794082f, 1.68179283050742908f,
                                        1.83400808640934246f);
    const __m256 shifter = _mm256_set1_ps(1572864.0f);  // 1.5 * 2^20: float ulp 1/8
    // _mm256_min_ps(a, b) returns b when either is NaN: NaN is kept; the top is Eigen's clamp.
    const __m256 clamped = _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), x);
    const __m256 normal = _mm256_cmp_ps(clamped, _mm256_set1_ps(-87.3365478515625f), _CMP_NLT_UQ);
    const __m256 shifted = _mm256_fmadd_ps(clamped, _mm256_set1_ps(1.44269504088896341f), shifter);
    const __m256 m = _mm256_sub_ps(shifted, shifter);
    const __m256 r = _mm256_fmadd_ps(m, _mm256_set1_ps(2.12194440054690583e-4f),
                                     _mm256_fmadd_ps(m, _mm256_set1_ps(-0.693359375f), clamped));
    const __m256i bits = _mm256_castps_si256(shifted);
    const __m256 t = _mm256_permutevar8x32_ps(table, bits);  // index: low 3 bits
    __m256 em1 = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 24.0f), r, _mm256_set1_ps(1.0f / 6.0f));
    em1 = _mm256_fmadd_ps(em1, r, _mm256_set1_ps(0.5f));
    em1 = _mm256_fmadd_ps(em1, r, _mm256_set1_ps(1.0f));
    em1 = _mm256_mul_ps(em1, r);
    // 2^floor(m): bits >> 3 = (147 << 20) + 2^19 + floor(m); biased exponent floor(m) + 127 in [1, 254].
    const __m256i exponent = _mm256_sub_epi32(_mm256_srai_epi32(bits, 3), _mm256_set1_epi32((147 << 20) + (1 << 19) - 127));
    const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(exponent, 23));
    return _mm256_and_ps(normal, _mm256_mul_ps(_mm256_fmadd_ps(t, em1, t), scale));
}
#endif

#if defined(EIGEN_VECTORIZE_AVX2) && defined(EIGEN_VECTORIZE_FMA) && !defined(EIGEN_VECTORIZE_AVX512)
/// exp of 4 doubles with AVX2 + FMA, as exp_avx512's double version: m = round(x log2 e) by adding
/// 1.5 * 2^52 (whose ulp is 1: the sum's low bits are m), r = x - m ln 2 by two FMAs, e^r by its
/// Taylor polynomial of degree 13, 2^m built in the exponent field from the same sum's encoding
/// ((bits + 1023) << 52). Arguments are clamped at 709 (the result is then e^709 = 8.2e307, not
/// inf: 2^m must stay normal; the kernels call exp on arguments <= 0); x < -708.39 gives +0 (results
/// below 2^-1022); NaN stays NaN. About 2x the throughput of Eigen's AVX2 double exp, whose generic
/// ldexp and division are slow. Error: <= 2 ulp (tests/core/simd_test.cpp).
DIVERGENCE_SIMD_INLINE ei::Packet4d exp_avx2(const ei::Packet4d& x)
{
    // _mm256_min_pd(a, b) returns b when either is NaN: NaN is kept, +inf brought into range.
    const __m256d clamped = _mm256_min_pd(_mm256_set1_pd(709.0), x);
    const __m256d normal = _mm256_cmp_pd(clamped, _mm256_set1_pd(-708.3964185322641), _CMP_NLT_UQ);
    const __m256d shifter = _mm256_set1_pd(6755399441055744.0);  // 1.5 * 2^52
    const __m256d shifted = _mm256_fmadd_pd(clamped, _mm256_set1_pd(1.4426950408889634), shifter);
    const __m256d m = _mm256_sub_pd(shifted, shifter);  // exact
    const __m256d r = _mm256_fmadd_pd(m, _mm256_set1_pd(-1.9082149292705877e-10),
                                      _mm256_fmadd_pd(m, _mm256_set1_pd(-0.6931471803691238), clamped));
    __m256d y = _mm256_set1_pd(1.0 / 6227020800.0);  // 1/k!, k = 13 .. 0, by Horner
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 479001600.0));
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 39916800.0));
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 3628800.0));
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 362880.0));
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 40320.0));
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 5040.0));
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 720.0));
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 120.0));
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 24.0));
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0 / 6.0));
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(0.5));
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0));
    y = _mm256_fmadd_pd(y, r, _mm256_set1_pd(1.0));
    // The low 12 bits of the sum's encoding are m mod 2^12 (1.5 * 2^52 has none set): + 1023, << 52.
    const __m256i exponent = _mm256_slli_epi64(_mm256_add_epi64(_mm256_castpd_si256(shifted), _mm256_set1_epi64x(1023)), 52);
    return _mm256_and_pd(normal, _mm256_mul_pd(y, _mm256_castsi256_pd(exponent)));
}
#endif

template <class P>
DIVERGENCE_SIMD_INLINE DIVERGENCE_SIMD_FLATTEN P exp(const P& x)
{
#if defined(EIGEN_VECTORIZE_AVX512)
    if constexpr (std::is_same_v<P, ei::Packet16f> || std::is_same_v<P, ei::Packet8d>) return exp_avx512(x);
#elif defined(EIGEN_VECTORIZE_AVX2) && defined(EIGEN_VECTORIZE_FMA)
    if constexpr (std::is_same_v<P, ei::Packet8f> || std::is_same_v<P, ei::Packet4d>) return exp_avx2(x);
#endif
    if constexpr (lanes<P> > 1) {
        // Eigen clamps the argument from below (float: -88.72, double: -709.44) and returns
        // e^clamp > 0 there, even for -inf: flush to +0 below -87.34 (float: results below 2^-126,
        // as exp_avx512) and -709.43 (double), so that exp(-inf) = 0 exactly (kernels rely on it).
        // NaN lanes are left to Eigen.
        using S = scalar_of<P>;
        const P lowest = ei::pset1<P>(std::is_same_v<S, float> ? S(-87.3365478515625) : S(-709.43));
        return ei::pandnot(ei::pexp(x), ei::pcmp_lt(x, lowest));
    } else {
        return ei::pexp(x);
    }
}
template <class P> DIVERGENCE_SIMD_INLINE DIVERGENCE_SIMD_FLATTEN P log(const P& x) { return ei::plog(x); }
template <class P>
DIVERGENCE_SIMD_INLINE DIVERGENCE_SIMD_FLATTEN P log1p(const P& x)
{
    if constexpr (std::is_same_v<scalar_of<P>, double> && lanes<P> > 1) {
        return ei::generic_plog1p(x);  // Eigen 3.4 has no plog1p for double packets
    } else {
        return ei::plog1p(x);
    }
}

/// Lane mask a < b (all bits set where true).
template <class P> DIVERGENCE_SIMD_INLINE P less(const P& a, const P& b) { return ei::pcmp_lt(a, b); }
/// Lane mask a == b.
template <class P> DIVERGENCE_SIMD_INLINE P equal(const P& a, const P& b) { return ei::pcmp_eq(a, b); }
/// x where the mask is set, +0 elsewhere (also where x is NaN or infinite).
template <class P> DIVERGENCE_SIMD_INLINE P keep(const P& mask, const P& x) { return ei::pand(mask, x); }
/// a where the mask is set, b elsewhere.
template <class P> DIVERGENCE_SIMD_INLINE P select(const P& mask, const P& a, const P& b) { return ei::pselect(mask, a, b); }
/// True when some lane of the mask is set.
template <class P> DIVERGENCE_SIMD_INLINE bool any(const P& mask) { return ei::predux_any(mask); }

/// Mask of the first n lanes (0 <= n <= lanes<P>).
template <class P>
DIVERGENCE_SIMD_INLINE P first_lanes(Index n)
{
    using S = scalar_of<P>;
    alignas(64) S buffer[lanes<P>];
    S ones;
    std::memset(static_cast<void*>(&ones), 0xff, sizeof(S));
    for (int i = 0; i < lanes<P>; ++i) buffer[i] = i < n ? ones : S(0);
    return ei::ploadu<P>(buffer);
}

/// Horizontal reductions, in a fixed order (Eigen's tree), so the same lanes give the same bits.
template <class P> DIVERGENCE_SIMD_INLINE scalar_of<P> reduce_add(const P& x) { return ei::predux(x); }
template <class P> DIVERGENCE_SIMD_INLINE scalar_of<P> reduce_max(const P& x) { return ei::predux_max(x); }
template <class P> DIVERGENCE_SIMD_INLINE scalar_of<P> reduce_min(const P& x) { return ei::predux_min(x); }

// ---- float lanes in double precision -------------------------------------------------------
//
// Wide<P>: the packet(s) of doubles holding the lanes of P exactly. For double packets it is P
// itself; for float packets, `parts` double packets of half the width (or, without a vector
// conversion for the instruction set, `lanes` scalar doubles). split() converts exactly; join()
// rounds each lane back to the packet's scalar type.

template <class P, class = void>
struct Wide {  // generic: one double per lane
    using type = double;
    static constexpr int parts = lanes<P>;
    static DIVERGENCE_SIMD_INLINE void split(const P& x, type* out)
    {
        alignas(64) scalar_of<P> buffer[lanes<P>];
        ei::pstoreu(buffer, x);
        for (int i = 0; i < lanes<P>; ++i) out[i] = double(buffer[i]);
    }
    static DIVERGENCE_SIMD_INLINE P join(const type* parts)
    {
        alignas(64) scalar_of<P> buffer[lanes<P>];
        for (int i = 0; i < lanes<P>; ++i) buffer[i] = scalar_of<P>(parts[i]);
        return ei::ploadu<P>(buffer);
    }
};

template <class P>
struct Wide<P, std::enable_if_t<std::is_same_v<scalar_of<P>, double>>> {  // double: itself
    using type = P;
    static constexpr int parts = 1;
    static DIVERGENCE_SIMD_INLINE void split(const P& x, type* out) { out[0] = x; }
    static DIVERGENCE_SIMD_INLINE P join(const type* parts) { return parts[0]; }
};

/// Wide's interface without widening: a packet as one part of itself (for kernels that choose,
/// case by case, between lanes of the row's precision and double lanes).
template <class P>
struct Same {
    using type = P;
    static constexpr int parts = 1;
    static DIVERGENCE_SIMD_INLINE void split(const P& x, type* out) { out[0] = x; }
    static DIVERGENCE_SIMD_INLINE P join(const type* parts) { return parts[0]; }
};

// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
#if defined(EIGEN_VECTORIZE_AVX512)
template <>
struct Wide<ei::Packet16f> {
    using type = ei::Packet8d;
    static constexpr int parts = 2;
    static DIVERGENCE_SIMD_INLINE void split(const ei::Packet16f& x, type* out)
    {
        out[0] = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
        out[1] = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    }
    static DIVERGENCE_SIMD_INLINE ei::Packet16f join(const type* parts)
    {
        const __m512d low = _mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(parts[0])));
        return _mm512_castpd_ps(_mm512_insertf64x4(low, _mm256_castps_pd(_mm512_cvtpd_ps(parts[1])), 1));
    }
};
#endif
#if defined(EIGEN_VECTORIZE_AVX)
template <>
struct Wide<ei::Packet8f> {
    using type = ei::Packet4d;
    static constexpr int parts = 2;
    static DIVERGENCE_SIMD_INLINE void split(const ei::Packet8f& x, type* out)
    {
        out[0] = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
        out[1] = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    }
    static DIVERGENCE_SIMD_INLINE ei::Packet8f join(const type* parts)
    {
        return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(parts[0])), _mm256_cvtpd_ps(parts[1]), 1);
    }
};
#endif
#if defined(EIGEN_VECTORIZE_SSE2)
template <>
struct Wide<ei::Packet4f> {
    using type = ei::Packet2d;
    static constexpr int parts = 2;
    static DIVERGENCE_SIMD_INLINE void split(const ei::Packet4f& x, type* out)
    {
        out[0] = _mm_cvtps_pd(x);
        out[1] = _mm_cvtps_pd(_mm_movehl_ps(x, x));
    }
    static DIVERGENCE_SIMD_INLINE ei::Packet4f join(const type* parts) { return _mm_movelh_ps(_mm_cvtpd_ps(parts[0]), _mm_cvtpd_ps(parts[1])); }
};
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

template <class P>
using wide_t = typename Wide<P>::type;

/// to += x lane by lane in double: the lanes of x converted exactly to the packet(s) W =
/// wide_t<P> (x itself when W is P: double packets, or float lanes kept as they are).
template <class W, class P>
DIVERGENCE_SIMD_INLINE void add_wide(W& to, const P& x)
{
    if constexpr (std::is_same_v<W, P>) {
        to = add(to, x);
    } else {
        wide_t<P> parts[Wide<P>::parts];
        Wide<P>::split(x, parts);
        for (int i = 0; i < Wide<P>::parts; ++i) to = add(to, parts[i]);
    }
}

/// Sum of the lanes of x, computed in double (exact conversion, fixed order).
template <class P>
DIVERGENCE_SIMD_INLINE double reduce_add_double(const P& x)
{
    wide_t<P> parts[Wide<P>::parts];
    Wide<P>::split(x, parts);
    double total = 0.0;
    for (int i = 0; i < Wide<P>::parts; ++i) total += double(ei::predux(parts[i]));
    return total;
}

// ---- functions on restricted ranges --------------------------------------------------------
//
// Faster than the general functions above because the argument is known to lie in a small range
// (the caller guarantees it); accuracy as documented on each, tested in tests/core/simd_test.cpp.

/// log(1 + x) for x in [0, 1] (the softplus log(1 + exp(-|u|)) of the fused JSD kernel).
/// Float (packets and scalar): log(1 + x) = 2 atanh(w), w = x / (2 + x) in [0, 1/3], as
/// 2 w + w^3 R(w^2) with a degree-3 polynomial R fitted here (relative approximation error
/// below 5e-9); one division, no exponent split. Within 2 ulp of log1p on [0, 1] (measured: see the
/// test), relative accuracy kept for tiny x, f(0) = 0, NaN -> NaN. Outside [0, 1] it is not
/// accurate. Double: the general log1p above (<= 3 ulp).
template <class P>
DIVERGENCE_SIMD_INLINE DIVERGENCE_SIMD_FLATTEN P log1p_unit(const P& x)
{
    using S = scalar_of<P>;
    if constexpr (std::is_same_v<S, float>) {
        const P w = ei::pdiv(x, ei::padd(ei::pset1<P>(2.0f), x));
        const P z = ei::pmul(w, w);
        P r = ei::pset1<P>(0.28011997f);
        r = ei::pmadd(r, z, ei::pset1<P>(0.28001803f));
        r = ei::pmadd(r, z, ei::pset1<P>(0.40021527f));
        r = ei::pmadd(r, z, ei::pset1<P>(0.66666416f));
        // 2 w + w^3 R(z): the small correction added last, to the exact 2 w.
        return ei::pmadd(ei::pmul(w, z), r, ei::padd(w, w));
    } else {
        return log1p(x);
    }
}

/// out[i] = float(in[i]) for i < n: half (F16C / AVX-512 conversions) and bfloat16 (the 16 bits
/// shifted to a float's upper half) exactly, 8 or 16 at a time; anything else one by one.
template <class From>
DIVERGENCE_SIMD_INLINE void convert_to_float(const From* in, float* out, Index n)
{
    Index i = 0;
    if constexpr (std::is_same_v<From, Eigen::half>) {
#if defined(__AVX512F__)
        for (; i + 16 <= n; i += 16) {
            _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i))));
        }
#elif defined(__F16C__)
        for (; i + 8 <= n; i += 8) {
            _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
        }
#endif
    } else if constexpr (std::is_same_v<From, Eigen::bfloat16>) {
#if defined(__AVX512F__)
        for (; i + 16 <= n; i += 16) {
            const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)));
            _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
        }
#elif defined(__AVX2__)
        for (; i + 8 <= n; i += 8) {
            const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
            _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
        }
#endif
    }
    for (; i < n; ++i) out[i] = float(in[i]);
}

/// 2^m for packets `shifted` = m + 1.5 * 2^52 (m an integer in [-1022, 1023], held in the low bits
/// of the encoding): the biased exponent m + 1023 moved into the exponent field.
template <class V>
DIVERGENCE_SIMD_INLINE V power_of_two(const V& shifted)
{
#if defined(EIGEN_VECTORIZE_AVX512)
    if constexpr (std::is_same_v<V, ei::Packet8d>) {
        return _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_add_epi64(_mm512_castpd_si512(shifted), _mm512_set1_epi64(1023)), 52));
    }
#endif
#if defined(EIGEN_VECTORIZE_AVX2)
    if constexpr (std::is_same_v<V, ei::Packet4d>) {
        return _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_castpd_si256(shifted), _mm256_set1_epi64x(1023)), 52));
    }
#endif
#if defined(EIGEN_VECTORIZE_SSE2)
    if constexpr (std::is_same_v<V, ei::Packet2d>) {
        return _mm_castsi128_pd(_mm_slli_epi64(_mm_add_epi64(_mm_castpd_si128(shifted), _mm_set1_epi64x(1023)), 52));
    }
#endif
    (void)shifted;
    return V{};
}
template <class V>
inline constexpr bool has_power_of_two =
#if defined(EIGEN_VECTORIZE_AVX512)
    std::is_same_v<V, ei::Packet8d> ||
#endif
#if defined(EIGEN_VECTORIZE_AVX2)
    std::is_same_v<V, ei::Packet4d> ||
#endif
#if defined(EIGEN_VECTORIZE_SSE2)
    std::is_same_v<V, ei::Packet2d> ||
#endif
    false;

/// expm1(x) in double lanes (or a double), for x <= 709, with
/// the range reduction of exp: m = round(x / ln 2), r = x - m ln 2 (|r| <= ln 2 / 2, two FMAs
/// with ln 2 split), expm1(r) = r + r^2 R(r) with R the Taylor polynomial of (e^r - 1 - r) / r^2 to
/// degree 11 (truncation below 1e-17 relative), then expm1(x) = 2^m expm1(r) + (2^m - 1) by one FMA
/// (exact r's polynomial for |x| <= ln 2 / 2, where expm1's cancellation is; 2^m - 1 is exact for
/// m >= -53, and x < -40 gives -1, within rounding of e^x - 1). Where the packet type has no
/// exponent-field access, the polynomial for |x| < ln 2 / 2 and e^x - 1 elsewhere.
/// Error: <= 4 ulp on [-50, 700] (tests/core/simd_test.cpp, against long double).
template <class V>
DIVERGENCE_SIMD_INLINE V expm1(const V& x)
{
    const auto polynomial = [](const V& r) {
        V y = broadcast<V>(1.0 / 6227020800.0);  // 1/k!, k = 13 .. 2, by Horner
        constexpr double inverse_factorials[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                                                 1.0 / 40320.0,     1.0 / 5040.0,     1.0 / 720.0,     1.0 / 120.0,
                                                 1.0 / 24.0,        1.0 / 6.0,        0.5};
        for (double c : inverse_factorials) y = madd(y, r, broadcast<V>(c));
        return madd(mul(r, r), y, r);
    };
    if constexpr (has_power_of_two<V>) {
        const V clamped = max(min(x, broadcast<V>(709.0)), broadcast<V>(-40.0));
        const V shifter = broadcast<V>(6755399441055744.0);  // 1.5 * 2^52: its ulp is 1
        const V shifted = madd(clamped, broadcast<V>(1.4426950408889634), shifter);
        const V m = sub(shifted, shifter);  // exact
        const V r = madd(m, broadcast<V>(-1.9082149292705877e-10),
                               madd(m, broadcast<V>(-0.6931471803691238), clamped));
        const V t = power_of_two(shifted);
        return madd(t, polynomial(r), sub(t, broadcast<V>(1.0)));
    } else {
        const V magnitude = max(x, sub(broadcast<V>(0.0), x));
        const V small = less(magnitude, broadcast<V>(0.34657359027997264));  // ln 2 / 2
        return select(small, polynomial(x), sub(exp(x), broadcast<V>(1.0)));
    }
}

}  // namespace divergence::detail::simd

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif
