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
	h := &symCSR{n: n, ptr: make([]int, 1, n+1), diag: make([]float64, n)}
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

// icFactor is an incomplete Cholesky factor L (L Lᵀ ≈ diag(base) + s2·H) on the
// lower-triangular pattern of H (plus the diagonal), stored by rows with the diagonal last
// in each row. Applying it costs two triangular sweeps over its entries.
type icFactor struct {
	ptr  []int
	cols []int32
	vals []float64
}

// newIC computes the IC(0) factor of S = diag(base) + s2·H (base nil: I). If a pivot is
// not positive it retries with the diagonal of S scaled by 1 + shift (Manteuffel's shifted
// incomplete Cholesky), doubling the shift from 1e-3: still a symmetric positive definite
// preconditioner, only a less accurate one.
func newIC(h *symCSR, base []float64, s2 float64) *icFactor {
	n := h.n
	f := &icFactor{ptr: make([]int, n+1)}
	for r := 0; r < n; r++ {
		cnt := 0
		for _, c := range h.cols[h.ptr[r]:h.ptr[r+1]] {
			if int(c) <= r {
				cnt++
			}
		}
		if h.diag[r] == 0 {
			cnt++ // an explicit diagonal for a row H does not touch
			for _, c := range h.cols[h.ptr[r]:h.ptr[r+1]] {
				if int(c) == r {
					cnt--
				}
			}
		}
		f.ptr[r+1] = f.ptr[r] + cnt
	}
	f.cols = make([]int32, f.ptr[n])
	f.vals = make([]float64, f.ptr[n])
	for shift := 0.0; ; shift = math.Max(2*shift, 1e-3) {
		if f.factor(h, base, s2, shift) {
			return f
		}
	}
}

func (f *icFactor) factor(h *symCSR, base []float64, s2, shift float64) bool {
	n := h.n
	pos := make([]int, n) // scatter of the current row's positions, -1 if absent
	for i := range pos {
		pos[i] = -1
	}
	for r := 0; r < n; r++ {
		lo := f.ptr[r]
		q := lo
		for p := h.ptr[r]; p < h.ptr[r+1]; p++ {
			c := int(h.cols[p])
			if c < r {
				f.cols[q], f.vals[q] = int32(c), s2*h.vals[p]
				q++
			}
		}
		d0 := 1.0
		if base != nil {
			d0 = base[r]
		}
		f.cols[q], f.vals[q] = int32(r), (d0+s2*h.diag[r])*(1+shift)
		hi := q + 1
		for p := lo; p < hi; p++ {
			pos[f.cols[p]] = p
		}
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
			for p := lo; p < hi; p++ {
				pos[f.cols[p]] = -1
			}
			return false
		}
		f.vals[q] = math.Sqrt(d)
		for p := lo; p < hi; p++ {
			pos[f.cols[p]] = -1
		}
	}
	return true
}

// solve sets x = (L Lᵀ)⁻¹ b (x and b may be the same slice).
func (f *icFactor) solve(x, b []float64) {
	n := len(f.ptr) - 1
	copy(x, b)
	for r := 0; r < n; r++ {
		lo, d := f.ptr[r], f.ptr[r+1]-1
		s := x[r]
		for p := lo; p < d; p++ {
			s -= f.vals[p] * x[f.cols[p]]
		}
		x[r] = s / f.vals[d]
	}
	for r := n - 1; r >= 0; r-- {
		lo, d := f.ptr[r], f.ptr[r+1]-1
		x[r] /= f.vals[d]
		v := x[r]
		for p := lo; p < d; p++ {
			x[f.cols[p]] -= f.vals[p] * v
		}
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
