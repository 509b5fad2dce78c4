package ort

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"scorelens/infer"
)

// OpenPrior opens the score model at path for sampling one-channel ns×ns sources and
// returns it as the sampler's prior, with the SHA-256 of the file (part of the run's
// fingerprint) and the σ range the model and the sampler then share. The caller closes
// the Model when sampling is done.
func OpenPrior(path string, ns int, opt Options) (*infer.ModelPrior, *Model, error) {
	sum, err := fileSHA256(path)
	if err != nil {
		return nil, nil, err
	}
	opt.Channels, opt.Height, opt.Width = 1, ns, ns
	m, err := Open(path, opt)
	if err != nil {
		return nil, nil, err
	}
	lo, hi := m.SigmaRange()
	return &infer.ModelPrior{Score: m, Name: filepath.Base(path), SHA256: sum, SigmaMin: lo, SigmaMax: hi}, m, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("could not read model: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("could not read model %q: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
