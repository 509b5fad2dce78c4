package ort

import (
	"encoding/binary"
	"math"

	"scorelens/export/onnxpb"
)

// What countFLOPs counts, per node, at batch 1 (a multiply-add is 2 FLOPs):
//
//   - Conv: 2·N·M·(output pixels)·(C/group)·(kernel size), plus one per output for a bias;
//     ConvTranspose likewise over the input pixels.
//   - MatMul: 2·(batch)·M·K·N; Gemm: 2·M·K·N plus M·N with a C input.
//   - Elementwise (Add, Mul, Sigmoid, Exp, …): 1 per output element.
//   - Normalisations (Batch/Instance/Group/LayerNormalization): 5 per element (mean,
//     variance, centre, scale, shift); Softmax 3; reductions 1 per input element; pooling
//     kernel size per output.
//   - Data movement (Reshape, Transpose, Concat, Slice, Gather, Resize, …): 0.
//
// Shapes come from the graph inputs (batch 1, the image size of the conventions), the
// initialisers and Constant nodes, the value_info the exporter left in the graph, and
// propagation through the operators above. Nodes whose shapes stay unknown, and operators
// not listed, are reported as not counted.

var (
	unaryOps = set("Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs", "Erf", "Sin", "Cos",
		"Reciprocal", "Softplus", "Softsign", "LeakyRelu", "Elu", "Selu", "Celu", "Gelu", "HardSigmoid",
		"HardSwish", "Mish", "Floor", "Ceil", "Round", "Sign", "Not", "Clip", "ThresholdedRelu", "IsNaN", "IsInf")
	binaryOps = set("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "And", "Or", "Xor",
		"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Where", "PRelu", "Sum", "Mean")
	normOps   = set("BatchNormalization", "InstanceNormalization", "GroupNormalization", "LayerNormalization")
	reduceOps = set("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare",
		"ReduceL1", "ReduceL2", "ReduceLogSumExp")
	freeOps = set("Reshape", "Transpose", "Concat", "Slice", "Gather", "GatherElements", "Resize",
		"Upsample", "Identity", "Cast", "CastLike", "Squeeze", "Unsqueeze", "Flatten", "Shape", "Size",
		"Constant", "ConstantOfShape", "Expand", "Pad", "Split", "Dropout", "Range", "Tile",
		"DepthToSpace", "SpaceToDepth", "ScatterND", "ScatterElements", "Trilu")
)

func set(s ...string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

type shapeEnv struct {
	shape  map[string][]int64
	ints   map[string][]int64   // values of small int64 tensors (shapes, axes)
	floats map[string][]float32 // values of small float tensors (Resize scales)
}

// countFLOPs returns the FLOPs of one forward pass at batch 1, per operator type, and
// the operator types of the nodes it could not count.
func countFLOPs(g *onnxpb.GraphProto, c Conventions) (total int64, byOp map[string]int64, uncounted map[string]int) {
	e := &shapeEnv{shape: map[string][]int64{}, ints: map[string][]int64{}, floats: map[string][]float32{}}
	byOp, uncounted = map[string]int64{}, map[string]int{}
	batch := map[string]bool{}
	for _, in := range g.GetInput() {
		if d := in.GetType().GetTensorType().GetShape().GetDim(); len(d) > 0 && d[0].GetDimParam() != "" {
			batch[d[0].GetDimParam()] = true
		}
	}
	seed := func(v *onnxpb.ValueInfoProto) {
		s := v.GetType().GetTensorType().GetShape()
		if s == nil {
			return
		}
		var dims []int64
		for i, d := range s.GetDim() {
			switch {
			case d.GetDimParam() != "" && batch[d.GetDimParam()]:
				dims = append(dims, 1)
			case d.GetDimValue() > 0:
				dims = append(dims, d.GetDimValue())
			case d.GetDimValue() == 0 && d.GetDimParam() == "" && d.GetValue() != nil:
				dims = append(dims, 0)
			default:
				if i == 0 && len(s.GetDim()) > 0 && (v.GetName() == c.InputName || v.GetName() == c.TimeName) {
					dims = append(dims, 1)
					continue
				}
				return
			}
		}
		e.shape[v.GetName()] = dims
	}
	for _, v := range g.GetValueInfo() {
		seed(v)
	}
	for _, v := range g.GetOutput() {
		seed(v)
	}
	for _, v := range g.GetInput() {
		seed(v)
	}
	if c.Channels > 0 && c.Height > 0 && c.Width > 0 {
		e.shape[c.InputName] = []int64{1, int64(c.Channels), int64(c.Height), int64(c.Width)}
	}
	e.shape[c.TimeName] = []int64{1}
	for _, t := range g.GetInitializer() {
		e.constant(t.GetName(), t)
	}

	total, byOp, uncounted = e.count(g.GetNode())
	return total, byOp, uncounted
}

// count counts the FLOPs of nodes in order. An If counts as its costliest branch (an
// upper bound: a model of scorelens combine counts as both its networks, which it runs
// together only for a batch whose times straddle its switch).
func (e *shapeEnv) count(nodes []*onnxpb.NodeProto) (total int64, byOp map[string]int64, uncounted map[string]int) {
	byOp, uncounted = map[string]int64{}, map[string]int{}
	for _, n := range nodes {
		op := n.GetOpType()
		if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
			uncounted[n.GetDomain()+"."+op]++
			continue
		}
		if op == "If" {
			var best int64 = -1
			var bestOps map[string]int64
			var bestUn map[string]int
			for _, a := range n.GetAttribute() {
				if g := a.GetG(); g != nil {
					for _, init := range g.GetInitializer() {
						e.constant(init.GetName(), init)
					}
					t, b, u := e.count(g.GetNode())
					if len(g.GetOutput()) > 0 && len(n.GetOutput()) > 0 {
						e.shape[n.GetOutput()[0]] = e.shape[g.GetOutput()[0].GetName()]
					}
					if t > best {
						best, bestOps, bestUn = t, b, u
					}
				}
			}
			if best < 0 {
				uncounted[op]++
				continue
			}
			total += best
			for k, v := range bestOps {
				byOp[k] += v
			}
			for k, v := range bestUn {
				uncounted[k] += v
			}
			continue
		}
		f, ok := e.node(n)
		if !ok {
			uncounted[op]++
			continue
		}
		if f > 0 {
			byOp[op] += f
			total += f
		}
	}
	return total, byOp, uncounted
}

// node propagates shapes through n and counts its FLOPs. A malformed node (an axis or a
// permutation out of range, …) is not counted rather than stopping the count.
func (e *shapeEnv) node(n *onnxpb.NodeProto) (flops int64, ok bool) {
	defer func() {
		if recover() != nil {
			flops, ok = 0, false
		}
	}()
	ins := make([][]int64, len(n.GetInput()))
	for i, name := range n.GetInput() {
		ins[i] = e.shape[name]
	}
	outs := e.infer(n, ins)
	for i, name := range n.GetOutput() {
		if i < len(outs) && outs[i] != nil {
			e.shape[name] = outs[i]
		}
	}
	var out []int64
	if len(n.GetOutput()) > 0 {
		out = e.shape[n.GetOutput()[0]]
	}
	return nodeFLOPs(n, ins, out)
}

// constant records the shape and (small) values of a tensor known when loading.
func (e *shapeEnv) constant(name string, t *onnxpb.TensorProto) {
	e.shape[name] = append([]int64{}, t.GetDims()...)
	n := numel(t.GetDims())
	if n > 64 {
		return
	}
	raw := t.GetRawData()
	switch onnxpb.TensorProto_DataType(t.GetDataType()) {
	case onnxpb.TensorProto_INT64:
		v := t.GetInt64Data()
		if len(raw) == int(8*n) {
			v = make([]int64, n)
			for i := range v {
				v[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
		if int64(len(v)) == n {
			e.ints[name] = v
		}
	case onnxpb.TensorProto_FLOAT:
		v := t.GetFloatData()
		if len(raw) == int(4*n) {
			v = make([]float32, n)
			for i := range v {
				v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
		if int64(len(v)) == n {
			e.floats[name] = v
		}
	}
}

func attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func attrInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	if a := attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

func attrInts(n *onnxpb.NodeProto, name string) []int64 {
	if a := attr(n, name); a != nil {
		return a.GetInts()
	}
	return nil
}

func broadcast(shapes ...[]int64) []int64 {
	rank := 0
	for _, s := range shapes {
		if s == nil {
			return nil
		}
		rank = max(rank, len(s))
	}
	out := make([]int64, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			if d != 1 {
				if out[off+i] != 1 && out[off+i] != d {
					return nil
				}
				out[off+i] = d
			}
		}
	}
	return out
}

func normAxis(a int64, rank int) int {
	if a < 0 {
		a += int64(rank)
	}
	return int(a)
}

// infer returns the output shapes of n where it can (nil entries where not).
func (e *shapeEnv) infer(n *onnxpb.NodeProto, ins [][]int64) [][]int64 {
	op := n.GetOpType()
	in0 := func() []int64 {
		if len(ins) == 0 {
			return nil
		}
		return ins[0]
	}
	one := func(s []int64) [][]int64 { return [][]int64{s} }
	name := func(i int) string {
		if i < len(n.GetInput()) {
			return n.GetInput()[i]
		}
		return ""
	}
	switch {
	case op == "Constant":
		if a := attr(n, "value"); a != nil && a.GetT() != nil {
			e.constant(n.GetOutput()[0], a.GetT())
			return one(e.shape[n.GetOutput()[0]])
		}
		return nil
	case unaryOps[op], normOps[op], op == "Identity", op == "Cast", op == "CastLike", op == "Dropout",
		op == "Softmax", op == "LogSoftmax":
		if v, ok := e.ints[name(0)]; ok && (op == "Identity" || op == "Cast") {
			e.ints[n.GetOutput()[0]] = v
		}
		return one(in0())
	case binaryOps[op]:
		return one(broadcast(ins...))
	case op == "Conv", op == "AveragePool", op == "MaxPool", op == "LpPool":
		return one(convShape(n, ins))
	case op == "ConvTranspose":
		return one(convTransposeShape(n, ins))
	case op == "GlobalAveragePool", op == "GlobalMaxPool":
		x := in0()
		if x == nil {
			return nil
		}
		out := append([]int64{}, x...)
		for i := 2; i < len(out); i++ {
			out[i] = 1
		}
		return one(out)
	case op == "MatMul":
		if len(ins) < 2 {
			return nil
		}
		return one(matmulShape(ins[0], ins[1]))
	case op == "Gemm":
		if len(ins) < 2 || len(ins[0]) != 2 || len(ins[1]) != 2 {
			return nil
		}
		m, nn := ins[0][0], ins[1][1]
		if attrInt(n, "transA", 0) != 0 {
			m = ins[0][1]
		}
		if attrInt(n, "transB", 0) != 0 {
			nn = ins[1][0]
		}
		return one([]int64{m, nn})
	case reduceOps[op]:
		x := in0()
		if x == nil {
			return nil
		}
		axes, known := attrInts(n, "axes"), attr(n, "axes") != nil
		if v, ok := e.ints[name(1)]; ok {
			axes, known = v, true
		} else if name(1) != "" {
			return nil
		}
		keep := attrInt(n, "keepdims", 1) != 0
		red := map[int]bool{}
		for _, a := range axes {
			red[normAxis(a, len(x))] = true
		}
		if !known || len(axes) == 0 {
			if attrInt(n, "noop_with_empty_axes", 0) != 0 {
				return one(x)
			}
			for i := range x {
				red[i] = true
			}
		}
		out := []int64{} // a full reduction without keepdims is a scalar: known, rank 0
		for i, d := range x {
			switch {
			case !red[i]:
				out = append(out, d)
			case keep:
				out = append(out, 1)
			}
		}
		return one(out)
	case op == "Shape":
		x := in0()
		if x == nil {
			return nil
		}
		start, end := normAxis(attrInt(n, "start", 0), len(x)), len(x)
		if a := attr(n, "end"); a != nil {
			end = normAxis(a.GetI(), len(x))
		}
		start, end = min(max(start, 0), len(x)), min(max(end, 0), len(x))
		if start > end {
			start = end
		}
		e.ints[n.GetOutput()[0]] = append([]int64{}, x[start:end]...)
		return one([]int64{int64(end - start)})
	case op == "Reshape":
		x, shp := in0(), e.ints[name(1)]
		if x == nil || shp == nil {
			return nil
		}
		out := append([]int64{}, shp...)
		infer := -1
		known := int64(1)
		for i, d := range out {
			switch {
			case d == 0 && attrInt(n, "allowzero", 0) == 0:
				if i >= len(x) {
					return nil
				}
				out[i] = x[i]
				known *= out[i]
			case d == -1:
				infer = i
			default:
				known *= d
			}
		}
		if infer >= 0 {
			if known == 0 {
				return nil
			}
			out[infer] = numel(x) / known
		}
		return one(out)
	case op == "Flatten":
		x := in0()
		if x == nil {
			return nil
		}
		a := normAxis(attrInt(n, "axis", 1), len(x))
		return one([]int64{numel(x[:a]), numel(x[a:])})
	case op == "Transpose":
		x := in0()
		if x == nil {
			return nil
		}
		perm := attrInts(n, "perm")
		if perm == nil {
			for i := len(x) - 1; i >= 0; i-- {
				perm = append(perm, int64(i))
			}
		}
		out := make([]int64, len(perm))
		for i, p := range perm {
			out[i] = x[p]
		}
		return one(out)
	case op == "Concat":
		var out []int64
		var vals []int64
		allInts := true
		for i, s := range ins {
			if s == nil {
				return nil
			}
			if v, ok := e.ints[name(i)]; ok {
				vals = append(vals, v...)
			} else {
				allInts = false
			}
			if out == nil {
				out = append([]int64{}, s...)
				continue
			}
			a := normAxis(attrInt(n, "axis", 0), len(s))
			out[a] += s[a]
		}
		if allInts {
			e.ints[n.GetOutput()[0]] = vals
		}
		return one(out)
	case op == "Unsqueeze", op == "Squeeze":
		x := in0()
		if x == nil {
			return nil
		}
		axes := attrInts(n, "axes")
		if v, ok := e.ints[name(1)]; ok {
			axes = v
		} else if name(1) != "" {
			return nil
		}
		if v, ok := e.ints[name(0)]; ok {
			e.ints[n.GetOutput()[0]] = v
		}
		if op == "Squeeze" {
			drop := map[int]bool{}
			for _, a := range axes {
				drop[normAxis(a, len(x))] = true
			}
			var out []int64
			for i, d := range x {
				if (len(axes) == 0 && d == 1) || drop[i] {
					continue
				}
				out = append(out, d)
			}
			return one(out)
		}
		rank := len(x) + len(axes)
		ins := map[int]bool{}
		for _, a := range axes {
			ins[normAxis(a, rank)] = true
		}
		out := make([]int64, 0, rank)
		k := 0
		for i := 0; i < rank; i++ {
			if ins[i] {
				out = append(out, 1)
			} else if k < len(x) {
				out = append(out, x[k])
				k++
			}
		}
		return one(out)
	case op == "Gather":
		x, idx := in0(), []int64(nil)
		if len(ins) > 1 {
			idx = ins[1]
		}
		if x == nil || idx == nil {
			return nil
		}
		a := normAxis(attrInt(n, "axis", 0), len(x))
		out := append(append(append([]int64{}, x[:a]...), idx...), x[a+1:]...)
		if data, ok := e.ints[name(0)]; ok && len(x) == 1 {
			if iv, ok := e.ints[name(1)]; ok {
				var v []int64
				for _, i := range iv {
					if i < 0 {
						i += int64(len(data))
					}
					if i >= 0 && int(i) < len(data) {
						v = append(v, data[i])
					}
				}
				if len(v) == len(iv) {
					e.ints[n.GetOutput()[0]] = v
				}
			}
		}
		return one(out)
	case op == "Expand":
		x, shp := in0(), e.ints[name(1)]
		if x == nil || shp == nil {
			return nil
		}
		return one(broadcast(x, shp))
	case op == "Resize", op == "Upsample":
		x := in0()
		if x == nil {
			return nil
		}
		if sizes, ok := e.ints[name(3)]; ok && len(sizes) == len(x) {
			return one(sizes)
		}
		si := 2
		if op == "Upsample" {
			si = 1
		}
		if sc, ok := e.floats[name(si)]; ok && len(sc) == len(x) {
			out := make([]int64, len(x))
			for i := range x {
				out[i] = int64(math.Floor(float64(x[i]) * float64(sc[i])))
			}
			return one(out)
		}
		return nil
	case op == "Pad":
		x, pads := in0(), e.ints[name(1)]
		if pads == nil {
			pads = attrInts(n, "pads")
		}
		if x == nil || len(pads) != 2*len(x) || name(3) != "" {
			return nil
		}
		out := append([]int64{}, x...)
		for i := range out {
			out[i] += pads[i] + pads[i+len(x)]
		}
		return one(out)
	}
	return nil
}

func matmulShape(a, b []int64) []int64 {
	if a == nil || b == nil || len(a) == 0 || len(b) == 0 {
		return nil
	}
	a1, b1 := len(a) == 1, len(b) == 1
	if a1 {
		a = []int64{1, a[0]}
	}
	if b1 {
		b = []int64{b[0], 1}
	}
	if a[len(a)-1] != b[len(b)-2] {
		return nil
	}
	batch := broadcast(a[:len(a)-2], b[:len(b)-2])
	if batch == nil {
		return nil
	}
	out := append(batch, a[len(a)-2], b[len(b)-1])
	if a1 {
		out = append(out[:len(out)-2], out[len(out)-1])
	}
	if b1 {
		out = out[:len(out)-1]
	}
	return out
}

// convShape is the output shape of Conv and of the pooling operators.
func convShape(n *onnxpb.NodeProto, ins [][]int64) []int64 {
	if len(ins) == 0 || ins[0] == nil || len(ins[0]) < 3 {
		return nil
	}
	x := ins[0]
	k := len(x) - 2
	kernel := attrInts(n, "kernel_shape")
	outC := x[1]
	if n.GetOpType() == "Conv" {
		if len(ins) < 2 || ins[1] == nil || len(ins[1]) != len(x) {
			return nil
		}
		outC = ins[1][0]
		if kernel == nil {
			kernel = ins[1][2:]
		}
	}
	if len(kernel) != k {
		return nil
	}
	strides, dil, pads := attrInts(n, "strides"), attrInts(n, "dilations"), attrInts(n, "pads")
	autoPad := ""
	if a := attr(n, "auto_pad"); a != nil {
		autoPad = string(a.GetS())
	}
	out := []int64{x[0], outC}
	for i := 0; i < k; i++ {
		s, d := int64(1), int64(1)
		if i < len(strides) {
			s = strides[i]
		}
		if i < len(dil) {
			d = dil[i]
		}
		var o int64
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			o = (x[i+2] + s - 1) / s
		default:
			var pb, pe int64
			if len(pads) == 2*k && autoPad != "VALID" {
				pb, pe = pads[i], pads[i+k]
			}
			o = (x[i+2]+pb+pe-d*(kernel[i]-1)-1)/s + 1
		}
		if o <= 0 {
			return nil
		}
		out = append(out, o)
	}
	return out
}

func convTransposeShape(n *onnxpb.NodeProto, ins [][]int64) []int64 {
	if len(ins) < 2 || ins[0] == nil || ins[1] == nil || len(ins[0]) < 3 || len(ins[1]) != len(ins[0]) {
		return nil
	}
	x, w := ins[0], ins[1]
	k := len(x) - 2
	group := attrInt(n, "group", 1)
	out := []int64{x[0], w[1] * group}
	if os := attrInts(n, "output_shape"); len(os) == k {
		return append(out, os...)
	}
	strides, dil, pads, opad := attrInts(n, "strides"), attrInts(n, "dilations"), attrInts(n, "pads"), attrInts(n, "output_padding")
	for i := 0; i < k; i++ {
		s, d, op := int64(1), int64(1), int64(0)
		if i < len(strides) {
			s = strides[i]
		}
		if i < len(dil) {
			d = dil[i]
		}
		if i < len(opad) {
			op = opad[i]
		}
		var pb, pe int64
		if len(pads) == 2*k {
			pb, pe = pads[i], pads[i+k]
		}
		out = append(out, s*(x[i+2]-1)+op+d*(w[i+2]-1)+1-pb-pe)
	}
	return out
}

// nodeFLOPs counts one node (see the comment at the top of the file); ok is false when
// the shapes it needs are unknown or the operator is not one it knows.
func nodeFLOPs(n *onnxpb.NodeProto, ins [][]int64, out []int64) (int64, bool) {
	op := n.GetOpType()
	switch {
	case freeOps[op]:
		return 0, true
	case op == "Conv":
		if out == nil || len(ins) < 2 || ins[0] == nil || ins[1] == nil {
			return 0, false
		}
		w := ins[1]
		f := 2 * numel(out) * numel(w[1:])
		if len(ins) > 2 && n.GetInput()[2] != "" {
			f += numel(out)
		}
		return f, true
	case op == "ConvTranspose":
		if len(ins) < 2 || ins[0] == nil || ins[1] == nil || out == nil {
			return 0, false
		}
		x, w := ins[0], ins[1]
		f := 2 * numel(x) * numel(w[1:])
		if len(ins) > 2 && n.GetInput()[2] != "" {
			f += numel(out)
		}
		return f, true
	case op == "MatMul":
		if out == nil || len(ins) < 2 || ins[0] == nil {
			return 0, false
		}
		return 2 * numel(out) * ins[0][len(ins[0])-1], true
	case op == "Gemm":
		if out == nil || len(ins) < 2 || ins[0] == nil {
			return 0, false
		}
		kdim := ins[0][1]
		if attrInt(n, "transA", 0) != 0 {
			kdim = ins[0][0]
		}
		f := 2 * numel(out) * kdim
		if len(ins) > 2 && n.GetInput()[2] != "" {
			f += numel(out)
		}
		return f, true
	case unaryOps[op], binaryOps[op]:
		if out == nil {
			return 0, false
		}
		return numel(out), true
	case normOps[op]:
		if out == nil {
			return 0, false
		}
		return 5 * numel(out), true
	case op == "Softmax", op == "LogSoftmax":
		if out == nil {
			return 0, false
		}
		return 3 * numel(out), true
	case reduceOps[op], op == "GlobalAveragePool", op == "GlobalMaxPool":
		if len(ins) == 0 || ins[0] == nil {
			return 0, false
		}
		return numel(ins[0]), true
	case op == "AveragePool", op == "MaxPool", op == "LpPool":
		if out == nil {
			return 0, false
		}
		return numel(out) * numel(attrInts(n, "kernel_shape")), true
	}
	return 0, false
}
