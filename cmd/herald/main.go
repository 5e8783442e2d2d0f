// Command herald serves VMware Cloud Director's login API and MQTT notifications.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldmq/herald/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
