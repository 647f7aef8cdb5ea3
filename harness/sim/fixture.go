package sim

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/internal/release"
)

// Fixture is what New creates: the starting point most tests use.
type Fixture struct {
	App     string
	Version string // what the live instance serves
	AppPort int
	// HealthPath is the live app's health endpoint.
	HealthPath string

	VPCID   string
	Subnets []string // one per AZ, in AZ order
	AZs     []string // eu-west-1a, eu-west-1b

	AMI          string // the golden image
	AMIParameter string // the SSM parameter holding AMI

	LiveInstance string
	// LiveInstances is the live side: LiveInstance first, then the
	// others of Options.LiveFleet.
	LiveInstances []string
	LiveAZ        string
	LiveSubnet    string
	LivePrivateIP string
	AllocationID  string // the Elastic IP in front of the live instance
	PublicIP      string

	DataVolume     string   // "" without Options.DataVolume
	DataDevice     string   // where the data volume is attached
	DataMountPoint string   // where it is mounted
	DataSnapshots  []string // completed snapshots of it, oldest first

	Bucket          string
	TopicARN        string
	StateMachineARN string
	ScheduleGroup   string

	// With Options.ALB: the Application Load Balancer, its DNS name, its
	// HTTP listener on port 80 and the blue and green target groups, in
	// that order; RuleARN is the listener rule Options.ALBRule adds and
	// RuleHost the host name its condition matches.
	LoadBalancerARN string
	LoadBalancerDNS string
	ListenerARN     string
	RuleARN         string
	RuleHost        string
	TargetGroupARNs [2]string
}

// buildFixture creates the VPC, the golden AMI, the live instance behind
// its Elastic IP and, when asked, its data volume and snapshots. Called
// with r.mu held.
func (r *Region) buildFixture() error {
	o := r.opts
	start := r.now()
	f := Fixture{App: o.App, Version: o.LiveVersion, AppPort: o.AppPort, HealthPath: o.HealthPath,
		AMIParameter: o.AMIParameter, TopicARN: o.TopicARN,
		StateMachineARN: o.StateMachineARN, ScheduleGroup: o.ScheduleGroup}
	if len(o.Buckets) > 0 {
		f.Bucket = o.Buckets[0]
	}

	r.vpcID, r.cidr = r.hexID("vpc"), "10.0.0.0/16"
	f.VPCID = r.vpcID
	zones := min(max(o.Zones, 2), 6)
	for n, letter := range []string{"a", "b", "c", "d", "e", "f"}[:zones] {
		prefix := netip.MustParsePrefix(fmt.Sprintf("10.0.%d.0/24", n+1))
		sn := &subnet{
			id: r.hexID("subnet"), az: o.Region + letter, azID: fmt.Sprintf("%s-az%d", regionShort(o.Region), n+1),
			cidr: prefix.String(), prefix: prefix, mapPublic: o.AutoAssignPublicIP && !o.PrivateSubnets, privatePath: o.PrivateSubnets,
			tags: tagSet{"Name": fmt.Sprintf("%s-public-%s", o.App, letter)},
		}
		if o.PrivateSubnets {
			sn.tags["Name"] = fmt.Sprintf("%s-private-%s", o.App, letter)
		}
		r.subnets = append(r.subnets, sn)
		f.Subnets = append(f.Subnets, sn.id)
		f.AZs = append(f.AZs, sn.az)
	}

	// The golden image and the snapshot behind its root device, built a
	// week before the start.
	built := start.Add(-7 * 24 * time.Hour)
	golden := &snapshot{id: r.hexID("snap"), description: "golden image root", sizeGiB: 8,
		tags: tagSet{}, start: built, complete: built.Add(5 * time.Minute)}
	if d := r.opts.Disks; d != nil {
		// An empty root: the app's data is on the data volume.
		if err := d.FillSnapshot(golden.id, 0); err != nil {
			return fmt.Errorf("content of the golden image: %w", err)
		}
	}
	r.snapshots[golden.id] = golden
	r.snapshotOrder = append(r.snapshotOrder, golden.id)
	img := &image{id: r.hexID("ami"), name: "greenlight-golden-al2023-arm64", rootDevice: "/dev/xvda",
		snapshotID: golden.id, rootSize: 8, created: built, tags: tagSet{"Name": "greenlight golden image"}}
	r.images[img.id] = img
	r.imageOrder = append(r.imageOrder, img.id)
	r.putParameter(o.AMIParameter, img.id, "aws:ec2:image")
	f.AMI = img.id

	// The live instance, running for a month, serving LiveVersion.
	launched := start.Add(-30 * 24 * time.Hour)
	sn := r.subnets[0]
	live := &instance{
		id: r.hexID("i"), reservationID: r.hexID("r"), imageID: img.id, instanceType: o.InstanceType,
		subnetID: sn.id, az: sn.az, privateIP: r.privateIP(sn), autoPublicIP: !o.PrivateSubnets, privatePath: sn.privatePath,
		securityGroups: o.LiveSecurityGroups,
		tags:           tagSet{"Name": o.App, tagApp: o.App, tagRole: release.RoleLive, tagManaged: release.ManagedValue, tagVersion: o.LiveVersion},
		metadata:       metadataOptions(img, &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired}),
		rootDevice:     img.rootDevice, devices: map[string]string{},
		state: stateRunning, stateAt: launched, launchTime: launched, runningSince: launched, visibleAt: launched,
		agentSeen: true,
		app:       AppState{Version: o.LiveVersion, Running: true, Port: o.AppPort, HealthPath: o.HealthPath},
	}
	if o.LiveInstanceProfile != "" {
		live.profileARN = "arn:aws:iam::" + o.Account + ":instance-profile/" + o.LiveInstanceProfile
		// Its role is named like it, with the Systems Manager policy.
		r.profiles = map[string]string{o.LiveInstanceProfile: o.LiveInstanceProfile}
		r.rolePolicies = map[string][]string{o.LiveInstanceProfile: {SSMCorePolicy}}
	}
	r.instances[live.id] = live
	r.instanceOrder = append(r.instanceOrder, live.id)
	root, err := r.newVolume(volumeSpec{az: live.az, volumeType: "gp3", snapshotID: golden.id, size: 8})
	if err != nil {
		return err
	}
	root.state, root.createdAt, root.availableAt = volInUse, launched, time.Time{}
	root.att = &attachment{instanceID: live.id, device: img.rootDevice, state: attAttached, at: launched, deleteOnTermination: true}
	live.devices[img.rootDevice] = root.id
	f.LiveInstance, f.LiveAZ, f.LiveSubnet, f.LivePrivateIP = live.id, live.az, sn.id, live.privateIP

	eip := &address{allocationID: r.hexID("eipalloc"), publicIP: r.publicIP(true),
		associationID: r.hexID("eipassoc"), instanceID: live.id, privateIP: live.privateIP,
		tags:   tagSet{"Name": o.App, tagApp: o.App},
		routes: []route{{at: launched, instanceID: live.id}}}
	r.addresses[eip.allocationID] = eip
	r.addressOrder = append(r.addressOrder, eip.allocationID)
	live.publicIP = eip.publicIP
	f.AllocationID, f.PublicIP = eip.allocationID, eip.publicIP

	if o.DataVolume {
		v, err := r.newVolume(volumeSpec{az: live.az, volumeType: o.DataVolumeType, iops: o.DataIOPS, throughput: o.DataThroughput, size: o.DataSizeGiB, encrypted: true,
			tags: tagSet{"Name": o.App + "-data", tagApp: o.App, tagRole: release.RoleData, tagManaged: release.ManagedValue}})
		if err != nil {
			return err
		}
		v.state, v.createdAt, v.availableAt = volInUse, launched, time.Time{}
		v.att = &attachment{instanceID: live.id, device: o.DataDevice, state: attAttached, at: launched}
		live.devices[o.DataDevice] = v.id
		live.app.MountedVolume, live.app.MountPoint = v.id, o.DataMountPoint
		// Hourly backups, each holding a hundred more writes than the
		// last, and fifty writes since the newest.
		fill := func(writes int64) error {
			v.writes = writes
			if d := r.opts.Disks; d != nil {
				if err := d.FillVolume(v.id, writes); err != nil {
					return fmt.Errorf("content of the data volume: %w", err)
				}
			}
			return nil
		}
		for k := 1; k <= o.DataSnapshots; k++ {
			if err := fill(int64(100 * k)); err != nil {
				return err
			}
			at := start.Add(-time.Duration(o.DataSnapshots-k+1) * time.Hour)
			s, err := r.newSnapshot(v, fmt.Sprintf("%s data backup %d", o.App, k),
				tagSet{tagApp: o.App, tagRole: release.RoleBackup, tagManaged: release.ManagedValue}, "", at)
			if err != nil {
				return err
			}
			f.DataSnapshots = append(f.DataSnapshots, s.id)
		}
		if err := fill(int64(100*o.DataSnapshots + 50)); err != nil {
			return err
		}
		f.DataVolume, f.DataDevice, f.DataMountPoint = v.id, o.DataDevice, o.DataMountPoint
	}

	if o.ALB {
		r.buildALB(&f, live, start.Add(-7*24*time.Hour))
	}
	for _, name := range o.Alarms {
		r.alarms[name] = &alarm{name: name, arn: r.arn("cloudwatch", "alarm:"+name), state: cwtypes.StateValueOk,
			reason: fixtureAlarmReason, updated: start.Add(-time.Hour), transitioned: start.Add(-time.Hour)}
	}

	f.LiveInstances = []string{live.id}
	for n := 1; n < o.LiveFleet; n++ {
		id, err := r.addLive(live, r.subnets[n%len(r.subnets)], golden.id)
		if err != nil {
			return err
		}
		f.LiveInstances = append(f.LiveInstances, id)
	}

	r.topics[o.TopicARN] = true
	r.machines[o.StateMachineARN] = true
	r.groups[o.ScheduleGroup] = start
	r.fix = f
	return nil
}

// addLive adds an instance like first to the live side, in subnet sn, and
// registers it wherever first is registered.
func (r *Region) addLive(first *instance, sn *subnet, rootSnapshot string) (string, error) {
	i := &instance{
		id: r.hexID("i"), reservationID: r.hexID("r"), imageID: first.imageID, instanceType: first.instanceType,
		subnetID: sn.id, az: sn.az, privateIP: r.privateIP(sn), autoPublicIP: first.autoPublicIP, privatePath: sn.privatePath,
		securityGroups: first.securityGroups, profileARN: first.profileARN,
		tags: first.tags.clone(), metadata: first.metadata, rootDevice: first.rootDevice, devices: map[string]string{},
		state: stateRunning, stateAt: first.stateAt, launchTime: first.launchTime, runningSince: first.runningSince, visibleAt: first.visibleAt,
		agentSeen: true, app: first.app,
	}
	if i.autoPublicIP {
		i.publicIP = r.publicIP(false)
	}
	r.instances[i.id] = i
	r.instanceOrder = append(r.instanceOrder, i.id)
	root, err := r.newVolume(volumeSpec{az: i.az, volumeType: "gp3", snapshotID: rootSnapshot, size: 8})
	if err != nil {
		return "", err
	}
	root.state, root.createdAt, root.availableAt = volInUse, first.launchTime, time.Time{}
	root.att = &attachment{instanceID: i.id, device: i.rootDevice, state: attAttached, at: first.launchTime, deleteOnTermination: true}
	i.devices[i.rootDevice] = root.id
	for _, tg := range r.targetGroups {
		for _, t := range tg.targets {
			if t.instanceID == first.id {
				c := *t
				c.instanceID = i.id
				tg.targets = append(tg.targets, &c)
				break
			}
		}
	}
	return i.id, nil
}

// regionShort abbreviates a region for AZ ids: eu-west-1 → euw1.
func regionShort(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 || parts[1] == "" {
		return region
	}
	return parts[0] + parts[1][:1] + parts[2]
}
