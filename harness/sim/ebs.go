package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Volume states and attachment states, as EC2 names them. An attachment
// is busy while detach waits for the OS to let go of a mounted device.
const (
	volCreating  = "creating"
	volAvailable = "available"
	volInUse     = "in-use"
	volError     = "error"

	attAttaching = "attaching"
	attAttached  = "attached"
	attBusy      = "busy"
	attDetaching = "detaching"
)

type volume struct {
	id, az, volumeType, snapshotID, kmsKeyID string
	size                                     int32
	iops, throughput                         int32 // provisioned; 0 for the type's baseline
	encrypted                                bool
	tags                                     tagSet
	state                                    string
	createdAt, availableAt                   time.Time
	att                                      *attachment
	caller                                   string
	// fails: its KMS key could not be used, so creating ends in the
	// error state instead of available.
	fails bool
	// writes is the volume's content: a counter of writes since it was
	// first created, carried from snapshot to restored volume. With
	// Options.Disks the store holds the content (an app may write to it
	// directly) and is read instead; Region.Write keeps both in step.
	writes int64
	// snapWrites is the count at the last snapshot in this volume's
	// lineage; -1 when there is none, so the next snapshot is full.
	snapWrites int64
}

type attachment struct {
	instanceID, device, state string
	at                        time.Time // attach time
	next                      time.Time // when attaching or detaching ends
	deleteOnTermination       bool
}

// apiState is the attachment state EC2 reports for the volume.
func (a *attachment) apiState() string { return a.state }

type snapshot struct {
	id, volumeID, description, kmsKeyID string
	sizeGiB                             int32
	encrypted                           bool
	tags                                tagSet
	start, complete                     time.Time
	writes                              int64 // the volume's count at the call
	caller                              string
}

func (s *snapshot) status(now time.Time) string {
	if now.Before(s.complete) {
		return string(ec2types.SnapshotStatePending)
	}
	return string(ec2types.SnapshotStateCompleted)
}

func (s *snapshot) progress(now time.Time) string {
	if !now.Before(s.complete) {
		return "100%"
	}
	total := s.complete.Sub(s.start)
	done := now.Sub(s.start)
	return fmt.Sprintf("%d%%", int(99*done/total))
}

type volumeSpec struct {
	az, volumeType, snapshotID, kmsKeyID string
	size, iops, throughput               int32
	encrypted                            bool
	tags                                 tagSet
	caller                               string
}

// newVolume creates a volume, creating until Latencies.CreateVolume has
// passed. A volume restored from a snapshot starts with the snapshot's
// content. An error is the content store's; the volume is then not made.
// Called with r.mu held.
func (r *Region) newVolume(spec volumeSpec) (*volume, error) {
	now := r.now()
	v := &volume{
		id: r.hexID("vol"), az: spec.az, volumeType: spec.volumeType, snapshotID: spec.snapshotID, iops: spec.iops, throughput: spec.throughput,
		kmsKeyID: spec.kmsKeyID, size: spec.size, encrypted: spec.encrypted, tags: spec.tags,
		state: volCreating, createdAt: now, availableAt: now.Add(r.lat.CreateVolume),
		caller: spec.caller, snapWrites: -1,
	}
	if v.tags == nil {
		v.tags = tagSet{}
	}
	s, restored := r.snapshots[spec.snapshotID]
	if restored {
		v.writes, v.snapWrites = s.writes, s.writes
	}
	if d := r.opts.Disks; d != nil {
		var err error
		if restored {
			err = d.Restore(v.id, s.id)
		} else {
			err = d.Empty(v.id)
		}
		if err != nil {
			return nil, fmt.Errorf("content of volume %s: %w", v.id, err)
		}
	}
	if v.volumeType == "" {
		v.volumeType = string(ec2types.VolumeTypeGp2)
	}
	if v.encrypted && v.kmsKeyID == "" {
		v.kmsKeyID = r.defaultKey()
	}
	r.volumes[v.id] = v
	r.volumeOrder = append(r.volumeOrder, v.id)
	return v, nil
}

// deleteVolume deletes a volume and its content; when the content store
// fails the volume stays. Called with r.mu held.
func (r *Region) deleteVolume(id string) error {
	if d := r.opts.Disks; d != nil {
		if err := d.DeleteVolume(id); err != nil {
			return fmt.Errorf("content of volume %s: %w", id, err)
		}
	}
	delete(r.volumes, id)
	return nil
}

// storeError is an AWS call failing because the content store did: AWS's
// own fault, a 500, rather than content that silently diverges.
func storeError(err error) error {
	return apiErrorf(ServiceEC2, "InternalError", "An internal error has occurred (%v)", err)
}

func (r *Region) describeVolume(v *volume) ec2types.Volume {
	out := ec2types.Volume{
		VolumeId:         aws.String(v.id),
		AvailabilityZone: aws.String(v.az),
		Size:             aws.Int32(v.size),
		VolumeType:       ec2types.VolumeType(v.volumeType),
		State:            ec2types.VolumeState(v.state),
		CreateTime:       aws.Time(v.createdAt),
		Encrypted:        aws.Bool(v.encrypted),
		Tags:             v.tags.ec2(),
	}
	if v.snapshotID != "" {
		out.SnapshotId = aws.String(v.snapshotID)
	}
	if v.kmsKeyID != "" {
		out.KmsKeyId = aws.String(v.kmsKeyID)
	}
	if v.iops > 0 {
		out.Iops = aws.Int32(v.iops)
	}
	if v.throughput > 0 {
		out.Throughput = aws.Int32(v.throughput)
	}
	if a := v.att; a != nil {
		out.Attachments = []ec2types.VolumeAttachment{r.describeAttachment(v)}
	}
	return out
}

func (r *Region) describeAttachment(v *volume) ec2types.VolumeAttachment {
	a := v.att
	return ec2types.VolumeAttachment{
		VolumeId: aws.String(v.id), InstanceId: aws.String(a.instanceID), Device: aws.String(a.device),
		State: ec2types.VolumeAttachmentState(a.apiState()), AttachTime: aws.Time(a.at),
		DeleteOnTermination: aws.Bool(a.deleteOnTermination),
	}
}

// CreateVolume creates a volume in an AZ, empty or from a completed
// snapshot, available after Latencies.CreateVolume. A repeated
// ClientToken returns the volume it created. It is encrypted under the
// key it names, else its snapshot's, else (asked for or by default) the
// default key; a customer managed key is used on the caller's behalf
// (useKey), and one that cannot be used leaves the volume in the error
// state.
func (e *EC2) CreateVolume(ctx context.Context, in *ec2.CreateVolumeInput, _ ...func(*ec2.Options)) (*ec2.CreateVolumeOutput, error) {
	return call(ctx, e.r, ServiceEC2, "CreateVolume", in, func(caller string) (*ec2.CreateVolumeOutput, error) {
		r := e.r
		// "If you repeat a request with the same client token but one or
		// more of the parameters are different, [EC2] returns an
		// IdempotentParameterMismatch error"; the same request returns
		// the same volume, whatever became of it since ("Ensuring
		// idempotency in Amazon EC2 API requests", ec2/latest/devguide/
		// ec2-api-idempotency.html). A token is never good for a second
		// volume.
		token := aws.ToString(in.ClientToken)
		c := *in
		c.ClientToken = nil
		fp := requestFingerprint(c)
		if use, ok := r.volumeTokens[token]; ok && token != "" {
			if use.fingerprint != fp {
				return nil, apiError(ServiceEC2, "IdempotentParameterMismatch", "The request uses the same client token as a previous, but non-identical request. Do not reuse a client token with different requests, unless the requests are identical.")
			}
			if v, ok := r.volumes[use.id]; ok {
				return createVolumeOutput(r.describeVolume(v)), nil
			}
			return &ec2.CreateVolumeOutput{VolumeId: aws.String(use.id), State: ec2types.VolumeStateDeleted}, nil
		}
		az := aws.ToString(in.AvailabilityZone)
		if az == "" {
			return nil, apiError(ServiceEC2, "MissingParameter", "The request must contain the parameter AvailabilityZone")
		}
		if !r.knownAZ(az) {
			return nil, apiErrorf(ServiceEC2, "InvalidParameterValue", "Invalid availability zone: [%s]", az)
		}
		if in.KmsKeyId != nil && !aws.ToBool(in.Encrypted) {
			return nil, apiError(ServiceEC2, "InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")
		}
		spec := volumeSpec{az: az, volumeType: string(in.VolumeType), size: aws.ToInt32(in.Size), iops: aws.ToInt32(in.Iops), throughput: aws.ToInt32(in.Throughput), caller: caller}
		var src *snapshot
		if id := aws.ToString(in.SnapshotId); id != "" {
			s, ok := r.snapshots[id]
			if !ok {
				return nil, apiErrorf(ServiceEC2, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
			}
			if s.status(r.now()) != string(ec2types.SnapshotStateCompleted) {
				return nil, apiError(ServiceEC2, "IncorrectState", "Snapshot is in invalid state - pending")
			}
			if spec.size == 0 {
				spec.size = s.sizeGiB
			}
			if spec.size < s.sizeGiB {
				return nil, apiErrorf(ServiceEC2, "InvalidParameterValue", "Volume of %dGiB is too small; minimum is %dGiB.", spec.size, s.sizeGiB)
			}
			spec.snapshotID, src = id, s
		}
		spec.encrypted, spec.kmsKeyID = r.volumeKey(aws.ToBool(in.Encrypted), aws.ToString(in.KmsKeyId), src)
		if spec.size == 0 {
			return nil, apiError(ServiceEC2, "MissingParameter", "The request must contain the parameter size/snapshot")
		}
		tags, err := tagsFor(in.TagSpecifications, ec2types.ResourceTypeVolume, ec2types.ResourceTypeVolume)
		if err != nil {
			return nil, err
		}
		spec.tags = tags
		v, err := r.newVolume(spec)
		if err != nil {
			return nil, storeError(err)
		}
		if !r.useKey(caller, "CreateVolume", keyUse{key: v.kmsKeyID, from: sourceKey(src), volumeID: v.id, create: true}) {
			v.fails = true
		}
		if token != "" {
			r.volumeTokens[token] = tokenUse{id: v.id, fingerprint: fp}
		}
		return createVolumeOutput(r.describeVolume(v)), nil
	})
}

// tokenUse is what a client token was first used for.
type tokenUse struct{ id, fingerprint string }

// sourceKey is the key a snapshot is encrypted under, "" for none.
func sourceKey(s *snapshot) string {
	if s == nil || !s.encrypted {
		return ""
	}
	return s.kmsKeyID
}

func createVolumeOutput(v ec2types.Volume) *ec2.CreateVolumeOutput {
	return &ec2.CreateVolumeOutput{
		VolumeId: v.VolumeId, AvailabilityZone: v.AvailabilityZone, Size: v.Size, VolumeType: v.VolumeType,
		State: v.State, CreateTime: v.CreateTime, Encrypted: v.Encrypted, KmsKeyId: v.KmsKeyId,
		SnapshotId: v.SnapshotId, Tags: v.Tags, Attachments: v.Attachments,
	}
}

func (r *Region) knownAZ(az string) bool {
	for _, s := range r.subnets {
		if s.az == az {
			return true
		}
	}
	return false
}

// lookupVolume finds a volume by id, as EC2 answers for one that is not.
func (r *Region) lookupVolume(id string) (*volume, error) {
	if !validID(id, "vol") {
		return nil, malformed("InvalidVolumeID.Malformed", id, "vol")
	}
	v, ok := r.volumes[id]
	if !ok {
		return nil, apiErrorf(ServiceEC2, "InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
	}
	return v, nil
}

// AttachVolume attaches an available volume to a running or stopped
// instance in the same AZ: attaching, attached after
// Latencies.AttachVolume. A volume under a customer managed key has EC2
// use the key on the caller's behalf (useKey).
func (e *EC2) AttachVolume(ctx context.Context, in *ec2.AttachVolumeInput, _ ...func(*ec2.Options)) (*ec2.AttachVolumeOutput, error) {
	return call(ctx, e.r, ServiceEC2, "AttachVolume", in, func(caller string) (*ec2.AttachVolumeOutput, error) {
		r := e.r
		if m := missing(map[string]bool{"Device": in.Device != nil, "InstanceId": in.InstanceId != nil, "VolumeId": in.VolumeId != nil}); len(m) > 0 {
			return nil, paramRequired("AttachVolumeInput", m...)
		}
		v, err := r.lookupVolume(*in.VolumeId)
		if err != nil {
			return nil, err
		}
		list, err := r.lookupInstances([]string{*in.InstanceId})
		if err != nil {
			return nil, err
		}
		i, dev := list[0], *in.Device
		switch {
		case v.az != i.az:
			return nil, apiErrorf(ServiceEC2, "InvalidVolume.ZoneMismatch", "The volume '%s' is not in the same availability zone as instance '%s'", v.id, i.id)
		case v.att != nil:
			return nil, apiErrorf(ServiceEC2, "VolumeInUse", "%s is already attached to an instance", v.id)
		case v.state != volAvailable:
			return nil, apiErrorf(ServiceEC2, "IncorrectState", "%s is not 'available'.", v.id)
		case i.state != stateRunning && i.state != stateStopped:
			return nil, apiErrorf(ServiceEC2, "IncorrectState", "Instance '%s' is not 'running'.", i.id)
		case i.devices[dev] != "":
			return nil, apiErrorf(ServiceEC2, "InvalidParameterValue", "Invalid value '%s' for unixDevice. Attachment point %s is already in use", dev, dev)
		}
		now := r.now()
		v.state = volInUse
		v.att = &attachment{instanceID: i.id, device: dev, state: attAttaching, at: now, next: now.Add(r.lat.AttachVolume)}
		i.devices[dev] = v.id
		r.useKey(caller, "AttachVolume", keyUse{key: v.kmsKeyID, volumeID: v.id, attach: true})
		a := r.describeAttachment(v)
		return &ec2.AttachVolumeOutput{VolumeId: a.VolumeId, InstanceId: a.InstanceId, Device: a.Device, State: a.State,
			AttachTime: a.AttachTime, DeleteOnTermination: a.DeleteOnTermination}, nil
	})
}

// DetachVolume detaches a volume: detaching, then available after
// Latencies.DetachVolume. While the volume is mounted on a running
// instance the attachment stays busy until it is unmounted, unless Force
// is set, as the OS holds the device.
func (e *EC2) DetachVolume(ctx context.Context, in *ec2.DetachVolumeInput, _ ...func(*ec2.Options)) (*ec2.DetachVolumeOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DetachVolume", in, func(string) (*ec2.DetachVolumeOutput, error) {
		r := e.r
		if in.VolumeId == nil {
			return nil, paramRequired("DetachVolumeInput", "VolumeId")
		}
		v, err := r.lookupVolume(*in.VolumeId)
		if err != nil {
			return nil, err
		}
		if v.att == nil {
			return nil, apiErrorf(ServiceEC2, "IncorrectState", "Volume '%s' is in the '%s' state.", v.id, v.state)
		}
		a := v.att
		if id := aws.ToString(in.InstanceId); id != "" && id != a.instanceID {
			return nil, apiErrorf(ServiceEC2, "InvalidAttachment.NotFound", "The volume '%s' is not attached to instance '%s'", v.id, id)
		}
		if dev := aws.ToString(in.Device); dev != "" && dev != a.device {
			return nil, apiErrorf(ServiceEC2, "InvalidAttachment.NotFound", "The volume '%s' is not attached to instance '%s' as device '%s'", v.id, a.instanceID, dev)
		}
		i := r.instances[a.instanceID]
		if a.device == i.rootDevice && (i.state == stateRunning || i.state == statePending) {
			return nil, apiErrorf(ServiceEC2, "OperationNotPermitted", "Unable to detach root volume '%s' from instance '%s'", v.id, i.id)
		}
		if a.state != attDetaching && a.state != attBusy {
			r.startDetach(v, i, aws.ToBool(in.Force))
		} else if aws.ToBool(in.Force) && a.state == attBusy {
			r.startDetach(v, i, true)
		}
		out := r.describeAttachment(v)
		return &ec2.DetachVolumeOutput{VolumeId: out.VolumeId, InstanceId: out.InstanceId, Device: out.Device, State: out.State,
			AttachTime: out.AttachTime, DeleteOnTermination: out.DeleteOnTermination}, nil
	})
}

// startDetach begins a detach; a mounted volume on a running OS waits,
// busy, for the unmount. Called with r.mu held.
func (r *Region) startDetach(v *volume, i *instance, force bool) {
	mounted := i.app.MountedVolume == v.id && i.state == stateRunning
	if mounted && !force {
		v.att.state, v.att.next = attBusy, time.Time{}
		return
	}
	if mounted {
		// A forced detach pulls the device from under the filesystem:
		// the app loses its data volume.
		i.app.MountedVolume, i.app.MountPoint = "", ""
	}
	v.att.state, v.att.next = attDetaching, r.now().Add(r.lat.DetachVolume)
}

// attachmentTransition ends attaching or detaching. Called from settle.
func (r *Region) attachmentTransition(v *volume) {
	a := v.att
	a.next = time.Time{}
	switch a.state {
	case attAttaching:
		a.state = attAttached
	case attDetaching:
		if i := r.instances[a.instanceID]; i != nil {
			delete(i.devices, a.device)
			// Detached under a stopped OS: the mount is gone too.
			if i.app.MountedVolume == v.id {
				i.app.MountedVolume, i.app.MountPoint = "", ""
			}
		}
		v.att, v.state = nil, volAvailable
	}
}

// DeleteVolume deletes an available volume, or one that failed to create.
func (e *EC2) DeleteVolume(ctx context.Context, in *ec2.DeleteVolumeInput, _ ...func(*ec2.Options)) (*ec2.DeleteVolumeOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DeleteVolume", in, func(string) (*ec2.DeleteVolumeOutput, error) {
		r := e.r
		if in.VolumeId == nil {
			return nil, paramRequired("DeleteVolumeInput", "VolumeId")
		}
		v, err := r.lookupVolume(*in.VolumeId)
		if err != nil {
			return nil, err
		}
		if v.att != nil {
			return nil, apiErrorf(ServiceEC2, "VolumeInUse", "Volume %s is currently attached to %s", v.id, v.att.instanceID)
		}
		if v.state != volAvailable && v.state != volError {
			return nil, apiErrorf(ServiceEC2, "IncorrectState", "The volume '%s' is not in a state to be deleted.", v.id)
		}
		if err := r.deleteVolume(v.id); err != nil {
			return nil, storeError(err)
		}
		return &ec2.DeleteVolumeOutput{}, nil
	})
}

// DescribeVolumes lists volumes by id and filters (volume-id, status,
// availability-zone, attachment.instance-id, attachment.device,
// attachment.status, snapshot-id, tag:<key>, tag-key).
func (e *EC2) DescribeVolumes(ctx context.Context, in *ec2.DescribeVolumesInput, _ ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DescribeVolumes", in, func(string) (*ec2.DescribeVolumesOutput, error) {
		r := e.r
		var list []*volume
		if len(in.VolumeIds) > 0 {
			var unknown []string
			for _, id := range in.VolumeIds {
				v, err := r.lookupVolume(id)
				if err != nil {
					if ErrorCode(err) != "InvalidVolume.NotFound" {
						return nil, err
					}
					unknown = append(unknown, id)
					continue
				}
				list = append(list, v)
			}
			if len(unknown) == 1 {
				return nil, apiErrorf(ServiceEC2, "InvalidVolume.NotFound", "The volume '%s' does not exist.", unknown[0])
			}
			if len(unknown) > 1 {
				return nil, apiError(ServiceEC2, "InvalidVolume.NotFound", notFoundList("volume", unknown))
			}
		} else {
			for _, id := range r.volumeOrder {
				if v, ok := r.volumes[id]; ok {
					list = append(list, v)
				}
			}
		}
		out := &ec2.DescribeVolumesOutput{}
		for _, v := range list {
			ok, err := matches(in.Filters, v.tags, func(name string) ([]string, bool) {
				var a attachment
				if v.att != nil {
					a = *v.att
				}
				switch name {
				case "volume-id":
					return one(v.id)
				case "status":
					return one(v.state)
				case "availability-zone":
					return one(v.az)
				case "snapshot-id":
					return one(v.snapshotID)
				case "volume-type":
					return one(v.volumeType)
				case "encrypted":
					return one(fmt.Sprint(v.encrypted))
				case "attachment.instance-id":
					return one(a.instanceID)
				case "attachment.device":
					return one(a.device)
				case "attachment.status":
					return one(a.state)
				case "attachment.delete-on-termination":
					if v.att == nil {
						return nil, true
					}
					return one(fmt.Sprint(a.deleteOnTermination))
				}
				return nil, false
			})
			if err != nil {
				return nil, err
			}
			if ok {
				out.Volumes = append(out.Volumes, r.describeVolume(v))
			}
		}
		return out, nil
	})
}

// CreateSnapshot snapshots a volume. The content is fixed at the call;
// the snapshot is pending for Latencies.SnapshotBase plus the changed
// data (all of it for a volume's first snapshot) at
// Latencies.SnapshotBytesPerSecond.
func (e *EC2) CreateSnapshot(ctx context.Context, in *ec2.CreateSnapshotInput, _ ...func(*ec2.Options)) (*ec2.CreateSnapshotOutput, error) {
	return call(ctx, e.r, ServiceEC2, "CreateSnapshot", in, func(caller string) (*ec2.CreateSnapshotOutput, error) {
		r := e.r
		if in.VolumeId == nil {
			return nil, paramRequired("CreateSnapshotInput", "VolumeId")
		}
		v, err := r.lookupVolume(*in.VolumeId)
		if err != nil {
			return nil, err
		}
		if v.state == volCreating {
			return nil, apiErrorf(ServiceEC2, "IncorrectState", "The volume '%s' is not in a state to be snapshotted.", v.id)
		}
		tags, err := tagsFor(in.TagSpecifications, ec2types.ResourceTypeSnapshot, ec2types.ResourceTypeSnapshot)
		if err != nil {
			return nil, err
		}
		s, err := r.newSnapshot(v, aws.ToString(in.Description), tags, caller, r.now())
		if err != nil {
			return nil, storeError(err)
		}
		return createSnapshotOutput(r.describeSnapshot(s)), nil
	})
}

// newSnapshot records a snapshot of v taken at t. An error is the
// content store's; the snapshot is then not made. Called with r.mu held.
func (r *Region) newSnapshot(v *volume, description string, tags tagSet, caller string, t time.Time) (*snapshot, error) {
	id := r.hexID("snap")
	writes := v.writes
	if d := r.opts.Disks; d != nil {
		// The content is copied now, at the call: "The snapshot includes
		// only the data that was written to the volume at the time the
		// snapshot was requested" (ebs/latest/userguide/
		// ebs-creating-snapshot.html). What is written while it is
		// pending is not in it.
		if err := d.Snapshot(id, v.id); err != nil {
			return nil, fmt.Errorf("content of snapshot %s of %s: %w", id, v.id, err)
		}
		// The copy's count, not the live volume's, which an app may
		// have added to since.
		n, err := d.SnapshotWrites(id)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("content of snapshot %s: %w", id, err), d.DeleteSnapshot(id))
		}
		writes = n
	}
	changed := int64(v.size) << 30
	if v.snapWrites >= 0 {
		changed = (writes - v.snapWrites) * r.lat.BytesPerWrite
	}
	s := &snapshot{
		id: id, volumeID: v.id, description: description, kmsKeyID: v.kmsKeyID,
		sizeGiB: v.size, encrypted: v.encrypted, tags: tags, start: t,
		complete: t.Add(r.lat.snapshotDuration(changed)), writes: writes, caller: caller,
	}
	if s.tags == nil {
		s.tags = tagSet{}
	}
	v.snapWrites = writes
	r.snapshots[s.id] = s
	r.snapshotOrder = append(r.snapshotOrder, s.id)
	return s, nil
}

func (r *Region) describeSnapshot(s *snapshot) ec2types.Snapshot {
	now := r.now()
	out := ec2types.Snapshot{
		SnapshotId: aws.String(s.id), VolumeId: aws.String(s.volumeID), VolumeSize: aws.Int32(s.sizeGiB),
		State: ec2types.SnapshotState(s.status(now)), Progress: aws.String(s.progress(now)),
		StartTime: aws.Time(s.start), Encrypted: aws.Bool(s.encrypted), OwnerId: aws.String(r.opts.Account),
		Description: aws.String(s.description), Tags: s.tags.ec2(),
		StorageTier: ec2types.StorageTierStandard,
	}
	if s.kmsKeyID != "" {
		out.KmsKeyId = aws.String(s.kmsKeyID)
	}
	if !now.Before(s.complete) {
		out.CompletionTime = aws.Time(s.complete)
	}
	return out
}

func createSnapshotOutput(s ec2types.Snapshot) *ec2.CreateSnapshotOutput {
	return &ec2.CreateSnapshotOutput{
		SnapshotId: s.SnapshotId, VolumeId: s.VolumeId, VolumeSize: s.VolumeSize, State: s.State,
		Progress: s.Progress, StartTime: s.StartTime, Encrypted: s.Encrypted, OwnerId: s.OwnerId,
		Description: s.Description, Tags: s.Tags, KmsKeyId: s.KmsKeyId, StorageTier: s.StorageTier,
	}
}

// DescribeSnapshots lists the account's snapshots by id and filters
// (snapshot-id, volume-id, status, tag:<key>, tag-key), oldest first.
func (e *EC2) DescribeSnapshots(ctx context.Context, in *ec2.DescribeSnapshotsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DescribeSnapshots", in, func(string) (*ec2.DescribeSnapshotsOutput, error) {
		r := e.r
		ids := in.SnapshotIds
		if len(ids) == 0 {
			ids = r.snapshotOrder
		}
		out := &ec2.DescribeSnapshotsOutput{}
		now := r.now()
		for _, id := range ids {
			s, ok := r.snapshots[id]
			if !ok {
				if len(in.SnapshotIds) == 0 {
					continue // deleted
				}
				if !validID(id, "snap") {
					return nil, malformed("InvalidSnapshotID.Malformed", id, "snap")
				}
				return nil, apiErrorf(ServiceEC2, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
			}
			ok, err := matches(in.Filters, s.tags, func(name string) ([]string, bool) {
				switch name {
				case "snapshot-id":
					return one(s.id)
				case "volume-id":
					return one(s.volumeID)
				case "status":
					return one(s.status(now))
				case "owner-id":
					return one(r.opts.Account)
				case "progress":
					return one(s.progress(now))
				case "encrypted":
					return one(fmt.Sprint(s.encrypted))
				case "description":
					return one(s.description)
				}
				return nil, false
			})
			if err != nil {
				return nil, err
			}
			if ok {
				out.Snapshots = append(out.Snapshots, r.describeSnapshot(s))
			}
		}
		return out, nil
	})
}

// DeleteSnapshot deletes a snapshot that no AMI uses.
func (e *EC2) DeleteSnapshot(ctx context.Context, in *ec2.DeleteSnapshotInput, _ ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DeleteSnapshot", in, func(string) (*ec2.DeleteSnapshotOutput, error) {
		r := e.r
		if in.SnapshotId == nil {
			return nil, paramRequired("DeleteSnapshotInput", "SnapshotId")
		}
		id := *in.SnapshotId
		if _, ok := r.snapshots[id]; !ok {
			if !validID(id, "snap") {
				return nil, malformed("InvalidSnapshotID.Malformed", id, "snap")
			}
			return nil, apiErrorf(ServiceEC2, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
		}
		for _, img := range r.images {
			if img.snapshotID == id {
				return nil, apiErrorf(ServiceEC2, "InvalidSnapshot.InUse", "The snapshot %s is currently in use by %s", id, img.id)
			}
		}
		if d := r.opts.Disks; d != nil {
			if err := d.DeleteSnapshot(id); err != nil {
				return nil, storeError(fmt.Errorf("content of snapshot %s: %w", id, err))
			}
		}
		delete(r.snapshots, id)
		return &ec2.DeleteSnapshotOutput{}, nil
	})
}
