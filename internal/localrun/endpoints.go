package localrun

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Endpoints is how CLI commands reach a running local environment: the
// same resources a deployed stack has, on loopback.
type Endpoints struct {
	App          string `json:"app"`
	Region       string `json:"region"`
	Table        string `json:"table"`
	DynamoDB     string `json:"dynamodb"`
	Bucket       string `json:"bucket"`
	S3           string `json:"s3"`
	StateMachine string `json:"stateMachine"`
	// RollbackStateMachine runs `greenlight rollback`.
	RollbackStateMachine string `json:"rollbackStateMachine"`
	// SFN is the host: it answers the Step Functions API, and, for the
	// CLI only, POST /greenlight/deliver (the S3 event EventBridge would
	// send) and POST /greenlight/clock (the simulated time).
	SFN string `json:"sfn"`
	// ArtifactPrefix and ArtifactMaxSize (MiB) are the environment's
	// config values `greenlight release` names and checks artifacts by.
	ArtifactPrefix  string `json:"artifactPrefix"`
	ArtifactMaxSize int    `json:"artifactMaxSize"`
	PID             int    `json:"pid"`
}

// EndpointsFile is where a running `greenlight local` leaves its
// endpoints, relative to the checkout.
const EndpointsFile = ".greenlight/local.json"

// EndpointsEnv, when set, is the endpoints file's path instead of
// EndpointsFile: tests (and a second local environment) publish elsewhere
// without touching the one a developer is running.
const EndpointsEnv = "GREENLIGHT_LOCAL_ENDPOINTS"

// Endpoints lists the environment's endpoints.
func (e *Env) Endpoints() (Endpoints, error) {
	s3, err := e.Region.S3()
	if err != nil {
		return Endpoints{}, err
	}
	return Endpoints{
		App: e.Config.App, Region: Region, Table: tableName(e.Config.App), DynamoDB: e.Dynamo.Endpoint(),
		Bucket: bucketName(e.Config.App), S3: s3.URL(), StateMachine: e.Stack.Release.ARN(), RollbackStateMachine: e.Stack.SwitchBack.ARN(), SFN: e.host.URL(),
		ArtifactPrefix: e.Config.ArtifactPrefix, ArtifactMaxSize: e.Config.ArtifactMaxSize, PID: os.Getpid(),
	}, nil
}

// endpointsPath is where the endpoints file lives.
func endpointsPath() (string, error) {
	if p := os.Getenv(EndpointsEnv); p != "" {
		return p, nil
	}
	tc, err := FindToolchain()
	if err != nil {
		return "", err
	}
	return filepath.Join(tc.Root, EndpointsFile), nil
}

// Publish writes the endpoints file so other terminals can reach this
// environment; the returned func removes it.
func (e *Env) Publish() (func(), error) {
	ep, err := e.Endpoints()
	if err != nil {
		return nil, err
	}
	path, err := endpointsPath()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(ep, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return func() { os.Remove(path) }, nil
}

// ReadEndpoints finds the endpoints of a running local environment.
func ReadEndpoints() (Endpoints, error) {
	path, err := endpointsPath()
	if err != nil {
		return Endpoints{}, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Endpoints{}, fmt.Errorf("no local environment is running: start one with `greenlight local --approve prompt` (it stays up while a release waits for you)")
	}
	if err != nil {
		return Endpoints{}, err
	}
	var ep Endpoints
	if err := json.Unmarshal(b, &ep); err != nil {
		return Endpoints{}, fmt.Errorf("%s: %w", EndpointsFile, err)
	}
	if ep.PID > 0 && errors.Is(syscall.Kill(ep.PID, 0), syscall.ESRCH) {
		return Endpoints{}, fmt.Errorf("the local environment that wrote %s (pid %d) has ended: start one with `greenlight local --approve prompt`", EndpointsFile, ep.PID)
	}
	return ep, nil
}
