package oncall_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"

	"github.com/reinstate/reinstate/pkg/apiauth"
	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/backup"
	"github.com/reinstate/reinstate/pkg/guard"
	"github.com/reinstate/reinstate/pkg/oncall"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
	"github.com/reinstate/reinstate/pkg/store"
	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

// openAPIPath is the document the tests hold to the code.
const openAPIPath = "../../docs/openapi.yaml"

// openAPI is the part of docs/openapi.yaml the tests read.
type openAPI struct {
	OpenAPI string `yaml:"openapi"`
	Servers []struct {
		URL string `yaml:"url"`
	} `yaml:"servers"`
	Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	Components struct {
		Schemas map[string]*oaSchema `yaml:"schemas"`
	} `yaml:"components"`
}

type oaOperation struct {
	RequiredRole string            `yaml:"x-required-role"`
	Security     *[]map[string]any `yaml:"security"`
	RequestBody  *struct {
		Content map[string]struct{ Schema oaSchema }
	} `yaml:"requestBody"`
	Responses map[string]yaml.Node `yaml:"responses"`
}

type oaSchema struct {
	Ref                  string               `yaml:"$ref"`
	Properties           map[string]*oaSchema `yaml:"properties"`
	Required             []string             `yaml:"required"`
	AllOf                []*oaSchema          `yaml:"allOf"`
	AdditionalProperties any                  `yaml:"additionalProperties"`
}

var oaHTTPMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	data, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", openAPIPath, err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("%s: openapi %q, want 3.1.x", openAPIPath, doc.OpenAPI)
	}
	return &doc
}

// operations are the document's operations by "METHOD /path".
func (d *openAPI) operations(t *testing.T) map[string]oaOperation {
	t.Helper()
	ops := map[string]oaOperation{}
	for path, item := range d.Paths {
		for method, node := range item {
			if !slices.Contains(oaHTTPMethods, method) {
				continue
			}
			var op oaOperation
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return ops
}

// resolve follows a schema's $ref within components.schemas.
func (d *openAPI) resolve(t *testing.T, s *oaSchema) *oaSchema {
	t.Helper()
	for s != nil && s.Ref != "" {
		name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/")
		if !ok || d.Components.Schemas[name] == nil {
			t.Fatalf("unresolvable $ref %q", s.Ref)
		}
		s = d.Components.Schemas[name]
	}
	return s
}

// fields are the property names a schema declares, with those of its allOf
// members, and the ones it requires.
func (d *openAPI) fields(t *testing.T, s *oaSchema) (props, required []string) {
	t.Helper()
	s = d.resolve(t, s)
	for name := range s.Properties {
		props = append(props, name)
	}
	required = append(required, s.Required...)
	for _, member := range s.AllOf {
		p, r := d.fields(t, member)
		props, required = append(props, p...), append(required, r...)
	}
	sort.Strings(props)
	sort.Strings(required)
	return slices.Compact(props), slices.Compact(required)
}

// oaJSONFields are the names encoding/json gives t's fields, promoted ones
// of embedded structs included, and those it always sends: the ones
// without omitempty or omitzero.
func oaJSONFields(t reflect.Type) (names, always []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && !hasTag && f.Type.Kind() == reflect.Struct {
			n, a := oaJSONFields(f.Type)
			names, always = append(names, n...), append(always, a...)
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		optional := false
		for o := range strings.SplitSeq(opts, ",") {
			optional = optional || o == "omitempty" || o == "omitzero"
		}
		if !optional {
			always = append(always, name)
		}
	}
	sort.Strings(names)
	sort.Strings(always)
	return names, always
}

// TestOpenAPIRoutes: the document describes exactly the routes the server
// serves, under the path it serves them.
func TestOpenAPIRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	var documented []string
	for route := range doc.operations(t) {
		documented = append(documented, route)
	}
	served := oncall.Routes()
	sort.Strings(documented)
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Errorf("docs/openapi.yaml describes\n  %v\nthe server serves\n  %v", documented, served)
	}
	for _, s := range doc.Servers {
		if !strings.HasSuffix(s.URL, oncall.BasePath) {
			t.Errorf("server %s does not end in %s", s.URL, oncall.BasePath)
		}
	}
}

// oaRoleAuth is an Authenticator that believes the bearer token: "Bearer
// Recovery.Read" is a caller holding that role only.
type oaRoleAuth struct{}

func (oaRoleAuth) Authenticate(_ context.Context, r *http.Request) (apiauth.Caller, error) {
	role, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return apiauth.Caller{}, apiauth.ErrNoToken
	}
	return apiauth.Caller{ObjectID: "11111111-2222-4333-8444-555555555555", Name: "tester@contoso.com", Roles: []string{role}}, nil
}

// oaEmptyBin holds nothing: the role test never gets past the role check
// with a request that would need the bin to hold something.
type oaEmptyBin struct{}

func (oaEmptyBin) FindDeleted(context.Context, string) (recovery.DeletedItem, error) {
	return recovery.DeletedItem{}, recovery.ErrNotInBin
}

func (oaEmptyBin) ListDeleted(context.Context, audit.TargetType, time.Time, int) ([]recovery.DeletedItem, bool, error) {
	return nil, false, nil
}

// TestOpenAPIRequiredRoles: each operation's x-required-role is the role
// the server enforces, found by calling the real server as a caller that
// holds that role only (never refused for its role) and as callers holding
// each other role only (always 403). Health needs no token at all.
func TestOpenAPIRequiredRoles(t *testing.T) {
	doc := loadOpenAPI(t)
	st, err := sqlite.Open(t.Context(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	table, err := rules.Load("../../testdata/rules/oncall.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := oncall.New(oncall.Options{Auth: oaRoleAuth{}, Store: st, Bin: oaEmptyBin{}, Rules: table,
		Guards: guard.New(st, guard.Config{Rules: table.Guards}), Rate: rate.Inf})
	if err != nil {
		t.Fatal(err)
	}
	roles := []string{apiauth.RoleRead, apiauth.RoleOperate, apiauth.RoleApprove}
	call := func(route, role string) int {
		method, path, _ := strings.Cut(route, " ")
		path = strings.NewReplacer("{id}", "0000018f2a3b4c5d-a1b2c3d4e5f6").Replace(path)
		req := httptest.NewRequestWithContext(t.Context(), method, oncall.BasePath+path, nil)
		if role != "" {
			req.Header.Set("Authorization", "Bearer "+role)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		return w.Code
	}
	for route, op := range doc.operations(t) {
		t.Run(route, func(t *testing.T) {
			if op.RequiredRole == "none" {
				if op.Security == nil || len(*op.Security) != 0 {
					t.Errorf("x-required-role none, but security is not []")
				}
				for _, role := range append([]string{""}, roles...) {
					if code := call(route, role); code != http.StatusOK {
						t.Errorf("as %q: %d, want 200", role, code)
					}
				}
				return
			}
			if !slices.Contains(roles, op.RequiredRole) {
				t.Fatalf("x-required-role %q is not an app role of the API (%v)", op.RequiredRole, roles)
			}
			if op.Security != nil {
				t.Errorf("an authenticated operation overrides the document's security")
			}
			if code := call(route, ""); code != http.StatusUnauthorized {
				t.Errorf("without a token: %d, want 401", code)
			}
			for _, role := range roles {
				code := call(route, role)
				switch {
				case role == op.RequiredRole && (code == http.StatusForbidden || code == http.StatusUnauthorized):
					t.Errorf("as a caller holding only %s, the documented role: %d", role, code)
				case role != op.RequiredRole && code != http.StatusForbidden:
					t.Errorf("as a caller holding only %s: %d, want 403, as the document says %s is needed", role, code, op.RequiredRole)
				}
			}
			for _, status := range []string{"401", "403", "429", "503"} {
				if _, ok := op.Responses[status]; !ok {
					t.Errorf("response %s is not documented", status)
				}
			}
		})
	}
}

// wireTypes are the Go types behind the document's schemas.
var oaWireTypes = []struct {
	schema string
	typ    reflect.Type
	// request bodies are decoded strictly: the schema must say so.
	request bool
}{
	{"RestoreRequest", reflect.TypeFor[oncall.RestoreRequest](), true},
	{"RestoreOptions", reflect.TypeFor[oncall.RestoreOptions](), true},
	{"RestoreStatus", reflect.TypeFor[oncall.RestoreStatus](), false},
	{"DeletedList", reflect.TypeFor[oncall.DeletedList](), false},
	{"DeletedView", reflect.TypeFor[oncall.DeletedView](), false},
	{"RulesView", reflect.TypeFor[oncall.RulesView](), false},
	{"SilenceRequest", reflect.TypeFor[oncall.SilenceRequest](), true},
	{"SilenceList", reflect.TypeFor[oncall.SilenceList](), false},
	{"BreakerResetRequest", reflect.TypeFor[oncall.BreakerResetRequest](), true},
	{"Done", reflect.TypeFor[oncall.Done](), false},
	{"JournalList", reflect.TypeFor[oncall.JournalList](), false},
	{"Health", reflect.TypeFor[oncall.Health](), false},
	{"Problem", reflect.TypeFor[oncall.Problem](), false},
	{"Entry", reflect.TypeFor[store.Entry](), false},
	{"Silence", reflect.TypeFor[store.Silence](), false},
	{"Outcome", reflect.TypeFor[recovery.Outcome](), false},
	{"DeletedItem", reflect.TypeFor[recovery.DeletedItem](), false},
	{"PreviewActionRequest", reflect.TypeFor[oncall.PreviewActionRequest](), true},
	{"PreviewList", reflect.TypeFor[oncall.PreviewList](), false},
	{"Case", reflect.TypeFor[backup.Case](), false},
	{"Snapshot", reflect.TypeFor[backup.Snapshot](), false},
	{"Job", reflect.TypeFor[backup.Job](), false},
	{"Summary", reflect.TypeFor[backup.Summary](), false},
	{"Change", reflect.TypeFor[backup.Change](), false},
}

// TestOpenAPISchemas: every wire type's schema names exactly the type's
// JSON fields, requires exactly those the code always sends (no omitempty
// or omitzero), and, for request bodies, refuses other properties as the
// server does.
func TestOpenAPISchemas(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, w := range oaWireTypes {
		t.Run(w.schema, func(t *testing.T) {
			s, ok := doc.Components.Schemas[w.schema]
			if !ok {
				t.Fatalf("components.schemas has no %s (Go type %s)", w.schema, w.typ)
			}
			if msg := oaCompareSchema(doc, t, s, w.typ); msg != "" {
				t.Error(msg)
			}
			if w.request && s.AdditionalProperties != false {
				t.Errorf("a request body, but additionalProperties is %v, not false", s.AdditionalProperties)
			}
		})
	}
	// The request bodies the operations take are the strict schemas.
	for route, want := range map[string]string{
		"POST /restores": "RestoreRequest", "POST /silences": "SilenceRequest", "POST /breaker/reset": "BreakerResetRequest",
		"POST /previews/{id}/start": "PreviewActionRequest", "POST /previews/{id}/approve": "PreviewActionRequest",
	} {
		op, ok := doc.operations(t)[route]
		if !ok || op.RequestBody == nil {
			t.Errorf("%s: no request body", route)
			continue
		}
		if got := op.RequestBody.Content["application/json"].Schema.Ref; got != "#/components/schemas/"+want {
			t.Errorf("%s: request body %q, want %s", route, got, want)
		}
	}
}

// oaCompareSchema says how s and the JSON form of typ differ, or "".
func oaCompareSchema(doc *openAPI, t *testing.T, s *oaSchema, typ reflect.Type) string {
	props, required := doc.fields(t, s)
	names, always := oaJSONFields(typ)
	if full, ok := oaMarshalerSamples[typ]; ok {
		// A type with its own MarshalJSON: its JSON names are what it
		// writes, full for every field, zero for those always written.
		names, always = oaKeys(t, full), oaKeys(t, reflect.Zero(typ).Interface())
	}
	var msgs []string
	if !slices.Equal(props, names) {
		msgs = append(msgs, "properties "+strings.Join(props, ",")+"; Go "+typ.String()+" has "+strings.Join(names, ","))
	}
	if !slices.Equal(required, always) {
		msgs = append(msgs, "required "+strings.Join(required, ",")+"; Go "+typ.String()+" always sends "+strings.Join(always, ","))
	}
	return strings.Join(msgs, "; ")
}

// oaMarshalerSamples are values, every field set, of the wire types that
// write their own JSON (backup.Change writes Graph's shape).
var oaMarshalerSamples = map[reflect.Type]any{
	reflect.TypeFor[backup.Change](): backup.Change{ID: "i", DisplayName: "d", EntityType: "group", Action: "restore", FailureMessage: "f"},
}

// oaKeys are the sorted top-level keys of v's JSON.
func oaKeys(t *testing.T, v any) []string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(m))
}

// TestOpenAPISchemaCheckCatchesDrift: the comparison above fails when a Go
// type gains a field the document lacks, or makes one optional, so the
// schema test cannot pass vacuously.
func TestOpenAPISchemaCheckCatchesDrift(t *testing.T) {
	doc := loadOpenAPI(t)
	s := doc.Components.Schemas["RestoreRequest"]
	type grown struct {
		oncall.RestoreRequest
		Priority string `json:"priority"`
	}
	type loosened struct {
		ObjectID   string                 `json:"objectId,omitempty"`
		ObjectType string                 `json:"objectType,omitempty"`
		Reason     string                 `json:"reason"`
		Options    *oncall.RestoreOptions `json:"options,omitempty"`
	}
	if msg := oaCompareSchema(doc, t, s, reflect.TypeFor[oncall.RestoreRequest]()); msg != "" {
		t.Fatalf("the real type differs: %s", msg)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[grown](), reflect.TypeFor[loosened]()} {
		if oaCompareSchema(doc, t, s, typ) == "" {
			t.Errorf("%s matches the RestoreRequest schema", typ)
		}
	}
	// And the JSON names are the ones encoding/json uses.
	raw, err := json.Marshal(grown{})
	if err != nil {
		t.Fatal(err)
	}
	var sent map[string]any
	if err := json.Unmarshal(raw, &sent); err != nil {
		t.Fatal(err)
	}
	_, always := oaJSONFields(reflect.TypeFor[grown]())
	var keys []string
	for k := range sent {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if !slices.Equal(keys, always) {
		t.Errorf("encoding/json sends %v for a zero value, oaJSONFields says %v", keys, always)
	}
}
