package infra_test

// These tests check the deployment against the code it deploys. No Bicep
// compiler or Azure CLI runs where they run, so the Bicep checks are a
// structural reader (bicep_test.go), not a compiler: they catch unbalanced
// brackets, dangling module paths and parameters, missing outputs and
// undeclared interpolations, and the agreement between the templates, the
// parameters file, azure.yaml, the function.json files, the app settings
// the code reads, local.settings.sample.json, docs/CONFIG.md, the
// permission tables and the replay section in docs/DEPLOY.md, the
// Makefile's package recipe and .gitignore.

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/reinstate/reinstate/pkg/config"
)

// root is the repository root, seen from this package's folder.
const root = ".."

// module is the Go module path, to follow the binary's own imports.
const module = "github.com/reinstate/reinstate"

// notAppSettings are variables the code reads that are no app setting of
// the Function app: nobody sets them in Azure or in local.settings.json.
var notAppSettings = map[string]string{
	"FUNCTIONS_CUSTOMHANDLER_PORT": "set by the Functions host for the handler it starts (pkg/customhandler; host HttpWorkerConstants.cs)",
	"FUNCTIONS_HTTPWORKER_PORT":    "the legacy name of the same, set by older hosts",
	"IDENTITY_ENDPOINT":            "set by the App Service platform on every instance that has a managed identity",
	"REINSTATE_API_URL":            "read by the command-line client (reinstate restore, status, ...) on an operator's machine, not by the service",
	"REINSTATE_API_SCOPE":          "command-line client only, as above",
	"REINSTATE_API_KEY":            "command-line client only, as above",
	"REINSTATE_API_TOKEN":          "command-line client only, local mode, as above",
	"USER":                         "the operating system's login name, which the command line records as the actor of --local silences",
}

// undocumented are variables the code reads that docs/CONFIG.md need not
// list, because they are nobody's setting.
var undocumented = map[string]string{
	"USER": "set by the operating system",
}

// hostSettings are app settings that the Functions host reads, not
// Reinstate's code. Settings named by function.json bindings are derived
// from the function.json files instead (bindingSettings).
var hostSettings = map[string]string{
	// Local only: on Flex Consumption the runtime is functionAppConfig.runtime,
	// and the setting "isn't needed and isn't accepted" (Azure/azure-dev#8307).
	"FUNCTIONS_WORKER_RUNTIME": "local",
	// Host storage as a connection string: Azurite locally. In Azure the
	// template uses the identity-based form below instead.
	"AzureWebJobsStorage": "local",
	// Host storage with an identity
	// (learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity).
	"AzureWebJobsStorage__accountName": "azure",
	"AzureWebJobsStorage__credential":  "azure",
	"AzureWebJobsStorage__clientId":    "azure",
	// Telemetry (learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication).
	"APPLICATIONINSIGHTS_CONNECTION_STRING":     "azure",
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "azure",
}

func read(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return string(data)
}

// codeVariables returns every environment variable the reinstate binary
// reads, with where: found by following cmd/reinstate's imports inside the
// module and reading each non-test Go file's syntax for string constants
// named Env*/env*, literals passed to a Getenv/LookupEnv/getenv call, and
// any literal that is a whole REINSTATE_* name. Derived, never listed, so
// that a variable added to the code is checked without editing this test.
func codeVariables(t *testing.T) map[string]string {
	t.Helper()
	found := map[string]string{}
	seen := map[string]bool{}
	name := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	reinstate := regexp.MustCompile(`^REINSTATE_[A-Z0-9_]+$`)
	fset := token.NewFileSet()
	var visit func(dir string)
	visit = func(dir string) {
		if seen[dir] {
			return
		}
		seen[dir] = true
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("package %s: no Go files (%v)", dir, err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatalf("parse %s: %v", path, err)
			}
			add := func(lit *ast.BasicLit) {
				if lit == nil || lit.Kind != token.STRING {
					return
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil || !name.MatchString(v) {
					return
				}
				if _, ok := found[v]; !ok {
					rel, _ := filepath.Rel(root, fset.Position(lit.Pos()).Filename)
					found[v] = fmt.Sprintf("%s:%d", rel, fset.Position(lit.Pos()).Line)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.ImportSpec:
					p, _ := strconv.Unquote(n.Path.Value)
					if rest, ok := strings.CutPrefix(p, module+"/"); ok {
						defer visit(rest)
					}
				case *ast.GenDecl:
					if n.Tok != token.CONST {
						return true
					}
					for _, spec := range n.Specs {
						vs := spec.(*ast.ValueSpec)
						for i, id := range vs.Names {
							if i < len(vs.Values) && (strings.HasPrefix(id.Name, "Env") || strings.HasPrefix(id.Name, "env")) {
								lit, _ := vs.Values[i].(*ast.BasicLit)
								add(lit)
							}
						}
					}
				case *ast.CallExpr:
					var fn string
					switch f := n.Fun.(type) {
					case *ast.Ident:
						fn = f.Name
					case *ast.SelectorExpr:
						fn = f.Sel.Name
					}
					if (fn == "Getenv" || fn == "LookupEnv" || fn == "getenv") && len(n.Args) > 0 {
						lit, _ := n.Args[0].(*ast.BasicLit)
						add(lit)
					}
				case *ast.BasicLit:
					if v, err := strconv.Unquote(n.Value); n.Kind == token.STRING && err == nil && reinstate.MatchString(v) {
						add(n)
					}
				}
				return true
			})
		}
	}
	visit("cmd/reinstate")
	if len(found) < 10 {
		t.Fatalf("found only %d variables in the code (%v): the scan is broken", len(found), found)
	}
	return found
}

// appSettingsRead are the code's variables that are app settings of the
// Function app.
func appSettingsRead(t *testing.T) map[string]string {
	out := map[string]string{}
	for name, where := range codeVariables(t) {
		if _, ok := notAppSettings[name]; !ok {
			out[name] = where
		}
	}
	return out
}

// bindingSettings are the app settings the function.json bindings name.
type bindingSettings struct {
	// expressions are the %NAME% binding expressions: settings read as they are.
	expressions map[string]string
	// connections are connection prefixes: the exact name holds a connection
	// string, NAME__fullyQualifiedNamespace (with __credential and
	// __clientId) an identity-based connection.
	connections map[string]string
}

func functionBindings(t *testing.T) bindingSettings {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "functions", "*", "function.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("function.json files: %v %v", paths, err)
	}
	out := bindingSettings{expressions: map[string]string{}, connections: map[string]string{}}
	expr := regexp.MustCompile(`%([A-Za-z_][A-Za-z0-9_]*)%`)
	for _, path := range paths {
		rel, _ := filepath.Rel(root, path)
		var def struct {
			Bindings []map[string]any `json:"bindings"`
		}
		data, _ := os.ReadFile(path)
		if err := json.Unmarshal(data, &def); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		for _, b := range def.Bindings {
			for key, v := range b {
				s, ok := v.(string)
				if !ok {
					continue
				}
				if key == "connection" {
					out.connections[s] = rel
				}
				for _, m := range expr.FindAllStringSubmatch(s, -1) {
					out.expressions[m[1]] = rel
				}
			}
		}
	}
	return out
}

// provides reports whether settings provide connection prefix: as a
// connection string (exact name) or identity-based (__fullyQualifiedNamespace).
func provides(settings map[string]string, prefix string) bool {
	_, exact := settings[prefix]
	_, identity := settings[prefix+"__fullyQualifiedNamespace"]
	return exact || identity
}

// isBindingSetting reports whether name is one a binding reads.
func (b bindingSettings) isBindingSetting(name string) bool {
	if _, ok := b.expressions[name]; ok {
		return true
	}
	for prefix := range b.connections {
		for _, suffix := range []string{"", "__fullyQualifiedNamespace", "__credential", "__clientId"} {
			if name == prefix+suffix {
				return true
			}
		}
	}
	return false
}

func localSettings(t *testing.T) map[string]string {
	t.Helper()
	var file struct {
		IsEncrypted bool              `json:"IsEncrypted"`
		Values      map[string]string `json:"Values"`
	}
	if err := json.Unmarshal([]byte(read(t, "local.settings.sample.json")), &file); err != nil {
		t.Fatalf("local.settings.sample.json: %v", err)
	}
	if file.IsEncrypted {
		t.Error("local.settings.sample.json: IsEncrypted must be false for a sample")
	}
	return file.Values
}

// configNames are the names in the first column of docs/CONFIG.md's tables.
func configNames(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\|\\s*`([A-Za-z_][A-Za-z0-9_]*)`\\s*\\|")
	for _, m := range row.FindAllStringSubmatch(read(t, "docs/CONFIG.md"), -1) {
		out[m[1]] = true
	}
	return out
}

// templateAppSettings are the keys of the appSettings object in
// modules/functionapp.bicep, with their line.
func templateAppSettings(t *testing.T) map[string]string {
	t.Helper()
	f := loadBicep(t, "infra/modules/functionapp.bicep")
	obj, ok := f.varObject("appSettings")
	if !ok {
		t.Fatal("infra/modules/functionapp.bicep: no `var appSettings = {...}`")
	}
	out := map[string]string{}
	for _, e := range obj {
		out[e.key] = fmt.Sprintf("infra/modules/functionapp.bicep:%d", e.line)
	}
	if len(out) == 0 {
		t.Fatal("infra/modules/functionapp.bicep: appSettings has no keys")
	}
	return out
}

// deployTable returns the rows of the first Markdown table under the
// docs/DEPLOY.md heading that starts with heading, cells trimmed. heading
// is a "## " heading's text, or the whole heading with its #s for another
// level ("### Not granted").
func deployTable(t *testing.T, heading string) [][]string {
	t.Helper()
	doc := read(t, "docs/DEPLOY.md")
	if !strings.HasPrefix(heading, "#") {
		heading = "## " + heading
	}
	start := strings.Index(doc, "\n"+heading)
	if start < 0 {
		t.Fatalf("docs/DEPLOY.md: no section %q", heading)
	}
	section := doc[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	var rows [][]string
	inTable := false
	for line := range strings.SplitSeq(section, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if strings.Trim(strings.Join(cells, ""), "-: ") == "" {
			continue // the separator row
		}
		rows = append(rows, cells)
	}
	if len(rows) < 2 {
		t.Fatalf("docs/DEPLOY.md %q: no table with rows", heading)
	}
	return rows[1:] // without the header
}

// unquote strips one pair of backticks.
func unquote(cell string) string { return strings.Trim(cell, "`") }

// Every app setting the code reads is in local.settings.sample.json, and
// the sample lists nothing that neither the code nor the host reads; its
// values load as they would in a local run.
func TestLocalSettingsListWhatIsRead(t *testing.T) {
	local := localSettings(t)
	read := appSettingsRead(t)
	bindings := functionBindings(t)
	for name, where := range read {
		if _, ok := local[name]; !ok {
			t.Errorf("local.settings.sample.json: %s (read at %s) is missing; add it with a safe local value", name, where)
		}
	}
	for name := range local {
		_, code := read[name]
		scope, host := hostSettings[name]
		switch {
		case code, bindings.isBindingSetting(name), host && scope == "local":
		case host:
			t.Errorf("local.settings.sample.json: %s is a setting for Azure, not for a local run", name)
		default:
			t.Errorf("local.settings.sample.json: %s is read by neither the code nor the Functions host", name)
		}
	}
	for expr, where := range bindings.expressions {
		if _, ok := local[expr]; !ok {
			t.Errorf("local.settings.sample.json: %%%s%% (%s) is missing", expr, where)
		}
	}
	for prefix, where := range bindings.connections {
		if !provides(local, prefix) {
			t.Errorf("local.settings.sample.json: connection %s (%s) needs %s or %s__fullyQualifiedNamespace", prefix, where, prefix, prefix)
		}
	}
	if _, err := config.Load(func(name string) string { return local[name] }); err != nil {
		t.Errorf("local.settings.sample.json: its values do not load:\n%v", err)
	}
}

// Every variable the code reads is documented in docs/CONFIG.md.
func TestConfigDocumentsEveryVariable(t *testing.T) {
	names := configNames(t)
	for name, where := range codeVariables(t) {
		if _, ok := undocumented[name]; ok {
			continue
		}
		if !names[name] {
			t.Errorf("docs/CONFIG.md: %s (read at %s) has no row", name, where)
		}
	}
}

// Every app setting in the template is one the code or the host reads,
// every binding's settings are provided, and every setting the code reads
// is either set by the template or listed in docs/DEPLOY.md as left unset,
// with why.
func TestTemplateSetsWhatIsRead(t *testing.T) {
	tmpl := templateAppSettings(t)
	read := appSettingsRead(t)
	bindings := functionBindings(t)
	for name, where := range tmpl {
		_, code := read[name]
		scope, host := hostSettings[name]
		switch {
		case code, bindings.isBindingSetting(name), host && scope == "azure":
		case host:
			t.Errorf("%s: %s is for local runs only, not for Azure (%s)", where, name, hostSettings[name])
		default:
			t.Errorf("%s: app setting %s is read by neither the code nor the Functions host", where, name)
		}
		if _, ok := notAppSettings[name]; ok {
			t.Errorf("%s: %s must not be set: %s", where, name, notAppSettings[name])
		}
	}
	for expr, where := range bindings.expressions {
		if _, ok := tmpl[expr]; !ok {
			t.Errorf("infra/modules/functionapp.bicep: appSettings lacks %s, which %s reads as %%%s%%", expr, where, expr)
		}
	}
	for prefix, where := range bindings.connections {
		if _, ok := tmpl[prefix+"__fullyQualifiedNamespace"]; !ok {
			t.Errorf("infra/modules/functionapp.bicep: appSettings lacks %s__fullyQualifiedNamespace for the connection in %s", prefix, where)
		}
		if _, ok := tmpl[prefix]; ok {
			t.Errorf("infra/modules/functionapp.bicep: %s is a connection string; use the identity-based %s__fullyQualifiedNamespace", prefix, prefix)
		}
	}
	unset := map[string]string{}
	for _, row := range deployTable(t, "App settings the template leaves unset") {
		if len(row) < 2 || row[1] == "" {
			t.Errorf("docs/DEPLOY.md: unset-settings row %v needs a reason", row)
			continue
		}
		unset[unquote(row[0])] = row[1]
	}
	for name, where := range read {
		_, set := tmpl[name]
		_, documented := unset[name]
		switch {
		case set && documented:
			t.Errorf("docs/DEPLOY.md: %s is listed as left unset, but the template sets it", name)
		case !set && !documented:
			t.Errorf("%s (read at %s) is neither set by infra/modules/functionapp.bicep nor listed in docs/DEPLOY.md's \"App settings the template leaves unset\"", name, where)
		}
	}
	for name := range unset {
		if _, ok := read[name]; !ok {
			t.Errorf("docs/DEPLOY.md: %s is listed as left unset, but the code does not read it as an app setting", name)
		}
	}
}

// functions/functions_test.go TestEveryFunctionFolderIsBound posts to every
// function folder and fails on a folder without a handler. This checks the
// other direction, without running anything: every function name that
// functions.go declares has a folder with a function.json, which the
// package (internal/funcpkg) ships and the host loads.
func TestEveryDeclaredFunctionHasAFolder(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join(root, "functions", "functions.go"), nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST || gd.Doc == nil || !strings.Contains(gd.Doc.Text(), "Function names") {
			continue
		}
		for _, spec := range gd.Specs {
			for _, v := range spec.(*ast.ValueSpec).Values {
				if lit, ok := v.(*ast.BasicLit); ok {
					s, _ := strconv.Unquote(lit.Value)
					names = append(names, s)
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("functions/functions.go: no \"Function names\" const block")
	}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(root, "functions", name, "function.json")); err != nil {
			t.Errorf("functions/functions.go declares function %s, but functions/%s/function.json is missing: %v", name, name, err)
		}
	}
	folders, _ := filepath.Glob(filepath.Join(root, "functions", "*", "function.json"))
	if len(folders) != len(names) {
		t.Errorf("functions/: %d folders with a function.json, %d names in functions.go (%v)", len(folders), len(names), names)
	}
}

// graphRow is one Microsoft Graph permission, as main.bicep's table and
// docs/DEPLOY.md's table give it.
type graphRow struct{ feature, enabled, kind, permission string }

func (r graphRow) String() string {
	return fmt.Sprintf("%s | %s | %s | %s", r.feature, r.enabled, r.kind, r.permission)
}

// The Graph permissions main.bicep grants, per feature parameter, are the
// permission table in docs/DEPLOY.md, row for row; each row says why and
// where Microsoft documents it.
func TestGraphPermissionsMatchTheDeployTable(t *testing.T) {
	main := loadBicep(t, "infra/main.bicep")
	items, ok := main.varArrayOfObjects("graphPermissions")
	if !ok || len(items) == 0 {
		t.Fatal("infra/main.bicep: no `var graphPermissions = [...]`")
	}
	var bicep []graphRow
	ident := regexp.MustCompile(`\b[A-Za-z_][A-Za-z0-9_]*\b`)
	for _, item := range items {
		m := map[string]string{}
		for _, e := range item {
			m[e.key] = e.value
		}
		row := graphRow{strings.Trim(m["feature"], "'"), m["enabled"], strings.Trim(m["type"], "'"), strings.Trim(m["permission"], "'")}
		if row.feature == "" || row.enabled == "" || row.permission == "" || (row.kind != "Application" && row.kind != "Delegated") {
			t.Errorf("infra/main.bicep:%d: graphPermissions entry needs feature, enabled, type (Application or Delegated) and permission: %v", item[0].line, m)
		}
		for _, id := range ident.FindAllString(reString.ReplaceAllString(row.enabled, ""), -1) {
			if _, ok := main.params[id]; !ok && id != "true" && id != "false" {
				t.Errorf("infra/main.bicep:%d: enabled uses %s, which is not a parameter", item[0].line, id)
			}
		}
		bicep = append(bicep, row)
	}
	var doc []graphRow
	learn := regexp.MustCompile(`https://learn\.microsoft\.com/\S+`)
	for _, cells := range deployTable(t, "Microsoft Graph permissions") {
		if len(cells) < 6 {
			t.Errorf("docs/DEPLOY.md: permission row %v needs feature, switched on by, type, permission, why, source", cells)
			continue
		}
		doc = append(doc, graphRow{unquote(cells[0]), unquote(cells[1]), cells[2], unquote(cells[3])})
		if len(cells[4]) < 10 {
			t.Errorf("docs/DEPLOY.md: %s: say why it is needed", unquote(cells[3]))
		}
		if !learn.MatchString(cells[5]) && !strings.Contains(cells[5], "Unconfirmed") {
			t.Errorf("docs/DEPLOY.md: %s: cite the Learn page, or say Unconfirmed", unquote(cells[3]))
		}
	}
	for i := range max(len(bicep), len(doc)) {
		switch {
		case i >= len(doc):
			t.Errorf("row %d: infra/main.bicep grants %v; docs/DEPLOY.md has no such row", i+1, bicep[i])
		case i >= len(bicep):
			t.Errorf("row %d: docs/DEPLOY.md lists %v; infra/main.bicep grants no such permission", i+1, doc[i])
		case bicep[i] != doc[i]:
			t.Errorf("row %d differs:\n  infra/main.bicep: %v\n  docs/DEPLOY.md:   %v", i+1, bicep[i], doc[i])
		}
	}
}

// The tables the template creates are the ones pkg/store/table opens, so
// that a teardown removes all of the store and nothing else.
func TestStoreTablesMatchTheCode(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join(root, "pkg", "store", "table", "table.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	ast.Inspect(f, func(n ast.Node) bool {
		fd, ok := n.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "Open" || fd.Recv != nil {
			return true
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			// The {&s.client, "name"} literals of the tables Open creates.
			if cl, ok := n.(*ast.CompositeLit); ok && len(cl.Elts) == 2 {
				if _, ok := cl.Elts[0].(*ast.UnaryExpr); ok {
					if lit, ok := cl.Elts[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						code = append(code, s)
					}
				}
			}
			return true
		})
		return false
	})
	if len(code) == 0 {
		t.Fatal("pkg/store/table/table.go: found no table names in Open")
	}
	storage := loadBicep(t, "infra/modules/storage.bicep")
	tmpl, ok := storage.varStrings("storeTables")
	if !ok {
		t.Fatal("infra/modules/storage.bicep: no `var storeTables = [...]`")
	}
	sort.Strings(code)
	sort.Strings(tmpl)
	if !slices.Equal(code, tmpl) {
		t.Errorf("infra/modules/storage.bicep storeTables %v, pkg/store/table opens %v", tmpl, code)
	}
}

// azure.yaml deploys what `make package` builds, to the app main.bicep
// tags for it.
func TestAzureYAMLDeploysThePackage(t *testing.T) {
	var azd struct {
		Name  string `yaml:"name"`
		Infra struct {
			Provider, Path, Module string
		} `yaml:"infra"`
		Services map[string]struct {
			Project  string `yaml:"project"`
			Host     string `yaml:"host"`
			Language string `yaml:"language"`
			Dist     string `yaml:"dist"`
			Hooks    map[string]struct {
				Shell string `yaml:"shell"`
				Run   string `yaml:"run"`
			} `yaml:"hooks"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "azure.yaml")), &azd); err != nil {
		t.Fatalf("azure.yaml: %v", err)
	}
	if !regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`).MatchString(azd.Name) {
		t.Errorf("azure.yaml: name %q: lowercase letters, digits and hyphens (azd schema)", azd.Name)
	}
	if azd.Infra.Provider != "bicep" {
		t.Errorf("azure.yaml: infra.provider %q, want bicep", azd.Infra.Provider)
	}
	if _, err := os.Stat(filepath.Join(root, azd.Infra.Path, azd.Infra.Module+".bicep")); err != nil {
		t.Errorf("azure.yaml: infra %s/%s.bicep: %v", azd.Infra.Path, azd.Infra.Module, err)
	}
	if len(azd.Services) != 1 {
		t.Fatalf("azure.yaml: %d services, want the one Function app", len(azd.Services))
	}
	// make package's zip: the -out of mkpackage in the Makefile's package recipe.
	makefile := read(t, "Makefile")
	recipe := regexp.MustCompile(`(?m)^package:.*\n((?:\t.*\n)+)`).FindStringSubmatch(makefile)
	if recipe == nil {
		t.Fatal("Makefile: no package target")
	}
	out := regexp.MustCompile(`-out\s+(\S+)`).FindStringSubmatch(recipe[1])
	if out == nil {
		t.Fatal("Makefile: the package recipe names no -out zip")
	}
	main := loadBicep(t, "infra/main.bicep")
	for name, svc := range azd.Services {
		if svc.Host != "function" {
			t.Errorf("azure.yaml: service %s host %q, want function", name, svc.Host)
		}
		// custom: azd deploys dist as it is (see the comment in azure.yaml).
		if svc.Language != "custom" {
			t.Errorf("azure.yaml: service %s language %q, want custom", name, svc.Language)
		}
		if filepath.Join(svc.Project, svc.Dist) != filepath.Clean(out[1]) {
			t.Errorf("azure.yaml: service %s deploys %s, but make package writes %s", name, filepath.Join(svc.Project, svc.Dist), out[1])
		}
		// make package builds the whole package, rule table included:
		// nothing patches the zip afterwards.
		if hook := strings.TrimSpace(svc.Hooks["prepackage"].Run); hook != "make package" {
			t.Errorf("azure.yaml: service %s: the prepackage hook must run make package and nothing else, runs %q", name, hook)
		}
		// azd finds the app by its azd-service-name tag.
		if !strings.Contains(main.src, "serviceName: '"+name+"'") {
			t.Errorf("infra/main.bicep: pass serviceName: '%s' to the Function app, the service azure.yaml deploys", name)
		}
	}
	// The recipe ships a rule table: mkpackage's -rules names a Makefile
	// variable an operator may set (?=), whose default exists, and which
	// docs/DEPLOY.md explains. internal/funcpkg's tests check that the
	// table lands in the zip as rules.yaml and that the sample loads.
	rules := regexp.MustCompile(`mkpackage\b.*\s-rules\s+"?\$\(([A-Z_][A-Z0-9_]*)\)"?`).FindStringSubmatch(recipe[1])
	if rules == nil {
		t.Fatalf("Makefile: the package recipe does not pass mkpackage -rules $(VARIABLE):\n%s", recipe[1])
	}
	def := regexp.MustCompile(`(?m)^` + rules[1] + `\s*\?=\s*(\S+)\s*$`).FindStringSubmatch(makefile)
	if def == nil {
		t.Fatalf("Makefile: %s needs a default an operator can override (%s ?= docs/rules.sample.yaml)", rules[1], rules[1])
	}
	if _, err := os.Stat(filepath.Join(root, def[1])); err != nil {
		t.Errorf("Makefile: %s defaults to %s: %v", rules[1], def[1], err)
	}
	if deploy := read(t, "docs/DEPLOY.md"); !strings.Contains(deploy, rules[1]+"=") || !strings.Contains(deploy, "azd env set "+rules[1]) {
		t.Errorf("docs/DEPLOY.md: explain %s (%s=path make package, azd env set %s path)", rules[1], rules[1], rules[1])
	}
}

// azd keeps each environment's values, secrets among them, in .azure/.
func TestAzdEnvironmentIsIgnored(t *testing.T) {
	for line := range strings.SplitSeq(read(t, ".gitignore"), "\n") {
		switch strings.TrimSpace(line) {
		case "/.azure/", "/.azure", ".azure/", ".azure":
			return
		}
	}
	t.Error(".gitignore: add /.azure/, azd's per-environment folder")
}

// A permission the template grants is not also listed as not granted:
// the "Not granted, and why" table must not go stale when a feature
// starts needing one.
func TestNothingGrantedIsListedAsNotGranted(t *testing.T) {
	main := loadBicep(t, "infra/main.bicep")
	items, ok := main.varArrayOfObjects("graphPermissions")
	if !ok {
		t.Fatal("infra/main.bicep: no `var graphPermissions = [...]`")
	}
	granted := map[string]bool{}
	for _, item := range items {
		for _, e := range item {
			if e.key == "permission" {
				granted[strings.Trim(e.value, "'")] = true
			}
		}
	}
	perm := regexp.MustCompile("`([A-Za-z]+(?:\\.[A-Za-z]+)+)`")
	rows := deployTable(t, "### Not granted")
	for _, row := range rows {
		for _, m := range perm.FindAllStringSubmatch(row[0], -1) {
			if granted[m[1]] {
				t.Errorf("docs/DEPLOY.md: %s is listed as not granted, but infra/main.bicep's graphPermissions grants it", m[1])
			}
		}
	}
}

// reinstate replay --from-eventhub reads with a consumer group of its own,
// which the template creates beside the AuditEvents trigger's: the
// trigger's event processor holds its group's partitions with epoch
// receivers, which keep a plain reader out (modules/eventhubs.bicep).
func TestReplayHasAConsumerGroupOfItsOwn(t *testing.T) {
	main := loadBicep(t, "infra/main.bicep")
	def := func(param string) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)^param ` + param + ` string = '([^']*)'`).FindStringSubmatch(main.src)
		if m == nil {
			t.Fatalf("infra/main.bicep: param %s string = '...' with a default", param)
		}
		return m[1]
	}
	trigger, replay := def("consumerGroupName"), def("replayConsumerGroupName")
	if trigger == replay || trigger == "$Default" || replay == "$Default" {
		t.Errorf("infra/main.bicep: consumer groups %q (trigger) and %q (replay): want two, neither $Default", trigger, replay)
	}
	hubs := loadBicep(t, "infra/modules/eventhubs.bicep")
	groups := regexp.MustCompile(`(?m)^resource \w+ 'Microsoft\.EventHub/namespaces/eventhubs/consumergroups@`).FindAllString(hubs.src, -1)
	if len(groups) != 2 {
		t.Errorf("infra/modules/eventhubs.bicep: %d consumer group resources, want the trigger's and replay's", len(groups))
	}
	// The trigger reads the trigger's group: main passes the module's
	// consumerGroupName output to the app, which sets it as the setting
	// AuditEvents/function.json reads.
	if !strings.Contains(main.src, "consumerGroupName: eventHubs.outputs.consumerGroupName") {
		t.Error("infra/main.bicep: pass eventHubs.outputs.consumerGroupName, the trigger's group, to the Function app")
	}
	settings, _ := loadBicep(t, "infra/modules/functionapp.bicep").varObject("appSettings")
	found := false
	for _, e := range settings {
		if e.key == "REINSTATE_AUDIT_CONSUMER_GROUP" {
			found = true
			if e.value != "consumerGroupName" {
				t.Errorf("infra/modules/functionapp.bicep:%d: REINSTATE_AUDIT_CONSUMER_GROUP = %s, want consumerGroupName", e.line, e.value)
			}
		}
	}
	if !found {
		t.Error("infra/modules/functionapp.bicep: appSettings lacks REINSTATE_AUDIT_CONSUMER_GROUP")
	}
	if !main.outputs["REINSTATE_REPLAY_CONSUMER_GROUP"] {
		t.Error("infra/main.bicep: output REINSTATE_REPLAY_CONSUMER_GROUP, for replay --consumer-group")
	}
	doc := read(t, "docs/DEPLOY.md")
	start := strings.Index(doc, "\n## Backfill and catching up")
	if start < 0 {
		t.Fatal("docs/DEPLOY.md: no section \"## Backfill and catching up\"")
	}
	section := doc[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	for _, want := range []string{"`" + replay + "`", "--consumer-group", "Azure Event Hubs Data Receiver", "--enforce", "AuditLog.Read.All", "Directory.Read.All", "Reports Reader", "Security Reader", "enableReplayFromGraph"} {
		if !strings.Contains(section, want) {
			t.Errorf("docs/DEPLOY.md \"Backfill and catching up\" does not mention %s", want)
		}
	}
}

// The parameters file sets only parameters main.bicep declares, sets every
// one without a default, with a value of the declared type and, where the
// parameter allows a fixed set, one of those; the azd variables it reads
// are azd's own or explained in docs/DEPLOY.md.
func TestParametersFileMatchesMainBicep(t *testing.T) {
	main := loadBicep(t, "infra/main.bicep")
	var file struct {
		Parameters map[string]struct {
			Value any `json:"value"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(read(t, "infra/main.parameters.json")), &file); err != nil {
		t.Fatalf("infra/main.parameters.json: %v", err)
	}
	deploy := read(t, "docs/DEPLOY.md")
	azdOwn := map[string]bool{"AZURE_ENV_NAME": true, "AZURE_LOCATION": true, "AZURE_PRINCIPAL_ID": true, "AZURE_SUBSCRIPTION_ID": true}
	for name, p := range file.Parameters {
		decl, ok := main.params[name]
		if !ok {
			t.Errorf("infra/main.parameters.json: %s is not a parameter of infra/main.bicep", name)
			continue
		}
		if s, ok := p.Value.(string); ok && strings.Contains(s, "${") {
			for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllStringSubmatch(s, -1) {
				if !azdOwn[m[1]] && !strings.Contains(deploy, m[1]) {
					t.Errorf("infra/main.parameters.json: %s reads azd variable %s, which docs/DEPLOY.md does not explain", name, m[1])
				}
			}
			if decl.typ != "string" {
				t.Errorf("infra/main.parameters.json: %s is a %s; azd substitutes strings", name, decl.typ)
			}
			continue
		}
		var got string
		switch v := p.Value.(type) {
		case string:
			got = "string"
			if len(decl.allowed) > 0 && !slices.Contains(decl.allowed, v) {
				t.Errorf("infra/main.parameters.json: %s = %q, not one of %v", name, v, decl.allowed)
			}
		case bool:
			got = "bool"
		case float64:
			got = "int"
		case []any:
			got = "array"
		case map[string]any:
			got = "object"
		}
		if got != decl.typ {
			t.Errorf("infra/main.parameters.json: %s is a %s in main.bicep, given a %s", name, decl.typ, got)
		}
	}
	for name, decl := range main.params {
		if _, ok := file.Parameters[name]; !ok && !decl.hasDefault {
			t.Errorf("infra/main.parameters.json: %s has no default in infra/main.bicep and is not given", name)
		}
	}
}

// Outputs named in docs/DEPLOY.md (azd env get-value NAME) exist.
func TestDeployDocNamesRealOutputs(t *testing.T) {
	main := loadBicep(t, "infra/main.bicep")
	doc := read(t, "docs/DEPLOY.md")
	refs := regexp.MustCompile(`azd env get-value ([A-Z_][A-Z0-9_]*)`).FindAllStringSubmatch(doc, -1)
	if len(refs) == 0 {
		t.Error("docs/DEPLOY.md: no `azd env get-value NAME`; it should show how to read the outputs")
	}
	for _, m := range refs {
		if !main.outputs[m[1]] {
			t.Errorf("docs/DEPLOY.md reads output %s, which infra/main.bicep does not declare", m[1])
		}
	}
	if !strings.Contains(doc, "not compiled") {
		t.Error("docs/DEPLOY.md must say plainly that the templates were not compiled here")
	}
}
