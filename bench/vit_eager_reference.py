#!/usr/bin/python3
"""PyTorch-eager reference timings for bench_vit (same architecture, same batch, same machine).

Run with Debian's /usr/bin/python3 (python3-torch 1.13) from the repository root:
    /usr/bin/python3 bench/vit_eager_reference.py [threads]
Uses the timm / oetu re-implementation of tests/fixtures/models/make_vit_fixtures.py at the full
vit_patchX / mae_vit_tiny_patchX_dec256d2b size. Prints wall and process CPU time per call.
"""
import importlib.util
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "fx", os.path.join(HERE, "..", "tests", "fixtures", "models", "make_vit_fixtures.py"))
fx = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fx)
fx.LEADS, fx.SAMPLES, fx.PATCH, fx.GRID, fx.L = 12, 2500, 100, (12, 25), 300
fx.DIM, fx.DEPTH, fx.HEADS, fx.DEC_DIM, fx.DEC_DEPTH, fx.DEC_HEADS = 384, 3, 6, 256, 2, 8

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)


def clock(f, n):
    f()
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        f()
    return (time.perf_counter() - w0) / n * 1000, (time.process_time() - c0) / n * 1000


vit = fx.ViT("attention_pool", 0).eval()
x32, x1 = torch.randn(32, 1, 12, 2500), torch.randn(1, 1, 12, 2500)
with torch.no_grad():
    print("vit forward b32:   wall %.0f ms, cpu %.0f ms" % clock(lambda: vit.forward_features(x32), 3))
    print("vit forward b1:    wall %.1f ms, cpu %.1f ms" % clock(lambda: vit.forward_features(x1), 20))
vit.train()


def forward_backward():
    vit.zero_grad()
    vit.forward_features(x32).square().sum().backward()


print("vit fwd+bwd b32:   wall %.0f ms, cpu %.0f ms" % clock(forward_backward, 2))
mae = fx.MAE().train()
opt = torch.optim.AdamW([p for p in mae.parameters() if p.requires_grad], lr=1e-4, betas=(0.9, 0.95),
                        weight_decay=0.15)


def mae_step():
    opt.zero_grad()
    pred, mask, _ = mae(x32, 0.8, torch.rand(32, 300))
    mae.losses(x32, pred, mask, 0.1, False)[0].backward()
    opt.step()


print("mae step b32:      wall %.0f ms, cpu %.0f ms" % clock(mae_step, 3))
