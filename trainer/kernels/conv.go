package kernels

// ConvShape describes a stride-1 2-D convolution of a [B, Cin, H, W] input with a
// [Cout, Cin, K, K] filter and zero padding Pad on every side; the output is
// [B, Cout, H+2·Pad−K+1, W+2·Pad−K+1], with Pad < K. Cross-correlation, as in PyTorch's and
// ONNX's Conv.
type ConvShape struct {
	B, Cin, H, W, Cout, K, Pad int
}

// Out returns the output height and width.
func (s ConvShape) Out() (ho, wo int) { return s.H + 2*s.Pad - s.K + 1, s.W + 2*s.Pad - s.K + 1 }

// FLOPs returns the multiply-adds ×2 of the forward pass (each backward pass costs the same).
func (s ConvShape) FLOPs() float64 {
	ho, wo := s.Out()
	return 2 * float64(s.B) * float64(s.Cout) * float64(s.Cin*s.K*s.K) * float64(ho*wo)
}

func (s ConvShape) direct() bool { return s.K == 1 && s.Pad == 0 }

func (s ConvShape) checkLens(nx, nw, ny int) {
	ho, wo := s.Out()
	if ho <= 0 || wo <= 0 {
		panic("kernels: convolution output is empty")
	}
	if s.Pad >= s.K {
		panic("kernels: convolution padding must be smaller than the kernel")
	}
	if nx != s.B*s.Cin*s.H*s.W {
		panic("kernels: convolution input length mismatch")
	}
	if nw != s.Cout*s.Cin*s.K*s.K {
		panic("kernels: convolution filter length mismatch")
	}
	if ny != s.B*s.Cout*ho*wo {
		panic("kernels: convolution output length mismatch")
	}
}

// A K×K convolution runs as K matrix products, one per filter row ky, over an image
// expanded only along x: xe[c][kx][r][ox] = x[c][r−Pad][ox+kx−Pad] (zero outside), of
// [Cin·K, (H+2·Pad)·Wo]. For filter row ky the patch matrix [Cin·K, Ho·Wo] is then a strided
// view of xe, its rows starting ky·Wo into each plane, so no [Cin·K·K, Ho·Wo] im2col matrix
// is written: a third of the copying, and 5–8% off the forward convolution of the small
// preset's levels (measured against im2col on OpenBLAS in one process).

// expandRows writes xe (length Cin·K·(H+2·Pad)·Wo) from one image x [Cin, H, W].
func expandRows[T Float](xe, x []T, s ConvShape) {
	if x32, ok := any(x).([]float32); ok {
		expandRowsVec(any(xe).([]float32), x32, s)
		return
	}
	_, wo := s.Out()
	k, p := s.K, s.Pad
	hp := s.H + 2*p
	plane := hp * wo
	for c := 0; c < s.Cin; c++ {
		xc := x[c*s.H*s.W : (c+1)*s.H*s.W]
		for kx := 0; kx < k; kx++ {
			pl := xe[(c*k+kx)*plane : (c*k+kx+1)*plane]
			// Output columns ox with 0 <= ox+kx-p < W.
			lo := max(0, p-kx)
			hi := min(wo, s.W+p-kx)
			for r := 0; r < hp; r++ {
				iy := r - p
				row := pl[r*wo : (r+1)*wo]
				if iy < 0 || iy >= s.H || lo >= hi {
					clear(row)
					continue
				}
				clear(row[:lo])
				copy(row[lo:hi], xc[iy*s.W+lo+kx-p:iy*s.W+hi+kx-p])
				clear(row[hi:])
			}
		}
	}
}

// rowsView returns the patch matrix of filter row ky inside xe (row stride (H+2·Pad)·Wo).
func rowsView[T Float](xe []T, ky int, s ConvShape) (b []T, ldb int) {
	_, wo := s.Out()
	return xe[ky*wo:], (s.H + 2*s.Pad) * wo
}

// permuteFilter writes wp[ky][co][ci][kx] = w[co][ci][ky][kx]: the K filter-row matrices
// [Cout, Cin·K] of the row products.
func permuteFilter[T Float](wp, w []T, cout, cin, k int) {
	for co := 0; co < cout; co++ {
		for ci := 0; ci < cin; ci++ {
			for ky := 0; ky < k; ky++ {
				copy(wp[((ky*cout+co)*cin+ci)*k:][:k], w[((co*cin+ci)*k+ky)*k:][:k])
			}
		}
	}
}

// unpermuteFilter is the inverse of permuteFilter.
func unpermuteFilter[T Float](w, wp []T, cout, cin, k int) {
	for co := 0; co < cout; co++ {
		for ci := 0; ci < cin; ci++ {
			for ky := 0; ky < k; ky++ {
				copy(w[((co*cin+ci)*k+ky)*k:][:k], wp[((ky*cout+co)*cin+ci)*k:][:k])
			}
		}
	}
}

// ConvForward computes y = conv(x, w) + bias (bias may be nil).
func ConvForward[T Float](y, x, w, bias []T, s ConvShape) {
	s.checkLens(len(x), len(w), len(y))
	if bias != nil && len(bias) != s.Cout {
		panic("kernels: convolution bias length mismatch")
	}
	ho, wo := s.Out()
	n := ho * wo
	kk := s.Cin * s.K * s.K
	nw := min(s.B, Workers())
	ck := s.Cin * s.K
	var xes [][]T
	var wp []T
	if !s.direct() {
		xes = workerBufs[T](nw, ck*(s.H+2*s.Pad)*wo)
		defer putBufs(xes)
		wp = getBuf[T](len(w))
		defer putBuf(wp)
		permuteFilter(wp, w, s.Cout, s.Cin, s.K)
	}
	parallelFor(s.B, func(wk, b int) {
		xb := x[b*s.Cin*s.H*s.W : (b+1)*s.Cin*s.H*s.W]
		yb := y[b*s.Cout*n : (b+1)*s.Cout*n]
		var beta T
		if bias != nil {
			for o := 0; o < s.Cout; o++ {
				fill(yb[o*n:(o+1)*n], bias[o])
			}
			beta = 1
		}
		if s.direct() {
			Gemm(false, false, s.Cout, n, kk, 1, w, kk, xb, n, beta, yb, n)
			return
		}
		xe := xes[wk]
		expandRows(xe, xb, s)
		for ky := 0; ky < s.K; ky++ {
			pb, ldb := rowsView(xe, ky, s)
			Gemm(false, false, s.Cout, n, ck, 1, wp[ky*s.Cout*ck:(ky+1)*s.Cout*ck], ck, pb, ldb, beta, yb, n)
			beta = 1
		}
	})
}

// ConvBackwardData computes dx = ∂L/∂x from dy = ∂L/∂y (overwriting dx).
//
// For K > 1 it runs as a forward convolution of dy with the filter flipped in space and
// transposed in channels, padded by K−1−Pad: one [Cin, Cout·K·K]·[Cout·K·K, H·W] product per
// image, the forward pass's well-shaped GEMM, instead of the [Cin·K·K, Cout]·[Cout, Ho·Wo]
// product and col2im (whose inner dimension, Cout, is as small as 16 in the small preset).
func ConvBackwardData[T Float](dx, w, dy []T, s ConvShape) {
	s.checkLens(len(dx), len(w), len(dy))
	ho, wo := s.Out()
	n := ho * wo
	kk := s.Cin * s.K * s.K
	if s.direct() {
		parallelFor(s.B, func(_, b int) {
			dxb := dx[b*s.Cin*s.H*s.W : (b+1)*s.Cin*s.H*s.W]
			dyb := dy[b*s.Cout*n : (b+1)*s.Cout*n]
			Gemm(true, false, kk, n, s.Cout, 1, w, kk, dyb, n, 0, dxb, n)
		})
		return
	}
	t := ConvShape{B: s.B, Cin: s.Cout, H: ho, W: wo, Cout: s.Cin, K: s.K, Pad: s.K - 1 - s.Pad}
	wt := getBuf[T](len(w))
	defer putBuf(wt)
	flipTranspose(wt, w, s.Cout, s.Cin, s.K)
	ConvForward(dx, dy, wt, nil, t)
}

// flipTranspose writes wt[ci][co][K−1−ky][K−1−kx] = w[co][ci][ky][kx].
func flipTranspose[T Float](wt, w []T, cout, cin, k int) {
	kk := k * k
	for co := 0; co < cout; co++ {
		for ci := 0; ci < cin; ci++ {
			src := w[(co*cin+ci)*kk : (co*cin+ci+1)*kk]
			dst := wt[(ci*cout+co)*kk : (ci*cout+co+1)*kk]
			for i, v := range src {
				dst[kk-1-i] = v
			}
		}
	}
}

// ConvBackwardFilter computes dw = ∂L/∂w from x and dy (overwriting dw).
//
// The result is bit-for-bit independent of the number of workers and of how the goroutines
// are scheduled (a resumed training run must repeat an unbroken one exactly): each batch
// item's filter gradient goes to its own buffer and the buffers
// are summed in item order.
func ConvBackwardFilter[T Float](dw, x, dy []T, s ConvShape) {
	s.checkLens(len(x), len(dw), len(dy))
	ho, wo := s.Out()
	n := ho * wo
	kk := s.Cin * s.K * s.K
	nw := min(s.B, Workers())
	ck := s.Cin * s.K
	var xes [][]T
	if !s.direct() {
		xes = workerBufs[T](nw, ck*(s.H+2*s.Pad)*wo)
		defer putBufs(xes)
	}
	// Every item's gradient (in the row products' permuted layout for K > 1) gets its own
	// buffer; the buffers are summed in item order into the first and copied out.
	part := getBuf[T](s.B * len(dw))
	defer putBuf(part)
	parallelFor(s.B, func(wk, b int) {
		xb := x[b*s.Cin*s.H*s.W : (b+1)*s.Cin*s.H*s.W]
		dyb := dy[b*s.Cout*n : (b+1)*s.Cout*n]
		acc := part[b*len(dw) : (b+1)*len(dw)]
		if s.direct() {
			Gemm(false, true, s.Cout, kk, n, 1, dyb, n, xb, n, 0, acc, kk)
			return
		}
		xe := xes[wk]
		expandRows(xe, xb, s)
		for ky := 0; ky < s.K; ky++ {
			pb, ldb := rowsView(xe, ky, s)
			Gemm(false, true, s.Cout, ck, n, 1, dyb, n, pb, ldb, 0, acc[ky*s.Cout*ck:(ky+1)*s.Cout*ck], ck)
		}
	})
	sum := part[:len(dw)]
	const chunk = 4096
	parallelFor((len(dw)+chunk-1)/chunk, func(_, c int) {
		lo, hi := c*chunk, min(len(dw), (c+1)*chunk)
		d := sum[lo:hi]
		for b := 1; b < s.B; b++ {
			p := part[b*len(dw)+lo : b*len(dw)+hi]
			for i := range d {
				d[i] += p[i]
			}
		}
	})
	if s.direct() {
		copy(dw, sum)
		return
	}
	unpermuteFilter(dw, sum, s.Cout, s.Cin, s.K)
}

// BiasBackward computes db[c] = Σ_{b,pixels} dy[b,c,·] for a [B, C, N] gradient (overwriting db).
func BiasBackward[T Float](db, dy []T, b, c, n int) {
	if len(db) != c || len(dy) != b*c*n {
		panic("kernels: bias gradient length mismatch")
	}
	parallelFor(c, func(_, o int) { // each channel summed in a fixed order
		var s float64
		for i := 0; i < b; i++ {
			s += sum(dy[(i*c+o)*n : (i*c+o+1)*n])
		}
		db[o] = T(s)
	})
}
