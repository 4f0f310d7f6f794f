package wire

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in                                  string
		joinRef, ref, topic, event, payload string
	}{
		{`["3","3","room:lobby","phx_join",{"user":"ann"}]`, `"3"`, `"3"`, `"room:lobby"`, `"phx_join"`, `{"user":"ann"}`},
		{`[null,"5","phoenix","heartbeat",{}]`, `null`, `"5"`, `"phoenix"`, `"heartbeat"`, `{}`},
		{` [ null , null , "t" , "msg" , { "a" : [1, {"b":"]"}], "c":"\"}" } ] `, `null`, `null`, `"t"`, `"msg"`, `{ "a" : [1, {"b":"]"}], "c":"\"}" }`},
		{`[1,2,"t","e",{},"extra",[3]]`, `1`, `2`, `"t"`, `"e"`, `{}`},
		{`["1","2","t","phx_reply",{"status":"ok","response":{"n":7}}]`, `"1"`, `"2"`, `"t"`, `"phx_reply"`, `{"status":"ok","response":{"n":7}}`},
		{`[null,null,"t","e","a string payload"]`, `null`, `null`, `"t"`, `"e"`, `"a string payload"`},
	}
	for _, tt := range tests {
		f, err := Split([]byte(tt.in))
		if err != nil {
			t.Errorf("Split(%s): %v", tt.in, err)
			continue
		}
		got := [5]string{string(f.JoinRef), string(f.Ref), string(f.Topic), string(f.Event), string(f.Payload)}
		want := [5]string{tt.joinRef, tt.ref, tt.topic, tt.event, tt.payload}
		if got != want {
			t.Errorf("Split(%s) = %q, want %q", tt.in, got, want)
		}
	}
}

func TestSplitMalformed(t *testing.T) {
	for _, in := range []string{
		``,
		`{}`,
		`[]`,
		`["1","2","t","e"]`,
		`["1","2","t","e",{}`,
		`["1","2","t","e",{}]x`,
		`["1","2","t","e",{"a":}]`,
		`["1","2","t","e",{"a" 1}]`,
		`["1","2","t","e",{a:1}]`,
		`["1","2","t","e",{"a":1,}]`,
		`["1","2","t","e",["unterminated]]`,
		`["1","2","t","e",,{}]`,
		`["1" "2","t","e",{}]`,
		`["1","2","t","e",` + deep(maxDepth+1) + `]`,
	} {
		if _, err := Split([]byte(in)); err != ErrMalformed {
			t.Errorf("Split(%s): err = %v, want ErrMalformed", in, err)
		}
	}
}

func deep(n int) string {
	s := ""
	for range n {
		s += "["
	}
	for range n {
		s += "]"
	}
	return s
}

// TestSplitAgreesWithJSON checks Split against encoding/json on frames
// the tools meet: every valid frame splits into the same elements.
func TestSplitAgreesWithJSON(t *testing.T) {
	for _, in := range []string{
		`[null,null,"bench:fan","msg",{"t":1712345678901234567,"seq":42}]`,
		`["7","9","bench:echo-3","phx_reply",{"status":"ok","response":{"n":12}}]`,
		`["7","7","bench:churn-1","phx_close",{}]`,
		`[null,"12","phoenix","phx_reply",{"status":"ok","response":{}}]`,
		`["1","1","room:a","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`,
		// Quotes after an even and an odd number of backslashes.
		`[null,null,"t\\","e\\\"]",{"a\\\\":"\\\"x\\\\","":"\""}]`,
	} {
		var parts []json.RawMessage
		if err := json.Unmarshal([]byte(in), &parts); err != nil {
			t.Fatal(err)
		}
		f, err := Split([]byte(in))
		if err != nil {
			t.Fatalf("Split(%s): %v", in, err)
		}
		got := [][]byte{f.JoinRef, f.Ref, f.Topic, f.Event, f.Payload}
		for i := range got {
			if string(got[i]) != string(parts[i]) {
				t.Errorf("Split(%s)[%d] = %s, want %s", in, i, got[i], parts[i])
			}
		}
	}
}

func TestFields(t *testing.T) {
	p := []byte(`{"t":1712345678901234567,"seq":42,"neg":-3,"s":"x"}`)
	if v, ok := Int(p, "t"); !ok || v != 1712345678901234567 {
		t.Errorf("Int(t) = %d, %v", v, ok)
	}
	if v, ok := Int(p, "seq"); !ok || v != 42 {
		t.Errorf("Int(seq) = %d, %v", v, ok)
	}
	if v, ok := Int(p, "neg"); !ok || v != -3 {
		t.Errorf("Int(neg) = %d, %v", v, ok)
	}
	for _, key := range []string{"s", "missing", "e"} {
		if v, ok := Int(p, key); ok {
			t.Errorf("Int(%s) = %d, want none", key, v)
		}
	}

	r := []byte(`{"status":"ok","response":{"n":12}}`)
	if s, ok := Status(r); !ok || string(s) != "ok" {
		t.Errorf("Status = %q, %v", s, ok)
	}
	if s, ok := Response(r); !ok || string(s) != `{"n":12}` {
		t.Errorf("Response = %q, %v", s, ok)
	}
	if s, ok := Status([]byte(`{"response":{}}`)); ok {
		t.Errorf("Status of a payload without one = %q", s)
	}
}

func TestTokens(t *testing.T) {
	if n, ok := RefNumber([]byte(`"123"`)); !ok || n != 123 {
		t.Errorf("RefNumber = %d, %v", n, ok)
	}
	for _, tok := range []string{`null`, `123`, `"12a"`, `""`, `"99999999999999999999999"`} {
		if n, ok := RefNumber([]byte(tok)); ok {
			t.Errorf("RefNumber(%s) = %d, want none", tok, n)
		}
	}
	if !Is([]byte(`"phx_reply"`), "phx_reply") || Is([]byte(`"phx_reply`), "phx_reply") || Is([]byte(`null`), "null") {
		t.Error("Is")
	}
	if s, ok := Unquote([]byte(`"a\"b"`)); ok {
		t.Errorf("Unquote of an escaped string = %q", s)
	}
	if !IsNull([]byte("null")) || IsNull([]byte(`"null"`)) {
		t.Error("IsNull")
	}
}

func TestAppend(t *testing.T) {
	got := string(AppendPush(nil, 3, 4, "bench:echo-1", "echo", []byte(`{"n":1}`)))
	if want := `["3","4","bench:echo-1","echo",{"n":1}]`; got != want {
		t.Errorf("AppendPush = %s, want %s", got, want)
	}
	got = string(AppendHeartbeat(nil, 9))
	if want := `[null,"9","phoenix","heartbeat",{}]`; got != want {
		t.Errorf("AppendHeartbeat = %s, want %s", got, want)
	}
}

// The receive path of a load tool runs once per delivered message: it
// must not allocate.
func TestHotPathAllocs(t *testing.T) {
	frame := []byte(`[null,null,"bench:fan","msg",{"t":1712345678901234567,"seq":42}]`)
	allocs := testing.AllocsPerRun(100, func() {
		f, err := Split(frame)
		if err != nil || !Is(f.Event, "msg") {
			t.Fatal("bad split")
		}
		if _, ok := Int(f.Payload, "t"); !ok {
			t.Fatal("no t")
		}
		if _, ok := Int(f.Payload, "seq"); !ok {
			t.Fatal("no seq")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message, want 0", allocs)
	}
}

func BenchmarkSplit(b *testing.B) {
	frame := []byte(`[null,null,"bench:fan","msg",{"t":1712345678901234567,"seq":42}]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		f, _ := Split(frame)
		_, _ = Int(f.Payload, "seq")
	}
}

func TestScanner(t *testing.T) {
	// An object whose members are read in three ways, one of them an
	// array read element by element.
	var got []string
	s := NewScanner([]byte(` {"a": 1, "b":{"c":[1,2]} ,"d\"":"x", "e": [ {"f":"g"}, "h" ] } `))
	ok := s.Object(func(k []byte) bool {
		switch string(k) {
		case `"d\""`:
			v, ok := s.String()
			got = append(got, string(k)+"="+string(v))
			return ok
		case `"e"`:
			return s.Array(func() bool {
				if v, ok := s.String(); ok {
					got = append(got, "e[]="+string(v))
					return true
				}
				return s.Object(func(k []byte) bool {
					v, ok := s.String()
					got = append(got, "e[]."+string(k)+"="+string(v))
					return ok
				})
			})
		}
		got = append(got, string(k))
		return s.Skip()
	})
	if !ok || !s.Done() || strings.Join(got, " ") != `"a" "b" "d\""="x" e[]."f"="g" e[]="h"` {
		t.Errorf("Scanner: %v, %q", ok, got)
	}
	for _, empty := range []string{`{}`, ` { } `} {
		s := NewScanner([]byte(empty))
		if !s.Object(func([]byte) bool { t.Error("member of an empty object"); return true }) || !s.Done() {
			t.Errorf("Object(%q) failed", empty)
		}
	}
	for _, bad := range []string{``, `[]`, `{"a"}`, `{"a":1,}`, `{"a":1`, `{1:2}`, `{"a":}`, `{"a":1 "b":2}`} {
		s := NewScanner([]byte(bad))
		if s.Object(func([]byte) bool { return s.Skip() }) {
			t.Errorf("Object(%q) succeeded", bad)
		}
	}
	if s := NewScanner([]byte(`{"a":1} x`)); !s.Object(func([]byte) bool { return s.Skip() }) || s.Done() {
		t.Error("Done after an object followed by more text")
	}
	for _, bad := range []string{`{}`, `[1 2]`, `[1,]`, `[`} {
		s := NewScanner([]byte(bad))
		if s.Array(func() bool { return s.Skip() }) {
			t.Errorf("Array(%q) succeeded", bad)
		}
	}
	if _, ok := NewScanner([]byte(` 1`)).String(); ok {
		t.Error("String of a number succeeded")
	}
	if _, ok := NewScanner([]byte(`"open`)).String(); ok {
		t.Error("String of an unterminated string succeeded")
	}
}
