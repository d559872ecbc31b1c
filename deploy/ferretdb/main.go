// Command kopnet-ferretdb runs FerretDB v1 embedded, with the SQLite handler,
// as kopnet's local MongoDB-compatible store. It embeds the ferretdb package
// rather than `go install`ing cmd/ferretdb because that binary panics at start
// when version.txt is missing from the module.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data", "./ferretdb-data", "directory for the SQLite databases")
	flag.Parse()

	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		log.Fatalf("kopnet-ferretdb: bad data directory %q: %v", *dataDir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		log.Fatalf("kopnet-ferretdb: cannot create data directory %q: %v", abs, err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		log.Fatalf("kopnet-ferretdb: cannot configure FerretDB: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Printf("kopnet-ferretdb listening on %s, data in %s\n", f.MongoDBURI(), abs)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatalf("kopnet-ferretdb: FerretDB stopped: %v", err)
	}
}
