package azure

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"

	"github.com/keysync/keysync/internal/oneline"
	"github.com/keysync/keysync/sources"
)

// Limits on what keysync takes from a response body: a keys answer is a few
// hundred bytes, a CloudError a few KiB; anything much larger is not ARM.
const (
	maxBodyBytes    = 64 << 10
	maxDetailDepth  = 8
	maxDetailsTotal = 64
)

type cloudError struct {
	Error *cloudErrorBody `json:"error"`
}

type cloudErrorBody struct {
	Code    string           `json:"code"`
	Message string           `json:"message"`
	Target  string           `json:"target"`
	Details []cloudErrorBody `json:"details"`
}

// parseCloudError fills e from an error response body. A body that is not a
// CloudError (an HTML page from a gateway, an empty body, truncated JSON)
// leaves a clear message that says what came back instead.
func parseCloudError(e *sources.Error, contentType string, body []byte) {
	var ce cloudError
	err := json.Unmarshal(body, &ce)
	if err == nil && ce.Error != nil && ce.Error.Code != "" {
		e.Code = oneline.Clean(ce.Error.Code)
		e.Message = oneline.Clean(ce.Error.Message)
		e.Target = oneline.Clean(ce.Error.Target)
		budget := maxDetailsTotal
		e.Details = details(ce.Error.Details, 1, &budget)
		return
	}
	e.Message = oneline.Clean(describeNonCloudError(contentType, body, err))
}

// details copies nested details, bounded in depth and count.
func details(in []cloudErrorBody, depth int, budget *int) []sources.Detail {
	if depth > maxDetailDepth || len(in) == 0 {
		return nil
	}
	out := make([]sources.Detail, 0, min(len(in), *budget))
	for _, d := range in {
		if *budget <= 0 {
			break
		}
		*budget--
		out = append(out, sources.Detail{
			Code:    oneline.Clean(d.Code),
			Message: oneline.Clean(d.Message),
			Target:  oneline.Clean(d.Target),
			Details: details(d.Details, depth+1, budget),
		})
	}
	return out
}

func describeNonCloudError(contentType string, body []byte, jsonErr error) string {
	media, _, _ := mime.ParseMediaType(contentType)
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return "empty response body"
	case media == "text/html" || bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")):
		return fmt.Sprintf("response is not a CloudError but %s (%d bytes), likely from a proxy or gateway", orUnknown(media), len(body))
	case jsonErr != nil:
		return fmt.Sprintf("response is not valid JSON (%s, %d bytes): %s", orUnknown(media), len(body), oneline.Clean(jsonErr.Error()))
	default:
		return fmt.Sprintf("response is JSON but not a CloudError (%d bytes)", len(body))
	}
}

// orUnknown names a media type for a message: at most 64 characters of it,
// since a gateway's header is no more trusted than its body.
func orUnknown(s string) string {
	if s == "" {
		return "no content type"
	}
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}
