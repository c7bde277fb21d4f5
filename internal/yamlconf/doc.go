// Package yamlconf is the one strict YAML decoder of Vigil's configuration
// files, the hub's (internal/config) and the cloud's (internal/cloud), and
// the tables of defaults they apply.
//
// Decode walks the YAML node tree against the destination's type before
// decoding anything, so that every unknown key, duplicate key and value of
// the wrong type is reported at once, each as an *Error naming the file,
// the line, the key path (cameras[1].url, store.dsn) and what to write
// instead: the closest known key, the keys known at that level, or a
// caller's hint for a key that must never appear (a secret that belongs in
// a file of its own). Only when the walk finds nothing does it decode, with
// yaml.v3 in strict mode.
//
// It owns the decoding and the position of each key, never the meaning of
// a value: validation stays with each configuration. It never reads files,
// and never quotes a value that looks like a secret key or a URL's
// password in an error (Quote).
package yamlconf
