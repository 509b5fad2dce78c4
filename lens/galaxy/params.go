package galaxy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

// Galaxy types drawn by Random, and the out-of-distribution shapes.
const (
	Elliptical = "elliptical" // a Sérsic spheroid, n 2.5–4
	Lenticular = "lenticular" // bulge and featureless disc
	Spiral     = "spiral"     // bulge, disc, 1–4 logarithmic arms with star-forming knots
	Barred     = "barred"     // a barred spiral: arms start at the ends of the bar
	EdgeOn     = "edge-on"    // a nearly edge-on disc with a dust lane
	Irregular  = "irregular"  // lumpy disc with bright off-centre clumps
	Merger     = "merger"     // two galaxies with tidal tails
	Seven      = "seven"      // out of distribution: the digit 7
	Ring       = "ring"       // out of distribution: a thin elliptical ring
)

// Types lists the galaxy types Random draws, with the fraction of each.
var Types = []struct {
	Name string
	Frac float64
}{
	{Elliptical, 0.14}, {Lenticular, 0.10}, {Spiral, 0.32}, {Barred, 0.16},
	{EdgeOn, 0.08}, {Irregular, 0.11}, {Merger, 0.09},
}

// Params describe one galaxy. Lengths are in stamp half-widths (the stamp spans [-1, 1]),
// angles in degrees counter-clockwise from +x. Fields that a type does not use are zero.
// Rendering is a deterministic function of Params and the pixel count.
type Params struct {
	Type string
	Seed uint64 // seeds the knots, clumps, lumps and tidal streams

	Flux   float64 // Σ pixels × pixel area (2/n)², i.e. integrated surface brightness
	X0, Y0 float64 // centre of the (primary) galaxy
	PA     float64 // position angle of the major axis
	Incl   float64 // disc inclination (0 face-on, 90 edge-on); spheroids: acos(Q)
	Q      float64 // projected axis ratio of the disc (or of the spheroid)

	BulgeFrac float64 // bulge-to-total flux ratio
	BulgeRe   float64 // bulge effective (half-light) radius
	BulgeN    float64 // bulge Sérsic index
	BulgeQ    float64 // bulge axis ratio
	DiscH     float64 // disc exponential scale length (in the disc plane)

	Arms        int     // number of spiral arms (0 = none)
	Pitch       float64 // arm pitch angle
	ArmContrast float64 // fraction of the disc light modulated into the arms
	ArmWidth    float64 // arm profile exponent: 1 broad, 8 narrow
	Knots       int     // number of star-forming knots (or clumps)
	KnotFrac    float64 // fraction of the flux in knots

	BarFrac  float64 // bar flux fraction (0 = no bar)
	BarLen   float64 // bar half-length
	BarAngle float64 // bar angle in the disc plane

	Lumpiness float64 // irregular: amplitude of the azimuthal modulation
	Dust      float64 // depth of the dust lane (0..1)

	CompFrac float64 // merger: companion flux / primary flux
	CompSep  float64 // merger: separation of the two nuclei
	CompPA   float64 // merger: direction from primary to companion
	Tails    int     // merger: number of tidal tails
}

// Random draws the parameters of one galaxy, its type chosen with the fractions in Types.
func Random(r *rand.Rand) Params {
	u := r.Float64()
	typ := Types[len(Types)-1].Name
	for _, t := range Types {
		if u < t.Frac {
			typ = t.Name
			break
		}
		u -= t.Frac
	}
	return RandomOf(r, typ)
}

func uni(r *rand.Rand, a, b float64) float64    { return a + (b-a)*r.Float64() }
func logUni(r *rand.Rand, a, b float64) float64 { return a * math.Exp(math.Log(b/a)*r.Float64()) }

// discQ is the projected axis ratio of a disc of intrinsic thickness q0 at inclination i
// (Hubble 1926): q² = cos²i + q0² sin²i.
func discQ(inclDeg, q0 float64) float64 {
	c := math.Cos(inclDeg * math.Pi / 180)
	return math.Sqrt(c*c + q0*q0*(1-c*c))
}

// isoIncl draws an inclination for randomly oriented discs (cos i uniform) in [lo, hi] degrees.
func isoIncl(r *rand.Rand, lo, hi float64) float64 {
	cl, ch := math.Cos(lo*math.Pi/180), math.Cos(hi*math.Pi/180)
	return math.Acos(uni(r, ch, cl)) * 180 / math.Pi
}

// RandomOf draws the parameters of a galaxy of the given type (one of Types, or Seven or
// Ring). It panics on an unknown type (a programmer error; see Names for user input).
func RandomOf(r *rand.Rand, typ string) Params {
	p := Params{
		Type: typ,
		Seed: r.Uint64(),
		Flux: logUni(r, 0.3, 3),
		X0:   0.03 * r.NormFloat64(),
		Y0:   0.03 * r.NormFloat64(),
		PA:   uni(r, 0, 180),
	}
	switch typ {
	case Elliptical:
		p.BulgeFrac = 1
		p.BulgeN = uni(r, 2.5, 4)
		p.BulgeRe = logUni(r, 0.07, 0.22)
		p.BulgeQ = uni(r, 0.5, 1)
		p.Q = p.BulgeQ
		p.Incl = math.Acos(p.Q) * 180 / math.Pi
	case Lenticular:
		p.DiscH = logUni(r, 0.09, 0.17)
		p.Incl = isoIncl(r, 0, 80)
		p.Q = discQ(p.Incl, 0.12)
		p.BulgeFrac = uni(r, 0.25, 0.65)
		p.BulgeN = uni(r, 1.5, 4)
		p.BulgeRe = p.DiscH * uni(r, 0.3, 0.7)
		p.BulgeQ = uni(r, math.Max(p.Q, 0.6), 1)
	case Spiral, Barred:
		p.DiscH = logUni(r, 0.09, 0.18)
		p.Incl = isoIncl(r, 0, 70)
		p.Q = discQ(p.Incl, 0.12)
		p.BulgeFrac = logUni(r, 0.02, 0.35)
		p.BulgeN = uni(r, 1, 3.5)
		p.BulgeRe = p.DiscH * uni(r, 0.15, 0.5)
		p.BulgeQ = uni(r, math.Max(p.Q, 0.7), 1)
		switch u := r.Float64(); {
		case u < 0.1:
			p.Arms = 1
		case u < 0.65:
			p.Arms = 2
		case u < 0.85:
			p.Arms = 3
		default:
			p.Arms = 4
		}
		p.Pitch = uni(r, 9, 35)
		p.ArmContrast = uni(r, 0.45, 0.92)
		p.ArmWidth = logUni(r, 1, 8)
		p.Knots = 4 + r.IntN(40)
		p.KnotFrac = uni(r, 0.03, 0.2)
		if typ == Barred {
			p.Arms = 2 // bars mostly drive two arms
			if r.Float64() < 0.2 {
				p.Arms = 3
			}
			p.BarFrac = uni(r, 0.06, 0.2)
			p.BarLen = p.DiscH * uni(r, 1, 2)
			p.BarAngle = uni(r, 0, 180)
			p.BulgeFrac = math.Min(p.BulgeFrac, 0.2)
		}
	case EdgeOn:
		p.DiscH = logUni(r, 0.11, 0.2)
		p.Incl = uni(r, 80, 90)
		p.Q = discQ(p.Incl, uni(r, 0.07, 0.16))
		p.BulgeFrac = logUni(r, 0.03, 0.4)
		p.BulgeN = uni(r, 1, 3)
		p.BulgeRe = p.DiscH * uni(r, 0.25, 0.6)
		p.BulgeQ = uni(r, 0.5, 0.9)
		p.Dust = uni(r, 0, 0.85)
	case Irregular:
		p.DiscH = logUni(r, 0.08, 0.17)
		p.Incl = isoIncl(r, 0, 70)
		p.Q = discQ(p.Incl, 0.25)
		p.BulgeFrac = uni(r, 0, 0.08)
		p.BulgeN = 1
		p.BulgeRe = p.DiscH * 0.3
		p.BulgeQ = 1
		p.Lumpiness = uni(r, 0.25, 0.7)
		p.Knots = 3 + r.IntN(12)
		p.KnotFrac = uni(r, 0.15, 0.45)
	case Merger:
		p.DiscH = logUni(r, 0.07, 0.13)
		p.Incl = isoIncl(r, 0, 75)
		p.Q = discQ(p.Incl, 0.12)
		p.BulgeFrac = uni(r, 0.1, 0.6)
		p.BulgeN = uni(r, 1, 4)
		p.BulgeRe = p.DiscH * uni(r, 0.3, 0.6)
		p.BulgeQ = uni(r, 0.6, 1)
		p.CompFrac = uni(r, 0.25, 1)
		p.CompSep = uni(r, 0.25, 0.55)
		p.CompPA = uni(r, 0, 360)
		p.Tails = 1 + r.IntN(2)
		p.Knots = r.IntN(15)
		p.KnotFrac = uni(r, 0, 0.1)
		// Put the pair's centre of light near the stamp centre.
		s, c := math.Sincos(p.CompPA * math.Pi / 180)
		w := p.CompFrac / (1 + p.CompFrac)
		p.X0 -= w * p.CompSep * c
		p.Y0 -= w * p.CompSep * s
	case Seven:
		p.DiscH = uni(r, 0.07, 0.11) // stroke half-width
		p.Q = 1
	case Ring:
		p.DiscH = uni(r, 0.35, 0.5) // ring radius
		p.Q = uni(r, 0.6, 1)
		p.BulgeFrac = uni(r, 0, 0.2)
		p.BulgeRe = 0.05
		p.BulgeN = 1
		p.BulgeQ = 1
	default:
		panic(fmt.Sprintf("galaxy: unknown type %q", typ))
	}
	return p
}

// Render writes the galaxy, as surface brightness scaled so that Σ dst × (2/n)² = p.Flux,
// into dst (n×n, row-major, +y up). It returns an error for parameters it cannot render.
func (p Params) Render(dst []float64, n int) error {
	if len(dst) != n*n {
		panic("galaxy: dst length mismatch")
	}
	comps, err := p.components()
	if err != nil {
		return err
	}
	renderInto(dst, n, comps)
	var sum float64
	for _, v := range dst {
		sum += v
	}
	if !(sum > 0) || math.IsInf(sum, 0) {
		return fmt.Errorf("galaxy: %s galaxy renders to no light (sum %g)", p.Type, sum)
	}
	scale := p.Flux / (sum * 4 / float64(n*n))
	for i := range dst {
		dst[i] *= scale
	}
	return nil
}

// String is a one-line summary of the parameters that matter for the type.
func (p Params) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s pa=%.0f q=%.2f", p.Type, p.PA, p.Q)
	if p.BulgeFrac > 0 {
		fmt.Fprintf(&b, " B/T=%.2f n=%.1f re=%.3f", p.BulgeFrac, p.BulgeN, p.BulgeRe)
	}
	if p.DiscH > 0 {
		fmt.Fprintf(&b, " h=%.3f", p.DiscH)
	}
	if p.Arms > 0 {
		fmt.Fprintf(&b, " arms=%d pitch=%.0f", p.Arms, p.Pitch)
	}
	if p.BarFrac > 0 {
		fmt.Fprintf(&b, " bar=%.2f", p.BarFrac)
	}
	if p.Knots > 0 {
		fmt.Fprintf(&b, " knots=%d", p.Knots)
	}
	if p.CompFrac > 0 {
		fmt.Fprintf(&b, " companion=%.2f sep=%.2f", p.CompFrac, p.CompSep)
	}
	return b.String()
}

// typeNames returns the sorted list of known types, for error messages.
func typeNames() []string {
	var s []string
	for _, t := range Types {
		s = append(s, t.Name)
	}
	s = append(s, Seven, Ring)
	sort.Strings(s)
	return s
}
