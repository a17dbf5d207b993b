package memsink_test

import (
	"testing"

	"github.com/keysync/keysync/sinks/memsink"
	"github.com/keysync/keysync/sinks/sinktest"
)

func TestContract(t *testing.T) {
	s := memsink.New()
	sinktest.Run(t, sinktest.Harness{Sink: s, Prefix: "mem",
		Put: func(_ *testing.T, path string, data map[string]any) { s.Put(path, data, nil) }})
}
