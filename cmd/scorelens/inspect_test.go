package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the command line and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	outF, _ := os.Create(filepath.Join(dir, "stdout"))
	errF, _ := os.Create(filepath.Join(dir, "stderr"))
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outF, errF
	code := run(append([]string{"scorelens"}, args...))
	os.Stdout, os.Stderr = oldOut, oldErr
	outF.Seek(0, 0)
	errF.Seek(0, 0)
	o, _ := io.ReadAll(outF)
	e, _ := io.ReadAll(errF)
	outF.Close()
	errF.Close()
	return code, string(o), string(e)
}

var testModels = filepath.Join("..", "..", "testdata", "models")

func TestInspectCommand(t *testing.T) {
	code, out, errs := runCLI(t, "inspect", filepath.Join(testModels, "tiny_torch.onnx"))
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{
		"input       x float32 [batch, 1, 16, 16]",
		"metadata    scorelens.data_scale = 2.0",
		"400032 FLOP per forward pass at batch 1",
		"VE SDE σ ∈ [0.002, 20] in physical units (metadata)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// A model for another grid than the lens file's, a file that is not ONNX, a model
	// without σ metadata: one line on stderr, exit 1.
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(bad, []byte("not a model at all\x00\xff\x13"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", "--lens", filepath.Join("..", "..", "testdata", "lens-example.json"), filepath.Join(testModels, "tiny_torch.onnx")},
			"model works on 16×16 images but the source grid is 64×64"},
		{[]string{"inspect", bad}, "is not an ONNX model"},
		{[]string{"inspect", "--output", "eps", filepath.Join(testModels, "tiny_torch.onnx")}, `output convention "eps"`},
		{[]string{"inspect"}, "want one model file"},
		// A mistyped flag: one line naming the command, no help text on stdout.
		{[]string{"inspect", "--devise", "cpu", filepath.Join(testModels, "tiny_torch.onnx")}, "inspect: flag provided but not defined: -devise"},
	} {
		code, out, errs := runCLI(t, c.args...)
		if code != 1 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and one line with %q", c.args, code, out, errs, c.want)
		}
	}
}
