// Package validate checks deploy/prometheus/alerts.yml with Prometheus's
// own rule parser. It is a module of its own so that the Prometheus
// server's dependencies stay out of github.com/s3coord/coord: run it with
// `cd deploy/validate && go test ./...`.
package validate

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

func TestAlertRules(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile("../prometheus/alerts.yml", false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil || len(groups.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
				continue
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok && !strings.HasPrefix(vs.Name, "coord_") {
					t.Errorf("%s selects %q, not a coord metric", r.Alert, vs.Name)
				}
				return nil
			})
		}
	}
	for _, want := range []string{"CoordNoLeader", "CoordLeaderFlapping", "CoordCircuitBreakerOpen", "CoordUnsafeStore"} {
		found := false
		for _, a := range alerts {
			found = found || a == want
		}
		if !found {
			t.Errorf("no alert %s", want)
		}
	}
}
