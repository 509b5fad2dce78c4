package ncsnpp

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
)

func TestPresets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params int     // trainable parameters, recorded from this description
		gflop  float64 // forward GFLOP per image, recorded from this description
	}{
		{"tiny", 318947, 0.039944192},
		{"small", 1237412, 0.986546176},
		{"paper", 65541895, 531.033767936},
	} {
		c, err := Preset(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		g, err := Build(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Shapes[g.Score]; !reflect.DeepEqual(got, []int{1, c.Size, c.Size}) {
			t.Errorf("%s: score shape %v", tc.name, got)
		}
		if got := g.NumParams(); got != tc.params {
			t.Errorf("%s: %d trainable parameters, want %d", tc.name, got, tc.params)
		}
		if got := g.ForwardFLOPs() / 1e9; math.Abs(got-tc.gflop) > 1e-9 {
			t.Errorf("%s: %.9f GFLOP, want %.9f", tc.name, got, tc.gflop)
		}
		seen := map[string]bool{}
		for _, p := range g.Params {
			if seen[p.Name] {
				t.Errorf("%s: duplicate parameter %s", tc.name, p.Name)
			}
			seen[p.Name] = true
		}
	}
	if _, err := Preset("huge"); err == nil {
		t.Error("unknown preset accepted")
	}
}

// The parameter counts and FLOPs above are pinned from this description (a change to the
// architecture must change them on purpose); here the first and last operations and the
// near-zero initialisations are checked.
func TestGraphStructure(t *testing.T) {
	c, _ := Preset("tiny")
	g, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	first := []Op{OpLogSigma, OpFourier, OpDense, OpSiLU, OpDense, OpSiLU, OpConv}
	for i, op := range first {
		if g.Nodes[i].Op != op {
			t.Errorf("node %d is %s, want %s", i, g.Nodes[i].Op, op)
		}
	}
	last := g.Nodes[len(g.Nodes)-1]
	if last.Op != OpDivExp || last.Inputs[0] != g.Raw || last.Inputs[1] != "log_sigma" {
		t.Errorf("last node %+v", last)
	}
	// Every residual block's second convolution and every attention projection start near
	// zero (init_scale 0 → 1e-10), as the reference.
	n := 0
	for _, p := range g.Params {
		if len(p.Name) > 12 && (p.Name[len(p.Name)-12:] == "conv1.weight" || p.Name[len(p.Name)-11:] == "proj.weight") {
			n++
			if p.Init.Scale != 1e-10 {
				t.Errorf("%s: init scale %g", p.Name, p.Init.Scale)
			}
		}
	}
	if n == 0 {
		t.Error("no near-zero initialised layer found")
	}
}

// Initial values follow variance_scaling(fan_avg, uniform): the sample variance of a large
// filter matches scale/fan_avg to within 5 % (its relative standard error for 36 864
// uniform draws is 0.5 %).
func TestInit(t *testing.T) {
	c, _ := Preset("small")
	g, _ := Build(c)
	v := g.Init(rand.New(rand.NewPCG(1, 2)))
	for i, p := range g.Params {
		if p.Name != "down.3.block.0.conv0.weight" {
			continue
		}
		var s float64
		for _, x := range v[i] {
			s += float64(x) * float64(x)
		}
		got := s / float64(len(v[i]))
		want := p.Init.Scale / (float64(p.Init.FanIn+p.Init.FanOut) / 2)
		if math.Abs(got/want-1) > 0.05 {
			t.Errorf("%s: variance %g, want %g", p.Name, got, want)
		}
		return
	}
	t.Fatal("parameter not found")
}

func TestConfigJSON(t *testing.T) {
	c, _ := Preset("small")
	name := filepath.Join(t.TempDir(), "hparams.json")
	if err := c.Save(name); err != nil {
		t.Fatal(err)
	}
	d, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, d) {
		t.Errorf("round trip: %+v != %+v", d, c)
	}
	g1, _ := Build(c)
	g2, _ := Build(d)
	b1, _ := json.Marshal(g1)
	b2, _ := json.Marshal(g2)
	if string(b1) != string(b2) {
		t.Error("graphs of equal configurations differ")
	}
	bad := c
	bad.AttnResolutions = []int{12}
	if _, err := Build(bad); err == nil {
		t.Error("attention at a missing resolution accepted")
	}
}
