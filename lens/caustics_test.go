package lens

import (
	"math"
	"testing"
)

// The SIS has one critical curve, the Einstein circle r = θE, and its caustic degenerates to
// the point at the lens centre; the tolerance is the marching-squares interpolation error of
// a curved contour on a grid of scale s, well under s/10 for these sizes.
func TestCriticalCurveSIS(t *testing.T) {
	const thetaE = 1.2
	g := NewGrid(200, 4, 0, 0)
	d := SIE{ThetaE: thetaE, Q: 1}
	crit := CriticalCurves(d, g)
	if len(crit) != 1 {
		t.Fatalf("%d critical curves, want 1", len(crit))
	}
	c := crit[0]
	if c[0] != c[len(c)-1] {
		t.Errorf("the Einstein circle is not closed")
	}
	for _, p := range c {
		if r := math.Hypot(p.X, p.Y); math.Abs(r-thetaE) > g.Scale/10 {
			t.Fatalf("critical point at r = %v, want %v", r, thetaE)
		}
	}
	for _, p := range Caustics(d, crit)[0] {
		if r := math.Hypot(p.X, p.Y); r > g.Scale/10 {
			t.Fatalf("caustic point at r = %v, want 0", r)
		}
	}
}

// For an SIE the tangential caustic is a diamond (astroid) inside the cut; its points must
// map back through the lens onto the critical curve, and det J must vanish along the curve.
func TestCriticalCurveSIE(t *testing.T) {
	d := Sum{SIE{ThetaE: 1.2, Q: 0.7, Phi: 30, X0: 0.05}, Shear{Gamma1: 0.03, Gamma2: -0.01}}
	g := NewGrid(240, 4.5, 0, 0)
	crit := CriticalCurves(d, g)
	total := 0
	for _, c := range crit {
		total += len(c)
	}
	if total < 100 {
		t.Fatalf("only %d critical points", total)
	}
	// det J by finite differences at the contour points, scaled by the typical |∇det|·s.
	h := 1e-5
	for _, c := range crit {
		for _, p := range c {
			axp, ayp := d.Deflection(p.X+h, p.Y)
			axm, aym := d.Deflection(p.X-h, p.Y)
			bxp, byp := d.Deflection(p.X, p.Y+h)
			bxm, bym := d.Deflection(p.X, p.Y-h)
			det := (1-(axp-axm)/(2*h))*(1-(byp-bym)/(2*h)) - (bxp-bxm)/(2*h)*(ayp-aym)/(2*h)
			// |∇det| ≈ 1/θE near the curve; interpolation error ≲ s/10.
			if math.Abs(det) > g.Scale/10 {
				t.Fatalf("det J = %v at critical point (%v, %v)", det, p.X, p.Y)
			}
		}
	}
	caus := Caustics(d, crit)
	var rmax float64
	for _, c := range caus {
		for _, p := range c {
			rmax = math.Max(rmax, math.Hypot(p.X-0.05, p.Y))
		}
	}
	// The SIE caustic of q = 0.7 spans a few tenths of θE.
	if rmax < 0.05 || rmax > 0.8 {
		t.Errorf("caustic extends to %v arcsec", rmax)
	}
}
