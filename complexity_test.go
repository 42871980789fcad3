package coord_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxComplexity bounds the cyclomatic complexity of every function of the
// engine, its store layer and the drivers (see cyclomatic).
const maxComplexity = 15

// complexityExceptions are the functions allowed above maxComplexity, by
// "file: name" as the test reports them.
var complexityExceptions = map[string]bool{}

// cyclomatic is McCabe's measure of a function, counted as gocyclo
// (github.com/fzipp/gocyclo) counts it: 1, plus one per if, for, range,
// non-default case and non-default select case, and per && and ||,
// function literals inside the function included (they are part of it).
func cyclomatic(fn *ast.FuncDecl) int {
	n := 1
	ast.Inspect(fn, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			n++
		case *ast.CaseClause:
			if x.List != nil {
				n++
			}
		case *ast.CommClause:
			if x.Comm != nil {
				n++
			}
		case *ast.BinaryExpr:
			if x.Op == token.LAND || x.Op == token.LOR {
				n++
			}
		}
		return true
	})
	return n
}

// funcName is a function's name as gocyclo prints it: (*T).m, (T).m or f.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	t := fn.Recv.List[0].Type
	star := ""
	if s, ok := t.(*ast.StarExpr); ok {
		t, star = s.X, "*"
	}
	switch x := t.(type) {
	case *ast.IndexExpr:
		t = x.X
	case *ast.IndexListExpr:
		t = x.X
	}
	id, _ := t.(*ast.Ident)
	if id == nil {
		return fn.Name.Name
	}
	return "(" + star + id.Name + ")." + fn.Name.Name
}

// TestCyclomaticCountsAsGocyclo pins the count on a function whose
// gocyclo figure is known (gocyclo prints 9 for it).
func TestCyclomaticCountsAsGocyclo(t *testing.T) {
	const src = `package p
func f(a, b bool, c chan int, xs []int) {
	if a && b || a { // if, &&, ||
	}
	for i := 0; i < 1; i++ { // for
	}
	for range xs { // range
	}
	switch { // one case, and the default
	case a:
	default:
	}
	select { // one comm case, and the default
	case <-c:
	default:
	}
	go func() { // a literal's branches are the function's
		if b {
		}
	}()
}`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := cyclomatic(f.Decls[0].(*ast.FuncDecl)); n != 9 {
		t.Fatalf("cyclomatic = %d, gocyclo counts 9", n)
	}
}

// coreDirs are the core packages: the engine, the clock, the store layer,
// the deadlines, the driver contract and every driver.
func coreDirs(t *testing.T) []string {
	drivers, err := filepath.Glob(filepath.Join("driver", "*", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	dirs := []string{".", "clock", "storage", "internal/deadline", "driver"}
	seen := map[string]bool{}
	for _, f := range drivers {
		if d := filepath.Dir(f); !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// TestCoreComplexity: no function of the core packages (coreDirs) is
// more complex than maxComplexity as gocyclo counts it, so that each can
// be read, and tested, as one decision.
func TestCoreComplexity(t *testing.T) {
	checked := 0
	for _, dir := range coreDirs(t) {
		if _, err := os.Stat(dir); err != nil {
			continue // a package not in this tree
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range af.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				checked++
				name := f + ": " + funcName(fn)
				if n := cyclomatic(fn); n > maxComplexity && !complexityExceptions[name] {
					t.Errorf("%s has cyclomatic complexity %d, more than %d: split it", name, n, maxComplexity)
				}
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d functions checked: the package list is stale", checked)
	}
	t.Logf("%d functions, none above %d but the known exceptions", checked, maxComplexity)
}
