package gop

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

type gradCase struct {
	name   string
	shapes []tensor.Shape
	build  func(in []*G.Node) (*G.Node, error)
	wrt    []int // inputs to check (all when nil)
}

func fdCases() []gradCase {
	k := []float64{1, 3, 3, 1}
	return []gradCase{
		{"conv3x3", []tensor.Shape{{2, 3, 5, 4}, {4, 3, 3, 3}, {4}},
			func(in []*G.Node) (*G.Node, error) { return Conv2D(in[0], in[1], in[2], 1) }, nil},
		{"conv1x1", []tensor.Shape{{3, 2, 3, 3}, {5, 2, 1, 1}, {5}},
			func(in []*G.Node) (*G.Node, error) { return Conv2D(in[0], in[1], in[2], 0) }, nil},
		{"dense", []tensor.Shape{{3, 5}, {4, 5}, {4}},
			func(in []*G.Node) (*G.Node, error) { return Dense(in[0], in[1], in[2]) }, nil},
		{"groupnorm", []tensor.Shape{{2, 6, 3, 3}, {6}, {6}},
			func(in []*G.Node) (*G.Node, error) { return GroupNorm(in[0], in[1], in[2], 3, 1e-6) }, nil},
		{"silu4", []tensor.Shape{{2, 3, 2, 2}},
			func(in []*G.Node) (*G.Node, error) { return SiLU(in[0]) }, nil},
		{"silu2", []tensor.Shape{{3, 4}},
			func(in []*G.Node) (*G.Node, error) { return SiLU(in[0]) }, nil},
		{"fir_up", []tensor.Shape{{2, 2, 3, 4}},
			func(in []*G.Node) (*G.Node, error) { return FIRUp(in[0], k) }, nil},
		{"fir_down", []tensor.Shape{{2, 2, 6, 4}},
			func(in []*G.Node) (*G.Node, error) { return FIRDown(in[0], k) }, nil},
		{"attention", []tensor.Shape{{2, 6, 3, 2}},
			func(in []*G.Node) (*G.Node, error) { return Attention(in[0]) }, nil},
		{"add_scale", []tensor.Shape{{2, 3, 2, 2}, {2, 3, 2, 2}},
			func(in []*G.Node) (*G.Node, error) { return AddScale(in[0], in[1], 1/math.Sqrt2) }, nil},
		{"add", []tensor.Shape{{2, 3}, {2, 3}},
			func(in []*G.Node) (*G.Node, error) { return AddScale(in[0], in[1], 1) }, nil},
		{"scale", []tensor.Shape{{2, 3, 2, 2}},
			func(in []*G.Node) (*G.Node, error) { return Scale(in[0], -0.7) }, nil},
		{"channel_bias", []tensor.Shape{{2, 3, 2, 2}, {2, 3}},
			func(in []*G.Node) (*G.Node, error) { return ChannelBias(in[0], in[1]) }, nil},
		{"concat", []tensor.Shape{{2, 3, 2, 2}, {2, 1, 2, 2}},
			func(in []*G.Node) (*G.Node, error) { return Concat(in[0], in[1]) }, nil},
		{"div_exp", []tensor.Shape{{2, 3, 2, 2}, {2}},
			func(in []*G.Node) (*G.Node, error) { return DivExp(in[0], in[1]) }, nil},
		{"div_exp_rank2", []tensor.Shape{{3, 2}, {3}},
			func(in []*G.Node) (*G.Node, error) { return DivExp(in[0], in[1]) }, nil},
		{"scale_rank1", []tensor.Shape{{3}},
			func(in []*G.Node) (*G.Node, error) { return Scale(in[0], -1) }, nil},
		{"soft_pool", []tensor.Shape{{2, 3, 4, 3}, {2, 3, 4, 3}},
			func(in []*G.Node) (*G.Node, error) { return SoftPool(in[0], in[1]) }, nil},
		{"pixel_bias", []tensor.Shape{{3, 2, 2, 3}, {2, 2, 3}},
			func(in []*G.Node) (*G.Node, error) { return PixelBias(in[0], in[1]) }, nil},
		{"mul", []tensor.Shape{{3, 2}, {3, 2}},
			func(in []*G.Node) (*G.Node, error) { return Mul(in[0], in[1]) }, nil},
		{"dsm_loss", []tensor.Shape{{2, 3, 2, 2}, {2, 3, 2, 2}},
			func(in []*G.Node) (*G.Node, error) { return DSMLoss(in[0], in[1]) }, []int{0}},
		{"dsm_loss_weighted", []tensor.Shape{{2, 3, 4, 6}, {2, 3, 4, 6}},
			func(in []*G.Node) (*G.Node, error) { return WeightedDSMLoss(in[0], in[1], 7.5, 2) }, []int{0}},
		{"chain", []tensor.Shape{{2, 4, 4, 4}, {8, 4, 3, 3}, {8}, {8}, {8}},
			func(in []*G.Node) (*G.Node, error) {
				// conv → groupnorm → silu → down → up, so that gradients flow through
				// several owned buffers in one tape.
				h, err := Conv2D(in[0], in[1], in[2], 1)
				if err != nil {
					return nil, err
				}
				if h, err = GroupNorm(h, in[3], in[4], 2, 1e-6); err != nil {
					return nil, err
				}
				if h, err = SiLU(h); err != nil {
					return nil, err
				}
				if h, err = FIRDown(h, k); err != nil {
					return nil, err
				}
				return FIRUp(h, k)
			}, nil},
	}
}

// TestGradientsFiniteDifference checks every op's gradients (through gorgonia.Grad and a
// TapeMachine) against central differences in float64, h = 1e-6. The truncation error is
// O(h²) ≈ 1e-12 and the rounding error ≈ 1e-16·|L|/h ≈ 1e-9 for |L| ≈ 10, so a relative
// tolerance of 1e-6 of max(1, |∂L|) separates a correct gradient from a wrong one (a wrong
// coefficient shows up at O(1)).
func TestGradientsFiniteDifference(t *testing.T) {
	const h, tol = 1e-6, 1e-6
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range fdCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := G.NewGraph()
			in := make([]*G.Node, len(tc.shapes))
			vals := make([]*tensor.Dense, len(tc.shapes))
			for i, s := range tc.shapes {
				d := make([]float64, s.TotalSize())
				for j := range d {
					d[j] = r.NormFloat64()
				}
				if tc.name == "groupnorm" && i > 0 || tc.name == "chain" && i == 3 {
					for j := range d {
						d[j] = 1 + 0.3*d[j] // scales away from zero
					}
				}
				vals[i] = tensor.New(tensor.WithShape(s...), tensor.WithBacking(d))
				in[i] = G.NodeFromAny(g, vals[i], G.WithName(string(rune('a'+i))))
			}
			out, err := tc.build(in)
			if err != nil {
				t.Fatal(err)
			}
			loss := out
			if !out.IsScalar() {
				rd := make([]float64, out.Shape().TotalSize())
				for j := range rd {
					rd[j] = r.NormFloat64()
				}
				rn := G.NodeFromAny(g, tensor.New(tensor.WithShape(out.Shape()...), tensor.WithBacking(rd)), G.WithName("r"))
				loss = G.Must(G.Sum(G.Must(G.HadamardProd(out, rn))))
			}
			wrt := tc.wrt
			if wrt == nil {
				for i := range in {
					wrt = append(wrt, i)
				}
			}
			wn := make(G.Nodes, len(wrt))
			for i, j := range wrt {
				wn[i] = in[j]
			}
			grads, err := G.Grad(loss, wn...)
			if err != nil {
				t.Fatal(err)
			}
			m := G.NewTapeMachine(g)
			defer m.Close()
			run := func() float64 {
				m.Reset()
				if err := m.RunAll(); err != nil {
					t.Fatal(err)
				}
				return loss.Value().Data().(float64)
			}
			run()
			analytic := make([][]float64, len(wrt))
			for i, gn := range grads {
				analytic[i] = append([]float64(nil), gn.Value().Data().([]float64)...)
			}
			for i, j := range wrt {
				d := vals[j].Data().([]float64)
				for e := range d {
					v := d[e]
					d[e] = v + h
					lp := run()
					d[e] = v - h
					lm := run()
					d[e] = v
					num := (lp - lm) / (2 * h)
					a := analytic[i][e]
					if math.Abs(num-a) > tol*max(1, math.Abs(a)) {
						t.Errorf("input %d element %d: analytic %.10g, finite difference %.10g", j, e, a, num)
					}
				}
			}
		})
	}
}

// The weighted DSM loss is ½(‖r‖² + β·Σ_tiles (Σ_tile r)²/area)/B, checked against a direct
// sum on one batch; β = 0 is the plain loss exactly. The tile sums are exact sums of a few
// float64 values, so the two agree to rounding (1e-12 relative).
func TestWeightedDSMLoss(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const B, C, H, W, blk, beta = 2, 1, 4, 6, 2, 3.0
	h := make([]float64, B*C*H*W)
	z := make([]float64, len(h))
	for i := range h {
		h[i], z[i] = r.NormFloat64(), r.NormFloat64()
	}
	var plain, tiles float64
	for b := 0; b < B; b++ {
		for ty := 0; ty < H/blk; ty++ {
			for tx := 0; tx < W/blk; tx++ {
				var s float64
				for j := ty * blk; j < (ty+1)*blk; j++ {
					for i := tx * blk; i < (tx+1)*blk; i++ {
						k := (b*H+j)*W + i
						s += h[k] + z[k]
						plain += (h[k] + z[k]) * (h[k] + z[k])
					}
				}
				tiles += s * s / (blk * blk)
			}
		}
	}
	for _, c := range []struct {
		beta float64
		want float64
	}{{0, plain / 2 / B}, {beta, (plain + beta*tiles) / 2 / B}} {
		g := G.NewGraph()
		hn := G.NodeFromAny(g, tensor.New(tensor.WithShape(B, C, H, W), tensor.WithBacking(append([]float64(nil), h...))), G.WithName("h"))
		zn := G.NodeFromAny(g, tensor.New(tensor.WithShape(B, C, H, W), tensor.WithBacking(append([]float64(nil), z...))), G.WithName("z"))
		loss, err := WeightedDSMLoss(hn, zn, c.beta, blk)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vm.Close()
		if got := loss.Value().Data().(float64); math.Abs(got-c.want) > 1e-12*c.want {
			t.Errorf("β %g: loss %.15g, want %.15g", c.beta, got, c.want)
		}
	}
}

// SoftPool's value: equal logits give the plain pixel mean; a logit 40 above the others
// picks its pixel to within e^−40·(pixels − 1).
func TestSoftPoolValue(t *testing.T) {
	g := G.NewGraph()
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -10}
	a := make([]float64, 16)
	a[13] = 40 // second row (channel 1), pixel 5: value −6
	xn := G.NodeFromAny(g, tensor.New(tensor.WithShape(1, 2, 2, 4), tensor.WithBacking(x)), G.WithName("x"))
	an := G.NodeFromAny(g, tensor.New(tensor.WithShape(1, 2, 2, 4), tensor.WithBacking(a)), G.WithName("a"))
	y, err := SoftPool(an, xn)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	got := y.Value().Data().([]float64)
	if math.Abs(got[0]-4.5) > 1e-14 || math.Abs(got[1]+6) > 1e-15 {
		t.Errorf("soft_pool = %v, want [4.5 -6]", got)
	}
}
