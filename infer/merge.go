package infer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"scorelens/lens"
)

// MergeOptions are the settings of `scorelens merge`.
type MergeOptions struct {
	Inputs []string // the shard files, in any order
	Out    string   // the merged posterior file
	// Lens and Obs replace the lens configuration and observation paths the shards
	// recorded (INPUTS), e.g. after moving the files; either way their SHA-256 must be the
	// run's.
	Lens, Obs string
	// Force lets Merge replace a file at Out that is not a posterior of the same run.
	Force bool
	Log   io.Writer // a summary line; nil: quiet
}

// Merge combines the shard files of one run (`scorelens sample --shard k/n`, k = 1…n) into
// one posterior file equal to the file an unsharded run with the same settings writes:
// SAMPLES ordered by sample index; MEAN, STD, PRED, RESID and CHI2NU recomputed exactly as
// Run computes them (the same code); SHARD = 1/1 and NDONE = NSAMPLES; every other header
// card as in the shards. PRED and RESID need the lens configuration and the observation:
// they are read from the paths the shards recorded, or Lens and Obs.
//
// Merge refuses, naming the files: shards of different runs (another model, lens,
// observation, seed, sample count, setting or version), one file given twice, two files
// of the same shard or overlapping indices, shards of different shard counts, missing
// shards, and incomplete shards (resume those first). It never overwrites a file at Out
// that is not a posterior of the same run unless Force.
func Merge(ctx context.Context, o MergeOptions) error {
	if len(o.Inputs) == 0 {
		return fmt.Errorf("no shard files to merge")
	}
	if o.Out == "" {
		return fmt.Errorf("no output file (--out)")
	}
	stats := make([]os.FileInfo, len(o.Inputs))
	for k, p := range o.Inputs {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("could not read shard %q: %w", p, err)
		}
		stats[k] = fi
		for j := 0; j < k; j++ {
			if os.SameFile(stats[j], fi) {
				return fmt.Errorf("%s and %s are the same file (given twice)", o.Inputs[j], p)
			}
		}
		if fo, err := os.Stat(o.Out); err == nil && os.SameFile(fo, fi) {
			return fmt.Errorf("--out %s is one of the shards", o.Out)
		}
	}
	parts := make([]*posteriorData, len(o.Inputs))
	for k, p := range o.Inputs {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := readPosterior(p)
		if err != nil {
			return fmt.Errorf("shard %s: %w", p, err)
		}
		parts[k] = d
	}
	ref := parts[0]
	byShard := map[int]*posteriorData{}
	for _, d := range parts {
		if diff := differences(&ref.Meta, &d.Meta, true); len(diff) > 0 {
			return fmt.Errorf("%s and %s are shards of different runs (%s)", ref.Path, d.Path, strings.Join(diff, ", "))
		}
		if d.Meta.Shards != ref.Meta.Shards {
			return fmt.Errorf("%s is shard %d/%d but %s is shard %d/%d: shards of different shardings", ref.Path, ref.Meta.Shard, ref.Meta.Shards, d.Path, d.Meta.Shard, d.Meta.Shards)
		}
		if d.NS != ref.NS {
			return fmt.Errorf("%s has %d×%d samples but %s has %d×%d", ref.Path, ref.NS, ref.NS, d.Path, d.NS, d.NS)
		}
		if e, dup := byShard[d.Meta.Shard]; dup {
			return fmt.Errorf("%s and %s are both shard %d/%d (duplicated shard)", e.Path, d.Path, d.Meta.Shard, d.Meta.Shards)
		}
		byShard[d.Meta.Shard] = d
	}
	nsh := ref.Meta.Shards
	var missing []string
	for k := 1; k <= nsh; k++ {
		if byShard[k] == nil {
			missing = append(missing, fmt.Sprintf("%d/%d", k, nsh))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing shard %s of the run of %s (got %d of %d files)", strings.Join(missing, ", "), ref.Path, len(parts), nsh)
	}
	total := ref.Meta.NSamples
	seen := make(map[int]string, total)
	for k := 1; k <= nsh; k++ {
		d := byShard[k]
		want := shardIndices(total, k, nsh)
		if len(d.Index) != len(want) {
			var gaps []int
			have := map[int]bool{}
			for _, i := range d.Index {
				have[i] = true
			}
			for _, i := range want {
				if !have[i] {
					gaps = append(gaps, i)
				}
			}
			return fmt.Errorf("%s is incomplete: %d of %d samples of shard %d/%d (missing %s); resume it with scorelens sample … --resume first",
				d.Path, len(d.Index), len(want), k, nsh, indexList(gaps))
		}
		for _, i := range d.Index {
			if p, dup := seen[i]; dup {
				return fmt.Errorf("%s and %s both hold sample %d (overlapping indices)", p, d.Path, i)
			}
			seen[i] = d.Path
		}
	}

	// The lens and the observation the run used.
	meta := ref.Meta
	lensPath, obsPath := o.Lens, o.Obs
	if lensPath == "" {
		lensPath = meta.LensPath
	}
	if obsPath == "" {
		obsPath = meta.ObsPath
	}
	if lensPath == "" || obsPath == "" {
		return fmt.Errorf("%s does not record its lens and observation files: pass --lens and --obs", ref.Path)
	}
	cfg, err := lens.LoadConfig(lensPath)
	if err != nil {
		return fmt.Errorf("%w (pass --lens with the run's lens file)", err)
	}
	if cfg.LensHash() != meta.LensHash {
		return fmt.Errorf("lens file %s is not the one the shards were drawn with (SHA-256 differs): pass --lens with the original", lensPath)
	}
	obsHash, err := fileHash(obsPath)
	if err != nil {
		return fmt.Errorf("%w (pass --obs with the run's observation)", err)
	}
	if obsHash != meta.ObsHash {
		return fmt.Errorf("observation %s is not the one the shards were drawn with (SHA-256 differs): pass --obs with the original", obsPath)
	}
	obs, err := lens.ReadObservation(obsPath)
	if err != nil {
		return err
	}
	if err := obs.CheckAgainst(cfg); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(obsPath), err)
	}
	if cfg.SourceGrid().N != ref.NS {
		return fmt.Errorf("%s has %d×%d samples but %s's source grid is %d×%d", ref.Path, ref.NS, ref.NS, lensPath, cfg.SourceGrid().N, cfg.SourceGrid().N)
	}
	op, err := lens.NewOperator(cfg)
	if err != nil {
		return err
	}
	if meta.LensPath, err = filepath.Abs(lensPath); err != nil {
		return fmt.Errorf("could not resolve %q: %w", lensPath, err)
	}
	if meta.ObsPath, err = filepath.Abs(obsPath); err != nil {
		return fmt.Errorf("could not resolve %q: %w", obsPath, err)
	}
	meta.Shard, meta.Shards = 1, 1

	// The output: a posterior of the same run is replaced (with the same content); anything
	// else needs Force.
	prev, err := readPosterior(o.Out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		if !o.Force {
			return fmt.Errorf("%s exists and is not a posterior file of scorelens (%v): not overwriting it; choose another --out or pass --force", o.Out, err)
		}
	default:
		if diff := differences(&prev.Meta, &meta, true); len(diff) > 0 && !o.Force {
			return fmt.Errorf("%s holds another run (%s; file vs shards): not overwriting it; choose another --out or pass --force to replace it", o.Out, strings.Join(diff, ", "))
		}
	}

	n := ref.NS * ref.NS
	samples := make([]float64, 0, total*n)
	index := make([]int, 0, total)
	for k := 1; k <= nsh; k++ {
		samples = append(samples, byShard[k].Samples...)
		index = append(index, byShard[k].Index...)
	}
	w := &posteriorWriter{a: op, obs: obs, ns: ref.NS}
	if err := w.write(o.Out, meta, samples, index); err != nil {
		return err
	}
	if o.Log != nil {
		fmt.Fprintf(o.Log, "merged %d shards (%d samples) into %s\n", nsh, total, o.Out)
	}
	return nil
}

// indexList writes up to 8 indices, then how many more.
func indexList(idx []int) string {
	sort.Ints(idx)
	var parts []string
	for k, i := range idx {
		if k == 8 {
			parts = append(parts, fmt.Sprintf("and %d more", len(idx)-8))
			break
		}
		parts = append(parts, fmt.Sprint(i))
	}
	return "samples " + strings.Join(parts, ", ")
}
