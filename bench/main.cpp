// The benchmark binary: roofline probes first, then for each divergence, mode, thread count and
// shape, LibTorch, this library and plain Eigen back to back (so machine noise hits all three alike).
// Names: <divergence>/<mode>/<implementation>/<B>x<V>/threads:<n>; every kernel reports
//   items_per_second  elements (B x V) per second
//   bytes_per_second  minimal bytes per second (Cost::bytes: inputs read once, gradient written once)
//   roofline_seconds         lower bound on the time per iteration: max(bytes / DRAM read bandwidth,
//                            sum of transcendental counts / their rates), the counts in Cost
//   roofline_fraction        roofline_seconds / time
//   cache_roofline_seconds   same bound with the read bandwidth measured at this shape's input size
//   cache_roofline_fraction  cache_roofline_seconds / time
//   speedup_vs_libtorch      LibTorch's median time (same shape, mode, threads, run) / this time
// Before it is timed, every implementation's result is checked against a double-precision reference
// (support/reference.hpp); a refused one reports an error in every repetition, never a time.
// bench/report runs the binary once per repetition and turns the JSON outputs into the README table and plot.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <cstring>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "support/bench.hpp"
#include "support/reference.hpp"

#if defined(DIVERGENCE_BENCH_TORCH)
#include "support/torch_peer.hpp"
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace bench {

void register_roofline_benchmarks(const std::vector<int>& thread_counts);
double input_bytes(const Shape& shape);

namespace {

using Clock = std::chrono::steady_clock;

enum class Implementation { libtorch, ours, eigen_naive };
const char* implementation_name(Implementation i)
{
    switch (i) {
    case Implementation::libtorch: return "libtorch";
    case Implementation::ours: return "ours";
    default: return "eigen_naive";
    }
}

std::string key(const Divergence& d, Mode mode, const Shape& shape, int threads)
{
    return d.name + "/" + mode_name(mode) + "/" + shape.name() + "/" + std::to_string(threads);
}

std::map<std::string, std::vector<double>>& libtorch_seconds()
{
    static std::map<std::string, std::vector<double>> seconds;
    return seconds;
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Before a divergence is timed on a shape (its first benchmark there, whatever the implementation):
// every implementation computes the loss in both modes and the student gradient once, and each is
// compared with the double-precision reference (support/reference.hpp). The verdicts are kept, so
// a refused implementation is refused in every repetition (never a number in some of them), and
// Google Benchmark sees the same outcome, hence the same iteration count, each time.
using Verdicts = std::map<std::pair<Implementation, Mode>, std::string>;  // "" = agrees

std::string gap_text(double gap, double tolerance)
{
    std::ostringstream text;
    text.precision(3);
    text << "relative gap " << gap << " > tolerance " << tolerance;
    return text.str();
}

const Verdicts& verdicts(const Divergence& d, Problem& pr)
{
    static std::map<std::string, Verdicts> all;
    const std::string id = d.name + "/" + pr.shape.name();
    const auto found = all.find(id);
    if (found != all.end()) return found->second;
    Verdicts& v = all[id];

    struct Candidate {
        Implementation impl;
        float forward = 0, forward_grad = 0;
        const float* gradient = nullptr;
    };
    std::vector<Candidate> candidates;
    candidates.push_back({Implementation::ours, d.ours(pr, Mode::forward), d.ours(pr, Mode::forward_grad), pr.grad.data()});
    candidates.push_back({Implementation::eigen_naive, d.naive(pr, Mode::forward), d.naive(pr, Mode::forward_grad),
                          pr.naive.work.data()});
#if defined(DIVERGENCE_BENCH_TORCH)
    if (!d.peer.empty()) {
        const float forward = torch_peer::run(*pr.torch, d.peer, Mode::forward, temperature);
        const float forward_grad = torch_peer::run(*pr.torch, d.peer, Mode::forward_grad, temperature);
        candidates.push_back({Implementation::libtorch, forward, forward_grad, torch_peer::student_grad(*pr.torch)});
    }
#endif
    if (!d.reference) {
        for (const auto& c : candidates)
            for (Mode mode : {Mode::forward, Mode::forward_grad}) v[{c.impl, mode}] = "no double-precision reference";
        return v;
    }
    std::vector<const float*> gradients;
    for (const auto& c : candidates) gradients.push_back(c.gradient);
    const reference::Result ref = reference::evaluate(pr, d.reference, gradients);
    const double tolerance = reference::tolerance(pr.shape.cols);
    const auto loss_gap = [&](float loss) {
        return std::abs(double(loss) - ref.loss) / std::max(std::abs(ref.loss), 1e-30);
    };
    std::ostringstream log;
    log.precision(2);
    log << "check " << id << " against the double-precision reference (loss " << ref.loss << ", tolerance "
        << tolerance << "), relative gaps:";
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        const Candidate& c = candidates[i];
        const double forward = loss_gap(c.forward), value = loss_gap(c.forward_grad), gradient = ref.gradient_gaps[i];
        log << " " << implementation_name(c.impl) << " " << forward << " / " << value << " / " << gradient;
        std::ostringstream f, g;
        f.precision(7);
        g.precision(7);
        if (!(forward <= tolerance))
            f << "loss " << c.forward << " vs reference " << ref.loss << " (" << gap_text(forward, tolerance) << ")";
        if (!(value <= tolerance))
            g << "loss " << c.forward_grad << " vs reference " << ref.loss << " (" << gap_text(value, tolerance) << ")";
        if (!(gradient <= tolerance))
            g << (value <= tolerance ? "" : "; ") << "student gradient: " << gap_text(gradient, tolerance);
        v[{c.impl, Mode::forward}] = f.str();
        v[{c.impl, Mode::forward_grad}] = g.str();
    }
    log << " (loss forward / loss with gradient / gradient)";
    std::fprintf(stderr, "%s\n", log.str().c_str());
    return v;
}

void run_kernel(benchmark::State& state, const Divergence& d, Implementation impl, Mode mode, const Shape& shape,
                int threads)
{
    set_threads(threads);
    Problem& pr = problem(shape);
    const Verdicts& checked = verdicts(d, pr);
    const auto verdict = checked.find({impl, mode});
    if (verdict == checked.end() || !verdict->second.empty()) {
        const std::string error = verdict == checked.end() ? "not checked" : "wrong result: " + verdict->second;
        state.SkipWithError(error.c_str());
        return;
    }
    std::function<float()> loss;
    switch (impl) {
    case Implementation::ours: loss = [&] { return d.ours(pr, mode); }; break;
    case Implementation::eigen_naive: loss = [&] { return d.naive(pr, mode); }; break;
    case Implementation::libtorch:
#if defined(DIVERGENCE_BENCH_TORCH)
        loss = [&] { return torch_peer::run(*pr.torch, d.peer, mode, temperature); };
#endif
        break;
    }
    // Warm-up, once per benchmark and process (Google Benchmark calls this function once per repetition
    // and iteration-count trial), outside the timed loop: first touch of workspaces, growth of the heap
    // to LibTorch's peak (see recycle_freed_memory). Until two calls in a row agree within 10%, at most
    // 6 calls. Google Benchmark chooses the iteration count in the first repetition and reuses it.
    static std::set<std::string> warmed;
    const std::string k = key(d, mode, shape, threads) + "/" + implementation_name(impl);
    if (warmed.insert(k).second) {
        double previous = 0.0;
        for (int call = 0; call < 6; ++call) {
            const auto t0 = Clock::now();
            benchmark::DoNotOptimize(loss());
            const double t = std::chrono::duration<double>(Clock::now() - t0).count();
            if (call > 0 && std::abs(t - previous) <= 0.1 * previous) break;
            previous = t;
        }
    }
    const auto start = Clock::now();
    for (auto _ : state) {
        benchmark::DoNotOptimize(loss());
        benchmark::ClobberMemory();
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count() / double(state.iterations());

    const double elements = double(shape.elements());
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(shape.elements()));
    state.SetBytesProcessed(int64_t(double(state.iterations()) * elements * d.cost.bytes(mode)));
    const Rates r = rates(threads);
    const double bound = elements * bound_per_element(d.cost, mode, r);
    const double cache_bound = elements * bound_per_element(d.cost, mode, r, read_bandwidth_at(threads, input_bytes(shape)));
    state.counters["roofline_seconds"] = bound;
    state.counters["roofline_fraction"] = bound / seconds;
    state.counters["cache_roofline_seconds"] = cache_bound;
    state.counters["cache_roofline_fraction"] = cache_bound / seconds;
    const std::string peer_key = key(d, mode, shape, threads);
    if (impl == Implementation::libtorch) {
        libtorch_seconds()[peer_key].push_back(seconds);
    } else if (libtorch_seconds().count(peer_key)) {
        state.counters["speedup_vs_libtorch"] = median(libtorch_seconds()[peer_key]) / seconds;
    }
}

void register_kernels(const std::vector<int>& thread_counts)
{
    // Fixed order of the issue, then any other registered divergence.
    const std::vector<std::string> order = {"kl", "reverse_kl", "js", "squared_hellinger", "pearson_chi2"};
    std::vector<const Divergence*> divergences;
    for (const auto& name : order)
        for (const auto& d : registry())
            if (d.name == name) divergences.push_back(&d);
    for (const auto& d : registry())
        if (std::find(order.begin(), order.end(), d.name) == order.end()) divergences.push_back(&d);

    std::vector<Implementation> implementations = {Implementation::ours, Implementation::eigen_naive};
#if defined(DIVERGENCE_BENCH_TORCH)
    implementations.insert(implementations.begin(), Implementation::libtorch);
#endif
    for (const Divergence* d : divergences)
        for (Mode mode : {Mode::forward, Mode::forward_grad})
            for (int threads : thread_counts)
                for (const Shape& shape : shapes())
                    for (Implementation impl : implementations) {
                        if (impl == Implementation::libtorch && d->peer.empty()) continue;
                        const std::string name = d->name + "/" + mode_name(mode) + "/" + implementation_name(impl) + "/" +
                                                 shape.name() + "/threads:" + std::to_string(threads);
                        benchmark::RegisterBenchmark(name.c_str(),
                                                     [=](benchmark::State& s) { run_kernel(s, *d, impl, mode, shape, threads); })
                            ->UseRealTime()  // several threads: wall time, not the main thread's CPU time
                            ->Unit(benchmark::kMillisecond);
                    }
}

// LibTorch allocates every intermediate tensor (B x V floats: 131 MB at 1024 x 32000). glibc serves
// blocks above 32 MB with a fresh mmap and returns them on free, so each call faults its pages in
// again; on virtual machines a page fault can cost 20 us (this one's did), which made LibTorch 20x
// slower at the largest shape than on bare metal. Serving every block from the heap and never
// trimming it lets freed memory be reused, as a caching allocator would: the comparison is then
// with LibTorch at its best, not with the machine's page faults. `--glibc_malloc_defaults` keeps
// glibc's defaults instead.
std::string recycle_freed_memory(int& argc, char** argv)
{
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--glibc_malloc_defaults") == 0) {
            for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
            --argc;
            return "glibc defaults (--glibc_malloc_defaults)";
        }
    }
    mallopt(M_MMAP_MAX, 0);         // every block from the heap
    mallopt(M_TRIM_THRESHOLD, -1);  // never give freed heap memory back to the system
    return "glibc, mmap off and trimming off: freed memory is reused (see main.cpp)";
}

}  // namespace

// The vector instruction set the kernels were compiled for (divergence::instruction_set()).
std::string compiled_instruction_set() { return divergence::instruction_set(); }

// /proc/cpuinfo: the first "model name" and the widest vector instruction set the CPU offers.
std::pair<std::string, std::string> cpu_model_and_best_instruction_set()
{
    std::string model = "unknown", flags;
    if (std::FILE* f = std::fopen("/proc/cpuinfo", "r")) {
        char line[8192];
        while (std::fgets(line, sizeof line, f)) {
            const std::string text(line);
            const auto colon = text.find(':');
            if (colon == std::string::npos) continue;
            std::string key = text.substr(0, colon), value = text.substr(colon + 1);
            key.erase(key.find_last_not_of(" \t") + 1);
            value.erase(0, value.find_first_not_of(" \t"));
            value.erase(value.find_last_not_of(" \t\n") + 1);
            if (key == "model name" && model == "unknown") model = value;
            if (key == "flags" && flags.empty()) flags = " " + value + " ";
        }
        std::fclose(f);
    }
    const auto has = [&](const char* flag) { return flags.find(std::string(" ") + flag + " ") != std::string::npos; };
    const std::string best = flags.empty()             ? "unknown"
                             : has("avx512f")          ? "AVX-512"
                             : has("avx2") && has("fma") ? "AVX2+FMA"
                             : has("avx2")             ? "AVX2"
                             : has("avx")              ? "AVX"
                                                       : "SSE";
    return {model, best};
}

}  // namespace bench

int main(int argc, char** argv)
{
    const std::vector<int> thread_counts = {1, 2};
    const std::string malloc_policy = bench::recycle_freed_memory(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    std::string divergences;
    for (const auto& d : bench::registry()) divergences += (divergences.empty() ? "" : ",") + d.name;
    benchmark::AddCustomContext("divergence_version", std::to_string(DIVERGENCE_VERSION_MAJOR) + "." +
                                                          std::to_string(DIVERGENCE_VERSION_MINOR) + "." +
                                                          std::to_string(DIVERGENCE_VERSION_PATCH));
    benchmark::AddCustomContext("divergences", divergences);
    for (const auto& d : bench::registry()) {
        std::ostringstream cost;
        cost << "bytes_forward=" << d.cost.bytes_forward << ";bytes_grad=" << d.cost.bytes_grad << ";exps=" << d.cost.exps
             << ";logs=" << d.cost.logs << ";sqrts=" << d.cost.sqrts;
        benchmark::AddCustomContext("cost:" + d.name, cost.str());
    }
    benchmark::AddCustomContext("eigen", std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
                                             "." + std::to_string(EIGEN_MINOR_VERSION));
    benchmark::AddCustomContext("eigen_simd", Eigen::SimdInstructionSetsInUse());
    benchmark::AddCustomContext("temperature", std::to_string(bench::temperature));
    benchmark::AddCustomContext("validation", "none (this library: Validation::none; LibTorch validates nothing)");
#if defined(DIVERGENCE_BENCH_TORCH)
    benchmark::AddCustomContext("libtorch", bench::torch_peer::version());
#else
    benchmark::AddCustomContext("libtorch", "not built (Torch not found)");
#endif
#if defined(_OPENMP)
    benchmark::AddCustomContext("openmp", std::to_string(_OPENMP));
#endif
    benchmark::AddCustomContext("compiler", __VERSION__);
#if defined(DIVERGENCE_BENCH_COMPILER)
    benchmark::AddCustomContext("build_compiler", DIVERGENCE_BENCH_COMPILER);
    benchmark::AddCustomContext("build_type", DIVERGENCE_BENCH_BUILD_TYPE);
    benchmark::AddCustomContext("build_flags", DIVERGENCE_BENCH_CXX_FLAGS);
#endif
    benchmark::AddCustomContext("instruction_set", bench::compiled_instruction_set());
    const auto [cpu_model, cpu_best] = bench::cpu_model_and_best_instruction_set();
    benchmark::AddCustomContext("cpu_model", cpu_model);
    benchmark::AddCustomContext("cpu_instruction_set", cpu_best);
    {
        std::ostringstream check;
        check << "every implementation against a double-precision reference; relative tolerance "
              << bench::reference::tolerance(1) << " x V (V x FLT_EPSILON)";
        benchmark::AddCustomContext("check", check.str());
    }
    benchmark::AddCustomContext("malloc", malloc_policy);
    bench::register_roofline_benchmarks(thread_counts);
    bench::register_kernels(thread_counts);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
