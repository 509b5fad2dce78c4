// Package evaluate judges a score-model prior (issue 8's model card): Generate draws
// samples of the prior alone, the reverse VE SDE driven by the model's score from
// p₁ = N(0, σmax² I), into a data-set-style FITS cube that `scorelens galstats` compares
// with held-out galaxies; Evaluate builds a set of held-out synthetic lenses (random
// SIE + external shear, a held-out synthetic galaxy centred in the tangential caustic,
// noise 1% of the source peak), samples each posterior with the model and with an
// analytic Gaussian baseline prior under the same likelihood, steps and seed, and writes
// the table of reduced χ² and source-plane errors; DenoisingLoss measures the model as a
// denoiser of held-out images at each noise level (the training loss, for over-fitting, and
// errors of flux and background level), the same noise for every model so that two models
// compare image by image.
//
// Both are deterministic: prior sample i comes from infer.SampleRNG(seed, i), whatever
// the batch; lens i (its deflector, galaxy, placement and noise) from its own streams
// under the seeds. Files are written atomically and runs resume: Generate continues a
// cube of the same run, Evaluate skips the posterior files that are complete
// (infer.Run with Resume).
package evaluate
