package config_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/heraldmq/herald/internal/config"
)

// samplePath is the documented sample configuration shipped in the repository.
const samplePath = "../../deploy/herald.yaml"

// TestSample_IsTheDefaults: the sample herald.yaml sets every option to its default,
// so loading it changes nothing and it cannot drift from Default().
func TestSample_IsTheDefaults(t *testing.T) {
	var c config.Config
	if err := c.Load(samplePath); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(config.Default(), c, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("deploy/herald.yaml differs from Default() (-default +sample):\n%s", diff)
	}
}

// TestSample_CoversEveryOption: every key of Config appears in the sample.
func TestSample_CoversEveryOption(t *testing.T) {
	data, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.DocumentNode {
			for _, c := range n.Content {
				walk(c, prefix)
			}
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := prefix + n.Content[i].Value
			present[key] = true
			walk(n.Content[i+1], key+".")
		}
	}
	walk(&doc, "")
	for _, key := range yamlKeys(reflect.TypeFor[config.Config](), "") {
		if !present[key] {
			t.Errorf("deploy/herald.yaml does not document %s", key)
		}
	}
}

// yamlKeys lists the dotted yaml keys of every field of struct type t, nested ones too.
func yamlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		keys = append(keys, prefix+name)
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, yamlKeys(f.Type, prefix+name+".")...)
		}
	}
	return keys
}
