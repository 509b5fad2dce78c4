// Package demo runs the end-to-end demonstration of scorelens (`scorelens demo`, what
// `make demo` runs): it simulates a lens from a built-in galaxy, samples the posterior of
// its source and draws the paper's figure 1; with OOD it reproduces the paper's figure 2, an
// out-of-distribution source observed at increasing noise levels.
package demo
