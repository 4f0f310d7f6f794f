package protocol

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestPayloadIsObject(t *testing.T) {
	tests := []struct {
		p    Payload
		want bool
	}{
		{EmptyObject, true},
		{JSON([]byte(`{"a":1}`)), true},
		{JSON([]byte(" \t\r\n{}")), true},
		{JSON([]byte(`[]`)), false},
		{JSON([]byte(`"{"`)), false},
		{JSON([]byte(`null`)), false},
		{JSON(nil), false},
		{JSON([]byte("  ")), false},
		{JSON([]byte("\v{}")), false},
		{Bytes([]byte(`{}`)), false},
	}
	for _, tt := range tests {
		if got := tt.p.IsObject(); got != tt.want {
			t.Errorf("%+v.IsObject() = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestPayloadConstructors(t *testing.T) {
	b := []byte(`{}`)
	if p := JSON(b); p.Binary || &p.Data[0] != &b[0] {
		t.Errorf("JSON(b) = %+v, want b itself as JSON", p)
	}
	if p := Bytes(b); !p.Binary || &p.Data[0] != &b[0] {
		t.Errorf("Bytes(b) = %+v, want b itself as binary", p)
	}
}

func TestPayloadMarshalJSON(t *testing.T) {
	b, err := json.Marshal(map[string]any{"p": JSON([]byte(`{"a":[1,2]}`)), "empty": Payload{}})
	if err != nil || string(b) != `{"empty":{},"p":{"a":[1,2]}}` {
		t.Fatalf("nested payloads: %s %v", b, err)
	}
	if _, err := json.Marshal(Bytes([]byte{1})); !errors.Is(err, ErrBinaryJSON) {
		t.Fatalf("a binary payload: %v", err)
	}
}
