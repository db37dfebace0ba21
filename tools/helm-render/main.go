// helm-render renders a Helm chart as `helm template` does and applies the checks of `helm lint` that
// matter for ferrolb's chart. It exists because no helm binary can be installed here (Debian 12 does
// not package one, and only Debian's and npm's registries are reachable), yet the chart must be
// rendered and checked in CI. It uses Helm's own engine: Go's text/template with the sprig functions
// and the few Helm adds (include, tpl, required, toYaml, ...), built from Debian's Go sources by
// scripts/helm-render.sh. Values are checked against values.schema.json as Helm
// does. Not a Helm replacement: no dependencies, hooks or cluster access.
//
// usage: helm-render [--name R] [--namespace NS] [-f values.yaml]... [--set a.b=c]... [--include-crds] CHART_DIR
// Prints the manifests on stdout; on any error prints every error on stderr and exits 1.
package main

import (
	"flag"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	fs := flag.NewFlagSet("helm-render", flag.ExitOnError)
	name := fs.String("name", "release-name", "release name (helm template's default)")
	namespace := fs.String("namespace", "default", "release namespace")
	kube := fs.String("kube-version", "v1.30.0", "Capabilities.KubeVersion (vMAJOR.MINOR.PATCH)")
	withCRDs := fs.Bool("include-crds", false, "also print crds/")
	var valueFiles, sets, apis multi
	fs.Var(&valueFiles, "f", "values file laid over values.yaml (repeatable)")
	fs.Var(&valueFiles, "values", "same as -f")
	fs.Var(&sets, "set", "a.b=c[,d=e] laid over the values files (repeatable)")
	fs.Var(&apis, "api-versions", "extra Capabilities.APIVersions entry (repeatable)")
	// Flags may come after the chart too (`npm run helm:template -- --set x=y`).
	var chartDir string
	for args := os.Args[1:]; ; args = fs.Args()[1:] {
		_ = fs.Parse(args)
		if fs.NArg() == 0 {
			break
		}
		if chartDir != "" {
			fail([]string{"more than one chart directory given"})
		}
		chartDir = fs.Arg(0)
	}
	if chartDir == "" {
		fail([]string{"usage: helm-render [flags] CHART_DIR"})
	}

	c, err := loadChart(chartDir)
	if err != nil {
		fail([]string{err.Error()})
	}
	errs := lintChart(c)
	for _, f := range valueFiles {
		raw, err := os.ReadFile(f)
		over := map[string]interface{}{}
		if err == nil {
			err = readYAML(raw, &over)
		}
		if err != nil {
			fail([]string{fmt.Sprintf("%s: %v", f, err)})
		}
		merge(c.values, over)
	}
	for _, s := range sets {
		if err := applySet(c.values, s); err != nil {
			fail([]string{err.Error()})
		}
	}

	// Helm refuses values its schema rejects before rendering anything.
	if es := validateValues(c); len(es) > 0 {
		fail(append(errs, es...))
	}

	kv := kubeVersion{Version: *kube}
	if parts := strings.SplitN(strings.TrimPrefix(*kube, "v"), ".", 3); len(parts) >= 2 {
		kv.Major, kv.Minor = parts[0], parts[1]
	}
	// The built-in API groups of a current cluster (Helm's default set lists these too).
	builtin := strings.Fields(`v1 apps/v1 batch/v1 policy/v1 autoscaling/v2 networking.k8s.io/v1
		rbac.authorization.k8s.io/v1 coordination.k8s.io/v1 discovery.k8s.io/v1 storage.k8s.io/v1
		apiextensions.k8s.io/v1 admissionregistration.k8s.io/v1 scheduling.k8s.io/v1 certificates.k8s.io/v1`)
	out, renderErrs := render(c, release{*name, *namespace, kv, append(versionSet(builtin), apis...)})
	for _, e := range renderErrs {
		errs = append(errs, e.Error())
	}

	chartName, _ := c.meta["Name"].(string)
	var manifests []manifest
	seen := map[string]string{}
	for _, crd := range c.crds {
		// Helm never templates crds/, but installs them: they must parse too.
		ms, es := splitAndLint(path.Join(chartName, crd), string(c.files[crd]), seen)
		errs = append(errs, es...)
		if *withCRDs {
			manifests = append(manifests, ms...)
		}
	}
	var rendered []manifest
	for _, n := range sortedKeys(out) {
		ms, es := splitAndLint(path.Join(chartName, n), out[n], seen)
		rendered, errs = append(rendered, ms...), append(errs, es...)
	}
	if len(errs) > 0 {
		fail(errs)
	}
	sortByKind(rendered)
	for _, m := range append(manifests, rendered...) {
		fmt.Printf("---\n# Source: %s\n%s\n", m.source, m.content)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func fail(errs []string) {
	for _, e := range errs {
		fmt.Fprintln(os.Stderr, "helm-render: "+e)
	}
	os.Exit(1)
}
