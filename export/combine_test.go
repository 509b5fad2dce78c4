package export

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scorelens/export/onnxpb"
	"scorelens/infer/ort"
	"scorelens/trainer/train"
)

// tinyPair exports two tiny models with different weights (seeds 1 and 2), a base and an
// expert, into a new folder.
func tinyPair(t *testing.T) (dir, base, expert string) {
	t.Helper()
	dir = t.TempDir()
	return dir, exportTiny(t, filepath.Join(dir, "base"), 1), exportTiny(t, filepath.Join(dir, "expert"), 2)
}

// exportTiny writes a tiny model (its own weights from seed) and returns its path.
func exportTiny(t *testing.T, dir string, seed uint64) string {
	t.Helper()
	return exportModified(t, dir, seed, func(*train.Checkpoint) {})
}

// TestCombine checks the combined model against its two parts run alone: below the
// switch it is the expert, above it the base, and in a batch that straddles the switch
// each image gets its own side's score. Tolerance: the parts and the combination run the
// same nodes in the same runtime; 1e-5 of each image's largest score allows for graph
// optimisations that fuse operations differently inside an If.
func TestCombine(t *testing.T) {
	needRuntime(t)
	dir, base, expert := tinyPair(t)
	out := filepath.Join(dir, "combined.onnx")
	const switchSigma = 0.5 // tiny preset: σ ∈ [0.01, 20]; t(0.5) = ln 50 / ln 2000 ≈ 0.515
	how, err := Combine(base, expert, out, CombineOptions{SwitchSigma: switchSigma})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(how, "checked against its parts") {
		t.Errorf("the combined model was not checked: %s", how)
	}
	g, _, _ := testCheckpoint(t, "tiny", t.TempDir(), 3) // the description, for test images
	ts := []float32{0.05, 0.5, 0.53, 0.95}
	x := noisyImages(g, ts, rand.New(rand.NewPCG(4, 5)))
	n := len(x) / len(ts)
	got := ortScore(t, out, x, ts)
	wantBase, wantExpert := ortScore(t, base, x, ts), ortScore(t, expert, x, ts)
	for i, tt := range ts {
		want, other := wantBase, wantExpert
		if tt < 0.515 {
			want, other = wantExpert, wantBase
		}
		sl := func(v []float32) []float32 { return v[i*n : (i+1)*n] }
		if e := relErr(sl(got), sl(want), 1); e > 1e-5 {
			t.Errorf("t = %g: combined differs from the model it should run by %.3g", tt, e)
		}
		if e := relErr(sl(got), sl(other), 1); e < 1e-2 {
			t.Errorf("t = %g: combined is as close to the other model (%.3g): the parts are not told apart", tt, e)
		}
	}

	// inspect counts an If as its costliest branch: here each network once (plus a Less and
	// a Where, under 0.1% of a network's FLOPs), what a batch that straddles the switch runs.
	rc, err := ort.Inspect(context.Background(), out, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := ort.Inspect(context.Background(), base, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum := 2 * rb.FLOPs; rc.FLOPs < sum || float64(rc.FLOPs) > 1.001*float64(sum) {
		t.Errorf("combined model counted at %d FLOPs, its two networks %d", rc.FLOPs, sum)
	}
	if len(rc.Uncounted) > 0 {
		t.Errorf("combined model has uncounted operators %v", rc.Uncounted)
	}

	// The metadata: the contract's keys of the base, the switch, both trainings.
	m, err := readProto(out)
	if err != nil {
		t.Fatal(err)
	}
	meta := metaOf(m)
	for _, k := range []string{MetaSDE, MetaSigmaMin, MetaSigmaMax, MetaChannels, MetaHeight, MetaWidth, MetaDataScale} {
		if meta[k] == "" {
			t.Errorf("combined model lacks metadata %s", k)
		}
	}
	if meta[MetaSwitchSigma] != "0.5" || !strings.Contains(meta[MetaTraining], "expert below σ = 0.5") {
		t.Errorf("switch metadata %q, training %q", meta[MetaSwitchSigma], meta[MetaTraining])
	}
}

// TestCombineBlend checks the blend band: below the switch the expert, between the switch
// and the blend σ w·expert + (1−w)·base, above it the base, alone and in one mixed batch
// (ortScore runs all times together). Tolerance as in TestCombine: the same nodes in the
// same runtime, plus one float32 multiply-add.
func TestCombineBlend(t *testing.T) {
	needRuntime(t)
	dir, base, expert := tinyPair(t)
	// tiny preset σ ∈ [0.01, 20]: t(0.5) ≈ 0.515, t(2) = ln 200 / ln 2000 ≈ 0.697.
	const switchSigma, blendSigma = 0.5, 2.0
	g, _, _ := testCheckpoint(t, "tiny", t.TempDir(), 3)
	ts := []float32{0.05, 0.5, 0.55, 0.69, 0.71, 0.95}
	inBand := []bool{false, false, true, true, false, false}
	x := noisyImages(g, ts, rand.New(rand.NewPCG(4, 5)))
	n := len(x) / len(ts)
	sb, se := ortScore(t, base, x, ts), ortScore(t, expert, x, ts)
	// 0.25: an ensemble; 1.5: autoguidance, which extrapolates (1.5·expert − 0.5·base).
	var out string
	for _, weight := range []float64{0.25, 1.5} {
		path := filepath.Join(dir, fmt.Sprintf("blend-%g.onnx", weight))
		how, err := Combine(base, expert, path, CombineOptions{SwitchSigma: switchSigma, BlendSigma: blendSigma, BlendWeight: weight})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(how, "in the blend band") {
			t.Errorf("weight %g: the band was not checked: %s", weight, how)
		}
		got := ortScore(t, path, x, ts)
		for i, tt := range ts {
			w := 1.0 // below the switch
			switch {
			case inBand[i]:
				w = weight
			case tt > 0.6:
				w = 0
			}
			want := make([]float32, n)
			for k := range want {
				want[k] = float32(w*float64(se[i*n+k]) + (1-w)*float64(sb[i*n+k]))
			}
			if e := relErr(got[i*n:(i+1)*n], want, 1); e > 1e-5 {
				t.Errorf("weight %g, t = %g: differs from %g·expert + %g·base by %.3g", weight, tt, w, 1-w, e)
			}
		}
		if weight == 0.25 {
			out = path
		}
	}
	meta := metaOf(mustProto(t, out))
	if meta[MetaBlendSigma] != "2" || meta[MetaBlendWeight] != "0.25" || !strings.Contains(meta[MetaTraining], "weighted 0.25 and 0.75 with the base up to σ = 2") {
		t.Errorf("blend metadata %q %q, training %q", meta[MetaBlendSigma], meta[MetaBlendWeight], meta[MetaTraining])
	}

	expert3 := exportModified(t, filepath.Join(dir, "expert3"), 2, func(ck *train.Checkpoint) { ck.HParams.SigmaTrainMax = 3 })
	for _, c := range []struct {
		name string
		o    CombineOptions
		want string
	}{
		{"band below the switch", CombineOptions{SwitchSigma: 0.5, BlendSigma: 0.4}, "must lie above the switch σ 0.5"},
		{"band beyond σmax", CombineOptions{SwitchSigma: 0.5, BlendSigma: 25}, "below the models' σmax 20"},
		{"band above the expert's training", CombineOptions{SwitchSigma: 0.5, BlendSigma: 4}, "above the 3 that the expert was trained up to"},
		{"weight 1", CombineOptions{SwitchSigma: 0.5, BlendSigma: 2, BlendWeight: 1}, "blend weight 1 must be positive, at most 10 and not 1"},
		{"weight 11", CombineOptions{SwitchSigma: 0.5, BlendSigma: 2, BlendWeight: 11}, "blend weight 11 must be positive"},
		{"negative weight", CombineOptions{SwitchSigma: 0.5, BlendSigma: 2, BlendWeight: -0.5}, "blend weight -0.5"},
	} {
		if _, err := Combine(base, expert3, filepath.Join(dir, "refused.onnx"), c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func mustProto(t *testing.T, path string) *onnxpb.ModelProto {
	t.Helper()
	m, err := readProto(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// exportModified writes a tiny checkpoint changed by edit and exports it into dir.
func exportModified(t *testing.T, dir string, seed uint64, edit func(*train.Checkpoint)) string {
	t.Helper()
	run := filepath.Join(dir, "run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	testCheckpoint(t, "tiny", run, seed)
	ck, err := train.LoadCheckpoint(filepath.Join(run, CheckpointName))
	if err != nil {
		t.Fatal(err)
	}
	edit(ck)
	if err := train.SaveCheckpoint(filepath.Join(run, CheckpointName), ck); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "model.onnx")
	if err := Export(run, out, Options{}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCombineRefuses(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	base := exportTiny(t, filepath.Join(dir, "base"), 1)

	// An expert trained on σ ≤ 0.3 (its export says so).
	expert := exportModified(t, filepath.Join(dir, "expert"), 2, func(ck *train.Checkpoint) { ck.HParams.SigmaTrainMax = 0.3 })

	// The sampler refuses the expert on its own.
	if _, err := ort.Open(expert, ort.Options{}); err == nil || !strings.Contains(err.Error(), "low-noise expert, trained on σ ≤ 0.3 only") {
		t.Errorf("sampler given the expert alone: %v", err)
	}
	// inspect (which opens it with Expert set) describes it as one.
	if r, err := ort.Inspect(context.Background(), expert, ort.Options{Expert: true}); err != nil {
		t.Errorf("inspect of the expert: %v", err)
	} else {
		var b strings.Builder
		r.WriteTo(&b)
		if !strings.Contains(b.String(), "a low-noise expert, trained on σ ≤ 0.3 only") {
			t.Errorf("inspect's report of the expert does not say it is one:\n%s", b.String())
		}
	}

	// Another σ range.
	other := exportModified(t, filepath.Join(dir, "other"), 3, func(ck *train.Checkpoint) {
		ck.Config.SigmaMax = 30
		ck.ConfigSHA256 = train.ConfigHash(ck.Config)
	})
	// A file that is not a model.
	junk := filepath.Join(dir, "junk.onnx")
	os.WriteFile(junk, []byte("not a model"), 0o644)

	out := filepath.Join(dir, "out.onnx")
	if err := os.WriteFile(out, []byte("earlier result"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, base, expert string
		sigma              float64
		want               string
	}{
		{"switch above the expert's training", base, expert, 0.5, "above the 0.3 that the expert was trained up to"},
		{"switch outside the range", base, expert, 25, "outside the models' range"},
		{"switch zero", base, expert, 0, "outside the models' range"},
		{"expert as base", expert, base, 0.2, "model is a low-noise expert"},
		{"σ ranges differ", base, other, 0.2, "differs from the expert's"},
		{"not a model", base, junk, 0.2, "not an ONNX model"},
		{"missing", filepath.Join(dir, "none.onnx"), expert, 0.2, "could not read model"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Combine(c.base, c.expert, out, CombineOptions{SwitchSigma: c.sigma})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if b, _ := os.ReadFile(out); string(b) != "earlier result" {
				t.Errorf("a refused combination overwrote %s", out)
			}
		})
	}
	if _, err := Combine(base, expert, out, CombineOptions{SwitchSigma: 0.2}); err != nil {
		t.Fatalf("a valid combination failed: %v", err)
	}
	m, err := readProto(out)
	if err != nil {
		t.Fatal(err)
	}
	ifs := 0
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "If" {
			ifs++
		}
	}
	if ifs != 2 || len(m.GetGraph().GetInitializer()) != 2 {
		t.Errorf("combined graph has %d If nodes and %d outer initialisers; want 2 (one per network) and 2 (switch, mask shape)", ifs, len(m.GetGraph().GetInitializer()))
	}
}
