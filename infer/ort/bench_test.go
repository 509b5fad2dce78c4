package ort

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"scorelens/export/onnxbuild"
)

// benchNet builds a convolutional stand-in for a score network on 1×n×n images: a 3×3
// convolution to w channels, depth blocks of GroupNormalization, SiLU and a 3×3 w→w
// convolution with a residual connection, and a 3×3 convolution back to one channel.
func benchNet(tb testing.TB, n, w, depth int) string {
	rng := rand.New(rand.NewPCG(3, 3))
	weights := func(k int, fanIn int) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = float32(rng.NormFloat64() / float64(fanIn))
		}
		return v
	}
	b := onnxbuild.New("bench", 21)
	img := []onnxbuild.Dim{onnxbuild.Dynamic("batch"), onnxbuild.Fixed(1), onnxbuild.Fixed(int64(n)), onnxbuild.Fixed(int64(n))}
	b.Input("x", onnxbuild.Float32, img...)
	b.Input("t", onnxbuild.Float32, onnxbuild.Dynamic("batch"))
	pad := onnxbuild.Ints("pads", 1, 1, 1, 1)
	conv := func(in string, cin, cout int) string {
		wt := b.Float32("", []int64{int64(cout), int64(cin), 3, 3}, weights(cout*cin*9, cin*9))
		bias := b.Float32("", []int64{int64(cout)}, make([]float32, cout))
		return b.Op("Conv", []onnxbuild.Attr{pad}, in, wt, bias)
	}
	h := conv("x", 1, w)
	ones := make([]float32, w)
	for i := range ones {
		ones[i] = 1
	}
	for i := 0; i < depth; i++ {
		// Opset 21 GroupNormalization: per-channel scale and bias.
		g := b.Op("GroupNormalization", []onnxbuild.Attr{onnxbuild.Int("num_groups", 8)}, h,
			b.Float32("", []int64{int64(w)}, ones), b.Float32("", []int64{int64(w)}, make([]float32, w)))
		g = b.Op("Mul", nil, g, b.Op("Sigmoid", nil, g))
		h = b.Op("Add", nil, h, conv(g, w, w))
	}
	b.Node("Identity", []string{conv(h, w, 1)}, []string{"score"})
	b.Output("score", onnxbuild.Float32, img...)
	b.Metadata(MetaSigmaMin, "0.01")
	b.Metadata(MetaSigmaMax, "10")
	path := filepath.Join(tb.TempDir(), "bench.onnx")
	if err := b.WriteFile(path); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkScore reports the forward time per image and the achieved GFLOP/s (FLOPs as
// counted by Inspect) of a 64×64 convolutional net with 32 channels and 4 blocks
// (about 0.31 GFLOP per image) at batch sizes 1 and 16, with ONNX Runtime's default
// threads.
func BenchmarkScore(b *testing.B) {
	requireORT(b)
	path := benchNet(b, 64, 32, 4)
	r, err := Inspect(context.Background(), path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if len(r.Uncounted) > 0 {
		b.Fatalf("uncounted operators %v", r.Uncounted)
	}
	m, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			x := make([]float32, batch*64*64)
			for i := range x {
				x[i] = float32(i%17) / 17
			}
			dst := make([]float32, len(x))
			t := make([]float32, batch)
			for i := range t {
				t[i] = 0.5
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := m.Score(ctx, dst, x, t); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds()
			images := float64(b.N * batch)
			b.ReportMetric(sec/images*1e3, "ms/image")
			b.ReportMetric(float64(r.FLOPs)*images/sec/1e9, "GFLOP/s")
		})
	}
}
