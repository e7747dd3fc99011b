#include "convert.h"
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

namespace cxr {

namespace {

const char* dtype_name(c10::ScalarType t) {
  switch (t) {
    case torch::kFloat: return "F32";
    case torch::kHalf: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kDouble: return "F64";
    case torch::kLong: return "I64";
    case torch::kInt: return "I32";
    case torch::kByte: return "U8";
    default: throw std::runtime_error("unsupported tensor dtype");
  }
}

c10::ScalarType dtype_from(const std::string& s) {
  if (s == "F32") return torch::kFloat;
  if (s == "F16") return torch::kHalf;
  if (s == "BF16") return torch::kBFloat16;
  if (s == "F64") return torch::kDouble;
  if (s == "I64") return torch::kLong;
  if (s == "I32") return torch::kInt;
  if (s == "U8") return torch::kByte;
  throw std::runtime_error("unsupported tensor dtype '" + s + "'");
}

std::vector<int64_t> shape_from_js(const Napi::Value& v, const std::string& what) {
  std::vector<int64_t> out;
  for (double d : numbers_from_js(v, std::numeric_limits<size_t>::max(), what)) {
    if (d < 0 || d != std::floor(d)) throw std::runtime_error(what + " must hold non-negative integers");
    out.push_back(int64_t(d));
  }
  return out;
}

}  // namespace

torch::Tensor tensor_from_typed(const Napi::Value& v, c10::ScalarType dt, const std::vector<int64_t>& shape,
                                const std::string& what) {
  if (!v.IsTypedArray()) throw std::runtime_error(what + " must be a typed array");
  auto ta = v.As<Napi::TypedArray>();
  size_t bytes = ta.ByteLength();
  int64_t numel = 1;
  for (auto d : shape) numel *= d;
  size_t want = size_t(numel) * c10::elementSize(dt);
  if (bytes != want)
    throw std::runtime_error(what + ": " + std::to_string(bytes) + " bytes for shape of " + std::to_string(numel) +
                             " elements of " + dtype_name(dt) + " (expected " + std::to_string(want) + ")");
  auto* data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return torch::from_blob(data, shape, torch::TensorOptions().dtype(dt)).clone();
}

HostInput input_from_js(const Napi::Object& req) {
  HostInput in;
  auto shape = shape_from_js(req.Get("shape"), "batch shape");
  if (shape.size() != 4) throw std::runtime_error("batch shape must be [N, H, W, C]");
  Napi::Value px = req.Get("pixels");
  auto kind = px.IsTypedArray() ? px.As<Napi::TypedArray>().TypedArrayType() : napi_int8_array;
  if (kind == napi_uint8_array || kind == napi_uint8_clamped_array)
    in.pixels = tensor_from_typed(px, torch::kByte, shape, "batch pixels");
  else if (kind == napi_float32_array)
    in.pixels = tensor_from_typed(px, torch::kFloat, shape, "batch pixels");
  else
    throw std::runtime_error("batch pixels must be a Uint8Array or Float32Array");
  auto mean = numbers_from_js(req.Get("mean"), 3, "mean"), std = numbers_from_js(req.Get("std"), 3, "std");
  std::copy(mean.begin(), mean.end(), in.mean.begin());
  std::copy(std.begin(), std.end(), in.std.begin());
  return in;
}

NamedTensors tensors_from_js(const Napi::Value& v) {
  if (!v.IsArray()) throw std::runtime_error("expected an array of tensors");
  auto a = v.As<Napi::Array>();
  NamedTensors out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    auto o = a.Get(i).As<Napi::Object>();
    std::string name = string_from_js(o.Get("name"), "tensor name");
    auto dt = dtype_from(string_from_js(o.Get("dtype"), "dtype of " + name));
    auto shape = shape_from_js(o.Get("shape"), "shape of " + name);
    out.push_back({name, tensor_from_typed(o.Get("data"), dt, shape, "data of " + name)});
  }
  return out;
}

Napi::Value tensors_to_js(Napi::Env env, const NamedTensors& ts) {
  auto out = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    auto& t = ts[i].second;
    auto o = Napi::Object::New(env);
    o.Set("name", ts[i].first);
    o.Set("dtype", dtype_name(t.scalar_type()));
    o.Set("shape", shape_array(env, t.sizes()));
    size_t bytes = size_t(t.numel()) * t.element_size();
    auto buf = Napi::Uint8Array::New(env, bytes);
    if (bytes) std::memcpy(buf.Data(), t.data_ptr(), bytes);
    o.Set("data", buf);
    out[i] = o;
  }
  return out;
}

std::vector<double> numbers_from_js(const Napi::Value& v, size_t n, const std::string& what) {
  bool any = n == std::numeric_limits<size_t>::max();
  if (!v.IsArray() || (!any && v.As<Napi::Array>().Length() != n))
    throw std::runtime_error(what + " must be an array of " + (any ? std::string("") : std::to_string(n) + " ") +
                             "numbers");
  auto a = v.As<Napi::Array>();
  std::vector<double> out;
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(number_from_js(a.Get(i), what));
  return out;
}

double number_from_js(const Napi::Value& v, const std::string& what) {
  if (!v.IsNumber()) throw std::runtime_error(what + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool bool_from_js(const Napi::Value& v, const std::string& what) {
  if (!v.IsBoolean()) throw std::runtime_error(what + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string string_from_js(const Napi::Value& v, const std::string& what) {
  if (!v.IsString()) throw std::runtime_error(what + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::vector<int> indices_from_js(const Napi::Value& v, size_t size, const std::string& what) {
  std::vector<int> out;
  for (double d : numbers_from_js(v, std::numeric_limits<size_t>::max(), what)) {
    if (!(d >= 0 && d < double(size) && d == std::floor(d)))
    {
      std::ostringstream m;
      m << what << ": index " << d << " is out of range [0, " << size << ")";
      throw std::runtime_error(m.str());
    }
    out.push_back(int(d));
  }
  return out;
}

Napi::Float32Array float_array(Napi::Env env, const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat).contiguous();
  auto out = Napi::Float32Array::New(env, size_t(c.numel()));
  std::memcpy(out.Data(), c.data_ptr<float>(), size_t(c.numel()) * sizeof(float));
  return out;
}

Napi::Array shape_array(Napi::Env env, c10::IntArrayRef s) {
  auto a = Napi::Array::New(env, s.size());
  for (size_t i = 0; i < s.size(); ++i) a[i] = Napi::Number::New(env, double(s[i]));
  return a;
}

}  // namespace cxr
