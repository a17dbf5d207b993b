package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with the file, named by its key.
type Problem struct {
	Key string
	Msg string
}

// Problems is every problem found in a file; it is the error Load returns.
type Problems []Problem

func (p *Problems) add(key, format string, args ...any) {
	*p = append(*p, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Error implements error: one problem a line.
func (p Problems) Error() string {
	lines := make([]string, len(p))
	for i, pr := range p {
		lines[i] = pr.Key + ": " + pr.Msg
	}
	return strings.Join(lines, "\n")
}
