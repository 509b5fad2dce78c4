package export

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"scorelens/lens/fitsimg"
	"scorelens/trainer/train"
)

// An exported model starts a fine-tuning run (train --init-from model.onnx) with exactly
// the weights it was exported from: after one update at a learning rate of 1e-12 the run's
// EMA (rate 0.1 at the first update) equals the exported EMA to float32 rounding (1e-6
// relative per tensor), parameter by parameter, so no tensor was renamed, reshaped or
// transposed on the way. The tiny preset with the offset head covers every kind of
// parameter, the float64 Fourier frequencies included.
func TestTrainFromExport(t *testing.T) {
	dir := t.TempDir()
	g, _, ema := testCheckpoint(t, "tiny+offset", dir, 11)
	model := filepath.Join(dir, "model.onnx")
	if err := Export(dir, model, Options{}); err != nil {
		t.Fatal(err)
	}
	data := make([]float64, 4*16*16)
	for i := range data {
		data[i] = float64(i%7) / 7
	}
	im := fitsimg.NewImage("IMAGES", data, 16, 16, 4)
	im.Header.Set("NORM", "peak", "")
	set := filepath.Join(dir, "set.fits")
	if err := fitsimg.Write(set, im); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "ft")
	o := train.Options{Data: set, Out: out, InitFrom: model, Steps: 1, Quiet: true,
		HParams: train.HParams{Batch: 2, LR: 1e-12, Warmup: -1}}
	if err := train.Run(context.Background(), o, io.Discard); err != nil {
		t.Fatal(err)
	}
	ck, err := train.LoadCheckpoint(filepath.Join(out, CheckpointName))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range g.Params {
		got := ck.EMA[p.Name]
		if e := relErr(got, ema[i], 1); e > 1e-6 {
			t.Errorf("%s: the run from the export starts %.3g away from the exported weights", p.Name, e)
		}
	}
}
