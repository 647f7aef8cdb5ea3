package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"syscall"
	"time"
)

// Report is what the users saw, in numbers.
type Report struct {
	Requests    int `json:"requests"`
	OK          int `json:"ok"`          // 2xx
	Maintenance int `json:"maintenance"` // 503 with Retry-After
	Failed      int `json:"failed"`      // connection errors, timeouts, any other non-2xx

	ByPhase map[string]Counts `json:"byPhase"`

	// VersionsSeen counts the 2xx answers of each phase by their
	// X-App-Version ("unknown" when an answer names none).
	VersionsSeen map[string]map[string]int `json:"versionsSeen"`

	// StickyFlips counts sessions (each once) answered by the candidate
	// and later by another version, that later answer outside phase
	// "rollback".
	StickyFlips int `json:"stickyFlips"`

	// LongestFailureSeconds is the longest simulated span from the Tick
	// of a non-OK answer (maintenance included) to the first Tick after
	// it with an OK answer. A Tick with both counts as OK: its answers
	// all happen at the same simulated time, so its failures last 0 s. A
	// run still open counts up to its last failure.
	LongestFailureSeconds float64 `json:"longestFailureSeconds"`

	Concurrency int `json:"concurrency"` // the in-flight bound used

	// Errors counts the failures by reason: "status 502", "connection
	// refused", "connection reset", "broken pipe", "EOF", "timeout",
	// "other". At most maxErrorKeys keys; reasons beyond go to "other".
	Errors map[string]int `json:"errors,omitempty"`

	Writes WriteCounts `json:"writes"`
}

// Counts are one phase's answers.
type Counts struct {
	Requests    int `json:"requests"`
	OK          int `json:"ok"`
	Maintenance int `json:"maintenance"`
	Failed      int `json:"failed"`
}

// WriteCounts are the writes: Attempted = Acknowledged + Refused.
type WriteCounts struct {
	Attempted    int `json:"attempted"`
	Acknowledged int `json:"acknowledged"` // answered 201: the app says the write is durable
	Refused      int `json:"refused"`      // any other answer, or none
}

// Write is a write the app acknowledged: the version that answered it
// and the simulated time of the Tick that made it.
type Write struct {
	ID      string    `json:"id"`
	Version string    `json:"version"`
	At      time.Time `json:"at"`
}

// maxErrorKeys bounds Report.Errors, so a server answering many odd
// statuses cannot make the report grow without end.
const maxErrorKeys = 20

// outcome is how a user would judge an answer.
type outcome int

const (
	ok outcome = iota
	maintenance
	failed
)

// classify judges an answer and, for a failure, names its reason.
func classify(a answer) (outcome, string) {
	switch {
	case a.err != nil:
		return failed, errorKey(a.err)
	case a.status/100 == 2:
		return ok, ""
	// The maintenance page is 503 with Retry-After, to every method
	// (instance/nginx/greenlight-maintenance.conf); without Retry-After a
	// 503 is the app's own refusal, and a 405 is a front that refuses a
	// write instead of asking to come back.
	case a.status == http.StatusServiceUnavailable && a.retryAfter:
		return maintenance, ""
	default:
		return failed, fmt.Sprintf("status %d", a.status)
	}
}

// errorKey gives a request error a short stable name.
func errorKey(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

func newReport(concurrency int) Report {
	return Report{
		ByPhase:      map[string]Counts{},
		VersionsSeen: map[string]map[string]int{},
		Concurrency:  concurrency,
		Errors:       map[string]int{},
	}
}

// outcomeNames are the outcomes as Request.Outcome gives them.
var outcomeNames = map[outcome]string{ok: "ok", maintenance: "maintenance", failed: "failed"}

// record adds one answer, got at simulated time at, to the report, and
// tells Config.Record.
func (g *Generator) record(j job, a answer, at time.Time, phase string) {
	result, reason := classify(a)
	if g.cfg.Record != nil {
		method, path := j.request()
		req := Request{At: at, Phase: phase, Session: j.s.serial, Method: method, Path: "/" + path, Status: a.status,
			Version: a.version, Outcome: outcomeNames[result], Error: reason}
		if j.write {
			req.WriteID = j.id
		}
		g.recordMu.Lock()
		g.cfg.Record(req)
		g.recordMu.Unlock()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r := &g.report

	c := r.ByPhase[phase]
	r.Requests++
	c.Requests++
	switch result {
	case ok:
		r.OK++
		c.OK++
	case maintenance:
		r.Maintenance++
		c.Maintenance++
	case failed:
		r.Failed++
		c.Failed++
		if _, known := r.Errors[reason]; !known && len(r.Errors) >= maxErrorKeys-1 {
			reason = "other"
		}
		r.Errors[reason]++
	}
	r.ByPhase[phase] = c

	if result == ok {
		version := a.version
		if version == "" {
			version = "unknown"
		}
		if r.VersionsSeen[phase] == nil {
			r.VersionsSeen[phase] = map[string]int{}
		}
		r.VersionsSeen[phase][version]++
		g.noteVersion(j.s, version, phase)
		g.failures.ok(at)
	} else {
		g.failures.failed(at)
	}

	if j.write {
		r.Writes.Attempted++
		if result == ok && a.status == http.StatusCreated {
			r.Writes.Acknowledged++
			g.acked = append(g.acked, Write{ID: j.id, Version: a.version, At: at})
		} else {
			r.Writes.Refused++
		}
	}
}

// noteVersion counts a sticky flip when a session that the candidate
// answered is now answered by another version. Called with g.mu held.
func (g *Generator) noteVersion(s *session, version, phase string) {
	switch {
	case g.candidate == "":
	case version == g.candidate:
		s.sawCandidate = true
	case s.sawCandidate && phase != "rollback" && !s.flipped:
		s.flipped = true
		g.report.StickyFlips++
	}
}

// failureSpans follows runs of Ticks whose answers were not OK.
type failureSpans struct {
	open    bool
	start   time.Time // the Tick of the run's first failure
	last    time.Time // the Tick of its latest failure
	lastOK  time.Time // the Tick of the latest OK answer
	longest time.Duration
	okSeen  bool // lastOK is set
}

// failed notes a non-OK answer at at. One after an OK answer of the same
// Tick opens no run: that Tick counts as OK.
func (f *failureSpans) failed(at time.Time) {
	if f.okSeen && f.lastOK.Equal(at) {
		return
	}
	if !f.open {
		f.open, f.start = true, at
	}
	f.last = at
}

// ok notes an OK answer at at, closing any open run there.
func (f *failureSpans) ok(at time.Time) {
	f.okSeen, f.lastOK = true, at
	if f.open {
		f.open = false
		f.longest = max(f.longest, at.Sub(f.start))
	}
}

// longestSoFar is the longest run, one still open counted to its last
// failure.
func (f *failureSpans) longestSoFar() time.Duration {
	if f.open {
		return max(f.longest, f.last.Sub(f.start))
	}
	return f.longest
}

// Report returns a copy of the report so far; safe while a Tick runs.
func (g *Generator) Report() Report {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.report
	r.ByPhase = maps.Clone(g.report.ByPhase)
	r.VersionsSeen = make(map[string]map[string]int, len(g.report.VersionsSeen))
	for phase, versions := range g.report.VersionsSeen {
		r.VersionsSeen[phase] = maps.Clone(versions)
	}
	r.Errors = maps.Clone(g.report.Errors)
	r.LongestFailureSeconds = g.failures.longestSoFar().Seconds()
	return r
}

// NewReport starts the report again from zero (a new release begins):
// counts, failure runs and sticky flips. The acknowledged writes stay, as
// the data must keep every one of them, and so do the users' sessions.
func (g *Generator) NewReport() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.report = newReport(g.report.Concurrency)
	g.failures = failureSpans{}
	for _, s := range g.sessions {
		if s != nil {
			s.flipped = false
		}
	}
}

// Acknowledged returns the writes answered 201, in the order the answers
// came; safe while a Tick runs.
func (g *Generator) Acknowledged() []Write {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.acked)
}
