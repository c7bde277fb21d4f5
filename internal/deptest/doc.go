// Package deptest holds only a test: a table of forbidden imports, each
// with its reason (deps_test.go). It keeps the direction cmd -> cli -> hubd
// -> domain, the cloud server and device code apart (neither links the
// other; they meet at the HTTP API, internal/cloudapi), pure packages off
// the network stack and test helpers out of the binary. A violation names
// the import, a path of imports that makes it and the rule's reason.
// Beside it, readme_test.go keeps README.md's Layout section, the map of
// the packages, complete: every package has its line and every line a
// package. It has no code of its own.
package deptest
