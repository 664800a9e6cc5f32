package scale

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Series is one line of a plot: a label and, per N, the median and the
// range of a phase.
type Series struct {
	Label  string
	Points []Point
}

// Point is one N of a Series.
type Point struct {
	N     int
	Stats Stats
}

// PlotSVG writes an SVG chart of convergence time against N, one line of
// medians per series with min–max bars, log-scaled on both axes.
func PlotSVG(w io.Writer, title string, series []Series) error {
	const W, H, left, right, top, bottom = 720, 420, 70, 170, 40, 50
	minN, maxN, minT, maxT := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Points {
			if p.Stats.OK == 0 {
				continue
			}
			minN, maxN = math.Min(minN, float64(p.N)), math.Max(maxN, float64(p.N))
			minT, maxT = math.Min(minT, p.Stats.Min.Seconds()), math.Max(maxT, p.Stats.Max.Seconds())
		}
	}
	if math.IsInf(minN, 1) {
		return fmt.Errorf("scale: nothing to plot")
	}
	lminN, lmaxN := math.Floor(math.Log10(minN)), math.Ceil(math.Log10(maxN))
	if lmaxN == lminN {
		lmaxN++
	}
	lminT, lmaxT := math.Floor(math.Log10(math.Max(minT, 0.001))), math.Ceil(math.Log10(math.Max(maxT, 0.001)))
	if lmaxT == lminT {
		lmaxT++
	}
	x := func(n float64) float64 {
		return left + (math.Log10(n)-lminN)/(lmaxN-lminN)*(W-left-right)
	}
	y := func(t float64) float64 {
		return H - bottom - (math.Log10(math.Max(t, 0.001))-lminT)/(lmaxT-lminT)*(H-top-bottom)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14">%s</text>`+"\n", left, esc(title))
	for e := lminN; e <= lmaxN; e++ {
		for _, m := range []float64{1, 2, 5} {
			n := m * math.Pow(10, e)
			if math.Log10(n) > lmaxN {
				break
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n",
				x(n), top, x(n), H-bottom, x(n), H-bottom+16, n)
		}
	}
	for e := lminT; e <= lmaxT; e++ {
		t := math.Pow(10, e)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%g s</text>`+"\n",
			left, y(t), W-right, y(t), left-6, y(t)+4, t)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">members (N)</text>`+"\n", (left+W-right)/2, H-12)
	colours := []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}
	for i, s := range series {
		col := colours[i%len(colours)]
		pts := slices.Clone(s.Points)
		slices.SortFunc(pts, func(a, b Point) int { return a.N - b.N })
		var path []string
		for _, p := range pts {
			if p.Stats.OK == 0 {
				continue
			}
			px := x(float64(p.N))
			path = append(path, fmt.Sprintf("%.1f,%.1f", px, y(p.Stats.Median.Seconds())))
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n",
				px, y(p.Stats.Min.Seconds()), px, y(p.Stats.Max.Seconds()), col)
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px, y(p.Stats.Median.Seconds()), col)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, strings.Join(path, " "))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/><text x="%d" y="%d">%s</text>`+"\n",
			W-right+10, top+10+18*i, W-right+30, top+10+18*i, col, W-right+34, top+14+18*i, esc(s.Label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
