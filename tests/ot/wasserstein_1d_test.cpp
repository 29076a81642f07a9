#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "divergence/ot/wasserstein_1d.hpp"
#include "reference/ot_1d_reference_values.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"

namespace ot_wasserstein_1d_test {  // the test binary is a unity build: each file keeps its names to itself

namespace ot = divergence::ot;

namespace {

Eigen::VectorXd normals(Eigen::Index n, std::uint64_t seed, double shift = 0.0, double scale = 1.0)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(shift, scale);  // test data only: need not be portable
    Eigen::VectorXd v(n);
    for (Eigen::Index i = 0; i < n; ++i) v(i) = normal(rng);
    return v;
}

Eigen::VectorXd weights(Eigen::Index n, std::uint64_t seed, double zero_fraction = 0.0)
{
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uniform(0.1, 2.0), coin(0.0, 1.0);
    Eigen::VectorXd w(n);
    for (Eigen::Index i = 0; i < n; ++i) w(i) = coin(rng) < zero_fraction ? 0.0 : uniform(rng);
    if (w.sum() == 0.0) w(0) = 1.0;
    return w;
}

Eigen::VectorXd std_vector(const std::vector<double>& v) { return Eigen::Map<const Eigen::VectorXd>(v.data(), Eigen::Index(v.size())); }

/// W_p^p by integrating |F^-1(t) - G^-1(t)|^p over [0, 1] in long double: the breakpoints are the union of
/// both cumulative weights, and each quantile function is evaluated at the middle of every interval by a
/// binary search (not the sweep of the library).
long double reference_cost(const Eigen::VectorXd& x, const Eigen::VectorXd& y, Eigen::VectorXd a, Eigen::VectorXd b, double p)
{
    if (a.size() == 0) a = Eigen::VectorXd::Ones(x.size());
    if (b.size() == 0) b = Eigen::VectorXd::Ones(y.size());
    struct Side {
        std::vector<long double> position, cumulative;
    };
    const auto side = [](const Eigen::VectorXd& v, const Eigen::VectorXd& w) {
        std::vector<std::size_t> order(std::size_t(v.size()));
        std::iota(order.begin(), order.end(), std::size_t(0));
        std::sort(order.begin(), order.end(), [&](std::size_t l, std::size_t r) { return v(Eigen::Index(l)) < v(Eigen::Index(r)); });
        long double total = 0.0L;
        for (Eigen::Index k = 0; k < w.size(); ++k) total += w(k);
        Side s;
        long double running = 0.0L;
        for (std::size_t k : order) {
            running += w(Eigen::Index(k));
            s.position.push_back(v(Eigen::Index(k)));
            s.cumulative.push_back(running / total);
        }
        s.cumulative.back() = 1.0L;
        return s;
    };
    const Side u = side(x, a), v = side(y, b);
    std::vector<long double> breaks = u.cumulative;
    breaks.insert(breaks.end(), v.cumulative.begin(), v.cumulative.end());
    breaks.push_back(0.0L);
    std::sort(breaks.begin(), breaks.end());
    const auto quantile = [](const Side& s, long double t) {
        const auto it = std::lower_bound(s.cumulative.begin(), s.cumulative.end(), t);
        return s.position[std::size_t(std::min<std::ptrdiff_t>(it - s.cumulative.begin(), std::ptrdiff_t(s.position.size()) - 1))];
    };
    long double cost = 0.0L;
    for (std::size_t k = 1; k < breaks.size(); ++k) {
        const long double width = breaks[k] - breaks[k - 1];
        if (width <= 0.0L) continue;
        const long double mid = 0.5L * (breaks[k] + breaks[k - 1]);
        cost += width * std::pow(std::fabs(quantile(u, mid) - quantile(v, mid)), (long double)p);
    }
    return cost;
}

/// The closed form for n = m uniform samples: mean over i of |x_(i) - y_(i)|^p on sorted samples, in long double.
long double sorted_closed_form(Eigen::VectorXd x, Eigen::VectorXd y, double p)
{
    std::sort(x.data(), x.data() + x.size());
    std::sort(y.data(), y.data() + y.size());
    long double sum = 0.0L;
    for (Eigen::Index i = 0; i < x.size(); ++i) sum += std::pow(std::fabs((long double)x(i) - (long double)y(i)), (long double)p);
    return sum / (long double)x.size();
}

using test::fails_with;

}  // namespace

TEST_CASE("wasserstein_1d of equal-size uniform samples is the mean of |x_(i) - y_(i)|^p over sorted samples", "[wasserstein_1d][reference]")
{
    const auto n = GENERATE(1, 2, 7, 50);
    const double p = GENERATE(1.0, 1.5, 2.0, 3.0);
    const auto seed = GENERATE(1097u, 1194u, 1291u);
    const Eigen::VectorXd x = normals(n, seed), y = normals(n, seed + 1, 0.3, 2.0);
    CAPTURE(n, p, seed);
    const auto r = ot::wasserstein_1d(x, y, p);
    const double expected = double(sorted_closed_form(x, y, p));
    CHECK(r.cost == Approx(expected).epsilon(1e-13));
    CHECK(r.distance == Approx(std::pow(expected, 1.0 / p)).epsilon(1e-13));
}

TEST_CASE("wasserstein_1d matches a long-double integral of the quantile functions for weighted samples", "[wasserstein_1d][reference]")
{
    const auto n = GENERATE(1, 3, 8, 40);
    const auto m = GENERATE(1, 5, 33);
    const double p = GENERATE(1.0, 1.5, 2.0, 3.0);
    const double zero_fraction = GENERATE(0.0, 0.3);
    const std::uint64_t seed = std::uint64_t(n * 1000 + m);
    const Eigen::VectorXd x = normals(n, seed), y = normals(m, seed + 1, -0.5, 1.5);
    const Eigen::VectorXd a = weights(n, seed + 2, zero_fraction), b = weights(m, seed + 3, zero_fraction);
    CAPTURE(n, m, p, zero_fraction);
    CHECK(ot::wasserstein_1d(x, y, a, b, p).cost == Approx(double(reference_cost(x, y, a, b, p))).epsilon(1e-13).margin(1e-15));
    const Eigen::VectorXd none;
    CHECK(ot::wasserstein_1d(x, y, p).cost == Approx(double(reference_cost(x, y, none, none, p))).epsilon(1e-13).margin(1e-15));
}

TEST_CASE("wasserstein_1d agrees with POT's ot.wasserstein_1d (W_p^p) and SciPy's wasserstein_distance (W_1)", "[wasserstein_1d][reference]")
{
    for (const auto& c : ot_1d_reference::one_d_cases()) {
        CAPTURE(c.name, c.p);
        const Eigen::VectorXd x = std_vector(c.x), y = std_vector(c.y);
        Eigen::VectorXd a = c.a.empty() ? Eigen::VectorXd::Ones(x.size()) : std_vector(c.a);
        Eigen::VectorXd b = c.b.empty() ? Eigen::VectorXd::Ones(y.size()) : std_vector(c.b);
        const auto r = ot::wasserstein_1d(x, y, a, b, c.p);
        CHECK(r.cost == Approx(c.pot_wasserstein_1d).epsilon(1e-12).margin(1e-15));
        if (c.p == 1.0) CHECK(r.distance == Approx(c.scipy_wasserstein).epsilon(1e-12).margin(1e-15));
        CHECK(double(reference_cost(x, y, a, b, c.p)) == Approx(c.pot_wasserstein_1d).epsilon(1e-12).margin(1e-15));
        // Only the ratios of the weights matter.
        a *= 1e3;
        b *= 1e-3;
        CHECK(ot::wasserstein_1d(x, y, a, b, c.p).cost == Approx(r.cost).epsilon(1e-13).margin(1e-15));
    }
}

TEST_CASE("wasserstein_1d is a metric: W_p(x, x) = 0, symmetry, triangle inequality", "[wasserstein_1d][property]")
{
    const double p = GENERATE(1.0, 1.5, 2.0, 3.0);
    const auto seed = GENERATE(1097u, 1194u, 1291u, 1388u, 1485u, 1582u, 1679u, 1776u, 1873u, 1970u);
    CAPTURE(p, seed);
    const Eigen::VectorXd x = normals(6, seed), y = normals(9, seed + 1, 0.5), z = normals(4, seed + 2, -0.2, 2.0);
    const Eigen::VectorXd a = weights(6, seed + 3), b = weights(9, seed + 4), c = weights(4, seed + 5);
    const double xy = ot::wasserstein_1d(x, y, a, b, p).distance;
    const double yx = ot::wasserstein_1d(y, x, b, a, p).distance;
    const double xz = ot::wasserstein_1d(x, z, a, c, p).distance;
    const double zy = ot::wasserstein_1d(z, y, c, b, p).distance;
    CHECK(xy == Approx(yx).epsilon(1e-14));
    CHECK(xy <= xz + zy + 1e-14);
    CHECK(ot::wasserstein_1d(x, x, a, a, p).cost == 0.0);
    // The same measure written differently (points split in two halves of their weight, shuffled) is at distance 0.
    Eigen::VectorXd x2(12), a2(12);
    x2 << x.reverse(), x;
    a2 << 0.5 * a.reverse(), 0.5 * a;
    CHECK(ot::wasserstein_1d(x, x2, a, a2, p).cost == Approx(0.0).margin(1e-15));
}

TEST_CASE("wasserstein_1d is non-decreasing in p (Jensen: W_p <= W_q for p <= q)", "[wasserstein_1d][property]")
{
    const auto seed = GENERATE(1097u, 1194u, 1291u, 1388u, 1485u, 1582u, 1679u, 1776u, 1873u, 1970u);
    const Eigen::VectorXd x = normals(7, seed), y = normals(5, seed + 1, 0.2, 3.0);
    const Eigen::VectorXd a = weights(7, seed + 2), b = weights(5, seed + 3);
    double previous = 0.0;
    for (const double p : {1.0, 1.25, 1.5, 2.0, 3.0, 4.5}) {
        const double w = ot::wasserstein_1d(x, y, a, b, p).distance;
        CAPTURE(seed, p, w, previous);
        CHECK(w >= previous * (1.0 - 1e-14));
        previous = w;
    }
}

TEST_CASE("wasserstein_1d of a translate: W_p(x + c, x) = |c| for every p", "[wasserstein_1d][property]")
{
    const double p = GENERATE(1.0, 1.5, 2.0, 3.0);
    const double shift = GENERATE(-2.5, 0.125, 7.0);
    const Eigen::VectorXd x = normals(9, 11), a = weights(9, 12, 0.2);
    const Eigen::VectorXd moved = x.array() + shift;
    CAPTURE(p, shift);
    CHECK(ot::wasserstein_1d(moved, x, a, a, p).distance == Approx(std::abs(shift)).epsilon(1e-13));
    CHECK(ot::wasserstein_1d(x, moved, p).distance == Approx(std::abs(shift)).epsilon(1e-13));
}

TEST_CASE("wasserstein_1d gradients match central differences (positions and weights, p = 1, 1.5, 2, 3)", "[wasserstein_1d][gradient]")
{
    const double p = GENERATE(1.0, 1.5, 2.0, 3.0);
    const auto seed = GENERATE(1097u, 1194u, 1291u, 1388u);
    const auto n = GENERATE(1, 6);
    const Eigen::VectorXd x = normals(n, seed), y = normals(5, seed + 1, 0.4), a = weights(n, seed + 2), b = weights(5, seed + 3);
    CAPTURE(p, seed, n);
    Eigen::VectorXd gx(n), gy(5), ga(n), gb(5);
    ot::Wasserstein1dOutputs<double> out;
    out.grad_x = gx;
    out.grad_y = gy;
    out.grad_a = ga;
    out.grad_b = gb;
    ot::wasserstein_1d(x, y, a, b, p, out);
    const auto cost = [&](const Eigen::VectorXd& xx, const Eigen::VectorXd& yy, const Eigen::VectorXd& aa, const Eigen::VectorXd& bb) {
        return ot::wasserstein_1d(xx, yy, aa, bb, p).cost;
    };
    CHECK(test::close(gx, test::central_difference(x, [&](const Eigen::VectorXd& v) { return cost(v, y, a, b); }), 1e-5, 1e-8));
    CHECK(test::close(gy, test::central_difference(y, [&](const Eigen::VectorXd& v) { return cost(x, v, a, b); }), 1e-5, 1e-8));
    CHECK(test::close(ga, test::central_difference(a, [&](const Eigen::VectorXd& v) { return cost(x, y, v, b); }), 1e-5, 1e-8));
    CHECK(test::close(gb, test::central_difference(b, [&](const Eigen::VectorXd& v) { return cost(x, y, a, v); }), 1e-5, 1e-8));
    // Only the ratios of the weights matter: no derivative along a itself (Euler's theorem, degree 0).
    CHECK(a.dot(ga) == Approx(0.0).margin(1e-12));
    CHECK(b.dot(gb) == Approx(0.0).margin(1e-12));
    // Translation invariance: the gradients of the positions sum to 0.
    CHECK(gx.sum() + gy.sum() == Approx(0.0).margin(1e-12));

    SECTION("uniform weights (unequal sizes: differentiable in the weights at a_i = 1/n)")
    {
        ot::wasserstein_1d(x, y, p, out);
        const Eigen::VectorXd ua = Eigen::VectorXd::Constant(n, 1.0 / double(n)), ub = Eigen::VectorXd::Constant(5, 0.2);
        CHECK(test::close(gx, test::central_difference(x, [&](const Eigen::VectorXd& v) { return ot::wasserstein_1d(v, y, p).cost; }), 1e-5, 1e-8));
        CHECK(test::close(gy, test::central_difference(y, [&](const Eigen::VectorXd& v) { return ot::wasserstein_1d(x, v, p).cost; }), 1e-5, 1e-8));
        if (n != 5 && n != 1) {
            CHECK(test::close(ga, test::central_difference(ua, [&](const Eigen::VectorXd& v) { return cost(x, y, v, ub); }), 1e-5, 1e-8));
            CHECK(test::close(gb, test::central_difference(ub, [&](const Eigen::VectorXd& v) { return cost(x, y, ua, v); }), 1e-5, 1e-8));
        }
    }
}

TEST_CASE("wasserstein_1d potentials satisfy Kantorovich duality, also at degenerate vertices", "[wasserstein_1d][property]")
{
    // f_i + g_j <= |x_i - y_j|^p for all pairs and sum a f + sum b g = W_p^p (strong duality), with the
    // potentials the weights' gradients come from; n = m uniform samples, ties and zero weights make the
    // plan degenerate (several optimal potentials).
    const double p = GENERATE(1.0, 1.5, 2.0, 3.0);
    const int kind = GENERATE(0, 1, 2, 3);
    CAPTURE(p, kind);
    Eigen::VectorXd x = normals(6, 3), y = normals(kind == 0 ? 6 : 4, 4, 0.3);
    Eigen::VectorXd a = Eigen::VectorXd::Ones(x.size()), b = Eigen::VectorXd::Ones(y.size());
    if (kind == 1) {
        x << 0.0, 1.0, 1.0, 2.0, 2.0, 2.0;
        y << 1.0, 1.0, -1.0, 2.0;
    }
    if (kind == 2) a = weights(6, 5, 0.4), b = weights(4, 6, 0.4);
    if (kind == 3) a << 1, 1, 1, 2, 2, 2;  // cumulative weights 1/9, 2/9, 3/9, 5/9, 7/9 vs 1/4, 1/2, 3/4: generic
    std::vector<double> xs(x.data(), x.data() + x.size()), ys(y.data(), y.data() + y.size());
    std::vector<double> as(a.data(), a.data() + a.size()), bs(b.data(), b.data() + b.size());
    ot::detail::Transport1dWorkspace work;
    ot::detail::Transport1d::prepare(work, x.size(), y.size());
    std::vector<double> ga(xs.size()), gb(ys.size());
    const double cost = ot::detail::Transport1d::solve(xs.data(), x.size(), ys.data(), y.size(), as.data(), bs.data(), p, work, nullptr,
                                                       nullptr, ga.data(), gb.data());
    long double dual = 0.0L;
    for (std::size_t k = 0; k < xs.size(); ++k) dual += (long double)(work.cum_a[k] - (k ? work.cum_a[k - 1] : 0.0)) * work.f[k];
    for (std::size_t k = 0; k < ys.size(); ++k) dual += (long double)(work.cum_b[k] - (k ? work.cum_b[k - 1] : 0.0)) * work.g[k];
    CHECK(double(dual) == Approx(cost).epsilon(1e-12).margin(1e-14));
    for (std::size_t i = 0; i < xs.size(); ++i)
        for (std::size_t j = 0; j < ys.size(); ++j) {
            const double c = std::pow(std::abs(xs[std::size_t(work.order_x[i])] - ys[std::size_t(work.order_y[j])]), p);
            CAPTURE(i, j);
            CHECK(work.f[i] + work.g[j] <= c + 1e-12 * (1.0 + c));
        }
}

TEST_CASE("wasserstein_1d degenerate inputs: identical samples, single points, equal points, zero weights", "[wasserstein_1d][edge]")
{
    const double p = GENERATE(1.0, 1.5, 2.0, 3.0);
    CAPTURE(p);
    Eigen::VectorXd gx(3), gy(3), ga(3), gb(3);
    ot::Wasserstein1dOutputs<double> out;
    out.grad_x = gx;
    out.grad_y = gy;
    out.grad_a = ga;
    out.grad_b = gb;

    SECTION("identical samples: 0 with zero gradients")
    {
        const Eigen::Vector3d x(0.5, -1.0, 2.0);
        const Eigen::Vector3d permuted(2.0, 0.5, -1.0);
        const auto r = ot::wasserstein_1d(x, permuted, p, out);
        CHECK(r.cost == 0.0);
        CHECK(r.distance == 0.0);
        CHECK(gx.isZero(0.0));
        CHECK(gy.isZero(0.0));
        CHECK(std::isfinite(ga.sum()));
    }
    SECTION("single points: |x - y|^p with gradients +-p |x - y|^(p-1)")
    {
        Eigen::VectorXd x(1), y(1), g1(1), g2(1);
        x << 0.25;
        y << 2.0;
        ot::Wasserstein1dOutputs<double> o;
        o.grad_x = g1;
        o.grad_y = g2;
        const auto r = ot::wasserstein_1d(x, y, p, o);
        CHECK(r.distance == Approx(1.75).epsilon(1e-15));
        CHECK(r.cost == Approx(std::pow(1.75, p)).epsilon(1e-15));
        CHECK(g1(0) == Approx(-p * std::pow(1.75, p - 1.0)).epsilon(1e-15));
        CHECK(g2(0) == Approx(p * std::pow(1.75, p - 1.0)).epsilon(1e-15));
    }
    SECTION("all points equal (diameter 0): 0, zero gradients, finite potentials")
    {
        const Eigen::Vector3d x = Eigen::Vector3d::Constant(-3.0), w(1.0, 0.0, 2.0);
        const auto r = ot::wasserstein_1d(x, x, w, Eigen::Vector3d(0.5, 0.5, 0.5), p, out);
        CHECK(r.cost == 0.0);
        CHECK(gx.isZero(0.0));
        CHECK(gy.isZero(0.0));
        CHECK(ga.isZero(0.0));
        CHECK(gb.isZero(0.0));
    }
    SECTION("points of zero weight do not matter, and get a zero position gradient")
    {
        const Eigen::Vector3d x(0.0, 5.0, 1.0), a(1.0, 0.0, 3.0), y(-1.0, 0.5, 100.0), b(2.0, 1.0, 0.0);
        const Eigen::Vector2d x_kept(0.0, 1.0), a_kept(1.0, 3.0), y_kept(-1.0, 0.5), b_kept(2.0, 1.0);
        const auto r = ot::wasserstein_1d(x, y, a, b, p, out);
        CHECK(r.cost == Approx(ot::wasserstein_1d(x_kept, y_kept, a_kept, b_kept, p).cost).epsilon(1e-15));
        CHECK(gx(1) == 0.0);
        CHECK(gy(2) == 0.0);
        CHECK(std::isfinite(ga(1)));
        CHECK(std::isfinite(gb(2)));
    }
    SECTION("p = 1 at a tie x_i = y_j: the subgradient 0")
    {
        Eigen::VectorXd x(1), y(1), g1(1), g2(1);
        x << 1.5;
        y << 1.5;
        ot::Wasserstein1dOutputs<double> o;
        o.grad_x = g1;
        o.grad_y = g2;
        CHECK(ot::wasserstein_1d(x, y, p, o).cost == 0.0);
        CHECK(g1(0) == 0.0);
        CHECK(g2(0) == 0.0);
    }
}

TEST_CASE("wasserstein_1d float inputs accumulate in double and agree with double inputs", "[wasserstein_1d][float]")
{
    const double p = GENERATE(1.0, 1.5, 2.0, 3.0);
    const Eigen::VectorXf x = normals(300, 21).cast<float>(), y = normals(200, 22, 0.1).cast<float>();
    const Eigen::VectorXf a = weights(300, 23).cast<float>(), b = weights(200, 24).cast<float>();
    Eigen::VectorXf gx(300), ga(300);
    ot::Wasserstein1dOutputs<float> out;
    out.grad_x = gx;
    out.grad_a = ga;
    const auto r = ot::wasserstein_1d(x, y, a, b, p, out);
    Eigen::VectorXd gxd(300), gad(300);
    ot::Wasserstein1dOutputs<double> outd;
    outd.grad_x = gxd;
    outd.grad_a = gad;
    const auto rd = ot::wasserstein_1d(x.cast<double>(), y.cast<double>(), a.cast<double>(), b.cast<double>(), p, outd);
    CAPTURE(p);
    // The same double computation, rounded once to float.
    CHECK(r.cost == float(rd.cost));
    CHECK(r.distance == float(rd.distance));
    CHECK(gx == gxd.cast<float>());
    CHECK(ga == gad.cast<float>());
}

TEST_CASE("wasserstein_1d takes any vector layout: rows, columns of a matrix, Maps, expressions", "[wasserstein_1d][api]")
{
    Eigen::MatrixXd m(4, 2);
    m << 1, 2, 3, 4, 5, 6, 7, 9;
    const Eigen::RowVector4d row(2, 4, 6, 9);
    const double expected = ot::wasserstein_1d(Eigen::Vector4d(1, 3, 5, 7), Eigen::Vector4d(2, 4, 6, 9), 2.0).cost;
    CHECK(ot::wasserstein_1d(m.col(0), m.col(1), 2.0).cost == expected);
    CHECK(ot::wasserstein_1d(m.col(0), row, 2.0).cost == expected);
    CHECK(ot::wasserstein_1d(m.col(0).array() * 1.0, Eigen::Map<const Eigen::Vector4d>(row.data()), 2.0).cost == expected);
    CHECK(expected == Approx((1.0 + 1.0 + 1.0 + 4.0) / 4.0));
}

TEST_CASE("wasserstein_1d rejects bad inputs with the function, argument, index and problem named", "[wasserstein_1d][errors]")
{
    const Eigen::Vector3d x(0, 1, 2), y(1, 2, 3), w(1, 1, 1);
    const Eigen::VectorXd empty;
    const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
    fails_with([&] { ot::wasserstein_1d(empty, y, 1.0); }, "divergence::ot::wasserstein_1d: argument 'x': empty input");
    fails_with([&] { ot::wasserstein_1d(x, empty, 1.0); }, "argument 'y': empty input");
    fails_with([&] { ot::wasserstein_1d(Eigen::Vector3d(0, nan, 1), y, 1.0); }, "argument 'x', row 1: position must be finite (nan)");
    fails_with([&] { ot::wasserstein_1d(x, Eigen::Vector3d(0, 1, -inf), 1.0); }, "argument 'y', row 2: position must be finite (-inf)");
    fails_with([&] { ot::wasserstein_1d(x, y, Eigen::Vector3d(1, -0.5, 1), w, 1.0); },
               "argument 'a', row 1: weight must be finite and >= 0 (-0.5)");
    fails_with([&] { ot::wasserstein_1d(x, y, w, Eigen::Vector3d(1, nan, 1), 1.0); }, "argument 'b', row 1: weight must be finite and >= 0 (nan)");
    fails_with([&] { ot::wasserstein_1d(x, y, w, Eigen::Vector3d(inf, 1, 1), 1.0); }, "argument 'b', row 0: weight must be finite and >= 0 (inf)");
    fails_with([&] { ot::wasserstein_1d(x, y, Eigen::Vector3d::Zero(), w, 1.0); }, "argument 'a': the weights sum to 0");
    fails_with([&] { ot::wasserstein_1d(x, y, Eigen::Vector3d::Constant(1e308), w, 1.0); }, "argument 'a': the weights sum to inf");
    fails_with([&] { ot::wasserstein_1d(x, y, Eigen::Vector2d(1, 1), w, 1.0); }, "argument 'a': has 2 entries for 3 positions");
    fails_with([&] { ot::wasserstein_1d(x, y, w, Eigen::Vector4d(1, 1, 1, 1), 1.0); }, "argument 'b': has 4 entries for 3 positions");
    fails_with([&] { ot::wasserstein_1d(x, y, 0.5); }, "argument 'p': must be finite and >= 1 (0.5)");
    fails_with([&] { ot::wasserstein_1d(x, y, nan); }, "argument 'p': must be finite and >= 1 (nan)");
    fails_with([&] { ot::wasserstein_1d(x, y, inf); }, "argument 'p': must be finite and >= 1 (inf)");
    Eigen::VectorXd short_gradient(2);
    ot::Wasserstein1dOutputs<double> out;
    out.grad_b = short_gradient;
    fails_with([&] { ot::wasserstein_1d(x, y, 1.0, out); }, "argument 'grad_b': has 2 entries for 3 positions");
}

TEST_CASE("wasserstein_1d refuses a gradient that overflows double (huge p) instead of returning NaN", "[wasserstein_1d][errors][edge]")
{
    // x = 0 between y = -2 and y = 2 at p = 1e8: the two terms 0.5 p 2^(p-1) of opposite signs are +-inf in
    // double (inf - inf was NaN). The cost 2^p alone is +inf, returned without gradients.
    const Eigen::VectorXd x = Eigen::VectorXd::Zero(1), y = Eigen::Vector2d(-2.0, 2.0);
    CHECK(ot::wasserstein_1d(x, y, 1e8).cost == std::numeric_limits<double>::infinity());
    Eigen::VectorXd gx(1), gy(2);
    ot::Wasserstein1dOutputs<double> out;
    out.grad_x = gx;
    fails_with([&] { ot::wasserstein_1d(x, y, 1e8, out); },
               "divergence::ot::wasserstein_1d: argument 'grad_x', row 0: the gradient overflows double", "cost (inf)");
    out = {};
    out.grad_y = gy;
    fails_with([&] { ot::wasserstein_1d(x, y, 1e8, out); }, "argument 'grad_y', row 0: the gradient overflows double");
    // The potentials: x = {0, 0.5} against y = {-2, 2} meet at a degenerate vertex, where
    // f = 2.5^p - 2^p (inf - inf in double).
    out = {};
    Eigen::VectorXd ga2(2);
    out.grad_a = ga2;
    fails_with([&] { ot::wasserstein_1d(Eigen::Vector2d(0.0, 0.5), y, Eigen::Vector2d(1.0, 1.0), Eigen::Vector2d(1.0, 1.0), 1e8, out); },
               "argument 'grad_a', row 0: the gradient overflows double");

    // Large but representable: x = 0, y = 2, p = 1000: cost 2^1000, d cost / dx = -1000 2^999 (long double:
    // both below LDBL_MAX and DBL_MAX).
    out = {};
    out.grad_x = gx;
    const Eigen::VectorXd two = Eigen::VectorXd::Constant(1, 2.0);
    const auto r = ot::wasserstein_1d(x, two, 1000.0, out);
    CHECK(r.cost == Approx(double(std::pow(2.0L, 1000.0L))).epsilon(1e-14));
    CHECK(gx(0) == Approx(double(-1000.0L * std::pow(2.0L, 999.0L))).epsilon(1e-14));
    // |x - y| < 1 at p = 1e8: every term underflows to 0, exactly as the true gradient's scale says.
    out = {};
    out.grad_x = gx;
    ot::wasserstein_1d(x, Eigen::Vector2d(-0.5, 0.5), 1e8, out);
    CHECK(gx(0) == 0.0);
}

}  // namespace ot_wasserstein_1d_test
