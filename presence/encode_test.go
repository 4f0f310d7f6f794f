package presence_test

import (
	"encoding/json"
	"testing"

	"github.com/phxgo/phx/presence"
)

// State and Diff are written byte for byte as encoding/json writes the
// same maps: keys sorted and escaped alike.
func TestEncodingMatchesEncodingJSON(t *testing.T) {
	type plain struct {
		Metas []json.RawMessage `json:"metas"`
	}
	keys := []string{"ann", "b<o>b&", `"quoted"`, `back\slash`, "ünï", "line\u2028sep", "ctl\x01", "bad\xffutf8", "", "zed"}
	st, ref := presence.State{}, map[string]plain{}
	for i, k := range keys {
		metas := []json.RawMessage{json.RawMessage(`{"n":` + string(rune('0'+i)) + `,"phx_ref":"r"}`)}
		st[k] = presence.Presence{Metas: metas}
		ref[k] = plain{Metas: metas}
	}
	got, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(ref)
	if string(got) != string(want) {
		t.Fatalf("state\n got %s\nwant %s", got, want)
	}
	got, err = json.Marshal(presence.Diff{Joins: st, Leaves: presence.State{}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ = json.Marshal(struct {
		Joins  map[string]plain `json:"joins"`
		Leaves map[string]plain `json:"leaves"`
	}{ref, map[string]plain{}})
	if string(got) != string(want) {
		t.Fatalf("diff\n got %s\nwant %s", got, want)
	}
	if got, _ := json.Marshal(presence.State(nil)); string(got) != "null" {
		t.Fatalf("nil state: %s", got)
	}
}
