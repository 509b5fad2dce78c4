package ort

import (
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"scorelens/export/onnxbuild"
	"scorelens/export/onnxpb"
)

// The analytic Gaussian test model: a prior N(m, s² I) on 1×h×w images, whose VE-SDE
// score at every t is exact (Adam et al. 2022, eq. 7 with a Gaussian p₀):
//
//	∇x log p_t(x) = −(x − m)/(s² + σ(t)²),  σ(t) = σmin·(σmax/σmin)^t.
//
// The graph computes it from its time input with the σ range of its metadata, in the
// convention asked for, so Score can be checked against the formula in float64.
type gauss struct {
	mean, s            float64
	sigmaMin, sigmaMax float64 // written to the metadata (model units); 0 leaves them out
	h, w               int
	timeInput, output  string // conventions of the graph (TimeT, OutputScore, …)
	xName, tName, out  string // tensor names; "" is the contract's
	dataScale          float64
	batch              onnxbuild.Dim // the batch axis; zero value: dynamic
}

func defaultGauss() gauss {
	return gauss{mean: 0.3, s: 0.5, sigmaMin: 0.01, sigmaMax: 50, h: 8, w: 8, timeInput: TimeT, output: OutputScore}
}

func (g gauss) build(t *testing.T) string {
	t.Helper()
	xn, tn, on := or(g.xName, "x"), or(g.tName, "t"), or(g.out, "score")
	b := onnxbuild.New("gauss", 17)
	batch := g.batch
	if batch == (onnxbuild.Dim{}) {
		batch = onnxbuild.Dynamic("batch")
	}
	img := []onnxbuild.Dim{batch, onnxbuild.Fixed(1), onnxbuild.Fixed(int64(g.h)), onnxbuild.Fixed(int64(g.w))}
	b.Input(xn, onnxbuild.Float32, img...)
	b.Input(tn, onnxbuild.Float32, batch)
	// σ per image, [B], from the time input.
	var sig string
	switch g.timeInput {
	case TimeT:
		lr := b.Scalar(float32(math.Log(g.sigmaMax / g.sigmaMin)))
		sig = b.Op("Mul", nil, b.Op("Exp", nil, b.Op("Mul", nil, tn, lr)), b.Scalar(float32(g.sigmaMin)))
	case TimeSigma:
		sig = tn
	case TimeLogSigma:
		sig = b.Op("Exp", nil, tn)
	}
	sig4 := b.Op("Reshape", nil, sig, b.Int64("", []int64{4}, []int64{-1, 1, 1, 1}))
	den := b.Op("Add", nil, b.Op("Mul", nil, sig4, sig4), b.Scalar(float32(g.s*g.s)))
	score := b.Op("Div", nil, b.Op("Neg", nil, b.Op("Sub", nil, xn, b.Scalar(float32(g.mean)))), den)
	var out string
	switch g.output {
	case OutputScore:
		out = score
	case OutputNoise: // ε = −σ·score
		out = b.Op("Neg", nil, b.Op("Mul", nil, score, sig4))
	case OutputSigmaScore:
		out = b.Op("Mul", nil, score, sig4)
	}
	b.Node("Identity", []string{out}, []string{on})
	b.Output(on, onnxbuild.Float32, img...)
	b.Metadata(MetaSDE, "ve")
	if g.sigmaMin > 0 {
		b.Metadata(MetaSigmaMin, strconv.FormatFloat(g.sigmaMin, 'g', -1, 64))
		b.Metadata(MetaSigmaMax, strconv.FormatFloat(g.sigmaMax, 'g', -1, 64))
	}
	b.Metadata(MetaChannels, "1")
	b.Metadata(MetaHeight, strconv.Itoa(g.h))
	b.Metadata(MetaWidth, strconv.Itoa(g.w))
	if g.dataScale != 0 {
		b.Metadata(MetaDataScale, strconv.FormatFloat(g.dataScale, 'g', -1, 64))
	}
	b.Metadata(MetaTraining, "analytic Gaussian N(m, s² I), no training")
	path := filepath.Join(t.TempDir(), "gauss.onnx")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// requireORT skips the test when the ONNX Runtime library cannot be loaded.
func requireORT(t testing.TB) {
	t.Helper()
	if _, _, err := Init(""); err != nil {
		t.Skipf("ONNX Runtime not available, skipping (run `make test`, which fetches it, or set ORT_LIB): %v", err)
	}
}

// cloneVI returns a copy of value info v renamed to name with channel dimension ch.
func cloneVI(v *onnxpb.ValueInfoProto, name string, ch int64) *onnxpb.ValueInfoProto {
	c := proto.Clone(v).(*onnxpb.ValueInfoProto)
	c.Name = proto.String(name)
	c.GetType().GetTensorType().GetShape().GetDim()[1].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: ch}
	return c
}
