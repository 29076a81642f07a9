// Distillation losses (losses/distillation.hpp): every divergence of distillation_loss against its
// definition in long double, the composition (T^2, weights, reductions, masks, ignored labels, the
// cross-entropy term), TRL's GKD loss (golden values from tests/reference/make_gkd_reference.py),
// the continuous JSD convention at its endpoints, every gradient against central differences, a
// top-k teacher, and every error.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "divergence/losses/distillation.hpp"
#include "reference/gkd_reference_values.hpp"
#include "support/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/random.hpp"

namespace losses_distillation_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;

namespace {

using Row = dv::RowMatrix<double>;
using Real = long double;
using Dist = std::vector<Real>;

/// softmax(z_r / T) in long double.
Dist softmax(const Row& z, Eigen::Index r, double temperature)
{
    Real largest = -std::numeric_limits<Real>::infinity();
    for (Eigen::Index c = 0; c < z.cols(); ++c) largest = std::max(largest, Real(z(r, c)) / temperature);
    Real sum = 0;
    Dist p(std::size_t(z.cols()));
    for (Eigen::Index c = 0; c < z.cols(); ++c) sum += p[std::size_t(c)] = std::exp(Real(z(r, c)) / temperature - largest);
    for (Real& x : p) x /= sum;
    return p;
}

Real kl(const Dist& p, const Dist& q)
{
    Real s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) s += p[i] * std::log(p[i] / q[i]);
    return s;
}
Real entropy(const Dist& p)
{
    Real s = 0;
    for (Real x : p) s -= x * std::log(x);
    return s;
}
/// beta KL(P || M) + (1 - beta) KL(Q || M), M = beta P + (1 - beta) Q.
Real jsd(const Dist& p, const Dist& q, Real beta)
{
    Dist m(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) m[i] = beta * p[i] + (1 - beta) * q[i];
    return beta * kl(p, m) + (1 - beta) * kl(q, m);
}
/// Cichocki-Amari alpha-beta divergence for alpha, beta, alpha + beta != 0.
Real alpha_beta(const Dist& p, const Dist& q, Real a, Real b)
{
    Real s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        s += -(std::pow(p[i], a) * std::pow(q[i], b) - a / (a + b) * std::pow(p[i], a + b) - b / (a + b) * std::pow(q[i], a + b)) / (a * b);
    }
    return s;
}
/// ToDi: sum_i w_i p_i log(p_i/q_i) + (1 - w_i) q_i log(q_i/p_i), w_i = sigmoid(beta log(p_i/q_i)) or the given weights.
Real token_wise(const Dist& p, const Dist& q, Real beta, const Dist* frozen = nullptr)
{
    Real s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        const Real l = std::log(p[i] / q[i]);
        const Real w = frozen ? (*frozen)[i] : 1 / (1 + std::exp(-beta * l));
        s += w * p[i] * l - (1 - w) * q[i] * l;
    }
    return s;
}
Real squared_hellinger(const Dist& p, const Dist& q)
{
    Real s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) s += (std::sqrt(p[i]) - std::sqrt(q[i])) * (std::sqrt(p[i]) - std::sqrt(q[i]));
    return s;
}

using RowDivergence = std::function<Real(const Dist& p, const Dist& q, Eigen::Index row)>;

/// The reduction of w_r D(P_r, Q_r) over kept rows (mask, divided as `reduction` says).
Real reduce(const Row& teacher, const Row& student, double temperature, const RowDivergence& d, dv::Reduction reduction,
            const std::vector<bool>& keep, const Eigen::VectorXd& weights)
{
    Real s = 0;
    Eigen::Index kept = 0;
    for (Eigen::Index r = 0; r < teacher.rows(); ++r) {
        if (!keep[std::size_t(r)]) continue;
        ++kept;
        s += Real(weights(r)) * d(softmax(teacher, r, temperature), softmax(student, r, temperature), r);
    }
    if (reduction == dv::Reduction::mean) return kept ? s / kept : 0;
    if (reduction == dv::Reduction::batchmean) return s / teacher.rows();
    return s;
}

struct Named {
    const char* name;
    std::function<dv::DistillationValue<double>(const Row&, const Row&, const dv::DistillationOptions&, const dv::Outputs<double>&)> call;
    RowDivergence reference;
};

/// Every divergence of distillation_loss with its long-double definition.
std::vector<Named> divergences()
{
    const auto call = [](auto d) {
        return [d](const Row& t, const Row& s, const dv::DistillationOptions& o, const dv::Outputs<double>& out) {
            return dv::distillation_loss(t, s, d, o, out);
        };
    };
    return {
        {"forward_kl", call(dv::distill::ForwardKl{}), [](const Dist& p, const Dist& q, Eigen::Index) { return kl(p, q); }},
        {"reverse_kl", call(dv::distill::ReverseKl{}), [](const Dist& p, const Dist& q, Eigen::Index) { return kl(q, p); }},
        {"gkd_jsd_0.3", call(dv::distill::GkdJsd{0.3}), [](const Dist& p, const Dist& q, Eigen::Index) { return jsd(p, q, 0.3L); }},
        {"continuous_jsd_0.3", call(dv::distill::ContinuousJsd{0.3}),
         [](const Dist& p, const Dist& q, Eigen::Index) { return jsd(p, q, 0.3L) / (0.3L * 0.7L); }},
        {"alpha_beta_0.5_0.3", call(dv::distill::AlphaBeta{0.5, 0.3}),
         [](const Dist& p, const Dist& q, Eigen::Index) { return alpha_beta(p, q, 0.5L, 0.3L); }},
        {"alpha_beta_1.5_-0.5", call(dv::distill::AlphaBeta{1.5, -0.5}),
         [](const Dist& p, const Dist& q, Eigen::Index) { return alpha_beta(p, q, 1.5L, -0.5L); }},
        {"alpha_beta_0.7_-0.6", call(dv::distill::AlphaBeta{0.7, -0.6}),
         [](const Dist& p, const Dist& q, Eigen::Index) { return alpha_beta(p, q, 0.7L, -0.6L); }},
        {"token_wise_2", call(dv::distill::TokenWise{2.0}), [](const Dist& p, const Dist& q, Eigen::Index) { return token_wise(p, q, 2.0L); }},
        {"f_squared_hellinger", call(dv::distill::f_divergence(dv::generators::SquaredHellinger{})),
         [](const Dist& p, const Dist& q, Eigen::Index) { return squared_hellinger(p, q); }},
        {"balanced_entropy_rule", call(dv::distill::Balanced{{}, {}, 3.0}),
         [](const Dist& p, const Dist& q, Eigen::Index) {
             const bool student_less_confident = entropy(q) > entropy(p);
             return (student_less_confident ? 1.0L : 3.0L) * kl(p, q) + (student_less_confident ? 3.0L : 1.0L) * kl(q, p);
         }},
    };
}

}  // namespace

TEST_CASE("distillation_loss equals each divergence's definition in long double, reduced over kept rows", "[distillation][reference]")
{
    const Eigen::Index b = 6, v = 37;
    const Row teacher = test::random_logits(b, v, 11, 3.0), student = test::random_logits(b, v, 12, 3.0);
    const auto reduction = GENERATE(dv::Reduction::sum, dv::Reduction::batchmean, dv::Reduction::mean);
    const double temperature = GENERATE(1.0, 2.5);
    const bool squared = GENERATE(false, true);
    Eigen::Array<bool, Eigen::Dynamic, 1> mask = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(b, true);
    mask(1) = false;
    Eigen::VectorXd weights(b);
    weights << 1.0, 2.0, 0.5, 0.0, 1.5, 1.0;
    std::vector<bool> keep(std::size_t(b), true);
    keep[1] = false;
    dv::DistillationOptions options;
    options.reduction = reduction;
    options.temperature = temperature;
    options.scaling = squared ? dv::TemperatureScaling::squared : dv::TemperatureScaling::none;
    options.kd_weight = 0.75;
    options.mask = mask;
    options.weights = weights;
    for (const Named& d : divergences()) {
        CAPTURE(d.name, int(reduction), temperature, squared);
        Eigen::VectorXd rows(b);
        dv::Outputs<double> out;
        out.row_values = rows;
        const dv::DistillationValue<double> value = d.call(teacher, student, options, out);
        const Real expected = reduce(teacher, student, temperature, d.reference, reduction, keep, weights);
        const double scale = 0.75 * (squared ? temperature * temperature : 1.0);
        CHECK(value.divergence == Approx(double(expected)).epsilon(1e-12));
        CHECK(value.loss == Approx(double(scale * expected)).epsilon(1e-12));
        CHECK(value.cross_entropy == 0.0);
        for (Eigen::Index r = 0; r < b; ++r) {
            const double row = keep[std::size_t(r)] ? double(d.reference(softmax(teacher, r, temperature), softmax(student, r, temperature), r)) : 0.0;
            CHECK(rows(r) == Approx(row).epsilon(1e-12).margin(1e-15));
        }
    }
}

TEST_CASE("distillation_loss with labels adds ce_weight times the cross-entropy at T = 1 and drops ignored rows", "[distillation][reference]")
{
    const Eigen::Index b = 5, v = 11;
    const Row teacher = test::random_logits(b, v, 21, 2.0), student = test::random_logits(b, v, 22, 2.0);
    Eigen::VectorXi y(b);
    y << 3, -100, 0, 10, 7;
    const double eps = 0.1;
    const bool drop = GENERATE(true, false);
    dv::DistillationOptions options;
    options.temperature = 2.0;
    options.scaling = dv::TemperatureScaling::squared;
    options.kd_weight = 0.6;
    options.ce_weight = 0.4;
    options.ignored_labels_drop_rows = drop;
    options.reduction = dv::Reduction::mean;
    CAPTURE(drop);
    const auto value = dv::distillation_loss(teacher, student, dv::labels(y, eps), dv::distill::ForwardKl{}, options);
    Real kd = 0, ce = 0;
    int kd_rows = 0, ce_rows = 0;
    for (Eigen::Index r = 0; r < b; ++r) {
        if (y(r) != -100 || !drop) {
            kd += kl(softmax(teacher, r, 2.0), softmax(student, r, 2.0));
            ++kd_rows;
        }
        if (y(r) == -100) continue;
        const Dist q = softmax(student, r, 1.0);
        for (Eigen::Index c = 0; c < v; ++c) ce -= ((c == y(r) ? 1 - eps : 0.0) + eps / v) * std::log(q[std::size_t(c)]);
        ++ce_rows;
    }
    CHECK(value.divergence == Approx(double(kd / kd_rows)).epsilon(1e-12));
    CHECK(value.cross_entropy == Approx(double(ce / ce_rows)).epsilon(1e-12));
    CHECK(value.loss == Approx(double(0.6 * 4.0 * kd / kd_rows + 0.4 * ce / ce_rows)).epsilon(1e-12));
}

TEST_CASE("GkdJsd matches TRL's generalized_jsd_loss at beta 0, 0.5, 1 (values and gradients from torch)", "[distillation][reference][gkd]")
{
    namespace ref = gkd_reference_values;
    const Row teacher = Eigen::Map<const Row>(ref::teacher.data(), ref::rows, ref::cols);
    const Row student = Eigen::Map<const Row>(ref::student.data(), ref::rows, ref::cols);
    Eigen::Matrix<long long, Eigen::Dynamic, 1> y(ref::rows);
    for (int r = 0; r < ref::rows; ++r) y(r) = ref::labels[std::size_t(r)];
    for (const ref::GkdCase& c : ref::cases) {
        CAPTURE(c.temperature, c.beta);
        dv::DistillationOptions options;
        options.temperature = c.temperature;
        options.reduction = dv::Reduction::sum;
        Eigen::VectorXd rows(ref::rows);
        dv::Outputs<double> out;
        out.row_values = rows;
        const double sum = dv::distillation_loss(teacher, student, dv::distill::GkdJsd{c.beta}, options, out).loss;
        for (int r = 0; r < ref::rows; ++r) CHECK(rows(r) == Approx(c.per_token[std::size_t(r)]).epsilon(1e-13));
        // TRL's batchmean of a tokens x vocabulary input divides by tokens x vocabulary.
        CHECK(sum / (ref::rows * ref::cols) == Approx(c.batchmean).epsilon(1e-13));
        // With labels it is the mean over kept tokens: Reduction::mean with the ignored rows dropped.
        options.reduction = dv::Reduction::mean;
        Row grad_student(ref::rows, ref::cols), grad_teacher(ref::rows, ref::cols);
        dv::Outputs<double> grads;
        grads.grad_q = grad_student;
        grads.grad_p = grad_teacher;
        const double mean = dv::distillation_loss(teacher, student, dv::labels(y), dv::distill::GkdJsd{c.beta}, options, grads).loss;
        CHECK(mean == Approx(c.batchmean_labels).epsilon(1e-13));
        const Row expected_student = Eigen::Map<const Row>(c.grad_student.data(), ref::rows, ref::cols);
        const Row expected_teacher = Eigen::Map<const Row>(c.grad_teacher.data(), ref::rows, ref::cols);
        CHECK(test::close(grad_student, expected_student, 1e-11, 1e-15));
        CHECK(test::close(grad_teacher, expected_teacher, 1e-11, 1e-15));
    }
}

TEST_CASE("ContinuousJsd is continuous at beta = 0 and 1, where it is the forward and reverse KL", "[distillation][jsd]")
{
    // JSD_beta = beta KL(P || Q) + O(beta^2) as beta -> 0 and (1 - beta) KL(Q || P) + O((1 - beta)^2) as beta -> 1,
    // so JSD_beta / (beta (1 - beta)) -> KL(P || Q), KL(Q || P) with an error O(beta) (O(1 - beta)).
    const Row teacher = test::random_logits(4, 50, 31, 2.0), student = test::random_logits(4, 50, 32, 2.0);
    const double forward = dv::distillation_loss(teacher, student, dv::distill::ContinuousJsd{0.0}).loss;
    const double reverse = dv::distillation_loss(teacher, student, dv::distill::ContinuousJsd{1.0}).loss;
    CHECK(forward == Approx(dv::distillation_loss(teacher, student, dv::distill::ForwardKl{}).loss).epsilon(1e-15));
    CHECK(reverse == Approx(dv::distillation_loss(teacher, student, dv::distill::ReverseKl{}).loss).epsilon(1e-15));
    double previous_gap = std::numeric_limits<double>::infinity();
    for (double beta : {1e-2, 1e-4, 1e-6, 1e-8}) {
        CAPTURE(beta);
        const double near_zero = dv::distillation_loss(teacher, student, dv::distill::ContinuousJsd{beta}).loss;
        const double near_one = dv::distillation_loss(teacher, student, dv::distill::ContinuousJsd{1.0 - beta}).loss;
        const double gap = std::abs(near_zero - forward) / forward;
        CHECK(gap <= 10.0 * beta);
        CHECK(std::abs(near_one - reverse) / reverse <= 10.0 * beta + 1e-7);  // 1 - beta rounds: relative 1e-16 / beta
        CHECK(gap < previous_gap);
        previous_gap = gap;
    }
    // The GKD convention jumps instead: its mixture form is ~beta KL near 0.
    CHECK(dv::distillation_loss(teacher, student, dv::distill::GkdJsd{1e-6}).loss == Approx(1e-6 * forward).epsilon(1e-5));
}

TEST_CASE("alpha_beta_divergence at its limits equals forward KL, reverse KL and Cichocki's limit formulas", "[distillation][alpha_beta]")
{
    const Row t = test::random_logits(3, 40, 41, 2.0), s = test::random_logits(3, 40, 42, 2.0);
    const auto p = dv::logits(t), q = dv::logits(s);
    const double forward = dv::kl(p, q), reverse = dv::reverse_kl(p, q);
    CHECK(dv::alpha_beta_divergence(p, q, 1.0, 0.0) == Approx(forward).epsilon(1e-13));
    CHECK(dv::alpha_beta_divergence(p, q, 0.0, 1.0) == Approx(reverse).epsilon(1e-13));
    // Continuity: near the limits the value is within O(distance) of the limit, never a cancellation blow-up.
    for (double e : {1e-3, 1e-6, 1e-9, 1e-12}) {
        CAPTURE(e);
        CHECK(dv::alpha_beta_divergence(p, q, 1.0, e) == Approx(forward).epsilon(10 * e + 1e-12));
        CHECK(dv::alpha_beta_divergence(p, q, 1.0 + e, -e) == Approx(forward).epsilon(10 * e + 1e-12));
        CHECK(dv::alpha_beta_divergence(p, q, e, 1.0) == Approx(reverse).epsilon(10 * e + 1e-12));
        CHECK(dv::alpha_beta_divergence(p, q, -e, 1.0 + e) == Approx(reverse).epsilon(10 * e + 1e-12));
    }
    // alpha + beta = 0: sum (e^(alpha l) - 1 - alpha l) / alpha^2; alpha = beta = 0: sum l^2 / 2 (per row, mean).
    Real limit_s0 = 0, limit_00 = 0;
    for (Eigen::Index r = 0; r < 3; ++r) {
        const Dist a = softmax(t, r, 1.0), b = softmax(s, r, 1.0);
        for (std::size_t i = 0; i < a.size(); ++i) {
            const Real l = std::log(a[i] / b[i]);
            limit_s0 += (std::exp(0.5L * l) - 1 - 0.5L * l) / 0.25L;
            limit_00 += l * l / 2;
        }
    }
    CHECK(dv::alpha_beta_divergence(p, q, 0.5, -0.5) == Approx(double(limit_s0 / 3)).epsilon(1e-13));
    CHECK(dv::alpha_beta_divergence(p, q, 0.5 + 1e-9, -0.5) == Approx(double(limit_s0 / 3)).epsilon(1e-7));
    CHECK(dv::alpha_beta_divergence(p, q, 0.0, 0.0) == Approx(double(limit_00 / 3)).epsilon(1e-13));
    CHECK(dv::alpha_beta_divergence(p, q, 1e-7, 1e-7) == Approx(double(limit_00 / 3)).epsilon(1e-5));
    // (1/2, 1/2) is twice the squared Hellinger sum, (1, 1) half the squared Euclidean distance.
    CHECK(dv::alpha_beta_divergence(p, q, 0.5, 0.5) ==
          Approx(2.0 * dv::f_divergence(p, q, dv::generators::SquaredHellinger{})).epsilon(1e-13));
}

TEST_CASE("alpha_beta_divergence works in every input form, with zero masses given by their limits", "[distillation][alpha_beta]")
{
    const Row t = test::random_logits(3, 9, 43, 2.0), s = test::random_logits(3, 9, 44, 2.0);
    const double from_logits = dv::alpha_beta_divergence(dv::logits(t), dv::logits(s), 0.8, 0.4);
    Row p(3, 9), q(3, 9);
    for (Eigen::Index r = 0; r < 3; ++r) {
        const Dist a = softmax(t, r, 1.0), b = softmax(s, r, 1.0);
        for (Eigen::Index c = 0; c < 9; ++c) {
            p(r, c) = double(a[std::size_t(c)]);
            q(r, c) = double(b[std::size_t(c)]);
        }
    }
    const Row log_p = p.array().log().matrix(), log_q = q.array().log().matrix();
    CHECK(dv::alpha_beta_divergence(p, q, 0.8, 0.4) == Approx(from_logits).epsilon(1e-13));
    CHECK(dv::alpha_beta_divergence(dv::log_probs(log_p), dv::log_probs(log_q), 0.8, 0.4) == Approx(from_logits).epsilon(1e-13));
    // A zero in p: the general form's limit (q^s beta / s / (alpha beta) for alpha, beta, s > 0); KL(P || Q) at a zero of q: +inf.
    Eigen::RowVectorXd a(3), b(3);
    a << 0.0, 0.5, 0.5;
    b << 0.2, 0.3, 0.5;
    const Real expected = alpha_beta({1e-300L, 0.5L, 0.5L}, {0.2L, 0.3L, 0.5L}, 0.8L, 0.4L);
    CHECK(dv::alpha_beta_divergence(a, b, 0.8, 0.4) == Approx(double(expected)).epsilon(1e-12));
    CHECK(std::isinf(dv::alpha_beta_divergence(b, a, 1.0, 0.0)));
    CHECK(dv::alpha_beta_divergence(a, b, 1.0, 0.0) == Approx(dv::kl(a, b)).epsilon(1e-13));
}

namespace {

/// The loss as a function of the student (or teacher) logits, for central differences.
double loss_of(const Named& d, const Row& teacher, const Row& student, const dv::DistillationOptions& options)
{
    return d.call(teacher, student, options, {}).loss;
}

}  // namespace

TEST_CASE("distillation_loss gradients with respect to student and teacher logits match central differences", "[distillation][gradient]")
{
    const Eigen::Index b = 4, v = 7;
    const Row teacher = test::random_logits(b, v, 51, 1.5), student = test::random_logits(b, v, 52, 1.5);
    Eigen::Array<bool, Eigen::Dynamic, 1> mask = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(b, true);
    mask(2) = false;
    Eigen::VectorXd weights(b);
    weights << 1.0, 0.5, 2.0, 1.5;
    dv::DistillationOptions options;
    options.temperature = 1.7;
    options.scaling = dv::TemperatureScaling::squared;
    options.kd_weight = 0.8;
    options.mask = mask;
    options.weights = weights;
    options.reduction = dv::Reduction::mean;
    for (const Named& d : divergences()) {
        if (std::string(d.name) == "token_wise_2") continue;  // its gradient freezes the weights: next test
        CAPTURE(d.name);
        Row grad_student(b, v), grad_teacher(b, v);
        dv::Outputs<double> out;
        out.grad_q = grad_student;
        out.grad_p = grad_teacher;
        d.call(teacher, student, options, out);
        const Row fd_student = test::central_difference(student, [&](const Row& z) { return loss_of(d, teacher, z, options); });
        const Row fd_teacher = test::central_difference(teacher, [&](const Row& z) { return loss_of(d, z, student, options); });
        CHECK(test::close(grad_student, fd_student, 1e-5, 1e-7));
        CHECK(test::close(grad_teacher, fd_teacher, 1e-5, 1e-7));
        CHECK(grad_student.row(2).isZero());
    }
}

TEST_CASE("distillation_loss gradient with labels, cross-entropy and ignored rows matches central differences", "[distillation][gradient]")
{
    const Eigen::Index b = 4, v = 6;
    const Row teacher = test::random_logits(b, v, 61, 1.5), student = test::random_logits(b, v, 62, 1.5);
    Eigen::VectorXi y(b);
    y << 2, -100, 5, 0;
    dv::DistillationOptions options;
    options.temperature = 3.0;
    options.scaling = dv::TemperatureScaling::squared;
    options.kd_weight = 0.7;
    options.ce_weight = 0.3;
    options.reduction = dv::Reduction::batchmean;
    const auto divergence = dv::distill::Balanced{};
    const auto loss = [&](const Row& t, const Row& s) { return dv::distillation_loss(t, s, dv::labels(y, 0.05), divergence, options).loss; };
    Row grad_student(b, v), grad_teacher(b, v);
    dv::Outputs<double> out;
    out.grad_q = grad_student;
    out.grad_p = grad_teacher;
    dv::distillation_loss(teacher, student, dv::labels(y, 0.05), divergence, options, out);
    CHECK(test::close(grad_student, test::central_difference(student, [&](const Row& z) { return loss(teacher, z); }), 1e-5, 1e-7));
    CHECK(test::close(grad_teacher, test::central_difference(teacher, [&](const Row& z) { return loss(z, student); }), 1e-5, 1e-7));
    CHECK(grad_student.row(1).isZero());
    CHECK(grad_teacher.row(1).isZero());
}

TEST_CASE("TokenWise gradients are those of the loss with the sigmoid weights frozen (stop-gradient)", "[distillation][gradient][token_wise]")
{
    const Eigen::Index b = 3, v = 8;
    const double temperature = 1.3, beta = 2.0;
    const Row teacher = test::random_logits(b, v, 71, 1.5), student = test::random_logits(b, v, 72, 1.5);
    dv::DistillationOptions options;
    options.temperature = temperature;
    options.reduction = dv::Reduction::sum;
    Row grad_student(b, v), grad_teacher(b, v);
    dv::Outputs<double> out;
    out.grad_q = grad_student;
    out.grad_p = grad_teacher;
    dv::distillation_loss(teacher, student, dv::distill::TokenWise{beta}, options, out);
    std::vector<Dist> frozen;
    for (Eigen::Index r = 0; r < b; ++r) {
        const Dist p = softmax(teacher, r, temperature), q = softmax(student, r, temperature);
        Dist w(p.size());
        for (std::size_t i = 0; i < p.size(); ++i) w[i] = 1 / (1 + std::exp(-beta * std::log(p[i] / q[i])));
        frozen.push_back(w);
    }
    const auto loss = [&](const Row& t, const Row& s) {
        Real sum = 0;
        for (Eigen::Index r = 0; r < b; ++r) {
            sum += token_wise(softmax(t, r, temperature), softmax(s, r, temperature), beta, &frozen[std::size_t(r)]);
        }
        return double(sum);
    };
    CHECK(test::close(grad_student, test::central_difference(student, [&](const Row& z) { return loss(teacher, z); }), 1e-5, 1e-7));
    CHECK(test::close(grad_teacher, test::central_difference(teacher, [&](const Row& z) { return loss(z, student); }), 1e-5, 1e-7));
    // beta = 0: w = 1/2 everywhere, half of Jeffreys' divergence.
    const double half_jeffreys = dv::distillation_loss(teacher, student, dv::distill::TokenWise{0.0}, options).loss;
    CHECK(half_jeffreys == Approx(0.5 * (dv::kl(dv::logits(teacher, temperature), dv::logits(student, temperature), {dv::Reduction::sum}) +
                                         dv::reverse_kl(dv::logits(teacher, temperature), dv::logits(student, temperature), {dv::Reduction::sum})))
                               .epsilon(1e-13));
}

TEST_CASE("Balanced with caller weights is a_r KL + b_r reverse KL, float rows accumulate in double", "[distillation][balanced]")
{
    const Eigen::Index b = 4, v = 300;
    const Row teacher = test::random_logits(b, v, 81, 3.0), student = test::random_logits(b, v, 82, 3.0);
    Eigen::VectorXd a(b), c(b);
    a << 1.0, 0.0, 0.25, 2.0;
    c << 0.0, 1.0, 0.75, 0.5;
    dv::DistillationOptions options;
    options.reduction = dv::Reduction::sum;
    options.temperature = 2.0;
    Real expected = 0;
    for (Eigen::Index r = 0; r < b; ++r) {
        const Dist p = softmax(teacher, r, 2.0), q = softmax(student, r, 2.0);
        expected += Real(a(r)) * kl(p, q) + Real(c(r)) * kl(q, p);
    }
    CHECK(dv::distillation_loss(teacher, student, dv::distill::Balanced{a, c}, options).loss == Approx(double(expected)).epsilon(1e-12));
    const test::MatrixF tf = teacher.cast<float>(), sf = student.cast<float>();
    Eigen::VectorXf af = a.cast<float>(), cf = c.cast<float>();
    CHECK(double(dv::distillation_loss(tf, sf, dv::distill::Balanced{af, cf}, options).loss) == Approx(double(expected)).epsilon(1e-5));
}

TEST_CASE("distillation_loss takes a top-k teacher where the divergence has a top-k overload", "[distillation][top_k]")
{
    const Row student = test::random_logits(3, 10, 91, 2.0);
    Eigen::MatrixXi indices(3, 2);
    indices << 0, 4, 9, 2, 5, 6;
    Row values(3, 2);
    values << 0.5, 0.25, 0.6, 0.1, 0.3, 0.3;
    const auto teacher = dv::top_k(indices, values);
    dv::DistillationOptions options;
    options.temperature = 2.0;
    options.scaling = dv::TemperatureScaling::squared;
    Row grad(3, 10), expected_grad(3, 10);
    dv::Outputs<double> out, expected_out;
    out.grad_q = grad;
    expected_out.grad_q = expected_grad;
    const double loss = dv::distillation_loss(teacher, student, dv::distill::ForwardKl{}, options, out).loss;
    const double expected = 4.0 * dv::kl(teacher, dv::logits(student, 2.0), {}, expected_out);
    CHECK(loss == Approx(expected).epsilon(1e-14));
    CHECK(test::close(grad, Row(4.0 * expected_grad), 1e-14, 1e-16));
}

TEST_CASE("distillation_loss refuses bad input with a clear message", "[distillation][errors]")
{
    const Row teacher = test::random_logits(3, 5, 101, 1.0), student = test::random_logits(3, 5, 102, 1.0);
    const auto with = [&](auto change) {
        dv::DistillationOptions options;
        change(options);
        return options;
    };
    const dv::DistillationOptions cold = with([](auto& o) { o.temperature = 0.0; });
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::ForwardKl{}, cold); }, "distillation_loss",
                     "options.temperature", "> 0");
    const dv::DistillationOptions negative_t = with([](auto& o) { o.temperature = -1.0; });
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::ForwardKl{}, negative_t); }, "options.temperature");
    const dv::DistillationOptions nan_kd = with([](auto& o) { o.kd_weight = std::nan(""); });
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::ForwardKl{}, nan_kd); }, "options.kd_weight");
    const dv::DistillationOptions ce = with([](auto& o) { o.ce_weight = 0.5; });
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::ForwardKl{}, ce); }, "options.ce_weight", "needs labels");
    const dv::DistillationOptions none = with([](auto& o) { o.reduction = dv::Reduction::none; });
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::ForwardKl{}, none); }, "options.reduction");

    Eigen::VectorXi two(2);
    two << 0, 1;
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::labels(two), dv::distill::ForwardKl{}, ce); }, "labels",
                     "2 entries for 3 rows");
    Eigen::VectorXi out_of_range(3);
    out_of_range << 0, 5, -100;
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::labels(out_of_range), dv::distill::ForwardKl{}, ce); },
                     "labels", "row 1", "out of [0, V = 5)");
    Eigen::VectorXi negative_label(3);
    negative_label << 0, -3, 1;
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::labels(negative_label), dv::distill::ForwardKl{}, ce); },
                     "labels", "got -3");

    Eigen::VectorXd short_weights(2);
    short_weights << 1.0, 1.0;
    dv::DistillationOptions short_w;
    short_w.weights = short_weights;
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::ForwardKl{}, short_w); }, "options.weights",
                     "2 entries for 3 rows");
    Eigen::VectorXd negative_weights(3);
    negative_weights << 1.0, -0.5, 1.0;
    dv::DistillationOptions negative_w;
    negative_w.weights = negative_weights;
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::ForwardKl{}, negative_w); }, "options.weights",
                     "row 1", ">= 0");
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::Balanced{negative_weights, negative_weights}); },
                     "distillation_loss", "forward", "row 1", ">= 0");
    const Eigen::VectorXd positive_weights = negative_weights.cwiseAbs();
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::Balanced{positive_weights, short_weights}); },
                     "reverse", "2 entries for 3 rows");
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::Balanced{short_weights, {}}); }, "reverse",
                     "give both");
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::Balanced{{}, {}, -1.0}); }, "emphasis");

    for (double beta : {-0.1, 1.5, std::nan("")}) {
        CAPTURE(beta);
        test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::GkdJsd{beta}); }, "beta", "[0, 1]");
        test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::ContinuousJsd{beta}); }, "beta", "[0, 1]");
    }
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::TokenWise{-1.0}); }, "token_wise_kl", "beta");
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::AlphaBeta{std::nan(""), 0.5}); },
                     "alpha_beta_divergence", "alpha");
    const Row wrong = test::random_logits(3, 6, 103, 1.0);
    test::fails_with([&] { dv::distillation_loss(wrong, student, dv::distill::ForwardKl{}); }, "kl");
    Eigen::Array<bool, Eigen::Dynamic, 1> short_mask(2);
    short_mask << true, true;
    dv::DistillationOptions masked;
    masked.mask = short_mask;
    test::fails_with([&] { dv::distillation_loss(teacher, student, dv::distill::ForwardKl{}, masked); }, "options.mask");
}

TEST_CASE("token_wise_kl at beta = 0 with zeros in p: w = 1/2 also where log(p / q) = -inf, value +inf, no NaN gradient", "[distillation][token_wise][edge]")
{
    // The fuzzer's case: beta 0 times l = -inf was NaN in the weight, so in the value and grad_p at p's zeros.
    // beta = 0 is half of Jeffreys' divergence, +inf where p = 0 < q (reverse KL's support mismatch); with the
    // weight frozen at 1/2, d/dp_i = (1 + l_i) / 2 - q_i / (2 p_i) -> -inf as p_i -> 0+.
    Row p(2, 4), q(2, 4);
    p << 0.0, 1.0243640743568756e-35, 0.25, 0.75, 0.1, 0.2, 0.3, 0.4;
    q << 0.1, 0.2, 0.3, 0.4, 0.25, 0.25, 0.25, 0.25;
    Row grad_p(2, 4), grad_q(2, 4);
    dv::Outputs<double> out;
    out.grad_p = grad_p;
    out.grad_q = grad_q;
    const auto rows = dv::token_wise_kl_rows(p, q, 0.0, {dv::Reduction::sum}, out);
    CHECK(rows(0) == std::numeric_limits<double>::infinity());
    CHECK_FALSE(grad_p.hasNaN());
    CHECK_FALSE(grad_q.hasNaN());
    CHECK(grad_p(0, 0) == -std::numeric_limits<double>::infinity());
    // the row without zeros: half of KL + reverse KL (long double), and its partials with w = 1/2
    const Dist p1 = {0.1L, 0.2L, 0.3L, 0.4L}, q1 = {0.25L, 0.25L, 0.25L, 0.25L};
    CHECK(rows(1) == Approx(double(token_wise(p1, q1, 0.0L))).epsilon(1e-13));
    for (Eigen::Index i = 0; i < 4; ++i) {
        const long double l = std::log(p1[std::size_t(i)] / q1[std::size_t(i)]);
        CHECK(grad_p(1, i) == Approx(double((1 + l) / 2 - q1[std::size_t(i)] / (2 * p1[std::size_t(i)]))).epsilon(1e-12));
    }
}

}  // namespace losses_distillation_test
