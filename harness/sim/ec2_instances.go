package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2 is the simulated EC2 API: instances, images, subnets, EBS volumes
// and snapshots, Elastic IPs. It implements awsapi.EC2.
type EC2 struct{ r *Region }

// Instance states, as EC2 names them.
const (
	statePending      = "pending"
	stateRunning      = "running"
	stateShuttingDown = "shutting-down"
	stateTerminated   = "terminated"
	stateStopping     = "stopping"
	stateStopped      = "stopped"
)

// stateReasonLaunchError is the StateReason code of an instance that
// terminated during launch through a client error, such as a KMS key the
// launching principal may not use.
const stateReasonLaunchError = "Client.InternalError"

var stateCodes = map[string]int32{
	statePending: 0, stateRunning: 16, stateShuttingDown: 32,
	stateTerminated: 48, stateStopping: 64, stateStopped: 80,
}

type subnet struct {
	id, az, azID, cidr string
	prefix             netip.Prefix
	mapPublic          bool
	// privatePath: the subnet reaches Systems Manager without a public
	// IP (a NAT gateway or VPC endpoints); a public subnet does not.
	privatePath bool
	tags        tagSet
}

type image struct {
	id, name, rootDevice, snapshotID string
	rootSize                         int32
	imds                             string // "v2.0" when the AMI requires IMDSv2
	created                          time.Time
	tags                             tagSet
}

type launch struct {
	reservationID string
	ids           []string
	fingerprint   string
}

type instance struct {
	id, reservationID, imageID, instanceType string
	subnetID, az, privateIP, publicIP        string
	autoPublicIP                             bool // gets a public IP of its own when it has no Elastic IP
	privatePath                              bool // its subnet reaches SSM without a public IP
	keyName, profileARN, clientToken         string
	securityGroups                           []string
	tags                                     tagSet
	metadata                                 ec2types.InstanceMetadataOptionsResponse
	rootDevice                               string
	devices                                  map[string]string // device → volume id, while attached in any state

	state        string
	stateAt      time.Time // when the current state began
	next         time.Time // when the current transitional state ends
	reason       string
	launchTime   time.Time
	runningSince time.Time
	visibleAt    time.Time
	impaired     bool
	impairedAt   time.Time
	agentSeen    bool // the SSM agent has registered at least once
	agentStopped bool // StopAgent: the instance runs, its agent does not
	caller       string
	// launchFails: a volume's KMS key could not be used, or its content
	// made (Options.Disks), so the instance goes from pending to
	// terminated (Client.InternalError).
	launchFails bool
	// stateReason is the StateReason code of an instance EC2 shut down
	// itself; "" for a user-initiated state change.
	stateReason string

	app AppState
}

// osUp reports whether the instance's OS answers on the network at t.
func (i *instance) osUp(t time.Time, lat Latencies) bool {
	return i.state == stateRunning && !i.impaired && !t.Before(i.runningSince.Add(lat.OSBoot))
}

// agentOnline reports whether the SSM agent is Online at t.
//
// The agent must reach the Systems Manager endpoints: from a public subnet
// through a public IP, otherwise through a NAT gateway or VPC endpoints
// ("Step 2: Verify or add instance permissions" and "Improve the security
// of EC2 instances by using VPC endpoints for Systems Manager",
// systems-manager/latest/userguide/setup-instance-permissions.html,
// setup-create-vpc.html). An instance that loses its Elastic IP and was
// not launched with a public IP has neither.
func (i *instance) agentOnline(t time.Time, lat Latencies) bool {
	return i.state == stateRunning && !i.impaired && !i.agentStopped && !t.Before(i.runningSince.Add(lat.SSMOnline)) && (i.publicIP != "" || i.privatePath)
}

// visible reports whether EC2 answers for the instance at t: not in the
// moment after launch when it is not yet consistent, nor after a
// terminated instance has dropped out of the listings.
func (r *Region) visible(i *instance, t time.Time) bool {
	if t.Before(i.visibleAt) {
		return false
	}
	return i.state != stateTerminated || t.Before(i.stateAt.Add(r.lat.TerminatedVisible))
}

// RunInstances launches instances: pending, running after
// Latencies.PendingToRunning. A repeated ClientToken returns the first
// launch's reservation; the same token with different parameters is
// IdempotentParameterMismatch. Volumes under a customer managed key have
// EC2 use the key on the caller's behalf (useKey); when it cannot, the
// call succeeds but the instance is terminated instead of running.
func (e *EC2) RunInstances(ctx context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	return call(ctx, e.r, ServiceEC2, "RunInstances", in, func(caller string) (*ec2.RunInstancesOutput, error) {
		return e.r.runInstances(in, caller)
	})
}

func (r *Region) runInstances(in *ec2.RunInstancesInput, caller string) (*ec2.RunInstancesOutput, error) {
	if m := missing(map[string]bool{"MaxCount": in.MaxCount != nil, "MinCount": in.MinCount != nil}); len(m) > 0 {
		return nil, paramRequired("RunInstancesInput", m...)
	}
	token := aws.ToString(in.ClientToken)
	c := *in
	c.ClientToken = nil
	fp := requestFingerprint(c)
	if l, ok := r.launches[token]; ok && token != "" {
		if l.fingerprint != fp {
			return nil, apiError(ServiceEC2, "IdempotentParameterMismatch", "The request uses the same client token as a previous, but non-identical request. Do not reuse a client token with different requests, unless the requests are identical.")
		}
		return r.reservationOutput(l), nil
	}
	imageID := aws.ToString(in.ImageId)
	if imageID == "" {
		return nil, apiError(ServiceEC2, "MissingParameter", "The request must contain the parameter ImageId")
	}
	if !validID(imageID, "ami") {
		return nil, malformed("InvalidAMIID.Malformed", imageID, "ami")
	}
	img, ok := r.images[imageID]
	if !ok {
		return nil, apiErrorf(ServiceEC2, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", imageID)
	}
	minCount, maxCount := aws.ToInt32(in.MinCount), aws.ToInt32(in.MaxCount)
	if minCount < 1 || maxCount < minCount {
		return nil, apiError(ServiceEC2, "InvalidParameterValue", "Value for parameter MinCount/MaxCount is invalid: MinCount must be at least 1 and at most MaxCount")
	}
	sn, autoPublic, err := r.launchSubnet(in)
	if err != nil {
		return nil, err
	}
	if r.noCapacity[sn.az] {
		var others []string
		for _, s := range r.subnets {
			if s.az != sn.az && !r.noCapacity[s.az] {
				others = append(others, s.az)
			}
		}
		return nil, apiErrorf(ServiceEC2, "InsufficientInstanceCapacity", "We currently do not have sufficient %s capacity in the Availability Zone you requested (%s). Our system will be working on provisioning additional capacity. You can currently get %s capacity by not specifying an Availability Zone in your request or choosing %s.",
			in.InstanceType, sn.az, in.InstanceType, strings.Join(others, ", "))
	}
	instTags, err := tagsFor(in.TagSpecifications, ec2types.ResourceTypeInstance,
		ec2types.ResourceTypeInstance, ec2types.ResourceTypeVolume, ec2types.ResourceTypeNetworkInterface, ec2types.ResourceTypeSpotInstancesRequest)
	if err != nil {
		return nil, err
	}
	volTags, _ := tagsFor(in.TagSpecifications, ec2types.ResourceTypeVolume,
		ec2types.ResourceTypeInstance, ec2types.ResourceTypeVolume, ec2types.ResourceTypeNetworkInterface, ec2types.ResourceTypeSpotInstancesRequest)
	mappings, err := r.launchMappings(img, in.BlockDeviceMappings)
	if err != nil {
		return nil, err
	}

	now := r.now()
	l := &launch{reservationID: r.hexID("r"), fingerprint: fp}
	for n := int32(0); n < maxCount; n++ {
		i := &instance{
			id:             r.hexID("i"),
			reservationID:  l.reservationID,
			imageID:        imageID,
			instanceType:   string(in.InstanceType),
			subnetID:       sn.id,
			az:             sn.az,
			privateIP:      r.privateIP(sn),
			autoPublicIP:   autoPublic,
			privatePath:    sn.privatePath,
			keyName:        aws.ToString(in.KeyName),
			clientToken:    token,
			securityGroups: launchGroups(in),
			tags:           instTags.clone(),
			metadata:       metadataOptions(img, in.MetadataOptions),
			rootDevice:     img.rootDevice,
			devices:        map[string]string{},
			state:          statePending,
			stateAt:        now,
			next:           now.Add(r.lat.PendingToRunning),
			launchTime:     now,
			visibleAt:      now.Add(r.lat.InstanceNotFound),
			caller:         caller,
			app:            AppState{Port: r.opts.AppPort, HealthPath: r.opts.HealthPath},
		}
		if i.instanceType == "" {
			i.instanceType = "m1.small" // EC2's default when the type is omitted
		}
		if p := in.IamInstanceProfile; p != nil {
			i.profileARN = aws.ToString(p.Arn)
			if i.profileARN == "" && p.Name != nil {
				i.profileARN = r.arnGlobal("iam", "instance-profile/"+aws.ToString(p.Name))
			}
		}
		if autoPublic {
			i.publicIP = r.publicIP(false)
		}
		if r.impairNext > 0 {
			r.impairNext--
			i.impaired, i.impairedAt = true, now
		}
		r.instances[i.id] = i
		r.instanceOrder = append(r.instanceOrder, i.id)
		for _, m := range mappings {
			encrypted, key := r.volumeKey(m.encrypted, m.kmsKeyID, m.src)
			v, err := r.newVolume(volumeSpec{
				az: i.az, size: m.size, volumeType: m.volumeType, snapshotID: m.snapshotID,
				encrypted: encrypted, kmsKeyID: key, tags: volTags.clone(), caller: caller,
			})
			if err != nil {
				// The content store failed: like a volume EC2 cannot
				// create, the instance never runs (launchFails) rather
				// than running without it.
				i.launchFails = true
				continue
			}
			v.state, v.availableAt = volInUse, time.Time{}
			v.att = &attachment{instanceID: i.id, device: m.device, state: attAttached, at: now, deleteOnTermination: m.deleteOnTermination}
			i.devices[m.device] = v.id
			if !r.useKey(caller, "RunInstances", keyUse{key: v.kmsKeyID, from: sourceKey(m.src), volumeID: v.id, create: true, attach: true}) {
				i.launchFails = true
			}
		}
		l.ids = append(l.ids, i.id)
	}
	if token != "" {
		r.launches[token] = l
	}
	return r.reservationOutput(l), nil
}

// requestFingerprint identifies a request given without its client
// token, so a retry can be told from a different request reusing the
// token (IdempotentParameterMismatch).
func requestFingerprint(withoutToken any) string {
	b, err := json.Marshal(withoutToken)
	if err != nil {
		return fmt.Sprintf("%+v", withoutToken)
	}
	return string(b)
}

func (r *Region) reservationOutput(l *launch) *ec2.RunInstancesOutput {
	out := &ec2.RunInstancesOutput{ReservationId: aws.String(l.reservationID), OwnerId: aws.String(r.opts.Account)}
	for _, id := range l.ids {
		out.Instances = append(out.Instances, r.describeInstance(r.instances[id]))
	}
	return out
}

// launchSubnet resolves where an instance goes: the subnet named on the
// request or its first network interface, else the subnet of the
// requested AZ, else the first subnet; and whether it gets a public IP.
func (r *Region) launchSubnet(in *ec2.RunInstancesInput) (*subnet, bool, error) {
	id := aws.ToString(in.SubnetId)
	var assoc *bool
	if len(in.NetworkInterfaces) > 0 {
		// "If you specify a network interface, you must specify any
		// security groups and subnets as part of the network interface,
		// instead of using the SecurityGroupIds and SubnetId parameters";
		// a public IP can be asked for only on the primary interface
		// (RunInstances, EC2 API Reference: NetworkInterfaces and
		// InstanceNetworkInterfaceSpecification.AssociatePublicIpAddress).
		if id != "" || len(in.SecurityGroupIds) > 0 {
			return nil, false, apiError(ServiceEC2, "InvalidParameterCombination", "Network interfaces and an instance-level subnet ID or security groups may not be specified on the same request")
		}
		ni := in.NetworkInterfaces[0]
		if aws.ToInt32(ni.DeviceIndex) != 0 && ni.AssociatePublicIpAddress != nil {
			return nil, false, apiError(ServiceEC2, "InvalidParameterCombination", "The associatePublicIPAddress parameter can only be specified for the network interface with DeviceIndex 0.")
		}
		id = aws.ToString(ni.SubnetId)
		assoc = ni.AssociatePublicIpAddress
	}
	var sn *subnet
	switch {
	case id != "":
		sn = r.subnet(id)
		if sn == nil {
			return nil, false, apiErrorf(ServiceEC2, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	case in.Placement != nil && aws.ToString(in.Placement.AvailabilityZone) != "":
		az := aws.ToString(in.Placement.AvailabilityZone)
		for _, s := range r.subnets {
			if s.az == az {
				sn = s
			}
		}
		if sn == nil {
			return nil, false, apiErrorf(ServiceEC2, "InvalidParameterValue", "Invalid availability zone: [%s]", az)
		}
	default:
		sn = r.subnets[0]
	}
	if in.Placement != nil && aws.ToString(in.Placement.AvailabilityZone) != "" && aws.ToString(in.Placement.AvailabilityZone) != sn.az {
		return nil, false, apiErrorf(ServiceEC2, "InvalidParameterCombination", "The specified subnet %s does not exist in the availability zone %s", sn.id, aws.ToString(in.Placement.AvailabilityZone))
	}
	public := sn.mapPublic
	if assoc != nil {
		public = *assoc
	}
	return sn, public, nil
}

func (r *Region) subnet(id string) *subnet {
	for _, s := range r.subnets {
		if s.id == id {
			return s
		}
	}
	return nil
}

// privateIP picks a free host address in the subnet, skipping the first
// four and the last, which AWS reserves.
func (r *Region) privateIP(sn *subnet) string {
	used := map[string]bool{}
	for _, i := range r.instances {
		used[i.privateIP] = true
	}
	base := sn.prefix.Addr().As4()
	hosts := 1 << (32 - sn.prefix.Bits())
	for n := 0; n < hosts*4; n++ {
		h := 4 + r.rng.IntN(hosts-5)
		a := base
		a[2] += byte(h >> 8)
		a[3] += byte(h)
		ip := netip.AddrFrom4(a).String()
		if !used[ip] {
			return ip
		}
	}
	return sn.prefix.Addr().Next().String()
}

// metadataOptions records the instance metadata settings: the request's,
// else the AMI's default (IMDSv2 required when the AMI says so).
func metadataOptions(img *image, req *ec2types.InstanceMetadataOptionsRequest) ec2types.InstanceMetadataOptionsResponse {
	out := ec2types.InstanceMetadataOptionsResponse{
		State:                   ec2types.InstanceMetadataOptionsStateApplied,
		HttpTokens:              ec2types.HttpTokensStateOptional,
		HttpEndpoint:            ec2types.InstanceMetadataEndpointStateEnabled,
		HttpPutResponseHopLimit: aws.Int32(1),
		InstanceMetadataTags:    ec2types.InstanceMetadataTagsStateDisabled,
	}
	if img.imds == "v2.0" {
		out.HttpTokens = ec2types.HttpTokensStateRequired
		out.HttpPutResponseHopLimit = aws.Int32(2)
	}
	if req != nil {
		if req.HttpTokens != "" {
			out.HttpTokens = ec2types.HttpTokensState(req.HttpTokens)
		}
		if req.HttpEndpoint != "" {
			out.HttpEndpoint = req.HttpEndpoint
		}
		if req.HttpPutResponseHopLimit != nil {
			out.HttpPutResponseHopLimit = req.HttpPutResponseHopLimit
		}
		if req.InstanceMetadataTags != "" {
			out.InstanceMetadataTags = req.InstanceMetadataTags
		}
	}
	return out
}

type mapping struct {
	device, volumeType, snapshotID string
	size                           int32
	deleteOnTermination            bool
	// encrypted and kmsKeyID are what the request asks for; src is the
	// snapshot the volume comes from. volumeKey decides the encryption.
	encrypted bool
	kmsKeyID  string
	src       *snapshot
}

// launchMappings merges the AMI's root device with the request's block
// device mappings: the volumes each instance is launched with.
func (r *Region) launchMappings(img *image, req []ec2types.BlockDeviceMapping) ([]mapping, error) {
	root := mapping{device: img.rootDevice, volumeType: "gp3", snapshotID: img.snapshotID, size: img.rootSize, deleteOnTermination: true}
	if s, ok := r.snapshots[img.snapshotID]; ok {
		root.src = s
	}
	out := []mapping{root}
	for _, m := range req {
		dev := aws.ToString(m.DeviceName)
		if m.Ebs == nil {
			continue // instance store or NoDevice: nothing to simulate
		}
		mm := mapping{device: dev, volumeType: "gp2", deleteOnTermination: true}
		if dev == img.rootDevice {
			mm = root
		}
		ebs := m.Ebs
		if ebs.VolumeType != "" {
			mm.volumeType = string(ebs.VolumeType)
		}
		if ebs.VolumeSize != nil {
			mm.size = *ebs.VolumeSize
		}
		if ebs.SnapshotId != nil {
			s, ok := r.snapshots[*ebs.SnapshotId]
			if !ok {
				return nil, apiErrorf(ServiceEC2, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", *ebs.SnapshotId)
			}
			mm.snapshotID, mm.src = s.id, s
			if mm.size == 0 {
				mm.size = s.sizeGiB
			}
		}
		if ebs.Encrypted != nil {
			mm.encrypted = *ebs.Encrypted
		}
		if ebs.KmsKeyId != nil {
			mm.kmsKeyID = *ebs.KmsKeyId
		}
		if ebs.DeleteOnTermination != nil {
			mm.deleteOnTermination = *ebs.DeleteOnTermination
		}
		if mm.size == 0 {
			return nil, apiErrorf(ServiceEC2, "InvalidParameterValue", "Volume size must be specified for device %s", dev)
		}
		if dev == img.rootDevice {
			out[0] = mm
		} else {
			out = append(out, mm)
		}
	}
	return out, nil
}

func (r *Region) arnGlobal(service, resource string) string {
	return fmt.Sprintf("arn:aws:%s::%s:%s", service, r.opts.Account, resource)
}

// describeInstance renders an instance as DescribeInstances does.
func (r *Region) describeInstance(i *instance) ec2types.Instance {
	out := ec2types.Instance{
		InstanceId:            aws.String(i.id),
		ImageId:               aws.String(i.imageID),
		InstanceType:          ec2types.InstanceType(i.instanceType),
		State:                 &ec2types.InstanceState{Name: ec2types.InstanceStateName(i.state), Code: aws.Int32(stateCodes[i.state])},
		Placement:             &ec2types.Placement{AvailabilityZone: aws.String(i.az), Tenancy: ec2types.TenancyDefault},
		LaunchTime:            aws.Time(i.launchTime),
		MetadataOptions:       &i.metadata,
		RootDeviceName:        aws.String(i.rootDevice),
		RootDeviceType:        ec2types.DeviceTypeEbs,
		StateTransitionReason: aws.String(i.reason),
		Tags:                  i.tags.ec2(),
		Architecture:          ec2types.ArchitectureValuesArm64,
		VirtualizationType:    ec2types.VirtualizationTypeHvm,
		Hypervisor:            ec2types.HypervisorTypeXen,
	}
	if i.clientToken != "" {
		out.ClientToken = aws.String(i.clientToken)
	}
	if i.keyName != "" {
		out.KeyName = aws.String(i.keyName)
	}
	if i.profileARN != "" {
		out.IamInstanceProfile = &ec2types.IamInstanceProfile{Arn: aws.String(i.profileARN)}
	}
	for _, g := range i.securityGroups {
		out.SecurityGroups = append(out.SecurityGroups, ec2types.GroupIdentifier{GroupId: aws.String(g)})
	}
	if i.state != stateTerminated {
		out.SubnetId = aws.String(i.subnetID)
		out.VpcId = aws.String(r.vpcID)
		out.PrivateIpAddress = aws.String(i.privateIP)
		out.PrivateDnsName = aws.String("ip-" + strings.ReplaceAll(i.privateIP, ".", "-") + "." + r.opts.Region + ".compute.internal")
		if i.publicIP != "" {
			out.PublicIpAddress = aws.String(i.publicIP)
		}
	}
	for _, dev := range sortedKeys(i.devices) {
		v := r.volumes[i.devices[dev]]
		if v == nil || v.att == nil {
			continue
		}
		out.BlockDeviceMappings = append(out.BlockDeviceMappings, ec2types.InstanceBlockDeviceMapping{
			DeviceName: aws.String(dev),
			Ebs: &ec2types.EbsInstanceBlockDevice{
				VolumeId:            aws.String(v.id),
				Status:              ec2types.AttachmentStatus(v.att.apiState()),
				AttachTime:          aws.Time(v.att.at),
				DeleteOnTermination: aws.Bool(v.att.deleteOnTermination),
			},
		})
	}
	switch {
	case i.stateReason == stateReasonLaunchError:
		out.StateReason = &ec2types.StateReason{Code: aws.String(stateReasonLaunchError), Message: aws.String(stateReasonLaunchError + ": Client error on launch")}
	case i.state == stateStopped || i.state == stateStopping || i.state == stateShuttingDown || i.state == stateTerminated:
		out.StateReason = &ec2types.StateReason{Code: aws.String("Client.UserInitiatedShutdown"), Message: aws.String("Client.UserInitiatedShutdown: User initiated shutdown")}
	}
	return out
}

func (i *instance) attr(vpcID string) attrFunc {
	return func(name string) ([]string, bool) {
		switch name {
		case "instance-id":
			return one(i.id)
		case "instance-state-name":
			return one(i.state)
		case "instance-state-code":
			return one(fmt.Sprint(stateCodes[i.state]))
		case "availability-zone":
			return one(i.az)
		case "subnet-id":
			return one(i.subnetID)
		case "vpc-id":
			return one(vpcID)
		case "image-id":
			return one(i.imageID)
		case "instance-type":
			return one(i.instanceType)
		case "private-ip-address":
			return one(i.privateIP)
		case "ip-address":
			return one(i.publicIP)
		case "reservation-id":
			return one(i.reservationID)
		case "client-token":
			return one(i.clientToken)
		case "key-name":
			return one(i.keyName)
		}
		return nil, false
	}
}

// lookupInstances finds instances by id as EC2 does: a malformed id is
// InvalidInstanceID.Malformed, any unknown (or not yet visible) id makes
// the whole call InvalidInstanceID.NotFound.
func (r *Region) lookupInstances(ids []string) ([]*instance, error) {
	var out []*instance
	var unknown []string
	now := r.now()
	for _, id := range ids {
		if !validID(id, "i") {
			return nil, malformed("InvalidInstanceID.Malformed", id, "i")
		}
		i, ok := r.instances[id]
		if !ok || !r.visible(i, now) {
			unknown = append(unknown, id)
			continue
		}
		out = append(out, i)
	}
	if len(unknown) > 0 {
		return nil, apiError(ServiceEC2, "InvalidInstanceID.NotFound", notFoundList("instance", unknown))
	}
	return out, nil
}

// DescribeInstances lists instances by id and filters (instance-id,
// instance-state-name, tag:<key>, tag-key and more), grouped by
// reservation.
func (e *EC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DescribeInstances", in, func(string) (*ec2.DescribeInstancesOutput, error) {
		r := e.r
		candidates, err := r.candidates(in.InstanceIds)
		if err != nil {
			return nil, err
		}
		out := &ec2.DescribeInstancesOutput{}
		byRes := map[string]int{}
		for _, i := range candidates {
			ok, err := matches(in.Filters, i.tags, i.attr(r.vpcID))
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			n, seen := byRes[i.reservationID]
			if !seen {
				n = len(out.Reservations)
				byRes[i.reservationID] = n
				out.Reservations = append(out.Reservations, ec2types.Reservation{ReservationId: aws.String(i.reservationID), OwnerId: aws.String(r.opts.Account)})
			}
			out.Reservations[n].Instances = append(out.Reservations[n].Instances, r.describeInstance(i))
		}
		return out, nil
	})
}

// candidates is the named instances, or every visible one.
func (r *Region) candidates(ids []string) ([]*instance, error) {
	if len(ids) > 0 {
		return r.lookupInstances(ids)
	}
	var out []*instance
	now := r.now()
	for _, id := range r.instanceOrder {
		if i := r.instances[id]; r.visible(i, now) {
			out = append(out, i)
		}
	}
	return out, nil
}

// DescribeInstanceStatus reports state and status checks: running
// instances only unless IncludeAllInstances; checks initializing until
// Latencies.StatusChecksOK after running, then ok, or impaired for an
// impaired instance.
func (e *EC2) DescribeInstanceStatus(ctx context.Context, in *ec2.DescribeInstanceStatusInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceStatusOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DescribeInstanceStatus", in, func(string) (*ec2.DescribeInstanceStatusOutput, error) {
		r := e.r
		candidates, err := r.candidates(in.InstanceIds)
		if err != nil {
			return nil, err
		}
		out := &ec2.DescribeInstanceStatusOutput{}
		for _, i := range candidates {
			if i.state != stateRunning && !aws.ToBool(in.IncludeAllInstances) {
				continue
			}
			st := r.instanceStatus(i)
			ok, err := matches(in.Filters, nil, func(name string) ([]string, bool) {
				switch name {
				case "instance-status.status":
					return one(string(st.InstanceStatus.Status))
				case "system-status.status":
					return one(string(st.SystemStatus.Status))
				case "instance-status.reachability":
					return one(detail(st.InstanceStatus))
				case "system-status.reachability":
					return one(detail(st.SystemStatus))
				}
				return i.attr(r.vpcID)(name)
			})
			if err != nil {
				return nil, err
			}
			if ok {
				out.InstanceStatuses = append(out.InstanceStatuses, st)
			}
		}
		return out, nil
	})
}

func detail(s *ec2types.InstanceStatusSummary) string {
	if len(s.Details) == 0 {
		return ""
	}
	return string(s.Details[0].Status)
}

func (r *Region) instanceStatus(i *instance) ec2types.InstanceStatus {
	summary := func(status ec2types.SummaryStatus, d ec2types.StatusType, since *time.Time) *ec2types.InstanceStatusSummary {
		s := &ec2types.InstanceStatusSummary{Status: status}
		if d != "" {
			s.Details = []ec2types.InstanceStatusDetails{{Name: ec2types.StatusNameReachability, Status: d, ImpairedSince: since}}
		}
		return s
	}
	st := ec2types.InstanceStatus{
		InstanceId:       aws.String(i.id),
		AvailabilityZone: aws.String(i.az),
		InstanceState:    &ec2types.InstanceState{Name: ec2types.InstanceStateName(i.state), Code: aws.Int32(stateCodes[i.state])},
		InstanceStatus:   summary(ec2types.SummaryStatusNotApplicable, "", nil),
		SystemStatus:     summary(ec2types.SummaryStatusNotApplicable, "", nil),
	}
	if i.state != stateRunning {
		return st
	}
	checked := !r.now().Before(i.runningSince.Add(r.lat.StatusChecksOK))
	switch {
	case !checked:
		st.InstanceStatus = summary(ec2types.SummaryStatusInitializing, ec2types.StatusTypeInitializing, nil)
		st.SystemStatus = summary(ec2types.SummaryStatusInitializing, ec2types.StatusTypeInitializing, nil)
	case i.impaired:
		since := maxTime(i.impairedAt, i.runningSince.Add(r.lat.StatusChecksOK))
		st.InstanceStatus = summary(ec2types.SummaryStatusImpaired, ec2types.StatusTypeFailed, &since)
		st.SystemStatus = summary(ec2types.SummaryStatusOk, ec2types.StatusTypePassed, nil)
	default:
		st.InstanceStatus = summary(ec2types.SummaryStatusOk, ec2types.StatusTypePassed, nil)
		st.SystemStatus = summary(ec2types.SummaryStatusOk, ec2types.StatusTypePassed, nil)
	}
	return st
}

// stateChanges runs one state change over instances and reports each as
// the Terminate/Stop/Start outputs do.
// The caller has checked every instance can make the change.
func (r *Region) stateChanges(list []*instance, change func(*instance)) []ec2types.InstanceStateChange {
	var out []ec2types.InstanceStateChange
	for _, i := range list {
		prev := i.state
		change(i)
		out = append(out, ec2types.InstanceStateChange{
			InstanceId:    aws.String(i.id),
			PreviousState: &ec2types.InstanceState{Name: ec2types.InstanceStateName(prev), Code: aws.Int32(stateCodes[prev])},
			CurrentState:  &ec2types.InstanceState{Name: ec2types.InstanceStateName(i.state), Code: aws.Int32(stateCodes[i.state])},
		})
	}
	return out
}

// instancesFor looks up the instances a state-change call names.
func (r *Region) instancesFor(ids []string) ([]*instance, error) {
	if len(ids) == 0 {
		return nil, apiError(ServiceEC2, "MissingParameter", "The request must contain the parameter InstanceId")
	}
	return r.lookupInstances(ids)
}

// TerminateInstances starts shutting the instances down; when they are
// terminated (Latencies.ShuttingDownToTerminated later) their
// DeleteOnTermination volumes are deleted, the others detached, and their
// Elastic IPs disassociated. Terminating a terminated instance is a no-op.
func (e *EC2) TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	return call(ctx, e.r, ServiceEC2, "TerminateInstances", in, func(string) (*ec2.TerminateInstancesOutput, error) {
		r := e.r
		list, err := r.instancesFor(in.InstanceIds)
		if err != nil {
			return nil, err
		}
		changes := r.stateChanges(list, func(i *instance) {
			if i.state != stateTerminated && i.state != stateShuttingDown {
				r.shutDown(i, stateShuttingDown, r.lat.ShuttingDownToTerminated)
			}
		})
		return &ec2.TerminateInstancesOutput{TerminatingInstances: changes}, nil
	})
}

// StopInstances stops running instances (stopping, then stopped after
// Latencies.StoppingToStopped). Volumes and Elastic IPs stay; an
// auto-assigned public IP is released.
func (e *EC2) StopInstances(ctx context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	return call(ctx, e.r, ServiceEC2, "StopInstances", in, func(string) (*ec2.StopInstancesOutput, error) {
		r := e.r
		check := func(i *instance) error {
			switch i.state {
			case statePending:
				return apiErrorf(ServiceEC2, "IncorrectInstanceState", "Instance '%s' cannot be stopped as it has never reached the 'running' state.", i.id)
			case stateShuttingDown, stateTerminated:
				return apiErrorf(ServiceEC2, "IncorrectInstanceState", "This instance '%s' is not in a state from which it can be stopped.", i.id)
			}
			return nil
		}
		list, err := r.instancesFor(in.InstanceIds)
		if err != nil {
			return nil, err
		}
		for _, i := range list {
			if err := check(i); err != nil {
				return nil, err
			}
		}
		changes := r.stateChanges(list, func(i *instance) {
			if i.state == stateRunning {
				r.shutDown(i, stateStopping, r.lat.StoppingToStopped)
			}
		})
		return &ec2.StopInstancesOutput{StoppingInstances: changes}, nil
	})
}

// shutDown moves an instance into stopping or shutting-down: the OS goes
// down at once, so the app stops answering and the agent goes offline.
func (r *Region) shutDown(i *instance, state string, d time.Duration) {
	now := r.now()
	i.agentSeen = i.agentSeen || i.agentOnline(now, r.lat)
	i.state, i.stateAt, i.next = state, now, now.Add(d)
	i.reason = "User initiated (" + now.Format("2006-01-02 15:04:05") + " GMT)"
	i.app.Running = false
	i.app.Frozen = false
	// A detach waiting for the OS to release a mounted device proceeds
	// once the OS is down.
	for _, vid := range i.devices {
		if v := r.volumes[vid]; v != nil && v.att != nil && v.att.state == attBusy {
			v.att.state, v.att.next = attDetaching, now.Add(r.lat.DetachVolume)
		}
	}
}

// StartInstances starts stopped instances: pending, then running; the app
// starts again with the OS if a version is installed.
func (e *EC2) StartInstances(ctx context.Context, in *ec2.StartInstancesInput, _ ...func(*ec2.Options)) (*ec2.StartInstancesOutput, error) {
	return call(ctx, e.r, ServiceEC2, "StartInstances", in, func(string) (*ec2.StartInstancesOutput, error) {
		r := e.r
		list, err := r.instancesFor(in.InstanceIds)
		if err != nil {
			return nil, err
		}
		for _, i := range list {
			if i.state == stateStopping || i.state == stateShuttingDown || i.state == stateTerminated {
				return nil, apiErrorf(ServiceEC2, "IncorrectInstanceState", "The instance '%s' is not in a state from which it can be started.", i.id)
			}
		}
		changes := r.stateChanges(list, func(i *instance) {
			if i.state != stateStopped {
				return
			}
			now := r.now()
			i.state, i.stateAt, i.next, i.reason = statePending, now, now.Add(r.lat.PendingToRunning), ""
			if i.autoPublicIP && i.publicIP == "" {
				i.publicIP = r.publicIP(false)
			}
			i.app.Running = i.app.Version != ""
			if m := i.app.MountedVolume; m != "" {
				if v := r.volumes[m]; v == nil || v.att == nil || v.att.instanceID != i.id {
					i.app.MountedVolume, i.app.MountPoint = "", ""
				}
			}
		})
		return &ec2.StartInstancesOutput{StartingInstances: changes}, nil
	})
}

// instanceTransition ends an instance's transitional state. Called from
// settle with r.mu held.
func (r *Region) instanceTransition(i *instance) {
	at := i.next
	i.next = time.Time{}
	i.stateAt = at
	switch i.state {
	case statePending:
		if i.launchFails {
			// EC2 could not use a volume's KMS key: the instance never
			// runs ("StateReason", Amazon EC2 API Reference:
			// /AWSEC2/latest/APIReference/API_StateReason.html).
			i.state, i.next, i.stateReason = stateShuttingDown, at.Add(r.lat.ShuttingDownToTerminated), stateReasonLaunchError
			return
		}
		i.state, i.runningSince = stateRunning, at
	case stateStopping:
		i.state = stateStopped
		if !r.holdsAddress(i.id) {
			i.publicIP = ""
		}
	case stateShuttingDown:
		i.state = stateTerminated
		i.publicIP = ""
		for dev, vid := range i.devices {
			v := r.volumes[vid]
			delete(i.devices, dev)
			if v == nil {
				continue
			}
			if v.att != nil && v.att.deleteOnTermination {
				if r.deleteVolume(v.id) != nil {
					// The volume goes with the instance regardless:
					// content the store kept is litter, not a volume.
					delete(r.volumes, v.id)
				}
				continue
			}
			v.att, v.state = nil, volAvailable
		}
		for _, a := range r.addresses {
			if a.instanceID == i.id {
				r.disassociate(a, at)
			}
		}
		i.app.MountedVolume, i.app.MountPoint = "", ""
		if s, ok := r.servers[i.id]; ok {
			delete(r.servers, i.id)
			go s.close()
		}
	}
}

// CreateTags adds or overwrites tags on instances, volumes, snapshots,
// images, Elastic IPs and subnets. Every id must exist, or nothing is
// tagged.
func (e *EC2) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return call(ctx, e.r, ServiceEC2, "CreateTags", in, func(string) (*ec2.CreateTagsOutput, error) {
		if m := missing(map[string]bool{"Resources": in.Resources != nil, "Tags": in.Tags != nil}); len(m) > 0 {
			return nil, paramRequired("CreateTagsInput", m...)
		}
		sets, err := e.r.taggable(in.Resources)
		if err != nil {
			return nil, err
		}
		for _, t := range sets {
			for _, tag := range in.Tags {
				t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
		}
		return &ec2.CreateTagsOutput{}, nil
	})
}

// DeleteTags removes tags: a tag given with a value only when the value
// matches, without one whatever its value; no tags at all removes every
// tag.
func (e *EC2) DeleteTags(ctx context.Context, in *ec2.DeleteTagsInput, _ ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DeleteTags", in, func(string) (*ec2.DeleteTagsOutput, error) {
		if in.Resources == nil {
			return nil, paramRequired("DeleteTagsInput", "Resources")
		}
		sets, err := e.r.taggable(in.Resources)
		if err != nil {
			return nil, err
		}
		for _, t := range sets {
			if len(in.Tags) == 0 {
				clear(t)
			}
			for _, tag := range in.Tags {
				k := aws.ToString(tag.Key)
				if tag.Value == nil || t[k] == *tag.Value {
					delete(t, k)
				}
			}
		}
		return &ec2.DeleteTagsOutput{}, nil
	})
}

// taggable resolves resource ids to their tag sets.
func (r *Region) taggable(ids []string) ([]tagSet, error) {
	var out []tagSet
	now := r.now()
	for _, id := range ids {
		var t tagSet
		code := ""
		prefix, _, _ := strings.Cut(id, "-")
		switch prefix {
		case "i":
			if i, ok := r.instances[id]; ok && r.visible(i, now) {
				t = i.tags
			}
			code = "InvalidInstanceID.NotFound"
		case "vol":
			if v, ok := r.volumes[id]; ok {
				t = v.tags
			}
			code = "InvalidVolume.NotFound"
		case "snap":
			if s, ok := r.snapshots[id]; ok {
				t = s.tags
			}
			code = "InvalidSnapshot.NotFound"
		case "ami":
			if m, ok := r.images[id]; ok {
				t = m.tags
			}
			code = "InvalidAMIID.NotFound"
		case "eipalloc":
			if a, ok := r.addresses[id]; ok {
				t = a.tags
			}
			code = "InvalidAllocationID.NotFound"
		case "subnet":
			if s := r.subnet(id); s != nil {
				t = s.tags
			}
			code = "InvalidSubnetID.NotFound"
		default:
			return nil, apiErrorf(ServiceEC2, "InvalidID", "The ID '%s' is not valid", id)
		}
		if t == nil {
			return nil, apiErrorf(ServiceEC2, code, "The ID '%s' does not exist", id)
		}
		out = append(out, t)
	}
	return out, nil
}

// DescribeImages lists the region's AMIs (the golden image).
func (e *EC2) DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DescribeImages", in, func(string) (*ec2.DescribeImagesOutput, error) {
		r := e.r
		ids := in.ImageIds
		if len(ids) == 0 {
			ids = r.imageOrder
		}
		out := &ec2.DescribeImagesOutput{}
		for _, id := range ids {
			if !validID(id, "ami") {
				return nil, malformed("InvalidAMIID.Malformed", id, "ami")
			}
			img, ok := r.images[id]
			if !ok {
				return nil, apiErrorf(ServiceEC2, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
			}
			ok, err := matches(in.Filters, img.tags, func(name string) ([]string, bool) {
				switch name {
				case "image-id":
					return one(img.id)
				case "name":
					return one(img.name)
				case "state":
					return one("available")
				case "owner-id":
					return one(r.opts.Account)
				case "architecture":
					return one("arm64")
				case "root-device-name":
					return one(img.rootDevice)
				}
				return nil, false
			})
			if err != nil {
				return nil, err
			}
			if ok {
				out.Images = append(out.Images, r.describeImage(img))
			}
		}
		return out, nil
	})
}

func (r *Region) describeImage(img *image) ec2types.Image {
	enc := false
	if s, ok := r.snapshots[img.snapshotID]; ok {
		enc = s.encrypted
	}
	out := ec2types.Image{
		ImageId:            aws.String(img.id),
		Name:               aws.String(img.name),
		State:              ec2types.ImageStateAvailable,
		OwnerId:            aws.String(r.opts.Account),
		Architecture:       ec2types.ArchitectureValuesArm64,
		RootDeviceName:     aws.String(img.rootDevice),
		RootDeviceType:     ec2types.DeviceTypeEbs,
		VirtualizationType: ec2types.VirtualizationTypeHvm,
		CreationDate:       aws.String(img.created.Format("2006-01-02T15:04:05.000Z")),
		Public:             aws.Bool(false),
		Tags:               img.tags.ec2(),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{
			DeviceName: aws.String(img.rootDevice),
			Ebs: &ec2types.EbsBlockDevice{
				SnapshotId: aws.String(img.snapshotID), VolumeSize: aws.Int32(img.rootSize),
				VolumeType: ec2types.VolumeTypeGp3, DeleteOnTermination: aws.Bool(true), Encrypted: aws.Bool(enc),
			},
		}},
	}
	if img.imds != "" {
		out.ImdsSupport = ec2types.ImdsSupportValues(img.imds)
	}
	return out
}

// DescribeInstanceTypes answers the architectures an instance type runs,
// by EC2's naming convention: in the family (the part before the dot), the
// letters after the generation digit name the processor, "g" AWS Graviton
// (arm64); a1 is Graviton too; the rest run x86_64. Amazon EC2 Instance
// Types, "Amazon EC2 instance type naming conventions"
// (ec2/latest/instancetypes/instance-type-names.html). A name without a
// size, or a family that does not exist, is InvalidInstanceType.
func (e *EC2) DescribeInstanceTypes(ctx context.Context, in *ec2.DescribeInstanceTypesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DescribeInstanceTypes", in, func(string) (*ec2.DescribeInstanceTypesOutput, error) {
		out := &ec2.DescribeInstanceTypesOutput{}
		for _, t := range in.InstanceTypes {
			arch, ok := instanceArchitecture(string(t))
			if !ok {
				return nil, apiErrorf(ServiceEC2, "InvalidInstanceType", "The following supplied instance types do not exist: [%s]", t)
			}
			out.InstanceTypes = append(out.InstanceTypes, ec2types.InstanceTypeInfo{
				InstanceType:  t,
				ProcessorInfo: &ec2types.ProcessorInfo{SupportedArchitectures: []ec2types.ArchitectureType{arch}},
			})
		}
		return out, nil
	})
}

// instanceFamily matches the type names the simulated region offers.
var instanceFamily = regexp.MustCompile(`^(a1|[cmrt][1-8][a-z]*)\.(nano|micro|small|medium|large|[0-9]*xlarge)$`)

func instanceArchitecture(t string) (ec2types.ArchitectureType, bool) {
	m := instanceFamily.FindStringSubmatch(t)
	if m == nil {
		return "", false
	}
	family := m[1]
	if family == "a1" || strings.Contains(strings.TrimLeft(family[1:], "0123456789"), "g") {
		return ec2types.ArchitectureTypeArm64, true
	}
	return ec2types.ArchitectureTypeX8664, true
}

// DescribeSubnets lists the VPC's subnets, one per AZ.
func (e *EC2) DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DescribeSubnets", in, func(string) (*ec2.DescribeSubnetsOutput, error) {
		r := e.r
		list := r.subnets
		if len(in.SubnetIds) > 0 {
			list = nil
			for _, id := range in.SubnetIds {
				s := r.subnet(id)
				if s == nil {
					return nil, apiErrorf(ServiceEC2, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
				}
				list = append(list, s)
			}
		}
		out := &ec2.DescribeSubnetsOutput{}
		for _, s := range list {
			ok, err := matches(in.Filters, s.tags, func(name string) ([]string, bool) {
				switch name {
				case "subnet-id":
					return one(s.id)
				case "vpc-id":
					return one(r.vpcID)
				case "availability-zone":
					return one(s.az)
				case "availability-zone-id":
					return one(s.azID)
				case "cidr-block", "cidr", "cidrBlock":
					return one(s.cidr)
				case "map-public-ip-on-launch":
					return one(fmt.Sprint(s.mapPublic))
				case "default-for-az":
					return one("false")
				case "state":
					return one("available")
				}
				return nil, false
			})
			if err != nil {
				return nil, err
			}
			if ok {
				out.Subnets = append(out.Subnets, ec2types.Subnet{
					SubnetId: aws.String(s.id), VpcId: aws.String(r.vpcID),
					AvailabilityZone: aws.String(s.az), AvailabilityZoneId: aws.String(s.azID),
					CidrBlock: aws.String(s.cidr), MapPublicIpOnLaunch: aws.Bool(s.mapPublic),
					State: ec2types.SubnetStateAvailable, DefaultForAz: aws.Bool(false),
					AvailableIpAddressCount: aws.Int32(int32(1<<(32-s.prefix.Bits())) - 5),
					OwnerId:                 aws.String(r.opts.Account),
					Tags:                    s.tags.ec2(),
				})
			}
		}
		return out, nil
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// launchGroups are the security groups a launch names: on the instance,
// or on its primary network interface.
func launchGroups(in *ec2.RunInstancesInput) []string {
	if len(in.NetworkInterfaces) > 0 {
		return append([]string(nil), in.NetworkInterfaces[0].Groups...)
	}
	return append([]string(nil), in.SecurityGroupIds...)
}
