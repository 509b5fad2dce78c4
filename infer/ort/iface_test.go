package ort_test

import (
	"scorelens/infer"
	"scorelens/infer/ort"
)

// The sampler's interface (an external test package, so that infer may import ort).
var _ infer.ScoreModel = (*ort.Model)(nil)
