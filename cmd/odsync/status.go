package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/bytesize"
	"github.com/odsync/odsync/progress"
	"github.com/odsync/odsync/telemetry"
)

// adminAddrFlags registers the flags that locate a running odsync's admin
// server and returns a function resolving them: --addr wins, then the
// config file's admin.addr (-c), then $ODSYNC_ADMIN_ADDR, then the default.
func adminAddrFlags(fs interface {
	String(name, value, usage string) *string
}) func() (string, error) {
	addr := fs.String("addr", "", "admin address host:port (default: admin.addr of -c, $ODSYNC_ADMIN_ADDR, or "+admin.DefaultAddr+")")
	path := fs.String("c", "", "config file (YAML) to read admin.addr from")
	return func() (string, error) {
		switch {
		case *addr != "":
			return admin.ClientAddr(*addr), nil
		case *path != "":
			a, err := configAdminAddr(*path)
			if err != nil {
				return "", err
			}
			if a == "off" {
				return "", fmt.Errorf("%s: admin.addr is off: the admin server is disabled", *path)
			}
			if a != "" {
				return admin.ClientAddr(a), nil
			}
		}
		if a := os.Getenv("ODSYNC_ADMIN_ADDR"); a != "" {
			return admin.ClientAddr(a), nil
		}
		return admin.DefaultAddr, nil
	}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// configAdminAddr reads admin.addr from a config file without loading (and
// so without needing the secrets of) the rest of it; "" when unset.
func configAdminAddr(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	var doc struct {
		Admin struct {
			Addr string `yaml:"addr"`
		} `yaml:"admin"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("config %s: %w", path, err)
	}
	a := envRef.ReplaceAllStringFunc(doc.Admin.Addr, func(m string) string {
		sm := envRef.FindStringSubmatch(m)
		if v, ok := os.LookupEnv(sm[1]); ok {
			return v
		}
		return sm[3]
	})
	return strings.TrimSpace(a), nil
}

func adminGet(ctx context.Context, addr, path string, timeout time.Duration) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp, body, err
}

// cmdHealthcheck asks a running odsync whether it is alive (/healthz) or
// ready (/readyz): exit 0 yes, 3 no or unreachable. It is the Docker
// HEALTHCHECK of the distroless image, which has no curl.
func cmdHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("healthcheck", "healthcheck [--addr HOST:PORT | -c FILE] [--ready]", stderr)
	resolve := adminAddrFlags(fs)
	ready := fs.Bool("ready", false, "check /readyz (source connected, sinks writable, lag bounded) instead of /healthz")
	timeout := fs.Duration("timeout", 3*time.Second, "request timeout")
	quiet := fs.Bool("q", false, "print nothing")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	addr, err := resolve()
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	resp, body, err := adminGet(ctx, addr, path, *timeout)
	if err != nil {
		if !*quiet {
			fmt.Fprintf(stderr, "odsync: healthcheck: %s%s: %v\n", addr, path, err)
		}
		return exitCheck
	}
	if resp.StatusCode != http.StatusOK {
		if !*quiet {
			fmt.Fprintf(stderr, "odsync: healthcheck: %s%s: %s\n%s", addr, path, resp.Status, body)
		}
		return exitCheck
	}
	if !*quiet {
		fmt.Fprintf(stdout, "%s%s: ok\n", addr, path)
	}
	return exitOK
}

// cmdStatus prints a running odsync's status (its /status) as tables: the
// source, the sinks and every table with throughput, lag, sparklines of
// their history and snapshot progress.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "status [--addr HOST:PORT | -c FILE] [--json]", stderr)
	resolve := adminAddrFlags(fs)
	asJSON := fs.Bool("json", false, "print the raw JSON of /status")
	timeout := fs.Duration("timeout", 5*time.Second, "request timeout")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	addr, err := resolve()
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	resp, body, err := adminGet(ctx, addr, "/status", *timeout)
	if err != nil {
		return fail(stderr, exitFailure, fmt.Errorf("status: is odsync running with its admin server on %s? %w", addr, err))
	}
	if resp.StatusCode != http.StatusOK {
		return fail(stderr, exitFailure, fmt.Errorf("status: %s/status: %s", addr, resp.Status))
	}
	if *asJSON {
		_, _ = stdout.Write(body)
		return exitOK
	}
	var doc admin.Document
	if err := json.Unmarshal(body, &doc); err != nil {
		return fail(stderr, exitFailure, fmt.Errorf("status: %s/status: %w", addr, err))
	}
	printStatus(stdout, &doc)
	return exitOK
}

func printStatus(w io.Writer, d *admin.Document) {
	state := "READY"
	if !d.Ready {
		state = "NOT READY"
	}
	if d.Stopping {
		state += " (stopping)"
	}
	fmt.Fprintf(w, "odsync %s · up %s · %s\n", d.Version, admin.HumanSeconds(d.Time.Sub(d.Started).Seconds()), state)
	for _, c := range d.Checks {
		if !c.OK {
			fmt.Fprintf(w, "  ✗ %s: %s\n", c.Name, c.Detail)
		}
	}
	src := d.Source
	conn := "connected"
	if !src.Connected {
		conn = "DISCONNECTED"
	}
	if src.Probe == "" {
		conn = "connection assumed (no probe)"
	}
	line := fmt.Sprintf("source%s: %s · %s behind", parens(src.Probe), conn, admin.HumanSeconds(src.SecondsBehind))
	if src.BytesBehind >= 0 {
		line += " · " + bytesize.Human(src.BytesBehind) + " of binlog"
	}
	if src.MessagesBehind >= 0 {
		line += " · " + admin.HumanCount(src.MessagesBehind) + " messages"
	}
	if src.WatermarkAge >= 0 {
		line += " · watermark " + admin.HumanSeconds(src.WatermarkAge) + " old"
	}
	fmt.Fprintln(w, line)
	if src.Position != "" {
		fmt.Fprintf(w, "  log at %s", src.Position)
		if src.SourcePosition != "" {
			fmt.Fprintf(w, " · source at %s", src.SourcePosition)
		}
		fmt.Fprintln(w)
	}
	if src.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", src.Error)
	}
	fmt.Fprintf(w, "capture: %s %s · %s events · log %s (head %d, tail %d, %s on disk)\n",
		admin.HumanRate(src.EventsPerSecond), termSpark(src.RateHistory, 20), admin.HumanCount(src.Events),
		bytesize.Human(d.Log.Bytes), d.Log.Head, d.Log.Tail, bytesize.Human(d.Log.DiskBytes))

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SINK\tSTATE\tCURSOR\tLAG EVENTS\tLAG\tRATE\tHISTORY\tWRITTEN\tFAILURES")
	for _, k := range d.Sinks {
		st := "writable"
		if !k.Writable {
			st = "FAILING (" + k.LastErrorCause + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n", k.Name, st, k.Cursor, admin.HumanCount(k.LagEvents),
			admin.HumanSeconds(k.LagSeconds), admin.HumanRate(k.EventsPerSecond), termSpark(k.RateHistory, 20),
			admin.HumanCount(k.Events), k.Failures)
	}
	tw.Flush()
	for _, k := range d.Sinks {
		if !k.Writable && k.LastError != "" {
			fmt.Fprintf(w, "  %s: %s\n", k.Name, k.LastError)
		}
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tRATE\tHISTORY\tLAG\tPENDING\tI\tU\tD\tR\tRAW\tSNAPSHOT")
	for _, t := range d.Tables {
		snap := "-"
		if s := t.Snapshot; s != nil {
			snap = termBar(s)
		}
		c := t.Captured
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Table, admin.HumanRate(t.EventsPerSecond),
			termSpark(t.RateHistory, 20), admin.HumanSeconds(t.LagSeconds), admin.HumanCount(t.LagEvents),
			admin.HumanCount(c["insert"]), admin.HumanCount(c["update"]), admin.HumanCount(c["delete"]), admin.HumanCount(c["read"]),
			admin.HumanCount(t.RawValues), snap)
	}
	if len(d.Tables) == 0 {
		fmt.Fprintln(tw, "(no table has changed since odsync started)")
	}
	tw.Flush()
	if len(d.Errors) > 0 {
		fmt.Fprintln(w)
		fmt.Fprint(w, "errors:")
		for _, e := range d.Errors {
			fmt.Fprintf(w, " %s/%s=%d", e.Component, e.Cause, e.Count)
		}
		fmt.Fprintln(w)
	}
}

func parens(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// termSpark renders the last n values as Unicode block characters.
func termSpark(values []float64, n int) string {
	if len(values) > n {
		values = values[len(values)-n:]
	}
	if len(values) == 0 {
		return "·"
	}
	blocks := []rune("▁▂▃▄▅▆▇█")
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	var b strings.Builder
	for _, v := range values {
		i := 0
		if top > 0 && v > 0 && !math.IsNaN(v) {
			i = min(len(blocks)-1, int(v/top*float64(len(blocks)-1)+0.5))
		}
		b.WriteRune(blocks[i])
	}
	return b.String()
}

// termBar renders snapshot progress as [####......] 42.0% 4.2k/10.0k.
func termBar(s *telemetry.SnapshotStatus) string {
	const width = 10
	if s.Done {
		return progress.Bar(1, width) + " done " + admin.HumanCount(s.RowsRead)
	}
	if s.Percent < 0 {
		return admin.HumanCount(s.RowsRead) + " rows read"
	}
	return progress.Bar(s.Percent/100, width) + " " +
		fmt.Sprintf("%.1f%%", s.Percent) + " " + admin.HumanCount(s.RowsRead) + "/" + admin.HumanCount(s.RowsTotal)
}
