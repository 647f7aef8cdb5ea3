package localrun

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
)

func exampleConfig(t *testing.T, name string) release.Config {
	t.Helper()
	tc, err := FindToolchain()
	if err != nil {
		t.Fatal(err)
	}
	c, err := release.LoadConfig(filepath.Join(tc.Root, name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pointed is a config as Start points it at a simulated region built for
// it, validated again.
func pointed(t *testing.T, c release.Config, mode string) (release.Config, sim.Fixture, error) {
	t.Helper()
	c, err := withTraffic(c, mode)
	if err != nil {
		t.Fatal(err)
	}
	alarms := localAlarms(c)
	r := sim.NewTest(t, sim.Options{Region: Region, Account: Account, ALB: c.UsesALB(),
		ALBRule: c.Traffic.ALB != nil && c.Traffic.ALB.RuleARN != "", Alarms: alarms})
	out, err := revalidate(pointAtRegion(c, r.Fixture(), alarms))
	return out, r.Fixture(), err
}

// In alb mode the config names the simulated load balancer, its region
// and alarms, and no Elastic IP, and it validates; the operator's traffic
// settings stay. In elasticIp mode it names the Elastic IP.
func TestPointAtRegionByTrafficMode(t *testing.T) {
	eip := exampleConfig(t, "greenlight.example.json")
	c, f, err := pointed(t, eip, "")
	if err != nil || c.Live.ElasticIPAllocationID != f.AllocationID || c.Traffic.ALB != nil {
		t.Fatalf("the Elastic IP example: %v, live %+v, traffic %+v", err, c.Live, c.Traffic)
	}

	eip.Region = "us-east-1"
	c, f, err = pointed(t, eip, release.TrafficALB)
	if err != nil {
		t.Fatalf("the Elastic IP example in alb mode: %v", err)
	}
	want := release.ALBConfig{ListenerARN: f.ListenerARN, TargetGroupARNs: f.TargetGroupARNs[:]}
	if !c.UsesALB() || c.Live.ElasticIPAllocationID != "" || c.Region != Region || c.Traffic.ALB.ListenerARN != want.ListenerARN ||
		!slices.Equal(c.Traffic.ALB.TargetGroupARNs, want.TargetGroupARNs) || !slices.Equal(c.Traffic.Alarms, []string{"shop-5xx"}) {
		t.Fatalf("in alb mode: region %s, live %+v, traffic %+v", c.Region, c.Live, c.Traffic)
	}

	alb := exampleConfig(t, "greenlight.alb.example.json")
	alb.Traffic.ALB.RuleARN = strings.Replace(alb.Traffic.ALB.ListenerARN, ":listener/", ":listener-rule/", 1) + "/9683b2d02a6cabee"
	c, f, err = pointed(t, alb, "")
	if err != nil {
		t.Fatalf("the ALB example: %v", err)
	}
	if c.Traffic.ALB.RuleARN != f.RuleARN || !slices.Equal(c.Traffic.Steps, alb.Traffic.Steps) || c.Traffic.StepBake != alb.Traffic.StepBake ||
		!slices.Equal(c.Traffic.Alarms, alb.Traffic.Alarms) {
		t.Fatalf("the ALB example's traffic became %+v, want its rule pointed at %s and its steps, bake and alarms kept", c.Traffic, f.RuleARN)
	}

	c, f, err = pointed(t, alb, release.TrafficElasticIP)
	if err != nil || c.UsesALB() || c.Live.ElasticIPAllocationID != f.AllocationID {
		t.Fatalf("the ALB example in elasticIp mode: %v, live %+v, traffic %+v", err, c.Live, c.Traffic)
	}
	if _, err := withTraffic(alb, "nlb"); err == nil {
		t.Error("an unknown traffic mode was taken")
	}
}

// serveGreen launches an instance serving version in the green target
// group and sets the listener's weights.
func serveGreen(t *testing.T, e *Env, version string, blue, green, stickySeconds int32) string {
	t.Helper()
	ctx := sim.WithCaller(context.Background(), "test")
	f := e.Fixture
	out, err := e.Region.EC2().RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		InstanceType: ec2types.InstanceTypeT4gSmall, SubnetId: aws.String(f.LiveSubnet)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	lat := e.Region.Latencies()
	e.Region.Advance(ctx, lat.PendingToRunning+lat.OSBoot)
	h := e.Region.Host(id)
	h.Install(version, "test", 0)
	h.SetHealthCheck(f.AppPort, f.HealthPath)
	if err := h.StartApp(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Region.ELB().RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(f.TargetGroupARNs[1]),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(id)}}}); err != nil {
		t.Fatal(err)
	}
	setWeights(t, e, blue, green, stickySeconds)
	e.Region.Advance(ctx, lat.TargetRegistration)
	return id
}

func setWeights(t *testing.T, e *Env, blue, green, stickySeconds int32) {
	t.Helper()
	ctx := sim.WithCaller(context.Background(), "test")
	fc := &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{
		{TargetGroupArn: aws.String(e.Fixture.TargetGroupARNs[0]), Weight: aws.Int32(blue)},
		{TargetGroupArn: aws.String(e.Fixture.TargetGroupARNs[1]), Weight: aws.Int32(green)},
	}}
	if stickySeconds > 0 {
		fc.TargetGroupStickinessConfig = &elbtypes.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(stickySeconds)}
	}
	if _, err := e.Region.ELB().ModifyListener(ctx, &elb.ModifyListenerInput{ListenerArn: aws.String(e.Fixture.ListenerARN),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: fc}}}); err != nil {
		t.Fatal(err)
	}
	e.Region.Advance(ctx, e.Region.Latencies().ListenerUpdate)
}

// usersFor lets simulated time pass as a running release would, so the
// users make their requests.
func usersFor(e *Env, d time.Duration) {
	_ = e.sched.SleepIn(context.Background(), d)
}

// In alb mode the users make one request a simulated second through the
// load balancer, as sessions that keep their cookies, counted by outcome
// and by the version that answered; the alarms exist, in OK.
func TestUsersGoThroughTheLoadBalancer(t *testing.T) {
	e := NewTestEnv(t, Options{Traffic: release.TrafficALB}, nil)
	ctx := sim.WithCaller(context.Background(), "test")
	alarms, err := e.Region.CloudWatch().DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: e.Config.Traffic.Alarms})
	if err != nil || len(alarms.MetricAlarms) != 1 || alarms.MetricAlarms[0].StateValue != cwtypes.StateValueOk {
		t.Fatalf("the local run's alarms %v: %+v, %v; want one, OK", e.Config.Traffic.Alarms, alarms, err)
	}
	if e.live() != e.Fixture.LiveInstance || !e.liveServing() {
		t.Fatalf("live %s serving %v, want the fixture's live instance, answering through the load balancer", e.live(), e.liveServing())
	}

	cand := serveGreen(t, e, "2.0.0", 50, 50, 3600)
	usersFor(e, 100*time.Second)
	got := e.ALBRequests()
	if got.Requests != 100 || got.OK != 100 || got.ByVersion["1.0.0"]+got.ByVersion["2.0.0"] != 100 {
		t.Fatalf("100 s of users at 50/50: %+v", got)
	}
	// Five sessions took turns, twenty requests each, each kept on its
	// side by its cookie.
	if got.ByVersion["2.0.0"]%(100/userSessions) != 0 {
		t.Fatalf("the sessions did not stay on their sides: %v", got.ByVersion)
	}

	setWeights(t, e, 0, 100, 0)
	if e.live() != cand {
		t.Fatalf("with all traffic on green the live instance is %s, want %s", e.live(), cand)
	}
	e.Region.Host(cand).SetFailing(true)
	usersFor(e, 10*time.Second)
	if got := e.ALBRequests(); got.Requests != 110 || got.Failed != 10 {
		t.Fatalf("10 s on a failing version: %+v", got)
	}
}

// In alb mode with a data volume every user's request is a write, stored
// by the instance the load balancer chose: none is lost, and a refused
// one is counted as such.
func TestUsersWriteThroughTheLoadBalancer(t *testing.T) {
	e := NewTestEnv(t, Options{Traffic: release.TrafficALB}, func(c *release.Config) {
		c.Data = release.DataConfig{Mode: release.DataRestore, Device: "/dev/sdf", MountPoint: "/var/lib/shop", SnapshotMaxAge: release.Duration(time.Hour)}
	})
	usersFor(e, 20*time.Second)
	e.Region.Host(e.Fixture.LiveInstance).SetMaintenance(true)
	usersFor(e, 5*time.Second)
	w := e.Writes()
	if w.Accepted != 20 || w.Refused != 5 || w.Lost != 0 || w.LiveVolume != e.Fixture.DataVolume {
		t.Fatalf("writes %+v: want 20 accepted on %s, 5 refused, none lost", w, e.Fixture.DataVolume)
	}
	if got := e.ALBRequests(); got.Requests != 25 || got.OK != 20 {
		t.Fatalf("requests %+v", got)
	}
}

// --fault alarm raises the first alarm before the step runs, and applies
// in alb mode only.
func TestAlarmFault(t *testing.T) {
	e := NewTestEnv(t, Options{Traffic: release.TrafficALB}, nil)
	f := &Fault{State: release.StateDeployRelease, Kind: FaultAlarm}
	if err := f.Check(e.Machine(), e.Config); err != nil {
		t.Fatalf("in alb mode: %v", err)
	}
	eip := e.Config
	eip.Traffic = release.TrafficConfig{Mode: release.TrafficElasticIP}
	if err := f.Check(e.Machine(), eip); err == nil || !strings.Contains(err.Error(), "--traffic alb") {
		t.Fatalf("in elasticIp mode: %v, want a refusal naming --traffic alb", err)
	}
	name := e.Config.Traffic.Alarms[0]
	var seen cwtypes.StateValue
	_, err := f.apply(context.Background(), e, Invocation{State: f.State}, func(ctx context.Context) ([]byte, error) {
		out, err := e.Region.CloudWatch().DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{name}})
		if err != nil {
			return nil, err
		}
		seen = out.MetricAlarms[0].StateValue
		return nil, nil
	})
	if err != nil || seen != cwtypes.StateValueAlarm {
		t.Fatalf("the step saw %s (%v), want %s in ALARM", seen, err, name)
	}
	if Transient(FaultAlarm) || !slices.Contains(FaultKinds, FaultAlarm) {
		t.Error("the alarm fault must be listed and hard")
	}
}

// TestExpectedReplacesAnImpairedCandidate: an impaired candidate is a hard
// fault only when no replacement is allowed, or when it strikes after the
// candidate was ready.
func TestExpectedReplacesAnImpairedCandidate(t *testing.T) {
	zero := 0
	for _, c := range []struct {
		state   string
		replace *int
		want    string
	}{
		{release.StateCheckCandidate, nil, release.Released},
		{release.StateLaunchCandidate, nil, release.Released},
		{release.StateCheckCandidate, &zero, release.RolledBack},
		{release.StateDeployRelease, nil, release.RolledBack},
	} {
		cfg := release.Config{Fleet: release.FleetConfig{ReplaceUnhealthy: c.replace}}
		if got := Expected(ApproveAuto, &Fault{State: c.state, Kind: FaultImpaired}, cfg); got != c.want {
			t.Errorf("impaired at %s, replaceUnhealthy %v: %s, want %s", c.state, c.replace, got, c.want)
		}
	}
	// A zone without capacity: a fleet launches in the others; one
	// instance has no other subnet.
	noCapacity := &Fault{State: release.StateLaunchCandidate, Kind: FaultNoCapacity}
	if got := Expected(ApproveAuto, noCapacity, release.Config{Fleet: release.FleetConfig{Size: 3}}); got != release.Released {
		t.Errorf("no capacity for a fleet: %s, want Released", got)
	}
	if got := Expected(ApproveAuto, noCapacity, release.Config{}); got != release.RolledBack {
		t.Errorf("no capacity for one instance: %s, want RolledBack", got)
	}
}
