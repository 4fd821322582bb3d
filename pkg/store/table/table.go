// Package table is the shared implementation of store.Store, on Azure Table
// Storage: the storage account every Function app already has, so that all
// instances of a scaled-out deployment claim, count and lease against one
// state. It passes the same conformance suite (package storetest) as the
// embedded SQLite store.
//
// Table Storage has no transactions across entities and no secondary
// indexes. Every operation that must be atomic is therefore a single-entity
// operation: insert-if-absent (AddEntity, which fails with 409 when the
// entity exists) for dedup and creation, and replace-if-unchanged
// (UpdateEntity with the ETag that was read) for every read-modify-write.
// A write that loses the race re-reads and decides again. The partition and
// row keys of each table are described in docs/ARCHITECTURE.md.
package table

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/reinstate/reinstate/pkg/store"
)

// DevelopmentStorage is the connection string that names Azurite on its
// default port with its well-known account, as the Azure tools spell it.
const DevelopmentStorage = "UseDevelopmentStorage=true"

// devStorageConnection is what DevelopmentStorage stands for. The key is
// Azurite's published development key, not a secret.
const devStorageConnection = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"

// DefaultTablePrefix starts the name of every table the store creates, so
// that they are recognisable in a storage account shared with the Function
// app's own tables.
const DefaultTablePrefix = "reinstate"

// EnvTablePrefix names the environment variable with which `reinstate`
// opens the store with WithTablePrefix instead of DefaultTablePrefix, so
// that processes in tests share tables of their own in one Azurite. It is
// not documented for deployments, which keep the default.
const EnvTablePrefix = "REINSTATE_TABLE_PREFIX"

// maxRetries bounds the re-reads of one read-modify-write that keeps losing
// to other writers. Each loss means another writer made progress, so
// running out means heavy contention on one entity, reported as an error
// rather than spun on.
const maxRetries = 50

// Store is a store.Store on Azure Table Storage. It is safe for concurrent
// use, by goroutines and by any number of processes sharing the account.
type Store struct {
	claims, journal, deadLetters, intents, hits, marks, silences, locks, records *aztables.Client

	closed atomic.Bool

	// mu guards lastID, the Unix nanoseconds of the newest ID this Store
	// issued, which keeps IDs increasing even when the clock repeats a
	// value or steps back. Across instances order rests on their clocks.
	mu     sync.Mutex
	lastID int64
}

// Compile-time check that Store implements the contract.
var _ store.Store = (*Store)(nil)

// Option changes how Open sets up the store.
type Option func(*options)

type options struct {
	prefix string
}

// WithTablePrefix names the tables prefix+"claims", prefix+"journal" and so
// on instead of DefaultTablePrefix: tests use it to give every test fresh
// tables in one Azurite. A table name is letters and digits, starting with
// a letter, at most 63 characters.
func WithTablePrefix(prefix string) Option {
	return func(o *options) { o.prefix = prefix }
}

// tablePrefix is what a prefix may be: the longest table suffix is
// "deadletters" (11), and names are at most 63 characters.
var tablePrefix = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,51}$`)

// Open connects to the account spec names and creates the store's tables
// that are missing. spec is a connection string (DevelopmentStorage for a
// local Azurite, or one with AccountName, AccountKey and TableEndpoint) or
// the account's table endpoint, https://ACCOUNT.table.core.windows.net,
// which is reached with azidentity's DefaultAzureCredential: the managed
// identity in Azure, a developer's Azure CLI login elsewhere.
func Open(ctx context.Context, spec string, opts ...Option) (*Store, error) {
	o := options{prefix: DefaultTablePrefix}
	for _, opt := range opts {
		opt(&o)
	}
	if !tablePrefix.MatchString(o.prefix) {
		return nil, fmt.Errorf("table store: open: table prefix %q is not a letter then up to 51 letters or digits", o.prefix)
	}
	svc, err := newServiceClient(spec)
	if err != nil {
		return nil, fmt.Errorf("table store: open: %w", err)
	}
	s := &Store{}
	for _, t := range []struct {
		client **aztables.Client
		name   string
	}{
		{&s.claims, "claims"}, {&s.journal, "journal"}, {&s.deadLetters, "deadletters"},
		{&s.intents, "intents"}, {&s.hits, "hits"}, {&s.marks, "marks"}, {&s.silences, "silences"},
		{&s.locks, "locks"}, {&s.records, "records"},
	} {
		name := o.prefix + t.name
		if _, err := svc.CreateTable(ctx, name, nil); err != nil && !hasCode(err, aztables.TableAlreadyExists) {
			return nil, fmt.Errorf("table store: open: create table %s: %w", name, err)
		}
		*t.client = svc.NewClient(name)
	}
	return s, nil
}

// newServiceClient picks the credential spec calls for.
func newServiceClient(spec string) (*aztables.ServiceClient, error) {
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return nil, errors.New("empty connection string or account URL")
	case strings.EqualFold(strings.TrimSuffix(spec, ";"), DevelopmentStorage):
		spec = devStorageConnection
	case strings.HasPrefix(spec, "https://") || strings.HasPrefix(spec, "http://"):
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("credential for %s: %w", spec, err)
		}
		return aztables.NewServiceClient(spec, cred, nil)
	}
	svc, err := aztables.NewServiceClientFromConnectionString(spec, nil)
	if err != nil {
		// The connection string holds the account key: never echo it.
		return nil, fmt.Errorf("parse connection string: %w", err)
	}
	return svc, nil
}

// Close marks the store closed; the SDK's clients hold nothing that needs
// releasing. Calls after Close fail.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

// errClosed is returned by calls after Close.
var errClosed = errors.New("store is closed")

// usable is checked first by every method, so that a done context or a
// closed store has no effect, as the contract requires, even for calls that
// would otherwise find nothing to do.
func (s *Store) usable(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	return ctx.Err()
}

// Errors the entity helpers return for the outcomes callers branch on.
var (
	// errExists: AddEntity found the entity there already (409).
	errExists = errors.New("entity exists")
	// errChanged: the entity changed since its ETag was read (412).
	errChanged = errors.New("entity changed since it was read")
	// errGone: the entity does not exist (404).
	errGone = errors.New("entity does not exist")
)

func hasCode(err error, code aztables.TableErrorCode) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == string(code)
}

// classify turns the status codes callers branch on into errExists,
// errChanged and errGone, keeping the response error as the cause.
func classify(err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	switch re.StatusCode {
	case http.StatusConflict:
		return fmt.Errorf("%w: %w", errExists, err)
	case http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", errChanged, err)
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", errGone, err)
	}
	return err
}

// entity is one row as read: its keys, its ETag and its properties, in the
// types aztables.EDMEntity decodes them to.
type entity struct {
	pk, rk string
	etag   azcore.ETag
	props  map[string]any
}

func (e entity) str(name string) string {
	v, _ := e.props[name].(string)
	return v
}

func (e entity) i64(name string) int64 {
	switch v := e.props[name].(type) {
	case aztables.EDMInt64:
		return int64(v)
	case int32:
		return int64(v)
	}
	return 0
}

func (e entity) has(name string) bool {
	_, ok := e.props[name]
	return ok
}

func (e entity) time(name string) time.Time { return fromNanos(e.i64(name)) }

func (e entity) bin(name string) []byte {
	v, _ := e.props[name].(aztables.EDMBinary)
	return []byte(v)
}

func marshal(pk, rk string, props map[string]any) ([]byte, error) {
	return json.Marshal(aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: pk, RowKey: rk}, Properties: props})
}

func unmarshal(data []byte, etag azcore.ETag) (entity, error) {
	var e aztables.EDMEntity
	if err := json.Unmarshal(data, &e); err != nil {
		return entity{}, fmt.Errorf("decode entity: %w", err)
	}
	if etag == "" {
		etag = azcore.ETag(e.ETag)
	}
	return entity{pk: e.PartitionKey, rk: e.RowKey, etag: etag, props: e.Properties}, nil
}

// get reads one entity; a missing one gives errGone.
func get(ctx context.Context, c *aztables.Client, pk, rk string) (entity, error) {
	resp, err := c.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		return entity{}, classify(err)
	}
	return unmarshal(resp.Value, resp.ETag)
}

// add inserts an entity unless one with its keys exists (errExists).
func add(ctx context.Context, c *aztables.Client, pk, rk string, props map[string]any) error {
	body, err := marshal(pk, rk, props)
	if err != nil {
		return err
	}
	_, err = c.AddEntity(ctx, body, nil)
	return classify(err)
}

// replace overwrites the entity whole if it still has etag (errChanged
// otherwise, errGone if it was deleted).
func replace(ctx context.Context, c *aztables.Client, pk, rk string, etag azcore.ETag, props map[string]any) error {
	body, err := marshal(pk, rk, props)
	if err != nil {
		return err
	}
	_, err = c.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
	return classify(err)
}

// upsert inserts or overwrites the entity whole, last writer wins.
func upsert(ctx context.Context, c *aztables.Client, pk, rk string, props map[string]any) error {
	body, err := marshal(pk, rk, props)
	if err != nil {
		return err
	}
	_, err = c.UpsertEntity(ctx, body, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	return classify(err)
}

// remove deletes the entity if it still has etag ("*": whatever it has).
func remove(ctx context.Context, c *aztables.Client, pk, rk string, etag azcore.ETag) error {
	_, err := c.DeleteEntity(ctx, pk, rk, &aztables.DeleteEntityOptions{IfMatch: &etag})
	return classify(err)
}

// query calls fn with every entity filter selects, in the table's order
// (PartitionKey, then RowKey), until fn returns false. sel, when not empty,
// names the properties to fetch; top is the page size, 0 for the service's
// default (1,000).
func query(ctx context.Context, c *aztables.Client, filter string, sel []string, top int, fn func(entity) bool) error {
	opts := &aztables.ListEntitiesOptions{}
	if filter != "" {
		opts.Filter = &filter
	}
	if len(sel) > 0 {
		joined := strings.Join(sel, ",")
		opts.Select = &joined
	}
	if top > 0 {
		t := int32(min(top, 1000))
		opts.Top = &t
	}
	pager := c.NewListEntitiesPager(opts)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, raw := range page.Entities {
			e, err := unmarshal(raw, "")
			if err != nil {
				return err
			}
			if !fn(e) {
				return nil
			}
		}
	}
	return nil
}

// expireOldest deletes at most limit of the entities filter selects, those
// least in order first, and returns how many it deleted. Table Storage
// cannot order by a property, so it reads the keys (and the properties sel
// names, which order needs) of every match and sorts them: a page costs a
// read of everything expired, which paging then works down. Each delete
// names the ETag read, so an entity deleted meanwhile by another cleaner, or
// changed (deleted and created anew with the same key, say), is left alone
// and not counted.
func expireOldest(ctx context.Context, c *aztables.Client, filter string, sel []string, limit int, less func(a, b entity) int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("limit %d is not positive", limit)
	}
	var found []entity
	sel = append([]string{"PartitionKey", "RowKey"}, sel...)
	if err := query(ctx, c, filter, sel, 0, func(e entity) bool {
		found = append(found, e)
		return less != nil || len(found) < limit
	}); err != nil {
		return 0, err
	}
	if less != nil {
		slices.SortFunc(found, less)
	}
	n := 0
	for _, e := range found[:min(limit, len(found))] {
		etag := e.etag
		if etag == "" {
			etag = "*"
		}
		switch err := remove(ctx, c, e.pk, e.rk, etag); {
		case err == nil:
			n++
		case errors.Is(err, errGone), errors.Is(err, errChanged):
		default:
			return n, err
		}
	}
	return n, nil
}

// byInt64 orders entities by an Int64 property, then by a string one.
func byInt64(prop, tie string) func(a, b entity) int {
	return func(a, b entity) int {
		if c := compareInt64(a.i64(prop), b.i64(prop)); c != 0 {
			return c
		}
		return strings.Compare(a.str(tie), b.str(tie))
	}
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// hashKey names a caller's key, which may hold characters row keys must
// not (/ \ # ? and control characters) and be longer than their 1 KiB, by
// its SHA-256 in hex. The key itself is kept in a property.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// bucket spreads keys over 256 partitions by the first byte of their hash,
// so that no single partition takes more than its share of a busy table.
func bucket(hash string) string { return hash[:2] }

// hexKey encodes s for a key keeping its order: the hex of its UTF-8 bytes
// sorts as the bytes do, as SQLite compares text. Keys are at most 1 KiB,
// so s may be at most maxHexKey bytes.
func hexKey(s string) string { return hex.EncodeToString([]byte(s)) }

// maxHexKey is the longest string hexKey can encode within a key's 1 KiB.
const maxHexKey = 512

// invertID makes IDs from store.NewID (hex digits and a dash) sort newest
// first: every hex digit d becomes f-d, so a plain query, which returns
// rows in ascending RowKey order, returns the greatest ID first.
func invertID(id string) string {
	b := []byte(id)
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			b[i] = "fedcba9876"[c-'0']
		case c >= 'a' && c <= 'f':
			b[i] = "543210"[c-'a']
		}
	}
	return string(b)
}

// issuedID tells whether id could be one store.NewID made: hex digits and
// dashes, sixteen digits first. Anything else names nothing here, and some
// characters could not even be part of a key.
func issuedID(id string) bool {
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '-') {
			return false
		}
	}
	_, ok := idNanos(id)
	return ok
}

// idNanos reads the Unix nanoseconds at the head of an ID from
// store.NewID.
func idNanos(id string) (int64, bool) {
	if len(id) < 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(id[:16], 16, 64)
	return int64(n), err == nil
}

// dayPartition partitions time-ordered tables (the journal, dead letters) by
// the UTC day of an ID, newest day first, so that a plain query still
// returns newest first across partitions and a day's writes spread no
// wider than one partition needs.
func dayPartition(id string) string {
	n, _ := idNanos(id)
	return fmt.Sprintf("%06d", 999999-n/int64(24*time.Hour))
}

// stamp returns a new ID and the time to store: t in UTC, or the current
// time when t is zero. The nanosecond passed to store.NewID is kept
// strictly increasing per Store, so that two quick appends here never sort
// backwards; across instances order rests on their clocks.
func (s *Store) stamp(t time.Time) (string, time.Time) {
	now := time.Now()
	if t.IsZero() {
		t = now
	}
	s.mu.Lock()
	n := max(now.UnixNano(), s.lastID+1)
	s.lastID = n
	s.mu.Unlock()
	return store.NewID(time.Unix(0, n)), t.UTC()
}

// The range of times int64 Unix nanoseconds can hold, about 1678 to 2262.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos converts t for storage as an Edm.Int64 of Unix nanoseconds: an
// Edm.DateTime holds only 100 ns, and the contract keeps nanoseconds.
func nanos(t time.Time) (aztables.EDMInt64, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, fmt.Errorf("time %s is outside the range the store can hold", t.Format(time.RFC3339Nano))
	}
	return aztables.EDMInt64(t.UnixNano()), nil
}

// fromNanos is the inverse of nanos; times come back in UTC.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// quote renders s as an OData string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// i64Lit renders n as an OData Int64 literal.
func i64Lit(n aztables.EDMInt64) string { return strconv.FormatInt(int64(n), 10) + "L" }
