package onnxbuild

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"google.golang.org/protobuf/proto"

	"scorelens/export/onnxpb"
)

// DataType is an ONNX tensor element type.
type DataType = onnxpb.TensorProto_DataType

// The element types the builder writes initialisers of (any DataType may be used for
// inputs and outputs).
const (
	Float32 = onnxpb.TensorProto_FLOAT
	Float64 = onnxpb.TensorProto_DOUBLE
	Int64   = onnxpb.TensorProto_INT64
)

// Producer is written into every model's producer_name.
const Producer = "scorelens"

// Dim is one dimension of a graph input or output: a fixed size or a named dynamic axis.
type Dim struct {
	Value int64  // the size, when Param is empty
	Param string // the name of a dynamic axis, e.g. "batch"
}

// Fixed returns a dimension of fixed size n.
func Fixed(n int64) Dim { return Dim{Value: n} }

// Dynamic returns a dynamic dimension named name (a symbolic axis such as the batch).
func Dynamic(name string) Dim { return Dim{Param: name} }

// Builder accumulates one ONNX graph. The zero value is not usable; call New.
type Builder struct {
	name    string
	opset   int64
	doc     string
	inputs  []*onnxpb.ValueInfoProto
	outputs []*onnxpb.ValueInfoProto
	inits   []*onnxpb.TensorProto
	nodes   []*onnxpb.NodeProto
	meta    map[string]string
	version string
	used    map[string]bool // every name handed out or declared, for Fresh
	counter int
}

// New returns a builder for a graph called name in the standard domain at the given
// opset, which must be at least 17 (the default when opset is 0).
func New(name string, opset int64) *Builder {
	if opset == 0 {
		opset = 17
	}
	return &Builder{name: name, opset: opset, meta: map[string]string{}, used: map[string]bool{}}
}

// SetDoc sets the graph's doc_string.
func (b *Builder) SetDoc(doc string) { b.doc = doc }

// SetProducerVersion sets the model's producer_version (the software version).
func (b *Builder) SetProducerVersion(v string) { b.version = v }

// Metadata sets one metadata_props entry; a second call with the same key replaces it.
func (b *Builder) Metadata(key, value string) { b.meta[key] = value }

// Fresh returns a name starting with prefix that nothing in the graph uses yet.
func (b *Builder) Fresh(prefix string) string {
	for {
		b.counter++
		n := fmt.Sprintf("%s_%d", prefix, b.counter)
		if !b.used[n] {
			b.used[n] = true
			return n
		}
	}
}

func valueInfo(name string, dt DataType, dims []Dim) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		if d.Param != "" {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
		} else {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(dt)),
			Shape:    shape,
		}}},
	}
}

// Input declares a graph input of element type dt and the given dimensions (none: a
// scalar).
func (b *Builder) Input(name string, dt DataType, dims ...Dim) string {
	b.used[name] = true
	b.inputs = append(b.inputs, valueInfo(name, dt, dims))
	return name
}

// Output declares a graph output; some node must produce it.
func (b *Builder) Output(name string, dt DataType, dims ...Dim) {
	b.outputs = append(b.outputs, valueInfo(name, dt, dims))
}

func size(dims []int64) int {
	n := 1
	for _, d := range dims {
		n *= int(d)
	}
	return n
}

// Float32 adds a float32 initialiser (row-major data of shape dims) and returns its name.
// An empty name gets a fresh one.
func (b *Builder) Float32(name string, dims []int64, data []float32) string {
	if size(dims) != len(data) {
		panic(fmt.Sprintf("onnxbuild: initialiser %q has %d values for shape %v", name, len(data), dims))
	}
	return b.addInit(name, &onnxpb.TensorProto{
		Dims: append([]int64(nil), dims...), DataType: proto.Int32(int32(Float32)),
		FloatData: append([]float32(nil), data...),
	})
}

// Float64 adds a float64 initialiser and returns its name.
func (b *Builder) Float64(name string, dims []int64, data []float64) string {
	if size(dims) != len(data) {
		panic(fmt.Sprintf("onnxbuild: initialiser %q has %d values for shape %v", name, len(data), dims))
	}
	return b.addInit(name, &onnxpb.TensorProto{
		Dims: append([]int64(nil), dims...), DataType: proto.Int32(int32(Float64)),
		DoubleData: append([]float64(nil), data...),
	})
}

// Int64 adds an int64 initialiser (shapes, axes, …) and returns its name.
func (b *Builder) Int64(name string, dims []int64, data []int64) string {
	if size(dims) != len(data) {
		panic(fmt.Sprintf("onnxbuild: initialiser %q has %d values for shape %v", name, len(data), dims))
	}
	return b.addInit(name, &onnxpb.TensorProto{
		Dims: append([]int64(nil), dims...), DataType: proto.Int32(int32(Int64)),
		Int64Data: append([]int64(nil), data...),
	})
}

// Scalar adds a float32 scalar (rank 0) initialiser with a fresh name and returns it.
func (b *Builder) Scalar(v float32) string { return b.Float32("", nil, []float32{v}) }

func (b *Builder) addInit(name string, t *onnxpb.TensorProto) string {
	if name == "" {
		name = b.Fresh("const")
	}
	b.used[name] = true
	t.Name = proto.String(name)
	b.inits = append(b.inits, t)
	return name
}

// Attr is a node attribute; make one with Int, Ints, Float, Floats or String.
type Attr = *onnxpb.AttributeProto

// Int returns an integer attribute.
func Int(name string, v int64) Attr {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// Ints returns an integer-list attribute.
func Ints(name string, v ...int64) Attr {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

// Float returns a float attribute.
func Float(name string, v float32) Attr {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// Floats returns a float-list attribute.
func Floats(name string, v ...float32) Attr {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOATS.Enum(), Floats: v}
}

// String returns a string attribute.
func String(name, v string) Attr {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// Node appends a node of operator op (standard domain) reading inputs and writing outputs.
// An empty input name is an omitted optional input.
func (b *Builder) Node(op string, inputs, outputs []string, attrs ...Attr) {
	for _, o := range outputs {
		b.used[o] = true
	}
	b.nodes = append(b.nodes, &onnxpb.NodeProto{
		Name:      proto.String(b.Fresh(op)),
		OpType:    proto.String(op),
		Input:     append([]string(nil), inputs...),
		Output:    append([]string(nil), outputs...),
		Attribute: attrs,
	})
}

// Op appends a node with one output, named freshly after op, and returns that name.
func (b *Builder) Op(op string, attrs []Attr, inputs ...string) string {
	out := b.Fresh(op)
	b.Node(op, inputs, []string{out}, attrs...)
	return out
}

// irVersion returns the IR version that goes with an opset of the standard domain.
func irVersion(opset int64) int64 {
	switch {
	case opset <= 18:
		return 8
	case opset <= 20:
		return 9
	case opset <= 22:
		return 10
	default:
		return 11
	}
}

// check verifies that the graph is well formed (see the package documentation).
func (b *Builder) check() error {
	if b.opset < 17 {
		return fmt.Errorf("opset %d is older than 17, the minimum of the score-model contract", b.opset)
	}
	defined := map[string]string{}
	for _, in := range b.inputs {
		if _, dup := defined[in.GetName()]; dup {
			return fmt.Errorf("graph input %q is declared twice", in.GetName())
		}
		defined[in.GetName()] = "graph input"
	}
	for _, t := range b.inits {
		if _, dup := defined[t.GetName()]; dup {
			return fmt.Errorf("initialiser %q reuses a name already defined", t.GetName())
		}
		defined[t.GetName()] = "initialiser"
	}
	for _, n := range b.nodes {
		for _, in := range n.Input {
			if in == "" {
				continue
			}
			if _, ok := defined[in]; !ok {
				return fmt.Errorf("node %s (%s) reads %q, which no earlier node, input or initialiser defines", n.GetName(), n.GetOpType(), in)
			}
		}
		for _, out := range n.Output {
			if what, dup := defined[out]; dup {
				return fmt.Errorf("node %s (%s) writes %q, already defined as a %s", n.GetName(), n.GetOpType(), out, what)
			}
			defined[out] = "node output"
		}
	}
	if len(b.outputs) == 0 {
		return errors.New("graph has no outputs")
	}
	for _, o := range b.outputs {
		if _, ok := defined[o.GetName()]; !ok {
			return fmt.Errorf("graph output %q is not produced by any node", o.GetName())
		}
	}
	return nil
}

// Model checks the graph and returns it as an ONNX ModelProto.
func (b *Builder) Model() (*onnxpb.ModelProto, error) {
	if err := b.check(); err != nil {
		return nil, fmt.Errorf("onnx graph %q: %w", b.name, err)
	}
	keys := make([]string, 0, len(b.meta))
	for k := range b.meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var props []*onnxpb.StringStringEntryProto
	for _, k := range keys {
		props = append(props, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(b.meta[k])})
	}
	m := &onnxpb.ModelProto{
		IrVersion:       proto.Int64(irVersion(b.opset)),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(b.opset)}},
		ProducerName:    proto.String(Producer),
		ProducerVersion: proto.String(b.version),
		MetadataProps:   props,
		Graph: &onnxpb.GraphProto{
			Name:        proto.String(b.name),
			Node:        b.nodes,
			Initializer: b.inits,
			Input:       b.inputs,
			Output:      b.outputs,
		},
	}
	if b.doc != "" {
		m.Graph.DocString = proto.String(b.doc)
	}
	return m, nil
}

// Marshal checks the graph and returns the serialised model.
func (b *Builder) Marshal() ([]byte, error) {
	m, err := b.Model()
	if err != nil {
		return nil, err
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("could not serialise onnx graph %q: %w", b.name, err)
	}
	return data, nil
}

// WriteFile checks the graph and writes the model to path atomically (a temporary file in
// the same directory, fsync, rename).
func (b *Builder) WriteFile(path string) error {
	data, err := b.Marshal()
	if err != nil {
		return err
	}
	return writeAtomic(path, data)
}

// WriteBytes writes a serialised model to path atomically, as WriteFile does.
func WriteBytes(path string, data []byte) error { return writeAtomic(path, data) }

func writeAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	// CreateTemp makes the file 0600; a model is for others to read (a shared cluster folder).
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	return nil
}
