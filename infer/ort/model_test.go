package ort

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scorelens/export/onnxbuild"
)

// wantScore is the exact score of the physical Gaussian N(ds·m, ds²s²) at physical noise
// scale σ: −(x − ds·m)/(ds²s² + σ²).
func wantScore(g gauss, ds, sigma float64, x float32) float64 {
	m, s := ds*g.mean, ds*g.s
	return -(float64(x) - m) / (s*s + sigma*sigma)
}

// checkScore runs m at the times ts and compares every pixel with the formula, under the
// sampling σ range [smin, smax] (physical units).
func checkScore(t *testing.T, m *Model, g gauss, ds, smin, smax float64, ts []float32, tol float64) {
	t.Helper()
	c, h, w := m.Shape()
	n := c * h * w
	rng := rand.New(rand.NewPCG(1, uint64(len(ts))))
	x := make([]float32, len(ts)*n)
	for i := range x {
		// Images at the scale of the noise they would carry: up to a few σmax.
		x[i] = float32(ds * (g.mean + 3*rng.NormFloat64()))
	}
	dst := make([]float32, len(x))
	if err := m.Score(context.Background(), dst, x, ts); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for b, tb := range ts {
		sigma := smin * math.Pow(smax/smin, float64(tb))
		for k := 0; k < n; k++ {
			i := b*n + k
			want := wantScore(g, ds, sigma, x[i])
			rel := math.Abs(float64(dst[i])-want) / math.Max(math.Abs(want), 1e-30)
			worst = math.Max(worst, rel)
		}
	}
	t.Logf("batch %d: worst relative error %.3g", len(ts), worst)
	if worst > tol {
		t.Errorf("batch %d: worst relative error %.3g > %.3g", len(ts), worst, tol)
	}
}

// Relative tolerance of float32 score evaluation against the float64 formula: the graph
// does ~10 float32 operations (unit roundoff 6e-8 each) and exp(t·ln(σmax/σmin)) amplifies
// the rounding of its argument by up to ln(5000) ≈ 8.5, so errors stay well below 1e-5.
const scoreTol = 1e-5

func TestGaussianScore(t *testing.T) {
	requireORT(t)
	g := defaultGauss()
	m, err := Open(g.build(t), Options{Threads: 1, Channels: 1, Height: 8, Width: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if c, h, w := m.Shape(); c != 1 || h != 8 || w != 8 {
		t.Fatalf("shape %d×%d×%d", c, h, w)
	}
	if lo, hi := m.SigmaRange(); lo != 0.01 || hi != 50 {
		t.Fatalf("sigma range [%g, %g], want the metadata's [0.01, 50]", lo, hi)
	}
	for _, ts := range [][]float32{{0}, {0.37}, {1}, {0, 0.5, 1}, {0.9, 0.1, 0.25}} {
		checkScore(t, m, g, 1, 0.01, 50, ts, scoreTol)
	}
	// The same batch size twice reuses the tensors; a batch of 1 after 3 as well.
	checkScore(t, m, g, 1, 0.01, 50, []float32{0.2, 0.4, 0.6}, scoreTol)
	if len(m.bufs) != 2 {
		t.Errorf("%d tensor sets allocated for batch sizes 1 and 3", len(m.bufs))
	}
}

// Every convention of time input and output, given by options or by metadata, gives the
// same score.
func TestConventions(t *testing.T) {
	requireORT(t)
	for _, ti := range []string{TimeT, TimeSigma, TimeLogSigma} {
		for _, out := range []string{OutputScore, OutputNoise, OutputSigmaScore} {
			g := defaultGauss()
			g.timeInput, g.output = ti, out
			m, err := Open(g.build(t), Options{Threads: 1, TimeInput: ti, Output: out})
			if err != nil {
				t.Fatalf("%s/%s: %v", ti, out, err)
			}
			for _, ts := range [][]float32{{0.05}, {0, 0.6, 1}} {
				checkScore(t, m, g, 1, 0.01, 50, ts, scoreTol)
			}
			if c := m.Conventions(); c.TimeInput != ti || c.Output != out || c.Origin["time-input"] != "option" {
				t.Errorf("conventions %+v", c)
			}
			m.Close()
		}
	}
}

// A sampling σ range other than the network's: the adapter maps the sampler's σ(t) onto
// the network's own t, so the score is that of the sampling SDE's noise scale.
func TestSamplingRangeDiffers(t *testing.T) {
	requireORT(t)
	g := defaultGauss()
	m, err := Open(g.build(t), Options{Threads: 1, SigmaMin: 0.05, SigmaMax: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// The t' = ln(σ/σmin)/ln(σmax/σmin) mapping rounds t' to float32 (6e-8 relative on
	// t' ≤ 1), amplified by ln(5000) in the graph's exp: still below 1e-5.
	checkScore(t, m, g, 1, 0.05, 20, []float32{0, 0.3, 1}, scoreTol)
}

// data_scale: the network works in model units, the sampler in physical ones.
func TestDataScale(t *testing.T) {
	requireORT(t)
	g := defaultGauss()
	g.dataScale = 2.5
	m, err := Open(g.build(t), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.DataScale() != 2.5 {
		t.Fatalf("data scale %g", m.DataScale())
	}
	lo, hi := m.SigmaRange()
	if math.Abs(lo-0.025) > 1e-15 || math.Abs(hi-125) > 1e-12 {
		t.Fatalf("physical sigma range [%g, %g], want 2.5 × [0.01, 50]", lo, hi)
	}
	checkScore(t, m, g, 2.5, lo, hi, []float32{0.1, 0.7, 1}, scoreTol)
}

// A graph whose batch axis is fixed at 1 is run one image at a time.
func TestFixedBatchOne(t *testing.T) {
	requireORT(t)
	g := defaultGauss()
	g.batch = onnxbuild.Fixed(1)
	m, err := Open(g.build(t), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.Conventions().FixedBatch {
		t.Fatal("FixedBatch not set")
	}
	checkScore(t, m, g, 1, 0.01, 50, []float32{0.2, 0.5, 0.8}, scoreTol)
}

// Other tensor names, given by options.
func TestNames(t *testing.T) {
	requireORT(t)
	g := defaultGauss()
	g.xName, g.tName, g.out = "img", "sigma", "eps"
	g.timeInput, g.output = TimeSigma, OutputNoise
	path := g.build(t)
	m, err := Open(path, Options{Threads: 1, InputName: "img", TimeName: "sigma", OutputName: "eps", TimeInput: TimeSigma, Output: OutputNoise})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	checkScore(t, m, g, 1, 0.01, 50, []float32{0.4, 0.9, 0}, scoreTol)
}

// The optional metadata keys scorelens.time_input and scorelens.output are defaults.
func TestConventionMetadata(t *testing.T) {
	g := defaultGauss()
	g.timeInput, g.output = TimeLogSigma, OutputSigmaScore
	f, err := readModel(g.build(t))
	if err != nil {
		t.Fatal(err)
	}
	f.meta[MetaTimeInput], f.meta[MetaOutput] = TimeLogSigma, OutputSigmaScore
	c, err := f.resolve(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.TimeInput != TimeLogSigma || c.Output != OutputSigmaScore || c.Origin["output"] != "metadata" {
		t.Errorf("conventions %+v", c)
	}
	c, err = f.resolve(Options{Output: OutputScore})
	if err != nil || c.Output != OutputScore || c.Origin["output"] != "option" {
		t.Errorf("option does not override metadata: %+v, %v", c, err)
	}
}

// Models that break the contract are refused before any runtime work, each with a
// message naming the problem. These need no ONNX Runtime.
func TestRefused(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b *onnxbuild.Builder) string {
		p := filepath.Join(dir, name)
		if err := b.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// contract builds an identity "score model" with the given tensors.
	contract := func(xName string, xType onnxbuild.DataType, xDims []onnxbuild.Dim, meta map[string]string) *onnxbuild.Builder {
		b := onnxbuild.New("bad", 17)
		b.Input(xName, xType, xDims...)
		b.Input("t", onnxbuild.Float32, xDims[0])
		b.Node("Identity", []string{xName}, []string{"score"})
		b.Output("score", xType, xDims...)
		for k, v := range meta {
			b.Metadata(k, v)
		}
		return b
	}
	sigma := map[string]string{MetaSigmaMin: "0.01", MetaSigmaMax: "50"}
	B, F := onnxbuild.Dynamic("batch"), onnxbuild.Fixed
	img := []onnxbuild.Dim{B, F(1), F(64), F(64)}

	random := filepath.Join(dir, "random.onnx")
	noise := make([]byte, 4096)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(random, noise, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.onnx")
	os.WriteFile(empty, nil, 0o644)

	cases := []struct {
		name string
		path string
		opt  Options
		want string
	}{
		{"wrong input name", write("name.onnx", contract("image", onnxbuild.Float32, img, sigma)), Options{},
			`model has no input "x" (its inputs are "image", "t"); name the image input with --input-name`},
		{"wrong output name", write("out.onnx", contract("x", onnxbuild.Float32, img, sigma)), Options{OutputName: "eps"},
			`model has no output "eps" (its outputs are "score")`},
		{"rank 3", write("rank.onnx", contract("x", onnxbuild.Float32, []onnxbuild.Dim{B, F(64), F(64)}, sigma)), Options{},
			`input "x" has rank 3 ([batch, 64, 64]); the contract needs rank 4, [B, C, H, W]`},
		{"float64", write("f64.onnx", contract("x", onnxbuild.Float64, img, sigma)), Options{},
			`input "x" is float64; the contract needs float32`},
		{"16×16 for 64×64", write("small.onnx", contract("x", onnxbuild.Float32, []onnxbuild.Dim{B, F(1), F(16), F(16)}, sigma)),
			Options{Channels: 1, Height: 64, Width: 64},
			"model works on 16×16 images but the source grid is 64×64"},
		{"no sigma", write("nosigma.onnx", contract("x", onnxbuild.Float32, img, nil)), Options{},
			"model has no σ range (metadata scorelens.sigma_min, scorelens.sigma_max); pass --sigma-min and --sigma-max"},
		{"only sigma-min", write("nosigmamax.onnx", contract("x", onnxbuild.Float32, img, map[string]string{MetaSigmaMin: "0.01"})), Options{},
			"model has no metadata scorelens.sigma_max; pass --sigma-max"},
		{"fixed batch 4", write("batch4.onnx", contract("x", onnxbuild.Float32, []onnxbuild.Dim{F(4), F(1), F(64), F(64)}, sigma)), Options{},
			`"x" has a fixed batch size of 4; export it with a dynamic batch axis (or batch 1)`},
		{"metadata disagrees", write("meta.onnx", contract("x", onnxbuild.Float32, img, map[string]string{MetaSigmaMin: "0.01", MetaSigmaMax: "50", MetaHeight: "32"})), Options{},
			"metadata scorelens.height = 32 but input \"x\" is [batch, 1, 64, 64]"},
		{"vp sde", write("vp.onnx", contract("x", onnxbuild.Float32, img, map[string]string{MetaSigmaMin: "0.01", MetaSigmaMax: "50", MetaSDE: "vp"})), Options{},
			`model's SDE is "vp"`},
		{"bad sigma metadata", write("badsig.onnx", contract("x", onnxbuild.Float32, img, map[string]string{MetaSigmaMin: "abc", MetaSigmaMax: "50"})), Options{},
			`metadata scorelens.sigma_min = "abc" is not a positive number`},
		{"bad convention", write("conv.onnx", contract("x", onnxbuild.Float32, img, sigma)), Options{Output: "eps"},
			`output convention "eps": want score, noise or sigma-score`},
		{"random bytes", random, Options{}, "is not an ONNX model"},
		{"empty file", empty, Options{}, "is not an ONNX model"},
		{"missing file", filepath.Join(dir, "nope.onnx"), Options{}, "could not read model"},
		{"bad device", write("dev.onnx", contract("x", onnxbuild.Float32, img, sigma)), Options{Device: "gpu"}, `device "gpu": want cpu, cuda or cuda:N`},
	}
	for _, c := range cases {
		_, err := Open(c.path, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Open error = %v\nwant it to contain %q", c.name, err, c.want)
			continue
		}
		if strings.ContainsAny(err.Error(), "\n\r") {
			t.Errorf("%s: error is not one line: %q", c.name, err)
		}
		if c.opt.Device == "" {
			if _, err := Inspect(context.Background(), c.path, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: Inspect error = %v", c.name, err)
			}
		}
	}
	// With flags, the model without σ metadata is accepted.
	f, err := readModel(filepath.Join(dir, "nosigma.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := f.resolve(Options{SigmaMin: 0.01, SigmaMax: 50}); err != nil || c.NetSigmaMax != 50 || c.Origin["sigma"] != "option" {
		t.Errorf("flags do not stand in for σ metadata: %+v, %v", c, err)
	}
}

// slowModel multiplies a 1×n×n image by an n×n matrix k times: 2·k·n³ FLOPs.
func slowModel(t *testing.T, n, k int) string {
	b := onnxbuild.New("slow", 17)
	img := []onnxbuild.Dim{onnxbuild.Dynamic("batch"), onnxbuild.Fixed(1), onnxbuild.Fixed(int64(n)), onnxbuild.Fixed(int64(n))}
	b.Input("x", onnxbuild.Float32, img...)
	b.Input("t", onnxbuild.Float32, onnxbuild.Dynamic("batch"))
	w := make([]float32, n*n)
	for i := 0; i < n; i++ {
		w[i*n+i] = 1
	}
	wn := b.Float32("w", []int64{int64(n), int64(n)}, w)
	y := "x"
	for i := 0; i < k; i++ {
		y = b.Op("MatMul", nil, y, wn)
	}
	b.Node("Identity", []string{y}, []string{"score"})
	b.Output("score", onnxbuild.Float32, img...)
	b.Metadata(MetaSigmaMin, "0.01")
	b.Metadata(MetaSigmaMax, "1")
	path := filepath.Join(t.TempDir(), "slow.onnx")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Cancelling the context stops a running forward pass, and the session runs again after.
func TestCancel(t *testing.T) {
	requireORT(t)
	// 200 products of 1024² matrices: 430 GFLOP, many seconds on one core; each product
	// takes tens of milliseconds, and ONNX Runtime checks the terminate flag between nodes.
	const n = 1024
	m, err := Open(slowModel(t, n, 200), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x, dst := make([]float32, n*n), make([]float32, n*n)
	for round := 0; round < 2; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		start := time.Now()
		err := m.Score(ctx, dst, x, []float32{0.5})
		elapsed := time.Since(start)
		cancel()
		t.Logf("round %d: Score returned %v after %v", round, err, elapsed)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("round %d: err = %v, want the context's deadline", round, err)
		}
		// It ran (the terminate flag was cleared after round 0) and stopped soon after the
		// deadline rather than after the whole graph.
		if elapsed < 100*time.Millisecond || elapsed > 2*time.Second {
			t.Errorf("round %d: Score returned after %v (deadline 150 ms)", round, elapsed)
		}
	}
}

// Go's signal handlers survive C code that replaces them (what the CUDA provider does).
func TestSignalsRestored(t *testing.T) {
	testSignalsRestored(t)
}
