package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH         = 640, 400
	chartLeft, chartRight  = 80, 150
	chartTop, chartBottom  = 50, 60
	chartPlotW, chartPlotH = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
)

// seriesColors are the line colours by mode.
var seriesColors = map[string]string{modePerPlugin: "#d62728", modeGlobal: "#1f77b4"}

// point is one measured value of a series.
type point struct {
	plugins int
	value   float64
}

// writeSVG draws storage requests per hour against the plugin count, one
// line per mode, as a self-contained SVG document.
func writeSVG(w io.Writer, r *Report) error {
	series := map[string][]point{}
	var modes []string
	xMin, xMax, yMax := math.MaxInt, 0, 0.0
	for _, s := range r.Steady {
		if _, ok := series[s.Mode]; !ok {
			modes = append(modes, s.Mode)
		}
		v := s.PerHour.Total()
		series[s.Mode] = append(series[s.Mode], point{s.Plugins, v})
		xMin, xMax, yMax = min(xMin, s.Plugins), max(xMax, s.Plugins), max(yMax, v)
	}
	if len(modes) == 0 {
		return fmt.Errorf("svg: no steady-state results to draw")
	}
	if xMax == xMin {
		xMin, xMax = xMin-1, xMax+1
	}
	step := niceStep(yMax / 5)
	yTop := step * math.Ceil(yMax/step)
	if yTop == 0 {
		yTop, step = 1, 1
	}
	x := func(p int) float64 {
		return chartLeft + float64(p-xMin)/float64(xMax-xMin)*chartPlotW
	}
	y := func(v float64) float64 { return chartTop + chartPlotH - v/yTop*chartPlotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", chartLeft,
		html.EscapeString(fmt.Sprintf("Storage requests per hour, %d workers (%s, %s clock)", r.Workers, r.Driver, r.Clock)))
	// Horizontal grid and y labels.
	for v := 0.0; v <= yTop+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", chartLeft, y(v), chartLeft+chartPlotW, y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", chartLeft-6, y(v), formatCount(v))
	}
	// X ticks at every measured plugin count.
	ticks := map[int]bool{}
	for _, m := range modes {
		for _, p := range series[m] {
			if ticks[p.plugins] {
				continue
			}
			ticks[p.plugins] = true
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>`+"\n", x(p.plugins), chartTop+chartPlotH, x(p.plugins), chartTop+chartPlotH+5)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", x(p.plugins), chartTop+chartPlotH+18, p.plugins)
		}
	}
	// Axes and titles.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", chartLeft, chartTop, chartLeft, chartTop+chartPlotH)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", chartLeft, chartTop+chartPlotH, chartLeft+chartPlotW, chartTop+chartPlotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">plugins per worker</text>`+"\n", chartLeft+chartPlotW/2, chartH-16)
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">requests / hour</text>`+"\n", chartTop+chartPlotH/2)
	// One line per mode, with a marker per point and a legend entry.
	for i, m := range modes {
		color := seriesColors[m]
		if color == "" {
			color = "#555"
		}
		pts := make([]string, 0, len(series[m]))
		for _, p := range series[m] {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.plugins), y(p.value)))
		}
		fmt.Fprintf(&b, `<polyline class="series" data-mode="%s" fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n",
			html.EscapeString(m), color, strings.Join(pts, " "))
		for _, p := range series[m] {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s: %s requests/hour</title></circle>`+"\n",
				x(p.plugins), y(p.value), color, html.EscapeString(setupName(p.plugins, m)), formatCount(p.value))
		}
		ly := chartTop + 10 + 20*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", chartLeft+chartPlotW+15, ly, chartLeft+chartPlotW+40, ly, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", chartLeft+chartPlotW+46, ly, html.EscapeString(m))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
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
