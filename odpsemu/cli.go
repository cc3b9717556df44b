package odpsemu

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Main runs the emulator as a command until ctx is done:
//
//	odsync odps-emulator --addr 127.0.0.1:PORT --data-dir DIR [--access-id ID --access-key KEY]
//
// args excludes the command name. The key may also come from
// --access-key-file or the ODPS_EMULATOR_ACCESS_KEY environment variable, so
// it need not appear in a process listing. Once listening, it prints the
// service and tunnel endpoints to stdout. It returns the process exit code
// (0 after a clean shutdown, 2 on bad flags, 1 on other errors).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("odps-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address (host:port; port 0 picks a free one)")
	dataDir := fs.String("data-dir", "", "directory for projects, tables and rows (required)")
	accessID := fs.String("access-id", "", "AccessKey ID; with a key, request signatures are verified")
	accessKey := fs.String("access-key", "", "AccessKey secret (prefer --access-key-file or ODPS_EMULATOR_ACCESS_KEY)")
	accessKeyFile := fs.String("access-key-file", "", "file holding the AccessKey secret")
	slots := fs.Int("stream-slots", 2, "slots reported by stream upload sessions")
	schemaModel := fs.Bool("schema-model", false, "emulate a tenant with the schema model on: `a`.`b` in SQL is schema.table unless odps.namespace.schema=false is sent")
	sessionTTL := fs.Duration("session-ttl", 24*time.Hour, "lifetime of upload and stream sessions (negative: never expire)")
	maxUploads := fs.Int("max-upload-sessions", 32, "open upload sessions per table before 429 (negative: no limit)")
	createLimit := fs.Int("session-create-limit", 500, "session creations per table per --session-create-window before 429 (negative: no limit)")
	createWindow := fs.Duration("session-create-window", 5*time.Minute, "window of --session-create-limit")
	commitLimit := fs.Int("commit-limit", 75, "upload commits per table per --commit-window before 429 (negative: no limit)")
	commitWindow := fs.Duration("commit-window", 15*time.Second, "window of --commit-limit")
	maxSkew := fs.Duration("max-clock-skew", 15*time.Minute, "with signature checks, refuse requests whose Date is further off (negative: no check)")
	acceptSlots := fs.Bool("accept-unknown-slots", false, "accept stream writes naming a slot id the session does not have")
	allowAlter := fs.Bool("allow-commit-after-alter", false, "accept the commit of an upload session opened before the table's last ALTER")
	noSync := fs.Bool("no-sync", false, "skip fsync (faster; data survives a process crash but not a machine crash)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: odps-emulator --data-dir DIR [--addr 127.0.0.1:PORT] [--access-id ID --access-key-file FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "odps-emulator: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "odps-emulator: --log-level: %v\n", err)
		return 2
	}
	key := *accessKey
	if *accessKeyFile != "" {
		if key != "" {
			fmt.Fprintln(stderr, "odps-emulator: give --access-key or --access-key-file, not both")
			return 2
		}
		b, err := os.ReadFile(*accessKeyFile)
		if err != nil {
			fmt.Fprintf(stderr, "odps-emulator: --access-key-file: %v\n", err)
			return 2
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" && *accessID != "" {
		key = os.Getenv("ODPS_EMULATOR_ACCESS_KEY")
	}
	cfg := Config{
		Addr: *addr, DataDir: *dataDir, AccessID: *accessID, AccessKey: key, SchemaModel: *schemaModel,
		StreamSlots: *slots, NoSync: *noSync,
		SessionTTL: *sessionTTL, MaxUploadSessions: *maxUploads,
		SessionCreateLimit: *createLimit, SessionCreateWindow: *createWindow,
		CommitLimit: *commitLimit, CommitWindow: *commitWindow, MaxClockSkew: *maxSkew,
		AcceptUnknownSlots: *acceptSlots, AllowCommitAfterAlter: *allowAlter,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	srv, err := New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "odps-emulator: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		srv.Close()
		fmt.Fprintf(stderr, "odps-emulator: %v\n", err)
		return 1
	}
	auth := "any signature accepted"
	if cfg.AccessID != "" {
		auth = "signatures verified for access id " + cfg.AccessID
	}
	fmt.Fprintf(stdout, "odps emulator ready (%s)\nservice endpoint: %s\ntunnel endpoint: %s\n", auth, srv.Endpoint(), srv.TunnelEndpoint())
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "odps-emulator: close: %v\n", err)
		return 1
	}
	return 0
}
