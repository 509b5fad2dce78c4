package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"scorelens/trainer/ncsnpp"
)

// Checkpoint file layout (all integers little-endian):
//
//	[0, 8)        magic "SLCKPT\x00\x01" (format version 1)
//	[8, 16)       uint64 H, the length of the JSON header
//	[16, 16+H)    JSON header (checkpointHeader: config, hashes, step, RNG state, tensor table)
//	[16+H, end-32) tensor data: float32 arrays, in the order and at the byte offsets (from
//	              the start of the data section) the header's tensor table gives
//	[end-32, end) SHA-256 of every byte before it
//
// Tensors are named by the ncsnpp parameter names with one of four kinds: "weight" (every
// parameter, the raw trained values), "ema" (every parameter, the exponential moving
// average used for sampling and export), "adam_m" and "adam_v" (trainable parameters only,
// the optimiser's moments). Shapes are those of ncsnpp.Param.Shape, row-major.
const (
	magic         = "SLCKPT\x00\x01"
	formatVersion = 1
	trailerLen    = sha256.Size
)

// Tensor kinds stored in a checkpoint.
const (
	KindWeight = "weight"
	KindEMA    = "ema"
	KindAdamM  = "adam_m"
	KindAdamV  = "adam_v"
)

// DatasetID identifies the training set a checkpoint was trained on.
type DatasetID struct {
	Path       string  `json:"path"`
	SHA256     string  `json:"sha256"` // of the whole FITS file
	Count      int     `json:"count"`
	Size       int     `json:"size"` // pixels a side
	Norm       string  `json:"norm,omitempty"`
	PixelScale float64 `json:"pixscale,omitempty"` // arcsec per pixel
}

type tensorInfo struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Shape  []int  `json:"shape"`
	Offset int64  `json:"offset"` // bytes from the start of the data section
	Count  int64  `json:"count"`  // float32 elements
}

type checkpointHeader struct {
	Format       int           `json:"format"`
	Software     string        `json:"software,omitempty"`
	Config       ncsnpp.Config `json:"config"`
	ConfigSHA256 string        `json:"config_sha256"`
	HParams      HParams       `json:"hparams"`
	Dataset      DatasetID     `json:"dataset"`
	SigmaMaxRule string        `json:"sigma_max_rule"`
	Step         int64         `json:"step"`
	ElapsedS     float64       `json:"elapsed_s"`
	LossEMA      float64       `json:"loss_ema"`
	RNG          []byte        `json:"rng"` // math/rand/v2 PCG MarshalBinary
	InitFrom     *InitSource   `json:"init_from,omitempty"`
	Tensors      []tensorInfo  `json:"tensors"`
}

// Checkpoint is the state of a training run. Weights, EMA, AdamM and AdamV map parameter
// names (ncsnpp.Param.Name) to row-major float32 values; AdamM and AdamV hold the
// trainable parameters only.
type Checkpoint struct {
	Software     string
	Config       ncsnpp.Config
	ConfigSHA256 string // ConfigHash(Config)
	HParams      HParams
	Dataset      DatasetID
	SigmaMaxRule string      // how σmax was chosen
	Step         int64       // optimiser updates done
	ElapsedS     float64     // training wall time so far, seconds
	LossEMA      float64     // smoothed loss shown by the progress display
	RNG          []byte      // state of the run's PCG source (MarshalBinary)
	InitFrom     *InitSource // the checkpoint a fine-tuning run started from; nil for a run from scratch

	Weights, EMA, AdamM, AdamV map[string][]float32
}

// InitSource names the checkpoint a run started from (Options.InitFrom): where it was,
// the SHA-256 of the file, the step it had reached and the data set it was trained on.
type InitSource struct {
	Path    string    `json:"path"`
	SHA256  string    `json:"sha256"`
	Step    int64     `json:"step"`
	Dataset DatasetID `json:"dataset"`
	// Kind is InitKindModel for an exported ONNX model (its weights only), "" for a
	// checkpoint.
	Kind string `json:"kind,omitempty"`
}

// ConfigHash returns the hex SHA-256 of the JSON encoding of c with its preset name
// cleared: two configurations hash alike exactly when they describe the same network
// (architecture and σ range).
func ConfigHash(c ncsnpp.Config) string {
	c.Preset = ""
	b, err := json.Marshal(c)
	if err != nil {
		panic("train: config does not encode: " + err.Error())
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Values returns the tensors of one kind in the order of g.Params (nil entries for
// parameters the kind does not hold), after checking names and shapes against g.
func (c *Checkpoint) Values(g *ncsnpp.Graph, kind string) ([][]float32, error) {
	var m map[string][]float32
	switch kind {
	case KindWeight:
		m = c.Weights
	case KindEMA:
		m = c.EMA
	case KindAdamM:
		m = c.AdamM
	case KindAdamV:
		m = c.AdamV
	default:
		return nil, fmt.Errorf("unknown tensor kind %q", kind)
	}
	out := make([][]float32, len(g.Params))
	for i, p := range g.Params {
		if (kind == KindAdamM || kind == KindAdamV) && !p.Trainable {
			continue
		}
		v, ok := m[p.Name]
		if !ok {
			return nil, fmt.Errorf("checkpoint lacks %s %q", kind, p.Name)
		}
		if len(v) != p.Size() {
			return nil, fmt.Errorf("checkpoint %s %q has %d values, the network %d", kind, p.Name, len(v), p.Size())
		}
		out[i] = v
	}
	return out, nil
}

// check verifies that the checkpoint holds exactly the tensors of its configuration's
// network, with the right shapes.
func (c *Checkpoint) check() (*ncsnpp.Graph, error) {
	g, err := ncsnpp.Build(c.Config)
	if err != nil {
		return nil, fmt.Errorf("checkpoint configuration: %w", err)
	}
	if h := ConfigHash(c.Config); h != c.ConfigSHA256 {
		return nil, fmt.Errorf("configuration hash %.12s… does not match the stored %.12s…", h, c.ConfigSHA256)
	}
	want := map[string]int{}
	for _, kind := range []string{KindWeight, KindEMA, KindAdamM, KindAdamV} {
		if _, err := c.Values(g, kind); err != nil {
			return nil, err
		}
	}
	for _, p := range g.Params {
		want[p.Name] = 1
	}
	for _, m := range []map[string][]float32{c.Weights, c.EMA, c.AdamM, c.AdamV} {
		for name := range m {
			if want[name] == 0 {
				return nil, fmt.Errorf("checkpoint holds %q, which the network lacks", name)
			}
		}
	}
	return g, nil
}

// encode serialises c (the tensors in g.Params order).
func (c *Checkpoint) encode(g *ncsnpp.Graph) ([]byte, error) {
	h := checkpointHeader{
		Format: formatVersion, Software: c.Software, Config: c.Config, ConfigSHA256: c.ConfigSHA256,
		HParams: c.HParams, Dataset: c.Dataset, SigmaMaxRule: c.SigmaMaxRule, Step: c.Step, ElapsedS: c.ElapsedS, LossEMA: c.LossEMA, RNG: c.RNG, InitFrom: c.InitFrom,
	}
	var arrays [][]float32
	var off int64
	for _, kind := range []string{KindWeight, KindEMA, KindAdamM, KindAdamV} {
		vals, err := c.Values(g, kind)
		if err != nil {
			return nil, err
		}
		for i, p := range g.Params {
			if vals[i] == nil {
				continue
			}
			h.Tensors = append(h.Tensors, tensorInfo{Name: p.Name, Kind: kind, Shape: p.Shape, Offset: off, Count: int64(len(vals[i]))})
			arrays = append(arrays, vals[i])
			off += 4 * int64(len(vals[i]))
		}
	}
	js, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("could not encode the checkpoint header: %w", err)
	}
	buf := make([]byte, 0, 16+len(js)+int(off)+trailerLen)
	buf = append(buf, magic...)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(len(js)))
	buf = append(buf, js...)
	for _, a := range arrays {
		for _, v := range a {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	sum := sha256.Sum256(buf)
	return append(buf, sum[:]...), nil
}

// SaveCheckpoint writes c to path atomically (temporary file in the same directory, fsync,
// rename, fsync of the directory): a crash leaves either the old file or the new one.
func SaveCheckpoint(path string, c *Checkpoint) error {
	g, err := c.check()
	if err != nil {
		return fmt.Errorf("could not write checkpoint %q: %w", path, err)
	}
	b, err := c.encode(g)
	if err != nil {
		return fmt.Errorf("could not write checkpoint %q: %w", path, err)
	}
	if err := writeAtomic(path, b); err != nil {
		return fmt.Errorf("could not write checkpoint %q: %w", path, err)
	}
	return nil
}

// ErrCorrupt is wrapped by LoadCheckpoint's errors for files that are not intact
// checkpoints (truncated, altered, or not checkpoints at all).
var ErrCorrupt = errors.New("corrupt checkpoint")

// LoadCheckpoint reads and verifies a checkpoint: the magic, the SHA-256 of the whole
// file, the header, and that the tensors are exactly those (names and shapes) of the
// network its configuration describes. It never modifies the file.
//
// For export: c.Config is the ncsnpp configuration (ncsnpp.Build(c.Config) gives the
// graph), and c.Values(g, KindEMA) the EMA weights in g.Params order (c.EMA by name).
func LoadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("could not read checkpoint: %w", err)
	}
	c, err := decodeCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %q refused: %w", path, err)
	}
	return c, nil
}

func decodeCheckpoint(b []byte) (*Checkpoint, error) {
	if len(b) < 16+trailerLen || string(b[:8]) != magic {
		if len(b) >= 6 && string(b[:6]) == magic[:6] && (len(b) < 8 || b[7] != magic[7]) {
			return nil, fmt.Errorf("%w: unsupported format version", ErrCorrupt)
		}
		return nil, fmt.Errorf("%w: not a scorelens checkpoint or truncated (%d bytes)", ErrCorrupt, len(b))
	}
	body, tail := b[:len(b)-trailerLen], b[len(b)-trailerLen:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], tail) {
		return nil, fmt.Errorf("%w: SHA-256 mismatch (truncated or altered)", ErrCorrupt)
	}
	hl := binary.LittleEndian.Uint64(b[8:16])
	if hl > uint64(len(body)-16) {
		return nil, fmt.Errorf("%w: header length %d exceeds the file", ErrCorrupt, hl)
	}
	var h checkpointHeader
	dec := json.NewDecoder(bytes.NewReader(b[16 : 16+hl]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%w: bad header: %v", ErrCorrupt, err)
	}
	if h.Format != formatVersion {
		return nil, fmt.Errorf("%w: format %d, want %d", ErrCorrupt, h.Format, formatVersion)
	}
	data := body[16+hl:]
	c := &Checkpoint{
		Software: h.Software, Config: h.Config, ConfigSHA256: h.ConfigSHA256, HParams: h.HParams, Dataset: h.Dataset, SigmaMaxRule: h.SigmaMaxRule,
		Step: h.Step, ElapsedS: h.ElapsedS, LossEMA: h.LossEMA, RNG: h.RNG, InitFrom: h.InitFrom,
		Weights: map[string][]float32{}, EMA: map[string][]float32{}, AdamM: map[string][]float32{}, AdamV: map[string][]float32{},
	}
	var end int64
	for _, t := range h.Tensors {
		n := int64(1)
		for _, d := range t.Shape {
			if d < 0 || d > math.MaxInt32 {
				return nil, fmt.Errorf("%w: tensor %s %q has a bad shape %v", ErrCorrupt, t.Kind, t.Name, t.Shape)
			}
			n *= int64(d)
		}
		if n != t.Count || t.Offset < 0 || t.Offset%4 != 0 || t.Offset+4*t.Count > int64(len(data)) {
			return nil, fmt.Errorf("%w: tensor %s %q lies outside the data", ErrCorrupt, t.Kind, t.Name)
		}
		v := make([]float32, t.Count)
		raw := data[t.Offset : t.Offset+4*t.Count]
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		var m map[string][]float32
		switch t.Kind {
		case KindWeight:
			m = c.Weights
		case KindEMA:
			m = c.EMA
		case KindAdamM:
			m = c.AdamM
		case KindAdamV:
			m = c.AdamV
		default:
			return nil, fmt.Errorf("%w: unknown tensor kind %q", ErrCorrupt, t.Kind)
		}
		if _, dup := m[t.Name]; dup {
			return nil, fmt.Errorf("%w: tensor %s %q appears twice", ErrCorrupt, t.Kind, t.Name)
		}
		m[t.Name] = v
		end = max(end, t.Offset+4*t.Count)
	}
	if end != int64(len(data)) {
		return nil, fmt.Errorf("%w: %d bytes of data, the tensors cover %d", ErrCorrupt, len(data), end)
	}
	if _, err := c.check(); err != nil {
		return nil, fmt.Errorf("inconsistent checkpoint: %w", err)
	}
	return c, nil
}

// writeAtomic writes b to path through a temporary file in the same directory.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err = tmp.Chmod(0o644); err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
