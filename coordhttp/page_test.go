package coordhttp_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/coordhttp"
	"github.com/s3coord/coord/driver/mem"
)

// TestPageShowsStoreSettingsAndLeaders: the store (from its URL), the
// settings in force, each plugin's holder and the timeline of changes,
// before and after a failover.
func TestPageShowsStoreSettingsAndLeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, va := pair(t)
		opts := coordhttp.Options{StoreURL: "s3://my-bucket/coord?region=eu-west-1", MaxAge: -1}
		p := parseHTML(t, get(t, coordhttp.New(a, opts), "/").Body)
		for k, v := range map[string]string{"scheme": "s3", "bucket": "my-bucket", "prefix": "coord/", "region": "eu-west-1",
			"root": coord.DefaultConfig().Root, "check": "passed"} {
			if p.store[k] != v {
				t.Errorf("store %s = %q, want %q", k, p.store[k], v)
			}
		}
		for k, v := range map[string]string{"heartbeat_interval": "5s", "heartbeat_jitter": "1s", "lease_timeout": "15s",
			"renew_deadline": "10s", "worker_timeout": "20s", "heartbeat_bound": "16s", "membership": "on", "worker_id": "worker-a"} {
			if p.settings[k] != v {
				t.Errorf("setting %s = %q, want %q", k, p.settings[k], v)
			}
		}
		q := p.plugins["default/queue"]
		if q["holder"] != "worker-a" || q["here"] != "leading" || q["epoch"] != "1" || !strings.Contains(q["since"], "ago") {
			t.Errorf("a's plugin row %v", q)
		}
		if len(p.bars) != 1 || p.bars[0].holder != "worker-a" || p.bars[0].plugin != "default / queue" {
			t.Errorf("a's timeline %+v", p.bars)
		}
		if p.outage != "" {
			t.Errorf("banner %q without an outage", p.outage)
		}

		va.Partition(0) // a is cut off; b takes over
		_ = a.Close(context.Background())
		waitLeading(t, b, "queue", time.Minute)
		time.Sleep(time.Minute)
		synctest.Wait()
		pb := parseHTML(t, get(t, coordhttp.New(b, coordhttp.Options{}), "/").Body)
		q = pb.plugins["default/queue"]
		if q["holder"] != "worker-b" || q["here"] != "leading" || q["epoch"] != "2" {
			t.Errorf("b's plugin row %v", q)
		}
		var holders []string
		for _, br := range pb.bars {
			holders = append(holders, br.holder)
		}
		if got := strings.Join(holders, ","); got != "worker-a,,worker-b" && got != "worker-a,worker-b" {
			t.Errorf("b's timeline holders %q, want worker-a, (a gap,) worker-b", got)
		}
		if last := pb.bars[len(pb.bars)-1]; last.epoch != "2" || !strings.Contains(last.title, "worker-b from") {
			t.Errorf("last bar %+v", last)
		}
		if pb.store["note"] == "" || !strings.Contains(pb.store["note"], "not configured") {
			t.Errorf("no StoreURL: note %q", pb.store["note"])
		}
	})
}

// TestOutageShowsUnknown: when the store cannot be read the page says
// "unknown" for the leader, the epoch and the workers, never "none" or
// 0, with the last known leader; the JSON says leader_state "unknown".
func TestOutageShowsUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newCounting()
		a, b := cluster(t, store)
		handlers := map[string]*coordhttp.Handler{"worker-a": coordhttp.New(a, coordhttp.Options{MaxAge: -1}), "worker-b": coordhttp.New(b, coordhttp.Options{MaxAge: -1})}
		for _, h := range handlers {
			getPage(t, h) // a good read first
		}
		store.fail.Store(true)
		defer store.fail.Store(false)
		time.Sleep(3 * time.Second)
		for id, h := range handlers {
			page := getPage(t, h)
			ns := page.Coordinators[0]
			if ns.LeaderState != coordhttp.LeaderUnknown || ns.HasLeader || ns.LastKnown == nil || ns.LastKnown.ID != "worker-a" || ns.LastKnown.Epoch != 1 ||
				!ns.WorkersUnknown {
				t.Errorf("%s: JSON %+v last known %+v", id, ns, ns.LastKnown)
			}
			wantSource := map[string]string{"worker-a": "self", "worker-b": "read"}[id]
			if ns.LastKnown != nil && ns.LastKnown.Source != wantSource {
				t.Errorf("%s: last known from %q, want %q", id, ns.LastKnown.Source, wantSource)
			}
			p := parseHTML(t, get(t, h, "/").Body)
			s := p.sections[0]
			if s.fields["leader"] != "unknown" || s.fields["epoch"] != "unknown" || s.fields["worker-count"] != "unknown" || s.fields["has-leader"] != "unknown" ||
				!strings.Contains(s.fields["last-known"], "worker-a (epoch 1)") || !strings.Contains(p.outage, "unknown") {
				t.Errorf("%s: page fields %v, banner %q", id, s.fields, p.outage)
			}
			if id == "worker-b" && !strings.Contains(s.fields["last-known"], "ago") {
				t.Errorf("b: last known %q does not say when", s.fields["last-known"])
			}
		}
		// A process that never read the store successfully still knows
		// the leader from its history.
		fresh := coordhttp.New(b, coordhttp.Options{MaxAge: -1})
		if lk := getPage(t, fresh).Coordinators[0].LastKnown; lk == nil || lk.ID != "worker-a" || lk.Source != "history" {
			t.Errorf("no good read: last known %+v, want worker-a from the history", lk)
		}
	})
}

// TestStoreURLNeverShowsSecrets: a store URL that carries credentials or
// a secret in any part is never shown, on the page or in the JSON.
func TestStoreURLNeverShowsSecrets(t *testing.T) {
	h, err := coord.NewHub(mem.New(mem.Options{}), coord.Config{})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY", "hunter2", "s3cr3tT0ken"}
	urls := []string{
		"s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY@my-bucket/prefix",
		"minio://admin:hunter2@127.0.0.1:9000/bucket/prefix",
		"s3://my-bucket/prefix?aws_secret_access_key=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
		"s3://my-bucket/prefix?endpoint=http://AKIAIOSFODNN7EXAMPLE:hunter2@127.0.0.1:9000",
		"minio://127.0.0.1:9000/bucket?secure=false&token=s3cr3tT0ken",
		"bolt://user:hunter2@/var/lib/coord.db",
		"https://AKIAIOSFODNN7EXAMPLE:hunter2@example.com/",
	}
	for _, u := range urls {
		handler := coordhttp.New(h, coordhttp.Options{StoreURL: u})
		for _, path := range []string{"/", "/status.json"} {
			b, err := io.ReadAll(get(t, handler, path).Body)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets {
				if strings.Contains(string(b), s) {
					t.Errorf("%s of %q shows %q", path, u, s)
				}
			}
			if !strings.Contains(string(b), "not shown") {
				t.Errorf("%s of %q does not say the URL is not shown", path, u)
			}
		}
	}
	// A valid URL is shown without its query values other than region.
	page := getPage(t, coordhttp.New(h, coordhttp.Options{StoreURL: "minio://127.0.0.1:9000/bucket/p?secure=false"}))
	if s := page.Store; s.Scheme != "minio" || s.Host != "127.0.0.1:9000" || s.Bucket != "bucket" || s.Prefix != "p/" || s.Note != "" {
		t.Errorf("store %+v", s)
	}
}
