#!/usr/bin/python3
"""Test oracle: runs torchvision (Debian's python3-torchvision) on jobs written by the
engine's golden tests and writes torchvision's answers back.

Usage: torchvision_oracle.py DIR  (each DIR/*/job.json is one job)
A job: {"arch", "numClasses", "mean", "std", "threads", "optim": null | {"kind", "groups": [[names]], "hyper": [[{lr, momentum, weightDecay}] per step]}}
with model.safetensors (initial state) and input.safetensors (pixels U8 NHWC, labels I32) beside it.
Writes out.json {"names": [[name, shape]...]} and out.safetensors {logits, and the state after the steps}.
"""
import json, os, struct, sys
import numpy as np
import torch, torchvision

DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "F16": np.float16}

def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        a = np.frombuffer(b[8 + n + s:8 + n + e], dtype=DT[v["dtype"]]).reshape(v["shape"])
        out[k] = torch.from_numpy(a.copy())
    return out

def save(path, tensors):
    header, chunks, off = {}, [], 0
    for k, t in tensors.items():
        a = t.detach().cpu().contiguous().numpy()
        dt = {np.float32: "F32", np.int64: "I64", np.uint8: "U8"}[a.dtype.type]
        raw = a.tobytes()
        header[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    hj = json.dumps(header).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(chunks))

def run(job_dir):
    job = json.load(open(os.path.join(job_dir, "job.json")))
    torch.set_num_threads(job.get("threads", 1))
    net = getattr(torchvision.models, job["arch"])(num_classes=job["numClasses"])
    names = [[k, list(v.shape)] for k, v in net.state_dict().items()]
    net.load_state_dict(load(os.path.join(job_dir, "model.safetensors")), strict=True)
    inp = load(os.path.join(job_dir, "input.safetensors"))
    px = inp["pixels"].float() / 255.0  # N H W C
    if px.shape[3] == 1:
        px = px.expand(-1, -1, -1, 3)
    x = px.permute(0, 3, 1, 2)
    mean = torch.tensor(job["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(job["std"]).view(1, 3, 1, 1)
    x = ((x - mean) / std).contiguous()
    out = {}
    net.eval()
    with torch.no_grad():
        out["logits"] = net(x)
    optim = job.get("optim")
    if optim:
        params = dict(net.named_parameters())
        groups = [{"params": [params[n] for n in g]} for g in optim["groups"]]
        if optim["kind"] == "sgd":
            opt = torch.optim.SGD(groups, lr=0.0, momentum=0.0, nesterov=False)
        else:
            opt = torch.optim.AdamW(groups, lr=0.0, betas=(0.9, optim.get("beta2", 0.999)), eps=1e-8)
        labels = inp["labels"].long()
        net.train()
        for hyper in optim["hyper"]:
            for g, h in zip(opt.param_groups, hyper):
                g["lr"] = h["lr"]
                g["weight_decay"] = h["weightDecay"]
                if optim["kind"] == "sgd":
                    g["momentum"] = h["momentum"]
                else:
                    g["betas"] = (h["momentum"], g["betas"][1])
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x), labels)
            loss.backward()
            opt.step()
        for k, v in net.state_dict().items():
            out["state." + k] = v
    save(os.path.join(job_dir, "out.safetensors"), out)
    json.dump({"names": names}, open(os.path.join(job_dir, "out.json"), "w"))

if __name__ == "__main__":
    for d in sorted(os.listdir(sys.argv[1])):
        if os.path.exists(os.path.join(sys.argv[1], d, "job.json")):
            run(os.path.join(sys.argv[1], d))
