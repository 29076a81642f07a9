#ifndef DIVERGENCE_LOSSES_ALPHA_BETA_HPP
#define DIVERGENCE_LOSSES_ALPHA_BETA_HPP

// The alpha-beta divergence of Cichocki, Cruces and Amari (2011) as an element kernel: the family
// that ABKD (Wang et al. 2025) uses for distillation, interpolating forward and reverse KL.

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "divergence/core/call.hpp"
#include "divergence/core/element.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/kernel.hpp"
#include "divergence/core/simd.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace divergence {
namespace detail {

/// e^base expm1(c x) / c (e^base x at c = 0; 0 at x = 0), given also top = base + c x in a form computed without
/// cancellation: through expm1 where |c x| <= 1, as (e^top - e^base) / c elsewhere, so that an expm1 that overflows
/// (c x = 1e38) meets no e^base that underflows (0 * inf = NaN).
inline double exp_expm1_over(double c, double base, double top, double x)
{
    if (x == 0.0) return 0.0;
    if (c == 0.0) return std::exp(base) * x;
    const double cx = c * x;
    if (std::abs(cx) <= 1.0) return std::exp(base) * std::expm1(cx) / c;
    return (std::exp(top) - std::exp(base)) / c;
}

/// m^k for a mass m >= 0 given with its log, with 0^k = 0 (k > 0), +inf (k < 0), 1 (k = 0).
inline double mass_power(double log_m, double k)
{
    if (k == 0.0) return 1.0;
    if (log_m == -infinity) return k > 0.0 ? 0.0 : infinity;
    return std::exp(k * log_m);
}

/// D_AB^(alpha, beta)(P || Q) = sum_i d(p_i, q_i) with, for alpha, beta, s = alpha + beta != 0,
///   d(p, q) = -1/(alpha beta) [p^alpha q^beta - alpha/s p^s - beta/s q^s],
/// and its limits (Cichocki, Cruces and Amari 2011, eq. 4):
///   beta = 0:          [p^alpha log(p^alpha / q^alpha) - p^alpha + q^alpha] / alpha^2   (alpha = 1: KL(P || Q))
///   alpha = 0:         [q^beta log(q^beta / p^beta) - q^beta + p^beta] / beta^2        (beta = 1: KL(Q || P))
///   alpha = -beta:     [log(q^alpha / p^alpha) + p^alpha / q^alpha - 1] / alpha^2
///   alpha = beta = 0:  (log p - log q)^2 / 2.
/// With l = log p - log q and E_c(x) = expm1(c x) / c (= x at c = 0), every case is one of two forms
/// that are continuous in (alpha, beta) and exact at the limits:
///   d = [p^alpha q^beta E_beta(l) - q^s E_alpha(l)] / s            (A: used when |s| >= max(|alpha|, |beta|) / 2)
///   d = q^s [alpha E_s(l) - expm1(alpha l)] / (alpha beta)         (B: otherwise; then alpha, beta != 0)
/// and the partials (d is homogeneous of degree s: p dd/dp + q dd/dq = s d)
///   dd/dlog p = p^alpha q^beta E_beta(l),   dd/dlog q = -q^s E_alpha(l).
/// A zero mass takes the limit of the general form (+inf where it is infinite or indeterminate).
/// Packets of lanes whose masses are all > 0 with |log| below packet_log_bound() are computed in
/// SIMD double lanes from three exponentials per element (factors(): X = p^alpha q^beta, E_beta(l),
/// E_-alpha(l), with dd/dlog p = X E_beta(l), dd/dlog q = -X E_-alpha(l), form A = their sum / s);
/// others lane by lane in scalar double.
struct AlphaBetaKernel {
    static constexpr bool binary = true;
    static constexpr bool partials_use_value = false;
    static constexpr bool log_domain = true;  // p and q enter only d/dp, d/dq

    double alpha = 1.0, beta = 0.0;
    // Set by prepare() (alpha_beta_kernel), so that the packet loops divide nothing:
    double log_bound = 350.0;    ///< packet_log_bound()
    double inverse_alpha = 1.0;  ///< 1 / alpha, 0 where |alpha| < 1e-20 (E_-alpha(l) = l)
    double inverse_beta = 0.0;   ///< 1 / beta, 0 where |beta| < 1e-20 (E_beta(l) = l)
    double inverse_sum = 1.0;    ///< 1 / (alpha + beta) where the value takes form A, else 0

    AlphaBetaKernel& prepare()
    {
        const auto inverse = [](double c) { return std::abs(c) < 1e-20 ? 0.0 : 1.0 / c; };
        log_bound = packet_log_bound();
        inverse_alpha = inverse(alpha);
        inverse_beta = inverse(beta);
        inverse_sum = (alpha != 0.0 || beta != 0.0) && form_a() ? 1.0 / sum() : 0.0;
        return *this;
    }

    double sum() const { return alpha + beta; }

    /// The general formula with powers of possibly zero masses (one of p, q is 0 here).
    double term_at_zero(double log_p, double log_q) const
    {
        const double a = alpha, b = beta, s = sum();
        const double pa = mass_power(log_p, a), qb = mass_power(log_q, b);
        double d;
        if (a == 0.0 && b == 0.0) {
            d = infinity;
        } else if (b == 0.0) {
            d = (pa * (a * (log_p - log_q)) - pa + mass_power(log_q, a)) / (a * a);
            if (log_p == -infinity && a > 0.0) d = mass_power(log_q, a) / (a * a);  // 0 log 0 = 0
        } else if (a == 0.0) {
            d = (qb * (b * (log_q - log_p)) - qb + mass_power(log_p, b)) / (b * b);
            if (log_q == -infinity && b > 0.0) d = mass_power(log_p, b) / (b * b);
        } else if (s == 0.0) {
            d = infinity;  // log(q^alpha / p^alpha) or p^alpha / q^alpha is infinite
        } else {
            d = -(pa * qb - a / s * mass_power(log_p, s) - b / s * mass_power(log_q, s)) / (a * b);
        }
        return std::isnan(d) ? infinity : std::max(d, 0.0);
    }

    double term(double p, double log_p, double q, double log_q) const
    {
        (void)p;
        (void)q;
        if (log_p == -infinity && log_q == -infinity) return 0.0;
        if (log_p == -infinity || log_q == -infinity) return term_at_zero(log_p, log_q);
        const double a = alpha, b = beta, s = sum(), l = log_p - log_q;
        if (a == 0.0 && b == 0.0) return 0.5 * l * l;
        if (std::abs(s) >= 0.5 * std::max(std::abs(a), std::abs(b))) {
            return (exp_expm1_over(b, a * log_p + b * log_q, s * log_p, l) - exp_expm1_over(a, s * log_q, a * log_p + b * log_q, l)) / s;
        }
        return (exp_expm1_over(s, s * log_q, s * log_p, l) - exp_expm1_over(a, s * log_q, a * log_p + b * log_q, l)) / b;  // q^s [alpha E_s(l) - expm1(alpha l)] / (alpha beta)
    }

    /// {dd/dp, dd/dlog p, dd/dq, dd/dlog q} at one element.
    void partials(double p, double log_p, double q, double log_q, double* d) const
    {
        d[0] = d[1] = d[2] = d[3] = 0.0;
        if (log_p == -infinity && log_q == -infinity) return;
        const double a = alpha, b = beta, s = sum();
        if (log_p == -infinity || log_q == -infinity) {
            // Limits at a zero mass of p^alpha q^beta E_beta(l) and -q^s E_alpha(l) (0 where indeterminate).
            const double l = log_p - log_q;
            const auto limit = [](double x) { return std::isnan(x) ? 0.0 : x; };
            const double e_b = b == 0.0 ? l : (b * l > 0.0 ? infinity : -1.0) / b;
            const double e_a = a == 0.0 ? l : (a * l > 0.0 ? infinity : -1.0) / a;
            d[1] = limit(mass_power(log_p, a) * mass_power(log_q, b) * e_b);
            d[3] = limit(-mass_power(log_q, s) * e_a);
            d[0] = log_p == -infinity ? limit(mass_power(log_p, a - 1.0) * mass_power(log_q, b) * e_b) : d[1] / p;
            d[2] = log_q == -infinity ? limit(-mass_power(log_q, s - 1.0) * e_a) : d[3] / q;
            return;
        }
        const double l = log_p - log_q;
        d[1] = exp_expm1_over(b, a * log_p + b * log_q, s * log_p, l);
        d[0] = exp_expm1_over(b, (a - 1.0) * log_p + b * log_q, (s - 1.0) * log_p, l);
        d[3] = -exp_expm1_over(a, s * log_q, a * log_p + b * log_q, l);
        d[2] = -exp_expm1_over(a, (s - 1.0) * log_q, a * log_p + (b - 1.0) * log_q, l);
    }

    /// The largest |log p|, |log q| for which no exponent of the packet path leaves [-700, 700]:
    /// p^alpha q^beta = exp(alpha log p + beta log q), its quotient by p or q (|alpha| + |beta| + 1 times
    /// the bound at most), and expm1(beta l), expm1(-alpha l) with |l| <= 2 x the bound.
    double packet_log_bound() const
    {
        const double a = std::abs(alpha), b = std::abs(beta);
        return 700.0 / std::max(a + b + 1.0, 2.0 * std::max(a, b));
    }

    /// The partials' shared factors in lanes: x = p^alpha q^beta, e_b = E_beta(l), e_na = E_-alpha(l).
    template <class V>
    struct Factors {
        V x, e_b, e_na;
    };
    /// E_c(l) = expm1(c l) / c in lanes, l where |c| < 1e-20 (then |c l| / 2 < 1e-17: E_c(l) = l in double).
    template <class V>
    static DIVERGENCE_SIMD_INLINE V expm1_ratio(double c, const V& l)
    {
        return expm1_ratio(c, std::abs(c) < 1e-20 ? 0.0 : 1.0 / c, l);
    }
    /// The same with 1 / c given (0 for E_c(l) = l).
    template <class V>
    static DIVERGENCE_SIMD_INLINE V expm1_ratio(double c, double inverse, const V& l)
    {
        if (inverse == 0.0) return l;
        return simd::mul(simd::expm1(simd::mul(simd::broadcast<V>(c), l)), simd::broadcast<V>(inverse));
    }
    /// Three exponentials per element: p^alpha q^beta once, and E_beta(l), E_-alpha(l), by
    /// p^alpha q^beta E_beta(l) = (p^s - p^alpha q^beta) / beta and q^s E_alpha(l) = -p^alpha q^beta E_-alpha(l).
    template <class V>
    DIVERGENCE_SIMD_INLINE Factors<V> factors(const ElementLanes<V>& e, const V& l) const
    {
        const V exponent = simd::madd(simd::broadcast<V>(alpha), e.log_p, simd::mul(simd::broadcast<V>(beta), e.log_q));
        return {simd::exp(exponent), expm1_ratio(beta, inverse_beta, l), expm1_ratio(-alpha, -inverse_alpha, l)};
    }
    /// Whether a packet needs the scalar path: a zero mass, or logs beyond packet_log_bound().
    template <class V>
    DIVERGENCE_SIMD_INLINE bool scalar_lanes(const ElementLanes<V>& e) const
    {
        const V largest = simd::max(simd::max(e.log_p, e.log_q), simd::sub(simd::broadcast<V>(0.0), simd::min(e.log_p, e.log_q)));
        return simd::any(simd::less(simd::broadcast<V>(log_bound), largest));  // a NaN log is left to the packet path
    }
    /// Whether the value takes form A (else B, see above).
    bool form_a() const { return std::abs(sum()) >= 0.5 * std::max(std::abs(alpha), std::abs(beta)); }

    // The packet paths: the few lanes that need the scalar path go through the *_lanes functions
    // below, kept out of line so that the packet code stays small enough to be inlined in the loops.
    template <class V>
    DIVERGENCE_SIMD_INLINE V term(const ElementLanes<V>& e) const
    {
        if constexpr (simd::lanes<V> > 1) {
            if (!scalar_lanes(e)) {
                const double a = alpha, b = beta, s = sum();
                const V l = simd::sub(e.log_p, e.log_q);
                if (a == 0.0 && b == 0.0) return simd::mul(simd::broadcast<V>(0.5), simd::mul(l, l));
                if (inverse_sum != 0.0) {
                    // (dd/dlog p + dd/dlog q) / s (Euler: d is homogeneous of degree s)
                    const Factors<V> f = factors(e, l);
                    return simd::mul(simd::mul(f.x, simd::sub(f.e_b, f.e_na)), simd::broadcast<V>(inverse_sum));
                }
                // q^s [alpha E_s(l) - expm1(alpha l)] / (alpha beta) = q^s [E_s(l) - E_alpha(l)] / beta
                const V q_s = simd::exp(simd::mul(simd::broadcast<V>(s), e.log_q));
                return simd::mul(simd::mul(q_s, simd::sub(expm1_ratio(s, l), expm1_ratio(a, l))), simd::broadcast<V>(1.0 / b));
            }
        }
        return term_lanes(e);
    }
    /// The term and dd/dlog p, dd/dlog q from one set of factors (the pass that sums all three).
    template <class V>
    DIVERGENCE_SIMD_INLINE TermLanes<V> term_and_partials(const ElementLanes<V>& e) const
    {
        if constexpr (simd::lanes<V> > 1) {
            if (inverse_sum != 0.0 && !scalar_lanes(e)) {
                const Factors<V> f = factors(e, simd::sub(e.log_p, e.log_q));
                const V d_log_p = simd::mul(f.x, f.e_b), d_log_q = simd::mul(simd::sub(simd::broadcast<V>(0.0), f.x), f.e_na);
                return {simd::mul(simd::add(d_log_p, d_log_q), simd::broadcast<V>(inverse_sum)), d_log_p, d_log_q};
            }
        }
        const PartialLanes<V> d = partials(0.0, e);
        return {term(e), d.d_log_p, d.d_log_q};
    }
    double finish(double sum) const { return std::max(0.0, sum); }  // >= 0 (Cichocki et al., theorem 1)
    template <class V>
    DIVERGENCE_SIMD_INLINE PartialLanes<V> partials(double, const ElementLanes<V>& e) const
    {
        if constexpr (simd::lanes<V> > 1) {
            if (!scalar_lanes(e)) {
                const Factors<V> f = factors(e, simd::sub(e.log_p, e.log_q));
                PartialLanes<V> d;
                d.d_log_p = simd::mul(f.x, f.e_b);                                     // p^alpha q^beta E_beta(l)
                d.d_log_q = simd::mul(simd::sub(simd::broadcast<V>(0.0), f.x), f.e_na);  // -q^s E_alpha(l)
                d.d_p = simd::div(d.d_log_p, e.p);
                d.d_q = simd::div(d.d_log_q, e.q);
                return d;
            }
        }
        return partial_lanes(e);
    }
    /// term() lane by lane in scalar double.
    template <class V>
    V term_lanes(const ElementLanes<V>& e) const
    {
        constexpr int width = simd::lanes<V>;
        alignas(64) double p[width], log_p[width], q[width], log_q[width], out[width];
        simd::store(p, e.p);
        simd::store(log_p, e.log_p);
        simd::store(q, e.q);
        simd::store(log_q, e.log_q);
        for (int i = 0; i < width; ++i) out[i] = term(p[i], log_p[i], q[i], log_q[i]);
        return simd::load<V>(out);
    }
    /// partials() lane by lane in scalar double.
    template <class V>
    PartialLanes<V> partial_lanes(const ElementLanes<V>& e) const
    {
        constexpr int width = simd::lanes<V>;
        alignas(64) double p[width], log_p[width], q[width], log_q[width], d[4][width];
        simd::store(p, e.p);
        simd::store(log_p, e.log_p);
        simd::store(q, e.q);
        simd::store(log_q, e.log_q);
        for (int i = 0; i < width; ++i) {
            double lane[4];
            partials(p[i], log_p[i], q[i], log_q[i], lane);
            for (int k = 0; k < 4; ++k) d[k][i] = lane[k];
        }
        return {simd::load<V>(d[0]), simd::load<V>(d[1]), simd::load<V>(d[2]), simd::load<V>(d[3])};
    }
};

inline AlphaBetaKernel alpha_beta_kernel(const char* function, double alpha, double beta)
{
    if (!std::isfinite(alpha)) fail(function, "alpha", describe("must be finite, got", alpha));
    if (!std::isfinite(beta)) fail(function, "beta", describe("must be finite, got", beta));
    return AlphaBetaKernel{alpha, beta}.prepare();
}

}  // namespace detail

/// Alpha-beta divergence (Cichocki, Cruces and Amari, "Generalized Alpha-Beta Divergences and Their
/// Application to Robust Nonnegative Matrix Factorization", Entropy 13, 2011), in nats, per row:
///   D_AB^(alpha, beta)(P || Q) = -1/(alpha beta) sum_i [p_i^alpha q_i^beta - alpha/(alpha + beta) p_i^(alpha + beta)
///                                                       - beta/(alpha + beta) q_i^(alpha + beta)],
/// continued by its limits where alpha, beta or alpha + beta is 0 (see detail::AlphaBetaKernel):
/// (alpha, beta) = (1, 0) is KL(P || Q), (0, 1) is KL(Q || P) (for normalized rows), (1/2, 1/2) is
/// 2 x the squared Hellinger distance sum (sqrt p - sqrt q)^2, (1, 1) is half the squared
/// Euclidean distance. ABKD (Wang et al., "ABKD: Pursuing a Proper Allocation of the Probability Mass in
/// Knowledge Distillation via alpha-beta-Divergence", ICML 2025) distils with P = teacher, Q = student.
/// >= 0, 0 iff P = Q. A zero mass takes the limit (+inf where it is infinite, e.g. KL's support mismatch).
/// Gradients: d/dlog p_i = p_i^alpha q_i^beta E_beta(l_i), d/dlog q_i = -q_i^(alpha + beta) E_alpha(l_i),
/// l_i = log(p_i / q_i), E_c(x) = expm1(c x) / c (x at c = 0); d/dp = d/dlog p / p; logits through the
/// softmax Jacobian with 1/T. Every input form, mask, weight and reduction, as for kl.
/// Accuracy: double per element (SIMD or scalar lanes); relative error about 1e-15 away from (alpha, beta) = (0, 0);
/// within a distance delta of it, about 1e-16 / delta.
/// \throws std::invalid_argument if alpha or beta is not finite, and on the inputs' usual errors.
template <class P, class Q, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> alpha_beta_divergence(const P& p, const Q& q, double alpha, double beta,
                                                 const Options& options = {}, const Out& out = {})
{
    const char* function = "alpha_beta_divergence";
    return detail::call(function, detail::alpha_beta_kernel(function, alpha, beta), p, q, options, out);
}

/// alpha_beta_divergence per row: B values (masked rows 0), never scaled by the reduction; gradients as for kl_rows.
template <class P, class Q, class Out = detail::outputs_for<P>>
RowValues<detail::result_scalar_t<P>> alpha_beta_divergence_rows(const P& p, const Q& q, double alpha, double beta,
                                                                 const Options& options = {}, const Out& out = {})
{
    const char* function = "alpha_beta_divergence";
    return detail::call_rows(function, detail::alpha_beta_kernel("alpha_beta_divergence_rows", alpha, beta), p, q,
                             options, out);
}

}  // namespace divergence

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
