#!/usr/bin/env python3
"""Reference deflections for lens/testdata/sie_shear_lenstronomy.json.

Computes SIE + external shear deflections with lenstronomy (an implementation independent
of scorelens) in the conventions of SPEC §3, and checks on the way that the SIE
normalisation is SPEC's: kappa = 1/2 on the ellipse q*x'^2 + y'^2/q = theta_E^2.

Usage (in a throwaway virtual environment, outside the repository):
    python3 -m venv /tmp/lensvenv && /tmp/lensvenv/bin/pip install lenstronomy
    /tmp/lensvenv/bin/python scripts/lenstronomy_golden.py > lens/testdata/sie_shear_lenstronomy.json

SPEC's SIE is {theta_e, q, phi (degrees CCW from +x), x0, y0}; lenstronomy's "SIE" takes
theta_E and the ellipticity components e1 = (1-q)/(1+q) cos 2phi, e2 = (1-q)/(1+q) sin 2phi
(phi in radians), with kappa = theta_E / (2 sqrt(q x'^2 + y'^2/q)). Its shear ("SHEAR",
gamma1, gamma2, ra_0, dec_0) is alpha_x = g1 dx + g2 dy, alpha_y = g2 dx - g1 dy.
"""
import json
import sys

import numpy as np
import lenstronomy
from lenstronomy.LensModel.lens_model import LensModel


def spec_to_lenstronomy(comp):
    if comp["type"] == "sie":
        q, phi = comp["q"], np.deg2rad(comp["phi"])
        e = (1 - q) / (1 + q)
        return "SIE", {"theta_E": comp["theta_e"], "e1": e * np.cos(2 * phi),
                       "e2": e * np.sin(2 * phi),
                       "center_x": comp.get("x0", 0.0), "center_y": comp.get("y0", 0.0)}
    if comp["type"] == "shear":
        return "SHEAR", {"gamma1": comp["gamma1"], "gamma2": comp["gamma2"],
                         "ra_0": comp.get("x0", 0.0), "dec_0": comp.get("y0", 0.0)}
    raise ValueError(comp["type"])


def check_kappa_half(comp):
    """kappa = 1/2 on the theta_E ellipse of SPEC's SIE.

    kappa = div(alpha)/2 from central differences (step h = 1e-4 arcsec, truncation error
    ~ h^2 * alpha''' ~ 1e-8) of lenstronomy's analytic deflection; its own hessian() is a
    numerical derivative good to only ~1e-6."""
    lm = LensModel(["SIE"])
    _, kw = spec_to_lenstronomy(comp)
    q, phi, te = comp["q"], np.deg2rad(comp["phi"]), comp["theta_e"]
    t = np.linspace(0, 2 * np.pi, 37)[:-1]
    xp, yp = te * np.cos(t) / np.sqrt(q), te * np.sin(t) * np.sqrt(q)  # q x'^2 + y'^2/q = te^2
    x = comp.get("x0", 0.0) + np.cos(phi) * xp - np.sin(phi) * yp
    y = comp.get("y0", 0.0) + np.sin(phi) * xp + np.cos(phi) * yp
    h = 1e-4
    axp, _ = lm.alpha(x + h, y, [kw])
    axm, _ = lm.alpha(x - h, y, [kw])
    _, ayp = lm.alpha(x, y + h, [kw])
    _, aym = lm.alpha(x, y - h, [kw])
    kappa = ((axp - axm) + (ayp - aym)) / (4 * h)
    err = np.max(np.abs(kappa - 0.5))
    sys.stderr.write(f"kappa on the theta_E ellipse of {comp}: max |kappa - 1/2| = {err:.2e}\n")
    if err > 1e-7:
        sys.exit(f"normalisation check failed for {comp}: max |kappa - 1/2| = {err}")
    return err


CASES = [
    [{"type": "sie", "theta_e": 1.0, "q": 1.0, "phi": 0.0, "x0": 0.0, "y0": 0.0}],
    [{"type": "sie", "theta_e": 1.2, "q": 0.75, "phi": 30.0, "x0": 0.05, "y0": -0.02}],
    [{"type": "sie", "theta_e": 1.2, "q": 0.75, "phi": 30.0, "x0": 0.05, "y0": -0.02},
     {"type": "shear", "gamma1": 0.03, "gamma2": -0.01}],
    [{"type": "sie", "theta_e": 0.8, "q": 0.4, "phi": -65.0, "x0": -0.3, "y0": 0.2},
     {"type": "shear", "gamma1": -0.05, "gamma2": 0.07, "x0": 0.1, "y0": -0.1}],
    [{"type": "sie", "theta_e": 2.0, "q": 0.999, "phi": 120.0, "x0": 0.0, "y0": 0.5}],
    [{"type": "sie", "theta_e": 1.5, "q": 0.2, "phi": 90.0, "x0": 0.0, "y0": 0.0}],
    [{"type": "shear", "gamma1": 0.1, "gamma2": 0.05}],
]


def main():
    rng = np.random.default_rng(20220705)
    pts = rng.uniform(-3, 3, size=(40, 2))
    # a few on the axes and close to (but not at) the centre
    extra = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [0.3, 0.01],
                      [2.5, -2.5], [0.07, -0.04]])
    pts = np.vstack([pts, extra])
    out = {"generator": f"scripts/lenstronomy_golden.py with lenstronomy {lenstronomy.__version__}, numpy {np.__version__}",
           "units": "arcsec; phi in degrees CCW from +x",
           "cases": []}
    for comps in CASES:
        names, kws = zip(*[spec_to_lenstronomy(c) for c in comps])
        for c in comps:
            if c["type"] == "sie":
                check_kappa_half(c)
        lm = LensModel(list(names))
        ax, ay = lm.alpha(pts[:, 0], pts[:, 1], list(kws))
        out["cases"].append({"lens": comps,
                             "points": [[float(x), float(y), float(a), float(b)]
                                        for (x, y), a, b in zip(pts, ax, ay)]})
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
