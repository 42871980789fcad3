package coord_test

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// jsonLines parses a JSON log.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestLogsOperatorsCanUse: without Diagnostics, a leader change, a
// step-down with its cause and the circuit breaker's opening and closing
// are logged at Info/Warn; the message keeps the migration guide's text
// and namespace, plugin, leader, epoch and cause are attributes of their
// own, so that JSON logs can be queried.
func TestLogsOperatorsCanUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		view := faultstore.New(mem.New(mem.Options{}), 1)
		h := newHub(t, view, coord.Config{WorkerID: "a", RandSeed: 1, Logger: log})
		sub, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sub.WaitLeader(t.Context()); err != nil {
			t.Fatal(err)
		}
		view.Partition(0) // renewals fail: the breaker opens, the leader steps down
		time.Sleep(30 * time.Second)
		view.Heal()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		find := func(msg string) map[string]any {
			for _, l := range jsonLines(t, buf.String()) {
				if strings.Contains(l["msg"].(string), msg) {
					return l
				}
			}
			t.Errorf("no log line with %q in:\n%s", msg, buf.String())
			return nil
		}
		if l := find("[coordinator:global] [default] Leader changed: none → a (epoch: 1)"); l != nil {
			if l["level"] != "INFO" || l["namespace"] != "default" || l["leader"] != "a" || l["epoch"] != float64(1) {
				t.Errorf("leader change line %v", l)
			}
		}
		if l := find("stepped down"); l != nil {
			if l["level"] != "WARN" || !strings.Contains(l["cause"].(string), coord.ErrRenewDeadline.Error()) || l["epoch"] != float64(1) {
				t.Errorf("step-down line %v", l)
			}
		}
		if l := find("circuit breaker open"); l != nil && l["level"] != "WARN" {
			t.Errorf("breaker line %v", l)
		}
		find("circuit breaker closed")
		_ = h.Close(t.Context())
	})
}
