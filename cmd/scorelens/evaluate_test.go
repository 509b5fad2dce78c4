package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scorelens/infer/ort"
	"scorelens/lens/fitsimg"
)

// requireORT skips a test when the ONNX Runtime library cannot be loaded.
func requireORT(t *testing.T) {
	t.Helper()
	if _, _, err := ort.Init(""); err != nil {
		t.Skipf("ONNX Runtime not available (run `make test`, which fetches it, or set ORT_LIB): %v", err)
	}
}

// TestGenerateCommand draws prior samples of the 16×16 PyTorch test model (random weights)
// at two batch sizes and checks the cube and its header.
func TestGenerateCommand(t *testing.T) {
	requireORT(t)
	dir := t.TempDir()
	tiny := filepath.Join(testModels, "tiny_torch.onnx")
	cube := func(batch, out string) *fitsimg.Image {
		t.Helper()
		code, _, errs := runCLI(t, "generate", "--model", tiny, "--samples", "5", "--steps", "20", "--batch", batch,
			"--seed", "3", "--threads", "1", "--quiet", "--out", filepath.Join(dir, out))
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		im, err := fitsimg.ReadImage(filepath.Join(dir, out), "IMAGES")
		if err != nil {
			t.Fatal(err)
		}
		return im
	}
	a := cube("2", "b2.fits")
	if len(a.Axes) != 3 || a.Axes[0] != 16 || a.Axes[1] != 16 || a.Axes[2] != 5 {
		t.Fatalf("IMAGES axes %v, want [16 16 5]", a.Axes)
	}
	// The σ range is the metadata's times data_scale 2 (as for sample).
	for key, want := range map[string]any{"MODEL": "tiny_torch.onnx", "STEPS": int64(20), "SEED": int64(3), "SIGMAMIN": 0.002, "SIGMAMAX": 20.0} {
		if v, _ := a.Header.Get(key); v != want {
			t.Errorf("%s = %v, want %v", key, v, want)
		}
	}
	if sha, _ := a.Header.String("MODELSHA"); len(sha) != 64 {
		t.Errorf("MODELSHA %q", sha)
	}
	// Batch 5 against batch 2: each sample has its own random stream, so only the network's
	// float32 arithmetic at another batch shape may differ. Tolerance 1e-4 of the largest
	// value (float32 rounding is 6e-8 relative; 20 steps of a random network amplify it).
	b := cube("5", "b5.fits")
	scale, worst := 0.0, 0.0
	for k, v := range a.Data {
		scale = math.Max(scale, math.Abs(v))
		worst = math.Max(worst, math.Abs(v-b.Data[k]))
	}
	if worst > 1e-4*scale {
		t.Errorf("batch 5 differs from batch 2 by %g (largest value %g)", worst, scale)
	}
	t.Logf("batch 2 vs 5: largest difference %.3g of %.3g", worst, scale)

	// Two shards at batch 2, then the command without --shard: it draws nothing and writes
	// the cube of the unsharded run (the same batches' shapes differ, so to the same 1e-4).
	for _, k := range []string{"1/2", "2/2"} {
		if code, _, errs := runCLI(t, "generate", "--model", tiny, "--samples", "5", "--steps", "20", "--batch", "2",
			"--seed", "3", "--threads", "1", "--quiet", "--shard", k, "--out", filepath.Join(dir, "s.fits")); code != 0 {
			t.Fatalf("shard %s: exit %d: %s", k, code, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "s.shard-2-of-2.fits")); err != nil {
		t.Fatal(err)
	}
	s := cube("2", "s.fits")
	for k, v := range a.Data {
		if math.Abs(v-s.Data[k]) > 1e-4*scale {
			t.Fatalf("sharded cube differs at %d: %g vs %g", k, s.Data[k], v)
		}
	}

	// The heun predictor records its churn, and a resume with another churn is refused.
	heun := func(churn string, extra ...string) (int, string) {
		code, _, errs := runCLI(t, append([]string{"generate", "--model", tiny, "--samples", "3", "--steps", "8",
			"--predictor", "heun", "--corrector", "none", "--churn", churn, "--threads", "1", "--quiet",
			"--out", filepath.Join(dir, "heun.fits")}, extra...)...)
		return code, errs
	}
	if code, errs := heun("20", "--churn-sigma", "0.01:1", "--churn-noise", "1.007"); code != 0 {
		t.Fatalf("heun: exit %d: %s", code, errs)
	}
	h, err := fitsimg.ReadImage(filepath.Join(dir, "heun.fits"), "IMAGES")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := h.Header.Get("CHURN"); v != 20.0 {
		t.Errorf("CHURN = %v, want 20", v)
	}
	if lo, _ := h.Header.Float("CHURNLO"); lo != 0.01 {
		t.Errorf("CHURNLO = %v, want 0.01", lo)
	}
	if ns, _ := h.Header.Float("CHURNNS"); ns != 1.007 {
		t.Errorf("CHURNNS = %v, want 1.007", ns)
	}
	if v, _ := h.Header.Get("PREDICTR"); v != "heun" {
		t.Errorf("PREDICTR = %v, want heun", v)
	}
	if code, errs := heun("10", "--churn-sigma", "0.01:1", "--churn-noise", "1.007", "--resume"); code == 0 || !strings.Contains(errs, "CHURN") {
		t.Errorf("resume with another churn: exit %d, %q", code, errs)
	}
	// generate's churn defaults are heun's: another predictor without churn flags has none.
	em := filepath.Join(dir, "em.fits")
	if code, _, errs := runCLI(t, "generate", "--model", tiny, "--samples", "2", "--steps", "5", "--predictor", "em",
		"--corrector", "langevin", "--threads", "1", "--quiet", "--out", em); code != 0 {
		t.Fatalf("em: exit %d: %s", code, errs)
	}
	if e, err := fitsimg.ReadImage(em, "IMAGES"); err != nil {
		t.Error(err)
	} else if c, _ := e.Header.Float("CHURN"); c != 0 {
		t.Errorf("em: CHURN = %v, want 0", c)
	}
}

// TestEvaluateCommand runs the held-out-lens table end to end on the 16×16 test model:
// two lenses, three samples, a few steps; then the one-line refusals.
func TestEvaluateCommand(t *testing.T) {
	requireORT(t)
	dir := filepath.Join(t.TempDir(), "eval")
	tiny := filepath.Join(testModels, "tiny_torch.onnx")
	args := []string{"evaluate", "--model", tiny, "--lenses", "2", "--samples", "3", "--batch", "3", "--steps", "10",
		"--likelihood", "paper", "--seed", "4", "--threads", "1", "--quiet", "--out", dir}
	code, out, errs := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"| 0 |", "| 1 |", "| **all** |", "Model: tiny_torch.onnx. Baseline: grf:sigma=0.1,index=3.", "16×16 source"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "table.md"))
	if string(md) != out {
		t.Errorf("table.md differs from stdout")
	}
	for _, lens := range []string{"lens-00", "lens-01"} {
		for _, f := range []string{"lens.json", "obs.fits", "post-model.fits", "post-baseline.fits"} {
			if _, err := os.Stat(filepath.Join(dir, lens, f)); err != nil {
				t.Error(err)
			}
		}
	}
	// A third lens computed as shard 2/2 (lenses 1 and 3 of 4; lens 1 is on disk) prints no
	// table.
	if code, out, errs := runCLI(t, append(args[:len(args)-2:len(args)-2], "--lenses", "4", "--shard", "2/2", "--out", dir)...); code != 0 || !strings.Contains(out, "shard 2/2: 2 lenses done") {
		t.Errorf("shard: exit %d, %s %s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "lens-03", "post-baseline.fits")); err != nil {
		t.Error(err)
	}
	// The same command again resumes: nothing to draw, the same table.
	if code, out2, errs := runCLI(t, args...); code != 0 || out2 != out {
		t.Errorf("rerun: exit %d, %s, table changed: %v", code, errs, out2 != out)
	}

	gauss8 := filepath.Join(testModels, "gauss_torch.onnx")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing model", []string{"evaluate", "--model", filepath.Join(dir, "none.onnx"), "--out", dir}, "none.onnx"},
		{"wrong grid", []string{"evaluate", "--model", tiny, "--grid", "64", "--out", dir}, "model works on 16×16 images but the source grid is 64×64"},
		{"other size model", []string{"evaluate", "--model", gauss8, "--steps", "10", "--out", dir}, "holds another evaluation"},
		{"training galaxies", []string{"evaluate", "--model", tiny, "--galaxy-seed", "20261125", "--out", dir}, "is the training set's"},
		{"bad shard", []string{"evaluate", "--model", tiny, "--shard", "3/2", "--out", dir}, "--shard must be k/n"},
		{"bad steps", []string{"evaluate", "--model", tiny, "--steps", "0", "--out", dir}, "--steps must be auto or a positive integer"},
		{"generate missing model", []string{"generate", "--model", filepath.Join(dir, "none.onnx"), "--out", filepath.Join(dir, "p.fits")}, "none.onnx"},
		{"generate bad shard", []string{"generate", "--model", tiny, "--shard", "0/2", "--out", filepath.Join(dir, "p.fits")}, "--shard must be k/n"},
		{"generate no out", []string{"generate", "--model", tiny}, `"out" not set`},
		{"generate churn without heun", []string{"generate", "--model", tiny, "--predictor", "em", "--churn", "10", "--out", filepath.Join(dir, "p.fits")}, "churn applies to the heun predictor only"},
		{"generate bad churn window", []string{"generate", "--model", tiny, "--predictor", "heun", "--churn-sigma", "1", "--out", filepath.Join(dir, "p.fits")}, "--churn-sigma must be LOW:HIGH"},
		{"generate reversed churn window", []string{"generate", "--model", tiny, "--predictor", "heun", "--churn", "5", "--churn-sigma", "1:0.1", "--out", filepath.Join(dir, "p.fits")}, "churn σ range must be 0 ≤ low ≤ high"},
	} {
		code, _, errs := runCLI(t, c.args...)
		if code == 0 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, %q does not say %q in one line", c.name, code, errs, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "p.fits")); err == nil {
		t.Errorf("generate wrote a file for a missing model")
	}
}
