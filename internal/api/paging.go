package api

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/heraldmq/herald/internal/vcd"
)

// Paging limits of VCD-COMPAT §5.4.
const (
	defaultPageSize = 25
	maxPageSize     = 128
)

// page is one page of a filtered, sorted list.
type page[T any] struct {
	items     []T
	total     int
	page      int
	pageSize  int
	pageCount int
	model     string // the Link header's model, e.g. "VcdUsers"
}

// pageJSON is the OpenAPI page body.
type pageJSON struct {
	ResultTotal  int   `json:"resultTotal"`
	PageCount    int   `json:"pageCount"`
	Page         int   `json:"page"`
	PageSize     int   `json:"pageSize"`
	Associations []any `json:"associations"`
	Values       []any `json:"values"`
}

// paginate applies the page, pageSize, filter, sortAsc and sortDesc parameters of r to
// all. fields names what filter and sort may refer to. A bad parameter is 400; a page
// past the end is empty.
func paginate[T any](r *http.Request, all []T, fields map[string]func(T) string, model string) (page[T], error) {
	q := queryParams(r)
	pg := page[T]{page: 1, pageSize: defaultPageSize, model: model}
	var err error
	if s := q.Get("page"); s != "" {
		if pg.page, err = strconv.Atoi(s); err != nil || pg.page < 1 {
			return pg, vcd.Errorf(vcd.CodeInvalid, "The page parameter must be a positive integer.")
		}
	}
	if s := q.Get("pageSize"); s != "" {
		if pg.pageSize, err = strconv.Atoi(s); err != nil || pg.pageSize < 1 || pg.pageSize > maxPageSize {
			return pg, vcd.Errorf(vcd.CodeInvalid, "The pageSize parameter must be an integer from 1 to %d.", maxPageSize)
		}
	}
	items := all
	if f := q.Get("filter"); f != "" {
		match, err := parseFilter(f, fields)
		if err != nil {
			return pg, err
		}
		items = nil
		for _, it := range all {
			if match(it) {
				items = append(items, it)
			}
		}
	}
	asc, desc := q.Get("sortAsc"), q.Get("sortDesc")
	if asc != "" && desc != "" {
		return pg, vcd.Errorf(vcd.CodeInvalid, "Use either sortAsc or sortDesc, not both.")
	}
	if key := asc + desc; key != "" {
		get, ok := fields[key]
		if !ok {
			return pg, vcd.Errorf(vcd.CodeInvalid, "Cannot sort by %q.", key)
		}
		items = slices.Clone(items)
		sort.SliceStable(items, func(i, j int) bool {
			c := compareValues(get(items[i]), get(items[j]))
			if desc != "" {
				return c > 0
			}
			return c < 0
		})
	}
	pg.total = len(items)
	pg.pageCount = (pg.total + pg.pageSize - 1) / pg.pageSize
	if start := (pg.page - 1) * pg.pageSize; start < len(items) {
		pg.items = items[start:min(start+pg.pageSize, len(items))]
	}
	return pg, nil
}

// queryParams parses r's query string, splitting only at '&': FIQL filters carry raw
// ';' (and), which url.ParseQuery rejects since Go 1.17. Undecodable pairs are kept
// verbatim so that a bad filter is reported rather than silently ignored.
func queryParams(r *http.Request) url.Values {
	v := url.Values{}
	for pair := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if pair == "" {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(val); err == nil {
			val = dv
		}
		v.Add(k, val)
	}
	return v
}

// compareValues orders numbers numerically and everything else case-insensitively.
func compareValues(a, b string) int {
	if x, err := strconv.ParseInt(a, 10, 64); err == nil {
		if y, err := strconv.ParseInt(b, 10, 64); err == nil {
			return cmp.Compare(x, y)
		}
	}
	return cmp.Compare(strings.ToLower(a), strings.ToLower(b))
}

// parseFilter compiles the subset of FIQL herald's directory lists support:
// comparisons field==value and field!=value ('*' matches any run of characters,
// case-insensitively), joined by ';' (and), which binds tighter than ',' (or).
// Parentheses and other operators are 400.
func parseFilter[T any](s string, fields map[string]func(T) string) (func(T) bool, error) {
	type cond struct {
		get    func(T) string
		value  string
		negate bool
	}
	var groups [][]cond
	for orPart := range strings.SplitSeq(s, ",") {
		var group []cond
		for term := range strings.SplitSeq(orPart, ";") {
			op, negate := "==", false
			i := strings.Index(term, "==")
			if j := strings.Index(term, "!="); j >= 0 && (i < 0 || j < i) {
				i, op, negate = j, "!=", true
			}
			if i <= 0 || strings.ContainsAny(term, "()") {
				return nil, vcd.Errorf(vcd.CodeInvalid, "Invalid filter %q: expected field==value or field!=value.", truncate(s, 200))
			}
			name, value := term[:i], term[i+len(op):]
			get, ok := fields[name]
			if !ok {
				return nil, vcd.Errorf(vcd.CodeInvalid, "Invalid filter: unknown field %q.", truncate(name, 64))
			}
			group = append(group, cond{get: get, value: value, negate: negate})
		}
		groups = append(groups, group)
	}
	return func(it T) bool {
		for _, g := range groups {
			ok := true
			for _, c := range g {
				if globMatch(strings.ToLower(c.value), strings.ToLower(c.get(it))) == c.negate {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
		return false
	}, nil
}

// globMatch reports whether s matches pattern, where '*' matches any run of characters.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// writePage writes a page body with its navigation Link headers (VCD-COMPAT §5.4).
func writePage[T any](w http.ResponseWriter, r *http.Request, base string, c *call, pg page[T], values []any) error {
	last := max(pg.pageCount, 1)
	link := func(n int, rel string) {
		q := queryParams(r)
		q.Del("page")
		q.Del("pageSize")
		u := fmt.Sprintf("%s%s?page=%d&pageSize=%d", base, r.URL.Path, n, pg.pageSize)
		if rest := q.Encode(); rest != "" {
			u += "&" + rest
		}
		w.Header().Add("Link", fmt.Sprintf("<%s>;rel=%q;type=\"application/json\";model=%q", u, rel, pg.model))
	}
	link(1, "firstPage")
	if pg.page > 1 {
		link(min(pg.page-1, last), "previousPage")
	}
	if pg.page < last {
		link(pg.page+1, "nextPage")
	}
	link(last, "lastPage")
	if values == nil {
		values = []any{}
	}
	return writeJSON(w, http.StatusOK, c, pageJSON{ResultTotal: pg.total, PageCount: pg.pageCount,
		Page: pg.page, PageSize: pg.pageSize, Values: values})
}
