package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/bytesize"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"time"
)

func cmdOffsets(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "show" && args[0] != "-h" && args[0] != "--help") {
		fmt.Fprintln(stderr, "Usage: odsync offsets show -c FILE [--json]")
		return exitUsage
	}
	if args[0] == "show" {
		args = args[1:]
	}
	fs := newFlags("offsets show", "offsets show -c FILE [--json]", stderr)
	path := fs.String("c", "", "config file (YAML)")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	log, err := openLog(cfg, slog.New(slog.DiscardHandler))
	var inUse *stateInUseError
	if errors.As(err, &inUse) {
		// A running odsync holds the state: show its live view instead.
		return offsetsFromAdmin(ctx, *path, *asJSON, inUse, stdout, stderr)
	}
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	defer log.Close()
	st := log.Stats()
	type sinkInfo struct {
		Name    string   `json:"name"`
		Cursor  uint64   `json:"cursor"`
		Behind  uint64   `json:"behind"`
		Pending []uint64 `json:"pending_boundaries,omitempty"`
	}
	out := struct {
		Checkpoint json.RawMessage `json:"source_checkpoint"`
		Head       uint64          `json:"log_head"`
		Tail       uint64          `json:"log_tail"`
		Bytes      int64           `json:"log_bytes"`
		Sinks      []sinkInfo      `json:"sinks"`
	}{Head: st.Head, Tail: st.Tail, Bytes: st.Bytes}
	cp := log.Checkpoint()
	if cp != nil && json.Valid(cp) {
		out.Checkpoint = cp
	} else if cp != nil {
		out.Checkpoint, _ = json.Marshal(string(cp))
	} else {
		out.Checkpoint = json.RawMessage("null")
	}
	cursors := log.Cursors()
	names := make([]string, 0, len(cursors))
	for n := range cursors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out.Sinks = append(out.Sinks, sinkInfo{Name: n, Cursor: cursors[n], Behind: st.Head - min(cursors[n], st.Head), Pending: log.Pending(n)})
	}
	if *asJSON {
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	fmt.Fprintf(stdout, "state:      %s\n", cfg.State.Dir)
	if cp == nil {
		fmt.Fprintln(stdout, "checkpoint: none (the source starts at its configured start position)")
	} else if c, ok := cfg.Source.Kind.DescribeCheckpoint(cp, log); ok {
		fmt.Fprintf(stdout, "checkpoint: %s\n", c.Summary)
		for _, l := range c.Lines {
			fmt.Fprintf(stdout, "  %s\n", l)
		}
	} else {
		fmt.Fprintf(stdout, "checkpoint: %s\n", cp)
	}
	fmt.Fprintf(stdout, "log:        head %d, tail %d, %s\n", st.Head, st.Tail, bytesize.Human(st.Bytes))
	if len(out.Sinks) == 0 {
		fmt.Fprintln(stdout, "sinks:      none has run yet")
	}
	for _, s := range out.Sinks {
		fmt.Fprintf(stdout, "sink %-10s cursor %d (%d behind)\n", s.Name, s.Cursor, s.Behind)
	}
	return exitOK
}

func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("replay", "replay -c FILE --sink NAME --from SEQ|TIME  |  replay -c FILE --source-start POSITION", stderr)
	path := fs.String("c", "", "config file (YAML)")
	name := fs.String("sink", "", "sink whose cursor moves")
	from := fs.String("from", "", "first sequence number to deliver again, or an RFC 3339 time (first event committed at or after it)")
	sourceStart := fs.String("source-start", "", "move the capture checkpoint instead (odsync stopped): MySQL latest|earliest|gtid:SET|file:NAME:POS|time:RFC3339; Kafka latest|earliest|time:RFC3339|commit_ts:TSO|offsets:TOPIC/P=OFF,...")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	if *sourceStart != "" {
		if err := replaySource(ctx, cfg, *sourceStart, stdout); err != nil {
			return fail(stderr, exitFailure, err)
		}
		return exitOK
	}
	if *name == "" || *from == "" {
		return fail(stderr, exitUsage, fmt.Errorf("replay needs --sink and --from"))
	}
	found := false
	for _, s := range cfg.Sinks {
		found = found || s.Name == *name
	}
	if !found {
		return fail(stderr, exitUsage, fmt.Errorf("no sink named %q in %s", *name, *path))
	}
	log, err := openLog(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	defer log.Close()
	var seq uint64
	if n, err := strconv.ParseUint(*from, 10, 64); err == nil {
		seq = n
	} else if t, err := time.Parse(time.RFC3339Nano, *from); err == nil {
		if seq, err = log.SeekTime(t.UnixMicro()); err != nil {
			return fail(stderr, exitFailure, err)
		}
	} else {
		return fail(stderr, exitUsage, fmt.Errorf("--from %q: want a sequence number or an RFC 3339 time like 2026-11-21T08:00:00Z", *from))
	}
	st := log.Stats()
	if seq < st.Tail {
		return fail(stderr, exitFailure, fmt.Errorf("seq %d is no longer in the log (oldest retained: %d); the log keeps entries only above the lowest sink cursor", seq, st.Tail))
	}
	if seq > st.Head+1 {
		return fail(stderr, exitFailure, fmt.Errorf("seq %d is beyond the log head %d", seq, st.Head))
	}
	if _, err := log.Register(*name); err != nil {
		return fail(stderr, exitFailure, err)
	}
	if err := log.SetPending(*name, nil); err != nil {
		return fail(stderr, exitFailure, err)
	}
	if err := log.SetCursor(*name, seq-1); err != nil {
		return fail(stderr, exitFailure, err)
	}
	fmt.Fprintf(stdout, "sink %s will deliver again from seq %d (log head %d) on the next odsync run\n", *name, seq, st.Head)
	return exitOK
}

// offsetsFromAdmin prints the offsets of the odsync that holds the state
// directory, read from its admin server's /status.
func offsetsFromAdmin(ctx context.Context, cfgPath string, asJSON bool, inUse *stateInUseError, stdout, stderr io.Writer) int {
	addr, err := configAdminAddr(cfgPath)
	if err == nil && addr == "off" {
		err = errors.New("admin.addr is off")
	}
	if err != nil {
		return fail(stderr, exitFailure, fmt.Errorf("%w; its admin server cannot be asked: %v", inUse, err))
	}
	if addr == "" {
		addr = admin.DefaultAddr
	}
	addr = admin.ClientAddr(addr)
	resp, body, err := adminGet(ctx, addr, "/status", 5*time.Second)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	if err != nil {
		return fail(stderr, exitFailure, fmt.Errorf("%w; its admin server on %s did not answer: %v", inUse, addr, err))
	}
	var doc admin.Document
	if err := json.Unmarshal(body, &doc); err != nil {
		return fail(stderr, exitFailure, fmt.Errorf("%s/status: %w", addr, err))
	}
	type sinkInfo struct {
		Name   string `json:"name"`
		Cursor uint64 `json:"cursor"`
		Behind uint64 `json:"behind"`
	}
	out := struct {
		Live     bool       `json:"live"`
		Admin    string     `json:"admin"`
		Position string     `json:"source_position"`
		Head     uint64     `json:"log_head"`
		Tail     uint64     `json:"log_tail"`
		Bytes    int64      `json:"log_bytes"`
		Sinks    []sinkInfo `json:"sinks"`
	}{Live: true, Admin: addr, Position: doc.Source.Position, Head: doc.Log.Head, Tail: doc.Log.Tail, Bytes: doc.Log.Bytes}
	for _, s := range doc.Sinks {
		out.Sinks = append(out.Sinks, sinkInfo{Name: s.Name, Cursor: s.Cursor, Behind: s.LagEvents})
	}
	if asJSON {
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	fmt.Fprintf(stdout, "state:      %s (in use: live view from the running odsync at %s)\n", inUse.dir, addr)
	fmt.Fprintf(stdout, "checkpoint: %s\n", out.Position)
	fmt.Fprintf(stdout, "log:        head %d, tail %d, %s\n", out.Head, out.Tail, bytesize.Human(out.Bytes))
	for _, s := range out.Sinks {
		fmt.Fprintf(stdout, "sink %-10s cursor %d (%d behind)\n", s.Name, s.Cursor, s.Behind)
	}
	return exitOK
}
