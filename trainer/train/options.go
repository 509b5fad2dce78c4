package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	"scorelens/trainer/ncsnpp"
)

// HParams are the training hyper-parameters, stored in every checkpoint and in
// hparams.json beside it.
type HParams struct {
	Batch    int     `json:"batch"`
	LR       float64 `json:"lr"`        // Adam learning rate after warm-up
	Beta1    float64 `json:"beta1"`     // Adam β1
	Beta2    float64 `json:"beta2"`     // Adam β2
	AdamEps  float64 `json:"adam_eps"`  // Adam ε
	Warmup   int     `json:"warmup"`    // steps of linear learning-rate warm-up (0: none; in Options, −1)
	GradClip float64 `json:"grad_clip"` // global gradient-norm clip (0: none; in Options, −1)
	EMADecay float64 `json:"ema_decay"` // EMA rate of the weights
	TimeEps  float64 `json:"time_eps"`  // t ~ U(TimeEps, 1)
	Seed     uint64  `json:"seed"`
	Augment  bool    `json:"augment"` // random flips and right-angle rotations (8-fold)
	// LossWeight β weights the DSM loss's norm as I + β·P, P the projection onto images
	// constant on LossBlock×LossBlock tiles, so that errors of the tiles' mean levels (an
	// image's background and flux) cost 1+β times more; the minimiser, the true score, is the
	// same for every β ≥ 0 (0: the plain loss; in Options, −1 for explicitly none).
	LossWeight float64 `json:"loss_weight,omitempty"`
	LossBlock  int     `json:"loss_block,omitempty"` // pixels; default 8 with a LossWeight
	// SigmaTrainMax restricts training to noise levels σ(t) ≤ SigmaTrainMax (t ~ U(TimeEps,
	// t(SigmaTrainMax))): a low-noise expert, which spends every step where the network has
	// to learn fine structure, and which export.Combine joins to a model of the whole range
	// (0: the whole range up to σmax; in Options, −1 for explicitly the whole range).
	SigmaTrainMax float64 `json:"sigma_train_max,omitempty"`
}

// DefaultLossBlock is the tile size of a loss weighting given without one.
const DefaultLossBlock = 8

// DefaultHParams returns the reference values (score_sde_pytorch's VE configurations):
// batch 16 (the reference trains at 64 on GPUs), Adam lr 2e-4, β (0.9, 0.999), ε 1e-8,
// 5000 warm-up steps, clip 1, EMA 0.999, t ~ U(1e-5, 1), seed 1, no augmentation.
func DefaultHParams() HParams {
	return HParams{Batch: 16, LR: 2e-4, Beta1: 0.9, Beta2: 0.999, AdamEps: 1e-8, Warmup: 5000,
		GradClip: 1, EMADecay: 0.999, TimeEps: 1e-5, Seed: 1}
}

// Validate reports the first bad value.
func (h HParams) Validate() error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case h.Batch < 1:
		return fmt.Errorf("batch %d < 1", h.Batch)
	case !(h.LR > 0) || bad(h.LR):
		return fmt.Errorf("learning rate must be positive, got %g", h.LR)
	case !(h.Beta1 >= 0 && h.Beta1 < 1) || !(h.Beta2 >= 0 && h.Beta2 < 1):
		return fmt.Errorf("adam betas must lie in [0, 1), got %g, %g", h.Beta1, h.Beta2)
	case !(h.AdamEps > 0) || bad(h.AdamEps):
		return fmt.Errorf("adam eps must be positive, got %g", h.AdamEps)
	case h.Warmup < 0:
		return fmt.Errorf("warm-up %d < 0", h.Warmup)
	case !(h.GradClip >= 0) || bad(h.GradClip):
		return fmt.Errorf("gradient clip must be ≥ 0, got %g", h.GradClip)
	case !(h.EMADecay >= 0 && h.EMADecay < 1):
		return fmt.Errorf("ema decay must lie in [0, 1), got %g", h.EMADecay)
	case !(h.TimeEps > 0 && h.TimeEps < 1):
		return fmt.Errorf("time eps must lie in (0, 1), got %g", h.TimeEps)
	case !(h.LossWeight >= 0) || bad(h.LossWeight):
		return fmt.Errorf("loss weight must be ≥ 0, got %g", h.LossWeight)
	case h.LossWeight > 0 && h.LossBlock < 1:
		return fmt.Errorf("loss block must be at least 1 pixel, got %d", h.LossBlock)
	case !(h.SigmaTrainMax >= 0) || bad(h.SigmaTrainMax):
		return fmt.Errorf("training σ limit must be ≥ 0, got %g", h.SigmaTrainMax)
	}
	return nil
}

// Options configure Run. Zero values take the defaults noted.
type Options struct {
	Data   string // FITS cube of training images (scorelens dataset); on resume, default the checkpoint's
	Out    string // run folder: checkpoint.ckpt, hparams.json, loss.csv
	Resume bool   // continue from Out/checkpoint.ckpt

	// InitFrom starts a new run in Out (fine-tuning) from the weights, EMA, optimiser
	// moments, step count and random state of another run's checkpoint. The network and σ
	// range are that checkpoint's; the data set (default the checkpoint's) may differ; zero
	// fields of HParams take the checkpoint's values, so only the ones given change.
	InitFrom string

	// OffsetHead gives the network the offset head (ncsnpp.Config.OffsetHead): for a new
	// run, on top of the preset or configuration; with InitFrom, added to the source's
	// network, its layers starting at zero (so the run starts from the source's function)
	// and everything else taken from the source.
	OffsetHead bool

	Preset     string         // ncsnpp preset (default "small"), unless Config or ConfigFile
	ConfigFile string         // ncsnpp configuration JSON (ncsnpp.Config, or a run's hparams.json)
	Config     *ncsnpp.Config // a configuration given directly (tests)
	SigmaMax   float64        // 0: the data set's largest pairwise distance (the paper's rule)
	SigmaMin   float64        // 0: the configuration's value (0.01 in the presets)

	// Training hyper-parameters; zero fields take DefaultHParams (on resume, the
	// checkpoint's, and a non-zero field that differs from it is an error).
	HParams HParams

	Steps     int64         // stop after this many updates in all (0: no limit)
	MaxTime   time.Duration // stop after this much wall time in this invocation (0: no limit)
	CkptEvery time.Duration // periodic checkpoints (0: DefaultCkptEvery)
	Threads   int           // worker goroutines (GOMAXPROCS) for the run (0: unchanged)
	Quiet     bool          // no progress display
	Version   string        // software version recorded in checkpoints

	// OnStep, when set, is called after every update with the new step count and the
	// step's loss (tests use it to interrupt a run).
	OnStep func(step int64, loss float64)
}

// mergeHParams fills zero fields of h from d (Seed 0 and Augment false count as unset;
// a negative Warmup, GradClip or LossWeight means none).
func mergeHParams(h, d HParams) HParams {
	if h.Batch == 0 {
		h.Batch = d.Batch
	}
	if h.LR == 0 {
		h.LR = d.LR
	}
	if h.Beta1 == 0 {
		h.Beta1 = d.Beta1
	}
	if h.Beta2 == 0 {
		h.Beta2 = d.Beta2
	}
	if h.AdamEps == 0 {
		h.AdamEps = d.AdamEps
	}
	switch {
	case h.Warmup == 0:
		h.Warmup = d.Warmup
	case h.Warmup < 0: // explicitly none
		h.Warmup = 0
	}
	switch {
	case h.GradClip == 0:
		h.GradClip = d.GradClip
	case h.GradClip < 0: // explicitly none
		h.GradClip = 0
	}
	if h.EMADecay == 0 {
		h.EMADecay = d.EMADecay
	}
	if h.TimeEps == 0 {
		h.TimeEps = d.TimeEps
	}
	if h.Seed == 0 {
		h.Seed = d.Seed
	}
	h.Augment = h.Augment || d.Augment
	switch {
	case h.LossWeight == 0:
		h.LossWeight = d.LossWeight
	case h.LossWeight < 0: // explicitly none
		h.LossWeight = 0
	}
	switch {
	case h.SigmaTrainMax == 0:
		h.SigmaTrainMax = d.SigmaTrainMax
	case h.SigmaTrainMax < 0: // explicitly the whole range
		h.SigmaTrainMax = 0
	}
	switch {
	case h.LossWeight == 0:
		h.LossBlock = 0
	case h.LossBlock == 0 && d.LossBlock > 0:
		h.LossBlock = d.LossBlock
	case h.LossBlock == 0:
		h.LossBlock = DefaultLossBlock
	}
	return h
}

// conflicts names the first non-zero field of given that differs from saved.
func conflicts(given, saved HParams) error {
	type f struct {
		name string
		g, s float64
	}
	for _, x := range []f{
		{"batch", float64(given.Batch), float64(saved.Batch)}, {"lr", given.LR, saved.LR},
		{"beta1", given.Beta1, saved.Beta1}, {"beta2", given.Beta2, saved.Beta2},
		{"adam eps", given.AdamEps, saved.AdamEps}, {"warmup", none(float64(given.Warmup)), float64(saved.Warmup)},
		{"grad clip", none(given.GradClip), saved.GradClip}, {"ema decay", given.EMADecay, saved.EMADecay},
		{"time eps", given.TimeEps, saved.TimeEps}, {"seed", float64(given.Seed), float64(saved.Seed)},
		{"loss weight", none(given.LossWeight), saved.LossWeight}, {"loss block", float64(given.LossBlock), float64(saved.LossBlock)},
		{"training σ limit", none(given.SigmaTrainMax), saved.SigmaTrainMax},
	} {
		if x.g != 0 && !math.IsNaN(x.g) && x.g != x.s {
			return fmt.Errorf("%s %g differs from the checkpoint's %g (a resumed run keeps its hyper-parameters)", x.name, x.g, x.s)
		}
	}
	if given.Augment && !saved.Augment {
		return fmt.Errorf("augmentation was off in the checkpoint's run (a resumed run keeps its hyper-parameters)")
	}
	return nil
}

// none maps the "explicitly none" value −1 of Warmup and GradClip to 0 for comparison
// (leaving 0, "not given", as NaN, which conflicts skips).
func none(v float64) float64 {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return math.NaN()
	}
	return v
}

// DefaultCkptEvery is the default interval between periodic checkpoints.
const DefaultCkptEvery = 10 * time.Minute

// RunInfo is hparams.json, written beside every checkpoint.
type RunInfo struct {
	Model        ncsnpp.Config `json:"model"`
	ConfigSHA256 string        `json:"config_sha256"`
	Training     HParams       `json:"training"`
	Dataset      DatasetID     `json:"dataset"`
	SigmaMaxRule string        `json:"sigma_max_rule"`
	Params       int           `json:"params"`
	Software     string        `json:"software,omitempty"`
	InitFrom     *InitSource   `json:"init_from,omitempty"`
}

// loadConfigFile reads an ncsnpp configuration, either bare (ncsnpp.Config JSON) or the
// "model" member of a run's hparams.json.
func loadConfigFile(path string) (ncsnpp.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ncsnpp.Config{}, fmt.Errorf("could not read configuration: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return ncsnpp.Config{}, fmt.Errorf("could not decode %q: %w", path, err)
	}
	if m, ok := probe["model"]; ok {
		b = m
	}
	var c ncsnpp.Config
	if err := json.Unmarshal(b, &c); err != nil {
		return ncsnpp.Config{}, fmt.Errorf("could not decode %q: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return ncsnpp.Config{}, fmt.Errorf("invalid configuration in %q: %w", path, err)
	}
	return c, nil
}
