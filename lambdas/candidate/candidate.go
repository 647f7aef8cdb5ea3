// Package candidate launches the candidate instance and decides when it is
// ready: running, both status checks passed, and online in SSM.
package candidate

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Polling. A candidate cannot be ready before it has run, booted and
// passed both status checks: 16 s pending, then about 150 s until EC2
// reports both checks ok (the reference table, ../shared/aws-latencies.md:
// "checks run every minute and start initializing at launch; two passing
// rounds after the OS is up"; the SSM agent is online well before, at
// about 45 s). Looking earlier only costs state transitions, so the first
// look comes at FirstCheck; then it backs off from 10 s by 10 s to
// CheckEvery, which keeps a late candidate's detection delay short.
const (
	FirstCheck = 170 * time.Second
	CheckEvery = 30 * time.Second
	backoff    = 10 * time.Second
)

// nextCheck is the wait after the n-th look (n ≥ 1).
func nextCheck(n int) time.Duration {
	return min(time.Duration(n)*backoff, CheckEvery)
}

// Handler launches and checks candidates.
type Handler struct{ D *step.Deps }

// Launch starts the candidate in the live instance's subnet. The release id
// is the ClientToken, so a retried launch returns the same instance.
func (h Handler) Launch(ctx context.Context, d release.Doc) (release.Candidate, error) {
	cfg := d.Config
	image, err := h.image(ctx, d)
	if err != nil {
		return release.Candidate{}, err
	}
	subnet := cfg.Candidate.SubnetID
	if subnet == "" {
		subnet = d.Live.SubnetID
	}
	tags := []types.Tag{
		{Key: aws.String("Name"), Value: aws.String(fmt.Sprintf("%s %s (greenlight candidate)", d.App, d.Version))},
		{Key: aws.String(release.TagApp), Value: aws.String(d.App)},
		{Key: aws.String(release.TagRelease), Value: aws.String(d.ReleaseID)},
		{Key: aws.String(release.TagRole), Value: aws.String(release.RoleCandidate)},
		{Key: aws.String(release.TagManaged), Value: aws.String(release.ManagedValue)},
		{Key: aws.String(release.TagVersion), Value: aws.String(d.Version)},
	}
	in := &ec2.RunInstancesInput{
		ClientToken:  aws.String(d.ReleaseID),
		ImageId:      aws.String(image.id),
		InstanceType: types.InstanceType(cfg.Candidate.InstanceType),
		MinCount:     aws.Int32(1),
		MaxCount:     aws.Int32(1),
		// Subnet, groups and the public IP go on the primary network
		// interface: RunInstances takes a public IP request only there,
		// and then refuses an instance-level subnet or groups
		// (InvalidParameterCombination).
		NetworkInterfaces: []types.InstanceNetworkInterfaceSpecification{{
			DeviceIndex: aws.Int32(0), SubnetId: aws.String(subnet), Groups: cfg.Candidate.SecurityGroupIDs,
			AssociatePublicIpAddress: aws.Bool(cfg.Candidate.WantsPublicIP()), DeleteOnTermination: aws.Bool(true),
		}},
		IamInstanceProfile: &types.IamInstanceProfileSpecification{Name: aws.String(cfg.Candidate.InstanceProfile)},
		MetadataOptions: &types.InstanceMetadataOptionsRequest{
			HttpTokens:              types.HttpTokensStateRequired,
			HttpEndpoint:            types.InstanceMetadataEndpointStateEnabled,
			HttpPutResponseHopLimit: aws.Int32(2),
		},
		BlockDeviceMappings: []types.BlockDeviceMapping{{
			DeviceName: aws.String(image.rootDevice),
			Ebs:        &types.EbsBlockDevice{Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true), VolumeType: types.VolumeTypeGp3},
		}},
		TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeInstance, Tags: tags},
			{ResourceType: types.ResourceTypeVolume, Tags: tags},
		},
	}
	if key := cfg.KMSKeyID(); key != "" {
		// The root volume under the configured key, which the launch
		// function may use; without it EBS uses the account's default key,
		// which the prepare step has checked is the AWS managed one.
		in.BlockDeviceMappings[0].Ebs.KmsKeyId = aws.String(key)
	}
	if cfg.Candidate.KeyName != "" {
		in.KeyName = aws.String(cfg.Candidate.KeyName)
	}
	if cfg.Candidate.UserData != "" {
		in.UserData = aws.String(base64.StdEncoding.EncodeToString([]byte(cfg.Candidate.UserData)))
	}
	out, err := h.D.AWS.EC2.RunInstances(ctx, in)
	if err != nil {
		return release.Candidate{}, step.AWS("ec2:RunInstances", "candidate of "+d.ReleaseID, err)
	}
	inst := out.Instances[0]
	id := aws.ToString(inst.InstanceId)
	now := h.D.Now().UTC()
	h.D.Did(ctx, d.ReleaseID, "ec2:RunInstances", "instance", id, "image", image.id, "subnet", subnet, "type", cfg.Candidate.InstanceType)
	c := release.Candidate{
		InstanceID: id,
		ImageID:    image.id,
		PrivateIP:  aws.ToString(inst.PrivateIpAddress),
		LaunchedAt: now,
		Poll:       release.Poll{WaitSeconds: int(FirstCheck / time.Second)},
		Status:     "pending",
	}
	err = h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Set:   map[string]any{"candidateInstance": id},
		Event: &ledger.Event{At: now, Step: release.StateLaunchCandidate, Detail: fmt.Sprintf("launched %s from %s in %s", id, image.id, subnet)},
	})
	if err != nil {
		return c, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	return c, nil
}

type image struct{ id, rootDevice string }

// image resolves the golden AMI (directly or through its SSM parameter) and
// checks it can be launched.
func (h Handler) image(ctx context.Context, d release.Doc) (image, error) {
	cfg := d.Config.Candidate
	id := cfg.AMI
	if cfg.AMIParameter != "" {
		p, err := h.D.AWS.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(cfg.AMIParameter)})
		if step.ErrorCode(err) == "ParameterNotFound" {
			return image{}, release.ConfigMismatch{Cause: release.Causef("SSM parameter %s (candidate.amiParameter) does not exist", cfg.AMIParameter)}
		}
		if err != nil {
			return image{}, step.AWS("ssm:GetParameter", cfg.AMIParameter, err)
		}
		id = strings.TrimSpace(aws.ToString(p.Parameter.Value))
	}
	out, err := h.D.AWS.EC2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil && !step.IsNotFound(err) && step.ErrorCode(err) != "InvalidAMIID.Malformed" {
		return image{}, step.AWS("ec2:DescribeImages", id, err)
	}
	if err != nil || len(out.Images) == 0 {
		return image{}, release.ConfigMismatch{Cause: release.Causef("golden AMI %s does not exist or is not shared with this account", id)}
	}
	img := out.Images[0]
	if img.State != types.ImageStateAvailable {
		return image{}, release.ConfigMismatch{Cause: release.Causef("golden AMI %s is %s, not available", id, img.State)}
	}
	return image{id: id, rootDevice: aws.ToString(img.RootDeviceName)}, nil
}

// Check looks at the candidate once and says whether it is ready or how
// long to wait before looking again. Past the ready timeout, or with a
// failed status check, it gives up with CandidateNotReady.
func (h Handler) Check(ctx context.Context, d release.Doc) (release.Candidate, error) {
	if err := h.D.Aborted(ctx, d); err != nil {
		return *d.Candidate, err
	}
	c := *d.Candidate
	c.Checks++
	wait := nextCheck(c.Checks)
	c.WaitSeconds = int(wait / time.Second)
	now := h.D.Now()
	deadline := c.LaunchedAt.Add(d.Config.Candidate.ReadyTimeout.D())
	missing, err := h.missing(ctx, d, &c)
	if err != nil {
		return c, err
	}
	if len(missing) == 0 {
		c.Ready, c.Status = true, "ready"
		h.D.Did(ctx, d.ReleaseID, "candidate-ready", "instance", c.InstanceID, "after", now.Sub(c.LaunchedAt).Round(time.Second).String())
		err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
			Set:   map[string]any{"candidateAddress": c.PrivateIP},
			Event: &ledger.Event{Step: release.StateCheckCandidate, Detail: fmt.Sprintf("%s ready after %s (running, status checks ok, SSM online)", c.InstanceID, now.Sub(c.LaunchedAt).Round(time.Second))},
		})
		if err != nil {
			return c, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
		}
		return c, nil
	}
	c.Status = strings.Join(missing, ", ")
	if !now.Before(deadline) {
		hint := ""
		if slices.Contains(missing, agentOffline) {
			hint = "; the SSM agent needs a path to Systems Manager: a public IP (candidate.publicIp), a NAT gateway or VPC endpoints for ssm, ssmmessages and ec2messages, and an instance profile allowing it (AmazonSSMManagedInstanceCore)"
		}
		return c, release.CandidateNotReady{Cause: release.Causef("candidate %s not ready %s after launch (readyTimeout): %s%s",
			c.InstanceID, d.Config.Candidate.ReadyTimeout.D(), c.Status, hint)}
	}
	if left := deadline.Sub(now); left < wait {
		c.WaitSeconds = int((left + time.Second - 1) / time.Second)
	}
	return c, nil
}

// agentOffline is what a candidate lacks until its SSM agent is online.
const agentOffline = "SSM agent not online"

// missing lists what the candidate still lacks. A failed status check or a
// dead instance ends the wait at once with CandidateNotReady.
func (h Handler) missing(ctx context.Context, d release.Doc, c *release.Candidate) ([]string, error) {
	id := c.InstanceID
	st, err := h.D.AWS.EC2.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{id}, IncludeAllInstances: aws.Bool(true)})
	if step.IsNotFound(err) {
		// EC2 is eventually consistent: a just-launched instance may not
		// be visible yet.
		return []string{"not visible yet"}, nil
	}
	if err != nil {
		return nil, step.AWS("ec2:DescribeInstanceStatus", id, err)
	}
	if len(st.InstanceStatuses) == 0 {
		return []string{"not visible yet"}, nil
	}
	s := st.InstanceStatuses[0]
	state := s.InstanceState.Name
	switch state {
	case types.InstanceStateNamePending:
		return []string{"pending"}, nil
	case types.InstanceStateNameRunning:
	default:
		return nil, release.CandidateNotReady{Cause: release.Causef("candidate %s is %s%s", id, state, h.stateReason(ctx, id))}
	}
	if c.PrivateIP == "" || c.PublicIP == "" {
		if err := h.addresses(ctx, c); err != nil {
			return nil, err
		}
	}
	var missing []string
	checks := []struct {
		name string
		sum  *types.InstanceStatusSummary
	}{{"system status check", s.SystemStatus}, {"instance status check", s.InstanceStatus}}
	for _, chk := range checks {
		status := types.SummaryStatusInitializing
		if chk.sum != nil {
			status = chk.sum.Status
		}
		switch status {
		case types.SummaryStatusOk:
		case types.SummaryStatusImpaired:
			return nil, release.CandidateNotReady{Cause: release.Causef("candidate %s failed its %s (impaired)", id, chk.name)}
		default:
			missing = append(missing, chk.name+" "+string(status))
		}
	}
	info, err := h.D.AWS.SSM.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{id}}},
	})
	if err != nil {
		return nil, step.AWS("ssm:DescribeInstanceInformation", id, err)
	}
	if len(info.InstanceInformationList) == 0 || info.InstanceInformationList[0].PingStatus != ssmtypes.PingStatusOnline {
		missing = append(missing, agentOffline)
	}
	return missing, nil
}

// stateReason says why EC2 stopped or terminated an instance, as ": …",
// or "" when it cannot tell. A launch that ends in Client.InternalError is
// how EC2 reports an encrypted volume whose KMS key the launching
// principal may not use (AWS re:Post Knowledge Center, on an instance
// that goes from pending to stopped for want of KMS permissions:
// repost.aws/knowledge-center/kms-iam-ec2-permission).
func (h Handler) stateReason(ctx context.Context, id string) string {
	out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return ""
	}
	if len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0 || out.Reservations[0].Instances[0].StateReason == nil {
		return ""
	}
	r := out.Reservations[0].Instances[0].StateReason
	msg := ": " + aws.ToString(r.Message)
	if aws.ToString(r.Code) == "Client.InternalError" {
		msg += " (EC2 could not use the KMS key of an encrypted volume on the launch's behalf: set encryption.kmsKeyId to the key so greenlight is granted its use)"
	}
	return msg
}

func (h Handler) addresses(ctx context.Context, c *release.Candidate) error {
	out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{c.InstanceID}})
	if err != nil {
		return step.AWS("ec2:DescribeInstances", c.InstanceID, err)
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			c.PrivateIP = aws.ToString(i.PrivateIpAddress)
			c.PublicIP = aws.ToString(i.PublicIpAddress)
		}
	}
	return nil
}
