// JS values ↔ tensors. Typed arrays become owned CPU tensors after their byte length
// is checked against the shape they claim (the check that protects memory); tensors go
// back as typed arrays. No defaults: what TypeScript leaves out is an error here.
#pragma once
#include <napi.h>
#include <torch/torch.h>
#include <array>
#include <string>
#include <utility>
#include <vector>

namespace cxr {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// A batch as it arrives: NHWC pixels (uint8 or float32, an owned CPU copy) and the
// normalisation TypeScript chose for it.
struct HostInput {
  torch::Tensor pixels;
  std::array<double, 3> mean{}, std{};
};

// { pixels, shape: [N, H, W, C], mean: [3], std: [3] }
HostInput input_from_js(const Napi::Object& req);

torch::Tensor tensor_from_typed(const Napi::Value& v, c10::ScalarType dt, const std::vector<int64_t>& shape,
                                const std::string& what);
NamedTensors tensors_from_js(const Napi::Value& v);  // [{ name, dtype, shape, data }]
Napi::Value tensors_to_js(Napi::Env env, const NamedTensors& ts);

// Exactly n numbers (n = SIZE_MAX: any count).
std::vector<double> numbers_from_js(const Napi::Value& v, size_t n, const std::string& what);
double number_from_js(const Napi::Value& v, const std::string& what);
bool bool_from_js(const Napi::Value& v, const std::string& what);
std::string string_from_js(const Napi::Value& v, const std::string& what);
// Integers in [0, size) that name entries of a list of `size` things.
std::vector<int> indices_from_js(const Napi::Value& v, size_t size, const std::string& what);

Napi::Float32Array float_array(Napi::Env env, const torch::Tensor& t);
Napi::Array shape_array(Napi::Env env, c10::IntArrayRef s);

}  // namespace cxr
