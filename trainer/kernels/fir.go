package kernels

// FIR describes one upfirdn2d resampling of [B·C] planes of H×W pixels, as
// up_or_down_sampling.upfirdn2d of score_sde_pytorch: insert Up−1 zeros after every
// sample, pad Pad0 before and Pad1 after, convolve with the separable kernel
// Gain·outer(k, k)/Σ(k)² (applied as Gain^(1/2)·k/Σk along each axis), keep every Down-th
// sample. Up=2 with pads (2, 1) and gain 4 is upsample_2d; Down=2 with pads (1, 1) and gain 1
// is downsample_2d, both for the 4-tap kernel [1, 3, 3, 1].
type FIR struct {
	Planes, H, W int
	Up, Down     int
	Pad0, Pad1   int
	k1           []float64 // per-axis taps, already flipped, normalised and scaled
}

// NewFIRUp returns the factor-2 FIR upsampler of planes×h×w planes with kernel k.
func NewFIRUp(planes, h, w int, k []float64) FIR {
	p := len(k) - 2
	return newFIR(planes, h, w, 2, 1, (p+1)/2+1, p/2, k, 2)
}

// NewFIRDown returns the factor-2 FIR downsampler of planes×h×w planes with kernel k.
func NewFIRDown(planes, h, w int, k []float64) FIR {
	p := len(k) - 2
	return newFIR(planes, h, w, 1, 2, (p+1)/2, p/2, k, 1)
}

func newFIR(planes, h, w, up, down, p0, p1 int, k []float64, axisGain float64) FIR {
	var s float64
	for _, v := range k {
		s += v
	}
	k1 := make([]float64, len(k))
	for i := range k {
		k1[i] = k[len(k)-1-i] / s * axisGain
	}
	f := FIR{Planes: planes, H: h, W: w, Up: up, Down: down, Pad0: p0, Pad1: p1, k1: k1}
	if ho, wo := f.Out(); ho <= 0 || wo <= 0 {
		panic("kernels: fir output is empty")
	}
	return f
}

func (f FIR) outLen(n int) int { return (n*f.Up+f.Pad0+f.Pad1-len(f.k1))/f.Down + 1 }

// Out returns the output height and width.
func (f FIR) Out() (ho, wo int) { return f.outLen(f.H), f.outLen(f.W) }

// apply1 computes dst[o·ds] = Σ_a k[a]·u[o·Down + a − Pad0], u the zero-stuffed src.
func apply1[T Float](f FIR, dst, src []T, n, ss, ds int) {
	no := f.outLen(n)
	K := len(f.k1)
	for o := 0; o < no; o++ {
		var acc float64
		for a := 0; a < K; a++ {
			q := o*f.Down + a - f.Pad0
			if q < 0 || q >= n*f.Up || q%f.Up != 0 {
				continue
			}
			acc += f.k1[a] * float64(src[(q/f.Up)*ss])
		}
		dst[o*ds] = T(acc)
	}
}

// adjoint1 computes src[i·ss] = Σ over the taps reaching sample i of k[a]·dst[o·ds].
func adjoint1[T Float](f FIR, src, dst []T, n, ss, ds int) {
	for i := 0; i < n; i++ {
		src[i*ss] = 0
	}
	no := f.outLen(n)
	K := len(f.k1)
	for o := 0; o < no; o++ {
		d := float64(dst[o*ds])
		for a := 0; a < K; a++ {
			q := o*f.Down + a - f.Pad0
			if q < 0 || q >= n*f.Up || q%f.Up != 0 {
				continue
			}
			src[(q/f.Up)*ss] += T(f.k1[a] * d)
		}
	}
}

// Forward resamples x [Planes, H, W] into y [Planes, Ho, Wo].
func FIRForward[T Float](f FIR, y, x []T) {
	ho, wo := f.Out()
	if len(x) != f.Planes*f.H*f.W || len(y) != f.Planes*ho*wo {
		panic("kernels: fir length mismatch")
	}
	nw := min(f.Planes, Workers())
	tmp := workerBufs[T](nw, f.H*wo)
	defer putBufs(tmp)
	kind := f.fir4Kind()
	parallelFor(f.Planes, func(w, p int) {
		xp := x[p*f.H*f.W : (p+1)*f.H*f.W]
		yp := y[p*ho*wo : (p+1)*ho*wo]
		t := tmp[w]
		if kind != 0 {
			fir4Plane(f, kind, false, yp, xp, t)
			return
		}
		for r := 0; r < f.H; r++ { // rows: along W
			apply1(f, t[r*wo:], xp[r*f.W:], f.W, 1, 1)
		}
		for c := 0; c < wo; c++ { // columns: along H
			apply1(f, yp[c:], t[c:], f.H, wo, wo)
		}
	})
}

// FIRBackward computes dx = Fᵀ dy, the adjoint of FIRForward (overwriting dx).
func FIRBackward[T Float](f FIR, dx, dy []T) {
	ho, wo := f.Out()
	if len(dx) != f.Planes*f.H*f.W || len(dy) != f.Planes*ho*wo {
		panic("kernels: fir length mismatch")
	}
	nw := min(f.Planes, Workers())
	tmp := workerBufs[T](nw, f.H*wo)
	defer putBufs(tmp)
	kind := f.fir4Kind()
	parallelFor(f.Planes, func(w, p int) {
		dxp := dx[p*f.H*f.W : (p+1)*f.H*f.W]
		dyp := dy[p*ho*wo : (p+1)*ho*wo]
		t := tmp[w]
		if kind != 0 {
			fir4Plane(f, kind, true, dxp, dyp, t)
			return
		}
		for c := 0; c < wo; c++ {
			adjoint1(f, t[c:], dyp[c:], f.H, wo, wo)
		}
		for r := 0; r < f.H; r++ {
			adjoint1(f, dxp[r*f.W:], t[r*wo:], f.W, 1, 1)
		}
	})
}
