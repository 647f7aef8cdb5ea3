package infra

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
)

// spec is what the stack must know about a step's function beyond its
// handler: how long it may run, which resources it is told about, and
// exactly which calls its role may make.
type spec struct {
	// Timeout bounds one invocation; steps start or check something and
	// return, so most need seconds.
	Timeout time.Duration
	// Env lists the step.Var* variables the step reads.
	Env []string
	// Allow grants the step's role its permissions.
	Allow func(s *Stack, fn awslambda.Function)
}

func (sp spec) timeoutSeconds() float64 {
	if sp.Timeout == 0 {
		return 30
	}
	return sp.Timeout.Seconds()
}

// specs has one entry per registered handler; a test keeps the two lists
// equal.
var specs = map[string]spec{}
