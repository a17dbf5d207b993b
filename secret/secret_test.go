package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const key = "c2VjcmV0LWtleS12YWx1ZS10aGF0LW11c3QtbmV2ZXItYmUtcHJpbnRlZA=="

// TestRedaction proves that every way Go prints a value hides the key.
func TestRedaction(t *testing.T) {
	v := New(key)
	f := Fields{"primary": v}
	d := NewData(map[string]any{"primary": key, "foreign": "x"})
	type holder struct {
		V Value
		F Fields
		D Data
	}
	h := holder{v, f, d}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10s"} {
		for _, x := range []any{v, f, d, h, &h} {
			outputs = append(outputs, fmt.Sprintf(verb, x))
		}
	}
	for _, x := range []any{v, f, d, h} {
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", x, err)
		}
		outputs = append(outputs, string(b))
	}
	var logs bytes.Buffer
	for _, l := range []*slog.Logger{slog.New(slog.NewTextHandler(&logs, nil)), slog.New(slog.NewJSONHandler(&logs, nil))} {
		l.Info("m", "v", v, "f", f, "d", d, "h", h)
	}
	outputs = append(outputs, logs.String())
	for _, out := range outputs {
		if strings.Contains(out, key[:16]) {
			t.Fatalf("output shows the key: %.80s...", strings.ReplaceAll(out, key, "<KEY>"))
		}
	}
	if !strings.Contains(fmt.Sprintf("%v", f), v.Fingerprint()) {
		t.Errorf("Fields should print fingerprints, got %v", f)
	}
}

func TestRevealAndEqual(t *testing.T) {
	v := New(key)
	if v.Reveal() != key {
		t.Fatal("Reveal lost the value")
	}
	if !v.Equal(New(key)) || v.Equal(New("other")) {
		t.Fatal("Equal is wrong")
	}
	if New("").Fingerprint() != "empty" || !New("").IsZero() {
		t.Fatal("empty value handling is wrong")
	}
	if fp := v.Fingerprint(); !strings.HasPrefix(fp, "sha256:") || len(fp) != len("sha256:")+12 {
		t.Fatalf("fingerprint %q has the wrong shape", fp)
	}
}

func TestDataWithKeepsForeignFields(t *testing.T) {
	d := NewData(map[string]any{"primary": "old", "foreign": map[string]any{"nested": true}, "n": 3})
	out := d.With(Fields{"primary": New("new"), "secondary": New("s")}).Reveal()
	if out["primary"] != "new" || out["secondary"] != "s" || out["n"] != 3 {
		t.Fatalf("With = %v", out)
	}
	if _, ok := out["foreign"].(map[string]any); !ok {
		t.Fatal("foreign nested field lost")
	}
	if p, _ := d.Field("primary"); p.Reveal() != "old" {
		t.Fatal("With modified the original")
	}
	if _, ok := d.Field("n"); ok {
		t.Fatal("a non-string field must not read as a Value")
	}
}
