#include "optimizer.h"
#include <sstream>
#include <type_traits>
#include <unordered_map>

namespace cxr {

namespace {

using StateMap = std::remove_reference_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;

// The key torch::optim uses for per-parameter state: the TensorImpl address, printed as
// a string in libtorch 1.x, a void* in 2.x (a template, so only one branch compiles).
template <typename K>
K state_key_as(const torch::Tensor& p) {
  if constexpr (std::is_same_v<K, std::string>) {
    std::ostringstream s;
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return static_cast<K>(p.unsafeGetTensorImpl());
  }
}
StateMap::key_type state_key(const torch::Tensor& p) { return state_key_as<StateMap::key_type>(p); }

torch::Tensor to_cpu(const torch::Tensor& t) { return t.detach().to(torch::kCPU).contiguous().clone(); }

// Adam and AdamW keep the same fields under different types.
template <typename S>
void adam_state(NamedTensors& out, const std::string& name, const S& s) {
  out.push_back({name + "::step", torch::tensor({int64_t(s.step())})});
  out.push_back({name + "::exp_avg", to_cpu(s.exp_avg())});
  out.push_back({name + "::exp_avg_sq", to_cpu(s.exp_avg_sq())});
}

using Fields = std::unordered_map<std::string, torch::Tensor>;

// One field of a parameter's saved state, moved to the parameter's device, dtype and layout.
torch::Tensor field(const Fields& f, const std::string& key, const Entry& p) {
  auto it = f.find(key);
  if (it == f.end()) throw std::runtime_error("optimizer state of '" + p.name + "' lacks " + key);
  if (key == "step") return it->second;
  if (it->second.sizes() != p.t.sizes())
    throw std::runtime_error("optimizer state shape mismatch for '" + p.name + "'");
  return it->second.to(p.t.device(), p.t.scalar_type()).contiguous(p.t.suggest_memory_format());
}

template <typename S>
std::unique_ptr<S> adam_from(const Fields& f, const Entry& p) {
  auto s = std::make_unique<S>();
  s->step(field(f, "step", p).template item<int64_t>());
  s->exp_avg(field(f, "exp_avg", p));
  s->exp_avg_sq(field(f, "exp_avg_sq", p));
  return s;
}

}  // namespace

OptimizerKind optimizer_kind(const std::string& name) {
  if (name == "sgd") return OptimizerKind::Sgd;
  if (name == "adam") return OptimizerKind::Adam;
  if (name == "adamw") return OptimizerKind::AdamW;
  throw std::runtime_error("unknown optimizer '" + name + "'");
}

Optimizer::Optimizer(const OptimizerSpec& spec, const Params& params) : kind_(spec.kind) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (auto& ids : spec.groups) {
    std::vector<torch::Tensor> ps;
    for (int i : ids) ps.push_back(params.entries.at(size_t(i)).t);
    switch (kind_) {
      case OptimizerKind::Sgd:
        groups.emplace_back(ps, std::make_unique<torch::optim::SGDOptions>(
                                    torch::optim::SGDOptions(0.0).nesterov(spec.nesterov)));
        break;
      case OptimizerKind::Adam:
        groups.emplace_back(ps, std::make_unique<torch::optim::AdamOptions>(
                                    torch::optim::AdamOptions(0.0).betas({0.9, spec.beta2}).eps(spec.eps)));
        break;
      case OptimizerKind::AdamW:
        groups.emplace_back(ps, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(0.0).betas({0.9, spec.beta2}).eps(spec.eps)));
        break;
    }
  }
  switch (kind_) {
    case OptimizerKind::Sgd:
      opt_ = std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(0.0));
      break;
    case OptimizerKind::Adam:
      opt_ = std::make_unique<torch::optim::Adam>(groups, torch::optim::AdamOptions(0.0));
      break;
    case OptimizerKind::AdamW:
      opt_ = std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(0.0));
      break;
  }
}

void Optimizer::step(const std::vector<GroupHyper>& hyper) {
  auto& groups = opt_->param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const GroupHyper& h = hyper.at(g);
    switch (kind_) {
      case OptimizerKind::Sgd: {
        auto& o = static_cast<torch::optim::SGDOptions&>(groups[g].options());
        o.lr(h.lr).momentum(h.momentum).weight_decay(h.weight_decay);
        break;
      }
      case OptimizerKind::Adam: {
        auto& o = static_cast<torch::optim::AdamOptions&>(groups[g].options());
        o.lr(h.lr).betas({h.momentum, std::get<1>(o.betas())}).weight_decay(h.weight_decay);
        break;
      }
      case OptimizerKind::AdamW: {
        auto& o = static_cast<torch::optim::AdamWOptions&>(groups[g].options());
        o.lr(h.lr).betas({h.momentum, std::get<1>(o.betas())}).weight_decay(h.weight_decay);
        break;
      }
    }
  }
  opt_->step();
}

NamedTensors Optimizer::state(const Params& params) const {
  NamedTensors out;
  auto& st = opt_->state();
  for (auto& e : params.entries) {
    if (!e.is_param) continue;
    auto it = st.find(state_key(e.t));
    if (it == st.end()) continue;
    switch (kind_) {
      case OptimizerKind::Sgd: {
        auto& s = static_cast<torch::optim::SGDParamState&>(*it->second);
        if (s.momentum_buffer().defined()) out.push_back({e.name + "::momentum_buffer", to_cpu(s.momentum_buffer())});
        break;
      }
      case OptimizerKind::Adam:
        adam_state(out, e.name, static_cast<torch::optim::AdamParamState&>(*it->second));
        break;
      case OptimizerKind::AdamW:
        adam_state(out, e.name, static_cast<torch::optim::AdamWParamState&>(*it->second));
        break;
    }
  }
  return out;
}

void Optimizer::load_state(const NamedTensors& items, Params& params) {
  std::unordered_map<std::string, Fields> by_param;
  for (auto& kv : items) {
    auto sep = kv.first.rfind("::");
    if (sep == std::string::npos) throw std::runtime_error("bad optimizer state name '" + kv.first + "'");
    by_param[kv.first.substr(0, sep)][kv.first.substr(sep + 2)] = kv.second;
  }
  auto& st = opt_->state();
  st.clear();
  for (auto& kv : by_param) {
    const Entry& p = params.at(kv.first, "optimizer state");
    switch (kind_) {
      case OptimizerKind::Sgd: {
        auto s = std::make_unique<torch::optim::SGDParamState>();
        s->momentum_buffer(field(kv.second, "momentum_buffer", p));
        st[state_key(p.t)] = std::move(s);
        break;
      }
      case OptimizerKind::Adam: st[state_key(p.t)] = adam_from<torch::optim::AdamParamState>(kv.second, p); break;
      case OptimizerKind::AdamW: st[state_key(p.t)] = adam_from<torch::optim::AdamWParamState>(kv.second, p); break;
    }
  }
}

}  // namespace cxr
