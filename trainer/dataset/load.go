package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"scorelens/lens/fitsimg"
)

// Set is a training set: Count() images of N×N pixels.
type Set struct {
	Images     [][]float64
	N          int
	PixelScale float64 // arcsec
	Norm       string
	Origin     string    // "synthetic" or the path the images came from
	Seed       uint64    // synthetic sets
	Names      []string  // one per image
	Factors    []float64 // normalisation factor of each image
	Params     []galaxyParams
}

// Count is the number of images.
func (s *Set) Count() int { return len(s.Images) }

// Report counts what a load kept and refused.
type Report struct {
	Kept int
	Bad  []*BadInput
}

// Counts returns the number of refused inputs of each kind.
func (r *Report) Counts() map[string]int {
	c := map[string]int{}
	for _, b := range r.Bad {
		c[b.Kind]++
	}
	return c
}

// Summary is one line: kept and refused inputs by kind.
func (r *Report) Summary() string {
	c := r.Counts()
	kinds := []string{BadUnreadable, BadNaN, BadUndersized, BadEmpty}
	parts := []string{fmt.Sprintf("%d kept", r.Kept)}
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", c[k], k))
	}
	return strings.Join(parts, ", ")
}

// Load options.
type Load struct {
	Prep
	InputScale float64   // arcsec per input pixel where the files do not say
	OnBad      string    // "skip" (default) or "fail"
	Log        io.Writer // bad inputs are reported here by name (nil: not reported)
}

// LoadPath reads a folder of FITS images, a FITS image or cube, or a RealGalaxyCatalog file
// (a table with GAL_FILENAME and GAL_HDU columns) and prepares every stamp.
func LoadPath(ctx context.Context, path string, opt Load) (*Set, *Report, error) {
	if opt.OnBad == "" {
		opt.OnBad = "skip"
	}
	if opt.OnBad != "skip" && opt.OnBad != "fail" {
		return nil, nil, fmt.Errorf("--on-bad must be skip or fail, not %q", opt.OnBad)
	}
	if opt.Norm == "" {
		opt.Norm = NormPeak
	}
	if _, err := Normalise(nil, opt.Norm); err != nil && !errors.Is(err, errNoLight) {
		return nil, nil, err
	}
	if opt.Size < 1 {
		return nil, nil, fmt.Errorf("image size %d is not positive", opt.Size)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("could not read %q: %w", path, err)
	}
	l := &loader{ctx: ctx, opt: opt, set: &Set{N: opt.Size, Norm: opt.Norm, Origin: path}, rep: &Report{}}
	switch {
	case st.IsDir():
		err = l.folder(path)
	default:
		if t, terr := fitsimg.ReadTable(path, ""); terr == nil {
			if _, ok := t.Column("GAL_FILENAME"); ok {
				err = l.catalog(path, t)
				break
			}
		}
		err = l.file(path, filepath.Base(path), true)
	}
	if err != nil {
		return nil, l.rep, err
	}
	l.set.PixelScale = opt.PixelScale
	if l.set.PixelScale == 0 {
		l.set.PixelScale = l.scale
	}
	return l.set, l.rep, nil
}

type loader struct {
	ctx   context.Context
	opt   Load
	set   *Set
	rep   *Report
	scale float64 // input pixel scale seen (when the output keeps it)
}

// refuse records a bad input, or returns it as the error under --on-bad fail.
func (l *loader) refuse(b *BadInput) error {
	if l.opt.OnBad == "fail" {
		return b
	}
	l.rep.Bad = append(l.rep.Bad, b)
	if l.opt.Log != nil {
		fmt.Fprintf(l.opt.Log, "skipped %s\n", b.Error())
	}
	return nil
}

func (l *loader) folder(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("could not read %q: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.IsDir() && (ext == ".fits" || ext == ".fit" || ext == ".fts") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return fmt.Errorf("no FITS files (.fits, .fit, .fts) in %q", dir)
	}
	for _, n := range names {
		if err := l.file(filepath.Join(dir, n), n, false); err != nil {
			return err
		}
	}
	return nil
}

// file loads every plane of the first image HDU of path; single says the whole run is
// this one file (an unreadable file is then an error, not a skipped input).
func (l *loader) file(path, name string, single bool) error {
	if err := l.ctx.Err(); err != nil {
		return err
	}
	im, err := fitsimg.ReadImage(path, "")
	if err != nil {
		if single {
			return err
		}
		return l.refuse(&BadInput{Name: name, Kind: BadUnreadable, Err: err})
	}
	if len(im.Axes) < 2 {
		b := &BadInput{Name: name, Kind: BadUnreadable, Err: fmt.Errorf("not a 2-D image or cube (axes %v)", im.Axes)}
		if single {
			return b
		}
		return l.refuse(b)
	}
	scale := headerScale(&im.Header)
	if scale == 0 {
		scale = l.opt.InputScale
	}
	if scale == 0 {
		return fmt.Errorf("%q does not give its pixel scale (PIXSCALE, CD2_2 or CDELT2): pass --input-scale", path)
	}
	nx, ny := im.Axes[0], im.Axes[1]
	depth := im.Depth()
	for k := 0; k < depth; k++ {
		label := name
		if depth > 1 {
			label = fmt.Sprintf("%s[%d]", name, k)
		}
		if err := l.add(label, im.Plane(k), nx, ny, scale); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) add(name string, img []float64, nx, ny int, scale float64) error {
	out, f, err := Prepare(name, img, nx, ny, scale, l.opt.Prep)
	if err != nil {
		var b *BadInput
		if errors.As(err, &b) {
			return l.refuse(b)
		}
		return err
	}
	if l.scale == 0 {
		l.scale = scale
	} else if l.opt.PixelScale == 0 && scale != l.scale {
		return fmt.Errorf("%s: pixel scale %g\" differs from the %g\" of earlier stamps: pass --pixscale to resample them all", name, scale, l.scale)
	}
	l.set.Images = append(l.set.Images, out)
	l.set.Names = append(l.set.Names, name)
	l.set.Factors = append(l.set.Factors, f)
	l.rep.Kept++
	return nil
}

// catalog loads the galaxies of a GalSim RealGalaxyCatalog: GAL_FILENAME (relative to the
// catalog's folder) and GAL_HDU (0-based HDU index, as GalSim counts), PIXEL_SCALE (arcsec)
// where present, IDENT for names.
func (l *loader) catalog(path string, t *fitsimg.Table) error {
	fc, _ := t.Column("GAL_FILENAME")
	files, ok := fc.Data.([]string)
	if !ok {
		return fmt.Errorf("%q: GAL_FILENAME is not a string column", path)
	}
	hc, ok := t.Column("GAL_HDU")
	if !ok {
		return fmt.Errorf("%q: catalog has GAL_FILENAME but no GAL_HDU column", path)
	}
	hdus, ok := hc.Float()
	if !ok {
		return fmt.Errorf("%q: GAL_HDU is not numeric", path)
	}
	var scales []float64
	if sc, ok := t.Column("PIXEL_SCALE"); ok {
		scales, _ = sc.Float()
	}
	var idents []string
	if ic, ok := t.Column("IDENT"); ok {
		if v, ok := ic.Float(); ok {
			for _, x := range v {
				idents = append(idents, fmt.Sprintf("%d", int64(x)))
			}
		} else if s, ok := ic.Data.([]string); ok {
			idents = s
		}
	}
	dir := filepath.Dir(path)
	for r := range files {
		if err := l.ctx.Err(); err != nil {
			return err
		}
		file := strings.TrimSpace(files[r])
		name := fmt.Sprintf("%s[%d]", file, int(hdus[r]))
		if r < len(idents) {
			name = fmt.Sprintf("ident %s (%s)", idents[r], name)
		}
		im, err := fitsimg.ReadImageHDU(filepath.Join(dir, file), int(hdus[r]))
		if err != nil {
			if err := l.refuse(&BadInput{Name: name, Kind: BadUnreadable, Err: err}); err != nil {
				return err
			}
			continue
		}
		if len(im.Axes) != 2 {
			if err := l.refuse(&BadInput{Name: name, Kind: BadUnreadable, Err: fmt.Errorf("not a 2-D image (axes %v)", im.Axes)}); err != nil {
				return err
			}
			continue
		}
		scale := 0.0
		if r < len(scales) {
			scale = scales[r]
		}
		if scale == 0 {
			scale = headerScale(&im.Header)
		}
		if scale == 0 {
			scale = l.opt.InputScale
		}
		if scale == 0 {
			return fmt.Errorf("%q: no PIXEL_SCALE for row %d: pass --input-scale", path, r)
		}
		if err := l.add(name, im.Data, im.Axes[0], im.Axes[1], scale); err != nil {
			return err
		}
	}
	return nil
}

// headerScale reads a pixel scale in arcsec: PIXSCALE or PIXEL_SCALE (arcsec), else
// |CD2_2| or |CDELT2| (degrees).
func headerScale(h *fitsimg.Header) float64 {
	for _, k := range []string{"PIXSCALE", "PIXEL_SCALE"} {
		if v, ok := h.Float(k); ok && v > 0 {
			return v
		}
	}
	for _, k := range []string{"CD2_2", "CDELT2"} {
		if v, ok := h.Float(k); ok && v != 0 {
			if v < 0 {
				v = -v
			}
			return v * 3600
		}
	}
	return 0
}
