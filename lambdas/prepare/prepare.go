// Package prepare checks that a release can start and takes the app's
// release lock: the event names a well-formed, versioned artifact; the
// artifact is a safe archive with the right checksum; the Elastic IP leads
// to a running live instance; the config fits it. Nothing is created before
// all of that holds, and a refusal names what is wrong.
package prepare

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Input is what the state machine passes: the document the start step
// began, and the config the stack was deployed with.
type Input struct {
	Release release.Doc `json:"release"`
	// Config is greenlight.json as JSON text.
	Config string `json:"config"`
	// Execution is $$.Execution.Id.
	Execution string `json:"execution"`
}

// MetadataSHA256 is the user metadata key `greenlight release` sets to the
// artifact's SHA-256 (hex).
const MetadataSHA256 = release.MetadataSHA256

// Handler prepares releases.
type Handler struct{ D *step.Deps }

// Prepare validates and locks.
func (h Handler) Prepare(ctx context.Context, in Input) (release.Doc, error) {
	d := in.Release
	d.Execution = in.Execution
	cfg, err := release.ParseConfig([]byte(in.Config))
	if err != nil {
		return d, release.ConfigMismatch{Cause: release.Causef("the deployed config is invalid: %v", err)}
	}
	d.Config = cfg
	d.App = cfg.App
	if err := checkEvent(d, cfg); err != nil {
		return d, err
	}
	if err := h.checkArtifact(ctx, &d); err != nil {
		return d, err
	}
	if err := h.resolveLive(ctx, &d); err != nil {
		return d, err
	}
	if err := h.checkEncryption(ctx, d); err != nil {
		return d, err
	}
	if err := h.D.Ledger().Acquire(ctx, d.App, d.ReleaseID); err != nil {
		var busy release.ReleaseInProgress
		if errors.As(err, &busy) {
			return d, busy
		}
		return d, step.AWS("dynamodb:PutItem", "lock "+d.App, err)
	}
	h.D.Did(ctx, d.ReleaseID, "lock-acquired", "app", d.App)
	err = h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Set: map[string]any{"status": ledger.StatusRunning, "liveInstance": strings.Join(d.Live.IDs(), ", "), "version": d.Version, "trafficMode": d.Config.TrafficMode()},
		Event: &ledger.Event{Step: release.StatePrepare, Detail: fmt.Sprintf("artifact sha256 %s verified; live %s %s (%s) behind %s",
			d.Artifact.SHA256[:12], plural(len(d.Live.IDs()), "instance"), strings.Join(d.Live.IDs(), ", "), orUnknown(d.Live.Version), d.Live.PublicIP)},
	})
	if err != nil {
		return d, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	if err := h.D.Publisher().Publish(ctx, notify.Started(d, h.D.Env.Region)); err != nil {
		return d, step.AWS("sns:Publish", h.D.Env.Topic, err)
	}
	return d, nil
}

// plural is "instance" for one, "instances" for more.
func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

func orUnknown(s string) string {
	if s == "" {
		return "version unknown"
	}
	return s
}

func checkEvent(d release.Doc, cfg release.Config) error {
	a := d.Artifact
	if _, err := release.VersionFromKey(cfg.ArtifactPrefix, cfg.App, a.Key); err != nil {
		return release.EventInvalid{Cause: release.Cause(err.Error())}
	}
	if a.VersionID == "" || a.VersionID == "null" {
		return release.EventInvalid{Cause: release.Causef("s3://%s/%s has no version id: the release bucket must be versioned so a release always installs exactly what was uploaded", a.Bucket, a.Key)}
	}
	return nil
}

// checkArtifact streams the exact object version once, checking it as the
// instance will unpack it and computing the SHA-256 the deploy verifies.
func (h Handler) checkArtifact(ctx context.Context, d *release.Doc) error {
	a := &d.Artifact
	limit := int64(d.Config.ArtifactMaxSize) << 20
	if a.Size > limit {
		return release.ArtifactInvalid{Cause: release.Causef("s3://%s/%s is %d bytes, more than the %d MiB artifactMaxSize", a.Bucket, a.Key, a.Size, d.Config.ArtifactMaxSize)}
	}
	obj, err := h.D.AWS.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key), VersionId: aws.String(a.VersionID)})
	if err != nil {
		if code := step.ErrorCode(err); step.IsNotFound(err) || code == "NoSuchVersion" || code == "NoSuchKey" {
			return release.ArtifactInvalid{Cause: release.Causef("s3://%s/%s version %s does not exist (deleted after upload?)", a.Bucket, a.Key, a.VersionID)}
		}
		return step.AWS("s3:GetObject", "s3://"+a.Bucket+"/"+a.Key, err)
	}
	defer obj.Body.Close()
	sum, err := artifact.Inspect(obj.Body, limit)
	var p *artifact.Problem
	if errors.As(err, &p) {
		return release.ArtifactInvalid{Cause: release.Causef("s3://%s/%s: %s", a.Bucket, a.Key, p.Reason)}
	}
	if err != nil {
		return step.AWS("s3:GetObject", "s3://"+a.Bucket+"/"+a.Key, err)
	}
	if want := strings.ToLower(obj.Metadata[MetadataSHA256]); want != "" && want != sum.SHA256 {
		return release.ArtifactInvalid{Cause: release.Causef("s3://%s/%s: checksum mismatch: uploaded as sha256 %s, the object is %s", a.Bucket, a.Key, want, sum.SHA256)}
	}
	if sum.Version != "" && sum.Version != d.Version {
		return release.ArtifactInvalid{Cause: release.Causef("s3://%s/%s: its VERSION file says %q but the key says %q", a.Bucket, a.Key, sum.Version, d.Version)}
	}
	a.SHA256, a.Size = sum.SHA256, sum.CompressedSize
	a.UploadedBy = obj.Metadata[release.MetadataUploadedBy]
	h.D.Did(ctx, d.ReleaseID, "s3:GetObject", "artifact", "s3://"+a.Bucket+"/"+a.Key, "sha256", sum.SHA256, "files", sum.Files)
	return nil
}

// resolveLive finds the live instance through the front, the source of
// truth for what serves users: the side the router sends all traffic to
// (the instance the Elastic IP is on, or the one registered in the target
// group that has the weight).
func (h Handler) resolveLive(ctx context.Context, d *release.Doc) error {
	cfg := d.Config
	alloc := cfg.Live.ElasticIPAllocationID
	front := fmt.Sprintf("Elastic IP %s", alloc)
	if cfg.UsesALB() {
		front = "listener " + cfg.Traffic.ALB.ListenerARN
		if cfg.Traffic.ALB.RuleARN != "" {
			front = "listener rule " + cfg.Traffic.ALB.RuleARN
		}
	}
	split, err := h.D.Router(cfg).Split(ctx)
	if errors.As(err, new(traffic.NotFound)) {
		return release.LiveNotFound{Cause: release.Causef("%s does not exist in this account and region", front)}
	}
	if err != nil {
		return step.Traffic(err)
	}
	if err := checkSplit(cfg, split, front); err != nil {
		return err
	}
	side, err := h.healthyLive(ctx, cfg, split, front)
	if err != nil {
		return err
	}
	if err := h.checkAlarms(ctx, cfg); err != nil {
		return err
	}
	out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: side})
	if err != nil {
		return step.AWS("ec2:DescribeInstances", strings.Join(side, ", "), err)
	}
	byID := step.ByID(step.Instances(out))
	d.Live = release.Live{AllocationID: alloc, PublicIP: split.Front}
	for _, id := range side {
		inst, ok := byID[id]
		if !ok {
			return release.LiveNotFound{Cause: release.Causef("instance %s behind %s is not visible", id, front)}
		}
		if inst.State == nil || inst.State.Name != "running" {
			return release.LiveNotFound{Cause: release.Causef("live instance %s is %s, not running", id, stateName(inst))}
		}
		d.Live.InstanceIDs = append(d.Live.InstanceIDs, id)
		if sn := aws.ToString(inst.SubnetId); !slices.Contains(d.Live.SubnetIDs, sn) {
			d.Live.SubnetIDs = append(d.Live.SubnetIDs, sn)
		}
	}
	live := side[0]
	inst := byID[live]
	d.Live.InstanceID, d.Live.SubnetID, d.Live.AZ = live, aws.ToString(inst.SubnetId), aws.ToString(inst.Placement.AvailabilityZone)
	d.Live.PrivateIP, d.Live.ImageID = aws.ToString(inst.PrivateIpAddress), aws.ToString(inst.ImageId)
	for _, t := range inst.Tags {
		switch aws.ToString(t.Key) {
		case release.TagVersion:
			d.Live.Version = aws.ToString(t.Value)
		case release.TagRelease:
			d.Live.PreviousRelID = aws.ToString(t.Value)
		}
	}
	if cfg.HasData() {
		for _, bdm := range inst.BlockDeviceMappings {
			if aws.ToString(bdm.DeviceName) == cfg.Data.Device && bdm.Ebs != nil {
				d.Live.DataVolumeID = aws.ToString(bdm.Ebs.VolumeId)
			}
		}
		if d.Live.DataVolumeID == "" {
			return release.ConfigMismatch{Cause: release.Causef("data.mode is %s but live instance %s has no volume attached at %s", cfg.Data.Mode, live, cfg.Data.Device)}
		}
	}
	if cfg.Candidate.SubnetID != "" && cfg.Candidate.SubnetID != d.Live.SubnetID {
		subs, err := h.D.AWS.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{cfg.Candidate.SubnetID}})
		if step.IsNotFound(err) || (err == nil && len(subs.Subnets) == 0) {
			return release.ConfigMismatch{Cause: release.Causef("candidate.subnetId %s does not exist", cfg.Candidate.SubnetID)}
		}
		if err != nil {
			return step.AWS("ec2:DescribeSubnets", cfg.Candidate.SubnetID, err)
		}
		az := aws.ToString(subs.Subnets[0].AvailabilityZone)
		if cfg.HasData() && az != d.Live.AZ {
			return release.ConfigMismatch{Cause: release.Causef("candidate.subnetId %s is in %s but the live instance and its data volume are in %s; EBS volumes attach only within their AZ", cfg.Candidate.SubnetID, az, d.Live.AZ)}
		}
	}
	h.D.Did(ctx, d.ReleaseID, "live-resolved", "front", front, "instances", strings.Join(d.Live.InstanceIDs, ","), "az", d.Live.AZ, "version", d.Live.Version)
	return nil
}

// healthyLive is the live side: behind an ALB the serving group's healthy
// targets (one that is registered but unhealthy serves no one: the
// load balancer routes only to healthy targets), behind an Elastic IP its
// instance. A side with no healthy instance is refused.
func (h Handler) healthyLive(ctx context.Context, cfg release.Config, split traffic.Split, front string) ([]string, error) {
	serving := split.Serving()
	if !cfg.UsesALB() {
		return serving.Instances, nil
	}
	health, err := h.D.Router(cfg).Health(ctx, serving)
	if err != nil {
		return nil, step.Traffic(err)
	}
	if len(health.Healthy) == 0 {
		var why []string
		for _, id := range slices.Sorted(maps.Keys(health.Unhealthy)) {
			why = append(why, id+" "+health.Unhealthy[id])
		}
		return nil, release.LiveNotFound{Cause: release.Causef("no instance is healthy in the target group %s sends all traffic to (%s): the site is down; fix it before releasing",
			front, strings.Join(why, "; "))}
	}
	healthy := slices.Sorted(slices.Values(health.Healthy))
	if cfg.HasData() && len(healthy) > 1 {
		return nil, release.ConfigMismatch{Cause: release.Causef("%s sends traffic to %d instances (%s), but data.mode %q moves one data volume to one instance",
			front, len(healthy), strings.Join(healthy, ", "), cfg.Data.Mode)}
	}
	return healthy, nil
}

// checkSplit refuses a front that does not send all traffic to one side:
// nothing serves, or a shift was left half done.
func checkSplit(cfg release.Config, split traffic.Split, front string) error {
	switch {
	case len(split.Sides) == 0 && cfg.UsesALB():
		return release.LiveNotFound{Cause: release.Causef("%s forwards to neither target group of traffic.alb.targetGroupArns with any weight: point it at the live instance's group first", front)}
	case len(split.Sides) == 0:
		return release.LiveNotFound{Cause: release.Causef("%s (%s) is not associated with an instance: associate it with the live instance first", front, split.Front)}
	case len(split.Sides) > 1:
		var parts []string
		for _, sh := range split.Sides {
			parts = append(parts, fmt.Sprintf("%d %% to %s", sh.Weight, sh.Side))
		}
		return release.ConfigMismatch{Cause: release.Causef("%s splits traffic (%s): a shift is under way or was left half done; promote or roll it back before releasing", front, strings.Join(parts, ", "))}
	case len(split.Serving().Instances) == 0:
		return release.LiveNotFound{Cause: release.Causef("the target group %s sends all traffic to has no registered instance", front)}
	}
	return nil
}

// checkAlarms refuses traffic.alarms names that are no metric alarm here:
// DescribeAlarms leaves an unknown name out of its answer, so a typo would
// otherwise watch nothing.
func (h Handler) checkAlarms(ctx context.Context, cfg release.Config) error {
	alarms, err := traffic.Alarms(ctx, h.D.AWS.CloudWatch, cfg.Traffic.Alarms)
	if err != nil {
		return step.Traffic(err)
	}
	found := map[string]bool{}
	for _, a := range alarms {
		found[aws.ToString(a.AlarmName)] = true
	}
	var missing []string
	for _, name := range cfg.Traffic.Alarms {
		if !found[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return release.ConfigMismatch{Cause: release.Causef("traffic.alarms: %s is no CloudWatch metric alarm in this account and region (composite alarms are not supported)", strings.Join(missing, ", "))}
	}
	return nil
}

func stateName(i types.Instance) string {
	if i.State == nil {
		return "in an unknown state"
	}
	return string(i.State.Name)
}

// checkEncryption refuses a release whose volumes EBS would encrypt with a
// customer managed key the stack does not grant the functions the use of.
// Greenlight asks for encryption on every volume it creates; without
// encryption.kmsKeyId EBS then uses the account's default EBS key, and
// with encryption by default every volume made without a key (the live
// data and its backups) is under that key too. A customer managed key
// needs the caller's own KMS permissions, which the stack grants only on
// encryption.kmsKeyId; the AWS managed key (alias/aws/ebs) needs none.
// ("GetEbsDefaultKmsKeyId", "GetEbsEncryptionByDefault", Amazon EC2 API
// Reference: /AWSEC2/latest/APIReference/API_GetEbsDefaultKmsKeyId.html,
// /AWSEC2/latest/APIReference/API_GetEbsEncryptionByDefault.html;
// "Requirements for Amazon EBS encryption", Amazon EBS User Guide:
// /ebs/latest/userguide/ebs-encryption-requirements.html.)
func (h Handler) checkEncryption(ctx context.Context, d release.Doc) error {
	byDefault, err := h.D.AWS.EC2.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
	if err != nil {
		return step.AWS("ec2:GetEbsEncryptionByDefault", "the account's EBS encryption", err)
	}
	def, err := h.D.AWS.EC2.GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})
	if err != nil {
		return step.AWS("ec2:GetEbsDefaultKmsKeyId", "the account's default EBS key", err)
	}
	key := aws.ToString(def.KmsKeyId)
	on := aws.ToBool(byDefault.EbsEncryptionByDefault)
	h.D.Did(ctx, d.ReleaseID, "ebs-encryption", "byDefault", on, "defaultKey", key)
	if key == "" || release.IsAWSManagedEBSKey(key) {
		return nil
	}
	configured := d.Config.KMSKeyID()
	if configured == "" {
		return release.ConfigMismatch{Cause: release.Causef("the account encrypts new EBS volumes with %s; set encryption.kmsKeyId to it so greenlight is granted its use", key)}
	}
	if on && configured != key && sameForm(configured, key) {
		return release.ConfigMismatch{Cause: release.Causef("the account encrypts new EBS volumes with %s by default (the live data and its backups are under it), but encryption.kmsKeyId is %s; set encryption.kmsKeyId to %s so greenlight is granted its use",
			key, configured, key)}
	}
	return nil
}

// sameForm reports whether two KMS ARNs both name keys or both aliases:
// only then does a difference mean different keys (an alias may name the
// key, which only KMS can tell).
func sameForm(a, b string) bool {
	ka, okA := release.ParseKeyARN(a)
	kb, okB := release.ParseKeyARN(b)
	return okA && okB && ka.IsAlias() == kb.IsAlias()
}
