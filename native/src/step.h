// Forward, loss, backward and the optimizer step; inference. The loss is the one the
// request names (cross-entropy with its class weights, or Dice + BCE with its weights);
// loss-scaling policy (the scale, when to change it, whether a non-finite step is skipped)
// is TypeScript's: the step multiplies by the scale it is given, unscales, reports whether
// loss and gradients were finite, and skips the optimizer step on inf/NaN only when the
// request says so.
#pragma once
#include <string>
#include <vector>
#include "core.h"

namespace cxr {

enum class Precision { Fp32, Bf16, Fp16 };
Precision precision(const std::string& name);  // an error for an unknown name
// false: bf16/fp16 CPU calls run on libtorch's own kernels, not oneDNN (set by TypeScript
// from the instruction set oneDNN runs at).
void set_low_precision_onednn(bool on);

// The loss a request asks for; every weight is TypeScript's (engine/model.ts).
struct LossSpec {
  enum class Kind { CrossEntropy, DiceBce } kind = Kind::CrossEntropy;
  double dice_weight = 0, bce_weight = 0;  // DiceBce
};

struct TrainRequest {
  HostInput in;
  LossSpec loss;
  torch::Tensor labels;         // CrossEntropy: int64 class indices, one per image
  torch::Tensor class_weights;  // CrossEntropy: float32, one per class
  torch::Tensor masks;          // DiceBce: uint8 0/1 [N, H, W]
  std::vector<GroupHyper> hyper;
  Precision precision;
  double loss_scale;
  bool skip_non_finite;  // inf/NaN loss or gradients: no optimizer step (the gradients are dropped)
};

struct TrainResult {
  double loss = 0;
  bool finite = true;     // loss and gradients (all ranks' with gradient averaging) were finite
  torch::Tensor probs;    // softmax [N, classes], CPU fp32 (segmenter: mean foreground probability [N])
};

TrainResult train_step(Core& m, const TrainRequest& r);
torch::Tensor predict_logits(Core& m, const HostInput& in, Precision p);  // CPU fp32 [N, classes]

}  // namespace cxr
