package graphsim

// The one file of graphsim tests that uses msgraph-sdk-go: everything that
// links the SDK lives here, so that only this package's test binary pays for
// it. Each test drives graphsim over real loopback HTTP through the SDK's
// default middleware (retry, redirect, compression, ...), built as reference
// §6.1 describes.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	nethttplibrary "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// bearer is an authentication.AuthenticationProvider that sends a fixed
// token: the azidentity provider sends nothing to hosts outside its
// allow-list (reference §6.1).
type bearer struct{ token string }

func (b bearer) AuthenticateRequest(_ context.Context, req *abstractions.RequestInformation, _ map[string]any) error {
	req.Headers.Add("Authorization", "Bearer "+b.token)
	return nil
}

// wire records what reached graphsim, below the SDK's middleware.
type wire struct {
	mu       sync.Mutex
	next     http.Handler
	requests []string // "METHOD path content-encoding"
}

func (w *wire) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	w.requests = append(w.requests, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Encoding"))
	w.mu.Unlock()
	w.next.ServeHTTP(rw, r)
}

func (w *wire) seen(prefix string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, r := range w.requests {
		if strings.HasPrefix(r, prefix) {
			out = append(out, r)
		}
	}
	return out
}

type sdkEnv struct {
	srv     *Server
	wire    *wire
	adapter *msgraphsdk.GraphRequestAdapter
	client  *msgraphsdk.GraphServiceClient
}

func newSDKEnv(t *testing.T, token string, opts Options) *sdkEnv {
	t.Helper()
	if opts.Throttle.CAQuota == 0 {
		opts.Throttle.CAQuota = -1
	}
	if opts.Throttle.AuditQuota == 0 {
		opts.Throttle.AuditQuota = -1
	}
	srv, err := New(loadSeed(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{next: srv}
	hs := httptest.NewServer(w)
	t.Cleanup(hs.Close)
	httpClient := msgraphcore.GetDefaultClient(&msgraphcore.GraphClientOptions{})
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(bearer{token}, nil, nil, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(hs.URL + "/v1.0")
	return &sdkEnv{srv: srv, wire: w, adapter: adapter, client: msgraphsdk.NewGraphServiceClient(adapter)}
}

var errMap = abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

func TestSDKReadDeleteListRestore(t *testing.T) {
	ctx := context.Background()
	admin := newSDKEnv(t, adminTok, Options{})

	user, err := admin.client.Users().ByUserId(adeleID).Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *user.GetUserPrincipalName() != "adele.vance@contoso.com" || *user.GetDisplayName() != "Adele Vance" {
		t.Fatalf("user %v %v", *user.GetUserPrincipalName(), *user.GetDisplayName())
	}
	byUPN, err := admin.client.Users().ByUserId("megan.bowen@contoso.com").Get(ctx, nil)
	if err != nil || *byUPN.GetId() != meganID {
		t.Fatalf("user by UPN: %v", err)
	}
	group, err := admin.client.Groups().ByGroupId(paymentsID).Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *group.GetDisplayName() != "sec-prod-payments" || !*group.GetSecurityEnabled() {
		t.Fatalf("group %v", *group.GetDisplayName())
	}

	for _, id := range []string{paymentsID, falconID, printersID} {
		if err := admin.client.Groups().ByGroupId(id).Delete(ctx, nil); err != nil {
			t.Fatalf("delete %s: %v", id, err)
		}
	}

	// The typed deletedItems builder (cast "graph.group") with $top=1,
	// followed page by page with the core PageIterator.
	top := int32(1)
	page, err := admin.client.Directory().DeletedItems().GraphGroup().Get(ctx, &directory.DeletedItemsGraphGroupRequestBuilderGetRequestConfiguration{
		QueryParameters: &directory.DeletedItemsGraphGroupRequestBuilderGetQueryParameters{Top: &top},
	})
	if err != nil {
		t.Fatal(err)
	}
	if page.GetOdataNextLink() == nil {
		t.Fatal("first page has no nextLink")
	}
	it, err := msgraphcore.NewPageIterator[models.Groupable](page, admin.adapter, models.CreateGroupCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	if err := it.Iterate(ctx, func(g models.Groupable) bool {
		deleted = append(deleted, *g.GetId())
		if g.GetDeletedDateTime() == nil {
			t.Errorf("deleted group %s without deletedDateTime", *g.GetId())
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 4 {
		t.Fatalf("iterated %v, want 4 deleted groups", deleted)
	}
	if n := len(admin.wire.seen("GET /v1.0/directory/deletedItems/graph.group")); n != 4 {
		t.Fatalf("%d page requests, want 4 pages of 1", n)
	}

	// Restore through the generated action: no body parameter in v1.89.
	obj, err := admin.client.Directory().DeletedItems().ByDirectoryObjectId(paymentsID).Restore().Post(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	restored, ok := obj.(models.Groupable)
	if !ok {
		t.Fatalf("restore returned %T, want a Groupable (from @odata.type)", obj)
	}
	if *restored.GetId() != paymentsID {
		t.Fatalf("restored %s", *restored.GetId())
	}
	if _, err := admin.client.Groups().ByGroupId(paymentsID).Get(ctx, nil); err != nil {
		t.Fatalf("restored group not live: %v", err)
	}
}

func TestSDKRestoreUserWithBodyIsGzipped(t *testing.T) {
	ctx := context.Background()
	env := newSDKEnv(t, reinstateTok, Options{})
	builder := env.client.Directory().DeletedItems().ByDirectoryObjectId(deletedLeeGu).Restore()

	// Without autoReconcileProxyConflict: the conflict error, typed.
	_, err := builder.Post(ctx, nil)
	var odataErr *odataerrors.ODataError
	if !errors.As(err, &odataErr) {
		t.Fatalf("error %T %v, want *odataerrors.ODataError", err, err)
	}
	if odataErr.ResponseStatusCode != 400 || *odataErr.GetErrorEscaped().GetCode() != "Request_BadRequest" ||
		!strings.Contains(*odataErr.GetErrorEscaped().GetMessage(), "proxyAddresses") {
		t.Fatalf("conflict error %d %s", odataErr.ResponseStatusCode, *odataErr.GetErrorEscaped().GetMessage())
	}

	// With it, through a raw RequestInformation (reference §6.3).
	ri, err := builder.ToPostRequestInformation(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ri.SetStreamContentAndContentType([]byte(`{"autoReconcileProxyConflict":true}`), "application/json")
	obj, err := env.adapter.Send(ctx, ri, models.CreateDirectoryObjectFromDiscriminatorValue, errMap)
	if err != nil {
		t.Fatal(err)
	}
	user, ok := obj.(models.Userable)
	if !ok {
		t.Fatalf("restore returned %T, want a Userable", obj)
	}
	if *user.GetUserPrincipalName() != "lee.gu@contoso.com" {
		t.Fatalf("UPN %s", *user.GetUserPrincipalName())
	}
	for _, p := range user.GetProxyAddresses() {
		if strings.EqualFold(p, "SMTP:lee.gu@contoso.com") {
			t.Fatalf("conflicting proxy address kept: %v", user.GetProxyAddresses())
		}
	}
	// The SDK's Compression middleware gzipped the body, and graphsim read it.
	posts := env.wire.seen("POST /v1.0/directory/deletedItems/" + deletedLeeGu + "/restore")
	if len(posts) != 2 || !strings.HasSuffix(posts[1], " gzip") {
		t.Fatalf("restore requests on the wire: %q, want the second gzipped", posts)
	}
}

func TestSDKNotFoundIsODataError(t *testing.T) {
	env := newSDKEnv(t, readerTok, Options{})
	_, err := env.client.Users().ByUserId("00000000-0000-0000-0000-000000000000").Get(context.Background(), nil)
	var odataErr *odataerrors.ODataError
	if !errors.As(err, &odataErr) {
		t.Fatalf("error %T %v", err, err)
	}
	main := odataErr.GetErrorEscaped()
	if odataErr.ResponseStatusCode != 404 || *main.GetCode() != "Request_ResourceNotFound" || main.GetInnerError() == nil {
		t.Fatalf("404 error %d %s", odataErr.ResponseStatusCode, *main.GetCode())
	}
	_, err = env.client.Directory().DeletedItems().ByDirectoryObjectId(adeleID).Restore().Post(context.Background(), nil)
	if !errors.As(err, &odataErr) || odataErr.ResponseStatusCode != 403 || *odataErr.GetErrorEscaped().GetCode() != "Authorization_RequestDenied" {
		t.Fatalf("reader restore: %v", err)
	}
}

func TestSDKRetriesThrottledWrite(t *testing.T) {
	// Real time: the SDK's retry handler sleeps for real. A time scale of
	// 150 makes the 150 s write window 1 s, and a quota of 1 throttles the
	// second write with Retry-After: 1.
	env := newSDKEnv(t, adminTok, Options{Clock: time.Now, TimeScale: 150, Throttle: ThrottleConfig{AppWriteQuota: 1}})
	ctx := context.Background()
	if err := env.client.Groups().ByGroupId(paymentsID).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := env.client.Groups().ByGroupId(falconID).Delete(ctx, nil); err != nil {
		t.Fatalf("the retry middleware did not get the throttled delete through: %v", err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("retried after %v, before Retry-After", d)
	}
	st := env.srv.State()
	if st.Requests.ByStatus["429"] != 1 || st.Requests.ByStatus["204"] != 2 || st.Throttle.Throttled["write"] != 1 {
		t.Fatalf("requests %+v throttled %v", st.Requests.ByStatus, st.Throttle.Throttled)
	}
	if n := len(env.wire.seen("DELETE /v1.0/groups/" + falconID)); n != 2 {
		t.Fatalf("%d attempts on the wire, want 2", n)
	}
}

func TestSDKBetaRawRequest(t *testing.T) {
	env := newSDKEnv(t, reinstateTok, Options{})
	ctx := context.Background()
	// Delete through the typed v1.0 builder, restore through a raw beta
	// request: the CA recycle bin has no builder (reference §6.2).
	if err := env.client.Identity().ConditionalAccess().Policies().ByConditionalAccessPolicyId(caPolicyID).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(env.adapter.GetBaseUrl(), "/v1.0")
	u, err := url.Parse(base + "/beta/identity/conditionalAccess/deletedItems/policies/" + caPolicyID + "/restore")
	if err != nil {
		t.Fatal(err)
	}
	ri := abstractions.NewRequestInformation()
	ri.Method = abstractions.POST
	ri.SetUri(*u)
	raw, err := env.adapter.SendPrimitive(ctx, ri, "[]byte", errMap)
	if err != nil {
		t.Fatal(err)
	}
	var policy map[string]any
	if err := json.Unmarshal(raw.([]byte), &policy); err != nil {
		t.Fatal(err)
	}
	if policy["id"] != caPolicyID || policy["state"] != "enabled" || policy["deletedDateTime"] != nil {
		t.Fatalf("restored policy %v", policy)
	}
	got, err := env.client.Identity().ConditionalAccess().Policies().ByConditionalAccessPolicyId(caPolicyID).Get(ctx, nil)
	if err != nil || *got.GetDisplayName() != "Require MFA for admins" {
		t.Fatalf("policy after restore: %v", err)
	}
}

// TestSDKBackupRecoveryFlow drives Entra Backup and Recovery through raw
// msgraph-sdk-go requests, which is all the SDK offers for it (reference
// §1.1, §6.2): list snapshots, create a preview job (gzipped body, Location
// read through the headers-inspection option), poll it, read its changes
// with the v1.0 qualified function name, then recover.
func TestSDKBackupRecoveryFlow(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	env := newSDKEnv(t, adminTok, Options{Clock: clock.Now, Backup: BackupConfig{FirstSnapshotAge: time.Hour}})
	if err := env.client.Users().ByUserId(adeleID).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	base := env.adapter.GetBaseUrl() // .../v1.0
	request := func(method abstractions.HttpMethod, rawURL string, body []byte) *abstractions.RequestInformation {
		t.Helper()
		u, err := url.Parse(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		ri := abstractions.NewRequestInformation()
		ri.Method = method
		ri.SetUri(*u)
		if body != nil {
			ri.SetStreamContentAndContentType(body, "application/json")
		}
		return ri
	}
	getJSON := func(rawURL string) (map[string]any, error) {
		t.Helper()
		raw, err := env.adapter.SendPrimitive(ctx, request(abstractions.GET, rawURL, nil), "[]byte", errMap)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(raw.([]byte), &m); err != nil {
			t.Fatal(err)
		}
		return m, nil
	}
	create := func(kind string, sid string, body []byte) string {
		t.Helper()
		ri := request(abstractions.POST, base+"/directory/recovery/snapshots/"+sid+"/"+kind, body)
		hi := nethttplibrary.NewHeadersInspectionOptions()
		hi.InspectResponseHeaders = true
		ri.AddRequestOptions([]abstractions.RequestOption{hi})
		if err := env.adapter.SendNoContent(ctx, ri, errMap); err != nil {
			t.Fatal(err)
		}
		loc := hi.GetResponseHeaders().Get("Location")
		if len(loc) != 1 || !strings.HasPrefix(loc[0], base+"/directory/recovery/snapshots/"+sid+"/"+kind+"/") {
			t.Fatalf("Location %v", loc)
		}
		return loc[0]
	}

	list, err := getJSON(base + "/directory/recovery/snapshots?$orderby=createdDateTime%20desc&$top=1")
	if err != nil {
		t.Fatal(err)
	}
	snaps := list["value"].([]any)
	snap := snaps[0].(map[string]any)
	sid := snap["id"].(string)
	if dec, err := base64.StdEncoding.DecodeString(sid); err != nil || string(dec) != snap["createdDateTime"] || snap["createdDateTime"] != "2025-06-10T11:00:00Z" {
		t.Fatalf("snapshot %v", snap)
	}

	filter := []byte(`{"filteringCriteria":{"@odata.type":"#microsoft.graph.entraRecoveryServices.recoveryJobEntityNameAndIdsFilter","filterValues":[{"entityType":"user","entityIds":["` + adeleID + `"]}]}}`)
	loc := create("recoveryPreviewJobs", sid, filter)
	if enc := env.wire.seen("POST /v1.0/directory/recovery/snapshots/" + sid + "/recoveryPreviewJobs"); len(enc) != 1 || !strings.HasSuffix(enc[0], " gzip") {
		t.Errorf("create on the wire: %v (the SDK gzips bodies)", enc)
	}
	getChanges := loc + "/microsoft.graph.entraRecoveryServices.getChanges"
	_, err = getJSON(getChanges)
	var oerr *odataerrors.ODataError
	if !errors.As(err, &oerr) || oerr.ResponseStatusCode != 400 || !strings.Contains(*oerr.GetErrorEscaped().GetMessage(), "must have completed successfully prior to enumerating changes") {
		t.Fatalf("getChanges before success: %v", err)
	}
	job, err := getJSON(loc)
	if err != nil || job["status"] != "initialized" {
		t.Fatalf("job %v (%v)", job, err)
	}
	clock.Advance(8 * time.Minute)
	if job, err = getJSON(loc); err != nil || job["status"] != "successful" || job["totalChangedObjectsCalculated"].(float64) != 1 {
		t.Fatalf("job %v (%v)", job, err)
	}
	changes, err := getJSON(getChanges)
	if err != nil {
		t.Fatal(err)
	}
	vals := changes["value"].([]any)
	if len(vals) != 1 || vals[0].(map[string]any)["id"] != adeleID || vals[0].(map[string]any)["recoveryAction"] != "restore" {
		t.Fatalf("changes %v", vals)
	}

	loc = create("recoveryJobs", sid, filter)
	clock.Advance(8 * time.Minute)
	if job, err = getJSON(loc); err != nil || job["status"] != "successful" || job["totalObjectsModified"].(float64) != 1 || job["totalFailedChanges"].(float64) != 0 {
		t.Fatalf("recovery job %v (%v)", job, err)
	}
	user, err := env.client.Users().ByUserId(adeleID).Get(ctx, nil)
	if err != nil || *user.GetUserPrincipalName() != "adele.vance@contoso.com" {
		t.Fatalf("Adele after recovery: %v", err)
	}
	failed, err := getJSON(loc + "/microsoft.graph.entraRecoveryServices.getFailedChanges")
	if err != nil || len(failed["value"].([]any)) != 0 {
		t.Fatalf("failed changes %v (%v)", failed, err)
	}
}
