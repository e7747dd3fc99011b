// Eval-mode convolution weights, made once and kept until their sources change.
//
// Two per-call costs of eval-mode inference that Python torch pays too, measured here:
//  - Autocast casts every fp32 weight to bf16/fp16 on every call (Python's cast cache lives for
//    one autocast region). ResNet-50 bf16 at batch 1: 79 → 42 ms with the copies kept.
//  - An eval-mode BatchNorm after a convolution is an affine map per channel, a full pass over
//    the activations; folded into the convolution's weight and bias it costs nothing
//    (docs/performance.md has the figures).
// predict, Grad-CAM and features install their model's EvalWeights on the compute thread
// (EvalWeightsScope); training never does, so training and its bitwise baselines are untouched.
// An entry is remade when any source's storage or version changes (loadState, a training step)
// and all are dropped when training starts.
//
// A third cost Python pays and ONNX Runtime does not: at::mkldnn_convolution reorders the weight
// into oneDNN's blocked layout and builds the primitive on every call. An fp32 CPU eval call
// without autograd runs a kept oneDNN primitive instead (onednn_conv.h), made once per input
// shape, with what follows the convolution fused where the family asks for it: the residual add,
// ReLU, ReLU6. Where the addon has no oneDNN headers, libtorch's prepacked op (the one
// torch.jit.optimize_for_inference uses on x86) with a ReLU fused (docs/performance.md).
#pragma once
#include <torch/torch.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/record_function.h>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>
#include "onednn_conv.h"

namespace cxr {

class EvalWeights {
 public:
  // The convolution's weight and bias in `dtype`, with the eval-mode BatchNorm `bn` (or none)
  // folded in: w' = w·γ/√(σ²+ε), b' = β + (b − μ)·γ/√(σ²+ε).
  std::pair<torch::Tensor, torch::Tensor> get(torch::nn::Conv2dImpl& c, torch::nn::BatchNorm2dImpl* bn,
                                              c10::ScalarType dtype) {
    std::vector<torch::Tensor> src{c.weight, c.bias};
    if (bn) src.insert(src.end(), {bn->weight, bn->bias, bn->running_mean, bn->running_var});
    auto& e = entries_[{&c, dtype}];
    if (!e.w.defined() || !e.same(src)) {
      e.keep(src);
      // Normal tensors even when the caller is in InferenceMode: Grad-CAM saves them for backward.
      c10::InferenceMode normal(false);
      torch::NoGradGuard ng;
      auto w = c.weight.detach().to(torch::kFloat);
      auto b = c.bias.defined() ? c.bias.detach().to(torch::kFloat) : torch::Tensor();
      if (bn) {
        auto scale = (bn->running_var.detach().to(torch::kFloat) + bn->options.eps()).rsqrt();
        if (bn->weight.defined()) scale = scale * bn->weight.detach().to(torch::kFloat);
        auto shift = -bn->running_mean.detach().to(torch::kFloat);
        if (b.defined()) shift = shift + b;
        shift = shift * scale;
        if (bn->bias.defined()) shift = shift + bn->bias.detach().to(torch::kFloat);
        w = w * scale.view({-1, 1, 1, 1});
        b = shift;
      }
      e.w = w.to(dtype).contiguous(c.weight.suggest_memory_format());
      e.b = b.defined() ? b.to(dtype) : b;
      e.packed.clear();
    }
    return {e.w, e.b};
  }

  // An eval-mode BatchNorm as the affine map it is, y = x·scale + shift, in fp32 (DenseNet's
  // BatchNorms that read a view of the block's buffer, eval without autograd).
  std::pair<torch::Tensor, torch::Tensor> affine(torch::nn::BatchNorm2dImpl& bn) {
    std::vector<torch::Tensor> src{bn.weight, bn.bias, bn.running_mean, bn.running_var};
    auto& e = entries_[{&bn, torch::kFloat}];
    if (!e.w.defined() || !e.same(src)) {
      e.keep(src);
      c10::InferenceMode normal(false);
      torch::NoGradGuard ng;
      auto scale = (bn.running_var.detach().to(torch::kFloat) + bn.options.eps()).rsqrt();
      if (bn.weight.defined()) scale = scale * bn.weight.detach().to(torch::kFloat);
      auto shift = -bn.running_mean.detach().to(torch::kFloat) * scale;
      if (bn.bias.defined()) shift = shift + bn.bias.detach().to(torch::kFloat);
      e.w = scale.view({1, -1, 1, 1});
      e.b = shift.view({1, -1, 1, 1});
    }
    return {e.w, e.b};
  }

  // get()'s weights packed by oneDNN for inputs shaped and laid out as `x`, with `act` (and the
  // residual add, when `residual`) fused. A few shapes are kept per convolution (a predict's full
  // and last batch, serve's 1). Also returns get()'s weights (the profiler records them as the
  // call's arguments). Without CXR_ONEDNN: libtorch's prepacked op, which fuses a ReLU only.
#ifdef CXR_ONEDNN
  using PackedConv = std::shared_ptr<const OnednnConv>;
#else
  using PackedConv = c10::IValue;
#endif
  struct Packed {
    const PackedConv& conv;
    std::pair<torch::Tensor, torch::Tensor> wb;
  };
  Packed packed(torch::nn::Conv2dImpl& c, torch::nn::BatchNorm2dImpl* bn, const torch::Tensor& x, Act act,
                bool residual) {
    auto wb = get(c, bn, x.scalar_type());
    auto& e = entries_[{&c, x.scalar_type()}];
    auto format = x.suggest_memory_format();
    auto key = x.sizes().vec();
    key.insert(key.end(), {int64_t(format), int64_t(act), residual});
    auto it = e.packed.find(key);
    if (it != e.packed.end()) return {it->second, wb};
    if (e.packed.size() >= kPackedShapes) e.packed.clear();
    c10::InferenceMode normal(false);
    torch::NoGradGuard ng;
    const auto& o = c.options;
    auto stride = c10::IntArrayRef(*o.stride()).vec(), dilation = c10::IntArrayRef(*o.dilation()).vec(),
         pad = c10::IntArrayRef(*c10::get<torch::ExpandingArray<2>>(o.padding())).vec();
#ifdef CXR_ONEDNN
    RECORD_FUNCTION("onednn::convolution_pack", std::vector<c10::IValue>());
    PackedConv p =
        std::make_shared<const OnednnConv>(wb.first, wb.second, x, stride, pad, dilation, o.groups(), act, residual);
#else
    TORCH_CHECK(!residual && act != Act::Relu6, "the prepacked convolution fuses a ReLU only");
    static const auto prepack =
        c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn_prepacked::conv2d_prepack", "");
    // oneDNN picks the weights' packed layout for an NHWC input only when the weights' strides
    // say channels_last (libtorch reads weight.suggest_memory_format()). A 1x1 kernel's plain
    // strides are channels_last-contiguous too, so contiguous() keeps them and they read as NCHW:
    // the pack then suits the wrong kernel and every call reorders the weights again. Lay them
    // out explicitly.
    auto w = wb.first;
    if (format == at::MemoryFormat::ChannelsLast) w = torch::empty_like(w, w.options().memory_format(format)).copy_(w);
    torch::jit::Stack s{w.contiguous(format),
                        wb.second.defined() ? c10::IValue(wb.second) : c10::IValue(),
                        stride,
                        pad,
                        dilation,
                        o.groups(),
                        x.sizes().vec(),
                        std::string(act == Act::Relu ? "relu" : "none")};
    prepack.callBoxed(&s);
    PackedConv p = std::move(s[0]);
#endif
    return {e.packed.emplace(key, std::move(p)).first->second, wb};
  }
  void clear() { entries_.clear(); }

 private:
  struct Entry {
    std::vector<torch::Tensor> src;  // keeps the sources' TensorImpls alive
    std::vector<const void*> data;
    std::vector<int64_t> version;
    torch::Tensor w, b;
    std::map<std::vector<int64_t>, PackedConv> packed;  // by input sizes, memory format, fusion
    bool same(const std::vector<torch::Tensor>& s) const {
      if (s.size() != src.size()) return false;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i].defined() != src[i].defined()) return false;
        if (!s[i].defined()) continue;
        if (s[i].unsafeGetTensorImpl() != src[i].unsafeGetTensorImpl() || s[i].data_ptr() != data[i] ||
            int64_t(s[i]._version()) != version[i])
          return false;
      }
      return true;
    }
    void keep(const std::vector<torch::Tensor>& s) {
      src = s;
      data.clear();
      version.clear();
      for (auto& t : s) {
        data.push_back(t.defined() ? t.data_ptr() : nullptr);
        version.push_back(t.defined() ? int64_t(t._version()) : -1);
      }
    }
  };
  struct Key {
    const void* conv;
    c10::ScalarType dtype;
    bool operator==(const Key& o) const { return conv == o.conv && dtype == o.dtype; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<const void*>()(k.conv) ^ size_t(k.dtype); }
  };
  std::unordered_map<Key, Entry, KeyHash> entries_;
  static constexpr size_t kPackedShapes = 4;
};

// The EvalWeights in use on this thread and their dtype (core.cc); null outside an eval call.
struct EvalWeightsUse {
  EvalWeights* weights = nullptr;
  c10::ScalarType dtype = c10::ScalarType::Float;
};
EvalWeightsUse& eval_weights();

// Installs `w` for the current scope (the previous use is restored after).
class EvalWeightsScope {
 public:
  EvalWeightsScope(EvalWeights& w, c10::ScalarType dtype) : prev_(eval_weights()) { eval_weights() = {&w, dtype}; }
  ~EvalWeightsScope() { eval_weights() = prev_; }
  EvalWeightsScope(const EvalWeightsScope&) = delete;
  EvalWeightsScope& operator=(const EvalWeightsScope&) = delete;

 private:
  EvalWeightsUse prev_;
};

}  // namespace cxr
