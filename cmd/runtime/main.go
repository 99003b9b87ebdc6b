// Command socketfleet-runtime is the Socketfleet Socket.IO server: with no
// configuration it serves the main namespace on :3000 (Socket.IO at
// /socket.io/) and the admin endpoints on :8081. See --help for every flag,
// its SOCKETFLEET_* environment variable and its config file key.
//
// SIGTERM or SIGINT starts the graceful drain; a second signal exits at once.
package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"syscall"

	"github.com/socketfleet/socketfleet/runtime/app"
	"github.com/socketfleet/socketfleet/runtime/config"
)

// demoFiles is the chat demo page (served with --demo-enabled) and the
// socket.io-client browser bundle it loads (web/socket.io.min.js, a copy of
// the npm package's dist file at the version of web/package-lock.json; `make
// demo-client` refreshes it, `make verify` checks it).
//
//go:embed web/index.html web/chat.js web/chat.css web/socket.io.min.js
var demoFiles embed.FS

func main() {
	if err := run(); err != nil {
		if errors.Is(err, config.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "socketfleet-runtime:", err)
		os.Exit(1)
	}
}

func run() error {
	loaded, err := config.Load(config.Sources{
		Args:      os.Args[1:],
		LookupEnv: os.LookupEnv,
		ReadFile:  os.ReadFile,
		Usage:     os.Stdout,
	})
	if err != nil {
		return err
	}
	web, err := fs.Sub(demoFiles, "web")
	if err != nil {
		return fmt.Errorf("demo files: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	a, err := app.New(ctx, app.Options{
		Config:  loaded,
		Logger:  app.NewLogger(loaded.Log, os.Stderr),
		Web:     web,
		Adapter: redisAdapter,
	})
	if err != nil {
		return err
	}
	go func() {
		// After the first signal, restore the default action: a second
		// SIGTERM or Ctrl-C ends the process at once.
		<-ctx.Done()
		stop()
	}()
	return a.Run(ctx)
}
