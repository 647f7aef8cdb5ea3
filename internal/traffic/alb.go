package traffic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/greenlight/greenlight/internal/awsapi"
)

// alb routes through an Application Load Balancer: the listener's default
// action (or one of its rules) forwards to two target groups by weight,
// and a side is the set of instances registered in one group. Which group
// is live is whichever has the weight; the other is where a candidate is
// registered.
type alb struct {
	elb        awsapi.ELB
	listener   string
	rule       string    // "" manages the listener's default action
	groups     [2]string // the two target groups greenlight alternates
	stickiness time.Duration
}

// forward reads the weights of the managed forward action, by target group
// ARN. A listener's or rule's forward action is "Type": "forward" with
// ForwardConfig.TargetGroups, each an Arn and a Weight ("Listeners for
// your Application Load Balancers", Forward actions, docs.aws.amazon.com/
// elasticloadbalancing/latest/application/load-balancer-listeners.html:
// "Each target group weight is a value from 0 to 999"); a forward action
// naming one TargetGroupArn is that group at full weight.
func (a alb) forward(ctx context.Context) (forwarding, error) {
	var actions []elbtypes.Action
	var lbARN, host string
	probe := true
	if a.rule != "" {
		out, err := a.elb.DescribeRules(ctx, &elb.DescribeRulesInput{RuleArns: []string{a.rule}})
		if err != nil {
			return forwarding{}, a.callError("elasticloadbalancing:DescribeRules", a.rule, err)
		}
		if len(out.Rules) != 1 {
			return forwarding{}, a.callError("elasticloadbalancing:DescribeRules", a.rule, NotFound{Front: "listener rule " + a.rule})
		}
		actions = out.Rules[0].Actions
		host, probe = probeHost(out.Rules[0].Conditions)
	}
	out, err := a.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{a.listener}})
	if err != nil {
		return forwarding{}, a.callError("elasticloadbalancing:DescribeListeners", a.listener, err)
	}
	if len(out.Listeners) != 1 {
		return forwarding{}, a.callError("elasticloadbalancing:DescribeListeners", a.listener, NotFound{Front: "listener " + a.listener})
	}
	lbARN = aws.ToString(out.Listeners[0].LoadBalancerArn)
	port, tls := int(aws.ToInt32(out.Listeners[0].Port)), out.Listeners[0].Protocol == elbtypes.ProtocolEnumHttps
	if a.rule == "" {
		actions = out.Listeners[0].DefaultActions
	}
	weights := map[string]int32{}
	sticky := false
	for _, act := range actions {
		if act.Type != elbtypes.ActionTypeEnumForward {
			continue
		}
		if c := act.ForwardConfig; c != nil && c.TargetGroupStickinessConfig != nil {
			sticky = aws.ToBool(c.TargetGroupStickinessConfig.Enabled)
		}
		if act.ForwardConfig != nil && len(act.ForwardConfig.TargetGroups) > 0 {
			for _, tg := range act.ForwardConfig.TargetGroups {
				weights[aws.ToString(tg.TargetGroupArn)] = aws.ToInt32(tg.Weight)
			}
		} else if arn := aws.ToString(act.TargetGroupArn); arn != "" {
			weights[arn] = 1
		}
	}
	return forwarding{weights: weights, sticky: sticky, loadBalancer: lbARN, port: port, tls: tls, probe: probe && !tls, probeHost: host}, nil
}

// forwarding is what the managed forward action says: each target group's
// weight, whether group stickiness is on, and the load balancer.
type forwarding struct {
	weights      map[string]int32
	sticky       bool
	loadBalancer string
	// port and tls are the listener's; probe and probeHost say how an
	// HTTP check reaches the managed action (Split.Probe).
	port      int
	tls       bool
	probe     bool
	probeHost string
}

// probeHost is the Host header that makes a request match a rule: its one
// literal host-header value. A rule with another kind of condition, or a
// wildcard host, cannot be matched by a probe of the app's paths ("Host
// conditions", "Path conditions", elasticloadbalancing/latest/application/
// rule-condition-types.html).
func probeHost(conds []elbtypes.RuleCondition) (string, bool) {
	host := ""
	for _, c := range conds {
		if aws.ToString(c.Field) != "host-header" {
			return "", false
		}
		values := c.Values
		if c.HostHeaderConfig != nil && len(c.HostHeaderConfig.Values) > 0 {
			values = c.HostHeaderConfig.Values
		}
		for _, v := range values {
			if !strings.ContainsAny(v, "*?") {
				host = v
				break
			}
		}
	}
	return host, host != ""
}

// targets lists a target group's targets, draining ones included, with
// their health.
func (a alb) targets(ctx context.Context, group string) ([]elbtypes.TargetHealthDescription, error) {
	out, err := a.elb.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(group)})
	if err != nil {
		return nil, a.callError("elasticloadbalancing:DescribeTargetHealth", group, err)
	}
	return out.TargetHealthDescriptions, nil
}

// registered lists the instances registered in a target group that are
// not leaving it (draining) and have not failed to register (unused).
func (a alb) registered(ctx context.Context, group string) ([]string, error) {
	all, err := a.targets(ctx, group)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, d := range all {
		if d.TargetHealth != nil && (d.TargetHealth.State == elbtypes.TargetHealthStateEnumDraining || d.TargetHealth.State == elbtypes.TargetHealthStateEnumUnused) {
			continue
		}
		if d.Target != nil {
			ids = append(ids, aws.ToString(d.Target.Id))
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Split reads the forward action's weights (as percentages of their sum)
// and each group's registered instances; the front is the load balancer's
// DNS name.
func (a alb) Split(ctx context.Context) (Split, error) {
	fw, err := a.forward(ctx)
	if err != nil {
		return Split{}, err
	}
	lbARN := fw.loadBalancer
	sp, err := a.split(ctx, fw.weights)
	if err != nil || lbARN == "" {
		return sp, err
	}
	sp.Port, sp.TLS, sp.Probe, sp.ProbeHost = fw.port, fw.tls, fw.probe, fw.probeHost
	out, err := a.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{lbARN}})
	if err != nil {
		return Split{}, a.callError("elasticloadbalancing:DescribeLoadBalancers", lbARN, err)
	}
	if len(out.LoadBalancers) == 1 {
		sp.Front = aws.ToString(out.LoadBalancers[0].DNSName)
	}
	return sp, nil
}

// split is the sides behind the managed groups' weights (without the
// front).
func (a alb) split(ctx context.Context, weights map[string]int32) (Split, error) {
	sp := Split{}
	var total int32
	for _, g := range a.groups {
		total += weights[g]
	}
	if total == 0 {
		return sp, nil
	}
	for _, g := range a.groups {
		if weights[g] == 0 {
			continue
		}
		ids, err := a.registered(ctx, g)
		if err != nil {
			return Split{}, err
		}
		sp.Sides = append(sp.Sides, Share{Side: Side{Instances: ids}, Weight: int(weights[g] * 100 / total)})
	}
	sort.SliceStable(sp.Sides, func(i, j int) bool { return sp.Sides[i].Weight > sp.Sides[j].Weight })
	// Integer percentages of a sum other than 100 may round down: the
	// heaviest side takes the remainder so the split adds up to 100.
	if n := sp.Total(); n != 100 && len(sp.Sides) > 0 {
		sp.Sides[0].Weight += 100 - n
	}
	return sp, nil
}

// groupOf is the managed target group the side is registered in: every one
// of its instances, and no other group of the two holding them all.
func (a alb) groupOf(ctx context.Context, to Side) (string, error) {
	for _, g := range a.groups {
		ids, err := a.registered(ctx, g)
		if err != nil {
			return "", err
		}
		all := len(to.Instances) > 0
		for _, id := range to.Instances {
			if !slices.Contains(ids, id) {
				all = false
			}
		}
		if all {
			return g, nil
		}
	}
	return "", fmt.Errorf("%w: %s is not registered in either target group (%s, %s): register it before shifting traffic to it",
		ErrUnsupported, to, a.groups[0], a.groups[1])
}

// Shift sets the forward action to send weight percent to the side's
// target group and the rest to the other, with group-level stickiness for
// the configured duration (TargetGroupStickinessConfig, "Listeners for
// your Application Load Balancers": "DurationSeconds ... The range is 1 to
// 604800 seconds (7 days)"), so a user stays with the version they reached
// while the weights move. Weights already so change nothing.
func (a alb) Shift(ctx context.Context, to Side, weight int) (Move, error) {
	if weight < 0 || weight > 100 {
		return Move{}, fmt.Errorf("%w: weight %d %% is not a percentage", ErrUnsupported, weight)
	}
	target, err := a.groupOf(ctx, to)
	if err != nil {
		return Move{}, err
	}
	other := a.groups[0]
	if other == target {
		other = a.groups[1]
	}
	fw, err := a.forward(ctx)
	if err != nil {
		return Move{}, err
	}
	weights := fw.weights
	before, err := a.split(ctx, weights)
	if err != nil {
		return Move{}, err
	}
	// Stickiness holds only while both sides receive traffic: a sticky
	// request goes to the group its cookie names whatever the weights
	// say ("Forward actions", application/rule-action-types.html: "the
	// request is routed to the target group specified in the cookie"), so
	// at 100 % (or 0 %) it is turned off, or the users who reached the
	// other side would stay there until their cookie expired, and the
	// ALB resets that expiry on every request ("Sticky sessions",
	// application/sticky-sessions.html). AWS's own answer on re:Post
	// ("ALB to automatically redirect traffic", repost.aws/questions/
	// QUugYm4uzWSI2af5mnmMjlZQ): "Stickiness takes precedence over
	// adjusting Weight."
	sticky := &elbtypes.TargetGroupStickinessConfig{Enabled: aws.Bool(false)}
	if a.stickiness > 0 && weight > 0 && weight < 100 {
		sticky.Enabled = aws.Bool(true)
		sticky.DurationSeconds = aws.Int32(int32(a.stickiness / time.Second))
	}
	mv := Move{From: before.Serving(), To: to, Weight: weight}
	if weights[target] == int32(weight) && weights[other] == int32(100-weight) && fw.sticky == aws.ToBool(sticky.Enabled) {
		return mv, nil
	}
	action := []elbtypes.Action{{
		Type: elbtypes.ActionTypeEnumForward,
		ForwardConfig: &elbtypes.ForwardActionConfig{
			TargetGroups: []elbtypes.TargetGroupTuple{
				{TargetGroupArn: aws.String(target), Weight: aws.Int32(int32(weight))},
				{TargetGroupArn: aws.String(other), Weight: aws.Int32(int32(100 - weight))},
			},
			TargetGroupStickinessConfig: sticky,
		},
	}}
	if a.rule != "" {
		if _, err := a.elb.ModifyRule(ctx, &elb.ModifyRuleInput{RuleArn: aws.String(a.rule), Actions: action}); err != nil {
			return Move{}, a.callError("elasticloadbalancing:ModifyRule", a.rule, err)
		}
		mv.Detail = a.rule
	} else {
		if _, err := a.elb.ModifyListener(ctx, &elb.ModifyListenerInput{ListenerArn: aws.String(a.listener), DefaultActions: action}); err != nil {
			return Move{}, a.callError("elasticloadbalancing:ModifyListener", a.listener, err)
		}
		mv.Detail = a.listener
	}
	mv.Changed = true
	return mv, nil
}

// Serves looks for the instance in every target group of the account, the
// app's or another: registered (and not draining) in a group, it receives
// traffic from whatever forwards to that group.
func (a alb) Serves(ctx context.Context, instanceID string) (bool, string, error) {
	var marker *string
	for {
		out, err := a.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Marker: marker})
		if err != nil {
			return false, "", a.callError("elasticloadbalancing:DescribeTargetGroups", instanceID, err)
		}
		for _, g := range out.TargetGroups {
			ids, err := a.registered(ctx, aws.ToString(g.TargetGroupArn))
			if err != nil {
				return false, "", err
			}
			if slices.Contains(ids, instanceID) {
				return true, fmt.Sprintf("it is registered in target group %s", aws.ToString(g.TargetGroupName)), nil
			}
		}
		if marker = out.NextMarker; marker == nil {
			return false, "", nil
		}
	}
}

func (a alb) callError(op, resource string, err error) error {
	if notFound(err) {
		err = NotFound{Front: resource, Err: err}
	}
	return &CallError{Op: op, Resource: resource, Err: err}
}

// Register puts the side in the target group that does not serve: the one
// already holding it all, else the one with no weight. Any other instance
// registered there is an older side kept for rollback, which this side
// replaces: it is deregistered (it receives nothing at weight 0, so no
// request is cut). Health is the side's as DescribeTargetHealth reports
// it: a target "must pass one health check to be considered healthy"
// after registration ("Health checks for your target groups",
// application/target-group-health-checks.html), so it is initial for up
// to one health check interval after registration.
func (a alb) Register(ctx context.Context, side Side) (Health, error) {
	if len(side.Instances) == 0 {
		return Health{}, fmt.Errorf("%w: an empty side cannot be registered", ErrUnsupported)
	}
	fw, err := a.forward(ctx)
	if err != nil {
		return Health{}, err
	}
	group, err := a.idleGroup(ctx, side, fw.weights)
	if err != nil {
		return Health{}, err
	}
	if _, listed := fw.weights[group]; !listed {
		// A group no rule forwards to has its targets unused, never
		// health-checked: "Before the load balancer sends a health check
		// request to a target, you must register it with a target group,
		// specify its target group in a listener rule" ("Health checks for
		// your target groups", application/target-group-health-checks.html).
		// A listener forwarding to the live group alone gets the idle one
		// at weight 0, which changes no user's route.
		sp, err := a.split(ctx, fw.weights)
		if err != nil {
			return Health{}, err
		}
		if _, err := a.Shift(ctx, sp.Serving(), 100); err != nil {
			return Health{}, err
		}
	}
	all, err := a.targets(ctx, group)
	if err != nil {
		return Health{}, err
	}
	var stale []elbtypes.TargetDescription
	listed := map[string]elbtypes.TargetHealthDescription{}
	for _, t := range all {
		id := aws.ToString(t.Target.Id)
		listed[id] = t
		if !side.Has(id) && t.TargetHealth != nil && t.TargetHealth.State != elbtypes.TargetHealthStateEnumDraining {
			stale = append(stale, elbtypes.TargetDescription{Id: t.Target.Id, Port: t.Target.Port})
		}
	}
	if len(stale) > 0 {
		if _, err := a.elb.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(group), Targets: stale}); err != nil {
			return Health{}, a.callError("elasticloadbalancing:DeregisterTargets", group, err)
		}
	}
	var missing []elbtypes.TargetDescription
	for _, id := range side.Instances {
		t, ok := listed[id]
		if !ok || t.TargetHealth == nil || t.TargetHealth.State == elbtypes.TargetHealthStateEnumDraining {
			missing = append(missing, elbtypes.TargetDescription{Id: aws.String(id)})
		}
	}
	if len(missing) > 0 {
		if _, err := a.elb.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(group), Targets: missing}); err != nil {
			return Health{}, a.callError("elasticloadbalancing:RegisterTargets", group, err)
		}
		// Just registered: the registration is in progress.
		h := Health{Group: group, Unhealthy: map[string]string{}}
		for _, id := range side.Instances {
			h.Unhealthy[id] = "initial: " + string(elbtypes.TargetHealthReasonEnumRegistrationInProgress)
		}
		return h, nil
	}
	return a.health(group, side, listed), nil
}

// Health finds the managed group holding the side and reads its health
// there.
func (a alb) Health(ctx context.Context, side Side) (Health, error) {
	for _, g := range a.groups {
		all, err := a.targets(ctx, g)
		if err != nil {
			return Health{}, err
		}
		listed := map[string]elbtypes.TargetHealthDescription{}
		for _, t := range all {
			if t.TargetHealth == nil || t.TargetHealth.State != elbtypes.TargetHealthStateEnumDraining {
				listed[aws.ToString(t.Target.Id)] = t
			}
		}
		for _, id := range side.Instances {
			if _, ok := listed[id]; ok {
				return a.health(g, side, listed), nil
			}
		}
	}
	return a.health("", side, nil), nil
}

// idleGroup is the managed group the side goes in: the one holding it
// already, else the one without weight. Both receiving traffic means a
// shift is under way, and registering now would send some of it to the
// side at once.
func (a alb) idleGroup(ctx context.Context, side Side, weights map[string]int32) (string, error) {
	if g, err := a.groupOf(ctx, side); err == nil {
		return g, nil
	} else if !errors.Is(err, ErrUnsupported) {
		return "", err
	}
	for _, g := range a.groups {
		if weights[g] == 0 {
			return g, nil
		}
	}
	return "", fmt.Errorf("%w: both target groups (%s %d, %s %d) receive traffic: a shift is under way; finish it or roll it back before registering %s",
		ErrUnsupported, a.groups[0], weights[a.groups[0]], a.groups[1], weights[a.groups[1]], side)
}

// health reads the side's targets from a group's listing.
func (a alb) health(group string, side Side, listed map[string]elbtypes.TargetHealthDescription) Health {
	h := Health{Group: group, Unhealthy: map[string]string{}}
	for _, id := range side.Instances {
		t, ok := listed[id]
		switch {
		case !ok || t.TargetHealth == nil:
			h.Unhealthy[id] = "not registered"
		case t.TargetHealth.State == elbtypes.TargetHealthStateEnumHealthy:
			h.Healthy = append(h.Healthy, id)
		default:
			h.Unhealthy[id] = strings.TrimSuffix(string(t.TargetHealth.State)+": "+string(t.TargetHealth.Reason), ": ")
		}
	}
	return h
}

// Deregister takes the side's instances out of both managed groups and
// reports them gone once neither lists them: a deregistered target drains
// for the group's deregistration delay ("Deregistration delay",
// application/load-balancer-target-groups.html: "Elastic Load Balancing
// stops sending requests to targets that are deregistering"; in-flight
// requests complete meanwhile) and then leaves the listing. A group with
// weight is refused: its instances still receive traffic.
func (a alb) Deregister(ctx context.Context, side Side) (bool, error) {
	fw, err := a.forward(ctx)
	if err != nil {
		return false, err
	}
	gone := true
	for _, g := range a.groups {
		all, err := a.targets(ctx, g)
		if err != nil {
			return false, err
		}
		var out []elbtypes.TargetDescription
		for _, t := range all {
			if !side.Has(aws.ToString(t.Target.Id)) {
				continue
			}
			gone = false
			if t.TargetHealth != nil && t.TargetHealth.State == elbtypes.TargetHealthStateEnumDraining {
				continue
			}
			if fw.weights[g] > 0 {
				return false, fmt.Errorf("%w: %s is registered in target group %s, which receives %d of the traffic; shift it away first",
					ErrServing, aws.ToString(t.Target.Id), g, fw.weights[g])
			}
			out = append(out, elbtypes.TargetDescription{Id: t.Target.Id, Port: t.Target.Port})
		}
		if len(out) > 0 {
			if _, err := a.elb.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(g), Targets: out}); err != nil {
				return false, a.callError("elasticloadbalancing:DeregisterTargets", g, err)
			}
		}
	}
	return gone, nil
}
