package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// series is one line of a chart: points (x[i], y[i]) in x order.
type series struct {
	name, color string
	dashed      bool
	x, y        []float64
}

// chart is one panel: a line chart with linear axes from 0, ticks, a
// legend, and optional horizontal target lines.
type chart struct {
	title, xLabel, yLabel string
	series                []series
	targets               []target
}

// target is a horizontal line marking a goal.
type target struct {
	y     float64
	label string
}

// Panel geometry, in SVG user units.
const (
	panelW, panelH = 480.0, 340.0
	padL, padR     = 64.0, 16.0
	padT, padB     = 36.0, 52.0
	tickLen        = 5.0
)

// svgDoc lays panels side by side in one SVG document.
func svgDoc(panels ...chart) string {
	var b strings.Builder
	w := panelW * float64(len(panels))
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n",
		w, panelH, w, panelH)
	fmt.Fprintf(&b, `<rect width="%.0f" height="%.0f" fill="white"/>`+"\n", w, panelH)
	for i, p := range panels {
		p.draw(&b, float64(i)*panelW)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// draw writes the panel with its left edge at ox.
func (c chart) draw(b *strings.Builder, ox float64) {
	maxX, maxY := 0.0, 0.0
	for _, s := range c.series {
		for i := range s.x {
			maxX, maxY = math.Max(maxX, s.x[i]), math.Max(maxY, s.y[i])
		}
	}
	for _, t := range c.targets {
		maxY = math.Max(maxY, t.y)
	}
	xStep, yStep := niceStep(maxX), niceStep(maxY)
	xMax, yMax := xStep*math.Ceil(maxX/xStep), yStep*math.Ceil(maxY/yStep)
	x0, y0 := ox+padL, panelH-padB
	pw, ph := panelW-padL-padR, panelH-padT-padB
	px := func(x float64) float64 { return x0 + x/xMax*pw }
	py := func(y float64) float64 { return y0 - y/yMax*ph }
	fmt.Fprintf(b, `<text x="%.1f" y="20" text-anchor="middle" font-size="14" font-weight="bold">%s</text>`+"\n", x0+pw/2, esc(c.title))
	c.axes(b, x0, y0, pw, ph, xStep, yStep, xMax, yMax, px, py)
	for _, t := range c.targets {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="2,3"/>`+"\n", x0, py(t.y), x0+pw, py(t.y))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#666" font-size="10">%s</text>`+"\n", x0+pw-2, py(t.y)-3, esc(t.label))
	}
	for _, s := range c.series {
		s.draw(b, px, py)
	}
	c.legend(b, x0+8, padT+6)
}

// axes writes both axes with ticks, grid lines and labels.
func (c chart) axes(b *strings.Builder, x0, y0, pw, ph, xStep, yStep, xMax, yMax float64, px, py func(float64) float64) {
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0, y0, x0+pw, y0)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0, y0, x0, y0-ph)
	for x := 0.0; x <= xMax+xStep/2; x += xStep {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", px(x), y0, px(x), y0+tickLen)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), y0+tickLen+13, tickLabel(x))
	}
	for y := 0.0; y <= yMax+yStep/2; y += yStep {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x0+1, py(y), x0+pw, py(y))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0-tickLen, py(y), x0, py(y))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-tickLen-3, py(y)+4, plainLabel(y))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x0+pw/2, panelH-12, esc(c.xLabel))
	fmt.Fprintf(b, `<text transform="translate(%.1f,%.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", x0-48, y0-ph/2, esc(c.yLabel))
}

// draw writes the series as a polyline with a marker at each point.
func (s series) draw(b *strings.Builder, px, py func(float64) float64) {
	if len(s.x) == 0 {
		return
	}
	pts := make([]string, len(s.x))
	for i := range s.x {
		pts[i] = fmt.Sprintf("%.1f,%.1f", px(s.x[i]), py(s.y[i]))
	}
	dash := ""
	if s.dashed {
		dash = ` stroke-dasharray="6,4"`
	}
	fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.color, dash)
	for i := range s.x {
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s: %s, %s</title></circle>`+"\n",
			px(s.x[i]), py(s.y[i]), s.color, esc(s.name), tickLabel(s.x[i]), tickLabel(s.y[i]))
	}
}

// legend writes a box naming each series that has points, from its top
// left corner.
func (c chart) legend(b *strings.Builder, x, y float64) {
	var shown []series
	for _, s := range c.series {
		if len(s.x) > 0 {
			shown = append(shown, s)
		}
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="210" height="%.1f" fill="white" stroke="#ccc"/>`+"\n", x, y, 8+16*float64(len(shown)))
	for i, s := range shown {
		ly := y + 14 + 16*float64(i)
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6,4"`
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", x+6, ly-4, x+30, ly-4, s.color, dash)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x+36, ly, esc(s.name))
	}
}

// niceStep is a tick step of 1, 2 or 5 times a power of ten that cuts
// 0..max into at most 6 parts.
func niceStep(maxV float64) float64 {
	if maxV <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(maxV/6)))
	for _, m := range []float64{1, 2, 5, 10} {
		if maxV/(m*mag) <= 6 {
			return m * mag
		}
	}
	return 10 * mag
}

// tickLabel writes a tick value: 25k for 25,000, 1.5 for 1.5.
func tickLabel(v float64) string {
	switch {
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return fmt.Sprintf("%.0fk", v/1000)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// plainLabel writes a value without the k of thousands (MiB, seconds).
func plainLabel(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func esc(s string) string { return html.EscapeString(s) }
