// Package events holds sample events for every trigger of the stack: the
// S3 "Object Created" event that starts a release, a retirement schedule's
// payload and the daily sweep. Tests, the local engine and `make invoke`
// start from them; and the status change of an execution that stopped,
// for the watch function.
package events

import (
	"embed"
	"encoding/json"
	"fmt"
	"time"
)

//go:embed *.json
var files embed.FS

// Names of the sample files.
const (
	ObjectCreatedFile  = "s3-object-created.json"
	RetireScheduleFile = "retire-schedule.json"
	DailySweepFile     = "daily-sweep.json"
	// ExecutionStatusFile is a release execution stopped by hand, as
	// EventBridge delivers it to the watch function.
	ExecutionStatusFile = "execution-status-change.json"
	// ApprovalPageFile is a GET of an approval link as the function URL
	// hands it to the approval page (its signature is not a real one:
	// the page answers "not valid").
	ApprovalPageFile = "approval-page-get.json"
)

// Sample returns a sample event file's bytes.
func Sample(name string) ([]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("no sample event %q (have %s, %s, %s, %s)", name, ObjectCreatedFile, RetireScheduleFile, DailySweepFile, ExecutionStatusFile)
	}
	return b, nil
}

// ObjectCreated is the sample upload event for another object: what
// EventBridge delivers when an artifact lands in the release bucket.
func ObjectCreated(bucket, key, versionID string, size int64, at time.Time) ([]byte, error) {
	ev, err := sampleAt(ObjectCreatedFile, at)
	if err != nil {
		return nil, err
	}
	ev["resources"] = []string{"arn:aws:s3:::" + bucket}
	detail := ev["detail"].(map[string]any)
	detail["bucket"] = map[string]any{"name": bucket}
	obj := detail["object"].(map[string]any)
	obj["key"], obj["size"], obj["version-id"] = key, size, versionID
	return json.Marshal(ev)
}

// ExecutionStatusChange is the event EventBridge delivers when an
// execution's status changes.
func ExecutionStatusChange(executionARN, stateMachineARN, name, status string, at time.Time) ([]byte, error) {
	ev, err := sampleAt(ExecutionStatusFile, at)
	if err != nil {
		return nil, err
	}
	ev["resources"] = []string{executionARN}
	detail := ev["detail"].(map[string]any)
	detail["executionArn"], detail["stateMachineArn"], detail["name"], detail["status"] = executionARN, stateMachineARN, name, status
	detail["stopDate"] = at.UnixMilli()
	return json.Marshal(ev)
}

// sampleAt is a sample EventBridge event, decoded, sent at t.
func sampleAt(name string, t time.Time) (map[string]any, error) {
	b, err := Sample(name)
	if err != nil {
		return nil, err
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, err
	}
	ev["time"] = t.UTC().Format(time.RFC3339)
	return ev, nil
}
