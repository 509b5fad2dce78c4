package ort

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"scorelens/export/onnxpb"
)

// Tensor names of the score-model contract (SPEC §6): the image input, the time input and
// the score output.
const (
	InputName  = "x"
	TimeName   = "t"
	OutputName = "score"
)

// Metadata keys of the score-model contract (SPEC §6). TimeInput and Output are
// scorelens extensions: a model made elsewhere may carry its conventions with it instead
// of needing flags.
const (
	MetaSDE       = "scorelens.sde"
	MetaSigmaMin  = "scorelens.sigma_min"
	MetaSigmaMax  = "scorelens.sigma_max"
	MetaChannels  = "scorelens.channels"
	MetaHeight    = "scorelens.height"
	MetaWidth     = "scorelens.width"
	MetaDataScale = "scorelens.data_scale"
	MetaTraining  = "scorelens.training"
	MetaTimeInput = "scorelens.time_input"
	MetaOutput    = "scorelens.output"
	// MetaTrainedSigmaMax marks a low-noise expert (train --train-sigma-max): the largest
	// noise level, in model units, it was trained on. Its scores above are untrained, so
	// the sampler refuses it on its own (Options.Expert), and scorelens combine joins it to a
	// model of the whole range.
	MetaTrainedSigmaMax = "scorelens.trained_sigma_max"
)

// Time-input conventions: what the network's time input receives.
const (
	TimeT        = "t"         // the diffusion time t ∈ [0, 1] (the contract)
	TimeSigma    = "sigma"     // the noise scale σ(t), in model units
	TimeLogSigma = "log-sigma" // ln σ(t), in model units
)

// Output conventions: what the network returns.
const (
	OutputScore      = "score"       // ∇x log p_t(x) (the contract)
	OutputNoise      = "noise"       // ε-prediction: score = −ε/σ
	OutputSigmaScore = "sigma-score" // σ·score
)

// Tensor describes one graph input or output.
type Tensor struct {
	Name  string
	Type  string   // element type: "float32", "float64", …
	Dims  []string // each a size or the name of a dynamic axis ("?" when unnamed)
	fixed []int64  // sizes, −1 where dynamic
	elem  onnxpb.TensorProto_DataType
}

func (t Tensor) String() string {
	return fmt.Sprintf("%s %s [%s]", t.Name, t.Type, strings.Join(t.Dims, ", "))
}

// Conventions is how the sampler feeds the model and reads its output: the resolved
// contract of one model under given Options.
type Conventions struct {
	InputName, TimeName, OutputName string
	TimeInput                       string // TimeT, TimeSigma or TimeLogSigma
	Output                          string // OutputScore, OutputNoise or OutputSigmaScore
	Channels, Height, Width         int    // 0 where the graph leaves it open and nothing fixes it
	// FixedBatch is set when the graph's batch axis is fixed at 1: batches are then run
	// one image at a time.
	FixedBatch bool
	// SigmaMin and SigmaMax are the VE SDE the sampler must use, in physical units (those
	// of the source pixels): the options' values, else DataScale × the metadata's.
	SigmaMin, SigmaMax float64
	// NetSigmaMin and NetSigmaMax are the network's own σ range in model units (the
	// metadata's, else the sampling range / DataScale). A network with a `t` input reads
	// t as σ = NetSigmaMin·(NetSigmaMax/NetSigmaMin)^t, so the adapter maps the sampler's
	// σ onto it.
	NetSigmaMin, NetSigmaMax float64
	// DataScale converts model units to physical ones: physical = DataScale × model. The
	// adapter feeds x/DataScale and returns score_net/DataScale.
	DataScale float64
	// Origin says where each convention came from ("metadata", "option", "graph",
	// "default"), keyed by "names", "time-input", "output", "shape", "sigma",
	// "data-scale".
	Origin map[string]string
}

// modelFile is what the contract needs from a parsed ONNX file.
type modelFile struct {
	proto   *onnxpb.ModelProto
	inputs  []Tensor // real inputs (initialisers listed as inputs by old exporters left out)
	outputs []Tensor
	meta    map[string]string
	size    int64
}

// ReadProto parses the ONNX file at path and returns the model and the file's size.
func ReadProto(path string) (*onnxpb.ModelProto, int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("could not read model: %w", err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, 0, fmt.Errorf("%s is not an ONNX model: %v", path, err)
	}
	g := m.GetGraph()
	if m.GetIrVersion() <= 0 || g == nil || len(g.GetOutput()) == 0 {
		return nil, 0, fmt.Errorf("%s is not an ONNX model: no ir_version, graph or outputs", path)
	}
	return &m, int64(len(data)), nil
}

// readModel parses an ONNX file.
func readModel(path string) (*modelFile, error) {
	m, size, err := ReadProto(path)
	if err != nil {
		return nil, err
	}
	g := m.GetGraph()
	f := &modelFile{proto: m, meta: map[string]string{}, size: size}
	for _, p := range m.GetMetadataProps() {
		f.meta[p.GetKey()] = p.GetValue()
	}
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	for _, v := range g.GetInput() {
		if !inits[v.GetName()] {
			f.inputs = append(f.inputs, tensorOf(v))
		}
	}
	for _, v := range g.GetOutput() {
		f.outputs = append(f.outputs, tensorOf(v))
	}
	return f, nil
}

func tensorOf(v *onnxpb.ValueInfoProto) Tensor {
	t := Tensor{Name: v.GetName()}
	tt := v.GetType().GetTensorType()
	if tt == nil {
		t.Type = "non-tensor"
		return t
	}
	t.elem = onnxpb.TensorProto_DataType(tt.GetElemType())
	t.Type = typeName(t.elem)
	if tt.GetShape() == nil {
		t.Dims = nil
		t.fixed = nil
		return t
	}
	t.Dims = []string{}
	for _, d := range tt.GetShape().GetDim() {
		switch {
		case d.GetDimParam() != "":
			t.Dims = append(t.Dims, d.GetDimParam())
			t.fixed = append(t.fixed, -1)
		case d.GetValue() != nil && d.GetDimValue() > 0:
			t.Dims = append(t.Dims, strconv.FormatInt(d.GetDimValue(), 10))
			t.fixed = append(t.fixed, d.GetDimValue())
		default:
			t.Dims = append(t.Dims, "?")
			t.fixed = append(t.fixed, -1)
		}
	}
	return t
}

func typeName(dt onnxpb.TensorProto_DataType) string {
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		return "float32"
	case onnxpb.TensorProto_DOUBLE:
		return "float64"
	case onnxpb.TensorProto_FLOAT16:
		return "float16"
	case onnxpb.TensorProto_BFLOAT16:
		return "bfloat16"
	case onnxpb.TensorProto_UNDEFINED:
		return "undefined"
	}
	return strings.ToLower(dt.String())
}

func (f *modelFile) input(name string) (Tensor, bool) {
	for _, t := range f.inputs {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

func (f *modelFile) output(name string) (Tensor, bool) {
	for _, t := range f.outputs {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

func names(ts []Tensor) string {
	var s []string
	for _, t := range ts {
		s = append(s, strconv.Quote(t.Name))
	}
	return strings.Join(s, ", ")
}

func pick(opt, def string) (string, string) {
	if opt != "" {
		return opt, "option"
	}
	return def, "default"
}

// metaFloat reads a positive finite number from the metadata; ok is false when absent.
func (f *modelFile) metaFloat(key string) (v float64, ok bool, err error) {
	s, ok := f.meta[key]
	if !ok {
		return 0, false, nil
	}
	v, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, true, fmt.Errorf("metadata %s = %q is not a positive number", key, s)
	}
	return v, true, nil
}

func (f *modelFile) metaInt(key string) (int, bool, error) {
	s, ok := f.meta[key]
	if !ok {
		return 0, false, nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v <= 0 {
		return 0, true, fmt.Errorf("metadata %s = %q is not a positive integer", key, s)
	}
	return v, true, nil
}

// resolve checks the model against the contract under opt and returns the conventions
// the sampler will use; the first thing that does not fit is the error.
func (f *modelFile) resolve(opt Options) (Conventions, error) {
	c := Conventions{Origin: map[string]string{}}
	var oi, ot, oo string
	c.InputName, oi = pick(opt.InputName, InputName)
	c.TimeName, ot = pick(opt.TimeName, TimeName)
	c.OutputName, oo = pick(opt.OutputName, OutputName)
	c.Origin["names"] = oi
	if ot == "option" || oo == "option" {
		c.Origin["names"] = "option"
	}

	// Names.
	x, ok := f.input(c.InputName)
	if !ok {
		return c, fmt.Errorf("model has no input %q (its inputs are %s); name the image input with --input-name", c.InputName, names(f.inputs))
	}
	tin, ok := f.input(c.TimeName)
	if !ok {
		return c, fmt.Errorf("model has no input %q (its inputs are %s); name the time input with --time-name", c.TimeName, names(f.inputs))
	}
	if c.InputName == c.TimeName {
		return c, fmt.Errorf("image and time inputs are both %q", c.InputName)
	}
	for _, in := range f.inputs {
		if in.Name != c.InputName && in.Name != c.TimeName {
			return c, fmt.Errorf("model has an input %q besides %q and %q, which the sampler cannot feed", in.Name, c.InputName, c.TimeName)
		}
	}
	out, ok := f.output(c.OutputName)
	if !ok {
		return c, fmt.Errorf("model has no output %q (its outputs are %s); name the score output with --output-name", c.OutputName, names(f.outputs))
	}

	// Types and ranks.
	for _, tt := range []struct {
		t    Tensor
		what string
		rank int
		want string
	}{{x, "input", 4, "[B, C, H, W]"}, {tin, "input", 1, "[B]"}, {out, "output", 4, "[B, C, H, W]"}} {
		if tt.t.elem != onnxpb.TensorProto_FLOAT {
			return c, fmt.Errorf("%s %q is %s; the contract needs float32", tt.what, tt.t.Name, tt.t.Type)
		}
		if tt.t.Dims == nil {
			if tt.what == "output" {
				// Some exporters leave the output's shape undeclared; the runtime checks
				// it against the output tensor at the first forward pass.
				continue
			}
			return c, fmt.Errorf("%s %q has no declared shape; the contract needs %s", tt.what, tt.t.Name, tt.want)
		}
		if len(tt.t.Dims) != tt.rank {
			return c, fmt.Errorf("%s %q has rank %d ([%s]); the contract needs rank %d, %s",
				tt.what, tt.t.Name, len(tt.t.Dims), strings.Join(tt.t.Dims, ", "), tt.rank, tt.want)
		}
	}

	// Batch axis: dynamic, or fixed at 1 (then run one image at a time).
	for _, tt := range []Tensor{x, tin, out} {
		if len(tt.fixed) == 0 {
			continue
		}
		if b := tt.fixed[0]; b > 1 {
			return c, fmt.Errorf("%q has a fixed batch size of %d; export it with a dynamic batch axis (or batch 1)", tt.Name, b)
		} else if b == 1 {
			c.FixedBatch = true
		}
	}

	// Image shape: the graph's fixed sizes, the metadata and the expected grid must agree.
	c.Origin["shape"] = "graph"
	for i, key := range []string{MetaChannels, MetaHeight, MetaWidth} {
		g := int(x.fixed[i+1])
		m, has, err := f.metaInt(key)
		if err != nil {
			return c, err
		}
		v := g
		switch {
		case has && g > 0 && m != g:
			return c, fmt.Errorf("metadata %s = %d but input %q is [%s]", key, m, x.Name, strings.Join(x.Dims, ", "))
		case g <= 0 && has:
			v = m
			c.Origin["shape"] = "metadata"
		case g <= 0:
			v = 0
		}
		if len(out.fixed) == 4 && out.fixed[i+1] > 0 && v > 0 && int(out.fixed[i+1]) != v {
			return c, fmt.Errorf("output %q is [%s] but input %q is [%s]", out.Name, strings.Join(out.Dims, ", "), x.Name, strings.Join(x.Dims, ", "))
		}
		switch i {
		case 0:
			c.Channels = v
		case 1:
			c.Height = v
		case 2:
			c.Width = v
		}
	}
	if opt.Channels > 0 {
		if c.Channels > 0 && c.Channels != opt.Channels {
			return c, fmt.Errorf("model works on %d-channel images but the source has %d", c.Channels, opt.Channels)
		}
		c.Channels = opt.Channels
	}
	if opt.Height > 0 || opt.Width > 0 {
		if (c.Height > 0 && c.Height != opt.Height) || (c.Width > 0 && c.Width != opt.Width) {
			return c, fmt.Errorf("model works on %d×%d images but the source grid is %d×%d", c.Height, c.Width, opt.Height, opt.Width)
		}
		c.Height, c.Width = opt.Height, opt.Width
	}

	// SDE.
	if s, ok := f.meta[MetaSDE]; ok && !strings.EqualFold(strings.TrimSpace(s), "ve") {
		return c, fmt.Errorf("model's SDE is %q (metadata %s); scorelens samples the VE SDE only", s, MetaSDE)
	}

	// Conventions.
	c.TimeInput, c.Origin["time-input"] = pick(opt.TimeInput, f.meta[MetaTimeInput])
	if c.TimeInput == "" {
		c.TimeInput, c.Origin["time-input"] = TimeT, "default"
	} else if opt.TimeInput == "" {
		c.Origin["time-input"] = "metadata"
	}
	switch c.TimeInput {
	case TimeT, TimeSigma, TimeLogSigma:
	default:
		return c, fmt.Errorf("time input convention %q: want t, sigma or log-sigma", c.TimeInput)
	}
	c.Output, c.Origin["output"] = pick(opt.Output, f.meta[MetaOutput])
	if c.Output == "" {
		c.Output, c.Origin["output"] = OutputScore, "default"
	} else if opt.Output == "" {
		c.Origin["output"] = "metadata"
	}
	switch c.Output {
	case OutputScore, OutputNoise, OutputSigmaScore:
	default:
		return c, fmt.Errorf("output convention %q: want score, noise or sigma-score", c.Output)
	}

	// Data scale.
	c.DataScale, c.Origin["data-scale"] = 1, "default"
	if ds, has, err := f.metaFloat(MetaDataScale); err != nil {
		return c, err
	} else if has {
		c.DataScale, c.Origin["data-scale"] = ds, "metadata"
	}
	if opt.DataScale != 0 {
		if !(opt.DataScale > 0) || math.IsInf(opt.DataScale, 0) {
			return c, fmt.Errorf("data scale must be a positive number, got %g", opt.DataScale)
		}
		c.DataScale, c.Origin["data-scale"] = opt.DataScale, "option"
	}

	// σ range.
	mmin, hasMin, err := f.metaFloat(MetaSigmaMin)
	if err != nil {
		return c, err
	}
	mmax, hasMax, err := f.metaFloat(MetaSigmaMax)
	if err != nil {
		return c, err
	}
	if hasMin && hasMax && !(mmin < mmax) {
		return c, fmt.Errorf("metadata %s = %g is not below %s = %g", MetaSigmaMin, mmin, MetaSigmaMax, mmax)
	}
	c.SigmaMin, c.SigmaMax = opt.SigmaMin, opt.SigmaMax
	c.Origin["sigma"] = "option"
	if c.SigmaMin == 0 && hasMin {
		c.SigmaMin, c.Origin["sigma"] = c.DataScale*mmin, "metadata"
	}
	if c.SigmaMax == 0 && hasMax {
		c.SigmaMax, c.Origin["sigma"] = c.DataScale*mmax, "metadata"
	}
	if (opt.SigmaMin != 0) != (opt.SigmaMax != 0) && c.Origin["sigma"] == "metadata" {
		c.Origin["sigma"] = "metadata and option"
	}
	switch {
	case c.SigmaMin == 0 && c.SigmaMax == 0:
		return c, fmt.Errorf("model has no σ range (metadata %s, %s); pass --sigma-min and --sigma-max", MetaSigmaMin, MetaSigmaMax)
	case c.SigmaMin == 0:
		return c, fmt.Errorf("model has no metadata %s; pass --sigma-min", MetaSigmaMin)
	case c.SigmaMax == 0:
		return c, fmt.Errorf("model has no metadata %s; pass --sigma-max", MetaSigmaMax)
	case !(c.SigmaMin > 0) || !(c.SigmaMax > c.SigmaMin) || math.IsInf(c.SigmaMax, 0):
		return c, fmt.Errorf("σ range [%g, %g] is not 0 < sigma-min < sigma-max", c.SigmaMin, c.SigmaMax)
	}
	c.NetSigmaMin, c.NetSigmaMax = c.SigmaMin/c.DataScale, c.SigmaMax/c.DataScale
	if hasMin && hasMax {
		c.NetSigmaMin, c.NetSigmaMax = mmin, mmax
	}
	if v, ok := f.meta[MetaTrainedSigmaMax]; ok && !opt.Expert {
		return c, fmt.Errorf("model is a low-noise expert, trained on σ ≤ %s only (metadata %s): join it to a model of the whole range with scorelens combine", v, MetaTrainedSigmaMax)
	}
	return c, nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// ReadConventions reads the ONNX file at path and resolves its contract under opt, without
// loading ONNX Runtime (export.Combine checks the models it joins with it).
func ReadConventions(path string, opt Options) (Conventions, error) {
	f, err := readModel(path)
	if err != nil {
		return Conventions{}, err
	}
	c, err := f.resolve(opt)
	if err != nil {
		return c, fmt.Errorf("model %s: %w", path, err)
	}
	return c, nil
}
