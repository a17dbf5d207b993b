package derive

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keysync/keysync/sync/derive/spec"
)

// fromTemplate renders a template kind over the account's fields and
// properties (spec.TemplateData), its output bounded. Its errors name
// no value: the template's own errors can quote data, so only the kind of
// failure is said.
func fromTemplate(s spec.Spec, in Input, _, _ time.Time) (string, error) {
	t, err := spec.ParseTemplate(s.Template)
	if err != nil {
		return "", fmt.Errorf("template %w", err)
	}
	key, err := in.activeKey()
	if err != nil {
		return "", err
	}
	keys := make(map[string]string, len(in.Keys))
	for k, v := range in.Keys {
		keys[k] = v.Reveal()
	}
	data := spec.TemplateData{Name: in.Name, ResourceGroup: in.ResourceGroup, Subscription: in.Subscription, Type: in.Type,
		Rule: in.Rule, Active: in.Active, Key: key, Keys: keys, Props: in.Props}
	var b boundedBuilder
	if err := t.Execute(&b, data); err != nil {
		if errors.Is(err, errTooLong) {
			return "", err
		}
		return "", errors.New("the template failed on this account's data (a missing key or property?)")
	}
	return b.String(), nil
}

var errTooLong = fmt.Errorf("the template's value is longer than %d bytes", spec.MaxTemplateOutput)

// boundedBuilder is a strings.Builder that refuses to grow past
// spec.MaxTemplateOutput.
type boundedBuilder struct{ strings.Builder }

func (b *boundedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > spec.MaxTemplateOutput {
		return 0, errTooLong
	}
	return b.Builder.Write(p)
}
