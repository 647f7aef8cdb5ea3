// Package candidate launches the candidate instance and decides when it is
// ready: running, both status checks passed, and online in SSM.
package candidate

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
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

// Launch starts the candidate side: fleet.size instances spread evenly
// across the launch subnets. Each instance's launch has its own client
// token (the release, its slot and its try), so a retried launch returns
// the same instances; instances of the release already running (found by
// tag) keep their slots, so a retry after a zone ran out of capacity does
// not launch a second instance for a slot.
func (h Handler) Launch(ctx context.Context, d release.Doc) (release.Candidate, error) {
	img, err := h.image(ctx, d)
	if err != nil {
		return release.Candidate{}, err
	}
	have, err := h.launched(ctx, d)
	if err != nil {
		return release.Candidate{}, err
	}
	now := h.D.Now().UTC()
	c := release.Candidate{ImageID: img.id, LaunchedAt: now, Poll: release.Poll{WaitSeconds: int(FirstCheck / time.Second)}, Status: "pending"}
	subnets := launchSubnets(d)
	for slot := range d.Config.FleetSize() {
		m, ok := have[slot]
		if !ok {
			m, err = h.launchSlot(ctx, d, img, slot, 0, subnets[slot%len(subnets)])
			if err != nil {
				return c, err
			}
		}
		c.Instances = append(c.Instances, m)
	}
	var where []string
	for _, m := range c.Instances {
		where = append(where, fmt.Sprintf("%s in %s", m.InstanceID, orSubnet(m)))
	}
	err = h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Set:   map[string]any{"candidateInstance": strings.Join(c.IDs(), ", ")},
		Event: &ledger.Event{At: now, Step: release.StateLaunchCandidate, Detail: fmt.Sprintf("launched %s from %s", strings.Join(where, ", "), img.id)},
	})
	if err != nil {
		return c, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	return c, nil
}

func orSubnet(m release.Member) string {
	if m.AZ != "" {
		return m.AZ
	}
	return m.SubnetID
}

// launchSubnets are the subnets candidates launch in, in order:
// fleet.subnetIds, else candidate.subnetId, else the live side's.
func launchSubnets(d release.Doc) []string {
	switch {
	case len(d.Config.Fleet.SubnetIDs) > 0:
		return d.Config.Fleet.SubnetIDs
	case d.Config.Candidate.SubnetID != "":
		return []string{d.Config.Candidate.SubnetID}
	case len(d.Live.SubnetIDs) > 0:
		return d.Live.SubnetIDs
	}
	return []string{d.Live.SubnetID}
}

// launchSlot launches the instance of one slot, first in subnet, then,
// while EC2 has no capacity for the type in a zone
// (InsufficientInstanceCapacity: "AWS does not currently have enough
// available On-Demand capacity to fulfill your request … you can try
// again later, or specify a different Availability Zone", Amazon EC2
// User Guide, "Troubleshoot instance launch issues":
// /AWSEC2/latest/UserGuide/troubleshooting-launch.html), in each other
// launch subnet in turn. Each attempt is a try of its own, with its own
// client token: EC2 refuses a token reused with another subnet
// (IdempotentParameterMismatch, "Ensuring idempotency in Amazon EC2 API
// requests": /ec2/latest/devguide/ec2-api-idempotency.html).
func (h Handler) launchSlot(ctx context.Context, d release.Doc, img image, slot, try int, subnet string) (release.Member, error) {
	subnets := launchSubnets(d)
	start := max(slices.Index(subnets, subnet), 0)
	var full []string
	for k := range subnets {
		sn := subnets[(start+k)%len(subnets)]
		m, err := h.run(ctx, d, img, slot, try+k, sn)
		if step.ErrorCode(err) == "InsufficientInstanceCapacity" {
			full = append(full, sn)
			h.D.Did(ctx, d.ReleaseID, "no-capacity", "subnet", sn, "type", d.Config.Candidate.InstanceType, "slot", slot)
			continue
		}
		return m, err
	}
	return release.Member{}, release.CandidateNotReady{Cause: release.Causef("EC2 has no capacity for %s in any launch subnet (%s): try again later, choose another instance type, or list subnets in more Availability Zones (fleet.subnetIds)",
		d.Config.Candidate.InstanceType, strings.Join(full, ", "))}
}

// LaunchToken is the client token of a slot's try: unique per release,
// slot and try, and within RunInstances' 64 ASCII characters.
func LaunchToken(releaseID string, slot, try int) string {
	if slot == 0 && try == 0 {
		return releaseID // the token of a release's only candidate since the first version
	}
	sum := sha256.Sum256([]byte(releaseID))
	return fmt.Sprintf("%s-%d-%d", hex.EncodeToString(sum[:])[:40], slot, try)
}

// run is one RunInstances call for a slot's try.
func (h Handler) run(ctx context.Context, d release.Doc, img image, slot, try int, subnet string) (release.Member, error) {
	cfg := d.Config
	tags := []types.Tag{
		{Key: aws.String("Name"), Value: aws.String(fmt.Sprintf("%s %s (greenlight candidate)", d.App, d.Version))},
		{Key: aws.String(release.TagApp), Value: aws.String(d.App)},
		{Key: aws.String(release.TagRelease), Value: aws.String(d.ReleaseID)},
		{Key: aws.String(release.TagRole), Value: aws.String(release.RoleCandidate)},
		{Key: aws.String(release.TagManaged), Value: aws.String(release.ManagedValue)},
		{Key: aws.String(release.TagVersion), Value: aws.String(d.Version)},
		{Key: aws.String(release.TagSlot), Value: aws.String(strconv.Itoa(slot))},
	}
	in := &ec2.RunInstancesInput{
		ClientToken:  aws.String(LaunchToken(d.ReleaseID, slot, try)),
		ImageId:      aws.String(img.id),
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
			DeviceName: aws.String(img.rootDevice),
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
	if step.ErrorCode(err) == "InsufficientInstanceCapacity" {
		return release.Member{}, err
	}
	if err != nil {
		return release.Member{}, step.AWS("ec2:RunInstances", fmt.Sprintf("candidate %d of %s", slot, d.ReleaseID), err)
	}
	inst := out.Instances[0]
	m := release.Member{
		Slot: slot, Try: try, InstanceID: aws.ToString(inst.InstanceId), SubnetID: subnet,
		PrivateIP: aws.ToString(inst.PrivateIpAddress), LaunchedAt: h.D.Now().UTC(), Status: "pending",
	}
	if inst.Placement != nil {
		m.AZ = aws.ToString(inst.Placement.AvailabilityZone)
	}
	h.D.Did(ctx, d.ReleaseID, "ec2:RunInstances", "instance", m.InstanceID, "image", img.id, "subnet", subnet, "type", cfg.Candidate.InstanceType, "slot", slot, "try", try)
	return m, nil
}

// launched finds the release's candidates that are pending or running, by
// slot, from their tags: what AWS says the side has, whatever an earlier
// pass believed. A slot with two (a retry racing EC2's eventual
// consistency) keeps its newest launch.
func (h Handler) launched(ctx context.Context, d release.Doc) (map[int]release.Member, error) {
	out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + release.TagRelease), Values: []string{d.ReleaseID}},
		{Name: aws.String("tag:" + release.TagRole), Values: []string{release.RoleCandidate}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}},
	}})
	if err != nil {
		return nil, step.AWS("ec2:DescribeInstances", "candidates of "+d.ReleaseID, err)
	}
	have := map[int]release.Member{}
	for _, i := range step.Instances(out) {
		slot, err := strconv.Atoi(tagOf(i.Tags, release.TagSlot))
		if err != nil {
			slot = 0 // launched before slots were tagged: the only candidate
		}
		m := release.Member{Slot: slot, InstanceID: aws.ToString(i.InstanceId), SubnetID: aws.ToString(i.SubnetId),
			PrivateIP: aws.ToString(i.PrivateIpAddress), PublicIP: aws.ToString(i.PublicIpAddress), LaunchedAt: aws.ToTime(i.LaunchTime), Status: "pending"}
		if i.Placement != nil {
			m.AZ = aws.ToString(i.Placement.AvailabilityZone)
		}
		m.Try = tryOf(d.ReleaseID, slot, aws.ToString(i.ClientToken))
		if old, ok := have[slot]; !ok || m.LaunchedAt.After(old.LaunchedAt) {
			have[slot] = m
		}
	}
	return have, nil
}

// tryOf reads the try back from a launch's client token (0 when it is not
// one of LaunchToken's).
func tryOf(releaseID string, slot int, token string) int {
	for try := range 64 {
		if LaunchToken(releaseID, slot, try) == token {
			return try
		}
	}
	return 0
}

func tagOf(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
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
	return h.describeImage(ctx, id)
}

// describeImage checks the golden AMI can be launched and finds its root
// device.
func (h Handler) describeImage(ctx context.Context, id string) (image, error) {
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

// Check looks at every candidate once, in one pass, and says whether the
// side is ready or how long to wait before looking again. A candidate that
// fails a status check, stops, or is not ready within the ready timeout is
// replaced while fleet.replaceUnhealthy allows; past that the release gives
// up with CandidateNotReady.
func (h Handler) Check(ctx context.Context, d release.Doc) (release.Candidate, error) {
	if err := h.D.Aborted(ctx, d); err != nil {
		return *d.Candidate, err
	}
	c := *d.Candidate
	c.Instances = slices.Clone(c.Instances)
	c.Checks++
	wait := nextCheck(c.Checks)
	now := h.D.Now()
	timeout := d.Config.Candidate.ReadyTimeout.D()
	looks, err := h.look(ctx, c.IDs())
	if err != nil {
		return c, err
	}
	var waiting []string
	for i := range c.Instances {
		m := &c.Instances[i]
		l := looks[m.InstanceID]
		if l.privateIP != "" {
			m.PrivateIP, m.PublicIP = l.privateIP, l.publicIP
		}
		switch {
		case l.failed == "" && len(l.missing) == 0:
			if !m.Ready {
				m.Ready, m.Status = true, "ready"
				h.D.Did(ctx, d.ReleaseID, "candidate-ready", "instance", m.InstanceID, "after", now.Sub(m.LaunchedAt).Round(time.Second).String())
			}
			continue
		case l.failed == "" && now.Before(m.LaunchedAt.Add(timeout)):
			m.Status = strings.Join(l.missing, ", ")
			waiting = append(waiting, m.InstanceID)
			if left := m.LaunchedAt.Add(timeout).Sub(now); left < wait {
				wait = (left + time.Second - 1).Truncate(time.Second)
			}
			continue
		}
		why := l.failed
		if why == "" {
			hint := ""
			if slices.Contains(l.missing, agentOffline) {
				hint = "; the SSM agent needs a path to Systems Manager: a public IP (candidate.publicIp), a NAT gateway or VPC endpoints for ssm, ssmmessages and ec2messages, and an instance profile allowing it (AmazonSSMManagedInstanceCore)"
			}
			why = fmt.Sprintf("not ready %s after launch (readyTimeout): %s%s", timeout, strings.Join(l.missing, ", "), hint)
		}
		if budget := d.Config.ReplaceUnhealthy(); c.Replaced >= budget {
			spent := ""
			if budget > 0 {
				spent = fmt.Sprintf(" (%d candidates replaced already, fleet.replaceUnhealthy %d)", c.Replaced, budget)
			}
			return c, release.CandidateNotReady{Cause: release.Causef("candidate %s %s%s", m.InstanceID, why, spent)}
		}
		repl, err := h.replace(ctx, d, c.ImageID, *m, why)
		if err != nil {
			return c, err
		}
		*m = repl
		c.Replaced++
		waiting = append(waiting, m.InstanceID)
		wait = max(wait, FirstCheck)
	}
	c.WaitSeconds = int(wait / time.Second)
	if len(waiting) > 0 {
		c.Status = c.Instances[0].Status
		if len(c.Instances) > 1 {
			c.Status = fmt.Sprintf("%d of %d ready; waiting for %s", len(c.Instances)-len(waiting), len(c.Instances), strings.Join(waiting, ", "))
		}
		return c, nil
	}
	c.Ready, c.Status = true, "ready"
	return c, h.recordReady(ctx, d, c)
}

// recordReady puts the ready side's addresses and the time it took in the
// ledger.
func (h Handler) recordReady(ctx context.Context, d release.Doc, c release.Candidate) error {
	took := h.D.Now().Sub(c.LaunchedAt).Round(time.Second)
	var addrs []string
	for _, m := range c.Instances {
		addrs = append(addrs, m.PrivateIP)
	}
	detail := fmt.Sprintf("%s ready after %s (running, status checks ok, SSM online)", c.First().InstanceID, took)
	if len(c.Instances) > 1 {
		detail = fmt.Sprintf("%d candidates ready after %s (running, status checks ok, SSM online): %s", len(c.Instances), took, strings.Join(c.IDs(), ", "))
	}
	if c.Replaced > 0 {
		detail += fmt.Sprintf("; %d replaced on the way", c.Replaced)
	}
	err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Set:   map[string]any{"candidateAddress": strings.Join(addrs, ", "), "candidateInstance": strings.Join(c.IDs(), ", ")},
		Event: &ledger.Event{Step: release.StateCheckCandidate, Detail: detail},
	})
	if err != nil {
		return step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	return nil
}

// replace terminates a candidate that will not become ready and launches
// another in its slot (its subnet first). A pass retried after it
// launched the replacement finds that instance by tag instead of
// launching a third.
func (h Handler) replace(ctx context.Context, d release.Doc, imageID string, old release.Member, why string) (release.Member, error) {
	_, err := h.D.AWS.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{old.InstanceID}})
	if err != nil && !step.IsNotFound(err) {
		return old, step.AWS("ec2:TerminateInstances", old.InstanceID, err)
	}
	h.D.Did(ctx, d.ReleaseID, "ec2:TerminateInstances", "instance", old.InstanceID, "why", why)
	have, err := h.launched(ctx, d)
	if err != nil {
		return old, err
	}
	m, ok := have[old.Slot]
	if !ok || m.InstanceID == old.InstanceID {
		img, err := h.describeImage(ctx, imageID)
		if err != nil {
			return old, err
		}
		if m, err = h.launchSlot(ctx, d, img, old.Slot, old.Try+1, old.SubnetID); err != nil {
			return old, err
		}
	}
	err = h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Event: &ledger.Event{Step: release.StateCheckCandidate, Detail: fmt.Sprintf("replaced %s (%s) with %s in %s", old.InstanceID, why, m.InstanceID, orSubnet(m))},
	})
	if err != nil {
		return m, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	return m, nil
}

// agentOffline is what a candidate lacks until its SSM agent is online.
const agentOffline = "SSM agent not online"

// look is what one pass saw of a candidate: what it still lacks, or why it
// never will (failed), and its addresses.
type look struct {
	missing             []string
	failed              string
	privateIP, publicIP string
}

// look reads every candidate's state, status checks and SSM agent in one
// call each.
func (h Handler) look(ctx context.Context, ids []string) (map[string]look, error) {
	looks := map[string]look{}
	st, err := h.D.AWS.EC2.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: ids, IncludeAllInstances: aws.Bool(true)})
	if step.IsNotFound(err) {
		// EC2 is eventually consistent: a just-launched instance may not
		// be visible yet, and one unknown id fails the whole call.
		for _, id := range ids {
			looks[id] = look{missing: []string{"not visible yet"}}
		}
		return looks, nil
	}
	if err != nil {
		return nil, step.AWS("ec2:DescribeInstanceStatus", strings.Join(ids, ", "), err)
	}
	statuses := map[string]types.InstanceStatus{}
	for _, s := range st.InstanceStatuses {
		statuses[aws.ToString(s.InstanceId)] = s
	}
	info, err := h.D.AWS.SSM.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: ids}},
	})
	if err != nil {
		return nil, step.AWS("ssm:DescribeInstanceInformation", strings.Join(ids, ", "), err)
	}
	online := map[string]bool{}
	for _, i := range info.InstanceInformationList {
		online[aws.ToString(i.InstanceId)] = i.PingStatus == ssmtypes.PingStatusOnline
	}
	addrs, err := h.addresses(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		s, ok := statuses[id]
		l := look{privateIP: addrs[id][0], publicIP: addrs[id][1]}
		switch {
		case !ok:
			l.missing = []string{"not visible yet"}
		case s.InstanceState.Name == types.InstanceStateNamePending:
			l.missing = []string{"pending"}
		case s.InstanceState.Name != types.InstanceStateNameRunning:
			l.failed = fmt.Sprintf("is %s%s", s.InstanceState.Name, h.stateReason(ctx, id))
		default:
			l.missing, l.failed = checksMissing(s)
			if l.failed == "" && !online[id] {
				l.missing = append(l.missing, agentOffline)
			}
		}
		looks[id] = l
	}
	return looks, nil
}

// checksMissing lists the status checks not yet ok, or says which failed.
func checksMissing(s types.InstanceStatus) ([]string, string) {
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
			return nil, fmt.Sprintf("failed its %s (impaired)", chk.name)
		default:
			missing = append(missing, chk.name+" "+string(status))
		}
	}
	return missing, ""
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

// addresses are the instances' private and public addresses, by id.
func (h Handler) addresses(ctx context.Context, ids []string) (map[string][2]string, error) {
	addrs := map[string][2]string{}
	out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if step.IsNotFound(err) {
		return addrs, nil
	}
	if err != nil {
		return nil, step.AWS("ec2:DescribeInstances", strings.Join(ids, ", "), err)
	}
	for _, i := range step.Instances(out) {
		addrs[aws.ToString(i.InstanceId)] = [2]string{aws.ToString(i.PrivateIpAddress), aws.ToString(i.PublicIpAddress)}
	}
	return addrs, nil
}
