// Package ledger is greenlight's record of releases, kept in DynamoDB: the
// per-app release lock, one item per release (status, timeline, instances,
// smoke report, pending approval token) and the app's serving state (which
// instance is live, which one is kept for rollback). The steps write it; the
// CLI reads it.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/internal/release"
)

// Release statuses, as the ledger and the CLI show them. The terminal ones
// match the state machine's terminal states.
const (
	StatusStarting         = "Starting"
	StatusRunning          = "Running"
	StatusAwaitingApproval = "AwaitingApproval"
	StatusRollingBack      = "RollingBack"
	StatusReleased         = release.Released
	StatusRolledBack       = release.RolledBack
	StatusRollbackFailed   = release.RollbackFailed
	StatusRejected         = release.Rejected
	StatusDuplicate        = release.Duplicate
	// StatusStopped: the execution ended outside the workflow's outcomes
	// (stopped by hand, timed out, or an unhandled error), so nothing was
	// undone; the watch function records it and raises the alarm.
	StatusStopped = "Stopped"
)

// Terminal reports whether a status is an end state.
func Terminal(status string) bool {
	switch status {
	case StatusReleased, StatusRolledBack, StatusRollbackFailed, StatusRejected, StatusStopped:
		return true
	}
	return false
}

// Ledger reads and writes the ledger table.
type Ledger struct {
	DB    awsapi.DynamoDB
	Table string
	Now   func() time.Time
}

// Record is one release.
type Record struct {
	App       string    `dynamodbav:"app"`
	ReleaseID string    `dynamodbav:"releaseId"`
	Version   string    `dynamodbav:"version"`
	Kind      string    `dynamodbav:"kind,omitempty"` // "release" or "rollback"
	Status    string    `dynamodbav:"status"`
	Execution string    `dynamodbav:"execution,omitempty"`
	StartedAt time.Time `dynamodbav:"startedAt"`
	EndedAt   time.Time `dynamodbav:"endedAt,omitempty"`
	Artifact  string    `dynamodbav:"artifact,omitempty"` // s3://bucket/key?versionId=

	LiveInstance string `dynamodbav:"liveInstance,omitempty"`
	// TrafficMode is the front the release moves traffic through
	// (release.TrafficElasticIP or release.TrafficALB).
	TrafficMode       string `dynamodbav:"trafficMode,omitempty"`
	CandidateInstance string `dynamodbav:"candidateInstance,omitempty"`
	CandidateAddress  string `dynamodbav:"candidateAddress,omitempty"`
	// SwitchingTo is written before the Elastic IP moves to the
	// candidate: from then on users may have written to the candidate's
	// data, and a rollback brings that data back whatever the Elastic IP
	// shows by the time it runs.
	SwitchingTo string `dynamodbav:"switchingTo,omitempty"`

	// AbortRequested and PromoteRequested are an operator's requests
	// (greenlight abort, promote) to a running release; its steps read
	// them and act.
	AbortRequested   *Request `dynamodbav:"abortRequested,omitempty"`
	PromoteRequested *Request `dynamodbav:"promoteRequested,omitempty"`
	// Traffic is, behind an ALB, the traffic step under way or last
	// reached.
	Traffic *Traffic `dynamodbav:"traffic,omitempty"`

	Smoke      *release.Report `dynamodbav:"smoke,omitempty"`
	ApprovedBy string          `dynamodbav:"approvedBy,omitempty"`
	Reason     string          `dynamodbav:"reason,omitempty"`
	// UploadedBy is who uploaded the artifact, from its object metadata
	// (greenlight release sets it), or "".
	UploadedBy string `dynamodbav:"uploadedBy,omitempty"`
	// Answer is the approval's answer, written before it is sent to the
	// task token: the first answer stands, whoever gave it and however.
	Answer *Answer `dynamodbav:"answer,omitempty"`

	// Token is the pending approval's task token; TokenExpires is when
	// the approval times out. Never logged, never printed.
	Token        string    `dynamodbav:"token,omitempty"`
	TokenExpires time.Time `dynamodbav:"tokenExpires,omitempty"`

	// NotifiedAt is when the release's final notification (released) was
	// sent: a retried record step does not send it again.
	NotifiedAt time.Time `dynamodbav:"notifiedAt,omitempty"`

	LeadTimeSeconds          float64  `dynamodbav:"leadTimeSeconds,omitempty"`
	MaintenanceWindowSeconds float64  `dynamodbav:"maintenanceWindowSeconds,omitempty"`
	Failure                  string   `dynamodbav:"failure,omitempty"`
	Left                     []string `dynamodbav:"left,omitempty"`
	// Warnings are what a release that stands could not record.
	Warnings   []string `dynamodbav:"warnings,omitempty"`
	Duplicates int      `dynamodbav:"duplicates,omitempty"`
	Timeline   []Event  `dynamodbav:"timeline,omitempty"`
}

// Request is an operator's request to a running release: who asked, when,
// and why.
type Request struct {
	By     string    `dynamodbav:"by"`
	At     time.Time `dynamodbav:"at"`
	Reason string    `dynamodbav:"reason,omitempty"`
}

// Request fields of a release record.
const (
	FieldAbort   = "abortRequested"
	FieldPromote = "promoteRequested"
)

// Traffic is a release's traffic step behind an ALB: the candidate's
// share, and which step of how many.
type Traffic struct {
	Weight int `dynamodbav:"weight"`
	Step   int `dynamodbav:"step"`
	Steps  int `dynamodbav:"steps"`
}

// Ask records an operator's request (FieldAbort, FieldPromote) on a
// release that has not ended; the first request of a kind stands. It
// reports whether this one was recorded (false: one was already).
func (l *Ledger) Ask(ctx context.Context, app, releaseID, field string, r Request) (bool, error) {
	av, err := attributevalue.Marshal(r)
	if err != nil {
		return false, err
	}
	cond := expression.AttributeExists(expression.Name("pk")).And(expression.AttributeNotExists(expression.Name(field)))
	for _, st := range []string{StatusReleased, StatusRolledBack, StatusRollbackFailed, StatusRejected, StatusDuplicate, StatusStopped} {
		cond = cond.And(expression.Name("status").NotEqual(expression.Value(st)))
	}
	err = l.update(ctx, app, releaseID, expression.Set(expression.Name(field), expression.Value(av)), cond)
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// Event is one line of a release's timeline.
type Event struct {
	At     time.Time `dynamodbav:"at"`
	Step   string    `dynamodbav:"step"`
	Detail string    `dynamodbav:"detail"`
}

// Recorded reports whether the timeline already has this event (a step
// retried after it wrote one does not write it twice).
func (r Record) Recorded(step, detail string) bool {
	for _, e := range r.Timeline {
		if e.Step == step && e.Detail == detail {
			return true
		}
	}
	return false
}

// Serving is the app's current serving state. A side may be a fleet:
// LiveInstances and PreviousInstances list it, and LiveInstance and
// PreviousInstance name its first instance for readers older than fleets.
// Read the sides through LiveIDs and PreviousIDs: a record written before
// fleets has the singular fields only.
type Serving struct {
	App               string    `dynamodbav:"app"`
	LiveInstance      string    `dynamodbav:"liveInstance"`
	LiveInstances     []string  `dynamodbav:"liveInstances,omitempty"`
	LiveRelease       string    `dynamodbav:"liveRelease"`
	LiveVersion       string    `dynamodbav:"liveVersion"`
	PreviousInstance  string    `dynamodbav:"previousInstance,omitempty"`
	PreviousInstances []string  `dynamodbav:"previousInstances,omitempty"`
	PreviousRelease   string    `dynamodbav:"previousRelease,omitempty"`
	PreviousVersion   string    `dynamodbav:"previousVersion,omitempty"`
	RetireAfter       time.Time `dynamodbav:"retireAfter,omitempty"`
	Updated           time.Time `dynamodbav:"updated"`
}

// LiveIDs are the instances serving now.
func (s Serving) LiveIDs() []string { return release.SideOf(s.LiveInstances, s.LiveInstance) }

// PreviousIDs are the instances kept for rollback, none when nothing is
// kept.
func (s Serving) PreviousIDs() []string {
	return release.SideOf(s.PreviousInstances, s.PreviousInstance)
}

// SetLive records the serving side, its first instance in the singular
// field too.
func (s *Serving) SetLive(ids []string) {
	s.LiveInstances = slices.Clone(ids)
	s.LiveInstance = first(ids)
}

// SetPrevious records the kept side (none: nil), its first instance in
// the singular field too. With nothing kept, what described the kept side
// (release, version, retirement date) goes as well.
func (s *Serving) SetPrevious(ids []string) {
	s.PreviousInstances = slices.Clone(ids)
	s.PreviousInstance = first(ids)
	if len(ids) == 0 {
		s.PreviousInstances, s.PreviousRelease, s.PreviousVersion, s.RetireAfter = nil, "", "", time.Time{}
	}
}

// ForgetPrevious takes instances that are gone off the kept side and
// reports whether any was on it. The retirement date stays while part of
// the side remains: a side that lost instances is no longer one to switch
// back to, and the date (now past) says so.
func (s *Serving) ForgetPrevious(gone []string) bool {
	kept := s.PreviousIDs()
	left := slices.DeleteFunc(slices.Clone(kept), func(id string) bool { return slices.Contains(gone, id) })
	if len(left) == len(kept) {
		return false
	}
	s.SetPrevious(left)
	return true
}

func first(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// Lock is the per-app release lock.
type Lock struct {
	App       string    `dynamodbav:"app"`
	ReleaseID string    `dynamodbav:"releaseId"`
	Since     time.Time `dynamodbav:"since"`
}

func appKey(app string) string { return "app#" + app }

func key(app, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: appKey(app)},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

func releaseKey(id string) string { return "release#" + id }

const (
	lockKey    = "lock"
	servingKey = "serving"
)

// ErrNotFound is returned when a release or item is missing.
var ErrNotFound = errors.New("not found")

func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// Acquire takes the app's release lock for releaseID. Taking it again for
// the same release succeeds (the step may be retried); for another release
// it returns release.ReleaseInProgress naming the holder.
func (l *Ledger) Acquire(ctx context.Context, app, releaseID string) error {
	item, err := attributevalue.MarshalMap(Lock{App: app, ReleaseID: releaseID, Since: l.Now().UTC()})
	if err != nil {
		return err
	}
	for k, v := range key(app, lockKey) {
		item[k] = v
	}
	_, err = l.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(l.Table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR releaseId = :me"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": &types.AttributeValueMemberS{Value: releaseID}},
	})
	if isConditionFailed(err) {
		holder, ok, herr := l.LockHolder(ctx, app)
		if herr != nil {
			return herr
		}
		if !ok {
			return fmt.Errorf("lock for %s changed hands while taking it; retry", app)
		}
		return release.ReleaseInProgress{Cause: release.Causef("release %s of %s is in progress since %s; this release waits for it to end (greenlight status %s)",
			holder.ReleaseID, app, holder.Since.Format(time.RFC3339), holder.ReleaseID)}
	}
	return err
}

// Release gives the lock back if releaseID holds it; it is a no-op
// otherwise, so a rollback never frees another release's lock.
func (l *Ledger) Release(ctx context.Context, app, releaseID string) error {
	_, err := l.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(l.Table),
		Key:                       key(app, lockKey),
		ConditionExpression:       aws.String("releaseId = :me"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": &types.AttributeValueMemberS{Value: releaseID}},
	})
	if isConditionFailed(err) {
		return nil
	}
	return err
}

// ForceRelease breaks the lock whoever holds it, returning the holder.
func (l *Ledger) ForceRelease(ctx context.Context, app string) (Lock, bool, error) {
	out, err := l.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:    aws.String(l.Table),
		Key:          key(app, lockKey),
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil || len(out.Attributes) == 0 {
		return Lock{}, false, err
	}
	var lk Lock
	err = attributevalue.UnmarshalMap(out.Attributes, &lk)
	return lk, true, err
}

// LockHolder reads the lock.
func (l *Ledger) LockHolder(ctx context.Context, app string) (Lock, bool, error) {
	var lk Lock
	ok, err := l.get(ctx, app, lockKey, &lk)
	return lk, ok, err
}

func (l *Ledger) get(ctx context.Context, app, sk string, v any) (bool, error) {
	out, err := l.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(l.Table),
		Key:            key(app, sk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, err
	}
	if len(out.Item) == 0 {
		return false, nil
	}
	return true, attributevalue.UnmarshalMap(out.Item, v)
}

// Create records a new release; it returns false when the release already
// has a record (a duplicate event or a retried start).
func (l *Ledger) Create(ctx context.Context, r Record) (bool, error) {
	item, err := attributevalue.MarshalMap(r)
	if err != nil {
		return false, err
	}
	for k, v := range key(r.App, releaseKey(r.ReleaseID)) {
		item[k] = v
	}
	_, err = l.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(l.Table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// Get reads one release.
func (l *Ledger) Get(ctx context.Context, app, releaseID string) (Record, error) {
	var r Record
	ok, err := l.get(ctx, app, releaseKey(releaseID), &r)
	if err == nil && !ok {
		err = fmt.Errorf("release %s of %s: %w", releaseID, app, ErrNotFound)
	}
	return r, err
}

// History lists the app's releases, newest first.
func (l *Ledger) History(ctx context.Context, app string) ([]Record, error) {
	keyCond := expression.Key("pk").Equal(expression.Value(appKey(app))).And(expression.Key("sk").BeginsWith("release#"))
	expr, err := expression.NewBuilder().WithKeyCondition(keyCond).Build()
	if err != nil {
		return nil, err
	}
	var out []Record
	p := dynamodb.NewQueryPaginator(l.DB, &dynamodb.QueryInput{
		TableName:                 aws.String(l.Table),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		var recs []Record
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &recs); err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.After(out[j].StartedAt) })
	return out, nil
}

// Change is a set of fields to update on a release, plus an optional
// timeline event to append.
type Change struct {
	Set    map[string]any
	Remove []string
	Event  *Event
	// Add increments numeric fields.
	Add map[string]int
}

// Update applies a change to an existing release.
func (l *Ledger) Update(ctx context.Context, app, releaseID string, c Change) error {
	var upd expression.UpdateBuilder
	empty := true
	for k, v := range c.Set {
		av, err := attributevalue.Marshal(v)
		if err != nil {
			return fmt.Errorf("ledger field %s: %w", k, err)
		}
		upd = upd.Set(expression.Name(k), expression.Value(av))
		empty = false
	}
	for _, k := range c.Remove {
		upd = upd.Remove(expression.Name(k))
		empty = false
	}
	for k, n := range c.Add {
		upd = upd.Add(expression.Name(k), expression.Value(n))
		empty = false
	}
	if c.Event != nil {
		ev := *c.Event
		if ev.At.IsZero() {
			ev.At = l.Now().UTC()
		}
		av, err := attributevalue.Marshal([]Event{ev})
		if err != nil {
			return err
		}
		upd = upd.Set(expression.Name("timeline"),
			expression.ListAppend(expression.IfNotExists(expression.Name("timeline"), expression.Value(&types.AttributeValueMemberL{})), expression.Value(av)))
		empty = false
	}
	if empty {
		return nil
	}
	err := l.update(ctx, app, releaseID, upd, expression.AttributeExists(expression.Name("pk")))
	if isConditionFailed(err) {
		return fmt.Errorf("release %s of %s: %w", releaseID, app, ErrNotFound)
	}
	return err
}

// update applies an update to a release record under a condition.
func (l *Ledger) update(ctx context.Context, app, releaseID string, upd expression.UpdateBuilder, cond expression.ConditionBuilder) error {
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return err
	}
	_, err = l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.Table),
		Key:                       key(app, releaseKey(releaseID)),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	return err
}

// ClearToken removes an answered approval's task token, if the release
// still holds that token. The CLI calls it once Step Functions has taken
// the answer, so that nobody sees the approval as pending while the
// workflow moves on (the steps clear it too, later).
func (l *Ledger) ClearToken(ctx context.Context, app, releaseID, token string) error {
	_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.Table),
		Key:                       key(app, releaseKey(releaseID)),
		UpdateExpression:          aws.String("REMOVE #token, #expires"),
		ConditionExpression:       aws.String("#token = :token"),
		ExpressionAttributeNames:  map[string]string{"#token": "token", "#expires": "tokenExpires"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":token": &types.AttributeValueMemberS{Value: token}},
	})
	if isConditionFailed(err) {
		return nil
	}
	return err
}

// Answer is how an approval was answered. The CLI shows it as it is
// (status --json).
type Answer struct {
	Approved bool      `dynamodbav:"approved" json:"approved"`
	By       string    `dynamodbav:"by" json:"by"`
	Via      string    `dynamodbav:"via" json:"via"` // AnswerViaCLI or AnswerViaLink
	At       time.Time `dynamodbav:"at" json:"at"`
	Reason   string    `dynamodbav:"reason,omitempty" json:"reason,omitempty"`
	// Client and UserAgent are the address and browser an approval link
	// was answered from.
	Client    string `dynamodbav:"client,omitempty" json:"client,omitempty"`
	UserAgent string `dynamodbav:"userAgent,omitempty" json:"userAgent,omitempty"`
}

// String words the answer for a refusal: "approved by … (browser) at
// 2026-12-03 09:12:00 UTC".
func (a Answer) String() string {
	verb := "approved"
	if !a.Approved {
		verb = "rejected"
	}
	s := verb + " by " + a.By
	if a.Via == AnswerViaLink && a.UserAgent != "" {
		s += " (" + a.UserAgent + ")"
	}
	return s + " at " + a.At.UTC().Format("2006-01-02 15:04:05 UTC")
}

// How an approval was answered.
const (
	AnswerViaCLI  = "cli"
	AnswerViaLink = "link"
)

// ClaimAnswer records a as the answer to the approval that waits on
// token, unless it was answered already or waits on another token (a
// condition DynamoDB checks atomically). It reports whether a stands;
// when it does not, the record says why (Answer, Token, Status).
func (l *Ledger) ClaimAnswer(ctx context.Context, app, releaseID, token string, a Answer) (bool, error) {
	av, err := attributevalue.Marshal(a)
	if err != nil {
		return false, err
	}
	cond := expression.Name("token").Equal(expression.Value(token)).And(expression.AttributeNotExists(expression.Name("answer")))
	err = l.update(ctx, app, releaseID, expression.Set(expression.Name("answer"), expression.Value(av)), cond)
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// DropClaim takes back an answer Step Functions did not take (throttled,
// unreachable), if it is still the one recorded, so that the approval can
// be answered again.
func (l *Ledger) DropClaim(ctx context.Context, app, releaseID string, a Answer) error {
	cond := expression.Name("answer.at").Equal(expression.Value(a.At.UTC().Format(time.RFC3339Nano))).
		And(expression.Name("answer.by").Equal(expression.Value(a.By)))
	err := l.update(ctx, app, releaseID, expression.Remove(expression.Name("answer")), cond)
	if isConditionFailed(err) {
		return nil
	}
	return err
}

// Serving reads the app's serving state.
func (l *Ledger) Serving(ctx context.Context, app string) (Serving, bool, error) {
	var s Serving
	ok, err := l.get(ctx, app, servingKey, &s)
	return s, ok, err
}

// SetServing records which instance serves the app now.
func (l *Ledger) SetServing(ctx context.Context, s Serving) error {
	s.Updated = l.Now().UTC()
	item, err := attributevalue.MarshalMap(s)
	if err != nil {
		return err
	}
	for k, v := range key(s.App, servingKey) {
		item[k] = v
	}
	_, err = l.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.Table), Item: item})
	return err
}
