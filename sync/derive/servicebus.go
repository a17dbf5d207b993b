package derive

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keysync/keysync/sync/derive/spec"
)

// busSAS is an Event Hubs or Service Bus SAS token by the documented
// algorithm (learn.microsoft.com/rest/api/eventhub/generate-sas-token,
// learn.microsoft.com/azure/service-bus-messaging/service-bus-sas): the
// HMAC-SHA256, keyed with the rule's key as text, of the URL-encoded
// resource URI, a newline and the expiry in Unix seconds;
// "SharedAccessSignature sr=<uri>&sig=<sig>&se=<expiry>&skn=<rule>", each
// part URL-encoded. The URI is https:// and the namespace's host as the
// keys action's own connection string names it (never guessed), then the
// entity.
func busSAS(s spec.Spec, in Input, _, expiry time.Time) (string, error) {
	key, err := in.activeKey()
	if err != nil {
		return "", err
	}
	host, err := namespaceHost(in)
	if err != nil {
		return "", err
	}
	uri := "https://" + host + "/" + s.Entity
	return busToken(uri, in.Rule, key, expiry.Unix()), nil
}

// busToken signs uri for keyName with key until the Unix time se.
func busToken(uri, keyName, key string, se int64) string {
	sr := url.QueryEscape(uri)
	exp := strconv.FormatInt(se, 10)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(sr + "\n" + exp))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return "SharedAccessSignature sr=" + sr + "&sig=" + url.QueryEscape(sig) + "&se=" + exp + "&skn=" + url.QueryEscape(keyName)
}

// busSASTimes reads a held token's se; its start is not in the token.
func busSASTimes(_ spec.Spec, held string) (time.Time, time.Time, bool) {
	q, err := url.ParseQuery(strings.TrimPrefix(held, "SharedAccessSignature "))
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	se, err := strconv.ParseInt(q.Get("se"), 10, 64)
	if err != nil || se <= 0 {
		return time.Time{}, time.Time{}, false
	}
	return time.Time{}, time.Unix(se, 0).UTC(), true
}

// hostRE is a DNS name: what a namespace's endpoint may name.
var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$`)

// namespaceHost is the host of Endpoint=sb://<host>/ in the keys action's
// primary connection string.
func namespaceHost(in Input) (string, error) {
	cs, ok := in.Keys["primaryConnectionString"]
	if !ok {
		return "", errors.New("the keys hold no connection string to read the namespace's endpoint from")
	}
	for part := range strings.SplitSeq(cs.Reveal(), ";") {
		if v, ok := strings.CutPrefix(part, "Endpoint="); ok {
			u, err := url.Parse(v)
			if err == nil && hostRE.MatchString(u.Host) {
				return u.Host, nil
			}
		}
	}
	return "", errors.New("the keys action's connection string names no usable Endpoint")
}

// answeredConnectionString is the keys action's own connection string of
// the active key: primaryKey's is primaryConnectionString.
func answeredConnectionString(_ spec.Spec, in Input, _, _ time.Time) (string, error) {
	field := strings.TrimSuffix(in.Active, "Key") + "ConnectionString"
	v, ok := in.Keys[field]
	if !ok || v.IsZero() {
		return "", fmt.Errorf("the keys hold no %s", field)
	}
	return v.Reveal(), nil
}
