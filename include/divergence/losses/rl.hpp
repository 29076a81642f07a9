#ifndef DIVERGENCE_LOSSES_RL_HPP
#define DIVERGENCE_LOSSES_RL_HPP

// Per-token KL penalties of RLHF (PPO, GRPO): estimators of KL(pi || ref) from the log-probabilities
// of sampled tokens, their values and their gradients with respect to the policy's log-probabilities.
// The exact KL over the vocabulary ("full") is not here: it is reverse_kl(logits(ref), logits(policy))
// (discrete/kl.hpp; docs/losses.md).

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "divergence/core/error.hpp"
#include "divergence/core/executor.hpp"
#include "divergence/core/sum.hpp"
#include "divergence/core/view.hpp"
#include "divergence/detail/log_ratio.hpp"  // exp_minus_one_minus(d) = e^d - 1 - d

namespace divergence {

/// The per-token estimator k(x) of KL(pi || ref) for a token x sampled from pi, with
/// delta = log ref(x) - log pi(x) (Schulman, "Approximating KL divergence",
/// http://joschu.net/blog/kl-approx.html). "Gradient as a loss" is that of E_{x ~ pi}[k] with the
/// samples held fixed (what autograd gives when k is added to the loss):
enum class KlEstimator {
    k1,   ///< -delta: E = KL(pi || ref), unbiased; expected gradient 0 (TRL/OpenRLHF `k1`, verl `kl`/`k1`)
    k2,   ///< delta^2 / 2: biased value; expected gradient = grad KL(pi || ref) (`k2`, verl `mse`)
    k3,   ///< e^delta - 1 - delta >= 0: E = KL(pi || ref), unbiased; expected gradient = grad KL(ref || pi)
          ///< (`k3`, verl `low_var_kl`)
    abs,  ///< |delta|: biased value; gradient -sign(delta) per token (verl `abs`)
    k1_straight_through,  ///< value of k1, gradient of k2 (verl `k1+`): E = KL, E[grad] = grad KL(pi || ref)
    k3_straight_through   ///< value of k3, gradient of k2 (verl `k3+`): E = KL, E[grad] = grad KL(pi || ref)
};

/// How per-token values become the returned scalar (m_bt the mask, 1 for every token without one).
enum class Aggregation {
    token_mean,     ///< sum_bt m_bt k_bt / sum_bt m_bt (0 if no token counts); verl "token-mean"
    sequence_mean,  ///< mean over sequences with sum_t m_bt > 0 of sum_t m_bt k_bt / sum_t m_bt;
                    ///< verl "seq-mean-token-mean"
    sum             ///< sum_bt m_bt k_bt
};

/// Which tokens count and how much: a view of the caller's bool, float or double matrix of the
/// log-probabilities' shape (a vector for a vector). bool: true keeps a token; float/double: a weight
/// m >= 0 (0 drops the token). A temporary does not compile (it would be destroyed before the call).
struct TokenMask {
    MatrixView<const bool> bools;
    MatrixView<const float> floats;
    MatrixView<const double> doubles;

    TokenMask() = default;
    template <class Derived>
    TokenMask(const Eigen::DenseBase<Derived>& m)  // NOLINT: implicit on purpose, `options.mask = m;`
    {
        using S = typename Derived::Scalar;
        constexpr bool ok = std::is_same_v<S, bool> || std::is_same_v<S, float> || std::is_same_v<S, double>;
        static_assert(ok, "divergence: a token mask holds bools, floats or doubles.");
        static_assert(!ok || detail::has_direct_access_v<Derived>,
                      "divergence: a token mask needs direct memory access: store it in a named matrix first.");
        if constexpr (ok && detail::has_direct_access_v<Derived>) {
            if constexpr (std::is_same_v<S, bool>) bools = detail::view_of<const bool>(m.derived());
            if constexpr (std::is_same_v<S, float>) floats = detail::view_of<const float>(m.derived());
            if constexpr (std::is_same_v<S, double>) doubles = detail::view_of<const double>(m.derived());
        }
    }
    /// A temporary matrix would be destroyed before the call reads it: name it first.
    template <class Derived, class = std::enable_if_t<detail::is_owning_temporary_v<Derived>>, class = void>
    TokenMask(Derived&& dangling_temporary) = delete;

    bool active() const { return !bools.empty() || !floats.empty() || !doubles.empty(); }
    Index rows() const { return !bools.empty() ? bools.rows : !floats.empty() ? floats.rows : doubles.rows; }
    Index cols() const { return !bools.empty() ? bools.cols : !floats.empty() ? floats.cols : doubles.cols; }
    double at(Index r, Index c) const
    {
        if (!bools.empty()) return bools(r, c) ? 1.0 : 0.0;
        if (!floats.empty()) return double(floats(r, c));
        if (!doubles.empty()) return doubles(r, c);
        return 1.0;
    }
};

/// Options of kl_penalty. Clamps are off by default (infinity); verl clamps k3's delta to +-20 and its
/// value to +-10 (`delta_clamp = 20, value_clamp = 10`).
struct KlPenaltyOptions {
    KlEstimator estimator = KlEstimator::k3;        ///< see KlEstimator
    Aggregation aggregation = Aggregation::token_mean;  ///< see Aggregation
    /// delta is clamped to [-c, c] before the estimator (any estimator); where |delta| > c the token's
    /// gradient is 0 (torch.clamp's convention: at |delta| = c it passes). > 0, +inf = off.
    double delta_clamp = std::numeric_limits<double>::infinity();
    /// The estimator's value is clamped to [-c, c]; where |k| > c the token's gradient is 0. > 0, +inf = off.
    /// Straight-through estimators clamp their value only: their gradient is k2's, unclamped.
    double value_clamp = std::numeric_limits<double>::infinity();
    TokenMask mask = {};                        ///< tokens to count (see TokenMask); empty = all
    Validation validation = Validation::full;   ///< full: every kept token's log-probabilities are finite
};

/// Where kl_penalty writes besides the returned value; each field optional, caller-owned, any layout,
/// the shape of logp.
template <class Scalar>
struct KlPenaltyOutputs {
    MatrixOut<Scalar> token_values;  ///< k per token (times the ratio pi/pi_old if old_logp is given); masked tokens 0;
                                     ///< not multiplied by float mask weights
    MatrixOut<Scalar> grad_logp;     ///< d(returned value) / d logp
};

namespace detail {

/// A token's estimator value and its derivative with respect to log pi(x).
struct TokenKl {
    double value = 0.0;
    double grad = 0.0;
};

/// k(logp, ref) and dk/dlogp for one token (see KlEstimator and KlPenaltyOptions); with an old
/// log-probability, ratio = exp(logp - old) multiplies the value and is differentiated too:
/// d(ratio k)/dlogp = ratio (k + dk/dlogp).
inline TokenKl token_kl(double logp, double ref, const double* old, const KlPenaltyOptions& options)
{
    const double raw = ref - logp;
    double delta = raw, d_delta = -1.0;  // d delta / d logp
    if (std::abs(delta) > options.delta_clamp) {
        delta = std::copysign(options.delta_clamp, delta);
        d_delta = 0.0;
    }
    TokenKl t;
    double d_value = 0.0;  // dk / d delta
    switch (options.estimator) {
    case KlEstimator::k1:
    case KlEstimator::k1_straight_through: t.value = -delta; d_value = -1.0; break;
    case KlEstimator::k2: t.value = 0.5 * delta * delta; d_value = delta; break;
    case KlEstimator::k3:
    case KlEstimator::k3_straight_through: t.value = exp_minus_one_minus(delta); d_value = std::expm1(delta); break;
    case KlEstimator::abs: t.value = std::abs(delta); d_value = delta > 0.0 ? 1.0 : delta < 0.0 ? -1.0 : 0.0; break;
    }
    t.grad = d_value * d_delta;
    if (std::abs(t.value) > options.value_clamp) {
        t.value = std::copysign(options.value_clamp, t.value);
        t.grad = 0.0;
    }
    if (options.estimator == KlEstimator::k1_straight_through || options.estimator == KlEstimator::k3_straight_through) {
        t.grad = -raw;  // d/dlogp of (ref - logp)^2 / 2
    }
    if (old != nullptr) {
        const double ratio = std::exp(logp - *old);
        t.grad = ratio * (t.value + t.grad);
        t.value = ratio * t.value;
    }
    return t;
}

/// The per-sequence (row) sums sum_t m_t k_t, and the last pass writing token values and gradients
/// (gradient of token (b, t) = m_bt * scale_b * dk/dlogp).
template <class Scalar>
struct KlPenaltyJob : IndexedRowJob {
    MatrixView<const Scalar> logp, ref, old;
    const TokenMask& mask;
    const KlPenaltyOptions& options;
    const MatrixView<Scalar>* values_out;
    const MatrixView<Scalar>* grad_out;
    const double* scale;  ///< per row: the aggregation's factor
    double* sums;         ///< per row: sum_t m_t k_t

    TokenKl at(Index r, Index c) const
    {
        const double o = old.empty() ? 0.0 : double(old(r, c));
        return token_kl(double(logp(r, c)), double(ref(r, c)), old.empty() ? nullptr : &o, options);
    }
    CompensatedSum start(Pass<0>, Index) const { return {}; }
    void accumulate(Pass<0>, CompensatedSum& sum, Index r, Index begin, Index end) const
    {
        for (Index c = begin; c < end; ++c) {
            const double m = mask.at(r, c);
            if (m != 0.0) sum.add(m * at(r, c).value);
        }
    }
    void merge(Pass<0>, CompensatedSum& into, const CompensatedSum& next, Index) const { into.merge(next); }
    void finish(Pass<0>, Index& r, const CompensatedSum& sum) const { sums[r] = sum.value(); }
    bool writes() const { return values_out != nullptr || grad_out != nullptr; }
    void write(Index r, Index begin, Index end) const
    {
        for (Index c = begin; c < end; ++c) {
            const double m = mask.at(r, c);
            const TokenKl t = m != 0.0 ? at(r, c) : TokenKl{};
            if (values_out) (*values_out)(r, c) = Scalar(t.value);
            if (grad_out) (*grad_out)(r, c) = Scalar(m * scale[r] * t.grad);
        }
    }
};

template <class Scalar, class D>
MatrixView<const Scalar> token_view(const Eigen::DenseBase<D>& x)
{
    return view_of<const Scalar>(x.derived());
}

inline void check_same_shape(const char* function, const char* name, Index rows, Index cols, Index r, Index c)
{
    if (rows != r || cols != c) {
        fail(function, name, "shape " + std::to_string(rows) + " x " + std::to_string(cols) + " differs from logp's " +
                                 std::to_string(r) + " x " + std::to_string(c));
    }
}

template <class Scalar>
Scalar kl_penalty(const char* function, const MatrixView<const Scalar>& logp, const MatrixView<const Scalar>& ref,
                  const MatrixView<const Scalar>& old, const KlPenaltyOptions& options, const KlPenaltyOutputs<Scalar>& out)
{
    const Index rows = logp.rows, cols = logp.cols;
    if (rows == 0 || cols == 0) fail(function, "logp", "empty input (" + std::to_string(rows) + " x " + std::to_string(cols) + ")");
    check_same_shape(function, "ref_logp", ref.rows, ref.cols, rows, cols);
    if (!old.empty()) check_same_shape(function, "old_logp", old.rows, old.cols, rows, cols);
    if (options.mask.active()) check_same_shape(function, "options.mask", options.mask.rows(), options.mask.cols(), rows, cols);
    if (out.token_values.requested()) {
        check_same_shape(function, "token_values", out.token_values.view.rows, out.token_values.view.cols, rows, cols);
    }
    if (out.grad_logp.requested()) check_same_shape(function, "grad_logp", out.grad_logp.view.rows, out.grad_logp.view.cols, rows, cols);
    if (!(options.delta_clamp > 0.0)) fail(function, "options.delta_clamp", describe("must be > 0 (infinity: off), got", options.delta_clamp));
    if (!(options.value_clamp > 0.0)) fail(function, "options.value_clamp", describe("must be > 0 (infinity: off), got", options.value_clamp));
    // The mask's weights per sequence (validated: finite, >= 0), and the tokens' entries.
    std::vector<double> weight(std::size_t(rows), 0.0);
    for (Index r = 0; r < rows; ++r) {
        CompensatedSum w;
        for (Index c = 0; c < cols; ++c) {
            const double m = options.mask.at(r, c);
            if (!(m >= 0.0 && std::isfinite(m))) fail(function, "options.mask", r, c, describe("weight must be finite and >= 0, got", m));
            w.add(m);
            if (m == 0.0 || options.validation == Validation::none) continue;
            const auto check = [&](const char* name, const MatrixView<const Scalar>& x) {
                if (!x.empty() && !(std::isfinite(double(x(r, c))) && double(x(r, c)) <= 0.0)) {
                    fail(function, name, r, c, describe("log-probability must be finite and <= 0, got", double(x(r, c))));
                }
            };
            check("logp", logp);
            check("ref_logp", ref);
            check("old_logp", old);
        }
        weight[std::size_t(r)] = w.value();
    }
    CompensatedSum total_weight;
    Index sequences = 0;
    for (Index r = 0; r < rows; ++r) {
        total_weight.add(weight[std::size_t(r)]);
        sequences += weight[std::size_t(r)] > 0.0 ? 1 : 0;
    }
    std::vector<double> scale(std::size_t(rows), 1.0);
    for (Index r = 0; r < rows; ++r) {
        double& s = scale[std::size_t(r)];
        switch (options.aggregation) {
        case Aggregation::token_mean: s = total_weight.value() > 0.0 ? 1.0 / total_weight.value() : 0.0; break;
        case Aggregation::sequence_mean:
            s = weight[std::size_t(r)] > 0.0 ? 1.0 / (weight[std::size_t(r)] * double(sequences)) : 0.0;
            break;
        case Aggregation::sum: s = 1.0; break;
        }
    }
    std::vector<double> sums(std::size_t(rows), 0.0);
    const MatrixView<Scalar>* values_out = out.token_values.requested() ? &out.token_values.view : nullptr;
    const MatrixView<Scalar>* grad_out = out.grad_logp.requested() ? &out.grad_logp.view : nullptr;
    const KlPenaltyJob<Scalar> job{{}, logp, ref, old, options.mask, options, values_out, grad_out, scale.data(), sums.data()};
    execute(job, rows, Chunks{cols, fused_chunk});
    CompensatedSum total;
    for (Index r = 0; r < rows; ++r) total.add(sums[std::size_t(r)] * scale[std::size_t(r)]);
    return Scalar(total.value());
}

template <class L, class R, class Out>
constexpr bool check_kl_penalty_arguments()
{
    using S = typename L::Scalar;
    constexpr bool real = std::is_same_v<S, float> || std::is_same_v<S, double>;
    static_assert(real, "divergence::kl_penalty: log-probabilities are float or double.");
    static_assert(!real || std::is_same_v<typename R::Scalar, S>,
                  "divergence::kl_penalty: logp and ref_logp must have the same scalar type.");
    static_assert(std::is_same_v<Out, KlPenaltyOutputs<S>>,
                  "divergence::kl_penalty: out must be KlPenaltyOutputs<Scalar> of the inputs' scalar.");
    static_assert(has_direct_access_v<L> && has_direct_access_v<R>,
                  "divergence::kl_penalty: log-probabilities need direct memory access (a matrix, array, Map, Ref or "
                  "block): evaluate expressions first.");
    return real && std::is_same_v<typename R::Scalar, S> && std::is_same_v<Out, KlPenaltyOutputs<S>> &&
           has_direct_access_v<L> && has_direct_access_v<R>;
}

}  // namespace detail

/// The KL penalty of a batch of sampled tokens: per token k(delta) with delta = ref_logp - logp (the
/// estimator of KlPenaltyOptions::estimator, after the optional delta clamp, then the optional value
/// clamp), aggregated over the tokens the mask keeps (KlPenaltyOptions::aggregation).
/// logp (policy) and ref_logp (reference): the log-probabilities of the sampled tokens, B x S
/// (sequences x tokens, any layout, float or double) or a vector (one sequence); read in place.
/// Gradient (KlPenaltyOutputs::grad_logp): d(returned value)/d logp per token; ref_logp is a constant.
/// Per token, before the mask weight and the aggregation's factor: k1: 1, k2: logp - ref_logp,
/// k3: 1 - e^delta, abs: -sign(delta), straight-through: logp - ref_logp (k2's); 0 where clamped.
/// Expected values and gradients (samples from pi, theta the policy's parameters):
/// E[k1] = E[k3] = KL(pi || ref), E[grad k1] = 0, E[grad k2] = grad KL(pi || ref),
/// E[grad k3] = grad KL(ref || pi) (the other direction); docs/losses.md.
/// Accuracy: double arithmetic per token, k3 without cancellation at small delta, compensated sums.
/// \throws std::invalid_argument on shapes that differ, an empty input, non-finite log-probabilities of
/// a kept token (Validation::full), a negative or non-finite mask weight, or a clamp <= 0 or NaN.
template <class L, class R, class Out = KlPenaltyOutputs<typename L::Scalar>>
typename L::Scalar kl_penalty(const Eigen::DenseBase<L>& logp, const Eigen::DenseBase<R>& ref_logp,
                              const KlPenaltyOptions& options = {}, const Out& out = {})
{
    using Scalar = typename L::Scalar;
    if constexpr (detail::check_kl_penalty_arguments<L, R, Out>()) {
        return detail::kl_penalty<Scalar>("kl_penalty", detail::token_view<Scalar>(logp), detail::token_view<Scalar>(ref_logp),
                                          {}, options, out);
    } else {
        return Scalar(0);
    }
}

/// The importance-sampling-corrected penalty for tokens sampled from an older policy pi_old (TRL's and
/// Liger's GRPO `use_bias_correction_kl`, DeepSeek-V3.2): per token ratio * k with
/// ratio = pi / pi_old = exp(logp - old_logp). old_logp is a constant; the ratio is differentiated
/// (as autograd does when old_logp is detached and logp is not): d(ratio k)/dlogp = ratio (k + dk/dlogp).
/// So E_{x ~ pi_old}[ratio k3] = KL(pi || ref) and its expected gradient is grad KL(pi || ref), exactly.
/// token_values hold ratio * k. Otherwise as kl_penalty above (old_logp is checked like ref_logp).
template <class L, class R, class O, class Out = KlPenaltyOutputs<typename L::Scalar>>
typename L::Scalar kl_penalty(const Eigen::DenseBase<L>& logp, const Eigen::DenseBase<R>& ref_logp,
                              const Eigen::DenseBase<O>& old_logp, const KlPenaltyOptions& options = {}, const Out& out = {})
{
    using Scalar = typename L::Scalar;
    if constexpr (detail::check_kl_penalty_arguments<L, R, Out>() && detail::check_kl_penalty_arguments<L, O, Out>()) {
        return detail::kl_penalty<Scalar>("kl_penalty", detail::token_view<Scalar>(logp), detail::token_view<Scalar>(ref_logp),
                                          detail::token_view<Scalar>(old_logp), options, out);
    } else {
        return Scalar(0);
    }
}

/// The per-token values of kl_penalty (B x S, row-major; masked tokens 0), for a penalty placed in the
/// reward (r_t - beta k_t, PPO). Gradients go to `grad_logp` as for kl_penalty (of its aggregation).
template <class L, class R>
RowMatrix<typename L::Scalar> kl_penalty_tokens(const Eigen::DenseBase<L>& logp, const Eigen::DenseBase<R>& ref_logp,
                                                const KlPenaltyOptions& options = {},
                                                const MatrixOut<typename L::Scalar>& grad_logp = {})
{
    using Scalar = typename L::Scalar;
    RowMatrix<Scalar> values;
    if constexpr (detail::check_kl_penalty_arguments<L, R, KlPenaltyOutputs<Scalar>>()) {
        const MatrixView<const Scalar> v = detail::token_view<Scalar>(logp);
        values.resize(v.rows, v.cols);
        KlPenaltyOutputs<Scalar> out;
        out.token_values = values;
        out.grad_logp = grad_logp;
        detail::kl_penalty<Scalar>("kl_penalty_tokens", v, detail::token_view<Scalar>(ref_logp), {}, options, out);
    }
    return values;
}

/// kl_penalty_tokens with the importance-sampling correction (values ratio * k; see kl_penalty).
template <class L, class R, class O>
RowMatrix<typename L::Scalar> kl_penalty_tokens(const Eigen::DenseBase<L>& logp, const Eigen::DenseBase<R>& ref_logp,
                                                const Eigen::DenseBase<O>& old_logp, const KlPenaltyOptions& options = {},
                                                const MatrixOut<typename L::Scalar>& grad_logp = {})
{
    using Scalar = typename L::Scalar;
    RowMatrix<Scalar> values;
    if constexpr (detail::check_kl_penalty_arguments<L, R, KlPenaltyOutputs<Scalar>>() &&
                  detail::check_kl_penalty_arguments<L, O, KlPenaltyOutputs<Scalar>>()) {
        const MatrixView<const Scalar> v = detail::token_view<Scalar>(logp);
        values.resize(v.rows, v.cols);
        KlPenaltyOutputs<Scalar> out;
        out.token_values = values;
        out.grad_logp = grad_logp;
        detail::kl_penalty<Scalar>("kl_penalty_tokens", v, detail::token_view<Scalar>(ref_logp),
                                   detail::token_view<Scalar>(old_logp), options, out);
    }
    return values;
}

}  // namespace divergence

#endif
