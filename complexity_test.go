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

// cyclomatic is McCabe's measure of a function body, counted as gocyclo
// does: 1, plus one per if, for, range, non-default case and select
// case, and per && and ||. Function literals count apart (as their own
// functions).
func cyclomatic(body ast.Node) int {
	n := 1
	ast.Inspect(body, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.FuncLit:
			return false
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

// TestCoreComplexity: no function of the core packages (the engine, the
// store layer, the drivers, the deadlines) is more complex than
// maxComplexity, so that each can be read, and tested, as one decision.
func TestCoreComplexity(t *testing.T) {
	dirs := []string{".", "clock", "storage", "driver", "driver/mem", "driver/bolt", "driver/s3", "driver/minio", "internal/deadline"}
	checked := 0
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); err != nil {
			continue // a package not in this tree
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(af, func(x ast.Node) bool {
				var body *ast.BlockStmt
				name := ""
				switch x := x.(type) {
				case *ast.FuncDecl:
					body, name = x.Body, x.Name.Name
				case *ast.FuncLit:
					body, name = x.Body, "func literal"
				}
				if body != nil {
					checked++
					if n := cyclomatic(body); n > maxComplexity {
						t.Errorf("%s: %s has cyclomatic complexity %d, more than %d: split it", f, name, n, maxComplexity)
					}
				}
				return true
			})
		}
	}
	if checked < 100 {
		t.Fatalf("only %d functions checked: the package list is stale", checked)
	}
	t.Logf("%d functions, none above %d", checked, maxComplexity)
}
