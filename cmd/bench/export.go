package main

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"
)

// writeJSON writes r as one indented JSON document. Durations are in
// nanoseconds (fields ending in _ns).
func writeJSON(w io.Writer, r *Report) error {
	type withReductions struct {
		*Report
		Reductions []Reduction `json:"reductions"`
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(withReductions{Report: r, Reductions: r.Reductions()})
}

// csvHeader is the header of the CSV output: one measured value per row
// (tidy data), so any tool can pivot it.
var csvHeader = []string{"section", "mode", "plugins", "metric", "value"}

// writeCSV writes r as rows of csvHeader. Durations are in milliseconds.
func writeCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	row := func(section, mode string, plugins int, metric, value string) {
		p := ""
		if plugins > 0 {
			p = strconv.Itoa(plugins)
		}
		cw.Write([]string{section, mode, p, metric, value})
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	ms := func(d time.Duration) string { return f(float64(d) / float64(time.Millisecond)) }

	cw.Write(csvHeader)
	row("run", "", 0, "store", r.Store)
	row("run", "", 0, "driver", r.Driver)
	row("run", "", 0, "clock", r.Clock)
	row("run", "", 0, "workers", strconv.Itoa(r.Workers))
	row("run", "", 0, "window_ms", ms(r.Window))
	row("run", "", 0, "time_scale", f(r.TimeScale))
	row("run", "", 0, "membership", strconv.FormatBool(r.Settings.Membership))
	row("run", "", 0, "heartbeat_interval_ms", ms(r.Settings.HeartbeatInterval))
	row("run", "", 0, "lease_timeout_ms", ms(r.Settings.LeaseTimeout))
	row("run", "", 0, "renew_deadline_ms", ms(r.Settings.RenewDeadline))
	row("run", "", 0, "worker_timeout_ms", ms(r.Settings.WorkerTimeout))
	row("run", "", 0, "what_if", strings.Join(r.WhatIf, " "))
	row("run", "", 0, "prices", r.Prices.Name)
	row("run", "", 0, "write_per_1000_usd", f(r.Prices.WritePer1000))
	row("run", "", 0, "read_per_1000_usd", f(r.Prices.ReadPer1000))
	for _, s := range r.Steady {
		row("steady", s.Mode, s.Plugins, "heartbeats_per_hour", f(s.HeartbeatsPerHour))
		row("steady", s.Mode, s.Plugins, "get_per_hour", f(s.PerHour.Get))
		row("steady", s.Mode, s.Plugins, "head_per_hour", f(s.PerHour.Head))
		row("steady", s.Mode, s.Plugins, "put_per_hour", f(s.PerHour.Put))
		row("steady", s.Mode, s.Plugins, "list_per_hour", f(s.PerHour.List))
		row("steady", s.Mode, s.Plugins, "delete_per_hour", f(s.PerHour.Delete))
		row("steady", s.Mode, s.Plugins, "requests_per_hour", f(s.PerHour.Total()))
		row("steady", s.Mode, s.Plugins, "cost_per_month_usd", f(s.CostPerMonth))
		row("steady", s.Mode, s.Plugins, "election_requests_per_hour", f(s.Split.Election.Total()))
		row("steady", s.Mode, s.Plugins, "membership_requests_per_hour", f(s.Split.Membership.Total()))
		row("steady", s.Mode, s.Plugins, "other_requests_per_hour", f(s.Split.Other.Total()))
		row("steady", s.Mode, s.Plugins, "election_cost_per_month_usd", f(s.Split.ElectionCostPerMonth))
		row("steady", s.Mode, s.Plugins, "membership_cost_per_month_usd", f(s.Split.MembershipCostPerMonth))
		if w := s.WithoutMembership; w != nil {
			row("steady", s.Mode, s.Plugins, "without_membership_requests_per_hour", f(w.PerHour.Total()))
			row("steady", s.Mode, s.Plugins, "without_membership_cost_per_month_usd", f(w.CostPerMonth))
		}
	}
	for _, red := range r.Reductions() {
		row("reduction", "", red.Plugins, "factor", f(red.Factor))
	}
	for _, l := range r.PerWorker {
		row("per_worker", l.Mode, l.Plugins, l.Role+"_lease_writes_per_hour", f(l.LeaseWrites))
		row("per_worker", l.Mode, l.Plugins, l.Role+"_worker_record_writes_per_hour", f(l.WorkerWrites))
		row("per_worker", l.Mode, l.Plugins, l.Role+"_reads_per_hour", f(l.Reads))
		row("per_worker", l.Mode, l.Plugins, l.Role+"_lists_per_hour", f(l.Lists))
		row("per_worker", l.Mode, l.Plugins, l.Role+"_deletes_per_hour", f(l.Deletes))
	}
	for _, c := range r.Convergence {
		row("convergence", c.Mode, c.Plugins, "median_ms", ms(c.Median()))
		row("convergence", c.Mode, c.Plugins, "max_ms", ms(c.Max()))
		row("convergence", c.Mode, c.Plugins, "all_know_median_ms", ms(c.KnownTiming().Median()))
		row("convergence", c.Mode, c.Plugins, "all_know_max_ms", ms(c.KnownTiming().Max()))
	}
	for _, fo := range r.Failover {
		row("failover", fo.Mode, fo.Plugins, fo.Kind+"_median_ms", ms(fo.Median()))
		row("failover", fo.Mode, fo.Plugins, fo.Kind+"_max_ms", ms(fo.Max()))
		row("failover", fo.Mode, fo.Plugins, fo.Kind+"_bound_ms", ms(fo.Bound))
	}
	for _, c := range r.PluginCosts {
		m := func(name, v string) { row("plugin_cost", modeGlobal, 1, c.Scenario+"_"+name, v) }
		m("window_ms", ms(c.Window))
		m("time_scale", f(c.TimeScale))
		m("leader_"+strings.ReplaceAll(c.LeaderWorkUnit, " ", "_"), strconv.FormatUint(c.LeaderWork, 10))
		m("get_per_hour", f(c.PerHour.Get))
		m("head_per_hour", f(c.PerHour.Head))
		m("put_per_hour", f(c.PerHour.Put))
		m("list_per_hour", f(c.PerHour.List))
		m("delete_per_hour", f(c.PerHour.Delete))
		m("requests_per_hour", f(c.PerHour.Total()))
		m("cost_per_month_usd", f(c.CostPerMonth))
		m("election_requests_per_hour", f(c.ElectionPerHour))
		if c.PerMessage != nil {
			m("messages", strconv.FormatUint(c.Messages, 10))
			m("get_per_message", f(c.PerMessage.Get))
			m("head_per_message", f(c.PerMessage.Head))
			m("put_per_message", f(c.PerMessage.Put))
			m("list_per_message", f(c.PerMessage.List))
			m("delete_per_message", f(c.PerMessage.Delete))
			m("requests_per_message", f(c.PerMessage.Total()))
		}
	}
	for _, t := range r.Targets {
		row("target", "", 0, t.Name, t.Verdict)
	}
	cw.Flush()
	return cw.Error()
}
