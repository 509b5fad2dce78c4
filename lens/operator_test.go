package lens

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func mustConfig(t testing.TB, js string) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(js), "test.json")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustOperator(t testing.TB, js string) *Operator {
	t.Helper()
	a, err := NewOperator(mustConfig(t, js))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

const specLens = `{
  "lens":   [{"type":"sie","theta_e":1.2,"q":0.75,"phi":30,"x0":0.05,"y0":-0.02},
             {"type":"shear","gamma1":0.03,"gamma2":-0.01}],
  "source": {"pixels":%d,"fov":3.0,"x0":0,"y0":0},
  "image":  {"pixels":%d,"fov":6.0,"supersample":%d}%s
}`

func lensJSON(ns, no, k int, psf string) string {
	if psf != "" {
		psf = `, "psf": ` + psf
	}
	return fmt.Sprintf(specLens, ns, no, k, psf)
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TestAdjoint: ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ to 1e-10 relative (the requirement; both sides
// sum the same products in a different order, so the difference is rounding, ~1e-15).
func TestAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, psf := range []string{"", `{"type":"gaussian","fwhm":0.2}`} {
		a := mustOperator(t, lensJSON(24, 32, 2, psf))
		x := make([]float64, a.Cols())
		y := make([]float64, a.Rows())
		ax := make([]float64, a.Rows())
		aty := make([]float64, a.Cols())
		for trial := 0; trial < 5; trial++ {
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			for i := range y {
				y[i] = rng.NormFloat64()
			}
			a.Apply(ax, x)
			a.ApplyT(aty, y)
			l, r := dot(ax, y), dot(x, aty)
			scale := math.Sqrt(dot(ax, ax) * dot(y, y))
			if math.Abs(l-r) > 1e-10*scale {
				t.Errorf("psf=%q: <Ax,y>=%.17g <x,Aᵀy>=%.17g", psf, l, r)
			}
		}
	}
}

// TestUniformSource: a uniform source covering every traced ray maps to the same uniform
// image (surface brightness is conserved). Bilinear weights and the pooling weights each
// sum to 1, so rows sum to 1 up to rounding (1e-12 allows ~1e4 ulps).
func TestUniformSource(t *testing.T) {
	// Rays of a 6" image land within |β| ≤ 3√2 + θE + shear ≈ 5.5"; a 14" source covers them.
	js := `{"lens":[{"type":"sie","theta_e":1.2,"q":0.75,"phi":30,"x0":0.05,"y0":-0.02},
	               {"type":"shear","gamma1":0.03,"gamma2":-0.01}],
	        "source":{"pixels":40,"fov":14},"image":{"pixels":32,"fov":6,"supersample":3}%s}`
	for _, psf := range []string{"", `,"psf":{"type":"gaussian","fwhm":0.4}`} {
		c := mustConfig(t, fmt.Sprintf(js, psf))
		a, err := NewOperator(c)
		if err != nil {
			t.Fatal(err)
		}
		kern, _ := c.Kernel()
		r := 0
		if kern != nil {
			r = kern.W / 2 // pixels nearer the edge lose PSF flux to the zero padding
		}
		x := make([]float64, a.Cols())
		for i := range x {
			x[i] = 2.5
		}
		y := make([]float64, a.Rows())
		a.Apply(y, x)
		no := c.Image.Pixels
		for j := r; j < no-r; j++ {
			for i := r; i < no-r; i++ {
				if v := y[j*no+i]; math.Abs(v-2.5) > 1e-12 {
					t.Fatalf("psf=%q: pixel (%d,%d) = %.15g, want 2.5", psf, i, j, v)
				}
			}
		}
	}
}

// TestIdentityAndPooling: with no deflection and the source grid equal to the image grid,
// A = I; with k = 2 and the source on the supersampled grid, each row averages the 2×2
// sub-pixels with weight ¼ (exact in binary floating point).
func TestIdentityAndPooling(t *testing.T) {
	a := mustOperator(t, `{"lens":[{"type":"shear","gamma1":0,"gamma2":0}],
		"source":{"pixels":8,"fov":4},"image":{"pixels":8,"fov":4}}`)
	if a.NNZ() != 64 {
		t.Fatalf("identity has %d entries, want 64", a.NNZ())
	}
	a.Triplets(func(r, c int, v float64) {
		if r != c || math.Abs(v-1) > 1e-15 {
			t.Errorf("identity entry (%d,%d) = %v", r, c, v)
		}
	})
	s := a.AATSummary()
	if s.ActiveRows != 64 || s.DiagMin != 1 || s.DiagMax != 1 || s.OffDiagFraction != 0 || s.NormEstimate > 1e-15 {
		t.Errorf("identity summary: %v", s)
	}

	p := mustOperator(t, `{"lens":[{"type":"shear","gamma1":0,"gamma2":0}],
		"source":{"pixels":16,"fov":4},"image":{"pixels":8,"fov":4,"supersample":2}}`)
	if p.NNZ() != 4*64 {
		t.Fatalf("pooling has %d entries, want 256", p.NNZ())
	}
	p.Triplets(func(r, c int, v float64) {
		i, j, ci, cj := r%8, r/8, c%16, c/16
		if ci/2 != i || cj/2 != j || math.Abs(v-0.25) > 1e-15 {
			t.Errorf("pooling entry (%d,%d) = %v", r, c, v)
		}
	})
}

// TestBilinearEdge: SPEC §4, zero padding: half a pixel outside the outer centre gives
// half the edge value, a full pixel outside gives zero; between centres it is linear.
func TestBilinearEdge(t *testing.T) {
	g := NewGrid(4, 4, 0, 0) // centres at −1.5, −0.5, 0.5, 1.5
	img := make([]float64, 16)
	for i := range img {
		img[i] = 1
	}
	img[2*4+3] = 3 // (i=3, j=2) at (1.5, 0.5)
	cases := []struct{ x, y, want float64 }{
		{1.5, 0.5, 3},
		{2.0, 0.5, 1.5},    // half a pixel outside the right edge
		{2.5, 0.5, 0},      // one pixel outside
		{1.0, 0.5, 2},      // halfway between 1 and 3
		{-2.0, -1.5, 0.5},  // half outside the left edge
		{-2.0, -2.0, 0.25}, // half outside a corner in both directions
		{100, 0, 0},
		{math.NaN(), 0, 0},
	}
	for _, c := range cases {
		if v := g.Bilinear(img, c.x, c.y); math.Abs(v-c.want) > 1e-15 {
			t.Errorf("Bilinear(%v,%v) = %v, want %v", c.x, c.y, v, c.want)
		}
	}
}

// TestPSFKernels: every kernel sums to 1 (to rounding, 1e-14), is symmetric, and the
// pixel-integrated Gaussian has the variance σ² + 1/12 pixel² per axis (a Gaussian
// convolved with the unit box), checked to 1e-6 where truncation at 4σ changes it by
// less than 1e-3·σ²·… — here we use a wide kernel (size 61) so truncation is < 1e-12.
func TestPSFKernels(t *testing.T) {
	for _, c := range []struct {
		fwhm, pix float64
		size      int
	}{{0.08, 6.0 / 64, 0}, {0.2, 0.05, 0}, {0.1, 0.1, 7}, {0.5, 0.1, 61}, {1e-3, 0.1, 0}} {
		k := GaussianKernel(c.fwhm, c.pix, c.size)
		sum, m2 := 0.0, 0.0
		for v := 0; v < k.H; v++ {
			for u := 0; u < k.W; u++ {
				val := k.Data[v*k.W+u]
				sum += val
				du := float64(u - k.W/2)
				m2 += val * du * du
				if math.Abs(val-k.Data[(k.H-1-v)*k.W+(k.W-1-u)]) > 1e-17 || val < 0 {
					t.Errorf("kernel %+v not symmetric/non-negative", c)
				}
			}
		}
		if k.W%2 != 1 || k.H%2 != 1 || math.Abs(sum-1) > 1e-14 {
			t.Errorf("kernel %+v: %d×%d, sum %v", c, k.W, k.H, sum)
		}
		if c.size == 61 {
			sig := c.fwhm / fwhmToSigma / c.pix
			if want := sig*sig + 1.0/12; math.Abs(m2-want) > 1e-6 {
				t.Errorf("kernel %+v: variance %v px², want %v", c, m2, want)
			}
		}
	}
	k, err := NewKernel(3, 1, []float64{1, 2, 1})
	if err != nil || k.Data[1] != 0.5 || k.Data[0] != 0.25 {
		t.Errorf("NewKernel normalisation: %v %v", k, err)
	}
	for _, bad := range []struct {
		w, h int
		d    []float64
	}{{2, 1, []float64{1, 1}}, {1, 1, []float64{0}}, {3, 1, []float64{1, -0.1, 1}}, {1, 1, []float64{math.Inf(1)}}} {
		if _, err := NewKernel(bad.w, bad.h, bad.d); err == nil {
			t.Errorf("NewKernel(%d,%d,%v) accepted", bad.w, bad.h, bad.d)
		}
	}
	// Convolution of a delta reproduces the kernel, flipped (a true convolution).
	k, _ = NewKernel(3, 3, []float64{0, 0, 0, 0, 0, 1, 0, 0, 0}) // shift right by one
	src := make([]float64, 25)
	src[2*5+2] = 1
	dst := make([]float64, 25)
	k.Convolve(dst, src, 5)
	if dst[2*5+3] != 1 {
		t.Errorf("convolution with a right-shift kernel: %v", dst)
	}
}

// TestOperatorPSFMatchesConvolution: A with a PSF equals Kernel.Convolve applied after A
// without one (same numbers summed in a different order: 1e-13 relative).
func TestOperatorPSFMatchesConvolution(t *testing.T) {
	c := mustConfig(t, lensJSON(20, 24, 2, `{"type":"gaussian","fwhm":0.5}`))
	a, _ := NewOperator(c)
	c0 := *c
	c0.PSF = nil
	a0, _ := NewOperator(&c0)
	kern, _ := c.Kernel()
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, a.Cols())
	for i := range x {
		x[i] = rng.Float64()
	}
	y, y0, yc := make([]float64, a.Rows()), make([]float64, a.Rows()), make([]float64, a.Rows())
	a.Apply(y, x)
	a0.Apply(y0, x)
	kern.Convolve(yc, y0, 24)
	for i := range y {
		if math.Abs(y[i]-yc[i]) > 1e-13 {
			t.Fatalf("pixel %d: %v vs %v", i, y[i], yc[i])
		}
	}
}

// TestAATSummary: diag(AAᵀ) ≤ 1 because rows are non-negative and sum to at most 1
// (paper, appendix A), the power-iteration estimate does not exceed the Gershgorin bound,
// and DiagAAT agrees with the summary.
func TestAATSummary(t *testing.T) {
	a := mustOperator(t, lensJSON(32, 32, 2, `{"type":"gaussian","fwhm":0.08}`))
	s := a.AATSummary()
	t.Logf("%v (%d iterations)", s, s.Iterations)
	d := make([]float64, a.Rows())
	a.DiagAAT(d)
	mx := 0.0
	for _, v := range d {
		mx = math.Max(mx, v)
	}
	if s.DiagMax > 1+1e-12 || mx != s.DiagMax || s.DiagMin <= 0 || s.DiagMedian < s.DiagMin || s.DiagMedian > s.DiagMax {
		t.Errorf("diagonal: %v (DiagAAT max %v)", s, mx)
	}
	if s.NormEstimate > s.GershgorinBound*(1+1e-9) || s.NormEstimate <= 0 {
		t.Errorf("norm estimate %v vs Gershgorin %v", s.NormEstimate, s.GershgorinBound)
	}
	if s.OffDiagFraction <= 0 || s.OffDiagFraction >= 1 || s.ActiveRows <= 0 || s.ActiveRows > s.Rows {
		t.Errorf("summary %v", s)
	}
}

func TestApplyAllocationFree(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, psf := range []string{"", `{"type":"gaussian","fwhm":0.4}`} {
		a := mustOperator(t, lensJSON(16, 16, 2, psf))
		x, y := make([]float64, a.Cols()), make([]float64, a.Rows())
		a.Apply(y, x) // the first call fills the scratch pool
		if n := testing.AllocsPerRun(10, func() { a.Apply(y, x); a.ApplyT(x, y) }); n != 0 {
			t.Errorf("psf=%q: Apply/ApplyT allocate %v times", psf, n)
		}
	}
}

func benchSizes(b *testing.B, f func(b *testing.B, n int)) {
	for _, n := range []int{32, 64, 128} {
		b.Run(fmt.Sprintf("n=%d,k=2", n), func(b *testing.B) { f(b, n) })
	}
}

func BenchmarkNewOperator(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		c := mustConfig(b, lensJSON(n, n, 2, `{"type":"gaussian","fwhm":0.08}`))
		for i := 0; i < b.N; i++ {
			if _, err := NewOperator(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkApply(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		a := mustOperator(b, lensJSON(n, n, 2, `{"type":"gaussian","fwhm":0.08}`))
		x, y := make([]float64, a.Cols()), make([]float64, a.Rows())
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			a.Apply(y, x)
		}
		b.ReportMetric(float64(a.NNZ()), "nnz")
	})
}

func BenchmarkApplyT(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		a := mustOperator(b, lensJSON(n, n, 2, `{"type":"gaussian","fwhm":0.08}`))
		x, y := make([]float64, a.Cols()), make([]float64, a.Rows())
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			a.ApplyT(x, y)
		}
	})
}

func BenchmarkAATSummary(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		a := mustOperator(b, lensJSON(n, n, 2, `{"type":"gaussian","fwhm":0.08}`))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			a.AATSummary()
		}
	})
}

// TestApplyMatchesAssembled: the factorised Apply/ApplyT (A = K P) agree with the assembled
// matrix that Triplets writes out, to 1e-13 (the same products summed in another order),
// also when called from several goroutines at once.
func TestApplyMatchesAssembled(t *testing.T) {
	a := mustOperator(t, lensJSON(20, 24, 2, `{"type":"gaussian","fwhm":0.4}`))
	rng := rand.New(rand.NewPCG(9, 10))
	x := make([]float64, a.Cols())
	y := make([]float64, a.Rows())
	for i := range x {
		x[i] = rng.Float64()
	}
	for i := range y {
		y[i] = rng.Float64()
	}
	ax, aty := make([]float64, a.Rows()), make([]float64, a.Cols())
	a.Triplets(func(r, c int, v float64) {
		ax[r] += v * x[c]
		aty[c] += v * y[r]
	})
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			gx, gy := make([]float64, a.Rows()), make([]float64, a.Cols())
			for it := 0; it < 20; it++ {
				a.Apply(gx, x)
				a.ApplyT(gy, y)
				for i := range gx {
					if math.Abs(gx[i]-ax[i]) > 1e-13 {
						done <- fmt.Errorf("Apply row %d: %v, assembled %v", i, gx[i], ax[i])
						return
					}
				}
				for i := range gy {
					if math.Abs(gy[i]-aty[i]) > 1e-13 {
						done <- fmt.Errorf("ApplyT col %d: %v, assembled %v", i, gy[i], aty[i])
						return
					}
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
