// Roofline probes, measured in the same run as the kernels: memory-read bandwidth (a sum over an
// array larger than the last-level cache, and over each shape's input size for the cache-aware
// bound) and the throughput of the vectorized transcendental functions the kernels need (Eigen's
// packet exp / log / sqrt over an L1-resident array, each thread its own array).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "support/bench.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

// The library's own SIMD layer, when present: the exp and log its kernels call are what bound them.
#if __has_include(<divergence/core/simd.hpp>)
#include <divergence/core/simd.hpp>
#define DIVERGENCE_BENCH_LIBRARY_SIMD 1
#endif

namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

// Twice the last-level cache the system reports, and at least 1 GiB: every read comes from DRAM.
std::size_t dram_probe_bytes()
{
    long l3 = 0;
#if defined(_SC_LEVEL3_CACHE_SIZE)
    l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    return std::max<std::size_t>(std::size_t(1) << 30, 2 * std::size_t(std::max(l3, 0L)));
}

// One buffer for every bandwidth probe (a prefix of it for the smaller working sets).
const float* probe_buffer(std::size_t floats)
{
    static std::vector<float> buffer;
    if (buffer.size() < floats) {
        buffer.clear();
        buffer.shrink_to_fit();
        buffer.assign(std::max(floats, dram_probe_bytes() / sizeof(float)), 1.0f);
    }
    return buffer.data();
}

int team_size(int threads)
{
#if defined(_OPENMP)
    return threads;
#else
    (void)threads;
    return 1;
#endif
}

double parallel_sum(const float* data, Index n, int threads)
{
    double total = 0.0;
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        const Index team = omp_get_num_threads(), me = omp_get_thread_num();
        const Index begin = n * me / team, end = n * (me + 1) / team;
        total += double(Eigen::Map<const Eigen::ArrayXf>(data + begin, end - begin).sum());
    }
#else
    (void)threads;
    total = double(Eigen::Map<const Eigen::ArrayXf>(data, n).sum());
#endif
    return total;
}

enum class Function { exp, log, sqrt };

#if defined(DIVERGENCE_BENCH_LIBRARY_SIMD)
// Packet types carry vector attributes that template arguments drop (harmless: GCC's note).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
const char* const transcendental_source = "divergence::detail::simd (core/simd.hpp) exp/log/sqrt";

// sum_i f(x_i) over packets with four independent accumulators (the function, not the adds, limits).
template <Function function>
float packet_sum(const float* x, Index n)
{
    namespace simd = divergence::detail::simd;
    using P = simd::Packet<float>;
    constexpr Index w = simd::lanes<P>;
    const auto f = [](const P& v) {
        if constexpr (function == Function::exp) return simd::exp(v);
        if constexpr (function == Function::log) return simd::log(v);
        if constexpr (function == Function::sqrt) return simd::sqrt(v);
    };
    P a0 = simd::broadcast<P>(0.0f), a1 = a0, a2 = a0, a3 = a0;
    Index i = 0;
    for (; i + 4 * w <= n; i += 4 * w) {
        a0 = simd::add(a0, f(simd::load<P>(x + i)));
        a1 = simd::add(a1, f(simd::load<P>(x + i + w)));
        a2 = simd::add(a2, f(simd::load<P>(x + i + 2 * w)));
        a3 = simd::add(a3, f(simd::load<P>(x + i + 3 * w)));
    }
    return simd::reduce_add(simd::add(simd::add(a0, a1), simd::add(a2, a3)));  // n is a multiple of 4 w
}

float function_sum(Function function, const Eigen::ArrayXf& x)
{
    switch (function) {
    case Function::exp: return packet_sum<Function::exp>(x.data(), x.size());
    case Function::log: return packet_sum<Function::log>(x.data(), x.size());
    default: return packet_sum<Function::sqrt>(x.data(), x.size());
    }
}
#else
const char* const transcendental_source = "Eigen 3.4 array exp/log/sqrt (packet math)";

float function_sum(Function function, const Eigen::ArrayXf& x)
{
    switch (function) {
    case Function::exp: return x.exp().sum();
    case Function::log: return x.log().sum();
    default: return x.sqrt().sum();
    }
}
#endif

constexpr Index l1_floats = 4096;  // 16 KiB per thread: stays in L1
constexpr int passes = 64;         // passes over it per iteration and thread

// Evaluates the function over each thread's L1-resident array `passes` times; returns a checksum.
double transcendental_work(Function function, int threads)
{
    double total = 0.0;
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads) reduction(+ : total)
#endif
    {
        // exp over [-10, 0] (softmax arguments), log and sqrt over [0.01, 1] (probabilities).
        Eigen::ArrayXf x = Eigen::ArrayXf::LinSpaced(l1_floats, 0.01f, 1.0f);
        if (function == Function::exp) x = -10.0f * x;
        float acc = 0.0f;
        for (int pass = 0; pass < passes; ++pass) {
            acc += function_sum(function, x);
            benchmark::DoNotOptimize(x.data());
        }
        total += double(acc);
    }
    (void)threads;
    return total;
}

double measure_bandwidth_once(int threads, std::size_t bytes, double min_seconds)
{
    const Index n = Index(bytes / sizeof(float));
    const float* data = probe_buffer(std::size_t(n));
    benchmark::DoNotOptimize(parallel_sum(data, n, threads));  // warm: caches hold what fits
    double best = 0.0;
    const auto stop = Clock::now() + std::chrono::duration<double>(min_seconds);
    do {
        const auto start = Clock::now();
        benchmark::DoNotOptimize(parallel_sum(data, n, threads));
        best = std::max(best, double(bytes) / std::chrono::duration<double>(Clock::now() - start).count());
    } while (Clock::now() < stop);
    return best;
}

double measure_function_once(Function function, int threads, double min_seconds)
{
    double best = 0.0;
    const auto stop = Clock::now() + std::chrono::duration<double>(min_seconds);
    do {
        const auto start = Clock::now();
        benchmark::DoNotOptimize(transcendental_work(function, threads));
        const double items = double(team_size(threads)) * passes * l1_floats;
        best = std::max(best, items / std::chrono::duration<double>(Clock::now() - start).count());
    } while (Clock::now() < stop);
    return best;
}

// The probes keep the best iteration's rate (counter best_rate): the machine's capability, which
// a shared, noisy machine only ever lowers. The roofline bound uses it (the median over
// repetitions), so the bound is as tight as the machine allows and fractions stay conservative.
void probe_bandwidth(benchmark::State& state, int threads, std::size_t bytes, bool dram)
{
    const Index n = Index(bytes / sizeof(float));
    const float* data = probe_buffer(std::size_t(n));
    benchmark::DoNotOptimize(parallel_sum(data, n, threads));
    double best = 0.0;
    for (auto _ : state) {
        const auto start = Clock::now();
        benchmark::DoNotOptimize(parallel_sum(data, n, threads));
        best = std::max(best, double(bytes) / std::chrono::duration<double>(Clock::now() - start).count());
    }
    state.SetBytesProcessed(int64_t(bytes) * int64_t(state.iterations()));
    state.counters["best_rate"] = best;
    if (dram) {
        record_rate(threads, &Rates::read_bandwidth, best);
    } else {
        record_bandwidth_at(threads, double(bytes), best);
    }
}

void probe_function(benchmark::State& state, Function function, int threads)
{
    const double items = double(team_size(threads)) * passes * l1_floats;
    double best = 0.0;
    for (auto _ : state) {
        const auto start = Clock::now();
        benchmark::DoNotOptimize(transcendental_work(function, threads));
        best = std::max(best, items / std::chrono::duration<double>(Clock::now() - start).count());
    }
    state.SetItemsProcessed(int64_t(items * double(state.iterations())));
    state.counters["best_rate"] = best;
    double Rates::*field = function == Function::exp ? &Rates::exp_rate
                           : function == Function::log ? &Rates::log_rate
                                                       : &Rates::sqrt_rate;
    record_rate(threads, field, best);
}

}  // namespace

/// Bytes of input of a shape (teacher and student logits): the working set of the cache-aware bound.
double input_bytes(const Shape& shape) { return 2.0 * double(shape.elements()) * sizeof(float); }

Rates measure_rates(int threads)
{
    Rates r;
    r.read_bandwidth = measure_bandwidth_once(threads, dram_probe_bytes(), 0.3);
    r.exp_rate = measure_function_once(Function::exp, threads, 0.1);
    r.log_rate = measure_function_once(Function::log, threads, 0.1);
    r.sqrt_rate = measure_function_once(Function::sqrt, threads, 0.1);
    return r;
}

double measure_read_bandwidth(int threads, double bytes)
{
    return measure_bandwidth_once(threads, std::size_t(bytes), 0.2);
}

void register_roofline_benchmarks(const std::vector<int>& thread_counts)
{
    benchmark::AddCustomContext("roofline_transcendentals", transcendental_source);
    benchmark::AddCustomContext("roofline_dram_probe_bytes", std::to_string(dram_probe_bytes()));
    for (int threads : thread_counts) {
        const std::string suffix = "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(("roofline/read_bandwidth/dram" + suffix).c_str(),
                                     [threads](benchmark::State& s) { probe_bandwidth(s, threads, dram_probe_bytes(), true); })
            ->MinTime(0.5)  // several passes over the array whatever --benchmark_min_time says: best of them
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
        for (const Shape& shape : shapes()) {
            const auto bytes = std::size_t(input_bytes(shape));
            benchmark::RegisterBenchmark(("roofline/read_bandwidth/" + shape.name() + suffix).c_str(),
                                         [threads, bytes](benchmark::State& s) { probe_bandwidth(s, threads, bytes, false); })
                ->MinTime(0.2)
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
        }
        const std::pair<const char*, Function> functions[] = {
            {"exp", Function::exp}, {"log", Function::log}, {"sqrt", Function::sqrt}};
        for (const auto& [name, function] : functions) {
            const Function f = function;
            benchmark::RegisterBenchmark(("roofline/" + std::string(name) + suffix).c_str(),
                                         [f, threads](benchmark::State& s) { probe_function(s, f, threads); })
                ->MinTime(0.2)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
        }
    }
}

}  // namespace bench
