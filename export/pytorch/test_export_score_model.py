"""Tests of export_score_model.py (run by hand: python -m pytest export/pytorch, with torch,
onnx, onnxscript and onnxruntime installed; skipped where they are not)."""

import math
import os
import sys
import tempfile
import unittest

try:
    import numpy as np
    import onnx
    import onnxruntime
    import torch
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"needs torch, onnx, onnxruntime: {e}")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_score_model as esm  # noqa: E402
import tiny_example as tiny  # noqa: E402


class ExportTest(unittest.TestCase):
    def export(self, wrapper, **kw):
        d = tempfile.mkdtemp()
        path = os.path.join(d, "m.onnx")
        model = esm.export(wrapper, path, **kw)
        return path, model

    def test_gaussian_every_convention(self):
        # The Gaussian's ε(x, σ) wrapped in the contract returns the exact score
        # −(x − m)/(s² + σ(t)²); float32, so 1e-5 relative.
        smin, smax = 0.01, 50.0
        w = esm.ContractWrapper(tiny.build_gaussian(), smin, smax, time_input="sigma", output="noise")
        path, model = self.export(w, channels=1, height=8, width=8, sigma_min=smin, sigma_max=smax)
        meta = {p.key: p.value for p in model.metadata_props}
        self.assertEqual(meta["scorelens.sde"], "ve")
        self.assertEqual(float(meta["scorelens.sigma_max"]), smax)
        self.assertEqual(meta["scorelens.height"], "8")
        self.assertEqual([i.name for i in model.graph.input], ["x", "t"])
        self.assertEqual(model.graph.output[0].name, "score")
        self.assertEqual(model.opset_import[0].version, 17)
        sess = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        for b in (1, 3):
            t = np.linspace(0, 1, b, dtype=np.float32)
            x = np.random.default_rng(b).normal(size=(b, 1, 8, 8)).astype(np.float32)
            got = sess.run(["score"], {"x": x, "t": t})[0]
            sigma = smin * (smax / smin) ** t.astype(np.float64)
            want = -(x - tiny.GAUSS_MEAN) / (tiny.GAUSS_S**2 + sigma.reshape(-1, 1, 1, 1) ** 2)
            np.testing.assert_allclose(got, want, rtol=1e-5)

    def test_tiny_matches_torch(self):
        w = esm.ContractWrapper(tiny.build_tiny(), 0.001, 10.0, time_input="log-sigma", output="sigma-score")
        path, _ = self.export(w, channels=1, height=16, width=16, sigma_min=0.001, sigma_max=10.0)
        self.assertLess(esm.check(w, path, 1, 16, 16, 0.001, 10.0), 1e-5)

    def test_bad_conventions(self):
        with self.assertRaises(ValueError):
            esm.ContractWrapper(tiny.build_gaussian(), 0.01, 50.0, output="eps")
        with self.assertRaises(ValueError):
            esm.ContractWrapper(tiny.build_gaussian(), 50.0, 0.01)


if __name__ == "__main__":
    unittest.main()
