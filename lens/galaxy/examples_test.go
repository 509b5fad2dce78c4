package galaxy

import (
	"math"
	"strings"
	"testing"
)

func TestExamples(t *testing.T) {
	for _, name := range Names() {
		img, err := Example(name, 48)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var peak float64
		for _, v := range img {
			if math.IsNaN(v) || v < 0 {
				t.Fatalf("%s: pixel %v", name, v)
			}
			peak = math.Max(peak, v)
		}
		// Peak normalisation is exact up to the division's rounding.
		if math.Abs(peak-1) > 1e-12 {
			t.Errorf("%s: peak %v, want 1", name, peak)
		}
		again, _ := Example(name, 48)
		for i := range img {
			if img[i] != again[i] {
				t.Fatalf("%s: not deterministic at pixel %d", name, i)
			}
		}
		// Filling the field sensibly: the light-weighted radius lies within the central
		// two thirds of the stamp and is not a point (stamp half-width = 1).
		var s, sr float64
		for j := 0; j < 48; j++ {
			for i := 0; i < 48; i++ {
				x, y := (float64(i)-23.5)/24, (float64(j)-23.5)/24
				s += img[j*48+i]
				sr += img[j*48+i] * math.Hypot(x, y)
			}
		}
		if r := sr / s; r < 0.1 || r > 0.6 {
			t.Errorf("%s: mean light radius %.3f of the half-width, want 0.1–0.6", name, r)
		}
	}
	if _, err := Example("nonesuch", 32); err == nil || !strings.Contains(err.Error(), "spiral") {
		t.Errorf("unknown name: error %v should list the names", err)
	}
}
