package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/s3coord/coord/driver"
)

// Mode names, as coord spells them.
const (
	modePerPlugin = "per-plugin"
	modeGlobal    = "global"
)

// Clock names for Report.Clock.
const (
	clockVirtual  = "virtual"
	clockRealTime = "real-time"
)

// Settings are the engine timings a run used.
type Settings struct {
	HeartbeatInterval time.Duration `json:"heartbeat_interval_ns"`
	HeartbeatJitter   time.Duration `json:"heartbeat_jitter_ns"`
	LeaseTimeout      time.Duration `json:"lease_timeout_ns"`
	RenewDeadline     time.Duration `json:"renew_deadline_ns"`
	WorkerTimeout     time.Duration `json:"worker_timeout_ns"`
	Membership        bool          `json:"membership"`
}

// CrashBound is the longest a failover after a leader crash may take: the
// lease must be seen unchanged for LeaseTimeout, which a follower notices
// on its next heartbeat (at most HeartbeatInterval + HeartbeatJitter later).
func (s Settings) CrashBound() time.Duration {
	return s.LeaseTimeout + s.HeartbeatInterval + s.HeartbeatJitter
}

// GracefulBound is the longest a failover after a graceful stop may take: a
// released lease is taken on a follower's next heartbeat.
func (s Settings) GracefulBound() time.Duration { return s.HeartbeatInterval + s.HeartbeatJitter }

// Report is everything one benchmark run measured.
type Report struct {
	Store   string `json:"store"`  // the store URL, credentials never included
	Driver  string `json:"driver"` // driver.Capabilities().Name
	Clock   string `json:"clock"`  // clockVirtual or clockRealTime
	Workers int    `json:"workers"`
	// Window is how long each steady-state scenario ran on the run's clock.
	Window time.Duration `json:"window_ns"`
	// TimeScale is how many hours at default settings one hour of the run
	// stands for: 1 on the virtual clock (default settings), and
	// default interval / run interval in real-time mode with short
	// intervals. Hourly figures are already multiplied out.
	TimeScale float64 `json:"time_scale"`
	// Settings are the engine timings the run used. PerHourAt are the
	// settings the hourly figures and targets stand for: Settings on the
	// virtual clock, the unshortened settings in real time. Defaults are
	// the engine's defaults; WhatIf lists the flags that moved PerHourAt
	// away from them (-interval, -lease, -worker-timeout), as given.
	Settings  Settings   `json:"settings"`
	PerHourAt Settings   `json:"per_hour_at"`
	Defaults  Settings   `json:"defaults"`
	WhatIf    []string   `json:"what_if,omitempty"`
	Trials    int        `json:"trials"`
	Prices    PriceModel `json:"prices"`

	Steady      []Steady      `json:"steady"`
	Convergence []Convergence `json:"convergence"`
	Failover    []Failover    `json:"failover"`
	PerWorker   []WorkerLoad  `json:"per_worker"`
	// PluginCosts are the built-in plugins' own requests (-plugin-costs).
	PluginCosts []PluginCost  `json:"plugin_costs"`
	Targets     []Target      `json:"targets"`
	Elapsed     time.Duration `json:"-"` // wall time of the whole run: the text says it; JSON keeps the run's figures only
}

// Steady is one steady-state scenario: Workers processes, each with Plugins
// plugins in Mode, measured over Window after every plugin had a leader.
type Steady struct {
	Mode    string `json:"mode"`
	Plugins int    `json:"plugins"`
	Workers int    `json:"workers"`
	// Window is the measured interval on the run's clock.
	Window time.Duration `json:"window_ns"`
	// Requests are the driver's own counts over Window, all workers.
	Requests driver.Counts `json:"requests"`
	// Heartbeats is the sum of the coordinators' heartbeat counts over Window.
	Heartbeats uint64 `json:"heartbeats"`
	// Hourly figures at default settings (see Report.TimeScale).
	HeartbeatsPerHour float64 `json:"heartbeats_per_hour"`
	PerHour           Rates   `json:"requests_per_hour"`
	CostPerMonth      float64 `json:"cost_per_month_usd"`
	// Split divides PerHour and CostPerMonth by purpose.
	Split Split `json:"split"`
	// WithoutMembership is the same scenario run again with
	// DisableMembership, measured (nil when not run: -membership=false,
	// or -membership-twin=false).
	WithoutMembership *Steady `json:"without_membership,omitempty"`
}

// Split is a scenario's hourly requests by purpose, told apart by key in
// each worker's tap: Election (namespace and plugin leases), Membership
// (worker records: their writes, the cleanup LIST and DELETEs), and Other:
// the driver's count minus both (the store check, had it fallen in the
// window, or an S3 driver's retries; 0 on mem and bolt, where each call is
// one request). The three add up to the scenario's totals.
type Split struct {
	Election   Rates `json:"election_per_hour"`
	Membership Rates `json:"membership_per_hour"`
	Other      Rates `json:"other_per_hour"`

	ElectionCostPerMonth   float64 `json:"election_cost_per_month_usd"`
	MembershipCostPerMonth float64 `json:"membership_cost_per_month_usd"`
	OtherCostPerMonth      float64 `json:"other_cost_per_month_usd"`
}

// newSplit splits total (the driver's rates) into election, membership
// and the rest, priced by p.
func newSplit(p PriceModel, total, election, membership Rates) Split {
	other := total.Add(election.Add(membership).Scale(-1))
	return Split{
		Election: election, Membership: membership, Other: other,
		ElectionCostPerMonth: p.PerMonth(election), MembershipCostPerMonth: p.PerMonth(membership), OtherCostPerMonth: p.PerMonth(other),
	}
}

// MembershipShare is the part of the scenario's cost that membership
// (worker records) makes; 0 for a free scenario.
func (s Steady) MembershipShare() float64 {
	if s.CostPerMonth <= 0 {
		return 0
	}
	return s.Split.MembershipCostPerMonth / s.CostPerMonth
}

// Timing is a repeated time measurement of one scenario.
type Timing struct {
	Mode    string          `json:"mode"`
	Plugins int             `json:"plugins"`
	Trials  []time.Duration `json:"trials_ns"`
}

// Median is the median trial (the mean of the middle two for an even
// count); zero without trials.
func (t Timing) Median() time.Duration {
	if len(t.Trials) == 0 {
		return 0
	}
	s := slices.Clone(t.Trials)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Max is the slowest trial; zero without trials.
func (t Timing) Max() time.Duration {
	if len(t.Trials) == 0 {
		return 0
	}
	return slices.Max(t.Trials)
}

// Convergence is the startup of a scenario: every worker starts at once.
// Trials hold the time until every plugin has a leader (the seed's "Time
// to Leader"); Known the time until every plugin on every worker has been
// told who leads it (followers learn at their next heartbeat).
type Convergence struct {
	Timing
	Known []time.Duration `json:"known_ns"`
}

// KnownTiming returns the Known times as a Timing.
func (c Convergence) KnownTiming() Timing {
	return Timing{Mode: c.Mode, Plugins: c.Plugins, Trials: c.Known}
}

// Failover kinds.
const (
	failCrash    = "crash"
	failGraceful = "graceful"
)

// Failover is the time from stopping the worker leading the first plugin
// until every plugin has a live leader again.
type Failover struct {
	Timing
	Kind string `json:"kind"` // failCrash or failGraceful
	// Bound is the design's limit for this kind at the run's settings.
	Bound time.Duration `json:"bound_ns"`
}

// Roles for WorkerLoad.
const (
	roleLeader   = "leader"
	roleFollower = "follower"
)

// WorkerLoad is the hourly request load of one worker process in one role,
// at default settings, split by what the requests were for.
type WorkerLoad struct {
	Mode    string `json:"mode"`
	Plugins int    `json:"plugins"`
	Role    string `json:"role"`
	// LeaseWrites are PUTs of lease records (namespace and plugin leases).
	LeaseWrites float64 `json:"lease_writes_per_hour"`
	// WorkerWrites are PUTs of worker (membership) records.
	WorkerWrites float64 `json:"worker_record_writes_per_hour"`
	// Reads are GETs and HEADs.
	Reads   float64 `json:"reads_per_hour"`
	Lists   float64 `json:"lists_per_hour"`
	Deletes float64 `json:"deletes_per_hour"`
}

// Target verdicts.
const (
	verdictPass = "PASS"
	verdictFail = "FAIL"
	verdictNA   = "N/A"
)

// Target is one goal of issue 5 checked against the measured numbers.
type Target struct {
	Name     string `json:"name"`
	Want     string `json:"want"`
	Measured string `json:"measured"`
	Verdict  string `json:"verdict"` // verdictPass, verdictFail or verdictNA
}

// setupName names a scenario the way the seed's tables do.
func setupName(plugins int, mode string) string {
	noun := "Plugins"
	if plugins == 1 {
		noun = "Plugin"
	}
	return fmt.Sprintf("%d %s (%s)", plugins, noun, mode)
}

// steady returns the steady-state result for mode and plugins.
func (r *Report) steady(mode string, plugins int) (Steady, bool) {
	for _, s := range r.Steady {
		if s.Mode == mode && s.Plugins == plugins {
			return s, true
		}
	}
	return Steady{}, false
}

// Reduction is per-plugin requests/hour over global requests/hour for one
// plugin count.
type Reduction struct {
	Plugins   int     `json:"plugins"`
	PerPlugin float64 `json:"per_plugin_requests_per_hour"`
	Global    float64 `json:"global_requests_per_hour"`
	Factor    float64 `json:"factor"`
}

// Reductions lists the reduction for every plugin count measured in both
// modes, in the order of Steady.
func (r *Report) Reductions() []Reduction {
	var out []Reduction
	seen := map[int]bool{}
	for _, s := range r.Steady {
		if seen[s.Plugins] {
			continue
		}
		pp, ok1 := r.steady(modePerPlugin, s.Plugins)
		g, ok2 := r.steady(modeGlobal, s.Plugins)
		if !ok1 || !ok2 {
			continue
		}
		seen[s.Plugins] = true
		red := Reduction{Plugins: s.Plugins, PerPlugin: pp.PerHour.Total(), Global: g.PerHour.Total()}
		if red.Global > 0 {
			red.Factor = red.PerPlugin / red.Global
		}
		out = append(out, red)
	}
	return out
}
