package galaxy

import "math"

// component is one piece of surface brightness; x, y in stamp half-widths.
type component interface {
	eval(x, y float64) float64
}

// frame is a centre plus a position angle (counter-clockwise from +x).
type frame struct {
	cx, cy     float64
	cosT, sinT float64
}

func newFrame(cx, cy, paDeg float64) frame {
	s, c := math.Sincos(paDeg * math.Pi / 180)
	return frame{cx: cx, cy: cy, cosT: c, sinT: s}
}

// to returns the coordinates of (x, y) along the major (u) and minor (v) axes.
func (f frame) to(x, y float64) (u, v float64) {
	dx, dy := x-f.cx, y-f.cy
	return dx*f.cosT + dy*f.sinT, -dx*f.sinT + dy*f.cosT
}

// from maps frame coordinates back to the stamp.
func (f frame) from(u, v float64) (x, y float64) {
	return f.cx + u*f.cosT - v*f.sinT, f.cy + u*f.sinT + v*f.cosT
}

// sersicB returns b_n such that the effective radius encloses half the light
// (Ciotti & Bertin 1999 asymptotic expansion, accurate to < 1e-4 for n ≥ 0.36; below that
// the MacArthur et al. 2003 polynomial).
func sersicB(n float64) float64 {
	if n < 0.36 {
		return 0.01945 - 0.8902*n + 10.95*n*n - 19.67*n*n*n + 13.43*n*n*n*n
	}
	return 2*n - 1.0/3 + 4/(405*n) + 46/(25515*n*n) + 131/(1148175*n*n*n) - 2194697/(30690717750*n*n*n*n)
}

// SersicFlux returns the total flux of I(r) = amp·exp(-b_n (r/re)^(1/n)) with axis ratio q:
// 2π q re² n Γ(2n) b_n^(-2n) amp.
func SersicFlux(amp, re, n, q float64) float64 {
	b := sersicB(n)
	lg, _ := math.Lgamma(2 * n)
	return amp * 2 * math.Pi * q * re * re * n * math.Exp(lg-2*n*math.Log(b))
}

// SersicB is b_n of the Sérsic profile (half the light inside the effective radius).
func SersicB(n float64) float64 { return sersicB(n) }

// sersic is an elliptical Sérsic profile; boxy > 2 makes generalised ellipses (bars).
type sersic struct {
	f        frame
	amp      float64
	re, n, q float64
	b, invN  float64
	boxy     float64
}

func newSersic(cx, cy, flux, re, n, q, pa, boxy float64) *sersic {
	s := &sersic{f: newFrame(cx, cy, pa), re: re, n: n, q: q, b: sersicB(n), invN: 1 / n, boxy: boxy}
	s.amp = flux / SersicFlux(1, re, n, q)
	return s
}

func (s *sersic) eval(x, y float64) float64 {
	u, v := s.f.to(x, y)
	v /= s.q
	var r float64
	if s.boxy == 0 || s.boxy == 2 {
		r = math.Sqrt(u*u + v*v)
	} else {
		r = math.Pow(math.Pow(math.Abs(u), s.boxy)+math.Pow(math.Abs(v), s.boxy), 1/s.boxy)
		if s.n == 0.5 && r > 4*s.re {
			return 0 // exp(-b (r/re)²) < 1e-16 of the centre: bars end
		}
	}
	t := r / s.re
	var p float64
	switch s.n {
	case 1:
		p = t
	case 0.5:
		p = t * t
	default:
		if t == 0 {
			p = 0
		} else {
			p = math.Exp(s.invN * math.Log(t)) // t^(1/n), cheaper than math.Pow
		}
	}
	return s.amp * math.Exp(-s.b*p)
}

// disc is an inclined exponential disc, optionally with logarithmic spiral arms, a lumpy
// (irregular) modulation and a dust lane. Its coordinates are deprojected: a point at
// (u, v) in the sky frame lies at (u, v/q) in the disc plane.
type disc struct {
	f      frame
	amp, h float64 // central surface brightness, scale length
	q      float64 // cos(inclination), floored by the disc thickness

	arms          int
	cotPitch      float64 // 1/tan(pitch)
	phase         float64
	armPow        float64 // (0.5(1+cos φ))^armPow: larger is narrower
	armNorm       float64 // 1/mean of the arm pattern
	contrast      float64 // fraction of disc light in the arms (0..1)
	rIn           float64 // arms fade in over rIn (bulge or bar radius)
	armWobble     float64 // amplitude of the arm-phase perturbation
	armWobbleFreq float64

	lumps []lump // irregular modulation: m-fold Fourier modes

	dust      float64 // dust-lane depth (0..1), for edge-on discs
	dustWidth float64 // in units of h
	trunc     float64 // outer truncation radius (0 = none)
}

type lump struct {
	m      float64
	amp    float64
	phase  float64
	rScale float64
}

func (d *disc) eval(x, y float64) float64 {
	u, v := d.f.to(x, y)
	w := v / d.q
	r := math.Hypot(u, w)
	base := d.amp * math.Exp(-r/d.h)
	if d.trunc > 0 && r > d.trunc {
		base *= math.Exp(-(r - d.trunc) / (0.25 * d.h))
	}
	if d.arms > 0 {
		theta := math.Atan2(w, u)
		lr := math.Log(math.Max(r, 1e-6) / d.h)
		phi := float64(d.arms) * (theta - lr*d.cotPitch - d.phase + d.armWobble*math.Sin(d.armWobbleFreq*lr))
		s := 0.5 * (1 + math.Cos(phi))
		if d.armPow != 1 && s > 0 {
			s = math.Exp(d.armPow * math.Log(s))
		}
		ramp := 1 - math.Exp(-(r*r)/(d.rIn*d.rIn))
		c := d.contrast * ramp
		base *= (1 - c) + c*s*d.armNorm
	}
	if len(d.lumps) > 0 {
		theta := math.Atan2(w, u)
		m := 1.0
		for _, l := range d.lumps {
			m += l.amp * math.Cos(l.m*theta+l.phase+r/l.rScale)
		}
		if m < 0 {
			m = 0
		}
		base *= m
	}
	if d.dust > 0 {
		// The lane lies in the disc mid-plane, seen as a band along the major axis.
		g := v / (d.dustWidth * d.h)
		ext := d.dust * math.Exp(-0.5*g*g) * (1 - math.Exp(-(u*u)/(d.h*d.h)))
		base *= 1 - ext
	}
	return base
}

// blobs is a set of circular Gaussian blobs (star-forming knots, tidal streams, clumps).
type blobs struct {
	x, y, amp, inv2s2, cut2 []float64
}

func (b *blobs) add(x, y, flux, sigma float64) {
	b.x = append(b.x, x)
	b.y = append(b.y, y)
	b.amp = append(b.amp, flux/(2*math.Pi*sigma*sigma))
	b.inv2s2 = append(b.inv2s2, 1/(2*sigma*sigma))
	b.cut2 = append(b.cut2, 25*sigma*sigma)
}

func (b *blobs) eval(x, y float64) float64 {
	var s float64
	for k := range b.x {
		dx, dy := x-b.x[k], y-b.y[k]
		d2 := dx*dx + dy*dy
		if d2 < b.cut2[k] {
			s += b.amp[k] * math.Exp(-d2*b.inv2s2[k])
		}
	}
	return s
}

// ring is an elliptical Gaussian annulus.
type ring struct {
	f            frame
	amp, r0, inv float64
	q            float64
}

func (g *ring) eval(x, y float64) float64 {
	u, v := g.f.to(x, y)
	r := math.Hypot(u, v/g.q)
	d := (r - g.r0) * g.inv
	return g.amp * math.Exp(-0.5*d*d)
}

// strokes draws thick line segments with soft edges (a digit).
type strokes struct {
	seg        [][4]float64
	amp, halfW float64
	soft       float64
}

func (s *strokes) eval(x, y float64) float64 {
	dmin := math.Inf(1)
	for _, g := range s.seg {
		ax, ay, bx, by := g[0], g[1], g[2], g[3]
		ex, ey := bx-ax, by-ay
		t := ((x-ax)*ex + (y-ay)*ey) / (ex*ex + ey*ey)
		t = math.Max(0, math.Min(1, t))
		dx, dy := x-ax-t*ex, y-ay-t*ey
		if d := math.Hypot(dx, dy); d < dmin {
			dmin = d
		}
	}
	return s.amp / (1 + math.Exp((dmin-s.halfW)/s.soft))
}
