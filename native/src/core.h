// The compute side of one model: the network, its named tensors, its optimizer and the
// settings the last task applied. Only tasks touch it, one at a time, on the compute
// thread (model.cc holds the lock); calls on the JS thread change a Settings value
// instead, which each task copies when it is queued and applies when it runs.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>
#include "common.h"
#include "convert.h"
#include "optimizer.h"
#include "params.h"

namespace cxr {

enum class BnMode { Train, Eval, Frozen };
BnMode bn_mode(const std::string& name);  // an error for an unknown name

// What the synchronous calls set (setTrainable, setBatchNormMode, configureOptimizer).
struct Settings {
  std::vector<bool> trainable;  // per entry; false for buffers
  BnMode bn_mode = BnMode::Train;
  std::shared_ptr<const OptimizerSpec> optimizer;  // null until configureOptimizer; a new one per call
};

struct CoreSpec {
  std::string arch;
  NetOptions net;
  std::string device;
  bool channels_last;
};

class Core {
 public:
  explicit Core(const CoreSpec& spec);

  std::shared_ptr<Net> net;
  torch::Device device{torch::kCPU};
  bool channels_last = false;
  std::unique_ptr<Params> params;
  std::unordered_map<const torch::nn::BatchNorm2dImpl*, std::string> bn_names;  // BatchNorm module paths

  // Brings requires_grad, the BatchNorm mode and the optimizer in line with `s`.
  void apply(const Settings& s);
  // Train or eval mode; in training, BatchNorm follows the mode TypeScript set.
  void set_mode(bool training);
  // NHWC pixels → [0, 1] → (x - mean) / std, NCHW on the model's device (torchvision's
  // ToTensor + Normalize); a grayscale image is repeated over 3 channels.
  torch::Tensor input(const HostInput& in) const;
  // The optimizer; an error when configureOptimizer was never called.
  Optimizer& optimizer();
  bool has_optimizer() const { return bool(optimizer_); }
  std::vector<torch::Tensor> trainable_params() const;
  void clear_grads();
  // Eval-mode convolution weights: cast, BatchNorm folded (eval_weights.h); cleared by training.
  EvalWeights eval_cache;

 private:
  BnMode bn_mode_ = BnMode::Train;
  std::unique_ptr<Optimizer> optimizer_;
  std::shared_ptr<const OptimizerSpec> optimizer_spec_;  // what optimizer_ was built from
};

}  // namespace cxr
