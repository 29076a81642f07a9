#ifndef DIVERGENCE_LOSSES_DISTILLATION_HPP
#define DIVERGENCE_LOSSES_DISTILLATION_HPP

// Knowledge-distillation losses in one call: a divergence between the teacher's and the student's
// softened distributions (temperature T, optional T^2 scaling), optional per-row balancing, a
// hard-label cross-entropy mixed in, ignore masks, reductions, and the gradients with respect to
// the student's logits and (online distillation) the teacher's. Built on the divergences of
// discrete/ and losses/ (each term is one call of kl, reverse_kl, generalized_js, f_divergence,
// alpha_beta_divergence, token_wise_kl, cross_entropy); see docs/distillation.md.

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "divergence/core/call.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/options.hpp"
#include "divergence/discrete/entropy.hpp"
#include "divergence/discrete/f_divergence.hpp"
#include "divergence/discrete/jensen_shannon.hpp"
#include "divergence/discrete/kl.hpp"
#include "divergence/discrete/top_k.hpp"
#include "divergence/losses/alpha_beta.hpp"
#include "divergence/losses/token.hpp"
#include "divergence/losses/token_wise.hpp"

namespace divergence {

/// Whether the distillation term is multiplied by T^2 (Hinton, Vinyals and Dean 2015, "Distilling
/// the Knowledge in a Neural Network", section 2: the soft-target gradients scale as 1/T^2).
enum class TemperatureScaling {
    none,    ///< the divergence as it is (TRL's GKD loss, most LLM distillation code)
    squared  ///< T^2 times the divergence, value and gradients (Hinton's convention)
};

/// Options of distillation_loss. The inherited Options apply to every term: `reduction` (sum,
/// batchmean, or mean = over the rows that count; none is refused), `mask` (rows to keep),
/// `weights` (per-row weights of the whole row loss), `validation`, `tolerance`.
struct DistillationOptions : Options {
    double temperature = 1.0;  ///< T > 0: the teacher and student distributions are softmax(z / T)
    TemperatureScaling scaling = TemperatureScaling::none;  ///< T^2 on the distillation term or not
    double kd_weight = 1.0;    ///< w_kd >= 0, the weight of the distillation term
    double ce_weight = 0.0;    ///< w_ce >= 0, the weight of the hard-label cross-entropy (needs labels)
    /// With labels: whether rows whose label is ignore_index are dropped from the distillation term
    /// too (padding tokens); when false they still count there (only the cross-entropy ignores them).
    bool ignored_labels_drop_rows = true;
};

/// The value of distillation_loss and its two parts (both already reduced):
/// loss = kd_weight * (T^2 or 1) * divergence + ce_weight * cross_entropy.
template <class Scalar>
struct DistillationValue {
    Scalar loss = 0;
    Scalar divergence = 0;     ///< the reduced (row-weighted) divergence, without kd_weight and T^2
    Scalar cross_entropy = 0;  ///< the reduced cross-entropy against the labels (0 without labels or ce_weight)
};

/// The divergences distillation_loss offers, between P = teacher and Q = student (softened at T).
namespace distill {

/// KL(P || Q), the "forward" KL of Hinton et al. (mean-seeking).
struct ForwardKl {};
/// KL(Q || P), the "reverse" KL (mode-seeking; MiniLLM).
struct ReverseKl {};
/// Generalized JSD in the GKD convention (Agarwal et al. 2024, eq. 1; TRL's GKDTrainer.generalized_jsd_loss):
/// beta KL(P || M) + (1 - beta) KL(Q || M), M = beta P + (1 - beta) Q, for 0 < beta < 1, and by
/// definition KL(P || Q) at beta = 0 and KL(Q || P) at beta = 1 (a jump: the mixture form is 0 there).
struct GkdJsd {
    double beta = 0.5;  ///< in [0, 1]
};
/// Generalized JSD normalized to be continuous in beta: JSD_beta / (beta (1 - beta)) for 0 < beta < 1,
/// KL(P || Q) at beta = 0 and KL(Q || P) at beta = 1, which are its limits (docs/distillation.md).
struct ContinuousJsd {
    double beta = 0.5;  ///< in [0, 1]
};
/// Alpha-beta divergence D_AB^(alpha, beta)(P || Q) (ABKD, Wang et al. 2025; alpha_beta_divergence):
/// (1, 0) is the forward KL, (0, 1) the reverse KL.
struct AlphaBeta {
    double alpha = 1.0, beta = 0.0;
};
/// Any f-divergence D_f(P || Q) = sum_i q_i f(p_i / q_i) (discrete/generators.hpp).
template <class Generator>
struct FDivergence {
    Generator generator;
};
template <class Generator>
FDivergence<Generator> f_divergence(const Generator& generator)
{
    return {generator};
}
/// ToDi's token-wise mix (token_wise_kl): per vocabulary entry sigmoid(beta log(p_i / q_i)) on the
/// forward term and the rest on the reverse term, the weights constant in the gradient.
struct TokenWise {
    double beta = 1.0;  ///< >= 0
};
/// Per-row balance of forward and reverse KL: D_r = a_r KL(P_r || Q_r) + b_r KL(Q_r || P_r).
/// With `forward` and `reverse` given (B weights each, finite, >= 0) those are a and b. Without
/// them, the entropy rule after BD-KD (Amara et al. 2022, arXiv:2212.12965): the direction that
/// corrects the student's confidence gets `emphasis`, the other 1:
///   H(Q_r) > H(P_r) (student less confident):  a_r = 1, b_r = emphasis   (reverse KL sharpens Q)
///   otherwise                                   a_r = emphasis, b_r = 1   (forward KL spreads Q)
/// with H the entropies of the softened rows. The weights are constants in the gradient (the rule is
/// a step function of the entropies, so its derivative is 0 wherever it is defined).
struct Balanced {
    RowWeights forward = {};  ///< a_r; empty (with `reverse` empty): the entropy rule
    RowWeights reverse = {};  ///< b_r
    double emphasis = 2.0;    ///< the entropy rule's weight of the favoured direction, finite, >= 0
};

}  // namespace distill

namespace detail {

/// The teacher as an argument of the divergences: dense logits at temperature T, or a top-k teacher as given.
template <class Teacher>
decltype(auto) teacher_argument(const Teacher& teacher, double temperature)
{
    if constexpr (is_top_k_v<Teacher>) {
        return (teacher);
    } else {
        return logits(teacher, temperature);
    }
}

/// The terms of a distillation loss, added one call at a time: the first call that writes a gradient
/// writes it in place, later ones into a scratch matrix (allocated once) that is then added.
template <class Scalar>
class DistillationTerms {
public:
    DistillationTerms(const Outputs<Scalar>& out, Index rows) : out_(out), rows_(std::size_t(rows), 0.0), values_(rows) {}

    /// Runs call(outputs) -> reduced value, adding its gradients (the teacher's only if
    /// `teacher_gradient`), its reduced value and its per-row values times row_factor(r) to the totals.
    template <class Call, class RowFactor>
    double add(const Call& call, const RowFactor& row_factor, bool teacher_gradient = true)
    {
        Outputs<Scalar> o;
        o.row_values = values_;
        const bool add_p = teacher_gradient && route(out_.grad_p, o.grad_p, written_p_, scratch_p_);
        const bool add_q = route(out_.grad_q, o.grad_q, written_q_, scratch_q_);
        const double value = double(call(o));
        for (Index r = 0; r < values_.size(); ++r) rows_[std::size_t(r)] += row_factor(r) * double(values_(r));
        if (add_p) accumulate(out_.grad_p.view, scratch_p_);
        if (add_q) accumulate(out_.grad_q.view, scratch_q_);
        return value;
    }
    double row(Index r) const { return rows_[std::size_t(r)]; }

private:
    /// Where a call writes a gradient: the output itself the first time, the scratch after.
    static bool route(const MatrixOut<Scalar>& final_out, MatrixOut<Scalar>& to, bool& written, RowMatrix<Scalar>& scratch)
    {
        if (!final_out.requested()) return false;
        if (!written) {
            to = final_out;
            written = true;
            return false;
        }
        scratch.resize(final_out.view.rows, final_out.view.cols);
        to = scratch;
        return true;
    }
    static void accumulate(const MatrixView<Scalar>& into, const RowMatrix<Scalar>& scratch)
    {
        for (Index r = 0; r < into.rows; ++r) {
            if (into.contiguous_rows()) {
                Eigen::Map<Eigen::Matrix<Scalar, 1, Eigen::Dynamic>>(into.row(r), into.cols) += scratch.row(r);
            } else {
                for (Index c = 0; c < into.cols; ++c) into(r, c) += scratch(r, c);
            }
        }
    }

    const Outputs<Scalar>& out_;
    std::vector<double> rows_;
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> values_;
    RowMatrix<Scalar> scratch_p_, scratch_q_;
    bool written_p_ = false, written_q_ = false;
};

/// Options of one term: the reduction, validation and mask of the loss, with per-row weights `weights`.
inline Options term_options(const DistillationOptions& options, const Eigen::Array<bool, Eigen::Dynamic, 1>& keep,
                            const Eigen::ArrayXd& weights)
{
    Options o;
    o.reduction = options.reduction;
    o.validation = options.validation;
    o.tolerance = options.tolerance;
    o.mask = keep;
    o.weights = weights;
    return o;
}

/// What a divergence term needs: the arguments, the rows that count and their weights
/// (w_kd (T^2) times the caller's weights).
template <class TeacherArgument, class StudentArgument>
struct DistillationContext {
    const char* function;
    const TeacherArgument& teacher;
    const StudentArgument& student;
    const DistillationOptions& options;
    const Eigen::Array<bool, Eigen::Dynamic, 1>& keep;
    const Eigen::ArrayXd& weights;
    Index rows;
};

inline double unit_row(Index) { return 1.0; }

template <class Context, class Scalar>
double add_term(const distill::ForwardKl&, const Context& c, DistillationTerms<Scalar>& terms)
{
    const Options o = term_options(c.options, c.keep, c.weights);
    return terms.add([&](const Outputs<Scalar>& out) { return kl(c.teacher, c.student, o, out); }, unit_row);
}
template <class Context, class Scalar>
double add_term(const distill::ReverseKl&, const Context& c, DistillationTerms<Scalar>& terms)
{
    const Options o = term_options(c.options, c.keep, c.weights);
    return terms.add([&](const Outputs<Scalar>& out) { return reverse_kl(c.teacher, c.student, o, out); }, unit_row);
}
template <class Context, class Scalar>
double add_term(const distill::GkdJsd& d, const Context& c, DistillationTerms<Scalar>& terms)
{
    validate_beta(c.function, d.beta);
    if (d.beta == 0.0) return add_term(distill::ForwardKl{}, c, terms);
    if (d.beta == 1.0) return add_term(distill::ReverseKl{}, c, terms);
    const Options o = term_options(c.options, c.keep, c.weights);
    return terms.add([&](const Outputs<Scalar>& out) { return generalized_js(c.teacher, c.student, d.beta, o, out); },
                     unit_row);
}
template <class Context, class Scalar>
double add_term(const distill::ContinuousJsd& d, const Context& c, DistillationTerms<Scalar>& terms)
{
    validate_beta(c.function, d.beta);
    if (d.beta == 0.0) return add_term(distill::ForwardKl{}, c, terms);
    if (d.beta == 1.0) return add_term(distill::ReverseKl{}, c, terms);
    const double k = 1.0 / (d.beta * (1.0 - d.beta));
    const Eigen::ArrayXd weights = k * c.weights;
    const Options o = term_options(c.options, c.keep, weights);
    const double value =
        terms.add([&](const Outputs<Scalar>& out) { return generalized_js(c.teacher, c.student, d.beta, o, out); },
                  [k](Index) { return k; });
    return value;
}
template <class Context, class Scalar>
double add_term(const distill::AlphaBeta& d, const Context& c, DistillationTerms<Scalar>& terms)
{
    const Options o = term_options(c.options, c.keep, c.weights);
    return terms.add(
        [&](const Outputs<Scalar>& out) { return alpha_beta_divergence(c.teacher, c.student, d.alpha, d.beta, o, out); },
        unit_row);
}
template <class Generator, class Context, class Scalar>
double add_term(const distill::FDivergence<Generator>& d, const Context& c, DistillationTerms<Scalar>& terms)
{
    const Options o = term_options(c.options, c.keep, c.weights);
    return terms.add([&](const Outputs<Scalar>& out) { return divergence::f_divergence(c.teacher, c.student, d.generator, o, out); },
                     unit_row);
}
template <class Context, class Scalar>
double add_term(const distill::TokenWise& d, const Context& c, DistillationTerms<Scalar>& terms)
{
    const Options o = term_options(c.options, c.keep, c.weights);
    return terms.add([&](const Outputs<Scalar>& out) { return token_wise_kl(c.teacher, c.student, d.beta, o, out); },
                     unit_row);
}

/// The per-row weights (a_r, b_r) of a balanced divergence: the caller's, checked, or the entropy rule's.
template <class Context>
void balance_weights(const distill::Balanced& d, const Context& c, Eigen::ArrayXd& a, Eigen::ArrayXd& b)
{
    const Index rows = c.rows;
    a.resize(rows);
    b.resize(rows);
    if (d.forward.active() != d.reverse.active()) {
        fail(c.function, d.forward.active() ? "reverse" : "forward",
             "give both per-row weights (forward and reverse), or neither for the entropy rule");
    }
    if (d.forward.active()) {
        const auto read = [&](const RowWeights& w, const char* name, Eigen::ArrayXd& into) {
            if (w.size != rows) fail(c.function, name, "has " + std::to_string(w.size) + " entries for " + std::to_string(rows) + " rows");
            for (Index r = 0; r < rows; ++r) {
                into(r) = w.at(r);
                if (!(std::isfinite(into(r)) && into(r) >= 0.0)) fail(c.function, name, r, -1, describe("weight must be finite and >= 0, got", into(r)));
            }
        };
        read(d.forward, "forward", a);
        read(d.reverse, "reverse", b);
        return;
    }
    if (!(std::isfinite(d.emphasis) && d.emphasis >= 0.0)) {
        fail(c.function, "emphasis", describe("must be finite and >= 0, got", d.emphasis));
    }
    Options o;
    o.reduction = Reduction::none;
    o.validation = c.options.validation;
    o.tolerance = c.options.tolerance;
    o.mask = c.keep;
    const auto teacher_entropy = entropy_rows(c.teacher, o);
    const auto student_entropy = entropy_rows(c.student, o);
    for (Index r = 0; r < rows; ++r) {
        const bool student_less_confident = double(student_entropy(r)) > double(teacher_entropy(r));
        a(r) = student_less_confident ? 1.0 : d.emphasis;
        b(r) = student_less_confident ? d.emphasis : 1.0;
    }
}

template <class Context, class Scalar>
double add_term(const distill::Balanced& d, const Context& c, DistillationTerms<Scalar>& terms)
{
    Eigen::ArrayXd a, b;
    balance_weights(d, c, a, b);
    const Eigen::ArrayXd forward_weights = a * c.weights, reverse_weights = b * c.weights;
    const Options forward = term_options(c.options, c.keep, forward_weights);
    const Options reverse = term_options(c.options, c.keep, reverse_weights);
    double value = terms.add([&](const Outputs<Scalar>& out) { return kl(c.teacher, c.student, forward, out); },
                             [&](Index r) { return a(r); });
    value += terms.add([&](const Outputs<Scalar>& out) { return reverse_kl(c.teacher, c.student, reverse, out); },
                       [&](Index r) { return b(r); });
    return value;
}

/// Gradients no term wrote (every weight 0) are 0.
template <class Scalar>
void zero_unwritten(const Outputs<Scalar>& out, bool divergence_term, bool cross_entropy_term)
{
    const auto zero = [](const MatrixView<Scalar>& g) {
        for (Index r = 0; r < g.rows; ++r)
            for (Index c = 0; c < g.cols; ++c) g(r, c) = Scalar(0);
    };
    if (out.grad_p.requested() && !divergence_term) zero(out.grad_p.view);
    if (out.grad_q.requested() && !divergence_term && !cross_entropy_term) zero(out.grad_q.view);
}

/// The labels of a call without labels.
struct NoLabels {};

template <class Teacher, class Student, class Divergence, class LabelsType, class Scalar>
DistillationValue<Scalar> distillation(const char* function, const Teacher& teacher, const Student& student,
                                       const LabelsType& target, const Divergence& divergence,
                                       const DistillationOptions& options, const Outputs<Scalar>& out)
{
    constexpr bool has_labels = !std::is_same_v<LabelsType, NoLabels>;
    const double t = options.temperature;
    if (!(std::isfinite(t) && t > 0.0)) fail(function, "options.temperature", describe("must be finite and > 0, got", t));
    if (!(std::isfinite(options.kd_weight) && options.kd_weight >= 0.0)) {
        fail(function, "options.kd_weight", describe("must be finite and >= 0, got", options.kd_weight));
    }
    if (!(std::isfinite(options.ce_weight) && options.ce_weight >= 0.0)) {
        fail(function, "options.ce_weight", describe("must be finite and >= 0, got", options.ce_weight));
    }
    if (!has_labels && options.ce_weight > 0.0) {
        fail(function, "options.ce_weight", "a cross-entropy term needs labels: call distillation_loss(teacher, student, labels(y), ...)");
    }
    check_scalar_reduction(function, options);
    const auto student_argument = logits(student, t);
    const Index rows = student_argument.rows();
    if (options.mask.active() && options.mask.size != rows) {
        fail(function, "options.mask", "has " + std::to_string(options.mask.size) + " entries for " + std::to_string(rows) + " rows");
    }
    const RowSelection user(function, options, rows);  // checks the caller's weights
    if (out.row_values.requested() && out.row_values.size != rows) {
        fail(function, "row_values", "has " + std::to_string(out.row_values.size) + " entries for " + std::to_string(rows) + " rows");
    }

    // The rows of the distillation term: the mask's, without the ignored labels when asked.
    Eigen::Array<bool, Eigen::Dynamic, 1> keep(rows);
    for (Index r = 0; r < rows; ++r) keep(r) = options.mask.keeps(r);
    if constexpr (has_labels) {
        if (target.indices.cols != rows) {
            fail(function, "labels", "has " + std::to_string(target.indices.cols) + " entries for " + std::to_string(rows) + " rows");
        }
        for (Index r = 0; r < rows; ++r) {
            const long long y = static_cast<long long>(target.indices(0, r));
            if (y == target.ignore_index) {
                if (options.ignored_labels_drop_rows) keep(r) = false;
            } else if (keep(r) && !(y >= 0 && y < static_cast<long long>(student_argument.cols()))) {
                fail(function, "labels", r, -1,
                     "label out of [0, V = " + std::to_string(student_argument.cols()) + ") and not ignore_index (" +
                         std::to_string(target.ignore_index) + "), got " + std::to_string(y));
            }
        }
    }

    DistillationTerms<Scalar> terms(out, rows);
    DistillationValue<Scalar> value;
    double loss = 0.0;
    const double kd_scale = options.kd_weight * (options.scaling == TemperatureScaling::squared ? t * t : 1.0);
    if (kd_scale > 0.0) {
        Eigen::ArrayXd weights(rows);
        for (Index r = 0; r < rows; ++r) weights(r) = kd_scale * user.weight(r);
        const auto& teacher_argument_ = teacher_argument(teacher, t);
        using Context = DistillationContext<std::decay_t<decltype(teacher_argument_)>, std::decay_t<decltype(student_argument)>>;
        const Context context{function, teacher_argument_, student_argument, options, keep, weights, rows};
        const double kd = add_term(divergence, context, terms);
        loss += kd;
        value.divergence = Scalar(kd / kd_scale);
    }
    if constexpr (has_labels) {
        if (options.ce_weight > 0.0) {
            Eigen::ArrayXd weights(rows);
            for (Index r = 0; r < rows; ++r) weights(r) = options.ce_weight * user.weight(r);
            Eigen::Array<bool, Eigen::Dynamic, 1> mask(rows);
            for (Index r = 0; r < rows; ++r) mask(r) = options.mask.keeps(r);
            const Options o = term_options(options, mask, weights);
            const auto model = logits(student, 1.0);  // hard labels against the unsoftened student
            const double ce = terms.add([&](const Outputs<Scalar>& o_out) { return cross_entropy(target, model, o, o_out); },
                                        [](Index) { return 0.0; }, false);
            loss += ce;
            value.cross_entropy = Scalar(ce / options.ce_weight);
        }
    }
    if (out.row_values.requested()) {
        for (Index r = 0; r < rows; ++r) out.row_values[r] = Scalar(terms.row(r));
    }
    zero_unwritten(out, kd_scale > 0.0, has_labels && options.ce_weight > 0.0);
    value.loss = Scalar(loss);
    return value;
}

template <class Teacher, class Student>
using distillation_scalar_t = typename std::decay_t<decltype(logits(std::declval<const Student&>()))>::Scalar;

}  // namespace detail

/// A knowledge-distillation loss over a batch of rows (tokens or samples) in one call:
///   loss = kd_weight * s * R_r[w_r D(P_r, Q_r)] + ce_weight * R_r[w_r CE(y_r, Q^(1)_r)],
/// with P_r = softmax(teacher_r / T) (or a top-k teacher as given), Q_r = softmax(student_r / T),
/// s = T^2 (TemperatureScaling::squared) or 1, D the divergence chosen (namespace distill), w_r the
/// caller's row weights, R the reduction over the rows that count (sum, batchmean, or mean over
/// them), and CE the cross-entropy of labels(y, eps, ignore_index) against the student at T = 1
/// (Q^(1) = softmax(student)). The distillation term drops masked rows and, unless
/// ignored_labels_drop_rows is false, rows whose label is ignore_index; the cross-entropy term drops
/// both, and `mean` divides each term by its own number of rows.
/// Outputs: row_values (B) = D(P_r, Q_r) (unscaled, unweighted; 0 where dropped), grad_q = d loss /
/// d student logits, grad_p = d loss / d teacher logits (online distillation; dense teachers only),
/// both including 1/T, s, the weights and the reduction. A second term that writes a gradient (the
/// cross-entropy, or the balanced divergence's reverse KL) uses one scratch matrix of the gradient's
/// shape, allocated per call.
/// \throws std::invalid_argument if the temperature is not finite and > 0, a weight is negative or
/// not finite (kd_weight, ce_weight, options.weights, Balanced weights, emphasis), ce_weight > 0
/// without labels, the labels' count differs from the rows, a label that counts is out of [0, V),
/// beta is outside [0, 1] (GkdJsd, ContinuousJsd) or < 0 (TokenWise), Reduction::none, and on the
/// errors of the terms' functions (shapes, entries, outputs).
template <class Teacher, class Student, class Divergence,
          class Scalar = detail::distillation_scalar_t<Teacher, Student>>
DistillationValue<Scalar> distillation_loss(const Teacher& teacher, const Student& student, const Divergence& divergence,
                                            const DistillationOptions& options = {}, const Outputs<Scalar>& out = {})
{
    return detail::distillation("distillation_loss", teacher, student, detail::NoLabels{}, divergence, options, out);
}

/// distillation_loss with hard labels (labels(y, eps, ignore_index)): the cross-entropy term with
/// options.ce_weight, and rows whose label is ignore_index dropped (see DistillationOptions).
template <class Teacher, class Student, class IndexScalar, class Divergence,
          class Scalar = detail::distillation_scalar_t<Teacher, Student>>
DistillationValue<Scalar> distillation_loss(const Teacher& teacher, const Student& student, const Labels<IndexScalar>& target,
                                            const Divergence& divergence, const DistillationOptions& options = {},
                                            const Outputs<Scalar>& out = {})
{
    return detail::distillation("distillation_loss", teacher, student, target, divergence, options, out);
}

}  // namespace divergence

#endif
