// Package ort runs score models in the ONNX format with ONNX Runtime (through
// github.com/yalue/onnxruntime_go) and checks them against the score-model contract of
// SPEC §6.
//
// The contract: inputs x float32 [B, C, H, W] and t float32 [B] (the diffusion time in
// [0, 1]); output score float32 [B, C, H, W], the score ∇x log p_t(x) itself; dynamic
// batch axis; metadata_props scorelens.sde (ve), scorelens.sigma_min, scorelens.sigma_max
// (the network's σ range, in model units), scorelens.channels/height/width,
// scorelens.data_scale (physical = data_scale × model units) and scorelens.training.
// Models made elsewhere follow other conventions; Options takes them (the flags
// --time-input t|sigma|log-sigma, --output score|noise|sigma-score, --input-name,
// --time-name, --output-name, --sigma-min, --sigma-max), and the optional metadata keys
// scorelens.time_input and scorelens.output carry them inside a model. Metadata, where
// present, is the default; options override it.
//
// Open validates a model and returns a Model, which implements infer.ScoreModel: it takes
// physical images and the diffusion times of the sampling SDE, and whatever the network's
// conventions returns the score in physical units:
//
//	σ = SigmaMin·(SigmaMax/SigmaMin)^t / data_scale             (model units)
//	network input: x / data_scale and t' = ln(σ/σmin_net)/ln(σmax_net/σmin_net), σ or ln σ
//	score = out, −out/σ (noise) or out/σ (sigma-score), divided by data_scale
//
// where SigmaMin/SigmaMax are the sampling range in physical units (options, else
// data_scale × the metadata's) and σmin_net/σmax_net the network's own range (the
// metadata's); when they agree, t' = t exactly.
//
// Inspect validates a model and reports its inputs, outputs, metadata, parameter count,
// FLOPs per forward pass at batch 1 and the conventions the sampler will use, and runs it
// once when the runtime library is available.
//
// The runtime: the shared library is found by FindLibrary ($ORT_LIB, the repository's
// .ort/lib next to the executable or above the working directory, else the system's) and
// loaded once per process (Init). Each Model holds one session, reused for every call,
// with input and output tensors allocated once per batch size. Options.Device "cuda[:N]"
// adds the CUDA execution provider; the library must be a CUDA build (the onnxruntime-gpu
// wheel's), or Open says so. The CUDA provider installs signal handlers without
// SA_ONSTACK, which would make the next signal (Ctrl-C) crash the Go runtime; every call
// that may initialise CUDA (provider set-up, session creation, the first forward pass at
// each batch size) restores Go's handlers afterwards. Cancelling the context of Score terminates the running
// forward pass through RunOptions.Terminate.
package ort
