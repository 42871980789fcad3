package coord

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"slices"
	"time"
)

// recordFormat is the format this code writes and accepts: format 2,
// with the checksum Sum and Claims. A record of any other format is
// corrupt to this code.
const recordFormat = 2

// maxRecordSize caps the records the engine accepts. Real ones are a few
// hundred bytes (plus about 40 bytes per plugin in a namespace record).
const maxRecordSize = 64 << 10

// leaseRecord is the JSON body of a lease: the namespace lease
// (<root><ns>/state.json) or a plugin lease
// (<root><ns>/plugins/<plugin>/state.json).
//
// Every write carries a new Seq (and the writer's Incarnation), so the bytes
// of two writes never repeat: S3 versions are MD5s of the content.
type leaseRecord struct {
	Format    int    `json:"format"`
	Namespace string `json:"namespace"`
	Plugin    string `json:"plugin,omitempty"`
	// Leader is the worker id of the holder.
	Leader string `json:"leader"`
	// Mode is how the holder won: "global" or "per-plugin".
	Mode string `json:"mode"`
	// Epoch is the fencing token: strictly increasing, one leader each.
	Epoch uint64 `json:"epoch"`
	// Seq increases with every write of this lease.
	Seq uint64 `json:"seq"`
	// Incarnation is random per lease keeper: it tells this process's
	// own writes apart (ambiguous write reconciliation).
	Incarnation string `json:"incarnation"`
	// LeaseMillis is the holder's LeaseTimeout: followers wait at least
	// this long after they first saw this version.
	LeaseMillis int64 `json:"lease_ms"`
	// Renewed is the holder's wall clock at the write. Informational
	// only: never compared with another clock.
	Renewed time.Time `json:"renewed"`
	// Released is set by a graceful stop (ReleasedBy == Leader: the holder
	// stepped down before writing it; take over at once) or by an
	// operator (ReleasedBy != Leader: the holder may still act until its
	// next renewal fails, so followers wait a whole lease).
	Released   bool   `json:"released,omitempty"`
	ReleasedBy string `json:"released_by,omitempty"`
	// Delegated marks a plugin lease held on behalf of the namespace
	// lease with epoch NamespaceEpoch: valid exactly as long as that
	// namespace leadership.
	Delegated      bool   `json:"delegated,omitempty"`
	NamespaceEpoch uint64 `json:"namespace_epoch,omitempty"`
	// Plugins, in a namespace lease, are the plugins the leader leads
	// and their plugin epochs, so followers learn them for free.
	Plugins map[string]uint64 `json:"plugins,omitempty"`
	// Claims, in a namespace lease, are the plugins the leader may lead
	// (every plugin subscribed to it when it wrote the record), sorted. A
	// leader claims a plugin's lease only once a confirmed write of its
	// lists it, and lists it until it has stopped leading it, so a
	// per-plugin worker that reads a record of the current leader not
	// listing a plugin knows that leader does not lead it.
	Claims []string `json:"claims,omitempty"`
	// StandIn, in a plugin lease, marks a holder leading the plugin for a
	// namespace leader that did not list it (see syncStandIns): it
	// releases the lease once the leader lists the plugin, so the leader
	// reads it again soon instead of a heartbeat later.
	StandIn bool `json:"stand_in,omitempty"`
	// Value is what the holder proclaims with its lease (Hub.Proclaim):
	// its address, say; at most maxValueLen bytes.
	Value string `json:"value,omitempty"`
	// Workers is the holder's count of active workers of its election
	// (itself included), from its last LIST of the worker records;
	// followers take their WorkerCount from it. 0: not counted.
	Workers int `json:"workers,omitempty"`
	// Sum is the record's checksum (see checksum): a record whose Sum does
	// not match is corrupt, even when it decodes (a flipped bit in a name
	// or a number still makes valid JSON).
	Sum string `json:"sum,omitempty"`
}

// lists reports whether a namespace record lists plugin p as claimed or
// led.
func (r *leaseRecord) lists(p string) bool {
	return r.Plugins[p] != 0 || slices.Contains(r.Claims, p)
}

func (r *leaseRecord) lease() time.Duration { return time.Duration(r.LeaseMillis) * time.Millisecond }

// gracefullyReleased: the holder itself released the lease, after it had
// stopped leading.
func (r *leaseRecord) gracefullyReleased() bool { return r.Released && r.ReleasedBy == r.Leader }

// castagnoli is the CRC-32C table of record checksums.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC-32C, in 8 hex digits, of the canonical encoding of a
// record: encoding/json's encoding of its fields with Sum empty (omitted).
// Decoders recompute it from the decoded fields, so any change to a value
// the engine acts on makes it differ.
func checksum(canonical []byte) string {
	return fmt.Sprintf("%08x", crc32.Checksum(canonical, castagnoli))
}

// sealed returns the encoding of v (a record with an empty Sum) with its
// checksum set by setSum.
func sealed(v any, setSum func(string)) []byte {
	setSum(checksum(mustJSON(v)))
	return mustJSON(v)
}

// encodeLease seals a lease record. Its checksum leaves out Workers, an
// operator's figure that no judgement reads: a binary that predates the
// field decodes the record without it and must compute the same sum, so
// that fleets of mixed versions read each other's leases (a corrupted
// count shows a wrong count, never a wrong leader).
func encodeLease(r *leaseRecord) []byte {
	c := *r
	c.Sum, c.Workers = "", 0
	sum := checksum(mustJSON(&c))
	c.Workers, c.Sum = r.Workers, sum
	return mustJSON(&c)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // only plain fields: cannot happen
		panic(fmt.Sprintf("coord: encoding record: %v", err))
	}
	return b
}

// decodeLease parses and checks a lease record for key (ns, plugin). Any
// error satisfies errors.Is(err, ErrCorruptRecord).
func decodeLease(data []byte, ns, plugin string) (*leaseRecord, error) {
	if len(data) > maxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrCorruptRecord, len(data), maxRecordSize)
	}
	var r leaseRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptRecord, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrCorruptRecord)
	}
	bad := func(why string) (*leaseRecord, error) { return nil, fmt.Errorf("%w: %s", ErrCorruptRecord, why) }
	if r.Format != recordFormat {
		return bad(fmt.Sprintf("format %d, want %d", r.Format, recordFormat))
	}
	sum, workers := r.Sum, r.Workers
	r.Sum, r.Workers = "", 0
	canonical, err := json.Marshal(&r)
	if err != nil {
		return bad(err.Error())
	}
	if sum == "" || sum != checksum(canonical) {
		return bad("checksum mismatch")
	}
	r.Sum, r.Workers = sum, max(workers, 0)
	if why := r.invalid(ns, plugin); why != "" {
		return bad(why)
	}
	return &r, nil
}

// invalid returns why a decoded lease record at the key of ns/plugin is
// not one the engine writes ("" when it is).
func (r *leaseRecord) invalid(ns, plugin string) string {
	switch {
	case r.Namespace != ns || r.Plugin != plugin:
		return fmt.Sprintf("record of %q/%q at the key of %q/%q", r.Namespace, r.Plugin, ns, plugin)
	case ValidateName("worker id", r.Leader) != nil:
		return "invalid leader id"
	case r.Epoch == 0:
		return "epoch 0"
	case r.LeaseMillis <= 0 || r.lease() > maxLease:
		return fmt.Sprintf("lease %dms out of range", r.LeaseMillis)
	case r.Delegated && (plugin == "" || r.NamespaceEpoch == 0):
		return "delegation without a namespace epoch"
	case len(r.Value) > maxValueLen:
		return "value too long"
	case plugin != "" && (len(r.Plugins) > 0 || len(r.Claims) > 0):
		return "plugin lists in a plugin lease"
	}
	return r.invalidLists()
}

// invalidLists checks the plugin names of Plugins and Claims.
func (r *leaseRecord) invalidLists() string {
	for p := range r.Plugins {
		if ValidateName("plugin", p) != nil {
			return "invalid plugin name in plugins"
		}
	}
	for _, p := range r.Claims {
		if ValidateName("plugin", p) != nil {
			return "invalid plugin name in claims"
		}
	}
	if !slices.IsSorted(r.Claims) || len(slices.Compact(slices.Clone(r.Claims))) != len(r.Claims) {
		return "claims not sorted or repeated"
	}
	return ""
}

// workerRecord is the JSON body of <prefix>/workers/<id>.json. Liveness is
// judged from the store's modification time, not from these fields.
type workerRecord struct {
	Format    int       `json:"format"`
	ID        string    `json:"id"`
	Namespace string    `json:"namespace"`
	Plugin    string    `json:"plugin,omitempty"`
	Mode      string    `json:"mode"`
	Seq       uint64    `json:"seq"`
	Started   time.Time `json:"started"`
	Beat      time.Time `json:"beat"` // writer's wall clock, informational
	// Meta is Config.WorkerMeta.
	Meta map[string]string `json:"meta,omitempty"`
	Sum  string            `json:"sum,omitempty"`
}

// decodeWorker parses a worker record; any error satisfies
// errors.Is(err, ErrCorruptRecord).
func decodeWorker(data []byte) (*workerRecord, error) {
	if len(data) > maxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorruptRecord, len(data))
	}
	var r workerRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptRecord, err)
	}
	sum := r.Sum
	r.Sum = ""
	canonical, err := json.Marshal(&r)
	if err != nil || r.Format != recordFormat || sum == "" || sum != checksum(canonical) {
		return nil, fmt.Errorf("%w: worker record format or checksum", ErrCorruptRecord)
	}
	r.Sum = sum
	return &r, nil
}

func encodeWorker(r *workerRecord) []byte {
	c := *r
	c.Sum = ""
	return sealed(&c, func(s string) { c.Sum = s })
}
