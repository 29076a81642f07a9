#ifndef DIVERGENCE_PARAMETRIC_CROSS_FAMILY_HPP
#define DIVERGENCE_PARAMETRIC_CROSS_FAMILY_HPP

// KL(p || q) between members of two different families, as -H(p) - E_p[ln q]: p contributes its
// negative entropy and the expectations q's log-density needs (E x, Var x, E ln x, E ln(1 - x),
// E |x - m|), each with its gradient in p's parameters; q contributes its cross-entropy as a function
// of those expectations and of its own parameters. The chain rule joins them.
//
// Finite pairs (p -> q), whenever q's support contains p's (otherwise +inf):
//   p in {Exponential, Gamma, Beta, Normal, Laplace, Uniform}, q in {Exponential, Gamma, Beta, Normal, Uniform};
//   p in {Normal, Exponential, Uniform, Gamma, Beta} -> Laplace;  Bernoulli -> Poisson.
// Always +inf: a discrete p against a continuous q or the reverse (neither is absolutely continuous
// with respect to the other); Poisson or Geometric -> Bernoulli or Binomial (unbounded support).
// The public entry points are parametric::kl, kl_gradient and kl_rows (parametric/family_kl.hpp).

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "divergence/parametric/detail/incomplete_gamma_beta.hpp"
#include "divergence/parametric/detail/special.hpp"
#include "divergence/parametric/families.hpp"

namespace divergence::parametric::detail {

/// A number and its derivatives with respect to (up to) two parameters of p.
struct Stat {
    double v = 0.0;
    double d[2] = {0.0, 0.0};
};

/// What p contributes to -H(p) - E_p[ln q]. Expectations that p does not have (E ln x for a p on the
/// whole line) are never read: the support check comes first.
struct Summary {
    Stat neg_entropy, mean, variance, mean_log, mean_log1m;
    double low = -infinity, high = infinity;  ///< p's support
};

inline Summary summarize(const Exponential& p)
{
    const double l = p.rate;
    Summary s;
    s.neg_entropy = {std::log(l) - 1.0, {1.0 / l, 0.0}};
    s.mean = {1.0 / l, {-1.0 / (l * l), 0.0}};
    s.variance = {1.0 / (l * l), {-2.0 / (l * l * l), 0.0}};
    s.mean_log = {-euler_gamma - std::log(l), {-1.0 / l, 0.0}};
    s.low = 0.0;
    return s;
}

inline Summary summarize(const Gamma& p)
{
    const double a = p.shape, b = p.rate, lb = std::log(b), t = trigamma(a), psi = digamma(a);
    Summary s;
    s.neg_entropy = {-(a - lb + std::lgamma(a) + (1.0 - a) * psi), {(a - 1.0) * t - 1.0, 1.0 / b}};
    s.mean = {a / b, {1.0 / b, -a / (b * b)}};
    s.variance = {a / (b * b), {1.0 / (b * b), -2.0 * a / (b * b * b)}};
    s.mean_log = {psi - lb, {t, -1.0 / b}};
    s.low = 0.0;
    return s;
}

inline Summary summarize(const Beta& p)
{
    const double a = p.alpha, b = p.beta, n = a + b;
    const double ta = trigamma(a), tb = trigamma(b), tn = trigamma(n);
    const double pa = digamma(a), pb = digamma(b), pn = digamma(n);
    const double log_beta = std::lgamma(a) + std::lgamma(b) - std::lgamma(n);
    Summary s;
    s.neg_entropy = {-log_beta + (a - 1.0) * pa + (b - 1.0) * pb - (n - 2.0) * pn,
                     {(a - 1.0) * ta - (n - 2.0) * tn, (b - 1.0) * tb - (n - 2.0) * tn}};
    // a b / (n^2 (n + 1)) as (a / n) (b / n) / (n + 1): n^2 overflows for parameters beyond 1e154 (inf / inf = NaN).
    s.mean = {a / n, {b / n / n, -a / n / n}};
    const double v = (a / n) * (b / n) / (n + 1.0), common = -2.0 / n - 1.0 / (n + 1.0);
    s.variance = {v, {v * (1.0 / a + common), v * (1.0 / b + common)}};
    s.mean_log = {pa - pn, {ta - tn, -tn}};
    s.mean_log1m = {pb - pn, {-tn, tb - tn}};
    s.low = 0.0;
    s.high = 1.0;
    return s;
}

inline Summary summarize(const Normal& p)
{
    const double sd = p.stddev;
    Summary s;
    s.neg_entropy = {-0.5 * std::log(2.0 * pi * e_number) - std::log(sd), {0.0, -1.0 / sd}};
    s.mean = {p.mean, {1.0, 0.0}};
    s.variance = {sd * sd, {0.0, 2.0 * sd}};
    return s;
}

inline Summary summarize(const Laplace& p)
{
    const double b = p.scale;
    Summary s;
    s.neg_entropy = {-1.0 - std::log(2.0 * b), {0.0, -1.0 / b}};
    s.mean = {p.location, {1.0, 0.0}};
    s.variance = {2.0 * b * b, {0.0, 4.0 * b}};
    return s;
}

/// E ln x for x ~ Uniform(lo, hi), 0 <= lo: (hi ln hi - lo ln lo)/w - 1, with its derivatives
/// (E - ln lo)/w (+inf at lo = 0) and (ln hi - E)/w.
inline Stat uniform_mean_log(double lo, double hi)
{
    const double w = hi - lo, e = (x_log_x(hi) - x_log_x(lo)) / w - 1.0;
    return {e, {lo == 0.0 ? infinity : (e - std::log(lo)) / w, (std::log(hi) - e) / w}};
}

inline Summary summarize(const Uniform& p)
{
    const double lo = p.low, hi = p.high, w = hi - lo;
    Summary s;
    s.neg_entropy = {-std::log(w), {1.0 / w, -1.0 / w}};
    s.mean = {0.5 * (lo + hi), {0.5, 0.5}};
    s.variance = {w * w / 12.0, {-w / 6.0, w / 6.0}};
    if (lo >= 0.0) s.mean_log = uniform_mean_log(lo, hi);
    if (hi <= 1.0) {
        const Stat m = uniform_mean_log(1.0 - hi, 1.0 - lo);  // 1 - x ~ Uniform(1 - hi, 1 - lo)
        s.mean_log1m = {m.v, {-m.d[1], -m.d[0]}};
    }
    s.low = lo;
    s.high = hi;
    return s;
}

/// -E_p[ln q] as a function of p's expectations: its value, its partial derivatives with respect to
/// E x, Var x, E ln x, E ln(1 - x), and with respect to q's parameters.
struct CrossEntropy {
    double value = 0.0;
    double d_mean = 0.0, d_variance = 0.0, d_mean_log = 0.0, d_mean_log1m = 0.0;
    double d_q[2] = {0.0, 0.0};
};

inline bool supports(const Exponential&, const Summary& s) { return s.low >= 0.0; }
inline bool supports(const Gamma&, const Summary& s) { return s.low >= 0.0; }
inline bool supports(const Beta&, const Summary& s) { return s.low >= 0.0 && s.high <= 1.0; }
inline bool supports(const Normal&, const Summary&) { return true; }
inline bool supports(const Uniform& q, const Summary& s) { return q.low <= s.low && s.high <= q.high; }

inline CrossEntropy cross_entropy(const Exponential& q, const Summary& s)
{
    const double l = q.rate;
    CrossEntropy c;
    c.value = -std::log(l) + l * s.mean.v;
    c.d_mean = l;
    c.d_q[0] = s.mean.v - 1.0 / l;
    return c;
}

inline CrossEntropy cross_entropy(const Gamma& q, const Summary& s)
{
    const double k = q.shape, b = q.rate;
    CrossEntropy c;
    c.value = std::lgamma(k) - k * std::log(b) - (k - 1.0) * s.mean_log.v + b * s.mean.v;
    c.d_mean = b;
    c.d_mean_log = -(k - 1.0);
    c.d_q[0] = digamma(k) - std::log(b) - s.mean_log.v;
    c.d_q[1] = s.mean.v - k / b;
    return c;
}

inline CrossEntropy cross_entropy(const Beta& q, const Summary& s)
{
    const double a = q.alpha, b = q.beta, pn = digamma(a + b);
    CrossEntropy c;
    c.value = std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b) - (a - 1.0) * s.mean_log.v - (b - 1.0) * s.mean_log1m.v;
    c.d_mean_log = -(a - 1.0);
    c.d_mean_log1m = -(b - 1.0);
    c.d_q[0] = digamma(a) - pn - s.mean_log.v;
    c.d_q[1] = digamma(b) - pn - s.mean_log1m.v;
    return c;
}

inline CrossEntropy cross_entropy(const Normal& q, const Summary& s)
{
    const double sd = q.stddev, delta = s.mean.v - q.mean, second = s.variance.v + delta * delta;
    CrossEntropy c;
    c.value = 0.5 * std::log(2.0 * pi) + std::log(sd) + second / (2.0 * sd * sd);
    c.d_mean = delta / (sd * sd);
    c.d_variance = 0.5 / (sd * sd);
    c.d_q[0] = -c.d_mean;
    c.d_q[1] = 1.0 / sd - second / (sd * sd * sd);
    return c;
}

inline CrossEntropy cross_entropy(const Uniform& q, const Summary&)
{
    const double w = q.high - q.low;
    CrossEntropy c;
    c.value = std::log(w);
    c.d_q[0] = -1.0 / w;
    c.d_q[1] = 1.0 / w;
    return c;
}

template <class F>
struct is_summarized : std::false_type {};
template <> struct is_summarized<Exponential> : std::true_type {};
template <> struct is_summarized<Gamma> : std::true_type {};
template <> struct is_summarized<Beta> : std::true_type {};
template <> struct is_summarized<Normal> : std::true_type {};
template <> struct is_summarized<Laplace> : std::true_type {};
template <> struct is_summarized<Uniform> : std::true_type {};

template <class F>
struct has_cross_entropy : std::false_type {};
template <> struct has_cross_entropy<Exponential> : std::true_type {};
template <> struct has_cross_entropy<Gamma> : std::true_type {};
template <> struct has_cross_entropy<Beta> : std::true_type {};
template <> struct has_cross_entropy<Normal> : std::true_type {};
template <> struct has_cross_entropy<Uniform> : std::true_type {};

/// g = d/d(parameter i) of the sum of c * stat over the stats a cross-entropy reads (a zero
/// coefficient is skipped: its stat may have an infinite derivative, e.g. E ln x of Uniform(0, w)).
inline double chain(const Summary& s, const CrossEntropy& c, int i)
{
    double g = s.neg_entropy.d[i];
    const auto add = [&g, i](double coefficient, const Stat& stat) {
        if (coefficient != 0.0) g += coefficient * stat.d[i];
    };
    add(c.d_mean, s.mean);
    add(c.d_variance, s.variance);
    add(c.d_mean_log, s.mean_log);
    add(c.d_mean_log1m, s.mean_log1m);
    return g;
}

/// The parameters of p and q written from gradient arrays (two or fewer fields).
template <class F>
F from_array(const double* d)
{
    return Parameters<F>::make(d, 0);
}

/// KL(p || q) = -H(p) + (-E_p ln q) for two different summarized families.
template <class P, class Q, std::enable_if_t<is_summarized<P>::value && has_cross_entropy<Q>::value && !std::is_same_v<P, Q>, int> = 0>
double kl_impl(const P& p, const Q& q, KlGradient<P, Q>* g)
{
    const Summary s = summarize(p);
    if (!supports(q, s)) {
        if (g) *g = {infinity, zero_like(p), zero_like(q)};
        return infinity;
    }
    const CrossEntropy c = cross_entropy(q, s);
    const double value = non_negative(s.neg_entropy.v + c.value);
    if (g) {
        const double d_p[2] = {chain(s, c, 0), chain(s, c, 1)};
        *g = {value, from_array<P>(d_p), from_array<Q>(c.d_q)};
    }
    return value;
}

/// E_p |x - m| and its derivatives with respect to m and to p's parameters (the Laplace cross-entropy
/// ln(2b) + E|x - m| / b needs it).
struct AbsoluteDeviation {
    double value = 0.0, d_m = 0.0;
    double d_p[2] = {0.0, 0.0};
};

/// Normal(mu, s): s sqrt(2/pi) e^{-z^2/2} + D erf(z / sqrt 2), D = mu - m, z = D / s.
inline AbsoluteDeviation absolute_deviation(const Normal& p, double m)
{
    const double d = p.mean - m, z = d / p.stddev, density = std::sqrt(2.0 / pi) * std::exp(-0.5 * z * z);
    const double e = std::erf(z / std::sqrt(2.0));
    return {p.stddev * density + d * e, -e, {e, density}};
}

/// Exponential(l): m <= 0: 1/l - m; m > 0: m - 1/l + 2 e^{-l m} / l.
inline AbsoluteDeviation absolute_deviation(const Exponential& p, double m)
{
    const double l = p.rate;
    if (m <= 0.0) return {1.0 / l - m, -1.0, {-1.0 / (l * l), 0.0}};
    const double e = std::exp(-l * m);
    return {m - 1.0 / l + 2.0 * e / l, 1.0 - 2.0 * e, {1.0 / (l * l) - 2.0 * m * e / l - 2.0 * e / (l * l), 0.0}};
}

/// Uniform(a, b): inside, ((m - a)^2 + (b - m)^2) / (2 (b - a)); outside, |(a + b)/2 - m|.
inline AbsoluteDeviation absolute_deviation(const Uniform& p, double m)
{
    const double a = p.low, b = p.high, w = b - a;
    if (m < a) return {0.5 * (a + b) - m, -1.0, {0.5, 0.5}};
    if (m > b) return {m - 0.5 * (a + b), 1.0, {-0.5, -0.5}};
    const double n = (m - a) * (m - a) + (b - m) * (b - m);
    return {n / (2.0 * w), (2.0 * m - a - b) / w, {-(m - a) / w + n / (2.0 * w * w), (b - m) / w - n / (2.0 * w * w)}};
}

/// Gamma(a, r) (rate r, mean mu = a/r), m > 0, z = r m, with P = P(a, z), Q = 1 - P (regularized incomplete
/// gamma) and f = z^a e^-z / Gamma(a):  E|x - m| = (mu - m)(Q - P) + 2 f / r, since
/// E[(m - x) 1{x < m}] = m P(a, z) - mu P(a + 1, z) and P(a + 1, z) = P(a, z) - f / a.
/// d/dm = P - Q;  d/dr = -(a / r^2)(Q - P) - 2 f / r^2;  d/da = (Q - P)/r - 2 (mu - m) dP/da + 2 f (ln z - psi(a)) / r.
/// m <= 0: mu - m.
inline AbsoluteDeviation absolute_deviation(const Gamma& p, double m)
{
    const double a = p.shape, r = p.rate, mu = a / r;
    if (m <= 0.0) return {mu - m, -1.0, {1.0 / r, -a / (r * r)}};
    const double z = r * m;
    const IncompleteGamma ig = regularized_gamma(a, z);
    // f = 0 where z under- or overflows (then ln z would make 0 * inf).
    const double f = z > 0.0 && z < infinity ? std::exp(log_gamma_density_factor(a, z)) : 0.0;
    const double df_da = f > 0.0 ? f * (std::log(z) - digamma(a)) : 0.0;
    const double upper_minus_lower = ig.lower < 0.5 ? 1.0 - 2.0 * ig.lower : 2.0 * ig.upper - 1.0;
    return {(mu - m) * upper_minus_lower + 2.0 * f / r,
            -upper_minus_lower,
            {upper_minus_lower / r - 2.0 * (mu - m) * ig.d_lower_d_shape + 2.0 * df_da / r,
             -(a / (r * r)) * upper_minus_lower - 2.0 * f / (r * r)}};
}

/// Beta(a, b) (n = a + b, mean mu = a/n), 0 < m < 1, with P = I_m(a, b), Q = 1 - P (regularized incomplete
/// beta) and k = m^a (1 - m)^b / B(a, b):  E|x - m| = (mu - m)(Q - P) + 2 k / n, since
/// E[(m - x) 1{x < m}] = m P - mu I_m(a + 1, b) and I_m(a + 1, b) = I_m(a, b) - k / a.
/// d/dm = P - Q;  d/da = (b / n^2)(Q - P) - 2 (mu - m) dP/da + 2 (k / n)(ln m - psi(a) + psi(n) - 1/n);
/// d/db = -(a / n^2)(Q - P) - 2 (mu - m) dP/db + 2 (k / n)(ln(1 - m) - psi(b) + psi(n) - 1/n).
/// m <= 0: mu - m; m >= 1: m - mu.
inline AbsoluteDeviation absolute_deviation(const Beta& p, double m)
{
    const double a = p.alpha, b = p.beta, n = a + b, mu = a / n, dmu_da = b / (n * n), dmu_db = -a / (n * n);
    if (m <= 0.0) return {mu - m, -1.0, {dmu_da, dmu_db}};
    if (m >= 1.0) return {m - mu, 1.0, {-dmu_da, -dmu_db}};
    const IncompleteBeta ib = regularized_beta(a, b, m);
    const double k_over_n = std::exp(log_beta_density_factor(a, b, m, 1.0 - m)) / n, psi_n = digamma(n);
    const double upper_minus_lower = ib.lower < 0.5 ? 1.0 - 2.0 * ib.lower : 2.0 * ib.upper - 1.0;
    return {(mu - m) * upper_minus_lower + 2.0 * k_over_n,
            -upper_minus_lower,
            {dmu_da * upper_minus_lower - 2.0 * (mu - m) * ib.d_lower_d_a +
                 2.0 * k_over_n * (std::log(m) - digamma(a) + psi_n - 1.0 / n),
             dmu_db * upper_minus_lower - 2.0 * (mu - m) * ib.d_lower_d_b +
                 2.0 * k_over_n * (std::log1p(-m) - digamma(b) + psi_n - 1.0 / n)}};
}

/// KL(p || Laplace(m, b)) = -H(p) + ln(2b) + E_p|x - m| / b.
template <class P, std::enable_if_t<std::is_same_v<P, Normal> || std::is_same_v<P, Exponential> || std::is_same_v<P, Uniform> ||
                                        std::is_same_v<P, Gamma> || std::is_same_v<P, Beta>,
                                    int> = 0>
double kl_impl(const P& p, const Laplace& q, KlGradient<P, Laplace>* g)
{
    const Summary s = summarize(p);
    const AbsoluteDeviation a = absolute_deviation(p, q.location);
    const double b = q.scale;
    const double value = non_negative(s.neg_entropy.v + std::log(2.0 * b) + a.value / b);
    if (g) {
        const double d_p[2] = {s.neg_entropy.d[0] + a.d_p[0] / b, s.neg_entropy.d[1] + a.d_p[1] / b};
        *g = {value, from_array<P>(d_p), Laplace{a.d_m / b, 1.0 / b - a.value / (b * b)}};
    }
    return value;
}

/// Bernoulli(r) -> Poisson(l): r ln r + (1 - r) ln(1 - r) + l - r ln l (E ln x! = 0 on {0, 1}).
/// d/dr = ln(r / (1 - r)) - ln l; d/dl = 1 - r / l.
inline double kl_impl(const Bernoulli& p, const Poisson& q, KlGradient<Bernoulli, Poisson>* g)
{
    const double r = p.probability, l = q.rate;
    const double value = non_negative(x_log_x(r) + x_log_x(1.0 - r) + l - r * std::log(l));
    if (g) *g = {value, Bernoulli{std::log(r) - std::log1p(-r) - std::log(l)}, Poisson{1.0 - r / l}};
    return value;
}

template <class F>
struct is_discrete : std::false_type {};
template <> struct is_discrete<Bernoulli> : std::true_type {};
template <> struct is_discrete<BernoulliLogit> : std::true_type {};
template <> struct is_discrete<Binomial> : std::true_type {};
template <> struct is_discrete<Poisson> : std::true_type {};
template <> struct is_discrete<Geometric> : std::true_type {};

template <class F>
inline constexpr bool is_bounded_count_v = std::is_same_v<F, Bernoulli> || std::is_same_v<F, BernoulliLogit> || std::is_same_v<F, Binomial>;
template <class F>
inline constexpr bool is_unbounded_count_v = std::is_same_v<F, Poisson> || std::is_same_v<F, Geometric>;

/// +inf: a discrete p and a continuous q or the reverse; Poisson or Geometric -> Bernoulli or Binomial.
template <class P, class Q,
          std::enable_if_t<is_discrete<P>::value != is_discrete<Q>::value || (is_unbounded_count_v<P> && is_bounded_count_v<Q>), int> = 0>
double kl_impl(const P& p, const Q& q, KlGradient<P, Q>* g)
{
    if (g) *g = {infinity, zero_like(p), zero_like(q)};
    return infinity;
}

}  // namespace divergence::parametric::detail

#endif
