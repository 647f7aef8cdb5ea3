package candidate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

const (
	defaultCMK    = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	configuredCMK = "arn:aws:kms:eu-west-1:123456789012:key/0f0f0f0f-1111-2222-3333-444444444444"
)

// cmkAccount encrypts by default with a customer managed key and has a
// second one.
func cmkAccount() sim.Options {
	return sim.Options{Encryption: sim.Encryption{ByDefault: true, DefaultKey: defaultCMK,
		Keys: []sim.KMSKey{{ARN: defaultCMK}, {ARN: configuredCMK, Aliases: []string{"alias/shop-ebs"}}}}}
}

// TestLaunchUnderTheConfiguredKey: with encryption.kmsKeyId the root
// volume is encrypted under that key, not the account's default, and EC2
// uses it on the launch function's behalf.
func TestLaunchUnderTheConfiguredKey(t *testing.T) {
	e := steptest.New(t, "launch", cmkAccount())
	d := doc(t, e, func(c *release.Config) { c.Encryption = &release.Encryption{KMSKeyID: configuredCMK} })
	c, err := Handler{D: e.Deps}.Launch(e.Ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	calls := e.Region.CallsTo(sim.ServiceEC2, "RunInstances")
	in := calls[len(calls)-1].Input.(*ec2.RunInstancesInput)
	if ebs := in.BlockDeviceMappings[0].Ebs; !aws.ToBool(ebs.Encrypted) || aws.ToString(ebs.KmsKeyId) != configuredCMK {
		t.Errorf("root mapping %+v", ebs)
	}
	e.Region.Advance(e.Test, 5*time.Second)
	var root string
	for _, m := range e.Instance(t, c.First().InstanceID).BlockDeviceMappings {
		root = aws.ToString(m.Ebs.VolumeId)
	}
	out, err := e.Region.EC2().DescribeVolumes(e.Test, &ec2.DescribeVolumesInput{VolumeIds: []string{root}})
	if err != nil || aws.ToString(out.Volumes[0].KmsKeyId) != configuredCMK {
		t.Fatalf("root volume %s: %+v %v", root, out, err)
	}
	for _, op := range []string{"DescribeKey", "GenerateDataKeyWithoutPlaintext", "CreateGrant", "Decrypt"} {
		kc := e.Region.CallsTo(sim.ServiceKMS, op)
		if len(kc) != 1 || kc[0].Caller != "launch" || kc[0].Input.(*sim.KMSRequest).KeyID != configuredCMK {
			t.Errorf("kms:%s: %+v", op, kc)
		}
	}
}

// TestCheckSaysWhyTheLaunchFailed: EC2 may not use the key on the launch
// function's behalf (as when its role lacks the KMS permissions); the
// instance goes from pending to terminated with Client.InternalError and
// the check says so with the fix.
func TestCheckSaysWhyTheLaunchFailed(t *testing.T) {
	e := steptest.New(t, "launch", cmkAccount())
	e.Region.Inject(sim.Fault{Service: sim.ServiceKMS, Operation: "CreateGrant", Caller: "launch", Code: "AccessDeniedException", Always: true})
	d := doc(t, e, noReplacing)
	c, err := Handler{D: e.Deps}.Launch(e.Ctx, d)
	if err != nil {
		t.Fatalf("the launch call itself succeeds: %v", err)
	}
	d.Candidate = &c
	_, err = at(t, e, Handler{D: e.Deps}, &d, 90*time.Second)
	var nr release.CandidateNotReady
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "Client.InternalError: Client error on launch") ||
		!strings.Contains(err.Error(), "set encryption.kmsKeyId") {
		t.Fatalf("check: %v, want CandidateNotReady naming Client.InternalError and the fix", err)
	}
}
