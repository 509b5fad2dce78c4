"""Small PyTorch score networks in conventions other than the contract's, used to test
export_score_model.py and the Go runtime side (testdata/models/, made by make_testdata.py).

GaussianEps: the exact ε-prediction of a Gaussian prior N(m, s² I) fed σ:
    ε = −σ·score = σ·(x − m)/(s² + σ²)          (--time-input sigma --output noise)
TinyNet: a small convolutional network fed ln σ and returning σ·score
    (--time-input log-sigma --output sigma-score), with the operators of NCSN++-like
    networks: Conv2d, GroupNorm, SiLU, Linear, a Fourier embedding of the time input.
"""

import math

import torch

GAUSS_MEAN, GAUSS_S = 0.3, 0.5


class GaussianEps(torch.nn.Module):
    def __init__(self, mean=GAUSS_MEAN, s=GAUSS_S):
        super().__init__()
        self.mean, self.s2 = mean, s * s

    def forward(self, x, sigma):
        s4 = sigma.reshape(-1, 1, 1, 1)
        return s4 * (x - self.mean) / (self.s2 + s4 * s4)


class TinyNet(torch.nn.Module):
    def __init__(self, channels=1, width=8, embed=8):
        super().__init__()
        self.register_buffer("freqs", torch.linspace(0.1, 2.0, embed // 2))
        self.embed = torch.nn.Linear(embed, width)
        self.conv_in = torch.nn.Conv2d(channels, width, 3, padding=1)
        self.norm = torch.nn.GroupNorm(2, width)
        self.conv_mid = torch.nn.Conv2d(width, width, 3, padding=1)
        self.conv_out = torch.nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x, log_sigma):
        e = log_sigma[:, None] * self.freqs[None, :] * 2 * math.pi
        e = torch.cat([torch.sin(e), torch.cos(e)], dim=1)
        h = self.conv_in(x) + self.embed(e)[:, :, None, None]
        h = torch.nn.functional.silu(self.norm(h))
        h = h + torch.nn.functional.silu(self.conv_mid(h))
        return self.conv_out(h)


def build_gaussian():
    return GaussianEps()


def build_tiny():
    torch.manual_seed(1234)
    return TinyNet()
