// Decoders of kernel/: the Cauchy-Schwarz estimators (cauchy_schwarz, renyi_quadratic_entropy,
// cs_mutual_information, normalized_cs_mutual_information), mmd, energy_distance,
// mmd_random_features, select_bandwidth, conditional_cauchy_schwarz and the Gaussian sums of
// kernel/gram.hpp. Samples are tiny (n, m <= 6, d <= 3).

#ifndef DIVERGENCE_FUZZ_DECODERS_KERNEL_HPP
#define DIVERGENCE_FUZZ_DECODERS_KERNEL_HPP

#include "fuzz_common.hpp"

namespace fuzz {

/// Bandwidth: rule (byte % 4), value, median variant (byte % 3), differentiate, median_points.
inline divergence::kernel::Bandwidth bandwidth(Reader& r, Call& call)
{
    using namespace divergence::kernel;
    Bandwidth b;
    b.rule = BandwidthRule(r.pick(4));
    b.value = r.one_of({1.0, 0.5, 2.0, 1e-3, 1e3, 0.0, -1.0, 1e-300, 1e300});
    b.median = MedianOf(r.pick(3));
    b.differentiate = r.flag();
    b.median_points = r.pick(4) == 0 ? Index(r.pick(4)) : 2048;
    call << " bandwidth rule " << int(b.rule) << " value " << b.value << " median " << int(b.median) << " differentiate "
         << b.differentiate << " median_points " << b.median_points;
    return b;
}

/// The estimators: S, which (byte % 10), n, m (byte % 7), d (byte % 4; dy byte % 3 + 1 for the mutual
/// information and the conditional CS), samples, options, then the checks of every returned number.
template <class S>
void fuzz_kernel(Reader& r)
{
    using namespace divergence::kernel;
    const int which = r.pick(10);
    const Index n = r.pick(7), m = r.pick(7), d = r.pick(4);
    const char* names[] = {"kernel::cauchy_schwarz", "kernel::renyi_quadratic_entropy", "kernel::cs_mutual_information",
                           "kernel::normalized_cs_mutual_information", "kernel::mmd", "kernel::energy_distance",
                           "kernel::mmd_random_features", "kernel::select_bandwidth", "kernel::conditional_cauchy_schwarz",
                           "kernel::log_gaussian_row_sums"};
    Call call(std::string(names[which]) + (std::is_same_v<S, float> ? " float" : " double"),
              {names[which], "kernel::log_gaussian_sum", "kernel::squared_distances"});
    const auto s = r.spread();
    const bool paired = which == 2 || which == 3 || which == 8;
    const Index dy = paired ? r.pick(3) + 1 : d + (r.pick(16) == 0);
    const RowMatrix<S> x = r.matrix<S>(n, d, s.first, s.second);
    const RowMatrix<S> y = r.matrix<S>(paired && r.pick(8) != 0 ? n : m, dy, s.first, s.second);
    call.show_matrix("x", x).show_matrix("y", y);
    const DistancePath path = DistancePath(r.pick(3));
    const bool gradients = r.pick(4) != 0;
    const WidthOf width_of = WidthOf(r.pick(2));
    call << " path " << int(path) << " gradients " << gradients << " width_of " << int(width_of);
    const auto check_rows = [&](const char* name, const RowMatrix<double>& g) { call.values(name, g); };
    switch (which) {
    case 0: {
        CauchySchwarzOptions o;
        o.bandwidth = bandwidth(r, call);
        o.width_of = width_of;
        o.path = path;
        o.gradients = gradients;
        o.scale = CsScale(r.pick(2));
        call.run([&] {
            const CauchySchwarzResult c = cauchy_schwarz(x, y, o);
            call.value("value", c.value);
            call.value("log_cross", c.log_cross);
            call.value("log_self_x", c.log_self_x);
            call.value("log_self_y", c.log_self_y);
            check_rows("grad_x", c.grad_x);
            check_rows("grad_y", c.grad_y);
        });
        break;
    }
    case 1: {
        KernelOptions o;
        o.bandwidth = bandwidth(r, call);
        o.width_of = width_of;
        o.path = path;
        o.gradients = gradients;
        call.run([&] {
            const QuadraticEntropyResult q = renyi_quadratic_entropy(x, o);
            call.value("entropy", q.entropy);
            call.value("log_information_potential", q.log_information_potential);
            call.value("information_potential", q.information_potential);
            check_rows("grad_x", q.grad_x);
        });
        break;
    }
    case 2:
    case 3: {
        MutualInformationOptions o;
        o.bandwidth_x = bandwidth(r, call);
        o.bandwidth_y = bandwidth(r, call);
        o.width_of = width_of;
        o.path = path;
        o.gradients = gradients;
        call.run([&] {
            const MutualInformationResult i = which == 2 ? cs_mutual_information(x, y, o) : normalized_cs_mutual_information(x, y, o);
            call.value("value", i.value);
            check_rows("grad_x", i.grad_x);
            check_rows("grad_y", i.grad_y);
        });
        break;
    }
    case 4:
    case 5: {
        MmdOptions o;
        o.kernel = MmdKernel(r.pick(3));
        o.estimator = MmdEstimator(r.pick(2));
        o.bandwidth = bandwidth(r, call);
        o.path = path;
        o.gradients = gradients;
        call << " kernel " << int(o.kernel) << " estimator " << int(o.estimator);
        call.run([&] {
            const MmdResult k = which == 4 ? mmd(x, y, o) : energy_distance(x, y, o.estimator, o.gradients);
            call.value("value", k.value);
            check_rows("grad_x", k.grad_x);
            check_rows("grad_y", k.grad_y);
        });
        break;
    }
    case 6: {
        RandomFeaturesOptions o;
        o.bandwidth = r.one_of({1.0, 0.5, 1e-3, 1e3, 0.0, -1.0, 1e-300});
        o.frequencies = Index(r.pick(9)) - 1;
        o.seed = std::uint64_t(r.pick(256));
        o.gradients = gradients;
        call << " bandwidth " << o.bandwidth << " frequencies " << o.frequencies << " seed " << o.seed;
        call.run([&] {
            const RandomFeaturesMmdResult k = mmd_random_features(x, y, o);
            call.value("value", k.value);
            call.value("standard_error", k.standard_error);
            check_rows("grad_x", k.grad_x);
            check_rows("grad_y", k.grad_y);
        });
        break;
    }
    case 7: {
        const Bandwidth b = bandwidth(r, call);
        call.run([&] {
            const BandwidthValue w = select_bandwidth(x, b);
            call.value("width", w.width);
            check_rows("gradient", w.gradient);
        });
        break;
    }
    case 8: {
        ConditionalCsOptions o;
        o.sigma_x = r.one_of({1.0, 0.5, 2.0, 1e-3, 1e-300, 0.0, -1.0, 1e300});
        o.sigma_y = r.one_of({1.0, 0.5, 2.0, 1e-3, 1e-300, 0.0, -1.0, 1e300});
        o.estimator = ConditionalCsEstimator(r.pick(2));
        const RowMatrix<S> yhat = r.matrix<S>(y.rows(), y.cols() + (r.pick(16) == 0), s.first, s.second);
        call.show_matrix("yhat", yhat);
        call << " sigma_x " << o.sigma_x << " sigma_y " << o.sigma_y << " estimator " << int(o.estimator);
        RowMatrix<S> gy, gh;
        ConditionalCsOutputs<S> out;
        if (r.flag()) out.grad_y = (gy = RowMatrix<S>::Constant(y.rows(), y.cols(), S(nan_value)));
        if (r.flag()) out.grad_yhat = (gh = RowMatrix<S>::Constant(y.rows(), y.cols() + (r.pick(16) == 0), S(nan_value)));
        call.run([&] {
            call.value("value", conditional_cauchy_schwarz(x, y, yhat, o, out));
            call.values("grad_y", gy);
            call.values("grad_yhat", gh);
        });
        break;
    }
    default: {
        const double h = r.one_of({1.0, 0.5, 1e-3, 1e-300, 0.0, -1.0, 1e300});
        call << " bandwidth " << h;
        call.run([&] {
            call.values("log row sums", log_gaussian_row_sums(x, y, h, path));
            call.value("log sum", log_gaussian_sum(x, y, h, path));
            call.values("squared distances", squared_distances(x, y, path));
        });
    }
    }
}

}  // namespace fuzz

#endif
