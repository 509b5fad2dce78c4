package gop

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	K "scorelens/trainer/kernels"
)

func must4(s tensor.Shape, what string) {
	if len(s) != 4 {
		panic(fmt.Sprintf("gop: %s wants a 4-d input, got %v", what, s))
	}
}

func prod(s tensor.Shape) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// ---- convolution -------------------------------------------------------------------

type conv struct{ k, pad int }

func (c conv) name() string       { return fmt.Sprintf("conv2d(k=%d,pad=%d)", c.k, c.pad) }
func (c conv) dims() ([]int, int) { return []int{4, 4, 1}, 4 }
func (c conv) diffWRT() []bool    { return []bool{true, true, true} }
func (c conv) cs(x, w tensor.Shape) K.ConvShape {
	must4(x, "conv2d")
	must4(w, "conv2d filter")
	if w[1] != x[1] || w[2] != c.k || w[3] != c.k {
		panic(fmt.Sprintf("gop: conv2d filter %v does not fit input %v", w, x))
	}
	return K.ConvShape{B: x[0], Cin: x[1], H: x[2], W: x[3], Cout: w[0], K: c.k, Pad: c.pad}
}
func (c conv) shape(in []tensor.Shape) tensor.Shape {
	s := c.cs(in[0], in[1])
	if prod(in[2]) != s.Cout {
		panic("gop: conv2d bias length mismatch")
	}
	ho, wo := s.Out()
	return tensor.Shape{s.B, s.Cout, ho, wo}
}
func convRun[T K.Float](c conv, y []T, in [][]T, sh []tensor.Shape) {
	K.ConvForward(y, in[0], in[1], in[2], c.cs(sh[0], sh[1]))
}
func (c conv) run32(y []float32, in [][]float32, sh []tensor.Shape) { convRun(c, y, in, sh) }
func (c conv) run64(y []float64, in [][]float64, sh []tensor.Shape) { convRun(c, y, in, sh) }
func (c conv) grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := apply(convData{c, in[0].Shape().Clone()}, in[1], dy)
	if err != nil {
		return nil, err
	}
	dw, err := apply(convFilter{c, in[1].Shape().Clone()}, in[0], dy)
	if err != nil {
		return nil, err
	}
	db, err := apply(channelSum{}, dy)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw, db}, nil
}

// Conv2D returns the stride-1 convolution of x [B,Cin,H,W] with w [Cout,Cin,k,k] plus b [Cout],
// zero padding pad.
func Conv2D(x, w, b *G.Node, pad int) (*G.Node, error) {
	s := w.Shape()
	if len(s) != 4 || s[2] != s[3] {
		panic("gop: conv2d filter must be [Cout, Cin, k, k]")
	}
	return apply(conv{k: s[2], pad: pad}, x, w, b)
}

type convData struct {
	conv
	x tensor.Shape
}

func (c convData) name() string {
	return fmt.Sprintf("conv2d_data(k=%d,pad=%d,x=%v)", c.k, c.pad, c.x)
}
func (c convData) dims() ([]int, int)                   { return []int{4, 4}, 4 }
func (c convData) shape(in []tensor.Shape) tensor.Shape { c.cs(c.x, in[0]); return c.x.Clone() }
func convDataRun[T K.Float](c convData, y []T, in [][]T, sh []tensor.Shape) {
	K.ConvBackwardData(y, in[0], in[1], c.cs(c.x, sh[0]))
}
func (c convData) run32(y []float32, in [][]float32, sh []tensor.Shape) { convDataRun(c, y, in, sh) }
func (c convData) run64(y []float64, in [][]float64, sh []tensor.Shape) { convDataRun(c, y, in, sh) }

type convFilter struct {
	conv
	w tensor.Shape
}

func (c convFilter) name() string {
	return fmt.Sprintf("conv2d_filter(k=%d,pad=%d,w=%v)", c.k, c.pad, c.w)
}
func (c convFilter) dims() ([]int, int)                   { return []int{4, 4}, 4 }
func (c convFilter) shape(in []tensor.Shape) tensor.Shape { c.cs(in[0], c.w); return c.w.Clone() }
func convFilterRun[T K.Float](c convFilter, y []T, in [][]T, sh []tensor.Shape) {
	K.ConvBackwardFilter(y, in[0], in[1], c.cs(sh[0], c.w))
}
func (c convFilter) run32(y []float32, in [][]float32, sh []tensor.Shape) {
	convFilterRun(c, y, in, sh)
}
func (c convFilter) run64(y []float64, in [][]float64, sh []tensor.Shape) {
	convFilterRun(c, y, in, sh)
}

// channelSum sums a [B, C, ...] tensor over everything but C (a bias gradient).
type channelSum struct{}

func (channelSum) name() string       { return "channel_sum" }
func (channelSum) dims() ([]int, int) { return []int{4}, 1 }
func (channelSum) shape(in []tensor.Shape) tensor.Shape {
	must4(in[0], "channel_sum")
	return tensor.Shape{in[0][1]}
}
func channelSumRun[T K.Float](y []T, in [][]T, sh []tensor.Shape) {
	s := sh[0]
	K.BiasBackward(y, in[0], s[0], s[1], s[2]*s[3])
}
func (channelSum) run32(y []float32, in [][]float32, sh []tensor.Shape) { channelSumRun(y, in, sh) }
func (channelSum) run64(y []float64, in [][]float64, sh []tensor.Shape) { channelSumRun(y, in, sh) }

// ---- dense -------------------------------------------------------------------------

type dense struct{}

func (dense) name() string       { return "dense" }
func (dense) dims() ([]int, int) { return []int{2, 2, 1}, 2 }
func (dense) diffWRT() []bool    { return []bool{true, true, true} }
func (dense) shape(in []tensor.Shape) tensor.Shape {
	x, w := in[0], in[1]
	if len(x) != 2 || len(w) != 2 || x[1] != w[1] || prod(in[2]) != w[0] {
		panic(fmt.Sprintf("gop: dense shapes %v, %v, %v do not fit", x, w, in[2]))
	}
	return tensor.Shape{x[0], w[0]}
}
func denseRun[T K.Float](y []T, in [][]T, sh []tensor.Shape) {
	K.DenseForward(y, in[0], in[1], in[2], sh[0][0], sh[0][1], sh[1][0])
}
func (dense) run32(y []float32, in [][]float32, sh []tensor.Shape) { denseRun(y, in, sh) }
func (dense) run64(y []float64, in [][]float64, sh []tensor.Shape) { denseRun(y, in, sh) }
func (dense) grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dx, err := apply(denseData{}, in[1], dy)
	if err != nil {
		return nil, err
	}
	dw, err := apply(denseWeight{}, in[0], dy)
	if err != nil {
		return nil, err
	}
	db, err := apply(rowSum{}, dy)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw, db}, nil
}

// Dense returns x·wᵀ + b for x [B, In], w [Out, In], b [Out] (torch.nn.Linear).
func Dense(x, w, b *G.Node) (*G.Node, error) { return apply(dense{}, x, w, b) }

type denseData struct{}

func (denseData) name() string       { return "dense_data" }
func (denseData) dims() ([]int, int) { return []int{2, 2}, 2 }
func (denseData) shape(in []tensor.Shape) tensor.Shape {
	return tensor.Shape{in[1][0], in[0][1]}
}
func denseDataRun[T K.Float](y []T, in [][]T, sh []tensor.Shape) {
	K.DenseBackwardData(y, in[0], in[1], sh[1][0], sh[0][1], sh[0][0])
}
func (denseData) run32(y []float32, in [][]float32, sh []tensor.Shape) { denseDataRun(y, in, sh) }
func (denseData) run64(y []float64, in [][]float64, sh []tensor.Shape) { denseDataRun(y, in, sh) }

type denseWeight struct{}

func (denseWeight) name() string       { return "dense_weight" }
func (denseWeight) dims() ([]int, int) { return []int{2, 2}, 2 }
func (denseWeight) shape(in []tensor.Shape) tensor.Shape {
	return tensor.Shape{in[1][1], in[0][1]}
}
func denseWeightRun[T K.Float](y []T, in [][]T, sh []tensor.Shape) {
	K.DenseBackwardWeight(y, in[0], in[1], sh[0][0], sh[0][1], sh[1][1])
}
func (denseWeight) run32(y []float32, in [][]float32, sh []tensor.Shape) { denseWeightRun(y, in, sh) }
func (denseWeight) run64(y []float64, in [][]float64, sh []tensor.Shape) { denseWeightRun(y, in, sh) }

// rowSum sums a [B, D] tensor over B.
type rowSum struct{}

func (rowSum) name() string                         { return "row_sum" }
func (rowSum) dims() ([]int, int)                   { return []int{2}, 1 }
func (rowSum) shape(in []tensor.Shape) tensor.Shape { return tensor.Shape{in[0][1]} }
func rowSumRun[T K.Float](y []T, in [][]T, sh []tensor.Shape) {
	K.BiasBackward(y, in[0], sh[0][0], sh[0][1], 1)
}
func (rowSum) run32(y []float32, in [][]float32, sh []tensor.Shape) { rowSumRun(y, in, sh) }
func (rowSum) run64(y []float64, in [][]float64, sh []tensor.Shape) { rowSumRun(y, in, sh) }

// ---- GroupNorm ---------------------------------------------------------------------

type groupNorm struct {
	groups int
	eps    float64
}

func (g groupNorm) name() string {
	return fmt.Sprintf("group_norm(groups=%d,eps=%g)", g.groups, g.eps)
}
func (g groupNorm) dims() ([]int, int) { return []int{4, 1, 1}, 4 }
func (g groupNorm) diffWRT() []bool    { return []bool{true, true, true} }
func (g groupNorm) gs(x tensor.Shape) K.GNShape {
	must4(x, "group_norm")
	if x[1]%g.groups != 0 {
		panic(fmt.Sprintf("gop: group_norm: %d groups do not divide %d channels", g.groups, x[1]))
	}
	return K.GNShape{B: x[0], C: x[1], N: x[2] * x[3], G: g.groups, Eps: g.eps}
}
func (g groupNorm) shape(in []tensor.Shape) tensor.Shape {
	s := g.gs(in[0])
	if prod(in[1]) != s.C || prod(in[2]) != s.C {
		panic("gop: group_norm parameter length mismatch")
	}
	return in[0].Clone()
}
func gnRun[T K.Float](g groupNorm, y []T, in [][]T, sh []tensor.Shape) {
	K.GroupNormForward(y, in[0], in[1], in[2], g.gs(sh[0]))
}
func (g groupNorm) run32(y []float32, in [][]float32, sh []tensor.Shape) { gnRun(g, y, in, sh) }
func (g groupNorm) run64(y []float64, in [][]float64, sh []tensor.Shape) { gnRun(g, y, in, sh) }
func (g groupNorm) grad(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	// One pass over x and dy gathers the per-channel sums that dx, dγ and dβ all need.
	sums, err := apply(gnSums{g}, in[0], dy)
	if err != nil {
		return nil, err
	}
	dx, err := apply(gnData{g}, in[0], in[1], dy, sums)
	if err != nil {
		return nil, err
	}
	dg, err := apply(gnParam{1}, sums)
	if err != nil {
		return nil, err
	}
	db, err := apply(gnParam{0}, sums)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dg, db}, nil
}

// GroupNorm normalises x [B,C,H,W] over groups of C/groups channels (eps inside the square
// root, biased variance) and applies the per-channel scale gamma and shift beta.
func GroupNorm(x, gamma, beta *G.Node, groups int, eps float64) (*G.Node, error) {
	return apply(groupNorm{groups, eps}, x, gamma, beta)
}

// gnSums gives the [B, C, 4] sums of kernels.GroupNormBackwardSums.
type gnSums struct{ groupNorm }

func (g gnSums) name() string       { return "group_norm_sums" + g.groupNorm.name() }
func (g gnSums) dims() ([]int, int) { return []int{4, 4}, 3 }
func (g gnSums) shape(in []tensor.Shape) tensor.Shape {
	s := g.gs(in[0])
	if !in[1].Eq(in[0]) {
		panic("gop: group_norm_sums: x and dy shapes differ")
	}
	return tensor.Shape{s.B, s.C, K.GNSums}
}
func gnSumsRun[T K.Float](g gnSums, y []T, in [][]T, sh []tensor.Shape) {
	K.GroupNormBackwardSums(y, in[0], in[1], g.gs(sh[0]))
}
func (g gnSums) run32(y []float32, in [][]float32, sh []tensor.Shape) { gnSumsRun(g, y, in, sh) }
func (g gnSums) run64(y []float64, in [][]float64, sh []tensor.Shape) { gnSumsRun(g, y, in, sh) }

// gnData gives dx from x, gamma, dy and the sums.
type gnData struct{ groupNorm }

func (g gnData) name() string                         { return "group_norm_data" + g.groupNorm.name() }
func (g gnData) dims() ([]int, int)                   { return []int{4, 1, 4, 3}, 4 }
func (g gnData) shape(in []tensor.Shape) tensor.Shape { g.gs(in[0]); return in[0].Clone() }
func gnDataRun[T K.Float](g gnData, y []T, in [][]T, sh []tensor.Shape) {
	K.GroupNormBackwardData(y, in[0], in[1], in[2], in[3], g.gs(sh[0]))
}
func (g gnData) run32(y []float32, in [][]float32, sh []tensor.Shape) { gnDataRun(g, y, in, sh) }
func (g gnData) run64(y []float64, in [][]float64, sh []tensor.Shape) { gnDataRun(g, y, in, sh) }

// gnParam gives dβ (k = 0) or dγ (k = 1) from the sums.
type gnParam struct{ k int }

func (g gnParam) name() string       { return fmt.Sprintf("group_norm_param(k=%d)", g.k) }
func (g gnParam) dims() ([]int, int) { return []int{3}, 1 }
func (g gnParam) shape(in []tensor.Shape) tensor.Shape {
	if len(in[0]) != 3 || in[0][2] != K.GNSums {
		panic(fmt.Sprintf("gop: group_norm_param: sums of shape %v", in[0]))
	}
	return tensor.Shape{in[0][1]}
}
func gnParamRun[T K.Float](g gnParam, y []T, in [][]T, sh []tensor.Shape) {
	K.GroupNormParamGrad(y, in[0], sh[0][0], sh[0][1], g.k)
}
func (g gnParam) run32(y []float32, in [][]float32, sh []tensor.Shape) { gnParamRun(g, y, in, sh) }
func (g gnParam) run64(y []float64, in [][]float64, sh []tensor.Shape) { gnParamRun(g, y, in, sh) }
