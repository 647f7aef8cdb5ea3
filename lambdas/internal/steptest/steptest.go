// Package steptest builds what a step handler's unit test needs: the
// simulated region (harness/sim) with one app live behind its Elastic IP,
// the ledger in a table of its own on dynalite, and step.Deps wired the way
// the local engine wires them (harness/localrun/env.go). It is used by
// tests only.
//
// A package using it runs its tests through Main, so the one dynalite the
// package's tests share is stopped when they end:
//
//	func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }
package steptest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/instance"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// The ledger's dynalite, shared by the tests of one package: a process
// start costs about as much as the rest of a test, a table a few ms.
var (
	dynMu  sync.Mutex
	dyn    *sim.Dynamo
	tables int
)

// Main runs a package's tests and then stops the dynalite they shared.
func Main(m *testing.M) int {
	code := m.Run()
	dynMu.Lock()
	defer dynMu.Unlock()
	if dyn != nil {
		dyn.Close()
		dyn = nil
	}
	return code
}

// table creates a fresh ledger table on the shared dynalite.
func table(tb testing.TB) (*sim.Dynamo, string) {
	tb.Helper()
	dynMu.Lock()
	defer dynMu.Unlock()
	if dyn == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		d, err := sim.StartDynamo(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		dyn = d
	}
	tables++
	name := fmt.Sprintf("greenlight-ledger-%d", tables)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dyn.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange}},
	}); err != nil {
		tb.Fatalf("create the ledger table: %v", err)
	}
	return dyn, name
}

// Env is one test's world: the region, the ledger and the step's Deps.
type Env struct {
	Region  *sim.Region
	Fixture sim.Fixture
	Deps    *step.Deps
	Ledger  *ledger.Ledger
	// Ctx names the step as the caller of the AWS calls made with it, as
	// the local engine does; Test is the test's own caller name, for the
	// calls it makes to set the scene or to look at the result.
	Ctx, Test context.Context

	log  *lockedBuffer
	opts sim.Options
}

// ApprovalURL and LinkKey are the approval page's function URL and the
// links' signing key in every test's stack.
const (
	ApprovalURL = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/"
	LinkKey     = "test-signing-key-0123456789abcdefghijklmnopqrstuvwxyz"
)

// New builds an Env whose handler calls are recorded as step's.
func New(tb testing.TB, stepName string, opts sim.Options) *Env {
	tb.Helper()
	db, name := table(tb)
	opts.DynamoDB = db.Client()
	r := sim.NewTest(tb, opts)
	f := r.Fixture()
	logs := &lockedBuffer{}
	d := &step.Deps{
		AWS: r.Clients(),
		Env: step.Env{
			App:                 f.App,
			ArtifactPrefix:      release.DefaultArtifactPrefix,
			Table:               name,
			Topic:               f.TopicARN,
			Bucket:              f.Bucket,
			StateMachine:        f.StateMachineARN,
			ScheduleGroup:       f.ScheduleGroup,
			SchedulerRole:       "arn:aws:iam::123456789012:role/greenlight-" + f.App + "-scheduler",
			RetireFunction:      "arn:aws:lambda:eu-west-1:123456789012:function:greenlight-" + f.App + "-retire",
			DeployDocument:      instance.DocumentName(f.App, instance.Deploy),
			MaintenanceDocument: instance.DocumentName(f.App, instance.Maintenance),
			DataDocument:        instance.DocumentName(f.App, instance.Data),
			SmokeTarget:         "private",
			RetentionDays:       release.DefaultRetentionDays,
			ApprovalURL:         ApprovalURL,
			LinkKey:             r.PutSecret("ApprovalLinkKey-"+f.App, LinkKey),
			Region:              "eu-west-1",
		},
		Now:  r.Now,
		HTTP: r.HTTPClient(),
		Log:  slog.New(slog.NewJSONHandler(logs, nil)),
		// A handler that polls within its invocation moves the
		// simulated clock.
		Sleeper: func(ctx context.Context, d time.Duration) error {
			r.Advance(ctx, d)
			return nil
		},
	}
	return &Env{
		Region: r, Fixture: f, Deps: d, Ledger: d.Ledger(),
		Ctx:  sim.WithCaller(context.Background(), stepName),
		Test: sim.WithCaller(context.Background(), "test"),
		log:  logs, opts: opts,
	}
}

// Logs is everything the handlers logged so far.
func (e *Env) Logs() string { return e.log.String() }

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Config is a complete, valid greenlight.json for the fixture's app,
// pointed at the region's Elastic IP and golden AMI parameter, with
// latency budgets wide enough for a loaded test machine. Change it, then
// pass it through ConfigJSON or Parsed.
func (e *Env) Config() release.Config {
	f := e.Fixture
	return release.Config{
		App:  f.App,
		Live: release.LiveConfig{ElasticIPAllocationID: f.AllocationID},
		Candidate: release.Launch{
			AMIParameter:     f.AMIParameter,
			InstanceType:     "t4g.small",
			SecurityGroupIDs: []string{"sg-0a1b2c3d4e5f60718"},
			InstanceProfile:  f.App + "-app",
			InstanceRole:     f.App + "-app",
			ReadyTimeout:     release.Duration(10 * time.Minute),
		},
		Data: release.DataConfig{Mode: release.DataNone},
		HealthCheck: release.HealthCheck{Port: f.AppPort, Path: f.HealthPath, ExpectedStatus: 200,
			Timeout: release.Duration(2 * time.Minute)},
		SmokeTests: []release.SmokeTest{
			{Name: "home page", Path: "/", ExpectedStatus: 200, BodyContains: f.App, MaxLatency: release.Duration(10 * time.Second)},
			{Name: "version", Path: "/version", ExpectedStatus: 200, MaxLatency: release.Duration(10 * time.Second)},
		},
		ApprovalTimeout: release.Duration(24 * time.Hour),
		BakeTime:        release.Duration(5 * time.Minute),
		RetentionDays:   7,
		KeepReleases:    5,
		Notifications:   release.Notifications{Emails: []string{"ops@example.com"}},
		ArtifactPrefix:  release.DefaultArtifactPrefix,
		ArtifactMaxSize: 512,
	}
}

// WithData turns a config's data mode on for the fixture's data volume.
func (e *Env) WithData(c release.Config, mode string) release.Config {
	c.Data = release.DataConfig{Mode: mode, Device: e.Fixture.DataDevice, MountPoint: e.Fixture.DataMountPoint,
		SnapshotMaxAge: release.Duration(time.Hour)}
	return c
}

// BehindALB is c releasing behind the fixture's load balancer (made with
// sim.Options.ALB): its listener and target groups, no Elastic IP.
func (e *Env) BehindALB(c release.Config) release.Config {
	c.Live.ElasticIPAllocationID = ""
	c.Traffic = release.TrafficConfig{Mode: release.TrafficALB,
		ALB: &release.ALBConfig{ListenerARN: e.Fixture.ListenerARN, TargetGroupARNs: e.Fixture.TargetGroupARNs[:]}}
	return c
}

// FleetRelease is a release of a side of three behind the load balancer:
// the region spans three zones, with a live fleet of three in blue, and
// the document, recorded with the lock held, names that live side.
func FleetRelease(tb testing.TB, step string) (*Env, release.Doc) {
	tb.Helper()
	e := New(tb, step, sim.Options{ALB: true, Zones: 3, LiveFleet: 3})
	f := e.Fixture
	cfg := e.BehindALB(e.Config())
	cfg.Fleet = release.FleetConfig{Size: 3}
	body := []byte("release 2.0.0")
	d := e.Doc(tb, "2.0.0", e.Upload(tb, e.Key("2.0.0"), body, ""), body, cfg)
	d.Live.InstanceIDs, d.Live.AllocationID, d.Live.PublicIP = f.LiveInstances, "", f.LoadBalancerDNS
	e.Record(tb, d)
	if err := e.Ledger.Acquire(e.Test, d.App, d.ReleaseID); err != nil {
		tb.Fatal(err)
	}
	return e, d
}

// ConfigJSON is c as the stack passes it to a step: JSON text, checked to
// be a config ParseConfig accepts.
func ConfigJSON(tb testing.TB, c release.Config) string {
	tb.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := release.ParseConfig(b); err != nil {
		tb.Fatalf("the test's config is invalid: %v\n%s", err, b)
	}
	return string(b)
}

// Parsed is c as a step reads it from the document: parsed, defaults
// applied.
func Parsed(tb testing.TB, c release.Config) release.Config {
	tb.Helper()
	p, err := release.ParseConfig([]byte(ConfigJSON(tb, c)))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Key is the artifact key of a version under the default prefix.
func (e *Env) Key(version string) string {
	return release.DefaultArtifactPrefix + e.Fixture.App + "-" + version + ".tar.gz"
}

// Upload puts an artifact in the release bucket as `greenlight release`
// does, with metadata sha256 (pass "" for the body's own), and returns its
// version id.
func (e *Env) Upload(tb testing.TB, key string, body []byte, sha string) string {
	tb.Helper()
	if sha == "" {
		sha = SHA256(body)
	}
	out, err := e.Region.S3Client().PutObject(e.Test, &s3.PutObjectInput{
		Bucket:   aws.String(e.Fixture.Bucket),
		Key:      aws.String(key),
		Body:     bytes.NewReader(body),
		Metadata: map[string]string{"sha256": sha},
	})
	if err != nil {
		tb.Fatalf("upload %s: %v", key, err)
	}
	if aws.ToString(out.VersionId) == "" {
		tb.Fatalf("upload %s: no version id from a versioned bucket", key)
	}
	return aws.ToString(out.VersionId)
}

// SHA256 is the hex SHA-256 of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Doc is a release document as the workflow hands it to the steps after
// Prepare: the release of version from the uploaded artifact, with the
// parsed config and the live side of the fixture.
func (e *Env) Doc(tb testing.TB, version, versionID string, body []byte, cfg release.Config) release.Doc {
	tb.Helper()
	f := e.Fixture
	key := e.Key(version)
	return release.Doc{
		ReleaseID: release.ReleaseID(f.App, version, f.Bucket, key, versionID),
		Kind:      release.KindRelease,
		App:       f.App,
		Version:   version,
		StartedAt: e.Region.Now().UTC(),
		Execution: ExecutionARN(f.StateMachineARN, release.ReleaseID(f.App, version, f.Bucket, key, versionID)),
		Artifact:  release.Artifact{Bucket: f.Bucket, Key: key, VersionID: versionID, SHA256: SHA256(body), Size: int64(len(body))},
		Config:    Parsed(tb, cfg),
		Live: release.Live{InstanceID: f.LiveInstance, SubnetID: f.LiveSubnet, AZ: f.LiveAZ, PrivateIP: f.LivePrivateIP,
			AllocationID: f.AllocationID, PublicIP: f.PublicIP, Version: f.Version, ImageID: f.AMI, DataVolumeID: f.DataVolume},
	}
}

// ExecutionARN is the execution of machine named name.
func ExecutionARN(machine, name string) string {
	return strings.Replace(machine, ":stateMachine:", ":execution:", 1) + ":" + name
}

// Record creates the release's ledger record as the start step does.
func (e *Env) Record(tb testing.TB, d release.Doc) {
	tb.Helper()
	created, err := e.Ledger.Create(e.Test, ledger.Record{App: d.App, ReleaseID: d.ReleaseID, Version: d.Version, Kind: release.KindRelease,
		Status: ledger.StatusStarting, StartedAt: d.StartedAt, Execution: d.Execution,
		Timeline: []ledger.Event{{At: d.StartedAt, Step: "Start", Detail: "artifact uploaded"}}})
	if err != nil || !created {
		tb.Fatalf("create the ledger record of %s: created=%v err=%v", d.ReleaseID, created, err)
	}
}

// Get reads a release's ledger record.
func (e *Env) Get(tb testing.TB, releaseID string) ledger.Record {
	tb.Helper()
	rec, err := e.Ledger.Get(e.Test, e.Fixture.App, releaseID)
	if err != nil {
		tb.Fatalf("ledger record %s: %v", releaseID, err)
	}
	return rec
}

// Lock is who holds the app's release lock, "" for nobody.
func (e *Env) Lock(tb testing.TB) string {
	tb.Helper()
	lk, held, err := e.Ledger.LockHolder(e.Test, e.Fixture.App)
	if err != nil {
		tb.Fatal(err)
	}
	if !held {
		return ""
	}
	return lk.ReleaseID
}

// Messages are the notifications published so far, of one kind ("" for
// all).
func (e *Env) Messages(kind string) []sim.Message {
	var out []sim.Message
	for _, m := range e.Region.Messages() {
		if kind == "" || m.Attributes["kind"] == kind {
			out = append(out, m)
		}
	}
	return out
}

// Launch starts an instance from the golden AMI in the live instance's
// subnet, with a public IP, with the given tags, as a test's own scene (not the launch step),
// and returns its id. It is pending until the clock moves.
func (e *Env) Launch(tb testing.TB, tags map[string]string) string {
	tb.Helper()
	return e.LaunchIn(tb, e.Fixture.LiveSubnet, tags)
}

// LaunchIn is Launch into another subnet.
func (e *Env) LaunchIn(tb testing.TB, subnet string, tags map[string]string) string {
	tb.Helper()
	var list []ec2types.Tag
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		list = append(list, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	// With a public IP in the fixture's public subnets, as the launch
	// step asks for one: they assign none, and without one the SSM agent
	// has no path. Private subnets have a NAT gateway instead.
	in := &ec2.RunInstancesInput{ImageId: aws.String(e.Fixture.AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		InstanceType: ec2types.InstanceTypeT4gSmall, NetworkInterfaces: []ec2types.InstanceNetworkInterfaceSpecification{{
			DeviceIndex: aws.Int32(0), SubnetId: aws.String(subnet), AssociatePublicIpAddress: aws.Bool(!e.opts.PrivateSubnets)}}}
	if len(list) > 0 {
		in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: list}}
	}
	out, err := e.Region.EC2().RunInstances(e.Test, in)
	if err != nil {
		tb.Fatal(err)
	}
	return aws.ToString(out.Instances[0].InstanceId)
}

// Instance describes one instance as EC2 reports it now.
func (e *Env) Instance(tb testing.TB, id string) ec2types.Instance {
	tb.Helper()
	out, err := e.Region.EC2().DescribeInstances(e.Test, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		tb.Fatalf("describe %s: %v", id, err)
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			return i
		}
	}
	tb.Fatalf("describe %s: not listed", id)
	return ec2types.Instance{}
}

// State is an instance's state name now.
func (e *Env) State(tb testing.TB, id string) string {
	tb.Helper()
	return string(e.Instance(tb, id).State.Name)
}

// Tags turns EC2 tags into a map.
func Tags(tags []ec2types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// EIPHolder is the instance the Elastic IP is associated with, "" for none.
func (e *Env) EIPHolder(tb testing.TB) string {
	tb.Helper()
	out, err := e.Region.EC2().DescribeAddresses(e.Test, &ec2.DescribeAddressesInput{AllocationIds: []string{e.Fixture.AllocationID}})
	if err != nil {
		tb.Fatal(err)
	}
	return aws.ToString(out.Addresses[0].InstanceId)
}

// Inventory is what the region holds now, as "kind id state" lines: the
// snapshot of the AWS end state a refusal must leave unchanged.
func (e *Env) Inventory() []string {
	var out []string
	for _, res := range e.Region.Inventory() {
		out = append(out, res.Kind+" "+res.ID+" "+res.State)
	}
	return out
}

// Resources lists the ids of one kind of resource that exist now.
func (e *Env) Resources(kind string) []string {
	var out []string
	for _, res := range e.Region.Inventory() {
		if res.Kind == kind {
			out = append(out, res.ID)
		}
	}
	sort.Strings(out)
	return out
}
