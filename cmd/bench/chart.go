package main

import (
	"cmp"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// Chart geometry, in SVG user units: two panels one above the other
// (requests per hour, then dollars per month), sharing the x axis.
const (
	chartW                = 720
	chartLeft, chartRight = 90, 150
	chartTitleH           = 80
	panelH                = 260 // one panel, its plot and its x labels
	panelPlotH            = 190
	panelTop              = 30 // from the panel's top to its plot
	chartPlotW            = chartW - chartLeft - chartRight
	chartH                = chartTitleH + 2*panelH + 20
	chartFont, chartSmall = 14, 12
	chartTitleFont        = 17
	chartLabelGap         = 16 // least vertical distance between two end labels
)

// seriesColors are the line colours by mode.
var seriesColors = map[string]string{modePerPlugin: "#d62728", modeGlobal: "#1f77b4"}

// endLabel is the value written at the end of a line.
type endLabel struct {
	mode string
	y    float64
	text string
}

// point is one measured value of a series.
type point struct {
	plugins int
	value   float64
}

// chartMetric is what one panel draws.
type chartMetric struct {
	key    string // data-metric attribute
	title  string
	yLabel string
	value  func(Steady) float64
	format func(float64) string
}

// writeSVG draws storage requests per hour and their cost per month
// against the plugin count, one line per mode in each of two panels, as a
// self-contained SVG document. Every point carries its value as a label.
func writeSVG(w io.Writer, r *Report) error {
	if len(r.Steady) == 0 {
		return fmt.Errorf("svg: no steady-state results to draw")
	}
	var modes []string
	xMin, xMax := math.MaxInt, 0
	for _, s := range r.Steady {
		if !slices.Contains(modes, s.Mode) {
			modes = append(modes, s.Mode)
		}
		xMin, xMax = min(xMin, s.Plugins), max(xMax, s.Plugins)
	}
	if xMax == xMin {
		xMin, xMax = xMin-1, xMax+1
	}
	x := func(p int) float64 {
		return chartLeft + float64(p-xMin)/float64(xMax-xMin)*chartPlotW
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="%d">`+"\n",
		chartW, chartH, chartW, chartH, chartFont)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="%d" font-weight="bold">%s</text>`+"\n", chartLeft, chartTitleFont,
		html.EscapeString(fmt.Sprintf("coord: storage requests and cost, %d workers", r.Workers)))
	sub := fmt.Sprintf("%s store, %s clock, heartbeat %s, lease %s, worker timeout %s, membership %s",
		r.Driver, r.Clock, formatWindow(r.PerHourAt.HeartbeatInterval), formatWindow(r.PerHourAt.LeaseTimeout),
		formatWindow(r.PerHourAt.WorkerTimeout), onOff(r.Settings.Membership))
	fmt.Fprintf(&b, `<text x="%d" y="42" font-size="%d" fill="#444">%s</text>`+"\n", chartLeft, chartSmall, html.EscapeString(sub))
	fmt.Fprintf(&b, `<text x="%d" y="58" font-size="%d" fill="#444">%s</text>`+"\n", chartLeft, chartSmall,
		html.EscapeString(fmt.Sprintf("cost at %s request prices, %d h/month", r.Prices.Name, HoursPerMonth)))

	metrics := []chartMetric{
		{key: "requests", title: "Requests per hour (all workers)", yLabel: "requests / hour",
			value: func(s Steady) float64 { return s.PerHour.Total() }, format: formatCount},
		{key: "cost", title: "Cost per month (" + r.Prices.Name + " request prices)", yLabel: "$ / month",
			value: func(s Steady) float64 { return s.CostPerMonth }, format: formatDollars},
	}
	for i, m := range metrics {
		drawPanel(&b, r, modes, m, chartTitleH+i*panelH, x)
	}
	// Legend, top right.
	for i, m := range modes {
		lx := chartW - 190 + 95*i
		fmt.Fprintf(&b, `<line x1="%d" y1="20" x2="%d" y2="20" stroke="%s" stroke-width="3"/>`+"\n", lx, lx+22, modeColor(m))
		fmt.Fprintf(&b, `<text x="%d" y="20" dominant-baseline="middle" font-size="%d">%s</text>`+"\n", lx+27, chartSmall, html.EscapeString(m))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// drawPanel draws one metric's panel with its top at top.
func drawPanel(b *strings.Builder, r *Report, modes []string, m chartMetric, top int, x func(int) float64) {
	series := map[string][]point{}
	yMax := 0.0
	for _, s := range r.Steady {
		v := m.value(s)
		series[s.Mode] = append(series[s.Mode], point{s.Plugins, v})
		yMax = max(yMax, v)
	}
	step := niceStep(yMax / 4)
	yTop := step * math.Ceil(yMax/step)
	if yTop == 0 {
		yTop, step = 1, 1
	}
	plotTop := top + panelTop
	plotBottom := plotTop + panelPlotH
	y := func(v float64) float64 { return float64(plotBottom) - v/yTop*panelPlotH }

	fmt.Fprintf(b, `<g class="panel" data-metric="%s">`+"\n", m.key)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", chartLeft, top+18, html.EscapeString(m.title))
	for v := 0.0; v <= yTop+step/2; v += step {
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", chartLeft, y(v), chartLeft+chartPlotW, y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle" font-size="%d">%s</text>`+"\n",
			chartLeft-8, y(v), chartSmall, html.EscapeString(m.format(v)))
	}
	ticks := map[int]bool{}
	for _, s := range r.Steady {
		if ticks[s.Plugins] {
			continue
		}
		ticks[s.Plugins] = true
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>`+"\n", x(s.Plugins), plotBottom, x(s.Plugins), plotBottom+5)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", x(s.Plugins), plotBottom+20, s.Plugins)
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", chartLeft, plotTop, chartLeft, plotBottom)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", chartLeft, plotBottom, chartLeft+chartPlotW, plotBottom)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" font-size="%d">plugins per worker</text>`+"\n", chartLeft+chartPlotW/2, plotBottom+38, chartSmall)
	fmt.Fprintf(b, `<text transform="translate(20 %d) rotate(-90)" text-anchor="middle" font-size="%d">%s</text>`+"\n",
		plotTop+panelPlotH/2, chartSmall, html.EscapeString(m.yLabel))
	var ends []endLabel
	for _, mode := range modes {
		color := modeColor(mode)
		pts := make([]string, 0, len(series[mode]))
		for _, p := range series[mode] {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.plugins), y(p.value)))
		}
		fmt.Fprintf(b, `<polyline class="series" data-mode="%s" data-metric="%s" fill="none" stroke="%s" stroke-width="2.5" points="%s"/>`+"\n",
			html.EscapeString(mode), m.key, color, strings.Join(pts, " "))
		for _, p := range series[mode] {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s: %s</title></circle>`+"\n",
				x(p.plugins), y(p.value), color, html.EscapeString(setupName(p.plugins, mode)), html.EscapeString(m.format(p.value)))
		}
		if n := len(series[mode]); n > 0 {
			last := series[mode][n-1]
			ends = append(ends, endLabel{mode: mode, y: y(last.value), text: m.format(last.value)})
		}
	}
	// Each line's last value, at its end in the right margin, pushed apart
	// so that labels never overlap.
	slices.SortFunc(ends, func(a, b endLabel) int { return cmp.Compare(a.y, b.y) })
	for i := 1; i < len(ends); i++ {
		ends[i].y = max(ends[i].y, ends[i-1].y+chartLabelGap)
	}
	for _, e := range ends {
		fmt.Fprintf(b, `<text class="value" x="%d" y="%.1f" dominant-baseline="middle" fill="%s">%s</text>`+"\n",
			chartLeft+chartPlotW+10, e.y, modeColor(e.mode), html.EscapeString(e.text+" "+e.mode))
	}
	b.WriteString("</g>\n")
}

func modeColor(mode string) string {
	if c := seriesColors[mode]; c != "" {
		return c
	}
	return "#555"
}

// niceStep rounds a raw axis step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}
