package localrun

import (
	"github.com/greenlight/greenlight/harness/sandbox"

	"context"
	"fmt"
	"os"
	"path/filepath"
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
// instance (the version installed, the app restarted) and its timing; the
// maintenance and data documents are modelled only.
type scriptExecutor struct {
	model *sim.ModelExecutor
	dir   string

	mu    sync.Mutex
	boxes map[string]*sandbox.Sandbox
}

func newScriptExecutor(model *sim.ModelExecutor) (*scriptExecutor, error) {
	dir, err := os.MkdirTemp("", "greenlight-instances-")
	if err != nil {
		return nil, err
	}
	return &scriptExecutor{model: model, dir: dir, boxes: map[string]*sandbox.Sandbox{}}, nil
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
	x.boxes[instanceID] = sb
	return sb, nil
}

// Execute runs one invocation.
func (x *scriptExecutor) Execute(ctx context.Context, inv sim.Invocation) sim.Outcome {
	if inv.Kind != sim.DocumentDeploy {
		return x.model.Execute(ctx, inv)
	}
	failed := func(format string, args ...any) sim.Outcome {
		return sim.Outcome{Status: ssmtypes.CommandInvocationStatusFailed, ResponseCode: 1, Stdout: fmt.Sprintf(format, args...) + "\n", Duration: time.Second}
	}
	sb, err := x.sandbox(inv.InstanceID)
	if err != nil {
		return failed("local engine: %v", err)
	}
	params := map[string]string{}
	for k, v := range inv.Parameters {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	bucket, key, version := params[instance.ParamBucket], params[instance.ParamKey], params[instance.ParamVersionID]
	// What `aws s3api get-object` on the instance would download.
	if body, err := x.model.Fetch(ctx, bucket, key, version); err == nil {
		if err := sb.PutObject(bucket, key, version, body); err != nil {
			return failed("local engine: %v", err)
		}
	}
	// The simulated app answers its health check once restarted.
	if err := sb.SetHealth(200); err != nil {
		return failed("local engine: %v", err)
	}
	res, err := sandbox.Run(ctx, sandbox.Spec{Document: instance.Deploy, Params: params, Sandbox: sb, Timeout: 2 * time.Minute})
	if err != nil {
		return failed("local engine: %v", err)
	}
	if !res.OK() {
		return sim.Outcome{Status: ssmtypes.CommandInvocationStatusFailed, Stdout: res.Stdout, Stderr: res.Stderr,
			ResponseCode: int32(res.ExitCode), Duration: sim.DefaultDeployRunTime}
	}
	out := x.model.Execute(ctx, inv)
	if out.Status == ssmtypes.CommandInvocationStatusSuccess {
		out.Stdout = res.Stdout
	}
	return out
}
