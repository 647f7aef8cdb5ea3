package localrun

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/aws/smithy-go"
)

// TokenBook holds the task tokens of callback tasks and answers
// SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat with Step
// Functions' own error codes. Waiting happens on the scheduler, so a token
// nobody answers times out on the simulated clock.
type TokenBook struct {
	sched *Scheduler

	mu     sync.Mutex
	tokens map[string]*task
}

type task struct {
	execution, state string
	timeout          time.Duration
	heartbeat        time.Duration
	deadline         time.Time // zero: no timeout
	beatDeadline     time.Time
	answered         chan struct{}
	outcome          TokenOutcome
	closed           bool
}

// NewTokenBook waits on sched.
func NewTokenBook(sched *Scheduler) *TokenBook {
	return &TokenBook{sched: sched, tokens: map[string]*task{}}
}

// Register opens a token; its timeout counts from now.
func (b *TokenBook) Register(execution, state, token string, timeout, heartbeat time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := &task{execution: execution, state: state, timeout: timeout, heartbeat: heartbeat, answered: make(chan struct{})}
	now := b.sched.Now()
	if timeout > 0 {
		t.deadline = now.Add(timeout)
	}
	if heartbeat > 0 {
		t.beatDeadline = now.Add(heartbeat)
	}
	b.tokens[token] = t
}

// Open lists the unanswered tokens of an execution's state.
func (b *TokenBook) Open(execution, state string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for tok, t := range b.tokens {
		if t.execution == execution && t.state == state && !t.closed {
			out = append(out, tok)
		}
	}
	return out
}

// Await waits for an answer or the timeout. A human-answered token (see
// WaitForHuman) has no simulated deadline.
func (b *TokenBook) Await(ctx context.Context, execution, token string) TokenOutcome {
	for {
		b.mu.Lock()
		t, ok := b.tokens[token]
		if !ok {
			b.mu.Unlock()
			return TokenOutcome{Status: "failure", Error: "States.Runtime", Cause: "unknown task token"}
		}
		if t.closed {
			out := t.outcome
			b.mu.Unlock()
			return out
		}
		deadline, status := t.deadline, "timeout"
		if !t.beatDeadline.IsZero() && (deadline.IsZero() || t.beatDeadline.Before(deadline)) {
			deadline, status = t.beatDeadline, "heartbeat-timeout"
		}
		answered := t.answered
		b.mu.Unlock()

		timedOut, err := b.sched.Wait(ctx, execution, deadline, answered)
		if err != nil {
			return TokenOutcome{Status: "failure", Error: "States.Runtime", Cause: err.Error()}
		}
		if timedOut {
			b.mu.Lock()
			// A heartbeat may have moved the deadline meanwhile.
			if !t.closed && !b.sched.Now().Before(deadlineOf(t, status)) {
				t.closed, t.outcome = true, TokenOutcome{Status: status}
			}
			b.mu.Unlock()
		}
	}
}

func deadlineOf(t *task, status string) time.Time {
	if status == "heartbeat-timeout" {
		return t.beatDeadline
	}
	return t.deadline
}

// WaitForHuman removes the simulated deadline of an execution's open
// tokens: a person at a terminal answers in real time, and simulated time
// must not run out under them.
func (b *TokenBook) WaitForHuman(token string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.tokens[token]; ok {
		t.deadline, t.beatDeadline = time.Time{}, time.Time{}
	}
}

func sfnError(code, msg string) error {
	return &smithy.GenericAPIError{Code: code, Message: msg, Fault: smithy.FaultClient}
}

func (b *TokenBook) answer(token string, out TokenOutcome) error {
	if len(token) == 0 || len(token) > 2048 {
		return sfnError("InvalidToken", "Invalid Token: 'Invalid token'")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tokens[token]
	if !ok {
		return sfnError("InvalidToken", "Invalid Token: 'Invalid token'")
	}
	if t.closed {
		return sfnError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
	}
	t.closed, t.outcome = true, out
	close(t.answered)
	return nil
}

// Succeed answers SendTaskSuccess.
func (b *TokenBook) Succeed(token, output string) error {
	if !json.Valid([]byte(output)) {
		return sfnError("InvalidOutput", "Invalid State Machine Execution Output: 'output is not valid JSON'")
	}
	return b.answer(token, TokenOutcome{Status: "success", Output: output})
}

// Fail answers SendTaskFailure.
func (b *TokenBook) Fail(token, errName, cause string) error {
	return b.answer(token, TokenOutcome{Status: "failure", Error: errName, Cause: cause})
}

// Heartbeat answers SendTaskHeartbeat: the heartbeat deadline restarts.
func (b *TokenBook) Heartbeat(token string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tokens[token]
	if !ok {
		return sfnError("InvalidToken", "Invalid Token: 'Invalid token'")
	}
	if t.closed {
		return sfnError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
	}
	if t.heartbeat > 0 {
		t.beatDeadline = b.sched.Now().Add(t.heartbeat)
	}
	return nil
}
