package train

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

// progress shows the state of a run: a one-line bar redrawn in place on a terminal,
// plain log lines at intervals otherwise.
type progress struct {
	w         io.Writer
	tty       bool
	quiet     bool
	every     time.Duration // interval between plain log lines
	start     time.Time
	startStep int64
	last      time.Time
}

func newProgress(w io.Writer, quiet bool, start time.Time, step int64) *progress {
	return &progress{w: w, tty: isTerminal(w), quiet: quiet, every: 30 * time.Second, start: start, startStep: step}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// eta returns the time left: to the step target or to the deadline, whichever is first.
func eta(step, target int64, rate float64, now, deadline time.Time) (time.Duration, bool) {
	d, ok := time.Duration(math.MaxInt64), false
	if target > 0 && rate > 0 {
		d, ok = time.Duration(float64(target-step)/rate*float64(time.Second)), true
	}
	if !deadline.IsZero() {
		d, ok = min(d, max(deadline.Sub(now), 0)), true
	}
	return d, ok
}

func fmtDur(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm", h, m)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}

// update redraws the bar (terminal) or prints a line when the interval has passed (or
// force).
func (p *progress) update(now time.Time, step, target int64, loss, lossEMA float64, deadline time.Time, force bool) {
	if p.quiet {
		return
	}
	if !force && now.Sub(p.last) < map[bool]time.Duration{true: 250 * time.Millisecond, false: p.every}[p.tty] {
		return
	}
	p.last = now
	rate := 0.0
	if el := now.Sub(p.start).Seconds(); el > 0 {
		rate = float64(step-p.startStep) / el
	}
	of := ""
	if target > 0 {
		of = fmt.Sprintf("/%d", target)
	}
	msg := fmt.Sprintf("step %d%s  loss %.4g (avg %.4g)  %.3g step/s", step, of, loss, lossEMA, rate)
	left, ok := eta(step, target, rate, now, deadline)
	if ok {
		msg += "  ETA " + fmtDur(left)
	}
	if !p.tty {
		fmt.Fprintln(p.w, msg)
		return
	}
	frac := -1.0
	if target > 0 {
		frac = float64(step) / float64(target)
	}
	if !deadline.IsZero() {
		if span := deadline.Sub(p.start); span > 0 {
			frac = max(frac, float64(now.Sub(p.start))/float64(span))
		}
	}
	bar := ""
	if frac >= 0 {
		const width = 24
		k := int(math.Round(min(frac, 1) * width))
		bar = "[" + strings.Repeat("#", k) + strings.Repeat(".", width-k) + "] "
	}
	fmt.Fprintf(p.w, "\r%s%s\x1b[K", bar, msg)
}

// line prints a message on its own line (ending the bar's line on a terminal).
func (p *progress) line(format string, args ...any) {
	if p.quiet {
		return
	}
	if p.tty && !p.last.IsZero() {
		fmt.Fprintln(p.w)
		p.last = time.Time{}
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}
