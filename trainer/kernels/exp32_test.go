package kernels

import (
	"math"
	"testing"
)

// exp32 against math.Exp over the range SiLU sees: relative error below 3e-7 (its
// polynomial truncation is 1.2e-7 plus a few float32 roundings of 6e-8).
func TestExp32(t *testing.T) {
	var worst float64
	for x := -80.0; x <= 80; x += 0.00137 {
		got := float64(exp32(float32(x)))
		want := math.Exp(float64(float32(x)))
		worst = max(worst, math.Abs(got/want-1))
	}
	if worst > 3e-7 {
		t.Errorf("max relative error %g > 3e-7", worst)
	}
	if exp32(-100) != 0 || !math.IsInf(float64(exp32(100)), 1) {
		t.Error("exp32 limits")
	}
	y := make([]float32, 3)
	SiLU(y, []float32{-200, 0, 3})
	if y[0] != 0 || y[1] != 0 || math.Abs(float64(y[2])-3/(1+math.Exp(-3))) > 1e-6 {
		t.Errorf("silu32 %v", y)
	}
}
