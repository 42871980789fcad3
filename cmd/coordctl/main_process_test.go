package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCommandLineAsAProcess runs the coordctl binary as a user does, for
// each CLI item of the operators' issue: the help lists every command
// first; "CMD -h" prints that command's flags only (run -h printed all
// 100+ lines); "version" exists; a timing refused is named by the flags
// set, with rounded values; check's result line says PASS, WARN or FAIL
// with skips counted apart, never "-1" leftovers, and one latency figure.
func TestCommandLineAsAProcess(t *testing.T) {
	bolt := "bolt://" + filepath.Join(t.TempDir(), "db")
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		has, lacks []*regexp.Regexp
		maxLines   int
	}{
		{"help", []string{"-h"}, exitOK, rx(`(?s)^coordctl.*\nCommands:\n.*\nFlags`), nil, 0},
		{"run -h", []string{"run", "-h"}, exitOK,
			rx(`^coordctl run \[flags\]`, `-heartbeat`), rx(`coordctl check`, `-race-width`, `Commands:`), 60},
		{"check -h", []string{"check", "-h"}, exitOK,
			rx(`coordctl check`, `-race-width`), rx(`-job`, `Commands:`), 40},
		{"version", []string{"version"}, exitOK, rx(`^coordctl \S+ go1\.\d+`), nil, 1},
		{"config error", []string{"run", "-store", bolt, "-job", "j", "-heartbeat", "10s", "-lease", "5s", "--", "true"}, exitUsage,
			rx(`-heartbeat 10s`, `-lease 5s`, `3\.333s`), rx(`HeartbeatInterval`, `LeaseTimeout`, `3\.333333333s`), 0},
		{"check", []string{"check", "-max-time", "2m", bolt}, exitOK,
			rx(`(?m)^result +(PASS|WARN|FAIL) \(\d+ PASS, \d+ WARN, \d+ FAIL; \d+ SKIP\)$`, `leftover objects: 0`),
			rx(`-1`, `result +SKIP`, `p50 0s`), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], tc.args...)
			cmd.Env = append(os.Environ(), asMain+"=1")
			out, err := cmd.CombinedOutput()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("coordctl %v: exit %d, want %d\n%s", tc.args, code, tc.code, out)
			}
			for _, re := range tc.has {
				if !re.Match(out) {
					t.Errorf("coordctl %v does not match %q:\n%s", tc.args, re, out)
				}
			}
			for _, re := range tc.lacks {
				if re.Match(out) {
					t.Errorf("coordctl %v matches %q:\n%s", tc.args, re, out)
				}
			}
			if tc.name == "help" { // every command listed under Commands:, before any flag
				_, list, _ := strings.Cut(string(out), "\nCommands:\n")
				list, _, _ = strings.Cut(list, "\nFlags")
				for _, c := range []string{"status", "workers", "watch", "release", "run", "check", "bucket", "version", "help"} {
					if !strings.HasPrefix(list, "  "+c+" ") && !strings.Contains(list, "\n  "+c+" ") {
						t.Errorf("help lists no %q under Commands:\n%s", c, list)
					}
				}
			}
			if n := strings.Count(string(out), "\n"); tc.maxLines > 0 && n > tc.maxLines {
				t.Errorf("coordctl %v: %d lines, want at most %d", tc.args, n, tc.maxLines)
			}
		})
	}
}

func rx(exprs ...string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, e := range exprs {
		out = append(out, regexp.MustCompile(e))
	}
	return out
}
