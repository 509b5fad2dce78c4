package kernels

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Float is the element type of every kernel.
type Float interface{ ~float32 | ~float64 }

var blasInit sync.Once

// initBLAS makes OpenBLAS single-threaded: the kernels parallelise over the batch themselves.
func initBLAS() { blasInit.Do(func() { C.openblas_set_num_threads(1) }) }

// SetBLASThreads sets the number of threads OpenBLAS uses for one call. The kernels expect 1
// (they run one BLAS call per goroutine); the reference matrix-product benchmark raises it
// to the number of CPUs and restores 1 afterwards.
func SetBLASThreads(n int) {
	initBLAS()
	C.openblas_set_num_threads(C.int(n))
}

func trans(t bool) uint32 {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}

// Gemm computes c = alpha·op(a)·op(b) + beta·c for row-major matrices, op(a) m×k, op(b) k×n.
func Gemm[T Float](ta, tb bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if len(c) < (m-1)*ldc+n {
		panic("kernels: gemm c too short")
	}
	if k == 0 {
		Scale(c[:(m-1)*ldc+n], beta)
		return
	}
	initBLAS()
	switch av := any(a).(type) {
	case []float32:
		bv := any(b).([]float32)
		cv := any(c).([]float32)
		C.cblas_sgemm(C.CblasRowMajor, trans(ta), trans(tb), C.blasint(m), C.blasint(n), C.blasint(k),
			C.float(alpha), (*C.float)(unsafe.Pointer(&av[0])), C.blasint(lda),
			(*C.float)(unsafe.Pointer(&bv[0])), C.blasint(ldb), C.float(beta),
			(*C.float)(unsafe.Pointer(&cv[0])), C.blasint(ldc))
		runtime.KeepAlive(av)
		runtime.KeepAlive(bv)
		runtime.KeepAlive(cv)
	case []float64:
		bv := any(b).([]float64)
		cv := any(c).([]float64)
		C.cblas_dgemm(C.CblasRowMajor, trans(ta), trans(tb), C.blasint(m), C.blasint(n), C.blasint(k),
			C.double(alpha), (*C.double)(unsafe.Pointer(&av[0])), C.blasint(lda),
			(*C.double)(unsafe.Pointer(&bv[0])), C.blasint(ldb), C.double(beta),
			(*C.double)(unsafe.Pointer(&cv[0])), C.blasint(ldc))
		runtime.KeepAlive(av)
		runtime.KeepAlive(bv)
		runtime.KeepAlive(cv)
	default:
		panic("kernels: gemm of an unsupported element type")
	}
}

// Scale multiplies x by s in place.
func Scale[T Float](x []T, s T) {
	if s == 0 {
		clear(x)
		return
	}
	for i := range x {
		x[i] *= s
	}
}
