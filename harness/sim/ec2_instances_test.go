package sim

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestRunInstancesLifecycle(t *testing.T) {
	r := NewTest(t, Options{AutoAssignPublicIP: true})
	lat := r.Latencies()
	id := runInstance(t, r, "eu-west-1b", "greenlight:release", "r1")

	// Eventual consistency: the new instance is not visible at once.
	_, err := r.EC2().DescribeInstances(testCtx(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	_, err = r.EC2().CreateTags(testCtx(), &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantCode(t, err, "InvalidInstanceID.NotFound")

	r.Advance(testCtx(), lat.InstanceNotFound)
	inst := describe(t, r, id)
	if inst.State.Name != ec2types.InstanceStateNamePending || aws.ToInt32(inst.State.Code) != 0 {
		t.Fatalf("state %v, want pending", inst.State.Name)
	}
	if got := aws.ToString(inst.Placement.AvailabilityZone); got != "eu-west-1b" {
		t.Errorf("AZ %s, want eu-west-1b", got)
	}
	if aws.ToString(inst.SubnetId) != r.Fixture().Subnets[1] {
		t.Errorf("subnet %s, want the eu-west-1b subnet %s", aws.ToString(inst.SubnetId), r.Fixture().Subnets[1])
	}
	if ip := aws.ToString(inst.PrivateIpAddress); ip[:7] != "10.0.2." {
		t.Errorf("private IP %s not in 10.0.2.0/24", ip)
	}
	if aws.ToString(inst.PublicIpAddress) == "" {
		t.Error("no public IP in a subnet that maps public IPs on launch")
	}

	r.Advance(testCtx(), lat.PendingToRunning-lat.InstanceNotFound)
	if got := describe(t, r, id).State.Name; got != ec2types.InstanceStateNameRunning {
		t.Fatalf("after %v: %v, want running", lat.PendingToRunning, got)
	}
}

func TestRunInstancesClientToken(t *testing.T) {
	r := NewTest(t, Options{})
	in := func(instanceType ec2types.InstanceType) *ec2.RunInstancesInput {
		return &ec2.RunInstancesInput{ImageId: aws.String(r.Fixture().AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			InstanceType: instanceType, ClientToken: aws.String("release-42")}
	}
	first, err := r.EC2().RunInstances(testCtx(), in(ec2types.InstanceTypeT4gSmall))
	wantCode(t, err, "")
	again, err := r.EC2().RunInstances(testCtx(), in(ec2types.InstanceTypeT4gSmall))
	wantCode(t, err, "")
	if aws.ToString(again.Instances[0].InstanceId) != aws.ToString(first.Instances[0].InstanceId) {
		t.Fatalf("same token launched a second instance %s", aws.ToString(again.Instances[0].InstanceId))
	}
	_, err = r.EC2().RunInstances(testCtx(), in(ec2types.InstanceTypeT4gLarge))
	wantCode(t, err, "IdempotentParameterMismatch")
	if n := len(r.Inventory()); n != 1+1+1+1+1+1 { // live, its root, golden snapshot, EIP, new instance, its root
		t.Errorf("inventory has %d resources, want 6: %v", n, r.Inventory())
	}
}

func TestRunInstancesRecordsLaunchSettings(t *testing.T) {
	r := NewTest(t, Options{})
	out, err := r.EC2().RunInstances(testCtx(), &ec2.RunInstancesInput{
		ImageId: aws.String(r.Fixture().AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId:        aws.String(r.Fixture().Subnets[0]),
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired, HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled},
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
			Ebs: &ec2types.EbsBlockDevice{Encrypted: aws.Bool(true), VolumeSize: aws.Int32(16), VolumeType: ec2types.VolumeTypeGp3}}},
		IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String("shop-app")},
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: aws.String("greenlight:release"), Value: aws.String("r7")}}},
			{ResourceType: ec2types.ResourceTypeVolume, Tags: []ec2types.Tag{{Key: aws.String("greenlight:release"), Value: aws.String("r7")}}},
		},
	})
	wantCode(t, err, "")
	inst := out.Instances[0]
	if inst.MetadataOptions.HttpTokens != ec2types.HttpTokensStateRequired {
		t.Errorf("HttpTokens %v, want required", inst.MetadataOptions.HttpTokens)
	}
	if got := aws.ToString(inst.IamInstanceProfile.Arn); got != "arn:aws:iam::123456789012:instance-profile/shop-app" {
		t.Errorf("profile %s", got)
	}
	root := aws.ToString(inst.BlockDeviceMappings[0].Ebs.VolumeId)
	v := volumeOf(t, r, root)
	if !aws.ToBool(v.Encrypted) || aws.ToInt32(v.Size) != 16 || v.VolumeType != ec2types.VolumeTypeGp3 {
		t.Errorf("root volume encrypted=%v size=%d type=%s, want encrypted 16 GiB gp3", aws.ToBool(v.Encrypted), aws.ToInt32(v.Size), v.VolumeType)
	}
	if got := tagSetOf(v.Tags)["greenlight:release"]; got != "r7" {
		t.Errorf("root volume release tag %q, want r7", got)
	}
	// Without MetadataOptions the AMI's default applies: the golden
	// image does not require IMDSv2, so the step must ask for it.
	plain := runInstance(t, r, "eu-west-1a")
	r.Advance(testCtx(), 2*time.Second)
	if got := describe(t, r, plain).MetadataOptions.HttpTokens; got != ec2types.HttpTokensStateOptional {
		t.Errorf("default HttpTokens %v, want optional", got)
	}
}

func tagSetOf(tags []ec2types.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

func TestRunInstancesErrors(t *testing.T) {
	r := NewTest(t, Options{})
	ami := r.Fixture().AMI
	for _, c := range []struct {
		name string
		in   ec2.RunInstancesInput
		code string
	}{
		{"unknown AMI", ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}, "InvalidAMIID.NotFound"},
		{"malformed AMI", ec2.RunInstancesInput{ImageId: aws.String("golden"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}, "InvalidAMIID.Malformed"},
		{"unknown subnet", ec2.RunInstancesInput{ImageId: aws.String(ami), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String("subnet-0123456789abcdef0")}, "InvalidSubnetID.NotFound"},
		{"bad tag type", ec2.RunInstancesInput{ImageId: aws.String(ami), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot, Tags: []ec2types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}}}, "InvalidParameterValue"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.EC2().RunInstances(testCtx(), &c.in)
			wantCode(t, err, c.code)
		})
	}
	// A missing required field fails in the SDK before any request.
	_, err := r.EC2().RunInstances(testCtx(), &ec2.RunInstancesInput{ImageId: aws.String(ami)})
	if err == nil || ErrorCode(err) != "" {
		t.Fatalf("missing MinCount/MaxCount: %v, want a parameter validation error", err)
	}
}

func TestDescribeInstanceStatus(t *testing.T) {
	r := NewTest(t, Options{})
	lat := r.Latencies()
	r.ImpairNextInstance(1)
	bad := runInstance(t, r, "eu-west-1a")
	good := runInstance(t, r, "eu-west-1a")
	r.Advance(testCtx(), lat.InstanceNotFound)

	status := func(all bool) map[string]ec2types.InstanceStatus {
		out, err := r.EC2().DescribeInstanceStatus(testCtx(), &ec2.DescribeInstanceStatusInput{InstanceIds: []string{bad, good}, IncludeAllInstances: aws.Bool(all)})
		wantCode(t, err, "")
		m := map[string]ec2types.InstanceStatus{}
		for _, s := range out.InstanceStatuses {
			m[aws.ToString(s.InstanceId)] = s
		}
		return m
	}
	if n := len(status(false)); n != 0 {
		t.Fatalf("pending instances listed without IncludeAllInstances: %d", n)
	}
	if s := status(true)[good]; s.InstanceStatus.Status != ec2types.SummaryStatusNotApplicable {
		t.Errorf("pending instance status %v, want not-applicable", s.InstanceStatus.Status)
	}
	r.Advance(testCtx(), lat.PendingToRunning)
	s := status(false)
	if s[good].InstanceStatus.Status != ec2types.SummaryStatusInitializing || s[good].SystemStatus.Status != ec2types.SummaryStatusInitializing {
		t.Errorf("just running: %v/%v, want initializing", s[good].InstanceStatus.Status, s[good].SystemStatus.Status)
	}
	r.Advance(testCtx(), lat.StatusChecksOK)
	s = status(false)
	if s[good].InstanceStatus.Status != ec2types.SummaryStatusOk || s[good].SystemStatus.Status != ec2types.SummaryStatusOk {
		t.Errorf("good instance: %v/%v, want ok/ok", s[good].InstanceStatus.Status, s[good].SystemStatus.Status)
	}
	if s[bad].InstanceStatus.Status != ec2types.SummaryStatusImpaired || s[bad].InstanceStatus.Details[0].Status != ec2types.StatusTypeFailed {
		t.Errorf("impaired instance: %v, want impaired/failed", s[bad].InstanceStatus.Status)
	}
	// An impaired instance never registers with SSM.
	if r.instances[bad].agentOnline(r.Now(), lat) {
		t.Error("impaired instance's agent is online")
	}
	out, err := r.EC2().DescribeInstanceStatus(testCtx(), &ec2.DescribeInstanceStatusInput{
		Filters: []ec2types.Filter{{Name: aws.String("instance-status.status"), Values: []string{"impaired"}}}})
	wantCode(t, err, "")
	if len(out.InstanceStatuses) != 1 || aws.ToString(out.InstanceStatuses[0].InstanceId) != bad {
		t.Errorf("filter instance-status.status=impaired: %v", out.InstanceStatuses)
	}
}

func TestDescribeInstancesFilters(t *testing.T) {
	r := NewTest(t, Options{})
	cand := runInstance(t, r, "eu-west-1a", "greenlight:app", "shop", "greenlight:role", "candidate")
	r.Advance(testCtx(), r.Latencies().InstanceNotFound)
	live := r.Fixture().LiveInstance
	for _, c := range []struct {
		name    string
		filters []ec2types.Filter
		want    []string
	}{
		{"by app tag", []ec2types.Filter{{Name: aws.String("tag:greenlight:app"), Values: []string{"shop"}}}, []string{live, cand}},
		{"by role", []ec2types.Filter{{Name: aws.String("tag:greenlight:role"), Values: []string{"candidate"}}}, []string{cand}},
		{"by state", []ec2types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"running"}}}, []string{live}},
		{"states OR", []ec2types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}}, []string{live, cand}},
		{"filters AND", []ec2types.Filter{{Name: aws.String("tag:greenlight:app"), Values: []string{"shop"}}, {Name: aws.String("instance-state-name"), Values: []string{"pending"}}}, []string{cand}},
		{"tag-key", []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{"greenlight:role"}}}, []string{live, cand}},
		{"wildcard", []ec2types.Filter{{Name: aws.String("tag:greenlight:role"), Values: []string{"cand*"}}}, []string{cand}},
		{"instance-id", []ec2types.Filter{{Name: aws.String("instance-id"), Values: []string{live}}}, []string{live}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := r.EC2().DescribeInstances(testCtx(), &ec2.DescribeInstancesInput{Filters: c.filters})
			wantCode(t, err, "")
			var got []string
			for _, res := range out.Reservations {
				for _, i := range res.Instances {
					got = append(got, aws.ToString(i.InstanceId))
				}
			}
			if !equalStrings(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
	_, err := r.EC2().DescribeInstances(testCtx(), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-state"), Values: []string{"running"}}}})
	wantCode(t, err, "InvalidParameterValue")
	_, err = r.EC2().DescribeInstances(testCtx(), &ec2.DescribeInstancesInput{InstanceIds: []string{"i-live"}})
	wantCode(t, err, "InvalidInstanceID.Malformed")
	_, err = r.EC2().DescribeInstances(testCtx(), &ec2.DescribeInstancesInput{InstanceIds: []string{live, "i-0123456789abcdef0"}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTerminateReleasesWhatTheInstanceHeld(t *testing.T) {
	r := NewTest(t, Options{DataVolume: true})
	f := r.Fixture()
	lat := r.Latencies()
	root := r.instances[f.LiveInstance].devices["/dev/xvda"]

	out, err := r.EC2().TerminateInstances(testCtx(), &ec2.TerminateInstancesInput{InstanceIds: []string{f.LiveInstance}})
	wantCode(t, err, "")
	if got := out.TerminatingInstances[0].CurrentState.Name; got != ec2types.InstanceStateNameShuttingDown {
		t.Fatalf("current state %v, want shutting-down", got)
	}
	// Shutting down: the app is gone at once, the resources stay.
	if _, err := r.HTTPClient().Get("http://" + f.PublicIP + ":8080/healthz"); err == nil {
		t.Error("app still answers while shutting down")
	}
	r.Advance(testCtx(), lat.ShuttingDownToTerminated)
	inst := describe(t, r, f.LiveInstance)
	if inst.State.Name != ec2types.InstanceStateNameTerminated || len(inst.BlockDeviceMappings) != 0 || inst.PublicIpAddress != nil {
		t.Fatalf("terminated instance still holds state=%v devices=%d ip=%v", inst.State.Name, len(inst.BlockDeviceMappings), aws.ToString(inst.PublicIpAddress))
	}
	if _, ok := r.volumes[root]; ok {
		t.Error("root volume with DeleteOnTermination survived")
	}
	if v := volumeOf(t, r, f.DataVolume); v.State != ec2types.VolumeStateAvailable || len(v.Attachments) != 0 {
		t.Errorf("data volume %v with %d attachments, want available and detached", v.State, len(v.Attachments))
	}
	addr, _ := r.EC2().DescribeAddresses(testCtx(), &ec2.DescribeAddressesInput{AllocationIds: []string{f.AllocationID}})
	if addr.Addresses[0].InstanceId != nil {
		t.Error("Elastic IP still associated with a terminated instance")
	}
	// Terminating again is a no-op; an hour later it is gone from EC2.
	_, err = r.EC2().TerminateInstances(testCtx(), &ec2.TerminateInstancesInput{InstanceIds: []string{f.LiveInstance}})
	wantCode(t, err, "")
	r.Advance(testCtx(), lat.TerminatedVisible)
	_, err = r.EC2().DescribeInstances(testCtx(), &ec2.DescribeInstancesInput{InstanceIds: []string{f.LiveInstance}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
}

func TestStopAndStart(t *testing.T) {
	r := NewTest(t, Options{AutoAssignPublicIP: true})
	lat := r.Latencies()
	id := runInstance(t, r, "eu-west-1a")
	r.Advance(testCtx(), lat.InstanceNotFound)
	_, err := r.EC2().StopInstances(testCtx(), &ec2.StopInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "IncorrectInstanceState")

	r.Advance(testCtx(), lat.PendingToRunning)
	out, err := r.EC2().StopInstances(testCtx(), &ec2.StopInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "")
	if got := out.StoppingInstances[0].CurrentState.Name; got != ec2types.InstanceStateNameStopping {
		t.Fatalf("state %v, want stopping", got)
	}
	_, err = r.EC2().StartInstances(testCtx(), &ec2.StartInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "IncorrectInstanceState")
	r.Advance(testCtx(), lat.StoppingToStopped)
	inst := describe(t, r, id)
	if inst.State.Name != ec2types.InstanceStateNameStopped || inst.PublicIpAddress != nil {
		t.Fatalf("after stopping: %v, public IP %v; want stopped without an IP", inst.State.Name, aws.ToString(inst.PublicIpAddress))
	}
	_, err = r.EC2().StartInstances(testCtx(), &ec2.StartInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "")
	r.Advance(testCtx(), lat.PendingToRunning)
	inst = describe(t, r, id)
	if inst.State.Name != ec2types.InstanceStateNameRunning || aws.ToString(inst.PublicIpAddress) == "" {
		t.Fatalf("after start: %v, public IP %q", inst.State.Name, aws.ToString(inst.PublicIpAddress))
	}
}

func TestTags(t *testing.T) {
	r := NewTest(t, Options{DataVolume: true})
	f := r.Fixture()
	_, err := r.EC2().CreateTags(testCtx(), &ec2.CreateTagsInput{Resources: []string{f.LiveInstance, f.DataVolume, f.AllocationID},
		Tags: []ec2types.Tag{{Key: aws.String("greenlight:role"), Value: aws.String("previous")}, {Key: aws.String("x"), Value: aws.String("1")}}})
	wantCode(t, err, "")
	if got := tagSetOf(describe(t, r, f.LiveInstance).Tags)["greenlight:role"]; got != "previous" {
		t.Errorf("role %q after CreateTags", got)
	}
	_, err = r.EC2().DeleteTags(testCtx(), &ec2.DeleteTagsInput{Resources: []string{f.LiveInstance},
		Tags: []ec2types.Tag{{Key: aws.String("x"), Value: aws.String("2")}, {Key: aws.String("greenlight:role")}}})
	wantCode(t, err, "")
	tags := tagSetOf(describe(t, r, f.LiveInstance).Tags)
	if _, ok := tags["greenlight:role"]; ok || tags["x"] != "1" {
		t.Errorf("after DeleteTags: %v; want role gone (no value given), x kept (value differs)", tags)
	}
	for _, c := range []struct{ id, code string }{
		{"vol-0123456789abcdef0", "InvalidVolume.NotFound"},
		{"snap-0123456789abcdef0", "InvalidSnapshot.NotFound"},
		{"i-0123456789abcdef0", "InvalidInstanceID.NotFound"},
		{"foo-123", "InvalidID"},
	} {
		_, err := r.EC2().CreateTags(testCtx(), &ec2.CreateTagsInput{Resources: []string{f.LiveInstance, c.id}, Tags: []ec2types.Tag{{Key: aws.String("y"), Value: aws.String("1")}}})
		wantCode(t, err, c.code)
	}
	if _, ok := tagSetOf(describe(t, r, f.LiveInstance).Tags)["y"]; ok {
		t.Error("a failed CreateTags tagged some resources")
	}
}

func TestImagesSubnetsAndParameter(t *testing.T) {
	r := NewTest(t, Options{PrivateSubnets: true})
	f := r.Fixture()
	imgs, err := r.EC2().DescribeImages(testCtx(), &ec2.DescribeImagesInput{ImageIds: []string{f.AMI}})
	wantCode(t, err, "")
	if len(imgs.Images) != 1 || imgs.Images[0].State != ec2types.ImageStateAvailable {
		t.Fatalf("images %v", imgs.Images)
	}
	_, err = r.EC2().DescribeImages(testCtx(), &ec2.DescribeImagesInput{ImageIds: []string{"ami-0123456789abcdef0"}})
	wantCode(t, err, "InvalidAMIID.NotFound")

	sn, err := r.EC2().DescribeSubnets(testCtx(), &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("availability-zone"), Values: []string{"eu-west-1b"}}}})
	wantCode(t, err, "")
	if len(sn.Subnets) != 1 || aws.ToString(sn.Subnets[0].CidrBlock) != "10.0.2.0/24" || aws.ToBool(sn.Subnets[0].MapPublicIpOnLaunch) {
		t.Fatalf("subnets %+v", sn.Subnets)
	}
	id := runInstance(t, r, "eu-west-1b")
	r.Advance(testCtx(), 2*time.Second)
	if ip := describe(t, r, id).PublicIpAddress; ip != nil {
		t.Errorf("instance in a private subnet got public IP %s", *ip)
	}
}

// TestAgentNeedsANetworkPath: in the fixture's public subnets without
// auto-assigned public IPs and without a NAT gateway, an instance reaches
// Systems Manager only with a public IP it asked for at launch; one that
// loses an Elastic IP keeps a public IP only if it was launched with one.
// A launch naming a network interface must name its subnet and groups
// there.
func TestAgentNeedsANetworkPath(t *testing.T) {
	r := NewTest(t, Options{})
	ctx := WithCaller(context.Background(), "test")
	f := r.Fixture()
	launch := func(in *ec2.RunInstancesInput) (string, error) {
		in.ImageId, in.MinCount, in.MaxCount = aws.String(f.AMI), aws.Int32(1), aws.Int32(1)
		out, err := r.EC2().RunInstances(ctx, in)
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Instances[0].InstanceId), nil
	}
	bare, err := launch(&ec2.RunInstancesInput{SubnetId: aws.String(f.LiveSubnet), SecurityGroupIds: []string{"sg-0a1b2c3d4e5f60718"}})
	if err != nil {
		t.Fatal(err)
	}
	public, err := launch(&ec2.RunInstancesInput{NetworkInterfaces: []ec2types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0),
		SubnetId: aws.String(f.LiveSubnet), Groups: []string{"sg-0a1b2c3d4e5f60718"}, AssociatePublicIpAddress: aws.Bool(true)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := launch(&ec2.RunInstancesInput{SubnetId: aws.String(f.LiveSubnet), NetworkInterfaces: []ec2types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0),
		AssociatePublicIpAddress: aws.Bool(true)}}}); ErrorCode(err) != "InvalidParameterCombination" {
		t.Errorf("a subnet on the instance and a network interface: %v, want InvalidParameterCombination", err)
	}
	r.Advance(ctx, 10*time.Minute)
	online := func(id string) bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.instances[id].agentOnline(r.Now(), r.lat)
	}
	if online(bare) || !online(public) {
		t.Fatalf("online: without a public IP %v (want false), with one %v (want true)", online(bare), online(public))
	}
	// The Elastic IP gives the bare instance a path; taking it away
	// leaves it with none.
	for _, id := range []string{bare, public} {
		if _, err := r.EC2().AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String(f.AllocationID), InstanceId: aws.String(id), AllowReassociation: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		if !online(id) {
			t.Errorf("%s not online behind the Elastic IP", id)
		}
	}
	if online(bare) {
		t.Error("the instance launched without a public IP is still online after the Elastic IP moved away")
	}
}
