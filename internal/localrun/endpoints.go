package localrun

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	SFN                  string `json:"sfn"`
	PID                  int    `json:"pid"`
}

// EndpointsFile is where a running `greenlight local` leaves its
// endpoints, relative to the checkout.
const EndpointsFile = ".greenlight/local.json"

// Endpoints lists the environment's endpoints.
func (e *Env) Endpoints() (Endpoints, error) {
	s3, err := e.Region.S3()
	if err != nil {
		return Endpoints{}, err
	}
	return Endpoints{
		App: e.Config.App, Region: Region, Table: tableName(e.Config.App), DynamoDB: e.Dynamo.Endpoint(),
		Bucket: bucketName(e.Config.App), S3: s3.URL(), StateMachine: e.Stack.Release.ARN(), RollbackStateMachine: e.Stack.SwitchBack.ARN(),
		SFN: e.host.URL(), PID: os.Getpid(),
	}, nil
}

// Publish writes the endpoints file so other terminals can reach this
// environment; the returned func removes it.
func (e *Env) Publish() (func(), error) {
	ep, err := e.Endpoints()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(e.tc.Root, EndpointsFile)
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
	tc, err := FindToolchain()
	if err != nil {
		return Endpoints{}, err
	}
	b, err := os.ReadFile(filepath.Join(tc.Root, EndpointsFile))
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
	return ep, nil
}
