package switchback

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

const (
	liveRelease = "shop-2-0-0-0123456789"
	keptRelease = "shop-1-0-0-9876543210"
	name        = "shop-rollback-20250106T090000Z"
	other       = "shop-2-1-0-aaaaaaaaaa"
)

// scene is the state a release leaves: 2.0.0 live on a new instance
// behind the Elastic IP, the fixture's instance (1.0.0) kept until
// retireAfter, and the `greenlight rollback` request for it.
type scene struct {
	e         *steptest.Env
	h         Handler
	cfg       release.Config
	live, old string
	// third is an instance of nobody's release, when the scene has one.
	third   string
	serving ledger.Serving
	in      Input
}

func newScene(t *testing.T, opts sim.Options) *scene {
	t.Helper()
	e := steptest.New(t, "switchback", opts)
	f := e.Fixture
	s := &scene{e: e, h: Handler{D: e.Deps}, cfg: e.Config(), old: f.LiveInstance}
	s.live = e.Launch(t, map[string]string{release.TagApp: "shop", release.TagManaged: release.ManagedValue, release.TagRole: release.RoleLive,
		release.TagRelease: liveRelease, release.TagVersion: "2.0.0"})
	e.Region.Advance(e.Test, time.Minute)
	s.associate(t, s.live)
	e.Region.Advance(e.Test, time.Hour)
	s.serving = ledger.Serving{App: "shop", LiveInstance: s.live, LiveRelease: liveRelease, LiveVersion: "2.0.0",
		PreviousInstance: s.old, PreviousRelease: keptRelease, PreviousVersion: "1.0.0", RetireAfter: e.Region.Now().Add(7 * 24 * time.Hour)}
	s.in = Input{Request: Request{ReleaseID: name, App: "shop", RequestedBy: "alice@example.com", Reason: "checkout is broken"},
		Execution: steptest.ExecutionARN(f.StateMachineARN, name), Name: name, StartedAt: e.Region.Now().Format(time.RFC3339)}
	return s
}

func (s *scene) associate(t *testing.T, id string) {
	t.Helper()
	if _, err := s.e.Region.EC2().AssociateAddress(s.e.Test, &ec2.AssociateAddressInput{AllocationId: aws.String(s.e.Fixture.AllocationID),
		InstanceId: aws.String(id), AllowReassociation: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}

// ready records the serving state and the config, as the scene stands.
func (s *scene) ready(t *testing.T, record bool) {
	t.Helper()
	if record {
		if err := s.e.Ledger.SetServing(s.e.Test, s.serving); err != nil {
			t.Fatal(err)
		}
	}
	if s.in.Config == "" {
		s.in.Config = steptest.ConfigJSON(t, s.cfg)
	}
}

// attachData gives the live instance a data volume at the config's device.
func (s *scene) attachData(t *testing.T) string {
	t.Helper()
	ec := s.e.Region.EC2()
	v, err := ec.CreateVolume(s.e.Test, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(s.e.Fixture.LiveAZ), Size: aws.Int32(20)})
	if err != nil {
		t.Fatal(err)
	}
	s.e.Region.Advance(s.e.Test, time.Minute)
	if _, err := ec.AttachVolume(s.e.Test, &ec2.AttachVolumeInput{VolumeId: v.VolumeId, InstanceId: aws.String(s.live), Device: aws.String(s.e.Fixture.DataDevice)}); err != nil {
		t.Fatal(err)
	}
	s.e.Region.Advance(s.e.Test, time.Minute)
	return aws.ToString(v.VolumeId)
}

// TestSwitchBackPrepares: with a kept instance running and the Elastic IP
// where the ledger says, the switch back takes the lock and builds the
// document: live is the instance serving now, the candidate the kept one,
// ready already. Nothing moves yet.
func TestSwitchBackPrepares(t *testing.T) {
	cases := []struct {
		name string
		opts sim.Options
		set  func(t *testing.T, s *scene) (dataVolume string)
	}{
		{name: "no data"},
		{name: "to the release asked for", set: func(t *testing.T, s *scene) string { s.in.Request.ToRelease = keptRelease; return "" }},
		{name: "move data", opts: sim.Options{DataVolume: true}, set: func(t *testing.T, s *scene) string {
			s.cfg = s.e.WithData(s.cfg, release.DataMove)
			return s.attachData(t)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScene(t, c.opts)
			e, f := s.e, s.e.Fixture
			var vol string
			if c.set != nil {
				vol = c.set(t, s)
			}
			s.ready(t, true)
			before := e.Inventory()
			d, err := s.h.Prepare(e.Ctx, s.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.ReleaseID != name || d.Kind != release.KindRollback || d.Version != "1.0.0" || d.RestoresRelease != keptRelease ||
				d.Execution != s.in.Execution || d.App != "shop" || d.Config.App != "shop" {
				t.Errorf("document %+v", d)
			}
			liveInst := e.Instance(t, s.live)
			wantLive := release.Live{InstanceID: s.live, InstanceIDs: []string{s.live}, SubnetIDs: []string{f.LiveSubnet}, SubnetID: f.LiveSubnet, AZ: f.LiveAZ, PrivateIP: aws.ToString(liveInst.PrivateIpAddress),
				AllocationID: f.AllocationID, PublicIP: f.PublicIP, ImageID: f.AMI, Version: "2.0.0", PreviousRelID: liveRelease, DataVolumeID: vol}
			if !reflect.DeepEqual(d.Live, wantLive) {
				t.Errorf("live side\n got %+v\nwant %+v", d.Live, wantLive)
			}
			if c := d.Candidate; c == nil || c.First().InstanceID != s.old || c.First().PrivateIP != f.LivePrivateIP || !c.Ready || c.ImageID != f.AMI ||
				!strings.Contains(c.Status, keptRelease) {
				t.Errorf("candidate %+v", d.Candidate)
			}
			if holder := e.Lock(t); holder != name {
				t.Errorf("lock held by %q", holder)
			}
			rec := e.Get(t, name)
			if rec.Status != ledger.StatusRunning || rec.Kind != release.KindRollback || rec.Version != "1.0.0" || rec.LiveInstance != s.live ||
				rec.CandidateInstance != s.old || rec.Reason != "checkout is broken" {
				t.Errorf("ledger record %+v", rec)
			}
			if len(rec.Timeline) != 2 || !strings.Contains(rec.Timeline[0].Detail, "by alice@example.com: checkout is broken") || rec.Timeline[1].Step != "PrepareSwitchBack" {
				t.Errorf("timeline %+v", rec.Timeline)
			}
			msgs := e.Messages("rollback-started")
			if len(msgs) != 1 || !strings.Contains(msgs[0].Body, "alice@example.com") || !strings.Contains(msgs[0].Body, s.old+" (1.0.0)") {
				t.Errorf("notifications %+v", e.Messages(""))
			}
			if holder := e.EIPHolder(t); holder != s.live {
				t.Errorf("the Elastic IP moved to %s already", holder)
			}
			if after := e.Inventory(); !slices.Equal(after, before) {
				t.Errorf("AWS changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// TestSwitchBackRefuses: with nothing to go back to, or an Elastic IP
// that is not where the ledger says, the switch back is refused with the
// error naming why; the lock is not taken, nothing is told or moved.
func TestSwitchBackRefuses(t *testing.T) {
	cases := []struct {
		name      string
		opts      sim.Options
		set       func(t *testing.T, s *scene)
		noServing bool
		// noRecord: refused before the release is recorded.
		noRecord  bool
		err, text string
		lockedBy  string
	}{
		{name: "never released", noServing: true, err: "NothingToRollBack", text: "no previous instance of shop is kept: nothing to switch back to"},
		{name: "kept instance retired", err: "NothingToRollBack", text: "no previous instance of shop is kept",
			set: func(t *testing.T, s *scene) {
				s.serving.PreviousInstance, s.serving.PreviousRelease, s.serving.PreviousVersion, s.serving.RetireAfter = "", "", "", time.Time{}
			}},
		{name: "past its retirement date", err: "NothingToRollBack", text: "was due for retirement at",
			set: func(t *testing.T, s *scene) { s.serving.RetireAfter = s.e.Region.Now().Add(-time.Minute) }},
		{name: "another release asked for", err: "NothingToRollBack", text: "runs release " + keptRelease + " (1.0.0), not shop-0-9-0-1111111111",
			set: func(t *testing.T, s *scene) { s.in.Request.ToRelease = "shop-0-9-0-1111111111" }},
		{name: "kept instance stopped", err: "NothingToRollBack", text: "is not running",
			set: func(t *testing.T, s *scene) {
				if _, err := s.e.Region.EC2().StopInstances(s.e.Test, &ec2.StopInstancesInput{InstanceIds: []string{s.old}}); err != nil {
					t.Fatal(err)
				}
				s.e.Region.Advance(s.e.Test, time.Minute)
			}},
		{name: "kept instance terminated", err: "NothingToRollBack", text: "is not running",
			set: func(t *testing.T, s *scene) {
				if _, err := s.e.Region.EC2().TerminateInstances(s.e.Test, &ec2.TerminateInstancesInput{InstanceIds: []string{s.old}}); err != nil {
					t.Fatal(err)
				}
				s.e.Region.Advance(s.e.Test, time.Minute)
			}},
		{name: "Elastic IP moved by someone", err: "ConfigMismatch", text: "but the ledger records",
			set: func(t *testing.T, s *scene) {
				s.third = s.e.Launch(t, nil)
				s.e.Region.Advance(s.e.Test, time.Minute)
				s.associate(t, s.third)
			}},
		{name: "Elastic IP already back on the kept instance", err: "ConfigMismatch", text: "someone moved it; check before rolling back",
			set: func(t *testing.T, s *scene) { s.associate(t, s.old) }},
		{name: "Elastic IP unassociated", err: "ConfigMismatch", text: `is on "" but the ledger records`,
			set: func(t *testing.T, s *scene) {
				if _, err := s.e.Region.EC2().DisassociateAddress(s.e.Test, &ec2.DisassociateAddressInput{PublicIp: aws.String(s.e.Fixture.PublicIP)}); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "live instance has no data volume", opts: sim.Options{DataVolume: true}, err: "ConfigMismatch", text: "has no data volume at /dev/sdf",
			set: func(t *testing.T, s *scene) { s.cfg = s.e.WithData(s.cfg, release.DataMove) }},
		{name: "invalid config", noRecord: true, err: "ConfigMismatch", text: "the deployed config is invalid",
			set: func(t *testing.T, s *scene) { s.in.Config = `{"app": "shop", "live": {}}` }},
		{name: "a release in progress", err: "ReleaseInProgress", text: "release " + other + " of shop is in progress", lockedBy: other,
			set: func(t *testing.T, s *scene) {
				if err := s.e.Ledger.Acquire(s.e.Test, "shop", other); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScene(t, c.opts)
			e := s.e
			if c.set != nil {
				c.set(t, s)
			}
			s.ready(t, !c.noServing)
			eip := e.EIPHolder(t)
			before := e.Inventory()
			_, err := s.h.Prepare(e.Ctx, s.in)
			if name := release.ErrorName(err); err == nil || name != c.err || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("%v, want %s saying %q", err, c.err, c.text)
			}
			if s.third != "" && (!strings.Contains(err.Error(), `is on "`+s.third+`"`) || !strings.Contains(err.Error(), s.live)) {
				t.Errorf("%v does not name where the Elastic IP is and where the ledger has it", err)
			}
			if holder := e.Lock(t); holder != c.lockedBy {
				t.Errorf("lock held by %q, want %q", holder, c.lockedBy)
			}
			if !c.noRecord {
				// The refusal is on record, for the rejection to complete.
				if rec := e.Get(t, name); rec.Status != ledger.StatusStarting || rec.Kind != release.KindRollback {
					t.Errorf("ledger record %+v", rec)
				}
			}
			if msgs := e.Messages(""); len(msgs) != 0 {
				t.Errorf("notified: %+v", msgs)
			}
			if holder := e.EIPHolder(t); holder != eip {
				t.Errorf("the Elastic IP moved from %q to %q", eip, holder)
			}
			if after := e.Inventory(); !slices.Equal(after, before) {
				t.Errorf("AWS changed:\nbefore %v\nafter  %v", before, after)
			}
			if !c.noServing {
				if got, _, _ := e.Ledger.Serving(e.Test, "shop"); got.LiveInstance != s.serving.LiveInstance || got.PreviousInstance != s.serving.PreviousInstance {
					t.Errorf("serving record changed: %+v", got)
				}
			}
		})
	}
}

// fleetScene is the state a fleet release leaves behind the ALB: the
// fixture's three instances (one per zone) live in blue at full weight,
// three instances of 1.0.0 kept in green at weight 0, registered and
// healthy, recorded as the previous side.
func fleetScene(t *testing.T) (*scene, []string) {
	t.Helper()
	e := steptest.New(t, "switchback", sim.Options{ALB: true, Zones: 3, LiveFleet: 3})
	f := e.Fixture
	cfg := e.BehindALB(e.Config())
	cfg.Fleet = release.FleetConfig{Size: 3}
	s := &scene{e: e, h: Handler{D: e.Deps}, cfg: cfg, live: f.LiveInstance}
	var kept []string
	for _, subnet := range f.Subnets {
		kept = append(kept, e.LaunchIn(t, subnet, map[string]string{release.TagApp: "shop", release.TagManaged: release.ManagedValue,
			release.TagRole: release.RolePrevious, release.TagRelease: keptRelease, release.TagVersion: "1.0.0"}))
	}
	e.Region.Advance(e.Test, time.Minute)
	for _, id := range kept {
		host := e.Region.Host(id)
		host.Install("1.0.0", keptRelease, 0)
		host.SetHealthCheck(f.AppPort, f.HealthPath)
		if err := host.StartApp(); err != nil {
			t.Fatal(err)
		}
	}
	router := e.Deps.Router(steptest.Parsed(t, cfg))
	for i := 0; ; i++ {
		h, err := router.Register(e.Test, traffic.Side{Instances: kept})
		if err != nil {
			t.Fatal(err)
		}
		if h.Ready() {
			break
		}
		if i == 40 {
			t.Fatalf("the kept side never became healthy: %+v", h)
		}
		e.Region.Advance(e.Test, 15*time.Second)
	}
	s.serving = ledger.Serving{App: "shop", LiveRelease: liveRelease, LiveVersion: "2.0.0",
		PreviousRelease: keptRelease, PreviousVersion: "1.0.0", RetireAfter: e.Region.Now().Add(7 * 24 * time.Hour)}
	s.serving.SetLive(f.LiveInstances)
	s.serving.SetPrevious(kept)
	s.in = Input{Request: Request{ReleaseID: name, App: "shop", RequestedBy: "alice@example.com", Reason: "checkout is broken"},
		Execution: steptest.ExecutionARN(f.StateMachineARN, name), Name: name, StartedAt: e.Region.Now().Format(time.RFC3339)}
	return s, kept
}

// TestSwitchBackToAFleet: with the whole kept fleet running and healthy
// in its target group, the document's candidate is every kept instance
// (in the order kept, each in its own zone) and its live side every
// instance serving now. Nothing moves yet.
func TestSwitchBackToAFleet(t *testing.T) {
	s, kept := fleetScene(t)
	e, f := s.e, s.e.Fixture
	s.ready(t, true)
	before := e.Inventory()
	d, err := s.h.Prepare(e.Ctx, s.in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Candidate.IDs(), kept) || !d.Candidate.Ready {
		t.Errorf("candidate %v, want the kept fleet %v", d.Candidate.IDs(), kept)
	}
	for i, m := range d.Candidate.Instances {
		if m.Slot != i || m.SubnetID != f.Subnets[i] || m.AZ != f.AZs[i] || m.PrivateIP == "" || !m.Ready {
			t.Errorf("member %d: %+v", i, m)
		}
	}
	if !slices.Equal(d.Live.IDs(), f.LiveInstances) || d.Live.InstanceID != f.LiveInstance || len(d.Live.SubnetIDs) != 3 || d.Live.PublicIP != f.LoadBalancerDNS {
		t.Errorf("live %+v, want the live fleet %v", d.Live, f.LiveInstances)
	}
	if rec := e.Get(t, name); rec.Status != ledger.StatusRunning || rec.CandidateInstance != kept[0] || !strings.Contains(rec.Timeline[1].Detail, kept[2]) {
		t.Errorf("ledger record %+v", rec)
	}
	if after := e.Inventory(); !slices.Equal(after, before) {
		t.Errorf("AWS changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestSwitchBackRefusesABrokenFleet: a kept fleet with one instance gone
// or unhealthy is no side to switch back to: refused, naming the
// instance and why, with nothing taken or changed.
func TestSwitchBackRefusesABrokenFleet(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(t *testing.T, e *steptest.Env, id string)
		text  string
	}{
		{"one terminated", func(t *testing.T, e *steptest.Env, id string) {
			if _, err := e.Region.EC2().TerminateInstances(e.Test, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
				t.Fatal(err)
			}
			e.Region.Advance(e.Test, time.Minute)
		}, "is terminated"},
		{"one unhealthy", func(t *testing.T, e *steptest.Env, id string) {
			e.Region.Host(id).StopApp()
			e.Region.Advance(e.Test, 2*time.Minute)
		}, "unhealthy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, kept := fleetScene(t)
			e := s.e
			c.spoil(t, e, kept[1])
			s.ready(t, true)
			before := e.Inventory()
			_, err := s.h.Prepare(e.Ctx, s.in)
			if release.ErrorName(err) != "NothingToRollBack" || !strings.Contains(err.Error(), kept[1]) || !strings.Contains(err.Error(), c.text) ||
				strings.Contains(err.Error(), kept[0]) || strings.Contains(err.Error(), kept[2]) {
				t.Fatalf("%v, want NothingToRollBack naming %s (%s) and only it", err, kept[1], c.text)
			}
			t.Logf("refused: %v", err)
			if holder := e.Lock(t); holder != "" {
				t.Errorf("lock held by %q", holder)
			}
			if msgs := e.Messages(""); len(msgs) != 0 {
				t.Errorf("notified: %+v", msgs)
			}
			if after := e.Inventory(); !slices.Equal(after, before) {
				t.Errorf("AWS changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}
