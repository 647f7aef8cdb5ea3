package statemachine_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/release"
)

// running lists a release's instances that are pending or running, by
// zone.
func running(t *testing.T, env *localrun.Env, releaseID string) map[string]string {
	t.Helper()
	out, err := env.Region.EC2().DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + release.TagRelease), Values: []string{releaseID}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			ids[aws.ToString(i.InstanceId)] = aws.ToString(i.Placement.AvailabilityZone)
		}
	}
	return ids
}

// assertFleetReleased: the release's three candidates serve from green,
// healthy, one per zone; the previous three stay registered in blue at
// weight 0, kept; nothing leaked.
func assertFleetReleased(t *testing.T, env *localrun.Env, res *localrun.Result) {
	t.Helper()
	if res.Status != release.Released {
		t.Fatalf("status %s: %s %s", res.Status, res.Error, res.Cause)
	}
	f := env.Fixture
	blue, green := f.TargetGroupARNs[0], f.TargetGroupARNs[1]
	cands := running(t, env, res.ReleaseID)
	zones := map[string]bool{}
	for _, az := range cands {
		zones[az] = true
	}
	if len(cands) != 3 || len(zones) != 3 {
		t.Errorf("the release runs %v, want 3 instances in 3 zones", cands)
	}
	live := slices.Sorted(slices.Values(res.LiveInstanceIDs))
	if want := slices.Sorted(func(yield func(string) bool) {
		for id := range cands {
			if !yield(id) {
				return
			}
		}
	}); !slices.Equal(live, want) || res.LiveVersion != "1.1.0" {
		t.Errorf("live %v serving %s, want the candidates %v serving 1.1.0", live, res.LiveVersion, want)
	}
	g := registered(t, env, green)
	for id := range cands {
		if g[id] != elbtypes.TargetHealthStateEnumHealthy {
			t.Errorf("green holds %v, want every candidate healthy", g)
		}
	}
	b := registered(t, env, blue)
	for _, id := range f.LiveInstances {
		if b[id] == "" {
			t.Errorf("blue holds %v, want the previous fleet %v kept registered", b, f.LiveInstances)
		}
	}
	if w := weights(env); w[green] != 100 || w[blue] != 0 {
		t.Errorf("weights %v, want green 100", w)
	}
	if len(res.LeakedResources) > 0 {
		t.Errorf("leaked: %+v", res.LeakedResources)
	}
	assertUnlocked(t, env)
}

// TestFleetRelease: a side of three is released across three zones in the
// same states as one instance, the previous three kept.
func TestFleetRelease(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{Fleet: 3}, withALB(5, 25, 50, 100))
	if len(env.Fixture.LiveInstances) != 3 {
		t.Fatalf("live side %v, want 3", env.Fixture.LiveInstances)
	}
	res, err := env.Release(ctxT(t), "1.1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	assertPath(t, res, albPath)
	assertFleetReleased(t, env, res)
}

// TestFleetReplacesAnImpairedCandidate: one candidate of three fails its
// status check at its first look; it is replaced and the release ends
// with three healthy instances. With fleet.replaceUnhealthy 0 the same
// failure rolls back, and none of the three is left.
func TestFleetReplacesAnImpairedCandidate(t *testing.T) {
	impaired := &localrun.Fault{State: release.StateCheckCandidate, Kind: localrun.FaultImpaired}
	env := localrun.NewTestEnv(t, localrun.Options{Fleet: 3, Fault: impaired}, withALB(100))
	res, err := env.Release(ctxT(t), "1.1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	assertFleetReleased(t, env, res)
	if res.FaultMissed != "" {
		t.Errorf("the fault never landed: %s", res.FaultMissed)
	}

	env = localrun.NewTestEnv(t, localrun.Options{Fleet: 3, Fault: impaired}, func(c *release.Config) {
		withALB(100)(c)
		c.Fleet.ReplaceUnhealthy = new(int)
	})
	res, err = env.Release(ctxT(t), "1.1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.RolledBack {
		t.Fatalf("status %s, want RolledBack", res.Status)
	}
	if left := running(t, env, res.ReleaseID); len(left) > 0 {
		t.Errorf("candidates left: %v", left)
	}
	if live := slices.Sorted(slices.Values(res.LiveInstanceIDs)); !slices.Equal(live, slices.Sorted(slices.Values(env.Fixture.LiveInstances))) {
		t.Errorf("live %v, want the original fleet %v", live, env.Fixture.LiveInstances)
	}
	if len(res.LeakedResources) > 0 {
		t.Errorf("leaked: %+v", res.LeakedResources)
	}
}

// TestFleetLaunchesWhereThereIsCapacity: the live instance's zone has no
// capacity while the candidates launch; the one meant for it launches in
// another zone and the release goes on. One instance behind an Elastic IP
// has no other subnet: the release rolls back, naming the fix.
func TestFleetLaunchesWhereThereIsCapacity(t *testing.T) {
	noCapacity := &localrun.Fault{State: release.StateLaunchCandidate, Kind: localrun.FaultNoCapacity}
	env := localrun.NewTestEnv(t, localrun.Options{Fleet: 3, Fault: noCapacity}, withALB(100))
	res, err := env.Release(ctxT(t), "1.1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.Released {
		t.Fatalf("status %s: %s %s", res.Status, res.Error, res.Cause)
	}
	cands := running(t, env, res.ReleaseID)
	for id, az := range cands {
		if az == env.Fixture.LiveAZ {
			t.Errorf("candidate %s launched in %s, which had no capacity", id, az)
		}
	}
	if len(cands) != 3 {
		t.Errorf("candidates %v, want 3", cands)
	}

	env = localrun.NewTestEnv(t, localrun.Options{Fault: noCapacity}, nil)
	res, err = env.Release(ctxT(t), "1.1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.RolledBack || !strings.Contains(res.Cause, "fleet.subnetIds") {
		t.Fatalf("one instance: %s %s, want RolledBack naming fleet.subnetIds", res.Status, res.Cause)
	}
	if len(res.LeakedResources) > 0 {
		t.Errorf("leaked: %+v", res.LeakedResources)
	}
}
