// Package config reads Reinstate's settings from environment variables, which
// are the Function app's application settings in Azure. Every command reads
// the same variables, so `reinstate journal` shows what `reinstate serve`
// recorded. Settings are parsed and validated whole, at load: a bad value is
// reported with the name of its variable before anything runs.
//
// Every variable is documented in docs/CONFIG.md; keep the two in step.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/customhandler"
	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/recovery"
	"github.com/reinstate/reinstate/pkg/rules"
)

// Variable names.
const (
	EnvStore         = "REINSTATE_STORE"
	EnvLogLevel      = "REINSTATE_LOG_LEVEL"
	EnvLogFormat     = "REINSTATE_LOG_FORMAT"
	EnvClaimLease    = "REINSTATE_CLAIM_LEASE"
	EnvIntentLease   = "REINSTATE_INTENT_LEASE"
	EnvDedupRetain   = "REINSTATE_DEDUP_RETENTION"
	EnvShutdownGrace = "REINSTATE_SHUTDOWN_GRACE"
	EnvGraphURL      = "REINSTATE_GRAPH_URL"
	EnvGraphAuth     = "REINSTATE_GRAPH_AUTH"
	EnvGraphToken    = "REINSTATE_GRAPH_TOKEN"
	EnvSelfIDs       = "REINSTATE_SELF_IDS"
	EnvRules         = "REINSTATE_RULES"
	EnvMode          = rules.EnvMode
	EnvTenantID      = "REINSTATE_TENANT_ID"
	EnvGroupWait     = "REINSTATE_GROUP_WAIT"
	EnvWriteQuota    = "REINSTATE_WRITE_QUOTA"
	EnvWriteWindow   = "REINSTATE_WRITE_WINDOW"
	EnvWorkers       = "REINSTATE_WORKERS"
	EnvAPIAudiences  = "REINSTATE_API_AUDIENCES"
	EnvAPIAuthority  = "REINSTATE_API_AUTHORITY"
	EnvAPIClientID   = "REINSTATE_API_CLIENT_ID"
	EnvAPISecret     = "REINSTATE_API_CLIENT_SECRET"
	EnvBackupVersion = "REINSTATE_BACKUP_API_VERSION"
	EnvBackupPoll    = "REINSTATE_BACKUP_POLL"

	// The standalone worker's Event Hubs source (`reinstate worker`).
	EnvEventHubNamespace     = "REINSTATE_EVENTHUB_NAMESPACE"
	EnvEventHubName          = "REINSTATE_EVENTHUB_NAME"
	EnvEventHubConsumerGroup = "REINSTATE_EVENTHUB_CONSUMER_GROUP"
	EnvCheckpointURL         = "REINSTATE_CHECKPOINT_URL"
)

// DefaultConsumerGroup is Event Hubs' default consumer group.
const DefaultConsumerGroup = "$Default"

// DefaultAPIAuthority is the Entra ID authority whose tokens the on-call
// API accepts (Learn entra/identity-platform/authentication-national-cloud
// lists the national clouds' hosts).
const DefaultAPIAuthority = "https://login.microsoftonline.com"

// DefaultStore is the embedded store used when REINSTATE_STORE is unset.
const DefaultStore = "sqlite:./reinstate.db"

// StoreKind names a Store implementation.
type StoreKind string

// Store kinds.
const (
	// StoreSQLite is the embedded store, for one instance.
	StoreSQLite StoreKind = "sqlite"
	// StoreTable is the shared store on Azure Table Storage, for instances
	// that scale out.
	StoreTable StoreKind = "table"
)

// StoreSpec says which store to open and where.
type StoreSpec struct {
	Kind StoreKind
	// Location is the implementation's address: a file path for SQLite; a
	// connection string or an account's table endpoint URL for Table
	// Storage.
	Location string
}

// String renders the spec back into REINSTATE_STORE form, for logs: a
// connection string's account key or shared access signature is replaced
// by "REDACTED", so that logging the store never leaks a secret.
func (s StoreSpec) String() string {
	location := s.Location
	if s.Kind == StoreTable && strings.Contains(location, "=") {
		location = redactConnectionString(location)
	}
	return string(s.Kind) + ":" + location
}

// redactConnectionString replaces a connection string's account key and
// shared access signature by "REDACTED".
func redactConnectionString(cs string) string {
	parts := strings.Split(cs, ";")
	for i, part := range parts {
		name, _, ok := strings.Cut(part, "=")
		if ok && (strings.EqualFold(name, "AccountKey") || strings.EqualFold(name, "SharedAccessSignature")) {
			parts[i] = name + "=REDACTED"
		}
	}
	return strings.Join(parts, ";")
}

// LogFormat selects the slog handler.
type LogFormat string

// Log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// Config is every setting Reinstate reads, validated.
type Config struct {
	Store StoreSpec
	// ListenAddress is where `serve` listens for the Functions host.
	ListenAddress string
	LogLevel      slog.Level
	LogFormat     LogFormat
	// ClaimLease is how long an instance owns an audit record it is
	// processing before another delivery may take it over.
	ClaimLease time.Duration
	// IntentLease is how long a worker owns a restore intent it is
	// carrying out; it renews the lease while it works, so only a dead
	// worker's intents pass to another after it.
	IntentLease time.Duration
	// DedupRetention is how long processed record ids are remembered.
	DedupRetention time.Duration
	// ShutdownGrace bounds how long `serve` waits for in-flight invocations
	// after SIGTERM.
	ShutdownGrace time.Duration
	Graph         GraphConfig
	// SelfIDs are the application and object ids of Reinstate's own
	// identity: events they initiate never trigger actions.
	SelfIDs []string
	// RulesPath is the rule file; the rule table itself is loaded by the
	// commands that decide (serve, plan), with LoadRules.
	RulesPath string
	// TenantID is the tenant Reinstate serves: events from any other are
	// refused. Required in enforce mode.
	TenantID string
	// GroupWait is how long a notification waits for others of its group
	// (channel, rule, initiator, outcome) to go out as one message.
	GroupWait time.Duration
	// WriteQuota writes per WriteWindow pace the recovery executor.
	WriteQuota  int
	WriteWindow time.Duration
	// Workers is how many restores run at once.
	Workers int
	// BackupPoll is how often `serve` moves Backup & Recovery cases on
	// (the RecoveryJobs timer does it every minute in Azure as well).
	BackupPoll time.Duration
	// API configures the on-call API's token check.
	API APIConfig
	// EventHub is where `reinstate worker` reads audit events from; the
	// other commands ignore it.
	EventHub EventHubConfig
}

// EventHubConfig names the event hub `reinstate worker` consumes and the
// blob container that holds its checkpoints and partition ownership.
type EventHubConfig struct {
	// Namespace is the fully qualified namespace, such as
	// ns.servicebus.windows.net.
	Namespace string
	// Name is the event hub the Entra diagnostic setting streams to.
	Name string
	// ConsumerGroup defaults to $Default; give Reinstate one of its own.
	ConsumerGroup string
	// Checkpoints is the blob container for checkpoints and ownership.
	Checkpoints CheckpointSpec
}

// Missing names the variables `reinstate worker` needs that are unset.
func (c EventHubConfig) Missing() []string {
	var missing []string
	if c.Namespace == "" {
		missing = append(missing, EnvEventHubNamespace)
	}
	if c.Name == "" {
		missing = append(missing, EnvEventHubName)
	}
	if c.Checkpoints.IsZero() {
		missing = append(missing, EnvCheckpointURL)
	}
	return missing
}

// CheckpointSpec is REINSTATE_CHECKPOINT_URL parsed: either a container
// URL, reached with the managed identity, or a storage connection string
// and a container name.
type CheckpointSpec struct {
	// ContainerURL is https://ACCOUNT.blob.core.windows.net/CONTAINER.
	ContainerURL string
	// ConnectionString is a storage connection string (a secret: String
	// never shows its key), without the Container field.
	ConnectionString string `json:"-"`
	// Container is the container named by a connection string's
	// Container field.
	Container string
}

// IsZero reports whether no checkpoint container is configured.
func (c CheckpointSpec) IsZero() bool { return c.ContainerURL == "" && c.ConnectionString == "" }

// String renders the spec for logs, with a connection string's key or
// signature redacted.
func (c CheckpointSpec) String() string {
	if c.ContainerURL != "" || c.ConnectionString == "" {
		return c.ContainerURL
	}
	return redactConnectionString(c.ConnectionString) + ";Container=" + c.Container
}

// APIConfig says which Entra ID access tokens the on-call API accepts.
type APIConfig struct {
	// Audiences are the accepted `aud` values: the Reinstate API app
	// registration's client id and App ID URI. Empty leaves the API shut:
	// every route but health answers 503.
	Audiences []string
	// Authority is the Entra ID host, https (http only on loopback, for
	// the local issuer).
	Authority string
	// ClientID is the Reinstate API app registration's client id: the
	// client of the on-behalf-of exchange that lets an approver's token
	// create Backup & Recovery jobs. Empty: nobody can start or approve.
	ClientID string
	// ClientSecret authenticates that exchange in local mode only (a
	// loopback authority); in Azure the managed identity's token is the
	// app's federated credential, and there is no secret.
	ClientSecret string `json:"-"`
	// BackupVersion is the Graph version of the Backup & Recovery API:
	// beta or v1.0 (reference §1.1: its v1.0 rollout is unsettled).
	BackupVersion string
}

// Enabled reports whether the on-call API can authenticate anyone.
func (a APIConfig) Enabled() bool { return len(a.Audiences) > 0 }

// GraphConfig says where Microsoft Graph is and how to authenticate.
type GraphConfig struct {
	// URL is the Graph root, without a version.
	URL string
	// Auth is azure, none or static; none and static only for loopback.
	Auth string
	// Token is the static bearer token. It is a secret: String never shows it.
	Token string `json:"-"`
}

// String renders the Graph settings without the token.
func (g GraphConfig) String() string {
	s := g.Auth + " " + g.URL
	if g.Token != "" {
		s += " (token set)"
	}
	return s
}

// Defaults for durations.
const (
	DefaultClaimLease     = 2 * time.Minute
	DefaultIntentLease    = 2 * time.Minute
	DefaultDedupRetention = 35 * 24 * time.Hour
	DefaultShutdownGrace  = 30 * time.Second
	DefaultGroupWait      = 30 * time.Second
	DefaultBackupPoll     = 30 * time.Second
)

// Load reads and validates the configuration from getenv (os.Getenv in
// production; a map in tests). All problems are reported together.
func Load(getenv func(string) string) (Config, error) {
	var (
		cfg  Config
		errs []error
		err  error
	)
	if cfg.Store, err = parseStore(valueOr(getenv, EnvStore, DefaultStore)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvStore, err))
	}
	if cfg.ListenAddress, err = customhandler.ListenAddress(getenv); err != nil {
		errs = append(errs, err)
	}
	if cfg.LogLevel, err = parseLogLevel(valueOr(getenv, EnvLogLevel, "info")); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvLogLevel, err))
	}
	switch format := LogFormat(strings.ToLower(valueOr(getenv, EnvLogFormat, string(LogText)))); format {
	case LogText, LogJSON:
		cfg.LogFormat = format
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not text or json", EnvLogFormat, format))
	}
	durations := []struct {
		name  string
		into  *time.Duration
		def   time.Duration
		floor time.Duration
	}{
		{EnvClaimLease, &cfg.ClaimLease, DefaultClaimLease, time.Second},
		{EnvIntentLease, &cfg.IntentLease, DefaultIntentLease, time.Second},
		// The recycle bin keeps objects 30 days; a shorter memory would let a
		// replayed record act twice while acting could still matter.
		{EnvDedupRetain, &cfg.DedupRetention, DefaultDedupRetention, DefaultDedupRetention},
		{EnvShutdownGrace, &cfg.ShutdownGrace, DefaultShutdownGrace, 0},
		{EnvGroupWait, &cfg.GroupWait, DefaultGroupWait, time.Second},
		{EnvBackupPoll, &cfg.BackupPoll, DefaultBackupPoll, time.Second},
	}
	for _, d := range durations {
		if *d.into, err = parseDuration(getenv(d.name), d.def, d.floor); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.name, err))
		}
	}
	errs = append(errs, loadRecovery(getenv, &cfg)...)
	errs = append(errs, loadAPI(getenv, &cfg)...)
	errs = append(errs, loadEventHub(getenv, &cfg)...)
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return cfg, nil
}

func loadAPI(getenv func(string) string, cfg *Config) []error {
	var errs []error
	for _, aud := range strings.Split(getenv(EnvAPIAudiences), ",") {
		if aud = strings.TrimSpace(aud); aud != "" {
			cfg.API.Audiences = append(cfg.API.Audiences, aud)
		}
	}
	cfg.API.Authority = strings.TrimSuffix(valueOr(getenv, EnvAPIAuthority, DefaultAPIAuthority), "/")
	u, err := url.Parse(cfg.API.Authority)
	switch {
	case err != nil || u.Host == "" || u.RawQuery != "" || (u.Path != "" && u.Path != "/"):
		errs = append(errs, fmt.Errorf("%s: %q is not an authority URL such as %s", EnvAPIAuthority, cfg.API.Authority, DefaultAPIAuthority))
	case u.Scheme != "https" && !(u.Scheme == "http" && graphapi.IsLoopback(u)):
		errs = append(errs, fmt.Errorf("%s: %q must be https (http only on loopback)", EnvAPIAuthority, cfg.API.Authority))
	}
	cfg.API.ClientID = strings.TrimSpace(getenv(EnvAPIClientID))
	if cfg.API.ClientID != "" && !audit.ValidObjectID(cfg.API.ClientID) {
		errs = append(errs, fmt.Errorf("%s: %q is not a client id (a GUID)", EnvAPIClientID, cfg.API.ClientID))
	}
	cfg.API.ClientSecret = getenv(EnvAPISecret)
	if cfg.API.ClientSecret != "" && (u == nil || !graphapi.IsLoopback(u)) {
		errs = append(errs, fmt.Errorf("%s is for a loopback %s (local mode) only; in Azure the managed identity is the app's credential", EnvAPISecret, EnvAPIAuthority))
	}
	switch cfg.API.BackupVersion = valueOr(getenv, EnvBackupVersion, "beta"); cfg.API.BackupVersion {
	case "beta", "v1.0":
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not beta or v1.0", EnvBackupVersion, cfg.API.BackupVersion))
	}
	if cfg.API.Enabled() && cfg.TenantID == "" {
		errs = append(errs, fmt.Errorf("%s needs %s: the API accepts tokens of one tenant", EnvAPIAudiences, EnvTenantID))
	}
	return errs
}

func valueOr(getenv func(string) string, name, def string) string {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		return v
	}
	return def
}

func parseStore(value string) (StoreSpec, error) {
	kind, location, ok := strings.Cut(value, ":")
	if !ok || location == "" {
		return StoreSpec{}, fmt.Errorf("%q is not KIND:LOCATION, such as %s", value, DefaultStore)
	}
	switch StoreKind(kind) {
	case StoreSQLite:
		return StoreSpec{Kind: StoreSQLite, Location: location}, nil
	case StoreTable:
		if err := checkTableLocation(location); err != nil {
			return StoreSpec{}, err
		}
		return StoreSpec{Kind: StoreTable, Location: location}, nil
	}
	return StoreSpec{}, fmt.Errorf("store kind %q is not supported (supported: sqlite, table)", kind)
}

// checkTableLocation accepts what the Table store can open: an account's
// table endpoint (https: the managed identity's token never travels in
// the clear; an emulator is named by a connection string), or a
// connection string, UseDevelopmentStorage=true or one naming the account
// and its key or signature. Messages never quote a connection string,
// which holds a secret.
func checkTableLocation(location string) error {
	if strings.HasPrefix(location, "https://") || strings.HasPrefix(location, "http://") {
		u, err := url.Parse(location)
		if err != nil || u.Host == "" {
			return fmt.Errorf("table: %q is not an account URL such as https://ACCOUNT.table.core.windows.net", location)
		}
		if u.Scheme != "https" {
			return fmt.Errorf("table: %q must use https (for Azurite use a connection string)", location)
		}
		return nil
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(strings.TrimSuffix(location, ";"), ";") {
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return errors.New("table: the location is neither an account URL (https://ACCOUNT.table.core.windows.net) " +
				"nor a connection string of NAME=VALUE pairs separated by semicolons")
		}
		fields[strings.ToLower(strings.TrimSpace(name))] = value
	}
	if strings.EqualFold(fields["usedevelopmentstorage"], "true") {
		return nil
	}
	if fields["accountname"] == "" || fields["accountkey"] == "" && fields["sharedaccesssignature"] == "" {
		return errors.New("table: the connection string needs AccountName and AccountKey or SharedAccessSignature " +
			"(or is UseDevelopmentStorage=true)")
	}
	return nil
}

func parseLogLevel(value string) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(value)); err != nil {
		return 0, fmt.Errorf("%q is not debug, info, warn or error", value)
	}
	return level, nil
}

// parseDuration accepts Go durations ("90s", "2m") and whole days ("35d"),
// since retention is naturally said in days.
func parseDuration(value string, def, floor time.Duration) (time.Duration, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return def, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(value, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err != nil || fmt.Sprint(n) != days {
			return 0, fmt.Errorf("%q is not a whole number of days", value)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		parsed, err := time.ParseDuration(value)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 90s, 2m or 35d", value)
		}
		d = parsed
	}
	if d < floor {
		return 0, fmt.Errorf("%s is below the minimum of %s", d, floor)
	}
	return d, nil
}

// Defaults for recovery: the executor's own, so that the two cannot drift.
const (
	DefaultGraphURL    = graphapi.DefaultBaseURL
	DefaultWriteQuota  = recovery.DefaultWriteQuota
	DefaultWriteWindow = recovery.DefaultWriteWindow
	DefaultWorkers     = recovery.MaxBatchRequests
)

// Graph auth modes, as REINSTATE_GRAPH_AUTH spells them.
const (
	GraphAuthAzure  = "azure"
	GraphAuthNone   = "none"
	GraphAuthStatic = "static"
)

func loadRecovery(getenv func(string) string, cfg *Config) []error {
	var errs []error
	cfg.Graph = GraphConfig{
		URL:   valueOr(getenv, EnvGraphURL, DefaultGraphURL),
		Auth:  strings.ToLower(valueOr(getenv, EnvGraphAuth, GraphAuthAzure)),
		Token: strings.TrimSpace(getenv(EnvGraphToken)),
	}
	// The client's own rules, so that what loads here is what it accepts.
	loopback := false
	if base, err := graphapi.ParseBaseURL(cfg.Graph.URL); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvGraphURL, err))
	} else {
		loopback = graphapi.IsLoopback(base)
	}
	switch cfg.Graph.Auth {
	case GraphAuthAzure:
	case GraphAuthNone, GraphAuthStatic:
		if !loopback {
			errs = append(errs, fmt.Errorf("%s: %q is allowed only for a loopback %s", EnvGraphAuth, cfg.Graph.Auth, EnvGraphURL))
		}
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not azure, none or static", EnvGraphAuth, cfg.Graph.Auth))
	}
	if (cfg.Graph.Auth == GraphAuthStatic) != (cfg.Graph.Token != "") {
		errs = append(errs, fmt.Errorf("%s is needed with %s=static, and only then", EnvGraphToken, EnvGraphAuth))
	}
	cfg.SelfIDs = splitList(getenv(EnvSelfIDs))
	for _, id := range cfg.SelfIDs {
		if !audit.ValidObjectID(id) {
			errs = append(errs, fmt.Errorf("%s: %q is not an object or application id (a GUID)", EnvSelfIDs, id))
		}
	}
	cfg.TenantID = strings.TrimSpace(getenv(EnvTenantID))
	if cfg.TenantID != "" && !audit.ValidObjectID(cfg.TenantID) {
		errs = append(errs, fmt.Errorf("%s: %q is not a tenant id (a GUID)", EnvTenantID, cfg.TenantID))
	}
	cfg.RulesPath = strings.TrimSpace(getenv(EnvRules))
	if cfg.RulesPath == "" {
		cfg.RulesPath = DefaultRulesPath()
	}
	if mode := strings.TrimSpace(getenv(EnvMode)); mode != "" {
		if _, ok := rules.ParseMode(mode); !ok {
			errs = append(errs, fmt.Errorf("%s: %q is not observe or enforce", EnvMode, mode))
		}
	}
	var err error
	if cfg.WriteQuota, err = parsePositive(getenv(EnvWriteQuota), DefaultWriteQuota); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvWriteQuota, err))
	}
	if cfg.WriteWindow, err = parseDuration(getenv(EnvWriteWindow), DefaultWriteWindow, time.Millisecond); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvWriteWindow, err))
	}
	if cfg.Workers, err = parsePositive(getenv(EnvWorkers), DefaultWorkers); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvWorkers, err))
	}
	return errs
}

// DefaultRulesPath is rules.yaml beside the binary: where a zip
// deployment puts it, whatever the working directory.
func DefaultRulesPath() string {
	exe, err := os.Executable()
	if err != nil {
		return "rules.yaml"
	}
	return filepath.Join(filepath.Dir(exe), "rules.yaml")
}

// LoadRules loads the rule table cfg names, with getenv for ${NAME} and
// REINSTATE_MODE, and checks it against the rest of the configuration: a
// table that may write needs the tenant it may write to.
func LoadRules(cfg Config, getenv func(string) string) (*rules.Table, error) {
	table, err := rules.Load(cfg.RulesPath, getenv)
	if err != nil {
		return nil, fmt.Errorf("rule table %s (set %s to choose another):\n%w", cfg.RulesPath, EnvRules, err)
	}
	if table.Mode == rules.ModeEnforce && cfg.TenantID == "" {
		return nil, fmt.Errorf("rule table %s: enforce mode (from %s) needs %s, so that events from another tenant are refused", cfg.RulesPath, table.ModeSource, EnvTenantID)
	}
	return table, nil
}

func splitList(value string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		out = append(out, part)
	}
	return out
}

func parsePositive(value string, def int) (int, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return def, nil
	}
	n, err := strconv.Atoi(value)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a whole number above zero", value)
	}
	return n, nil
}

// loadEventHub reads the worker's Event Hubs settings. Unset is fine here:
// only `reinstate worker` needs them, and it refuses to start without them
// (EventHubConfig.Missing); a value that is set must be well formed.
func loadEventHub(getenv func(string) string, cfg *Config) []error {
	var errs []error
	eh := EventHubConfig{
		Namespace:     strings.TrimSpace(getenv(EnvEventHubNamespace)),
		Name:          strings.TrimSpace(getenv(EnvEventHubName)),
		ConsumerGroup: valueOr(getenv, EnvEventHubConsumerGroup, DefaultConsumerGroup),
	}
	if ns := eh.Namespace; ns != "" && (strings.Contains(ns, "://") || strings.ContainsAny(ns, "/:; ") || !strings.Contains(ns, ".")) {
		errs = append(errs, fmt.Errorf("%s: %q is not a fully qualified namespace such as NAME.servicebus.windows.net (no scheme, no path)", EnvEventHubNamespace, ns))
	}
	if strings.ContainsAny(eh.Name, "/ ") {
		errs = append(errs, fmt.Errorf("%s: %q is not an event hub name", EnvEventHubName, eh.Name))
	}
	if v := strings.TrimSpace(getenv(EnvCheckpointURL)); v != "" {
		spec, err := parseCheckpoint(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvCheckpointURL, err))
		}
		eh.Checkpoints = spec
	}
	cfg.EventHub = eh
	return errs
}

// parseCheckpoint accepts a blob container URL,
// https://ACCOUNT.blob.core.windows.net/CONTAINER, or a storage connection
// string with an added Container=NAME field (for Azurite). Messages never
// quote a connection string, which holds a secret.
func parseCheckpoint(value string) (CheckpointSpec, error) {
	if strings.HasPrefix(value, "https://") || strings.HasPrefix(value, "http://") {
		u, err := url.Parse(value)
		container := ""
		if err == nil {
			container = strings.Trim(u.Path, "/")
		}
		if err != nil || u.Host == "" || container == "" || strings.Contains(container, "/") || u.RawQuery != "" {
			return CheckpointSpec{}, fmt.Errorf("%q is not a container URL such as https://ACCOUNT.blob.core.windows.net/CONTAINER", value)
		}
		if u.Scheme != "https" {
			return CheckpointSpec{}, fmt.Errorf("%q must use https (for Azurite use a connection string with Container=NAME)", value)
		}
		return CheckpointSpec{ContainerURL: strings.TrimSuffix(value, "/")}, nil
	}
	var kept []string
	spec := CheckpointSpec{}
	fields := map[string]string{}
	for part := range strings.SplitSeq(strings.TrimSuffix(value, ";"), ";") {
		name, v, ok := strings.Cut(part, "=")
		if !ok {
			return CheckpointSpec{}, errors.New("neither a container URL (https://ACCOUNT.blob.core.windows.net/CONTAINER) " +
				"nor a connection string of NAME=VALUE pairs separated by semicolons")
		}
		name = strings.TrimSpace(name)
		if strings.EqualFold(name, "Container") {
			spec.Container = strings.TrimSpace(v)
			continue
		}
		fields[strings.ToLower(name)] = v
		kept = append(kept, part)
	}
	if spec.Container == "" {
		return CheckpointSpec{}, errors.New("the connection string needs a Container=NAME field naming the checkpoint container")
	}
	if !strings.EqualFold(fields["usedevelopmentstorage"], "true") &&
		(fields["accountname"] == "" || fields["accountkey"] == "" && fields["sharedaccesssignature"] == "") {
		return CheckpointSpec{}, errors.New("the connection string needs AccountName and AccountKey or SharedAccessSignature " +
			"(or is UseDevelopmentStorage=true)")
	}
	spec.ConnectionString = strings.Join(kept, ";")
	return spec, nil
}
