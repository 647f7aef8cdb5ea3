// Command greenlight is the operator's tool: validate a config, follow,
// approve, reject and roll back releases, and run a whole release locally.
package main

import (
	"errors"
	"fmt"
	"os"
)

// Exit codes, documented in the README.
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
	err := newRoot().Execute()
	if err == nil {
		os.Exit(exitOK)
	}
	fmt.Fprintln(os.Stderr, "greenlight:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(exitUsage)
}
