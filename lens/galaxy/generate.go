package galaxy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// Stream returns the random source of galaxy index i of a set drawn with seed: a PCG
// stream of its own, so a galaxy does not depend on how many others are drawn, in which
// order, or on how many workers draw them.
func Stream(seed uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(i)^0x5ca1ab1e0000))
}

// Generate draws and renders count random galaxies (Random, then Render) as n×n images of
// surface brightness, galaxy i from Stream(seed, i), on up to workers goroutines
// (0 = GOMAXPROCS). The result does not depend on workers.
func Generate(ctx context.Context, seed uint64, count, n, workers int) ([][]float64, []Params, error) {
	if count < 0 || n < 1 {
		return nil, nil, fmt.Errorf("galaxy: cannot generate %d galaxies of %d×%d pixels", count, n, n)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	imgs := make([][]float64, count)
	params := make([]Params, count)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				p := Random(Stream(seed, i))
				img := make([]float64, n*n)
				if err := p.Render(img, n); err != nil {
					errs[w] = fmt.Errorf("galaxy %d: %w", i, err)
					return
				}
				imgs[i], params[i] = img, p
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return imgs, params, nil
}
