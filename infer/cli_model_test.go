package infer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scorelens/lens/fitsimg"
)

// ortAvailable reports whether the ONNX Runtime library the binary will look for is there
// (ORT_LIB, or the .ort/lib that `make` fetches).
func ortAvailable() bool {
	if p := os.Getenv("ORT_LIB"); p != "" {
		_, err := os.Stat(p)
		return err == nil
	}
	_, err := os.Stat(filepath.Join("..", ".ort", "lib", "libonnxruntime.so.1.24.1"))
	return err == nil
}

// TestCLIModel samples with an ONNX score model through the CLI (a 16×16 network with
// random weights exported from PyTorch, testdata/models/tiny_torch.onnx), and checks that
// models which do not fit the run are refused before any step, in one line.
func TestCLIModel(t *testing.T) {
	if !ortAvailable() {
		t.Skip("the ONNX Runtime library is absent (set ORT_LIB or run `make test`, which fetches it)")
	}
	dir := t.TempDir()
	lensPath, obsPath := simulated(t, dir, 20)
	tiny := filepath.Join("..", "testdata", "models", "tiny_torch.onnx")
	out := filepath.Join(dir, "post.fits")
	msg, code := runCLI(t, "sample", "--model", tiny, "--lens", lensPath, "--obs", obsPath,
		"--likelihood", "full", "--steps", "50", "--samples", "3", "--batch", "2", "--out", out, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	samples, err := fitsimg.ReadImage(out, "SAMPLES")
	if err != nil {
		t.Fatal(err)
	}
	if samples.Depth() != 3 || samples.Axes[0] != 16 {
		t.Fatalf("SAMPLES axes %v", samples.Axes)
	}
	prim, err := fitsimg.ReadImage(out, "")
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := prim.Header.String("MODEL"); name != "tiny_torch.onnx" {
		t.Errorf("MODEL = %q", name)
	}
	// The σ range comes from the metadata times data_scale 2: [0.002, 20].
	if lo, _ := prim.Header.Float("SIGMAMIN"); lo != 0.002 {
		t.Errorf("SIGMAMIN = %v, want 0.002", lo)
	}
	if hi, _ := prim.Header.Float("SIGMAMAX"); hi != 20 {
		t.Errorf("SIGMAMAX = %v, want 20", hi)
	}
	gauss8 := filepath.Join("..", "testdata", "models", "gauss_torch.onnx")
	notONNX := filepath.Join(dir, "model.onnx")
	os.WriteFile(notONNX, []byte("this is not a protobuf"), 0o644)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"model for another size", []string{"--model", gauss8}, "model works on 8×8 images but the source grid is 16×16"},
		{"not ONNX", []string{"--model", notONNX}, "model.onnx"},
		{"missing model", []string{"--model", filepath.Join(dir, "none.onnx")}, "none.onnx"},
		{"model and prior", []string{"--model", tiny, "--prior", "white:sigma=1"}, "give one of --model"},
	} {
		args := append([]string{"sample", "--lens", lensPath, "--obs", obsPath, "--steps", "5",
			"--out", filepath.Join(dir, "bad.fits")}, c.args...)
		msg, code := runCLI(t, args...)
		if code == 0 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.want) {
			t.Errorf("%s: exit %d, %q does not say %q in one line", c.name, code, msg, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "bad.fits")); err == nil {
			t.Errorf("%s: an output file was written", c.name)
		}
	}
}
