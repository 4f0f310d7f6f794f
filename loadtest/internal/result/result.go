// Package result is the record of one load run: what phxload writes with
// -json and the report reads.
package result

import (
	"encoding/json"
	"os"
	"time"
)

// Result is what a run measured. Metrics are in a list, in the order they
// are printed; the report reads them by name.
type Result struct {
	Scenario string            `json:"scenario"`
	Label    string            `json:"label,omitempty"`
	URL      string            `json:"url"`
	Params   map[string]string `json:"params"`
	Start    time.Time         `json:"start"`
	// Seconds is the length of the measured window, on which rates and
	// CPU per operation are computed.
	Seconds       float64           `json:"seconds"`
	Metrics       []Metric          `json:"metrics"`
	Steps         []Step            `json:"steps,omitempty"`
	Series        []Second          `json:"series,omitempty"`
	Nodes         []Node            `json:"nodes,omitempty"`
	Errors        map[string]int64  `json:"errors"`
	ErrorExamples map[string]string `json:"error_examples,omitempty"`
}

// Metric is one figure.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Help  string  `json:"help,omitempty"`
}

// Step is the server's memory once a number of idle connections are joined
// (scenario conns).
type Step struct {
	Conns int `json:"conns"`
	// RSS is the server's resident memory, in bytes.
	RSS int64 `json:"rss"`
	// PerConn is (RSS − the baseline before any connection) / Conns, in
	// bytes.
	PerConn float64 `json:"per_conn"`
	// Marginal is the growth since the previous step per connection
	// added, in bytes.
	Marginal float64 `json:"marginal"`
}

// Second is the deliveries received in one second of a fanout run,
// counted from the first broadcast.
type Second struct {
	Second     int     `json:"second"`
	Deliveries int64   `json:"deliveries"`
	MeanMs     float64 `json:"mean_ms"`
	MaxMs      float64 `json:"max_ms"`
}

// Node is one server of a run against several (phxload with several -url,
// a cluster with -cluster): its share of the load and of the cost in the
// measured window.
type Node struct {
	URL  string `json:"url"`
	PID  int    `json:"pid,omitempty"`
	Name string `json:"name,omitempty"` // its node name, with -cluster
	// Conns is the connections joined to it; fanout's publisher is on
	// the first server.
	Conns int `json:"conns"`
	// Deliveries is what its subscribers received (fanout), and
	// DeliveryP99Ms their latency's 99th percentile.
	Deliveries    int64   `json:"deliveries,omitempty"`
	DeliveryP99Ms float64 `json:"delivery_p99_ms,omitempty"`
	// CPUSeconds is its CPU time (user+system) in the window, CPUPct the
	// same as a share of one core.
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	CPUPct     float64 `json:"cpu_pct,omitempty"`
	RSS        int64   `json:"rss,omitempty"` // resident memory at the end, bytes
	// With -cluster: the peers it saw up at the end, and the growth of
	// the counters of its GET /api/cluster "stats" over the window.
	PeersUp int               `json:"peers_up,omitempty"`
	Relay   map[string]uint64 `json:"relay,omitempty"`
}

// Add appends a metric.
func (r *Result) Add(name string, value float64, unit, help string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: value, Unit: unit, Help: help})
}

// Metric returns the metric called name.
func (r *Result) Metric(name string) (Metric, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// WriteJSON writes r to path, indented.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Read reads a result written by WriteJSON.
func Read(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
