// Looking inside the network, in eval mode: the activations of one block with the
// gradient of a class score with respect to them (TypeScript weighs and sums them into
// a Grad-CAM map), a block's pooled activations, and BatchNorm input statistics.
#pragma once
#include <string>
#include <vector>
#include "core.h"

namespace cxr {

struct LayerGradients {
  torch::Tensor activations, gradients;  // [N, C, h, w], CPU fp32
  torch::Tensor logits;                  // [N, classes], CPU fp32
};
// d(Σ_n logit[n, cls]) / d(activations of `layer`).
LayerGradients layer_gradients(Core& m, const HostInput& in, int64_t cls, const std::string& layer);

struct PooledFeatures {
  torch::Tensor features;  // [N, C]: `layer`'s activations averaged over space, CPU fp32
  torch::Tensor logits;
};
PooledFeatures pooled_features(Core& m, const HostInput& in, const std::string& layer);

struct BnInputStats {
  std::string name;          // BatchNorm module path
  torch::Tensor mean, var;   // per channel, biased variance, CPU fp32
};
// Per BatchNorm layer, in call order: the statistics of its input over the batch.
std::vector<BnInputStats> bn_input_stats(Core& m, const HostInput& in);

}  // namespace cxr
