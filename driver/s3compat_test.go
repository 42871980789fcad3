package driver_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/s3coord/coord/driver"
)

func TestS3Answer(t *testing.T) {
	cases := []struct {
		a           driver.S3Answer
		store       error
		missing     bool
		cond, plain error // ConditionKind(true), ConditionKind(false)
		conflict    bool
	}{
		{a: driver.S3Answer{Code: "NoSuchBucket", Status: 404}, store: driver.ErrBucketNotFound},
		{a: driver.S3Answer{Code: "XAdminUserNotFound", Status: 404}, store: driver.ErrAccessDenied},
		{a: driver.S3Answer{Code: "SignatureDoesNotMatch", Status: 403}, store: driver.ErrAccessDenied},
		{a: driver.S3Answer{Status: 403}, store: driver.ErrAccessDenied},
		{a: driver.S3Answer{Code: "NoSuchKey", Status: 404}, missing: true, cond: driver.ErrPrecondition},
		{a: driver.S3Answer{Status: 404}, missing: true, cond: driver.ErrPrecondition},
		{a: driver.S3Answer{Code: "PreconditionFailed", Status: 412}, cond: driver.ErrPrecondition, plain: driver.ErrPrecondition},
		{a: driver.S3Answer{Status: 412}, cond: driver.ErrPrecondition, plain: driver.ErrPrecondition},
		{a: driver.S3Answer{Code: "ConditionalRequestConflict", Status: 409}, cond: driver.ErrPrecondition, plain: driver.ErrPrecondition, conflict: true},
		{a: driver.S3Answer{Status: 409}, cond: driver.ErrPrecondition, conflict: true},
		{a: driver.S3Answer{Code: "ExistingObjectIsDirectory", Status: 409}},
		{a: driver.S3Answer{Code: "InternalError", Status: 500}},
		{a: driver.S3Answer{}},
	}
	for _, c := range cases {
		if got := c.a.StoreKind(); got != c.store {
			t.Errorf("%+v StoreKind = %v, want %v", c.a, got, c.store)
		}
		if got := c.a.KeyMissing(); got != c.missing {
			t.Errorf("%+v KeyMissing = %v, want %v", c.a, got, c.missing)
		}
		var k driver.Counter
		if got := c.a.ConditionKind(true, &k); got != c.cond {
			t.Errorf("%+v ConditionKind(conditional) = %v, want %v", c.a, got, c.cond)
		}
		if got := c.a.ConditionKind(false, &k); got != c.plain {
			t.Errorf("%+v ConditionKind(unconditional) = %v, want %v", c.a, got, c.plain)
		}
		if n := k.Requests().Conflicts; (n > 0) != c.conflict {
			t.Errorf("%+v counted %d conflicts, want some: %v", c.a, n, c.conflict)
		}
	}
}

func TestS3AnswerCreateBucketKind(t *testing.T) {
	cases := []struct {
		code  string
		owned bool
		kind  error
	}{
		{"BucketAlreadyOwnedByYou", true, nil},
		{"BucketAlreadyExists", false, driver.ErrBucketExists},
		{"InvalidBucketName", false, driver.ErrInvalidBucketName},
		{"AccessDenied", false, nil},
	}
	for _, c := range cases {
		owned, kind := driver.S3Answer{Code: c.code}.CreateBucketKind()
		if owned != c.owned || kind != c.kind {
			t.Errorf("%s: CreateBucketKind = %v, %v; want %v, %v", c.code, owned, kind, c.owned, c.kind)
		}
	}
}

func TestHTTPClass(t *testing.T) {
	cases := []struct {
		method string
		list   bool
		want   driver.Class
	}{
		{http.MethodGet, false, driver.ClassGet},
		{http.MethodGet, true, driver.ClassList},
		{http.MethodHead, false, driver.ClassHead},
		{http.MethodDelete, false, driver.ClassDelete},
		{http.MethodPut, false, driver.ClassPut},
		{http.MethodPost, false, driver.ClassPut},
	}
	for _, c := range cases {
		if got := driver.HTTPClass(c.method, c.list); got != c.want {
			t.Errorf("HTTPClass(%s, %v) = %v, want %v", c.method, c.list, got, c.want)
		}
	}
}

// TraceSent tells a request written to a connection from one that never
// left the process.
func TestTraceSent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	ctx, sent := driver.TraceSent(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !sent() {
		t.Error("a request that was answered is not reported sent")
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	ctx, sent = driver.TraceSent(cancelled)
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if _, err := srv.Client().Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
	if sent() {
		t.Error("a request cancelled before sending is reported sent")
	}
}
