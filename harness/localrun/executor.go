package localrun

import (
	"github.com/greenlight/greenlight/harness/sandbox"

	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/instance"
)

// scriptExecutor runs the deploy document's real script (instance/deploy.sh)
// in a sandbox per simulated instance, so that an artifact the instance
// would refuse fails a local run with the script's own reason. When the
// script succeeds, the model executor applies its effect to the simulated
// instance (the version installed, the app restarted) and its timing.
// The maintenance document's script runs for real too, so the flag the
// instance's front tests is the one maintenance.sh writes; the data
// document is modelled only. After each command, changed (when set) lets
// the real app processes follow the instance.
type scriptExecutor struct {
	model   *sim.ModelExecutor
	dir     string
	app     string
	changed func()

	mu    sync.Mutex
	boxes map[string]*sandbox.Sandbox
}

func newScriptExecutor(model *sim.ModelExecutor, app string) (*scriptExecutor, error) {
	dir, err := os.MkdirTemp("", "greenlight-instances-")
	if err != nil {
		return nil, err
	}
	return &scriptExecutor{model: model, dir: dir, app: app, boxes: map[string]*sandbox.Sandbox{}}, nil
}

// Close removes the sandboxes.
func (x *scriptExecutor) Close() error { return os.RemoveAll(x.dir) }

func (x *scriptExecutor) sandbox(instanceID string) (*sandbox.Sandbox, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if sb, ok := x.boxes[instanceID]; ok {
		return sb, nil
	}
	sb, err := sandbox.New(filepath.Join(x.dir, instanceID))
	if err != nil {
		return nil, err
	}
	// The golden AMI's nginx includes the maintenance snippet, as
	// instance/README.md asks: maintenance.sh refuses to turn on a flag
	// no nginx configuration looks at.
	site := sb.Path("/etc/nginx/sites-enabled/" + x.app + ".conf")
	if err := os.MkdirAll(filepath.Dir(site), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(site, []byte("server {\n\tinclude /etc/nginx/snippets/greenlight-maintenance.conf;\n}\n"), 0o644); err != nil {
		return nil, err
	}
	x.boxes[instanceID] = sb
	return sb, nil
}

// Execute runs one invocation.
func (x *scriptExecutor) Execute(ctx context.Context, inv sim.Invocation) sim.Outcome {
	out := x.execute(ctx, inv)
	if x.changed != nil {
		x.changed()
	}
	return out
}

func (x *scriptExecutor) execute(ctx context.Context, inv sim.Invocation) sim.Outcome {
	params := map[string]string{}
	for k, v := range inv.Parameters {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	switch inv.Kind {
	case sim.DocumentDeploy:
		return x.deploy(ctx, inv, params)
	case sim.DocumentMaintenance:
		return x.script(ctx, inv, instance.Maintenance, params, nil, time.Second)
	}
	return x.model.Execute(ctx, inv)
}

func failedOutcome(format string, args ...any) sim.Outcome {
	return sim.Outcome{Status: ssmtypes.CommandInvocationStatusFailed, ResponseCode: 1, Stdout: fmt.Sprintf(format, args...) + "\n", Duration: time.Second}
}

// script runs a document's real script in the instance's sandbox, after
// prepare (when set) readied the sandbox; on success the model applies
// its effect and timing. A script that fails took failedAfter.
func (x *scriptExecutor) script(ctx context.Context, inv sim.Invocation, doc string, params map[string]string,
	prepare func(*sandbox.Sandbox) error, failedAfter time.Duration) sim.Outcome {
	sb, err := x.sandbox(inv.InstanceID)
	if err != nil {
		return failedOutcome("local engine: %v", err)
	}
	if prepare != nil {
		if err := prepare(sb); err != nil {
			return failedOutcome("local engine: %v", err)
		}
	}
	res, err := sandbox.Run(ctx, sandbox.Spec{Document: doc, Params: params, Sandbox: sb, Timeout: 2 * time.Minute})
	if err != nil {
		return failedOutcome("local engine: %v", err)
	}
	if !res.OK() {
		return sim.Outcome{Status: ssmtypes.CommandInvocationStatusFailed, Stdout: res.Stdout, Stderr: res.Stderr,
			ResponseCode: int32(res.ExitCode), Duration: failedAfter}
	}
	out := x.model.Execute(ctx, inv)
	if out.Status == ssmtypes.CommandInvocationStatusSuccess {
		out.Stdout = res.Stdout
	}
	return out
}

// deploy runs deploy.sh with the artifact where `aws s3api get-object`
// on the instance finds it, and the health check answering (the stubbed
// curl's), as the app does once restarted.
func (x *scriptExecutor) deploy(ctx context.Context, inv sim.Invocation, params map[string]string) sim.Outcome {
	prepare := func(sb *sandbox.Sandbox) error {
		bucket, key, version := params[instance.ParamBucket], params[instance.ParamKey], params[instance.ParamVersionID]
		if body, err := x.model.Fetch(ctx, bucket, key, version); err == nil {
			if err := sb.PutObject(bucket, key, version, body); err != nil {
				return err
			}
		}
		return sb.SetHealth(200)
	}
	return x.script(ctx, inv, instance.Deploy, params, prepare, sim.DefaultDeployRunTime)
}

// installed is the bucket the live instances' first release comes from:
// the environment starts with the app already installed, as an operator's
// instance is before greenlight's first release.
const installedBucket = "greenlight-local-installed"

// install puts a release on an instance with deploy.sh, outside any
// command: the fixture's live instances serve version before the first
// release.
func (x *scriptExecutor) install(ctx context.Context, instanceID, releaseID, version string, art []byte, port int, healthPath string) error {
	sb, err := x.sandbox(instanceID)
	if err != nil {
		return err
	}
	key := x.app + "-" + version + ".tar.gz"
	if err := sb.PutObject(installedBucket, key, "installed", art); err != nil {
		return err
	}
	if err := sb.SetHealth(200); err != nil {
		return err
	}
	sum := sha256.Sum256(art)
	res, err := sandbox.Run(ctx, sandbox.Spec{Document: instance.Deploy, Sandbox: sb, Timeout: 2 * time.Minute, Params: map[string]string{
		instance.ParamApp: x.app, instance.ParamReleaseID: releaseID, instance.ParamVersion: version,
		instance.ParamBucket: installedBucket, instance.ParamKey: key, instance.ParamVersionID: "installed",
		instance.ParamSha256: hex.EncodeToString(sum[:]), instance.ParamHealthPort: strconv.Itoa(port),
		instance.ParamHealthPath: healthPath, instance.ParamHealthTimeout: "10", instance.ParamKeepReleases: "5",
	}})
	if err != nil {
		return err
	}
	if !res.OK() {
		return fmt.Errorf("install %s %s on %s: %s", x.app, version, instanceID, res.Reason())
	}
	return nil
}
