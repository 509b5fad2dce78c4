package kernels

// ConvShape describes a stride-1 2-D convolution of a [B, Cin, H, W] input with a
// [Cout, Cin, K, K] filter and zero padding Pad on every side; the output is
// [B, Cout, H+2·Pad−K+1, W+2·Pad−K+1]. Cross-correlation, as in PyTorch's and ONNX's Conv.
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

// im2col writes the [Cin·K·K, Ho·Wo] patch matrix of one image.
func im2col[T Float](col, x []T, s ConvShape) {
	if c32, ok := any(col).([]float32); ok {
		im2colVec(c32, any(x).([]float32), s)
		return
	}
	ho, wo := s.Out()
	k, p := s.K, s.Pad
	n := ho * wo
	for c := 0; c < s.Cin; c++ {
		xc := x[c*s.H*s.W : (c+1)*s.H*s.W]
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				row := col[((c*k+ky)*k+kx)*n : ((c*k+ky)*k+kx+1)*n]
				// Output columns ox with 0 <= ox+kx-p < W.
				lo := max(0, p-kx)
				hi := min(wo, s.W+p-kx)
				for oy := 0; oy < ho; oy++ {
					iy := oy + ky - p
					r := row[oy*wo : (oy+1)*wo]
					if iy < 0 || iy >= s.H || lo >= hi {
						clear(r)
						continue
					}
					clear(r[:lo])
					copy(r[lo:hi], xc[iy*s.W+lo+kx-p:iy*s.W+hi+kx-p])
					clear(r[hi:])
				}
			}
		}
	}
}

// col2im adds the patch matrix col back into the image dx (which it does not clear).
func col2im[T Float](dx, col []T, s ConvShape) {
	if d32, ok := any(dx).([]float32); ok {
		col2imVec(d32, any(col).([]float32), s)
		return
	}
	ho, wo := s.Out()
	k, p := s.K, s.Pad
	n := ho * wo
	for c := 0; c < s.Cin; c++ {
		dc := dx[c*s.H*s.W : (c+1)*s.H*s.W]
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				row := col[((c*k+ky)*k+kx)*n : ((c*k+ky)*k+kx+1)*n]
				lo := max(0, p-kx)
				hi := min(wo, s.W+p-kx)
				if lo >= hi {
					continue
				}
				for oy := 0; oy < ho; oy++ {
					iy := oy + ky - p
					if iy < 0 || iy >= s.H {
						continue
					}
					d := dc[iy*s.W+lo+kx-p : iy*s.W+hi+kx-p]
					r := row[oy*wo+lo : oy*wo+hi]
					for i := range d {
						d[i] += r[i]
					}
				}
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
	var cols [][]T
	nw := min(s.B, Workers())
	if !s.direct() {
		cols = workerBufs[T](nw, kk*n)
		defer putBufs(cols)
	}
	parallelFor(s.B, func(wk, b int) {
		xb := x[b*s.Cin*s.H*s.W : (b+1)*s.Cin*s.H*s.W]
		yb := y[b*s.Cout*n : (b+1)*s.Cout*n]
		col := xb
		if !s.direct() {
			col = cols[wk]
			im2col(col, xb, s)
		}
		var beta T
		if bias != nil {
			for o := 0; o < s.Cout; o++ {
				r := yb[o*n : (o+1)*n]
				for i := range r {
					r[i] = bias[o]
				}
			}
			beta = 1
		}
		Gemm(false, false, s.Cout, n, kk, 1, w, kk, col, n, beta, yb, n)
	})
}

// ConvBackwardData computes dx = ∂L/∂x from dy = ∂L/∂y (overwriting dx).
func ConvBackwardData[T Float](dx, w, dy []T, s ConvShape) {
	s.checkLens(len(dx), len(w), len(dy))
	ho, wo := s.Out()
	n := ho * wo
	kk := s.Cin * s.K * s.K
	var cols [][]T
	nw := min(s.B, Workers())
	if !s.direct() {
		cols = workerBufs[T](nw, kk*n)
		defer putBufs(cols)
	}
	parallelFor(s.B, func(wk, b int) {
		dxb := dx[b*s.Cin*s.H*s.W : (b+1)*s.Cin*s.H*s.W]
		dyb := dy[b*s.Cout*n : (b+1)*s.Cout*n]
		if s.direct() {
			Gemm(true, false, kk, n, s.Cout, 1, w, kk, dyb, n, 0, dxb, n)
			return
		}
		col := cols[wk]
		Gemm(true, false, kk, n, s.Cout, 1, w, kk, dyb, n, 0, col, n)
		clear(dxb)
		col2im(dxb, col, s)
	})
}

// ConvBackwardFilter computes dw = ∂L/∂w from x and dy (overwriting dw).
//
// The result is bit-for-bit independent of the number of workers and of how the goroutines
// are scheduled (a resumed training run must repeat an unbroken one exactly): each batch
// item's filter gradient goes to its own buffer (item 0 straight into dw) and the buffers
// are summed in item order.
func ConvBackwardFilter[T Float](dw, x, dy []T, s ConvShape) {
	s.checkLens(len(x), len(dw), len(dy))
	ho, wo := s.Out()
	n := ho * wo
	kk := s.Cin * s.K * s.K
	nw := min(s.B, Workers())
	var cols [][]T
	if !s.direct() {
		cols = workerBufs[T](nw, kk*n)
		defer putBufs(cols)
	}
	var part []T
	if s.B > 1 {
		part = getBuf[T]((s.B - 1) * len(dw))
		defer putBuf(part)
	}
	parallelFor(s.B, func(wk, b int) {
		xb := x[b*s.Cin*s.H*s.W : (b+1)*s.Cin*s.H*s.W]
		dyb := dy[b*s.Cout*n : (b+1)*s.Cout*n]
		col := xb
		if !s.direct() {
			col = cols[wk]
			im2col(col, xb, s)
		}
		acc := dw
		if b > 0 {
			acc = part[(b-1)*len(dw) : b*len(dw)]
		}
		Gemm(false, true, s.Cout, kk, n, 1, dyb, n, col, n, 0, acc, kk)
	})
	if s.B == 1 {
		return
	}
	const chunk = 4096
	parallelFor((len(dw)+chunk-1)/chunk, func(_, c int) {
		lo, hi := c*chunk, min(len(dw), (c+1)*chunk)
		d := dw[lo:hi]
		for b := 1; b < s.B; b++ {
			p := part[(b-1)*len(dw)+lo : (b-1)*len(dw)+hi]
			for i := range d {
				d[i] += p[i]
			}
		}
	})
}

// BiasBackward computes db[c] = Σ_{b,pixels} dy[b,c,·] for a [B, C, N] gradient (overwriting db).
func BiasBackward[T Float](db, dy []T, b, c, n int) {
	if len(db) != c || len(dy) != b*c*n {
		panic("kernels: bias gradient length mismatch")
	}
	parallelFor(c, func(_, o int) { // each channel summed in a fixed order
		var s float64
		for i := 0; i < b; i++ {
			for _, v := range dy[(i*c+o)*n : (i*c+o+1)*n] {
				s += float64(v)
			}
		}
		db[o] = T(s)
	})
}
