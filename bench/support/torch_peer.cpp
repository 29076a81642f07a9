// LibTorch doing what users do: log_softmax of both logits / T, torch.nn.functional.kl_div with
// log_target=True and reduction="batchmean", autograd for the student gradient. JSD is TRL's
// GKD loss (trl.GKDTrainer.generalized_jsd_loss): the mixture is formed in log space with
// logsumexp over the stacked, shifted log-probabilities. LibTorch validates nothing (no check that
// rows are distributions or finite), like this library with Validation::none.
#include "support/torch_peer.hpp"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace bench::torch_peer {

namespace F = torch::nn::functional;

struct Tensors {
    torch::Tensor teacher;
    torch::Tensor student;  // requires_grad
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

}  // namespace

float run(Tensors& tensors, const std::string& peer, Mode mode, double temperature)
{
    if (mode == Mode::forward) {
        torch::NoGradGuard no_grad;
        return loss(tensors, peer, temperature).item<float>();
    }
    tensors.student.mutable_grad() = torch::Tensor();  // zero_grad(set_to_none=True)
    auto value = loss(tensors, peer, temperature);
    value.backward();
    return value.item<float>();
}

const float* student_grad(const Tensors& tensors) { return tensors.student.grad().data_ptr<float>(); }

void set_threads(int threads) { torch::set_num_threads(threads); }
int threads() { return torch::get_num_threads(); }
std::string version() { return TORCH_VERSION; }

}  // namespace bench::torch_peer
