package graphsim

import (
	"sort"
	"strings"
	"time"
)

// object is one simulated directory or Conditional Access object.
type object struct {
	kind  kind
	id    string
	props *jsonObject
	// owners are object ids, hidden from output (Graph exposes owners only
	// as a relationship); Application.ReadWrite.OwnedBy checks them.
	owners []string
	// deletedAt is set while the object is in a bin.
	deletedAt time.Time
	// originalUPN is a deleted user's userPrincipalName before Entra
	// rewrote it to <id without dashes><UPN>.
	originalUPN string
	// seq orders objects within their collection or bin, so that listing
	// and paging are stable.
	seq int64
}

// ownedBy reports whether principal (an object id) is among the owners.
func (o *object) ownedBy(principal string) bool {
	for _, id := range o.owners {
		if strings.EqualFold(id, principal) {
			return true
		}
	}
	return false
}

// tenant is the simulated directory: live objects, the directory recycle bin,
// the Conditional Access recycle bin, and the callers it knows.
type tenant struct {
	id         string
	live       map[string]*object // lower-case id
	dirBin     map[string]*object
	caBin      map[string]*object
	identities map[string]*Identity // by token
	nextSeq    int64
}

func newTenant(id string) *tenant {
	return &tenant{
		id:         id,
		live:       map[string]*object{},
		dirBin:     map[string]*object{},
		caBin:      map[string]*object{},
		identities: map[string]*Identity{},
	}
}

func (t *tenant) seq() int64 {
	t.nextSeq++
	return t.nextSeq
}

func (t *tenant) addLive(o *object) {
	o.seq = t.seq()
	t.live[strings.ToLower(o.id)] = o
}

func (t *tenant) addDeleted(o *object) {
	o.seq = t.seq()
	if o.kind.info().directory {
		t.dirBin[strings.ToLower(o.id)] = o
	} else {
		t.caBin[strings.ToLower(o.id)] = o
	}
}

// liveByID finds a live object of kind k.
func (t *tenant) liveByID(k kind, id string) *object {
	o := t.live[strings.ToLower(id)]
	if o == nil || o.kind != k {
		return nil
	}
	return o
}

// liveUser finds a live user by id or, as Graph allows for /users/{id |
// userPrincipalName} (Learn graph/api/user-get), by userPrincipalName.
func (t *tenant) liveUser(idOrUPN string) *object {
	if o := t.liveByID(kindUser, idOrUPN); o != nil {
		return o
	}
	for _, o := range t.live {
		if o.kind == kindUser && strings.EqualFold(o.props.str("userPrincipalName"), idOrUPN) {
			return o
		}
	}
	return nil
}

// binFor returns the bin objects of kind k go to.
func (t *tenant) binFor(k kind) map[string]*object {
	if k.info().directory {
		return t.dirBin
	}
	return t.caBin
}

// sorted returns the objects of kind k in m (all kinds if all), in seq order.
func sorted(m map[string]*object, k kind, all bool) []*object {
	var out []*object
	for _, o := range m {
		if all || o.kind == k {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// softDelete moves a live object to its bin, setting the markers Entra sets.
func (t *tenant) softDelete(o *object, now time.Time) {
	delete(t.live, strings.ToLower(o.id))
	o.deletedAt = now
	o.props.set("deletedDateTime", formatGraphTime(now))
	if o.kind == kindUser {
		// Soft-deleted users are renamed <id without dashes><UPN>, which is
		// also what the "Delete user" audit record shows (reference Part B,
		// "Soft-delete markers").
		o.originalUPN = o.props.str("userPrincipalName")
		o.props.set("userPrincipalName", strings.ReplaceAll(o.id, "-", "")+o.originalUPN)
	}
	t.addDeleted(o)
}

// restore moves a deleted object back to the live set.
func (t *tenant) restore(o *object, upn string) {
	delete(t.binFor(o.kind), strings.ToLower(o.id))
	o.deletedAt = time.Time{}
	o.props.set("deletedDateTime", nil)
	if o.kind == kindUser {
		o.props.set("userPrincipalName", upn)
		o.originalUPN = ""
	}
	t.addLive(o)
}

// formatGraphTime is how Graph writes DateTimeOffset values: UTC, "Z".
func formatGraphTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}
