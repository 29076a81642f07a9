// The batch driver's fast-path machinery (core/rows.hpp): dispatch, thread-count independence,
// and memory (the counting global allocator of tests/support/counting_allocator.cpp).

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "divergence/discrete/f_divergence.hpp"
#include "divergence/discrete/jensen_shannon.hpp"
#include "divergence/discrete/kl.hpp"
#include "support/counting_allocator.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

namespace core_rows_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;

namespace {

template <class Scalar>
using Rows = dv::RowMatrix<Scalar>;

template <class Scalar>
struct Run {
    Scalar value;
    Eigen::Array<Scalar, Eigen::Dynamic, 1> rows;
    Rows<Scalar> grad_p, grad_q;
};

template <class Scalar>
Run<Scalar> kl_run(const Rows<Scalar>& zp, const Rows<Scalar>& zq, bool reverse)
{
    Run<Scalar> r;
    r.rows.resize(zp.rows());
    r.grad_p.resize(zp.rows(), zp.cols());
    r.grad_q.resize(zp.rows(), zp.cols());
    dv::Outputs<Scalar> out;
    out.row_values = r.rows;
    out.grad_p = r.grad_p;
    out.grad_q = r.grad_q;
    r.value = reverse ? dv::reverse_kl(dv::logits(zp, 1.3), dv::logits(zq, 0.9), {dv::Reduction::mean}, out)
                      : dv::kl(dv::logits(zp, 1.3), dv::logits(zq, 0.9), {dv::Reduction::mean}, out);
    return r;
}

template <class A>
bool same_bits(const A& a, const A& b)
{
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(*a.data()) * std::size_t(a.size())) == 0;
}

}  // namespace

TEST_CASE("the fused path is taken when both inputs are logits in any layout, or logits and given log-probabilities",
          "[rows][fused]")
{
    using dv::detail::fused_applies;
    struct LogitsOnly {};  // a fused kernel that does not declare takes_log_probs
    using Js = LogitsOnly;
    using Kl = dv::detail::FusedKl;
    const test::Matrix a = test::random_logits(3, 5, 1);
    const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor> column_major = a;
    const Eigen::VectorXd v = a.row(0).transpose();
    CHECK(fused_applies<Js>(dv::logits(a), dv::logits(a), true, true));
    CHECK(fused_applies<Js>(dv::logits(v), dv::logits(v), false, false));
    CHECK(fused_applies<Js>(dv::logits(column_major), dv::logits(a), false, true));
    CHECK_FALSE(fused_applies<Js>(dv::log_probs(a), dv::logits(a), false, false));
    CHECK_FALSE(fused_applies<Js>(dv::logits(a), dv::probs(a), false, false));
    // KL, JSD (and the JS distance) and f-divergences take log-probabilities as given beside logits,
    // unless their gradient is asked.
    CHECK(fused_applies<dv::detail::FusedJs>(dv::log_probs(a), dv::logits(a), false, false));
    CHECK(fused_applies<dv::detail::FusedMapped<dv::detail::FusedJs, dv::detail::SquareRoot>>(dv::log_probs(a), dv::logits(a),
                                                                                              false, false));
    CHECK(fused_applies<Kl>(dv::log_probs(a), dv::logits(a), false, true));
    CHECK(fused_applies<Kl>(dv::logits(a), dv::log_probs(a), true, false));
    CHECK_FALSE(fused_applies<Kl>(dv::log_probs(a), dv::logits(a), true, true));
    CHECK_FALSE(fused_applies<Kl>(dv::log_probs(a), dv::log_probs(a), false, false));
    CHECK(fused_applies<Kl>(dv::probs(a), dv::logits(a), false, true));  // staged as their logs
    CHECK_FALSE(fused_applies<Kl>(dv::probs(a), dv::logits(a), true, false));
    CHECK_FALSE(fused_applies<Kl>(dv::probs(a), dv::log_probs(a), false, false));
    STATIC_REQUIRE(dv::detail::FusedOf<dv::detail::KlKernel>::available);
    STATIC_REQUIRE(dv::detail::FusedOf<dv::detail::Swapped<dv::detail::KlKernel>>::swapped);
}

namespace {

/// Runs `loss(p, q, options, out)` on logits given as row-major matrices, writing row values and
/// both gradients into row-major matrices.
template <class Scalar, class Loss, class P, class Q, class G>
Run<Scalar> run_layout(const Loss& loss, const P& zp, const Q& zq, G& grad_p, G& grad_q, const dv::Options& options)
{
    Run<Scalar> r;
    r.rows.resize(zp.rows());
    dv::Outputs<Scalar> out;
    out.row_values = r.rows;
    out.grad_p = grad_p;
    out.grad_q = grad_q;
    r.value = loss(dv::logits(zp, 1.3), dv::logits(zq, 0.9), options, out);
    r.grad_p = grad_p;
    r.grad_q = grad_q;
    return r;
}

}  // namespace

TEMPLATE_TEST_CASE("staged rows (column-major, strided, in place) give the bits of contiguous rows",
                   "[rows][fused][staged]", float, double)
{
    // Tiles of 16 rows (37 = 16 + 16 + 5), rows of two chunks (40000), a mask that drops row 2.
    const Eigen::Index rows = GENERATE(1, 37), cols = GENERATE(7, 1000, 40000);
    CAPTURE(rows, cols);
    using Row = Rows<TestType>;
    using Column = Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
    const Row zp = test::random_logits(rows, cols, 11).cast<TestType>(), zq = test::random_logits(rows, cols, 12).cast<TestType>();
    Eigen::Array<bool, Eigen::Dynamic, 1> keep = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(rows, true);
    if (rows > 2) keep(2) = false;
    dv::Options options{dv::Reduction::batchmean};
    options.mask = keep;
    const auto check = [&](const char* name, const auto& loss) {
        CAPTURE(name);
        Row gp(rows, cols), gq(rows, cols);
        const Run<TestType> contiguous = run_layout<TestType>(loss, zp, zq, gp, gq, options);
        // Column-major inputs and gradients.
        const Column cp = zp, cq = zq;
        Column cgp(rows, cols), cgq(rows, cols);
        const Run<TestType> column = run_layout<TestType>(loss, cp, cq, cgp, cgq, options);
        CHECK(column.value == contiguous.value);
        CHECK(same_bits(column.rows, contiguous.rows));
        CHECK(same_bits(column.grad_p, contiguous.grad_p));
        CHECK(same_bits(column.grad_q, contiguous.grad_q));
        // Strided rows (every other entry of a wider buffer) with contiguous gradients.
        Row wide_p = Row::Zero(rows, 2 * cols), wide_q = Row::Zero(rows, 2 * cols);
        for (Eigen::Index c = 0; c < cols; ++c) {
            wide_p.col(2 * c) = zp.col(c);
            wide_q.col(2 * c) = zq.col(c);
        }
        using Strided = Eigen::Map<const Row, 0, Eigen::Stride<Eigen::Dynamic, 2>>;
        const Strided sp(wide_p.data(), rows, cols, Eigen::Stride<Eigen::Dynamic, 2>(2 * cols, 2));
        const Strided sq(wide_q.data(), rows, cols, Eigen::Stride<Eigen::Dynamic, 2>(2 * cols, 2));
        Row sgp(rows, cols), sgq(rows, cols);
        const Run<TestType> strided = run_layout<TestType>(loss, sp, sq, sgp, sgq, options);
        CHECK(strided.value == contiguous.value);
        CHECK(same_bits(strided.grad_p, contiguous.grad_p));
        CHECK(same_bits(strided.grad_q, contiguous.grad_q));
        // The student's gradient written over its column-major logits (in place): staged, the
        // gradient goes to a scratch row first. (A single column-major row is contiguous: not staged,
        // and in place the f-divergence kernel recomputes partials it would otherwise keep.)
        if (rows == 1) return;
        Column in_place = zq;
        dv::Outputs<TestType> out;
        out.grad_q = in_place;
        const TestType value = loss(dv::logits(cp, 1.3), dv::logits(in_place, 0.9), options, out);
        CHECK(value == contiguous.value);
        CHECK(same_bits(Row(in_place), contiguous.grad_q));
    };
    check("kl", [](const auto& p, const auto& q, const dv::Options& o, const auto& out) { return dv::kl(p, q, o, out); });
    check("reverse_kl",
          [](const auto& p, const auto& q, const dv::Options& o, const auto& out) { return dv::reverse_kl(p, q, o, out); });
    check("js", [](const auto& p, const auto& q, const dv::Options& o, const auto& out) { return dv::js(p, q, o, out); });
    check("squared_hellinger", [](const auto& p, const auto& q, const dv::Options& o, const auto& out) {
        return dv::f_divergence(p, q, dv::generators::SquaredHellinger{}, o, out);
    });
}

TEMPLATE_TEST_CASE("fused results are bitwise identical for 1, 2 and 3 threads (row mode and chunk mode)",
                   "[rows][fused][threads]", float, double)
{
#if defined(_OPENMP)
    // (1 x 262144) and (2 x 100000): long rows split into chunks across threads;
    // (9 x 40000): rows across threads, each row cut in two chunks.
    const auto shape = GENERATE(std::make_pair(1, 262144), std::make_pair(2, 100000), std::make_pair(9, 40000));
    const bool reverse = GENERATE(false, true);
    CAPTURE(shape.first, shape.second, reverse);
    const Rows<TestType> zp = test::random_logits(shape.first, shape.second, 5, 6.0).template cast<TestType>();
    const Rows<TestType> zq = test::random_logits(shape.first, shape.second, 6, 6.0).template cast<TestType>();
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const Run<TestType> one = kl_run(zp, zq, reverse);
    for (int threads : {2, 3}) {
        omp_set_num_threads(threads);
        const Run<TestType> many = kl_run(zp, zq, reverse);
        CAPTURE(threads);
        CHECK(std::memcmp(&one.value, &many.value, sizeof one.value) == 0);
        CHECK(same_bits(one.rows, many.rows));
        CHECK(same_bits(one.grad_p, many.grad_p));
        CHECK(same_bits(one.grad_q, many.grad_q));
    }
    omp_set_num_threads(saved);
#else
    SUCCEED("built without OpenMP: a single thread");
#endif
}

TEST_CASE("forward-only fused kl on (1024 x 32000) float allocates O(B) bytes (counting allocator)", "[rows][fused][memory]")
{
    const Eigen::Index rows = 1024, cols = 32000;
    Rows<float> zp(rows, cols), zq(rows, cols);
    std::uint32_t state = 12345u;  // a fast generator: 2 x 32M entries
    for (Eigen::Index i = 0; i < zp.size(); ++i) {
        state = state * 1664525u + 1013904223u;
        zp.data()[i] = float(state >> 8) * (8.0f / 16777216.0f) - 4.0f;
        zq.data()[i] = float((state * 747796405u) >> 8) * (8.0f / 16777216.0f) - 4.0f;
    }
    dv::Options options;
    options.validation = dv::Validation::none;
    const long long before = test::live_bytes();
    test::reset_peak_bytes();
    {
        const std::vector<char> megabyte(1 << 20);  // the allocator counts: a vector's buffer shows
        CHECK(test::live_bytes() - before >= (1 << 20));
    }
    test::reset_peak_bytes();
    const float value = dv::kl(dv::logits(zp), dv::logits(zq), options);
    const long long extra = test::peak_bytes() - before;
    CAPTURE(extra);
    CHECK(value > 0.0f);
    CHECK(extra < 64 * rows + 64 * 1024);
    // Nothing kept, except what the OpenMP runtime caches for its thread team on first use.
    CHECK(test::live_bytes() - before < 4096);
}

TEST_CASE("JSD and f-divergences between given log-probabilities and logits are those of the numbers as given",
          "[rows][fused]")
{
    // Teacher log-probabilities normalized only within rounding (mass e^(4e-8)), one zero entry; student
    // logits at T = 1.3. Long-double references from the numbers as given; the student gradient against
    // central differences (steps of 1e-4 relative: the values' rounding, about 1e-14, over steps of 1e-6
    // would be 1e-8); the value against the element-by-element path (teacher gradient asked).
    namespace ref = test::reference;
    const Eigen::Index v = 157;  // packet tails on every instruction set
    const double temperature = 1.3;
    const test::Matrix student = test::random_logits(2, v, 31);
    test::Matrix teacher = test::random_logits(2, v, 32);
    teacher(0, 3) = -std::numeric_limits<double>::infinity();
    for (Eigen::Index r = 0; r < 2; ++r) {
        const auto lp = ref::log_softmax(ref::row(teacher, r));
        for (Eigen::Index c = 0; c < v; ++c) teacher(r, c) = double(lp[c]) + 4e-8;
    }
    long double js = 0, hellinger = 0, pearson = 0, distance = 0;
    for (Eigen::Index r = 0; r < 2; ++r) {
        const auto q = ref::softmax(ref::row(student, r), temperature);
        long double row_js = 0;
        for (Eigen::Index c = 0; c < v; ++c) {
            const long double p = std::exp((long double)teacher(r, c)), m = (p + q[c]) / 2;
            row_js += (p > 0 ? p * std::log(p / m) / 2 : 0) + q[c] * std::log(q[c] / m) / 2;
            hellinger += (std::sqrt(p) - std::sqrt(q[c])) * (std::sqrt(p) - std::sqrt(q[c]));
            pearson += (p - q[c]) * (p - q[c]) / q[c];
        }
        js += row_js;
        distance += std::sqrt(row_js);
    }
    const dv::Options options{dv::Reduction::sum};
    const auto js_of = [&](const test::Matrix& s) { return dv::js(dv::log_probs(teacher), dv::logits(s, temperature), options); };
    const auto hellinger_of = [&](const test::Matrix& s) {
        return dv::f_divergence(dv::log_probs(teacher), dv::logits(s, temperature), dv::generators::SquaredHellinger{}, options);
    };
    const auto pearson_of = [&](const test::Matrix& s) {
        return dv::f_divergence(dv::log_probs(teacher), dv::logits(s, temperature), dv::generators::PearsonChiSquared{}, options);
    };
    CHECK(js_of(student) == Approx(double(js)).epsilon(1e-12));
    CHECK(dv::js_distance(dv::log_probs(teacher), dv::logits(student, temperature), options) ==
          Approx(double(distance)).epsilon(1e-12));
    CHECK(hellinger_of(student) == Approx(double(hellinger)).epsilon(1e-12));
    CHECK(pearson_of(student) == Approx(double(pearson)).epsilon(1e-12));

    test::Matrix g(2, v), g_teacher(2, v);
    dv::Outputs<double> student_only, both;
    student_only.grad_q = g;
    both.grad_q = g;
    both.grad_p = g_teacher;
    const double js_fused = dv::js(dv::log_probs(teacher), dv::logits(student, temperature), options, student_only);
    CHECK(test::close(g, test::central_difference(student, js_of, 1e-4)));
    CHECK(dv::js(dv::log_probs(teacher), dv::logits(student, temperature), options, both) == Approx(js_fused).epsilon(1e-12));
    const double hellinger_fused = dv::f_divergence(dv::log_probs(teacher), dv::logits(student, temperature),
                                                    dv::generators::SquaredHellinger{}, options, student_only);
    CHECK(test::close(g, test::central_difference(student, hellinger_of, 1e-4)));
    CHECK(dv::f_divergence(dv::log_probs(teacher), dv::logits(student, temperature), dv::generators::SquaredHellinger{}, options,
                           both) == Approx(hellinger_fused).epsilon(1e-12));
}

TEST_CASE("KL, JSD and f-divergences between given probabilities and logits are those of the numbers as given",
          "[rows][fused]")
{
    // Teacher probabilities (staged as their logs for the fused kernels) summing to 1 - 3e-8, with a zero;
    // student logits at T = 0.8 in a column-major matrix. References in long double from the numbers as
    // given; the values equal the element-by-element path's (teacher gradient asked); student gradients
    // against central differences.
    namespace ref = test::reference;
    const Eigen::Index v = 203;  // packet tails on every instruction set
    const double temperature = 0.8;
    const Eigen::MatrixXd student = test::random_logits(2, v, 41);
    test::Matrix teacher = test::random_logits(2, v, 42);
    teacher(1, 5) = -std::numeric_limits<double>::infinity();  // p = 0
    for (Eigen::Index r = 0; r < 2; ++r) {
        const auto p = ref::softmax(ref::row(teacher, r));
        for (Eigen::Index c = 0; c < v; ++c) teacher(r, c) = double(p[c] * (1 - 3e-8L));
    }
    long double kl = 0, js = 0, hellinger = 0;
    for (Eigen::Index r = 0; r < 2; ++r) {
        const auto q = ref::softmax(ref::row(student, r), temperature);
        for (Eigen::Index c = 0; c < v; ++c) {
            const long double p = teacher(r, c), m = (p + q[c]) / 2;
            if (p > 0) kl += p * std::log(p / q[c]), js += p * std::log(p / m) / 2;
            js += q[c] * std::log(q[c] / m) / 2;
            hellinger += (std::sqrt(p) - std::sqrt(q[c])) * (std::sqrt(p) - std::sqrt(q[c]));
        }
    }
    const dv::Options options{dv::Reduction::sum};
    const auto kl_of = [&](const Eigen::MatrixXd& s, const dv::Outputs<double>& out) {
        return dv::kl(dv::probs(teacher), dv::logits(s, temperature), options, out);
    };
    const auto js_of = [&](const Eigen::MatrixXd& s, const dv::Outputs<double>& out) {
        return dv::js(dv::probs(teacher), dv::logits(s, temperature), options, out);
    };
    const auto hellinger_of = [&](const Eigen::MatrixXd& s, const dv::Outputs<double>& out) {
        return dv::f_divergence(dv::probs(teacher), dv::logits(s, temperature), dv::generators::SquaredHellinger{}, options, out);
    };
    const long double expected[3] = {kl, js, hellinger};
    int k = 0;
    for (const auto& divergence : {std::function<double(const Eigen::MatrixXd&, const dv::Outputs<double>&)>(kl_of),
                                   std::function<double(const Eigen::MatrixXd&, const dv::Outputs<double>&)>(js_of),
                                   std::function<double(const Eigen::MatrixXd&, const dv::Outputs<double>&)>(hellinger_of)}) {
        CAPTURE(k);
        Eigen::MatrixXd g(2, v), g_teacher(2, v);
        dv::Outputs<double> student_only, both;
        student_only.grad_q = g;
        both.grad_q = g;
        both.grad_p = g_teacher;
        const double value = divergence(student, student_only);
        CHECK(value == Approx(double(expected[k])).epsilon(1e-12));
        const Eigen::MatrixXd fused_gradient = g;
        // A step of 1e-4 relative: the value's rounding (about 1e-14 here) over a step of 1e-6 would be 1e-8.
        CHECK(test::close(fused_gradient, test::central_difference(student, [&](const Eigen::MatrixXd& s) { return divergence(s, {}); }, 1e-4)));
        CHECK(divergence(student, both) == Approx(value).epsilon(1e-12));
        CHECK(test::close(g, fused_gradient, 1e-10, 1e-15));
        ++k;
    }
}

}  // namespace core_rows_test
