package train

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"scorelens/export/onnxpb"
	"scorelens/trainer/ncsnpp"
)

// writeModel writes an ONNX file as scorelens export lays one out for the fine-tuning
// reader: the configuration in the metadata and one float32 initialiser per parameter,
// under its name (the graph's nodes are not read). drop leaves one parameter out.
func writeModel(t *testing.T, path string, cfg ncsnpp.Config, vals [][]float32, g *ncsnpp.Graph, meta map[string]string, drop string) {
	t.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(8), ProducerName: proto.String("scorelens"), Graph: &onnxpb.GraphProto{Name: proto.String("ncsnpp")}}
	meta[metaConfig] = string(js)
	for k, v := range meta {
		m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)})
	}
	for i, p := range g.Params {
		if p.Name == drop {
			continue
		}
		m.Graph.Initializer = append(m.Graph.Initializer, &onnxpb.TensorProto{Name: proto.String(p.Name),
			DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Dims: []int64{int64(len(vals[i]))}, FloatData: vals[i]})
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A fine-tuning run from an exported model starts from its weights (as both weights and
// EMA) with zero Adam moments, counts steps from 0, keeps an expert's training range, and
// records the model as its source.
func TestInitFromModel(t *testing.T) {
	dir := t.TempDir()
	data := writeSet(t, dir, 6, 16, 2)
	cfg, err := ncsnpp.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SigmaMax = 20
	g, err := ncsnpp.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vals := g.Init(rand.New(rand.NewPCG(3, 4)))
	model := filepath.Join(dir, "model.onnx")
	writeModel(t, model, cfg, vals, g, map[string]string{metaTrainedSigmaMax: "0.2"}, "")

	ck, init, err := loadInitSource(model)
	if err != nil {
		t.Fatal(err)
	}
	if init.Kind != InitKindModel || ck.Step != 0 || ck.HParams.SigmaTrainMax != 0.2 {
		t.Errorf("source %+v, step %d, training σ limit %g", init, ck.Step, ck.HParams.SigmaTrainMax)
	}
	for i, p := range g.Params {
		w, e := ck.Weights[p.Name], ck.EMA[p.Name]
		for j := range vals[i] {
			if w[j] != vals[i][j] || e[j] != vals[i][j] {
				t.Fatalf("%s[%d]: weight %g, EMA %g, model %g", p.Name, j, w[j], e[j], vals[i][j])
			}
		}
		if p.Trainable {
			for j := range ck.AdamM[p.Name] {
				if ck.AdamM[p.Name][j] != 0 || ck.AdamV[p.Name][j] != 0 {
					t.Fatalf("%s: Adam moments not zero", p.Name)
				}
			}
		}
	}

	o := Options{Data: data, Out: filepath.Join(dir, "ft"), InitFrom: model, Steps: 3, Quiet: true,
		HParams: HParams{Batch: 4, LR: 1e-3, Warmup: 2, Seed: 5}}
	if err := Run(context.Background(), o, io.Discard); err != nil {
		t.Fatal(err)
	}
	rows := readLoss(t, o.Out)
	if len(rows) != 3 || rows[0].step != 1 || rows[0].lr != "0.0005" {
		t.Errorf("log %+v, want steps 1–3, the first at half the rate (warm-up 2)", rows)
	}
	saved, err := LoadCheckpoint(filepath.Join(o.Out, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if saved.InitFrom == nil || saved.InitFrom.Kind != InitKindModel || saved.HParams.SigmaTrainMax != 0.2 || saved.Step != 3 {
		t.Errorf("saved init_from %+v, training σ limit %g, step %d", saved.InitFrom, saved.HParams.SigmaTrainMax, saved.Step)
	}

	// Files that cannot start a run: one line each, naming the problem.
	junk := filepath.Join(dir, "junk.onnx")
	os.WriteFile(junk, []byte("\x08\x01garbage"), 0o644)
	missing := filepath.Join(dir, "missing.onnx")
	writeModel(t, missing, cfg, vals, g, map[string]string{}, g.Params[0].Name)
	noMeta := filepath.Join(dir, "nometa.onnx")
	writeModel(t, noMeta, cfg, vals, g, map[string]string{}, "")
	b, _ := os.ReadFile(noMeta)
	var m onnxpb.ModelProto
	proto.Unmarshal(b, &m)
	m.MetadataProps = nil
	b, _ = proto.Marshal(&m)
	os.WriteFile(noMeta, b, 0o644)
	// A joined model (scorelens combine) carries its switch and no configuration.
	joined := filepath.Join(dir, "joined.onnx")
	m.MetadataProps = []*onnxpb.StringStringEntryProto{{Key: proto.String(metaSwitchSigma), Value: proto.String("0.1")}}
	b, _ = proto.Marshal(&m)
	os.WriteFile(joined, b, 0o644)
	for _, c := range []struct{ path, want string }{
		{junk, "neither a checkpoint nor an ONNX model"},
		{missing, "model lacks the weights"},
		{noMeta, "only models exported by scorelens export"},
		{joined, "a joined model of two networks (scorelens combine; expert below σ = 0.1): train one of its parts"},
	} {
		o := Options{Data: data, Out: filepath.Join(t.TempDir(), "x"), InitFrom: c.path, Steps: 1, Quiet: true}
		if err := Run(context.Background(), o, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", filepath.Base(c.path), err, c.want)
		}
	}
}
