package release

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Doc is the release document: the state every step reads and the part of
// it each step returns. The state machine writes a step's result at that
// step's ResultPath, so steps never overwrite each other. Keep it small:
// Step Functions caps a payload at 256 KiB.
type Doc struct {
	ReleaseID string `json:"releaseId"`
	// Kind is KindRelease, or KindRollback for a switch back to the
	// instance kept from the previous release.
	Kind string `json:"kind,omitempty"`
	// RestoresRelease is, on a switch back, the release the previous
	// instance runs.
	RestoresRelease string `json:"restoresRelease,omitempty"`
	// Execution is the Step Functions execution ARN, from the Context
	// Object, for links in notifications and the ledger.
	Execution string    `json:"execution,omitempty"`
	App       string    `json:"app"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"startedAt"`
	Artifact  Artifact  `json:"artifact"`
	Config    Config    `json:"config"`
	Live      Live      `json:"live"`

	Candidate *Candidate `json:"candidate,omitempty"`
	TestData  *TestData  `json:"testData,omitempty"`
	Deploy    *Deploy    `json:"deploy,omitempty"`
	Smoke     *Report    `json:"smoke,omitempty"`
	Approval  *Approval  `json:"approval,omitempty"`
	Cutover   *Cutover   `json:"cutover,omitempty"`
	Switch    *Switch    `json:"switch,omitempty"`
	Verify    *Verify    `json:"verify,omitempty"`
	// Register and Shift replace Switch and Verify behind an ALB.
	Register *Register `json:"register,omitempty"`
	Shift    *Shift    `json:"shift,omitempty"`
	Keep     *Keep     `json:"keep,omitempty"`
	Record   *Record   `json:"record,omitempty"`

	// Failure is what a Catch recorded: the error that sent the release
	// into rollback.
	Failure  *Failure  `json:"failure,omitempty"`
	Rollback *Rollback `json:"rollback,omitempty"`
	// RollbackError is what a Catch recorded when the rollback step itself
	// failed past its retries.
	RollbackError *Failure `json:"rollbackError,omitempty"`
}

// Kinds of workflow a document belongs to.
const (
	KindRelease  = "release"
	KindRollback = "rollback"
)

// IsRollback reports a switch back to the previous instance.
func (d Doc) IsRollback() bool { return d.Kind == KindRollback }

// ID is the release id, for logs.
func (d Doc) ID() string { return d.ReleaseID }

// Artifact identifies the uploaded release archive exactly.
type Artifact struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"versionId,omitempty"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	// UploadedBy is who uploaded it, from its metadata; "" when it was
	// uploaded by other means than greenlight release.
	UploadedBy string `json:"uploadedBy,omitempty"`
}

// Live is the serving side when the release started. Behind an ALB it
// may be a fleet: InstanceIDs are all its instances (the serving target
// group's healthy targets) and InstanceID, SubnetID, AZ and PrivateIP
// describe the first; behind an Elastic IP, or with a data volume, the
// side is that one instance.
type Live struct {
	InstanceID    string   `json:"instanceId"`
	InstanceIDs   []string `json:"instanceIds,omitempty"`
	SubnetIDs     []string `json:"subnetIds,omitempty"`
	SubnetID      string   `json:"subnetId"`
	AZ            string   `json:"az"`
	PrivateIP     string   `json:"privateIp"`
	AllocationID  string   `json:"allocationId"`
	PublicIP      string   `json:"publicIp"`
	Version       string   `json:"version,omitempty"`
	ImageID       string   `json:"imageId,omitempty"`
	DataVolumeID  string   `json:"dataVolumeId,omitempty"`
	PreviousRelID string   `json:"previousReleaseId,omitempty"`
}

// IDs are the live side's instances: InstanceIDs, or the one InstanceID
// of a document written before fleets.
func (l Live) IDs() []string { return SideOf(l.InstanceIDs, l.InstanceID) }

// SideOf is a side's instances as a record names them: ids, or, in a
// record written before fleets, its one instance (none when that is
// empty too).
func SideOf(ids []string, one string) []string {
	if len(ids) > 0 {
		return ids
	}
	if one == "" {
		return nil
	}
	return []string{one}
}

// Candidate is the side being prepared to take over: one instance, or
// fleet.size of them behind an ALB. The workflow has no state per
// instance; each step looks at all of them in one pass.
type Candidate struct {
	ImageID    string    `json:"imageId"`
	LaunchedAt time.Time `json:"launchedAt"`
	// Instances are the side's instances in slot order.
	Instances []Member `json:"instances"`
	// Replaced counts the instances replaced for never becoming ready
	// (fleet.replaceUnhealthy bounds it).
	Replaced int `json:"replaced,omitempty"`
	Poll
	Status string `json:"status,omitempty"`
}

// Member is one instance of the candidate side. Slot is its place in the
// side (0 to fleet.size-1) and Try how many launches that slot has had
// before this one (a replacement, or another subnet after a zone had no
// capacity): together they make the launch's client token.
type Member struct {
	Slot       int       `json:"slot"`
	Try        int       `json:"try,omitempty"`
	InstanceID string    `json:"instanceId"`
	SubnetID   string    `json:"subnetId"`
	AZ         string    `json:"az,omitempty"`
	PrivateIP  string    `json:"privateIp,omitempty"`
	PublicIP   string    `json:"publicIp,omitempty"`
	LaunchedAt time.Time `json:"launchedAt"`
	Ready      bool      `json:"ready,omitempty"`
	Status     string    `json:"status,omitempty"`
}

// IDs are the candidate's instance ids in slot order.
func (c *Candidate) IDs() []string {
	if c == nil {
		return nil
	}
	ids := make([]string, 0, len(c.Instances))
	for _, m := range c.Instances {
		ids = append(ids, m.InstanceID)
	}
	return ids
}

// First is the candidate's first instance: the whole side in Elastic IP
// mode and with a data volume, which fleets do not allow.
func (c *Candidate) First() Member {
	if c == nil || len(c.Instances) == 0 {
		return Member{}
	}
	return c.Instances[0]
}

// Poll is the shape every Wait → Check → Choice loop shares: the check
// says whether the thing is done and, if not, how long to wait.
type Poll struct {
	Ready       bool `json:"ready"`
	WaitSeconds int  `json:"waitSeconds"`
	Checks      int  `json:"checks"`
}

// Step is the progress of one action of a data plan (test copy, cutover,
// an undo): the id of what it created or sent, when it started, whether
// its effect is in place.
type Step struct {
	ID      string    `json:"id,omitempty"`
	Started time.Time `json:"started,omitempty"`
	Done    bool      `json:"done,omitempty"`
	DoneAt  time.Time `json:"doneAt,omitempty"`
}

// TestData is the candidate's copy of the live data, for testing.
type TestData struct {
	SnapshotID string          `json:"snapshotId,omitempty"`
	VolumeID   string          `json:"volumeId,omitempty"`
	Deadline   time.Time       `json:"deadline"`
	Steps      map[string]Step `json:"steps"`
	Poll
	Status string `json:"status,omitempty"`
}

// Cutover moves the live data onto the candidate under maintenance.
type Cutover struct {
	// VolumeID is the data volume that serves on the candidate after
	// the cutover.
	VolumeID        string          `json:"volumeId,omitempty"`
	FinalSnapshotID string          `json:"finalSnapshotId,omitempty"`
	MaintenanceOnAt time.Time       `json:"maintenanceOnAt,omitempty"`
	Deadline        time.Time       `json:"deadline"`
	Steps           map[string]Step `json:"steps"`
	Poll
	Status string `json:"status,omitempty"`
}

// Deploy tracks the deploy command on the candidate: one command sent to
// every instance of the side. Status and LastLine sum the side up (a
// failed instance's, when one failed); Instances has each one's.
type Deploy struct {
	CommandID string    `json:"commandId"`
	SentAt    time.Time `json:"sentAt"`
	Poll
	Status   string `json:"status,omitempty"`
	LastLine string `json:"lastLine,omitempty"`
	// Instances are the command's invocations, in the candidate's slot
	// order.
	Instances []DeployOutcome `json:"instances,omitempty"`
}

// DeployOutcome is the deploy command's invocation on one instance:
// its status as SSM reports it and, once it ended, the script's exit code
// and last line.
type DeployOutcome struct {
	InstanceID string `json:"instanceId"`
	Status     string `json:"status,omitempty"`
	ExitCode   int    `json:"exitCode,omitempty"`
	LastLine   string `json:"lastLine,omitempty"`
}

// Report is the smoke test report. For a candidate fleet, Instances are
// each instance's report; Target then names the side, Passed is every
// instance's, and Checks is empty.
type Report struct {
	Target    string           `json:"target"`
	Passed    bool             `json:"passed"`
	Checks    []CheckResult    `json:"checks"`
	At        time.Time        `json:"at"`
	Instances []InstanceReport `json:"instances,omitempty"`
}

// InstanceReport is one candidate's smoke tests within a fleet's report.
type InstanceReport struct {
	InstanceID string        `json:"instanceId"`
	AZ         string        `json:"az,omitempty"`
	Target     string        `json:"target"`
	Passed     bool          `json:"passed"`
	Checks     []CheckResult `json:"checks"`
}

// CheckResult is one HTTP check.
type CheckResult struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	Status    int    `json:"status"`
	LatencyMS int64  `json:"latencyMs"`
	Passed    bool   `json:"passed"`
	Problem   string `json:"problem,omitempty"`
}

// Approval is what the approver sent back through the task token.
type Approval struct {
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// Switch records the traffic switch.
type Switch struct {
	From          string    `json:"from"`
	To            string    `json:"to"`
	AssociationID string    `json:"associationId"`
	At            time.Time `json:"at"`
}

// Verify tracks the bake after the switch.
type Verify struct {
	Since time.Time `json:"since"`
	// TrafficAt is when the public endpoint first answered from the
	// candidate; with a data cutover, the end of the maintenance window.
	TrafficAt time.Time `json:"trafficAt,omitempty"`
	Poll
	Last *Report `json:"last,omitempty"`
}

// Register is the candidate's registration behind the load balancer and
// its health there.
type Register struct {
	Since time.Time `json:"since"`
	// Group is the target group the candidate is registered in.
	Group     string            `json:"group,omitempty"`
	Healthy   []string          `json:"healthy,omitempty"`
	Unhealthy map[string]string `json:"unhealthy,omitempty"`
	Poll
}

// Shift is the traffic moving to the candidate through the load balancer,
// step by step: each step sets the weights and bakes for its time with
// every check green.
type Shift struct {
	Steps []TrafficStep `json:"steps"`
	// Step is the index of the step under way.
	Step int `json:"step"`
	// TrafficAt is when the load balancer first answered from the
	// candidate; with a data cutover, the end of the maintenance window.
	TrafficAt time.Time `json:"trafficAt,omitempty"`
	// PromotedBy, when set, is who skipped the remaining steps.
	PromotedBy string `json:"promotedBy,omitempty"`
	Poll
}

// TrafficStep is one step of a shift.
type TrafficStep struct {
	// Weight is the candidate's share of the traffic, in percent.
	Weight    int       `json:"weight"`
	StartedAt time.Time `json:"startedAt,omitempty"`
	// Checks counts the rounds of checks made during the step's bake.
	Checks int `json:"checks"`
	// Outcome is "passed", "promoted" (skipped by an operator), or what
	// failed; "" while under way.
	Outcome string  `json:"outcome,omitempty"`
	Last    *Report `json:"last,omitempty"`
}

// TrafficArrivedAt is when users first reached the candidate: after the
// Elastic IP moved, or the load balancer's first step.
func (d Doc) TrafficArrivedAt() time.Time {
	if d.Shift != nil {
		return d.Shift.TrafficAt
	}
	if d.Verify != nil {
		return d.Verify.TrafficAt
	}
	return time.Time{}
}

// Keep is the previous side, kept for rollback: tagged with its
// retirement date and scheduled to be retired then.
type Keep struct {
	InstanceIDs []string  `json:"instanceIds"`
	RetireAfter time.Time `json:"retireAfter"`
	Schedule    string    `json:"schedule"`
}

// Record is the bookkeeping after the commit point.
type Record struct {
	At time.Time `json:"at,omitzero"`
	// NotRecorded is the bookkeeping's own failure, kept by the workflow
	// past the commit point: the release stands, a person fixes the
	// record.
	NotRecorded *Failure `json:"notRecorded,omitempty"`
}

// Warning words what a release that stands could not record, or "".
func (r *Record) Warning() string {
	if r == nil || r.NotRecorded == nil {
		return ""
	}
	return r.NotRecorded.Reason()
}

// Failure is the Error/Cause pair a Catch writes.
type Failure struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Rollback tracks the compensating rollback. Each pass decides from what
// AWS says now; what it keeps here is progress (commands in flight) and
// what it has done, for the report.
type Rollback struct {
	Poll
	// StartedAt is the first pass: the last sweep for what this release
	// made happens a while after it (see rollback.SweepAfter).
	StartedAt time.Time `json:"startedAt,omitzero"`
	Outcome   string    `json:"outcome"`
	// Reason is why the release failed, in words ("VerifyFailed: …"):
	// the terminal state's cause.
	Reason string `json:"reason"`
	// Left is what could not be undone, for a person.
	Left []string `json:"left,omitempty"`
	// Did is what the rollback changed, in order, for the report.
	Did []string `json:"did,omitempty"`
	// Steps is the progress of the rollback's actions.
	Steps map[string]Step `json:"steps,omitempty"`
	// Underway are actions started but not seen finished, with what each
	// does in words. One that the next look at AWS no longer needs (the
	// instance it terminates no longer listed) is done and goes to Did.
	Underway map[string]string `json:"underway,omitempty"`
	// Failures counts, per action, the passes on which it failed with an
	// error retrying the pass does not fix; Errors is the last of each.
	Failures map[string]int    `json:"failures,omitempty"`
	Errors   map[string]string `json:"errors,omitempty"`
	// TrafficBackAt is when the Elastic IP was moved back to the live
	// instance.
	TrafficBackAt time.Time `json:"trafficBackAt,omitzero"`
}

// ClientToken is the idempotency token of one creation of a release: a
// retried call with it returns what the first made, and each purpose has
// its own (EC2 refuses a token reused with other parameters:
// IdempotentParameterMismatch). EC2 takes at most 64 ASCII characters
// ("Ensuring idempotency in Amazon EC2 API requests"); a release id of 63
// leaves no room for a purpose, so a long one is cut and a hash of the
// whole keeps tokens of different releases apart.
func ClientToken(releaseID, purpose string) string {
	t := releaseID + "-" + purpose
	if len(t) <= 64 {
		return t
	}
	h := sha256.Sum256([]byte(t))
	suffix := "-" + hex.EncodeToString(h[:])[:10] + "-" + purpose
	if len(suffix) >= 64 {
		return hex.EncodeToString(h[:])[:64]
	}
	return strings.TrimRight(releaseID[:64-len(suffix)], "-") + suffix
}

// CommandComment is the comment of an SSM command a release sends: at most
// 100 characters ("Comment … Maximum length of 100", SendCommand, Systems
// Manager API Reference), the release id kept whole when it fits.
func CommandComment(releaseID, what string) string {
	c := "greenlight " + releaseID + " " + what
	if len(c) > 100 {
		c = c[:100]
	}
	return c
}

// RollbackName is the execution (and release id) of a `greenlight
// rollback` of app started at t.
func RollbackName(app string, t time.Time) string {
	return "rollback-" + app + "-" + t.UTC().Format("20060102-150405")
}

// MetadataSHA256 is the S3 user metadata key `greenlight release` sets to
// the artifact's SHA-256 (hex); the prepare step checks the download
// against it.
const MetadataSHA256 = "sha256"

// MetadataUploadedBy is the S3 user metadata key `greenlight release` sets
// to the uploader (the caller's ARN); the approval page shows it.
const MetadataUploadedBy = "uploaded-by"

// SwitchBackRequest is the input of the switch-back workflow, as
// `greenlight rollback` starts it.
type SwitchBackRequest struct {
	ReleaseID   string `json:"releaseId"`
	App         string `json:"app"`
	RequestedBy string `json:"requestedBy"`
	Reason      string `json:"reason,omitempty"`
	// ToRelease, when set, must be the release the previous instance
	// runs: a guard against rolling back to something else than meant.
	ToRelease string `json:"toRelease,omitempty"`
}

// StartResult is what the start function answers an upload event with.
type StartResult struct {
	Status    string `json:"status"` // Started or Duplicate
	ReleaseID string `json:"releaseId"`
	Execution string `json:"execution,omitempty"`
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// ReleaseID derives a stable release id from the artifact's identity, so a
// duplicate event maps to the same Step Functions execution name. It fits
// the 80-character limit of execution names.
func ReleaseID(app, version, bucket, key, versionID string) string {
	h := sha256.Sum256([]byte(bucket + "/" + key + "#" + versionID))
	v := strings.Trim(unsafeName.ReplaceAllString(version, "-"), "-")
	id := app + "-" + v
	// 52 + "-" + 10 hex: 63 characters at most, within RunInstances'
	// 64-character ClientToken and the 80 of an execution name.
	if len(id) > 52 {
		id = id[:52]
	}
	return strings.TrimRight(id, "-") + "-" + hex.EncodeToString(h[:])[:10]
}

// VersionFromKey takes the version out of "<prefix><app>-<version>.tar.gz".
func VersionFromKey(prefix, app, key string) (string, error) {
	name, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", fmt.Errorf("key %q is not under the artifact prefix %q", key, prefix)
	}
	if strings.Contains(name, "/") {
		return "", fmt.Errorf("key %q is in a sub-folder of %q; upload releases directly under it", key, prefix)
	}
	base, ok := strings.CutSuffix(name, ".tar.gz")
	if !ok {
		return "", fmt.Errorf("key %q does not end in .tar.gz", key)
	}
	v, ok := strings.CutPrefix(base, app+"-")
	if !ok || v == "" {
		return "", fmt.Errorf("key %q is not named %s<app>-<version>.tar.gz for app %q", key, prefix, app)
	}
	if !versionPattern.MatchString(v) {
		return "", fmt.Errorf("key %q names version %q: a version has 1 to 64 letters, digits, '.', '_', '+' or '-' (no spaces or escapes: S3 event notifications URL-encode keys, so such a key may not name the object uploaded)", key, v)
	}
	return v, nil
}

// versionPattern is what a version may hold: the deploy document's
// Version parameter accepts exactly this, so a release whose version it
// would refuse is refused at the start, before anything is created.
var versionPattern = regexp.MustCompile(`^[A-Za-z0-9._+-]{1,64}$`)

// Reason is the failure's message in plain words: the errorMessage of a
// Lambda error (Step Functions keeps the function's whole error document
// as the Cause), or the Cause itself.
func (f Failure) Reason() string {
	var le struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.Unmarshal([]byte(f.Cause), &le); err == nil && le.ErrorMessage != "" {
		return le.ErrorMessage
	}
	if f.Cause == "" {
		return f.Error
	}
	return f.Cause
}

// Parts of the document a step may require, each filled by an earlier
// state of the workflow.
const (
	PartConfig    = "config"
	PartLive      = "live"
	PartCandidate = "candidate"
	PartDeploy    = "deploy"
	PartSwitch    = "switch"
	PartVerify    = "verify"
	// PartTraffic is the traffic moved and verified: Switch and Verify
	// behind an Elastic IP, a finished Shift behind an ALB.
	PartTraffic = "traffic"
)

// Require checks that the document identifies a release and has the parts
// a step reads. A step invoked out of order, or by hand with a partial
// document, fails with StepFailed naming what is missing instead of
// acting on empty values.
func (d Doc) Require(parts ...string) error {
	var missing []string
	if d.ReleaseID == "" {
		missing = append(missing, "releaseId")
	}
	if d.App == "" {
		missing = append(missing, "app")
	}
	has := map[string]bool{
		PartConfig:    d.App != "" && d.Config.App == d.App,
		PartLive:      d.Live.InstanceID != "" && (d.Live.AllocationID != "" || d.Config.UsesALB()),
		PartCandidate: len(d.Candidate.IDs()) > 0,
		PartDeploy:    d.Deploy != nil,
		PartSwitch:    d.Switch != nil,
		PartVerify:    d.Verify != nil,
		PartTraffic:   (d.Switch != nil && d.Verify != nil) || (d.Shift != nil && d.Shift.Ready),
	}
	for _, p := range parts {
		ok, known := has[p]
		if !known {
			panic("release: Require: unknown part " + p)
		}
		if !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return StepFailed{Cause: Causef("the release document lacks %s: this step runs only after the states that fill them (was it invoked by hand, or out of order?)",
		strings.Join(missing, ", "))}
}
