// Package step holds what every step handler shares: its dependencies, the
// environment the stack gives it, the classification of AWS errors into
// the error names the state machine retries or catches, and logging.
package step

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
)

// Deps is everything a handler needs from outside, built once per cold
// start (or once per local run) and passed in, never global.
type Deps struct {
	AWS  awsapi.Clients
	Env  Env
	Now  func() time.Time
	HTTP *http.Client
	Log  *slog.Logger
	// Sleeper, when set, is how Sleep waits: the local engine's and the
	// tests' simulated clock. Nil sleeps on the wall clock.
	Sleeper func(ctx context.Context, d time.Duration) error
}

// Env names the stack's resources a handler works with. The stack sets the
// variables each function needs; the local engine sets them all.
type Env struct {
	App                 string
	ArtifactPrefix      string
	Table               string // the ledger
	Topic               string // notifications
	Bucket              string // release artifacts
	StateMachine        string
	ScheduleGroup       string
	SchedulerRole       string
	RetireFunction      string
	DeployDocument      string
	MaintenanceDocument string
	DataDocument        string
	// SmokeTarget is "private" (the function runs in the VPC) or
	// "public" (the candidate's public address).
	SmokeTarget string
	// RetentionDays is how long backups and kept instances stay.
	RetentionDays int
	// Front is how users reach the app, for the steps that get no release
	// document (the retire function).
	Front traffic.Front
	// ApprovalURL is where approval links point (the approval page's
	// function URL) and LinkKey the secret holding their signing key;
	// both empty when approval.links is off.
	ApprovalURL string
	LinkKey     string
	Region      string
}

// Environment variable names, shared by the stack that sets them and
// EnvFrom that reads them.
const (
	VarApp                 = "GREENLIGHT_APP"
	VarArtifactPrefix      = "GREENLIGHT_ARTIFACT_PREFIX"
	VarTable               = "GREENLIGHT_TABLE"
	VarTopic               = "GREENLIGHT_TOPIC_ARN"
	VarBucket              = "GREENLIGHT_BUCKET"
	VarStateMachine        = "GREENLIGHT_STATE_MACHINE_ARN"
	VarScheduleGroup       = "GREENLIGHT_SCHEDULE_GROUP"
	VarSchedulerRole       = "GREENLIGHT_SCHEDULER_ROLE_ARN"
	VarRetireFunction      = "GREENLIGHT_RETIRE_FUNCTION_ARN"
	VarDeployDocument      = "GREENLIGHT_DEPLOY_DOCUMENT"
	VarMaintenanceDocument = "GREENLIGHT_MAINTENANCE_DOCUMENT"
	VarDataDocument        = "GREENLIGHT_DATA_DOCUMENT"
	VarSmokeTarget         = "GREENLIGHT_SMOKE_TARGET"
	VarRetentionDays       = "GREENLIGHT_RETENTION_DAYS"
	VarFront               = "GREENLIGHT_FRONT" // traffic.Front as JSON
	VarApprovalURL         = "GREENLIGHT_APPROVAL_URL"
	VarLinkKey             = "GREENLIGHT_APPROVAL_LINK_KEY_ARN"
	VarRegion              = "AWS_REGION" // set by Lambda itself
)

// EnvFrom reads the environment through get (os.Getenv in Lambda).
func EnvFrom(get func(string) string) Env {
	return Env{
		App:                 get(VarApp),
		ArtifactPrefix:      get(VarArtifactPrefix),
		Table:               get(VarTable),
		Topic:               get(VarTopic),
		Bucket:              get(VarBucket),
		StateMachine:        get(VarStateMachine),
		ScheduleGroup:       get(VarScheduleGroup),
		SchedulerRole:       get(VarSchedulerRole),
		RetireFunction:      get(VarRetireFunction),
		DeployDocument:      get(VarDeployDocument),
		MaintenanceDocument: get(VarMaintenanceDocument),
		DataDocument:        get(VarDataDocument),
		SmokeTarget:         get(VarSmokeTarget),
		RetentionDays:       atoi(get(VarRetentionDays)),
		Front:               frontOf(get(VarFront)),
		ApprovalURL:         get(VarApprovalURL),
		LinkKey:             get(VarLinkKey),
		Region:              get(VarRegion),
	}
}

// frontOf reads VarFront; empty or unreadable is no front: the Elastic IP
// router, which needs no address to tell whether an instance serves.
func frontOf(s string) traffic.Front {
	var f traffic.Front
	if s != "" {
		_ = json.Unmarshal([]byte(s), &f)
	}
	return f
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// EnvFromOS reads the process environment.
func EnvFromOS() Env { return EnvFrom(os.Getenv) }

// Logger is the one logger: JSON lines on stdout, which Lambda's JSON log
// format keeps as structured fields.
func Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// AWS classifies an error from an AWS call into the step error the state
// machine acts on, naming the call and the resource it was about:
// throttling and server faults become Throttled (retried with backoff), a
// missing resource becomes NotYetVisible (retried briefly, since EC2 and
// SSM are eventually consistent), anything else AWSError.
func AWS(op, resource string, err error) error {
	if err == nil {
		return nil
	}
	if se, ok := release.AsStepError(err); ok {
		return se
	}
	msg := fmt.Sprintf("%s %s: %v", op, resource, err)
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		msg = fmt.Sprintf("%s %s: %s: %s", op, resource, code, ae.ErrorMessage())
		_, throttle := retry.DefaultThrottleErrorCodes[code]
		_, retryable := retry.DefaultRetryableErrorCodes[code]
		switch {
		case throttle || retryable || code == "Throttled" || ae.ErrorFault() == smithy.FaultServer || transientStatus(err):
			return release.Throttled{Cause: release.Cause(msg)}
		case IsNotFound(err):
			return release.NotYetVisible{Cause: release.Cause(msg)}
		}
		return release.AWSError{Cause: release.Cause(msg)}
	}
	if (retry.RetryableConnectionError{}).IsErrorRetryable(err).Bool() {
		return release.Throttled{Cause: release.Cause(msg)}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return release.Throttled{Cause: release.Cause(msg + " (the Lambda deadline passed)")}
	}
	return release.AWSError{Cause: release.Cause(msg)}
}

// Traffic classifies an error from the traffic router like AWS, under the
// call the router made and what it was about ("ec2:DescribeAddresses
// eipalloc-…"), so a step reports a router failure as it reported the
// call when it made it itself.
func Traffic(err error) error {
	var ce *traffic.CallError
	if errors.As(err, &ce) {
		return AWS(ce.Op, ce.Resource, ce.Err)
	}
	return AWS("traffic", "router", err)
}

// transientStatus reports an HTTP status that says "try again": a server
// error or 429. EC2's generic errors carry no fault, only the status, and
// SNS throttles with 429 and a code the SDK does not list.
func transientStatus(err error) bool {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	st := re.HTTPStatusCode()
	return st >= 500 || st == 429
}

// IsNotFound reports whether err says the resource does not exist.
func IsNotFound(err error) bool {
	code := ErrorCode(err)
	return strings.HasSuffix(code, ".NotFound") || strings.HasSuffix(code, "NotFound") ||
		code == "InvocationDoesNotExist" || code == "ParameterNotFound" || code == "ResourceNotFoundException"
}

// ErrorCode is the AWS error code of err, or "".
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Normalize makes sure err reaches Step Functions under a step error name:
// step errors pass through (unwrapped if a handler wrapped one), AWS errors
// are classified, anything else is a StepFailed.
func Normalize(err error) error {
	if err == nil {
		return nil
	}
	if se, ok := release.AsStepError(err); ok {
		return se
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return AWS("aws", "call", err)
	}
	return release.StepFailed{Cause: release.Cause(err.Error())}
}

// identified is implemented by inputs that belong to a release.
type identified interface{ ID() string }

// Handler wraps a step: one log line when it fails, with the release id and
// the error name the state machine will see, and errors normalized.
func Handler[In, Out any](name string, d *Deps, fn func(context.Context, In) (Out, error)) func(context.Context, In) (Out, error) {
	return func(ctx context.Context, in In) (out Out, err error) {
		defer func() {
			// A crash is a step failure like any other, named so the
			// state machine rolls back instead of retrying a bug.
			if r := recover(); r != nil {
				d.Log.ErrorContext(ctx, "step crashed", "step", name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = release.StepFailed{Cause: release.Causef("%s crashed: %v (a bug: please report it with this execution's input)", name, r)}
			}
		}()
		out, err = fn(ctx, in)
		if err != nil {
			err = Normalize(err)
			attrs := []any{"step", name, "error", release.ErrorName(err), "cause", err.Error()}
			if r, ok := any(in).(identified); ok {
				attrs = append(attrs, "release", r.ID())
			}
			d.Log.ErrorContext(ctx, "step failed", attrs...)
		}
		return out, err
	}
}

// First returns the first of errs, logging the others: for a step that
// does each of several independent parts (ledger, lock, notification)
// whatever happened to the rest, and fails with the first that failed.
func First(ctx context.Context, d *Deps, releaseID, doing string, errs []error) error {
	for _, err := range errs[1:] {
		d.Log.ErrorContext(ctx, doing, "release", releaseID, "err", err)
	}
	return errs[0]
}

// Router is the traffic router of the front cfg names: the one way a step
// sees or moves traffic.
func (d *Deps) Router(cfg release.Config) traffic.Router {
	return traffic.For(d.AWS, traffic.FrontOf(cfg))
}

// Aborted is the error that fails a step when an operator aborted the
// release (greenlight abort): the running steps see the abort through the
// ledger, and the state machine rolls the release back. Nil otherwise.
func (d *Deps) Aborted(ctx context.Context, doc release.Doc) error {
	_, err := d.Current(ctx, doc)
	return err
}

// Current is the release's ledger record (empty when it has none), read
// once for a step that also needs its timeline; it fails with Aborted as
// Aborted does.
func (d *Deps) Current(ctx context.Context, doc release.Doc) (ledger.Record, error) {
	rec, err := d.Ledger().Get(ctx, doc.App, doc.ReleaseID)
	if errors.Is(err, ledger.ErrNotFound) {
		return ledger.Record{}, nil
	}
	if err != nil {
		return ledger.Record{}, AWS("dynamodb:GetItem", doc.ReleaseID, err)
	}
	return rec, AbortedBy(rec.AbortRequested)
}

// AbortedBy is the Aborted error of an abort request, nil for none.
func AbortedBy(r *ledger.Request) error {
	if r == nil {
		return nil
	}
	cause := fmt.Sprintf("aborted by %s at %s", r.By, r.At.UTC().Format(time.RFC3339))
	if r.Reason != "" {
		cause += ": " + r.Reason
	}
	return release.Aborted{Cause: release.Cause(cause)}
}

// Ledger is the release ledger in the stack's table.
func (d *Deps) Ledger() *ledger.Ledger {
	return &ledger.Ledger{DB: d.AWS.DynamoDB, Table: d.Env.Table, Now: d.Now}
}

// Publisher sends notifications to the stack's topic.
func (d *Deps) Publisher() notify.Publisher {
	return notify.Publisher{SNS: d.AWS.SNS, Topic: d.Env.Topic}
}

// Did logs one AWS action a step took, with the release and the resources
// it touched: the line an operator greps for when asking "what did
// greenlight do to i-0abc?".
func (d *Deps) Did(ctx context.Context, releaseID, action string, attrs ...any) {
	d.Log.InfoContext(ctx, action, append([]any{"release", releaseID, "action", action}, attrs...)...)
}

// ExecutionARN is the ARN of a release's execution: the execution is named
// after the release.
func (d *Deps) ExecutionARN(releaseID string) string {
	if d.Env.StateMachine == "" {
		return ""
	}
	return strings.Replace(d.Env.StateMachine, ":stateMachine:", ":execution:", 1) + ":" + releaseID
}

// LinkKey reads the approval links' signing key from Secrets Manager. It
// is a credential: never logged, never returned in an error.
func (d *Deps) LinkKey(ctx context.Context) ([]byte, error) {
	if d.Env.LinkKey == "" {
		return nil, release.StepFailed{Cause: "approval links are on but the function has no " + VarLinkKey + ": redeploy the stack (make deploy)"}
	}
	out, err := d.AWS.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(d.Env.LinkKey)})
	if err != nil {
		return nil, AWS("secretsmanager:GetSecretValue", d.Env.LinkKey, err)
	}
	key := aws.ToString(out.SecretString)
	if len(key) < minLinkKey {
		return nil, release.StepFailed{Cause: release.Causef("the approval links' signing key in %s has %d characters, fewer than %d: put a longer random value in the secret", d.Env.LinkKey, len(key), minLinkKey)}
	}
	return []byte(key), nil
}

// minLinkKey is the shortest signing key accepted: RFC 2104 advises an
// HMAC key no shorter than the hash's output (32 bytes for SHA-256); the
// stack generates 64 characters.
const minLinkKey = 32
