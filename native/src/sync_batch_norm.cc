// torch.nn.SyncBatchNorm for CPU process groups (ATen's batch_norm_stats / _gather_stats /
// _backward_reduce / _backward_elemt are CUDA-only in libtorch 1.x, so the same math is
// written with ATen ops here). Forward: the global batch's per-channel mean and biased
// variance; backward: the global means of dy and dy·(x − mean), from one all-reduce of 2C
// values. Weight and bias gradients stay this rank's sums — the gradient averaging after
// backward (sync_gradients) turns them into the single-process ones, as DDP does with
// torch's SyncBatchNorm. Everything is computed in fp32 (statistics combined in float64),
// whatever the input dtype under autocast; the output and dx come back in x's dtype.
#include "sync_batch_norm.h"
#include <c10/core/impl/LocalDispatchKeySet.h>
#include "distributed.h"

namespace cxr {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

std::vector<int64_t> reduced_dims(const torch::Tensor& x) {  // all but the channel dim
  std::vector<int64_t> d{0};
  for (int64_t i = 2; i < x.dim(); ++i) d.push_back(i);
  return d;
}
std::vector<int64_t> channel_shape(const torch::Tensor& x) {  // [1, C, 1, 1]
  std::vector<int64_t> s(x.dim(), 1);
  s[1] = x.size(1);
  return s;
}
const auto f64 = torch::kDouble;

struct SyncBnFn : torch::autograd::Function<SyncBnFn> {
  // running_mean/var undefined or factor < 0: no running statistics to update.
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor weight, torch::Tensor bias,
                               torch::Tensor running_mean, torch::Tensor running_var, double factor, double eps) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);  // fp32 math here
    TORCH_CHECK(x.dim() >= 2, "BatchNorm expects a tensor with a channel dimension");
    const int64_t C = x.size(1);
    const auto dims = reduced_dims(x);
    const auto shape = channel_shape(x);
    const auto xf = x.to(torch::kFloat);
    const double n = C > 0 ? double(x.numel() / C) : 0.0;
    // Statistics: each rank's mean and biased variance from ATen's Welford (stable), then
    // Chan's parallel combine written as sums so that it is one all-reduce of 2C+1 float64:
    //   Σ n_r·m_r,  Σ n_r·(v_r + m_r²),  Σ n_r  →  mean = S1/N,  var = S2/N − mean².
    // The subtraction only cancels the spread *between* rank means and runs in float64
    // (error ~1e-16·mean²), unlike E[x²]−E[x]² over raw fp32 sums; and it costs one round
    // trip and one pass over x, where two all-reduces (sum, then Σ(x−mean)²) cost two of each.
    auto buf = torch::zeros({2 * C + 1}, torch::TensorOptions().dtype(f64).device(x.device()));
    if (n > 0) {
      auto vm = torch::var_mean(xf, dims, /*unbiased=*/false);
      auto v = std::get<0>(vm).to(f64), m = std::get<1>(vm).to(f64);
      buf.narrow(0, 0, C).copy_(m * n);
      buf.narrow(0, C, C).copy_((v + m * m) * n);
      buf[2 * C].fill_(n);
    }
    allreduce_sum(buf, "sync batchnorm forward allreduce");
    const double N = buf[2 * C].item<double>();
    TORCH_CHECK(N > 1, "expected more than 1 value per channel when training BatchNorm, got ", N, " over all ranks");
    auto mean = buf.narrow(0, 0, C) / N;
    auto var = (buf.narrow(0, C, C) / N - mean * mean).clamp_min(0);
    auto invstd = (var + eps).rsqrt();
    // y = x·alpha + beta with alpha = invstd·w, beta = b − mean·alpha in fp32: ATen's CPU
    // batch_norm, operation for operation, so that only the statistics' summation order differs.
    const auto mean_f = mean.to(torch::kFloat), invstd_f = invstd.to(torch::kFloat);
    auto alpha = weight.defined() ? invstd_f * weight.to(torch::kFloat) : invstd_f;
    auto beta = bias.defined() ? bias.to(torch::kFloat) - mean_f * alpha : -(mean_f * alpha);
    auto y = xf * alpha.view(shape) + beta.view(shape);
    if (running_mean.defined() && factor >= 0) {  // as torch: momentum, unbiased variance over the global count
      running_mean.copy_(running_mean.to(f64) * (1 - factor) + mean * factor);
      running_var.copy_(running_var.to(f64) * (1 - factor) + var * (N / (N - 1)) * factor);
    }
    ctx->save_for_backward({x, weight, mean_f, invstd_f});
    ctx->saved_data["count"] = N;
    return y.to(x.scalar_type());
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const double N = ctx->saved_data["count"].toDouble();
    const bool need_x = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1), need_b = ctx->needs_input_grad(2);
    const int64_t C = x.size(1);
    const auto dims = reduced_dims(x);
    const auto shape = channel_shape(x);
    auto dy = grads[0].to(torch::kFloat);
    auto xmu = x.to(torch::kFloat) - mean.view(shape);
    auto sum_dy = dy.sum(dims, false, f64);  // float64 accumulators, as ATen's CPU kernel
    auto sum_dy_xmu = (dy * xmu).sum(dims, false, f64);
    torch::Tensor gx, gw, gb;
    const auto pdt = weight.defined() ? weight.scalar_type() : torch::kFloat;
    if (need_w) gw = (sum_dy_xmu * invstd).to(pdt);  // local sums: DDP's averaging does the rest
    if (need_b) gb = sum_dy.to(pdt);
    if (need_x) {
      auto buf = torch::cat({sum_dy, sum_dy_xmu});
      allreduce_sum(buf, "sync batchnorm backward allreduce");
      // dx = (dy − mean(dy) − (x − mean)·k)·invstd·w with k = mean(dy·(x − mean))·invstd², in fp32 and
      // in the order of ATen's CPU kernel (batch_norm_cpu_backward): conv1's weight gradient is
      // Σ dx·patch over the whole batch, a cancellation that turns even a differently rounded
      // but equally accurate dx into a visible change in the weights.
      const auto ff = torch::kFloat;
      auto grad_mean = (buf.narrow(0, 0, C) / N).to(ff);
      auto k = buf.narrow(0, C, C).to(ff) * invstd * invstd / N;
      auto g = (dy - grad_mean.view(shape)).sub_(xmu * k.view(shape)).mul_(invstd.view(shape));
      if (weight.defined()) g.mul_(weight.to(ff).view(shape));
      gx = g.to(x.scalar_type());
    }
    return {gx, gw, gb, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& m, const torch::Tensor& x) {
  // momentum and num_batches_tracked exactly as BatchNormImplBase::forward (training).
  const auto& o = m.options;
  double factor = o.momentum() ? *o.momentum() : 0.0;
  const bool track = o.track_running_stats() && m.running_mean.defined();
  if (track && m.num_batches_tracked.defined()) {
    m.num_batches_tracked += 1;
    if (!o.momentum()) factor = 1.0 / m.num_batches_tracked.item<double>();
  }
  return SyncBnFn::apply(x, m.weight, m.bias, track ? m.running_mean : torch::Tensor(),
                         track ? m.running_var : torch::Tensor(), track ? factor : -1.0, o.eps());
}

}  // namespace cxr
