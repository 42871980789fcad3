// Package readme keeps README.md honest: every line of Go code it shows
// must stand in a test or example of the module, so that the README's
// code is tested code.
package readme

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// normal drops indentation and a trailing // comment, so that a README
// line may annotate the tested line it shows.
func normal(line string) string {
	line = strings.TrimSpace(line)
	if i := strings.Index(line, " //"); i >= 0 && strings.Count(line[:i], "\"")%2 == 0 {
		line = strings.TrimSpace(line[:i])
	}
	return line
}

func TestGoBlocksAreTested(t *testing.T) {
	root := filepath.Join("..", "..")
	tested := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".bin" || d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			tested[normal(l)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	inGo, blocks, n := false, 0, 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```go"):
			inGo = true
			blocks++
			continue
		case strings.HasPrefix(line, "```"):
			inGo = false
			continue
		}
		l := normal(line)
		if !inGo || l == "" || strings.HasPrefix(l, "//") || l == "}" || l == ")" {
			continue
		}
		if !tested[l] {
			t.Errorf("README.md:%d: %q stands in no test or example", n, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if blocks == 0 {
		t.Fatal("README.md shows no Go code block")
	}
}
