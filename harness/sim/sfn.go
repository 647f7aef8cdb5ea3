package sim

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// SFN is the simulated Step Functions API as greenlight's steps and CLI
// use it: starting and describing executions, answering task tokens. The
// executions themselves run in the local engine, which registers through
// OnStartExecution, FinishExecution and AwaitTask. It implements
// awsapi.SFN.
type SFN struct{ r *Region }

type execution struct {
	Execution
	caller string
}

// Execution is one state machine execution as DescribeExecution reports
// it.
type Execution struct {
	ARN             string
	StateMachineARN string
	Name            string
	Input           string
	Status          sfntypes.ExecutionStatus
	Output          string
	Error, Cause    string
	StartDate       time.Time
	StopDate        time.Time
}

// AddStateMachine makes a state machine exist (the fixture creates
// Options.StateMachineARN).
func (r *Region) AddStateMachine(arn string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.machines[arn] = true
}

// OnStartExecution registers what runs new executions: the local engine.
// It is called outside the region's lock, once per execution started
// (not for a StartExecution answered idempotently).
func (r *Region) OnStartExecution(fn func(ctx context.Context, e Execution)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onStart = fn
}

// FinishExecution records how an execution ended. Tasks still waiting
// for a token in that execution end too: answering them afterwards is
// TaskTimedOut, as on AWS.
func (r *Region) FinishExecution(arn string, status sfntypes.ExecutionStatus, output, errName, cause string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.executions[arn]
	if !ok {
		return errUnknown("execution", arn)
	}
	now := r.now()
	e.Status, e.Output, e.Error, e.Cause, e.StopDate = status, output, errName, cause, now
	for _, t := range r.tasks {
		if t.executionARN == arn {
			t.finish(TaskResult{Status: TaskAborted}, now)
		}
	}
	return nil
}

// Executions returns every execution started, oldest first.
func (r *Region) Executions() []Execution {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Execution
	for _, arn := range r.execOrder {
		out = append(out, r.executions[arn].Execution)
	}
	return out
}

// StartExecution starts an execution of a STANDARD state machine. The
// name is unique: while an execution with the same name and input runs,
// the call returns it again; otherwise a used name is
// ExecutionAlreadyExists.
func (s *SFN) StartExecution(ctx context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	r := s.r
	var started *Execution
	out, err := call(ctx, r, ServiceSFN, "StartExecution", in, func(caller string) (*sfn.StartExecutionOutput, error) {
		if in.StateMachineArn == nil {
			return nil, paramRequired("StartExecutionInput", "StateMachineArn")
		}
		machine := *in.StateMachineArn
		prefix := "arn:aws:states:" + r.opts.Region + ":" + r.opts.Account + ":stateMachine:"
		if !strings.HasPrefix(machine, prefix) {
			return nil, apiErrorf(ServiceSFN, "InvalidArn", "Invalid Arn: '%s'", machine)
		}
		if !r.machines[machine] {
			return nil, apiErrorf(ServiceSFN, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", machine)
		}
		name := aws.ToString(in.Name)
		if name == "" {
			name = r.uuid()
		}
		if !validExecutionName(name) {
			return nil, apiErrorf(ServiceSFN, "InvalidName", "Invalid Name: '%s'", name)
		}
		input := aws.ToString(in.Input)
		if input == "" {
			input = "{}"
		}
		if !json.Valid([]byte(input)) {
			return nil, apiErrorf(ServiceSFN, "InvalidExecutionInput", "Invalid State Machine Execution Input: '%s'", input)
		}
		arn := strings.Replace(machine, ":stateMachine:", ":execution:", 1) + ":" + name
		if e, ok := r.executions[arn]; ok {
			if e.Status == sfntypes.ExecutionStatusRunning && e.Input == input {
				return &sfn.StartExecutionOutput{ExecutionArn: aws.String(arn), StartDate: aws.Time(e.StartDate)}, nil
			}
			return nil, apiErrorf(ServiceSFN, "ExecutionAlreadyExists", "Execution Already Exists: '%s'", arn)
		}
		e := &execution{Execution: Execution{ARN: arn, StateMachineARN: machine, Name: name, Input: input,
			Status: sfntypes.ExecutionStatusRunning, StartDate: r.now()}, caller: caller}
		r.executions[arn] = e
		r.execOrder = append(r.execOrder, arn)
		cp := e.Execution
		started = &cp
		return &sfn.StartExecutionOutput{ExecutionArn: aws.String(arn), StartDate: aws.Time(e.StartDate)}, nil
	})
	if err == nil && started != nil {
		r.mu.Lock()
		hook := r.onStart
		r.mu.Unlock()
		if hook != nil {
			hook(ctx, *started)
		}
	}
	return out, err
}

// validExecutionName applies Step Functions' naming rule: 1–80
// characters, none of whitespace, brackets, wildcards, punctuation that
// URLs use, or control characters.
func validExecutionName(name string) bool {
	if name == "" || len(name) > 80 {
		return false
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" \t\n<>{}[]?*\"#%\\^|~`$&,;:/", c) {
			return false
		}
	}
	return true
}

// DescribeExecution reports an execution; an unknown one is
// ExecutionDoesNotExist.
func (s *SFN) DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	return call(ctx, s.r, ServiceSFN, "DescribeExecution", in, func(string) (*sfn.DescribeExecutionOutput, error) {
		if in.ExecutionArn == nil {
			return nil, paramRequired("DescribeExecutionInput", "ExecutionArn")
		}
		arn := *in.ExecutionArn
		if !strings.HasPrefix(arn, "arn:aws:states:") || !strings.Contains(arn, ":execution:") {
			return nil, apiErrorf(ServiceSFN, "InvalidArn", "Invalid Arn: '%s'", arn)
		}
		e, ok := s.r.executions[arn]
		if !ok {
			return nil, apiErrorf(ServiceSFN, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", arn)
		}
		out := &sfn.DescribeExecutionOutput{
			ExecutionArn: aws.String(e.ARN), StateMachineArn: aws.String(e.StateMachineARN), Name: aws.String(e.Name),
			Status: e.Status, Input: aws.String(e.Input), StartDate: aws.Time(e.StartDate),
		}
		if e.Status != sfntypes.ExecutionStatusRunning {
			out.StopDate = aws.Time(e.StopDate)
			if e.Output != "" {
				out.Output = aws.String(e.Output)
			}
			if e.Error != "" {
				out.Error = aws.String(e.Error)
			}
			if e.Cause != "" {
				out.Cause = aws.String(e.Cause)
			}
		}
		return out, nil
	})
}

// TaskStatus is how a task waiting for its token ended.
type TaskStatus string

// Task endings.
const (
	TaskSucceeded TaskStatus = "SUCCEEDED" // SendTaskSuccess
	TaskFailed    TaskStatus = "FAILED"    // SendTaskFailure
	TaskTimedOut  TaskStatus = "TIMED_OUT" // its timeout or heartbeat passed (error States.Timeout)
	TaskAborted   TaskStatus = "ABORTED"   // its execution ended first
)

// TaskResult is a task's ending.
type TaskResult struct {
	Status TaskStatus
	Output string // SendTaskSuccess's output
	Error  string // SendTaskFailure's error, or States.Timeout
	Cause  string
	At     time.Time
}

// TaskOptions describe a task that waits for its token.
type TaskOptions struct {
	ExecutionARN string
	// Timeout and Heartbeat, measured on the simulated clock, end the task
	// as TimedOut: Timeout after it starts, Heartbeat after the last
	// heartbeat (or the start). Zero means none.
	Timeout   time.Duration
	Heartbeat time.Duration
}

// Task is a state waiting for SendTaskSuccess or SendTaskFailure with its
// token, registered by the local engine.
type Task struct {
	token, executionARN string
	timeoutAt           time.Time
	heartbeat           time.Duration
	lastBeat            time.Time
	done                chan struct{}

	mu     sync.Mutex
	result TaskResult
	ended  bool
}

// AwaitTask registers a task token; the returned task's Done channel
// closes when the token is answered, or the task times out or is aborted.
func (r *Region) AwaitTask(token string, opts TaskOptions) *Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	t := &Task{token: token, executionARN: opts.ExecutionARN, heartbeat: opts.Heartbeat, lastBeat: now, done: make(chan struct{})}
	if opts.Timeout > 0 {
		t.timeoutAt = now.Add(opts.Timeout)
	}
	r.tasks[token] = t
	return t
}

// Token is the task's token.
func (t *Task) Token() string { return t.token }

// Done closes when the task has ended.
func (t *Task) Done() <-chan struct{} { return t.done }

// Result is how the task ended; the zero TaskResult while it waits.
func (t *Task) Result() TaskResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.result
}

// Deadline is when the task times out on the simulated clock, zero if
// never or already ended.
func (t *Task) Deadline() time.Time { return t.deadline() }

// deadline is when the task times out, zero if never or already ended.
// Called with the region's lock held.
func (t *Task) deadline() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return time.Time{}
	}
	d := t.timeoutAt
	if t.heartbeat > 0 {
		hb := t.lastBeat.Add(t.heartbeat)
		if d.IsZero() || hb.Before(d) {
			d = hb
		}
	}
	return d
}

// finish ends the task once; later endings are ignored.
func (t *Task) finish(res TaskResult, at time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return false
	}
	res.At = at
	t.result, t.ended = res, true
	close(t.done)
	return true
}

func (t *Task) isEnded() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ended
}

// task finds a waiting task by token: an unknown token is InvalidToken, a
// task that has ended TaskTimedOut. Called with r.mu held.
func (r *Region) task(token string) (*Task, error) {
	t, ok := r.tasks[token]
	if !ok {
		return nil, apiError(ServiceSFN, "InvalidToken", "Invalid Token: 'Invalid token'")
	}
	if t.isEnded() {
		return nil, apiError(ServiceSFN, "TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
	}
	return t, nil
}

// SendTaskSuccess completes a waiting task with its output, which must be
// JSON.
func (s *SFN) SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, _ ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error) {
	return call(ctx, s.r, ServiceSFN, "SendTaskSuccess", in, func(string) (*sfn.SendTaskSuccessOutput, error) {
		if m := missing(map[string]bool{"Output": in.Output != nil, "TaskToken": in.TaskToken != nil}); len(m) > 0 {
			return nil, paramRequired("SendTaskSuccessInput", m...)
		}
		t, err := s.r.task(*in.TaskToken)
		if err != nil {
			return nil, err
		}
		if !json.Valid([]byte(*in.Output)) {
			return nil, apiErrorf(ServiceSFN, "InvalidOutput", "Invalid Output: '%s'", *in.Output)
		}
		t.finish(TaskResult{Status: TaskSucceeded, Output: *in.Output}, s.r.now())
		return &sfn.SendTaskSuccessOutput{}, nil
	})
}

// SendTaskFailure fails a waiting task with an error name and cause.
func (s *SFN) SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, _ ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error) {
	return call(ctx, s.r, ServiceSFN, "SendTaskFailure", in, func(string) (*sfn.SendTaskFailureOutput, error) {
		if in.TaskToken == nil {
			return nil, paramRequired("SendTaskFailureInput", "TaskToken")
		}
		t, err := s.r.task(*in.TaskToken)
		if err != nil {
			return nil, err
		}
		t.finish(TaskResult{Status: TaskFailed, Error: aws.ToString(in.Error), Cause: aws.ToString(in.Cause)}, s.r.now())
		return &sfn.SendTaskFailureOutput{}, nil
	})
}

// SendTaskHeartbeat tells a waiting task its worker is alive, restarting
// its heartbeat timeout.
func (s *SFN) SendTaskHeartbeat(ctx context.Context, in *sfn.SendTaskHeartbeatInput, _ ...func(*sfn.Options)) (*sfn.SendTaskHeartbeatOutput, error) {
	return call(ctx, s.r, ServiceSFN, "SendTaskHeartbeat", in, func(string) (*sfn.SendTaskHeartbeatOutput, error) {
		if in.TaskToken == nil {
			return nil, paramRequired("SendTaskHeartbeatInput", "TaskToken")
		}
		t, err := s.r.task(*in.TaskToken)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		t.lastBeat = s.r.now()
		t.mu.Unlock()
		return &sfn.SendTaskHeartbeatOutput{}, nil
	})
}
