package rules

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/reinstate/reinstate/pkg/recovery"
)

// Problem is one thing wrong with a rule file, where it is.
type Problem struct {
	File   string
	Line   int
	Column int
	// Field is the path to the offending value, such as "rules[2].when".
	Field   string
	Message string
}

// String is the file:line:column form editors and CI logs link to.
func (p Problem) String() string {
	where := p.File
	if p.Line > 0 {
		where += fmt.Sprintf(":%d:%d", p.Line, p.Column)
	}
	if p.Field != "" {
		return fmt.Sprintf("%s: %s: %s", where, p.Field, p.Message)
	}
	return fmt.Sprintf("%s: %s", where, p.Message)
}

// Error is a refused rule file: every problem found, in file order.
type Error struct {
	Problems []Problem
}

// Error prints one problem a line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// MaxFileSize bounds a rule file: a table is read whole at start-up, and a
// file this large is a mistake, not a rule table.
const MaxFileSize = 4 << 20

// Load reads, expands, compiles and type-checks the rule file at path.
// getenv expands ${NAME} (os.Getenv in production) and supplies
// REINSTATE_MODE. Any problem refuses the whole file with an *Error.
func Load(path string, getenv func(string) string) (*Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: path, Message: fmt.Sprintf("cannot read the rule file: %v", errors.Unwrap(err))}}}
	}
	return Parse(path, data, getenv)
}

// EnvMode is the variable that overrides defaults.mode.
const EnvMode = "REINSTATE_MODE"

// Parse is Load for a file already read; name is used in messages.
func Parse(name string, data []byte, getenv func(string) string) (*Table, error) {
	l := &loader{file: name, lines: bytes.Split(data, []byte("\n")), getenv: getenv}
	if len(data) > MaxFileSize {
		l.problem(nil, "", fmt.Sprintf("the file is %d bytes; a rule file may be at most %d", len(data), MaxFileSize))
		return nil, l.err()
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.yamlProblem(err)
		return nil, l.err()
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		l.problem(&doc, "", "the file must be a YAML mapping with version, channels, guards and rules")
		return nil, l.err()
	}
	l.expand(doc.Content[0])
	t := l.table(doc.Content[0])
	if err := l.err(); err != nil {
		return nil, err
	}
	return t, nil
}

type loader struct {
	file     string
	lines    [][]byte
	getenv   func(string) string
	problems []Problem
}

func (l *loader) err() error {
	if len(l.problems) == 0 {
		return nil
	}
	slices.SortStableFunc(l.problems, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return &Error{Problems: l.problems}
}

func (l *loader) problem(n *yaml.Node, field, msg string) {
	p := Problem{File: l.file, Field: field, Message: msg}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	l.problems = append(l.problems, p)
}

// yamlLine finds "line N" in the YAML library's messages, which carry no
// structured position.
var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

func (l *loader) yamlProblem(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, msg := range te.Errors {
			l.problems = append(l.problems, Problem{File: l.file, Message: msg})
		}
		return
	}
	p := Problem{File: l.file, Message: err.Error()}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		p.Message = "not valid YAML: " + m[2]
		if m[1] != "" {
			p.Line, _ = strconv.Atoi(m[1])
			p.Column = 1
		}
	}
	l.problems = append(l.problems, p)
}

// envRef is ${NAME}; $${ escapes a literal ${.
var envRef = regexp.MustCompile(`\$\$\{|\$\{([^}]*)\}`)

// validEnvName is what a shell would accept as a variable name.
var validEnvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces ${NAME} in every scalar, after parsing, so that a value
// (a webhook URL with a query string, say) can never change the file's YAML
// structure. A plain scalar is resolved again after expansion, so that
// `perRule: ${N}` is a number.
func (l *loader) expand(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		expanded := envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			if ref == "$${" {
				return "${"
			}
			name := ref[2 : len(ref)-1]
			if !validEnvName.MatchString(name) {
				l.problem(n, "", fmt.Sprintf("${%s} is not a valid environment variable reference", name))
				return ref
			}
			// An empty value is what a missing secret looks like: refuse it
			// rather than send to an empty URL.
			v := l.getenv(name)
			if v == "" {
				l.problem(n, "", fmt.Sprintf("environment variable %s is not set", name))
				return ref
			}
			return v
		})
		if expanded != n.Value {
			n.Value = expanded
			if n.Style == 0 {
				n.Tag = ""
			}
		}
	}
	for _, c := range n.Content {
		l.expand(c)
	}
}

// fields walks a mapping, calling visit for each known key and reporting
// unknown and repeated keys.
func (l *loader) fields(n *yaml.Node, path string, known map[string]func(key, value *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		l.problem(n, path, "must be a mapping")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		visit, ok := known[key.Value]
		switch {
		case !ok:
			l.problem(key, join(path, key.Value), fmt.Sprintf("unknown key %q (known: %s)", key.Value, keyList(known)))
		case seen[key.Value]:
			l.problem(key, join(path, key.Value), "is given twice")
		default:
			seen[key.Value] = true
			visit(key, value)
		}
	}
}

func keyList(known map[string]func(key, value *yaml.Node)) string {
	keys := make([]string, 0, len(known))
	for k := range known {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (l *loader) str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		l.problem(n, path, "must be a string")
		return ""
	}
	return n.Value
}

func (l *loader) boolean(n *yaml.Node, path string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		l.problem(n, path, fmt.Sprintf("must be true or false, not %q", n.Value))
	}
	return b
}

func (l *loader) positive(n *yaml.Node, path string) int {
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil || v < 1 {
		l.problem(n, path, fmt.Sprintf("must be a whole number of at least 1, not %q", n.Value))
	}
	return v
}

func (l *loader) duration(n *yaml.Node, path string) time.Duration {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		l.problem(n, path, "must be a duration such as 90s, 30m or 1h30m")
		return 0
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || d < 0 {
		l.problem(n, path, fmt.Sprintf("must be a duration such as 90s, 30m or 1h30m, not %q", n.Value))
	}
	return d
}

func (l *loader) strings(n *yaml.Node, path string) ([]string, []*yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		l.problem(n, path, "must be a list")
		return nil, nil
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		out = append(out, l.str(c, fmt.Sprintf("%s[%d]", path, i)))
	}
	return out, n.Content
}

func (l *loader) oneOf(n *yaml.Node, path string, allowed ...string) string {
	s := l.str(n, path)
	if s != "" && !slices.Contains(allowed, s) {
		l.problem(n, path, fmt.Sprintf("%q is not one of %s", s, strings.Join(allowed, ", ")))
	}
	return s
}

// channelRefs are channel names used before the channels section may have
// been read; they are checked at the end.
type channelRef struct {
	name string
	node *yaml.Node
	path string
}

func (l *loader) table(root *yaml.Node) *Table {
	t := &Table{File: l.file, Channels: map[string]Channel{}}
	t.Guards.Cooldown.Window = DefaultCooldown
	t.Guards.Breaker = Breaker{Window: DefaultBreakerWindow, PerRule: DefaultBreakerPerRule, Total: DefaultBreakerTotal, QuietPeriod: DefaultBreakerQuietPeriod}
	defaultSeverity := DefaultSeverity
	var (
		version   *yaml.Node
		rulesNode *yaml.Node
		refs      []channelRef
		fileMode  Mode
		// defaultNotify are defaults.notify: the channels of rules that
		// name none.
		defaultNotify []string
	)
	l.fields(root, "", map[string]func(key, value *yaml.Node){
		"version": func(_, v *yaml.Node) { version = v },
		"defaults": func(_, v *yaml.Node) {
			l.fields(v, "defaults", map[string]func(key, value *yaml.Node){
				"mode": func(_, v *yaml.Node) {
					fileMode = Mode(l.oneOf(v, "defaults.mode", string(ModeEnforce), string(ModeObserve)))
				},
				"severity": func(_, v *yaml.Node) {
					defaultSeverity = Severity(l.oneOf(v, "defaults.severity", severities...))
				},
				"notify": func(_, v *yaml.Node) {
					var nodes []*yaml.Node
					defaultNotify, nodes = l.strings(v, "defaults.notify")
					for i, name := range defaultNotify {
						refs = append(refs, channelRef{name, nodes[i], fmt.Sprintf("defaults.notify[%d]", i)})
					}
				},
			})
		},
		"channels": func(_, v *yaml.Node) { l.channels(v, t) },
		"guards":   func(_, v *yaml.Node) { refs = append(refs, l.guards(v, &t.Guards)...) },
		"rules":    func(_, v *yaml.Node) { rulesNode = v },
	})
	switch {
	case version == nil:
		l.problem(root, "version", fmt.Sprintf("is missing; this build reads version: %d", Version))
	case version.Value != strconv.Itoa(Version) || version.ShortTag() != "!!int":
		l.problem(version, "version", fmt.Sprintf("%q is not supported; this build reads version: %d", version.Value, Version))
	}
	if rulesNode == nil {
		l.problem(root, "rules", "is missing: a rule table needs at least one rule")
	} else {
		env, err := newEnv()
		if err != nil {
			l.problem(nil, "", "internal: "+err.Error())
			return t
		}
		t.adapter = env.env.CELTypeAdapter()
		refs = append(refs, l.rules(rulesNode, t, env, defaultSeverity, defaultNotify)...)
	}
	for _, ref := range refs {
		if _, ok := t.Channels[ref.name]; !ok && ref.name != "" {
			l.problem(ref.node, ref.path, fmt.Sprintf("channel %q is not declared under channels:", ref.name))
		}
	}
	t.Mode, t.ModeSource = ModeObserve, "default"
	if fileMode != "" {
		t.Mode, t.ModeSource = fileMode, "file"
	}
	if v := strings.TrimSpace(l.getenv(EnvMode)); v != "" {
		m, ok := ParseMode(v)
		if !ok {
			l.problem(nil, EnvMode, fmt.Sprintf("%q is not observe or enforce", v))
		}
		t.Mode, t.ModeSource = m, "environment"
	}
	return t
}

var severities = []string{string(SeverityInfo), string(SeverityWarning), string(SeverityCritical)}

// namePattern is a rule's name; channelPattern a channel's, which starts
// with a letter (docs/rules.schema.json has both).
var (
	namePattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	channelPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)
)

func (l *loader) channels(n *yaml.Node, t *Table) {
	if n.Kind != yaml.MappingNode {
		l.problem(n, "channels", "must be a mapping of channel names to channels")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		path := "channels." + key.Value
		if !channelPattern.MatchString(key.Value) {
			l.problem(key, path, "a channel name is a lower-case letter, then lower-case letters, digits and dashes, at most 64")
		}
		if _, dup := t.Channels[key.Value]; dup {
			l.problem(key, path, "is declared twice")
			continue
		}
		ch := Channel{Name: key.Value, Settings: map[string]any{}}
		if value.Kind != yaml.MappingNode {
			l.problem(value, path, "must be a mapping with a type")
			continue
		}
		for j := 0; j+1 < len(value.Content); j += 2 {
			k, v := value.Content[j], value.Content[j+1]
			switch k.Value {
			case "type":
				ch.Type = l.oneOf(v, path+".type", channelTypes...)
				continue
			case "minSeverity":
				ch.MinSeverity = Severity(l.oneOf(v, path+".minSeverity", severities...))
				continue
			}
			var setting any
			if err := v.Decode(&setting); err != nil {
				l.problem(v, path+"."+k.Value, err.Error())
			}
			ch.Settings[k.Value] = setting
		}
		if ch.Type == "" {
			l.problem(value, path+".type", fmt.Sprintf("is missing: one of %s", strings.Join(channelTypes, ", ")))
		}
		t.Channels[key.Value] = ch
	}
}

func (l *loader) guards(n *yaml.Node, g *Guards) []channelRef {
	var refs []channelRef
	notify := func(v *yaml.Node, path string) []string {
		names, nodes := l.strings(v, path)
		for i, name := range names {
			refs = append(refs, channelRef{name, nodes[i], fmt.Sprintf("%s[%d]", path, i)})
		}
		return names
	}
	l.fields(n, "guards", map[string]func(key, value *yaml.Node){
		"exemptInitiators": func(_, v *yaml.Node) {
			if v.Kind != yaml.SequenceNode {
				l.problem(v, "guards.exemptInitiators", "must be a list of {id, reason}")
				return
			}
			for i, item := range v.Content {
				path := fmt.Sprintf("guards.exemptInitiators[%d]", i)
				var e Exempt
				l.fields(item, path, map[string]func(key, value *yaml.Node){
					"id":     func(_, v *yaml.Node) { e.ID = strings.TrimSpace(l.str(v, path+".id")) },
					"reason": func(_, v *yaml.Node) { e.Reason = strings.TrimSpace(l.str(v, path+".reason")) },
				})
				if e.ID == "" || e.Reason == "" {
					l.problem(item, path, "needs an id (object id, appId or UPN) and a reason")
				}
				g.ExemptInitiators = append(g.ExemptInitiators, e)
			}
		},
		"cooldown": func(_, v *yaml.Node) {
			l.fields(v, "guards.cooldown", map[string]func(key, value *yaml.Node){
				"window": func(_, v *yaml.Node) { g.Cooldown.Window = l.duration(v, "guards.cooldown.window") },
				"notify": func(_, v *yaml.Node) { g.Cooldown.Notify = notify(v, "guards.cooldown.notify") },
			})
		},
		"breaker": func(_, v *yaml.Node) {
			b := &g.Breaker
			l.fields(v, "guards.breaker", map[string]func(key, value *yaml.Node){
				"window":      func(_, v *yaml.Node) { b.Window = l.positiveDuration(v, "guards.breaker.window") },
				"perRule":     func(_, v *yaml.Node) { b.PerRule = l.positive(v, "guards.breaker.perRule") },
				"total":       func(_, v *yaml.Node) { b.Total = l.positive(v, "guards.breaker.total") },
				"quietPeriod": func(_, v *yaml.Node) { b.QuietPeriod = l.positiveDuration(v, "guards.breaker.quietPeriod") },
				"preview":     func(_, v *yaml.Node) { b.Preview = l.boolean(v, "guards.breaker.preview") },
				"notify":      func(_, v *yaml.Node) { b.Notify = notify(v, "guards.breaker.notify") },
			})
		},
	})
	return refs
}

func (l *loader) positiveDuration(n *yaml.Node, path string) time.Duration {
	before := len(l.problems)
	d := l.duration(n, path)
	if d == 0 && len(l.problems) == before {
		l.problem(n, path, "must be longer than zero")
	}
	return d
}

var actionNames = []string{string(ActionRestore), string(ActionPreview), string(ActionNotify), string(ActionIgnore)}

func (l *loader) rules(n *yaml.Node, t *Table, env *celEnv, defaultSeverity Severity, defaultNotify []string) []channelRef {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		l.problem(n, "rules", "must be a list of at least one rule")
		return nil
	}
	var refs []channelRef
	names := map[string]int{}
	for i, item := range n.Content {
		path := fmt.Sprintf("rules[%d]", i)
		r := &Rule{Severity: defaultSeverity, Line: item.Line}
		var nameNode, whenNode, actionsNode, optionsNode *yaml.Node
		l.fields(item, path, map[string]func(key, value *yaml.Node){
			"name":        func(_, v *yaml.Node) { r.Name, nameNode = l.str(v, path+".name"), v },
			"description": func(_, v *yaml.Node) { r.Description = l.str(v, path+".description") },
			"when":        func(_, v *yaml.Node) { whenNode = v },
			"actions":     func(_, v *yaml.Node) { actionsNode = v },
			"notify": func(_, v *yaml.Node) {
				var nodes []*yaml.Node
				r.Notify, nodes = l.strings(v, path+".notify")
				for j, name := range r.Notify {
					refs = append(refs, channelRef{name, nodes[j], fmt.Sprintf("%s.notify[%d]", path, j)})
				}
			},
			"severity": func(_, v *yaml.Node) { r.Severity = Severity(l.oneOf(v, path+".severity", severities...)) },
			"continue": func(_, v *yaml.Node) { r.Continue = l.boolean(v, path+".continue") },
			"options":  func(_, v *yaml.Node) { optionsNode = v },
		})
		if item.Kind != yaml.MappingNode {
			continue
		}
		switch first, dup := names[r.Name]; {
		case r.Name == "":
			l.problem(item, path+".name", "is missing: every rule needs a name, which the journal and notifications show")
		case !namePattern.MatchString(r.Name):
			l.problem(nameNode, path+".name", fmt.Sprintf("%q: a rule name is lower-case letters, digits and dashes, at most 64", r.Name))
		case dup:
			l.problem(nameNode, path+".name", fmt.Sprintf("%q is also the name of rules[%d]", r.Name, first))
		default:
			names[r.Name] = i
		}
		l.ruleActions(item, actionsNode, path, r, len(defaultNotify) > 0)
		if len(r.Notify) == 0 && !r.Has(ActionIgnore) {
			r.Notify = slices.Clone(defaultNotify)
		}
		if optionsNode != nil {
			r.Options = l.options(optionsNode, path+".options", r)
		} else {
			r.Options = defaultOptions()
		}
		if whenNode == nil {
			l.problem(item, path+".when", "is missing: a CEL condition such as event.deletion == \"soft\"")
		} else if src := l.str(whenNode, path+".when"); src != "" {
			if c, issues := env.compile(src); len(issues) > 0 {
				for _, is := range issues {
					line, col := l.exprPosition(whenNode, is.line, is.column)
					l.problems = append(l.problems, Problem{File: l.file, Line: line, Column: col, Field: path + ".when", Message: is.message})
				}
			} else {
				r.When, r.compiled = src, c
				t.usesObject = t.usesObject || c.usesObject
			}
		}
		t.Rules = append(t.Rules, r)
	}
	return refs
}

// ruleActions reads a rule's actions; hasDefaultNotify says whether
// defaults.notify gives channels to a rule that names none.
func (l *loader) ruleActions(item, n *yaml.Node, path string, r *Rule, hasDefaultNotify bool) {
	if n == nil {
		l.problem(item, path+".actions", "is missing: a list of restore, preview, notify or ignore")
		return
	}
	names, nodes := l.strings(n, path+".actions")
	if n.Kind == yaml.SequenceNode && len(names) == 0 {
		l.problem(n, path+".actions", "must name at least one of restore, preview, notify or ignore")
	}
	for i, name := range names {
		a := Action(name)
		switch {
		case !slices.Contains(actionNames, name):
			l.problem(nodes[i], fmt.Sprintf("%s.actions[%d]", path, i), fmt.Sprintf("%q is not an action (restore, preview, notify or ignore)", name))
		case r.Has(a):
			l.problem(nodes[i], fmt.Sprintf("%s.actions[%d]", path, i), fmt.Sprintf("%q is listed twice", name))
		default:
			r.Actions = append(r.Actions, a)
		}
	}
	switch {
	case r.Has(ActionIgnore) && len(names) > 1:
		l.problem(n, path+".actions", "ignore stands alone: a rule that ignores an event does nothing else")
	case r.Has(ActionRestore) && r.Has(ActionPreview):
		l.problem(n, path+".actions", "restore and preview exclude each other: restore writes now, preview waits for approval")
	case r.Has(ActionNotify) && len(r.Notify) == 0 && !hasDefaultNotify:
		l.problem(n, path+".actions", "notify needs channels: add notify: [CHANNEL], or defaults.notify")
	}
	if r.Has(ActionIgnore) && r.Continue {
		l.problem(n, path+".actions", "an ignore rule with continue: true would stop nothing; drop continue, or the rule")
	}
	if r.Has(ActionIgnore) && len(r.Notify) > 0 {
		l.problem(n, path+".actions", "an ignore rule cannot notify: use actions: [notify] to be told without acting")
	}
}

func defaultOptions() recovery.Options { return recovery.Options{} }

func (l *loader) options(n *yaml.Node, path string, r *Rule) recovery.Options {
	opts := defaultOptions()
	if !r.Has(ActionRestore) && !r.Has(ActionPreview) {
		l.problem(n, path, "options shape a restore or preview; this rule does neither")
	}
	l.fields(n, path, map[string]func(key, value *yaml.Node){
		"autoReconcileProxyConflict": func(_, v *yaml.Node) {
			opts.AutoReconcileProxyConflict = l.boolean(v, path+".autoReconcileProxyConflict")
		},
		"caPolicyStateAfterRestore": func(_, v *yaml.Node) {
			if l.oneOf(v, path+".caPolicyStateAfterRestore", recovery.CAStateReportOnly, CAStateAsDeleted) == recovery.CAStateReportOnly {
				opts.CAPolicyStateAfterRestore = recovery.CAStateReportOnly
			}
		},
		"restoreServicePrincipal": func(_, v *yaml.Node) {
			opts.SkipServicePrincipal = !l.boolean(v, path+".restoreServicePrincipal")
		},
	})
	return opts
}

// CAStateAsDeleted leaves a restored Conditional Access policy in the state
// it was deleted in: the default.
const CAStateAsDeleted = "asDeleted"

// exprPosition maps a position inside a `when` expression (CEL: line from 1,
// column from 0, both counted in characters) to the file. It walks the
// scalar's value and its source text side by side, following YAML's quotes,
// escapes, indentation and line folding, so that the position is exact in
// every scalar style, on every line of a multi-line condition. Where the two
// cannot be aligned (a ${NAME} expanded inside the condition, say), it gives
// the last position it could align.
func (l *loader) exprPosition(n *yaml.Node, line, column int) (int, int) {
	value := []rune(n.Value)
	want := 0
	for ln := 1; ln < line && want < len(value); want++ {
		if value[want] == '\n' {
			ln++
		}
	}
	want = min(want+column, len(value))

	fileLine, col, indent := n.Line, n.Column-1, -1
	switch n.Style {
	case yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle:
		col++ // past the opening quote
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// The content starts on the line after the indicator, indented as
		// its first non-blank line is.
		fileLine, col = n.Line+1, 0
		for i := fileLine; i <= len(l.lines); i++ {
			if t := l.runes(i); len(strings.TrimSpace(string(t))) > 0 {
				indent = l.indent(i)
				break
			}
		}
		col = max(indent, 0)
	}
	text := l.runes(fileLine)
	for i := 0; ; {
		if i == len(value) || fileLine > len(l.lines) {
			return fileLine, col + 1
		}
		r := value[i]
		if col >= len(text) {
			// A line break in the source: a line break or a space (folding)
			// in the value, or nothing.
			if i == want {
				return fileLine, col + 1
			}
			if r == '\n' || r == ' ' {
				i++
			}
			fileLine++
			text, col = l.runes(fileLine), 0
			if indent >= 0 {
				col = min(indent, len(text))
			}
			continue
		}
		c := text[col]
		width := 1
		switch {
		case n.Style == yaml.DoubleQuotedStyle && c == '\\':
			if col+1 == len(text) { // an escaped line break joins the lines
				col++
				continue
			}
			width = 2 + map[rune]int{'x': 2, 'u': 4, 'U': 8}[text[col+1]]
		case n.Style == yaml.SingleQuotedStyle && c == '\'' && col+1 < len(text) && text[col+1] == '\'':
			width = 2
		case c == r:
		case c == ' ' || c == '\t':
			// Indentation, or spaces folding removed.
			col++
			continue
		default:
			return fileLine, col + 1
		}
		if i == want {
			return fileLine, col + 1
		}
		i, col = i+1, col+width
	}
}

// runes is line (from 1) of the file, without its line break.
func (l *loader) runes(line int) []rune {
	if line < 1 || line > len(l.lines) {
		return nil
	}
	return []rune(string(bytes.TrimSuffix(l.lines[line-1], []byte("\r"))))
}

func (l *loader) indent(line int) int {
	if line < 1 || line > len(l.lines) {
		return 0
	}
	text := l.lines[line-1]
	return len(text) - len(bytes.TrimLeft(text, " \t"))
}
