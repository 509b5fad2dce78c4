package galaxy

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// inPlane evaluates a component defined in the plane of an inclined disc.
type inPlane struct {
	f frame
	q float64
	c component
}

func (p *inPlane) eval(x, y float64) float64 {
	u, v := p.f.to(x, y)
	return p.c.eval(u, v/p.q)
}

// armNorm returns 1/mean over φ of (0.5(1+cos φ))^p = √π Γ(p+1) / Γ(p+½).
func armNorm(p float64) float64 {
	a, _ := math.Lgamma(p + 1)
	b, _ := math.Lgamma(p + 0.5)
	return math.Sqrt(math.Pi) * math.Exp(a-b)
}

// components builds the light profile. Flux fractions are approximate (the stamp edge and
// the arm modulation move light); Render rescales the total to p.Flux.
func (p Params) components() ([]component, error) {
	rng := rand.New(rand.NewPCG(p.Seed, 0x9a1a))
	bad := func(what string) error {
		return fmt.Errorf("galaxy: %s galaxy with invalid %s", p.Type, what)
	}
	if !(p.Flux > 0) {
		return nil, bad("flux")
	}
	q := p.Q
	if q <= 0 || q > 1 {
		return nil, bad("axis ratio")
	}
	var comps []component
	switch p.Type {
	case Elliptical:
		if !(p.BulgeRe > 0) || !(p.BulgeN > 0) {
			return nil, bad("bulge")
		}
		comps = append(comps, newSersic(p.X0, p.Y0, 1, p.BulgeRe, p.BulgeN, q, p.PA, 2))
	case Lenticular, Spiral, Barred, EdgeOn, Irregular:
		if !(p.DiscH > 0) {
			return nil, bad("disc scale length")
		}
		comps = append(comps, p.discSystem(rng, p.X0, p.Y0, p.PA, q, 1)...)
	case Merger:
		if !(p.DiscH > 0) || !(p.CompSep > 0) {
			return nil, bad("merger geometry")
		}
		f1 := 1 / (1 + p.CompFrac)
		f2 := 1 - f1
		comps = append(comps, p.discSystem(rng, p.X0, p.Y0, p.PA, q, f1)...)
		s, c := math.Sincos(p.CompPA * math.Pi / 180)
		x2, y2 := p.X0+p.CompSep*c, p.Y0+p.CompSep*s
		// The companion: a smaller bulge+disc, its own orientation and inclination.
		cq := discQ(isoIncl(rng, 0, 80), 0.15)
		cpa := uni(rng, 0, 180)
		ch := p.DiscH * math.Sqrt(f2/f1) * uni(rng, 0.8, 1.2)
		cbt := uni(rng, 0.1, 0.7)
		comps = append(comps,
			newSersic(x2, y2, f2*cbt, ch*uni(rng, 0.25, 0.5), uni(rng, 1, 4), uni(rng, 0.7, 1), cpa, 2),
			&disc{f: newFrame(x2, y2, cpa), amp: f2 * (1 - cbt) / (2 * math.Pi * ch * ch), h: ch, q: cq})
		// Tidal tails: smooth streams of overlapping blobs along arcs leaving each nucleus
		// on the far side from the other, curving in the same sense.
		tails := &blobs{}
		sense := 1.0
		if rng.IntN(2) == 0 {
			sense = -1
		}
		for t := 0; t < p.Tails; t++ {
			ox, oy, away, fr := p.X0, p.Y0, math.Atan2(-s, -c), f1
			if t == 1 {
				ox, oy, away, fr = x2, y2, math.Atan2(s, c), f2
			}
			away += 0.6 * rng.NormFloat64()
			length := uni(rng, 0.35, 0.7)
			curl := sense * uni(rng, 1.5, 3.5) // radians over the tail's length
			width := uni(rng, 0.02, 0.04)
			flux := fr * uni(rng, 0.15, 0.35)
			const steps = 40
			for k := 1; k <= steps; k++ {
				a := float64(k) / steps
				rr := 0.08 + length*a
				th := away + curl*a*a
				fw := flux / steps * math.Exp(-2*a) * 2
				tails.add(ox+rr*math.Cos(th), oy+rr*math.Sin(th), fw, width*(1+a))
			}
		}
		comps = append(comps, tails)
	case Seven:
		w := p.DiscH
		comps = append(comps, &strokes{
			seg: [][4]float64{
				{-0.3, 0.36, 0.3, 0.36},  // top bar
				{0.3, 0.36, -0.05, -0.4}, // diagonal stem
				{-0.3, 0.36, -0.3, 0.26}, // serif
			},
			amp: 1, halfW: w, soft: 0.015,
		})
		for _, c := range comps {
			s := c.(*strokes)
			for k := range s.seg {
				for m := 0; m < 4; m += 2 {
					x, y := rotate(s.seg[k][m], s.seg[k][m+1], p.PA-90)
					s.seg[k][m], s.seg[k][m+1] = x+p.X0, y+p.Y0
				}
			}
		}
	case Ring:
		rr := p.DiscH
		width := 0.06 * rr / 0.4
		comps = append(comps, &ring{f: newFrame(p.X0, p.Y0, p.PA), amp: 1, r0: rr, inv: 1 / width, q: q})
		if p.BulgeFrac > 0 {
			ringFlux := 2 * math.Pi * rr * q * width * math.Sqrt(2*math.Pi)
			comps = append(comps, newSersic(p.X0, p.Y0, ringFlux*p.BulgeFrac/(1-p.BulgeFrac), p.BulgeRe, 1, 1, 0, 2))
		}
	default:
		return nil, fmt.Errorf("galaxy: unknown type %q (known: %v)", p.Type, typeNames())
	}
	return comps, nil
}

// rotate turns (x, y) by deg counter-clockwise about the origin.
func rotate(x, y, deg float64) (float64, float64) {
	s, c := math.Sincos(deg * math.Pi / 180)
	return x*c - y*s, x*s + y*c
}

// discSystem builds bulge, disc (with arms, lumps or dust), bar and knots of total flux
// fraction f centred at (cx, cy).
func (p Params) discSystem(rng *rand.Rand, cx, cy, pa, q, f float64) []component {
	fr := newFrame(cx, cy, pa)
	bt := p.BulgeFrac
	var comps []component
	if bt > 0 {
		bq := p.BulgeQ
		if bq <= 0 || bq > 1 {
			bq = 1
		}
		comps = append(comps, newSersic(cx, cy, f*bt, p.BulgeRe, p.BulgeN, bq, pa, 2))
	}
	discF := f * (1 - bt - p.BarFrac - p.KnotFrac)
	if discF < 0.05*f {
		discF = 0.05 * f
	}
	d := &disc{f: fr, h: p.DiscH, q: q}
	// Σ0 of an exponential disc of flux F seen at axis ratio q: F / (2π h² q).
	d.amp = discF / (2 * math.Pi * p.DiscH * p.DiscH * q)
	d.trunc = p.DiscH * uni(rng, 3.5, 5)
	rIn := math.Max(p.BulgeRe*1.5, 0.5*p.DiscH)
	if p.BarFrac > 0 {
		rIn = p.BarLen
	}
	if p.Arms > 0 {
		d.arms = p.Arms
		d.cotPitch = 1 / math.Tan(p.Pitch*math.Pi/180)
		d.armPow = p.ArmWidth
		d.armNorm = armNorm(p.ArmWidth)
		d.contrast = p.ArmContrast
		d.rIn = rIn
		d.phase = uni(rng, 0, 2*math.Pi)
		if p.BarFrac > 0 {
			// Start the arms at the ends of the bar.
			d.phase = p.BarAngle*math.Pi/180 - math.Log(p.BarLen/p.DiscH)*d.cotPitch
		}
		d.armWobble = uni(rng, 0, 0.25)
		d.armWobbleFreq = uni(rng, 1, 3)
	}
	if p.Lumpiness > 0 {
		nl := 2 + rng.IntN(3)
		for k := 0; k < nl; k++ {
			d.lumps = append(d.lumps, lump{
				m:      float64(1 + rng.IntN(4)),
				amp:    p.Lumpiness * uni(rng, 0.3, 1) / math.Sqrt(float64(nl)),
				phase:  uni(rng, 0, 2*math.Pi),
				rScale: p.DiscH * uni(rng, 0.3, 1.5) * (1 - 2*float64(rng.IntN(2))),
			})
		}
	}
	if p.Dust > 0 {
		d.dust = p.Dust
		d.dustWidth = 0.6 * q / 0.15 * uni(rng, 0.2, 0.35)
	}
	comps = append(comps, d)
	if p.BarFrac > 0 {
		bar := newSersic(0, 0, f*p.BarFrac/q, p.BarLen/1.6, 0.5, uni(rng, 0.18, 0.32), p.BarAngle, 3.5)
		comps = append(comps, &inPlane{f: fr, q: q, c: bar})
	}
	if p.Knots > 0 && p.KnotFrac > 0 {
		kb := &blobs{}
		w := make([]float64, p.Knots)
		var sw float64
		for k := range w {
			w[k] = rng.ExpFloat64()
			sw += w[k]
		}
		cot := 1.0
		if p.Arms > 0 {
			cot = 1 / math.Tan(p.Pitch*math.Pi/180)
		}
		for k := 0; k < p.Knots; k++ {
			// Radius from the disc's light (a Gamma(2, h) draw), beyond the bulge or bar.
			var r float64
			for {
				r = p.DiscH * (rng.ExpFloat64() + rng.ExpFloat64())
				if r > 0.7*rIn && r < 4*p.DiscH {
					break
				}
			}
			var th float64
			if p.Arms > 0 {
				arm := float64(rng.IntN(p.Arms))
				th = d.phase + math.Log(r/p.DiscH)*cot + 2*math.Pi*arm/float64(p.Arms) + 0.12*rng.NormFloat64()
			} else {
				th = uni(rng, 0, 2*math.Pi)
			}
			u, v := r*math.Cos(th), r*math.Sin(th)*q
			x, y := fr.from(u, v)
			sigma := logUni(rng, 0.006, 0.025)
			if p.Type == Irregular {
				sigma = logUni(rng, 0.015, 0.05)
			}
			kb.add(x, y, f*p.KnotFrac*w[k]/sw, sigma)
		}
		comps = append(comps, kb)
	}
	return comps
}
