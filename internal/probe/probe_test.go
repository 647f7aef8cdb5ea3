package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greenlight/greenlight/internal/release"
)

// fakeClock is the probe's clock in a test: it moves only when the test
// server says an answer took time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// useClock measures latencies on c for the rest of the test.
func useClock(t *testing.T, c *fakeClock) {
	clock = c.Now
	t.Cleanup(func() { clock = time.Now })
}

func TestRun(t *testing.T) {
	fake := &fakeClock{now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	useClock(t, fake)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte("ok"))
		case "/":
			w.Write([]byte("<h1>shop 1.2.0</h1>"))
		case "/slow":
			fake.Advance(60 * time.Millisecond) // the answer takes 60 ms
			w.Write([]byte("eventually"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	host, portText, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	port, _ := strconv.Atoi(portText)
	cfg := release.Config{HealthCheck: release.HealthCheck{Path: "/healthz", ExpectedStatus: 200}, SmokeTests: []release.SmokeTest{
		{Name: "home", Path: "/", ExpectedStatus: 200, BodyContains: "shop", MaxLatency: release.Duration(time.Second)},
		{Name: "wrong body", Path: "/", ExpectedStatus: 200, BodyContains: "blog", MaxLatency: release.Duration(time.Second)},
		{Name: "missing", Path: "/nope", ExpectedStatus: 200, MaxLatency: release.Duration(time.Second)},
		{Name: "slow", Path: "/slow", ExpectedStatus: 200, MaxLatency: release.Duration(10 * time.Millisecond)},
	}}
	rep := Run(context.Background(), srv.Client(), host, port, Checks(cfg), fake.Now())
	want := map[string]string{"health": "", "home": "", "wrong body": `body lacks "blog"`, "missing": "status 404, want 200", "slow": "took 60 ms, budget 10 ms"}
	if rep.Passed || len(rep.Checks) != len(want) {
		t.Fatalf("report %+v", rep)
	}
	for _, c := range rep.Checks {
		w := want[c.Name]
		if (w == "") != c.Passed || !strings.Contains(c.Problem, w) {
			t.Errorf("%s: passed %v, problem %q, want %q", c.Name, c.Passed, c.Problem, w)
		}
		wantMS := int64(0) // the fake clock moves only for /slow
		if c.Name == "slow" {
			wantMS = 60
		}
		if c.LatencyMS != wantMS {
			t.Errorf("%s: latency %d ms, want %d", c.Name, c.LatencyMS, wantMS)
		}
	}
	if msg := Failures(rep); !strings.HasPrefix(msg, "3 of 5 checks failed against "+srv.URL) {
		t.Errorf("failures: %s", msg)
	}

	srv.Close()
	down := Run(context.Background(), http.DefaultClient, host, port, Checks(release.Config{HealthCheck: release.HealthCheck{Path: "/healthz", ExpectedStatus: 200}}), fake.Now())
	if down.Passed || !strings.HasPrefix(down.Checks[0].Problem, "no answer") {
		t.Errorf("a stopped app: %+v", down.Checks)
	}
}
