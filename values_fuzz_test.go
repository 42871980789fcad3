package coord

import (
	"strings"
	"testing"
	"time"
)

// FuzzValues: every value that Proclaim accepts is read back
// byte-identical from the lease record a follower decodes, and every
// WorkerMeta value that Validate accepts from the worker record; no
// accepted value makes a record undecodable.
func FuzzValues(f *testing.F) {
	for _, s := range []string{"", "10.0.0.1:8080", "\xff", "a\x00b", "é", "\u2028<>&\"\\", "\xed\xa0\x80", strings.Repeat("\U0001F600", 256), strings.Repeat("\xff", 1024)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if (&Hub{}).Proclaim(v) == nil {
			rec := leaseRecord{Format: recordFormat, Namespace: "ns", Plugin: "p", Leader: "w1", Mode: "per-plugin", Epoch: 1, Seq: 1, Incarnation: "i", LeaseMillis: 15000, Renewed: time.Unix(0, 0).UTC(), Value: v}
			got, err := decodeLease(encodeLease(&rec), "ns", "p")
			if err != nil || got.Value != v {
				t.Fatalf("Proclaim accepted %q; the record decodes as %v, %+v", v, err, got)
			}
		}
		cfg := DefaultConfig()
		cfg.WorkerMeta = map[string]string{"k": v}
		if cfg.validateNames() == nil {
			w := workerRecord{Format: recordFormat, ID: "w1", Namespace: "ns", Mode: "global", Seq: 1, Meta: cfg.WorkerMeta}
			got, err := decodeWorker(encodeWorker(&w))
			if err != nil || got.Meta["k"] != v {
				t.Fatalf("WorkerMeta accepted %q; the worker record decodes as %v, %v", v, err, got)
			}
		}
	})
}
