package localrun

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/greenlight/greenlight/harness/sim"
)

// TestAPollingHandlerSleepsOnTheSimulatedClockWithinItsTimeout: a handler
// that sleeps (step.Deps.Sleeper is Scheduler.SleepIn) moves the simulated
// clock as the execution it serves; one that sleeps past its function's
// timeout is answered as Lambda answers a timed-out function, whatever it
// went on to return.
func TestAPollingHandlerSleepsOnTheSimulatedClockWithinItsTimeout(t *testing.T) {
	region := sim.NewTest(t, sim.Options{Start: epoch})
	sched := NewScheduler(regionClock{region})
	handlers := map[string]any{
		"poller": func(ctx context.Context, in struct {
			Seconds int `json:"seconds"`
		}) (string, error) {
			if err := sched.SleepIn(ctx, time.Duration(in.Seconds)*time.Second); err != nil {
				return "", err
			}
			return "done", nil
		},
	}
	host := NewHost(handlers, sched, nil, slog.New(slog.DiscardHandler))
	host.Timeout = func(string) time.Duration { return 30 * time.Second }
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	sched.Join("exec-1")
	defer sched.Leave("exec-1")

	invoke := func(seconds string) (string, string) {
		req, err := http.NewRequest(http.MethodPost, host.URL()+"/2015-03-31/functions/poller/invocations", strings.NewReader(`{"seconds":`+seconds+`}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Greenlight-Execution", "exec-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("X-Amz-Function-Error"), string(body)
	}

	before := region.Now()
	if fnErr, body := invoke("20"); fnErr != "" || body != `"done"` {
		t.Fatalf("a 20 s poll in a 30 s function: error %q, body %s", fnErr, body)
	}
	if slept := region.Now().Sub(before); slept != 20*time.Second {
		t.Errorf("the clock moved %s during a 20 s sleep", slept)
	}
	if fnErr, body := invoke("45"); fnErr != "Unhandled" || !strings.Contains(body, "Task timed out after 30.00 seconds") {
		t.Fatalf("a 45 s poll in a 30 s function: error %q, body %s; want the timeout", fnErr, body)
	}
}
