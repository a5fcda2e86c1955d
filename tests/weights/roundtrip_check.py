#!/usr/bin/python3
"""Round-trip check run by tests/weights/save_test.cpp: Python reads what cardiotorch wrote.

    roundtrip_check.py DIR

DIR holds, written by the C++ test:
  state.pt            weights::save_torch (torch.save zip archive of an OrderedDict)
  state_zip64.pt      the same with ZIP64 records forced
  state.safetensors   weights::save_safetensors
  checkpoint.safetensors  weights::save_checkpoint (model group + optimizer group + metadata)
  expected.npz        the same tensors (bfloat16 ones as float32), for comparison
  expected.json       {"dtypes": {name: dtype}, "order": [names]}
Exits 0 and prints "OK" when every file holds exactly the expected tensors.
"""
import collections
import json
import os
import struct
import sys

import numpy as np
import torch

ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
             "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """An independent reader of the documented format (the safetensors package is not in Debian)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = collections.OrderedDict()
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        a, b = info["data_offsets"]
        raw = data[8 + n + a:8 + n + b]
        if info["dtype"] == "BF16":
            t = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16) if raw else torch.zeros(0, dtype=torch.bfloat16)
            out[name] = t.reshape(info["shape"])
        else:
            out[name] = torch.from_numpy(np.frombuffer(raw, dtype=ST_DTYPES[info["dtype"]]).copy().reshape(info["shape"]))
    return out, meta


def check(name, got, expected, dtypes, order):
    assert list(got.keys()) == order, f"{name}: keys {list(got.keys())} != {order}"
    for k in order:
        t = got[k]
        assert str(t.dtype) == "torch." + dtypes[k], f"{name}: {k} has {t.dtype}, expected {dtypes[k]}"
        ref = torch.from_numpy(expected[k])
        value = t.float() if t.dtype == torch.bfloat16 else t
        assert tuple(value.shape) == tuple(ref.shape), f"{name}: {k} shape {tuple(value.shape)} != {tuple(ref.shape)}"
        assert torch.equal(value, ref), f"{name}: {k} differs"


def main():
    d = sys.argv[1]
    expected = np.load(os.path.join(d, "expected.npz"))
    spec = json.load(open(os.path.join(d, "expected.json")))
    dtypes, order = spec["dtypes"], spec["order"]
    for f in ("state.pt", "state_zip64.pt"):
        sd = torch.load(os.path.join(d, f), weights_only=True)
        assert type(sd) is collections.OrderedDict, f"{f}: {type(sd)}"
        check(f, sd, expected, dtypes, order)
    sd, _ = read_safetensors(os.path.join(d, "state.safetensors"))
    check("state.safetensors", sd, expected, dtypes, order)
    ck, meta = read_safetensors(os.path.join(d, "checkpoint.safetensors"))
    assert meta["format"] == "cardiotorch.checkpoint" and meta["format_version"] == "1", meta
    model = collections.OrderedDict((k, v) for k, v in ck.items() if "/" not in k)
    check("checkpoint.safetensors", model, expected, dtypes, order)
    assert json.loads(meta["registry"]) == {"model": "tiny"}, meta["registry"]
    assert json.loads(meta["trainer"])["epoch"] == 4, meta["trainer"]
    assert "optimizer/0.exp_avg" in ck
    print("OK", len(order))


if __name__ == "__main__":
    main()
