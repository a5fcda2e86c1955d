#!/usr/bin/python3
"""PyTorch-eager reference for bench_trainer: the same training step on the same machine.

    /usr/bin/python3 bench/trainer_eager_reference.py [threads] [plain_cnn|vit]

One step = forward, BCEWithLogits over 26 classes, backward, clip_grad_norm_(5), AdamW over two
parameter groups (no weight decay for 1-D tensors; the ViT with layer-wise lr decay 0.75 as the
MAE anchor's param_groups_lrd), batch 32, 12 leads x 5000 samples (ViT: 2500). Prints wall time,
process CPU time (all threads) and samples/s per step, after one warm-up step.
"""
import importlib.util
import os
import sys
import time

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
which = sys.argv[2] if len(sys.argv) > 2 else "plain_cnn"
torch.set_num_threads(threads)
torch.manual_seed(0)


class PlainCnn(nn.Module):
    """cardiotorch's plain_cnn: conv(no bias)-BN-ReLU blocks, max-pool 4 between, mean pool, head."""

    def __init__(self, channels=(32, 64, 128, 128), kernels=(15, 9, 7, 5), classes=26):
        super().__init__()
        layers, cin = [], 12
        for i, (c, k) in enumerate(zip(channels, kernels)):
            layers += [nn.Conv1d(cin, c, k, padding=k // 2, bias=False), nn.BatchNorm1d(c), nn.ReLU()]
            if i + 1 < len(channels):
                layers.append(nn.MaxPool1d(4))
            cin = c
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(cin, classes, bias=False)

    def forward(self, x):
        return self.head(self.body(x).mean(-1))


def groups(model, wd, layer_decay=1.0):
    names = [n for n, _ in model.named_parameters()]
    depth = max([int(n.split(".")[1]) for n in names if n.startswith("blocks.")] + [-1]) + 1
    num_layers = depth + 1
    out = {}
    for n, p in model.named_parameters():
        no_decay = p.ndim <= 1 or n.endswith(".bias") or n in ("pos_embed", "cls_token")
        if n.startswith(("cls_token", "pos_embed", "patch_embed")):
            lid = 0
        elif n.startswith("blocks."):
            lid = int(n.split(".")[1]) + 1
        else:
            lid = num_layers
        key = (lid, no_decay)
        g = out.setdefault(key, {"params": [], "weight_decay": 0.0 if no_decay else wd,
                                 "lr_scale": layer_decay ** (num_layers - lid)})
        g["params"].append(p)
    return list(out.values())


if which == "vit":
    spec = importlib.util.spec_from_file_location(
        "fx", os.path.join(HERE, "..", "tests", "fixtures", "models", "make_vit_fixtures.py"))
    fx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fx)
    fx.LEADS, fx.SAMPLES, fx.PATCH, fx.GRID, fx.L = 12, 2500, 100, (12, 25), 300
    fx.DIM, fx.DEPTH, fx.HEADS = 384, 3, 6
    model = fx.ViT("attention_pool", 26)
    x = torch.randn(32, 1, 12, 2500)
    param_groups = groups(model, 0.05, 0.75)
else:
    model = PlainCnn()
    x = torch.randn(32, 12, 5000)
    param_groups = groups(model, 0.01)
model.train()
y = (torch.rand(32, 26) < 0.1).float()
opt = torch.optim.AdamW(param_groups, lr=1e-3)
loss_fn = nn.BCEWithLogitsLoss()


def step():
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    for g in opt.param_groups:
        g["lr"] = 1e-3 * g["lr_scale"]
    opt.step()


step()
n = int(os.environ.get("STEPS", "5"))
w0, c0 = time.perf_counter(), time.process_time()
for _ in range(n):
    step()
wall, cpu = (time.perf_counter() - w0) / n, (time.process_time() - c0) / n
print("%s, %d threads: wall %.0f ms/step (%.2f samples/s), process CPU %.0f ms/step (%.2f samples per CPU-s)"
      % (which, threads, wall * 1000, 32 / wall, cpu * 1000, 32 / cpu))
