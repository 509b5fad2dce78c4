package dataset

import (
	"context"
	"fmt"
	"io"
	"math"

	"scorelens/lens/fitsimg"
	"scorelens/lens/galaxy"
)

type galaxyParams = galaxy.Params

// Synthetic draws count galaxies of n×n pixels with seed (galaxy i from galaxy.Stream(seed,
// i)), normalised as norm says; pixelScale (arcsec) is recorded with the set.
func Synthetic(ctx context.Context, count, n int, seed uint64, pixelScale float64, norm string) (*Set, error) {
	if norm == "" {
		norm = NormPeak
	}
	imgs, params, err := galaxy.Generate(ctx, seed, count, n, 0)
	if err != nil {
		return nil, err
	}
	s := &Set{Images: imgs, N: n, PixelScale: pixelScale, Norm: norm, Origin: "synthetic", Seed: seed, Params: params}
	for i, im := range imgs {
		f, err := Normalise(im, norm)
		if err != nil {
			return nil, fmt.Errorf("synthetic galaxy %d: %w", i, err)
		}
		s.Factors = append(s.Factors, f)
		s.Names = append(s.Names, fmt.Sprintf("%s-%d", params[i].Type, i))
	}
	return s, nil
}

// Augment returns a set holding the eight flips and right-angle rotations of every image
// (Augment8), names suffixed /d0 … /d7.
func (s *Set) Augment() *Set {
	a := *s
	a.Images, a.Names, a.Factors, a.Params = nil, nil, nil, nil
	for i, im := range s.Images {
		for t, d := range Augment8(im, s.N) {
			a.Images = append(a.Images, d)
			a.Names = append(a.Names, fmt.Sprintf("%s/d%d", s.Names[i], t))
			a.Factors = append(a.Factors, s.Factors[i])
			if s.Params != nil {
				a.Params = append(a.Params, s.Params[i])
			}
		}
	}
	return &a
}

// Write stores the set as a FITS cube (IMAGES) and a SOURCES table, atomically.
func (s *Set) Write(path, version string) error {
	n := s.N
	data := make([]float64, 0, n*n*len(s.Images))
	for _, im := range s.Images {
		if len(im) != n*n {
			panic("dataset: image length mismatch")
		}
		data = append(data, im...)
	}
	cube := fitsimg.NewImage("IMAGES", data, n, n, len(s.Images))
	h := &cube.Header
	h.Set("ORIGIN", s.Origin, "where the images came from")
	h.Set("NPIX", int64(n), "pixels a side")
	h.Set("PIXSCALE", s.PixelScale, "arcsec per pixel")
	h.Set("NORM", s.Norm, "per-image normalisation: peak, flux or none")
	h.Set("COUNT", int64(len(s.Images)), "number of images")
	h.Set("SEED", int64(s.Seed), "random seed (synthetic sets)")
	h.Set("VERSION", version, "scorelens version")
	names := append([]string(nil), s.Names...)
	cols := []fitsimg.Column{
		{Name: "NAME", Data: names},
		{Name: "NORM_FACTOR", Data: append([]float64(nil), s.Factors...)},
	}
	if s.Params != nil {
		cols = append(cols, paramColumns(s.Params)...)
	}
	t := &fitsimg.Table{Name: "SOURCES", Columns: cols}
	return fitsimg.Write(path, cube, t)
}

func paramColumns(ps []galaxy.Params) []fitsimg.Column {
	m := len(ps)
	typ := make([]string, m)
	ints := map[string][]int64{"ARMS": make([]int64, m), "KNOTS": make([]int64, m), "TAILS": make([]int64, m)}
	fl := []string{"FLUX", "X0", "Y0", "PA", "INCL", "Q", "BULGE_FRAC", "BULGE_RE", "BULGE_N", "BULGE_Q", "DISC_H",
		"PITCH", "ARM_CONTRAST", "ARM_WIDTH", "KNOT_FRAC", "BAR_FRAC", "BAR_LEN", "BAR_ANGLE", "LUMPINESS", "DUST",
		"COMP_FRAC", "COMP_SEP", "COMP_PA"}
	fv := map[string][]float64{}
	for _, k := range fl {
		fv[k] = make([]float64, m)
	}
	seeds := make([]int64, m)
	for i, p := range ps {
		typ[i] = p.Type
		seeds[i] = int64(p.Seed)
		ints["ARMS"][i], ints["KNOTS"][i], ints["TAILS"][i] = int64(p.Arms), int64(p.Knots), int64(p.Tails)
		for k, v := range []float64{p.Flux, p.X0, p.Y0, p.PA, p.Incl, p.Q, p.BulgeFrac, p.BulgeRe, p.BulgeN, p.BulgeQ, p.DiscH,
			p.Pitch, p.ArmContrast, p.ArmWidth, p.KnotFrac, p.BarFrac, p.BarLen, p.BarAngle, p.Lumpiness, p.Dust,
			p.CompFrac, p.CompSep, p.CompPA} {
			fv[fl[k]][i] = v
		}
	}
	cols := []fitsimg.Column{{Name: "TYPE", Data: typ}, {Name: "GAL_SEED", Data: seeds}}
	for _, k := range []string{"ARMS", "KNOTS", "TAILS"} {
		cols = append(cols, fitsimg.Column{Name: k, Data: ints[k]})
	}
	for _, k := range fl {
		unit := ""
		switch k {
		case "PA", "INCL", "PITCH", "BAR_ANGLE", "COMP_PA":
			unit = "deg"
		case "X0", "Y0", "BULGE_RE", "DISC_H", "BAR_LEN", "COMP_SEP":
			unit = "half-stamp"
		}
		cols = append(cols, fitsimg.Column{Name: k, Unit: unit, Data: fv[k]})
	}
	return cols
}

// ReadCube reads the images of a data-set cube (or any square image or cube: the first
// image HDU) as n×n planes.
func ReadCube(path string) ([][]float64, int, error) {
	im, err := fitsimg.ReadImage(path, "")
	if err != nil {
		return nil, 0, err
	}
	if len(im.Axes) < 2 || im.Axes[0] != im.Axes[1] {
		return nil, 0, fmt.Errorf("%q: expected square images, got axes %v", path, im.Axes)
	}
	out := make([][]float64, im.Depth())
	for k := range out {
		out[k] = append([]float64(nil), im.Plane(k)...)
		for _, v := range out[k] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, 0, fmt.Errorf("%q: plane %d holds %v", path, k, v)
			}
		}
	}
	return out, im.Axes[0], nil
}

// TypeCounts prints how many galaxies of each type a synthetic set holds.
func (s *Set) TypeCounts(w io.Writer) {
	if s.Params == nil {
		return
	}
	c := map[string]int{}
	for _, p := range s.Params {
		c[p.Type]++
	}
	for _, t := range galaxy.Types {
		fmt.Fprintf(w, "  %-11s %d\n", t.Name, c[t.Name])
	}
}
