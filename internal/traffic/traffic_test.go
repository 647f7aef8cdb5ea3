package traffic

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/greenlight/greenlight/harness/sim"
)

// world is the simulated region with the app live behind its Elastic IP,
// a second instance ready to take over, and the app's router.
type world struct {
	r     *sim.Region
	f     sim.Fixture
	other string
	eip   Router
	ctx   context.Context
}

func newWorld(t *testing.T) world {
	t.Helper()
	r := sim.NewTest(t, sim.Options{})
	f := r.Fixture()
	ctx := context.Background()
	out, err := r.EC2().RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.AMI), InstanceType: "t4g.small",
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(f.LiveSubnet)})
	if err != nil {
		t.Fatal(err)
	}
	r.Advance(ctx, time.Minute)
	return world{r: r, f: f, other: aws.ToString(out.Instances[0].InstanceId),
		eip: For(r.Clients(), Front{AllocationID: f.AllocationID}), ctx: ctx}
}

func (w world) associations() int { return len(w.r.CallsTo(sim.ServiceEC2, "AssociateAddress")) }

// TestSplit: the Elastic IP's split is all of the traffic to the instance
// holding it, behind its public address; none when it is on no instance.
func TestSplit(t *testing.T) {
	w := newWorld(t)
	sp, err := w.eip.Split(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Front != w.f.PublicIP || len(sp.Sides) != 1 || sp.Serving().String() != w.f.LiveInstance || sp.Sides[0].Weight != 100 {
		t.Errorf("split %+v, want all of %s to %s", sp, w.f.PublicIP, w.f.LiveInstance)
	}
	if sp.Weight(w.f.LiveInstance) != 100 || sp.Weight(w.other) != 0 || sp.Total() != 100 {
		t.Errorf("weights: live %d, other %d, total %d", sp.Weight(w.f.LiveInstance), sp.Weight(w.other), sp.Total())
	}
	if _, err := w.r.EC2().DisassociateAddress(w.ctx, &ec2.DisassociateAddressInput{PublicIp: aws.String(w.f.PublicIP)}); err != nil {
		t.Fatal(err)
	}
	sp, err = w.eip.Split(w.ctx)
	if err != nil || sp.Front != w.f.PublicIP || len(sp.Sides) != 0 || sp.Serving().String() != "" || sp.Total() != 0 {
		t.Errorf("unassociated: %+v %v, want the front and no side", sp, err)
	}
}

// TestSplitOfAMissingElasticIP: an Elastic IP that does not exist is the
// typed NotFound, which still carries the AWS error and the call.
func TestSplitOfAMissingElasticIP(t *testing.T) {
	w := newWorld(t)
	const missing = "eipalloc-00000000000000000"
	_, err := For(w.r.Clients(), Front{AllocationID: missing}).Split(w.ctx)
	var nf NotFound
	if !errors.As(err, &nf) || nf.Front != "Elastic IP "+missing {
		t.Fatalf("%v, want traffic.NotFound", err)
	}
	var ce *CallError
	if !errors.As(err, &ce) || ce.Op != "ec2:DescribeAddresses" || ce.Resource != missing {
		t.Errorf("%v does not name the call", err)
	}
	var ae interface{ ErrorCode() string }
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidAllocationID.NotFound" {
		t.Errorf("%v lost the AWS error", err)
	}
	if _, err := For(w.r.Clients(), Front{AllocationID: missing}).Shift(w.ctx, One(w.other), 100); !errors.As(err, &nf) {
		t.Errorf("shift behind a missing Elastic IP: %v, want traffic.NotFound", err)
	}
}

// TestShift: all of the traffic moves in one association; shifting again
// (a retried step) changes nothing and calls nothing.
func TestShift(t *testing.T) {
	w := newWorld(t)
	mv, err := w.eip.Shift(w.ctx, One(w.f.LiveInstance), 100)
	if err != nil || mv.Changed || mv.From.String() != w.f.LiveInstance || mv.Detail != "" {
		t.Fatalf("shifting to the side already serving: %+v %v, want no change", mv, err)
	}
	mv, err = w.eip.Shift(w.ctx, One(w.other), 100)
	if err != nil || !mv.Changed || mv.From.String() != w.f.LiveInstance || mv.To.String() != w.other || mv.Weight != 100 || mv.Detail == "" {
		t.Fatalf("move: %+v %v", mv, err)
	}
	if sp, _ := w.eip.Split(w.ctx); sp.Serving().String() != w.other {
		t.Errorf("split %+v after the move", sp)
	}
	calls := w.associations()
	mv, err = w.eip.Shift(w.ctx, One(w.other), 100)
	if err != nil || mv.Changed || mv.From.String() != w.other {
		t.Errorf("retried shift: %+v %v, want no change", mv, err)
	}
	if n := w.associations(); n != calls || n != 1 {
		t.Errorf("AssociateAddress called %d times, want 1", n)
	}
	// Nothing to the side not serving: already so.
	if mv, err := w.eip.Shift(w.ctx, One(w.f.LiveInstance), 0); err != nil || mv.Changed {
		t.Errorf("0 %% to the side not serving: %+v %v, want no change", mv, err)
	}
}

// TestShiftRefusesWhatAnElasticIPCannotRoute: a share between sides, a
// side of several instances, or nothing to the only instance holding the
// address are refused before any call, naming the mode that can.
func TestShiftRefusesWhatAnElasticIPCannotRoute(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name   string
		to     Side
		weight int
		text   string
	}{
		{"half", One(w.other), 50, "50 % to " + w.other + " needs traffic.mode alb"},
		{"more than all", One(w.other), 150, "needs traffic.mode alb"},
		{"a fleet", Side{Instances: []string{w.other, w.f.LiveInstance}}, 100, "routes to one instance, not 2"},
		{"an empty side", Side{}, 100, "routes to one instance, not 0"},
		{"nothing to the instance holding it", One(w.f.LiveInstance), 0, "cannot be left on no instance"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(w.r.Calls())
			mv, err := w.eip.Shift(w.ctx, c.to, c.weight)
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.text) || !strings.Contains(err.Error(), w.f.AllocationID) {
				t.Fatalf("%+v %v, want ErrUnsupported saying %q", mv, err, c.text)
			}
			if c.weight != 0 && len(w.r.Calls()) != before {
				t.Errorf("refused after calling AWS: %v", w.r.Calls()[before:])
			}
		})
	}
	if sp, _ := w.eip.Split(w.ctx); sp.Serving().String() != w.f.LiveInstance {
		t.Errorf("the Elastic IP moved: %+v", sp)
	}
}

// TestShiftFails: a refused association is the call's error, and moves
// nothing.
func TestShiftFails(t *testing.T) {
	w := newWorld(t)
	w.r.Inject(sim.Fault{Service: sim.ServiceEC2, Operation: "AssociateAddress", Code: "UnauthorizedOperation"})
	_, err := w.eip.Shift(w.ctx, One(w.other), 100)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Op != "ec2:AssociateAddress" || ce.Resource != w.f.AllocationID+" to "+w.other {
		t.Fatalf("%v, want the AssociateAddress error", err)
	}
	if sp, _ := w.eip.Split(w.ctx); sp.Serving().String() != w.f.LiveInstance {
		t.Errorf("the Elastic IP moved: %+v", sp)
	}
}

// TestServes: the instance holding the Elastic IP serves, named by the
// address; another does not. Serves needs no allocation id: any Elastic
// IP on the instance counts.
func TestServes(t *testing.T) {
	w := newWorld(t)
	r := For(w.r.Clients(), Front{})
	ok, how, err := r.Serves(w.ctx, w.f.LiveInstance)
	if err != nil || !ok || how != "it holds Elastic IP "+w.f.AllocationID+" ("+w.f.PublicIP+")" {
		t.Errorf("live: %v %q %v", ok, how, err)
	}
	if ok, how, err := r.Serves(w.ctx, w.other); err != nil || ok || how != "" {
		t.Errorf("other: %v %q %v", ok, how, err)
	}
	if _, err := w.eip.Shift(w.ctx, One(w.other), 100); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := r.Serves(w.ctx, w.f.LiveInstance); ok {
		t.Error("the instance the Elastic IP left still serves")
	}
	if ok, _, _ := r.Serves(w.ctx, w.other); !ok {
		t.Error("the instance the Elastic IP moved to does not serve")
	}
	w.r.Throttle(sim.ServiceEC2, 1)
	var ce *CallError
	if _, _, err := r.Serves(w.ctx, w.other); !errors.As(err, &ce) || ce.Op != "ec2:DescribeAddresses" || ce.Resource != w.other {
		t.Errorf("throttled: %v, want the DescribeAddresses error naming the instance", err)
	}
}
