package apiauth

import (
	"fmt"
	"log/slog"
	"slices"
)

// App roles of the Reinstate API app registration. The HTTP layer checks
// them per route; Verify only reports them, so that one verifier serves
// routes with different needs.
const (
	// RoleRead lets a caller see restores, the recycle bin, silences and the
	// journal.
	RoleRead = "Recovery.Read"
	// RoleOperate lets a caller change what Reinstate does: queue restores,
	// silence rules, reset the breaker.
	RoleOperate = "Recovery.Operate"
	// RoleApprove lets a caller approve what needs a second person.
	RoleApprove = "Recovery.Approve"
)

// Caller is who a verified access token speaks for. It carries the raw
// token only for an on-behalf-of exchange, and every way of printing or
// logging a Caller leaves it out.
type Caller struct {
	// ObjectID is the `oid` claim: the user's or the service principal's
	// object id in the tenant, the stable key for rate limits and audit.
	ObjectID string
	// TenantID is the `tid` claim, always the configured tenant.
	TenantID string
	// Name is a human-readable sign-in name for the journal (upn, else
	// preferred_username, else the v1 unique_name); empty for apps. It is
	// mutable and never an authorization input.
	Name string
	// AppID is the client application that obtained the token: `appid` in
	// v1.0 tokens, `azp` in v2.0 tokens.
	AppID string
	// Roles are the app roles granted to the caller (`roles`), which the HTTP
	// layer matches against RoleRead, RoleOperate and RoleApprove.
	Roles []string
	// App is true for an app-only token (client credentials), recognised by
	// the absence of `scp`: Entra puts scopes only in tokens issued on
	// behalf of a user. Unconfirmed alternative: the optional `idtyp` claim
	// ("app"), which needs configuring on the app registration.
	App bool
	// Scopes are the delegated scopes (`scp`, space separated); empty for
	// app-only tokens.
	Scopes []string

	token string
}

// HasRole reports whether the caller holds role. Roles are compared
// exactly: Entra emits an app role's value as defined on the registration.
func (c Caller) HasRole(role string) bool {
	return role != "" && slices.Contains(c.Roles, role)
}

// Token is the raw bearer token, kept for an on-behalf-of exchange when
// Reinstate acts in Graph as the caller. It is a credential: never log,
// journal or return it.
func (c Caller) Token() string { return c.token }

// Actor names the caller in journal entries: a person can read the name,
// and the object id stays true when the name changes.
func (c Caller) Actor() string {
	switch {
	case c.App:
		return fmt.Sprintf("app %s (oid %s)", c.AppID, c.ObjectID)
	case c.Name != "":
		return fmt.Sprintf("%s (oid %s)", c.Name, c.ObjectID)
	default:
		return fmt.Sprintf("user (oid %s)", c.ObjectID)
	}
}

// LogValue makes slog print the caller's identity and roles, and never the
// token, whichever handler is configured.
func (c Caller) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("oid", c.ObjectID),
		slog.String("name", c.Name),
		slog.String("appid", c.AppID),
		slog.Bool("app", c.App),
		slog.Any("roles", c.Roles),
	)
}

// String keeps fmt's %v and %+v, which would otherwise print the unexported
// token field, to the actor and roles.
func (c Caller) String() string {
	return fmt.Sprintf("%s roles %v", c.Actor(), c.Roles)
}

// GoString does the same for %#v.
func (c Caller) GoString() string {
	return fmt.Sprintf("apiauth.Caller{%s}", c.String())
}
