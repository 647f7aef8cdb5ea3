// Package doctor checks, before a release, what in an account would break
// one: the golden AMI and the instance type, the candidates' subnet, the
// front (Elastic IP or ALB listener) and the live side behind it, the SSM
// agent, the data volume's device, the account's EBS encryption, the
// alarms and the email subscriptions. Every check is read-only (Describe,
// Get and List calls only) and says, when it warns or fails, exactly what
// to do. `greenlight doctor` runs it with the operator's credentials; the
// local engine runs it against the simulated account.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
)

// Status is a check's outcome.
type Status string

// The outcomes. Skip is a check that does not apply (alarms without
// traffic.alarms) or cannot run because one it depends on failed.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is one check's outcome: what was found and, unless it passed,
// the fix.
type Result struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every check's result, in order.
type Report struct {
	Results []Result `json:"results"`
}

// Count is how many results have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, x := range r.Results {
		if x.Status == s {
			n++
		}
	}
	return n
}

// OK reports whether nothing failed.
func (r Report) OK() bool { return r.Count(Fail) == 0 }

// Add appends results checked elsewhere (credentials, the stack), first.
func (r *Report) Add(results ...Result) { r.Results = append(results, r.Results...) }

// InstanceTypes is EC2's DescribeInstanceTypes, which greenlight's steps
// never call.
type InstanceTypes interface {
	DescribeInstanceTypes(ctx context.Context, in *ec2.DescribeInstanceTypesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error)
}

// Subscriptions is SNS's ListSubscriptionsByTopic.
type Subscriptions interface {
	ListSubscriptionsByTopic(ctx context.Context, in *sns.ListSubscriptionsByTopicInput, optFns ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error)
}

// InstanceProfiles is what doctor reads of IAM: the candidates' instance
// profile, its role, and the role's managed policies.
type InstanceProfiles interface {
	GetInstanceProfile(ctx context.Context, in *iam.GetInstanceProfileInput, optFns ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, optFns ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
}

// BucketNotifications is S3's GetBucketNotificationConfiguration.
type BucketNotifications interface {
	GetBucketNotificationConfiguration(ctx context.Context, in *s3.GetBucketNotificationConfigurationInput, optFns ...func(*s3.Options)) (*s3.GetBucketNotificationConfigurationOutput, error)
}

// Input is what the checks read: the config, the clients (only their
// read-only calls are made) and the deployed stack's bucket and topic.
type Input struct {
	Config        release.Config
	AWS           awsapi.Clients
	InstanceTypes InstanceTypes
	Subscriptions Subscriptions
	Notifications BucketNotifications
	IAM           InstanceProfiles
	// Bucket is the stack's release bucket and TopicARN its notification
	// topic; "" skips the check that reads it.
	Bucket   string
	TopicARN string
}

// checker carries what earlier checks found to later ones.
type checker struct {
	in    Input
	image *ec2types.Image
	live  []ec2types.Instance
	// liveKnown is false when the front could not be read.
	liveKnown bool
}

// Run runs every check.
func Run(ctx context.Context, in Input) Report {
	c := &checker{in: in}
	var r Report
	for _, check := range []func(context.Context) Result{
		c.bootstrap, c.goldenAMI, c.architecture, c.instanceProfile, c.front, c.liveInstances, c.agent,
		c.candidateSubnet, c.publicIP, c.dataVolume, c.ebsDefaultKey, c.alarms, c.bucketEvents, c.subscriptions,
	} {
		r.Results = append(r.Results, check(ctx))
	}
	return r
}

func pass(check, detail string) Result { return Result{Check: check, Status: Pass, Detail: detail} }
func skip(check, detail string) Result { return Result{Check: check, Status: Skip, Detail: detail} }
func fail(check, detail, fix string) Result {
	return Result{Check: check, Status: Fail, Detail: detail, Fix: fix}
}
func warn(check, detail, fix string) Result {
	return Result{Check: check, Status: Warn, Detail: detail, Fix: fix}
}

// code is an AWS error's code, or "".
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// callFailed is the result of a check whose call failed for a reason
// other than what it looks for (access denied, throttling).
func callFailed(check, call string, err error) Result {
	fix := "retry; if it persists, check the network and the service's health"
	if strings.Contains(code(err), "AccessDenied") || strings.Contains(code(err), "UnauthorizedOperation") {
		fix = "allow " + call + " to the identity running greenlight doctor (it makes only read-only calls)"
	}
	return fail(check, call+" failed: "+err.Error(), fix)
}

// BootstrapParameter is where a CDK environment bootstrapped with the
// default qualifier keeps its bootstrap stack's version; every synthesized
// template reads it (its BootstrapVersion parameter) and its
// CheckBootstrapVersion rule refuses versions 1 to 5 ("CDK bootstrap stack
// version 6 required"). AWS CDK v2 Developer Guide, "AWS CDK
// bootstrapping" (cdk/v2/guide/bootstrapping.html).
const BootstrapParameter = "/cdk-bootstrap/hnb659fds/version"

// minBootstrapVersion is the oldest bootstrap stack a template deploys on.
const minBootstrapVersion = 6

func (c *checker) bootstrap(ctx context.Context) Result {
	const check = "cdk-bootstrap"
	out, err := c.in.AWS.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(BootstrapParameter)})
	if code(err) == "ParameterNotFound" {
		return fail(check, "the environment is not bootstrapped for the CDK ("+BootstrapParameter+" does not exist)",
			"make deploy bootstraps it first; if you bootstrapped with a custom qualifier, deploy with BOOTSTRAP=no and ignore this")
	}
	if err != nil {
		return callFailed(check, "ssm:GetParameter", err)
	}
	v, err := strconv.Atoi(aws.ToString(out.Parameter.Value))
	if err != nil || v < minBootstrapVersion {
		return fail(check, "the CDK bootstrap stack is version "+aws.ToString(out.Parameter.Value)+"; the stack needs "+strconv.Itoa(minBootstrapVersion)+" or later",
			"bootstrap again with the pinned CLI: make deploy (it runs cdk bootstrap, which upgrades it)")
	}
	return pass(check, "bootstrap stack version "+strconv.Itoa(v))
}

func (c *checker) goldenAMI(ctx context.Context) Result {
	const check = "golden-ami"
	l := c.in.Config.Candidate
	id, from := l.AMI, "candidate.ami"
	if id == "" {
		out, err := c.in.AWS.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(l.AMIParameter)})
		if code(err) == "ParameterNotFound" {
			return fail(check, "the SSM parameter "+l.AMIParameter+" (candidate.amiParameter) does not exist",
				"create it with your golden AMI's id: aws ssm put-parameter --name "+l.AMIParameter+" --type String --data-type aws:ec2:image --value ami-…")
		}
		if err != nil {
			return callFailed(check, "ssm:GetParameter", err)
		}
		id, from = aws.ToString(out.Parameter.Value), "the parameter "+l.AMIParameter
	}
	out, err := c.in.AWS.EC2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil && !strings.HasPrefix(code(err), "InvalidAMIID") {
		return callFailed(check, "ec2:DescribeImages", err)
	}
	if err != nil || len(out.Images) == 0 {
		return fail(check, from+" names "+id+", which EC2 does not list in this region",
			"point "+from+" at your current golden AMI (deregistered images, and those of another region or account you cannot use, are not listed)")
	}
	img := out.Images[0]
	if img.State != ec2types.ImageStateAvailable {
		return fail(check, id+" is "+string(img.State), "wait until it is available, or point "+from+" at an available image")
	}
	c.image = &img
	return pass(check, fmt.Sprintf("%s (%s, %s) from %s", id, aws.ToString(img.Name), img.Architecture, from))
}

func (c *checker) architecture(ctx context.Context) Result {
	const check = "instance-type"
	t := c.in.Config.Candidate.InstanceType
	out, err := c.in.InstanceTypes.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{ec2types.InstanceType(t)}})
	if code(err) == "InvalidInstanceType" || (err == nil && len(out.InstanceTypes) == 0) {
		return fail(check, "candidate.instanceType "+t+" is not an instance type this region offers", "set candidate.instanceType to one it offers (aws ec2 describe-instance-types)")
	}
	if err != nil {
		return callFailed(check, "ec2:DescribeInstanceTypes", err)
	}
	archs := out.InstanceTypes[0].ProcessorInfo.SupportedArchitectures
	names := make([]string, len(archs))
	for i, a := range archs {
		names[i] = string(a)
	}
	if c.image == nil {
		return skip(check, t+" runs "+strings.Join(names, ", ")+"; the golden AMI is unknown (see golden-ami)")
	}
	if !slices.Contains(names, string(c.image.Architecture)) {
		return fail(check, fmt.Sprintf("%s runs %s, but the golden AMI %s is %s", t, strings.Join(names, ", "), aws.ToString(c.image.ImageId), c.image.Architecture),
			fmt.Sprintf("set candidate.instanceType to a type that runs %s, or build the golden AMI for %s", c.image.Architecture, strings.Join(names, ", ")))
	}
	return pass(check, fmt.Sprintf("%s runs %s, as the golden AMI", t, c.image.Architecture))
}

// ssmCorePolicy is the AWS managed policy an instance needs for Systems
// Manager (AWS Managed Policy Reference, "AmazonSSMManagedInstanceCore").
const ssmCorePolicy = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"

func (c *checker) instanceProfile(ctx context.Context) Result {
	const check = "instance-profile"
	l := c.in.Config.Candidate
	out, err := c.in.IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(l.InstanceProfile)})
	if code(err) == "NoSuchEntity" {
		return fail(check, "candidate.instanceProfile "+l.InstanceProfile+" does not exist in this account",
			"set it to the live instance's profile, or create one whose role has AmazonSSMManagedInstanceCore and read access to the release bucket's artifact prefix")
	}
	if err != nil {
		return callFailed(check, "iam:GetInstanceProfile", err)
	}
	if len(out.InstanceProfile.Roles) == 0 {
		return fail(check, l.InstanceProfile+" holds no role", "add one: aws iam add-role-to-instance-profile --instance-profile-name "+l.InstanceProfile+" --role-name …")
	}
	role := aws.ToString(out.InstanceProfile.Roles[0].RoleName)
	if role != l.InstanceRole {
		return fail(check, fmt.Sprintf("%s holds the role %s, but candidate.instanceRole is %s", l.InstanceProfile, role, l.InstanceRole),
			"set candidate.instanceRole to "+role+" and redeploy: the stack lets the launch step pass only the configured role (iam:PassRole), so every launch would be refused")
	}
	pols, err := c.in.IAM.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		return callFailed(check, "iam:ListAttachedRolePolicies", err)
	}
	for _, p := range pols.AttachedPolicies {
		if aws.ToString(p.PolicyArn) == ssmCorePolicy {
			return pass(check, l.InstanceProfile+" with role "+role+", AmazonSSMManagedInstanceCore attached (its read access to the release bucket is not checked)")
		}
	}
	return warn(check, "the role "+role+" has no AmazonSSMManagedInstanceCore attached",
		"attach it (aws iam attach-role-policy --role-name "+role+" --policy-arn "+ssmCorePolicy+"), unless another policy grants the same: without it the candidates' agent never comes online")
}

func (c *checker) front(ctx context.Context) Result {
	const check = "front"
	cfg := c.in.Config
	front := traffic.FrontOf(cfg)
	what := "the Elastic IP " + front.AllocationID + " (live.elasticIpAllocationId)"
	if cfg.UsesALB() {
		what = "the listener " + front.ListenerARN + " (traffic.alb.listenerArn)"
	}
	split, err := traffic.For(c.in.AWS, front).Split(ctx)
	var nf traffic.NotFound
	if errors.As(err, &nf) {
		return fail(check, what+" does not exist in this account and region", "set it to the front your users reach, in the stack's region")
	}
	if err != nil {
		return fail(check, "reading "+what+": "+err.Error(), "check the id and that the identity may describe it")
	}
	serving := split.Serving()
	if len(serving.Instances) == 0 {
		fix := "associate it with the live instance: aws ec2 associate-address --allocation-id " + front.AllocationID + " --instance-id i-…"
		if cfg.UsesALB() {
			fix = "give one of traffic.alb.targetGroupArns the listener's weight, with the live instances registered in it"
		}
		return fail(check, what+" sends traffic to no instance", fix)
	}
	c.live = make([]ec2types.Instance, 0, len(serving.Instances))
	c.liveKnown = true
	out, err := c.in.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: serving.Instances})
	if err != nil && code(err) != "InvalidInstanceID.NotFound" {
		return callFailed(check, "ec2:DescribeInstances", err)
	}
	if out != nil {
		for _, res := range out.Reservations {
			c.live = append(c.live, res.Instances...)
		}
	}
	return pass(check, what+" serves "+serving.String())
}

// liveIDs are the live instances' ids.
func (c *checker) liveIDs() []string {
	ids := make([]string, len(c.live))
	for i, in := range c.live {
		ids[i] = aws.ToString(in.InstanceId)
	}
	return ids
}

func (c *checker) liveInstances(context.Context) Result {
	const check = "live-instances"
	if !c.liveKnown {
		return skip(check, "the live side is unknown (see front)")
	}
	if len(c.live) == 0 {
		return fail(check, "the front serves instances EC2 does not list", "point the front at the running live instances")
	}
	var bad []string
	for _, in := range c.live {
		if in.State == nil || in.State.Name != ec2types.InstanceStateNameRunning {
			state := "unknown"
			if in.State != nil {
				state = string(in.State.Name)
			}
			bad = append(bad, aws.ToString(in.InstanceId)+" is "+state)
		}
	}
	if len(bad) > 0 {
		return fail(check, strings.Join(bad, "; "),
			"start it (aws ec2 start-instances --instance-ids …): a release copies the live data from it and a rollback returns to it")
	}
	return pass(check, strings.Join(c.liveIDs(), ", ")+" running")
}

func (c *checker) agent(ctx context.Context) Result {
	const check = "ssm-agent"
	if len(c.live) == 0 {
		return skip(check, "no live instance to ask about (see front)")
	}
	ids := c.liveIDs()
	out, err := c.in.AWS.SSM.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: ids}},
	})
	if err != nil {
		return callFailed(check, "ssm:DescribeInstanceInformation", err)
	}
	info := map[string]ssmtypes.InstanceInformation{}
	for _, i := range out.InstanceInformationList {
		info[aws.ToString(i.InstanceId)] = i
	}
	var bad, good []string
	for _, id := range ids {
		i, ok := info[id]
		switch {
		case !ok:
			bad = append(bad, id+" has never registered with Systems Manager")
		case i.PingStatus != ssmtypes.PingStatusOnline:
			bad = append(bad, fmt.Sprintf("%s is %s (last seen %s)", id, i.PingStatus, aws.ToTime(i.LastPingDateTime).UTC().Format("2006-01-02 15:04")))
		default:
			good = append(good, id+" agent "+aws.ToString(i.AgentVersion))
		}
	}
	if len(bad) > 0 {
		return fail(check, strings.Join(bad, "; "),
			"on the instance: systemctl status amazon-ssm-agent; its instance profile needs AmazonSSMManagedInstanceCore, and it must reach Systems Manager (a public IP, a NAT gateway, or VPC endpoints for ssm, ssmmessages and ec2messages): the maintenance page, the snapshot and the data move all run through it")
	}
	return pass(check, strings.Join(good, ", ")+": Online")
}

func (c *checker) candidateSubnet(ctx context.Context) Result {
	const check = "candidate-subnet"
	cfg := c.in.Config
	id, from := cfg.Candidate.SubnetID, "candidate.subnetId"
	if id == "" {
		if len(c.live) == 0 {
			return skip(check, "candidates launch in the live instance's subnet, which is unknown (see front)")
		}
		id, from = aws.ToString(c.live[0].SubnetId), "the live instance's subnet"
	}
	out, err := c.in.AWS.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{id}})
	if code(err) == "InvalidSubnetID.NotFound" || (err == nil && len(out.Subnets) == 0) {
		return fail(check, from+" "+id+" does not exist in this region", "set candidate.subnetId to a subnet of the live instance's VPC")
	}
	if err != nil {
		return callFailed(check, "ec2:DescribeSubnets", err)
	}
	az := aws.ToString(out.Subnets[0].AvailabilityZone)
	if cfg.HasData() && len(c.live) > 0 {
		liveAZ := ""
		if p := c.live[0].Placement; p != nil {
			liveAZ = aws.ToString(p.AvailabilityZone)
		}
		if liveAZ != "" && az != liveAZ {
			return fail(check, fmt.Sprintf("%s %s is in %s, the live data volume in %s", from, id, az, liveAZ),
				"an EBS volume attaches only to instances in its Availability Zone (data.mode "+cfg.Data.Mode+" moves or restores it to the candidate): set candidate.subnetId to a subnet in "+liveAZ)
		}
	}
	return pass(check, fmt.Sprintf("%s %s in %s", from, id, az))
}

func (c *checker) publicIP(context.Context) Result {
	const check = "ssm-path"
	if c.in.Config.Candidate.PublicIP != nil && !*c.in.Config.Candidate.PublicIP {
		return warn(check, "candidates launch without a public IP (candidate.publicIp false)",
			"make sure their subnet has a NAT gateway or VPC endpoints for ssm, ssmmessages, ec2messages and s3: without one the agent cannot reach Systems Manager once the instance is not the Elastic IP's (doctor does not read route tables)")
	}
	return pass(check, "candidates launch with a public IP: the agent reaches Systems Manager whether or not they hold the Elastic IP")
}

func (c *checker) dataVolume(ctx context.Context) Result {
	const check = "data-volume"
	cfg := c.in.Config
	if !cfg.HasData() {
		return skip(check, "data.mode none")
	}
	if len(c.live) == 0 {
		return skip(check, "no live instance to look at (see front)")
	}
	id := aws.ToString(c.live[0].InstanceId)
	out, err := c.in.AWS.EC2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{id}}}})
	if err != nil {
		return callFailed(check, "ec2:DescribeVolumes", err)
	}
	var devices []string
	for _, v := range out.Volumes {
		for _, a := range v.Attachments {
			if aws.ToString(a.InstanceId) != id {
				continue
			}
			devices = append(devices, aws.ToString(a.Device))
			if aws.ToString(a.Device) == cfg.Data.Device {
				detail := fmt.Sprintf("%s at %s on %s (%d GiB", aws.ToString(v.VolumeId), cfg.Data.Device, id, aws.ToInt32(v.Size))
				if aws.ToBool(v.Encrypted) {
					detail += ", encrypted with " + aws.ToString(v.KmsKeyId)
				}
				return pass(check, detail+")")
			}
		}
	}
	return fail(check, fmt.Sprintf("data.device is %s, but %s has volumes at %s", cfg.Data.Device, id, strings.Join(devices, ", ")),
		"set data.device to the device the data volume is attached at (and data.mountPoint to where it is mounted)")
}

// awsManagedEBSKey is the AWS managed key EBS uses when the account names
// no other.
const awsManagedEBSKey = "alias/aws/ebs"

func (c *checker) ebsDefaultKey(ctx context.Context) Result {
	const check = "ebs-encryption"
	on, err := c.in.AWS.EC2.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
	if err != nil {
		return callFailed(check, "ec2:GetEbsEncryptionByDefault", err)
	}
	if !aws.ToBool(on.EbsEncryptionByDefault) {
		return pass(check, "encryption by default is off: greenlight's volumes are encrypted as their sources are")
	}
	key, err := c.in.AWS.EC2.GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})
	if err != nil {
		return callFailed(check, "ec2:GetEbsDefaultKmsKeyId", err)
	}
	id := aws.ToString(key.KmsKeyId)
	if id == "" || strings.HasSuffix(id, awsManagedEBSKey) {
		return pass(check, "new volumes are encrypted by default with the AWS managed key")
	}
	configured := ""
	if c.in.Config.Encryption != nil {
		configured = c.in.Config.Encryption.KMSKeyID
	}
	if configured == "" {
		return fail(check, "the account encrypts every new volume with "+id+", a customer managed key the stack is not granted",
			"set encryption.kmsKeyId to "+id+" and redeploy (make deploy): the candidates' volumes and the data copies are created under it")
	}
	if configured != id {
		return warn(check, "new volumes are encrypted by default with "+id+"; encryption.kmsKeyId is "+configured,
			"greenlight names "+configured+" on what it creates; volumes it does not create (the candidates' root volumes from the AMI) may still use "+id+": grant it too, or make the two one")
	}
	return pass(check, "new volumes are encrypted with "+id+", which encryption.kmsKeyId names")
}

func (c *checker) alarms(ctx context.Context) Result {
	const check = "alarms"
	names := c.in.Config.Traffic.Alarms
	if len(names) == 0 {
		return skip(check, "traffic.alarms names none")
	}
	found, err := traffic.Alarms(ctx, c.in.AWS.CloudWatch, names)
	if err != nil {
		return callFailed(check, "cloudwatch:DescribeAlarms", err)
	}
	seen := map[string]cwtypes.MetricAlarm{}
	for _, a := range found {
		seen[aws.ToString(a.AlarmName)] = a
	}
	var missing, firing []string
	for _, n := range names {
		a, ok := seen[n]
		switch {
		case !ok:
			missing = append(missing, n)
		case a.StateValue == cwtypes.StateValueAlarm:
			firing = append(firing, n)
		}
	}
	if len(missing) > 0 {
		return fail(check, "traffic.alarms names "+strings.Join(missing, ", ")+", which CloudWatch does not have (metric alarms, in the stack's region)",
			"create the alarm, or take the name out of traffic.alarms (a composite alarm is not read)")
	}
	if len(firing) > 0 {
		return warn(check, strings.Join(firing, ", ")+" in ALARM now", "a release would abort at its first traffic step: find out why before releasing")
	}
	return pass(check, fmt.Sprintf("%d alarm(s), none in ALARM", len(names)))
}

func (c *checker) bucketEvents(ctx context.Context) Result {
	const check = "bucket-events"
	if c.in.Bucket == "" {
		return skip(check, "the stack's release bucket is unknown (see stack)")
	}
	out, err := c.in.Notifications.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(c.in.Bucket)})
	if err != nil {
		return callFailed(check, "s3:GetBucketNotification", err)
	}
	if out.EventBridgeConfiguration == nil {
		return fail(check, "s3://"+c.in.Bucket+" does not send its events to EventBridge: an upload starts no release",
			"make deploy turns it on again; by hand: aws s3api put-bucket-notification-configuration --bucket "+c.in.Bucket+` --notification-configuration '{"EventBridgeConfiguration":{}}' (it replaces the bucket's other notification settings)`)
	}
	return pass(check, "uploads to s3://"+c.in.Bucket+" reach EventBridge")
}

// pendingConfirmation is the SubscriptionArn SNS lists for an email
// subscription not yet confirmed.
const pendingConfirmation = "PendingConfirmation"

func (c *checker) subscriptions(ctx context.Context) Result {
	const check = "notifications"
	emails := c.in.Config.Notifications.Emails
	if len(emails) == 0 {
		return warn(check, "notifications.emails names nobody", "add who approves releases: the approval request, and every failure, goes to them")
	}
	if c.in.TopicARN == "" {
		return skip(check, "the stack's topic is unknown")
	}
	subs := map[string]string{}
	var token *string
	for {
		out, err := c.in.Subscriptions.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(c.in.TopicARN), NextToken: token})
		if err != nil {
			return callFailed(check, "sns:ListSubscriptionsByTopic", err)
		}
		for _, s := range out.Subscriptions {
			if aws.ToString(s.Protocol) == "email" {
				subs[aws.ToString(s.Endpoint)] = aws.ToString(s.SubscriptionArn)
			}
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	var missing, pending []string
	for _, e := range emails {
		arn, ok := subs[e]
		switch {
		case !ok:
			missing = append(missing, e)
		case arn == pendingConfirmation:
			pending = append(pending, e)
		}
	}
	if len(missing) > 0 {
		return fail(check, strings.Join(missing, ", ")+" not subscribed to "+c.in.TopicARN, "redeploy (make deploy): the stack subscribes notifications.emails")
	}
	if len(pending) > 0 {
		return warn(check, strings.Join(pending, ", ")+" has not confirmed the subscription: nothing reaches them, approval requests included",
			"open the \"AWS Notification - Subscription Confirmation\" mail and follow its link")
	}
	return pass(check, fmt.Sprintf("%d confirmed", len(emails)))
}

// Compile-time proof that the SDK clients answer the extra calls.
var (
	_ InstanceTypes       = (*ec2.Client)(nil)
	_ Subscriptions       = (*sns.Client)(nil)
	_ BucketNotifications = (*s3.Client)(nil)
	_ InstanceProfiles    = (*iam.Client)(nil)
)
