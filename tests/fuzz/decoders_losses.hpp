// Decoders of losses/ (distillation_loss, alpha_beta_divergence, token_wise_kl, kl_penalty, the token
// losses, ModelComparison) and of the top-k teacher with every divergence of discrete/top_k.hpp.
// Byte layout: see each function (choices in the order read; fuzz_common.hpp's Reader).

#ifndef DIVERGENCE_FUZZ_DECODERS_LOSSES_HPP
#define DIVERGENCE_FUZZ_DECODERS_LOSSES_HPP

#include "fuzz_common.hpp"

namespace fuzz {

/// An input of a binary divergence: form (byte % 3: probs, log_probs, logits), temperature, values
/// (normalized rows unless byte % 4 == 0: raw entries).
template <class S>
struct FormInput {
    RowMatrix<S> x;
    int form = 2;
    double temperature = 1.0;

    void decode(Reader& r, Index rows, Index cols, const char* name, Call& call)
    {
        form = r.pick(3);
        temperature = r.pick(4) == 0 ? r.any() : 1.0 + r.pick(4);
        const bool raw = r.pick(4) == 0;
        x = r.matrix<S>(rows, cols);
        if (!raw && form != 2 && cols > 0) {
            for (Index i = 0; i < rows; ++i) {
                const double top = double(x.row(i).maxCoeff());
                const double sum = (x.row(i).template cast<double>().array() - top).exp().sum();
                for (Index j = 0; j < cols; ++j) {
                    const double l = double(x(i, j)) - top - std::log(sum);
                    x(i, j) = S(form == 0 ? std::exp(l) : l);
                }
            }
        }
        const char* forms[] = {"probs", "log_probs", "logits"};
        call << " " << name << " " << forms[form] << (form == 2 ? " T=" + show(temperature) : "") << (raw ? " raw" : "");
        call.show_matrix(name, x);
    }
    template <class F>
    decltype(auto) with(F&& f) const
    {
        if (form == 0) return f(divergence::probs(x));
        if (form == 1) return f(divergence::log_probs(x));
        return f(divergence::logits(x, temperature));
    }
};

/// Caller-owned outputs of a row loss: row_values (byte % 3: 1 of B, 2 of B + 1), grad_p, grad_q
/// (byte % 3: 1 the input's shape, 2 one column more).
template <class S>
struct RowOutputs {
    Eigen::Matrix<S, Eigen::Dynamic, 1> row_values;
    RowMatrix<S> grad_p, grad_q;
    divergence::Outputs<S> out;

    void decode(Reader& r, Index rows, Index p_cols, Index q_cols, bool with_p, Call& call)
    {
        const int kv = r.pick(3), kp = with_p ? r.pick(3) : 0, kq = r.pick(3);
        if (kv) out.row_values = (row_values = Eigen::Matrix<S, Eigen::Dynamic, 1>::Constant(rows + (kv == 2), S(nan_value)));
        if (kp) out.grad_p = (grad_p = RowMatrix<S>::Constant(rows, p_cols + (kp == 2), S(nan_value)));
        if (kq) out.grad_q = (grad_q = RowMatrix<S>::Constant(rows, q_cols + (kq == 2), S(nan_value)));
        call << " outputs " << kv << kp << kq;
    }
    void check(const Call& call) const
    {
        call.values("row_values", row_values);
        call.values("grad_p", grad_p);
        call.values("grad_q", grad_q);
    }
};

/// alpha_beta_divergence and token_wise_kl (and their _rows): S, B (byte % 5), V (byte % 7), p, q,
/// parameters, options, outputs, rows variant (byte % 2).
template <class S>
void fuzz_alpha_beta_or_token_wise(Reader& r, bool token_wise)
{
    const Index rows = r.pick(5), cols = r.pick(7);
    const double alpha = r.one_of({1.0, 0.0, 0.5, 2.0, -1.0, 1e-8, 1e8}), beta = r.one_of({0.0, 1.0, 0.5, -0.5, 3.0, 1e-12, -1e3});
    const bool rows_variant = r.flag();
    const char* name = token_wise ? "token_wise_kl" : "alpha_beta_divergence";
    Call call(std::string(name) + (rows_variant ? "_rows" : "") + (std::is_same_v<S, float> ? " float" : " double"),
              {name, token_wise ? "token_wise_kl_rows" : "alpha_beta_divergence_rows"});
    call << " alpha " << alpha << " beta " << beta;
    FormInput<S> p, q;
    p.decode(r, rows, cols, "p", call);
    q.decode(r, rows + (r.pick(16) == 0), cols, "q", call);
    RowOptions o;
    o.decode(r, rows, call);
    RowOutputs<S> out;
    out.decode(r, rows, cols, cols, true, call);
    double value = 0.0;
    divergence::RowValues<S> values;
    const bool returned = call.run([&] {
        p.with([&](const auto& pa) {
            return q.with([&](const auto& qa) {
                if (token_wise) {
                    if (rows_variant) values = divergence::token_wise_kl_rows(pa, qa, beta, o.options, out.out);
                    else value = double(divergence::token_wise_kl(pa, qa, beta, o.options, out.out));
                } else {
                    if (rows_variant) values = divergence::alpha_beta_divergence_rows(pa, qa, alpha, beta, o.options, out.out);
                    else value = double(divergence::alpha_beta_divergence(pa, qa, alpha, beta, o.options, out.out));
                }
                return 0;
            });
        });
    });
    if (!returned || !o.full()) return;
    call.value("value", value);
    call.values("returned row values", values);
    out.check(call);
}

/// labels(y, eps, ignore_index): B' = B (or B + 1 at byte % 16 == 0) labels, each byte % (V + 3) - 2
/// or (byte % 8 == 0) the ignore index; eps, ignore_index (byte % 4: -100, -1, 0, 7).
struct DecodedLabels {
    Eigen::VectorXi y;
    double smoothing = 0.0;
    long long ignore_index = -100;

    void decode(Reader& r, Index rows, Index cols, Call& call)
    {
        y.resize(rows + (r.pick(16) == 0));
        const long long ignores[] = {-100, -1, 0, 7};
        ignore_index = ignores[r.pick(4)];
        smoothing = r.pick(2) ? 0.0 : r.one_of({0.1, 1.0, 0.5, -0.1, 1.5});
        for (Index i = 0; i < y.size(); ++i) y(i) = r.pick(8) == 0 ? int(ignore_index) : r.pick(int(cols) + 3) - 2;
        call << " label_smoothing " << smoothing << " ignore_index " << ignore_index;
        call.show_matrix("labels", y.transpose());
    }
};

/// cross_entropy(labels, model), cross_entropy_rows, token_log_probs: S, B (byte % 5), V (byte % 7),
/// which (byte % 3), labels, the model (logits or log_probs; probs is refused), options, outputs.
template <class S>
void fuzz_token_losses(Reader& r)
{
    const Index rows = r.pick(5), cols = r.pick(7);
    const int which = r.pick(3);
    const char* names[] = {"cross_entropy", "cross_entropy_rows", "token_log_probs"};
    Call call(std::string(names[which]) + "(labels)" + (std::is_same_v<S, float> ? " float" : " double"),
              {"cross_entropy", "cross_entropy_rows", "token_log_probs"});
    DecodedLabels labels;
    labels.decode(r, rows, cols, call);
    FormInput<S> q;
    q.decode(r, rows, cols, "model", call);
    RowOptions o;
    o.decode(r, rows, call);
    RowOutputs<S> out;
    out.decode(r, rows, cols, cols, r.pick(8) == 0, call);
    double value = 0.0;
    divergence::RowValues<S> values;
    const bool returned = call.run([&] {
        const auto target = divergence::labels(labels.y, labels.smoothing, labels.ignore_index);
        q.with([&](const auto& qa) {
            if (which == 0) value = double(divergence::cross_entropy(target, qa, o.options, out.out));
            else if (which == 1) values = divergence::cross_entropy_rows(target, qa, o.options, out.out);
            else values = divergence::token_log_probs(target, qa, o.options, out.out);
            return 0;
        });
    });
    if (!returned || !o.full()) return;
    call.value("value", value);
    call.values("returned row values", values);
    out.check(call);
}

/// kl_penalty / kl_penalty_tokens (with or without old_logp): S, B (byte % 4), S (byte % 6), variant
/// (byte % 4), estimator (byte % 6), aggregation (byte % 3), clamps, mask (byte % 5: none, bool,
/// float, double, wrong shape), validation, logp, ref_logp, old_logp, outputs.
template <class S>
void fuzz_kl_penalty(Reader& r)
{
    using namespace divergence;
    const Index rows = r.pick(4), cols = r.pick(6);
    const int variant = r.pick(4);  // 0/1 kl_penalty without/with old_logp, 2/3 kl_penalty_tokens
    KlPenaltyOptions options;
    options.estimator = KlEstimator(r.pick(6));
    options.aggregation = Aggregation(r.pick(3));
    if (r.pick(3) == 0) options.delta_clamp = r.one_of({20.0, 1e-3, 0.0, -1.0});
    if (r.pick(3) == 0) options.value_clamp = r.one_of({10.0, 1e-3, 0.0, -1.0});
    const int mask_kind = r.pick(5);
    options.validation = validation_of(r);
    Call call(std::string(variant < 2 ? "kl_penalty" : "kl_penalty_tokens") + (variant % 2 ? "(old_logp)" : "") +
                  (std::is_same_v<S, float> ? " float" : " double"),
              {"kl_penalty", "kl_penalty_tokens"});
    call << " estimator " << int(options.estimator) << " aggregation " << int(options.aggregation) << " delta_clamp "
         << options.delta_clamp << " value_clamp " << options.value_clamp << " mask " << mask_kind
         << (options.validation == Validation::none ? " validation none" : "");
    const auto s = r.spread();
    const RowMatrix<S> logp = r.matrix<S>(rows, cols, s.first, s.second);
    const RowMatrix<S> ref = r.matrix<S>(rows, cols + (r.pick(16) == 0), s.first, s.second);
    const RowMatrix<S> old = r.matrix<S>(rows, cols, s.first, s.second);
    call.show_matrix("logp", logp).show_matrix("ref_logp", ref);
    if (variant % 2) call.show_matrix("old_logp", old);
    Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> bools;
    RowMatrix<float> floats;
    RowMatrix<double> doubles;
    if (mask_kind == 1 || mask_kind == 4) {
        bools.resize(rows, cols + (mask_kind == 4));
        for (Index i = 0; i < bools.size(); ++i) bools.data()[i] = r.flag();
        options.mask = bools;
    } else if (mask_kind == 2) {
        floats = r.matrix<float>(rows, cols);
        options.mask = floats;
        call.show_matrix("mask", floats);
    } else if (mask_kind == 3) {
        doubles = r.matrix<double>(rows, cols).cwiseAbs();
        options.mask = doubles;
        call.show_matrix("mask", doubles);
    }
    const int kt = r.pick(3), kg = r.pick(3);
    RowMatrix<S> token_values, grad;
    KlPenaltyOutputs<S> out;
    if (kt) out.token_values = (token_values = RowMatrix<S>::Constant(rows, cols + (kt == 2), S(nan_value)));
    if (kg) out.grad_logp = (grad = RowMatrix<S>::Constant(rows, cols + (kg == 2), S(nan_value)));
    RowMatrix<S> tokens;
    double value = 0.0;
    const bool returned = call.run([&] {
        if (variant == 0) value = double(kl_penalty(logp, ref, options, out));
        else if (variant == 1) value = double(kl_penalty(logp, ref, old, options, out));
        else if (variant == 2) tokens = kl_penalty_tokens(logp, ref, options, out.grad_logp);
        else tokens = kl_penalty_tokens(logp, ref, old, options, out.grad_logp);
    });
    if (!returned || options.validation == Validation::none) return;
    call.value("value", value);
    call.values("token values", tokens);
    if (variant < 2) call.values("out.token_values", token_values);  // kl_penalty_tokens returns them instead
    call.values("grad_logp", grad);
}

/// distillation_loss: S, B (byte % 5), V (byte % 7), teacher (byte % 4: 0 top-k, else dense logits),
/// divergence (byte % 8), generator (byte % 3: ForwardKl, AmariAlpha(a), TotalVariation), a, b, labels (byte % 2), DistillationOptions, outputs.
template <class S>
void fuzz_distillation(Reader& r)
{
    using namespace divergence;
    const Index rows = r.pick(5), cols = r.pick(7);
    const bool top_k_teacher = r.pick(4) == 0;
    const int kind = r.pick(8);
    const int generator = r.pick(3);
    const double a = r.one_of({0.5, 0.0, 1.0, 0.1, 2.0, -0.5}), b = r.one_of({0.0, 0.5, 1.0, 2.0, -1.0});
    const bool with_labels = r.flag();
    Call call(std::string("distillation_loss") + (std::is_same_v<S, float> ? " float" : " double"),
              {"distillation_loss", "kl", "reverse_kl", "generalized_js", "alpha_beta_divergence", "f_divergence", "token_wise_kl",
               "entropy", "entropy_rows", "cross_entropy"});
    const char* kinds[] = {"ForwardKl", "ReverseKl", "GkdJsd", "ContinuousJsd", "AlphaBeta", "FDivergence", "TokenWise", "Balanced"};
    call << " " << kinds[kind] << " a " << a << " b " << b << (kind == 5 ? " generator " + std::to_string(generator) : "")
         << (top_k_teacher ? " top-k teacher" : "");
    DistillationOptions options;
    options.temperature = r.pick(4) == 0 ? r.any() : 0.5 + r.pick(4);
    options.scaling = TemperatureScaling(r.pick(2));
    options.kd_weight = r.one_of({1.0, 0.0, 0.5, -1.0});
    options.ce_weight = r.one_of({0.0, 1.0, 0.5, -1.0});
    options.ignored_labels_drop_rows = r.flag();
    call << " T " << options.temperature << " scaling " << int(options.scaling) << " kd_weight " << options.kd_weight << " ce_weight "
         << options.ce_weight << " drop " << options.ignored_labels_drop_rows;
    RowOptions o;
    o.decode(r, rows, call);
    static_cast<Options&>(options) = o.options;
    const auto s = r.spread();
    const RowMatrix<S> teacher = r.matrix<S>(rows, cols, s.first, s.second);
    const RowMatrix<S> student = r.matrix<S>(rows, cols + (r.pick(16) == 0), s.first, s.second);
    call.show_matrix("teacher", teacher).show_matrix("student", student);
    // A top-k teacher: k = byte % (V + 1) columns, distinct (partial shuffle) or raw (byte % 4 == 0),
    // probabilities: the softmax of the teacher's row restricted to them (times byte % 2 ? 1 : 0.9).
    const Index k = top_k_teacher ? r.pick(int(cols) + 1) : 0;
    Eigen::Matrix<int, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> indices(rows, k);
    RowMatrix<S> top_values(rows, k);
    if (top_k_teacher) {
        const bool raw = r.pick(4) == 0;
        const double shrink = r.flag() ? 1.0 : 0.9;
        for (Index i = 0; i < rows; ++i) {
            std::vector<int> order(static_cast<std::size_t>(cols));
            for (Index c = 0; c < cols; ++c) order[std::size_t(c)] = int(c);
            for (Index j = 0; j < k; ++j) {
                const int pickj = r.pick(256);
                if (raw) {
                    indices(i, j) = pickj % (int(cols) + 4) - 2;
                } else {
                    std::swap(order[std::size_t(j)], order[std::size_t(j + pickj % (cols - j))]);
                    indices(i, j) = order[std::size_t(j)];
                }
            }
            double sum = 0.0;
            for (Index j = 0; j < k; ++j) sum += std::exp(double(teacher(i, std::max(0, std::min(int(cols) - 1, indices(i, j))))) / 10.0);
            for (Index j = 0; j < k; ++j)
                top_values(i, j) = S(shrink * std::exp(double(teacher(i, std::max(0, std::min(int(cols) - 1, indices(i, j))))) / 10.0) / sum);
        }
        call.show_matrix("indices", indices).show_matrix("top-k values", top_values);
    }
    DecodedLabels labels;
    if (with_labels) labels.decode(r, rows, cols, call);
    Eigen::VectorXd forward, reverse;
    distill::Balanced balanced;
    if (kind == 7 && r.flag()) {
        forward = r.weights<double>(rows);
        reverse = r.weights<double>(rows + (r.pick(16) == 0));
        balanced.forward = forward;
        balanced.reverse = reverse;
        call.show_matrix("forward", forward.transpose()).show_matrix("reverse", reverse.transpose());
    }
    balanced.emphasis = a * 4.0;
    RowOutputs<S> out;
    out.decode(r, rows, cols, student.cols(), !top_k_teacher, call);
    DistillationValue<S> value;
    bool called = false;  // false: a combination that does not compile (Balanced with a top-k teacher)
    const auto with_divergence = [&](const auto& f) {
        switch (kind) {
        case 0: return f(distill::ForwardKl{});
        case 1: return f(distill::ReverseKl{});
        case 2: return f(distill::GkdJsd{a});
        case 3: return f(distill::ContinuousJsd{a});
        case 4: return f(distill::AlphaBeta{a * 2.0, b});
        // Three generators only (a fused one, a parameterized one, a non-smooth one): the f-divergence engine
        // itself is fuzzed with every generator above, and each one here costs a distillation_loss instantiation.
        case 5:
            if (generator % 3 == 0) return f(distill::f_divergence(gen::ForwardKl{}));
            if (generator % 3 == 1) return f(distill::f_divergence(gen::AmariAlpha(a)));
            return f(distill::f_divergence(gen::TotalVariation{}));
        case 6: return f(distill::TokenWise{b});
        default: return f(balanced);
        }
    };
    const bool returned = call.run([&] {
        with_divergence([&](const auto& d) {
            // Balanced's entropy rule needs the teacher's entropy, which a top-k teacher has not: that
            // call does not compile (docs/distillation.md, "Teachers given as top-k rows").
            constexpr bool dense_only = std::is_same_v<std::decay_t<decltype(d)>, distill::Balanced>;
            const auto with_teacher = [&](const auto& t) {
                called = true;
                if (with_labels) value = distillation_loss(t, student, divergence::labels(labels.y, labels.smoothing, labels.ignore_index), d, options, out.out);
                else value = distillation_loss(t, student, d, options, out.out);
            };
            if constexpr (dense_only) {
                if (!top_k_teacher) with_teacher(teacher);
            } else {
                if (top_k_teacher) with_teacher(top_k(indices, probs(top_values)));
                else with_teacher(teacher);
            }
        });
    });
    if (!returned || !called || !o.full()) return;
    call.value("loss", double(value.loss));
    call.value("divergence", double(value.divergence));
    call.value("cross_entropy", double(value.cross_entropy));
    out.check(call);
}

/// ModelComparison: S, top_k (byte % 8 - 1), ignore_index, validation, batches (byte % 3 + 1) of
/// B (byte % 4) x V (byte % 6; byte % 8 == 0: another V) base and model (FormInput) with or without
/// next tokens; then merge into a second accumulator (byte % 2), serialize/deserialize (byte % 2),
/// summary() and table(). The statistics documented NaN where undefined (no tokens, fewer than 2)
/// are allowed to be NaN; the others, with tokens counted, must not be.
template <class S>
void fuzz_model_comparison(Reader& r)
{
    using namespace divergence;
    ComparisonOptions options;
    options.top_k = r.pick(8) - 1;
    options.ignore_index = r.flag() ? -100 : 0;
    options.validation = validation_of(r);
    const int batches = r.pick(3) + 1;
    Call call(std::string("ModelComparison") + (std::is_same_v<S, float> ? " float" : " double"),
              {"ModelComparison", "ModelComparison::add", "ModelComparison::merge", "ModelComparison::deserialize", "Percentiles::at"});
    call << " top_k " << options.top_k << " ignore_index " << options.ignore_index << " batches " << batches;
    const bool returned = call.run([&] {
        ModelComparison all(options), other(options);
        const Index cols = r.pick(6);
        for (int batch = 0; batch < batches; ++batch) {
            const Index rows = r.pick(4);
            const Index v = r.pick(8) == 0 ? Index(r.pick(6)) : cols;
            FormInput<S> base, model;
            base.decode(r, rows, v, "base", call);
            model.decode(r, rows, v + (r.pick(16) == 0), "model", call);
            const bool labelled = r.flag();
            DecodedLabels labels;
            if (labelled) labels.decode(r, rows, v, call);
            ModelComparison& into = batch % 2 && r.flag() ? other : all;
            base.with([&](const auto& pa) {
                return model.with([&](const auto& qa) {
                    if (labelled) into.add(pa, qa, labels.y);
                    else into.add(pa, qa);
                    return 0;
                });
            });
        }
        if (r.flag()) all.merge(other);
        if (r.flag()) all.merge(all);
        const ModelComparison copy = r.flag() ? ModelComparison::deserialize(all.serialize()) : all;
        const ComparisonSummary s = copy.summary();
        const std::string table = copy.table();
        if (table.empty()) call.fail("empty table()");
        if (options.validation == Validation::none || s.tokens == 0) return;
        call.value("kl", s.kl.value);
        call.value("kl percentile min", s.kl_percentiles.minimum);
        call.value("same_top", s.same_top.value);
        call.value("top_k_overlap", s.top_k_overlap.value);
        for (const double v : s.kl_percentiles.values) call.value("kl percentile", v);
        if (s.tokens >= 2) call.value("kl standard error", s.kl.standard_error);
        if (s.labelled_tokens > 0) {
            call.value("delta_p", s.delta_p.value);
            call.value("nll_base", s.nll_base.value);
            call.value("nll_model", s.nll_model.value);
        }
        (void)s.kl_percentiles.at(r.flag() ? 50.0 : 42.0);
    });
    (void)returned;
}

/// Every divergence of discrete/top_k.hpp with a top-k teacher: S, which (byte % 14), _rows (byte % 2),
/// B (byte % 4), V (byte % 7), k (byte % (V + 2)), values form (byte % 3: probs, log_probs, logits:
/// refused), values, index mode (byte % 4: 3 raw), indices, tail (byte % 2), the student (logits or
/// log_probs, byte % 4 == 0: probs, refused), generator and parameter, options, outputs.
template <class S>
void fuzz_top_k(Reader& r)
{
    using namespace divergence;
    const int which = r.pick(14);
    const bool rows_variant = r.flag();
    const Index rows = r.pick(4), cols = r.pick(7), k = r.pick(int(cols) + 2);
    const char* names[] = {"kl", "reverse_kl", "js", "js_distance", "cross_entropy", "squared_hellinger", "total_variation",
                           "pearson_chi_squared", "neyman_chi_squared", "jeffreys", "triangular", "generalized_js",
                           "f_divergence", "kl"};
    Call call(std::string(names[which]) + (rows_variant ? "_rows" : "") + "(top_k)" + (std::is_same_v<S, float> ? " float" : " double"),
              {names[which]});
    call.allow(std::string(names[which]) + "_rows");  // a _rows function names itself
    const int values_form = r.pick(3);
    const auto s = r.spread();
    RowMatrix<S> values = r.matrix<S>(rows, k, s.first, s.second);
    const bool normalize = r.pick(4) != 0;
    if (normalize && values_form != 2) {
        for (Index i = 0; i < rows; ++i) {
            double sum = 0.0;
            for (Index j = 0; j < k; ++j) sum += std::exp(double(values(i, j)) / 4.0);
            const double total = r.flag() ? 1.0 : 0.75;
            for (Index j = 0; j < k; ++j) {
                const double pj = total * std::exp(double(values(i, j)) / 4.0) / sum;
                values(i, j) = S(values_form == 0 ? pj : std::log(pj));
            }
        }
    }
    const int index_mode = r.pick(4);
    Eigen::Matrix<long long, Eigen::Dynamic, Eigen::Dynamic> indices(rows, k);  // column-major, 64-bit
    for (Index i = 0; i < rows; ++i) {
        std::vector<long long> order(static_cast<std::size_t>(cols));
        for (Index c = 0; c < cols; ++c) order[std::size_t(c)] = c;
        for (Index j = 0; j < k; ++j) {
            const int b = r.pick(256);
            if (index_mode == 3 || j >= cols) {
                indices(i, j) = b - 8;
            } else {
                std::swap(order[std::size_t(j)], order[std::size_t(j + b % (cols - j))]);
                indices(i, j) = order[std::size_t(j)];
            }
        }
    }
    const bool tail = r.pick(4) != 0;
    FormInput<S> student;
    student.decode(r, rows + (r.pick(16) == 0), cols, "student", call);
    if (student.form == 0 && r.pick(4) != 0) student.form = 2;
    const int generator = r.pick(19);
    const bool dual = r.flag();
    const double parameter = r.one_of({0.5, 0.0, 1.0, 0.25, 2.0, -1.0});
    RowOptions o;
    o.decode(r, rows, call);
    RowOutputs<S> out;
    out.decode(r, rows, k, cols, r.pick(8) == 0, call);
    call << " values form " << values_form << " index mode " << index_mode << " tail " << tail << " generator " << generator
         << (dual ? " dual" : "") << " parameter " << parameter;
    call.show_matrix("values", values).show_matrix("indices", indices);
    double value = 0.0;
    RowValues<S> row_values;
    const bool returned = call.run([&] {
        const auto go = [&](const auto& teacher) {
            student.with([&](const auto& q) {
                const auto one = [&](const auto& scalar_call, const auto& rows_call) {
                    if (rows_variant) row_values = rows_call();
                    else value = double(scalar_call());
                };
#define DIVERGENCE_FUZZ_TOP_K(name) \
    one([&] { return name(teacher, q, o.options, out.out); }, [&] { return name##_rows(teacher, q, o.options, out.out); })
                switch (which) {
                case 0: DIVERGENCE_FUZZ_TOP_K(kl); break;
                case 1: DIVERGENCE_FUZZ_TOP_K(reverse_kl); break;
                case 2: DIVERGENCE_FUZZ_TOP_K(js); break;
                case 3: DIVERGENCE_FUZZ_TOP_K(js_distance); break;
                case 4: DIVERGENCE_FUZZ_TOP_K(cross_entropy); break;
                case 5: DIVERGENCE_FUZZ_TOP_K(squared_hellinger); break;
                case 6: DIVERGENCE_FUZZ_TOP_K(total_variation); break;
                case 7: DIVERGENCE_FUZZ_TOP_K(pearson_chi_squared); break;
                case 8: DIVERGENCE_FUZZ_TOP_K(neyman_chi_squared); break;
                case 9: DIVERGENCE_FUZZ_TOP_K(jeffreys); break;
                case 10: DIVERGENCE_FUZZ_TOP_K(triangular); break;
                case 11:
                    one([&] { return generalized_js(teacher, q, parameter, o.options, out.out); },
                        [&] { return generalized_js_rows(teacher, q, parameter, o.options, out.out); });
                    break;
                case 12:
                    with_generator(generator, dual, parameter, [&](const auto& g) {
                        one([&] { return f_divergence(teacher, q, g, o.options, out.out); },
                            [&] { return f_divergence_rows(teacher, q, g, o.options, out.out); });
                    });
                    break;
                default: DIVERGENCE_FUZZ_TOP_K(kl); break;
#undef DIVERGENCE_FUZZ_TOP_K
                }
                return 0;
            });
        };
        if (values_form == 0) go(top_k(indices, probs(values), tail));
        else if (values_form == 1) go(top_k(indices, log_probs(values), tail));
        else go(top_k(indices, logits(values, 1.0), tail));
    });
    if (!returned || !o.full()) return;
    call.value("value", value);
    call.values("returned row values", row_values);
    out.check(call);
}

}  // namespace fuzz

#endif
