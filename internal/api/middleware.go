package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// Response and request headers of VCD-COMPAT §11.3.
const (
	HeaderRequestID       = "X-VMWARE-VCLOUD-REQUEST-ID"
	HeaderClientRequestID = "X-VMWARE-VCLOUD-CLIENT-REQUEST-ID"
	HeaderExecutionTime   = "X-VMWARE-VCLOUD-REQUEST-EXECUTION-TIME"
)

// Log attribute keys.
const (
	logKeyRequestID = "request_id"
	logKeyMethod    = "method"
	logKeyPath      = "path"
	logKeyStatus    = "status"
	logKeyDuration  = "duration"
	logKeyError     = "error"
)

type ctxKey struct{}

// reqInfo is the per-request state the middleware creates and the route wrapper fills in.
type reqInfo struct {
	id      string
	logger  *slog.Logger
	version string // negotiated API version; empty until negotiated
	session string // the authenticated caller's login session (bare id), for its events
}

func infoOf(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(ctxKey{}).(*reqInfo); ok {
		return ri
	}
	return nil
}

// RequestID returns the request id Middleware gave r, or "" outside Middleware.
func RequestID(r *http.Request) string {
	if ri := infoOf(r); ri != nil {
		return ri.id
	}
	return ""
}

// Logger returns the request-scoped logger (with request_id) Middleware gave r, or the
// API's logger outside Middleware.
func (a *API) Logger(r *http.Request) *slog.Logger {
	if ri := infoOf(r); ri != nil {
		return ri.logger
	}
	return a.logger
}

// Middleware gives each request an id, sent as X-VMWARE-VCLOUD-REQUEST-ID on every
// response (errors and WebSocket upgrades included), a request-scoped logger, and the
// X-VMWARE-VCLOUD-REQUEST-EXECUTION-TIME header. A valid
// X-VMWARE-VCLOUD-CLIENT-REQUEST-ID (1–128 letters, digits and '-') prefixes the id
// (VCD-COMPAT §11.3). The server wraps the /messaging/mqtt handler in it too.
func (a *API) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := vcd.NewUUID()
		if c := r.Header.Get(HeaderClientRequestID); validClientRequestID(c) {
			id = c + "-" + id
		}
		ri := &reqInfo{id: id, logger: a.logger.With(logKeyRequestID, id)}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
		w.Header().Set(HeaderRequestID, id)
		rw := &responseWriter{ResponseWriter: w, start: start}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				// Never panic on input; if a handler does, answer 500 and keep serving.
				err := fmt.Errorf("panic: %v", v)
				if !rw.wroteHeader {
					a.writeError(rw, r, err)
				} else {
					ri.logger.Error("handler panicked after writing", logKeyError, err)
				}
			}
			elapsed := time.Since(start)
			ri.logger.Debug("request", logKeyMethod, r.Method, logKeyPath, r.URL.Path,
				logKeyStatus, rw.status, logKeyDuration, elapsed)
			if a.cfg.Observer != nil {
				status := rw.status
				if status == 0 {
					status = http.StatusOK // nothing written: net/http sends 200
				}
				a.cfg.Observer.Request(r.Method, status, elapsed)
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

func validClientRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// responseWriter records the status and sets the execution-time header just before the
// header is written. It supports Flush, Hijack (WebSocket upgrades) and Unwrap.
type responseWriter struct {
	http.ResponseWriter
	start       time.Time
	status      int
	wroteHeader bool
}

func (rw *responseWriter) WriteHeader(code int) {
	if rw.wroteHeader {
		return
	}
	rw.wroteHeader = true
	rw.status = code
	rw.Header().Set(HeaderExecutionTime, strconv.FormatInt(time.Since(rw.start).Milliseconds(), 10))
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *responseWriter) Write(b []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	return rw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController and WebSocket libraries reach the original writer.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// Flush implements http.Flusher when the underlying writer does.
func (rw *responseWriter) Flush() {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if f, ok := rw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack implements http.Hijacker when the underlying writer does. The one who
// hijacks writes the response (a WebSocket upgrade's 101) and is to send the
// headers set so far with it, the execution time among them.
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := rw.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijack not supported")
	}
	if !rw.wroteHeader {
		rw.wroteHeader = true
		rw.status = http.StatusSwitchingProtocols
		rw.Header().Set(HeaderExecutionTime, strconv.FormatInt(time.Since(rw.start).Milliseconds(), 10))
	}
	return h.Hijack()
}
