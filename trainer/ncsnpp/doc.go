// Package ncsnpp describes the NCSN++ score network of Song et al. 2021 (score_sde_pytorch,
// models/ncsnpp.py with the VE "ncsnpp_continuous" configuration) once, as data: the
// hyper-parameters (Config, JSON-serialisable, with the presets tiny, small and paper) and a
// declarative layer graph (Graph: named parameters with shapes and initialisers, and a list
// of operations on named tensors). The Gorgonia trainer (scorelens/trainer/net) and the ONNX
// exporter both walk this one description; nothing about the architecture is written twice.
//
// The network maps x [B, C, H, W] (model units) and the diffusion time t [B] to the score
// s_θ(x, t) = h(x, log σ(t))/σ(t), σ(t) = σmin·(σmax/σmin)^t (SPEC §6): the time enters as
// Gaussian Fourier features (scale 16) of log σ, as in the reference's continuous VE models.
// Tensor shapes in the description are per sample (the batch axis is implicit).
//
// Differences from the reference, all deliberate: no dropout (the VE configurations at
// 256×256 train with dropout 0), and the input is used as it is (data.centered = True),
// the scaling of pixel values being the data set's business.
//
// One addition, off by default (Config.OffsetHead): a small branch that corrects the
// uniform level of the denoised image x + σ·h, which the U-Net's GroupNorms hide from it
// (Graph's offsetHead says how and why). It starts at zero, so it can be added to a trained
// network and fine-tuned.
package ncsnpp
