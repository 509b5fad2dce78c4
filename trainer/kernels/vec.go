package kernels

/*
#cgo CFLAGS: -O3
#include "vec.h"
*/
import "C"

import "unsafe"

// vecMin is the length below which the Go loops run instead of a cgo call (about 60 ns
// of call overhead against roughly 0.1 ns per element in C).
const vecMin = 256

func fptr(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

// siluVec computes y = x·sigmoid(x) in C (vec.h); the slices must have equal length.
func siluVec(y, x []float32) {
	C.sl_silu(fptr(y), fptr(x), C.long(len(x)))
}

// siluBackwardVec computes dx = dy·s·(1 + x·(1−s)), s = sigmoid(x), in C.
func siluBackwardVec(dx, x, dy []float32) {
	C.sl_silu_bwd(fptr(dx), fptr(x), fptr(dy), C.long(len(x)))
}

// addVec computes y += x in C.
func addVec(y, x []float32) {
	C.sl_add(fptr(y), fptr(x), C.long(len(x)))
}

// sumVec returns Σ x in double, in C.
func sumVec(x []float32) float64 {
	return float64(C.sl_sum(fptr(x), C.long(len(x))))
}

func statsVec(x []float32) (s, s2 float64) {
	var a, b C.double
	C.sl_stats(fptr(x), C.long(len(x)), &a, &b)
	return float64(a), float64(b)
}

func gnSumsVec(dy, x []float32, mean float64) (a, b float64) {
	var sa, sb C.double
	C.sl_gnsums(fptr(dy), fptr(x), C.long(len(x)), C.double(mean), &sa, &sb)
	return float64(sa), float64(sb)
}

func affineVec(y, x []float32, a, b float32) {
	C.sl_affine(fptr(y), fptr(x), C.float(a), C.float(b), C.long(len(x)))
}

func axpbycVec(dx, dy, x []float32, a, b, c float32) {
	C.sl_axpbyc(fptr(dx), fptr(dy), fptr(x), C.float(a), C.float(b), C.float(c), C.long(len(x)))
}

func softmaxRowsVec(p []float32, n int) {
	if len(p) < n*n {
		panic("kernels: softmax length mismatch")
	}
	C.sl_softmax_rows(fptr(p), C.long(n))
}

// expandRowsVec is expandRows (conv.go) for float32 in C.
func expandRowsVec(xe, x []float32, s ConvShape) {
	_, wo := s.Out()
	if len(xe) < s.Cin*s.K*(s.H+2*s.Pad)*wo || len(x) < s.Cin*s.H*s.W {
		panic("kernels: row expansion length mismatch")
	}
	C.sl_expand_rows(fptr(xe), fptr(x), C.long(s.Cin), C.long(s.H), C.long(s.W), C.long(s.K), C.long(s.Pad), C.long(wo))
}
