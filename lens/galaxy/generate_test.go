package galaxy

import (
	"context"
	"fmt"
	"math"
	"testing"
)

func TestGenerateDeterministic(t *testing.T) {
	a, pa, err := Generate(context.Background(), 7, 24, 32, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, pb, err := Generate(context.Background(), 7, 24, 32, 3)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for i := range a {
		if pa[i] != pb[i] {
			t.Fatalf("galaxy %d: parameters depend on the number of workers", i)
		}
		for k := range a[i] {
			if a[i][k] != b[i][k] {
				t.Fatalf("galaxy %d: pixels depend on the number of workers", i)
			}
		}
		// Re-rendering from the recorded parameters gives the same image.
		img := make([]float64, 32*32)
		if err := pa[i].Render(img, 32); err != nil {
			t.Fatal(err)
		}
		var sum float64
		for k := range img {
			if img[k] != a[i][k] {
				t.Fatalf("galaxy %d: not reproducible from its Params", i)
			}
			sum += img[k]
		}
		// Render scales Σ pixels × (2/n)² to Flux; only rounding differs.
		if got := sum * 4 / (32 * 32); math.Abs(got-pa[i].Flux) > 1e-12*pa[i].Flux {
			t.Errorf("galaxy %d: flux %v, want %v", i, got, pa[i].Flux)
		}
		types[pa[i].Type]++
	}
	if len(types) < 4 {
		t.Errorf("24 galaxies hold only the types %v", types)
	}
}

// TestTypeFractions checks that Random draws each type with its stated fraction; with 4000
// draws the binomial standard error of a fraction f is sqrt(f(1-f)/4000) ≤ 0.008, and the
// tolerance is 4 of those.
func TestTypeFractions(t *testing.T) {
	const draws = 4000
	got := map[string]int{}
	for i := 0; i < draws; i++ {
		got[Random(Stream(1, i)).Type]++
	}
	for _, ty := range Types {
		f := float64(got[ty.Name]) / draws
		se := math.Sqrt(ty.Frac * (1 - ty.Frac) / draws)
		if math.Abs(f-ty.Frac) > 4*se {
			t.Errorf("%s: fraction %.3f, want %.3f ± %.3f", ty.Name, f, ty.Frac, 4*se)
		}
	}
}

// TestCoreSampling checks that the adaptive sub-pixel sampling integrates a compact n = 4
// core: the central pixel of a Sérsic profile with re = 1 pixel must hold the pixel-averaged
// surface brightness, computed here by brute force on a 400×400 sub-grid. Tolerance 1%:
// the light the recursion (cells down to 1/256 pixel) or the brute-force grid can miss
// lies within ~0.003 pixel of the centre, a fraction γ(8, b₄·0.003^¼)/Γ(8) ≈ 4e-4 of the
// total, about 0.3% of the central pixel's light. The unsampled centre is off by ×270.
func TestCoreSampling(t *testing.T) {
	const n = 33
	ps := 2.0 / n
	s := newSersic(0, 0, 1, ps, 4, 1, 0, 2)
	img := make([]float64, n*n)
	renderInto(img, n, []component{s})
	var ref float64
	const k = 400
	for b := 0; b < k; b++ {
		for a := 0; a < k; a++ {
			ref += s.eval((float64(a)+0.5)/k*ps-ps/2, (float64(b)+0.5)/k*ps-ps/2)
		}
	}
	ref /= k * k
	c := img[(n/2)*n+n/2]
	point := s.eval(0, 0)
	if math.Abs(c-ref) > 0.01*ref {
		t.Errorf("central pixel %v, want %v (±1%%); the unsampled centre would be %v", c, ref, point)
	}
	if testing.Verbose() {
		t.Logf("central pixel %v, reference %v", c, ref)
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{32, 64, 128} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				p := Random(Stream(3, i))
				img := make([]float64, n*n)
				if err := p.Render(img, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
