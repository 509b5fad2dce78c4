// Package onnxbuild builds ONNX models in Go: graph inputs and outputs with fixed or
// symbolic (dynamic) dimensions, float32/float64/int64 initialisers, nodes with attributes
// and model metadata_props, serialised through the generated types of
// scorelens/export/onnxpb.
//
// A Builder checks the graph when the model is made (Model, Marshal, WriteFile): every
// node input must be a graph input, an initialiser or the output of an earlier node
// (nodes are kept in the order they are added, which must be topological, as ONNX
// requires), no name may be produced twice, and every graph output must be produced.
// It does not check operator semantics; ONNX Runtime does that when it loads the model.
//
// The default operator set is the standard domain at opset 17 (IR version 8), the minimum
// of the score-model contract (SPEC §6); newer opsets get the matching IR version.
//
//	b := onnxbuild.New("affine", 17)
//	b.Input("x", onnxbuild.Float32, onnxbuild.Dynamic("batch"), onnxbuild.Fixed(4))
//	w := b.Float32("w", []int64{1}, []float32{2})
//	y := b.Op("Mul", nil, "x", w)
//	b.Output(y, onnxbuild.Float32, onnxbuild.Dynamic("batch"), onnxbuild.Fixed(4))
//	b.Metadata("scorelens.sde", "ve")
//	err := b.WriteFile("affine.onnx")
package onnxbuild
