// Command labops is the operations layer of a self-hosted cluster.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/labops/labops/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
