package train

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadAndPlotLoss(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, LossFile)
	body := lossHeader + "1,1.5,2043.4,6e-07,5458.6,2043.4\n2,2.9,1800,1.2e-06,6296.4,2041\n3,4.1,0,1.8e-06,10,2030\n"
	if err := os.WriteFile(csvPath, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadLoss(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[1] != (LossRow{Step: 2, Seconds: 2.9, Loss: 1800, LR: 1.2e-6, GradNorm: 6296.4, EMALoss: 2041}) {
		t.Fatalf("rows = %+v", rows)
	}
	out := filepath.Join(dir, "loss.png")
	if err := PlotLoss(out, rows, "run"); err != nil { // the zero loss is left off the log axis
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	// 16 × 10 cm at 110 dpi.
	if cfg.Width != 693 || cfg.Height != 433 {
		t.Errorf("loss.png is %d×%d, want 693×433", cfg.Width, cfg.Height)
	}
}

func TestReadLossRefusesBadFiles(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"header", "step,time,loss,lr,grad_norm,ema_loss\n1,1,1,1,1,1\n", `column 2 is "time"`},
		{"number", lossHeader + "1,1,abc,1,1,1\n", `line 2, column loss: "abc" is not a number`},
		{"fields", lossHeader + "1,1,1\n", "wrong number of fields"},
		{"empty", lossHeader, "no steps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), LossFile)
			if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadLoss(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if err := PlotLoss(filepath.Join(t.TempDir(), "x.png"), []LossRow{{Step: 1, Loss: -1}}, ""); err == nil {
		t.Error("a curve with no positive loss was plotted")
	}
}
