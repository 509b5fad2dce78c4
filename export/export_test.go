package export

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"scorelens/export/onnxpb"
	"scorelens/infer/ort"
	"scorelens/trainer/ncsnpp"
	"scorelens/trainer/train"
)

// parityTol is the parity requirement (float32): the exported model under ONNX
// Runtime and the trainer's Gorgonia forward pass of the same weights agree to 1e-4
// relative, measured per image as max|Δ| / max|reference| over its pixels. Both run in
// float32 with different summation orders (im2col+GEMM vs ORT's convolutions, two-pass
// softmax, GroupNorm statistics in float64 vs float32) through ~40 (tiny) to ~60 (small)
// layers; rounding of 6e-8 per operation accumulates to ~1e-6–1e-5 of the output's scale.
// The time embedding, where float32 would lose 1e-4 rad of a phase of ~10³ rad, is
// computed in float64 in both.
const parityTol = 1e-4

// TestParity: for random noisy images at several t and batch sizes 1 and 3, the exported
// model (EMA weights) under ONNX Runtime matches the Gorgonia forward pass of the same
// checkpoint, for the tiny and small presets and tiny with the offset head; for tiny also
// the --raw export against the raw weights.
func TestParity(t *testing.T) {
	needRuntime(t)
	for _, preset := range []string{"tiny", "small", "tiny+offset"} {
		t.Run(preset, func(t *testing.T) {
			dir := t.TempDir()
			g, raw, ema := testCheckpoint(t, preset, dir, 11)
			model := filepath.Join(dir, "model.onnx")
			if err := Export(dir, model, Options{}); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 5))
			for _, ts := range [][]float32{{0}, {0.37}, {1}, {1e-5, 0.5, 0.93}} {
				x := noisyImages(g, ts, r)
				want := gorgoniaScore(t, g, ema, x, ts)
				got := ortScore(t, model, x, ts)
				e := relErr(got, want, len(ts))
				t.Logf("%s batch %d t=%v: max|Δ|/max|ref| = %.3g", preset, len(ts), ts, e)
				if e > parityTol {
					t.Errorf("%s batch %d t=%v: relative error %.3g > %g", preset, len(ts), ts, e, parityTol)
				}
				// The EMA and raw weights differ by 5%: the export must be the EMA's.
				if preset == "tiny" {
					other := gorgoniaScore(t, g, raw, x, ts)
					if d := relErr(other, want, len(ts)); d < 100*parityTol {
						t.Fatalf("raw and EMA networks agree to %.3g: the test cannot tell them apart", d)
					}
				}
			}
			if preset != "tiny" {
				return
			}
			rawModel := filepath.Join(dir, "raw.onnx")
			if err := Export(filepath.Join(dir, CheckpointName), rawModel, Options{Raw: true}); err != nil {
				t.Fatal(err)
			}
			ts := []float32{0.2, 0.8, 0.05}
			x := noisyImages(g, ts, r)
			e := relErr(ortScore(t, rawModel, x, ts), gorgoniaScore(t, g, raw, x, ts), len(ts))
			t.Logf("tiny --raw batch 3: max|Δ|/max|ref| = %.3g", e)
			if e > parityTol {
				t.Errorf("tiny --raw: relative error %.3g > %g", e, parityTol)
			}
		})
	}
}

// standardOps are the operators the exporter may emit (all in the standard domain at
// opset ≤ 17).
var standardOps = map[string]bool{
	"Add": true, "Cast": true, "Concat": true, "Conv": true, "ConvTranspose": true, "Cos": true,
	"Div": true, "Exp": true, "Gather": true, "Gemm": true, "Identity": true, "InstanceNormalization": true, "MatMul": true,
	"Mul": true, "Neg": true, "ReduceSum": true, "Reshape": true, "Round": true, "Sigmoid": true, "Sin": true, "Softmax": true,
	"Sub": true, "Transpose": true, "Unsqueeze": true,
}

// TestInspectCountsEverything: infer/ort's inspect follows the shapes through every node
// of an exported small model (no operator left uncounted), and its count of the matrix
// products (Conv, ConvTranspose, MatMul, Gemm) is the description's ForwardFLOPs plus the
// FIR convolutions (2·16 FLOPs per output pixel of a 4×4 depthwise Conv, per input pixel
// of a ConvTranspose) and
// the biases (one addition per output of a Conv or Gemm, which ForwardFLOPs leaves out),
// to 1% (the counter may count a few more per-output terms).
func TestInspectCountsEverything(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	g, _, _ := testCheckpoint(t, "small", dir, 4)
	model := filepath.Join(dir, "m.onnx")
	if err := Export(dir, model, Options{}); err != nil {
		t.Fatal(err)
	}
	r, err := ort.Inspect(context.Background(), model, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Uncounted) != 0 {
		t.Errorf("inspect could not count %v", r.Uncounted)
	}
	want := g.ForwardFLOPs()
	for _, n := range g.Nodes {
		out := 1
		for _, d := range n.Shape {
			out *= d
		}
		switch n.Op {
		case ncsnpp.OpFIRDown:
			want += 2 * 16 * float64(out)
		case ncsnpp.OpFIRUp: // ConvTranspose counted per input pixel (the scatter)
			want += 2 * 16 * float64(out) / 4
		case ncsnpp.OpConv, ncsnpp.OpDense:
			want += float64(out)
		}
	}
	var got float64
	for _, op := range []string{"Conv", "ConvTranspose", "MatMul", "Gemm"} {
		got += float64(r.ByOp[op])
	}
	t.Logf("inspect: %.4g FLOP in all, %.4g in products; description %.4g + FIR and biases = %.4g", float64(r.FLOPs), got, g.ForwardFLOPs(), want)
	if math.Abs(got-want) > 0.01*want {
		t.Errorf("inspect counts %.4g FLOP in products, want %.4g", got, want)
	}
}

// TestModelStructure checks the contract's inputs, output, dynamic batch axis, opset and
// metadata of an exported tiny model, and that every node is a standard operator, without
// the runtime.
func TestModelStructure(t *testing.T) {
	dir := t.TempDir()
	g, _, ema := testCheckpoint(t, "tiny", dir, 2)
	model := filepath.Join(dir, "m.onnx")
	if err := Export(dir, model, Options{Version: "v-test", DataScale: 2.5}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.OpsetImport) != 1 || m.OpsetImport[0].GetDomain() != "" || m.OpsetImport[0].GetVersion() != Opset {
		t.Errorf("opset_import = %v, want the standard domain at %d", m.OpsetImport, Opset)
	}
	if m.GetProducerVersion() != "v-test" {
		t.Errorf("producer_version = %q", m.GetProducerVersion())
	}
	gr := m.GetGraph()
	dims := func(v *onnxpb.ValueInfoProto) string {
		tt := v.GetType().GetTensorType()
		var s []string
		for _, d := range tt.GetShape().GetDim() {
			if d.GetDimParam() != "" {
				s = append(s, d.GetDimParam())
			} else {
				s = append(s, strconv.FormatInt(d.GetDimValue(), 10))
			}
		}
		return v.GetName() + ":" + onnxpb.TensorProto_DataType(tt.GetElemType()).String() + "[" + strings.Join(s, ",") + "]"
	}
	var ins []string
	for _, v := range gr.Input {
		ins = append(ins, dims(v))
	}
	if got := strings.Join(ins, " "); got != "x:FLOAT[batch,1,16,16] t:FLOAT[batch]" {
		t.Errorf("inputs = %s", got)
	}
	if len(gr.Output) != 1 || dims(gr.Output[0]) != "score:FLOAT[batch,1,16,16]" {
		t.Errorf("outputs = %v", gr.Output)
	}
	ops := map[string]int{}
	for _, n := range gr.Node {
		if n.GetDomain() != "" || !standardOps[n.GetOpType()] {
			t.Errorf("node %s: operator %q (domain %q) is not in the expected standard set", n.GetName(), n.GetOpType(), n.GetDomain())
		}
		ops[n.GetOpType()]++
	}
	// One Conv per description conv plus one per fir_down; one ConvTranspose per fir_up;
	// one InstanceNormalization per group_norm; one Softmax per attention.
	count := map[ncsnpp.Op]int{}
	for _, n := range g.Nodes {
		count[n.Op]++
	}
	for op, want := range map[string]int{
		"Conv": count[ncsnpp.OpConv] + count[ncsnpp.OpFIRDown], "ConvTranspose": count[ncsnpp.OpFIRUp],
		"InstanceNormalization": count[ncsnpp.OpGroupNorm], "Softmax": count[ncsnpp.OpAttention],
		"Gemm": count[ncsnpp.OpDense],
	} {
		if ops[op] != want {
			t.Errorf("%d %s nodes, want %d", ops[op], op, want)
		}
	}
	// Every parameter is an initialiser under its own name, with the EMA values.
	inits := map[string]*onnxpb.TensorProto{}
	for _, in := range gr.Initializer {
		inits[in.GetName()] = in
	}
	for i, p := range g.Params {
		in, ok := inits[p.Name]
		if !ok {
			t.Errorf("parameter %q is not an initialiser", p.Name)
			continue
		}
		got := in.FloatData
		if len(got) == 0 { // the Fourier frequencies are stored as float64
			for _, v := range in.DoubleData {
				got = append(got, float32(v))
			}
		}
		if len(got) != len(ema[i]) || got[0] != ema[i][0] || got[len(got)-1] != ema[i][len(got)-1] {
			t.Errorf("initialiser %q does not hold the EMA values", p.Name)
		}
	}
	meta := map[string]string{}
	for _, p := range m.MetadataProps {
		meta[p.GetKey()] = p.GetValue()
	}
	for k, want := range map[string]string{
		MetaSDE: "ve", MetaSigmaMin: "0.01", MetaSigmaMax: "20", MetaChannels: "1", MetaHeight: "16",
		MetaWidth: "16", MetaDataScale: "2.5", MetaWeights: "ema",
	} {
		if meta[k] != want {
			t.Errorf("metadata %s = %q, want %q", k, meta[k], want)
		}
	}
	tr := meta[MetaTraining]
	for _, want := range []string{"synthetic.fits", "42 steps", "peak normalisation", "ncsnpp tiny", "nf 16", "ch_mult 1,2,2"} {
		if !strings.Contains(tr, want) {
			t.Errorf("scorelens.training %q lacks %q", tr, want)
		}
	}
	if strings.ContainsAny(tr, "\n\r") {
		t.Errorf("scorelens.training is not one line: %q", tr)
	}
	if meta[MetaConfig] == "" {
		t.Error("no scorelens.ncsnpp_config")
	}
	// Deterministic: the same checkpoint exports to the same bytes.
	again := filepath.Join(dir, "again.onnx")
	if err := Export(dir, again, Options{Version: "v-test", DataScale: 2.5}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(again); string(b) != string(data) {
		t.Error("two exports of one checkpoint differ")
	}
}

// TestExportRefuses: bad inputs give one-line errors that name the problem, and leave no
// output file.
func TestExportRefuses(t *testing.T) {
	dir := t.TempDir()
	testCheckpoint(t, "tiny", dir, 3)
	ck := filepath.Join(dir, CheckpointName)
	corrupt := filepath.Join(dir, "corrupt.ckpt")
	b, err := os.ReadFile(ck)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(corrupt, b, 0o644); err != nil {
		t.Fatal(err)
	}
	notCkpt := filepath.Join(dir, "x.txt")
	if err := os.WriteFile(notCkpt, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	for _, c := range []struct {
		name, ckpt, out string
		opt             Options
		want            string
	}{
		{"missing", filepath.Join(dir, "nope.ckpt"), "m.onnx", Options{}, "could not open checkpoint"},
		{"empty run folder", empty, "m.onnx", Options{}, "holds no checkpoint.ckpt"},
		{"corrupt", corrupt, "m.onnx", Options{}, "SHA-256 mismatch"},
		{"not a checkpoint", notCkpt, "m.onnx", Options{}, "not a scorelens checkpoint"},
		{"no checkpoint", "", "m.onnx", Options{}, "no checkpoint given"},
		{"no output", ck, "", Options{}, "no output file given"},
		{"bad data scale", ck, "m.onnx", Options{DataScale: -1}, "data scale must be a positive number"},
		{"output folder missing", ck, "no/such/dir/m.onnx", Options{}, "could not write"},
	} {
		out := c.out
		if out != "" && !filepath.IsAbs(out) {
			out = filepath.Join(dir, out)
		}
		err := Export(c.ckpt, out, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.ContainsAny(err.Error(), "\n\r") {
			t.Errorf("%s: error %v, want one line containing %q", c.name, err, c.want)
		}
		if _, serr := os.Stat(filepath.Join(dir, "m.onnx")); serr == nil {
			t.Errorf("%s: an output file was written", c.name)
		}
	}
}

// TestGraphRefusesBadValues: non-finite or mis-sized parameters are errors, not panics.
func TestGraphRefusesBadValues(t *testing.T) {
	cfg, _ := ncsnpp.Preset("tiny")
	g, err := ncsnpp.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vals := g.Init(rand.New(rand.NewPCG(1, 1)))
	if _, err := Graph(g, vals[:3]); err == nil {
		t.Error("too few parameter tensors accepted")
	}
	vals[5] = vals[5][:1]
	if _, err := Graph(g, vals); err == nil || !strings.Contains(err.Error(), g.Params[5].Name) {
		t.Errorf("short parameter: %v", err)
	}
	vals = g.Init(rand.New(rand.NewPCG(1, 1)))
	vals[2][0] = float32(0) / float32(len(vals[0])-len(vals[0]))
	if _, err := Graph(g, vals); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN parameter: %v", err)
	}
}

// The training line of a fine-tuned checkpoint names the checkpoint it started from; that
// of a run from scratch does not mention fine-tuning.
func TestTrainingLineFineTuned(t *testing.T) {
	cfg, err := ncsnpp.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	ck := &train.Checkpoint{Config: cfg, Step: 20000,
		Dataset: train.DatasetID{Path: "/data/ft.fits", SHA256: "bbbbbbbbbbbbbbbb", Count: 10, Size: 16, Norm: "peak"}}
	if tr := TrainingLine(ck, "ema"); strings.Contains(tr, "fine-tuned") || !strings.Contains(tr, "20000 steps, ema weights") {
		t.Errorf("training line of a run from scratch: %q", tr)
	}
	ck.InitFrom = &train.InitSource{Path: "/runs/base/checkpoint.ckpt", SHA256: "cccccccccccccccccccc", Step: 16922,
		Dataset: train.DatasetID{Path: "/data/base.fits", SHA256: "aaaaaaaaaaaaaaaa"}}
	want := "20000 steps (fine-tuned from step 16922 of checkpoint sha256 cccccccccccc, trained on base.fits, sha256 aaaaaaaaaaaa), ema weights"
	if tr := TrainingLine(ck, "ema"); !strings.Contains(tr, want) || strings.Contains(tr, "offset head") {
		t.Errorf("training line %q lacks %q (or names an offset head)", tr, want)
	}
	// Started from an exported model (train --init-from model.onnx), which has no step or data
	// set to name.
	ck.InitFrom = &train.InitSource{Path: "/models/expert.onnx", SHA256: "dddddddddddddddd", Kind: train.InitKindModel}
	want = "20000 steps (fine-tuned from the weights of the ONNX model expert.onnx, sha256 dddddddddddd), ema weights"
	if tr := TrainingLine(ck, "ema"); !strings.Contains(tr, want) {
		t.Errorf("training line %q lacks %q", tr, want)
	}
	ck.Config.OffsetHead = true
	if tr := TrainingLine(ck, "ema"); !strings.HasSuffix(tr, ", offset head") {
		t.Errorf("training line of a network with the offset head: %q", tr)
	}
}
