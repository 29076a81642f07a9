// Top-k teachers (discrete/top_k.hpp): every divergence from k (column, probability) pairs per row
// against a dense student, on the k + 1 buckets K u {rest}. Checked against a long-double bucket
// formula written here, the dense functions (k = V, and the teacher completed in proportion to the
// student), the data processing inequality (the bucket value is a lower bound over completions),
// central finite differences with masks, weights and temperature, thread counts, and bad input.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "divergence/discrete/entropy.hpp"
#include "divergence/discrete/f_divergence.hpp"
#include "divergence/discrete/jensen_shannon.hpp"
#include "divergence/discrete/kl.hpp"
#include "divergence/discrete/named_f_divergences.hpp"
#include "divergence/discrete/top_k.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/threads.hpp"

namespace discrete_top_k_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;

namespace {

using Indices = Eigen::Matrix<int, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class S>
using MatrixT = dv::RowMatrix<S>;
using Matrix = MatrixT<double>;
using Long = long double;
using Buckets = std::vector<Long>;

/// k distinct random columns per row (in random order) and teacher probabilities for them summing to
/// `mass` (< 1 leaves a tail).
struct Teacher {
    Indices indices;
    Matrix probs;
};

Teacher random_teacher(Eigen::Index rows, Eigen::Index cols, Eigen::Index k, double mass, std::uint64_t seed)
{
    std::mt19937_64 rng(seed);
    Teacher t{Indices(rows, k), Matrix(rows, k)};
    const Matrix p = test::random_simplex_rows(rows, k, seed + 1);
    std::vector<int> columns(static_cast<std::size_t>(cols));
    for (Eigen::Index r = 0; r < rows; ++r) {
        std::iota(columns.begin(), columns.end(), 0);
        std::shuffle(columns.begin(), columns.end(), rng);
        for (Eigen::Index i = 0; i < k; ++i) {
            t.indices(r, i) = columns[std::size_t(i)];
            t.probs(r, i) = mass * p(r, i);
        }
    }
    return t;
}

/// Whether column c of row r is one of the teacher's.
std::vector<bool> in_k(const Teacher& t, Eigen::Index r, Eigen::Index cols)
{
    std::vector<bool> inside(static_cast<std::size_t>(cols), false);
    for (Eigen::Index i = 0; i < t.indices.cols(); ++i) inside[std::size_t(t.indices(r, i))] = true;
    return inside;
}

/// log q of a student row given as logits at temperature T, in long double (an independent log-softmax).
std::vector<Long> log_softmax(const Matrix& z, Eigen::Index r, double temperature)
{
    Long largest = -std::numeric_limits<Long>::infinity();
    for (Eigen::Index c = 0; c < z.cols(); ++c) largest = std::max(largest, Long(z(r, c)) / temperature);
    Long sum = 0;
    for (Eigen::Index c = 0; c < z.cols(); ++c) sum += std::exp(Long(z(r, c)) / temperature - largest);
    std::vector<Long> out(static_cast<std::size_t>(z.cols()));
    for (Eigen::Index c = 0; c < z.cols(); ++c) out[std::size_t(c)] = Long(z(r, c)) / temperature - largest - std::log(sum);
    return out;
}

/// The teacher's and the student's bucket masses of row r: K's columns in the teacher's order, then
/// (with the tail and a column outside K) the rest, r = 1 - sum_K p (0 when within k eps: rounding)
/// and q_rest summed over the columns outside K (not 1 - sum_K q).
void coarsen(const Teacher& t, const std::vector<Long>& log_q, Eigen::Index r, bool tail, Buckets& p, Buckets& q,
             double eps = std::numeric_limits<double>::epsilon())
{
    const Eigen::Index cols = Eigen::Index(log_q.size()), k = t.indices.cols();
    p.clear();
    q.clear();
    Long mass = 0;
    for (Eigen::Index i = 0; i < k; ++i) {
        p.push_back(t.probs(r, i));
        q.push_back(std::exp(log_q[std::size_t(t.indices(r, i))]));
        mass += t.probs(r, i);
    }
    if (!tail || k == cols) return;
    const std::vector<bool> inside = in_k(t, r, cols);
    Long q_rest = 0;
    for (Eigen::Index c = 0; c < cols; ++c) q_rest += inside[std::size_t(c)] ? 0 : std::exp(log_q[std::size_t(c)]);
    const Long rest = 1 - mass;
    p.push_back(rest > Long(k) * Long(eps) ? rest : 0);
    q.push_back(q_rest);
}

/// sum_b q_b f(p_b / q_b) in long double (0 f(0/0) = 0; p > 0 = q: p lim f(u)/u, here +inf).
Long f_sum(const Buckets& p, const Buckets& q, const std::function<Long(Long)>& f)
{
    Long s = 0;
    for (std::size_t b = 0; b < p.size(); ++b) {
        if (p[b] == 0 && q[b] == 0) continue;
        if (q[b] == 0) return std::numeric_limits<Long>::infinity();
        s += q[b] * f(p[b] / q[b]);
    }
    return s;
}
Long xlogy(Long x, Long y) { return x == 0 ? 0 : x * std::log(y); }
Long kl_sum(const Buckets& p, const Buckets& q)
{
    Long s = 0;
    for (std::size_t b = 0; b < p.size(); ++b) {
        if (p[b] == 0) continue;
        if (q[b] == 0) return std::numeric_limits<Long>::infinity();
        s += p[b] * std::log(p[b] / q[b]);
    }
    return s;
}
Long gjs_sum(const Buckets& p, const Buckets& q, Long beta)
{
    Long s = 0;
    for (std::size_t b = 0; b < p.size(); ++b) {
        const Long m = beta * p[b] + (1 - beta) * q[b];
        if (m > 0) s += beta * xlogy(p[b], p[b] / m) + (1 - beta) * xlogy(q[b], q[b] / m);
    }
    return s;
}

/// A user's element kernel (core/element.hpp): the squared Euclidean distance sum_i (p_i - q_i)^2,
/// not a divergence the library names; it must run with a top-k teacher through the generic entry.
struct SquaredEuclideanKernel {
    static constexpr bool binary = true;
    static constexpr bool partials_use_value = false;
    template <class V>
    V term(const dv::detail::ElementLanes<V>& e) const
    {
        const V d = dv::detail::simd::sub(e.p, e.q);
        return dv::detail::simd::mul(d, d);
    }
    double finish(double sum) const { return sum; }
    template <class V>
    dv::detail::PartialLanes<V> partials(double, const dv::detail::ElementLanes<V>& e) const
    {
        namespace simd = dv::detail::simd;
        const V two_d = simd::mul(simd::broadcast<V>(2.0), simd::sub(e.p, e.q));
        const V minus = simd::sub(simd::broadcast<V>(0.0), two_d);
        return {two_d, simd::mul(e.p, two_d), minus, simd::mul(e.q, minus)};
    }
};

/// A user's generator: Pearson chi^2 in one line (f', limits and packets derived).
struct UserPearson {
    template <class V>
    V f(const V& u) const
    {
        return (u - 1.0) * (u - 1.0);
    }
};

/// One divergence: with a top-k teacher, dense, and its long-double bucket formula.
template <class S>
struct Case {
    std::string name;
    /// Whether it is an f-divergence (or a monotone map of one): then the proportional completion
    /// gives the dense value and the data processing inequality holds.
    bool f_type;
    /// Whether a teacher without its tail is defined for it.
    bool without_tail;
    std::function<S(const dv::TopK<S, int>&, const dv::Input<S>&, const dv::Options&, const dv::Outputs<S>&)> sparse;
    std::function<S(const dv::Input<S>&, const dv::Input<S>&, const dv::Options&, const dv::Outputs<S>&)> dense;
    std::function<Long(const Buckets&, const Buckets&)> formula;
};

/// Every divergence of the library with a top-k teacher, and two of a user's own.
template <class S>
std::vector<Case<S>> all_cases()
{
    using T = dv::TopK<S, int>;
    using I = dv::Input<S>;
    using O = dv::Options;
    using Out = dv::Outputs<S>;
    const auto sqrt_half_sum = [](const Buckets& p, const Buckets& q) {
        Long s = 0;
        for (std::size_t b = 0; b < p.size(); ++b) s += (std::sqrt(p[b]) - std::sqrt(q[b])) * (std::sqrt(p[b]) - std::sqrt(q[b]));
        return s / 2;
    };
    return {
        {"kl", true, true, [](const T& t, const I& s, const O& o, const Out& out) { return dv::kl(t, s, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::kl(p, s, o, out); }, kl_sum},
        {"reverse_kl", true, false, [](const T& t, const I& s, const O& o, const Out& out) { return dv::reverse_kl(t, s, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::reverse_kl(p, s, o, out); },
         [](const Buckets& p, const Buckets& q) { return kl_sum(q, p); }},
        {"js", true, false, [](const T& t, const I& s, const O& o, const Out& out) { return dv::js(t, s, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::js(p, s, o, out); },
         [](const Buckets& p, const Buckets& q) { return gjs_sum(p, q, 0.5L); }},
        {"generalized_js", true, false,
         [](const T& t, const I& s, const O& o, const Out& out) { return dv::generalized_js(t, s, 0.3, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::generalized_js(p, s, 0.3, o, out); },
         [](const Buckets& p, const Buckets& q) { return gjs_sum(p, q, 0.3L); }},
        {"js_distance", true, false, [](const T& t, const I& s, const O& o, const Out& out) { return dv::js_distance(t, s, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::js_distance(p, s, o, out); },
         [](const Buckets& p, const Buckets& q) { return std::sqrt(gjs_sum(p, q, 0.5L)); }},
        {"cross_entropy", false, true,
         [](const T& t, const I& s, const O& o, const Out& out) { return dv::cross_entropy(t, s, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::cross_entropy(p, s, o, out); },
         [](const Buckets& p, const Buckets& q) {
             Long s = 0;
             for (std::size_t b = 0; b < p.size(); ++b) s -= xlogy(p[b], q[b]);
             return s;
         }},
        {"f_divergence(SquaredHellinger)", true, false,
         [](const T& t, const I& s, const O& o, const Out& out) {
             return dv::f_divergence(t, s, dv::generators::SquaredHellinger{}, o, out);
         },
         [](const I& p, const I& s, const O& o, const Out& out) {
             return dv::f_divergence(p, s, dv::generators::SquaredHellinger{}, o, out);
         },
         [=](const Buckets& p, const Buckets& q) { return 2 * sqrt_half_sum(p, q); }},
        {"f_divergence(user Pearson)", true, false,
         [](const T& t, const I& s, const O& o, const Out& out) { return dv::f_divergence(t, s, UserPearson{}, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::f_divergence(p, s, UserPearson{}, o, out); },
         [](const Buckets& p, const Buckets& q) { return f_sum(p, q, [](Long u) { return (u - 1) * (u - 1); }); }},
        {"squared_hellinger", true, false,
         [](const T& t, const I& s, const O& o, const Out& out) { return dv::squared_hellinger(t, s, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::squared_hellinger(p, s, o, out); }, sqrt_half_sum},
        {"total_variation", true, false,
         [](const T& t, const I& s, const O& o, const Out& out) { return dv::total_variation(t, s, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::total_variation(p, s, o, out); },
         [](const Buckets& p, const Buckets& q) { return f_sum(p, q, [](Long u) { return std::abs(u - 1) / 2; }); }},
        {"pearson_chi_squared", true, false,
         [](const T& t, const I& s, const O& o, const Out& out) { return dv::pearson_chi_squared(t, s, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::pearson_chi_squared(p, s, o, out); },
         [](const Buckets& p, const Buckets& q) { return f_sum(p, q, [](Long u) { return (u - 1) * (u - 1); }); }},
        {"neyman_chi_squared", true, false,
         [](const T& t, const I& s, const O& o, const Out& out) { return dv::neyman_chi_squared(t, s, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::neyman_chi_squared(p, s, o, out); },
         [](const Buckets& p, const Buckets& q) {
             return f_sum(p, q, [](Long u) { return u == 0 ? std::numeric_limits<Long>::infinity() : (u - 1) * (u - 1) / u; });
         }},
        {"jeffreys", true, false, [](const T& t, const I& s, const O& o, const Out& out) { return dv::jeffreys(t, s, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::jeffreys(p, s, o, out); },
         [](const Buckets& p, const Buckets& q) { return kl_sum(p, q) + kl_sum(q, p); }},
        {"triangular", true, false,
         [](const T& t, const I& s, const O& o, const Out& out) { return dv::triangular(t, s, o, out); },
         [](const I& p, const I& s, const O& o, const Out& out) { return dv::triangular(p, s, o, out); },
         [](const Buckets& p, const Buckets& q) { return f_sum(p, q, [](Long u) { return (u - 1) * (u - 1) / (u + 1); }); }},
        {"user element kernel (squared Euclidean)", false, false,
         [](const T& t, const I& s, const O& o, const Out& out) {
             return dv::detail::top_k_kernel_call("squared_euclidean", SquaredEuclideanKernel{}, t, s, o, out);
         },
         [](const I& p, const I& s, const O& o, const Out& out) {
             return dv::detail::call("squared_euclidean", SquaredEuclideanKernel{}, p, s, o, out);
         },
         [](const Buckets& p, const Buckets& q) {
             Long s = 0;
             for (std::size_t b = 0; b < p.size(); ++b) s += (p[b] - q[b]) * (p[b] - q[b]);
             return s;
         }},
    };
}

/// The teacher of t as a dense row-major matrix (0 outside K).
Matrix densify(const Teacher& t, Eigen::Index cols)
{
    Matrix dense = Matrix::Zero(t.probs.rows(), cols);
    for (Eigen::Index r = 0; r < dense.rows(); ++r) {
        for (Eigen::Index i = 0; i < t.indices.cols(); ++i) dense(r, t.indices(r, i)) = t.probs(r, i);
    }
    return dense;
}

/// The teacher completed on the columns outside K by `completion(r, j)` (non-negative, summing to 1
/// over the rest), scaled by the row's tail mass.
template <class Completion>
Matrix complete(const Teacher& t, Eigen::Index cols, const Completion& completion)
{
    Matrix dense = densify(t, cols);
    for (Eigen::Index r = 0; r < dense.rows(); ++r) {
        const double rest = 1.0 - t.probs.row(r).sum();
        const std::vector<bool> inside = in_k(t, r, cols);
        for (Eigen::Index c = 0; c < cols; ++c) {
            if (!inside[std::size_t(c)]) dense(r, c) = rest * completion(r, c);
        }
    }
    return dense;
}

/// The student's softmax(z / T) outside K, normalized over the rest (the proportional completion).
Matrix proportional(const Teacher& t, const Matrix& z, double temperature)
{
    Matrix share(z.rows(), z.cols());
    for (Eigen::Index r = 0; r < z.rows(); ++r) {
        const std::vector<bool> inside = in_k(t, r, z.cols());
        const std::vector<Long> log_q = log_softmax(z, r, temperature);
        Long q_rest = 0;
        for (Eigen::Index c = 0; c < z.cols(); ++c) q_rest += inside[std::size_t(c)] ? 0 : std::exp(log_q[std::size_t(c)]);
        for (Eigen::Index c = 0; c < z.cols(); ++c) share(r, c) = double(std::exp(log_q[std::size_t(c)]) / q_rest);
    }
    return share;
}

}  // namespace

TEST_CASE("top-k: every divergence equals its long-double formula on the k + 1 buckets, logits and log-probabilities",
          "[top_k]")
{
    const Eigen::Index rows = 3, cols = GENERATE(8, 1000), k = GENERATE(1, 5);
    const double mass = GENERATE(1.0, 0.7);
    const bool tail = GENERATE(true, false);
    const Teacher t = random_teacher(rows, cols, k, mass, 7);
    const Matrix z = test::random_logits(rows, cols, 8, 4.0);
    const double temperature = 1.7;
    Matrix log_q(rows, cols);
    std::vector<std::vector<Long>> log_q_rows;
    for (Eigen::Index r = 0; r < rows; ++r) {
        log_q_rows.push_back(log_softmax(z, r, temperature));
        for (Eigen::Index c = 0; c < cols; ++c) log_q(r, c) = double(log_q_rows.back()[std::size_t(c)]);
    }
    const Matrix log_p = t.probs.array().log().matrix();
    for (const Case<double>& d : all_cases<double>()) {
        if (!tail && !d.without_tail) continue;
        CAPTURE(d.name, cols, k, mass, tail);
        Eigen::VectorXd per_row(rows);
        dv::Outputs<double> out;
        out.row_values = per_row;
        const dv::Options sum{dv::Reduction::sum};
        const double value = d.sparse(dv::top_k(t.indices, dv::probs(t.probs), tail), dv::logits(z, temperature), sum, out);
        Long expected = 0;
        Buckets p, q;
        for (Eigen::Index r = 0; r < rows; ++r) {
            coarsen(t, log_q_rows[std::size_t(r)], r, tail, p, q);
            const Long row = d.formula(p, q);
            expected += row;
            if (std::isinf(row)) {
                CHECK(per_row[r] == std::numeric_limits<double>::infinity());
            } else {
                CHECK(per_row[r] == Approx(double(row)).epsilon(1e-11).margin(1e-14));
            }
        }
        if (!std::isinf(expected)) CHECK(value == Approx(double(expected)).epsilon(1e-11).margin(1e-14));
        // Log-probabilities of the teacher, and the student given as log-probabilities, give the same numbers.
        const double from_logs = d.sparse(dv::top_k(t.indices, dv::log_probs(log_p), tail), dv::log_probs(log_q), sum, {});
        if (std::isinf(value)) {
            CHECK(from_logs == value);
        } else {
            CHECK(from_logs == Approx(value).epsilon(1e-12).margin(1e-14));
        }
    }
}

TEMPLATE_TEST_CASE("top-k: with every column in K each divergence is the dense one, value and gradient, masks and weights",
                   "[top_k]", float, double)
{
    using S = TestType;
    const Eigen::Index rows = 4, cols = 40;
    const Teacher t = random_teacher(rows, cols, cols, 1.0, 31);  // all columns, shuffled
    const MatrixT<S> probs = t.probs.cast<S>();
    MatrixT<S> dense = densify(t, cols).cast<S>();
    const MatrixT<S> z = test::random_logits(rows, cols, 32, 3.0).cast<S>();
    MatrixT<S> log_q(rows, cols);
    for (Eigen::Index r = 0; r < rows; ++r) {
        const std::vector<Long> l = log_softmax(z.template cast<double>(), r, 0.8);
        for (Eigen::Index c = 0; c < cols; ++c) log_q(r, c) = S(l[std::size_t(c)]);
    }
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(rows);
    keep << true, false, true, true;
    Eigen::VectorXd weights(rows);
    weights << 0.5, 2.0, 0.0, 1.5;
    dv::Options options{dv::Reduction::mean};
    options.mask = keep;
    options.weights = weights;
    const double rtol = std::is_same_v<S, float> ? 2e-5 : 1e-11, atol = std::is_same_v<S, float> ? 1e-6 : 1e-14;
    const bool student_logits = GENERATE(true, false);
    for (const Case<S>& d : all_cases<S>()) {
        CAPTURE(d.name, student_logits);
        MatrixT<S> g_sparse(rows, cols), g_dense(rows, cols);
        dv::Outputs<S> sparse_out, dense_out;
        sparse_out.grad_q = g_sparse;
        dense_out.grad_q = g_dense;
        const dv::Input<S> student = student_logits ? dv::logits(z, S(0.8)) : dv::log_probs(log_q);
        const S sparse = d.sparse(dv::top_k(t.indices, dv::probs(probs)), student, options, sparse_out);
        const S full = d.dense(dv::probs(dense), student, options, dense_out);
        CHECK(double(sparse) == Approx(double(full)).epsilon(rtol).margin(atol));
        CHECK(test::close(g_sparse, g_dense, std::is_same_v<S, float> ? 1e-4 : 1e-10, atol));
    }
}

TEST_CASE("top-k with the tail equals the dense divergence to the teacher completed in proportion to the student "
          "(sufficiency of the coarsening: p/q constant on the rest bucket)",
          "[top_k][property]")
{
    const Eigen::Index rows = 2, cols = 300, k = 10;
    const Teacher t = random_teacher(rows, cols, k, 0.6, 41);
    const Matrix z = test::random_logits(rows, cols, 42, 3.0);
    const double temperature = 1.3;
    const Matrix share = proportional(t, z, temperature);
    const Matrix completed = complete(t, cols, [&](Eigen::Index r, Eigen::Index c) { return share(r, c); });
    for (const Case<double>& d : all_cases<double>()) {
        if (!d.f_type) continue;
        CAPTURE(d.name);
        const double sparse = d.sparse(dv::top_k(t.indices, t.probs), dv::logits(z, temperature), {}, {});
        const double full = d.dense(dv::probs(completed), dv::logits(z, temperature), {}, {});
        CHECK(sparse == Approx(full).epsilon(1e-11));
    }
}

TEST_CASE("top-k with the tail is a lower bound on the dense divergence to any completion of the teacher "
          "(data processing inequality for f-divergences)",
          "[top_k][property]")
{
    const Eigen::Index rows = 2, cols = 60, k = 6;
    const Teacher t = random_teacher(rows, cols, k, 0.5, 43);
    const Matrix z = test::random_logits(rows, cols, 44, 3.0);
    const double temperature = 0.9;
    const std::vector<Case<double>> cases = all_cases<double>();
    for (std::uint64_t seed = 0; seed < 12; ++seed) {
        // Spread, sparse (most of the rest 0) and near-proportional completions.
        const Matrix other = test::random_simplex_rows(rows, cols, 100 + seed, seed % 3 == 1 ? 0.9 : 0.0);
        const Matrix share = proportional(t, z, temperature);
        const Matrix completed = complete(t, cols, [&](Eigen::Index r, Eigen::Index c) {
            const std::vector<bool> inside = in_k(t, r, cols);
            double total = 0;
            for (Eigen::Index j = 0; j < cols; ++j) total += inside[std::size_t(j)] ? 0.0 : other(r, j);
            const double random = total > 0 ? other(r, c) / total : 0.0;
            return seed % 3 == 2 ? 0.9 * share(r, c) + 0.1 * random : random;
        });
        for (const Case<double>& d : cases) {
            if (!d.f_type) continue;
            CAPTURE(d.name, seed);
            const double sparse = d.sparse(dv::top_k(t.indices, t.probs), dv::logits(z, temperature), {dv::Reduction::sum}, {});
            const double full = d.dense(dv::probs(completed), dv::logits(z, temperature), {dv::Reduction::sum}, {});
            CHECK(sparse <= full * (1.0 + 1e-12) + 1e-15);
        }
    }
}

TEST_CASE("top-k: the student gradient of every divergence matches central finite differences, with a mask, weights and "
          "a temperature",
          "[top_k][gradient]")
{
    const bool tail = GENERATE(true, false);
    const bool student_logits = GENERATE(true, false);
    const Eigen::Index rows = 3, cols = 12, k = 4;
    const Teacher t = random_teacher(rows, cols, k, 0.8, 51);
    const Matrix z = test::random_logits(rows, cols, 52, 2.0);
    Matrix x(rows, cols);  // log-probabilities of the student
    for (Eigen::Index r = 0; r < rows; ++r) {
        const std::vector<Long> l = log_softmax(z, r, 1.0);
        for (Eigen::Index c = 0; c < cols; ++c) x(r, c) = double(l[std::size_t(c)]);
    }
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(rows);
    keep << true, true, false;
    Eigen::VectorXd weights(rows);
    weights << 0.7, 1.6, 1.0;
    dv::Options options{dv::Reduction::batchmean};
    options.mask = keep;
    options.weights = weights;
    // Perturbed log-probabilities no longer sum to 1 exactly: the function differentiated is that of
    // the numbers as given (q_j = e^(x_j)), unchecked.
    if (!student_logits) options.validation = dv::Validation::none;
    const auto student = [&](const Matrix& m) { return student_logits ? dv::logits(m, 1.4) : dv::log_probs(m); };
    const Matrix& at = student_logits ? z : x;
    for (const Case<double>& d : all_cases<double>()) {
        if (!tail && !d.without_tail) continue;
        CAPTURE(d.name, tail, student_logits);
        Matrix grad(rows, cols);
        dv::Outputs<double> out;
        out.grad_q = grad;
        d.sparse(dv::top_k(t.indices, t.probs, tail), student(at), options, out);
        const auto f = [&](const Matrix& m) { return d.sparse(dv::top_k(t.indices, t.probs, tail), student(m), options, {}); };
        // Step 1e-5: the values carry rounding noise of about 1e-13 relative (Pearson's tail bucket), which a
        // step of 1e-6 turned into differences 1.5e-6 off the exact gradient in some builds (-O1).
        CHECK(test::close(grad, test::central_difference(at, f, 1e-5), 1e-6, 1e-9));
        CHECK(grad.row(2).isZero());  // masked
    }
}

TEST_CASE("top-k without the tail: kl and cross_entropy count only the k columns (kl may be negative)", "[top_k]")
{
    Indices indices(1, 2);
    indices << 3, 0;
    Matrix p(1, 2), z(1, 5);
    p << 0.2, 0.1;
    z << 2.0, -1.0, 0.5, 3.0, 0.0;
    const std::vector<Long> log_q = log_softmax(z, 0, 1.0);
    const Long kl = 0.2L * std::log(0.2L) - 0.2L * log_q[3] + 0.1L * std::log(0.1L) - 0.1L * log_q[0];
    const Long ce = -0.2L * log_q[3] - 0.1L * log_q[0];
    CHECK(kl < 0);
    CHECK(dv::kl(dv::top_k(indices, p, false), dv::logits(z)) == Approx(double(kl)).epsilon(1e-14));
    CHECK(dv::cross_entropy(dv::top_k(indices, p, false), dv::logits(z)) == Approx(double(ce)).epsilon(1e-14));
    // The other divergences need the teacher's mass outside K.
    test::fails_with([&] { return dv::reverse_kl(dv::top_k(indices, p, false), dv::logits(z)); }, "argument 'p'",
                     "without its tail bucket", "kl and cross_entropy only");
    test::fails_with([&] { return dv::js_rows(dv::top_k(indices, p, false), dv::logits(z)); }, "divergence::js_rows",
                     "without its tail bucket");
    test::fails_with([&] { return dv::f_divergence(dv::top_k(indices, p, false), dv::logits(z), UserPearson{}); },
                     "without its tail bucket");
}

TEMPLATE_TEST_CASE("top-k is bitwise identical for 1 and 2 threads (row mode and chunk mode), any student layout, with weights",
                   "[top_k][executor]", float, double)
{
    const Eigen::Index rows = GENERATE(1, 5), cols = GENERATE(100, 70000);
    CAPTURE(rows, cols);
    const Teacher t = random_teacher(rows, cols, 20, 0.9, 61);
    const MatrixT<TestType> probs = t.probs.cast<TestType>();
    const MatrixT<TestType> z = test::random_logits(rows, cols, 62, 5.0).cast<TestType>();
    const Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> z_column_major = z;
    Eigen::VectorXd weights = Eigen::VectorXd::LinSpaced(rows, 0.5, 2.0);
    dv::Options options{dv::Reduction::mean};
    options.weights = weights;
    const std::vector<Case<TestType>> cases = all_cases<TestType>();
    for (const char* name : {"kl", "js", "f_divergence(user Pearson)"}) {
        const Case<TestType>& d = *std::find_if(cases.begin(), cases.end(), [&](const auto& c) { return c.name == name; });
        CAPTURE(d.name);
        const auto run = [&](int threads, bool column_major) {
            return test::with_threads(threads, [&] {
                MatrixT<TestType> g(rows, cols);
                Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> g_column_major(rows, cols);
                dv::Outputs<TestType> out;
                TestType v;
                if (column_major) {
                    out.grad_q = g_column_major;
                    v = d.sparse(dv::top_k(t.indices, probs), dv::logits(z_column_major, TestType(2)), options, out);
                    g = g_column_major;
                } else {
                    out.grad_q = g;
                    v = d.sparse(dv::top_k(t.indices, probs), dv::logits(z, TestType(2)), options, out);
                }
                return std::make_pair(v, g);
            });
        };
        const auto one = run(1, false), two = run(2, false), staged = run(2, true);
        CHECK(one.first == two.first);
        CHECK(one.second == two.second);
        CHECK(one.first == staged.first);
        CHECK(one.second == staged.second);
        CHECK(std::isfinite(double(one.first)));
    }
}

TEST_CASE("top-k: bad indices, masses, shapes, forms and outputs are rejected with the argument and row named", "[top_k][errors]")
{
    const Teacher t = random_teacher(2, 10, 3, 0.9, 71);
    const Matrix z = test::random_logits(2, 10, 72, 1.0);
    Indices out_of_range = t.indices;
    out_of_range(1, 2) = 10;
    test::fails_with([&] { return dv::kl(dv::top_k(out_of_range, t.probs), dv::logits(z)); }, "argument 'p'",
                     "row 1, column 2: index out of [0, V)");
    // Checked without validation too: the index would be read outside the student's row.
    dv::Options unchecked;
    unchecked.validation = dv::Validation::none;
    out_of_range(1, 2) = -1;
    test::fails_with([&] { return dv::js(dv::top_k(out_of_range, t.probs), dv::logits(z), unchecked); },
                     "row 1, column 2: index out of [0, V)");
    Indices repeated = t.indices;
    repeated(0, 1) = repeated(0, 0);
    test::fails_with([&] { return dv::reverse_kl(dv::top_k(repeated, t.probs), dv::logits(z)); }, "argument 'p', row 0",
                     "an index appears twice");
    const Matrix too_much = t.probs * 2.0;
    test::fails_with([&] { return dv::kl(dv::top_k(t.indices, too_much), dv::logits(z)); }, "row 0", "the top-k masses sum to");
    Matrix negative = t.probs;
    negative(1, 0) = -1e-3;
    test::fails_with([&] { return dv::js(dv::top_k(t.indices, negative), dv::logits(z)); }, "row 1, column 0",
                     "probability must be in [0, 1]");
    test::fails_with([&] { return dv::kl(dv::top_k(t.indices, t.probs), dv::probs(z)); }, "argument 'q'",
                     "the student must be given as logits");
    const Matrix z_short = test::random_logits(3, 10, 73, 1.0);
    test::fails_with([&] { return dv::total_variation(dv::top_k(t.indices, t.probs), dv::logits(z_short)); }, "argument 'q'",
                     "rows");
    test::fails_with([&] { return dv::kl(dv::top_k(t.indices, dv::logits(t.probs)), dv::logits(z)); },
                     "top-k values must be probabilities or log-probabilities");
    Matrix grad(2, 10);
    dv::Outputs<double> with_grad_p;
    with_grad_p.grad_p = grad;
    test::fails_with([&] { return dv::cross_entropy(dv::top_k(t.indices, t.probs), dv::logits(z), {}, with_grad_p); },
                     "argument 'grad_p'", "a top-k teacher has no gradient here");
    Eigen::VectorXd values(2);
    dv::Outputs<double> with_rows;
    with_rows.row_values = values;
    test::fails_with([&] { return dv::kl_rows(dv::top_k(t.indices, t.probs), dv::logits(z), {}, with_rows); }, "kl_rows",
                     "row_values");
    test::fails_with([&] { return dv::kl(dv::top_k(t.indices, t.probs), dv::logits(z), {dv::Reduction::none}); },
                     "options.reduction");
    test::fails_with([&] { return dv::generalized_js(dv::top_k(t.indices, t.probs), dv::logits(z), 1.5); }, "argument 'beta'");
    // A NaN tolerance is named as such, before it is used on the masses (it used to reject every one).
    dv::Options nan_tolerance;
    nan_tolerance.tolerance = std::numeric_limits<double>::quiet_NaN();
    test::fails_with([&] { return dv::kl(dv::top_k(t.indices, t.probs), dv::logits(z), nan_tolerance); }, "options.tolerance",
                     "must be finite");
}

TEST_CASE("top-k: support mismatches on a bucket are +inf with zero gradients, never NaN", "[top_k]")
{
    // Every column outside K has logit -inf: q_rest = 0 while the teacher's tail is 0.5.
    Indices indices(1, 2);
    indices << 0, 1;
    Matrix p(1, 2), z(1, 4), grad(1, 4);
    p << 0.25, 0.25;
    z << 0.0, 1.0, -std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity();
    dv::Outputs<double> out;
    out.grad_q = grad;
    CHECK(dv::kl(dv::top_k(indices, p), dv::logits(z), {}, out) == std::numeric_limits<double>::infinity());
    CHECK(grad.allFinite());
    CHECK(grad.isZero());
    // Without the tail the same rows are finite.
    CHECK(std::isfinite(dv::kl(dv::top_k(indices, p, false), dv::logits(z))));
    // A teacher with no tail (its masses sum to 1) and a student with mass outside K: reverse KL is +inf.
    Matrix full(1, 2), z_all(1, 4);
    full << 0.5, 0.5;
    z_all << 0.0, 1.0, 0.5, -0.5;
    CHECK(dv::reverse_kl(dv::top_k(indices, full), dv::logits(z_all), {}, out) == std::numeric_limits<double>::infinity());
    CHECK(grad.isZero());
    // ... while JSD stays finite (<= log 2) with a finite gradient.
    const double jsd = dv::js(dv::top_k(indices, full), dv::logits(z_all), {}, out);
    CHECK(jsd > 0.0);
    CHECK(jsd <= std::log(2.0));
    CHECK(grad.allFinite());
}

TEST_CASE("top-k: zero teacher masses on K, huge logits and unchecked repeated indices give the bucket values, never NaN",
          "[top_k]")
{
    Indices indices(1, 3);
    indices << 4, 1, 2;
    Matrix p(1, 3), z(1, 6), grad(1, 6);
    p << 0.5, 0.0, 0.3;  // a zero mass on K; tail 0.2
    z << 0.3, -1.0, 2.0, 0.0, 1.0, -0.5;
    dv::Outputs<double> out;
    out.grad_q = grad;
    const std::vector<Long> log_q = log_softmax(z, 0, 1.0);
    Teacher t{indices, p};
    Buckets bp, bq;
    coarsen(t, log_q, 0, true, bp, bq);
    CHECK(dv::kl(dv::top_k(indices, p), dv::logits(z), {}, out) == Approx(double(kl_sum(bp, bq))).epsilon(1e-13));
    CHECK(grad.allFinite());
    // Reverse KL: the student has mass on column 1, where the teacher has none.
    CHECK(dv::reverse_kl(dv::top_k(indices, p), dv::logits(z), {}, out) == std::numeric_limits<double>::infinity());
    CHECK(grad.isZero());
    CHECK(dv::js(dv::top_k(indices, p), dv::logits(z), {}, out) == Approx(double(gjs_sum(bp, bq, 0.5L))).epsilon(1e-13));
    CHECK(grad.allFinite());

    // Float logits of 1e4 at T = 0.5: the log-sum-exps are shifted, nothing overflows; the float and
    // double calls agree.
    const Matrix huge = z * 1e4;
    const MatrixT<float> huge_f = huge.cast<float>(), p_f = p.cast<float>();
    MatrixT<float> grad_f(1, 6);
    dv::Outputs<float> out_f;
    out_f.grad_q = grad_f;
    const float v_f = dv::jeffreys(dv::top_k(indices, p_f), dv::logits(huge_f, 0.5f), {}, out_f);
    const double v = dv::jeffreys(dv::top_k(indices, p), dv::logits(huge, 0.5));
    CHECK(std::isinf(v));  // q_rest underflows to exactly 0 in double too: r log(r / 0)
    CHECK(std::isinf(v_f));
    CHECK(grad_f.allFinite());
    const float js_f = dv::js(dv::top_k(indices, p_f), dv::logits(huge_f, 0.5f), {}, out_f);
    CHECK(double(js_f) == Approx(dv::js(dv::top_k(indices, p), dv::logits(huge, 0.5))).epsilon(1e-6));
    CHECK(grad_f.allFinite());

    // Repeated indices under Validation::none are not reported (that costs a sort per row), but are read
    // inside the row: a number, no crash.
    Indices repeated(1, 3);
    repeated << 2, 2, 0;
    dv::Options unchecked;
    unchecked.validation = dv::Validation::none;
    CHECK(std::isfinite(dv::js(dv::top_k(repeated, p), dv::logits(z), unchecked, out)));
}

}  // namespace discrete_top_k_test
