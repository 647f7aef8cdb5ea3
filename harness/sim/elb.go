package sim

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// ELB is the simulated Elastic Load Balancing (v2) API: the Application
// Load Balancer Options.ALB creates, its listener, rules and target
// groups, and the health of the targets registered in them. It
// implements awsapi.ELB.
//
// Pages quoted below are under docs.aws.amazon.com/elasticloadbalancing/
// latest/: "application/…" is the Application Load Balancers User Guide,
// "APIReference/…" the ELB API Reference.
type ELB struct{ r *Region }

// Target health as DescribeTargetHealth reports it.
const (
	healthInitial   = elbtypes.TargetHealthStateEnumInitial
	healthHealthy   = elbtypes.TargetHealthStateEnumHealthy
	healthUnhealthy = elbtypes.TargetHealthStateEnumUnhealthy
	healthUnused    = elbtypes.TargetHealthStateEnumUnused
	healthDraining  = elbtypes.TargetHealthStateEnumDraining
)

// The descriptions that go with each reason code ("Health check reason
// codes", application/target-group-health-checks.html).
const (
	descRegistering  = "Target registration is in progress"
	descInitial      = "Initial health checks in progress"
	descTimeout      = "Request timed out"
	descFailed       = "Health checks failed"
	descNotInUse     = "Target group is not configured to receive traffic from the load balancer"
	descNotRegister  = "Target is not registered to the target group"
	descDeregistered = "Target deregistration is in progress"
)

// The fixture's target group settings are the API's defaults for an HTTP
// target group of instances (CreateTargetGroup, APIReference/
// API_CreateTargetGroup.html): HealthCheckIntervalSeconds "If the target
// group protocol is … HTTP or HTTPS, the default is 30 seconds";
// HealthCheckTimeoutSeconds "For target groups with a protocol of HTTP,
// the default is 6 seconds"; HealthyThresholdCount "the default is 5";
// UnhealthyThresholdCount "the default is 2". The deregistration delay:
// "By default, Elastic Load Balancing waits 300 seconds before completing
// the deregistration process" ("Deregistration delay",
// application/load-balancer-target-groups.html).
const (
	defaultHealthInterval      = 30 * time.Second
	defaultHealthTimeout       = 6
	defaultHealthyThreshold    = 5
	defaultUnhealthyThreshold  = 2
	defaultDeregistrationDelay = 300 * time.Second
	listenerPort               = 80
)

type loadBalancer struct {
	arn, name, id, dnsName string
	created                time.Time
	listeners              []*listener
	// active holds the minutes in which the load balancer carried a
	// request: it publishes metrics for those only (see GetMetricData).
	active map[time.Time]bool
}

// suffix is the final portion of the ARN, the value of CloudWatch's
// LoadBalancer dimension: "app/name/id".
func (lb *loadBalancer) suffix() string { return "app/" + lb.name + "/" + lb.id }

type listener struct {
	arn         string
	lb          *loadBalancer
	port        int32
	defaultRule *rule
	rules       []*rule // the other rules, by priority
}

type rule struct {
	arn        string
	listener   *listener
	priority   string // "default" for the listener's default rule
	conditions []elbtypes.RuleCondition
	// actions are the actions as last set: what Describe* return at once.
	actions []elbtypes.Action
	// forwards is where the rule sends traffic over time: each change
	// takes effect Latencies.ListenerUpdate after the call. The last one
	// at or before a moment is in force.
	forwards []forwarding
}

func (rl *rule) isDefault() bool { return rl.priority == "default" }

// forwarding is a forward action as the load balancer applies it.
type forwarding struct {
	at         time.Time
	groups     []weightedGroup // none: the action does not forward
	stickiness time.Duration   // 0: target group stickiness is off
}

type weightedGroup struct {
	arn    string
	weight int32
}

func (rl *rule) forwardingAt(t time.Time) forwarding {
	var f forwarding
	for _, fw := range rl.forwards {
		if fw.at.After(t) {
			break
		}
		f = fw
	}
	return f
}

func (rl *rule) forwardFrom(at time.Time, f forwarding) {
	f.at = at
	rl.forwards = append(rl.forwards, f)
	slices.SortStableFunc(rl.forwards, func(a, b forwarding) int { return a.at.Compare(b.at) })
}

type targetGroup struct {
	arn, name, id       string
	port                int32
	healthPath          string
	interval            time.Duration
	healthyThreshold    int
	unhealthyThreshold  int
	deregistrationDelay time.Duration
	targets             []*target // in registration order
	next                int       // the round-robin cursor
	// metrics counts the requests its targets answered, per minute.
	metrics map[time.Time]*minuteCounts
}

// suffix is the value of CloudWatch's TargetGroup dimension.
func (tg *targetGroup) suffix() string { return "targetgroup/" + tg.name + "/" + tg.id }

func (tg *targetGroup) remove(t *target) {
	tg.targets = slices.DeleteFunc(tg.targets, func(x *target) bool { return x == t })
}

func (tg *targetGroup) find(id string, port int32) *target {
	for _, t := range tg.targets {
		if t.instanceID == id && t.port == port {
			return t
		}
	}
	return nil
}

type minuteCounts struct{ requests, target5xx int }

type target struct {
	instanceID  string
	port        int32
	state       elbtypes.TargetHealthStateEnum
	reason      elbtypes.TargetHealthReasonEnum
	description string
	nextCheck   time.Time // the next health check; zero while draining
	drainedAt   time.Time // when a draining target is gone
	// passes and failures count consecutive health check results.
	passes, failures int
}

func (t *target) set(state elbtypes.TargetHealthStateEnum, reason elbtypes.TargetHealthReasonEnum, desc string) {
	t.state, t.reason, t.description = state, reason, desc
}

// buildALB creates the load balancer, its listener and the blue and green
// target groups, with the live instance registered and healthy in blue.
// Called from buildFixture with r.mu held.
func (r *Region) buildALB(f *Fixture, live *instance, created time.Time) {
	o := r.opts
	lb := &loadBalancer{name: limitName("greenlight-" + o.App), id: r.hex16(), created: created, active: map[time.Time]bool{}}
	lb.arn = r.arn("elasticloadbalancing", "loadbalancer/"+lb.suffix())
	// An internet-facing load balancer's DNS name: name, a number, the
	// region ("my-load-balancer-1234567890.us-west-2.elb.amazonaws.com",
	// application/application-load-balancers.html).
	lb.dnsName = fmt.Sprintf("%s-%d.%s.elb.amazonaws.com", lb.name, 1e9+r.rng.Int64N(9e9), o.Region)
	r.balancers[lb.arn] = lb
	r.balancerOrder = append(r.balancerOrder, lb.arn)

	var groups [2]*targetGroup
	for n, color := range []string{"blue", "green"} {
		tg := &targetGroup{name: limitName(o.App + "-" + color), id: r.hex16(), port: int32(o.AppPort), healthPath: o.HealthPath,
			interval: defaultHealthInterval, healthyThreshold: defaultHealthyThreshold, unhealthyThreshold: defaultUnhealthyThreshold,
			deregistrationDelay: defaultDeregistrationDelay, metrics: map[time.Time]*minuteCounts{}}
		tg.arn = r.arn("elasticloadbalancing", tg.suffix())
		r.targetGroups[tg.arn] = tg
		r.groupOrder = append(r.groupOrder, tg.arn)
		groups[n] = tg
		f.TargetGroupARNs[n] = tg.arn
	}
	start := r.now()
	groups[0].targets = []*target{{instanceID: live.id, port: groups[0].port, state: healthHealthy,
		nextCheck: start.Add(groups[0].interval), passes: defaultHealthyThreshold}}

	ls := &listener{lb: lb, port: listenerPort}
	ls.arn = r.arn("elasticloadbalancing", fmt.Sprintf("listener/%s/%s", lb.suffix(), r.hex16()))
	lb.listeners = []*listener{ls}
	forwardBlue := func() []elbtypes.Action {
		return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{
			TargetGroups: []elbtypes.TargetGroupTuple{
				{TargetGroupArn: aws.String(groups[0].arn), Weight: aws.Int32(100)},
				{TargetGroupArn: aws.String(groups[1].arn), Weight: aws.Int32(0)},
			},
			TargetGroupStickinessConfig: &elbtypes.TargetGroupStickinessConfig{Enabled: aws.Bool(false)},
		}}}
	}
	fw := forwarding{at: created, groups: []weightedGroup{{groups[0].arn, 100}, {groups[1].arn, 0}}}
	ls.defaultRule = &rule{arn: r.ruleARN(ls), listener: ls, priority: "default", actions: forwardBlue(), forwards: []forwarding{fw}}
	f.LoadBalancerARN, f.LoadBalancerDNS, f.ListenerARN = lb.arn, lb.dnsName, ls.arn
	if o.ALBRule {
		host := o.App + ".example.com"
		rl := &rule{arn: r.ruleARN(ls), listener: ls, priority: "10", actions: forwardBlue(), forwards: []forwarding{fw},
			conditions: []elbtypes.RuleCondition{{Field: aws.String("host-header"),
				HostHeaderConfig: &elbtypes.HostHeaderConditionConfig{Values: []string{host}}}}}
		ls.rules = append(ls.rules, rl)
		f.RuleARN, f.RuleHost = rl.arn, host
	}
}

func (r *Region) ruleARN(ls *listener) string {
	return r.arn("elasticloadbalancing", fmt.Sprintf("listener-rule/%s/%s/%s", ls.lb.suffix(), ls.arn[len(ls.arn)-16:], r.hex16()))
}

func (r *Region) hex16() string { return fmt.Sprintf("%016x", r.rng.Uint64()) }

// limitName keeps a load balancer or target group name within the 32
// characters ELB allows (CreateLoadBalancer, CreateTargetGroup: "This name
// … can have a maximum of 32 characters").
func limitName(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return s
}

// healthCheck runs a target's due health check. "The load balancer sends
// a health check request to each registered target every
// HealthCheckIntervalSeconds seconds … Each health check request is
// independent and the result lasts for the entire interval"; "After your
// target is registered, it must pass one health check to be considered
// healthy"; a target is unhealthy after UnhealthyThresholdCount
// consecutive failures and healthy again after HealthyThresholdCount
// consecutive successes ("Health checks for your target groups",
// application/target-group-health-checks.html). Only a target group that a
// listener rule forwards to is checked: "Before the load balancer sends a
// health check request to a target, you must register it with a target
// group, specify its target group in a listener rule" (same page, "Target
// health status"); its targets are unused with Target.NotInUse meanwhile.
// Called from settle with r.mu held.
func (r *Region) healthCheck(tg *targetGroup, t *target) {
	at := t.nextCheck
	t.nextCheck = at.Add(tg.interval)
	if !r.groupInUse(tg.arn, at) {
		t.set(healthUnused, elbtypes.TargetHealthReasonEnumNotInUse, descNotInUse)
		t.passes, t.failures = 0, 0
		return
	}
	if t.state == healthUnused {
		// Forwarded to again: its health is established afresh.
		t.set(healthInitial, elbtypes.TargetHealthReasonEnumInitialHealthChecking, descInitial)
	}
	ok, reason, desc := r.probe(tg, t, at)
	if ok {
		t.passes, t.failures = t.passes+1, 0
	} else {
		t.passes, t.failures = 0, t.failures+1
	}
	switch t.state {
	case healthInitial:
		switch {
		case ok:
			t.set(healthHealthy, "", "")
		case t.failures >= tg.unhealthyThreshold:
			t.set(healthUnhealthy, reason, desc)
		default:
			t.set(healthInitial, elbtypes.TargetHealthReasonEnumInitialHealthChecking, descInitial)
		}
	case healthHealthy:
		if t.failures >= tg.unhealthyThreshold {
			t.set(healthUnhealthy, reason, desc)
		}
	case healthUnhealthy:
		if ok && t.passes >= tg.healthyThreshold {
			t.set(healthHealthy, "", "")
		} else if !ok {
			t.set(healthUnhealthy, reason, desc)
		}
	}
}

// probe is one health check of a target at a moment: an HTTP GET of the
// group's health path on the target's port, answered as the app server
// answers (see appHandler): no answer while the OS is down (Target.Timeout),
// a refused connection when the app is not running or listens elsewhere
// (Target.FailedHealthChecks: "The load balancer received an error while
// establishing a connection to the target"), 503 in maintenance mode and
// 404 on another path (Target.ResponseCodeMismatch: the matcher's default
// is 200). Reason codes: TargetHealth, APIReference/API_TargetHealth.html.
func (r *Region) probe(tg *targetGroup, t *target, at time.Time) (bool, elbtypes.TargetHealthReasonEnum, string) {
	i := r.instances[t.instanceID]
	switch {
	case i == nil || !i.osUp(at, r.lat):
		return false, elbtypes.TargetHealthReasonEnumTimeout, descTimeout
	case !i.app.Running || i.app.Version == "" || int32(i.app.Port) != t.port:
		return false, elbtypes.TargetHealthReasonEnumFailedHealthChecks, descFailed
	case i.app.Maintenance:
		return false, elbtypes.TargetHealthReasonEnumResponseCodeMismatch, "Health checks failed with these codes: [503]"
	case i.app.HealthPath != tg.healthPath:
		return false, elbtypes.TargetHealthReasonEnumResponseCodeMismatch, "Health checks failed with these codes: [404]"
	}
	return true, "", ""
}

// groupInUse reports whether a listener rule forwards to the target group
// at a moment (with any weight, 0 included).
func (r *Region) groupInUse(arn string, at time.Time) bool {
	for _, lbARN := range r.balancerOrder {
		for _, ls := range r.balancers[lbARN].listeners {
			for _, rl := range append([]*rule{ls.defaultRule}, ls.rules...) {
				for _, g := range rl.forwardingAt(at).groups {
					if g.arn == arn {
						return true
					}
				}
			}
		}
	}
	return false
}

// health is a target's health as DescribeTargetHealth reports it now. A
// stopped or terminated instance is unused at once, whatever its checks
// said: "unused … the target is in the stopped or terminated state"
// (Target.InvalidState: "Target is in the stopped state", "Target is in
// the terminated state"; "Target health status",
// application/target-group-health-checks.html). It stays registered until
// deregistered.
func (r *Region) health(t *target) (elbtypes.TargetHealthStateEnum, elbtypes.TargetHealthReasonEnum, string) {
	if i := r.instances[t.instanceID]; i != nil && t.state != healthDraining && (i.state == stateStopped || i.state == stateTerminated) {
		return healthUnused, elbtypes.TargetHealthReasonEnumInvalidState, "Target is in the " + i.state + " state"
	}
	return t.state, t.reason, t.description
}

// The lookups answer with the errors and messages ELB sends for an
// unknown resource.

func (r *Region) lookupTargetGroup(arn *string) (*targetGroup, error) {
	if arn == nil {
		return nil, paramRequired("TargetGroupArn", "TargetGroupArn")
	}
	tg, ok := r.targetGroups[*arn]
	if !ok {
		return nil, apiError(ServiceELB, "TargetGroupNotFound", "One or more target groups not found")
	}
	return tg, nil
}

func (r *Region) lookupListener(arn string) (*listener, error) {
	for _, lbARN := range r.balancerOrder {
		for _, ls := range r.balancers[lbARN].listeners {
			if ls.arn == arn {
				return ls, nil
			}
		}
	}
	return nil, apiError(ServiceELB, "ListenerNotFound", "One or more listeners not found")
}

func (r *Region) lookupRule(arn string) (*rule, error) {
	for _, lbARN := range r.balancerOrder {
		for _, ls := range r.balancers[lbARN].listeners {
			for _, rl := range append([]*rule{ls.defaultRule}, ls.rules...) {
				if rl.arn == arn {
					return rl, nil
				}
			}
		}
	}
	return nil, apiError(ServiceELB, "RuleNotFound", "One or more rules not found")
}

// validationError is the error ELB's request validation answers a value
// out of its documented range with.
func validationError(value any, field, constraint string) error {
	return apiErrorf(ServiceELB, "ValidationError", "1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, field, constraint)
}

// forwardingOf validates a rule's actions and returns the forwarding they
// ask for. "If you specify multiple target groups for a forward action,
// you must specify a weight for each target group. Each target group
// weight is a value from 0 to 999" ("Forward actions",
// application/rule-action-types.html; TargetGroupTuple: "The weight. The
// range is 0 to 999"); TargetGroupStickinessConfig.DurationSeconds: "The
// range is 1-604800 seconds (7 days). You must specify this value when
// enabling target group stickiness"
// (APIReference/API_TargetGroupStickinessConfig.html). A target group that
// does not exist is TargetGroupNotFound. Actions other than forward
// (redirect, fixed-response) are kept but send traffic to no target.
func (r *Region) forwardingOf(actions []elbtypes.Action, field string) (forwarding, error) {
	var f forwarding
	if len(actions) == 0 {
		return f, apiErrorf(ServiceELB, "ValidationError", "At least one action must be specified in '%s'", field)
	}
	for n, a := range actions {
		if a.Type != elbtypes.ActionTypeEnumForward {
			continue
		}
		at := fmt.Sprintf("%s.%d.member", field, n+1)
		var tuples []elbtypes.TargetGroupTuple
		if a.ForwardConfig != nil {
			tuples = a.ForwardConfig.TargetGroups
		}
		if a.TargetGroupArn != nil {
			if len(tuples) > 1 || (len(tuples) == 1 && aws.ToString(tuples[0].TargetGroupArn) != *a.TargetGroupArn) {
				return f, apiError(ServiceELB, "ValidationError", "You cannot specify both a target group ARN and a forward config with other target groups")
			}
			if len(tuples) == 0 {
				tuples = []elbtypes.TargetGroupTuple{{TargetGroupArn: a.TargetGroupArn}}
			}
		}
		if len(tuples) == 0 {
			return f, apiErrorf(ServiceELB, "ValidationError", "A forward action in '%s' must specify a target group", field)
		}
		for k, tu := range tuples {
			path := fmt.Sprintf("%s.forwardConfig.targetGroups.%d.member.weight", at, k+1)
			w := int32(1)
			switch {
			case tu.Weight == nil && len(tuples) > 1:
				return f, apiErrorf(ServiceELB, "ValidationError", "A weight must be specified for each target group of a forward action with more than one target group ('%s')", path)
			case tu.Weight != nil && *tu.Weight < 0:
				return f, validationError(*tu.Weight, path, "Member must have value greater than or equal to 0")
			case tu.Weight != nil && *tu.Weight > 999:
				return f, validationError(*tu.Weight, path, "Member must have value less than or equal to 999")
			case tu.Weight != nil:
				w = *tu.Weight
			}
			arn := aws.ToString(tu.TargetGroupArn)
			if _, ok := r.targetGroups[arn]; !ok {
				return f, apiErrorf(ServiceELB, "TargetGroupNotFound", "Target groups '%s' not found", arn)
			}
			f.groups = append(f.groups, weightedGroup{arn: arn, weight: w})
		}
		if a.ForwardConfig != nil && a.ForwardConfig.TargetGroupStickinessConfig != nil {
			s := a.ForwardConfig.TargetGroupStickinessConfig
			path := at + ".forwardConfig.targetGroupStickinessConfig.durationSeconds"
			switch {
			case s.DurationSeconds != nil && *s.DurationSeconds < 1:
				return f, validationError(*s.DurationSeconds, path, "Member must have value greater than or equal to 1")
			case s.DurationSeconds != nil && *s.DurationSeconds > 604800:
				return f, validationError(*s.DurationSeconds, path, "Member must have value less than or equal to 604800")
			case aws.ToBool(s.Enabled) && s.DurationSeconds == nil:
				return f, apiErrorf(ServiceELB, "ValidationError", "You must specify a duration when enabling target group stickiness ('%s')", path)
			case aws.ToBool(s.Enabled):
				f.stickiness = time.Duration(*s.DurationSeconds) * time.Second
			}
		}
	}
	return f, nil
}

// describedActions is how ELB shows actions back: a forward action to one
// target group given by TargetGroupArn also shows as a ForwardConfig with
// weight 1, and a ForwardConfig without stickiness shows it disabled.
func describedActions(actions []elbtypes.Action) []elbtypes.Action {
	out := make([]elbtypes.Action, len(actions))
	for n, a := range actions {
		if a.Type == elbtypes.ActionTypeEnumForward {
			fc := elbtypes.ForwardActionConfig{}
			if a.ForwardConfig != nil {
				fc = *a.ForwardConfig
				fc.TargetGroups = slices.Clone(fc.TargetGroups)
			}
			if len(fc.TargetGroups) == 0 && a.TargetGroupArn != nil {
				fc.TargetGroups = []elbtypes.TargetGroupTuple{{TargetGroupArn: a.TargetGroupArn, Weight: aws.Int32(1)}}
			}
			if fc.TargetGroupStickinessConfig == nil {
				fc.TargetGroupStickinessConfig = &elbtypes.TargetGroupStickinessConfig{Enabled: aws.Bool(false)}
			}
			a.ForwardConfig = &fc
		}
		out[n] = a
	}
	return out
}

func (r *Region) describeListener(ls *listener) elbtypes.Listener {
	return elbtypes.Listener{ListenerArn: aws.String(ls.arn), LoadBalancerArn: aws.String(ls.lb.arn), Port: aws.Int32(ls.port),
		Protocol: elbtypes.ProtocolEnumHttp, DefaultActions: describedActions(ls.defaultRule.actions)}
}

func describeRule(rl *rule) elbtypes.Rule {
	return elbtypes.Rule{RuleArn: aws.String(rl.arn), Priority: aws.String(rl.priority), IsDefault: aws.Bool(rl.isDefault()),
		Conditions: slices.Clone(rl.conditions), Actions: describedActions(rl.actions)}
}

// DescribeLoadBalancers lists the load balancers, all or by ARN or name;
// one that does not exist is LoadBalancerNotFound.
func (e *ELB) DescribeLoadBalancers(ctx context.Context, in *elb.DescribeLoadBalancersInput, _ ...func(*elb.Options)) (*elb.DescribeLoadBalancersOutput, error) {
	return call(ctx, e.r, ServiceELB, "DescribeLoadBalancers", in, func(string) (*elb.DescribeLoadBalancersOutput, error) {
		r := e.r
		var list []*loadBalancer
		for _, arn := range in.LoadBalancerArns {
			lb, ok := r.balancers[arn]
			if !ok {
				return nil, apiError(ServiceELB, "LoadBalancerNotFound", "One or more load balancers not found")
			}
			list = append(list, lb)
		}
		for _, name := range in.Names {
			var found *loadBalancer
			for _, arn := range r.balancerOrder {
				if r.balancers[arn].name == name {
					found = r.balancers[arn]
				}
			}
			if found == nil {
				return nil, apiErrorf(ServiceELB, "LoadBalancerNotFound", "Load balancers '[%s]' not found", name)
			}
			list = append(list, found)
		}
		if len(in.LoadBalancerArns) == 0 && len(in.Names) == 0 {
			for _, arn := range r.balancerOrder {
				list = append(list, r.balancers[arn])
			}
		}
		out := &elb.DescribeLoadBalancersOutput{}
		for _, lb := range list {
			d := elbtypes.LoadBalancer{LoadBalancerArn: aws.String(lb.arn), LoadBalancerName: aws.String(lb.name), DNSName: aws.String(lb.dnsName),
				CreatedTime: aws.Time(lb.created), Scheme: elbtypes.LoadBalancerSchemeEnumInternetFacing, Type: elbtypes.LoadBalancerTypeEnumApplication,
				VpcId: aws.String(r.vpcID), IpAddressType: elbtypes.IpAddressTypeIpv4,
				State: &elbtypes.LoadBalancerState{Code: elbtypes.LoadBalancerStateEnumActive}}
			for _, sn := range r.subnets {
				d.AvailabilityZones = append(d.AvailabilityZones, elbtypes.AvailabilityZone{SubnetId: aws.String(sn.id), ZoneName: aws.String(sn.az)})
			}
			out.LoadBalancers = append(out.LoadBalancers, d)
		}
		return out, nil
	})
}

// DescribeListeners describes listeners by ARN or a load balancer's
// listeners: "You must specify either a load balancer or one or more
// listeners" (APIReference/API_DescribeListeners.html).
func (e *ELB) DescribeListeners(ctx context.Context, in *elb.DescribeListenersInput, _ ...func(*elb.Options)) (*elb.DescribeListenersOutput, error) {
	return call(ctx, e.r, ServiceELB, "DescribeListeners", in, func(string) (*elb.DescribeListenersOutput, error) {
		r := e.r
		var list []*listener
		switch {
		case len(in.ListenerArns) > 0:
			for _, arn := range in.ListenerArns {
				ls, err := r.lookupListener(arn)
				if err != nil {
					return nil, err
				}
				list = append(list, ls)
			}
		case in.LoadBalancerArn != nil:
			lb, ok := r.balancers[*in.LoadBalancerArn]
			if !ok {
				return nil, apiError(ServiceELB, "LoadBalancerNotFound", "One or more load balancers not found")
			}
			list = lb.listeners
		default:
			return nil, apiError(ServiceELB, "ValidationError", "You must specify either listener ARNs or a load balancer ARN")
		}
		out := &elb.DescribeListenersOutput{}
		for _, ls := range list {
			out.Listeners = append(out.Listeners, r.describeListener(ls))
		}
		return out, nil
	})
}

// ModifyListener replaces the listener's default actions: Describe* show
// the new actions at once, traffic follows Latencies.ListenerUpdate later.
// "Replaces the specified properties of the specified listener. Any
// properties that you do not specify remain unchanged"
// (APIReference/API_ModifyListener.html). Only DefaultActions and Port are
// modelled; the HTTPS properties are refused.
func (e *ELB) ModifyListener(ctx context.Context, in *elb.ModifyListenerInput, _ ...func(*elb.Options)) (*elb.ModifyListenerOutput, error) {
	return call(ctx, e.r, ServiceELB, "ModifyListener", in, func(string) (*elb.ModifyListenerOutput, error) {
		r := e.r
		if in.ListenerArn == nil {
			return nil, paramRequired("ModifyListenerInput", "ListenerArn")
		}
		ls, err := r.lookupListener(*in.ListenerArn)
		if err != nil {
			return nil, err
		}
		if (in.Protocol != "" && in.Protocol != elbtypes.ProtocolEnumHttp) || in.Certificates != nil || in.SslPolicy != nil || in.AlpnPolicy != nil || in.MutualAuthentication != nil {
			return nil, fmt.Errorf("sim: ModifyListener models DefaultActions and Port on an HTTP listener only")
		}
		if in.Port != nil && (*in.Port < 1 || *in.Port > 65535) {
			return nil, validationError(*in.Port, "port", "Member must have value between 1 and 65535")
		}
		if in.DefaultActions != nil {
			f, err := r.forwardingOf(in.DefaultActions, "defaultActions")
			if err != nil {
				return nil, err
			}
			ls.defaultRule.actions = slices.Clone(in.DefaultActions)
			ls.defaultRule.forwardFrom(r.now().Add(r.lat.ListenerUpdate), f)
		}
		if in.Port != nil {
			ls.port = *in.Port
		}
		return &elb.ModifyListenerOutput{Listeners: []elbtypes.Listener{r.describeListener(ls)}}, nil
	})
}

// DescribeRules describes rules by ARN or a listener's rules, the default
// rule last: "You must specify either a listener or rules"
// (APIReference/API_DescribeRules.html).
func (e *ELB) DescribeRules(ctx context.Context, in *elb.DescribeRulesInput, _ ...func(*elb.Options)) (*elb.DescribeRulesOutput, error) {
	return call(ctx, e.r, ServiceELB, "DescribeRules", in, func(string) (*elb.DescribeRulesOutput, error) {
		r := e.r
		var list []*rule
		switch {
		case len(in.RuleArns) > 0:
			for _, arn := range in.RuleArns {
				rl, err := r.lookupRule(arn)
				if err != nil {
					return nil, err
				}
				list = append(list, rl)
			}
		case in.ListenerArn != nil:
			ls, err := r.lookupListener(*in.ListenerArn)
			if err != nil {
				return nil, err
			}
			list = append(slices.Clone(ls.rules), ls.defaultRule)
		default:
			return nil, apiError(ServiceELB, "ValidationError", "You must specify either listener ARN or rule ARNs")
		}
		out := &elb.DescribeRulesOutput{}
		for _, rl := range list {
			out.Rules = append(out.Rules, describeRule(rl))
		}
		return out, nil
	})
}

// ModifyRule replaces a rule's actions or conditions; traffic follows the
// new actions Latencies.ListenerUpdate later. A listener's default rule
// is changed through ModifyListener: ModifyRule on it is
// OperationNotPermitted, "Default rule '…' cannot be modified" (the error
// AWS returned in FeLvi-zzz/tentez#32, "check default rule"; "Default
// rules can't have conditions", application/load-balancer-listeners.html).
func (e *ELB) ModifyRule(ctx context.Context, in *elb.ModifyRuleInput, _ ...func(*elb.Options)) (*elb.ModifyRuleOutput, error) {
	return call(ctx, e.r, ServiceELB, "ModifyRule", in, func(string) (*elb.ModifyRuleOutput, error) {
		r := e.r
		if in.RuleArn == nil {
			return nil, paramRequired("ModifyRuleInput", "RuleArn")
		}
		rl, err := r.lookupRule(*in.RuleArn)
		if err != nil {
			return nil, err
		}
		if rl.isDefault() {
			return nil, apiErrorf(ServiceELB, "OperationNotPermitted", "Default rule '%s' cannot be modified", rl.arn)
		}
		if in.Transforms != nil || in.ResetTransforms != nil {
			return nil, fmt.Errorf("sim: ModifyRule models Actions and Conditions only")
		}
		if in.Actions != nil {
			f, err := r.forwardingOf(in.Actions, "actions")
			if err != nil {
				return nil, err
			}
			rl.actions = slices.Clone(in.Actions)
			rl.forwardFrom(r.now().Add(r.lat.ListenerUpdate), f)
		}
		if in.Conditions != nil {
			rl.conditions = slices.Clone(in.Conditions)
		}
		return &elb.ModifyRuleOutput{Rules: []elbtypes.Rule{describeRule(rl)}}, nil
	})
}

// loadBalancersOf lists the ARNs of the load balancers whose rules
// forward to a target group now, as DescribeTargetGroups reports them.
func (r *Region) loadBalancersOf(arn string) []string {
	var out []string
	for _, lbARN := range r.balancerOrder {
		lb := r.balancers[lbARN]
		uses := false
		for _, ls := range lb.listeners {
			for _, rl := range append([]*rule{ls.defaultRule}, ls.rules...) {
				f, _ := r.forwardingOf(rl.actions, "actions")
				for _, g := range f.groups {
					uses = uses || g.arn == arn
				}
			}
		}
		if uses {
			out = append(out, lb.arn)
		}
	}
	return out
}

func (r *Region) describeTargetGroup(tg *targetGroup) elbtypes.TargetGroup {
	return elbtypes.TargetGroup{
		TargetGroupArn: aws.String(tg.arn), TargetGroupName: aws.String(tg.name), TargetType: elbtypes.TargetTypeEnumInstance,
		Protocol: elbtypes.ProtocolEnumHttp, ProtocolVersion: aws.String("HTTP1"), Port: aws.Int32(tg.port), VpcId: aws.String(r.vpcID),
		IpAddressType:      elbtypes.TargetGroupIpAddressTypeEnumIpv4,
		HealthCheckEnabled: aws.Bool(true), HealthCheckProtocol: elbtypes.ProtocolEnumHttp, HealthCheckPort: aws.String("traffic-port"),
		HealthCheckPath:            aws.String(tg.healthPath),
		HealthCheckIntervalSeconds: aws.Int32(int32(tg.interval / time.Second)), HealthCheckTimeoutSeconds: aws.Int32(defaultHealthTimeout),
		HealthyThresholdCount: aws.Int32(int32(tg.healthyThreshold)), UnhealthyThresholdCount: aws.Int32(int32(tg.unhealthyThreshold)),
		Matcher: &elbtypes.Matcher{HttpCode: aws.String("200")}, LoadBalancerArns: r.loadBalancersOf(tg.arn),
	}
}

// DescribeTargetGroups lists target groups, all or those of a load
// balancer, by name or by ARN; one that does not exist is
// TargetGroupNotFound.
func (e *ELB) DescribeTargetGroups(ctx context.Context, in *elb.DescribeTargetGroupsInput, _ ...func(*elb.Options)) (*elb.DescribeTargetGroupsOutput, error) {
	return call(ctx, e.r, ServiceELB, "DescribeTargetGroups", in, func(string) (*elb.DescribeTargetGroupsOutput, error) {
		r := e.r
		var list []*targetGroup
		for _, arn := range in.TargetGroupArns {
			tg, err := r.lookupTargetGroup(aws.String(arn))
			if err != nil {
				return nil, err
			}
			list = append(list, tg)
		}
		for _, name := range in.Names {
			var found *targetGroup
			for _, arn := range r.groupOrder {
				if r.targetGroups[arn].name == name {
					found = r.targetGroups[arn]
				}
			}
			if found == nil {
				return nil, apiError(ServiceELB, "TargetGroupNotFound", "One or more target groups not found")
			}
			list = append(list, found)
		}
		if in.LoadBalancerArn != nil {
			if _, ok := r.balancers[*in.LoadBalancerArn]; !ok {
				return nil, apiError(ServiceELB, "LoadBalancerNotFound", "One or more load balancers not found")
			}
			for _, arn := range r.groupOrder {
				if slices.Contains(r.loadBalancersOf(arn), *in.LoadBalancerArn) {
					list = append(list, r.targetGroups[arn])
				}
			}
		}
		if len(in.TargetGroupArns) == 0 && len(in.Names) == 0 && in.LoadBalancerArn == nil {
			for _, arn := range r.groupOrder {
				list = append(list, r.targetGroups[arn])
			}
		}
		out := &elb.DescribeTargetGroupsOutput{}
		for _, tg := range list {
			out.TargetGroups = append(out.TargetGroups, r.describeTargetGroup(tg))
		}
		return out, nil
	})
}

// DescribeTargetGroupAttributes returns a group's attributes, the
// defaults of an instance target group ("Target group attributes",
// application/load-balancer-target-groups.html):
// deregistration_delay.timeout_seconds "The default value is 300 seconds";
// load_balancing.algorithm.type "The default is round_robin";
// slow_start.duration_seconds "The default is 0 seconds (disabled)";
// stickiness.lb_cookie.duration_seconds "The default value is 1 day (86400
// seconds)"; stickiness.type lb_cookie, disabled.
func (e *ELB) DescribeTargetGroupAttributes(ctx context.Context, in *elb.DescribeTargetGroupAttributesInput, _ ...func(*elb.Options)) (*elb.DescribeTargetGroupAttributesOutput, error) {
	return call(ctx, e.r, ServiceELB, "DescribeTargetGroupAttributes", in, func(string) (*elb.DescribeTargetGroupAttributesOutput, error) {
		tg, err := e.r.lookupTargetGroup(in.TargetGroupArn)
		if err != nil {
			return nil, err
		}
		attr := func(k, v string) elbtypes.TargetGroupAttribute {
			return elbtypes.TargetGroupAttribute{Key: aws.String(k), Value: aws.String(v)}
		}
		return &elb.DescribeTargetGroupAttributesOutput{Attributes: []elbtypes.TargetGroupAttribute{
			attr("deregistration_delay.timeout_seconds", strconv.Itoa(int(tg.deregistrationDelay/time.Second))),
			attr("load_balancing.algorithm.type", "round_robin"),
			attr("slow_start.duration_seconds", "0"),
			attr("stickiness.enabled", "false"),
			attr("stickiness.type", "lb_cookie"),
			attr("stickiness.lb_cookie.duration_seconds", "86400"),
		}}, nil
	})
}

// targetPort is the port a target description names, the group's when it
// names none ("you can override the port for a target when you register
// it", RegisterTargets).
func targetPort(tg *targetGroup, d elbtypes.TargetDescription) int32 {
	if d.Port != nil {
		return *d.Port
	}
	return tg.port
}

// RegisterTargets registers instances with a target group. "If the
// target is an EC2 instance, it must be in the running state when you
// register it" (APIReference/API_RegisterTargets.html): one that is not,
// or does not exist, is InvalidTarget ("The specified target does not
// exist, is not in the same VPC as the target group, or has an unsupported
// instance type"), and nothing is registered. A new target is initial
// (Elb.RegistrationInProgress) for Latencies.TargetRegistration, then
// health checked every interval. Registering a registered target changes
// nothing; registering a draining one registers it afresh.
func (e *ELB) RegisterTargets(ctx context.Context, in *elb.RegisterTargetsInput, _ ...func(*elb.Options)) (*elb.RegisterTargetsOutput, error) {
	return call(ctx, e.r, ServiceELB, "RegisterTargets", in, func(string) (*elb.RegisterTargetsOutput, error) {
		r := e.r
		tg, err := r.lookupTargetGroup(in.TargetGroupArn)
		if err != nil {
			return nil, err
		}
		if in.Targets == nil {
			return nil, paramRequired("RegisterTargetsInput", "Targets")
		}
		now := r.now()
		for n, d := range in.Targets {
			id := aws.ToString(d.Id)
			if p := targetPort(tg, d); p < 1 || p > 65535 {
				return nil, validationError(p, fmt.Sprintf("targets.%d.member.port", n+1), "Member must have value between 1 and 65535")
			}
			i, ok := r.instances[id]
			if !ok || !r.visible(i, now) {
				return nil, apiErrorf(ServiceELB, "InvalidTarget", "The following targets are not valid instances: '%s'", id)
			}
			if i.state != stateRunning {
				return nil, apiErrorf(ServiceELB, "InvalidTarget", "The following targets are not in a running state and cannot be registered: '%s'", id)
			}
		}
		for _, d := range in.Targets {
			port := targetPort(tg, d)
			t := tg.find(aws.ToString(d.Id), port)
			if t == nil {
				t = &target{instanceID: aws.ToString(d.Id), port: port}
				tg.targets = append(tg.targets, t)
			} else if t.state != healthDraining {
				continue
			}
			t.set(healthInitial, elbtypes.TargetHealthReasonEnumRegistrationInProgress, descRegistering)
			t.nextCheck, t.drainedAt, t.passes, t.failures = now.Add(r.lat.TargetRegistration), time.Time{}, 0, 0
		}
		return &elb.RegisterTargetsOutput{}, nil
	})
}

// DeregisterTargets starts deregistering targets: "The load balancer stops
// routing requests to a target as soon as it is deregistered. The target
// enters the draining state"; "After the deregistration delay elapses, the
// deregistration process completes and the state of the target is unused"
// ("Registered targets", "Deregistration delay",
// application/load-balancer-target-groups.html), so it leaves
// DescribeTargetHealth's listing. "If the specified target does not
// exist, the action returns successfully" (DeregisterTargets); deregistering
// a draining target changes nothing.
func (e *ELB) DeregisterTargets(ctx context.Context, in *elb.DeregisterTargetsInput, _ ...func(*elb.Options)) (*elb.DeregisterTargetsOutput, error) {
	return call(ctx, e.r, ServiceELB, "DeregisterTargets", in, func(string) (*elb.DeregisterTargetsOutput, error) {
		r := e.r
		tg, err := r.lookupTargetGroup(in.TargetGroupArn)
		if err != nil {
			return nil, err
		}
		if in.Targets == nil {
			return nil, paramRequired("DeregisterTargetsInput", "Targets")
		}
		for _, d := range in.Targets {
			t := tg.find(aws.ToString(d.Id), targetPort(tg, d))
			if t == nil || t.state == healthDraining {
				continue
			}
			if tg.deregistrationDelay == 0 {
				tg.remove(t)
				continue
			}
			t.set(healthDraining, elbtypes.TargetHealthReasonEnumDeregistrationInProgress, descDeregistered)
			t.nextCheck, t.drainedAt = time.Time{}, r.now().Add(tg.deregistrationDelay)
		}
		return &elb.DeregisterTargetsOutput{}, nil
	})
}

// DescribeTargetHealth reports the health of a group's registered
// targets, or of the targets named: one not registered is unused with
// Target.NotRegistered ("Target is not registered to the target group"),
// an id that is no instance is InvalidTarget.
func (e *ELB) DescribeTargetHealth(ctx context.Context, in *elb.DescribeTargetHealthInput, _ ...func(*elb.Options)) (*elb.DescribeTargetHealthOutput, error) {
	return call(ctx, e.r, ServiceELB, "DescribeTargetHealth", in, func(string) (*elb.DescribeTargetHealthOutput, error) {
		r := e.r
		tg, err := r.lookupTargetGroup(in.TargetGroupArn)
		if err != nil {
			return nil, err
		}
		out := &elb.DescribeTargetHealthOutput{}
		add := func(id string, port int32, state elbtypes.TargetHealthStateEnum, reason elbtypes.TargetHealthReasonEnum, desc string) {
			h := &elbtypes.TargetHealth{State: state, Reason: reason}
			if desc != "" {
				h.Description = aws.String(desc)
			}
			out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, elbtypes.TargetHealthDescription{
				Target:          &elbtypes.TargetDescription{Id: aws.String(id), Port: aws.Int32(port)},
				HealthCheckPort: aws.String(strconv.Itoa(int(port))), TargetHealth: h})
		}
		if in.Targets == nil {
			for _, t := range tg.targets {
				state, reason, desc := r.health(t)
				add(t.instanceID, t.port, state, reason, desc)
			}
			return out, nil
		}
		for _, d := range in.Targets {
			id, port := aws.ToString(d.Id), targetPort(tg, d)
			if i, ok := r.instances[id]; !ok || !r.visible(i, r.now()) {
				return nil, apiErrorf(ServiceELB, "InvalidTarget", "The following targets are not valid instances: '%s'", id)
			}
			if t := tg.find(id, port); t != nil {
				state, reason, desc := r.health(t)
				add(id, port, state, reason, desc)
				continue
			}
			add(id, port, healthUnused, elbtypes.TargetHealthReasonEnumNotRegistered, descNotRegister)
		}
		return out, nil
	})
}

// ALBRoute is where the load balancer sends one request.
type ALBRoute struct {
	// TargetGroupARN is the group the forward action chose; "" when the
	// rule forwards nowhere.
	TargetGroupARN string
	// InstanceID and Address ("10.0.1.23:8080", reachable with
	// HTTPClient) are the target; "" when the group has none to offer,
	// where the load balancer itself answers 503.
	InstanceID, Address string
	// Cookie is the AWSALBTG cookie the response carries when target
	// group stickiness is on, "" otherwise. The client sends it back.
	Cookie string
	// stickiness is the rule's stickiness duration, the cookie's lifetime.
	stickiness time.Duration
}

// ALBTargetFor routes one request the way the load balancer would now. arn
// names a listener (the request matched no rule: its default rule
// applies) or a rule (the request matched it); cookie is the AWSALBTG
// cookie the client sent, "" for none.
//
// The target group: "Requests that match a listener rule with weighted
// target groups are distributed to these target groups based on their
// weights"; with target group stickiness on, "When the load balancer
// receives a request that matches a rule with target group stickiness
// enabled and contains the cookie, the request is routed to the target
// group specified in the cookie", and "Requests that do not contain the
// stickiness cookies are routed based on the weight of each target group"
// ("Forward actions", application/rule-action-types.html). A cookie for a
// group the rule no longer forwards to, or one past its duration, counts
// as none. The cookie's expiry is reset by every response: "the
// Application Load Balancer resets the expiry of the cookies it generates
// after every request" ("Sticky sessions",
// application/sticky-sessions.html). The weights in force are those set
// Latencies.ListenerUpdate ago or earlier; the weighted choice draws from
// the region's seeded generator, so a run is reproducible.
//
// The target within the group: round robin, the default algorithm
// ("Routing algorithm", application/load-balancer-target-groups.html),
// over the healthy targets; "If a target group contains only unhealthy
// registered targets, the load balancer routes requests to all those
// targets, regardless of their health status" ("Health checks for your
// target groups"). Targets that are initial, draining, or whose instance
// is stopped or terminated receive nothing.
func (r *Region) ALBTargetFor(arn, cookie string) ALBRoute {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle()
	rl := r.ruleOrDefault(arn)
	if rl == nil {
		return ALBRoute{}
	}
	return r.albRoute(rl, cookie)
}

// albRoute is ALBTargetFor for a rule the request matched. Called with
// r.mu held.
func (r *Region) albRoute(rl *rule, cookie string) ALBRoute {
	now := r.now()
	f := rl.forwardingAt(now)
	group := ""
	if f.stickiness > 0 {
		if g, expires, ok := decodeStickiness(cookie); ok && now.Before(expires) && slices.ContainsFunc(f.groups, func(w weightedGroup) bool { return w.arn == g }) {
			group = g
		}
	}
	if group == "" {
		group = r.weightedChoice(f.groups)
	}
	if group == "" {
		return ALBRoute{}
	}
	route := ALBRoute{TargetGroupARN: group}
	if f.stickiness > 0 {
		route.Cookie, route.stickiness = encodeStickiness(group, now.Add(f.stickiness)), f.stickiness
	}
	tg := r.targetGroups[group]
	if t := r.nextTarget(tg); t != nil {
		route.InstanceID = t.instanceID
		route.Address = fmt.Sprintf("%s:%d", r.instances[t.instanceID].privateIP, t.port)
	}
	return route
}

func (r *Region) weightedChoice(groups []weightedGroup) string {
	total := 0
	for _, g := range groups {
		total += int(g.weight)
	}
	if total == 0 {
		return ""
	}
	n := r.rng.IntN(total)
	for _, g := range groups {
		if n < int(g.weight) {
			return g.arn
		}
		n -= int(g.weight)
	}
	return ""
}

// nextTarget is the group's next target by round robin (see receiving).
func (r *Region) nextTarget(tg *targetGroup) *target {
	pool := r.receiving(tg)
	if len(pool) == 0 {
		return nil
	}
	t := pool[tg.next%len(pool)]
	tg.next++
	return t
}

// receiving lists the group's targets that take requests: the healthy
// ones, or when there are none, the unhealthy ones (fail open).
func (r *Region) receiving(tg *targetGroup) []*target {
	var pool []*target
	for _, want := range []elbtypes.TargetHealthStateEnum{healthHealthy, healthUnhealthy} {
		for _, t := range tg.targets {
			if state, _, _ := r.health(t); state == want {
				pool = append(pool, t)
			}
		}
		if len(pool) > 0 {
			break
		}
	}
	return pool
}

// ALBServing lists the instances that take the requests of the heaviest
// target group a listener (or rule) forwards to now: where most users
// without a cookie land, the live side behind the load balancer. Ties go
// to the group listed first; none when the rule forwards nowhere. Unlike
// ALBTargetFor it draws no weight and moves no round robin cursor.
func (r *Region) ALBServing(arn string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle()
	rl := r.ruleOrDefault(arn)
	if rl == nil {
		return nil
	}
	heaviest := weightedGroup{}
	for _, g := range rl.forwardingAt(r.now()).groups {
		if g.weight > heaviest.weight {
			heaviest = g
		}
	}
	if heaviest.arn == "" {
		return nil
	}
	var ids []string
	for _, t := range r.receiving(r.targetGroups[heaviest.arn]) {
		ids = append(ids, t.instanceID)
	}
	return ids
}

// The AWSALBTG cookie is encrypted on AWS ("encodes information about the
// selected target group, encrypts the cookie"); here it only encodes the
// group and the expiry, which callers must treat as opaque all the same.
func encodeStickiness(group string, expires time.Time) string {
	return base64.RawURLEncoding.EncodeToString([]byte(group + "|" + strconv.FormatInt(expires.Unix(), 10)))
}

func decodeStickiness(cookie string) (string, time.Time, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil {
		return "", time.Time{}, false
	}
	group, unix, ok := strings.Cut(string(raw), "|")
	if !ok {
		return "", time.Time{}, false
	}
	secs, err := strconv.ParseInt(unix, 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return group, time.Unix(secs, 0).UTC(), true
}

// RecordALBRequest counts a request a target of the group answered with
// status, for the group's CloudWatch metrics (RequestCount,
// HTTPCode_Target_5XX_Count). Only responses a target generated count:
// RequestCount "includes only the requests with a response generated by a
// target of the load balancer", and the HTTPCode_Target counts "do not
// include any response codes generated by the load balancer" (CloudWatch
// metrics for your Application Load Balancer,
// application/load-balancer-cloudwatch-metrics.html); so the load
// balancer's own 503 when ALBTargetFor found no target is not recorded.
func (r *Region) RecordALBRequest(targetGroupARN string, status int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle()
	tg, ok := r.targetGroups[targetGroupARN]
	if !ok {
		return errUnknown("target group", targetGroupARN)
	}
	if status < 100 || status > 599 {
		return fmt.Errorf("sim: %d is no HTTP status a target answers with", status)
	}
	minute := r.now().Truncate(time.Minute)
	c := tg.metrics[minute]
	if c == nil {
		c = &minuteCounts{}
		tg.metrics[minute] = c
	}
	c.requests++
	if status >= 500 {
		c.target5xx++
	}
	for _, lbARN := range r.loadBalancersOf(targetGroupARN) {
		r.balancers[lbARN].active[minute] = true
	}
	return nil
}

// ruleOrDefault is the rule arn names, or the default rule of the listener
// it names; nil for neither. Called with r.mu held.
func (r *Region) ruleOrDefault(arn string) *rule {
	if rl, err := r.lookupRule(arn); err == nil {
		return rl
	}
	if ls, err := r.lookupListener(arn); err == nil {
		return ls.defaultRule
	}
	return nil
}
