package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// clusterInfo is a node's GET /api/cluster: its view of the cluster and
// its relay's counters. The counters are kept by name, as the node sends
// them, so that a renamed or missing one reads as zero and fails the
// counts rather than the decoding.
type clusterInfo struct {
	Node        string        `json:"node"`
	Addr        string        `json:"addr"`
	Incarnation string        `json:"incarnation"`
	Peers       []clusterPeer `json:"peers"`
	Stats       relayCounters `json:"stats"`
}

type clusterPeer struct {
	Node        string `json:"node"`
	Addr        string `json:"addr"`
	Incarnation string `json:"incarnation"`
	Up          bool   `json:"up"`
}

// clusterAPI returns the /api/cluster URL of the server whose WebSocket
// endpoint is ws: the same host, over HTTP.
func clusterAPI(ws string) (string, error) {
	u, err := url.Parse(ws)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("%s: not a ws:// or wss:// URL", ws)
	}
	u.Path, u.RawQuery, u.Fragment = "/api/cluster", "", ""
	return u.String(), nil
}

var apiClient = &http.Client{Timeout: 5 * time.Second}

// fetchCluster reads one node's /api/cluster.
func fetchCluster(ctx context.Context, ws string) (clusterInfo, error) {
	var info clusterInfo
	api, err := clusterAPI(ws)
	if err != nil {
		return info, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api, nil)
	if err != nil {
		return info, err
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("GET %s: %s", api, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return info, fmt.Errorf("GET %s: %w", api, err)
	}
	return info, nil
}

// readCluster reads every node's /api/cluster, in the order of cfg.urls,
// or returns nil, with the error counted, if one did not answer.
func (r *runner) readCluster() []clusterInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	infos := make([]clusterInfo, len(r.cfg.urls))
	for i, u := range r.cfg.urls {
		info, err := fetchCluster(ctx, u)
		if err != nil {
			r.errs.add("cluster api", err)
			return nil
		}
		infos[i] = info
	}
	return infos
}

// notUp lists, for each node, the other nodes it does not see up (by name
// and incarnation): empty when the cluster is whole.
func notUp(infos []clusterInfo) []string {
	var missing []string
	for i, a := range infos {
		for j, b := range infos {
			if i == j {
				continue
			}
			seen := false
			for _, p := range a.Peers {
				if p.Node == b.Node && p.Incarnation == b.Incarnation && p.Up {
					seen = true
				}
			}
			if !seen {
				missing = append(missing, a.Node+" does not see "+b.Node+" up")
			}
		}
	}
	return missing
}

// awaitCluster waits until every node sees every other up, for
// cfg.clusterWait at most.
func (r *runner) awaitCluster(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.clusterWait)
	defer cancel()
	var last error
	for {
		infos := make([]clusterInfo, len(r.cfg.urls))
		var err error
		for i, u := range r.cfg.urls {
			if infos[i], err = fetchCluster(ctx, u); err != nil {
				break
			}
		}
		if err == nil {
			names := map[string]bool{}
			for _, in := range infos {
				names[in.Node] = true
			}
			switch m := notUp(infos); {
			case len(names) != len(infos):
				err = errors.New("two -url entries are the same node")
			case len(m) == 0:
				return nil
			default:
				err = errors.New(strings.Join(m, "; "))
			}
		}
		last = err
		if !sleep(ctx, 100*time.Millisecond) {
			return fmt.Errorf("not every node up after %v: %w", r.cfg.clusterWait, last)
		}
	}
}

// relayCounters are a node's relay counters by name: the numbers of its
// stats, whatever else the stats hold (counts by reason, as objects).
type relayCounters map[string]uint64

func (rc *relayCounters) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	*rc = make(relayCounters, len(fields))
	for k, v := range fields {
		var n uint64
		if json.Unmarshal(v, &n) == nil {
			(*rc)[k] = n
		}
	}
	return nil
}

// growth returns after − before for every counter of after.
func growth(before, after map[string]uint64) map[string]uint64 {
	g := make(map[string]uint64, len(after))
	for k, v := range after {
		g[k] = v - before[k]
	}
	return g
}
