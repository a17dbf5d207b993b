// Package image turns the repository's Dockerfile into what CI builds with
// a real OCI builder, mechanically, so the image CI tests cannot drift from
// the one users build. Base images cannot be pulled in CI, so the build
// stage's `go build` runs on the host and the final stage (everything after
// the last FROM scratch) is built from a context holding its outputs.
package image

import (
	"bufio"
	"fmt"
	"path"
	"strings"
)

// Copy is one `COPY --from=build <Src> <dst>` of the final stage: Src is
// the path in the build stage, Context the file name it gets in CI's build
// context.
type Copy struct {
	Src, Context string
}

// Stage is the Dockerfile's final stage rewritten for a local context.
type Stage struct {
	Containerfile string
	Copies        []Copy
}

// FinalStage takes the lines after the Dockerfile's last `FROM scratch` and
// rewrites each `COPY --from=build <src> <dst>` to `COPY <context> <dst>`.
// It refuses what it cannot rewrite faithfully: no scratch stage, a COPY
// from another stage, a relative or multi-source COPY --from.
func FinalStage(dockerfile string) (Stage, error) {
	lines := strings.Split(dockerfile, "\n")
	last := -1
	for i, l := range lines {
		if f := strings.Fields(l); len(f) >= 2 && strings.EqualFold(f[0], "FROM") && f[1] == "scratch" {
			last = i
		}
	}
	if last < 0 {
		return Stage{}, fmt.Errorf("no FROM scratch stage in the Dockerfile")
	}
	var out strings.Builder
	var st Stage
	fmt.Fprintln(&out, lines[last])
	for n, l := range lines[last+1:] {
		rewritten, cp, err := rewriteCopy(l)
		if err != nil {
			return Stage{}, fmt.Errorf("line %d of the Dockerfile: %w", last+n+2, err)
		}
		if cp != nil {
			st.Copies = append(st.Copies, *cp)
		}
		fmt.Fprintln(&out, rewritten)
	}
	st.Containerfile = strings.TrimRight(out.String(), "\n") + "\n"
	return st, nil
}

// rewriteCopy rewrites one line if it is a COPY --from; other lines pass.
func rewriteCopy(line string) (string, *Copy, error) {
	f := strings.Fields(line)
	if len(f) == 0 || !strings.EqualFold(f[0], "COPY") {
		return line, nil, nil
	}
	var from string
	var rest []string
	for _, w := range f[1:] {
		if v, ok := strings.CutPrefix(w, "--from="); ok {
			from = v
			continue
		}
		rest = append(rest, w)
	}
	if from == "" {
		return line, nil, nil
	}
	switch {
	case from != "build":
		return "", nil, fmt.Errorf("COPY --from=%s: only the build stage can be rebuilt here", from)
	case strings.HasSuffix(line, "\\"):
		return "", nil, fmt.Errorf("COPY --from=build must fit on one line")
	case len(rest) != 2 || strings.HasPrefix(rest[0], "--") || strings.HasPrefix(rest[0], "["):
		return "", nil, fmt.Errorf("COPY --from=build must have exactly one source and one destination, got %q", line)
	case !path.IsAbs(rest[0]) || path.Clean(rest[0]) != rest[0]:
		return "", nil, fmt.Errorf("COPY --from=build source %q must be an absolute, clean path", rest[0])
	}
	cp := &Copy{Src: rest[0], Context: "build" + strings.ReplaceAll(rest[0], "/", "_")}
	return fmt.Sprintf("COPY %s %s", cp.Context, rest[1]), cp, nil
}

// BuildCommand returns the build stage's `RUN ... go build ...` shell
// command, continuation lines joined, with its output directory outDir
// (such as /out/) replaced by dir, so that CI builds the binary with
// exactly the Dockerfile's flags.
func BuildCommand(dockerfile, outDir, dir string) (string, error) {
	var cmds []string
	sc := bufio.NewScanner(strings.NewReader(dockerfile))
	var cur strings.Builder
	for sc.Scan() {
		l := sc.Text()
		if cont, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(l)
		if f := strings.Fields(cur.String()); len(f) > 1 && strings.EqualFold(f[0], "RUN") && strings.Contains(cur.String(), "go build") {
			cmds = append(cmds, strings.Join(f[1:], " "))
		}
		cur.Reset()
	}
	if len(cmds) != 1 {
		return "", fmt.Errorf("want exactly one RUN with go build in the Dockerfile, found %d", len(cmds))
	}
	if !strings.Contains(cmds[0], outDir) {
		return "", fmt.Errorf("the go build command does not write to %s: %q", outDir, cmds[0])
	}
	return strings.ReplaceAll(cmds[0], outDir, strings.TrimSuffix(dir, "/")+"/"), nil
}
