// Package localenv is how the operator's CLI finds a running local
// environment (the local engine's loopback endpoints), without linking
// the engine itself: the endpoints file it publishes and reads.
package localenv

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
	// AppURL is the app as users reach it (through the Elastic IP or the
	// load balancer), on loopback, when the real apps run.
	AppURL string `json:"appUrl,omitempty"`
	// ArtifactPrefix and ArtifactMaxSize (MiB) are the environment's
	// config values `greenlight release` names and checks artifacts by.
	ArtifactPrefix  string `json:"artifactPrefix"`
	ArtifactMaxSize int    `json:"artifactMaxSize"`
	// DeliversUploads: the environment starts a release from any upload
	// to its bucket (`greenlight local --serve`), as EventBridge does on
	// AWS, so `greenlight release` only uploads.
	DeliversUploads bool `json:"deliversUploads,omitempty"`
	PID             int  `json:"pid"`
}

// File is where a running `greenlight local` leaves its
// endpoints, relative to the checkout.
const File = ".greenlight/local.json"

// Env, when set, is the endpoints file's path instead of
// File: tests (and a second local environment) publish elsewhere
// without touching the one a developer is running.
const Env = "GREENLIGHT_LOCAL_ENDPOINTS"

// Path is where the endpoints file lives: Env, else File in the checkout
// (the folder holding go.mod, found upwards from the working directory).
func Path() (string, error) {
	if p := os.Getenv(Env); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, File), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("the local environment lives in a greenlight checkout: run this inside one, or set " + Env)
		}
		dir = parent
	}
}

// Write publishes ep; the returned func removes the file.
func Write(ep Endpoints) (func(), error) {
	path, err := Path()
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

// Read finds the endpoints of a running local environment.
func Read() (Endpoints, error) {
	path, err := Path()
	if err != nil {
		return Endpoints{}, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Endpoints{}, fmt.Errorf("no local environment is running: start one with `make local ARGS=--serve` (an account that stays up), or `greenlight local --approve prompt` (up while its release waits for you)")
	}
	if err != nil {
		return Endpoints{}, err
	}
	var ep Endpoints
	if err := json.Unmarshal(b, &ep); err != nil {
		return Endpoints{}, fmt.Errorf("%s: %w", File, err)
	}
	if ep.PID > 0 && errors.Is(syscall.Kill(ep.PID, 0), syscall.ESRCH) {
		return Endpoints{}, fmt.Errorf("the local environment that wrote %s (pid %d) has ended: start one with `make local ARGS=--serve`", File, ep.PID)
	}
	return ep, nil
}
