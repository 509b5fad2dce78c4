package progress

import (
	"strings"
	"testing"
	"time"
)

// clock is a fake clock advanced by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLinesEveryTenthAndInterval(t *testing.T) {
	var sb strings.Builder
	c := &clock{t: time.Unix(0, 0)}
	b := NewLines(&sb)
	b.Now = c.now
	// 100 units, one per second: a line at every tenth (10 lines), none in between since
	// 10 s < Every = 30 s.
	for i := int64(0); i <= 100; i++ {
		b.Update(State{Done: i, Total: 100, SamplesTotal: 8})
		c.t = c.t.Add(time.Second)
	}
	lines := strings.Split(strings.TrimSpace(sb.String()), "\n")
	if len(lines) != 10 {
		t.Fatalf("%d lines, want 10:\n%s", len(lines), sb.String())
	}
	// At 50 of 100 units after 50 s, 50 s remain.
	if !strings.Contains(lines[4], " 50%") || !strings.Contains(lines[4], "0:50 elapsed, 0:50 left") {
		t.Errorf("line 5: %q", lines[4])
	}
	if strings.ContainsAny(sb.String(), "\r\x1b") {
		t.Errorf("control characters in log lines: %q", sb.String())
	}

	// Slow work: a line after every Every even without a new tenth.
	sb.Reset()
	b = NewLines(&sb)
	b.Now = c.now
	for i := int64(0); i < 5; i++ {
		b.Update(State{Done: i, Total: 1000})
		c.t = c.t.Add(31 * time.Second)
	}
	if n := strings.Count(sb.String(), "\n"); n != 4 {
		t.Errorf("%d lines for 4 intervals of 31 s, want 4:\n%s", n, sb.String())
	}
}

func TestBarRedraw(t *testing.T) {
	var sb strings.Builder
	c := &clock{t: time.Unix(0, 0)}
	b := New(&sb)
	b.terminal = true
	b.Now = c.now
	b.Update(State{Done: 0, Total: 10, Batch: 1, Batches: 2, Step: 0, Steps: 5, SamplesTotal: 4})
	b.Update(State{Done: 1, Total: 10}) // within Redraw: skipped
	c.t = c.t.Add(time.Second)
	b.Update(State{Done: 5, Total: 10, Batch: 2, Batches: 2, Step: 0, Steps: 5, Samples: 2, SamplesTotal: 4})
	b.Printf("a message")
	b.Finish()
	out := sb.String()
	if n := strings.Count(out, "\r"); n != 2 {
		t.Errorf("%d redraws, want 2: %q", n, out)
	}
	if !strings.Contains(out, "[==========>         ]  50%  batch 2/2  step 0/5  samples 2/4  0:01 elapsed, 0:01 left") {
		t.Errorf("bar: %q", out)
	}
	if !strings.HasSuffix(out, "\na message\n") {
		t.Errorf("message does not start a new line: %q", out)
	}
}

func TestNilWriter(t *testing.T) {
	b := New(nil)
	b.Update(State{Done: 1, Total: 2})
	b.Printf("x")
	b.Finish()
	var nb *Bar
	nb.Update(State{})
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0:00", 59 * time.Second: "0:59", 61 * time.Minute: "1:01:00", -time.Second: "0:00"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}
