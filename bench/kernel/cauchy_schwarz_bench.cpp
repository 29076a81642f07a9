// The Parzen Cauchy-Schwarz divergence between samples: this library's kernel::cauchy_schwarz against NumPy and
// PyTorch implementations of the same formula (bench/kernel/cs_peers.py, run through popen in the same process).
//
// Problem: X (n x d) ~ N(0, I), Y (n x d) ~ N(0.5, I), std::mt19937_64 seed 1, written once per (n, d) to a
// temporary float64 file that the peers read, so all three see the same points (float32: the same numbers
// rounded). Parzen width sigma = sqrt(d) (kernel width h = sigma sqrt(2)), CsScale::single:
// D = (1/2) log A + (1/2) log B - log S, every sum a log-sum-exp. n = m in {1000, 4000}, d in {1, 16}.
//
// Benchmarks (each runs once per process, Iterations(1), manual time):
//   kernel/cs/<ours|numpy|torch>/<value|grad>/<float64|float32>/n:<n>/d:<d>/threads:1
//   ours: kernel::cauchy_schwarz(x, y, {Bandwidth::fixed(sigma), gradients = mode == grad}), one untimed
//         warm-up call, then the median of 3 calls (wall clock);
//   numpy / torch: the driver's median of 3 calls after one warm-up (numpy: gradient written out; torch:
//         autograd, X and Y leaves), 1 thread (torch.set_num_threads, OMP_NUM_THREADS).
// Counters: ms (the median), pairs_per_second ((n^2 + n m + m^2) / time: the kernel evaluations of the three
// sums), value_gap and grad_gap (peers: |D_peer - D_ours| / |D_ours| and max |g_peer - g_ours| / max |g_ours|
// of the check), speedup_vs_numpy and speedup_vs_torch on ours' rows are left to the report (bench/kernel/report.py).
//
// Exp roofline: kernel/exp_roofline/<float|double>/threads:1 measures the throughput of the SIMD layer's exp
// (divergence::detail::simd::exp, core/simd.hpp) in float and double lanes, the way bench/core/roofline_bench.cpp's
// roofline/exp probe does for float (an L1-resident array of arguments in [-10, 0], four independent sums, 64
// passes per iteration; counter exp_per_second: the best iteration's rate). The report divides each row's
// exponentials (exps_per_call: n m once or twice for S, n (n + 1) / 2 + m (m + 1) / 2 - the diagonals taken
// in whole 32 x 32 tiles - for A and B) by it: the time the exponentials alone would take.
//
// Check before timing: the first benchmark of a configuration (n, d, dtype) runs ours with gradients and both
// peers in grad mode once, and compares values and gradients (tolerance 1e-9 relative in float64, 2e-3 in
// float32); a configuration that fails reports an error for every implementation, never a time.
// Environment: DIVERGENCE_KERNEL_PYTHON (default /usr/bin/python3), DIVERGENCE_KERNEL_PEERS (the driver; default
// cs_peers.py beside this file, from __FILE__).
#if __has_include(<divergence/kernel/cauchy_schwarz.hpp>)
#include <benchmark/benchmark.h>

#include <unistd.h>

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

#include <divergence/kernel/cauchy_schwarz.hpp>

#include "support/subprocess.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace bench::kernel_cs {
namespace {

namespace kernel = divergence::kernel;
using subprocess::capture;
using subprocess::json_number;
using subprocess::json_string;
using subprocess::quoted;
using Clock = std::chrono::steady_clock;
using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

enum class Mode { value, grad };
enum class Precision { float64, float32 };
const char* mode_name(Mode m) { return m == Mode::value ? "value" : "grad"; }
const char* precision_name(Precision p) { return p == Precision::float64 ? "float64" : "float32"; }

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void set_threads(int threads)
{
#if defined(_OPENMP)
    omp_set_num_threads(threads);
#endif
    (void)threads;
}

double sigma_for(int d) { return std::sqrt(double(d)); }

// ------------------------------------------------------------------------------------------ problem

struct Problem {
    RowMatrixD x, y;
    RowMatrixF xf, yf;
    std::string file;  ///< X then Y, row-major float64, for the peers
    ~Problem()
    {
        if (!file.empty()) std::remove(file.c_str());
    }
};

const Problem& problem(int n, int d)
{
    static std::map<std::pair<int, int>, std::unique_ptr<Problem>> cache;
    auto& slot = cache[{n, d}];
    if (!slot) {
        slot = std::make_unique<Problem>();
        Problem& p = *slot;
        std::mt19937_64 rng(1);
        std::normal_distribution<double> normal(0.0, 1.0);
        p.x.resize(n, d);
        p.y.resize(n, d);
        for (Eigen::Index i = 0; i < p.x.size(); ++i) p.x.data()[i] = normal(rng);
        for (Eigen::Index i = 0; i < p.y.size(); ++i) p.y.data()[i] = 0.5 + normal(rng);
        p.xf = p.x.cast<float>();
        p.yf = p.y.cast<float>();
        char name[] = "/tmp/divergence_kernel_cs_XXXXXX";
        const int fd = mkstemp(name);
        if (fd >= 0) {
            close(fd);
            p.file = name;
            std::FILE* f = std::fopen(name, "wb");
            std::fwrite(p.x.data(), sizeof(double), std::size_t(p.x.size()), f);
            std::fwrite(p.y.data(), sizeof(double), std::size_t(p.y.size()), f);
            std::fclose(f);
        }
    }
    return *slot;
}

// ------------------------------------------------------------------------------------------ ours

kernel::CauchySchwarzResult ours(const Problem& p, int d, Precision precision, Mode mode)
{
    kernel::CauchySchwarzOptions o;
    o.bandwidth = kernel::Bandwidth::fixed(sigma_for(d));
    o.gradients = mode == Mode::grad;
    return precision == Precision::float64 ? kernel::cauchy_schwarz(p.x, p.y, o) : kernel::cauchy_schwarz(p.xf, p.yf, o);
}

// ------------------------------------------------------------------------------------------ peers

std::string python()
{
    const char* env = std::getenv("DIVERGENCE_KERNEL_PYTHON");
    return env ? env : "/usr/bin/python3";
}
std::string driver()
{
    const char* env = std::getenv("DIVERGENCE_KERNEL_PEERS");
    if (env) return env;
    std::string here = __FILE__;
    return here.substr(0, here.find_last_of('/') + 1) + "cs_peers.py";
}

struct PeerRun {
    bool ok = false;
    std::string error, json;
    std::vector<double> grad;  ///< X's then Y's gradients (grad mode with a gradient file)
};

PeerRun run_peer(const std::string& impl, const Problem& p, int n, int d, Precision precision, Mode mode, int repetitions,
                 bool want_gradient)
{
    PeerRun r;
    if (p.file.empty()) {
        r.error = "could not write the points' temporary file";
        return r;
    }
    std::string grad_file;
    if (want_gradient) {
        char name[] = "/tmp/divergence_kernel_cs_grad_XXXXXX";
        const int fd = mkstemp(name);
        if (fd < 0) {
            r.error = "could not create a temporary file";
            return r;
        }
        close(fd);
        grad_file = name;
    }
    std::ostringstream command;
    command << quoted(python()) << " " << quoted(driver()) << " --impl " << impl << " --mode " << mode_name(mode) << " --input "
            << quoted(p.file) << " --n " << n << " --m " << n << " --d " << d << " --sigma " << sigma_for(d) << " --dtype "
            << precision_name(precision) << " --threads 1 --repetitions " << repetitions;
    if (want_gradient) command << " --grad-out " << quoted(grad_file);
    command << " 2>&1";
    int status = 0;
    r.json = capture(command.str(), status);
    if (status != 0 || !(json_number(r.json, "ms_median") > 0.0)) {
        std::string message = r.json.substr(0, 300);
        std::replace(message.begin(), message.end(), '\n', ' ');
        r.error = impl + " driver failed (exit status " + std::to_string(status) + "): " + message;
    } else {
        r.ok = true;
    }
    if (want_gradient) {
        if (r.ok) {
            r.grad.resize(std::size_t(2 * n * d));
            std::FILE* f = std::fopen(grad_file.c_str(), "rb");
            const std::size_t got = f ? std::fread(r.grad.data(), sizeof(double), r.grad.size(), f) : 0;
            if (f) std::fclose(f);
            if (got != r.grad.size()) r.ok = false, r.error = impl + " wrote no gradient";
        }
        std::remove(grad_file.c_str());
    }
    return r;
}

// ------------------------------------------------------------------------------------------ the check

struct Verdict {
    std::string error;  ///< empty: passed
    std::map<std::string, double> value_gap, grad_gap;
};

const Verdict& verdict(int n, int d, Precision precision)
{
    static std::map<std::tuple<int, int, Precision>, Verdict> cache;
    const auto key = std::make_tuple(n, d, precision);
    const auto found = cache.find(key);
    if (found != cache.end()) return found->second;
    Verdict v;
    const Problem& p = problem(n, d);
    set_threads(1);
    const kernel::CauchySchwarzResult mine = ours(p, d, precision, Mode::grad);
    std::vector<double> g(std::size_t(2 * n * d));
    std::copy(mine.grad_x.data(), mine.grad_x.data() + mine.grad_x.size(), g.begin());
    std::copy(mine.grad_y.data(), mine.grad_y.data() + mine.grad_y.size(), g.begin() + mine.grad_x.size());
    double g_max = 0.0;
    for (const double e : g) g_max = std::max(g_max, std::abs(e));
    const double tolerance = precision == Precision::float64 ? 1e-9 : 2e-3;
    std::ostringstream report;
    report.precision(3);
    for (const std::string impl : {"numpy", "torch"}) {
        const PeerRun r = run_peer(impl, p, n, d, precision, Mode::grad, 1, true);
        if (!r.ok) {
            v.error = r.error;
            break;
        }
        const double value_gap = std::abs(json_number(r.json, "value") - mine.value) / std::abs(mine.value);
        double gap = 0.0;
        for (std::size_t i = 0; i < g.size(); ++i) gap = std::max(gap, std::abs(r.grad[i] - g[i]));
        const double grad_gap = gap / g_max;
        v.value_gap[impl] = value_gap;
        v.grad_gap[impl] = grad_gap;
        report << " " << impl << ": value gap " << value_gap << ", gradient gap " << grad_gap << ";";
        if (!(value_gap <= tolerance) || !(grad_gap <= tolerance)) {
            std::ostringstream e;
            e << "wrong result: " << impl << " value " << json_number(r.json, "value") << " vs ours " << mine.value
              << " (relative gap " << value_gap << "), gradient gap " << grad_gap << " > tolerance " << tolerance;
            v.error = e.str();
        }
    }
    std::fprintf(stderr, "check kernel/cs/%s/n:%d/d:%d: ours %.10g;%s %s\n", precision_name(precision), n, d, mine.value,
                 report.str().c_str(), v.error.empty() ? "passed" : v.error.c_str());
    return cache[key] = v;
}

// ------------------------------------------------------------------------------------------ benchmarks

double pairs(int n) { return 3.0 * double(n) * double(n); }

/// Exponentials one call of ours takes (n = m): S's n^2 once (value) or twice (grad: both orientations), A's
/// and B's n (n + 1) / 2 each, counted as kernel/self_pairs.hpp takes them (the diagonal tiles whole).
double exps_per_call(int n, Mode mode)
{
    const double tile = 32.0, tiles = std::ceil(double(n) / tile), last = double(n) - (tiles - 1.0) * tile;
    const double self = (double(n) * double(n) - (tiles - 1.0) * tile * tile - last * last) / 2.0 + (tiles - 1.0) * tile * tile + last * last;
    return (mode == Mode::grad ? 2.0 : 1.0) * double(n) * double(n) + 2.0 * self;
}

void bench_ours(benchmark::State& state, int n, int d, Precision precision, Mode mode)
{
    const Verdict& v = verdict(n, d, precision);
    if (!v.error.empty()) {
        state.SkipWithError(v.error.c_str());
        return;
    }
    set_threads(1);
    const Problem& p = problem(n, d);
    for (auto _ : state) {
        benchmark::DoNotOptimize(ours(p, d, precision, mode).value);  // warm-up
        std::vector<double> times;
        for (int k = 0; k < 3; ++k) {
            const auto t0 = Clock::now();
            const kernel::CauchySchwarzResult r = ours(p, d, precision, mode);
            times.push_back(seconds_since(t0));
            benchmark::DoNotOptimize(r.value);
        }
        const double t = median(times);
        state.SetIterationTime(t);
        state.counters["ms"] = 1e3 * t;
        state.counters["pairs_per_second"] = pairs(n) / t;
        state.counters["exps_per_call"] = exps_per_call(n, mode);
    }
}

void bench_peer(benchmark::State& state, const std::string& impl, int n, int d, Precision precision, Mode mode)
{
    const Verdict& v = verdict(n, d, precision);
    if (!v.error.empty()) {
        state.SkipWithError(v.error.c_str());
        return;
    }
    const Problem& p = problem(n, d);
    for (auto _ : state) {
        const PeerRun r = run_peer(impl, p, n, d, precision, mode, 3, false);
        if (!r.ok) {
            state.SkipWithError(r.error.c_str());
            return;
        }
        const double ms = json_number(r.json, "ms_median");
        state.SetIterationTime(1e-3 * ms);
        state.counters["ms"] = ms;
        state.counters["pairs_per_second"] = pairs(n) / (1e-3 * ms);
        state.counters["value_gap"] = v.value_gap.at(impl);
        state.counters["grad_gap"] = v.grad_gap.at(impl);
        std::string label = "NumPy " + json_string(r.json, "numpy");
        if (impl == "torch") label = "PyTorch " + json_string(r.json, "torch") + ", " + label;
        state.SetLabel(label + ", Python " + json_string(r.json, "python"));
    }
}

// ------------------------------------------------------------------------------------------ exp roofline

/// sum_i exp(x_i) over `passes` sweeps of x (n a multiple of 4 packets), four independent accumulators.
template <class S>
S exp_sweeps(const S* x, Eigen::Index n, int passes)
{
    namespace simd = divergence::detail::simd;
    using P = simd::Packet<S>;
    constexpr Eigen::Index w = simd::lanes<P>;
    P a0 = simd::broadcast<P>(S(0)), a1 = a0, a2 = a0, a3 = a0;
    for (int pass = 0; pass < passes; ++pass) {
        for (Eigen::Index i = 0; i + 4 * w <= n; i += 4 * w) {
            a0 = simd::add(a0, simd::exp(simd::load<P>(x + i)));
            a1 = simd::add(a1, simd::exp(simd::load<P>(x + i + w)));
            a2 = simd::add(a2, simd::exp(simd::load<P>(x + i + 2 * w)));
            a3 = simd::add(a3, simd::exp(simd::load<P>(x + i + 3 * w)));
        }
        benchmark::DoNotOptimize(a0);
    }
    return simd::reduce_add(simd::add(simd::add(a0, a1), simd::add(a2, a3)));
}

template <class S>
void bench_exp_roofline(benchmark::State& state)
{
    constexpr Eigen::Index n = 4096;  // 16 or 32 KiB: stays in L1
    constexpr int passes = 64;
    const Eigen::Array<S, Eigen::Dynamic, 1> x = Eigen::Array<S, Eigen::Dynamic, 1>::LinSpaced(n, S(-10), S(0));
    double best = 0.0;
    for (auto _ : state) {
        const auto t0 = Clock::now();
        benchmark::DoNotOptimize(exp_sweeps<S>(x.data(), n, passes));
        best = std::max(best, double(n) * passes / seconds_since(t0));
    }
    state.counters["exp_per_second"] = best;
    state.SetItemsProcessed(int64_t(state.iterations()) * n * passes);
}

const bool registered = [] {
    benchmark::RegisterBenchmark("kernel/exp_roofline/float/threads:1", bench_exp_roofline<float>)->MinTime(0.3)->UseRealTime();
    benchmark::RegisterBenchmark("kernel/exp_roofline/double/threads:1", bench_exp_roofline<double>)->MinTime(0.3)->UseRealTime();
    for (const int n : {1000, 4000})
        for (const int d : {1, 16})
            for (const Precision precision : {Precision::float64, Precision::float32})
                for (const Mode mode : {Mode::value, Mode::grad}) {
                    const std::string tail = std::string(mode_name(mode)) + "/" + precision_name(precision) + "/n:" +
                                             std::to_string(n) + "/d:" + std::to_string(d) + "/threads:1";
                    benchmark::RegisterBenchmark(("kernel/cs/ours/" + tail).c_str(), [=](benchmark::State& s) {
                        bench_ours(s, n, d, precision, mode);
                    })->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
                    for (const std::string impl : {"numpy", "torch"})
                        benchmark::RegisterBenchmark(("kernel/cs/" + impl + "/" + tail).c_str(), [=](benchmark::State& s) {
                            bench_peer(s, impl, n, d, precision, mode);
                        })->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
                }
    return true;
}();

}  // namespace
}  // namespace bench::kernel_cs

#endif
