// Command buildtidb builds the tidb-server the integration tests use into
// the test cache (harness/tidb.Binary), so CI pays for it once, before the
// tests, and prints the binary's path and how long it took.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/odsync/odsync/harness/tidb"
)

func main() {
	start := time.Now()
	bin, err := tidb.Binary(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("tidb-server %s: %s (%s)\n", tidb.Version, bin, time.Since(start).Round(time.Second))
}
