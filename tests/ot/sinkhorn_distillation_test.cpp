#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "divergence/ot/sinkhorn_distillation.hpp"
#include "reference/sinkd_reference_values.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/threads.hpp"

namespace ot_sinkhorn_distillation_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace ot = divergence::ot;

namespace {

// ---- An independent long-double reference: the K steps written as SinKD writes them (whole-matrix
// normalizations of exp(-W / eps)), nothing shared with the header.
using LMatrix = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;

enum class RefCost { manhattan, squared_euclidean, kl };

LMatrix ref_softmax(const test::Matrix& z, long double temperature, bool log)
{
    LMatrix out(z.rows(), z.cols());
    for (Eigen::Index r = 0; r < z.rows(); ++r) {
        long double m = -std::numeric_limits<long double>::infinity();
        for (Eigen::Index c = 0; c < z.cols(); ++c) m = std::max(m, (long double)z(r, c) / temperature);
        long double sum = 0;
        for (Eigen::Index c = 0; c < z.cols(); ++c) sum += std::exp((long double)z(r, c) / temperature - m);
        for (Eigen::Index c = 0; c < z.cols(); ++c) {
            const long double x = (long double)z(r, c) / temperature - m;
            out(r, c) = log ? x - std::log(sum) : std::exp(x) / sum;
        }
    }
    return out;
}

LMatrix ref_cost(const test::Matrix& teacher, const test::Matrix& student, long double temperature, RefCost cost)
{
    const LMatrix s = ref_softmax(student, temperature, false), t = ref_softmax(teacher, temperature, false);
    const LMatrix ls = ref_softmax(student, temperature, true), lt = ref_softmax(teacher, temperature, true);
    LMatrix w(s.rows(), t.rows());
    for (Eigen::Index i = 0; i < s.rows(); ++i) {
        for (Eigen::Index j = 0; j < t.rows(); ++j) {
            long double sum = 0;
            for (Eigen::Index k = 0; k < s.cols(); ++k) {
                const long double d = s(i, k) - t(j, k);
                if (cost == RefCost::manhattan) sum += std::fabs(d);
                if (cost == RefCost::squared_euclidean) sum += d * d;
                if (cost == RefCost::kl) sum += s(i, k) * (ls(i, k) - lt(j, k));
            }
            w(i, j) = sum;
        }
    }
    return w;
}

/// K iterations of [rows to sums a, columns to sums b] (or columns first) of exp(-W / eps).
LMatrix ref_plan(const LMatrix& w, long double epsilon, int iterations, bool rows_first = true, const Eigen::VectorXd* a = nullptr,
                 const Eigen::VectorXd* b = nullptr)
{
    LMatrix p = (-w / epsilon).array().exp().matrix();
    const auto rows = [&] {
        for (Eigen::Index i = 0; i < p.rows(); ++i) p.row(i) *= (a ? (long double)(*a)(i) : 1.0L) / p.row(i).sum();
    };
    const auto cols = [&] {
        for (Eigen::Index j = 0; j < p.cols(); ++j) p.col(j) *= (b ? (long double)(*b)(j) : 1.0L) / p.col(j).sum();
    };
    for (int k = 0; k < iterations; ++k) {
        if (rows_first) {
            rows();
            cols();
        } else {
            cols();
            rows();
        }
    }
    return p;
}

long double ref_loss(const test::Matrix& teacher, const test::Matrix& student, long double temperature, long double epsilon,
                     int iterations, long double scale, RefCost cost)
{
    const LMatrix w = ref_cost(teacher, student, temperature, cost);
    const LMatrix p = ref_plan(w, epsilon, iterations);
    return scale * (p.array() * w.array()).sum();
}

ot::DistillationCost cost_of(RefCost c)
{
    if (c == RefCost::manhattan) return ot::Manhattan{};
    if (c == RefCost::squared_euclidean) return ot::SquaredEuclidean{};
    return ot::KlCost{};
}

RefCost ref_cost_named(const std::string& name)
{
    if (name == "manhattan") return RefCost::manhattan;
    if (name == "squared_euclidean") return RefCost::squared_euclidean;
    return RefCost::kl;
}

test::Matrix matrix_of(const std::vector<double>& values, Eigen::Index rows, Eigen::Index cols)
{
    return Eigen::Map<const test::Matrix>(values.data(), rows, cols);
}

/// max |a - b| <= rtol * max |b|: a relative error over the whole matrix.
template <class A, class B>
double relative_error(const A& a, const B& b)
{
    const double scale = b.cwiseAbs().maxCoeff();
    return (a - b).cwiseAbs().maxCoeff() / (scale > 0.0 ? scale : 1.0);
}

struct Gradients {
    double value;
    test::Matrix teacher, student;
};

Gradients loss_and_gradients(const test::Matrix& teacher, const test::Matrix& student, const ot::SinkhornDistillationOptions& options)
{
    Gradients g{0.0, test::Matrix(teacher.rows(), teacher.cols()), test::Matrix(student.rows(), student.cols())};
    dv::Outputs<double> out;
    out.grad_p = g.teacher;
    out.grad_q = g.student;
    g.value = ot::sinkhorn_distillation_loss(teacher, student, options, out);
    return g;
}

}  // namespace

TEST_CASE("sinkhorn_distillation_loss matches PyTorch autograd through the K normalizations", "[sinkhorn_distillation][reference]")
{
    for (const auto& c : sinkd_reference::distillation_cases()) {
        CAPTURE(c.name);
        const test::Matrix teacher = matrix_of(c.teacher, c.b, c.v), student = matrix_of(c.student, c.b, c.v);
        ot::SinkhornDistillationOptions options;
        options.temperature = c.temperature;
        options.epsilon = c.epsilon;
        options.iterations = c.iterations;
        options.scale = c.scale;
        options.cost = cost_of(ref_cost_named(c.cost));
        const Gradients g = loss_and_gradients(teacher, student, options);
        CHECK(g.value == Approx(c.value).epsilon(1e-12));
        CHECK(relative_error(g.teacher, matrix_of(c.grad_teacher, c.b, c.v)) <= 1e-12);
        CHECK(relative_error(g.student, matrix_of(c.grad_student, c.b, c.v)) <= 1e-12);
        // The log-domain iterates give the same numbers.
        options.arithmetic = ot::SinkhornArithmetic::log;
        const Gradients l = loss_and_gradients(teacher, student, options);
        CHECK(l.value == Approx(c.value).epsilon(1e-12));
        CHECK(relative_error(l.student, matrix_of(c.grad_student, c.b, c.v)) <= 1e-12);
        CHECK(relative_error(l.teacher, matrix_of(c.grad_teacher, c.b, c.v)) <= 1e-12);
    }
}

TEST_CASE("the SinKD defaults are T 2, eps 0.1, K 20, scale 0.0008 x 20 / 8, L1 cost", "[sinkhorn_distillation]")
{
    const ot::SinkhornDistillationOptions o;
    CHECK(o.temperature == 2.0);
    CHECK(o.epsilon == 0.1);
    CHECK(o.iterations == 20);
    CHECK(o.scale == 0.002);
    CHECK(std::holds_alternative<ot::Manhattan>(o.cost));
}

TEST_CASE("unrolled_sinkhorn plan and cost gradient match PyTorch autograd", "[sinkhorn_distillation][unrolled][reference]")
{
    for (const auto& c : sinkd_reference::unrolled_cases()) {
        CAPTURE(c.name);
        const test::Matrix cost = matrix_of(c.cost, c.n, c.m), g = matrix_of(c.grad_plan, c.n, c.m);
        const Eigen::VectorXd a = Eigen::Map<const Eigen::VectorXd>(c.a.data(), Eigen::Index(c.a.size()));
        const Eigen::VectorXd b = Eigen::Map<const Eigen::VectorXd>(c.b.data(), Eigen::Index(c.b.size()));
        ot::UnrolledSinkhornOptions options;
        options.epsilon = c.epsilon;
        options.iterations = c.iterations;
        if (!c.a.empty()) options.row_sums = &a;
        if (!c.b.empty()) options.column_sums = &b;
        const auto arithmetic = GENERATE(ot::SinkhornArithmetic::automatic, ot::SinkhornArithmetic::log);
        options.arithmetic = arithmetic;
        const ot::UnrolledSinkhorn s = ot::unrolled_sinkhorn(cost, options);
        CHECK(s.log_domain() == (arithmetic == ot::SinkhornArithmetic::log));
        CHECK(relative_error(s.plan(), matrix_of(c.plan, c.n, c.m)) <= 1e-13);
        CHECK(relative_error(s.cost_gradient(g), matrix_of(c.grad_cost, c.n, c.m)) <= 1e-12);
    }
}

TEST_CASE("sinkhorn_distillation_loss matches a long-double reference for every cost", "[sinkhorn_distillation][reference]")
{
    const auto b = GENERATE(1, 2, 5, 16);
    const auto v = GENERATE(2, 9, 300);
    const auto cost = GENERATE(RefCost::manhattan, RefCost::squared_euclidean, RefCost::kl);
    const auto seed = GENERATE(101u, 202u, 303u);  // fixed: the same cases in every run and order
    CAPTURE(b, v, int(cost), seed);
    const test::Matrix teacher = test::random_logits(b, v, seed), student = test::random_logits(b, v, seed + 1);
    ot::SinkhornDistillationOptions options;
    options.cost = cost_of(cost);
    const double value = ot::sinkhorn_distillation_loss(teacher, student, options);
    const long double expected = ref_loss(teacher, student, 2.0L, 0.1L, 20, 0.002L, cost);
    CHECK(value == Approx(double(expected)).epsilon(1e-13));
}

TEST_CASE("sinkhorn_distillation_loss gradients match central differences for each cost", "[sinkhorn_distillation][gradient]")
{
    const auto cost = GENERATE(RefCost::manhattan, RefCost::squared_euclidean, RefCost::kl);
    const auto seed = GENERATE(101u, 202u, 303u);  // fixed: the same cases in every run and order
    const double temperature = GENERATE(0.7, 2.0);
    CAPTURE(int(cost), seed, temperature);
    const test::Matrix teacher = test::random_logits(5, 7, seed), student = test::random_logits(5, 7, seed + 1);
    ot::SinkhornDistillationOptions options;
    options.cost = cost_of(cost);
    options.temperature = temperature;
    options.scale = 1.0;
    options.epsilon = 0.2;
    options.iterations = 6;
    const Gradients g = loss_and_gradients(teacher, student, options);
    const auto fs = [&](const test::Matrix& x) { return ot::sinkhorn_distillation_loss(teacher, x, options); };
    const auto ft = [&](const test::Matrix& x) { return ot::sinkhorn_distillation_loss(x, student, options); };
    // A step of 1e-5 (relative): the value's rounding (~1e-14) over a step of 1e-6 would be ~3e-8 here.
    CHECK(test::close(g.student, test::central_difference(student, fs, 1e-5), 1e-6, 2e-8));
    CHECK(test::close(g.teacher, test::central_difference(teacher, ft, 1e-5), 1e-6, 2e-8));
}

TEST_CASE("the fixed-K adjoint matches central differences of the fixed-K map", "[sinkhorn_distillation][unrolled][gradient]")
{
    const auto order = GENERATE(ot::NormalizationOrder::rows_first, ot::NormalizationOrder::columns_first);
    const auto arithmetic = GENERATE(ot::SinkhornArithmetic::automatic, ot::SinkhornArithmetic::log);
    const auto weighted = GENERATE(false, true);
    const auto iterations = GENERATE(1, 3, 25);
    const auto seed = GENERATE(770627u, 933257u);  // fixed: the same cases on every run
    CAPTURE(int(order), int(arithmetic), weighted, iterations, seed);
    // Entries >= 0.5: central_difference's steps are relative, and a step of 1e-6 |c| on an entry near
    // 0 drowns the difference in rounding (1e-16 / 1e-9).
    const test::Matrix cost = (test::random_simplex_rows(4, 6, seed).array() * 3.0 + 0.5).matrix();
    const test::Matrix g = test::random_logits(4, 6, seed + 5, 1.0);
    const Eigen::VectorXd a = test::random_simplex(4, seed + 2).array() + 0.5;
    Eigen::VectorXd b = test::random_simplex(6, seed + 3).array() + 0.5;
    b *= a.sum() / b.sum();
    ot::UnrolledSinkhornOptions options;
    options.epsilon = 0.3;
    options.iterations = iterations;
    options.order = order;
    options.arithmetic = arithmetic;
    if (weighted) {
        options.row_sums = &a;
        options.column_sums = &b;
    }
    const ot::UnrolledSinkhorn s = ot::unrolled_sinkhorn(cost, options);
    const auto f = [&](const test::Matrix& c) { return (ot::unrolled_sinkhorn(c, options).plan().array() * g.array()).sum(); };
    const test::Matrix analytic = s.cost_gradient(g), numeric = test::central_difference(cost, f, 1e-6);
    CAPTURE((analytic - numeric).cwiseAbs().maxCoeff(), numeric.cwiseAbs().maxCoeff());
    CHECK(test::close(analytic, numeric, 1e-6, 1e-9));
    // And the plan is the long-double reference's.
    const LMatrix expected = ref_plan(cost.cast<long double>(), 0.3L, iterations, order == ot::NormalizationOrder::rows_first,
                                      weighted ? &a : nullptr, weighted ? &b : nullptr);
    CHECK(relative_error(s.plan(), test::Matrix(expected.cast<double>())) <= 1e-14);
}

TEST_CASE("the adjoint is not the envelope-theorem gradient P", "[sinkhorn_distillation][unrolled]")
{
    // For L = <P_K(C), C> the envelope theorem would say dL/dC = P; unrolled, dL/dC = P + (dP/dC)^T C.
    const test::Matrix cost = (test::random_simplex_rows(6, 6, 3).array() * 2.0).matrix();
    const ot::UnrolledSinkhorn s = ot::unrolled_sinkhorn(cost);
    const test::Matrix exact = s.plan() + s.cost_gradient(cost);
    const auto f = [&](const test::Matrix& c) { return (ot::unrolled_sinkhorn(c).plan().array() * c.array()).sum(); };
    CHECK(test::close(exact, test::central_difference(cost, f), 1e-6, 1e-9));
    CHECK(relative_error(test::Matrix(s.plan()), exact) > 0.1);
}

TEST_CASE("after the last step its marginal holds to rounding and P_K approaches the doubly stochastic fixed point (Sinkhorn-Knopp)",
          "[sinkhorn_distillation][unrolled][property]")
{
    const auto seed = GENERATE(101u, 202u, 303u);  // fixed: the same cases in every run and order
    const test::Matrix cost = (test::random_simplex_rows(8, 8, seed).array() * 4.0).matrix();
    ot::UnrolledSinkhornOptions options;
    options.epsilon = 0.1;
    const double u = std::numeric_limits<double>::epsilon();
    // rows first: the last step normalizes the columns.
    const test::Matrix p = ot::unrolled_sinkhorn(cost, options).plan();
    CHECK((p.colwise().sum().array() - 1.0).abs().maxCoeff() <= 8 * u);
    // columns first: the last step normalizes the rows.
    options.order = ot::NormalizationOrder::columns_first;
    const test::Matrix q = ot::unrolled_sinkhorn(cost, options).plan();
    CHECK((q.rowwise().sum().array() - 1.0).abs().maxCoeff() <= 8 * u);
    // The other marginal's error shrinks with K (linear convergence) down to rounding.
    options.order = ot::NormalizationOrder::rows_first;
    double previous = std::numeric_limits<double>::infinity();
    for (const int k : {1, 5, 20, 100, 2000}) {
        options.iterations = k;
        const test::Matrix pk = ot::unrolled_sinkhorn(cost, options).plan();
        const double error = (pk.rowwise().sum().array() - 1.0).abs().maxCoeff();
        CAPTURE(k, error);
        CHECK(error <= previous);
        previous = error;
    }
    CHECK(previous <= 1e-13);
    // At the fixed point, another iteration changes nothing.
    options.iterations = 2000;
    const test::Matrix p1 = ot::unrolled_sinkhorn(cost, options).plan();
    options.iterations = 2001;
    CHECK(relative_error(test::Matrix(ot::unrolled_sinkhorn(cost, options).plan()), p1) <= 1e-13);
}

TEST_CASE("teacher == student: W_ii = 0 but off-diagonal transport keeps the loss > 0 and its gradient nonzero",
          "[sinkhorn_distillation][property]")
{
    const auto seed = GENERATE(101u, 202u, 303u);  // fixed: the same cases in every run and order
    const test::Matrix z = test::random_logits(8, 10, seed);
    ot::SinkhornDistillationOptions options;
    const Gradients g = loss_and_gradients(z, z, options);
    CHECK(g.value > 0.0);
    // The value is scale * sum_{i != j} P_ij W_ij (the diagonal costs are 0).
    const LMatrix w = ref_cost(z, z, 2.0L, RefCost::manhattan);
    const LMatrix p = ref_plan(w, 0.1L, 20);
    for (Eigen::Index i = 0; i < 8; ++i) CHECK(w(i, i) == 0.0L);
    CHECK(g.value == Approx(double(0.002L * (p.array() * w.array()).sum())).epsilon(1e-13));
    CHECK(g.student.cwiseAbs().maxCoeff() > 0.0);
    // Smaller epsilon: P -> identity, the loss -> 0.
    double previous = g.value;
    for (const double epsilon : {0.03, 0.01, 0.003}) {
        options.epsilon = epsilon;
        options.iterations = 200;
        const double value = ot::sinkhorn_distillation_loss(z, z, options);
        CAPTURE(epsilon, value);
        CHECK(value < previous);
        previous = value;
    }
}

TEST_CASE("the log domain takes over where exp(-W / eps) underflows, with the same plan", "[sinkhorn_distillation][unrolled]")
{
    const auto seed = GENERATE(101u, 202u, 303u);  // fixed: the same cases in every run and order
    // Costs in [0, 60] at eps = 0.1: a kernel range of e^-600 (below 1e-100 after the row shift).
    // (+ 0.5: central_difference's steps are relative; entries near 0 would drown it in rounding)
    const test::Matrix cost = (test::random_simplex_rows(5, 5, seed).array() * 60.0 + 0.5).matrix();
    ot::UnrolledSinkhornOptions options;
    options.iterations = 30;
    const ot::UnrolledSinkhorn s = ot::unrolled_sinkhorn(cost, options);
    CHECK(s.log_domain());
    CHECK(s.plan().allFinite());
    // long double holds exp(-600): the whole-matrix iteration is exact there.
    const LMatrix expected = ref_plan(cost.cast<long double>(), 0.1L, 30);
    CHECK(relative_error(s.plan(), test::Matrix(expected.cast<double>())) <= 1e-12);
    const test::Matrix g = test::random_logits(5, 5, seed + 1, 1.0);
    const auto f = [&](const test::Matrix& c) { return (ot::unrolled_sinkhorn(c, options).plan().array() * g.array()).sum(); };
    CHECK(test::close(s.cost_gradient(g), test::central_difference(cost, f), 1e-5, 1e-8));
    // Small costs stay in the scaling domain.
    CHECK_FALSE(ot::unrolled_sinkhorn(test::Matrix(cost / 60.0), options).log_domain());
}

TEST_CASE("float logits and any layout give the double result", "[sinkhorn_distillation]")
{
    const test::MatrixF teacher = test::random_logits(6, 40, 7).cast<float>(), student = test::random_logits(6, 40, 8).cast<float>();
    const test::Matrix td = teacher.cast<double>(), sd = student.cast<double>();
    ot::SinkhornDistillationOptions options;
    const Gradients d = loss_and_gradients(td, sd, options);
    test::MatrixF gs(6, 40), gt(6, 40);
    dv::Outputs<float> out;
    out.grad_q = gs;
    out.grad_p = gt;
    const float value = ot::sinkhorn_distillation_loss(teacher, student, options, out);
    CHECK(value == float(d.value));
    CHECK(gs == d.student.cast<float>());
    CHECK(gt == d.teacher.cast<float>());
    // Column-major and an expression: the same bits.
    const Eigen::MatrixXd tc = td, sc = sd;
    Eigen::MatrixXd gc(6, 40);
    dv::Outputs<double> outc;
    outc.grad_q = gc;
    CHECK(ot::sinkhorn_distillation_loss(tc, sc * 1.0, options, outc) == d.value);
    CHECK(gc == Eigen::MatrixXd(d.student));
}

TEST_CASE("groups are independent problems: sum and mean of the per-group losses and gradients", "[sinkhorn_distillation][groups]")
{
    const std::vector<Eigen::Index> sizes = {3, 5, 1, 4};
    const test::Matrix teacher = test::random_logits(13, 11, 5), student = test::random_logits(13, 11, 6);
    const auto reduction = GENERATE(dv::Reduction::sum, dv::Reduction::mean);
    ot::SinkhornDistillationOptions options;
    options.reduction = reduction;
    test::Matrix gs(13, 11), gt(13, 11);
    Eigen::VectorXd values(4);
    dv::Outputs<double> out;
    out.grad_q = gs;
    out.grad_p = gt;
    out.row_values = values;
    const double total = ot::sinkhorn_distillation_loss_groups(teacher, student, sizes, options, out);
    double sum = 0.0;
    Eigen::Index first = 0;
    const double factor = reduction == dv::Reduction::sum ? 1.0 : 0.25;
    for (std::size_t g = 0; g < sizes.size(); ++g) {
        const Eigen::Index n = sizes[g];
        const Gradients one = loss_and_gradients(teacher.middleRows(first, n), student.middleRows(first, n), options);
        CHECK(values(Eigen::Index(g)) == one.value);
        sum += one.value;
        CHECK(relative_error(test::Matrix(gs.middleRows(first, n)), test::Matrix(factor * one.student)) <= 1e-15);
        CHECK(relative_error(test::Matrix(gt.middleRows(first, n)), test::Matrix(factor * one.teacher)) <= 1e-15);
        first += n;
    }
    CHECK(total == Approx(factor * sum).epsilon(1e-15));
}

TEST_CASE("results do not depend on the number of threads", "[sinkhorn_distillation][threads]")
{
    const test::Matrix teacher = test::random_logits(24, 3000, 41), student = test::random_logits(24, 3000, 42);
    const std::vector<Eigen::Index> sizes(6, 4);
    const auto cost = GENERATE(RefCost::manhattan, RefCost::squared_euclidean, RefCost::kl);
    ot::SinkhornDistillationOptions options;
    options.cost = cost_of(cost);
    const auto run = [&](bool groups) {
        Gradients g{0.0, test::Matrix(24, 3000), test::Matrix(24, 3000)};
        dv::Outputs<double> out;
        out.grad_p = g.teacher;
        out.grad_q = g.student;
        g.value = groups ? ot::sinkhorn_distillation_loss_groups(teacher, student, sizes, options, out)
                         : ot::sinkhorn_distillation_loss(teacher, student, options, out);
        return g;
    };
    for (const bool groups : {false, true}) {
        CAPTURE(groups);
        const Gradients one = test::with_threads(1, [&] { return run(groups); });
        for (const int threads : {2, 3, 8}) {
            const Gradients many = test::with_threads(threads, [&] { return run(groups); });
            CHECK(many.value == one.value);
            CHECK(many.student == one.student);
            CHECK(many.teacher == one.teacher);
        }
    }
}

TEST_CASE("sinkhorn_distillation_loss reports misuse with the library's message format", "[sinkhorn_distillation][errors]")
{
    using Catch::Matchers::Contains;
    const test::Matrix t = test::random_logits(4, 5, 1), s = test::random_logits(4, 5, 2);
    ot::SinkhornDistillationOptions o;
    const auto loss = [&](const test::Matrix& teacher, const test::Matrix& student) {
        return ot::sinkhorn_distillation_loss(teacher, student, o);
    };
    CHECK_THROWS_AS(loss(t, test::random_logits(4, 6, 2)), std::invalid_argument);
    CHECK_THROWS_WITH(loss(t, test::random_logits(4, 6, 2)),
                      "divergence::ot::sinkhorn_distillation_loss: argument 'student_logits': shapes differ: 4 x 6, teacher_logits 4 x 5");
    CHECK_THROWS_WITH(loss(t, test::random_logits(3, 5, 2)), Contains("shapes differ"));
    CHECK_THROWS_WITH(loss(test::Matrix(0, 5), test::Matrix(0, 5)), Contains("argument 'teacher_logits': is empty"));
    for (const double temperature : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
        o = {};
        o.temperature = temperature;
        CHECK_THROWS_WITH(loss(t, s), Contains("argument 'options.temperature': temperature must be finite and > 0"));
    }
    for (const double epsilon : {0.0, -0.1, std::nan("")}) {
        o = {};
        o.epsilon = epsilon;
        CHECK_THROWS_WITH(loss(t, s), Contains("argument 'options.epsilon': must be finite and > 0"));
    }
    o = {};
    o.iterations = 0;
    CHECK_THROWS_WITH(loss(t, s), "divergence::ot::sinkhorn_distillation_loss: argument 'options.iterations': must be >= 1, got (0)");
    o = {};
    o.scale = std::nan("");
    CHECK_THROWS_WITH(loss(t, s), Contains("argument 'options.scale': must be finite"));
    o = {};
    test::Matrix bad = s;
    bad(2, 3) = std::nan("");
    CHECK_THROWS_WITH(loss(t, bad),
                      "divergence::ot::sinkhorn_distillation_loss: argument 'student_logits', row 2, column 3: logit must be finite or -inf, got (nan)");
    bad = t;
    bad(1, 0) = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH(loss(bad, s), Contains("argument 'teacher_logits', row 1, column 0: logit must be finite or -inf"));
    bad = t;
    bad.row(3).setConstant(-std::numeric_limits<double>::infinity());
    CHECK_THROWS_WITH(loss(bad, s), Contains("argument 'teacher_logits', row 3: every logit is -inf"));
    bad = s;
    bad(0, 0) = 1e300;
    o.temperature = 1e-10;
    CHECK_THROWS_WITH(loss(t, bad), Contains("row 0, column 0: logit / temperature overflows"));
    o = {};
    bad = s;
    bad(0, 4) = -std::numeric_limits<double>::infinity();
    CHECK_NOTHROW(loss(t, bad));  // a -inf logit is an outcome of probability 0
    o.cost = ot::KlCost{};
    CHECK_THROWS_WITH(loss(t, bad), Contains("row 0, column 4: KlCost needs finite logits"));
    // Outputs of the wrong shape.
    o = {};
    test::Matrix g(4, 4);
    dv::Outputs<double> out;
    out.grad_q = g;
    CHECK_THROWS_WITH(ot::sinkhorn_distillation_loss(t, s, o, out), Contains("argument 'grad_q': output shape differs: 4 x 4"));
}

TEST_CASE("sinkhorn_distillation_loss_groups reports bad groups", "[sinkhorn_distillation][errors]")
{
    using Catch::Matchers::Contains;
    const test::Matrix t = test::random_logits(6, 5, 1), s = test::random_logits(6, 5, 2);
    ot::SinkhornDistillationOptions o;
    CHECK_THROWS_WITH(ot::sinkhorn_distillation_loss_groups(t, s, {3, 2}, o),
                      "divergence::ot::sinkhorn_distillation_loss_groups: argument 'group_sizes': add up to 5 rows, the logits have 6");
    CHECK_THROWS_WITH(ot::sinkhorn_distillation_loss_groups(t, s, {3, 0, 3}, o), Contains("argument 'group_sizes', row 1: group size must be >= 1"));
    CHECK_THROWS_WITH(ot::sinkhorn_distillation_loss_groups(t, s, {}, o), Contains("argument 'group_sizes': is empty"));
    o.reduction = dv::Reduction::none;
    CHECK_THROWS_WITH(ot::sinkhorn_distillation_loss_groups(t, s, {3, 3}, o), Contains("argument 'options.reduction'"));
    o = {};
    Eigen::VectorXd values(3);
    dv::Outputs<double> out;
    out.row_values = values;
    CHECK_THROWS_WITH(ot::sinkhorn_distillation_loss_groups(t, s, {3, 3}, o, out), Contains("argument 'row_values': has 3 entries for 2 groups"));
    o.epsilon = 0.0;
    CHECK_THROWS_WITH(ot::sinkhorn_distillation_loss_groups(t, s, {3, 3}, o), Contains("argument 'options.epsilon'"));
}

TEST_CASE("unrolled_sinkhorn reports misuse", "[sinkhorn_distillation][unrolled][errors]")
{
    using Catch::Matchers::Contains;
    test::Matrix c = test::random_simplex_rows(3, 4, 1);
    ot::UnrolledSinkhornOptions o;
    o.epsilon = -1.0;
    CHECK_THROWS_WITH(ot::unrolled_sinkhorn(c, o), "divergence::ot::unrolled_sinkhorn: argument 'options.epsilon': must be finite and > 0, got (-1)");
    o = {};
    o.iterations = 0;
    CHECK_THROWS_WITH(ot::unrolled_sinkhorn(c, o), Contains("argument 'options.iterations': must be >= 1"));
    o = {};
    const Eigen::VectorXd short_a = Eigen::VectorXd::Ones(2);
    o.row_sums = &short_a;
    CHECK_THROWS_WITH(ot::unrolled_sinkhorn(c, o), Contains("argument 'options.row_sums': has 2 entries for 3 rows"));
    o = {};
    Eigen::VectorXd b = Eigen::VectorXd::Ones(4);
    b(2) = 0.0;
    o.column_sums = &b;
    CHECK_THROWS_WITH(ot::unrolled_sinkhorn(c, o), Contains("argument 'options.column_sums', row 2: must be finite and > 0, got (0)"));
    o = {};
    CHECK_THROWS_WITH(ot::unrolled_sinkhorn(test::Matrix(0, 3), o), Contains("argument 'cost': is empty"));
    c(1, 2) = std::nan("");
    CHECK_THROWS_WITH(ot::unrolled_sinkhorn(c, o), "divergence::ot::unrolled_sinkhorn: argument 'cost', row 1, column 2: must be finite, got (nan)");
    c(1, 2) = 0.5;
    const ot::UnrolledSinkhorn s = ot::unrolled_sinkhorn(c, o);
    CHECK_THROWS_WITH(s.cost_gradient(test::Matrix(4, 3)), Contains("argument 'grad_plan': has shape 4 x 3, the plan 3 x 4"));
    test::Matrix g = test::Matrix::Zero(3, 4);
    g(0, 1) = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH(s.cost_gradient(g), Contains("argument 'grad_plan', row 0, column 1: must be finite"));
}

TEST_CASE("unrolled_sinkhorn refuses an epsilon under which a whole column of the kernel leaves double's exponent range",
          "[sinkhorn_distillation][unrolled][errors]")
{
    // The fuzzer's case: epsilon 1e-300 and costs some 1e10 apart, columns first. In the transposed problem rows 0 and
    // 1 of the cost have every (C_ij - min) / epsilon beyond DBL_MAX: their log-kernel columns were all -inf, the
    // column potential +inf, and the plan -inf + inf = NaN. Now refused, naming epsilon; rows first the same cost
    // keeps a representable entry in every column and gives a finite plan with the target column sums.
    const double big = 4352722167.96875;
    const test::Matrix c = (test::Matrix(3, 3) << big, big, big, big, big, 0.0, 0.5, -9948425292.96875, -7625732421.875).finished();
    ot::UnrolledSinkhornOptions o;
    o.epsilon = 1e-300;
    o.iterations = 2;
    o.order = ot::NormalizationOrder::columns_first;
    test::fails_with([&] { (void)ot::unrolled_sinkhorn(c, o); }, "ot::unrolled_sinkhorn", "options.epsilon", "row 0");
    o.order = ot::NormalizationOrder::rows_first;
    const ot::UnrolledSinkhorn s = ot::unrolled_sinkhorn(c, o);
    CHECK(s.plan().allFinite());
    for (Eigen::Index j = 0; j < 3; ++j) CHECK(s.plan().col(j).sum() == Approx(1.0).epsilon(1e-12));
    o.epsilon = 1e-3;  // large entries of (C - min) / epsilon (1e13) are no error
    o.order = ot::NormalizationOrder::columns_first;
    CHECK(ot::unrolled_sinkhorn(c, o).plan().allFinite());
}


TEST_CASE("sinkhorn_distillation_loss refuses an epsilon under which a whole column of the kernel leaves double's exponent range",
          "[sinkhorn_distillation][errors]")
{
    // The fuzzer's case: KL cost between one-hot-like softmax rows (logits some 1e37 apart) at epsilon 1e-300. W's
    // entries differ by about 1e37, so (W_ij - min_j W_i.) / epsilon overflows everywhere but at each row's minimum;
    // a column holding no row's minimum had an all -inf log-kernel and the loss was NaN. Now refused, naming epsilon,
    // by the single loss and by the groups (each group checked, the first failing group's error rethrown after the loop,
    // on any number of threads); at epsilon 0.1 the same logits give a finite loss.
    test::Matrix t(3, 5), s(3, 5);
    t << -4.218750071113749e+37, -9.6871952322938548e+37, -9.9996944300211575e+37, -9.9176023912708576e+37, -9.9710080039982328e+37,
        5.1727294038697047e+37, -2.8195191132926698e+37, -3.88488766488104e+36, 2.2406005777467205e+37, 5.904541053020021e+37,
        -7.3590088716255652e+37, -3.7359617905951472e+37, 3.1240845929733841e+37, 2.1023559274183508e+37, -9.4305416211692465e+37;
    s << -4.5065308427269615e+37, -2.286987209100632e+37, 7.9592896015564405e+37, -1.953430179897518e+37, 6.2881468293960458e+37,
        2.9751587186874913e+37, -2.3361205857751181e+37, -2.593994215528651e+35, -9.8922727040373372e+37, -9.0222171651490113e+37,
        -2.4505614515887272e+36, 5.1525879570127984e+37, -2.5790404702968537e+37, -8.9489743417087845e+37, -1.5423583447314081e+37;
    ot::SinkhornDistillationOptions o;
    o.cost = ot::KlCost{};
    o.epsilon = 1e-300;
    o.iterations = 1;
    test::fails_with([&] { (void)ot::sinkhorn_distillation_loss(t, s, o); }, "ot::sinkhorn_distillation_loss", "options.epsilon", "column");
    const test::Matrix t2 = (test::Matrix(4, 5) << t.row(0), t).finished(), s2 = (test::Matrix(4, 5) << s.row(0), s).finished();
    test::fails_with([&] { (void)ot::sinkhorn_distillation_loss_groups(t2, s2, {1, 3}, o); }, "ot::sinkhorn_distillation_loss_groups",
                     "options.epsilon", "column");
    o.epsilon = 0.1;
    CHECK(std::isfinite(ot::sinkhorn_distillation_loss(t, s, o)));
    CHECK(std::isfinite(ot::sinkhorn_distillation_loss_groups(t2, s2, {1, 3}, o)));
}

}  // namespace ot_sinkhorn_distillation_test
