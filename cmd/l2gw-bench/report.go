package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one figure of the result table.
type row struct {
	scenario, figure, value, baseline, ratio, target string
}

// report collects the figures and prints them as one table.
type report struct {
	header []string
	rows   []row
}

// add records a figure; empty cells print as "-".
func (r *report) add(scenario, figure, value, baseline, ratio, target string) {
	r.rows = append(r.rows, row{scenario, figure, value, baseline, ratio, target})
}

// addTimed records a duration measured against a baseline duration (zero
// when there is none), with their ratio.
func (r *report) addTimed(scenario, figure string, value, baseline time.Duration, target string) {
	base, ratio := "", ""
	if baseline > 0 {
		base, ratio = fmtDuration(baseline), fmt.Sprintf("%.2f", float64(value)/float64(baseline))
	}
	r.add(scenario, figure, fmtDuration(value), base, ratio, target)
}

// print writes the header and the table.
func (r *report) print(w io.Writer) {
	for _, h := range r.header {
		fmt.Fprintln(w, h)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFIGURE\tVALUE\tBASELINE\tRATIO\tTARGET")
	for _, x := range r.rows {
		fmt.Fprintln(tw, strings.Join([]string{dash(x.scenario), dash(x.figure), dash(x.value),
			dash(x.baseline), dash(x.ratio), dash(x.target)}, "\t"))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fmtDuration prints d with a precision that suits its size.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
}

// fmtBytes prints a size in MiB, or in bytes when small.
func fmtBytes(b int64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%d B", b)
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// latencies summarises request latencies.
type latencies []time.Duration

// percentile is the nearest-rank p-th percentile (0 < p <= 100).
func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(float64(len(s))*p/100)) - 1
	return s[max(0, min(rank, len(s)-1))]
}
