package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"scorelens/lens"
)

// testLensJSON is an SIE + external shear with a source grid finer than the image pixels
// near the caustics (strong magnification): the regime in which A Aᵀ is far from I.
const testLensJSON = `{
  "lens":   [{"type":"sie","theta_e":1.0,"q":0.8,"phi":30,"x0":0.02,"y0":-0.01},
             {"type":"shear","gamma1":0.04,"gamma2":-0.02}],
  "source": {"pixels":%d,"fov":%g,"x0":0.02,"y0":0.0},
  "image":  {"pixels":%d,"fov":%g,"supersample":2}
}`

// lensOperator builds the SIE+shear operator with ns source and no image pixels a side.
func lensOperator(tb testing.TB, ns int, srcFOV float64, no int, imgFOV float64) *lens.Operator {
	tb.Helper()
	return lensOperatorPSF(tb, ns, srcFOV, no, imgFOV, 0)
}

// lensOperatorPSF is lensOperator with a Gaussian PSF of the given FWHM (arcseconds; 0:
// none).
func lensOperatorPSF(tb testing.TB, ns int, srcFOV float64, no int, imgFOV, fwhm float64) *lens.Operator {
	tb.Helper()
	js := strings.TrimSpace(fmt.Sprintf(testLensJSON, ns, srcFOV, no, imgFOV))
	if fwhm > 0 {
		js = strings.TrimSuffix(js, "}") + fmt.Sprintf(`, "psf": {"type":"gaussian","fwhm":%g}}`, fwhm)
	}
	cfg, err := lens.ParseConfig([]byte(js), "")
	if err != nil {
		tb.Fatal(err)
	}
	op, err := lens.NewOperator(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return op
}

// denseOf returns A as a dense matrix.
func denseOf(a LinearOperator) *mat.Dense {
	m, n := a.Rows(), a.Cols()
	d := mat.NewDense(m, n, nil)
	e := make([]float64, n)
	col := make([]float64, m)
	for j := 0; j < n; j++ {
		e[j] = 1
		a.Apply(col, e)
		e[j] = 0
		for i, v := range col {
			d.Set(i, j, v)
		}
	}
	return d
}

// linearGaussian is a linear Gaussian problem y = A x + η with prior N(m, Σx), and its
// exact posterior N(Mu, Cov) (masked pixels dropped).
type linearGaussian struct {
	Prior     *GaussianPrior
	A         LinearOperator
	Y, Noise  []float64
	Mask      []bool
	Truth     []float64
	Mu        []float64
	Cov       *mat.SymDense
	PostSigma []float64 // √diag(Cov)
	eigVal    []float64 // eigen-decomposition of Cov
	eigVec    *mat.Dense
}

// newLinearGaussian draws a truth from the prior (seeded), simulates y with per-pixel noise
// noise·(1 + 0.5·u), u uniform, masks every 13th pixel, and solves for the exact posterior.
func newLinearGaussian(prior *GaussianPrior, a LinearOperator, noise float64, seed uint64) *linearGaussian {
	rng := rand.New(rand.NewPCG(seed, 99))
	n, m := a.Cols(), a.Rows()
	lg := &linearGaussian{Prior: prior, A: a, Truth: make([]float64, n), Y: make([]float64, m), Noise: make([]float64, m), Mask: make([]bool, m)}
	prior.Sample(lg.Truth, rng)
	a.Apply(lg.Y, lg.Truth)
	for i := range lg.Y {
		lg.Noise[i] = noise * (1 + 0.5*rng.Float64())
		lg.Y[i] += lg.Noise[i] * rng.NormFloat64()
		lg.Mask[i] = i%13 != 5
	}
	// Posterior precision P = Σx⁻¹ + Aᵀ Σy⁻¹ A, mean μ = P⁻¹ (Σx⁻¹ m + Aᵀ Σy⁻¹ y).
	var cx mat.Cholesky
	if !cx.Factorize(prior.Covariance()) {
		panic("prior covariance not positive definite")
	}
	var pInv mat.SymDense
	if err := cx.InverseTo(&pInv); err != nil {
		panic(err)
	}
	ad := denseOf(a)
	wy := make([]float64, m)
	for i := range wy {
		if lg.Mask[i] {
			wy[i] = 1 / (lg.Noise[i] * lg.Noise[i])
		}
	}
	prec := mat.NewSymDense(n, nil)
	for r := 0; r < n; r++ {
		for c := r; c < n; c++ {
			s := pInv.At(r, c)
			for i := 0; i < m; i++ {
				if wy[i] != 0 {
					s += ad.At(i, r) * wy[i] * ad.At(i, c)
				}
			}
			prec.SetSym(r, c, s)
		}
	}
	rhs := mat.NewVecDense(n, nil)
	ones := mat.NewVecDense(n, nil)
	for i := 0; i < n; i++ {
		ones.SetVec(i, prior.Mean())
	}
	rhs.MulVec(&pInv, ones)
	for c := 0; c < n; c++ {
		s := 0.0
		for i := 0; i < m; i++ {
			s += ad.At(i, c) * wy[i] * lg.Y[i]
		}
		rhs.SetVec(c, rhs.AtVec(c)+s)
	}
	var es mat.EigenSym
	if !es.Factorize(prec, true) {
		panic("eigen-decomposition failed")
	}
	pv := es.Values(nil)
	var vec mat.Dense
	es.VectorsTo(&vec)
	// Cov = V diag(1/p) Vᵀ.
	lg.eigVal = make([]float64, n)
	for i, p := range pv {
		lg.eigVal[i] = 1 / p
	}
	lg.eigVec = &vec
	lg.Cov = mat.NewSymDense(n, nil)
	for r := 0; r < n; r++ {
		for c := r; c < n; c++ {
			s := 0.0
			for k := 0; k < n; k++ {
				s += vec.At(r, k) * lg.eigVal[k] * vec.At(c, k)
			}
			lg.Cov.SetSym(r, c, s)
		}
	}
	var mu mat.VecDense
	mu.MulVec(lg.Cov, rhs)
	lg.Mu = mu.RawVector().Data
	lg.PostSigma = make([]float64, n)
	for i := range lg.PostSigma {
		lg.PostSigma[i] = math.Sqrt(lg.Cov.At(i, i))
	}
	return lg
}
