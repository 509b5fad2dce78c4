package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers is the number of goroutines a kernel spreads its batch over.
func Workers() int { return runtime.GOMAXPROCS(0) }

// parallelFor runs fn(w, i) for i in [0, n) on min(n, Workers()) goroutines; w in
// [0, workers) identifies the goroutine so that it can own a scratch buffer.
func parallelFor(n int, fn func(w, i int)) {
	nw := min(n, Workers())
	if nw <= 1 {
		for i := range n {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(nw)
	for w := range nw {
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}()
	}
	wg.Wait()
}

// pool keeps scratch slices between kernel calls: a request takes the smallest free slice
// that is large enough, or allocates one; a steady loop of the same requests allocates
// nothing after its first pass.
type pool[T Float] struct {
	mu   sync.Mutex
	free [][]T
}

var (
	pool32 pool[float32]
	pool64 pool[float64]
)

func poolFor[T Float]() *pool[T] {
	var z T
	switch any(z).(type) {
	case float32:
		return any(&pool32).(*pool[T])
	case float64:
		return any(&pool64).(*pool[T])
	}
	panic("kernels: unsupported element type")
}

// getBuf returns a scratch slice of length n (contents undefined).
func getBuf[T Float](n int) []T {
	p := poolFor[T]()
	p.mu.Lock()
	best := -1
	for i, b := range p.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(p.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := p.free[best]
		p.free[best] = p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		p.mu.Unlock()
		return b[:n]
	}
	p.mu.Unlock()
	return make([]T, n)
}

// putBuf gives a scratch slice back.
func putBuf[T Float](b []T) {
	p := poolFor[T]()
	p.mu.Lock()
	p.free = append(p.free, b[:cap(b)])
	p.mu.Unlock()
}

// workerBufs returns one scratch slice of length n per worker.
func workerBufs[T Float](nw, n int) [][]T {
	bufs := make([][]T, nw)
	for i := range bufs {
		bufs[i] = getBuf[T](n)
	}
	return bufs
}

func putBufs[T Float](bufs [][]T) {
	for _, b := range bufs {
		putBuf(b)
	}
}
