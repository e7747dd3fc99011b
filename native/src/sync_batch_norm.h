// SyncBatchNorm (torch.nn.SyncBatchNorm's numerics) for data-parallel training: batch
// statistics over the whole global batch, all ranks together, instead of each process's own.
#pragma once
#include <torch/torch.h>

namespace cxr {

// True while a process group of more than one rank is up and sync BN is switched on
// (setSyncBatchNorm; defined in distributed.cc): bn() in common.h then takes sync_batch_norm.
bool sync_bn_active();

// A training-mode BatchNorm over the global batch: the module's running statistics (and
// num_batches_tracked) are updated as its own forward would with the global statistics.
// Every rank must call it for the same modules in the same order (collectives inside, in
// forward and in backward).
torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& m, const torch::Tensor& x);

}  // namespace cxr
