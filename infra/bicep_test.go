package infra_test

// A structural reader for the Bicep files under infra/: not a compiler. It
// lexes comments, strings ('...' with escapes and ${...} interpolation, and
// '''...''') and brackets, then reads the declarations it needs line by line
// (param, var, output, resource, module, extension). It expects the layout
// these templates use: one declaration or object property per line.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

type bicepParam struct {
	typ        string
	hasDefault bool
	described  bool
	allowed    []string
	line       int
}

// entry is one property of an object literal: its key, the rest of its
// line as value, and the line.
type entry struct {
	key, value string
	line       int
}

type bicepModule struct {
	symbol, path string
	line         int
	params       []entry
	scope        string
}

type interpolation struct {
	text string
	line int
}

type bicepFile struct {
	path        string // as given, for messages
	src         string
	masked      string // comments and string contents blanked
	lineStarts  []int
	lineDepth   []int // bracket depth at the start of each line
	targetScope string
	params      map[string]bicepParam
	vars        map[string]int
	outputs     map[string]bool
	symbols     map[string]bool // everything an expression may name
	modules     []bicepModule
	extensions  map[string]int // alias -> line
	interps     []interpolation
	problems    []string
}

// lex blanks comments and the literal parts of strings (keeping quotes and
// interpolated code), checks that brackets, strings and comments close,
// and records each ${...} interpolation.
func lex(src string) (masked []byte, interps []interpolation, problems []string) {
	masked = []byte(src)
	lineOf := func(i int) (int, int) {
		l := strings.Count(src[:i], "\n") + 1
		return l, i - strings.LastIndex(src[:i], "\n")
	}
	blank := func(from, to int) {
		for j := from; j < to && j < len(masked); j++ {
			if masked[j] != '\n' {
				masked[j] = ' '
			}
		}
	}
	type frame struct {
		open   byte
		at     int
		interp bool
	}
	const (
		codeMode = iota
		stringMode
	)
	var stack []frame
	modes := []int{codeMode}
	closer := map[byte]byte{')': '(', ']': '[', '}': '{'}
	for i := 0; i < len(src); {
		c := src[i]
		if modes[len(modes)-1] == stringMode {
			switch {
			case c == '\\':
				blank(i, i+2)
				i += 2
			case c == '\'':
				modes = modes[:len(modes)-1]
				i++
			case c == '$' && i+1 < len(src) && src[i+1] == '{':
				blank(i, i+2)
				stack = append(stack, frame{'{', i, true})
				modes = append(modes, codeMode)
				i += 2
			case c == '\n':
				l, col := lineOf(i)
				problems = append(problems, fmt.Sprintf("%d:%d: string not closed at the end of the line (use '''...''' for several lines)", l, col))
				modes = modes[:len(modes)-1]
				i++
			default:
				blank(i, i+1)
				i++
			}
			continue
		}
		switch {
		case strings.HasPrefix(src[i:], "//"):
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				end = len(src) - i
			}
			blank(i, i+end)
			i += end
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				l, col := lineOf(i)
				problems = append(problems, fmt.Sprintf("%d:%d: comment not closed", l, col))
				blank(i, len(src))
				i = len(src)
				continue
			}
			blank(i, i+2+end+2)
			i += 2 + end + 2
		case strings.HasPrefix(src[i:], "'''"):
			end := strings.Index(src[i+3:], "'''")
			if end < 0 {
				l, col := lineOf(i)
				problems = append(problems, fmt.Sprintf("%d:%d: ''' string not closed", l, col))
				i = len(src)
				continue
			}
			blank(i+1, i+3+end+2)
			i += 3 + end + 3
		case c == '\'':
			modes = append(modes, stringMode)
			i++
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, frame{c, i, false})
			i++
		case c == ')' || c == ']' || c == '}':
			l, col := lineOf(i)
			if len(stack) == 0 {
				problems = append(problems, fmt.Sprintf("%d:%d: %c closes nothing", l, col, c))
				i++
				continue
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.interp {
				if c != '}' {
					problems = append(problems, fmt.Sprintf("%d:%d: %c inside an interpolation that is still open", l, col, c))
				} else {
					interps = append(interps, interpolation{src[top.at+2 : i], strings.Count(src[:top.at], "\n") + 1})
					masked[i] = ' '
					modes = modes[:len(modes)-1]
				}
				i++
				continue
			}
			if closer[c] != top.open {
				ol, ocol := lineOf(top.at)
				problems = append(problems, fmt.Sprintf("%d:%d: %c does not close the %c opened at %d:%d", l, col, c, top.open, ol, ocol))
			}
			i++
		default:
			i++
		}
	}
	if modes[len(modes)-1] == stringMode {
		problems = append(problems, "string not closed at the end of the file")
	}
	for _, f := range stack {
		l, col := lineOf(f.at)
		problems = append(problems, fmt.Sprintf("%d:%d: %c never closed", l, col, f.open))
	}
	return masked, interps, problems
}

var (
	reTargetScope = regexp.MustCompile(`^targetScope\s*=\s*'(\w+)'`)
	reParam       = regexp.MustCompile(`^param\s+([A-Za-z_]\w*)\s+([A-Za-z_]\w*)`)
	reVar         = regexp.MustCompile(`^var\s+([A-Za-z_]\w*)\s*=`)
	reOutput      = regexp.MustCompile(`^output\s+([A-Za-z_]\w*)\s`)
	reResource    = regexp.MustCompile(`^\s*resource\s+([A-Za-z_]\w*)\s+'([^']*)'`)
	reModule      = regexp.MustCompile(`^module\s+([A-Za-z_]\w*)\s+'([^']*)'`)
	reExtension   = regexp.MustCompile(`^extension\s+(?:'[^']*'\s+as\s+)?([A-Za-z_]\w*)`)
	reOther       = regexp.MustCompile(`^(?:func|type|import)\s+([A-Za-z_]\w*)`)
	reKey         = regexp.MustCompile(`^\s*([A-Za-z_]\w*|'[^']*')\s*:\s*(.*?)\s*$`)
	reBound       = regexp.MustCompile(`\bfor\s+([A-Za-z_]\w*)\s+in\b|\bfor\s*\(\s*([A-Za-z_]\w*)\s*,\s*([A-Za-z_]\w*)\s*\)|([A-Za-z_]\w*)\s*=>|\(\s*([A-Za-z_]\w*)\s*,\s*([A-Za-z_]\w*)\s*\)\s*=>`)
	reString      = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)
	reOutputsRef  = regexp.MustCompile(`\b([A-Za-z_]\w*)\.outputs\.\??([A-Za-z_]\w*)`)
	reIdentifier  = regexp.MustCompile(`^\s*([A-Za-z_]\w*)\s*$`)
)

// parseBicep reads src; path is only for messages.
func parseBicep(path, src string) *bicepFile {
	masked, interps, problems := lex(src)
	f := &bicepFile{path: path, src: src, masked: string(masked), interps: interps,
		params: map[string]bicepParam{}, vars: map[string]int{}, outputs: map[string]bool{},
		symbols: map[string]bool{}, extensions: map[string]int{}, targetScope: "resourceGroup"}
	for _, p := range problems {
		f.problems = append(f.problems, path+":"+p)
	}
	f.lineStarts = []int{0}
	for i, c := range f.masked {
		if c == '\n' {
			f.lineStarts = append(f.lineStarts, i+1)
		}
	}
	depth := 0
	for l, start := range f.lineStarts {
		f.lineDepth = append(f.lineDepth, depth)
		end := len(f.masked)
		if l+1 < len(f.lineStarts) {
			end = f.lineStarts[l+1]
		}
		for _, c := range f.masked[start:end] {
			switch c {
			case '(', '[', '{':
				depth++
			case ')', ']', '}':
				depth--
			}
		}
	}
	var allowed []string
	described := false
	for l := range f.lineStarts {
		line, orig := f.maskedLine(l), f.srcLine(l)
		if m := reResource.FindStringSubmatch(orig); m != nil {
			f.symbols[m[1]] = true
			if f.lineDepth[l] == 0 && !strings.Contains(m[2], "@") {
				f.problems = append(f.problems, fmt.Sprintf("%s:%d: resource type '%s' has no @version", path, l+1, m[2]))
			}
		}
		if f.lineDepth[l] != 0 {
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "@allowed("):
			end := f.matching(f.lineStarts[l] + strings.Index(line, "("))
			for _, m := range reString.FindAllStringSubmatch(f.src[f.lineStarts[l]:end], -1) {
				allowed = append(allowed, m[1])
			}
		case strings.HasPrefix(trimmed, "@description("):
			described = true
		}
		if m := reTargetScope.FindStringSubmatch(orig); m != nil {
			f.targetScope = m[1]
		}
		if m := reParam.FindStringSubmatch(line); m != nil {
			rest := line[len(m[0]):]
			f.params[m[1]] = bicepParam{typ: m[2], hasDefault: strings.Contains(rest, "="), described: described, allowed: allowed, line: l + 1}
			f.symbols[m[1]] = true
		}
		if strings.HasPrefix(trimmed, "param ") || strings.HasPrefix(trimmed, "output ") || strings.HasPrefix(trimmed, "var ") || strings.HasPrefix(trimmed, "resource ") || strings.HasPrefix(trimmed, "module ") {
			allowed, described = nil, false
		}
		if m := reVar.FindStringSubmatch(line); m != nil {
			f.vars[m[1]] = l + 1
			f.symbols[m[1]] = true
		}
		if m := reOutput.FindStringSubmatch(line); m != nil {
			f.outputs[m[1]] = true
		}
		if m := reExtension.FindStringSubmatch(orig); m != nil {
			f.extensions[m[1]] = l + 1
			f.symbols[m[1]] = true
		}
		if m := reOther.FindStringSubmatch(line); m != nil {
			f.symbols[m[1]] = true
		}
		if m := reModule.FindStringSubmatch(orig); m != nil {
			f.symbols[m[1]] = true
			mod := bicepModule{symbol: m[1], path: m[2], line: l + 1}
			eq := f.lineStarts[l] + strings.Index(line, "=")
			open := eq + strings.IndexByte(f.masked[eq:], '{')
			for _, e := range f.entries(open) {
				switch e.key {
				case "params":
					if strings.HasPrefix(e.value, "{") {
						start := f.lineStarts[e.line-1] + strings.Index(f.maskedLine(e.line-1), "{")
						mod.params = f.entries(start)
					}
				case "scope":
					mod.scope = e.value
				}
			}
			f.modules = append(f.modules, mod)
		}
	}
	for _, m := range reBound.FindAllStringSubmatch(f.masked, -1) {
		for _, name := range m[1:] {
			if name != "" {
				f.symbols[name] = true
			}
		}
	}
	return f
}

func (f *bicepFile) maskedLine(l int) string { return f.lineText(f.masked, l) }
func (f *bicepFile) srcLine(l int) string    { return f.lineText(f.src, l) }

func (f *bicepFile) lineText(s string, l int) string {
	end := len(s)
	if l+1 < len(f.lineStarts) {
		end = f.lineStarts[l+1] - 1
	}
	return s[f.lineStarts[l]:end]
}

func (f *bicepFile) lineAt(i int) int {
	return sort.Search(len(f.lineStarts), func(l int) bool { return f.lineStarts[l] > i }) - 1
}

// matching returns the index of the bracket that closes the one at open,
// or len(src) when none does.
func (f *bicepFile) matching(open int) int {
	depth := 0
	for i := open; i < len(f.masked); i++ {
		switch f.masked[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(f.masked)
}

// entries are the properties of the object literal whose { is at open.
func (f *bicepFile) entries(open int) []entry {
	if open < 0 || open >= len(f.masked) || f.masked[open] != '{' {
		return nil
	}
	closeAt := f.matching(open)
	inner := f.depthAt(open) + 1
	var out []entry
	for l := f.lineAt(open) + 1; l <= f.lineAt(closeAt) && l < len(f.lineStarts); l++ {
		if f.lineDepth[l] != inner {
			continue
		}
		if m := reKey.FindStringSubmatch(f.maskedLine(l)); m != nil {
			om := reKey.FindStringSubmatch(f.srcLine(l))
			key := m[1]
			if om != nil {
				key = strings.Trim(om[1], "'")
			}
			value := ""
			if om != nil {
				value = om[2]
			}
			out = append(out, entry{key: key, value: value, line: l + 1})
		}
	}
	return out
}

// depthAt is the bracket depth just before index i.
func (f *bicepFile) depthAt(i int) int {
	l := f.lineAt(i)
	depth := f.lineDepth[l]
	for _, c := range f.masked[f.lineStarts[l]:i] {
		switch c {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		}
	}
	return depth
}

// varOpen returns the index of the bracket that opens var name's value.
func (f *bicepFile) varOpen(name string, bracket string) (int, bool) {
	l, ok := f.vars[name]
	if !ok {
		return 0, false
	}
	line := f.maskedLine(l - 1)
	eq := strings.Index(line, "=")
	rest := strings.TrimSpace(line[eq+1:])
	if !strings.HasPrefix(rest, bracket) {
		return 0, false
	}
	return f.lineStarts[l-1] + eq + 1 + strings.Index(line[eq+1:], bracket), true
}

func (f *bicepFile) varObject(name string) ([]entry, bool) {
	open, ok := f.varOpen(name, "{")
	if !ok {
		return nil, false
	}
	return f.entries(open), true
}

// varArrayOfObjects are the object literals directly inside var name's array.
func (f *bicepFile) varArrayOfObjects(name string) ([][]entry, bool) {
	open, ok := f.varOpen(name, "[")
	if !ok {
		return nil, false
	}
	var out [][]entry
	for i := open + 1; i < f.matching(open); i++ {
		if f.masked[i] == '{' {
			out = append(out, f.entries(i))
			i = f.matching(i)
		}
	}
	return out, true
}

// varStrings are the string literals directly inside var name's array.
func (f *bicepFile) varStrings(name string) ([]string, bool) {
	open, ok := f.varOpen(name, "[")
	if !ok {
		return nil, false
	}
	var out []string
	for _, m := range reString.FindAllStringSubmatch(f.src[open:f.matching(open)], -1) {
		out = append(out, m[1])
	}
	return out, true
}

// loadBicep parses a file given relative to the repository root.
func loadBicep(t *testing.T, rel string) *bicepFile {
	t.Helper()
	return parseBicep(rel, read(t, rel))
}

// checkBicep returns every problem the reader finds in the file at path
// and the modules it uses, recursively. configDir holds bicepconfig.json.
func checkBicep(path, configDir string, seen map[string]*bicepFile) []string {
	abs, _ := filepath.Abs(path)
	if _, ok := seen[abs]; ok {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	f := parseBicep(path, string(data))
	seen[abs] = f
	problems := append([]string(nil), f.problems...)
	var extensions map[string]any
	if data, err := os.ReadFile(filepath.Join(configDir, "bicepconfig.json")); err == nil {
		var cfg struct {
			Extensions map[string]any `json:"extensions"`
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", filepath.Join(configDir, "bicepconfig.json"), err))
		}
		extensions = cfg.Extensions
	}
	for alias, line := range f.extensions {
		if _, ok := extensions[alias]; !ok {
			problems = append(problems, fmt.Sprintf("%s:%d: extension %s is not defined in bicepconfig.json's extensions", path, line, alias))
		}
	}
	for name, p := range f.params {
		if !p.described {
			problems = append(problems, fmt.Sprintf("%s:%d: param %s has no @description: say what it deploys", path, p.line, name))
		}
	}
	// Unused parameters and variables (the linter's no-unused-params and
	// no-unused-vars, which bicepconfig.json makes errors).
	for name, line := range f.declared() {
		uses := regexp.MustCompile(`\b`+regexp.QuoteMeta(name)+`\b`).FindAllStringIndex(f.masked, -1)
		if len(uses) < 2 {
			problems = append(problems, fmt.Sprintf("%s:%d: %s is declared but never used", path, line, name))
		}
	}
	for _, in := range f.interps {
		if m := reIdentifier.FindStringSubmatch(in.text); m != nil && !f.symbols[m[1]] {
			problems = append(problems, fmt.Sprintf("%s:%d: ${%s} names nothing declared (write \\${ for a literal ${)", path, in.line, m[1]))
		}
	}
	modules := map[string]*bicepFile{}
	for _, mod := range f.modules {
		if strings.Contains(mod.path, ":") {
			continue // a registry module (br:, ts:) is not on disk
		}
		modPath := filepath.Join(filepath.Dir(path), mod.path)
		problems = append(problems, checkBicep(modPath, configDir, seen)...)
		abs, _ := filepath.Abs(modPath)
		m := seen[abs]
		if m == nil {
			continue
		}
		modules[mod.symbol] = m
		passed := map[string]bool{}
		for _, p := range mod.params {
			passed[p.key] = true
			if _, ok := m.params[p.key]; !ok {
				problems = append(problems, fmt.Sprintf("%s:%d: module %s passes %s, which %s does not declare", path, p.line, mod.symbol, p.key, mod.path))
			}
		}
		for name, p := range m.params {
			if !p.hasDefault && !passed[name] {
				problems = append(problems, fmt.Sprintf("%s:%d: module %s does not pass %s, which %s requires", path, mod.line, mod.symbol, name, mod.path))
			}
		}
		switch {
		case m.targetScope == "tenant" && mod.scope != "tenant()":
			problems = append(problems, fmt.Sprintf("%s:%d: module %s targets the tenant: give it scope: tenant()", path, mod.line, mod.symbol))
		case m.targetScope == "resourceGroup" && f.targetScope == "subscription" && mod.scope == "":
			problems = append(problems, fmt.Sprintf("%s:%d: module %s targets a resource group: give it a scope", path, mod.line, mod.symbol))
		}
	}
	for _, m := range reOutputsRef.FindAllStringSubmatchIndex(f.masked, -1) {
		sym, out := f.masked[m[2]:m[3]], f.masked[m[4]:m[5]]
		line := f.lineAt(m[0]) + 1
		mod, ok := modules[sym]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s:%d: %s.outputs: %s is not a module of this file", path, line, sym, sym))
		case !mod.outputs[out]:
			problems = append(problems, fmt.Sprintf("%s:%d: %s.outputs.%s: %s declares no output %s", path, line, sym, out, mod.path, out))
		}
	}
	return problems
}

// declared are the file's parameters and variables, with their line.
func (f *bicepFile) declared() map[string]int {
	out := map[string]int{}
	for name, p := range f.params {
		out[name] = p.line
	}
	for name, line := range f.vars {
		out[name] = line
	}
	return out
}

// Every Bicep file under infra/ holds together: brackets, strings and
// comments close; modules exist and get exactly the parameters they
// declare, with the scope they target; module outputs used exist;
// interpolations name something; nothing declared goes unused; every
// parameter says what it is; every module file is used.
func TestBicepTemplatesHoldTogether(t *testing.T) {
	seen := map[string]*bicepFile{}
	for _, p := range checkBicep(filepath.Join(root, "infra", "main.bicep"), filepath.Join(root, "infra"), seen) {
		t.Error(strings.TrimPrefix(p, root+string(filepath.Separator)))
	}
	files, _ := filepath.Glob(filepath.Join(root, "infra", "modules", "*.bicep"))
	for _, path := range files {
		abs, _ := filepath.Abs(path)
		if seen[abs] == nil {
			t.Errorf("%s is used by no module statement", path)
		}
	}
	if len(seen) < 5 {
		t.Errorf("read %d Bicep files: the module walk is broken", len(seen))
	}
}

// The reader finds what it claims to: each broken template is reported.
func TestBicepReaderFindsProblems(t *testing.T) {
	module := "@description('x')\nparam needed string\n@description('y')\nparam optional string = 'a'\noutput made string = needed\noutput other string = optional\n"
	tests := []struct {
		name, main, want string
	}{
		{"unclosed brace", "var a = {\n  b: 1\n", "{ never closed"},
		{"mismatched bracket", "var a = [\n  1\n}\n", "does not close the ["},
		{"unclosed string", "var a = 'abc\nvar b = a\n", "string not closed"},
		{"unclosed comment", "/* note\nvar a = 1\n", "comment not closed"},
		{"interpolation of nothing", "@description('d')\nparam p string\nvar a = '${q}-${p}'\noutput o string = a\n", "${q} names nothing declared"},
		{"literal dollar brace", "@description('a ${NAME} b')\nparam p string\noutput o string = p\n", "${NAME} names nothing declared"},
		{"missing module file", "module m 'nope.bicep' = {\n  name: 'm'\n}\n", "nope.bicep"},
		{"unknown module param", "module m 'mod.bicep' = {\n  name: 'm'\n  params: {\n    needed: 'x'\n    extra: 'y'\n  }\n}\n", "passes extra, which mod.bicep does not declare"},
		{"required module param", "module m 'mod.bicep' = {\n  name: 'm'\n  params: {\n    optional: 'x'\n  }\n}\n", "does not pass needed"},
		{"missing module output", "module m 'mod.bicep' = {\n  name: 'm'\n  params: {\n    needed: 'x'\n  }\n}\noutput o string = m.outputs.absent\n", "declares no output absent"},
		{"unused param", "@description('d')\nparam p string\n", "p is declared but never used"},
		{"undescribed param", "param p string\noutput o string = p\n", "has no @description"},
		{"resource without version", "resource r 'Microsoft.Storage/storageAccounts' = {\n  name: 'r'\n}\n", "has no @version"},
		{"undefined extension", "extension microsoftGraphV1\n", "not defined in bicepconfig.json"},
		{"tenant module without scope", "module m 'tenant.bicep' = {\n  name: 'm'\n}\n", "give it scope: tenant()"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "mod.bicep"), []byte(module), 0o644)
			os.WriteFile(filepath.Join(dir, "tenant.bicep"), []byte("targetScope = 'tenant'\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "main.bicep"), []byte(tt.main), 0o644)
			problems := checkBicep(filepath.Join(dir, "main.bicep"), dir, map[string]*bicepFile{})
			for _, p := range problems {
				if strings.Contains(p, tt.want) {
					return
				}
			}
			t.Errorf("want a problem containing %q, got %q", tt.want, problems)
		})
	}
	// And a sound file passes.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mod.bicep"), []byte(module), 0o644)
	sound := "targetScope = 'resourceGroup'\n@description('p')\nparam p string = 'x'\nvar items = [for (x, i) in [1]: x]\nvar s = '${p}-\\'${toLower(p)}\\''\n" +
		"module m 'mod.bicep' = {\n  name: 'm'\n  params: {\n    needed: s\n  }\n}\noutput o string = m.outputs.made\noutput n array = map(items, y => y)\n"
	os.WriteFile(filepath.Join(dir, "main.bicep"), []byte(sound), 0o644)
	if problems := checkBicep(filepath.Join(dir, "main.bicep"), dir, map[string]*bicepFile{}); len(problems) > 0 {
		t.Errorf("a sound file: %q", problems)
	}
}
