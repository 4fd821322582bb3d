package customhandler

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Environment variables naming the port the host expects the handler on
// (HOST HttpWorkerConstants; reference §A1). The HTTPWORKER name is the
// legacy one, still used by old samples.
const (
	EnvCustomHandlerPort = "FUNCTIONS_CUSTOMHANDLER_PORT"
	EnvHTTPWorkerPort    = "FUNCTIONS_HTTPWORKER_PORT"
)

// DefaultPort is used when neither port variable is set, e.g. when running
// the handler by hand.
const DefaultPort = 8080

// ListenAddress returns the loopback address to listen on:
// "127.0.0.1:"+port from FUNCTIONS_CUSTOMHANDLER_PORT, else
// FUNCTIONS_HTTPWORKER_PORT, else 8080. The host dials 127.0.0.1
// (WorkerConstants.HostName; reference §A1), so binding loopback only keeps
// the handler off other interfaces. A variable that is set (non-blank) but not
// a port in 1..65535 is an error naming it; there is no fallback to the next
// variable, because the host would be dialing that invalid value.
// A nil getenv reads nothing.
func ListenAddress(getenv func(string) string) (string, error) {
	for _, name := range []string{EnvCustomHandlerPort, EnvHTTPWorkerPort} {
		if getenv == nil {
			break
		}
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		port, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return "", fmt.Errorf("customhandler: %s=%q is not a TCP port (1-65535): %w", name, v, err)
		}
		if port == 0 {
			return "", fmt.Errorf("customhandler: %s=%q is not a TCP port (1-65535)", name, v)
		}
		return net.JoinHostPort("127.0.0.1", strconv.FormatUint(port, 10)), nil
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultPort)), nil
}
