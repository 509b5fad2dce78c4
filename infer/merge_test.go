package infer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mergeBase is a small run: 16×16 source, 20×20 image, 60 steps, 7 samples.
func mergeBase(lensPath, obsPath string) RunOptions {
	return RunOptions{Lens: lensPath, Obs: obsPath, Prior: "white:sigma=0.5", Likelihood: "paper", Predictor: "em",
		Steps: 60, Samples: 7, Batch: 2, Seed: 5, Shard: 1, Shards: 1, Software: "test"}
}

func TestMergeEqualsUnsharded(t *testing.T) {
	dir := t.TempDir()
	lensPath, obsPath := simulated(t, dir, 20)
	ctx := context.Background()
	whole := mergeBase(lensPath, obsPath)
	whole.Out = filepath.Join(dir, "whole.fits")
	if err := Run(ctx, whole); err != nil {
		t.Fatal(err)
	}
	var shards []string
	for k := 3; k >= 1; k-- { // any order
		o := mergeBase(lensPath, obsPath)
		o.Shard, o.Shards = k, 3
		o.Out = filepath.Join(dir, fmt.Sprintf("shard-%d.fits", k))
		if err := Run(ctx, o); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, o.Out)
	}
	out := filepath.Join(dir, "merged.fits")
	if err := Merge(ctx, MergeOptions{Inputs: shards, Out: out}); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(whole.Out)
	got, _ := os.ReadFile(out)
	// Byte-identical: no header card differs (SHARD = 1/1 and NDONE = 7 in both).
	if !bytes.Equal(got, want) {
		t.Fatalf("merged file (%d bytes) differs from the unsharded run's (%d bytes)", len(got), len(want))
	}
	// Merging again over the merged file (the same run) is allowed and changes nothing.
	if err := Merge(ctx, MergeOptions{Inputs: shards, Out: out}); err != nil {
		t.Fatal(err)
	}
	// With the inputs moved: the recorded paths fail, --lens/--obs fix it.
	moved := filepath.Join(dir, "moved.json")
	if err := os.Rename(lensPath, moved); err != nil {
		t.Fatal(err)
	}
	err := Merge(ctx, MergeOptions{Inputs: shards, Out: filepath.Join(dir, "m2.fits")})
	if err == nil || !strings.Contains(err.Error(), "--lens") {
		t.Errorf("moved lens file: %v", err)
	}
	if err := Merge(ctx, MergeOptions{Inputs: shards, Out: filepath.Join(dir, "m2.fits"), Lens: moved}); err != nil {
		t.Errorf("with --lens: %v", err)
	}
}

func TestMergeRefuses(t *testing.T) {
	dir := t.TempDir()
	lensPath, obsPath := simulated(t, dir, 20)
	ctx := context.Background()
	run := func(name string, mod func(*RunOptions)) string {
		t.Helper()
		o := mergeBase(lensPath, obsPath)
		o.Steps = 20
		o.Out = filepath.Join(dir, name)
		mod(&o)
		if err := Run(ctx, o); err != nil {
			t.Fatal(err)
		}
		return o.Out
	}
	s1 := run("s1.fits", func(o *RunOptions) { o.Shard, o.Shards = 1, 3 })
	s2 := run("s2.fits", func(o *RunOptions) { o.Shard, o.Shards = 2, 3 })
	s3 := run("s3.fits", func(o *RunOptions) { o.Shard, o.Shards = 3, 3 })
	s2copy := filepath.Join(dir, "s2-copy.fits")
	b, _ := os.ReadFile(s2)
	os.WriteFile(s2copy, b, 0o644)
	otherSeed := run("seed.fits", func(o *RunOptions) { o.Shard, o.Shards, o.Seed = 3, 3, 6 })
	otherSteps := run("steps.fits", func(o *RunOptions) { o.Shard, o.Shards, o.Steps = 3, 3, 21 })
	otherLik := run("lik.fits", func(o *RunOptions) { o.Shard, o.Shards, o.Likelihood = 3, 3, "diag" })
	otherN := run("n2.fits", func(o *RunOptions) { o.Shard, o.Shards = 2, 2 })
	// An incomplete shard: stop shard 3/3 (indices 2, 5) after its first batch of one.
	partial := filepath.Join(dir, "partial.fits")
	{
		o := mergeBase(lensPath, obsPath)
		o.Steps, o.Shard, o.Shards, o.Batch, o.Out = 20, 3, 3, 1, partial
		stop := make(chan struct{})
		o.Stop = stop
		var logged strings.Builder
		o.Log = &stopAfter{w: &logged, stop: stop, at: " 50%"}
		if err := Run(ctx, o); err == nil {
			t.Fatal("stopped run returned no error")
		}
	}
	notPost := filepath.Join(dir, "obs20.fits")
	for _, c := range []struct {
		name   string
		inputs []string
		want   []string // substrings of the error: what and which files
	}{
		{"other seed", []string{s1, s2, otherSeed}, []string{"different runs", "seed 5 vs 6", "s1.fits", "seed.fits"}},
		{"other steps", []string{s1, s2, otherSteps}, []string{"different runs", "steps 20 vs 21", "steps.fits"}},
		{"other likelihood", []string{s1, s2, otherLik}, []string{"different runs", "likelihood paper vs diag", "lik.fits"}},
		{"same file twice", []string{s1, s2, s3, s2}, []string{"same file", "s2.fits"}},
		{"duplicated shard", []string{s1, s2, s2copy, s3}, []string{"both shard 2/3", "s2.fits", "s2-copy.fits"}},
		{"missing shard", []string{s1, s3}, []string{"missing shard 2/3"}},
		{"missing shards", []string{s2}, []string{"missing shard 1/3, 3/3"}},
		{"incomplete shard", []string{s1, s2, partial}, []string{"partial.fits is incomplete", "1 of 2", "samples 5"}},
		{"mixed shardings", []string{s1, otherN}, []string{"different shardings", "n2.fits"}},
		{"not a posterior", []string{s1, notPost}, []string{"obs20.fits", "not a scorelens posterior"}},
		{"no such file", []string{s1, filepath.Join(dir, "none.fits")}, []string{"none.fits"}},
	} {
		out := filepath.Join(dir, "merged-"+strings.ReplaceAll(c.name, " ", "-")+".fits")
		err := Merge(ctx, MergeOptions{Inputs: c.inputs, Out: out})
		if err == nil {
			t.Errorf("%s: merged", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.name, err, w)
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error %q", c.name, err)
		}
		if _, statErr := os.Stat(out); statErr == nil {
			t.Errorf("%s: output written", c.name)
		}
	}
	// An existing file that is not a posterior of this run is kept unless Force.
	keep := filepath.Join(dir, "keep.fits")
	os.WriteFile(keep, []byte("precious"), 0o644)
	if err := Merge(ctx, MergeOptions{Inputs: []string{s1, s2, s3}, Out: keep}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("overwrote a foreign file: %v", err)
	}
	if b, _ := os.ReadFile(keep); string(b) != "precious" {
		t.Errorf("foreign file changed")
	}
	if err := Merge(ctx, MergeOptions{Inputs: []string{s1, s2, s3}, Out: otherSeed}); err == nil || !strings.Contains(err.Error(), "another run") {
		t.Errorf("overwrote another run's posterior: %v", err)
	}
	if err := Merge(ctx, MergeOptions{Inputs: []string{s1, s2, s3}, Out: keep, Force: true}); err != nil {
		t.Errorf("--force: %v", err)
	}
}

// stopAfter is a log writer that closes stop once the log contains at.
type stopAfter struct {
	w    *strings.Builder
	stop chan struct{}
	at   string
	done bool
}

func (s *stopAfter) Write(p []byte) (int, error) {
	s.w.Write(p)
	if !s.done && strings.Contains(s.w.String(), s.at) {
		s.done = true
		close(s.stop)
	}
	return len(p), nil
}
