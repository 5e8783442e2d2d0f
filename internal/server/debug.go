package server

import (
	"net/http"
	"net/http/pprof"
)

// debugHandler serves Go's runtime profiles on the optional loopback listener
// (http.debugAddr), for measuring herald under load:
//
//	go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=20
//
// It is a separate listener, never the main one, so profiles (and their cost) are not
// reachable from the network; config.Validate insists on a loopback address.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}
