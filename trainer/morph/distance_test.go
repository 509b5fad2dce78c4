package morph

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

func TestWasserstein1(t *testing.T) {
	a := []float64{0, 1, 2, 3}
	b := []float64{0.5, 1.5, 2.5, 3.5}
	// A shift by δ moves every quantile by δ: W1 = δ exactly (up to rounding).
	if d := Wasserstein1(a, b); math.Abs(d-0.5) > 1e-12 {
		t.Errorf("W1 of a shift by 0.5 = %g", d)
	}
	// Unequal sizes: {0} vs {0, 1}: |F_a − F_b| = 1/2 on [0, 1).
	if d := Wasserstein1([]float64{0}, []float64{0, 1}); math.Abs(d-0.5) > 1e-12 {
		t.Errorf("W1({0},{0,1}) = %g, want 0.5", d)
	}
}

// gaussSet draws m round Gaussians of σ ~ N(mu, 0.4) pixels on a 32×32 stamp.
func gaussSet(r *rand.Rand, m int, mu float64) [][]float64 {
	const n = 32
	out := make([][]float64, m)
	for k := range out {
		s := mu + 0.4*r.NormFloat64()
		img := make([]float64, n*n)
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				x, y := float64(i)-15.5, float64(j)-15.5
				img[j*n+i] = math.Exp(-(x*x + y*y) / (2 * s * s))
			}
		}
		out[k] = img
	}
	return out
}

func TestDistance(t *testing.T) {
	ctx := context.Background()
	ref, err := MeasureAll(ctx, gaussSet(rand.New(rand.NewPCG(1, 1)), 60, 3), 32)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Distance(ref, ref) {
		if r.D != 0 {
			t.Errorf("%s: distance of a set to itself %g, want 0", r.Name, r.D)
		}
	}
	// Shifting the size distribution moves R50 (∝ σ) and the distance must grow with the shift.
	prev := -1.0
	for _, shift := range []float64{0, 0.25, 0.5, 1, 2} {
		set, _ := MeasureAll(ctx, gaussSet(rand.New(rand.NewPCG(2, 2)), 60, 3+shift), 32)
		rows := Distance(ref, set)
		d := rows[2].D // r50
		if rows[2].Name != "r50" {
			t.Fatalf("row 2 is %s", rows[2].Name)
		}
		if d <= prev {
			t.Errorf("shift %g: r50 distance %g does not exceed %g", shift, d, prev)
		}
		prev = d
	}
}
