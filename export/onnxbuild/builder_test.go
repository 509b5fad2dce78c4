package onnxbuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"scorelens/export/onnxpb"
)

// affine builds y = x·w + c on x [batch, 4], the example of the package documentation.
func affine() *Builder {
	b := New("affine", 0)
	b.Input("x", Float32, Dynamic("batch"), Fixed(4))
	w := b.Float32("w", []int64{4}, []float32{1, 2, 3, 4})
	xw := b.Op("Mul", nil, "x", w)
	b.Node("Add", []string{xw, b.Scalar(0.5)}, []string{"y"})
	b.Output("y", Float32, Dynamic("batch"), Fixed(4))
	b.Metadata("scorelens.sde", "ve")
	b.Metadata("a.first", "1")
	return b
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "affine.onnx")
	if err := affine().WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o644 {
		t.Errorf("model file mode %v, want -rw-r--r--", st.Mode())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatalf("written model does not parse: %v", err)
	}
	if got := m.GetIrVersion(); got != 8 {
		t.Errorf("ir_version = %d, want 8 (opset 17)", got)
	}
	if len(m.OpsetImport) != 1 || m.OpsetImport[0].GetVersion() != 17 || m.OpsetImport[0].GetDomain() != "" {
		t.Errorf("opset_import = %v, want the standard domain at 17", m.OpsetImport)
	}
	if m.GetProducerName() != Producer {
		t.Errorf("producer = %q", m.GetProducerName())
	}
	// Metadata comes out sorted by key so that files are reproducible.
	var keys []string
	for _, p := range m.MetadataProps {
		keys = append(keys, p.GetKey()+"="+p.GetValue())
	}
	if got := strings.Join(keys, ","); got != "a.first=1,scorelens.sde=ve" {
		t.Errorf("metadata = %s", got)
	}
	g := m.GetGraph()
	in := g.Input[0].GetType().GetTensorType()
	if in.GetElemType() != int32(Float32) || len(in.GetShape().Dim) != 2 ||
		in.GetShape().Dim[0].GetDimParam() != "batch" || in.GetShape().Dim[1].GetDimValue() != 4 {
		t.Errorf("input type = %v", in)
	}
	if len(g.Node) != 2 || g.Node[0].GetOpType() != "Mul" || g.Node[1].GetOutput()[0] != "y" {
		t.Errorf("nodes = %v", g.Node)
	}
	if len(g.Initializer) != 2 || g.Initializer[0].GetName() != "w" || len(g.Initializer[0].FloatData) != 4 ||
		len(g.Initializer[1].Dims) != 0 || g.Initializer[1].FloatData[0] != 0.5 {
		t.Errorf("initialisers = %v", g.Initializer)
	}
	// Deterministic: the same graph serialises to the same bytes.
	again, err := affine().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Error("two builds of the same graph differ")
	}
	// No temporary file is left beside the model.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the model", len(entries))
	}
}

func TestOpsetIR(t *testing.T) {
	for _, c := range []struct{ opset, ir int64 }{{17, 8}, {18, 8}, {19, 9}, {20, 9}, {21, 10}, {22, 10}, {23, 11}} {
		if got := irVersion(c.opset); got != c.ir {
			t.Errorf("irVersion(%d) = %d, want %d", c.opset, got, c.ir)
		}
	}
}

func TestBadGraphs(t *testing.T) {
	cases := []struct {
		name, want string
		build      func(b *Builder)
	}{
		{"undefined input", `reads "nope"`, func(b *Builder) {
			b.Input("x", Float32, Fixed(1))
			b.Node("Relu", []string{"nope"}, []string{"y"})
			b.Output("y", Float32, Fixed(1))
		}},
		{"use before definition", `reads "a"`, func(b *Builder) {
			b.Input("x", Float32, Fixed(1))
			b.Node("Relu", []string{"a"}, []string{"y"})
			b.Node("Relu", []string{"x"}, []string{"a"})
			b.Output("y", Float32, Fixed(1))
		}},
		{"written twice", `writes "y", already defined`, func(b *Builder) {
			b.Input("x", Float32, Fixed(1))
			b.Node("Relu", []string{"x"}, []string{"y"})
			b.Node("Neg", []string{"x"}, []string{"y"})
			b.Output("y", Float32, Fixed(1))
		}},
		{"output not produced", `output "z" is not produced`, func(b *Builder) {
			b.Input("x", Float32, Fixed(1))
			b.Node("Relu", []string{"x"}, []string{"y"})
			b.Output("z", Float32, Fixed(1))
		}},
		{"no outputs", "no outputs", func(b *Builder) { b.Input("x", Float32, Fixed(1)) }},
		{"duplicate input", `input "x" is declared twice`, func(b *Builder) {
			b.Input("x", Float32, Fixed(1))
			b.Input("x", Float32, Fixed(1))
		}},
	}
	for _, c := range cases {
		b := New("bad", 17)
		c.build(b)
		_, err := b.Marshal()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
	if _, err := New("old", 13).Marshal(); err == nil || !strings.Contains(err.Error(), "opset 13") {
		t.Errorf("opset 13: err = %v", err)
	}
}

func TestFresh(t *testing.T) {
	b := New("f", 17)
	b.Input("t_1", Float32)
	if n := b.Fresh("t"); n == "t_1" {
		t.Errorf("Fresh returned the input's name %q", n)
	}
}
