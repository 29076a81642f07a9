// The gradient of the linear transport cost L = <P*, C> by implicit differentiation
// (ot/implicit.hpp): central differences of the re-solved linear cost for every input (cost
// entries, weights along the simplex, epsilon, points of every built-in cost), balanced and
// unbalanced; a dense forward-mode reference (the (n + m) x (n + m) system built explicitly and
// solved by a pseudo-inverse, one direction at a time: no adjoint); thread counts; errors.

#include <catch2/catch.hpp>

#include <Eigen/Dense>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

#include "divergence/ot/implicit.hpp"
#include "support/ot.hpp"
#include "support/threads.hpp"

namespace ot_implicit_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using divergence::RowMatrix;
using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;
namespace ot = divergence::ot;
using test::random_weights;
using test::squared_distances;
using test::tight;
using test::uniform_points;

constexpr double inf = std::numeric_limits<double>::infinity();

double max_abs(const MatrixXd& m) { return m.size() == 0 ? 0.0 : m.cwiseAbs().maxCoeff(); }

/// Central difference of the re-solved linear cost along a perturbation: (L(+h) - L(-h)) / 2h.
template <class Solve>
double central(const Solve& linear_at, double h)
{
    return (linear_at(h) - linear_at(-h)) / (2.0 * h);
}

/// d<P, C> along (dC, da, db) by forward-mode implicit differentiation, the system built densely:
/// M [df; dg] = [(P o dC) 1 - eps P (db / b); (P o dC)^T 1 - eps P^T (da / a)] solved with the
/// pseudo-inverse of M (balanced: singular along (1, -1)), then dL = <P, dC> + <C, dP>.
struct DenseReference {
    RowMatrix<double> plan, cost;
    VectorXd a, b;
    double eps;
    double stiffness_a, stiffness_b;
    MatrixXd pseudo_inverse;

    DenseReference(const RowMatrix<double>& p, const RowMatrix<double>& c, const VectorXd& wa, const VectorXd& wb, double e,
                   double reach_a = inf, double reach_b = inf)
        : plan(p), cost(c), a(wa), b(wb), eps(e), stiffness_a(1.0 + e / reach_a), stiffness_b(1.0 + e / reach_b)
    {
        const Index n = plan.rows(), m = plan.cols();
        MatrixXd system = MatrixXd::Zero(n + m, n + m);
        system.topLeftCorner(n, n) = (stiffness_a * plan.rowwise().sum()).asDiagonal();
        system.bottomRightCorner(m, m) = (stiffness_b * plan.colwise().sum().transpose()).asDiagonal();
        system.topRightCorner(n, m) = plan;
        system.bottomLeftCorner(m, n) = plan.transpose();
        pseudo_inverse = system.completeOrthogonalDecomposition().pseudoInverse();
    }
    double derivative(const RowMatrix<double>& dc, const VectorXd& da, const VectorXd& db) const
    {
        const Index n = plan.rows(), m = plan.cols();
        const RowMatrix<double> pdc = plan.cwiseProduct(dc);
        VectorXd rhs(n + m);
        rhs.head(n) = pdc.rowwise().sum() - eps * plan * db.cwiseQuotient(b);
        rhs.tail(m) = pdc.colwise().sum().transpose() - eps * plan.transpose() * da.cwiseQuotient(a);
        const VectorXd z = pseudo_inverse * rhs;
        double dl = 0.0;
        for (Index i = 0; i < n; ++i) {
            for (Index j = 0; j < m; ++j) {
                const double dp = plan(i, j) * ((z(i) + z(n + j) - dc(i, j)) / eps + da(i) / a(i) + db(j) / b(j));
                dl += plan(i, j) * dc(i, j) + cost(i, j) * dp;
            }
        }
        return dl;
    }
};

}  // namespace

TEST_CASE("linear_cost_gradient: d<P, C> / dC, da, db, d eps equal central differences of the re-solved linear cost, not the plan", "[ot][implicit][gradient]")
{
    const Index n = 5, m = 6;
    const RowMatrix<double> cost = squared_distances(uniform_points(n, 2, 61), uniform_points(m, 2, 62));
    const VectorXd a = random_weights(n, 63), b = random_weights(m, 64);
    const double eps = GENERATE(0.05, 0.5);
    CAPTURE(eps);
    const double h = 1e-5;
    const auto s = ot::sinkhorn(a, b, cost, tight(eps));
    REQUIRE(s.converged());
    const ot::LinearCostGradient g = ot::linear_cost_gradient(s);
    REQUIRE(g.converged());
    CHECK(g.residual <= 1e-10);
    CHECK(g.linear == Approx(s.linear).epsilon(1e-13));
    CHECK(g.gradient_x.size() == 0);
    REQUIRE(g.gradient_cost.rows() == n);
    REQUIRE(g.gradient_cost.cols() == m);

    RowMatrix<double> fd(n, m);
    for (Index i = 0; i < n; ++i) {
        for (Index j = 0; j < m; ++j) {
            fd(i, j) = central(
                [&](double t) {
                    RowMatrix<double> c = cost;
                    c(i, j) += t;
                    return ot::sinkhorn(a, b, c, tight(eps)).linear;
                },
                h);
        }
    }
    const double fd_error = max_abs(fd - g.gradient_cost);
    const double envelope_gap = max_abs(g.gradient_cost - s.plan());
    CAPTURE(fd_error, envelope_gap);
    CHECK(fd_error <= 1e-7 * std::max(1.0, max_abs(fd)));
    CHECK(envelope_gap >= 1e4 * fd_error);  // returning the plan (the envelope gradient) would fail

    // weights, along the simplex: mass t moved from entry 0 to entry i
    for (Index i = 1; i < n; ++i) {
        const double d = central(
            [&](double t) {
                VectorXd w = a;
                w(i) += t, w(0) -= t;
                return ot::sinkhorn(w, b, cost, tight(eps)).linear;
            },
            h);
        CHECK(d == Approx(g.gradient_a(i) - g.gradient_a(0)).epsilon(1e-6).margin(1e-8));
    }
    for (Index j = 1; j < m; ++j) {
        const double d = central(
            [&](double t) {
                VectorXd w = b;
                w(j) += t, w(0) -= t;
                return ot::sinkhorn(a, w, cost, tight(eps)).linear;
            },
            h);
        CHECK(d == Approx(g.gradient_b(j) - g.gradient_b(0)).epsilon(1e-6).margin(1e-8));
    }
    CHECK(g.gradient_a.sum() == Approx(0.0).margin(1e-13));
    CHECK(g.gradient_b.sum() == Approx(0.0).margin(1e-13));
    const double d_eps = central([&](double t) { return ot::sinkhorn(a, b, cost, tight(eps + t)).linear; }, h);
    CHECK(d_eps == Approx(g.gradient_epsilon).epsilon(1e-6).margin(1e-8));
}

TEST_CASE("linear_cost_gradient: gradients with respect to the points equal central differences, for every built-in cost", "[ot][implicit][gradient]")
{
    RowMatrix<double> x = uniform_points(4, 3, 71), y = uniform_points(5, 3, 72);
    const VectorXd a = random_weights(4, 73), b = random_weights(5, 74);
    const double eps = GENERATE(0.05, 0.5);
    CAPTURE(eps);
    const double h = 1e-6;
    const auto check = [&](auto kind, const RowMatrix<double>& px, const RowMatrix<double>& py) {
        const auto s = ot::sinkhorn(a, px, b, py, kind, tight(eps));
        REQUIRE(s.converged());
        const ot::LinearCostGradient g = ot::linear_cost_gradient(s);
        REQUIRE(g.converged());
        CHECK(g.gradient_cost.size() == 0);
        const auto linear = [&](const RowMatrix<double>& u, const RowMatrix<double>& v) { return ot::sinkhorn(a, u, b, v, kind, tight(eps)).linear; };
        RowMatrix<double> fx(px.rows(), px.cols()), fy(py.rows(), py.cols());
        for (Index i = 0; i < px.rows(); ++i) {
            for (Index k = 0; k < px.cols(); ++k) {
                fx(i, k) = central(
                    [&](double t) {
                        RowMatrix<double> u = px;
                        u(i, k) += t;
                        return linear(u, py);
                    },
                    h);
            }
        }
        for (Index j = 0; j < py.rows(); ++j) {
            for (Index k = 0; k < py.cols(); ++k) {
                fy(j, k) = central(
                    [&](double t) {
                        RowMatrix<double> v = py;
                        v(j, k) += t;
                        return linear(px, v);
                    },
                    h);
            }
        }
        const double error = std::max(max_abs(fx - g.gradient_x), max_abs(fy - g.gradient_y));
        const double envelope_gap = std::max(max_abs(s.gradient_x() - g.gradient_x), max_abs(s.gradient_y() - g.gradient_y));
        CAPTURE(error, envelope_gap);
        CHECK(error <= 1e-6 * std::max(1.0, std::max(max_abs(fx), max_abs(fy))));
        CHECK(envelope_gap >= 1e3 * error);
    };
    SECTION("squared Euclidean") { check(ot::SquaredEuclidean{}, x, y); }
    SECTION("Euclidean") { check(ot::Euclidean{}, x, y); }
    SECTION("Manhattan") { check(ot::Manhattan{}, x, y); }
    SECTION("KL between probability rows (unconstrained partial derivatives)")
    {
        for (Index i = 0; i < x.rows(); ++i) x.row(i) /= x.row(i).sum();
        for (Index j = 0; j < y.rows(); ++j) y.row(j) /= y.row(j).sum();
        check(ot::KlCost{}, x, y);
    }
}

TEST_CASE("linear_cost_gradient: the adjoint equals a dense forward-mode solve of the (n + m) x (n + m) system", "[ot][implicit][reference]")
{
    const Index n = 4, m = 5;
    const RowMatrix<double> cost = squared_distances(uniform_points(n, 2, 81), uniform_points(m, 2, 82));
    const VectorXd a = random_weights(n, 83), b = random_weights(m, 84);
    const auto reach = GENERATE(std::pair{inf, inf}, std::pair{0.7, 0.4}, std::pair{inf, 0.3});
    const double eps = GENERATE(0.05, 0.5);
    CAPTURE(eps, reach.first, reach.second);
    const auto s = ot::sinkhorn(a, b, cost, tight(eps, reach.first, reach.second));
    REQUIRE(s.converged());
    ot::ImplicitOptions o;
    o.tolerance = 1e-14;
    const ot::LinearCostGradient g = ot::linear_cost_gradient(s, o);
    REQUIRE(g.converged());
    const DenseReference reference(s.plan(), cost, VectorXd::Map(s.a.data(), n), VectorXd::Map(s.b.data(), m), eps, reach.first, reach.second);
    const RowMatrix<double> no_cost = RowMatrix<double>::Zero(n, m);
    const VectorXd no_a = VectorXd::Zero(n), no_b = VectorXd::Zero(m);
    const double scale = max_abs(g.gradient_cost);
    for (Index i = 0; i < n; ++i) {
        for (Index j = 0; j < m; ++j) {
            RowMatrix<double> dc = no_cost;
            dc(i, j) = 1.0;
            CHECK(std::abs(reference.derivative(dc, no_a, no_b) - g.gradient_cost(i, j)) <= 1e-9 * scale);
        }
    }
    const bool balanced = std::isinf(reach.first) && std::isinf(reach.second);
    // Balanced: only mass-preserving directions are defined (entry i minus entry 0); else each entry.
    for (Index i = balanced ? 1 : 0; i < n; ++i) {
        VectorXd da = no_a;
        da(i) += 1.0;
        if (balanced) da(0) -= 1.0;
        const double expected = g.gradient_a(i) - (balanced ? g.gradient_a(0) : 0.0);
        CHECK(std::abs(reference.derivative(no_cost, da, no_b) - expected) <= 1e-9 * std::max(1.0, std::abs(expected)));
    }
    for (Index j = balanced ? 1 : 0; j < m; ++j) {
        VectorXd db = no_b;
        db(j) += 1.0;
        if (balanced) db(0) -= 1.0;
        const double expected = g.gradient_b(j) - (balanced ? g.gradient_b(0) : 0.0);
        CHECK(std::abs(reference.derivative(no_cost, no_a, db) - expected) <= 1e-9 * std::max(1.0, std::abs(expected)));
    }
}

TEST_CASE("linear_cost_gradient: unbalanced and semi-unbalanced gradients equal central differences", "[ot][implicit][gradient]")
{
    const Index n = 4, m = 5;
    const RowMatrix<double> cost = squared_distances(uniform_points(n, 2, 91), uniform_points(m, 2, 92));
    const VectorXd a = random_weights(n, 93), b = 1.5 * random_weights(m, 94);
    const auto reach = GENERATE(std::pair{0.5, 0.5}, std::pair{inf, 0.3});
    const double eps = 0.1, h = 1e-6;
    CAPTURE(reach.first, reach.second);
    const auto o = tight(eps, reach.first, reach.second);
    const auto s = ot::sinkhorn(a, b, cost, o);
    REQUIRE(s.converged());
    const ot::LinearCostGradient g = ot::linear_cost_gradient(s);
    REQUIRE(g.converged());
    RowMatrix<double> fd(n, m);
    for (Index i = 0; i < n; ++i) {
        for (Index j = 0; j < m; ++j) {
            fd(i, j) = central(
                [&](double t) {
                    RowMatrix<double> c = cost;
                    c(i, j) += t;
                    return ot::sinkhorn(a, b, c, o).linear;
                },
                h);
        }
    }
    CHECK(max_abs(fd - g.gradient_cost) <= 1e-7);
    CHECK(max_abs(g.gradient_cost - s.plan()) >= 1e3 * max_abs(fd - g.gradient_cost));
    // Unbalanced: every partial derivative (masses are free) where a side is relaxed
    for (Index i = 0; i < n; ++i) {
        const double d = central(
            [&](double t) {
                VectorXd w = a;
                w(i) += t;
                return ot::sinkhorn(w, b, cost, o).linear;
            },
            h);
        CHECK(d == Approx(g.gradient_a(i)).epsilon(1e-6).margin(1e-8));
    }
    for (Index j = 0; j < m; ++j) {
        const double d = central(
            [&](double t) {
                VectorXd w = b;
                w(j) += t;
                return ot::sinkhorn(a, w, cost, o).linear;
            },
            h);
        CHECK(d == Approx(g.gradient_b(j)).epsilon(1e-6).margin(1e-8));
    }
    const double d_eps = central([&](double t) { return ot::sinkhorn(a, b, cost, tight(eps + t, reach.first, reach.second)).linear; }, h);
    CHECK(d_eps == Approx(g.gradient_epsilon).epsilon(1e-6).margin(1e-8));
}

TEST_CASE("linear_cost_gradient: zero weights, a ridge and the iteration limit", "[ot][implicit]")
{
    const Index n = 4, m = 5;
    const RowMatrix<double> cost = squared_distances(uniform_points(n, 2, 101), uniform_points(m, 2, 102));
    VectorXd a = random_weights(n, 103), b = random_weights(m, 104);
    const double eps = 0.2, h = 1e-6;
    SECTION("a point of weight 0 takes no part; the others' gradients equal central differences")
    {
        a(2) = 0.0;
        a /= a.sum();
        const auto s = ot::sinkhorn(a, b, cost, tight(eps));
        REQUIRE(s.converged());
        const ot::LinearCostGradient g = ot::linear_cost_gradient(s);
        REQUIRE(g.converged());
        CHECK(g.gradient_cost.row(2).cwiseAbs().maxCoeff() == 0.0);
        for (Index j = 0; j < m; ++j) {
            const double d = central(
                [&](double t) {
                    RowMatrix<double> c = cost;
                    c(1, j) += t;
                    return ot::sinkhorn(a, b, c, tight(eps)).linear;
                },
                h);
            CHECK(d == Approx(g.gradient_cost(1, j)).epsilon(1e-6).margin(1e-9));
        }
        const double d = central(
            [&](double t) {
                VectorXd w = a;
                w(3) += t, w(0) -= t;
                return ot::sinkhorn(w, b, cost, tight(eps)).linear;
            },
            h);
        CHECK(d == Approx(g.gradient_a(3) - g.gradient_a(0)).epsilon(1e-6).margin(1e-9));
    }
    SECTION("a small ridge changes the gradient by about ridge / lambda_min; max_iterations = 1 stops early")
    {
        const auto s = ot::sinkhorn(a, b, cost, tight(eps));
        const ot::LinearCostGradient exact = ot::linear_cost_gradient(s);
        ot::ImplicitOptions o;
        o.ridge = 1e-12;
        const ot::LinearCostGradient ridged = ot::linear_cost_gradient(s, o);
        REQUIRE(ridged.converged());
        CHECK(max_abs(ridged.gradient_cost - exact.gradient_cost) <= 1e-8 * max_abs(exact.gradient_cost));
        o = {};
        o.max_iterations = 1;
        const ot::LinearCostGradient early = ot::linear_cost_gradient(s, o);
        CHECK(early.status == ot::ImplicitStatus::iteration_limit);
        CHECK(early.iterations == 1);
        CHECK(early.residual > 1e-10);
        CHECK(std::string(ot::to_string(early.status)) == "iteration limit");
    }
}

TEST_CASE("linear_cost_gradient: the same bits for any number of threads", "[ot][implicit][threads]")
{
    // 97 x 53 cost entries: more than the executor's parallel threshold (parallel_min_entries).
    const RowMatrix<double> x = uniform_points(97, 3, 111), y = uniform_points(53, 3, 112);
    const VectorXd a = random_weights(97, 113), b = random_weights(53, 114);
    ot::SinkhornOptions o;
    o.epsilon = 0.1;
    o.tolerance = 1e-12;
    const auto s = ot::sinkhorn(a, x, b, y, ot::SquaredEuclidean{}, o);
    REQUIRE(s.converged());
    const auto run = [&] { return ot::linear_cost_gradient(s); };
    const ot::LinearCostGradient one = test::with_threads(1, run);
    REQUIRE(one.converged());
    for (const int threads : {2, 3}) {
        CAPTURE(threads);
        const ot::LinearCostGradient many = test::with_threads(threads, run);
        CHECK(many.iterations == one.iterations);
        CHECK(many.residual == one.residual);
        CHECK(many.gradient_x == one.gradient_x);
        CHECK(many.gradient_y == one.gradient_y);
        CHECK(many.gradient_a == one.gradient_a);
        CHECK(many.gradient_b == one.gradient_b);
        CHECK(many.gradient_epsilon == one.gradient_epsilon);
    }
}

TEST_CASE("linear_cost_gradient: a solution that did not converge, changed potentials and bad options throw", "[ot][implicit][errors]")
{
    const RowMatrix<double> cost = squared_distances(uniform_points(4, 2, 121), uniform_points(5, 2, 122));
    const VectorXd a = random_weights(4, 123), b = random_weights(5, 124);
    ot::SinkhornOptions short_run = tight(0.05);
    short_run.max_iterations = 2;
    const auto unfinished = ot::sinkhorn(a, b, cost, short_run);
    REQUIRE(unfinished.status == ot::SinkhornStatus::iteration_limit);
    CHECK_THROWS_WITH(ot::linear_cost_gradient(unfinished), Catch::Contains("ot::linear_cost_gradient: argument 's'") &&
                                                                Catch::Contains("did not converge (status: iteration limit)"));

    const auto s = ot::sinkhorn(a, b, cost, tight(0.1));
    auto changed = s;
    changed.f.array() += 0.3;  // no longer the solve's potentials
    CHECK_THROWS_WITH(ot::linear_cost_gradient(changed), Catch::Contains("argument 's'") && Catch::Contains("optimality conditions"));

    const auto bad = [&](auto set, const char* field) {
        ot::ImplicitOptions p;
        set(p);
        CHECK_THROWS_AS(ot::linear_cost_gradient(s, p), std::invalid_argument);
        CHECK_THROWS_WITH(ot::linear_cost_gradient(s, p), Catch::Contains(std::string("argument '") + field + "'"));
    };
    bad([](ot::ImplicitOptions& p) { p.tolerance = -1.0; }, "options.tolerance");
    bad([](ot::ImplicitOptions& p) { p.tolerance = 1.0; }, "options.tolerance");
    bad([](ot::ImplicitOptions& p) { p.tolerance = std::nan(""); }, "options.tolerance");
    bad([](ot::ImplicitOptions& p) { p.max_iterations = 0; }, "options.max_iterations");
    bad([](ot::ImplicitOptions& p) { p.ridge = -1e-3; }, "options.ridge");
    bad([](ot::ImplicitOptions& p) { p.ridge = inf; }, "options.ridge");
}

}  // namespace ot_implicit_test
