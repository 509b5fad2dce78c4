package export

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"scorelens/export/onnxbuild"
	"scorelens/export/onnxpb"
	"scorelens/infer/ort"
)

// Metadata of a combined model (Combine) and of an expert's export.
const (
	// MetaSwitchSigma is the noise level, in model units, below which a combined model
	// runs its expert.
	MetaSwitchSigma = "scorelens.switch_sigma"
	// MetaBlendSigma and MetaBlendWeight describe a combined model's blend band
	// (CombineOptions.BlendSigma): between the switch and this σ (model units) its score is
	// the weighted mean of the expert's (weight MetaBlendWeight) and the base's.
	MetaBlendSigma  = "scorelens.blend_sigma"
	MetaBlendWeight = "scorelens.blend_weight"
	// MetaTrainedSigmaMax is the largest noise level, in model units, that a low-noise
	// expert was trained on (train --train-sigma-max); its scores above it are untrained.
	// The sampler refuses such a model on its own.
	MetaTrainedSigmaMax = ort.MetaTrainedSigmaMax
)

// CombineOptions configure Combine.
type CombineOptions struct {
	// SwitchSigma is the noise level (model units) below which the expert's score is used.
	SwitchSigma float64
	// BlendSigma, when above SwitchSigma, adds a band SwitchSigma ≤ σ(t) < BlendSigma where
	// the score is BlendWeight·s_expert + (1 − BlendWeight)·s_base: an ensemble of the two
	// networks, which runs both there. Two denoisers whose errors are partly independent
	// average to a better one (the galaxy prior's at σ 0.24: models/galaxies64.md). 0: none.
	BlendSigma float64
	// BlendWeight is the expert's weight in the blend band; 0 means 1/2. Above 1 the band
	// extrapolates from the base through the expert, w·s_expert − (w − 1)·s_base: the
	// autoguidance of Karras et al. 2024 ("Guiding a diffusion model with a bad version of
	// itself"), with the base as the weaker model, which sharpens what the expert does
	// better; at most 10.
	BlendWeight float64
	// Version is written as the model's producer_version.
	Version string
	// Library is the ONNX Runtime library for the check of the written model ("": found as
	// for sampling; when none loads, the check is skipped and Combine says so).
	Library string
}

// Combine joins two score models of the contract (SPEC §6) into one, as the expert
// denoisers of Balaji et al. 2022 (eDiff-I): the expert's score where σ(t) < SwitchSigma
// and the base model's elsewhere. Both must be models of the same images and VE SDE (same
// shape, σ range and data scale) with the contract's t input and score output; the expert
// is typically trained on the low-noise end only (train --train-sigma-max), where the
// fine structure of a galaxy is decided, and the base on the whole range.
//
// The graph holds each network once, with its weights, inside an If that runs it when some
// image of the batch needs it: a batch whose times all lie on one side of the switch (the
// sampler's share one t) runs one network, a batch that straddles it runs both, and a
// Where picks each image's score.
//
// With opt.BlendSigma, a band above the switch mixes the two scores (weights
// opt.BlendWeight and 1 − opt.BlendWeight), running both networks there: an ensemble for a
// weight below 1, autoguidance above it.
//
// When the ONNX Runtime library loads, the written model is checked against its two parts
// on one random image at a time below and one above the switch (and one in the band); the
// returned string says how it was checked.
func Combine(base, expert, out string, opt CombineOptions) (string, error) {
	if out == "" {
		return "", fmt.Errorf("no output file given")
	}
	cb, err := ort.ReadConventions(base, ort.Options{})
	if err != nil {
		return "", fmt.Errorf("base model: %w", err)
	}
	ce, err := ort.ReadConventions(expert, ort.Options{Expert: true})
	if err != nil {
		return "", fmt.Errorf("expert model: %w", err)
	}
	for _, m := range []struct {
		what string
		c    ort.Conventions
	}{{"base", cb}, {"expert", ce}} {
		c := m.c
		if c.TimeInput != ort.TimeT || c.Output != ort.OutputScore || c.InputName != InputX || c.TimeName != InputT || c.OutputName != OutputScore {
			return "", fmt.Errorf("%s model does not follow the contract (inputs x and t in [0, 1], output score): it takes %s as time and returns %s", m.what, c.TimeInput, c.Output)
		}
		if c.Origin["sigma"] != "metadata" {
			return "", fmt.Errorf("%s model carries no σ range (%s, %s)", m.what, MetaSigmaMin, MetaSigmaMax)
		}
	}
	if cb.Channels != ce.Channels || cb.Height != ce.Height || cb.Width != ce.Width {
		return "", fmt.Errorf("base model takes %d×%d×%d images, expert %d×%d×%d", cb.Channels, cb.Height, cb.Width, ce.Channels, ce.Height, ce.Width)
	}
	if cb.NetSigmaMin != ce.NetSigmaMin || cb.NetSigmaMax != ce.NetSigmaMax {
		return "", fmt.Errorf("base model's σ range [%g, %g] differs from the expert's [%g, %g]: their times would mean different noise levels",
			cb.NetSigmaMin, cb.NetSigmaMax, ce.NetSigmaMin, ce.NetSigmaMax)
	}
	if cb.DataScale != ce.DataScale {
		return "", fmt.Errorf("base model's data scale %g differs from the expert's %g", cb.DataScale, ce.DataScale)
	}
	s := opt.SwitchSigma
	if !(s > cb.NetSigmaMin && s < cb.NetSigmaMax) {
		return "", fmt.Errorf("switch σ %g lies outside the models' range (%g, %g)", s, cb.NetSigmaMin, cb.NetSigmaMax)
	}
	mb, err := readProto(base)
	if err != nil {
		return "", err
	}
	me, err := readProto(expert)
	if err != nil {
		return "", err
	}
	bl := blend{sigma: s, weight: 1}
	if opt.BlendSigma != 0 {
		bl.sigma, bl.weight = opt.BlendSigma, opt.BlendWeight
		if bl.weight == 0 {
			bl.weight = 0.5
		}
		if !(bl.sigma > s && bl.sigma < cb.NetSigmaMax) {
			return "", fmt.Errorf("blend σ %g must lie above the switch σ %g and below the models' σmax %g", bl.sigma, s, cb.NetSigmaMax)
		}
		if !(bl.weight > 0 && bl.weight != 1 && bl.weight <= 10) {
			return "", fmt.Errorf("blend weight %g must be positive, at most 10 and not 1 (1 is a higher switch)", opt.BlendWeight)
		}
	}
	if v, ok := metaOf(me)[MetaTrainedSigmaMax]; ok {
		if tmax, err := strconv.ParseFloat(v, 64); err == nil && max(s, bl.sigma) > tmax {
			return "", fmt.Errorf("switch σ %g (blend σ %g) is above the %g that the expert was trained up to", s, bl.sigma, tmax)
		}
	}
	tOf := func(sigma float64) float32 {
		return float32(math.Log(sigma/cb.NetSigmaMin) / math.Log(cb.NetSigmaMax/cb.NetSigmaMin))
	}
	tSwitch := tOf(s)
	bl.t = tOf(bl.sigma)
	m, err := joinModels(mb, me, tSwitch, s, bl, cb, opt.Version)
	if err != nil {
		return "", err
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("could not serialise the combined model: %w", err)
	}
	// Written beside out and renamed onto it only once checked, so that a model that
	// fails the check never replaces a file already there.
	tmp := out + ".combine-tmp"
	if err := onnxbuild.WriteBytes(tmp, data); err != nil {
		return "", err
	}
	how, err := checkCombined(base, expert, tmp, tSwitch, bl, opt.Library)
	if err == nil {
		err = os.Rename(tmp, out)
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return how, nil
}

func readProto(path string) (*onnxpb.ModelProto, error) {
	m, _, err := ort.ReadProto(path)
	return m, err
}

func metaOf(m *onnxpb.ModelProto) map[string]string {
	meta := map[string]string{}
	for _, p := range m.GetMetadataProps() {
		meta[p.GetKey()] = p.GetValue()
	}
	return meta
}

// blend is the band above the switch where a combined model averages its two networks:
// up to sigma (time t), the expert weighted by weight. Without a band, sigma is the
// switch's and weight 1.
type blend struct {
	sigma, weight float64
	t             float32
}

func (b blend) on(switchSigma float64) bool { return b.sigma > switchSigma }

// joinModels builds the combined model: the two models' nodes and initialisers (prefixed
// base/ and expert/) inside the branches of If nodes.
func joinModels(mb, me *onnxpb.ModelProto, tSwitch float32, switchSigma float64, bl blend, c ort.Conventions, version string) (*onnxpb.ModelProto, error) {
	opsets := map[string]int64{}
	for _, m := range []*onnxpb.ModelProto{mb, me} {
		for _, o := range m.GetOpsetImport() {
			d, v := o.GetDomain(), o.GetVersion()
			if d == "ai.onnx" {
				d = ""
			}
			if w, ok := opsets[d]; ok && w != v {
				return nil, fmt.Errorf("base and expert import opset %d and %d of domain %q: operators may differ between them", w, v, d)
			}
			opsets[d] = v
		}
	}
	if opsets[""] < 11 {
		return nil, fmt.Errorf("the models use opset %d; combining needs at least 11", opsets[""])
	}
	g := &onnxpb.GraphProto{Name: proto.String("combined")}
	for _, p := range []struct {
		m    *onnxpb.ModelProto
		what string
	}{{mb, "base"}, {me, "expert"}} {
		for _, n := range p.m.GetGraph().GetNode() {
			for _, a := range n.GetAttribute() {
				if a.G != nil || len(a.Graphs) > 0 {
					return nil, fmt.Errorf("%s model holds control flow (%s node %q); only plain graphs can be combined", p.what, n.GetOpType(), n.GetName())
				}
			}
		}
		if len(p.m.GetGraph().GetSparseInitializer()) > 0 {
			return nil, fmt.Errorf("%s model holds sparse initialisers, which combining does not support", p.what)
		}
		for _, t := range p.m.GetGraph().GetInitializer() {
			if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
				return nil, fmt.Errorf("%s model keeps its weights in external files, which combining does not support", p.what)
			}
		}
	}
	f32 := int32(onnxpb.TensorProto_FLOAT)
	image := []int64{-1, int64(c.Channels), int64(c.Height), int64(c.Width)}
	scoreType := func(name string) *onnxpb.ValueInfoProto { return tensorType(name, f32, image) }
	g.Input = []*onnxpb.ValueInfoProto{
		tensorType(InputX, f32, image),
		tensorType(InputT, f32, []int64{-1}),
	}
	g.Output = []*onnxpb.ValueInfoProto{scoreType(OutputScore)}

	node := func(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
	}
	// branch is one model as the subgraph of an If: its nodes and initialisers under
	// prefix (x and t are the outer graph's), ending in prefix+"out". The weights live in
	// the branch that uses them, not in the outer graph: ONNX Runtime pre-packs
	// convolution weights only for initialisers of the graph that holds the node, and a
	// sampler's step ran 1.4 times slower with them outside.
	branch := func(m *onnxpb.ModelProto, prefix string) *onnxpb.GraphProto {
		sub := &onnxpb.GraphProto{Name: proto.String(strings.TrimSuffix(prefix, "/"))}
		rename := func(n string) string {
			if n == "" || n == InputX || n == InputT {
				return n
			}
			return prefix + n
		}
		for _, t := range m.GetGraph().GetInitializer() {
			t2 := proto.Clone(t).(*onnxpb.TensorProto)
			t2.Name = proto.String(rename(t.GetName()))
			sub.Initializer = append(sub.Initializer, t2)
		}
		for _, n := range m.GetGraph().GetNode() {
			n2 := proto.Clone(n).(*onnxpb.NodeProto)
			for i, v := range n2.Input {
				n2.Input[i] = rename(v)
			}
			for i, v := range n2.Output {
				n2.Output[i] = rename(v)
			}
			if n2.Name != nil {
				n2.Name = proto.String(rename(n2.GetName()))
			}
			sub.Node = append(sub.Node, n2)
		}
		sub.Node = append(sub.Node, node("Identity", []string{rename(OutputScore)}, []string{prefix + "out"}))
		sub.Output = []*onnxpb.ValueInfoProto{scoreType(prefix + "out")}
		return sub
	}
	// zeros stands in for a network that no image of the batch needs.
	zeros := func(name string) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{Name: proto.String(name), Node: []*onnxpb.NodeProto{
			node("Shape", []string{InputX}, []string{name + "/shape"}),
			node("ConstantOfShape", []string{name + "/shape"}, []string{name + "/out"}),
		}, Output: []*onnxpb.ValueInfoProto{scoreType(name + "/out")}}
	}
	graphAttr := func(name string, sub *onnxpb.GraphProto) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: sub}
	}
	keep0 := &onnxpb.AttributeProto{Name: proto.String("keepdims"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(0)}

	// Each network runs when some image of the batch needs it (one of them when the batch
	// shares one t, as the sampler's do), and Where picks each image's score.
	g.Initializer = append(g.Initializer,
		&onnxpb.TensorProto{Name: proto.String("switch_t"), DataType: proto.Int32(f32), FloatData: []float32{tSwitch}},
		&onnxpb.TensorProto{Name: proto.String("mask_shape"), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Dims: []int64{4}, Int64Data: []int64{-1, 1, 1, 1}})
	// The expert runs when some image lies below the top of its range (the switch, or the
	// blend band's top), the base unless every image lies below the switch.
	expertTop := "switch_t"
	if bl.on(switchSigma) {
		expertTop = "blend_t"
		g.Initializer = append(g.Initializer,
			&onnxpb.TensorProto{Name: proto.String("blend_t"), DataType: proto.Int32(f32), FloatData: []float32{bl.t}},
			&onnxpb.TensorProto{Name: proto.String("w_blend"), DataType: proto.Int32(f32), FloatData: []float32{float32(bl.weight)}},
			&onnxpb.TensorProto{Name: proto.String("w_one"), DataType: proto.Int32(f32), FloatData: []float32{1}},
			&onnxpb.TensorProto{Name: proto.String("w_zero"), DataType: proto.Int32(f32), FloatData: []float32{0}})
	}
	g.Node = append(g.Node,
		node("ReduceMin", []string{InputT}, []string{"t_min"}, keep0),
		node("ReduceMax", []string{InputT}, []string{"t_max"}, keep0),
		node("Less", []string{"t_min", expertTop}, []string{"any_low"}),
		node("Less", []string{"t_max", "switch_t"}, []string{"all_low"}),
		node("If", []string{"any_low"}, []string{"expert_score"},
			graphAttr("then_branch", branch(me, "expert/")), graphAttr("else_branch", zeros("no_expert"))),
		node("If", []string{"all_low"}, []string{"base_score"},
			graphAttr("then_branch", zeros("no_base")), graphAttr("else_branch", branch(mb, "base/"))),
		node("Less", []string{InputT, "switch_t"}, []string{"low"}),
	)
	if !bl.on(switchSigma) {
		g.Node = append(g.Node,
			node("Reshape", []string{"low", "mask_shape"}, []string{"low_mask"}),
			node("Where", []string{"low_mask", "expert_score", "base_score"}, []string{OutputScore}))
	} else {
		// w = 1 below the switch, the blend weight in the band, 0 above; score = w·e + (1−w)·b,
		// exactly e where w = 1 and b where w = 0 (a network that did not run gives zeros).
		g.Node = append(g.Node,
			node("Less", []string{InputT, "blend_t"}, []string{"in_band"}),
			node("Where", []string{"in_band", "w_blend", "w_zero"}, []string{"w_band"}),
			node("Where", []string{"low", "w_one", "w_band"}, []string{"w_flat"}),
			node("Reshape", []string{"w_flat", "mask_shape"}, []string{"w"}),
			node("Sub", []string{"w_one", "w"}, []string{"w_base"}),
			node("Mul", []string{"w", "expert_score"}, []string{"expert_part"}),
			node("Mul", []string{"w_base", "base_score"}, []string{"base_part"}),
			node("Add", []string{"expert_part", "base_part"}, []string{OutputScore}))
	}

	var imports []*onnxpb.OperatorSetIdProto
	for _, d := range slices.Sorted(maps.Keys(opsets)) {
		imports = append(imports, &onnxpb.OperatorSetIdProto{Domain: proto.String(d), Version: proto.Int64(opsets[d])})
	}
	ir := mb.GetIrVersion()
	if v := me.GetIrVersion(); v > ir {
		ir = v
	}
	mbMeta, meMeta := metaOf(mb), metaOf(me)
	meta := map[string]string{}
	for _, k := range []string{MetaSDE, MetaSigmaMin, MetaSigmaMax, MetaChannels, MetaHeight, MetaWidth, MetaDataScale} {
		if v, ok := mbMeta[k]; ok {
			meta[k] = v
		}
	}
	meta[MetaSwitchSigma] = formatFloat(switchSigma)
	band := ""
	if bl.on(switchSigma) {
		meta[MetaBlendSigma], meta[MetaBlendWeight] = formatFloat(bl.sigma), formatFloat(bl.weight)
		band = fmt.Sprintf(", weighted %s and %s with the base up to σ = %s", formatFloat(bl.weight), formatFloat(1-bl.weight), formatFloat(bl.sigma))
	}
	meta[MetaTraining] = fmt.Sprintf("combined: expert below σ = %s%s: %s | base: %s", formatFloat(switchSigma), band, meMeta[MetaTraining], mbMeta[MetaTraining])
	meta[MetaWeights] = mbMeta[MetaWeights]
	var props []*onnxpb.StringStringEntryProto
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		props = append(props, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(meta[k])})
	}
	return &onnxpb.ModelProto{
		IrVersion:       proto.Int64(ir),
		OpsetImport:     imports,
		ProducerName:    proto.String(onnxbuild.Producer),
		ProducerVersion: proto.String(version),
		MetadataProps:   props,
		Graph:           g,
	}, nil
}

// tensorType declares a tensor value; −1 marks the dynamic batch axis.
func tensorType(name string, elem int32, dims []int64) *onnxpb.ValueInfoProto {
	var sh []*onnxpb.TensorShapeProto_Dimension
	for _, d := range dims {
		if d < 0 {
			sh = append(sh, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: BatchAxis}})
			continue
		}
		sh = append(sh, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(elem), Shape: &onnxpb.TensorShapeProto{Dim: sh}}}}}
}

// checkCombined compares the combined model with its parts on one random image at a time
// below the switch, one above (and one in the blend band, against the weighted mean of
// the parts), and a batch of them all.
func checkCombined(base, expert, out string, tSwitch float32, bl blend, lib string) (string, error) {
	if _, _, err := ort.Init(lib); err != nil {
		return "not checked against its parts: " + err.Error(), nil
	}
	open := func(p string) (*ort.Model, error) {
		return ort.Open(p, ort.Options{Threads: 1, Library: lib, Expert: true})
	}
	mc, err := open(out)
	if err != nil {
		return "", fmt.Errorf("the combined model %s does not load: %w", out, err)
	}
	defer mc.Close()
	mb, err := open(base)
	if err != nil {
		return "", err
	}
	defer mb.Close()
	me, err := open(expert)
	if err != nil {
		return "", err
	}
	defer me.Close()
	ch, h, w := mc.Shape()
	n := ch * h * w
	// Times and the expert's weight at each: below the switch, above the top, in the band.
	ts, ws := []float32{tSwitch / 2, (1 + bl.t) / 2}, []float64{1, 0}
	where := "below and above the switch"
	if bl.t > tSwitch {
		ts, ws = append(ts, (tSwitch+bl.t)/2), append(ws, bl.weight)
		where = "below the switch, in the blend band and above it"
	}
	k := len(ts)
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, k*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 0.1)
	}
	ctx := context.Background()
	want := make([]float32, k*n)
	se, sb := make([]float32, n), make([]float32, n)
	for j, t := range ts {
		if err := me.Score(ctx, se, x[j*n:(j+1)*n], []float32{t}); err != nil {
			return "", err
		}
		if err := mb.Score(ctx, sb, x[j*n:(j+1)*n], []float32{t}); err != nil {
			return "", err
		}
		for i := range se {
			want[j*n+i] = float32(ws[j]*float64(se[i]) + (1-ws[j])*float64(sb[i]))
		}
	}
	got := make([]float32, k*n)
	for j, t := range ts {
		if err := mc.Score(ctx, got[j*n:(j+1)*n], x[j*n:(j+1)*n], []float32{t}); err != nil {
			return "", err
		}
	}
	mixed := make([]float32, k*n)
	if err := mc.Score(ctx, mixed, x, ts); err != nil {
		return "", err
	}
	// The same runtime runs the same nodes, inside If or not; only graph optimisations
	// that fuse or reorder sums can differ, at float32 rounding: the rms difference of
	// each image's score must stay below 1e-5 of the score's rms.
	worst := 0.0
	for _, g := range [][]float32{got, mixed} {
		for j := 0; j < k; j++ {
			var d2, w2 float64
			for i := j * n; i < (j+1)*n; i++ {
				d := float64(g[i] - want[i])
				d2 += d * d
				w2 += float64(want[i]) * float64(want[i])
			}
			worst = math.Max(worst, math.Sqrt(d2/w2))
		}
	}
	if !(worst <= 1e-5) {
		return "", fmt.Errorf("the combined model differs from its parts by %.3g of the score (rms)", worst)
	}
	return fmt.Sprintf("checked against its parts %s (single and mixed batch): rms difference %.2g of the score", where, worst), nil
}
