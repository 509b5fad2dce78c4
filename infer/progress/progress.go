// Package progress reports the progress of a long run on a writer (stderr): a redrawn bar
// on a terminal, plain log lines otherwise.
//
// On a terminal the bar is redrawn in place at most every Redraw interval:
//
//	[=========>          ]  45%  batch 2/4  step 120/200  samples 2/8  0:12 left
//
// Elsewhere (a file, a pipe, a batch system's log) one line is written each time another
// tenth of the work is done or Every has passed since the last line, whichever comes first.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// State is where a run stands. Work is counted in units (for the sampler: solver steps
// times samples), the rest is shown as it is.
type State struct {
	Done, Total           int64 // units of work done and to do in this process
	Batch, Batches        int   // batch in flight (1-based) of this process's batches
	Step, Steps           int   // solver step of the batch in flight
	Samples, SamplesTotal int   // samples on disk, samples wanted
}

// Bar reports States on a writer. It is safe for concurrent use.
type Bar struct {
	w        io.Writer
	terminal bool
	// Every is the longest interval between two log lines (not on a terminal).
	Every time.Duration
	// Redraw is the shortest interval between two redraws of the bar (on a terminal).
	Redraw time.Duration
	// Now is the clock (time.Now unless a test replaces it).
	Now func() time.Time

	mu        sync.Mutex
	start     time.Time
	last      time.Time // last line or redraw
	lastTenth int64
	drawn     bool // a bar is on the terminal's current line
	started   bool
}

// New returns a Bar writing to w, drawing a bar when w is a terminal. A nil w gives a Bar
// that reports nothing.
func New(w io.Writer) *Bar {
	return &Bar{w: w, terminal: IsTerminal(w), Every: 30 * time.Second, Redraw: 100 * time.Millisecond, Now: time.Now}
}

// NewLines returns a Bar that writes plain lines whatever w is.
func NewLines(w io.Writer) *Bar {
	b := New(w)
	b.terminal = false
	return b
}

// IsTerminal reports whether w is a character device (a terminal) and TERM is not "dumb".
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	return os.Getenv("TERM") != "dumb"
}

// Update reports s. The first call starts the clock of the rate and the ETA.
func (b *Bar) Update(s State) {
	if b == nil || b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.Now()
	if !b.started {
		b.started, b.start, b.last = true, now, now
	}
	finished := s.Total > 0 && s.Done >= s.Total
	if b.terminal {
		if !finished && b.drawn && now.Sub(b.last) < b.Redraw {
			return
		}
		b.last = now
		fmt.Fprintf(b.w, "\r%s\x1b[K", b.format(s, now, true))
		b.drawn = true
		return
	}
	tenth := int64(0)
	if s.Total > 0 {
		tenth = 10 * s.Done / s.Total
	}
	if tenth > b.lastTenth || now.Sub(b.last) >= b.Every {
		b.lastTenth, b.last = tenth, now
		fmt.Fprintln(b.w, b.format(s, now, false))
	}
}

// Printf writes a message on a line of its own (ending the bar's line first).
func (b *Bar) Printf(format string, args ...any) {
	if b == nil || b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
	fmt.Fprintf(b.w, strings.TrimSuffix(format, "\n")+"\n", args...)
}

// Finish ends the bar's line on a terminal.
func (b *Bar) Finish() {
	if b == nil || b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

const barWidth = 20

func (b *Bar) format(s State, now time.Time, bar bool) string {
	frac := 0.0
	if s.Total > 0 {
		frac = min(1, float64(s.Done)/float64(s.Total))
	}
	var sb strings.Builder
	if bar {
		full := int(frac * barWidth)
		sb.WriteByte('[')
		for i := 0; i < barWidth; i++ {
			switch {
			case i < full:
				sb.WriteByte('=')
			case i == full && full < barWidth:
				sb.WriteByte('>')
			default:
				sb.WriteByte(' ')
			}
		}
		sb.WriteString("] ")
	}
	fmt.Fprintf(&sb, "%3.0f%%", 100*frac)
	if s.Batches > 0 {
		fmt.Fprintf(&sb, "  batch %d/%d", s.Batch, s.Batches)
	}
	if s.Steps > 0 {
		fmt.Fprintf(&sb, "  step %d/%d", s.Step, s.Steps)
	}
	if s.SamplesTotal > 0 {
		fmt.Fprintf(&sb, "  samples %d/%d", s.Samples, s.SamplesTotal)
	}
	el := now.Sub(b.start)
	fmt.Fprintf(&sb, "  %s elapsed", Duration(el))
	if s.Done > 0 && s.Done < s.Total {
		left := time.Duration(float64(el) * float64(s.Total-s.Done) / float64(s.Done))
		fmt.Fprintf(&sb, ", %s left", Duration(left))
	}
	return sb.String()
}

// Duration formats d as h:mm:ss, or m:ss under an hour.
func Duration(d time.Duration) string {
	sec := int64(d.Round(time.Second) / time.Second)
	if sec < 0 {
		sec = 0
	}
	h, m, s := sec/3600, sec/60%60, sec%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}
