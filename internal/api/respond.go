package api

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/heraldmq/herald/internal/vcd"
)

// call is what the route wrapper hands a handler: the negotiated response format and
// version and, on authenticated routes, the caller.
type call struct {
	p       vcd.Principal
	format  string // formatJSON or formatXML
	version string
}

// major returns the major number of the negotiated version.
func (c *call) major() int { return versionMajor(c.version) }

// handlerFunc is an endpoint: it writes a success response or returns an error, which
// the route wrapper hands to writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// routeOpts select what the route wrapper does before the handler runs.
type routeOpts int

const (
	optAuth          routeOpts = 1 << iota // require credentials (VCD-COMPAT §2.4)
	optIgnoreVersion                       // Accept's version is ignored (/api/versions, /oauth)
)

// route registers fn under pattern (a Go 1.22 ServeMux pattern with a method).
func (a *API) route(pattern string, opts routeOpts, fn handlerFunc) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := a.serve(w, r, opts, fn); err != nil {
			a.writeError(w, r, err)
		}
	})
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, opts routeOpts, fn handlerFunc) error {
	kind := kindOf(r.URL.Path)
	format, version, err := negotiate(kind, r.Header.Get("Accept"), opts&optIgnoreVersion != 0 || kind == kindOAuth)
	if err != nil {
		return err
	}
	if ri := infoOf(r); ri != nil {
		ri.version = version
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
	c := &call{format: format, version: version}
	if opts&optAuth != 0 {
		if c.p, err = a.authenticate(r); err != nil {
			return err
		}
		if ri := infoOf(r); ri != nil {
			ri.session = c.p.SessionID
		}
	}
	return fn(w, r, c)
}

// writeJSON writes v as an OpenAPI JSON response naming the negotiated version.
func writeJSON(w http.ResponseWriter, status int, c *call, v any) error {
	return writeBody(w, status, "application/json;version="+c.version, v, json.Marshal)
}

// writeXML writes v as a legacy XML response of the given VCD media type
// (e.g. "session" for application/vnd.vmware.vcloud.session+xml).
func writeXML(w http.ResponseWriter, status int, c *call, mediaType string, v any) error {
	return writeBody(w, status, "application/vnd.vmware.vcloud."+mediaType+"+xml;version="+c.version, v,
		func(v any) ([]byte, error) {
			b, err := xml.Marshal(v)
			if err != nil {
				return nil, err
			}
			return append([]byte(xml.Header), b...), nil
		})
}

// writeLegacy writes a legacy resource as XML or JSON, as negotiated.
func writeLegacy(w http.ResponseWriter, c *call, mediaType string, xmlValue, jsonValue any) error {
	if c.format == formatJSON {
		return writeBody(w, http.StatusOK, "application/vnd.vmware.vcloud."+mediaType+"+json;version="+c.version,
			jsonValue, json.Marshal)
	}
	return writeXML(w, http.StatusOK, c, mediaType, xmlValue)
}

// writeBody encodes v before writing anything, so that an encoding failure can still
// become a 500.
func writeBody(w http.ResponseWriter, status int, contentType string, v any, marshal func(any) ([]byte, error)) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// decodeJSON reads r's JSON body into v. A body of another media type is 415; a body
// over the limit, or malformed, is 400.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
			return vcd.Errorf(vcd.CodeUnsupportedMedia, "The request body must be application/json.")
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return vcd.Errorf(vcd.CodeInvalid, "The request body is empty.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &vcd.Error{Code: vcd.CodeInvalid, Message: "The request body is not valid JSON for this resource.", Err: err}
	}
	return nil
}

// bodyError classifies a failure to read a request body.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return vcd.Errorf(vcd.CodeInvalid, "The request body exceeds the limit of %d bytes.", mbe.Limit)
	}
	return &vcd.Error{Code: vcd.CodeInvalid, Message: "The request body could not be read.", Err: err}
}

// entityRef is VCD's {"name","id"} reference.
type entityRef struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}
