#include "cam.h"

namespace cxr {

BnObserver*& bn_observer() {
  static thread_local BnObserver* obs = nullptr;
  return obs;
}

LayerGradients layer_gradients(Core& m, const HostInput& in, int64_t cls, const std::string& layer) {
  torch::AutoGradMode ag(true);
  m.set_mode(false);
  EvalWeightsScope ew(m.eval_cache, torch::kFloat);
  auto x = m.input(in);
  torch::Tensor act;
  auto logits = m.net->run(x, layer, &act);
  auto score = logits.select(1, cls).sum();
  auto grad = torch::autograd::grad({score}, {act})[0];
  return {act.detach().to(torch::kFloat).cpu().contiguous(), grad.to(torch::kFloat).cpu().contiguous(),
          logits.detach().to(torch::kFloat).cpu().contiguous()};
}

PooledFeatures pooled_features(Core& m, const HostInput& in, const std::string& layer) {
  torch::NoGradGuard ng;  // not InferenceMode: the tap sets requires_grad on its output
  m.set_mode(false);
  EvalWeightsScope ew(m.eval_cache, torch::kFloat);
  auto x = m.input(in);
  torch::Tensor act;
  auto logits = m.net->run(x, layer, &act);
  return {act.to(torch::kFloat).mean({2, 3}).cpu().contiguous(), logits.to(torch::kFloat).cpu().contiguous()};
}

std::vector<BnInputStats> bn_input_stats(Core& m, const HostInput& in) {
  c10::InferenceMode im;
  m.set_mode(false);
  auto x = m.input(in);
  BnObserver obs;
  bn_observer() = &obs;
  try {
    m.net->run(x);
  } catch (...) {
    bn_observer() = nullptr;
    throw;
  }
  bn_observer() = nullptr;
  std::vector<BnInputStats> out;
  for (auto& s : obs.seen) out.push_back({m.bn_names.at(s.first), s.second.first, s.second.second});
  return out;
}

}  // namespace cxr
