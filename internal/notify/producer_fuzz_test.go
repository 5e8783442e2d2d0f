package notify_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// FuzzDecodeEvent feeds a REST producer's Event body to both decoders: they must
// not panic, must refuse with vcd.CodeInvalid, and what they accept must be valid.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(backupEventXML))
	f.Add([]byte(`{"type":"a","serviceNamespace":"b","success":true,"typeFull":"t",` +
		`"owner":{"href":"https://h/api/vApp/vm-` + vmID + `","name":"web-01"},` +
		`"eventProperties":{"eventProperty":[{"name":"n","value":"v"}]}}`))
	f.Add([]byte(`<Event type="a" serviceNamespace="b" success="false"><EventProperties/></Event>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		for name, decode := range map[string]func([]byte) (notify.EventBody, error){
			"XML": notify.DecodeEventXML, "JSON": notify.DecodeEventJSON,
		} {
			e, err := decode(in)
			if err != nil {
				if vcd.CodeOf(err) != vcd.CodeInvalid {
					t.Fatalf("%s: error %v has code %v; want invalid", name, err, vcd.CodeOf(err))
				}
				continue
			}
			if err := e.Validate(); err != nil {
				t.Fatalf("%s: accepted an invalid event %+v: %v", name, e, err)
			}
		}
	})
}

// FuzzDecodeTask feeds a REST producer's Task body to both decoders: they must not
// panic, must refuse with vcd.CodeInvalid, and a task they accept must be valid and
// come back unchanged from its own Task JSON (AppendJSON, what subscribers get).
func FuzzDecodeTask(f *testing.F) {
	f.Add([]byte(`<Task name="task" status="error" operation="op" operationName="on" serviceNamespace="ns">` +
		`<Owner href="https://h/api/vApp/vm-` + vmID + `" name="web-01"/><Error majorErrorCode="500" message="m"/>` +
		`<Progress>75</Progress><Details>a &amp; b</Details><Result><ResultContent>none</ResultContent></Result></Task>`))
	f.Add([]byte(`{"name":"t","status":"running","progress":40,"details":"d","user":{"href":"https://h/api/admin/user/` +
		aliceID + `","name":"alice"},"error":{"message":"m","majorErrorCode":500,"minorErrorCode":"X","vendorSpecificErrorCode":"v"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		for name, decode := range map[string]func([]byte) (notify.Task, error){
			"XML": notify.DecodeTaskXML, "JSON": notify.DecodeTaskJSON,
		} {
			task, err := decode(in)
			if err != nil {
				if vcd.CodeOf(err) != vcd.CodeInvalid {
					t.Fatalf("%s: error %v has code %v; want invalid", name, err, vcd.CodeOf(err))
				}
				continue
			}
			if err := task.Validate(); err != nil {
				t.Fatalf("%s: accepted an invalid task %+v: %v", name, task, err)
			}
			again, err := notify.DecodeTaskJSON(task.AppendJSON(nil))
			if err != nil {
				t.Fatalf("%s: the accepted task's own JSON %s is refused: %v", name, task.AppendJSON(nil), err)
			}
			if diff := cmp.Diff(task, again); diff != "" {
				t.Fatalf("%s: the task's own JSON decodes otherwise (-decoded +again):\n%s", name, diff)
			}
		}
	})
}
