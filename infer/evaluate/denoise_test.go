package evaluate

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// For the exact score of N(0, s² I) and images drawn from it, σ·s + z has variance
// s²/(s² + σ²) per pixel: the expected loss per image is ½·npix·s²/(s² + σ²), the
// denoiser's mean squared error per pixel σ²·s²/(s² + σ²) (the posterior variance), and
// the image mean of its error has variance σ²·s²/(s² + σ²)/npix. The loss must lie within
// 4 of its own standard errors of the expectation; the RMS errors, pooled over 64 images
// of 256 pixels (16,384 and 64 values), within 6% and 30% (about 6 and 2.4 standard
// deviations of their sampling error). The results must not depend on the batch.
func TestDenoisingLossExactGaussian(t *testing.T) {
	const n, s, count = 16, 0.5, 64
	model, _ := whiteModel(t, n, s)
	rng := rand.New(rand.NewPCG(3, 4))
	images := make([][]float64, count)
	for i := range images {
		images[i] = make([]float64, n*n)
		for k := range images[i] {
			images[i][k] = s * rng.NormFloat64()
		}
	}
	got, err := DenoisingLoss(context.Background(), DenoiseOptions{Model: model, Images: images, Levels: 5, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[0].Sigma != 1e-3 || math.Abs(got[4].Sigma-10) > 1e-12 {
		t.Fatalf("levels %+v, want 5 from σ 1e-3 to 10", got)
	}
	for _, l := range got {
		v := s * s / (s*s + l.Sigma*l.Sigma)
		if want := 0.5 * n * n * v; math.Abs(l.Loss-want) > 4*l.LossSE {
			t.Errorf("σ %g: loss %.3f ± %.3f, want %.3f", l.Sigma, l.Loss, l.LossSE, want)
		}
		if want := l.Sigma * math.Sqrt(v); math.Abs(l.RMS/want-1) > 0.06 {
			t.Errorf("σ %g: RMS error %.4g, want %.4g", l.Sigma, l.RMS, want)
		}
		if want := l.Sigma * math.Sqrt(v/(n*n)); math.Abs(l.Offset/want-1) > 0.3 {
			t.Errorf("σ %g: offset %.4g, want %.4g", l.Sigma, l.Offset, want)
		}
		// Unbiased: Σ(D − x) has mean 0 and variance npix·σ²·v per image.
		if want := l.Sigma * math.Sqrt(n*n*v/count); math.Abs(l.FluxBiasSE/want-1) > 0.3 || math.Abs(l.FluxBias) > 4*l.FluxBiasSE {
			t.Errorf("σ %g: flux bias %.4g ± %.4g, want 0 ± %.4g", l.Sigma, l.FluxBias, l.FluxBiasSE, want)
		}
	}
	again, err := DenoisingLoss(context.Background(), DenoiseOptions{Model: model, Images: images, Levels: 5, Seed: 7, Batch: 5})
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], again[i]) {
			t.Errorf("level %d: batch 16 %+v, batch 5 %+v", i, got[i], again[i])
		}
	}
	// A prior of mean μ on images of mean 0 denoises to D = (s²·x̃ + σ²·μ)/(s² + σ²): each pixel
	// gains σ²·μ/(s² + σ²) on average, which FluxBias must find within 4 standard errors.
	const mu = 0.1
	shifted, _ := whiteModelMean(t, n, mu, s)
	biased, err := DenoisingLoss(context.Background(), DenoiseOptions{Model: shifted, Images: images, Levels: 5, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range biased {
		want := n * n * l.Sigma * l.Sigma * mu / (s*s + l.Sigma*l.Sigma)
		if math.Abs(l.FluxBias-want) > 4*l.FluxBiasSE {
			t.Errorf("σ %g, prior mean %g: flux bias %.4g ± %.4g, want %.4g", l.Sigma, mu, l.FluxBias, l.FluxBiasSE, want)
		}
	}
	if d, se := PairedDifference(got[1], again[1]); d != 0 || se != 0 {
		t.Errorf("paired difference of a run with itself: %g ± %g", d, se)
	}
	// A model of the wrong width s' = 0.6 for images of width s = 0.5 loses at σ = 1 ≈ s:
	// σ·s' + z = (1−a)·z − σ·x/(s'²+σ²) with a = σ²/(s'²+σ²), whose variance exceeds the
	// exact s²/(s²+σ²) by 0.0053 per pixel, 0.68 per image. The paired difference must find
	// that within 4 of its standard errors, more than 5 of them from 0, with a standard error
	// under a third of the unpaired one.
	const sw = 0.6
	wrong, _ := whiteModel(t, n, sw)
	bad, err := DenoisingLoss(context.Background(), DenoiseOptions{Model: wrong, Images: images, Levels: 5, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	sg := got[3].Sigma
	a := sg * sg / (sw*sw + sg*sg)
	excess := 0.5 * n * n * ((1-a)*(1-a) + sg*sg*s*s/((sw*sw+sg*sg)*(sw*sw+sg*sg)) - s*s/(s*s+sg*sg))
	if d, se := PairedDifference(got[3], bad[3]); math.Abs(d-excess) > 4*se || !(d > 5*se) || !(se < got[3].LossSE/3) {
		t.Errorf("σ %g: wrong model's loss excess %g ± %g, want %g (unpaired SE %g)", sg, d, se, excess, got[3].LossSE)
	}
	if m := MeanLoss(got); !(m > got[4].Loss && m < got[0].Loss) {
		t.Errorf("mean loss %g outside the levels' range", m)
	}
}

func TestDenoisingLossRefuses(t *testing.T) {
	model, _ := whiteModel(t, 8, 0.5)
	good := [][]float64{make([]float64, 64)}
	for name, tc := range map[string]struct {
		o   DenoiseOptions
		msg string
	}{
		"no model":    {DenoiseOptions{Images: good}, "no score model"},
		"no images":   {DenoiseOptions{Model: model}, "no images"},
		"wrong shape": {DenoiseOptions{Model: model, Images: [][]float64{make([]float64, 63)}}, "image 0 has 63 pixels"},
		"one level":   {DenoiseOptions{Model: model, Images: good, Levels: 1}, "at least 2 levels"},
	} {
		if _, err := DenoisingLoss(context.Background(), tc.o); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.msg)
		}
	}
}
