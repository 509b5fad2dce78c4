package ort

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

// Options configure a score model. The zero value runs the contract's conventions from
// the model's metadata on the CPU.
type Options struct {
	// Device is "cpu" (the default), "cuda" or "cuda:N" (the CUDA execution provider on
	// GPU N; the library must be a CUDA build, e.g. from the onnxruntime-gpu wheel).
	Device string
	// Threads is the number of intra-op threads; 0 lets ONNX Runtime choose (one per
	// physical core).
	Threads int
	// Library is the ONNX Runtime shared library; "" finds it (FindLibrary).
	Library string

	// InputName, TimeName and OutputName name the image input, the time input and the
	// score output; "" means the contract's x, t and score (--input-name, --time-name,
	// --output-name).
	InputName, TimeName, OutputName string
	// TimeInput is what the time input receives: TimeT, TimeSigma or TimeLogSigma
	// (--time-input); "" means metadata scorelens.time_input, else t.
	TimeInput string
	// Output is what the network returns: OutputScore, OutputNoise or OutputSigmaScore
	// (--output); "" means metadata scorelens.output, else score.
	Output string
	// SigmaMin and SigmaMax are the sampling σ range in physical units (--sigma-min,
	// --sigma-max); 0 means data_scale × the metadata's.
	SigmaMin, SigmaMax float64
	// DataScale overrides metadata scorelens.data_scale (physical = DataScale × model
	// units); 0 means the metadata's, else 1.
	DataScale float64

	// Channels, Height and Width are the source grid the sampler works on (1 channel,
	// ns×ns for a lens file); a model made for another size is refused. 0 skips the check
	// (and leaves a size the graph keeps dynamic to the metadata).
	Channels, Height, Width int

	// Expert accepts a low-noise expert (metadata scorelens.trained_sigma_max) on its own,
	// for measurements within its range (dsmloss, scorelens combine's check); the sampler
	// refuses one.
	Expert bool
}

// Model is an ONNX score model run by ONNX Runtime (SPEC §6). It implements
// infer.ScoreModel: Score takes physical images and diffusion times of the sampling SDE
// and returns the score in physical units, whatever the network's conventions. One
// session is created per Model and reused; the input and output tensors are allocated
// once per batch size. Score is safe for concurrent use (calls are serialised; ONNX
// Runtime parallelises inside each call).
type Model struct {
	path    string
	conv    Conventions
	device  string
	cuda    bool
	library string
	version string

	mu      sync.Mutex
	sess    *onnxruntime.DynamicAdvancedSession
	runOpts *onnxruntime.RunOptions
	bufs    map[int]*batchBufs
	closed  bool
}

type batchBufs struct {
	x, t, out *onnxruntime.Tensor[float32]
	ran       bool // a forward pass has run with these shapes
}

// ParseDevice reads "cpu", "cuda" or "cuda:N"; it returns whether CUDA is asked for and
// the GPU index.
func ParseDevice(s string) (cuda bool, id int, err error) {
	switch {
	case s == "" || s == "cpu":
		return false, 0, nil
	case s == "cuda":
		return true, 0, nil
	case strings.HasPrefix(s, "cuda:"):
		id, err := strconv.Atoi(s[len("cuda:"):])
		if err != nil || id < 0 {
			return false, 0, fmt.Errorf("device %q: want cpu, cuda or cuda:N with N a GPU index", s)
		}
		return true, id, nil
	}
	return false, 0, fmt.Errorf("device %q: want cpu, cuda or cuda:N", s)
}

// Open validates the ONNX file at path against the score-model contract under opt (names,
// ranks, types, batch axis, image size against opt's grid, σ range) and, if it fits,
// loads ONNX Runtime and creates the session. Everything that does not fit is refused
// here, before any sampling, with an error naming the problem.
func Open(path string, opt Options) (*Model, error) {
	cuda, gpu, err := ParseDevice(opt.Device)
	if err != nil {
		return nil, err
	}
	if opt.Threads < 0 {
		return nil, fmt.Errorf("threads must be 0 (automatic) or positive, got %d", opt.Threads)
	}
	f, err := readModel(path)
	if err != nil {
		return nil, err
	}
	conv, err := f.resolve(opt)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	if conv.Channels == 0 || conv.Height == 0 || conv.Width == 0 {
		return nil, fmt.Errorf("model %s: its image size is dynamic and neither metadata (%s, %s, %s) nor the source grid fixes it",
			path, MetaChannels, MetaHeight, MetaWidth)
	}
	lib, version, err := Init(opt.Library)
	if err != nil {
		return nil, err
	}
	m := &Model{path: path, conv: conv, device: "cpu", cuda: cuda, library: lib, version: version, bufs: map[int]*batchBufs{}}
	if cuda {
		m.device = "cuda:" + strconv.Itoa(gpu)
	}
	so, err := onnxruntime.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("could not create session options: %w", err)
	}
	defer so.Destroy()
	if opt.Threads > 0 {
		if err := so.SetIntraOpNumThreads(opt.Threads); err != nil {
			return nil, fmt.Errorf("could not set %d intra-op threads: %w", opt.Threads, err)
		}
	}
	// ONNX Runtime's pool threads spin after each run waiting for the next; the sampler
	// runs its likelihood in Go between forward passes, and spinning threads would take
	// those cores from it.
	if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		return nil, fmt.Errorf("could not configure the session: %w", err)
	}
	if cuda {
		if err := appendCUDA(so, gpu, lib); err != nil {
			return nil, err
		}
	}
	err = m.withSignals(func() error {
		var e error
		m.sess, e = onnxruntime.NewDynamicAdvancedSession(path, []string{conv.InputName, conv.TimeName}, []string{conv.OutputName}, so)
		return e
	})
	if err != nil {
		return nil, fmt.Errorf("onnx runtime %s could not load model %s on %s: %s", version, path, m.device, oneLine(err.Error()))
	}
	if m.runOpts, err = onnxruntime.NewRunOptions(); err != nil {
		m.sess.Destroy()
		return nil, fmt.Errorf("could not create run options: %w", err)
	}
	return m, nil
}

// appendCUDA adds the CUDA execution provider on GPU gpu.
func appendCUDA(so *onnxruntime.SessionOptions, gpu int, lib string) error {
	co, err := onnxruntime.NewCUDAProviderOptions()
	if err != nil {
		return fmt.Errorf("device cuda:%d: the ONNX Runtime library %s has no CUDA execution provider (set %s to a CUDA build, e.g. libonnxruntime.so from the onnxruntime-gpu wheel): %s",
			gpu, lib, LibraryEnv, oneLine(err.Error()))
	}
	defer co.Destroy()
	if err := co.Update(map[string]string{"device_id": strconv.Itoa(gpu)}); err != nil {
		return fmt.Errorf("device cuda:%d: %s", gpu, oneLine(err.Error()))
	}
	_, err = withGoSignals(func() error { return so.AppendExecutionProviderCUDA(co) })
	if err != nil {
		return fmt.Errorf("device cuda:%d: could not use the CUDA execution provider of %s (a CUDA build with its CUDA and cuDNN libraries, and a GPU, are needed): %s",
			gpu, lib, oneLine(err.Error()))
	}
	return nil
}

// withSignals runs f, restoring Go's signal handlers afterwards when CUDA may have
// replaced them.
func (m *Model) withSignals(f func() error) error {
	if !m.cuda {
		return f()
	}
	_, err := withGoSignals(f)
	return err
}

// Shape returns the image layout the model works on (infer.ScoreModel).
func (m *Model) Shape() (channels, height, width int) {
	return m.conv.Channels, m.conv.Height, m.conv.Width
}

// Conventions returns how the model is fed and read.
func (m *Model) Conventions() Conventions { return m.conv }

// SigmaRange returns the σ range of the VE SDE the sampler must use with this model, in
// physical units.
func (m *Model) SigmaRange() (sigmaMin, sigmaMax float64) { return m.conv.SigmaMin, m.conv.SigmaMax }

// DataScale returns the model's data scale: physical = DataScale × model units. Score
// already applies it; it is exposed for reports and headers.
func (m *Model) DataScale() float64 { return m.conv.DataScale }

// Device returns "cpu" or "cuda:N".
func (m *Model) Device() string { return m.device }

// Runtime returns the ONNX Runtime library path and version in use.
func (m *Model) Runtime() (library, version string) { return m.library, m.version }

// buffers returns the tensors for batch size b, allocating them the first time.
func (m *Model) buffers(b int) (*batchBufs, error) {
	if bb, ok := m.bufs[b]; ok {
		return bb, nil
	}
	c, h, w := int64(m.conv.Channels), int64(m.conv.Height), int64(m.conv.Width)
	x, err := onnxruntime.NewEmptyTensor[float32](onnxruntime.NewShape(int64(b), c, h, w))
	if err != nil {
		return nil, fmt.Errorf("could not allocate the input tensor: %w", err)
	}
	t, err := onnxruntime.NewEmptyTensor[float32](onnxruntime.NewShape(int64(b)))
	if err != nil {
		x.Destroy()
		return nil, fmt.Errorf("could not allocate the time tensor: %w", err)
	}
	out, err := onnxruntime.NewEmptyTensor[float32](onnxruntime.NewShape(int64(b), c, h, w))
	if err != nil {
		x.Destroy()
		t.Destroy()
		return nil, fmt.Errorf("could not allocate the output tensor: %w", err)
	}
	bb := &batchBufs{x: x, t: t, out: out}
	m.bufs[b] = bb
	return bb, nil
}

// Score writes ∇x log p_t(x) in physical units for the batch of len(t) images x (each
// C·H·W values, row-major, physical units) at diffusion times t of the sampling SDE
// (infer.ScoreModel). The network sees x/DataScale and its own time convention; its
// output is turned into the score by its output convention and divided by DataScale.
// Cancelling ctx terminates a running forward pass (RunOptions.Terminate) and Score
// returns ctx's error.
func (m *Model) Score(ctx context.Context, dst, x, t []float32) error {
	b := len(t)
	n := m.conv.Channels * m.conv.Height * m.conv.Width
	if len(x) != b*n {
		panic("ort: x length mismatch")
	}
	if len(dst) != b*n {
		panic("ort: dst length mismatch")
	}
	if b == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("score model %s is closed", m.path)
	}
	step := b
	if m.conv.FixedBatch {
		step = 1
	}
	bb, err := m.buffers(step)
	if err != nil {
		return err
	}
	for lo := 0; lo < b; lo += step {
		if err := m.forward(ctx, bb, dst[lo*n:(lo+step)*n], x[lo*n:(lo+step)*n], t[lo:lo+step]); err != nil {
			return err
		}
	}
	return nil
}

// forward runs one batch that fits bb exactly.
func (m *Model) forward(ctx context.Context, bb *batchBufs, dst, x, t []float32) error {
	c := &m.conv
	ds := c.DataScale
	inv := float32(1 / ds)
	xin := bb.x.GetData()
	if ds == 1 {
		copy(xin, x)
	} else {
		for i, v := range x {
			xin[i] = v * inv
		}
	}
	// σ of the sampling SDE in model units, per image.
	sigma := make([]float64, len(t))
	logRatio := math.Log(c.SigmaMax / c.SigmaMin)
	sameRange := c.NetSigmaMin*ds == c.SigmaMin && c.NetSigmaMax*ds == c.SigmaMax
	netLogRatio := math.Log(c.NetSigmaMax / c.NetSigmaMin)
	tin := bb.t.GetData()
	for i, ti := range t {
		sigma[i] = c.SigmaMin * math.Exp(float64(ti)*logRatio) / ds
		switch c.TimeInput {
		case TimeT:
			if sameRange {
				tin[i] = ti
			} else {
				tin[i] = float32(math.Log(sigma[i]/c.NetSigmaMin) / netLogRatio)
			}
		case TimeSigma:
			tin[i] = float32(sigma[i])
		case TimeLogSigma:
			tin[i] = float32(math.Log(sigma[i]))
		}
	}

	terminated := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		m.runOpts.Terminate()
		close(terminated)
	})
	run := func() error {
		return m.sess.RunWithOptions([]onnxruntime.Value{bb.x, bb.t}, []onnxruntime.Value{bb.out}, m.runOpts)
	}
	var err error
	if bb.ran {
		err = run()
	} else {
		// The first pass at a shape is where CUDA and cuDNN initialise (and may install
		// their signal handlers).
		err = m.withSignals(run)
		bb.ran = err == nil
	}
	if !stop() {
		// Terminate was called (or is being): wait for it, then clear the flag so that the
		// session can run again.
		<-terminated
		m.runOpts.UnsetTerminate()
		return fmt.Errorf("score model: %w", context.Cause(ctx))
	}
	if err != nil {
		return fmt.Errorf("score model %s: forward pass failed: %s", m.path, oneLine(err.Error()))
	}

	out := bb.out.GetData()
	n := len(out) / len(t)
	for i := range t {
		scale := 1 / ds // score_net → physical
		switch c.Output {
		case OutputNoise:
			scale = -1 / (sigma[i] * ds)
		case OutputSigmaScore:
			scale = 1 / (sigma[i] * ds)
		}
		s := float32(scale)
		o, d := out[i*n:(i+1)*n], dst[i*n:(i+1)*n]
		if s == 1 {
			copy(d, o)
			continue
		}
		for k, v := range o {
			d[k] = v * s
		}
	}
	return nil
}

// Close releases the session and the tensors. The model cannot score afterwards.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for _, bb := range m.bufs {
		bb.x.Destroy()
		bb.t.Destroy()
		bb.out.Destroy()
	}
	m.bufs = nil
	m.runOpts.Destroy()
	return m.sess.Destroy()
}
