package main

import "testing"

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
