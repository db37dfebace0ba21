package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	yaml3 "gopkg.in/yaml.v3"
)

// chart is a chart directory as Helm loads it.
type chart struct {
	dir       string
	meta      map[string]interface{} // Chart.yaml with Helm's Go field names (.Chart.AppVersion, ...)
	values    map[string]interface{}
	templates map[string]string // "templates/agent.yaml" -> source
	files     files             // everything else, for .Files.Get
	crds      []string          // "crds/x.yaml", sorted
}

// readYAML decodes like Helm (sigs.k8s.io/yaml): YAML -> JSON -> Go, so every number is a float64 and
// `{{ .Values.replicas }}` prints exactly what helm prints.
func readYAML(data []byte, out interface{}) error {
	var v interface{}
	if err := yaml3.Unmarshal(data, &v); err != nil {
		return err
	}
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(j, out)
}

func loadChart(dir string) (*chart, error) {
	c := &chart{dir: dir, templates: map[string]string{}, files: files{}}
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	var m map[string]interface{}
	if err := readYAML(raw, &m); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	// Helm passes a struct: every field exists, zero when Chart.yaml omits it.
	c.meta = map[string]interface{}{}
	for _, k := range []string{"Name", "Version", "AppVersion", "APIVersion", "Description", "Type", "Home", "Icon", "KubeVersion", "Condition", "Tags"} {
		c.meta[k] = ""
	}
	for k, v := range m {
		if k == "apiVersion" {
			k = "APIVersion"
		} else {
			k = strings.ToUpper(k[:1]) + k[1:]
		}
		c.meta[k] = v
	}
	c.values = map[string]interface{}{}
	if raw, err := os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		if err := readYAML(raw, &c.values); err != nil {
			return nil, fmt.Errorf("values.yaml: %v", err)
		}
	}
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		switch {
		case err != nil:
			return err
		case strings.HasPrefix(rel, "templates/"):
			c.templates[rel] = string(data)
		case strings.HasPrefix(rel, "crds/"):
			c.crds = append(c.crds, rel)
			c.files[rel] = data
		default:
			c.files[rel] = data
		}
		return nil
	})
	sort.Strings(c.crds)
	return c, err
}

// merge lays src over dst as `helm -f` does: maps merge key by key, anything else replaces, and a
// null removes the chart's default.
func merge(dst, src map[string]interface{}) {
	for k, v := range src {
		sm, srcMap := v.(map[string]interface{})
		dm, dstMap := dst[k].(map[string]interface{})
		switch {
		case v == nil:
			delete(dst, k)
		case srcMap && dstMap:
			merge(dm, sm)
		default:
			dst[k] = v
		}
	}
}

// applySet applies one `--set a.b=c,d={x,y}`. Keys split on unescaped dots (`ferrolb\.io/x`); values
// are typed as helm types them: true/false, integers without a leading zero, null, {lists}.
func applySet(vals map[string]interface{}, expr string) error {
	for _, assign := range splitOutside(expr, ',') {
		key, raw, ok := strings.Cut(assign, "=")
		if !ok || key == "" {
			return fmt.Errorf("--set %q: want key=value", assign)
		}
		path := strings.Split(strings.ReplaceAll(key, `\.`, "\x00"), ".")
		m := vals
		for _, p := range path[:len(path)-1] {
			p = strings.ReplaceAll(p, "\x00", ".")
			next, ok := m[p].(map[string]interface{})
			if !ok {
				next = map[string]interface{}{}
				m[p] = next
			}
			m = next
		}
		merge(m, map[string]interface{}{strings.ReplaceAll(path[len(path)-1], "\x00", "."): typed(raw)})
	}
	return nil
}

func typed(s string) interface{} {
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		list := []interface{}{}
		for _, item := range splitOutside(s[1:len(s)-1], ',') {
			list = append(list, typed(item))
		}
		return list
	}
	switch strings.ToLower(s) {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil && (s == "0" || s[0] != '0') {
		return i
	}
	return s
}

// splitOutside splits on sep outside {braces}.
func splitOutside(s string, sep rune) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch {
		case r == '{':
			depth++
		case r == '}':
			depth--
		case r == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
