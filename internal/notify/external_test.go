package notify_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldmq/herald/internal/notify"
	"github.com/heraldmq/herald/internal/vcd"
)

// backupBody is what VCD-COMPAT §8.3's example decodes to.
var backupBody = notify.EventBody{
	Type:             "backup/completed",
	ServiceNamespace: "org.example.backup",
	Success:          true,
	TypeFull:         "Backup of web-01 finished",
	Owner:            &notify.Reference{Href: "https://HOST/api/vApp/vm-" + vmID, Type: "application/vnd.vmware.vcloud.vm+xml", Name: "web-01"},
	User:             &notify.Reference{Href: "https://HOST/api/admin/user/" + aliceID, Type: "application/vnd.vmware.admin.user+xml", Name: "alice"},
	Properties:       []notify.Property{{Name: "sizeGB", Value: "42"}},
}

func TestDecodeEventXML(t *testing.T) {
	got, err := notify.DecodeEventXML([]byte(backupEventXML))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(backupBody, got); diff != "" {
		t.Errorf("DecodeEventXML mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeEventJSON(t *testing.T) {
	in := `{"type":"backup/completed","serviceNamespace":"org.example.backup","success":true,"typeFull":"Backup of web-01 finished",` +
		`"owner":{"href":"https://HOST/api/vApp/vm-` + vmID + `","id":null,"type":"application/vnd.vmware.vcloud.vm+xml","name":"web-01"},` +
		`"user":{"href":"https://HOST/api/admin/user/` + aliceID + `","type":"application/vnd.vmware.admin.user+xml","name":"alice"},` +
		`"eventProperties":{"eventProperty":[{"name":"sizeGB","value":"42"}]},"vCloudExtension":[]}`
	got, err := notify.DecodeEventJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(backupBody, got); diff != "" {
		t.Errorf("DecodeEventJSON mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeEvent_SuccessDefaultsAndFalse(t *testing.T) {
	tests := []struct {
		name string
		dec  func([]byte) (notify.EventBody, error)
		in   string
		want bool
	}{
		{"XMLAbsent", notify.DecodeEventXML, `<Event type="a" serviceNamespace="b"/>`, true},
		{"XMLFalse", notify.DecodeEventXML, `<Event type="a" serviceNamespace="b" success="false"/>`, false},
		{"XMLZero", notify.DecodeEventXML, `<Event type="a" serviceNamespace="b" success=" 0 "/>`, false},
		{"JSONAbsent", notify.DecodeEventJSON, `{"type":"a","serviceNamespace":"b"}`, true},
		{"JSONFalse", notify.DecodeEventJSON, `{"type":"a","serviceNamespace":"b","success":false}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.dec([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got.Success != tc.want {
				t.Errorf("Success = %v; want %v", got.Success, tc.want)
			}
		})
	}
}

func TestDecodeEvent_Rejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n) }
	tests := []struct {
		name    string
		dec     func([]byte) (notify.EventBody, error)
		in      string
		message string // a part of the error message
	}{
		{"XMLMalformed", notify.DecodeEventXML, `<Event`, "malformed Event XML"},
		{"XMLOtherElement", notify.DecodeEventXML, `<Task type="a" serviceNamespace="b"/>`, "malformed Event XML"},
		{"XMLBadSuccess", notify.DecodeEventXML, `<Event type="a" serviceNamespace="b" success="yes"/>`, "not a boolean"},
		{"JSONMalformed", notify.DecodeEventJSON, `{"type":`, "malformed Event JSON"},
		{"JSONTrailing", notify.DecodeEventJSON, `{"type":"a","serviceNamespace":"b"} {}`, "data after"},
		{"JSONTrailingBrace", notify.DecodeEventJSON, `{"type":"a","serviceNamespace":"b"}}`, "data after"},
		{"JSONPropertyNotString", notify.DecodeEventJSON, `{"type":"a","serviceNamespace":"b","eventProperties":{"eventProperty":[{"name":"n","value":1}]}}`, "malformed Event JSON"},
		{"TypeEmpty", notify.DecodeEventXML, `<Event type="" serviceNamespace="b"/>`, "type must be 1 to 128 characters, not 0"},
		{"TypeTooLong", notify.DecodeEventXML, `<Event type="` + long(129) + `" serviceNamespace="b"/>`, "type must be 1 to 128 characters, not 129"},
		{"TypeReserved", notify.DecodeEventXML, `<Event type="com/vmware/vcloud/event/vm/create" serviceNamespace="b"/>`, "type must not start with com/vmware/vcloud"},
		{"NamespaceMissing", notify.DecodeEventJSON, `{"type":"a"}`, "serviceNamespace must be 1 to 128 characters, not 0"},
		{"NamespaceTooLong", notify.DecodeEventJSON, `{"type":"a","serviceNamespace":"` + long(129) + `"}`, "serviceNamespace must be 1 to 128"},
		{"NamespaceReserved", notify.DecodeEventJSON, `{"type":"a","serviceNamespace":"com.vmware.vcloud.x"}`, "serviceNamespace must not start with com.vmware.vcloud"},
		{"TypeReservedUpperCase", notify.DecodeEventJSON, `{"type":"COM/VMware/vCloud/event/session/login","serviceNamespace":"b"}`, "type must not start with com/vmware/vcloud"},
		{"NamespaceReservedUpperCase", notify.DecodeEventJSON, `{"type":"a","serviceNamespace":"Com.VMware.vcloud"}`, "serviceNamespace must not start with com.vmware.vcloud"},
		{"TypeFullTooLong", notify.DecodeEventJSON, `{"type":"a","serviceNamespace":"b","typeFull":"` + long(2001) + `"}`, "typeFull must be 0 to 2000 characters, not 2001"},
		{"PropertyNoName", notify.DecodeEventXML, `<Event type="a" serviceNamespace="b"><EventProperties><EventProperty value="1"/></EventProperties></Event>`, "EventProperty 0 has no name"},
		{"PropertyRepeated", notify.DecodeEventXML, `<Event type="a" serviceNamespace="b"><EventProperties><EventProperty name="n"/><EventProperty name="n"/></EventProperties></Event>`, `EventProperty name "n" is repeated`},
		{"AllProblemsNamed", notify.DecodeEventJSON, `{"type":"","serviceNamespace":""}`, "type must be 1 to 128 characters, not 0; serviceNamespace must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.dec([]byte(tc.in))
			if !errors.Is(err, vcd.ErrInvalid) {
				t.Fatalf("decode(%.60q) = %v; want code invalid", tc.in, err)
			}
			if msg := vcd.MessageOf(err); !strings.Contains(msg, tc.message) {
				t.Errorf("message %q does not contain %q", msg, tc.message)
			}
		})
	}
}

func TestDecodeEvent_LimitsAccepted(t *testing.T) {
	in := `{"type":"` + strings.Repeat("t", 128) + `","serviceNamespace":"` + strings.Repeat("é", 128) +
		`","typeFull":"` + strings.Repeat("d", 2000) + `"}`
	if _, err := notify.DecodeEventJSON([]byte(in)); err != nil {
		t.Errorf("DecodeEventJSON at the limits: %v", err)
	}
}

func TestReference_Entity(t *testing.T) {
	tests := []struct {
		name     string
		ref      notify.Reference
		kind, id string
		ok       bool
	}{
		{"URN", notify.Reference{ID: "urn:vcloud:vm:" + vmID}, "vm", vmID, true},
		{"URNUppercase", notify.Reference{ID: "URN:VCLOUD:VM:" + strings.ToUpper(vmID)}, "vm", vmID, true},
		{"URNBeatsHref", notify.Reference{ID: "urn:vcloud:user:" + aliceID, Href: "https://h/api/vApp/vm-" + vmID}, "user", aliceID, true},
		{"BadURNFallsBackToHref", notify.Reference{ID: "web-01", Href: "https://h/api/vApp/vm-" + vmID}, "vm", vmID, true},
		{"HrefVM", notify.Reference{Href: "https://h/api/vApp/vm-" + vmID}, "vm", vmID, true},
		{"HrefVApp", notify.Reference{Href: "https://h/api/vApp/vapp-" + vAppID + "/"}, "vapp", vAppID, true},
		{"HrefUser", notify.Reference{Href: "https://h/api/admin/user/" + aliceID}, "user", aliceID, true},
		{"HrefOrg", notify.Reference{Href: "https://h/api/org/" + orgID}, "org", orgID, true},
		{"HrefAdminOrg", notify.Reference{Href: "https://h/api/admin/org/" + orgID + "?x=1"}, "org", orgID, true},
		{"HrefTask", notify.Reference{Href: "/api/task/" + taskID}, "task", taskID, true},
		{"HrefSubResource", notify.Reference{Href: "https://h/api/vApp/vm-" + vmID + "/metrics/current"}, "", "", false},
		{"HrefUnknown", notify.Reference{Href: "https://h/api/catalog/" + vmID}, "", "", false},
		{"HrefNotUUID", notify.Reference{Href: "https://h/api/org/acme"}, "", "", false},
		{"Empty", notify.Reference{}, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, id, ok := tc.ref.Entity()
			if kind != tc.kind || id != tc.id || ok != tc.ok {
				t.Errorf("%+v.Entity() = %q, %q, %v; want %q, %q, %v", tc.ref, kind, id, ok, tc.kind, tc.id, tc.ok)
			}
		})
	}
}

func TestEventBody_Entity(t *testing.T) {
	tests := []struct {
		name             string
		owner            *notify.Reference
		kind, id, entity string
	}{
		{"OwnerID", &notify.Reference{ID: "urn:vcloud:vapp:" + vAppID, Name: "shop"}, "vapp", vAppID, "shop"},
		{"OwnerHref", &notify.Reference{Href: "https://h/api/vApp/vm-" + vmID, Name: "web-01"}, "vm", vmID, "web-01"},
		{"OwnerUnknownFallsBackToOrg", &notify.Reference{Href: "https://h/api/catalog/x", Name: "c"}, "org", orgID, "acme"},
		{"NoOwnerIsOrg", nil, "org", orgID, "acme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, id, name := notify.EventBody{Owner: tc.owner}.Entity(orgID, "acme")
			if kind != tc.kind || id != tc.id || name != tc.entity {
				t.Errorf("Entity = %q, %q, %q; want %q, %q, %q", kind, id, name, tc.kind, tc.id, tc.entity)
			}
		})
	}
}

func TestEventBody_UserID(t *testing.T) {
	tests := []struct {
		name string
		user *notify.Reference
		id   string
		ok   bool
	}{
		{"Absent", nil, "", false},
		{"ByID", &notify.Reference{ID: "urn:vcloud:user:" + aliceID}, aliceID, true},
		{"ByHref", &notify.Reference{Href: "https://h/api/admin/user/" + aliceID}, aliceID, true},
		{"NotAUser", &notify.Reference{ID: "urn:vcloud:org:" + orgID}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := notify.EventBody{User: tc.user}.UserID()
			if id != tc.id || ok != tc.ok {
				t.Errorf("UserID() = %q, %v; want %q, %v", id, ok, tc.id, tc.ok)
			}
		})
	}
}

func TestExternalEvent_NoOwnerIsOrg(t *testing.T) {
	x := backupEvent(t)
	x.Body.Owner = nil
	x.Body.Properties = []notify.Property{{"b", "2"}, {"a", "<1>"}}
	n, err := notify.ExternalEvent(x)
	if err != nil {
		t.Fatal(err)
	}
	e, err := notify.ParseEnvelope(n.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"entity":"urn:vcloud:org:` + orgID + `","entityName":"acme","entityType":"org"`,
		`"properties":{"b":"2","a":"<1>"}}`, // insertion order, no HTML escaping
	} {
		if !strings.Contains(string(e.Payload), want) {
			t.Errorf("payload %s does not contain %s", e.Payload, want)
		}
	}
	if e.Headers[1] != (notify.Header{Name: notify.HeaderEntityType, Value: "org"}) {
		t.Errorf("header 1 = %v; want entityType org", e.Headers[1])
	}
}

func TestExternalEvent_Rejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*notify.ExternalEventInfo)
	}{
		{"InvalidBody", func(x *notify.ExternalEventInfo) { x.Body.Type = "" }},
		{"NoUser", func(x *notify.ExternalEventInfo) { x.UserID = "" }},
		{"BadOrg", func(x *notify.ExternalEventInfo) { x.OrgID = "acme" }},
		{"NoTime", func(x *notify.ExternalEventInfo) { x.Time = time.Time{} }},
		// The naive client would find the payload key in the headers (§8.1 rule 3).
		{"TypeWithPayloadKey", func(x *notify.ExternalEventInfo) { x.Body.Type = `a payload":"b` }},
		{"NamespaceWithPayloadKey", func(x *notify.ExternalEventInfo) { x.Body.ServiceNamespace = `payload\":\"` }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := backupEvent(t)
			tc.change(&x)
			if n, err := notify.ExternalEvent(x); !errors.Is(err, vcd.ErrInvalid) {
				t.Errorf("ExternalEvent = %s, %v; want code invalid", n.Envelope, err)
			}
			dst := []byte("keep")
			if got, err := notify.AppendExternalEvent(dst, x); err == nil || string(got) != "keep" {
				t.Errorf("AppendExternalEvent = %q, %v; want dst unchanged and an error", got, err)
			}
		})
	}
}
