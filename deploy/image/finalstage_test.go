package image

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestFinalStage(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		want       string // Containerfile, or the error's text
		copies     []Copy
	}{
		{
			name: "last scratch stage, copies rewritten",
			dockerfile: "FROM golang AS build\nRUN x\nFROM scratch AS a\nRUN y\nFROM scratch\n" +
				"COPY --from=build /out/keysync /usr/local/bin/keysync\nLABEL a=b \\\n  c=d\nUSER 1:1\n",
			want:   "FROM scratch\nCOPY build_out_keysync /usr/local/bin/keysync\nLABEL a=b \\\n  c=d\nUSER 1:1\n",
			copies: []Copy{{Src: "/out/keysync", Context: "build_out_keysync"}},
		},
		{name: "no scratch", dockerfile: "FROM alpine\nUSER 1\n", want: "no FROM scratch stage"},
		{name: "another stage", dockerfile: "FROM scratch\nCOPY --from=tools /x /x\n", want: "only the build stage"},
		{name: "relative source", dockerfile: "FROM scratch\nCOPY --from=build out/x /x\n", want: "absolute, clean path"},
		{name: "unclean source", dockerfile: "FROM scratch\nCOPY --from=build /out/../etc/x /x\n", want: "absolute, clean path"},
		{name: "two sources", dockerfile: "FROM scratch\nCOPY --from=build /a /b /dst/\n", want: "exactly one source"},
		{name: "continued", dockerfile: "FROM scratch\nCOPY --from=build /a \\\n /dst\n", want: "one line"},
		{name: "json form", dockerfile: "FROM scratch\nCOPY --from=build [\"/a\", \"/b\"]\n", want: "exactly one source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := FinalStage(tt.dockerfile)
			if tt.copies == nil {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want one containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Containerfile != tt.want {
				t.Errorf("Containerfile:\n%s\nwant:\n%s", st.Containerfile, tt.want)
			}
			if len(st.Copies) != len(tt.copies) || st.Copies[0] != tt.copies[0] {
				t.Errorf("copies %+v, want %+v", st.Copies, tt.copies)
			}
		})
	}
}

func TestBuildCommand(t *testing.T) {
	tests := []struct {
		name, dockerfile, want string
		ok                     bool
	}{
		{
			name:       "continued line joined, output redirected",
			dockerfile: "FROM golang AS build\nRUN CGO_ENABLED=0 go build -trimpath \\\n      -o /out/keysync ./cmd/keysync\nFROM scratch\n",
			want:       "CGO_ENABLED=0 go build -trimpath -o /tmp/ctx/keysync ./cmd/keysync", ok: true,
		},
		{name: "none", dockerfile: "FROM scratch\n", want: "found 0"},
		{name: "two", dockerfile: "RUN go build -o /out/a .\nRUN go build -o /out/b .\n", want: "found 2"},
		{name: "elsewhere", dockerfile: "RUN go build -o /bin/a .\n", want: "does not write to /out/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BuildCommand(tt.dockerfile, "/out/", "/tmp/ctx")
			if !tt.ok {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want one containing %q", err, tt.want)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// pinnedBuild is the build stage's FROM: the golang image, by tag and
// digest, with no registry host.
var pinnedBuild = regexp.MustCompile(`(?m)^FROM golang:[0-9][0-9a-z.-]*@sha256:[0-9a-f]{64} AS build$`)

// TestRepositoryDockerfile checks that the Dockerfile users build still
// derives: one go build, and every COPY --from=build one CI can provide;
// and that its build image stays pinned by digest.
func TestRepositoryDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !pinnedBuild.Match(b) {
		t.Errorf("the build stage is not FROM golang:<tag>@sha256:<digest> AS build")
	}
	if _, err := BuildCommand(string(b), "/out/", t.TempDir()); err != nil {
		t.Fatal(err)
	}
	st, err := FinalStage(string(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Copies {
		if _, ok := buildOutputs[c.Src]; !ok {
			t.Errorf("the final stage copies %s from the build stage, and CI does not know how to provide it", c.Src)
		}
	}
}
