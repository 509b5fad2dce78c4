package ncsnpp

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// Config holds the NCSN++ hyper-parameters (the names of score_sde_pytorch's config.model).
type Config struct {
	Preset          string    `json:"preset,omitempty"`
	Channels        int       `json:"channels"`          // image channels (bands)
	Size            int       `json:"size"`              // image height = width, pixels
	NF              int       `json:"nf"`                // base width
	ChMult          []int     `json:"ch_mult"`           // width multiplier per resolution level
	NumResBlocks    int       `json:"num_res_blocks"`    // residual blocks per level
	AttnResolutions []int     `json:"attn_resolutions"`  // resolutions (pixels a side) with attention
	FIRKernel       []float64 `json:"fir_kernel"`        // FIR resampling taps
	FourierScale    float64   `json:"fourier_scale"`     // std of the Fourier frequencies
	SkipRescale     bool      `json:"skip_rescale"`      // residual sums divided by √2
	InitScale       float64   `json:"init_scale"`        // scale of the zero-ish last convs (0 → 1e-10)
	Progressive     string    `json:"progressive"`       // "output_skip" or "none"
	ProgressiveIn   string    `json:"progressive_input"` // "input_skip" or "none"
	GroupNormEps    float64   `json:"group_norm_eps"`
	SigmaMin        float64   `json:"sigma_min"` // VE SDE σ(0)
	SigmaMax        float64   `json:"sigma_max"` // VE SDE σ(1)
	// OffsetHead adds a branch that corrects the uniform level of the denoised image (see
	// Build); configurations without it read and hash as before.
	OffsetHead bool `json:"offset_head,omitempty"`
}

// Preset returns a named configuration:
//
//   - "tiny": 16×16, nf 16, ch_mult (1,2,2), one block per level, attention at 8×8. For tests.
//   - "small": 64×64, nf 16, ch_mult (1,2,4,4), one block per level, attention at 16×16.
//     The shipped model, sized for two CPU cores: 1.24 M parameters and 0.99 GFLOP per
//     image per forward pass (Graph.ForwardFLOPs), so a training step at batch 16 costs
//     about 47 GFLOP, 1.5–2 s at the 25–35 GFLOP/s the kernels reach on these machines, and
//     10k steps take about five hours. Four levels (64→8 pixels) keep a receptive field
//     covering the whole image; the width doubles twice (16→64 channels) below the top
//     level, where convolutions are cheap, instead of paying for 32 channels at 64×64
//     (nf 32, ch_mult (1,2,2,2) costs 2.5 GFLOP per image).
//   - "paper": 256×256, nf 128, ch_mult (1,1,2,2,2,2,2), two blocks per level, attention at
//     16×16: the reference's 256×256 VE configuration used by Adam et al. 2022.
//
// All use the [1,3,3,1] FIR kernel, Fourier scale 16, skip rescaling, init_scale 0, the
// output_skip / input_skip pyramids, GroupNorm eps 1e-6, one channel and σ ∈ [0.01, 50]
// (σmax is normally replaced by the data set's value).
func Preset(name string) (Config, error) {
	c := Config{
		Preset: name, Channels: 1, FIRKernel: []float64{1, 3, 3, 1}, FourierScale: 16,
		SkipRescale: true, InitScale: 0, Progressive: "output_skip", ProgressiveIn: "input_skip",
		GroupNormEps: 1e-6, SigmaMin: 0.01, SigmaMax: 50,
	}
	switch name {
	case "tiny":
		c.Size, c.NF, c.ChMult, c.NumResBlocks, c.AttnResolutions = 16, 16, []int{1, 2, 2}, 1, []int{8}
	case "small":
		c.Size, c.NF, c.ChMult, c.NumResBlocks, c.AttnResolutions = 64, 16, []int{1, 2, 4, 4}, 1, []int{16}
	case "paper":
		c.Size, c.NF, c.ChMult, c.NumResBlocks, c.AttnResolutions = 256, 128, []int{1, 1, 2, 2, 2, 2, 2}, 2, []int{16}
	default:
		return Config{}, fmt.Errorf("unknown preset %q (want tiny, small or paper)", name)
	}
	return c, nil
}

// Validate reports the first inconsistency of c.
func (c Config) Validate() error {
	switch {
	case c.Channels < 1:
		return fmt.Errorf("channels %d < 1", c.Channels)
	case c.NF < 4 || c.NF%4 != 0:
		return fmt.Errorf("nf %d must be a positive multiple of 4", c.NF)
	case len(c.ChMult) == 0:
		return fmt.Errorf("ch_mult is empty")
	case c.NumResBlocks < 1:
		return fmt.Errorf("num_res_blocks %d < 1", c.NumResBlocks)
	case len(c.FIRKernel) < 2 || len(c.FIRKernel)%2 != 0:
		return fmt.Errorf("fir_kernel must have an even number (≥ 2) of taps")
	case c.Progressive != "output_skip" && c.Progressive != "none":
		return fmt.Errorf("progressive %q: want output_skip or none", c.Progressive)
	case c.ProgressiveIn != "input_skip" && c.ProgressiveIn != "none":
		return fmt.Errorf("progressive_input %q: want input_skip or none", c.ProgressiveIn)
	case !(c.SigmaMin > 0 && c.SigmaMax > c.SigmaMin):
		return fmt.Errorf("need 0 < sigma_min < sigma_max, got %g, %g", c.SigmaMin, c.SigmaMax)
	case !(c.GroupNormEps > 0):
		return fmt.Errorf("group_norm_eps must be positive")
	case c.FourierScale <= 0:
		return fmt.Errorf("fourier_scale must be positive")
	}
	if c.Size%(1<<(len(c.ChMult)-1)) != 0 {
		return fmt.Errorf("size %d is not divisible by 2^%d", c.Size, len(c.ChMult)-1)
	}
	for _, m := range c.ChMult {
		if m < 1 {
			return fmt.Errorf("ch_mult entries must be ≥ 1")
		}
	}
	for _, r := range c.AttnResolutions {
		if !slices.Contains(c.resolutions(), r) {
			return fmt.Errorf("attention resolution %d is not one of %v", r, c.resolutions())
		}
	}
	return nil
}

func (c Config) resolutions() []int {
	r := make([]int, len(c.ChMult))
	for i := range r {
		r[i] = c.Size >> i
	}
	return r
}

// Save writes c as indented JSON (atomically: temporary file, fsync, rename).
func (c Config) Save(name string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("could not encode hyper-parameters: %w", err)
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(dirOf(name), ".hparams-*")
	if err != nil {
		return fmt.Errorf("could not write %q: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		return fmt.Errorf("could not write %q: %w", name, err)
	}
	return nil
}

// Load reads and validates a configuration written by Save.
func Load(name string) (Config, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return Config{}, fmt.Errorf("could not read hyper-parameters: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("could not decode %q: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid hyper-parameters in %q: %w", name, err)
	}
	return c, nil
}

func dirOf(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[:i+1]
		}
	}
	return "."
}
