#include "core.h"

namespace cxr {

EvalWeightsUse& eval_weights() {
  static thread_local EvalWeightsUse use;
  return use;
}

BnMode bn_mode(const std::string& name) {
  if (name == "train") return BnMode::Train;
  if (name == "eval") return BnMode::Eval;
  if (name == "frozen") return BnMode::Frozen;
  throw std::runtime_error("unknown BatchNorm mode '" + name + "'");
}

Core::Core(const CoreSpec& spec) : channels_last(spec.channels_last) {
  net = make_net(spec.arch, spec.net);
  device = torch::Device(spec.device);
  if (device.is_cuda() && !torch::cuda::is_available())
    throw std::runtime_error("device '" + spec.device +
                             "' asked for, but this libtorch has no CUDA or no GPU is visible");
  net->to(device);
  if (channels_last) {
    torch::NoGradGuard ng;
    for (auto& p : net->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
  params = std::make_unique<Params>(*net);
  for (auto& item : net->named_modules())
    if (auto* bnm = item.value()->as<torch::nn::BatchNorm2d>()) bn_names[bnm] = item.key();
}

void Core::apply(const Settings& s) {
  for (size_t i = 0; i < params->entries.size(); ++i) {
    auto& e = params->entries[i];
    if (!e.is_param || e.t.requires_grad() == s.trainable[i]) continue;
    e.t.requires_grad_(s.trainable[i]);
    if (!s.trainable[i]) e.t.mutable_grad() = torch::Tensor();
  }
  bn_mode_ = s.bn_mode;
  if (s.optimizer != optimizer_spec_) {
    optimizer_ = s.optimizer ? std::make_unique<Optimizer>(*s.optimizer, *params) : nullptr;
    optimizer_spec_ = s.optimizer;
  }
}

void Core::set_mode(bool training) {
  net->train(training);
  if (!training) return;
  eval_cache.clear();  // training changes every weight; free the copies
  if (bn_mode_ == BnMode::Eval) net->eval();
  else if (bn_mode_ == BnMode::Frozen)
    for (auto& kv : bn_names) const_cast<torch::nn::BatchNorm2dImpl*>(kv.first)->eval();
}

torch::Tensor Core::input(const HostInput& in) const {
  auto x = in.pixels.to(device).to(torch::kFloat).div_(255.0);  // NHWC in [0, 1]
  if (x.size(3) == 1) x = x.expand({x.size(0), x.size(1), x.size(2), 3});
  x = x.permute({0, 3, 1, 2});
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(device);
  auto m = torch::tensor({in.mean[0], in.mean[1], in.mean[2]}, opts).view({1, 3, 1, 1});
  auto s = torch::tensor({in.std[0], in.std[1], in.std[2]}, opts).view({1, 3, 1, 1});
  x = (x - m) / s;
  return channels_last ? x.contiguous(at::MemoryFormat::ChannelsLast) : x.contiguous();
}

Optimizer& Core::optimizer() {
  if (!optimizer_) throw std::runtime_error("configureOptimizer must be called first");
  return *optimizer_;
}

std::vector<torch::Tensor> Core::trainable_params() const {
  std::vector<torch::Tensor> out;
  for (auto& e : params->entries)
    if (e.is_param && e.t.requires_grad()) out.push_back(e.t);
  return out;
}

void Core::clear_grads() {
  for (auto& e : params->entries)
    if (e.is_param) e.t.mutable_grad() = torch::Tensor();
}

}  // namespace cxr
