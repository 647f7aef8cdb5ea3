package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/localenv"
	"github.com/greenlight/greenlight/internal/release"
)

// targetFlags say which greenlight a command talks to: a deployed stack,
// found by name through CloudFormation, or the local engine. Every
// operator command takes them.
type targetFlags struct {
	config string
	stack  string
	region string
	local  bool
	json   bool
}

func (f *targetFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "config file naming the app and its stack (default greenlight.json, else greenlight.example.json)")
	fl.StringVar(&f.stack, "stack", "", "CloudFormation stack name (default: stackName from the config, greenlight-<app>)")
	fl.StringVar(&f.region, "region", "", "AWS region (default: region from the config, else AWS_REGION or the profile's)")
	fl.BoolVar(&f.local, "local", false, "talk to the local engine that 'greenlight local --approve prompt' runs, not to AWS")
	fl.BoolVar(&f.json, "json", false, "print JSON instead of text")
}

// hint is the flags to repeat in a command the CLI suggests, so that what
// it prints can be pasted as it is.
func (f *targetFlags) hint() string {
	if f.local {
		return " --local"
	}
	var s string
	if f.config != "" {
		s += " --config " + f.config
	}
	if f.stack != "" {
		s += " --stack " + f.stack
	}
	if f.region != "" {
		s += " --region " + f.region
	}
	return s
}

// Narrow slices of the SDK clients the commands call.
type (
	stackAPI interface {
		DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
	}
	identityAPI interface {
		GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
	}
	uploadAPI interface {
		PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	}
	taskAPI interface {
		SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
		SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
		DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
		StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	}
)

// newStackAPI builds the CloudFormation client discovery uses; tests
// replace it with a fake.
var newStackAPI = func(cfg aws.Config) stackAPI { return cloudformation.NewFromConfig(cfg) }

// backend is everything a command needs to act on one app's releases:
// the stack's resources by name and the SDK clients for them, built the
// same way for AWS and for the local engine (which differ only in
// endpoints and credentials).
type backend struct {
	App   string
	Stack string // empty for the local engine
	// Where: "stack greenlight-shop in eu-west-1" or "the local engine".
	Where        string
	Region       string
	Bucket       string
	Table        string
	Topic        string
	StateMachine string
	// RollbackStateMachine runs `greenlight rollback`.
	RollbackStateMachine string
	ArtifactPrefix       string
	ArtifactMaxSize      int // MiB
	Local                bool

	Ledger *ledger.Ledger
	S3     uploadAPI
	SFN    taskAPI
	// Poll is how often watching commands look at the ledger.
	Poll time.Duration
	// Hint is the flags to repeat in suggested commands.
	Hint string

	who     func(ctx context.Context) (string, error)
	clock   func(ctx context.Context) (time.Time, error)
	deliver func(ctx context.Context, key, versionID string, size int64) (release.StartResult, error)
	// links, on the local engine, are a waiting release's approval links.
	links func(ctx context.Context, releaseID string) (linksView, error)
}

// Who names the person answering an approval: the caller's ARN on AWS.
func (b *backend) Who(ctx context.Context) (string, error) { return b.who(ctx) }

// Now is the backend's time: the simulated clock of the local engine.
func (b *backend) Now(ctx context.Context) time.Time {
	if b.clock == nil {
		return time.Now().UTC()
	}
	t, err := b.clock(ctx)
	if err != nil {
		return time.Now().UTC()
	}
	return t
}

// Deliver sends the upload event, on the local engine only: on AWS the
// bucket's EventBridge notification does.
func (b *backend) Deliver(ctx context.Context, key, versionID string, size int64) (*release.StartResult, error) {
	if b.deliver == nil {
		return nil, nil
	}
	r, err := b.deliver(ctx, key, versionID, size)
	return &r, err
}

// open builds the backend the flags name.
func (f *targetFlags) open(ctx context.Context) (*backend, error) {
	if f.local {
		if f.stack != "" || f.region != "" || f.config != "" {
			return nil, withCode(exitUsage, errors.New("--local talks to the running local engine: --stack, --region and --config do not apply"))
		}
		ep, err := localenv.Read()
		if err != nil {
			return nil, withCode(exitAWS, err)
		}
		return localBackend(ep), nil
	}
	cfg, haveConfig, err := f.loadConfig()
	if err != nil {
		return nil, err
	}
	region := f.region
	if region == "" {
		region = cfg.Region
	}
	awsCfg, err := awsapi.LoadConfig(ctx, region)
	if err != nil {
		return nil, withCode(exitAWS, fmt.Errorf("%w (check AWS_PROFILE and your AWS config)", err))
	}
	if err := checkAWS(ctx, awsCfg); err != nil {
		return nil, err
	}
	stack := f.stack
	if stack == "" {
		stack = cfg.StackName
	}
	found, err := findStack(ctx, newStackAPI(awsCfg), stack, awsCfg.Region)
	if err != nil {
		return nil, err
	}
	app := found.App
	if haveConfig {
		if app != "" && app != cfg.App {
			return nil, withCode(exitConfig, fmt.Errorf("stack %s releases app %s but the config says %s: pass the right --config or --stack", stack, app, cfg.App))
		}
		app = cfg.App
	}
	if app == "" {
		return nil, withCode(exitConfig, fmt.Errorf("stack %s has no greenlight:app tag and no config names the app: pass --config", stack))
	}
	if !haveConfig {
		cfg.ArtifactPrefix, cfg.ArtifactMaxSize = release.DefaultArtifactPrefix, release.DefaultArtifactMaxSize
	}
	ddb, s3c, sfnc := clients(awsCfg, nil)
	ids := sts.NewFromConfig(awsCfg)
	return &backend{
		App: app, Stack: stack, Where: fmt.Sprintf("stack %s in %s", stack, awsCfg.Region), Region: awsCfg.Region,
		Bucket: found.Bucket, Table: found.Table, Topic: found.Topic, StateMachine: found.StateMachine, RollbackStateMachine: found.RollbackStateMachine,
		ArtifactPrefix: cfg.ArtifactPrefix, ArtifactMaxSize: cfg.ArtifactMaxSize,
		Ledger: &ledger.Ledger{DB: ddb, Table: found.Table, Now: time.Now},
		S3:     s3c, SFN: sfnc, Poll: 2 * time.Second, Hint: f.hint(),
		who: func(ctx context.Context) (string, error) { return callerARN(ctx, ids) },
	}, nil
}

// loadConfig reads the config that names the app and its stack. Without
// one, --stack alone will do: the stack's tag names the app.
func (f *targetFlags) loadConfig() (release.Config, bool, error) {
	path := f.config
	if path == "" {
		path = release.DefaultConfigPath()
	}
	cfg, err := release.LoadConfig(path)
	if err != nil {
		if f.config == "" && f.stack != "" && errors.Is(err, fs.ErrNotExist) {
			return release.Config{}, false, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return cfg, false, withCode(exitConfig, fmt.Errorf("no config at %s: pass --config FILE, or --stack NAME for a deployed stack", path))
		}
		return cfg, false, withCode(exitConfig, err)
	}
	return cfg, true, nil
}

// checkAWS fails early, with the fix, when no credentials or no region
// can be found: every later error would be harder to read.
func checkAWS(ctx context.Context, cfg aws.Config) error {
	if cfg.Credentials == nil {
		return withCode(exitAWS, errors.New("no AWS credentials found: set AWS_PROFILE or run `aws sso login`"))
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return withCode(exitAWS, &fixError{msg: "no AWS credentials found: set AWS_PROFILE or run `aws sso login`", err: err})
	}
	if cfg.Region == "" {
		return withCode(exitAWS, errors.New("no AWS region: pass --region, set region in greenlight.json, or set AWS_REGION"))
	}
	return nil
}

// fixError is an error whose message says what to do; the cause stays in
// the chain for errors.Is/As but is not printed.
type fixError struct {
	msg string
	err error
}

func (e *fixError) Error() string { return e.msg }
func (e *fixError) Unwrap() error { return e.err }

// stackResources are what the stack's outputs name.
type stackResources struct {
	App, Bucket, Table, Topic, StateMachine, RollbackStateMachine string
}

// findStack reads the stack's outputs, so nobody types an ARN.
func findStack(ctx context.Context, api stackAPI, stack, region string) (stackResources, error) {
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return stackResources{}, awsError(fmt.Sprintf("read stack %s in %s", stack, region), "cloudformation:DescribeStacks", err, func(code, msg string) error {
			if code == "ValidationError" && strings.Contains(msg, "does not exist") {
				return fmt.Errorf("stack %s is not deployed in %s: run `make deploy`", stack, region)
			}
			return nil
		})
	}
	if len(out.Stacks) == 0 {
		return stackResources{}, withCode(exitAWS, fmt.Errorf("stack %s is not deployed in %s: run `make deploy`", stack, region))
	}
	st := out.Stacks[0]
	outputs := map[string]string{}
	for _, o := range st.Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	res := stackResources{Bucket: outputs[release.OutputBucket], Table: outputs[release.OutputTable], Topic: outputs[release.OutputTopic],
		StateMachine: outputs[release.OutputStateMachine], RollbackStateMachine: outputs[release.OutputSwitchBack]}
	for _, t := range st.Tags {
		if aws.ToString(t.Key) == "greenlight:app" {
			res.App = aws.ToString(t.Value)
		}
	}
	var missing []string
	for _, k := range []string{release.OutputBucket, release.OutputTable, release.OutputStateMachine, release.OutputSwitchBack} {
		if outputs[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		status := st.StackStatus
		switch status {
		case cftypes.StackStatusCreateInProgress, cftypes.StackStatusReviewInProgress:
			return res, withCode(exitAWS, fmt.Errorf("stack %s in %s is still being created (%s): wait for `make deploy` to finish", stack, region, status))
		case cftypes.StackStatusCreateComplete, cftypes.StackStatusUpdateComplete, cftypes.StackStatusUpdateRollbackComplete:
			return res, withCode(exitAWS, fmt.Errorf("stack %s in %s has no output %s: is it a greenlight stack? Deploy it with `make deploy`", stack, region, strings.Join(missing, ", ")))
		}
		return res, withCode(exitAWS, fmt.Errorf("stack %s in %s is %s and has no output %s: fix the failed deploy, then run `make deploy`", stack, region, status, strings.Join(missing, ", ")))
	}
	return res, nil
}

// awsError words a failed AWS call with its fix and exit code 4. special
// may word a code it knows better (nil: the general wording).
func awsError(what, action string, err error, special func(code, msg string) error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg := ae.ErrorCode(), ae.ErrorMessage()
		if special != nil {
			if e := special(code, msg); e != nil {
				return withCode(exitAWS, &fixError{msg: e.Error(), err: err})
			}
		}
		switch {
		case badCredentials[code]:
			return withCode(exitAWS, &fixError{msg: fmt.Sprintf("%s: your AWS credentials are expired or invalid (%s): run `aws sso login` or check AWS_PROFILE", what, code), err: err})
		case accessDenied[code]:
			return withCode(exitAWS, &fixError{msg: fmt.Sprintf("%s: your AWS identity may not call %s: use a role allowed to operate greenlight", what, action), err: err})
		}
		return withCode(exitAWS, fmt.Errorf("%s: %s: %s", what, code, msg))
	}
	if isUnreachable(err) {
		return withCode(exitAWS, fmt.Errorf("%s: AWS could not be reached: %w", what, err))
	}
	return withCode(exitAWS, fmt.Errorf("%s: %w", what, err))
}

// isUnreachable reports a failure to connect at all.
func isUnreachable(err error) bool {
	var oe *net.OpError
	var ne net.Error
	return errors.As(err, &oe) || errors.As(err, &ne)
}

// Error codes AWS answers for credentials it does not accept, and for a
// caller that may not make the call.
var (
	badCredentials = map[string]bool{"ExpiredToken": true, "ExpiredTokenException": true, "InvalidClientTokenId": true,
		"UnrecognizedClientException": true, "InvalidSignatureException": true}
	accessDenied = map[string]bool{"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true}
)

func callerARN(ctx context.Context, api identityAPI) (string, error) {
	out, err := api.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", awsError("find out who you are", "sts:GetCallerIdentity", err, nil)
	}
	return aws.ToString(out.Arn), nil
}

// clients builds the SDK clients the commands use, for AWS (ep nil) or
// for the local engine's endpoints.
func clients(cfg aws.Config, ep *localenv.Endpoints) (*dynamodb.Client, *s3.Client, *sfn.Client) {
	ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if ep != nil {
			o.BaseEndpoint = aws.String(ep.DynamoDB)
		}
	})
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if ep != nil {
			o.BaseEndpoint = aws.String(ep.S3)
			o.UsePathStyle = true
			// gofakes3 does not speak the SDK's default checksum trailers.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
	sfnc := sfn.NewFromConfig(cfg, func(o *sfn.Options) {
		if ep != nil {
			o.BaseEndpoint = aws.String(ep.SFN)
		}
	})
	return ddb, s3c, sfnc
}

// localBackend talks to a running local engine: dynalite for the ledger,
// gofakes3 for the bucket, the host for Step Functions, the upload event
// and the simulated clock.
func localBackend(ep localenv.Endpoints) *backend {
	cfg := aws.Config{Region: ep.Region, Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	ddb, s3c, sfnc := clients(cfg, &ep)
	prefix, maxSize := ep.ArtifactPrefix, ep.ArtifactMaxSize
	if prefix == "" {
		prefix = release.DefaultArtifactPrefix
	}
	if maxSize == 0 {
		maxSize = release.DefaultArtifactMaxSize
	}
	host := hostClient{url: ep.SFN}
	b := &backend{
		App: ep.App, Where: "the local engine", Region: ep.Region,
		Bucket: ep.Bucket, Table: ep.Table, StateMachine: ep.StateMachine, RollbackStateMachine: ep.RollbackStateMachine,
		ArtifactPrefix: prefix, ArtifactMaxSize: maxSize, Local: true,
		Ledger: &ledger.Ledger{DB: ddb, Table: ep.Table, Now: time.Now},
		S3:     s3c, SFN: sfnc, Poll: 100 * time.Millisecond, Hint: " --local",
		who: func(context.Context) (string, error) { return localUser() + " (local)", nil },
		clock: func(ctx context.Context) (time.Time, error) {
			var out struct {
				Now time.Time `json:"now"`
			}
			err := host.post(ctx, "/greenlight/clock", struct{}{}, &out)
			return out.Now, err
		},
		deliver: func(ctx context.Context, key, versionID string, size int64) (release.StartResult, error) {
			var out release.StartResult
			err := host.post(ctx, "/greenlight/deliver", map[string]any{"key": key, "versionId": versionID, "size": size}, &out)
			return out, err
		},
		links: func(ctx context.Context, releaseID string) (linksView, error) {
			var out linksView
			err := host.post(ctx, "/greenlight/approval-links", map[string]string{"release": releaseID}, &out)
			return out, err
		},
	}
	if ep.DeliversUploads {
		// `greenlight local --serve`: the upload itself starts the
		// release, as on AWS.
		b.deliver = nil
	}
	return b
}

func localUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "someone"
}

// hostClient calls the local engine's own endpoints (not AWS APIs).
type hostClient struct{ url string }

func (h hostClient) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the local engine does not answer (%w): is `greenlight local --approve prompt` still running?", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		return fmt.Errorf("local engine %s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(msg.String()))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
