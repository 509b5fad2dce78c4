// Package kernels holds the CPU kernels of the NCSN++ trainer: 2-D convolution (forward and
// both backward passes, one OpenBLAS product per filter row over an x-expanded image),
// GroupNorm, FIR up/down-sampling, self-attention, dense layers and the small element-wise
// pieces, each with its backward pass.
//
// Every kernel is generic over float32 (training) and float64 (the finite-difference tests).
// Tensors are dense row-major NCHW slices; shapes are passed explicitly and a mismatch is a
// programmer error that panics with a "kernels:" message. Batch items are spread over
// goroutines (one per GOMAXPROCS), each calling single-threaded OpenBLAS; scratch memory
// comes from per-worker workspaces that grow to the largest request and are then reused, so
// a steady training loop allocates nothing in the hot path.
//
// The BLAS is OpenBLAS through a minimal cgo binding of cblas_sgemm/cblas_dgemm
// (libopenblas-dev): one call site, no extra module, and the same library the matrix-product
// reference benchmark uses.
package kernels
