// Package e2e holds the end-to-end tests of the web app: the cloud (and,
// where needed, a hub with a software camera) run in process on loopback,
// and real headless Chromium drives the built app (internal/browsertest).
package e2e
