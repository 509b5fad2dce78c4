package export

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"scorelens/infer/ort"
	"scorelens/trainer/ncsnpp"
	"scorelens/trainer/net"
	"scorelens/trainer/train"
)

// nonTrivial returns parameter values in which nothing is left at a value that hides a
// mistake: the reference initialiser's draws, with the zero-initialised (init_scale 0 →
// 1e-10) convolutions redrawn at scale 1, biases and GroupNorm shifts drawn from N(0, 0.1²)
// instead of 0 and GroupNorm scales from 1 + N(0, 0.1²) instead of 1. Without this the
// last convolution of every residual block and the output pyramid would be ~1e-10 and
// the score almost independent of everything but the skip paths.
func nonTrivial(g *ncsnpp.Graph, r *rand.Rand) [][]float32 {
	vals := g.Init(r)
	for i, p := range g.Params {
		v := vals[i]
		switch p.Init.Kind {
		case "zeros":
			for j := range v {
				v[j] = float32(0.1 * r.NormFloat64())
			}
		case "ones":
			for j := range v {
				v[j] = float32(1 + 0.1*r.NormFloat64())
			}
		case "fan_avg_uniform":
			if p.Init.Scale < 1e-3 {
				a := math.Sqrt(3 / (float64(p.Init.FanIn+p.Init.FanOut) / 2))
				for j := range v {
					v[j] = float32((2*r.Float64() - 1) * a)
				}
			}
		}
	}
	return vals
}

// perturb returns a copy of vals with every trainable value moved by a relative 5%: EMA
// weights that differ from the raw ones, so that exporting the wrong set is detected.
func perturb(g *ncsnpp.Graph, vals [][]float32, r *rand.Rand) [][]float32 {
	out := make([][]float32, len(vals))
	for i, v := range vals {
		out[i] = append([]float32(nil), v...)
		if !g.Params[i].Trainable {
			continue
		}
		for j := range out[i] {
			out[i][j] *= float32(1 + 0.05*r.NormFloat64())
		}
	}
	return out
}

// testCheckpoint writes a checkpoint of the preset (σmax 20) with non-trivial raw and EMA
// weights into dir/checkpoint.ckpt and returns the description and both weight sets.
func testCheckpoint(t testing.TB, preset, dir string, seed uint64) (g *ncsnpp.Graph, raw, ema [][]float32) {
	t.Helper()
	name, offset := strings.CutSuffix(preset, "+offset")
	cfg, err := ncsnpp.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SigmaMax = 20
	cfg.OffsetHead = offset
	g, err = ncsnpp.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	raw = nonTrivial(g, r)
	for i, p := range g.Params {
		// κ of N(0, 0.1²) weights would be ~8: the head's shift κ·level/σ would swamp the
		// U-Net's output at small σ and the comparison would test the head alone.
		if strings.HasPrefix(p.Name, "offset.kappa.") {
			for j := range raw[i] {
				raw[i][j] *= 0.01
			}
		}
	}
	ema = perturb(g, raw, r)
	ck := &train.Checkpoint{
		Software: "export test", Config: cfg, ConfigSHA256: train.ConfigHash(cfg),
		HParams: train.DefaultHParams(), SigmaMaxRule: "given",
		Dataset: train.DatasetID{Path: "/data/synthetic.fits", SHA256: "0123456789abcdef0123", Count: 8, Size: cfg.Size, Norm: "peak"},
		Step:    42,
		Weights: map[string][]float32{}, EMA: map[string][]float32{}, AdamM: map[string][]float32{}, AdamV: map[string][]float32{},
	}
	for i, p := range g.Params {
		ck.Weights[p.Name], ck.EMA[p.Name] = raw[i], ema[i]
		if p.Trainable {
			ck.AdamM[p.Name] = make([]float32, p.Size())
			ck.AdamV[p.Name] = make([]float32, p.Size())
		}
	}
	if err := train.SaveCheckpoint(filepath.Join(dir, CheckpointName), ck); err != nil {
		t.Fatal(err)
	}
	return g, raw, ema
}

// gorgoniaScore runs the trainer's forward pass (float32) of g with vals on x at times ts.
func gorgoniaScore(t *testing.T, g *ncsnpp.Graph, vals [][]float32, x, ts []float32) []float32 {
	t.Helper()
	n, err := net.New(g, len(ts), tensor.Float32, false)
	if err != nil {
		t.Fatal(err)
	}
	n.SetParams(vals)
	copy(n.X.Data().([]float32), x)
	copy(n.T.Data().([]float32), ts)
	m := n.Machine()
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), n.Score.Value().Data().([]float32)...)
}

// needRuntime skips the test when the ONNX Runtime library cannot be loaded.
func needRuntime(t testing.TB) {
	t.Helper()
	if _, _, err := ort.Init(""); err != nil {
		if errors.Is(err, ort.ErrNoLibrary) {
			t.Skipf("ONNX Runtime library not found (set ORT_LIB or run make deps): %v", err)
		}
		t.Fatal(err)
	}
}

// ortScore runs the exported model through infer/ort (the sampler's path; data_scale 1 and
// the metadata's σ range, so the network sees x and t unchanged).
func ortScore(t *testing.T, path string, x, ts []float32) []float32 {
	t.Helper()
	m, err := ort.Open(path, ort.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dst := make([]float32, len(x))
	if err := m.Score(context.Background(), dst, x, ts); err != nil {
		t.Fatal(err)
	}
	return dst
}

// relErr returns, over the images of a batch, the worst max|got − want| / max|want| of one
// image (each image on its own, since the score's size scales as 1/σ(t)).
func relErr(got, want []float32, batch int) float64 {
	n := len(want) / batch
	worst := 0.0
	for b := 0; b < batch; b++ {
		var d, m float64
		for i := b * n; i < (b+1)*n; i++ {
			d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
			m = math.Max(m, math.Abs(float64(want[i])))
		}
		if m == 0 || math.IsNaN(d) {
			return math.Inf(1)
		}
		worst = math.Max(worst, d/m)
	}
	return worst
}

// noisyImages returns batch images x = s + σ(t)·z: a smooth blob plus the noise of time t.
func noisyImages(g *ncsnpp.Graph, ts []float32, r *rand.Rand) []float32 {
	c := g.Config
	n := c.Channels * c.Size * c.Size
	x := make([]float32, len(ts)*n)
	for b, tb := range ts {
		sigma := c.SigmaMin * math.Pow(c.SigmaMax/c.SigmaMin, float64(tb))
		for i := 0; i < n; i++ {
			px, py := float64(i%c.Size)-float64(c.Size)/2, float64((i/c.Size)%c.Size)-float64(c.Size)/2
			s := math.Exp(-(px*px + py*py) / (2 * float64(c.Size*c.Size) / 16))
			x[b*n+i] = float32(s + sigma*r.NormFloat64())
		}
	}
	return x
}
