// The network's named tensors in torchvision's state_dict order (per module, pre-order:
// its parameters, then its buffers), with a name → position index.
#pragma once
#include <torch/torch.h>
#include <string>
#include <unordered_map>
#include <vector>

namespace cxr {

struct Entry {
  std::string name;
  torch::Tensor t;
  bool is_param;
};

struct Params {
  std::vector<Entry> entries;
  std::unordered_map<std::string, int> index;

  explicit Params(torch::nn::Module& net) {
    for (auto& item : net.named_modules()) {
      const std::string prefix = item.key().empty() ? "" : item.key() + ".";
      for (auto& p : item.value()->named_parameters(false)) entries.push_back({prefix + p.key(), p.value(), true});
      for (auto& b : item.value()->named_buffers(false)) entries.push_back({prefix + b.key(), b.value(), false});
    }
    for (size_t i = 0; i < entries.size(); ++i) index[entries[i].name] = int(i);
  }
  // The entry called `name`; an error naming `what` when there is none.
  Entry& at(const std::string& name, const std::string& what) {
    auto it = index.find(name);
    if (it == index.end()) throw std::runtime_error(what + " names no tensor of this model: '" + name + "'");
    return entries[it->second];
  }
};

}  // namespace cxr
