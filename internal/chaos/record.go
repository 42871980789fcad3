package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Line kinds of a worker's interval log.
const (
	// KindReady: the worker's Hub runs and every plugin is registered.
	KindReady = "ready"
	// KindStart: the worker began to lead a plugin (Lead was called).
	KindStart = "start"
	// KindEnd: the worker stopped leading a plugin.
	KindEnd = "end"
)

// Reasons a leadership interval ended.
const (
	// EndCancelled: the leadership context was cancelled (renew deadline,
	// lease lost, unsubscribe).
	EndCancelled = "cancelled"
	// EndTermInvalid: Subscription.Term no longer reported this leadership
	// (checked before every leader action), before the context was
	// cancelled.
	EndTermInvalid = "term-invalid"
	// EndShutdown: the worker was stopped gracefully.
	EndShutdown = "shutdown"
	// EndKilled: the worker was killed (kill -9); the orchestrator closes
	// the open interval at the time the process was reaped.
	EndKilled = "killed"
	// EndExited: the worker exited on its own (a crash); the interval is
	// closed at the time the process was reaped, and the run fails.
	EndExited = "exited"
	// EndRunOver: the interval was still open when the run ended.
	EndRunOver = "run-over"
)

// Line is one JSON line of a worker's interval log. All times are wall
// clock readings of this one machine in Unix nanoseconds (every worker and
// the orchestrator run on it, so their readings are comparable); the
// RFC 3339 forms are for people.
type Line struct {
	Kind   string `json:"kind"`
	Worker string `json:"worker"`
	PID    int    `json:"pid"`
	Mode   string `json:"mode,omitempty"`
	Plugin string `json:"plugin,omitempty"`
	Epoch  uint64 `json:"epoch,omitempty"`
	// At is when the line's event happened: for start, when Lead was
	// called; for end, when the worker noticed the end.
	At     int64  `json:"at"`
	AtWall string `json:"at_wall"`
	// Acquired (start lines) is plugin.Term.Started: when the engine
	// considers the leadership begun.
	Acquired int64 `json:"acquired,omitempty"`
	// LastAct (end lines) is the time of the last leader action: the last
	// moment the worker checked Subscription.Term, found this leadership
	// valid and acted on it (0: never acted).
	LastAct int64  `json:"last_act,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Wall formats a Unix-nanosecond wall clock reading.
func Wall(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// LogWriter appends Lines to a file, one JSON object per line, and
// fsyncs after each, so that a killed worker loses at most the line it was
// writing. It is safe for concurrent use.
type LogWriter struct {
	mu sync.Mutex
	f  *os.File
}

// CreateLog creates (truncates) the log file at path.
func CreateLog(path string) (*LogWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &LogWriter{f: f}, nil
}

// Write appends l and syncs the file. It fills AtWall from At.
func (w *LogWriter) Write(l Line) error {
	l.AtWall = Wall(l.At)
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.f.Write(b); err != nil {
		return err
	}
	return w.f.Sync()
}

// Close closes the file.
func (w *LogWriter) Close() error { return w.f.Close() }

// LogReader follows a log file that another process appends to: each
// Next call returns the complete lines added since the last call.
type LogReader struct {
	path    string
	offset  int64
	partial []byte
}

// NewLogReader follows the log at path (which may not exist yet).
func NewLogReader(path string) *LogReader { return &LogReader{path: path} }

// Next returns the complete lines appended since the previous call. A
// line that fails to decode is an error: workers write whole lines only.
func (r *LogReader) Next() ([]Line, error) {
	f, err := os.Open(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(r.offset, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	r.offset += int64(len(data))
	data = append(r.partial, data...)
	var out []Line
	start := 0
	for i, b := range data {
		if b != '\n' {
			continue
		}
		var l Line
		if err := json.Unmarshal(data[start:i], &l); err != nil {
			return out, fmt.Errorf("%s: bad line %q: %w", r.path, data[start:i], err)
		}
		out = append(out, l)
		start = i + 1
	}
	r.partial = append([]byte(nil), data[start:]...)
	return out, nil
}
