package ncsnpp

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Op names the operations of the layer graph. Their semantics (inputs, parameters,
// attributes; every tensor has an implicit leading batch axis):
//
//	LogSigma   t [] → log σ(t) [];        attrs SigmaMin, SigmaMax
//	Fourier    l [] → [2E]: [sin(2π l W), cos(2π l W)]; param W [E] (fixed)
//	Dense      x [I] → x·Wᵀ + b [O];      params weight [O, I], bias [O]
//	SiLU       x → x·sigmoid(x)
//	Conv       x [Ci,H,W] → [Co,H,W];     params weight [Co, Ci, K, K], bias [Co]; attrs K, Pad (stride 1)
//	GroupNorm  x [C,H,W] → same;          params scale [C], bias [C]; attrs Groups, Eps
//	ChannelBias h [C,H,W], d [C] → h + d (broadcast over pixels)
//	AddScale   a, b → Scale·(a + b)
//	FIRUp      x [C,H,W] → [C,2H,2W]      (upsample_2d, attr Taps)
//	FIRDown    x [C,H,W] → [C,H/2,W/2]    (downsample_2d, attr Taps)
//	Attention  qkv [3C,H,W] → [C,H,W]:    softmax over pixels of qᵀk/√C, applied to v
//	Concat     a [Ca,H,W], b [Cb,H,W] → [Ca+Cb,H,W]
//	DivExp     h [C,H,W] or [C], l [] → h·exp(−l)  (division by σ with l = log σ)
//	Scale      x → Scale·x                (any shape)
//	SoftPool   a [C,H,W], x [C,H,W] → [C]: Σ_p softmax_p(a_c)·x_c,p (a mean over selected pixels)
//	Mul        a, b → a⊙b                 (one shape)
//	PixelBias  h [C,H,W] → h + p;         param p [C,H,W]
type Op string

// The operations.
const (
	OpLogSigma    Op = "log_sigma"
	OpFourier     Op = "fourier"
	OpDense       Op = "dense"
	OpSiLU        Op = "silu"
	OpConv        Op = "conv"
	OpGroupNorm   Op = "group_norm"
	OpChannelBias Op = "channel_bias"
	OpAddScale    Op = "add_scale"
	OpFIRUp       Op = "fir_up"
	OpFIRDown     Op = "fir_down"
	OpAttention   Op = "attention"
	OpConcat      Op = "concat"
	OpDivExp      Op = "div_exp"
	OpScale       Op = "scale"
	OpSoftPool    Op = "soft_pool"
	OpMul         Op = "mul"
	OpPixelBias   Op = "pixel_bias"
)

// Init says how a parameter is initialised (as score_sde_pytorch does).
type Init struct {
	Kind string `json:"kind"` // "fan_avg_uniform", "zeros", "ones", "normal", "frame"
	// fan_avg_uniform: U(−a, a), a = sqrt(3·Scale/((FanIn+FanOut)/2)) (variance_scaling);
	// normal: N(0, Scale²); frame (a [C,H,W] map): 0 within Width pixels of the edge, Scale
	// inside.
	Scale  float64 `json:"scale,omitempty"`
	FanIn  int     `json:"fan_in,omitempty"`
	FanOut int     `json:"fan_out,omitempty"`
	Width  int     `json:"width,omitempty"`
}

// Param is one named parameter tensor.
type Param struct {
	Name      string `json:"name"`
	Shape     []int  `json:"shape"`
	Init      Init   `json:"init"`
	Trainable bool   `json:"trainable"`
}

// Size is the number of elements.
func (p Param) Size() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// Node is one operation: Output = Op(Inputs...; Params...).
type Node struct {
	Op     Op       `json:"op"`
	Output string   `json:"output"`
	Inputs []string `json:"inputs"`
	Params []string `json:"params,omitempty"`
	Shape  []int    `json:"shape"` // per-sample shape of the output

	K        int       `json:"k,omitempty"`
	Pad      int       `json:"pad,omitempty"`
	Groups   int       `json:"groups,omitempty"`
	Eps      float64   `json:"eps,omitempty"`
	Scale    float64   `json:"scale,omitempty"`
	Taps     []float64 `json:"taps,omitempty"`
	SigmaMin float64   `json:"sigma_min,omitempty"`
	SigmaMax float64   `json:"sigma_max,omitempty"`
}

// Graph is the whole network: inputs "x" [C,H,W] and "t" [], parameters, nodes in
// execution order, the output Score and Raw, the output before division by σ (σ·score,
// the quantity the DSM loss compares with −z).
type Graph struct {
	Config Config           `json:"config"`
	Params []Param          `json:"params"`
	Nodes  []Node           `json:"nodes"`
	Shapes map[string][]int `json:"-"`
	Score  string           `json:"score"`
	Raw    string           `json:"raw"`
	index  map[string]int
}

// Input tensor names.
const (
	InputX = "x"
	InputT = "t"
)

// Param returns the parameter of that name.
func (g *Graph) Param(name string) (Param, bool) {
	i, ok := g.index[name]
	if !ok {
		return Param{}, false
	}
	return g.Params[i], true
}

// NumParams counts the trainable parameters.
func (g *Graph) NumParams() int {
	n := 0
	for _, p := range g.Params {
		if p.Trainable {
			n += p.Size()
		}
	}
	return n
}

// ForwardFLOPs counts the floating-point operations of one forward pass per image in the
// matrix products (convolutions, dense layers, attention); element-wise work is left out.
func (g *Graph) ForwardFLOPs() float64 {
	var f float64
	for _, n := range g.Nodes {
		switch n.Op {
		case OpConv, OpDense:
			w, _ := g.Param(n.Params[0])
			pix := 1
			for _, d := range n.Shape[1:] {
				pix *= d
			}
			f += 2 * float64(w.Size()) * float64(pix)
		case OpAttention:
			c, hw := n.Shape[0], n.Shape[1]*n.Shape[2]
			f += 4 * float64(c) * float64(hw) * float64(hw)
		}
	}
	return f
}

// TrainFLOPs counts one training step per image: the forward pass and both backward
// passes (data and weights) of every product, 3 × ForwardFLOPs.
func (g *Graph) TrainFLOPs() float64 { return 3 * g.ForwardFLOPs() }

// Init draws the initial parameter values (float32, in Params order) from r.
func (g *Graph) Init(r *rand.Rand) [][]float32 {
	out := make([][]float32, len(g.Params))
	for i, p := range g.Params {
		v := make([]float32, p.Size())
		switch p.Init.Kind {
		case "zeros":
		case "ones":
			for j := range v {
				v[j] = 1
			}
		case "normal":
			for j := range v {
				v[j] = float32(r.NormFloat64() * p.Init.Scale)
			}
		case "fan_avg_uniform":
			a := math.Sqrt(3 * p.Init.Scale / (float64(p.Init.FanIn+p.Init.FanOut) / 2))
			for j := range v {
				v[j] = float32((2*r.Float64() - 1) * a)
			}
		case "frame":
			h, w, d := p.Shape[1], p.Shape[2], p.Init.Width
			for j := range v {
				y, x := j/w%h, j%w
				if y >= d && y < h-d && x >= d && x < w-d {
					v[j] = float32(p.Init.Scale)
				}
			}
		default:
			panic("ncsnpp: unknown initialiser " + p.Init.Kind)
		}
		out[i] = v
	}
	return out
}

// builder accumulates the description.
type builder struct {
	g   *Graph
	cfg Config
}

func (b *builder) param(name string, shape []int, init Init, trainable bool) string {
	if _, dup := b.g.index[name]; dup {
		panic("ncsnpp: duplicate parameter " + name)
	}
	b.g.index[name] = len(b.g.Params)
	b.g.Params = append(b.g.Params, Param{Name: name, Shape: shape, Init: init, Trainable: trainable})
	return name
}

func (b *builder) add(n Node) string {
	if _, dup := b.g.Shapes[n.Output]; dup {
		panic("ncsnpp: duplicate tensor " + n.Output)
	}
	for _, in := range n.Inputs {
		if _, ok := b.g.Shapes[in]; !ok {
			panic("ncsnpp: unknown tensor " + in)
		}
	}
	b.g.Shapes[n.Output] = n.Shape
	b.g.Nodes = append(b.g.Nodes, n)
	return n.Output
}

func (b *builder) shape(t string) []int { return b.g.Shapes[t] }

// fanAvg is default_init(scale) of the reference: variance scaling, fan_avg, uniform, with
// scale 0 replaced by 1e-10.
func fanAvg(scale float64, fanIn, fanOut int) Init {
	if scale == 0 {
		scale = 1e-10
	}
	return Init{Kind: "fan_avg_uniform", Scale: scale, FanIn: fanIn, FanOut: fanOut}
}

func (b *builder) conv(name, x string, cout, k int, initScale float64) string {
	s := b.shape(x)
	cin := s[0]
	w := b.param(name+".weight", []int{cout, cin, k, k}, fanAvg(initScale, cin*k*k, cout*k*k), true)
	bias := b.param(name+".bias", []int{cout}, Init{Kind: "zeros"}, true)
	return b.add(Node{Op: OpConv, Output: name, Inputs: []string{x}, Params: []string{w, bias},
		Shape: []int{cout, s[1], s[2]}, K: k, Pad: (k - 1) / 2})
}

func (b *builder) dense(name, x string, out int) string {
	in := b.shape(x)[0]
	w := b.param(name+".weight", []int{out, in}, fanAvg(1, in, out), true)
	bias := b.param(name+".bias", []int{out}, Init{Kind: "zeros"}, true)
	return b.add(Node{Op: OpDense, Output: name, Inputs: []string{x}, Params: []string{w, bias}, Shape: []int{out}})
}

func (b *builder) groupNorm(name, x string) string {
	s := b.shape(x)
	c := s[0]
	sc := b.param(name+".scale", []int{c}, Init{Kind: "ones"}, true)
	bias := b.param(name+".bias", []int{c}, Init{Kind: "zeros"}, true)
	return b.add(Node{Op: OpGroupNorm, Output: name, Inputs: []string{x}, Params: []string{sc, bias},
		Shape: s, Groups: min(c/4, 32), Eps: b.cfg.GroupNormEps})
}

func (b *builder) unary(op Op, name, x string, shape []int) string {
	return b.add(Node{Op: op, Output: name, Inputs: []string{x}, Shape: shape, Taps: b.taps(op)})
}

func (b *builder) taps(op Op) []float64 {
	if op == OpFIRUp || op == OpFIRDown {
		return b.cfg.FIRKernel
	}
	return nil
}

func (b *builder) silu(name, x string) string { return b.unary(OpSiLU, name, x, b.shape(x)) }

func (b *builder) firUp(name, x string) string {
	s := b.shape(x)
	return b.unary(OpFIRUp, name, x, []int{s[0], 2 * s[1], 2 * s[2]})
}

func (b *builder) firDown(name, x string) string {
	s := b.shape(x)
	return b.unary(OpFIRDown, name, x, []int{s[0], s[1] / 2, s[2] / 2})
}

func (b *builder) addScale(name, x, y string, s float64) string {
	if fmt.Sprint(b.shape(x)) != fmt.Sprint(b.shape(y)) {
		panic(fmt.Sprintf("ncsnpp: %s adds %v and %v", name, b.shape(x), b.shape(y)))
	}
	return b.add(Node{Op: OpAddScale, Output: name, Inputs: []string{x, y}, Shape: b.shape(x), Scale: s})
}

func (b *builder) skipScale() float64 {
	if b.cfg.SkipRescale {
		return 1 / math.Sqrt2
	}
	return 1
}

// resBlock is ResnetBlockBigGAN.
func (b *builder) resBlock(name, x, temb string, cout int, up, down bool) string {
	cin := b.shape(x)[0]
	if cout == 0 {
		cout = cin
	}
	h := b.silu(name+".act0", b.groupNorm(name+".gn0", x))
	switch {
	case up:
		h = b.firUp(name+".up_h", h)
		x = b.firUp(name+".up_x", x)
	case down:
		h = b.firDown(name+".down_h", h)
		x = b.firDown(name+".down_x", x)
	}
	h = b.conv(name+".conv0", h, cout, 3, 1)
	d := b.dense(name+".dense0", temb, cout)
	s := b.shape(h)
	h = b.add(Node{Op: OpChannelBias, Output: name + ".temb", Inputs: []string{h, d}, Shape: s})
	h = b.silu(name+".act1", b.groupNorm(name+".gn1", h))
	h = b.conv(name+".conv1", h, cout, 3, b.cfg.InitScale)
	if cin != cout || up || down {
		x = b.conv(name+".skip", x, cout, 1, 1)
	}
	return b.addScale(name+".out", x, h, b.skipScale())
}

// attnBlock is AttnBlockpp: the three NIN projections q, k, v are one 1×1 convolution with
// 3C outputs (each C×C block initialised as its own NIN layer).
func (b *builder) attnBlock(name, x string) string {
	s := b.shape(x)
	c := s[0]
	h := b.groupNorm(name+".gn", x)
	w := b.param(name+".qkv.weight", []int{3 * c, c, 1, 1}, fanAvg(1, c, c), true)
	bias := b.param(name+".qkv.bias", []int{3 * c}, Init{Kind: "zeros"}, true)
	qkv := b.add(Node{Op: OpConv, Output: name + ".qkv", Inputs: []string{h}, Params: []string{w, bias},
		Shape: []int{3 * c, s[1], s[2]}, K: 1})
	a := b.add(Node{Op: OpAttention, Output: name + ".attn", Inputs: []string{qkv}, Shape: s})
	p := b.conv(name+".proj", a, c, 1, b.cfg.InitScale)
	return b.addScale(name+".out", x, p, b.skipScale())
}

// Build returns the layer graph of c (models/ncsnpp.py, NCSNpp.__init__ and forward).
func Build(c Config) (*Graph, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	g := &Graph{Config: c, Shapes: map[string][]int{}, index: map[string]int{}}
	b := &builder{g: g, cfg: c}
	nf := c.NF
	g.Shapes[InputX] = []int{c.Channels, c.Size, c.Size}
	g.Shapes[InputT] = []int{}

	// Time embedding: Fourier features of log σ, Dense, SiLU, Dense.
	l := b.add(Node{Op: OpLogSigma, Output: "log_sigma", Inputs: []string{InputT}, Shape: []int{},
		SigmaMin: c.SigmaMin, SigmaMax: c.SigmaMax})
	fw := b.param("temb.fourier.W", []int{nf}, Init{Kind: "normal", Scale: c.FourierScale}, false)
	temb := b.add(Node{Op: OpFourier, Output: "temb.fourier", Inputs: []string{l}, Params: []string{fw}, Shape: []int{2 * nf}})
	temb = b.dense("temb.dense0", temb, 4*nf)
	temb = b.dense("temb.dense1", b.silu("temb.act0", temb), 4*nf)
	temb = b.silu("temb.act", temb) // the act(temb) every residual block applies first

	res := c.resolutions()
	attnAt := func(r int) bool {
		for _, a := range c.AttnResolutions {
			if a == r {
				return true
			}
		}
		return false
	}

	// Downsampling path.
	pyrIn := InputX
	hs := []string{b.conv("conv_in", InputX, nf, 3, 1)}
	for lvl := range c.ChMult {
		for i := 0; i < c.NumResBlocks; i++ {
			name := fmt.Sprintf("down.%d.block.%d", lvl, i)
			h := b.resBlock(name, hs[len(hs)-1], temb, nf*c.ChMult[lvl], false, false)
			if attnAt(res[lvl]) {
				h = b.attnBlock(fmt.Sprintf("down.%d.attn.%d", lvl, i), h)
			}
			hs = append(hs, h)
		}
		if lvl != len(c.ChMult)-1 {
			h := b.resBlock(fmt.Sprintf("down.%d.downsample", lvl), hs[len(hs)-1], temb, 0, false, true)
			if c.ProgressiveIn == "input_skip" {
				pyrIn = b.firDown(fmt.Sprintf("down.%d.pyramid", lvl), pyrIn)
				comb := b.conv(fmt.Sprintf("down.%d.combine", lvl), pyrIn, b.shape(h)[0], 1, 1)
				h = b.addScale(fmt.Sprintf("down.%d.combined", lvl), comb, h, 1)
			}
			hs = append(hs, h)
		}
	}

	h := hs[len(hs)-1]
	h = b.resBlock("mid.block.0", h, temb, 0, false, false)
	h = b.attnBlock("mid.attn", h)
	h = b.resBlock("mid.block.1", h, temb, 0, false, false)

	// Upsampling path.
	pyr := ""
	for lvl := len(c.ChMult) - 1; lvl >= 0; lvl-- {
		for i := 0; i <= c.NumResBlocks; i++ {
			skip := hs[len(hs)-1]
			hs = hs[:len(hs)-1]
			cat := b.add(Node{Op: OpConcat, Output: fmt.Sprintf("up.%d.cat.%d", lvl, i), Inputs: []string{h, skip},
				Shape: []int{b.shape(h)[0] + b.shape(skip)[0], b.shape(h)[1], b.shape(h)[2]}})
			h = b.resBlock(fmt.Sprintf("up.%d.block.%d", lvl, i), cat, temb, nf*c.ChMult[lvl], false, false)
		}
		if attnAt(res[lvl]) {
			h = b.attnBlock(fmt.Sprintf("up.%d.attn", lvl), h)
		}
		if c.Progressive == "output_skip" {
			name := fmt.Sprintf("up.%d.pyramid", lvl)
			p := b.silu(name+".act", b.groupNorm(name+".gn", h))
			p = b.conv(name+".conv", p, c.Channels, 3, c.InitScale)
			if lvl == len(c.ChMult)-1 {
				pyr = p
			} else {
				up := b.firUp(name+".up", pyr)
				pyr = b.addScale(name+".sum", up, p, 1)
			}
		}
		if lvl != 0 {
			h = b.resBlock(fmt.Sprintf("up.%d.upsample", lvl), h, temb, 0, true, false)
		}
	}
	if len(hs) != 0 {
		panic("ncsnpp: skip connections left over")
	}
	if c.Progressive == "output_skip" {
		h = pyr
	} else {
		h = b.silu("out.act", b.groupNorm("out.gn", h))
		h = b.conv("out.conv", h, c.Channels, 3, c.InitScale)
	}
	if c.OffsetHead {
		h = b.offsetHead(h, l, temb)
	}
	g.Raw = h
	g.Score = b.add(Node{Op: OpDivExp, Output: "score", Inputs: []string{h, l}, Shape: b.shape(h)})
	return g, nil
}

// The offset head's gains: its logits and κ are these multiples of zero-initialised layers,
// so that Adam moves them that much faster than the rest of the network (a fine-tuning run
// of a few thousand steps should reach logit contrasts of ~10 and κ near 1; at lr 6e-5, κ
// reached 0.4–0.5 in 2,300 steps on galaxies64).
const (
	offsetMaskGain  = 30
	offsetKappaGain = 10
	// The mask starts on the stamp's outer frame (1/16 of its side: 4 pixels at 64×64),
	// the rest e^10 times less likely per pixel, as training stamps centre their sources
	// on empty sky; the learned per-pixel logits and the 1×1 convolution of the features
	// move it from there. Starting from a uniform mask, the mean of the source itself
	// swamps the offset (100 times larger at σ = 0.001) and the head barely learns.
	offsetFrameLogit = -10
)

// offsetHead corrects the uniform level of the denoised image D = x + σ·raw. The U-Net
// cannot: every residual branch starts with a GroupNorm, which removes a uniform offset of
// its input, so a trained network passes most of an offset of x straight through to D (the
// galaxies64 model before the head kept 95% at σ = 0.001), and sampled images end with
// faint uniform backgrounds. The head measures D's mean over pixels chosen by a learned
// softmax mask (logits a learned per-pixel map plus a 1×1 convolution of the last
// full-resolution features: the background), and subtracts κ(σ) times it from D, κ a
// linear function of the time embedding:
//
//	raw ← raw − κ(σ)·Σ_p softmax_p(mask)·D_p / σ      (per channel, uniform over pixels)
//
// Its layers start at zero, so a network with the head starts as the one without it (a
// fine-tuning run can add it; train.Options.OffsetHead).
func (b *builder) offsetHead(raw, l, temb string) string {
	c := b.cfg.Channels
	feat := "up.0.pyramid.act"
	if b.cfg.Progressive != "output_skip" {
		feat = "out.act"
	}
	fs := b.shape(feat)
	s := b.shape(raw)
	negL := b.add(Node{Op: OpScale, Output: "offset.neg_log_sigma", Inputs: []string{l}, Shape: []int{}, Scale: -1})
	sraw := b.add(Node{Op: OpDivExp, Output: "offset.sigma_raw", Inputs: []string{raw, negL}, Shape: s})
	den := b.addScale("offset.denoised", InputX, sraw, 1)

	mw := b.param("offset.mask.weight", []int{c, fs[0], 1, 1}, Init{Kind: "zeros"}, true)
	mb := b.param("offset.mask.bias", []int{c}, Init{Kind: "zeros"}, true)
	mask := b.add(Node{Op: OpConv, Output: "offset.mask", Inputs: []string{feat}, Params: []string{mw, mb},
		Shape: []int{c, fs[1], fs[2]}, K: 1})
	prior := b.param("offset.mask.prior", []int{c, fs[1], fs[2]},
		Init{Kind: "frame", Scale: float64(offsetFrameLogit) / offsetMaskGain, Width: max(1, fs[1]/16)}, true)
	mask = b.add(Node{Op: OpPixelBias, Output: "offset.mask_prior", Inputs: []string{mask}, Params: []string{prior},
		Shape: b.shape(mask)})
	mask = b.add(Node{Op: OpScale, Output: "offset.logits", Inputs: []string{mask}, Shape: b.shape(mask), Scale: offsetMaskGain})
	level := b.add(Node{Op: OpSoftPool, Output: "offset.level", Inputs: []string{mask, den}, Shape: []int{c}})

	in := b.shape(temb)[0]
	kw := b.param("offset.kappa.weight", []int{c, in}, Init{Kind: "zeros"}, true)
	kb := b.param("offset.kappa.bias", []int{c}, Init{Kind: "zeros"}, true)
	kappa := b.add(Node{Op: OpDense, Output: "offset.kappa", Inputs: []string{temb}, Params: []string{kw, kb}, Shape: []int{c}})
	kappa = b.add(Node{Op: OpScale, Output: "offset.kappa_scaled", Inputs: []string{kappa}, Shape: []int{c}, Scale: -offsetKappaGain})
	shift := b.add(Node{Op: OpMul, Output: "offset.shift", Inputs: []string{kappa, level}, Shape: []int{c}})
	shift = b.add(Node{Op: OpDivExp, Output: "offset.shift_raw", Inputs: []string{shift, l}, Shape: []int{c}})
	return b.add(Node{Op: OpChannelBias, Output: "offset.raw", Inputs: []string{raw, shift}, Shape: s})
}
