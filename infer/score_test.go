package infer

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// exactGaussianScore is −(C + σ² I)⁻¹ (x − m) by a dense Cholesky solve.
func exactGaussianScore(c *mat.SymDense, m float64, x []float64, sigma float64) []float64 {
	n := len(x)
	k := mat.NewSymDense(n, nil)
	k.CopySym(c)
	for i := 0; i < n; i++ {
		k.SetSym(i, i, k.At(i, i)+sigma*sigma)
	}
	var ch mat.Cholesky
	if !ch.Factorize(k) {
		panic("not positive definite")
	}
	r := mat.NewVecDense(n, nil)
	for i, v := range x {
		r.SetVec(i, m-v)
	}
	var s mat.VecDense
	if err := ch.SolveVecTo(&s, r); err != nil {
		panic(err)
	}
	return s.RawVector().Data
}

// The FFT score of the GRF against a dense solve with its covariance, on a non-square grid
// and at noise scales below, at and above the prior σ. Both are exact; the tolerance 1e-9
// relative is rounding of the FFTs and of the Cholesky solve (condition number ≲ 1e5).
func TestGaussianPriorScoreExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	grf, err := NewGRFPrior(6, 8, 0.05, 0.3, 1.5, 3, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	white, err := NewWhitePrior(5, 5, -0.1, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*GaussianPrior{grf, white} {
		c := p.Covariance()
		for i := 0; i < p.Len(); i++ {
			if got := c.At(i, i); math.Abs(got-p.sigma*p.sigma) > 1e-12 {
				t.Fatalf("%s: Σx[%d,%d] = %g, want σ² = %g", p, i, i, got, p.sigma*p.sigma)
			}
		}
		x := make([]float64, p.Len())
		for i := range x {
			x[i] = 3 * rng.NormFloat64()
		}
		for _, sigma := range []float64{0.01, 1.5, 100} {
			want := exactGaussianScore(c, p.mean, x, sigma)
			got := make([]float64, len(x))
			p.ScoreSigma(got, x, sigma)
			if d := maxRelDiff(got, want); d > 1e-9 {
				t.Errorf("%s σ=%g: score differs from dense solve by %g (relative to max |score|)", p, sigma, d)
			}
			// The float32 boundary: agreement to float32 rounding (≈ 6e-8 relative, a few
			// ulps through the FFT).
			p.SDE = VESDE{SigmaMin: 0.01, SigmaMax: 100}
			tt := math.Log(sigma/0.01) / math.Log(100/0.01)
			x32 := make([]float32, len(x))
			for i, v := range x {
				x32[i] = float32(v)
			}
			d32 := make([]float32, len(x))
			if err := p.Score(context.Background(), d32, x32, []float32{float32(tt)}); err != nil {
				t.Fatal(err)
			}
			g64 := make([]float64, len(x))
			for i, v := range d32 {
				g64[i] = float64(v)
			}
			if d := maxRelDiff(g64, want); d > 1e-5 {
				t.Errorf("%s σ=%g: float32 Score differs by %g", p, sigma, d)
			}
		}
	}
}

func maxRelDiff(a, b []float64) float64 {
	scale, d := 0.0, 0.0
	for i := range a {
		scale = math.Max(scale, math.Abs(b[i]))
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d / scale
}

// Prior draws have the prior's covariance: every entry of the sample covariance of k
// draws lies within 5 standard errors, √((CiiCjj + Cij²)/k), of Σx.
func TestGaussianPriorSample(t *testing.T) {
	p, err := NewGRFPrior(4, 4, 0.1, 1, 2, 2, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Covariance()
	n, k := p.Len(), 20000
	rng := rand.New(rand.NewPCG(9, 10))
	x := make([]float64, n)
	sum := make([]float64, n)
	cov := make([]float64, n*n)
	for s := 0; s < k; s++ {
		p.Sample(x, rng)
		for i := range x {
			sum[i] += x[i]
			for j := range x {
				cov[i*n+j] += (x[i] - 1) * (x[j] - 1)
			}
		}
	}
	for i := 0; i < n; i++ {
		if m := sum[i] / float64(k); math.Abs(m-1) > 5*2/math.Sqrt(float64(k)) {
			t.Errorf("mean[%d] = %g, want 1", i, m)
		}
		for j := 0; j < n; j++ {
			got, want := cov[i*n+j]/float64(k), c.At(i, j)
			se := math.Sqrt((c.At(i, i)*c.At(j, j) + want*want) / float64(k))
			if math.Abs(got-want) > 5*se {
				t.Errorf("cov[%d,%d] = %g, want %g ± %g", i, j, got, want, 5*se)
			}
		}
	}
	// A steeper spectrum is smoother: neighbour correlation grows with the index.
	smooth, _ := NewGRFPrior(16, 16, 0.1, 0, 1, 4, 0.5)
	rough, _ := NewGRFPrior(16, 16, 0.1, 0, 1, 1, 0.5)
	if a, b := smooth.Covariance().At(0, 1), rough.Covariance().At(0, 1); !(a > b) {
		t.Errorf("neighbour covariance: index 4 gives %g, index 1 gives %g", a, b)
	}
}

func TestParsePrior(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"white:sigma=0.5", "white:sigma=0.5,mean=0"},
		{"white:mean=0.1, sigma=2", "white:sigma=2,mean=0.1"},
		{"grf:sigma=1,index=3", "grf:sigma=1,index=3,mean=0,scale=0.8"},
		{"grf:sigma=1,index=2.5,mean=0.2,scale=0.3", "grf:sigma=1,index=2.5,mean=0.2,scale=0.3"},
	} {
		p, err := ParsePrior(tc.spec, 16, 0.2)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if p.String() != tc.want {
			t.Errorf("%q parsed as %q, want %q", tc.spec, p, tc.want)
		}
	}
	for _, tc := range []struct{ spec, wantErr string }{
		{"white:sigma=1,width=3", `unknown key "width"`},
		{"grf:sigma=1", "missing index="},
		{"white:mean=1", "missing sigma="},
		{"white:sigma=0", "positive"},
		{"white:sigma=-1", "positive"},
		{"white:sigma=nan", "finite"},
		{"white:sigma=1,sigma=2", "twice"},
		{"grf:sigma=1,index=-1", "non-negative"},
		{"grf:sigma=1,index=2,scale=0", "scale"},
		{"gauss:sigma=1", "unknown kind"},
		{"white:sigma", "key=value"},
	} {
		_, err := ParsePrior(tc.spec, 16, 0.2)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %v, want one containing %q", tc.spec, err, tc.wantErr)
		}
	}
}
