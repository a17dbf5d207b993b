package derive

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/keysync/keysync/sync/derive/spec"
)

// StorageSuffix is each cloud's Storage endpoint suffix, by the name
// [azure] cloud takes: "Create a connection string with an endpoint
// suffix" in learn.microsoft.com/azure/storage/common/storage-configure-connection-string
// (core.chinacloudapi.cn for Azure operated by 21Vianet), and
// learn.microsoft.com/azure/azure-government/compare-azure-government-global-azure
// (core.usgovcloudapi.net).
var StorageSuffix = map[string]string{
	"AzurePublic":       "core.windows.net",
	"AzureUSGovernment": "core.usgovcloudapi.net",
	"AzureChina":        "core.chinacloudapi.cn",
}

// storageServices are the endpoints a connection string names, by
// properties.primaryEndpoints' field, in the connection string's order.
var storageServices = [...][2]string{{"blob", "BlobEndpoint"}, {"queue", "QueueEndpoint"}, {"table", "TableEndpoint"}, {"file", "FileEndpoint"}}

// storageConnectionString is the account's connection string with its
// active key. Where the account's blob endpoint is the cloud's default
// (https://<name>.blob.<suffix>/) it names the suffix
// (DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;EndpointSuffix=…),
// else every endpoint the account's properties give, as "Create a
// connection string for an explicit storage endpoint" in the page above
// writes it: an endpoint is never guessed.
func storageConnectionString(_ spec.Spec, in Input, _, _ time.Time) (string, error) {
	key, err := in.activeKey()
	if err != nil {
		return "", err
	}
	blob := in.Props["blob"]
	u, err := url.Parse(blob)
	if blob == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", errors.New("the account's properties give no usable blob endpoint (properties.primaryEndpoints.blob)")
	}
	head := "DefaultEndpointsProtocol=" + u.Scheme + ";AccountName=" + in.Name + ";AccountKey=" + key
	if in.Suffix != "" && strings.EqualFold(blob, "https://"+in.Name+".blob."+in.Suffix+"/") {
		return head + ";EndpointSuffix=" + in.Suffix, nil
	}
	var b strings.Builder
	b.WriteString(head)
	for _, svc := range storageServices {
		if ep := in.Props[svc[0]]; ep != "" {
			b.WriteString(";" + svc[1] + "=" + ep)
		}
	}
	return b.String(), nil
}

// storageAccountSAS is an account SAS for the Blob service, signed by the
// Azure SDK's own sas package with the active key.
func storageAccountSAS(s spec.Spec, in Input, start, expiry time.Time) (string, error) {
	cred, err := sharedKey(in)
	if err != nil {
		return "", err
	}
	qp, err := sas.AccountSignatureValues{Protocol: protocol(s), StartTime: start, ExpiryTime: expiry,
		Permissions: s.Permissions, ResourceTypes: s.ResourceTypes, IPRange: ipRange(s)}.SignWithSharedKey(cred)
	if err != nil {
		return "", fmt.Errorf("signing the account SAS: %w", err)
	}
	return qp.Encode(), nil
}

// storageServiceSAS is a Blob service SAS for a container or one blob,
// signed by the Azure SDK's own sas package with the active key.
func storageServiceSAS(s spec.Spec, in Input, start, expiry time.Time) (string, error) {
	cred, err := sharedKey(in)
	if err != nil {
		return "", err
	}
	qp, err := sas.BlobSignatureValues{Protocol: protocol(s), StartTime: start, ExpiryTime: expiry,
		Permissions: s.Permissions, ContainerName: s.Container, BlobName: s.Blob, IPRange: ipRange(s)}.SignWithSharedKey(cred)
	if err != nil {
		return "", fmt.Errorf("signing the service SAS: %w", err)
	}
	return qp.Encode(), nil
}

// sharedKey is the account's name and active key as the sas package
// signs with them.
func sharedKey(in Input) (*sas.SharedKeyCredential, error) {
	key, err := in.activeKey()
	if err != nil {
		return nil, err
	}
	cred, err := service.NewSharedKeyCredential(in.Name, key)
	if err != nil {
		// Its error would quote the key: say only what is wrong.
		return nil, fmt.Errorf("the %s key is not base64", in.Active)
	}
	return cred, nil
}

// protocol is the SAS's spr.
func protocol(s spec.Spec) sas.Protocol {
	if s.HTTP {
		return sas.ProtocolHTTPSandHTTP
	}
	return sas.ProtocolHTTPS
}

// storageSASTimes reads a held Storage SAS's st and se.
func storageSASTimes(_ spec.Spec, held string) (time.Time, time.Time, bool) {
	q, err := url.ParseQuery(held)
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	st, err1 := time.Parse(time.RFC3339, q.Get("st"))
	se, err2 := time.Parse(time.RFC3339, q.Get("se"))
	return st, se, err1 == nil && err2 == nil
}

// ipRange is the spec's ip_range as the sas package takes it; Check
// has refused one that does not parse.
func ipRange(s spec.Spec) sas.IPRange {
	start, end, _ := spec.ParseIPRange(s.IPRange)
	return sas.IPRange{Start: start, End: end}
}
