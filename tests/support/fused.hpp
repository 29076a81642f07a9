#ifndef DIVERGENCE_TESTS_SUPPORT_FUSED_HPP
#define DIVERGENCE_TESTS_SUPPORT_FUSED_HPP

// What the tests of the fused kernels share: the reference path of a kernel (its fused() hidden),
// a runner through the batch driver, an entrywise comparison, and rows of logits.

#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>

#include "divergence/core/rows.hpp"
#include "support/random.hpp"

namespace test {

namespace dv = divergence;

/// The same row kernel without its fused(): the driver then takes the reference path.
template <class Kernel>
struct ReferencePath {
    static constexpr bool binary = Kernel::binary;
    using State = typename Kernel::State;
    Kernel kernel;
    void add(State& state, const dv::detail::Element& e) const { kernel.add(state, e); }
    auto finish(const State& state) const { return kernel.finish(state); }
    template <class Final>
    dv::detail::Partials partials(const Final& f, const dv::detail::Element& e) const
    {
        return kernel.partials(f, e);
    }
};

template <class Scalar>
using Rows = dv::RowMatrix<Scalar>;

template <class Scalar>
struct Result {
    Scalar value = 0;
    Eigen::Array<Scalar, Eigen::Dynamic, 1> rows;
    Rows<Scalar> grad_p, grad_q;
};

/// Runs kernel (fused when it has fused()) with the requested outputs (the others stay -7).
template <class Kernel, class Scalar>
Result<Scalar> run(const Kernel& kernel, const Rows<Scalar>& zp, double tp, const Rows<Scalar>& zq, double tq,
                   dv::Options options, bool want_p = true, bool want_q = true)
{
    Result<Scalar> r;
    r.rows.resize(zp.rows());
    r.grad_p.setConstant(zp.rows(), zp.cols(), Scalar(-7));
    r.grad_q.setConstant(zp.rows(), zp.cols(), Scalar(-7));
    dv::Outputs<Scalar> out;
    out.row_values = r.rows;
    if (want_p) out.grad_p = r.grad_p;
    if (want_q) out.grad_q = r.grad_q;
    r.value = dv::detail::evaluate("test", kernel, dv::logits(zp, tp), dv::logits(zq, tq), options, out);
    return r;
}

/// |a - b| <= atol + rtol |b| entrywise, no NaN, equal infinities allowed; reports the worst entry.
template <class A, class B>
bool within(const A& a, const B& b, double rtol, double atol)
{
    for (Eigen::Index i = 0; i < a.rows(); ++i) {
        for (Eigen::Index j = 0; j < a.cols(); ++j) {
            const double x = double(a(i, j)), y = double(b(i, j));
            if (std::isnan(x) || std::isnan(y) || ((std::isinf(x) || std::isinf(y)) && x != y)) {
                UNSCOPED_INFO("entry (" << i << ", " << j << "): " << x << " vs " << y);
                return false;
            }
            if (std::isinf(x)) continue;
            if (!(std::abs(x - y) <= atol + rtol * std::abs(y))) {
                UNSCOPED_INFO("entry (" << i << ", " << j << "): " << x << " vs " << y << ", |difference| "
                                        << std::abs(x - y) << " > bound " << atol + rtol * std::abs(y));
                return false;
            }
        }
    }
    return true;
}

template <class Scalar>
Rows<Scalar> logits_rows(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed, double scale)
{
    return test::random_logits(rows, cols, seed, scale).template cast<Scalar>();
}

}  // namespace test

#endif
