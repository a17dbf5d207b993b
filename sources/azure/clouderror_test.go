package azure

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/keysync/keysync/internal/oneline"
	"github.com/keysync/keysync/sources"
)

// docSample is the sample response on Azure's "Batch Account - Get Keys"
// page, with its placeholder keys ("AAAA==", "BBBB==", not base64) made
// the shape of real ones: 64 bytes, base64.
const docSample = `{
  "accountName": "sampleacct",
  "primary": "` + keyA + `",
  "secondary": "` + keyB + `"
}`

// keyA and keyB are shaped like real keys (88 base64 characters).
const (
	keyA = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
	keyB = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=="
)

func TestParseKeysDocumentedSample(t *testing.T) {
	f, err := parseKeys([]byte(docSample), sources.Account{Name: "sampleacct"})
	if err != nil {
		t.Fatal(err)
	}
	if f["primary"].Reveal() != keyA || f["secondary"].Reveal() != keyB || len(f) != 2 {
		t.Fatalf("parsed %v", f)
	}
}

func TestParseKeysRejects(t *testing.T) {
	tests := []struct {
		name, body, account, want string
	}{
		{"other account", `{"accountName":"other","primary":"AAAA","secondary":"BBBB"}`, "sampleacct", `names accountName "other", not "sampleacct"`},
		{"empty primary", `{"accountName":"sampleacct","primary":"","secondary":"BBBB"}`, "sampleacct", "empty or missing key: primary"},
		{"missing secondary", `{"accountName":"sampleacct","primary":"AAAA"}`, "sampleacct", "empty or missing key: secondary"},
		{"truncated", `{"accountName": "sampleacct", "primary": "AAAAAAAAAAAAAAAAAAAAAAAAAAAA`, "sampleacct", "not valid JSON"},
		{"wrong shape", `{"accountName": 5}`, "sampleacct", "names accountName"},
		{"not an object", `[1, 2]`, "sampleacct", "unexpected shape"},
		{"html", `<html>oops</html>`, "sampleacct", "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseKeys([]byte(tt.body), sources.Account{Name: tt.account})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "AAAAAAAA") {
				t.Fatalf("error quotes the key: %v", err)
			}
		})
	}
}

func TestParseCloudError(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		code, message, target   string
		details                 int
	}{
		{name: "documented shape with nested details", contentType: "application/json",
			body: `{"error":{"code":"AuthorizationFailed","message":"The client 'x' does not have authorization","target":"accountName","details":[{"code":"Inner","message":"m","details":[{"code":"Deeper","message":"d"}]}]}}`,
			code: "AuthorizationFailed", message: "The client 'x' does not have authorization", target: "accountName", details: 1},
		{name: "throttled", contentType: "application/json; charset=utf-8",
			body: `{"error":{"code":"SubscriptionRequestsThrottled","message":"Number of write requests exceeded"}}`,
			code: "SubscriptionRequestsThrottled", message: "Number of write requests exceeded"},
		{name: "html gateway page", contentType: "text/html",
			body: "<html><body><h1>502 Bad Gateway</h1></body></html>", message: "response is not a CloudError but text/html"},
		{name: "truncated json", contentType: "application/json", body: `{"error":{"code":"Ba`, message: "response is not valid JSON"},
		{name: "empty body", contentType: "application/json", body: "", message: "empty response body"},
		{name: "json but not a CloudError", contentType: "application/json", body: `{"status":"bad"}`, message: "response is JSON but not a CloudError"},
		{name: "control characters and bad utf-8 are cleaned", contentType: "application/json",
			body: "{\"error\":{\"code\":\"X\",\"message\":\"line1\\nline2 \xff end\"}}", code: "X", message: "line1 line2 \uFFFD end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e sources.Error
			parseCloudError(&e, tt.contentType, []byte(tt.body))
			if e.Code != tt.code || e.Target != tt.target || !strings.HasPrefix(e.Message, tt.message) {
				t.Fatalf("got code=%q message=%q target=%q", e.Code, e.Message, e.Target)
			}
			if len(e.Details) != tt.details {
				t.Fatalf("details = %d, want %d", len(e.Details), tt.details)
			}
		})
	}
}

func TestParseCloudErrorBoundsNesting(t *testing.T) {
	body := strings.Repeat(`{"code":"D","message":"m","details":[`, 50) + strings.Repeat(`]}`, 50)
	body = `{"error":{"code":"Top","message":"t","details":[` + body + `]}}`
	var e sources.Error
	parseCloudError(&e, "application/json", []byte(body))
	depth := 0
	for d := e.Details; len(d) > 0; d = d[0].Details {
		depth++
	}
	if depth != maxDetailDepth {
		t.Fatalf("detail depth = %d, want %d", depth, maxDetailDepth)
	}
	wide := `{"error":{"code":"Top","message":"t","details":[` + strings.TrimSuffix(strings.Repeat(`{"code":"D","message":"m"},`, 500), ",") + `]}}`
	parseCloudError(&e, "application/json", []byte(wide))
	if len(e.Details) != maxDetailsTotal {
		t.Fatalf("details = %d, want %d", len(e.Details), maxDetailsTotal)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"seconds", http.Header{"Retry-After": {"17"}}, 17 * time.Second},
		{"http date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"date in the past", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{"milliseconds win", http.Header{"Retry-After": {"17"}, "Retry-After-Ms": {"250"}}, 250 * time.Millisecond},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"none", http.Header{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAfter(tt.header, now); got != tt.want {
				t.Fatalf("retryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClassification(t *testing.T) {
	for status, want := range map[int]bool{400: false, 401: false, 403: false, 404: false, 409: false, 408: true, 429: true, 500: true, 502: true, 503: true, 504: true} {
		resp := &http.Response{StatusCode: status, Header: http.Header{"X-Ms-Request-Id": {"rid"}}}
		e := responseError(resp, []byte(`{"error":{"code":"C","message":"m"}}`), nil, sources.TransientStatus(status))
		if e.Transient != want {
			t.Errorf("status %d: transient = %t, want %t", status, e.Transient, want)
		}
		if e.RequestID != "rid" || e.Fault().Code != "C" {
			t.Errorf("status %d: request id %q code %q", status, e.RequestID, e.Fault().Code)
		}
	}
}

// FuzzParseResponse feeds arbitrary bodies to both parsers: they must not
// panic, must bound what they keep, and must keep text printable.
func FuzzParseResponse(f *testing.F) {
	f.Add(docSample, "application/json")
	f.Add(`{"error":{"code":"AuthorizationFailed","message":"no","target":"t","details":[{"code":"a","message":"b","details":[]}]}}`, "application/json")
	f.Add("<html>502</html>", "text/html")
	f.Add(`{"error":{"code":"`, "application/json")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		var e sources.Error
		parseCloudError(&e, contentType, []byte(body))
		for _, s := range []string{e.Code, e.Message, e.Target} {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > oneline.MaxRunes+1 {
				t.Fatalf("unclean text %q", s)
			}
		}
		if n := countDetails(e.Details); n > maxDetailsTotal {
			t.Fatalf("%d details kept", n)
		}
		if fields, err := parseKeys([]byte(body), sources.Account{Name: "sampleacct"}); err == nil && (fields["primary"].IsZero() || fields["secondary"].IsZero()) {
			t.Fatal("accepted an empty key")
		}
	})
}

func countDetails(d []sources.Detail) int {
	n := len(d)
	for _, x := range d {
		n += countDetails(x.Details)
	}
	return n
}

// TestParseKeysEveryType decodes each type's documented answer shape.
func TestParseKeysEveryType(t *testing.T) {
	tests := []struct {
		typ, body string
		want      []string
	}{
		{"storage", `{"keys":[{"keyName":"key1","value":"` + keyA + `","permissions":"FULL"},{"keyName":"key2","value":"` + keyB + `","permissions":"FULL"}]}`, []string{"key1", "key2"}},
		{"cosmosdb", `{"primaryMasterKey":"` + keyA + `","secondaryMasterKey":"` + keyB + `","primaryReadonlyMasterKey":"` + keyA + `","secondaryReadonlyMasterKey":"` + keyB + `"}`,
			[]string{"primaryMasterKey", "primaryReadonlyMasterKey", "secondaryMasterKey", "secondaryReadonlyMasterKey"}},
		{"redis", `{"primaryKey":"a","secondaryKey":"b"}`, []string{"primaryKey", "secondaryKey"}},
		{"cognitive", `{"key1":"a","key2":"b"}`, []string{"key1", "key2"}},
		{"search", `{"primaryKey":"a","secondaryKey":"b"}`, []string{"primaryKey", "secondaryKey"}},
		{"eventhubs", `{"primaryConnectionString":"Endpoint=a","secondaryConnectionString":"Endpoint=b","primaryKey":"a","secondaryKey":"b","keyName":"rule"}`,
			[]string{"primaryConnectionString", "primaryKey", "secondaryConnectionString", "secondaryKey"}},
		{"maps", `{"primaryKey":"a","secondaryKey":"b","primaryKeyLastUpdated":"2024-01-01T00:00:00Z"}`, []string{"primaryKey", "secondaryKey"}},
		{"signalr", `{"primaryKey":"a","secondaryKey":"b","primaryConnectionString":"Endpoint=https://x.service.signalr.net;AccessKey=a;Version=1.0;","secondaryConnectionString":"Endpoint=https://x.service.signalr.net;AccessKey=b;Version=1.0;"}`,
			[]string{"primaryConnectionString", "primaryKey", "secondaryConnectionString", "secondaryKey"}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			f, err := parseKeys([]byte(tt.body), sources.Account{Name: "x", Type: tt.typ})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(f.Names(), ","); got != strings.Join(tt.want, ",") {
				t.Fatalf("fields %s, want %v", got, tt.want)
			}
		})
	}
	if _, err := parseKeys([]byte(`{"keys":[{"keyName":"../../x","value":"v"}]}`), sources.Account{Type: "storage"}); err == nil {
		t.Error("a keyName unfit for a Vault field was accepted")
	}
	if _, err := parseKeys([]byte(`{"primaryKey":"a"}`), sources.Account{Type: "redis"}); err == nil || !strings.Contains(err.Error(), "secondaryKey") {
		t.Errorf("a missing key: %v", err)
	}
}

// TestOversizedBodyIsRefused: keysync reads at most maxBodyBytes of an
// answer and says so, whatever the server sends.
func TestOversizedBodyIsRefused(t *testing.T) {
	if _, err := readBounded(strings.NewReader(strings.Repeat("x", maxBodyBytes))); err != nil {
		t.Fatalf("a body of exactly the limit: %v", err)
	}
	_, err := readBounded(strings.NewReader(strings.Repeat("x", 10*maxBodyBytes)))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("an oversized body: %v", err)
	}
}
