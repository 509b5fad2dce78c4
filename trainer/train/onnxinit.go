package train

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"google.golang.org/protobuf/proto"

	"scorelens/export/onnxpb"
	"scorelens/trainer/ncsnpp"
)

// Metadata that an exported model (scorelens export) carries and a fine-tuning run from it
// reads: the network's configuration and, for a low-noise expert, its training range; a
// joined model (scorelens combine) carries its switch instead of a configuration. They are
// export.MetaConfig, ort.MetaTrainedSigmaMax and export.MetaSwitchSigma (the exporter
// imports this package, so the names are repeated here).
const (
	metaConfig          = "scorelens.ncsnpp_config"
	metaTrainedSigmaMax = "scorelens.trained_sigma_max"
	metaSwitchSigma     = "scorelens.switch_sigma"
)

// pcgStream is the stream of a run's PCG source, whose seed is HParams.Seed.
const pcgStream = 0x5c0e1e45

// InitKindModel marks an InitSource that is an exported ONNX model, not a checkpoint.
const InitKindModel = "onnx"

// decodeModelInit reads an ONNX model written by scorelens export as the start of a
// fine-tuning run: its configuration from the metadata and its weights (the EMA weights
// it was exported with) as both the weights and their EMA. An exported model holds no
// optimiser state, step count or random state: the Adam moments start at zero and the
// run counts its steps (and its warm-up) from 0, as a new run does.
func decodeModelInit(b []byte) (*Checkpoint, error) {
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil || m.GetGraph() == nil {
		return nil, fmt.Errorf("neither a checkpoint nor an ONNX model")
	}
	meta := map[string]string{}
	for _, p := range m.GetMetadataProps() {
		meta[p.GetKey()] = p.GetValue()
	}
	js, ok := meta[metaConfig]
	if _, joined := meta[metaSwitchSigma]; !ok && joined {
		return nil, fmt.Errorf("a joined model of two networks (scorelens combine; expert below σ = %s): train one of its parts and join them again", meta[metaSwitchSigma])
	}
	if !ok {
		return nil, fmt.Errorf("ONNX model without metadata %s: only models exported by scorelens export can be trained further", metaConfig)
	}
	var cfg ncsnpp.Config
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		return nil, fmt.Errorf("bad metadata %s: %w", metaConfig, err)
	}
	g, err := ncsnpp.Build(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", metaConfig, err)
	}
	hp := DefaultHParams()
	if v, ok := meta[metaTrainedSigmaMax]; ok {
		if hp.SigmaTrainMax, err = strconv.ParseFloat(v, 64); err != nil {
			return nil, fmt.Errorf("bad metadata %s %q", metaTrainedSigmaMax, v)
		}
	}
	inits := map[string]*onnxpb.TensorProto{}
	for _, t := range m.GetGraph().GetInitializer() {
		inits[t.GetName()] = t
	}
	rng, err := rand.NewPCG(hp.Seed, pcgStream).MarshalBinary()
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{Software: m.GetProducerName() + " " + m.GetProducerVersion(), Config: cfg, ConfigSHA256: ConfigHash(cfg),
		HParams: hp, SigmaMaxRule: "the exported model's", RNG: rng,
		Weights: map[string][]float32{}, EMA: map[string][]float32{}, AdamM: map[string][]float32{}, AdamV: map[string][]float32{}}
	for _, p := range g.Params {
		t, ok := inits[p.Name]
		if !ok {
			return nil, fmt.Errorf("model lacks the weights %q of the network its metadata describes", p.Name)
		}
		v, err := floats(t)
		if err != nil {
			return nil, fmt.Errorf("weights %q: %w", p.Name, err)
		}
		if len(v) != p.Size() {
			return nil, fmt.Errorf("weights %q hold %d values, the network %d", p.Name, len(v), p.Size())
		}
		ck.Weights[p.Name], ck.EMA[p.Name] = v, append([]float32(nil), v...)
		if p.Trainable {
			ck.AdamM[p.Name], ck.AdamV[p.Name] = make([]float32, p.Size()), make([]float32, p.Size())
		}
	}
	return ck, nil
}

// floats returns the values of a float32 initialiser (float_data or raw little-endian), or
// of a float64 one, which the exporter writes where the graph computes in float64 (the
// Fourier features' frequencies) from the trainer's float32 values, so rounding them back
// is exact.
func floats(t *onnxpb.TensorProto) ([]float32, error) {
	raw := t.GetRawData()
	switch dt := onnxpb.TensorProto_DataType(t.GetDataType()); dt {
	case onnxpb.TensorProto_FLOAT:
		if len(raw) == 0 {
			return append([]float32(nil), t.GetFloatData()...), nil
		}
		if len(raw)%4 != 0 {
			return nil, fmt.Errorf("raw data of %d bytes", len(raw))
		}
		v := make([]float32, len(raw)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return v, nil
	case onnxpb.TensorProto_DOUBLE:
		d := t.GetDoubleData()
		if len(raw) > 0 {
			if len(raw)%8 != 0 {
				return nil, fmt.Errorf("raw data of %d bytes", len(raw))
			}
			d = make([]float64, len(raw)/8)
			for i := range d {
				d[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
		v := make([]float32, len(d))
		for i, x := range d {
			v[i] = float32(x)
		}
		return v, nil
	default:
		return nil, fmt.Errorf("type %v, want float32", dt)
	}
}
