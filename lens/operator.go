package lens

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// Operator is the forward operator A of SPEC §4, y = A x, assembled once as a sparse
// matrix in compressed sparse rows together with its transpose (compressed sparse
// columns). Without a PSF, Apply and the exact adjoint ApplyT are allocation-free gathers
// over these arrays; with a PSF they use the factorisation A = K P (sparse pooled ray
// tracing P, then the dense kernel convolution K; ApplyT is Pᵀ after the correlation Kᵀ),
// which is exact to rounding and several times faster. Rows are image pixels j*no+i,
// columns source pixels j*ns+i. An Operator is read-only after construction and safe for
// concurrent use.
type Operator struct {
	src, img Grid
	k        int

	rowPtr []int     // len Rows()+1
	cols   []int32   // len NNZ()
	vals   []float64 // len NNZ()

	colPtr []int     // len Cols()+1
	rows   []int32   // len NNZ()
	tvals  []float64 // len NNZ(); the same values as vals, by column

	diag []float64 // diag(A Aᵀ)

	// With a PSF, Apply and ApplyT use the factorisation A = K P (P the pooled ray
	// tracing, K the convolution), which is several times cheaper than the assembled
	// matrix (for 128² pixels and a 7×7 kernel, ~0.1M + 0.8M multiply-adds against 1.5M
	// scattered ones). The assembled arrays above serve NNZ, Triplets and the AAᵀ
	// diagnostics.
	kern          *Kernel
	pPtr, ptPtr   []int
	pCols, ptRows []int32
	pVals, ptVals []float64
	scratch       sync.Pool // *[]float64 of length Rows()
}

// NewOperator builds A for cfg: rays through the centres of the k×k sub-pixels of every
// image pixel are traced to the source plane (β = θ − α(θ)), the source is interpolated
// bilinearly between its pixel centres (zero beyond the grid), the k² rays of a pixel are
// averaged, and the PSF (if any) is applied at the observed resolution as a zero-padded
// "same" convolution. Reading a deflection map or PSF file can fail; the error names it.
func NewOperator(cfg *Config) (*Operator, error) {
	d, err := cfg.Deflector()
	if err != nil {
		return nil, err
	}
	kern, err := cfg.Kernel()
	if err != nil {
		return nil, err
	}
	return Build(cfg.SourceGrid(), cfg.ImageGrid(), cfg.Supersample(), d, kern), nil
}

// Build assembles the operator for a source grid, an image grid, k rays per pixel side, a
// lens and an optional PSF kernel (nil for none). It panics if k < 1 or a grid is empty.
func Build(src, img Grid, k int, d Deflector, kern *Kernel) *Operator {
	if k < 1 || src.N < 1 || img.N < 1 {
		panic(fmt.Sprintf("lens: Build with k=%d, source %d, image %d pixels", k, src.N, img.N))
	}
	a := &Operator{src: src, img: img, k: k}
	no, ns := img.N, src.Len()
	fine := img.Supersampled(k)

	// Pooled ray tracing, P, one CSR row per image pixel.
	acc := make([]float64, ns)
	seen := make([]bool, ns)
	var touched []int32
	flush := func(rowPtr *[]int, cols *[]int32, vals *[]float64) {
		slices.Sort(touched)
		for _, c := range touched {
			if acc[c] != 0 {
				*cols = append(*cols, c)
				*vals = append(*vals, acc[c])
			}
			acc[c] = 0
			seen[c] = false
		}
		touched = touched[:0]
		*rowPtr = append(*rowPtr, len(*cols))
	}
	pPtr := make([]int, 1, no*no+1)
	var pCols []int32
	var pVals []float64
	w2 := 1 / float64(k*k)
	var idx [4]int32
	var wt [4]float64
	for j := 0; j < no; j++ {
		for i := 0; i < no; i++ {
			for b := 0; b < k; b++ {
				y := fine.Y(j*k + b)
				for c := 0; c < k; c++ {
					x := fine.X(i*k + c)
					bx, by := Trace(d, x, y)
					m := src.bilinearWeights(bx, by, &idx, &wt)
					for t := 0; t < m; t++ {
						col := idx[t]
						if !seen[col] {
							seen[col] = true
							touched = append(touched, col)
						}
						acc[col] += wt[t] * w2
					}
				}
			}
			flush(&pPtr, &pCols, &pVals)
		}
	}
	if kern == nil {
		a.rowPtr, a.cols, a.vals = pPtr, pCols, pVals
	} else {
		a.kern = kern
		a.pPtr, a.pCols, a.pVals = pPtr, pCols, pVals
		a.ptPtr, a.ptRows, a.ptVals = transposeCSR(pPtr, pCols, pVals, ns)
		a.scratch.New = func() any { b := make([]float64, no*no); return &b }
		// A = K P: row (i, j) of A is Σ K[v,u] · row (i−(u−cx), j−(v−cy)) of P.
		ptr := make([]int, 1, no*no+1)
		var cols []int32
		var vals []float64
		cx, cy := kern.W/2, kern.H/2
		for j := 0; j < no; j++ {
			for i := 0; i < no; i++ {
				for v := 0; v < kern.H; v++ {
					jj := j - (v - cy)
					if jj < 0 || jj >= no {
						continue
					}
					for u := 0; u < kern.W; u++ {
						ii := i - (u - cx)
						kv := kern.Data[v*kern.W+u]
						if ii < 0 || ii >= no || kv == 0 {
							continue
						}
						r := jj*no + ii
						for p := pPtr[r]; p < pPtr[r+1]; p++ {
							col := pCols[p]
							if !seen[col] {
								seen[col] = true
								touched = append(touched, col)
							}
							acc[col] += kv * pVals[p]
						}
					}
				}
				flush(&ptr, &cols, &vals)
			}
		}
		a.rowPtr, a.cols, a.vals = ptr, cols, vals
	}
	a.transpose()
	a.diag = make([]float64, a.Rows())
	for r := range a.diag {
		s := 0.0
		for _, v := range a.vals[a.rowPtr[r]:a.rowPtr[r+1]] {
			s += v * v
		}
		a.diag[r] = s
	}
	return a
}

// transpose fills the CSC copy from the CSR arrays.
func (a *Operator) transpose() {
	a.colPtr, a.rows, a.tvals = transposeCSR(a.rowPtr, a.cols, a.vals, a.Cols())
}

// transposeCSR returns the CSR arrays of the transpose of the CSR matrix (ptr, cols,
// vals) with nc columns; row indices come out sorted.
func transposeCSR(ptr []int, cols []int32, vals []float64, nc int) (tptr []int, trows []int32, tvals []float64) {
	tptr = make([]int, nc+1)
	for _, c := range cols {
		tptr[c+1]++
	}
	for c := 0; c < nc; c++ {
		tptr[c+1] += tptr[c]
	}
	next := slices.Clone(tptr[:nc])
	trows = make([]int32, len(cols))
	tvals = make([]float64, len(cols))
	for r := 0; r+1 < len(ptr); r++ {
		for p := ptr[r]; p < ptr[r+1]; p++ {
			c := cols[p]
			q := next[c]
			trows[q] = int32(r)
			tvals[q] = vals[p]
			next[c]++
		}
	}
	return tptr, trows, tvals
}

// spmv sets dst = M x for the CSR matrix (ptr, cols, vals).
func spmv(dst, x []float64, ptr []int, cols []int32, vals []float64) {
	for r := range dst {
		lo, hi := ptr[r], ptr[r+1]
		cs, vs := cols[lo:hi], vals[lo:hi]
		vs = vs[:len(cs)]
		s := 0.0
		for p, c := range cs {
			s += vs[p] * x[c]
		}
		dst[r] = s
	}
}

// Rows returns the number of image pixels, no².
func (a *Operator) Rows() int { return a.img.Len() }

// Cols returns the number of source pixels, ns².
func (a *Operator) Cols() int { return a.src.Len() }

// NNZ returns the number of stored non-zero entries of A.
func (a *Operator) NNZ() int { return len(a.vals) }

// SourceGrid returns the source-plane grid (the columns).
func (a *Operator) SourceGrid() Grid { return a.src }

// ImageGrid returns the observed image grid (the rows).
func (a *Operator) ImageGrid() Grid { return a.img }

// Supersample returns k, the rays per image pixel side.
func (a *Operator) Supersample() int { return a.k }

// Apply sets dst = A x. It panics if len(dst) != Rows() or len(x) != Cols().
func (a *Operator) Apply(dst, x []float64) {
	if len(dst) != a.Rows() || len(x) != a.Cols() {
		panic(fmt.Sprintf("lens: Apply length mismatch: dst %d (want %d), x %d (want %d)", len(dst), a.Rows(), len(x), a.Cols()))
	}
	if a.kern == nil {
		spmv(dst, x, a.rowPtr, a.cols, a.vals)
		return
	}
	buf := a.scratch.Get().(*[]float64)
	spmv(*buf, x, a.pPtr, a.pCols, a.pVals)
	a.kern.Convolve(dst, *buf, a.img.N)
	a.scratch.Put(buf)
}

// ApplyT sets dst = Aᵀ y, the exact adjoint of Apply (the same stored values, summed in
// another order).
// It panics if len(dst) != Cols() or len(y) != Rows().
func (a *Operator) ApplyT(dst, y []float64) {
	if len(dst) != a.Cols() || len(y) != a.Rows() {
		panic(fmt.Sprintf("lens: ApplyT length mismatch: dst %d (want %d), y %d (want %d)", len(dst), a.Cols(), len(y), a.Rows()))
	}
	if a.kern == nil {
		spmv(dst, y, a.colPtr, a.rows, a.tvals)
		return
	}
	buf := a.scratch.Get().(*[]float64)
	a.kern.Correlate(*buf, y, a.img.N)
	spmv(dst, *buf, a.ptPtr, a.ptRows, a.ptVals)
	a.scratch.Put(buf)
}

// DiagAAT sets dst[r] = Σ_c A[r,c]², the diagonal of A Aᵀ. It panics if len(dst) != Rows().
func (a *Operator) DiagAAT(dst []float64) {
	if len(dst) != a.Rows() {
		panic("lens: DiagAAT length mismatch")
	}
	copy(dst, a.diag)
}

// Triplets calls fn for every stored entry in row-major order (rows ascending, columns
// ascending within a row); row and col are 0-based.
func (a *Operator) Triplets(fn func(row, col int, val float64)) {
	for r := 0; r < a.Rows(); r++ {
		for p := a.rowPtr[r]; p < a.rowPtr[r+1]; p++ {
			fn(r, int(a.cols[p]), a.vals[p])
		}
	}
}

// RowSums writes Σ_c A[r,c] into dst: the image of a uniform unit source. Rows whose rays
// all land inside the source grid (and whose PSF footprint does too) have sum 1.
func (a *Operator) RowSums(dst []float64) {
	if len(dst) != a.Rows() {
		panic("lens: RowSums length mismatch")
	}
	for r := range dst {
		s := 0.0
		for _, v := range a.vals[a.rowPtr[r]:a.rowPtr[r+1]] {
			s += v
		}
		dst[r] = s
	}
}

// AATSummary describes how far A Aᵀ is from the identity, the assumption behind the
// paper's convolved likelihood (Adam et al. 2022, appendix A). Statistics are over the
// active rows, the image pixels that see the source (non-zero rows); the others have no
// effect on the reconstruction (the paper's footnote 3).
type AATSummary struct {
	Rows       int // image pixels
	ActiveRows int // rows with at least one non-zero entry

	DiagMin, DiagMedian, DiagMax float64 // of diag(A Aᵀ) over active rows

	// OffDiagFraction is the fraction of the ActiveRows·(ActiveRows−1) off-diagonal
	// entries of A Aᵀ (between active rows) that are non-zero.
	OffDiagFraction float64
	// MaxOffDiagRowSum is max over active rows of Σ_{r'≠r} |(A Aᵀ)[r,r']|.
	MaxOffDiagRowSum float64
	// GershgorinBound is max over active rows of |(A Aᵀ)[r,r] − 1| + Σ_{r'≠r} |(A Aᵀ)[r,r']|,
	// a rigorous upper bound on ‖A Aᵀ − I‖₂ restricted to the active rows.
	GershgorinBound float64
	// NormEstimate is a power-iteration estimate (a lower bound, converged to ~1e-4
	// relative or after Iterations steps) of the spectral norm ‖A Aᵀ − I‖₂ restricted to
	// the active rows.
	NormEstimate float64
	Iterations   int
}

// String formats the summary on one line.
func (s AATSummary) String() string {
	return fmt.Sprintf("AAᵀ: %d/%d active rows; diag min/median/max %.3g/%.3g/%.3g; off-diagonal non-zero fraction %.3g; ‖AAᵀ−I‖₂ ≈ %.3g (Gershgorin bound %.3g)",
		s.ActiveRows, s.Rows, s.DiagMin, s.DiagMedian, s.DiagMax, s.OffDiagFraction, s.NormEstimate, s.GershgorinBound)
}

// AATSummary computes the summary. Its cost is Σ_c nnz(column c)² for the off-diagonal
// counts plus up to 300 pairs of Apply/ApplyT for the norm; it is deterministic.
func (a *Operator) AATSummary() AATSummary {
	nr := a.Rows()
	s := AATSummary{Rows: nr}
	active := make([]bool, nr)
	var d []float64
	for r := 0; r < nr; r++ {
		if a.rowPtr[r+1] > a.rowPtr[r] {
			active[r] = true
			d = append(d, a.diag[r])
		}
	}
	s.ActiveRows = len(d)
	if len(d) == 0 {
		return s
	}
	slices.Sort(d)
	s.DiagMin, s.DiagMax = d[0], d[len(d)-1]
	if len(d)%2 == 1 {
		s.DiagMedian = d[len(d)/2]
	} else {
		s.DiagMedian = (d[len(d)/2-1] + d[len(d)/2]) / 2
	}

	// Rows of A Aᵀ: (A Aᵀ)[r, r'] = Σ_c A[r,c] A[r',c].
	acc := make([]float64, nr)
	var touched []int32
	var offNNZ int
	for r := 0; r < nr; r++ {
		if !active[r] {
			continue
		}
		for p := a.rowPtr[r]; p < a.rowPtr[r+1]; p++ {
			c, v := a.cols[p], a.vals[p]
			for q := a.colPtr[c]; q < a.colPtr[c+1]; q++ {
				r2 := a.rows[q]
				if acc[r2] == 0 {
					touched = append(touched, r2)
				}
				acc[r2] += v * a.tvals[q]
			}
		}
		off := 0.0
		for _, r2 := range touched {
			if int(r2) != r && acc[r2] != 0 {
				offNNZ++
				off += math.Abs(acc[r2])
			}
			acc[r2] = 0
		}
		touched = touched[:0]
		s.MaxOffDiagRowSum = math.Max(s.MaxOffDiagRowSum, off)
		s.GershgorinBound = math.Max(s.GershgorinBound, math.Abs(a.diag[r]-1)+off)
	}
	if s.ActiveRows > 1 {
		s.OffDiagFraction = float64(offNNZ) / (float64(s.ActiveRows) * float64(s.ActiveRows-1))
	}

	// Power iteration on M = P (A Aᵀ − I) P, P the projection on the active rows.
	rng := rand.New(rand.NewPCG(2022, 7))
	v := make([]float64, nr)
	w := make([]float64, nr)
	tmp := make([]float64, a.Cols())
	for r := range v {
		if active[r] {
			v[r] = rng.NormFloat64()
		}
	}
	normalise(v)
	est := 0.0
	for it := 1; it <= 300; it++ {
		a.ApplyT(tmp, v)
		a.Apply(w, tmp)
		for r := range w {
			if active[r] {
				w[r] -= v[r]
			} else {
				w[r] = 0
			}
		}
		nrm := normalise(w)
		v, w = w, v
		s.Iterations = it
		if nrm == 0 {
			est = 0
			break
		}
		if it > 10 && math.Abs(nrm-est) <= 1e-4*nrm {
			est = nrm
			break
		}
		est = nrm
	}
	s.NormEstimate = est
	return s
}

// normalise scales v to unit Euclidean norm and returns its former norm.
func normalise(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	n := math.Sqrt(s)
	if n > 0 {
		for i := range v {
			v[i] /= n
		}
	}
	return n
}
