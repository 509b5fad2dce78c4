package evaluate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat"

	"scorelens/infer"
)

// DenoiseOptions configure DenoisingLoss.
type DenoiseOptions struct {
	Model  *infer.ModelPrior
	Images [][]float64 // held-out images, each one channel of the model's square grid, physical units
	Levels int         // noise levels σ(t) at t = 0, 1/(Levels−1), …, 1 (default 13)
	Batch  int         // images per model call (default 16)
	Seed   uint64      // the noise of image i comes from PCG(Seed, i), whatever the batch
}

// DenoiseLevel is a score model's accuracy as a denoiser of held-out images at one noise
// level. With x̃ = x + σ·z, z ~ N(0, I), and D(x̃) = x̃ + σ²·s(x̃, σ) Tweedie's denoiser,
// D(x̃) − x = σ·(σ·s + z).
type DenoiseLevel struct {
	Sigma float64 // physical units
	// Loss is ½‖σ·s(x̃, σ) + z‖² per image, the denoising score-matching loss the trainer
	// minimises at this level (λ(σ) = σ²), averaged over the images; LossSE is its standard
	// error.
	Loss, LossSE float64
	// Losses is the loss of each image, for paired comparisons of models.
	Losses []float64
	// RMS is the root mean square of D(x̃) − x over all pixels of all images.
	RMS float64
	// Offset is the root mean square over images of the mean of D(x̃) − x over the whole
	// image, Border over its outer four-pixel frame: errors of the overall level (flux, sky)
	// that a sampler carries into its samples.
	Offset, Border float64
	// FluxBias is the mean over images of Σ(D(x̃) − x), the flux the denoiser adds (or, if
	// negative, removes) on average, in model units (the images' peak is about 1); FluxBiasSE
	// is its standard error. Tweedie's denoiser of the true score has none (E[D(x̃)] = E[x]);
	// a network's bias at the levels that set a galaxy's size shows in its prior samples'
	// fluxes and sizes.
	FluxBias, FluxBiasSE float64
}

// DefaultDenoiseLevels is the default number of noise levels of DenoisingLoss.
const DefaultDenoiseLevels = 13

// DenoisingLoss measures o.Model as a denoiser of o.Images at o.Levels noise levels spaced
// evenly in t (geometrically in σ) over the model's σ range. The mean of the levels' Loss
// estimates the trainer's loss (t ~ U(0, 1)) on these images, so held-out images against
// the training curve show over-fitting; two models given the same images and seed see the
// same noise, so their per-level difference is measured far more precisely than either.
func DenoisingLoss(ctx context.Context, o DenoiseOptions) ([]DenoiseLevel, error) {
	if o.Model == nil || o.Model.Score == nil {
		return nil, fmt.Errorf("no score model")
	}
	if len(o.Images) == 0 {
		return nil, fmt.Errorf("no images")
	}
	levels, batch := o.Levels, o.Batch
	if levels == 0 {
		levels = DefaultDenoiseLevels
	}
	if batch == 0 {
		batch = 16
	}
	if levels < 2 || batch < 1 {
		return nil, fmt.Errorf("need at least 2 levels and a batch of 1, got %d and %d", levels, batch)
	}
	c, h, w := o.Model.Score.Shape()
	if c != 1 || h != w {
		return nil, fmt.Errorf("model %s works on %d×%d×%d images; the denoising loss needs one channel of square images", o.Model.Name, c, h, w)
	}
	npix := h * w
	for i, im := range o.Images {
		if len(im) != npix {
			return nil, fmt.Errorf("image %d has %d pixels, the model takes %d×%d", i, len(im), h, w)
		}
	}
	sde, err := modelSDE(o.Model, 0, 0)
	if err != nil {
		return nil, err
	}
	frame := borderMask(h, 4)

	// Per (level, image): loss, sum of squared error, mean error, mean error on the frame.
	type acc struct{ loss, sq, mean, border []float64 }
	res := make([]acc, levels)
	for l := range res {
		res[l] = acc{make([]float64, len(o.Images)), make([]float64, len(o.Images)), make([]float64, len(o.Images)), make([]float64, len(o.Images))}
	}
	// The (image, level) pairs run image-major through the batches, so that only the noise
	// of the images in the current batch is held (image i's for every level, drawn in order
	// from PCG(seed, i)): a few MB, whatever the number of images.
	noise := map[int][]float64{}
	noiseOf := func(i int) []float64 {
		if z, ok := noise[i]; ok {
			return z
		}
		rng := rand.New(rand.NewPCG(o.Seed, uint64(i)))
		z := make([]float64, levels*npix)
		for k := range z {
			z[k] = rng.NormFloat64()
		}
		noise[i] = z
		return z
	}
	x32 := make([]float32, batch*npix)
	s32 := make([]float32, batch*npix)
	t32 := make([]float32, batch)
	pairs := len(o.Images) * levels
	for lo := 0; lo < pairs; lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for i := range noise {
			if i < lo/levels {
				delete(noise, i)
			}
		}
		nb := min(batch, pairs-lo)
		for b := 0; b < nb; b++ {
			i, l := (lo+b)/levels, (lo+b)%levels
			t := float64(l) / float64(levels-1)
			sigma := sde.Sigma(t)
			x, z := o.Images[i], noiseOf(i)[l*npix:(l+1)*npix]
			for k := range x {
				x32[b*npix+k] = float32(x[k] + sigma*z[k])
			}
			t32[b] = float32(t)
		}
		if err := o.Model.Score.Score(ctx, s32[:nb*npix], x32[:nb*npix], t32[:nb]); err != nil {
			return nil, fmt.Errorf("score of images %d–%d: %w", lo/levels, (lo+nb-1)/levels, err)
		}
		for b := 0; b < nb; b++ {
			i, l := (lo+b)/levels, (lo+b)%levels
			sigma := sde.Sigma(float64(l) / float64(levels-1))
			var loss, sum, fsum float64
			var nf int
			for k, x := range o.Images[i] {
				// x̃ was rounded to float32 for the network; the residual uses the noise
				// actually added, (x̃32 − x)/σ.
				zk := (float64(x32[b*npix+k]) - x) / sigma
				r := sigma*float64(s32[b*npix+k]) + zk // (D − x)/σ
				loss += r * r
				sum += r
				if frame[k] {
					fsum += r
					nf++
				}
			}
			res[l].loss[i] = loss / 2
			res[l].sq[i] = sigma * sigma * loss
			res[l].mean[i] = sigma * sum / float64(npix)
			res[l].border[i] = sigma * fsum / float64(nf)
		}
	}
	out := make([]DenoiseLevel, levels)
	n := float64(len(o.Images))
	for l := range out {
		lm, lv := stat.MeanVariance(res[l].loss, nil)
		var sq, m2, b2 float64
		for i := range res[l].sq {
			sq += res[l].sq[i]
			m2 += res[l].mean[i] * res[l].mean[i]
			b2 += res[l].border[i] * res[l].border[i]
		}
		flux := make([]float64, len(res[l].mean))
		for i, m := range res[l].mean {
			flux[i] = m * float64(npix)
		}
		fm, fv := stat.MeanVariance(flux, nil)
		out[l] = DenoiseLevel{Sigma: sde.Sigma(float64(l) / float64(levels-1)), Loss: lm, LossSE: math.Sqrt(lv / n), Losses: res[l].loss,
			RMS: math.Sqrt(sq / (n * float64(npix))), Offset: math.Sqrt(m2 / n), Border: math.Sqrt(b2 / n),
			FluxBias: fm, FluxBiasSE: math.Sqrt(fv / n)}
	}
	return out, nil
}

// MeanLoss is the trapezoid-rule mean of the levels' Loss over t ∈ [0, 1]: the trainer's
// loss (t ~ U(0, 1)) on the images.
func MeanLoss(levels []DenoiseLevel) float64 {
	if len(levels) < 2 {
		panic("evaluate: MeanLoss needs at least two levels")
	}
	var s float64
	for i := 1; i < len(levels); i++ {
		s += (levels[i-1].Loss + levels[i].Loss) / 2
	}
	return s / float64(len(levels)-1)
}

// PairedDifference returns the mean over images of b's loss minus a's at one level, and its
// standard error: the two must come from the same images, levels and seed.
func PairedDifference(a, b DenoiseLevel) (mean, se float64) {
	if len(a.Losses) != len(b.Losses) || a.Sigma != b.Sigma {
		panic("evaluate: PairedDifference of levels of different runs")
	}
	d := make([]float64, len(a.Losses))
	for i := range d {
		d[i] = b.Losses[i] - a.Losses[i]
	}
	m, v := stat.MeanVariance(d, nil)
	return m, math.Sqrt(v / float64(len(d)))
}

// borderMask marks the pixels of an n×n image within width of its edge.
func borderMask(n, width int) []bool {
	m := make([]bool, n*n)
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			m[j*n+i] = i < width || j < width || i >= n-width || j >= n-width
		}
	}
	return m
}
