package traffic

import (
	"context"
	"fmt"
	"slices"
	"sort"
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
func (a alb) forward(ctx context.Context) (map[string]int32, string, error) {
	var actions []elbtypes.Action
	var lbARN string
	if a.rule != "" {
		out, err := a.elb.DescribeRules(ctx, &elb.DescribeRulesInput{RuleArns: []string{a.rule}})
		if err != nil {
			return nil, "", a.callError("elasticloadbalancing:DescribeRules", a.rule, err)
		}
		if len(out.Rules) != 1 {
			return nil, "", a.callError("elasticloadbalancing:DescribeRules", a.rule, NotFound{Front: "listener rule " + a.rule})
		}
		actions = out.Rules[0].Actions
	}
	out, err := a.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{a.listener}})
	if err != nil {
		return nil, "", a.callError("elasticloadbalancing:DescribeListeners", a.listener, err)
	}
	if len(out.Listeners) != 1 {
		return nil, "", a.callError("elasticloadbalancing:DescribeListeners", a.listener, NotFound{Front: "listener " + a.listener})
	}
	lbARN = aws.ToString(out.Listeners[0].LoadBalancerArn)
	if a.rule == "" {
		actions = out.Listeners[0].DefaultActions
	}
	weights := map[string]int32{}
	for _, act := range actions {
		if act.Type != elbtypes.ActionTypeEnumForward {
			continue
		}
		if act.ForwardConfig != nil && len(act.ForwardConfig.TargetGroups) > 0 {
			for _, tg := range act.ForwardConfig.TargetGroups {
				weights[aws.ToString(tg.TargetGroupArn)] = aws.ToInt32(tg.Weight)
			}
		} else if arn := aws.ToString(act.TargetGroupArn); arn != "" {
			weights[arn] = 1
		}
	}
	return weights, lbARN, nil
}

// registered lists the instances registered in a target group that are
// not leaving it (draining) and have not failed to register (unused).
func (a alb) registered(ctx context.Context, group string) ([]string, error) {
	out, err := a.elb.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(group)})
	if err != nil {
		return nil, a.callError("elasticloadbalancing:DescribeTargetHealth", group, err)
	}
	var ids []string
	for _, d := range out.TargetHealthDescriptions {
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
	weights, lbARN, err := a.forward(ctx)
	if err != nil {
		return Split{}, err
	}
	sp, err := a.split(ctx, weights)
	if err != nil || lbARN == "" {
		return sp, err
	}
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
	weights, _, err := a.forward(ctx)
	if err != nil {
		return Move{}, err
	}
	before, err := a.split(ctx, weights)
	if err != nil {
		return Move{}, err
	}
	mv := Move{From: before.Serving(), To: to, Weight: weight}
	if weights[target] == int32(weight) && weights[other] == int32(100-weight) {
		return mv, nil
	}
	sticky := &elbtypes.TargetGroupStickinessConfig{Enabled: aws.Bool(a.stickiness > 0)}
	if a.stickiness > 0 {
		sticky.DurationSeconds = aws.Int32(int32(a.stickiness / time.Second))
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
