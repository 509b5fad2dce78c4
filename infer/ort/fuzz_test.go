package ort

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// FuzzStatic feeds arbitrary bytes to the static checks (parsing, the contract, the FLOP
// count): they must return errors, never panic. The seeds are the test models.
func FuzzStatic(f *testing.F) {
	for _, name := range []string{"gauss_torch.onnx", "tiny_torch.onnx"} {
		data, err := os.ReadFile(filepath.Join(torchModels, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) { staticChecks(t, filepath.Join(dir, "m.onnx"), data) })
}

func staticChecks(t *testing.T, path string, data []byte) {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := readModel(path)
	if err != nil {
		return
	}
	c, err := m.resolve(Options{Height: 16, Width: 16, Channels: 1})
	if err != nil {
		c = Conventions{InputName: "x", TimeName: "t", Channels: 1, Height: 16, Width: 16}
	}
	countFLOPs(m.proto.GetGraph(), c)
}

// TestStaticMutations runs the static checks on 1000 random mutations (byte changes, bit
// flips, deletions) of a PyTorch-exported model, many of which still parse as ONNX with
// broken shapes, attributes and metadata.
func TestStaticMutations(t *testing.T) {
	seed, err := os.ReadFile(filepath.Join(torchModels, "tiny_torch.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.onnx")
	rng := rand.New(rand.NewPCG(1, 2))
	parsed := 0
	for it := 0; it < 1000; it++ {
		d := append([]byte{}, seed...)
		for k := 0; k < 1+rng.IntN(4); k++ {
			i := rng.IntN(len(d))
			switch rng.IntN(3) {
			case 0:
				d[i] = byte(rng.Uint32())
			case 1:
				d = append(d[:i], d[i+1:]...)
			case 2:
				d[i] ^= 1 << rng.IntN(8)
			}
		}
		staticChecks(t, path, d)
		if _, err := readModel(path); err == nil {
			parsed++
		}
	}
	t.Logf("%d of 1000 mutations still parse as ONNX", parsed)
}
