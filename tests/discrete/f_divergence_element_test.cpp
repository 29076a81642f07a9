// f_divergence from probabilities, log-probabilities and mixed forms (the element engine, packet
// lanes with the row kernel's exact path for special lanes), for every generator of the table:
// values against a long-double loop written here, gradients against central differences of that
// loop, rows with exact zeros, masses near 1e-300 and ratios beyond 1e300, float and double, and the
// same bits for 1 and 2 threads.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "divergence/discrete/f_divergence.hpp"
#include "support/finite_difference.hpp"
#include "support/threads.hpp"

namespace discrete_f_divergence_element_test {  // the test binary is a unity build: each file keeps its names to itself

namespace dv = divergence;
namespace gen = divergence::generators;
using Real = long double;
template <class S>
using Rows = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Matrix = Rows<double>;

const double inf = std::numeric_limits<double>::infinity();

/// The input form pairs tested: (p, q) and which gradients are asked.
enum class Pair { probs_probs, log_probs_log_probs, probs_logits, logits_log_probs };
const Pair pairs[] = {Pair::probs_probs, Pair::log_probs_log_probs, Pair::probs_logits, Pair::logits_log_probs};

dv::Form form_p(Pair pair)
{
    switch (pair) {
    case Pair::probs_probs: return dv::Form::probs;
    case Pair::log_probs_log_probs: return dv::Form::log_probs;
    case Pair::probs_logits: return dv::Form::probs;
    case Pair::logits_log_probs: return dv::Form::logits;
    }
    return dv::Form::probs;
}
dv::Form form_q(Pair pair)
{
    switch (pair) {
    case Pair::probs_probs: return dv::Form::probs;
    case Pair::log_probs_log_probs: return dv::Form::log_probs;
    case Pair::probs_logits: return dv::Form::logits;
    case Pair::logits_log_probs: return dv::Form::log_probs;
    }
    return dv::Form::probs;
}

/// log-softmax of a row of logits at temperature 1, in long double.
std::vector<Real> log_softmax(const Matrix& z, Eigen::Index r)
{
    Real top = -std::numeric_limits<Real>::infinity();
    for (Eigen::Index c = 0; c < z.cols(); ++c) top = std::max(top, Real(z(r, c)));
    Real sum = 0;
    for (Eigen::Index c = 0; c < z.cols(); ++c) sum += std::exp(Real(z(r, c)) - top);
    std::vector<Real> out(std::size_t(z.cols()));
    for (Eigen::Index c = 0; c < z.cols(); ++c) out[std::size_t(c)] = Real(z(r, c)) - top - std::log(sum);
    return out;
}

/// The masses of row r of x in `form` (long double).
std::vector<Real> masses(const Matrix& x, Eigen::Index r, dv::Form form)
{
    if (form == dv::Form::logits) {
        std::vector<Real> m = log_softmax(x, r);
        for (Real& v : m) v = std::exp(v);
        return m;
    }
    std::vector<Real> m(std::size_t(x.cols()));
    for (Eigen::Index c = 0; c < x.cols(); ++c) m[std::size_t(c)] = form == dv::Form::probs ? Real(x(r, c)) : std::exp(Real(x(r, c)));
    return m;
}

/// sum_r sum_i q_i f(p_i / q_i) in long double, f taken from `f` (0 where p = q = 0).
Real reference(const Matrix& x, dv::Form fp, const Matrix& y, dv::Form fq, const std::function<Real(Real p, Real q)>& term)
{
    Real total = 0;
    for (Eigen::Index r = 0; r < x.rows(); ++r) {
        const std::vector<Real> p = masses(x, r, fp), q = masses(y, r, fq);
        for (std::size_t i = 0; i < p.size(); ++i) {
            if (p[i] == 0 && q[i] == 0) continue;
            total += term(p[i], q[i]);
        }
    }
    return total;
}

/// q f(p / q) from a generator's own scalar f (in double: for ratios in a moderate range).
template <class G>
std::function<Real(Real, Real)> generator_term(const G& g)
{
    return [g](Real p, Real q) { return q * Real(g.f(double(p / q))); };
}

/// Two rows of inputs in the forms of `pair` from random logits (seeded), as doubles.
struct Inputs {
    Matrix x, y;  ///< p in form_p, q in form_q
};
Inputs random_inputs(Pair pair, Eigen::Index rows, Eigen::Index cols, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.5);
    Matrix zp(rows, cols), zq(rows, cols);
    for (Eigen::Index r = 0; r < rows; ++r) {
        for (Eigen::Index c = 0; c < cols; ++c) {
            zp(r, c) = normal(rng);
            zq(r, c) = zp(r, c) + 0.7 * normal(rng);
        }
    }
    const auto in_form = [](const Matrix& z, dv::Form form) {
        if (form == dv::Form::logits) return z;
        Matrix out(z.rows(), z.cols());
        for (Eigen::Index r = 0; r < z.rows(); ++r) {
            const std::vector<Real> l = log_softmax(z, r);
            for (Eigen::Index c = 0; c < z.cols(); ++c)
                out(r, c) = double(form == dv::Form::probs ? std::exp(l[std::size_t(c)]) : l[std::size_t(c)]);
        }
        return out;
    };
    return {in_form(zp, form_p(pair)), in_form(zq, form_q(pair))};
}

dv::Options sum_options(dv::Validation validation = dv::Validation::full)
{
    dv::Options o{dv::Reduction::sum};
    o.validation = validation;
    return o;
}

/// f_divergence of x (form fp) and y (form fq) with both gradients into gx, gy (when given).
template <class S, class G>
double evaluate(const G& g, const Rows<S>& x, dv::Form fp, const Rows<S>& y, dv::Form fq, Rows<S>* gx, Rows<S>* gy,
                dv::Validation validation = dv::Validation::full)
{
    dv::Outputs<S> out;
    if (gx) out.grad_p = *gx;
    if (gy) out.grad_q = *gy;
    return double(dv::f_divergence(dv::detail::make_input(x, fp, 1.0), dv::detail::make_input(y, fq, 1.0), g,
                                   sum_options(validation), out));
}

/// max |a - b| / (atol + rtol |b|) entrywise (<= 1: a matches b), NaN-aware.
template <class A, class B>
double mismatch(const A& a, const B& b, double rtol, double atol)
{
    double worst = 0.0;
    for (Eigen::Index i = 0; i < a.rows(); ++i) {
        for (Eigen::Index j = 0; j < a.cols(); ++j) {
            const double e = std::abs(double(a(i, j)) - double(b(i, j))) / (atol + rtol * std::abs(double(b(i, j))));
            worst = std::isnan(e) ? inf : std::max(worst, e);
        }
    }
    return worst;
}

/// Value (long double loop) and gradients (central differences of it) in every form pair, double and float.
template <class G>
void check_generator(const std::string& name, const G& g)
{
    CAPTURE(name);
    const auto term = generator_term(g);
    for (const Pair pair : pairs) {
        CAPTURE(int(pair));
        const dv::Form fp = form_p(pair), fq = form_q(pair);
        const Inputs in = random_inputs(pair, 2, 19, 17u + unsigned(pair));
        const Real expected = reference(in.x, fp, in.y, fq, term);
        // double
        Matrix gx(in.x.rows(), in.x.cols()), gy(in.y.rows(), in.y.cols());
        const double value = evaluate<double>(g, in.x, fp, in.y, fq, &gx, &gy);
        CHECK(std::abs(value - double(expected)) <= 1e-12 * (1.0 + std::abs(double(expected))));
        const Matrix dx = test::central_difference(in.x, [&](const Matrix& x) { return double(reference(x, fp, in.y, fq, term)); }, 1e-5);
        const Matrix dy = test::central_difference(in.y, [&](const Matrix& y) { return double(reference(in.x, fp, y, fq, term)); }, 1e-5);
        CHECK(mismatch(gx, dx, 1e-5, 1e-7) <= 1.0);
        CHECK(mismatch(gy, dy, 1e-5, 1e-7) <= 1.0);
        // float inputs: the same elements rounded to float, computed in double lanes
        const Rows<float> fx = in.x.cast<float>(), fy = in.y.cast<float>();
        Rows<float> fgx(fx.rows(), fx.cols()), fgy(fy.rows(), fy.cols());
        const double value_f = evaluate<float>(g, fx, fp, fy, fq, &fgx, &fgy);
        const Real expected_f = reference(fx.cast<double>(), fp, fy.cast<double>(), fq, term);
        CHECK(std::abs(value_f - double(expected_f)) <= 1e-6 * (1.0 + std::abs(double(expected_f))));
        CHECK(mismatch(fgx, dx, 1e-3, 1e-5) <= 1.0);
        CHECK(mismatch(fgy, dy, 1e-3, 1e-5) <= 1.0);
    }
}

TEST_CASE("f_divergence element path: every generator of the table, every form pair, against a long-double loop and central differences",
          "[f_divergence][element]")
{
    check_generator("forward_kl", gen::ForwardKl{});
    check_generator("reverse_kl", gen::ReverseKl{});
    check_generator("pearson", gen::PearsonChiSquared{});
    check_generator("neyman", gen::NeymanChiSquared{});
    check_generator("squared_hellinger", gen::SquaredHellinger{});
    check_generator("jeffreys", gen::Jeffreys{});
    check_generator("jensen_shannon", gen::JensenShannon{});
    check_generator("gan", gen::Gan{});
    check_generator("generalized_js", gen::GeneralizedJs(0.3));
    check_generator("skew_kl", gen::SkewKl(0.4));
    check_generator("skew_reverse_kl", gen::SkewReverseKl(0.25));
    check_generator("softened_reverse_kl", gen::SoftenedReverseKl{});
    check_generator("amari_alpha(0.5)", gen::AmariAlpha(0.5));
    check_generator("amari_alpha(-1.5)", gen::AmariAlpha(-1.5));
    check_generator("t_power(2.5)", gen::TPower(2.5));
    check_generator("triangular", gen::Triangular{});
    check_generator("arithmetic_geometric", gen::ArithmeticGeometric{});
    check_generator("total_variation", gen::TotalVariation{});
    check_generator("log1p_abs", gen::Log1pAbs{});
    check_generator("modified_gan", gen::ModifiedGan{});
}

/// Closed forms in long double of a few generators: f, f' and phi = f - u f'.
struct Sheet {
    std::function<Real(Real)> f, fp, phi;
};

/// Rows of probabilities with exact zeros, masses near 1e-300 and ratios beyond 1e300 (and their
/// logs): a packet holds special and ordinary lanes side by side.
struct Extremes {
    Matrix p, q;
};
Extremes extremes()
{
    const std::vector<double> p = {0.2, 0.0, 1e-300, 0.15, 3e-305, 0.0, 0.1, 0.05, 0.2, 1e-310, 0.1, 0.2 - 1e-300 - 3e-305 - 1e-310};
    const std::vector<double> q = {0.1, 0.1, 0.2, 0.0, 0.15, 0.0, 1e-302, 0.05, 0.1, 0.1, 0.2 - 1e-302, 0.0};
    Extremes e{Matrix(1, Eigen::Index(p.size())), Matrix(1, Eigen::Index(q.size()))};
    for (std::size_t i = 0; i < p.size(); ++i) {
        e.p(0, Eigen::Index(i)) = p[i];
        e.q(0, Eigen::Index(i)) = q[i];
    }
    return e;
}

template <class G>
void check_extremes(const std::string& name, const G& g, const Sheet& s)
{
    CAPTURE(name);
    const Extremes ex = extremes();
    const dv::detail::Complete<G> c(g);
    for (const dv::Form form : {dv::Form::probs, dv::Form::log_probs}) {
        CAPTURE(int(form));
        // std::log per entry (a vectorized log need not be exact on subnormal numbers).
        const auto log_of = [](const Matrix& m) { return Matrix(m.unaryExpr([](double v) { return std::log(v); })); };
        const Matrix x = form == dv::Form::probs ? ex.p : log_of(ex.p);
        const Matrix y = form == dv::Form::probs ? ex.q : log_of(ex.q);
        Matrix gx(x.rows(), x.cols()), gy(y.rows(), y.cols());
        const double value = evaluate<double>(g, x, form, y, form, &gx, &gy, dv::Validation::none);
        // Expected terms and partials, the limits at zeros from the generator's declared limits.
        Real expected = 0;
        bool infinite = false;
        for (Eigen::Index i = 0; i < x.cols(); ++i) {
            CAPTURE(i);
            const Real p = ex.p(0, i), q = ex.q(0, i);
            Real term, d, d_log, e, e_log;  // dD/dp, dD/dlog p, dD/dq, dD/dlog q
            if (p == 0 && q == 0) {
                term = d = d_log = e = e_log = 0;
            } else if (p == 0) {
                term = std::isinf(c.f_at_zero()) ? Real(inf) : q * Real(c.f_at_zero());
                d = c.f_prime_at_zero();
                d_log = std::isinf(c.u_f_prime_at_zero()) ? Real(c.u_f_prime_at_zero()) : q * Real(c.u_f_prime_at_zero());
                e = c.phi_at_zero();
                e_log = std::isinf(c.phi_at_zero()) ? Real(c.phi_at_zero()) : q * Real(c.phi_at_zero());
            } else if (q == 0) {
                term = std::isinf(c.slope_at_infinity()) ? Real(inf) : p * Real(c.slope_at_infinity());
                d = c.slope_at_infinity();
                d_log = std::isinf(c.slope_at_infinity()) ? Real(c.slope_at_infinity()) : p * Real(c.slope_at_infinity());
                e = c.phi_at_infinity();
                e_log = std::isinf(c.phi_over_u_at_infinity()) ? Real(c.phi_over_u_at_infinity()) : p * Real(c.phi_over_u_at_infinity());
            } else {
                const Real u = p / q;
                term = q * s.f(u);
                d = s.fp(u);
                d_log = p * s.fp(u);
                e = s.phi(u);
                e_log = q * s.phi(u);
            }
            if (std::isinf(term)) infinite = true;
            expected += term;
            const auto same = [](double got, Real want) {
                if (std::abs(want) > Real(std::numeric_limits<double>::max())) return std::isinf(got) && (got > 0) == (want > 0);
                return std::abs(Real(got) - want) <= 1e-12L * std::abs(want) + Real(1e-320);
            };
            CHECK(same(gx(0, i), form == dv::Form::probs ? d : d_log));
            CHECK(same(gy(0, i), form == dv::Form::probs ? e : e_log));
            CHECK(!std::isnan(gx(0, i)));
            CHECK(!std::isnan(gy(0, i)));
        }
        if (infinite || expected > Real(std::numeric_limits<double>::max())) {
            CHECK(value == inf);
        } else {
            CHECK(std::abs(Real(value) - expected) <= 1e-12L * std::abs(expected));
        }
    }
}

TEST_CASE("f_divergence element path: exact zeros, masses near 1e-300 and ratios beyond 1e300 beside ordinary lanes",
          "[f_divergence][element][extremes]")
{
    using std::log;
    using std::sqrt;
    check_extremes("forward_kl", gen::ForwardKl{}, {[](Real u) { return u * log(u); }, [](Real u) { return log(u) + 1; }, [](Real u) { return -u; }});
    check_extremes("reverse_kl", gen::ReverseKl{}, {[](Real u) { return -log(u); }, [](Real u) { return -1 / u; }, [](Real u) { return 1 - log(u); }});
    check_extremes("pearson", gen::PearsonChiSquared{},
                   {[](Real u) { return (u - 1) * (u - 1); }, [](Real u) { return 2 * (u - 1); }, [](Real u) { return 1 - u * u; }});
    check_extremes("neyman", gen::NeymanChiSquared{},
                   {[](Real u) { return (1 - u) * (1 - u) / u; }, [](Real u) { return 1 - 1 / (u * u); }, [](Real u) { return 2 / u - 2; }});
    check_extremes("squared_hellinger", gen::SquaredHellinger{},
                   {[](Real u) { return (sqrt(u) - 1) * (sqrt(u) - 1); }, [](Real u) { return 1 - 1 / sqrt(u); }, [](Real u) { return 1 - sqrt(u); }});
    check_extremes("jeffreys", gen::Jeffreys{},
                   {[](Real u) { return (u - 1) * log(u); }, [](Real u) { return log(u) + 1 - 1 / u; }, [](Real u) { return 1 - u - log(u); }});
    check_extremes("total_variation", gen::TotalVariation{},
                   {[](Real u) { return std::abs(u - 1) / 2; }, [](Real u) { return u < 1 ? Real(-0.5) : Real(u > 1 ? 0.5 : 0.0); },
                    [](Real u) { return u < 1 ? Real(0.5) : Real(u > 1 ? -0.5 : 0.0); }});  // 0 at the kink u = 1
}

/// The bits of a double or float.
template <class S>
bool same_bits(const Rows<S>& a, const Rows<S>& b)
{
    return a.rows() == b.rows() && a.cols() == b.cols() && std::memcmp(a.data(), b.data(), sizeof(S) * std::size_t(a.size())) == 0;
}

template <class S, class G>
void check_threads(const G& g)
{
    for (const Pair pair : pairs) {
        CAPTURE(int(pair));
        // 1 row of two chunks (chunk mode: columns over threads) and 5 rows (row mode).
        for (const Eigen::Index rows : {1, 5}) {
            CAPTURE(rows);
            const Inputs in = random_inputs(pair, rows, rows == 1 ? dv::detail::fused_chunk + 1000 : 3000, 5u);
            const Rows<S> x = in.x.cast<S>(), y = in.y.cast<S>();
            const auto run = [&](int threads, Rows<S>& gx, Rows<S>& gy) {
                return test::with_threads(threads, [&] { return evaluate<S>(g, x, form_p(pair), y, form_q(pair), &gx, &gy); });
            };
            Rows<S> gx1(x.rows(), x.cols()), gy1(x.rows(), x.cols()), gx2(x.rows(), x.cols()), gy2(x.rows(), x.cols());
            const double v1 = run(1, gx1, gy1), v2 = run(2, gx2, gy2);
            CHECK(std::memcmp(&v1, &v2, sizeof(double)) == 0);
            CHECK(same_bits(gx1, gx2));
            CHECK(same_bits(gy1, gy2));
        }
    }
}

TEST_CASE("f_divergence element path: the same bits for 1 and 2 threads in every form pair, float and double",
          "[f_divergence][element][threads]")
{
    check_threads<double>(gen::Jeffreys{});
    check_threads<float>(gen::TotalVariation{});
}

}  // namespace discrete_f_divergence_element_test
