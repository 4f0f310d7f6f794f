package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/phxgo/phx/loadtest/internal/hist"
	"github.com/phxgo/phx/loadtest/internal/result"
)

// Result is what a run measured, the -json file.
type Result = result.Result

// Step, Second and Node are parts of a Result.
type (
	Step   = result.Step
	Second = result.Second
	Node   = result.Node
)

// addLatency adds the percentiles of h, in milliseconds, as name_p50 and so
// on.
func addLatency(r *Result, name string, h *hist.Histogram, help string, quantiles ...string) {
	for _, q := range quantiles {
		var v int64
		switch q {
		case "p50":
			v = h.Quantile(0.50)
		case "p99":
			v = h.Quantile(0.99)
		case "p999":
			v = h.Quantile(0.999)
		case "max":
			v = h.Max()
		default:
			panic("unknown quantile " + q)
		}
		r.Add(name+"_"+q+"_ms", float64(v)/1e6, "ms", help+" "+q)
	}
}

// addCPU adds the CPU figures of a measured window: the server's and the
// load tool's share of one core, and the server's CPU per operation.
func addCPU(r *Result, s span, ops float64, opName string) {
	r.Seconds = s.elapsed.Seconds()
	if s.hasServer {
		r.Add("server_cpu_pct", pct(s.serverCPU, s.elapsed), "%", "server CPU, share of one core")
		if ops > 0 {
			r.Add("server_cpu_us_per_"+opName, float64(s.serverCPU.Microseconds())/ops, "µs", "server CPU (user+system) per "+strings.ReplaceAll(opName, "_", " "))
		}
	}
	r.Add("client_cpu_pct", pct(s.clientCPU, s.elapsed), "%", "load tool CPU, share of one core")
}

func pct(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

// print writes the result for a person.
func printResult(r *Result, w io.Writer) {
	fmt.Fprintf(w, "scenario %s against %s (%.1fs measured)\n", r.Scenario, r.URL, r.Seconds)
	for _, m := range r.Metrics {
		fmt.Fprintf(w, "  %-34s %14s %-4s %s\n", m.Name, formatValue(m.Value), m.Unit, m.Help)
	}
	if len(r.Steps) > 0 {
		fmt.Fprintf(w, "  %8s %12s %14s %14s\n", "conns", "server RSS", "RSS/conn", "marginal")
		for _, s := range r.Steps {
			fmt.Fprintf(w, "  %8d %9.1f MiB %10.2f KiB %10.2f KiB\n", s.Conns, float64(s.RSS)/(1<<20), s.PerConn/1024, s.Marginal/1024)
		}
	}
	if len(r.Series) > 0 {
		fmt.Fprintf(w, "  delivery latency by second (mean/max ms):")
		for i, s := range r.Series {
			if i%8 == 0 {
				fmt.Fprintf(w, "\n   ")
			}
			fmt.Fprintf(w, " %3d: %.0f/%.0f", s.Second, s.MeanMs, s.MaxMs)
		}
		fmt.Fprintln(w)
	}
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "  no errors")
	}
	for k, n := range r.Errors {
		fmt.Fprintf(w, "  error %q: %d (e.g. %s)\n", k, n, r.ErrorExamples[k])
	}
}

func formatValue(v float64) string {
	switch {
	case v == float64(int64(v)):
		return fmt.Sprintf("%d", int64(v))
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
