package kernels

// Fast paths of FIRForward/FIRBackward for 4-tap kernels (the [1,3,3,1] of NCSN++) at
// factor 2: closed-form polyphase loops, branch-free away from the borders, and the pass
// along H done on whole rows (contiguous memory) instead of strided columns. With taps
// k0..k3 (already flipped and scaled, FIR.k1) the operations along one axis are
//
//	down:          dst[o] = k0·s[2o−1] + k1·s[2o] + k2·s[2o+1] + k3·s[2o+2]
//	down adjoint:  s[2m] = k1·d[m] + k3·d[m−1],  s[2m+1] = k0·d[m+1] + k2·d[m]
//	up:            dst[2m] = k0·s[m−1] + k2·s[m],  dst[2m+1] = k1·s[m] + k3·s[m+1]
//	up adjoint:    s[m] = k0·d[2m+2] + k1·d[2m+1] + k2·d[2m] + k3·d[2m−1]
//
// with samples outside the signal taken as zero (upfirdn2d's zero padding).

// fir4Kind is 1 for the 4-tap downsampler, 2 for the 4-tap upsampler, 0 otherwise.
func (f FIR) fir4Kind() int {
	if len(f.k1) != 4 {
		return 0
	}
	switch {
	case f.Up == 1 && f.Down == 2 && f.Pad0 == 1 && f.Pad1 == 1 && f.H%2 == 0 && f.W%2 == 0:
		return 1
	case f.Up == 2 && f.Down == 1 && f.Pad0 == 2 && f.Pad1 == 1:
		return 2
	}
	return 0
}

// term is one weighted input row (or sample) of an output; idx < 0 or ≥ n means zero.
type term struct {
	idx int
	w   float64
}

// combRows writes dst = Σ w·rows[idx] over the terms whose idx lies in [0, n).
func combRows[T Float](dst []T, rows func(int) []T, n int, ts ...term) {
	var r [4][]T
	var w [4]T
	k := 0
	for _, t := range ts {
		if t.idx >= 0 && t.idx < n {
			r[k], w[k] = rows(t.idx)[:len(dst)], T(t.w)
			k++
		}
	}
	switch k {
	case 0:
		clear(dst)
	case 1:
		a, wa := r[0], w[0]
		for i := range dst {
			dst[i] = wa * a[i]
		}
	case 2:
		a, b, wa, wb := r[0], r[1], w[0], w[1]
		for i := range dst {
			dst[i] = wa*a[i] + wb*b[i]
		}
	case 3:
		a, b, c, wa, wb, wc := r[0], r[1], r[2], w[0], w[1], w[2]
		for i := range dst {
			dst[i] = wa*a[i] + wb*b[i] + wc*c[i]
		}
	default:
		a, b, c, d, wa, wb, wc, wd := r[0], r[1], r[2], r[3], w[0], w[1], w[2], w[3]
		for i := range dst {
			dst[i] = wa*a[i] + wb*b[i] + wc*c[i] + wd*d[i]
		}
	}
}

// at returns s[i], or 0 outside s.
func at[T Float](s []T, i int) T {
	if i < 0 || i >= len(s) {
		return 0
	}
	return s[i]
}

// The 1-D operations along W (contiguous samples). k holds the four taps.

func down1[T Float](dst, s []T, k [4]T) {
	no := len(dst)
	for o := 0; o < no; o++ {
		if o == 1 && no > 2 {
			for ; o < no-1; o++ {
				i := 2*o - 1
				q := s[i : i+4 : i+4]
				dst[o] = k[0]*q[0] + k[1]*q[1] + k[2]*q[2] + k[3]*q[3]
			}
		}
		i := 2*o - 1
		dst[o] = k[0]*at(s, i) + k[1]*at(s, i+1) + k[2]*at(s, i+2) + k[3]*at(s, i+3)
	}
}

func downAdj1[T Float](s, d []T, k [4]T) {
	no := len(d)
	for m := 0; m < no; m++ {
		if m == 1 && no > 2 {
			for ; m < no-1; m++ {
				s[2*m] = k[1]*d[m] + k[3]*d[m-1]
				s[2*m+1] = k[0]*d[m+1] + k[2]*d[m]
			}
		}
		s[2*m] = k[1]*d[m] + k[3]*at(d, m-1)
		s[2*m+1] = k[0]*at(d, m+1) + k[2]*d[m]
	}
}

func up1[T Float](dst, s []T, k [4]T) {
	n := len(s)
	for m := 0; m < n; m++ {
		if m == 1 && n > 2 {
			for ; m < n-1; m++ {
				dst[2*m] = k[0]*s[m-1] + k[2]*s[m]
				dst[2*m+1] = k[1]*s[m] + k[3]*s[m+1]
			}
		}
		dst[2*m] = k[0]*at(s, m-1) + k[2]*s[m]
		dst[2*m+1] = k[1]*s[m] + k[3]*at(s, m+1)
	}
}

func upAdj1[T Float](s, d []T, k [4]T) {
	n := len(s)
	for m := 0; m < n; m++ {
		if m == 1 && n > 2 {
			for ; m < n-1; m++ {
				q := d[2*m-1 : 2*m+3 : 2*m+3]
				s[m] = k[0]*q[3] + k[1]*q[2] + k[2]*q[1] + k[3]*q[0]
			}
		}
		s[m] = k[0]*at(d, 2*m+2) + k[1]*at(d, 2*m+1) + k[2]*d[2*m] + k[3]*at(d, 2*m-1)
	}
}

// fir4Plane resamples (or, with adjoint, back-propagates through) one plane. src is
// [hs, ws], dst [hd, wd]; t is scratch of at least hs·wd (forward) or hd·ws (adjoint).
func fir4Plane[T Float](f FIR, kind int, adjoint bool, dst, src, t []T) {
	k := [4]T{T(f.k1[0]), T(f.k1[1]), T(f.k1[2]), T(f.k1[3])}
	kf := f.k1
	ho, wo := f.Out()
	if !adjoint {
		// Along W row by row into t [H, wo], then along H on whole rows into dst [ho, wo].
		for r := 0; r < f.H; r++ {
			if kind == 1 {
				down1(t[r*wo:(r+1)*wo], src[r*f.W:(r+1)*f.W], k)
			} else {
				up1(t[r*wo:(r+1)*wo], src[r*f.W:(r+1)*f.W], k)
			}
		}
		rows := func(i int) []T { return t[i*wo : (i+1)*wo] }
		for o := 0; o < ho; o++ {
			d := dst[o*wo : (o+1)*wo]
			if kind == 1 {
				combRows(d, rows, f.H, term{2*o - 1, kf[0]}, term{2 * o, kf[1]}, term{2*o + 1, kf[2]}, term{2*o + 2, kf[3]})
			} else if m := o / 2; o%2 == 0 {
				combRows(d, rows, f.H, term{m - 1, kf[0]}, term{m, kf[2]})
			} else {
				combRows(d, rows, f.H, term{m, kf[1]}, term{m + 1, kf[3]})
			}
		}
		return
	}
	// Adjoint: src is dy [ho, wo], dst is dx [H, W]. Along H on whole rows into t [H, wo],
	// then along W row by row.
	rows := func(i int) []T { return src[i*wo : (i+1)*wo] }
	for r := 0; r < f.H; r++ {
		d := t[r*wo : (r+1)*wo]
		if kind == 1 {
			if m := r / 2; r%2 == 0 {
				combRows(d, rows, ho, term{m, kf[1]}, term{m - 1, kf[3]})
			} else {
				combRows(d, rows, ho, term{m + 1, kf[0]}, term{m, kf[2]})
			}
		} else {
			combRows(d, rows, ho, term{2*r + 2, kf[0]}, term{2*r + 1, kf[1]}, term{2 * r, kf[2]}, term{2*r - 1, kf[3]})
		}
	}
	for r := 0; r < f.H; r++ {
		if kind == 1 {
			downAdj1(dst[r*f.W:(r+1)*f.W], t[r*wo:(r+1)*wo], k)
		} else {
			upAdj1(dst[r*f.W:(r+1)*f.W], t[r*wo:(r+1)*wo], k)
		}
	}
}
