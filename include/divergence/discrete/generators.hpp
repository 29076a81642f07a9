#ifndef DIVERGENCE_DISCRETE_GENERATORS_HPP
#define DIVERGENCE_DISCRETE_GENERATORS_HPP

// The f-divergence generator table: D_f(P || Q) = sum_i q_i f(p_i / q_i) for a convex f.
//
// A generator is any copyable struct with f; every other member below is optional and derived when
// missing (detail::Complete: f' and f'' by forward-mode differentiation, math::Jet, from an f written
// over its argument type, `template <class V> V f(const V& u) const` with divergence::math functions,
// which also gives the vectorized loop; a double-only f needs f_prime; phi = f - u f'; the limits by
// evaluation at 1e-200, 1e-300 / 1e200, 1e300; see docs/f-divergences.md). The table's generators give
// them all (all double in, double out):
//
//   std::string name()                     a short name, with its parameter if it has one
//   double f(u), f_prime(u), f_second(u)   f, f', f'' on [0, inf); u = 0 gives the limit at 0+
//                                          (at a kink, f' is a subgradient and f'' is 0)
//   double weight(u)                       h(u) = u^2 f''(u), on [0, +inf] (the ends give the limits),
//                                          computed in a form that does not overflow where h does not
//   double phi(u)                          phi(u) = f(u) - u f'(u) = d/dq [q f(p/q)], on [0, inf), in a
//                                          closed form (no cancellation of f against u f' at large u)
//   double f_at_zero()                     lim_{u->0+} f(u)                  (may be +inf)
//   double slope_at_infinity()             lim_{u->inf} f(u) / u = f'(inf)   (may be +inf)
//   double f_prime_at_zero()               lim_{u->0+} f'(u)                 (may be -inf)
//   double u_f_prime_at_zero()             lim_{u->0+} u f'(u)               (0 when f(0) is finite)
//   double phi_at_zero()                   lim_{u->0+} phi(u),   phi(u) = f(u) - u f'(u)
//   double phi_at_infinity()               lim_{u->inf} phi(u)               (may be -inf)
//   double phi_over_u_at_infinity()        lim_{u->inf} phi(u) / u
//   static constexpr bool has_conjugate    whether the two members below exist:
//   double conjugate(t)                    f*(t) = sup_{u >= 0} (u t - f(u)), for t in the domain
//   Interval conjugate_domain()            where f*(t) is finite
//
// The limits are what make exact zeros exact: the engine (f_divergence.hpp) uses q f(0) where
// p_i = 0 < q_i, p slope_at_infinity where q_i = 0 < p_i, and the other limits for the gradients
// dD/dp_i = f'(r), dD/dq_i = phi(r), dD/dlog p_i = p_i f'(r) (-> q_i u_f_prime_at_zero at p_i = 0)
// and dD/dlog q_i = q_i phi(r) (-> p_i phi_over_u_at_infinity at q_i = 0).
// `detail::is_f_generator_v<G>` checks the required members; the tests define a generator of
// their own (f + c (u - 1)) to keep this contract honest.
//
// Optional scaled form (exact values and gradients at every finite log ratio):
//
//   Scaled scaled_f(l), scaled_f_prime(l), scaled_phi(l)   f, f', phi at u = e^l as x u^k (Scaled)
//
// with x computed from l without leaving the double range (e.g. reverse KL's f = {-l, 0}, Pearson's
// f = {(1 - 1/u)^2, 2} above u = 1): the engine forms q f(r) = x p^k q^(1-k) and the partials in the
// log domain. Every generator of the table but Triangular and TotalVariation has them and is exact for
// every finite log p_i, log q_i; those two are bounded, and their limits at 0 and infinity are already
// their values in double beyond the normal range. A generator without them (detail::f_scaled) is
// evaluated at u = e^l while u is a normal double and f, f', phi are finite, and at its limits beyond.
//
// Optional packet form (the vectorized fast path from logits, detail/fused_f_divergence.hpp):
//
//   template <class V> V f_packet(const V& u) const         f, f', phi on lanes, for V = double and
//   template <class V> V f_prime_packet(const V& u) const   V = a packet of doubles
//   template <class V> V phi_packet(const V& u) const       (simd::Packet<double>, core/simd.hpp)
//
// written with divergence::detail::simd operations, the same formula as the scalar member lane by lane
// (identical results for arithmetic and sqrt; within the vector functions' few ulp for exp, log,
// log1p). The engine evaluates them only at ratios in [e^-700, e^700] (float lanes: [e^-80, e^80])
// and sends any lane where one of them is not finite or beyond 1e150 (float lanes: 1e15) back to
// the scalar members, so they need no limits or
// special cases at 0 and infinity. `detail::has_packet_form_v<G>` checks for the three members;
// a generator without them keeps the scalar loop. With float logits the packet members run on
// double lanes, unless the generator also declares
//
//   static constexpr bool float_lanes = true;
//
// (they must then also take V = a packet of floats): only for generators whose terms and partials
// are bounded by a multiple of p_i + q_i (squared Hellinger, Jensen-Shannon, GAN, generalized JS,
// triangular, total variation), so that the float rounding of log p_i, log q_i and of r costs an
// absolute error of a few eps, inside the fused path's bound (docs/performance.md). Unbounded ones
// (Pearson: q f(r) ~ p^2 / q; KL, reverse KL, Neyman, Jeffreys) lose eps |log r| relative in their
// largest terms and keep double lanes, as do skew KL and skew reverse KL (bounded by
// log(1/alpha) (p + q), without a bound as alpha -> 0). `detail::float_lanes_v<G>` reads the flag.
// A packet member may also return NaN on purpose to hand a lane to the scalar members: total
// variation does so for f' and phi within a few rounding errors of its kink u = 1, where a ratio
// rounded to the other side of 1 would flip the partials' sign.
//
// Conventions: f is defined on u >= 0 only (f = +inf for u < 0), so conjugates are sups over
// u >= 0; where the literature extends f to negative u (Pearson, total variation) the conjugate
// differs below the point where the maximizer would leave u >= 0 (see docs/f-divergences.md).
// Adding c (u - 1) to f changes neither D_f between normalized rows nor h; `Dual<G>` is
// u f(1/u), which swaps the arguments: D_{Dual<G>}(P || Q) = D_G(Q || P).
// Members are plain inline functions so that fused loops can call them per element.

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>

#include "divergence/core/error.hpp"
#include "divergence/core/kernel.hpp"
#include "divergence/core/simd.hpp"
#include "divergence/detail/log_ratio.hpp"

namespace divergence {
namespace generators {

/// An interval of the real line, e.g. the domain of a convex conjugate.
struct Interval {
    double lower = -detail::infinity;
    double upper = detail::infinity;
    bool lower_closed = false;
    bool upper_closed = false;

    bool contains(double t) const
    {
        const bool above = t > lower || (lower_closed && t == lower);
        const bool below = t < upper || (upper_closed && t == upper);
        return above && below;
    }
};

/// x u^k: a quantity of a generator (f, f' or phi) at u = e^l, written so that no part of it leaves the
/// double range however large |l| is. The engine multiplies it by a mass m as x exp(log m + k l), e.g.
/// q f(p/q) = x p^k q^(1-k): Pearson's q (u - 1)^2 above u = 1 is {(1 - 1/u)^2, 2}, i.e. (p - q)^2 / q,
/// finite where u^2 overflows; reverse KL's f = -log u is {-l, 0}, exact where u underflows.
struct Scaled {
    double x = 0.0;  ///< the factor (finite for the built-in generators)
    double k = 0.0;  ///< the power of u
};

}  // namespace generators

namespace detail {

/// u log u with 0 log 0 = 0.
inline double x_log_x(double u) { return u == 0.0 ? 0.0 : u * std::log(u); }

/// The "alpha-logarithm" (e^(x l) - 1) / x, equal to l at x = 0, accurate for small x l.
/// With l = log u it is (u^x - 1) / x; l = -inf (u = 0) gives -1/x for x > 0 and -inf for x <= 0.
inline double alpha_log(double x, double l)
{
    if (x == 0.0) return l;
    return std::expm1(x * l) / x;
}

/// u / (a u + b) for a, b >= 0 (a + b > 0), also at u = +inf and without overflow.
inline double ratio_affine(double u, double a, double b)
{
    return u <= 1.0 ? u / (a * u + b) : 1.0 / (a + b / u);
}

/// w > 0 solving w + log w = y (w = W(e^y), Lambert W of an argument that may overflow):
/// Newton in x = log w on the convex increasing e^x + x - y, started right of the root, so the
/// iterates decrease monotonically to it.
inline double lambert_w_of_exp(double y)
{
    if (y == infinity) return infinity;
    if (y == -infinity) return 0.0;
    double x = y > 1.0 ? std::log(y) : y;
    for (int i = 0; i < 100; ++i) {
        const double w = std::exp(x);
        const double step = (w + x - y) / (w + 1.0);
        x -= step;
        if (!(std::abs(step) > 4e-16 * std::max(1.0, std::abs(x)))) break;
    }
    return std::exp(x);
}

/// log m, m = b u + c at u = e^l, b, c >= 0 with b + c = 1 (both given, so that neither is rounded
/// from the other): log1p(b (u - 1)) where that argument is above -1/2 (accurate near u = 1),
/// log(e^(log b + l) + e^(log c)) elsewhere (u beyond the double range included). Used by the skew
/// and generalized JS generators.
inline double log_affine(double b, double c, double l)
{
    const double a = b * std::expm1(l);
    if (std::isfinite(a) && a > -0.5) return std::log1p(a);
    return log_add_exp(std::log(b) + l, std::log(c));
}

/// log(u / m), m = b u + c at u = e^l (b + c = 1, c > 0): -log(b + c e^-l), through log1p where m/u
/// is within 1/2 of 1, in the log domain elsewhere.
inline double log_ratio_affine(double b, double c, double l)
{
    const double a = c * std::expm1(-l);  // m/u - 1
    if (std::isfinite(a) && a > -0.5) return -std::log1p(a);
    return -log_add_exp(std::log(b), std::log(c) - l);
}

template <class G, class = void>
struct has_scaled_f : std::false_type {};
template <class G>
struct has_scaled_f<G, std::void_t<decltype(std::declval<const G&>().scaled_f(0.0))>> : std::true_type {};
template <class G, class = void>
struct has_scaled_f_prime : std::false_type {};
template <class G>
struct has_scaled_f_prime<G, std::void_t<decltype(std::declval<const G&>().scaled_f_prime(0.0))>> : std::true_type {};
template <class G, class = void>
struct has_scaled_phi : std::false_type {};
template <class G>
struct has_scaled_phi<G, std::void_t<decltype(std::declval<const G&>().scaled_phi(0.0))>> : std::true_type {};

// f, f' and phi of a generator at u = e^l as generators::Scaled (x u^k), for the engine: the
// generator's scaled_f / scaled_f_prime / scaled_phi when it has them (exact for every finite l),
// otherwise from f, f_prime, phi at u, written on the larger mass (k = 0 below u = 1, f/u and phi/u
// with k = 1 above, u f' with k = -1 below) and saturated: a ratio outside [DBL_MIN, DBL_MAX], or a
// value that is not finite, gives the limit on its side.

template <class G>
generators::Scaled f_scaled(const G& g, double l)
{
    if constexpr (has_scaled_f<G>::value) {
        return g.scaled_f(l);
    } else {
        const double u = std::exp(l);
        if (l <= 0.0) {
            const double v = u < DBL_MIN ? g.f_at_zero() : g.f(u);
            return {std::isfinite(v) ? v : g.f_at_zero(), 0.0};
        }
        const double v = u > DBL_MAX ? infinity : g.f(u);
        return {std::isfinite(v) ? v / u : g.slope_at_infinity(), 1.0};
    }
}

template <class G>
generators::Scaled f_prime_scaled(const G& g, double l)
{
    if constexpr (has_scaled_f_prime<G>::value) {
        return g.scaled_f_prime(l);
    } else {
        const double u = std::exp(l);
        if (l <= 0.0) {
            const double v = u < DBL_MIN ? infinity : g.f_prime(u);
            if (std::isfinite(v)) return {u * v, -1.0};
            // The limit: f'(0) where finite, else lim u f'(u) as x u^-1 (0 when that limit is 0).
            const double at_zero = g.f_prime_at_zero();
            if (std::isfinite(at_zero)) return {at_zero, 0.0};
            return {g.u_f_prime_at_zero(), -1.0};
        }
        const double v = u > DBL_MAX ? infinity : g.f_prime(u);
        return {std::isfinite(v) ? v : g.slope_at_infinity(), 0.0};
    }
}

template <class G>
generators::Scaled phi_scaled(const G& g, double l)
{
    if constexpr (has_scaled_phi<G>::value) {
        return g.scaled_phi(l);
    } else {
        const double u = std::exp(l);
        if (l <= 0.0) {
            const double v = u < DBL_MIN ? g.phi_at_zero() : g.phi(u);
            return {std::isfinite(v) ? v : g.phi_at_zero(), 0.0};
        }
        const double v = u > DBL_MAX ? infinity : g.phi(u);
        if (std::isfinite(v)) return {v / u, 1.0};
        const double at_infinity = g.phi_at_infinity();
        if (std::isfinite(at_infinity)) return {at_infinity, 0.0};
        return {g.phi_over_u_at_infinity(), 1.0};
    }
}

/// A constant in every lane of V (a double packet, or double itself).
template <class V>
V splat(double value)
{
    return simd::broadcast<V>(value);
}

inline std::string name_with(const char* name, const char* parameter, double value)
{
    std::ostringstream out;
    out << name << '(' << parameter << '=' << value << ')';
    return out.str();
}

[[noreturn]] inline void fail_parameter(const char* generator, const char* parameter, const char* range, double value)
{
    fail(generator, parameter, describe((std::string("must be ") + range + ", got").c_str(), value));
}

}  // namespace detail

/// Functions for generators of your own written once over their argument type: log, exp, sqrt and
/// log1p of a double, of a SIMD packet of doubles (the vectorized loop) and of a Jet (the derivatives
/// f' and f'' taken from f). Arithmetic operators work on all three (on packets with GCC and Clang).
namespace math {

/// Value and derivative of a function of one variable (forward-mode differentiation): f(Jet{u, 1})
/// gives {f(u), f'(u)}; Jet<Jet<double>> gives f'' as well.
template <class V>
struct Jet {
    V value;
    V slope;
};

template <class V> V log(const V& x) { return detail::simd::log(x); }
template <class V> V exp(const V& x) { return detail::simd::exp(x); }
template <class V> V sqrt(const V& x) { return detail::simd::sqrt(x); }
template <class V> V log1p(const V& x) { return detail::simd::log1p(x); }
template <class V> Jet<V> log(const Jet<V>& x) { return {math::log(x.value), x.slope / x.value}; }
template <class V> Jet<V> exp(const Jet<V>& x)
{
    const V e = math::exp(x.value);
    return {e, x.slope * e};
}
template <class V> Jet<V> sqrt(const Jet<V>& x)
{
    const V s = math::sqrt(x.value);
    return {s, x.slope / (s + s)};
}
template <class V> Jet<V> log1p(const Jet<V>& x) { return {math::log1p(x.value), x.slope / (x.value + 1.0)}; }

template <class V> Jet<V> operator-(const Jet<V>& a) { return {-a.value, -a.slope}; }
template <class V> Jet<V> operator+(const Jet<V>& a, const Jet<V>& b) { return {a.value + b.value, a.slope + b.slope}; }
template <class V> Jet<V> operator-(const Jet<V>& a, const Jet<V>& b) { return {a.value - b.value, a.slope - b.slope}; }
template <class V> Jet<V> operator*(const Jet<V>& a, const Jet<V>& b)
{
    return {a.value * b.value, a.slope * b.value + a.value * b.slope};
}
template <class V> Jet<V> operator/(const Jet<V>& a, const Jet<V>& b)
{
    return {a.value / b.value, (a.slope * b.value - a.value * b.slope) / (b.value * b.value)};
}
template <class V> Jet<V> operator+(const Jet<V>& a, double c) { return {a.value + c, a.slope}; }
template <class V> Jet<V> operator+(double c, const Jet<V>& a) { return {c + a.value, a.slope}; }
template <class V> Jet<V> operator-(const Jet<V>& a, double c) { return {a.value - c, a.slope}; }
template <class V> Jet<V> operator-(double c, const Jet<V>& a) { return {c - a.value, -a.slope}; }
template <class V> Jet<V> operator*(const Jet<V>& a, double c) { return {a.value * c, a.slope * c}; }
template <class V> Jet<V> operator*(double c, const Jet<V>& a) { return {c * a.value, c * a.slope}; }
template <class V> Jet<V> operator/(const Jet<V>& a, double c) { return {a.value / c, a.slope / c}; }
template <class V> Jet<V> operator/(double c, const Jet<V>& a)
{
    return {c / a.value, -(c * a.slope) / (a.value * a.value)};
}

}  // namespace math

namespace detail {

// Packets are compiler vector types whose alignment attributes do not matter as template arguments.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

#define DIVERGENCE_GENERATOR_MEMBER(trait, expression)                                      \
    template <class G, class = void>                                                        \
    struct trait : std::false_type {};                                                      \
    template <class G>                                                                      \
    struct trait<G, std::void_t<decltype(expression)>> : std::true_type {};                 \
    template <class G>                                                                      \
    inline constexpr bool trait##_v = trait<G>::value;

template <class G, class = void>
struct float_lanes_flag : std::false_type {};
template <class G>
struct float_lanes_flag<G, std::void_t<decltype(G::float_lanes)>> : std::bool_constant<G::float_lanes> {};

#define DIVERGENCE_G std::declval<const G&>()
DIVERGENCE_GENERATOR_MEMBER(has_f, double(DIVERGENCE_G.f(1.0)))
DIVERGENCE_GENERATOR_MEMBER(has_f_prime, double(DIVERGENCE_G.f_prime(1.0)))
DIVERGENCE_GENERATOR_MEMBER(has_f_second, double(DIVERGENCE_G.f_second(1.0)))
DIVERGENCE_GENERATOR_MEMBER(has_weight, double(DIVERGENCE_G.weight(1.0)))
DIVERGENCE_GENERATOR_MEMBER(has_phi, double(DIVERGENCE_G.phi(1.0)))
DIVERGENCE_GENERATOR_MEMBER(has_name, std::string(DIVERGENCE_G.name()))
DIVERGENCE_GENERATOR_MEMBER(has_conjugate_flag, bool(G::has_conjugate))
DIVERGENCE_GENERATOR_MEMBER(has_f_at_zero, double(DIVERGENCE_G.f_at_zero()))
DIVERGENCE_GENERATOR_MEMBER(has_slope_at_infinity, double(DIVERGENCE_G.slope_at_infinity()))
DIVERGENCE_GENERATOR_MEMBER(has_f_prime_at_zero, double(DIVERGENCE_G.f_prime_at_zero()))
DIVERGENCE_GENERATOR_MEMBER(has_u_f_prime_at_zero, double(DIVERGENCE_G.u_f_prime_at_zero()))
DIVERGENCE_GENERATOR_MEMBER(has_phi_at_zero, double(DIVERGENCE_G.phi_at_zero()))
DIVERGENCE_GENERATOR_MEMBER(has_phi_at_infinity, double(DIVERGENCE_G.phi_at_infinity()))
DIVERGENCE_GENERATOR_MEMBER(has_phi_over_u_at_infinity, double(DIVERGENCE_G.phi_over_u_at_infinity()))
DIVERGENCE_GENERATOR_MEMBER(has_packet_members,
                            (DIVERGENCE_G.template f_packet<simd::Packet<double>>(std::declval<const simd::Packet<double>&>()),
                             DIVERGENCE_G.template f_prime_packet<simd::Packet<double>>(std::declval<const simd::Packet<double>&>()),
                             DIVERGENCE_G.template phi_packet<simd::Packet<double>>(std::declval<const simd::Packet<double>&>()),
                             double(DIVERGENCE_G.template f_packet<double>(1.0))))
#undef DIVERGENCE_G
#undef DIVERGENCE_GENERATOR_MEMBER

/// Whether G's member `name` (f, f_prime or phi), called with a V, returns a V: a member written
/// once over its argument type.
template <class G, class V, class = void>
struct generic_f : std::false_type {};
template <class G, class V>
struct generic_f<G, V, std::enable_if_t<std::is_same_v<decltype(std::declval<const G&>().f(std::declval<const V&>())), V>>>
    : std::true_type {};
template <class G, class V, class = void>
struct generic_f_prime : std::false_type {};
template <class G, class V>
struct generic_f_prime<G, V, std::enable_if_t<std::is_same_v<decltype(std::declval<const G&>().f_prime(std::declval<const V&>())), V>>>
    : std::true_type {};
template <class G, class V, class = void>
struct generic_phi : std::false_type {};
template <class G, class V>
struct generic_phi<G, V, std::enable_if_t<std::is_same_v<decltype(std::declval<const G&>().phi(std::declval<const V&>())), V>>>
    : std::true_type {};

/// f written over its argument type, so f' (and f'') can be derived with math::Jet.
template <class G>
inline constexpr bool derivable_f_v = generic_f<G, math::Jet<double>>::value;

/// f (and f' unless derived) usable on packets of doubles: the vectorized loop from logits.
template <class G>
inline constexpr bool packet_f_v =
#if defined(__GNUC__)
    generic_f<G, simd::Packet<double>>::value &&
    (generic_f_prime<G, simd::Packet<double>>::value || (!has_f_prime_v<G> && generic_f<G, math::Jet<simd::Packet<double>>>::value));
#else
    false;  // packets have arithmetic operators only with GCC and Clang
#endif

/// lim fn(u) as u -> 0 (at_zero) or infinity, by evaluation at 1e-200 and 1e-300 (1e200, 1e300): the
/// last value where the two agree to 1e-6 (relative, absolute below 1) or it is infinite, else the
/// infinity in the direction of growth.
template <class Fn>
double limit_by_evaluation(const Fn& fn, bool at_zero)
{
    const double a = fn(at_zero ? 1e-200 : 1e200), b = fn(at_zero ? 1e-300 : 1e300);
    if (std::isinf(b) || std::abs(b - a) <= 1e-6 * std::max(1.0, std::abs(b))) return b;
    return b > a ? infinity : -infinity;
}

/// A generator with every member the engine uses, from one that has at least f (and f' unless f is
/// written over its argument type). What G has is forwarded; the rest is derived:
///   f'  = f(Jet{u, 1}).slope, f'' = f'(Jet{u, 1}).slope or f(Jet<Jet>).slope.slope (math::Jet);
///   phi = f - u f'; weight h = (u f''(u)) u, at u clamped to the normal doubles;
///   the limits (f_at_zero, slope_at_infinity, ...) by evaluation at 1e-200, 1e-300 / 1e200, 1e300;
///   name "f"; has_conjugate false;
///   the packet members from a generic f (and f_prime, phi), for the vectorized loop.
template <class G>
struct Complete {
    G base;

    Complete() = default;
    Complete(const G& generator) : base(generator) {}  // implicit: kernels are brace-initialized from G

    static constexpr bool has_conjugate = [] {
        if constexpr (has_conjugate_flag_v<G>) {
            return bool(G::has_conjugate);
        } else {
            return false;
        }
    }();
    static constexpr bool float_lanes = float_lanes_flag<G>::value;

    std::string name() const
    {
        if constexpr (has_name_v<G>) {
            return base.name();
        } else {
            return "f";
        }
    }
    double f(double u) const { return double(base.f(u)); }
    double f_prime(double u) const
    {
        if constexpr (has_f_prime_v<G>) {
            return double(base.f_prime(u));
        } else {
            return base.f(math::Jet<double>{u, 1.0}).slope;
        }
    }
    double f_second(double u) const
    {
        if constexpr (has_f_second_v<G>) {
            return double(base.f_second(u));
        } else if constexpr (generic_f_prime<G, math::Jet<double>>::value) {
            return base.f_prime(math::Jet<double>{u, 1.0}).slope;
        } else {
            using J = math::Jet<math::Jet<double>>;
            return base.f(J{{u, 1.0}, {1.0, 0.0}}).slope.slope;
        }
    }
    double weight(double u) const
    {
        if constexpr (has_weight_v<G>) {
            return double(base.weight(u));
        } else {
            const double w = u < DBL_MIN ? DBL_MIN : (u > DBL_MAX ? DBL_MAX : u);
            return (w * f_second(w)) * w;
        }
    }
    double phi(double u) const
    {
        if constexpr (has_phi_v<G>) {
            return double(base.phi(u));
        } else {
            return f(u) - u * f_prime(u);
        }
    }
    double f_at_zero() const
    {
        if constexpr (has_f_at_zero_v<G>) {
            return base.f_at_zero();
        } else {
            return limit_by_evaluation([&](double u) { return f(u); }, true);
        }
    }
    double slope_at_infinity() const
    {
        if constexpr (has_slope_at_infinity_v<G>) {
            return base.slope_at_infinity();
        } else {
            return limit_by_evaluation([&](double u) { return f(u) / u; }, false);
        }
    }
    double f_prime_at_zero() const
    {
        if constexpr (has_f_prime_at_zero_v<G>) {
            return base.f_prime_at_zero();
        } else {
            return limit_by_evaluation([&](double u) { return f_prime(u); }, true);
        }
    }
    double u_f_prime_at_zero() const
    {
        if constexpr (has_u_f_prime_at_zero_v<G>) {
            return base.u_f_prime_at_zero();
        } else {
            return limit_by_evaluation([&](double u) { return u * f_prime(u); }, true);
        }
    }
    double phi_at_zero() const
    {
        if constexpr (has_phi_at_zero_v<G>) {
            return base.phi_at_zero();
        } else {
            return limit_by_evaluation([&](double u) { return phi(u); }, true);
        }
    }
    double phi_at_infinity() const
    {
        if constexpr (has_phi_at_infinity_v<G>) {
            return base.phi_at_infinity();
        } else {
            return limit_by_evaluation([&](double u) { return phi(u); }, false);
        }
    }
    double phi_over_u_at_infinity() const
    {
        if constexpr (has_phi_over_u_at_infinity_v<G>) {
            return base.phi_over_u_at_infinity();
        } else {
            return limit_by_evaluation([&](double u) { return phi(u) / u; }, false);
        }
    }
    template <class H = G, class = std::enable_if_t<has_conjugate_flag_v<H>>>
    double conjugate(double t) const
    {
        return base.conjugate(t);
    }
    template <class H = G, class = std::enable_if_t<has_conjugate_flag_v<H>>>
    generators::Interval conjugate_domain() const
    {
        return base.conjugate_domain();
    }

    // The scaled forms where G has them (detail::f_scaled and its siblings look for them).
    template <class H = G>
    auto scaled_f(double l) const -> decltype(std::declval<const H&>().scaled_f(l))
    {
        return base.scaled_f(l);
    }
    template <class H = G>
    auto scaled_f_prime(double l) const -> decltype(std::declval<const H&>().scaled_f_prime(l))
    {
        return base.scaled_f_prime(l);
    }
    template <class H = G>
    auto scaled_phi(double l) const -> decltype(std::declval<const H&>().scaled_phi(l))
    {
        return base.scaled_phi(l);
    }

    // The packet members: G's own, or its f (f_prime, phi) written over the argument type.
    template <class V, class H = G, class = std::enable_if_t<has_packet_members_v<H> || packet_f_v<H>>>
    V f_packet(const V& u) const
    {
        if constexpr (has_packet_members_v<G>) {
            return base.template f_packet<V>(u);
        } else {
            return base.f(u);
        }
    }
    template <class V, class H = G, class = std::enable_if_t<has_packet_members_v<H> || packet_f_v<H>>>
    V f_prime_packet(const V& u) const
    {
        if constexpr (has_packet_members_v<G>) {
            return base.template f_prime_packet<V>(u);
        } else if constexpr (generic_f_prime<G, V>::value) {
            return base.f_prime(u);
        } else {
            return base.f(math::Jet<V>{u, simd::broadcast<V>(1.0)}).slope;
        }
    }
    template <class V, class H = G, class = std::enable_if_t<has_packet_members_v<H> || packet_f_v<H>>>
    V phi_packet(const V& u) const
    {
        if constexpr (has_packet_members_v<G>) {
            return base.template phi_packet<V>(u);
        } else if constexpr (generic_phi<G, V>::value) {
            return base.phi(u);
        } else {
            return simd::sub(f_packet<V>(u), simd::mul(u, f_prime_packet<V>(u)));
        }
    }
};

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

}  // namespace detail

/// The generators of common f-divergences (see the header comment for the members and
/// docs/f-divergences.md for the table). Parameterized generators throw std::invalid_argument
/// naming the generator and the parameter when it is out of range.
namespace generators {

/// Forward KL(P || Q): f(u) = u log u, h(u) = u, f*(t) = e^(t-1) on R.
struct ForwardKl {
    static constexpr bool has_conjugate = true;
    std::string name() const { return "forward_kl"; }
    // At l = log u, exact for every finite l: f = u l, f' = l + 1, phi = -u.
    Scaled scaled_f(double l) const { return {l, 1.0}; }
    Scaled scaled_f_prime(double l) const { return {l + 1.0, 0.0}; }
    Scaled scaled_phi(double) const { return {-1.0, 1.0}; }
    double f(double u) const { return detail::x_log_x(u); }
    double f_prime(double u) const { return std::log(u) + 1.0; }
    double f_second(double u) const { return 1.0 / u; }
    double phi(double u) const { return -u; }
    template <class V> V f_packet(const V& u) const { return detail::simd::mul(u, detail::simd::log(u)); }
    template <class V> V f_prime_packet(const V& u) const
    {
        return detail::simd::add(detail::simd::log(u), detail::splat<V>(1.0));
    }
    template <class V> V phi_packet(const V& u) const { return detail::simd::sub(detail::splat<V>(0.0), u); }
    double weight(double u) const { return u; }
    double conjugate(double t) const { return std::exp(t - 1.0); }
    Interval conjugate_domain() const { return {}; }
    double f_at_zero() const { return 0.0; }
    double slope_at_infinity() const { return detail::infinity; }
    double f_prime_at_zero() const { return -detail::infinity; }
    double u_f_prime_at_zero() const { return 0.0; }
    double phi_at_zero() const { return 0.0; }  // phi = -u
    double phi_at_infinity() const { return -detail::infinity; }
    double phi_over_u_at_infinity() const { return -1.0; }
};

/// Reverse KL(Q || P): f(u) = -log u, h(u) = 1 (variational score distillation),
/// f*(t) = -1 - log(-t) for t < 0.
struct ReverseKl {
    static constexpr bool has_conjugate = true;
    std::string name() const { return "reverse_kl"; }
    // At l = log u: f = -l, f' = -1/u, phi = 1 - l.
    Scaled scaled_f(double l) const { return {-l, 0.0}; }
    Scaled scaled_f_prime(double) const { return {-1.0, -1.0}; }
    Scaled scaled_phi(double l) const { return {1.0 - l, 0.0}; }
    double f(double u) const { return -std::log(u); }
    double f_prime(double u) const { return -1.0 / u; }
    double f_second(double u) const { return 1.0 / u / u; }
    double phi(double u) const { return 1.0 - std::log(u); }
    template <class V> V f_packet(const V& u) const { return detail::simd::sub(detail::splat<V>(0.0), detail::simd::log(u)); }
    template <class V> V f_prime_packet(const V& u) const { return detail::simd::div(detail::splat<V>(-1.0), u); }
    template <class V> V phi_packet(const V& u) const { return detail::simd::sub(detail::splat<V>(1.0), detail::simd::log(u)); }
    double weight(double) const { return 1.0; }
    double conjugate(double t) const { return -1.0 - std::log(-t); }
    Interval conjugate_domain() const { return {-detail::infinity, 0.0, false, false}; }
    double f_at_zero() const { return detail::infinity; }
    double slope_at_infinity() const { return 0.0; }
    double f_prime_at_zero() const { return -detail::infinity; }
    double u_f_prime_at_zero() const { return -1.0; }
    double phi_at_zero() const { return detail::infinity; }  // phi = 1 - log u
    double phi_at_infinity() const { return -detail::infinity; }
    double phi_over_u_at_infinity() const { return 0.0; }
};

/// Pearson chi^2: f(u) = (u - 1)^2, h(u) = 2 u^2. With f restricted to u >= 0, f*(t) = t + t^2/4
/// for t >= -2 and -1 below (the maximizer 1 + t/2 would be negative).
struct PearsonChiSquared {
    static constexpr bool has_conjugate = true;
    std::string name() const { return "pearson_chi_squared"; }
    // Above u = 1 in powers of u: f = u^2 (1 - 1/u)^2 (q f = (p - q)^2 / q), f' = 2 u (1 - 1/u),
    // phi = u^2 (1/u^2 - 1).
    Scaled scaled_f(double l) const
    {
        const double d = std::expm1(l <= 0.0 ? l : -l);
        return {d * d, l <= 0.0 ? 0.0 : 2.0};
    }
    Scaled scaled_f_prime(double l) const
    {
        if (l <= 0.0) return {2.0 * std::expm1(l), 0.0};
        return {-2.0 * std::expm1(-l), 1.0};
    }
    Scaled scaled_phi(double l) const
    {
        if (l <= 0.0) return {-std::expm1(2.0 * l), 0.0};
        return {std::expm1(-2.0 * l), 2.0};
    }
    double f(double u) const { return (u - 1.0) * (u - 1.0); }
    double f_prime(double u) const { return 2.0 * (u - 1.0); }
    double f_second(double) const { return 2.0; }
    double phi(double u) const { return (1.0 - u) * (1.0 + u); }
    template <class V> V f_packet(const V& u) const
    {
        const V d = detail::simd::sub(u, detail::splat<V>(1.0));
        return detail::simd::mul(d, d);
    }
    template <class V> V f_prime_packet(const V& u) const
    {
        return detail::simd::mul(detail::splat<V>(2.0), detail::simd::sub(u, detail::splat<V>(1.0)));
    }
    template <class V> V phi_packet(const V& u) const
    {
        const V one = detail::splat<V>(1.0);
        return detail::simd::mul(detail::simd::sub(one, u), detail::simd::add(one, u));
    }
    double weight(double u) const { return 2.0 * u * u; }
    double conjugate(double t) const { return t < -2.0 ? -1.0 : t + 0.25 * t * t; }
    Interval conjugate_domain() const { return {}; }
    double f_at_zero() const { return 1.0; }
    double slope_at_infinity() const { return detail::infinity; }
    double f_prime_at_zero() const { return -2.0; }
    double u_f_prime_at_zero() const { return 0.0; }
    double phi_at_zero() const { return 1.0; }  // phi = 1 - u^2
    double phi_at_infinity() const { return -detail::infinity; }
    double phi_over_u_at_infinity() const { return -detail::infinity; }
};

/// Neyman chi^2: f(u) = (1 - u)^2 / u, h(u) = 2 / u, f*(t) = 2 - 2 sqrt(1 - t) for t < 1.
struct NeymanChiSquared {
    static constexpr bool has_conjugate = true;
    std::string name() const { return "neyman_chi_squared"; }
    // Below u = 1 in powers of u: f = (1 - u)^2 / u (q f = (p - q)^2 / p), f' = (u^2 - 1) / u^2,
    // phi = 2 (1 - u) / u; above, f = u (1 - 1/u)^2.
    Scaled scaled_f(double l) const
    {
        const double d = std::expm1(l <= 0.0 ? l : -l);
        return {d * d, l <= 0.0 ? -1.0 : 1.0};
    }
    Scaled scaled_f_prime(double l) const
    {
        if (l <= 0.0) return {std::expm1(2.0 * l), -2.0};
        return {-std::expm1(-2.0 * l), 0.0};
    }
    Scaled scaled_phi(double l) const
    {
        if (l <= 0.0) return {-2.0 * std::expm1(l), -1.0};
        return {2.0 * std::expm1(-l), 0.0};
    }
    double f(double u) const { return (1.0 - u) * ((1.0 - u) / u); }
    double f_prime(double u) const { return 1.0 - 1.0 / u / u; }
    double f_second(double u) const { return 2.0 / u / u / u; }
    double phi(double u) const { return 2.0 / u - 2.0; }
    template <class V> V f_packet(const V& u) const
    {
        const V d = detail::simd::sub(detail::splat<V>(1.0), u);
        return detail::simd::mul(d, detail::simd::div(d, u));
    }
    template <class V> V f_prime_packet(const V& u) const
    {
        const V one = detail::splat<V>(1.0);
        return detail::simd::sub(one, detail::simd::div(detail::simd::div(one, u), u));
    }
    template <class V> V phi_packet(const V& u) const
    {
        return detail::simd::sub(detail::simd::div(detail::splat<V>(2.0), u), detail::splat<V>(2.0));
    }
    double weight(double u) const { return 2.0 / u; }
    double conjugate(double t) const { return 2.0 - 2.0 * std::sqrt(1.0 - t); }
    Interval conjugate_domain() const { return {-detail::infinity, 1.0, false, false}; }
    double f_at_zero() const { return detail::infinity; }
    double slope_at_infinity() const { return 1.0; }
    double f_prime_at_zero() const { return -detail::infinity; }
    double u_f_prime_at_zero() const { return -detail::infinity; }  // u - 1/u
    double phi_at_zero() const { return detail::infinity; }         // phi = 2/u - 2
    double phi_at_infinity() const { return -2.0; }
    double phi_over_u_at_infinity() const { return 0.0; }
};

/// Squared Hellinger: f(u) = (sqrt u - 1)^2, so D = sum (sqrt p - sqrt q)^2 (no factor 1/2);
/// h(u) = sqrt(u) / 2, f*(t) = t / (1 - t) for t < 1.
struct SquaredHellinger {
    static constexpr bool has_conjugate = true;
    /// Terms (sqrt p - sqrt q)^2 <= p + q, partials p - sqrt(pq), q - sqrt(pq): float lanes keep the bound.
    static constexpr bool float_lanes = true;
    std::string name() const { return "squared_hellinger"; }
    // In powers of u: f = (sqrt u - 1)^2 = u (1 - u^-1/2)^2 above 1, f' = u^-1/2 (u^1/2 - 1) below 1,
    // phi = u^1/2 (u^-1/2 - 1) above 1.
    Scaled scaled_f(double l) const
    {
        const double d = std::expm1(0.5 * (l <= 0.0 ? l : -l));
        return {d * d, l <= 0.0 ? 0.0 : 1.0};
    }
    Scaled scaled_f_prime(double l) const
    {
        if (l <= 0.0) return {std::expm1(0.5 * l), -0.5};
        return {-std::expm1(-0.5 * l), 0.0};
    }
    Scaled scaled_phi(double l) const
    {
        if (l <= 0.0) return {-std::expm1(0.5 * l), 0.0};
        return {std::expm1(-0.5 * l), 0.5};
    }
    double f(double u) const
    {
        const double s = std::sqrt(u) - 1.0;
        return s * s;
    }
    double f_prime(double u) const { return 1.0 - 1.0 / std::sqrt(u); }
    double f_second(double u) const { return 0.5 / (u * std::sqrt(u)); }
    double phi(double u) const { return 1.0 - std::sqrt(u); }
    template <class V> V f_packet(const V& u) const
    {
        const V s = detail::simd::sub(detail::simd::sqrt(u), detail::splat<V>(1.0));
        return detail::simd::mul(s, s);
    }
    template <class V> V f_prime_packet(const V& u) const
    {
        const V one = detail::splat<V>(1.0);
        return detail::simd::sub(one, detail::simd::div(one, detail::simd::sqrt(u)));
    }
    template <class V> V phi_packet(const V& u) const
    {
        return detail::simd::sub(detail::splat<V>(1.0), detail::simd::sqrt(u));
    }
    double weight(double u) const { return 0.5 * std::sqrt(u); }
    double conjugate(double t) const { return t / (1.0 - t); }
    Interval conjugate_domain() const { return {-detail::infinity, 1.0, false, false}; }
    double f_at_zero() const { return 1.0; }
    double slope_at_infinity() const { return 1.0; }
    double f_prime_at_zero() const { return -detail::infinity; }
    double u_f_prime_at_zero() const { return 0.0; }
    double phi_at_zero() const { return 1.0; }  // phi = 1 - sqrt u
    double phi_at_infinity() const { return -detail::infinity; }
    double phi_over_u_at_infinity() const { return 0.0; }
};

/// Jeffreys (symmetric KL, KL(P||Q) + KL(Q||P)): f(u) = (u - 1) log u, h(u) = u + 1,
/// f*(t) = W + 1/W + t - 2 with W = LambertW(e^(1 - t)), on R.
struct Jeffreys {
    static constexpr bool has_conjugate = true;
    std::string name() const { return "jeffreys"; }
    // At l = log u: f = (u - 1) l = u (1 - 1/u) l, f' = l + 1 - 1/u = (u l + u - 1) / u,
    // phi = 1 - u - l = u (1/u - 1 - l/u).
    Scaled scaled_f(double l) const
    {
        if (l <= 0.0) return {std::expm1(l) * l, 0.0};
        return {-std::expm1(-l) * l, 1.0};
    }
    Scaled scaled_f_prime(double l) const
    {
        if (l <= 0.0) return {std::exp(l) * l + std::expm1(l), -1.0};
        return {l - std::expm1(-l), 0.0};
    }
    Scaled scaled_phi(double l) const
    {
        if (l <= 0.0) return {-std::expm1(l) - l, 0.0};
        return {std::expm1(-l) - l * std::exp(-l), 1.0};
    }
    double f(double u) const { return u == 1.0 ? 0.0 : (u - 1.0) * std::log(u); }
    double f_prime(double u) const { return u == 0.0 ? -detail::infinity : std::log(u) + 1.0 - 1.0 / u; }
    double f_second(double u) const { return (1.0 / u) * (1.0 + 1.0 / u); }
    double phi(double u) const { return 1.0 - u - std::log(u); }
    // On lanes u > 0 (the engine's range), where (u - 1) log u is 0 at u = 1 without a branch.
    template <class V> V f_packet(const V& u) const
    {
        return detail::simd::mul(detail::simd::sub(u, detail::splat<V>(1.0)), detail::simd::log(u));
    }
    template <class V> V f_prime_packet(const V& u) const
    {
        const V one = detail::splat<V>(1.0);
        return detail::simd::sub(detail::simd::add(detail::simd::log(u), one), detail::simd::div(one, u));
    }
    template <class V> V phi_packet(const V& u) const
    {
        return detail::simd::sub(detail::simd::sub(detail::splat<V>(1.0), u), detail::simd::log(u));
    }
    double weight(double u) const { return u + 1.0; }
    double conjugate(double t) const
    {
        const double w = detail::lambert_w_of_exp(1.0 - t);
        return w + 1.0 / w + t - 2.0;
    }
    Interval conjugate_domain() const { return {}; }
    double f_at_zero() const { return detail::infinity; }
    double slope_at_infinity() const { return detail::infinity; }
    double f_prime_at_zero() const { return -detail::infinity; }
    double u_f_prime_at_zero() const { return -1.0; }
    double phi_at_zero() const { return detail::infinity; }  // phi = 1 - u - log u
    double phi_at_infinity() const { return -detail::infinity; }
    double phi_over_u_at_infinity() const { return -1.0; }
};

/// Jensen-Shannon in the f-GAN form: f(u) = u log u - (u + 1) log((u + 1)/2), which gives
/// D_f = KL(P||M) + KL(Q||M) = 2 JSD(P, Q) (M = (P + Q)/2): twice divergence::js.
/// h(u) = u / (u + 1); f*(t) = -log(2 - e^t) for t < log 2.
struct JensenShannon {
    static constexpr bool has_conjugate = true;
    /// Terms p log(2p/(p+q)) + q log(2q/(p+q)) <= (p + q) log 2, partials p log(2p/(p+q)) and
    /// q log(2q/(p+q)) bounded by p + q: float lanes keep the bound.
    static constexpr bool float_lanes = true;
    std::string name() const { return "jensen_shannon"; }
    // At l = log u: f' = log(2u / (u + 1)) = l + log 2 - log1p(u) (u < 1/2) or log 2 - log1p(1/u)
    // (u > 2); phi = -log((u + 1) / 2) = -(l - log 2 + log1p(1/u)) above u = 2.
    Scaled scaled_f_prime(double l) const
    {
        const double u = std::exp(l);
        if (u < 0.5) return {l + std::log(2.0) - std::log1p(u), 0.0};
        if (u > 2.0) return {std::log(2.0) - std::log1p(std::exp(-l)), 0.0};
        return {log_ratio(u), 0.0};
    }
    Scaled scaled_phi(double l) const
    {
        if (l > std::log(2.0)) return {std::log(2.0) - l - std::log1p(std::exp(-l)), 0.0};
        return {-std::log1p(0.5 * std::expm1(l)), 0.0};
    }
    double f(double u) const
    {
        if (u == 0.0) return std::log(2.0);
        return u * log_ratio(u) - std::log1p(0.5 * (u - 1.0));
    }
    double f_prime(double u) const { return log_ratio(u); }
    double f_second(double u) const { return 1.0 / u / (u + 1.0); }
    double phi(double u) const { return -std::log1p(0.5 * (u - 1.0)); }
    template <class V> V f_packet(const V& u) const
    {
        return detail::simd::sub(detail::simd::mul(u, log_ratio_packet(u)), log_half_sum(u));
    }
    template <class V> V f_prime_packet(const V& u) const { return log_ratio_packet(u); }
    template <class V> V phi_packet(const V& u) const
    {
        return detail::simd::sub(detail::splat<V>(0.0), log_half_sum(u));
    }
    double weight(double u) const { return detail::ratio_affine(u, 1.0, 1.0); }
    double conjugate(double t) const { return -std::log(2.0 - std::exp(t)); }
    Interval conjugate_domain() const { return {-detail::infinity, std::log(2.0), false, false}; }
    double f_at_zero() const { return std::log(2.0); }
    double slope_at_infinity() const { return std::log(2.0); }
    double f_prime_at_zero() const { return -detail::infinity; }
    double u_f_prime_at_zero() const { return 0.0; }
    double phi_at_zero() const { return std::log(2.0); }  // phi = log(2 / (u + 1))
    double phi_at_infinity() const { return -detail::infinity; }
    double phi_over_u_at_infinity() const { return 0.0; }

private:
    // log(2u / (u + 1)): through log1p near u = 1; directly below 1/2, where (u - 1)/(u + 1)
    // would round to -1 for tiny u.
    static double log_ratio(double u)
    {
        return u < 0.5 ? std::log(2.0 * u / (u + 1.0)) : std::log1p((u - 1.0) / (u + 1.0));
    }
    // log_ratio on lanes: both branches, selected.
    template <class V>
    static V log_ratio_packet(const V& u)
    {
        namespace simd = detail::simd;
        const V one = detail::splat<V>(1.0);
        const V sum = simd::add(u, one);
        const V low = simd::log(simd::div(simd::mul(detail::splat<V>(2.0), u), sum));
        const V high = simd::log1p(simd::div(simd::sub(u, one), sum));
        return simd::select(simd::less(u, detail::splat<V>(0.5)), low, high);
    }
    // log((u + 1) / 2) = log1p((u - 1) / 2).
    template <class V>
    static V log_half_sum(const V& u)
    {
        return detail::simd::log1p(detail::simd::mul(detail::splat<V>(0.5), detail::simd::sub(u, detail::splat<V>(1.0))));
    }
};

/// Original GAN: f(u) = u log u - (u + 1) log(u + 1) = 2 JSD-generator - log 4, so f(1) = -log 4
/// (not 0) and D_f = 2 JSD - log 4 between normalized rows. h(u) = u / (u + 1);
/// f*(t) = -log(1 - e^t) for t < 0.
struct Gan {
    static constexpr bool has_conjugate = true;
    /// Terms -p log(1 + q/p) - q log(1 + p/q) (each part below q, resp. p), partials -p log(1 + q/p)
    /// and -q log(1 + p/q): bounded by p + q, float lanes keep the bound.
    static constexpr bool float_lanes = true;
    std::string name() const { return "gan"; }
    // At l = log u: f' = -log1p(1/u) = l - log1p(u), phi = -log1p(u) = -(l + log1p(1/u)) above u = 1.
    Scaled scaled_f_prime(double l) const
    {
        if (l <= 0.0) return {l - std::log1p(std::exp(l)), 0.0};
        return {-std::log1p(std::exp(-l)), 0.0};
    }
    Scaled scaled_phi(double l) const
    {
        if (l <= 0.0) return {-std::log1p(std::exp(l)), 0.0};
        return {-(l + std::log1p(std::exp(-l))), 0.0};
    }
    double f(double u) const
    {
        if (u == 0.0) return 0.0;
        return -u * std::log1p(1.0 / u) - std::log1p(u);
    }
    double f_prime(double u) const { return -std::log1p(1.0 / u); }
    double f_second(double u) const { return 1.0 / u / (u + 1.0); }
    double phi(double u) const { return -std::log1p(u); }
    template <class V> V f_packet(const V& u) const
    {
        namespace simd = detail::simd;
        const V zero = detail::splat<V>(0.0);
        const V head = simd::mul(simd::sub(zero, u), simd::log1p(simd::div(detail::splat<V>(1.0), u)));
        return simd::sub(head, simd::log1p(u));
    }
    template <class V> V f_prime_packet(const V& u) const
    {
        return detail::simd::sub(detail::splat<V>(0.0), detail::simd::log1p(detail::simd::div(detail::splat<V>(1.0), u)));
    }
    template <class V> V phi_packet(const V& u) const
    {
        return detail::simd::sub(detail::splat<V>(0.0), detail::simd::log1p(u));
    }
    double weight(double u) const { return detail::ratio_affine(u, 1.0, 1.0); }
    double conjugate(double t) const { return -std::log(-std::expm1(t)); }
    Interval conjugate_domain() const { return {-detail::infinity, 0.0, false, false}; }
    double f_at_zero() const { return 0.0; }
    double slope_at_infinity() const { return 0.0; }
    double f_prime_at_zero() const { return -detail::infinity; }
    double u_f_prime_at_zero() const { return 0.0; }
    double phi_at_zero() const { return 0.0; }  // phi = -log(u + 1)
    double phi_at_infinity() const { return -detail::infinity; }
    double phi_over_u_at_infinity() const { return 0.0; }
};

/// Generalized (skew) Jensen-Shannon JSD_beta = beta KL(P||M) + (1-beta) KL(Q||M), M = beta P + (1-beta) Q
/// (GKD's JSD(beta), divergence::generalized_js): f(u) = beta u log u - m log m, m = beta u + 1 - beta.
/// h(u) = beta (1-beta) u / m; f*(t) = (1-beta) log((1-beta) / (1 - beta e^(t/beta))) for
/// t < -beta log beta. beta in [0, 1]; at beta = 0 and 1 the generator is identically 0.
class GeneralizedJs {
public:
    static constexpr bool has_conjugate = true;
    /// Terms beta p log(p/M) - (1-beta) q log(M/q), M = beta p + (1-beta) q, and the partials
    /// beta p log(p/M), -(1-beta) q log(M/q): bounded by p + q for every beta, float lanes keep the bound.
    static constexpr bool float_lanes = true;
    explicit GeneralizedJs(double beta) : beta_(beta)
    {
        if (!(beta >= 0.0 && beta <= 1.0)) detail::fail_parameter("generators::GeneralizedJs", "beta", "in [0, 1]", beta);
    }
    double beta() const { return beta_; }
    std::string name() const { return detail::name_with("generalized_js", "beta", beta_); }
    // At l = log u: f' = beta log(u/m), phi = -(1-beta) log m, in the log domain (detail::log_affine).
    Scaled scaled_f_prime(double l) const
    {
        return {degenerate() ? 0.0 : beta_ * detail::log_ratio_affine(beta_, 1.0 - beta_, l), 0.0};
    }
    Scaled scaled_phi(double l) const
    {
        return {degenerate() ? 0.0 : -(1.0 - beta_) * detail::log_affine(beta_, 1.0 - beta_, l), 0.0};
    }
    double f(double u) const
    {
        if (degenerate()) return 0.0;
        // beta u log(u/m) - (1-beta) log m: no cancellation of two u log u terms at large u.
        const double log_m = std::log1p(beta_ * (u - 1.0));
        const double head = u == 0.0 ? 0.0 : beta_ * u * log_ratio(u);
        return head - (1.0 - beta_) * log_m;
    }
    double f_prime(double u) const { return degenerate() ? 0.0 : beta_ * log_ratio(u); }
    double f_second(double u) const
    {
        return degenerate() ? 0.0 : beta_ * (1.0 - beta_) / u / (beta_ * u + 1.0 - beta_);
    }
    double phi(double u) const { return degenerate() ? 0.0 : -(1.0 - beta_) * std::log1p(beta_ * (u - 1.0)); }
    template <class V> V f_packet(const V& u) const
    {
        namespace simd = detail::simd;
        if (degenerate()) return detail::splat<V>(0.0);
        const V head = simd::mul(simd::mul(detail::splat<V>(beta_), u), log_ratio_packet(u));
        return simd::sub(head, simd::mul(detail::splat<V>(1.0 - beta_), log_m_packet(u)));
    }
    template <class V> V f_prime_packet(const V& u) const
    {
        if (degenerate()) return detail::splat<V>(0.0);
        return detail::simd::mul(detail::splat<V>(beta_), log_ratio_packet(u));
    }
    template <class V> V phi_packet(const V& u) const
    {
        if (degenerate()) return detail::splat<V>(0.0);
        return detail::simd::mul(detail::splat<V>(-(1.0 - beta_)), log_m_packet(u));
    }
    double weight(double u) const { return beta_ * (1.0 - beta_) * ratio(u); }
    double conjugate(double t) const
    {
        if (degenerate()) return 0.0;
        return (1.0 - beta_) * (std::log1p(-beta_) - std::log1p(-beta_ * std::exp(t / beta_)));
    }
    Interval conjugate_domain() const
    {
        if (degenerate()) return {-detail::infinity, 0.0, false, true};
        return {-detail::infinity, -beta_ * std::log(beta_), false, false};
    }
    double f_at_zero() const { return beta_ == 1.0 ? 0.0 : -(1.0 - beta_) * std::log1p(-beta_); }
    double slope_at_infinity() const { return beta_ == 0.0 ? 0.0 : -beta_ * std::log(beta_); }
    double f_prime_at_zero() const { return degenerate() ? 0.0 : -detail::infinity; }
    double u_f_prime_at_zero() const { return 0.0; }
    double phi_at_zero() const { return f_at_zero(); }  // phi = -(1-beta) log m
    double phi_at_infinity() const { return degenerate() ? 0.0 : -detail::infinity; }
    double phi_over_u_at_infinity() const { return 0.0; }

private:
    bool degenerate() const { return beta_ == 0.0 || beta_ == 1.0; }
    double ratio(double u) const { return detail::ratio_affine(u, beta_, 1.0 - beta_); }  // u / m
    // log(u/m): directly where u/m < 1/2; above, log1p((1-beta)(u-1)/m), which keeps its relative
    // accuracy near u = 1 and, for beta near 1, at large u (where u/m -> 1/beta is close to 1).
    double log_ratio(double u) const
    {
        const double r = ratio(u);
        return r < 0.5 ? std::log(r) : std::log1p((1.0 - beta_) * (u - 1.0) / (beta_ * u + (1.0 - beta_)));
    }
    // log_ratio and log m on lanes (the branches, selected).
    template <class V>
    V log_ratio_packet(const V& u) const
    {
        namespace simd = detail::simd;
        const V one = detail::splat<V>(1.0), half = detail::splat<V>(0.5);
        const V a = detail::splat<V>(beta_), b = detail::splat<V>(1.0 - beta_);
        const V m = simd::add(simd::mul(a, u), b);
        const V r = simd::select(simd::less(one, u), simd::div(one, simd::add(a, simd::div(b, u))), simd::div(u, m));
        const V near = simd::log1p(simd::div(simd::mul(b, simd::sub(u, one)), m));
        return simd::select(simd::less(r, half), simd::log(r), near);
    }
    template <class V>
    V log_m_packet(const V& u) const
    {
        namespace simd = detail::simd;
        return simd::log1p(simd::mul(detail::splat<V>(beta_), simd::sub(u, detail::splat<V>(1.0))));
    }
    double beta_;
};

/// alpha-skew KL, KL(P || alpha P + (1-alpha) Q) (DistiLLM's skew KL): f(u) = u log(u / m),
/// m = alpha u + 1 - alpha; h(u) = (1-alpha)^2 u / m^2. alpha in [0, 1): alpha = 0 is ForwardKl,
/// alpha = 1 would be identically 0. No closed-form conjugate (f' = t is transcendental).
class SkewKl {
public:
    static constexpr bool has_conjugate = false;
    explicit SkewKl(double alpha) : alpha_(alpha)
    {
        if (!(alpha >= 0.0 && alpha < 1.0)) detail::fail_parameter("generators::SkewKl", "alpha", "in [0, 1)", alpha);
    }
    double alpha() const { return alpha_; }
    std::string name() const { return detail::name_with("skew_kl", "alpha", alpha_); }
    // At l = log u: f = u log(u/m), f' = log(u/m) + (1-alpha)/m, phi = -(1-alpha) u/m, written
    // u (-(1-alpha)/m) while alpha u <= 1 (so that q phi = -(1-alpha) p/m where q underflows).
    Scaled scaled_f(double l) const { return {detail::log_ratio_affine(alpha_, 1.0 - alpha_, l), 1.0}; }
    Scaled scaled_f_prime(double l) const
    {
        const double u = std::exp(l);
        return {detail::log_ratio_affine(alpha_, 1.0 - alpha_, l) + (alpha_ == 0.0 ? 1.0 : (1.0 - alpha_) / m(u)), 0.0};
    }
    Scaled scaled_phi(double l) const
    {
        const double u = std::exp(l);
        if (l > 0.0 && (alpha_ == 0.0 || alpha_ * u <= 1.0)) return {alpha_ == 0.0 ? -1.0 : -(1.0 - alpha_) / m(u), 1.0};
        return {-(1.0 - alpha_) * ratio(u), 0.0};
    }
    double f(double u) const
    {
        if (u == 0.0) return 0.0;
        return u * log_ratio(u);
    }
    double f_prime(double u) const { return log_ratio(u) + (1.0 - alpha_) / m(u); }
    double f_second(double u) const
    {
        const double a = (1.0 - alpha_) / m(u);
        return a * a / u;
    }
    double phi(double u) const { return -(1.0 - alpha_) * ratio(u); }
    template <class V> V f_packet(const V& u) const { return detail::simd::mul(u, log_ratio_packet(u)); }
    template <class V> V f_prime_packet(const V& u) const
    {
        return detail::simd::add(log_ratio_packet(u), detail::simd::div(detail::splat<V>(1.0 - alpha_), m_packet(u)));
    }
    template <class V> V phi_packet(const V& u) const
    {
        return detail::simd::mul(detail::splat<V>(-(1.0 - alpha_)), ratio_packet(u));
    }
    double weight(double u) const
    {
        if (alpha_ == 0.0) return u;  // m = 1 (and alpha u would be 0 * inf at u = inf)
        return (1.0 - alpha_) * (1.0 - alpha_) * ratio(u) / m(u);
    }
    double f_at_zero() const { return 0.0; }
    double slope_at_infinity() const { return -std::log(alpha_); }
    double f_prime_at_zero() const { return -detail::infinity; }
    double u_f_prime_at_zero() const { return 0.0; }
    double phi_at_zero() const { return 0.0; }  // phi = -(1-alpha) u / m
    double phi_at_infinity() const { return alpha_ == 0.0 ? -detail::infinity : -(1.0 - alpha_) / alpha_; }
    double phi_over_u_at_infinity() const { return alpha_ == 0.0 ? -1.0 : 0.0; }

private:
    double m(double u) const { return alpha_ * u + 1.0 - alpha_; }
    double ratio(double u) const { return detail::ratio_affine(u, alpha_, 1.0 - alpha_); }  // u / m
    // log(u/m) = log1p((1-alpha)(u-1)/m), accurate near u = 1; directly below 1/2.
    double log_ratio(double u) const
    {
        return u < 0.5 ? std::log(ratio(u)) : std::log1p((1.0 - alpha_) * (u - 1.0) / m(u));
    }
    // m, ratio and log_ratio on lanes (the branches, selected).
    template <class V>
    V m_packet(const V& u) const
    {
        namespace simd = detail::simd;
        return simd::sub(simd::add(simd::mul(detail::splat<V>(alpha_), u), detail::splat<V>(1.0)), detail::splat<V>(alpha_));
    }
    template <class V>
    V ratio_packet(const V& u) const
    {
        namespace simd = detail::simd;
        const V one = detail::splat<V>(1.0), a = detail::splat<V>(alpha_), b = detail::splat<V>(1.0 - alpha_);
        const V low = simd::div(u, simd::add(simd::mul(a, u), b));
        const V high = simd::div(one, simd::add(a, simd::div(b, u)));
        return simd::select(simd::less(one, u), high, low);
    }
    template <class V>
    V log_ratio_packet(const V& u) const
    {
        namespace simd = detail::simd;
        const V one = detail::splat<V>(1.0);
        const V near = simd::log1p(
            simd::div(simd::mul(detail::splat<V>(1.0 - alpha_), simd::sub(u, one)), m_packet(u)));
        return simd::select(simd::less(u, detail::splat<V>(0.5)), simd::log(ratio_packet(u)), near);
    }
    double alpha_;
};

/// alpha-skew reverse KL, KL(Q || alpha Q + (1-alpha) P): f(u) = -log(m), m = alpha + (1-alpha) u;
/// h(u) = ((1-alpha) u / m)^2 <= 1 (bounded weights). alpha in [0, 1): alpha = 0 is ReverseKl.
/// f*(t) = log alpha for t < -(1-alpha)/alpha, else -1 - alpha t/(1-alpha) + log((1-alpha)/(-t)); t < 0.
class SkewReverseKl {
public:
    static constexpr bool has_conjugate = true;
    explicit SkewReverseKl(double alpha) : alpha_(alpha)
    {
        if (!(alpha >= 0.0 && alpha < 1.0)) {
            detail::fail_parameter("generators::SkewReverseKl", "alpha", "in [0, 1)", alpha);
        }
    }
    double alpha() const { return alpha_; }
    std::string name() const { return detail::name_with("skew_reverse_kl", "alpha", alpha_); }
    // At l = log u: f = -log m (detail::log_affine), f' = -(1-alpha)/m, written
    // u^-1 (-(1-alpha) / (alpha/u + 1 - alpha)) where (1-alpha) u > alpha (reverse KL's -1/u at alpha = 0),
    // phi = -log m + (1-alpha) u/m.
    Scaled scaled_f(double l) const { return {-detail::log_affine(1.0 - alpha_, alpha_, l), 0.0}; }
    Scaled scaled_f_prime(double l) const
    {
        const double u = std::exp(l);
        if (l > 0.0 || (alpha_ > 0.0 && alpha_ >= (1.0 - alpha_) * u)) return {-(1.0 - alpha_) / m(u), 0.0};
        return {-(1.0 - alpha_) / (alpha_ == 0.0 ? 1.0 - alpha_ : alpha_ * std::exp(-l) + (1.0 - alpha_)), -1.0};
    }
    Scaled scaled_phi(double l) const
    {
        return {-detail::log_affine(1.0 - alpha_, alpha_, l) + scaled(std::exp(l)), 0.0};
    }
    double f(double u) const { return -log_m(u); }
    double f_prime(double u) const { return -(1.0 - alpha_) / m(u); }
    double f_second(double u) const
    {
        const double a = (1.0 - alpha_) / m(u);
        return a * a;
    }
    double phi(double u) const
    {
        return -log_m(u) + scaled(u);
    }
    template <class V> V f_packet(const V& u) const
    {
        return detail::simd::sub(detail::splat<V>(0.0), log_m_packet(u));
    }
    template <class V> V f_prime_packet(const V& u) const
    {
        return detail::simd::div(detail::splat<V>(-(1.0 - alpha_)), m_packet(u));
    }
    template <class V> V phi_packet(const V& u) const
    {
        return detail::simd::add(detail::simd::sub(detail::splat<V>(0.0), log_m_packet(u)), scaled_packet(u));
    }
    double weight(double u) const
    {
        const double a = scaled(u);
        return a * a;
    }
    double conjugate(double t) const
    {
        if (alpha_ > 0.0 && t < -(1.0 - alpha_) / alpha_) return std::log(alpha_);
        return -1.0 - alpha_ * t / (1.0 - alpha_) + std::log((1.0 - alpha_) / -t);
    }
    Interval conjugate_domain() const { return {-detail::infinity, 0.0, false, false}; }
    double f_at_zero() const { return -std::log(alpha_); }
    double slope_at_infinity() const { return 0.0; }
    double f_prime_at_zero() const { return alpha_ == 0.0 ? -detail::infinity : -(1.0 - alpha_) / alpha_; }
    double u_f_prime_at_zero() const { return alpha_ == 0.0 ? -1.0 : 0.0; }
    double phi_at_zero() const { return -std::log(alpha_); }  // phi = -log m + (1-alpha) u / m
    double phi_at_infinity() const { return -detail::infinity; }
    double phi_over_u_at_infinity() const { return 0.0; }

private:
    double m(double u) const { return alpha_ + (1.0 - alpha_) * u; }
    // (1-alpha) u / m in [0, 1], also at u = inf; 1 for alpha = 0 (its limit at u = 0 too).
    double scaled(double u) const { return alpha_ == 0.0 ? 1.0 : detail::ratio_affine(u, 1.0, alpha_ / (1.0 - alpha_)); }
    // log m through log1p near u = 1; directly below 1/2 (log1p(-1 + tiny) would round to -inf).
    double log_m(double u) const { return u < 0.5 ? std::log(m(u)) : std::log1p((1.0 - alpha_) * (u - 1.0)); }
    // m, scaled and log_m on lanes (the branches, selected).
    template <class V>
    V m_packet(const V& u) const
    {
        namespace simd = detail::simd;
        return simd::add(detail::splat<V>(alpha_), simd::mul(detail::splat<V>(1.0 - alpha_), u));
    }
    template <class V>
    V scaled_packet(const V& u) const
    {
        namespace simd = detail::simd;
        const V one = detail::splat<V>(1.0);
        if (alpha_ == 0.0) return one;
        const V b = detail::splat<V>(alpha_ / (1.0 - alpha_));
        const V low = simd::div(u, simd::add(u, b));  // ratio_affine(u, 1, b)
        const V high = simd::div(one, simd::add(one, simd::div(b, u)));
        return simd::select(simd::less(one, u), high, low);
    }
    template <class V>
    V log_m_packet(const V& u) const
    {
        namespace simd = detail::simd;
        const V near = simd::log1p(simd::mul(detail::splat<V>(1.0 - alpha_), simd::sub(u, detail::splat<V>(1.0))));
        return simd::select(simd::less(u, detail::splat<V>(0.5)), simd::log(m_packet(u)), near);
    }
    double alpha_;
};

/// Softened reverse KL (f-distill): f(u) = (u + 1) log((u + 1) / (2u)), h(u) = 1 / (u + 1).
/// D_f(P || Q) = 2 KL(M || P) with M = (P + Q)/2. No closed-form conjugate.
struct SoftenedReverseKl {
    static constexpr bool has_conjugate = false;
    std::string name() const { return "softened_reverse_kl"; }
    // At l = log u with L = log((u + 1) / (2u)) (log_ratio_at): f = (u + 1) L = u (1 + 1/u) L above 1,
    // f' = L - 1/u = (u L - 1) / u below 1, phi = 1 + L.
    Scaled scaled_f(double l) const
    {
        const double a = log_ratio_at(l);
        if (l <= 0.0) return {(std::exp(l) + 1.0) * a, 0.0};
        return {(1.0 + std::exp(-l)) * a, 1.0};
    }
    Scaled scaled_f_prime(double l) const
    {
        const double a = log_ratio_at(l);
        if (l <= 0.0) return {std::exp(l) * a - 1.0, -1.0};
        return {a - std::exp(-l), 0.0};
    }
    Scaled scaled_phi(double l) const { return {1.0 + log_ratio_at(l), 0.0}; }
    double f(double u) const { return (u + 1.0) * log_ratio(u); }
    double f_prime(double u) const { return u == 0.0 ? -detail::infinity : log_ratio(u) - 1.0 / u; }
    double f_second(double u) const { return 1.0 / u / u / (u + 1.0); }
    double phi(double u) const { return 1.0 + log_ratio(u); }
    double weight(double u) const { return 1.0 / (u + 1.0); }
    double f_at_zero() const { return detail::infinity; }
    double slope_at_infinity() const { return -std::log(2.0); }
    double f_prime_at_zero() const { return -detail::infinity; }
    double u_f_prime_at_zero() const { return -1.0; }
    double phi_at_zero() const { return detail::infinity; }  // phi = 1 + log((u + 1) / (2u))
    double phi_at_infinity() const { return 1.0 - std::log(2.0); }
    double phi_over_u_at_infinity() const { return 0.0; }

private:
    // log((u + 1) / (2u)) = log1p((1 - u) / (2u)): accurate near u = 1.
    static double log_ratio(double u) { return std::log1p((1.0 - u) / (2.0 * u)); }
    // log((u + 1) / (2u)) at u = e^l: -l + log1p(u) - log 2 below u = 1/2, log1p((e^-l - 1)/2) above.
    static double log_ratio_at(double l)
    {
        const double u = std::exp(l);
        if (u < 0.5) return std::log1p(u) - std::log(2.0) - l;
        return std::log1p(0.5 * std::expm1(-l));
    }
};

/// Amari alpha-divergence: f(u) = (u^alpha - 1 - alpha (u - 1)) / (alpha (alpha - 1)), h(u) = u^alpha.
/// alpha: any finite real. The limits are exact and continuous: alpha = 1 gives u log u - u + 1
/// (ForwardKl plus -(u - 1): the same divergence between normalized rows), alpha = 0 gives
/// -log u + u - 1 (ReverseKl plus (u - 1)); near them f is evaluated through expm1, with no 0/0.
/// f*(t) = (s^(alpha/(alpha-1)) - 1)/alpha, s = 1 + t (alpha - 1), for t < 1/(1-alpha) when alpha < 1;
/// on R when alpha >= 1 (= -1/alpha for t <= -1/(alpha-1), where the sup is at u = 0).
class AmariAlpha {
public:
    static constexpr bool has_conjugate = true;
    explicit AmariAlpha(double alpha) : alpha_(alpha)
    {
        if (!std::isfinite(alpha)) detail::fail_parameter("generators::AmariAlpha", "alpha", "finite", alpha);
    }
    double alpha() const { return alpha_; }
    std::string name() const { return detail::name_with("amari_alpha", "alpha", alpha_); }
    double f(double u) const
    {
        if (u == 0.0) return f_at_zero();
        return f_at(std::log(u), u);
    }
    // At l = log u. Where a power of u would overflow (x l > 20 for u^x), in powers of u:
    // f = u^alpha (1 - (1-alpha) u^-alpha - alpha u^(1-alpha)) / (alpha (alpha-1)) for alpha > 1 or
    // alpha < 0; f = u (E_{alpha-1}(l) + (1/u - 1)) / alpha above u = e^20 for the others (alpha >= 1/2;
    // below 1/2 the other rewriting); f' = (u^(alpha-1) - 1)/(alpha-1), phi = -(u^alpha - 1)/alpha.
    Scaled scaled_f(double l) const
    {
        const double a = alpha_;
        if (a * l > 20.0 && (a > 1.0 || a < 0.0)) {
            return {(1.0 - (1.0 - a) * std::exp(-a * l) - a * std::exp((1.0 - a) * l)) / (a * (a - 1.0)), a};
        }
        if (l > 20.0) {
            if (a >= 0.5) return {(detail::alpha_log(a - 1.0, l) + std::expm1(-l)) / a, 1.0};
            const double head = a == 0.0 ? l * std::exp(-l) : (std::exp((a - 1.0) * l) - std::exp(-l)) / a;  // E_a(l) / u
            return {(head + std::expm1(-l)) / (a - 1.0), 1.0};
        }
        return {f_at(l, std::exp(l)), 0.0};
    }
    Scaled scaled_f_prime(double l) const { return power_log(alpha_ - 1.0, l); }
    Scaled scaled_phi(double l) const
    {
        const Scaled e = power_log(alpha_, l);
        return {-e.x, e.k};
    }
    double f_prime(double u) const { return detail::alpha_log(alpha_ - 1.0, std::log(u)); }
    double f_second(double u) const { return std::pow(u, alpha_ - 2.0); }
    double phi(double u) const { return -detail::alpha_log(alpha_, std::log(u)); }
    double weight(double u) const { return std::pow(u, alpha_); }
    double conjugate(double t) const
    {
        if (alpha_ > 1.0 && t <= -1.0 / (alpha_ - 1.0)) return -1.0 / alpha_;
        const double x = alpha_ - 1.0;
        const double g = x == 0.0 ? t : std::log1p(t * x) / x;  // log(s) / (alpha - 1)
        return detail::alpha_log(alpha_, g);                     // (e^(alpha g) - 1) / alpha
    }
    Interval conjugate_domain() const
    {
        if (alpha_ < 1.0) return {-detail::infinity, 1.0 / (1.0 - alpha_), false, false};
        return {};
    }
    double f_at_zero() const { return alpha_ > 0.0 ? 1.0 / alpha_ : detail::infinity; }
    double slope_at_infinity() const { return alpha_ < 1.0 ? 1.0 / (1.0 - alpha_) : detail::infinity; }
    double f_prime_at_zero() const { return alpha_ <= 1.0 ? -detail::infinity : -1.0 / (alpha_ - 1.0); }
    double u_f_prime_at_zero() const { return alpha_ > 0.0 ? 0.0 : (alpha_ == 0.0 ? -1.0 : -detail::infinity); }
    double phi_at_zero() const { return f_at_zero(); }  // phi = -(u^alpha - 1) / alpha
    double phi_at_infinity() const { return alpha_ >= 0.0 ? -detail::infinity : 1.0 / alpha_; }
    double phi_over_u_at_infinity() const
    {
        return alpha_ > 1.0 ? -detail::infinity : (alpha_ == 1.0 ? -1.0 : 0.0);
    }

private:
    // f at u = e^l from l. Two exact rewritings of the numerator u^alpha - 1 - alpha (u-1), with
    // E_x(l) = (e^(x l) - 1)/x:
    //   (alpha-1) [u E_{alpha-1}(l) - (u-1)]  ->  f = (u E_{alpha-1}(l) - (u-1)) / alpha  (no 0/0 near 1)
    //   alpha [E_alpha(l) - (u-1)]            ->  f = (E_alpha(l) - (u-1)) / (alpha-1)    (no 0/0 near 0)
    double f_at(double l, double u) const
    {
        if (alpha_ >= 0.5) {
            // u E_{alpha-1}(l) = (u^alpha - u)/(alpha-1), written so where E_{alpha-1} would overflow (u -> 0).
            const double x = alpha_ - 1.0;
            const double head = x * l > 700.0 ? (std::exp(alpha_ * l) - u) / x : u * detail::alpha_log(x, l);
            return (head - (u - 1.0)) / alpha_;
        }
        return (detail::alpha_log(alpha_, l) - (u - 1.0)) / (alpha_ - 1.0);
    }
    // E_x(l) = (u^x - 1)/x as u^x (1 - u^-x)/x where u^x may overflow (x l > 20).
    static Scaled power_log(double x, double l)
    {
        if (x * l > 20.0) return {-std::expm1(-x * l) / x, x};
        return {detail::alpha_log(x, l), 0.0};
    }
    double alpha_;
};

/// TFP's t-power generator: f(u) = s (u^t - 1 - t (u - 1)), s = -1 for 0 < t < 1 and +1 otherwise,
/// i.e. |t (t-1)| times AmariAlpha(t); h(u) = |t (t-1)| u^t. t: finite, not 0 or 1 (where f vanishes).
class TPower {
public:
    static constexpr bool has_conjugate = true;
    explicit TPower(double t) : t_(t), amari_(check(t)), scale_(std::abs(t * (t - 1.0))) {}
    double t() const { return t_; }
    std::string name() const { return detail::name_with("t_power", "t", t_); }
    double f(double u) const { return scale_ * amari_.f(u); }
    double f_prime(double u) const { return scale_ * amari_.f_prime(u); }
    double f_second(double u) const { return scale_ * amari_.f_second(u); }
    double phi(double u) const { return scale_ * amari_.phi(u); }
    double weight(double u) const { return scale_ * amari_.weight(u); }
    Scaled scaled_f(double l) const { return times(amari_.scaled_f(l)); }
    Scaled scaled_f_prime(double l) const { return times(amari_.scaled_f_prime(l)); }
    Scaled scaled_phi(double l) const { return times(amari_.scaled_phi(l)); }
    // (c g)*(t) = c g*(t / c).
    double conjugate(double t) const { return scale_ * amari_.conjugate(t / scale_); }
    Interval conjugate_domain() const
    {
        Interval d = amari_.conjugate_domain();
        d.lower *= scale_;
        d.upper *= scale_;
        return d;
    }
    double f_at_zero() const { return scale_ * amari_.f_at_zero(); }
    double slope_at_infinity() const { return scale_ * amari_.slope_at_infinity(); }
    double f_prime_at_zero() const { return scale_ * amari_.f_prime_at_zero(); }
    double u_f_prime_at_zero() const { return scale_ * amari_.u_f_prime_at_zero(); }
    double phi_at_zero() const { return scale_ * amari_.phi_at_zero(); }
    double phi_at_infinity() const { return scale_ * amari_.phi_at_infinity(); }
    double phi_over_u_at_infinity() const { return scale_ * amari_.phi_over_u_at_infinity(); }

private:
    static double check(double t)
    {
        if (!(std::isfinite(t) && t != 0.0 && t != 1.0)) {
            detail::fail_parameter("generators::TPower", "t", "finite and not 0 or 1", t);
        }
        return t;
    }
    Scaled times(Scaled a) const { return {scale_ * a.x, a.k}; }
    double t_;
    AmariAlpha amari_;
    double scale_;
};

/// Triangular discrimination: f(u) = (u - 1)^2 / (u + 1), D = sum (p - q)^2 / (p + q);
/// h(u) = 8 u^2 / (u + 1)^3; f*(t) = 4 - 4 sqrt(1 - t) - t for -3 <= t < 1, -1 below.
struct Triangular {
    static constexpr bool has_conjugate = true;
    /// Terms (p - q)^2 / (p + q) <= p + q, partials p f'(r) and q phi(r) with f' in [-3, 1) and phi
    /// in (-3, 1]: bounded by 3 (p + q), float lanes keep the bound.
    static constexpr bool float_lanes = true;
    std::string name() const { return "triangular"; }
    double f(double u) const { return (u - 1.0) * ((u - 1.0) / (u + 1.0)); }
    double f_prime(double u) const
    {
        const double a = 2.0 / (u + 1.0);
        return 1.0 - a * a;
    }
    double f_second(double u) const
    {
        const double a = 2.0 / (u + 1.0);
        return a * a * a;
    }
    double phi(double u) const
    {
        const double a = 1.0 / (u + 1.0);
        return -3.0 + 4.0 * a * (2.0 - a);
    }
    template <class V> V f_packet(const V& u) const
    {
        namespace simd = detail::simd;
        const V one = detail::splat<V>(1.0);
        const V d = simd::sub(u, one);
        return simd::mul(d, simd::div(d, simd::add(u, one)));
    }
    template <class V> V f_prime_packet(const V& u) const
    {
        namespace simd = detail::simd;
        const V one = detail::splat<V>(1.0);
        const V a = simd::div(detail::splat<V>(2.0), simd::add(u, one));
        return simd::sub(one, simd::mul(a, a));
    }
    template <class V> V phi_packet(const V& u) const
    {
        namespace simd = detail::simd;
        const V one = detail::splat<V>(1.0);
        const V a = simd::div(one, simd::add(u, one));
        const V b = simd::mul(simd::mul(detail::splat<V>(4.0), a), simd::sub(detail::splat<V>(2.0), a));
        return simd::add(detail::splat<V>(-3.0), b);
    }
    double weight(double u) const
    {
        const double a = detail::ratio_affine(u, 1.0, 1.0);  // u / (u + 1)
        return 8.0 * a * a / (u + 1.0);
    }
    double conjugate(double t) const { return t < -3.0 ? -1.0 : 4.0 - 4.0 * std::sqrt(1.0 - t) - t; }
    Interval conjugate_domain() const { return {-detail::infinity, 1.0, false, false}; }
    double f_at_zero() const { return 1.0; }
    double slope_at_infinity() const { return 1.0; }
    double f_prime_at_zero() const { return -3.0; }
    double u_f_prime_at_zero() const { return 0.0; }
    double phi_at_zero() const { return 1.0; }  // phi = -3 + 4/(u+1) + 4u/(u+1)^2
    double phi_at_infinity() const { return -3.0; }
    double phi_over_u_at_infinity() const { return 0.0; }
};

/// Arithmetic-geometric mean divergence: f(u) = (1 + u) log((1 + u) / (2 sqrt u)),
/// D = KL(M || P) + KL(M || Q), M = (P + Q)/2; h(u) = (u^2 + 1) / (2 (u + 1)). No closed-form conjugate.
struct ArithmeticGeometric {
    static constexpr bool has_conjugate = false;
    std::string name() const { return "arithmetic_geometric"; }
    // At l = log u with A = log((1 + u) / (2 sqrt u)) (symmetric in l, log_ratio_at): f = (1 + u) A,
    // u (1 + 1/u) A above 1; f' = A + (u - 1)/(2u), (u A + (u - 1)/2) / u below 1; phi = A - (u - 1)/2,
    // u (A/u + (1/u - 1)/2) above 1.
    Scaled scaled_f(double l) const
    {
        const double a = log_ratio_at(l);
        if (l <= 0.0) return {(1.0 + std::exp(l)) * a, 0.0};
        return {(1.0 + std::exp(-l)) * a, 1.0};
    }
    Scaled scaled_f_prime(double l) const
    {
        const double a = log_ratio_at(l);
        if (l <= 0.0) return {std::exp(l) * a + 0.5 * std::expm1(l), -1.0};
        return {a - 0.5 * std::expm1(-l), 0.0};
    }
    Scaled scaled_phi(double l) const
    {
        const double a = log_ratio_at(l);
        if (l <= 0.0) return {a - 0.5 * std::expm1(l), 0.0};
        return {a * std::exp(-l) + 0.5 * std::expm1(-l), 1.0};
    }
    double f(double u) const { return (1.0 + u) * log_ratio(u); }
    double f_prime(double u) const
    {
        return u == 0.0 ? -detail::infinity : log_ratio(u) + 0.5 * (u - 1.0) / u;
    }
    double f_second(double u) const { return 0.5 * (1.0 + 1.0 / u / u) / (1.0 + u); }
    double phi(double u) const { return log_ratio(u) - 0.5 * (u - 1.0); }
    double weight(double u) const
    {
        if (u <= 1.0) return 0.5 * (u * u + 1.0) / (u + 1.0);
        return 0.5 * (u + 1.0 / u) * detail::ratio_affine(u, 1.0, 1.0);
    }
    double f_at_zero() const { return detail::infinity; }
    double slope_at_infinity() const { return detail::infinity; }
    double f_prime_at_zero() const { return -detail::infinity; }
    double u_f_prime_at_zero() const { return -0.5; }
    double phi_at_zero() const { return detail::infinity; }  // phi = log((1+u)/(2 sqrt u)) - (u-1)/2
    double phi_at_infinity() const { return -detail::infinity; }
    double phi_over_u_at_infinity() const { return -0.5; }

private:
    // log((1 + u) / (2 sqrt u)) = log1p((sqrt u - 1)^2 / (2 sqrt u)): accurate near u = 1.
    static double log_ratio(double u)
    {
        const double s = std::sqrt(u);
        return std::log1p((s - 1.0) * (s - 1.0) / (2.0 * s));
    }
    // log_ratio at u = e^l, through v = e^-|l| <= 1 (A(u) = A(1/u)): log1p(v) - log 2 + |l|/2 below
    // v = 1/2, log1p((sqrt v - 1)^2 / (2 sqrt v)) above.
    static double log_ratio_at(double l)
    {
        const double v = std::exp(-std::abs(l));
        if (v < 0.5) return std::log1p(v) - std::log(2.0) + 0.5 * std::abs(l);
        const double d = std::expm1(-0.5 * std::abs(l));
        return std::log1p(d * d / (2.0 * std::exp(-0.5 * std::abs(l))));
    }
};

/// Total variation: f(u) = |u - 1| / 2, D = sum |p - q| / 2. f' = sign(u - 1)/2 (0 at the kink u = 1),
/// f'' = h = 0 (almost everywhere). With f on u >= 0: f*(t) = max(t, -1/2) for t <= 1/2.
struct TotalVariation {
    static constexpr bool has_conjugate = true;
    /// Terms |p - q| / 2 and partials +-p/2, +-q/2, bounded by p + q: float lanes keep the bound (the
    /// partials' jump at the kink goes to the scalar members, kink_window).
    static constexpr bool float_lanes = true;
    std::string name() const { return "total_variation"; }
    double f(double u) const { return 0.5 * std::abs(u - 1.0); }
    double f_prime(double u) const { return u < 1.0 ? -0.5 : (u > 1.0 ? 0.5 : 0.0); }
    double f_second(double) const { return 0.0; }
    double phi(double u) const { return u < 1.0 ? 0.5 : (u > 1.0 ? -0.5 : 0.0); }
    template <class V> V f_packet(const V& u) const
    {
        namespace simd = detail::simd;
        const V d = simd::sub(u, detail::splat<V>(1.0));
        return simd::mul(detail::splat<V>(0.5), simd::max(d, simd::sub(detail::splat<V>(0.0), d)));
    }
    /// f' with NaN (hand-back to f_prime) within kink_window<V> of u = 1.
    template <class V> V f_prime_packet(const V& u) const { return step_packet(u, -0.5); }
    /// phi with NaN (hand-back to phi) within kink_window<V> of u = 1.
    template <class V> V phi_packet(const V& u) const { return step_packet(u, 0.5); }
    /// The half-width of the band around u = 1 where the packet members hand f' and phi back to the
    /// scalar members: the partials jump by +-p/2, +-q/2 there, so a ratio that float (double) lanes round
    /// to the other side of 1 than the double log ratio of the scalar path would be off by p/2. The
    /// lanes' log r errs by about 3 eps (|log p| + |log q|); the band covers that for |log p| up to ~40
    /// (float) / ~1400 (double), beyond which p/2 is far under the fused path's bound. Rare (|log r| <
    /// 1.5e-5 in float lanes); measured: float lanes then disagree with the reference path's sign
    /// exactly where the scalar loop does (ratios within ~1e-6 of 1, from the rows' normalizers).
    /// Without the band, 10x more often.
    template <class V>
    static constexpr double kink_window = std::is_same_v<detail::simd::scalar_of<V>, float> ? 0x1p-16 : 0x1p-40;
    double weight(double) const { return 0.0; }
    double conjugate(double t) const { return t < -0.5 ? -0.5 : t; }
    Interval conjugate_domain() const { return {-detail::infinity, 0.5, false, true}; }
    double f_at_zero() const { return 0.5; }
    double slope_at_infinity() const { return 0.5; }
    double f_prime_at_zero() const { return -0.5; }
    double u_f_prime_at_zero() const { return 0.0; }
    double phi_at_zero() const { return 0.5; }  // phi = 1/2 below the kink, -1/2 above
    double phi_at_infinity() const { return -0.5; }
    double phi_over_u_at_infinity() const { return 0.0; }

private:
    // below (u < 1 - w), -below above (u > 1 + w), NaN within the band.
    template <class V>
    static V step_packet(const V& u, double below)
    {
        namespace simd = detail::simd;
        const V one = detail::splat<V>(1.0), w = detail::splat<V>(kink_window<V>);
        const V nan = detail::splat<V>(std::numeric_limits<double>::quiet_NaN());
        const V above = simd::select(simd::less(simd::add(one, w), u), detail::splat<V>(-below), nan);
        return simd::select(simd::less(u, simd::sub(one, w)), detail::splat<V>(below), above);
    }
};

/// TFP's log1p-abs generator: f(u) = u^sign(u - 1) - 1 = expm1(|log u|) (1/u - 1 below 1, u - 1
/// above); kink at 1 (f' = 0 there). h(u) = 2/u below 1, 0 above. f*(t) = t for -1 <= t <= 1,
/// 1 - 2 sqrt(-t) below.
struct Log1pAbs {
    static constexpr bool has_conjugate = true;
    std::string name() const { return "log1p_abs"; }
    // In powers of u: f = u^-1 (1 - u) below 1, u (1 - 1/u) above; f' = -u^-2 below; phi = u^-1 (2 - u) below.
    Scaled scaled_f(double l) const
    {
        if (l <= 0.0) return {-std::expm1(l), -1.0};
        return {-std::expm1(-l), 1.0};
    }
    Scaled scaled_f_prime(double l) const
    {
        if (l == 0.0) return {0.0, 0.0};
        return l < 0.0 ? Scaled{-1.0, -2.0} : Scaled{1.0, 0.0};
    }
    Scaled scaled_phi(double l) const
    {
        if (l == 0.0) return {0.0, 0.0};
        return l < 0.0 ? Scaled{2.0 - std::exp(l), -1.0} : Scaled{-1.0, 0.0};
    }
    double f(double u) const { return u < 1.0 ? (1.0 - u) / u : u - 1.0; }
    double f_prime(double u) const { return u < 1.0 ? -1.0 / u / u : (u > 1.0 ? 1.0 : 0.0); }
    double f_second(double u) const { return u < 1.0 ? 2.0 / u / u / u : 0.0; }
    double phi(double u) const { return u < 1.0 ? 2.0 / u - 1.0 : (u > 1.0 ? -1.0 : 0.0); }
    double weight(double u) const { return u < 1.0 ? 2.0 / u : 0.0; }
    double conjugate(double t) const { return t < -1.0 ? 1.0 - 2.0 * std::sqrt(-t) : t; }
    Interval conjugate_domain() const { return {-detail::infinity, 1.0, false, true}; }
    double f_at_zero() const { return detail::infinity; }
    double slope_at_infinity() const { return 1.0; }
    double f_prime_at_zero() const { return -detail::infinity; }
    double u_f_prime_at_zero() const { return -detail::infinity; }  // -1/u
    double phi_at_zero() const { return detail::infinity; }         // phi = 2/u - 1 below 1
    double phi_at_infinity() const { return -1.0; }
    double phi_over_u_at_infinity() const { return 0.0; }
};

/// TFP's modified GAN (self-normalized): f(u) = log(1 + u) - log u + (u - 1)/2, f(1) = log 2 (not 0:
/// D_f = log 2 + a divergence >= 0 between normalized rows). h(u) = (2u + 1) / (u + 1)^2.
/// f*(t) = u t - f(u) at u = 2 / (a (1 + sqrt(1 + 4/a))), a = 1/2 - t > 0, for t < 1/2.
struct ModifiedGan {
    static constexpr bool has_conjugate = true;
    std::string name() const { return "modified_gan"; }
    // At l = log u: f = -l + log1p(u) + (u - 1)/2 below 1, u (log1p(1/u)/u + (1 - 1/u)/2) above;
    // f' = (u/2 - 1/(u + 1)) / u below 1; phi = log1p(1/u) + 1/2 - u/(1 + u).
    Scaled scaled_f(double l) const
    {
        if (l <= 0.0) return {std::log1p(std::exp(l)) - l + 0.5 * std::expm1(l), 0.0};
        const double v = std::exp(-l);
        return {v * std::log1p(v) - 0.5 * std::expm1(-l), 1.0};
    }
    Scaled scaled_f_prime(double l) const
    {
        const double u = std::exp(l);
        if (l <= 0.0) return {0.5 * u - 1.0 / (u + 1.0), -1.0};
        return {0.5 - std::exp(-l) / (u + 1.0), 0.0};
    }
    Scaled scaled_phi(double l) const
    {
        if (l <= 0.0) {
            const double u = std::exp(l);
            return {std::log1p(u) - l + 0.5 - u / (1.0 + u), 0.0};
        }
        const double v = std::exp(-l);
        return {std::log1p(v) + 0.5 - 1.0 / (1.0 + v), 0.0};
    }
    double f(double u) const { return std::log1p(1.0 / u) + 0.5 * (u - 1.0); }
    double f_prime(double u) const { return 0.5 - 1.0 / u / (u + 1.0); }
    double f_second(double u) const { return weight(u) / u / u; }
    double phi(double u) const { return std::log1p(1.0 / u) + 0.5 - detail::ratio_affine(u, 1.0, 1.0); }
    double weight(double u) const
    {
        if (u <= 1.0) return (2.0 * u + 1.0) / (u + 1.0) / (u + 1.0);
        return (2.0 + 1.0 / u) / (1.0 + 1.0 / u) / (u + 1.0);
    }
    double conjugate(double t) const
    {
        const double a = 0.5 - t;
        const double u = 2.0 / (a * (1.0 + std::sqrt(1.0 + 4.0 / a)));  // root of u^2 + u - 1/a = 0
        return u * t - f(u);
    }
    Interval conjugate_domain() const { return {-detail::infinity, 0.5, false, false}; }
    double f_at_zero() const { return detail::infinity; }
    double slope_at_infinity() const { return 0.5; }
    double f_prime_at_zero() const { return -detail::infinity; }
    double u_f_prime_at_zero() const { return -1.0; }
    double phi_at_zero() const { return detail::infinity; }  // phi = log(1 + 1/u) + 1/2 - u/(1+u)
    double phi_at_infinity() const { return -0.5; }
    double phi_over_u_at_infinity() const { return 0.0; }
};

/// The dual (perspective) generator f°(v) = v f(1/v): D_{f°}(P || Q) = D_f(Q || P), h°(v) = v h(1/v),
/// f°'(v) = phi(1/v), phi°(v) = f'(1/v), and the limits of f at 0 and infinity trade places. The scaled
/// members are the base's at -l (as exact as the base's); f, f_prime, phi evaluate the base at 1/v,
/// so they overflow where f(1/v) does (e.g. the dual of Pearson below v ~ 1e-154); below the
/// smallest normal double v is taken as that number (and above the largest, as the largest), so weight
/// and f_second at v = 0 or v = inf are evaluated there: a limit that diverges comes out huge but finite.
/// No closed-form conjugate in general.
template <class Generator>
struct Dual {
    static constexpr bool has_conjugate = false;
    detail::Complete<Generator> base;  ///< a generator of the table or of your own

    Dual() = default;
    explicit Dual(const Generator& generator) : base(generator) {}
    std::string name() const { return "dual(" + base.name() + ")"; }
    double f(double v) const
    {
        if (v < DBL_MIN) return base.slope_at_infinity();
        const double u = 1.0 / v;
        return v * base.f(u);
    }
    double f_prime(double v) const { return v < DBL_MIN ? base.phi_at_infinity() : base.phi(1.0 / v); }
    double f_second(double v) const
    {
        const double w = clamp(v);
        return base.weight(1.0 / w) / w;
    }
    double weight(double v) const
    {
        const double w = clamp(v);
        return w * base.weight(1.0 / w);
    }
    // phi°(v) = v f(1/v) - v phi(1/v) = f'(1/v).
    double phi(double v) const { return v < DBL_MIN ? base.slope_at_infinity() : base.f_prime(1.0 / v); }
    double f_at_zero() const { return base.slope_at_infinity(); }
    double slope_at_infinity() const { return base.f_at_zero(); }
    double f_prime_at_zero() const { return base.phi_at_infinity(); }
    double u_f_prime_at_zero() const { return base.phi_over_u_at_infinity(); }
    // f°(v) = v f(1/v), f°'(v) = phi(1/v), phi°(v) = f'(1/v): the base's scaled forms at -l.
    Scaled scaled_f(double l) const
    {
        const Scaled b = detail::f_scaled(base, -l);
        return {b.x, 1.0 - b.k};
    }
    Scaled scaled_f_prime(double l) const
    {
        const Scaled b = detail::phi_scaled(base, -l);
        return {b.x, -b.k};
    }
    Scaled scaled_phi(double l) const
    {
        const Scaled b = detail::f_prime_scaled(base, -l);
        return {b.x, -b.k};
    }
    double phi_at_zero() const { return base.slope_at_infinity(); }
    double phi_at_infinity() const { return base.f_prime_at_zero(); }
    double phi_over_u_at_infinity() const { return base.u_f_prime_at_zero(); }

private:
    static double clamp(double v) { return v < DBL_MIN ? DBL_MIN : (v > DBL_MAX ? DBL_MAX : v); }
};

template <class Generator>
Dual<Generator> dual(const Generator& generator)
{
    return Dual<Generator>(generator);
}

}  // namespace generators

namespace detail {

/// True when G has what a generator needs (see the top of this header): f, and f_prime unless f is
/// written over its argument type (detail::Complete derives the rest).
template <class G>
inline constexpr bool is_f_generator_v = has_f_v<G> && (has_f_prime_v<G> || derivable_f_v<G>);

/// True when G has the optional packet members f_packet, f_prime_packet, phi_packet (see the top of
/// this header): f_divergence from logits then runs the vectorized element loop.
template <class G>
inline constexpr bool has_packet_form_v = has_packet_members_v<G>;

/// True when G declares `static constexpr bool float_lanes = true` (see the top of this header): its
/// packet members then run on float lanes for float logits.
template <class G>
inline constexpr bool float_lanes_v = has_packet_form_v<G> && float_lanes_flag<G>::value;

}  // namespace detail
}  // namespace divergence

#endif
