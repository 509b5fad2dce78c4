package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The combine command on the PyTorch test model joined to itself (the export package tests
// the combination against its parts); bad switches and files: one line, exit 1, nothing
// written.
func TestCombineCommand(t *testing.T) {
	model := filepath.Join(testModels, "tiny_torch.onnx")
	out := filepath.Join(t.TempDir(), "joined.onnx")
	code, stdout, errs := runCLI(t, "combine", "--base", model, "--expert", model, "--switch-sigma", "0.1", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(stdout, "the expert below σ = 0.1") {
		t.Errorf("output %q", stdout)
	}
	code, stdout, errs = runCLI(t, "inspect", out)
	if code != 0 || !strings.Contains(stdout, "scorelens.switch_sigma = 0.1") {
		t.Errorf("inspect of the combined model: exit %d, %q, %q", code, stdout, errs)
	}
	code, stdout, errs = runCLI(t, "combine", "--base", model, "--expert", model, "--switch-sigma", "0.1", "--blend-sigma", "1", "--blend-weight", "2", "--out", out)
	if code != 0 || !strings.Contains(stdout, "2·expert − 1·base (autoguidance) up to σ = 1") {
		t.Errorf("autoguided: exit %d, %q, %q", code, stdout, errs)
	}
	code, stdout, errs = runCLI(t, "inspect", out)
	if code != 0 || !strings.Contains(stdout, "scorelens.blend_sigma = 1") || !strings.Contains(stdout, "scorelens.blend_weight = 2") {
		t.Errorf("inspect of the autoguided model: exit %d, %q, %q", code, stdout, errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--switch-sigma", "0.1", "--blend-weight", "0.3"}, "--blend-weight needs --blend-sigma"},
		{[]string{"--switch-sigma", "0.1", "--blend-sigma", "0.05"}, "blend σ 0.05 must lie above the switch σ 0.1"},
		{[]string{"--switch-sigma", "50"}, "switch σ 50 lies outside the models' range"},
		{[]string{"--switch-sigma", "-1"}, "switch σ -1 lies outside"},
		{[]string{"--switch-sigma", "0.1", "--expert", filepath.Join(t.TempDir(), "none.onnx")}, "could not read model"},
	} {
		dst := filepath.Join(t.TempDir(), "never.onnx")
		args := append([]string{"combine", "--base", model, "--expert", model, "--out", dst}, c.args...)
		code, _, errs := runCLI(t, args...)
		if code != 1 || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want one line with %q", c.args, code, errs, c.want)
		}
		if _, err := os.Stat(dst); err == nil {
			t.Errorf("%v: a refused combination wrote %s", c.args, dst)
		}
	}
}
