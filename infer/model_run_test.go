package infer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scorelens/lens/fitsimg"
)

// float32Model hides the SigmaScorer of a GaussianPrior, so that Run drives it through the
// batched float32 ScoreModel interface as it will an ONNX network.
type float32Model struct{ p *GaussianPrior }

func (m float32Model) Shape() (int, int, int) { return m.p.Shape() }
func (m float32Model) Score(ctx context.Context, dst, x, t []float32) error {
	return m.p.Score(ctx, dst, x, t)
}

func TestRunWithModel(t *testing.T) {
	dir := t.TempDir()
	lensPath, obsPath := simulated(t, dir, 20)
	sde := VESDE{SigmaMin: 1e-3, SigmaMax: 10}
	prior, err := NewWhitePrior(16, 16, 0, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	prior.SDE = sde
	model := &ModelPrior{Score: float32Model{prior}, Name: "toy.onnx", SHA256: strings.Repeat("ab", 32), SigmaMin: sde.SigmaMin, SigmaMax: sde.SigmaMax}
	o := RunOptions{Lens: lensPath, Obs: obsPath, Model: model, Likelihood: "paper", Predictor: "em",
		Steps: 200, Samples: 3, Batch: 2, Seed: 1, Shard: 1, Shards: 1, Software: "test", Out: filepath.Join(dir, "m.fits")}
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	s, err := fitsimg.ReadImage(o.Out, "SAMPLES")
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{"MODEL": "toy.onnx", "MODELSHA": model.SHA256, "SIGMAMIN": 1e-3, "SIGMAMAX": 10.0} {
		if v, _ := s.Header.Get(key); v != want {
			t.Errorf("%s = %v, want %v", key, v, want)
		}
	}
	chi, _ := fitsimg.ReadImage(o.Out, "CHI2NU")
	for k, v := range chi.Data {
		// As in TestRunEndToEnd: samples fit the data to about the noise level.
		if !(v > 0.3 && v < 5) {
			t.Errorf("CHI2NU[%d] = %g", k, v)
		}
	}
	// The same run with another model file is another run.
	o2 := o
	m2 := *model
	m2.SHA256 = strings.Repeat("cd", 32)
	o2.Model, o2.Resume = &m2, true
	if err := Run(context.Background(), o2); err == nil || !strings.Contains(err.Error(), "model toy.onnx (SHA-256 abababababab… vs cdcdcdcdcdcd…)") {
		t.Errorf("other model: %v", err)
	}

	bad, _ := NewWhitePrior(32, 32, 0, 0.5)
	for name, c := range map[string]struct {
		mod  func(*RunOptions)
		want string
	}{
		"other image size": {func(o *RunOptions) { o.Model = &ModelPrior{Score: float32Model{bad}, Name: "big.onnx", SHA256: "x"} },
			"model big.onnx works on 1×32×32 images but the lens file's source grid is 1×16×16"},
		"no sigma max":    {func(o *RunOptions) { m := *model; m.SigmaMax = 0; o.Model = &m }, "--sigma-max"},
		"model and prior": {func(o *RunOptions) { o.Prior = "white:sigma=1" }, "exactly one"},
	} {
		o := o
		o.Out = filepath.Join(dir, "bad.fits")
		c.mod(&o)
		err := Run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		if _, statErr := os.Stat(o.Out); statErr == nil {
			t.Errorf("%s: output written", name)
		}
	}
}
