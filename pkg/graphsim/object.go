package graphsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// jsonObject is a JSON object that keeps its members in the order they were
// given, so that seed objects (including properties graphsim knows nothing
// about) come back exactly as written.
type jsonObject struct {
	keys []string
	vals map[string]json.RawMessage
}

func newJSONObject() *jsonObject {
	return &jsonObject{vals: map[string]json.RawMessage{}}
}

// parseJSONObject reads one JSON object, keeping member order. A repeated
// key keeps its first position and its last value, as encoding/json would.
func parseJSONObject(raw []byte) (*jsonObject, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	o := newJSONObject()
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o.setRaw(key, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the object")
	}
	return o, nil
}

func (o *jsonObject) has(key string) bool {
	_, ok := o.vals[key]
	return ok
}

func (o *jsonObject) raw(key string) (json.RawMessage, bool) {
	v, ok := o.vals[key]
	return v, ok
}

// str returns a string member, or "" when it is absent or not a string.
func (o *jsonObject) str(key string) string {
	v, ok := o.vals[key]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

// boolean returns a boolean member, false when absent or not a boolean.
func (o *jsonObject) boolean(key string) bool {
	v, ok := o.vals[key]
	if !ok {
		return false
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		return false
	}
	return b
}

// strings returns a member that is a list of strings; other elements are
// skipped.
func (o *jsonObject) strings(key string) []string {
	v, ok := o.vals[key]
	if !ok {
		return nil
	}
	var elems []json.RawMessage
	if json.Unmarshal(v, &elems) != nil {
		return nil
	}
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		var s string
		if json.Unmarshal(e, &s) == nil {
			out = append(out, s)
		}
	}
	return out
}

func (o *jsonObject) setRaw(key string, v json.RawMessage) {
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

// set stores v (marshalled) under key, appending the key if it is new.
func (o *jsonObject) set(key string, v any) {
	b, err := marshalJSON(v)
	if err != nil {
		panic(fmt.Sprintf("graphsim: marshal %s: %v", key, err))
	}
	o.setRaw(key, b)
}

func (o *jsonObject) del(key string) {
	if _, ok := o.vals[key]; !ok {
		return
	}
	delete(o.vals, key)
	for i, k := range o.keys {
		if k == key {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			break
		}
	}
}

func (o *jsonObject) clone() *jsonObject {
	c := &jsonObject{keys: append([]string(nil), o.keys...), vals: make(map[string]json.RawMessage, len(o.vals))}
	for k, v := range o.vals {
		c.vals[k] = v
	}
	return c
}

// withFirst returns a copy whose leading members are the given ones (in that
// order), followed by o's members other than those keys. It is how OData
// annotations such as @odata.context end up first, where Graph puts them.
func (o *jsonObject) withFirst(pairs ...any) *jsonObject {
	c := newJSONObject()
	for i := 0; i+1 < len(pairs); i += 2 {
		c.set(pairs[i].(string), pairs[i+1])
	}
	for _, k := range o.keys {
		if !c.has(k) {
			c.setRaw(k, o.vals[k])
		}
	}
	return c
}

// selected returns a copy keeping only the named members (matched ignoring
// case, as OData $select does) plus OData annotations.
func (o *jsonObject) selected(names []string) *jsonObject {
	c := newJSONObject()
	for _, k := range o.keys {
		keep := strings.HasPrefix(k, "@odata.")
		for _, n := range names {
			if strings.EqualFold(k, n) {
				keep = true
			}
		}
		if keep {
			c.setRaw(k, o.vals[k])
		}
	}
	return c
}

// marshalJSON is json.Marshal without HTML escaping: Graph writes "&" in
// @odata.nextLink, not "\u0026".
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// MarshalJSON writes the members in order.
func (o *jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := marshalJSON(k)
		b.Write(kb)
		b.WriteByte(':')
		v := o.vals[k]
		if len(v) == 0 {
			v = json.RawMessage("null")
		}
		var c bytes.Buffer
		if err := json.Compact(&c, v); err != nil {
			return nil, fmt.Errorf("member %q: %w", k, err)
		}
		b.Write(c.Bytes())
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
