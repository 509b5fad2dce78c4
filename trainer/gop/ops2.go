package gop

import (
	"fmt"
	"math"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	K "scorelens/trainer/kernels"
)

// ---- SiLU --------------------------------------------------------------------------

type silu struct{ rank int }

func (s silu) name() string                                        { return fmt.Sprintf("silu(rank=%d)", s.rank) }
func (s silu) dims() ([]int, int)                                  { return []int{s.rank}, s.rank }
func (s silu) diffWRT() []bool                                     { return []bool{true} }
func (s silu) shape(in []tensor.Shape) tensor.Shape                { return in[0].Clone() }
func (s silu) run32(y []float32, in [][]float32, _ []tensor.Shape) { K.SiLU(y, in[0]) }
func (s silu) run64(y []float64, in [][]float64, _ []tensor.Shape) { K.SiLU(y, in[0]) }
func (s silu) grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := apply(siluGrad(s), in[0], dy)
	return G.Nodes{dx}, err
}

// SiLU returns x·sigmoid(x) (swish), elementwise.
func SiLU(x *G.Node) (*G.Node, error) { return apply(silu{x.Dims()}, x) }

type siluGrad struct{ rank int }

func (s siluGrad) name() string       { return fmt.Sprintf("silu_grad(rank=%d)", s.rank) }
func (s siluGrad) dims() ([]int, int) { return []int{s.rank, s.rank}, s.rank }
func (s siluGrad) shape(in []tensor.Shape) tensor.Shape {
	if !in[0].Eq(in[1]) {
		panic("gop: silu_grad shape mismatch")
	}
	return in[0].Clone()
}
func (s siluGrad) run32(y []float32, in [][]float32, _ []tensor.Shape) {
	K.SiLUBackward(y, in[0], in[1])
}
func (s siluGrad) run64(y []float64, in [][]float64, _ []tensor.Shape) {
	K.SiLUBackward(y, in[0], in[1])
}

// ---- FIR resampling ----------------------------------------------------------------

type fir struct {
	up   bool
	taps []float64
}

func (f fir) name() string {
	if f.up {
		return fmt.Sprintf("fir_up(k=%v)", f.taps)
	}
	return fmt.Sprintf("fir_down(k=%v)", f.taps)
}
func (f fir) dims() ([]int, int) { return []int{4}, 4 }
func (f fir) diffWRT() []bool    { return []bool{true} }
func (f fir) plan(x tensor.Shape) K.FIR {
	must4(x, f.name())
	if f.up {
		return K.NewFIRUp(x[0]*x[1], x[2], x[3], f.taps)
	}
	return K.NewFIRDown(x[0]*x[1], x[2], x[3], f.taps)
}
func (f fir) shape(in []tensor.Shape) tensor.Shape {
	ho, wo := f.plan(in[0]).Out()
	return tensor.Shape{in[0][0], in[0][1], ho, wo}
}
func (f fir) run32(y []float32, in [][]float32, sh []tensor.Shape) {
	K.FIRForward(f.plan(sh[0]), y, in[0])
}
func (f fir) run64(y []float64, in [][]float64, sh []tensor.Shape) {
	K.FIRForward(f.plan(sh[0]), y, in[0])
}
func (f fir) grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := apply(firT{f, in[0].Shape().Clone()}, dy)
	return G.Nodes{dx}, err
}

// FIRUp upsamples x [B,C,H,W] by 2 with the FIR kernel taps (upsample_2d of the reference).
func FIRUp(x *G.Node, taps []float64) (*G.Node, error) { return apply(fir{true, taps}, x) }

// FIRDown downsamples x [B,C,H,W] by 2 with the FIR kernel taps (downsample_2d).
func FIRDown(x *G.Node, taps []float64) (*G.Node, error) { return apply(fir{false, taps}, x) }

type firT struct {
	fir
	x tensor.Shape
}

func (f firT) name() string                         { return fmt.Sprintf("%s_T(x=%v)", f.fir.name(), f.x) }
func (f firT) shape(in []tensor.Shape) tensor.Shape { return f.x.Clone() }
func (f firT) run32(y []float32, in [][]float32, _ []tensor.Shape) {
	K.FIRBackward(f.plan(f.x), y, in[0])
}
func (f firT) run64(y []float64, in [][]float64, _ []tensor.Shape) {
	K.FIRBackward(f.plan(f.x), y, in[0])
}

// ---- attention ---------------------------------------------------------------------

type attention struct{}

func (attention) name() string       { return "attention" }
func (attention) dims() ([]int, int) { return []int{4}, 4 }
func (attention) diffWRT() []bool    { return []bool{true} }
func attnShape(x tensor.Shape) K.AttnShape {
	must4(x, "attention")
	if x[1]%3 != 0 {
		panic("gop: attention input channels must be 3·C (queries, keys, values)")
	}
	return K.AttnShape{B: x[0], C: x[1] / 3, N: x[2] * x[3]}
}
func (attention) shape(in []tensor.Shape) tensor.Shape {
	s := attnShape(in[0])
	return tensor.Shape{s.B, s.C, in[0][2], in[0][3]}
}
func (attention) run32(y []float32, in [][]float32, sh []tensor.Shape) {
	K.AttentionForward(y, in[0], attnShape(sh[0]))
}
func (attention) run64(y []float64, in [][]float64, sh []tensor.Shape) {
	K.AttentionForward(y, in[0], attnShape(sh[0]))
}
func (attention) grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	d, err := apply(attentionGrad{}, in[0], dy)
	return G.Nodes{d}, err
}

// Attention returns single-head self-attention over the pixels of qkv [B, 3C, H, W]
// (queries, keys, values stacked on channels), scaled by 1/√C; the result is [B, C, H, W].
func Attention(qkv *G.Node) (*G.Node, error) { return apply(attention{}, qkv) }

type attentionGrad struct{}

func (attentionGrad) name() string                         { return "attention_grad" }
func (attentionGrad) dims() ([]int, int)                   { return []int{4, 4}, 4 }
func (attentionGrad) shape(in []tensor.Shape) tensor.Shape { return in[0].Clone() }
func (attentionGrad) run32(y []float32, in [][]float32, sh []tensor.Shape) {
	K.AttentionBackward(y, in[0], in[1], attnShape(sh[0]))
}
func (attentionGrad) run64(y []float64, in [][]float64, sh []tensor.Shape) {
	K.AttentionBackward(y, in[0], in[1], attnShape(sh[0]))
}

// ---- sums, scales, biases, concatenation ---------------------------------------------

type addScale struct {
	rank int
	s    float64
}

func (a addScale) name() string       { return fmt.Sprintf("add_scale(rank=%d,s=%v)", a.rank, a.s) }
func (a addScale) dims() ([]int, int) { return []int{a.rank, a.rank}, a.rank }
func (a addScale) diffWRT() []bool    { return []bool{true, true} }
func (a addScale) shape(in []tensor.Shape) tensor.Shape {
	if !in[0].Eq(in[1]) {
		panic(fmt.Sprintf("gop: add of shapes %v and %v", in[0], in[1]))
	}
	return in[0].Clone()
}
func (a addScale) run32(y []float32, in [][]float32, _ []tensor.Shape) {
	K.AddScale(y, in[0], in[1], float32(a.s))
}
func (a addScale) run64(y []float64, in [][]float64, _ []tensor.Shape) {
	K.AddScale(y, in[0], in[1], a.s)
}
func (a addScale) grad(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	if a.s == 1 {
		return G.Nodes{dy, dy}, nil
	}
	d, err := apply(scale{a.rank, a.s}, dy)
	if err != nil {
		return nil, err
	}
	d2, err := apply(scale{a.rank, a.s}, dy)
	return G.Nodes{d, d2}, err
}

// AddScale returns s·(a + b) (s = 1/√2 is the reference's skip_rescale).
func AddScale(a, b *G.Node, s float64) (*G.Node, error) { return apply(addScale{a.Dims(), s}, a, b) }

type scale struct {
	rank int
	s    float64
}

func (a scale) name() string                         { return fmt.Sprintf("scale(rank=%d,s=%v)", a.rank, a.s) }
func (a scale) dims() ([]int, int)                   { return []int{a.rank}, a.rank }
func (a scale) diffWRT() []bool                      { return []bool{true} }
func (a scale) shape(in []tensor.Shape) tensor.Shape { return in[0].Clone() }
func (a scale) run32(y []float32, in [][]float32, _ []tensor.Shape) {
	K.ScaleTo(y, in[0], float32(a.s))
}
func (a scale) run64(y []float64, in [][]float64, _ []tensor.Shape) { K.ScaleTo(y, in[0], a.s) }
func (a scale) grad(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	d, err := apply(scale{a.rank, a.s}, dy)
	return G.Nodes{d}, err
}

// Scale returns s·x.
func Scale(x *G.Node, s float64) (*G.Node, error) { return apply(scale{x.Dims(), s}, x) }

type chanBias struct{}

func (chanBias) name() string       { return "channel_bias" }
func (chanBias) dims() ([]int, int) { return []int{4, 2}, 4 }
func (chanBias) diffWRT() []bool    { return []bool{true, true} }
func (chanBias) shape(in []tensor.Shape) tensor.Shape {
	must4(in[0], "channel_bias")
	if len(in[1]) != 2 || in[1][0] != in[0][0] || in[1][1] != in[0][1] {
		panic(fmt.Sprintf("gop: channel_bias %v does not fit %v", in[1], in[0]))
	}
	return in[0].Clone()
}
func chanBiasRun[T K.Float](y []T, in [][]T, sh []tensor.Shape) {
	s := sh[0]
	K.AddChannelBias(y, in[0], in[1], s[0], s[1], s[2]*s[3])
}
func (chanBias) run32(y []float32, in [][]float32, sh []tensor.Shape) { chanBiasRun(y, in, sh) }
func (chanBias) run64(y []float64, in [][]float64, sh []tensor.Shape) { chanBiasRun(y, in, sh) }
func (chanBias) grad(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dd, err := apply(pixelSum{}, dy)
	return G.Nodes{dy, dd}, err
}

// ChannelBias returns h[b,c,:,:] + d[b,c] for h [B,C,H,W], d [B,C] (the time embedding added
// to a residual block).
func ChannelBias(h, d *G.Node) (*G.Node, error) { return apply(chanBias{}, h, d) }

type pixelSum struct{}

func (pixelSum) name() string       { return "pixel_sum" }
func (pixelSum) dims() ([]int, int) { return []int{4}, 2 }
func (pixelSum) shape(in []tensor.Shape) tensor.Shape {
	must4(in[0], "pixel_sum")
	return tensor.Shape{in[0][0], in[0][1]}
}
func pixelSumRun[T K.Float](y []T, in [][]T, sh []tensor.Shape) {
	s := sh[0]
	K.SumPixels(y, in[0], s[0], s[1], s[2]*s[3])
}
func (pixelSum) run32(y []float32, in [][]float32, sh []tensor.Shape) { pixelSumRun(y, in, sh) }
func (pixelSum) run64(y []float64, in [][]float64, sh []tensor.Shape) { pixelSumRun(y, in, sh) }

type concat struct{}

func (concat) name() string       { return "concat_channels" }
func (concat) dims() ([]int, int) { return []int{4, 4}, 4 }
func (concat) diffWRT() []bool    { return []bool{true, true} }
func (concat) shape(in []tensor.Shape) tensor.Shape {
	a, b := in[0], in[1]
	must4(a, "concat")
	must4(b, "concat")
	if a[0] != b[0] || a[2] != b[2] || a[3] != b[3] {
		panic(fmt.Sprintf("gop: concat of %v and %v", a, b))
	}
	return tensor.Shape{a[0], a[1] + b[1], a[2], a[3]}
}
func concatRun[T K.Float](y []T, in [][]T, sh []tensor.Shape) {
	a, b := sh[0], sh[1]
	K.ConcatChannels(y, in[0], in[1], a[0], a[1], b[1], a[2]*a[3])
}
func (concat) run32(y []float32, in [][]float32, sh []tensor.Shape) { concatRun(y, in, sh) }
func (concat) run64(y []float64, in [][]float64, sh []tensor.Shape) { concatRun(y, in, sh) }
func (concat) grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	ca, cb := in[0].Shape()[1], in[1].Shape()[1]
	da, err := apply(sliceC{0, ca}, dy)
	if err != nil {
		return nil, err
	}
	db, err := apply(sliceC{ca, ca + cb}, dy)
	return G.Nodes{da, db}, err
}

// Concat returns the channel concatenation [a, b] of a [B,Ca,H,W] and b [B,Cb,H,W].
func Concat(a, b *G.Node) (*G.Node, error) { return apply(concat{}, a, b) }

type sliceC struct{ lo, hi int }

func (s sliceC) name() string       { return fmt.Sprintf("slice_channels(%d:%d)", s.lo, s.hi) }
func (s sliceC) dims() ([]int, int) { return []int{4}, 4 }
func (s sliceC) shape(in []tensor.Shape) tensor.Shape {
	x := in[0]
	must4(x, "slice_channels")
	return tensor.Shape{x[0], s.hi - s.lo, x[2], x[3]}
}
func sliceRun[T K.Float](s sliceC, y []T, in [][]T, sh []tensor.Shape) {
	x := sh[0]
	K.SliceChannels(y, in[0], x[0], x[1], x[2]*x[3], s.lo, s.hi)
}
func (s sliceC) run32(y []float32, in [][]float32, sh []tensor.Shape) { sliceRun(s, y, in, sh) }
func (s sliceC) run64(y []float64, in [][]float64, sh []tensor.Shape) { sliceRun(s, y, in, sh) }

// ---- time conditioning and output scaling --------------------------------------------

// logSigma maps t [B] to log σ(t) = log σmin + t·log(σmax/σmin) (SPEC §6 VE SDE).
type logSigma struct{ smin, smax float64 }

func (l logSigma) name() string                         { return fmt.Sprintf("log_sigma(%v,%v)", l.smin, l.smax) }
func (l logSigma) dims() ([]int, int)                   { return []int{1}, 1 }
func (l logSigma) shape(in []tensor.Shape) tensor.Shape { return in[0].Clone() }
func logSigmaRun[T K.Float](l logSigma, y []T, in [][]T) {
	a, b := math.Log(l.smin), math.Log(l.smax/l.smin)
	for i, t := range in[0] {
		y[i] = T(a + float64(t)*b)
	}
}
func (l logSigma) run32(y []float32, in [][]float32, _ []tensor.Shape) { logSigmaRun(l, y, in) }
func (l logSigma) run64(y []float64, in [][]float64, _ []tensor.Shape) { logSigmaRun(l, y, in) }

// LogSigma returns log σ(t) of the VE SDE for diffusion times t [B].
func LogSigma(t *G.Node, sigmaMin, sigmaMax float64) (*G.Node, error) {
	return apply(logSigma{sigmaMin, sigmaMax}, t)
}

// fourier maps l [B] and frequencies w [E] to [sin(2π l w), cos(2π l w)] of shape [B, 2E]
// (GaussianFourierProjection; w is fixed, so neither input is differentiated).
type fourier struct{}

func (fourier) name() string       { return "fourier" }
func (fourier) dims() ([]int, int) { return []int{1, 1}, 2 }
func (fourier) shape(in []tensor.Shape) tensor.Shape {
	return tensor.Shape{prod(in[0]), 2 * prod(in[1])}
}
func fourierRun[T K.Float](y []T, in [][]T) {
	l, w := in[0], in[1]
	e := len(w)
	for b, lv := range l {
		for j, wv := range w {
			p := 2 * math.Pi * float64(lv) * float64(wv)
			y[b*2*e+j] = T(math.Sin(p))
			y[b*2*e+e+j] = T(math.Cos(p))
		}
	}
}
func (fourier) run32(y []float32, in [][]float32, _ []tensor.Shape) { fourierRun(y, in) }
func (fourier) run64(y []float64, in [][]float64, _ []tensor.Shape) { fourierRun(y, in) }

// Fourier returns the Gaussian Fourier features of l [B] with frequencies w [E]: [B, 2E].
func Fourier(l, w *G.Node) (*G.Node, error) { return apply(fourier{}, l, w) }

// scaleBatch is y[b] = x[b]·exp(−l[b]) (division of the network output by σ, l = log σ),
// for x of any rank ≥ 2 with the batch first.
type scaleBatch struct{ rank int }

func (s scaleBatch) name() string       { return fmt.Sprintf("div_exp(rank=%d)", s.rank) }
func (s scaleBatch) dims() ([]int, int) { return []int{s.rank, 1}, s.rank }
func (scaleBatch) diffWRT() []bool      { return []bool{true, true} }
func (scaleBatch) shape(in []tensor.Shape) tensor.Shape {
	if len(in[0]) < 2 || prod(in[1]) != in[0][0] {
		panic(fmt.Sprintf("gop: div_exp of %v by %v", in[0], in[1]))
	}
	return in[0].Clone()
}
func scaleBatchRun[T K.Float](y []T, in [][]T, sh []tensor.Shape) {
	K.ScaleBatch(y, in[0], in[1], sh[0][0], prod(sh[0])/sh[0][0])
}
func (s scaleBatch) run32(y []float32, in [][]float32, sh []tensor.Shape) { scaleBatchRun(y, in, sh) }
func (s scaleBatch) run64(y []float64, in [][]float64, sh []tensor.Shape) { scaleBatchRun(y, in, sh) }
func (s scaleBatch) grad(in G.Nodes, out, dy *G.Node) (G.Nodes, error) {
	dx, err := apply(s, dy, in[1])
	if err != nil {
		return nil, err
	}
	dl, err := apply(scaleBatchLog(s), out, dy)
	return G.Nodes{dx, dl}, err
}

// DivExp returns x[b]/exp(l[b]) for x [B,...], l [B]: the score from the network output
// with l = log σ (and, with −l, σ times a tensor).
func DivExp(x, l *G.Node) (*G.Node, error) { return apply(scaleBatch{x.Dims()}, x, l) }

type scaleBatchLog struct{ rank int }

func (s scaleBatchLog) name() string       { return fmt.Sprintf("div_exp_log_grad(rank=%d)", s.rank) }
func (s scaleBatchLog) dims() ([]int, int) { return []int{s.rank, s.rank}, 1 }
func (scaleBatchLog) shape(in []tensor.Shape) tensor.Shape {
	return tensor.Shape{in[0][0]}
}
func scaleBatchLogRun[T K.Float](y []T, in [][]T, sh []tensor.Shape) {
	K.ScaleBatchBackwardLog(y, in[0], in[1], sh[0][0], prod(sh[0])/sh[0][0])
}
func (s scaleBatchLog) run32(y []float32, in [][]float32, sh []tensor.Shape) {
	scaleBatchLogRun(y, in, sh)
}
func (s scaleBatchLog) run64(y []float64, in [][]float64, sh []tensor.Shape) {
	scaleBatchLogRun(y, in, sh)
}

// ---- the DSM loss ------------------------------------------------------------------

// dsm is L = (1/B)·Σ_b ½‖h_b + z_b‖²_W for the network output before division by σ, h =
// σ·s_θ, and the noise z that perturbed the data (eq. 3 of the paper with λ(t) = σ², the
// reference's losses.get_sde_loss_fn with reduce_mean=False). The norm is weighted by W =
// I + β·P, P the orthogonal projection onto images constant on block×block tiles: with
// β = 0 the plain squared norm; with β > 0 errors of the tiles' mean levels cost 1+β times
// more. Any fixed positive-definite W leaves the minimiser, the true score, unchanged.
type dsm struct {
	beta  float64
	block int
}

func (d dsm) name() string {
	if d.beta == 0 {
		return "dsm_loss"
	}
	return fmt.Sprintf("dsm_loss(beta=%v,block=%d)", d.beta, d.block)
}
func (dsm) dims() ([]int, int) { return []int{4, 4}, 0 }
func (dsm) diffWRT() []bool    { return []bool{true, false} }
func (d dsm) shape(in []tensor.Shape) tensor.Shape {
	if !in[0].Eq(in[1]) {
		panic(fmt.Sprintf("gop: dsm_loss of shapes %v and %v", in[0], in[1]))
	}
	if d.beta != 0 && (d.block < 1 || in[0][2]%d.block != 0 || in[0][3]%d.block != 0) {
		panic(fmt.Sprintf("gop: dsm_loss blocks of %d do not tile images of %v", d.block, in[0]))
	}
	return tensor.ScalarShape()
}

// tileSums adds r = h + z over each block×block tile of every [H, W] plane of the
// [B, C, H, W] tensors h and z into sums (planes·(H/block)·(W/block) values, tile-major).
func tileSums[T K.Float](sums []float64, h, z []T, sh tensor.Shape, block int) {
	ph, pw := sh[2], sh[3]
	th, tw := ph/block, pw/block
	clear(sums)
	for p := 0; p < sh[0]*sh[1]; p++ {
		for j := 0; j < ph; j++ {
			row := (p*ph + j) * pw
			tile := (p*th + j/block) * tw
			for i := 0; i < pw; i++ {
				sums[tile+i/block] += float64(h[row+i]) + float64(z[row+i])
			}
		}
	}
}

// tiles is the number of block tiles of the loss weighting (0 without one).
func (d dsm) tiles(sh []tensor.Shape) int {
	if d.beta == 0 {
		return 0
	}
	return sh[0][0] * sh[0][1] * (sh[0][2] / d.block) * (sh[0][3] / d.block)
}

func dsmRun[T K.Float](d dsm, y []T, in [][]T, sh []tensor.Shape) {
	var s float64
	for i, h := range in[0] {
		r := float64(h) + float64(in[1][i])
		s += r * r
	}
	if n := d.tiles(sh); n > 0 {
		sums := make([]float64, n)
		tileSums(sums, in[0], in[1], sh[0], d.block)
		area := float64(d.block * d.block)
		var t float64
		for _, v := range sums {
			t += v * v / area
		}
		s += d.beta * t
	}
	y[0] = T(0.5 * s / float64(sh[0][0]))
}
func (d dsm) run32(y []float32, in [][]float32, sh []tensor.Shape) { dsmRun(d, y, in, sh) }
func (d dsm) run64(y []float64, in [][]float64, sh []tensor.Shape) { dsmRun(d, y, in, sh) }
func (d dsm) grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	g, err := apply(dsmGrad(d), in[0], in[1], dy)
	return G.Nodes{g, nil}, err
}

// DSMLoss returns the denoising score-matching loss of h (σ·score) against the noise z.
func DSMLoss(h, z *G.Node) (*G.Node, error) { return apply(dsm{}, h, z) }

// WeightedDSMLoss returns the DSM loss under the norm I + beta·P, P the projection onto
// images constant on block×block tiles (beta > −1 keeps it positive definite; 0 is DSMLoss).
func WeightedDSMLoss(h, z *G.Node, beta float64, block int) (*G.Node, error) {
	if !(beta > -1) {
		panic(fmt.Sprintf("gop: dsm_loss weight %v ≤ −1 is not positive definite", beta))
	}
	return apply(dsm{beta: beta, block: block}, h, z)
}

// dsmGrad is ∂L/∂h = (dy/B)·W·(h + z).
type dsmGrad dsm

func (d dsmGrad) name() string {
	return "dsm_loss_grad" + strings.TrimPrefix(dsm(d).name(), "dsm_loss")
}
func (dsmGrad) dims() ([]int, int)                   { return []int{4, 4, 0}, 4 }
func (dsmGrad) shape(in []tensor.Shape) tensor.Shape { return in[0].Clone() }
func dsmGradRun[T K.Float](d dsmGrad, y []T, in [][]T, sh []tensor.Shape) {
	g := in[2][0] / T(sh[0][0])
	for i, h := range in[0] {
		y[i] = g * (h + in[1][i])
	}
	n := dsm(d).tiles(sh)
	if n == 0 {
		return
	}
	sums := make([]float64, n)
	tileSums(sums, in[0], in[1], sh[0], d.block)
	ph, pw := sh[0][2], sh[0][3]
	th, tw := ph/d.block, pw/d.block
	c := float64(g) * d.beta / float64(d.block*d.block)
	for p := 0; p < sh[0][0]*sh[0][1]; p++ {
		for j := 0; j < ph; j++ {
			row := (p*ph + j) * pw
			tile := (p*th + j/d.block) * tw
			for i := 0; i < pw; i++ {
				y[row+i] += T(c * sums[tile+i/d.block])
			}
		}
	}
}
func (d dsmGrad) run32(y []float32, in [][]float32, sh []tensor.Shape) { dsmGradRun(d, y, in, sh) }
func (d dsmGrad) run64(y []float64, in [][]float64, sh []tensor.Shape) { dsmGradRun(d, y, in, sh) }

// ---- the offset head: softmax-weighted pixel means and element-wise products ----------

// softPool is y[b,c] = Σ_p w[b,c,p]·x[b,c,p] with w[b,c,·] = softmax over the pixels of
// a[b,c,·]: a mean of x over the pixels that the logits a select.
type softPool struct{}

func (softPool) name() string       { return "soft_pool" }
func (softPool) dims() ([]int, int) { return []int{4, 4}, 2 }
func (softPool) diffWRT() []bool    { return []bool{true, true} }
func (softPool) shape(in []tensor.Shape) tensor.Shape {
	must4(in[0], "soft_pool")
	if !in[0].Eq(in[1]) {
		panic(fmt.Sprintf("gop: soft_pool of logits %v and values %v", in[0], in[1]))
	}
	return tensor.Shape{in[0][0], in[0][1]}
}

func softPoolRun[T K.Float](y []T, in [][]T, sh []tensor.Shape) {
	K.SoftPool(y, in[0], in[1], sh[0][2]*sh[0][3])
}
func (softPool) run32(y []float32, in [][]float32, sh []tensor.Shape) { softPoolRun(y, in, sh) }
func (softPool) run64(y []float64, in [][]float64, sh []tensor.Shape) { softPoolRun(y, in, sh) }
func (softPool) grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	da, err := apply(softPoolGrad{logits: true}, in[0], in[1], dy)
	if err != nil {
		return nil, err
	}
	dx, err := apply(softPoolGrad{}, in[0], in[1], dy)
	return G.Nodes{da, dx}, err
}

// SoftPool returns Σ_p softmax_p(a[b,c,·])·x[b,c,p] for a, x [B,C,H,W]: [B,C].
func SoftPool(a, x *G.Node) (*G.Node, error) { return apply(softPool{}, a, x) }

// softPoolGrad gives ∂/∂x = w·dy or, with logits, ∂/∂a = w·(x − y)·dy.
type softPoolGrad struct{ logits bool }

func (s softPoolGrad) name() string                       { return fmt.Sprintf("soft_pool_grad(logits=%v)", s.logits) }
func (softPoolGrad) dims() ([]int, int)                   { return []int{4, 4, 2}, 4 }
func (softPoolGrad) shape(in []tensor.Shape) tensor.Shape { return in[0].Clone() }
func softPoolGradRun[T K.Float](s softPoolGrad, y []T, in [][]T, sh []tensor.Shape) {
	K.SoftPoolBackward(y, in[0], in[1], in[2], sh[0][2]*sh[0][3], s.logits)
}
func (s softPoolGrad) run32(y []float32, in [][]float32, sh []tensor.Shape) {
	softPoolGradRun(s, y, in, sh)
}
func (s softPoolGrad) run64(y []float64, in [][]float64, sh []tensor.Shape) {
	softPoolGradRun(s, y, in, sh)
}

// mul is the element-wise product of two tensors of one shape.
type mul struct{ rank int }

func (m mul) name() string       { return fmt.Sprintf("mul(rank=%d)", m.rank) }
func (m mul) dims() ([]int, int) { return []int{m.rank, m.rank}, m.rank }
func (m mul) diffWRT() []bool    { return []bool{true, true} }
func (m mul) shape(in []tensor.Shape) tensor.Shape {
	if !in[0].Eq(in[1]) {
		panic(fmt.Sprintf("gop: product of shapes %v and %v", in[0], in[1]))
	}
	return in[0].Clone()
}
func mulRun[T K.Float](y []T, in [][]T) {
	for i := range y {
		y[i] = in[0][i] * in[1][i]
	}
}
func (m mul) run32(y []float32, in [][]float32, _ []tensor.Shape) { mulRun(y, in) }
func (m mul) run64(y []float64, in [][]float64, _ []tensor.Shape) { mulRun(y, in) }
func (m mul) grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	da, err := apply(m, dy, in[1])
	if err != nil {
		return nil, err
	}
	db, err := apply(m, dy, in[0])
	return G.Nodes{da, db}, err
}

// Mul returns a⊙b.
func Mul(a, b *G.Node) (*G.Node, error) { return apply(mul{a.Dims()}, a, b) }

// pixelBias is y[b] = h[b] + p for h [B,C,H,W] and a bias p [C,H,W] shared by the batch.
type pixelBias struct{}

func (pixelBias) name() string       { return "pixel_bias" }
func (pixelBias) dims() ([]int, int) { return []int{4, 3}, 4 }
func (pixelBias) diffWRT() []bool    { return []bool{true, true} }
func (pixelBias) shape(in []tensor.Shape) tensor.Shape {
	must4(in[0], "pixel_bias")
	if !in[1].Eq(in[0][1:]) {
		panic(fmt.Sprintf("gop: pixel_bias %v does not fit %v", in[1], in[0]))
	}
	return in[0].Clone()
}
func pixelBiasRun[T K.Float](y []T, in [][]T, _ []tensor.Shape) {
	n := len(in[1])
	for i := range y {
		y[i] = in[0][i] + in[1][i%n]
	}
}
func (pixelBias) run32(y []float32, in [][]float32, sh []tensor.Shape) { pixelBiasRun(y, in, sh) }
func (pixelBias) run64(y []float64, in [][]float64, sh []tensor.Shape) { pixelBiasRun(y, in, sh) }
func (pixelBias) grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dp, err := apply(batchSum{}, dy)
	return G.Nodes{dy, dp}, err
}

// PixelBias returns h[b,c,i,j] + p[c,i,j].
func PixelBias(h, p *G.Node) (*G.Node, error) { return apply(pixelBias{}, h, p) }

// batchSum is the adjoint of pixelBias: y = Σ_b x[b].
type batchSum struct{}

func (batchSum) name() string       { return "batch_sum" }
func (batchSum) dims() ([]int, int) { return []int{4}, 3 }
func (batchSum) shape(in []tensor.Shape) tensor.Shape {
	must4(in[0], "batch_sum")
	return in[0][1:].Clone()
}
func batchSumRun[T K.Float](y []T, in [][]T, _ []tensor.Shape) {
	clear(y)
	n := len(y)
	for i, v := range in[0] {
		y[i%n] += v
	}
}
func (batchSum) run32(y []float32, in [][]float32, sh []tensor.Shape) { batchSumRun(y, in, sh) }
func (batchSum) run64(y []float64, in [][]float64, sh []tensor.Shape) { batchSumRun(y, in, sh) }
