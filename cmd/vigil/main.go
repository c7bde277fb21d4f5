// Command vigil is the single binary of Vigil: software camera, hub, cloud
// and tools. See 'vigil help'.
package main

import (
	"context"
	"os"

	"vigil/internal/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
