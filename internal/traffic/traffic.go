// Package traffic is the one way a step sees or moves the app's public
// traffic. It deals in sides and weights: a Side is the set of instances
// serving one version, a Split says which sides receive what share of the
// traffic behind the front users reach, and Shift sends a share to a side.
// Steps ask For the router of their front and never call the routing API
// themselves (guard_test.go checks it).
//
// Two routers implement it. Behind an Elastic IP a side is one instance
// and a split is all or nothing; behind an ALB (alb.go) a side is the
// instances registered in one of two target groups and a split is the
// listener's weighted forward action.
package traffic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/internal/release"
)

// Router sees and moves the app's traffic between sides.
type Router interface {
	// Split reports where traffic goes now and the front users reach. A
	// front that does not exist is a NotFound error.
	Split(ctx context.Context) (Split, error)
	// Shift sends weight percent (0 to 100) of the traffic to the side
	// to and the rest to the other side. A shift that finds the split
	// already so changes nothing and reports Changed false, so a retried
	// step is safe. A weight the router cannot route is ErrUnsupported.
	Shift(ctx context.Context, to Side, weight int) (Move, error)
	// Serves reports whether instanceID receives users' traffic through
	// any front of its kind (not only this app's), and if so how, worded
	// to follow "it": "it holds Elastic IP …". An instance that serves
	// must not be terminated.
	Serves(ctx context.Context, instanceID string) (bool, string, error)
	// Register makes the side ready to be shifted to and reports its
	// health as the front sees it. Behind an ALB its instances are
	// registered in the target group that does not serve, and any other
	// instance left there (an older kept side) is taken out; behind an
	// Elastic IP there is nothing to register and the side is reported
	// healthy. Registering a side already registered changes nothing.
	Register(ctx context.Context, side Side) (Health, error)
	// Health reports the side's health behind the front without changing
	// anything: behind an ALB, in the managed group that holds it (not
	// registered: every instance unhealthy, "not registered").
	Health(ctx context.Context, side Side) (Health, error)
	// Deregister takes the side's instances out of the front and reports
	// whether they are gone (behind an ALB: deregistered and drained,
	// the group's deregistration delay honoured). It refuses a side
	// that receives traffic: shift it to 0 first.
	Deregister(ctx context.Context, side Side) (bool, error)
}

// Health is a side's health as its front reports it.
type Health struct {
	// Group is the ALB target group the side is registered in ("" behind
	// an Elastic IP).
	Group string
	// Healthy lists the side's instances the front reports healthy;
	// Unhealthy the others, each with the front's state and reason
	// ("initial: Elb.RegistrationInProgress").
	Healthy   []string
	Unhealthy map[string]string
}

// Ready reports whether every instance of the side is healthy.
func (h Health) Ready() bool { return len(h.Unhealthy) == 0 && len(h.Healthy) > 0 }

// Front says how users reach the app, from the deployed config or the
// release's record of it: an Elastic IP, or an ALB listener (or one of its
// rules) forwarding to two target groups.
type Front struct {
	// AllocationID is the app's Elastic IP (live.elasticIpAllocationId).
	// Serves does not need it.
	AllocationID string
	// ListenerARN, when set, routes through an ALB instead: its forward
	// action (or RuleARN's) splits traffic between TargetGroupARNs, with
	// group stickiness for Stickiness (0: off).
	ListenerARN     string
	RuleARN         string
	TargetGroupARNs [2]string
	Stickiness      time.Duration
}

// FrontOf is the front a config names: its ALB listener (or rule) and
// target groups in traffic.mode alb, else its Elastic IP.
func FrontOf(c release.Config) Front {
	if c.UsesALB() && c.Traffic.ALB != nil {
		f := Front{ListenerARN: c.Traffic.ALB.ListenerARN, RuleARN: c.Traffic.ALB.RuleARN, Stickiness: c.Stickiness()}
		copy(f.TargetGroupARNs[:], c.Traffic.ALB.TargetGroupARNs)
		return f
	}
	return Front{AllocationID: c.Live.ElasticIPAllocationID}
}

// For is the router of front: every step gets its router here.
func For(c awsapi.Clients, front Front) Router {
	if front.ListenerARN != "" {
		return alb{elb: c.ELB, listener: front.ListenerARN, rule: front.RuleARN, groups: front.TargetGroupARNs, stickiness: front.Stickiness}
	}
	return elasticIP{ec2: c.EC2, allocationID: front.AllocationID}
}

// Side is the set of instances serving one version of the app. Behind an
// Elastic IP a side is exactly one instance.
type Side struct {
	Instances []string
}

// One is the side of a single instance.
func One(instanceID string) Side { return Side{Instances: []string{instanceID}} }

// Has reports whether instanceID is on the side.
func (s Side) Has(instanceID string) bool { return slices.Contains(s.Instances, instanceID) }

// String lists the side's instances ("" for an empty side): the instance
// id itself for a side of one.
func (s Side) String() string { return strings.Join(s.Instances, ",") }

// Split is where the app's traffic goes.
type Split struct {
	// Front is what users reach: the Elastic IP's public address (an
	// ALB's DNS name).
	Front string
	// Port and TLS are the ALB listener's port and whether it is HTTPS;
	// behind an Elastic IP users reach the app's own port (0 here).
	Port int
	TLS  bool
	// Probe says whether an HTTP check of the front reaches what the
	// router manages, and ProbeHost the Host header it must send: behind
	// a rule, the rule's host name. An HTTPS listener, or a rule matching
	// on anything but one literal host name, cannot be probed so.
	Probe     bool
	ProbeHost string
	// Sides are the sides receiving traffic, heaviest first, their
	// weights summing to 100; none when the front routes nowhere (an
	// Elastic IP associated with no instance).
	Sides []Share
}

// Share is a side and the percentage of the traffic it receives.
type Share struct {
	Side   Side
	Weight int
}

// Serving is the side receiving the most traffic, empty when none does.
func (s Split) Serving() Side {
	if len(s.Sides) == 0 {
		return Side{}
	}
	return s.Sides[0].Side
}

// Weight is the percentage of the traffic instanceID's side receives.
func (s Split) Weight(instanceID string) int {
	for _, sh := range s.Sides {
		if sh.Side.Has(instanceID) {
			return sh.Weight
		}
	}
	return 0
}

// Total is the percentage of the traffic that reaches any instance: 100,
// or 0 when the front routes nowhere.
func (s Split) Total() int {
	t := 0
	for _, sh := range s.Sides {
		t += sh.Weight
	}
	return t
}

// Move is what a Shift did.
type Move struct {
	// From is the side that received the most traffic before (empty for
	// none); To the side shifted to, which now receives Weight percent.
	From, To Side
	Weight   int
	Changed  bool
	// Detail identifies the routing change (the EIP association id); ""
	// when nothing changed.
	Detail string
}

// NotFound is the error of a front that does not exist: an Elastic IP
// released, or never allocated in this account and region. Err is the AWS
// error that said so, if any, so the error still classifies as the AWS
// error it was.
type NotFound struct {
	Front string // "Elastic IP eipalloc-…"
	Err   error
}

func (e NotFound) Error() string {
	if e.Err != nil {
		return e.Front + " does not exist: " + e.Err.Error()
	}
	return e.Front + " does not exist"
}

func (e NotFound) Unwrap() error { return e.Err }

// ErrUnsupported is the error of a shift the router cannot route.
var ErrUnsupported = errors.New("unsupported shift")

// ErrServing is the error of taking out of the front a side that still
// receives traffic.
var ErrServing = errors.New("side still serves")

// CallError is a failed call to the routing API, naming it and what it was
// about, the way step errors name them ("ec2:DescribeAddresses
// eipalloc-…").
type CallError struct {
	Op, Resource string
	Err          error
}

func (e *CallError) Error() string { return e.Op + " " + e.Resource + ": " + e.Err.Error() }

func (e *CallError) Unwrap() error { return e.Err }

// EC2 is the part of the EC2 API the Elastic IP router uses.
type EC2 interface {
	DescribeAddresses(ctx context.Context, in *ec2.DescribeAddressesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeAddressesOutput, error)
	AssociateAddress(ctx context.Context, in *ec2.AssociateAddressInput, optFns ...func(*ec2.Options)) (*ec2.AssociateAddressOutput, error)
}

// elasticIP routes by associating the app's Elastic IP with the one
// instance that serves.
type elasticIP struct {
	ec2          EC2
	allocationID string
}

// Split reads the Elastic IP's association. DescribeAddresses by
// allocation id ("DescribeAddresses", Amazon EC2 API Reference,
// docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeAddresses.html)
// answers with the address, its PublicIp and, if associated, its
// InstanceId; an allocation id that does not exist fails the call with a
// NotFound code (InvalidAllocationID.NotFound), and an empty answer is
// taken the same way.
func (e elasticIP) Split(ctx context.Context) (Split, error) {
	out, err := e.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{e.allocationID}})
	if err != nil {
		if notFound(err) {
			err = NotFound{Front: e.front(), Err: err}
		}
		return Split{}, &CallError{Op: "ec2:DescribeAddresses", Resource: e.allocationID, Err: err}
	}
	if len(out.Addresses) != 1 {
		return Split{}, &CallError{Op: "ec2:DescribeAddresses", Resource: e.allocationID, Err: NotFound{Front: e.front()}}
	}
	a := out.Addresses[0]
	sp := Split{Front: aws.ToString(a.PublicIp), Probe: true}
	if id := aws.ToString(a.InstanceId); id != "" {
		sp.Sides = []Share{{Side: One(id), Weight: 100}}
	}
	return sp, nil
}

// Shift associates the Elastic IP with the side's instance, taking it from
// whichever instance holds it: one call, no moment without an association.
// AssociateAddress ("AssociateAddress", Amazon EC2 API Reference,
// docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AssociateAddress.html):
// an address already associated with a different instance "is
// disassociated from that instance and associated with the specified
// instance"; AllowReassociation "Reassociation is automatic, but you can
// specify false to ensure the operation fails if the Elastic IP address
// is already associated with another resource" — set to true, so a move
// never fails for that.
//
// An Elastic IP is all or nothing: weight 100 moves it, weight 0 is
// possible only to a side it is not on (the rest stays where it is: the
// address cannot be left on no instance without taking the site down);
// any other weight, or a side of more than one instance, needs an ALB.
func (e elasticIP) Shift(ctx context.Context, to Side, weight int) (Move, error) {
	if len(to.Instances) != 1 {
		return Move{}, fmt.Errorf("%w: the Elastic IP %s routes to one instance, not %d (%q); a fleet per side needs traffic.mode alb",
			ErrUnsupported, e.allocationID, len(to.Instances), to.String())
	}
	if weight != 0 && weight != 100 {
		return Move{}, fmt.Errorf("%w: the Elastic IP %s sends all traffic to one instance, so %d %% to %s needs traffic.mode alb",
			ErrUnsupported, e.allocationID, weight, to)
	}
	id := to.Instances[0]
	sp, err := e.Split(ctx)
	if err != nil {
		return Move{}, err
	}
	from := sp.Serving()
	mv := Move{From: from, To: to, Weight: weight}
	switch {
	case weight == 0 && !from.Has(id):
		return mv, nil
	case weight == 0:
		return Move{}, fmt.Errorf("%w: the Elastic IP %s is on %s and cannot be left on no instance; shift 100 %% to the side that is to serve instead",
			ErrUnsupported, e.allocationID, id)
	case from.Has(id):
		return mv, nil
	}
	out, err := e.ec2.AssociateAddress(ctx, &ec2.AssociateAddressInput{
		AllocationId:       aws.String(e.allocationID),
		InstanceId:         aws.String(id),
		AllowReassociation: aws.Bool(true),
	})
	if err != nil {
		return Move{}, &CallError{Op: "ec2:AssociateAddress", Resource: e.allocationID + " to " + id, Err: err}
	}
	mv.Changed, mv.Detail = true, aws.ToString(out.AssociationId)
	return mv, nil
}

// Serves looks for any Elastic IP on the instance, the app's or another:
// DescribeAddresses' instance-id filter is "the ID of the instance the
// address is associated with, if any" (API Reference, as above).
func (e elasticIP) Serves(ctx context.Context, instanceID string) (bool, string, error) {
	out, err := e.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []types.Filter{{Name: aws.String("instance-id"), Values: []string{instanceID}}}})
	if err != nil {
		return false, "", &CallError{Op: "ec2:DescribeAddresses", Resource: instanceID, Err: err}
	}
	if len(out.Addresses) == 0 {
		return false, "", nil
	}
	a := out.Addresses[0]
	return true, fmt.Sprintf("it holds Elastic IP %s (%s)", aws.ToString(a.AllocationId), aws.ToString(a.PublicIp)), nil
}

// Register: behind an Elastic IP an instance needs no registration; the
// candidate's own checks (status checks, SSM, smoke tests) say it is
// ready.
func (e elasticIP) Register(ctx context.Context, side Side) (Health, error) {
	return Health{Healthy: slices.Clone(side.Instances)}, nil
}

// Health: behind an Elastic IP, see Register.
func (e elasticIP) Health(ctx context.Context, side Side) (Health, error) {
	return e.Register(ctx, side)
}

// Deregister: an instance leaves an Elastic IP's front when the address
// moves away from it, so only one the address is on is refused.
func (e elasticIP) Deregister(ctx context.Context, side Side) (bool, error) {
	sp, err := e.Split(ctx)
	if err != nil {
		return false, err
	}
	for _, id := range side.Instances {
		if sp.Serving().Has(id) {
			return false, fmt.Errorf("%w: the Elastic IP %s is on %s; move it to the side that is to serve first", ErrServing, e.allocationID, id)
		}
	}
	return true, nil
}

func (e elasticIP) front() string { return "Elastic IP " + e.allocationID }

// notFound reports whether err is an AWS error with a NotFound code.
func notFound(err error) bool {
	var ae interface{ ErrorCode() string }
	return errors.As(err, &ae) && strings.HasSuffix(ae.ErrorCode(), "NotFound")
}

// SettleSeconds is how long after an Elastic IP moves the workflow waits
// before relying on it: the remapping takes a few seconds to reach the
// network (3 s in the latency table). The bake's first check waits this
// long after the switch, and the rollback after moving it back.
const SettleSeconds = 10
