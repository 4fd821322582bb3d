package customhandler

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseTimerInfo(t *testing.T) {
	last := time.Date(2026, 3, 2, 3, 0, 0, 3_458_200, time.UTC)
	next := time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		raw     string
		want    TimerInfo
		wantErr bool
	}{
		{
			name: "normal payload",
			raw: `{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2026-03-02T03:00:00.0034582+00:00",
				"Next":"2026-03-03T04:00:00+01:00","LastUpdated":"2026-03-02T03:00:00.0034582+00:00"},"IsPastDue":false}`,
			want: TimerInfo{HasScheduleStatus: true, Last: last, Next: next, LastUpdated: last,
				Schedule: json.RawMessage(`{"AdjustForDST":true}`)},
		},
		{
			name: "ScheduleStatus null (schedule monitoring off), past due",
			raw:  `{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":true}`,
			want: TimerInfo{IsPastDue: true, Schedule: json.RawMessage(`{"AdjustForDST":true}`)},
		},
		{
			name: "unparseable Last and LastUpdated (azure-functions-host#7391) are zero, no error",
			raw:  `{"ScheduleStatus":{"Last":"0001-01-01T00:00:00","Next":"2026-03-03T03:00:00Z","LastUpdated":"not a time"},"IsPastDue":"False"}`,
			want: TimerInfo{HasScheduleStatus: true, Next: next},
		},
		{
			name: "DateTime.MinValue with a local offset is zero too",
			raw:  `{"ScheduleStatus":{"Last":"0001-01-01T00:00:00-08:00","Next":12,"LastUpdated":{}}}`,
			want: TimerInfo{HasScheduleStatus: true},
		},
		{
			name: "zone-less times are UTC; IsPastDue as string",
			raw:  `{"ScheduleStatus":{"Next":"2026-03-03T03:00:00"},"IsPastDue":"true"}`,
			want: TimerInfo{IsPastDue: true, HasScheduleStatus: true, Next: next},
		},
		{
			name: "whole object string-wrapped",
			raw:  `"{\"IsPastDue\":true,\"ScheduleStatus\":\"{\\\"Next\\\":\\\"2026-03-03T03:00:00Z\\\"}\"}"`,
			want: TimerInfo{IsPastDue: true, HasScheduleStatus: true, Next: next},
		},
		{name: "empty object", raw: `{}`, want: TimerInfo{}},
		{name: "ScheduleStatus not an object", raw: `{"ScheduleStatus":[1]}`, want: TimerInfo{}},
		{name: "array", raw: `[]`, wantErr: true},
		{name: "string", raw: `"x"`, wantErr: true},
		{name: "number", raw: `5`, wantErr: true},
		{name: "null", raw: `null`, wantErr: true},
		{name: "empty", raw: ``, wantErr: true},
		{name: "invalid JSON", raw: `{"IsPastDue":`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTimerInfo(json.RawMessage(tt.raw))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseTimerInfo succeeded: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTimerInfo: %v", err)
			}
			if got.IsPastDue != tt.want.IsPastDue || got.HasScheduleStatus != tt.want.HasScheduleStatus ||
				!got.Last.Equal(tt.want.Last) || !got.Next.Equal(tt.want.Next) || !got.LastUpdated.Equal(tt.want.LastUpdated) ||
				string(got.Schedule) != string(tt.want.Schedule) {
				t.Fatalf("ParseTimerInfo =\n%+v\nwant\n%+v", got, tt.want)
			}
			for _, tm := range []time.Time{got.Last, got.Next, got.LastUpdated} {
				if !tm.IsZero() && tm.Location() != time.UTC {
					t.Errorf("time %v not in UTC", tm)
				}
			}
		})
	}
}

func TestRequestTimerInfo(t *testing.T) {
	req := mustRequest(t, `{"Data":{"timer":{"IsPastDue":true}}}`)
	ti, err := req.TimerInfo("timer")
	if err != nil || !ti.IsPastDue {
		t.Fatalf("TimerInfo = %+v, %v", ti, err)
	}
	if _, err := req.TimerInfo("other"); err == nil {
		t.Fatal("TimerInfo of an absent binding succeeded")
	}
	if _, err := mustRequest(t, `{"Data":{"timer":"[1]"}}`).TimerInfo("timer"); err == nil {
		t.Fatal("TimerInfo of an array succeeded")
	}
}
