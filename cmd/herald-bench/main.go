// Command herald-bench is herald's load tool; see package internal/bench.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldmq/herald/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(bench.Run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
