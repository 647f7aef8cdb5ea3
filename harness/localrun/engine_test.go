package localrun

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
)

var epoch = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

type engineInput struct {
	PauseSeconds  int    `json:"pauseSeconds"`
	Route         string `json:"route"`
	FlakyFailures int    `json:"flakyFailures"`
	Boom          bool   `json:"boom"`
}

// testMachine runs testdata/engine-test.asl.json with test handlers; answer
// decides what happens to the approval token once the "ask" task has run.
func testMachine(t *testing.T, in engineInput, answer func(r *sim.Region, token string)) (*Execution, time.Duration) {
	t.Helper()
	tc, err := FindToolchain()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/engine-test.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	var def map[string]any
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	m, err := Analyze("test", def)
	if err != nil {
		t.Fatal(err)
	}
	region := sim.NewTest(t, sim.Options{Start: epoch})
	sched := NewScheduler(regionClock{region})
	book := newSimTokens(region, sched, m.ExecutionARN)
	attempts := 0
	var token string
	handlers := map[string]any{
		"echo": func(ctx context.Context, v map[string]any) (map[string]any, error) { return v, nil },
		"flaky": func(ctx context.Context, v engineInput) (map[string]int, error) {
			attempts++
			if v.Boom {
				return nil, Boom{"kaboom"}
			}
			if attempts <= v.FlakyFailures {
				return nil, release.Throttled{Cause: "slow down"}
			}
			return map[string]int{"attempts": attempts}, nil
		},
		"ask": func(ctx context.Context, v struct {
			Token     string `json:"token"`
			Execution string `json:"execution"`
		}) (struct{}, error) {
			token = v.Token
			return struct{}{}, nil
		},
	}
	host := NewHost(handlers, sched, book, slog.New(slog.DiscardHandler))
	host.Around = func(ctx context.Context, inv Invocation, invoke func(context.Context) ([]byte, error)) ([]byte, error) {
		out, err := invoke(ctx)
		if inv.Function == "ask" && answer != nil {
			answer(region, token)
		}
		return out, err
	}
	run := startEngine(t, tc, host, sched)
	return run(m.Job("exec-1", in, epoch)), region.Now().Sub(epoch)
}

// startEngine starts host and a runner serving it, both closed when the
// test ends; the function it returns runs one job to its end.
func startEngine(t *testing.T, tc Toolchain, host *Host, sched *Scheduler) func(*Job) *Execution {
	t.Helper()
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	engine, err := tc.Start(context.Background(), host.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	return func(job *Job) *Execution {
		t.Helper()
		host.AddJob(job)
		sched.Join(job.Name)
		defer sched.Leave(job.Name)
		ex, err := engine.Run(context.Background(), job.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}
}

// Boom is a test error; its type name is what the Catch matches.
type Boom struct{ release.Cause }

func approve(r *sim.Region, token string) {
	if _, err := r.SFN().SendTaskSuccess(context.Background(), &sfn.SendTaskSuccessInput{TaskToken: &token, Output: aws.String(`{"approved":true}`)}); err != nil {
		panic(err)
	}
}

func TestEnginePaths(t *testing.T) {
	tests := []struct {
		name    string
		in      engineInput
		answer  func(*sim.Region, string)
		status  string
		errName string
		path    []string
		elapsed time.Duration
	}{
		{"wait, retry with backoff, choice, callback approved",
			engineInput{PauseSeconds: 30, FlakyFailures: 2}, approve, "SUCCEEDED", "",
			[]string{"Begin", "Pause", "Flaky", "Route", "Approve", "Done"}, 30*time.Second + 2*time.Second + 4*time.Second},
		{"parallel branches",
			engineInput{PauseSeconds: 5, Route: "fan"}, approve, "SUCCEEDED", "",
			[]string{"Begin", "Pause", "Flaky", "Route", "Fan", "Left", "Right", "Approve", "Done"}, 5 * time.Second},
		{"catch by Go error type",
			engineInput{PauseSeconds: 1, Boom: true}, nil, "FAILED", "Recovered",
			[]string{"Begin", "Pause", "Flaky", "Recover", "Failed"}, time.Second},
		{"retries exhausted, not caught",
			engineInput{PauseSeconds: 1, FlakyFailures: 9}, nil, "FAILED", "Throttled",
			[]string{"Begin", "Pause", "Flaky"}, time.Second + 2*time.Second + 4*time.Second + 8*time.Second},
		{"callback rejected",
			engineInput{PauseSeconds: 1}, func(r *sim.Region, tok string) {
				if _, err := r.SFN().SendTaskFailure(context.Background(), &sfn.SendTaskFailureInput{TaskToken: &tok, Error: aws.String("Rejected"), Cause: aws.String("not today")}); err != nil {
					panic(err)
				}
			}, "FAILED", "Recovered",
			[]string{"Begin", "Pause", "Flaky", "Route", "Approve", "Recover", "Failed"}, time.Second},
		{"callback timed out",
			engineInput{PauseSeconds: 1}, func(*sim.Region, string) {}, "FAILED", "Recovered",
			[]string{"Begin", "Pause", "Flaky", "Route", "Approve", "Recover", "Failed"}, time.Second + time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex, elapsed := testMachine(t, tt.in, tt.answer)
			if ex.Status != tt.status || ex.Error != tt.errName {
				t.Errorf("status %s %s (%s), want %s %s", ex.Status, ex.Error, ex.Cause, tt.status, tt.errName)
			}
			if got := ex.Path(); !reflect.DeepEqual(got, tt.path) {
				t.Errorf("path\n got %v\nwant %v", got, tt.path)
			}
			if elapsed != tt.elapsed {
				t.Errorf("simulated time %s, want %s", elapsed, tt.elapsed)
			}
		})
	}
}

func TestCallbackTimeoutCause(t *testing.T) {
	ex, _ := testMachine(t, engineInput{PauseSeconds: 1}, func(*sim.Region, string) {})
	for _, ev := range ex.Events {
		if ev.Type == "StateCaught" && ev.State == "Approve" {
			return
		}
		if ev.Type == "StateFailed" && ev.State == "Approve" && ev.Error != "States.Timeout" {
			t.Fatalf("Approve failed with %s, want States.Timeout", ev.Error)
		}
	}
	t.Fatalf("Approve was not caught: %+v", ex.Events)
}

func TestValidatorAcceptsTheTestMachine(t *testing.T) {
	tc, err := FindToolchain()
	if err != nil {
		t.Fatal(err)
	}
	var def map[string]any
	raw, _ := os.ReadFile("testdata/engine-test.asl.json")
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	if err := tc.ValidateASL(context.Background(), def); err != nil {
		t.Fatal(err)
	}
}

func TestValidatorRejectionCarriesItsMessage(t *testing.T) {
	tc, err := FindToolchain()
	if err != nil {
		t.Fatal(err)
	}
	def := map[string]any{"StartAt": "X", "States": map[string]any{"X": map[string]any{"Type": "Taks", "End": true}}}
	err = tc.ValidateASL(context.Background(), def)
	if err == nil || !strings.Contains(err.Error(), "SCHEMA_VALIDATION_FAILED: /States/X/Type is invalid") {
		t.Fatalf("want the validator's message, got %v", err)
	}
}

// TestRunnerRejectsAnInvalidDefinitionEveryTime: the runner validates a
// definition on its first execution only once it passed; one the validator
// rejects is rejected again on the next execution, not run unvalidated.
func TestRunnerRejectsAnInvalidDefinitionEveryTime(t *testing.T) {
	tc, err := FindToolchain()
	if err != nil {
		t.Fatal(err)
	}
	def := map[string]any{"StartAt": "Only", "States": map[string]any{
		"Only": map[string]any{"Type": "Pass", "InputPath": "not a path", "End": true},
	}}
	m, err := Analyze("invalid", def)
	if err != nil {
		t.Fatal(err)
	}
	region := sim.NewTest(t, sim.Options{Start: epoch})
	sched := NewScheduler(regionClock{region})
	host := NewHost(map[string]any{}, sched, newSimTokens(region, sched, m.ExecutionARN), slog.New(slog.DiscardHandler))
	run := startEngine(t, tc, host, sched)
	for _, name := range []string{"exec-1", "exec-2"} {
		ex := run(m.Job(name, map[string]any{}, epoch))
		if ex.Status != "FAILED" || !strings.Contains(ex.Cause, "InputPath") {
			t.Errorf("%s: %s %s (%s), want FAILED naming the invalid InputPath", name, ex.Status, ex.Error, ex.Cause)
		}
	}
}
