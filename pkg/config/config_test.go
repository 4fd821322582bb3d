package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		Store:          StoreSpec{Kind: StoreSQLite, Location: "./reinstate.db"},
		ListenAddress:  "127.0.0.1:8080",
		LogLevel:       slog.LevelInfo,
		LogFormat:      LogText,
		ClaimLease:     DefaultClaimLease,
		IntentLease:    DefaultIntentLease,
		DedupRetention: 35 * 24 * time.Hour,
		ShutdownGrace:  DefaultShutdownGrace,
		GroupWait:      DefaultGroupWait,
		BackupPoll:     DefaultBackupPoll,
		Graph:          GraphConfig{URL: DefaultGraphURL, Auth: GraphAuthAzure},
		WriteQuota:     DefaultWriteQuota,
		WriteWindow:    DefaultWriteWindow,
		Workers:        DefaultWorkers,
		API:            APIConfig{Authority: DefaultAPIAuthority, BackupVersion: "beta"},
		EventHub:       EventHubConfig{ConsumerGroup: DefaultConsumerGroup},
		// Beside the binary, whatever the working directory.
		RulesPath: filepath.Join(filepath.Dir(must(os.Executable())), "rules.yaml"),
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load() = %+v, want %+v", cfg, want)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestLoadReadsEveryVariable(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		EnvStore:                       "sqlite:/var/lib/reinstate/state.db",
		"FUNCTIONS_CUSTOMHANDLER_PORT": "40123",
		EnvLogLevel:                    "DEBUG",
		EnvLogFormat:                   "json",
		EnvClaimLease:                  "45s",
		EnvIntentLease:                 "20s",
		EnvDedupRetain:                 "40d",
		EnvShutdownGrace:               "1m",
		EnvGraphURL:                    "http://127.0.0.1:4100/",
		EnvGraphAuth:                   "static",
		EnvGraphToken:                  "reinstate-token",
		EnvSelfIDs:                     "0b6c2b39-6a3c-4c1d-9f0e-2a4b6c8d0e1f, 7d1e3f5a-2b4c-4d6e-8f0a-1b3c5d7e9f0a",
		EnvRules:                       "/etc/reinstate/rules.yaml",
		EnvTenantID:                    "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17",
		EnvMode:                        "enforce",
		EnvGroupWait:                   "5s",
		EnvWriteQuota:                  "200",
		EnvWriteWindow:                 "1s",
		EnvWorkers:                     "8",
		EnvAPIAudiences:                " api://reinstate-contoso, 3f8a2c1e-4b5d-4e6f-8a9b-0c1d2e3f4a5b ",
		EnvAPIAuthority:                "https://login.microsoftonline.us/",
		EnvAPIClientID:                 "3f8a2c1e-4b5d-4e6f-8a9b-0c1d2e3f4a5b",
		EnvBackupVersion:               "v1.0",
		EnvBackupPoll:                  "2s",
		EnvEventHubNamespace:           "evhns-reinstate.servicebus.windows.net",
		EnvEventHubName:                "entra-audit",
		EnvEventHubConsumerGroup:       "reinstate",
		EnvCheckpointURL:               "https://streinstate.blob.core.windows.net/checkpoints/",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		Store:          StoreSpec{Kind: StoreSQLite, Location: "/var/lib/reinstate/state.db"},
		ListenAddress:  "127.0.0.1:40123",
		LogLevel:       slog.LevelDebug,
		LogFormat:      LogJSON,
		ClaimLease:     45 * time.Second,
		IntentLease:    20 * time.Second,
		DedupRetention: 40 * 24 * time.Hour,
		ShutdownGrace:  time.Minute,
		Graph:          GraphConfig{URL: "http://127.0.0.1:4100/", Auth: GraphAuthStatic, Token: "reinstate-token"},
		SelfIDs:        []string{"0b6c2b39-6a3c-4c1d-9f0e-2a4b6c8d0e1f", "7d1e3f5a-2b4c-4d6e-8f0a-1b3c5d7e9f0a"},
		RulesPath:      "/etc/reinstate/rules.yaml",
		TenantID:       "7f3c2a91-5d4e-4b8a-9c61-2e0f8d3b4a17",
		GroupWait:      5 * time.Second,
		BackupPoll:     2 * time.Second,
		WriteQuota:     200,
		WriteWindow:    time.Second,
		Workers:        8,
		API: APIConfig{Audiences: []string{"api://reinstate-contoso", "3f8a2c1e-4b5d-4e6f-8a9b-0c1d2e3f4a5b"}, Authority: "https://login.microsoftonline.us",
			ClientID: "3f8a2c1e-4b5d-4e6f-8a9b-0c1d2e3f4a5b", BackupVersion: "v1.0"},
		EventHub: EventHubConfig{Namespace: "evhns-reinstate.servicebus.windows.net", Name: "entra-audit", ConsumerGroup: "reinstate",
			Checkpoints: CheckpointSpec{ContainerURL: "https://streinstate.blob.core.windows.net/checkpoints"}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load() = %+v, want %+v", cfg, want)
	}
	if got := cfg.Store.String(); got != "sqlite:/var/lib/reinstate/state.db" {
		t.Errorf("Store.String() = %q", got)
	}
	if got := cfg.Graph.String(); strings.Contains(got, "reinstate-token") || !strings.Contains(got, "token set") {
		t.Errorf("Graph.String() = %q; it must say a token is set without showing it", got)
	}
}

func TestLoadRejectsBadValuesByName(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want []string
	}{
		{"store without kind", map[string]string{EnvStore: "reinstate.db"}, []string{EnvStore, "KIND:LOCATION"}},
		{"unknown store kind", map[string]string{EnvStore: "postgres:db"}, []string{EnvStore, `"postgres"`}},
		{"store without location", map[string]string{EnvStore: "sqlite:"}, []string{EnvStore}},
		{"table without location", map[string]string{EnvStore: "table:"}, []string{EnvStore}},
		{"table url not https", map[string]string{EnvStore: "table:http://acct.table.core.windows.net"}, []string{EnvStore, "https"}},
		{"table neither url nor connection string", map[string]string{EnvStore: "table:acct"}, []string{EnvStore, "connection string"}},
		{"table connection string without key", map[string]string{EnvStore: "table:AccountName=acct;TableEndpoint=http://127.0.0.1:1/acct"}, []string{EnvStore, "AccountKey"}},
		{"log level", map[string]string{EnvLogLevel: "loud"}, []string{EnvLogLevel, `"loud"`}},
		{"log format", map[string]string{EnvLogFormat: "xml"}, []string{EnvLogFormat}},
		{"lease not a duration", map[string]string{EnvClaimLease: "soon"}, []string{EnvClaimLease, `"soon"`}},
		{"lease too short", map[string]string{EnvClaimLease: "10ms"}, []string{EnvClaimLease, "minimum"}},
		{"intent lease too short", map[string]string{EnvIntentLease: "500ms"}, []string{EnvIntentLease, "minimum"}},
		{"retention shorter than the recycle bin needs", map[string]string{EnvDedupRetain: "7d"}, []string{EnvDedupRetain, "minimum"}},
		{"days not whole", map[string]string{EnvDedupRetain: "35.5d"}, []string{EnvDedupRetain, "whole number of days"}},
		{"port", map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "99999"}, []string{"FUNCTIONS_CUSTOMHANDLER_PORT"}},
		{"graph url not http", map[string]string{EnvGraphURL: "ftp://graph"}, []string{EnvGraphURL}},
		{"plain http to a real host", map[string]string{EnvGraphURL: "http://graph.microsoft.com"}, []string{EnvGraphURL, "https"}},
		{"no auth to a real host", map[string]string{EnvGraphAuth: "none"}, []string{EnvGraphAuth, "loopback"}},
		{"static token to a real host", map[string]string{EnvGraphAuth: "static", EnvGraphToken: "t"}, []string{EnvGraphAuth, "loopback"}},
		{"static without a token", map[string]string{EnvGraphURL: "http://127.0.0.1:1", EnvGraphAuth: "static"}, []string{EnvGraphToken}},
		{"token without static", map[string]string{EnvGraphToken: "t"}, []string{EnvGraphToken}},
		{"unknown auth", map[string]string{EnvGraphAuth: "basic"}, []string{EnvGraphAuth, `"basic"`}},
		{"tenant not a guid", map[string]string{EnvTenantID: "contoso.onmicrosoft.com"}, []string{EnvTenantID, `"contoso.onmicrosoft.com"`}},
		{"mode", map[string]string{EnvMode: "yes"}, []string{EnvMode, `"yes"`}},
		{"group wait below a second", map[string]string{EnvGroupWait: "10ms"}, []string{EnvGroupWait, "minimum"}},
		{"self id not a guid", map[string]string{EnvSelfIDs: "reinstate"}, []string{EnvSelfIDs}},
		{"write quota", map[string]string{EnvWriteQuota: "0"}, []string{EnvWriteQuota}},
		{"workers", map[string]string{EnvWorkers: "many"}, []string{EnvWorkers}},
		{"api audiences without a tenant", map[string]string{EnvAPIAudiences: "api://reinstate"}, []string{EnvAPIAudiences, EnvTenantID}},
		{"api authority over http", map[string]string{EnvAPIAuthority: "http://login.microsoftonline.com"}, []string{EnvAPIAuthority, "https"}},
		{"api authority with a path", map[string]string{EnvAPIAuthority: "https://login.microsoftonline.com/common"}, []string{EnvAPIAuthority}},
		{"api client id not a guid", map[string]string{EnvAPIClientID: "reinstate"}, []string{EnvAPIClientID}},
		{"client secret off loopback", map[string]string{EnvAPISecret: "s"}, []string{EnvAPISecret, "loopback"}},
		{"backup api version", map[string]string{EnvBackupVersion: "v2"}, []string{EnvBackupVersion, `"v2"`}},
		{"event hub namespace as a URL", map[string]string{EnvEventHubNamespace: "https://ns.servicebus.windows.net/"}, []string{EnvEventHubNamespace, "fully qualified"}},
		{"event hub namespace not qualified", map[string]string{EnvEventHubNamespace: "ns"}, []string{EnvEventHubNamespace}},
		{"checkpoint url without a container", map[string]string{EnvCheckpointURL: "https://acct.blob.core.windows.net"}, []string{EnvCheckpointURL, "CONTAINER"}},
		{"checkpoint url over http", map[string]string{EnvCheckpointURL: "http://acct.blob.core.windows.net/c"}, []string{EnvCheckpointURL, "https"}},
		{"checkpoint connection string without a container", map[string]string{EnvCheckpointURL: "UseDevelopmentStorage=true"}, []string{EnvCheckpointURL, "Container"}},
		{"checkpoint connection string without a key", map[string]string{EnvCheckpointURL: "AccountName=a;Container=c"}, []string{EnvCheckpointURL, "AccountKey"}},
		{"every problem at once", map[string]string{EnvStore: "x", EnvLogLevel: "loud", EnvShutdownGrace: "-"}, []string{EnvStore, EnvLogLevel, EnvShutdownGrace}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.vars))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestStoreTable(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"table:UseDevelopmentStorage=true", "table:UseDevelopmentStorage=true"},
		{"table:https://acct.table.core.windows.net", "table:https://acct.table.core.windows.net"},
		{"table:https://acct.table.core.windows.net/", "table:https://acct.table.core.windows.net/"},
		// The account key never shows in String, which logs use.
		{"table:DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;",
			"table:DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=REDACTED;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"},
		{"table:AccountName=acct;SharedAccessSignature=sv=2024&sig=c2VjcmV0",
			"table:AccountName=acct;SharedAccessSignature=REDACTED"},
	} {
		spec, err := parseStore(tc.value)
		if err != nil {
			t.Errorf("parseStore(%q): %v", tc.value, err)
			continue
		}
		if spec.Kind != StoreTable || "table:"+spec.Location != tc.value {
			t.Errorf("parseStore(%q) = %+v", tc.value, spec)
		}
		if got := spec.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	// A refused connection string is not echoed: it holds the key.
	if _, err := parseStore("table:AccountName=acct;TableEndpoint=x;Secretish=c2VjcmV0"); err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("parseStore(bad connection string) = %v; want an error that does not quote it", err)
	}
}

func TestCheckpointConnectionString(t *testing.T) {
	cs := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
	spec, err := parseCheckpoint(cs + "Container=checkpoints")
	if err != nil {
		t.Fatalf("parseCheckpoint: %v", err)
	}
	if spec.Container != "checkpoints" || spec.ContainerURL != "" || spec.ConnectionString != strings.TrimSuffix(cs, ";") {
		t.Errorf("parseCheckpoint = %+v", spec)
	}
	if got := spec.String(); strings.Contains(got, "c2VjcmV0") || !strings.Contains(got, "AccountKey=REDACTED") || !strings.HasSuffix(got, "Container=checkpoints") {
		t.Errorf("String() = %q; want the key redacted and the container named", got)
	}
	// A refused connection string is not echoed: it holds the key.
	if _, err := parseCheckpoint("AccountName=a;AccountKey=c2VjcmV0"); err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("parseCheckpoint(no container) = %v; want an error that does not quote it", err)
	}
	cfg, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.EventHub.Missing(); !reflect.DeepEqual(got, []string{EnvEventHubNamespace, EnvEventHubName, EnvCheckpointURL}) {
		t.Errorf("Missing() = %v", got)
	}
}
