package infer

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

// LinearOperator is the lensing operator A (image = A·source) as the sampler needs it;
// *lens.Operator implements it. Implementations must be safe for concurrent use: the
// sampler calls them from one goroutine per sample.
type LinearOperator interface {
	Rows() int               // image pixels
	Cols() int               // source pixels
	Apply(dst, x []float64)  // dst = A x
	ApplyT(dst, y []float64) // dst = Aᵀ y, the exact adjoint
	DiagAAT(dst []float64)   // dst = diag(A Aᵀ)
}

// Likelihood names, as --likelihood takes them.
const (
	LikelihoodPaper = "paper" // eq. 19: covariance (Σy + σ(t)² I)
	LikelihoodDiag  = "diag"  // Σy + σ(t)² diag(A Aᵀ)
	LikelihoodFull  = "full"  // eq. 12: Σy + σ(t)² A Aᵀ, by preconditioned CG
)

// LikelihoodNames lists the likelihoods in the order the documentation gives them.
var LikelihoodNames = []string{LikelihoodPaper, LikelihoodDiag, LikelihoodFull}

// CG defaults for the full likelihood.
const (
	DefaultCGTol     = 1e-2
	DefaultCGMaxIter = 200
)

// Likelihood is the convolved likelihood of the paper (appendix A),
// p_t(y | x) ≈ N(y | A x, C(t)), whose score ∇x log p_t(y|x) = Aᵀ C(t)⁻¹ (y − A x) is added
// to the prior score. C(t) depends on the kind:
//
//	paper  Σy + σ(t)² I            (eq. 19; assumes A Aᵀ ≈ I)
//	diag   Σy + σ(t)² diag(A Aᵀ)
//	full   Σy + σ(t)² A Aᵀ         (eq. 12; conjugate gradients preconditioned by an
//	                               incomplete Cholesky factor of C at a nearby σ)
//
// Σy is the diagonal of per-pixel noise variances; masked pixels drop out (their rows of
// A and y are removed). A Likelihood is read-only and safe for concurrent use; per-sample
// state (the CG warm start) lives in a LikelihoodWork.
type Likelihood struct {
	kind    string
	a       LinearOperator
	y       []float64 // data, zero where unused
	noise2  []float64 // σ_i², 1 where unused (never divided into unused residuals)
	use     []float64 // 1 where used, 0 where masked
	d       []float64 // diag(A Aᵀ)
	tol     float64
	maxIter int

	// full only: K = A Aᵀ on the used pixels without its negligible entries (sparsified by
	// icKeep; the whole K, 65 MB at 128² with a PSF, is not kept: CG applies Aᵀ then A),
	// assembled once, and the incomplete Cholesky factors of Σy + σℓ² K at the σ levels
	// σℓ = icRho^ℓ visited so far (built on first use; a factor depends only on its level,
	// so results do not depend on which sample or goroutine built it).
	kf     *symCSR
	stiff  float64 // median over used pixels with diag(K) > 0 of diag(K)/σᵢ²
	itCost int64   // the work of one CG iteration, 2·nnz(A) + 8·rows (multiply-adds)
	icMu   sync.Mutex
	ic     map[int]*icFactor
	icPat  map[int]*icPattern // by fill level
	icCap  int                // the most fill whose pattern is affordable (icMaxWork)
	setup  int64              // preconditioner work done so far: symbolic fill and factorisations
}

// LikelihoodOptions tunes the full likelihood's solver.
type LikelihoodOptions struct {
	// CGTol stops CG once ‖res‖ ≤ CGTol·‖y − A x‖ in the norm weighted by the Jacobi
	// preconditioner (0: DefaultCGTol).
	CGTol float64
	// CGMaxIter bounds the CG iterations per evaluation (0: DefaultCGMaxIter).
	CGMaxIter int
}

// NewLikelihood builds the likelihood of the given kind for data y with per-pixel noise
// standard deviations sigma (same units as y) and an optional mask (nil: every pixel is
// used; true: use). Bad data (NaN or infinite y, σ ≤ 0 on a used pixel, no used pixel)
// are errors naming the pixel; length mismatches panic.
func NewLikelihood(kind string, a LinearOperator, y, sigma []float64, mask []bool, opt LikelihoodOptions) (*Likelihood, error) {
	if !contains(LikelihoodNames, kind) {
		return nil, fmt.Errorf("unknown likelihood %q (want %s)", kind, strings.Join(LikelihoodNames, ", "))
	}
	m := a.Rows()
	if len(y) != m || len(sigma) != m || (mask != nil && len(mask) != m) {
		panic(fmt.Sprintf("infer: NewLikelihood: operator has %d rows, data %d, noise %d, mask %d", m, len(y), len(sigma), len(mask)))
	}
	if opt.CGTol == 0 {
		opt.CGTol = DefaultCGTol
	}
	if opt.CGMaxIter == 0 {
		opt.CGMaxIter = DefaultCGMaxIter
	}
	if !(opt.CGTol > 0 && opt.CGTol < 1) {
		return nil, fmt.Errorf("cg-tol must be in (0, 1), got %g", opt.CGTol)
	}
	if opt.CGMaxIter < 1 {
		return nil, fmt.Errorf("cg max iterations must be positive, got %d", opt.CGMaxIter)
	}
	l := &Likelihood{
		kind: kind, a: a, tol: opt.CGTol, maxIter: opt.CGMaxIter,
		y: make([]float64, m), noise2: make([]float64, m), use: make([]float64, m), d: make([]float64, m),
	}
	a.DiagAAT(l.d)
	used := 0
	for i := 0; i < m; i++ {
		l.noise2[i] = 1
		if mask != nil && !mask[i] {
			continue
		}
		if math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			return nil, fmt.Errorf("data pixel %d (x=%d, y=%d of the flattened image) is %g", i, i%side(m), i/side(m), y[i])
		}
		if !(sigma[i] > 0) || math.IsInf(sigma[i], 0) {
			return nil, fmt.Errorf("noise sigma of pixel %d (x=%d, y=%d) is %g; it must be positive and finite (mask the pixel instead)", i, i%side(m), i/side(m), sigma[i])
		}
		l.y[i], l.noise2[i], l.use[i] = y[i], sigma[i]*sigma[i], 1
		used++
	}
	if used == 0 {
		return nil, fmt.Errorf("the mask leaves no data pixel")
	}
	if kind == LikelihoodFull {
		k := imageNormalMatrix(a, l.use)
		var q []float64
		for i, di := range l.d {
			if l.use[i] != 0 && di > 0 {
				q = append(q, di/l.noise2[i])
			}
		}
		if len(q) > 0 {
			slices.Sort(q)
			l.stiff = q[len(q)/2]
		}
		l.kf = sparsified(k, icKeep)
		l.itCost = int64(2*k.nnzA + 8*m)
		l.ic, l.icPat, l.icCap = map[int]*icFactor{}, map[int]*icPattern{}, icMaxFill
	}
	return l, nil
}

// side returns the side of a square image of m pixels (m itself if not square).
func side(m int) int {
	s := int(math.Round(math.Sqrt(float64(m))))
	if s*s == m {
		return s
	}
	return m
}

// Kind returns the likelihood's name.
func (l *Likelihood) Kind() string { return l.kind }

// Operator returns A.
func (l *Likelihood) Operator() LinearOperator { return l.a }

// LikelihoodWork is one sample's workspace: buffers, and for the full likelihood the CG
// warm start u ≈ C(t)⁻¹(y − A x) with its images Aᵀu and A Aᵀu, carried from step to step.
// It also counts the work done.
type LikelihoodWork struct {
	r, u, v, res, z, p, q []float64 // image space
	mi, cp                []float64 // image space: diag(C)⁻¹ on used pixels, C p
	w, tp                 []float64 // source space
	warm                  bool
	solves                int

	// Evaluations is the number of score evaluations; Iterations the CG iterations they
	// took in total (full only); Unconverged the evaluations that hit the iteration limit
	// or broke down (no descent direction before the tolerance, e.g. a non-finite factor).
	Evaluations, Iterations, Unconverged int
}

// NewWork returns a fresh workspace for one sample.
func (l *Likelihood) NewWork() *LikelihoodWork {
	m, n := l.a.Rows(), l.a.Cols()
	w := &LikelihoodWork{r: make([]float64, m), w: make([]float64, n)}
	if l.kind == LikelihoodFull {
		w.u, w.v, w.res, w.z, w.p, w.q = make([]float64, m), make([]float64, m), make([]float64, m), make([]float64, m), make([]float64, m), make([]float64, m)
		w.mi, w.cp = make([]float64, m), make([]float64, m)
		w.tp = make([]float64, n)
	}
	return w
}

// resync is how often (in solves) the full likelihood recomputes Aᵀu and A Aᵀu exactly
// instead of carrying them along CG's updates, bounding the drift from rounding.
const resync = 64

// AddScore adds ∇x log p_t(y | x) at noise scale sigma = σ(t) to dst (source space).
func (l *Likelihood) AddScore(dst, x []float64, sigma float64, w *LikelihoodWork) {
	n := l.a.Cols()
	if len(dst) != n || len(x) != n {
		panic("infer: Likelihood.AddScore: length mismatch")
	}
	w.Evaluations++
	s2 := sigma * sigma
	r := w.r
	l.a.Apply(r, x)
	switch l.kind {
	case LikelihoodPaper:
		for i := range r {
			r[i] = l.use[i] * (l.y[i] - r[i]) / (l.noise2[i] + s2)
		}
	case LikelihoodDiag:
		for i := range r {
			r[i] = l.use[i] * (l.y[i] - r[i]) / (l.noise2[i] + s2*l.d[i])
		}
	case LikelihoodFull:
		for i := range r {
			r[i] = l.use[i] * (l.y[i] - r[i])
		}
		l.solve(w, s2)
		for i, v := range w.w {
			dst[i] += v
		}
		return
	}
	l.a.ApplyT(w.w, r)
	for i, v := range w.w {
		dst[i] += v
	}
}

// icRho is the ratio between consecutive σ levels of the incomplete Cholesky factors.
// The factor of level ℓ serves every σ within a factor √icRho of σℓ; measured on the
// 64² benchmark problem, spacing the levels by 1.05, 1.41, 2 or 4 changes the CG
// iterations by less than 5%: what limits the preconditioner is the incompleteness of the
// factor, not the distance to the level.
const icRho = 2.0

// icAt returns the preconditioner for the level nearest to s2 = σ², building it on first
// use: an incomplete Cholesky factor of Σy + σℓ²·K (K sparsified by icKeep) whose fill
// grows with the level's stiffness q = σℓ²·median(diag(K)/Σy) (see icFillFor), within
// what its cost allows: the fill is lowered while its pattern is too expensive (see
// pattern), and a level whose factorisations with their retries would take more than
// icMaxTries·icMaxWork CG iterations' work gets the next lower fill (the diagonal in the
// end, which cannot fail). So the set-up of a level is bounded by a fixed number of CG
// iterations whatever the operator: a PSF makes A's rows denser, and K's more so.
func (l *Likelihood) icAt(s2 float64) *icFactor {
	lv := int(math.Round(math.Log(s2) / (2 * math.Log(icRho))))
	l.icMu.Lock()
	defer l.icMu.Unlock()
	f := l.ic[lv]
	if f == nil {
		sl2 := math.Pow(icRho, float64(2*lv))
		for fill := icFillFor(sl2 * l.stiff); f == nil; fill-- {
			pt, budget := l.pattern(fill), icMaxTries*icMaxWork*l.itCost
			fill = min(fill, l.icCap) // the fill of pt: not the same pattern twice
			if fill < 0 {
				budget = 0 // the diagonal: one pass, never fails
			}
			var spent int64
			f, spent = newICOn(l.kf, pt, l.noise2, sl2, budget)
			l.setup += spent
		}
		l.ic[lv] = f
	}
	return f
}

// pattern returns the incomplete Cholesky pattern of kf with the most fill up to fill
// whose symbolic fill and one factorisation each cost at most icMaxWork CG iterations,
// computing it on first use (l.icMu held). A fill level found too expensive is never
// tried again, so the patterns are a function of K alone.
func (l *Likelihood) pattern(fill int) *icPattern {
	fill = min(fill, l.icCap)
	if fill < 0 {
		if l.icPat[-1] == nil {
			l.icPat[-1] = newICPattern(l.kf, -1)
		}
		return l.icPat[-1]
	}
	limit := icMaxWork * l.itCost
	for f := 0; f <= fill; f++ {
		if l.icPat[f] != nil {
			continue
		}
		var pt *icPattern
		if f == 0 {
			pt = newICPattern(l.kf, 0)
		} else if c := l.icPat[f-1].fillCost(); c <= limit {
			l.setup += c
			pt = newPatternFrom(fillOnce(l.icPat[f-1].lower()))
		}
		if pt == nil || pt.work[len(pt.work)-1] > limit {
			l.icCap = f - 1
			return l.pattern(f - 1)
		}
		l.icPat[f] = pt
	}
	return l.icPat[fill]
}

// SetupWork returns the preconditioner's set-up work so far in CG iterations (the symbolic
// fill and the factorisations, failed attempts included, over the cost of one iteration);
// 0 for the other likelihoods.
func (l *Likelihood) SetupWork() float64 {
	if l.kind != LikelihoodFull {
		return 0
	}
	l.icMu.Lock()
	defer l.icMu.Unlock()
	return float64(l.setup) / float64(l.itCost)
}

// icFillFor chooses the preconditioner of a level of stiffness q = σℓ²·median(diag(K)/Σy),
// how far C(t) is from its diagonal (q ≈ 0.24·(σ/σN)² on the 64² benchmark): the diagonal
// alone (Jacobi at σℓ) while σ²K is small against Σy, then incomplete Cholesky with one
// more level of fill for every factor 10 in q (IC(0) from 0.25, IC(1) from 2.5, IC(2) from
// 25). A stiffer C needs more fill for the same iterations: the warm start leaves a
// relative residual of about the predictor's noise increment, sd/σ ≈ 0.1 at 2000 steps and
// 0.3 at 200, which IC(0) took 3 and 12 iterations to reduce below 1e-2 where σ > 100 σN,
// IC(2) (with small entries dropped) about 1 and 3. Chosen on the 64² benchmark as the
// least work per step at 200 and 2000 steps (docs/likelihoods.md).
func icFillFor(q float64) int {
	f := -1
	for lim := icJacobiMax; q >= lim && f < icMaxFill; lim *= 10 {
		f++
	}
	return f
}

const (
	icJacobiMax = 0.25 // stiffness below which the level's preconditioner is its diagonal
	icMaxFill   = 2    // the most fill levels
)

// The cost bounds of the preconditioner's set-up, in units of one CG iteration (itCost,
// against pattern work in multiply-adds scanned). A factorisation, and a level of symbolic
// fill, may cost icMaxWork iterations; all of a level's attempts (the retries with a
// growing shift) icMaxTries times that, after which the level gets the next lower fill.
// On the 64² benchmark one IC(0)/IC(1)/IC(2) factorisation costs 9/49/210 iterations
// without a PSF (all allowed, as before) and 14/107/457 with a Gaussian PSF of FWHM 0.08″
// (after icKeep; 135/770/1558 on the whole K), so IC(1) at most there: with icKeep = 1e-3
// IC(2) took 2.59 and 1.04 CG iterations per step at 200 and 2000 steps (σN = 0.01)
// against IC(1)'s 2.67 and 1.07, for twice the set-up (3.0 s against 1.4 s, loaded
// machine). On the 32² descent of TestFullLikelihoodDescentAccuracy IC(2) costs 533, so
// IC(1) is the most there (5.6 iterations per step instead of 4.4 at σN = 0.01).
const (
	icMaxWork  = 250
	icMaxTries = 4
)

// icKeep is the relative size |K_ij| < icKeep·√(K_ii K_jj) below which an entry of K is
// left out of the matrix that is factorised (CG still applies the exact C). With a PSF,
// A Aᵀ holds many entries from the overlap of the PSF's wings: at 1e-4 the 64² benchmark's
// K keeps 31% of its 718k entries with the PSF (98% of 62k without), and its IC(1) pattern
// costs 7 times less to factorise. 1e-3 kept 24% and 93% but took 13% more iterations on
// the PSF-free benchmark at 2000 steps (1.27 against 1.11); 1e-4 none.
const icKeep = 1e-4

// solve runs preconditioned CG for (Σy + s2·A Aᵀ) u = r on the used pixels, starting from
// the previous solution, and leaves u, w = Aᵀu and v = A Aᵀu in w. The preconditioner is
// the incomplete Cholesky factor of the nearest σ level; the stopping rule is unchanged
// from the Jacobi-preconditioned solver it replaced: the residual in the norm of
// diag(C)⁻¹ below tol times that of r, so the accuracy per --cg-tol is the same.
func (l *Likelihood) solve(w *LikelihoodWork, s2 float64) {
	if !w.warm || w.solves%resync == 0 {
		if w.warm {
			l.a.ApplyT(w.w, w.u)
			l.a.Apply(w.v, w.w)
		} else {
			clear(w.u)
			clear(w.v)
			clear(w.w)
		}
		w.warm = true
	}
	w.solves++
	m := len(w.r)
	res, z, p, q, u, v := w.res[:m], w.z[:m], w.p[:m], w.q[:m], w.u[:m], w.v[:m]
	mi, cp := w.mi[:m], w.cp[:m]
	use, noise2, d := l.use[:m], l.noise2[:m], l.d[:m]
	var rd, bb float64 // ‖res‖² and ‖r‖² in the norm of diag(C)⁻¹
	for i, ri := range w.r {
		mi[i] = use[i] / (noise2[i] + s2*d[i])
		res[i] = ri - use[i]*(noise2[i]*u[i]+s2*v[i])
		rd += res[i] * res[i] * mi[i]
		bb += ri * ri * mi[i]
	}
	stop := l.tol * l.tol * bb
	if rd <= stop || bb == 0 {
		return
	}
	ic := l.icAt(s2)
	rz := l.precondition(ic, z, res)
	copy(p, z)
	for it := 0; ; it++ {
		if rd <= stop {
			break
		}
		if it == l.maxIter {
			w.Unconverged++
			break
		}
		w.Iterations++
		l.a.ApplyT(w.tp, p)
		l.a.Apply(q, w.tp)
		pkp := 0.0 // pᵀ C p, with cp = C p
		for i, pi := range p {
			c := use[i] * (noise2[i]*pi + s2*q[i])
			cp[i] = c
			pkp += pi * c
		}
		if !(pkp > 0) {
			// Not converged (rd > stop), yet no descent direction: a breakdown, such as a
			// preconditioner that overflowed. Stop where we are, and count it.
			w.Unconverged++
			break
		}
		alpha := rz / pkp
		rd = 0
		for i, pi := range p {
			u[i] += alpha * pi
			v[i] += alpha * q[i]
			ri := res[i] - alpha*cp[i]
			res[i] = ri
			rd += ri * ri * mi[i]
		}
		for k, t := range w.tp {
			w.w[k] += alpha * t
		}
		if rd <= stop {
			break
		}
		rzNew := l.precondition(ic, z, res)
		beta := rzNew / rz
		rz = rzNew
		for i, zi := range z {
			p[i] = zi + beta*p[i]
		}
	}
}

// precondition sets z = M⁻¹ res on the used pixels (zero elsewhere) and returns resᵀz.
func (l *Likelihood) precondition(ic *icFactor, z, res []float64) float64 {
	ic.solve(z, res)
	rz := 0.0
	for i := range z {
		z[i] *= l.use[i]
		rz += res[i] * z[i]
	}
	return rz
}
