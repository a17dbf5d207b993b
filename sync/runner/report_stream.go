package runner

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/keysync/keysync/sync/account"
)

// Report prints a run's results as they finish: a title, a header, one
// line per result, and the summary. It keeps the counts and nothing of
// a result once its line is written, so a run of a hundred thousand
// accounts holds no result it has reported. Its columns are aligned
// from the jobs, known before the run: names, actions, field names and
// fingerprints, never a key (the types it prints redact them).
type Report struct {
	w                    io.Writer
	nameWidth, pathWidth int
	sum                  Summary
	err                  error
}

// columnGap is the space between two columns.
const columnGap = 2

// actionWidth fits the longest outcome, "repair-metadata".
var actionWidth = func() int {
	n := len("ACTION")
	for _, o := range Outcomes {
		n = max(n, len(o))
	}
	return n + columnGap
}()

// NewReport writes the title and the header for jobs, and returns the
// Report their results are added to.
func NewReport(w io.Writer, jobs []account.Job, dryRun bool) *Report {
	p := &Report{w: w, nameWidth: len("ACCOUNT"), pathWidth: len("PATH")}
	for _, j := range jobs {
		p.nameWidth = max(p.nameWidth, utf8.RuneCountInString(j.Account.Name))
		p.pathWidth = max(p.pathWidth, utf8.RuneCountInString(j.Path))
	}
	p.nameWidth += columnGap
	p.pathWidth += columnGap
	title := "keysync run"
	if dryRun {
		title = "keysync plan (dry run: nothing written)"
	}
	p.printf("%s: %s\n", title, plural(len(jobs), "account"))
	p.line("ACTION", "ACCOUNT", "PATH", "DETAIL")
	return p
}

// Add writes r's line and counts it. Callers add one result at a time
// (Runner.RunEach hands them over so).
func (p *Report) Add(r Result) {
	p.sum.Add(r)
	p.line(Outcome(r), r.Job.Account.Name, r.Job.Path, detail(r))
}

// Close writes the summary and returns it, with the first error any
// write met.
func (p *Report) Close() (Summary, error) {
	p.printf("summary: %s\n", p.sum)
	return p.sum, p.err
}

func (p *Report) line(action, name, path, detail string) {
	p.printf("%s%s%s%s\n", pad(action, actionWidth), pad(name, p.nameWidth), pad(path, p.pathWidth), detail)
}

// printf writes unless a write has failed: the rest of a report that
// cannot be written is not tried line by line.
func (p *Report) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func pad(s string, width int) string {
	return s + strings.Repeat(" ", max(width-utf8.RuneCountInString(s), 1))
}
