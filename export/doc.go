// Package export turns a training checkpoint (scorelens/trainer/train) into an ONNX score
// model that follows the contract of SPEC §6: inputs x float32 [B, C, H, W] and t float32
// [B] (the diffusion time in [0, 1]), output score float32 [B, C, H, W], the score
// ∇x log p_t(x) itself, a dynamic batch axis, opset 17 and standard operators only, and
// the metadata_props scorelens.sde, scorelens.sigma_min, scorelens.sigma_max,
// scorelens.channels, scorelens.height, scorelens.width, scorelens.data_scale and
// scorelens.training.
//
// The graph is walked from the same declarative description the trainer runs
// (scorelens/trainer/ncsnpp.Build of the checkpoint's configuration): one emitter per
// operation kind of the description, nothing about the architecture written a second
// time. The emitters reproduce the trainer's kernels (scorelens/trainer/kernels):
//
//	log_sigma    ln σ(t) = ln σmin + t·ln(σmax/σmin), in float64 then rounded to float32
//	             (as the trainer), so σ(t) = σmin·(σmax/σmin)^t is computed in the graph
//	fourier      [sin(2π·l·W), cos(2π·l·W)]: the phase in float64 (it reaches ~10³ rad,
//	             where float32 would lose 1e-4 rad), reduced to [−π, π] in float64, then
//	             Sin and Cos in float32 (ONNX Runtime has no float64 Cos)
//	dense        Gemm with transB (x·Wᵀ + b)
//	silu         x·Sigmoid(x)
//	conv         Conv, stride 1, zero pads (k−1)/2
//	group_norm   Reshape [B, G, −1] → InstanceNormalization (unit scale, zero bias, the
//	             description's eps: biased variance, eps inside the square root) → Reshape
//	             [B, C, H, W] → ·γ + β (GroupNormalization is opset 18)
//	channel_bias h + Unsqueeze(d, [2, 3])
//	add_scale    (a + b)·s
//	fir_up       depthwise ConvTranspose, stride 2, kernel gain·outer(k, k)/Σ(k)² with gain
//	             4, pads (K−1−p0, K−2−p1) for upfirdn2d's (p0, p1) = ((p+1)/2+1, p/2),
//	             p = K−2: score_sde's upsample_2d
//	fir_down     depthwise Conv, stride 2, kernel outer(k, k)/Σ(k)² (flipped), pads (p0, p1)
//	             = ((p+1)/2, p/2): downsample_2d
//	attention    Reshape [B, 3, C, N] → Gather q, k, v → Softmax(qᵀk/√C) over keys → v·Pᵀ
//	             → Reshape
//	concat       Concat on the channel axis
//	div_exp      h·exp(−l), exp in float64 rounded to float32 (as the trainer); on [C],
//	             Unsqueeze(s, [1])
//	scale        x·s
//	mul          a·b
//	pixel_bias   h + p, p [C, H, W] broadcast over the batch
//	soft_pool    Reshape a and x to [B, C, −1] → Softmax(a) over the pixels → ·x →
//	             ReduceSum over the pixels (the trainer's softmax is in float64)
//
// The EMA weights are exported unless Options.Raw asks for the raw ones. A checkpoint of a
// low-noise expert (trained on σ ≤ σ* only) is exported with metadata
// scorelens.trained_sigma_max = σ*, and Combine joins such an expert to a model of the whole
// range: one ONNX model whose If nodes run the expert below a switch σ and the base model
// above, with both models' weights stored once. An optional band above the switch mixes
// the two scores, w·expert + (1 − w)·base: an ensemble for w < 1, autoguidance (Karras et
// al. 2024, the base as the weaker model) for w > 1.
//
// data_scale (physical = data_scale × model units): the trainer records the data set's
// normalisation (DatasetID.Norm). With "none", or a cube without a NORM key, the images
// were used as they are and data_scale is 1. With per-image "peak" or "flux" normalisation
// every training image had its own factor, so no single factor converts model units to
// physical ones: the model's units are then those of a source normalised to a peak (or a
// total flux) of 1, which are the units of the built-in sources and of the SPEC lens, and
// data_scale is again 1 unless Options.DataScale gives the factor of the data to be
// modelled.
package export
