package dataset

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"scorelens/lens/fitsimg"
)

// blob is an m×m Gaussian stamp of σ = s pixels centred at (cx, cy).
func blob(m int, cx, cy, s float64) []float64 {
	img := make([]float64, m*m)
	for j := 0; j < m; j++ {
		for i := 0; i < m; i++ {
			dx, dy := float64(i)-cx, float64(j)-cy
			img[j*m+i] = math.Exp(-(dx*dx + dy*dy) / (2 * s * s))
		}
	}
	return img
}

func writeStamp(t *testing.T, path string, img []float64, m int, scale float64) {
	t.Helper()
	im := fitsimg.NewImage("", img, m, m)
	im.Header.Set("PIXSCALE", scale, "arcsec")
	if err := fitsimg.Write(path, im); err != nil {
		t.Fatal(err)
	}
}

func TestFolderCounts(t *testing.T) {
	dir := t.TempDir()
	writeStamp(t, filepath.Join(dir, "a.fits"), blob(48, 20, 25, 3), 48, 0.05)
	writeStamp(t, filepath.Join(dir, "b.fits"), blob(40, 19.5, 19.5, 4), 40, 0.05)
	nan := blob(48, 24, 24, 3)
	nan[100] = math.NaN()
	writeStamp(t, filepath.Join(dir, "c_nan.fits"), nan, 48, 0.05)
	writeStamp(t, filepath.Join(dir, "d_small.fits"), blob(20, 10, 10, 3), 20, 0.05)
	if err := os.WriteFile(filepath.Join(dir, "e_corrupt.fits"), []byte("SIMPLE  =  garbage, not a FITS file"), 0o644); err != nil {
		t.Fatal(err)
	}
	opt := Load{Prep: Prep{Size: 32, Norm: NormPeak}}
	set, rep, err := LoadPath(context.Background(), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Counts()
	if rep.Kept != 2 || c[BadNaN] != 1 || c[BadUndersized] != 1 || c[BadUnreadable] != 1 || len(rep.Bad) != 3 {
		t.Errorf("counts: kept %d, %v; want 2 kept, 1 nan, 1 undersized, 1 unreadable", rep.Kept, c)
	}
	names := map[string]string{}
	for _, b := range rep.Bad {
		names[b.Kind] = b.Name
	}
	if names[BadNaN] != "c_nan.fits" || names[BadUndersized] != "d_small.fits" || names[BadUnreadable] != "e_corrupt.fits" {
		t.Errorf("bad inputs named %v", names)
	}
	if set.Count() != 2 || set.PixelScale != 0.05 {
		t.Fatalf("set of %d images at %g\"", set.Count(), set.PixelScale)
	}
	// Centred on the light: the blob at (20, 25) lands at the stamp centre (15.5, 15.5)
	// within the centroid's precision (exact for a symmetric blob: 1e-9 px).
	cx, cy, _ := lightCentre(set.Images[0], 32, 32)
	if math.Abs(cx-15.5) > 1e-6 || math.Abs(cy-15.5) > 1e-6 {
		t.Errorf("centred blob at (%g, %g), want (15.5, 15.5)", cx, cy)
	}
	opt.OnBad = "fail"
	if _, _, err := LoadPath(context.Background(), dir, opt); err == nil {
		t.Error("--on-bad fail accepted a folder with bad files")
	}
}

func TestResampleConservesFlux(t *testing.T) {
	// Σ out = Σ in for any scale when the output covers the light: exact overlap weights
	// sum to one per input pixel; tolerance 1e-12 relative (rounding).
	img := blob(60, 30.3, 28.7, 3)
	var in float64
	for _, v := range img {
		in += v
	}
	for _, r := range []float64{0.5, 1, 1.37, 2.5} {
		out := Resample(img, 60, 60, 30.3, 28.7, r, int(40/r))
		var s float64
		for _, v := range out {
			s += v
		}
		if math.Abs(s-in) > 1e-6*in {
			t.Errorf("r=%g: flux %g, want %g", r, s, in)
		}
	}
}

func TestCubeAndAugment(t *testing.T) {
	dir := t.TempDir()
	data := append(blob(36, 17.5, 17.5, 3), blob(36, 15, 20, 2)...)
	im := fitsimg.NewImage("", data, 36, 36, 2)
	im.Header.Set("CDELT2", 0.03/3600, "deg")
	path := filepath.Join(dir, "cube.fits")
	if err := fitsimg.Write(path, im); err != nil {
		t.Fatal(err)
	}
	set, rep, err := LoadPath(context.Background(), path, Load{Prep: Prep{Size: 24, Norm: NormFlux}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kept != 2 || math.Abs(set.PixelScale-0.03) > 1e-12 {
		t.Fatalf("kept %d at %g\"", rep.Kept, set.PixelScale)
	}
	var s float64
	for _, v := range set.Images[0] {
		s += v
	}
	if math.Abs(s-1) > 1e-12 {
		t.Errorf("flux normalisation: sum %g", s)
	}
	// The eight transforms of an asymmetric image are distinct, and each preserves the sum.
	a := Augment8(set.Images[1], 24)
	for p := range a {
		for q := p + 1; q < len(a); q++ {
			same := true
			for k := range a[p] {
				if a[p][k] != a[q][k] {
					same = false
					break
				}
			}
			if same {
				t.Errorf("transforms %d and %d coincide", p, q)
			}
		}
	}
	out := filepath.Join(dir, "set.fits")
	if err := set.Augment().Write(out, "test"); err != nil {
		t.Fatal(err)
	}
	back, err := fitsimg.ReadImage(out, "IMAGES")
	if err != nil {
		t.Fatal(err)
	}
	if back.Depth() != 16 {
		t.Errorf("augmented cube depth %d, want 16", back.Depth())
	}
	if v, _ := back.Header.String("NORM"); v != NormFlux {
		t.Errorf("NORM = %q", v)
	}
}

func TestCOSMOS(t *testing.T) {
	cat := filepath.Join("..", "..", "..", "shared", "data", "cosmos-paltas", "real_galaxy_catalog_23.5.fits")
	if _, err := os.Stat(cat); err != nil {
		t.Skipf("skipping: the COSMOS sample is not at %s (../shared absent)", cat)
	}
	set, rep, err := LoadPath(context.Background(), cat, Load{Prep: Prep{Size: 40, Norm: NormPeak, Mask: true}})
	if err != nil {
		t.Fatal(err)
	}
	// Ten galaxies of 45–234 pixels at 0.03": all cover 40×40 pixels.
	if rep.Kept+len(rep.Bad) != 10 || rep.Kept != 10 {
		t.Errorf("COSMOS: %s, want 10 kept", rep.Summary())
	}
	if math.Abs(set.PixelScale-0.03) > 1e-6 {
		t.Errorf("pixel scale %g, want 0.03", set.PixelScale)
	}
	for i, im := range set.Images {
		var peak float64
		for _, v := range im {
			peak = math.Max(peak, v)
		}
		if math.Abs(peak-1) > 1e-12 {
			t.Errorf("%s: peak %g", set.Names[i], peak)
		}
	}
}

func TestSyntheticSet(t *testing.T) {
	set, err := Synthetic(context.Background(), 16, 32, 5, 0.1, NormPeak)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s.fits")
	if err := set.Write(path, "test"); err != nil {
		t.Fatal(err)
	}
	tab, err := fitsimg.ReadTable(path, "SOURCES")
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows() != 16 {
		t.Errorf("SOURCES has %d rows", tab.Rows())
	}
	if c, ok := tab.Column("TYPE"); !ok || c.Len() != 16 {
		t.Errorf("no TYPE column of 16 rows")
	}
}
