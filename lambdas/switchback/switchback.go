// Package switchback prepares `greenlight rollback`: a switch back to the
// instance kept from the previous release. It is a release whose candidate
// already exists: the rest of the workflow (data moved under maintenance,
// Elastic IP, bake, keep the other instance, compensation on failure) is
// the release's own.
package switchback

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
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

// Prepare checks there is a previous instance to go back to, takes the
// lock and builds the document: the live side is the instance serving
// now, the candidate the one kept from before.
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
	case !ok || serving.PreviousInstance == "":
		return d, release.NothingToRollBack{Cause: release.Causef("no previous instance of %s is kept: nothing to switch back to", d.App)}
	case !serving.RetireAfter.IsZero() && now.After(serving.RetireAfter):
		return d, release.NothingToRollBack{Cause: release.Causef("the previous instance %s was due for retirement at %s", serving.PreviousInstance, serving.RetireAfter.Format(time.RFC3339))}
	case in.Request.ToRelease != "" && in.Request.ToRelease != serving.PreviousRelease:
		return d, release.NothingToRollBack{Cause: release.Causef("the kept instance %s runs release %s (%s), not %s; only the previous release can be switched back to",
			serving.PreviousInstance, serving.PreviousRelease, serving.PreviousVersion, in.Request.ToRelease)}
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
			d.Live.InstanceID, serving.LiveVersion, d.Candidate.First().InstanceID, d.Version)},
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

// sides describes the instance serving now (the router must send all
// traffic to it: the Elastic IP on it) and the kept one (it must be running
// and greenlight's).
func (h Handler) sides(ctx context.Context, d *release.Doc, serving ledger.Serving) error {
	cfg := d.Config
	alloc := cfg.Live.ElasticIPAllocationID
	router := h.D.Router(cfg)
	split, err := router.Split(ctx)
	if err != nil {
		return step.Traffic(err)
	}
	if split.Weight(serving.LiveInstance) != 100 {
		if cfg.UsesALB() {
			return release.ConfigMismatch{Cause: release.Causef("the load balancer %s sends %d %% of the traffic to %s, which the ledger records as live: a shift is under way or someone changed the weights; check before rolling back",
				split.Front, split.Weight(serving.LiveInstance), serving.LiveInstance)}
		}
		return release.ConfigMismatch{Cause: release.Causef("Elastic IP %s is on %q but the ledger records %s as live: someone moved it; check before rolling back", alloc, split.Serving().String(), serving.LiveInstance)}
	}
	out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{serving.LiveInstance, serving.PreviousInstance}})
	if err != nil {
		return step.AWS("ec2:DescribeInstances", serving.LiveInstance+", "+serving.PreviousInstance, err)
	}
	byID := map[string]types.Instance{}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			byID[aws.ToString(i.InstanceId)] = i
		}
	}
	live, ok := byID[serving.LiveInstance]
	if !ok {
		return release.LiveNotFound{Cause: release.Causef("live instance %s is not visible", serving.LiveInstance)}
	}
	prev, ok := byID[serving.PreviousInstance]
	if !ok || prev.State == nil || prev.State.Name != types.InstanceStateNameRunning {
		return release.NothingToRollBack{Cause: release.Causef("the previous instance %s is not running", serving.PreviousInstance)}
	}
	if cfg.UsesALB() {
		// The kept side must still be registered and healthy: flipping the
		// weights to it is the whole rollback.
		health, err := router.Health(ctx, traffic.One(serving.PreviousInstance))
		if err != nil {
			return step.Traffic(err)
		}
		if !health.Ready() {
			return release.NothingToRollBack{Cause: release.Causef("the previous instance %s is not healthy behind the load balancer (%s): it cannot take the traffic back",
				serving.PreviousInstance, health.Unhealthy[serving.PreviousInstance])}
		}
	}
	d.Live = release.Live{
		InstanceID: serving.LiveInstance, SubnetID: aws.ToString(live.SubnetId), AZ: aws.ToString(live.Placement.AvailabilityZone),
		PrivateIP: aws.ToString(live.PrivateIpAddress), AllocationID: alloc, PublicIP: split.Front,
		ImageID: aws.ToString(live.ImageId), Version: serving.LiveVersion, PreviousRelID: serving.LiveRelease,
	}
	if cfg.HasData() {
		for _, bdm := range live.BlockDeviceMappings {
			if aws.ToString(bdm.DeviceName) == cfg.Data.Device && bdm.Ebs != nil {
				d.Live.DataVolumeID = aws.ToString(bdm.Ebs.VolumeId)
			}
		}
		if d.Live.DataVolumeID == "" {
			return release.ConfigMismatch{Cause: release.Causef("live instance %s has no data volume at %s", serving.LiveInstance, cfg.Data.Device)}
		}
	}
	d.Candidate = &release.Candidate{
		ImageID: aws.ToString(prev.ImageId),
		Instances: []release.Member{{InstanceID: serving.PreviousInstance, SubnetID: aws.ToString(prev.SubnetId),
			PrivateIP: aws.ToString(prev.PrivateIpAddress), PublicIP: aws.ToString(prev.PublicIpAddress), Ready: true}},
		Poll: release.Poll{Ready: true}, Status: "kept from release " + serving.PreviousRelease,
	}
	return nil
}
