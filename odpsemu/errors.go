package odpsemu

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// apiError is an error reply in MaxCompute's shape: XML
// <Error><Code/><Message/><RequestId/><HostId/></Error> on the service API,
// JSON {"Code","Message","RequestId"} on the Tunnel. Both
// parse into the SDK's restclient.ErrorMessage.
type apiError struct {
	status   int
	code     string
	msg      string
	headers  map[string]string
	internal bool // an emulator failure worth an error log line
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

func internalError(err error) *apiError {
	return &apiError{status: 500, code: "InternalServerError", msg: "emulator internal error: " + err.Error(), internal: true}
}

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{status: 400, code: code, msg: fmt.Sprintf(format, args...)}
}

func notFound(code, format string, args ...any) *apiError {
	return &apiError{status: 404, code: code, msg: fmt.Sprintf(format, args...)}
}

func unsupportedRequest(r *http.Request) *apiError {
	msg := fmt.Sprintf("%s %s is not supported by the emulator", r.Method, r.URL.Path)
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		msg += " (the ODPS service API is served under /api, the Tunnel API at the root)"
	}
	return &apiError{status: 400, code: "NotSupported", msg: msg}
}

type xmlError struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

type jsonError struct {
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	RequestID string `json:"RequestId"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, rt route, reqID string, e *apiError) {
	s.drain(r)
	for k, v := range e.headers {
		w.Header().Set(k, v)
	}
	var body []byte
	if rt.service {
		b, _ := xml.Marshal(xmlError{Code: e.code, Message: e.msg, RequestID: reqID, HostID: "odps-emulator"})
		body = append([]byte(xml.Header), b...)
		w.Header().Set("Content-Type", "application/xml")
	} else {
		body, _ = json.Marshal(jsonError{Code: e.code, Message: e.msg, RequestID: reqID})
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
	if e.internal {
		s.log.Error("odpsemu: internal error", "method", r.Method, "path", r.URL.Path, "err", e.msg)
	}
}
