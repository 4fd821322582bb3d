package rules

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	"github.com/reinstate/reinstate/pkg/audit"
)

// Event is what a condition sees as `event`: the normalized audit event,
// with the field names of `reinstate decode` (package audit's JSON names).
type Event struct {
	ID            string    `cel:"id"`
	TenantID      string    `cel:"tenantId"`
	Time          time.Time `cel:"time"`
	Activity      string    `cel:"activity"`
	Category      string    `cel:"category"`
	OperationType string    `cel:"operationType"`
	Result        string    `cel:"result"`
	ResultReason  string    `cel:"resultReason"`
	Service       string    `cel:"service"`
	CorrelationID string    `cel:"correlationId"`
	Deletion      string    `cel:"deletion"`
	Initiator     Initiator `cel:"initiator"`
	Targets       []Target  `cel:"targets"`
}

// Initiator is `event.initiator`.
type Initiator struct {
	Type               string `cel:"type"`
	ID                 string `cel:"id"`
	UserPrincipalName  string `cel:"userPrincipalName"`
	AppID              string `cel:"appId"`
	ServicePrincipalID string `cel:"servicePrincipalId"`
	DisplayName        string `cel:"displayName"`
}

// Target is `target`, and each item of `event.targets`. Modified properties
// are left out: they are logged as JSON inside strings, a poor thing to
// write conditions on; `object` carries the properties that matter.
type Target struct {
	ID                string `cel:"id"`
	Type              string `cel:"type"`
	DisplayName       string `cel:"displayName"`
	UserPrincipalName string `cel:"userPrincipalName"`
	GroupType         string `cel:"groupType"`
}

func newTarget(t audit.Target) Target {
	return Target{ID: t.ID, Type: string(t.Type), DisplayName: t.DisplayName, UserPrincipalName: t.UserPrincipalName, GroupType: t.GroupType}
}

func newEvent(e *audit.Event) *Event {
	in := e.Initiator
	ev := &Event{
		ID: e.ID, TenantID: e.TenantID, Time: e.Time, Activity: e.Activity, Category: e.Category,
		OperationType: e.OperationType, Result: e.Result, ResultReason: e.ResultReason, Service: e.Service,
		CorrelationID: e.CorrelationID, Deletion: string(e.Deletion),
		Initiator: Initiator{Type: string(in.Type), ID: in.ID, UserPrincipalName: in.UserPrincipalName, AppID: in.AppID,
			ServicePrincipalID: in.ServicePrincipalID, DisplayName: in.DisplayName},
		Targets: make([]Target, len(e.Targets)),
	}
	for i, t := range e.Targets {
		ev.Targets[i] = newTarget(t)
	}
	return ev
}

// Variable names conditions use.
const (
	varEvent  = "event"
	varTarget = "target"
	varObject = "object"
	varNow    = "now"
)

// celEnv is the compile environment every condition shares.
type celEnv struct {
	env *cel.Env
}

// field is one scalar a condition can read, declared under its full name
// ("event.deletion") as well as inside its object type. The checker resolves
// a qualified name before a field selection, so conditions read these
// directly from the activation, without reflection: that is what keeps 50
// rules within a few microseconds an event. The object types remain for
// whole values, such as the items of event.targets.
type field struct {
	name string
	typ  *cel.Type
	// text reads a string field; nil for the others.
	text func(e *audit.Event, t *audit.Target) string
	// value reads the others.
	value func(e *audit.Event, t *audit.Target) ref.Val
}

func (f *field) get(e *audit.Event, t *audit.Target) ref.Val {
	if f.text != nil {
		return types.String(f.text(e, t))
	}
	return f.value(e, t)
}

func text(name string, get func(e *audit.Event, t *audit.Target) string) field {
	return field{name: name, typ: cel.StringType, text: get}
}

var fields = []field{
	text("event.id", func(e *audit.Event, _ *audit.Target) string { return e.ID }),
	text("event.tenantId", func(e *audit.Event, _ *audit.Target) string { return e.TenantID }),
	{name: "event.time", typ: cel.TimestampType, value: func(e *audit.Event, _ *audit.Target) ref.Val { return types.Timestamp{Time: e.Time} }},
	text("event.activity", func(e *audit.Event, _ *audit.Target) string { return e.Activity }),
	text("event.category", func(e *audit.Event, _ *audit.Target) string { return e.Category }),
	text("event.operationType", func(e *audit.Event, _ *audit.Target) string { return e.OperationType }),
	text("event.result", func(e *audit.Event, _ *audit.Target) string { return e.Result }),
	text("event.resultReason", func(e *audit.Event, _ *audit.Target) string { return e.ResultReason }),
	text("event.service", func(e *audit.Event, _ *audit.Target) string { return e.Service }),
	text("event.correlationId", func(e *audit.Event, _ *audit.Target) string { return e.CorrelationID }),
	text("event.deletion", func(e *audit.Event, _ *audit.Target) string { return string(e.Deletion) }),
	text("event.initiator.type", func(e *audit.Event, _ *audit.Target) string { return string(e.Initiator.Type) }),
	text("event.initiator.id", func(e *audit.Event, _ *audit.Target) string { return e.Initiator.ID }),
	text("event.initiator.userPrincipalName", func(e *audit.Event, _ *audit.Target) string { return e.Initiator.UserPrincipalName }),
	text("event.initiator.appId", func(e *audit.Event, _ *audit.Target) string { return e.Initiator.AppID }),
	text("event.initiator.servicePrincipalId", func(e *audit.Event, _ *audit.Target) string { return e.Initiator.ServicePrincipalID }),
	text("event.initiator.displayName", func(e *audit.Event, _ *audit.Target) string { return e.Initiator.DisplayName }),
	text("target.id", func(_ *audit.Event, t *audit.Target) string { return t.ID }),
	text("target.type", func(_ *audit.Event, t *audit.Target) string { return string(t.Type) }),
	text("target.displayName", func(_ *audit.Event, t *audit.Target) string { return t.DisplayName }),
	text("target.userPrincipalName", func(_ *audit.Event, t *audit.Target) string { return t.UserPrincipalName }),
	text("target.groupType", func(_ *audit.Event, t *audit.Target) string { return t.GroupType }),
}

// fieldIndex finds a field's slot in an activation.
var fieldIndex = func() map[string]int {
	m := make(map[string]int, len(fields))
	for i, f := range fields {
		m[f.name] = i
	}
	return m
}()

func newEnv() (*celEnv, error) {
	opts := []cel.EnvOption{
		ext.NativeTypes(ext.ParseStructTags(true), reflect.TypeFor[Event](), reflect.TypeFor[Target](), reflect.TypeFor[Initiator]()),
		cel.Variable(varEvent, cel.ObjectType("rules.Event")),
		cel.Variable(varTarget, cel.ObjectType("rules.Target")),
		// Graph's JSON: its properties differ by type, so the checker cannot
		// know them; conditions guard with has() or `object != null`.
		cel.Variable(varObject, cel.DynType),
		cel.Variable(varNow, cel.TimestampType),
		ext.Strings(),
	}
	for _, f := range fields {
		opts = append(opts, cel.Variable(f.name, f.typ))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("rule condition environment: %w", err)
	}
	return &celEnv{env: env}, nil
}

// issue is a CEL compile problem at a position inside the expression.
type issue struct {
	line, column int
	message      string
}

// compiled is a checked condition, ready to run.
type compiled struct {
	program    cel.Program
	usesObject bool
	// native decides the whole condition in Go, when it is made only of
	// string comparisons of event and target fields with constants, joined
	// by &&, || and !: CEL's interpreter then never runs for it.
	native predicate
	// requires are top-level conjuncts that native code can decide, for a
	// condition that is not wholly native: when one is false, so is the
	// condition, whatever the rest says, and CEL need not run.
	requires []predicate
}

// predicate is a condition, or part of one, compiled to Go. CEL's string
// comparisons cannot fail, so a predicate agrees with CEL on every input
// (TestNativeAgreesWithCEL checks it).
type predicate func(e *audit.Event, t *audit.Target) bool

// compile parses and type-checks src. A condition must be a bool.
func (e *celEnv) compile(src string) (compiled, []issue) {
	checked, iss := e.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		var out []issue
		for _, err := range iss.Errors() {
			out = append(out, issue{line: max(err.Location.Line(), 1), column: max(err.Location.Column(), 0), message: err.Message})
		}
		return compiled{}, out
	}
	if !checked.OutputType().IsExactType(types.BoolType) {
		return compiled{}, []issue{{line: 1, column: 0, message: fmt.Sprintf("a condition must be true or false; this one is a %s", checked.OutputType())}}
	}
	program, err := e.env.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return compiled{}, []issue{{line: 1, column: 0, message: err.Error()}}
	}
	c := compiled{program: program}
	native := checked.NativeRep()
	for _, ref := range native.ReferenceMap() {
		if ref.Name == varObject {
			c.usesObject = true
		}
	}
	if p, ok := toNative(native, native.Expr()); ok {
		c.native = p
	} else {
		c.requires = conjuncts(native, native.Expr(), nil)
	}
	return c, nil
}

// conjuncts collects the top-level conjuncts of x that compile to Go.
func conjuncts(a *celast.AST, x celast.Expr, out []predicate) []predicate {
	if x.Kind() == celast.CallKind && x.AsCall().FunctionName() == operators.LogicalAnd {
		for _, arg := range x.AsCall().Args() {
			out = conjuncts(a, arg, out)
		}
		return out
	}
	if p, ok := toNative(a, x); ok {
		out = append(out, p)
	}
	return out
}

// toNative compiles x to Go when it is a string comparison of a field with
// a constant, a boolean constant, or &&, || and ! of those.
func toNative(a *celast.AST, x celast.Expr) (predicate, bool) {
	if x.Kind() == celast.LiteralKind {
		b, ok := x.AsLiteral().(types.Bool)
		return func(*audit.Event, *audit.Target) bool { return bool(b) }, ok
	}
	if x.Kind() != celast.CallKind {
		return nil, false
	}
	call := x.AsCall()
	args := call.Args()
	switch call.FunctionName() {
	case operators.LogicalAnd, operators.LogicalOr:
		parts := make([]predicate, len(args))
		for i, arg := range args {
			p, ok := toNative(a, arg)
			if !ok {
				return nil, false
			}
			parts[i] = p
		}
		if call.FunctionName() == operators.LogicalAnd {
			return func(e *audit.Event, t *audit.Target) bool {
				for _, p := range parts {
					if !p(e, t) {
						return false
					}
				}
				return true
			}, true
		}
		return func(e *audit.Event, t *audit.Target) bool {
			for _, p := range parts {
				if p(e, t) {
					return true
				}
			}
			return false
		}, true
	case operators.LogicalNot:
		p, ok := toNative(a, args[0])
		return func(e *audit.Event, t *audit.Target) bool { return !p(e, t) }, ok
	case operators.Equals, operators.NotEquals:
		f, v, ok := fieldAndConst(a, args[0], args[1])
		if !ok {
			if f, v, ok = fieldAndConst(a, args[1], args[0]); !ok {
				return nil, false
			}
		}
		want := call.FunctionName() == operators.Equals
		return func(e *audit.Event, t *audit.Target) bool { return (f.text(e, t) == v) == want }, true
	case operators.In:
		f := textField(a, args[0])
		if f == nil || args[1].Kind() != celast.ListKind {
			return nil, false
		}
		set := map[string]bool{}
		for _, el := range args[1].AsList().Elements() {
			v, ok := constText(el)
			if !ok {
				return nil, false
			}
			set[v] = true
		}
		return func(e *audit.Event, t *audit.Target) bool { return set[f.text(e, t)] }, true
	case "startsWith", "endsWith", "contains":
		if !call.IsMemberFunction() || len(args) != 1 {
			return nil, false
		}
		f, v, ok := fieldAndConst(a, call.Target(), args[0])
		if !ok {
			return nil, false
		}
		test := map[string]func(s, v string) bool{"startsWith": strings.HasPrefix, "endsWith": strings.HasSuffix, "contains": strings.Contains}[call.FunctionName()]
		return func(e *audit.Event, t *audit.Target) bool { return test(f.text(e, t), v) }, true
	}
	return nil, false
}

func fieldAndConst(a *celast.AST, fx, cx celast.Expr) (*field, string, bool) {
	f := textField(a, fx)
	if f == nil {
		return nil, "", false
	}
	v, ok := constText(cx)
	return f, v, ok
}

// textField is the string field x reads, if it reads one directly.
func textField(a *celast.AST, x celast.Expr) *field {
	ref, ok := a.ReferenceMap()[x.ID()]
	if !ok || ref.Value != nil {
		return nil
	}
	i, ok := fieldIndex[ref.Name]
	if !ok || fields[i].text == nil {
		return nil
	}
	return &fields[i]
}

func constText(x celast.Expr) (string, bool) {
	if x.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := x.AsLiteral().(types.String)
	return string(s), ok
}

// activation gives a condition its variables. One is built for each event
// and target and shared by every rule, so that the event is adapted to CEL
// once, not once a rule; whole objects are adapted only when a condition
// asks for them.
type activation struct {
	adapter        types.Adapter
	event          *audit.Event
	target         *audit.Target
	object, now    ref.Val
	values         []ref.Val
	eventVal, tVal ref.Val
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varObject:
		return a.object, true
	case varNow:
		return a.now, true
	case varEvent:
		if a.eventVal == nil {
			a.eventVal = a.adapter.NativeToValue(newEvent(a.event))
		}
		return a.eventVal, true
	case varTarget:
		if a.tVal == nil {
			a.tVal = a.adapter.NativeToValue(newTarget(*a.target))
		}
		return a.tVal, true
	}
	i, ok := fieldIndex[name]
	if !ok {
		return nil, false
	}
	if a.values == nil {
		a.values = make([]ref.Val, len(fields))
	}
	if a.values[i] == nil {
		a.values[i] = fields[i].get(a.event, a.target)
	}
	return a.values[i], true
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }
