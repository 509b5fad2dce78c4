package demo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scorelens/lens/fitsimg"
)

// TestDemo runs the demo with few steps and samples (the figures' content is checked by
// infer/figure's tests; here, that every file is written and is what it claims to be).
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	files, err := Run(context.Background(), Options{Out: dir, Samples: 2, Steps: 20, Prior: DefaultPrior})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Fatalf("wrote %v", files)
	}
	// A second demo into the same folder replaces the first one's files (the lens and the
	// observation were always rewritten; the posterior was refused as another run's).
	if _, err := Run(context.Background(), Options{Out: dir, Samples: 2, Steps: 20, Seed: 2, Prior: DefaultPrior}); err != nil {
		t.Fatalf("second run into the same folder: %v", err)
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	s, err := fitsimg.ReadImage(filepath.Join(dir, "posterior.fits"), "SAMPLES")
	if err != nil {
		t.Fatal(err)
	}
	if s.Depth() != 2 || s.Axes[0] != 64 {
		t.Errorf("SAMPLES axes %v", s.Axes)
	}
	// The posterior is drawn with the card's sampler, not --steps auto's Euler–Maruyama.
	pred, _ := s.Header.String("PREDICTR")
	steps, _ := s.Header.Int("STEPS")
	ch, _ := s.Header.Float("CHURN")
	if pred != "heun" || steps != 20 || ch != DefaultChurn {
		t.Errorf("PREDICTR %q, STEPS %d, CHURN %g; want heun, 20, %d", pred, steps, ch, DefaultChurn)
	}
}

func TestDemoOOD(t *testing.T) {
	dir := t.TempDir()
	files, err := Run(context.Background(), Options{Out: dir, OOD: true, Steps: 10, Prior: DefaultPrior})
	if err != nil {
		t.Fatal(err)
	}
	if last := files[len(files)-1]; filepath.Base(last) != "figure2.png" {
		t.Errorf("last file %s", last)
	}
	if len(files) != 3*len(oodNoise)+1 {
		t.Errorf("%d files", len(files))
	}
}

// A model that cannot be opened stops the demo before it simulates anything.
func TestDemoBadModel(t *testing.T) {
	dir := t.TempDir()
	_, err := Run(context.Background(), Options{Out: dir, Model: filepath.Join(dir, "none.onnx")})
	if err == nil || !strings.Contains(err.Error(), "none.onnx") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "obs.fits")); err == nil {
		t.Error("an observation was simulated before the model was checked")
	}
}

// Bad step and sample counts are refused before the output folder is created.
func TestDemoBadCounts(t *testing.T) {
	for _, o := range []Options{{Steps: -5}, {Samples: -1}} {
		o.Out = filepath.Join(t.TempDir(), "out")
		o.Prior = DefaultPrior
		_, err := Run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "at least 1") {
			t.Errorf("%+v: err = %v", o, err)
		}
		if _, err := os.Stat(o.Out); err == nil {
			t.Errorf("%+v: %s was created", o, o.Out)
		}
	}
}
