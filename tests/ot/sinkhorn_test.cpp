// Entropic OT (ot/sinkhorn.hpp, ot/sinkhorn_divergence.hpp) against POT 0.8.2 (reference values
// from tests/reference/make_ot_reference.py), exact OT by brute force over permutations, the
// large-epsilon limit, its own marginal constraints, and finite differences for every gradient.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "divergence/ot/sinkhorn.hpp"
#include "divergence/ot/sinkhorn_divergence.hpp"
#include "reference/ot_reference_values.hpp"
#include "support/errors.hpp"
#include "support/ot.hpp"
#include "support/threads.hpp"

namespace ot_sinkhorn_test {  // the test binary is a unity build: each file keeps its names to itself

namespace {

using divergence::RowMatrix;
using Eigen::Index;
using Eigen::VectorXd;
namespace ot = divergence::ot;
using test::random_weights;
using test::squared_distances;
using test::tight;
using test::uniform_points;

Eigen::Map<const VectorXd> vector_of(const double* p, std::size_t n) { return {p, Index(n)}; }
Eigen::Map<const RowMatrix<double>> matrix_of(const double* p, std::size_t n, std::size_t m) { return {p, Index(n), Index(m)}; }

}  // namespace

TEST_CASE("sinkhorn: plans, values and potentials equal POT's sinkhorn_log fixed points", "[ot][sinkhorn][reference]")
{
    for (const auto& c : reference::ot::balanced_cases) {
        INFO(c.name);
        const auto a = vector_of(c.a, c.n);
        const auto b = vector_of(c.b, c.m);
        const auto cost = matrix_of(c.cost, c.n, c.m);
        const auto s = ot::sinkhorn(a, b, cost, tight(c.epsilon));
        REQUIRE(s.converged());
        const RowMatrix<double> plan = s.plan();
        const auto expected = matrix_of(c.plan, c.n, c.m);
        CHECK((plan - expected).cwiseAbs().maxCoeff() <= 1e-8 * std::max(1.0, expected.cwiseAbs().maxCoeff()));
        CHECK(s.linear == Approx(c.linear).epsilon(1e-8).margin(1e-12));                           // ot.sinkhorn2
        CHECK(s.value == Approx(c.kl_form).epsilon(1e-8).margin(1e-12));                            // KL form
        CHECK(s.value + c.epsilon * s.weights_entropy_term == Approx(c.entropy_form).epsilon(1e-8).margin(1e-12));  // POT's form
        // Potentials: determined (up to the shift fixed by <a, f> = <b, g>) on points of positive weight.
        for (std::size_t i = 0; i < c.n; ++i) {
            if (c.a[i] > 0.0) CHECK(s.f(Index(i)) == Approx(c.f[i]).margin(1e-8));
        }
        for (std::size_t j = 0; j < c.m; ++j) CHECK(s.g(Index(j)) == Approx(c.g[j]).margin(1e-8));
    }
}

TEST_CASE("sinkhorn: KL-relaxed marginals give POT's unbalanced plans (POT's entropy form is a shifted cost)", "[ot][sinkhorn][reference]")
{
    // POT solves <C,P> + eps sum P (log P - 1) + rho KL(P1||a) + rho KL(P^T1||b). Since
    // eps KL(P || a b^T) = eps sum P (log P - 1) - eps sum_ij P_ij log(a_i b_j) + eps m(a) m(b), it is
    // this library's problem with the cost C_ij + eps (log a_i + log b_j), and objective - eps m(a) m(b).
    for (const auto& c : reference::ot::unbalanced_cases) {
        INFO(c.name);
        const auto a = vector_of(c.a, c.n);
        const auto b = vector_of(c.b, c.m);
        RowMatrix<double> shifted = matrix_of(c.cost, c.n, c.m);
        for (Index i = 0; i < shifted.rows(); ++i)
            for (Index j = 0; j < shifted.cols(); ++j) shifted(i, j) += c.epsilon * (std::log(a(i)) + std::log(b(j)));
        ot::SinkhornOptions o = tight(c.epsilon);
        o.reach_a = o.reach_b = c.rho;
        const auto s = ot::sinkhorn(a, b, shifted, o);
        REQUIRE(s.converged());
        const auto expected = matrix_of(c.plan, c.n, c.m);
        CHECK((s.plan() - expected).cwiseAbs().maxCoeff() <= 1e-8);
        CHECK(s.value - c.epsilon * a.sum() * b.sum() == Approx(c.objective).epsilon(1e-8));
    }
}

TEST_CASE("sinkhorn: as epsilon -> 0 the plan is the optimal permutation (brute force, n = m <= 7)", "[ot][sinkhorn]")
{
    for (Index n : {1, 2, 5, 7}) {
        INFO("n = " << n);
        const RowMatrix<double> x = uniform_points(n, 2, 10 + unsigned(n)), y = uniform_points(n, 2, 20 + unsigned(n));
        const RowMatrix<double> cost = squared_distances(x, y);
        std::vector<int> perm(static_cast<std::size_t>(n)), best;
        std::iota(perm.begin(), perm.end(), 0);
        double best_cost = std::numeric_limits<double>::infinity();
        do {
            double total = 0.0;
            for (Index i = 0; i < n; ++i) total += cost(i, perm[std::size_t(i)]);
            if (total < best_cost) best_cost = total, best = perm;
        } while (std::next_permutation(perm.begin(), perm.end()));
        const VectorXd w = VectorXd::Constant(n, 1.0 / double(n));
        ot::SinkhornOptions o = tight(1e-4);
        o.tolerance = 1e-10;
        o.epsilon_start = 1.0;
        o.relaxation = 1.8;
        const auto s = ot::sinkhorn(w, w, cost, o);
        REQUIRE(s.converged());
        const RowMatrix<double> plan = s.plan();
        for (Index i = 0; i < n; ++i) CHECK(plan(i, best[std::size_t(i)]) == Approx(1.0 / double(n)).epsilon(1e-3));
        CHECK(s.linear == Approx(best_cost / double(n)).epsilon(1e-3));
    }
}

TEST_CASE("sinkhorn: as epsilon grows the plan tends to a b^T and the value to <a b^T, C>", "[ot][sinkhorn]")
{
    const RowMatrix<double> x = uniform_points(6, 3, 1), y = uniform_points(9, 3, 2);
    const VectorXd a = random_weights(6, 3), b = random_weights(9, 4);
    const RowMatrix<double> cost = squared_distances(x, y);
    const double independent = a.dot(cost * b);
    double previous_gap = std::numeric_limits<double>::infinity();
    for (double eps : {1.0, 10.0, 100.0, 1e4}) {
        const auto s = ot::sinkhorn(a, b, cost, tight(eps));
        REQUIRE(s.converged());
        const double gap = std::abs(s.value - independent);
        CHECK(gap < previous_gap);  // the value decreases to the independent coupling's cost
        previous_gap = gap;
        if (eps == 1e4) {
            CHECK((s.plan() - a * b.transpose()).cwiseAbs().maxCoeff() < 1e-4);
            CHECK(gap < 1e-4);
        }
    }
}

TEST_CASE("sinkhorn: marginal errors reported are those of the returned plan", "[ot][sinkhorn]")
{
    const RowMatrix<double> x = uniform_points(30, 2, 5), y = uniform_points(40, 2, 6);
    const VectorXd a = random_weights(30, 7), b = random_weights(40, 8);
    for (auto update : {ot::SinkhornUpdate::alternating, ot::SinkhornUpdate::symmetric}) {
        for (Index iterations : {0, 3, 10, 1000}) {
            ot::SinkhornOptions o;
            o.epsilon = 0.01;
            o.max_iterations = iterations;
            o.tolerance = 1e-7;
            o.update = update;
            o.epsilon_start = iterations == 3 ? 1.0 : 0.0;  // stopped while annealing: errors at the target epsilon
            const auto s = ot::sinkhorn(a, x, b, y, ot::SquaredEuclidean{}, o);
            const RowMatrix<double> plan = s.plan();
            const double error_a = (plan.rowwise().sum() - a).cwiseAbs().sum();
            const double error_b = (plan.colwise().sum().transpose() - b).cwiseAbs().sum();
            CHECK(s.marginal_error_a == Approx(error_a).epsilon(1e-6).margin(1e-14));  // up to the plan's rounding
            CHECK(s.marginal_error_b == Approx(error_b).epsilon(1e-6).margin(1e-14));
            CHECK(s.converged() == (error_a + error_b <= 1e-7 * (1 + 1e-6)));
            if (!s.converged()) CHECK(s.status == ot::SinkhornStatus::iteration_limit);
            CHECK(s.iterations <= iterations);
            CHECK(s.value == Approx(s.linear + s.entropic));
        }
    }
}

TEST_CASE("sinkhorn: point clouds give the same solution as their cost matrix, for every built-in cost", "[ot][sinkhorn]")
{
    const RowMatrix<double> x = uniform_points(12, 3, 11), y = uniform_points(17, 3, 12);
    const VectorXd a = random_weights(12, 13), b = random_weights(17, 14);
    RowMatrix<double> euclidean(12, 17), manhattan(12, 17), kl(12, 17);
    RowMatrix<double> px = x, py = y;  // probability rows for KlCost
    for (Index i = 0; i < 12; ++i) px.row(i) /= px.row(i).sum();
    for (Index j = 0; j < 17; ++j) py.row(j) /= py.row(j).sum();
    for (Index i = 0; i < 12; ++i) {
        for (Index j = 0; j < 17; ++j) {
            euclidean(i, j) = (x.row(i) - y.row(j)).norm();
            manhattan(i, j) = (x.row(i) - y.row(j)).cwiseAbs().sum();
            long double k = 0;
            for (Index d = 0; d < 3; ++d) k += (long double)px(i, d) * std::log((long double)px(i, d) / py(j, d));
            kl(i, j) = double(k);
        }
    }
    const auto o = tight(0.05);
    const auto check = [&](const auto& from_points, const RowMatrix<double>& cost) {
        const auto from_matrix = ot::sinkhorn(a, b, cost, o);
        REQUIRE(from_points.converged());
        CHECK(from_points.value == Approx(from_matrix.value).epsilon(1e-11));
        CHECK((from_points.plan() - from_matrix.plan()).cwiseAbs().maxCoeff() < 1e-12);
    };
    check(ot::sinkhorn(a, x, b, y, ot::SquaredEuclidean{}, o), squared_distances(x, y));
    check(ot::sinkhorn(a, x, b, y, ot::Euclidean{}, o), euclidean);
    check(ot::sinkhorn(a, x, b, y, ot::Manhattan{}, o), manhattan);
    check(ot::sinkhorn(a, px, b, py, ot::KlCost{}, o), kl);
}

TEST_CASE("sinkhorn: gradients with respect to the cost, the weights and epsilon equal finite differences", "[ot][sinkhorn][gradient]")
{
    const RowMatrix<double> cost = squared_distances(uniform_points(5, 2, 31), uniform_points(6, 2, 32));
    const VectorXd a = random_weights(5, 33), b = random_weights(6, 34);
    const double eps = 0.1, h = 1e-6;
    const auto value = [&](const VectorXd& wa, const VectorXd& wb, const RowMatrix<double>& c, double e) {
        return ot::sinkhorn(wa, wb, c, tight(e)).value;
    };
    const auto s = ot::sinkhorn(a, b, cost, tight(eps));
    // cost: d value / d C_ij = P_ij
    const RowMatrix<double> plan = s.gradient_cost();
    for (Index i = 0; i < 5; ++i) {
        for (Index j = 0; j < 6; ++j) {
            RowMatrix<double> up = cost, down = cost;
            up(i, j) += h;
            down(i, j) -= h;
            CHECK((value(a, b, up, eps) - value(a, b, down, eps)) / (2 * h) == Approx(plan(i, j)).epsilon(1e-5).margin(1e-9));
        }
    }
    // weights, along the simplex: moving mass h from a_k to a_i changes the value by h (f_i - f_k)
    const VectorXd ga = s.gradient_a(), gb = s.gradient_b();
    for (Index i = 1; i < 5; ++i) {
        VectorXd up = a, down = a;
        up(i) += h, up(0) -= h, down(i) -= h, down(0) += h;
        CHECK((value(up, b, cost, eps) - value(down, b, cost, eps)) / (2 * h) == Approx(ga(i) - ga(0)).epsilon(1e-5).margin(1e-9));
    }
    for (Index j = 1; j < 6; ++j) {
        VectorXd up = b, down = b;
        up(j) += h, up(0) -= h, down(j) -= h, down(0) += h;
        CHECK((value(a, up, cost, eps) - value(a, down, cost, eps)) / (2 * h) == Approx(gb(j) - gb(0)).epsilon(1e-5).margin(1e-9));
    }
    CHECK(ga.sum() == Approx(0.0).margin(1e-12));
    // epsilon: d value / d eps = KL(P || a b^T)
    CHECK((value(a, b, cost, eps + h) - value(a, b, cost, eps - h)) / (2 * h) == Approx(s.gradient_epsilon()).epsilon(1e-5));
}

TEST_CASE("sinkhorn: gradients with respect to the points equal finite differences, for every built-in cost", "[ot][sinkhorn][gradient]")
{
    RowMatrix<double> x = uniform_points(4, 3, 41), y = uniform_points(5, 3, 42);
    const VectorXd a = random_weights(4, 43), b = random_weights(5, 44);
    const double h = 1e-6;
    const auto check = [&](auto cost, RowMatrix<double> px, RowMatrix<double> py) {
        const auto o = tight(0.2);
        const auto s = ot::sinkhorn(a, px, b, py, cost, o);
        const RowMatrix<double> gx = s.gradient_x(), gy = s.gradient_y();
        const auto value = [&](const RowMatrix<double>& u, const RowMatrix<double>& v) { return ot::sinkhorn(a, u, b, v, cost, o).value; };
        for (Index i = 0; i < px.rows(); ++i) {
            for (Index k = 0; k < px.cols(); ++k) {
                RowMatrix<double> up = px, down = px;
                up(i, k) += h, down(i, k) -= h;
                CHECK((value(up, py) - value(down, py)) / (2 * h) == Approx(gx(i, k)).epsilon(1e-5).margin(1e-8));
            }
        }
        for (Index j = 0; j < py.rows(); ++j) {
            for (Index k = 0; k < py.cols(); ++k) {
                RowMatrix<double> up = py, down = py;
                up(j, k) += h, down(j, k) -= h;
                CHECK((value(px, up) - value(px, down)) / (2 * h) == Approx(gy(j, k)).epsilon(1e-5).margin(1e-8));
            }
        }
    };
    SECTION("squared Euclidean") { check(ot::SquaredEuclidean{}, x, y); }
    SECTION("Euclidean") { check(ot::Euclidean{}, x, y); }
    SECTION("Manhattan") { check(ot::Manhattan{}, x, y); }
    SECTION("KL between probability rows (unconstrained partial derivatives)")
    {
        // KlCost checks that rows sum to 1 within 1e-4: finite differences of 1e-6 stay inside.
        for (Index i = 0; i < 4; ++i) x.row(i) /= x.row(i).sum();
        for (Index j = 0; j < 5; ++j) y.row(j) /= y.row(j).sum();
        check(ot::KlCost{}, x, y);
    }
}

TEST_CASE("sinkhorn: unbalanced transport: the gradients with respect to the cost (the plan) and the weights equal finite differences, semi-unbalanced too", "[ot][sinkhorn][gradient]")
{
    const RowMatrix<double> cost = squared_distances(uniform_points(4, 2, 51), uniform_points(5, 2, 52));
    const VectorXd a = random_weights(4, 53), b = 1.5 * random_weights(5, 54);
    for (auto reach : {std::pair{0.5, 0.5}, std::pair{std::numeric_limits<double>::infinity(), 0.3}}) {
        ot::SinkhornOptions o = tight(0.1);
        o.reach_a = reach.first;
        o.reach_b = reach.second;
        const auto s = ot::sinkhorn(a, b, cost, o);
        REQUIRE(s.converged());
        const RowMatrix<double> plan = s.plan();
        if (std::isinf(reach.first)) CHECK((plan.rowwise().sum() - a).cwiseAbs().maxCoeff() < 1e-12);  // a's side stays hard
        const double h = 1e-6;
        for (Index i = 0; i < 4; ++i) {
            for (Index j = 0; j < 5; ++j) {
                RowMatrix<double> up = cost, down = cost;
                up(i, j) += h, down(i, j) -= h;
                const double fd = (ot::sinkhorn(a, b, up, o).value - ot::sinkhorn(a, b, down, o).value) / (2 * h);
                CHECK(fd == Approx(plan(i, j)).epsilon(1e-5).margin(1e-9));
            }
        }
        // Weights: every partial derivative (the masses are free once a side is relaxed).
        const VectorXd ga = s.gradient_a(), gb = s.gradient_b();
        for (Index i = 0; i < 4; ++i) {
            VectorXd up = a, down = a;
            up(i) += h, down(i) -= h;
            CHECK((ot::sinkhorn(up, b, cost, o).value - ot::sinkhorn(down, b, cost, o).value) / (2 * h) == Approx(ga(i)).epsilon(1e-5).margin(1e-9));
        }
        for (Index j = 0; j < 5; ++j) {
            VectorXd up = b, down = b;
            up(j) += h, down(j) -= h;
            CHECK((ot::sinkhorn(a, up, cost, o).value - ot::sinkhorn(a, down, cost, o).value) / (2 * h) == Approx(gb(j)).epsilon(1e-5).margin(1e-9));
        }
    }
}

TEST_CASE("sinkhorn_divergence: S(a, a) = 0, S >= 0 and its gradients equal finite differences", "[ot][sinkhorn][gradient]")
{
    const RowMatrix<double> x = uniform_points(5, 2, 61), y = uniform_points(6, 2, 62, 1.5);
    const VectorXd a = random_weights(5, 63), b = random_weights(6, 64);
    const auto o = tight(0.1);
    const auto same = ot::sinkhorn_divergence(a, x, a, x, ot::SquaredEuclidean{}, o);
    CHECK(std::abs(same.value) <= 1e-12);
    CHECK(same.ab.value > 0.0);  // the entropic bias that debiasing removes
    const auto s = ot::sinkhorn_divergence(a, x, b, y, ot::SquaredEuclidean{}, o);
    REQUIRE(s.converged());
    CHECK(s.value > 0.0);
    CHECK(s.error_bound < 1e-12);
    const RowMatrix<double> gx = s.gradient_x(), gy = s.gradient_y();
    const double h = 1e-6;
    for (Index i = 0; i < 5; ++i) {
        for (Index k = 0; k < 2; ++k) {
            RowMatrix<double> up = x, down = x;
            up(i, k) += h, down(i, k) -= h;
            const double fd = (ot::sinkhorn_divergence(a, up, b, y, ot::SquaredEuclidean{}, o).value -
                               ot::sinkhorn_divergence(a, down, b, y, ot::SquaredEuclidean{}, o).value) / (2 * h);
            CHECK(fd == Approx(gx(i, k)).epsilon(1e-5).margin(1e-8));
        }
    }
    for (Index j = 0; j < 6; ++j) {
        RowMatrix<double> up = y, down = y;
        up(j, 0) += h, down(j, 0) -= h;
        const double fd = (ot::sinkhorn_divergence(a, x, b, up, ot::SquaredEuclidean{}, o).value -
                           ot::sinkhorn_divergence(a, x, b, down, ot::SquaredEuclidean{}, o).value) / (2 * h);
        CHECK(fd == Approx(gy(j, 0)).epsilon(1e-5).margin(1e-8));
    }
    const VectorXd ga = s.gradient_a();
    for (Index i = 1; i < 5; ++i) {
        VectorXd up = a, down = a;
        up(i) += h, up(0) -= h, down(i) -= h, down(0) += h;
        const double fd = (ot::sinkhorn_divergence(up, x, b, y, ot::SquaredEuclidean{}, o).value -
                           ot::sinkhorn_divergence(down, x, b, y, ot::SquaredEuclidean{}, o).value) / (2 * h);
        CHECK(fd == Approx(ga(i) - ga(0)).epsilon(1e-5).margin(1e-8));
    }
}

TEST_CASE("sinkhorn_divergence with relaxed marginals: S(a, a) = 0 and the weight gradients equal finite differences", "[ot][sinkhorn][gradient]")
{
    const RowMatrix<double> x = uniform_points(4, 2, 65), y = uniform_points(5, 2, 66);
    const VectorXd a = random_weights(4, 67), b = 1.4 * random_weights(5, 68);
    ot::SinkhornOptions o = tight(0.1);
    o.reach_a = o.reach_b = 0.5;
    CHECK(std::abs(ot::sinkhorn_divergence(a, x, a, x, ot::SquaredEuclidean{}, o).value) <= 1e-12);
    const auto s = ot::sinkhorn_divergence(a, x, b, y, ot::SquaredEuclidean{}, o);
    REQUIRE(s.converged());
    const VectorXd ga = s.gradient_a(), gb = s.gradient_b();
    const double h = 1e-6;
    for (Index i = 0; i < 4; ++i) {
        VectorXd up = a, down = a;
        up(i) += h, down(i) -= h;
        const double fd = (ot::sinkhorn_divergence(up, x, b, y, ot::SquaredEuclidean{}, o).value -
                           ot::sinkhorn_divergence(down, x, b, y, ot::SquaredEuclidean{}, o).value) / (2 * h);
        CHECK(fd == Approx(ga(i)).epsilon(1e-5).margin(1e-8));
    }
    for (Index j = 0; j < 5; ++j) {
        VectorXd up = b, down = b;
        up(j) += h, down(j) -= h;
        const double fd = (ot::sinkhorn_divergence(a, x, up, y, ot::SquaredEuclidean{}, o).value -
                           ot::sinkhorn_divergence(a, x, down, y, ot::SquaredEuclidean{}, o).value) / (2 * h);
        CHECK(fd == Approx(gb(j)).epsilon(1e-5).margin(1e-8));
    }
}

TEST_CASE("sinkhorn: degenerate inputs give correct finite results", "[ot][sinkhorn]")
{
    SECTION("identical clouds, a single point, diameter 0")
    {
        const RowMatrix<double> x = uniform_points(6, 2, 71);
        const VectorXd w = random_weights(6, 72);
        const auto same = ot::sinkhorn(w, x, w, x, ot::SquaredEuclidean{}, tight(1e-3));
        CHECK(std::isfinite(same.value));
        const RowMatrix<double> one = RowMatrix<double>::Constant(1, 2, 0.25);
        const VectorXd unit = VectorXd::Ones(1);
        const auto single = ot::sinkhorn(unit, one, w, x, ot::SquaredEuclidean{}, tight(0.1));
        REQUIRE(single.converged());
        CHECK(single.linear == Approx((x.rowwise() - one.row(0)).rowwise().squaredNorm().dot(w)).epsilon(1e-12));  // the only plan
        CHECK(single.entropic == Approx(0.0).margin(1e-14));
        const RowMatrix<double> point = RowMatrix<double>::Constant(6, 2, 3.0);  // all points equal: C = 0
        const auto flat = ot::sinkhorn(w, point, w, point, ot::Euclidean{}, tight(0.01));
        REQUIRE(flat.converged());
        CHECK(flat.value == Approx(0.0).margin(1e-14));
        CHECK((flat.plan() - w * w.transpose()).cwiseAbs().maxCoeff() < 1e-15);
        CHECK(flat.gradient_x().cwiseAbs().maxCoeff() == 0.0);  // subgradient 0 at coincident points
    }
    SECTION("zero weights: those points carry no mass and do not change the value")
    {
        const RowMatrix<double> x = uniform_points(5, 2, 73), y = uniform_points(4, 2, 74);
        VectorXd a = random_weights(5, 75);
        a(2) = 0.0;
        a /= a.sum();
        const VectorXd b = random_weights(4, 76);
        const auto s = ot::sinkhorn(a, x, b, y, ot::SquaredEuclidean{}, tight(0.05));
        REQUIRE(s.converged());
        CHECK(s.plan().row(2).cwiseAbs().maxCoeff() == 0.0);
        CHECK(std::isfinite(s.f(2)));
        RowMatrix<double> x4(4, 2);
        x4 << x.row(0), x.row(1), x.row(3), x.row(4);
        VectorXd a4(4);
        a4 << a(0), a(1), a(3), a(4);
        CHECK(ot::sinkhorn(a4, x4, b, y, ot::SquaredEuclidean{}, tight(0.05)).value == Approx(s.value).epsilon(1e-12));
    }
    SECTION("a point with an infinite cost to every point of positive weight: status infeasible")
    {
        RowMatrix<double> cost = RowMatrix<double>::Ones(3, 3);
        cost.row(1).setConstant(std::numeric_limits<double>::infinity());
        const VectorXd w = VectorXd::Constant(3, 1.0 / 3.0);
        const auto s = ot::sinkhorn(w, w, cost, tight(0.1));
        CHECK(s.status == ot::SinkhornStatus::infeasible);
        CHECK_FALSE(s.converged());
    }
    SECTION("an infeasible solution has a plan without NaN (0 on the infeasible pairs) and refuses its gradients")
    {
        // Column 1 (weight 0.5) has an infinite cost to every row: its potential g_1 is +inf, and
        // exp((f_i + g_1 - C_i1) / eps) was exp(inf - inf) = NaN. Row 2 likewise for a row.
        const double inf = std::numeric_limits<double>::infinity();
        const VectorXd w = VectorXd::Constant(2, 0.5);
        for (const bool transpose : {false, true}) {
            CAPTURE(transpose);
            RowMatrix<double> cost(2, 2);
            cost << 0.0, inf, 1.0, inf;
            if (transpose) cost.transposeInPlace();
            const auto s = ot::sinkhorn(w, w, cost, tight(0.1));
            REQUIRE(s.status == ot::SinkhornStatus::infeasible);
            CHECK(s.value == inf);
            const RowMatrix<double> plan = s.plan();
            CHECK_FALSE(plan.hasNaN());
            CHECK(plan.allFinite());
            for (Index k = 0; k < 2; ++k) CHECK((transpose ? plan(1, k) : plan(k, 1)) == 0.0);
            test::fails_with([&] { (void)s.gradient_cost(); },
                             "divergence::ot::Solution::gradient_cost: argument 'status': the problem is infeasible");
            test::fails_with([&] { (void)s.gradient_a(); }, "ot::Solution::gradient_a: argument 'status'");
            test::fails_with([&] { (void)s.gradient_b(); }, "ot::Solution::gradient_b: argument 'status'");
        }
        // The fuzzer's case: KlCost, y's last point (0, 1) (weight 0.68) has KL(x_i || y) = +inf from every x_i.
        RowMatrix<double> x(2, 2), y(2, 2);
        x << 0.52, 0.48, 0.3, 0.7;
        y << 0.6, 0.4, 0.0, 1.0;
        VectorXd b(2);
        b << 0.32, 0.68;
        const auto s = ot::sinkhorn(w, x, b, y, ot::KlCost{}, tight(0.1));
        REQUIRE(s.status == ot::SinkhornStatus::infeasible);
        CHECK_FALSE(s.plan().hasNaN());
        CHECK(s.plan().col(1).cwiseAbs().maxCoeff() == 0.0);
        test::fails_with([&] { (void)s.gradient_x(); }, "ot::Solution::gradient_x: argument 'status'");
        test::fails_with([&] { (void)s.gradient_y(); }, "ot::Solution::gradient_y: argument 'status'");
    }
    SECTION("infinite costs elsewhere are allowed (KlCost with disjoint supports)")
    {
        RowMatrix<double> p(2, 2), q(2, 2);
        p << 1.0, 0.0, 0.5, 0.5;
        q << 1.0, 0.0, 0.3, 0.7;
        // p_1 can only go to q_1; q_1's weight leaves room for some of p_0 (strictly feasible).
        const VectorXd a = VectorXd::Constant(2, 0.5);
        VectorXd b(2);
        b << 0.3, 0.7;
        const auto s = ot::sinkhorn(a, p, b, q, ot::KlCost{}, tight(0.1));
        REQUIRE(s.converged());
        CHECK(std::isfinite(s.value));
        CHECK(s.plan()(1, 0) == 0.0);  // KL(p_1 || q_0) = inf: nothing moves there
    }
}

TEST_CASE("sinkhorn: stable at epsilon = 1e-4 on costs in [0, 1] (annealing, over-relaxation), and results do not depend on the thread count", "[ot][sinkhorn]")
{
    const RowMatrix<double> x = uniform_points(60, 2, 81), y = uniform_points(70, 2, 82);
    const VectorXd a = random_weights(60, 83), b = random_weights(70, 84);
    ot::SinkhornOptions o;
    o.epsilon = 1e-4;
    o.epsilon_start = 2.0;
    o.relaxation = 1.8;
    o.tolerance = 1e-6;
    o.max_iterations = 20000;
    const auto one = test::with_threads(1, [&] { return ot::sinkhorn(a, x, b, y, ot::SquaredEuclidean{}, o); });
    const auto two = test::with_threads(2, [&] { return ot::sinkhorn(a, x, b, y, ot::SquaredEuclidean{}, o); });
    REQUIRE(one.converged());
    CHECK(one.value == two.value);
    CHECK(one.iterations == two.iterations);
    CHECK((one.f - two.f).cwiseAbs().maxCoeff() == 0.0);
    const RowMatrix<double> plan = one.plan();
    CHECK(plan.allFinite());
    CHECK((plan.rowwise().sum() - a).cwiseAbs().sum() + (plan.colwise().sum().transpose() - b).cwiseAbs().sum() <= 1e-6 * 1.000001);
    // Problems of 2^18 entries and more run on threads: the same bits (600 x 500, 20 iterations).
    const RowMatrix<double> big_x = uniform_points(600, 2, 85), big_y = uniform_points(500, 2, 86);
    const VectorXd big_a = random_weights(600, 87), big_b = random_weights(500, 88);
    ot::SinkhornOptions few;
    few.epsilon = 0.01;
    few.max_iterations = 20;
    few.tolerance = 0.0;
    const auto big_one = test::with_threads(1, [&] { return ot::sinkhorn(big_a, big_x, big_b, big_y, ot::SquaredEuclidean{}, few); });
    const auto big_two = test::with_threads(2, [&] { return ot::sinkhorn(big_a, big_x, big_b, big_y, ot::SquaredEuclidean{}, few); });
    CHECK(big_one.value == big_two.value);
    CHECK((big_one.f - big_two.f).cwiseAbs().maxCoeff() == 0.0);
    CHECK((big_one.gradient_x() - big_two.gradient_x()).cwiseAbs().maxCoeff() == 0.0);
    // Warm start from the solution: converged at once.
    ot::SinkhornOptions warm = o;
    warm.epsilon_start = 0.0;
    warm.initial_f = &one.f;
    warm.initial_g = &one.g;
    const auto again = ot::sinkhorn(a, x, b, y, ot::SquaredEuclidean{}, warm);
    CHECK(again.converged());
    CHECK(again.iterations <= 1);
}

TEST_CASE("sinkhorn: float costs and points", "[ot][sinkhorn]")
{
    const RowMatrix<double> x = uniform_points(8, 2, 91), y = uniform_points(9, 2, 92);
    const VectorXd a = random_weights(8, 93), b = random_weights(9, 94);
    // Float inputs: exponentials in float lanes (of arguments reduced in double), so the marginal
    // errors reach about 1e-7, not 1e-14.
    const RowMatrix<float> cost = squared_distances(x, y).cast<float>();
    ot::SinkhornOptions o = tight(0.05);
    o.tolerance = 1e-6;
    const auto from_float = ot::sinkhorn(a.cast<float>(), b.cast<float>(), cost, o);
    const auto from_double = ot::sinkhorn(a, b, cost.cast<double>(), tight(0.05));
    REQUIRE(from_float.converged());
    CHECK(from_float.value == Approx(from_double.value).epsilon(1e-6));
    const auto points = ot::sinkhorn(a.cast<float>(), x.cast<float>(), b.cast<float>(), y.cast<float>(), ot::SquaredEuclidean{}, o);
    REQUIRE(points.converged());
    CHECK(points.value == Approx(from_double.value).epsilon(1e-6));
    const RowMatrix<double> plan = points.plan();
    CHECK((plan.rowwise().sum() - a).cwiseAbs().sum() <= 1e-6);
}

TEST_CASE("sinkhorn: extreme inputs give a clear error or a finite, correct result", "[ot][sinkhorn][errors]")
{
    using Catch::Contains;
    const RowMatrix<double> cost = squared_distances(uniform_points(3, 2, 201), uniform_points(4, 2, 202));
    const VectorXd a = random_weights(3, 203), b = random_weights(4, 204);
    const double independent = a.dot(cost * b);
    ot::SinkhornOptions o;
    // Large epsilon: the value tends to <a b^T, C> (the entropic part ~ 1/eps), computed without
    // cancellation; beyond 1e16 max C refused (the potentials would be eps times rounding).
    for (double eps : {1e6, 1e12, 1e15}) {
        o.epsilon = eps;
        const auto s = ot::sinkhorn(a, b, cost, o);
        CAPTURE(eps, s.value, independent);
        REQUIRE(s.converged());
        CHECK(s.value == Approx(independent).epsilon(1e-6));
        CHECK(s.entropic >= 0.0);
        CHECK(s.entropic <= 1.0 / eps);
    }
    o.epsilon = 1e300;
    REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, cost, o), Contains("'options.epsilon': is too large for the cost"));
    // Small epsilon: refused where the exponents would be rounding; at the edge, finite.
    o.epsilon = 1e-300;
    REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, cost, o), Contains("'options.epsilon': is too small for the cost"));
    o.epsilon = 1e-10;
    o.max_iterations = 50;
    const auto edge = ot::sinkhorn(a, b, cost, o);
    CHECK(std::isfinite(edge.value));
    CHECK(std::isfinite(edge.marginal_error_a));
    CHECK(std::isfinite(edge.marginal_error_b));
    // Negative costs are allowed (a shift of the cost shifts the value).
    o = tight(0.1);
    const auto shifted = ot::sinkhorn(a, b, RowMatrix<double>(cost.array() - 5.0), o);
    CHECK(shifted.value == Approx(ot::sinkhorn(a, b, cost, o).value - 5.0).epsilon(1e-12));
    // Subnormal and zero weights: finite.
    VectorXd tiny = a;
    tiny(0) = 1e-320;
    tiny /= tiny.sum();
    const auto sub = ot::sinkhorn(tiny, b, cost, o);
    CHECK(sub.converged());
    CHECK(std::isfinite(sub.value));
    CHECK(sub.plan().allFinite());
    // Float costs at a tiny epsilon: refused the same way.
    ot::SinkhornOptions small;
    small.epsilon = 1e-30;
    REQUIRE_THROWS_WITH(ot::sinkhorn(a.cast<float>(), b.cast<float>(), RowMatrix<float>(cost.cast<float>()), small),
                        Contains("is too small for the cost"));
    // KlCost between probability rows too (no bounding box bounds it: the largest pair's cost, here about
    // 0.15; before, an epsilon of 1.4e-45 passed and the debiased divergence came out NaN).
    RowMatrix<double> px(4, 2), py(3, 2);
    px << 0.4995896721807384, 0.5004103278192616, 0.5000317287444642, 0.4999682712555358, 0.4997936439631323,
        0.5002063560368677, 0.5004456518900446, 0.4995543481099554;
    py << 0.4528005617376399, 0.5471994382623601, 0.5, 0.5, 0.7655714467488255, 0.2344285532511745;
    VectorXd pa(4), pb(3);
    pa << 0.25, 0.25, 0.25, 0.25;
    pb << 0.3, 0.3, 0.4;
    small.epsilon = 1.4e-45;
    REQUIRE_THROWS_WITH(ot::sinkhorn(pa, px, pb, py, ot::KlCost{}, small), Contains("is too small for the cost"));
    REQUIRE_THROWS_WITH(ot::sinkhorn_divergence(pa, px, pb, py, ot::KlCost{}, small), Contains("is too small for the cost"));
}

TEST_CASE("sinkhorn: bad input gets a clear error", "[ot][sinkhorn][errors]")
{
    using Catch::Contains;
    const RowMatrix<double> x = uniform_points(3, 2, 1), y = uniform_points(4, 2, 2);
    const RowMatrix<double> cost = squared_distances(x, y);
    const VectorXd a = VectorXd::Constant(3, 1.0 / 3.0), b = VectorXd::Constant(4, 0.25);
    ot::SinkhornOptions o;
    SECTION("epsilon")
    {
        for (double eps : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
            o.epsilon = eps;
            REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, cost, o), Contains("ot::sinkhorn: argument 'options.epsilon'") && Contains("must be finite and > 0"));
        }
    }
    SECTION("weights")
    {
        VectorXd bad = a;
        bad(1) = -0.1;
        REQUIRE_THROWS_WITH(ot::sinkhorn(bad, b, cost), Contains("argument 'a', row 1: weight must be finite and >= 0"));
        bad(1) = std::nan("");
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, x, bad.head(3), x, ot::Euclidean{}), Contains("argument 'b', row 1"));
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, b * 2.0, cost), Contains("argument 'b': total weight 2 differs from the total weight of 'a' 1"));
        REQUIRE_THROWS_WITH(ot::sinkhorn(VectorXd::Zero(3), b, cost), Contains("argument 'a': has total weight 0"));
        REQUIRE_THROWS_WITH(ot::sinkhorn(b, b, cost), Contains("argument 'a': has 4 entries for 3 rows of the cost"));
        REQUIRE_THROWS_WITH(ot::sinkhorn(VectorXd(a * 1e300), VectorXd(b * 1e300), cost), Contains("argument 'a': has total weight (1") &&
                                                                                             Contains("above 1e100"));
    }
    SECTION("costs and points")
    {
        RowMatrix<double> bad = cost;
        bad(2, 3) = std::nan("");
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, bad), Contains("argument 'cost', row 2, column 3: must not be NaN or -inf"));
        RowMatrix<double> px = x;
        px(1, 0) = std::numeric_limits<double>::infinity();
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, px, b, y, ot::SquaredEuclidean{}), Contains("argument 'x', row 1, column 0: must be finite"));
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, x, b, uniform_points(4, 3, 3), ot::SquaredEuclidean{}),
                            Contains("argument 'y': has points of dimension 3, x of dimension 2"));
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, x, b, y, ot::KlCost{}), Contains("KlCost needs probability rows"));
        // Costs beyond 1e12 epsilon (or overflowing): the exponents would be rounding.
        o.epsilon = 1e-300;
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, cost, o), Contains("argument 'options.epsilon': is too small for the cost") &&
                                                            Contains("max cost / epsilon must be within 1e-16 and 1e12"));
        o.epsilon = 0.1;
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, RowMatrix<double>(cost * 1e300), o), Contains("is too small for the cost"));
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, RowMatrix<double>(x * 1e200), b, RowMatrix<double>(y * 1e200), ot::SquaredEuclidean{}, o),
                            Contains("is too small for the cost") && Contains("costs up to inf"));
    }
    SECTION("options")
    {
        o.tolerance = std::numeric_limits<double>::infinity();
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, cost, o), Contains("'options.tolerance': must be finite and >= 0"));
        o = {};
        o.relaxation = 2.0;
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, cost, o), Contains("'options.relaxation'"));
        o = {};
        o.reach_a = 0.0;
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, cost, o), Contains("'options.reach_a'"));
        o.reach_a = 1e300;  // numerically a hard constraint: its penalty would be rho times rounding
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, cost, o), Contains("'options.reach_a': must be within 1e-8 and 1e8 times epsilon"));
        o.reach_a = 1e-300;
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, cost, o), Contains("'options.reach_a': must be within 1e-8 and 1e8 times epsilon"));
        o = {};
        o.epsilon_start = 1.0;
        o.epsilon_factor = 1.0;
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, cost, o), Contains("'options.epsilon_factor'"));
        o = {};
        const VectorXd short_f = VectorXd::Zero(2);
        o.initial_f = &short_f;
        REQUIRE_THROWS_WITH(ot::sinkhorn(a, b, cost, o), Contains("'options.initial_f': has 2 entries for 3 points"));
    }
}

TEST_CASE("sinkhorn stopped while annealing: a plan whose mass overflows double has value +inf, not NaN", "[ot][sinkhorn][edge]")
{
    // One iteration at epsilon_start = 10 leaves f_i about c_i1 + 40; the value is that of the plan at the
    // target epsilon 0.05, P_ij = a_i b_j exp((f_i + g_j - c_ij) / eps) with exponents near 800. Its
    // terms were inf - inf (g(r) = r e^r - e^r + 1 and the marginal's m log m - m) = NaN.
    VectorXd a(4), b(2), f0(4), g0(2);
    a << 0.0099804687500000006, 0.0019375610351562501, 0.0041226196289062501, 0.0016217041015625;
    b << 3.1165688484907146e-27, 0.017662353515625;
    f0 << 0.99999999999999989, 1.0000000000010001, 0.90740966796875, 0.0;
    g0 << -0.997833251953125, -0.879974365234375;
    RowMatrix<float> x(4, 1), y(2, 1);
    x << 6626.28173828125f, 4103.3935546875f, 3965.14892578125f, -7106.01806640625f;
    y << -0.008726196363568306f, -0.0045101926662027836f;
    ot::SinkhornOptions o;
    o.epsilon = 0.05;
    o.max_iterations = 1;
    o.tolerance = 1e-3;
    o.relaxation = 0.5;
    o.epsilon_start = 10.0;
    o.epsilon_factor = 0.5;
    o.reach_b = 1.0;
    o.initial_f = &f0;
    o.initial_g = &g0;
    const auto s = ot::sinkhorn(a, x, b, y, ot::Manhattan{}, o);
    REQUIRE(s.status == ot::SinkhornStatus::iteration_limit);
    // The same plan's value in long double (range to 1e4932): <C, P> + eps KL(P || a b^T) + rho KL(P^T 1 || b).
    using LD = long double;
    LD linear = 0, entropic = 0, penalty = 0;
    for (Index j = 0; j < 2; ++j) {
        LD column = 0;
        for (Index i = 0; i < 4; ++i) {
            const LD c = std::abs(LD(x(i, 0)) - LD(y(j, 0))), r = (LD(s.f(i)) + LD(s.g(j)) - c) / LD(o.epsilon);
            const LD ab = LD(a(i)) * LD(b(j)), p = ab * std::exp(r);
            linear += p * c;
            entropic += LD(o.epsilon) * ab * (std::exp(r) * (r - 1) + 1);
            column += p;
        }
        penalty += column * std::log(column / LD(b(j))) - column + LD(b(j));
    }
    const LD value = linear + entropic + penalty;
    CAPTURE(double(std::log10(value)));
    REQUIRE(value > LD(std::numeric_limits<double>::max()));  // so +inf is its rounding to double
    CHECK(s.value == std::numeric_limits<double>::infinity());
    CHECK(s.entropic == std::numeric_limits<double>::infinity());
    CHECK(s.marginal_penalty == std::numeric_limits<double>::infinity());
    // Its gradients, sums of +-inf plan entries, are refused rather than NaN.
    test::fails_with([&] { (void)s.gradient_y(); }, "ot::Solution::gradient_y", "'status'", "overflows double");
    test::fails_with([&] { (void)s.gradient_x(); }, "ot::Solution::gradient_x", "'status'", "overflows double");
    test::fails_with([&] { (void)s.gradient_b(); }, "ot::Solution::gradient_b", "'status'", "overflows double");
}

namespace {

/// The value and the L1 marginal errors of the plan P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps) of a
/// solution's potentials, in long double (exponents to 11356: plans far beyond double's range):
/// <C, P> + eps KL(P || a b^T) + rho_a KL(P 1 || a) + rho_b KL(P^T 1 || b), ||P 1 - a e^(-f / rho_a)||_1, ...
struct PlanReference {
    long double value = 0, error_a = 0, error_b = 0;
};

template <class Solution>
PlanReference plan_reference(const VectorXd& a, const VectorXd& b, const RowMatrix<double>& cost, const Solution& s,
                             const ot::SinkhornOptions& o)
{
    using LD = long double;
    const auto kl = [](LD m, LD w) { return m == 0 ? w : m * std::log(m / w) - m + w; };
    const auto target = [](double potential, double reach) { return std::isinf(reach) ? LD(1) : std::exp(-LD(potential) / LD(reach)); };
    PlanReference r;
    std::vector<LD> columns(std::size_t(cost.cols()), 0);
    for (Index i = 0; i < cost.rows(); ++i) {
        LD row = 0;
        for (Index j = 0; j < cost.cols(); ++j) {
            if (a(i) == 0.0 || b(j) == 0.0) continue;
            const LD c = cost(i, j), e = std::exp((LD(s.f(i)) + LD(s.g(j)) - c) / LD(o.epsilon)), ab = LD(a(i)) * LD(b(j));
            r.value += ab * e * c + LD(o.epsilon) * ab * (e * std::log(e) - e + 1);
            row += ab * e;
            columns[std::size_t(j)] += ab * e;
        }
        if (a(i) == 0.0) continue;
        r.error_a += std::abs(row - LD(a(i)) * target(s.f(i), o.reach_a));
        if (!std::isinf(o.reach_a)) r.value += LD(o.reach_a) * kl(row, a(i));
    }
    for (Index j = 0; j < cost.cols(); ++j) {
        if (b(j) == 0.0) continue;
        const LD m = columns[std::size_t(j)];
        r.error_b += std::abs(m - LD(b(j)) * target(s.g(j), o.reach_b));
        if (!std::isinf(o.reach_b)) r.value += LD(o.reach_b) * kl(m, b(j));
    }
    return r;
}

/// x rounded to double: +-inf beyond its range.
double rounded(long double x) { return std::abs(x) > std::numeric_limits<double>::max() ? std::copysign(HUGE_VAL, double(x)) : double(x); }

/// The problem without column k (a point of weight 0 in b).
std::pair<VectorXd, RowMatrix<double>> without_column(const VectorXd& b, const RowMatrix<double>& cost, Index k)
{
    VectorXd b2(b.size() - 1);
    RowMatrix<double> c2(cost.rows(), cost.cols() - 1);
    for (Index j = 0, l = 0; j < b.size(); ++j) {
        if (j == k) continue;
        b2(l) = b(j);
        c2.col(l++) = cost.col(j);
    }
    return {b2, c2};
}

}  // namespace

TEST_CASE("sinkhorn: a zero weight beside a tiny one at a small epsilon and large costs: no NaN, the plan's value (long double) and the problem without that point", "[ot][sinkhorn][edge]")
{
    // The fuzzer's case: b = {0, 2.46e-102, ...}, epsilon 1e-3, costs +-1e4, a few iterations: the plan of the
    // returned potentials overflows double (exponents (f + g - C) / eps up to 1e7), <P, C> = -inf met eps KL = +inf
    // (a NaN value), and the relaxed residual b (e^x - e^y) was inf - inf (a NaN marginal error).
    const double inf = std::numeric_limits<double>::infinity();
    const VectorXd a = (VectorXd(3) << 0.5, 0.3, 0.2).finished();
    for (const double scale : {1.0, 1e3}) {
        // scale 1: costs +-10 at epsilon 1e-2, exponents within long double's range; 1e3: the fuzzer's scale.
        const RowMatrix<double> cost = scale * (RowMatrix<double>(3, 3) << 7, -9, 4, -6, 10, -2, 8, 3, -10).finished();
        for (int variant = 0; variant < 3; ++variant) {
            VectorXd b(3);
            b << 0.0, 2.46e-102, 1.0;
            ot::SinkhornOptions o;
            o.epsilon = scale == 1.0 ? 1e-2 : 1e-3;
            o.tolerance = 1e-9;
            if (variant == 1) o.reach_b = 0.1;  // b's mass need not be a's
            if (variant == 2) o.reach_a = 10.0, o.reach_b = 1.0;
            if (variant != 0) b(2) = 0.4;
            const auto [b2, cost2] = without_column(b, cost, 0);
            for (const ot::SinkhornUpdate update : {ot::SinkhornUpdate::alternating, ot::SinkhornUpdate::symmetric}) {
                for (const Index iterations : {0, 1, 3, 10, 40}) {
                    o.update = update;
                    o.max_iterations = iterations;
                    const auto s = ot::sinkhorn(a, b, cost, o);
                    CAPTURE(scale, variant, int(update), iterations, s.value, s.linear, s.f.transpose(), s.g.transpose());
                    REQUIRE_FALSE(std::isnan(s.value));
                    REQUIRE_FALSE(std::isnan(s.linear));
                    REQUIRE_FALSE(std::isnan(s.marginal_error_a));
                    REQUIRE_FALSE(std::isnan(s.marginal_error_b));
                    CHECK_FALSE(s.plan().hasNaN());
                    // A zero weight is an absent point: the same iterates and value without it.
                    const auto without = ot::sinkhorn(a, b2, cost2, o);
                    CHECK(without.iterations == s.iterations);
                    CHECK((without.f - s.f).cwiseAbs().maxCoeff() <= 1e-12 * scale);
                    CHECK((without.g - s.g.tail(2)).cwiseAbs().maxCoeff() <= 1e-12 * scale);
                    CHECK((without.value == s.value || std::abs(without.value - s.value) <= 1e-12 * std::abs(s.value)));
                    CHECK(without.marginal_error_b == s.marginal_error_b);
                    if (iterations == 0) {
                        // f = g = 0: value = sum_ij a_i b_j (eps - eps e^(-C_ij / eps)) + penalties, the exponent of C = -10 scale
                        // beyond double's range: -inf when balanced; the relaxed sides' m log m (m ~ e^(10 scale / eps)) win.
                        CHECK(s.value == (variant == 0 ? -inf : inf));
                    }
                    if (scale != 1.0) continue;
                    const PlanReference r = plan_reference(a, b, cost, s, o);
                    CAPTURE(double(std::log10(std::abs(r.value))));
                    REQUIRE(std::isfinite(r.value));  // within long double's range
                    if (std::isinf(rounded(r.value))) {
                        CHECK(s.value == rounded(r.value));
                    } else {
                        CHECK(s.value == Approx(double(r.value)).epsilon(1e-9).margin(1e-12));
                    }
                    CHECK(s.marginal_error_a == Approx(rounded(r.error_a)).epsilon(1e-9).margin(1e-12));
                    CHECK(s.marginal_error_b == Approx(rounded(r.error_b)).epsilon(1e-9).margin(1e-12));
                }
            }
        }
    }
}

}  // namespace ot_sinkhorn_test
