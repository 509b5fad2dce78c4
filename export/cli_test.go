package export

// End to end through the CLI as a user runs it: scorelens dataset (8 synthetic 16×16
// galaxies), train (tiny preset, 3 updates), export, inspect, and sample --model on a lens
// with a 16×16 source grid. The binary is built once into a temporary directory.

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"scorelens/export/onnxpb"
	"scorelens/lens"
	"scorelens/lens/fitsimg"
)

// cliLensJSON: a 16×16 source grid behind an SIE with shear, seen on 20×20 pixels.
const cliLensJSON = `{
  "lens":   [{"type":"sie","theta_e":1.0,"q":0.8,"phi":30,"x0":0.02,"y0":-0.01},
             {"type":"shear","gamma1":0.04,"gamma2":-0.02}],
  "source": {"pixels":16,"fov":2.4,"x0":0,"y0":0},
  "image":  {"pixels":20,"fov":4.0,"supersample":2},
  "noise":  {"sigma":0.05}
}`

// buildCLI builds scorelens into dir.
func buildCLI(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "scorelens")
	if out, err := exec.Command("go", "build", "-o", bin, "scorelens/cmd/scorelens").CombinedOutput(); err != nil {
		t.Fatalf("go build scorelens/cmd/scorelens: %v\n%s", err, out)
	}
	return bin
}

// runBin runs the binary and returns its stderr and exit code.
func runBin(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return stderr.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return stderr.String(), 0
}

func modelMeta(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	for _, p := range m.MetadataProps {
		meta[p.GetKey()] = p.GetValue()
	}
	return meta
}

func TestCLITrainExportSample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the scorelens binary, trains and samples")
	}
	needRuntime(t)
	dir := t.TempDir()
	bin := buildCLI(t, dir)
	must := func(args ...string) {
		t.Helper()
		if msg, code := runBin(t, bin, args...); code != 0 {
			t.Fatalf("scorelens %s: exit %d: %s", strings.Join(args, " "), code, msg)
		}
	}
	data := filepath.Join(dir, "data.fits")
	run := filepath.Join(dir, "run")
	model := filepath.Join(dir, "tiny.onnx")
	must("dataset", "--synthetic", "8", "--size", "16", "--seed", "3", "--out", data)
	must("train", "--data", data, "--preset", "tiny", "--steps", "3", "--batch", "4", "--warmup", "0",
		"--threads", "2", "--quiet", "--out", run)
	must("export", "--checkpoint", run, "--out", model)
	meta := modelMeta(t, model)
	if meta[MetaWeights] != "ema" || !strings.Contains(meta[MetaTraining], "data.fits") ||
		!strings.Contains(meta[MetaTraining], "3 steps") || !strings.Contains(meta[MetaTraining], "peak normalisation") {
		t.Errorf("metadata %v", meta)
	}
	must("inspect", model)

	lensPath := filepath.Join(dir, "lens.json")
	if err := os.WriteFile(lensPath, []byte(cliLensJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := lens.LoadConfig(lensPath)
	if err != nil {
		t.Fatal(err)
	}
	src := make([]float64, cfg.SourceGrid().Len())
	for j := 0; j < 16; j++ {
		for i := 0; i < 16; i++ {
			dx, dy := float64(i)-7.5, float64(j)-7.5
			src[j*16+i] = math.Exp(-(dx*dx + dy*dy) / 18)
		}
	}
	obs, err := lens.Simulate(cfg, src, rand.New(rand.NewPCG(1, 1)), "test")
	if err != nil {
		t.Fatal(err)
	}
	obsPath := filepath.Join(dir, "obs.fits")
	if err := obs.Write(obsPath); err != nil {
		t.Fatal(err)
	}
	post := filepath.Join(dir, "post.fits")
	must("sample", "--model", model, "--lens", lensPath, "--obs", obsPath, "--likelihood", "full",
		"--steps", "40", "--samples", "2", "--batch", "2", "--out", post, "--quiet")
	samples, err := fitsimg.ReadImage(post, "SAMPLES")
	if err != nil {
		t.Fatal(err)
	}
	if samples.Depth() != 2 || samples.Axes[0] != 16 || samples.Axes[1] != 16 {
		t.Fatalf("SAMPLES axes %v", samples.Axes)
	}
	for i, v := range samples.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("sample pixel %d is %v", i, v)
		}
	}
	prim, err := fitsimg.ReadImage(post, "")
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := prim.Header.String("MODEL"); name != "tiny.onnx" {
		t.Errorf("MODEL = %q", name)
	}
	// The sampler's σ range is the checkpoint's (data_scale 1).
	for key, meta := range map[string]string{"SIGMAMIN": meta[MetaSigmaMin], "SIGMAMAX": meta[MetaSigmaMax]} {
		want, _ := strconv.ParseFloat(meta, 64)
		if got, _ := prim.Header.Float(key); math.Abs(got-want) > 1e-12*want {
			t.Errorf("%s = %v, want the model's %v", key, got, want)
		}
	}

	// The raw weights, and refusals in one line.
	must("export", "--checkpoint", filepath.Join(run, CheckpointName), "--out", filepath.Join(dir, "raw.onnx"), "--raw")
	if w := modelMeta(t, filepath.Join(dir, "raw.onnx"))[MetaWeights]; w != "raw" {
		t.Errorf("--raw export says weights %q", w)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--checkpoint", filepath.Join(dir, "none"), "--out", model}, "could not open checkpoint"},
		{[]string{"export", "--checkpoint", data, "--out", model}, "not a scorelens checkpoint"},
		{[]string{"export", "--out", model}, "checkpoint"},
		{[]string{"export", "--checkpoint", run, "--out", model, "--data-scale", "-2"}, "data scale must be a positive number"},
	} {
		msg, code := runBin(t, bin, c.args...)
		if code == 0 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.want) || strings.Contains(msg, "goroutine") {
			t.Errorf("%s: exit %d, %q does not say %q in one line", strings.Join(c.args, " "), code, msg, c.want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*")); len(left) != 0 {
		t.Errorf("temporary files left beside the model: %v", left)
	}
}
