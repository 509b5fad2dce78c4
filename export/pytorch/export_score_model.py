#!/usr/bin/env python3
"""Export a PyTorch score model to the scorelens score-model contract (SPEC §6).

The contract: inputs ``x`` float32 [B, C, H, W] and ``t`` float32 [B] (the diffusion time
in [0, 1]); output ``score`` float32 [B, C, H, W], the score itself; a dynamic batch axis;
metadata ``scorelens.sde`` (ve), ``scorelens.sigma_min``/``sigma_max`` (the network's σ
range, model units), ``scorelens.channels``/``height``/``width``, ``scorelens.data_scale``
(physical = data_scale × model units) and ``scorelens.training``.

The network is wrapped so that the exported graph takes t and returns the score whatever
the network's own conventions: σ(t) = σmin·(σmax/σmin)^t is computed in the graph, fed as
t, σ or ln σ (``--time-input``), and the output is turned into the score (``--output``:
score, noise with score = −ε/σ, or sigma-score with the network returning σ·score).

Where the network comes from:

  --from score_models --checkpoint DIR
      Alexandre Adam's ``score_models`` package: ``ScoreModel(checkpoints_directory=DIR)``;
      its own ``score(t, x)`` is exported and σmin/σmax come from its ``sde``.
  --from score_sde --config CONFIG.py --checkpoint checkpoint.pth   (run inside the
      score_sde_pytorch repository, or with it on PYTHONPATH)
      Song et al.'s ``score_sde_pytorch``: the EMA weights of a VE model, fed σ (the
      continuous VE convention) with σmin/σmax from ``config.model``; the output is the
      score when ``config.model.scale_by_sigma`` (the VE configs), else σ·score.
  --from factory --factory package.module:function
      Any model: ``function()`` returns the ``torch.nn.Module`` and the conventions are
      given by the flags (``--call x,t`` or ``t,x`` for the argument order).

Examples:

  python export_score_model.py --from score_models --checkpoint ckpt/ \
      --height 64 --width 64 --out model.onnx --training "probes 64x64, 500k steps"
  python export_score_model.py --from factory --factory mynet:build --time-input sigma \
      --output noise --sigma-min 0.01 --sigma-max 50 --channels 1 --height 64 --width 64 \
      --out model.onnx
  scorelens inspect model.onnx --lens lens.json

Needs torch and onnx (and onnxscript for torch's default exporter); with ``--check`` and
onnxruntime installed it also compares the ONNX model with the PyTorch wrapper on random
inputs.
"""

import argparse
import importlib
import math
import os
import sys
import tempfile

import torch

TIME_INPUTS = ("t", "sigma", "log-sigma")
OUTPUTS = ("score", "noise", "sigma-score")


class ContractWrapper(torch.nn.Module):
    """Wraps a network into the contract: forward(x, t) -> score."""

    def __init__(self, net, sigma_min, sigma_max, time_input="t", output="score", call="x,t"):
        super().__init__()
        if time_input not in TIME_INPUTS:
            raise ValueError(f"time input {time_input!r}: want one of {TIME_INPUTS}")
        if output not in OUTPUTS:
            raise ValueError(f"output {output!r}: want one of {OUTPUTS}")
        if call not in ("x,t", "t,x"):
            raise ValueError(f"call {call!r}: want x,t or t,x")
        if not (0 < sigma_min < sigma_max):
            raise ValueError(f"sigma range [{sigma_min}, {sigma_max}] is not 0 < min < max")
        self.net = net
        self.sigma_min = float(sigma_min)
        self.log_ratio = math.log(sigma_max / sigma_min)
        self.time_input, self.output, self.call = time_input, output, call

    def forward(self, x, t):
        sigma = self.sigma_min * torch.exp(t * self.log_ratio)  # [B]
        if self.time_input == "t":
            tin = t
        elif self.time_input == "sigma":
            tin = sigma
        else:
            tin = torch.log(sigma)
        out = self.net(x, tin) if self.call == "x,t" else self.net(tin, x)
        s4 = sigma.reshape(-1, *([1] * (x.dim() - 1)))
        if self.output == "noise":
            return -out / s4
        if self.output == "sigma-score":
            return out / s4
        return out


class _ScoreModelsScore(torch.nn.Module):
    """score_models' ScoreModel.score(t, x) as a module taking (x, t)."""

    def __init__(self, score_model):
        super().__init__()
        self.sm = score_model
        self.model = score_model.model

    def forward(self, x, t):
        return self.sm.score(t, x)


def load_score_models(checkpoint):
    from score_models import ScoreModel  # noqa: PLC0415

    sm = ScoreModel(checkpoints_directory=checkpoint)
    sde = sm.sde
    conv = dict(sigma_min=float(sde.sigma_min), sigma_max=float(sde.sigma_max), time_input="t", output="score", call="x,t")
    channels = getattr(sm.model, "channels", None)
    return _ScoreModelsScore(sm).eval(), conv, channels


def load_score_sde(config_path, checkpoint):
    spec = importlib.util.spec_from_file_location("scorelens_score_sde_config", config_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    config = mod.get_config()
    config.device = torch.device("cpu")
    from models import ncsnpp, ncsnv2, ddpm  # noqa: F401,PLC0415  (register the architectures)
    from models import utils as mutils  # noqa: PLC0415
    from models.ema import ExponentialMovingAverage  # noqa: PLC0415

    net = mutils.create_model(config)
    ema = ExponentialMovingAverage(net.parameters(), decay=config.model.ema_rate)
    state = torch.load(checkpoint, map_location="cpu")
    net.load_state_dict(state["model"], strict=False)
    ema.load_state_dict(state["ema"])
    ema.copy_to(net.parameters())
    if isinstance(net, torch.nn.DataParallel):
        net = net.module
    if config.training.sde.lower() != "vesde":
        raise SystemExit(f"export: the checkpoint's SDE is {config.training.sde}; scorelens samples the VE SDE only")
    output = "score" if getattr(config.model, "scale_by_sigma", False) else "sigma-score"
    conv = dict(sigma_min=float(config.model.sigma_min), sigma_max=float(config.model.sigma_max),
                time_input="sigma", output=output, call="x,t")
    if getattr(config.data, "centered", False):
        print("export: warning: the model was trained on data centred to [-1, 1]; scorelens feeds "
              "x/data_scale without shifting", file=sys.stderr)
    return net.eval(), conv, config.data.num_channels


def load_factory(spec):
    if ":" not in spec:
        raise SystemExit(f"export: --factory {spec!r}: want package.module:function")
    modname, fn = spec.split(":", 1)
    return getattr(importlib.import_module(modname), fn)().eval()


def export(wrapper, path, *, channels, height, width, sigma_min, sigma_max, data_scale=1.0,
           training="", opset=17, legacy=False, time_input=None, output=None):
    """Exports wrapper (forward(x, t) -> score) to path with the contract's names, dynamic
    batch axis and metadata, and checks the result with onnx.checker."""
    import onnx  # noqa: PLC0415

    wrapper = wrapper.eval()
    x = torch.randn(2, channels, height, width)
    t = torch.rand(2)
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        with torch.no_grad():
            if legacy:
                torch.onnx.export(wrapper, (x, t), raw, dynamo=False, input_names=["x", "t"],
                                  output_names=["score"], opset_version=opset,
                                  dynamic_axes={"x": {0: "batch"}, "t": {0: "batch"}, "score": {0: "batch"}})
            else:
                batch = torch.export.Dim("batch", min=1, max=4096)
                torch.onnx.export(wrapper, (x, t), raw, dynamo=True, input_names=["x", "t"],
                                  output_names=["score"], opset_version=opset, external_data=False,
                                  dynamic_shapes={"x": {0: batch}, "t": {0: batch}})
        model = onnx.load(raw)
    meta = {
        "scorelens.sde": "ve",
        "scorelens.sigma_min": repr(float(sigma_min)),
        "scorelens.sigma_max": repr(float(sigma_max)),
        "scorelens.channels": str(channels),
        "scorelens.height": str(height),
        "scorelens.width": str(width),
        "scorelens.data_scale": repr(float(data_scale)),
        "scorelens.training": " ".join(training.split()) or "unknown",
    }
    del model.metadata_props[:]
    for k, v in sorted(meta.items()):
        model.metadata_props.add(key=k, value=v)
    model.producer_name = model.producer_name or "pytorch"
    onnx.checker.check_model(model, full_check=True)
    tmp_path = path + ".tmp"
    onnx.save(model, tmp_path)
    os.replace(tmp_path, path)
    return model


def check(wrapper, path, channels, height, width, sigma_min, sigma_max, tol=1e-4):
    """Compares the ONNX model under onnxruntime with the wrapper on random inputs at
    batch sizes 1 and 3; returns the worst relative difference."""
    import numpy as np  # noqa: PLC0415
    import onnxruntime as ort  # noqa: PLC0415

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    worst = 0.0
    gen = torch.Generator().manual_seed(0)
    for b in (1, 3):
        t = torch.rand(b, generator=gen)
        sigma = sigma_min * (sigma_max / sigma_min) ** t
        x = torch.randn(b, channels, height, width, generator=gen) * sigma.reshape(-1, 1, 1, 1)
        with torch.no_grad():
            want = wrapper(x, t).numpy()
        got = sess.run(["score"], {"x": x.numpy(), "t": t.numpy()})[0]
        worst = max(worst, float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) + 1e-30)))
    if worst > tol:
        raise SystemExit(f"export: ONNX and PyTorch differ by {worst:.3g} (relative to the largest score) > {tol}")
    return worst


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--from", dest="source", choices=("score_models", "score_sde", "factory"), required=True)
    p.add_argument("--checkpoint", help="checkpoint directory (score_models) or file (score_sde)")
    p.add_argument("--config", help="score_sde_pytorch config file (score_sde)")
    p.add_argument("--factory", help="package.module:function returning the network (factory)")
    p.add_argument("--out", required=True, help="ONNX file to write")
    p.add_argument("--channels", type=int, help="image channels (default: from the model where it says)")
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--sigma-min", type=float, help="σmin of the network's VE SDE (model units)")
    p.add_argument("--sigma-max", type=float, help="σmax of the network's VE SDE (model units)")
    p.add_argument("--time-input", choices=TIME_INPUTS, help="what the network's time argument is")
    p.add_argument("--output", choices=OUTPUTS, help="what the network returns")
    p.add_argument("--call", choices=("x,t", "t,x"), help="argument order of the network")
    p.add_argument("--data-scale", type=float, default=1.0, help="physical surface brightness per model unit")
    p.add_argument("--training", default="", help="one line: data set, steps, config")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--legacy", action="store_true", help="use torch's TorchScript exporter (dynamo=False)")
    p.add_argument("--check", action="store_true", help="compare with onnxruntime on random inputs")
    a = p.parse_args(argv)

    channels = None
    if a.source == "score_models":
        if not a.checkpoint:
            p.error("--from score_models needs --checkpoint")
        net, conv, channels = load_score_models(a.checkpoint)
    elif a.source == "score_sde":
        if not (a.checkpoint and a.config):
            p.error("--from score_sde needs --config and --checkpoint")
        net, conv, channels = load_score_sde(a.config, a.checkpoint)
    else:
        if not a.factory:
            p.error("--from factory needs --factory")
        net, conv = load_factory(a.factory), dict(time_input="t", output="score", call="x,t")
    for key in ("sigma_min", "sigma_max", "time_input", "output", "call"):
        v = getattr(a, key)
        if v is not None:
            conv[key] = v
    if "sigma_min" not in conv or "sigma_max" not in conv:
        p.error("the σ range is unknown: pass --sigma-min and --sigma-max")
    channels = a.channels or channels
    if not channels:
        p.error("the number of channels is unknown: pass --channels")

    wrapper = ContractWrapper(net, **conv)
    export(wrapper, a.out, channels=channels, height=a.height, width=a.width, sigma_min=conv["sigma_min"],
           sigma_max=conv["sigma_max"], data_scale=a.data_scale, training=a.training, opset=a.opset, legacy=a.legacy)
    msg = f"wrote {a.out}: {channels}×{a.height}×{a.width}, σ ∈ [{conv['sigma_min']}, {conv['sigma_max']}]"
    if a.check:
        worst = check(wrapper, a.out, channels, a.height, a.width, conv["sigma_min"], conv["sigma_max"])
        msg += f", onnxruntime matches PyTorch to {worst:.2g}"
    print(msg)


if __name__ == "__main__":
    main()
