#include "step.h"
#include <atomic>
#include <cmath>
#include "distributed.h"
#include "unet.h"

namespace cxr {

namespace {

// The dtype a precision computes in.
c10::ScalarType compute_dtype(Precision p) {
  return p == Precision::Fp32 ? torch::kFloat : p == Precision::Bf16 ? torch::kBFloat16 : torch::kHalf;
}

std::atomic<bool> low_precision_onednn{true};

// A bf16/fp16 call on the CPU without oneDNN when TypeScript says so: where oneDNN has no
// kernels for the dtype (its ISA capped below AVX512-BF16), libtorch 1.13 still sends
// bf16 convolutions to it whenever the CPU itself has AVX-512 and they fail ("could not
// create a primitive descriptor iterator"); on a CPU without AVX-512 torch already takes
// its own kernels, and this changes nothing. Process-wide, but every call runs on the
// one compute thread (executor.h), so no other call sees the switch.
class LowPrecisionKernels {
 public:
  LowPrecisionKernels(const Core& m, Precision p)
      : on_(p != Precision::Fp32 && m.device.is_cpu() && !low_precision_onednn.load()) {
    if (!on_) return;
    prev_ = at::globalContext().userEnabledMkldnn();
    at::globalContext().setUserEnabledMkldnn(false);
  }
  ~LowPrecisionKernels() {
    if (on_) at::globalContext().setUserEnabledMkldnn(prev_);
  }

 private:
  bool on_, prev_ = true;
};

// Autocast for bf16/fp16, nothing for fp32.
class PrecisionScope {
 public:
  PrecisionScope(const Core& m, Precision p) : ac_(m.device.type(), compute_dtype(p), p != Precision::Fp32) {}

 private:
  AutocastScope ac_;
};

// Forward pass and loss; sets out.loss and out.probs, returns the (fp32) loss tensor.
torch::Tensor forward_loss(Core& m, const TrainRequest& r, TrainResult& out) {
  auto x = m.input(r.in);
  torch::Tensor logits;
  {
    PrecisionScope ps(m, r.precision);
    logits = m.net->run(x);
  }
  auto lf = logits.to(torch::kFloat);
  if (r.loss.kind == LossSpec::Kind::DiceBce) {  // segmenter (unet.cc)
    auto loss = segmentation_loss(lf, r.masks.to(m.device), r.loss.dice_weight, r.loss.bce_weight);
    out.loss = loss.item<double>();
    out.probs = torch::sigmoid(lf.detach()).mean({1, 2, 3}).cpu();
    return loss;
  }
  auto y = r.labels.to(m.device);
  auto ce = torch::nn::functional::CrossEntropyFuncOptions().weight(r.class_weights.to(m.device));
  auto loss = torch::nn::functional::cross_entropy(lf, y, ce);
  out.loss = loss.item<double>();
  out.probs = torch::softmax(lf.detach(), 1).cpu();
  return loss;
}

// Divides every gradient by `scale` in place; false if any of them was not finite.
bool unscale(Core& m, double scale) {
  std::vector<torch::Tensor> grads;
  for (auto& e : m.params->entries)
    if (e.is_param && e.t.mutable_grad().defined()) grads.push_back(e.t.mutable_grad());
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(m.device);
  auto found_inf = torch::zeros({1}, opts);
  if (m.device.is_cuda()) {
    // One fused kernel over all gradients (what torch.cuda.amp.GradScaler uses).
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, torch::full({1}, 1.0 / scale, opts));
  } else {
    for (auto& g : grads) {
      found_inf.add_(torch::isfinite(g).logical_not().any());
      g.div_(scale);
    }
  }
  return found_inf.item<float>() == 0;
}

}  // namespace

void set_low_precision_onednn(bool on) { low_precision_onednn = on; }

Precision precision(const std::string& name) {
  if (name == "fp32") return Precision::Fp32;
  if (name == "bf16") return Precision::Bf16;
  if (name == "fp16") return Precision::Fp16;
  throw std::runtime_error("unknown precision '" + name + "'");
}

TrainResult train_step(Core& m, const TrainRequest& r) {
  auto& opt = m.optimizer();
  m.set_mode(true);
  LowPrecisionKernels k(m, r.precision);  // forward and backward alike
  TrainResult out;
  auto loss = forward_loss(m, r, out);
  m.clear_grads();
  bool finite = std::isfinite(out.loss);
  // The gradients this rank means to apply: none after a non-finite loss when told to skip.
  const bool use_grads = finite || !r.skip_non_finite;
  // With SyncBatchNorm, backward holds collectives too: every rank runs it, also one whose
  // loss was not finite (its gradients are discarded below, as the others learn from sync_gradients).
  if (use_grads || sync_bn_active()) (r.loss_scale != 1.0 ? loss * r.loss_scale : loss).backward();
  // Data parallel: every rank joins the all-reduce, also one whose loss overflowed (it sends NaN).
  if (grad_sync_active()) finite = sync_gradients(m.trainable_params(), use_grads) && finite;
  if (r.loss_scale != 1.0 && (finite || !r.skip_non_finite)) finite = unscale(m, r.loss_scale) && finite;
  out.finite = finite;
  if (!finite && r.skip_non_finite) {
    m.clear_grads();
    return out;
  }
  opt.step(r.hyper);
  return out;
}

torch::Tensor predict_logits(Core& m, const HostInput& in, Precision p) {
  c10::InferenceMode im;
  m.set_mode(false);
  auto x = m.input(in);
  LowPrecisionKernels k(m, p);
  PrecisionScope ps(m, p);
  EvalWeightsScope ew(m.eval_cache, compute_dtype(p));
  return m.net->run(x).to(torch::kFloat).cpu();
}

}  // namespace cxr
