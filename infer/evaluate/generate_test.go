package evaluate

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"scorelens/infer"
	"scorelens/infer/runlock"
	"scorelens/lens/fitsimg"
)

// gaussModel is an analytic Gaussian prior seen through the batched float32 ScoreModel
// interface only, as the sampler sees an ONNX network. calls counts Score calls; cancel,
// when set, is called at call number cancelAt.
type gaussModel struct {
	p        *infer.GaussianPrior
	calls    *atomic.Int64
	cancelAt int64
	cancel   func()
}

func (m gaussModel) Shape() (int, int, int) { return m.p.Shape() }
func (m gaussModel) Score(ctx context.Context, dst, x, t []float32) error {
	if m.calls != nil {
		if n := m.calls.Add(1); n == m.cancelAt && m.cancel != nil {
			m.cancel()
		}
	}
	return m.p.Score(ctx, dst, x, t)
}

// whiteModel returns N(0, s² I) on n×n images as a ModelPrior with σ ∈ [1e-3, 10].
func whiteModel(t testing.TB, n int, s float64) (*infer.ModelPrior, gaussModel) {
	t.Helper()
	return whiteModelMean(t, n, 0, s)
}

// whiteModelMean returns N(μ, s² I) on n×n images as a ModelPrior with σ ∈ [1e-3, 10].
func whiteModelMean(t testing.TB, n int, mu, s float64) (*infer.ModelPrior, gaussModel) {
	t.Helper()
	p, err := infer.NewWhitePrior(n, n, mu, s)
	if err != nil {
		t.Fatal(err)
	}
	p.SDE = infer.VESDE{SigmaMin: 1e-3, SigmaMax: 10}
	g := gaussModel{p: p, calls: new(atomic.Int64)}
	return &infer.ModelPrior{Score: g, Name: "white.onnx", SHA256: strings.Repeat("ab", 32), SigmaMin: 1e-3, SigmaMax: 10}, g
}

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	model, _ := whiteModel(t, 16, 0.5)
	o := GenerateOptions{Model: model, Samples: 5, Batch: 2, Steps: 300, Seed: 7, Software: "test",
		Out: filepath.Join(dir, "b2.fits"), Preview: filepath.Join(dir, "grid.png")}
	res, err := Generate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	im, err := fitsimg.ReadImage(o.Out, "IMAGES")
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Axes) != 3 || im.Axes[0] != 16 || im.Axes[1] != 16 || im.Axes[2] != 5 {
		t.Fatalf("IMAGES axes %v, want [16 16 5]", im.Axes)
	}
	for key, want := range map[string]any{"MODEL": "white.onnx", "MODELSHA": model.SHA256, "STEPS": int64(300),
		"SEED": int64(7), "SIGMAMIN": 1e-3, "SIGMAMAX": 10.0, "COUNT": int64(5), "NPIX": int64(16), "PIXSCALE": 3.0 / 16} {
		if v, _ := im.Header.Get(key); v != want {
			t.Errorf("%s = %v (%T), want %v", key, v, v, want)
		}
	}
	if st, err := os.Stat(o.Preview); err != nil || st.Size() == 0 {
		t.Errorf("preview: %v", err)
	}
	// The samples of N(0, 0.5²) have pixel variance 0.25: 1280 values give a relative
	// standard error of √(2/1280) = 4% on the variance; 300 Euler–Maruyama steps add a
	// bias of about a percent. Tolerance 15% (over 3.5 standard errors).
	var s2 float64
	for _, v := range im.Data {
		s2 += v * v / float64(len(im.Data))
	}
	if math.Abs(s2/0.25-1) > 0.15 {
		t.Errorf("sample variance %g, want 0.25 within 15%%", s2)
	}

	// Batch size does not change the samples (each draws from SampleRNG(seed, i) alone and
	// the score of one image does not depend on the others): bit-identical.
	o1 := o
	o1.Batch, o1.Out, o1.Preview = 5, filepath.Join(dir, "b5.fits"), ""
	if _, err := Generate(context.Background(), o1); err != nil {
		t.Fatal(err)
	}
	im1, _ := fitsimg.ReadImage(o1.Out, "IMAGES")
	for k, v := range im.Data {
		if im1.Data[k] != v {
			t.Fatalf("batch 5 differs from batch 2 at value %d: %g vs %g", k, im1.Data[k], v)
		}
	}
	if len(res.Samples) != len(im.Data) {
		t.Errorf("result holds %d values, file %d", len(res.Samples), len(im.Data))
	}

	// A run cancelled during its second batch keeps its first, and --resume ends with the
	// file of an unbroken run.
	ctx, cancel := context.WithCancel(context.Background())
	m2, g2 := whiteModel(t, 16, 0.5)
	g2.cancelAt, g2.cancel = 300+5, cancel
	m2.Score = g2
	o2 := o1
	o2.Model, o2.Batch, o2.Out = m2, 2, filepath.Join(dir, "resumed.fits")
	if _, err := Generate(ctx, o2); err == nil || !strings.Contains(err.Error(), "2 of 5 samples are in") {
		t.Fatalf("cancelled run: %v", err)
	}
	o2.Model = model
	if _, err := Generate(context.Background(), o2); err == nil || !strings.Contains(err.Error(), "holds 2 of 5 samples of this run: add --resume") {
		t.Errorf("without --resume: %v", err)
	}
	o2.Resume = true
	// Cancelled again before its first new batch is written, it still counts the 2 on disk.
	ctx3, cancel3 := context.WithCancel(context.Background())
	m3, g3 := whiteModel(t, 16, 0.5)
	g3.cancelAt, g3.cancel = 5, cancel3
	oc := o2
	m3.Score = g3
	oc.Model = m3
	if _, err := Generate(ctx3, oc); err == nil || !strings.Contains(err.Error(), "aborted: 2 of 5 samples are in") {
		t.Fatalf("resumed run cancelled in its first batch: %v", err)
	}
	r2, err := Generate(context.Background(), o2)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Resumed != 2 || r2.Computed != 3 {
		t.Errorf("resumed %d, computed %d; want 2 and 3", r2.Resumed, r2.Computed)
	}
	im2, _ := fitsimg.ReadImage(o2.Out, "IMAGES")
	for k, v := range im.Data {
		if im2.Data[k] != v {
			t.Fatalf("resumed run differs at value %d", k)
		}
	}

	// Two shards, then the run without a shard, which takes their samples and draws none:
	// the same cube as an unsharded run.
	for k := 1; k <= 2; k++ {
		sh := o1
		sh.Shard, sh.Shards, sh.Out = k, 2, filepath.Join(dir, "sharded.fits")
		r, err := Generate(context.Background(), sh)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{3, 2}[k-1]; r.Computed != want {
			t.Errorf("shard %d/2 drew %d samples, want %d", k, r.Computed, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sharded.shard-2-of-2.fits")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "sharded.shard-2-of-2.fits")) // samples 1 and 3 are drawn again
	sh := o1
	sh.Out = filepath.Join(dir, "sharded.fits")
	r3, err := Generate(context.Background(), sh)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Resumed != 3 || r3.Computed != 2 {
		t.Errorf("merging run: %d from shard files, %d drawn; want 3 and 2", r3.Resumed, r3.Computed)
	}
	im3, _ := fitsimg.ReadImage(sh.Out, "IMAGES")
	for k, v := range im.Data {
		if im3.Data[k] != v {
			t.Fatalf("sharded run differs at value %d", k)
		}
	}
	bad := o1
	bad.Seed, bad.Shard, bad.Shards, bad.Out = 9, 1, 3, filepath.Join(dir, "sharded.fits")
	if _, err := Generate(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	bad.Shard, bad.Shards, bad.Seed = 0, 0, 7
	bad.Force = true
	if _, err := Generate(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "sharded.shard-1-of-3.fits belongs to another run (SEED 9 vs 7") {
		t.Errorf("shard file of another run: %v", err)
	}

	// Files of other runs, or of this run complete, are not overwritten.
	notFITS := filepath.Join(dir, "notes.fits")
	os.WriteFile(notFITS, []byte("my notes"), 0o644)
	for name, c := range map[string]struct {
		mod  func(*GenerateOptions)
		want string
	}{
		"other seed":       {func(o *GenerateOptions) { o.Seed = 8 }, "holds another run (SEED 7 vs 8"},
		"complete":         {func(o *GenerateOptions) {}, "already holds all 5 samples"},
		"not a cube":       {func(o *GenerateOptions) { o.Out = notFITS }, "is not a prior-sample cube"},
		"no samples":       {func(o *GenerateOptions) { o.Samples = 0 }, "samples must be at least 1"},
		"bad predictor":    {func(o *GenerateOptions) { o.Predictor = "rk4" }, `unknown predictor "rk4"`},
		"sigma range":      {func(o *GenerateOptions) { o.SigmaMin = 20 }, "sigma-min (20) must be smaller"},
		"three channels":   {func(o *GenerateOptions) { o.Model = &infer.ModelPrior{Score: rgb{}, Name: "rgb.onnx"} }, "one channel"},
		"bad shard":        {func(o *GenerateOptions) { o.Shard, o.Shards = 2, 1 }, "shard 2/1"},
		"empty shard":      {func(o *GenerateOptions) { o.Shard, o.Shards = 7, 7 }, "holds no sample of 5"},
		"no sigma maximum": {func(o *GenerateOptions) { m := *model; m.SigmaMax = 0; o.Model = &m }, "pass --sigma-max"},
	} {
		oc := o1
		c.mod(&oc)
		_, err := Generate(context.Background(), oc)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", name, err, c.want)
		}
	}
	if b, _ := os.ReadFile(notFITS); string(b) != "my notes" {
		t.Errorf("a file that is not a cube was overwritten")
	}
	// A file another process is writing (here: whose lock this test holds) is left alone,
	// even with --force.
	held, err := runlock.Acquire(o1.Out)
	if err != nil || !held.Held() {
		t.Fatalf("could not lock %s for the test: %v", o1.Out, err)
	}
	before, _ := os.ReadFile(o1.Out)
	busy := o1
	busy.Force = true
	if _, err := Generate(context.Background(), busy); err == nil || !strings.Contains(err.Error(), "in use by another process (host ") {
		t.Errorf("locked output: %v, want an in-use error naming the holder", err)
	}
	if after, _ := os.ReadFile(o1.Out); string(after) != string(before) {
		t.Errorf("a locked output was rewritten")
	}
	held.Release()
	o3 := o1
	o3.Force, o3.Seed = true, 8
	if _, err := Generate(context.Background(), o3); err != nil {
		t.Errorf("--force: %v", err)
	}
}

type rgb struct{}

func (rgb) Shape() (int, int, int)                                       { return 3, 16, 16 }
func (rgb) Score(context.Context, []float32, []float32, []float32) error { return nil }
