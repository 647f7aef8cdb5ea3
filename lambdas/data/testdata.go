package data

import (
	"context"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/internal/datamove"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Polling of data plans, within one invocation (step.Poll): inside the
// maintenance window every half second, because each poll's delay is
// downtime; before the window opens, and for the test copy, every 2 s.
// When an invocation's budget is spent the state machine waits
// waitSeconds before the next.
const (
	pollInside  = 500 * time.Millisecond
	pollOutside = 2 * time.Second
	waitSeconds = 5
	// planTimeout bounds a test copy or a cutover.
	planTimeout = 20 * time.Minute
	// snapshotPerGiB is the time allowed per GiB of the live volume when
	// the test copy takes a new snapshot. AWS documents no snapshot speed
	// ("the first snapshot ... is a full copy", later ones incremental:
	// "How Amazon EBS snapshots work", ebs/latest/userguide/
	// how_snapshots_work.html); 20 s/GiB (about 50 MiB/s) is an estimate
	// on the slow side.
	snapshotPerGiB = 20 * time.Second
)

// Handler runs the data plans.
type Handler struct{ D *step.Deps }

// TestData gives the candidate a copy of the live data: the newest
// snapshot of the live volume younger than data.snapshotMaxAge (taken now
// if there is none), restored into a new volume, attached and mounted on
// the candidate. Called right after the launch, it starts what can start
// while the candidate boots; called again once the candidate is ready, it
// finishes.
//
// While the candidate boots a call makes one pass (the plan cannot finish
// before the candidate is ready); once it is ready a call polls until the
// copy is mounted or its budget is spent.
func (h Handler) TestData(ctx context.Context, d release.Doc) (release.TestData, error) {
	td := release.TestData{Steps: map[string]release.Step{}, Deadline: h.D.Now().UTC().Add(planTimeout)}
	if d.TestData != nil {
		td = *d.TestData
	}
	if err := h.D.Aborted(ctx, d); err != nil {
		return td, err
	}
	if !d.Candidate.Ready {
		return h.testDataPass(ctx, d, td)
	}
	return step.PollPasses(ctx, h.D, td, func(ctx context.Context, td release.TestData) (release.TestData, bool, time.Duration, error) {
		td, err := h.testDataPass(ctx, d, td)
		return td, td.Ready, pollOutside, err
	})
}

// testDataPass is one pass over the test copy's plan.
func (h Handler) testDataPass(ctx context.Context, d release.Doc, td release.TestData) (release.TestData, error) {
	td.Checks++
	m := datamove.Mover{D: h.D, Doc: d}
	cand := d.Candidate.First().InstanceID
	liveVol := d.Live.DataVolumeID
	actions := []datamove.Action{
		{Name: "snapshot", Run: func(ctx context.Context, st *release.Step) (bool, error) {
			if st.ID == "" {
				id, err := h.recentSnapshot(ctx, d)
				if err != nil {
					return false, err
				}
				if id != "" {
					st.ID, st.Started = id, h.D.Now().UTC()
					return true, nil
				}
				// A first snapshot copies every written block: the time
				// it takes grows with the volume, so the deadline does.
				v, err := m.Volume(ctx, liveVol)
				if err != nil {
					return false, err
				}
				if v != nil {
					td.Deadline = td.Deadline.Add(snapshotAllowance(aws.ToInt32(v.Size)))
				}
			}
			return m.Snapshot("snapshot", liveVol, datamove.PurposeTestCopy, true)(ctx, st)
		}},
		{Name: "volume", After: []string{"snapshot"}, Run: m.CreateVolume("volume", func() string { return td.Steps["snapshot"].ID }, datamove.PurposeTestCopy)},
		{Name: "candidate-running", Run: h.running(cand)},
		{Name: "attach", After: []string{"volume", "candidate-running"}, Run: m.Attach("attach", func() string { return td.Steps["volume"].ID }, cand)},
		{Name: "candidate-ready", Run: func(context.Context, *release.Step) (bool, error) { return d.Candidate.Ready, nil }},
		{Name: "mount", After: []string{"attach", "candidate-ready"}, Run: func(ctx context.Context, st *release.Step) (bool, error) {
			return m.Data("mount test copy", cand, "mount", td.Steps["volume"].ID)(ctx, st)
		}},
	}
	done, pending, err := datamove.Advance(ctx, h.D.Now().UTC(), td.Steps, actions)
	td.SnapshotID, td.VolumeID = td.Steps["snapshot"].ID, td.Steps["volume"].ID
	if err != nil {
		return td, err
	}
	td.Status, td.Ready, td.WaitSeconds = datamove.Describe(pending), done, waitSeconds
	if done {
		err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{Event: &ledger.Event{Step: release.StateAttachTestData,
			Detail: "candidate " + cand + " has a copy of the live data: volume " + td.VolumeID + " from snapshot " + td.SnapshotID}})
		if err != nil {
			return td, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
		}
		return td, nil
	}
	if d.Candidate.Ready && h.D.Now().After(td.Deadline) {
		return td, release.DataFailed{Cause: release.Causef("the test copy of the data is not ready by its deadline %s: %s (take a snapshot of the live volume before releasing, or raise data.snapshotMaxAge so a recent one is reused)",
			td.Deadline.Format(time.RFC3339), td.Status)}
	}
	return td, nil
}

// snapshotAllowance is the extra time a new first snapshot of a volume of
// size GiB may take.
func snapshotAllowance(sizeGiB int32) time.Duration {
	return time.Duration(sizeGiB) * snapshotPerGiB
}

// recentSnapshot is the newest completed snapshot of the live data volume
// younger than data.snapshotMaxAge, or "".
func (h Handler) recentSnapshot(ctx context.Context, d release.Doc) (string, error) {
	out, err := h.D.AWS.EC2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: []types.Filter{
		{Name: aws.String("volume-id"), Values: []string{d.Live.DataVolumeID}},
		{Name: aws.String("status"), Values: []string{"completed"}},
	}})
	if err != nil {
		return "", step.AWS("ec2:DescribeSnapshots", d.Live.DataVolumeID, err)
	}
	snaps := out.Snapshots
	sort.Slice(snaps, func(i, j int) bool { return aws.ToTime(snaps[i].StartTime).After(aws.ToTime(snaps[j].StartTime)) })
	oldest := h.D.Now().Add(-d.Config.Data.SnapshotMaxAge.D())
	if len(snaps) > 0 && aws.ToTime(snaps[0].StartTime).After(oldest) {
		return aws.ToString(snaps[0].SnapshotId), nil
	}
	return "", nil
}

// running waits until an instance runs (a volume attaches only then).
func (h Handler) running(id string) func(context.Context, *release.Step) (bool, error) {
	return func(ctx context.Context, _ *release.Step) (bool, error) {
		out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if step.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, step.AWS("ec2:DescribeInstances", id, err)
		}
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				return i.State != nil && i.State.Name == types.InstanceStateNameRunning, nil
			}
		}
		return false, nil
	}
}
