package main

import (
	"strings"
	"testing"

	"github.com/phxgo/phx/loadtest/internal/result"
)

func TestBudgetCheck(t *testing.T) {
	tests := []struct {
		b             budget
		sample, floor float64
		hasFloor      bool
		want          string
	}{
		{budget{ratioMax, 1.3}, 13, 10, true, "pass"},
		{budget{ratioMax, 1.3}, 13.1, 10, true, "FAIL"},
		{budget{ratioMax, 1.3}, 13, 0, true, ""},
		{budget{ratioMax, 1.3}, 13, 0, false, ""},
		{budget{zero, 0}, 0, 5, true, "pass"},
		{budget{zero, 0}, 1, 0, true, "FAIL"},
		{budget{valueMax, 1.25}, 1.2, 0, false, "pass"},
		{budget{}, 1, 1, true, ""},
	}
	for _, tt := range tests {
		if got := tt.b.check(tt.sample, tt.floor, tt.hasFloor); got != tt.want {
			t.Errorf("%v.check(%v, %v, %v) = %q, want %q", tt.b, tt.sample, tt.floor, tt.hasFloor, got, tt.want)
		}
	}
}

func TestRows(t *testing.T) {
	runs := map[string]map[string][]*Result{
		"echo": {
			"sample": {
				{Metrics: []Metric{{Name: "server_cpu_us_per_round_trip", Value: 30, Unit: "µs"}, {Name: "errors"}}},
				{Metrics: []Metric{{Name: "server_cpu_us_per_round_trip", Value: 90, Unit: "µs"}, {Name: "errors"}}},
				{Metrics: []Metric{{Name: "server_cpu_us_per_round_trip", Value: 20, Unit: "µs"}, {Name: "errors", Value: 2}}},
			},
			"floor": {{Metrics: []Metric{{Name: "server_cpu_us_per_round_trip", Value: 10, Unit: "µs"}, {Name: "errors"}}}},
		},
	}
	rs := rows(runs)
	if len(rs) != 2 {
		t.Fatalf("got %d rows, want 2: %+v", len(rs), rs)
	}
	r := rs[0]
	if r.Metric != "server_cpu_us_per_round_trip" || *r.Ratio != 3 || r.Result != "FAIL" || r.Budget != "≤ 2× floor" {
		t.Errorf("row = %+v", r)
	}
	if rs[1].Metric != "errors" || *rs[1].Sample != 2 || rs[1].Result != "FAIL" || rs[1].Ratio != nil {
		t.Errorf("row = %+v", rs[1])
	}
}

func TestNum(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{{19000, "19,000"}, {1234567, "1,234,567"}, {-1500, "-1,500"}, {123.4, "123"}, {12.34, "12.3"}, {1.234, "1.23"}, {0.1234, "0.123"}, {0, "0"}} {
		if got := num(&tt.v); got != tt.want {
			t.Errorf("num(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestMedian(t *testing.T) {
	if median(nil) != nil {
		t.Error("median of nothing")
	}
	for _, tt := range []struct {
		vs   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := *median(tt.vs); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.vs, got, tt.want)
		}
	}
}

// cluster-fanout compares cluster with single; remote messages per
// broadcast must equal each run's nodes − 1.
func TestClusterRows(t *testing.T) {
	run := func(nodes, remote, cpu float64) *Result {
		return &Result{Metrics: []Metric{
			{Name: "nodes", Value: nodes},
			{Name: "remote_msgs_per_broadcast", Value: remote},
			{Name: "server_cpu_us_per_delivery", Value: cpu, Unit: "µs"},
		}}
	}
	single := &Result{Metrics: []Metric{{Name: "nodes", Value: 1}, {Name: "server_cpu_us_per_delivery", Value: 10, Unit: "µs"}}}
	rowsOf := func(cluster ...*Result) map[string]Row {
		out := map[string]Row{}
		for _, r := range rows(map[string]map[string][]*Result{"cluster-fanout": {"cluster": cluster, "single": {single}}}) {
			out[r.Metric] = r
		}
		return out
	}

	rs := rowsOf(run(3, 2, 12), run(3, 2, 11), run(3, 2, 14))
	if r := rs["remote_msgs_per_broadcast"]; r.Result != "pass" || *r.Sample != 2 || r.Budget != "= nodes − 1" || r.Floor != nil {
		t.Errorf("remote row = %+v", r)
	}
	if r := rs["server_cpu_us_per_delivery"]; r.Result != "pass" || *r.Ratio != 1.2 || r.Budget != "≤ 1.3× single" || r.Targets != [2]string{"cluster", "single"} {
		t.Errorf("cpu row = %+v", r)
	}

	// One run short of a peer fails, and shows that run.
	rs = rowsOf(run(3, 2, 14), run(3, 1.5, 14), run(4, 3, 12))
	if r := rs["remote_msgs_per_broadcast"]; r.Result != "FAIL" || *r.Sample != 1.5 {
		t.Errorf("remote row = %+v", r)
	}
	if r := rs["server_cpu_us_per_delivery"]; r.Result != "FAIL" {
		t.Errorf("cpu row = %+v", r)
	}
}

func TestMarkdownCluster(t *testing.T) {
	runs := map[string]map[string][]*Result{
		"fanout": {"sample": {{Metrics: []Metric{{Name: "loss"}}}}, "floor": {{Metrics: []Metric{{Name: "loss"}}}}},
		"cluster-fanout": {
			"cluster": {{Metrics: []Metric{{Name: "nodes", Value: 3}, {Name: "remote_msgs_per_broadcast", Value: 2}},
				Nodes: []result.Node{{Name: "node1", Conns: 2, Deliveries: 20, Relay: map[string]uint64{"broadcast_frames": 20}}}}},
			"single": {{Metrics: []Metric{{Name: "nodes", Value: 1}}}},
		},
	}
	rep := Report{Runs: runs, Rows: rows(runs)}
	md := rep.markdown()
	for _, want := range []string{
		"| fanout | loss | 0 | 0 | — | 0 | pass |",
		"| metric | cluster | single | cluster/single | budget | result |",
		"| remote_msgs_per_broadcast | 2 | — | — | = nodes − 1 | pass |",
		"| cluster 1 | node1 | 2 | 20 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// storm's floor is shared by two pairs: sample/floor, with the budget, and
// nopresence/floor; its runs and errors are listed once.
func TestStormRows(t *testing.T) {
	run := func(storm float64, errs int64) *Result {
		r := &Result{Metrics: []Metric{{Name: "storm_s", Value: storm, Unit: "s"}, {Name: "errors", Value: float64(errs)}}, Params: map[string]string{"n": "40"}}
		if errs > 0 {
			r.Errors = map[string]int64{"join timeout": errs}
		}
		return r
	}
	runs := map[string]map[string][]*Result{"storm": {
		"sample":     {run(3, 0), run(1.4, 0), run(1.6, 0)},
		"nopresence": {run(1.1, 0)},
		"floor":      {run(1, 1)},
	}}
	byPair := map[string]Row{}
	for _, r := range rows(runs) {
		byPair[r.Targets[0]+" "+r.Metric] = r
	}
	if r := byPair["sample storm_s"]; *r.Sample != 1.6 || *r.Ratio != 1.6 || r.Budget != "≤ 1.5× floor" || r.Result != "FAIL" {
		t.Errorf("sample row = %+v", r)
	}
	if r := byPair["nopresence storm_s"]; *r.Sample != 1.1 || r.Budget != "" || r.Result != "" {
		t.Errorf("nopresence row = %+v", r)
	}
	md := (&Report{Runs: runs, Rows: rows(runs)}).markdown()
	for want, n := range map[string]int{
		"| storm | storm_s (s) | 1.60 | 1 | 1.60× | ≤ 1.5× floor | FAIL |": 1,
		"| storm_s (s) | 1.10 | 1 | 1.10× |  |  |":                         1,
		"- storm: `phxload -n 40`":                                         1,
		"- storm, floor, run 1:":                                           1,
	} {
		if got := strings.Count(md, want); got != n {
			t.Errorf("markdown has %q %d times, want %d:\n%s", want, got, n, md)
		}
	}
}
