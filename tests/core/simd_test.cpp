// core/simd.hpp: the vector path against the scalar path and against long-double values (ulp
// bounds over dense sweeps), edge behaviour, partial loads/stores, reductions, widening.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <limits>
#include <vector>

#include "divergence/core/simd.hpp"

namespace core_simd_test {  // the test binary is a unity build: each file keeps its names to itself

namespace simd = divergence::detail::simd;

// Packets are compiler vector types: their alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace {

/// Distance in units in the last place between two finite values of the same type.
template <class Scalar>
double ulp_distance(Scalar a, Scalar b)
{
    if (a == b) return 0.0;
    const long double spacing = std::nextafter(std::abs(b), std::numeric_limits<Scalar>::infinity()) - std::abs(b);
    return double(std::abs((long double)a - (long double)b) / spacing);
}

/// Applies f packet-wise (vector path) to xs.
template <class Scalar, class F>
std::vector<Scalar> vector_map(const std::vector<Scalar>& xs, F f)
{
    using P = simd::Packet<Scalar>;
    constexpr int w = simd::lanes<P>;
    std::vector<Scalar> out(xs.size());
    std::size_t i = 0;
    for (; i + w <= xs.size(); i += w) simd::store(out.data() + i, f(simd::load<P>(xs.data() + i)));
    if (i < xs.size()) {
        const auto n = divergence::Index(xs.size() - i);
        simd::store_partial(out.data() + i, f(simd::load_partial<P>(xs.data() + i, n, Scalar(0))), n);
    }
    return out;
}

/// Dense sweep of [lo, hi] with n points.
template <class Scalar>
std::vector<Scalar> sweep(double lo, double hi, int n)
{
    std::vector<Scalar> xs(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) xs[std::size_t(i)] = Scalar(lo + (hi - lo) * i / (n - 1));
    return xs;
}

template <class Scalar, class VectorF, class ScalarF, class Exact>
double max_ulp(const std::vector<Scalar>& xs, VectorF vf, ScalarF sf, Exact exact, double& scalar_vs_vector)
{
    const auto v = vector_map(xs, vf);
    double worst = 0.0;
    scalar_vs_vector = 0.0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        const Scalar reference = Scalar(exact((long double)xs[i]));
        if (!std::isfinite(reference) || std::abs(reference) < std::numeric_limits<Scalar>::min()) continue;
        worst = std::max(worst, ulp_distance(v[i], reference));
        scalar_vs_vector = std::max(scalar_vs_vector, ulp_distance(v[i], Scalar(sf(xs[i]))));
    }
    return worst;
}

}  // namespace

TEMPLATE_TEST_CASE("simd exp, log and log1p are within their documented ulp bounds (dense sweeps)", "[simd]", float, double)
{
    using P = simd::Packet<TestType>;
    const bool is_float = std::is_same_v<TestType, float>;
    double scalar_vs_vector = 0.0;
    // exp: the range the kernels use ([-87, 0] for float) and beyond.
    const auto exp_points = sweep<TestType>(is_float ? -87.0 : -708.0, is_float ? 88.0 : 709.0, 400001);
    const double exp_ulp = max_ulp(
        exp_points, [](const P& x) { return simd::exp(x); }, [](TestType x) { return simd::exp(x); },
        [](long double x) { return std::exp(x); }, scalar_vs_vector);
    CAPTURE(exp_ulp, scalar_vs_vector);
#if defined(EIGEN_VECTORIZE_AVX512)
    const double float_exp_bound = 2.0;  // exp_avx512
#elif defined(EIGEN_VECTORIZE_AVX2) && defined(EIGEN_VECTORIZE_FMA)
    const double float_exp_bound = 2.0;  // exp_avx2
#else
    const double float_exp_bound = 5.0;  // Eigen's pexp
#endif
    CHECK(exp_ulp <= (is_float ? float_exp_bound : 2.0));
    CHECK(scalar_vs_vector <= (is_float ? float_exp_bound : 2.0));

    const auto log_points = sweep<TestType>(1e-6, 1e6, 200001);
    auto log_points_small = sweep<TestType>(1e-30, 1e-3, 100001);
    const double log_ulp = max_ulp(
        log_points, [](const P& x) { return simd::log(x); }, [](TestType x) { return simd::log(x); },
        [](long double x) { return std::log(x); }, scalar_vs_vector);
    const double log_ulp_small = max_ulp(
        log_points_small, [](const P& x) { return simd::log(x); }, [](TestType x) { return simd::log(x); },
        [](long double x) { return std::log(x); }, scalar_vs_vector);
    CAPTURE(log_ulp, log_ulp_small);
    CHECK(log_ulp <= 2.0);
    CHECK(log_ulp_small <= 2.0);

    const auto log1p_points = sweep<TestType>(-0.999, 100.0, 200001);
    const double log1p_ulp = max_ulp(
        log1p_points, [](const P& x) { return simd::log1p(x); }, [](TestType x) { return simd::log1p(x); },
        [](long double x) { return std::log1p(x); }, scalar_vs_vector);
    CAPTURE(log1p_ulp);
    CHECK(log1p_ulp <= 3.0);
}

TEMPLATE_TEST_CASE("simd exp and log edge behaviour: exp(-inf) = 0, underflow to 0, log(0) = -inf", "[simd]", float, double)
{
    using P = simd::Packet<TestType>;
    constexpr TestType inf = std::numeric_limits<TestType>::infinity();
    const std::vector<TestType> xs = {-inf, TestType(-1e4), TestType(-800), TestType(-104), TestType(-90), TestType(0)};
    const auto e = vector_map(xs, [](const P& x) { return simd::exp(x); });
    CHECK(e[0] == 0);
    CHECK(e[1] == 0);
    CHECK(e[2] == 0);
    if (std::is_same_v<TestType, float>) CHECK(e[3] <= std::numeric_limits<float>::min());  // 0 or subnormal
    CHECK(e[5] == 1);
    for (TestType v : e) CHECK(v >= 0);
#if defined(EIGEN_VECTORIZE_AVX512)
    if (std::is_same_v<TestType, float>) {  // exp_avx512 at the top of the range and on NaN
        const std::vector<TestType> big = {TestType(88.72), TestType(88.73), TestType(100), inf,
                                           std::numeric_limits<TestType>::quiet_NaN(), TestType(-87.3)};
        const auto b = vector_map(big, [](const P& x) { return simd::exp(x); });
        CHECK(b[0] == Approx(std::exp(double(big[0]))).epsilon(3e-7));
        CHECK(b[1] == inf);
        CHECK(b[2] == inf);
        CHECK(b[3] == inf);
        CHECK(std::isnan(b[4]));
        CHECK(b[5] == Approx(std::exp(double(big[5]))).epsilon(3e-7));
    }
#elif defined(EIGEN_VECTORIZE_AVX2) && defined(EIGEN_VECTORIZE_FMA)
    if (std::is_same_v<TestType, float>) {  // exp_avx2 clamps at 88.376 as Eigen does; NaN stays NaN
        const std::vector<TestType> big = {TestType(88.37), TestType(88.73), inf, std::numeric_limits<TestType>::quiet_NaN(),
                                           TestType(-87.3)};
        const auto b = vector_map(big, [](const P& x) { return simd::exp(x); });
        CHECK(b[0] == Approx(std::exp(double(big[0]))).epsilon(3e-7));
        CHECK(b[1] == Approx(std::exp(double(88.3762626647949f))).epsilon(3e-7));
        CHECK(b[2] == b[1]);
        CHECK(std::isnan(b[3]));
        CHECK(b[4] == Approx(std::exp(double(big[4]))).epsilon(3e-7));
    } else {  // exp_avx2 (double) clamps at 709; NaN stays NaN
        const std::vector<TestType> big = {TestType(708.9), TestType(709.5), inf, std::numeric_limits<TestType>::quiet_NaN(),
                                           TestType(-708.3)};
        const auto b = vector_map(big, [](const P& x) { return simd::exp(x); });
        CHECK(b[0] == Approx(std::exp(double(big[0]))).epsilon(1e-15));
        CHECK(b[1] == Approx(std::exp(709.0)).epsilon(1e-15));
        CHECK(b[2] == b[1]);
        CHECK(std::isnan(b[3]));
        CHECK(b[4] == Approx(std::exp(double(big[4]))).epsilon(1e-15));
    }
#endif
    const std::vector<TestType> ys = {TestType(0), inf, TestType(1)};
    const auto l = vector_map(ys, [](const P& x) { return simd::log(x); });
    CHECK(l[0] == -inf);
    CHECK(l[1] == inf);
    CHECK(l[2] == 0);
}

TEMPLATE_TEST_CASE("simd partial loads and stores touch only n entries and reductions are exact on small integers",
                   "[simd]", float, double)
{
    using P = simd::Packet<TestType>;
    constexpr int w = simd::lanes<P>;
    std::vector<TestType> in(static_cast<std::size_t>(w)), out(static_cast<std::size_t>(w) + 1, TestType(-1));
    for (int i = 0; i < w; ++i) in[std::size_t(i)] = TestType(i + 1);
    for (int n = 1; n < w; ++n) {
        const P x = simd::load_partial<P>(in.data(), n, TestType(100));
        CHECK(simd::reduce_add(x) == TestType(n * (n + 1) / 2 + 100 * (w - n)));
        CHECK(simd::reduce_max(x) == TestType(100));
        CHECK(simd::reduce_min(x) == TestType(1));
        std::fill(out.begin(), out.end(), TestType(-1));
        simd::store_partial(out.data(), x, n);
        for (int i = 0; i < w + 1; ++i) CHECK(out[std::size_t(i)] == (i < n ? TestType(i + 1) : TestType(-1)));
        const P masked = simd::keep(simd::first_lanes<P>(n), simd::broadcast<P>(std::numeric_limits<TestType>::infinity()));
        CHECK(simd::reduce_max(masked) == std::numeric_limits<TestType>::infinity());
        CHECK(simd::reduce_min(masked) == 0);
    }
    // Widening is exact and joining back rounds to the same values.
    std::vector<TestType> odd(static_cast<std::size_t>(w));
    for (int i = 0; i < w; ++i) odd[std::size_t(i)] = TestType(1) / TestType(3 + i);
    const P x = simd::load<P>(odd.data());
    double expected = 0.0;
    for (TestType v : odd) expected += double(v);
    CHECK(simd::reduce_add_double(x) == Approx(expected).epsilon(1e-15));
    simd::wide_t<P> parts[simd::Wide<P>::parts];
    simd::Wide<P>::split(x, parts);
    std::vector<TestType> back(static_cast<std::size_t>(w));
    simd::store(back.data(), simd::Wide<P>::join(parts));
    CHECK(back == odd);
}

TEMPLATE_TEST_CASE("the scalar path has the same interface as the vector path", "[simd]", float, double)
{
    const TestType x = TestType(0.75);
    CHECK(simd::lanes<TestType> == 1);
    CHECK(simd::exp(x) == std::exp(x));
    CHECK(simd::log(x) == std::log(x));
    CHECK(simd::reduce_add(x) == x);
    CHECK(simd::madd(x, x, x) == Approx(x * x + x));
    CHECK(simd::reduce_add_double(x) == double(x));
}

TEMPLATE_TEST_CASE("simd log1p_unit is within 2 ulp (float) / 3 ulp (double) of log1p on [0, 1] (dense sweeps)", "[simd]",
                   float, double)
{
    using P = simd::Packet<TestType>;
    const bool is_float = std::is_same_v<TestType, float>;
    double scalar_vs_vector = 0.0;
    const auto vf = [](const P& x) { return simd::log1p_unit(x); };
    const auto sf = [](TestType x) { return simd::log1p_unit(x); };
    const auto exact = [](long double x) { return std::log1p(x); };
    // [0, 1] densely, and tiny arguments (where the result must keep its relative accuracy).
    const double ulp = max_ulp(sweep<TestType>(0.0, 1.0, 1000001), vf, sf, exact, scalar_vs_vector);
    double scalar_vs_vector_small = 0.0;
    std::vector<TestType> small(100001);
    for (std::size_t i = 0; i < small.size(); ++i) small[i] = TestType(std::pow(10.0, -30.0 + 27.0 * double(i) / 100000.0));
    const double ulp_small = max_ulp(small, vf, sf, exact, scalar_vs_vector_small);
    CAPTURE(ulp, ulp_small, scalar_vs_vector, scalar_vs_vector_small);
    CHECK(ulp <= (is_float ? 2.0 : 3.0));
    CHECK(ulp_small <= (is_float ? 2.0 : 3.0));
    // Float: the same polynomial on both paths. Double: Eigen's log1p against std::log1p.
    CHECK(scalar_vs_vector <= (is_float ? 1.0 : 4.0));
    CHECK(scalar_vs_vector_small <= (is_float ? 1.0 : 4.0));
    // Exact at 0 (the kernel's exp(-|u|) underflows to 0 for |u| large), 1 gives log 2.
    const TestType edges[] = {TestType(0), TestType(1)};
    const auto out = vector_map(std::vector<TestType>(std::begin(edges), std::end(edges)), vf);
    CHECK(out[0] == TestType(0));
    CHECK(simd::log1p_unit(TestType(0)) == TestType(0));
    CHECK(ulp_distance(out[1], TestType(std::log1p(1.0L))) <= (is_float ? 2.0 : 3.0));
}

TEMPLATE_TEST_CASE("simd sqrt is correctly rounded (equals std::sqrt), also at 0 and +inf", "[simd]", float, double)
{
    using P = simd::Packet<TestType>;
    std::vector<TestType> xs = sweep<TestType>(0.0, 4.0, 100003);
    const auto wide = sweep<TestType>(1e-30, 1e30, 100003);
    xs.insert(xs.end(), wide.begin(), wide.end());
    xs.push_back(std::numeric_limits<TestType>::infinity());
    xs.push_back(std::numeric_limits<TestType>::min());
    const auto v = vector_map(xs, [](const P& x) { return simd::sqrt(x); });
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) mismatches += v[i] == std::sqrt(xs[i]) ? 0 : 1;
    CHECK(mismatches == 0);
    CHECK(v.back() == std::sqrt(std::numeric_limits<TestType>::min()));
    CHECK(v[v.size() - 2] == std::numeric_limits<TestType>::infinity());
    CHECK(simd::sqrt(TestType(2)) == std::sqrt(TestType(2)));
}

TEST_CASE("instruction_set names the vector code the compiler flags selected", "[simd]")
{
    // The compiler's own macros, independent of Eigen's choice of packets.
    const std::string name = divergence::instruction_set();
#if defined(__AVX512F__)
    CHECK(name == "AVX-512");
#elif defined(__AVX2__) && defined(__FMA__)
    CHECK(name == "AVX2+FMA");
#elif defined(__x86_64__)
    CHECK(name == "SSE");
#else
    CHECK(!name.empty());
#endif
}

TEST_CASE("simd::expm1 in double lanes is within 4 ulp of long double expm1 on [-50, 700], densely near 0 and ln 2 / 2", "[simd]")
{
    using W = simd::Packet<double>;
    constexpr int width = simd::lanes<W>;
    std::vector<double> xs;
    for (int k = -200000; k <= 200000; ++k) xs.push_back(k * 1e-5);  // [-2, 2]: m = 0, +-1, +-2
    for (int k = 1; k <= 2000; ++k) xs.push_back(0.34657359027997264 * (1.0 + (k - 1000) * 1e-12));  // around ln 2 / 2
    for (int k = 0; k <= 7500; ++k) xs.push_back(-50.0 + k * 0.1);  // to 700
    for (double tiny : {1e-300, 1e-20, 1e-17, 3e-9}) {
        xs.push_back(tiny);
        xs.push_back(-tiny);
    }
    while (xs.size() % width != 0) xs.push_back(0.0);
    double worst = 0;
    for (std::size_t i = 0; i < xs.size(); i += width) {
        alignas(64) double out[width];
        simd::store(out, simd::expm1(simd::load<W>(xs.data() + i)));
        for (int k = 0; k < width; ++k) {
            const long double exact = std::expm1((long double)xs[i + k]);
            const double error = exact == 0 ? std::abs(out[k]) : double(std::abs((out[k] - exact) / exact));
            worst = std::max(worst, error);
        }
    }
    CHECK(worst <= 4 * std::numeric_limits<double>::epsilon());
}

}  // namespace core_simd_test
