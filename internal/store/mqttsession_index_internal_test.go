package store

import "testing"

// TestMQTTSessionIndex: the key index never answers "absent" for a key whose
// latest event it has seen is a put, and applies events out of order by revision.
func TestMQTTSessionIndex(t *testing.T) {
	type op struct {
		put bool
		rev uint64 // 0 on remove: this node's own delete
	}
	for _, tc := range []struct {
		name string
		ops  []op
		want bool
	}{
		{"never written", nil, false},
		{"put", []op{{true, 3}}, true},
		{"put then delete", []op{{true, 3}, {false, 4}}, false},
		{"own delete after put", []op{{true, 3}, {false, 0}}, false},
		{"delete then newer put", []op{{true, 3}, {false, 4}, {true, 5}}, true},
		{"stale delete after newer put", []op{{true, 5}, {false, 4}}, true},
		{"stale put after delete", []op{{false, 6}, {true, 5}}, false},
		{"own delete then its watch event", []op{{true, 3}, {false, 0}, {false, 4}}, false},
		{"own delete then an older put seen late", []op{{true, 3}, {false, 0}, {true, 2}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := mqttSessionIndex{ready: true, keys: map[string]uint64{}, gone: map[string]uint64{}}
			for _, o := range tc.ops {
				if o.put {
					x.put("k", o.rev)
				} else {
					x.remove("k", o.rev)
				}
			}
			if got := x.mayExist("k"); got != tc.want {
				t.Errorf("mayExist = %v; want %v", got, tc.want)
			}
			if x.mayExist("other") {
				t.Error("an unrelated key may exist")
			}
		})
	}
	var notReady mqttSessionIndex
	if !notReady.mayExist("k") {
		t.Error("before the watch has loaded, a key must be assumed to exist")
	}
}
