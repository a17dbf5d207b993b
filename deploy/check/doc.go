// Package check proves the deployment files are what the cluster will
// accept: the Helm chart lints and renders with every documented values
// file, each rendered and each plain manifest decodes strictly into the
// typed Kubernetes API objects (an unknown or misspelt field fails), and the
// properties that matter hold (shards from the ordinal and the replica
// count, hardened containers, port 10719, alerts and dashboard queries that
// name only metrics keysync exports, configs keysync's own parser accepts).
//
// It is a module of its own so the main module never depends on Helm or
// the Kubernetes API.
package check
