package lens

import (
	"fmt"
	"math"
)

// Deflector is a lens mass model: Deflection returns the deflection angle α(θ) (arcsec)
// at the image-plane position θ = (x, y) (arcsec). Implementations are pure functions of
// their parameters and safe for concurrent use.
type Deflector interface {
	Deflection(x, y float64) (ax, ay float64)
}

// SIE is the singular isothermal ellipsoid of SPEC §3. Its convergence is
//
//	κ = θE / (2·sqrt(q·x'² + y'²/q))
//
// in the frame (x', y') centred on (X0, Y0) and rotated by Phi, the normalisation of
// lenstronomy's SIE and of Kormann, Schneider & Bartelmann (1994): ThetaE is the
// Einstein radius of the singular isothermal sphere with the same velocity dispersion.
type SIE struct {
	ThetaE float64 // Einstein radius, arcsec (> 0)
	Q      float64 // axis ratio b/a, 0 < Q ≤ 1
	Phi    float64 // position angle of the major axis, degrees counter-clockwise from +x
	X0, Y0 float64 // centre, arcsec
}

// Deflection returns the closed-form SIE deflection (Kormann et al. 1994; Keeton 2001,
// core radius s = 0). SPEC's κ is Keeton's κ = b·q/(2·sqrt(q²x'² + y'²)) with b·q = θE·√q,
// so in the rotated frame, with ψ = sqrt(q²x'² + y'²) and e = sqrt(1 − q²),
//
//	α'x = θE·√q/e · atan(e·x'/ψ),   α'y = θE·√q/e · atanh(e·y'/ψ),
//
// evaluated as θE·√q·(x'/ψ)·atan(u)/u with u = e·x'/ψ (and likewise atanh), which is
// smooth as q → 1; at q = 1 it is exactly the SIS, α = θE·r̂. At the centre α = 0.
func (s SIE) Deflection(x, y float64) (ax, ay float64) {
	dx, dy := x-s.X0, y-s.Y0
	if s.Q == 1 {
		r := math.Hypot(dx, dy)
		if r == 0 {
			return 0, 0
		}
		return s.ThetaE * dx / r, s.ThetaE * dy / r
	}
	sn, cs := math.Sincos(s.Phi * math.Pi / 180)
	xp := cs*dx + sn*dy
	yp := -sn*dx + cs*dy
	q := s.Q
	psi := math.Hypot(q*xp, yp)
	if psi == 0 {
		return 0, 0
	}
	e := math.Sqrt((1 - q) * (1 + q))
	f := s.ThetaE * math.Sqrt(q)
	tx, ty := xp/psi, yp/psi
	apx := f * tx * atanc(e*tx)
	apy := f * ty * atanhc(e*ty)
	return cs*apx - sn*apy, sn*apx + cs*apy
}

// atanc returns atan(u)/u, 1 at u = 0.
func atanc(u float64) float64 {
	if math.Abs(u) < 1e-4 {
		u2 := u * u
		return 1 - u2/3 + u2*u2/5
	}
	return math.Atan(u) / u
}

// atanhc returns atanh(u)/u, 1 at u = 0. |u| < 1 here since |e·y'/ψ| ≤ e < 1.
func atanhc(u float64) float64 {
	if math.Abs(u) < 1e-4 {
		u2 := u * u
		return 1 + u2/3 + u2*u2/5
	}
	return math.Atanh(u) / u
}

// Shear is an external shear (SPEC §3): αx = γ1·dx + γ2·dy, αy = γ2·dx − γ1·dy with
// (dx, dy) = (x − X0, y − Y0) measured from the shear origin, which defaults to (0, 0).
type Shear struct {
	Gamma1, Gamma2 float64 // dimensionless
	X0, Y0         float64 // origin, arcsec
}

// Deflection returns the shear deflection (arcsec) at (x, y) arcsec.
func (s Shear) Deflection(x, y float64) (ax, ay float64) {
	dx, dy := x-s.X0, y-s.Y0
	return s.Gamma1*dx + s.Gamma2*dy, s.Gamma2*dx - s.Gamma1*dy
}

// Sum is a lens made of several components whose deflections add.
type Sum []Deflector

// Deflection returns the summed deflection (arcsec) at (x, y) arcsec.
func (s Sum) Deflection(x, y float64) (ax, ay float64) {
	for _, d := range s {
		dx, dy := d.Deflection(x, y)
		ax += dx
		ay += dy
	}
	return ax, ay
}

// Trace returns the source-plane position β = θ − α(θ) (arcsec) of the image-plane
// position θ = (x, y) (arcsec).
func Trace(d Deflector, x, y float64) (bx, by float64) {
	ax, ay := d.Deflection(x, y)
	return x - ax, y - ay
}

// DeflectionMap is a tabulated deflection field, e.g. made by another lens-modelling code:
// AlphaX and AlphaY (arcsec) at the pixel centres of Grid, row-major. Between the tabulated
// centres the deflection is interpolated bilinearly; beyond the outer centres (at most half
// a pixel of Grid inside the field of view) it is extrapolated linearly from the outermost
// cell. Queried exactly at the tabulated centres it returns the tabulated values.
type DeflectionMap struct {
	Grid           Grid
	AlphaX, AlphaY []float64
}

// NewDeflectionMap checks the shapes and values of a deflection map. Non-finite values
// are an error.
func NewDeflectionMap(g Grid, ax, ay []float64) (*DeflectionMap, error) {
	if g.N < 2 {
		return nil, fmt.Errorf("deflection map must be at least 2×2 pixels, got %d", g.N)
	}
	if len(ax) != g.Len() || len(ay) != g.Len() {
		return nil, fmt.Errorf("deflection map has %d and %d values, want %d×%d", len(ax), len(ay), g.N, g.N)
	}
	for k := range ax {
		if !finite(ax[k]) || !finite(ay[k]) {
			return nil, fmt.Errorf("deflection map has a non-finite value at pixel (%d, %d)", k%g.N, k/g.N)
		}
	}
	return &DeflectionMap{Grid: g, AlphaX: ax, AlphaY: ay}, nil
}

// Deflection returns the interpolated deflection (arcsec) at (x, y) arcsec.
func (m *DeflectionMap) Deflection(x, y float64) (ax, ay float64) {
	g := m.Grid
	u, v := g.Fractional(x, y)
	i0 := clampInt(int(math.Floor(u)), 0, g.N-2)
	j0 := clampInt(int(math.Floor(v)), 0, g.N-2)
	tu, tv := u-float64(i0), v-float64(j0)
	k := j0*g.N + i0
	w00, w10, w01, w11 := (1-tu)*(1-tv), tu*(1-tv), (1-tu)*tv, tu*tv
	ax = w00*m.AlphaX[k] + w10*m.AlphaX[k+1] + w01*m.AlphaX[k+g.N] + w11*m.AlphaX[k+g.N+1]
	ay = w00*m.AlphaY[k] + w10*m.AlphaY[k+1] + w01*m.AlphaY[k+g.N] + w11*m.AlphaY[k+g.N+1]
	return ax, ay
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
