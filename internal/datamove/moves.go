package datamove

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight/greenlight/instance"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// stuckAfter is how long a volume may stay attached, detaching or in use
// before the move counts as stuck: EBS detaches and attaches in seconds,
// so minutes mean something holds the device.
const stuckAfter = 3 * time.Minute

// Mover builds the actions of one release's plans: each is a Run that
// looks at AWS and starts what is missing.
type Mover struct {
	D   *step.Deps
	Doc release.Doc
}

// Run is one action's pass: it looks at AWS and, when the action's effect
// is not in place and the action has not been started, starts it. It
// reports whether the effect is in place, and may keep what it started
// in st (a command id, a snapshot or volume id).
type Run func(ctx context.Context, st *release.Step) (bool, error)

func (m Mover) now() time.Time { return m.D.Now().UTC() }

func (m Mover) tags(role, purpose string) []types.Tag {
	t := []types.Tag{
		{Key: aws.String(release.TagApp), Value: aws.String(m.Doc.App)},
		{Key: aws.String(release.TagRelease), Value: aws.String(m.Doc.ReleaseID)},
		{Key: aws.String(release.TagManaged), Value: aws.String(release.ManagedValue)},
		{Key: aws.String(release.TagRole), Value: aws.String(role)},
		{Key: aws.String("Name"), Value: aws.String(fmt.Sprintf("%s %s %s", m.Doc.App, purpose, m.Doc.Version))},
	}
	return append(t, types.Tag{Key: aws.String(TagPurpose), Value: aws.String(purpose)})
}

// TagPurpose says why greenlight made a snapshot or volume.
const TagPurpose = "greenlight:purpose"

// Values of TagPurpose.
const (
	// PurposeTestCopy: the candidate's restored copy of the live data,
	// for its tests (a volume), and the snapshot it came from.
	PurposeTestCopy = "test-copy"
	// PurposeWarmUp: the snapshot taken just before the maintenance
	// window, so that the final one copies little.
	PurposeWarmUp = "warm-up"
	// PurposeFinal: the consistent snapshot taken with writes stopped;
	// kept as the backup of the release.
	PurposeFinal = "final"
	// PurposeData: the volume restored from the final snapshot that
	// serves on the candidate (restore mode).
	PurposeData = "data"
)

// command runs an SSM document on an instance and waits for it to
// succeed.
func (m Mover) Command(name, instanceID, document string, params map[string]string) Run {
	return func(ctx context.Context, st *release.Step) (bool, error) {
		if st.ID == "" {
			in := map[string][]string{}
			for k, v := range params {
				in[k] = []string{v}
			}
			out, err := m.D.AWS.SSM.SendCommand(ctx, &ssm.SendCommandInput{
				DocumentName: aws.String(document), InstanceIds: []string{instanceID}, Parameters: in,
				Comment: aws.String(release.CommandComment(m.Doc.ReleaseID, name)), TimeoutSeconds: aws.Int32(300),
			})
			if step.ErrorCode(err) == "InvalidInstanceId" {
				return false, release.DataFailed{Cause: release.Causef("%s: the SSM agent on %s is not online", name, instanceID)}
			}
			if err != nil {
				return false, step.AWS("ssm:SendCommand", name+" on "+instanceID, err)
			}
			st.ID, st.Started = aws.ToString(out.Command.CommandId), m.now()
			m.D.Did(ctx, m.Doc.ReleaseID, "ssm:SendCommand", "action", name, "instance", instanceID, "command", st.ID)
			return false, nil
		}
		inv, err := m.D.AWS.SSM.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(st.ID), InstanceId: aws.String(instanceID)})
		if step.ErrorCode(err) == "InvocationDoesNotExist" {
			return false, nil
		}
		if err != nil {
			return false, step.AWS("ssm:GetCommandInvocation", name+" on "+instanceID, err)
		}
		switch inv.Status {
		case ssmtypes.CommandInvocationStatusSuccess:
			st.DoneAt = m.now()
			if t := aws.ToString(inv.ExecutionEndDateTime); t != "" {
				if at, err := time.Parse(time.RFC3339, t); err == nil {
					st.DoneAt = at.UTC()
				}
			}
			return true, nil
		case ssmtypes.CommandInvocationStatusFailed, ssmtypes.CommandInvocationStatusTimedOut, ssmtypes.CommandInvocationStatusCancelled:
			last := instance.LastLine(aws.ToString(inv.StandardOutputContent))
			return false, release.DataFailed{Cause: release.Causef("%s on %s %s: %s", name, instanceID, strings.ToLower(string(inv.Status)), last)}
		}
		return false, nil
	}
}

// dataCommand runs the data document with an action.
func (m Mover) Data(name, instanceID, act, volumeID string) Run {
	c := m.Doc.Config.Data
	return m.Command(name, instanceID, m.D.Env.DataDocument, map[string]string{
		instance.ParamApp: m.Doc.App, instance.ParamAction: act, instance.ParamVolumeID: volumeID,
		instance.ParamDevice: c.Device, instance.ParamMountPoint: c.MountPoint,
	})
}

// DataThenHealthy is Data whose start of the app (mount, start) then
// waits on the instance until the app's health endpoint answers on
// 127.0.0.1, failing the command after the health check's timeout.
func (m Mover) DataThenHealthy(name, instanceID, act, volumeID string) Run {
	c, hc := m.Doc.Config.Data, m.Doc.Config.HealthCheck
	return m.Command(name, instanceID, m.D.Env.DataDocument, map[string]string{
		instance.ParamApp: m.Doc.App, instance.ParamAction: act, instance.ParamVolumeID: volumeID,
		instance.ParamDevice: c.Device, instance.ParamMountPoint: c.MountPoint,
		instance.ParamHealthPort: strconv.Itoa(hc.Port), instance.ParamHealthPath: hc.Path,
		instance.ParamHealthStatus: strconv.Itoa(hc.ExpectedStatus), instance.ParamHealthTimeout: strconv.Itoa(int(hc.Timeout.D().Seconds())),
	})
}

// maintenance turns the maintenance page on or off.
func (m Mover) Maintenance(name, instanceID, act string) Run {
	return m.Command(name, instanceID, m.D.Env.MaintenanceDocument, map[string]string{instance.ParamApp: m.Doc.App, instance.ParamAction: act})
}

func (m Mover) Volume(ctx context.Context, id string) (*types.Volume, error) {
	out, err := m.D.AWS.EC2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
	if step.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, step.AWS("ec2:DescribeVolumes", id, err)
	}
	if len(out.Volumes) == 0 {
		return nil, nil
	}
	return &out.Volumes[0], nil
}

// attachedTo is the instance a volume is attached to (in any attachment
// state) and that attachment's state.
func AttachedTo(v *types.Volume) (string, types.VolumeAttachmentState) {
	for _, a := range v.Attachments {
		return aws.ToString(a.InstanceId), a.State
	}
	return "", ""
}

// DateForSweep gives a volume set aside a retirement date, so the retire
// sweep (which deletes detached volumes of the app whose date has passed)
// deletes it once the retention has passed. Tagging again is harmless.
func (m Mover) DateForSweep(ctx context.Context, id string) error {
	due := m.D.Now().UTC().Add(time.Duration(m.Doc.Config.RetentionDays) * 24 * time.Hour).Format(time.RFC3339)
	_, err := m.D.AWS.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{
		{Key: aws.String(release.TagApp), Value: aws.String(m.Doc.App)},
		{Key: aws.String(release.TagRetireAfter), Value: aws.String(due)},
	}})
	return step.AWS("ec2:CreateTags", id, err)
}

// detach detaches a volume from an instance and waits until it is free.
// force is for a disposable copy on an instance that cannot unmount it.
func (m Mover) Detach(name string, volumeID func() string, from string, force bool) Run {
	return func(ctx context.Context, st *release.Step) (bool, error) {
		id := volumeID()
		if id == "" {
			return true, nil
		}
		v, err := m.Volume(ctx, id)
		if err != nil || v == nil {
			return v == nil && err == nil, err
		}
		at, state := AttachedTo(v)
		if at != from {
			return true, nil // not (or no longer) on that instance
		}
		if state == types.VolumeAttachmentStateAttached && st.Started.IsZero() {
			_, err := m.D.AWS.EC2.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(id), InstanceId: aws.String(from), Force: aws.Bool(force)})
			if err != nil && step.ErrorCode(err) != "IncorrectState" {
				return false, step.AWS("ec2:DetachVolume", id+" from "+from, err)
			}
			st.Started = m.now()
			m.D.Did(ctx, m.Doc.ReleaseID, "ec2:DetachVolume", "volume", id, "instance", from, "force", force)
			return false, nil
		}
		if !st.Started.IsZero() && m.now().Sub(st.Started) > stuckAfter {
			return false, release.DataFailed{Cause: release.Causef("volume %s is stuck %s on %s %s after the detach: something still holds the device",
				id, orState(state), from, m.now().Sub(st.Started).Round(time.Second))}
		}
		return false, nil
	}
}

func orState(s types.VolumeAttachmentState) string {
	if s == "" {
		return "in-use"
	}
	return string(s)
}

// attach attaches a volume to an instance at the data device and waits
// until it is attached. A volume still on another instance is waited for
// (its detach is under way), up to stuckAfter.
func (m Mover) Attach(name string, volumeID func() string, to string) Run {
	device := m.Doc.Config.Data.Device
	return func(ctx context.Context, st *release.Step) (bool, error) {
		id := volumeID()
		v, err := m.Volume(ctx, id)
		if err != nil {
			return false, err
		}
		if v == nil {
			return false, release.DataFailed{Cause: release.Causef("volume %s to attach to %s does not exist", id, to)}
		}
		at, state := AttachedTo(v)
		if at == to {
			return state == types.VolumeAttachmentStateAttached, nil
		}
		if st.Started.IsZero() {
			st.Started = m.now()
		}
		if at != "" || v.State != types.VolumeStateAvailable {
			if m.now().Sub(st.Started) > stuckAfter {
				return false, release.DataFailed{Cause: release.Causef("volume %s is stuck in use on %s: it cannot move to %s", id, at, to)}
			}
			return false, nil
		}
		_, err = m.D.AWS.EC2.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(id), InstanceId: aws.String(to), Device: aws.String(device)})
		switch code := step.ErrorCode(err); {
		case err == nil:
			m.D.Did(ctx, m.Doc.ReleaseID, "ec2:AttachVolume", "volume", id, "instance", to, "device", device)
			return false, nil
		case code == "InvalidVolume.ZoneMismatch":
			return false, release.DataFailed{Cause: release.Causef("volume %s is in another Availability Zone than %s: EBS volumes attach only within their AZ", id, to)}
		case code == "InvalidParameterValue" && strings.Contains(err.Error(), "already in use"):
			return false, release.DataFailed{Cause: release.Causef("device %s is already in use on %s: free it or set data.device to another name", device, to)}
		case code == "VolumeInUse" || code == "IncorrectState" || code == "IncorrectInstanceState":
			if m.now().Sub(st.Started) > stuckAfter {
				return false, release.DataFailed{Cause: release.Causef("volume %s is stuck in use: it could not be attached to %s for %s: %v", id, to, stuckAfter, err)}
			}
			return false, nil
		default:
			return false, step.AWS("ec2:AttachVolume", id+" to "+to, err)
		}
	}
}

// snapshot takes a snapshot of a volume (point in time at the call). With
// complete it waits until the snapshot is completed. A retried step finds
// the snapshot it took by its tags instead of taking another.
func (m Mover) Snapshot(name string, volumeID string, purpose string, complete bool) Run {
	return func(ctx context.Context, st *release.Step) (bool, error) {
		if st.ID == "" {
			id, err := m.findSnapshot(ctx, volumeID, purpose)
			if err != nil {
				return false, err
			}
			if id == "" {
				out, err := m.D.AWS.EC2.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{
					VolumeId:          aws.String(volumeID),
					Description:       aws.String(fmt.Sprintf("greenlight %s: %s of %s %s", m.Doc.ReleaseID, purpose, m.Doc.App, m.Doc.Live.Version)),
					TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSnapshot, Tags: m.tags(release.RoleBackup, purpose)}},
				})
				if err != nil {
					return false, step.AWS("ec2:CreateSnapshot", volumeID, err)
				}
				id = aws.ToString(out.SnapshotId)
				m.D.Did(ctx, m.Doc.ReleaseID, "ec2:CreateSnapshot", "volume", volumeID, "snapshot", id, "purpose", purpose)
			}
			st.ID, st.Started = id, m.now()
		}
		if !complete {
			return true, nil
		}
		return m.SnapshotCompleted(ctx, st.ID)
	}
}

func (m Mover) findSnapshot(ctx context.Context, volumeID, purpose string) (string, error) {
	out, err := m.D.AWS.EC2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: []types.Filter{
		{Name: aws.String("volume-id"), Values: []string{volumeID}},
		{Name: aws.String("tag:" + release.TagRelease), Values: []string{m.Doc.ReleaseID}},
		{Name: aws.String("tag:" + TagPurpose), Values: []string{purpose}},
	}})
	if err != nil {
		return "", step.AWS("ec2:DescribeSnapshots", volumeID, err)
	}
	for _, s := range out.Snapshots {
		return aws.ToString(s.SnapshotId), nil
	}
	return "", nil
}

func (m Mover) SnapshotCompleted(ctx context.Context, id string) (bool, error) {
	out, err := m.D.AWS.EC2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	if step.IsNotFound(err) {
		return false, nil // just taken: not visible yet
	}
	if err != nil {
		return false, step.AWS("ec2:DescribeSnapshots", id, err)
	}
	if len(out.Snapshots) == 0 {
		return false, nil
	}
	switch s := out.Snapshots[0]; s.State {
	case types.SnapshotStateCompleted:
		return true, nil
	case types.SnapshotStateError:
		return false, release.DataFailed{Cause: release.Causef("snapshot %s failed: %s", id, aws.ToString(s.StateMessage))}
	}
	return false, nil
}

// createVolume restores a snapshot into a new volume in the live
// instance's AZ and waits until it is available. The client token makes a
// retried call return the same volume.
func (m Mover) CreateVolume(name string, snapshotID func() string, purpose string) Run {
	return func(ctx context.Context, st *release.Step) (bool, error) {
		if st.ID == "" {
			snap := snapshotID()
			in := &ec2.CreateVolumeInput{
				AvailabilityZone:  aws.String(m.Doc.Live.AZ),
				SnapshotId:        aws.String(snap),
				VolumeType:        types.VolumeTypeGp3,
				Encrypted:         aws.Bool(true),
				ClientToken:       aws.String(release.ClientToken(m.Doc.ReleaseID, name+"-"+purpose)),
				TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: m.tags(release.RoleData, purpose)}},
			}
			if key := m.Doc.Config.KMSKeyID(); key != "" {
				// Under the configured key, which this function may use;
				// without it the snapshot's key (the data's own).
				in.KmsKeyId = aws.String(key)
			}
			if purpose == PurposeData {
				// The volume users will write to performs as the live one:
				// same type, provisioned IOPS and throughput (a gp3 copy
				// of an io2 volume would serve production at a fraction of
				// its speed).
				if err := m.likeLive(ctx, in); err != nil {
					return false, err
				}
				if r := m.Doc.Config.Data.InitializationRate; r > 0 {
					in.VolumeInitializationRate = aws.Int32(r)
				}
			}
			out, err := m.D.AWS.EC2.CreateVolume(ctx, in)
			if err != nil {
				return false, step.AWS("ec2:CreateVolume", "from "+snap, err)
			}
			st.ID, st.Started = aws.ToString(out.VolumeId), m.now()
			m.D.Did(ctx, m.Doc.ReleaseID, "ec2:CreateVolume", "volume", st.ID, "snapshot", snap, "purpose", purpose)
			return false, nil
		}
		v, err := m.Volume(ctx, st.ID)
		if err != nil || v == nil {
			return false, err
		}
		switch v.State {
		case types.VolumeStateAvailable, types.VolumeStateInUse:
			return true, nil
		case types.VolumeStateError:
			return false, release.DataFailed{Cause: release.Causef("volume %s from snapshot failed to create: EBS fails it so when it cannot use the volume's KMS key on greenlight's behalf (see encryption.kmsKeyId)", st.ID)}
		}
		return false, nil
	}
}

// likeLive gives a volume to create the live data volume's type and
// provisioned performance.
func (m Mover) likeLive(ctx context.Context, in *ec2.CreateVolumeInput) error {
	live, err := m.Volume(ctx, m.Doc.Live.DataVolumeID)
	if err != nil {
		return err
	}
	if live == nil {
		return release.DataFailed{Cause: release.Causef("the live data volume %s no longer exists", m.Doc.Live.DataVolumeID)}
	}
	if live.VolumeType != "" {
		in.VolumeType = live.VolumeType
	}
	in.Iops, in.Throughput = live.Iops, live.Throughput
	return nil
}

// deleteVolume deletes a volume once it is detached.
func (m Mover) DeleteVolume(name string, volumeID func() string) Run {
	return func(ctx context.Context, st *release.Step) (bool, error) {
		id := volumeID()
		if id == "" {
			return true, nil
		}
		v, err := m.Volume(ctx, id)
		if err != nil || v == nil {
			return v == nil && err == nil, err
		}
		switch v.State {
		case types.VolumeStateDeleting, types.VolumeStateDeleted:
			return true, nil
		case types.VolumeStateAvailable:
			if _, err := m.D.AWS.EC2.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(id)}); err != nil && !step.IsNotFound(err) {
				return false, step.AWS("ec2:DeleteVolume", id, err)
			}
			m.D.Did(ctx, m.Doc.ReleaseID, "ec2:DeleteVolume", "volume", id)
			return true, nil
		}
		return false, nil
	}
}

// Adopt tags the live instance and its data volume, which the release
// did not create, as greenlight's for this app before a cutover moves
// them (the IAM conditions on detach, delete and SendCommand then apply),
// and marks both with the cutover's intent (release.TagCutover): written
// before the maintenance page goes up, it is how a rollback finds on the
// instance itself that it must restore it.
func (m Mover) Adopt(ids ...string) Run {
	return func(ctx context.Context, st *release.Step) (bool, error) {
		_, err := m.D.AWS.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids, Tags: []types.Tag{
			{Key: aws.String(release.TagApp), Value: aws.String(m.Doc.App)},
			{Key: aws.String(release.TagManaged), Value: aws.String(release.ManagedValue)},
			{Key: aws.String(release.TagCutover), Value: aws.String(m.Doc.ReleaseID)},
		}})
		if err != nil {
			return false, step.AWS("ec2:CreateTags", strings.Join(ids, ", "), err)
		}
		return true, nil
	}
}

// AtDevice is the volume attached at the data device of an instance, or "".
func (m Mover) AtDevice(ctx context.Context, instanceID string) (string, error) {
	out, err := m.D.AWS.EC2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{instanceID}},
		{Name: aws.String("attachment.device"), Values: []string{m.Doc.Config.Data.Device}},
	}})
	if err != nil {
		return "", step.AWS("ec2:DescribeVolumes", instanceID, err)
	}
	for _, v := range out.Volumes {
		return aws.ToString(v.VolumeId), nil
	}
	return "", nil
}
