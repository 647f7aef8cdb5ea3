// Package loadgen is the users of a simulated release: real HTTP requests
// through the local engine's loopback proxies, paced on the simulated
// clock, and a report of what those users saw (answers, versions, sticky
// flips, outages, acknowledged writes).
//
// The engine calls Tick after each move of the simulated clock, with the
// clock held, so every request of one Tick meets the world as it is at
// the end of the move.
package loadgen

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero fields of Config.
const (
	defaultReadsPerSecond = 2
	defaultSessions       = 5
	defaultSessionLength  = 2 * time.Minute
	defaultConcurrency    = 4
	defaultMaxPerTick     = 300
	defaultTimeout        = 5 * time.Second
)

// maxBody is how much of an answer is read: enough for a version string,
// little enough that a large page costs nothing.
const maxBody = 4 << 10

// Config says where the users go and how many there are. Rates are per
// simulated second; Timeout is wall-clock, since the simulated clock
// does not move while a Tick runs.
type Config struct {
	Base            string            // URL users reach, e.g. "http://127.0.0.1:4321"
	Host            string            // Host header to send ("" keeps Base's host)
	Transport       http.RoundTripper // nil: a new *http.Transport of its own (closed by Close)
	ReadsPerSecond  float64           // per simulated second; default 2 when both rates are 0
	WritesPerSecond float64           // per simulated second; 0 = no writes
	Sessions        int               // concurrent user sessions, default 5; each its own cookie jar
	SessionLength   time.Duration     // simulated time a session lives before a fresh one replaces it; default 2m
	Concurrency     int               // requests in flight at once, default 4
	MaxPerTick      int               // cap on requests one Tick makes, default 300
	Timeout         time.Duration     // wall-clock timeout per request, default 5s
	// Record, when set, is told every answered request (from the Tick's
	// workers, one call at a time): the per-request log behind the report.
	Record func(Request)
}

// Request is one user request as it was answered.
type Request struct {
	At      time.Time `json:"at"` // simulated: the Tick's end, when the world is as it answered
	Phase   string    `json:"phase"`
	Session int       `json:"session"`
	Method  string    `json:"method"`
	Path    string    `json:"path"`
	WriteID string    `json:"writeId,omitempty"`
	Status  int       `json:"status,omitempty"` // 0: no answer
	Version string    `json:"version,omitempty"`
	// Outcome is "ok", "maintenance" or "failed"; Error the failure's
	// reason, as Report.Errors names it.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// Generator makes the users' requests and keeps the report. Tick, Report,
// Acknowledged and SetCandidate may be called from different goroutines.
type Generator struct {
	cfg       Config
	base      *url.URL
	transport http.RoundTripper
	own       *http.Transport // the transport New made, nil when Config gave one

	// tickMu makes Ticks take turns: the carried fractions and the
	// session rotation are only meaningful in clock order.
	tickMu sync.Mutex
	// recordMu makes the calls to Config.Record take turns.
	recordMu sync.Mutex

	// mu guards everything below, so that Report and Acknowledged can
	// read while a Tick's requests are being answered.
	mu         sync.Mutex
	readCarry  float64
	writeCarry float64
	sessions   []*session // slots, filled on first use
	next       int        // the slot the next request goes to
	serials    int        // sessions made so far; names write ids
	candidate  string
	report     Report
	acked      []Write
	failures   failureSpans
}

// session is one user: its own cookie jar (so ALB stickiness works as in a
// browser), making one request at a time.
type session struct {
	serial int
	client *http.Client
	born   time.Time // simulated time of its first request
	writes int       // writes made so far; numbers write ids

	sawCandidate bool // answered by the candidate since SetCandidate last changed it
	flipped      bool // already counted in StickyFlips
}

// job is one request planned by a Tick.
type job struct {
	s     *session
	write bool
	id    string // the write's id
}

// New checks c, fills its defaults and returns a Generator with no
// sessions yet. Errors name the field at fault.
func New(c Config) (*Generator, error) {
	base, err := url.Parse(c.Base)
	switch {
	case err != nil:
		return nil, fmt.Errorf("loadgen: Config.Base %q: %v", c.Base, err)
	case base.Scheme != "http" && base.Scheme != "https":
		return nil, fmt.Errorf("loadgen: Config.Base %q: scheme must be http or https", c.Base)
	case base.Host == "":
		return nil, fmt.Errorf("loadgen: Config.Base %q: no host", c.Base)
	}
	if strings.ContainsAny(c.Host, " \t\r\n/") {
		return nil, fmt.Errorf("loadgen: Config.Host %q: not a host", c.Host)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"ReadsPerSecond", c.ReadsPerSecond}, {"WritesPerSecond", c.WritesPerSecond}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return nil, fmt.Errorf("loadgen: Config.%s %v: must be a finite number >= 0", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Sessions", int64(c.Sessions)},
		{"SessionLength", int64(c.SessionLength)},
		{"Concurrency", int64(c.Concurrency)},
		{"MaxPerTick", int64(c.MaxPerTick)},
		{"Timeout", int64(c.Timeout)},
	} {
		if f.v < 0 {
			return nil, fmt.Errorf("loadgen: Config.%s: must be >= 0 (0 takes the default)", f.name)
		}
	}

	if c.ReadsPerSecond == 0 && c.WritesPerSecond == 0 {
		c.ReadsPerSecond = defaultReadsPerSecond
	}
	c.Sessions = orDefault(c.Sessions, defaultSessions)
	c.SessionLength = orDefault(c.SessionLength, defaultSessionLength)
	c.Concurrency = orDefault(c.Concurrency, defaultConcurrency)
	c.MaxPerTick = orDefault(c.MaxPerTick, defaultMaxPerTick)
	c.Timeout = orDefault(c.Timeout, defaultTimeout)

	g := &Generator{
		cfg:       c,
		base:      base,
		transport: c.Transport,
		sessions:  make([]*session, c.Sessions),
		report:    newReport(c.Concurrency),
	}
	if g.transport == nil {
		g.own = &http.Transport{
			// Users reach the loopback proxies directly, never through a
			// proxy named in the environment.
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: c.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        100,
			MaxIdleConnsPerHost: c.Concurrency,
			IdleConnTimeout:     90 * time.Second,
		}
		g.transport = g.own
	}
	return g, nil
}

// orDefault is v, or def when v is the zero value that means "default".
func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// SetCandidate names the version being released now, for StickyFlips.
// Changing it forgets which sessions saw the old candidate; call
// SetCandidate("") when a rollback ends, so users back on the old version
// afterwards are not counted as flips.
func (g *Generator) SetCandidate(version string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if version == g.candidate {
		return
	}
	g.candidate = version
	for _, s := range g.sessions {
		if s != nil {
			s.sawCandidate = false
		}
	}
}

// Tick makes the requests due between from and to on the simulated clock
// and returns when all are answered or timed out.
//
// rate × (to-from) requests are due, the fractions carried to the next
// Tick (so a step polling every 0.5 s still meets users), at most
// MaxPerTick of them (the users of a long wait beyond that are not
// simulated). Reads and writes are interleaved in proportion to their
// rates and rotate across sessions round-robin; a session whose
// SessionLength has passed is replaced by a fresh one with an empty jar.
// A session makes its requests one after another; up to Concurrency
// requests of different sessions are in flight at once.
//
// Every answer is recorded at simulated time to, under phase.
func (g *Generator) Tick(from, to time.Time, phase string) {
	g.tickMu.Lock()
	defer g.tickMu.Unlock()

	perSession := g.plan(from, to)
	inFlight := make(chan struct{}, g.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, jobs := range perSession {
		if len(jobs) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, j := range jobs {
				inFlight <- struct{}{}
				a := g.do(j)
				<-inFlight
				g.record(j, a, to, phase)
			}
		}()
	}
	wg.Wait()
}

// plan decides the requests of one Tick, grouped by session slot in the
// order each session makes them.
func (g *Generator) plan(from, to time.Time) [][]job {
	g.mu.Lock()
	defer g.mu.Unlock()
	secs := to.Sub(from).Seconds()
	if secs <= 0 {
		return nil
	}
	dueReads := takeDue(&g.readCarry, g.cfg.ReadsPerSecond*secs)
	dueWrites := takeDue(&g.writeCarry, g.cfg.WritesPerSecond*secs)
	if limit := float64(g.cfg.MaxPerTick); dueReads+dueWrites > limit {
		// Keep the proportion: the cap drops users, not one kind of them.
		dueWrites = math.Floor(dueWrites * limit / (dueReads + dueWrites))
		dueReads = limit - dueWrites
	}
	reads, writes := int(dueReads), int(dueWrites)
	total := reads + writes

	perSession := make([][]job, len(g.sessions))
	placedWrites := 0
	for i := range total {
		slot := g.next
		g.next = (g.next + 1) % len(g.sessions)
		s := g.sessionAt(slot, to)
		j := job{s: s}
		// Request i is a write when the writes due among the first i+1
		// requests outnumber those placed: writes spread evenly.
		if (i+1)*writes/total > placedWrites {
			placedWrites++
			s.writes++
			j.write = true
			j.id = fmt.Sprintf("u%d-%d", s.serial, s.writes)
		}
		perSession[slot] = append(perSession[slot], j)
	}
	return perSession
}

// takeDue adds due to *carry and takes the whole requests out of it. The
// small tolerance keeps sums like ten 0.1s from landing just under 1.
func takeDue(carry *float64, due float64) float64 {
	sum := *carry + due
	whole := math.Floor(sum + 1e-9)
	*carry = math.Max(sum-whole, 0)
	return whole
}

// sessionAt returns the session in slot, replacing it first when it is
// missing or has lived SessionLength by now. Called with g.mu held.
func (g *Generator) sessionAt(slot int, now time.Time) *session {
	if s := g.sessions[slot]; s != nil && now.Sub(s.born) < g.cfg.SessionLength {
		return s
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		panic(err) // cookiejar.New fails only on a bad Options.
	}
	g.serials++
	s := &session{
		serial: g.serials,
		client: &http.Client{Transport: g.transport, Jar: jar, Timeout: g.cfg.Timeout},
		born:   now,
	}
	g.sessions[slot] = s
	return s
}

// answer is what one request got back.
type answer struct {
	status     int
	retryAfter bool   // the answer carries a Retry-After header
	version    string // X-App-Version, else the body of a 2xx answer
	err        error  // no complete answer: dial, connection or timeout
}

// request is the job's method and path: a read of the version or a write.
func (j job) request() (method, path string) {
	if j.write {
		return http.MethodPost, "write"
	}
	return http.MethodGet, "version"
}

// do makes one request and reads a little of the answer, closing the
// body so the connection can be reused.
func (g *Generator) do(j job) answer {
	method, path := j.request()
	var body io.Reader
	if j.write {
		body = strings.NewReader(j.id)
	}
	req, err := http.NewRequest(method, g.base.JoinPath(path).String(), body)
	if err != nil {
		return answer{err: err}
	}
	if j.write {
		req.Header.Set("Content-Type", "text/plain")
	}
	if g.cfg.Host != "" {
		req.Host = g.cfg.Host
	}
	resp, err := j.s.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		// Headers without the whole body: the user did not get the page.
		return answer{err: err}
	}
	a := answer{
		status:     resp.StatusCode,
		retryAfter: len(resp.Header.Values("Retry-After")) > 0,
		version:    resp.Header.Get("X-App-Version"),
	}
	if a.version == "" && a.status/100 == 2 {
		a.version = strings.TrimSpace(string(text))
	}
	return a
}

// Close closes the idle connections of the transport New made; a
// transport given in Config is left to its owner.
func (g *Generator) Close() {
	if g.own != nil {
		g.own.CloseIdleConnections()
	}
}
