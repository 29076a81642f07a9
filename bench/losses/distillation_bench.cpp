// The distillation losses of losses/distillation.hpp (distillation_loss) against the composition a PyTorch user
// writes with LibTorch, in the same run: the loss and its gradient with respect to the student logits (autograd:
// forward + backward timed), float32 teacher and student logits (the shared problems of support/bench.hpp, a
// correlated pair), temperature T = 2, reduction batchmean, 1 thread, shapes 64 x 32000, 8 x 128256 and
// 1024 x 32000. Benchmarks: distill/<loss>/forward_grad/<libtorch|ours>/<B>x<V>/threads:1.
//
//   loss             this library: distillation_loss(teacher, student, [labels(y),] ...)   LibTorch (torch_peer.cpp)
//   forward_kl       distill::ForwardKl{}                      kl_div(log_softmax(s/T), log_softmax(t/T), batchmean, log_target)
//   kl_t2_ce         ForwardKl, T^2 scaling, labels, ce_weight  the same kl_div * T^2 + ce_weight * cross_entropy(s, y)
//   reverse_kl       distill::ReverseKl{}                      kl_div with the arguments swapped
//   gkd_jsd          distill::GkdJsd{1/2}                      TRL's GKDTrainer.generalized_jsd_loss (beta = 1/2)
//   balanced         distill::Balanced{} (entropy rule, 2)     a_r kl_div(.., none).sum(-1) + b_r (reverse), the
//                                                              weights from entropies under no_grad, sum / B
//   token_wise       distill::TokenWise{1}                     ToDi: sigmoid(beta (log p - log q)).detach() mix
//   alpha_beta       distill::AlphaBeta{0.2, 0.7}              the ABKD formula on exp(a log p + b log q), ...
//   total_variation  distill::f_divergence(TotalVariation{})   0.5 * (softmax(t/T) - softmax(s/T)).abs().sum() / B
//
// Labels (kl_t2_ce): uniform classes in [0, V), std::mt19937_64 seeded by the shape, none ignored, so the
// cross-entropy's mean over B of PyTorch and our batchmean divide by the same B.
// Check before timing: the first benchmark of a (loss, shape) runs both implementations once and compares each
// with a double-precision row-level reference (support/reference.hpp, evaluate_rows: the loss and the student
// gradient of every row written out in plain C++, including the cross-entropy against the label and the BD-KD
// entropy rule), tolerance V x FLT_EPSILON as in the divergence suite. A refused implementation reports an error
// in every repetition, never a time. The gaps are counters (loss_gap, grad_gap) and are printed on stderr.
// bench/report --suite distillation runs these benchmarks and writes bench/results/distillation.md.
#if __has_include(<divergence/losses/distillation.hpp>)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <divergence/losses/distillation.hpp>

#include "support/bench.hpp"
#include "support/options.hpp"
#include "support/reference.hpp"
#include "support/torch_peer.hpp"  // declarations only; called where the peer was built (DIVERGENCE_BENCH_TORCH)

namespace bench::distillation {
namespace {

namespace dv = divergence;
using Clock = std::chrono::steady_clock;

// The settings of the losses (both implementations and the reference use these).
constexpr double ce_weight = 0.5;  // kl_t2_ce: T^2 KL + ce_weight CE
constexpr double jsd_beta = 0.5;   // gkd_jsd (reference::js_half)
constexpr double emphasis = 2.0;   // balanced: the entropy rule's weight
constexpr double todi_beta = 1.0;  // token_wise
constexpr double ab_alpha = 0.2, ab_beta = 0.7;  // alpha_beta
static_assert(jsd_beta == 0.5, "the reference of gkd_jsd is reference::js_half");

/// Class labels of a shape: one per row, uniform in [0, V), none ignored.
struct Labels {
    Eigen::Matrix<std::int64_t, Eigen::Dynamic, 1> y;
    std::vector<std::int64_t> values;
};

const Labels& labels_of(const Shape& shape)
{
    static std::map<std::pair<Index, Index>, std::unique_ptr<Labels>> cache;
    auto& slot = cache[{shape.rows, shape.cols}];
    if (!slot) {
        slot = std::make_unique<Labels>();
        std::mt19937_64 rng(std::uint64_t(shape.rows * 31 + shape.cols));
        std::uniform_int_distribution<std::int64_t> label(0, std::int64_t(shape.cols) - 1);
        slot->y.resize(shape.rows);
        for (Index r = 0; r < shape.rows; ++r) slot->y(r) = label(rng);
        slot->values.assign(slot->y.data(), slot->y.data() + shape.rows);
    }
    return *slot;
}

dv::DistillationOptions distillation_options()
{
    dv::DistillationOptions o;
    static_cast<dv::Options&>(o) = options();  // batchmean, no validation
    o.temperature = temperature;
    return o;
}

/// distillation_loss with the student gradient into pr.grad; the loss.
template <class Divergence>
float ours(Problem& pr, const Divergence& divergence, const dv::DistillationOptions& o = distillation_options())
{
    dv::Outputs<float> out;
    out.grad_q = pr.grad;
    return dv::distillation_loss(pr.teacher, pr.student, divergence, o, out).loss;
}

float ours_kl_t2_ce(Problem& pr)
{
    dv::DistillationOptions o = distillation_options();
    o.scaling = dv::TemperatureScaling::squared;
    o.ce_weight = ce_weight;
    const Labels& l = labels_of(pr.shape);
    dv::Outputs<float> out;
    out.grad_q = pr.grad;
    return dv::distillation_loss(pr.teacher, pr.student, dv::labels(l.y), dv::distill::ForwardKl{}, o, out).loss;
}

// ---- Row-level references (double; dD/dlog q per element, then through the softmax at T) ----

/// T^2 KL(P || Q) + ce_weight (log sum_k exp(s_k) - s_y): the cross-entropy of the label against the
/// unsoftened student, gradient T^2 (q - p) / T + ce_weight (softmax(s) - e_y).
reference::RowLoss kl_t2_ce_rows(const Labels& labels)
{
    const reference::RowLoss kl_rows = reference::element_rows(reference::kl);
    return [kl_rows, &labels](const reference::Row& row, std::vector<double>& grad) {
        const double t2 = temperature * temperature;
        double value = t2 * kl_rows(row, grad);
        std::vector<double> log_softmax;
        reference::log_softmax(row.student, row.cols, 1.0, log_softmax);
        const std::size_t y = std::size_t(labels.y(row.index));
        value += ce_weight * -log_softmax[y];
        for (std::size_t j = 0; j < grad.size(); ++j)
            grad[j] = t2 * grad[j] + ce_weight * (std::exp(log_softmax[j]) - (j == y ? 1.0 : 0.0));
        return value;
    };
}

/// BD-KD: a KL(P || Q) + b KL(Q || P), (a, b) = (1, emphasis) where H(Q) > H(P), else (emphasis, 1);
/// the weights constant in the gradient.
double balanced_row(const reference::Row& row, std::vector<double>& grad)
{
    long double teacher_entropy = 0.0L, student_entropy = 0.0L;
    for (std::size_t j = 0; j < grad.size(); ++j) {
        teacher_entropy -= std::exp(row.log_p[j]) * row.log_p[j];
        student_entropy -= std::exp(row.log_q[j]) * row.log_q[j];
    }
    const bool student_less_confident = student_entropy > teacher_entropy;
    const double a = student_less_confident ? 1.0 : emphasis, b = student_less_confident ? emphasis : 1.0;
    long double value = 0.0L;
    for (std::size_t j = 0; j < grad.size(); ++j) {
        const reference::Term forward = reference::kl(row.log_p[j], row.log_q[j]);
        const reference::Term reverse = reference::reverse_kl(row.log_p[j], row.log_q[j]);
        value += a * forward.value + b * reverse.value;
        grad[j] = a * forward.d + b * reverse.d;
    }
    reference::through_softmax(row, grad);
    return double(value);
}

/// ToDi: w p log(p/q) + (1 - w) q log(q/p), w = sigmoid(beta log(p/q)) frozen:
/// d/dlog q = -w p + (1 - w) q (log q - log p + 1) (the + q does not cancel: its weights differ per entry).
reference::Term token_wise_term(double lp, double lq)
{
    const double p = std::exp(lp), q = std::exp(lq), l = lp - lq;
    const double w = 1.0 / (1.0 + std::exp(-todi_beta * l));
    return {w * p * l - (1.0 - w) * q * l, -w * p + (1.0 - w) * q * (1.0 - l)};
}

/// -1/(ab) [p^a q^b - a/(a+b) p^(a+b) - b/(a+b) q^(a+b)]; d/dlog q = -(1/a) (p^a q^b - q^(a+b)).
reference::Term alpha_beta_term(double lp, double lq)
{
    const double a = ab_alpha, b = ab_beta;
    const double cross = std::exp(a * lp + b * lq), p_ab = std::exp((a + b) * lp), q_ab = std::exp((a + b) * lq);
    return {-(cross - a / (a + b) * p_ab - b / (a + b) * q_ab) / (a * b), -(cross - q_ab) / a};
}

/// sum |p - q| / 2; d/dlog q_j = q_j sign(q_j - p_j) / 2 through the softmax. Entries with |log p - log q| < 2^-16
/// are then left out of the comparison (NaN): float log-probabilities of these logits err by ~1e-6, so a float
/// implementation may put such an entry on either side of the kink, and its partial then differs by q_j
/// (measured when they were compared: LibTorch's gradient at 1024 x 32000 was off by 0.0086 of the largest
/// entry, over the tolerance 0.0038, ours by 9e-8; the library uses the same band, generators.hpp
/// TotalVariation::kink_window, to send such entries to its double path). The row's other entries keep the
/// double sign in their softmax sum.
double total_variation_row(const reference::Row& row, std::vector<double>& grad)
{
    long double value = 0.0L;
    for (std::size_t j = 0; j < grad.size(); ++j) {
        const double p = std::exp(row.log_p[j]), q = std::exp(row.log_q[j]);
        value += 0.5 * std::abs(p - q);
        grad[j] = 0.5 * q * (q > p ? 1.0 : -1.0);
    }
    reference::through_softmax(row, grad);
    for (std::size_t j = 0; j < grad.size(); ++j)
        if (std::abs(row.log_p[j] - row.log_q[j]) < 0x1p-16) grad[j] = std::nan("");
    return double(value);
}

// ---- The suite ----

struct Loss {
    std::string name;
    std::function<float(Problem&)> ours;  ///< the loss; the student gradient into pr.grad
    std::function<reference::RowLoss(const Shape&)> reference;
    torch_peer::Distillation peer;
};

torch_peer::Distillation peer(const std::string& loss)
{
    torch_peer::Distillation d;
    d.loss = loss;
    d.temperature = temperature;
    d.ce_weight = ce_weight;
    d.beta = loss == "gkd_jsd" ? jsd_beta : loss == "token_wise" ? todi_beta : ab_beta;
    d.alpha = ab_alpha;
    d.emphasis = emphasis;
    return d;
}

std::function<reference::RowLoss(const Shape&)> elements(reference::Element element)
{
    return [element](const Shape&) { return reference::element_rows(element); };
}

const std::vector<Loss>& losses()
{
    static const std::vector<Loss> all = {
        {"forward_kl", [](Problem& pr) { return ours(pr, dv::distill::ForwardKl{}); }, elements(reference::kl), peer("forward_kl")},
        {"kl_t2_ce", ours_kl_t2_ce, [](const Shape& shape) { return kl_t2_ce_rows(labels_of(shape)); }, peer("kl_t2_ce")},
        {"reverse_kl", [](Problem& pr) { return ours(pr, dv::distill::ReverseKl{}); }, elements(reference::reverse_kl), peer("reverse_kl")},
        {"gkd_jsd", [](Problem& pr) { return ours(pr, dv::distill::GkdJsd{jsd_beta}); }, elements(reference::js_half), peer("gkd_jsd")},
        {"balanced",
         [](Problem& pr) {
             dv::distill::Balanced balanced;
             balanced.emphasis = emphasis;
             return ours(pr, balanced);
         },
         [](const Shape&) { return reference::RowLoss(balanced_row); }, peer("balanced")},
        {"token_wise", [](Problem& pr) { return ours(pr, dv::distill::TokenWise{todi_beta}); }, elements(token_wise_term), peer("token_wise")},
        {"alpha_beta", [](Problem& pr) { return ours(pr, dv::distill::AlphaBeta{ab_alpha, ab_beta}); },
         elements(alpha_beta_term), peer("alpha_beta")},
        {"total_variation", [](Problem& pr) { return ours(pr, dv::distill::f_divergence(dv::generators::TotalVariation{})); },
         [](const Shape&) { return reference::RowLoss(total_variation_row); }, peer("total_variation")},
    };
    return all;
}

const std::vector<Shape>& suite_shapes()
{
    static const std::vector<Shape> all = {{64, 32000}, {8, 128256}, {1024, 32000}};
    return all;
}

enum class Implementation { libtorch, ours };
const char* implementation_name(Implementation i) { return i == Implementation::libtorch ? "libtorch" : "ours"; }

/// The check of one (loss, shape): each implementation's verdict ("" = agrees) and gaps.
struct Check {
    std::map<Implementation, std::string> verdict;
    std::map<Implementation, double> loss_gap, grad_gap;
};

std::function<float()> call(const Loss& loss, Implementation impl, Problem& pr)
{
#if defined(DIVERGENCE_BENCH_TORCH)
    if (impl == Implementation::libtorch) return [l = &loss, p = &pr] { return torch_peer::run_distillation(*p->torch, l->peer); };
#endif
    (void)impl;
    return [l = &loss, p = &pr] { return l->ours(*p); };
}

const Check& check(const Loss& loss, Problem& pr)
{
    static std::map<std::string, Check> all;
    const std::string id = loss.name + "/" + pr.shape.name();
    const auto found = all.find(id);
    if (found != all.end()) return found->second;
    Check& c = all[id];

    std::vector<Implementation> implementations = {Implementation::ours};
    std::vector<float> values;
    std::vector<const float*> gradients;
    values.push_back(loss.ours(pr));
    gradients.push_back(pr.grad.data());
#if defined(DIVERGENCE_BENCH_TORCH)
    implementations.push_back(Implementation::libtorch);
    values.push_back(torch_peer::run_distillation(*pr.torch, loss.peer));
    gradients.push_back(torch_peer::student_grad(*pr.torch));
#endif
    const reference::Result ref = reference::evaluate_rows(pr, loss.reference(pr.shape), gradients);
    const double tolerance = reference::tolerance(pr.shape.cols);
    std::ostringstream log;
    log.precision(2);
    log << "check distill/" << id << " against the double-precision row reference (loss " << ref.loss << ", tolerance "
        << tolerance << "), relative gaps (loss / gradient):";
    for (std::size_t i = 0; i < implementations.size(); ++i) {
        const Implementation impl = implementations[i];
        c.loss_gap[impl] = reference::relative_gap(values[i], ref.loss);
        c.grad_gap[impl] = ref.gradient_gaps[i];
        c.verdict[impl] = reference::disagreement(values[i], ref, ref.gradient_gaps[i], tolerance);
        log << " " << implementation_name(impl) << " " << c.loss_gap[impl] << " / " << c.grad_gap[impl]
            << (c.verdict[impl].empty() ? "" : " REFUSED");
    }
    std::fprintf(stderr, "%s\n", log.str().c_str());
    return c;
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void run(benchmark::State& state, const Loss& loss, Implementation impl, const Shape& shape)
{
    set_threads(1);
    Problem& pr = problem(shape);
#if defined(DIVERGENCE_BENCH_TORCH)
    static std::map<std::string, bool> labelled;
    if (!labelled[shape.name()]) {
        torch_peer::set_labels(*pr.torch, labels_of(shape).values);
        labelled[shape.name()] = true;
    }
#endif
    const Check& checked = check(loss, pr);
    const auto verdict = checked.verdict.find(impl);
    if (verdict == checked.verdict.end() || !verdict->second.empty()) {
        const std::string error = verdict == checked.verdict.end() ? "not built (Torch not found)"
                                                                   : "wrong result: " + verdict->second;
        state.SkipWithError(error.c_str());
        return;
    }
    const std::function<float()> f = call(loss, impl, pr);
    static std::map<std::string, bool> warmed;  // once per benchmark and process (see warm_up)
    const std::string key = loss.name + "/" + shape.name();
    if (!warmed[key + "/" + implementation_name(impl)]) {
        warm_up([&] { benchmark::DoNotOptimize(f()); });
        warmed[key + "/" + implementation_name(impl)] = true;
    }
    const auto start = Clock::now();
    for (auto _ : state) {
        benchmark::DoNotOptimize(f());
        benchmark::ClobberMemory();
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count() / double(state.iterations());
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(shape.elements()));
    state.counters["loss_gap"] = checked.loss_gap.at(impl);
    state.counters["grad_gap"] = checked.grad_gap.at(impl);
    static std::map<std::string, std::vector<double>> libtorch_seconds;
    if (impl == Implementation::libtorch) {
        libtorch_seconds[key].push_back(seconds);
    } else if (!libtorch_seconds[key].empty()) {
        state.counters["speedup_vs_libtorch"] = median(libtorch_seconds[key]) / seconds;
    }
}

const bool registered = [] {
    for (const Loss& loss : losses())
        for (const Shape& shape : suite_shapes())
            for (const Implementation impl : {Implementation::libtorch, Implementation::ours}) {
                const std::string name = "distill/" + loss.name + "/forward_grad/" + implementation_name(impl) + "/" +
                                         shape.name() + "/threads:1";
                benchmark::RegisterBenchmark(name.c_str(), [&loss, impl, shape](benchmark::State& s) {
                    run(s, loss, impl, shape);
                })->UseRealTime()->Unit(benchmark::kMillisecond);
            }
    return true;
}();

}  // namespace
}  // namespace bench::distillation

#endif
