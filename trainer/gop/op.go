package gop

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// kernel is what each operation implements; the wrapper op supplies the Gorgonia plumbing.
type kernel interface {
	// name is the operation's printed form; it includes every attribute (it is hashed).
	name() string
	// dims gives the ranks of the inputs and of the output (0 for a scalar).
	dims() (in []int, out int)
	// shape computes the output shape, panicking on a mismatch.
	shape(in []tensor.Shape) tensor.Shape
	run32(y []float32, in [][]float32, sh []tensor.Shape)
	run64(y []float64, in [][]float64, sh []tensor.Shape)
}

// differentiable kernels also give the gradient nodes of their inputs.
type differentiable interface {
	diffWRT() []bool
	grad(in G.Nodes, out, dy *G.Node) (G.Nodes, error)
}

// op adapts a kernel to gorgonia.Op and gorgonia.SDOp.
type op struct {
	k   kernel
	out *tensor.Dense // owned output, reused while dtype and shape stay the same
}

var (
	_ G.Op   = (*op)(nil)
	_ G.SDOp = (*op)(nil)
)

func apply(k kernel, in ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(&op{k: k}, in...)
	if err != nil {
		return nil, fmt.Errorf("could not apply %s: %w", k.name(), err)
	}
	return n, nil
}

func (o *op) Arity() int { in, _ := o.k.dims(); return len(in) }

func tensorType(d int) hm.Type {
	if d == 0 {
		return hm.TypeVariable('a')
	}
	return G.TensorType{Dims: d, Of: hm.TypeVariable('a')}
}

func (o *op) Type() hm.Type {
	in, out := o.k.dims()
	ts := make([]hm.Type, 0, len(in)+1)
	for _, d := range in {
		ts = append(ts, tensorType(d))
	}
	ts = append(ts, tensorType(out))
	return hm.NewFnType(ts...)
}

func (o *op) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	sh := make([]tensor.Shape, len(ds))
	for i, d := range ds {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("gop: %s: input %d has no shape", o.k.name(), i)
		}
		sh[i] = s
	}
	return o.k.shape(sh), nil
}

func shapeOf(v G.Value) tensor.Shape {
	if s := v.Shape(); len(s) > 0 {
		return s
	}
	return tensor.ScalarShape()
}

func f32s(v G.Value) []float32 {
	switch d := v.Data().(type) {
	case []float32:
		return d
	case float32:
		return []float32{d}
	}
	panic(fmt.Sprintf("gop: value of type %T is not float32", v.Data()))
}

func f64s(v G.Value) []float64 {
	switch d := v.Data().(type) {
	case []float64:
		return d
	case float64:
		return []float64{d}
	}
	panic(fmt.Sprintf("gop: value of type %T is not float64", v.Data()))
}

func (o *op) Do(vs ...G.Value) (G.Value, error) {
	if len(vs) != o.Arity() {
		return nil, fmt.Errorf("gop: %s takes %d inputs, got %d", o.k.name(), o.Arity(), len(vs))
	}
	sh := make([]tensor.Shape, len(vs))
	dt := vs[0].Dtype()
	for i, v := range vs {
		sh[i] = shapeOf(v)
		if v.Dtype() != dt {
			return nil, fmt.Errorf("gop: %s: mixed dtypes %v and %v", o.k.name(), dt, v.Dtype())
		}
	}
	os := o.k.shape(sh)
	_, outDims := o.k.dims()
	if outDims == 0 {
		switch dt {
		case tensor.Float32:
			y := []float32{0}
			in := make([][]float32, len(vs))
			for i, v := range vs {
				in[i] = f32s(v)
			}
			o.k.run32(y, in, sh)
			return G.NewF32(y[0]), nil
		case tensor.Float64:
			y := []float64{0}
			in := make([][]float64, len(vs))
			for i, v := range vs {
				in[i] = f64s(v)
			}
			o.k.run64(y, in, sh)
			return G.NewF64(y[0]), nil
		}
		return nil, fmt.Errorf("gop: %s: unsupported dtype %v", o.k.name(), dt)
	}
	if o.out == nil || o.out.Dtype() != dt || !o.out.Shape().Eq(os) {
		o.out = tensor.New(tensor.Of(dt), tensor.WithShape(os...))
	}
	switch dt {
	case tensor.Float32:
		in := make([][]float32, len(vs))
		for i, v := range vs {
			in[i] = f32s(v)
		}
		o.k.run32(o.out.Data().([]float32), in, sh)
	case tensor.Float64:
		in := make([][]float64, len(vs))
		for i, v := range vs {
			in[i] = f64s(v)
		}
		o.k.run64(o.out.Data().([]float64), in, sh)
	default:
		return nil, fmt.Errorf("gop: %s: unsupported dtype %v", o.k.name(), dt)
	}
	return o.out, nil
}

func (o *op) ReturnsPtr() bool     { return false }
func (o *op) CallsExtern() bool    { return false }
func (o *op) OverwritesInput() int { return -1 }
func (o *op) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "scorelens.gop.%s", o.k.name())
}
func (o *op) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}
func (o *op) String() string { return o.k.name() }

func (o *op) DiffWRT(n int) []bool {
	if d, ok := o.k.(differentiable); ok {
		return d.diffWRT()
	}
	return make([]bool, n)
}

func (o *op) SymDiff(in G.Nodes, out, dy *G.Node) (G.Nodes, error) {
	d, ok := o.k.(differentiable)
	if !ok {
		return nil, fmt.Errorf("gop: %s is not differentiable", o.k.name())
	}
	return d.grad(in, out, dy)
}
