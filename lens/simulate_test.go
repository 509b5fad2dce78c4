package lens

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"scorelens/lens/fitsimg"
	"scorelens/lens/galaxy"
)

// withKey adds a top-level key to a configuration.
func withKey(js, kv string) string {
	i := strings.LastIndex(js, "}")
	return js[:i] + ",\n  " + kv + "\n}"
}

func writeLens(t *testing.T, dir, js string) string {
	t.Helper()
	p := filepath.Join(dir, "lens.json")
	if err := os.WriteFile(p, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSimulateRoundTrip: simulate → ReadObservation gives back exactly what was written
// (float64 pixels), OBS − MODEL has the configured σ, ALPHA_X/ALPHA_Y are the analytic
// deflections at the pixel centres, and the header carries what later stages rely on.
func TestSimulateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	lensPath := writeLens(t, dir, withKey(lensJSON(32, 48, 2, `{"type":"gaussian","fwhm":0.15}`), `"noise":{"sigma":0.02}`))
	out := filepath.Join(dir, "obs.fits")
	o, err := SimulateFile(context.Background(), lensPath, "spiral", 42, out, "test-1.0")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ReadObservation(out)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := LoadConfig(lensPath)
	if err := r.CheckAgainst(cfg); err != nil {
		t.Error(err)
	}
	if r.N != 48 || r.TruthN != 32 || r.PixScale != 6.0/48 || r.Mask != nil || r.PSF == nil {
		t.Fatalf("read back N=%d TruthN=%d PixScale=%v mask=%v psf=%v", r.N, r.TruthN, r.PixScale, r.Mask != nil, r.PSF != nil)
	}
	for name, pair := range map[string][2][]float64{"OBS": {o.Data, r.Data}, "NOISE": {o.Sigma, r.Sigma},
		"MODEL": {o.Model, r.Model}, "TRUTH": {o.Truth, r.Truth}, "ALPHA_X": {o.AlphaX, r.AlphaX}, "ALPHA_Y": {o.AlphaY, r.AlphaY}} {
		if !slices.Equal(pair[0], pair[1]) {
			t.Errorf("%s differs after the round trip", name)
		}
	}
	for _, key := range []string{"PIXSCALE", "SEED", "VERSION", "LENSHASH"} {
		if _, ok := r.Header.Get(key); !ok {
			t.Errorf("header has no %s", key)
		}
	}
	if s, _ := r.Header.Int("SEED"); s != 42 {
		t.Errorf("SEED = %v", s)
	}
	if h, _ := r.Header.String("LENSHASH"); h != cfg.LensHash() {
		t.Errorf("LENSHASH = %q, want %q", h, cfg.LensHash())
	}
	// TRUTH is the built-in galaxy at the source resolution.
	want, _ := galaxy.Example("spiral", 32)
	if !slices.Equal(want, r.Truth) {
		t.Error("TRUTH is not galaxy.Example(spiral, 32)")
	}
	// Residual OBS − MODEL is N(0, 0.02²): over 2304 pixels the sample σ is within
	// 0.02·(1 ± 5/sqrt(2·2304)) (5 standard errors).
	ss := 0.0
	for k := range r.Data {
		d := r.Data[k] - r.Model[k]
		ss += d * d
	}
	sd := math.Sqrt(ss / float64(len(r.Data)))
	if math.Abs(sd-0.02) > 0.02*5/math.Sqrt(2*2304) {
		t.Errorf("noise σ = %v, want 0.02", sd)
	}
	// ALPHA_* are the analytic SIE+shear at the observed pixel centres (exactly: the same
	// code; the lenstronomy comparison is TestGoldenLenstronomy).
	d, _ := cfg.Deflector()
	g := cfg.ImageGrid()
	for _, p := range [][2]int{{0, 0}, {47, 0}, {10, 33}, {47, 47}} {
		ax, ay := d.Deflection(g.X(p[0]), g.Y(p[1]))
		k := p[1]*48 + p[0]
		if r.AlphaX[k] != ax || r.AlphaY[k] != ay {
			t.Errorf("ALPHA at %v = (%v,%v), want (%v,%v)", p, r.AlphaX[k], r.AlphaY[k], ax, ay)
		}
	}
	// MODEL = A·TRUTH with the operator built from the same file.
	a, _ := NewOperator(cfg)
	y := make([]float64, a.Rows())
	a.Apply(y, r.Truth)
	if !slices.Equal(y, r.Model) {
		t.Error("MODEL differs from A·TRUTH")
	}
	// Same seed → same file contents; another seed → different noise.
	o2, _ := Simulate(cfg, r.Truth, rand.New(rand.NewPCG(42, 0x5ce11e05)), "x")
	if !slices.Equal(o2.Data, r.Data) {
		t.Error("simulation is not reproducible from its seed")
	}
	// A lens file with another image size is refused by CheckAgainst.
	other, _ := ParseConfig([]byte(lensJSON(32, 64, 2, "")), "other.json")
	if err := r.CheckAgainst(other); err == nil || !strings.Contains(err.Error(), "other.json") {
		t.Errorf("CheckAgainst(other) = %v", err)
	}
}

// TestDeflectionMapLens: a lens given as a deflection map sampled from SIE+shear on the
// supersampled grid gives the same operator as the analytic lens. The map is queried at
// its own nodes, where bilinear interpolation returns the node value up to rounding of
// the fractional index (~1e-15 pixel), so A x agrees to 1e-12.
func TestDeflectionMapLens(t *testing.T) {
	dir := t.TempDir()
	analytic := mustConfig(t, lensJSON(24, 32, 2, `{"type":"gaussian","fwhm":0.2}`))
	d, _ := analytic.Deflector()
	fine := analytic.ImageGrid().Supersampled(2)
	ax, ay := make([]float64, fine.Len()), make([]float64, fine.Len())
	for j := 0; j < fine.N; j++ {
		for i := 0; i < fine.N; i++ {
			ax[j*fine.N+i], ay[j*fine.N+i] = d.Deflection(fine.X(i), fine.Y(j))
		}
	}
	imx, imy := fitsimg.NewImage("ALPHA_X", ax, fine.N, fine.N), fitsimg.NewImage("ALPHA_Y", ay, fine.N, fine.N)
	imx.BitPix, imy.BitPix = -64, -64
	if err := os.MkdirAll(filepath.Join(dir, "maps"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fitsimg.Write(filepath.Join(dir, "maps", "alpha.fits"), imx, imy); err != nil {
		t.Fatal(err)
	}
	js := strings.Replace(lensJSON(24, 32, 2, `{"type":"gaussian","fwhm":0.2}`),
		`[{"type":"sie","theta_e":1.2,"q":0.75,"phi":30,"x0":0.05,"y0":-0.02},
             {"type":"shear","gamma1":0.03,"gamma2":-0.01}]`, `[{"type":"map","path":"maps/alpha.fits"}]`, 1)
	lensPath := writeLens(t, dir, js)
	mc, err := LoadConfig(lensPath)
	if err != nil {
		t.Fatal(err)
	}
	am, err := NewOperator(mc)
	if err != nil {
		t.Fatal(err)
	}
	aa, _ := NewOperator(analytic)
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float64, aa.Cols())
	for i := range x {
		x[i] = rng.Float64()
	}
	y1, y2 := make([]float64, aa.Rows()), make([]float64, aa.Rows())
	aa.Apply(y1, x)
	am.Apply(y2, x)
	worst := 0.0
	for i := range y1 {
		worst = math.Max(worst, math.Abs(y1[i]-y2[i]))
	}
	if worst > 1e-12 {
		t.Errorf("map lens differs from the analytic lens by %g", worst)
	}
	// Between the nodes the map is bilinear: at an observed pixel centre (a node-cell
	// centre for k = 2) the error is O(h²·α''), small but not zero.
	mdef, _ := mc.Deflector()
	g := analytic.ImageGrid()
	bx, _ := mdef.Deflection(g.X(3), g.Y(5))
	cx, _ := d.Deflection(g.X(3), g.Y(5))
	if math.Abs(bx-cx) > 1e-3 {
		t.Errorf("interpolated map α = %v, analytic %v", bx, cx)
	}

	// Bad maps are refused with the file named.
	bad := fitsimg.NewImage("ALPHA_X", make([]float64, 12), 4, 3)
	if err := fitsimg.Write(filepath.Join(dir, "maps", "alpha.fits"), bad, fitsimg.NewImage("ALPHA_Y", make([]float64, 12), 4, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewOperator(mc); err == nil || !strings.Contains(err.Error(), "alpha.fits") || !strings.Contains(err.Error(), "lens[0] (map)") {
		t.Errorf("non-square map: %v", err)
	}
	if err := fitsimg.Write(filepath.Join(dir, "maps", "alpha.fits"), imx); err != nil {
		t.Fatal(err)
	}
	if _, err := NewOperator(mc); err == nil || !strings.Contains(err.Error(), "ALPHA_Y") {
		t.Errorf("missing ALPHA_Y: %v", err)
	}
}

// TestNoiseMapMaskAndFITSPSF: the per-pixel σ map, the mask and a FITS PSF kernel are read
// relative to the lens file and end up in the observation.
func TestNoiseMapMaskAndFITSPSF(t *testing.T) {
	dir := t.TempDir()
	n := 16
	sig := make([]float64, n*n)
	mask := make([]float64, n*n)
	for k := range sig {
		sig[k] = 0.01 + 0.001*float64(k%7)
		if k%5 != 0 {
			mask[k] = 1
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	sigIm := fitsimg.NewImage("", sig, n, n)
	sigIm.BitPix = -64 // float64 so that the σ read back compares exactly
	must(fitsimg.Write(filepath.Join(dir, "sigma.fits"), sigIm))
	must(fitsimg.Write(filepath.Join(dir, "mask.fits"), fitsimg.NewImage("", mask, n, n)))
	must(fitsimg.Write(filepath.Join(dir, "psf.fits"), fitsimg.NewImage("", []float64{1, 2, 1, 2, 4, 2, 1, 2, 1}, 3, 3)))
	js := `{"lens":[{"type":"sie","theta_e":1,"q":0.8,"phi":10}],"source":{"pixels":16,"fov":3},
		"image":{"pixels":16,"fov":4},"psf":{"type":"fits","path":"psf.fits"},
		"noise":{"sigma_map":"sigma.fits","mask":"mask.fits"}}`
	lensPath := writeLens(t, dir, js)
	out := filepath.Join(dir, "o.fits")
	if _, err := SimulateFile(context.Background(), lensPath, "elliptical", 1, out, "t"); err != nil {
		t.Fatal(err)
	}
	o, err := ReadObservation(out)
	must(err)
	if !slices.Equal(o.Sigma, sig) || o.Mask == nil || o.PSF == nil || o.PSF.Data[4] != 0.25 {
		t.Fatalf("sigma/mask/psf not carried through: psf %v", o.PSF)
	}
	for k := range mask {
		if o.Mask[k] != (mask[k] != 0) {
			t.Fatalf("mask pixel %d", k)
		}
	}
	// An even-sized or negative PSF file is refused, naming it.
	must(fitsimg.Write(filepath.Join(dir, "psf.fits"), fitsimg.NewImage("", []float64{1, 1, 1, 1}, 2, 2)))
	cfg, _ := LoadConfig(lensPath)
	if _, err := NewOperator(cfg); err == nil || !strings.Contains(err.Error(), "psf.fits") || !strings.Contains(err.Error(), "odd") {
		t.Errorf("even PSF: %v", err)
	}
	must(fitsimg.Write(filepath.Join(dir, "psf.fits"), fitsimg.NewImage("", []float64{0, -1, 0, 1, 4, 1, 0, 1, 0}, 3, 3)))
	if _, err := NewOperator(cfg); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative PSF: %v", err)
	}
	// A σ ≤ 0 in the map is refused.
	sig[3] = 0
	must(fitsimg.Write(filepath.Join(dir, "sigma.fits"), fitsimg.NewImage("", sig, n, n)))
	if _, err := cfg.NoiseMap(); err == nil || !strings.Contains(err.Error(), "sigma.fits") {
		t.Errorf("zero σ: %v", err)
	}
}

func TestReadObservationErrors(t *testing.T) {
	dir := t.TempDir()
	n := 8
	ones := func() []float64 {
		v := make([]float64, n*n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	cases := []struct {
		name string
		hdus []fitsimg.HDU
		want string
	}{
		{"no OBS", []fitsimg.HDU{fitsimg.NewImage("DATA", ones(), n, n)}, "no image HDU named OBS"},
		{"no NOISE", []fitsimg.HDU{fitsimg.NewImage("OBS", ones(), n, n)}, "no image HDU named NOISE"},
		{"shape", []fitsimg.HDU{fitsimg.NewImage("OBS", ones(), n, n), fitsimg.NewImage("NOISE", make([]float64, 4), 2, 2)}, "NOISE has axes"},
		{"zero sigma", []fitsimg.HDU{fitsimg.NewImage("OBS", ones(), n, n), fitsimg.NewImage("NOISE", make([]float64, n*n), n, n)}, "NOISE is 0 at pixel (0, 0)"},
		{"nan obs", func() []fitsimg.HDU {
			d := ones()
			d[9] = math.NaN()
			return []fitsimg.HDU{fitsimg.NewImage("OBS", d, n, n), fitsimg.NewImage("NOISE", ones(), n, n)}
		}(), "OBS is NaN at pixel (1, 1)"},
		{"even psf", []fitsimg.HDU{fitsimg.NewImage("OBS", ones(), n, n), fitsimg.NewImage("NOISE", ones(), n, n), fitsimg.NewImage("PSF", ones()[:4], 2, 2)}, "PSF has axes"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".fits")
		for _, h := range c.hdus {
			h.(*fitsimg.Image).BitPix = -64
		}
		if err := fitsimg.Write(p, c.hdus...); err != nil {
			t.Fatal(err)
		}
		_, err := ReadObservation(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Base(p)) {
			t.Errorf("%s: error %v, want %q and the file name", c.name, err, c.want)
		}
	}
	// A masked NaN is fine.
	d := ones()
	d[0] = math.NaN()
	m := ones()
	m[0] = 0
	p := filepath.Join(dir, "masked.fits")
	if err := fitsimg.Write(p, fitsimg.NewImage("OBS", d, n, n), fitsimg.NewImage("NOISE", ones(), n, n), fitsimg.NewImage("MASK", m, n, n)); err != nil {
		t.Fatal(err)
	}
	if o, err := ReadObservation(p); err != nil || o.Used(0) || !o.Used(1) {
		t.Errorf("masked NaN: %v", err)
	}
	if _, err := ReadObservation(filepath.Join(dir, "absent.fits")); err == nil || !strings.Contains(err.Error(), "absent.fits") {
		t.Errorf("absent file: %v", err)
	}
}

// TestLoadSource: a FITS image on the source grid is used as it is; a larger one is
// area-averaged (flux conserved: the mean is unchanged to rounding, 1e-12); a smaller one
// is interpolated; names pick built-in galaxies; anything else is a one-line error.
func TestLoadSource(t *testing.T) {
	dir := t.TempDir()
	g := NewGrid(16, 3, 0, 0)
	rng := rand.New(rand.NewPCG(7, 8))
	img := func(m int) []float64 {
		v := make([]float64, m*m)
		for i := range v {
			v[i] = rng.Float64()
		}
		return v
	}
	exact := img(16)
	p := filepath.Join(dir, "exact.fits")
	im := fitsimg.NewImage("", exact, 16, 16)
	im.BitPix = -64
	if err := fitsimg.Write(p, im); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSource(p, g)
	if err != nil || !slices.Equal(got, exact) {
		t.Fatalf("same-size source not used as it is: %v", err)
	}
	for _, m := range []int{48, 40, 17} {
		big := img(m)
		small := Resample(big, m, 16)
		if mean(small)-mean(big) > 1e-12 || mean(big)-mean(small) > 1e-12 {
			t.Errorf("area resampling %d→16 changes the mean: %v vs %v", m, mean(small), mean(big))
		}
	}
	// 32→16 is the mean of 2×2 blocks.
	big := img(32)
	small := Resample(big, 32, 16)
	if want := (big[0] + big[1] + big[32] + big[33]) / 4; math.Abs(small[0]-want) > 1e-15 {
		t.Errorf("2×2 block mean %v, want %v", small[0], want)
	}
	// 8→16 bilinear: a linear ramp stays linear away from the clamped edge.
	ramp := make([]float64, 64)
	for k := range ramp {
		ramp[k] = float64(k % 8)
	}
	up := Resample(ramp, 8, 16)
	if math.Abs(up[5]-(5.5/2-0.5)) > 1e-12 { // output centre 5 ↔ input coordinate (5.5)/2 − 0.5
		t.Errorf("bilinear upsampling: %v", up[:16])
	}
	if gal, err := LoadSource("ring", g); err != nil || len(gal) != 256 {
		t.Errorf("built-in galaxy: %v", err)
	}
	for _, bad := range []string{"nonexistent-galaxy", filepath.Join(dir, "missing.fits")} {
		if _, err := LoadSource(bad, g); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("LoadSource(%q) = %v", bad, err)
		}
	}
	if !slices.Contains(galaxy.Names(), DefaultSource) {
		t.Errorf("DefaultSource %q is not a built-in galaxy %v", DefaultSource, galaxy.Names())
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestOperatorFile: the operator command writes the table of SPEC §4 and it reproduces A.
func TestOperatorFile(t *testing.T) {
	dir := t.TempDir()
	lensPath := writeLens(t, dir, lensJSON(12, 16, 2, `{"type":"gaussian","fwhm":0.3}`))
	out := filepath.Join(dir, "A.fits")
	a, err := OperatorFile(context.Background(), lensPath, out, "t")
	if err != nil {
		t.Fatal(err)
	}
	tab, err := fitsimg.ReadTable(out, "A")
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows() != a.NNZ() {
		t.Fatalf("table has %d rows, A has %d entries", tab.Rows(), a.NNZ())
	}
	if v, _ := tab.Header.Int("NOBS"); v != 256 {
		t.Errorf("NOBS = %d", v)
	}
	if v, _ := tab.Header.Int("NSRC"); v != 144 {
		t.Errorf("NSRC = %d", v)
	}
	rc, _ := tab.Column("ROW")
	cc, _ := tab.Column("COL")
	vc, _ := tab.Column("VAL")
	rows, _ := rc.Float()
	cols, _ := cc.Float()
	vals, _ := vc.Data.([]float64)
	x := make([]float64, a.Cols())
	for i := range x {
		x[i] = float64(i%5) + 0.5
	}
	y, y2 := make([]float64, a.Rows()), make([]float64, a.Rows())
	a.Apply(y, x)
	for k := range vals {
		y2[int(rows[k])] += vals[k] * x[int(cols[k])]
	}
	for i := range y {
		if math.Abs(y[i]-y2[i]) > 1e-13 {
			t.Fatalf("row %d: %v from the file, %v from A", i, y2[i], y[i])
		}
	}
}
