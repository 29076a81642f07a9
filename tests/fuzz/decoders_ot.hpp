// Decoders of ot/: sinkhorn (cost matrix and point clouds with each built-in cost), its plan and
// gradients, linear_cost_gradient, sinkhorn_divergence, wasserstein_1d, sliced_wasserstein,
// random_directions, unrolled_sinkhorn and sinkhorn_distillation_loss(_groups).
// Shapes stay tiny (n, m <= 8, d <= 3) and iterations few, so that one input costs microseconds.

#ifndef DIVERGENCE_FUZZ_DECODERS_OT_HPP
#define DIVERGENCE_FUZZ_DECODERS_OT_HPP

#include "fuzz_common.hpp"

namespace fuzz {

/// SinkhornOptions from the bytes: epsilon (a list with the refused extremes, or any()), max_iterations
/// (byte % 40, byte % 16 == 0: -1), tolerance, norm, update, relaxation, annealing, reaches.
inline divergence::ot::SinkhornOptions sinkhorn_options(Reader& r, Call& call)
{
    using namespace divergence::ot;
    SinkhornOptions o;
    o.epsilon = r.one_of({0.05, 0.5, 1.0, 1e-3, 10.0, 1e-300, 1e300, 0.0, -1.0, 1e-12});
    o.max_iterations = r.pick(16) == 0 ? -1 : r.pick(40);
    o.tolerance = r.one_of({1e-9, 1e-3, 0.0, 1.0, -1.0});
    o.norm = MarginalNorm(r.pick(3));
    o.update = SinkhornUpdate(r.pick(2));
    o.relaxation = r.one_of({1.0, 1.5, 0.5, 1.99, 2.0, 0.0});
    if (r.pick(4) == 0) {
        o.epsilon_start = r.one_of({10.0, 1.0, 0.0, -1.0});
        o.epsilon_factor = r.one_of({0.5, 0.9, 1.0, 0.0});
    }
    const double inf = std::numeric_limits<double>::infinity();
    if (r.pick(3) == 0) o.reach_a = r.one_of({inf, 1.0, 0.1, 10.0, 0.0, -1.0});
    if (r.pick(3) == 0) o.reach_b = r.one_of({inf, 1.0, 0.1, 10.0, 0.0, -1.0});
    call << " epsilon " << o.epsilon << " max_iterations " << o.max_iterations << " tolerance " << o.tolerance << " norm "
         << int(o.norm) << " update " << int(o.update) << " relaxation " << o.relaxation << " epsilon_start " << o.epsilon_start
         << " epsilon_factor " << o.epsilon_factor << " reach_a " << o.reach_a << " reach_b " << o.reach_b;
    return o;
}

/// Points for a cost: for KlCost (byte % 4 != 0) rows made probabilities (softmax of the entries).
template <class S>
RowMatrix<S> points(Reader& r, Index n, Index d, bool probability_rows)
{
    RowMatrix<S> x = r.matrix<S>(n, d);
    if (probability_rows && r.pick(4) != 0) {
        for (Index i = 0; i < n; ++i) {
            const Eigen::ArrayXd e = (x.row(i).template cast<double>().array() / 8.0).exp();
            const double total = e.sum();
            for (Index k = 0; k < d; ++k) x(i, k) = S(total > 0.0 && std::isfinite(total) ? e(k) / total : 1.0 / double(d));
        }
    }
    return x;
}

/// The checks of a Sinkhorn solution (and of its plan and gradients where the inputs are finite).
template <class Solution>
void check_solution(const Call& call, const Solution& s, bool finite_inputs)
{
    call.value("value", s.value);
    call.value("linear", s.linear);
    call.value("entropic", s.entropic);
    call.value("marginal_penalty", s.marginal_penalty);
    call.value("plan_mass", s.plan_mass);
    call.value("marginal_error_a", s.marginal_error_a);
    call.value("marginal_error_b", s.marginal_error_b);
    call.values("f", s.f);
    call.values("g", s.g);
    if (!finite_inputs) return;
    call.values("plan", s.plan());
    if (s.status == divergence::ot::SinkhornStatus::infeasible) {  // +inf: no gradient (docs/ot.md)
        call.refused("gradient_a", [&] { (void)s.gradient_a(); });
        call.refused("gradient_b", [&] { (void)s.gradient_b(); });
        if constexpr (std::decay_t<decltype(s.cost)>::has_points) {
            call.refused("gradient_x", [&] { (void)s.gradient_x(); });
            call.refused("gradient_y", [&] { (void)s.gradient_y(); });
        } else {
            call.refused("gradient_cost", [&] { (void)s.gradient_cost(); });
        }
        return;
    }
    call.values("gradient_a", s.gradient_a());
    call.values("gradient_b", s.gradient_b());
    if constexpr (std::decay_t<decltype(s.cost)>::has_points) {
        call.values("gradient_x", s.gradient_x());
        call.values("gradient_y", s.gradient_y());
    } else {
        call.values("gradient_cost", s.gradient_cost());
    }
}

/// The implicit gradient of a converged solution (ImplicitOptions: tolerance, max_iterations byte % 20, ridge).
template <class Solution>
void check_implicit(Reader& r, Call& call, const Solution& s, bool finite_inputs)
{
    using namespace divergence::ot;
    if (!r.flag()) return;
    ImplicitOptions io;
    io.tolerance = r.one_of({1e-10, 1e-3, 0.0, 1.0, -1.0});
    io.max_iterations = r.pick(20);
    io.ridge = r.one_of({0.0, 1e-6, -1.0});
    call << "\n  linear_cost_gradient: tolerance " << io.tolerance << " max_iterations " << io.max_iterations << " ridge " << io.ridge;
    LinearCostGradient g;
    if (!call.run([&] { g = linear_cost_gradient(s, io); }) || !finite_inputs) return;
    call.value("implicit linear", g.linear);
    call.values("implicit gradient_a", g.gradient_a);
    call.values("implicit gradient_b", g.gradient_b);
    call.values("implicit gradient_cost", g.gradient_cost);
    call.values("implicit gradient_x", g.gradient_x);
    call.values("implicit gradient_y", g.gradient_y);
    call.value("implicit gradient_epsilon", g.gradient_epsilon);
}

/// ot::sinkhorn: S, mode (byte % 5: 0 cost matrix, 1-4 points with SquaredEuclidean, Euclidean,
/// Manhattan, KlCost), n (byte % 9), m (byte % 9), d (byte % 4), weights a, b (sizes n, m; byte % 16
/// == 0: one more), the cost or points, options, warm start (byte % 4 == 0), then the implicit gradient.
template <class S>
void fuzz_sinkhorn(Reader& r)
{
    using namespace divergence::ot;
    const int mode = r.pick(5);
    const Index n = r.pick(9), m = r.pick(9), d = r.pick(4);
    const char* costs[] = {"cost matrix", "SquaredEuclidean", "Euclidean", "Manhattan", "KlCost"};
    Call call(std::string("ot::sinkhorn ") + costs[mode] + (std::is_same_v<S, float> ? " float" : " double"),
              {"ot::sinkhorn", "ot::linear_cost_gradient", "ot::Solution::gradient_a", "ot::Solution::gradient_b",
               "ot::Solution::gradient_x", "ot::Solution::gradient_y", "ot::Solution::gradient_cost"});
    const Eigen::VectorXd a = r.weights<double>(n + (r.pick(16) == 0));
    Eigen::VectorXd b = r.weights<double>(m + (r.pick(16) == 0));
    if (r.pick(4) != 0 && b.sum() > 0.0) b *= a.sum() / b.sum();  // mostly equal masses (balanced problems need them)
    call.show_matrix("a", a.transpose()).show_matrix("b", b.transpose());
    SinkhornOptions o = sinkhorn_options(r, call);
    Eigen::VectorXd f0, g0;
    if (r.pick(4) == 0) {
        f0 = r.vector<double>(n + (r.pick(8) == 0), 1.0, 16);
        g0 = r.vector<double>(m, 1.0, 16);
        o.initial_f = &f0;
        o.initial_g = &g0;
        call.show_matrix("initial_f", f0.transpose()).show_matrix("initial_g", g0.transpose());
    }
    bool finite = all_finite(a) && all_finite(b);
    if (mode == 0) {
        RowMatrix<S> cost = r.matrix<S>(n, m);
        if (r.flag()) cost = cost.cwiseAbs();
        call.show_matrix("cost", cost);
        finite = finite && all_finite(cost);
        const bool returned = call.run([&] {
            const auto s = sinkhorn(a, b, cost, o);
            check_solution(call, s, finite);
            check_implicit(r, call, s, finite);
        });
        (void)returned;
        return;
    }
    const RowMatrix<S> x = points<S>(r, n, d, mode == 4), y = points<S>(r, m, d + (r.pick(16) == 0), mode == 4);
    call.show_matrix("x", x).show_matrix("y", y);
    finite = finite && all_finite(x) && all_finite(y);
    call.run([&] {
        const auto go = [&](auto cost) {
            const auto s = sinkhorn(a, x, b, y, cost, o);
            check_solution(call, s, finite);
            check_implicit(r, call, s, finite);
        };
        if (mode == 1) go(SquaredEuclidean{});
        else if (mode == 2) go(Euclidean{});
        else if (mode == 3) go(Manhattan{});
        else go(KlCost{});
    });
}

/// ot::sinkhorn_divergence: S, cost (byte % 4), n, m (byte % 7), d (byte % 3 + 1), a, b, x, y, options.
template <class S>
void fuzz_sinkhorn_divergence(Reader& r)
{
    using namespace divergence::ot;
    const int mode = r.pick(4);
    const Index n = r.pick(7), m = r.pick(7), d = r.pick(3) + 1;
    Call call(std::string("ot::sinkhorn_divergence cost ") + std::to_string(mode) + (std::is_same_v<S, float> ? " float" : " double"),
              {"ot::sinkhorn", "ot::sinkhorn_divergence", "ot::Solution::gradient_a", "ot::Solution::gradient_b",
               "ot::Solution::gradient_x", "ot::Solution::gradient_y"});
    const Eigen::VectorXd a = r.weights<double>(n);
    Eigen::VectorXd b = r.weights<double>(m);
    if (r.pick(4) != 0 && b.sum() > 0.0) b *= a.sum() / b.sum();
    const RowMatrix<S> x = points<S>(r, n, d, mode == 3), y = points<S>(r, m, d, mode == 3);
    call.show_matrix("a", a.transpose()).show_matrix("b", b.transpose()).show_matrix("x", x).show_matrix("y", y);
    const SinkhornOptions o = sinkhorn_options(r, call);
    const bool finite = all_finite(a) && all_finite(b) && all_finite(x) && all_finite(y);
    call.run([&] {
        const auto go = [&](auto cost) {
            const auto s = sinkhorn_divergence(a, x, b, y, cost, o);
            call.value("value", s.value);
            call.value("error_bound", s.error_bound);
            if (!finite) return;
            bool infeasible = false;
            for (const auto* part : {&s.ab, &s.aa, &s.bb}) infeasible = infeasible || part->status == SinkhornStatus::infeasible;
            if (infeasible) {  // +inf: no gradient (docs/ot.md)
                call.refused("gradient_a", [&] { (void)s.gradient_a(); });
                call.refused("gradient_x", [&] { (void)s.gradient_x(); });
                return;
            }
            call.values("gradient_a", s.gradient_a());
            call.values("gradient_b", s.gradient_b());
            call.values("gradient_x", s.gradient_x());
            call.values("gradient_y", s.gradient_y());
        };
        if (mode == 0) go(SquaredEuclidean{});
        else if (mode == 1) go(Euclidean{});
        else if (mode == 2) go(Manhattan{});
        else go(KlCost{});
    });
}

/// ot::wasserstein_1d: S, n, m (byte % 8), weights (byte % 2), x, y, a, b, p, outputs (byte % 3 each:
/// 1 the right length, 2 one more).
template <class S>
void fuzz_wasserstein_1d(Reader& r)
{
    using namespace divergence::ot;
    using Vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;
    const Index n = r.pick(8), m = r.pick(8);
    const bool weighted = r.flag();
    Call call(std::string("ot::wasserstein_1d") + (weighted ? " weighted" : "") + (std::is_same_v<S, float> ? " float" : " double"),
              {"ot::wasserstein_1d"});
    const auto s = r.spread();
    const Vector x = r.vector<S>(n, s.first, s.second), y = r.vector<S>(m, s.first, s.second);
    const Vector a = r.weights<S>(n + (r.pick(16) == 0)), b = r.weights<S>(m);
    const double p = r.one_of({1.0, 2.0, 1.5, 3.0, 0.5, 1e300});
    call << " p " << p;
    call.show_matrix("x", x.transpose()).show_matrix("y", y.transpose());
    if (weighted) call.show_matrix("a", a.transpose()).show_matrix("b", b.transpose());
    Vector gx, gy, ga, gb;
    Wasserstein1dOutputs<S> out;
    const auto make = [&](Vector& v, VectorOut<S>& o, Index size) {
        const int k = r.pick(3);
        if (k) o = (v = Vector::Constant(size + (k == 2), S(nan_value)));
    };
    make(gx, out.grad_x, n);
    make(gy, out.grad_y, m);
    make(ga, out.grad_a, n);
    make(gb, out.grad_b, m);
    Wasserstein1dResult<S> w;
    if (!call.run([&] { w = weighted ? wasserstein_1d(x, y, a, b, p, out) : wasserstein_1d(x, y, p, out); })) return;
    call.value("cost", double(w.cost));
    call.value("distance", double(w.distance));
    call.values("grad_x", gx);
    call.values("grad_y", gy);
    call.values("grad_a", ga);
    call.values("grad_b", gb);
}

/// ot::sliced_wasserstein and random_directions: S, n, m (byte % 7), d (byte % 4), directions (byte % 3:
/// a matrix of byte % 4 rows, RandomDirections{byte % 5, seed}, random_directions alone), weights
/// (byte % 2), p, outputs.
template <class S>
void fuzz_sliced_wasserstein(Reader& r)
{
    using namespace divergence::ot;
    const Index n = r.pick(7), m = r.pick(7), d = r.pick(4);
    const int directions_kind = r.pick(3);
    const bool weighted = r.flag();
    Call call(std::string("ot::sliced_wasserstein") + (weighted ? " weighted" : "") + (std::is_same_v<S, float> ? " float" : " double"),
              {"ot::sliced_wasserstein", "ot::random_directions"});
    Index count = r.pick(5);
    if (r.pick(8) == 0) count -= 1;  // -1: refused
    const std::uint64_t seed = std::uint64_t(r.pick(256));
    call << " directions " << directions_kind << " count " << count << " seed " << seed;
    if (directions_kind == 2) {
        RowMatrix<double> theta;
        if (!call.run([&] { theta = random_directions(d, count, seed); })) return;
        call.values("directions", theta);
        return;
    }
    const auto s = r.spread();
    const RowMatrix<S> x = r.matrix<S>(n, d, s.first, s.second), y = r.matrix<S>(m, d + (r.pick(16) == 0), s.first, s.second);
    const RowMatrix<S> theta = r.matrix<S>(count < 0 ? 0 : count, d);
    const Eigen::Matrix<S, Eigen::Dynamic, 1> a = r.weights<S>(n), b = r.weights<S>(m);
    const double p = r.one_of({1.0, 2.0, 1.5, 0.5});
    call << " p " << p;
    call.show_matrix("x", x).show_matrix("y", y);
    if (directions_kind == 0) call.show_matrix("theta", theta);
    RowMatrix<S> gx, gy;
    Eigen::Matrix<S, Eigen::Dynamic, 1> ga, gb, costs;
    SlicedWassersteinOutputs<S> out;
    if (r.flag()) out.grad_x = (gx = RowMatrix<S>::Constant(n, d, S(nan_value)));
    if (r.flag()) out.grad_y = (gy = RowMatrix<S>::Constant(m, d, S(nan_value)));
    if (r.flag()) out.grad_a = (ga = Eigen::Matrix<S, Eigen::Dynamic, 1>::Constant(n, S(nan_value)));
    if (r.flag()) out.grad_b = (gb = Eigen::Matrix<S, Eigen::Dynamic, 1>::Constant(m, S(nan_value)));
    if (r.flag()) out.direction_costs = (costs = Eigen::Matrix<S, Eigen::Dynamic, 1>::Constant(std::max<Index>(count, 0), S(nan_value)));
    SlicedWassersteinResult<S> w;
    const bool returned = call.run([&] {
        const RandomDirections random{count, seed};
        if (directions_kind == 0) w = weighted ? sliced_wasserstein(x, y, a, b, theta, p, out) : sliced_wasserstein(x, y, theta, p, out);
        else w = weighted ? sliced_wasserstein(x, y, a, b, random, p, out) : sliced_wasserstein(x, y, random, p, out);
    });
    if (!returned) return;
    call.value("cost", double(w.cost));
    call.value("distance", double(w.distance));
    call.values("direction_costs", costs);
    call.values("grad_x", gx);
    call.values("grad_y", gy);
    call.values("grad_a", ga);
    call.values("grad_b", gb);
}

/// ot::unrolled_sinkhorn (byte % 3 == 0) or sinkhorn_distillation_loss(_groups): S, B (byte % 6),
/// V (byte % 6), options (temperature, cost byte % 3, epsilon, iterations byte % 6 - 1, scale,
/// arithmetic, reduction, validation), teacher and student logits, groups (byte % 2), outputs.
template <class S>
void fuzz_sinkhorn_distillation(Reader& r)
{
    using namespace divergence::ot;
    const int variant = r.pick(3);
    const Index rows = r.pick(6), cols = r.pick(6);
    if (variant == 0) {
        Call call(std::string("ot::unrolled_sinkhorn") + (std::is_same_v<S, float> ? " float" : " double"),
                  {"ot::unrolled_sinkhorn", "ot::UnrolledSinkhorn::cost_gradient"});
        UnrolledSinkhornOptions o;
        o.epsilon = r.one_of({0.1, 1.0, 1e-3, 1e-300, 0.0, -1.0});
        o.iterations = r.pick(6) - 1;
        o.order = NormalizationOrder(r.pick(2));
        o.arithmetic = SinkhornArithmetic(r.pick(2));
        Eigen::VectorXd row_sums, column_sums;
        if (r.pick(3) == 0) {
            row_sums = r.weights<double>(rows + (r.pick(8) == 0));
            column_sums = r.weights<double>(cols);
            o.row_sums = &row_sums;
            o.column_sums = &column_sums;
            call.show_matrix("row_sums", row_sums.transpose()).show_matrix("column_sums", column_sums.transpose());
        }
        const RowMatrix<S> cost = r.matrix<S>(rows, cols);
        const RowMatrix<double> grad_plan = r.matrix<double>(rows, cols + (r.pick(16) == 0));
        call << " epsilon " << o.epsilon << " iterations " << o.iterations << " order " << int(o.order) << " arithmetic " << int(o.arithmetic);
        call.show_matrix("cost", cost).show_matrix("grad_plan", grad_plan);
        call.run([&] {
            const UnrolledSinkhorn u = unrolled_sinkhorn(cost, o);
            call.values("plan", u.plan());
            call.values("cost_gradient", u.cost_gradient(grad_plan));
        });
        return;
    }
    const bool groups = variant == 2;
    Call call(std::string("ot::sinkhorn_distillation_loss") + (groups ? "_groups" : "") + (std::is_same_v<S, float> ? " float" : " double"),
              {"ot::sinkhorn_distillation_loss", "ot::sinkhorn_distillation_loss_groups"});
    SinkhornDistillationOptions o;
    o.temperature = r.one_of({2.0, 1.0, 0.5, 1e-30, 0.0, 1e30});
    const int cost = r.pick(3);
    if (cost == 1) o.cost = SquaredEuclidean{};
    if (cost == 2) o.cost = KlCost{};
    o.epsilon = r.one_of({0.1, 1.0, 1e-3, 0.0, 1e-300});
    o.iterations = r.pick(6) - 1;
    o.scale = r.one_of({0.002, 1.0, 0.0, -1.0});
    o.arithmetic = SinkhornArithmetic(r.pick(2));
    o.reduction = divergence::Reduction(r.pick(4));
    o.validation = validation_of(r);
    call << " T " << o.temperature << " cost " << cost << " epsilon " << o.epsilon << " iterations " << o.iterations << " scale "
         << o.scale << " arithmetic " << int(o.arithmetic) << " reduction " << int(o.reduction);
    const auto s = r.spread();
    const RowMatrix<S> teacher = r.matrix<S>(rows, cols, s.first, s.second);
    const RowMatrix<S> student = r.matrix<S>(rows, cols + (r.pick(16) == 0), s.first, s.second);
    call.show_matrix("teacher", teacher).show_matrix("student", student);
    std::vector<Index> sizes;
    if (groups) {
        const int count = r.pick(5);  // 0: no group (refused)
        for (int g = 0; g < count; ++g) sizes.push_back(Index(r.pick(4)));
        if (!sizes.empty() && r.pick(4) != 0) {  // mostly sizes that add up to B
            Index others = 0;
            for (std::size_t g = 0; g + 1 < sizes.size(); ++g) others += sizes[g];
            sizes.back() = rows - others;
        }
        call << " groups";
        for (const Index g : sizes) call << " " << g;
    }
    RowMatrix<S> gp, gq;
    Eigen::Matrix<S, Eigen::Dynamic, 1> values;
    divergence::Outputs<S> out;
    if (r.flag()) out.grad_p = (gp = RowMatrix<S>::Constant(rows, cols, S(nan_value)));
    if (r.flag()) out.grad_q = (gq = RowMatrix<S>::Constant(rows, student.cols(), S(nan_value)));
    if (r.flag()) out.row_values = (values = Eigen::Matrix<S, Eigen::Dynamic, 1>::Constant(groups ? Index(sizes.size()) : 1, S(nan_value)));
    double value = 0.0;
    const bool returned = call.run([&] {
        value = double(groups ? sinkhorn_distillation_loss_groups(teacher, student, sizes, o, out)
                              : sinkhorn_distillation_loss(teacher, student, o, out));
    });
    if (!returned || o.validation == divergence::Validation::none) return;
    call.value("loss", value);
    call.values("grad_p", gp);
    call.values("grad_q", gq);
    call.values("row_values", values);
}

}  // namespace fuzz

#endif
