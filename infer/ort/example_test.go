package ort_test

import (
	"context"
	"fmt"
	"log"

	"scorelens/infer"
	"scorelens/infer/ort"
)

// How `scorelens sample --model` uses a model: the convention flags go into Options with
// the lens file's source grid (1 channel, ns×ns), so a model made for another size is
// refused before sampling; the SDE comes from the model (with --sigma-min/--sigma-max
// already applied).
func ExampleOpen() {
	ns := 8 // cfg.Source.Pixels of the lens file
	m, err := ort.Open("../../testdata/models/gauss_torch.onnx", ort.Options{
		Device: "cpu", Threads: 0, // --device, --threads
		TimeInput: "", Output: "", // --time-input, --output ("" = metadata, else the contract)
		SigmaMin: 0, SigmaMax: 0, // --sigma-min, --sigma-max (0 = data_scale × metadata)
		Channels: 1, Height: ns, Width: ns,
	})
	if err != nil {
		log.Fatal(err) // one line naming the problem
	}
	defer m.Close()
	lo, hi := m.SigmaRange()
	sde := infer.VESDE{SigmaMin: lo, SigmaMax: hi}
	var prior infer.ScoreModel = m
	x, score := make([]float32, 2*ns*ns), make([]float32, 2*ns*ns)
	if err := prior.Score(context.Background(), score, x, []float32{1, 0.5}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(sde.Validate() == nil)
}
