package sim

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

const (
	testKey   = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	otherKey  = "arn:aws:kms:eu-west-1:123456789012:key/0f0f0f0f-1111-2222-3333-444444444444"
	testAlias = "alias/shop-ebs"
)

// cmkRegion is an account whose default EBS key is a customer managed key,
// with encryption by default on.
func cmkRegion(t *testing.T, opts Options) *Region {
	opts.Encryption = Encryption{ByDefault: true, DefaultKey: testKey,
		Keys: []KMSKey{{ARN: testKey, Aliases: []string{testAlias}}, {ARN: otherKey}}}
	return NewTest(t, opts)
}

// kmsCalls lists the KMS calls recorded from n on as "Operation key" lines.
func kmsCalls(r *Region, from int) []string {
	var out []string
	for _, c := range r.Calls()[from:] {
		if c.Service == ServiceKMS {
			out = append(out, c.Operation+" "+c.Input.(*KMSRequest).KeyID)
		}
	}
	return out
}

func TestEBSDefaultKey(t *testing.T) {
	ctx := testCtx()
	r := cmkRegion(t, Options{})
	byDefault, err := r.EC2().GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
	wantCode(t, err, "")
	key, err := r.EC2().GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})
	wantCode(t, err, "")
	if !aws.ToBool(byDefault.EbsEncryptionByDefault) || aws.ToString(key.KmsKeyId) != testKey {
		t.Fatalf("encryption by default %v, default key %s", aws.ToBool(byDefault.EbsEncryptionByDefault), aws.ToString(key.KmsKeyId))
	}

	// Without a key nor Encrypted, encryption by default puts a new
	// volume under the default key, which EBS uses as the caller.
	n := len(r.Calls())
	id := createVolume(t, r, r.Fixture().LiveAZ, "")
	if v := volumeOf(t, r, id); !aws.ToBool(v.Encrypted) || aws.ToString(v.KmsKeyId) != testKey {
		t.Fatalf("volume encrypted=%v key=%s, want the default key", aws.ToBool(v.Encrypted), aws.ToString(v.KmsKeyId))
	}
	want := []string{"DescribeKey " + testKey, "GenerateDataKeyWithoutPlaintext " + testKey}
	if got := kmsCalls(r, n); !slices.Equal(got, want) {
		t.Fatalf("KMS calls %q, want %q", got, want)
	}
	c := r.Calls()[n+1]
	in := c.Input.(*KMSRequest)
	if c.Caller != "test" || in.ViaService != "ec2.eu-west-1.amazonaws.com" || in.CallerAccount != "123456789012" || in.For != "CreateVolume" ||
		in.EncryptionContext["aws:ebs:id"] != id || !slices.Equal(in.ResourceAliases, []string{testAlias}) || in.GrantIsForAWSResource {
		t.Errorf("recorded %+v %+v", c, in)
	}

	// The account that kept the AWS managed key: no KMS call is recorded
	// (its key policy allows the account's principals through EC2).
	plain := NewTest(t, Options{DataVolume: true, DataSnapshots: 1})
	key, _ = plain.EC2().GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})
	if k := aws.ToString(key.KmsKeyId); !IsAWSManagedEBSKey(k) {
		t.Errorf("default key %s, want the AWS managed key", k)
	}
	enc := true
	out, err := plain.EC2().CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(plain.Fixture().LiveAZ), Size: aws.Int32(1), Encrypted: &enc})
	wantCode(t, err, "")
	if v := volumeOf(t, plain, aws.ToString(out.VolumeId)); !IsAWSManagedEBSKey(aws.ToString(v.KmsKeyId)) {
		t.Errorf("volume key %s", aws.ToString(v.KmsKeyId))
	}
	if got := kmsCalls(plain, 0); len(got) != 0 {
		t.Errorf("KMS calls with the AWS managed key: %q", got)
	}
}

func TestLaunchUnderCustomerKey(t *testing.T) {
	ctx := testCtx()
	r := cmkRegion(t, Options{})
	n := len(r.Calls())
	id := runInstance(t, r, r.Fixture().LiveAZ)
	root := volumeOf(t, r, r.RootVolume(t, id))
	if aws.ToString(root.KmsKeyId) != testKey {
		t.Fatalf("root volume key %s", aws.ToString(root.KmsKeyId))
	}
	// The launch creates the root volume under the key and attaches it:
	// a new data key, then EC2's grant and the data key's decryption.
	want := []string{"DescribeKey " + testKey, "GenerateDataKeyWithoutPlaintext " + testKey, "CreateGrant " + testKey, "Decrypt " + testKey}
	if got := kmsCalls(r, n); !slices.Equal(got, want) {
		t.Fatalf("KMS calls %q, want %q", got, want)
	}
	if c := r.Calls()[n]; c.Operation != "RunInstances" {
		t.Errorf("first call %s, want RunInstances before the KMS calls it made", c.Operation)
	}
	grant := r.CallsTo(ServiceKMS, "CreateGrant")[0].Input.(*KMSRequest)
	if !grant.GrantIsForAWSResource || grant.For != "RunInstances" {
		t.Errorf("grant %+v", grant)
	}
	r.Advance(ctx, r.Latencies().PendingToRunning)
	if st := describe(t, r, id).State.Name; st != ec2types.InstanceStateNameRunning {
		t.Fatalf("instance %s, want running", st)
	}

	// A named key overrides the default; restoring data under another
	// key re-encrypts the data key from the snapshot's key to it.
	r2 := cmkRegion(t, Options{DataVolume: true, DataSnapshots: 1})
	f := r2.Fixture()
	n = len(r2.Calls())
	enc := true
	out, err := r2.EC2().CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(f.LiveAZ), SnapshotId: aws.String(f.DataSnapshots[0]),
		Encrypted: &enc, KmsKeyId: aws.String(otherKey)})
	wantCode(t, err, "")
	want = []string{"ReEncryptFrom " + testKey, "DescribeKey " + otherKey, "ReEncryptTo " + otherKey}
	if got := kmsCalls(r2, n); !slices.Equal(got, want) {
		t.Fatalf("KMS calls %q, want %q", got, want)
	}
	// Attaching it makes EC2 use the key, as the attaching caller.
	r2.Advance(ctx, r2.Latencies().CreateVolume)
	n = len(r2.Calls())
	_, err = r2.EC2().AttachVolume(WithCaller(context.Background(), "test-data"), &ec2.AttachVolumeInput{VolumeId: out.VolumeId, InstanceId: aws.String(f.LiveInstance), Device: aws.String("/dev/sdg")})
	wantCode(t, err, "")
	want = []string{"CreateGrant " + otherKey, "Decrypt " + otherKey}
	if got := kmsCalls(r2, n); !slices.Equal(got, want) {
		t.Fatalf("KMS calls %q, want %q", got, want)
	}
	if c := r2.CallsTo(ServiceKMS, "Decrypt"); c[len(c)-1].Caller != "test-data" {
		t.Errorf("Decrypt attributed to %q", c[len(c)-1].Caller)
	}
}

// TestKeyNotUsable: EC2 accepts the call, then the launch or the volume
// fails, when the key is refused to the caller, disabled or unknown.
func TestKeyNotUsable(t *testing.T) {
	ctx := testCtx()
	for _, tc := range []struct {
		name  string
		setup func(*Options)
		fault bool
	}{
		{"refused", func(*Options) {}, true},
		{"disabled", func(o *Options) { o.Encryption.Keys[0].Disabled = true }, false},
		{"unknown", func(o *Options) { o.Encryption.Keys = nil; o.Encryption.DefaultKey = "" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Encryption: Encryption{DefaultKey: testKey, Keys: []KMSKey{{ARN: testKey}}}}
			tc.setup(&opts)
			r := NewTest(t, opts)
			if tc.fault {
				r.Inject(Fault{Service: ServiceKMS, Operation: "CreateGrant", Code: "AccessDeniedException", Always: true,
					Message: fmt.Sprintf("User: test is not authorized to perform: kms:CreateGrant on resource: %s", testKey)})
			}
			az := r.Fixture().LiveAZ
			out, err := r.EC2().RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(r.Fixture().AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
				Placement: &ec2types.Placement{AvailabilityZone: aws.String(az)},
				BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
					Ebs: &ec2types.EbsBlockDevice{Encrypted: aws.Bool(true), KmsKeyId: aws.String(testKey)}}}})
			wantCode(t, err, "")
			id := aws.ToString(out.Instances[0].InstanceId)
			root := r.RootVolume(t, id)
			r.Advance(ctx, r.Latencies().InstanceNotFound)
			if st := describe(t, r, id).State.Name; st != ec2types.InstanceStateNamePending {
				t.Fatalf("right after the launch: %s, want pending", st)
			}
			r.Advance(ctx, r.Latencies().PendingToRunning-r.Latencies().InstanceNotFound)
			i := describe(t, r, id)
			if i.State.Name != ec2types.InstanceStateNameShuttingDown || aws.ToString(i.StateReason.Code) != "Client.InternalError" ||
				aws.ToString(i.StateReason.Message) != "Client.InternalError: Client error on launch" {
				t.Fatalf("after %s: %s %+v, want shutting-down with Client.InternalError", r.Latencies().PendingToRunning, i.State.Name, i.StateReason)
			}
			r.Advance(ctx, r.Latencies().ShuttingDownToTerminated)
			if st := describe(t, r, id).State.Name; st != ec2types.InstanceStateNameTerminated {
				t.Fatalf("then %s, want terminated", st)
			}
			if _, err := r.EC2().DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{root}}); ErrorCode(err) != "InvalidVolume.NotFound" {
				t.Errorf("root volume still there: %v", err)
			}
			if tc.fault {
				if c := r.CallsTo(ServiceKMS, "CreateGrant"); len(c) != 1 || c[0].Code != "AccessDeniedException" {
					t.Errorf("refused grant recorded as %+v", c)
				}
			}

			// A volume under it: created, then in the error state, and
			// deletable.
			v, err := r.EC2().CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(az), Size: aws.Int32(1),
				Encrypted: aws.Bool(true), KmsKeyId: aws.String(testKey)})
			wantCode(t, err, "")
			if tc.fault {
				// CreateVolume makes no grant: the key is usable for it.
				return
			}
			r.Advance(ctx, r.Latencies().CreateVolume)
			if st := volumeOf(t, r, aws.ToString(v.VolumeId)).State; st != ec2types.VolumeStateError {
				t.Fatalf("volume %s, want error", st)
			}
			_, err = r.EC2().DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: v.VolumeId})
			wantCode(t, err, "")
		})
	}
}

func TestKeyByAlias(t *testing.T) {
	ctx := testCtx()
	r := cmkRegion(t, Options{})
	az := r.Fixture().LiveAZ
	for _, id := range []string{testAlias, "arn:aws:kms:eu-west-1:123456789012:" + testAlias, "1234abcd-12ab-34cd-56ef-1234567890ab"} {
		out, err := r.EC2().CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(az), Size: aws.Int32(1), Encrypted: aws.Bool(true), KmsKeyId: aws.String(id)})
		wantCode(t, err, "")
		if got := aws.ToString(out.KmsKeyId); got != testKey {
			t.Errorf("KmsKeyId %s: volume under %s, want %s", id, got, testKey)
		}
	}
	_, err := r.EC2().CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(az), Size: aws.Int32(1), KmsKeyId: aws.String(testKey)})
	wantCode(t, err, "InvalidParameterDependency")
}
