// The Cauchy-Schwarz information bottleneck for regression (Yu, Yu, Lokse, Jenssen, Principe, ICLR 2024) on a
// small synthetic problem, trained by plain gradient descent with the library's analytic gradients:
//
//   loss(w) = D_CS( p(y|x) || q(yhat|x) ) + beta * I_CS(x; t) / sqrt(I_CS(x; x) I_CS(t; t))
//
// with the linear model yhat = X w + b, whose representation t is its output (a one-dimensional bottleneck:
// t = yhat). The prediction term is the conditional CS divergence between the data's p(y|x) and the model's
// q(y|x) (kernel::conditional_cauchy_schwarz, the plug-in estimator); the compression term is the normalized CS
// quadratic mutual information between the inputs and the representation, as in the paper's code
// (kernel::normalized_cs_mutual_information, kernel width 1 on both). Both are in nats here (the paper's code
// reports bits: divide by ln 2). The chain rule to the parameters is one product: d loss / d w = X^T g with
// g = d loss / d yhat (n x 1), d loss / d b = sum(g).
//
// Prints the loss, its two terms and the RMSE every few steps: the loss falls and the fit improves.
#include <cmath>
#include <cstdio>
#include <random>

#include <Eigen/Core>

#include "divergence/kernel/cauchy_schwarz.hpp"
#include "divergence/kernel/conditional.hpp"

int main()
{
    namespace kernel = divergence::kernel;
    using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

    // n = 128 samples (the paper's batch size), 3 inputs; y = x . (1, -2, 0.5) + 0.3 sin(2 x_0) + noise.
    const Eigen::Index n = 128, dx = 3;
    std::mt19937_64 rng(7);
    std::normal_distribution<double> normal(0.0, 1.0);
    Matrix x(n, dx), y(n, 1);
    const Eigen::Vector3d w_true(1.0, -2.0, 0.5);
    for (Eigen::Index i = 0; i < n; ++i) {
        for (Eigen::Index k = 0; k < dx; ++k) x(i, k) = normal(rng);
        y(i, 0) = x.row(i).dot(w_true) + 0.3 * std::sin(2.0 * x(i, 0)) + 0.1 * normal(rng);
    }

    kernel::ConditionalCsOptions prediction;  // the plug-in estimator, sigma_x = sigma_y = 1 as in the paper's code
    kernel::MutualInformationOptions compression;
    compression.width_of = kernel::WidthOf::kernel;  // exp(-||a - b||^2 / 2), the code's sigma = 1
    const double beta = 0.01, learning_rate = 0.5;

    Eigen::Vector3d w(0.2, 0.1, -0.1);
    double b = 0.3;
    std::printf("CS-IB regression, n = %ld, beta = %g, plain gradient descent (step %g)\n", long(n), beta, learning_rate);
    std::printf("%5s %10s %12s %12s %8s\n", "step", "loss", "prediction", "compression", "RMSE");
    double first = 0.0, last = 0.0;
    for (int step = 0; step <= 30; ++step) {
        const Matrix yhat = (x * w).array() + b;
        Matrix grad_prediction(n, 1);
        kernel::ConditionalCsOutputs<double> out;
        out.grad_yhat = grad_prediction;
        const double d_cs = kernel::conditional_cauchy_schwarz(x, y, yhat, prediction, out);
        const kernel::MutualInformationResult qmi = kernel::normalized_cs_mutual_information(x, yhat, compression);
        const double loss = d_cs + beta * qmi.value;
        const Matrix g = grad_prediction + beta * qmi.grad_y;  // d loss / d yhat (t = yhat)
        const double rmse = std::sqrt((yhat - y).squaredNorm() / double(n));
        if (step == 0) first = loss;
        last = loss;
        if (step % 5 == 0) std::printf("%5d %10.5f %12.5f %12.5f %8.4f\n", step, loss, d_cs, qmi.value, rmse);
        w -= learning_rate * (x.transpose() * g);
        b -= learning_rate * g.sum();
    }
    std::printf("loss %.5f -> %.5f; w = (%.3f, %.3f, %.3f), b = %.3f (data: w = (1, -2, 0.5), b = 0)\n", first, last, w(0), w(1),
                w(2), b);

    // The two estimators of the prediction term at the trained model (docs/kernel-conditional.md).
    const Matrix yhat = (x * w).array() + b;
    kernel::ConditionalCsOptions code = prediction;
    code.estimator = kernel::ConditionalCsEstimator::cs_ib_code;
    std::printf("prediction term at the end: plug-in %.5f nats, CS-IB code's estimator %.5f nats (%.5f bits)\n",
                kernel::conditional_cauchy_schwarz(x, y, yhat, prediction), kernel::conditional_cauchy_schwarz(x, y, yhat, code),
                kernel::conditional_cauchy_schwarz(x, y, yhat, code) / std::log(2.0));
    return last < first ? 0 : 1;
}
