package net

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"scorelens/trainer/ncsnpp"
)

func build(t testing.TB, preset string) *ncsnpp.Graph {
	c, err := ncsnpp.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ncsnpp.Build(c)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func fill(r *rand.Rand, d any, s float64) {
	switch v := d.(type) {
	case []float32:
		for i := range v {
			v[i] = float32(s * r.NormFloat64())
		}
	case []float64:
		for i := range v {
			v[i] = s * r.NormFloat64()
		}
	}
}

// The whole tiny network in float64 with random (not near-zero) weights, so every layer
// matters: the gradient of the DSM loss with respect to one element of each of a spread of
// parameters against a central difference (h = 1e-5; relative tolerance 1e-5 of
// max(|∂L|, 1e-3·max|∂L|), the rounding error of a loss of O(10²) over 2h being ≈ 1e-9).
// The same with the offset head, whose every parameter is checked.
func TestTinyGradientFiniteDifference(t *testing.T) {
	for _, offset := range []bool{false, true} {
		d := build(t, "tiny")
		if offset {
			c := d.Config
			c.OffsetHead = true
			var err error
			if d, err = ncsnpp.Build(c); err != nil {
				t.Fatal(err)
			}
		}
		t.Run(fmt.Sprintf("offset_head=%v", offset), func(t *testing.T) { tinyGradient(t, d) })
	}
}

func tinyGradient(t *testing.T, d *ncsnpp.Graph) {
	n, err := New(d, 2, tensor.Float64, true)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i, p := range d.Params {
		s := 0.3
		if p.Init.Kind == "fan_avg_uniform" {
			s = math.Sqrt(2 / float64(p.Init.FanIn+p.Init.FanOut))
		}
		if p.Name == "temb.fourier.W" {
			s = 16
		}
		if strings.HasPrefix(p.Name, "offset.") {
			s = 0.03 // κ of a few: the head's shift comparable with the U-Net's output
		}
		fill(r, n.Values[i].Data(), s)
		if p.Init.Kind == "ones" {
			for j, v := range n.Values[i].Data().([]float64) {
				n.Values[i].Data().([]float64)[j] = 1 + v
			}
		}
	}
	fill(r, n.X.Data(), 1)
	fill(r, n.Z.Data(), 1)
	copy(n.T.Data().([]float64), []float64{0.3, 0.8})
	m := n.Machine()
	defer m.Close()
	run := func() float64 {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return n.Loss.Value().Data().(float64)
	}
	run()
	if s := n.Score.Shape(); s[0] != 2 || s[1] != 1 || s[2] != 16 || s[3] != 16 {
		t.Fatalf("score shape %v", s)
	}
	grads := make([][]float64, len(n.Grads))
	gmax := 0.0
	for i, g := range n.Grads {
		if g != nil {
			grads[i] = append([]float64(nil), g.Value().Data().([]float64)...)
			for _, v := range grads[i] {
				gmax = max(gmax, math.Abs(v))
			}
		}
	}
	const h = 1e-5
	checked := 0
	for i, p := range d.Params {
		if !p.Trainable || i%5 != 0 && !strings.HasPrefix(p.Name, "offset.") {
			continue
		}
		v := n.Values[i].Data().([]float64)
		e := r.IntN(len(v))
		old := v[e]
		v[e] = old + h
		lp := run()
		v[e] = old - h
		lm := run()
		v[e] = old
		num := (lp - lm) / (2 * h)
		a := grads[i][e]
		if math.Abs(num-a) > 1e-5*max(math.Abs(a), 1e-3*gmax) {
			t.Errorf("%s[%d]: analytic %.8g, finite difference %.8g", p.Name, e, a, num)
		}
		checked++
	}
	t.Logf("checked %d parameters, max |grad| %.3g", checked, gmax)
}

// The paper preset builds and runs one forward pass at 256×256, batch 1.
func TestPaperForward(t *testing.T) {
	if testing.Short() {
		t.Skip("paper forward pass (531 GFLOP) skipped in -short mode")
	}
	d := build(t, "paper")
	n, err := New(d, 1, tensor.Float32, false)
	if err != nil {
		t.Fatal(err)
	}
	n.SetParams(d.Init(rand.New(rand.NewPCG(1, 1))))
	fill(rand.New(rand.NewPCG(2, 2)), n.X.Data(), 1)
	n.T.Data().([]float32)[0] = 0.5
	m := n.Machine()
	defer m.Close()
	start := time.Now()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	s := n.Score.Value().Shape()
	if len(s) != 4 || s[0] != 1 || s[1] != 1 || s[2] != 256 || s[3] != 256 {
		t.Fatalf("score shape %v", s)
	}
	for _, v := range n.Score.Value().Data().([]float32) {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("non-finite score")
		}
	}
	t.Logf("paper forward at 256×256: %v, %.1f GFLOP/s", el, d.ForwardFLOPs()/el.Seconds()/1e9)
}

// The offset head in float64 on the tiny network with random weights. With its layers at
// zero (their initial values) the score is the head-less network's, exactly: a run can add
// the head to a trained network without changing it. With a uniform mask and κ = 1 the
// head removes the whole pixel mean of the denoised image D = x + σ·raw, whatever the
// U-Net gives (|mean| ≤ 1e-12·max|D|: rounding of 256-pixel sums in float64).
func TestOffsetHead(t *testing.T) {
	plain := build(t, "tiny")
	c := plain.Config
	c.OffsetHead = true
	head, err := ncsnpp.Build(c)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 3
	r := rand.New(rand.NewPCG(21, 22))
	vals := map[string][]float64{}
	for _, p := range head.Params {
		v := make([]float64, p.Size())
		if !strings.HasPrefix(p.Name, "offset.") {
			fill(r, v, 0.3)
			if p.Name == "temb.fourier.W" {
				fill(r, v, 16)
			}
		}
		vals[p.Name] = v
	}
	x := make([]float64, batch*c.Size*c.Size)
	fill(r, x, 1)
	ts := []float64{0.02, 0.5, 0.97}
	run := func(g *ncsnpp.Graph) (score, raw []float64) {
		n, err := New(g, batch, tensor.Float64, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range g.Params {
			copy(n.Values[i].Data().([]float64), vals[p.Name])
		}
		copy(n.X.Data().([]float64), x)
		copy(n.T.Data().([]float64), ts)
		m := n.Machine()
		defer m.Close()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return append([]float64(nil), n.Score.Value().Data().([]float64)...),
			append([]float64(nil), n.Raw.Value().Data().([]float64)...)
	}
	s0, _ := run(plain)
	s1, _ := run(head)
	for i := range s0 {
		if s0[i] != s1[i] {
			t.Fatalf("zero head changes the score at %d: %v vs %v", i, s1[i], s0[i])
		}
	}

	vals["offset.kappa.bias"][0] = 1.0 / 10 // κ = gain·bias = 1
	_, raw := run(head)
	npix := c.Size * c.Size
	for b, tb := range ts {
		sigma := c.SigmaMin * math.Pow(c.SigmaMax/c.SigmaMin, tb)
		var mean, peak float64
		for p := range npix {
			d := x[b*npix+p] + sigma*raw[b*npix+p]
			mean += d / float64(npix)
			peak = max(peak, math.Abs(d))
		}
		if math.Abs(mean) > 1e-12*peak {
			t.Errorf("t=%g: mean of the denoised image %.3g with κ = 1 and a uniform mask (max |D| %.3g)", tb, mean, peak)
		}
	}

	// With the initial mask (the outer frame, 1 pixel wide at 16×16, e^−10 inside) and κ = 1
	// the frame's mean is removed, up to the inside's share of the weight: 196·e^−10/60 =
	// 1.5e-4, times twice max|D|.
	init := head.Init(rand.New(rand.NewPCG(1, 1)))
	for i, p := range head.Params {
		if p.Name == "offset.mask.prior" {
			vals[p.Name] = make([]float64, p.Size())
			for j, v := range init[i] {
				vals[p.Name][j] = float64(v)
			}
		}
	}
	_, raw = run(head)
	for b, tb := range ts {
		sigma := c.SigmaMin * math.Pow(c.SigmaMax/c.SigmaMin, tb)
		var mean, peak float64
		for p := range npix {
			d := x[b*npix+p] + sigma*raw[b*npix+p]
			if y, x := p/c.Size, p%c.Size; y == 0 || x == 0 || y == c.Size-1 || x == c.Size-1 {
				mean += d / float64(4*c.Size-4)
			}
			peak = max(peak, math.Abs(d))
		}
		if math.Abs(mean) > 2*1.5e-4*peak {
			t.Errorf("t=%g: frame mean of the denoised image %.3g with κ = 1 and the initial mask (max |D| %.3g)", tb, mean, peak)
		}
	}
}
