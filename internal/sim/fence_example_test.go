package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// fencedLog is shared state that only the leader writes, fenced by the
// epoch: the record carries the epoch of its last writer; Append refuses a
// term older than that (plugin.CheckEpoch) and writes by IfMatch on the
// exact version it judged, so that a newer leader writing between the
// check and the write makes the write fail instead of being overwritten.
type fencedLog struct {
	store driver.Store
	key   string
	// beforeWrite, if set, runs between the check and the write (tests
	// pause the process there).
	beforeWrite func(line string)
}

type logRecord struct {
	Epoch uint64   `json:"epoch"`
	Lines []string `json:"lines"`
}

// Append adds line as the leader of term. It returns an error for which
// errors.Is(err, plugin.ErrStaleEpoch) holds when a newer leader has
// written.
func (f *fencedLog) Append(ctx context.Context, term plugin.Term, line string) error {
	for {
		var rec logRecord
		cond := driver.IfAbsent()
		obj, err := f.store.Get(ctx, f.key)
		switch {
		case errors.Is(err, driver.ErrNotFound):
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(obj.Data, &rec); err != nil {
				return err
			}
			cond = driver.IfMatch(obj.Version)
		}
		if err := plugin.CheckEpoch(rec.Epoch, term.Epoch); err != nil {
			return err
		}
		rec.Epoch = term.Epoch
		rec.Lines = append(rec.Lines, line)
		data, _ := json.Marshal(rec)
		if f.beforeWrite != nil {
			f.beforeWrite(line)
		}
		if _, err := f.store.Put(ctx, f.key, data, cond); !errors.Is(err, driver.ErrPrecondition) {
			return err
		}
		// Someone wrote between our read and our write: judge again.
	}
}

// Lines returns the log.
func (f *fencedLog) Lines(ctx context.Context) ([]string, error) {
	obj, err := f.store.Get(ctx, f.key)
	if err != nil {
		return nil, err
	}
	var rec logRecord
	err = json.Unmarshal(obj.Data, &rec)
	return rec.Lines, err
}

// A plugin guards its writes with the epoch of its Term: a leader that was
// paused past its lease and wakes up after its successor wrote cannot
// overwrite the successor's work.
func Example_fencing() {
	ctx := context.Background()
	log := &fencedLog{store: mem.New(mem.Options{}), key: "app/log.json"}
	old := plugin.Term{Plugin: "log", Leader: "p1", Epoch: 1}
	next := plugin.Term{Plugin: "log", Leader: "p2", Epoch: 2}

	fmt.Println(log.Append(ctx, old, "p1: first"))
	// p1 pauses past its lease; p2 takes over with epoch 2 and writes.
	fmt.Println(log.Append(ctx, next, "p2: second"))
	// p1 wakes up and tries to go on with its old term.
	err := log.Append(ctx, old, "p1: stale")
	fmt.Println(errors.Is(err, plugin.ErrStaleEpoch))
	lines, _ := log.Lines(ctx)
	fmt.Println(lines)
	// Output:
	// <nil>
	// <nil>
	// true
	// [p1: first p2: second]
}
