package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/backup"
)

// bulkGroups is how many critical groups the mass deletion takes: more than
// the sample rules' breaker lets through (20 per rule within 10 minutes).
const bulkGroups = 25

// bulkID is the id of the i-th bulk group (made up, like the seed's).
func bulkID(i int) string { return fmt.Sprintf("0b0c0d0e-0000-4000-8000-%012d", i) }

// demoSeed writes the sample tenant with the bulk groups, and with
// Reinstate's app granted the Backup & Recovery write permissions as
// application permissions. Microsoft documents those as delegated-only
// (reference §1.8): in a real tenant the preview waits for on-call to start
// it (on-behalf-of, which needs an https authority MSAL trusts). graphsim's
// --backup-app-writes is the switch for the day Microsoft opens them to
// apps; the demo uses it to show the whole path in seconds.
func demoSeed(cfg config) (string, error) {
	raw, err := os.ReadFile(cfg.seed)
	if err != nil {
		return "", err
	}
	var seed map[string]any
	if err := json.Unmarshal(raw, &seed); err != nil {
		return "", fmt.Errorf("seed %s: %w", cfg.seed, err)
	}
	groups, _ := seed["groups"].([]any)
	for i := range bulkGroups {
		name := fmt.Sprintf("sec-prod-bulk-%02d", i)
		groups = append(groups, map[string]any{"id": bulkID(i), "displayName": name, "mailNickname": name, "groupTypes": []string{},
			"mailEnabled": false, "securityEnabled": true, "deletedDateTime": nil, "proxyAddresses": []string{}})
	}
	seed["groups"] = groups
	identities, _ := seed["identities"].([]any)
	for _, id := range identities {
		if ident, ok := id.(map[string]any); ok && ident["token"] == reinstateToken {
			perms, _ := ident["permissions"].([]any)
			ident["permissions"] = append(perms, "EntraBackup.ReadWrite.Preview", "EntraBackup.ReadWrite.Recovery")
		}
	}
	out, err := json.Marshal(seed)
	if err != nil {
		return "", err
	}
	path := filepath.Join(cfg.runDir, "seed.json")
	return path, os.WriteFile(path, out, 0o644)
}

// massDeletion deletes the bulk groups at once: the breaker trips, holds the
// restores past its threshold and asks for one Backup & Recovery preview of
// everything it counted; on-call approves it through the API, and the
// recovery brings the rest back.
func massDeletion(ctx context.Context, out io.Writer, graph *client, handlerURL, token string) error {
	fmt.Fprintf(out, "\n== 7. a mass deletion: the administrator deletes %d critical groups at once\n", bulkGroups)
	for i := range bulkGroups {
		if status, err := graph.do(ctx, http.MethodDelete, adminToken, "/v1.0/groups/"+bulkID(i)); err != nil || status != http.StatusNoContent {
			return fmt.Errorf("delete bulk group %d: status %d, %v", i, status, err)
		}
	}
	api := &apiCaller{base: handlerURL + "/api/recovery", token: token}
	var c backup.Case
	err := waitSlowly(ctx, func() (bool, error) {
		var list struct {
			Previews []backup.Case `json:"previews"`
		}
		if err := api.do(ctx, http.MethodGet, "/previews", nil, &list); err != nil {
			return false, err
		}
		for _, p := range list.Previews {
			if p.State == backup.CaseReady {
				c = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("no preview became ready: %w", err)
	}
	fmt.Fprintf(out, "   the breaker tripped and held the rest back; one preview of %d objects, from the snapshot of %s:\n", c.Objects(), c.Snapshot.CreatedAt.Format("15:04:05Z"))
	fmt.Fprintf(out, "   GET  /api/recovery/previews → case %s ready: %d changes (group restore: %d)\n", c.ID, c.Summary.Total, c.Summary.ByTypeAction["group"]["restore"])
	if err := api.do(ctx, http.MethodPost, "/previews/"+c.ID+"/approve", map[string]string{"reason": "demo: undo the mass deletion"}, &c); err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	fmt.Fprintf(out, "   POST /api/recovery/previews/%s/approve → %s\n", c.ID, c.State)
	err = waitSlowly(ctx, func() (bool, error) {
		if err := api.do(ctx, http.MethodGet, "/previews/"+c.ID, nil, &c); err != nil {
			return false, err
		}
		return !c.State.Open(), nil
	})
	if err != nil {
		return fmt.Errorf("the recovery never finished: %w", err)
	}
	live := 0
	for i := range bulkGroups {
		status, err := graph.do(ctx, http.MethodGet, adminToken, "/v1.0/groups/"+bulkID(i))
		if err != nil {
			return err
		}
		if status == http.StatusOK {
			live++
		}
	}
	fmt.Fprintf(out, "   case %s %s, approved by %s: %s\n", c.ID, c.State, c.ApprovedBy, c.Detail)
	fmt.Fprintf(out, "   %d of %d bulk groups are live again\n", live, bulkGroups)
	if c.State != backup.CaseRecovered || live != bulkGroups {
		return fmt.Errorf("case %s ended %s with %d of %d groups live", c.ID, c.State, live, bulkGroups)
	}
	return nil
}

// apiCaller calls the on-call API with a bearer token, JSON both ways.
type apiCaller struct{ base, token string }

func (a *apiCaller) do(ctx context.Context, method, path string, body, into any) error {
	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, reader)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	return json.Unmarshal(raw, into)
}

// waitSlowly polls check once a second: the on-call API limits each caller
// to a request a second on average.
func waitSlowly(ctx context.Context, check func() (bool, error)) error {
	for {
		ok, err := check()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.New("timed out")
		case <-time.After(time.Second):
		}
	}
}
