// The JS shapes of the model's requests and results (engine/native.ts): request objects
// become the plain structs of core.h, step.h and cam.h, results become plain objects of
// typed arrays. TypeScript has validated each request and given every field; the checks
// kept here are those that protect memory (byte lengths, indices, counts).
#pragma once
#include <napi.h>
#include <string>
#include <vector>
#include "cam.h"
#include "core.h"
#include "step.h"

namespace cxr {

// { arch, numClasses, device, dropout?, strideIn1x1?, channelsLast? }
CoreSpec core_spec_from_js(const Napi::Value& v);
// { pixels, shape, mean, std, hyper: [{ lr, momentum, weightDecay }], precision, lossScale, skipNonFinite, loss }
// and, by loss.kind, crossEntropy: labels, classWeights; diceBce (loss.diceWeight, loss.bceWeight): masks
TrainRequest train_request_from_js(const Napi::Value& v, int64_t num_classes, size_t groups);
// A class index in [0, num_classes).
int64_t class_index_from_js(const Napi::Value& v, int64_t num_classes);

Napi::Value train_result_to_js(Napi::Env env, const TrainResult& r);
Napi::Value layer_gradients_to_js(Napi::Env env, const LayerGradients& g, const std::string& layer);
Napi::Value pooled_features_to_js(Napi::Env env, const PooledFeatures& f, const std::string& layer);
Napi::Value bn_stats_to_js(Napi::Env env, const std::vector<BnInputStats>& stats);

}  // namespace cxr
