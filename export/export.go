package export

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"scorelens/export/onnxbuild"
	"scorelens/infer/ort"
	"scorelens/trainer/ncsnpp"
	"scorelens/trainer/train"
)

// Opset is the ONNX operator set of exported models (the contract's minimum).
const Opset = 17

// CheckpointName is the checkpoint file inside a run folder (scorelens train --out).
const CheckpointName = "checkpoint.ckpt"

// The graph's inputs and output and the metadata keys are those of the contract, defined
// once in infer/ort, which checks models against it.
const (
	InputX        = ort.InputName
	InputT        = ort.TimeName
	OutputScore   = ort.OutputName
	BatchAxis     = "batch"
	MetaSDE       = ort.MetaSDE
	MetaSigmaMin  = ort.MetaSigmaMin
	MetaSigmaMax  = ort.MetaSigmaMax
	MetaChannels  = ort.MetaChannels
	MetaHeight    = ort.MetaHeight
	MetaWidth     = ort.MetaWidth
	MetaDataScale = ort.MetaDataScale
	MetaTraining  = ort.MetaTraining
	// MetaWeights says which weights were exported: "ema" or "raw".
	MetaWeights = "scorelens.weights"
	// MetaConfig holds the NCSN++ configuration as JSON.
	MetaConfig = "scorelens.ncsnpp_config"
)

// Options configure an export. The zero value exports the EMA weights with data_scale 1.
type Options struct {
	// Raw exports the raw trained weights instead of their exponential moving average.
	Raw bool
	// DataScale is written as scorelens.data_scale (physical = DataScale × model units);
	// 0 means 1 (see the package documentation).
	DataScale float64
	// Version is written as the model's producer_version.
	Version string
}

// ResolveCheckpoint returns the checkpoint file named by path: path itself, or
// path/checkpoint.ckpt when path is a run folder.
func ResolveCheckpoint(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("no checkpoint given")
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("could not open checkpoint: %w", err)
	}
	if st.IsDir() {
		f := filepath.Join(path, CheckpointName)
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("run folder %q holds no %s: %w", path, CheckpointName, err)
		}
		return f, nil
	}
	return path, nil
}

// Export reads the checkpoint ckpt (a file, or a run folder holding checkpoint.ckpt) and
// writes its network as an ONNX score model to out (atomically).
func Export(ckpt, out string, opt Options) error {
	if out == "" {
		return fmt.Errorf("no output file given")
	}
	path, err := ResolveCheckpoint(ckpt)
	if err != nil {
		return err
	}
	ck, err := train.LoadCheckpoint(path)
	if err != nil {
		return err
	}
	b, err := Build(ck, opt)
	if err != nil {
		return fmt.Errorf("could not export %q: %w", path, err)
	}
	if err := b.WriteFile(out); err != nil {
		return fmt.Errorf("could not export %q: %w", path, err)
	}
	return nil
}

// Build returns the ONNX graph of the checkpoint's network with its EMA (or, with
// opt.Raw, raw) weights and the SPEC §6 metadata.
func Build(ck *train.Checkpoint, opt Options) (*onnxbuild.Builder, error) {
	if opt.DataScale == 0 {
		opt.DataScale = 1
	}
	if !(opt.DataScale > 0) || math.IsInf(opt.DataScale, 0) {
		return nil, fmt.Errorf("data scale must be a positive number, got %g", opt.DataScale)
	}
	desc, err := ncsnpp.Build(ck.Config)
	if err != nil {
		return nil, fmt.Errorf("checkpoint configuration: %w", err)
	}
	kind := train.KindEMA
	if opt.Raw {
		kind = train.KindWeight
	}
	vals, err := ck.Values(desc, kind)
	if err != nil {
		return nil, err
	}
	b, err := Graph(desc, vals)
	if err != nil {
		return nil, err
	}
	b.SetProducerVersion(opt.Version)
	c := ck.Config
	weights := "ema"
	if opt.Raw {
		weights = "raw"
	}
	cfg, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("could not encode the configuration: %w", err)
	}
	b.Metadata(MetaSDE, "ve")
	b.Metadata(MetaSigmaMin, formatFloat(c.SigmaMin))
	b.Metadata(MetaSigmaMax, formatFloat(c.SigmaMax))
	b.Metadata(MetaChannels, strconv.Itoa(c.Channels))
	b.Metadata(MetaHeight, strconv.Itoa(c.Size))
	b.Metadata(MetaWidth, strconv.Itoa(c.Size))
	b.Metadata(MetaDataScale, formatFloat(opt.DataScale))
	b.Metadata(MetaTraining, TrainingLine(ck, weights))
	b.Metadata(MetaWeights, weights)
	b.Metadata(MetaConfig, string(cfg))
	if m := ck.HParams.SigmaTrainMax; m > 0 {
		b.Metadata(MetaTrainedSigmaMax, formatFloat(m))
	}
	return b, nil
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// TrainingLine is the one-line summary written as scorelens.training: the data set, the
// steps (and, for a fine-tuned run, the checkpoint it started from) and the network
// configuration.
func TrainingLine(ck *train.Checkpoint, weights string) string {
	d := ck.Dataset
	norm := d.Norm
	if norm == "" {
		norm = "unrecorded"
	}
	sha := d.SHA256
	if len(sha) > 12 {
		sha = sha[:12]
	}
	c := ck.Config
	preset := c.Preset
	if preset == "" {
		preset = "custom"
	}
	mult := make([]string, len(c.ChMult))
	for i, m := range c.ChMult {
		mult[i] = strconv.Itoa(m)
	}
	attn := make([]string, len(c.AttnResolutions))
	for i, r := range c.AttnResolutions {
		attn[i] = strconv.Itoa(r)
	}
	steps := "steps"
	if ck.Step == 1 {
		steps = "step"
	}
	from := ""
	switch in := ck.InitFrom; {
	case in == nil:
	case in.Kind == train.InitKindModel: // an exported model records no step or data set
		from = fmt.Sprintf(" (fine-tuned from the weights of the ONNX model %s, sha256 %.12s)", filepath.Base(in.Path), in.SHA256)
	default:
		from = fmt.Sprintf(" (fine-tuned from step %d of checkpoint sha256 %.12s, trained on %s, sha256 %.12s)",
			in.Step, in.SHA256, filepath.Base(in.Dataset.Path), in.Dataset.SHA256)
	}
	s := fmt.Sprintf("data %s (sha256 %s, %d images of %d px, %s normalisation); %d %s%s, %s weights; "+
		"ncsnpp %s: %d channels, %d px, nf %d, ch_mult %s, %d res blocks, attention at %s, sigma %s to %s",
		filepath.Base(d.Path), sha, d.Count, d.Size, norm, ck.Step, steps, from, weights,
		preset, c.Channels, c.Size, c.NF, strings.Join(mult, ","), c.NumResBlocks, strings.Join(attn, ","),
		formatFloat(c.SigmaMin), formatFloat(c.SigmaMax))
	if c.OffsetHead {
		s += ", offset head"
	}
	// One line, whatever the recorded path holds.
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
