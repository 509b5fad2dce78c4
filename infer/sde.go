package infer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// VESDE is the variance-exploding SDE of Song et al. (2021) used by the paper (SPEC §6):
// dx = g(t) dw with σ(t) = SigmaMin·(SigmaMax/SigmaMin)^t and g(t)² = dσ²/dt, t ∈ [0, 1].
// SigmaMin and SigmaMax are in the units of the source pixels.
type VESDE struct {
	SigmaMin, SigmaMax float64
}

// Validate reports whether 0 < SigmaMin < SigmaMax, both finite.
func (s VESDE) Validate() error {
	if !(s.SigmaMin > 0) || math.IsInf(s.SigmaMin, 0) {
		return fmt.Errorf("sigma-min must be a positive number, got %g", s.SigmaMin)
	}
	if !(s.SigmaMax > 0) || math.IsInf(s.SigmaMax, 0) {
		return fmt.Errorf("sigma-max must be a positive number, got %g", s.SigmaMax)
	}
	if s.SigmaMin >= s.SigmaMax {
		return fmt.Errorf("sigma-min (%g) must be smaller than sigma-max (%g)", s.SigmaMin, s.SigmaMax)
	}
	return nil
}

// logRatio returns ln(σmax/σmin).
func (s VESDE) logRatio() float64 { return math.Log(s.SigmaMax / s.SigmaMin) }

// Sigma returns the noise scale σ(t) = σmin·(σmax/σmin)^t.
func (s VESDE) Sigma(t float64) float64 { return s.SigmaMin * math.Exp(t*s.logRatio()) }

// T returns the time t at which σ(t) = sigma, the inverse of Sigma.
func (s VESDE) T(sigma float64) float64 { return math.Log(sigma/s.SigmaMin) / s.logRatio() }

// G2 returns the squared diffusion coefficient g(t)² = dσ²/dt = 2σ(t)²·ln(σmax/σmin).
func (s VESDE) G2(t float64) float64 {
	sig := s.Sigma(t)
	return 2 * sig * sig * s.logRatio()
}

// SamplePrior fills dst with a draw from p₁ = N(0, σmax² I), the starting distribution of
// the reverse SDE (paper §2.1).
func (s VESDE) SamplePrior(dst []float64, rng *rand.Rand) {
	for i := range dst {
		dst[i] = s.SigmaMax * rng.NormFloat64()
	}
}

// normCDF is Φ, the standard normal cumulative distribution function.
func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// StepProbability is technique 2 of Song & Ermon (2020), paper eq. 22: the probability that
// a sample of p_t lies in the 3σ region of p_{t+Δt} when the geometric noise schedule from
// sigmaMax down to sigmaMin is cut into steps pieces, for images of dimension n (pixels ×
// channels):
//
//	γ = (σmax/σmin)^(1/N),  p(N) = Φ(√(2n)(γ−1) + 3γ) − Φ(√(2n)(γ−1) − 3γ).
func StepProbability(steps, n int, sigmaMin, sigmaMax float64) float64 {
	if steps <= 0 || n <= 0 {
		panic("infer: StepProbability needs steps > 0 and n > 0")
	}
	gamma := math.Exp(math.Log(sigmaMax/sigmaMin) / float64(steps))
	a := math.Sqrt(2*float64(n)) * (gamma - 1)
	return normCDF(a+3*gamma) - normCDF(a-3*gamma)
}

// maxSteps bounds the search of StepsFor.
const maxSteps = 1 << 30

// StepsFor returns the smallest number of steps N with StepProbability(N, n, …) ≥ target.
// p(N) tends to Φ(3) − Φ(−3) ≈ 0.9973 as N grows, so larger targets are refused; the
// paper uses 0.99 (N = 8000 for n = 256², σmax = 263.4, σmin = 1e-4).
func StepsFor(target float64, n int, sigmaMin, sigmaMax float64) (int, error) {
	if !(target > 0 && target < 1) {
		return 0, fmt.Errorf("step probability target must be in (0, 1), got %g", target)
	}
	if n <= 0 {
		return 0, fmt.Errorf("dimension must be positive, got %d", n)
	}
	if err := (VESDE{sigmaMin, sigmaMax}).Validate(); err != nil {
		return 0, err
	}
	p := func(N int) float64 { return StepProbability(N, n, sigmaMin, sigmaMax) }
	if p(1) >= target {
		return 1, nil
	}
	// p(N) rises monotonically until it reaches ≈ Φ(3)−Φ(−3) near N → ∞: bracket by
	// doubling, then bisect for the first N that reaches the target.
	lo, hi := 1, 2
	for p(hi) < target {
		if hi >= maxSteps {
			return 0, fmt.Errorf("step probability %g is not reachable (p(N) tends to %.4f)", target, normCDF(3)-normCDF(-3))
		}
		lo, hi = hi, 2*hi
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if p(mid) >= target {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}

// ErrTooFewImages is returned by SigmaMaxFromData when fewer than two images are given.
var ErrTooFewImages = errors.New("need at least two images to measure sigma-max")

// SigmaMaxFromData returns the paper's σmax (§3, after Song & Ermon's technique 1): the
// largest Euclidean distance between two of the images, which are stored one after the
// other in data, dim values each. It is exact to rounding: distances come from a blocked
// Gram matrix (gonum BLAS) of the centred images, visited in order of decreasing distance
// from the centroid so that pairs that cannot beat the best distance found so far are
// skipped by the triangle inequality (‖xi−xj‖ ≤ ri + rj), and every pair that comes
// within 1e-8 of the best is recomputed directly. It keeps one centred copy of the data.
func SigmaMaxFromData(data []float64, dim int) (float64, error) {
	if dim <= 0 || len(data)%dim != 0 {
		panic("infer: SigmaMaxFromData: data length is not a multiple of dim")
	}
	m := len(data) / dim
	if m < 2 {
		return 0, ErrTooFewImages
	}
	for i, v := range data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("image %d pixel %d is not finite (%g)", i/dim, i%dim, v)
		}
	}
	centre := make([]float64, dim)
	for k := 0; k < m; k++ {
		row := data[k*dim : (k+1)*dim]
		for i, v := range row {
			centre[i] += v
		}
	}
	for i := range centre {
		centre[i] /= float64(m)
	}
	radius := make([]float64, m)
	for k := range radius {
		radius[k] = math.Sqrt(dist2(data[k*dim:(k+1)*dim], centre))
	}
	order := make([]int, m)
	for k := range order {
		order[k] = k
	}
	sort.SliceStable(order, func(a, b int) bool { return radius[order[a]] > radius[order[b]] })
	// Centred copy in order of decreasing radius, with squared norms and sorted radii.
	x := make([]float64, m*dim)
	sq := make([]float64, m)
	r := make([]float64, m)
	for a, k := range order {
		dst := x[a*dim : (a+1)*dim]
		src := data[k*dim : (k+1)*dim]
		s := 0.0
		for i := range dst {
			v := src[i] - centre[i]
			dst[i] = v
			s += v * v
		}
		sq[a] = s
		r[a] = radius[k]
	}
	row := func(a int) []float64 { return x[a*dim : (a+1)*dim] }
	// Lower bound from two farthest-point sweeps starting at the outermost image.
	best := 0.0 // squared distance
	from := 0
	for sweep := 0; sweep < 2; sweep++ {
		far, farD := from, 0.0
		for b := 0; b < m; b++ {
			if d := dist2(row(from), row(b)); d > farD {
				far, farD = b, d
			}
		}
		best = math.Max(best, farD)
		from = far
	}
	const bs = 128
	gram := make([]float64, bs*m)
	const slack = 1e-8
	for i0 := 0; i0 < m; i0 += bs {
		i1 := min(i0+bs, m)
		L := math.Sqrt(best)
		if r[i0]+r[0] < L*(1-slack) {
			break // no later row can reach the best distance
		}
		// Columns j < i with r[j] ≥ L − r[i0] form a prefix of the sorted order.
		need := L*(1-slack) - r[i0]
		jEnd := sort.Search(m, func(j int) bool { return r[j] < need })
		jEnd = min(jEnd, i1-1)
		if jEnd <= 0 {
			continue
		}
		rows := i1 - i0
		c := blas64.General{Rows: rows, Cols: jEnd, Stride: jEnd, Data: gram[:rows*jEnd]}
		blas64.Gemm(blas.NoTrans, blas.Trans, 1,
			blas64.General{Rows: rows, Cols: dim, Stride: dim, Data: x[i0*dim : i1*dim]},
			blas64.General{Rows: jEnd, Cols: dim, Stride: dim, Data: x[:jEnd*dim]},
			0, c)
		thresh := best * (1 - slack)
		for a := i0; a < i1; a++ {
			g := c.Data[(a-i0)*jEnd:]
			for b := 0; b < min(a, jEnd); b++ {
				if d := sq[a] + sq[b] - 2*g[b]; d >= thresh {
					if e := dist2(row(a), row(b)); e > best {
						best = e
						thresh = best * (1 - slack)
					}
				}
			}
		}
	}
	return math.Sqrt(best), nil
}

// dist2 returns the squared Euclidean distance between a and b.
func dist2(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		d := v - b[i]
		s += d * d
	}
	return s
}
