package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/phxgo/phx/internal/phxclient"
)

// scrape reads /metrics into name{label="value",…} → value, labels in the
// order exposed; a histogram's count is name_count{…}.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := func(n string) string {
				if len(labels) == 0 {
					return n
				}
				return n + "{" + strings.Join(labels, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key(name)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key(name)] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key(name+"_count")] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// metricsWatch compares scrapes with the one before.
type metricsWatch struct {
	t    *testing.T
	base string
	last map[string]float64
}

// moved scrapes until every figure in want has moved by its delta since
// the last step (some are counted just after the client hears of what
// they count), then makes this scrape the next step's base.
func (w *metricsWatch) moved(step string, want map[string]float64) {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		now := scrape(w.t, w.base)
		var wrong []string
		for k, d := range want {
			if got := now[k] - w.last[k]; got != d {
				wrong = append(wrong, fmt.Sprintf("%s moved by %v, want %v", k, got, d))
			}
		}
		if len(wrong) == 0 {
			w.last = now
			return
		}
		if time.Now().After(deadline) {
			slices.Sort(wrong)
			w.t.Fatalf("after %s:\n%s", step, strings.Join(wrong, "\n"))
		}
		time.Sleep(20 * time.Millisecond) // polling a figure with no other signal
	}
}

// reply reads frames until the reply to ref and returns its status and
// response.
func reply(t *testing.T, c *phxclient.Client, ref string) (string, string) {
	t.Helper()
	for {
		m, err := c.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for the reply to %s: %v", ref, err)
		}
		if m.Event != "phx_reply" || m.Ref != `"`+ref+`"` {
			continue
		}
		var r struct {
			Status   string          `json:"status"`
			Response json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			t.Fatal(err)
		}
		return r.Status, string(r.Response)
	}
}

// The running sample's /metrics follows a client through a join, a
// message, a crash, a refused join, a leave and a close: each figure moves
// by what happened, and no other way.
func TestMetricsOfTheRunningSample(t *testing.T) {
	srv := startSample(t, buildSample(t), filepath.Join(t.TempDir(), "chat.db"))
	w := &metricsWatch{t: t, base: srv.url, last: scrape(t, srv.url)}
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if _, ok := w.last[name]; !ok {
			t.Errorf("no %s: the runtime's and process's collectors are missing", name)
		}
	}

	c := dialAs(t, srv, "ann")
	w.moved("a connect", map[string]float64{
		`phx_sockets{transport="websocket"}`:                                           1,
		`phx_socket_connect_duration_seconds_count{result="ok",transport="websocket"}`: 1,
	})

	_ = c.Send(`["1","1","room:lobby","phx_join",{}]`)
	if st, resp := reply(t, c, "1"); st != "ok" {
		t.Fatalf("join: %s %s", st, resp)
	}
	w.moved("a join", map[string]float64{
		`phx_channels_joined{route="room:*"}`:                                      1,
		`phx_channel_joins_total{route="room:*"}`:                                  1,
		`phx_channel_join_duration_seconds_count{result="ok",route="room:*"}`:      1,
		`phx_frames_received_total{transport="websocket"}`:                         1,
		`phx_presence_entries`:                                                     1,
		`phx_presence_keys`:                                                        1,
		`phx_presence_topics`:                                                      1,
		`phx_broadcast_deliveries_total`:                                           1, // ann's own presence_diff
		`phx_history_topics`:                                                       1, // room:lobby keeps its broadcasts
		`phx_history_broadcasts`:                                                   0, // presence diffs are not kept
		`phx_frames_sent_total{transport="websocket"}`:                             5, // reply, phx_recovery, history, presence_state, presence_diff
		`phx_channel_handle_in_duration_seconds_count{route="room:*"}`:             0,
		`phx_channel_joins_refused_total{route="room:*"}`:                          0,
		`phx_channel_join_duration_seconds_count{result="refused",route="room:*"}`: 0,
	})

	// new_msg has no reply: its broadcast reaching the sender says it
	// was handled.
	_ = c.Send(`["1","2","room:lobby","new_msg",{"body":"hello"}]`)
	for {
		m, err := c.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for the new_msg broadcast: %v", err)
		}
		if m.Event == "new_msg" {
			break
		}
	}
	w.moved("a message", map[string]float64{
		`phx_channel_handle_in_duration_seconds_count{route="room:*"}`: 1,
		`phx_broadcast_deliveries_total`:                               1,
		`phx_history_broadcasts`:                                       1,
		`phx_frames_received_total{transport="websocket"}`:             1,
		`phx_frames_sent_total{transport="websocket"}`:                 1,
	})

	_ = c.Send(`["1","3","room:lobby","boom",{}]`)
	if st, resp := reply(t, c, "3"); st != "error" || resp != `{"reason":"channel_crash"}` {
		t.Fatalf("boom: %s %s", st, resp)
	}
	w.moved("a crash", map[string]float64{
		`phx_channel_crashes_total{route="room:*"}`:                        1,
		`phx_supervision_events_total{directive="restart",kind="channel"}`: 1,
		`phx_channels_joined{route="room:*"}`:                              0, // restarted in place
		`phx_channel_joins_total{route="room:*"}`:                          0, // a restart is no join
	})

	_ = c.Send(`["4","4","room:admins","phx_join",{}]`)
	if st, resp := reply(t, c, "4"); st != "error" {
		t.Fatalf("join room:admins as ann: %s %s", st, resp)
	}
	_ = c.Send(`["5","5","nowhere","phx_join",{}]`)
	if st, resp := reply(t, c, "5"); st != "error" {
		t.Fatalf("join of an unmatched topic: %s %s", st, resp)
	}
	w.moved("two refused joins", map[string]float64{
		`phx_channel_joins_refused_total{route="room:*"}`:                          1,
		`phx_channel_join_duration_seconds_count{result="refused",route="room:*"}`: 1,
		`phx_channel_joins_unmatched_total`:                                        1,
		`phx_channels_joined{route="room:*"}`:                                      0,
	})

	_ = c.Send(`["1","6","room:lobby","phx_leave",{}]`)
	if st, resp := reply(t, c, "6"); st != "ok" {
		t.Fatalf("leave: %s %s", st, resp)
	}
	w.moved("a leave", map[string]float64{
		`phx_channels_joined{route="room:*"}`: -1,
		`phx_presence_entries`:                -1,
		`phx_presence_topics`:                 -1,
	})

	c.Close()
	<-c.Done()
	w.moved("a close", map[string]float64{
		`phx_sockets{transport="websocket"}`:      -1,
		`phx_websocket_closes_total{code="1000"}`: 1,
	})
}
