#!/usr/bin/python3
"""Test fixtures: writes the checkpoints users have with Debian's torch/torchvision, and
torchvision's logits for them, for test/engine/torchCheckpoint.test.ts.

Usage: torch_checkpoints.py DIR
Writes DIR/*.pth and DIR/expected.safetensors (pixels U8 NHWC, logits.<case>, tensors.<name>).
"""
import collections, io, os, struct, sys, zipfile
import torch, torchvision

sys.path.insert(0, os.path.dirname(__file__))
from torchvision_oracle import save  # noqa: E402

out = sys.argv[1]
torch.set_num_threads(2)
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
g = torch.Generator().manual_seed(7)
pixels = torch.randint(0, 256, (2, 64, 64, 3), generator=g, dtype=torch.uint8)
x = ((pixels.float() / 255.0).permute(0, 3, 1, 2) - MEAN) / STD
expected = {"pixels": pixels}


def logits(net):
    net.eval()
    with torch.no_grad():
        return net(x.contiguous())


# 1. resnet18 state dict, random init with a fixed seed.
torch.manual_seed(1)
r18 = torchvision.models.resnet18()
# Non-trivial BatchNorm statistics so a mix-up of running stats would show.
for m in r18.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.1, 0.1)
        m.running_var.uniform_(0.5, 1.5)
torch.save(r18.state_dict(), os.path.join(out, "resnet18.pth"))
expected["logits.resnet18"] = logits(r18)

# 2. densenet121 saved under torchvision's legacy names (norm.1, relu.1, conv.1, …).
torch.manual_seed(2)
d121 = torchvision.models.densenet121()
legacy = collections.OrderedDict()
for k, v in d121.state_dict().items():
    for a in ("norm", "relu", "conv"):
        for i in ("1", "2"):
            k = k.replace(f".{a}{i}.", f".{a}.{i}.")
    legacy[k] = v
assert any(".norm.1." in k for k in legacy)
torch.save(legacy, os.path.join(out, "densenet121-legacy.pth"))
expected["logits.densenet121"] = logits(d121)

# 3. A DataParallel training checkpoint: {'state_dict': {'module.' + k}, epoch, optimizer, …}.
torch.manual_seed(3)
dp = torchvision.models.resnet18(num_classes=3)
wrapped = torch.nn.DataParallel(dp)
opt = torch.optim.SGD(wrapped.parameters(), lr=0.1, momentum=0.9)
torch.save({"epoch": 4, "arch": "resnet18", "best_auc": 0.91, "state_dict": wrapped.state_dict(),
            "optimizer": opt.state_dict()}, os.path.join(out, "dataparallel.pth.tar"))
expected["logits.dataparallel"] = logits(dp)

# 4. fp16 and bf16 copies of the resnet18 state dict.
torch.save({k: (v.half() if v.is_floating_point() else v) for k, v in r18.state_dict().items()}, os.path.join(out, "resnet18-f16.pth"))
r16 = torchvision.models.resnet18()
r16.load_state_dict({k: (v.half().float() if v.is_floating_point() else v) for k, v in r18.state_dict().items()})
expected["logits.resnet18-f16"] = logits(r16)
torch.save({k: (v.bfloat16() if v.is_floating_point() else v) for k, v in r18.state_dict().items()}, os.path.join(out, "resnet18-bf16.pth"))
rb = torchvision.models.resnet18()
rb.load_state_dict({k: (v.bfloat16().float() if v.is_floating_point() else v) for k, v in r18.state_dict().items()})
expected["logits.resnet18-bf16"] = logits(rb)

# 5. Views: transposed, offset slices sharing one storage, f64, int64, bool; also big-endian.
base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7
views = {"base": base, "t": base.t(), "slice": base[1:, 2:5], "col": base[:, 3], "step": base[::2, ::3],
         "f64": base.double().t(), "i64": torch.arange(5) * -3, "flag": torch.tensor([True, False, True]),
         "i8": torch.tensor([-5, 7], dtype=torch.int8), "f16t": base.half().t()}
torch.save(views, os.path.join(out, "views.pth"))
for k, v in views.items():
    expected["tensors." + k] = v.float().contiguous()

# The same checkpoint as a big-endian machine writes it: byteorder 'big', every element swapped.
src = zipfile.ZipFile(os.path.join(out, "views.pth"))
with zipfile.ZipFile(os.path.join(out, "views-big.pth"), "w", zipfile.ZIP_STORED) as dst:
    for info in src.infolist():
        data = src.read(info.filename)
        if info.filename.endswith("/byteorder"):
            data = b"big"
        elif "/data/" in info.filename:
            key = info.filename.rsplit("/", 1)[1]
            # Storage element size by key (torch numbers storages in first-use order).
            size = [4, 8, 8, 1, 1, 2][int(key)]
            data = b"".join(data[i:i + size][::-1] for i in range(0, len(data), size))
        dst.writestr(info.filename.replace("views/", "views-big/"), data)
    if not any(n.endswith("/byteorder") for n in src.namelist()):
        dst.writestr("views-big/byteorder", b"big")

# 6. A checkpoint whose pickle runs a shell command when Python unpickles it.
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(out, "SENTINEL"),))

torch.save({"conv1.weight": torch.zeros(2), "payload": Evil()}, os.path.join(out, "malicious.pth"))

# 7. Legacy (pre-1.6) serialization, and a whole pickled model instead of a state dict.
torch.save(r18.state_dict(), os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)
torch.save(r18, os.path.join(out, "whole-model.pth"))

save(os.path.join(out, "expected.safetensors"), expected)
