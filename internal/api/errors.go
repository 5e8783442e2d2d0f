package api

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/heraldmq/herald/internal/vcd"
)

// statusOf maps an error code to the HTTP status and VCD minorErrorCode of
// VCD-COMPAT §11.2.
func statusOf(code vcd.Code) (int, string) {
	switch code {
	case vcd.CodeInvalid:
		return http.StatusBadRequest, "BAD_REQUEST"
	case vcd.CodeUnauthorized:
		return http.StatusUnauthorized, "NOT_AUTHENTICATED"
	case vcd.CodeForbidden:
		return http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN"
	case vcd.CodeNotFound:
		return http.StatusNotFound, "NOT_FOUND"
	case vcd.CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"
	case vcd.CodeNotAcceptable:
		return http.StatusNotAcceptable, "NOT_ACCEPTABLE"
	case vcd.CodeDuplicate:
		return http.StatusConflict, "DUPLICATE_NAME"
	case vcd.CodeBusy, vcd.CodeConflict:
		return http.StatusConflict, "BUSY_ENTITY"
	case vcd.CodeUnsupportedMedia:
		return http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"
	case vcd.CodeTooManyRequests:
		return http.StatusTooManyRequests, "TOO_MANY_REQUESTS"
	case vcd.CodeUnavailable:
		return http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE"
	}
	return http.StatusInternalServerError, "INTERNAL_SERVER_ERROR"
}

// openAPIError is the OpenAPI error body (VCD-COMPAT §11.1).
type openAPIError struct {
	MinorErrorCode string  `json:"minorErrorCode"`
	Message        string  `json:"message"`
	StackTrace     *string `json:"stackTrace"`
}

// legacyErrorXML is the legacy XML error body.
type legacyErrorXML struct {
	XMLName        xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 Error"`
	MajorErrorCode int      `xml:"majorErrorCode,attr"`
	MinorErrorCode string   `xml:"minorErrorCode,attr"`
	Message        string   `xml:"message,attr"`
	StackTrace     string   `xml:"stackTrace,attr"`
}

// legacyErrorJSON is the legacy JSON error body.
type legacyErrorJSON struct {
	MajorErrorCode          int     `json:"majorErrorCode"`
	MinorErrorCode          string  `json:"minorErrorCode"`
	Message                 string  `json:"message"`
	VendorSpecificErrorCode *string `json:"vendorSpecificErrorCode"`
	StackTrace              *string `json:"stackTrace"`
}

// oauthError is an RFC 6749 §5.2 error of the token endpoint; it is always 400.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *oauthError) Error() string { return "oauth: " + e.Code + ": " + e.Description }

// WriteError writes err as the VCD error response for r's path: OpenAPI JSON on
// /cloudapi, /oauth/*/register and anything outside /api (the /messaging/mqtt upgrade
// included), legacy XML or JSON by Accept on /api, and RFC 6749 bodies for grant errors
// on /oauth/*/token. The status comes from vcd.CodeOf(err). For an internal error the
// cause is logged and the client sees a generic message. It must be called before
// anything else is written to w.
func (a *API) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	a.writeError(w, r, err)
}

// writeError is the one place errors become HTTP responses.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	h := w.Header()
	h.Del("Content-Length")

	var oe *oauthError
	if errors.As(err, &oe) {
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(oe)
		return
	}

	code := vcd.CodeOf(err)
	status, minor := statusOf(code)
	msg := vcd.MessageOf(err)
	logger := a.Logger(r)
	if status >= 500 {
		// The cause goes to the log only; the client sees a generic message.
		logger.Error("request failed", logKeyMethod, r.Method, logKeyPath, r.URL.Path, logKeyError, err)
		if code == vcd.CodeInternal {
			msg = "An internal error occurred."
		}
	} else {
		logger.Debug("request refused", logKeyStatus, status, logKeyError, err)
	}
	msg = "[ " + RequestID(r) + " ] " + msg

	kind := kindOf(r.URL.Path)
	if kind != kindLegacy {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(openAPIError{MinorErrorCode: minor, Message: msg})
		return
	}
	version := defaultVersion
	if ri := infoOf(r); ri != nil && ri.version != "" {
		version = ri.version
	}
	format := requestFormat(kind, r.Header.Get("Accept"))
	if code == vcd.CodeNotAcceptable {
		format = formatXML // VCD-COMPAT §1.3: the legacy XML error
	}
	if format == formatJSON {
		h.Set("Content-Type", "application/vnd.vmware.vcloud.error+json;version="+version)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(legacyErrorJSON{MajorErrorCode: status, MinorErrorCode: minor, Message: msg})
		return
	}
	h.Set("Content-Type", "application/vnd.vmware.vcloud.error+xml;version="+version)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(legacyErrorXML{MajorErrorCode: status, MinorErrorCode: minor, Message: msg})
}
