package azure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
)

// rotatable adds a resource of type typ to the emulator.
func rotatable(t *testing.T, typ string, n int) (sources.Account, armemu.Resource) {
	t.Helper()
	r := armemu.Resource{Type: typ, Subscription: sub, ResourceGroup: "rg-regen", Name: fmt.Sprintf("regen%d%s", n, typ)}
	if sources.Types[typ].Child != "" {
		r.Name, r.Rule = fmt.Sprintf("ns%04dregen", n), "RootManageSharedAccessKey"
	}
	emu.Add(r)
	return sources.Account{SubscriptionID: r.Subscription, ResourceGroup: r.ResourceGroup, Name: r.Name, Type: typ, Rule: r.Rule}, r
}

// TestRegenerateEveryType: for every type and every key its pairs name,
// Regenerate sends the type's own request (the emulator refuses a wrong
// key name, body field or path) and returns the keys after, in which
// exactly that key and the fields it renews changed; long-running ones
// are polled to their end first.
func TestRegenerateEveryType(t *testing.T) {
	emu.SetOperationReads(1, "0")
	s, err := New(emuOpts)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, typ := range sources.TypeNames() {
		for _, pair := range sources.Types[typ].Rotation.Pairs {
			for _, key := range pair.Keys {
				n++
				t.Run(typ+"/"+key, func(t *testing.T) {
					a, _ := rotatable(t, typ, n)
					before, err := s.Fetch(context.Background(), a)
					if err != nil {
						t.Fatal(err)
					}
					after, err := s.Regenerate(context.Background(), a, key)
					if err != nil {
						t.Fatal(err)
					}
					renewed := a.Spec().Renewed(key)
					for f, v := range after {
						if changed := !v.Equal(before[f]); changed != slices.Contains(renewed, f) {
							t.Errorf("%s changed %t, want %t", f, changed, !changed)
						}
					}
				})
			}
		}
	}
}

// TestRegenerateOperationFaults: a long-running regenerate that fails is a
// permanent error carrying the operation's code; one that never finishes
// is a transient error once the poll bound is reached, and changes no key.
func TestRegenerateOperationFaults(t *testing.T) {
	emu.SetOperationReads(1, "0")
	s, err := New(emuOpts)
	if err != nil {
		t.Fatal(err)
	}
	a, r := rotatable(t, "signalr", 900)
	emu.InjectFault(r, armemu.Fault{Kind: armemu.FaultOperationFailed, Code: "ServiceBusy", Message: "try later", Times: 1})
	_, err = s.Regenerate(context.Background(), a, "secondaryKey")
	var se *sources.Error
	if !errors.As(err, &se) || se.Transient || se.Code != "ServiceBusy" {
		t.Fatalf("failed operation: %v", err)
	}
	emu.InjectFault(r, armemu.Fault{Kind: armemu.FaultOperationHangs, Times: 1})
	_, err = s.Regenerate(context.Background(), a, "secondaryKey")
	if !errors.As(err, &se) || !se.Transient || se.Code != "OperationNotFinished" {
		t.Fatalf("hanging operation: %v", err)
	}
	if acct, _ := emu.Get(r); len(acct.History) != 4 {
		t.Fatalf("%d key values issued, want the 4 of creation", len(acct.History))
	}
}

// TestAcceptedRegenerateKeepsItsRecord: once ARM has accepted a
// long-running regenerate (202), a failure to follow it to its end says
// nothing of whether the key changes: it is transient, so that the runner
// keeps the rotation record (a permanent one takes it back, and a key
// that changed after would be regenerated again). Only the operation's
// own failure is permanent (TestRegenerateOperationFaults).
func TestAcceptedRegenerateKeepsItsRecord(t *testing.T) {
	emu.SetOperationReads(1, "0")
	s, err := New(emuOpts)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := rotatable(t, "cosmosdb", 901)
	for _, tt := range []struct{ name, header, url string }{
		{"polling URL away from ARM", "Azure-AsyncOperation", "https://elsewhere.example/operations/1"},
		{"status read answered 404", "Azure-AsyncOperation", emu.URL() + "/subscriptions/" + sub + "/providers/Microsoft.DocumentDB/locations/x/operationsStatus/none?api-version=2024-11-15"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set(tt.header, tt.url)
			h.Set("Retry-After", "0")
			err := s.await(context.Background(), http.StatusAccepted, h, a)
			var se *sources.Error
			if !errors.As(err, &se) || !se.Transient {
				t.Fatalf("want a transient error, got %v", err)
			}
		})
	}
}

// TestRegeneratedKeysUnreadable: a regenerate ARM answered 200 (or whose
// operation succeeded) has changed the key, even when the keys after
// cannot be read: the failure is transient, so the record stays and the
// next sync completes the rotation.
func TestRegeneratedKeysUnreadable(t *testing.T) {
	emu.SetOperationReads(1, "0")
	s, err := New(emuOpts)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct{ typ, key, action string }{
		{"storage", "key2", "regenerateKey"},
		{"cosmosdb", "secondaryMasterKey", "listKeys"},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			a, r := rotatable(t, tt.typ, 910+i)
			emu.InjectFault(r, armemu.Fault{Kind: armemu.FaultTruncated, Action: tt.action, Times: 1})
			_, err := s.Regenerate(context.Background(), a, tt.key)
			var se *sources.Error
			if !errors.As(err, &se) || !se.Transient {
				t.Fatalf("want a transient error, got %v", err)
			}
		})
	}
}

// movingPoll is a transport that answers the status reads of /moving-poll
// 202 with a Location away from ARM, as a location poller follows, and
// counts the requests that reach that other host; the rest goes to next.
type movingPoll struct {
	next   *http.Client
	strays atomic.Int32
}

func (m *movingPoll) Do(req *http.Request) (*http.Response, error) {
	switch {
	case req.URL.Host == "elsewhere.example":
		m.strays.Add(1)
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
	case strings.HasSuffix(req.URL.Path, "/moving-poll"):
		h := http.Header{}
		h.Set("Location", "https://elsewhere.example/steal")
		h.Set("Retry-After", "0")
		return &http.Response{StatusCode: http.StatusAccepted, Header: h, Body: http.NoBody, Request: req}, nil
	}
	return m.next.Do(req)
}

// TestPollingNeverLeavesARM: a status read may move a location poller's
// URL (azcore follows each answer's Location); one that points away from
// ARM is refused before the bearer token goes there, and, the regenerate
// being accepted, the failure is transient.
func TestPollingNeverLeavesARM(t *testing.T) {
	emu.SetOperationReads(1, "0")
	next, ok := emuOpts.Transport.(*http.Client)
	if !ok {
		t.Fatalf("emuOpts.Transport is %T", emuOpts.Transport)
	}
	tr := &movingPoll{next: next}
	opts := emuOpts
	opts.Transport = tr
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := rotatable(t, "cosmosdb", 920)
	h := http.Header{}
	h.Set("Location", emu.URL()+"/subscriptions/"+sub+"/moving-poll")
	h.Set("Retry-After", "0")
	err = s.await(context.Background(), http.StatusAccepted, h, a)
	var se *sources.Error
	if n := tr.strays.Load(); n != 0 || !errors.As(err, &se) || !se.Transient {
		t.Fatalf("%d requests left ARM; err %v", n, err)
	}
}
