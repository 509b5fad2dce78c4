package ort

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"scorelens/export/onnxpb"
)

// Report describes an ONNX score model: what Inspect finds and what the sampler will do
// with it.
type Report struct {
	Path        string
	Size        int64 // file size, bytes
	IRVersion   int64
	Opsets      map[string]int64 // domain ("" is the standard one) → version
	Producer    string
	Inputs      []Tensor
	Outputs     []Tensor
	Metadata    map[string]string
	Nodes       int   // the If/Loop/Scan subgraphs' nodes included
	Parameters  int64 // elements of floating-point initialisers, subgraphs included
	Conventions Conventions

	// FLOPs is the floating-point operation count of one forward pass at batch 1 over the
	// nodes whose shapes are known (see CountFLOPs); Uncounted lists the operator types of
	// the nodes that could not be counted, with how many of each.
	FLOPs     int64
	ByOp      map[string]int64
	Uncounted map[string]int

	// Runtime is the outcome of loading the model in ONNX Runtime and running one forward
	// pass at batch 1 (when the library could be found), or why that was not done.
	Runtime string
}

// Inspect validates the ONNX file at path against the score-model contract under opt
// (Options' zero value: the model's own metadata) and describes it. When the ONNX Runtime
// library can be loaded, it also creates a session and runs one forward pass at batch 1
// on zeros at t = 1, which catches operators the runtime does not support. A model that
// breaks the contract, fails to load or returns non-finite numbers is an error.
func Inspect(ctx context.Context, path string, opt Options) (Report, error) {
	f, err := readModel(path)
	if err != nil {
		return Report{}, err
	}
	r := Report{
		Path: path, Size: f.size, IRVersion: f.proto.GetIrVersion(), Producer: f.proto.GetProducerName(),
		Inputs: f.inputs, Outputs: f.outputs, Metadata: f.meta, Opsets: map[string]int64{},
	}
	r.Nodes, r.Parameters = graphSize(f.proto.GetGraph())
	if v := f.proto.GetProducerVersion(); v != "" {
		r.Producer += " " + v
	}
	for _, o := range f.proto.GetOpsetImport() {
		r.Opsets[o.GetDomain()] = o.GetVersion()
	}
	conv, err := f.resolve(opt)
	if err != nil {
		return r, fmt.Errorf("model %s: %w", path, err)
	}
	r.Conventions = conv
	r.FLOPs, r.ByOp, r.Uncounted = countFLOPs(f.proto.GetGraph(), conv)

	if _, _, err := Init(opt.Library); err != nil {
		r.Runtime = "not checked: " + err.Error()
		return r, nil
	}
	if conv.Channels == 0 || conv.Height == 0 || conv.Width == 0 {
		r.Runtime = "not checked: the image size is dynamic (pass the source grid)"
		return r, nil
	}
	m, err := Open(path, opt)
	if err != nil {
		return r, err
	}
	defer m.Close()
	n := conv.Channels * conv.Height * conv.Width
	x, dst := make([]float32, n), make([]float32, n)
	start := time.Now()
	if err := m.Score(ctx, dst, x, []float32{1}); err != nil {
		return r, err
	}
	elapsed := time.Since(start)
	for _, v := range dst {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return r, fmt.Errorf("model %s returns non-finite scores for a zero image at t = 1", path)
		}
	}
	r.Runtime = fmt.Sprintf("ONNX Runtime %s (%s) on %s: loads, one forward pass at batch 1 in %s (first call), finite output",
		m.version, m.library, m.device, elapsed.Round(10*time.Microsecond))
	return r, nil
}

func numel(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// WriteTo prints the report for people.
func (r Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("model       %s (%s)\n", r.Path, bytesize(r.Size))
	var ops []string
	for _, d := range sortedKeys64(r.Opsets) {
		name := d
		if name == "" {
			name = "ai.onnx"
		}
		ops = append(ops, fmt.Sprintf("%s %d", name, r.Opsets[d]))
	}
	p("format      ONNX IR %d, opsets %s, producer %q\n", r.IRVersion, strings.Join(ops, ", "), r.Producer)
	for _, t := range r.Inputs {
		p("input       %s\n", t)
	}
	for _, t := range r.Outputs {
		p("output      %s\n", t)
	}
	if len(r.Metadata) == 0 {
		p("metadata    (none)\n")
	}
	for _, k := range sortedKeys(r.Metadata) {
		p("metadata    %s = %s\n", k, r.Metadata[k])
	}
	p("size        %d nodes, %d parameters\n", r.Nodes, r.Parameters)
	flops := flopString(r.FLOPs) + " per forward pass at batch 1"
	if len(r.ByOp) > 0 && r.FLOPs > 0 {
		var parts []string
		for _, op := range sortedKeysI64(r.ByOp) {
			parts = append(parts, fmt.Sprintf("%s %.1f%%", op, 100*float64(r.ByOp[op])/float64(r.FLOPs)))
		}
		flops += " (" + strings.Join(parts, ", ") + ")"
	}
	p("flops       %s\n", flops)
	if len(r.Uncounted) > 0 {
		var parts []string
		for _, op := range sortedKeysInt(r.Uncounted) {
			parts = append(parts, fmt.Sprintf("%s×%d", op, r.Uncounted[op]))
		}
		p("            not counted (shapes unknown): %s\n", strings.Join(parts, ", "))
	}
	c := r.Conventions
	o := c.Origin
	p("sampler     image input %q, time input %q, output %q (%s)\n", c.InputName, c.TimeName, c.OutputName, o["names"])
	p("            time input receives %s (%s); output is %s (%s)\n", describeTime(c.TimeInput), o["time-input"], describeOutput(c.Output), o["output"])
	shape := fmt.Sprintf("%d×%d×%d", c.Channels, c.Height, c.Width)
	if c.Channels == 0 || c.Height == 0 || c.Width == 0 {
		shape = "dynamic (taken from the source grid)"
	}
	batch := "dynamic batch"
	if c.FixedBatch {
		batch = "batch fixed at 1: images are run one at a time"
	}
	p("            images C×H×W %s (%s), %s\n", shape, o["shape"], batch)
	p("            VE SDE σ ∈ [%g, %g] in physical units (%s)", c.SigmaMin, c.SigmaMax, o["sigma"])
	if c.TimeInput == TimeT && (c.NetSigmaMin*c.DataScale != c.SigmaMin || c.NetSigmaMax*c.DataScale != c.SigmaMax) {
		p("; the network's t spans σ ∈ [%g, %g] model units", c.NetSigmaMin, c.NetSigmaMax)
	}
	p("\n            data scale %g (%s)", c.DataScale, o["data-scale"])
	if c.DataScale != 1 {
		p(": the network sees x/%g and its score is divided by %g", c.DataScale, c.DataScale)
	}
	p("\n")
	if v, ok := r.Metadata[MetaTrainedSigmaMax]; ok {
		p("            a low-noise expert, trained on σ ≤ %s only: sample with it joined to a model of the whole range (scorelens combine)\n", v)
	}
	p("runtime     %s\n", r.Runtime)
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// flopString prints a FLOP count with a unit that suits it.
func flopString(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.4g GFLOP", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.4g MFLOP", float64(n)/1e6)
	}
	return fmt.Sprintf("%d FLOP", n)
}

func describeTime(s string) string {
	switch s {
	case TimeSigma:
		return "σ(t) in model units"
	case TimeLogSigma:
		return "ln σ(t) in model units"
	}
	return "the diffusion time t ∈ [0, 1]"
}

func describeOutput(s string) string {
	switch s {
	case OutputNoise:
		return "ε, score = −ε/σ"
	case OutputSigmaScore:
		return "σ·score"
	}
	return "the score"
}

func bytesize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func sortedKeys64(m map[string]int64) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func sortedKeysI64(m map[string]int64) []string { return sortedKeys64(m) }

func sortedKeysInt(m map[string]int) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// graphSize counts the nodes and the elements of floating-point initialisers of g and of
// the graphs its nodes hold (the branches of If, the bodies of Loop and Scan): a joined
// model (scorelens combine) keeps each network's weights inside its branch.
func graphSize(g *onnxpb.GraphProto) (nodes int, params int64) {
	for _, t := range g.GetInitializer() {
		switch onnxpb.TensorProto_DataType(t.GetDataType()) {
		case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
			params += numel(t.GetDims())
		}
	}
	for _, n := range g.GetNode() {
		nodes++
		for _, a := range n.GetAttribute() {
			for _, sub := range append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...) {
				if sub != nil {
					k, p := graphSize(sub)
					nodes, params = nodes+k, params+p
				}
			}
		}
	}
	return nodes, params
}
