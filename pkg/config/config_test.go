package config

import (
	"log/slog"
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
		DedupRetention: 35 * 24 * time.Hour,
		ShutdownGrace:  DefaultShutdownGrace,
	}
	if cfg != want {
		t.Errorf("Load() = %+v, want %+v", cfg, want)
	}
}

func TestLoadReadsEveryVariable(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		EnvStore:                       "sqlite:/var/lib/reinstate/state.db",
		"FUNCTIONS_CUSTOMHANDLER_PORT": "40123",
		EnvLogLevel:                    "DEBUG",
		EnvLogFormat:                   "json",
		EnvClaimLease:                  "45s",
		EnvDedupRetain:                 "40d",
		EnvShutdownGrace:               "1m",
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
		DedupRetention: 40 * 24 * time.Hour,
		ShutdownGrace:  time.Minute,
	}
	if cfg != want {
		t.Errorf("Load() = %+v, want %+v", cfg, want)
	}
	if got := cfg.Store.String(); got != "sqlite:/var/lib/reinstate/state.db" {
		t.Errorf("Store.String() = %q", got)
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
		{"log level", map[string]string{EnvLogLevel: "loud"}, []string{EnvLogLevel, `"loud"`}},
		{"log format", map[string]string{EnvLogFormat: "xml"}, []string{EnvLogFormat}},
		{"lease not a duration", map[string]string{EnvClaimLease: "soon"}, []string{EnvClaimLease, `"soon"`}},
		{"lease too short", map[string]string{EnvClaimLease: "10ms"}, []string{EnvClaimLease, "minimum"}},
		{"retention shorter than the recycle bin needs", map[string]string{EnvDedupRetain: "7d"}, []string{EnvDedupRetain, "minimum"}},
		{"days not whole", map[string]string{EnvDedupRetain: "35.5d"}, []string{EnvDedupRetain, "whole number of days"}},
		{"port", map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "99999"}, []string{"FUNCTIONS_CUSTOMHANDLER_PORT"}},
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
