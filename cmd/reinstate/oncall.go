package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/reinstate/reinstate/pkg/audit"
	"github.com/reinstate/reinstate/pkg/config"
	"github.com/reinstate/reinstate/pkg/graphapi"
	"github.com/reinstate/reinstate/pkg/oncall"
	"github.com/reinstate/reinstate/pkg/recovery"
)

// The variables the API commands read (docs/CONFIG.md). They are read
// through env.getenv, never config.Load: an on-call engineer's laptop has
// none of the service's configuration, and needs none.
const (
	envAPIURL   = "REINSTATE_API_URL"
	envAPIScope = "REINSTATE_API_SCOPE"
	envAPIKey   = "REINSTATE_API_KEY"
	envAPIToken = "REINSTATE_API_TOKEN"
)

// noConfig marks a command that must run without the service's
// configuration: the root's PersistentPreRunE then skips config.Load.
var noConfig = map[string]string{"config": "none"}

// apiTimeout bounds each API call; the API answers at once.
const apiTimeout = 30 * time.Second

// restorePollInterval is how often restore --wait asks for the status; a
// variable so that tests need not wait seconds.
var restorePollInterval = 2 * time.Second

// apiFlags are the flags every command that calls the API takes.
type apiFlags struct {
	deviceCode bool
}

func (f *apiFlags) register(flags interface {
	BoolVar(p *bool, name string, value bool, usage string)
}) {
	flags.BoolVar(&f.deviceCode, "device-code", false, "sign in with a device code (prompt on stderr) instead of the Azure CLI's login")
}

// apiClient builds the API client from the environment. It refuses what
// would put a token at risk before asking anyone for one: a base URL that
// is not https (http only on loopback), and a raw REINSTATE_API_TOKEN for
// anything but loopback, since that token is local mode's and a real one
// pasted into the environment outlives every sign-in.
func (e *env) apiClient(flags apiFlags) (*oncall.Client, error) {
	raw := strings.TrimSpace(e.getenv(envAPIURL))
	if raw == "" {
		return nil, fmt.Errorf("%s is not set: the on-call API's base URL, such as https://func-reinstate.azurewebsites.net (docs/CONFIG.md)", envAPIURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s is not an absolute URL such as https://func-reinstate.azurewebsites.net", envAPIURL)
	}
	loopback := graphapi.IsLoopback(u)
	if u.Scheme != "https" && (u.Scheme != "http" || !loopback) {
		return nil, fmt.Errorf("%s %s://%s must be https (http only on loopback)", envAPIURL, u.Scheme, u.Host)
	}
	c := &oncall.Client{BaseURL: raw, HTTP: &http.Client{Timeout: apiTimeout}, FunctionKey: e.getenv(envAPIKey)}

	if token := e.getenv(envAPIToken); token != "" {
		switch {
		case !loopback:
			return nil, fmt.Errorf("%s is honoured only when %s is on loopback (local mode), and %s is not: unset %s and sign in with az login (or --device-code)",
				envAPIToken, envAPIURL, u.Host, envAPIToken)
		case flags.deviceCode:
			return nil, fmt.Errorf("--device-code and %s: choose one", envAPIToken)
		}
		c.Token = func(context.Context) (string, error) { return token, nil }
		return c, nil
	}

	scope := strings.TrimSpace(e.getenv(envAPIScope))
	if scope == "" {
		return nil, fmt.Errorf("%s is not set: the scope to ask Entra ID for, such as api://reinstate-contoso/.default", envAPIScope)
	}
	tenant := strings.TrimSpace(e.getenv(config.EnvTenantID))
	var cred azcore.TokenCredential
	if flags.deviceCode {
		cred, err = azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{
			TenantID: tenant,
			// The prompt goes to stderr, so that stdout stays the answer
			// (and -o json stays JSON).
			UserPrompt: func(_ context.Context, m azidentity.DeviceCodeMessage) error {
				_, err := fmt.Fprintln(e.stderr, m.Message)
				return err
			},
		})
	} else {
		cred, err = azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: tenant})
	}
	if err != nil {
		return nil, fmt.Errorf("sign-in: %w", err)
	}
	c.Token = (&cachedToken{cred: cred, scope: scope}).get
	return c, nil
}

// cachedToken keeps an access token until shortly before it expires:
// AzureCLICredential runs `az` for every token, which restore --wait would
// otherwise do at every poll.
type cachedToken struct {
	cred  azcore.TokenCredential
	scope string
	mu    sync.Mutex
	tok   azcore.AccessToken
}

// tokenMargin is how long before its expiry a cached token is renewed.
const tokenMargin = 2 * time.Minute

func (c *cachedToken) get(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok.Token != "" && time.Until(c.tok.ExpiresOn) > tokenMargin {
		return c.tok.Token, nil
	}
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		return "", fmt.Errorf("sign in for %s: %w", c.scope, err)
	}
	c.tok = tok
	return tok.Token, nil
}

// apiError says what failed and, for the refusals a person can fix, how.
func apiError(what string, err error) error {
	var pe *oncall.ProblemError
	if errors.As(err, &pe) {
		switch pe.Status {
		case http.StatusUnauthorized:
			return fmt.Errorf("%s: %w (sign in again, and check that %s names the Reinstate API)", what, err, envAPIScope)
		case http.StatusForbidden:
			return fmt.Errorf("%s: %w (your token lacks the app role this needs: Recovery.Read to read, Recovery.Operate to change anything)", what, err)
		case http.StatusServiceUnavailable:
			return fmt.Errorf("%s: %w (the API cannot check tokens now, or is not configured; try again later)", what, err)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

func restoreCommand(e *env) *cobra.Command {
	var (
		flags      apiFlags
		req        oncall.RestoreRequest
		opts       oncall.RestoreOptions
		key        string
		wait       bool
		timeout    time.Duration
		output     string
		objectType string
	)
	cmd := &cobra.Command{
		Use:   "restore OBJECT_ID --reason TEXT",
		Short: "Restore a deleted object through the on-call API",
		Long: `Ask the on-call API (REINSTATE_API_URL) to restore a deleted object. The API
checks that the recycle bin holds it, applies the guards, queues the restore
and answers at once; --wait follows it to the end.

Every request carries an idempotency key: a random one unless
--idempotency-key gives it, printed on stderr before the request is sent. If
a request times out, run the same command with that key: the API answers
with the restore it already queued instead of queuing another.

Sign-in: the Azure CLI's login (az login) for REINSTATE_API_SCOPE, or a
device code with --device-code, in REINSTATE_TENANT_ID when it is set. In
local mode (a loopback REINSTATE_API_URL) REINSTATE_API_TOKEN is sent as it
is. REINSTATE_API_KEY is sent as the Functions key.

Exit status: 0 when queued (with --wait: restored or already live); 1 when
refused or, with --wait, when the restore failed; 2 when --timeout passed
first.`,
		Args:        cobra.ExactArgs(1),
		Annotations: noConfig,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != outputTable && output != outputJSON {
				return fmt.Errorf("--output %q: use table or json", output)
			}
			req.ObjectID, req.ObjectType = args[0], objectType
			if !audit.ValidObjectID(req.ObjectID) {
				return fmt.Errorf("OBJECT_ID %q is not an object id (a GUID)", req.ObjectID)
			}
			if strings.TrimSpace(req.Reason) == "" {
				return errors.New("--reason is required: say why, for the journal and the people told")
			}
			switch opts.CAPolicyStateAfterRestore {
			case "", "asDeleted", recovery.CAStateReportOnly:
			default:
				return fmt.Errorf("--ca-state %q: use reportOnly or asDeleted", opts.CAPolicyStateAfterRestore)
			}
			if opts != (oncall.RestoreOptions{}) {
				req.Options = &opts
			}
			c, err := e.apiClient(flags)
			if err != nil {
				return err
			}
			if key == "" {
				key = uuid.NewString()
			}
			fmt.Fprintf(e.stderr, "idempotency key %s (to retry this request safely: --idempotency-key %s)\n", key, key)
			st, err := c.Restore(cmd.Context(), req, key)
			if err != nil {
				return apiError("restore "+req.ObjectID, err)
			}
			if !wait {
				return writeStatus(e.stdout, output, st)
			}
			return e.waitRestore(cmd.Context(), c, st, timeout, output)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Reason, "reason", "", "why (required; journaled and shown to the people told)")
	f.StringVar(&objectType, "type", "", "the object's type, which the recycle bin must agree with: "+binTypes())
	f.StringVar(&opts.NewUserPrincipalName, "new-upn", "", "users: restore under this user principal name (when another user holds the old one)")
	f.BoolVar(&opts.AutoReconcileProxyConflict, "reconcile-proxy-addresses", false, "users and groups: let Graph drop proxy addresses another object now holds")
	f.StringVar(&opts.CAPolicyStateAfterRestore, "ca-state", "", "Conditional Access policies: reportOnly, or asDeleted (the default)")
	f.StringVar(&key, "idempotency-key", "", "the request's idempotency key (default: a random UUID, printed)")
	f.BoolVar(&wait, "wait", false, "follow the restore until it ends, up to --timeout")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "how long --wait waits")
	f.StringVarP(&output, "output", "o", outputTable, "table or json")
	flags.register(f)
	return cmd
}

// waitRestore polls st until it is final or timeout passes.
func (e *env) waitRestore(ctx context.Context, c *oncall.Client, st oncall.RestoreStatus, timeout time.Duration, output string) error {
	deadline := time.Now().Add(timeout)
	for !finalState(st.State) {
		pause := restorePollInterval
		if time.Now().Add(pause).After(deadline) {
			if err := writeStatus(e.stdout, output, st); err != nil {
				return err
			}
			return &exitError{code: 2, err: fmt.Errorf("restore %s is still %s after %s: follow it with `reinstate status %s`", st.ID, st.State, timeout, st.ID)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		next, err := c.Status(ctx, st.ID)
		var pe *oncall.ProblemError
		if errors.As(err, &pe) && pe.Status == http.StatusTooManyRequests {
			// Slow down as asked, and carry on.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pe.RetryAfter):
			}
			continue
		}
		if err != nil {
			return apiError("status of restore "+st.ID, err)
		}
		st = next
	}
	if err := writeStatus(e.stdout, output, st); err != nil {
		return err
	}
	if st.State != string(recovery.StatusRestored) && st.State != string(recovery.StatusAlreadyLive) {
		detail := st.LastError
		if st.Outcome != nil && st.Outcome.Detail != "" {
			detail = st.Outcome.Detail
		}
		return &exitError{code: 1, err: fmt.Errorf("restore %s ended %s: %s", st.ID, st.State, dash(detail))}
	}
	return nil
}

// finalState reports whether a restore's state will not change.
func finalState(state string) bool {
	return state != "queued" && state != "running" && state != "retrying"
}

func statusCommand(e *env) *cobra.Command {
	var (
		flags  apiFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a restore asked for through the on-call API",
		Long: `Show a restore that ` + "`reinstate restore`" + ` (or any on-call API client) asked for:
its state, attempts and, once done, what Graph answered and whether the
object was read back live. Signs in as restore does.`,
		Args:        cobra.ExactArgs(1),
		Annotations: noConfig,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != outputTable && output != outputJSON {
				return fmt.Errorf("--output %q: use table or json", output)
			}
			c, err := e.apiClient(flags)
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context(), args[0])
			if err != nil {
				return apiError("status of restore "+args[0], err)
			}
			return writeStatus(e.stdout, output, st)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "table or json")
	flags.register(cmd.Flags())
	return cmd
}

// writeStatus prints a restore: one JSON object on a line, or a
// two-column table for people.
func writeStatus(w io.Writer, output string, st oncall.RestoreStatus) error {
	if output == outputJSON {
		return writeJSONLines(w, []oncall.RestoreStatus{st})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	state := st.State
	if st.Verified {
		state += " (verified live)"
	}
	object := st.ObjectType + " " + st.ObjectID
	if st.Name != "" {
		object += " (" + st.Name + ")"
	}
	rows := [][2]string{
		{"ID", st.ID}, {"STATE", state}, {"OBJECT", object}, {"REASON", dash(st.Reason)}, {"ACTOR", dash(st.Actor)},
		{"ATTEMPTS", fmt.Sprint(st.Attempts)}, {"CREATED", st.CreatedAt.UTC().Format(time.RFC3339)}, {"UPDATED", st.UpdatedAt.UTC().Format(time.RFC3339)},
	}
	if st.LastError != "" {
		rows = append(rows, [2]string{"LAST ERROR", st.LastError})
	}
	for _, o := range st.Overridden {
		rows = append(rows, [2]string{"OVERRIDES", o})
	}
	if out := st.Outcome; out != nil {
		if out.Detail != "" && !strings.Contains(st.LastError, out.Detail) {
			rows = append(rows, [2]string{"DETAIL", out.Detail})
		}
		for _, a := range out.Actions {
			rows = append(rows, [2]string{"ALSO", a})
		}
		for _, r := range out.Related {
			rows = append(rows, [2]string{"RELATED", fmt.Sprintf("%s %s %s", r.ObjectType, r.ObjectID, r.Status)})
		}
	}
	rows = append(rows, [2]string{"STATUS URL", st.StatusURL})
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

func binTypes() string {
	names := make([]string, len(recovery.BinTypes))
	for i, t := range recovery.BinTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

func deletedCommand(e *env) *cobra.Command {
	var (
		flags      apiFlags
		objectType string
		since      string
		limit      int
		output     string
	)
	cmd := &cobra.Command{
		Use:   "deleted --type TYPE [--since 24h]",
		Short: "List a recycle bin through the on-call API, with what Reinstate would do",
		Long: `List what one recycle bin holds now, through the on-call API, with what the
rule table says about each item (judged as if it had just been deleted by an
unknown initiator) and the latest decision the journal holds. Signs in as
restore does.`,
		Args:        cobra.NoArgs,
		Annotations: noConfig,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != outputTable && output != outputJSON {
				return fmt.Errorf("--output %q: use table or json", output)
			}
			if objectType == "" {
				return fmt.Errorf("--type is required: one of %s", binTypes())
			}
			c, err := e.apiClient(flags)
			if err != nil {
				return err
			}
			list, err := c.Deleted(cmd.Context(), objectType, since, limit)
			if err != nil {
				return apiError("list the "+objectType+" recycle bin", err)
			}
			if list.More {
				fmt.Fprintln(e.stderr, "the bin holds more than listed: raise --limit or narrow --since")
			}
			if output == outputJSON {
				return writeJSONLines(e.stdout, list.Items)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tDELETED\tRULE\tWOULD\tLAST DECISION")
			for _, item := range list.Items {
				deleted := "-"
				if !item.DeletedAt.IsZero() {
					deleted = item.DeletedAt.UTC().Format(time.RFC3339)
				}
				would := strings.Join(item.Rules.Actions, ",")
				if item.Rules.Error != "" {
					would = "error: " + item.Rules.Error
				}
				last := "-"
				if d := item.LastDecision; d != nil {
					last = strings.TrimSpace(fmt.Sprintf("%s %s %s", d.Time.UTC().Format(time.RFC3339), d.Kind, d.Outcome))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", item.ID, dash(clip(item.Name, 64)), deleted, dash(item.Rules.Rule), dash(would), last)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&objectType, "type", "", "the bin: "+binTypes()+" (required)")
	f.StringVar(&since, "since", "", "only items deleted since: a duration back from now (24h) or an RFC 3339 time")
	f.IntVar(&limit, "limit", 0, "at most this many items (the API's default 100, at most 500)")
	f.StringVarP(&output, "output", "o", outputTable, "table or json (one item per line)")
	flags.register(f)
	return cmd
}
