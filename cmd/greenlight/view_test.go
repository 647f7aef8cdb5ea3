package main

import (
	"strings"

	"github.com/greenlight/greenlight/internal/release"
	"testing"
	"time"

	"github.com/greenlight/greenlight/internal/ledger"
)

func TestApprovalState(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	waiting := ledger.Record{Status: ledger.StatusAwaitingApproval, Token: "t", TokenExpires: now.Add(time.Minute)}
	cases := []struct {
		name             string
		r                ledger.Record
		pending, expired bool
	}{
		{"waiting", waiting, true, false},
		{"deadline passed", ledger.Record{Status: ledger.StatusAwaitingApproval, Token: "t", TokenExpires: now}, false, true},
		{"answered (token cleared)", ledger.Record{Status: ledger.StatusAwaitingApproval}, false, false},
		{"switched", ledger.Record{Status: ledger.StatusRunning, Token: "t", TokenExpires: now.Add(time.Minute)}, false, false},
		{"no deadline recorded", ledger.Record{Status: ledger.StatusAwaitingApproval, Token: "t"}, true, false},
	}
	for _, c := range cases {
		if p, e := approvalState(c.r, now); p != c.pending || e != c.expired {
			t.Errorf("%s: pending %v expired %v, want %v %v", c.name, p, e, c.pending, c.expired)
		}
	}
}

func TestWording(t *testing.T) {
	for d, want := range map[time.Duration]string{
		42 * time.Second:               "42s",
		59600 * time.Millisecond:       "1m",
		3*time.Minute + 10*time.Second: "3m10s",
		5 * time.Minute:                "5m",
		24 * time.Hour:                 "24h",
		5*time.Hour + 20*time.Minute:   "5h20m",
		52 * time.Hour:                 "2d4h",
	} {
		if got := roughly(d); got != want {
			t.Errorf("roughly(%s) = %s, want %s", d, got, want)
		}
	}
	for _, c := range []struct {
		r    ledger.Record
		want string
	}{
		{ledger.Record{Status: ledger.StatusReleased}, "Released"},
		{ledger.Record{Status: ledger.StatusRolledBack, Failure: "Rejected: rejected by alice: typo"}, "RolledBack (Rejected)"},
		{ledger.Record{Status: ledger.StatusRolledBack, Failure: "States.Timeout"}, "RolledBack (States.Timeout)"},
		{ledger.Record{Status: ledger.StatusAwaitingApproval}, "AwaitingApproval"},
	} {
		if got := outcome(c.r); got != c.want {
			t.Errorf("outcome(%+v) = %s, want %s", c.r, got, c.want)
		}
	}
}

// TestStatusShowsEachCandidatesSmokeTests: a fleet's report is printed per
// instance, the failing one marked.
func TestStatusShowsEachCandidatesSmokeTests(t *testing.T) {
	rep := &release.Report{Target: "2 candidates", Instances: []release.InstanceReport{
		{InstanceID: "i-0aaa", AZ: "eu-west-1a", Target: "10.0.1.5:8080", Passed: true, Checks: []release.CheckResult{{Name: "home page", Status: 200, Passed: true}}},
		{InstanceID: "i-0bbb", AZ: "eu-west-1b", Target: "10.0.2.5:8080", Checks: []release.CheckResult{{Name: "home page", Status: 500, Problem: "status 500, want 200"}}},
	}}
	var b strings.Builder
	renderStatus(&b, statusView{Now: time.Now(), Release: releaseView{Status: ledger.StatusAwaitingApproval, Smoke: rep, Timeline: []eventView{}}})
	for _, want := range []string{"Smoke tests against 2 candidates: FAILED", "  i-0aaa (eu-west-1a) at 10.0.1.5:8080: passed", "    PASS  home page",
		"  i-0bbb (eu-west-1b) at 10.0.2.5:8080: FAILED", "    FAIL  home page                HTTP 500      0 ms  status 500, want 200"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}

// TestStatusShowsWholeSides: the serving state names every instance of a
// fleet's live and kept sides, and a record written before fleets its one
// instance.
func TestStatusShowsWholeSides(t *testing.T) {
	s := ledger.Serving{LiveVersion: "2.0.0", PreviousVersion: "1.0.0"}
	s.SetLive([]string{"i-0a", "i-0b", "i-0c"})
	s.SetPrevious([]string{"i-0d", "i-0e", "i-0f"})
	old := ledger.Serving{LiveInstance: "i-01", LiveVersion: "2.0.0"}
	for _, c := range []struct {
		s    ledger.Serving
		want []string
	}{
		{s, []string{"  live       i-0a, i-0b, i-0c (2.0.0", "  previous   i-0d, i-0e, i-0f (1.0.0"}},
		{old, []string{"  live       i-01 (2.0.0"}},
	} {
		var b strings.Builder
		renderStatus(&b, statusView{Now: time.Now(), Release: releaseView{Status: ledger.StatusReleased, Timeline: []eventView{}}, Serving: servingOf(c.s)})
		for _, want := range c.want {
			if !strings.Contains(b.String(), want) {
				t.Errorf("status lacks %q:\n%s", want, b.String())
			}
		}
	}
}
