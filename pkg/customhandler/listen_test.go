package customhandler

import (
	"strings"
	"testing"
)

func TestListenAddress(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string // substring naming the variable
	}{
		{name: "default", env: nil, want: "127.0.0.1:8080"},
		{name: "custom handler port", env: map[string]string{EnvCustomHandlerPort: "34567"}, want: "127.0.0.1:34567"},
		{name: "legacy http worker port", env: map[string]string{EnvHTTPWorkerPort: "4000"}, want: "127.0.0.1:4000"},
		{name: "custom handler port wins", env: map[string]string{EnvCustomHandlerPort: "5000", EnvHTTPWorkerPort: "4000"}, want: "127.0.0.1:5000"},
		{name: "blank counts as unset", env: map[string]string{EnvCustomHandlerPort: "  ", EnvHTTPWorkerPort: "4000"}, want: "127.0.0.1:4000"},
		{name: "surrounding space trimmed", env: map[string]string{EnvCustomHandlerPort: " 7071\n"}, want: "127.0.0.1:7071"},
		{name: "bounds: 1", env: map[string]string{EnvCustomHandlerPort: "1"}, want: "127.0.0.1:1"},
		{name: "bounds: 65535", env: map[string]string{EnvCustomHandlerPort: "65535"}, want: "127.0.0.1:65535"},
		{name: "zero", env: map[string]string{EnvCustomHandlerPort: "0"}, wantErr: EnvCustomHandlerPort},
		{name: "too large", env: map[string]string{EnvCustomHandlerPort: "65536"}, wantErr: EnvCustomHandlerPort},
		{name: "negative", env: map[string]string{EnvCustomHandlerPort: "-1"}, wantErr: EnvCustomHandlerPort},
		{name: "signed", env: map[string]string{EnvCustomHandlerPort: "+80"}, wantErr: EnvCustomHandlerPort},
		{name: "not a number", env: map[string]string{EnvCustomHandlerPort: "http"}, wantErr: EnvCustomHandlerPort},
		{name: "host:port", env: map[string]string{EnvCustomHandlerPort: "127.0.0.1:80"}, wantErr: EnvCustomHandlerPort},
		{name: "invalid custom port does not fall back", env: map[string]string{EnvCustomHandlerPort: "x", EnvHTTPWorkerPort: "4000"}, wantErr: EnvCustomHandlerPort},
		{name: "invalid legacy port", env: map[string]string{EnvHTTPWorkerPort: "99999"}, wantErr: EnvHTTPWorkerPort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ListenAddress(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ListenAddress = %q, %v; want an error naming %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ListenAddress = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if got, err := ListenAddress(nil); err != nil || got != "127.0.0.1:8080" {
		t.Fatalf("ListenAddress(nil) = %q, %v", got, err)
	}
}
