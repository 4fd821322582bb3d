package customhandler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/reinstate/reinstate/pkg/lenient"
)

// TimerInfo is a timer trigger's value: the host sends the WebJobs TimerInfo
// as a JSON object {"Schedule":{...},"ScheduleStatus":{"Last","Next",
// "LastUpdated"}|null,"IsPastDue":bool} (azure-webjobs-sdk-extensions
// Timers/TimerInfo.cs; reference §A2 "Timer trigger").
type TimerInfo struct {
	// IsPastDue is true when this invocation is later than scheduled.
	IsPastDue bool
	// HasScheduleStatus is false when ScheduleStatus was null or absent,
	// which the host does when schedule monitoring is off (TimerSchedule.Create;
	// reference §A2).
	HasScheduleStatus bool
	// Last, Next and LastUpdated are in UTC; each is the zero time when
	// absent or unparseable (Azure/azure-functions-host#7391 reports
	// occasionally unparseable Last and LastUpdated from a Go custom handler).
	Last, Next, LastUpdated time.Time
	// Schedule is the Schedule object as received, or nil when absent or null.
	Schedule json.RawMessage
}

// ParseTimerInfo decodes a timer trigger's value leniently: a JSON object,
// possibly wrapped in a JSON string. Malformed fields become zero values; it
// fails only when raw is not a JSON object at all.
func ParseTimerInfo(raw json.RawMessage) (TimerInfo, error) {
	obj := lenient.Unwrap(raw)
	if len(obj) == 0 || obj[0] != '{' {
		return TimerInfo{}, fmt.Errorf("customhandler: timer info is a JSON %s, not an object", lenient.Kind(obj))
	}
	var wire struct {
		Schedule       json.RawMessage
		ScheduleStatus json.RawMessage
		IsPastDue      json.RawMessage
	}
	if err := json.Unmarshal(obj, &wire); err != nil {
		return TimerInfo{}, fmt.Errorf("customhandler: timer info: %w", err)
	}
	var ti TimerInfo
	ti.IsPastDue, _ = lenient.Bool(wire.IsPastDue)
	if !lenient.IsNull(wire.Schedule) {
		ti.Schedule = bytes.Clone(bytes.TrimSpace(wire.Schedule))
	}
	status := lenient.Unwrap(wire.ScheduleStatus)
	if len(status) > 0 && status[0] == '{' {
		var st struct {
			Last, Next, LastUpdated json.RawMessage
		}
		if json.Unmarshal(status, &st) == nil {
			ti.HasScheduleStatus = true
			ti.Last = timeValue(st.Last)
			ti.Next = timeValue(st.Next)
			ti.LastUpdated = timeValue(st.LastUpdated)
		}
	}
	return ti, nil
}
