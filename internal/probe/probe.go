// Package probe runs greenlight's HTTP checks: the app's health check and
// the configured smoke tests, against one address. The smoke step runs them
// against the candidate, the verify step against the public endpoint.
package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/greenlight/greenlight/internal/release"
)

// clock reads the time a check's latency is measured on: the wall clock;
// a test gives the probe a clock of its own, so a slow answer need not
// take real time.
var clock = time.Now

// Checks is the health check followed by the smoke tests of a config.
func Checks(c release.Config) []release.SmokeTest {
	health := release.SmokeTest{
		Name:           "health",
		Path:           c.HealthCheck.Path,
		ExpectedStatus: c.HealthCheck.ExpectedStatus,
		MaxLatency:     release.Duration(5 * time.Second),
	}
	return append([]release.SmokeTest{health}, c.SmokeTests...)
}

// Run performs the checks against host:port, one after the other, and
// reports each. now stamps the report (the simulated clock locally).
func Run(ctx context.Context, client *http.Client, host string, port int, checks []release.SmokeTest, now time.Time) *release.Report {
	return RunAs(ctx, client, host, port, "", checks, now)
}

// RunAs is Run with the Host header set to hostHeader ("" for host): a
// load balancer's rule that matches on the host name routes only requests
// that name it.
func RunAs(ctx context.Context, client *http.Client, host string, port int, hostHeader string, checks []release.SmokeTest, now time.Time) *release.Report {
	base := "http://" + net.JoinHostPort(host, strconv.Itoa(port))
	rep := &release.Report{Target: base, Passed: true, At: now.UTC()}
	if hostHeader != "" {
		rep.Target += " (Host: " + hostHeader + ")"
	}
	for _, c := range checks {
		r := one(ctx, client, base, hostHeader, c)
		rep.Checks = append(rep.Checks, r)
		rep.Passed = rep.Passed && r.Passed
	}
	return rep
}

func one(ctx context.Context, client *http.Client, base, hostHeader string, c release.SmokeTest) release.CheckResult {
	res := release.CheckResult{Name: c.Name, URL: base + c.Path}
	// A check may take up to twice its budget before it is abandoned, so a
	// slow answer is reported as slow rather than as a timeout.
	ctx, cancel := context.WithTimeout(ctx, 2*c.MaxLatency.D()+time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, res.URL, nil)
	if err != nil {
		res.Problem = err.Error()
		return res
	}
	req.Header.Set("User-Agent", "greenlight-probe")
	if hostHeader != "" {
		req.Host = hostHeader
	}
	start := clock()
	resp, err := client.Do(req)
	if err != nil {
		res.LatencyMS = clock().Sub(start).Milliseconds()
		res.Problem = "no answer: " + err.Error()
		return res
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	res.LatencyMS = clock().Sub(start).Milliseconds()
	res.Status = resp.StatusCode
	var problems []string
	if err != nil {
		problems = append(problems, "body unreadable: "+err.Error())
	}
	if resp.StatusCode != c.ExpectedStatus {
		problems = append(problems, fmt.Sprintf("status %d, want %d", resp.StatusCode, c.ExpectedStatus))
	}
	if c.BodyContains != "" && !strings.Contains(string(body), c.BodyContains) {
		problems = append(problems, fmt.Sprintf("body lacks %q", c.BodyContains))
	}
	if budget := c.MaxLatency.D(); time.Duration(res.LatencyMS)*time.Millisecond > budget {
		problems = append(problems, fmt.Sprintf("took %d ms, budget %d ms", res.LatencyMS, budget.Milliseconds()))
	}
	res.Problem = strings.Join(problems, "; ")
	res.Passed = len(problems) == 0
	return res
}

// Failures words the failed checks of a report for an error message.
func Failures(r *release.Report) string {
	var out []string
	n := 0
	for _, c := range r.Checks {
		if !c.Passed {
			n++
			out = append(out, c.Name+": "+c.Problem)
		}
	}
	return fmt.Sprintf("%d of %d checks failed against %s: %s", n, len(r.Checks), r.Target, strings.Join(out, "; "))
}
