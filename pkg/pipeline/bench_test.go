package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reinstate/reinstate/pkg/store/sqlite"
)

// BenchmarkIngestNewRecords measures a batch of new records through decode,
// claim, journal and complete on the embedded store, where each record costs
// three durable commits. BenchmarkIngestDuplicates measures a redelivery.
func BenchmarkIngestNewRecords(b *testing.B) { benchmarkIngest(b, false) }
func BenchmarkIngestDuplicates(b *testing.B) { benchmarkIngest(b, true) }

func benchmarkIngest(b *testing.B, redeliver bool) {
	const records = 20
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p := New(st, Options{})
	ctx := context.Background()
	body := func(batch int) []byte {
		var parts []string
		for i := range records {
			parts = append(parts, fmt.Sprintf(`{"time":"2026-06-02T14:01:03.9902154Z","tenantId":"t","properties":{"id":"Directory_b%d_r%d","activityDisplayName":"Delete user","activityDateTime":"2026-06-02T14:01:03.9902154+00:00","result":"success","loggedByService":"Core Directory","initiatedBy":{"user":{"id":"u","userPrincipalName":"admin@contoso.example"}},"targetResources":[{"id":"x","type":"User","modifiedProperties":[{"displayName":"Is Hard Deleted","oldValue":null,"newValue":"\"False\""}]}]}}`, batch, i))
		}
		return []byte(`{"records":[` + strings.Join(parts, ",") + `]}`)
	}
	fixed := body(-1)
	if redeliver {
		if _, err := p.Ingest(ctx, Batch{Bodies: []Body{{Data: fixed}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		data := fixed
		if !redeliver {
			b.StopTimer()
			data = body(i)
			b.StartTimer()
		}
		if _, err := p.Ingest(ctx, Batch{Bodies: []Body{{Data: data}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
}
