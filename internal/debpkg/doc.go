// Package debpkg builds the Debian package that installs Vigil as a
// service: the vigil binary in /usr/bin, the systemd units vigil-hub.service
// and vigil-cloud.service, example configurations in /etc/vigil (conffiles)
// and the maintainer scripts that create the vigil system user and its data
// directory /var/lib/vigil (README.md, "Install as a service").
//
// What it owns: the package's layout (paths, owners, modes), the units'
// hardening, and what installing, removing and purging do.
//
// What it must never do: run as part of the product (only cmd/vigil-deb and
// tests import it, so the packager's dependencies stay out of the vigil
// binary), put a key, a secret or a household's data into a package, or
// enable or start a service before its configuration exists.
package debpkg
