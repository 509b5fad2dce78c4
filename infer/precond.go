package infer

import (
	"math"
	"slices"
)

// symCSR is a sparse symmetric matrix stored in full (both triangles) as compressed sparse
// rows, columns sorted within each row.
type symCSR struct {
	n    int
	ptr  []int
	cols []int32
	vals []float64
	diag []float64
	nnzA int // entries of the operator it was assembled from (normalMatrix)
}

// tripletser is implemented by operators that can list their stored entries
// (*lens.Operator does): the normal matrix is then assembled without probing.
type tripletser interface {
	Triplets(fn func(row, col int, val float64))
}

// normalMatrix assembles H = Aᵀ W A for the diagonal weights w (one per row of A; rows of
// zero weight drop out). With an operator that lists its entries the cost is Σ_rows nnz(row)²;
// otherwise A is probed one column at a time (Cols() applications of A).
func normalMatrix(a LinearOperator, w []float64) *symCSR {
	m, n := a.Rows(), a.Cols()
	// A by rows (CSR) on the rows with non-zero weight.
	rowPtr := make([]int, m+1)
	var cols []int32
	var vals []float64
	if t, ok := a.(tripletser); ok {
		cnt := make([]int, m)
		t.Triplets(func(r, c int, v float64) {
			if w[r] != 0 && v != 0 {
				cnt[r]++
			}
		})
		for r := 0; r < m; r++ {
			rowPtr[r+1] = rowPtr[r] + cnt[r]
		}
		cols = make([]int32, rowPtr[m])
		vals = make([]float64, rowPtr[m])
		next := slices.Clone(rowPtr[:m])
		t.Triplets(func(r, c int, v float64) {
			if w[r] != 0 && v != 0 {
				cols[next[r]], vals[next[r]] = int32(c), v
				next[r]++
			}
		})
	} else {
		// Probe column by column, then transpose the column lists into rows.
		e := make([]float64, n)
		col := make([]float64, m)
		type entry struct {
			r int32
			v float64
		}
		byCol := make([][]entry, n)
		cnt := make([]int, m)
		for c := 0; c < n; c++ {
			e[c] = 1
			a.Apply(col, e)
			e[c] = 0
			for r, v := range col {
				if v != 0 && w[r] != 0 {
					byCol[c] = append(byCol[c], entry{int32(r), v})
					cnt[r]++
				}
			}
		}
		for r := 0; r < m; r++ {
			rowPtr[r+1] = rowPtr[r] + cnt[r]
		}
		cols = make([]int32, rowPtr[m])
		vals = make([]float64, rowPtr[m])
		next := slices.Clone(rowPtr[:m])
		for c, es := range byCol {
			for _, en := range es {
				cols[next[en.r]], vals[next[en.r]] = int32(c), en.v
				next[en.r]++
			}
		}
	}
	// The same by columns.
	colPtr := make([]int, n+1)
	for _, c := range cols {
		colPtr[c+1]++
	}
	for c := 0; c < n; c++ {
		colPtr[c+1] += colPtr[c]
	}
	rowsOf := make([]int32, len(cols))
	valsOf := make([]float64, len(cols))
	next := slices.Clone(colPtr[:n])
	for r := 0; r < m; r++ {
		for p := rowPtr[r]; p < rowPtr[r+1]; p++ {
			c := cols[p]
			rowsOf[next[c]], valsOf[next[c]] = int32(r), vals[p]
			next[c]++
		}
	}
	// H row j = Σ_{r ∋ j} w_r A_rj · (row r of A).
	h := &symCSR{n: n, ptr: make([]int, 1, n+1), diag: make([]float64, n), nnzA: len(cols)}
	acc := make([]float64, n)
	seen := make([]bool, n)
	var touched []int32
	for j := 0; j < n; j++ {
		for p := colPtr[j]; p < colPtr[j+1]; p++ {
			r := rowsOf[p]
			f := w[r] * valsOf[p]
			for q := rowPtr[r]; q < rowPtr[r+1]; q++ {
				k := cols[q]
				if !seen[k] {
					seen[k] = true
					touched = append(touched, k)
				}
				acc[k] += f * vals[q]
			}
		}
		slices.Sort(touched)
		for _, k := range touched {
			h.cols = append(h.cols, k)
			h.vals = append(h.vals, acc[k])
			if int(k) == j {
				h.diag[j] = acc[k]
			}
			acc[k], seen[k] = 0, false
		}
		touched = touched[:0]
		h.ptr = append(h.ptr, len(h.cols))
	}
	return h
}

// icFactor is an incomplete Cholesky factor L (L Lᵀ ≈ diag(base) + s2·H). It is computed on
// its pattern (ptr, cols, vals: rows with the diagonal last), then compacted for
// application: entries |L_rc| < icDrop·L_rr are dropped (L stays lower triangular with a
// positive diagonal, so L Lᵀ stays symmetric positive definite), and applying it costs two
// triangular sweeps over the entries kept.
type icFactor struct {
	ptr  []int // the factor as computed (released by compact; ptr, cols shared)
	cols []int32
	vals []float64

	// The factor as solve applies it: the strictly lower part of L by rows (lo*) and by
	// columns (up*, i.e. Lᵀ by rows), and 1/L_rr. Both sweeps are then gathers (a row's
	// sum, no scattered stores) without divisions.
	loPtr, upPtr   []int32
	loCols, upCols []int32
	loVals, upVals []float64
	inv            []float64
}

// icDrop is the relative size below which compact drops an entry of the factor. On the 64²
// benchmark 0.02 keeps 28% of the entries of the factors a descent uses (356k of 1.26M) for
// 2% more CG iterations at 2000 steps and 24–34% more at 200; with IC(0)/IC(1) factors only,
// 0.01, 0.03 and 0.1 removed 41%, 60% and 79% for 1%, 5% and 50–80% more.
const icDrop = 0.02

// icPattern is the pattern of an incomplete Cholesky factor: rows of sorted columns with
// the diagonal last. It depends only on H and the fill level, so the levels of a
// likelihood share one per fill level.
type icPattern struct {
	ptr  []int
	cols []int32
	// work[r] is the cost of factorising rows 0..r−1 on this pattern, in multiply-adds
	// scanned: row r costs its length plus, for each k < r in it, the length of row k (the
	// merge of rows r and k). work[n] is one factorisation.
	work []int64
}

// newPatternFrom returns the pattern of the given lower rows (sorted, diagonal excluded)
// with the diagonal appended to each, and its factorisation work.
func newPatternFrom(lower [][]int32) *icPattern {
	n := len(lower)
	pt := &icPattern{ptr: make([]int, n+1), work: make([]int64, n+1)}
	for r, row := range lower {
		pt.cols = append(pt.cols, row...)
		pt.cols = append(pt.cols, int32(r)) // the diagonal, last
		pt.ptr[r+1] = len(pt.cols)
		w := int64(len(row) + 1)
		for _, k := range row {
			w += int64(pt.ptr[k+1] - pt.ptr[k])
		}
		pt.work[r+1] = pt.work[r] + w
	}
	return pt
}

// lower returns the pattern's rows without their diagonals (views into cols).
func (pt *icPattern) lower() [][]int32 {
	n := len(pt.ptr) - 1
	rows := make([][]int32, n)
	for r := range rows {
		rows[r] = pt.cols[pt.ptr[r] : pt.ptr[r+1]-1 : pt.ptr[r+1]-1]
	}
	return rows
}

// fillCost is the work of fillOnce on this pattern (entries visited: Σ_k (rows below k
// holding (·, k))², plus the entries themselves), known before doing it.
func (pt *icPattern) fillCost() int64 {
	n := len(pt.ptr) - 1
	cnt := make([]int64, n)
	for r := 0; r < n; r++ {
		for _, k := range pt.cols[pt.ptr[r] : pt.ptr[r+1]-1] {
			cnt[k]++
		}
	}
	w := int64(len(pt.cols))
	for _, c := range cnt {
		w += c * c
	}
	return w
}

// sparsified returns H without the off-diagonal entries |H_ij| < keep·√(H_ii H_jj) (the
// same matrix when keep = 0); see icKeep.
func sparsified(h *symCSR, keep float64) *symCSR {
	if keep == 0 {
		return h
	}
	out := &symCSR{n: h.n, ptr: make([]int, 1, h.n+1), diag: h.diag, nnzA: h.nnzA}
	for r := 0; r < h.n; r++ {
		for p := h.ptr[r]; p < h.ptr[r+1]; p++ {
			c := h.cols[p]
			if int(c) == r || math.Abs(h.vals[p]) >= keep*math.Sqrt(h.diag[r]*h.diag[c]) {
				out.cols = append(out.cols, c)
				out.vals = append(out.vals, h.vals[p])
			}
		}
		out.ptr = append(out.ptr, len(out.cols))
	}
	return out
}

// newICPattern returns the lower triangle of H grown by fill levels of fill-in: fill = 0
// is IC(0), H's own pattern; fill = 1 adds the entries (r, c) of the lower triangle that
// share an earlier neighbour k (an entry of H in row r and in row c), and so on;
// fill = −1 keeps only the diagonal (Jacobi).
func newICPattern(h *symCSR, fill int) *icPattern {
	n := h.n
	lower := make([][]int32, n)
	if fill >= 0 {
		for r := 0; r < n; r++ {
			for _, c := range h.cols[h.ptr[r]:h.ptr[r+1]] {
				if int(c) < r {
					lower[r] = append(lower[r], c)
				}
			}
		}
	}
	for range fill {
		lower = fillOnce(lower)
	}
	return newPatternFrom(lower)
}

// newIC computes the incomplete Cholesky factor of S = diag(base) + s2·H (base nil: I) on
// the pattern of newICPattern(h, fill).
func newIC(h *symCSR, base []float64, s2 float64, fill int) *icFactor {
	f, _ := newICOn(h, newICPattern(h, fill), base, s2, 0)
	return f
}

// newICOn computes the incomplete Cholesky factor of S = diag(base) + s2·H on the pattern
// pt (which it does not modify). If a pivot is not positive it retries with the diagonal
// of S scaled by 1 + shift (Manteuffel's shifted incomplete Cholesky), doubling the shift
// from 1e-3: still a symmetric positive definite preconditioner, only a less accurate one.
// (The IC(2) factors of the 64² benchmark need 8e-3–1.6e-2 where σ > 30 σN, five or six
// factorisations; growing the shift by 4 saved 10% of the set-up but cost the 32² descent
// of TestFullLikelihoodDescentAccuracy 20% more iterations.)
//
// It also returns the work done (pt.work units, failed attempts counted to the row where
// they failed). With budget > 0 it gives up, returning a nil factor, once the next attempt
// could take the work past budget.
func newICOn(h *symCSR, pt *icPattern, base []float64, s2 float64, budget int64) (*icFactor, int64) {
	f := &icFactor{ptr: pt.ptr, cols: pt.cols, vals: make([]float64, len(pt.cols))}
	n := len(pt.ptr) - 1
	var spent int64
	for shift := 0.0; ; shift = math.Max(2*shift, 1e-3) {
		if budget > 0 && spent+pt.work[n] > budget {
			return nil, spent
		}
		done := f.factor(h, base, s2, shift)
		if done == n {
			spent += pt.work[n]
			f.compact()
			return f, spent
		}
		spent += pt.work[done+1]
	}
}

// fillOnce returns the lower-triangular pattern (rows of sorted columns) grown by one level
// of fill: (r, c), c < r, joins when some k < c has (r, k) and (c, k) in the pattern.
func fillOnce(lower [][]int32) [][]int32 {
	n := len(lower)
	above := make([][]int32, n) // above[k]: rows c > k with (c, k) in the pattern
	for r, row := range lower {
		for _, k := range row {
			above[k] = append(above[k], int32(r))
		}
	}
	mark := make([]int, n)
	for i := range mark {
		mark[i] = -1
	}
	out := make([][]int32, n)
	for r, old := range lower {
		row := slices.Clone(old)
		for _, c := range row {
			mark[c] = r
		}
		for _, k := range old {
			for _, c := range above[k] {
				if int(c) < r && mark[c] != r {
					mark[c] = r
					row = append(row, c)
				}
			}
		}
		slices.Sort(row)
		out[r] = row
	}
	return out
}

// factor computes the factor's values for the shift, returning the number of rows done:
// len(base) if it succeeded, else the row whose pivot was not positive.
func (f *icFactor) factor(h *symCSR, base []float64, s2, shift float64) int {
	n := h.n
	pos := make([]int, n) // scatter of the current row's positions, -1 if absent
	for i := range pos {
		pos[i] = -1
	}
	for r := 0; r < n; r++ {
		lo, hi := f.ptr[r], f.ptr[r+1]
		q := hi - 1 // the diagonal
		for p := lo; p < hi; p++ {
			pos[f.cols[p]] = p
			f.vals[p] = 0
		}
		for p := h.ptr[r]; p < h.ptr[r+1]; p++ {
			if c := int(h.cols[p]); c < r && pos[c] >= 0 {
				f.vals[pos[c]] = s2 * h.vals[p]
			}
		}
		d0 := 1.0
		if base != nil {
			d0 = base[r]
		}
		f.vals[q] = (d0 + s2*h.diag[r]) * (1 + shift)
		// Row r of L: for each k < r in the pattern, L_rk = (S_rk − Σ_{j<k} L_rj L_kj)/L_kk.
		for p := lo; p < q; p++ {
			k := int(f.cols[p])
			klo, khi := f.ptr[k], f.ptr[k+1]-1 // row k without its diagonal
			s := f.vals[p]
			for kp := klo; kp < khi; kp++ {
				if rp := pos[f.cols[kp]]; rp >= 0 && rp < p {
					s -= f.vals[rp] * f.vals[kp]
				}
			}
			f.vals[p] = s / f.vals[khi]
		}
		d := f.vals[q]
		for p := lo; p < q; p++ {
			d -= f.vals[p] * f.vals[p]
		}
		if !(d > 0) {
			return r
		}
		f.vals[q] = math.Sqrt(d)
		for p := lo; p < hi; p++ {
			pos[f.cols[p]] = -1
		}
	}
	return n
}

// compact builds the apply layout (lo*, up*, inv) from ptr, cols, vals, dropping the
// entries below icDrop relative to their row's diagonal, and releases the computed factor.
func (f *icFactor) compact() {
	n := len(f.ptr) - 1
	off := f.ptr[n] - n
	f.loPtr, f.upPtr = make([]int32, n+1), make([]int32, n+1)
	f.loCols, f.loVals = make([]int32, 0, off), make([]float64, 0, off)
	f.inv = make([]float64, n)
	for r := 0; r < n; r++ {
		d := f.ptr[r+1] - 1
		for p := f.ptr[r]; p < d; p++ {
			if math.Abs(f.vals[p]) >= icDrop*f.vals[d] {
				f.loCols = append(f.loCols, f.cols[p])
				f.loVals = append(f.loVals, f.vals[p])
				f.upPtr[f.cols[p]+1]++
			}
		}
		f.loPtr[r+1] = int32(len(f.loCols))
		f.inv[r] = 1 / f.vals[d]
	}
	for r := 0; r < n; r++ {
		f.upPtr[r+1] += f.upPtr[r]
	}
	f.upCols, f.upVals = make([]int32, len(f.loCols)), make([]float64, len(f.loCols))
	next := slices.Clone(f.upPtr[:n])
	for r := 0; r < n; r++ {
		for p := f.loPtr[r]; p < f.loPtr[r+1]; p++ {
			c := f.loCols[p]
			f.upCols[next[c]], f.upVals[next[c]] = int32(r), f.loVals[p]
			next[c]++
		}
	}
	f.ptr, f.cols, f.vals = nil, nil, nil
}

// solve sets x = (L Lᵀ)⁻¹ b (x and b may be the same slice).
func (f *icFactor) solve(x, b []float64) {
	n := len(f.inv)
	x, b = x[:n], b[:n]
	inv := f.inv[:n]
	lp, lc, lv := f.loPtr[:n+1], f.loCols, f.loVals
	for r := range n {
		lo, hi := lp[r], lp[r+1]
		cs, vs := lc[lo:hi], lv[lo:hi]
		vs = vs[:len(cs)]
		s := b[r]
		for p, c := range cs {
			s -= vs[p] * x[c]
		}
		x[r] = s * inv[r]
	}
	up, uc, uv := f.upPtr[:n+1], f.upCols, f.upVals
	for r := n - 1; r >= 0; r-- {
		lo, hi := up[r], up[r+1]
		cs, vs := uc[lo:hi], uv[lo:hi]
		vs = vs[:len(cs)]
		s := x[r]
		for p, c := range cs {
			s -= vs[p] * x[c]
		}
		x[r] = s * inv[r]
	}
}

// imageNormalMatrix assembles K = A Aᵀ restricted to the used pixels (use[i] = 1; rows and
// columns of the others are zero), the image-space matrix of the full likelihood's
// covariance Σy + σ² K.
func imageNormalMatrix(a LinearOperator, use []float64) *symCSR {
	ones := make([]float64, a.Cols())
	for i := range ones {
		ones[i] = 1
	}
	var at LinearOperator = transposed{a}
	if t, ok := a.(tripletser); ok {
		at = transposedT{transposed{a}, t}
	}
	k := normalMatrix(at, ones)
	for r := 0; r < k.n; r++ {
		for p := k.ptr[r]; p < k.ptr[r+1]; p++ {
			k.vals[p] *= use[r] * use[k.cols[p]]
		}
		k.diag[r] *= use[r]
	}
	return k
}

// transposed is Aᵀ, for normalMatrix to assemble A Aᵀ; transposedT also lists the
// entries when A does.
type transposed struct{ a LinearOperator }

func (t transposed) Rows() int               { return t.a.Cols() }
func (t transposed) Cols() int               { return t.a.Rows() }
func (t transposed) Apply(dst, x []float64)  { t.a.ApplyT(dst, x) }
func (t transposed) ApplyT(dst, y []float64) { t.a.Apply(dst, y) }
func (t transposed) DiagAAT(dst []float64)   { panic("infer: DiagAAT of a transposed operator") }

type transposedT struct {
	transposed
	t tripletser
}

func (t transposedT) Triplets(fn func(row, col int, val float64)) {
	t.t.Triplets(func(r, c int, v float64) { fn(c, r, v) })
}
