package result

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	r := &Result{Scenario: "fanout", URL: "ws://x", Params: map[string]string{"subs": "10"}, Start: time.Unix(1, 0).UTC(),
		Steps: []Step{{Conns: 1, RSS: 2, PerConn: 3, Marginal: 4}}, Errors: map[string]int64{}}
	r.Add("loss", 0, "", "lost messages")
	r.Add("p99", 1.5, "ms", "")
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("read %+v, wrote %+v", got, r)
	}
	if m, ok := got.Metric("p99"); !ok || m.Value != 1.5 || m.Unit != "ms" {
		t.Fatalf("Metric(p99) = %+v, %v", m, ok)
	}
	if _, ok := got.Metric("nope"); ok {
		t.Fatal("Metric found a name never added")
	}
}
