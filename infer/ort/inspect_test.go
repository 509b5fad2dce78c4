package ort

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"scorelens/export/onnxbuild"
	"scorelens/export/onnxpb"

	"google.golang.org/protobuf/proto"
)

// convNet is a small contract model with hand-countable FLOPs at batch 1 on 1×16×16:
//
//	Conv 1→8, 3×3, pad 1, bias:   2·8·16·16·(1·9) + 8·16·16 = 36864 + 2048
//	Sigmoid, Mul (SiLU):          2·8·16·16                 = 4096
//	GroupNormalization (2 groups): 5·8·16·16                 = 10240
//	Conv 8→1, 3×3, stride 1, pad 1, no bias: 2·1·16·16·(8·9) = 36864
//	Add of t·w broadcast:         Mul [B]·[1] = 1, Reshape 0, Add 256 = 257
//
// total 90369; parameters 8·9 + 8 + 2 + 2 + 72 + 1 = 157 (the int64 shape is not counted).
func convNet(t *testing.T) string {
	b := onnxbuild.New("convnet", 18)
	img := []onnxbuild.Dim{onnxbuild.Dynamic("N"), onnxbuild.Fixed(1), onnxbuild.Fixed(16), onnxbuild.Fixed(16)}
	b.Input("x", onnxbuild.Float32, img...)
	b.Input("t", onnxbuild.Float32, onnxbuild.Dynamic("N"))
	w1 := b.Float32("w1", []int64{8, 1, 3, 3}, make([]float32, 72))
	b1 := b.Float32("b1", []int64{8}, make([]float32, 8))
	h := b.Op("Conv", []onnxbuild.Attr{onnxbuild.Ints("pads", 1, 1, 1, 1)}, "x", w1, b1)
	h = b.Op("Mul", nil, h, b.Op("Sigmoid", nil, h))
	// Opset 18 GroupNormalization has one scale and bias per group.
	gs := b.Float32("gs", []int64{2}, []float32{1, 1})
	gb := b.Float32("gb", []int64{2}, make([]float32, 2))
	h = b.Op("GroupNormalization", []onnxbuild.Attr{onnxbuild.Int("num_groups", 2)}, h, gs, gb)
	w2 := b.Float32("w2", []int64{1, 8, 3, 3}, make([]float32, 72))
	h = b.Op("Conv", []onnxbuild.Attr{onnxbuild.Ints("kernel_shape", 3, 3), onnxbuild.Ints("pads", 1, 1, 1, 1), onnxbuild.Ints("strides", 1, 1)}, h, w2)
	tw := b.Op("Mul", nil, "t", b.Float32("tw", []int64{1}, []float32{0.5}))
	tw = b.Op("Reshape", nil, tw, b.Int64("", []int64{4}, []int64{-1, 1, 1, 1}))
	b.Node("Add", []string{h, tw}, []string{"score"})
	b.Output("score", onnxbuild.Float32, img...)
	b.Metadata(MetaSigmaMin, "0.01")
	b.Metadata(MetaSigmaMax, "10")
	b.Metadata(MetaTraining, "none: a test graph")
	p := filepath.Join(t.TempDir(), "convnet.onnx")
	if err := b.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInspectCounts(t *testing.T) {
	path := convNet(t)
	f, err := readModel(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.resolve(Options{})
	if err != nil {
		t.Fatal(err)
	}
	total, byOp, unc := countFLOPs(f.proto.GetGraph(), c)
	if total != 90369 || len(unc) != 0 {
		t.Errorf("FLOPs = %d (by op %v, uncounted %v), want 90369 counted by hand", total, byOp, unc)
	}
	if byOp["Conv"] != 36864+2048+36864 || byOp["GroupNormalization"] != 10240 {
		t.Errorf("by op %v", byOp)
	}
	r, err := Inspect(context.Background(), path, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Parameters != 157 {
		t.Errorf("parameters = %d, want 157", r.Parameters)
	}
	if r.FLOPs != 90369 || r.Nodes != 8 || r.Opsets[""] != 18 {
		t.Errorf("report %+v", r)
	}
	var buf bytes.Buffer
	r.WriteTo(&buf)
	out := buf.String()
	for _, want := range []string{
		"input       x float32 [N, 1, 16, 16]",
		"output      score float32 [N, 1, 16, 16]",
		"metadata    scorelens.sigma_max = 10",
		"8 nodes, 157 parameters",
		"90369 FLOP per forward pass at batch 1 (Add 0.3%, Conv 83.9%, GroupNormalization 11.3%, Mul 2.3%, Sigmoid 2.3%)",
		`image input "x", time input "t", output "score" (default)`,
		"the diffusion time t ∈ [0, 1] (default); output is the score (default)",
		"images C×H×W 1×16×16 (graph), dynamic batch",
		"VE SDE σ ∈ [0.01, 10] in physical units (metadata)",
		"data scale 1 (default)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := Init(""); err == nil && !strings.Contains(r.Runtime, "loads, one forward pass at batch 1") {
		t.Errorf("runtime line %q", r.Runtime)
	}
}

// Shapes the exporter left in value_info stand in for operators the counter does not
// propagate (here Slice), so what follows them is still counted.
func TestFLOPsValueInfo(t *testing.T) {
	b := onnxbuild.New("vi", 17)
	img := []onnxbuild.Dim{onnxbuild.Dynamic("B"), onnxbuild.Fixed(2), onnxbuild.Fixed(4), onnxbuild.Fixed(4)}
	b.Input("x", onnxbuild.Float32, img...)
	b.Input("t", onnxbuild.Float32, onnxbuild.Dynamic("B"))
	s := b.Op("Slice", nil, "x", b.Int64("", []int64{1}, []int64{0}), b.Int64("", []int64{1}, []int64{1}), b.Int64("", []int64{1}, []int64{1}))
	y := b.Op("Exp", nil, s) // 16 FLOPs if Slice's [B,1,4,4] is known
	b.Node("Concat", []string{y, y}, []string{"score"}, onnxbuild.Int("axis", 1))
	b.Output("score", onnxbuild.Float32, img...)
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	c := Conventions{InputName: "x", TimeName: "t", Channels: 2, Height: 4, Width: 4}
	if total, _, unc := countFLOPs(m.Graph, c); total != 0 || unc["Exp"] != 1 {
		t.Errorf("without value_info: %d FLOPs, uncounted %v; want Exp uncounted", total, unc)
	}
	vi := m.Graph.Output[0]
	m.Graph.ValueInfo = append(m.Graph.ValueInfo, cloneVI(vi, s, 1))
	if total, _, unc := countFLOPs(m.Graph, c); total != 16 || len(unc) != 0 {
		t.Errorf("with value_info: %d FLOPs, uncounted %v; want 16", total, unc)
	}
}

func TestCUDAWithoutProvider(t *testing.T) {
	requireORT(t)
	g := defaultGauss()
	_, err := Open(g.build(t), Options{Device: "cuda:0"})
	if err == nil {
		t.Skip("this ONNX Runtime library has the CUDA provider and a GPU answered")
	}
	if !strings.Contains(err.Error(), "device cuda:0: ") || !strings.Contains(err.Error(), "CUDA") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q does not say that CUDA is missing on one line", err)
	}
	t.Logf("cpu library asked for cuda: %v", err)
}

// The nodes and weights inside an If node's branches count: a joined model keeps both
// networks there (1 If + 2 + 1 nodes; 6 + 4 + 3 parameters; the int64 tensor is not one).
func TestGraphSizeCountsSubgraphs(t *testing.T) {
	f32, i64 := proto.Int32(int32(onnxpb.TensorProto_FLOAT)), proto.Int32(int32(onnxpb.TensorProto_INT64))
	thenG := &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{{OpType: proto.String("Conv")}, {OpType: proto.String("Add")}},
		Initializer: []*onnxpb.TensorProto{{Dims: []int64{2, 2}, DataType: f32}}}
	elseG := &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{{OpType: proto.String("Conv")}},
		Initializer: []*onnxpb.TensorProto{{Dims: []int64{3}, DataType: f32}, {Dims: []int64{5}, DataType: i64}}}
	g := &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{{OpType: proto.String("If"), Attribute: []*onnxpb.AttributeProto{
			{Name: proto.String("then_branch"), G: thenG}, {Name: proto.String("else_branch"), G: elseG}}}},
		Initializer: []*onnxpb.TensorProto{{Dims: []int64{2, 3}, DataType: f32}},
	}
	if nodes, params := graphSize(g); nodes != 4 || params != 13 {
		t.Errorf("graphSize: %d nodes, %d parameters; want 4 and 13", nodes, params)
	}
}
