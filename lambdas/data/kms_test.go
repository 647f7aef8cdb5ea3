package data

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/datamove"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

const (
	dataKey       = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	configuredKey = "arn:aws:kms:eu-west-1:123456789012:key/0f0f0f0f-1111-2222-3333-444444444444"
	missingKey    = "arn:aws:kms:eu-west-1:123456789012:key/99999999-9999-9999-9999-999999999999"
)

// TestRestoredVolumeUnderTheConfiguredKey: a volume restored from the live
// data's snapshot is created under encryption.kmsKeyId, re-encrypted from
// the data's own key; a key EBS cannot use fails the volume and the
// action says where to look.
func TestRestoredVolumeUnderTheConfiguredKey(t *testing.T) {
	for _, tc := range []struct{ key, wantErr string }{{configuredKey, ""}, {missingKey, "encryption.kmsKeyId"}} {
		e := steptest.New(t, "test-data", sim.Options{DataVolume: true, DataSnapshots: 1,
			Encryption: sim.Encryption{DefaultKey: dataKey, Keys: []sim.KMSKey{{ARN: dataKey}, {ARN: configuredKey}}}})
		cfg := e.WithData(e.Config(), release.DataRestore)
		cfg.Encryption = &release.Encryption{KMSKeyID: tc.key}
		body, err := artifact.Sample("shop", "2.0.0")
		if err != nil {
			t.Fatal(err)
		}
		m := datamove.Mover{D: e.Deps, Doc: e.Doc(t, "2.0.0", "v2", body, cfg)}
		run := m.CreateVolume("volume", func() string { return e.Fixture.DataSnapshots[0] }, datamove.PurposeTestCopy)
		st := &release.Step{}
		if _, err := run(e.Ctx, st); err != nil {
			t.Fatal(err)
		}
		calls := e.Region.CallsTo(sim.ServiceEC2, "CreateVolume")
		if in := calls[0].Input.(*ec2.CreateVolumeInput); aws.ToString(in.KmsKeyId) != tc.key || !aws.ToBool(in.Encrypted) {
			t.Errorf("CreateVolume asked for key %s encrypted %v", aws.ToString(in.KmsKeyId), aws.ToBool(in.Encrypted))
		}
		e.Region.Advance(e.Test, e.Region.Latencies().CreateVolume)
		done, err := run(e.Ctx, st)
		if tc.wantErr == "" {
			if !done || err != nil {
				t.Fatalf("volume under %s: done=%v %v", tc.key, done, err)
			}
			if c := e.Region.CallsTo(sim.ServiceKMS, "ReEncryptTo"); len(c) != 1 || c[0].Caller != "test-data" {
				t.Errorf("ReEncryptTo: %+v", c)
			}
			continue
		}
		var df release.DataFailed
		if !errors.As(err, &df) || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("volume under %s: done=%v %v, want DataFailed naming %s", tc.key, done, err, tc.wantErr)
		}
	}
}
