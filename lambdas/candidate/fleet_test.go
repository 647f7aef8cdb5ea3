package candidate

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

// fleetDoc is a release of a side of three across the fixture's three
// subnets, with replaceUnhealthy replacements allowed (-1: the default).
func fleetDoc(t *testing.T, e *steptest.Env, replaceUnhealthy int) release.Doc {
	t.Helper()
	return doc(t, e, func(c *release.Config) {
		*c = e.BehindALB(*c)
		c.Fleet.Size = 3
		c.Fleet.SubnetIDs = e.Fixture.Subnets
		if replaceUnhealthy >= 0 {
			c.Fleet.ReplaceUnhealthy = &replaceUnhealthy
		}
	})
}

// candidates lists the release's candidates EC2 has pending or running.
func candidates(t *testing.T, e *steptest.Env, d release.Doc) []string {
	t.Helper()
	out, err := e.Region.EC2().DescribeInstances(e.Test, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + release.TagRelease), Values: []string{d.ReleaseID}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
	}
	slices.Sort(ids)
	return ids
}

// TestLaunchSpreadsTheFleetAcrossZones: three candidates, one per subnet,
// each tagged with its slot; a retried launch returns the same three and
// launches nothing more.
func TestLaunchSpreadsTheFleetAcrossZones(t *testing.T) {
	e := steptest.New(t, "launch", sim.Options{ALB: true, Zones: 3})
	d := fleetDoc(t, e, -1)
	h := Handler{D: e.Deps}
	c, err := h.Launch(e.Ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Instances) != 3 {
		t.Fatalf("launched %+v, want 3", c.Instances)
	}
	e.Region.Advance(e.Test, 5*time.Second) // EC2 lists an instance a moment after launching it
	for n, m := range c.Instances {
		i := e.Instance(t, m.InstanceID)
		if m.Slot != n || m.SubnetID != e.Fixture.Subnets[n] || aws.ToString(i.SubnetId) != m.SubnetID || m.AZ != e.Fixture.AZs[n] ||
			steptest.Tags(i.Tags)[release.TagSlot] != string(rune('0'+n)) {
			t.Errorf("slot %d: %+v in %s tagged %v, want subnet %s", n, m, aws.ToString(i.SubnetId), steptest.Tags(i.Tags), e.Fixture.Subnets[n])
		}
	}
	again, err := h.Launch(e.Ctx, d)
	if err != nil || !slices.Equal(again.IDs(), c.IDs()) {
		t.Fatalf("retried launch: %v %v, want the same %v", again.IDs(), err, c.IDs())
	}
	if got, want := candidates(t, e, d), slices.Sorted(slices.Values(c.IDs())); !slices.Equal(got, want) {
		t.Errorf("EC2 has %v, want only %v", got, want)
	}
	if rec := e.Get(t, d.ReleaseID); rec.CandidateInstance != strings.Join(c.IDs(), ", ") {
		t.Errorf("ledger candidate %q", rec.CandidateInstance)
	}
}

// TestLaunchMovesToAZoneWithCapacity: a zone without capacity gives its
// candidate to the next subnet; a launch retried after capacity came back
// keeps that instance instead of launching another for the slot; with no
// capacity anywhere the release fails naming the fix.
func TestLaunchMovesToAZoneWithCapacity(t *testing.T) {
	e := steptest.New(t, "launch", sim.Options{ALB: true, Zones: 3})
	d := fleetDoc(t, e, -1)
	h := Handler{D: e.Deps}
	e.Region.NoCapacityIn(e.Fixture.AZs[0], true)
	c, err := h.Launch(e.Ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	first := c.Instances[0]
	if first.SubnetID != e.Fixture.Subnets[1] || first.Try != 1 {
		t.Errorf("slot 0 %+v, want the second subnet on its second try", first)
	}
	e.Region.NoCapacityIn(e.Fixture.AZs[0], false)
	e.Region.Advance(e.Test, 5*time.Second)
	again, err := h.Launch(e.Ctx, d)
	if err != nil || !slices.Equal(again.IDs(), c.IDs()) {
		t.Fatalf("retried launch with capacity back: %v %v, want the same %v", again.IDs(), err, c.IDs())
	}
	if n := len(candidates(t, e, d)); n != 3 {
		t.Errorf("%d candidates running, want 3", n)
	}

	e = steptest.New(t, "launch", sim.Options{ALB: true, Zones: 3})
	d = fleetDoc(t, e, -1)
	for _, az := range e.Fixture.AZs {
		e.Region.NoCapacityIn(az, true)
	}
	_, err = Handler{D: e.Deps}.Launch(e.Ctx, d)
	var nr release.CandidateNotReady
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "no capacity for") || !strings.Contains(err.Error(), "fleet.subnetIds") {
		t.Fatalf("no capacity anywhere: %v, want CandidateNotReady naming the fix", err)
	}
}

// TestCheckReplacesAnImpairedCandidate: one of three fails its status
// check; it is terminated and its slot relaunched in its subnet, the
// check waits for the newcomer, and the side is ready with three healthy
// instances. A check retried after it replaced (its answer lost) finds
// the replacement instead of launching a fourth. With
// replaceUnhealthy 0 the same failure ends the release.
func TestCheckReplacesAnImpairedCandidate(t *testing.T) {
	e := steptest.New(t, "check-candidate", sim.Options{ALB: true, Zones: 3})
	d := fleetDoc(t, e, -1)
	h := Handler{D: e.Deps}
	e.Region.ImpairNextInstance(1)
	c, err := h.Launch(e.Ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	d.Candidate = &c
	bad := c.Instances[0]
	e.Region.AdvanceTo(e.Test, c.LaunchedAt.Add(FirstCheck))
	lost, err := h.Check(e.Ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	replaced, err := h.Check(e.Ctx, d) // the same input again: a retried pass
	if err != nil {
		t.Fatal(err)
	}
	if replaced.Replaced != 1 || replaced.Ready || replaced.Instances[0].InstanceID == bad.InstanceID ||
		replaced.Instances[0].InstanceID != lost.Instances[0].InstanceID || replaced.Instances[0].SubnetID != bad.SubnetID {
		t.Fatalf("after the impaired check (twice): %+v, want slot 0 replaced once in %s", replaced, bad.SubnetID)
	}
	if replaced.WaitSeconds != int(FirstCheck/time.Second) || !strings.Contains(replaced.Status, "2 of 3 ready") {
		t.Errorf("wait %d s, status %q: want a first-check wait for the newcomer", replaced.WaitSeconds, replaced.Status)
	}
	if st := e.State(t, bad.InstanceID); st != "shutting-down" && st != "terminated" {
		t.Errorf("the impaired candidate is %s", st)
	}
	e.Region.Advance(e.Test, 5*time.Second)
	if n := len(candidates(t, e, d)); n != 3 {
		t.Errorf("%d candidates running after a retried replacement, want 3", n)
	}
	d.Candidate = &replaced
	e.Region.AdvanceTo(e.Test, replaced.Instances[0].LaunchedAt.Add(FirstCheck))
	done, err := h.Check(e.Ctx, d)
	if err != nil || !done.Ready {
		t.Fatalf("after the replacement's first check: %+v %v, want ready", done, err)
	}
	rec := e.Get(t, d.ReleaseID)
	if !strings.Contains(timeline(rec.Timeline), "replaced "+bad.InstanceID+" (failed its instance status check (impaired))") ||
		!strings.Contains(timeline(rec.Timeline), "3 candidates ready after") {
		t.Errorf("timeline %v", rec.Timeline)
	}

	e = steptest.New(t, "check-candidate", sim.Options{ALB: true, Zones: 3})
	d = fleetDoc(t, e, 0)
	h = Handler{D: e.Deps}
	e.Region.ImpairNextInstance(1)
	if c, err = h.Launch(e.Ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Candidate = &c
	e.Region.AdvanceTo(e.Test, c.LaunchedAt.Add(FirstCheck))
	_, err = h.Check(e.Ctx, d)
	var nr release.CandidateNotReady
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "candidate "+c.Instances[0].InstanceID+" failed its instance status check") {
		t.Fatalf("with replaceUnhealthy 0: %v, want CandidateNotReady naming the instance", err)
	}
}

func timeline(events []ledger.Event) string {
	var b strings.Builder
	for _, ev := range events {
		b.WriteString(ev.Detail + "\n")
	}
	return b.String()
}
