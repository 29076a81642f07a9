#include "support/bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>

#if defined(_OPENMP)
#include <omp.h>
#endif

#if defined(DIVERGENCE_BENCH_TORCH)
#include "support/torch_peer.hpp"
#endif

namespace bench {

const std::vector<Shape>& shapes()
{
    static const std::vector<Shape> all = {{64, 32000}, {8, 128256}, {4096, 1000}, {1024, 32000}};
    return all;
}

const char* mode_name(Mode mode) { return mode == Mode::forward ? "forward" : "forward_grad"; }

namespace {

// Logits like a distillation pair: a teacher with a spread of a few nats and a student that agrees
// with it partly (correlation about 0.8), so the divergences are neither 0 nor saturated.
void fill_logits(Matrix& teacher, Matrix& student, const Shape& shape, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    teacher.resize(shape.rows, shape.cols);
    student.resize(shape.rows, shape.cols);
    for (Index i = 0; i < teacher.size(); ++i) {
        const float t = 3.0f * normal(rng);
        teacher.data()[i] = t;
        student.data()[i] = 0.8f * t + 1.8f * normal(rng);
    }
}

}  // namespace

Problem& problem(const Shape& shape)
{
    static std::map<std::pair<Index, Index>, std::unique_ptr<Problem>> problems;
    auto& slot = problems[{shape.rows, shape.cols}];
    if (!slot) {
        slot = std::make_unique<Problem>();
        slot->shape = shape;
        fill_logits(slot->teacher, slot->student, shape, unsigned(shape.rows * 7919 + shape.cols));
        slot->grad = Matrix::Zero(shape.rows, shape.cols);  // touched once: no page faults in timed loops
#if defined(DIVERGENCE_BENCH_TORCH)
        slot->torch = torch_peer::make_tensors(slot->teacher, slot->student);
#endif
    }
    return *slot;
}

std::vector<Divergence>& registry()
{
    static std::vector<Divergence> divergences;
    return divergences;
}

void set_threads(int threads)
{
#if defined(_OPENMP)
    omp_set_num_threads(threads);
#endif
#if defined(DIVERGENCE_BENCH_TORCH)
    torch_peer::set_threads(threads);
#endif
    (void)threads;
}

void warm_up(const std::function<void()>& call)
{
    using Clock = std::chrono::steady_clock;
    double previous = 0.0;
    for (int i = 0; i < 6; ++i) {
        const auto t0 = Clock::now();
        call();
        const double t = std::chrono::duration<double>(Clock::now() - t0).count();
        if (i > 0 && std::abs(t - previous) <= 0.1 * previous) break;
        previous = t;
    }
}

namespace {

double median(std::vector<double> values)
{
    if (values.empty()) return 0.0;
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

struct RateSamples {
    std::vector<double> read_bandwidth, exp_rate, log_rate, sqrt_rate;
};
std::map<int, RateSamples>& rate_samples()
{
    static std::map<int, RateSamples> samples;
    return samples;
}
std::map<std::pair<int, double>, std::vector<double>>& bandwidth_samples()
{
    static std::map<std::pair<int, double>, std::vector<double>> samples;
    return samples;
}

}  // namespace

// Defined in core/roofline_bench.cpp: a short measurement when the probes were filtered out.
Rates measure_rates(int threads);
double measure_read_bandwidth(int threads, double bytes);

void record_rate(int threads, double Rates::*field, double value)
{
    auto& s = rate_samples()[threads];
    if (field == &Rates::read_bandwidth) s.read_bandwidth.push_back(value);
    if (field == &Rates::exp_rate) s.exp_rate.push_back(value);
    if (field == &Rates::log_rate) s.log_rate.push_back(value);
    if (field == &Rates::sqrt_rate) s.sqrt_rate.push_back(value);
}

Rates rates(int threads)
{
    auto& s = rate_samples()[threads];
    if (s.read_bandwidth.empty() || s.exp_rate.empty() || s.log_rate.empty() || s.sqrt_rate.empty()) {
        const Rates measured = measure_rates(threads);
        if (s.read_bandwidth.empty()) s.read_bandwidth.push_back(measured.read_bandwidth);
        if (s.exp_rate.empty()) s.exp_rate.push_back(measured.exp_rate);
        if (s.log_rate.empty()) s.log_rate.push_back(measured.log_rate);
        if (s.sqrt_rate.empty()) s.sqrt_rate.push_back(measured.sqrt_rate);
    }
    return {median(s.read_bandwidth), median(s.exp_rate), median(s.log_rate), median(s.sqrt_rate)};
}

void record_bandwidth_at(int threads, double bytes, double value) { bandwidth_samples()[{threads, bytes}].push_back(value); }

double read_bandwidth_at(int threads, double bytes)
{
    auto& s = bandwidth_samples()[{threads, bytes}];
    if (s.empty()) s.push_back(measure_read_bandwidth(threads, bytes));
    return median(s);
}

double bound_per_element(const Cost& cost, Mode mode, const Rates& r, double bandwidth)
{
    const double memory = cost.bytes(mode) / bandwidth;
    const double compute = cost.exps / r.exp_rate + cost.logs / r.log_rate + cost.sqrts / r.sqrt_rate;
    return std::max(memory, compute);
}

double bound_per_element(const Cost& cost, Mode mode, const Rates& r)
{
    return bound_per_element(cost, mode, r, r.read_bandwidth);
}

}  // namespace bench
