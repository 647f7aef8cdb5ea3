package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// FetchFunc reads one version of an S3 object: the artifact a deploy
// command downloads.
type FetchFunc func(ctx context.Context, bucket, key, versionID string) ([]byte, error)

// Run times the ModelExecutor charges when its fields are zero.
const (
	// DefaultDeployRunTime estimates a deploy of a small web app: download
	// and verify a few MB from S3 in the region (~1–2 s), unpack, switch
	// the current link, restart the service and wait for its local health
	// check (most of the time, a typical app boots in 10–15 s).
	DefaultDeployRunTime = 20 * time.Second
	// DefaultMaintenanceRunTime estimates flipping the maintenance flag
	// and reloading the web server.
	DefaultMaintenanceRunTime = time.Second
	// DefaultDataRunTime estimates stopping the app and freezing, or
	// mounting and starting: a systemd stop or start plus a filesystem
	// call.
	DefaultDataRunTime = 3 * time.Second
)

// ModelExecutor runs greenlight's three documents by their effects on the
// instance's app state, not by running their scripts:
//
//   - deploy fetches the artifact, verifies its SHA-256, installs Version
//     and restarts the app; a ReleaseId already current is a no-op.
//   - maintenance turns maintenance mode on or off.
//   - data freezes (stops the app, freezes the filesystem), thaws,
//     unmounts (stops the app), mounts (the volume must be attached here,
//     then starts the app) or starts the app.
//
// Every action is idempotent. On failure the last line of stdout is a
// short reason, as the real scripts print.
type ModelExecutor struct {
	// Fetch reads artifacts; New sets it to the region's S3.
	Fetch              FetchFunc
	DeployRunTime      time.Duration
	MaintenanceRunTime time.Duration
	DataRunTime        time.Duration
}

// Execute runs one invocation.
func (m *ModelExecutor) Execute(ctx context.Context, inv Invocation) Outcome {
	run := &script{}
	switch inv.Kind {
	case DocumentDeploy:
		run.took = orDefault(m.DeployRunTime, DefaultDeployRunTime)
		m.deploy(ctx, inv, run)
	case DocumentMaintenance:
		run.took = orDefault(m.MaintenanceRunTime, DefaultMaintenanceRunTime)
		maintenance(inv, run)
	case DocumentData:
		run.took = orDefault(m.DataRunTime, DefaultDataRunTime)
		data(inv, run)
	default:
		run.fail("unknown document %s", inv.DocumentName)
	}
	return run.outcome()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// script collects what a modelled script prints and how it ends.
type script struct {
	lines  []string
	failed string
	took   time.Duration
}

func (s *script) say(format string, args ...any) {
	s.lines = append(s.lines, fmt.Sprintf(format, args...))
}

func (s *script) fail(format string, args ...any) {
	if s.failed == "" {
		s.failed = fmt.Sprintf(format, args...)
		s.lines = append(s.lines, s.failed)
	}
}

func (s *script) outcome() Outcome {
	out := Outcome{Status: ssmtypes.CommandInvocationStatusSuccess, Stdout: strings.Join(s.lines, "\n") + "\n", Duration: s.took}
	if s.failed != "" {
		out.Status, out.ResponseCode, out.Stderr = ssmtypes.CommandInvocationStatusFailed, 1, s.failed+"\n"
	}
	return out
}

func (m *ModelExecutor) deploy(ctx context.Context, inv Invocation, run *script) {
	for _, p := range []string{"App", "ReleaseId", "Version", "Bucket", "Key", "Sha256"} {
		if inv.Param(p) == "" {
			run.fail("missing parameter %s", p)
			return
		}
	}
	app, rid, version := inv.Param("App"), inv.Param("ReleaseId"), inv.Param("Version")
	if cur := inv.Host.App(); cur.ReleaseID == rid && cur.Version == version {
		run.say("release %s (%s %s) is already current; nothing to do", rid, app, version)
		return
	}
	if m.Fetch == nil {
		run.fail("no artifact source configured")
		return
	}
	bucket, key, vid := inv.Param("Bucket"), inv.Param("Key"), inv.Param("VersionId")
	body, err := m.Fetch(ctx, bucket, key, vid)
	if err != nil {
		run.fail("download failed: s3://%s/%s: %v", bucket, key, err)
		return
	}
	run.say("downloaded s3://%s/%s (version %s, %d bytes)", bucket, key, vid, len(body))
	sum := sha256.Sum256(body)
	got, want := hex.EncodeToString(sum[:]), strings.ToLower(inv.Param("Sha256"))
	if got != want {
		run.fail("checksum mismatch: expected %s, got %s", want, got)
		return
	}
	run.say("sha256 %s verified", got)
	port, _ := strconv.Atoi(inv.Param("HealthPort"))
	keep, _ := strconv.Atoi(inv.Param("KeepReleases"))
	h := inv.Host
	h.SetHealthCheck(port, inv.Param("HealthPath"))
	h.StopApp()
	h.Install(version, rid, keep)
	run.say("installed %s %s as release %s", app, version, rid)
	if err := h.StartApp(); err != nil {
		run.fail("%s did not start: %v", app, err)
		return
	}
	st := h.App()
	run.say("restarted %s; healthy on :%d%s", app, st.Port, st.HealthPath)
}

func maintenance(inv Invocation, run *script) {
	switch a := inv.Param("Action"); a {
	case "on", "off":
		inv.Host.SetMaintenance(a == "on")
		run.say("maintenance %s for %s", a, inv.Param("App"))
	default:
		run.fail("unknown action %q: want on or off", a)
	}
}

func data(inv Invocation, run *script) {
	h := inv.Host
	switch a := inv.Param("Action"); a {
	case "freeze":
		h.StopApp()
		h.Freeze()
		run.say("stopped %s; froze %s", inv.Param("App"), inv.Param("MountPoint"))
	case "thaw":
		h.Thaw()
		run.say("thawed %s", inv.Param("MountPoint"))
	case "unmount":
		h.StopApp()
		h.Unmount()
		run.say("stopped %s; unmounted %s", inv.Param("App"), inv.Param("MountPoint"))
	case "mount":
		vol, mp := inv.Param("VolumeId"), inv.Param("MountPoint")
		if cur := h.App(); cur.MountedVolume != vol {
			if err := h.Mount(vol, mp); err != nil {
				run.fail("%v", err)
				return
			}
		}
		run.say("mounted %s at %s", vol, mp)
		if h.App().Version == "" {
			run.say("%s is not installed yet; not started", inv.Param("App"))
			return
		}
		if err := h.StartApp(); err != nil {
			run.fail("%s did not start: %v", inv.Param("App"), err)
			return
		}
		run.say("started %s", inv.Param("App"))
		healthy(inv, run)
	case "start":
		if err := h.StartApp(); err != nil {
			run.fail("%s did not start: %v", inv.Param("App"), err)
			return
		}
		run.say("started %s", inv.Param("App"))
		healthy(inv, run)
	default:
		run.fail("unknown action %q: want freeze, thaw, unmount, mount or start", a)
	}
}

// healthy is the data script's wait for the local health endpoint after
// a start (HealthPort given): the app answers on 127.0.0.1 if it runs on
// that port with that health path; otherwise the script gives up after
// HealthTimeout seconds.
func healthy(inv Invocation, run *script) {
	port := inv.Param("HealthPort")
	if port == "" {
		return
	}
	app := inv.Host.App()
	path := inv.Param("HealthPath")
	if path == "" {
		path = "/"
	}
	url := "http://127.0.0.1:" + port + path
	if app.Running && app.Maintenance {
		secs, _ := strconv.Atoi(inv.Param("HealthTimeout"))
		run.took += time.Duration(secs) * time.Second
		run.fail("%s started but %s answered 503, not %s, within %ds (the maintenance page is up)", inv.Param("App"), url, inv.Param("HealthStatus"), secs)
		return
	}
	if !app.Running || strconv.Itoa(app.Port) != port || app.HealthPath != path {
		secs, _ := strconv.Atoi(inv.Param("HealthTimeout"))
		run.took += time.Duration(secs) * time.Second
		run.fail("%s started but nothing answered on %s within %ds", inv.Param("App"), url, secs)
		return
	}
	run.say("%s answered 200", url)
}

// S3Fetch returns a FetchFunc reading from an S3 client.
func S3Fetch(client interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}) FetchFunc {
	return func(ctx context.Context, bucket, key, versionID string) ([]byte, error) {
		in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if versionID != "" {
			in.VersionId = aws.String(versionID)
		}
		out, err := client.GetObject(ctx, in)
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}
}
