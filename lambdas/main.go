// Command bootstrap is greenlight's one Lambda binary. Every function in the
// stack runs it; Lambda passes the function's Handler setting in _HANDLER
// and main serves the step registered under that name.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/lambdas/registry"
	"github.com/greenlight/greenlight/lambdas/step"
)

func main() {
	handler, err := build(context.Background(), os.Getenv("_HANDLER"))
	if err != nil {
		// Exiting during init makes Lambda report Runtime.ExitError with
		// this message in the function's log.
		fmt.Fprintln(os.Stderr, "greenlight:", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}

// build resolves the handler and its dependencies once per cold start.
func build(ctx context.Context, name string) (any, error) {
	entry, err := registry.Lookup(name)
	if err != nil {
		return nil, err
	}
	cfg, err := awsapi.LoadConfig(ctx, "")
	if err != nil {
		return nil, err
	}
	deps := &step.Deps{
		AWS:  awsapi.New(cfg),
		Env:  step.EnvFromOS(),
		Now:  time.Now,
		HTTP: &http.Client{Timeout: 10 * time.Second},
		Log:  step.Logger(),
	}
	return entry.New(deps), nil
}
