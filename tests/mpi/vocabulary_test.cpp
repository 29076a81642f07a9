// divergence::mpi (include/divergence/mpi/vocabulary.hpp): divergences of logits whose vocabulary is
// split across ranks equal the single-process functions on the whole rows (values, per-row values and
// the gradients of each rank's columns), for uneven slices, empty slices, masks, weights and every
// reduction; gradients against central differences; the bytes communicated per call, independent of V;
// the same bits on every rank; every error thrown on every rank.

#include <catch2/catch.hpp>

#include <divergence/discrete/jensen_shannon.hpp>
#include <divergence/discrete/kl.hpp>
#include <divergence/losses/token.hpp>
#include <divergence/mpi/vocabulary.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mpi/support.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"

namespace {

using divergence::Index;
using divergence::logits;
using divergence::Options;
using divergence::Outputs;
using divergence::Reduction;
template <class S>
using RowMatrix = divergence::RowMatrix<S>;
using test::mpi::Layout;

constexpr Layout all_layouts[] = {Layout::even, Layout::skewed, Layout::empty_rank, Layout::last_only};

/// Which function a case runs, sharded or on one process.
enum class Function { kl, reverse_kl, js, generalized_js };

const char* name(Function f)
{
    switch (f) {
    case Function::kl: return "kl";
    case Function::reverse_kl: return "reverse_kl";
    case Function::js: return "js";
    default: return "generalized_js";
    }
}

constexpr double beta = 0.3;

template <class S>
S sharded(Function f, const divergence::Input<S>& p, const divergence::Input<S>& q, const Options& o, const Outputs<S>& out)
{
    switch (f) {
    case Function::kl: return divergence::mpi::kl(p, q, MPI_COMM_WORLD, o, out);
    case Function::reverse_kl: return divergence::mpi::reverse_kl(p, q, MPI_COMM_WORLD, o, out);
    case Function::js: return divergence::mpi::js(p, q, MPI_COMM_WORLD, o, out);
    default: return divergence::mpi::generalized_js(p, q, beta, MPI_COMM_WORLD, o, out);
    }
}

template <class S>
S single(Function f, const divergence::Input<S>& p, const divergence::Input<S>& q, const Options& o, const Outputs<S>& out)
{
    switch (f) {
    case Function::kl: return divergence::kl(p, q, o, out);
    case Function::reverse_kl: return divergence::reverse_kl(p, q, o, out);
    case Function::js: return divergence::js(p, q, o, out);
    default: return divergence::generalized_js(p, q, beta, o, out);
    }
}

/// The columns [offset, offset + cols) of x, as a row-major matrix of this rank.
template <class S>
RowMatrix<S> columns(const RowMatrix<S>& x, const test::mpi::Slice& s)
{
    return x.middleCols(s.offset, s.cols);
}

/// max_ij |a - b| / (1 + max |b|): the gradients' error relative to their scale.
template <class A, class B>
double gradient_error(const A& a, const B& b)
{
    if (a.size() == 0) return 0.0;
    return (a.template cast<double>() - b.template cast<double>()).cwiseAbs().maxCoeff() /
           (1.0 + b.template cast<double>().cwiseAbs().maxCoeff());
}

/// What the tests allow between a sharded call and the single-process one: the same fused kernels
/// with their partial states merged at other column boundaries (each slice's exponentials are taken
/// from its own running maximum), so rounding differs. Measured at most 7.1e-15 absolute on values of
/// a few nats and 1.2e-15 (1 + max |g|) on gradients (double); 1 ulp of float on float values and
/// 1.8e-9 (1 + max |g|) on float gradients (docs/mpi.md).
constexpr double value_bound_double = 4e-15, gradient_bound_double = 4e-15;
constexpr double value_bound_float = 2.5e-7, gradient_bound_float = 1e-7;

struct Case {
    Index rows, cols;
    double temperature_p, temperature_q;
};

/// Runs f sharded and on one process with the same options and compares everything.
template <class S>
void compare(Function f, Layout layout, const Case& c, const Options& options, std::uint64_t seed, double scale = 3.0)
{
    const RowMatrix<S> zp = test::random_logits(c.rows, c.cols, seed, scale).cast<S>();
    const RowMatrix<S> zq = test::random_logits(c.rows, c.cols, seed + 1, scale).cast<S>();
    const test::mpi::Slice slice = test::mpi::my_slice(c.cols, layout);
    const RowMatrix<S> lp = columns(zp, slice), lq = columns(zq, slice);

    RowMatrix<S> gp(c.rows, c.cols), gq(c.rows, c.cols), lgp(c.rows, slice.cols), lgq(c.rows, slice.cols);
    Eigen::Array<S, Eigen::Dynamic, 1> rows_single(c.rows), rows_sharded(c.rows);
    Outputs<S> out, local_out;
    out.grad_p = gp;
    out.grad_q = gq;
    out.row_values = rows_single;
    local_out.grad_p = lgp;
    local_out.grad_q = lgq;
    local_out.row_values = rows_sharded;
    const S expected = single(f, logits(zp, c.temperature_p), logits(zq, c.temperature_q), options, out);
    const S value = sharded(f, logits(lp, c.temperature_p), logits(lq, c.temperature_q), options, local_out);

    const bool is_float = std::is_same_v<S, float>;
    const double value_bound = is_float ? value_bound_float : value_bound_double;
    const double gradient_bound = is_float ? gradient_bound_float : gradient_bound_double;
    CAPTURE(name(f), test::mpi::name(layout), test::mpi::rank(), c.rows, c.cols, slice.offset, slice.cols, seed);
    CHECK(std::abs(double(value) - double(expected)) <= value_bound * (1.0 + std::abs(double(expected))));
    for (Index r = 0; r < c.rows; ++r) {
        CHECK(std::abs(double(rows_sharded(r)) - double(rows_single(r))) <= value_bound * (1.0 + std::abs(double(rows_single(r)))));
    }
    CHECK(gradient_error(lgp, columns(gp, slice)) <= gradient_bound);
    CHECK(gradient_error(lgq, columns(gq, slice)) <= gradient_bound);
    CHECK(test::mpi::same_on_every_rank(&value, 1));
    CHECK(test::mpi::same_on_every_rank(rows_sharded.data(), std::size_t(c.rows)));
}

/// KL(P || Q) of logit rows in long double, the independent reference of the values.
double long_double_kl(const RowMatrix<double>& zp, const RowMatrix<double>& zq, double tp, double tq, Index r)
{
    const auto log_softmax = [](const RowMatrix<double>& z, double t, Index row) {
        long double m = -INFINITY, s = 0;
        for (Index j = 0; j < z.cols(); ++j) m = std::max(m, (long double)z(row, j) / t);
        for (Index j = 0; j < z.cols(); ++j) s += std::exp((long double)z(row, j) / t - m);
        std::vector<long double> out(std::size_t(z.cols()));
        for (Index j = 0; j < z.cols(); ++j) out[std::size_t(j)] = (long double)z(row, j) / t - m - std::log(s);
        return out;
    };
    const auto a = log_softmax(zp, tp, r), b = log_softmax(zq, tq, r);
    long double total = 0;
    for (std::size_t j = 0; j < a.size(); ++j) total += std::exp(a[j]) * (a[j] - b[j]);
    return double(total);
}

}  // namespace

TEST_CASE("mpi kl, reverse_kl, js and generalized_js equal the single-process functions on sharded vocabularies",
          "[mpi][vocabulary]")
{
    const Case cases[] = {{4, 37, 1.0, 1.0}, {3, 1000, 2.0, 0.7}, {1, 5, 0.5, 1.5}};
    std::uint64_t seed = 100;
    for (const Function f : {Function::kl, Function::reverse_kl, Function::js, Function::generalized_js}) {
        for (const Layout layout : all_layouts) {
            for (const Case& c : cases) {
                for (const Reduction reduction : {Reduction::mean, Reduction::sum, Reduction::batchmean}) {
                    Options o;
                    o.reduction = reduction;
                    compare<double>(f, layout, c, o, ++seed);
                }
            }
        }
    }
}

TEST_CASE("mpi divergences respect the mask and the weights as the single-process functions", "[mpi][vocabulary]")
{
    const Case c{5, 41, 1.3, 0.9};
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(5);
    keep << true, false, true, true, false;
    Eigen::VectorXd weights(5);
    weights << 0.5, 2.0, 0.0, 1.5, 3.0;
    std::uint64_t seed = 300;
    for (const Function f : {Function::kl, Function::reverse_kl, Function::js, Function::generalized_js}) {
        for (const Layout layout : all_layouts) {
            Options masked;
            masked.mask = keep;
            compare<double>(f, layout, c, masked, ++seed);
            Options weighted;
            weighted.weights = weights;
            weighted.reduction = Reduction::sum;
            compare<double>(f, layout, c, weighted, ++seed);
            Options both = masked;
            both.weights = weights;
            compare<double>(f, layout, c, both, ++seed);
        }
    }
}

TEST_CASE("mpi divergences of float logits equal the single-process ones within float rounding", "[mpi][vocabulary]")
{
    std::uint64_t seed = 400;
    for (const Function f : {Function::kl, Function::reverse_kl, Function::js, Function::generalized_js}) {
        for (const Layout layout : all_layouts) compare<float>(f, layout, {3, 300, 1.0, 2.0}, {}, ++seed);
    }
}

TEST_CASE("mpi divergences of long rows (several chunks of 32768 columns) and large logits equal the single-process ones",
          "[mpi][vocabulary]")
{
    std::uint64_t seed = 500;
    for (const Function f : {Function::kl, Function::js}) {
        compare<double>(f, Layout::skewed, {2, 70001, 1.0, 1.0}, {}, ++seed);
        compare<double>(f, Layout::empty_rank, {2, 300, 1.0, 3.0}, {}, ++seed, 1e3);
    }
}

TEST_CASE("mpi kl values agree with a long-double reference", "[mpi][vocabulary]")
{
    const Index rows = 3, cols = 57;
    const RowMatrix<double> zp = test::random_logits(rows, cols, 600), zq = test::random_logits(rows, cols, 601);
    const test::mpi::Slice slice = test::mpi::my_slice(cols, Layout::skewed);
    const RowMatrix<double> lp = columns(zp, slice), lq = columns(zq, slice);
    const Eigen::ArrayXd values = divergence::mpi::kl_rows(logits(lp, 1.5), logits(lq, 0.8), MPI_COMM_WORLD);
    for (Index r = 0; r < rows; ++r) {
        const double expected = long_double_kl(zp, zq, 1.5, 0.8, r);
        CHECK(values(r) == Approx(expected).epsilon(1e-13));
    }
}

TEST_CASE("mpi divergences read column-major slices and write column-major gradients", "[mpi][vocabulary]")
{
    const Index rows = 4, cols = 29;
    const RowMatrix<double> zp = test::random_logits(rows, cols, 700), zq = test::random_logits(rows, cols, 701);
    const test::mpi::Slice slice = test::mpi::my_slice(cols, Layout::skewed);
    const Eigen::MatrixXd lp = zp.middleCols(slice.offset, slice.cols), lq = zq.middleCols(slice.offset, slice.cols);
    const RowMatrix<double> rp = lp, rq = lq;
    Eigen::MatrixXd gp(rows, slice.cols), gq(rows, slice.cols);
    RowMatrix<double> rgp(rows, slice.cols), rgq(rows, slice.cols);
    Outputs<double> column_major, row_major;
    column_major.grad_p = gp;
    column_major.grad_q = gq;
    row_major.grad_p = rgp;
    row_major.grad_q = rgq;
    for (const Function f : {Function::kl, Function::js}) {
        const double a = sharded(f, logits(lp, 1.0), logits(lq, 1.0), {}, column_major);
        const double b = sharded(f, logits(rp, 1.0), logits(rq, 1.0), {}, row_major);
        CHECK(a == b);
        CHECK(gp == Eigen::MatrixXd(rgp));
        CHECK(gq == Eigen::MatrixXd(rgq));
    }
}

TEST_CASE("mpi divergences: a slice of -inf logits on a rank, and a support mismatch, as on one process", "[mpi][vocabulary]")
{
    const Index rows = 2, cols = 12;
    RowMatrix<double> zp = test::random_logits(rows, cols, 800), zq = test::random_logits(rows, cols, 801);
    // Row 0: the first half of the vocabulary is -inf in both (a rank may hold only such columns);
    // row 1: the student is -inf where the teacher is not (KL(P || Q) = +inf).
    for (Index j = 0; j < cols / 2; ++j) zp(0, j) = zq(0, j) = -std::numeric_limits<double>::infinity();
    zq(1, 3) = -std::numeric_limits<double>::infinity();
    const test::mpi::Slice slice = test::mpi::my_slice(cols, Layout::even);
    const RowMatrix<double> lp = columns(zp, slice), lq = columns(zq, slice);
    for (const Function f : {Function::kl, Function::reverse_kl, Function::js}) {
        const Eigen::ArrayXd one = f == Function::kl           ? divergence::kl_rows(logits(zp), logits(zq))
                                   : f == Function::reverse_kl ? divergence::reverse_kl_rows(logits(zp), logits(zq))
                                                               : divergence::js_rows(logits(zp), logits(zq));
        const Eigen::ArrayXd many = f == Function::kl ? divergence::mpi::kl_rows(logits(lp), logits(lq), MPI_COMM_WORLD)
                                    : f == Function::reverse_kl
                                        ? divergence::mpi::reverse_kl_rows(logits(lp), logits(lq), MPI_COMM_WORLD)
                                        : divergence::mpi::generalized_js_rows(logits(lp), logits(lq), 0.5, MPI_COMM_WORLD);
        CAPTURE(name(f));
        CHECK(many(0) == Approx(one(0)).epsilon(1e-14));
        if (std::isinf(one(1))) {
            CHECK(many(1) == one(1));
        } else {
            CHECK(many(1) == Approx(one(1)).epsilon(1e-14));
        }
    }
}

TEST_CASE("mpi kl and js gradients of every rank's columns match central differences", "[mpi][vocabulary][gradient]")
{
    const Index rows = 2, cols = 7;
    RowMatrix<double> zp = test::random_logits(rows, cols, 900), zq = test::random_logits(rows, cols, 901);
    // Entries away from 0, for relative steps.
    zp = zp.unaryExpr([](double x) { return x >= 0 ? x + 0.5 : x - 0.5; });
    zq = zq.unaryExpr([](double x) { return x >= 0 ? x + 0.5 : x - 0.5; });
    const test::mpi::Slice slice = test::mpi::my_slice(cols, Layout::skewed);
    for (const Function f : {Function::kl, Function::js}) {
        RowMatrix<double> lp = columns(zp, slice), lq = columns(zq, slice);
        RowMatrix<double> gp(rows, slice.cols), gq(rows, slice.cols);
        Outputs<double> out;
        out.grad_p = gp;
        out.grad_q = gq;
        sharded(f, logits(lp, 1.3), logits(lq, 0.8), {}, out);
        // Every rank perturbs the entries it holds, in the same global order, and takes part in every call.
        const auto difference = [&](RowMatrix<double>& x) {
            RowMatrix<double> g(rows, slice.cols);
            double elsewhere = 0.0;  // an entry another rank holds
            for (Index r = 0; r < rows; ++r) {
                for (Index j = 0; j < cols; ++j) {
                    const bool mine = j >= slice.offset && j < slice.offset + slice.cols;
                    double& entry = mine ? x(r, j - slice.offset) : elsewhere;
                    const double saved = mine ? entry : 0.0, step = 1e-6 * std::abs(saved);
                    if (mine) entry = saved + step;
                    const double up = sharded(f, logits(lp, 1.3), logits(lq, 0.8), {}, Outputs<double>{});
                    if (mine) entry = saved - step;
                    const double down = sharded(f, logits(lp, 1.3), logits(lq, 0.8), {}, Outputs<double>{});
                    if (mine) {
                        entry = saved;
                        g(r, j - slice.offset) = (up - down) / (2 * step);
                    }
                }
            }
            return g;
        };
        CAPTURE(name(f));
        const RowMatrix<double> numeric_p = difference(lp), numeric_q = difference(lq);
        CHECK(test::close(gp, numeric_p, 1e-6, 1e-8));
        CHECK(test::close(gq, numeric_q, 1e-6, 1e-8));
    }
}

TEST_CASE("mpi cross_entropy equals the single-process cross_entropy: labels, ignore_index, label smoothing",
          "[mpi][vocabulary][token]")
{
    const Index rows = 6, cols = 45;
    const RowMatrix<double> z = test::random_logits(rows, cols, 1000);
    Eigen::VectorXi y(rows);
    y << 0, 44, -100, 17, 30, 2;
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(rows);
    keep << true, true, true, true, false, true;
    Eigen::VectorXd weights(rows);
    weights << 1.0, 0.5, 2.0, 0.0, 1.0, 3.0;
    for (const Layout layout : all_layouts) {
        const test::mpi::Slice slice = test::mpi::my_slice(cols, layout);
        const RowMatrix<double> local = columns(z, slice);
        for (const double eps : {0.0, 0.1, 1.0}) {
            for (int variant = 0; variant < 3; ++variant) {
                Options o;
                if (variant == 1) o.mask = keep;
                if (variant == 2) {
                    o.weights = weights;
                    o.reduction = Reduction::sum;
                }
                RowMatrix<double> g(rows, cols), lg(rows, slice.cols);
                Eigen::ArrayXd one_rows(rows), many_rows(rows);
                Outputs<double> out, local_out;
                out.grad_q = g;
                out.row_values = one_rows;
                local_out.grad_q = lg;
                local_out.row_values = many_rows;
                const double one = divergence::cross_entropy(divergence::labels(y, eps), logits(z, 1.7), o, out);
                const double many = divergence::mpi::cross_entropy(divergence::labels(y, eps), logits(local, 1.7), MPI_COMM_WORLD, o, local_out);
                CAPTURE(test::mpi::name(layout), eps, variant, test::mpi::rank());
                CHECK(std::abs(many - one) <= value_bound_double * (1 + std::abs(one)));
                for (Index r = 0; r < rows; ++r) CHECK(std::abs(many_rows(r) - one_rows(r)) <= value_bound_double * (1 + std::abs(one_rows(r))));
                CHECK(gradient_error(lg, columns(g, slice)) <= gradient_bound_double);
            }
        }
    }
}

TEST_CASE("mpi _rows functions: per-row values and, with Reduction::none, each row's own gradient, as on one process",
          "[mpi][vocabulary]")
{
    const Index rows = 3, cols = 23;
    const RowMatrix<float> zp = test::random_logits(rows, cols, 1400).cast<float>(), zq = test::random_logits(rows, cols, 1401).cast<float>();
    Eigen::VectorXi y(rows);
    y << 22, 0, 11;
    const test::mpi::Slice slice = test::mpi::my_slice(cols, Layout::empty_rank);
    const RowMatrix<float> lp = columns(zp, slice), lq = columns(zq, slice);
    Options none;
    none.reduction = Reduction::none;
    RowMatrix<float> g(rows, cols), lg(rows, slice.cols);
    Outputs<float> out, local_out;
    out.grad_q = g;
    local_out.grad_q = lg;
    const auto close_rows = [](const Eigen::ArrayXf& a, const Eigen::ArrayXf& b) {
        return ((a - b).abs() <= value_bound_float * (1.0f + b.abs())).all();
    };
    CHECK(close_rows(divergence::mpi::kl_rows(logits(lp), logits(lq), MPI_COMM_WORLD, none, local_out),
                     divergence::kl_rows(logits(zp), logits(zq), none, out)));
    CHECK(gradient_error(lg, columns(g, slice)) <= gradient_bound_float);
    CHECK(close_rows(divergence::mpi::reverse_kl_rows(logits(lp), logits(lq), MPI_COMM_WORLD, none, local_out),
                     divergence::reverse_kl_rows(logits(zp), logits(zq), none, out)));
    CHECK(gradient_error(lg, columns(g, slice)) <= gradient_bound_float);
    CHECK(close_rows(divergence::mpi::generalized_js_rows(logits(lp), logits(lq), 0.7, MPI_COMM_WORLD, none, local_out),
                     divergence::generalized_js_rows(logits(zp), logits(zq), 0.7, none, out)));
    CHECK(gradient_error(lg, columns(g, slice)) <= gradient_bound_float);
    CHECK(close_rows(divergence::mpi::cross_entropy_rows(divergence::labels(y, 0.05), logits(lq, 2.0), MPI_COMM_WORLD, none, local_out),
                     divergence::cross_entropy_rows(divergence::labels(y, 0.05), logits(zq, 2.0), none, out)));
    CHECK(gradient_error(lg, columns(g, slice)) <= gradient_bound_float);
}

TEST_CASE("mpi cross_entropy's gradient matches central differences", "[mpi][vocabulary][token][gradient]")
{
    const Index rows = 2, cols = 6;
    RowMatrix<double> z = test::random_logits(rows, cols, 1100);
    z = z.unaryExpr([](double x) { return x >= 0 ? x + 0.5 : x - 0.5; });
    Eigen::VectorXi y(rows);
    y << 4, 1;
    const test::mpi::Slice slice = test::mpi::my_slice(cols, Layout::skewed);
    RowMatrix<double> local = columns(z, slice), g(rows, slice.cols);
    Outputs<double> out;
    out.grad_q = g;
    const auto loss = [&] { return divergence::mpi::cross_entropy(divergence::labels(y, 0.2), logits(local, 0.9), MPI_COMM_WORLD); };
    divergence::mpi::cross_entropy(divergence::labels(y, 0.2), logits(local, 0.9), MPI_COMM_WORLD, {}, out);
    RowMatrix<double> numeric(rows, slice.cols);
    for (Index r = 0; r < rows; ++r) {
        for (Index j = 0; j < cols; ++j) {
            const bool mine = j >= slice.offset && j < slice.offset + slice.cols;
            const double saved = mine ? local(r, j - slice.offset) : 0.0, step = 1e-6 * std::abs(saved);
            if (mine) local(r, j - slice.offset) = saved + step;
            const double up = loss();
            if (mine) local(r, j - slice.offset) = saved - step;
            const double down = loss();
            if (mine) {
                local(r, j - slice.offset) = saved;
                numeric(r, j - slice.offset) = (up - down) / (2 * step);
            }
        }
    }
    CHECK(test::close(g, numeric, 1e-6, 1e-8));
}

TEST_CASE("mpi calls communicate O(B) bytes, independent of the vocabulary size", "[mpi][vocabulary][traffic]")
{
    const Index rows = 8;
    Eigen::VectorXi y = Eigen::VectorXi::Zero(rows);
    for (const Index cols : {Index(10), Index(1000), Index(20000)}) {
        const RowMatrix<double> z = test::random_logits(rows, cols, 1200);
        const test::mpi::Slice slice = test::mpi::my_slice(cols, Layout::skewed);
        const RowMatrix<double> local = columns(z, slice);
        RowMatrix<double> g(rows, slice.cols);
        Outputs<double> out;
        out.grad_q = g;
        const long long agreement = 32;  // per rank, one MPI_Allgather
        CAPTURE(cols);

        divergence::mpi::reset_traffic();
        divergence::mpi::kl(logits(local), logits(local, 2.0), MPI_COMM_WORLD, {}, out);
        CHECK(divergence::mpi::traffic().collectives == 2);
        CHECK(divergence::mpi::traffic().bytes == agreement + 64 * rows);

        divergence::mpi::reset_traffic();
        divergence::mpi::reverse_kl(logits(local), logits(local, 2.0), MPI_COMM_WORLD, {}, out);
        CHECK(divergence::mpi::traffic().collectives == 2);
        CHECK(divergence::mpi::traffic().bytes == agreement + 64 * rows);

        divergence::mpi::reset_traffic();
        divergence::mpi::generalized_js(logits(local), logits(local, 2.0), 0.2, MPI_COMM_WORLD, {}, out);
        CHECK(divergence::mpi::traffic().collectives == 3);
        CHECK(divergence::mpi::traffic().bytes == agreement + 48 * rows + 16 * rows);

        divergence::mpi::reset_traffic();
        divergence::mpi::cross_entropy(divergence::labels(y, 0.1), logits(local), MPI_COMM_WORLD, {}, out);
        CHECK(divergence::mpi::traffic().collectives == 2);
        CHECK(divergence::mpi::traffic().bytes == agreement + 48 * rows);
    }
}

TEST_CASE("mpi divergences throw the same error on every rank", "[mpi][vocabulary][errors]")
{
    const Index rows = 3, cols = 20;
    const int last = test::mpi::size() - 1;
    const test::mpi::Slice slice = test::mpi::my_slice(cols, Layout::even);
    RowMatrix<double> zp = columns(RowMatrix<double>(test::random_logits(rows, cols, 1300)), slice);
    const RowMatrix<double> zq = columns(RowMatrix<double>(test::random_logits(rows, cols, 1301)), slice);
    const auto kl = [&](const RowMatrix<double>& p, double tp, const Options& o = {}) {
        return divergence::mpi::kl(logits(p, tp), logits(zq), MPI_COMM_WORLD, o);
    };

    SECTION("a NaN logit on the last rank, named by its global column, on every rank")
    {
        RowMatrix<double> bad = zp;
        if (test::mpi::rank() == last) bad(1, slice.cols - 1) = std::nan("");
        test::fails_with([&] { kl(bad, 1.0); }, "divergence::mpi::kl: argument 'p', row 1, column 19: logit must be finite or -inf",
                         "(on rank " + std::to_string(last) + ")");
    }
    SECTION("the temperature differs on one rank")
    {
        if (test::mpi::size() > 1) {
            test::fails_with([&] { kl(zp, test::mpi::rank() == last ? 2.0 : 1.0); }, "divergence::mpi::kl: argument 'options'",
                             "must be the same on every rank");
        }
    }
    SECTION("the number of rows differs on one rank")
    {
        if (test::mpi::size() > 1) {
            const RowMatrix<double> fewer = zp.topRows(test::mpi::rank() == last ? 2 : 3);
            const RowMatrix<double> fewer_q = zq.topRows(test::mpi::rank() == last ? 2 : 3);
            test::fails_with([&] { divergence::mpi::kl(logits(fewer), logits(fewer_q), MPI_COMM_WORLD); }, "argument 'q'", "rows");
        }
    }
    SECTION("every logit of a row is -inf, on every rank")
    {
        RowMatrix<double> empty_row = zp;
        empty_row.row(2).setConstant(-std::numeric_limits<double>::infinity());
        test::fails_with([&] { kl(empty_row, 1.0); }, "divergence::mpi::kl: argument 'p', row 2: every logit is -inf");
    }
    SECTION("probabilities instead of logits, a bad temperature, Reduction::none, beta")
    {
        test::fails_with([&] { divergence::mpi::kl(divergence::probs(zp), logits(zq), MPI_COMM_WORLD); }, "argument 'p'", "logits");
        test::fails_with([&] { kl(zp, -1.0); }, "temperature must be finite and > 0");
        Options none;
        none.reduction = Reduction::none;
        test::fails_with([&] { kl(zp, 1.0, none); }, "Reduction::none");
        test::fails_with([&] { divergence::mpi::generalized_js(logits(zp), logits(zq), 1.5, MPI_COMM_WORLD); }, "argument 'beta'");
    }
    SECTION("no rows, or no columns on any rank")
    {
        const RowMatrix<double> none(0, slice.cols), no_columns(rows, 0);
        test::fails_with([&] { divergence::mpi::kl(logits(none), logits(none), MPI_COMM_WORLD); }, "argument 'p'", "empty input (0 rows)");
        test::fails_with([&] { divergence::mpi::js(logits(no_columns), logits(no_columns), MPI_COMM_WORLD); },
                         "divergence::mpi::js: argument 'p': empty input: every rank's slice has 0 columns");
        Eigen::VectorXi y = Eigen::VectorXi::Zero(rows);
        test::fails_with([&] { divergence::mpi::cross_entropy(divergence::labels(y), logits(no_columns), MPI_COMM_WORLD); },
                         "every rank's slice has 0 columns");
    }
        SECTION("shapes of outputs, weights and mask")
    {
        RowMatrix<double> wrong(rows, slice.cols + 1);
        Outputs<double> out;
        out.grad_q = wrong;
        test::fails_with([&] { divergence::mpi::kl(logits(zp), logits(zq), MPI_COMM_WORLD, {}, out); }, "argument 'grad_q'");
        Eigen::VectorXd weights = Eigen::VectorXd::Ones(rows);
        weights(1) = -1.0;
        Options o;
        o.weights = weights;
        test::fails_with([&] { kl(zp, 1.0, o); }, "argument 'options.weights', row 1");
        Eigen::Array<bool, Eigen::Dynamic, 1> mask(rows + 1);
        mask.setConstant(true);
        Options m;
        m.mask = mask;
        test::fails_with([&] { kl(zp, 1.0, m); }, "argument 'mask'");
        Eigen::ArrayXd values(rows);
        Outputs<double> with_rows;
        with_rows.row_values = values;
        test::fails_with([&] { divergence::mpi::kl_rows(logits(zp), logits(zq), MPI_COMM_WORLD, {}, with_rows); },
                         "divergence::mpi::kl_rows: argument 'row_values'");
    }
    SECTION("cross_entropy: a label outside the whole vocabulary, labels that differ, grad_p")
    {
        Eigen::VectorXi y(rows);
        y << 0, cols, 3;
        test::fails_with([&] { divergence::mpi::cross_entropy(divergence::labels(y), logits(zq), MPI_COMM_WORLD); },
                         "argument 'labels', row 1", "label out of [0, V = 20)");
        Eigen::VectorXi differs(rows);
        differs << 0, test::mpi::rank() == last ? 5 : 4, 3;
        if (test::mpi::size() > 1) {
            test::fails_with([&] { divergence::mpi::cross_entropy(divergence::labels(differs), logits(zq), MPI_COMM_WORLD); },
                             "must be the same on every rank");
        }
        RowMatrix<double> g(rows, slice.cols);
        Outputs<double> out;
        out.grad_p = g;
        test::fails_with([&] { divergence::mpi::cross_entropy(divergence::labels(differs), logits(zq), MPI_COMM_WORLD, {}, out); },
                         "argument 'grad_p'");
    }
}
