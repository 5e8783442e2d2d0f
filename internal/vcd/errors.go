package vcd

import (
	"errors"
	"fmt"
)

// Code classifies an error for clients. Each adapter maps it to its protocol in one place:
// api to an HTTP status and VCD minorErrorCode, broker to an MQTT reason code.
type Code string

// Error codes. The comment gives the HTTP status the api package answers with.
const (
	CodeInvalid          Code = "invalid"            // 400 BAD_REQUEST
	CodeUnauthorized     Code = "unauthorized"       // 401 NOT_AUTHENTICATED: no, bad, expired or revoked credentials
	CodeForbidden        Code = "forbidden"          // 403 ACCESS_TO_RESOURCE_IS_FORBIDDEN, also for unknown secured entities
	CodeNotFound         Code = "not_found"          // 404 NOT_FOUND: unknown path
	CodeMethodNotAllowed Code = "method_not_allowed" // 405 METHOD_NOT_ALLOWED
	CodeNotAcceptable    Code = "not_acceptable"     // 406 NOT_ACCEPTABLE
	CodeDuplicate        Code = "duplicate"          // 409 DUPLICATE_NAME
	CodeBusy             Code = "busy"               // 409 BUSY_ENTITY: the entity's state forbids the operation
	CodeConflict         Code = "conflict"           // 409 BUSY_ENTITY: a concurrent change won; retry
	CodeUnsupportedMedia Code = "unsupported_media"  // 415 UNSUPPORTED_MEDIA_TYPE
	CodeTooManyRequests  Code = "too_many_requests"  // 429 TOO_MANY_REQUESTS
	CodeUnavailable      Code = "unavailable"        // 503: the store cannot accept writes now
	CodeInternal         Code = "internal"           // 500 INTERNAL_SERVER_ERROR; details only in the server log
)

// Error is an error whose Message is safe to show to a client. Err, the cause, is
// logged but never shown.
type Error struct {
	Code    Code
	Message string
	Err     error
}

// Errorf returns an *Error with the given code and a formatted client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message whose cause is err.
func Wrap(code Code, err error, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, vcd.ErrForbidden) works for any forbidden error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Err == nil && t.Code == e.Code
}

// Sentinels for errors.Is: each matches every *Error with its code.
var (
	ErrInvalid      = &Error{Code: CodeInvalid}
	ErrUnauthorized = &Error{Code: CodeUnauthorized}
	ErrForbidden    = &Error{Code: CodeForbidden}
	ErrNotFound     = &Error{Code: CodeNotFound}
	ErrDuplicate    = &Error{Code: CodeDuplicate}
	ErrBusy         = &Error{Code: CodeBusy}
	ErrConflict     = &Error{Code: CodeConflict}
	ErrUnavailable  = &Error{Code: CodeUnavailable}
)

// CodeOf returns the code of the first *Error in err's chain, or CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// MessageOf returns the client-safe message of the first *Error in err's chain, or a
// generic text for any other error.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "An internal error occurred."
}
