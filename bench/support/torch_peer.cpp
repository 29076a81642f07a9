// LibTorch doing what users do: log_softmax of both logits / T, torch.nn.functional.kl_div with
// log_target=True and reduction="batchmean", autograd for the student gradient. JSD is TRL's
// GKD loss (trl.GKDTrainer.generalized_jsd_loss): the mixture is formed in log space with
// logsumexp over the stacked, shifted log-probabilities. The distillation losses (run_distillation)
// compose the same pieces with cross_entropy, entropies and the ToDi, alpha-beta and total variation
// formulas. LibTorch validates nothing (no check that rows are distributions or finite), like this
// library with Validation::none.
#include "support/torch_peer.hpp"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace bench::torch_peer {

namespace F = torch::nn::functional;

struct Tensors {
    torch::Tensor teacher;
    torch::Tensor student;  // requires_grad
    torch::Tensor labels;   // int64, set_labels (the distillation suite's cross-entropy)
};

std::shared_ptr<Tensors> make_tensors(const Matrix& teacher, const Matrix& student)
{
    const auto options = torch::TensorOptions().dtype(torch::kFloat32);
    auto tensors = std::make_shared<Tensors>();
    tensors->teacher =
        torch::from_blob(const_cast<float*>(teacher.data()), {teacher.rows(), teacher.cols()}, options).clone();
    tensors->student = torch::from_blob(const_cast<float*>(student.data()), {student.rows(), student.cols()}, options)
                           .clone()
                           .requires_grad_(true);
    return tensors;
}

namespace {

torch::Tensor kl_div_batchmean(const torch::Tensor& input, const torch::Tensor& target)
{
    return F::kl_div(input, target, F::KLDivFuncOptions().reduction(torch::kBatchMean).log_target(true));
}

// trl/trainer/gkd_trainer.py, generalized_jsd_loss (0 < beta < 1 branch), reduction="batchmean".
torch::Tensor generalized_jsd(const torch::Tensor& teacher_log_probs, const torch::Tensor& student_log_probs,
                              double beta)
{
    const auto beta_t = torch::tensor(beta, student_log_probs.options().requires_grad(false));
    const auto mixture_log_probs =
        torch::logsumexp(torch::stack({student_log_probs + torch::log(1 - beta_t), teacher_log_probs + torch::log(beta_t)}),
                         0);
    const auto opts = F::KLDivFuncOptions().reduction(torch::kNone).log_target(true);
    const auto kl_teacher = F::kl_div(mixture_log_probs, teacher_log_probs, opts);
    const auto kl_student = F::kl_div(mixture_log_probs, student_log_probs, opts);
    const auto jsd = beta_t * kl_teacher + (1 - beta_t) * kl_student;
    return jsd.sum() / jsd.size(0);
}

torch::Tensor loss(const Tensors& tensors, const std::string& peer, double temperature)
{
    const auto& t = tensors.teacher;
    const auto& s = tensors.student;
    if (peer == "kl" || peer == "reverse_kl" || peer == "js") {
        const auto t_log_probs = torch::log_softmax(t / temperature, -1);
        const auto s_log_probs = torch::log_softmax(s / temperature, -1);
        if (peer == "kl") return kl_div_batchmean(s_log_probs, t_log_probs);  // KL(teacher || student)
        if (peer == "reverse_kl") return kl_div_batchmean(t_log_probs, s_log_probs);  // KL(student || teacher)
        return generalized_jsd(t_log_probs, s_log_probs, 0.5);
    }
    // f-divergences: the formula written on softmax probabilities.
    const auto p = torch::softmax(t / temperature, -1);
    const auto q = torch::softmax(s / temperature, -1);
    if (peer == "squared_hellinger") return (p.sqrt() - q.sqrt()).pow(2).sum() / t.size(0);
    if (peer == "pearson_chi2") return ((p - q).pow(2) / q).sum() / t.size(0);
    throw std::invalid_argument("torch_peer: unknown peer " + peer);
}

// The distillation losses, P = teacher, Q = student, both softened at T, batchmean (sum / B).
torch::Tensor distillation_loss(const Tensors& tensors, const Distillation& d)
{
    const auto& t = tensors.teacher;
    const auto& s = tensors.student;
    const double batch = double(s.size(0));
    if (d.loss == "total_variation") {  // sum |p - q| / 2 on softmax probabilities
        return 0.5 * (torch::softmax(t / d.temperature, -1) - torch::softmax(s / d.temperature, -1)).abs().sum() / batch;
    }
    const auto t_log_probs = torch::log_softmax(t / d.temperature, -1);
    const auto s_log_probs = torch::log_softmax(s / d.temperature, -1);
    if (d.loss == "forward_kl") return kl_div_batchmean(s_log_probs, t_log_probs);
    if (d.loss == "reverse_kl") return kl_div_batchmean(t_log_probs, s_log_probs);
    if (d.loss == "gkd_jsd") return generalized_jsd(t_log_probs, s_log_probs, d.beta);
    if (d.loss == "kl_t2_ce") {  // Hinton et al.: T^2 KL(P || Q) + w CE(labels, softmax(student)), mean over B
        return kl_div_batchmean(s_log_probs, t_log_probs) * (d.temperature * d.temperature) +
               d.ce_weight * F::cross_entropy(s, tensors.labels);
    }
    if (d.loss == "balanced") {
        // BD-KD with the entropy rule of docs/distillation.md: a_r KL(P_r || Q_r) + b_r KL(Q_r || P_r), where the
        // student less confident than the teacher (H(Q_r) > H(P_r)) gets (1, emphasis), otherwise (emphasis, 1);
        // the weights are constants (computed without gradient).
        torch::Tensor forward_weight, reverse_weight;
        {
            torch::NoGradGuard no_grad;
            const auto teacher_entropy = -(t_log_probs.exp() * t_log_probs).sum(-1);
            const auto student_entropy = -(s_log_probs.exp() * s_log_probs).sum(-1);
            const auto student_less_confident = student_entropy > teacher_entropy;
            forward_weight = torch::where(student_less_confident, 1.0, d.emphasis);
            reverse_weight = torch::where(student_less_confident, d.emphasis, 1.0);
        }
        const auto opts = F::KLDivFuncOptions().reduction(torch::kNone).log_target(true);
        const auto forward = F::kl_div(s_log_probs, t_log_probs, opts).sum(-1);
        const auto reverse = F::kl_div(t_log_probs, s_log_probs, opts).sum(-1);
        return (forward_weight * forward + reverse_weight * reverse).sum() / batch;
    }
    if (d.loss == "token_wise") {
        // ToDi: w_i = sigmoid(beta log(p_i / q_i)), detached; w p log(p/q) + (1 - w) q log(q/p).
        const auto log_ratio = t_log_probs - s_log_probs;
        const auto w = torch::sigmoid(d.beta * log_ratio).detach();
        return (w * t_log_probs.exp() * log_ratio - (1 - w) * s_log_probs.exp() * log_ratio).sum() / batch;
    }
    if (d.loss == "alpha_beta") {
        // -1/(alpha beta) sum [p^alpha q^beta - alpha/(alpha+beta) p^(alpha+beta) - beta/(alpha+beta) q^(alpha+beta)],
        // the powers as exponentials of the log-probabilities.
        const double a = d.alpha, b = d.beta;
        const auto terms = torch::exp(a * t_log_probs + b * s_log_probs) - a / (a + b) * torch::exp((a + b) * t_log_probs) -
                           b / (a + b) * torch::exp((a + b) * s_log_probs);
        return terms.sum() * (-1.0 / (a * b)) / batch;
    }
    throw std::invalid_argument("torch_peer: unknown distillation loss " + d.loss);
}

// optimizer.zero_grad(set_to_none=True), the loss, loss.backward().
template <class Loss>
float with_student_gradient(Tensors& tensors, const Loss& loss)
{
    tensors.student.mutable_grad() = torch::Tensor();
    torch::Tensor value = loss();
    value.backward();
    return value.item<float>();
}

}  // namespace

float run(Tensors& tensors, const std::string& peer, Mode mode, double temperature)
{
    if (mode == Mode::forward) {
        torch::NoGradGuard no_grad;
        return loss(tensors, peer, temperature).item<float>();
    }
    return with_student_gradient(tensors, [&] { return loss(tensors, peer, temperature); });
}

void set_labels(Tensors& tensors, const std::vector<std::int64_t>& labels)
{
    tensors.labels = torch::from_blob(const_cast<std::int64_t*>(labels.data()), {std::int64_t(labels.size())},
                                      torch::TensorOptions().dtype(torch::kInt64))
                         .clone();
}

float run_distillation(Tensors& tensors, const Distillation& loss)
{
    return with_student_gradient(tensors, [&] { return distillation_loss(tensors, loss); });
}

const float* student_grad(const Tensors& tensors) { return tensors.student.grad().data_ptr<float>(); }

void set_threads(int threads) { torch::set_num_threads(threads); }
int threads() { return torch::get_num_threads(); }
std::string version() { return TORCH_VERSION; }

}  // namespace bench::torch_peer
