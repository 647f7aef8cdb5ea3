package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

// targetHealth returns one target's health as DescribeTargetHealth reports it.
func targetHealth(t *testing.T, r *Region, group, id string) elbtypes.TargetHealth {
	t.Helper()
	out, err := r.ELB().DescribeTargetHealth(testCtx(), &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(group),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(id)}}})
	if err != nil {
		t.Fatalf("DescribeTargetHealth: %v", err)
	}
	return *out.TargetHealthDescriptions[0].TargetHealth
}

func wantHealth(t *testing.T, r *Region, group, id string, state elbtypes.TargetHealthStateEnum, reason elbtypes.TargetHealthReasonEnum) {
	t.Helper()
	h := targetHealth(t, r, group, id)
	if h.State != state || h.Reason != reason {
		t.Fatalf("at %s target %s is %s (%s: %s), want %s (%s)", r.Now().Format(time.TimeOnly), id, h.State, h.Reason, aws.ToString(h.Description), state, reason)
	}
}

// serving launches an instance whose app answers the health check.
func serving(t *testing.T, r *Region) string {
	t.Helper()
	id := boot(t, r, r.Fixture().LiveAZ)
	h := r.Host(id)
	h.Install("2.0.0", "rel-2", 0)
	h.SetHealthCheck(r.Fixture().AppPort, r.Fixture().HealthPath)
	if err := h.StartApp(); err != nil {
		t.Fatal(err)
	}
	return id
}

func register(t *testing.T, r *Region, group string, ids ...string) error {
	t.Helper()
	in := &elb.RegisterTargetsInput{TargetGroupArn: aws.String(group)}
	for _, id := range ids {
		in.Targets = append(in.Targets, elbtypes.TargetDescription{Id: aws.String(id)})
	}
	_, err := r.ELB().RegisterTargets(testCtx(), in)
	return err
}

// weighted is a forward action splitting traffic between blue and green.
func weighted(f Fixture, blue, green int32, stickySeconds int32) []elbtypes.Action {
	fc := &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{
		{TargetGroupArn: aws.String(f.TargetGroupARNs[0]), Weight: aws.Int32(blue)},
		{TargetGroupArn: aws.String(f.TargetGroupARNs[1]), Weight: aws.Int32(green)},
	}}
	if stickySeconds > 0 {
		fc.TargetGroupStickinessConfig = &elbtypes.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(stickySeconds)}
	}
	return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: fc}}
}

func shift(t *testing.T, r *Region, actions []elbtypes.Action) {
	t.Helper()
	if _, err := r.ELB().ModifyListener(testCtx(), &elb.ModifyListenerInput{ListenerArn: aws.String(r.Fixture().ListenerARN), DefaultActions: actions}); err != nil {
		t.Fatalf("ModifyListener: %v", err)
	}
}

func listenerWeights(t *testing.T, r *Region) map[string]int32 {
	t.Helper()
	out, err := r.ELB().DescribeListeners(testCtx(), &elb.DescribeListenersInput{ListenerArns: []string{r.Fixture().ListenerARN}})
	if err != nil {
		t.Fatalf("DescribeListeners: %v", err)
	}
	w := map[string]int32{}
	for _, g := range out.Listeners[0].DefaultActions[0].ForwardConfig.TargetGroups {
		w[aws.ToString(g.TargetGroupArn)] = aws.ToInt32(g.Weight)
	}
	return w
}

func TestALBFixture(t *testing.T) {
	if f := NewTest(t, Options{}).Fixture(); f.LoadBalancerARN != "" {
		t.Fatalf("a load balancer without Options.ALB: %s", f.LoadBalancerARN)
	}
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	c := r.ELB()

	lbs, err := c.DescribeLoadBalancers(testCtx(), &elb.DescribeLoadBalancersInput{})
	wantCode(t, err, "")
	if len(lbs.LoadBalancers) != 1 || aws.ToString(lbs.LoadBalancers[0].DNSName) != f.LoadBalancerDNS ||
		!strings.HasSuffix(f.LoadBalancerDNS, ".eu-west-1.elb.amazonaws.com") || lbs.LoadBalancers[0].Type != elbtypes.LoadBalancerTypeEnumApplication {
		t.Fatalf("load balancers %+v, fixture DNS %s", lbs.LoadBalancers, f.LoadBalancerDNS)
	}
	ls, err := c.DescribeListeners(testCtx(), &elb.DescribeListenersInput{LoadBalancerArn: aws.String(f.LoadBalancerARN)})
	wantCode(t, err, "")
	if len(ls.Listeners) != 1 || aws.ToString(ls.Listeners[0].ListenerArn) != f.ListenerARN || aws.ToInt32(ls.Listeners[0].Port) != 80 || ls.Listeners[0].Protocol != elbtypes.ProtocolEnumHttp {
		t.Fatalf("listeners %+v", ls.Listeners)
	}
	fc := ls.Listeners[0].DefaultActions[0].ForwardConfig
	if w := listenerWeights(t, r); w[f.TargetGroupARNs[0]] != 100 || w[f.TargetGroupARNs[1]] != 0 || aws.ToBool(fc.TargetGroupStickinessConfig.Enabled) {
		t.Fatalf("default action weights %v, stickiness %v: want blue 100, green 0, off", w, aws.ToBool(fc.TargetGroupStickinessConfig.Enabled))
	}

	tgs, err := c.DescribeTargetGroups(testCtx(), &elb.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(f.LoadBalancerARN)})
	wantCode(t, err, "")
	if len(tgs.TargetGroups) != 2 {
		t.Fatalf("%d target groups", len(tgs.TargetGroups))
	}
	for n, g := range tgs.TargetGroups {
		if aws.ToString(g.TargetGroupArn) != f.TargetGroupARNs[n] || aws.ToInt32(g.Port) != int32(f.AppPort) || aws.ToString(g.HealthCheckPath) != f.HealthPath ||
			aws.ToInt32(g.HealthCheckIntervalSeconds) != 30 || aws.ToInt32(g.HealthyThresholdCount) != 5 || aws.ToInt32(g.UnhealthyThresholdCount) != 2 {
			t.Errorf("target group %d: %+v", n, g)
		}
	}
	attrs, err := c.DescribeTargetGroupAttributes(testCtx(), &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(f.TargetGroupARNs[1])})
	wantCode(t, err, "")
	found := false
	for _, a := range attrs.Attributes {
		found = found || (aws.ToString(a.Key) == "deregistration_delay.timeout_seconds" && aws.ToString(a.Value) == "300")
	}
	if !found {
		t.Errorf("attributes %v: no deregistration delay of 300 s", attrs.Attributes)
	}

	wantHealth(t, r, f.TargetGroupARNs[0], f.LiveInstance, healthHealthy, "")
	green, err := c.DescribeTargetHealth(testCtx(), &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(f.TargetGroupARNs[1])})
	wantCode(t, err, "")
	if len(green.TargetHealthDescriptions) != 0 {
		t.Errorf("green has targets: %+v", green.TargetHealthDescriptions)
	}
	if route := r.ALBTargetFor(f.ListenerARN, ""); route.InstanceID != f.LiveInstance || route.TargetGroupARN != f.TargetGroupARNs[0] || route.Cookie != "" {
		t.Errorf("a request goes to %+v, want the live instance in blue, no cookie", route)
	}
	_, err = c.DescribeTargetGroups(testCtx(), &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{f.TargetGroupARNs[0] + "0"}})
	wantCode(t, err, "TargetGroupNotFound")
}

// A forward action is checked as AWS checks it; a refused change leaves
// the listener as it was.
func TestForwardActionValidation(t *testing.T) {
	r := NewTest(t, Options{ALB: true, ALBRule: true})
	f := r.Fixture()
	c := r.ELB()
	modify := func(actions []elbtypes.Action) error {
		_, err := c.ModifyListener(testCtx(), &elb.ModifyListenerInput{ListenerArn: aws.String(f.ListenerARN), DefaultActions: actions})
		return err
	}
	sticky := func(enabled bool, seconds *int32) []elbtypes.Action {
		a := weighted(f, 50, 50, 0)
		a[0].ForwardConfig.TargetGroupStickinessConfig = &elbtypes.TargetGroupStickinessConfig{Enabled: aws.Bool(enabled), DurationSeconds: seconds}
		return a
	}
	noWeight := weighted(f, 1, 1, 0)
	noWeight[0].ForwardConfig.TargetGroups[1].Weight = nil
	unknown := weighted(f, 1, 1, 0)
	unknown[0].ForwardConfig.TargetGroups[1].TargetGroupArn = aws.String(f.TargetGroupARNs[1][:len(f.TargetGroupARNs[1])-1] + "x")
	for _, c := range []struct {
		name    string
		actions []elbtypes.Action
		code    string
	}{
		{"weight above 999", weighted(f, 1000, 0, 0), "ValidationError"},
		{"negative weight", weighted(f, -1, 100, 0), "ValidationError"},
		{"no weight with two groups", noWeight, "ValidationError"},
		{"stickiness of 0 s", sticky(true, aws.Int32(0)), "ValidationError"},
		{"stickiness over 7 days", sticky(true, aws.Int32(604801)), "ValidationError"},
		{"stickiness without a duration", sticky(true, nil), "ValidationError"},
		{"unknown target group", unknown, "TargetGroupNotFound"},
		{"no action", []elbtypes.Action{}, "ValidationError"},
		{"stickiness of 7 days", sticky(true, aws.Int32(604800)), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := listenerWeights(t, r)
			err := modify(c.actions)
			wantCode(t, err, c.code)
			if c.code != "" && listenerWeights(t, r)[f.TargetGroupARNs[0]] != before[f.TargetGroupARNs[0]] {
				t.Error("a refused change changed the listener")
			}
		})
	}
	_, err := c.ModifyListener(testCtx(), &elb.ModifyListenerInput{ListenerArn: aws.String(f.ListenerARN + "0"), DefaultActions: weighted(f, 1, 1, 0)})
	wantCode(t, err, "ListenerNotFound")
	_, err = c.ModifyRule(testCtx(), &elb.ModifyRuleInput{RuleArn: aws.String(f.RuleARN + "0"), Actions: weighted(f, 1, 1, 0)})
	wantCode(t, err, "RuleNotFound")
	_, err = c.ModifyRule(testCtx(), &elb.ModifyRuleInput{RuleArn: aws.String(f.RuleARN), Actions: weighted(f, 1, 1000, 0)})
	wantCode(t, err, "ValidationError")

	rules, err := c.DescribeRules(testCtx(), &elb.DescribeRulesInput{ListenerArn: aws.String(f.ListenerARN)})
	wantCode(t, err, "")
	if len(rules.Rules) != 2 || !aws.ToBool(rules.Rules[1].IsDefault) || aws.ToString(rules.Rules[1].Priority) != "default" {
		t.Fatalf("rules %+v: want the fixture's rule, then the default rule", rules.Rules)
	}
	_, err = c.ModifyRule(testCtx(), &elb.ModifyRuleInput{RuleArn: rules.Rules[1].RuleArn, Actions: weighted(f, 0, 100, 0)})
	wantCode(t, err, "OperationNotPermitted")
}

// Describe* show a new forward action at once; traffic follows it only
// Latencies.ListenerUpdate later.
func TestWeightsTakeEffectAfterPropagation(t *testing.T) {
	r := NewTest(t, Options{ALB: true, ALBRule: true})
	f := r.Fixture()
	blue, green := f.TargetGroupARNs[0], f.TargetGroupARNs[1]
	shift(t, r, weighted(f, 0, 100, 0))
	if w := listenerWeights(t, r); w[green] != 100 || w[blue] != 0 {
		t.Fatalf("DescribeListeners right after the change: %v", w)
	}
	if got := r.ALBTargetFor(f.ListenerARN, "").TargetGroupARN; got != blue {
		t.Fatalf("traffic at once goes to %s, want still blue", got)
	}
	r.Advance(testCtx(), r.Latencies().ListenerUpdate-time.Second)
	if got := r.ALBTargetFor(f.ListenerARN, "").TargetGroupARN; got != blue {
		t.Fatalf("traffic before the propagation delay goes to %s, want blue", got)
	}
	r.Advance(testCtx(), time.Second)
	if route := r.ALBTargetFor(f.ListenerARN, ""); route.TargetGroupARN != green || route.InstanceID != "" {
		t.Fatalf("traffic after the delay: %+v, want green, no target (green is empty)", route)
	}
	// The rule keeps its own action, and follows its own change.
	if got := r.ALBTargetFor(f.RuleARN, "").TargetGroupARN; got != blue {
		t.Fatalf("the rule's traffic goes to %s, want blue", got)
	}
	out, err := r.ELB().ModifyRule(testCtx(), &elb.ModifyRuleInput{RuleArn: aws.String(f.RuleARN), Actions: weighted(f, 0, 1, 0)})
	wantCode(t, err, "")
	if got := out.Rules[0].Actions[0].ForwardConfig.TargetGroups[1]; aws.ToInt32(got.Weight) != 1 || len(out.Rules[0].Conditions) != 1 {
		t.Fatalf("ModifyRule answered %+v", out.Rules[0])
	}
	if got := r.ALBTargetFor(f.RuleARN, "").TargetGroupARN; got != blue {
		t.Fatalf("the rule's traffic right after its change goes to %s, want still blue", got)
	}
	r.Advance(testCtx(), r.Latencies().ListenerUpdate)
	if got := r.ALBTargetFor(f.RuleARN, "").TargetGroupARN; got != green {
		t.Fatalf("the rule's traffic after its change goes to %s, want green", got)
	}
}

// A new target is initial until its first health check, which it must
// pass to be healthy; one whose app does not answer is unhealthy after
// UnhealthyThresholdCount checks.
func TestTargetHealthAfterRegistration(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	lat := r.Latencies()
	green := f.TargetGroupARNs[1]
	good, bare := serving(t, r), boot(t, r, f.LiveAZ)
	if err := register(t, r, green, good, bare); err != nil {
		t.Fatal(err)
	}
	wantHealth(t, r, green, good, healthInitial, elbtypes.TargetHealthReasonEnumRegistrationInProgress)
	r.Advance(testCtx(), lat.TargetRegistration-time.Second)
	wantHealth(t, r, green, good, healthInitial, elbtypes.TargetHealthReasonEnumRegistrationInProgress)
	r.Advance(testCtx(), time.Second)
	wantHealth(t, r, green, good, healthHealthy, "")
	wantHealth(t, r, green, bare, healthInitial, elbtypes.TargetHealthReasonEnumInitialHealthChecking)
	r.Advance(testCtx(), 30*time.Second)
	wantHealth(t, r, green, bare, healthUnhealthy, elbtypes.TargetHealthReasonEnumFailedHealthChecks)

	// Registering a registered target changes nothing.
	if err := register(t, r, green, good); err != nil {
		t.Fatal(err)
	}
	wantHealth(t, r, green, good, healthHealthy, "")
}

// A healthy target turns unhealthy after two failed checks, and healthy
// again only after five passing ones.
func TestTargetHealthFollowsTheApp(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	blue := f.TargetGroupARNs[0]
	host := r.Host(f.LiveInstance)
	r.Advance(testCtx(), 30*time.Second) // a check is due every 30 s from the start
	host.SetMaintenance(true)
	r.Advance(testCtx(), 30*time.Second)
	wantHealth(t, r, blue, f.LiveInstance, healthHealthy, "")
	r.Advance(testCtx(), 30*time.Second)
	wantHealth(t, r, blue, f.LiveInstance, healthUnhealthy, elbtypes.TargetHealthReasonEnumResponseCodeMismatch)
	if d := aws.ToString(targetHealth(t, r, blue, f.LiveInstance).Description); d != "Health checks failed with these codes: [503]" {
		t.Errorf("description %q", d)
	}
	host.SetMaintenance(false)
	r.Advance(testCtx(), 4*30*time.Second)
	wantHealth(t, r, blue, f.LiveInstance, healthUnhealthy, elbtypes.TargetHealthReasonEnumResponseCodeMismatch)
	r.Advance(testCtx(), 30*time.Second)
	wantHealth(t, r, blue, f.LiveInstance, healthHealthy, "")
}

// Only a running instance can be registered, and a refused registration
// registers none of the targets.
func TestRegisterTargetsWantsRunningInstances(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	green := f.TargetGroupARNs[1]
	up := boot(t, r, f.LiveAZ)
	pending := runInstance(t, r, f.LiveAZ)
	r.Advance(testCtx(), r.Latencies().InstanceNotFound)
	wantCode(t, register(t, r, green, up, pending), "InvalidTarget")
	wantCode(t, register(t, r, green, "i-0123456789abcdef0"), "InvalidTarget")
	wantHealth(t, r, green, up, healthUnused, elbtypes.TargetHealthReasonEnumNotRegistered)
	wantCode(t, register(t, r, f.TargetGroupARNs[1]+"0", up), "TargetGroupNotFound")
	var ie *elbtypes.InvalidTargetException
	if err := register(t, r, green, pending); !errorsAs(err, &ie) {
		t.Errorf("InvalidTarget is %T, want the SDK's modeled type", err)
	}
}

// A deregistered target drains for the deregistration delay, receiving
// nothing, then leaves the group.
func TestDeregisterDrains(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	blue := f.TargetGroupARNs[0]
	deregister := func() {
		t.Helper()
		_, err := r.ELB().DeregisterTargets(testCtx(), &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(blue),
			Targets: []elbtypes.TargetDescription{{Id: aws.String(f.LiveInstance)}}})
		wantCode(t, err, "")
	}
	deregister()
	wantHealth(t, r, blue, f.LiveInstance, healthDraining, elbtypes.TargetHealthReasonEnumDeregistrationInProgress)
	if route := r.ALBTargetFor(f.ListenerARN, ""); route.InstanceID != "" {
		t.Fatalf("a draining target receives a request: %+v", route)
	}
	r.Advance(testCtx(), 299*time.Second)
	deregister() // again: changes nothing
	wantHealth(t, r, blue, f.LiveInstance, healthDraining, elbtypes.TargetHealthReasonEnumDeregistrationInProgress)
	r.Advance(testCtx(), time.Second)
	wantHealth(t, r, blue, f.LiveInstance, healthUnused, elbtypes.TargetHealthReasonEnumNotRegistered)
	all, err := r.ELB().DescribeTargetHealth(testCtx(), &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(blue)})
	wantCode(t, err, "")
	if len(all.TargetHealthDescriptions) != 0 {
		t.Errorf("the group still lists %+v", all.TargetHealthDescriptions)
	}
	deregister() // no longer registered: still a success
}

// With target group stickiness a client keeps going to the group its
// cookie names while the cookie lasts, whatever the weights say.
func TestStickinessKeepsASessionOnItsGroup(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	blue, green := f.TargetGroupARNs[0], f.TargetGroupARNs[1]
	cand := serving(t, r)
	if err := register(t, r, green, cand); err != nil {
		t.Fatal(err)
	}
	shift(t, r, weighted(f, 50, 50, 60))
	r.Advance(testCtx(), r.Latencies().TargetRegistration)

	seen := map[string]int{}
	for range 200 {
		route := r.ALBTargetFor(f.ListenerARN, "")
		if route.Cookie == "" {
			t.Fatal("no stickiness cookie with stickiness on")
		}
		seen[route.TargetGroupARN]++
	}
	if seen[blue] < 60 || seen[green] < 60 {
		t.Fatalf("200 requests without a cookie at 50/50: %v", seen)
	}

	first := r.ALBTargetFor(f.ListenerARN, "")
	cookie := first.Cookie
	for range 50 {
		route := r.ALBTargetFor(f.ListenerARN, cookie)
		if route.TargetGroupARN != first.TargetGroupARN {
			t.Fatalf("a request with the cookie went to %s, want %s", route.TargetGroupARN, first.TargetGroupARN)
		}
		cookie = route.Cookie
	}
	// The cookie's group now gets no new sessions; this one stays, as its
	// cookie is refreshed by every response.
	other := blue
	if first.TargetGroupARN == blue {
		other = green
	}
	if other == blue {
		shift(t, r, weighted(f, 100, 0, 60))
	} else {
		shift(t, r, weighted(f, 0, 100, 60))
	}
	r.Advance(testCtx(), r.Latencies().ListenerUpdate)
	for range 3 {
		r.Advance(testCtx(), 50*time.Second)
		route := r.ALBTargetFor(f.ListenerARN, cookie)
		if route.TargetGroupARN != first.TargetGroupARN {
			t.Fatalf("within the duration the session moved to %s", route.TargetGroupARN)
		}
		cookie = route.Cookie
	}
	r.Advance(testCtx(), 61*time.Second)
	if route := r.ALBTargetFor(f.ListenerARN, cookie); route.TargetGroupARN != other {
		t.Fatalf("with an expired cookie the request went to %s, want the weighted group %s", route.TargetGroupARN, other)
	}
	if route := r.ALBTargetFor(f.ListenerARN, "not a cookie"); route.TargetGroupARN != other {
		t.Fatalf("a malformed cookie sent the request to %s", route.TargetGroupARN)
	}
}

// Within a group requests go round robin over the healthy targets, and to
// every unhealthy one when none is healthy.
func TestRoundRobinAndFailOpen(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	blue := f.TargetGroupARNs[0]
	second := serving(t, r)
	if err := register(t, r, blue, second); err != nil {
		t.Fatal(err)
	}
	if route := r.ALBTargetFor(f.ListenerARN, ""); route.InstanceID != f.LiveInstance {
		t.Fatalf("an initial target received a request: %+v", route)
	}
	r.Advance(testCtx(), r.Latencies().TargetRegistration)
	targets := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			got[r.ALBTargetFor(f.ListenerARN, "").InstanceID]++
		}
		return got
	}
	if got := targets(10); got[f.LiveInstance] != 5 || got[second] != 5 {
		t.Fatalf("10 requests over two healthy targets: %v", got)
	}
	r.Host(second).StopApp()
	r.Advance(testCtx(), 60*time.Second)
	wantHealth(t, r, blue, second, healthUnhealthy, elbtypes.TargetHealthReasonEnumFailedHealthChecks)
	if got := targets(4); got[f.LiveInstance] != 4 {
		t.Fatalf("with one target unhealthy: %v", got)
	}
	r.Host(f.LiveInstance).StopApp()
	r.Advance(testCtx(), 60*time.Second)
	if got := targets(4); got[f.LiveInstance] != 2 || got[second] != 2 {
		t.Fatalf("with every target unhealthy the load balancer fails open: %v", got)
	}
	want := f.LivePrivateIP + ":8080"
	if route := r.ALBTargetFor(f.ListenerARN, ""); route.InstanceID == f.LiveInstance && route.Address != want {
		t.Errorf("address %s, want %s", route.Address, want)
	}
}

// A terminated instance's target fails its checks while shutting down and
// is unused with Target.InvalidState once terminated.
func TestTerminatedTargetIsUnused(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	blue := f.TargetGroupARNs[0]
	r.Advance(testCtx(), 29*time.Second)
	_, err := r.EC2().TerminateInstances(testCtx(), &ec2.TerminateInstancesInput{InstanceIds: []string{f.LiveInstance}})
	wantCode(t, err, "")
	r.Advance(testCtx(), 2*time.Second)
	wantHealth(t, r, blue, f.LiveInstance, healthHealthy, "") // one failed check so far
	r.Advance(testCtx(), r.Latencies().ShuttingDownToTerminated)
	wantHealth(t, r, blue, f.LiveInstance, healthUnused, elbtypes.TargetHealthReasonEnumInvalidState)
	if d := aws.ToString(targetHealth(t, r, blue, f.LiveInstance).Description); d != "Target is in the terminated state" {
		t.Errorf("description %q", d)
	}
	if route := r.ALBTargetFor(f.ListenerARN, ""); route.InstanceID != "" {
		t.Errorf("a terminated target receives requests: %+v", route)
	}
}

// A target group no rule forwards to is not health checked: its targets
// are unused until a rule forwards to it again.
func TestTargetsOfAGroupNotInUse(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	green := f.TargetGroupARNs[1]
	cand := serving(t, r)
	if err := register(t, r, green, cand); err != nil {
		t.Fatal(err)
	}
	r.Advance(testCtx(), r.Latencies().TargetRegistration)
	wantHealth(t, r, green, cand, healthHealthy, "")
	shift(t, r, []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(f.TargetGroupARNs[0])}})
	r.Advance(testCtx(), 30*time.Second)
	wantHealth(t, r, green, cand, healthUnused, elbtypes.TargetHealthReasonEnumNotInUse)
	shift(t, r, weighted(f, 100, 0, 0))
	r.Advance(testCtx(), 30*time.Second)
	wantHealth(t, r, green, cand, healthHealthy, "")
}

// ELB calls are recorded under ServiceELB, and a throttle fault answers
// with ELB's code, in the SDK's wrapping.
func TestELBThrottling(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	r.Throttle(ServiceELB, 1)
	_, err := r.ELB().DescribeTargetHealth(testCtx(), &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(r.Fixture().TargetGroupARNs[0])})
	wantCode(t, err, "Throttling")
	var oe *smithy.OperationError
	if !errorsAs(err, &oe) || oe.ServiceID != "Elastic Load Balancing v2" || !strings.Contains(err.Error(), "Rate exceeded") {
		t.Errorf("error %v: want the SDK's service name and AWS's message", err)
	}
	calls := r.CallsTo(ServiceELB, "DescribeTargetHealth")
	if len(calls) != 1 || calls[0].Code != "Throttling" || calls[0].Caller != "test" {
		t.Errorf("recorded %+v", calls)
	}
}
