#ifndef DIVERGENCE_PARAMETRIC_FAMILY_KL_HPP
#define DIVERGENCE_PARAMETRIC_FAMILY_KL_HPP

// KL(p || q) in closed form between parametric distributions (families.hpp), with gradients in the
// usual parameters, one pair at a time or batched over rows of parameters:
//   parametric::kl(p, q)             -> double
//   parametric::kl_gradient(p, q)    -> KlGradient<P, Q>{value, d/dp, d/dq}
//   parametric::kl_rows<P, Q>(ps, qs, grads) -> one KL per row of parameters
// Same-family pairs: discrete_families.hpp, continuous_families.hpp. Pairs of different families:
// cross_family.hpp. A pair with no formula does not compile.

#include <Eigen/Core>

#include <string>
#include <type_traits>
#include <utility>

#include "divergence/core/executor.hpp"
#include "divergence/parametric/continuous_families.hpp"
#include "divergence/parametric/cross_family.hpp"
#include "divergence/parametric/discrete_families.hpp"
#include "divergence/parametric/families.hpp"

namespace divergence::parametric {
namespace detail {

template <class P, class Q, class = void>
struct has_kl : std::false_type {};
template <class P, class Q>
struct has_kl<P, Q, std::void_t<decltype(kl_impl(std::declval<const P&>(), std::declval<const Q&>(), std::declval<KlGradient<P, Q>*>()))>>
    : std::true_type {};

template <class P, class Q>
void check_pair(const P&, const Q&, const Site&)
{
}
inline void check_pair(const Dirichlet& p, const Dirichlet& q, const Site& site)
{
    if (p.concentration.size() != q.concentration.size())
        divergence::detail::fail(site.function, "q.concentration", site.row, -1,
                                 "has " + std::to_string(q.concentration.size()) + " entries, p has " +
                                     std::to_string(p.concentration.size()));
}

/// Where KL is +inf (a support mismatch, or a value beyond the double range) its gradients are 0: they
/// carry no meaning there, and inf - inf in the formulas would make NaN.
template <class P, class Q>
void clear_if_infinite(KlGradient<P, Q>& g)
{
    if (g.value == infinity) {
        g.first = zero_like(g.first);
        g.second = zero_like(g.second);
    }
}

template <class P, class Q>
void validate_pair(const P& p, const Q& q, const char* function, Index row = -1)
{
    validate(p, Site{function, "p", row});
    validate(q, Site{function, "q", row});
    check_pair(p, q, Site{function, "q", row});
}

}  // namespace detail

/// KL(p || q) in nats between two parametric distributions (see families.hpp for the parameters and
/// docs/exponential-families.md for each formula). +inf where p puts mass outside q's support; never NaN.
/// \throws std::invalid_argument naming 'p.<field>' or 'q.<field>' if a parameter is out of its domain.
template <class TagP, class TagQ, class P = Family<TagP>, class Q = Family<TagQ>, std::enable_if_t<detail::has_kl<P, Q>::value, int> = 0>
double kl(const Family<TagP>& p, const Family<TagQ>& q)
{
    detail::validate_pair(p, q, "parametric::kl");
    return detail::kl_impl(p, q, static_cast<KlGradient<P, Q>*>(nullptr));
}

/// KL(p || q) and its gradients with respect to the parameters of p and of q, each returned as a
/// value of its family's type (field = d KL / d field). Where KL is +inf the gradients are 0.
/// \throws std::invalid_argument as kl.
template <class TagP, class TagQ, class P = Family<TagP>, class Q = Family<TagQ>, std::enable_if_t<detail::has_kl<P, Q>::value, int> = 0>
KlGradient<P, Q> kl_gradient(const Family<TagP>& p, const Family<TagQ>& q)
{
    detail::validate_pair(p, q, "parametric::kl_gradient");
    KlGradient<P, Q> g;
    detail::kl_impl(p, q, &g);
    detail::clear_if_infinite(g);
    return g;
}

/// Optional gradient outputs of kl_rows (resized by the call; null: not computed).
struct RowGradients {
    Eigen::ArrayXXd* p = nullptr;  ///< d KL_r / d (row r of p's parameters), B x (p's parameter count)
    Eigen::ArrayXXd* q = nullptr;  ///< d KL_r / d (row r of q's parameters), B x (q's parameter count)
};

namespace detail {

template <class F>
Index parameter_columns(Index cols)
{
    return Parameters<F>::count < 0 ? cols : Parameters<F>::count;
}

template <class P, class Q, class A, class B>
struct FamilyKlRowsJob : divergence::detail::IndexedRowJob {
    static constexpr int passes = 0;
    const A& p;
    const B& q;
    Eigen::ArrayXd& values;
    RowGradients out;
    bool writes() const { return true; }
    void write(Index r, Index, Index) const
    {
        const Index rp = p.rows() == 1 ? 0 : r, rq = q.rows() == 1 ? 0 : r;
        const Eigen::VectorXd a = p.row(rp).transpose(), b = q.row(rq).transpose();
        const P first = Parameters<P>::make(a.data(), a.size());
        const Q second = Parameters<Q>::make(b.data(), b.size());
        if (!out.p && !out.q) {
            values[r] = kl_impl(first, second, static_cast<KlGradient<P, Q>*>(nullptr));
            return;
        }
        KlGradient<P, Q> g{0.0, zero_like(first), zero_like(second)};
        values[r] = kl_impl(first, second, &g);
        clear_if_infinite(g);
        Eigen::VectorXd gp(a.size()), gq(b.size());
        Parameters<P>::write(g.first, gp.data());
        Parameters<Q>::write(g.second, gq.data());
        if (out.p) out.p->row(r) = gp.transpose().array();
        if (out.q) out.q->row(r) = gq.transpose().array();
    }
};

}  // namespace detail

/// KL(p_r || q_r) for each row r: row r of `p` holds the parameters of a P in field order (Gamma:
/// shape, rate; Normal: mean, stddev; Binomial: trials, probability; Dirichlet: the K concentrations),
/// likewise `q`. Either may have a single row, used for every row of the other. Gradients, if asked,
/// go to `gradients.p` / `gradients.q` (resized to B rows, one column per parameter). Runs on the
/// library's executor (rows spread over threads with OpenMP; the same bits for any thread count).
/// \throws std::invalid_argument naming 'p' or 'q' (with the field, row and column) for a wrong
///         column count, a row count other than 1 or B, or a parameter out of its domain.
template <class P, class Q = P, class A, class B, std::enable_if_t<detail::has_kl<P, Q>::value, int> = 0>
Eigen::ArrayXd kl_rows(const Eigen::DenseBase<A>& p, const Eigen::DenseBase<B>& q, const RowGradients& gradients = {})
{
    static_assert(std::is_same_v<typename A::Scalar, double> && std::is_same_v<typename B::Scalar, double>,
                  "divergence: parametric::kl_rows takes double parameters; convert them, e.g. p.cast<double>().");
    const char* function = "parametric::kl_rows";
    const auto pe = p.derived().eval();
    const auto qe = q.derived().eval();
    const Index np = detail::parameter_columns<P>(pe.cols()), nq = detail::parameter_columns<Q>(qe.cols());
    if (pe.rows() == 0) divergence::detail::fail(function, "p", "has no rows");
    if (qe.rows() == 0) divergence::detail::fail(function, "q", "has no rows");
    if (pe.cols() != np || np == 0)
        divergence::detail::fail(function, "p", "has " + std::to_string(pe.cols()) + " columns, expected " + std::to_string(np));
    if (qe.cols() != nq || nq == 0)
        divergence::detail::fail(function, "q", "has " + std::to_string(qe.cols()) + " columns, expected " + std::to_string(nq));
    const Index rows = std::max(pe.rows(), qe.rows());
    if (pe.rows() != 1 && pe.rows() != rows)
        divergence::detail::fail(function, "p", "has " + std::to_string(pe.rows()) + " rows, q has " + std::to_string(qe.rows()));
    if (qe.rows() != 1 && qe.rows() != rows)
        divergence::detail::fail(function, "q", "has " + std::to_string(qe.rows()) + " rows, p has " + std::to_string(pe.rows()));
    // Every row is checked before anything is computed (a job must not throw).
    for (Index r = 0; r < rows; ++r) {
        const Index rp = pe.rows() == 1 ? 0 : r, rq = qe.rows() == 1 ? 0 : r;
        const Eigen::VectorXd a = pe.row(rp).transpose(), b = qe.row(rq).transpose();
        detail::validate_pair(detail::Parameters<P>::make(a.data(), a.size()), detail::Parameters<Q>::make(b.data(), b.size()),
                              function, r);
    }
    Eigen::ArrayXd values(rows);
    if (gradients.p) gradients.p->resize(rows, np);
    if (gradients.q) gradients.q->resize(rows, nq);
    using Job = detail::FamilyKlRowsJob<P, Q, std::decay_t<decltype(pe)>, std::decay_t<decltype(qe)>>;
    divergence::detail::execute(Job{{}, pe, qe, values, gradients}, rows, divergence::detail::Chunks{1}, rows >= 256);
    return values;
}

}  // namespace divergence::parametric

#endif
