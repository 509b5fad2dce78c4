// Package net builds the NCSN++ network of a scorelens/trainer/ncsnpp description as a
// Gorgonia expression graph (ops from scorelens/trainer/gop), for a fixed batch size, with
// optionally the denoising score-matching loss of the paper's eq. 3 and its gradients
// (gorgonia.Grad), run by a gorgonia TapeMachine.
//
// The inputs and parameters are bound once to tensors whose backing slices the caller
// fills in place (Net.X, Net.T, Net.Z, Net.Values) before each run; outputs and gradients
// are read from the nodes after the run and stay valid until the next one.
package net
