package localrun

import (
	"os"

	"github.com/greenlight/greenlight/internal/localenv"
)

// Endpoints is how CLI commands reach a running local environment
// (internal/localenv, which the CLI reads without linking the engine).
type Endpoints = localenv.Endpoints

// EndpointsFile and EndpointsEnv: see localenv.File and localenv.Env.
const (
	EndpointsFile = localenv.File
	EndpointsEnv  = localenv.Env
)

// Endpoints lists the environment's endpoints.
func (e *Env) Endpoints() (Endpoints, error) {
	s3, err := e.Region.S3()
	if err != nil {
		return Endpoints{}, err
	}
	return Endpoints{
		App: e.Config.App, Region: Region, Table: tableName(e.Config.App), DynamoDB: e.Dynamo.Endpoint(),
		Bucket: bucketName(e.Config.App), S3: s3.URL(), StateMachine: e.Stack.Release.ARN(), RollbackStateMachine: e.Stack.SwitchBack.ARN(), SFN: e.host.URL(), AppURL: e.AppURL(),
		ArtifactPrefix: e.Config.ArtifactPrefix, ArtifactMaxSize: e.Config.ArtifactMaxSize, DeliversUploads: e.opts.DeliverUploads, PID: os.Getpid(),
	}, nil
}

// Publish writes the endpoints file so other terminals can reach this
// environment; the returned func removes it.
func (e *Env) Publish() (func(), error) {
	ep, err := e.Endpoints()
	if err != nil {
		return nil, err
	}
	return localenv.Write(ep)
}

// ReadEndpoints finds the endpoints of a running local environment.
func ReadEndpoints() (Endpoints, error) { return localenv.Read() }
