// Package train trains the NCSN++ score model (scorelens/trainer/ncsnpp, run by
// scorelens/trainer/net) by denoising score matching under the VE SDE, eq. 3 of Adam et al.
// 2022: for an image x, t ~ U(ε, 1) (ε = 1e-5), z ~ N(0, I) and x̃ = x + σ(t)·z, the loss is
// ½‖σ(t)·s_θ(x̃, t) + z‖² summed over pixels and averaged over the batch (λ(t) = σ(t)², the
// reference's reduce_mean=False).
//
// Optimiser (score_sde_pytorch's optimization_manager): Adam (lr 2e-4, β (0.9, 0.999), ε
// 1e-8) with the learning rate ramped linearly over the first Warmup steps (lr·min(1,
// (k+1)/Warmup) at the k-th update, counted from 0, so that the first update is not
// wasted), gradients clipped to a global norm of 1, and an exponential moving average of
// the weights with rate 0.999 warmed up as the reference's ExponentialMovingAverage with
// num_updates (rate min(0.999, (1+n)/(10+n)) at the n-th update). The EMA weights are the
// ones to sample with and to export.
//
// Loss weighting (HParams.LossWeight β, LossBlock b; `--loss-weight`, `--loss-block`): the
// squared norm of the loss becomes ‖r‖² + β·Σ_tiles (Σ_tile r)²/b² for r = σ·s_θ + z and
// b×b tiles, the norm of I + β·P with P the projection onto tile-constant images. The
// plain DSM loss barely sees errors in an image's mean levels: a uniform background error δ
// at noise σ costs ½·npix·(δ/σ)², 0.3 of a loss near 28 for δ = 5e-4 at σ = 0.04
// on 64×64 stamps, so a trained network keeps most of a uniform offset of its input (95% at
// σ = 0.001 for the shipped prior), and prior samples carry faint uniform backgrounds.
// Since every positive-definite weighting has the same minimiser, the true score, β only
// shifts the network's effort towards those levels. The loss log shows the plain loss.
//
// Low-noise experts (HParams.SigmaTrainMax, `--train-sigma-max`): t ~ U(ε, t(σ*)) trains
// the network only on noise levels σ ≤ σ*, so that every step goes where a galaxy's fine
// structure (knots, arms, the steepness of its core) is decided, which a network of the
// whole range learns last. Its scores above σ* are untrained: the export says so
// (scorelens.trained_sigma_max), the sampler refuses it alone, and scorelens combine joins it
// to a model of the whole range below a switch σ ≤ σ* (export.Combine; eDiff-I's expert
// denoisers, Balaji et al. 2022).
//
// Noise scales: σmax is the largest Euclidean distance between two training images (the
// paper's rule, §3, infer.SigmaMaxFromData) unless given; σmin defaults to 0.01, chosen
// for 64×64 images normalised to a peak of about 1 (the noise then sits well below the
// faintest structure worth modelling, about 1% of the peak, the σN of the paper's figure 1
// setting); the paper used 1e-4 for its own data.
//
// Data order and randomness: each epoch visits every image once in a permutation drawn from
// (seed, epoch); t, z and the optional dihedral augmentation (random flips and right-angle
// rotations, the 8 symmetries of the square) come from one PCG source whose state is saved
// in every checkpoint. Every kernel sums in a fixed order, so a run stopped and resumed
// repeats an unbroken one bit for bit (for the same build and BLAS).
//
// Fine-tuning (Options.InitFrom, `scorelens train --init-from`): a new run folder starts
// from another run's checkpoint (weights, EMA, Adam moments, step count, random state), keeps
// its network and σ range, and takes its hyper-parameters except those given, typically a
// lower learning rate for a last stretch of training or another data set. A fine-tuning run
// that changes nothing repeats the source run's continuation bit for bit. Its checkpoints and
// hparams.json name the source (init_from: path, SHA-256 of the file, step, data set).
// The source may also be an ONNX model written by scorelens export (the shipped prior, or
// one trained elsewhere with this trainer): its configuration comes from the metadata and
// its exported (EMA) weights start both the weights and their EMA; it holds no optimiser
// state, step count or random state, so the Adam moments start at zero, the steps and the
// warm-up count from 0 and the seed starts the random source (init_from kind "onnx").
//
// A run folder holds checkpoint.ckpt (the latest checkpoint), hparams.json (RunInfo: the
// model configuration, training hyper-parameters, data set identity and how σmax was
// chosen; rewritten with every checkpoint) and loss.csv (columns step, time_s, loss, lr,
// grad_norm, ema_loss: one row per update, the loss of that update's batch, the learning
// rate it used, the gradient norm before clipping, and a 0.99 moving average of the loss).
//
// # Checkpoint format
//
// One file: magic "SLCKPT\x00\x01", a uint64 little-endian header length, a JSON header
// (format, software version, the ncsnpp.Config, its SHA-256 (ConfigHash), hyper-parameters,
// data set identity with the SHA-256 of the data file, step, elapsed time, the PCG state and
// a table of tensors with name, kind, shape, byte offset and count), the tensors as
// little-endian float32 arrays, and the SHA-256 of everything before it. Kinds: "weight" and
// "ema" for every parameter of the network, "adam_m" and "adam_v" for the trainable ones.
// Checkpoints are written atomically (temporary file, fsync, rename).
//
// Readers (the ONNX exporter) call LoadCheckpoint(path), which verifies the checksum and
// that the tensors are exactly those of the network its Config describes, then
// ncsnpp.Build(ck.Config) for the graph and ck.Values(graph, KindEMA) for the EMA weights in
// graph.Params order (or ck.EMA[name]).
package train
