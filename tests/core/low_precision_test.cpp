// Half and bfloat16 logits (core/low_precision.hpp): read a block of rows at a time as float, they give
// exactly what the float path gives on the same logits converted to float (every half and bfloat16
// value is a float), values and gradients, in every layout, with masks, weights and any thread count;
// errors name the caller's row, not the block's.
#include <catch2/catch.hpp>

#include <unsupported/Eigen/CXX11/Tensor>

#include "divergence/divergence.hpp"
#include "support/errors.hpp"
#include "support/random.hpp"
#include "support/threads.hpp"

namespace core_low_precision_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;

namespace {

template <class Low>
using LowMatrix = Eigen::Matrix<Low, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// 70 rows of 8192: with the 2^18-entry tiles, three blocks (32, 32, 6 rows).
constexpr Eigen::Index rows = 70, cols = 8192;

template <class Low>
LowMatrix<Low> low_logits(std::uint64_t seed)
{
    return test::random_logits(rows, cols, seed, 6.0).cast<float>().cast<Low>();
}

/// The value, per-row values and both gradients of `f` for inputs built by `wrap`.
struct Result {
    float value = 0;
    dv::RowValues<float> row_values;
    dv::RowMatrix<float> grad_p, grad_q;
};

template <class F, class P, class Q>
Result run(const F& f, const P& p, const Q& q, const dv::Options& options)
{
    Result r;
    r.row_values.resize(rows);
    r.grad_p.resize(rows, cols);
    r.grad_q.resize(rows, cols);
    dv::Outputs<float> out;
    out.row_values = r.row_values;
    out.grad_p = r.grad_p;
    out.grad_q = r.grad_q;
    r.value = f(p, q, options, out);
    return r;
}

void require_same(const Result& a, const Result& b)
{
    REQUIRE(a.value == b.value);
    REQUIRE((a.row_values == b.row_values).all());
    REQUIRE(a.grad_p == b.grad_p);
    REQUIRE(a.grad_q == b.grad_q);
}

template <class Low>
void check_divergences_equal_float_path()
{
    const LowMatrix<Low> teacher = low_logits<Low>(1), student = low_logits<Low>(2);
    const dv::RowMatrix<float> teacher_f = teacher.template cast<float>(), student_f = student.template cast<float>();
    Eigen::Array<bool, Eigen::Dynamic, 1> keep = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(rows, true);
    keep(3) = keep(40) = keep(69) = false;
    Eigen::VectorXf weights = Eigen::VectorXf::LinSpaced(rows, 0.5f, 2.0f);
    dv::Options options{dv::Reduction::mean};
    options.mask = keep;
    options.weights = weights;

    const auto kl = [](const auto& p, const auto& q, const dv::Options& o, const dv::Outputs<float>& out) {
        return dv::kl(p, q, o, out);
    };
    const auto js = [](const auto& p, const auto& q, const dv::Options& o, const dv::Outputs<float>& out) {
        return dv::generalized_js(p, q, 0.3, o, out);
    };
    const auto pearson = [](const auto& p, const auto& q, const dv::Options& o, const dv::Outputs<float>& out) {
        return dv::f_divergence(p, q, dv::generators::PearsonChiSquared{}, o, out);
    };
    const auto renyi = [](const auto& p, const auto& q, const dv::Options& o, const dv::Outputs<float>& out) {
        return dv::renyi(p, q, 0.7, o, out);
    };
    const auto cross_entropy = [](const auto& p, const auto& q, const dv::Options& o, const dv::Outputs<float>& out) {
        return dv::cross_entropy(p, q, o, out);
    };
    // The fused KL, JSD and f-divergence kernels, the reference path (Renyi) and an element kernel.
    SECTION("fused, reference and element kernels")
    {
        require_same(run(kl, dv::logits(teacher, 2.0), dv::logits(student, 2.0), options),
                     run(kl, dv::logits(teacher_f, 2.0), dv::logits(student_f, 2.0), options));
        require_same(run(js, dv::logits(teacher), dv::logits(student), options),
                     run(js, dv::logits(teacher_f), dv::logits(student_f), options));
        require_same(run(pearson, dv::logits(teacher), dv::logits(student), options),
                     run(pearson, dv::logits(teacher_f), dv::logits(student_f), options));
        require_same(run(renyi, dv::logits(teacher), dv::logits(student), options),
                     run(renyi, dv::logits(teacher_f), dv::logits(student_f), options));
        require_same(run(cross_entropy, dv::logits(teacher), dv::logits(student), options),
                     run(cross_entropy, dv::logits(teacher_f), dv::logits(student_f), options));
    }
    SECTION("a float teacher with a low-precision student, any order")
    {
        require_same(run(kl, dv::logits(teacher_f), dv::logits(student), options),
                     run(kl, dv::logits(teacher_f), dv::logits(student_f), options));
        require_same(run(kl, dv::logits(teacher), dv::logits(student_f), options),
                     run(kl, dv::logits(teacher_f), dv::logits(student_f), options));
    }
    SECTION("column-major and tensor inputs are read in place")
    {
        const Eigen::Matrix<Low, Eigen::Dynamic, Eigen::Dynamic> teacher_c = teacher, student_c = student;
        require_same(run(kl, dv::logits(teacher_c), dv::logits(student_c), options),
                     run(kl, dv::logits(teacher_f), dv::logits(student_f), options));
        Eigen::TensorMap<const Eigen::Tensor<Low, 3, Eigen::RowMajor>> teacher_t(teacher.data(), 7, 10, cols);
        Eigen::TensorMap<const Eigen::Tensor<Low, 3, Eigen::RowMajor>> student_t(student.data(), 7, 10, cols);
        require_same(run(kl, dv::logits(teacher_t), dv::logits(student_t), options),
                     run(kl, dv::logits(teacher_f), dv::logits(student_f), options));
    }
    SECTION("unary: entropy")
    {
        dv::RowMatrix<float> grad(rows, cols), grad_f(rows, cols);
        dv::Outputs<float> out, out_f;
        out.grad_p = grad;
        out_f.grad_p = grad_f;
        REQUIRE(dv::entropy(dv::logits(teacher), options, out) == dv::entropy(dv::logits(teacher_f), options, out_f));
        REQUIRE(grad == grad_f);
        REQUIRE((dv::entropy_rows(dv::logits(teacher)) == dv::entropy_rows(dv::logits(teacher_f))).all());
    }
    SECTION("the same bits on 1 and 2 threads")
    {
        const auto value = [&](int threads) {
            return test::with_threads(threads, [&] { return run(js, dv::logits(teacher), dv::logits(student), options); });
        };
        require_same(value(1), value(2));
    }
}

}  // namespace

TEST_CASE("half logits give the float path's values and gradients on the converted logits", "[low_precision]")
{
    check_divergences_equal_float_path<Eigen::half>();
}

TEST_CASE("bfloat16 logits give the float path's values and gradients on the converted logits", "[low_precision]")
{
    check_divergences_equal_float_path<Eigen::bfloat16>();
}

TEST_CASE("half logits: errors name the caller's row, and only logits are accepted", "[low_precision][errors]")
{
    LowMatrix<Eigen::half> p = low_logits<Eigen::half>(3), q = low_logits<Eigen::half>(4);
    q(50, 7) = Eigen::half(std::numeric_limits<float>::infinity());  // in the second block
    test::fails_with([&] { dv::kl(dv::logits(p), dv::logits(q)); }, "divergence::kl", "argument 'q'", "row 50",
                     "column 7", "logit must be finite");
    q(50, 7) = Eigen::half(0.0f);
    for (Eigen::Index c = 0; c < cols; ++c) p(66, c) = Eigen::half(-std::numeric_limits<float>::infinity());
    test::fails_with([&] { dv::js(dv::logits(p), dv::logits(q)); }, "argument 'p'", "row 66", "every logit is -inf");
    p.row(66).setZero();

    test::fails_with([&] { dv::kl(p, dv::logits(q)); }, "argument 'p'", "must be logits");
    test::fails_with([&] { dv::kl(dv::logits(p), dv::log_probs(q)); }, "argument 'q'", "must be logits");
    test::fails_with([&] { dv::kl(dv::logits(p, 0.0), dv::logits(q)); }, "argument 'p'", "temperature");

    Eigen::VectorXd weights = Eigen::VectorXd::Ones(rows);
    weights(45) = -1.0;
    dv::Options options;
    options.weights = weights;
    test::fails_with([&] { dv::kl(dv::logits(p), dv::logits(q), options); }, "options.weights", "row 45");
    Eigen::Array<bool, Eigen::Dynamic, 1> keep = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(rows - 1, true);
    options = {};
    options.mask = keep;
    test::fails_with([&] { dv::kl(dv::logits(p), dv::logits(q), options); }, "mask", "69 entries for 70 rows");

    const LowMatrix<Eigen::half> narrow = q.leftCols(10);
    test::fails_with([&] { dv::kl(dv::logits(p), dv::logits(narrow)); }, "argument 'q'", "shape 70 x 10");
    dv::RowMatrix<float> grad(rows, 10);
    dv::Outputs<float> out;
    out.grad_q = grad;
    test::fails_with([&] { dv::kl(dv::logits(p), dv::logits(q), {}, out); }, "grad_q", "shape 70 x 10");
    const LowMatrix<Eigen::half> empty(0, cols);
    test::fails_with([&] { dv::kl(dv::logits(empty), dv::logits(empty)); }, "argument 'p'", "empty input (0 x 8192)");
}

TEST_CASE("half logits: large logits and small temperatures stay finite in float", "[low_precision]")
{
    // 65504 (the largest half) / T = 0.01 is 6.5e6: beyond half, fine in float, where it is computed.
    LowMatrix<Eigen::half> p(2, 3), q(2, 3);
    p << Eigen::half(65504.0f), Eigen::half(0.0f), Eigen::half(-65504.0f), Eigen::half(1.0f), Eigen::half(2.0f),
        Eigen::half(3.0f);
    q << Eigen::half(0.0f), Eigen::half(65504.0f), Eigen::half(0.0f), Eigen::half(3.0f), Eigen::half(2.0f),
        Eigen::half(1.0f);
    const dv::RowMatrix<float> pf = p.cast<float>(), qf = q.cast<float>();
    const float value = dv::kl(dv::logits(p, 0.01), dv::logits(q, 0.01), {dv::Reduction::sum});
    REQUIRE(std::isfinite(value));
    REQUIRE(value == dv::kl(dv::logits(pf, 0.01), dv::logits(qf, 0.01), {dv::Reduction::sum}));
    // Against the definition in long double: KL = sum_i p_i (log p_i - log q_i), logits / T.
    long double expected = 0;
    for (Eigen::Index r = 0; r < 2; ++r) {
        long double mp = -1e30L, mq = -1e30L, sp = 0, sq = 0;
        for (Eigen::Index c = 0; c < 3; ++c) mp = std::max(mp, pf(r, c) / 0.01L), mq = std::max(mq, qf(r, c) / 0.01L);
        for (Eigen::Index c = 0; c < 3; ++c) sp += std::exp(pf(r, c) / 0.01L - mp), sq += std::exp(qf(r, c) / 0.01L - mq);
        for (Eigen::Index c = 0; c < 3; ++c) {
            const long double lp = pf(r, c) / 0.01L - mp - std::log(sp), lq = qf(r, c) / 0.01L - mq - std::log(sq);
            expected += std::exp(lp) * (lp - lq);
        }
    }
    REQUIRE(double(value) == Approx(double(expected)).epsilon(1e-6));
}

}  // namespace core_low_precision_test
