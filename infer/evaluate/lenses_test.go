package evaluate

import (
	"bytes"
	"math"
	"testing"

	"scorelens/lens"
	"scorelens/lens/galaxy"
)

// countImages counts the images of source point b under d: the triangles of a fine
// image-plane grid (0.0125″) whose mapped triangle contains b, away from the SIE centre
// (whose singular deflection maps the central cells across the cut).
func countImages(d lens.Deflector, b, centre lens.Point) int {
	const n, fov = 480, ImageFOV
	g := lens.NewGrid(n, fov, 0, 0)
	bx, by := make([]float64, n*n), make([]float64, n*n)
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			bx[j*n+i], by[j*n+i] = lens.Trace(d, g.X(i), g.Y(j))
		}
	}
	in := func(a, c, e int) bool {
		s := func(p, q int) float64 {
			return (bx[q]-bx[p])*(b.Y-by[p]) - (by[q]-by[p])*(b.X-bx[p])
		}
		s1, s2, s3 := s(a, c), s(c, e), s(e, a)
		return (s1 >= 0 && s2 >= 0 && s3 >= 0) || (s1 <= 0 && s2 <= 0 && s3 <= 0)
	}
	count := 0
	for j := 0; j+1 < n; j++ {
		for i := 0; i+1 < n; i++ {
			if math.Hypot(g.X(i)-centre.X, g.Y(j)-centre.Y) < 0.15 {
				continue
			}
			p := j*n + i
			if in(p, p+1, p+n+1) {
				count++
			}
			if in(p, p+n+1, p+n) {
				count++
			}
		}
	}
	return count
}

// TestNewCase checks the held-out lenses: parameters in their ranges, the galaxy from the
// held-out stream (not the training one), normalised to peak 1 with its light centroid on
// β, β inside the tangential caustic (checked independently by counting its images: four
// for a point inside the tangential caustic of an SIE+shear, two outside it), the
// configuration valid, and everything deterministic.
func TestNewCase(t *testing.T) {
	const ns = 16
	for i := 0; i < 12; i++ {
		c, err := NewCase(3, DefaultGalaxySeed, i, ns)
		if err != nil {
			t.Fatal(err)
		}
		if c.ThetaE < ThetaEMin || c.ThetaE > ThetaEMax || c.Q < QMin || c.Q > QMax || c.Phi < 0 || c.Phi > 180 ||
			math.Hypot(c.X0, c.Y0) > CentreMax || c.Gamma() > ShearMax {
			t.Errorf("lens %d out of range: %+v", i, c)
		}
		if !c.Caustic {
			t.Errorf("lens %d: no tangential caustic found", i)
			continue
		}
		train := galaxy.Random(galaxy.Stream(TrainingSeed, i))
		if c.Galaxy == train {
			t.Errorf("lens %d: the galaxy is training galaxy %d", i, i)
		}
		peak, sx, sy, s := 0.0, 0.0, 0.0, 0.0
		g := lens.NewGrid(ns, SourceFOV, c.SrcX0, c.SrcY0)
		for j := 0; j < ns; j++ {
			for k := 0; k < ns; k++ {
				v := c.Truth[j*ns+k]
				peak = math.Max(peak, v)
				sx, sy, s = sx+v*g.X(k), sy+v*g.Y(j), s+v
			}
		}
		if peak != 1 {
			t.Errorf("lens %d: source peak %g, want 1", i, peak)
		}
		// The centroid is computed the same way on a shifted grid: equal to rounding.
		if math.Abs(sx/s-c.Beta.X) > 1e-12 || math.Abs(sy/s-c.Beta.Y) > 1e-12 {
			t.Errorf("lens %d: light centroid (%g, %g), β (%g, %g)", i, sx/s, sy/s, c.Beta.X, c.Beta.Y)
		}
		cfg, err := lens.ParseConfig(c.Config, "lens.json")
		if err != nil {
			t.Fatalf("lens %d: %v", i, err)
		}
		if cfg.Source.Pixels != ns || cfg.Image.Pixels != ns || cfg.Noise.Sigma != NoiseFrac || cfg.PSF.FWHM != PSFFWHM {
			t.Errorf("lens %d: configuration %+v", i, cfg)
		}
		d, err := cfg.Deflector()
		if err != nil {
			t.Fatal(err)
		}
		centre := lens.Point{X: c.X0, Y: c.Y0}
		if n := countImages(d, c.Beta, centre); n != 4 {
			t.Errorf("lens %d: β = (%.3f, %.3f) has %d images, want 4 (inside the tangential caustic)", i, c.Beta.X, c.Beta.Y, n)
		}
		// Control: a point outside the tangential caustic but inside the cut (0.71 θE from
		// the centre) has two images: the count can tell.
		if n := countImages(d, lens.Point{X: c.X0 + 0.5*c.ThetaE, Y: c.Y0 + 0.5*c.ThetaE}, centre); n != 2 {
			t.Errorf("lens %d: a point outside the caustic has %d images, want 2", i, n)
		}
		again, _ := NewCase(3, DefaultGalaxySeed, i, ns)
		if !bytes.Equal(again.Config, c.Config) || again.Beta != c.Beta {
			t.Errorf("lens %d is not deterministic", i)
		}
	}
	if _, err := NewCase(1, 1, 0, 2); err == nil {
		t.Errorf("a 2-pixel grid was accepted")
	}
}

func TestInside(t *testing.T) {
	sq := []lens.Point{{X: 0, Y: 0}, {X: 1, Y: 0}, {X: 1, Y: 1}, {X: 0, Y: 1}, {X: 0, Y: 0}}
	for _, c := range []struct {
		p    lens.Point
		want bool
	}{{lens.Point{X: 0.5, Y: 0.5}, true}, {lens.Point{X: 1.5, Y: 0.5}, false}, {lens.Point{X: 0.5, Y: -0.1}, false}, {lens.Point{X: 0.01, Y: 0.99}, true}} {
		if got := inside(c.p, sq); got != c.want {
			t.Errorf("inside(%v) = %v", c.p, got)
		}
	}
}
