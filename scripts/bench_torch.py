#!/usr/bin/python3
"""Reference for `cxrtune bench --vs-python`: the same training step (and inference)
in Debian's Python torch/torchvision. Prints one JSON object.
Usage: bench_torch.py ARCH SIZE BATCH PRECISION THREADS STEPS WARMUP CHANNELS_LAST [DEVICE [WEIGHTS [serve]]]
With `serve`, the process stays alive for interleaved rounds: it reads commands
`train|predict|latency WARMUP STEPS` on stdin and answers each with one JSON line
{"seconds": S} (the timed steps only), until stdin closes. `profile-train|profile-predict 0 STEPS`
answers {"events": {name, startUs, durationUs, flops, thread}}: torch.profiler's raw CPU op
events (cxrtune summarises both sides with the same code, src/app/opProfile.ts).
WEIGHTS: a safetensors file with the initial weights (cxrtune passes its own, so both
processes compute on identical values: speed can depend on them).
"""
import json, os, struct, sys, time
import numpy as np
import torch, torchvision

arch, size, batch, precision, threads, steps, warmup, cl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), sys.argv[8] == "1"
dev = torch.device(sys.argv[9] if len(sys.argv) > 9 else "cpu")
ac = dict(device_type=dev.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16, enabled=precision != "fp32")
torch.set_num_threads(threads)
torch.manual_seed(0)
net = getattr(torchvision.models, arch)(num_classes=2)
if len(sys.argv) > 10 and sys.argv[10]:
    b = open(sys.argv[10], "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    dt = {"F32": np.float32, "I64": np.int64, "U8": np.uint8, "I32": np.int32}
    sd = {k: torch.from_numpy(np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], dtype=dt[v["dtype"]]).reshape(v["shape"]).copy())
          for k, v in h.items() if k != "__metadata__"}
    # cxrtune's own batch rides along, so both processes see identical inputs too.
    px_in, labels_in = sd.pop("__input.pixels", None), sd.pop("__input.labels", None)
    net.load_state_dict(sd, strict=True)
else:
    px_in = labels_in = None
fmt = torch.channels_last if cl else torch.contiguous_format
net = net.to(dev, memory_format=fmt)
opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
g = torch.Generator().manual_seed(0)
px = torch.randint(0, 256, (batch, size, size, 1), dtype=torch.uint8, generator=g)
labels = torch.randint(0, 2, (batch,), generator=g)
if px_in is not None:
    px, labels = px_in.view(batch, size, size, 1), labels_in.long()
mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)
labels = labels.to(dev)
scaler = torch.cuda.amp.GradScaler(enabled=precision == "fp16") if dev.type == "cuda" else None

def inputs():
    # Same preprocessing per step as cxrtune: uint8 NHWC -> normalised float NCHW.
    x = px.to(dev).float().div(255).expand(-1, -1, -1, 3).permute(0, 3, 1, 2)
    return ((x - mean) / std).contiguous(memory_format=fmt)

def step():
    net.train()
    with torch.autocast(**ac):
        logits = net(inputs())
    loss = torch.nn.functional.cross_entropy(logits.float(), labels)
    opt.zero_grad(set_to_none=True)
    if scaler is not None and precision == "fp16":
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()
    return loss.item()

def infer():
    net.eval()
    with torch.inference_mode(), torch.autocast(**ac):
        return net(inputs()).float().cpu()

def latency():
    net.eval()
    with torch.inference_mode(), torch.autocast(**ac):
        return net(inputs()[:1]).float().cpu()

def timed(fn, w, n):
    for _ in range(w):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - t0

def profiled(fn, n):
    from torch.profiler import profile, ProfilerActivity
    fn()  # warm, as cxrtune's side does
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as p:
        for _ in range(n):
            fn()
    ev = [e for e in p.events() if e.device_type == torch.autograd.DeviceType.CPU]
    return {"name": [e.name for e in ev], "startUs": [e.time_range.start for e in ev],
            "durationUs": [e.time_range.elapsed_us() for e in ev], "flops": [e.flops or 0 for e in ev],
            "thread": [e.thread for e in ev]}

if len(sys.argv) > 11 and sys.argv[11] == "serve":
    fns = {"train": step, "predict": infer, "latency": latency}
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        cmd, w, n = line.split()
        # A kind this torch cannot run (1.13 has no bf16 CPU kernel for ReLU6's backward) answers
        # {"error"}; the process stays up for the other kinds.
        try:
            if cmd.startswith("profile-"):
                out = {"events": profiled(fns[cmd[len("profile-"):]], int(n))}
            else:
                out = {"seconds": timed(fns[cmd], int(w), int(n))}
        except RuntimeError as e:
            out = {"error": str(e).strip().split("\n")[0]}
        print(json.dumps(out), flush=True)
    sys.exit(0)

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
