package dataset

import (
	"context"
	"fmt"
	"io"
	"time"

	"scorelens/infer/figure"
)

// BuildOptions are the settings of `scorelens dataset`.
type BuildOptions struct {
	Synthetic  int     // number of synthetic galaxies (0: read From)
	From       string  // folder, FITS image or cube, or RealGalaxyCatalog
	Size       int     // pixels a side
	Seed       uint64  // synthetic sets
	PixelScale float64 // arcsec per output pixel (synthetic: default 3/Size, the SPEC's source fov)
	InputScale float64 // arcsec per input pixel where files do not say
	Norm       string
	Mask       bool
	OnBad      string
	Augment    bool
	Out        string
	Preview    string // PNG grid of examples ("" for none)
	Version    string
}

// Build makes a training set and writes it (and the preview); progress and counts go to w.
func Build(ctx context.Context, o BuildOptions, w io.Writer) error {
	start := time.Now()
	if o.Out == "" {
		return fmt.Errorf("no --out file")
	}
	if (o.Synthetic > 0) == (o.From != "") {
		return fmt.Errorf("give exactly one of --synthetic COUNT and --from PATH")
	}
	if o.Size < 4 {
		return fmt.Errorf("--size %d is too small (at least 4)", o.Size)
	}
	if o.Norm == "" {
		o.Norm = NormPeak
	}
	var set *Set
	if o.Synthetic > 0 {
		scale := o.PixelScale
		if scale == 0 {
			scale = 3.0 / float64(o.Size)
		}
		var err error
		if set, err = Synthetic(ctx, o.Synthetic, o.Size, o.Seed, scale, o.Norm); err != nil {
			return err
		}
		fmt.Fprintf(w, "%d synthetic galaxies, %d×%d, seed %d:\n", set.Count(), o.Size, o.Size, o.Seed)
		set.TypeCounts(w)
	} else {
		var rep *Report
		var err error
		set, rep, err = LoadPath(ctx, o.From, Load{
			Prep:       Prep{Size: o.Size, PixelScale: o.PixelScale, Norm: o.Norm, Mask: o.Mask},
			InputScale: o.InputScale, OnBad: o.OnBad, Log: w,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: %s\n", o.From, rep.Summary())
		if set.Count() == 0 {
			return fmt.Errorf("no usable images in %q", o.From)
		}
	}
	if o.Augment {
		set = set.Augment()
	}
	if err := set.Write(o.Out, o.Version); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %d images (%s normalisation, %.4g\"/pixel) to %s in %.1fs\n",
		set.Count(), set.Norm, set.PixelScale, o.Out, time.Since(start).Seconds())
	if o.Preview != "" {
		k := min(set.Count(), 48)
		cols := 8
		if k < cols {
			cols = k
		}
		var titles []string
		for i := 0; i < k; i++ {
			titles = append(titles, set.Names[i])
		}
		if err := figure.Grid(o.Preview, set.Images[:k], set.N, cols, titles); err != nil {
			return err
		}
		fmt.Fprintf(w, "preview of %d images: %s\n", k, o.Preview)
	}
	return nil
}
