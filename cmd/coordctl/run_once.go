package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/storage"
)

// onceKeyLayout is the default -once-key: the minute the process started,
// UTC, which is the minute cron fired it.
const onceKeyLayout = "2006-01-02T15:04"

// onceRecord is the completion record of one -once slot: written by the
// leader once CMD ran to its end, read by the leader of any later firing
// of the same slot before it starts CMD. Both happen while leading, so
// the epoch orders them.
type onceRecord struct {
	bucket *storage.Bucket
	key    string
	slot   string
	log    io.Writer
}

// onceDone is what the record holds.
type onceDone struct {
	Job    string    `json:"job"`
	Slot   string    `json:"slot"`
	Epoch  uint64    `json:"epoch"`
	Worker string    `json:"worker"`
	Code   int       `json:"code"`
	At     time.Time `json:"at"`
}

func onceRecordKey(root, namespace, job, slot string) string {
	return root + namespace + "/runs/" + job + "/done/" + slot + ".json"
}

func newOnceRecord(store driver.Store, o options, ro runOptions, log io.Writer) *onceRecord {
	// Every request has a deadline: a renew deadline, the longest a
	// leader's own request may take.
	b := storage.New(store, storage.Options{Timeout: ro.cfg.RenewDeadline})
	return &onceRecord{bucket: b, key: onceRecordKey(o.root, o.namespace, ro.job, ro.onceKey), slot: ro.onceKey, log: log}
}

// check returns a description of the record when the slot is done, ""
// when it is not.
func (r *onceRecord) check(ctx context.Context) (string, error) {
	obj, err := r.bucket.Get(ctx, r.key)
	if errors.Is(err, driver.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var d onceDone
	if err := json.Unmarshal(obj.Data, &d); err != nil {
		return "", fmt.Errorf("%s: %w", r.key, err)
	}
	return fmt.Sprintf("epoch %d, %s, code %d at %s", d.Epoch, d.Worker, d.Code, d.At.Format(time.RFC3339)), nil
}

// write records that CMD ran to its end with code under term.
func (r *onceRecord) write(term plugin.Term, code int) {
	d := onceDone{Job: term.Plugin, Slot: r.slot, Epoch: term.Epoch, Worker: term.Leader, Code: code, At: time.Now().UTC()}
	b, _ := json.Marshal(d)
	if _, err := r.bucket.Put(context.Background(), r.key, b, driver.Condition{}); err != nil {
		fmt.Fprintf(r.log, "coordctl run: -once: writing the completion record %s: %v (a later firing of the slot may run it again)\n", r.key, err)
	}
}
