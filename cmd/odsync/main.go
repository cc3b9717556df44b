// Command odsync is a streaming change-data-capture service: it captures row
// changes from MySQL/MariaDB (or Kafka topics written by TiCDC, Debezium,
// Canal or Maxwell), keeps them in a durable local log, and lands them as ODS
// tables in a local directory, S3 or MaxCompute. See README.md and docs/.
//
// Exit codes: 0 success (also after SIGTERM/SIGINT with a clean drain);
// 1 runtime failure; 2 usage or configuration error; 3 a check failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/odsync/odsync/odpsemu"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitCheck   = 3
	// exitUndrained: run stopped cleanly, but some sinks had not written
	// everything in the log (it is kept; the next start writes it).
	exitUndrained = 4
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run the pipeline: capture → log → sinks", cmdRun},
		{"check", "validate the config and test the source (binlog, format, privileges)", cmdCheck},
		{"offsets", "show the source checkpoint, log head and each sink's cursor (offsets show)", cmdOffsets},
		{"schema", "schema plan: print each captured table's route and the DDL every sink would run", cmdSchema},
		{"snapshot", "copy tables again while streaming continues (snapshot -c FILE --table db.t)", cmdSnapshot},
		{"replay", "rewind (or forward) a sink's cursor within the log", cmdReplay},
		{"status", "show a running odsync's lag, throughput and sinks (from its admin server)", cmdStatus},
		{"healthcheck", "exit 0 if a running odsync answers /healthz (--ready: /readyz), else 3", cmdHealthcheck},
		{"verify", "compare source tables with their ODS tables (row counts, columns, chunk checksums)", cmdVerify},
		{"demo", "start a private MariaDB, run a live workload and stream it into local ODS files", cmdDemo},
		{"maxcompute", "MaxCompute tools: merge-sql prints the SQL that builds base tables of current rows", cmdMaxCompute},
		{"odps-emulator", "run a local MaxCompute emulator the real SDK talks to (HTTP + Tunnel)", odpsemu.Main},
		{"version", "print the version", cmdVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "odsync: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "odsync — streaming CDC from MySQL/MariaDB or Kafka into ODS tables")
	fmt.Fprintln(w, "\nUsage: odsync <command> [flags]   (odsync <command> --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
}

// newFlags returns a flag set that prints its usage to stdout for --help and
// to stderr on errors.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: odsync %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; it returns done=true with the exit code when the
// command should stop (help or bad flags).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, done bool) {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK, true
		}
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage, true
	}
	return 0, false
}

func cmdVersion(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "version", stderr)
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	fmt.Fprintln(stdout, "odsync", version)
	return exitOK
}

func fail(stderr io.Writer, code int, err error) int {
	fmt.Fprintf(stderr, "odsync: %v\n", err)
	return code
}

var errNoConfig = errors.New("-c FILE is required")
