package export

import (
	"fmt"
	"math"

	ob "scorelens/export/onnxbuild"
	"scorelens/trainer/ncsnpp"
)

// Graph returns the ONNX graph of the description desc with parameter values vals
// (desc.Params order, as ncsnpp.Graph.Init or train.Checkpoint.Values give them): inputs x
// [batch, C, H, W] and t [batch], output score, no metadata. Each description node becomes
// a few standard operators whose final output carries the node's own tensor name.
func Graph(desc *ncsnpp.Graph, vals [][]float32) (*ob.Builder, error) {
	if len(vals) != len(desc.Params) {
		return nil, fmt.Errorf("%d parameter tensors for %d parameters", len(vals), len(desc.Params))
	}
	e := &emitter{
		b: ob.New("ncsnpp", Opset), desc: desc, params: map[string]int{},
		vals: vals, consts: map[string]string{}, shapes: map[string][]int{},
	}
	for i, p := range desc.Params {
		if len(vals[i]) != p.Size() {
			return nil, fmt.Errorf("parameter %q has %d values, want %d", p.Name, len(vals[i]), p.Size())
		}
		for _, v := range vals[i] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("parameter %q holds %v", p.Name, v)
			}
		}
		e.params[p.Name] = i
	}
	c := desc.Config
	e.b.SetDoc(fmt.Sprintf("NCSN++ score model (VE SDE, sigma %g to %g) exported by scorelens", c.SigmaMin, c.SigmaMax))
	batch := ob.Dynamic(BatchAxis)
	xs := desc.Shapes[ncsnpp.InputX]
	e.b.Input(InputX, ob.Float32, batch, ob.Fixed(int64(xs[0])), ob.Fixed(int64(xs[1])), ob.Fixed(int64(xs[2])))
	e.b.Input(InputT, ob.Float32, batch)
	e.shapes[ncsnpp.InputX] = xs
	e.shapes[ncsnpp.InputT] = []int{}
	for _, n := range desc.Nodes {
		if err := e.node(n); err != nil {
			return nil, fmt.Errorf("node %s (%s): %w", n.Output, n.Op, err)
		}
	}
	if desc.Score != OutputScore {
		// The contract's output name: an Identity renames the description's score.
		e.b.Node("Identity", []string{desc.Score}, []string{OutputScore})
	}
	ss := desc.Shapes[desc.Score]
	e.b.Output(OutputScore, ob.Float32, batch, ob.Fixed(int64(ss[0])), ob.Fixed(int64(ss[1])), ob.Fixed(int64(ss[2])))
	return e.b, nil
}

// emitter walks the description into a builder.
type emitter struct {
	b      *ob.Builder
	desc   *ncsnpp.Graph
	params map[string]int
	vals   [][]float32
	consts map[string]string // shared constants by a key describing them
	shapes map[string][]int  // per-sample shapes of the tensors emitted so far
}

// param adds the parameter's initialiser (once, under its own name, with shape dims when
// given, else the description's) and returns its name.
func (e *emitter) param(name string, dims ...int64) (string, error) {
	i, ok := e.params[name]
	if !ok {
		return "", fmt.Errorf("unknown parameter %q", name)
	}
	p := e.desc.Params[i]
	if dims == nil {
		for _, d := range p.Shape {
			dims = append(dims, int64(d))
		}
	}
	if key := "param:" + name; e.consts[key] == "" {
		e.consts[key] = e.b.Float32(name, dims, e.vals[i])
	}
	return name, nil
}

// ints returns a shared int64 constant.
func (e *emitter) ints(v ...int64) string {
	key := fmt.Sprint("i64", v)
	if n, ok := e.consts[key]; ok {
		return n
	}
	n := e.b.Int64("", []int64{int64(len(v))}, v)
	e.consts[key] = n
	return n
}

// scalar32 and scalar64 return shared rank-0 constants.
func (e *emitter) scalar32(v float32) string {
	key := fmt.Sprint("f32:", math.Float32bits(v))
	if n, ok := e.consts[key]; ok {
		return n
	}
	n := e.b.Scalar(v)
	e.consts[key] = n
	return n
}

func (e *emitter) scalar64(v float64) string {
	key := fmt.Sprint("f64:", math.Float64bits(v))
	if n, ok := e.consts[key]; ok {
		return n
	}
	n := e.b.Float64("", nil, []float64{v})
	e.consts[key] = n
	return n
}

// op appends one node with a fresh output name; final appends one named out.
func (e *emitter) op(op string, attrs []ob.Attr, in ...string) string {
	return e.b.Op(op, attrs, in...)
}
func (e *emitter) final(out, op string, attrs []ob.Attr, in ...string) {
	e.b.Node(op, in, []string{out}, attrs...)
}

func cast(to ob.DataType) []ob.Attr { return []ob.Attr{ob.Int("to", int64(to))} }

// node emits one description node: the one place where each operation kind is mapped to
// ONNX operators.
func (e *emitter) node(n ncsnpp.Node) error {
	in := n.Inputs
	want := map[ncsnpp.Op][2]int{ // inputs, params
		ncsnpp.OpLogSigma: {1, 0}, ncsnpp.OpFourier: {1, 1}, ncsnpp.OpDense: {1, 2}, ncsnpp.OpSiLU: {1, 0},
		ncsnpp.OpConv: {1, 2}, ncsnpp.OpGroupNorm: {1, 2}, ncsnpp.OpChannelBias: {2, 0},
		ncsnpp.OpAddScale: {2, 0}, ncsnpp.OpFIRUp: {1, 0}, ncsnpp.OpFIRDown: {1, 0},
		ncsnpp.OpAttention: {1, 0}, ncsnpp.OpConcat: {2, 0}, ncsnpp.OpDivExp: {2, 0},
		ncsnpp.OpScale: {1, 0}, ncsnpp.OpSoftPool: {2, 0}, ncsnpp.OpMul: {2, 0}, ncsnpp.OpPixelBias: {1, 1},
	}
	w, ok := want[n.Op]
	if !ok {
		return fmt.Errorf("unknown operation")
	}
	if len(in) != w[0] || len(n.Params) != w[1] {
		return fmt.Errorf("%d inputs and %d parameters, want %d and %d", len(in), len(n.Params), w[0], w[1])
	}
	var shapes [][]int
	for _, name := range in {
		s, ok := e.shapes[name]
		if !ok {
			return fmt.Errorf("input %q is not defined before it is used", name)
		}
		shapes = append(shapes, s)
	}
	var err error
	switch n.Op {
	case ncsnpp.OpLogSigma:
		err = e.logSigma(n)
	case ncsnpp.OpFourier:
		err = e.fourier(n)
	case ncsnpp.OpDense:
		err = e.dense(n)
	case ncsnpp.OpSiLU:
		e.final(n.Output, "Mul", nil, in[0], e.op("Sigmoid", nil, in[0]))
	case ncsnpp.OpConv:
		err = e.conv(n, shapes[0])
	case ncsnpp.OpGroupNorm:
		err = e.groupNorm(n, shapes[0])
	case ncsnpp.OpChannelBias:
		e.final(n.Output, "Add", nil, in[0], e.op("Unsqueeze", nil, in[1], e.ints(2, 3)))
	case ncsnpp.OpAddScale:
		if n.Scale == 1 {
			e.final(n.Output, "Add", nil, in[0], in[1])
		} else {
			e.final(n.Output, "Mul", nil, e.op("Add", nil, in[0], in[1]), e.scalar32(float32(n.Scale)))
		}
	case ncsnpp.OpFIRUp, ncsnpp.OpFIRDown:
		err = e.fir(n, shapes[0])
	case ncsnpp.OpAttention:
		err = e.attention(n, shapes[0])
	case ncsnpp.OpConcat:
		e.final(n.Output, "Concat", []ob.Attr{ob.Int("axis", 1)}, in[0], in[1])
	case ncsnpp.OpDivExp:
		// exp(−l) in float64, rounded to float32, times h: kernels.ScaleBatch.
		l := e.op("Cast", cast(ob.Float64), in[1])
		s := e.op("Cast", cast(ob.Float32), e.op("Exp", nil, e.op("Neg", nil, l)))
		axes := e.ints(1, 2, 3)
		if len(shapes[0]) == 1 {
			axes = e.ints(1)
		}
		e.final(n.Output, "Mul", nil, in[0], e.op("Unsqueeze", nil, s, axes))
	case ncsnpp.OpScale:
		e.final(n.Output, "Mul", nil, in[0], e.scalar32(float32(n.Scale)))
	case ncsnpp.OpMul:
		e.final(n.Output, "Mul", nil, in[0], in[1])
	case ncsnpp.OpPixelBias:
		var p string
		if p, err = e.param(n.Params[0]); err == nil {
			e.final(n.Output, "Add", nil, in[0], p) // [C,H,W] broadcasts over the batch
		}
	case ncsnpp.OpSoftPool:
		// Softmax over the flattened pixels, computed in float32 as the trainer does in
		// float64; the weights sum to one either way.
		c := int64(shapes[0][0])
		a := e.op("Reshape", nil, in[0], e.ints(0, c, -1))
		x := e.op("Reshape", nil, in[1], e.ints(0, c, -1))
		w := e.op("Softmax", []ob.Attr{ob.Int("axis", -1)}, a)
		e.final(n.Output, "ReduceSum", []ob.Attr{ob.Int("keepdims", 0)}, e.op("Mul", nil, w, x), e.ints(-1))
	}
	if err != nil {
		return err
	}
	e.shapes[n.Output] = n.Shape
	return nil
}

// logSigma: ln σ(t) = ln σmin + t·ln(σmax/σmin) in float64, rounded to float32.
func (e *emitter) logSigma(n ncsnpp.Node) error {
	if !(n.SigmaMin > 0 && n.SigmaMax > n.SigmaMin) {
		return fmt.Errorf("bad sigma range %g, %g", n.SigmaMin, n.SigmaMax)
	}
	t := e.op("Cast", cast(ob.Float64), n.Inputs[0])
	l := e.op("Add", nil, e.op("Mul", nil, t, e.scalar64(math.Log(n.SigmaMax/n.SigmaMin))), e.scalar64(math.Log(n.SigmaMin)))
	e.final(n.Output, "Cast", cast(ob.Float32), l)
	return nil
}

// fourier: [sin(2π·l·W), cos(2π·l·W)] with the phase (2π·l)·W in float64, as the trainer.
func (e *emitter) fourier(n ncsnpp.Node) error {
	i, ok := e.params[n.Params[0]]
	if !ok {
		return fmt.Errorf("unknown parameter %q", n.Params[0])
	}
	w := make([]float64, len(e.vals[i]))
	for j, v := range e.vals[i] {
		w[j] = float64(v)
	}
	// The frequencies go in as float64 (exact images of the float32 values), under the
	// parameter's own name.
	wn := e.b.Float64(n.Params[0], []int64{int64(len(w))}, w)
	l := e.op("Unsqueeze", nil, e.op("Cast", cast(ob.Float64), n.Inputs[0]), e.ints(1))
	p := e.op("Mul", nil, e.op("Mul", nil, l, e.scalar64(2*math.Pi)), wn)
	// Reduced to [−π, π] in float64 (p − 2π·round(p/2π)), then Sin and Cos in float32:
	// ONNX Runtime has no float64 Cos, and the reduced phase loses only ~2e-7 rad.
	twoPi := e.scalar64(2 * math.Pi)
	red := e.op("Sub", nil, p, e.op("Mul", nil, e.op("Round", nil, e.op("Div", nil, p, twoPi)), twoPi))
	r32 := e.op("Cast", cast(ob.Float32), red)
	e.final(n.Output, "Concat", []ob.Attr{ob.Int("axis", 1)}, e.op("Sin", nil, r32), e.op("Cos", nil, r32))
	return nil
}

func (e *emitter) dense(n ncsnpp.Node) error {
	w, err := e.param(n.Params[0])
	if err != nil {
		return err
	}
	b, err := e.param(n.Params[1])
	if err != nil {
		return err
	}
	e.final(n.Output, "Gemm", []ob.Attr{ob.Int("transB", 1)}, n.Inputs[0], w, b)
	return nil
}

func (e *emitter) conv(n ncsnpp.Node, in []int) error {
	w, err := e.param(n.Params[0])
	if err != nil {
		return err
	}
	b, err := e.param(n.Params[1])
	if err != nil {
		return err
	}
	k, p := int64(n.K), int64(n.Pad)
	if len(in) != 3 || k < 1 || p < 0 {
		return fmt.Errorf("conv of a %v input with k %d, pad %d", in, k, p)
	}
	if ho := in[1] + 2*n.Pad - n.K + 1; len(n.Shape) != 3 || ho != n.Shape[1] {
		return fmt.Errorf("conv output %v does not follow from input %v, k %d, pad %d", n.Shape, in, k, p)
	}
	e.final(n.Output, "Conv", []ob.Attr{
		ob.Ints("kernel_shape", k, k), ob.Ints("pads", p, p, p, p), ob.Ints("strides", 1, 1),
	}, n.Inputs[0], w, b)
	return nil
}

// groupNorm: Reshape [B, G, −1], InstanceNormalization (mean and biased variance of each
// group, eps inside the square root), Reshape back, per-channel scale and shift.
func (e *emitter) groupNorm(n ncsnpp.Node, in []int) error {
	if len(in) != 3 || n.Groups < 1 || in[0]%n.Groups != 0 {
		return fmt.Errorf("%d groups do not divide the channels of %v", n.Groups, in)
	}
	c := int64(in[0])
	g := n.Groups
	ones, zeros := make([]float32, g), make([]float32, g)
	for i := range ones {
		ones[i] = 1
	}
	key := fmt.Sprint("gn-affine:", g)
	if e.consts[key] == "" {
		e.consts[key] = e.b.Float32("", []int64{int64(g)}, ones)
		e.consts[key+":0"] = e.b.Float32("", []int64{int64(g)}, zeros)
	}
	gamma, err := e.param(n.Params[0], c, 1, 1)
	if err != nil {
		return err
	}
	beta, err := e.param(n.Params[1], c, 1, 1)
	if err != nil {
		return err
	}
	r := e.op("Reshape", nil, n.Inputs[0], e.ints(0, int64(g), -1))
	r = e.op("InstanceNormalization", []ob.Attr{ob.Float("epsilon", float32(n.Eps))}, r, e.consts[key], e.consts[key+":0"])
	r = e.op("Reshape", nil, r, e.ints(0, c, int64(in[1]), int64(in[2])))
	e.final(n.Output, "Add", nil, e.op("Mul", nil, r, gamma), beta)
	return nil
}

// fir emits upfirdn2d as a depthwise (group = C) convolution with the fixed 2-D kernel
// outer(k, k)/Σ(k)²: Conv with stride 2 and pads (p0, p1) for downsample_2d (gain 1),
// ConvTranspose with stride 2 for upsample_2d (gain 4; see the package documentation for
// the pads).
func (e *emitter) fir(n ncsnpp.Node, in []int) error {
	k := n.Taps
	kk := len(k)
	if kk < 2 || kk%2 != 0 || len(in) != 3 {
		return fmt.Errorf("fir of a %v input with %d taps", in, kk)
	}
	var s float64
	for _, v := range k {
		s += v
	}
	if s == 0 {
		return fmt.Errorf("fir taps sum to zero")
	}
	up := n.Op == ncsnpp.OpFIRUp
	p := kk - 2
	c := in[0]
	// ONNX Conv correlates; upfirdn2d convolves with k (it flips the kernel). Down: the
	// correlation kernel is flip(k). Up (ConvTranspose scatters, a convolution): k itself.
	var gain float64 = 1
	var p0, p1 int
	var ho int
	if up {
		gain = 4
		q0, q1 := (p+1)/2+1, p/2 // upfirdn2d's pads on the zero-stuffed signal
		p0, p1 = kk-1-q0, kk-2-q1
		ho = 2*(in[1]-1) + kk - p0 - p1
	} else {
		p0, p1 = (p+1)/2, p/2
		ho = (in[1]+p0+p1-kk)/2 + 1
	}
	if p0 < 0 || p1 < 0 || len(n.Shape) != 3 || ho != n.Shape[1] || n.Shape[0] != c {
		return fmt.Errorf("fir output %v does not follow from input %v", n.Shape, in)
	}
	key := fmt.Sprint("fir:", up, ":", c, ":", k)
	wn := e.consts[key]
	if wn == "" {
		w := make([]float32, c*kk*kk)
		for i := 0; i < kk; i++ {
			for j := 0; j < kk; j++ {
				a, b := k[i], k[j]
				if !up {
					a, b = k[kk-1-i], k[kk-1-j]
				}
				v := float32(gain * a * b / (s * s))
				for ch := 0; ch < c; ch++ {
					w[ch*kk*kk+i*kk+j] = v
				}
			}
		}
		wn = e.b.Float32("", []int64{int64(c), 1, int64(kk), int64(kk)}, w)
		e.consts[key] = wn
	}
	op := "Conv"
	if up {
		op = "ConvTranspose"
	}
	e.final(n.Output, op, []ob.Attr{
		ob.Int("group", int64(c)), ob.Ints("kernel_shape", int64(kk), int64(kk)),
		ob.Ints("strides", 2, 2), ob.Ints("pads", int64(p0), int64(p0), int64(p1), int64(p1)),
	}, n.Inputs[0], wn)
	return nil
}

// attention: single-head self-attention over the pixels, softmax over keys of qᵀk/√C,
// applied to v (kernels.AttentionForward).
func (e *emitter) attention(n ncsnpp.Node, in []int) error {
	if len(in) != 3 || in[0]%3 != 0 {
		return fmt.Errorf("attention of a %v input", in)
	}
	c := int64(in[0] / 3)
	h, w := int64(in[1]), int64(in[2])
	// [B, 3, C, N], then q, k, v = Gather of index 0, 1, 2 on axis 1 (Gather rather than a
	// three-way Split, whose output shapes the FLOP counter of infer/ort does not follow).
	qkv := e.op("Reshape", nil, n.Inputs[0], e.ints(0, 3, c, h*w))
	var qkvs [3]string
	for i := range qkvs {
		key := fmt.Sprint("index:", i)
		if e.consts[key] == "" {
			e.consts[key] = e.b.Int64("", nil, []int64{int64(i)})
		}
		qkvs[i] = e.op("Gather", []ob.Attr{ob.Int("axis", 1)}, qkv, e.consts[key])
	}
	q, k, v := qkvs[0], qkvs[1], qkvs[2]
	perm := []ob.Attr{ob.Ints("perm", 0, 2, 1)}
	// Scores [B, N (queries), N (keys)].
	sc := e.op("Mul", nil, e.op("MatMul", nil, e.op("Transpose", perm, q), k), e.scalar32(float32(1/math.Sqrt(float64(c)))))
	pr := e.op("Softmax", []ob.Attr{ob.Int("axis", -1)}, sc)
	o := e.op("MatMul", nil, v, e.op("Transpose", perm, pr)) // [B, C, N]
	e.final(n.Output, "Reshape", nil, o, e.ints(0, c, h, w))
	return nil
}
