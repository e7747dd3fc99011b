// An inference convolution as one oneDNN primitive, built once per input shape and kept
// (EvalWeights): the weights reordered once into the layout the chosen kernel reads, the bias,
// and what follows the convolution fused in — a residual added, then ReLU or ReLU6.
//
// Why not libtorch's prepacked op (mkldnn_prepacked::conv2d_run): it makes the primitive
// descriptor again on every call (tens of microseconds; MobileNetV2 spends as long there as in
// its kernels at batch 1), and it fuses nothing but a ReLU. ONNX Runtime fuses the residual add
// and ReLU6 and makes its kernels once.
//
// Only where libtorch links this same oneDNN (Debian's libtorch; CXR_ONEDNN): one library, one
// OpenMP, one primitive cache. The threads are the calling thread's OpenMP team, as libtorch's.
#pragma once

namespace cxr {
// What a fused convolution applies after its bias, in this order: the residual (if any) added,
// then the activation — torchvision's `out += identity; relu(out)`.
enum class Act { None, Relu, Relu6 };
}  // namespace cxr

#ifdef CXR_ONEDNN
#include <dnnl.hpp>
#include <torch/torch.h>
#include <unordered_map>
#include <vector>

namespace cxr {

inline dnnl::engine& onednn_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
// One stream per thread: a CPU stream runs on its caller's OpenMP team.
inline dnnl::stream& onednn_stream() {
  thread_local dnnl::stream s(onednn_engine());
  return s;
}

class OnednnConv {
 public:
  // w [O, I/groups, kh, kw] and b [O] (or undefined) in fp32; `x` an input of the shape and
  // memory format the primitive is for.
  OnednnConv(const torch::Tensor& w, const torch::Tensor& b, const torch::Tensor& x, std::vector<int64_t> stride,
             std::vector<int64_t> pad, std::vector<int64_t> dilation, int64_t groups, Act act, bool residual)
      : residual_(residual), format_(x.suggest_memory_format()) {
    using dnnl::memory;
    const auto tag = format_ == at::MemoryFormat::ChannelsLast ? memory::format_tag::nhwc : memory::format_tag::nchw;
    const int64_t n = x.size(0), h = x.size(2), wd = x.size(3), o = w.size(0), kh = w.size(2), kw = w.size(3);
    memory::dims dil{dilation[0] - 1, dilation[1] - 1}, pad_l{pad[0], pad[1]}, pad_r(2);
    // torch's output size; oneDNN's right padding is whatever makes it exact.
    const int64_t oh = (h + 2 * pad[0] - dilation[0] * (kh - 1) - 1) / stride[0] + 1;
    const int64_t ow = (wd + 2 * pad[1] - dilation[1] * (kw - 1) - 1) / stride[1] + 1;
    pad_r[0] = (oh - 1) * stride[0] + dilation[0] * (kh - 1) + 1 - h - pad[0];
    pad_r[1] = (ow - 1) * stride[1] + dilation[1] * (kw - 1) + 1 - wd - pad[1];
    out_sizes_ = {n, o, oh, ow};
    src_md_ = memory::desc({n, x.size(1), h, wd}, memory::data_type::f32, tag);
    dst_md_ = memory::desc({n, o, oh, ow}, memory::data_type::f32, tag);
    memory::dims wdims = groups == 1 ? memory::dims{o, w.size(1), kh, kw}
                                     : memory::dims{groups, o / groups, w.size(1), kh, kw};
    const memory::desc w_any(wdims, memory::data_type::f32, memory::format_tag::any);
    const memory::desc b_md = b.defined() ? memory::desc({o}, memory::data_type::f32, memory::format_tag::a)
                                          : memory::desc();
    dnnl::post_ops ops;
    // The residual as oneDNN's sum (dst += conv): the brgemm kernels take it, while a binary add
    // post-op sends a 3x3 convolution to an older kernel 15-40 % slower (oneDNN 2.6).
    if (residual) ops.append_sum(1.f);
    if (act == Act::Relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    if (act == Act::Relu6) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, 0.f, 6.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    const dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                            src_md_, w_any, b_md, dst_md_, {stride[0], stride[1]}, dil, pad_l, pad_r);
    const dnnl::convolution_forward::primitive_desc pd(d, attr, onednn_engine());
    prim_ = dnnl::convolution_forward(pd);
    // The weights, reordered once into the kernel's layout; the bias copied (it outlives `b`).
    auto wc = w.contiguous();
    const auto wtag = groups == 1 ? memory::format_tag::oihw : memory::format_tag::goihw;
    memory user({wdims, memory::data_type::f32, wtag}, onednn_engine(), wc.data_ptr());
    weights_ = memory(pd.weights_desc(), onednn_engine());
    dnnl::reorder(user, weights_).execute(onednn_stream(), user, weights_);
    onednn_stream().wait();
    src_ = memory(src_md_, onednn_engine(), DNNL_MEMORY_NONE);
    dst_ = memory(dst_md_, onednn_engine(), DNNL_MEMORY_NONE);
    args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst_}};
    if (b.defined()) {
      b_ = b.contiguous().clone();
      args_.emplace(DNNL_ARG_BIAS, memory(b_md, onednn_engine(), b_.data_ptr()));
    }
  }

  // `x` must have the shape and format the primitive is for; `residual` (when fused) the output's.
  // The output is the residual's own buffer when nothing else holds it (a downsample's output),
  // else a copy of it: sum accumulates into the destination.
  torch::Tensor run(const torch::Tensor& x, const torch::Tensor* residual) const {
    TORCH_CHECK(x.is_contiguous(format_) && x.scalar_type() == torch::kFloat, "onednn conv: unexpected input");
    torch::Tensor out;
    if (residual_) {
      const auto& r = *residual;
      TORCH_CHECK(r.sizes() == c10::IntArrayRef(out_sizes_), "onednn conv: the residual must match the output");
      const bool own = r.scalar_type() == torch::kFloat && r.is_contiguous(format_) && r.use_count() == 1 &&
                       r.storage().use_count() == 1 && r.storage_offset() == 0;
      out = own ? r : torch::empty(out_sizes_, x.options().memory_format(format_)).copy_(r);
    } else {
      out = torch::empty(out_sizes_, x.options().memory_format(format_));
    }
    // The memory objects are made once and pointed at this call's tensors (a few microseconds a
    // call saved, of 52 calls in a MobileNetV2). One compute thread runs a model's calls.
    src_.set_data_handle(x.data_ptr());
    dst_.set_data_handle(out.data_ptr());
    prim_.execute(onednn_stream(), args_);
    onednn_stream().wait();
    return out;
  }


 private:
  bool residual_;
  at::MemoryFormat format_;
  std::vector<int64_t> out_sizes_;
  dnnl::memory::desc src_md_, dst_md_;
  dnnl::convolution_forward prim_;
  dnnl::memory weights_;
  mutable dnnl::memory src_, dst_;  // their data handles set by each run()
  std::unordered_map<int, dnnl::memory> args_;
  torch::Tensor b_;
};

// A max pooling (square kernel, stride, zero padding as torch's) as a kept oneDNN primitive,
// one per input shape and format on the calling thread: libtorch's CPU max_pool2d computes the
// indices too, which inference discards (ResNet-18's stem pool: 0.17-0.39 ms at batch 1, ONNX
// Runtime's 0.05).
class OnednnMaxPool {
 public:
  OnednnMaxPool(const torch::Tensor& x, int64_t k, int64_t stride, int64_t pad) : format_(x.suggest_memory_format()) {
    using dnnl::memory;
    const auto tag = format_ == at::MemoryFormat::ChannelsLast ? memory::format_tag::nhwc : memory::format_tag::nchw;
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    const int64_t oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    out_sizes_ = {n, c, oh, ow};
    src_md_ = memory::desc({n, c, h, w}, memory::data_type::f32, tag);
    dst_md_ = memory::desc({n, c, oh, ow}, memory::data_type::f32, tag);
    const memory::dims pad_r{(oh - 1) * stride + k - h - pad, (ow - 1) * stride + k - w - pad};
    const dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, src_md_,
                                        dst_md_, {stride, stride}, {k, k}, {pad, pad}, pad_r);
    prim_ = dnnl::pooling_forward(dnnl::pooling_forward::primitive_desc(d, onednn_engine()));
  }
  torch::Tensor run(const torch::Tensor& x) const {
    TORCH_CHECK(x.is_contiguous(format_) && x.scalar_type() == torch::kFloat, "onednn pool: unexpected input");
    auto out = torch::empty(out_sizes_, x.options().memory_format(format_));
    prim_.execute(onednn_stream(), {{DNNL_ARG_SRC, dnnl::memory(src_md_, onednn_engine(), x.data_ptr())},
                                         {DNNL_ARG_DST, dnnl::memory(dst_md_, onednn_engine(), out.data_ptr())}});
    onednn_stream().wait();
    return out;
  }

 private:
  at::MemoryFormat format_;
  std::vector<int64_t> out_sizes_;
  dnnl::memory::desc src_md_, dst_md_;
  dnnl::pooling_forward prim_;
};

}  // namespace cxr
#endif
