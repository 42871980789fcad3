// Package sealed stores the built-in plugins' records with a checksum, so
// that a record damaged in storage or in transit is recognised as damaged
// instead of being read as a different, valid record.
//
// A plugin's safety rests on what it reads: a scheduler record whose slot
// number lost a bit would let a slot run twice, a ttl entry whose ttl lost
// a bit would be swept early, a queue message whose body or attempt
// counter changed would be delivered wrong. JSON alone does not catch
// that: one flipped bit in a digit still decodes. Every record is
// therefore stored as
//
//	{"crc32c":"<8 hex digits>","record":<the record's JSON>}
//
// where the checksum (CRC-32C, which detects every single-bit flip, every
// burst up to 32 bits and every truncation that still parses) covers the
// exact bytes of the record. Open returns ErrCorrupt for anything else:
// garbage, a truncation, a flipped bit anywhere, a record of another
// format.
//
// What a reader does with a damaged record is its own decision, and must
// be the safe one: a damaged read may be a one-off (a bad response; read
// again) or lasting (a damaged object; treat its content as unknown, never
// as empty).
package sealed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
)

// ErrCorrupt is returned by Open for data that is not an intact sealed
// record.
var ErrCorrupt = errors.New("corrupt record")

var table = crc32.MakeTable(crc32.Castagnoli)

type envelope struct {
	Sum    string          `json:"crc32c"`
	Record json.RawMessage `json:"record"`
}

// Seal encodes v as JSON and wraps it with its checksum.
func Seal(v any) ([]byte, error) {
	rec, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(envelope{Sum: sum(rec), Record: rec})
}

// Open checks data's checksum and decodes its record into v. It returns an
// error for which errors.Is(err, ErrCorrupt) holds when data is not an
// intact sealed record (v is then left unchanged or partly filled: do not
// use it).
func Open(data []byte, v any) error {
	var e envelope
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&e); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if d.More() {
		return fmt.Errorf("%w: trailing data", ErrCorrupt)
	}
	if len(e.Record) == 0 || e.Sum != sum(e.Record) {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	if err := json.Unmarshal(e.Record, v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}

func sum(b []byte) string { return fmt.Sprintf("%08x", crc32.Checksum(b, table)) }
