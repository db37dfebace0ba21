package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/xeipuuv/gojsonschema"
)

// validateValues checks the final values (values.yaml, then -f files, then --set) against the chart's
// values.schema.json, as `helm template/install/lint` do — with the JSON Schema library Helm 3 used
// for this (xeipuuv/gojsonschema), and Helm's wording: one "- field: problem" line per error.
// A chart without values.schema.json is not checked.
func validateValues(c *chart) []string {
	schema, err := os.ReadFile(filepath.Join(c.dir, "values.schema.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return []string{err.Error()}
	}
	values, err := json.Marshal(c.values)
	if err != nil {
		return []string{fmt.Sprintf("values: %v", err)}
	}
	res, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(values))
	if err != nil {
		return []string{fmt.Sprintf("values.schema.json: %v", err)}
	}
	if res.Valid() {
		return nil
	}
	name, _ := c.meta["Name"].(string)
	lines := []string{fmt.Sprintf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:", name)}
	for _, e := range res.Errors() {
		lines = append(lines, "- "+e.String())
	}
	return []string{strings.Join(lines, "\n")}
}
