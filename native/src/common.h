// Shared helpers for the cxrtune addon: version guards, autocast, building blocks
// that keep torchvision's numerics (ReLU6 with an exact bf16 backward), and the
// BatchNorm observer used to measure BN input statistics.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>
#include <ATen/record_function.h>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>
#include "eval_weights.h"
#include "sync_batch_norm.h"

namespace cxr {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define CXR_AUTOCAST_DEVICE_API 1
#endif

// Autocast state is thread-local and every call runs on the one compute thread (executor.h),
// where calls of other precisions run too, so every call sets it on entry and restores it on
// exit (RAII).
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, c10::ScalarType dtype, bool enabled) : device_(device), enabled_(enabled) {
    if (!enabled_) return;
#ifdef CXR_AUTOCAST_DEVICE_API
    prev_enabled_ = at::autocast::is_autocast_enabled(device_);
    prev_dtype_ = at::autocast::get_autocast_dtype(device_);
    at::autocast::set_autocast_dtype(device_, dtype);
    at::autocast::set_autocast_enabled(device_, true);
#else
    if (device_ == c10::DeviceType::CUDA) {
      prev_enabled_ = at::autocast::is_enabled();
      prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
      at::autocast::set_autocast_gpu_dtype(dtype);
      at::autocast::set_enabled(true);
    } else {
      prev_enabled_ = at::autocast::is_cpu_enabled();
      prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_autocast_cpu_dtype(dtype);
      at::autocast::set_cpu_enabled(true);
    }
#endif
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#ifdef CXR_AUTOCAST_DEVICE_API
    at::autocast::set_autocast_enabled(device_, prev_enabled_);
    at::autocast::set_autocast_dtype(device_, prev_dtype_);
#else
    if (device_ == c10::DeviceType::CUDA) {
      at::autocast::set_enabled(prev_enabled_);
      at::autocast::set_autocast_gpu_dtype(prev_dtype_);
    } else {
      at::autocast::set_cpu_enabled(prev_enabled_);
      at::autocast::set_autocast_cpu_dtype(prev_dtype_);
    }
#endif
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  bool enabled_;
  bool prev_enabled_ = false;
  c10::ScalarType prev_dtype_ = c10::ScalarType::Float;
};

// ReLU6 = hardtanh(x, 0, 6). libtorch 1.13 has no bf16 CPU kernel for
// hardtanh_backward, so the backward is written with ops that have one; the
// gradient mask (0 < x < 6, strict) is exactly hardtanh_backward's.
struct Relu6Fn : public torch::autograd::Function<Relu6Fn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return torch::clamp(x, 0.0, 6.0);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                                torch::autograd::tensor_list grads) {
    auto x = ctx->get_saved_variables()[0];
    auto mask = torch::logical_and(x > 0, x < 6);
    return {grads[0] * mask.to(grads[0].scalar_type())};
  }
};
// In place like torchvision's ReLU6(inplace=True) when the x is fp32 (or no grad).
inline torch::Tensor relu6(torch::Tensor x) {
  if (x.requires_grad() && x.scalar_type() != torch::kFloat && x.scalar_type() != torch::kDouble)
    return Relu6Fn::apply(x);
  return torch::hardtanh_(x, 0.0, 6.0);
}

// While a BnObserver is active on this thread, every BatchNorm call records the
// per-channel mean and biased variance of its input (for "unfolding" folded BN).
struct BnObserver {
  std::vector<std::pair<const torch::nn::BatchNorm2dImpl*, std::pair<torch::Tensor, torch::Tensor>>> seen;
};
BnObserver*& bn_observer();

inline torch::Tensor bn(torch::nn::BatchNorm2d& m, const torch::Tensor& x) {
  if (auto* obs = bn_observer()) {
    auto xf = x.detach().to(torch::kFloat);
    auto mean = xf.mean({0, 2, 3});
    auto var = xf.var({0, 2, 3}, /*unbiased=*/false);
    obs->seen.push_back({m.get(), {mean.cpu(), var.cpu()}});
  }
  // Data parallel with --sync-bn: training batches normalised over all ranks' images.
  if (m->is_training() && sync_bn_active()) return sync_batch_norm(*m, x);
  return m->forward(x);
}

// A network: an ordered list of named feature blocks (a Grad-CAM tap can be any of
// them), then a head (pooling + classifier). Names are torchvision module paths.
struct Net : torch::nn::Module {
  using Block = std::pair<std::string, std::function<torch::Tensor(const torch::Tensor&)>>;
  std::vector<Block> blocks;
  virtual torch::Tensor head(const torch::Tensor& features) = 0;

  // Runs the network; if `tap` names a block, its output is detached, made to
  // require grad and returned in *tapped so gradients can be taken w.r.t. it.
  torch::Tensor run(torch::Tensor x, const std::string& tap = "", torch::Tensor* tapped = nullptr) {
    bool found = tap.empty();
    for (auto& b : blocks) {
      x = b.second(x);
      if (!tap.empty() && b.first == tap) {
        x = x.detach().requires_grad_(true);
        if (tapped) *tapped = x;
        found = true;
      }
    }
    TORCH_CHECK(found, "unknown Grad-CAM layer '", tap, "'");
    return head(x);
  }
  std::vector<std::string> block_names() const {
    std::vector<std::string> out;
    for (auto& b : blocks) out.push_back(b.first);
    return out;
  }
};

struct NetOptions {
  int64_t num_classes = 0;  // always given by TypeScript
  double dropout = -1;  // < 0: the family's default
  // ResNet v1 (Keras, Caffe): the stride of a downsampling bottleneck on its first 1x1 conv.
  bool stride_in_1x1 = false;
  // Segmenter (unet.cc): decoder channels from the deepest block to full resolution; given by TypeScript.
  std::vector<int64_t> decoder_channels;
};

// families.cc: the family file that builds `arch`; an error for an unknown name.
std::shared_ptr<Net> make_net(const std::string& arch, const NetOptions& o);
std::shared_ptr<Net> make_resnet(const std::string& arch, const NetOptions& o);
std::shared_ptr<Net> make_densenet(const std::string& arch, const NetOptions& o);
std::shared_ptr<Net> make_mobilenet_v2(const NetOptions& o);

inline torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0,
                              int64_t groups = 1, bool bias = false) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).groups(groups).bias(bias));
}
// One convolution with explicit weights, one kernel choice overridden. libtorch (and Python
// torch alike) sends an fp32 CPU convolution with batch 1, groups 1, a kernel of at most 3x3
// and at most 20480 input values to its im2col path (_slow_conv2d_forward): MobileNetV2's 1x1
// convolutions at 7x7 and 14x14, DenseNet's last-block 3x3s. Measured on a MobileNetV2 batch-1
// predict: 11 such calls took 55 of 75 ms; oneDNN runs the same 11 in about 1 ms. Eval mode
// only (predict, Grad-CAM, serve): training keeps libtorch's choice and its bitwise baselines.
inline torch::Tensor conv_call(torch::nn::Conv2dImpl& m, const torch::Tensor& x, const torch::Tensor& w,
                               const torch::Tensor& b) {
  const auto& o = m.options;
  const auto& pad = c10::get<torch::ExpandingArray<2>>(o.padding());
  auto bias = b.defined() ? c10::optional<torch::Tensor>(b) : c10::nullopt;
  if (!m.is_training() && x.dim() == 4 && x.size(0) == 1 && x.device().is_cpu() &&
      x.scalar_type() == torch::kFloat && w.scalar_type() == torch::kFloat && x.layout() == torch::kStrided &&
      o.groups() == 1 && at::globalContext().userEnabledMkldnn()) {
    // Recorded as the aten::conv2d it replaces, with its arguments, so the profiler still
    // counts its FLOPs (bench's GFLOP/img and % of peak).
    RECORD_FUNCTION("aten::conv2d", std::vector<c10::IValue>({x, w, bias, c10::IntArrayRef(*o.stride()).vec(),
                                                               c10::IntArrayRef(*pad).vec(),
                                                               c10::IntArrayRef(*o.dilation()).vec(), int64_t{1}}));
    return at::mkldnn_convolution(x, w, bias, *pad, *o.stride(), *o.dilation(), 1);
  }
  return at::conv2d(x, w, bias, *o.stride(), *pad, *o.dilation(), o.groups());
}
inline bool plain_padding(const torch::nn::Conv2dImpl& m) {
  return c10::holds_alternative<torch::ExpandingArray<2>>(m.options.padding()) &&
         c10::holds_alternative<torch::enumtype::kZeros>(m.options.padding_mode());
}

// Whether an eval call's convolution runs a kept oneDNN primitive (eval_weights.h): fp32 on the
// CPU with oneDNN on, plain padding, and no autograd (Grad-CAM keeps the differentiable path).
inline bool packable(const EvalWeightsUse& use, const torch::nn::Conv2dImpl& m, const torch::Tensor& x) {
  return use.weights && use.dtype == torch::kFloat && !m.is_training() && !torch::GradMode::is_enabled() &&
         x.dim() == 4 && x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.layout() == torch::kStrided &&
         m.weight.scalar_type() == torch::kFloat && at::globalContext().userEnabledMkldnn();
}
// What follows a convolution, unfused: the residual added in place (torchvision's
// `out += identity`), then the activation in place.
inline torch::Tensor finish(torch::Tensor y, Act act, const torch::Tensor* residual) {
  // One pass instead of two where no gradient is needed (aten's own fused add+ReLU).
  if (residual && act == Act::Relu && !torch::GradMode::is_enabled() && y.scalar_type() == torch::kFloat &&
      residual->scalar_type() == torch::kFloat)
    return at::_add_relu_(y, *residual);
  if (residual) y += *residual;
  if (act == Act::Relu) return y.relu_();
  if (act == Act::Relu6) return cxr::relu6(y);
  return y;
}

inline bool o1x1(const torch::nn::Conv2dImpl& m) {
  return (*m.options.kernel_size())[0] == 1 && (*m.options.kernel_size())[1] == 1;
}
inline torch::Tensor packed_conv(const EvalWeightsUse& use, torch::nn::Conv2dImpl& m, torch::nn::BatchNorm2dImpl* bn,
                                 const torch::Tensor& x_, Act act, const torch::Tensor* residual) {
  auto x = x_.contiguous(x_.suggest_memory_format());
  const auto& o = m.options;
#ifdef CXR_ONEDNN
  // Not the residual into a 1x1 kernel: oneDNN 2.6's sum post-op there costs more than a separate
  // add at batch 16 (ResNet-50's conv3: 6.8 ms fused, 3.9 + the add apart; even at batch 1).
  const bool fused = !(residual && o1x1(m));
#else
  const bool fused = !residual && act != Act::Relu6;  // libtorch's prepacked op fuses a ReLU only
#endif
  auto p = use.weights->packed(m, bn, x, fused ? act : Act::None, fused && residual);
  // Recorded as the aten::conv2d it replaces, so the profiler counts its FLOPs (as conv_call).
  RECORD_FUNCTION("aten::conv2d",
                  std::vector<c10::IValue>(
                      {x, p.wb.first, p.wb.second, c10::IntArrayRef(*o.stride()).vec(),
                       c10::IntArrayRef(*c10::get<torch::ExpandingArray<2>>(o.padding())).vec(),
                       c10::IntArrayRef(*o.dilation()).vec(), o.groups()}));
#ifdef CXR_ONEDNN
  auto y = [&] {
    RECORD_FUNCTION("onednn::convolution", std::vector<c10::IValue>());
    return p.conv->run(x, fused ? residual : nullptr);
  }();
  return fused ? y : finish(y, act, residual);
#else
  static const auto run = c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn_prepacked::conv2d_run", "");
  torch::jit::Stack s{x, p.conv};
  run.callBoxed(&s);
  return fused ? s[0].toTensor() : finish(s[0].toTensor(), act, residual);
#endif
}

// A convolution in an eval call: its weights, and `bn` (if any) folded in, from the thread's
// EvalWeights in the call's dtype; a kept oneDNN primitive where packable(), with what follows fused.
inline torch::Tensor eval_conv(const EvalWeightsUse& use, torch::nn::Conv2dImpl& m, torch::nn::BatchNorm2dImpl* bn,
                               const torch::Tensor& x, Act act = Act::None, const torch::Tensor* residual = nullptr) {
  if (packable(use, m, x)) return packed_conv(use, m, bn, x, act, residual);
  auto wb = use.weights->get(m, bn, use.dtype);
  return finish(conv_call(m, x.to(use.dtype), wb.first, wb.second), act, residual);
}

// A convolution module's forward. In an eval call (EvalWeightsScope) its weights come from
// the model's EvalWeights in the call's dtype: under autocast they are already cast, so
// autocast casts nothing.
inline torch::Tensor conv2d(torch::nn::Conv2dImpl& m, const torch::Tensor& x) {
  if (!plain_padding(m)) return m.forward(x);
  auto use = eval_weights();
  if (use.weights && !m.is_training() && (use.dtype != m.weight.scalar_type() || packable(use, m, x)))
    return eval_conv(use, m, nullptr, x);
  return conv_call(m, x, m.weight, m.bias);
}
inline torch::Tensor conv2d(const torch::nn::Conv2d& m, const torch::Tensor& x) { return conv2d(*m.ptr(), x); }

// A convolution and the BatchNorm after it, then `residual` added and `act` applied:
// act(bn(conv(x)) + residual). In an eval call the BatchNorm is folded into the convolution
// (EvalWeights) and a kept oneDNN primitive fuses the rest; anywhere else, and while a
// BnObserver needs the BatchNorm's input, they run as separate modules.
inline bool folds_bn(const EvalWeightsUse& use, const torch::nn::Conv2d& c, const torch::nn::BatchNorm2d& b) {
  return use.weights && !c->is_training() && !b->is_training() && !bn_observer() && plain_padding(*c) &&
         b->options.track_running_stats();
}
inline torch::Tensor conv_bn_act(const torch::nn::Conv2d& c, torch::nn::BatchNorm2d& b, const torch::Tensor& x,
                                 Act act, const torch::Tensor* residual = nullptr) {
  auto use = eval_weights();
  if (folds_bn(use, c, b)) return eval_conv(use, *c.ptr(), b.get(), x, act, residual);
  return finish(bn(b, conv2d(c, x)), act, residual);
}
inline torch::Tensor conv_bn(const torch::nn::Conv2d& c, torch::nn::BatchNorm2d& b, const torch::Tensor& x) {
  return conv_bn_act(c, b, x, Act::None);
}
inline torch::Tensor conv_bn_relu(const torch::nn::Conv2d& c, torch::nn::BatchNorm2d& b, const torch::Tensor& x) {
  return conv_bn_act(c, b, x, Act::Relu);
}
// max_pool2d(x, k, stride, pad) of a stem. In an eval call without autograd on fp32 CPU input,
// a kept oneDNN pooling (onednn_conv.h) that computes no indices.
inline torch::Tensor max_pool2d(const torch::Tensor& x_, int64_t k, int64_t stride, int64_t pad) {
#ifdef CXR_ONEDNN
  auto use = eval_weights();
  if (use.weights && use.dtype == torch::kFloat && !torch::GradMode::is_enabled() && x_.dim() == 4 &&
      x_.device().is_cpu() && x_.scalar_type() == torch::kFloat && x_.layout() == torch::kStrided) {
    auto x = x_.contiguous(x_.suggest_memory_format());
    thread_local std::map<std::vector<int64_t>, std::shared_ptr<const OnednnMaxPool>> kept;
    auto key = x.sizes().vec();
    key.insert(key.end(), {int64_t(x.suggest_memory_format()), k, stride, pad});
    auto it = kept.find(key);
    if (it == kept.end()) {
      if (kept.size() >= 16) kept.clear();
      it = kept.emplace(key, std::make_shared<const OnednnMaxPool>(x, k, stride, pad)).first;
    }
    RECORD_FUNCTION("onednn::max_pool2d", std::vector<c10::IValue>());
    return it->second->run(x);
  }
#endif
  return torch::max_pool2d(x_, k, stride, pad);
}

inline torch::nn::BatchNorm2d batchnorm(int64_t c) { return torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(c)); }

}  // namespace cxr
