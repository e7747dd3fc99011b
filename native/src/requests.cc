#include "requests.h"

namespace cxr {

namespace {

std::vector<GroupHyper> hyper_from_js(const Napi::Value& v, size_t groups) {
  if (!v.IsArray() || v.As<Napi::Array>().Length() != groups)
    throw std::runtime_error("trainStep needs hyperparameters for each of the optimizer's " + std::to_string(groups) +
                             " groups");
  auto a = v.As<Napi::Array>();
  std::vector<GroupHyper> out;
  for (uint32_t g = 0; g < a.Length(); ++g) {
    auto h = a.Get(g).As<Napi::Object>();
    out.push_back({number_from_js(h.Get("lr"), "lr"), number_from_js(h.Get("momentum"), "momentum"),
                   number_from_js(h.Get("weightDecay"), "weightDecay")});
  }
  return out;
}

}  // namespace

CoreSpec core_spec_from_js(const Napi::Value& v) {
  if (!v.IsObject()) throw std::runtime_error("createModel needs a spec object");
  auto spec = v.As<Napi::Object>();
  CoreSpec c;
  c.arch = string_from_js(spec.Get("arch"), "arch");
  c.net.num_classes = int64_t(number_from_js(spec.Get("numClasses"), "numClasses"));
  if (spec.Get("dropout").IsNumber()) c.net.dropout = spec.Get("dropout").As<Napi::Number>().DoubleValue();
  c.net.stride_in_1x1 = spec.Get("strideIn1x1").ToBoolean();
  if (spec.Get("decoderChannels").IsArray()) {
    for (double d : numbers_from_js(spec.Get("decoderChannels"), SIZE_MAX, "decoderChannels"))
      c.net.decoder_channels.push_back(int64_t(d));
  }
  c.device = string_from_js(spec.Get("device"), "device");
  c.channels_last = spec.Get("channelsLast").ToBoolean();
  return c;
}

TrainRequest train_request_from_js(const Napi::Value& v, int64_t num_classes, size_t groups) {
  auto req = v.As<Napi::Object>();
  TrainRequest r;
  r.in = input_from_js(req);
  int64_t n = r.in.pixels.size(0);
  if (!req.Get("loss").IsObject()) throw std::runtime_error("trainStep needs a loss object");
  auto loss = req.Get("loss").As<Napi::Object>();
  auto kind = string_from_js(loss.Get("kind"), "loss.kind");
  if (kind == "diceBce") {  // segmenter: per-pixel 0/1 masks [N, H, W] instead of labels
    r.loss = {LossSpec::Kind::DiceBce, number_from_js(loss.Get("diceWeight"), "loss.diceWeight"),
              number_from_js(loss.Get("bceWeight"), "loss.bceWeight")};
    r.masks = tensor_from_typed(req.Get("masks"), torch::kByte, {n, r.in.pixels.size(1), r.in.pixels.size(2)}, "masks");
  } else if (kind == "crossEntropy") {
    r.labels = tensor_from_typed(req.Get("labels"), torch::kInt, {n}, "labels").to(torch::kLong);
    if (n > 0 && (r.labels.min().item<int64_t>() < 0 || r.labels.max().item<int64_t>() >= num_classes))
      throw std::runtime_error("labels must be class indices in [0, " + std::to_string(num_classes) + ")");
    auto w = numbers_from_js(req.Get("classWeights"), size_t(num_classes), "classWeights");
    r.class_weights = torch::tensor(std::vector<float>(w.begin(), w.end()));
  } else {
    throw std::runtime_error("unknown loss '" + kind + "'");
  }
  r.hyper = hyper_from_js(req.Get("hyper"), groups);
  r.precision = precision(string_from_js(req.Get("precision"), "precision"));
  r.loss_scale = number_from_js(req.Get("lossScale"), "lossScale");
  r.skip_non_finite = bool_from_js(req.Get("skipNonFinite"), "skipNonFinite");
  return r;
}

int64_t class_index_from_js(const Napi::Value& v, int64_t num_classes) {
  double cls = number_from_js(v, "classIndex");
  if (!(cls >= 0 && cls < double(num_classes))) throw std::runtime_error("class index out of range");
  return int64_t(cls);
}

Napi::Value train_result_to_js(Napi::Env env, const TrainResult& r) {
  auto o = Napi::Object::New(env);
  o.Set("loss", r.loss);
  o.Set("finite", r.finite);
  o.Set("probs", float_array(env, r.probs));
  return o;
}

Napi::Value layer_gradients_to_js(Napi::Env env, const LayerGradients& g, const std::string& layer) {
  auto o = Napi::Object::New(env);
  o.Set("activations", float_array(env, g.activations));
  o.Set("gradients", float_array(env, g.gradients));
  o.Set("shape", shape_array(env, g.activations.sizes()));
  o.Set("logits", float_array(env, g.logits));
  o.Set("layer", layer);
  return o;
}

Napi::Value pooled_features_to_js(Napi::Env env, const PooledFeatures& f, const std::string& layer) {
  auto o = Napi::Object::New(env);
  o.Set("features", float_array(env, f.features));
  o.Set("shape", shape_array(env, f.features.sizes()));
  o.Set("logits", float_array(env, f.logits));
  o.Set("layer", layer);
  return o;
}

Napi::Value bn_stats_to_js(Napi::Env env, const std::vector<BnInputStats>& stats) {
  auto arr = Napi::Array::New(env, stats.size());
  for (size_t i = 0; i < stats.size(); ++i) {
    auto o = Napi::Object::New(env);
    o.Set("name", stats[i].name);
    o.Set("mean", float_array(env, stats[i].mean));
    o.Set("var", float_array(env, stats[i].var));
    arr[i] = o;
  }
  return arr;
}

}  // namespace cxr
