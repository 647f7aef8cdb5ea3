package prepare

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

// scene is a release about to be prepared: the artifact uploaded, the
// ledger record and the document the start step made, the config.
type scene struct {
	e    *steptest.Env
	h    Handler
	cfg  release.Config
	in   Input
	body []byte
}

func sample(t *testing.T, version string) []byte {
	t.Helper()
	b, err := artifact.Sample("shop", version)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func build(t *testing.T, entries ...artifact.Entry) []byte {
	t.Helper()
	b, err := artifact.Build(entries)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// valid are the entries every release needs, for archives built around
// one problem.
func valid(version string) []artifact.Entry {
	return []artifact.Entry{
		{Name: "VERSION", Body: version + "\n"},
		{Name: artifact.Entrypoint, Mode: 0o755, Body: "#!/bin/sh\nexec true\n"},
	}
}

func newScene(t *testing.T, opts sim.Options) *scene {
	t.Helper()
	e := steptest.New(t, "prepare", opts)
	return &scene{e: e, h: Handler{D: e.Deps}, cfg: e.Config()}
}

// upload puts body at key and makes the document the start step would
// make of its Object Created event, with its ledger record.
func (s *scene) upload(t *testing.T, key string, body []byte, sha string) {
	t.Helper()
	s.body = body
	vid := s.e.Upload(t, key, body, sha)
	s.event(t, s.e.Fixture.Bucket, key, vid, int64(len(body)))
}

func (s *scene) event(t *testing.T, bucket, key, vid string, size int64) {
	t.Helper()
	version, err := release.VersionFromKey(release.DefaultArtifactPrefix, "shop", key)
	if err != nil {
		version = "unknown"
	}
	id := release.ReleaseID("shop", version, bucket, key, vid)
	d := release.Doc{ReleaseID: id, App: "shop", Version: version, StartedAt: s.e.Region.Now(),
		Artifact: release.Artifact{Bucket: bucket, Key: key, VersionID: vid, Size: size}}
	exec := steptest.ExecutionARN(s.e.Fixture.StateMachineARN, id)
	d.Execution = exec
	s.e.Record(t, d)
	d.Execution = ""
	s.in = Input{Release: d, Config: steptest.ConfigJSON(t, s.cfg), Execution: exec}
}

// TestPrepareAcceptsAGoodRelease: the artifact is checked, the live side
// found through the Elastic IP, the lock taken, the ledger says Running,
// the operators are told; nothing is created in EC2.
func TestPrepareAcceptsAGoodRelease(t *testing.T) {
	cases := []struct {
		name string
		opts sim.Options
		edit func(s *scene)
		// dataVolume is whether the live data volume must be found.
		dataVolume bool
	}{
		{name: "no data"},
		{name: "an artifact that just fits artifactMaxSize", edit: func(s *scene) { s.cfg.ArtifactMaxSize = 1 }},
		{name: "restore data", opts: sim.Options{DataVolume: true}, edit: func(s *scene) { s.cfg = s.e.WithData(s.cfg, release.DataRestore) }, dataVolume: true},
		{name: "move data, candidate in the live subnet", opts: sim.Options{DataVolume: true}, dataVolume: true,
			edit: func(s *scene) {
				s.cfg = s.e.WithData(s.cfg, release.DataMove)
				s.cfg.Candidate.SubnetID = s.e.Fixture.LiveSubnet
			}},
		{name: "no data, candidate in another AZ", edit: func(s *scene) { s.cfg.Candidate.SubnetID = s.e.Fixture.Subnets[1] }},
		{name: "default EBS key customer managed and configured", opts: cmkAccount(true),
			edit: func(s *scene) { s.cfg.Encryption = &release.Encryption{KMSKeyID: defaultCMK} }},
		{name: "default EBS key configured by an alias", opts: cmkAccount(true),
			edit: func(s *scene) {
				s.cfg.Encryption = &release.Encryption{KMSKeyID: "arn:aws:kms:eu-west-1:123456789012:alias/shop-ebs"}
			}},
		{name: "another key configured, no encryption by default", opts: cmkAccount(false),
			edit: func(s *scene) { s.cfg.Encryption = &release.Encryption{KMSKeyID: otherCMK} }},
		{name: "AWS managed default key, a key configured", edit: func(s *scene) { s.cfg.Encryption = &release.Encryption{KMSKeyID: otherCMK} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScene(t, c.opts)
			f := s.e.Fixture
			if c.edit != nil {
				c.edit(s)
			}
			s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
			before := s.e.Inventory()

			d, err := s.h.Prepare(s.e.Ctx, s.in)
			if err != nil {
				t.Fatal(err)
			}
			want := release.Live{InstanceID: f.LiveInstance, InstanceIDs: []string{f.LiveInstance}, SubnetIDs: []string{f.LiveSubnet}, SubnetID: f.LiveSubnet, AZ: f.LiveAZ, PrivateIP: f.LivePrivateIP,
				AllocationID: f.AllocationID, PublicIP: f.PublicIP, Version: "1.0.0", ImageID: f.AMI}
			if c.dataVolume {
				want.DataVolumeID = f.DataVolume
			}
			if !reflect.DeepEqual(d.Live, want) {
				t.Errorf("live side\n got %+v\nwant %+v", d.Live, want)
			}
			if d.Artifact.SHA256 != steptest.SHA256(s.body) || d.Artifact.Size != int64(len(s.body)) {
				t.Errorf("artifact %+v, want sha256 %s and %d bytes", d.Artifact, steptest.SHA256(s.body), len(s.body))
			}
			if d.Execution != s.in.Execution || d.Config.App != "shop" || d.App != "shop" || d.Version != "2.0.0" {
				t.Errorf("document %+v", d)
			}
			if holder := s.e.Lock(t); holder != d.ReleaseID {
				t.Errorf("lock held by %q, want %s", holder, d.ReleaseID)
			}
			rec := s.e.Get(t, d.ReleaseID)
			if rec.Status != ledger.StatusRunning || rec.LiveInstance != f.LiveInstance || rec.Version != "2.0.0" {
				t.Errorf("ledger record %+v", rec)
			}
			if last := rec.Timeline[len(rec.Timeline)-1]; last.Step != "Prepare" || !strings.Contains(last.Detail, d.Artifact.SHA256[:12]) || !strings.Contains(last.Detail, f.PublicIP) {
				t.Errorf("timeline %+v", rec.Timeline)
			}
			msgs := s.e.Messages("started")
			if len(msgs) != 1 || !strings.Contains(msgs[0].Body, "shop 2.0.0") || !strings.Contains(msgs[0].Body, f.LiveInstance) || !strings.Contains(msgs[0].Body, s.in.Execution) {
				t.Errorf("started notifications: %+v", msgs)
			}
			if after := s.e.Inventory(); !slices.Equal(after, before) {
				t.Errorf("prepare changed AWS:\nbefore %v\nafter  %v", before, after)
			}
			// It read exactly the uploaded version, not whatever is newest.
			reads := s.e.Region.CallsTo(sim.ServiceS3, "GetObject")
			if len(reads) != 1 || !reads[0].Versioned {
				t.Errorf("S3 reads %+v, want one of the object version", reads)
			}

			// A retried Prepare (a Lambda timeout) holds the same lock.
			if _, err := s.h.Prepare(s.e.Ctx, s.in); err != nil {
				t.Errorf("retried: %v", err)
			}
			if holder := s.e.Lock(t); holder != d.ReleaseID {
				t.Errorf("after a retry the lock is %q", holder)
			}
		})
	}
}

// storedTar is a valid release of many one-byte files, gzipped without
// compression: a few KiB of content in an archive of n KiB.
func storedTar(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.NoCompression)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(gz)
	add := func(name string, mode int64, body string) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	add("VERSION", 0o644, "2.0.0\n")
	add(artifact.Entrypoint, 0o755, "#!/bin/sh\n")
	for i := 0; i < n; i++ {
		add(fmt.Sprintf("public/%d", i), 0o644, "x")
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPrepareRefuses: every way a release cannot start is refused with
// the error the state machine rejects it by, naming the problem, before
// the lock is taken, the ledger moves on or anything is told or created.
func TestPrepareRefuses(t *testing.T) {
	const other = "shop-1-9-0-aaaaaaaaaa"
	cases := []struct {
		name string
		opts sim.Options
		// set prepares the scene: s.cfg may change first, then the upload.
		set       func(t *testing.T, s *scene)
		err, text string
		// lockedBy is who holds the lock afterwards ("" nobody).
		lockedBy string
		// bug, when set, says how the handler gets this case wrong.
		bug string
	}{
		{name: "key outside the artifact prefix", err: "EventInvalid", text: `is not under the artifact prefix "releases/"`,
			set: func(t *testing.T, s *scene) { s.upload(t, "uploads/shop-2.0.0.tar.gz", sample(t, "2.0.0"), "") }},
		{name: "key in a sub-folder", err: "EventInvalid", text: "sub-folder",
			set: func(t *testing.T, s *scene) { s.upload(t, "releases/old/shop-2.0.0.tar.gz", sample(t, "2.0.0"), "") }},
		{name: "another app's key", err: "EventInvalid", text: `for app "shop"`,
			set: func(t *testing.T, s *scene) { s.upload(t, "releases/blog-2.0.0.tar.gz", sample(t, "2.0.0"), "") }},
		{name: "not a .tar.gz", err: "EventInvalid", text: "does not end in .tar.gz",
			set: func(t *testing.T, s *scene) { s.upload(t, "releases/shop-2.0.0.zip", sample(t, "2.0.0"), "") }},
		{name: "unversioned object", err: "EventInvalid", text: "has no version id: the release bucket must be versioned",
			set: func(t *testing.T, s *scene) {
				// A bucket without versioning: S3's event names no version.
				c := s.e.Region.S3Client()
				if _, err := c.CreateBucket(s.e.Test, &s3.CreateBucketInput{Bucket: aws.String("shop-plain")}); err != nil {
					t.Fatal(err)
				}
				body := sample(t, "2.0.0")
				out, err := c.PutObject(s.e.Test, &s3.PutObjectInput{Bucket: aws.String("shop-plain"), Key: aws.String(s.e.Key("2.0.0")), Body: bytes.NewReader(body)})
				if err != nil {
					t.Fatal(err)
				}
				s.event(t, "shop-plain", s.e.Key("2.0.0"), aws.ToString(out.VersionId), int64(len(body)))
			}},
		{name: "version id null", err: "EventInvalid", text: "has no version id",
			set: func(t *testing.T, s *scene) {
				body := sample(t, "2.0.0")
				s.e.Upload(t, s.e.Key("2.0.0"), body, "")
				s.event(t, s.e.Fixture.Bucket, s.e.Key("2.0.0"), "null", int64(len(body)))
			}},
		{name: "object version deleted, a newer one kept", err: "ArtifactInvalid", text: "does not exist (deleted after upload?)",
			set: func(t *testing.T, s *scene) {
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
				s.e.Upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
				if _, err := s.e.Region.S3Client().DeleteObject(s.e.Test, &s3.DeleteObjectInput{Bucket: aws.String(s.e.Fixture.Bucket),
					Key: aws.String(s.e.Key("2.0.0")), VersionId: aws.String(s.in.Release.Artifact.VersionID)}); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "object deleted, its only version", err: "ArtifactInvalid", text: "does not exist (deleted after upload?)",
			set: func(t *testing.T, s *scene) {
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
				if _, err := s.e.Region.S3Client().DeleteObject(s.e.Test, &s3.DeleteObjectInput{Bucket: aws.String(s.e.Fixture.Bucket),
					Key: aws.String(s.e.Key("2.0.0")), VersionId: aws.String(s.in.Release.Artifact.VersionID)}); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "checksum mismatch", err: "ArtifactInvalid", text: "checksum mismatch: uploaded as sha256 " + strings.Repeat("ab", 32),
			set: func(t *testing.T, s *scene) {
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), strings.Repeat("ab", 32))
			}},
		{name: "path climbing out", err: "ArtifactInvalid", text: `path "../../etc/cron.d/x" climbs out of the release directory`,
			set: func(t *testing.T, s *scene) {
				s.upload(t, s.e.Key("2.0.0"), build(t, append(valid("2.0.0"), artifact.Entry{Name: "../../etc/cron.d/x", Body: "* * * * * root sh\n"})...), "")
			}},
		{name: "absolute path", err: "ArtifactInvalid", text: `absolute path "/etc/passwd"`,
			set: func(t *testing.T, s *scene) {
				s.upload(t, s.e.Key("2.0.0"), build(t, append(valid("2.0.0"), artifact.Entry{Name: "/etc/passwd", Body: "root::0:0::/:/bin/sh\n"})...), "")
			}},
		{name: "symlink out", err: "ArtifactInvalid", text: `symlink "data" points outside the release directory`,
			set: func(t *testing.T, s *scene) {
				s.upload(t, s.e.Key("2.0.0"), build(t, append(valid("2.0.0"), artifact.Entry{Name: "data", Type: tar.TypeSymlink, Linkname: "../../../root"})...), "")
			}},
		{name: "device file", err: "ArtifactInvalid", text: `device file "dev/sda"`,
			set: func(t *testing.T, s *scene) {
				s.upload(t, s.e.Key("2.0.0"), build(t, append(valid("2.0.0"), artifact.Entry{Name: "dev/sda", Type: tar.TypeBlock})...), "")
			}},
		{name: "no entry point", err: "ArtifactInvalid", text: "has no greenlight/run",
			set: func(t *testing.T, s *scene) {
				s.upload(t, s.e.Key("2.0.0"), build(t, artifact.Entry{Name: "VERSION", Body: "2.0.0\n"}), "")
			}},
		{name: "not gzip", err: "ArtifactInvalid", text: "not a gzip file",
			set: func(t *testing.T, s *scene) { s.upload(t, s.e.Key("2.0.0"), []byte("PK\x03\x04 a zip, really"), "") }},
		{name: "VERSION disagrees with the key", err: "ArtifactInvalid", text: `its VERSION file says "2.0.1" but the key says "2.0.0"`,
			set: func(t *testing.T, s *scene) { s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.1"), "") }},
		{name: "too large by the event", err: "ArtifactInvalid", text: "more than the 1 MiB artifactMaxSize",
			set: func(t *testing.T, s *scene) {
				s.cfg.ArtifactMaxSize = 1
				body := sample(t, "2.0.0")
				vid := s.e.Upload(t, s.e.Key("2.0.0"), body, "")
				s.event(t, s.e.Fixture.Bucket, s.e.Key("2.0.0"), vid, 2<<20)
			}},
		{name: "too large when read", err: "ArtifactInvalid", text: "the archive is larger than 1 MiB",
			set: func(t *testing.T, s *scene) {
				s.cfg.ArtifactMaxSize = 1
				body := storedTar(t, 3000)
				vid := s.e.Upload(t, s.e.Key("2.0.0"), body, "")
				// The event understates the size; the stream is what counts.
				s.event(t, s.e.Fixture.Bucket, s.e.Key("2.0.0"), vid, 1000)
			}},
		{name: "unpacks too large", err: "ArtifactInvalid", text: "the archive unpacks to more than 1 MiB",
			set: func(t *testing.T, s *scene) {
				s.cfg.ArtifactMaxSize = 1
				s.upload(t, s.e.Key("2.0.0"), build(t, append(valid("2.0.0"), artifact.Entry{Name: "zeros", Body: strings.Repeat("\x00", 2<<20)})...), "")
			}},
		{name: "Elastic IP unassociated", err: "LiveNotFound", text: "is not associated with an instance: associate it with the live instance first",
			set: func(t *testing.T, s *scene) {
				if _, err := s.e.Region.EC2().DisassociateAddress(s.e.Test, &ec2.DisassociateAddressInput{PublicIp: aws.String(s.e.Fixture.PublicIP)}); err != nil {
					t.Fatal(err)
				}
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
			}},
		{name: "Elastic IP missing", err: "LiveNotFound", text: "Elastic IP eipalloc-0123456789abcdef0 does not exist in this account and region",
			set: func(t *testing.T, s *scene) {
				s.cfg.Live.ElasticIPAllocationID = "eipalloc-0123456789abcdef0"
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
			}},
		{name: "live instance stopping", err: "LiveNotFound", text: "is stopping, not running",
			set: func(t *testing.T, s *scene) {
				stop(t, s.e)
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
			}},
		{name: "live instance stopped", err: "LiveNotFound", text: "is stopped, not running",
			set: func(t *testing.T, s *scene) {
				stop(t, s.e)
				s.e.Region.Advance(s.e.Test, time.Minute)
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
			}},
		{name: "data device missing", opts: sim.Options{DataVolume: true}, err: "ConfigMismatch", text: "has no volume attached at /dev/sdg",
			set: func(t *testing.T, s *scene) {
				s.cfg = s.e.WithData(s.cfg, release.DataRestore)
				s.cfg.Data.Device = "/dev/sdg"
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
			}},
		{name: "data mode without a data volume", err: "ConfigMismatch", text: "data.mode is move but live instance",
			set: func(t *testing.T, s *scene) {
				s.cfg.Data = release.DataConfig{Mode: release.DataMove, Device: "/dev/sdf", MountPoint: "/var/lib/shop"}
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
			}},
		{name: "candidate subnet in another AZ with data", opts: sim.Options{DataVolume: true}, err: "ConfigMismatch", text: "EBS volumes attach only within their AZ",
			set: func(t *testing.T, s *scene) {
				s.cfg = s.e.WithData(s.cfg, release.DataRestore)
				s.cfg.Candidate.SubnetID = s.e.Fixture.Subnets[1]
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
			}},
		{name: "candidate subnet missing", err: "ConfigMismatch", text: "candidate.subnetId subnet-0123456789abcdef0 does not exist",
			set: func(t *testing.T, s *scene) {
				s.cfg.Candidate.SubnetID = "subnet-0123456789abcdef0"
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
			}},
		{name: "invalid deployed config", err: "ConfigMismatch", text: "the deployed config is invalid",
			set: func(t *testing.T, s *scene) {
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
				s.in.Config = `{"app": "shop"}`
			}},
		{name: "another release holds the lock", err: "ReleaseInProgress", text: "release " + other + " of shop is in progress", lockedBy: other,
			set: func(t *testing.T, s *scene) {
				if err := s.e.Ledger.Acquire(s.e.Test, "shop", other); err != nil {
					t.Fatal(err)
				}
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
			}},
		{name: "default EBS key customer managed, no key configured", opts: cmkAccount(true), err: "ConfigMismatch",
			text: "the account encrypts new EBS volumes with " + defaultCMK + "; set encryption.kmsKeyId to it so greenlight is granted its use",
			set:  func(t *testing.T, s *scene) { s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "") }},
		{name: "default EBS key customer managed, no key configured, no encryption by default", opts: cmkAccount(false), err: "ConfigMismatch",
			text: "the account encrypts new EBS volumes with " + defaultCMK + "; set encryption.kmsKeyId to it",
			set:  func(t *testing.T, s *scene) { s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "") }},
		{name: "encryption by default with another key than the configured one", opts: cmkAccount(true), err: "ConfigMismatch",
			text: "but encryption.kmsKeyId is " + otherCMK + "; set encryption.kmsKeyId to " + defaultCMK + " so greenlight is granted its use",
			set: func(t *testing.T, s *scene) {
				s.cfg.Encryption = &release.Encryption{KMSKeyID: otherCMK}
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
			}},
		{name: "S3 throttles", err: "Throttled", text: "s3:GetObject",
			set: func(t *testing.T, s *scene) {
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
				s.e.Region.Throttle(sim.ServiceS3, 1)
			}},
		{name: "EC2 throttles", err: "Throttled", text: "ec2:DescribeAddresses",
			set: func(t *testing.T, s *scene) {
				s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
				s.e.Region.Throttle(sim.ServiceEC2, 1)
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.bug != "" {
				t.Skip("BUG: " + c.bug)
			}
			s := newScene(t, c.opts)
			c.set(t, s)
			before := s.e.Inventory()
			d, err := s.h.Prepare(s.e.Ctx, s.in)
			if err == nil {
				t.Fatalf("prepared %+v, want %s", d.Live, c.err)
			}
			if name := release.ErrorName(err); name != c.err || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("%s: %v\nwant %s saying %q", name, err, c.err, c.text)
			}
			if holder := s.e.Lock(t); holder != c.lockedBy {
				t.Errorf("lock held by %q, want %q", holder, c.lockedBy)
			}
			rec := s.e.Get(t, s.in.Release.ReleaseID)
			if rec.Status != ledger.StatusStarting || len(rec.Timeline) != 1 {
				t.Errorf("the ledger moved on: status %s, timeline %+v", rec.Status, rec.Timeline)
			}
			if msgs := s.e.Messages(""); len(msgs) != 0 {
				t.Errorf("notified: %+v", msgs)
			}
			if after := s.e.Inventory(); !slices.Equal(after, before) {
				t.Errorf("a refused release changed AWS:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

const (
	defaultCMK = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	otherCMK   = "arn:aws:kms:eu-west-1:123456789012:key/0f0f0f0f-1111-2222-3333-444444444444"
)

// cmkAccount has a customer managed key as its default EBS key, with or
// without encryption by default.
func cmkAccount(byDefault bool) sim.Options {
	return sim.Options{Encryption: sim.Encryption{ByDefault: byDefault, DefaultKey: defaultCMK,
		Keys: []sim.KMSKey{{ARN: defaultCMK, Aliases: []string{"alias/shop-ebs"}}, {ARN: otherCMK}}}}
}

func stop(t *testing.T, e *steptest.Env) {
	t.Helper()
	if _, err := e.Region.EC2().StopInstances(e.Test, &ec2.StopInstancesInput{InstanceIds: []string{e.Fixture.LiveInstance}}); err != nil {
		t.Fatal(err)
	}
}
