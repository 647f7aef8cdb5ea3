//go:build harness

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
)

// The scenario tests run the CLI in process, as an operator would type
// it, with --local against a local environment the test starts: the real
// state machine on the local engine, the ledger on dynalite, the bucket on
// gofakes3.

// result is one command line's outcome.

// operator runs command lines and keeps everything they printed, to check
// that no task token ever shows. It waits on what the local environment
// and the commands signal (an approval asked for, an execution ended, a
// line printed), never on a fixed wall-clock sleep.
type operator struct {
	t      *testing.T
	local  *localEnv
	mu     sync.Mutex
	output []string
}

func (o *operator) run(args ...string) result {
	o.t.Helper()
	return o.runTo(&syncBuffer{}, args...)
}

// runTo runs a command line whose stdout the test reads while it runs.
func (o *operator) runTo(out *syncBuffer, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errOut bytes.Buffer
	code := execute(ctx, args, strings.NewReader(""), out, &errOut)
	out.end()
	r := result{code: code, stdout: out.String(), stderr: errOut.String()}
	o.mu.Lock()
	o.output = append(o.output, r.stdout, r.stderr)
	o.mu.Unlock()
	for _, a := range args {
		if a == "--json" && r.stdout != "" {
			mustBeJSON(o.t, args, r.stdout)
		}
	}
	return r
}

// syncBuffer is a buffer a command writes while the test reads it; each
// write, and the command's end, wakes whoever waits for the next one.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	ended bool
	wake  chan struct{} // closed at the next write or the end
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.signal()
	return s.b.Write(p)
}

// end marks the command as ended: nothing more will be written.
func (s *syncBuffer) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	s.signal()
}

func (s *syncBuffer) signal() {
	if s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// next returns what was written so far, whether the command ended, and a
// channel closed at the next write.
func (s *syncBuffer) next() (string, bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wake == nil {
		s.wake = make(chan struct{})
	}
	return s.b.String(), s.ended, s.wake
}

// patience bounds each wait for something the test was promised; it only
// matters when that never comes (a failure), not how long a passing test
// takes.
const patience = 2 * time.Minute

// awaitOutput waits until a running command has printed want.
func (o *operator) awaitOutput(out *syncBuffer, want string) {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	for {
		text, ended, wrote := out.next()
		switch {
		case strings.Contains(text, want):
			return
		case ended:
			o.t.Fatalf("the command ended without printing %q:\n%s", want, text)
		}
		select {
		case <-wrote:
		case <-ctx.Done():
			o.t.Fatalf("never printed %q:\n%s", want, text)
		}
	}
}

// receive waits for a command running in the background to end.
func receive(t *testing.T, ch <-chan result, what string) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(patience):
		t.Fatalf("%s did not end", what)
		return result{}
	}
}

// mustBeJSON checks that stdout is one JSON document or, for --watch, one
// per line.
func mustBeJSON(t *testing.T, args []string, s string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Errorf("%v printed invalid JSON (%v):\n%s", args, err, s)
			return
		}
	}
}

func (o *operator) expect(want int, args ...string) result {
	o.t.Helper()
	r := o.run(args...)
	if testing.Verbose() {
		o.t.Logf("$ greenlight %s\n%s", strings.Join(args, " "), r)
	}
	if r.code != want {
		o.t.Fatalf("greenlight %s: %s\nwant exit %d", strings.Join(args, " "), r, want)
	}
	return r
}

func contains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

// status reads a release's status as JSON.
func (o *operator) status(id string) statusView {
	o.t.Helper()
	args := []string{"status", "--local", "--json"}
	if id != "" {
		args = append(args, id)
	}
	r := o.expect(0, args...)
	var v statusView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		o.t.Fatal(err)
	}
	return v
}

// awaitApproval waits until the local environment reports that id waits
// for a person's answer, and checks that status shows it so.
func (o *operator) awaitApproval(id string) statusView {
	o.t.Helper()
	select {
	case <-o.local.asked(id):
	case <-time.After(patience):
		o.t.Fatalf("%s never waited for approval: %+v", id, o.status(id).Release)
	}
	v := o.status(id)
	if v.Release.Approval == nil || !v.Release.Approval.Pending {
		o.t.Fatalf("%s waits for approval, but status shows no pending approval: %+v", id, v.Release)
	}
	return v
}

// awaitEnd waits until the execution of id has ended (the environment's
// own signal, after the watch function saw the end), and checks that
// status shows it ended.
func (o *operator) awaitEnd(id string) statusView {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if _, err := o.local.Wait(ctx, id); err != nil {
		o.t.Fatalf("waiting for the end of %s: %v (status %+v)", id, err, o.status(id).Release)
	}
	v := o.status(id)
	if !v.Release.Ended {
		o.t.Fatalf("the execution of %s ended, but status shows it running: %+v", id, v.Release)
	}
	return v
}

var releaseID = regexp.MustCompile(`release (shop-[0-9a-z-]+-[0-9a-f]{10}) started`)

// upload writes a sample artifact and releases it, returning the id.
func (o *operator) upload(dir, version string, extra ...string) string {
	o.t.Helper()
	file := sample(o.t, dir, version)
	r := o.expect(0, append([]string{"release", "--local", file}, extra...)...)
	if slices.Contains(extra, "--json") {
		var up uploadView
		if err := json.Unmarshal([]byte(r.stdout), &up); err != nil {
			o.t.Fatal(err)
		}
		return up.ReleaseID
	}
	m := releaseID.FindStringSubmatch(r.stdout)
	if m == nil {
		o.t.Fatalf("release printed no release id:\n%s", r)
	}
	contains(o.t, "release", r.stdout, "s3://greenlight-shop-releases/releases/shop-"+version+".tar.gz", "greenlight status "+m[1]+" --local --watch")
	return m[1]
}

func sample(t *testing.T, dir, version string) string {
	t.Helper()
	b, err := artifact.Sample("shop", version)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "shop-"+version+".tar.gz")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// localEnv is a local environment and the approvals it was asked for.
type localEnv struct {
	*localrun.Env
	mu        sync.Mutex
	approvals map[string]chan struct{} // by release id, closed when asked
}

// asked is closed once the release id waits for a person's answer.
func (l *localEnv) asked(id string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.approval(id)
}

func (l *localEnv) approval(id string) chan struct{} {
	ch, ok := l.approvals[id]
	if !ok {
		ch = make(chan struct{})
		l.approvals[id] = ch
	}
	return ch
}

// onApproval is Options.OnApproval.
func (l *localEnv) onApproval(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := l.approval(id)
	select {
	case <-ch: // asked before (a retried approval step)
	default:
		close(ch)
	}
}

// startLocal starts a local environment whose approvals wait for the CLI,
// and publishes its endpoints where --local finds them: a file of the
// test's own, removed at the end, so a developer's running `greenlight
// local` is left alone.
func startLocal(t *testing.T, edit func(*release.Config)) *localEnv {
	t.Setenv(localrun.EndpointsEnv, filepath.Join(t.TempDir(), "local.json"))
	t.Setenv("USER", "tester")
	l := &localEnv{approvals: map[string]chan struct{}{}}
	l.Env = localrun.NewTestEnv(t, localrun.Options{Approve: localrun.ApprovePrompt, OnApproval: l.onApproval}, edit)
	unpublish, err := l.Publish()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unpublish)
	return l
}

func TestOperatorOnTheLocalEngine(t *testing.T) {
	env := startLocal(t, func(c *release.Config) { c.ApprovalTimeout = release.Duration(30 * time.Minute) })
	o := &operator{t: t, local: env}
	dir := t.TempDir()
	var tokens []string
	token := func(id string) {
		rec, err := env.Deps.Ledger().Get(context.Background(), env.Config.App, id)
		if err == nil && rec.Token != "" {
			tokens = append(tokens, rec.Token)
		}
	}
	var released string

	t.Run("release, approve, released, history", func(t *testing.T) {
		o.t = t
		r := o.expect(exitPending, "status", "--local")
		contains(t, "status before any release", r.stderr, "no releases of shop", "greenlight release FILE --local")

		id := o.upload(dir, "2.0.0")
		o.awaitApproval(id)
		token(id)
		r = o.expect(0, "status", "--local")
		contains(t, "status", r.stdout, id+"  AwaitingApproval", "version    2.0.0",
			"Approval pending until", "greenlight approve "+id+" --local\n", "greenlight reject "+id+` --local --reason "..."`,
			"Smoke tests against", "PASS  home page", "candidate  i-", "Timeline (UTC):", "LaunchCandidate", "smoke tests: 3 of 3 checks passed",
			"live       "+env.Fixture.LiveInstance, "Or open a link", "approve: http://127.0.0.1:")

		// The notification's links, as status shows them locally: opening
		// one (as a mail scanner would) shows who uploaded the release and
		// answers nothing.
		v := o.status(id)
		if v.ApprovalLinks == nil || !strings.Contains(v.ApprovalLinks.Approve, "action=approve") || !strings.Contains(v.ApprovalLinks.Reject, "action=reject") {
			t.Fatalf("status --json approvalLinks: %+v", v.ApprovalLinks)
		}
		if code, page := get(t, v.ApprovalLinks.Approve); code != http.StatusOK || !strings.Contains(page, "tester (local)") || !strings.Contains(page, "2.0.0") {
			t.Errorf("GET the approve link: %d\n%s", code, page)
		}
		if v = o.status(id); v.Release.Status != ledger.StatusAwaitingApproval || v.Release.Answer != nil {
			t.Fatalf("a GET of the link changed the release: %s %+v", v.Release.Status, v.Release.Answer)
		}
		links := *v.ApprovalLinks

		r = o.expect(0, "approve", "--local", "--reason", "looks good")
		contains(t, "approve", r.stdout, "approved "+id+" (shop 2.0.0) as tester (local): looks good", "greenlight status "+id+" --local --watch")

		// The CLI's answer stands: the links now say so.
		if code, page := get(t, links.Reject); code != http.StatusConflict || !strings.Contains(page, "approved by tester (local)") {
			t.Errorf("the reject link after the CLI approved: %d\n%s", code, page)
		}
		v = o.awaitEnd(id)
		if v.Release.Status != ledger.StatusReleased || v.Release.ApprovedBy != "tester (local)" {
			t.Fatalf("ended %s approved by %q: %+v", v.Release.Status, v.Release.ApprovedBy, v.Release)
		}
		if a := v.Release.Answer; a == nil || a.Via != ledger.AnswerViaCLI || !a.Approved || v.ApprovalLinks != nil {
			t.Errorf("the answer recorded %+v, links still shown %+v", a, v.ApprovalLinks)
		}
		if v.Serving == nil || v.Serving.LiveVersion != "2.0.0" || v.Serving.PreviousInstance != env.Fixture.LiveInstance || v.Serving.RetireAfter == nil {
			t.Errorf("serving state %+v", v.Serving)
		}
		r = o.expect(0, "status", "--local", id)
		contains(t, "status after release", r.stdout, id+"  Released", "lead time", "approved   by tester (local)",
			"previous   "+env.Fixture.LiveInstance, "kept for rollback until")

		r = o.expect(0, "history", "--local")
		contains(t, "history", r.stdout, "RELEASE", "LEAD TIME", "MAINTENANCE", "APPROVED BY", "OUTCOME", id, "2.0.0", "tester (local)", "Released")
		released = id
	})

	t.Run("reject while release --wait follows", func(t *testing.T) {
		o.t = t
		file := sample(t, dir, "2.1.0")
		done := make(chan result, 1)
		progress := &syncBuffer{}
		go func() { done <- o.runTo(progress, "release", "--local", "--wait", file) }()
		o.awaitOutput(progress, "Approval pending until")
		m := releaseID.FindStringSubmatch(progress.String())
		if m == nil {
			t.Fatalf("release --wait printed no release id:\n%s", progress)
		}
		id := m[1]
		token(id)
		r := o.expect(0, "reject", "--local", id, "--reason", "typo on the home page")
		contains(t, "reject", r.stdout, "rejected "+id, "typo on the home page", "keeps serving")

		waited := receive(t, done, "release --wait")
		if waited.code != exitFailed {
			t.Fatalf("release --wait: %s\nwant exit 1", waited)
		}
		contains(t, "release --wait", waited.stdout, "release "+id+" started", "Prepare", "Approval pending until",
			"greenlight approve "+id+" --local", "Rollback", id+" ended RolledBack", "rejected by tester (local): typo on the home page")

		v := o.status(id)
		if v.Release.Status != ledger.StatusRolledBack {
			t.Fatalf("status %s", v.Release.Status)
		}
		r = o.expect(0, "history", "--local")
		contains(t, "history", r.stdout, id, "RolledBack (Rejected)", released)
		if strings.Index(r.stdout, id) > strings.Index(r.stdout, released) {
			t.Errorf("history is not newest first:\n%s", r.stdout)
		}
	})

	t.Run("rollback puts the old version back live", func(t *testing.T) {
		o.t = t
		before := o.status(released)
		newLive := before.Release.CandidateInstance
		r := o.expect(0, "rollback", "--local", "--wait", "--to", before.Serving.PreviousRelease, "--reason", "checkout is slow")
		contains(t, "rollback --wait", r.stdout, "rollback rollback-shop-", "started: shop goes back from "+newLive+" (2.0.0) to "+env.Fixture.LiveInstance,
			"PrepareSwitchBack", "SwitchTraffic", "ended Released")
		if got := env.Region.TrafficTarget(env.Fixture.AllocationID); got != env.Fixture.LiveInstance {
			t.Fatalf("traffic goes to %s after the rollback, want %s", got, env.Fixture.LiveInstance)
		}
		if app, _ := env.Region.App(env.Fixture.LiveInstance); app.Version != env.Fixture.Version {
			t.Errorf("the old instance serves %q", app.Version)
		}
		serving, _, _ := env.Deps.Ledger().Serving(context.Background(), env.Config.App)
		if serving.LiveInstance != env.Fixture.LiveInstance || serving.PreviousInstance != newLive {
			t.Errorf("serving state after the rollback: %+v", serving)
		}
		var schedules []string
		for _, res := range env.Region.Inventory() {
			if res.Kind == sim.KindSchedule {
				schedules = append(schedules, res.ID)
			}
		}
		if len(schedules) != 1 || !strings.HasSuffix(schedules[0], newLive) {
			t.Errorf("retirement schedules %v: want only %s's (the revived instance's cancelled)", schedules, newLive)
		}
		r = o.expect(0, "history", "--local")
		contains(t, "history after the rollback", r.stdout, "rollback-shop-", released)

		r = o.expect(exitPending, "rollback", "--local", "--to", "shop-0.0.1-0000000000")
		contains(t, "rollback to another release", r.stderr, "only the previous release can be switched back to")
	})

	t.Run("refusals", func(t *testing.T) {
		o.t = t
		r := o.expect(exitPending, "approve", "--local")
		contains(t, "approve with nothing pending", r.stderr, "nothing is waiting for approval in shop", "the newest release, rollback-shop-")
		r = o.expect(exitPending, "reject", "--local", "shop-9.9.9-0000000000")
		contains(t, "reject of an unknown release", r.stderr, "no release shop-9.9.9-0000000000")

		bad := filepath.Join(dir, "shop-6.6.6.tar.gz")
		evil, _ := artifact.Build([]artifact.Entry{{Name: artifact.Entrypoint, Mode: 0o755, Body: "#!/bin/sh\n"}, {Name: "../../etc/cron.d/x", Body: "x"}})
		if err := os.WriteFile(bad, evil, 0o644); err != nil {
			t.Fatal(err)
		}
		r = o.expect(exitFailed, "release", "--local", bad)
		contains(t, "release of a bad archive", r.stderr, "refused, nothing was uploaded", "climbs out of the release directory")
		r = o.expect(exitFailed, "release", "--local", "--version", "6.6.7", sample(t, dir, "6.6.6"))
		contains(t, "release under another version", r.stderr, `VERSION file says "6.6.6"`)
		o.expect(exitUsage, "release", "--local", filepath.Join(dir, "missing.tar.gz"))
		r = o.expect(exitUsage, "status", "--local", "--stack", "greenlight-shop")
		contains(t, "--local with --stack", r.stderr, "do not apply")

		id := o.upload(dir, "3.0.0")
		o.awaitApproval(id)
		token(id)
		r = o.expect(exitPending, "approve", "--local", released)
		contains(t, "approve of the wrong release", r.stderr, released+" is not waiting for approval (it was released); "+id+" is:", "greenlight approve "+id+" --local")

		// Nobody answers for longer than the approval timeout.
		env.LetTimePass(31 * time.Minute)
		r = o.expect(exitPending, "approve", "--local")
		contains(t, "approve after the timeout", r.stderr, "timed out")
		r = o.expect(exitPending, "approve", "--local", id)
		contains(t, "approve of the timed-out release", r.stderr, "timed out")
		v := o.awaitEnd(id)
		if v.Release.Status != ledger.StatusRolledBack || !strings.Contains(v.Release.Failure, "States.Timeout") {
			t.Fatalf("after the timeout: %s %q", v.Release.Status, v.Release.Failure)
		}
		r = o.expect(exitPending, "approve", "--local", id)
		contains(t, "approve after the rollback", r.stderr, "ended RolledBack after its approval timed out")
	})

	t.Run("lock, and two releases waiting", func(t *testing.T) {
		o.t = t
		r := o.expect(0, "lock", "status", "--local")
		contains(t, "lock status when idle", r.stdout, "the release lock of shop is free")
		o.expect(exitPending, "lock", "release", "--local", "--force", "--yes")

		first := o.upload(dir, "4.0.0")
		// status --watch in a pipe: the view, then each new line.
		watched := make(chan result, 1)
		watching := &syncBuffer{}
		go func() { watched <- o.runTo(watching, "status", "--local", "--watch", first) }()
		o.awaitApproval(first)
		o.awaitOutput(watching, "Approval pending until")
		token(first)
		r = o.expect(0, "lock", "status", "--local")
		contains(t, "lock status", r.stdout, "held by "+first+" since", "that release is AwaitingApproval", "greenlight status "+first+" --local")
		r = o.expect(0, "lock", "status", "--local", "--json")
		var lk lockView
		if err := json.Unmarshal([]byte(r.stdout), &lk); err != nil || !lk.Held || lk.ReleaseID != first || lk.Stale {
			t.Errorf("lock status --json: %+v %v", lk, err)
		}

		r = o.expect(exitUsage, "lock", "release", "--local")
		contains(t, "lock release without --force", r.stderr, "held by "+first, "lets a second release start alongside it", "greenlight lock release --force --local")
		r = o.expect(exitUsage, "lock", "release", "--local", "--force")
		contains(t, "lock release without a terminal", r.stderr, "add --yes")
		r = o.expect(0, "lock", "release", "--local", "--force", "--yes")
		contains(t, "lock release", r.stdout, "broke the release lock of shop held by "+first)
		r = o.expect(0, "lock", "status", "--local")
		contains(t, "lock status after breaking it", r.stdout, "is free")

		// With the lock broken, a second release gets to its approval too.
		second := o.upload(dir, "4.1.0", "--json")
		o.awaitApproval(second)
		token(second)
		r = o.expect(exitPending, "approve", "--local")
		contains(t, "approve with two pending", r.stderr, "2 releases of shop wait for approval", "greenlight approve "+first+" --local", "greenlight approve "+second+" --local")

		r = o.expect(0, "reject", "--local", first, "--json")
		var ans answerView
		if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || ans.Answer != "rejected" || ans.ReleaseID != first || ans.By != "tester (local)" {
			t.Errorf("reject --json: %+v %v", ans, err)
		}
		r = o.expect(0, "approve", "--local", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || ans.Answer != "approved" || ans.ReleaseID != second {
			t.Errorf("approve --json: %+v %v", ans, err)
		}
		if v := o.awaitEnd(second); v.Release.Status != ledger.StatusReleased {
			t.Errorf("second ended %s", v.Release.Status)
		}
		if v := o.awaitEnd(first); v.Release.Status != ledger.StatusRolledBack {
			t.Errorf("first ended %s", v.Release.Status)
		}
		w := receive(t, watched, "status --watch")
		if w.code != exitFailed {
			t.Errorf("status --watch of a rejected release: %s", w)
		}
		contains(t, "status --watch", w.stdout, first+"  ", "Approval pending until", "Rollback", first+" ended RolledBack")
		r = o.expect(0, "lock", "status", "--local")
		contains(t, "lock status at the end", r.stdout, "is free")
	})

	t.Run("json", func(t *testing.T) {
		o.t = t
		r := o.expect(0, "history", "--local", "--json", "--limit", "2")
		var h struct {
			App      string       `json:"app"`
			Releases []historyRow `json:"releases"`
			More     bool         `json:"more"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &h); err != nil || h.App != "shop" || len(h.Releases) != 2 || !h.More || h.Releases[0].Version != "4.1.0" {
			t.Errorf("history --json: %+v %v", h, err)
		}
		o.expect(exitUsage, "history", "--local", "--limit", "0")

		file := sample(t, dir, "5.0.0")
		r = o.expect(0, "release", "--local", "--json", file)
		var up uploadView
		if err := json.Unmarshal([]byte(r.stdout), &up); err != nil || up.Version != "5.0.0" || up.Started != "Started" || up.VersionID == "" || len(up.SHA256) != 64 {
			t.Fatalf("release --json: %+v %v", up, err)
		}
		if want := release.ReleaseID("shop", "5.0.0", up.Bucket, up.Key, up.VersionID); up.ReleaseID != want {
			t.Errorf("release id %s, want %s", up.ReleaseID, want)
		}
		watched := make(chan result, 1)
		go func() { watched <- o.run("status", "--local", "--json", "--watch", up.ReleaseID) }()
		o.awaitApproval(up.ReleaseID)
		token(up.ReleaseID)
		o.expect(0, "approve", "--local", up.ReleaseID)
		w := receive(t, watched, "status --json --watch")
		if w.code != 0 {
			t.Fatalf("status --json --watch: %s", w)
		}
		lines := strings.Split(strings.TrimSpace(w.stdout), "\n")
		var last statusView
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Release.Status != ledger.StatusReleased || len(lines) < 3 {
			t.Errorf("status --json --watch printed %d lines, the last %+v (%v)", len(lines), last.Release, err)
		}
	})

	if len(tokens) == 0 {
		t.Fatal("no task token was seen in the ledger")
	}
	for _, out := range o.output {
		for _, tok := range tokens {
			if strings.Contains(out, tok) {
				t.Fatalf("a task token was printed:\n%s", out)
			}
		}
	}
}

// get fetches a page as a mail scanner would: no cookies, no form.
func get(t *testing.T, link string) (int, string) {
	t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
