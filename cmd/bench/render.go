package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// writeText writes r as the seed's tables, measured.
func writeText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# coord bench: %s store, %d workers, %s clock\n\n", r.Driver, r.Workers, r.Clock)
	s := r.Settings
	fmt.Fprintf(&b, "Store: %s\n", r.Store)
	fmt.Fprintf(&b, "Settings: heartbeat %s + jitter [0, %s), lease %s, renew deadline %s, worker timeout %s, membership %s\n",
		formatDuration(s.HeartbeatInterval), formatDuration(s.HeartbeatJitter), formatDuration(s.LeaseTimeout),
		formatDuration(s.RenewDeadline), formatDuration(s.WorkerTimeout), onOff(s.Membership))
	writeWhatIf(&b, r)
	writePrices(&b, r.Prices)
	if r.Clock == clockVirtual {
		fmt.Fprintf(&b, "Each scenario ran for %s of virtual time on the engine's real code; counts are the driver's own request counters.\n",
			formatWindow(r.Window))
	} else {
		fmt.Fprintf(&b, "REAL-TIME RUN, SCALED: each scenario ran for %s of wall time with intervals %.0f× shorter than the defaults;\n"+
			"hourly figures are the driver's own counts × %.1f (= 1h ÷ %s ÷ %.0f), i.e. per hour at default settings.\n"+
			"Convergence and failover times are wall-clock times at the short settings.\n",
			formatWindow(r.Window), r.TimeScale, hourFactor(r), formatWindow(r.Window), r.TimeScale)
	}
	b.WriteString("\n")

	if len(r.Steady) > 0 {
		fmt.Fprintf(&b, "## API Call Reduction (per hour, all %d workers; cost at %s prices, %d h/month)\n\n", r.Workers, r.Prices.Name, HoursPerMonth)
		t := newTable("Setup", "Heartbeats/Hour", "GET", "HEAD", "PUT", "LIST", "DELETE", "S3 Requests", "Cost/Month").alignRight(1, 2, 3, 4, 5, 6, 7, 8)
		for _, st := range r.Steady {
			p := st.PerHour
			t.add(setupName(st.Plugins, st.Mode), formatCount(st.HeartbeatsPerHour),
				formatCount(p.Get), formatCount(p.Head), formatCount(p.Put), formatCount(p.List), formatCount(p.Delete),
				formatCount(p.Total()), formatDollars(st.CostPerMonth))
		}
		t.write(&b)
		b.WriteString("\n")
	}

	if reds := r.Reductions(); len(reds) > 0 {
		b.WriteString("## Reduction (per-plugin ÷ global, requests/hour)\n\n")
		t := newTable("Plugins", "Per-plugin", "Global", "Reduction").alignRight(0, 1, 2, 3)
		for _, red := range reds {
			t.add(fmt.Sprint(red.Plugins), formatCount(red.PerPlugin), formatCount(red.Global), formatFactor(red.Factor))
		}
		t.write(&b)
		b.WriteString("\n")
	}

	if len(r.PerWorker) > 0 {
		b.WriteString("## Per worker per hour\n\n")
		t := newTable("Setup", "Role", "Lease writes", "Worker-record writes", "Reads (GET+HEAD)", "LIST", "DELETE").alignRight(2, 3, 4, 5, 6)
		for _, l := range r.PerWorker {
			t.add(setupName(l.Plugins, l.Mode), l.Role, formatCount(l.LeaseWrites), formatCount(l.WorkerWrites),
				formatCount(l.Reads), formatCount(l.Lists), formatCount(l.Deletes))
		}
		t.write(&b)
		b.WriteString("\n")
	}

	writeSplit(&b, r)

	if len(r.Convergence) > 0 {
		fmt.Fprintf(&b, "## Startup Convergence (all %d workers start at once; %d trials)\n\n", r.Workers, 2*r.Trials)
		b.WriteString("Time to Leader: until every plugin has a leader. All Workers Know: until every plugin on every worker has been told its leader.\n")
		if r.Clock == clockVirtual {
			b.WriteString("On the virtual clock requests take no time: these are the protocol's delays only (run -realtime, or against MinIO, for latency).\n")
		}
		b.WriteString("\n")
		t := newTable("Scenario", "Time to Leader (median)", "Slowest", "All Workers Know (median)", "Slowest").alignRight(1, 2, 3, 4)
		for _, c := range r.Convergence {
			k := c.KnownTiming()
			t.add(setupName(c.Plugins, c.Mode), formatDuration(c.Median()), formatDuration(c.Max()), formatDuration(k.Median()), formatDuration(k.Max()))
		}
		t.write(&b)
		b.WriteString("\n")
	}

	if len(r.Failover) > 0 {
		fmt.Fprintf(&b, "## Failover (the first plugin's leader stops at a random point of its heartbeat; until every plugin has a live leader; %d trials)\n\n", r.Trials)
		t := newTable("Scenario", "Stop", "Median", "Slowest", "Bound").alignRight(2, 3, 4)
		for _, f := range r.Failover {
			t.add(setupName(f.Plugins, f.Mode), f.Kind, formatDuration(f.Median()), formatDuration(f.Max()), formatDuration(f.Bound))
		}
		t.write(&b)
		b.WriteString("\n")
	}

	writePluginCosts(&b, r)

	if len(r.Targets) > 0 {
		b.WriteString("## Targets\n\n")
		t := newTable("Target", "Want", "Measured", "Result")
		for _, tg := range r.Targets {
			t.add(tg.Name, tg.Want, tg.Measured, tg.Verdict)
		}
		t.write(&b)
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Wall time: %s\n", formatDuration(r.Elapsed))
	_, err := io.WriteString(w, b.String())
	return err
}

// writeWhatIf says which settings differ from the engine's defaults, and
// in real time what the shortened settings stand for.
func writeWhatIf(b *strings.Builder, r *Report) {
	a, d := r.PerHourAt, r.Defaults
	if r.Clock == clockRealTime {
		fmt.Fprintf(b, "Stands for: heartbeat %s + jitter [0, %s), lease %s, renew deadline %s, worker timeout %s (hourly figures and targets are at these settings)\n",
			formatDuration(a.HeartbeatInterval), formatDuration(a.HeartbeatJitter), formatDuration(a.LeaseTimeout),
			formatDuration(a.RenewDeadline), formatDuration(a.WorkerTimeout))
	}
	if len(r.WhatIf) == 0 {
		return
	}
	fmt.Fprintf(b, "What-if: %s (engine defaults: heartbeat %s, lease %s, worker timeout %s); hourly figures, bounds and targets are at the settings run\n",
		strings.Join(r.WhatIf, ", "), formatDuration(d.HeartbeatInterval), formatDuration(d.LeaseTimeout), formatDuration(d.WorkerTimeout))
}

// writePrices says what the dollar figures are computed from.
func writePrices(b *strings.Builder, p PriceModel) {
	fmt.Fprintf(b, "Prices: %s, per 1,000 requests: PUT and LIST %s, GET and HEAD %s, DELETE %s",
		p.Name, formatPrice(p.WritePer1000, p.WriteClass), formatPrice(p.ReadPer1000, p.ReadClass), formatPrice(p.DeletePer1000, ""))
	if p.Source != "" {
		fmt.Fprintf(b, " (%s)", p.Source)
	}
	b.WriteString("\n")
}

// formatPrice formats a price per 1,000 requests with every digit given
// ("$0.00113"), "free" for 0, and the provider's class name.
func formatPrice(v float64, class string) string {
	s := "free"
	if v != 0 {
		s = "$" + strconv.FormatFloat(v, 'f', -1, 64)
	}
	if class != "" {
		s += " [" + class + "]"
	}
	return s
}

// writeSplit writes the cost of each scenario by purpose: the election
// (leases) and membership (worker records), and what DisableMembership
// saves where its twin run was measured.
func writeSplit(b *strings.Builder, r *Report) {
	if len(r.Steady) == 0 {
		return
	}
	fmt.Fprintf(b, "## Cost by purpose (per month at %s prices; election: lease records, membership: worker records)\n\n", r.Prices.Name)
	other := false
	saving := false
	for _, st := range r.Steady {
		other = other || st.Split.Other.Total() != 0
		saving = saving || st.WithoutMembership != nil
	}
	head := []string{"Setup", "Election req/h", "Membership req/h", "Election/Month", "Membership/Month", "Total/Month", "Membership share"}
	if other {
		head = append(head, "Other req/h", "Other/Month")
	}
	if saving {
		head = append(head, "Without membership (measured)", "DisableMembership saves")
	}
	right := make([]int, 0, len(head)-1)
	for i := 1; i < len(head); i++ {
		right = append(right, i)
	}
	t := newTable(head...).alignRight(right...)
	for _, st := range r.Steady {
		sp := st.Split
		row := []string{setupName(st.Plugins, st.Mode), formatCount(sp.Election.Total()), formatCount(sp.Membership.Total()),
			formatDollars(sp.ElectionCostPerMonth), formatDollars(sp.MembershipCostPerMonth), formatDollars(st.CostPerMonth),
			fmt.Sprintf("%.0f%%", 100*st.MembershipShare())}
		if other {
			row = append(row, formatCount(sp.Other.Total()), formatDollars(sp.OtherCostPerMonth))
		}
		if saving {
			if w := st.WithoutMembership; w != nil {
				row = append(row, formatDollars(w.CostPerMonth), formatDollars(st.CostPerMonth-w.CostPerMonth))
			} else {
				row = append(row, "", "")
			}
		}
		t.add(row...)
	}
	t.write(b)
	if saving {
		b.WriteString("\nWithout membership: the same scenario run again with DisableMembership (no worker records), measured, not derived.\n")
	}
	b.WriteString("\n")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// hourFactor is what raw counts over one window are multiplied by to give
// the hourly figures.
func hourFactor(r *Report) float64 {
	if r.Window <= 0 || r.TimeScale <= 0 {
		return 0
	}
	return float64(3600e9) / float64(r.Window) / r.TimeScale
}

// writePluginCosts writes the built-in plugins' section.
func writePluginCosts(b *strings.Builder, r *Report) {
	if len(r.PluginCosts) == 0 {
		return
	}
	fmt.Fprintf(b, "## Built-in plugins: storage requests per hour at default settings (global mode, %d workers)\n\n", r.Workers)
	b.WriteString("Each worker registers its own instance through coord.Hub.Use; only the leader sweeps, scans or runs slots.\n" +
		"Plugin requests are counted by a driver.Counter wrapper around the store handle each instance uses (one call = one\n" +
		"request on mem and bolt); the engine's election requests of the same run (the store's counter minus the plugin's) are\n" +
		"shown apart and are not in the plugin's figures. Cost at " + r.Prices.Name + " prices, " + fmt.Sprint(HoursPerMonth) + " h/month.\n")
	var scaled []string
	for _, c := range r.PluginCosts {
		if c.Clock == clockRealTime {
			scaled = append(scaled, fmt.Sprintf("%s: %s of real time with intervals %.0f× shorter, counts × %.1f",
				c.Scenario, formatWindow(c.Window), c.TimeScale, float64(time.Hour)/(float64(c.Window)*c.TimeScale)))
		} else {
			from := "from Use"
			if c.StartUp.Total() > 0 {
				from = "after the first sweep"
			}
			scaled = append(scaled, fmt.Sprintf("%s: %s of virtual time %s", c.Scenario, formatWindow(c.Window), from))
		}
	}
	b.WriteString("Windows: " + strings.Join(scaled, "; ") + ".\n")
	b.WriteString("\n")
	t := newTable("Plugin", "Scenario", "Leader work", "GET", "HEAD", "PUT", "LIST", "DELETE", "Requests/Hour", "Cost/Month", "Election requests/Hour (same run)").
		alignRight(2, 3, 4, 5, 6, 7, 8, 9, 10)
	for _, c := range r.PluginCosts {
		p := c.PerHour
		t.add(c.Plugin, c.Setup, fmt.Sprintf("%d %s", c.LeaderWork, c.LeaderWorkUnit),
			formatCount(p.Get), formatCount(p.Head), formatCount(p.Put), formatCount(p.List), formatCount(p.Delete),
			formatCount(p.Total()), formatDollars(c.CostPerMonth), formatCount(c.ElectionPerHour))
	}
	t.write(b)
	b.WriteString("\n")
	var per []PluginCost
	for _, c := range r.PluginCosts {
		if c.PerMessage != nil {
			per = append(per, c)
		}
	}
	if len(per) > 0 {
		b.WriteString("Per message (enqueue + claim + ack, counted on the consumer's handle):\n\n")
		t := newTable("Plugin", "Messages", "GET", "HEAD", "PUT", "LIST", "DELETE", "Requests/Message").alignRight(1, 2, 3, 4, 5, 6, 7)
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
		for _, c := range per {
			m := *c.PerMessage
			t.add(c.Plugin, fmt.Sprint(c.Messages), f(roundTo(m.Get, 2)), f(roundTo(m.Head, 2)), f(roundTo(m.Put, 2)),
				f(roundTo(m.List, 2)), f(roundTo(m.Delete, 2)), f(roundTo(m.Total(), 2)))
		}
		t.write(b)
		b.WriteString("\n")
	}
}
