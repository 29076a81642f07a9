#ifndef DIVERGENCE_BENCH_SUPPORT_BENCH_HPP
#define DIVERGENCE_BENCH_SUPPORT_BENCH_HPP

// Shared machinery of the benchmark binary: the problems (teacher and student logits of each shape,
// preallocated outputs), the registry of divergences, thread control and the roofline model.
// Every divergence is measured three ways in the same run: this library ("ours"), LibTorch the way
// its users write it ("libtorch", when Torch was found) and plain Eigen expressions ("eigen_naive").

#include <divergence/divergence.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bench {

using Index = Eigen::Index;
using Matrix = divergence::RowMatrix<float>;
using Array = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Distillation temperature used by every benchmark (both sides divide the logits by it).
inline constexpr double temperature = 2.0;

/// (B x V): B rows (tokens), V classes (vocabulary).
struct Shape {
    Index rows = 0;
    Index cols = 0;
    Index elements() const { return rows * cols; }
    std::string name() const { return std::to_string(rows) + "x" + std::to_string(cols); }
};

/// The shapes of the issue: LLM vocabularies (32000 Llama-2, 128256 Llama-3) and a classifier (1000).
const std::vector<Shape>& shapes();

enum class Mode {
    forward,      ///< the reduced loss only
    forward_grad  ///< the loss and its gradient with respect to the student logits
};
const char* mode_name(Mode mode);

namespace torch_peer {
struct Tensors;
}
namespace reference {
struct Term;
using Element = Term (*)(double log_p, double log_q);  ///< see support/reference.hpp
}

/// Scratch arrays of the plain Eigen baseline, allocated once per shape (as a careful user would).
struct NaiveWorkspace {
    Array log_p, log_q, p, q, work;
};

/// One shape's data, shared by every benchmark of that shape (allocated on first use).
struct Problem {
    Shape shape;
    Matrix teacher;  ///< P's logits
    Matrix student;  ///< Q's logits
    Matrix grad;     ///< d loss / d student logits (this library writes it in place)
    NaiveWorkspace naive;
    std::shared_ptr<torch_peer::Tensors> torch;  ///< LibTorch copies of the logits (null without Torch)
};
Problem& problem(const Shape& shape);

/// Minimal work per element of a kernel (the roofline counts): bytes that must cross the memory
/// interface and transcendental operations that must be evaluated, assuming each input is read once.
struct Cost {
    double bytes_forward = 8;  ///< read teacher and student logits (2 x 4 B)
    double bytes_grad = 12;    ///< ... and write the student gradient (4 B)
    double exps = 2;           ///< softmax of both rows
    double logs = 0;
    double sqrts = 0;
    double bytes(Mode mode) const { return mode == Mode::forward ? bytes_forward : bytes_grad; }
};

/// A loss over a problem: returns the loss; in forward_grad mode it also produces the gradient
/// with respect to the student logits (this library: into problem.grad; naive: into naive.work).
using Loss = std::function<float(Problem&, Mode)>;

struct Divergence {
    std::string name;      ///< benchmark name prefix, e.g. "kl"
    Cost cost;             ///< minimal counts for the roofline
    Loss ours;             ///< this library's public API
    Loss naive;            ///< plain Eigen expressions of the formulas
    std::string peer;      ///< LibTorch peer name (see torch_peer.hpp), empty if none
    reference::Element reference = nullptr;  ///< double-precision terms every implementation is checked against
};

/// Registry filled by the static objects in the *_bench.cpp files.
std::vector<Divergence>& registry();
struct Registration {
    explicit Registration(Divergence divergence) { registry().push_back(std::move(divergence)); }
};

/// Threads of this library (OpenMP) and of LibTorch's intra-op pool.
void set_threads(int threads);

/// Warm-up before a timed loop: first touch of workspaces, growth of the heap to LibTorch's peak (see
/// main.cpp, recycle_freed_memory). Calls `call` until two calls in a row take times within 10% of each
/// other, at most 6 times.
void warm_up(const std::function<void()>& call);

/// Measured machine rates (per second) at a thread count, for the roofline bound.
struct Rates {
    double read_bandwidth = 0;  ///< bytes/s, array larger than the last-level cache
    double exp_rate = 0;        ///< vector float exp per second (L1-resident)
    double log_rate = 0;
    double sqrt_rate = 0;
};
/// The rates measured by the roofline benchmarks of this run; measured on the spot when they
/// were filtered out.
Rates rates(int threads);
void record_rate(int threads, double Rates::*field, double value);
/// Read bandwidth for a working set of `bytes` (cache-aware roofline), recorded by its probe.
double read_bandwidth_at(int threads, double bytes);
void record_bandwidth_at(int threads, double bytes, double value);

/// Lower bound on the time per element (seconds) of a kernel: the slower of moving its bytes and
/// evaluating its transcendental functions.
double bound_per_element(const Cost& cost, Mode mode, const Rates& rates);
double bound_per_element(const Cost& cost, Mode mode, const Rates& rates, double bandwidth);

}  // namespace bench

#endif
