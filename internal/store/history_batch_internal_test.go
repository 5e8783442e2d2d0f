package store

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestAppendAudits_SharedMessages checks a single node's history messages that hold
// several records: a batch is stored in messages of at most auditBatchRecords, a
// record too large to share one stays alone, a record twice in the batch is stored
// once, and every record reads back with its own Data, through queries in either
// order, filtered and over several pages, both as appended and after the index was
// loaded again from the messages' headers.
func TestAppendAudits_SharedMessages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, Config{DataDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const n, big = 300, 100
	data := func(i int) []byte {
		if i == big {
			return bytes.Repeat([]byte(strconv.Itoa(i)), auditBatchBytes)
		}
		return []byte(`{"n":` + strconv.Itoa(i) + `}`)
	}
	var recs []AuditRecord
	var logSeqs []uint64
	for i := range n {
		r := numberedRecord(i)
		r.UserID = "u" + strconv.Itoa(i%3)
		r.Data = data(i)
		recs, logSeqs = append(recs, r), append(logSeqs, uint64(i+1))
	}
	recs, logSeqs = append(recs, recs[5]), append(logSeqs, 0)
	if err := db.appendAudits(ctx, recs, logSeqs, "epoch-1", func(i int, err error) { t.Errorf("record %d refused: %v", i, err) }); err != nil {
		t.Fatal(err)
	}
	// 0-63, 64-99, 100 alone, 101-164, 165-228, 229-292, 293-299.
	info, err := db.history.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 7 {
		t.Errorf("%d records stored in %d messages; want 7", n, info.State.Msgs)
	}

	check := func(db *DB) {
		t.Helper()
		for _, tc := range []struct {
			q    AuditQuery
			want []int // record numbers, in order
		}{
			{AuditQuery{PageSize: 40, Asc: true}, seqOf(0, n, 1)},
			{AuditQuery{PageSize: 7}, seqOf(n-1, -1, -1)},
			{AuditQuery{PageSize: 9, UserID: "u1"}, seqOf(298, 0, -3)},
			{AuditQuery{PageSize: 64, Asc: true, UserID: "u2"}, seqOf(2, n, 3)},
		} {
			var got []int
			for page := 1; ; page++ {
				q := tc.q
				q.Page = page
				p, err := db.QueryAudit(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range p.Records {
					i, err := strconv.Atoi(strings.TrimPrefix(r.ID, "00000000-0000-4000-8000-"))
					if err != nil || !bytes.Equal(r.Data, data(i)) || r.UserID != "u"+strconv.Itoa(i%3) {
						t.Fatalf("%+v: record %s with user %s and data %.40q", tc.q, r.ID, r.UserID, r.Data)
					}
					got = append(got, i)
				}
				if len(p.Records) < q.PageSize {
					break
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%+v: records %v; want %v", tc.q, got, tc.want)
			}
		}
	}
	check(db)
	_ = db.Close()

	db, err = Open(ctx, Config{DataDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(db)
	if got := db.history.ix.projected("epoch-1"); got != n {
		t.Errorf("loaded index names sequences of log epoch-1 up to %d; want %d", got, n)
	}
	if got := db.history.ix.projected("epoch-2"); got != 0 {
		t.Errorf("loaded index names sequences of log epoch-2 up to %d; want 0", got)
	}
	r := recs[42]
	if seq, dup, err := db.AppendAudit(ctx, r); err != nil || !dup || seq != 1 {
		t.Errorf("AppendAudit of record 42 again = %d, dup %v, %v; want its message 1, dup", seq, dup, err)
	}
}

// seqOf returns from, from+step, … up to but not including to.
func seqOf(from, to, step int) []int {
	var out []int
	for i := from; step > 0 && i < to || step < 0 && i > to; i += step {
		out = append(out, i)
	}
	return out
}

// TestDecodeAudits reads the hdrAudit values and body of a history message back into
// records, and refuses the malformed ones.
func TestDecodeAudits(t *testing.T) {
	a, b := numberedRecord(1), numberedRecord(2)
	a.Data, b.Data = []byte("alpha"), []byte("be")
	a.Success, b.External, b.EntityName = true, true, "vm-1"
	a.Time, b.Time = a.Time.UTC(), b.Time.UTC() // as decoded
	alone, first, second := encodeAudit(&a, -1), encodeAudit(&a, 5), encodeAudit(&b, 2)
	for _, tc := range []struct {
		name string
		vals []string
		body []byte
		want []AuditRecord // nil: refused
	}{
		{"alone", []string{alone}, []byte("alpha"), []AuditRecord{a}},
		{"alone, headers only", []string{alone}, nil, []AuditRecord{withData(a, nil)}},
		{"two", []string{first, second}, []byte("alphabe"), []AuditRecord{a, b}},
		{"two, headers only", []string{first, second}, nil, []AuditRecord{withData(a, nil), withData(b, nil)}},
		{"none", nil, []byte("x"), nil},
		{"body too short", []string{first, second}, []byte("alphab"), nil},
		{"body too long", []string{first, second}, []byte("alphabet"), nil},
		{"a lone record's value among several", []string{alone, second}, []byte("alphabe"), nil},
		{"not base64", []string{"!"}, nil, nil},
		{"unknown version", []string{"Aw"}, nil, nil},
		{"truncated", []string{first[:len(first)-4]}, nil, nil},
	} {
		got, err := decodeAudits(tc.vals, tc.body)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: decoded %d records; want an error", tc.name, len(got))
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%s: %d records, %v; want %d", tc.name, len(got), err, len(tc.want))
			continue
		}
		for i := range got {
			if w := tc.want[i]; !reflect.DeepEqual(withData(got[i], nil), withData(w, nil)) || !bytes.Equal(got[i].Data, w.Data) {
				t.Errorf("%s: record %d = %+v; want %+v", tc.name, i, got[i], w)
			}
		}
	}
}

func withData(r AuditRecord, d []byte) AuditRecord { r.Data = d; return r }

// TestAuditValues_NoN: a hdrAudit value never holds an 'N', the first byte of every
// header key nats-server looks for in a stored message (auditEncoding), and values
// written in the standard alphabet before still decode.
func TestAuditValues_NoN(t *testing.T) {
	withN, without := 0, 0
	for i := range 200 {
		rec := numberedRecord(i)
		rec.Time = rec.Time.UTC()
		for _, size := range []int{-1, i} {
			v := encodeAudit(&rec, size)
			if strings.IndexByte(v, 'N') >= 0 {
				t.Fatalf("value %q holds an N", v)
			}
			// The same bytes in the standard alphabet, as written before.
			old := strings.ReplaceAll(v, "-", "N")
			if old != v {
				withN++
			} else {
				without++
			}
			for _, val := range []string{v, old} {
				got, gotSize, err := decodeAudit(val)
				if err != nil || gotSize != size || !reflect.DeepEqual(got, withData(rec, nil)) {
					t.Fatalf("decodeAudit(%q) = %+v, %d, %v; want %+v, %d", val, got, gotSize, err, rec, size)
				}
			}
		}
	}
	if withN == 0 || without == 0 {
		t.Fatalf("%d values had an N in the standard alphabet and %d none: the test checks neither kind", withN, without)
	}
	// Both letters in one value: neither alphabet's.
	if _, _, err := decodeAudit("N-" + encodeAudit(&AuditRecord{ID: "x"}, -1)); err == nil {
		t.Fatal("a value with both N and - decoded")
	}
}

// FuzzDecodeAudits feeds arbitrary header values and bodies to decodeAudits: it must
// not panic, and what it accepts must encode back to values that decode the same.
func FuzzDecodeAudits(f *testing.F) {
	a, b := numberedRecord(1), numberedRecord(2)
	f.Add(encodeAudit(&a, -1), "", []byte("x"))
	f.Add(encodeAudit(&a, 1), encodeAudit(&b, 2), []byte("xyz"))
	f.Fuzz(func(t *testing.T, v1, v2 string, body []byte) {
		vals := []string{v1}
		if v2 != "" {
			vals = append(vals, v2)
		}
		recs, err := decodeAudits(vals, body)
		if err != nil {
			return
		}
		again := make([]string, len(vals))
		for i, v := range vals {
			_, size, _ := decodeAudit(v)
			again[i] = encodeAudit(&recs[i], size)
		}
		back, err := decodeAudits(again, body)
		if err != nil || !reflect.DeepEqual(back, recs) {
			t.Fatalf("decode(encode(%v)) = %v, %v", recs, back, err)
		}
	})
}

// TestAdjacent checks when batchMsg takes its records' Data as the body without a
// copy: only when each lies right after the one before within one buffer.
func TestAdjacent(t *testing.T) {
	buf := make([]byte, 0, 64)
	buf = append(buf, "aaaabbbbbbcc"...)
	a, b, c := buf[0:4], buf[4:10], buf[10:12]
	other := []byte("bbbbbb")
	recs := func(data ...[]byte) []AuditRecord {
		rs := make([]AuditRecord, len(data))
		for i, d := range data {
			rs[i].Data = d
		}
		return rs
	}
	for _, tc := range []struct {
		name string
		recs []AuditRecord
		part []int
		size int
		want bool
	}{
		{"back to back", recs(a, b, c), []int{0, 1, 2}, 12, true},
		{"back to back, a record skipped by part", recs(a, other, b, c), []int{0, 2, 3}, 12, true},
		{"another buffer in between", recs(a, other, c), []int{0, 1, 2}, 12, false},
		{"a gap", recs(a, c), []int{0, 1}, 6, false},
		{"out of order", recs(b, a), []int{0, 1}, 10, false},
		{"the first one's capacity ends at its length", recs(slices.Clip(a), b), []int{0, 1}, 10, false},
		{"a size that does not match", recs(a, b), []int{0, 1}, 11, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := adjacent(tc.recs, tc.part, tc.size)
			if !tc.want {
				if got != nil {
					t.Fatalf("adjacent = %q; want nil (a copy)", got)
				}
				return
			}
			if string(got) != string(buf[:tc.size]) || &got[0] != &buf[0] || cap(got) != tc.size {
				t.Fatalf("adjacent = %q (cap %d); want the buffer's first %d bytes, capacity as long", got, cap(got), tc.size)
			}
		})
	}
}
