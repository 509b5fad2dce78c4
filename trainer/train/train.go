package train

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"scorelens/infer"
	"scorelens/infer/runlock"
	"scorelens/trainer/ncsnpp"
	"scorelens/trainer/net"
)

// File names inside a run folder.
const (
	CheckpointFile = "checkpoint.ckpt"
	HParamsFile    = "hparams.json"
	LossFile       = "loss.csv"
)

// run is one training run in progress.
type run struct {
	o    Options
	g    *ncsnpp.Graph
	hp   HParams
	set  *trainingSet
	info RunInfo

	net *net.Net
	vm  G.VM

	w, ema, m, v [][]float32 // w aliases the network's parameter tensors
	grads        [][]float32
	pcg          *rand.PCG
	rng          *rand.Rand
	order        *order
	aug          []float32

	tMax    float64 // t ~ U(TimeEps, tMax): 1, or t(SigmaTrainMax) for a low-noise expert
	step    int64
	elapsed float64 // seconds of training before this invocation
	lossEMA float64
}

// Run trains the NCSN++ score model by denoising score matching (eq. 3 of Adam et al.
// 2022) on the images of o.Data and keeps o.Out/checkpoint.ckpt, hparams.json and loss.csv.
// It stops after o.Steps updates in all, after o.MaxTime, or when ctx is cancelled
// (SIGINT/SIGTERM), writing a checkpoint each time; a cancelled run is a clean stop and
// returns nil. With o.Resume it continues the run in o.Out exactly where it stopped.
func Run(ctx context.Context, o Options, w io.Writer) error {
	start := time.Now()
	if o.Out == "" {
		return errors.New("no output folder given")
	}
	if o.MaxTime < 0 || o.Steps < 0 || o.CkptEvery < 0 || o.Threads < 0 {
		return errors.New("steps, max-time, ckpt-every and threads must not be negative")
	}
	if o.Threads > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(o.Threads))
	}
	if o.CkptEvery == 0 {
		o.CkptEvery = DefaultCkptEvery
	}
	// One process per run folder: a second trainer (a resubmitted job) would overwrite the
	// first one's checkpoints and interleave its loss log.
	created := false
	if _, err := os.Stat(o.Out); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(o.Out, 0o755); err != nil {
			return fmt.Errorf("could not create the run folder: %w", err)
		}
		created = true
	}
	lock, err := runlock.Acquire(filepath.Join(o.Out, CheckpointFile))
	if err != nil {
		return err
	}
	defer lock.Release()
	lock.WarnUnheld(w, o.Out)
	r, err := setup(o, w)
	if err != nil {
		if created {
			lock.Release()
			os.Remove(o.Out) // only the empty folder made above; never a file of a run
		}
		return err
	}
	return r.loop(ctx, w, start)
}

func (o Options) configGiven() bool { return o.Config != nil || o.ConfigFile != "" || o.Preset != "" }

func (o Options) config() (ncsnpp.Config, error) {
	switch {
	case o.Config != nil:
		if err := o.Config.Validate(); err != nil {
			return ncsnpp.Config{}, fmt.Errorf("invalid configuration: %w", err)
		}
		return *o.Config, nil
	case o.ConfigFile != "":
		return loadConfigFile(o.ConfigFile)
	case o.Preset != "":
		return ncsnpp.Preset(o.Preset)
	}
	return ncsnpp.Preset("small")
}

func setup(o Options, w io.Writer) (*run, error) {
	ckPath := filepath.Join(o.Out, CheckpointFile)
	var ck *Checkpoint   // the checkpoint this run continues (Resume) or starts from (InitFrom)
	var init *InitSource // set for a new fine-tuning run
	if o.Resume && o.InitFrom != "" {
		return nil, errors.New("init-from starts a new run and resume continues one: give only one")
	}
	if o.Resume {
		var err error
		if ck, err = LoadCheckpoint(ckPath); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(ckPath); err == nil {
		return nil, fmt.Errorf("%s already holds a checkpoint: pass --resume to continue it, or choose another --out", o.Out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("could not check %q: %w", ckPath, err)
	} else if o.InitFrom != "" {
		if ck, init, err = loadInitSource(o.InitFrom); err != nil {
			return nil, err
		}
		ckPath = o.InitFrom
	}
	if o.SigmaMin < 0 || o.SigmaMax < 0 {
		return nil, errors.New("sigma-min and sigma-max must be positive")
	}

	cfg, err := o.config()
	if err != nil {
		return nil, err
	}
	data := o.Data
	if data == "" && ck != nil {
		data = ck.Dataset.Path
	}
	if data == "" {
		return nil, errors.New("no data set given (--data)")
	}
	set, err := loadSet(data)
	if err != nil {
		return nil, err
	}
	r := &run{o: o, set: set}
	rule := "given"
	if ck != nil {
		if init == nil && set.id.SHA256 != ck.Dataset.SHA256 {
			return nil, fmt.Errorf("data set %q (sha256 %.12s…) is not the one the checkpoint was trained on (%q, sha256 %.12s…)",
				data, set.id.SHA256, ck.Dataset.Path, ck.Dataset.SHA256)
		}
		addHead := init != nil && o.OffsetHead && !ck.Config.OffsetHead
		if o.OffsetHead && !ck.Config.OffsetHead && init == nil {
			return nil, fmt.Errorf("checkpoint %q holds a network without the offset head: add it with --init-from into a new run", ckPath)
		}
		if o.configGiven() || o.SigmaMin > 0 || o.SigmaMax > 0 {
			want := ck.Config
			if o.configGiven() {
				want = cfg
				want.SigmaMin, want.SigmaMax = ck.Config.SigmaMin, ck.Config.SigmaMax
			}
			if o.SigmaMin > 0 {
				want.SigmaMin = o.SigmaMin
			}
			if o.SigmaMax > 0 {
				want.SigmaMax = o.SigmaMax
			}
			if h := ConfigHash(want); h != ck.ConfigSHA256 {
				return nil, fmt.Errorf("checkpoint %q holds another architecture or σ range (config sha256 %.12s…) than the one asked for (%.12s…)",
					ckPath, ck.ConfigSHA256, h)
			}
		}
		if init != nil {
			r.hp = mergeHParams(o.HParams, ck.HParams)
			if err := r.hp.Validate(); err != nil {
				return nil, fmt.Errorf("invalid hyper-parameters: %w", err)
			}
		} else if err := conflicts(o.HParams, ck.HParams); err != nil {
			return nil, err
		} else {
			r.hp, init = ck.HParams, ck.InitFrom
		}
		cfg = ck.Config
		cfg.OffsetHead = cfg.OffsetHead || addHead
		rule = ck.SigmaMaxRule
	} else {
		r.hp = mergeHParams(o.HParams, DefaultHParams())
		if err := r.hp.Validate(); err != nil {
			return nil, fmt.Errorf("invalid hyper-parameters: %w", err)
		}
		if o.SigmaMin > 0 {
			cfg.SigmaMin = o.SigmaMin
		}
		if o.SigmaMax > 0 {
			cfg.SigmaMax = o.SigmaMax
		} else {
			smax, err := infer.SigmaMaxFromData(set.raw, set.n*set.n)
			if err != nil {
				return nil, fmt.Errorf("could not measure sigma-max from the data set: %w", err)
			}
			cfg.SigmaMax = smax
			rule = fmt.Sprintf("largest Euclidean distance between two of the %d training images", set.count())
		}
		cfg.OffsetHead = cfg.OffsetHead || o.OffsetHead
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("invalid configuration: %w", err)
		}
	}
	if cfg.Channels != 1 || cfg.Size != set.n {
		return nil, fmt.Errorf("data set %q holds %d×%d single-band images, the network takes %d×%d×%d",
			data, set.n, set.n, cfg.Channels, cfg.Size, cfg.Size)
	}
	if r.g, err = ncsnpp.Build(cfg); err != nil {
		return nil, fmt.Errorf("could not build the network: %w", err)
	}
	if r.tMax, err = timeMax(r.hp, cfg); err != nil {
		return nil, err
	}
	r.info = RunInfo{Model: cfg, ConfigSHA256: ConfigHash(cfg), Training: r.hp, Dataset: set.id,
		SigmaMaxRule: rule, Params: r.g.NumParams(), Software: o.Version, InitFrom: init}
	var netOpts []net.Option
	if r.hp.LossWeight > 0 {
		if set.n%r.hp.LossBlock != 0 {
			return nil, fmt.Errorf("loss block of %d pixels does not tile the %d×%d images", r.hp.LossBlock, set.n, set.n)
		}
		netOpts = append(netOpts, net.WithLossWeight(r.hp.LossWeight, r.hp.LossBlock))
	}
	if r.net, err = net.New(r.g, r.hp.Batch, tensor.Float32, true, netOpts...); err != nil {
		return nil, fmt.Errorf("could not build the training graph: %w", err)
	}
	r.w = make([][]float32, len(r.g.Params))
	r.grads = make([][]float32, len(r.g.Params))
	for i := range r.g.Params {
		r.w[i] = r.net.Values[i].Data().([]float32)
	}
	r.order = &order{seed: r.hp.Seed, count: set.count()}
	r.aug = make([]float32, set.n*set.n)
	if ck != nil {
		if cfg.OffsetHead && !ck.Config.OffsetHead {
			addOffsetHead(ck, r.g)
		}
		if err := r.restore(ck); err != nil {
			return nil, fmt.Errorf("checkpoint %q refused: %w", ckPath, err)
		}
		if init != nil && init.Kind == InitKindModel && !o.Resume {
			// An exported model carries no random state: the run's seed starts one.
			r.pcg = rand.NewPCG(r.hp.Seed, pcgStream)
			r.rng = rand.New(r.pcg)
		}
		if o.Resume {
			if err := trimLoss(filepath.Join(o.Out, LossFile), r.step); err != nil {
				return nil, err
			}
		} else if err := startRunFolder(o.Out); err != nil {
			return nil, err
		}
	} else {
		r.pcg = rand.NewPCG(r.hp.Seed, pcgStream)
		r.rng = rand.New(r.pcg)
		r.net.SetParams(r.g.Init(r.rng))
		r.ema = make([][]float32, len(r.g.Params))
		r.m = make([][]float32, len(r.g.Params))
		r.v = make([][]float32, len(r.g.Params))
		for i, p := range r.g.Params {
			r.ema[i] = append([]float32(nil), r.w[i]...)
			if p.Trainable {
				r.m[i] = make([]float32, p.Size())
				r.v[i] = make([]float32, p.Size())
			}
		}
		if err := startRunFolder(o.Out); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// timeMax is the largest diffusion time a run trains on: 1, or t(SigmaTrainMax) of the VE
// SDE σ(t) = σmin·(σmax/σmin)^t.
func timeMax(hp HParams, cfg ncsnpp.Config) (float64, error) {
	if hp.SigmaTrainMax == 0 {
		return 1, nil
	}
	lo := cfg.SigmaMin * math.Pow(cfg.SigmaMax/cfg.SigmaMin, hp.TimeEps)
	if !(hp.SigmaTrainMax > lo && hp.SigmaTrainMax < cfg.SigmaMax) {
		return 0, fmt.Errorf("training σ limit %g lies outside the run's noise range (%.3g, %.3g)", hp.SigmaTrainMax, lo, cfg.SigmaMax)
	}
	return math.Log(hp.SigmaTrainMax/cfg.SigmaMin) / math.Log(cfg.SigmaMax/cfg.SigmaMin), nil
}

// startRunFolder creates the folder of a new run and its loss log.
func startRunFolder(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("could not create the run folder: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, LossFile), []byte(lossHeader), 0o644); err != nil {
		return fmt.Errorf("could not start the loss log: %w", err)
	}
	return nil
}

// loadInitSource reads the checkpoint a fine-tuning run starts from, and identifies it.
func loadInitSource(path string) (*Checkpoint, *InitSource, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("could not read checkpoint: %w", err)
	}
	kind := ""
	var ck *Checkpoint
	if len(b) >= len(magic) && string(b[:len(magic)]) == magic {
		if ck, err = decodeCheckpoint(b); err != nil {
			return nil, nil, fmt.Errorf("checkpoint %q refused: %w", path, err)
		}
	} else {
		if ck, err = decodeModelInit(b); err != nil {
			return nil, nil, fmt.Errorf("could not start from %q: %w", path, err)
		}
		kind = InitKindModel
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	sum := sha256.Sum256(b)
	return ck, &InitSource{Path: abs, SHA256: hex.EncodeToString(sum[:]), Step: ck.Step, Dataset: ck.Dataset, Kind: kind}, nil
}

// addOffsetHead gives ck the offset head's tensors at their initial values (zero: the
// network computes what the source's did) and zero Adam moments.
func addOffsetHead(ck *Checkpoint, g *ncsnpp.Graph) {
	init := g.Init(rand.New(rand.NewPCG(0, 0))) // the head's initialisers draw nothing
	for i, p := range g.Params {
		if _, ok := ck.Weights[p.Name]; ok || !strings.HasPrefix(p.Name, "offset.") {
			continue
		}
		ck.Weights[p.Name] = init[i]
		ck.EMA[p.Name] = append([]float32(nil), init[i]...)
		if p.Trainable {
			ck.AdamM[p.Name] = make([]float32, p.Size())
			ck.AdamV[p.Name] = make([]float32, p.Size())
		}
	}
}

func (r *run) restore(ck *Checkpoint) error {
	var err error
	vals, err := ck.Values(r.g, KindWeight)
	if err != nil {
		return err
	}
	r.net.SetParams(vals)
	if r.ema, err = ck.Values(r.g, KindEMA); err != nil {
		return err
	}
	if r.m, err = ck.Values(r.g, KindAdamM); err != nil {
		return err
	}
	if r.v, err = ck.Values(r.g, KindAdamV); err != nil {
		return err
	}
	r.pcg = &rand.PCG{}
	if err := r.pcg.UnmarshalBinary(ck.RNG); err != nil {
		return fmt.Errorf("bad random state: %w", err)
	}
	r.rng = rand.New(r.pcg)
	r.step, r.elapsed, r.lossEMA = ck.Step, ck.ElapsedS, ck.LossEMA
	return nil
}

func (r *run) checkpoint(elapsed float64) error {
	rng, err := r.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("could not save the random state: %w", err)
	}
	ck := &Checkpoint{
		InitFrom: r.info.InitFrom, Software: r.o.Version, Config: r.g.Config, ConfigSHA256: ConfigHash(r.g.Config), HParams: r.hp,
		Dataset: r.set.id, SigmaMaxRule: r.info.SigmaMaxRule, Step: r.step, ElapsedS: elapsed, LossEMA: r.lossEMA, RNG: rng,
		Weights: map[string][]float32{}, EMA: map[string][]float32{}, AdamM: map[string][]float32{}, AdamV: map[string][]float32{},
	}
	for i, p := range r.g.Params {
		ck.Weights[p.Name], ck.EMA[p.Name] = r.w[i], r.ema[i]
		if p.Trainable {
			ck.AdamM[p.Name], ck.AdamV[p.Name] = r.m[i], r.v[i]
		}
	}
	b, err := json.MarshalIndent(r.info, "", "  ")
	if err != nil {
		return fmt.Errorf("could not encode hyper-parameters: %w", err)
	}
	if err := writeAtomic(filepath.Join(r.o.Out, HParamsFile), append(b, '\n')); err != nil {
		return fmt.Errorf("could not write hyper-parameters: %w", err)
	}
	return SaveCheckpoint(filepath.Join(r.o.Out, CheckpointFile), ck)
}

// fillBatch draws the step's batch: images in the epoch order (optionally under a random
// element of the square's symmetry group), t ~ U(ε, 1), z ~ N(0, I), x̃ = x + σ(t)·z.
func (r *run) fillBatch() {
	x := r.net.X.Data().([]float32)
	t := r.net.T.Data().([]float32)
	z := r.net.Z.Data().([]float32)
	d := r.set.n * r.set.n
	cfg := r.g.Config
	for b := 0; b < r.hp.Batch; b++ {
		idx := r.order.index(r.step*int64(r.hp.Batch) + int64(b))
		img := r.set.images[idx*d : (idx+1)*d]
		if r.hp.Augment {
			dihedral(r.aug, img, r.set.n, r.rng.IntN(8))
			img = r.aug
		}
		tb := float32(r.hp.TimeEps + (r.tMax-r.hp.TimeEps)*r.rng.Float64())
		t[b] = tb
		sigma := cfg.SigmaMin * math.Pow(cfg.SigmaMax/cfg.SigmaMin, float64(tb))
		xb, zb := x[b*d:(b+1)*d], z[b*d:(b+1)*d]
		for i, v := range img {
			n := r.rng.NormFloat64()
			zb[i] = float32(n)
			xb[i] = float32(float64(v) + sigma*float64(float32(n)))
		}
	}
}

// update applies one Adam step with warm-up and global-norm clipping, then the EMA.
// It returns the learning rate and the gradient norm before clipping.
func (r *run) update() (lr, gnorm float64) {
	var ss float64
	for i, gn := range r.net.Grads {
		if gn == nil {
			continue
		}
		r.grads[i] = gn.Value().Data().([]float32)
		for _, g := range r.grads[i] {
			ss += float64(g) * float64(g)
		}
	}
	gnorm = math.Sqrt(ss)
	scale := 1.0
	if r.hp.GradClip > 0 && gnorm > r.hp.GradClip {
		scale = r.hp.GradClip / (gnorm + 1e-6) // torch.nn.utils.clip_grad_norm_
	}
	lr = r.hp.LR
	if r.hp.Warmup > 0 {
		lr *= min(1, float64(r.step+1)/float64(r.hp.Warmup))
	}
	k := float64(r.step + 1)
	bc1 := 1 - math.Pow(r.hp.Beta1, k)
	bc2 := 1 - math.Pow(r.hp.Beta2, k)
	b1, b2 := float32(r.hp.Beta1), float32(r.hp.Beta2)
	sc, stepSize := float32(scale), float32(lr/bc1)
	rbc2, eps := float32(1/math.Sqrt(bc2)), float32(r.hp.AdamEps)
	// score_sde's ExponentialMovingAverage with num_updates: decay min(rate, (1+n)/(10+n)).
	decay := min(r.hp.EMADecay, (1+k)/(10+k))
	om := float32(1 - decay)
	for i, p := range r.g.Params {
		w, e := r.w[i], r.ema[i]
		if p.Trainable {
			g, m, v := r.grads[i], r.m[i], r.v[i]
			for j := range w {
				gj := g[j] * sc
				m[j] = b1*m[j] + (1-b1)*gj
				v[j] = b2*v[j] + (1-b2)*gj*gj
				w[j] -= stepSize * m[j] / (float32(math.Sqrt(float64(v[j])))*rbc2 + eps)
			}
		}
		for j := range e {
			e[j] -= om * (e[j] - w[j])
		}
	}
	r.step++
	return lr, gnorm
}

const lossHeader = "step,time_s,loss,lr,grad_norm,ema_loss\n"

func (r *run) loop(ctx context.Context, w io.Writer, start time.Time) error {
	o := r.o
	if o.Steps > 0 && r.step >= o.Steps {
		fmt.Fprintf(w, "the run in %s is already at step %d (target %d): nothing to do\n", o.Out, r.step, o.Steps)
		return nil
	}
	var deadline time.Time
	if o.MaxTime > 0 {
		deadline = start.Add(o.MaxTime)
	}
	lf, err := os.OpenFile(filepath.Join(o.Out, LossFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("could not open the loss log: %w", err)
	}
	defer lf.Close()
	lw := bufio.NewWriter(lf)
	r.vm = r.net.Machine()
	defer r.vm.Close()

	p := newProgress(w, o.Quiet, time.Now(), r.step)
	verb := "training"
	switch {
	case o.InitFrom != "":
		verb = "fine-tuning from step " + strconv.FormatInt(r.step, 10) + " of " + o.InitFrom + ","
	case o.Resume:
		verb = "resuming at step " + strconv.FormatInt(r.step, 10) + ","
	}
	p.line("%s %s (%d parameters, %.3g GFLOP per step) on %d images of %d×%d, batch %d, σ ∈ [%g, %.4g], %d workers",
		verb, presetName(r.g.Config), r.g.NumParams(), r.g.TrainFLOPs()*float64(r.hp.Batch)/1e9, r.set.count(),
		r.set.n, r.set.n, r.hp.Batch, r.g.Config.SigmaMin, r.g.Config.SigmaMax, runtime.GOMAXPROCS(0))
	runStart := time.Now()
	lastCk := runStart
	save := func() error {
		if err := lw.Flush(); err != nil {
			return fmt.Errorf("could not write the loss log: %w", err)
		}
		if err := lf.Sync(); err != nil {
			return fmt.Errorf("could not write the loss log: %w", err)
		}
		lastCk = time.Now()
		return r.checkpoint(r.elapsed + time.Since(runStart).Seconds())
	}
	reason := ""
	for reason == "" {
		r.fillBatch()
		r.vm.Reset()
		if err := r.vm.RunAll(); err != nil {
			return fmt.Errorf("training step %d failed: %w", r.step+1, err)
		}
		// The log shows the plain DSM loss whatever the objective's weighting, so that runs
		// stay comparable; the objective is checked too.
		loss := float64(r.net.DSM.Value().Data().(float32))
		obj := float64(r.net.Loss.Value().Data().(float32))
		if bad := loss + obj; math.IsNaN(bad) || math.IsInf(bad, 0) {
			lw.Flush()
			return fmt.Errorf("the loss became %v at step %d; the last checkpoint is kept", bad, r.step+1)
		}
		lr, gnorm := r.update()
		if r.step == 1 {
			r.lossEMA = loss
		} else {
			r.lossEMA = 0.99*r.lossEMA + 0.01*loss
		}
		now := time.Now()
		fmt.Fprintf(lw, "%d,%.3f,%s,%.6g,%.6g,%.6g\n", r.step, r.elapsed+now.Sub(runStart).Seconds(),
			strconv.FormatFloat(loss, 'g', -1, 32), lr, gnorm, r.lossEMA)
		if o.OnStep != nil {
			o.OnStep(r.step, loss)
		}
		switch {
		case ctx.Err() != nil:
			reason = "interrupted"
		case o.Steps > 0 && r.step >= o.Steps:
			reason = "step target reached"
		case !deadline.IsZero() && !now.Before(deadline):
			reason = "time limit reached"
		}
		p.update(now, r.step, o.Steps, loss, r.lossEMA, deadline, reason != "")
		if reason == "" && now.Sub(lastCk) >= o.CkptEvery {
			if err := save(); err != nil {
				return err
			}
		}
	}
	if err := save(); err != nil {
		return err
	}
	p.line("stopped at step %d (%s) after %s; checkpoint %s", r.step, reason,
		fmtDur(time.Since(runStart)), filepath.Join(o.Out, CheckpointFile))
	return nil
}

func presetName(c ncsnpp.Config) string {
	if c.Preset != "" {
		return "NCSN++ " + c.Preset
	}
	return "NCSN++"
}

// trimLoss drops the rows of a loss log after step (written after the last checkpoint by a
// run that was killed), so that a resumed run continues one unbroken curve.
func trimLoss(path string, step int64) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return os.WriteFile(path, []byte(lossHeader), 0o644)
	}
	if err != nil {
		return fmt.Errorf("could not read the loss log: %w", err)
	}
	var out strings.Builder
	out.WriteString(lossHeader)
	for i, line := range strings.Split(string(b), "\n") {
		if i == 0 || line == "" {
			continue
		}
		s, _, _ := strings.Cut(line, ",")
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("could not read the loss log %q: line %d: %w", path, i+1, err)
		}
		if n <= step {
			out.WriteString(line + "\n")
		}
	}
	if err := writeAtomic(path, []byte(out.String())); err != nil {
		return fmt.Errorf("could not rewrite the loss log: %w", err)
	}
	return nil
}
