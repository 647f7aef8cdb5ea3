package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/greenlight/greenlight/internal/release"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte("ok"))
		case "/":
			w.Write([]byte("<h1>shop 1.2.0</h1>"))
		case "/slow":
			time.Sleep(60 * time.Millisecond)
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
	rep := Run(context.Background(), srv.Client(), host, port, Checks(cfg), time.Now())
	want := map[string]string{"health": "", "home": "", "wrong body": `body lacks "blog"`, "missing": "status 404, want 200", "slow": "budget 10 ms"}
	if rep.Passed || len(rep.Checks) != len(want) {
		t.Fatalf("report %+v", rep)
	}
	for _, c := range rep.Checks {
		w := want[c.Name]
		if (w == "") != c.Passed || !strings.Contains(c.Problem, w) {
			t.Errorf("%s: passed %v, problem %q, want %q", c.Name, c.Passed, c.Problem, w)
		}
	}
	if msg := Failures(rep); !strings.HasPrefix(msg, "3 of 5 checks failed against "+srv.URL) {
		t.Errorf("failures: %s", msg)
	}

	srv.Close()
	down := Run(context.Background(), http.DefaultClient, host, port, Checks(release.Config{HealthCheck: release.HealthCheck{Path: "/healthz", ExpectedStatus: 200}}), time.Now())
	if down.Passed || !strings.HasPrefix(down.Checks[0].Problem, "no answer") {
		t.Errorf("a stopped app: %+v", down.Checks)
	}
}
