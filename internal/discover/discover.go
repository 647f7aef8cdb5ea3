// Package discover reads, read-only, what an existing server runs on, for
// `greenlight init`: from its Elastic IP, its instance or its ALB listener,
// the instance type, subnet, security groups, instance profile, image and
// data volumes, and turns them into a config. What it cannot read (where a
// volume is mounted, the port the app answers on, who approves) it leaves
// for the operator, and says so.
package discover

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
)

// From names the live side's front, or the live instance itself: exactly
// one is set.
type From struct {
	AllocationID string `json:"elasticIp,omitempty"`
	InstanceID   string `json:"instance,omitempty"`
	ListenerARN  string `json:"listener,omitempty"`
}

// Volume is an EBS volume attached to the live instance, its root volume
// excepted.
type Volume struct {
	ID       string `json:"id"`
	Device   string `json:"device"`
	SizeGiB  int32  `json:"sizeGiB"`
	KMSKeyID string `json:"kmsKeyId,omitempty"`
}

// Found is what the account says about the live side.
type Found struct {
	// Name is the instance's Name tag: a suggestion for the app's name.
	Name string `json:"name,omitempty"`
	// AllocationID is the Elastic IP in front of the instance, if any.
	AllocationID string `json:"elasticIpAllocationId,omitempty"`
	// ListenerARN and TargetGroupARNs: the ALB front (From.ListenerARN).
	ListenerARN      string   `json:"listenerArn,omitempty"`
	TargetGroupARNs  []string `json:"targetGroupArns,omitempty"`
	Instances        []string `json:"instances"`
	InstanceType     string   `json:"instanceType"`
	SubnetID         string   `json:"subnetId"`
	AvailabilityZone string   `json:"availabilityZone"`
	SecurityGroupIDs []string `json:"securityGroupIds"`
	// InstanceProfile is the profile's name ("" when the instance has
	// none: the candidates need one for SSM).
	InstanceProfile string   `json:"instanceProfile,omitempty"`
	ImageID         string   `json:"imageId"`
	ImageName       string   `json:"imageName,omitempty"`
	Architecture    string   `json:"architecture,omitempty"`
	PublicIP        bool     `json:"publicIp"`
	Volumes         []Volume `json:"volumes"`
}

// errorCode is an AWS error's code, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Discover reads the live side from what from names. It only reads.
func Discover(ctx context.Context, c awsapi.Clients, from From) (Found, error) {
	var f Found
	var front traffic.Front
	switch {
	case from.AllocationID != "":
		front.AllocationID = from.AllocationID
	case from.InstanceID != "":
		f.Instances = []string{from.InstanceID}
	case from.ListenerARN != "":
		groups, err := traffic.ForwardGroups(ctx, c.ELB, from.ListenerARN)
		if err != nil {
			return f, err
		}
		front.ListenerARN = from.ListenerARN
		copy(front.TargetGroupARNs[:], groups)
		f.ListenerARN, f.TargetGroupARNs = from.ListenerARN, groups
	default:
		return f, errors.New("name the live side: an Elastic IP, an instance or a listener")
	}
	if f.Instances == nil {
		split, err := traffic.For(c, front).Split(ctx)
		var nf traffic.NotFound
		if errors.As(err, &nf) {
			return f, fmt.Errorf("%s does not exist in this account and region", nf.Front)
		}
		if err != nil {
			return f, err
		}
		if f.Instances = split.Serving().Instances; len(f.Instances) == 0 {
			what := "the Elastic IP " + front.AllocationID
			if front.ListenerARN != "" {
				what = "the listener " + front.ListenerARN
			}
			return f, fmt.Errorf("%s sends traffic to no instance: pass --instance i-… instead", what)
		}
		f.AllocationID = from.AllocationID
	}
	if err := f.instance(ctx, c.EC2); err != nil {
		return f, err
	}
	if from.InstanceID != "" {
		// The Elastic IP in front of it, if one is.
		id, err := traffic.ElasticIPOf(ctx, c.EC2, from.InstanceID)
		if err != nil {
			return f, err
		}
		f.AllocationID = id
	}
	return f, nil
}

// instance reads the first live instance and its volumes and image.
func (f *Found) instance(ctx context.Context, api awsapi.EC2) error {
	id := f.Instances[0]
	out, err := api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if errorCode(err) == "InvalidInstanceID.NotFound" || errorCode(err) == "InvalidInstanceID.Malformed" || (err == nil && (len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0)) {
		return fmt.Errorf("the instance %s does not exist in this account and region", id)
	}
	if err != nil {
		return fmt.Errorf("ec2:DescribeInstances: %w", err)
	}
	in := out.Reservations[0].Instances[0]
	f.InstanceType, f.SubnetID, f.ImageID = string(in.InstanceType), aws.ToString(in.SubnetId), aws.ToString(in.ImageId)
	if in.Placement != nil {
		f.AvailabilityZone = aws.ToString(in.Placement.AvailabilityZone)
	}
	for _, g := range in.SecurityGroups {
		f.SecurityGroupIDs = append(f.SecurityGroupIDs, aws.ToString(g.GroupId))
	}
	if p := in.IamInstanceProfile; p != nil {
		arn := aws.ToString(p.Arn)
		f.InstanceProfile = arn[strings.LastIndex(arn, "/")+1:]
	}
	for _, t := range in.Tags {
		if aws.ToString(t.Key) == "Name" {
			f.Name = aws.ToString(t.Value)
		}
	}
	f.PublicIP = aws.ToString(in.PublicIpAddress) != ""
	root := aws.ToString(in.RootDeviceName)
	var ids []string
	devices := map[string]string{}
	for _, m := range in.BlockDeviceMappings {
		if m.Ebs == nil || aws.ToString(m.DeviceName) == root {
			continue
		}
		ids = append(ids, aws.ToString(m.Ebs.VolumeId))
		devices[aws.ToString(m.Ebs.VolumeId)] = aws.ToString(m.DeviceName)
	}
	if len(ids) > 0 {
		vols, err := api.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: ids})
		if err != nil {
			return fmt.Errorf("ec2:DescribeVolumes: %w", err)
		}
		for _, v := range vols.Volumes {
			vol := Volume{ID: aws.ToString(v.VolumeId), Device: devices[aws.ToString(v.VolumeId)], SizeGiB: aws.ToInt32(v.Size)}
			if aws.ToBool(v.Encrypted) {
				vol.KMSKeyID = aws.ToString(v.KmsKeyId)
			}
			f.Volumes = append(f.Volumes, vol)
		}
		slices.SortFunc(f.Volumes, func(a, b Volume) int { return strings.Compare(a.Device, b.Device) })
	}
	img, err := api.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{f.ImageID}})
	if err == nil && len(img.Images) > 0 {
		f.ImageName, f.Architecture = aws.ToString(img.Images[0].Name), string(img.Images[0].Architecture)
	}
	return nil
}

var unsafeApp = regexp.MustCompile(`[^a-z0-9-]+`)

// AppName turns an instance's Name tag into an app name the config
// accepts ("" when nothing is left).
func AppName(name string) string {
	s := strings.Trim(unsafeApp.ReplaceAllString(strings.ToLower(name), "-"), "-")
	s = strings.TrimLeft(s, "0123456789-")
	if len(s) > 31 {
		s = strings.TrimRight(s[:31], "-")
	}
	return s
}

// dataDevice is the pattern data.device accepts.
var dataDevice = regexp.MustCompile(`^/dev/(sd[f-p]|xvd[f-p])$`)

// Answers are what the operator decides, from flags or prompts.
type Answers struct {
	App        string
	Emails     []string
	HealthPort int
	HealthPath string
	// DataMode is none, restore or move; "" leaves it to decide (none).
	DataMode   string
	MountPoint string
}

// Config writes the config found and answered, and lists what is left to
// decide, each with where to find it.
func (f Found) Config(a Answers) (release.Config, []string) {
	var todo []string
	c := release.Config{
		Schema: "./internal/release/config.schema.json",
		App:    a.App,
		Candidate: release.Launch{
			AMIParameter:     "/greenlight/" + a.App + "/golden-ami",
			InstanceType:     f.InstanceType,
			SubnetID:         f.SubnetID,
			SecurityGroupIDs: f.SecurityGroupIDs,
			InstanceProfile:  f.InstanceProfile,
			ReadyTimeout:     release.Duration(10 * time.Minute),
		},
		Data:            release.DataConfig{Mode: release.DataNone},
		HealthCheck:     release.HealthCheck{Port: a.HealthPort, Path: a.HealthPath, ExpectedStatus: 200, Timeout: release.Duration(2 * time.Minute)},
		ApprovalTimeout: release.Duration(24 * time.Hour),
		BakeTime:        release.Duration(5 * time.Minute),
		RetentionDays:   7,
		KeepReleases:    5,
		Notifications:   release.Notifications{Emails: a.Emails},
		ArtifactPrefix:  release.DefaultArtifactPrefix,
		ArtifactMaxSize: release.DefaultArtifactMaxSize,
	}
	todo = append(todo, fmt.Sprintf("candidate.amiParameter: create the SSM parameter %s holding your golden AMI's id (the live instance runs %s %s)", c.Candidate.AMIParameter, f.ImageID, f.ImageName))
	if f.ListenerARN != "" {
		c.Traffic = release.TrafficConfig{Mode: release.TrafficALB, ALB: &release.ALBConfig{ListenerARN: f.ListenerARN, TargetGroupARNs: f.TargetGroupARNs}}
		if len(f.Instances) > 1 {
			c.Fleet.Size = len(f.Instances)
		}
	} else {
		c.Live.ElasticIPAllocationID = f.AllocationID
		if f.AllocationID == "" {
			todo = append(todo, "live.elasticIpAllocationId: the instance has no Elastic IP in front; allocate one and associate it, or run init with --listener for an ALB")
		}
	}
	if f.InstanceProfile == "" {
		todo = append(todo, "candidate.instanceProfile: the live instance has none; candidates need one with AmazonSSMManagedInstanceCore and read access to the release bucket")
	} else {
		todo = append(todo, fmt.Sprintf("candidate.instanceRole: taken to be named like the profile (%s); if the role inside it is named otherwise (aws iam get-instance-profile --instance-profile-name %s), set it", f.InstanceProfile, f.InstanceProfile))
	}
	if !f.PublicIP {
		no := false
		c.Candidate.PublicIP = &no
		todo = append(todo, "candidate.publicIp is false, as the live instance has no public address: its subnet needs a NAT gateway or VPC endpoints for SSM (greenlight doctor warns)")
	}
	var data []Volume
	for _, v := range f.Volumes {
		if dataDevice.MatchString(v.Device) {
			data = append(data, v)
		}
	}
	switch {
	case len(data) == 1:
		c.Data.Device = data[0].Device
		if a.MountPoint != "" {
			c.Data.MountPoint = a.MountPoint
		}
		if a.DataMode != "" && a.MountPoint != "" {
			c.Data.Mode = a.DataMode
		} else {
			todo = append(todo, fmt.Sprintf("data.mode and data.mountPoint: %s (%d GiB) is at %s; say where it is mounted and whether a release restores a copy of it (restore) or moves it (move); none ignores it", data[0].ID, data[0].SizeGiB, data[0].Device))
		}
		if data[0].KMSKeyID != "" && !strings.HasSuffix(data[0].KMSKeyID, "alias/aws/ebs") {
			c.Encryption = &release.Encryption{KMSKeyID: data[0].KMSKeyID}
		}
	case len(data) > 1:
		var devs []string
		for _, v := range data {
			devs = append(devs, v.ID+" at "+v.Device)
		}
		todo = append(todo, "data: the instance has several volumes ("+strings.Join(devs, ", ")+"); greenlight moves one: set data.device, data.mountPoint and data.mode")
	}
	todo = append(todo, "smokeTests: the pages a candidate must serve before you are asked to approve (name, path, expectedStatus, bodyContains)")
	if len(a.Emails) == 0 {
		todo = append(todo, "notifications.emails: who approves releases (the approval request goes to them)")
	}
	return c, todo
}
