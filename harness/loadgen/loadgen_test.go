package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// t0 is the simulated clock's start in these tests.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// at is t0 plus s simulated seconds.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// serve starts a loopback server with h, closed when the test ends.
func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newGen is New that fails the test on error and closes at its end.
func newGen(t *testing.T, c Config) *Generator {
	t.Helper()
	g, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// versionApp answers as the app does: GET /version with the version,
// POST /write with 201, X-App-Version on both.
func versionApp(version func() string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := version()
		w.Header().Set("X-App-Version", v)
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		io.WriteString(w, v)
	}
}

func fixed(v string) func() string { return func() string { return v } }

// counter counts the requests a server gets.
type counter struct{ n atomic.Int64 }

func (c *counter) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		h(w, r)
	}
}

func TestPacingCarriesFractions(t *testing.T) {
	var c counter
	srv := serve(t, c.wrap(versionApp(fixed("1"))))
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 2})
	for i := range 8 {
		g.Tick(at(0.25*float64(i)), at(0.25*float64(i+1)), "deploy")
	}
	if got := c.n.Load(); got != 4 {
		t.Errorf("2 reads/s over 8 Ticks of 0.25 s made %d requests, want 4", got)
	}
	if r := g.Report(); r.Requests != 4 || r.OK != 4 {
		t.Errorf("report: %d requests, %d OK; want 4, 4", r.Requests, r.OK)
	}
}

func TestPacingSmallRateReachesWholeRequest(t *testing.T) {
	var c counter
	srv := serve(t, c.wrap(versionApp(fixed("1"))))
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 0.1})
	// 20 × 0.05 sums to just under 1 in floating point.
	for i := range 20 {
		g.Tick(at(0.5*float64(i)), at(0.5*float64(i+1)), "deploy")
	}
	if got := c.n.Load(); got != 1 {
		t.Errorf("0.1 reads/s over 10 s made %d requests, want 1", got)
	}
}

func TestPacingNoTimeNoRequests(t *testing.T) {
	var c counter
	srv := serve(t, c.wrap(versionApp(fixed("1"))))
	g := newGen(t, Config{Base: srv.URL})
	g.Tick(at(5), at(5), "deploy")
	g.Tick(at(5), at(1), "deploy")
	if got := c.n.Load(); got != 0 {
		t.Errorf("Ticks of no or negative time made %d requests", got)
	}
}

func TestPacingCapsLongTick(t *testing.T) {
	var c counter
	srv := serve(t, c.wrap(versionApp(fixed("1"))))
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 2})
	g.Tick(t0, t0.Add(time.Hour), "approval")
	if got := c.n.Load(); got != defaultMaxPerTick {
		t.Errorf("a 1-hour Tick made %d requests, want MaxPerTick %d", got, defaultMaxPerTick)
	}
}

func TestInterleavesReadsAndWrites(t *testing.T) {
	var mu sync.Mutex
	var methods []string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		versionApp(fixed("1"))(w, r)
	})
	// One session, one at a time: the server sees the planned order.
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 2, WritesPerSecond: 2, Sessions: 1, Concurrency: 1})
	g.Tick(t0, at(2), "deploy")
	if got, want := strings.Join(methods, " "), "GET POST GET POST GET POST GET POST"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
}

func TestCapKeepsProportion(t *testing.T) {
	var reads, writes atomic.Int64
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			writes.Add(1)
		} else {
			reads.Add(1)
		}
		versionApp(fixed("1"))(w, r)
	})
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 3, WritesPerSecond: 1, MaxPerTick: 40})
	g.Tick(t0, t0.Add(time.Hour), "approval")
	if reads.Load() != 30 || writes.Load() != 10 {
		t.Errorf("capped Tick made %d reads, %d writes; want 30, 10", reads.Load(), writes.Load())
	}
}

func TestClassification(t *testing.T) {
	status := func(code int, retryAfter bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if retryAfter {
				w.Header().Set("Retry-After", "30")
			}
			w.WriteHeader(code)
		}
	}
	hangUp := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		conn.Close()
	}
	// reset closes with SO_LINGER 0, so the client gets a TCP reset, as
	// from an Elastic IP remapped mid-request.
	reset := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc // nil: a closed listener
		write   bool             // POST /write instead of GET /version
		want    Counts
		reason  string // the Errors key of a failure
	}{
		{name: "200", handler: versionApp(fixed("1")), want: Counts{OK: 1}},
		{name: "503 with Retry-After", handler: status(503, true), want: Counts{Maintenance: 1}},
		{name: "405 with Retry-After", handler: status(405, true), write: true, want: Counts{Failed: 1}, reason: "status 405"},
		{name: "503 without Retry-After", handler: status(503, false), want: Counts{Failed: 1}, reason: "status 503"},
		{name: "405 without Retry-After", handler: status(405, false), write: true, want: Counts{Failed: 1}, reason: "status 405"},
		{name: "500 with Retry-After", handler: status(500, true), want: Counts{Failed: 1}, reason: "status 500"},
		{name: "500", handler: status(500, false), want: Counts{Failed: 1}, reason: "status 500"},
		{name: "502", handler: status(502, false), want: Counts{Failed: 1}, reason: "status 502"},
		{name: "closed listener", want: Counts{Failed: 1}, reason: "connection refused"},
		{name: "hang up on GET", handler: hangUp, want: Counts{Failed: 1}, reason: "EOF"},
		{name: "hang up on POST", handler: hangUp, write: true, want: Counts{Failed: 1}, reason: "EOF"},
		{name: "reset on GET", handler: reset, want: Counts{Failed: 1}, reason: "connection reset"},
		{name: "reset on POST", handler: reset, write: true, want: Counts{Failed: 1}, reason: "connection reset"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var base string
			if tc.handler == nil {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				base = "http://" + ln.Addr().String()
				ln.Close()
			} else {
				base = serve(t, tc.handler).URL
			}
			c := Config{Base: base, ReadsPerSecond: 1}
			if tc.write {
				c = Config{Base: base, WritesPerSecond: 1}
			}
			g := newGen(t, c)
			g.Tick(t0, at(1), "deploy")
			r := g.Report()
			tc.want.Requests = 1
			if got := r.ByPhase["deploy"]; got != tc.want {
				t.Errorf("counts %+v, want %+v", got, tc.want)
			}
			if r.Requests != 1 || r.OK != tc.want.OK || r.Maintenance != tc.want.Maintenance || r.Failed != tc.want.Failed {
				t.Errorf("totals %d/%d/%d/%d, want 1/%d/%d/%d", r.Requests, r.OK, r.Maintenance, r.Failed,
					tc.want.OK, tc.want.Maintenance, tc.want.Failed)
			}
			wantErrors := map[string]int{}
			if tc.reason != "" {
				wantErrors[tc.reason] = 1
			}
			if fmt.Sprint(r.Errors) != fmt.Sprint(wantErrors) {
				t.Errorf("errors %v, want %v", r.Errors, wantErrors)
			}
		})
	}
}

func TestErrorKey(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&url.Error{Op: "Get", URL: "u", Err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, "connection refused"},
		{&url.Error{Op: "Get", URL: "u", Err: &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}}, "connection reset"},
		{&url.Error{Op: "Post", URL: "u", Err: &net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}}, "broken pipe"},
		{&url.Error{Op: "Get", URL: "u", Err: io.EOF}, "EOF"},
		{fmt.Errorf("body: %w", io.ErrUnexpectedEOF), "EOF"},
		{&url.Error{Op: "Get", URL: "u", Err: context.DeadlineExceeded}, "timeout"},
		{&url.Error{Op: "Get", URL: "u", Err: &net.DNSError{IsTimeout: true}}, "timeout"},
		{errors.New("something else"), "other"},
	}
	for _, tc := range cases {
		if got := errorKey(tc.err); got != tc.want {
			t.Errorf("errorKey(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestTimeoutIsFailure(t *testing.T) {
	release := make(chan struct{})
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // before srv.Close, which waits for the handler
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 1, Timeout: 50 * time.Millisecond})
	g.Tick(t0, at(1), "deploy")
	if r := g.Report(); r.Failed != 1 || r.Errors["timeout"] != 1 {
		t.Errorf("failed %d, errors %v; want 1 failure, \"timeout\"", r.Failed, r.Errors)
	}
}

func TestErrorKeysBounded(t *testing.T) {
	var n atomic.Int64
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(460 + int(n.Add(1))) // a new status every time
	})
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 30})
	g.Tick(t0, at(1), "deploy")
	r := g.Report()
	sum := 0
	for _, v := range r.Errors {
		sum += v
	}
	if len(r.Errors) != maxErrorKeys || sum != 30 || r.Errors["other"] != 30-(maxErrorKeys-1) {
		t.Errorf("30 distinct statuses gave %d keys summing to %d, \"other\" %d; want %d keys, 30, %d",
			len(r.Errors), sum, r.Errors["other"], maxErrorKeys, 30-(maxErrorKeys-1))
	}
}

func TestVersionsSeenByPhase(t *testing.T) {
	var version atomic.Value
	version.Store("1.0.r1")
	srv := serve(t, versionApp(func() string { return version.Load().(string) }))
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 2})
	g.Tick(t0, at(1), "deploy") // 2 × 1.0.r1
	version.Store("1.0.r2")
	g.Tick(at(1), at(2), "cutover") // 2 × 1.0.r2
	version.Store("1.0.r1")
	g.Tick(at(2), at(2.5), "cutover") // 1 × 1.0.r1
	want := map[string]map[string]int{
		"deploy":  {"1.0.r1": 2},
		"cutover": {"1.0.r2": 2, "1.0.r1": 1},
	}
	if got := g.Report().VersionsSeen; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("versionsSeen %v, want %v", got, want)
	}
}

func TestVersionsSeenCountsOnlyOK(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-App-Version", "1")
		w.WriteHeader(http.StatusBadGateway)
	})
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 2})
	g.Tick(t0, at(1), "deploy")
	if got := g.Report().VersionsSeen; len(got) != 0 {
		t.Errorf("versionsSeen %v from 502 answers, want none", got)
	}
}

// cookieApp gives each visitor without a cookie a new one and records the
// cookie each request came with ("" for none).
type cookieApp struct {
	mu    sync.Mutex
	given int
	seen  []string
}

func (a *cookieApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, err := r.Cookie("AWSALB")
	if err != nil {
		a.given++
		http.SetCookie(w, &http.Cookie{Name: "AWSALB", Value: fmt.Sprint("s", a.given), Path: "/"})
		a.seen = append(a.seen, "")
	} else {
		a.seen = append(a.seen, c.Value)
	}
	w.Header().Set("X-App-Version", "1")
	io.WriteString(w, "1")
}

func (a *cookieApp) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.seen
	a.seen = nil
	return s
}

func TestSessionsKeepCookies(t *testing.T) {
	app := &cookieApp{}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 3, Sessions: 3})
	g.Tick(t0, at(1), "deploy") // each session's first visit: no cookie
	first := app.take()
	if fmt.Sprint(first) != "[  ]" {
		t.Fatalf("first visits came with cookies %q, want none", first)
	}
	g.Tick(at(1), at(2), "deploy")
	g.Tick(at(2), at(3), "deploy")
	later := app.take()
	count := map[string]int{}
	for _, c := range later {
		count[c]++
	}
	// Round-robin: each of the three sessions twice, with its own cookie.
	want := map[string]int{"s1": 2, "s2": 2, "s3": 2}
	if fmt.Sprint(count) != fmt.Sprint(want) {
		t.Errorf("later visits' cookies %v, want %v", count, want)
	}
}

func TestSessionPastLengthStartsEmpty(t *testing.T) {
	app := &cookieApp{}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 1, Sessions: 1, SessionLength: 2 * time.Minute})
	g.Tick(t0, at(1), "deploy")        // born at 1 s, gets s1
	g.Tick(at(60), at(61), "deploy")   // 60 s old: s1
	g.Tick(at(120), at(121), "deploy") // 120 s old: replaced, no cookie, gets s2
	g.Tick(at(121), at(122), "deploy") // the new session: s2
	if got, want := app.take(), []string{"", "s1", "", "s2"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("cookies %q, want %q", got, want)
	}
}

func TestHostHeader(t *testing.T) {
	var host atomic.Value
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		host.Store(r.Host)
		versionApp(fixed("1"))(w, r)
	})
	g := newGen(t, Config{Base: srv.URL, Host: "app.example.test", ReadsPerSecond: 1})
	g.Tick(t0, at(1), "deploy")
	if got := host.Load(); got != "app.example.test" {
		t.Errorf("Host %v, want app.example.test", got)
	}
}

func TestStickyFlips(t *testing.T) {
	cases := []struct {
		name     string
		versions []string // what the app answers, one Tick each
		phase    string   // phase of the Ticks after the first
		want     int
	}{
		{"candidate then old in cutover", []string{"2", "1", "1", "2", "1"}, "cutover", 1},
		{"candidate then old in rollback", []string{"2", "1", "1"}, "rollback", 0},
		{"only ever old", []string{"1", "1", "1"}, "cutover", 0},
		{"only ever candidate", []string{"2", "2"}, "cutover", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var version atomic.Value
			srv := serve(t, versionApp(func() string { return version.Load().(string) }))
			g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 1, Sessions: 1})
			g.SetCandidate("2")
			for i, v := range tc.versions {
				version.Store(v)
				phase := "cutover"
				if i > 0 {
					phase = tc.phase
				}
				g.Tick(at(float64(i)), at(float64(i+1)), phase)
			}
			if got := g.Report().StickyFlips; got != tc.want {
				t.Errorf("stickyFlips %d, want %d", got, tc.want)
			}
		})
	}
}

func TestStickyFlipsCountSessions(t *testing.T) {
	var version atomic.Value
	srv := serve(t, versionApp(func() string { return version.Load().(string) }))
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 3, Sessions: 3})
	g.SetCandidate("2")
	version.Store("2")
	g.Tick(t0, at(1), "cutover") // all three sessions see the candidate
	version.Store("1")
	g.Tick(at(1), at(2), "cutover") // all three flip
	version.Store("2")
	g.Tick(at(2), at(3), "cutover")
	version.Store("1")
	g.Tick(at(3), at(4), "cutover") // flip again: counted once each
	if got := g.Report().StickyFlips; got != 3 {
		t.Errorf("stickyFlips %d, want 3", got)
	}
}

func TestSetCandidateForgetsOldCandidate(t *testing.T) {
	var version atomic.Value
	srv := serve(t, versionApp(func() string { return version.Load().(string) }))
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 1, Sessions: 1})
	g.SetCandidate("2")
	version.Store("2")
	g.Tick(t0, at(1), "cutover")
	version.Store("1")
	g.Tick(at(1), at(2), "rollback")
	g.SetCandidate("") // the rollback is over
	g.Tick(at(2), at(3), "done")
	if got := g.Report().StickyFlips; got != 0 {
		t.Errorf("stickyFlips %d after a rollback, want 0", got)
	}

	// The next release: having seen "2" is no longer having seen the
	// candidate.
	version.Store("2")
	g.Tick(at(3), at(4), "done")
	g.SetCandidate("3")
	version.Store("1")
	g.Tick(at(4), at(5), "cutover")
	if got := g.Report().StickyFlips; got != 0 {
		t.Errorf("stickyFlips %d from the previous candidate, want 0", got)
	}
	version.Store("3")
	g.Tick(at(5), at(6), "cutover")
	version.Store("1")
	g.Tick(at(6), at(7), "cutover")
	if got := g.Report().StickyFlips; got != 1 {
		t.Errorf("stickyFlips %d after the new candidate then the old version, want 1", got)
	}
}

func TestLongestFailure(t *testing.T) {
	var code atomic.Int64
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		c := int(code.Load())
		if c == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		w.WriteHeader(c)
	})
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 1, Sessions: 1})
	tick := func(s float64, status int) {
		code.Store(int64(status))
		g.Tick(at(s-1), at(s), "cutover")
	}
	longest := func() float64 { return g.Report().LongestFailureSeconds }

	tick(1, 200)
	tick(11, 503) // maintenance counts
	tick(21, 502)
	if got := longest(); got != 10 {
		t.Errorf("open run from 11 s to its last failure at 21 s: %v, want 10", got)
	}
	tick(31, 200)
	if got := longest(); got != 20 {
		t.Errorf("failures at 11 s and 21 s, OK at 31 s: %v, want 20", got)
	}
	tick(41, 500)
	tick(46, 200)
	if got := longest(); got != 20 {
		t.Errorf("a shorter run changed the longest: %v, want 20", got)
	}
	tick(100, 500)
	tick(200, 500)
	if got := longest(); got != 100 {
		t.Errorf("run still open from 100 s to 200 s: %v, want 100", got)
	}
}

func TestLongestFailureTickWithOKEndsRun(t *testing.T) {
	var n atomic.Int64
	var allFail atomic.Bool
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if allFail.Load() || n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		versionApp(fixed("1"))(w, r)
	})
	// One session makes its requests in order: in a Tick of two, the
	// first is answered OK and the second fails.
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 2, Sessions: 1})
	allFail.Store(true)
	g.Tick(at(9), at(10), "cutover")
	allFail.Store(false)
	g.Tick(at(29), at(30), "cutover") // OK then failure: ends the run at 30 s, opens none
	allFail.Store(true)
	g.Tick(at(99), at(100), "cutover") // a new run, 0 s so far
	r := g.Report()
	if r.OK != 1 || r.Failed != 5 {
		t.Fatalf("ok %d, failed %d; want 1, 5", r.OK, r.Failed)
	}
	if r.LongestFailureSeconds != 20 {
		t.Errorf("longestFailureSeconds %v, want 20", r.LongestFailureSeconds)
	}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,200}$`)

func TestWrites(t *testing.T) {
	var mu sync.Mutex
	var ids []string
	var refuse atomic.Bool
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/write" {
			versionApp(fixed("3"))(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		id := string(body)
		w.Header().Set("X-App-Version", "3")
		switch {
		case !idPattern.MatchString(id):
			w.WriteHeader(http.StatusBadRequest)
		case refuse.Load():
			w.WriteHeader(http.StatusServiceUnavailable) // no writable data dir
		default:
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "3")
		}
	})
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 1, WritesPerSecond: 2, Sessions: 3, SessionLength: time.Second})
	for i := range 4 { // 2 s sessions, so ids come from new sessions too
		g.Tick(at(float64(i)), at(float64(i+1)), "deploy")
	}
	refuse.Store(true)
	g.Tick(at(4), at(5), "cutover")

	r := g.Report()
	if want := (WriteCounts{Attempted: 10, Acknowledged: 8, Refused: 2}); r.Writes != want {
		t.Errorf("writes %+v, want %+v", r.Writes, want)
	}
	if r.Errors["status 400"] != 0 {
		t.Errorf("the app refused %d ids as invalid", r.Errors["status 400"])
	}
	acked := g.Acknowledged()
	if len(acked) != 8 {
		t.Fatalf("%d acknowledged, want 8", len(acked))
	}
	seen := map[string]bool{}
	for _, w := range acked {
		if !idPattern.MatchString(w.ID) || seen[w.ID] {
			t.Errorf("id %q invalid or repeated", w.ID)
		}
		seen[w.ID] = true
		if w.Version != "3" || w.At.After(at(4)) {
			t.Errorf("write %+v: want version 3, at 4 s or before", w)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("the app stored %q but it is not acknowledged", id)
		}
	}
}

func TestWriteNeeds201(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-App-Version", "1")
		io.WriteString(w, "1") // 200, not 201
	})
	g := newGen(t, Config{Base: srv.URL, WritesPerSecond: 1})
	g.Tick(t0, at(1), "deploy")
	if r := g.Report(); r.Writes != (WriteCounts{Attempted: 1, Refused: 1}) || len(g.Acknowledged()) != 0 {
		t.Errorf("a 200 write: %+v, %d acknowledged; want refused", r.Writes, len(g.Acknowledged()))
	}
}

func TestConcurrencyBound(t *testing.T) {
	const bound = 3
	var inFlight, most atomic.Int64
	reached := make(chan struct{})
	var once sync.Once
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if n >= bound {
			once.Do(func() { close(reached) })
		}
		// Hold each request until the bound has been reached, so that
		// requests overlap as much as the generator lets them; the
		// fallback only keeps a broken generator from hanging the test.
		select {
		case <-reached:
		case <-time.After(time.Second):
		}
		time.Sleep(time.Millisecond)
		versionApp(fixed("1"))(w, r)
	})
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 15, Sessions: 20, Concurrency: bound})
	g.Tick(t0, at(1), "deploy")
	if got := most.Load(); got != bound {
		t.Errorf("most in flight %d, want exactly Concurrency %d", got, bound)
	}
	if r := g.Report(); r.OK != 15 || r.Concurrency != bound {
		t.Errorf("ok %d, concurrency %d; want 15, %d", r.OK, r.Concurrency, bound)
	}
}

func TestReportWhileTicking(t *testing.T) {
	srv := serve(t, versionApp(fixed("1")))
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 50, WritesPerSecond: 50})
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Tick(t0, at(1), "deploy")
	}()
	for ticking := true; ticking; {
		select {
		case <-done:
			ticking = false
		default:
		}
		r := g.Report()
		r.ByPhase["x"] = Counts{}
		r.Errors["x"] = 1
		for _, versions := range r.VersionsSeen {
			versions["x"] = 1
		}
		_ = g.Acknowledged()
	}
	r := g.Report()
	if _, ok := r.ByPhase["x"]; ok || r.Errors["x"] != 0 || r.VersionsSeen["deploy"]["x"] != 0 {
		t.Errorf("changing a Report's maps changed the generator's: %+v", r)
	}
	if r.Requests != 100 {
		t.Errorf("%d requests, want 100", r.Requests)
	}
}

func TestDefaults(t *testing.T) {
	g := newGen(t, Config{Base: "http://127.0.0.1:1"})
	want := Config{
		Base: "http://127.0.0.1:1", ReadsPerSecond: 2, Sessions: 5, SessionLength: 2 * time.Minute,
		Concurrency: 4, MaxPerTick: 300, Timeout: 5 * time.Second,
	}
	got := g.cfg
	got.Transport = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	if g.Report().Concurrency != 4 {
		t.Errorf("report concurrency %d, want 4", g.Report().Concurrency)
	}
	// Writes alone do not bring the default reads.
	g = newGen(t, Config{Base: "http://127.0.0.1:1", WritesPerSecond: 1})
	if g.cfg.ReadsPerSecond != 0 {
		t.Errorf("reads %v with only writes asked, want 0", g.cfg.ReadsPerSecond)
	}
}

func TestConfigValidation(t *testing.T) {
	nan := 0.0
	nan /= nan
	ok := "http://127.0.0.1:1"
	cases := []struct {
		field string
		c     Config
	}{
		{"Base", Config{Base: ""}},
		{"Base", Config{Base: "127.0.0.1:4321"}},
		{"Base", Config{Base: "ftp://127.0.0.1:4321"}},
		{"Base", Config{Base: "http://"}},
		{"Base", Config{Base: "http://[::1"}},
		{"Host", Config{Base: ok, Host: "a host"}},
		{"ReadsPerSecond", Config{Base: ok, ReadsPerSecond: -1}},
		{"ReadsPerSecond", Config{Base: ok, ReadsPerSecond: nan}},
		{"WritesPerSecond", Config{Base: ok, WritesPerSecond: -0.5}},
		{"Sessions", Config{Base: ok, Sessions: -1}},
		{"SessionLength", Config{Base: ok, SessionLength: -time.Second}},
		{"Concurrency", Config{Base: ok, Concurrency: -1}},
		{"MaxPerTick", Config{Base: ok, MaxPerTick: -1}},
		{"Timeout", Config{Base: ok, Timeout: -time.Second}},
	}
	for _, tc := range cases {
		_, err := New(tc.c)
		if err == nil || !strings.Contains(err.Error(), "Config."+tc.field) {
			t.Errorf("New(%+v): error %v, want one naming %s", tc.c, err, tc.field)
		}
	}
}

// countingTransport counts the requests that go through it.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func TestUsesGivenTransport(t *testing.T) {
	srv := serve(t, versionApp(fixed("1")))
	inner := &http.Transport{}
	defer inner.CloseIdleConnections()
	rt := &countingTransport{next: inner}
	g := newGen(t, Config{Base: srv.URL, Transport: rt, ReadsPerSecond: 3})
	g.Tick(t0, at(1), "deploy")
	if got := rt.n.Load(); got != 3 {
		t.Errorf("%d requests through the given transport, want 3", got)
	}
	if g.own != nil {
		t.Error("New made a transport of its own although Config gave one")
	}
}

// NewReport counts a new release from zero, failure runs and flips
// included, but keeps the acknowledged writes the data must still hold.
func TestNewReportKeepsAcknowledgedWrites(t *testing.T) {
	var failing atomic.Bool
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		versionApp(fixed("1"))(w, r)
	})
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 1, WritesPerSecond: 1})
	g.Tick(at(0), at(2), "deploy")
	failing.Store(true)
	g.Tick(at(2), at(12), "cutover")
	if r := g.Report(); r.Requests != 24 || r.Failed != 20 {
		t.Fatalf("before: %+v", r)
	}
	g.NewReport()
	failing.Store(false)
	g.Tick(at(12), at(13), "deploy")
	r := g.Report()
	if r.Requests != 2 || r.Failed != 0 || len(r.Errors) != 0 || r.LongestFailureSeconds != 0 || r.ByPhase["cutover"].Requests != 0 || r.Concurrency != 4 {
		t.Errorf("after NewReport: %+v, want only the last Tick's 2 requests", r)
	}
	if n := len(g.Acknowledged()); n != 3 {
		t.Errorf("%d acknowledged writes, want the 3 of both reports", n)
	}
}

// Record hears every request with its simulated time, phase, session,
// status, version and outcome, and the report counts the same.
func TestRecordEveryRequest(t *testing.T) {
	var mode atomic.Int32 // 0 ok, 1 maintenance, 2 down
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case 1:
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusBadGateway)
		default:
			versionApp(fixed("7"))(w, r)
		}
	})
	var mu sync.Mutex
	var got []Request
	g := newGen(t, Config{Base: srv.URL, ReadsPerSecond: 2, WritesPerSecond: 1, Record: func(r Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r)
	}})
	for i, phase := range []string{"deploy", "cutover", "verify"} {
		mode.Store(int32(i))
		g.Tick(at(float64(2*i)), at(float64(2*i+2)), phase)
	}
	mu.Lock()
	defer mu.Unlock()
	r := g.Report()
	if len(got) != r.Requests || r.Requests != 18 {
		t.Fatalf("recorded %d, report %d requests, want 18 each", len(got), r.Requests)
	}
	count := map[string]int{}
	for _, q := range got {
		count[q.Phase+" "+q.Outcome]++
		if q.Session == 0 || (q.Method == "POST") != (q.WriteID != "") || (q.Method == "POST") != (q.Path == "/write") {
			t.Errorf("request %+v: want a session, and a write id exactly on POST /write", q)
		}
		want := map[string]time.Time{"deploy": at(2), "cutover": at(4), "verify": at(6)}[q.Phase]
		if !q.At.Equal(want) {
			t.Errorf("request %+v: at %v, want the Tick's end %v", q, q.At, want)
		}
		switch q.Outcome {
		case "ok":
			if q.Status/100 != 2 || q.Version != "7" {
				t.Errorf("ok request %+v", q)
			}
		case "maintenance":
			if q.Status != 503 {
				t.Errorf("maintenance request %+v", q)
			}
		case "failed":
			if q.Status != 502 || q.Error != "status 502" {
				t.Errorf("failed request %+v", q)
			}
		}
	}
	if count["deploy ok"] != 6 || count["cutover maintenance"] != 6 || count["verify failed"] != 6 {
		t.Errorf("recorded by phase and outcome: %v", count)
	}
}
