package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/reinstate/reinstate/pkg/idpsim"
	"github.com/reinstate/reinstate/pkg/oncall"
)

// labPrinters is the object the rules leave in the bin, and on-call brings
// back by one authenticated call.
var labPrinters = scenario[3]

// onCall restores the group the rules left alone through the on-call API,
// with a token from graphsim's local issuer, follows it to its outcome, and
// prints the calls to try by hand.
func onCall(ctx context.Context, out io.Writer, graph *client, simURL, handlerURL string) (string, error) {
	fmt.Fprintln(out, "\n== 6. on-call restores the group the rules left alone, with one authenticated HTTP call")
	token, err := mintToken(ctx, simURL)
	if err != nil {
		return "", err
	}
	api := &oncall.Client{BaseURL: handlerURL, Token: func(context.Context) (string, error) { return token, nil }}
	queued, err := api.Restore(ctx, oncall.RestoreRequest{ObjectID: labPrinters.id, ObjectType: "group", Reason: "demo: the lab needs its printers back"}, "demo-lab-printers")
	if err != nil {
		return "", err
	}
	fmt.Fprintf(out, "   POST %s/restores → 202, restore %s %s\n", oncall.BasePath, queued.ID, queued.State)
	var final oncall.RestoreStatus
	err = waitFor(ctx, func() (bool, error) {
		final, err = api.Status(ctx, queued.ID)
		return err == nil && final.Outcome != nil, err
	})
	if err != nil {
		return "", fmt.Errorf("restore %s never finished: %w", queued.ID, err)
	}
	live, err := graph.live(ctx, labPrinters)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(out, "   GET  %s → %s (verified %v); %s is live: %v\n", final.StatusURL, final.State, final.Verified, labPrinters.name, live)
	if final.State != "restored" || !live {
		return "", fmt.Errorf("restore %s ended %s", final.ID, final.State)
	}
	journal, err := api.Journal(ctx, "", labPrinters.id, 20)
	if err != nil {
		return "", err
	}
	fmt.Fprintln(out, "   its journal, oldest first:")
	for i := len(journal.Entries) - 1; i >= 0; i-- {
		e := journal.Entries[i]
		fmt.Fprintf(out, "     %-26s %s\n", e.Kind, e.Actor)
	}

	return token, nil
}

// tryIt prints the calls to try by hand, with the local token: the last
// thing `make run` says.
func tryIt(out io.Writer, token, simURL, handlerURL string) {
	fmt.Fprintln(out, `
   Try the API yourself. LOCAL MODE ONLY: this token was minted by graphsim's
   local test issuer (roles Recovery.Read, Operate and Approve, one hour); it
   means nothing to a real tenant, where a token comes from Entra ID
   (az account get-access-token --scope api://<your API>/.default).
   It works while the handler runs: 'make run KEEP=1' keeps it up.`)
	fmt.Fprintf(out, "\n   TOKEN='%s'\n", token)
	fmt.Fprintf(out, "   curl -s -H \"Authorization: Bearer $TOKEN\" '%s%s/deleted?type=group&since=1h'\n", handlerURL, oncall.BasePath)
	fmt.Fprintf(out, "   curl -s -X DELETE -H 'Authorization: Bearer %s' %s/v1.0/users/%s   # graphsim's admin deletes Megan Bowen\n", adminToken, simURL, meganBowen)
	fmt.Fprintf(out, "   curl -s -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -H 'Idempotency-Key: try-1' \\\n"+
		"     -d '{\"objectId\":\"%s\",\"reason\":\"trying the API\"}' %s%s/restores\n", meganBowen, handlerURL, oncall.BasePath)
	fmt.Fprintf(out, "   curl -s -H \"Authorization: Bearer $TOKEN\" '%s%s/journal?since=1h'\n", handlerURL, oncall.BasePath)
}

// meganBowen is the user the printed example deletes and restores; the
// sample rules restore only the listed admins, so she stays in the bin
// until on-call brings her back.
const meganBowen = "b2d4f6a8-3c5e-4d7f-9b1c-2e4a6c8e0f32"

// mintToken asks graphsim's local issuer for an on-call token.
func mintToken(ctx context.Context, simURL string) (string, error) {
	body, _ := json.Marshal(idpsim.SimTokenRequest{Audience: apiAudience, Roles: []string{"Recovery.Read", "Recovery.Operate", "Recovery.Approve"},
		Name: "oncall@contoso.onmicrosoft.com", LifetimeSeconds: int(time.Hour / time.Second)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, simURL+idpsim.TokenPath, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("mint a local token: %w", err)
	}
	defer resp.Body.Close()
	var tok idpsim.SimTokenResponse
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&tok) != nil || !strings.HasPrefix(tok.AccessToken, "ey") {
		return "", fmt.Errorf("graphsim's issuer did not mint a token (status %d)", resp.StatusCode)
	}
	return tok.AccessToken, nil
}
