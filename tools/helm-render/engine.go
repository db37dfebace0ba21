package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	yaml2 "gopkg.in/yaml.v2"
)

type files map[string][]byte

func (f files) Get(name string) string      { return string(f[name]) }
func (f files) GetBytes(name string) []byte { return f[name] }

type kubeVersion struct{ Version, Major, Minor string }

func (k kubeVersion) String() string { return k.Version }

type versionSet []string

func (v versionSet) Has(api string) bool {
	for _, x := range v {
		if x == api {
			return true
		}
	}
	return false
}

// toYAML is Helm's: through JSON first (so keys are sorted and structs use their JSON names), then
// yaml.v2, whose block style (lists not indented under their key) is what charts' nindent expects.
func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var generic interface{}
	if err := yaml2.Unmarshal(j, &generic); err != nil {
		return ""
	}
	out, err := yaml2.Marshal(generic)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

// helmFuncs is sprig (without env/expandenv, which Helm removes so charts cannot read the host) plus
// the functions Helm adds. include and tpl need the template set itself.
func helmFuncs(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	depth := 0
	f["include"] = func(name string, data interface{}) (string, error) {
		if depth > 1000 {
			return "", fmt.Errorf("include %q: too deeply nested", name)
		}
		depth++
		defer func() { depth-- }()
		var b strings.Builder
		err := t.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		c, err := t.Clone()
		if err != nil {
			return "", err
		}
		nt, err := c.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		err = nt.Execute(&b, data)
		return strings.ReplaceAll(b.String(), "<no value>", ""), err
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if s, ok := v.(string); v == nil || ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["toYaml"] = toYAML
	f["toJson"] = func(v interface{}) string {
		j, _ := json.Marshal(v)
		return string(j)
	}
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := readYAML([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	// Offline, as in `helm template`: the cluster has nothing.
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	return f
}

type release struct {
	name, namespace string
	kube            kubeVersion
	apis            versionSet
}

// render executes every template file that is not a partial (`_*`), all in one template set so that
// `define`d names are shared across files as in Helm. Returns "templates/x.yaml" -> output.
func render(c *chart, rel release) (map[string]string, []error) {
	chartName, _ := c.meta["Name"].(string)
	t := template.New(chartName).Option("missingkey=zero")
	t.Funcs(helmFuncs(t))
	names := make([]string, 0, len(c.templates))
	for n := range c.templates {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		if _, err := t.New(path.Join(chartName, n)).Parse(c.templates[n]); err != nil {
			errs = append(errs, err)
		}
	}
	if errs != nil {
		return nil, errs
	}
	out := map[string]string{}
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") || !hasExt(n, ".yaml", ".yml") {
			continue // partials only define; NOTES.txt is not a manifest
		}
		root := map[string]interface{}{
			"Values": c.values,
			"Chart":  c.meta,
			"Files":  c.files,
			"Release": map[string]interface{}{
				"Name": rel.name, "Namespace": rel.namespace, "Service": "Helm",
				"IsInstall": true, "IsUpgrade": false, "Revision": 1,
			},
			"Capabilities": map[string]interface{}{
				"KubeVersion": rel.kube, "APIVersions": rel.apis,
				"HelmVersion": map[string]string{"Version": "v3"},
			},
			"Template": map[string]interface{}{
				"Name": path.Join(chartName, n), "BasePath": path.Join(chartName, "templates"),
			},
		}
		var b strings.Builder
		if err := t.ExecuteTemplate(&b, path.Join(chartName, n), root); err != nil {
			errs = append(errs, err)
			continue
		}
		// missingkey=zero prints "<no value>" for an absent key; Helm blanks it.
		out[n] = strings.ReplaceAll(b.String(), "<no value>", "")
	}
	return out, errs
}

func hasExt(name string, exts ...string) bool {
	for _, e := range exts {
		if strings.HasSuffix(name, e) {
			return true
		}
	}
	return false
}
