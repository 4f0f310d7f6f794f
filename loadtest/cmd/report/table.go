package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// The servers compared by most scenarios; the ratio is sample / floor.
var sampleFloor = [2]string{"sample", "floor"}

// budget is a limit of docs/architecture.md#budgets, which lists them all:
// a budget changed here is changed there.
type budget struct {
	kind  budgetKind
	limit float64
}

type budgetKind int

const (
	none     budgetKind = iota
	ratioMax            // sample / floor ≤ limit
	zero                // the sample's value is 0
	valueMax            // the sample's value ≤ limit
	peers               // the sample's value = its run's "nodes" − 1, in every run
)

func (b budget) String() string { return b.describe("floor") }

// describe says what the budget is, against the target called base.
func (b budget) describe(base string) string {
	switch b.kind {
	case ratioMax:
		return fmt.Sprintf("≤ %g× %s", b.limit, base)
	case zero:
		return "0"
	case valueMax:
		return fmt.Sprintf("≤ %g", b.limit)
	case peers:
		return "= nodes − 1"
	}
	return ""
}

// check says whether the budget is met: "pass", "FAIL", or "" when there
// is no budget or nothing to compare.
func (b budget) check(sample, floor float64, hasFloor bool) string {
	ok := true
	switch b.kind {
	case none:
		return ""
	case ratioMax:
		if !hasFloor || floor == 0 {
			return ""
		}
		ok = sample/floor <= b.limit
	case zero:
		ok = sample == 0
	case valueMax:
		ok = sample <= b.limit
	case peers:
		// Checked run by run, in rows: a run's value against its
		// own node count.
		return ""
	}
	if ok {
		return "pass"
	}
	return "FAIL"
}

// row is one line of the table.
type row struct {
	metric string
	budget budget
}

// scenario lists the figures of one scenario that the table shows, in
// order, with their budgets. Its runs are <name>-<target>*.json for the
// two targets; the ratio is the first's value / the second's, and budgets
// apply to the first.
type scenario struct {
	name    string
	targets [2]string
	rows    []row
}

var scenarios = []scenario{
	{"conns", sampleFloor, []row{
		{"conns", budget{}},
		{"connect_join_p50_ms", budget{}},
		{"connect_join_p99_ms", budget{}},
		{"rss_per_conn_kib", budget{ratioMax, 1.3}},
		{"rss_per_conn_held_kib", budget{ratioMax, 1.3}},
		{"rss_per_conn_spread", budget{valueMax, 1.25}},
		{"heartbeats", budget{}},
		{"heartbeats_unanswered", budget{zero, 0}},
		{"heartbeat_rtt_p99_ms", budget{}},
		{"server_cpu_pct", budget{}},
		{"errors", budget{zero, 0}},
	}},
	{"fanout", sampleFloor, []row{
		{"subscribers", budget{}},
		{"deliveries_per_s", budget{}},
		{"delivery_p50_ms", budget{}},
		{"delivery_p99_ms", budget{ratioMax, 2}},
		{"delivery_p999_ms", budget{}},
		{"delivery_max_ms", budget{}},
		{"loss", budget{zero, 0}},
		{"order_violations", budget{zero, 0}},
		{"server_cpu_us_per_delivery", budget{ratioMax, 1.3}},
		{"server_cpu_pct", budget{}},
		{"client_cpu_pct", budget{}},
		{"errors", budget{zero, 0}},
	}},
	{"echo", sampleFloor, []row{
		{"round_trips_per_s", budget{}},
		{"round_trip_p50_ms", budget{}},
		{"round_trip_p99_ms", budget{}},
		{"server_cpu_us_per_round_trip", budget{ratioMax, 2}},
		{"server_cpu_pct", budget{}},
		{"client_cpu_pct", budget{}},
		{"errors", budget{zero, 0}},
	}},
	{"joins", sampleFloor, joinsRows},
	// Joins and leaves of topics that several connections are members of
	// at once, each connection cycling through them.
	{"joins-shared", sampleFloor, joinsRows},
	// The sample's fanout on a cluster of nodes (run-matrix.sh: three
	// processes), against the same fanout on one sample process: a large
	// room at a low rate, and a small room at a high one, where what a
	// broadcast costs to cross nodes weighs most.
	{"cluster-fanout", clusterSingle, clusterRows},
	{"cluster-room", clusterSingle, clusterRows},
	// What metrics cost: the sample serving /metrics, scraped every
	// second, with the collector as its telemetry, against the sample
	// run with -metrics=false.
	{"metrics-fanout", metricsOnOff, []row{
		{"subscribers", budget{}},
		{"deliveries_per_s", budget{}},
		{"delivery_p99_ms", budget{}},
		{"loss", budget{zero, 0}},
		{"order_violations", budget{zero, 0}},
		{"server_cpu_us_per_delivery", budget{ratioMax, 1.05}},
		{"server_cpu_pct", budget{}},
		{"errors", budget{zero, 0}},
	}},
	// What a history costs: the sample's bench topics keeping their last
	// 1,000 broadcasts, each numbered, against the sample keeping none.
	{"history-fanout", historyOnOff, []row{
		{"subscribers", budget{}},
		{"deliveries_per_s", budget{}},
		{"delivery_p99_ms", budget{}},
		{"loss", budget{zero, 0}},
		{"order_violations", budget{zero, 0}},
		{"server_cpu_us_per_delivery", budget{ratioMax, 1.15}},
		{"server_cpu_pct", budget{}},
		{"errors", budget{zero, 0}},
	}},
	// A server restart under joined clients: from the new process
	// listening until every client is joined again and, in the sample's
	// rooms, holds its room's whole presence, against the floor's
	// reconnect and rejoin of the same clients; and the sample's bench
	// rooms, without presence, against the floor.
	{"storm", sampleFloor, stormRows(true)},
	{"storm", nopresenceFloor, stormRows(false)},
	{"metrics-echo", metricsOnOff, []row{
		{"round_trips_per_s", budget{}},
		{"round_trip_p99_ms", budget{}},
		{"server_cpu_us_per_round_trip", budget{ratioMax, 1.05}},
		{"server_cpu_pct", budget{}},
		{"errors", budget{zero, 0}},
	}},
}

var metricsOnOff = [2]string{"metrics", "nometrics"}

var nopresenceFloor = [2]string{"nopresence", "floor"}

// stormRows are the storm's rows, the budget on the sample with presence.
func stormRows(presence bool) []row {
	var b budget
	if presence {
		b = budget{ratioMax, 1.5}
	}
	rs := []row{
		{"clients", budget{}},
		{"cold_s", budget{}},
		{"downtime_s", budget{}},
		{"rejoin_s", budget{}},
		{"rejoin_p50_ms", budget{}},
		{"rejoin_p99_ms", budget{}},
		{"storm_s", b},
	}
	if presence {
		rs = append(rs, row{"complete_p99_ms", budget{}}, row{"presence_diffs", budget{}}, row{"presence_mb", budget{}})
	}
	return append(rs,
		row{"refused", budget{}},
		row{"refused_after_t0", budget{}},
		row{"dial_failures", budget{}},
		row{"server_cpu_s", budget{}},
		row{"client_cpu_s", budget{}},
		row{"client_cpu_t0_s", budget{}},
		row{"errors", budget{zero, 0}},
	)
}

var historyOnOff = [2]string{"history", "nohistory"}

var clusterSingle = [2]string{"cluster", "single"}

var clusterRows = []row{
	{"nodes", budget{}},
	{"subscribers", budget{}},
	{"sent", budget{}},
	{"deliveries_per_s", budget{}},
	{"delivery_p50_ms", budget{}},
	{"delivery_p99_ms", budget{}},
	{"delivery_p999_ms", budget{}},
	{"delivery_max_ms", budget{}},
	{"loss", budget{zero, 0}},
	{"order_violations", budget{zero, 0}},
	{"remote_msgs_per_broadcast", budget{peers, 0}},
	{"remote_received_per_broadcast", budget{peers, 0}},
	{"relay_frames_dropped", budget{zero, 0}},
	{"peers_not_up", budget{zero, 0}},
	{"server_cpu_us_per_delivery", budget{ratioMax, 1.3}},
	{"server_cpu_pct", budget{}},
	{"client_cpu_pct", budget{}},
	{"errors", budget{zero, 0}},
}

// scenarioNamed returns the scenario called name.
func scenarioNamed(name string) scenario {
	for _, sc := range scenarios {
		if sc.name == name {
			return sc
		}
	}
	return scenario{name: name, targets: sampleFloor}
}

// Row is one figure of one scenario on both servers, over their runs (the
// median, or the worst for a budget of zero or nodes − 1), and every run's
// value. Sample and Floor are the values of Targets[0] and Targets[1]:
// sample and floor, or for cluster-fanout cluster and single.
type Row struct {
	Scenario   string    `json:"scenario"`
	Targets    [2]string `json:"targets"`
	Metric     string    `json:"metric"`
	Unit       string    `json:"unit"`
	Sample     *float64  `json:"sample"`
	Floor      *float64  `json:"floor"`
	Ratio      *float64  `json:"ratio"`
	Budget     string    `json:"budget,omitempty"`
	Result     string    `json:"result,omitempty"`
	SampleRuns []float64 `json:"sample_runs,omitempty"`
	FloorRuns  []float64 `json:"floor_runs,omitempty"`
}

// rows builds the table from the results, by scenario and target.
func rows(runs map[string]map[string][]*Result) []Row {
	var out []Row
	for _, sc := range scenarios {
		byTarget := runs[sc.name]
		if byTarget == nil {
			continue
		}
		for _, rw := range sc.rows {
			r := Row{Scenario: sc.name, Targets: sc.targets, Metric: rw.metric, Budget: rw.budget.describe(sc.targets[1])}
			// The distance of each of the first target's runs from its
			// node count − 1, for a budget of nodes − 1.
			var offPeers []float64
			for _, res := range byTarget[sc.targets[0]] {
				if m, ok := res.Metric(rw.metric); ok {
					r.SampleRuns, r.Unit = append(r.SampleRuns, m.Value), m.Unit
					n, _ := res.Metric("nodes")
					offPeers = append(offPeers, math.Abs(m.Value-(n.Value-1)))
				}
			}
			for _, res := range byTarget[sc.targets[1]] {
				if m, ok := res.Metric(rw.metric); ok {
					r.FloorRuns, r.Unit = append(r.FloorRuns, m.Value), m.Unit
				}
			}
			// A budget of zero (loss, errors) holds only if it holds in
			// every run: show the worst. Other figures: the median.
			agg := median
			if rw.budget.kind == zero {
				agg = largest
			}
			r.Sample, r.Floor = agg(r.SampleRuns), agg(r.FloorRuns)
			if rw.budget.kind == peers && len(offPeers) > 0 {
				// The same: the run furthest from nodes − 1.
				worst := 0
				for i, d := range offPeers {
					if d > offPeers[worst] {
						worst = i
					}
				}
				r.Sample = &r.SampleRuns[worst]
			}
			if r.Sample == nil && r.Floor == nil {
				continue
			}
			if r.Sample != nil && r.Floor != nil && *r.Floor != 0 {
				ratio := *r.Sample / *r.Floor
				r.Ratio = &ratio
			}
			if r.Sample != nil {
				var floor float64
				if r.Floor != nil {
					floor = *r.Floor
				}
				r.Result = rw.budget.check(*r.Sample, floor, r.Floor != nil)
				if rw.budget.kind == peers {
					r.Result = "pass"
					if slices.Max(offPeers) > 1e-9 {
						r.Result = "FAIL"
					}
				}
			}
			out = append(out, r)
		}
	}
	return out
}

// median returns the median of vs, or nil if there are none.
func median(vs []float64) *float64 {
	if len(vs) == 0 {
		return nil
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + m) / 2
	}
	return &m
}

// largest returns the largest of vs, or nil if there are none.
func largest(vs []float64) *float64 {
	if len(vs) == 0 {
		return nil
	}
	m := slices.Max(vs)
	return &m
}

// Report is the whole of latest.json.
type Report struct {
	Mode    string                          `json:"mode"`
	Date    string                          `json:"date"`
	Machine Machine                         `json:"machine"`
	Rows    []Row                           `json:"rows"`
	Runs    map[string]map[string][]*Result `json:"runs"`
}

func (rep *Report) markdown() string {
	var b strings.Builder
	m := rep.Machine
	fmt.Fprintf(&b, "# Load test results (%s run)\n\n", rep.Mode)
	fmt.Fprintf(&b, "%s, on %d × %s, %.1f GiB, Linux %s, %s, open files ≤ %d.\n",
		rep.Date, m.CPUs, m.CPUModel, float64(m.MemoryBytes)/(1<<30), m.Kernel, m.GoVersion, m.OpenFiles)
	b.WriteString("Load tool, sample and floor on the same machine, over loopback; the ratio is sample / floor.\n")
	if n := rep.repeats(); n > 1 {
		fmt.Fprintf(&b, "Each figure is the median of %d runs, the two servers of each pair alternating.\n", n)
	}
	b.WriteString("\n")
	var others []Row // rows of scenarios with other targets
	header := false
	for _, r := range rep.Rows {
		if r.Targets != sampleFloor {
			others = append(others, r)
			continue
		}
		if !header {
			b.WriteString("| scenario | metric | sample | floor | sample/floor | budget | result |\n")
			b.WriteString("|---|---|--:|--:|--:|---|---|\n")
			header = true
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n",
			r.Scenario, metricName(r), num(r.Sample), num(r.Floor), ratio(r.Ratio), r.Budget, r.Result)
	}

	if c := rep.Runs["conns"]; c != nil {
		b.WriteString("\nServer memory by step (conns):\n\n")
		b.WriteString("| connections | sample RSS/conn (KiB) | floor RSS/conn (KiB) | sample marginal (KiB) | floor marginal (KiB) |\n")
		b.WriteString("|--:|--:|--:|--:|--:|\n")
		var steps []int
		for _, t := range sampleFloor {
			for _, res := range c[t] {
				for _, s := range res.Steps {
					steps = append(steps, s.Conns)
				}
			}
		}
		slices.Sort(steps)
		steps = slices.Compact(steps)
		// step returns the medians over the runs of a target at n connections.
		step := func(t string, n int) (perConn, marginal *float64) {
			var ps, ms []float64
			for _, res := range c[t] {
				for _, s := range res.Steps {
					if s.Conns == n {
						ps, ms = append(ps, s.PerConn/1024), append(ms, s.Marginal/1024)
					}
				}
			}
			return median(ps), median(ms)
		}
		for _, n := range steps {
			sp, sm := step("sample", n)
			fp, fm := step("floor", n)
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", groupThousands(int64(n)), num(sp), num(fp), num(sm), num(fm))
		}
	}

	// Scenarios with other targets (cluster-fanout, cluster-room), each in a table
	// of its own.
	for i, r := range others {
		if i == 0 || r.Scenario != others[i-1].Scenario {
			b.WriteString("\n")
			t := r.Targets
			fmt.Fprintf(&b, "%s: %s against %s; the ratio is %s / %s.\n\n", r.Scenario, t[0], t[1], t[0], t[1])
			fmt.Fprintf(&b, "| metric | %s | %s | %s/%s | budget | result |\n", t[0], t[1], t[0], t[1])
			b.WriteString("|---|--:|--:|--:|---|---|\n")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n",
			metricName(r), num(r.Sample), num(r.Floor), ratio(r.Ratio), r.Budget, r.Result)
	}
	rep.nodesTable(&b)
	b.WriteString("\nParameters:\n\n")
	listed := map[string]bool{}
	for _, sc := range scenarios {
		if listed[sc.name] {
			continue
		}
		listed[sc.name] = true
		for _, t := range sc.targets {
			if runs := rep.Runs[sc.name][t]; len(runs) > 0 {
				fmt.Fprintf(&b, "- %s: `phxload %s`\n", sc.name, params(runs[0].Params))
				break
			}
		}
	}

	var errs []string
	seen := map[[2]string]bool{}
	for _, sc := range scenarios {
		for _, t := range sc.targets {
			if seen[[2]string{sc.name, t}] {
				continue
			}
			seen[[2]string{sc.name, t}] = true
			for i, res := range rep.Runs[sc.name][t] {
				kinds := make([]string, 0, len(res.Errors))
				for k := range res.Errors {
					kinds = append(kinds, k)
				}
				slices.Sort(kinds)
				for _, k := range kinds {
					errs = append(errs, fmt.Sprintf("- %s, %s, run %d: %q × %d (e.g. %s)", sc.name, t, i+1, k, res.Errors[k], res.ErrorExamples[k]))
				}
			}
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nErrors:\n\n")
		b.WriteString(strings.Join(errs, "\n"))
		b.WriteString("\n")
	}
	return b.String()
}

// metricName is a row's metric with its unit.
func metricName(r Row) string {
	if r.Unit != "" {
		return r.Metric + " (" + r.Unit + ")"
	}
	return r.Metric
}

// nodesTable writes each server's share of every run against several
// (cluster-fanout), run by run.
func (rep *Report) nodesTable(b *strings.Builder) {
	for _, sc := range scenarios {
		header := false
		for _, t := range sc.targets {
			for i, res := range rep.Runs[sc.name][t] {
				if len(res.Nodes) == 0 {
					continue
				}
				if !header {
					fmt.Fprintf(b, "\nBy node (%s; relay counters from each node's /api/cluster, their growth over the measured window):\n\n", sc.name)
					b.WriteString("| run | node | conns | deliveries | p99 (ms) | CPU (s) | CPU (%) | peers up | broadcasts relayed | broadcast frames | broadcasts received |\n")
					b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
					header = true
				}
				for _, n := range res.Nodes {
					name := n.Name
					if name == "" {
						name = n.URL
					}
					relay := func(k string) string {
						v, ok := n.Relay[k]
						if !ok {
							return "—"
						}
						return groupThousands(int64(v))
					}
					p99, cpu, pc := n.DeliveryP99Ms, n.CPUSeconds, n.CPUPct
					fmt.Fprintf(b, "| %s %d | %s | %s | %s | %s | %s | %s | %d | %s | %s | %s |\n",
						t, i+1, name, groupThousands(int64(n.Conns)), groupThousands(n.Deliveries), num(&p99), num(&cpu), num(&pc),
						n.PeersUp, relay("broadcasts_relayed"), relay("broadcast_frames"), relay("broadcasts_received"))
				}
			}
		}
	}
}

// params renders the flags of a run that are the same for both servers.
func params(p map[string]string) string {
	var keys []string
	for k := range p {
		switch k {
		case "url", "pid", "json", "label", "token-url":
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = "-" + k + " " + p[k]
	}
	return strings.Join(parts, " ")
}

func num(v *float64) string {
	if v == nil {
		return "—"
	}
	x := *v
	switch {
	case x == math.Trunc(x) && math.Abs(x) < 1e15:
		return groupThousands(int64(x))
	case math.Abs(x) >= 100:
		return groupThousands(int64(math.Round(x)))
	case math.Abs(x) >= 10:
		return fmt.Sprintf("%.1f", x)
	case math.Abs(x) >= 1:
		return fmt.Sprintf("%.2f", x)
	default:
		return fmt.Sprintf("%.3f", x)
	}
}

func ratio(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f×", *v)
}

// groupThousands writes n with commas between groups of three digits.
func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// repeats returns the largest number of runs of any scenario and target.
func (rep *Report) repeats() int {
	n := 0
	for _, byTarget := range rep.Runs {
		for _, runs := range byTarget {
			n = max(n, len(runs))
		}
	}
	return n
}

var joinsRows = []row{
	{"joins_per_s", budget{}},
	{"join_p50_ms", budget{}},
	{"join_p99_ms", budget{}},
	{"cycle_p99_ms", budget{}},
	{"server_cpu_us_per_join_leave", budget{ratioMax, 3}},
	{"server_cpu_pct", budget{}},
	{"client_cpu_pct", budget{}},
	{"errors", budget{zero, 0}},
}
