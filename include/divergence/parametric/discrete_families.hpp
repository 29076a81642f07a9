#ifndef DIVERGENCE_PARAMETRIC_DISCRETE_FAMILIES_HPP
#define DIVERGENCE_PARAMETRIC_DISCRETE_FAMILIES_HPP

// KL(p || q) in closed form between two members of one discrete family (Bernoulli, Binomial,
// Poisson, Geometric), with gradients in the usual parameters. Each value is written as a sum of
// non-negative terms (x ln(x/y) - x + y, e^u - 1 - u), so it keeps its relative accuracy as q -> p.
// Categorical distributions are rows: use divergence::kl (discrete/kl.hpp), which takes
// probabilities, log-probabilities or logits and batches of rows.
// The public entry points are parametric::kl, kl_gradient and kl_rows (parametric/family_kl.hpp).

#include <algorithm>
#include <cmath>

#include "divergence/core/sum.hpp"
#include "divergence/parametric/detail/special.hpp"
#include "divergence/parametric/families.hpp"

namespace divergence::parametric::detail {

/// Bernoulli: KL = q f(p/q) + (1-q) f((1-p)/(1-q)), f(r) = r ln r - r + 1 (= p ln(p/q) + (1-p) ln((1-p)/(1-q))).
/// d/dp = ln(p/q) - ln((1-p)/(1-q)) (infinite at p in {0, 1}); d/dq = (q - p) / (q (1 - q)).
/// +inf when q is 0 or 1 and p differs.
inline double kl_impl(const Bernoulli& a, const Bernoulli& b, KlGradient<Bernoulli, Bernoulli>* g)
{
    const double p = a.probability, q = b.probability;
    const double first = q == 0.0 ? (p == 0.0 ? 0.0 : infinity) : scaled_x_log_x_gap(p, q);
    const double second = q == 1.0 ? (p == 1.0 ? 0.0 : infinity)
                          : p == 1.0 ? 1.0 - q
                                     : scaled_x_log_x_gap(1.0 - p, 1.0 - q, log_complement_quotient(p, q));
    const double value = first + second;
    if (g) {
        g->value = value;
        if (value == infinity) {
            g->first.probability = g->second.probability = 0.0;
        } else {
            // p = q in {0, 1} (value 0): the one-sided derivatives are infinite; report 0 there.
            g->first.probability = (p == q) ? 0.0 : log_quotient(p, q) - log_complement_quotient(p, q);
            g->second.probability = (p == q) ? 0.0 : (q - p) / (q * (1.0 - q));
        }
    }
    return value;
}

/// Bernoulli from logits a, b (p = sigmoid(a), q = sigmoid(b)): the same two non-negative terms, with
/// ln(p/q) = softplus(-b) - softplus(-a) and ln((1-p)/(1-q)) = softplus(b) - softplus(a) evaluated
/// without cancellation; a term whose log ratio u exceeds 1 is p (u - 1) + q (no overflow of e^u).
/// d/da = sigmoid'(a) (a - b); d/db = sigmoid(b) - sigmoid(a). Finite for all finite logits.
inline double kl_impl(const BernoulliLogit& x, const BernoulliLogit& y, KlGradient<BernoulliLogit, BernoulliLogit>* g)
{
    const double a = x.logit, b = y.logit;
    const double p = sigmoid(a), q = sigmoid(b), p0 = sigmoid(-a), q0 = sigmoid(-b);
    const auto term = [](double mass_p, double mass_q, double u) {
        return u > 1.0 ? mass_p * (u - 1.0) + mass_q : mass_q * x_log_x_gap(u);
    };
    const double value = term(p, q, softplus_difference(-a, -b)) + term(p0, q0, softplus_difference(a, b));
    if (g) {
        g->value = value;
        g->first.logit = p * p0 * (a - b);
        g->second.logit = q - p;
    }
    return value;
}

/// Binomial with trials n1, n2. n1 = n2: n KL_Bernoulli(p || q). n1 > n2: +inf (p puts mass above n2).
/// n1 = 0 (a point mass at 0): -n2 ln(1 - q).
/// n1 < n2: the exact sum over k = 0..n1 of P1(k) ln(P1(k)/P2(k)) (O(n1) terms; PyTorch has no formula).
/// Gradients in the success probabilities.
inline double kl_impl(const Binomial& x, const Binomial& y, KlGradient<Binomial, Binomial>* g)
{
    const double n1 = x.trials, n2 = y.trials, p = x.probability, q = y.probability;
    double value = 0.0, d_p = 0.0, d_q = 0.0;
    if (n1 > n2) {
        value = infinity;
    } else if (n1 == 0.0) {  // p is a point mass at 0
        value = q == 1.0 ? infinity : -n2 * std::log1p(-q);
        d_q = n2 / (1.0 - q);
    } else if (n1 == n2) {
        KlGradient<Bernoulli, Bernoulli> bernoulli;
        value = n1 * kl_impl(Bernoulli{p}, Bernoulli{q}, &bernoulli);
        if (value < infinity) {
            d_p = n1 * bernoulli.first.probability;
            d_q = n1 * bernoulli.second.probability;
        }
    } else if (p == 1.0 && q == 1.0) {
        value = infinity;  // P1 is a point mass at n1 < n2 = the point mass of P2
    } else if ((q == 0.0 && p > 0.0) || q == 1.0) {
        value = infinity;
    } else {
        // Sum in log space; P1(k) = 0 terms (p in {0, 1}) are skipped.
        const double lp = std::log(p), lp0 = std::log1p(-p), lq = std::log(q), lq0 = std::log1p(-q);
        divergence::detail::CompensatedSum sum, slope;
        for (double k = 0.0; k <= n1; k += 1.0) {
            if ((p == 0.0 && k > 0.0) || (p == 1.0 && k < n1)) continue;
            const double log_p1 = std::lgamma(n1 + 1) - std::lgamma(k + 1) - std::lgamma(n1 - k + 1) +
                                  (k > 0 ? k * lp : 0.0) + (n1 - k > 0 ? (n1 - k) * lp0 : 0.0);
            const double log_p2 = std::lgamma(n2 + 1) - std::lgamma(k + 1) - std::lgamma(n2 - k + 1) +
                                  (k > 0 ? k * lq : 0.0) + (n2 - k) * lq0;
            const double mass = std::exp(log_p1);
            sum.add(mass * (log_p1 - log_p2));
            // d P1(k)/dp = P1(k) (k/p - (n1-k)/(1-p)); E_P1[d ln P1] = 0 removes the ln P1 derivative term.
            if (p > 0.0 && p < 1.0) slope.add(mass * (k / p - (n1 - k) / (1.0 - p)) * (log_p1 - log_p2));
        }
        value = non_negative(sum.value());
        d_p = slope.value();
        // d/dq = -E_P1[k/q - (n2 - k)/(1 - q)] = (n2 - n1 p)/(1 - q) - n1 p/q; at p = 0, P1 is a point mass at
        // k = 0 and the k/q term is 0 (not 0/0 at q = 0): KL = -n2 ln(1 - q), d/dq = n2/(1 - q).
        d_q = (n2 - n1 * p) / (1.0 - q) - (p > 0.0 ? n1 * p / q : 0.0);
    }
    if (g) {
        g->value = value;
        g->first = Binomial{0.0, value < infinity ? d_p : 0.0};
        g->second = Binomial{0.0, value < infinity ? d_q : 0.0};
    }
    return value;
}

/// Poisson: KL = l1 ln(l1/l2) - l1 + l2; d/dl1 = ln(l1/l2), d/dl2 = 1 - l1/l2.
inline double kl_impl(const Poisson& x, const Poisson& y, KlGradient<Poisson, Poisson>* g)
{
    const double value = scaled_x_log_x_gap(x.rate, y.rate);
    if (g) {
        g->value = value;
        g->first.rate = log_quotient(x.rate, y.rate);
        g->second.rate = (y.rate - x.rate) / y.rate;
    }
    return value;
}

/// Geometric: KL = ln(p1/p2) + ((1-p1)/p1) ln((1-p1)/(1-p2)) = phi(ln(p2/p1)) + ((1-p1)/p1) phi(ln((1-p2)/(1-p1)))
/// (phi(u) = e^u - 1 - u; the two forms agree because p2 - p1 = (1-p1) - (1-p2)).
/// d/dp1 = ln((1-p2)/(1-p1)) / p1^2 (+inf at p1 = 1); d/dp2 = (p2 - p1) / (p1 p2 (1 - p2)).
/// p1 = 1 (a point mass at 0): -ln p2. p2 = 1 > p1: +inf.
inline double kl_impl(const Geometric& x, const Geometric& y, KlGradient<Geometric, Geometric>* g)
{
    const double p1 = x.probability, p2 = y.probability;
    double value;
    if (p1 == 1.0) value = -std::log(p2);  // a point mass at 0
    else if (p2 == 1.0) value = infinity;
    else value = exp_minus_one_minus(log_quotient(p2, p1)) + (1.0 - p1) / p1 * exp_minus_one_minus(log_complement_quotient(p2, p1));
    if (g) {
        g->value = value;
        const bool finite = value < infinity;
        // Divided one factor at a time: p1 * p1 (and p1 * p2) underflow to 0 below ~1e-154, which made
        // 0 / 0 = NaN at p1 = p2 (the gradient is 0 there) and +-inf for close tiny p1, p2.
        g->first.probability = !finite ? 0.0 : p1 < 1.0 ? log_complement_quotient(p2, p1) / p1 / p1 : infinity;
        g->second.probability = finite ? (p1 == 1.0 ? -1.0 / p2 : (p2 - p1) / p1 / p2 / (1.0 - p2)) : 0.0;
    }
    return value;
}

}  // namespace divergence::parametric::detail

#endif
