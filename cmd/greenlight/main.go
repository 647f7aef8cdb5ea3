// Command greenlight is the operator's tool: upload a release, follow,
// approve or reject it, list releases, look at and break the release lock,
// validate a config, and run a whole release locally.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// Exit codes, documented in docs/cli.md.
const (
	exitOK      = 0
	exitFailed  = 1 // the command ran and the answer is no (a failed release, a refused approval)
	exitUsage   = 2 // wrong flags or arguments
	exitConfig  = 3 // greenlight.json is invalid
	exitAWS     = 4 // AWS could not be reached or the stack is not deployed
	exitPending = 5 // nothing to act on (no pending approval, no release found)
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func main() {
	os.Exit(execute(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// execute runs one command line and returns its exit code; errors go to
// errOut prefixed "greenlight:".
func execute(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(errOut, "greenlight:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage
}
