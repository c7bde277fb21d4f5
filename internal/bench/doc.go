// Package bench holds the measurements behind 'vigil bench': the hub's
// recording (Record), the cloud's uploads (Cloud), the detection pipeline
// (Detect, Dataset), the front door's latencies (PushPhone, DoorBrowser)
// and the web app's (Web; the demo these two measure is started by the
// command). Each takes its options and returns what it
// measured; the command parses the flags and prints the figures. The
// benchmarks start real components (software cameras and 'vigil cloud' in
// child processes, a hub, the detector) on this machine.
//
// It must never be imported by anything but the command (internal/cli)
// and tests (internal/e2e reads measure.mjs's report into WebMeasurement):
// it is a measuring tool, not part of the hub or the cloud, and it makes
// throwaway keys and households that must not leak into either.
package bench

import "errors"

// ErrUsage marks options that cannot work together (the command reports
// it as a usage mistake).
var ErrUsage = errors.New("usage")
