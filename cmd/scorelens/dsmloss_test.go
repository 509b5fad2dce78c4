package main

import (
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"scorelens/lens/fitsimg"
)

// dsmloss of the PyTorch Gaussian test model (the exact ε of N(0.3, 0.5² I) on 8×8, σ ∈
// [0.01, 50]) on 200 images drawn from that Gaussian: at every level the loss per image is
// ½·64·s²/(s²+σ²) within 4 of its standard errors (the model's float32 arithmetic is far
// below that); the same model given twice differs from itself by exactly 0.
func TestDsmlossCommand(t *testing.T) {
	requireORT(t)
	const s, mean, n, count = 0.5, 0.3, 8, 200
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]float64, count*n*n)
	for i := range data {
		data[i] = mean + s*rng.NormFloat64()
	}
	set := filepath.Join(dir, "gauss.fits")
	if err := fitsimg.Write(set, fitsimg.NewImage("IMAGES", data, n, n, count)); err != nil {
		t.Fatal(err)
	}
	gauss8 := filepath.Join(testModels, "gauss_torch.onnx")
	table := filepath.Join(dir, "loss.csv")
	code, out, errs := runCLI(t, "dsmloss", "--model", gauss8, "--model", gauss8, "--data", set, "--levels", "6",
		"--threads", "1", "--csv", table)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "mean over t") {
		t.Errorf("no mean loss in the table:\n%s", out)
	}
	f, err := os.Open(table)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 13 || rows[0][0] != "model" {
		t.Fatalf("%d CSV rows, want a header and 2 models × 6 levels", len(rows))
	}
	num := func(r []string, k int) float64 {
		v, err := strconv.ParseFloat(r[k], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, r := range rows[1:7] {
		sigma, loss, se := num(r, 1), num(r, 2), num(r, 3)
		if want := 0.5 * n * n * s * s / (s*s + sigma*sigma); math.Abs(loss-want) > 4*se {
			t.Errorf("σ %g: loss %.4g ± %.2g, want %.4g", sigma, loss, se, want)
		}
	}
	if s0, s5 := num(rows[1], 1), num(rows[6], 1); math.Abs(s0-0.01) > 1e-12 || math.Abs(s5-50) > 1e-9 {
		t.Errorf("levels from σ %g to %g, want 0.01 to 50", s0, s5)
	}
	for _, r := range rows[7:] {
		if num(r, 7) != 0 || num(r, 8) != 0 {
			t.Errorf("the model against itself: %v", r)
		}
	}

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing data", []string{"dsmloss", "--model", gauss8, "--data", filepath.Join(dir, "none.fits")}, "none.fits"},
		{"too many images", []string{"dsmloss", "--model", gauss8, "--data", set, "--images", "201"}, "--images must lie in 1…200"},
		{"wrong grid", []string{"dsmloss", "--model", filepath.Join(testModels, "tiny_torch.onnx"), "--data", set}, "image 0 has 64 pixels"},
		{"one level", []string{"dsmloss", "--model", gauss8, "--data", set, "--levels", "1"}, "at least 2 levels"},
	} {
		code, _, errs := runCLI(t, c.args...)
		if code == 0 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, %q does not say %q in one line", c.name, code, errs, c.want)
		}
	}
}
