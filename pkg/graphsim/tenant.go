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
	// members are the object ids of a group's static members, hidden from
	// output for the same reason as owners. They are kept while a member is
	// in the recycle bin (restoring a user or group brings its memberships
	// back; Learn entra/fundamentals/recover-from-deletions) and dropped
	// when a member is permanently deleted. Entra Backup and Recovery
	// compares them with a snapshot's ("members@delta", reference §1.6).
	members []string
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

// deepCopy copies the object for a backup snapshot: later changes to the
// live object must not reach the copy.
func (o *object) deepCopy() *object {
	c := *o
	c.props = o.props.clone()
	c.owners = append([]string(nil), o.owners...)
	c.members = append([]string(nil), o.members...)
	return &c
}

// hasMember reports whether id is among a group's static members.
func (o *object) hasMember(id string) bool {
	for _, m := range o.members {
		if strings.EqualFold(m, id) {
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
	// roles are the directory roles of seed users, by lower-case user id
	// (seed "directoryRoles"); delegated callers act with them.
	roles   map[string][]string
	nextSeq int64
}

func newTenant(id string) *tenant {
	return &tenant{
		id:         id,
		live:       map[string]*object{},
		dirBin:     map[string]*object{},
		caBin:      map[string]*object{},
		identities: map[string]*Identity{},
		roles:      map[string][]string{},
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

// dropLinks removes a permanently deleted object from every group's
// members, live or in the bin: a link to an object that no longer exists
// is gone with it.
func (t *tenant) dropLinks(id string) {
	for _, m := range []map[string]*object{t.live, t.dirBin} {
		for _, g := range m {
			if g.kind != kindGroup || !g.hasMember(id) {
				continue
			}
			kept := g.members[:0:0]
			for _, x := range g.members {
				if !strings.EqualFold(x, id) {
					kept = append(kept, x)
				}
			}
			g.members = kept
		}
	}
}

// anyByID finds an object by id, live or in either bin.
func (t *tenant) anyByID(id string) *object {
	id = strings.ToLower(id)
	if o := t.live[id]; o != nil {
		return o
	}
	if o := t.dirBin[id]; o != nil {
		return o
	}
	return t.caBin[id]
}

// formatGraphTime is how Graph writes DateTimeOffset values: UTC, "Z".
func formatGraphTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}
