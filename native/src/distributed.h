// Data-parallel hooks the model's train step calls: gradient averaging (and, for
// SyncBatchNorm, per-channel sums) over the process group made by distributed.cc (c10d
// TCPStore + ProcessGroupGloo). Kept free of c10d headers so step.cc builds the same with
// or without them. Whether SyncBatchNorm is on: sync_bn_active() in sync_batch_norm.h.
#pragma once
#include <napi.h>
#include <torch/torch.h>
#include <vector>

namespace cxr {

// True while a process group is up and gradient averaging is switched on.
bool grad_sync_active();

// Averages the gradients of `params` (the trainable parameters, the same list in the same
// order on every rank) over all ranks with bucketed all-reduces. Every rank must call it
// once per step, also one whose loss was not finite (`finite` false: it sends NaN so the
// others see the overflow). Returns whether the averaged gradients are finite on every
// rank — the same answer everywhere, so all ranks skip or take the step together.
bool sync_gradients(const std::vector<torch::Tensor>& params, bool finite);

// Sums `t` (contiguous) over all ranks in place; blocks until done. A failure is one line
// naming `op` and, if it can tell, the rank that stopped.
void allreduce_sum(torch::Tensor& t, const char* op);

// Adds the distributed functions to the module's exports.
void InitDistributed(Napi::Env env, Napi::Object exports);

}  // namespace cxr
