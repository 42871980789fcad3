package minio

import (
	"errors"
	"strings"
	"testing"

	"github.com/s3coord/coord/storeurl"
)

func TestMinIOCredentials(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		env          map[string]string
		access, sec  string
		wantErr      bool
		errMentions  string
		secretAbsent string
	}{
		{env: map[string]string{}, access: "", sec: ""},
		{env: map[string]string{"MINIO_ACCESS_KEY": "a", "MINIO_SECRET_KEY": "s"}, access: "a", sec: "s"},
		{env: map[string]string{"MINIO_ROOT_USER": "r", "MINIO_ROOT_PASSWORD": "p"}, access: "r", sec: "p"},
		{env: map[string]string{"MINIO_ACCESS_KEY": "a", "MINIO_SECRET_KEY": "s", "MINIO_ROOT_USER": "r", "MINIO_ROOT_PASSWORD": "p"}, access: "a", sec: "s"},
		{env: map[string]string{"MINIO_ACCESS_KEY": "a"}, wantErr: true, errMentions: "MINIO_SECRET_KEY is not"},
		{env: map[string]string{"MINIO_ROOT_PASSWORD": "topsecret"}, wantErr: true, errMentions: "MINIO_ROOT_USER is not", secretAbsent: "topsecret"},
	}
	for i, c := range cases {
		a, s, err := envCredentials(env(c.env))
		if c.wantErr {
			if !errors.Is(err, storeurl.ErrCredentials) || !strings.Contains(err.Error(), c.errMentions) {
				t.Errorf("case %d: err = %v, want ErrCredentials mentioning %q", i, err, c.errMentions)
			}
			if c.secretAbsent != "" && strings.Contains(err.Error(), c.secretAbsent) {
				t.Errorf("case %d: error shows the secret", i)
			}
			continue
		}
		if err != nil || a != c.access || s != c.sec {
			t.Errorf("case %d: = %q, %q, %v; want %q, %q", i, a, s, err, c.access, c.sec)
		}
	}
}
