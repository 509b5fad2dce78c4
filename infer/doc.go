// Package infer draws posterior samples of a pixelated source behind a strong
// gravitational lens with a score-based prior (Adam et al. 2022, sections 2.1–2.2 and
// appendices A–B; SPEC §5–§7).
//
// The pieces, from the bottom up:
//
//   - VESDE: the variance-exploding SDE, σ(t) = σmin·(σmax/σmin)^t, g(t)² = dσ²/dt, with
//     p₁ = N(0, σmax² I); StepProbability and StepsFor implement "technique 2" of Song &
//     Ermon (paper eq. 22) for choosing the number of steps; SigmaMaxFromData implements the
//     paper's rule for σmax (the largest Euclidean distance between two training images).
//   - ScoreModel: the one interface every prior score model implements (batched, float32
//     at the boundary, returning the score ∇x log p_t(x) itself). WhitePrior and GRFPrior
//     are analytic Gaussian priors with exact scores at every t; ParsePrior reads the CLI
//     strings "white:sigma=S[,mean=M]" and "grf:sigma=S,index=α[,mean=M][,scale=ℓ]".
//   - Likelihood: the convolved likelihood score ∇x log p_t(y | x) by name: "paper"
//     (eq. 19, (Σy + σ(t)² I)), "diag" (Σy + σ(t)² diag(AAᵀ)) and "full" (eq. 12,
//     Σy + σ(t)² AAᵀ by Jacobi-preconditioned conjugate gradients, warm-started per sample).
//   - Predictors ("em", "rd", and "heun": Heun's method on the probability-flow ODE with
//     Karras et al.'s churn, two score evaluations per step) and correctors ("none",
//     "langevin") from registries, and Solve, which integrates the reverse SDE for a batch
//     of samples, each with its own random stream that depends only on (seed, sample index).
//   - Run: the whole `scorelens sample` command (read the lens and the observation, sample,
//     write the posterior file of SPEC §5 atomically after every batch). The prior is an
//     analytic spec (RunOptions.Prior) or any ScoreModel (RunOptions.Model, a ModelPrior
//     carrying its name, SHA-256 and σ defaults: where the ONNX model plugs in). Resume
//     continues a file of the same run; a file of another run is never overwritten without
//     Force; closing RunOptions.Stop finishes the batch in flight, cancelling ctx abandons it.
//   - Merge: the shard files of one run into the file an unsharded run writes
//     (`scorelens merge`), refusing mixed, duplicated, missing and incomplete shards.
//
// The posterior file (SPEC §5) holds SAMPLES (float32, ordered by sample index), MEAN, STD,
// PRED, RESID, CHI2NU, INDEX and a table INPUTS (ROLE, PATH, SHA256 of the lens file and the
// observation: what Merge reads to recompute PRED and RESID). MEAN, STD and CHI2NU are
// computed from the float32 values SAMPLES stores, so a file's summaries are a function of
// its SAMPLES alone: written in one go, resumed or merged, the bytes are the same. The
// header's FINGERPR is the SHA-256 of every setting that determines the samples except
// the shard and the batch size (samples do not depend on either).
//
// Units: source and image pixels are surface brightness in the observation's units; σ(t),
// σmin, σmax and the noise σ are in the same units; diffusion time t is dimensionless in
// [0, 1]. Everything is float64 except the ScoreModel boundary.
package infer
