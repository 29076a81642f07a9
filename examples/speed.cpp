// A short benchmark for the demo: distillation losses with the student's gradient, from float logits
// (64 x 32000, the Llama-2 vocabulary; temperature 2; batchmean), this library against the same
// formulas written as plain Eigen array expressions. Wall-clock medians of 15 calls on this machine.
// The full comparison, with LibTorch and the roofline, is bench/report (see bench/README.md).
#include <divergence/divergence.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

using Rows = divergence::RowMatrix<float>;
using Array = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class F>
double median_ms(F f)
{
    std::vector<double> times;
    for (int i = 0; i < 15; ++i) {
        const auto start = std::chrono::steady_clock::now();
        f();
        times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

/// log-softmax of each row of z / T, into out (allocated once: this machine pays a page fault per
/// 4 KiB of every fresh large allocation, which would dominate the plain-Eigen times).
void log_softmax(const Rows& z, float temperature, Array& out, Eigen::VectorXf& row_scratch)
{
    out = z.array() / temperature;
    row_scratch = out.rowwise().maxCoeff();
    out.colwise() -= row_scratch.array();
    row_scratch = out.exp().rowwise().sum().log().matrix();
    out.colwise() -= row_scratch.array();
}

}  // namespace

int main()
{
    const Eigen::Index rows = 64, cols = 32000;
    const float temperature = 2.0f;
    Rows teacher(rows, cols), student(rows, cols), grad(rows, cols), naive_grad(rows, cols);
    std::mt19937 random(7);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (Eigen::Index i = 0; i < teacher.size(); ++i) {
        teacher.data()[i] = normal(random);
        student.data()[i] = teacher.data()[i] + 0.5f * normal(random);
    }
    const auto t = divergence::logits(teacher, temperature);
    const auto s = divergence::logits(student, temperature);
    divergence::Outputs<float> out;
    out.grad_q = grad;
    divergence::Options checked{divergence::Reduction::batchmean};  // Validation::full, the default
    divergence::Options trusted = checked;
    trusted.validation = divergence::Validation::none;

    // Plain Eigen: KL = sum p (log p - log q) / B, d/dz_q = (q - p) / (T B);
    // JSD_1/2 = (KL(P || M) + KL(Q || M)) / 2 with M = (P + Q) / 2, d/dz_q = q (log q - log m - S_q) / (2 T B).
    float naive_kl = 0.0f, naive_js = 0.0f;
    Array lp(rows, cols), lq(rows, cols), p(rows, cols), q(rows, cols), work(rows, cols);
    Eigen::VectorXf row_scratch(rows);
    const auto softmax_both = [&] {
        log_softmax(teacher, temperature, lp, row_scratch);
        log_softmax(student, temperature, lq, row_scratch);
        p = lp.exp();
        q = lq.exp();
    };
    const auto plain_kl = [&] {
        softmax_both();
        naive_kl = (p * (lp - lq)).sum() / float(rows);
        naive_grad = ((q - p) / (temperature * float(rows))).matrix();
    };
    const auto plain_js = [&] {
        softmax_both();
        work = q * (lq - (0.5f * (p + q)).log());  // q log(q / m)
        naive_js = 0.5f * ((p * (lp - (0.5f * (p + q)).log())).sum() + work.sum()) / float(rows);
        row_scratch = work.rowwise().sum().matrix();
        naive_grad = ((work - q.colwise() * row_scratch.array()) * (0.5f / (temperature * float(rows)))).matrix();
    };

    std::printf("KL and JSD between float logits, %ld x %ld, T = 2, batchmean, loss + student gradient, "
                "median of 15 calls (ms), kernels built for %s:\n\n", long(rows), long(cols), divergence::instruction_set());
    std::printf("%-24s %11s %17s %17s %14s %14s\n", "", "plain Eigen", "divergence, full", "divergence, none",
                "speedup, full", "speedup, none");
    bool agree = true;
    const auto report = [&](const char* name, double plain, double full, double none, float ours, float theirs) {
        std::printf("%-24s %11.2f %17.2f %17.2f %13.1fx %13.1fx\n", name, plain, full, none, plain / full, plain / none);
        const double difference = (grad - naive_grad).cwiseAbs().maxCoeff() / naive_grad.cwiseAbs().maxCoeff();
        agree = agree && std::abs(ours - theirs) <= 1e-3f * (1.0f + std::abs(theirs)) && difference <= 1e-3;
    };

    float kl = 0.0f, js = 0.0f;
    const double kl_plain = median_ms(plain_kl);
    const double kl_full = median_ms([&] { kl = divergence::kl(t, s, checked, out); });
    const double kl_none = median_ms([&] { kl = divergence::kl(t, s, trusted, out); });
    report("KL(teacher || student)", kl_plain, kl_full, kl_none, kl, naive_kl);
    const double js_plain = median_ms(plain_js);
    const double js_full = median_ms([&] { js = divergence::js(t, s, checked, out); });
    const double js_none = median_ms([&] { js = divergence::js(t, s, trusted, out); });
    report("JSD(teacher, student)", js_plain, js_full, js_none, js, naive_js);

    std::printf("\nfull: Validation::full (the default: every entry checked first); none: Validation::none.\n"
                "Values and gradients agree with plain Eigen: %s\n", agree ? "yes" : "NO");
    return agree ? 0 : 1;
}
