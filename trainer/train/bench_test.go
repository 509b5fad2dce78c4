package train

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"scorelens/trainer/kernels"
)

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
			// The reference rate is the best 1024² product measured between the steps (not
			// timed), so that a moment of contention on a shared machine lowers neither
			// rate alone; taking the best makes the ratio conservative.
			mm := kernels.MatmulRate(3)
			b.ResetTimer()
			for b.Loop() {
				step()
				b.StopTimer()
				mm = max(mm, kernels.MatmulRate(1))
				b.StartTimer()
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
