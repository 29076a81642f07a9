#ifndef DIVERGENCE_PARAMETRIC_CONTINUOUS_FAMILIES_HPP
#define DIVERGENCE_PARAMETRIC_CONTINUOUS_FAMILIES_HPP

// KL(p || q) in closed form between two members of one continuous family (Exponential, Gamma, Beta,
// Dirichlet, Normal, LogNormal, Laplace, Uniform), with gradients in the usual parameters.
// The values are sums of terms that are >= 0 or that do not cancel: phi(u) = e^u - 1 - u of a log
// ratio, and the log-gamma Bregman gap G(x, y) = ln Gamma(y) - ln Gamma(x) - (y - x) psi(x) >= 0
// (detail::log_gamma_gap, accurate for large and close parameters).
// The public entry points are parametric::kl, kl_gradient and kl_rows (parametric/family_kl.hpp).

#include <algorithm>
#include <cmath>

#include "divergence/parametric/detail/special.hpp"
#include "divergence/parametric/families.hpp"

namespace divergence::parametric::detail {

/// d trigamma(x) for d = a difference of parameters (0 when they are equal): with x below 1e-150,
/// trigamma(x) ~ 1/x^2 overflows (x = 1e-300 gave 0 * inf = NaN at equal parameters), so the recurrence
/// trigamma(x) = 1/x^2 + trigamma(x + 1) is applied as (d / x) / x + d trigamma(x + 1).
inline double times_trigamma(double d, double x)
{
    if (!(x < 1e-150)) return d * trigamma(x);
    return d / x / x + d * trigamma(x + 1.0);
}

/// Exponential (rates l1, l2): KL = ln(l1/l2) + l2/l1 - 1 = phi(ln(l2/l1)).
/// d/dl1 = (l1 - l2) / l1^2; d/dl2 = (l2 - l1) / (l1 l2), each divided twice, not by the product
/// (l1^2 underflows to 0 for l1 = 1e-300, where the quotient is finite or overflows to +-inf).
inline double kl_impl(const Exponential& x, const Exponential& y, KlGradient<Exponential, Exponential>* g)
{
    const double l1 = x.rate, l2 = y.rate;
    const double value = exp_minus_one_minus(log_quotient(l2, l1));
    if (g) {
        g->value = value;
        g->first.rate = (l1 - l2) / l1 / l1;
        g->second.rate = (l2 - l1) / l1 / l2;
    }
    return value;
}

/// Gamma (shape a, rate b): KL = G(a1, a2) + a1 phi(ln(b2/b1)) - (a2 - a1) ln(b2/b1)
///   (= (a1 - a2) psi(a1) - lnG(a1) + lnG(a2) + a2 ln(b1/b2) + a1 (b2 - b1)/b1);
/// for shapes >= 10, a1 (b2/b1) g(ln(m2/m1)) + [Stirling tail of G], m = a/b (no cancellation).
/// d/da1 = (a1 - a2) psi'(a1) + b2/b1 - 1;  d/da2 = psi(a2) - psi(a1) - ln(b2/b1);
/// d/db1 = (a2 b1 - a1 b2) / b1^2 = (a2 - a1 b2/b1) / b1;  d/db2 = a1/b1 - a2/b2.
/// (Tiny parameters: times_trigamma, and no b1^2, which underflows.)
inline double kl_impl(const Gamma& x, const Gamma& y, KlGradient<Gamma, Gamma>* g)
{
    const double a1 = x.shape, b1 = x.rate, a2 = y.shape, b2 = y.rate;
    const double l = log_quotient(b2, b1);
    double value;
    if (a1 >= 10.0 && a2 >= 10.0) {
        // x g(L) + a1 phi(l) - (a2 - a1) l = a1 r g(ln(m2 / m1)), r = b2/b1, m = a/b the means: >= 0 and
        // free of the cancellation between the shape and rate terms when the means are close.
        // u = L - l = ln((a2 b1) / (a1 b2)).
        const double big_l = log_quotient(a2, a1);
        const double u = log_quotient_of_ratios(big_l, l, a2, b1, a1, b2);
        value = scaled_x_log_x_gap(a2, a1 * (b2 / b1), u) + log_gamma_gap_tail(a1, a2, big_l);  // a1 r g(u), a2 = a1 r e^u
    } else {
        value = log_gamma_gap(a1, a2) + a1 * exp_minus_one_minus(l) - (a2 - a1) * l;
    }
    value = non_negative(value);
    if (g) {
        g->value = value;
        g->first = Gamma{times_trigamma(a1 - a2, a1) + std::expm1(l), (a2 - a1 * (b2 / b1)) / b1};
        g->second = Gamma{digamma(a2) - digamma(a1) - l, a1 / b1 - a2 / b2};
    }
    return value;
}

/// Dirichlet (concentrations a, b; a0 = sum a, b0 = sum b): KL = sum_k G(a_k, b_k) - G(a0, b0)
///   (= lnG(a0) - lnG(b0) - sum_k [lnG(a_k) - lnG(b_k)] + sum_k (a_k - b_k)(psi(a_k) - psi(a0))).
/// d/da_k = (a_k - b_k) psi'(a_k) - (a0 - b0) psi'(a0);  d/db_k = psi(b_k) - psi(b0) - psi(a_k) + psi(a0).
/// With every parameter >= 10 the leading Stirling terms are regrouped as b0 KL(b/b0 || a/a0) (a sum of
/// terms >= 0), which keeps relative accuracy when every concentration moves in proportion; otherwise the
/// gaps are summed (each to a few eps relative where b_k is within a factor 2 of a_k, log_gamma_gap). b0 - a0
/// is the sum of the steps b_k - a_k, so that one concentration moving alone by a tiny step keeps its digits.
inline double kl_impl(const Dirichlet& x, const Dirichlet& y, KlGradient<Dirichlet, Dirichlet>* g)
{
    const Eigen::VectorXd& a = x.concentration;
    const Eigen::VectorXd& b = y.concentration;
    const double a0 = a.sum(), b0 = b.sum();
    // b0 - a0 as the sum of the steps b_k - a_k, exact each where b_k is within a factor 2 of a_k (b0 - a0
    // would carry the rounding of both sums: eps b0 absolutely, all of a step of 1e-7 in one entry of 50).
    double step = 0.0;
    bool exact_steps = true;
    for (Index k = 0; k < a.size(); ++k) {
        exact_steps = exact_steps && within_factor_two(a[k], b[k]);
        step += b[k] - a[k];
    }
    const double l0 = exact_steps ? std::log1p(step / a0) : log_quotient(b0, a0);  // ln(b0 / a0)
    double value = 0.0;
    if (a.minCoeff() >= 10.0 && b.minCoeff() >= 10.0) {
        // The leading Stirling terms sum_k a_k g(L_k) - a0 g(L0) equal b0 KL(b/b0 || a/a0) =
        // sum_k [b_k ln(b_k a0 / (a_k b0)) - b_k + a_k b0/a0] (each >= 0): no cancellation between them.
        value = -log_gamma_gap_tail(a0, b0, l0);
        for (Index k = 0; k < a.size(); ++k) {
            const double lk = log_quotient(b[k], a[k]);
            value += scaled_x_log_x_gap(b[k], a[k] * (b0 / a0), log_quotient_of_ratios(lk, l0, b[k], a0, a[k], b0));
            value += log_gamma_gap_tail(a[k], b[k], lk);
        }
    } else {
        value = exact_steps ? -log_gamma_gap_step(a0, step) : -log_gamma_gap(a0, b0);
        for (Index k = 0; k < a.size(); ++k) value += log_gamma_gap(a[k], b[k]);
    }
    value = non_negative(value);
    if (g) {
        g->value = value;
        g->first.concentration.resize(a.size());
        g->second.concentration.resize(a.size());
        const double t0 = times_trigamma(a0 - b0, a0), s0 = digamma(a0) - digamma(b0);
        for (Index k = 0; k < a.size(); ++k) {
            g->first.concentration[k] = times_trigamma(a[k] - b[k], a[k]) - t0;
            g->second.concentration[k] = digamma(b[k]) - digamma(a[k]) + s0;
        }
    }
    return value;
}

/// Beta: the Dirichlet with K = 2, KL = G(a1, a2) + G(b1, b2) - G(a1 + b1, a2 + b2).
inline double kl_impl(const Beta& x, const Beta& y, KlGradient<Beta, Beta>* g)
{
    const Dirichlet dx{Eigen::Vector2d(x.alpha, x.beta)}, dy{Eigen::Vector2d(y.alpha, y.beta)};
    if (!g) return kl_impl(dx, dy, nullptr);
    KlGradient<Dirichlet, Dirichlet> d;
    const double value = kl_impl(dx, dy, &d);
    g->value = value;
    g->first = Beta{d.first.concentration[0], d.first.concentration[1]};
    g->second = Beta{d.second.concentration[0], d.second.concentration[1]};
    return value;
}

/// Normal (mean m, standard deviation s): KL = phi(2 ln(s1/s2)) / 2 + (m1 - m2)^2 / (2 s2^2).
/// d/dm1 = (m1 - m2)/s2^2 = -d/dm2;  d/ds1 = s1/s2^2 - 1/s1;  d/ds2 = 1/s2 - (s1^2 + (m1 - m2)^2)/s2^3.
inline double kl_normal(double m1, double s1, double m2, double s2, double* d)
{
    const double delta = m1 - m2, z = delta / s2, r = s1 / s2;
    const double value = 0.5 * exp_minus_one_minus(2.0 * log_quotient(s1, s2)) + 0.5 * z * z;
    if (d) {
        d[0] = z / s2;
        d[1] = (r - 1.0 / r) / s2;
        d[2] = -d[0];
        d[3] = (1.0 - r * r - z * z) / s2;
    }
    return value;
}
inline double kl_impl(const Normal& x, const Normal& y, KlGradient<Normal, Normal>* g)
{
    double d[4];
    const double value = kl_normal(x.mean, x.stddev, y.mean, y.stddev, g ? d : nullptr);
    if (g) *g = {value, Normal{d[0], d[1]}, Normal{d[2], d[3]}};
    return value;
}

/// LogNormal: the Normal formula on (mu, sigma) (KL is invariant under x -> ln x).
inline double kl_impl(const LogNormal& x, const LogNormal& y, KlGradient<LogNormal, LogNormal>* g)
{
    double d[4];
    const double value = kl_normal(x.mu, x.sigma, y.mu, y.sigma, g ? d : nullptr);
    if (g) *g = {value, LogNormal{d[0], d[1]}, LogNormal{d[2], d[3]}};
    return value;
}

/// Laplace (location m, scale b), any locations: with a = |m1 - m2|, r = b1/b2,
///   KL = ln(b2/b1) + a/b2 + r e^{-a/b1} - 1 = phi(ln r) + r phi(-a/b1)       (both terms >= 0).
/// With e = e^{-a/b1}, sg = sign(m1 - m2): d/dm1 = sg (1 - e)/b2 = -d/dm2 (0 at m1 = m2: no kink);
/// d/db1 = -1/b1 + e/b2 + a e/(b1 b2) (as (a/b1) e/b2: b1 b2 underflows for scales of 1e-300, and a = 0
/// then gave 0/0);  d/db2 = 1/b2 - a/b2^2 - b1 e/b2^2.
inline double kl_impl(const Laplace& x, const Laplace& y, KlGradient<Laplace, Laplace>* g)
{
    const double b1 = x.scale, b2 = y.scale, a = std::abs(x.location - y.location), r = b1 / b2;
    // r phi(-t), t = a/b1: as r expm1(-t) + a/b2 once t > 1 (no cancellation there; t may overflow to inf).
    const double t = a / b1;
    const double shift = r == infinity ? infinity : t > 1.0 ? r * std::expm1(-t) + a / b2 : r * exp_minus_one_minus(-t);
    const double value = exp_minus_one_minus(log_quotient(b1, b2)) + shift;
    if (g) {
        const double e = std::exp(-a / b1);
        const double sg = x.location > y.location ? 1.0 : x.location < y.location ? -1.0 : 0.0;
        const double dm = sg * -std::expm1(-a / b1) / b2;
        g->value = value;
        g->first = Laplace{dm, -1.0 / b1 + e / b2 + (a / b1) * e / b2};
        g->second = Laplace{-dm, (1.0 - a / b2 - r * e) / b2};
    }
    return value;
}

/// Uniform: KL = ln((b2 - a2)/(b1 - a1)) when [a1, b1] lies inside [a2, b2], +inf otherwise.
/// d/da1 = 1/(b1 - a1) = -d/db1;  d/da2 = -1/(b2 - a2) = -d/db2 (all 0 where the value is +inf).
inline double kl_impl(const Uniform& x, const Uniform& y, KlGradient<Uniform, Uniform>* g)
{
    const bool inside = y.low <= x.low && x.high <= y.high;
    const double w1 = x.high - x.low, w2 = y.high - y.low;
    // w2 - w1 = (b2 - b1) + (a1 - a2): two differences that are exact when the ends are close.
    const double grow = (y.high - x.high) + (x.low - y.low);
    const double value = !inside ? infinity : grow <= 0.5 * w1 ? std::log1p(grow / w1) : log_quotient(w2, w1);
    if (g) {
        g->value = value;
        g->first = inside ? Uniform{1.0 / w1, -1.0 / w1} : Uniform{0.0, 0.0};
        g->second = inside ? Uniform{-1.0 / w2, 1.0 / w2} : Uniform{0.0, 0.0};
    }
    return value;
}

}  // namespace divergence::parametric::detail

#endif
