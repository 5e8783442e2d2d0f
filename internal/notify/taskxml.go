package notify

import (
	"encoding/xml"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// taskXML is the Task element as written; attribute and child order is VCD's.
type taskXML struct {
	XMLName          xml.Name       `xml:"http://www.vmware.com/vcloud/v1.5 Task"`
	Status           string         `xml:"status,attr,omitempty"`
	StartTime        string         `xml:"startTime,attr,omitempty"`
	OperationName    string         `xml:"operationName,attr,omitempty"`
	Operation        string         `xml:"operation,attr,omitempty"`
	ExpiryTime       string         `xml:"expiryTime,attr,omitempty"`
	EndTime          string         `xml:"endTime,attr,omitempty"`
	CancelRequested  bool           `xml:"cancelRequested,attr"`
	Name             string         `xml:"name,attr,omitempty"`
	ID               string         `xml:"id,attr,omitempty"`
	Href             string         `xml:"href,attr,omitempty"`
	Type             string         `xml:"type,attr"`
	ServiceNamespace string         `xml:"serviceNamespace,attr,omitempty"`
	Links            []linkXML      `xml:"Link"`
	Description      string         `xml:"Description,omitempty"`
	Owner            *Reference     `xml:"Owner"`
	Error            *taskErrorXML  `xml:"Error"`
	User             *Reference     `xml:"User"`
	Organization     *Reference     `xml:"Organization"`
	Progress         int            `xml:"Progress"`
	Details          string         `xml:"Details,omitempty"`
	Result           *taskResultXML `xml:"Result"`
}

type linkXML struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Href string `xml:"href,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Name string `xml:"name,attr,omitempty"`
}

type taskErrorXML struct {
	Message                 string `xml:"message,attr"`
	MajorErrorCode          string `xml:"majorErrorCode,attr"`
	MinorErrorCode          string `xml:"minorErrorCode,attr"`
	VendorSpecificErrorCode string `xml:"vendorSpecificErrorCode,attr,omitempty"`
}

type taskResultXML struct {
	ResultContent string `xml:"ResultContent"`
}

func xmlTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(EventTimeLayout)
}

// AppendXML appends the Task XML element of t to b (media type MediaTaskXML, without
// an XML declaration): attributes status, startTime, operationName, operation,
// expiryTime, endTime, cancelRequested, name, id, href, type, serviceNamespace (empty
// ones left out; times as xs:dateTime in UTC, EventTimeLayout), then the children
// Link, Description, Owner, Error, User, Organization, Progress, Details, Result
// (absent ones left out; Progress always present).
func (t *Task) AppendXML(b []byte) ([]byte, error) {
	x := taskXML{
		Status: t.Status, StartTime: xmlTime(t.StartTime), OperationName: t.OperationName,
		Operation: t.Operation, ExpiryTime: xmlTime(t.ExpiryTime), EndTime: xmlTime(t.EndTime),
		CancelRequested: t.CancelRequested, Name: t.Name, ID: t.ID, Href: t.Href,
		Type: MediaTaskXML, ServiceNamespace: t.ServiceNamespace, Description: t.Description,
		Owner: t.Owner, User: t.User, Organization: t.Organization, Progress: t.Progress,
		Details: t.Details,
	}
	for _, l := range t.Links {
		x.Links = append(x.Links, linkXML{Rel: l.Rel, Href: l.Href, Type: l.Type, Name: l.Name})
	}
	if e := t.Error; e != nil {
		x.Error = &taskErrorXML{Message: e.Message, MajorErrorCode: strconv.Itoa(e.MajorErrorCode),
			MinorErrorCode: e.MinorErrorCode, VendorSpecificErrorCode: e.VendorSpecificErrorCode}
	}
	if t.Result != nil {
		x.Result = &taskResultXML{ResultContent: t.Result.ResultContent}
	}
	out, err := xml.Marshal(&x)
	if err != nil {
		return b, vcd.Wrap(vcd.CodeInternal, err, "encode Task XML")
	}
	return append(b, out...), nil
}

// taskInXML is a producer's Task element (VCD-COMPAT §8.4), in VCD's namespace or
// none. Elements and attributes herald sets itself are ignored.
type taskInXML struct {
	XMLName          xml.Name   `xml:"Task"`
	Name             string     `xml:"name,attr"`
	Status           string     `xml:"status,attr"`
	Operation        string     `xml:"operation,attr"`
	OperationName    string     `xml:"operationName,attr"`
	ServiceNamespace string     `xml:"serviceNamespace,attr"`
	Owner            *Reference `xml:"Owner"`
	User             *Reference `xml:"User"`
	Progress         *string    `xml:"Progress"`
	Details          *string    `xml:"Details"`
	Error            *struct {
		Message                 string `xml:"message,attr"`
		MajorErrorCode          string `xml:"majorErrorCode,attr"`
		MinorErrorCode          string `xml:"minorErrorCode,attr"`
		VendorSpecificErrorCode string `xml:"vendorSpecificErrorCode,attr"`
	} `xml:"Error"`
	Result *struct {
		ResultContent string `xml:"ResultContent"`
	} `xml:"Result"`
}

// DecodeTaskXML decodes a producer's Task element (POST /api/tasksList/{org},
// PUT /api/task/{id}; VCD-COMPAT §8.4) and validates it (Task.Validate). Only the
// producer's fields are set: Name, Status, Operation, OperationName,
// ServiceNamespace, Owner, User, Progress, Details, Error and Result; the caller
// merges them into the stored task. Errors have code vcd.CodeInvalid.
func DecodeTaskXML(b []byte) (Task, error) {
	var x taskInXML
	if err := xml.Unmarshal(b, &x); err != nil {
		return Task{}, vcd.Errorf(vcd.CodeInvalid, "malformed Task XML: %v", err)
	}
	t := Task{Name: x.Name, Status: x.Status, Operation: x.Operation, OperationName: x.OperationName,
		ServiceNamespace: x.ServiceNamespace, Owner: x.Owner, User: x.User}
	if x.Progress != nil {
		p, err := strconv.Atoi(strings.TrimSpace(*x.Progress))
		if err != nil {
			return Task{}, vcd.Errorf(vcd.CodeInvalid, "invalid Task: Progress %q is not an integer", *x.Progress)
		}
		t.Progress = p
	}
	if x.Details != nil {
		t.Details = *x.Details
	}
	if e := x.Error; e != nil {
		major := 0
		if s := strings.TrimSpace(e.MajorErrorCode); s != "" {
			var err error
			if major, err = strconv.Atoi(s); err != nil {
				return Task{}, vcd.Errorf(vcd.CodeInvalid, "invalid Task: Error majorErrorCode %q is not an integer", e.MajorErrorCode)
			}
		}
		t.Error = &TaskError{Message: e.Message, MajorErrorCode: major, MinorErrorCode: e.MinorErrorCode,
			VendorSpecificErrorCode: e.VendorSpecificErrorCode}
	}
	if x.Result != nil {
		t.Result = &TaskResult{ResultContent: x.Result.ResultContent}
	}
	return t, t.Validate()
}

// taskInJSON is a producer's Task JSON, in VCD's naming (the keys of AppendJSON).
type taskInJSON struct {
	Name             string     `json:"name"`
	Status           string     `json:"status"`
	Operation        string     `json:"operation"`
	OperationName    string     `json:"operationName"`
	ServiceNamespace string     `json:"serviceNamespace"`
	Owner            *Reference `json:"owner"`
	User             *Reference `json:"user"`
	Progress         *int       `json:"progress"`
	Details          *string    `json:"details"`
	Error            *struct {
		Message                 string  `json:"message"`
		MajorErrorCode          int     `json:"majorErrorCode"`
		MinorErrorCode          string  `json:"minorErrorCode"`
		VendorSpecificErrorCode *string `json:"vendorSpecificErrorCode"`
	} `json:"error"`
	Result *struct {
		ResultContent string `json:"resultContent"`
	} `json:"result"`
}

// DecodeTaskJSON decodes a producer's Task JSON (VCD-COMPAT §8.4), a full Task as
// AppendJSON writes it or only the producer's keys, and validates it (Task.Validate).
// It sets the same fields as DecodeTaskXML; null means absent. Errors have code
// vcd.CodeInvalid.
func DecodeTaskJSON(b []byte) (Task, error) {
	var x taskInJSON
	if err := decodeOneJSON(b, &x, "Task"); err != nil {
		return Task{}, err
	}
	t := Task{Name: x.Name, Status: x.Status, Operation: x.Operation, OperationName: x.OperationName,
		ServiceNamespace: x.ServiceNamespace, Owner: x.Owner, User: x.User}
	if x.Progress != nil {
		t.Progress = *x.Progress
	}
	if x.Details != nil {
		t.Details = *x.Details
	}
	if e := x.Error; e != nil {
		t.Error = &TaskError{Message: e.Message, MajorErrorCode: e.MajorErrorCode, MinorErrorCode: e.MinorErrorCode}
		if e.VendorSpecificErrorCode != nil {
			t.Error.VendorSpecificErrorCode = *e.VendorSpecificErrorCode
		}
	}
	if x.Result != nil {
		t.Result = &TaskResult{ResultContent: x.Result.ResultContent}
	}
	return t, t.Validate()
}
