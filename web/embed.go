// Package web holds the Vigil web app (TypeScript, built with Vite into
// web/dist) so that `vigil cloud` serves it from the binary.
//
// The app is where household members decrypt: it owns the browser's device
// keys (non-extractable WebCrypto keys in IndexedDB), verifies the household
// chain and opens sealed objects. It must never send a private key, a file
// key or plaintext footage to the cloud, and never put untrusted text into
// the page as HTML.
package web

import (
	"embed"
	"errors"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// ErrNotBuilt is returned by App when web/dist has no built app.
var ErrNotBuilt = errors.New("web app is not built (run 'make web', which runs npm ci and npm run build in web/)")

// App returns the built app: index.html and assets/.
func App() (fs.FS, error) {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, err
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil, ErrNotBuilt
	}
	return sub, nil
}
