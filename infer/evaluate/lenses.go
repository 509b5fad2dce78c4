package evaluate

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"scorelens/lens"
	"scorelens/lens/galaxy"
)

// The held-out lens setting of issue 8 (SPEC §4 grids at Grid = 64).
const (
	ImageFOV    = 6.0  // arcsec, edge to edge
	Supersample = 2    // rays per image pixel side
	PSFFWHM     = 0.08 // arcsec, Gaussian PSF
	NoiseFrac   = 0.01 // σN as a fraction of the source's peak surface brightness

	ThetaEMin, ThetaEMax = 0.9, 1.4  // Einstein radius range (arcsec), uniform
	QMin, QMax           = 0.6, 0.95 // SIE axis ratio range, uniform
	CentreMax            = 0.1       // SIE centre uniform in a disc of this radius (arcsec)
	ShearMax             = 0.05      // |γ| uniform in a disc of this radius in (γ1, γ2)

	// TrainingSeed is the galaxy-stream seed of the shipped prior's training set.
	TrainingSeed = 20261125
	// DefaultGalaxySeed is the held-out galaxy-stream seed: galaxy i of lens i is
	// galaxy.Random(galaxy.Stream(DefaultGalaxySeed, i)). `scorelens dataset --synthetic 500
	// --size 64 --seed 20261126` makes held-out galaxies from the same stream.
	DefaultGalaxySeed = 20261126
)

// Streams of a lens's random draws under the evaluation seed (PCG stream numbers).
const (
	streamLens  = 0x1e45_0000_0000
	streamNoise = 0x5ce1_1e05_0000
)

// Case is one held-out lens: its deflector, its source (a peak-normalised galaxy) and
// where the source sits.
type Case struct {
	Index          int
	ThetaE, Q, Phi float64 // SIE: arcsec, axis ratio, degrees
	X0, Y0         float64 // SIE centre, arcsec
	Gamma1, Gamma2 float64 // external shear about the origin
	Galaxy         galaxy.Params
	Truth          []float64 // ns×ns source, peak 1
	// Beta is the point of the source plane where the galaxy's light centroid sits (arcsec):
	// drawn uniformly inside the tangential caustic when Caustic, otherwise (no closed
	// caustic found) the SIE centre.
	Beta    lens.Point
	Caustic bool
	// SrcX0, SrcY0 is the centre of the source grid (arcsec): the galaxy's stamp is the
	// source grid, moved so that its light centroid falls on Beta.
	SrcX0, SrcY0 float64
	Config       []byte // the lens configuration JSON (SPEC §4)
	NoiseSigma   float64
}

// Gamma returns |γ|.
func (c *Case) Gamma() float64 { return math.Hypot(c.Gamma1, c.Gamma2) }

// NewCase draws held-out lens i of an evaluation: the deflector from PCG(seed, streamLens+i),
// the galaxy from galaxy.Stream(galaxySeed, i), rendered at ns×ns over SourceFOV and
// normalised to a peak of 1, and the source position inside the tangential caustic.
// The image has ns pixels over ImageFOV (64 over 6″ at ns = 64, SPEC §4), supersampled
// Supersample×, Gaussian PSF of PSFFWHM and σN = NoiseFrac (of the unit peak).
func NewCase(seed, galaxySeed uint64, i, ns int) (*Case, error) {
	if ns < 4 {
		return nil, fmt.Errorf("source grid of %d pixels is too small (at least 4)", ns)
	}
	r := rand.New(rand.NewPCG(seed, streamLens+uint64(i)))
	c := &Case{Index: i, NoiseSigma: NoiseFrac}
	c.ThetaE = ThetaEMin + (ThetaEMax-ThetaEMin)*r.Float64()
	c.Q = QMin + (QMax-QMin)*r.Float64()
	c.Phi = 180 * r.Float64()
	rr, a := CentreMax*math.Sqrt(r.Float64()), 2*math.Pi*r.Float64()
	c.X0, c.Y0 = rr*math.Cos(a), rr*math.Sin(a)
	g, b := ShearMax*math.Sqrt(r.Float64()), 2*math.Pi*r.Float64()
	c.Gamma1, c.Gamma2 = g*math.Cos(b), g*math.Sin(b)

	c.Galaxy = galaxy.Random(galaxy.Stream(galaxySeed, i))
	c.Truth = make([]float64, ns*ns)
	if err := c.Galaxy.Render(c.Truth, ns); err != nil {
		return nil, fmt.Errorf("lens %d: %w", i, err)
	}
	galaxy.PeakNormalize(c.Truth)

	d := lens.Sum{lens.SIE{ThetaE: c.ThetaE, Q: c.Q, Phi: c.Phi, X0: c.X0, Y0: c.Y0}, lens.Shear{Gamma1: c.Gamma1, Gamma2: c.Gamma2}}
	c.Beta, c.Caustic = caustic(d, r)
	if !c.Caustic {
		c.Beta = lens.Point{X: c.X0, Y: c.Y0}
	}
	// The light centroid of the stamp relative to its centre, in arcsec.
	grid := lens.NewGrid(ns, SourceFOV, 0, 0)
	var sx, sy, s float64
	for j := 0; j < ns; j++ {
		for k := 0; k < ns; k++ {
			v := c.Truth[j*ns+k]
			sx += v * grid.X(k)
			sy += v * grid.Y(j)
			s += v
		}
	}
	c.SrcX0, c.SrcY0 = c.Beta.X-sx/s, c.Beta.Y-sy/s

	cfg := map[string]any{
		"lens": []any{
			map[string]any{"type": "sie", "theta_e": c.ThetaE, "q": c.Q, "phi": c.Phi, "x0": c.X0, "y0": c.Y0},
			map[string]any{"type": "shear", "gamma1": c.Gamma1, "gamma2": c.Gamma2},
		},
		"source": map[string]any{"pixels": ns, "fov": SourceFOV, "x0": c.SrcX0, "y0": c.SrcY0},
		"image":  map[string]any{"pixels": ns, "fov": ImageFOV, "supersample": Supersample},
		"psf":    map[string]any{"type": "gaussian", "fwhm": PSFFWHM},
		"noise":  map[string]any{"sigma": c.NoiseSigma},
	}
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		panic(err)
	}
	c.Config = append(raw, '\n')
	return c, nil
}

// caustic returns a point drawn uniformly inside the tangential caustic of d: the caustic
// of the longest critical curve, traced on a 240² grid over ImageFOV (0.025″ pixels), and
// whether one was found (a closed curve enclosing some area).
func caustic(d lens.Deflector, r *rand.Rand) (lens.Point, bool) {
	crit := lens.CriticalCurves(d, lens.NewGrid(240, ImageFOV, 0, 0))
	best, bestLen := -1, 0.0
	for k, c := range crit {
		if len(c) < 4 || c[0] != c[len(c)-1] {
			continue // not closed
		}
		if l := length(c); l > bestLen {
			best, bestLen = k, l
		}
	}
	if best < 0 {
		return lens.Point{}, false
	}
	poly := lens.Caustics(d, crit[best:best+1])[0]
	lo, hi := poly[0], poly[0]
	for _, p := range poly {
		lo.X, lo.Y = math.Min(lo.X, p.X), math.Min(lo.Y, p.Y)
		hi.X, hi.Y = math.Max(hi.X, p.X), math.Max(hi.Y, p.Y)
	}
	if !(hi.X > lo.X && hi.Y > lo.Y) {
		return lens.Point{}, false
	}
	for try := 0; try < 10000; try++ {
		p := lens.Point{X: lo.X + (hi.X-lo.X)*r.Float64(), Y: lo.Y + (hi.Y-lo.Y)*r.Float64()}
		if inside(p, poly) {
			return p, true
		}
	}
	return lens.Point{}, false
}

func length(c []lens.Point) float64 {
	s := 0.0
	for k := 1; k < len(c); k++ {
		s += math.Hypot(c[k].X-c[k-1].X, c[k].Y-c[k-1].Y)
	}
	return s
}

// inside reports whether p lies inside the closed polygon poly (even-odd rule: the cusps
// of an astroid caustic that cross themselves count as outside).
func inside(p lens.Point, poly []lens.Point) bool {
	in := false
	for k, j := 0, len(poly)-1; k < len(poly); j, k = k, k+1 {
		a, b := poly[k], poly[j]
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < (b.X-a.X)*(p.Y-a.Y)/(b.Y-a.Y)+a.X {
			in = !in
		}
	}
	return in
}
