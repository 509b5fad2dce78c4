package train

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"scorelens/trainer/kernels"
)

// matmulRate returns the GFLOP/s of a 1024×1024 float32 matrix product through the same
// OpenBLAS with one thread per CPU (best of reps).
func matmulRate(reps int) float64 {
	const n = 1024
	r := rand.New(rand.NewPCG(1, 1))
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = r.Float32(), r.Float32()
	}
	kernels.SetBLASThreads(runtime.NumCPU())
	defer kernels.SetBLASThreads(1)
	best := time.Duration(1 << 62)
	for range reps {
		s := time.Now()
		kernels.Gemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
		best = min(best, time.Since(s))
	}
	return 2 * n * n * n / best.Seconds() / 1e9
}

// peakRSS returns the process's peak resident memory (VmHWM) in MiB, or 0 where
// /proc/self/status is unavailable.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// BenchmarkTrainStep times whole training steps (batch drawing, forward, backward, Adam,
// EMA) of the small preset at batch 16 (and tiny), and reports the achieved GFLOP/s
// (analytic count, ncsnpp.Graph.TrainFLOPs), images/s, the 1024² float32 matrix-product
// rate of the same BLAS measured in the same run, their ratio, and the process's peak
// resident memory.
func BenchmarkTrainStep(b *testing.B) {
	for _, tc := range []struct {
		preset string
		batch  int
	}{{"small", 16}, {"tiny", 16}} {
		b.Run(fmt.Sprintf("%s/B%d", tc.preset, tc.batch), func(b *testing.B) {
			size := map[string]int{"small": 64, "tiny": 16}[tc.preset]
			dir := b.TempDir()
			data := writeSet(b, dir, 32, size, 1)
			r, err := setup(Options{Data: data, Out: filepath.Join(dir, "run"), Preset: tc.preset, SigmaMax: 10,
				HParams: HParams{Batch: tc.batch, Warmup: 10}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			r.vm = r.net.Machine()
			defer r.vm.Close()
			step := func() {
				r.fillBatch()
				r.vm.Reset()
				if err := r.vm.RunAll(); err != nil {
					b.Fatal(err)
				}
				r.update()
			}
			step() // allocate the owned buffers
			mm := matmulRate(5)
			b.ResetTimer()
			for b.Loop() {
				step()
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			rate := r.g.TrainFLOPs() * float64(tc.batch) / sec / 1e9
			b.ReportMetric(rate, "GFLOP/s")
			b.ReportMetric(float64(tc.batch)/sec, "img/s")
			b.ReportMetric(mm, "matmul-GFLOP/s")
			b.ReportMetric(rate/mm, "ratio")
			b.ReportMetric(peakRSS(), "peak-RSS-MiB")
		})
	}
}
