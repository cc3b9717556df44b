package admin

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/odsync/odsync/bytesize"
	"github.com/odsync/odsync/telemetry"
)

// The status page: server-rendered HTML with inline SVG sparklines and
// progress bars; it reloads itself every sample interval (meta refresh), so
// it needs no JavaScript.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	doc := s.document()
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, pageData{Document: doc, Refresh: max(1, int(math.Ceil(doc.SampleInterval)))}); err != nil {
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	_, _ = w.Write(buf.Bytes())
}

type pageData struct {
	Document
	Refresh int
}

// RenderPage renders the status page for a document (used by tests and
// tools that snapshot a status).
func RenderPage(doc Document) ([]byte, error) {
	var buf bytes.Buffer
	err := pageTmpl.Execute(&buf, pageData{Document: doc, Refresh: max(1, int(math.Ceil(doc.SampleInterval)))})
	return buf.Bytes(), err
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"spark":    func(v []float64, color string) template.HTML { return sparkline(v, color, 120, 28) },
	"sparkw":   func(v []float64, color string) template.HTML { return sparkline(v, color, 300, 36) },
	"bar":      progressBar,
	"num":      numAny,
	"rate":     HumanRate,
	"lag":      HumanSeconds,
	"bytes":    bytesize.Human,
	"ago":      ago,
	"ops":      opsText,
	"uptime":   func(d Document) string { return HumanSeconds(d.Time.Sub(d.Started).Seconds()) },
	"failing":  func(c Check) bool { return !c.OK },
	"lagclass": lagClass,
}).Parse(pageHTML))

const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>odsync status</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px;display:flex;align-items:center;gap:16px}
header h1{font-size:18px;margin:0;font-weight:600}
header .meta{color:#aab;font-size:12px}
.badge{padding:3px 10px;border-radius:12px;font-weight:600;font-size:12px}
.ok{background:#1f9d55;color:#fff}.bad{background:#d33;color:#fff}.warn{background:#e9a100;color:#fff}
main{padding:16px 24px;max-width:1400px}
.cards{display:flex;gap:16px;flex-wrap:wrap;margin-bottom:16px}
.card{background:#fff;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.08);padding:12px 16px;min-width:220px;flex:1}
.card h2{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#667;margin:0 0 6px}
.big{font-size:24px;font-weight:600}
.sub{color:#667;font-size:12px;word-break:break-all}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.08);margin-bottom:16px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eceef2;vertical-align:middle;white-space:nowrap}
td.wrap{white-space:normal}
.card .spark{width:100%;height:36px;margin-top:6px}
th{font-size:12px;color:#667;font-weight:600;background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums}
h3{font-size:14px;margin:18px 0 6px}
.spark{display:block}
.lag-ok{color:#1f9d55}.lag-warn{color:#b07800}.lag-bad{color:#d33;font-weight:600}
.err{color:#d33;white-space:normal;max-width:480px}
.checks li.f{color:#d33}
.muted{color:#99a}
</style></head>
<body>
<header><h1>odsync</h1>
{{if .Ready}}<span class="badge ok" id="ready">READY</span>{{else}}<span class="badge bad" id="ready">NOT READY</span>{{end}}
{{if .Stopping}}<span class="badge warn">STOPPING</span>{{end}}
<span class="meta">version {{.Version}} · up {{uptime .Document}} · {{.Time.Format "2006-01-02 15:04:05Z07:00"}}</span>
</header>
<main>
<div class="cards">
 <div class="card"><h2>Source{{if .Source.Probe}} ({{.Source.Probe}}){{end}}</h2>
  <div class="big {{lagclass .Source.SecondsBehind}}">{{lag .Source.SecondsBehind}} behind</div>
  <div class="sub">{{if .Source.Connected}}connected{{else}}<span class="lag-bad">disconnected</span>{{end}}{{if ge .Source.BytesBehind 0}} · {{bytes .Source.BytesBehind}} of binlog behind{{end}}{{if ge .Source.MessagesBehind 0}} · {{num .Source.MessagesBehind}} messages behind{{end}}{{if ge .Source.WatermarkAge 0.0}} · watermark {{lag .Source.WatermarkAge}} old{{end}}</div>
  {{if .Source.Position}}<div class="sub">log at {{.Source.Position}}</div>{{end}}
  {{if .Source.SourcePosition}}<div class="sub">source at {{.Source.SourcePosition}}</div>{{end}}
  {{if .Source.Error}}<div class="sub err">{{.Source.Error}}</div>{{end}}
  {{spark .Source.LagHistory "#d33"}}
 </div>
 <div class="card"><h2>Capture</h2>
  <div class="big">{{rate .Source.EventsPerSecond}}</div>
  <div class="sub">{{num .Source.Events}} events in {{num .Source.Appends}} appends · last {{ago .Source.LastAppend .Time}}</div>
  {{spark .Source.RateHistory "#2a6fdb"}}
 </div>
 <div class="card"><h2>Log</h2>
  <div class="big">{{bytes .Log.Bytes}}</div>
  <div class="sub">head {{.Log.Head}} · tail {{.Log.Tail}} · {{bytes .Log.DiskBytes}} on disk</div>
 </div>
</div>
{{if not .Ready}}<h3>Readiness</h3><ul class="checks">{{range .Checks}}{{if failing .}}<li class="f">{{.Name}}: {{.Detail}}</li>{{end}}{{end}}</ul>{{end}}
<h3>Sinks</h3>
<table id="sinks"><tr><th>sink</th><th>state</th><th class="num">cursor</th><th class="num">lag (events)</th><th class="num">lag</th><th>lag history</th><th class="num">throughput</th><th>throughput history</th><th class="num">written</th><th class="num">failures</th></tr>
{{range .Sinks}}<tr><td>{{.Name}}</td>
<td>{{if .Writable}}<span class="badge ok">writable</span>{{else}}<span class="badge bad">failing</span> <span class="err">{{.LastErrorCause}}: {{.LastError}}</span>{{end}}</td>
<td class="num">{{.Cursor}}</td><td class="num">{{num .LagEvents}}</td><td class="num {{lagclass .LagSeconds}}">{{lag .LagSeconds}}</td><td>{{spark .LagHistory "#d33"}}</td>
<td class="num">{{rate .EventsPerSecond}}</td><td>{{spark .RateHistory "#2a6fdb"}}</td><td class="num">{{num .Events}}</td><td class="num">{{.Failures}}</td></tr>
{{else}}<tr><td colspan="10" class="muted">no sink has written yet</td></tr>{{end}}
</table>
<h3>Tables</h3>
<table id="tables"><tr><th>table</th><th class="num">throughput</th><th>throughput history</th><th class="num">lag</th><th>lag history</th><th class="num">pending</th><th>captured</th><th class="num" title="values kept in _raw: NULL in their typed column">raw values</th><th>snapshot</th></tr>
{{range .Tables}}<tr class="table-row"><td class="tname">{{.Table}}</td><td class="num">{{rate .EventsPerSecond}}</td><td>{{spark .RateHistory "#2a6fdb"}}</td>
<td class="num {{lagclass .LagSeconds}}">{{lag .LagSeconds}}</td><td>{{spark .LagHistory "#d33"}}</td><td class="num">{{num .LagEvents}}</td>
<td class="wrap">{{ops .Captured}}</td><td class="num">{{num .RawValues}}</td><td class="wrap">{{with .Snapshot}}{{bar .}}{{else}}<span class="muted">—</span>{{end}}</td></tr>
{{else}}<tr><td colspan="9" class="muted">no table has changed since odsync started</td></tr>{{end}}
</table>
{{if .TableLagPartial}}<p class="muted">Per-table lag covers only part of the backlog found at start.</p>{{end}}
{{if .Verify}}<h3>Verify</h3><table id="verify"><tr><th>sink</th><th>table</th><th>status</th><th class="num">source rows</th><th class="num">target rows</th><th class="num">changed</th><th class="num">missing</th><th class="num">extra</th><th class="num">unsettled</th><th>at</th></tr>
{{range .Verify}}<tr><td>{{.Sink}}</td><td class="tname">{{.Table}}</td><td>{{if eq .Status "match"}}<span class="badge ok">match</span>{{else}}<span class="badge bad">{{.Status}}</span> <span class="err">{{.Error}}</span>{{end}}</td>
<td class="num">{{.SourceRows}}</td><td class="num">{{.TargetRows}}</td><td class="num">{{.Changed}}</td><td class="num">{{.Missing}}</td><td class="num">{{.Extra}}</td><td class="num">{{.Unsettled}}</td><td>{{.Time.Format "2006-01-02 15:04:05Z07:00"}}</td></tr>{{end}}</table>{{end}}
{{if .Errors}}<h3>Errors</h3><table id="errors"><tr><th>component</th><th>cause</th><th class="num">count</th></tr>
{{range .Errors}}<tr><td>{{.Component}}</td><td>{{.Cause}}</td><td class="num">{{.Count}}</td></tr>{{end}}</table>{{end}}
<p class="muted">JSON: <code>/status</code> · readiness: <code>/readyz</code> · metrics: <code>/metrics</code> · refreshes every {{.Refresh}}s</p>
</main></body></html>
`

// sparkline renders values as an inline SVG polyline over a shaded area,
// scaled to the largest value.
func sparkline(values []float64, color string, w, h float64) template.HTML {
	head := fmt.Sprintf(`<svg class="spark" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" preserveAspectRatio="none" role="img"`, w, h, w, h)
	if len(values) == 0 {
		return template.HTML(head + fmt.Sprintf(` aria-label="no data"><line x1="0" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#dde" stroke-width="1"/></svg>`, h-1, w, h-1))
	}
	top := 0.0
	for _, v := range values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			top = max(top, v)
		}
	}
	if top == 0 {
		top = 1
	}
	n := len(values)
	step := 0.0
	if n > 1 {
		step = w / float64(n-1)
	}
	var pts strings.Builder
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			v = 0
		}
		x := float64(i) * step
		if n == 1 {
			x = w
		}
		y := h - 1 - (v/top)*(h-3)
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	p := strings.TrimSpace(pts.String())
	first := 0.0
	if n == 1 {
		first = w
	}
	c := template.HTMLEscapeString(color)
	return template.HTML(head + fmt.Sprintf(` aria-label="last %s, max %s">`+
		`<polygon points="%.1f,%.0f %s %.1f,%.0f" fill="%s" fill-opacity="0.12"/>`+
		`<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-linejoin="round" vector-effect="non-scaling-stroke"/></svg>`,
		strconv.FormatFloat(values[n-1], 'g', 4, 64), strconv.FormatFloat(top, 'g', 4, 64), first, h, p, w, h, c, p, c))
}

// progressBar renders a snapshot's progress.
func progressBar(s *telemetry.SnapshotStatus) template.HTML {
	label := HumanCount(s.RowsRead) + " rows"
	if s.RowsTotal > 0 {
		label += " of ~" + HumanCount(s.RowsTotal)
	}
	pct := s.Percent
	switch {
	case s.Done:
		label = "done · " + label
		pct = 100
	case pct < 0:
		// Total unknown: an indeterminate (striped) bar.
		return template.HTML(fmt.Sprintf(`<svg class="bar" width="120" height="12" role="img" aria-label="snapshot %s"><rect width="120" height="12" rx="3" fill="#e6e9ef"/>`+
			`<rect width="120" height="12" rx="3" fill="#2a6fdb" fill-opacity="0.3"/></svg><div class="sub">%s</div>`,
			template.HTMLEscapeString(label), template.HTMLEscapeString(label)))
	default:
		label = strconv.FormatFloat(pct, 'f', 1, 64) + "% · " + label
	}
	fill := "#2a6fdb"
	if s.Done {
		fill = "#1f9d55"
	}
	return template.HTML(fmt.Sprintf(`<svg class="bar" width="120" height="12" role="img" aria-label="snapshot %s"><rect width="120" height="12" rx="3" fill="#e6e9ef"/>`+
		`<rect width="%.1f" height="12" rx="3" fill="%s"/></svg><div class="sub">%s</div>`,
		template.HTMLEscapeString(label), 120*pct/100, fill, template.HTMLEscapeString(label)))
}

func lagClass(s float64) string {
	switch {
	case s < 10:
		return "lag-ok"
	case s < 120:
		return "lag-warn"
	}
	return "lag-bad"
}

func opsText(m map[string]int64) string {
	var parts []string
	for _, op := range []string{"insert", "update", "delete", "read", "ddl"} {
		if n := m[op]; n > 0 {
			parts = append(parts, op[:1]+" "+HumanCount(n))
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, " · ")
}

func ago(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	return HumanSeconds(now.Sub(*t).Seconds()) + " ago"
}

// HumanCount renders 1234567 as "1.23M".
func HumanCount[N int64 | uint64 | int](n N) string {
	f := float64(n)
	switch {
	case f >= 1e9:
		return strconv.FormatFloat(f/1e9, 'f', 2, 64) + "G"
	case f >= 1e6:
		return strconv.FormatFloat(f/1e6, 'f', 2, 64) + "M"
	case f >= 1e4:
		return strconv.FormatFloat(f/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatInt(int64(n), 10)
}

func numAny(v any) string {
	switch n := v.(type) {
	case int64:
		return HumanCount(n)
	case uint64:
		return HumanCount(n)
	case int:
		return HumanCount(n)
	}
	return fmt.Sprint(v)
}

// HumanRate renders events per second.
func HumanRate(r float64) string {
	switch {
	case r >= 1e6:
		return strconv.FormatFloat(r/1e6, 'f', 2, 64) + "M/s"
	case r >= 1e4:
		return strconv.FormatFloat(r/1e3, 'f', 1, 64) + "k/s"
	case r >= 10 || r == 0:
		return strconv.FormatFloat(r, 'f', 0, 64) + "/s"
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + "/s"
}

// HumanSeconds renders a lag: "0s", "4.2s", "3m04s", "2h05m".
func HumanSeconds(s float64) string {
	switch {
	case s <= 0 || math.IsNaN(s):
		return "0s"
	case s < 10:
		return strconv.FormatFloat(s, 'f', 1, 64) + "s"
	case s < 60:
		return strconv.FormatFloat(s, 'f', 0, 64) + "s"
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", int(s)/60, int(s)%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", int(s)/3600, int(s)%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", int(s)/86400, int(s)%86400/3600)
}
