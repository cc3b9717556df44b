package odpsemu

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ODPS REST API (service endpoint, /api/...): project, tables, partitions,
// SQL instances.

func (s *Server) owner() string {
	if s.cfg.AccessID != "" {
		return "ALIYUN$" + s.cfg.AccessID
	}
	return "ALIYUN$odps_emulator"
}

func writeXML(w http.ResponseWriter, status int, v any) *apiError {
	b, err := xml.Marshal(v)
	if err != nil {
		return internalError(err)
	}
	body := append([]byte(xml.Header), b...)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

func writeJSON(w http.ResponseWriter, v any) *apiError {
	b, err := json.Marshal(v)
	if err != nil {
		return internalError(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

func gmt(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

type propertyXML struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

type projectXML struct {
	XMLName            xml.Name      `xml:"Project"`
	Name               string        `xml:"Name"`
	Type               string        `xml:"Type"`
	Comment            string        `xml:"Comment"`
	State              string        `xml:"State"`
	ProjectGroupName   string        `xml:"ProjectGroupName"`
	Properties         []propertyXML `xml:"Properties>Property"`
	ExtendedProperties []propertyXML `xml:"ExtendedProperties>Property"`
	TenantID           string        `xml:"TenantId"`
	Region             string        `xml:"Region"`
}

func (s *Server) handleProject(w http.ResponseWriter, r *http.Request, p *project) *apiError {
	s.drain(r)
	w.Header().Set("x-odps-owner", s.owner())
	w.Header().Set("x-odps-creation-time", gmt(p.created))
	w.Header().Set("Last-Modified", gmt(p.created))
	return writeXML(w, http.StatusOK, projectXML{
		Name: p.name, Type: "managed", Comment: "MaxCompute emulator project", State: "AVAILABLE",
		Properties: []propertyXML{{Name: "odps.sql.type.system.odps2", Value: "true"}},
		Region:     s.cfg.Region,
	})
}

// handleTunnelEndpoint answers discovery with "host:port" and no newline:
// the SDK prepends the scheme and uses the body verbatim.
func (s *Server) handleTunnelEndpoint(w http.ResponseWriter, r *http.Request) *apiError {
	s.drain(r)
	host := s.hostFor(r)
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(host)))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, host)
	return nil
}

// hostFor is the host:port the client reached us at.
func (s *Server) hostFor(r *http.Request) string {
	if r.Host != "" && strings.Count(r.Host, ":") == 1 {
		return r.Host
	}
	if a := s.Addr(); a != "" {
		return a
	}
	return "127.0.0.1:80"
}

// Table metadata.

type tableXML struct {
	XMLName       xml.Name `xml:"Table"`
	Name          string   `xml:"Name"`
	TableID       string   `xml:"TableId"`
	Format        string   `xml:"Format"`
	Owner         string   `xml:"Owner"`
	Project       string   `xml:"Project"`
	SchemaName    string   `xml:"SchemaName"`
	Comment       string   `xml:"Comment"`
	TableLabel    string   `xml:"TableLabel"`
	CryptoAlgo    string   `xml:"CryptoAlgo"`
	TableMaskInfo string   `xml:"TableMaskInfo"`
	Type          string   `xml:"Type"`
	Schema        string   `xml:"Schema"`
}

type metaColumnJSON struct {
	Name            string   `json:"name"`
	Type            string   `json:"type"`
	Comment         string   `json:"comment"`
	Label           string   `json:"label"`
	IsNullable      bool     `json:"isNullable"`
	HasDefaultValue bool     `json:"hasDefaultValue"`
	ExtendedLabels  []string `json:"extendedLabels"`
}

type tableSchemaJSON struct {
	TableName        string           `json:"tableName"`
	Columns          []metaColumnJSON `json:"columns"`
	PartitionKeys    []metaColumnJSON `json:"partitionKeys"`
	Comment          string           `json:"comment"`
	Owner            string           `json:"owner"`
	CreateTime       int64            `json:"createTime"`
	LastDDLTime      int64            `json:"lastDDLTime"`
	LastModifiedTime int64            `json:"lastModifiedTime"`
	LastAccessTime   int64            `json:"lastAccessTime"`
	Lifecycle        int              `json:"lifecycle"`
	HubLifecycle     int              `json:"hubLifecycle"`
	IsVirtualView    bool             `json:"isVirtualView"`
	IsExternal       bool             `json:"isExternal"`
	IsArchived       bool             `json:"isArchived"`
	ShardExist       bool             `json:"shardExist"`
	RecordNum        int64            `json:"recordNum"`
	Size             int64            `json:"size"`
	PhysicalSize     int64            `json:"physicalSize"`
	FileNum          int              `json:"fileNum"`
	TableLabel       string           `json:"tableLabel"`
	Reserved         string           `json:"Reserved"`
}

type reservedJSON struct {
	Transactional string    `json:"Transactional"`
	PrimaryKey    []string  `json:"PrimaryKey"`
	ClusterType   string    `json:"ClusterType,omitempty"`
	ClusterCols   []string  `json:"ClusterCols,omitempty"`
	SortCols      []sortCol `json:"SortCols,omitempty"`
	BucketNum     int       `json:"BucketNum,omitempty"`
}

func metaColumns(cols []column) []metaColumnJSON {
	out := make([]metaColumnJSON, len(cols))
	for i, c := range cols {
		// isNullable must be present: the SDK sets NotNull = !isNullable.
		out[i] = metaColumnJSON{Name: c.name, Type: c.typ.String(), Comment: c.comment, IsNullable: !c.notNull, ExtendedLabels: []string{}}
	}
	return out
}

func (t *table) transactional() bool {
	return strings.EqualFold(t.props["transactional"], "true")
}

// metaXML renders the table document. Caller holds p.mu (read).
func (s *Server) tableMeta(p *project, t *table) tableXML {
	rows, size, lastMod := t.stats()
	pk := t.primaryKey
	if pk == nil {
		pk = []string{}
	}
	res, _ := json.Marshal(reservedJSON{
		Transactional: strconv.FormatBool(t.transactional()), PrimaryKey: pk,
		ClusterType: t.clusterType, ClusterCols: t.clusterCols, SortCols: t.sortCols, BucketNum: t.buckets,
	})
	sj := tableSchemaJSON{
		TableName: t.name, Columns: metaColumns(t.cols), PartitionKeys: metaColumns(t.partKeys),
		Comment: t.comment, Owner: s.owner(), CreateTime: t.created.Unix(), LastDDLTime: t.lastDDL.Unix(),
		LastModifiedTime: lastMod.Unix(), LastAccessTime: lastMod.Unix(), Lifecycle: t.lifecycle,
		HubLifecycle: -1, RecordNum: rows, Size: size, PhysicalSize: size, Reserved: string(res),
	}
	b, _ := json.Marshal(sj)
	return tableXML{
		Name: t.name, TableID: t.id, Owner: s.owner(), Project: p.name, Comment: t.comment,
		Type: "MANAGED_TABLE", Schema: string(b),
	}
}

func tableNotFound(p *project, name string) *apiError {
	return notFound("NoSuchObject", "ODPS-0130131:Table not found - table %s.%s cannot be resolved", p.name, name)
}

type tableListXML struct {
	XMLName  xml.Name        `xml:"Tables"`
	Tables   []tableBriefXML `xml:"Table"`
	Marker   string          `xml:"Marker"`
	MaxItems int             `xml:"MaxItems"`
}

type tableBriefXML struct {
	Name    string `xml:"Name"`
	TableID string `xml:"TableId"`
	Owner   string `xml:"Owner"`
	Type    string `xml:"Type"`
}

type batchTablesXML struct {
	XMLName xml.Name   `xml:"Tables"`
	Tables  []tableXML `xml:"Table"`
}

func (s *Server) handleTables(w http.ResponseWriter, r *http.Request, p *project) *apiError {
	q := r.URL.Query()
	if r.Method == http.MethodPost { // BatchLoadTables
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		s.drain(r)
		if err != nil {
			return badRequest("InvalidRequest", "reading body: %v", err)
		}
		var req struct {
			Tables []struct {
				Name string `xml:"Name"`
			} `xml:"Table"`
		}
		if err := xml.Unmarshal(body, &req); err != nil {
			return badRequest("InvalidXmlRequest", "%v", err)
		}
		p.mu.RLock()
		defer p.mu.RUnlock()
		var out batchTablesXML
		for _, tr := range req.Tables {
			if t := p.table(tr.Name); t != nil {
				out.Tables = append(out.Tables, s.tableMeta(p, t))
			}
		}
		return writeXML(w, http.StatusOK, out)
	}
	s.drain(r)
	prefix := strings.ToLower(q.Get("name"))
	p.mu.RLock()
	names := make([]string, 0, len(p.tables))
	for k := range p.tables {
		if strings.HasPrefix(k, prefix) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	start, _ := strconv.Atoi(q.Get("marker"))
	max, _ := strconv.Atoi(q.Get("maxitems"))
	if max <= 0 {
		max = 1000
	}
	out := tableListXML{MaxItems: max}
	for i := start; i < len(names) && i < start+max; i++ {
		t := p.tables[names[i]]
		out.Tables = append(out.Tables, tableBriefXML{Name: t.name, TableID: t.id, Owner: s.owner(), Type: "MANAGED_TABLE"})
	}
	if start+max < len(names) {
		out.Marker = strconv.Itoa(start + max)
	}
	p.mu.RUnlock()
	return writeXML(w, http.StatusOK, out)
}

type partitionsXML struct {
	XMLName    xml.Name       `xml:"Partitions"`
	Partitions []partitionXML `xml:"Partition"`
	Marker     string         `xml:"Marker"`
	MaxItems   string         `xml:"MaxItems"`
}

type partitionXML struct {
	Name                 string               `xml:"Name,omitempty"`
	Columns              []partitionColumnXML `xml:"Column"`
	CreationTime         int64                `xml:"CreationTime,omitempty"`
	LastDDLTime          int64                `xml:"LastDDLTime,omitempty"`
	LastModifiedTime     int64                `xml:"LastModifiedTime,omitempty"`
	PartitionSize        int64                `xml:"PartitionSize"`
	PartitionRecordCount int64                `xml:"PartitionRecordCount"`
}

type partitionColumnXML struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:"Value,attr"`
}

type partitionSchemaXML struct {
	XMLName xml.Name `xml:"Partition"`
	Schema  string   `xml:"Schema"`
}

func (s *Server) handleTable(w http.ResponseWriter, r *http.Request, p *project, name string) *apiError {
	s.drain(r)
	q := r.URL.Query()
	p.mu.RLock()
	defer p.mu.RUnlock()
	t := p.table(name)
	if t == nil {
		return tableNotFound(p, name)
	}
	_, listParts := q["partitions"]
	spec, hasSpec := q["partition"]
	switch {
	case listParts:
		var filter []string
		var present []bool
		if hasSpec && spec[0] != "" {
			kvs, err := parseKVSpec(spec[0])
			if err == nil {
				filter, present, err = t.resolveSpec(kvs, false)
			}
			if err != nil {
				return badRequest("InvalidPartitionSpec", "%v", err)
			}
		}
		_, namesOnly := q["name"]
		var out partitionsXML
		if !t.partitioned() {
			return writeXML(w, http.StatusOK, out)
		}
		var matched []*partition
		for _, pt := range t.parts {
			ok := true
			for i := range filter {
				if present[i] && pt.values[i] != filter[i] {
					ok = false
				}
			}
			if ok {
				matched = append(matched, pt)
			}
		}
		start, _ := strconv.Atoi(q.Get("marker"))
		max, _ := strconv.Atoi(q.Get("maxitems"))
		if max <= 0 {
			max = 10000
		}
		out.MaxItems = strconv.Itoa(max)
		for i := start; i < len(matched) && i < start+max; i++ {
			pt := matched[i]
			if namesOnly {
				out.Partitions = append(out.Partitions, partitionXML{Name: t.partName(pt)})
				continue
			}
			rows, size := pt.stats()
			px := partitionXML{
				CreationTime: pt.created.Unix(), LastDDLTime: pt.created.Unix(),
				LastModifiedTime: pt.lastModified.Load() / 1e9, PartitionSize: size, PartitionRecordCount: rows,
			}
			for j, v := range pt.values {
				px.Columns = append(px.Columns, partitionColumnXML{Name: t.partKeys[j].name, Value: v})
			}
			out.Partitions = append(out.Partitions, px)
		}
		if start+max < len(matched) {
			out.Marker = strconv.Itoa(start + max)
		}
		return writeXML(w, http.StatusOK, out)
	case hasSpec:
		kvs, err := parseKVSpec(spec[0])
		var values []string
		if err == nil {
			values, _, err = t.resolveSpec(kvs, true)
		}
		if err != nil {
			return badRequest("InvalidPartitionSpec", "%v", err)
		}
		pt := t.findPartition(values)
		if pt == nil {
			return notFound("NoSuchPartition", "partition %s of table %s.%s does not exist", spec[0], p.name, t.name)
		}
		rows, size := pt.stats()
		var doc any
		if _, ext := q["extended"]; ext {
			doc = map[string]any{"FileNum": len(pt.segs), "IsArchived": false, "IsExstore": false,
				"LifeCycle": t.lifecycle, "PhysicalSize": size, "Reserved": ""}
		} else {
			lm := pt.lastModified.Load() / 1e9
			doc = map[string]any{"createTime": pt.created.Unix(), "lastDDLTime": pt.created.Unix(),
				"lastModifiedTime": lm, "lastAccessTime": lm, "partitionRecordNum": rows, "partitionSize": size}
		}
		b, _ := json.Marshal(doc)
		return writeXML(w, http.StatusOK, partitionSchemaXML{Schema: string(b)})
	default:
		return writeXML(w, http.StatusOK, s.tableMeta(p, t))
	}
}

// SQL instances.

type instance struct {
	id       string
	project  string
	taskName string
	taskType string
	ok       bool
	result   string
	start    time.Time
	end      time.Time
}

const maxInstancesKept = 10000

type instanceRequestXML struct {
	XMLName xml.Name `xml:"Instance"`
	Job     struct {
		Name  string `xml:"Name"`
		Tasks struct {
			Tasks []taskRequestXML `xml:",any"`
		} `xml:"Tasks"`
	} `xml:"Job"`
}

type taskRequestXML struct {
	XMLName xml.Name
	Name    string `xml:"Name"`
	Query   string `xml:"Query"`
	Config  []struct {
		Name  string `xml:"Name"`
		Value string `xml:"Value"`
	} `xml:"Config>Property"`
}

// settings returns the task's "settings" property (the SDK's hints).
func (t *taskRequestXML) settings() map[string]string {
	out := map[string]string{}
	for _, p := range t.Config {
		if p.Name == "settings" {
			_ = json.Unmarshal([]byte(p.Value), &out)
		}
	}
	return out
}

func (s *Server) handleSQL(w http.ResponseWriter, r *http.Request, p *project) *apiError {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	s.drain(r)
	if err != nil {
		return badRequest("InvalidRequest", "reading body: %v", err)
	}
	var req instanceRequestXML
	if err := xml.Unmarshal(body, &req); err != nil {
		return badRequest("InvalidXmlRequest", "instance request: %v", err)
	}
	if len(req.Job.Tasks.Tasks) != 1 {
		return badRequest("InvalidXmlRequest", "an instance must hold exactly one task, got %d", len(req.Job.Tasks.Tasks))
	}
	task := req.Job.Tasks.Tasks[0]
	inst := &instance{id: newInstanceID(), project: p.name, taskName: task.Name, taskType: task.XMLName.Local, start: time.Now()}
	if task.XMLName.Local != "SQL" {
		inst.result = fmt.Sprintf("ODPS-0130071:Semantic analysis exception - %s tasks are not supported by the emulator (only SQL DDL)", task.XMLName.Local)
	} else if err := s.execSQL(p, task.Query, task.settings()); err != nil {
		inst.result = err.Error()
		s.log.Debug("odpsemu: SQL failed", "project", p.name, "sql", task.Query, "err", err)
	} else {
		inst.ok, inst.result = true, "OK"
	}
	inst.end = time.Now()
	s.instMu.Lock()
	s.instances[inst.id] = inst
	s.instOrder = append(s.instOrder, inst.id)
	if len(s.instOrder) > maxInstancesKept {
		delete(s.instances, s.instOrder[0])
		s.instOrder = s.instOrder[1:]
	}
	s.instMu.Unlock()
	// Asynchronous shape (201 + Location), like the real service; the SDK
	// then polls, and the instance is already terminated.
	w.Header().Set("Location", fmt.Sprintf("http://%s/api/projects/%s/instances/%s", s.hostFor(r), p.name, inst.id))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func newInstanceID() string {
	id := newID()
	return id[:14] + fmt.Sprintf("%03d", time.Now().Nanosecond()/1e6) + id[14:24]
}

type instanceStatusXML struct {
	XMLName xml.Name `xml:"Instance"`
	Status  string   `xml:"Status"`
}

type taskStatusXML struct {
	Type      string `xml:"Type,attr"`
	Name      string `xml:"Name"`
	StartTime string `xml:"StartTime"`
	EndTime   string `xml:"EndTime"`
	Status    string `xml:"Status"`
}

type taskResultXML struct {
	Type   string `xml:"Type,attr"`
	Name   string `xml:"Name"`
	Status string `xml:"Status"`
	Result struct {
		Format  string `xml:"Format,attr"`
		Content string `xml:",cdata"`
	} `xml:"Result"`
}

type instanceTasksXML struct {
	XMLName xml.Name `xml:"Instance"`
	Tasks   []any    `xml:"Tasks>Task"`
}

func (s *Server) handleInstance(w http.ResponseWriter, r *http.Request, p *project, id string) *apiError {
	s.drain(r)
	s.instMu.Lock()
	inst := s.instances[id]
	s.instMu.Unlock()
	if inst == nil || !strings.EqualFold(inst.project, p.name) {
		return notFound("NoSuchObject", "instance %s does not exist in project %s (the emulator keeps instances in memory only)", id, p.name)
	}
	if r.Method == http.MethodPut { // terminate: already terminated
		w.WriteHeader(http.StatusOK)
		return nil
	}
	status := "Success"
	if !inst.ok {
		status = "Failed"
	}
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	switch {
	case has("taskstatus"):
		return writeXML(w, http.StatusOK, instanceTasksXML{Tasks: []any{taskStatusXML{
			Type: inst.taskType, Name: inst.taskName, StartTime: gmt(inst.start), EndTime: gmt(inst.end), Status: status,
		}}})
	case has("result"):
		tr := taskResultXML{Type: inst.taskType, Name: inst.taskName, Status: status}
		tr.Result.Format = "text"
		tr.Result.Content = inst.result
		return writeXML(w, http.StatusOK, instanceTasksXML{Tasks: []any{tr}})
	case has("instanceprogress"):
		return writeXML(w, http.StatusOK, struct {
			XMLName xml.Name `xml:"Progress"`
		}{})
	case has("instancesummary"):
		return writeJSON(w, map[string]any{"Instance": map[string]string{"JsonSummary": "{}", "Summary": ""}})
	case has("instancedetail"), has("instancequota"), has("cached"):
		return writeJSON(w, map[string]any{})
	default:
		w.Header().Set("x-odps-owner", s.owner())
		w.Header().Set("x-odps-start-time", gmt(inst.start))
		w.Header().Set("x-odps-end-time", gmt(inst.end))
		return writeXML(w, http.StatusOK, instanceStatusXML{Status: "Terminated"})
	}
}
