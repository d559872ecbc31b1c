// Command kopnet-ferretdb runs FerretDB v1 embedded as kopnet's local MongoDB-compatible
// store, with the SQLite handler (the default) or the PostgreSQL one (-handler pg).
// It embeds the ferretdb package rather than `go install`ing cmd/ferretdb because that
// binary panics at start when version.txt is missing from the module.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "sqlite", "storage: sqlite (files under -data) or pg (PostgreSQL at -postgresql-url)")
	dataDir := flag.String("data", "./ferretdb-data", "directory for the SQLite databases (-handler sqlite)")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL connection URL, e.g. postgres://user@127.0.0.1:5433/ferretdb (-handler pg)")
	flag.Parse()

	// Go's default (GOGC=100) spent a fifth of FerretDB's CPU in garbage collection while it
	// streamed a collection: every document it reads or writes is decoded into short-lived
	// values. Its live heap is tens of MB, so trading memory for CPU is cheap; GOGC set in
	// the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}

	config := &ferretdb.Config{Listener: ferretdb.ListenerConfig{TCP: *listen}}
	where := ""
	switch *handler {
	case "sqlite":
		abs, err := filepath.Abs(*dataDir)
		if err != nil {
			log.Fatalf("kopnet-ferretdb: bad data directory %q: %v", *dataDir, err)
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			log.Fatalf("kopnet-ferretdb: cannot create data directory %q: %v", abs, err)
		}
		config.Handler = "sqlite"
		config.SQLiteURL = "file:" + abs + "/"
		where = "SQLite files in " + abs
	case "pg", "postgresql":
		if *pgURL == "" {
			log.Fatalf("kopnet-ferretdb: -handler pg needs -postgresql-url (postgres://user@host:port/db)")
		}
		// FerretDB v1 names this handler "postgresql"; "pg" is the launcher's short name.
		config.Handler = "postgresql"
		config.PostgreSQLURL = *pgURL
		where = "PostgreSQL at " + *pgURL
	default:
		log.Fatalf("kopnet-ferretdb: unknown -handler %q; use sqlite or pg", *handler)
	}

	f, err := ferretdb.New(config)
	if err != nil {
		log.Fatalf("kopnet-ferretdb: cannot configure FerretDB (%s): %v", where, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Printf("kopnet-ferretdb listening on %s, data: %s\n", f.MongoDBURI(), where)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatalf("kopnet-ferretdb: FerretDB stopped: %v", err)
	}
}
