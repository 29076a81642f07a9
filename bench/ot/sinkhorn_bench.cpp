// Entropic OT: this library's log-domain Sinkhorn (ot::sinkhorn) against POT 0.8.2 (ot.sinkhorn, methods
// sinkhorn_log and sinkhorn), POT timed in the same run by bench/ot/pot_sinkhorn.py through popen.
//
// Problem (as pot_sinkhorn.py builds it, same distribution, not the same numbers: NumPy's PCG64 stream is not
// reproduced here): X (n x d) and Y (m x d) uniform in [0, 1)^d (std::mt19937_64, X drawn first), cost
// C_ij = ||x_i - y_j||^2 / max C (computed in double; the float32 variant is that matrix rounded to float),
// uniform weights 1/n and 1/m. Seed 1 on both sides.
//
// Benchmarks (names are parsed by bench/report --suite ot). Every benchmark runs once per process
// (Iterations(1)) and reports a manual time; bench/report repeats the process and takes medians.
//   ot/per_iteration/ours/<float32|float64>/n:<n>/d:<d>/eps:<eps>/threads:<t>
//       ot::sinkhorn(a, b, C, {epsilon, max_iterations = K, tolerance = 0}) with a dense cost; time =
//       wall time of one call / K (the median over at least 3 calls and at least OT_MIN_TIME seconds), the
//       definition pot_sinkhorn.py uses for POT. A call does K iterations (2 K log-sum-exp passes over C), one
//       more half pass (the stopping check) and one pass for the value, plus the copy of C (DenseCost stores
//       it once: both half-iterations read it by rows); counters: ms_per_iteration, exp_per_second
//       (2 n m K / call time), setup_ms (a call with max_iterations = 0: the copy, 3 half passes and the value's
//       pass), marginal_ms_per_iteration ((call - setup) / K), iterations (K), iterations_run (below K only
//       when the marginal error reached exactly 0: the times are then per iteration run), calls,
//       marginal_error (l1, both sides, of the last call).
//   ot/per_iteration/pot_<sinkhorn_log|sinkhorn>/float64/n:<n>/d:<d>/eps:<eps>/threads:<t>
//       POT's ms_per_iteration_median (3 repetitions inside the driver, float64), as the time; counters
//       ms_per_iteration, iterations (K asked), iterations_run (fewer: POT stopped itself, e.g. the scaling
//       method on numerical errors at small eps), finite (1 if the last plan was finite), marginal_error_b
//       (POT's ||P^T 1 - b||_2), setup_ms (ot.dist + scaling). Skipped (an error, never a number) when
//       /usr/bin/python3 or `import ot` is unavailable.
//   ot/to_tolerance/ours/float64/n:<n>/d:2/eps:<eps>/omega:<omega>/threads:1
//       time of one call to a marginal error (l1, ||P 1 - a||_1 + ||P^T 1 - b||_1) <= 1e-6 with epsilon
//       annealing (epsilon_start = 1 = max C, epsilon_factor = 0.5, see kAnnealingFactor) and over-relaxation
//       omega, at most kToleranceIterationCap iterations; counters: iterations, converged (1/0),
//       marginal_error, ms_per_iteration.
//   ot/online/ours/float64/n:20000/d:2/eps:0.01/threads:<t>
//       ot::sinkhorn(a, x, b, y, SquaredEuclidean{}) (costs computed on the fly, the points' cost scaled by
//       1 / max C as above), K = 3 iterations; counters: ms_per_iteration, exp_per_second,
//       peak_memory_increase_bytes (VmHWM after the call - VmRSS before it, the high-water mark being reset
//       through /proc/self/clear_refs after malloc_trim), dense_matrix_bytes (n m 8: what one double cost
//       matrix would take), memory_fraction_of_dense (their ratio), hwm_reset (1 if the reset worked).
//   ot/roofline/exp/<float64|float32>/threads:1, ot/roofline/read_bandwidth/float64/threads:1
//       the iteration's roofline, in the same run: core/simd.hpp's exp over an L1-resident block (double or
//       float lanes) and one thread's read bandwidth over 256 MB; counter best_rate (exps or bytes per second,
//       the best repetition within OT_MIN_TIME seconds).
#if __has_include(<divergence/ot/sinkhorn.hpp>)
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <divergence/ot/sinkhorn.hpp>

#include "support/subprocess.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

#ifndef DIVERGENCE_BENCH_POT_DRIVER
#define DIVERGENCE_BENCH_POT_DRIVER "bench/ot/pot_sinkhorn.py"
#endif

namespace bench::ot_sinkhorn {
namespace {

namespace ot = divergence::ot;
using subprocess::capture;
using subprocess::json_number;
using subprocess::json_string;
using subprocess::quoted;
using Clock = std::chrono::steady_clock;
using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr unsigned kSeed = 1;
// Epsilon annealing for the to-tolerance benchmarks: epsilon_k = max(eps, 1 * 0.5^k). Tried on n = 1024, d = 2,
// 1 thread, tolerance 1e-6 (iterations to converge, omega 1.0 / 1.5 / 1.8): factor 0.5: eps 1e-2 98 / 35 / 62,
// eps 1e-3 942 / 355 / 114; factor 0.7: 99 / 40 / 68, 896 / 346 / 119; factor 0.85: 107 / 53 / 77,
// 845 / 345 / 136; no annealing: 110 / - / 58, 1123 / - / 117. 0.5 was fastest (or within 3%) wherever
// over-relaxation is used (omega 1.0 at eps 1e-3: 0.85 took 10% fewer); eps 1e-4, omega 1.8: 1310 iterations.
constexpr double kAnnealingStart = 1.0;  // the cost's maximum
constexpr double kAnnealingFactor = 0.5;
constexpr double kTargetError = 1e-6;
constexpr divergence::Index kToleranceIterationCap = 2000;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void set_threads(int threads)
{
#if defined(_OPENMP)
    omp_set_num_threads(threads);
#endif
    (void)threads;
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Seconds a per-iteration benchmark of ours keeps calling the solver (at least 3 calls): OT_MIN_TIME or 0.2.
double min_time()
{
    const char* env = std::getenv("OT_MIN_TIME");
    const double t = env ? std::atof(env) : 0.2;
    return t > 0.0 ? t : 0.2;
}

std::string format_number(double x)
{
    std::ostringstream s;
    s << x;
    return s.str();
}

// ------------------------------------------------------------------------------------------ problems

struct Problem {
    RowMatrixD x, y;       ///< points
    double scale = 1.0;    ///< 1 / max C
    RowMatrixD cost;       ///< C / max C (empty for the online problem)
    RowMatrixF cost_float;
    Eigen::VectorXd a, b;  ///< uniform weights
};

void fill_points(Problem& p, int n, int m, int d)
{
    std::mt19937_64 rng(kSeed);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    p.x.resize(n, d);
    p.y.resize(m, d);
    for (divergence::Index i = 0; i < p.x.size(); ++i) p.x.data()[i] = uniform(rng);
    for (divergence::Index i = 0; i < p.y.size(); ++i) p.y.data()[i] = uniform(rng);
    p.a = Eigen::VectorXd::Constant(n, 1.0 / n);
    p.b = Eigen::VectorXd::Constant(m, 1.0 / m);
}

// Dense problems are built once per process and kept (the cost matrices are the benchmarks' input).
const Problem& dense_problem(int n, int d)
{
    static std::map<std::pair<int, int>, std::unique_ptr<Problem>> cache;
    auto& slot = cache[{n, d}];
    if (!slot) {
        slot = std::make_unique<Problem>();
        Problem& p = *slot;
        fill_points(p, n, n, d);
        p.cost.resize(n, n);
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) p.cost(i, j) = (p.x.row(i) - p.y.row(j)).squaredNorm();
        p.scale = 1.0 / p.cost.maxCoeff();
        p.cost *= p.scale;
        p.cost_float = p.cost.cast<float>();
    }
    return *slot;
}

// The online problem: points only; the points are scaled by sqrt(1 / max C) so that the squared Euclidean
// cost computed on the fly equals the dense problem's normalization. max C = the largest squared distance,
// found in O(n m) once (no matrix stored).
const Problem& online_problem(int n, int d)
{
    static std::map<std::pair<int, int>, std::unique_ptr<Problem>> cache;
    auto& slot = cache[{n, d}];
    if (!slot) {
        slot = std::make_unique<Problem>();
        Problem& p = *slot;
        fill_points(p, n, n, d);
        double max_cost = 0.0;
#if defined(_OPENMP)
#pragma omp parallel for reduction(max : max_cost)
#endif
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) max_cost = std::max(max_cost, (p.x.row(i) - p.y.row(j)).squaredNorm());
        p.scale = 1.0 / max_cost;
        p.x *= std::sqrt(p.scale);
        p.y *= std::sqrt(p.scale);
    }
    return *slot;
}

// ------------------------------------------------------------------------------------------ ours

// Iterations K of a per-iteration benchmark: enough for the iterations to dominate a call.
int ours_iterations(int n) { return n <= 256 ? 100 : n <= 1024 ? 50 : 20; }

template <class Matrix>
ot::SinkhornResult solve_dense(const Problem& p, const Matrix& cost, const ot::SinkhornOptions& o)
{
    auto solution = ot::sinkhorn(p.a, p.b, cost, o);
    return static_cast<ot::SinkhornResult&>(solution);
}

enum class Input { dense_float64, dense_float32, points_float64 };

void per_iteration_ours(benchmark::State& state, Input input, int n, int d, double eps, int threads)
{
    set_threads(threads);
    const Problem& p = dense_problem(n, d);
    const int k = ours_iterations(n);
    ot::SinkhornOptions o;
    o.epsilon = eps;
    o.tolerance = 0.0;
    // The same cost from the points: ||s x - s y||^2 = C / max C with s = sqrt(1 / max C).
    const RowMatrixD x = p.x * std::sqrt(p.scale), y = p.y * std::sqrt(p.scale);
    const auto call = [&](divergence::Index iterations) {
        o.max_iterations = iterations;
        if (input == Input::points_float64) {
            auto solution = ot::sinkhorn(p.a, x, p.b, y, ot::SquaredEuclidean{}, o);
            return static_cast<ot::SinkhornResult&>(solution);
        }
        return input == Input::dense_float32 ? solve_dense(p, p.cost_float, o) : solve_dense(p, p.cost, o);
    };
    for (auto _ : state) {
        // Warm-up and setup: max_iterations = 0 (the copies of C and of its transpose, one softmin pass and the
        // value's pass): the first call faults the copies' pages in, which later calls reuse from the heap.
        call(0);
        auto t0 = Clock::now();
        call(0);
        const double setup = seconds_since(t0);
        std::vector<double> times;
        ot::SinkhornResult last;
        const auto start = Clock::now();
        while (times.size() < 3 || seconds_since(start) < min_time()) {
            t0 = Clock::now();
            last = call(k);
            times.push_back(seconds_since(t0));
            benchmark::DoNotOptimize(last.value);
        }
        // Tolerance 0 still stops a solve whose marginal error is exactly 0 in double (n = 256, eps = 0.1 does,
        // after 38 iterations): the time is then per iteration run, as POT's driver counts it.
        const double run = double(last.iterations);
        if (!(run > 0)) {
            state.SkipWithError("the solver ran no iteration");
            return;
        }
        const double t = median(times);
        state.SetIterationTime(t / run);
        state.counters["ms_per_iteration"] = 1e3 * t / run;
        state.counters["exp_per_second"] = 2.0 * double(n) * double(n) * run / t;
        state.counters["setup_ms"] = 1e3 * setup;
        state.counters["marginal_ms_per_iteration"] = 1e3 * (t - setup) / run;
        state.counters["iterations"] = k;
        state.counters["iterations_run"] = run;
        state.counters["calls"] = double(times.size());
        state.counters["marginal_error"] = last.marginal_error_a + last.marginal_error_b;
    }
}

void to_tolerance_ours(benchmark::State& state, int n, int d, double eps, double omega, int threads)
{
    set_threads(threads);
    const Problem& p = dense_problem(n, d);
    ot::SinkhornOptions o;
    o.epsilon = eps;
    o.tolerance = kTargetError;
    o.norm = ot::MarginalNorm::l1;
    o.relaxation = omega;
    o.epsilon_start = kAnnealingStart;
    o.epsilon_factor = kAnnealingFactor;
    for (auto _ : state) {
        ot::SinkhornOptions warm = o;  // page the copies of C in (see per_iteration_ours)
        warm.max_iterations = 0;
        solve_dense(p, p.cost, warm);
        o.max_iterations = kToleranceIterationCap;
        const auto t0 = Clock::now();
        const ot::SinkhornResult r = solve_dense(p, p.cost, o);
        const double t = seconds_since(t0);
        benchmark::DoNotOptimize(r.value);
        state.SetIterationTime(t);
        state.counters["iterations"] = double(r.iterations);
        state.counters["converged"] = r.converged() ? 1.0 : 0.0;
        state.counters["marginal_error"] = r.marginal_error_a + r.marginal_error_b;
        state.counters["ms_per_iteration"] = r.iterations > 0 ? 1e3 * t / double(r.iterations) : 0.0;
        state.counters["iteration_cap"] = double(kToleranceIterationCap);
    }
}

// /proc/self/status field in bytes (VmHWM, VmRSS), or -1.
double status_bytes(const char* field)
{
    std::FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return -1.0;
    char line[256];
    double value = -1.0;
    const std::size_t len = std::strlen(field);
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
            value = 1024.0 * std::atof(line + len + 1);  // "VmHWM:   12345 kB"
            break;
        }
    }
    std::fclose(f);
    return value;
}

// Frees what the heap keeps (bench/main.cpp turns automatic trimming off) and resets the peak resident set
// to the current one (Linux >= 4.0: "5" > /proc/self/clear_refs). True if the reset worked.
bool reset_peak_memory()
{
    malloc_trim(0);
    std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    const bool ok = std::fputs("5", f) >= 0;
    return std::fclose(f) == 0 && ok;
}

void online_ours(benchmark::State& state, int n, int d, double eps, int threads)
{
    set_threads(threads);
    const Problem& p = online_problem(n, d);
    constexpr int k = 3;
    ot::SinkhornOptions o;
    o.epsilon = eps;
    o.tolerance = 0.0;
    o.max_iterations = k;
    for (auto _ : state) {
        const bool reset = reset_peak_memory();
        const double before = reset ? status_bytes("VmRSS") : status_bytes("VmHWM");
        const auto t0 = Clock::now();
        auto solution = ot::sinkhorn(p.a, p.x, p.b, p.y, ot::SquaredEuclidean{}, o);
        const double t = seconds_since(t0);
        const double after = status_bytes("VmHWM");
        benchmark::DoNotOptimize(solution.value);
        if (solution.iterations != k) {
            state.SkipWithError(("ran " + std::to_string(solution.iterations) + " iterations, not " + std::to_string(k)).c_str());
            return;
        }
        const double dense = double(n) * double(n) * 8.0;
        state.SetIterationTime(t / k);
        state.counters["ms_per_iteration"] = 1e3 * t / k;
        state.counters["exp_per_second"] = 2.0 * double(n) * double(n) * k / t;
        state.counters["iterations"] = k;
        state.counters["peak_memory_increase_bytes"] = std::max(0.0, after - before);
        state.counters["dense_matrix_bytes"] = dense;
        state.counters["memory_fraction_of_dense"] = std::max(0.0, after - before) / dense;
        state.counters["hwm_reset"] = reset ? 1.0 : 0.0;
        state.counters["marginal_error"] = solution.marginal_error_a + solution.marginal_error_b;
    }
}

// ------------------------------------------------------------------------------------------ POT

std::string python() { const char* env = std::getenv("DIVERGENCE_POT_PYTHON"); return env ? env : "/usr/bin/python3"; }
std::string driver() { const char* env = std::getenv("DIVERGENCE_POT_DRIVER"); return env ? env : DIVERGENCE_BENCH_POT_DRIVER; }

// "" when POT can be run, else why not (checked once per process).
const std::string& pot_unavailable()
{
    static const std::string why = [] {
        std::FILE* f = std::fopen(python().c_str(), "r");
        if (!f) return "POT peer skipped: " + python() + " not found";
        std::fclose(f);
        f = std::fopen(driver().c_str(), "r");
        if (!f) return "POT peer skipped: driver " + driver() + " not found";
        std::fclose(f);
        int status = 0;
        const std::string out = capture(quoted(python()) + " -c 'import numpy, ot; print(ot.__version__)' 2>&1", status);
        if (status != 0) {
            std::string message = out.substr(0, 200);
            std::replace(message.begin(), message.end(), '\n', ' ');
            return "POT peer skipped: `import ot` failed in " + python() + ": " + message;
        }
        return std::string();
    }();
    return why;
}

// POT's iterations per run: sinkhorn_log costs ~300 ms per iteration at n = 4096 here.
int pot_iterations(const std::string& method, int n)
{
    if (method == "sinkhorn_log") return n <= 256 ? 50 : n <= 1024 ? 20 : 5;
    return n <= 256 ? 100 : n <= 1024 ? 50 : 10;
}

void per_iteration_pot(benchmark::State& state, const std::string& method, int n, int d, double eps, int threads)
{
    if (!pot_unavailable().empty()) {
        state.SkipWithError(pot_unavailable().c_str());
        return;
    }
    const int k = pot_iterations(method, n);
    std::ostringstream command;
    command << quoted(python()) << " " << quoted(driver()) << " --n " << n << " --d " << d << " --eps " << eps
            << " --method " << method << " --iterations " << k << " --threads " << threads
            << " --repetitions 3 --seed " << kSeed << " --dtype float64 2>/dev/null";
    for (auto _ : state) {
        int status = 0;
        const std::string out = capture(command.str(), status);
        const double ms = json_number(out, "ms_per_iteration_median");
        if (status != 0 || !(ms > 0.0)) {
            std::string message = out.substr(0, 200);
            std::replace(message.begin(), message.end(), '\n', ' ');
            state.SkipWithError(("POT driver failed (exit status " + std::to_string(status) + "): " + message).c_str());
            return;
        }
        state.SetIterationTime(1e-3 * ms);
        state.counters["ms_per_iteration"] = ms;
        state.counters["iterations"] = k;
        state.counters["iterations_run"] = json_number(out, "iterations_run");
        state.counters["finite"] = json_number(out, "finite");
        state.counters["marginal_error_b"] = json_number(out, "marginal_error_b");
        state.counters["setup_ms"] = json_number(out, "setup_ms");
        state.SetLabel("POT " + json_string(out, "pot") + ", NumPy " + json_string(out, "numpy") + ", Python " +
                       json_string(out, "python"));
    }
}

// ------------------------------------------------------------------------------------------ registration

// ------------------------------------------------------------------------------------------ roofline

// The roofline of an iteration, measured in the same run: the throughput of core/simd.hpp's exp in the lanes
// the solver uses (an L1-resident block of fused_block arguments in [-10, 0], 8 independent sums, as the
// solver's passes), and the memory-read bandwidth of one thread (a sum over 256 MB, far past the caches).
// Each keeps the best of its repetitions over OT_MIN_TIME seconds: the machine's capability, which a shared
// machine only ever lowers (counter best_rate: exps or bytes per second).
// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
template <class S>
double exp_pass(const S* x, divergence::Index n)
{
    namespace simd = divergence::detail::simd;
    using P = simd::Packet<S>;
    constexpr divergence::Index w = simd::lanes<P>;
    P sum[8];
    for (auto& s : sum) s = simd::broadcast<P>(S(0));
    for (divergence::Index i = 0; i + 8 * w <= n; i += 8 * w)
        for (int q = 0; q < 8; ++q) sum[q] = simd::add(sum[q], simd::exp(simd::load<P>(x + i + q * w)));
    for (int q = 1; q < 8; ++q) sum[0] = simd::add(sum[0], sum[q]);
    return double(simd::reduce_add(sum[0]));
}

template <class S>
void roofline_exp(benchmark::State& state)
{
    set_threads(1);
    constexpr divergence::Index n = divergence::detail::fused_block, passes = 256;
    alignas(64) S x[n];
    for (divergence::Index i = 0; i < n; ++i) x[i] = S(-10.0 * double(i) / double(n));
    for (auto _ : state) {
        double best = 0.0;
        const auto start = Clock::now();
        while (seconds_since(start) < min_time()) {
            const auto t0 = Clock::now();
            double checksum = 0.0;
            for (int pass = 0; pass < passes; ++pass) {
                checksum += exp_pass(x, n);
                benchmark::DoNotOptimize(x);
            }
            benchmark::DoNotOptimize(checksum);
            best = std::max(best, double(n * passes) / seconds_since(t0));
        }
        state.SetIterationTime(double(n * passes) / best);
        state.counters["best_rate"] = best;
    }
}

void roofline_read_bandwidth(benchmark::State& state)
{
    namespace simd = divergence::detail::simd;
    using P = simd::Packet<double>;
    constexpr divergence::Index w = simd::lanes<P>;
    const std::vector<double> data(std::size_t(1) << 25, 1.0);  // 256 MB
    const divergence::Index n = divergence::Index(data.size());
    for (auto _ : state) {
        double best = 0.0;
        const auto start = Clock::now();
        while (seconds_since(start) < min_time() || best == 0.0) {
            const auto t0 = Clock::now();
            P sum[4];
            for (auto& s : sum) s = simd::broadcast<P>(0.0);
            for (divergence::Index i = 0; i + 4 * w <= n; i += 4 * w)
                for (int q = 0; q < 4; ++q) sum[q] = simd::add(sum[q], simd::load<P>(data.data() + i + q * w));
            benchmark::DoNotOptimize(simd::reduce_add(simd::add(simd::add(sum[0], sum[1]), simd::add(sum[2], sum[3]))));
            best = std::max(best, 8.0 * double(n) / seconds_since(t0));
        }
        state.SetIterationTime(8.0 * double(n) / best);
        state.counters["best_rate"] = best;
    }
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

benchmark::internal::Benchmark* once(benchmark::internal::Benchmark* b)
{
    return b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
}

std::string tail(int n, int d, double eps, int threads)
{
    return "n:" + std::to_string(n) + "/d:" + std::to_string(d) + "/eps:" + format_number(eps) +
           "/threads:" + std::to_string(threads);
}

const bool registered = [] {
    const std::vector<int> sizes = {256, 1024, 4096}, dims = {2, 16}, thread_counts = {1, 2};
    const std::vector<double> epsilons = {0.1, 0.01, 0.001};
    // Time per iteration: per configuration, ours (float64, float32) then POT (sinkhorn_log, sinkhorn) back to back.
    for (const int n : sizes)
        for (const int d : dims)
            for (const double eps : epsilons)
                for (const int threads : thread_counts) {
                    for (const Input input : {Input::dense_float64, Input::dense_float32, Input::points_float64}) {
                        const std::string impl = input == Input::points_float64 ? "ours_points/float64/"
                                                 : input == Input::dense_float32 ? "ours/float32/" : "ours/float64/";
                        const std::string name = "ot/per_iteration/" + impl + tail(n, d, eps, threads);
                        once(benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) {
                            per_iteration_ours(s, input, n, d, eps, threads);
                        }));
                    }
                    for (const std::string method : {"sinkhorn_log", "sinkhorn"}) {
                        const std::string name = "ot/per_iteration/pot_" + method + "/float64/" + tail(n, d, eps, threads);
                        once(benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) {
                            per_iteration_pot(s, method, n, d, eps, threads);
                        }));
                    }
                }
    // Time to a marginal error of 1e-6, annealed, over-relaxed; one thread.
    for (const int n : {1024, 4096})
        for (const double eps : {0.01, 0.001, 1e-4})
            for (const double omega : {1.0, 1.5, 1.8}) {
                const std::string name = "ot/to_tolerance/ours/float64/n:" + std::to_string(n) + "/d:2/eps:" + format_number(eps) +
                                         "/omega:" + format_number(omega) + "/threads:1";
                once(benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { to_tolerance_ours(s, n, 2, eps, omega, 1); }));
            }
    // The online solver: no cost matrix.
    once(benchmark::RegisterBenchmark("ot/roofline/exp/float64/threads:1", roofline_exp<double>));
    once(benchmark::RegisterBenchmark("ot/roofline/exp/float32/threads:1", roofline_exp<float>));
    once(benchmark::RegisterBenchmark("ot/roofline/read_bandwidth/float64/threads:1", roofline_read_bandwidth));
    for (const int threads : {1, 2}) {
        const std::string name = "ot/online/ours/float64/" + tail(20000, 2, 0.01, threads);
        once(benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { online_ours(s, 20000, 2, 0.01, threads); }));
    }
    return true;
}();

}  // namespace
}  // namespace bench::ot_sinkhorn

#endif
