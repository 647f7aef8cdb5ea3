package localrun

import (
	"context"
	"sync"
	"time"

	"github.com/greenlight/greenlight/harness/sim"
)

// simTokens keeps callback tasks in the simulated region, so that
// SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat (from a step, the
// CLI or a test) answer them with Step Functions' own error codes, and
// waits for them on the scheduler, so an unanswered token times out on the
// simulated clock.
type simTokens struct {
	region *sim.Region
	sched  *Scheduler
	arn    func(execution string) string

	mu    sync.Mutex
	tasks map[string]*pending
}

type pending struct {
	task      *sim.Task
	execution string
	state     string
	human     bool
}

func newSimTokens(r *sim.Region, sched *Scheduler, arn func(string) string) *simTokens {
	return &simTokens{region: r, sched: sched, arn: arn, tasks: map[string]*pending{}}
}

// Register opens a token in the region.
func (s *simTokens) Register(execution, state, token string, timeout, heartbeat time.Duration) {
	t := s.region.AwaitTask(token, sim.TaskOptions{ExecutionARN: s.arn(execution), Timeout: timeout, Heartbeat: heartbeat})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tasks[token] = &pending{task: t, execution: execution, state: state}
}

// Open lists the unanswered tokens of an execution's state.
func (s *simTokens) Open(execution, state string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for tok, p := range s.tasks {
		if p.execution == execution && p.state == state && p.task.Result().Status == "" {
			out = append(out, tok)
		}
	}
	return out
}

// WaitForHuman takes a token's deadline off the simulated clock: a person
// at a terminal answers in real time, and simulated time must not run out
// under them.
func (s *simTokens) WaitForHuman(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.tasks[token]; ok {
		p.human = true
	}
}

// Await waits until the task ends: answered, or timed out when the
// scheduler moves the clock past its deadline.
func (s *simTokens) Await(ctx context.Context, execution, token string) TokenOutcome {
	s.mu.Lock()
	p, ok := s.tasks[token]
	s.mu.Unlock()
	if !ok {
		return TokenOutcome{Status: "failure", Error: "States.Runtime", Cause: "unknown task token"}
	}
	for {
		select {
		case <-p.task.Done():
			return outcome(p.task.Result())
		default:
		}
		deadline := p.task.Deadline()
		s.mu.Lock()
		if p.human {
			deadline = time.Time{}
		}
		s.mu.Unlock()
		if _, err := s.sched.Wait(ctx, execution, deadline, p.task.Done()); err != nil {
			return TokenOutcome{Status: "failure", Error: "States.Runtime", Cause: err.Error()}
		}
		// The clock reached the deadline: the region times the task out
		// when it next settles; let it.
		s.region.Advance(ctx, 0)
	}
}

func outcome(r sim.TaskResult) TokenOutcome {
	switch r.Status {
	case sim.TaskSucceeded:
		return TokenOutcome{Status: "success", Output: r.Output}
	case sim.TaskFailed:
		return TokenOutcome{Status: "failure", Error: r.Error, Cause: r.Cause}
	case sim.TaskTimedOut:
		if r.Error == "States.HeartbeatTimeout" {
			return TokenOutcome{Status: "heartbeat-timeout"}
		}
		return TokenOutcome{Status: "timeout"}
	}
	return TokenOutcome{Status: "failure", Error: "States.Runtime", Cause: "task " + string(r.Status)}
}
