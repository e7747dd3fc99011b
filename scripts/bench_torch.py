#!/usr/bin/python3
"""Reference for `cxrtune bench --vs-python`: the same training step (and inference)
in Debian's Python torch/torchvision. Prints one JSON object.
Usage: bench_torch.py ARCH SIZE BATCH PRECISION THREADS STEPS WARMUP CHANNELS_LAST
"""
import json, sys, time
import torch, torchvision

arch, size, batch, precision, threads, steps, warmup, cl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), sys.argv[8] == "1"
torch.set_num_threads(threads)
torch.manual_seed(0)
net = getattr(torchvision.models, arch)(num_classes=2)
fmt = torch.channels_last if cl else torch.contiguous_format
net = net.to(memory_format=fmt)
opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
g = torch.Generator().manual_seed(0)
px = torch.randint(0, 256, (batch, size, size, 1), dtype=torch.uint8, generator=g)
labels = torch.randint(0, 2, (batch,), generator=g)
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

def inputs():
    # Same preprocessing per step as cxrtune: uint8 NHWC -> normalised float NCHW.
    x = px.float().div(255).expand(-1, -1, -1, 3).permute(0, 3, 1, 2)
    return ((x - mean) / std).contiguous(memory_format=fmt)

def step():
    net.train()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits = net(inputs())
    loss = torch.nn.functional.cross_entropy(logits.float(), labels)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()

def infer():
    net.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        return net(inputs()).float()

for _ in range(warmup):
    step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
train = steps * batch / (time.perf_counter() - t0)
infer()
t0 = time.perf_counter()
for _ in range(steps):
    infer()
pred = steps * batch / (time.perf_counter() - t0)
print(json.dumps({"train_img_s": train, "predict_img_s": pred, "torch": torch.__version__}))
