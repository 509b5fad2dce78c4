// Package gop wraps the kernels of scorelens/trainer/kernels as Gorgonia operations
// (gorgonia.Op with SymDiff for autodiff), so that the NCSN++ network is an ordinary
// Gorgonia expression graph differentiated by gorgonia.Grad and run by a TapeMachine.
//
// Each forward operation returns, from SymDiff, nodes of backward operations (also ops of
// this package) that call the backward kernels; those are not themselves differentiable
// (first-order training only). Every operation supports float32 and float64.
//
// Memory: each operation instance owns its output tensor and returns the same tensor on
// every run once the shapes are known, so a training loop that runs one compiled graph
// repeatedly does not allocate its activations or gradients again. Consequently an
// operation instance must appear in one node only, which the constructors here guarantee
// (each call makes a fresh instance), and a value read from a node is valid until the next
// run of the machine.
package gop
