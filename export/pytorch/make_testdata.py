#!/usr/bin/env python3
"""Regenerates testdata/models/ from tiny_example.py with export_score_model.py:

  gauss_torch.onnx  GaussianEps (σ in, ε out) wrapped into the contract; infer/ort checks
                    its scores against the Gaussian formula.
  tiny_torch.onnx   TinyNet (ln σ in, σ·score out) wrapped into the contract, with
  tiny_torch.json   inputs and PyTorch's scores for them, which infer/ort checks.

Run from the repository root with torch, onnx and onnxscript installed:
  python export/pytorch/make_testdata.py
"""

import json
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import export_score_model as esm  # noqa: E402
import tiny_example as tiny  # noqa: E402

out = os.path.join(here, "..", "..", "testdata", "models")
os.makedirs(out, exist_ok=True)

# The Gaussian, σ ∈ [0.01, 50], 8×8.
g = esm.ContractWrapper(tiny.build_gaussian(), 0.01, 50.0, time_input="sigma", output="noise")
esm.export(g, os.path.join(out, "gauss_torch.onnx"), channels=1, height=8, width=8, sigma_min=0.01,
           sigma_max=50.0, training=f"analytic Gaussian N({tiny.GAUSS_MEAN}, {tiny.GAUSS_S}^2 I) as eps(x, sigma), no training")

# TinyNet, σ ∈ [0.001, 10] in model units, data scale 2, 16×16.
w = esm.ContractWrapper(tiny.build_tiny(), 0.001, 10.0, time_input="log-sigma", output="sigma-score")
path = os.path.join(out, "tiny_torch.onnx")
esm.export(w, path, channels=1, height=16, width=16, sigma_min=0.001, sigma_max=10.0, data_scale=2.0,
           training="random weights (torch.manual_seed(1234)), no training")
gen = torch.Generator().manual_seed(5)
t = torch.tensor([0.0, 0.35, 1.0])
sigma = 0.001 * (10.0 / 0.001) ** t
x = torch.randn(3, 1, 16, 16, generator=gen) * (0.5 + sigma.reshape(-1, 1, 1, 1))  # model units
with torch.no_grad():
    score = w(x, t)
# Physical units (data scale 2): x_phys = 2·x, score_phys = score/2.
ref = {
    "comment": "tiny_torch.onnx: physical inputs x (data_scale 2 × model units), times t, and PyTorch's physical scores",
    "data_scale": 2.0,
    "t": t.tolist(),
    "x": (2 * x).flatten().tolist(),
    "score": (score / 2).flatten().tolist(),
}
with open(os.path.join(out, "tiny_torch.json"), "w") as f:
    json.dump(ref, f)
print("wrote", out)
