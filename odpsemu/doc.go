// Package odpsemu is odsync's local MaxCompute (ODPS) emulator: an HTTP
// server on 127.0.0.1 that the unmodified Go SDK
// github.com/aliyun/aliyun-odps-go-sdk (v0.4.24) talks to, so the
// MaxCompute sink can be tested without a cloud project.
//
// It serves the ODPS REST API under /api (project, tables, partitions, SQL
// instances for DDL) and the Tunnel API under / (endpoint discovery, stream
// upload sessions, batch upload sessions, download sessions), speaking the
// wire protocol as the SDK implements it (odps/restclient, odps/tunnel); what
// is supported and what is not is listed in docs/odps-emulator.md. Use:
//
//	srv, _ := odpsemu.New(odpsemu.Config{DataDir: dir})
//	_ = srv.Start(ctx)                                   // 127.0.0.1:0 by default
//	o := odps.NewOdps(account.NewAliyunAccount("ak", "sk"), srv.Endpoint())
//	o.SetDefaultProjectName("any_project")               // created on first use
//	tun := tunnel.NewTunnel(o, srv.TunnelEndpoint())     // or tunnel.NewTunnel(o): discovery
//
// Record streams are decoded by a schema-driven validator (every CRC, the
// record count, value ranges, DECIMAL/VARCHAR/CHAR/JSON contents, NOT NULL)
// and stored verbatim in append-only segment files, so rows survive a
// restart and read back byte-identical through download sessions.
//
// Design notes:
//   - One Server owns one data directory (flock). Projects are loaded on
//     first use; each has a catalog.json rewritten atomically on every DDL,
//     partition creation, segment creation and commit. See catalog.go for the
//     layout and its invariants, segment.go for the row file format.
//   - A stream PUT is acknowledged only after its batch is appended (and
//     fsynced unless Config.NoSync). A batch-upload commit is one atomic
//     catalog write; repeating it is a no-op, because the SDK retries commits.
//   - Schema changes are versioned: ALTER TABLE ADD COLUMNS appends columns
//     and bumps the table's schema version. Stream sessions keep the version
//     they were opened with; a PUT with check_latest_schema=true on an older
//     version gets 412 SchemaModified, like MaxCompute.
//   - The real service's limits are enforced (limits.go): session expiry
//     (SessionTTL, 409 StatusConflict), per-table quotas on open upload
//     sessions, session creations and commits (429 FlowExceeded with
//     Retry-After), Date skew on signed requests (403 RequestTimeTooSkewed),
//     unknown stream slot ids (400 InvalidArgument) and the commit of an
//     upload session opened before an ALTER TABLE (409 TableModified). Each
//     is a Config field; Config.Now lets tests move the clock.
//   - Faults (error rate, latency, failure of the Nth request, failures after
//     processing, SchemaModified on the next stream write) are injected per
//     operation for tests; see Faults and Server.SetFaults.
//
// The emulator executes DDL only. SELECT, INSERT and every other statement
// fail the instance with an "ODPS-…: … not supported by the emulator"
// message; Arrow uploads/downloads, table preview, instance result download
// and upsert sessions answer 400 NotSupported.
package odpsemu
