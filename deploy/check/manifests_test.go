package check

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPlainManifests decodes every document of deploy/kubernetes/*.yaml
// strictly and checks its pods, Services and keysync configs as the
// chart's.
func TestPlainManifests(t *testing.T) {
	files, err := filepath.Glob("../kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests found (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			objs := readManifest(t, f)
			for _, p := range podsOf(objs) {
				for _, msg := range podProblems(p) {
					t.Errorf("%s: %s", p.name, msg)
				}
			}
			for _, msg := range slices.Concat(servicePortProblems(objs), referenceProblems(objs), selectorProblems(objs)) {
				t.Error(msg)
			}
			for name, text := range keysyncConfigs(t, objs) {
				if got := listenOf(text); got != "0.0.0.0:10719" {
					t.Errorf("ConfigMap %s: listen %q, want 0.0.0.0:10719", name, got)
				}
			}
		})
	}
}

// readManifest decodes every document of a multi-document YAML file.
func readManifest(t *testing.T, path string) []object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "9464") {
		t.Error("the old port 9464 appears; keysync listens on 10719")
	}
	var objs []object
	for i, doc := range splitDocs(string(b)) {
		o, err := decodeStrict([]byte(doc))
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		t.Fatal("no documents")
	}
	return objs
}
