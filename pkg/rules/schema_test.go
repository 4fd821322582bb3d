package rules_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// The schema editors use (docs/rules.schema.json) must agree with the
// fixtures and with the sample the product ships. These tests check the
// schema only; the loader has its own tests.

const (
	repoRoot   = "../.."
	schemaFile = "docs/rules.schema.json"
	schemaID   = "https://reinstate.dev/schemas/rules-v1.json"
	sampleFile = "docs/rules.sample.yaml"
)

// offline refuses every load: the schema is added from the file, and the
// library has the draft 2020-12 metaschemas built in, so anything it tries to
// fetch is a mistake (and would reach the network in an editor or CI).
type offline struct{}

func (offline) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema tried to load %s; everything must come from %s or the library's built-in metaschemas", url, schemaFile)
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, schemaFile))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s is not JSON: %v", schemaFile, err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("%s is not a JSON object", schemaFile)
	}
	if got := obj["$id"]; got != schemaID {
		t.Errorf("%s: $id is %v, want %s", schemaFile, got, schemaID)
	}
	if got := obj["$schema"]; got != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("%s: $schema is %v, want draft 2020-12", schemaFile, got)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(offline{})
	if err := c.AddResource(schemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schemaID)
	if err != nil {
		t.Fatalf("%s does not compile: %v", schemaFile, err)
	}
	return s
}

// yamlInstance reads a YAML rule file as the JSON value the schema checks:
// YAML to Go values, to JSON text, to the library's own JSON decoding (which
// keeps numbers as json.Number).
func yamlInstance(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	text, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not representable as JSON (non-string keys?): %w", err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(text))
}

func fixtures(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no fixtures in %s", dir)
	}
	return files
}

// firstLineComment is a fixture's line 1, which says what it tests.
func firstLineComment(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	if !strings.HasPrefix(line, "# ") || len(strings.TrimSpace(line)) < 10 {
		t.Errorf("%s: line 1 must be a comment saying what the fixture tests, not %q", path, line)
	}
	return strings.TrimPrefix(line, "# ")
}

func TestSchemaCompiles(t *testing.T) {
	compileSchema(t)
}

func TestSchemaOffline(t *testing.T) {
	// A $ref to anything outside the file must fail, not be fetched.
	c := jsonschema.NewCompiler()
	c.UseLoader(offline{})
	doc := map[string]any{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"$ref":    "https://example.invalid/other.json",
	}
	if err := c.AddResource("https://reinstate.dev/schemas/probe.json", doc); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compile("https://reinstate.dev/schemas/probe.json"); err == nil || !strings.Contains(err.Error(), "example.invalid") {
		t.Fatalf("compiling a schema with a remote $ref: got %v, want the offline loader's refusal", err)
	}
}

func TestSchemaValid(t *testing.T) {
	s := compileSchema(t)
	files := append([]string{filepath.Join(repoRoot, sampleFile)}, fixtures(t, "testdata/rules/valid")...)
	for _, path := range files {
		name, _ := filepath.Rel(repoRoot, path)
		t.Run(name, func(t *testing.T) {
			if path != filepath.Join(repoRoot, sampleFile) {
				firstLineComment(t, path)
			}
			v, err := yamlInstance(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(v); err != nil {
				t.Errorf("%s does not validate:\n%v", name, err)
			}
		})
	}
}

func TestSchemaSampleDeclaresSchema(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, sampleFile))
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	if want := "# yaml-language-server: $schema=./rules.schema.json"; line != want {
		t.Errorf("%s: line 1 is %q, want %q", sampleFile, line, want)
	}
}

func TestSchemaInvalid(t *testing.T) {
	s := compileSchema(t)
	files := fixtures(t, "testdata/rules/invalid-schema")
	if len(files) < 8 {
		t.Errorf("only %d invalid fixtures", len(files))
	}
	for _, path := range files {
		name, _ := filepath.Rel(repoRoot, path)
		t.Run(filepath.Base(path), func(t *testing.T) {
			why := firstLineComment(t, path)
			v, err := yamlInstance(path)
			if err != nil {
				t.Fatalf("%s must be well-formed YAML, wrong only by the schema: %v", name, err)
			}
			err = s.Validate(v)
			var ve *jsonschema.ValidationError
			switch {
			case err == nil:
				t.Errorf("%s validates, but %s", name, why)
			case !errors.As(err, &ve):
				t.Errorf("%s: validation failed for another reason: %v", name, err)
			default:
				t.Logf("%s (%s):\n%v", name, why, err)
			}
		})
	}
}
