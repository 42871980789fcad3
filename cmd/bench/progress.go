package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws one status line on stderr while the benchmark runs. On a
// terminal the line is redrawn in place (at most every 100ms); otherwise
// one line is printed per scenario. It never writes to the report output.
type progress struct {
	mu      sync.Mutex
	w       io.Writer // nil: silent
	tty     bool
	total   int
	n       int
	name    string
	start   time.Time
	lastOut time.Time
	width   int // of the last line drawn, to blank it
	now     func() time.Time
}

// newProgress returns a progress line for total scenarios on w; w nil
// makes it silent.
func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, start: time.Now(), now: time.Now}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// begin starts the next scenario.
func (p *progress) begin(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.name = name
	if p.w == nil {
		return
	}
	if p.tty {
		p.draw(p.line(-1))
		return
	}
	fmt.Fprintln(p.w, p.line(-1))
}

// update reports how far the current scenario is, as a fraction in [0, 1].
func (p *progress) update(fraction float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil || !p.tty {
		return
	}
	if now := p.now(); now.Sub(p.lastOut) >= 100*time.Millisecond {
		p.lastOut = now
		p.draw(p.line(fraction))
	}
}

// finish clears the line.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w != nil && p.tty {
		p.draw("")
	}
}

func (p *progress) line(fraction float64) string {
	s := fmt.Sprintf("[%d/%d %s] %s", p.n, p.total, p.now().Sub(p.start).Round(time.Second), p.name)
	if fraction >= 0 {
		s += fmt.Sprintf(" %3.0f%%", 100*min(max(fraction, 0), 1))
	}
	return s
}

func (p *progress) draw(s string) {
	pad := ""
	if n := p.width - len(s); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprint(p.w, "\r"+s+pad)
	p.width = len(s)
	if s == "" {
		fmt.Fprint(p.w, "\r")
	}
}
