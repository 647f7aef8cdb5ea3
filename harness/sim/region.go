package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/internal/release"
)

// Tag keys the region reads, from the shared vocabulary.
const (
	tagRelease = release.TagRelease
	tagApp     = release.TagApp
	tagRole    = release.TagRole
	tagManaged = release.TagManaged
	tagVersion = release.TagVersion
)

// Options configure a new region. The zero value gives the usual fixture:
// app "shop" at version 1.0.0 live on one instance behind an Elastic IP,
// no data volume.
type Options struct {
	Region  string    // "eu-west-1"
	Account string    // "123456789012"
	Start   time.Time // the simulated clock's start; 2025-01-06T09:00:00Z
	// Latencies overrides the reference table; nil uses DefaultLatencies.
	Latencies *Latencies
	// Seed makes generated ids and public IPs reproducible; 0 uses 1.
	Seed uint64
	// FunctionsInVPC are the callers (step functions) attached to the
	// app's VPC: they reach private addresses and no AWS API; every other
	// caller reaches public addresses only. nil does not model the
	// network: every address answers every caller.
	FunctionsInVPC []string

	App          string // "shop"
	LiveVersion  string // the version the live instance serves: "1.0.0"
	AppPort      int    // 8080
	HealthPath   string // "/healthz"
	InstanceType string // the live instance's type: "t4g.small"
	// LiveSecurityGroups and LiveInstanceProfile (a name) are the live
	// instance's, as the operator's config states them for candidates.
	LiveSecurityGroups  []string
	LiveInstanceProfile string
	// The fixture's subnets are public subnets (an Elastic IP's home)
	// without auto-assigned public IPs and without a NAT gateway or VPC
	// endpoints: an instance reaches Systems Manager only through a
	// public IP it asked for at launch or an Elastic IP. The live
	// instance was launched with a public IP. AutoAssignPublicIP turns
	// MapPublicIpOnLaunch on; PrivateSubnets makes both subnets private,
	// with a NAT gateway (no public IPs, SSM reachable).
	AutoAssignPublicIP bool
	PrivateSubnets     bool
	// AMIParameter is the SSM parameter holding the golden AMI id:
	// "/greenlight/<app>/golden-ami".
	AMIParameter string

	// DataVolume gives the live instance a data volume attached at
	// DataDevice and mounted at DataMountPoint.
	DataVolume     bool
	DataDevice     string // "/dev/sdf"
	DataMountPoint string // "/var/lib/<app>"
	DataSizeGiB    int32  // 20
	// DataVolumeType, DataIOPS and DataThroughput describe the live data
	// volume: "gp3" at its baseline by default.
	DataVolumeType           string
	DataIOPS, DataThroughput int32
	// DataSnapshots is how many completed snapshots of the data volume
	// exist, one an hour before the start, the newest last.
	DataSnapshots int
	// Disks holds the real content of every volume and snapshot (see
	// NewDirDisks), for an app that writes files; nil keeps the content
	// a counter of Region.Write calls.
	Disks Disks

	// Encryption is the account's EBS encryption: encryption by default,
	// the default KMS key (the data volume and its snapshots are under
	// it) and its customer managed keys. The zero value is an account
	// that kept the AWS managed key.
	Encryption Encryption

	// Executor decides what commands do on instances; nil uses a
	// ModelExecutor that fetches artifacts from the region's S3.
	Executor Executor
	// Documents maps SSM document names to kinds. Names not in it are
	// matched by suffix: "…-deploy", "…-maintenance", "…-data" (the
	// stack's naming), or a bare kind name.
	Documents map[string]DocumentKind

	// Buckets are created, versioned, in the region's S3:
	// ["greenlight-<app>-releases"].
	Buckets []string
	// Topic, StateMachine and ScheduleGroup exist from the start; empty
	// means a name derived from the app.
	TopicARN        string
	StateMachineARN string
	ScheduleGroup   string
	// ALB creates an Application Load Balancer in front of the app (see
	// Fixture.LoadBalancerARN): an HTTP listener on port 80 whose default
	// action forwards everything to the blue target group, where the live
	// instance is registered and healthy; the green group is empty.
	// HTTPClient reaches the app through it at Fixture.LoadBalancerDNS. The
	// Elastic IP stays as it is. ALBRule adds a listener rule (priority
	// 10, host header "<app>.example.com") forwarding to blue as well.
	ALB     bool
	ALBRule bool
	// Zones is how many Availability Zones (one subnet each) the VPC
	// spans: 2 when 0, at most 6.
	Zones int
	// LiveFleet is how many instances serve the live version: 1 when 0.
	// The others are made after the rest of the fixture (so a fixture of
	// one keeps its ids), spread across the zones, and with ALB
	// registered healthy in the blue group; the Elastic IP stays on the
	// first.
	LiveFleet int
	// Alarms names CloudWatch metric alarms that exist from the start, in
	// state OK.
	Alarms []string

	// DynamoDB, when set, is returned in Clients (dynalite from
	// StartDynamo, usually); an SDK client's calls are recorded and obey
	// injected faults.
	DynamoDB awsapi.DynamoDB
}

func (o Options) withDefaults() Options {
	if d, ok := o.Disks.(*DirDisks); ok && d == nil {
		o.Disks = nil // a nil *DirDisks in the interface is no store
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Region, "eu-west-1")
	def(&o.Account, "123456789012")
	if o.Start.IsZero() {
		o.Start = time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	def(&o.App, "shop")
	def(&o.LiveVersion, "1.0.0")
	if o.AppPort == 0 {
		o.AppPort = 8080
	}
	def(&o.HealthPath, "/healthz")
	def(&o.InstanceType, "t4g.small")
	def(&o.AMIParameter, "/greenlight/"+o.App+"/golden-ami")
	def(&o.DataDevice, "/dev/sdf")
	def(&o.DataMountPoint, "/var/lib/"+o.App)
	if o.DataSizeGiB == 0 {
		o.DataSizeGiB = 20
	}
	if o.DataVolumeType == "" {
		o.DataVolumeType = "gp3"
	}
	if o.Buckets == nil {
		o.Buckets = []string{"greenlight-" + o.App + "-releases"}
	}
	def(&o.TopicARN, fmt.Sprintf("arn:aws:sns:%s:%s:greenlight-%s", o.Region, o.Account, o.App))
	def(&o.StateMachineARN, fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:greenlight-%s-release", o.Region, o.Account, o.App))
	def(&o.ScheduleGroup, "greenlight-"+o.App)
	return o
}

// Region is one simulated AWS region. Its methods are safe for concurrent
// use: the local engine's handlers call it from many goroutines.
type Region struct {
	mu    sync.Mutex
	opts  Options
	clock *Clock
	lat   Latencies
	rng   *rand.Rand
	exec  Executor
	fix   Fixture

	vpcID         string
	cidr          string
	subnets       []*subnet
	images        map[string]*image
	imageOrder    []string
	instances     map[string]*instance
	instanceOrder []string
	launches      map[string]*launch // by ClientToken
	volumes       map[string]*volume
	volumeOrder   []string
	volumeTokens  map[string]tokenUse // ClientToken → the volume and the request that made it
	snapshots     map[string]*snapshot
	snapshotOrder []string
	addresses     map[string]*address
	addressOrder  []string
	parameters    map[string]*parameter
	commands      map[string]*command
	commandOrder  []string
	groups        map[string]time.Time // schedule groups
	schedules     map[string]*schedule // by "group/name"
	scheduleOrder []string
	firings       []Firing
	onSchedule    func(context.Context, Firing) error
	topics        map[string]bool
	subscriptions map[string][]subscription // by topic ARN
	// profiles: instance profile → its role ("" none); rolePolicies: role
	// → its attached managed policies (IAM).
	profiles      map[string]string
	rolePolicies  map[string][]string
	messages      []Message
	machines      map[string]bool
	executions    map[string]*execution
	execOrder     []string
	onStart       func(context.Context, Execution)
	tasks         map[string]*Task
	balancers     map[string]*loadBalancer // by ARN
	balancerOrder []string
	targetGroups  map[string]*targetGroup // by ARN
	groupOrder    []string
	alarms        map[string]*alarm
	secrets       []*secret

	calls         []Call
	implied       []Call // KMS calls the call under way made on its caller's behalf
	faults        []*faultRule
	intercept     Interceptor
	commandFaults []*CommandFault
	impairNext    int
	// noCapacity are the zones where RunInstances fails with
	// InsufficientInstanceCapacity (NoCapacityIn).
	noCapacity map[string]bool

	servers map[string]*appServer
	// appFront, when set, gives an instance's real front (the local
	// engine's process behind its maintenance front): see SetAppFronts.
	appFront func(instanceID string) (string, bool)
	s3       *S3
	s3Client *s3.Client
	dynamo   awsapi.DynamoDB
	closed   bool
}

// New builds a region with the fixture Options describe. Close it when
// done: it owns listening sockets.
func New(opts Options) (*Region, error) {
	opts = opts.withDefaults()
	lat := DefaultLatencies()
	if opts.Latencies != nil {
		lat = *opts.Latencies
	}
	r := &Region{
		opts:         opts,
		clock:        NewClock(opts.Start),
		lat:          lat,
		rng:          rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		images:       map[string]*image{},
		instances:    map[string]*instance{},
		launches:     map[string]*launch{},
		volumes:      map[string]*volume{},
		volumeTokens: map[string]tokenUse{},
		snapshots:    map[string]*snapshot{},
		addresses:    map[string]*address{},
		parameters:   map[string]*parameter{},
		commands:     map[string]*command{},
		groups:       map[string]time.Time{},
		schedules:    map[string]*schedule{},
		topics:       map[string]bool{},
		machines:     map[string]bool{},
		executions:   map[string]*execution{},
		tasks:        map[string]*Task{},
		servers:      map[string]*appServer{},
		balancers:    map[string]*loadBalancer{},
		targetGroups: map[string]*targetGroup{},
		alarms:       map[string]*alarm{},
	}
	if opts.DynamoDB != nil {
		r.dynamo = r.observedDynamoDB()
	}
	r.exec = opts.Executor
	if r.exec == nil {
		r.exec = &ModelExecutor{Fetch: r.fetchFromS3}
	}
	r.mu.Lock()
	err := r.buildFixture()
	r.mu.Unlock()
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// NewTest is New for a test: it fails the test if the region cannot be
// built and closes the region when the test ends.
func NewTest(tb testing.TB, opts Options) *Region {
	tb.Helper()
	r, err := New(opts)
	if err != nil {
		tb.Fatalf("sim.New: %v", err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

// Close stops every app server and the S3 emulator. It is safe to call
// more than once.
func (r *Region) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	servers := r.servers
	r.servers = map[string]*appServer{}
	s3srv := r.s3
	r.s3 = nil
	r.mu.Unlock()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.close())
	}
	if s3srv != nil {
		s3srv.Close()
	}
	return errors.Join(errs...)
}

// Clock is the region's simulated clock. Move it with Advance or
// AdvanceTo, which also run the commands that have come due; moving the
// Clock itself leaves them for the next GetCommandInvocation.
func (r *Region) Clock() *Clock { return r.clock }

// Now is the current simulated time.
func (r *Region) Now() time.Time { return r.clock.Now() }

// Latencies returns the latency table in force.
func (r *Region) Latencies() Latencies { return r.lat }

// Fixture returns the ids of what New created.
func (r *Region) Fixture() Fixture { return r.fix }

// Advance moves the clock forward and lets AWS catch up: due state
// changes happen and commands whose time has come run on their
// instances. Due schedules fire only through RunDueSchedules, which the
// caller runs when it is ready to handle them.
func (r *Region) Advance(ctx context.Context, d time.Duration) {
	r.AdvanceTo(ctx, r.clock.Now().Add(d))
}

// AdvanceTo is Advance to a moment (a Wait state's timestamp).
func (r *Region) AdvanceTo(ctx context.Context, t time.Time) {
	r.clock.AdvanceTo(t)
	r.mu.Lock()
	r.settle()
	r.mu.Unlock()
	r.runDueCommands(ctx)
}

// EC2 returns the EC2 client (instances, EBS, Elastic IPs).
func (r *Region) EC2() *EC2 { return &EC2{r: r} }

// SSM returns the SSM client.
func (r *Region) SSM() *SSM { return &SSM{r: r} }

// Scheduler returns the EventBridge Scheduler client.
func (r *Region) Scheduler() *Scheduler { return &Scheduler{r: r} }

// SNS returns the SNS client.
func (r *Region) SNS() *SNS { return &SNS{r: r} }

// SFN returns the Step Functions client.
func (r *Region) SFN() *SFN { return &SFN{r: r} }

// ELB returns the Elastic Load Balancing (v2) client.
func (r *Region) ELB() *ELB { return &ELB{r: r} }

// CloudWatch returns the CloudWatch client (alarms and metrics).
func (r *Region) CloudWatch() *CloudWatch { return &CloudWatch{r: r} }

// SetFunctionsInVPC sets Options.FunctionsInVPC once the stack is known:
// from then on the region models the network path of every caller.
func (r *Region) SetFunctionsInVPC(callers []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if callers == nil {
		callers = []string{}
	}
	r.opts.FunctionsInVPC = callers
}

// Clients bundles the region's clients: the simulated ones, the real S3
// client on the region's gofakes3, and Options.DynamoDB.
func (r *Region) Clients() awsapi.Clients {
	return awsapi.Clients{
		EC2:       r.EC2(),
		SSM:       r.SSM(),
		Scheduler: r.Scheduler(),
		SNS:       r.SNS(),
		SFN:       r.SFN(),
		S3:        r.S3Client(),
		DynamoDB:  r.dynamo,

		ELB:        r.ELB(),
		CloudWatch: r.CloudWatch(),
		Secrets:    r.Secrets(),
	}
}

// S3Client returns the real SDK S3 client of the region's S3 emulator,
// starting the emulator on first use. Its calls are recorded and obey
// injected faults like the simulated services'.
func (r *Region) S3Client() *s3.Client {
	s, err := r.s3Server()
	if err != nil {
		// Starting an in-process server on loopback only fails when the
		// machine is out of sockets or the region is closed: a bug in
		// the caller, said where it shows.
		panic(fmt.Sprintf("sim: start S3 emulator: %v", err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s3Client == nil {
		r.s3Client = r.observedS3(s)
	}
	return r.s3Client
}

// S3 returns the region's S3 emulator, starting it on first use.
func (r *Region) S3() (*S3, error) { return r.s3Server() }

func (r *Region) s3Server() (*S3, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("sim: region is closed")
	}
	if r.s3 == nil {
		s, err := StartS3(S3Options{Clock: r.clock, Region: r.opts.Region, Buckets: r.opts.Buckets})
		if err != nil {
			return nil, err
		}
		r.s3 = s
	}
	return r.s3, nil
}

// now is the simulated time; shorthand inside the package.
func (r *Region) now() time.Time { return r.clock.Now() }

// call runs one API operation: it settles due state changes, applies
// injected faults, runs fn, records the call (with its input and the tags
// of the EC2 resources the input names, as they were before fn) and wraps
// the error as the SDK would. Everything runs with r.mu held, so fn must
// not call out.
func call[T any](ctx context.Context, r *Region, service, op string, in any, fn func(caller string) (*T, error)) (*T, error) {
	caller := CallerFrom(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle()
	tags := r.namedTags(in)
	var out *T
	err := ctx.Err()
	if err == nil {
		err = r.injected(service, op, caller, len(tags) > 0)
	}
	if err == nil {
		err = r.noRoute(service, caller)
	}
	if err == nil {
		err = checkLimits(service, op, in)
	}
	if err == nil {
		out, err = fn(caller)
	}
	c := Call{Caller: caller, Service: service, Operation: op, Code: ErrorCode(err), At: r.now(), Input: in, Tags: tags}
	if service == ServiceEC2 && op == "RunInstances" {
		c.Latency = r.lat.RunInstancesCall
	}
	r.calls = append(r.calls, c)
	if err == nil {
		// The KMS calls AWS made for it, after it (see useKey).
		r.calls = append(r.calls, r.implied...)
	}
	r.implied = nil
	if err != nil {
		return nil, wrapOp(service, op, r.uuid(), err)
	}
	return out, nil
}

// settle applies every state change due by now, earliest first, so that
// one change's effects (a terminated instance releasing its volumes) are
// in place before the next is considered. Called with r.mu held.
func (r *Region) settle() {
	now := r.now()
	for {
		var (
			due   time.Time
			apply func()
		)
		consider := func(t time.Time, f func()) {
			if t.IsZero() || t.After(now) {
				return
			}
			if apply == nil || t.Before(due) {
				due, apply = t, f
			}
		}
		for _, id := range r.instanceOrder {
			i := r.instances[id]
			consider(i.next, func() { r.instanceTransition(i) })
		}
		for _, id := range r.volumeOrder {
			v, ok := r.volumes[id]
			if !ok {
				continue
			}
			if v.state == volCreating {
				consider(v.availableAt, func() {
					v.state = volAvailable
					if v.fails {
						v.state = volError
					}
				})
			}
			if v.att != nil {
				consider(v.att.next, func() { r.attachmentTransition(v) })
			}
		}
		for _, id := range r.groupOrder {
			tg := r.targetGroups[id]
			for _, t := range tg.targets {
				consider(t.nextCheck, func() { r.healthCheck(tg, t) })
				consider(t.drainedAt, func() { tg.remove(t) })
			}
		}
		for _, t := range r.tasks {
			consider(t.deadline(), func() { t.finish(TaskResult{Status: TaskTimedOut, Error: "States.Timeout"}, t.deadline()) })
		}
		if apply == nil {
			return
		}
		apply()
	}
}

// Ids and addresses. Random but reproducible from Options.Seed.

func (r *Region) hexID(prefix string) string {
	return fmt.Sprintf("%s-0%016x", prefix, r.rng.Uint64())
}

func (r *Region) uuid() string {
	a, b := r.rng.Uint64(), r.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

// publicIP picks an address from the documentation ranges, so no
// simulated address is anyone's real one: Elastic IPs from 203.0.113.0/24,
// auto-assigned ones from 198.51.100.0/24.
func (r *Region) publicIP(elastic bool) string {
	used := map[string]bool{}
	for _, i := range r.instances {
		used[i.publicIP] = true
	}
	for _, a := range r.addresses {
		used[a.publicIP] = true
	}
	base := "198.51.100."
	if elastic {
		base = "203.0.113."
	}
	for n := 0; n < 1000; n++ {
		ip := fmt.Sprintf("%s%d", base, 2+r.rng.IntN(252))
		if !used[ip] {
			return ip
		}
	}
	return base + "254"
}

func (r *Region) arn(service, resource string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, r.opts.Region, r.opts.Account, resource)
}

// errUnknown is the plain error the region's own helpers (not AWS calls)
// return for an id they do not know.
func errUnknown(kind, id string) error { return fmt.Errorf("sim: no %s %q", kind, id) }

func sortStrings(s []string) { sort.Strings(s) }

// fetchFromS3 is the default executor's artifact source: the region's S3.
func (r *Region) fetchFromS3(ctx context.Context, bucket, key, versionID string) ([]byte, error) {
	s, err := r.s3Server()
	if err != nil {
		return nil, err
	}
	return S3Fetch(s.Client())(ctx, bucket, key, versionID)
}
