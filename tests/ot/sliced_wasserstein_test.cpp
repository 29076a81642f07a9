#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "divergence/ot/sliced_wasserstein.hpp"
#include "reference/ot_1d_reference_values.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/threads.hpp"

namespace ot_sliced_wasserstein_test {  // the test binary is a unity build: each file keeps its names to itself

namespace ot = divergence::ot;
using Points = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

Points normals(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed, double shift = 0.0)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(shift, 1.0);  // test data only: need not be portable
    Points m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
    return m;
}

Eigen::VectorXd weights(Eigen::Index n, std::uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uniform(0.1, 2.0);
    Eigen::VectorXd w(n);
    for (Eigen::Index i = 0; i < n; ++i) w(i) = uniform(rng);
    return w;
}

Points matrix(const std::vector<double>& v, int rows, int cols)
{
    return Eigen::Map<const Points>(v.data(), rows, cols);
}

using test::fails_with;

}  // namespace

TEST_CASE("sliced_wasserstein agrees with POT's ot.sliced_wasserstein_distance and its projected costs", "[sliced][reference]")
{
    for (const auto& c : ot_1d_reference::sliced_cases()) {
        CAPTURE(c.name, c.p);
        const Points x = matrix(c.x, c.n, c.d), y = matrix(c.y, c.m, c.d), theta = matrix(c.theta, c.directions, c.d);
        Eigen::VectorXd costs(c.directions);
        ot::SlicedWassersteinOutputs<double> out;
        out.direction_costs = costs;
        const auto r = c.a.empty() ? ot::sliced_wasserstein(x, y, theta, c.p, out)
                                   : ot::sliced_wasserstein(x, y, Eigen::Map<const Eigen::VectorXd>(c.a.data(), c.n),
                                                            Eigen::Map<const Eigen::VectorXd>(c.b.data(), c.m), theta, c.p, out);
        CHECK(r.distance == Approx(c.pot_sliced).epsilon(1e-12));
        for (int l = 0; l < c.directions; ++l) CHECK(costs(l) == Approx(c.pot_projected[std::size_t(l)]).epsilon(1e-12).margin(1e-15));
        CHECK(r.cost == Approx(costs.mean()).epsilon(1e-14));
    }
}

TEST_CASE("sliced_wasserstein is the mean of wasserstein_1d over the projections, and d = 1 is wasserstein_1d", "[sliced][property]")
{
    const double p = GENERATE(1.0, 1.5, 2.0, 3.0);
    const auto seed = GENERATE(1097u, 1194u, 1291u);
    CAPTURE(p, seed);
    const Points x = normals(7, 3, seed), y = normals(5, 3, seed + 1, 0.3), theta = normals(9, 3, seed + 2);
    const Eigen::VectorXd a = weights(7, seed + 3), b = weights(5, seed + 4);
    double sum = 0.0;
    for (Eigen::Index l = 0; l < theta.rows(); ++l) {
        const Eigen::RowVector3d u = theta.row(l).normalized();
        const Eigen::VectorXd px = x * u.transpose(), py = y * u.transpose();
        sum += ot::wasserstein_1d(px, py, a, b, p).cost;
    }
    const auto r = ot::sliced_wasserstein(x, y, a, b, theta, p);
    CHECK(r.cost == Approx(sum / 9.0).epsilon(1e-13));
    CHECK(r.distance == Approx(std::pow(sum / 9.0, 1.0 / p)).epsilon(1e-13));

    const Points x1 = normals(6, 1, seed + 5), y1 = normals(8, 1, seed + 6);
    Points signs(2, 1);
    signs << 3.0, -0.5;  // normalized to +1 and -1: the same 1-D cost twice
    const double w1 = ot::wasserstein_1d(x1.col(0), y1.col(0), p).cost;
    CHECK(ot::sliced_wasserstein(x1, y1, signs, p).cost == Approx(w1).epsilon(1e-14));
    CHECK(ot::sliced_wasserstein(x1, y1, ot::RandomDirections{5, seed}, p).cost == Approx(w1).epsilon(1e-14));
}

TEST_CASE("sliced_wasserstein properties: SW(x, x) = 0, symmetry, triangle inequality, translation", "[sliced][property]")
{
    const double p = GENERATE(1.0, 2.0, 3.0);
    const auto seed = GENERATE(1097u, 1194u, 1291u, 1388u, 1485u);
    CAPTURE(p, seed);
    const ot::RandomDirections directions{20, seed};
    const Points x = normals(6, 4, seed), y = normals(8, 4, seed + 1, 0.5), z = normals(5, 4, seed + 2, -0.5);
    Points gx(6, 4);
    ot::SlicedWassersteinOutputs<double> out;
    out.grad_x = gx;
    CHECK(ot::sliced_wasserstein(x, x, directions, p, out).cost == 0.0);
    CHECK(gx.isZero(0.0));
    const double xy = ot::sliced_wasserstein(x, y, directions, p).distance;
    // SW_p is a metric for the same directions (an L^p norm, over directions and t, of quantile differences).
    CHECK(xy == Approx(ot::sliced_wasserstein(y, x, directions, p).distance).epsilon(1e-14));
    CHECK(xy <= ot::sliced_wasserstein(x, z, directions, p).distance + ot::sliced_wasserstein(z, y, directions, p).distance + 1e-14);
    // Translation by c: every projection moves by <c, theta_l>, so SW_p^p = mean_l |<c, theta_l>|^p.
    const Eigen::RowVector4d c(0.5, -1.0, 2.0, 0.25);
    const Points moved = x.rowwise() + c;
    const Points theta = ot::random_directions(4, 20, seed);
    const double expected = (theta * c.transpose()).array().abs().pow(p).mean();
    CHECK(ot::sliced_wasserstein(moved, x, directions, p).cost == Approx(expected).epsilon(1e-13));
}

TEST_CASE("sliced_wasserstein gradients match central differences (points and weights, p = 1, 1.5, 2, 3)", "[sliced][gradient]")
{
    const double p = GENERATE(1.0, 1.5, 2.0, 3.0);
    const auto seed = GENERATE(1097u, 1194u, 1291u);
    CAPTURE(p, seed);
    const Points x = normals(5, 3, seed), y = normals(4, 3, seed + 1, 0.4), theta = normals(6, 3, seed + 2);
    const Eigen::VectorXd a = weights(5, seed + 3), b = weights(4, seed + 4);
    Points gx(5, 3), gy(4, 3);
    Eigen::VectorXd ga(5), gb(4);
    ot::SlicedWassersteinOutputs<double> out;
    out.grad_x = gx;
    out.grad_y = gy;
    out.grad_a = ga;
    out.grad_b = gb;
    ot::sliced_wasserstein(x, y, a, b, theta, p, out);
    const auto cost = [&](const Points& xx, const Points& yy, const Eigen::VectorXd& aa, const Eigen::VectorXd& bb) {
        return ot::sliced_wasserstein(xx, yy, aa, bb, theta, p).cost;
    };
    CHECK(test::close(gx, test::central_difference(x, [&](const Points& v) { return cost(v, y, a, b); }), 1e-5, 1e-8));
    CHECK(test::close(gy, test::central_difference(y, [&](const Points& v) { return cost(x, v, a, b); }), 1e-5, 1e-8));
    CHECK(test::close(ga, test::central_difference(a, [&](const Eigen::VectorXd& v) { return cost(x, y, v, b); }), 1e-5, 1e-8));
    CHECK(test::close(gb, test::central_difference(b, [&](const Eigen::VectorXd& v) { return cost(x, y, a, v); }), 1e-5, 1e-8));
    CHECK((gx.colwise().sum() + gy.colwise().sum()).isZero(1e-12));  // translation invariance

    SECTION("uniform weights, random directions, column-major outputs")
    {
        Eigen::MatrixXd gxc(5, 3), gyc(4, 3);
        ot::SlicedWassersteinOutputs<double> o;
        o.grad_x = gxc;
        o.grad_y = gyc;
        const ot::RandomDirections random{7, seed};
        ot::sliced_wasserstein(x, y, random, p, o);
        CHECK(test::close(gxc, test::central_difference(x, [&](const Points& v) { return ot::sliced_wasserstein(v, y, random, p).cost; }), 1e-5, 1e-8));
        CHECK(test::close(gyc, test::central_difference(y, [&](const Points& v) { return ot::sliced_wasserstein(x, v, random, p).cost; }), 1e-5, 1e-8));
    }
}

TEST_CASE("sliced_wasserstein normalizes given directions: scaled rows give the same result", "[sliced][api]")
{
    const Points x = normals(6, 3, 1), y = normals(6, 3, 2, 1.0), theta = normals(5, 3, 3);
    Points scaled = theta;
    scaled.row(0) *= 1e-200;
    scaled.row(1) *= 1e200;
    scaled.row(2) *= 7.0;
    const auto r = ot::sliced_wasserstein(x, y, theta, 2.0);
    CHECK(ot::sliced_wasserstein(x, y, scaled, 2.0).cost == Approx(r.cost).epsilon(1e-14));
    const Eigen::MatrixXf theta_f = theta.cast<float>();  // directions may be float for double points
    CHECK(ot::sliced_wasserstein(x, y, theta_f, 2.0).cost == Approx(r.cost).epsilon(1e-6));
}

TEST_CASE("random_directions are unit vectors, reproducible from the seed, and isotropic", "[sliced][random]")
{
    const Points d1 = ot::random_directions(3, 4000, 42), d2 = ot::random_directions(3, 4000, 42);
    CHECK(d1 == d2);
    CHECK(d1 != ot::random_directions(3, 4000, 43));
    CHECK((d1.rowwise().norm().array() - 1.0).abs().maxCoeff() < 1e-15);
    // Uniform on the sphere: mean 0 and second moment I / d (Monte Carlo, L = 4000: standard errors about 0.01).
    CHECK(d1.colwise().mean().cwiseAbs().maxCoeff() < 0.05);
    const Eigen::Matrix3d second = d1.transpose() * d1 / 4000.0;
    CHECK((second - Eigen::Matrix3d::Identity() / 3.0).cwiseAbs().maxCoeff() < 0.03);
    // Pinned values (mt19937_64 and the Box-Muller transform of random_directions, glibc's libm): a change of
    // the generator shows here; another libm may differ in the last bits only.
    const Points first = ot::random_directions(2, 2, 0);
    const double u1 = double((std::mt19937_64(0)() >> 11) + 1) * 0x1p-53;
    std::mt19937_64 rng(0);
    rng();
    const double u2 = double(rng() >> 11) * 0x1p-53;
    const double r = std::sqrt(-2.0 * std::log(u1)), angle = 2.0 * M_PI * u2;
    const Eigen::RowVector2d expected = Eigen::RowVector2d(r * std::cos(angle), r * std::sin(angle)).normalized();
    CHECK(first.row(0).isApprox(expected, 1e-15));
    CHECK(first(0, 0) == Approx(0.99878238276906561).epsilon(1e-13));
    CHECK(first(0, 1) == Approx(-0.049333070755301786).epsilon(1e-13));
    CHECK(first(1, 0) == Approx(-0.81816899992618797).epsilon(1e-13));
    CHECK(first(1, 1) == Approx(-0.57497781484139154).epsilon(1e-13));
    const auto a = ot::sliced_wasserstein(normals(5, 2, 1), normals(5, 2, 2), ot::RandomDirections{16, 9}, 2.0);
    const auto b = ot::sliced_wasserstein(normals(5, 2, 1), normals(5, 2, 2), ot::random_directions(2, 16, 9), 2.0);
    CHECK(a.cost == b.cost);
}

TEST_CASE("sliced_wasserstein results do not depend on the number of threads", "[sliced][threads]")
{
    // 150 directions: more than one batch of 64, the last one partial; enough points for the threads to start.
    const Points x = normals(90, 5, 7), y = normals(70, 5, 8, 0.2);
    const Eigen::VectorXd a = weights(90, 9), b = weights(70, 10);
    const auto run = [&](int threads) {
        return test::with_threads(threads, [&] {
            Points gx(90, 5), gy(70, 5);
            Eigen::VectorXd ga(90), costs(150);
            ot::SlicedWassersteinOutputs<double> out;
            out.grad_x = gx;
            out.grad_y = gy;
            out.grad_a = ga;
            out.direction_costs = costs;
            const double cost = ot::sliced_wasserstein(x, y, a, b, ot::RandomDirections{150, 3}, 1.5, out).cost;
            return std::make_tuple(cost, Points(gx), Points(gy), Eigen::VectorXd(ga), Eigen::VectorXd(costs));
        });
    };
    const auto one = run(1), two = run(2), three = run(3);
    CHECK(std::get<0>(one) == std::get<0>(two));
    CHECK(std::get<0>(one) == std::get<0>(three));
    CHECK(std::get<1>(one) == std::get<1>(two));
    CHECK(std::get<1>(one) == std::get<1>(three));
    CHECK(std::get<2>(one) == std::get<2>(three));
    CHECK(std::get<3>(one) == std::get<3>(three));
    CHECK(std::get<4>(one) == std::get<4>(three));
}

TEST_CASE("sliced_wasserstein degenerate inputs: single points, all points equal, zero weights", "[sliced][edge]")
{
    const double p = GENERATE(1.0, 1.5, 2.0);
    CAPTURE(p);
    const Points theta = normals(5, 2, 4);
    SECTION("one point on each side: mean_l |<x - y, theta_l>|^p")
    {
        Points x(1, 2), y(1, 2);
        x << 1.0, 2.0;
        y << -0.5, 0.0;
        const Eigen::RowVector2d diff(1.5, 2.0);
        Points units = theta;
        units.rowwise().normalize();
        CHECK(ot::sliced_wasserstein(x, y, theta, p).cost == Approx((units * diff.transpose()).array().abs().pow(p).mean()).epsilon(1e-14));
    }
    SECTION("all points equal: 0 with zero gradients")
    {
        const Points x = Points::Constant(4, 2, 3.0), y = Points::Constant(2, 2, 3.0);
        Points gx(4, 2), gy(2, 2);
        ot::SlicedWassersteinOutputs<double> out;
        out.grad_x = gx;
        out.grad_y = gy;
        CHECK(ot::sliced_wasserstein(x, y, theta, p, out).cost == 0.0);
        CHECK(gx.isZero(0.0));
        CHECK(gy.isZero(0.0));
    }
    SECTION("points of zero weight do not matter")
    {
        const Points x = normals(4, 2, 5), y = normals(3, 2, 6);
        Eigen::Vector4d a(1.0, 0.0, 2.0, 0.5);
        const Eigen::Vector3d b(1.0, 1.0, 1.0);
        Points x_kept(3, 2);
        x_kept << x.row(0), x.row(2), x.row(3);
        Points gx(4, 2);
        ot::SlicedWassersteinOutputs<double> out;
        out.grad_x = gx;
        const double full = ot::sliced_wasserstein(x, y, a, b, theta, p, out).cost;
        CHECK(full == Approx(ot::sliced_wasserstein(x_kept, y, Eigen::Vector3d(1.0, 2.0, 0.5), b, theta, p).cost).epsilon(1e-14));
        CHECK(gx.row(1).isZero(0.0));
    }
}

TEST_CASE("sliced_wasserstein float inputs are computed in double and rounded once", "[sliced][float]")
{
    const Points x = normals(20, 3, 31), y = normals(15, 3, 32, 0.1);
    const Eigen::MatrixXf xf = x.cast<float>(), yf = y.cast<float>();
    Eigen::MatrixXf gxf(20, 3);
    ot::SlicedWassersteinOutputs<float> outf;
    outf.grad_x = gxf;
    const auto rf = ot::sliced_wasserstein(xf, yf, ot::RandomDirections{10, 1}, 2.0, outf);
    Eigen::MatrixXd gx(20, 3);
    ot::SlicedWassersteinOutputs<double> out;
    out.grad_x = gx;
    const auto rd = ot::sliced_wasserstein(xf.cast<double>(), yf.cast<double>(), ot::RandomDirections{10, 1}, 2.0, out);
    CHECK(rf.cost == float(rd.cost));
    CHECK(gxf == gx.cast<float>());
}

TEST_CASE("sliced_wasserstein rejects bad inputs with the function, argument, index and problem named", "[sliced][errors]")
{
    const Points x = normals(4, 3, 1), y = normals(5, 3, 2), theta = normals(6, 3, 3);
    const Eigen::VectorXd a = weights(4, 4), b = weights(5, 5);
    const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
    const std::string f = "divergence::ot::sliced_wasserstein: ";
    fails_with([&] { ot::sliced_wasserstein(Points(0, 3), y, theta, 1.0); }, f + "argument 'x': empty input (0 x 3)");
    fails_with([&] { ot::sliced_wasserstein(x, Points(5, 0), theta, 1.0); }, f + "argument 'y': empty input (5 x 0)");
    Points bad = x;
    bad(2, 1) = nan;
    fails_with([&] { ot::sliced_wasserstein(bad, y, theta, 1.0); }, "argument 'x', row 2, column 1: position must be finite (nan)");
    bad = y.topRows(4);
    bad(3, 0) = -inf;
    fails_with([&] { ot::sliced_wasserstein(x, bad, theta, 1.0); }, "argument 'y', row 3, column 0: position must be finite (-inf)");
    fails_with([&] { ot::sliced_wasserstein(x, normals(5, 2, 9), theta, 1.0); }, "argument 'y': has 2 columns, x has 3");
    fails_with([&] { ot::sliced_wasserstein(x, y, normals(6, 4, 9), 1.0); }, "argument 'directions': has 4 columns, x has 3");
    fails_with([&] { ot::sliced_wasserstein(x, y, Points(0, 3), 1.0); }, "argument 'directions': no directions (L = 0)");
    fails_with([&] { ot::sliced_wasserstein(x, y, ot::RandomDirections{0, 1}, 1.0); }, "argument 'directions.count': no directions");
    Points zero_row = theta;
    zero_row.row(4).setZero();
    fails_with([&] { ot::sliced_wasserstein(x, y, zero_row, 1.0); }, "argument 'directions', row 4: a zero direction");
    Points nan_row = theta;
    nan_row(1, 2) = nan;
    fails_with([&] { ot::sliced_wasserstein(x, y, nan_row, 1.0); }, "argument 'directions', row 1, column 2: direction entry must be finite (nan)");
    fails_with([&] { ot::sliced_wasserstein(x, y, Eigen::VectorXd(a).head(3), b, theta, 1.0); }, "argument 'a': has 3 entries for 4 positions");
    Eigen::VectorXd negative = b;
    negative(3) = -1.0;
    fails_with([&] { ot::sliced_wasserstein(x, y, a, negative, theta, 1.0); }, "argument 'b', row 3: weight must be finite and >= 0 (-1)");
    fails_with([&] { ot::sliced_wasserstein(x, y, a, Eigen::VectorXd::Zero(5), theta, 1.0); }, "argument 'b': the weights sum to 0");
    fails_with([&] { ot::sliced_wasserstein(x, y, theta, 0.99); }, "argument 'p': must be finite and >= 1 (0.98999999999999999)");
    fails_with([&] { ot::sliced_wasserstein(x, y, theta, nan); }, "argument 'p': must be finite and >= 1 (nan)");
    Points wrong(3, 3);
    Eigen::VectorXd few(2);
    ot::SlicedWassersteinOutputs<double> out;
    out.grad_y = wrong;
    fails_with([&] { ot::sliced_wasserstein(x, y, theta, 1.0, out); }, "argument 'grad_y': has shape 3 x 3 for 5 x 3 points");
    ot::SlicedWassersteinOutputs<double> out2;
    out2.direction_costs = few;
    fails_with([&] { ot::sliced_wasserstein(x, y, theta, 1.0, out2); }, "argument 'direction_costs': has 2 entries for 6 directions");
    fails_with([&] { ot::random_directions(0, 3, 1); }, "divergence::ot::random_directions: argument 'dimension': must be >= 1 (0)");
}

TEST_CASE("sliced_wasserstein refuses a gradient that overflows double (huge p) instead of returning NaN", "[sliced][errors][edge]")
{
    // The projection of x = (0, 0) lies between those of (-2, 0) and (2, 0): its 1-D gradient is 0.5 p 2^(p-1)
    // (+inf) minus the same (inf - inf was NaN) at p = 1e8.
    const Points x = matrix({0.0, 0.0}, 1, 2), y = matrix({-2.0, 0.0, 2.0, 0.0}, 2, 2), theta = matrix({1.0, 0.0}, 1, 2);
    CHECK(ot::sliced_wasserstein(x, y, theta, 1e8).cost == std::numeric_limits<double>::infinity());
    Points gx(1, 2);
    ot::SlicedWassersteinOutputs<double> out;
    out.grad_x = gx;
    fails_with([&] { ot::sliced_wasserstein(x, y, theta, 1e8, out); },
               "divergence::ot::sliced_wasserstein: argument 'grad_x', row 0, column 0: the gradient overflows double", "cost (inf)");
}

}  // namespace ot_sliced_wasserstein_test
