package traffic

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/greenlight/greenlight/harness/sim"
)

// albWorld is the simulated region with the app live behind an ALB (the
// live instance in the first target group at full weight), a candidate
// running and not yet registered, and the app's router.
type albWorld struct {
	r    *sim.Region
	f    sim.Fixture
	cand string
	alb  Router
	ctx  context.Context
}

func newALBWorld(t *testing.T, rule bool) albWorld {
	t.Helper()
	r := sim.NewTest(t, sim.Options{ALB: true, ALBRule: rule})
	f := r.Fixture()
	ctx := context.Background()
	out, err := r.EC2().RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.AMI), InstanceType: "t4g.small",
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(f.LiveSubnet)})
	if err != nil {
		t.Fatal(err)
	}
	r.Advance(ctx, time.Minute)
	front := Front{ListenerARN: f.ListenerARN, TargetGroupARNs: f.TargetGroupARNs, Stickiness: time.Hour}
	if rule {
		front.RuleARN = f.RuleARN
	}
	return albWorld{r: r, f: f, cand: aws.ToString(out.Instances[0].InstanceId), alb: For(r.Clients(), front), ctx: ctx}
}

func (w albWorld) register(t *testing.T, group int, id string) {
	t.Helper()
	if _, err := w.r.ELB().RegisterTargets(w.ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(w.f.TargetGroupARNs[group]),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(id)}}}); err != nil {
		t.Fatal(err)
	}
}

// forwarding is what the managed action says now, by target group.
func (w albWorld) forwarding(t *testing.T, rule bool) (map[string]int32, *elbtypes.TargetGroupStickinessConfig) {
	t.Helper()
	var actions []elbtypes.Action
	if rule {
		out, err := w.r.ELB().DescribeRules(w.ctx, &elb.DescribeRulesInput{RuleArns: []string{w.f.RuleARN}})
		if err != nil {
			t.Fatal(err)
		}
		actions = out.Rules[0].Actions
	} else {
		out, err := w.r.ELB().DescribeListeners(w.ctx, &elb.DescribeListenersInput{ListenerArns: []string{w.f.ListenerARN}})
		if err != nil {
			t.Fatal(err)
		}
		actions = out.Listeners[0].DefaultActions
	}
	weights := map[string]int32{}
	for _, a := range actions {
		if a.ForwardConfig == nil {
			continue
		}
		for _, g := range a.ForwardConfig.TargetGroups {
			weights[aws.ToString(g.TargetGroupArn)] = aws.ToInt32(g.Weight)
		}
		return weights, a.ForwardConfig.TargetGroupStickinessConfig
	}
	return weights, nil
}

// TestALBSplit: the live side is the first group's instances at full
// weight, behind the load balancer's DNS name.
func TestALBSplit(t *testing.T) {
	w := newALBWorld(t, false)
	sp, err := w.alb.Split(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Front != w.f.LoadBalancerDNS || len(sp.Sides) != 1 || sp.Serving().String() != w.f.LiveInstance || sp.Total() != 100 {
		t.Errorf("split %+v, want all of %s to %s", sp, w.f.LoadBalancerDNS, w.f.LiveInstance)
	}
}

// TestALBShiftsInWeightedStickySteps: a registered side gets weight
// percent and the other side the rest, with group stickiness for the
// configured duration; the same shift again changes nothing; at 100 the
// side serves alone.
func TestALBShiftsInWeightedStickySteps(t *testing.T) {
	for _, rule := range []bool{false, true} {
		name := "listener"
		if rule {
			name = "rule"
		}
		t.Run(name, func(t *testing.T) {
			w := newALBWorld(t, rule)
			blue, green := w.f.TargetGroupARNs[0], w.f.TargetGroupARNs[1]
			if _, err := w.alb.Shift(w.ctx, One(w.cand), 5); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "register it") {
				t.Fatalf("shift to an unregistered side: %v, want ErrUnsupported saying to register it", err)
			}
			w.register(t, 1, w.cand)
			mv, err := w.alb.Shift(w.ctx, One(w.cand), 5)
			if err != nil || !mv.Changed || mv.From.String() != w.f.LiveInstance || mv.Weight != 5 {
				t.Fatalf("shift 5 %%: %+v %v", mv, err)
			}
			weights, sticky := w.forwarding(t, rule)
			if weights[blue] != 95 || weights[green] != 5 {
				t.Errorf("weights %v, want blue 95, green 5", weights)
			}
			if sticky == nil || !aws.ToBool(sticky.Enabled) || aws.ToInt32(sticky.DurationSeconds) != 3600 {
				t.Errorf("stickiness %+v, want on for 3600 s", sticky)
			}
			sp, err := w.alb.Split(w.ctx)
			if err != nil || sp.Weight(w.f.LiveInstance) != 95 || sp.Weight(w.cand) != 5 || sp.Serving().String() != w.f.LiveInstance {
				t.Errorf("split %+v %v, want 95 live / 5 candidate", sp, err)
			}
			if mv, err := w.alb.Shift(w.ctx, One(w.cand), 5); err != nil || mv.Changed {
				t.Errorf("the same shift again: %+v %v, want no change", mv, err)
			}
			if _, err := w.alb.Shift(w.ctx, One(w.cand), 100); err != nil {
				t.Fatal(err)
			}
			sp, err = w.alb.Split(w.ctx)
			if err != nil || len(sp.Sides) != 1 || sp.Serving().String() != w.cand || sp.Weight(w.f.LiveInstance) != 0 {
				t.Errorf("split after 100 %%: %+v %v, want the candidate alone", sp, err)
			}
			// At 100 % stickiness is off: a cookie for the old side would
			// otherwise keep its users there.
			if _, sticky := w.forwarding(t, rule); sticky == nil || aws.ToBool(sticky.Enabled) {
				t.Errorf("stickiness at 100 %%: %+v, want off", sticky)
			}
			// Back: the weights return to the first group, whose instance
			// stayed registered.
			if _, err := w.alb.Shift(w.ctx, One(w.f.LiveInstance), 100); err != nil {
				t.Fatal(err)
			}
			if weights, _ := w.forwarding(t, rule); weights[blue] != 100 || weights[green] != 0 {
				t.Errorf("weights after shifting back %v, want blue 100", weights)
			}
		})
	}
}

// TestALBServes: an instance registered in any target group serves (the
// retire step must not terminate it); one registered nowhere does not.
func TestALBServes(t *testing.T) {
	w := newALBWorld(t, false)
	if ok, how, err := w.alb.Serves(w.ctx, w.f.LiveInstance); err != nil || !ok || !strings.Contains(how, "target group") {
		t.Errorf("the live instance: %v %q %v, want serving through its target group", ok, how, err)
	}
	if ok, _, err := w.alb.Serves(w.ctx, w.cand); err != nil || ok {
		t.Errorf("an unregistered instance: %v %v, want not serving", ok, err)
	}
}

// TestALBMissingListener: a listener that does not exist is NotFound,
// naming the call.
func TestALBMissingListener(t *testing.T) {
	w := newALBWorld(t, false)
	gone := For(w.r.Clients(), Front{ListenerARN: w.f.ListenerARN + "0", TargetGroupARNs: w.f.TargetGroupARNs})
	_, err := gone.Split(w.ctx)
	var nf NotFound
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "elasticloadbalancing:DescribeListeners") {
		t.Errorf("%v, want NotFound from DescribeListeners", err)
	}
}

// TestALBRegisterAndDeregister: the candidate goes into the group without
// weight, replacing an older kept instance there; it is healthy after its
// first health check; a side with weight cannot be deregistered; a
// deregistered side is gone only once it has drained.
func TestALBRegisterAndDeregister(t *testing.T) {
	w := newALBWorld(t, false)
	green := w.f.TargetGroupARNs[1]
	// An older kept instance sits in the idle group.
	old, err := w.r.EC2().RunInstances(w.ctx, &ec2.RunInstancesInput{ImageId: aws.String(w.f.AMI), InstanceType: "t4g.small",
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(w.f.LiveSubnet)})
	if err != nil {
		t.Fatal(err)
	}
	w.r.Advance(w.ctx, time.Minute)
	oldID := aws.ToString(old.Instances[0].InstanceId)
	host := w.r.Host(w.cand)
	host.Install("2.0.0", "r-2", 0)
	host.SetHealthCheck(w.f.AppPort, w.f.HealthPath)
	if err := host.StartApp(); err != nil {
		t.Fatal(err)
	}
	w.register(t, 1, oldID)

	h, err := w.alb.Register(w.ctx, One(w.cand))
	if err != nil || h.Group != green || h.Ready() || !strings.Contains(h.Unhealthy[w.cand], "initial") {
		t.Fatalf("first register: %+v %v, want green, initial", h, err)
	}
	if ids := registeredIn(t, w, green); len(ids) != 1 || ids[0] != w.cand {
		t.Errorf("green holds %v, want only the candidate (the older kept instance taken out)", ids)
	}
	w.r.Advance(w.ctx, 45*time.Second)
	if h, err = w.alb.Register(w.ctx, One(w.cand)); err != nil || !h.Ready() || h.Group != green {
		t.Errorf("after a health check interval: %+v %v, want healthy in green", h, err)
	}
	if _, err := w.alb.Register(w.ctx, One(w.f.LiveInstance)); err != nil {
		t.Errorf("registering the live side where it is: %v", err)
	}
	if _, err := w.alb.Shift(w.ctx, One(w.cand), 25); err != nil {
		t.Fatal(err)
	}
	if _, err := w.alb.Deregister(w.ctx, One(w.cand)); !errors.Is(err, ErrServing) {
		t.Errorf("deregistering a side at 25 %%: %v, want ErrServing", err)
	}
	if _, err := w.alb.Shift(w.ctx, One(w.f.LiveInstance), 100); err != nil {
		t.Fatal(err)
	}
	if gone, err := w.alb.Deregister(w.ctx, One(w.cand)); err != nil || gone {
		t.Fatalf("deregister: gone %v %v, want under way", gone, err)
	}
	w.r.Advance(w.ctx, time.Minute)
	if gone, err := w.alb.Deregister(w.ctx, One(w.cand)); err != nil || gone {
		t.Errorf("a minute later: gone %v %v, want still draining (300 s delay)", gone, err)
	}
	w.r.Advance(w.ctx, 5*time.Minute)
	if gone, err := w.alb.Deregister(w.ctx, One(w.cand)); err != nil || !gone {
		t.Errorf("after the deregistration delay: gone %v %v, want gone", gone, err)
	}
}

func registeredIn(t *testing.T, w albWorld, group string) []string {
	t.Helper()
	out, err := w.r.ELB().DescribeTargetHealth(w.ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(group)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range out.TargetHealthDescriptions {
		if d.TargetHealth.State != elbtypes.TargetHealthStateEnumDraining {
			ids = append(ids, aws.ToString(d.Target.Id))
		}
	}
	return ids
}

// TestALBRegisterBehindASingleGroupForward: a listener forwarding to the
// live group alone (the usual setup before greenlight) gets the idle group
// at weight 0, so its targets are health-checked, and the candidate turns
// healthy; users' routes do not change.
func TestALBRegisterBehindASingleGroupForward(t *testing.T) {
	w := newALBWorld(t, false)
	blue, green := w.f.TargetGroupARNs[0], w.f.TargetGroupARNs[1]
	if _, err := w.r.ELB().ModifyListener(w.ctx, &elb.ModifyListenerInput{ListenerArn: aws.String(w.f.ListenerARN),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(blue)}}}); err != nil {
		t.Fatal(err)
	}
	w.r.Advance(w.ctx, 10*time.Second)
	host := w.r.Host(w.cand)
	host.Install("2.0.0", "r-2", 0)
	host.SetHealthCheck(w.f.AppPort, w.f.HealthPath)
	if err := host.StartApp(); err != nil {
		t.Fatal(err)
	}
	if h, err := w.alb.Register(w.ctx, One(w.cand)); err != nil || h.Group != green {
		t.Fatalf("register: %+v %v, want green", h, err)
	}
	if weights, _ := w.forwarding(t, false); weights[blue] != 100 || weights[green] != 0 || len(weights) != 2 {
		t.Errorf("weights %v, want blue 100 and green listed at 0", weights)
	}
	w.r.Advance(w.ctx, 45*time.Second)
	if h, err := w.alb.Register(w.ctx, One(w.cand)); err != nil || !h.Ready() {
		t.Errorf("after a health check interval: %+v %v, want healthy", h, err)
	}
}
