package localrun

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/greenlight/greenlight/events"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/instance"
	"github.com/greenlight/greenlight/internal/answer"
	"github.com/greenlight/greenlight/internal/approvallink"
	"github.com/greenlight/greenlight/internal/discover"
	"github.com/greenlight/greenlight/internal/doctor"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/approvalpage"
	"github.com/greenlight/greenlight/lambdas/prepare"
	"github.com/greenlight/greenlight/lambdas/registry"
	"github.com/greenlight/greenlight/lambdas/start"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Approval policies: what answers the approval task in a local run.
const (
	ApproveAuto    = "auto"    // approve as soon as it is asked
	ApproveReject  = "reject"  // reject as soon as it is asked
	ApproveTimeout = "timeout" // never answer: the approval times out
	ApprovePrompt  = "prompt"  // wait for `greenlight approve|reject --local`
)

// Options configure a local environment.
type Options struct {
	// Config is the operator's greenlight.json; the environment points
	// its AWS ids at the simulated region's.
	Config release.Config
	// Traffic overrides Config's traffic.mode: release.TrafficElasticIP or
	// release.TrafficALB; "" keeps it. In alb mode the simulated region
	// has the load balancer, and the users reach the app through it.
	Traffic string
	// Fleet, when above 0, overrides Config's fleet.size: the simulated
	// region then spans three zones and the live side has that many
	// instances behind the load balancer (alb mode only).
	Fleet int
	// Asset is build/bootstrap.zip (the functions' code, for synthesis);
	// empty synthesizes with a placeholder (see Synthesize).
	Asset string
	// Approve is the approval policy (default auto).
	Approve string
	// Fault, when set, fails the next invocation of a Task state.
	Fault *Fault
	// Users runs the app for real: every instance's release a real
	// process behind a real front (the artifact must run on this machine,
	// as the sample does), volumes real directories, and users a load
	// generator through the Elastic IP or the load balancer; Traffic and
	// UserWrites report what they saw. Without it the app is modelled.
	Users bool
	// ReadsPerSecond and WritesPerSecond are the users' load per
	// simulated second (both 0: 2 reads, and 1 write with a data volume).
	ReadsPerSecond, WritesPerSecond float64
	// AppFault, with Users, makes the released version misbehave once
	// users reach it: AppFaultErrors or AppFaultCrash.
	AppFault string
	// UsersLog, with Users, receives every user request as a JSON line
	// (loadgen.Request: simulated time, phase, session, status, version,
	// outcome, error).
	UsersLog io.Writer
	// OnAppProblem, with Users, is told when an instance's app does not
	// start (greenlight/run exits or says nothing), once per reason.
	OnAppProblem func(instanceID, why string)
	// Latencies overrides the simulated region's reference latencies.
	Latencies *sim.Latencies
	// Encryption is the simulated account's EBS encryption: encryption by
	// default, its default KMS key and its customer managed keys.
	Encryption sim.Encryption
	// EditConfig, when set, changes the config once the simulated
	// region's ids are known and before the stack is synthesized: a test
	// may point candidate.subnetId at the fixture's other subnet.
	EditConfig func(c *release.Config, f sim.Fixture)
	// Log receives the handlers' JSON log lines; nil discards them.
	Log io.Writer
	// OnEvent sees each execution event as it happens.
	OnEvent func(execution string, ev Event)
	// OnApproval is told when an approval waits for a person (prompt).
	OnApproval func(releaseID string)
	// DeliverUploads makes the environment an account that stays up
	// (`greenlight local --serve`): an artifact any S3 client uploads to
	// the release bucket starts a release, as the stack's EventBridge rule
	// does on AWS; OnDelivered is told what each upload started.
	DeliverUploads bool
	OnDelivered    func(up sim.ObjectCreated, res start.Result, err error)
	// AfterInvoke, for tests, runs after each invocation with its result.
	AfterInvoke func(inv Invocation, out []byte, err error)
	// Twice, for tests, runs every invocation a second time with the same
	// payload and reports what the second run changed in AWS to
	// OnRepeatChange: a step must be idempotent.
	Twice          bool
	OnRepeatChange func(inv Invocation, before, after string)
}

// Env is a running local AWS: the simulated region with its live app,
// dynalite for the ledger, gofakes3 for the release bucket, the
// synthesized stack, and the host serving every step. It stays up across
// releases, so scenarios can release, approve, roll back and let days pass.
type Env struct {
	opts    Options
	tc      Toolchain
	Region  *sim.Region
	Fixture sim.Fixture
	Dynamo  *sim.Dynamo
	// Config is the operator's config with its AWS ids pointed at the
	// simulated region.
	Config release.Config
	Stack  *Stack
	Deps   *step.Deps

	sched   *Scheduler
	tokens  *simTokens
	scripts *scriptExecutor
	host    *Host
	engine  *Engine
	ctx     context.Context
	cancel  context.CancelFunc

	mu     sync.Mutex
	writes Writes
	// albModel and albRequests: the modelled users behind the load
	// balancer, alb mode without Options.Users.
	albModel    *albUsers
	albRequests ALBRequests
	// users, apps and disks: the real users, app processes and volumes
	// (Options.Users).
	users *users
	apps  *apps
	disks *sim.DirDisks
	// writeClock is the time since the users' last write (under a second).
	writeClock  time.Duration
	runs        map[string]*run
	invocations map[string]int // by execution
	calls       map[string][]sim.Call
	// firstCalls are, per execution and state, the AWS calls of the
	// state's first invocation (the one a fault arms for), in order.
	firstCalls map[string]map[string][]sim.Call
	// shifts are, per execution, the traffic steps as the last
	// ShiftTraffic invocation left them.
	shifts map[string][]release.TrafficStep
	// liveGroups are, per release, the target group that had the weight
	// when it started.
	liveGroups map[string]string
	// fired is what each schedule's target returned, by schedule ARN.
	fired map[string]string
	// closing: Close has begun; no new work may join wg.
	closing    bool
	faultArmed bool
	closeOnce  sync.Once
	closeErr   error
	faultMiss  string
	wg         sync.WaitGroup
}

type run struct {
	name, arn string
	done      chan struct{}
	exec      *Execution
	err       error
	started   time.Time
	ended     time.Time
}

// Names of the local stack's resources.
func tableName(app string) string  { return "greenlight-" + app + "-ledger" }
func bucketName(app string) string { return "greenlight-" + app + "-releases" }

// Start brings a local environment up. Close it.
func Start(ctx context.Context, opts Options) (*Env, error) {
	if opts.Approve == "" {
		opts.Approve = ApproveAuto
	}
	if err := checkAppFault(opts.AppFault, opts.Users); err != nil {
		return nil, err
	}
	tc, err := FindToolchain()
	if err != nil {
		return nil, err
	}
	e := &Env{opts: opts, tc: tc, runs: map[string]*run{}, invocations: map[string]int{}, calls: map[string][]sim.Call{}, firstCalls: map[string]map[string][]sim.Call{},
		shifts: map[string][]release.TrafficStep{}, liveGroups: map[string]string{}}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	cfg, err := withTraffic(opts.Config, opts.Traffic)
	if err != nil {
		return nil, err
	}
	if opts.Fleet > 0 {
		cfg.Fleet.Size = opts.Fleet
	}
	zones := 0
	if cfg.FleetSize() > 1 {
		zones = 3
	}
	if e.Dynamo, err = sim.StartDynamo(ctx); err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	model := &sim.ModelExecutor{}
	if e.scripts, err = newScriptExecutor(model, cfg.App); err != nil {
		return nil, err
	}
	var disks sim.Disks
	if opts.Users {
		if e.disks, err = sim.NewDirDisks(filepath.Join(e.scripts.dir, "disks")); err != nil {
			return nil, err
		}
		disks = e.disks
	}
	docs := map[string]sim.DocumentKind{
		instance.DocumentName(cfg.App, instance.Deploy):      sim.DocumentDeploy,
		instance.DocumentName(cfg.App, instance.Maintenance): sim.DocumentMaintenance,
		instance.DocumentName(cfg.App, instance.Data):        sim.DocumentData,
	}
	alarms := localAlarms(cfg)
	e.Region, err = sim.New(sim.Options{
		Region:       Region,
		Account:      Account,
		Start:        time.Now().UTC().Truncate(time.Second),
		Latencies:    opts.Latencies,
		App:          cfg.App,
		AppPort:      cfg.HealthCheck.Port,
		HealthPath:   cfg.HealthCheck.Path,
		AMIParameter: cfg.Candidate.AMIParameter,
		// The live instance runs as the config says candidates will.
		LiveSecurityGroups:  cfg.Candidate.SecurityGroupIDs,
		LiveInstanceProfile: cfg.Candidate.InstanceProfile,
		DataVolume:          cfg.HasData(),
		DataDevice:          cfg.Data.Device,
		DataMountPoint:      cfg.Data.MountPoint,
		DataSnapshots:       1,
		Encryption:          opts.Encryption,
		Documents:           docs,
		Executor:            e.scripts,
		Buckets:             []string{bucketName(cfg.App)},
		DynamoDB:            e.Dynamo.Client(),
		ALB:                 cfg.UsesALB(),
		ALBRule:             cfg.UsesALB() && cfg.Traffic.ALB != nil && cfg.Traffic.ALB.RuleARN != "",
		Alarms:              alarms,
		Zones:               zones,
		LiveFleet:           cfg.FleetSize(),
		Disks:               disks,
	})
	if err != nil {
		return nil, fmt.Errorf("start the simulated region: %w", err)
	}
	model.Fetch = sim.S3Fetch(e.Region.S3Client())
	e.Fixture = e.Region.Fixture()
	if e.Config, err = revalidate(pointAtRegion(cfg, e.Fixture, alarms)); err != nil {
		return nil, err
	}
	if opts.EditConfig != nil {
		opts.EditConfig(&e.Config, e.Fixture)
	}
	if e.Stack, err = Synthesize(tc, e.Config, opts.Asset); err != nil {
		return nil, err
	}
	// The functions the stack attaches to the app's VPC reach private
	// addresses and no AWS API; the others only public addresses.
	e.Region.SetFunctionsInVPC(e.Stack.Template.InVPC())
	if len(e.Stack.Findings) > 0 {
		return nil, fmt.Errorf("the stack has cdk-nag findings:\n%v", e.Stack.Findings)
	}
	e.Region.AddStateMachine(e.Stack.Release.ARN())
	e.Region.AddStateMachine(e.Stack.SwitchBack.ARN())
	if err := e.Dynamo.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(tableName(cfg.App)),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange}},
	}); err != nil {
		return nil, fmt.Errorf("create the ledger table: %w", err)
	}
	e.sched = NewScheduler(regionClock{e.Region})
	e.tokens = newSimTokens(e.Region, e.sched, e.executionARN)
	logOut := opts.Log
	if logOut == nil {
		logOut = io.Discard
	}
	env := e.env()
	if cfg.ApprovalLinks() {
		// The stack's Secrets Manager secret, generated at deployment.
		env.LinkKey = e.Region.PutSecret("ApprovalLinkKey-"+e.Config.App, rand.Text()+rand.Text())
	}
	e.Deps = &step.Deps{
		AWS:  e.Region.Clients(),
		Env:  env,
		Now:  e.Region.Now,
		HTTP: e.Region.HTTPClient(),
		Log:  slog.New(slog.NewJSONHandler(logOut, nil)),
		// A handler polling within its invocation sleeps on the
		// simulated clock, as the execution it serves.
		Sleeper: e.sched.SleepIn,
	}
	handlers := map[string]any{}
	for _, entry := range registry.All() {
		handlers[entry.Name] = entry.New(e.Deps)
	}
	e.host = NewHost(handlers, e.sched, e.tokens, e.Deps.Log)
	e.host.Around = e.around
	timeouts := e.Stack.Template.Timeouts()
	e.host.Timeout = func(function string) time.Duration {
		if t, ok := timeouts[function]; ok {
			return t
		}
		return 30 * time.Second
	}
	e.host.SFN = e.Region.SFN()
	e.host.Deliver = func(ctx context.Context, key, versionID string, size int64) (any, error) {
		return e.Deliver(ctx, key, versionID, size)
	}
	if cfg.ApprovalLinks() {
		// The approval page's function URL, on the host's loopback.
		e.host.Page = approvalpage.Handler{D: e.Deps, Insecure: true}.Serve
		e.host.Links = func(ctx context.Context, releaseID string) (any, error) { return e.ApprovalLinks(ctx, releaseID) }
	}
	if err := e.host.Start(); err != nil {
		return nil, err
	}
	if cfg.ApprovalLinks() {
		e.Deps.Env.ApprovalURL = e.host.URL() + ApprovalPath
	}
	if e.engine, err = tc.Start(e.ctx, e.host.URL()); err != nil {
		return nil, err
	}
	e.Region.OnStartExecution(e.onStart)
	e.Region.OnSchedule(e.onSchedule)
	// The stack is deployed: the environment was bootstrapped (a
	// current bootstrap stack), the stack subscribes notifications.emails,
	// and the simulated people have confirmed.
	e.Region.PutParameter(doctor.BootstrapParameter, "29")
	for _, email := range e.Config.Notifications.Emails {
		e.Region.Subscribe(e.Fixture.TopicARN, email, true)
	}
	e.host.Doctor = func(ctx context.Context) (any, error) { return e.Doctor(ctx), nil }
	e.host.Discover = func(ctx context.Context, from discover.From) (any, error) {
		return discover.Discover(ctx, e.Region.Clients(), from)
	}
	s3srv, err := e.Region.S3()
	if err != nil {
		return nil, err
	}
	// The stack turns on the release bucket's EventBridge notifications.
	s3srv.SetEventBridge(bucketName(cfg.App), true)
	if opts.DeliverUploads {
		s3srv.OnObjectCreated(e.uploaded)
		e.host.Advance = func(d time.Duration) (any, error) { return e.Advance(d) }
	}
	e.sched.AfterAdvance(func(from, to time.Time) {
		if _, err := e.Region.RunDueSchedules(e.ctx); err != nil {
			e.Deps.Log.Error("due schedules", "error", err)
		}
	})
	if cfg.HasData() {
		baseline, err := e.Region.VolumeWrites(e.Fixture.DataVolume)
		if err != nil {
			return nil, err
		}
		e.writes.Baseline = baseline
	}
	switch {
	case opts.Users:
		if err := e.startApps(ctx); err != nil {
			return nil, err
		}
		if err := e.startUsers(); err != nil {
			return nil, err
		}
	case e.Config.UsesALB():
		if e.albModel, err = newALBUsers(e); err != nil {
			return nil, err
		}
		e.sched.AfterAdvance(e.userTraffic)
	case cfg.HasData():
		e.sched.AfterAdvance(e.userTraffic)
	}
	ok = true
	return e, nil
}

// pointAtRegion keeps the operator's config but for its AWS ids, which
// become the simulated region's: the golden AMI's parameter, the live
// instance's subnet, and the front. In elasticIp mode that is the Elastic
// IP. In alb mode it is the load balancer's listener (or rule) and target
// groups, in the simulated region (the ARNs' region must be the stack's),
// and the alarms the region has; the fixture's Elastic IP stays on the
// live instance, but users do not reach the app through it and the config
// names none (alb mode refuses one).
func pointAtRegion(c release.Config, f sim.Fixture, alarms []string) release.Config {
	c.Candidate.AMI = ""
	c.Candidate.AMIParameter = f.AMIParameter
	c.Candidate.SubnetID = ""
	c.Fleet.SubnetIDs = nil // the live side's, spread across the region's zones
	if !c.UsesALB() {
		c.Live.ElasticIPAllocationID = f.AllocationID
		return c
	}
	c.Region = Region
	c.Live.ElasticIPAllocationID = ""
	alb := &release.ALBConfig{ListenerARN: f.ListenerARN, TargetGroupARNs: f.TargetGroupARNs[:]}
	if c.Traffic.ALB != nil && c.Traffic.ALB.RuleARN != "" {
		alb.RuleARN = f.RuleARN
	}
	c.Traffic.ALB = alb
	c.Traffic.Alarms = alarms
	return c
}

// env is every step's environment in the local stack.
func (e *Env) env() step.Env {
	app := e.Config.App
	return step.Env{
		App:                 app,
		ArtifactPrefix:      e.Config.ArtifactPrefix,
		Table:               tableName(app),
		Topic:               e.Fixture.TopicARN,
		Bucket:              bucketName(app),
		StateMachine:        e.Stack.Release.ARN(),
		ScheduleGroup:       e.Fixture.ScheduleGroup,
		SchedulerRole:       fmt.Sprintf("arn:%s:iam::%s:role/greenlight-%s-scheduler", Partition, Account, app),
		RetireFunction:      FunctionARN(registry.Retire),
		DeployDocument:      instance.DocumentName(app, instance.Deploy),
		MaintenanceDocument: instance.DocumentName(app, instance.Maintenance),
		DataDocument:        instance.DocumentName(app, instance.Data),
		SmokeTarget:         smokeTarget(e.Config),
		RetentionDays:       e.Config.RetentionDays,
		Front:               traffic.FrontOf(e.Config),
		Region:              Region,
	}
}

// smokeTarget mirrors the stack: private addresses when the config places
// the smoke tests in the VPC.
func smokeTarget(c release.Config) string {
	if c.Network != nil {
		return "private"
	}
	return "public"
}

// Close stops everything the environment started: runners, the host,
// the region's app servers, the real apps and users, dynalite. Calling it
// again returns the first call's error.
func (e *Env) Close() error {
	e.closeOnce.Do(func() { e.closeErr = e.close() })
	return e.closeErr
}

func (e *Env) close() error {
	e.mu.Lock()
	e.closing = true
	e.mu.Unlock()
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
	var errs []error
	if e.users != nil {
		e.users.close()
	}
	if e.apps != nil {
		e.apps.Close()
	}
	if e.engine != nil {
		errs = append(errs, e.engine.Close())
	}
	if e.host != nil {
		errs = append(errs, e.host.Close())
	}
	if e.Region != nil {
		errs = append(errs, e.Region.Close())
	}
	if e.Dynamo != nil {
		errs = append(errs, e.Dynamo.Close())
	}
	if e.scripts != nil {
		errs = append(errs, e.scripts.Close())
	}
	return errors.Join(errs...)
}

// Machine is the synthesized Release state machine.
func (e *Env) Machine() *Machine { return e.Stack.Release }

// executionARN finds an execution's ARN by name, in either workflow.
func (e *Env) executionARN(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.runs[name]; ok {
		return r.arn
	}
	return e.Stack.Release.ExecutionARN(name)
}

// around serves one invocation the way Lambda would: it names the caller
// for the region's records, applies an armed fault, charges the modelled
// time of the calls the handler made, and answers the approval task per
// the policy.
func (e *Env) around(ctx context.Context, inv Invocation, invoke func(context.Context) ([]byte, error)) ([]byte, error) {
	ctx = sim.WithCaller(ctx, inv.Function)
	e.mu.Lock()
	e.invocations[inv.Execution]++
	fault := e.opts.Fault
	armed := fault != nil && !e.faultArmed && fault.State == inv.State
	if armed {
		e.faultArmed = true
	}
	e.mu.Unlock()
	e.notePhase(inv)
	before := len(e.Region.Calls())
	var out []byte
	var err error
	if armed {
		out, err = fault.apply(ctx, e, inv, invoke)
	} else {
		out, err = invoke(ctx)
	}
	if e.opts.Twice && err == nil {
		// aws-lambda-go reuses its output buffer: keep this answer.
		out = append([]byte(nil), out...)
		before := e.State()
		_, _ = invoke(ctx)
		if after := e.State(); after != before && e.opts.OnRepeatChange != nil {
			e.opts.OnRepeatChange(inv, before, after)
		}
	}
	calls := e.Region.Calls()[before:]
	charge := e.Region.Latencies().LambdaWarmInvoke
	e.mu.Lock()
	own := 0
	for _, c := range calls {
		if c.Caller == inv.Function {
			e.calls[inv.Execution] = append(e.calls[inv.Execution], c)
			charge += c.Latency
			own++
		}
	}
	if e.firstCalls[inv.Execution] == nil {
		e.firstCalls[inv.Execution] = map[string][]sim.Call{}
	}
	if _, seen := e.firstCalls[inv.Execution][inv.State]; !seen {
		e.firstCalls[inv.Execution][inv.State] = e.calls[inv.Execution][len(e.calls[inv.Execution])-own:]
	}
	e.mu.Unlock()
	e.Region.Advance(ctx, charge)
	if inv.State == release.StateShiftTraffic {
		e.noteShift(inv.Execution, out, err)
	}
	if err == nil && inv.State == release.StateAwaitApproval {
		e.answerApproval(ctx, inv)
	}
	if e.opts.AfterInvoke != nil {
		e.opts.AfterInvoke(inv, out, err)
	}
	return out, err
}

// SetFault arms a fault for the next release (nil clears it).
func (e *Env) SetFault(f *Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.Fault, e.faultArmed, e.faultMiss = f, false, ""
}

// faultMissed records why an armed fault could not land.
func (e *Env) faultMissed(why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faultMiss = why
}

// FirstInvocation is the AWS calls, in order, of a state's first
// invocation in an execution: where a fault can land.
func (e *Env) FirstInvocation(execution, state string) []sim.Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]sim.Call(nil), e.firstCalls[execution][state]...)
}

// FaultMissed says why the armed fault never landed, or "".
func (e *Env) FaultMissed() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.faultMiss
}

// SetApprove changes the approval policy for what comes next.
func (e *Env) SetApprove(policy string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.Approve = policy
}

// Approver is the caller the region records for approval answers the
// engine gives on the operator's behalf (auto, reject), so the approval
// function's record holds only its own calls.
const Approver = "local-approver"

// ApprovalLinks are the approve and reject links of a release that waits
// for approval, signed as the approval step signed the notification's.
func (e *Env) ApprovalLinks(ctx context.Context, releaseID string) (notify.Links, error) {
	if e.Deps.Env.ApprovalURL == "" {
		return notify.Links{}, errors.New("approval links are off (approval.links in the config)")
	}
	rec, err := e.Deps.Ledger().Get(ctx, e.Config.App, releaseID)
	if err != nil {
		return notify.Links{}, err
	}
	if rec.Status != ledger.StatusAwaitingApproval || rec.Token == "" || rec.Answer != nil {
		return notify.Links{}, fmt.Errorf("%s does not wait for approval (it is %s)", releaseID, rec.Status)
	}
	key, err := e.Deps.LinkKey(sim.WithCaller(ctx, Approver))
	if err != nil {
		return notify.Links{}, err
	}
	link := func(action string) string {
		return approvallink.URL(key, e.Deps.Env.ApprovalURL, approvallink.Link{App: rec.App, ReleaseID: releaseID, Action: action, Expires: rec.TokenExpires})
	}
	return notify.Links{Approve: link(approvallink.Approve), Reject: link(approvallink.Reject)}, nil
}

// answerApproval applies the approval policy once the approval step has
// stored its token and notified.
func (e *Env) answerApproval(ctx context.Context, inv Invocation) {
	ctx = sim.WithCaller(ctx, Approver)
	for _, token := range e.tokens.Open(inv.Execution, inv.State) {
		var err error
		e.mu.Lock()
		policy := e.opts.Approve
		e.mu.Unlock()
		switch policy {
		case ApproveAuto:
			err = answer.Send(ctx, e.Region.SFN(), token, release.Approval{Approved: true, By: "local auto-approval (--approve auto)", At: e.Region.Now()})
		case ApproveReject:
			err = answer.Send(ctx, e.Region.SFN(), token, release.Approval{By: "greenlight local --approve reject", At: e.Region.Now()})
		case ApprovePrompt:
			e.tokens.WaitForHuman(token)
			if e.opts.OnApproval != nil {
				e.opts.OnApproval(inv.Execution)
			}
		}
		if err != nil {
			e.Deps.Log.Error("answer approval", "error", err)
		}
	}
}

// onStart runs an execution the region was asked to start.
func (e *Env) onStart(ctx context.Context, ex sim.Execution) {
	var input any
	if err := json.Unmarshal([]byte(ex.Input), &input); err != nil {
		input = ex.Input
	}
	m := e.Stack.Release
	if ex.StateMachineARN == e.Stack.SwitchBack.ARN() {
		m = e.Stack.SwitchBack
	}
	r := &run{name: ex.Name, arn: ex.ARN, done: make(chan struct{}), started: e.Region.Now()}
	e.mu.Lock()
	e.runs[ex.Name] = r
	e.mu.Unlock()
	e.host.AddJob(m.Job(ex.Name, input, ex.StartDate))
	e.sched.Join(ex.Name)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(r.done)
		defer e.sched.Leave(ex.Name)
		onEvent := func(ev Event) {
			if e.opts.OnEvent != nil {
				e.opts.OnEvent(ex.Name, ev)
			}
		}
		r.exec, r.err = e.engine.Run(e.ctx, ex.Name, onEvent)
		r.ended = e.Region.Now()
		status := sfntypes.ExecutionStatusFailed
		var output, errName, cause string
		if r.err != nil {
			errName, cause = "States.Runtime", r.err.Error()
		} else {
			output, errName, cause = string(r.exec.Output), r.exec.Error, r.exec.Cause
			if r.exec.Status == "SUCCEEDED" {
				status = sfntypes.ExecutionStatusSucceeded
			}
		}
		if err := e.Region.FinishExecution(ex.ARN, status, output, errName, cause); err != nil {
			e.Deps.Log.Error("finish execution", "execution", ex.Name, "error", err)
		}
		// The stack's rule delivers every end, SUCCEEDED included (a
		// release whose record failed stands, and is reported).
		e.statusChanged(ex, string(status))
	}()
}

// statusChanged delivers an execution's end to the watch function, as the
// stack's EventBridge rule does.
func (e *Env) statusChanged(ex sim.Execution, status string) {
	ev, err := events.ExecutionStatusChange(ex.ARN, ex.StateMachineARN, ex.Name, status, e.Region.Now())
	if err == nil {
		_, err = e.Invoke(e.ctx, registry.Watch, ev)
	}
	if err != nil {
		e.Deps.Log.Error("deliver the execution's status change", "execution", ex.Name, "status", status, "error", err)
	}
}

// onSchedule invokes a schedule's target (the retire function) the way
// EventBridge Scheduler would.
func (e *Env) onSchedule(ctx context.Context, f sim.Firing) error {
	out, err := e.Invoke(ctx, handlerOf(f.TargetARN), []byte(f.Input))
	e.mu.Lock()
	if e.fired == nil {
		e.fired = map[string]string{}
	}
	if err != nil {
		e.fired[f.ARN] = "error: " + err.Error()
	} else {
		e.fired[f.ARN] = string(out)
	}
	e.mu.Unlock()
	return err
}

// Invoke calls a function through the host, as EventBridge or a schedule
// would: the Lambda Invoke API over loopback.
func (e *Env) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.host.URL()+"/2015-03-31/functions/"+function+"/invocations", bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoke %s: HTTP %d: %s", function, resp.StatusCode, body)
	}
	if resp.Header.Get("X-Amz-Function-Error") != "" {
		var fe struct {
			Type    string `json:"errorType"`
			Message string `json:"errorMessage"`
		}
		_ = json.Unmarshal(body, &fe)
		return nil, fmt.Errorf("%s failed: %s: %s", function, fe.Type, fe.Message)
	}
	return body, nil
}

// Upload puts an artifact in the release bucket the way `greenlight
// release` does (SHA-256 in the metadata) and returns its version id.
func (e *Env) Upload(ctx context.Context, key string, body []byte) (string, error) {
	sum := sha256.Sum256(body)
	out, err := e.Region.S3Client().PutObject(ctx, &s3.PutObjectInput{
		Bucket:   aws.String(bucketName(e.Config.App)),
		Key:      aws.String(key),
		Body:     bytes.NewReader(body),
		Metadata: map[string]string{prepare.MetadataSHA256: hex.EncodeToString(sum[:])},
	})
	if err != nil {
		return "", fmt.Errorf("upload s3://%s/%s: %w", bucketName(e.Config.App), key, err)
	}
	return aws.ToString(out.VersionId), nil
}

// Deliver sends the S3 Object Created event for an uploaded artifact to
// the start function, as the stack's EventBridge rule does.
func (e *Env) Deliver(ctx context.Context, key, versionID string, size int64) (start.Result, error) {
	if e.users != nil {
		// The users' report is the release's; their writes stay checked.
		e.users.gen.NewReport()
	}
	ev, err := events.ObjectCreated(bucketName(e.Config.App), key, versionID, size, e.Region.Now())
	if err != nil {
		return start.Result{}, err
	}
	live := ""
	if e.Config.UsesALB() {
		// The group with the weight now is the release's live side.
		best := -1
		for g, n := range e.ListenerWeights() {
			if n > best {
				live, best = g, n
			}
		}
	}
	out, err := e.Invoke(ctx, registry.Start, ev)
	if err != nil {
		return start.Result{}, err
	}
	var res start.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return res, err
	}
	if live != "" {
		e.mu.Lock()
		if _, seen := e.liveGroups[res.ReleaseID]; !seen {
			e.liveGroups[res.ReleaseID] = live
		}
		e.mu.Unlock()
	}
	return res, nil
}

// uploaded is the stack's ReleaseUploaded rule: an object created in the
// release bucket under the artifact prefix with a .tar.gz name starts a
// release (infra/events.go states the same pattern). A wildcard's "*"
// matches any characters, "/" among them. Amazon EventBridge User Guide,
// "Wildcard matching"
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html#eb-filtering-wildcard-matching).
func (e *Env) uploaded(up sim.ObjectCreated) {
	if up.Bucket != bucketName(e.Config.App) || !ReleaseKey(e.Config.ArtifactPrefix, up.Key) {
		return
	}
	// An upload that arrives as the environment closes is dropped, as
	// Close may already be waiting for the work under way.
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()
	res, err := e.Deliver(e.ctx, up.Key, up.VersionID, up.Size)
	if e.opts.OnDelivered != nil {
		e.opts.OnDelivered(up, res, err)
	}
}

// ReleaseKey reports whether an object key matches the rule's
// prefix*.tar.gz.
func ReleaseKey(prefix, key string) bool {
	return len(key) >= len(prefix)+len(".tar.gz") && strings.HasPrefix(key, prefix) && strings.HasSuffix(key, ".tar.gz")
}

// Advanced is what moving the simulated clock by hand did.
type Advanced struct {
	From  time.Time `json:"from"`
	Now   time.Time `json:"now"`
	Fired []Fired   `json:"fired"`
}

// Fired is a schedule that came due and ran.
type Fired struct {
	Schedule string    `json:"schedule"`
	Due      time.Time `json:"due"`
	Target   string    `json:"target"`
	Input    string    `json:"input"`
	// Result is what the target returned, or "error: ..." when it failed.
	Result string `json:"result"`
}

// Advance moves the simulated clock by d while no execution runs, firing
// the schedules that come due (the retirement of a kept side). While a
// release runs, its waits move the clock: moving it under them would skip
// steps' time, so it is refused.
func (e *Env) Advance(d time.Duration) (Advanced, error) {
	if d <= 0 {
		return Advanced{}, fmt.Errorf("advance by %s: give a positive duration", d)
	}
	if running := e.Running(); len(running) > 0 {
		return Advanced{}, fmt.Errorf("%s running: simulated time moves with it; advance once it has ended (greenlight status --local)", strings.Join(running, ", "))
	}
	before := len(e.Region.Firings())
	from := e.Region.Now()
	e.LetTimePass(d)
	a := Advanced{From: from, Now: e.Region.Now(), Fired: []Fired{}}
	for _, f := range e.Region.Firings()[before:] {
		e.mu.Lock()
		result := e.fired[f.ARN]
		e.mu.Unlock()
		a.Fired = append(a.Fired, Fired{Schedule: f.Name, Due: f.Due, Target: handlerOf(f.TargetARN), Input: f.Input, Result: result})
	}
	return a, nil
}

// Doctor runs greenlight doctor's checks against the simulated account,
// as `greenlight doctor` does against a real one.
func (e *Env) Doctor(ctx context.Context) doctor.Report {
	r := doctor.Run(ctx, doctor.Input{
		Config: e.Config, AWS: e.Region.Clients(), InstanceTypes: e.Region.EC2(), Subscriptions: e.Region.SNS(),
		Notifications: e.Region.S3Client(), IAM: e.Region.IAM(), Bucket: e.Fixture.Bucket, TopicARN: e.Fixture.TopicARN,
	})
	r.Add(doctor.Result{Check: "stack", Status: doctor.Pass, Detail: "the local engine's stack, synthesized from the config"})
	return r
}

// Running names the executions that have not ended.
func (e *Env) Running() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var names []string
	for name, r := range e.runs {
		select {
		case <-r.done:
		default:
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// AfterAdvance runs f after every move of the simulated clock: a test
// may act on AWS at a moment inside a step's invocation (a handler that
// polls sleeps on this clock).
func (e *Env) AfterAdvance(f func(from, to time.Time)) { e.sched.AfterAdvance(f) }

// Wait waits for an execution to end.
func (e *Env) Wait(ctx context.Context, execution string) (*Execution, error) {
	e.mu.Lock()
	r, ok := e.runs[execution]
	e.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no execution %s", execution)
	}
	select {
	case <-r.done:
		return r.exec, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// LetTimePass moves the simulated clock while no execution runs (days for
// retirement), firing due schedules.
func (e *Env) LetTimePass(d time.Duration) { e.sched.AdvanceIdle(d) }

// Key is the artifact key of a version.
func (e *Env) Key(version string) string {
	return e.Config.ArtifactPrefix + e.Config.App + "-" + version + ".tar.gz"
}

// noteShift keeps the traffic steps a ShiftTraffic invocation returned; a
// failed one marks the step under way with its error (Step Functions keeps
// no output of a failed step, the summary does).
func (e *Env) noteShift(execution string, out []byte, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		steps := e.shifts[execution]
		if len(steps) == 0 {
			// It failed on its first pass: the plan's first step.
			for _, w := range e.Config.TrafficSteps() {
				steps = append(steps, release.TrafficStep{Weight: w})
			}
			e.shifts[execution] = steps
		}
		for i := range steps {
			if steps[i].Outcome == "" {
				steps[i].Outcome = err.Error()
				break
			}
		}
		return
	}
	var s release.Shift
	if json.Unmarshal(out, &s) == nil {
		e.shifts[execution] = s.Steps
	}
}
