// Within-sample Gaussian kernel sums with each unordered pair computed once (kernel/self_pairs.hpp):
// the round-robin schedule covers every band pair exactly once; the row log-sums and softmax
// forces equal a plain long-double O(n^2 d) loop written here, on both distance paths, with double
// and float exponentials, for n = 1, n smaller than a tile, whole and ragged tiles, odd tile and
// band counts; the quadratic entropy's gradient (which is made of them) against central
// differences over several tiles; and the same bits on 1 and 3 threads.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <set>
#include <utility>
#include <vector>

#include "divergence/kernel/cauchy_schwarz.hpp"
#include "divergence/kernel/self_pairs.hpp"
#include "support/finite_difference.hpp"
#include "support/kernel.hpp"
#include "support/threads.hpp"

namespace kernel_self_pairs_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using divergence::RowMatrix;
using Eigen::Index;
using Eigen::VectorXd;
namespace kernel = divergence::kernel;
using test::normal_sample;
using test::squared_distance;
using LD = long double;

struct SelfReference {
    VectorXd l;           ///< log sum_j k_h(x_i, x_j) = log1p(sum_{j != i} k_h(x_i, x_j))
    RowMatrix<double> p;  ///< sum_j (k_ij / s_i)(x_i - x_j)
};

/// The row log-sums and row-softmax forces of x with itself, directly in long double (every
/// ordered pair; terms <= 1, the diagonal 1).
SelfReference reference_self(const RowMatrix<double>& x, double h)
{
    const Index n = x.rows(), d = x.cols();
    SelfReference r{VectorXd(n), RowMatrix<double>(n, d)};
    for (Index i = 0; i < n; ++i) {
        LD others = 0;
        std::vector<LD> force(std::size_t(d), 0.0L);
        for (Index j = 0; j < n; ++j) {
            if (j == i) continue;
            const LD w = std::exp(-squared_distance(x, i, x, j) / (2.0L * h * h));
            others += w;
            for (Index k = 0; k < d; ++k) force[std::size_t(k)] += w * ((LD)x(i, k) - x(j, k));
        }
        r.l(i) = double(std::log1p(others));
        for (Index k = 0; k < d; ++k) r.p(i, k) = double(force[std::size_t(k)] / (1 + others));
    }
    return r;
}

template <class E>
SelfReference ours(const RowMatrix<double>& x, double h, kernel::DistancePath path)
{
    const kernel::SamplePair<E> pair(x, x, path);
    SelfReference r;
    r.l = kernel::detail::self_log_row_sums<E>(pair.distances(), 2.0 * h * h, &r.p);
    return r;
}

/// max |a - b| / max |b| (forces: each row's error is relative to the largest force)
double max_gap(const Eigen::Ref<const Eigen::MatrixXd>& a, const Eigen::Ref<const Eigen::MatrixXd>& b)
{
    return (a - b).array().abs().maxCoeff() / std::max(1e-300, b.array().abs().maxCoeff());
}


}  // namespace

TEST_CASE("self pairs: the round-robin rounds hold every band pair once, each band at most once a round", "[kernel][self_pairs]")
{
    for (Index bands = 1; bands <= 20; ++bands) {
        const auto rounds = kernel::detail::band_rounds(bands);
        std::set<std::pair<Index, Index>> seen;
        for (const auto& round : rounds) {
            std::set<Index> in_round;
            for (const auto& [a, b] : round) {
                CHECK(a <= b);
                CHECK(b < bands);
                CHECK(in_round.insert(a).second);
                if (a != b) CHECK(in_round.insert(b).second);
                CHECK(seen.insert({a, b}).second);
            }
        }
        CAPTURE(bands);
        CHECK(Index(seen.size()) == bands * (bands + 1) / 2);
        CHECK(Index(rounds.size()) == (bands == 1 ? 1 : bands + bands % 2));  // the diagonal, then players - 1
    }
}

TEST_CASE("self pairs: row log-sums and softmax forces equal a long-double loop", "[kernel][self_pairs]")
{
    // n = 1; n < one tile (32); one whole tile; 33 (a ragged second tile); 95 (3 tiles: odd);
    // 539 (17 tiles in 9 bands of 2: an odd band count, a bye every round); 1100 (35 tiles, 12 bands of 3)
    for (Index n : {1, 7, 32, 33, 95, 539, 1100}) {
        for (const auto path : {kernel::DistancePath::exact, kernel::DistancePath::expanded}) {
            const Index d = path == kernel::DistancePath::exact ? 2 : 7;
            const RowMatrix<double> x = normal_sample(n, d, 40 + n, 1.0, 0.5);
            for (double h : {0.3, 2.0}) {
                const SelfReference expected = reference_self(x, h);
                const SelfReference in_double = ours<double>(x, h, path);
                const SelfReference in_float = ours<float>(x, h, path);
                CAPTURE(n, d, int(path), h);
                CAPTURE(max_gap(in_double.p, expected.p), max_gap(in_float.p, expected.p));
                // log-sums relative entry by entry, also where l_i is tiny, down to the terms that
                // underflow: 2^-1022 (double), 2^-126 (float exponentials: n of them, 1e-34)
                CHECK(test::close(in_double.l, expected.l, 1e-12, 1e-300));
                CHECK(max_gap(in_double.p, expected.p) < 1e-12);
                // float exponentials: each term within a few float ulps
                CHECK(test::close(in_float.l, expected.l, 3e-7, 1e-34));
                CHECK(max_gap(in_float.p, expected.p) < 3e-7);
            }
        }
    }
}

TEST_CASE("self pairs: a vanishing width leaves the diagonal, log 1 = 0 and zero forces", "[kernel][self_pairs]")
{
    const RowMatrix<double> x = normal_sample(70, 6, 77);
    for (const auto path : {kernel::DistancePath::exact, kernel::DistancePath::expanded}) {
        for (double h : {1e-6, 1e-30}) {
            const SelfReference r = ours<float>(x, h, path);
            CHECK(r.l.cwiseAbs().maxCoeff() == 0.0);
            CHECK(r.p.cwiseAbs().maxCoeff() == 0.0);
            const SelfReference rd = ours<double>(x, h, path);
            CHECK(rd.l.cwiseAbs().maxCoeff() == 0.0);
        }
    }
}

TEST_CASE("self pairs: the quadratic entropy's gradient over several tiles against central differences", "[kernel][self_pairs]")
{
    for (const auto path : {kernel::DistancePath::exact, kernel::DistancePath::expanded}) {
        const RowMatrix<double> x = normal_sample(70, 3, 91, 1.0, 3.0);  // 3 tiles; entries away from 0
        kernel::KernelOptions o;
        o.bandwidth = kernel::Bandwidth::fixed(0.7);
        o.path = path;
        const auto r = kernel::renyi_quadratic_entropy(x, o);
        const RowMatrix<double> g = test::central_difference(x, [&](const RowMatrix<double>& xp) { return kernel::renyi_quadratic_entropy(xp, o).entropy; });
        CAPTURE(int(path));
        CHECK(test::close(r.grad_x, g, 1e-5, 1e-7));
    }
}

TEST_CASE("self pairs: the same bits on 1 and 3 threads", "[kernel][self_pairs][threads]")
{
    for (const auto path : {kernel::DistancePath::exact, kernel::DistancePath::expanded}) {
        const RowMatrix<double> x = normal_sample(1100, 5, 5);  // 1.2e6 pairs: above the parallel threshold
        const auto one = test::with_threads(1, [&] { return ours<float>(x, 1.0, path); });
        const auto three = test::with_threads(3, [&] { return ours<float>(x, 1.0, path); });
        CHECK(one.l == three.l);
        CHECK(one.p == three.p);
    }
}

}  // namespace kernel_self_pairs_test
