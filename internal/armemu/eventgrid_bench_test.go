package armemu

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkEventGridDelivery measures what the publisher sustains to a
// local webhook, one event per request as Event Grid's default: the
// issue's benchmark sends 10,000 events a minute. It reports the cost of
// PublishEvent alone (what an ARM handler pays) and the delivery rate.
func BenchmarkEventGridDelivery(b *testing.B) {
	e := New()
	if err := e.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	rc := newReceiver(b)
	if err := e.Subscribe(b.Context(), EventSubscription{Name: "bench", Endpoint: rc.url()}); err != nil {
		b.Fatal(err)
	}
	began := time.Now()
	var publishing time.Duration
	for i := range b.N {
		p := time.Now()
		e.PublishEvent(ResourceEvent{ID: strconv.Itoa(i), ResourceURI: "/subscriptions/s/x", OperationName: "a/b/action"})
		publishing += time.Since(p)
	}
	deadline := time.Now().Add(time.Minute)
	for len(rc.notifications())+len(e.Dropped("bench")) < b.N {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d events delivered in a minute", len(rc.notifications()), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(publishing.Nanoseconds())/float64(b.N), "ns/publish")
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "events/s")
	b.ReportMetric(float64(len(e.Dropped("bench"))), "dropped")
}
