package odpsemu

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
)

// Signature checking. Only AK-based accounts are recognised:
// "ODPS <id>:<sig>" (v2) and "ODPS <id>/<date>/<region>/odps/<corp>_v4_request:<sig>"
// (v4). STS tokens and application headers are accepted without checks.

func unauthorized(code, msg string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: code, msg: msg}
}

func (s *Server) authenticate(r *http.Request, rt route) *apiError {
	if s.cfg.AccessID == "" && s.cfg.AccessKey == "" {
		return nil
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		if r.Header.Get("x-odps-bearer-token") != "" {
			return unauthorized("Unauthorized", "ODPS-0410040:Bearer tokens are not accepted by the emulator; sign requests with an AccessKey")
		}
		return unauthorized("Unauthorized", "ODPS-0410040:Authorization header is missing")
	}
	rest, ok := strings.CutPrefix(auth, "ODPS ")
	if !ok {
		return unauthorized("Unauthorized", "ODPS-0410040:Unsupported Authorization scheme")
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return unauthorized("Unauthorized", "ODPS-0410040:Malformed Authorization header")
	}
	cred, sig := rest[:i], rest[i+1:]
	parts := strings.Split(cred, "/")
	if parts[0] != s.cfg.AccessID {
		return unauthorized("InvalidAccessKeyId", "ODPS-0410051:Invalid credentials - accessKeyId not found: "+parts[0])
	}
	var key []byte
	switch len(parts) {
	case 1:
		key = []byte(s.cfg.AccessKey)
	case 5:
		// id/date/region/odps/<corp>_v4_request
		corp, ok := strings.CutSuffix(parts[4], "_v4_request")
		if !ok || parts[3] != "odps" {
			return unauthorized("Unauthorized", "ODPS-0410040:Malformed v4 credential")
		}
		k := hmacSHA256([]byte(corp+"_v4"+s.cfg.AccessKey), parts[1])
		k = hmacSHA256(k, parts[2])
		k = hmacSHA256(k, "odps")
		key = hmacSHA256(k, corp+"_v4_request")
	default:
		return unauthorized("Unauthorized", "ODPS-0410040:Malformed credential")
	}
	path := r.URL.Path
	if rt.service {
		path = strings.TrimPrefix(path, "/api")
	}
	// The SDK strips the endpoint's own path; with an endpoint ending in "/"
	// that leaves no leading slash, so accept both forms.
	for _, p := range []string{path, strings.TrimPrefix(path, "/")} {
		want := signV2(key, canonicalString(r, p))
		if hmac.Equal([]byte(want), []byte(sig)) {
			return s.checkDate(r)
		}
	}
	return unauthorized("SignatureNotMatch", "ODPS-0410042:Invalid signature value - User signature does not match")
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func signV2(key []byte, canonical string) string {
	h := hmac.New(sha1.New, key)
	h.Write([]byte(canonical))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// canonicalString rebuilds the string the SDK signs.
func canonicalString(r *http.Request, path string) string {
	var sb strings.Builder
	sb.WriteString(r.Method + "\n")
	sb.WriteString(r.Header.Get("Content-Md5") + "\n")
	sb.WriteString(r.Header.Get("Content-Type") + "\n")
	sb.WriteString(r.Header.Get("Date") + "\n")
	var keys []string
	for k := range r.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-odps-") {
			keys = append(keys, lk)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		sb.WriteString(k + ":" + strings.Join(r.Header.Values(k), ",") + "\n")
	}
	sb.WriteString(path)
	q := r.URL.Query()
	if len(q) > 0 {
		qk := make([]string, 0, len(q))
		for k := range q {
			qk = append(qk, k)
		}
		sort.Strings(qk)
		sb.WriteByte('?')
		for i, k := range qk {
			if i > 0 {
				sb.WriteByte('&')
			}
			sb.WriteString(k)
			if v := q.Get(k); v != "" {
				sb.WriteString("=" + v)
			}
		}
	}
	return sb.String()
}
