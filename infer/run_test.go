package infer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scorelens/infer/runlock"
	"scorelens/lens"
	"scorelens/lens/fitsimg"
)

const runLensJSON = `{
  "lens":   [{"type":"sie","theta_e":1.0,"q":0.8,"phi":30,"x0":0.02,"y0":-0.01},
             {"type":"shear","gamma1":0.04,"gamma2":-0.02}],
  "source": {"pixels":16,"fov":2.4,"x0":0,"y0":0},
  "image":  {"pixels":%d,"fov":4.0,"supersample":2},
  "noise":  {"sigma":0.05}
}`

// simulated writes a lens file and a simulated observation into dir.
func simulated(t *testing.T, dir string, imagePixels int) (lensPath, obsPath string) {
	t.Helper()
	lensPath = filepath.Join(dir, fmt.Sprintf("lens%d.json", imagePixels))
	if err := os.WriteFile(lensPath, []byte(fmt.Sprintf(runLensJSON, imagePixels)), 0o644); err != nil {
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
	obsPath = filepath.Join(dir, fmt.Sprintf("obs%d.fits", imagePixels))
	if err := obs.Write(obsPath); err != nil {
		t.Fatal(err)
	}
	return lensPath, obsPath
}

func TestRunEndToEnd(t *testing.T) {
	dir := t.TempDir()
	lensPath, obsPath := simulated(t, dir, 20)
	base := RunOptions{Lens: lensPath, Obs: obsPath, Likelihood: "full", Predictor: "em", Corrector: "none",
		Steps: 60, Samples: 5, Batch: 2, Seed: 3, Shard: 1, Shards: 1, Software: "test"}
	for _, prior := range []string{"white:sigma=0.5", "grf:sigma=0.5,index=3,scale=0.5"} {
		o := base
		o.Prior = prior
		o.Out = filepath.Join(dir, "post-"+prior[:3]+".fits")
		if err := Run(context.Background(), o); err != nil {
			t.Fatalf("%s: %v", prior, err)
		}
		names, err := fitsimg.Names(o.Out)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(names, ","); got != "SAMPLES,MEAN,STD,PRED,RESID,CHI2NU,INDEX,INPUTS" {
			t.Errorf("HDUs %s", got)
		}
		s, err := fitsimg.ReadImage(o.Out, "SAMPLES")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(s.Axes) != "[16 16 5]" {
			t.Errorf("SAMPLES axes %v", s.Axes)
		}
		for _, key := range []string{"MODEL", "MODELSHA", "SDE", "SIGMAMIN", "SIGMAMAX", "STEPS", "PREDICTR", "CORRECTR", "LIKELIHD", "SEED", "SHARD", "VERSION", "FINGERPR", "NSAMPLES"} {
			if _, ok := s.Header.Get(key); !ok {
				t.Errorf("header lacks %s", key)
			}
		}
		if v, _ := s.Header.String("LIKELIHD"); v != "full" {
			t.Errorf("LIKELIHD = %q", v)
		}
		chi, err := fitsimg.ReadImage(o.Out, "CHI2NU")
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range chi.Data {
			// Samples of a well-specified problem fit the data to about the noise level.
			if !(v > 0.3 && v < 5) {
				t.Errorf("%s: CHI2NU[%d] = %g", prior, k, v)
			}
		}
		// The same samples whatever the batch size (SAMPLES is float32 on disk: compare
		// the stored values).
		o2 := o
		o2.Batch, o2.Out = 5, filepath.Join(dir, "post2-"+prior[:3]+".fits")
		if err := Run(context.Background(), o2); err != nil {
			t.Fatal(err)
		}
		s2, _ := fitsimg.ReadImage(o2.Out, "SAMPLES")
		for i := range s.Data {
			if s.Data[i] != s2.Data[i] {
				t.Fatalf("%s: batch 2 and batch 5 differ at %d", prior, i)
			}
		}
	}
	// Shards: 2/2 holds indices 1 and 3 and shares the fingerprint.
	o := base
	o.Prior, o.Shard, o.Shards, o.Out = "white:sigma=0.5", 2, 2, filepath.Join(dir, "shard.fits")
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	idx, _ := fitsimg.ReadImage(o.Out, "INDEX")
	if fmt.Sprint(idx.Data) != "[1 3]" {
		t.Errorf("shard 2/2 indices %v", idx.Data)
	}
}

func TestRunBadInputs(t *testing.T) {
	dir := t.TempDir()
	lensPath, obsPath := simulated(t, dir, 20)
	otherLens, _ := simulated(t, dir, 24)
	base := RunOptions{Lens: lensPath, Obs: obsPath, Prior: "white:sigma=0.5", Likelihood: "paper", Predictor: "em",
		Steps: 10, Samples: 2, Batch: 2, Shard: 1, Shards: 1, Out: filepath.Join(dir, "x.fits")}
	for name, mod := range map[string]func(*RunOptions){
		"grid mismatch":      func(o *RunOptions) { o.Lens = otherLens },
		"unknown likelihood": func(o *RunOptions) { o.Likelihood = "exact" },
		"unknown predictor":  func(o *RunOptions) { o.Predictor = "rk45" },
		"sigma-min≥max":      func(o *RunOptions) { o.SigmaMin, o.SigmaMax = 2, 1 },
		"prior sigma 0":      func(o *RunOptions) { o.Prior = "white:sigma=0" },
		"bad shard":          func(o *RunOptions) { o.Shard, o.Shards = 3, 2 },
		"missing obs":        func(o *RunOptions) { o.Obs = filepath.Join(dir, "none.fits") },
	} {
		o := base
		mod(&o)
		err := Run(context.Background(), o)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error %q", name, err)
		}
		if _, statErr := os.Stat(o.Out); statErr == nil {
			t.Errorf("%s: output written despite the error", name)
		}
	}
}

// A posterior file that another process is writing is neither read nor replaced, even with
// --force; a finished run leaves no lock file behind.
func TestRunRefusesLockedOutput(t *testing.T) {
	dir := t.TempDir()
	lensPath, obsPath := simulated(t, dir, 20)
	o := RunOptions{Lens: lensPath, Obs: obsPath, Prior: "white:sigma=0.5", Likelihood: "paper", Predictor: "em",
		Steps: 10, Samples: 2, Batch: 2, Shard: 1, Shards: 1, Out: filepath.Join(dir, "post.fits"), Software: "test"}
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.Out + ".lock"); err == nil {
		t.Errorf("lock file left after the run")
	}
	held, err := runlock.Acquire(o.Out)
	if err != nil || !held.Held() {
		t.Fatalf("could not lock %s for the test: %v", o.Out, err)
	}
	defer held.Release()
	before, _ := os.ReadFile(o.Out)
	o.Force = true
	if err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "in use by another process (host ") {
		t.Errorf("locked output: %v, want an in-use error naming the holder", err)
	}
	if after, _ := os.ReadFile(o.Out); string(after) != string(before) {
		t.Errorf("a locked output was rewritten")
	}
}
