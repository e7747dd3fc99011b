// The optimizer of one model: torch::optim's SGD, Adam or AdamW over parameter groups.
// TypeScript chooses everything (kind, groups, β2, ε, and each step's per-group learning
// rate, momentum or β1, and weight decay); the kind is parsed once, into an enum.
#pragma once
#include <torch/torch.h>
#include <memory>
#include <string>
#include <vector>
#include "convert.h"
#include "params.h"

namespace cxr {

enum class OptimizerKind { Sgd, Adam, AdamW };
OptimizerKind optimizer_kind(const std::string& name);  // an error for an unknown name

struct OptimizerSpec {
  OptimizerKind kind;
  std::vector<std::vector<int>> groups;  // entry positions of parameters, per group
  bool nesterov;
  double beta2, eps;
};

struct GroupHyper {
  double lr, momentum, weight_decay;  // momentum: SGD's, or Adam's β1
};

class Optimizer {
 public:
  Optimizer(const OptimizerSpec& spec, const Params& params);
  size_t group_count() const { return opt_->param_groups().size(); }
  // Sets each group's hyperparameters, then steps.
  void step(const std::vector<GroupHyper>& hyper);
  // Per-parameter state as "<param>::<field>" tensors on the CPU (torch.optim's field names).
  NamedTensors state(const Params& params) const;
  void load_state(const NamedTensors& items, Params& params);

 private:
  OptimizerKind kind_;
  std::unique_ptr<torch::optim::Optimizer> opt_;
};

}  // namespace cxr
