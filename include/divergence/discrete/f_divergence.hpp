#ifndef DIVERGENCE_DISCRETE_F_DIVERGENCE_HPP
#define DIVERGENCE_DISCRETE_F_DIVERGENCE_HPP

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "divergence/core/call.hpp"
#include "divergence/core/error.hpp"
#include "divergence/core/rows.hpp"
#include "divergence/core/view.hpp"
#include "divergence/detail/fused_f_divergence.hpp"
#include "divergence/discrete/generators.hpp"

namespace divergence {
namespace detail {

/// x y for a multiplier x that is truly positive (its log is finite) but may have underflowed
/// to 0: an infinite limit y stays infinite (q f(0) = +inf for q > 0 however small).
inline double positive_times(double x, double y) { return std::isinf(y) ? y : x * y; }

/// x e^a where e^a alone may overflow or underflow but the product does not; `exact` is e^a when the
/// caller holds it (a mass given as input). An infinite x (a saturated limit) times a mass that
/// underflowed counts 0.
inline double times_exp(double x, double a, double exact)
{
    if (x == 0.0) return 0.0;
    if (!std::isfinite(x)) return std::exp(a) == 0.0 ? 0.0 : x;
    if (std::abs(a) < 700.0) return x * exact;
    return std::copysign(std::exp(a + std::log(std::abs(x))), x);
}

/// x p^k q^(1-k) = x q r^k (r = p/q) from an element's logs (q and p themselves at k = 0 and 1).
inline double times_power_mass(double x, double k, const Element& e)
{
    if (k == 0.0) return times_exp(x, e.log_q, e.q);
    if (k == 1.0) return times_exp(x, e.log_p, e.p);
    const double a = k * e.log_p + (1.0 - k) * e.log_q;
    return times_exp(x, a, std::exp(a));
}

/// s.x r^s.k at r = e^l.
inline double scaled_value(const generators::Scaled& s, double l)
{
    if (s.k == 0.0) return s.x;
    return times_exp(s.x, s.k * l, std::exp(s.k * l));
}

/// D_f(P || Q) per row for a generator G: sum_i q_i f(p_i / q_i).
///
/// Per element, at l = log p - log q (from the logs, so that p and q that underflow together still
/// give the right ratio), the generator's f, f' and phi = f - u f' at r = e^l come as x r^k
/// (generators::Scaled, detail::f_scaled), and every product with a mass is taken in the log domain:
///   term      q f(r)     = x p^k q^(1-k)
///   dD/dlog p p f'(r)    = x p^(1+k) q^-k
///   dD/dlog q q phi(r)   = x p^k q^(1-k)
///   dD/dp = f'(r), dD/dq = phi(r) = x r^k.
/// So no intermediate leaves the double range where the result does not (generators with scaled
/// members: every finite l), and a mass that underflowed does not drop a term that is representable.
/// Exact zeros use the generator's limits.
template <class Generator>
struct FDivergenceKernel {
    static_assert(is_f_generator_v<Generator>,
                  "divergence: an f-divergence generator needs f (and f_prime unless f is a template), see discrete/generators.hpp.");
    static constexpr bool binary = true;
    using State = CompensatedSum;
    struct Final {
        double value;
    };

    Complete<Generator> generator;  ///< the generator with its derived members
    /// What the fast path from logits needs to know of the generator (detail/fused_f_divergence.hpp):
    /// whether it has the packet form, and whether that runs on float lanes for float rows.
    static constexpr bool packet_form = has_packet_form_v<Complete<Generator>>;
    static constexpr bool float_lanes = float_lanes_v<Complete<Generator>>;

    double term(const Element& e) const
    {
        if (e.log_p == -infinity) {
            if (e.log_q == -infinity) return 0.0;  // outside both supports
            return positive_times(e.q, generator.f_at_zero());
        }
        if (e.log_q == -infinity) return positive_times(e.p, generator.slope_at_infinity());
        const generators::Scaled f = f_scaled(generator, e.log_p - e.log_q);
        return times_power_mass(f.x, f.k, e);
    }

    void add(State& state, const Element& e) const { state.add(term(e)); }
    /// The fast path from logits (detail/fused_f_divergence.hpp).
    FusedFDivergence<FDivergenceKernel> fused() const { return {*this}; }

    /// Between normalized rows D_f >= f(1) (Jensen); rounding below it is clamped.
    Final finish(const State& state) const { return {finish(state.value())}; }
    double finish(double sum) const { return std::max(generator.f(1.0), sum); }

    // ---- the element contract (core/element.hpp): generators with the packet form ----------------
    //
    // Lanes V of elements in any input form. An ordinary lane (1/16 < |l| < 700, f, f', phi below
    // 1e150 in magnitude, the larger mass a normal double) takes the packet formulas of f_lanes
    // (detail/fused_f_divergence.hpp) on the given masses: m = max(p, q), s = e^-|l|,
    //   term q f(r) = m (f(r) b), dD/dlog p = m (f'(r) a), dD/dlog q = m (phi(r) b),
    //   dD/dp = f'(r), dD/dq = phi(r)   (a = p / m, b = q / m: 1 or s).
    // Any other lane (an exact zero, |log r| >= 700, a mass below DBL_MIN, a value beyond 1e150 or
    // a NaN the generator's packet member hands back) takes term() / partials() above, so zeros,
    // infinities and ratios beyond the double range are exactly the scalar ones. So do ratios near 1
    // (|l| <= 1/16): the packet members take r = e^l, whose rounding costs them about eps / |l|
    // relative where f vanishes at 1, while the scalar forms in l stay within a few ulp. Each lane's
    // result depends only on its own element.

    static constexpr bool partials_use_value = false;

    template <class V, bool P = packet_form, std::enable_if_t<P, int> = 0>
    V term(const ElementLanes<V>& e) const
    {
        FLanes<V> x;
        const V ordinary = element_lanes<true, false>(e, x);
        if (all_lanes(ordinary)) return x.value;
        V value[1] = {x.value};
        by_element(ordinary, e, value, [&](const Element& s, double* out) { out[0] = term(s); });
        return value[0];
    }

    template <class V, bool P = packet_form, std::enable_if_t<P, int> = 0>
    PartialLanes<V> partials(double, const ElementLanes<V>& e) const
    {
        FLanes<V> x;
        const V ordinary = element_lanes<false, true>(e, x);
        if (all_lanes(ordinary)) return {x.d_p, x.d_log_p, x.d_q, x.d_log_q};
        V d[4] = {x.d_p, x.d_log_p, x.d_q, x.d_log_q};
        by_element(ordinary, e, d, [&](const Element& s, double* out) {
            const Partials z = partials(Final{0.0}, s);
            out[0] = z.d_p;
            out[1] = z.d_log_p;
            out[2] = z.d_q;
            out[3] = z.d_log_q;
        });
        return {d[0], d[1], d[2], d[3]};
    }

private:
    /// f_lanes on element lanes; returns the mask of ordinary lanes (see above).
    template <bool with_value, bool with_partials, class V>
    DIVERGENCE_SIMD_INLINE V element_lanes(const ElementLanes<V>& e, FLanes<V>& x) const
    {
        const V l = simd::sub(e.log_p, e.log_q);  // NaN where both masses are 0, +-inf where one is
        const V high = simd::less(simd::broadcast<V>(0.0), l);
        const V m = simd::select(high, e.p, e.q);
        const V t = simd::mul(simd::mul(l, l), simd::broadcast<V>(1.0 / (700.0 * 700.0)));
        const V ordinary = f_lanes<with_value, with_partials>(generator, l, high, m, t, simd::broadcast<V>(1e-300), x);
        const V away = simd::less(simd::broadcast<V>(1.0 / 256.0), simd::mul(l, l));  // |l| > 1/16
        return simd::keep(simd::keep(ordinary, away), simd::less(simd::broadcast<V>(DBL_MIN), m));  // m a normal double
    }
    template <class V>
    static DIVERGENCE_SIMD_INLINE bool all_lanes(const V& mask)
    {
        const V zero = simd::broadcast<V>(0.0);
        return !simd::any(simd::select(mask, zero, simd::equal(zero, zero)));
    }
    /// Lanes of out[k] outside `mask` (special lanes) replaced by the k-th result of f(element, results),
    /// taken element by element.
    template <class V, int K, class F>
    static void by_element(const V& mask, const ElementLanes<V>& e, V (&out)[K], const F& f)
    {
        constexpr int width = simd::lanes<V>;
        alignas(64) double p[width], log_p[width], q[width], log_q[width], results[K][width];
        simd::store(p, e.p);
        simd::store(log_p, e.log_p);
        simd::store(q, e.q);
        simd::store(log_q, e.log_q);
        alignas(64) double ordinary[width];
        simd::store(ordinary, mask);
        for (int k = 0; k < K; ++k) simd::store(results[k], out[k]);
        for (int i = 0; i < width; ++i) {
            std::uint64_t bits;
            std::memcpy(&bits, &ordinary[i], sizeof bits);
            if (bits != 0) continue;  // an ordinary lane keeps its packet result
            double lane[K];
            f(Element{p[i], log_p[i], q[i], log_q[i]}, lane);
            for (int k = 0; k < K; ++k) results[k][i] = lane[k];
        }
        for (int k = 0; k < K; ++k) out[k] = simd::load<V>(results[k]);
    }

public:

    Partials partials(const Final&, const Element& e) const
    {
        const auto& g = generator;
        Partials d;
        if (e.log_p == -infinity && e.log_q == -infinity) return d;
        if (e.log_p == -infinity) {  // p = 0 < q
            d.d_p = g.f_prime_at_zero();
            d.d_log_p = positive_times(e.q, g.u_f_prime_at_zero());
            d.d_q = g.phi_at_zero();
            d.d_log_q = positive_times(e.q, g.phi_at_zero());
            return d;
        }
        if (e.log_q == -infinity) {  // q = 0 < p
            d.d_p = g.slope_at_infinity();
            d.d_log_p = positive_times(e.p, g.slope_at_infinity());
            d.d_q = g.phi_at_infinity();
            d.d_log_q = positive_times(e.p, g.phi_over_u_at_infinity());
            return d;
        }
        const double l = e.log_p - e.log_q;
        const generators::Scaled fp = f_prime_scaled(g, l), phi = phi_scaled(g, l);
        d.d_p = scaled_value(fp, l);
        d.d_q = scaled_value(phi, l);
        d.d_log_p = times_power_mass(fp.x, fp.k + 1.0, e);
        d.d_log_q = times_power_mass(phi.x, phi.k, e);
        return d;
    }
};

}  // namespace detail

/// f-divergence D_f(P || Q) = sum_i q_i f(p_i / q_i) per row, for any generator (generators.hpp:
/// the table in namespace divergence::generators, or a struct of your own with the same members).
/// Zeros: p_i = q_i = 0 counts 0; p_i = 0 < q_i counts q_i f(0+); q_i = 0 < p_i counts
/// p_i lim f(u)/u, so +inf exactly where f(0+) or the slope at infinity is infinite (e.g. support
/// mismatch for KL). Between normalized rows D_f >= f(1) (0 for every generator but Gan, ModifiedGan);
/// values below f(1) from rounding are clamped.
/// Gradients: dD/dp_i = f'(r_i), dD/dq_i = f(r_i) - r_i f'(r_i); dD/dlog p_i = p_i f'(r_i),
/// dD/dlog q_i = q_i (f(r_i) - r_i f'(r_i)), taken as limits at zeros (finite wherever the limit is);
/// from logits the driver applies the softmax Jacobian and 1/T.
/// Accuracy: each element is taken at l_i = log p_i - log q_i (from the logs) and every product with
/// a mass in the log domain (q f(r) = x p^k q^(1-k), generators::Scaled), so no intermediate
/// overflows or underflows where the result does not: for every generator of the table the terms and
/// partials are exact (the generator's few ulp plus about |log p^k q^(1-k)| eps from exp) at every
/// finite input, e.g. Pearson's (p - q)^2 / q where r^2 overflows, Neyman's (p - q)^2 / p where both
/// masses underflow, Jeffreys' p (1 - 1/r) log r for |log r| > 708. A generator of your own without the
/// scaled members is exact while r is a normal double and f, f', phi are finite, and saturates to its
/// limits beyond. +inf only where the exact value is infinite or beyond the double range; finite
/// inputs never give NaN.
/// Speed: for a generator with the packet form (the table's f_packet members: KL, reverse KL, Pearson,
/// Neyman, squared Hellinger, Jeffreys, the Jensen-Shannon family, GAN, the skew KLs, triangular, total
/// variation; or one of your own whose f is a template over its argument type) every input form runs vectorized: two rows of logits on the
/// fused kernel (detail/fused_f_divergence.hpp), every other form and mix on the element engine
/// (core/element.hpp), whose lanes hand exact zeros and the extremes above to the scalar log-domain
/// formulas. A generator with only `double f(double)` runs them element by element in double.
/// \throws std::invalid_argument on bad shapes, entries, options or outputs (see docs/errors.md);
/// generators validate their parameters when constructed.
template <class P, class Q, class Generator, class Out = detail::outputs_for<P>>
detail::result_scalar_t<P> f_divergence(const P& p, const Q& q, const Generator& generator, const Options& options = {},
                                        const Out& out = {})
{
    static_assert(detail::has_f_v<Generator>,
                  "divergence: a generator needs f: `double f(double u) const`, or `template <class V> V f(const V& u) "
                  "const` written with divergence::math functions (then f' and f'' are derived and it is vectorized).");
    if constexpr (detail::has_f_v<Generator>) {
        static_assert(detail::has_f_prime_v<Generator> || detail::derivable_f_v<Generator>,
                      "divergence: a generator whose f takes only double needs f_prime: `double f_prime(double u) const` "
                      "(or write f as a template over its argument type, and f' is derived).");
        if constexpr (detail::is_f_generator_v<Generator>) {
            return detail::call("f_divergence", detail::FDivergenceKernel<Generator>{generator}, p, q, options, out);
        }
    }
    return {};  // not reached: a static_assert above failed
}

namespace detail {

/// The first NaN column of each row of a table of log ratios (-1: none), on the executor.
template <class Scalar>
struct FirstNanJob : IndexedRowJob {
    MatrixView<const Scalar> table;
    Index* first;

    Index start(Pass<0>, Index) const { return -1; }
    void accumulate(Pass<0>, Index& found, Index r, Index begin, Index end) const
    {
        for (Index c = begin; c < end && found < 0; ++c) {
            if (std::isnan(double(table(r, c)))) found = c;
        }
    }
    void merge(Pass<0>, Index& into, const Index& next, Index) const { into = into >= 0 ? into : next; }
    void finish(Pass<0>, Index& r, const Index& found) const { first[r] = found; }
};

/// h(exp(l)) for every log ratio l of a table, into `out`, on the executor (a last pass only).
template <class Scalar, class Generator>
struct DensityRatioWeightsJob : IndexedRowJob {
    MatrixView<const Scalar> table;
    const Complete<Generator>& generator;
    const MatrixView<Scalar>& out;

    static constexpr int passes = 0;
    bool writes() const { return true; }
    void write(Index r, Index begin, Index end) const
    {
        for (Index c = begin; c < end; ++c) out(r, c) = Scalar(generator.weight(std::exp(double(table(r, c)))));
    }
};

}  // namespace detail

/// f-distill weights h(r) = r^2 f''(r) at r = exp(log_ratio), elementwise, into `weights` (any
/// writable Eigen object with direct access and the shape of log_ratio; vectors of equal size match).
/// In one-step diffusion distillation (f-distill, arXiv:2502.15681) the generator's gradient is
/// E[h(r(x)) (score_q(x) - score_p(x)) dx/dtheta] with r = p/q the teacher/student density ratio,
/// usually log r = a discriminator's logit; h scales each sample's score difference (reverse KL: h = 1,
/// forward KL: h = r). f-distill also divides h by its batch mean; do that on the result if wanted.
/// log_ratio may be +-inf (r = inf / 0: the generator's limits of h). Float inputs are computed in double.
/// \throws std::invalid_argument if a log ratio is NaN or the shapes differ.
template <class Generator, class Derived>
void density_ratio_weights(const Eigen::DenseBase<Derived>& log_ratio, const Generator& generator,
                           const MatrixOut<typename Derived::Scalar>& weights)
{
    static_assert(detail::has_f_v<Generator>,
                  "divergence: a generator needs f: `double f(double u) const`, or `template <class V> V f(const V& u) "
                  "const` written with divergence::math functions (then f' and f'' are derived).");
    static_assert(!detail::has_f_v<Generator> || detail::has_weight_v<Generator> || detail::has_f_second_v<Generator> ||
                      detail::derivable_f_v<Generator>,
                  "divergence: density_ratio_weights needs f_second (`double f_second(double u) const`) or weight (h = u^2 f''), "
                  "or f written as a template over its argument type.");
    using Scalar = typename Derived::Scalar;
    const char* function = "density_ratio_weights";
    const Index rows = Derived::IsVectorAtCompileTime ? 1 : log_ratio.rows();
    const Index cols = Derived::IsVectorAtCompileTime ? log_ratio.size() : log_ratio.cols();
    const MatrixView<Scalar>& out = weights.view;
    if (!weights.requested() || out.rows != rows || out.cols != cols) {
        detail::fail(function, "weights",
             "shape " + std::to_string(out.rows) + " x " + std::to_string(out.cols) + " differs from log_ratio's " +
                 std::to_string(rows) + " x " + std::to_string(cols));
    }
    // Read in place (an expression is evaluated once); every log ratio is checked before any weight
    // is written.
    const Input<Scalar> table(log_ratio, Form::log_probs, 1.0);
    const detail::Chunks chunks{cols, detail::fused_chunk};
    std::vector<Index> first_nan(static_cast<std::size_t>(rows));
    detail::execute(detail::FirstNanJob<Scalar>{{}, table.view(), first_nan.data()}, rows, chunks);
    for (Index r = 0; r < rows; ++r) {
        if (first_nan[std::size_t(r)] >= 0) detail::fail(function, "log_ratio", r, first_nan[std::size_t(r)], "NaN log ratio");
    }
    const detail::Complete<Generator> complete(generator);
    detail::execute(detail::DensityRatioWeightsJob<Scalar, Generator>{{}, table.view(), complete, out}, rows, chunks);
}

/// density_ratio_weights returning a new array of the shape of log_ratio.
template <class Generator, class Derived>
Eigen::Array<typename Derived::Scalar, Derived::RowsAtCompileTime, Derived::ColsAtCompileTime>
density_ratio_weights(const Eigen::DenseBase<Derived>& log_ratio, const Generator& generator)
{
    Eigen::Array<typename Derived::Scalar, Derived::RowsAtCompileTime, Derived::ColsAtCompileTime> weights(
        log_ratio.rows(), log_ratio.cols());
    density_ratio_weights(log_ratio, generator, weights);
    return weights;
}

}  // namespace divergence

#endif
