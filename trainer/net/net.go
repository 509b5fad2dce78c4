package net

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"scorelens/trainer/gop"
	"scorelens/trainer/ncsnpp"
)

// Net is one NCSN++ graph at a fixed batch size.
type Net struct {
	Desc  *ncsnpp.Graph
	Batch int
	Graph *G.ExprGraph

	// Input nodes and their bound tensors ([B,C,H,W] and [B]); Z is the noise of the DSM
	// loss (training graphs only).
	XNode, TNode, ZNode *G.Node
	X, T, Z             *tensor.Dense

	// Params holds one node per description parameter (Desc.Params order), bound to the
	// tensors Values.
	Params []*G.Node
	Values []*tensor.Dense

	Score *G.Node // the score s_θ(x, t)
	Raw   *G.Node // σ(t)·s_θ(x, t), the output before division by σ
	// Tensors holds the node of every tensor the description names (inputs and node
	// outputs), for looking inside a trained network.
	Tensors map[string]*G.Node
	Loss    *G.Node // the training objective, the (weighted) DSM loss (training graphs only)
	DSM     *G.Node // the plain DSM loss, for the loss log (Loss itself without a weighting)
	// Grads[i] is ∂Loss/∂Params[i] for trainable parameters, nil otherwise.
	Grads []*G.Node
}

// Option configures New.
type Option func(*options)

type options struct {
	weight float64
	block  int
}

// WithLossWeight trains on the DSM loss under the norm I + beta·P, P the projection onto
// images constant on block×block tiles (gop.WeightedDSMLoss): errors of the tiles' mean
// levels cost 1+beta times more, without moving the loss's minimiser.
func WithLossWeight(beta float64, block int) Option {
	return func(o *options) { o.weight, o.block = beta, block }
}

// New builds the network of desc at batch size batch with element type dt (Float32 for
// training, Float64 for gradient checks); with train it adds the DSM loss and gradients.
// Parameters start at zero: copy values into Values (see SetParams).
func New(desc *ncsnpp.Graph, batch int, dt tensor.Dtype, train bool, opts ...Option) (*Net, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if batch < 1 {
		panic("net: batch size < 1")
	}
	if dt != tensor.Float32 && dt != tensor.Float64 {
		panic("net: element type must be Float32 or Float64")
	}
	g := G.NewGraph()
	n := &Net{Desc: desc, Batch: batch, Graph: g}
	shape := func(s []int) tensor.Shape { return append(tensor.Shape{batch}, s...) }
	input := func(name string, s tensor.Shape) (*G.Node, *tensor.Dense, error) {
		v := tensor.New(tensor.Of(dt), tensor.WithShape(s...))
		node := G.NewTensor(g, dt, len(s), G.WithShape(s...), G.WithName(name))
		if err := G.Let(node, v); err != nil {
			return nil, nil, fmt.Errorf("could not bind %s: %w", name, err)
		}
		return node, v, nil
	}
	var err error
	if n.XNode, n.X, err = input(ncsnpp.InputX, shape(desc.Shapes[ncsnpp.InputX])); err != nil {
		return nil, err
	}
	if n.TNode, n.T, err = input(ncsnpp.InputT, tensor.Shape{batch}); err != nil {
		return nil, err
	}
	byName := map[string]*G.Node{}
	for _, p := range desc.Params {
		node, v, err := input(p.Name, tensor.Shape(append([]int(nil), p.Shape...)))
		if err != nil {
			return nil, err
		}
		n.Params = append(n.Params, node)
		n.Values = append(n.Values, v)
		byName[p.Name] = node
	}
	t := map[string]*G.Node{ncsnpp.InputX: n.XNode, ncsnpp.InputT: n.TNode}
	for _, op := range desc.Nodes {
		in := make([]*G.Node, len(op.Inputs))
		for i, name := range op.Inputs {
			if in[i] = t[name]; in[i] == nil {
				panic("net: description uses unknown tensor " + name)
			}
		}
		pr := make([]*G.Node, len(op.Params))
		for i, name := range op.Params {
			pr[i] = byName[name]
		}
		var out *G.Node
		switch op.Op {
		case ncsnpp.OpLogSigma:
			out, err = gop.LogSigma(in[0], op.SigmaMin, op.SigmaMax)
		case ncsnpp.OpFourier:
			out, err = gop.Fourier(in[0], pr[0])
		case ncsnpp.OpDense:
			out, err = gop.Dense(in[0], pr[0], pr[1])
		case ncsnpp.OpSiLU:
			out, err = gop.SiLU(in[0])
		case ncsnpp.OpConv:
			out, err = gop.Conv2D(in[0], pr[0], pr[1], op.Pad)
		case ncsnpp.OpGroupNorm:
			out, err = gop.GroupNorm(in[0], pr[0], pr[1], op.Groups, op.Eps)
		case ncsnpp.OpChannelBias:
			out, err = gop.ChannelBias(in[0], in[1])
		case ncsnpp.OpAddScale:
			out, err = gop.AddScale(in[0], in[1], op.Scale)
		case ncsnpp.OpFIRUp:
			out, err = gop.FIRUp(in[0], op.Taps)
		case ncsnpp.OpFIRDown:
			out, err = gop.FIRDown(in[0], op.Taps)
		case ncsnpp.OpAttention:
			out, err = gop.Attention(in[0])
		case ncsnpp.OpConcat:
			out, err = gop.Concat(in[0], in[1])
		case ncsnpp.OpDivExp:
			out, err = gop.DivExp(in[0], in[1])
		case ncsnpp.OpScale:
			out, err = gop.Scale(in[0], op.Scale)
		case ncsnpp.OpSoftPool:
			out, err = gop.SoftPool(in[0], in[1])
		case ncsnpp.OpMul:
			out, err = gop.Mul(in[0], in[1])
		case ncsnpp.OpPixelBias:
			out, err = gop.PixelBias(in[0], pr[0])
		default:
			panic("net: unknown operation " + string(op.Op))
		}
		if err != nil {
			return nil, fmt.Errorf("could not build %s: %w", op.Output, err)
		}
		if !out.Shape().Eq(shape(op.Shape)) {
			panic(fmt.Sprintf("net: %s has shape %v, description says %v", op.Output, out.Shape(), shape(op.Shape)))
		}
		t[op.Output] = out
	}
	n.Score, n.Raw, n.Tensors = t[desc.Score], t[desc.Raw], t
	if !train {
		return n, nil
	}
	if n.ZNode, n.Z, err = input("z", n.X.Shape().Clone()); err != nil {
		return nil, err
	}
	if n.DSM, err = gop.DSMLoss(n.Raw, n.ZNode); err != nil {
		return nil, fmt.Errorf("could not build the loss: %w", err)
	}
	n.Loss = n.DSM
	if o.weight != 0 {
		if n.Loss, err = gop.WeightedDSMLoss(n.Raw, n.ZNode, o.weight, o.block); err != nil {
			return nil, fmt.Errorf("could not build the weighted loss: %w", err)
		}
	}
	var wrt G.Nodes
	for i, p := range desc.Params {
		if p.Trainable {
			wrt = append(wrt, n.Params[i])
		}
	}
	grads, err := G.Grad(n.Loss, wrt...)
	if err != nil {
		return nil, fmt.Errorf("could not differentiate the loss: %w", err)
	}
	n.Grads = make([]*G.Node, len(desc.Params))
	j := 0
	for i, p := range desc.Params {
		if p.Trainable {
			n.Grads[i] = grads[j]
			j++
		}
	}
	return n, nil
}

// SetParams copies parameter values (Desc.Params order, as from ncsnpp.Graph.Init) into
// the bound tensors.
func (n *Net) SetParams(vals [][]float32) {
	if len(vals) != len(n.Values) {
		panic("net: parameter count mismatch")
	}
	for i, v := range vals {
		if len(v) != n.Values[i].Shape().TotalSize() {
			panic("net: parameter " + n.Desc.Params[i].Name + " length mismatch")
		}
		switch d := n.Values[i].Data().(type) {
		case []float32:
			copy(d, v)
		case []float64:
			for j, x := range v {
				d[j] = float64(x)
			}
		}
	}
}

// Machine returns a TapeMachine for the graph.
func (n *Net) Machine() G.VM { return G.NewTapeMachine(n.Graph) }
