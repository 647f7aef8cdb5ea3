package data

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/datamove"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

// TestServingVolumePerformsAsTheLiveOne: the volume restore mode creates
// for users to write to has the live volume's type, provisioned IOPS and
// throughput, and is initialized at data.initializationRate when given;
// the test copy stays a baseline gp3 (nobody serves from it).
func TestServingVolumePerformsAsTheLiveOne(t *testing.T) {
	e := steptest.New(t, "cutover", sim.Options{DataVolume: true, DataSnapshots: 1, DataVolumeType: "io2", DataIOPS: 6000})
	body, err := artifact.Sample("shop", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.WithData(e.Config(), release.DataRestore)
	cfg.Data.InitializationRate = 200
	m := datamove.Mover{D: e.Deps, Doc: e.Doc(t, "2.0.0", "v2", body, cfg)}
	for _, c := range []struct {
		purpose    string
		typ        types.VolumeType
		iops, rate int32
	}{{datamove.PurposeData, types.VolumeTypeIo2, 6000, 200}, {datamove.PurposeTestCopy, types.VolumeTypeGp3, 0, 0}} {
		if _, err := m.CreateVolume("volume", func() string { return e.Fixture.DataSnapshots[0] }, c.purpose)(e.Ctx, &release.Step{}); err != nil {
			t.Fatal(err)
		}
		calls := e.Region.CallsTo(sim.ServiceEC2, "CreateVolume")
		in := calls[len(calls)-1].Input.(*ec2.CreateVolumeInput)
		if in.VolumeType != c.typ || aws.ToInt32(in.Iops) != c.iops || aws.ToInt32(in.VolumeInitializationRate) != c.rate {
			t.Errorf("%s volume: type %s, %d IOPS, initialized at %d MiB/s; want %s, %d, %d", c.purpose, in.VolumeType, aws.ToInt32(in.Iops),
				aws.ToInt32(in.VolumeInitializationRate), c.typ, c.iops, c.rate)
		}
	}
}

// TestTestCopyDeadlineGrowsWithTheVolume: when no recent snapshot exists,
// the test copy takes a first snapshot, whose time grows with the volume:
// its deadline does too; a reused snapshot keeps the base deadline.
func TestTestCopyDeadlineGrowsWithTheVolume(t *testing.T) {
	for _, c := range []struct {
		size      int32
		snapshots int
		want      time.Duration
	}{{500, 0, planTimeout + 500*snapshotPerGiB}, {20, 1, planTimeout}} {
		e := steptest.New(t, "test-data", sim.Options{DataVolume: true, DataSizeGiB: c.size, DataSnapshots: c.snapshots})
		body, err := artifact.Sample("shop", "2.0.0")
		if err != nil {
			t.Fatal(err)
		}
		cfg := e.WithData(e.Config(), release.DataRestore)
		cfg.Data.SnapshotMaxAge = release.Duration(24 * time.Hour)
		d := e.Doc(t, "2.0.0", "v2", body, cfg)
		d.Candidate = &release.Candidate{Instances: []release.Member{{InstanceID: e.Launch(t, map[string]string{release.TagApp: "shop", release.TagRelease: d.ReleaseID})}}}
		td, err := Handler{D: e.Deps}.TestData(e.Ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if got := td.Deadline.Sub(e.Region.Now()); got != c.want {
			t.Errorf("%d recent snapshots: deadline in %s, want %s", c.snapshots, got, c.want)
		}
	}
}
