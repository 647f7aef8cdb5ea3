// Package switchback prepares `greenlight rollback`: a switch back to the
// side (one instance, or a fleet) kept from the previous release. It is a release whose candidate
// already exists: the rest of the workflow (data moved under maintenance,
// Elastic IP, bake, keep the other instance, compensation on failure) is
// the release's own.
package switchback

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Request is what `greenlight rollback` asks for: the execution's input.
// ReleaseID (the execution's name) and App make it read as a release
// document, so a refused rollback is recorded like a refused release.
type Request = release.SwitchBackRequest

// Input is what the state machine passes.
type Input struct {
	Request   Request `json:"request"`
	Config    string  `json:"config"`
	Execution string  `json:"execution"`
	Name      string  `json:"name"`
	StartedAt string  `json:"startedAt"`
}

// Handler prepares switch-backs.
type Handler struct{ D *step.Deps }

// Prepare checks there is a whole previous side to go back to, takes the
// lock and builds the document: the live side is every instance serving
// now, the candidate every instance kept from before.
func (h Handler) Prepare(ctx context.Context, in Input) (release.Doc, error) {
	cfg, err := release.ParseConfig([]byte(in.Config))
	if err != nil {
		return release.Doc{}, release.ConfigMismatch{Cause: release.Causef("the deployed config is invalid: %v", err)}
	}
	now := h.D.Now().UTC()
	d := release.Doc{ReleaseID: in.Name, Kind: release.KindRollback, Execution: in.Execution, App: cfg.App, Config: cfg, StartedAt: now}
	led := h.D.Ledger()
	if _, err := led.Create(ctx, ledger.Record{App: d.App, ReleaseID: d.ReleaseID, Kind: release.KindRollback, Status: ledger.StatusStarting,
		StartedAt: now, Execution: in.Execution, Reason: in.Request.Reason,
		Timeline: []ledger.Event{{At: now, Step: "Rollback requested", Detail: "by " + in.Request.RequestedBy + reasonSuffix(in.Request.Reason)}}}); err != nil {
		return d, step.AWS("dynamodb:PutItem", d.ReleaseID, err)
	}
	serving, ok, err := led.Serving(ctx, d.App)
	if err != nil {
		return d, step.AWS("dynamodb:GetItem", "serving "+d.App, err)
	}
	switch {
	case !ok || len(serving.PreviousIDs()) == 0:
		return d, release.NothingToRollBack{Cause: release.Causef("no previous instance of %s is kept: nothing to switch back to", d.App)}
	case !serving.RetireAfter.IsZero() && now.After(serving.RetireAfter):
		return d, release.NothingToRollBack{Cause: release.Causef("the previous instance %s was due for retirement at %s", strings.Join(serving.PreviousIDs(), ", "), serving.RetireAfter.Format(time.RFC3339))}
	case in.Request.ToRelease != "" && in.Request.ToRelease != serving.PreviousRelease:
		return d, release.NothingToRollBack{Cause: release.Causef("the kept instance %s runs release %s (%s), not %s; only the previous release can be switched back to",
			strings.Join(serving.PreviousIDs(), ", "), serving.PreviousRelease, serving.PreviousVersion, in.Request.ToRelease)}
	}
	d.Version, d.RestoresRelease = serving.PreviousVersion, serving.PreviousRelease
	if err := h.sides(ctx, &d, serving); err != nil {
		return d, err
	}
	if err := led.Acquire(ctx, d.App, d.ReleaseID); err != nil {
		var busy release.ReleaseInProgress
		if errors.As(err, &busy) {
			return d, busy
		}
		return d, step.AWS("dynamodb:PutItem", "lock "+d.App, err)
	}
	err = led.Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Set: map[string]any{"status": ledger.StatusRunning, "version": d.Version, "liveInstance": d.Live.InstanceID, "candidateInstance": d.Candidate.First().InstanceID},
		Event: &ledger.Event{Step: release.StatePrepareSwitchBack, Detail: fmt.Sprintf("switching back from %s (%s) to %s (%s)",
			strings.Join(d.Live.IDs(), ", "), serving.LiveVersion, strings.Join(d.Candidate.IDs(), ", "), d.Version)},
	})
	if err != nil {
		return d, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	if err := h.D.Publisher().Publish(ctx, notify.RollbackStarted(d, in.Request.RequestedBy, in.Request.Reason, h.D.Env.Region)); err != nil {
		return d, step.AWS("sns:Publish", h.D.Env.Topic, err)
	}
	return d, nil
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

// sides describes the side serving now (the router must send all
// traffic to it: the Elastic IP on it, or its target group at full
// weight) and the kept side, which must be whole: every instance running
// and greenlight's, and behind an ALB every one healthy in its target
// group. A side that lost an instance is refused rather than switched
// back to short.
func (h Handler) sides(ctx context.Context, d *release.Doc, serving ledger.Serving) error {
	cfg := d.Config
	alloc := cfg.Live.ElasticIPAllocationID
	router := h.D.Router(cfg)
	split, err := router.Split(ctx)
	if err != nil {
		return step.Traffic(err)
	}
	liveIDs, keptIDs := serving.LiveIDs(), serving.PreviousIDs()
	for _, id := range liveIDs {
		if split.Weight(id) == 100 {
			continue
		}
		if cfg.UsesALB() {
			return release.ConfigMismatch{Cause: release.Causef("the load balancer %s sends %d %% of the traffic to %s, which the ledger records as live: a shift is under way or someone changed the weights; check before rolling back",
				split.Front, split.Weight(id), id)}
		}
		return release.ConfigMismatch{Cause: release.Causef("Elastic IP %s is on %q but the ledger records %s as live: someone moved it; check before rolling back", alloc, split.Serving().String(), id)}
	}
	insts, err := h.D.DescribeByID(ctx, append(slices.Clone(liveIDs), keptIDs...))
	if err != nil {
		return err
	}
	byID := step.ByID(insts)
	for _, id := range liveIDs {
		if _, ok := byID[id]; !ok {
			return release.LiveNotFound{Cause: release.Causef("live instance %s is not visible", id)}
		}
	}
	var down []string
	for _, id := range keptIDs {
		i, ok := byID[id]
		switch {
		case !ok || i.State == nil:
			down = append(down, id+" is gone")
		case i.State.Name != types.InstanceStateNameRunning:
			down = append(down, fmt.Sprintf("%s is %s", id, i.State.Name))
		}
	}
	if len(down) > 0 {
		if len(keptIDs) == 1 {
			return release.NothingToRollBack{Cause: release.Causef("the previous instance %s is not running (%s)", keptIDs[0], strings.Join(down, "; "))}
		}
		return release.NothingToRollBack{Cause: release.Causef("%d of the %d kept instances are not running (%s): a switch back needs the whole kept side; nothing was changed",
			len(down), len(keptIDs), strings.Join(down, "; "))}
	}
	if cfg.UsesALB() {
		// The kept side must still be registered and healthy, all of it:
		// flipping the weights to it is the whole rollback.
		health, err := router.Health(ctx, traffic.Side{Instances: keptIDs})
		if err != nil {
			return step.Traffic(err)
		}
		if !health.Ready() {
			var sick []string
			for _, id := range keptIDs {
				if why, bad := health.Unhealthy[id]; bad {
					sick = append(sick, id+": "+why)
				}
			}
			if len(keptIDs) == 1 {
				return release.NothingToRollBack{Cause: release.Causef("the previous instance %s is not healthy behind the load balancer (%s): it cannot take the traffic back",
					keptIDs[0], health.Unhealthy[keptIDs[0]])}
			}
			return release.NothingToRollBack{Cause: release.Causef("%d of the %d kept instances are not healthy behind the load balancer (%s): the kept side cannot take the traffic back; nothing was changed",
				len(sick), len(keptIDs), strings.Join(sick, "; "))}
		}
	}
	live := byID[liveIDs[0]]
	d.Live = release.Live{
		InstanceID: liveIDs[0], InstanceIDs: liveIDs, SubnetID: aws.ToString(live.SubnetId), AZ: aws.ToString(live.Placement.AvailabilityZone),
		PrivateIP: aws.ToString(live.PrivateIpAddress), AllocationID: alloc, PublicIP: split.Front,
		ImageID: aws.ToString(live.ImageId), Version: serving.LiveVersion, PreviousRelID: serving.LiveRelease,
	}
	for _, id := range liveIDs {
		if sn := aws.ToString(byID[id].SubnetId); !slices.Contains(d.Live.SubnetIDs, sn) {
			d.Live.SubnetIDs = append(d.Live.SubnetIDs, sn)
		}
	}
	if cfg.HasData() {
		for _, bdm := range live.BlockDeviceMappings {
			if aws.ToString(bdm.DeviceName) == cfg.Data.Device && bdm.Ebs != nil {
				d.Live.DataVolumeID = aws.ToString(bdm.Ebs.VolumeId)
			}
		}
		if d.Live.DataVolumeID == "" {
			return release.ConfigMismatch{Cause: release.Causef("live instance %s has no data volume at %s", liveIDs[0], cfg.Data.Device)}
		}
	}
	c := &release.Candidate{ImageID: aws.ToString(byID[keptIDs[0]].ImageId), Poll: release.Poll{Ready: true}, Status: "kept from release " + serving.PreviousRelease}
	for slot, id := range keptIDs {
		i := byID[id]
		c.Instances = append(c.Instances, release.Member{Slot: slot, InstanceID: id, SubnetID: aws.ToString(i.SubnetId), AZ: aws.ToString(i.Placement.AvailabilityZone),
			PrivateIP: aws.ToString(i.PrivateIpAddress), PublicIP: aws.ToString(i.PublicIpAddress), LaunchedAt: aws.ToTime(i.LaunchTime), Ready: true})
	}
	d.Candidate = c
	return nil
}
