// The element engine (core/element.hpp): element kernels (entropy, cross-entropy) in every form and
// mix of forms against long-double references and finite differences, and the same bits for any
// layout and thread count.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <utility>

#include "divergence/discrete/entropy.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"
#include "support/threads.hpp"

namespace core_element_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;

namespace {

enum class Given { probs, log_probs, logits };

/// The rows of z (logits) as the form asks: softmax(z / T) computed in long double, its log, or z.
dv::RowMatrix<double> as_form(const dv::RowMatrix<double>& z, double temperature, Given form)
{
    if (form == Given::logits) return z;
    dv::RowMatrix<double> out(z.rows(), z.cols());
    for (Eigen::Index r = 0; r < z.rows(); ++r) {
        long double largest = -std::numeric_limits<long double>::infinity(), sum = 0;
        for (Eigen::Index c = 0; c < z.cols(); ++c) largest = std::max(largest, (long double)z(r, c) / temperature);
        for (Eigen::Index c = 0; c < z.cols(); ++c) sum += std::exp((long double)z(r, c) / temperature - largest);
        for (Eigen::Index c = 0; c < z.cols(); ++c) {
            const long double log_p = (long double)z(r, c) / temperature - largest - std::log(sum);
            out(r, c) = double(form == Given::probs ? std::exp(log_p) : log_p);
        }
    }
    return out;
}

dv::Input<double> input(const dv::RowMatrix<double>& x, double temperature, Given form)
{
    switch (form) {
    case Given::probs: return dv::probs(x);
    case Given::log_probs: return dv::log_probs(x);
    default: return dv::logits(x, temperature);
    }
}

/// The worked example of docs/architecture.md, verbatim: a new element kernel and its function.
struct SquaredEuclideanKernel {
    static constexpr bool binary = true;
    static constexpr bool partials_use_value = false;
    template <class V> V term(const dv::detail::ElementLanes<V>& e) const
    {
        namespace simd = dv::detail::simd;
        const V d = simd::sub(e.p, e.q);
        return simd::mul(d, d);
    }
    double finish(double sum) const { return sum; }
    template <class V> dv::detail::PartialLanes<V> partials(double, const dv::detail::ElementLanes<V>& e) const
    {
        namespace simd = dv::detail::simd;
        const V two_d = simd::mul(simd::broadcast<V>(2.0), simd::sub(e.p, e.q));
        return {two_d, simd::mul(e.p, two_d), simd::sub(simd::broadcast<V>(0.0), two_d),
                simd::mul(e.q, simd::sub(simd::broadcast<V>(0.0), two_d))};  // d/dlog p = p d/dp
    }
};
template <class P, class Q, class Out = dv::detail::outputs_for<P>>
dv::detail::result_scalar_t<P> squared_euclidean(const P& p, const Q& q, const dv::Options& options = {}, const Out& out = {})
{
    return dv::detail::call("squared_euclidean", SquaredEuclideanKernel{}, p, q, options, out);
}

}  // namespace

TEST_CASE("a new element kernel (the worked example of docs/architecture.md) runs in every form: long double and finite differences",
          "[element][example]")
{
    const Given form_p = GENERATE(Given::probs, Given::logits), form_q = GENERATE(Given::log_probs, Given::logits);
    CAPTURE(int(form_p), int(form_q));
    const dv::RowMatrix<double> zp = test::random_logits(2, 7, 96, 2.0), zq = test::random_logits(2, 7, 97, 2.0);
    const dv::RowMatrix<double> xp = as_form(zp, 1.0, form_p), xq = as_form(zq, 1.0, form_q);
    const dv::RowMatrix<double> pp = as_form(zp, 1.0, Given::probs), pq = as_form(zq, 1.0, Given::probs);
    long double expected = 0;
    for (Eigen::Index i = 0; i < pp.size(); ++i) expected += std::pow((long double)pp.data()[i] - pq.data()[i], 2);
    dv::RowMatrix<double> gp(2, 7), gq(2, 7);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    const dv::Options options{dv::Reduction::sum};
    CHECK(squared_euclidean(input(xp, 1.0, form_p), input(xq, 1.0, form_q), options, out) == Approx(double(expected)).epsilon(1e-13));
    const auto f_p = [&](const dv::RowMatrix<double>& x) {
        dv::Options loose = options;
        loose.validation = dv::Validation::none;
        return squared_euclidean(input(x, 1.0, form_p), input(xq, 1.0, form_q), loose);
    };
    const auto f_q = [&](const dv::RowMatrix<double>& x) {
        dv::Options loose = options;
        loose.validation = dv::Validation::none;
        return squared_euclidean(input(xp, 1.0, form_p), input(x, 1.0, form_q), loose);
    };
    CHECK(test::close(gp, test::central_difference(xp, f_p), 1e-6, 1e-9));
    CHECK(test::close(gq, test::central_difference(xq, f_q), 1e-6, 1e-9));
}

TEST_CASE("cross-entropy in every mix of forms: long-double value, gradients against finite differences", "[element][cross_entropy]")
{
    const Given form_p = GENERATE(Given::probs, Given::log_probs, Given::logits);
    const Given form_q = GENERATE(Given::probs, Given::log_probs, Given::logits);
    CAPTURE(int(form_p), int(form_q));
    const Eigen::Index rows = 3, cols = 9;
    const double tp = 1.3, tq = 0.7;
    const dv::RowMatrix<double> zp = test::random_logits(rows, cols, 91, 2.0), zq = test::random_logits(rows, cols, 92, 2.0);
    const dv::RowMatrix<double> xp = as_form(zp, tp, form_p), xq = as_form(zq, tq, form_q);
    long double expected = 0;  // H(P, Q) = -sum p log q from the long-double softmaxes
    const dv::RowMatrix<double> pp = as_form(zp, tp, Given::probs), lq = as_form(zq, tq, Given::log_probs);
    for (Eigen::Index i = 0; i < pp.size(); ++i) expected -= (long double)pp.data()[i] * lq.data()[i];
    const dv::Options options{dv::Reduction::sum};
    dv::RowMatrix<double> gp(rows, cols), gq(rows, cols);
    dv::Outputs<double> out;
    out.grad_p = gp;
    out.grad_q = gq;
    const double value = dv::cross_entropy(input(xp, tp, form_p), input(xq, tq, form_q), options, out);
    CHECK(value == Approx(double(expected)).epsilon(1e-13));
    // Finite differences in the input's own parametrization (probabilities: each entry a free variable).
    const auto f_p = [&](const dv::RowMatrix<double>& x) {
        dv::Options loose = options;
        loose.validation = dv::Validation::none;
        return dv::cross_entropy(input(x, tp, form_p), input(xq, tq, form_q), loose);
    };
    const auto f_q = [&](const dv::RowMatrix<double>& x) {
        dv::Options loose = options;
        loose.validation = dv::Validation::none;
        return dv::cross_entropy(input(xp, tp, form_p), input(x, tq, form_q), loose);
    };
    CHECK(test::close(gp, test::central_difference(xp, f_p), 1e-6, 1e-8));
    CHECK(test::close(gq, test::central_difference(xq, f_q), 1e-6, 1e-8));
}

TEST_CASE("entropy from every form equals the long-double value, with its gradient", "[element][entropy]")
{
    const Given form = GENERATE(Given::probs, Given::log_probs, Given::logits);
    CAPTURE(int(form));
    const dv::RowMatrix<double> z = test::random_logits(2, 11, 93, 3.0);
    const dv::RowMatrix<double> x = as_form(z, 1.1, form), p = as_form(z, 1.1, Given::probs);
    long double expected = 0;
    for (Eigen::Index i = 0; i < p.size(); ++i) expected -= (long double)p.data()[i] * std::log((long double)p.data()[i]);
    dv::RowMatrix<double> g(2, 11);
    dv::Outputs<double> out;
    out.grad_p = g;
    CHECK(dv::entropy(input(x, 1.1, form), {dv::Reduction::sum}, out) == Approx(double(expected)).epsilon(1e-13));
    const auto f = [&](const dv::RowMatrix<double>& y) {
        dv::Options loose{dv::Reduction::sum};
        loose.validation = dv::Validation::none;
        return dv::entropy(input(y, 1.1, form), loose);
    };
    CHECK(test::close(g, test::central_difference(x, f), 1e-6, 1e-8));
}

TEMPLATE_TEST_CASE("element kernels give the same bits for 1 and 2 threads and any layout (row and chunk mode)",
                   "[element][executor]", float, double)
{
    const Eigen::Index rows = GENERATE(1, 6), cols = GENERATE(33, 70000);
    CAPTURE(rows, cols);
    const dv::RowMatrix<TestType> zp = test::random_logits(rows, cols, 94, 4.0).cast<TestType>();
    const dv::RowMatrix<TestType> zq = test::random_logits(rows, cols, 95, 4.0).cast<TestType>();
    const Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> zq_column_major = zq;
    const dv::Options options{dv::Reduction::mean};
    const auto run = [&](int threads, bool column_major) {
        return test::with_threads(threads, [&] {
            dv::RowMatrix<TestType> g(rows, cols);
            Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> g_column_major(rows, cols);
            dv::Outputs<TestType> out;
            TestType v;
            if (column_major) {
                out.grad_q = g_column_major;
                v = dv::cross_entropy(dv::logits(zp, 2.0), dv::logits(zq_column_major, 2.0), options, out);
                g = g_column_major;
            } else {
                out.grad_q = g;
                v = dv::cross_entropy(dv::logits(zp, 2.0), dv::logits(zq, 2.0), options, out);
            }
            return std::make_pair(v, g);
        });
    };
    const auto one = run(1, false), two = run(2, false), staged = run(2, true);
    CHECK(one.first == two.first);
    CHECK(one.second == two.second);
    CHECK(one.first == staged.first);
    CHECK(one.second == staged.second);
}

}  // namespace core_element_test
