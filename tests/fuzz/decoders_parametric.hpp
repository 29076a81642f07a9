// Decoders of parametric/: the Gaussian closed forms (kl, jeffreys, geometric_jensen_shannon,
// cauchy_schwarz in every CovarianceForm), kl_diagonal(_log)(_rows), the family KLs (kl,
// kl_gradient, kl_rows of every family), the cross-family KLs, the Gaussian-mixture CS divergence,
// bregman_kl(_gradient), the M- and I-projections and match_moments.

#ifndef DIVERGENCE_FUZZ_DECODERS_PARAMETRIC_HPP
#define DIVERGENCE_FUZZ_DECODERS_PARAMETRIC_HPP

#include "fuzz_common.hpp"

namespace fuzz {

namespace pm = divergence::parametric;

/// One Gaussian of dimension d: form (byte % 4), mean, covariance (full: A A^T + 0.1 I, raw when
/// byte % 8 == 0; cholesky: lower triangle with |diagonal|, raw likewise; diagonal: |v|, raw;
/// isotropic: one variance), built inside the call (the builders check too).
template <class S>
struct DecodedGaussian {
    pm::CovarianceForm form = pm::CovarianceForm::full;
    Eigen::Matrix<S, Eigen::Dynamic, 1> mean;
    Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic> covariance;

    void decode(Reader& r, Index d, Call& call, const char* name)
    {
        form = pm::CovarianceForm(r.pick(4));
        const bool raw = r.pick(8) == 0;
        const auto s = r.spread();
        mean = r.vector<S>(d + (r.pick(16) == 0), s.first, s.second);
        const auto c = r.spread();
        const RowMatrix<S> a = r.matrix<S>(d, d, c.first == 0.0 ? 1.0 : c.first, c.second);
        switch (form) {
        case pm::CovarianceForm::full:
            covariance = raw ? Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>(a)
                             : Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>(a * a.transpose() + S(0.1) * RowMatrix<S>::Identity(d, d));
            break;
        case pm::CovarianceForm::cholesky:
            covariance = a;
            if (!raw) {
                covariance = covariance.template triangularView<Eigen::Lower>();
                for (Index i = 0; i < d; ++i) covariance(i, i) = std::abs(covariance(i, i)) + S(0.01);
            }
            break;
        case pm::CovarianceForm::diagonal:
            if (d == 0) covariance.resize(0, 1);
            else covariance = a.col(0);
            if (!raw) covariance = covariance.cwiseAbs();
            break;
        default:
            covariance.resize(1, 1);
            covariance(0, 0) = d > 0 ? (raw ? a(0, 0) : std::abs(a(0, 0))) : S(1);
        }
        call << " " << name << " form " << int(form);
        call.show_matrix((std::string(name) + ".mean").c_str(), mean.transpose()).show_matrix((std::string(name) + ".covariance").c_str(), covariance);
    }
    pm::Gaussian<S> make() const
    {
        switch (form) {
        case pm::CovarianceForm::full: return pm::gaussian_full(mean, covariance);
        case pm::CovarianceForm::cholesky: return pm::gaussian_cholesky(mean, covariance);
        case pm::CovarianceForm::diagonal: return pm::gaussian_diagonal(mean, covariance.col(0));
        default: return pm::gaussian_isotropic(mean, covariance(0, 0));
        }
    }
};

/// The Gaussian divergences and the mixture CS: S, which (byte % 5: kl, jeffreys, geometric JS,
/// cauchy_schwarz, mixtures), d (byte % 4), p, q (mixtures: M, K = byte % 3 + 1 components and the
/// weights), alpha, gradients (byte % 4: none, p, q, both).
template <class S>
void fuzz_gaussians(Reader& r)
{
    const int which = r.pick(5);
    const Index d = r.pick(4);
    const char* names[] = {"parametric::kl", "parametric::jeffreys", "parametric::geometric_jensen_shannon", "parametric::cauchy_schwarz",
                           "parametric::cauchy_schwarz (mixtures)"};
    Call call(std::string(names[which]) + (std::is_same_v<S, float> ? " float" : " double"),
              {"parametric::kl", "parametric::jeffreys", "parametric::geometric_jensen_shannon", "parametric::cauchy_schwarz",
               "parametric::gaussian_full", "parametric::gaussian_cholesky", "parametric::gaussian_diagonal",
               "parametric::gaussian_isotropic", "parametric::gaussian_mixture"});
    const double alpha = r.one_of({0.5, 0.0, 1.0, 0.25, -0.5, 1.5});
    const int gradients = r.pick(4);
    call << " d " << d << " alpha " << alpha << " gradients " << gradients;
    if (which == 4) {
        const auto mixture = [&](const char* name, std::vector<DecodedGaussian<S>>& parts, Eigen::Matrix<S, Eigen::Dynamic, 1>& w) {
            parts.resize(std::size_t(r.pick(3) + 1));
            for (auto& g : parts) g.decode(r, d, call, name);
            w = r.weights<S>(Index(parts.size()) + (r.pick(16) == 0));
            if (r.pick(4) != 0 && w.sum() > S(0)) w /= w.sum();
            call.show_matrix((std::string(name) + ".weights").c_str(), w.transpose());
        };
        std::vector<DecodedGaussian<S>> pp, qq;
        Eigen::Matrix<S, Eigen::Dynamic, 1> wp, wq;
        mixture("p", pp, wp);
        mixture("q", qq, wq);
        call.run([&] {
            std::vector<pm::Gaussian<S>> cp, cq;
            for (const auto& g : pp) cp.push_back(g.make());
            for (const auto& g : qq) cq.push_back(g.make());
            const auto p = pm::gaussian_mixture(wp, cp);
            const auto q = pm::gaussian_mixture(wq, cq);
            pm::GaussianMixtureGradient<S> gp, gq;
            const double v = double(pm::cauchy_schwarz(p, q, gradients & 1 ? &gp : nullptr, gradients & 2 ? &gq : nullptr));
            call.value("value", v);
            for (const auto* g : {&gp, &gq}) {
                call.values("weights gradient", g->weights);
                call.values("logits gradient", g->logits);
                for (const auto& c : g->components) {
                    call.values("component mean gradient", c.mean);
                    call.values("component covariance gradient", c.covariance);
                }
            }
        });
        return;
    }
    DecodedGaussian<S> dp, dq;
    dp.decode(r, d, call, "p");
    dq.decode(r, d, call, "q");
    call.run([&] {
        const pm::Gaussian<S> p = dp.make(), q = dq.make();
        pm::GaussianGradient<S> gp, gq;
        pm::GaussianGradient<S>* a = gradients & 1 ? &gp : nullptr;
        pm::GaussianGradient<S>* b = gradients & 2 ? &gq : nullptr;
        double v = 0.0;
        if (which == 0) v = double(pm::kl(p, q, a, b));
        else if (which == 1) v = double(pm::jeffreys(p, q, a, b));
        else if (which == 2) v = double(pm::geometric_jensen_shannon(p, q, alpha, a, b));
        else v = double(pm::cauchy_schwarz(p, q, a, b));
        call.at_least("value", v, 0.0);
        double delta = 0.0;
        for (Index i = 0; i < std::min(dp.mean.size(), dq.mean.size()); ++i)
            delta = std::max(delta, std::abs(double(dp.mean(i)) - double(dq.mean(i))));
        double largest = 0.0, smallest = inf;
        for (const auto* g : {&dp, &dq})
            for (Index i = 0; i < g->covariance.size(); ++i) {
                const double c = std::abs(double(g->covariance.data()[i]));
                largest = std::max(largest, c);
                if (c > 0.0) smallest = std::min(smallest, c);
            }
        const bool extreme = !(delta < 1e150) || !(largest < 1e150) || !(smallest > 1e-150);
        if (which == 2 && extreme && known_defect(Defect::geometric_js_gradient_nan_when_delta_overflows)) return;
        // delta / L_ii (L_ii the smallest factor entry, or the root of the smallest variance) near DBL_MAX
        const bool solve_overflows = !(delta / std::min(smallest, std::sqrt(smallest)) < 1e300);
        if (which <= 1 && solve_overflows && known_defect(Defect::gaussian_kl_covariance_gradient_nan_when_solve_overflows)) return;
        call.values("grad_p.mean", gp.mean);
        call.values("grad_p.covariance", gp.covariance);
        call.values("grad_q.mean", gq.mean);
        call.values("grad_q.covariance", gq.covariance);
    });
}

/// kl_diagonal, kl_diagonal_log and their _rows: S, which (byte % 4), B (byte % 5), d (byte % 4),
/// means and (log-)variances (|.| unless byte % 8 == 0), options, outputs (byte % 3 each).
template <class S>
void fuzz_kl_diagonal(Reader& r)
{
    const int which = r.pick(4);
    const Index rows = r.pick(5), d = r.pick(4);
    const char* names[] = {"parametric::kl_diagonal", "parametric::kl_diagonal_log", "parametric::kl_diagonal_rows",
                           "parametric::kl_diagonal_log_rows"};
    Call call(std::string(names[which]) + (std::is_same_v<S, float> ? " float" : " double"), {names[which]});
    const bool log_form = which % 2 == 1, raw = r.pick(8) == 0;
    const RowMatrix<S> mp = r.matrix<S>(rows, d), mq = r.matrix<S>(rows, d + (r.pick(16) == 0));
    RowMatrix<S> vp = r.matrix<S>(rows, d), vq = r.matrix<S>(rows, d);
    if (!log_form && !raw) {
        vp = vp.cwiseAbs();
        vq = vq.cwiseAbs();
    }
    call.show_matrix("mean_p", mp).show_matrix("variances_p", vp).show_matrix("mean_q", mq).show_matrix("variances_q", vq);
    RowOptions o;
    o.decode(r, rows, call);
    pm::DiagonalGaussianOutputs<S> out;
    Eigen::Matrix<S, Eigen::Dynamic, 1> values;
    RowMatrix<S> g[4];
    if (const int k = r.pick(3)) out.row_values = (values = Eigen::Matrix<S, Eigen::Dynamic, 1>::Constant(rows + (k == 2), S(nan_value)));
    divergence::MatrixOut<S>* outs[4] = {&out.grad_mean_p, &out.grad_variance_p, &out.grad_mean_q, &out.grad_variance_q};
    for (int i = 0; i < 4; ++i)
        if (const int k = r.pick(3)) *outs[i] = (g[i] = RowMatrix<S>::Constant(rows, d + (k == 2), S(nan_value)));
    double value = 0.0;
    divergence::RowValues<S> returned;
    const bool ok = call.run([&] {
        if (which == 0) value = double(pm::kl_diagonal(mp, vp, mq, vq, o.options, out));
        else if (which == 1) value = double(pm::kl_diagonal_log(mp, vp, mq, vq, o.options, out));
        else if (which == 2) returned = pm::kl_diagonal_rows(mp, vp, mq, vq, o.options, out);
        else returned = pm::kl_diagonal_log_rows(mp, vp, mq, vq, o.options, out);
    });
    if (!ok || !o.full()) return;
    call.value("value", value);
    call.values("returned row values", returned);
    call.values("row_values", values);
    for (int i = 0; i < 4; ++i) call.values("gradient", g[i]);
}

/// Whether a parameter decoded since the last reset is nonzero below 1e-150 or above 1e150 in magnitude
/// (the known defect family_kl_nan_at_extreme_parameters).
inline bool g_extreme_parameter = false;

/// A parameter from the bytes: usual values, the domain edges and beyond, or any().
inline double family_parameter(Reader& r)
{
    const double x = r.one_of({1.0, 0.5, 2.0, 0.0, 3.0, 10.0, 50.0, 1e-300, 1e300, -1.0, 0.999999, 1e-8, 20.0, 1.0 - 1e-16, 1e6});
    if ((x != 0.0 && std::abs(x) < 1e-150) || std::abs(x) > 1e150) g_extreme_parameter = true;
    return x;
}

template <class F>
F decode_family(Reader& r, Call& call, const char* name)
{
    constexpr int count = pm::detail::Parameters<F>::count;
    const Index k = count < 0 ? Index(r.pick(4)) : Index(count);
    std::vector<double> v(std::size_t(std::max<Index>(k, 1)));
    for (Index i = 0; i < k; ++i) v[std::size_t(i)] = family_parameter(r);
    if constexpr (std::is_same_v<F, pm::Binomial>) v[0] = r.one_of({1.0, 3.0, 10.0, 0.0, 2.5, 50.0, 1e6});
    call << " " << name << " {";
    for (Index i = 0; i < k; ++i) call << (i ? ", " : "") << v[std::size_t(i)];
    call << "}";
    return pm::detail::Parameters<F>::make(v.data(), k);
}

/// Calls f(Family{}) for family number `index` (families.hpp's order).
template <class F>
void with_family(int index, F&& f)
{
    switch (index) {
    case 0: return f(pm::Bernoulli{});
    case 1: return f(pm::BernoulliLogit{});
    case 2: return f(pm::Binomial{});
    case 3: return f(pm::Poisson{});
    case 4: return f(pm::Geometric{});
    case 5: return f(pm::Exponential{});
    case 6: return f(pm::Gamma{});
    case 7: return f(pm::Beta{});
    case 8: return f(pm::Dirichlet{});
    case 9: return f(pm::Normal{});
    case 10: return f(pm::LogNormal{});
    case 11: return f(pm::Laplace{});
    default: return f(pm::Uniform{});
    }
}

/// The family KLs: which (byte % 3: kl and kl_gradient of one pair, kl_rows), P (byte % 13), Q (byte % 13;
/// a pair without a KL falls back to P's own), parameters; kl_rows: B (byte % 4) rows of p, 1 or B of q.
inline void fuzz_family_kl(Reader& r)
{
    const int which = r.pick(3);
    const int ip = r.pick(13), iq = r.pick(13);
    g_extreme_parameter = false;
    Call call(which < 2 ? "parametric::kl / kl_gradient (families)" : "parametric::kl_rows",
              {"parametric::kl", "parametric::kl_gradient", "parametric::kl_rows"});
    with_family(ip, [&](auto p0) {
        using P = decltype(p0);
        with_family(iq, [&](auto q0) {
            using Q0 = decltype(q0);
            using Q = std::conditional_t<pm::detail::has_kl<P, Q0>::value, Q0, P>;
            call << " families " << ip << " " << (pm::detail::has_kl<P, Q0>::value ? iq : ip);
            if (which < 2) {
                const P p = decode_family<P>(r, call, "p");
                const Q q = decode_family<Q>(r, call, "q");
                call.run([&] {
                    if (g_extreme_parameter && known_defect(Defect::family_kl_nan_at_extreme_parameters)) {
                        (void)pm::kl(p, q);
                        (void)pm::kl_gradient(p, q);
                        return;
                    }
                    call.at_least("kl", pm::kl(p, q), 0.0);
                    const auto g = pm::kl_gradient(p, q);
                    call.at_least("kl_gradient value", g.value, 0.0);
                    std::vector<double> dp(8, 0.0), dq(8, 0.0);
                    if constexpr (pm::detail::Parameters<P>::count >= 0) pm::detail::Parameters<P>::write(g.first, dp.data());
                    if constexpr (pm::detail::Parameters<Q>::count >= 0) pm::detail::Parameters<Q>::write(g.second, dq.data());
                    call.values("d/dp", dp);
                    call.values("d/dq", dq);
                    if constexpr (std::is_same_v<P, pm::Dirichlet>) call.values("d/dp", g.first.concentration);
                    if constexpr (std::is_same_v<Q, pm::Dirichlet>) call.values("d/dq", g.second.concentration);
                });
                return;
            }
            const Index rows = r.pick(4), q_rows = r.flag() ? 1 : rows;
            constexpr int np = pm::detail::Parameters<P>::count, nq = pm::detail::Parameters<Q>::count;
            const Index k = r.pick(4);
            Eigen::ArrayXXd pa(rows, np < 0 ? k : np + (r.pick(16) == 0)), qa(q_rows, nq < 0 ? k : nq);
            for (Index i = 0; i < pa.size(); ++i) pa.data()[i] = family_parameter(r);
            for (Index i = 0; i < qa.size(); ++i) qa.data()[i] = family_parameter(r);
            if constexpr (std::is_same_v<P, pm::Binomial>)
                for (Index i = 0; i < rows; ++i) pa(i, 0) = r.one_of({1.0, 3.0, 10.0, 0.0, 2.5});
            if constexpr (std::is_same_v<Q, pm::Binomial>)
                for (Index i = 0; i < q_rows; ++i) qa(i, 0) = r.one_of({1.0, 3.0, 10.0, 0.0, 2.5});
            call.show_matrix("p", pa).show_matrix("q", qa);
            Eigen::ArrayXXd gp, gq;
            pm::RowGradients gradients;
            if (r.flag()) gradients.p = &gp;
            if (r.flag()) gradients.q = &gq;
            call.run([&] {
                const Eigen::ArrayXd v = pm::kl_rows<P, Q>(pa, qa, gradients);
                if (g_extreme_parameter && known_defect(Defect::family_kl_nan_at_extreme_parameters)) return;
                for (Index i = 0; i < v.size(); ++i) call.at_least("kl_rows", v(i), 0.0);
                call.values("gradients.p", gp);
                call.values("gradients.q", gq);
            });
        });
    });
}

/// bregman_kl / bregman_kl_gradient (byte % 2) in a natural family (byte % 9: Bernoulli, Binomial(n),
/// Categorical, Poisson, Geometric, Exponential, Gamma, Dirichlet, Normal), eta_p, eta_q (sizes from
/// the family, byte % 16 == 0: one more); match_moments (byte % 4 == 0) to eta_p's mean from eta_q.
inline void fuzz_bregman(Reader& r)
{
    namespace nat = pm::natural;
    const bool gradient = r.flag();
    const int family = r.pick(9);
    const bool match = r.pick(4) == 0;
    Call call(match ? "parametric::match_moments" : gradient ? "parametric::bregman_kl_gradient" : "parametric::bregman_kl",
              {"parametric::bregman_kl", "parametric::bregman_kl_gradient", "parametric::match_moments"});
    const Index sizes[] = {1, 1, Index(r.pick(4)), 1, 1, 1, 2, Index(r.pick(4)), 2};
    const Index size = sizes[family] + (r.pick(16) == 0);
    const auto s = r.spread();
    const Eigen::VectorXd eta_p = r.vector<double>(size, s.first, s.second), eta_q = r.vector<double>(size, s.first, s.second);
    const double trials = r.one_of({1.0, 5.0, 0.0, 2.5});
    call << " family " << family << " trials " << trials;
    call.show_matrix("eta_p", eta_p.transpose()).show_matrix("eta_q", eta_q.transpose());
    pm::ProjectionOptions po;
    po.max_iterations = r.pick(12);
    po.tolerance = r.one_of({1e-12, 1e-6, 0.0, -1.0});
    const auto go = [&](const auto& f) {
        if (match) {
            // The target is the family's mean at eta_p: bregman_kl checks eta_p first (a family's own
            // mean() takes only a valid eta; an empty one asserts in Eigen).
            (void)pm::bregman_kl(f, eta_p, eta_p);
            const Eigen::VectorXd target = f.mean(eta_p);
            const pm::MomentMatch mm = pm::match_moments(f, target, eta_q, po);
            if (mm.status == pm::ProjectionStatus::converged) call.values("eta", mm.eta);
            return;
        }
        if (gradient) {
            const pm::BregmanKlGradient g = pm::bregman_kl_gradient(f, eta_p, eta_q);
            call.value("value", g.value);
            call.values("d_p", g.d_p);
            call.values("d_q", g.d_q);
            call.values("d_mean_p", g.d_mean_p);
        } else {
            call.value("value", pm::bregman_kl(f, eta_p, eta_q));
        }
    };
    call.run([&] {
        switch (family) {
        case 0: return go(nat::BernoulliFamily{});
        case 1: return go(nat::BinomialFamily{trials});
        case 2: return go(nat::CategoricalFamily{});
        case 3: return go(nat::PoissonFamily{});
        case 4: return go(nat::GeometricFamily{});
        case 5: return go(nat::ExponentialFamily{});
        case 6: return go(nat::GammaFamily{});
        case 7: return go(nat::DirichletFamily{});
        default: return go(nat::NormalFamily{});
        }
    });
}

/// The projections: which (byte % 3: m_projection<F> of samples, m_projection_of<F>(p),
/// i_projection_onto_mean), the families, samples and weights (n byte % 6), p, target.
inline void fuzz_projection(Reader& r)
{
    const int which = r.pick(3);
    Call call(which == 0 ? "parametric::m_projection" : which == 1 ? "parametric::m_projection_of" : "parametric::i_projection_onto_mean",
              {"parametric::m_projection<Normal>", "parametric::m_projection<LogNormal>", "parametric::m_projection<Exponential>",
               "parametric::m_projection<Poisson>", "parametric::m_projection<Bernoulli>", "parametric::m_projection<Geometric>",
               "parametric::m_projection<Gamma>", "parametric::m_projection<Beta>", "parametric::m_projection_of",
               "parametric::i_projection_onto_mean"});
    pm::ProjectionOptions po;
    po.max_iterations = r.pick(4) == 0 ? r.pick(3) : 200;
    po.tolerance = r.one_of({1e-12, 1e-6, 0.0, -1.0});
    const auto check = [&](const auto& f) {
        using F = std::decay_t<decltype(f)>;
        std::vector<double> v(8, 0.0);
        if constexpr (pm::detail::Parameters<F>::count >= 0) pm::detail::Parameters<F>::write(f, v.data());
        call.values("projection", v);
    };
    if (which == 0) {
        const int family = r.pick(8);
        const Index n = r.pick(6);
        const auto s = r.spread();
        Eigen::ArrayXd samples = r.vector<double>(n, s.first, s.second).array();
        if (r.flag()) samples = samples.abs();
        if (r.flag()) samples = samples.round();
        Eigen::ArrayXd weights;
        if (r.flag()) weights = r.weights<double>(n + (r.pick(16) == 0)).array();
        call << " family " << family;
        call.show_matrix("samples", samples.transpose()).show_matrix("weights", weights.transpose());
        call.run([&] {
            switch (family) {
            case 0: return check(pm::m_projection<pm::Normal>(samples, weights, po));
            case 1: return check(pm::m_projection<pm::LogNormal>(samples, weights, po));
            case 2: return check(pm::m_projection<pm::Exponential>(samples, weights, po));
            case 3: return check(pm::m_projection<pm::Poisson>(samples, weights, po));
            case 4: return check(pm::m_projection<pm::Bernoulli>(samples, weights, po));
            case 5: return check(pm::m_projection<pm::Geometric>(samples, weights, po));
            case 6: return check(pm::m_projection<pm::Gamma>(samples, weights, po));
            default: return check(pm::m_projection<pm::Beta>(samples, weights, po));
            }
        });
        return;
    }
    if (which == 1) {
        const int onto = r.pick(4), from = r.pick(6);
        const int families[] = {5, 6, 7, 9, 11, 12};  // Exponential, Gamma, Beta, Normal, Laplace, Uniform
        call << " onto " << onto;
        with_family(families[from], [&](auto p0) {
            using P = decltype(p0);
            if constexpr (pm::detail::is_summarized<P>::value) {
            const P p = decode_family<P>(r, call, "p");
            call.run([&] {
                switch (onto) {
                case 0: return check(pm::m_projection_of<pm::Normal>(p, po));
                case 1: return check(pm::m_projection_of<pm::Exponential>(p, po));
                case 2: return check(pm::m_projection_of<pm::Gamma>(p, po));
                default: return check(pm::m_projection_of<pm::Beta>(p, po));
                }
            });
            }
        });
        return;
    }
    const int family = r.pick(8);
    const double target = family_parameter(r);
    call << " family " << family << " target " << target;
    if (family == 7) {  // a finite discrete p on the points `values`
        const Index n = r.pick(5);
        Eigen::VectorXd p = r.weights<double>(n);
        if (r.pick(4) != 0 && p.sum() > 0.0) p /= p.sum();
        const auto s = r.spread();
        const Eigen::VectorXd values = r.vector<double>(n + (r.pick(16) == 0), s.first, s.second);
        call.show_matrix("p", p.transpose()).show_matrix("values", values.transpose());
        call.run([&] {
            const pm::Tilt t = pm::i_projection_onto_mean(p, values, target, po);
            call.values("tilt", t.probabilities);
            call.value("lambda", t.lambda);
        });
        return;
    }
    const int families[] = {9, 3, 5, 6, 0, 2, 4};  // Normal, Poisson, Exponential, Gamma, Bernoulli, Binomial, Geometric
    with_family(families[family], [&](auto p0) {
        using P = decltype(p0);
        const P p = decode_family<P>(r, call, "p");
        if constexpr (std::is_same_v<P, pm::Normal> || std::is_same_v<P, pm::Poisson> || std::is_same_v<P, pm::Exponential> ||
                      std::is_same_v<P, pm::Gamma> || std::is_same_v<P, pm::Bernoulli> || std::is_same_v<P, pm::Binomial> ||
                      std::is_same_v<P, pm::Geometric>) {
            call.run([&] { check(pm::i_projection_onto_mean(p, target)); });
        }
    });
}

}  // namespace fuzz

#endif
