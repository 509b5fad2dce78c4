package infer

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// whiteScore is the exact diffused score of the prior N(0, τ² I): −x/(τ² + σ(t)²).
type whiteScore struct {
	tau float64
	sde VESDE
}

func (w whiteScore) Score(_ context.Context, dst, x []float64, t float64) error {
	s := w.sde.Sigma(t)
	for i, v := range x {
		dst[i] = -v / (w.tau*w.tau + s*s)
	}
	return nil
}

// With a prior far narrower than σmin (τ = σmin/100), the last step's mean alone leaves
// noise of about σmin in every sample; Tweedie's formula at t = 0 maps x to
// x·τ²/(τ²+σmin²), whose rms is about τ²/σmin = τ/100. Asserted: below 2τ with the denoise,
// above σmin/2 without it (16 × 4096 values, so the rms estimates are within 1%).
func TestTweedieDenoiseRemovesSigmaMinFloor(t *testing.T) {
	sde := VESDE{SigmaMin: 0.01, SigmaMax: 5}
	ws := whiteScore{tau: 1e-4, sde: sde}
	for _, tc := range []struct {
		noDenoise bool
		lo, hi    float64
	}{{false, 0, 2 * ws.tau}, {true, sde.SigmaMin / 2, math.Inf(1)}} {
		const B, n = 16, 4096
		x := make([]float64, B*n)
		rngs := make([]*rand.Rand, B)
		for b := range rngs {
			rngs[b] = rand.New(rand.NewPCG(3, uint64(b)))
		}
		opt := SolverOptions{SDE: sde, Steps: 200, Predictor: "em", NoDenoise: tc.noDenoise}
		if err := Solve(context.Background(), ws, x, rngs, opt); err != nil {
			t.Fatal(err)
		}
		var s2 float64
		for _, v := range x {
			s2 += v * v
		}
		rms := math.Sqrt(s2 / float64(len(x)))
		if rms < tc.lo || rms > tc.hi {
			t.Errorf("NoDenoise %t: rms of the samples %.3g, want within [%.3g, %.3g]", tc.noDenoise, rms, tc.lo, tc.hi)
		}
	}
}
