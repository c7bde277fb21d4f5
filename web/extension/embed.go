// Package extension holds the built Vigil code verifier, a Chromium
// extension (Manifest V3; TypeScript in this directory, built by
// 'npm run build:extension' in web/ into dist/), so that the vigil binary
// can hand out configured copies ('vigil verify extension').
//
// It owns only the embedded files; the configuration (origins, log policy,
// release keys) is written by internal/cli. It must never hold a
// configuration of its own: a copy is configured when it is written out.
package extension

import (
	"embed"
	"errors"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// ErrNotBuilt is returned by Files when the extension was not built.
var ErrNotBuilt = errors.New("the browser extension is not built (run 'make web', which runs npm run build:extension in web/)")

// Files returns the built extension: manifest.json, background.js,
// content.js and an empty rules.json.
func Files() (fs.FS, error) {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, err
	}
	if _, err := fs.Stat(sub, "manifest.json"); err != nil {
		return nil, ErrNotBuilt
	}
	return sub, nil
}
