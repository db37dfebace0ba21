package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	yaml3 "gopkg.in/yaml.v3"
)

// lintChart is the part of `helm lint` that needs no rendering: Chart.yaml and template file names.
func lintChart(c *chart) []string {
	var errs []string
	if c.meta["APIVersion"] != "v2" {
		errs = append(errs, fmt.Sprintf("Chart.yaml: apiVersion %v: want v2", c.meta["APIVersion"]))
	}
	if name, _ := c.meta["Name"].(string); name == "" || strings.ContainsAny(name, "/\\ ") {
		errs = append(errs, fmt.Sprintf("Chart.yaml: name %q is missing or invalid", name))
	}
	if v, _ := c.meta["Version"].(string); v == "" {
		errs = append(errs, "Chart.yaml: version is missing (a number unquoted in YAML is not a string)")
	} else if _, err := semver.StrictNewVersion(v); err != nil {
		errs = append(errs, fmt.Sprintf("Chart.yaml: version %q is not valid SemVer 2", v))
	}
	if t := c.meta["Type"]; t != "" && t != "application" && t != "library" {
		errs = append(errs, fmt.Sprintf("Chart.yaml: type %v: want application or library", t))
	}
	for n := range c.templates {
		if !hasExt(n, ".yaml", ".yml", ".tpl", ".txt") {
			errs = append(errs, n+": file extension not valid; valid extensions are .yaml, .yml, .tpl, or .txt")
		}
	}
	sort.Strings(errs)
	return errs
}

// Helm's split of a rendered file into documents.
var docSep = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
)

// RBAC object names are path segments (`system:foo` is valid); every other kind here needs DNS-1123.
var pathSegmentKinds = map[string]bool{"Role": true, "ClusterRole": true, "RoleBinding": true, "ClusterRoleBinding": true}

// Workloads without a selector are refused by the API server; `helm lint` reports them.
var selectorKinds = map[string]bool{"Deployment": true, "DaemonSet": true, "StatefulSet": true, "ReplicaSet": true}

type manifest struct {
	source, kind, content string
}

// splitAndLint splits one file's output into documents and checks each is a Kubernetes object:
// valid YAML (duplicate keys included), apiVersion, kind, a valid metadata.name and namespace.
func splitAndLint(source, text string, seen map[string]string) ([]manifest, []string) {
	var out []manifest
	var errs []string
	for i, doc := range docSep.Split(text, -1) {
		doc = strings.TrimSpace(doc)
		where := fmt.Sprintf("%s (document %d)", source, i+1)
		var obj map[string]interface{}
		if err := yaml3.Unmarshal([]byte(doc), &obj); err != nil {
			errs = append(errs, fmt.Sprintf("%s: unable to parse YAML: %v", where, err))
			continue
		}
		if obj == nil {
			continue // empty, or comments only: Helm drops it
		}
		meta, _ := obj["metadata"].(map[string]interface{})
		kind, _ := obj["kind"].(string)
		api, _ := obj["apiVersion"].(string)
		name, _ := meta["name"].(string)
		ns, _ := meta["namespace"].(string)
		switch {
		case api == "" || kind == "":
			errs = append(errs, where+": object has no apiVersion or kind")
		case name == "":
			errs = append(errs, fmt.Sprintf("%s: %s has no metadata.name", where, kind))
		case pathSegmentKinds[kind] && (strings.ContainsAny(name, "/%") || name == "." || name == ".."):
			errs = append(errs, fmt.Sprintf("%s: %s name %q is not a valid path segment", where, kind, name))
		case !pathSegmentKinds[kind] && !dns1123Subdomain.MatchString(name):
			errs = append(errs, fmt.Sprintf("%s: %s name %q is not a DNS-1123 subdomain", where, kind, name))
		case meta["namespace"] != nil && !dns1123Label.MatchString(ns):
			errs = append(errs, fmt.Sprintf("%s: %s namespace %v is not a DNS-1123 label", where, kind, meta["namespace"]))
		}
		if spec, _ := obj["spec"].(map[string]interface{}); selectorKinds[kind] && spec["selector"] == nil {
			errs = append(errs, fmt.Sprintf("%s: %s %s has no spec.selector", where, kind, name))
		}
		key := strings.Join([]string{api, kind, ns, name}, "/")
		if prev, dup := seen[key]; dup && name != "" {
			errs = append(errs, fmt.Sprintf("%s: %s %s is also defined in %s", where, kind, name, prev))
		}
		seen[key] = where
		out = append(out, manifest{source, kind, doc})
	}
	return out, errs
}

// Helm's install order, by kind: what others refer to comes first. Unknown kinds go last.
var installOrder = strings.Fields(`Namespace NetworkPolicy ResourceQuota LimitRange PodSecurityPolicy
	PodDisruptionBudget ServiceAccount Secret SecretList ConfigMap StorageClass PersistentVolume
	PersistentVolumeClaim CustomResourceDefinition ClusterRole ClusterRoleList ClusterRoleBinding
	ClusterRoleBindingList Role RoleList RoleBinding RoleBindingList Service DaemonSet Pod
	ReplicationController ReplicaSet Deployment HorizontalPodAutoscaler StatefulSet Job CronJob
	IngressClass Ingress APIService`)

func kindRank(kind string) int {
	for i, k := range installOrder {
		if k == kind {
			return i
		}
	}
	return len(installOrder)
}

func sortByKind(ms []manifest) {
	sort.SliceStable(ms, func(i, j int) bool {
		ri, rj := kindRank(ms[i].kind), kindRank(ms[j].kind)
		if ri == len(installOrder) && rj == ri {
			return ms[i].kind < ms[j].kind
		}
		return ri < rj
	})
}
