package api

import (
	"cmp"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/fiql"
	"github.com/heraldmq/herald/internal/vcd"
)

// Media types of query results (VCD-COMPAT §10.2).
const (
	mtQueryRecords = "application/vnd.vmware.vcloud.query.records+xml"
	// queryTimeLayout is the form of record dates: UTC with milliseconds and Z.
	queryTimeLayout = "2006-01-02T15:04:05.000Z07:00"
)

// taskRow is one TaskRecord of a query result; its fields are the record's attributes.
type taskRow struct {
	href, id, name, operationFull, status string
	progress                              int
	start, end                            time.Time
	org, orgName, ownerName               string
	serviceNamespace                      string
	object, objectType, objectName        string
}

// taskQueryFields are the attributes a task query may filter and sort on.
var taskQueryFields = fiql.Fields{
	"href": fiql.KindText, "id": fiql.KindID, "name": fiql.KindText, "operationFull": fiql.KindText,
	"status": fiql.KindText, "progress": fiql.KindNumber, "startDate": fiql.KindTime, "endDate": fiql.KindTime,
	"org": fiql.KindText, "orgName": fiql.KindText, "ownerName": fiql.KindText,
	"serviceNamespace": fiql.KindText, "object": fiql.KindText, "objectType": fiql.KindText,
	"objectName": fiql.KindText,
}

// value returns the row's value of a field of taskQueryFields; empty optional values
// are null.
func (t *taskRow) value(field string) fiql.Value {
	text := func(s string) fiql.Value {
		if s == "" {
			return fiql.Null
		}
		return fiql.Text(s)
	}
	switch field {
	case "href":
		return text(t.href)
	case "id":
		return text(t.id)
	case "name":
		return text(t.name)
	case "operationFull":
		return text(t.operationFull)
	case "status":
		return text(t.status)
	case "progress":
		return fiql.Number(float64(t.progress))
	case "startDate":
		return fiql.Time(t.start)
	case "endDate":
		if t.end.IsZero() {
			return fiql.Null
		}
		return fiql.Time(t.end)
	case "org":
		return text(t.org)
	case "orgName":
		return text(t.orgName)
	case "ownerName":
		return text(t.ownerName)
	case "serviceNamespace":
		return text(t.serviceNamespace)
	case "object":
		return text(t.object)
	case "objectType":
		return text(t.objectType)
	case "objectName":
		return text(t.objectName)
	}
	return fiql.Null
}

func newTaskRow(base string, rec TaskRecord, d taskData) taskRow {
	row := taskRow{href: base + "/api/task/" + rec.ID, id: vcd.URN(vcd.KindTask, rec.ID), name: d.Name,
		operationFull: d.Operation, status: d.Status, progress: d.Progress, start: d.Start, end: d.End,
		org: base + "/api/org/" + rec.OrgID, orgName: d.OrgName, ownerName: d.UserName,
		serviceNamespace: d.ServiceNamespace}
	if o := d.Owner; o != nil {
		row.object, row.objectName = o.Href, o.Name
		if kind, _, ok := o.Entity(); ok {
			row.objectType = kind
		}
	}
	return row
}

// compareFIQL orders two values of one kind: times and numbers by value, text
// case-insensitively; nulls first.
func compareFIQL(kind fiql.Kind, a, b fiql.Value) int {
	if a.Null || b.Null {
		return cmp.Compare(boolInt(!a.Null), boolInt(!b.Null))
	}
	switch kind {
	case fiql.KindTime:
		return a.Time.Compare(b.Time)
	case fiql.KindNumber:
		return cmp.Compare(a.Number, b.Number)
	}
	return cmp.Compare(strings.ToLower(a.Text), strings.ToLower(b.Text))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// queryTasks serves GET /api/query?type=task (VCD-COMPAT §10.2): format=records only,
// page, pageSize (at most 128), filter (FIQL on the record attributes), sortAsc or
// sortDesc; newest first by default. Visibility is that of GET /api/task.
func (a *API) queryTasks(w http.ResponseWriter, r *http.Request, c *call) error {
	q := queryParams(r)
	if typ := q.Get("type"); typ != "task" {
		return vcd.Errorf(vcd.CodeInvalid, "Query type %q is not supported; herald answers type=task.", truncate(typ, 64))
	}
	if f := q.Get("format"); f != "" && f != "records" {
		return vcd.Errorf(vcd.CodeInvalid, "Query format %q is not supported; use format=records.", truncate(f, 64))
	}
	pageNo, pageSize := 1, defaultPageSize
	var err error
	if s := q.Get("page"); s != "" {
		if pageNo, err = strconv.Atoi(s); err != nil || pageNo < 1 {
			return vcd.Errorf(vcd.CodeInvalid, "The page parameter must be a positive integer.")
		}
	}
	if s := q.Get("pageSize"); s != "" {
		if pageSize, err = strconv.Atoi(s); err != nil || pageSize < 1 || pageSize > maxPageSize {
			return vcd.Errorf(vcd.CodeInvalid, "The pageSize parameter must be an integer from 1 to %d.", maxPageSize)
		}
	}
	var filter *fiql.Filter
	if s := q.Get("filter"); s != "" {
		e, err := fiql.Parse(s)
		if err == nil {
			filter, err = fiql.Compile(e, taskQueryFields)
		}
		if err != nil {
			return &vcd.Error{Code: vcd.CodeInvalid, Message: "Invalid filter: " + err.Error(), Err: err}
		}
	}
	asc, desc := q.Get("sortAsc"), q.Get("sortDesc")
	if asc != "" && desc != "" {
		return vcd.Errorf(vcd.CodeInvalid, "Use either sortAsc or sortDesc, not both.")
	}
	sortKey := asc + desc
	sortKind, ok := taskQueryFields[sortKey]
	if sortKey != "" && !ok {
		return vcd.Errorf(vcd.CodeInvalid, "Cannot sort by %q.", truncate(sortKey, 64))
	}
	ts, err := a.tasks()
	if err != nil {
		return err
	}
	recs, err := a.visibleTasks(r.Context(), ts, c.p, "")
	if err != nil {
		return err
	}
	base := a.baseURL(r)
	rows := make([]taskRow, 0, len(recs))
	for _, rec := range recs {
		d, err := decodeTaskData(rec.Data)
		if err != nil {
			return err
		}
		row := newTaskRow(base, rec, d)
		if filter == nil || filter.Match(row.value) {
			rows = append(rows, row)
		}
	}
	if sortKey != "" {
		slices.SortStableFunc(rows, func(x, y taskRow) int {
			n := compareFIQL(sortKind, x.value(sortKey), y.value(sortKey))
			if desc != "" {
				return -n
			}
			return n
		})
	}
	total := len(rows)
	var pageRows []taskRow
	if start := (pageNo - 1) * pageSize; start < total {
		pageRows = rows[start:min(start+pageSize, total)]
	}
	href := func(n int) string {
		v := url.Values{}
		for _, k := range []string{"filter", "sortAsc", "sortDesc"} {
			if s := q.Get(k); s != "" {
				v.Set(k, s)
			}
		}
		u := base + "/api/query?type=task&page=" + strconv.Itoa(n) + "&pageSize=" + strconv.Itoa(pageSize) + "&format=records"
		if rest := v.Encode(); rest != "" {
			u += "&" + rest
		}
		return u
	}
	var nav []link
	if pageNo > 1 {
		nav = append(nav, link{Rel: "previousPage", Href: href(pageNo - 1), Type: mtQueryRecords})
	}
	if pageNo*pageSize < total {
		nav = append(nav, link{Rel: "nextPage", Href: href(pageNo + 1), Type: mtQueryRecords})
	}
	if c.format == formatJSON {
		return writeQueryJSON(w, c, href(pageNo), pageNo, pageSize, total, nav, pageRows)
	}
	return writeQueryXML(w, c, href(pageNo), pageNo, pageSize, total, nav, pageRows)
}

// writeQueryXML writes QueryResultRecords as in VCD-COMPAT §10.2: one element per
// line, empty optional attributes left out, dates in UTC with Z.
func writeQueryXML(w http.ResponseWriter, c *call, href string, pageNo, pageSize, total int, nav []link, rows []taskRow) error {
	b := []byte(xml.Header)
	b = append(b, `<QueryResultRecords xmlns="http://www.vmware.com/vcloud/v1.5" name="task" page="`...)
	b = strconv.AppendInt(b, int64(pageNo), 10)
	b = append(b, `" pageSize="`...)
	b = strconv.AppendInt(b, int64(pageSize), 10)
	b = append(b, `" total="`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `" href="`...)
	b = appendXMLAttr(b, href)
	b = append(b, `" type="`+mtQueryRecords+`">`+"\n"...)
	for _, l := range nav {
		b = append(b, `  <Link rel="`...)
		b = appendXMLAttr(b, l.Rel)
		b = append(b, `" href="`...)
		b = appendXMLAttr(b, l.Href)
		b = append(b, `" type="`...)
		b = appendXMLAttr(b, l.Type)
		b = append(b, "\"/>\n"...)
	}
	attr := func(name, v string, always bool) {
		if v == "" && !always {
			return
		}
		b = append(b, ' ')
		b = append(b, name...)
		b = append(b, `="`...)
		b = appendXMLAttr(b, v)
		b = append(b, '"')
	}
	for _, t := range rows {
		b = append(b, "  <TaskRecord"...)
		attr("href", t.href, true)
		attr("id", t.id, true)
		attr("name", t.name, true)
		attr("operationFull", t.operationFull, false)
		attr("status", t.status, true)
		attr("progress", strconv.Itoa(t.progress), true)
		attr("startDate", t.start.UTC().Format(queryTimeLayout), true)
		if !t.end.IsZero() {
			attr("endDate", t.end.UTC().Format(queryTimeLayout), true)
		}
		attr("org", t.org, true)
		attr("orgName", t.orgName, true)
		attr("ownerName", t.ownerName, true)
		attr("serviceNamespace", t.serviceNamespace, false)
		attr("object", t.object, false)
		attr("objectType", t.objectType, false)
		attr("objectName", t.objectName, false)
		b = append(b, "/>\n"...)
	}
	b = append(b, "</QueryResultRecords>"...)
	w.Header().Set("Content-Type", mtQueryRecords+";version="+c.version)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

// queryRecordsJSON is the JSON form of QueryResultRecords (VCD-COMPAT §10.2).
type queryRecordsJSON struct {
	Href     string           `json:"href"`
	Type     string           `json:"type"`
	Name     string           `json:"name"`
	Page     int              `json:"page"`
	PageSize int              `json:"pageSize"`
	Total    int              `json:"total"`
	Link     []link           `json:"link,omitempty"`
	Record   []taskRecordJSON `json:"record"`
}

// taskRecordJSON is QueryResultTaskRecordType in VCD's JSON convention.
type taskRecordJSON struct {
	Type             string `json:"_type"`
	Href             string `json:"href"`
	ID               string `json:"id"`
	Name             string `json:"name"`
	OperationFull    string `json:"operationFull,omitempty"`
	Status           string `json:"status"`
	Progress         int    `json:"progress"`
	StartDate        string `json:"startDate"`
	EndDate          string `json:"endDate,omitempty"`
	Org              string `json:"org"`
	OrgName          string `json:"orgName"`
	OwnerName        string `json:"ownerName"`
	ServiceNamespace string `json:"serviceNamespace,omitempty"`
	Object           string `json:"object,omitempty"`
	ObjectType       string `json:"objectType,omitempty"`
	ObjectName       string `json:"objectName,omitempty"`
}

func writeQueryJSON(w http.ResponseWriter, c *call, href string, pageNo, pageSize, total int, nav []link, rows []taskRow) error {
	ct := jsonType(mtQueryRecords)
	body := queryRecordsJSON{Href: href, Type: ct, Name: "task", Page: pageNo, PageSize: pageSize, Total: total,
		Link: jsonLinks(nav), Record: make([]taskRecordJSON, 0, len(rows))}
	for _, t := range rows {
		j := taskRecordJSON{Type: "QueryResultTaskRecordType", Href: t.href, ID: t.id, Name: t.name,
			OperationFull: t.operationFull, Status: t.status, Progress: t.progress,
			StartDate: t.start.UTC().Format(queryTimeLayout), Org: t.org, OrgName: t.orgName,
			OwnerName: t.ownerName, ServiceNamespace: t.serviceNamespace, Object: t.object,
			ObjectType: t.objectType, ObjectName: t.objectName}
		if !t.end.IsZero() {
			j.EndDate = t.end.UTC().Format(queryTimeLayout)
		}
		body.Record = append(body.Record, j)
	}
	return writeBody(w, http.StatusOK, ct+";version="+c.version, body, marshalNoEscape)
}

// appendXMLAttr appends s escaped for an XML attribute value in double quotes.
func appendXMLAttr(b []byte, s string) []byte {
	var sb strings.Builder
	_ = xml.EscapeText(&sb, []byte(s))
	return append(b, sb.String()...)
}

// marshalNoEscape is json.Marshal without HTML escaping, so that hrefs keep their '&'.
func marshalNoEscape(v any) ([]byte, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(sb.String(), "\n")), nil
}

// appendJSONString appends s as a JSON string without HTML escaping.
func appendJSONString(b []byte, s string) []byte {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return append(b, strings.TrimSuffix(sb.String(), "\n")...)
}
